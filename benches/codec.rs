//! Encode and decode throughput of each codec on one block of 8640 values
//! (a day at 10 s), over data shaped like what each codec will see.
//!
//! `cargo bench --bench codec` prints each data set's encoded size first.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use epochdb::codec::{boolean, float, integer, text, timestamp, validity};

const BLOCK: usize = 8640;

/// A deterministic xorshift64 generator, so that every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn regular_timestamps() -> Vec<i64> {
    let start = 1_700_000_000_000_000;
    (0..BLOCK as i64).map(|i| start + i * 10_000_000).collect()
}

fn jittered_timestamps() -> Vec<i64> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    regular_timestamps()
        .into_iter()
        .map(|t| t + rng.below(2001) as i64 - 1000)
        .collect()
}

/// TSBS cpu-like fields: integer-valued doubles, a random walk in 0..=100.
fn tsbs_floats() -> Vec<f64> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut value = 50i64;
    (0..BLOCK)
        .map(|_| {
            value = (value + rng.below(7) as i64 - 3).clamp(0, 100);
            value as f64
        })
        .collect()
}

/// A noisy reading rounded to two decimal places.
fn decimal_floats() -> Vec<f64> {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut value = 2000i64;
    (0..BLOCK)
        .map(|_| {
            value += rng.below(41) as i64 - 20;
            value as f64 / 100.0
        })
        .collect()
}

/// Full-precision values, where ALP gives up and the XOR stream takes over.
fn noise_floats() -> Vec<f64> {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    (0..BLOCK)
        .map(|_| 20.0 + (rng.next() >> 11) as f64 / (1u64 << 53) as f64)
        .collect()
}

fn random_ints() -> Vec<i64> {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    (0..BLOCK).map(|_| rng.below(1 << 20) as i64).collect()
}

fn counter_ints() -> Vec<i64> {
    let mut rng = Rng(0x5555_aaaa_3333_cccc);
    let mut value = 1_000_000i64;
    (0..BLOCK)
        .map(|_| {
            value += rng.below(100) as i64;
            value
        })
        .collect()
}

fn booleans() -> Vec<bool> {
    let mut rng = Rng(0x0f0f_0f0f_1234_5678);
    (0..BLOCK).map(|_| rng.below(4) != 0).collect()
}

fn hosts() -> Vec<String> {
    let mut rng = Rng(0x7777_1111_2222_3333);
    (0..BLOCK)
        .map(|_| format!("host_{}", rng.below(10)))
        .collect()
}

#[expect(clippy::print_stdout, reason = "the bench reports encoded sizes")]
fn report_size(codec: &str, data: &str, bytes: &[u8]) {
    println!(
        "{codec}/{data}: {} bytes, {:.3} bytes/value",
        bytes.len(),
        bytes.len() as f64 / BLOCK as f64
    );
}

/// Benchmarks encoding and decoding of one data set.
fn bench_codec<T: Clone>(
    c: &mut Criterion,
    codec: &str,
    data: &str,
    values: &[T],
    encode: impl Fn(&[T], &mut Vec<u8>),
    decode_into: impl Fn(&[u8], &mut Vec<T>) -> epochdb::codec::Result<()>,
) {
    let mut bytes = Vec::new();
    encode(values, &mut bytes);
    report_size(codec, data, &bytes);

    let mut group = c.benchmark_group(format!("{codec}/encode"));
    group.throughput(Throughput::Elements(values.len() as u64));
    let mut out = Vec::with_capacity(bytes.len());
    group.bench_with_input(BenchmarkId::from_parameter(data), values, |b, values| {
        b.iter(|| {
            out.clear();
            encode(black_box(values), &mut out);
            black_box(out.len())
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{codec}/decode"));
    group.throughput(Throughput::Elements(values.len() as u64));
    let mut decoded = Vec::with_capacity(values.len());
    group.bench_with_input(BenchmarkId::from_parameter(data), &bytes, |b, bytes| {
        b.iter(|| {
            decoded.clear();
            decode_into(black_box(bytes), &mut decoded).expect("decodes");
            black_box(decoded.len())
        })
    });
    group.finish();
}

fn timestamps(c: &mut Criterion) {
    for (data, values) in [
        ("regular_10s", regular_timestamps()),
        ("jittered_10s", jittered_timestamps()),
    ] {
        bench_codec(
            c,
            "timestamp",
            data,
            &values,
            timestamp::encode,
            timestamp::decode_into,
        );
    }
}

fn floats(c: &mut Criterion) {
    for (data, values) in [
        ("tsbs_walk", tsbs_floats()),
        ("decimal_2dp", decimal_floats()),
        ("full_precision", noise_floats()),
    ] {
        bench_codec(c, "float", data, &values, float::encode, float::decode_into);
    }
}

fn integers(c: &mut Criterion) {
    for (data, values) in [("random_20bit", random_ints()), ("counter", counter_ints())] {
        bench_codec(
            c,
            "integer",
            data,
            &values,
            integer::encode,
            integer::decode_into,
        );
    }
}

fn bools(c: &mut Criterion) {
    let values = booleans();
    bench_codec(
        c,
        "boolean",
        "random_75pct",
        &values,
        boolean::encode,
        boolean::decode_into,
    );
    bench_codec(
        c,
        "validity",
        "random_75pct",
        &values,
        validity::encode,
        validity::decode_into,
    );
}

fn strings(c: &mut Criterion) {
    let values = hosts();
    bench_codec(
        c,
        "text",
        "10_hosts",
        &values,
        |values: &[String], out: &mut Vec<u8>| text::encode(values, out),
        text::decode_into,
    );
    let mut bytes = Vec::new();
    text::encode(&values, &mut bytes);
    let mut group = c.benchmark_group("text/decode_dictionary");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_with_input(
        BenchmarkId::from_parameter("10_hosts"),
        &bytes,
        |b, bytes| b.iter(|| text::decode_dictionary(black_box(bytes)).expect("decodes")),
    );
    group.finish();
}

criterion_group!(codecs, timestamps, floats, integers, bools, strings);
criterion_main!(codecs);
