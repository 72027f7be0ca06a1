//! What durability costs.
//!
//! - `ingest_by_mode`: 10 concurrent clients each COPY TSBS cpu rows (10 tags,
//!   10 float fields) over loopback, 1000 rows per COPY, into a server in
//!   each `--durability` mode; rows/s. Group commit is what lets `sync` keep up.
//! - `recovery_10m_rows`: opening a data directory that holds 10 M TSBS cpu
//!   rows (1000 hosts × 10 000 steps of 10 s), from a snapshot, and from the
//!   WAL alone.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use epochdb::config::{Config, Durability};
use epochdb::db::Db;
use epochdb::storage::{
    ColumnRole, ColumnSchema, ColumnType, DurabilityOptions, Storage, TableOptions, TableSchema,
};
use epochdb::wal::{OnCorruption, OsFileSystem, SyncMode};
use futures::{SinkExt, pin_mut};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

const WRITERS: usize = 10;
const COPIES_PER_WRITER: usize = 10;
const ROWS_PER_COPY: usize = 1000;
const TAGS: [&str; 10] = [
    "hostname",
    "region",
    "datacenter",
    "rack",
    "os",
    "arch",
    "team",
    "service",
    "service_version",
    "service_environment",
];

fn create_table() -> String {
    let tags: Vec<String> = TAGS.iter().map(|t| format!("{t} TEXT")).collect();
    let fields: Vec<String> = (0..10).map(|f| format!("f{f} DOUBLE PRECISION")).collect();
    format!(
        "CREATE TABLE cpu (time TIMESTAMPTZ NOT NULL, {}, {})",
        tags.join(", "),
        fields.join(", ")
    )
}

fn tag_values(host: usize) -> [String; 10] {
    [
        format!("host_{host}"),
        format!("region_{}", host % 3),
        format!("dc_{}", host % 9),
        format!("rack_{}", host % 40),
        "Ubuntu16.04LTS".into(),
        "x64".into(),
        format!("team_{}", host % 4),
        format!("service_{}", host % 20),
        "1".into(),
        "production".into(),
    ]
}

/// One COPY's text data: `ROWS_PER_COPY` rows of writer `writer`'s 10 hosts,
/// time-major, starting at step `step`.
fn copy_data(writer: usize, step: usize) -> Bytes {
    let mut out = String::new();
    for row in 0..ROWS_PER_COPY {
        let t = step + row / 10;
        let host = writer * 10 + row % 10;
        let seconds = 1_704_067_200 + t as i64 * 10;
        let time = chrono::DateTime::from_timestamp(seconds, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S+00");
        write!(out, "{time}\t{}", tag_values(host).join("\t")).unwrap();
        for f in 0..10 {
            write!(out, "\t{}", (t * 7 + f * 13 + host) % 100).unwrap();
        }
        out.push('\n');
    }
    Bytes::from(out)
}

async fn start(data_dir: &Path, durability: Durability) -> (Db, u16) {
    let mut config = Config::for_data_dir(data_dir);
    config.durability = durability;
    let db = Db::open(&config).unwrap();
    let listener = TcpListener::bind(&config.listen).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(epochdb::server::run(
        listener,
        db.clone(),
        std::future::pending(),
    ));
    (db, port)
}

async fn connect(port: u16) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    client
}

fn ingest_by_mode(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let mut group = c.benchmark_group("ingest_10_copy_writers");
    group.throughput(Throughput::Elements(
        (WRITERS * COPIES_PER_WRITER * ROWS_PER_COPY) as u64,
    ));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    let data: Vec<Vec<Bytes>> = (0..WRITERS)
        .map(|w| {
            (0..COPIES_PER_WRITER)
                .map(|i| copy_data(w, i * ROWS_PER_COPY / 10))
                .collect()
        })
        .collect();
    let data = Arc::new(data);
    for (name, durability) in [
        ("none", Durability::None),
        (
            "interval_100ms",
            Durability::Interval(Duration::from_millis(100)),
        ),
        ("sync", Durability::Sync),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (_db, port) = runtime.block_on(start(dir.path(), durability));
        let clients: Vec<_> = runtime.block_on(async {
            let mut clients = Vec::new();
            for _ in 0..WRITERS {
                clients.push(Arc::new(connect(port).await));
            }
            clients
        });
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    runtime
                        .block_on(clients[0].batch_execute(&format!(
                            "DROP TABLE IF EXISTS cpu; {}",
                            create_table()
                        )))
                        .unwrap();
                    let started = Instant::now();
                    runtime.block_on(async {
                        let mut tasks = Vec::new();
                        for (w, client) in clients.iter().enumerate() {
                            let client = client.clone();
                            let data = data.clone();
                            tasks.push(tokio::spawn(async move {
                                for chunk in &data[w] {
                                    let sink = client.copy_in("COPY cpu FROM STDIN").await.unwrap();
                                    pin_mut!(sink);
                                    sink.send(chunk.clone()).await.unwrap();
                                    assert_eq!(
                                        sink.finish().await.unwrap() as usize,
                                        ROWS_PER_COPY
                                    );
                                }
                            }));
                        }
                        for task in tasks {
                            task.await.unwrap();
                        }
                    });
                    total += started.elapsed();
                }
                total
            });
        });
    }
    group.finish();
}

fn cpu_schema() -> TableSchema {
    let mut columns = vec![ColumnSchema {
        name: "time".into(),
        column_type: ColumnType::Timestamp {
            with_time_zone: true,
        },
        role: ColumnRole::Time,
        nullable: false,
        max_chars: None,
        identity: None,
        default: None,
    }];
    for tag in TAGS {
        columns.push(ColumnSchema {
            name: tag.into(),
            column_type: ColumnType::Utf8,
            role: ColumnRole::Tag,
            nullable: true,
            max_chars: None,
            identity: None,
            default: None,
        });
    }
    for f in 0..10 {
        columns.push(ColumnSchema {
            name: format!("f{f}"),
            column_type: ColumnType::Float64,
            role: ColumnRole::Field,
            nullable: true,
            max_chars: None,
            identity: None,
            default: None,
        });
    }
    TableSchema::try_new(columns).unwrap()
}

const HOSTS: usize = 1000;
const STEPS: usize = 10_000;
const STEPS_PER_WRITE: usize = 100;

/// Loads 10 M rows through the storage API (each write logged as on the
/// wire path), in time-major writes of 100 000 rows.
fn load(dir: &Path) -> Storage {
    let options = durability_options(dir);
    let (storage, _) = Storage::open(&options).unwrap();
    let runtime = Runtime::new().unwrap();
    let ns = storage
        .database("postgres")
        .unwrap()
        .schema("public")
        .unwrap();
    let _ = ns
        .create_table("cpu", cpu_schema(), TableOptions::default(), false)
        .unwrap()
        .without_waiting();
    let table = ns.table("cpu").unwrap();
    let tags: Vec<[String; 10]> = (0..HOSTS).map(tag_values).collect();
    let mut walk = vec![[50.0f64; 10]; HOSTS];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for first in (0..STEPS).step_by(STEPS_PER_WRITE) {
        let rows = STEPS_PER_WRITE * HOSTS;
        let mut times = Vec::with_capacity(rows);
        let mut fields: Vec<Vec<f64>> = (0..10).map(|_| Vec::with_capacity(rows)).collect();
        for step in first..first + STEPS_PER_WRITE {
            for host in walk.iter_mut() {
                times.push((1_704_067_200 + step as i64 * 10) * 1_000_000);
                for (f, value) in host.iter_mut().enumerate() {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    *value = (*value + (state % 7) as f64 - 3.0).clamp(0.0, 100.0);
                    fields[f].push(*value);
                }
            }
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(
            TimestampMicrosecondArray::from(times).with_timezone("UTC"),
        )];
        #[expect(clippy::needless_range_loop, reason = "t picks a tag of every host")]
        for t in 0..10 {
            columns.push(Arc::new(StringArray::from_iter_values(
                (0..rows).map(|r| tags[r % HOSTS][t].as_str()),
            )));
        }
        for values in fields {
            columns.push(Arc::new(Float64Array::from(values)));
        }
        let batch = RecordBatch::try_new(table.arrow_schema().clone(), columns).unwrap();
        let durable = table.write(&[batch]).unwrap();
        runtime.block_on(durable.durable()).unwrap();
    }
    storage
}

fn durability_options(dir: &Path) -> DurabilityOptions {
    DurabilityOptions {
        dir: dir.to_owned(),
        fs: Arc::new(OsFileSystem),
        mode: SyncMode::Sync,
        segment_size: 64 << 20,
        on_corruption: OnCorruption::Fail,
    }
}

fn recovery(c: &mut Criterion) {
    let mut group = c.benchmark_group("recovery_10m_rows");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements((HOSTS * STEPS) as u64));

    // The WAL alone: the process stopped before any snapshot.
    let wal_only = tempfile::tempdir().unwrap();
    let storage = load(wal_only.path());
    storage.close().unwrap();
    drop(storage);
    let wal_bytes: u64 = std::fs::read_dir(wal_only.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    eprintln!(
        "WAL of {} rows: {wal_bytes} bytes ({:.3} bytes/row)",
        HOSTS * STEPS,
        wal_bytes as f64 / (HOSTS * STEPS) as f64
    );
    // Everything in a snapshot, which leaves no WAL to replay.
    let snapshot = tempfile::tempdir().unwrap();
    let storage = load(snapshot.path());
    let report = storage.snapshot().unwrap().unwrap();
    eprintln!(
        "snapshot of {} rows: {} bytes ({:.3} bytes/row), writers paused {:?}, written in {:?}",
        report.rows,
        report.bytes,
        report.bytes as f64 / report.rows as f64,
        report.pause,
        report.elapsed
    );
    storage.close().unwrap();
    drop(storage);

    for (name, dir) in [("wal_only", &wal_only), ("snapshot", &snapshot)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let started = Instant::now();
                    let (storage, recovery) =
                        Storage::open(&durability_options(dir.path())).unwrap();
                    total += started.elapsed();
                    assert_eq!(recovery.tables, 1);
                    storage.close().unwrap();
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, ingest_by_mode, recovery);
criterion_main!(benches);
