//! Storage benches: append throughput into heads (one and two threads), and the
//! bytes per point the engine holds for TSBS-like cpu data and a regular gauge.
//!
//! `cargo bench --bench storage` prints the bytes-per-point figures before the
//! timings.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use epochdb::storage::{ColumnRole, ColumnSchema, ColumnType, Table, TableOptions, TableSchema};

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
const INTERVAL_MICROS: i64 = 10_000_000;

fn column(name: &str, column_type: ColumnType, role: ColumnRole) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        column_type,
        role,
        nullable: true,
        max_chars: None,
        identity: None,
        default: None,
    }
}

fn cpu_schema() -> TableSchema {
    let mut columns = vec![column(
        "time",
        ColumnType::Timestamp {
            with_time_zone: true,
        },
        ColumnRole::Time,
    )];
    columns.extend(
        TAGS.iter()
            .map(|t| column(t, ColumnType::Utf8, ColumnRole::Tag)),
    );
    columns.extend(
        FIELDS
            .iter()
            .map(|f| column(f, ColumnType::Float64, ColumnRole::Field)),
    );
    TableSchema::try_new(columns).unwrap()
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// TSBS-like cpu rows: `hosts` series, `points` rows each at 10 s, fields are
/// random walks in [0, 100] truncated to integers. One batch per host.
fn cpu_batches(table: &Table, hosts: usize, points: usize, seed: u64) -> Vec<RecordBatch> {
    let mut rng = Rng(seed | 1);
    (0..hosts)
        .map(|h| {
            let times = TimestampMicrosecondArray::from(
                (0..points as i64)
                    .map(|i| 1_700_000_000_000_000 + i * INTERVAL_MICROS)
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC");
            let mut columns: Vec<ArrayRef> = vec![Arc::new(times)];
            for (t, _) in TAGS.iter().enumerate() {
                let value = format!("{}_{}", TAGS[t], if t == 0 { h } else { h % (3 + t) });
                columns.push(Arc::new(StringArray::from(vec![value.as_str(); points])));
            }
            for _ in FIELDS {
                let mut v = rng.unit() * 100.0;
                let walk: Vec<f64> = (0..points)
                    .map(|_| {
                        v = (v + (rng.unit() - 0.5) * 2.0).clamp(0.0, 100.0);
                        v.trunc()
                    })
                    .collect();
                columns.push(Arc::new(Float64Array::from(walk)));
            }
            RecordBatch::try_new(table.arrow_schema().clone(), columns).unwrap()
        })
        .collect()
}

/// A regular gauge: one series, one smooth float field at a fixed interval.
fn gauge(points: usize) -> (Table, Vec<RecordBatch>) {
    let schema = TableSchema::try_new(vec![
        column(
            "time",
            ColumnType::Timestamp {
                with_time_zone: true,
            },
            ColumnRole::Time,
        ),
        column("sensor", ColumnType::Utf8, ColumnRole::Tag),
        column("value", ColumnType::Float64, ColumnRole::Field),
    ])
    .unwrap();
    let table = Table::new("gauge".into(), schema, TableOptions::default());
    let times = TimestampMicrosecondArray::from(
        (0..points as i64)
            .map(|i| i * INTERVAL_MICROS)
            .collect::<Vec<_>>(),
    )
    .with_timezone("UTC");
    let values: Vec<f64> = (0..points)
        .map(|i| ((i as f64 / 100.0).sin() * 1000.0).round() / 100.0)
        .collect();
    let batch = RecordBatch::try_new(
        table.arrow_schema().clone(),
        vec![
            Arc::new(times),
            Arc::new(StringArray::from(vec!["s1"; points])),
            Arc::new(Float64Array::from(values)),
        ],
    )
    .unwrap();
    (table, vec![batch])
}

/// Bytes the engine holds per field value (and per row) after loading.
fn report_size(name: &str, table: &Table, values_per_row: usize) {
    let usage = table.usage();
    let rows = usage.first().map_or(0, |u| u.rows) as f64;
    let bytes: u64 = usage.iter().map(|u| u.bytes).sum();
    eprintln!(
        "{name}: {rows} rows, {bytes} bytes: {:.3} bytes/value, {:.2} bytes/row",
        bytes as f64 / (rows * values_per_row as f64),
        bytes as f64 / rows
    );
}

fn sizes() {
    for block_size in [1024, 4096, 8640] {
        let options = TableOptions {
            block_size,
            ..TableOptions::default()
        };
        let table = Table::new("cpu".into(), cpu_schema(), options);
        // 100 hosts x 1 day at 10 s.
        let batches = cpu_batches(&table, 100, 8640, 42);
        table.write(&batches).unwrap().without_waiting();
        let name = format!("tsbs cpu, block_size {block_size}");
        report_size(&format!("{name}, with heads"), &table, FIELDS.len());
        table.seal_heads().unwrap();
        report_size(&format!("{name}, all sealed"), &table, FIELDS.len());
    }
    let (table, batches) = gauge(8640 * 7);
    table.write(&batches).unwrap().without_waiting();
    report_size("regular gauge, with heads", &table, 1);
    table.seal_heads().unwrap();
    report_size("regular gauge, all sealed", &table, 1);
}

/// The rows of per-host `batches` (equal lengths) reordered by time, then
/// host, cut into batches of the same size.
fn time_major(table: &Table, batches: &[RecordBatch]) -> Vec<RecordBatch> {
    let all = arrow::compute::concat_batches(table.arrow_schema(), batches).unwrap();
    let (hosts, per_host) = (batches.len(), batches[0].num_rows());
    let order: Vec<u32> = (0..per_host)
        .flat_map(|i| (0..hosts).map(move |h| (h * per_host + i) as u32))
        .collect();
    let all =
        arrow::compute::take_record_batch(&all, &arrow::array::UInt32Array::from(order)).unwrap();
    (0..hosts)
        .map(|b| all.slice(b * per_host, per_host))
        .collect()
}

fn append(c: &mut Criterion) {
    sizes();
    let mut group = c.benchmark_group("append");
    let template = Table::new("cpu".into(), cpu_schema(), TableOptions::default());
    let batches = cpu_batches(&template, 50, 1024, 7);
    // A point is one field value, as in bytes/point: 10 per row here.
    let points = (50 * 1024 * FIELDS.len()) as u64;
    group.throughput(Throughput::Elements(points));
    group.sample_size(10);
    // As TSBS sends them: time-major, each row a different host.
    let interleaved = time_major(&template, &batches);
    group.bench_function("time_major/threads/1", |b| {
        b.iter(|| {
            let table = Table::new("cpu".into(), cpu_schema(), TableOptions::default());
            for batch in &interleaved {
                table
                    .write(std::slice::from_ref(batch))
                    .unwrap()
                    .without_waiting();
            }
        });
    });
    for threads in [1usize, 2] {
        group.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |b, &threads| {
                b.iter(|| {
                    let table = Arc::new(Table::new(
                        "cpu".into(),
                        cpu_schema(),
                        TableOptions::default(),
                    ));
                    std::thread::scope(|scope| {
                        for t in 0..threads {
                            let table = table.clone();
                            let mine: Vec<RecordBatch> =
                                batches.iter().skip(t).step_by(threads).cloned().collect();
                            scope.spawn(move || {
                                for batch in &mine {
                                    table
                                        .write(std::slice::from_ref(batch))
                                        .unwrap()
                                        .without_waiting();
                                }
                            });
                        }
                    });
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
