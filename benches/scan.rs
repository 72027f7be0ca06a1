//! Query benches over the real engine (storage, DataFusion, pushdown), without
//! the network:
//! - latency of a one-host, one-hour `max()` as the data grows 1×, 10×, 100×
//!   (pruning should keep it flat);
//! - full-scan `sum()` throughput, in points/s, answered from block statistics
//!   and, with the column wrapped in an expression, by decoding every point;
//! - `ORDER BY time DESC LIMIT 10` for one host (a backward scan);
//! - TSBS's lastpoint over 4000 hosts (`DISTINCT ON (hostname) ... ORDER BY
//!   hostname, time DESC`, and `last(v, time)` by hostname), answered from each
//!   series' newest block, against the plain plan that scans every point
//!   (the same query with the time wrapped in an expression).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use epochdb::query::{self, QueryConfig, QueryEngine};
use epochdb::session::{Output, Principal, Session};
use epochdb::storage::{
    ColumnRole, ColumnSchema, ColumnType, DEFAULT_DATABASE, DEFAULT_SCHEMA, Storage, TableOptions,
    TableSchema,
};
use futures::TryStreamExt;
use tokio::runtime::Runtime;

const START: i64 = 1_704_067_200_000_000;
const INTERVAL: i64 = 10_000_000;
const DAY_POINTS: i64 = 8640;

fn schema() -> TableSchema {
    let column = |name: &str, column_type, role| ColumnSchema {
        name: name.into(),
        column_type,
        role,
        nullable: true,
        max_chars: None,
        identity: None,
        default: None,
    };
    TableSchema::try_new(vec![
        column(
            "time",
            ColumnType::Timestamp {
                with_time_zone: true,
            },
            ColumnRole::Time,
        ),
        column("hostname", ColumnType::Utf8, ColumnRole::Tag),
        column("usage_user", ColumnType::Float64, ColumnRole::Field),
        column("usage_system", ColumnType::Float64, ColumnRole::Field),
    ])
    .unwrap()
}

/// A session over a fresh engine holding `hosts` hosts for `days` days.
fn load(runtime: &Runtime, hosts: usize, days: i64) -> Session {
    let storage = Arc::new(Storage::new());
    let namespace = storage
        .database(DEFAULT_DATABASE)
        .and_then(|db| db.schema(DEFAULT_SCHEMA))
        .unwrap();
    namespace
        .create_table("cpu", schema(), TableOptions::default(), false)
        .unwrap()
        .without_waiting();
    let table = namespace.table("cpu").unwrap();
    let points = (days * DAY_POINTS) as usize;
    for host in 0..hosts {
        let name = format!("host_{host}");
        let times: Vec<i64> = (0..points as i64).map(|i| START + i * INTERVAL).collect();
        let user: Vec<f64> = (0..points).map(|i| ((i * 7 + host) % 100) as f64).collect();
        let system: Vec<f64> = (0..points).map(|i| ((i * 3 + host) % 50) as f64).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
            Arc::new(StringArray::from(vec![name.as_str(); points])),
            Arc::new(Float64Array::from(user)),
            Arc::new(Float64Array::from(system)),
        ];
        let batch = RecordBatch::try_new(table.arrow_schema().clone(), columns).unwrap();
        table.write(&[batch]).unwrap().without_waiting();
    }
    let engine = Arc::new(QueryEngine::try_new(storage, &QueryConfig::default()).unwrap());
    let principal = Arc::new(Principal::new("bench", true));
    let session = Session::new(engine, DEFAULT_DATABASE, principal).unwrap();
    // Warm up the planner.
    run(runtime, &session, "SELECT count(*) FROM cpu");
    session
}

fn run(runtime: &Runtime, session: &Session, sql: &str) -> usize {
    runtime.block_on(async {
        let statement = session.parse(sql).unwrap().remove(0);
        let prepared = session.prepare(statement).await.unwrap();
        match session.execute(&prepared, None).await.unwrap() {
            Output::Statement(query::Output::Rows(stream)) => {
                let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
                batches.iter().map(RecordBatch::num_rows).sum()
            }
            _ => 0,
        }
    })
}

fn one_host_one_hour(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let mut group = c.benchmark_group("one_host_one_hour_max");
    group.sample_size(20);
    // 1x: 10 hosts x 1 day; 10x: 100 hosts x 1 day; 100x: 100 hosts x 10 days.
    for (scale, hosts, days) in [(1, 10, 1), (10, 100, 1), (100, 100, 10)] {
        let session = load(&runtime, hosts, days);
        let sql = "SELECT max(usage_user) FROM cpu WHERE hostname = 'host_3' \
                   AND time >= '2024-01-01 10:00:00+00' AND time < '2024-01-01 11:00:00+00'";
        group.bench_with_input(BenchmarkId::new("scale", scale), &session, |b, session| {
            b.iter(|| run(&runtime, session, sql));
        });
    }
    group.finish();
}

fn full_scan_sum(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let (hosts, days) = (100, 10);
    let session = load(&runtime, hosts, days);
    let mut group = c.benchmark_group("full_scan_sum");
    group.sample_size(10);
    group.throughput(Throughput::Elements(
        hosts as u64 * (days * DAY_POINTS) as u64,
    ));
    group.bench_function("sum_from_statistics", |b| {
        b.iter(|| run(&runtime, &session, "SELECT sum(usage_user) FROM cpu"));
    });
    group.bench_function("sum_decoded", |b| {
        b.iter(|| run(&runtime, &session, "SELECT sum(usage_user + 0) FROM cpu"));
    });
    group.finish();

    let mut group = c.benchmark_group("newest_first");
    group.bench_function("one_host_time_desc_limit_10", |b| {
        b.iter(|| {
            run(
                &runtime,
                &session,
                "SELECT * FROM cpu WHERE hostname = 'host_3' ORDER BY time DESC LIMIT 10",
            )
        });
    });
    group.finish();
}

fn lastpoint(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let session = load(&runtime, 4000, 1);
    let mut group = c.benchmark_group("lastpoint_4000_hosts");
    group.sample_size(10);
    let queries = [
        (
            "distinct_on_newest_rows",
            "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, time DESC",
        ),
        (
            "distinct_on_full_scan",
            "SELECT DISTINCT ON (hostname) * FROM cpu \
             ORDER BY hostname, time + INTERVAL '0 seconds' DESC",
        ),
        (
            "last_newest_rows",
            "SELECT hostname, last(usage_user, time) FROM cpu GROUP BY hostname",
        ),
        (
            "last_full_scan",
            "SELECT hostname, last(usage_user, time + INTERVAL '0 seconds') FROM cpu \
             GROUP BY hostname",
        ),
    ];
    for (name, sql) in queries {
        assert_eq!(run(&runtime, &session, sql), 4000, "{name}");
        group.bench_function(name, |b| b.iter(|| run(&runtime, &session, sql)));
    }
    group.finish();
}

criterion_group!(benches, one_host_one_hour, full_scan_sum, lastpoint);
criterion_main!(benches);
