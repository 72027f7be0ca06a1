//! COPY FROM STDIN throughput over loopback: TSBS cpu rows (10 tags, 10 float
//! fields) in time-major order, as TSBS sends them, in rows/s, through a real
//! server and a real client (tokio-postgres), in text and CSV.
//!
//! With `EPOCHDB_BENCH_POSTGRES` set to a connection string (for example
//! `host=/var/run/postgresql user=postgres dbname=postgres`), the same rows
//! are also copied, by the same client, into a PostgreSQL table indexed as
//! TimescaleDB and TSBS index theirs: `(time DESC)` and
//! `(hostname, time DESC)`.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use epochdb::config::Config;
use epochdb::db::Db;
use futures::{SinkExt, pin_mut};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

const HOSTS: usize = 100;
const TIMES: usize = 1000;
const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

fn create_table(name: &str) -> String {
    let fields: Vec<String> = FIELDS
        .iter()
        .map(|f| format!("{f} DOUBLE PRECISION"))
        .collect();
    format!(
        "CREATE TABLE {name} (time TIMESTAMPTZ NOT NULL, hostname TEXT, region TEXT, \
         datacenter TEXT, rack TEXT, os TEXT, arch TEXT, team TEXT, service TEXT, \
         service_version TEXT, service_environment TEXT, {})",
        fields.join(", ")
    )
}

/// The COPY data: every host at each 10 s step, fields as integer random walks.
fn data(separator: char) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut values = vec![[50i64; 10]; HOSTS];
    let mut out = String::new();
    for t in 0..TIMES {
        let seconds = 1_704_067_200 + t as i64 * 10;
        let time = chrono::DateTime::from_timestamp(seconds, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S+00");
        for (h, host) in values.iter_mut().enumerate() {
            let s = separator;
            write!(
                out,
                "{time}{s}host_{h}{s}region_{r}{s}dc_{d}{s}rack_{k}{s}Ubuntu16.04LTS{s}x64{s}\
                 team_{m}{s}service_{v}{s}1{s}production",
                r = h % 3,
                d = h % 9,
                k = h % 40,
                m = h % 4,
                v = h % 20,
            )
            .unwrap();
            for value in host.iter_mut() {
                *value = (*value + (next() % 7) as i64 - 3).clamp(0, 100);
                write!(out, "{s}{value}").unwrap();
            }
            out.push('\n');
        }
    }
    out.into_bytes()
}

async fn copy(client: &Client, sql: &str, data: &[u8]) -> u64 {
    let sink = client.copy_in(sql).await.unwrap();
    pin_mut!(sink);
    for chunk in data.chunks(64 * 1024) {
        sink.feed(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    sink.finish().await.unwrap()
}

fn copy_throughput(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let client = runtime.block_on(async {
        let config = Config::for_data_dir(data_dir.path());
        let db = Db::open(&config).unwrap();
        let listener = TcpListener::bind(&config.listen).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(epochdb::server::run(listener, db, std::future::pending()));
        connect(&format!(
            "host=127.0.0.1 port={port} user=postgres dbname=postgres"
        ))
        .await
    });
    bench_copies(c, &runtime, &client, "copy_in_tsbs_cpu", &|_| String::new());
    if let Ok(postgres) = std::env::var("EPOCHDB_BENCH_POSTGRES") {
        let client = runtime.block_on(connect(&postgres));
        let indexes = |name: &str| {
            format!(
                "; CREATE INDEX ON {name} (time DESC); CREATE INDEX ON {name} (hostname, time DESC)"
            )
        };
        bench_copies(c, &runtime, &client, "copy_in_tsbs_cpu_postgres", &indexes);
    }
}

async fn connect(config: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(config, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// COPY into a fresh table per iteration, created by `create_table` followed
/// by what `after_create` adds for the table's name.
fn bench_copies(
    c: &mut Criterion,
    runtime: &Runtime,
    client: &Client,
    group_name: &str,
    after_create: &dyn Fn(&str) -> String,
) {
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements((HOSTS * TIMES) as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let mut table = 0;
    for (name, separator, options) in [("text", '\t', ""), ("csv", ',', " WITH (FORMAT csv)")] {
        let bytes = data(separator);
        eprintln!("{name}: {} bytes for {} rows", bytes.len(), HOSTS * TIMES);
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    table += 1;
                    let name = format!("cpu_{table}");
                    let create = create_table(&name) + &after_create(&name);
                    runtime.block_on(client.batch_execute(&create)).unwrap();
                    let sql = format!("COPY {name} FROM STDIN{options}");
                    let start = Instant::now();
                    let rows = runtime.block_on(copy(client, &sql, &bytes));
                    total += start.elapsed();
                    assert_eq!(rows as usize, HOSTS * TIMES);
                    runtime
                        .block_on(client.batch_execute(&format!("DROP TABLE {name}")))
                        .unwrap();
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, copy_throughput);
criterion_main!(benches);
