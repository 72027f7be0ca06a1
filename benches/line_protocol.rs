//! Line protocol parsing: EpochDB's parser against the `influxdb-line-protocol`
//! crate (InfluxData's), on TSBS cpu lines (10 tags, 10 fields, a nanosecond
//! timestamp), every line read to its last field.
//!
//! `cargo bench --bench line_protocol`

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const LINES: usize = 20_000;

fn tsbs_lines() -> String {
    let mut body = String::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..LINES {
        let _ = write!(
            body,
            "cpu,hostname=host_{},region=eu-west-1,datacenter=eu-west-1b,rack={},os=Ubuntu16.04LTS,\
             arch=x64,team=NYC,service={},service_version=0,service_environment=production",
            i % 1000,
            i % 100,
            i % 20
        );
        for (f, name) in [
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
        ]
        .iter()
        .enumerate()
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let _ = write!(
                body,
                "{}{name}={}",
                if f == 0 { ' ' } else { ',' },
                state % 100
            );
        }
        let _ = writeln!(
            body,
            " {}",
            1_451_606_400_000_000_000i64 + i as i64 * 10_000_000_000
        );
    }
    body
}

fn parse(c: &mut Criterion) {
    let body = tsbs_lines();
    let mut group = c.benchmark_group("line_protocol");
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("epochdb", |b| {
        b.iter(|| {
            let mut fields = 0;
            for (_, line) in epochdb::line_protocol::parse(black_box(body.as_bytes())) {
                fields += line.map_or(0, |l| l.fields.len() + l.tags.len());
            }
            fields
        })
    });
    group.bench_function("influxdb-line-protocol", |b| {
        b.iter(|| {
            let mut fields = 0;
            for line in influxdb_line_protocol::parse_lines(black_box(&body)) {
                fields += line.map_or(0, |l| {
                    l.field_set.len() + l.series.tag_set.map_or(0, |t| t.len())
                });
            }
            fields
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
