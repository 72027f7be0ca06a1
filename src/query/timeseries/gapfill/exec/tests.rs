use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};
use proptest::prelude::*;

use super::*;

const WIDTH: i64 = 10;

/// An input row: group, bucket, value.
type Row = (Option<&'static str>, i64, Option<f64>);

fn filler(start: i64, finish: i64, treat_null_as_missing: bool) -> Filler {
    let steps = BucketSteps::new(
        &[ScalarValue::Int64(Some(WIDTH)), ScalarValue::Null],
        &DataType::Int64,
        None,
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("bucket", DataType::Int64, false),
        Field::new("host", DataType::Utf8, true),
        Field::new("v", DataType::Float64, true),
        Field::new("locf", DataType::Float64, true),
        Field::new("interpolate", DataType::Float64, true),
        Field::new("prev", DataType::Float64, true),
    ]));
    Filler {
        schema,
        time: 0,
        groups: vec![1],
        fills: vec![
            Fill {
                kind: FillKind::Locf,
                value: 3,
                prev: Some(5),
                next: None,
                treat_null_as_missing,
            },
            Fill {
                kind: FillKind::Interpolate,
                value: 4,
                prev: None,
                next: None,
                treat_null_as_missing: false,
            },
        ],
        steps,
        start,
        finish,
    }
}

fn batch(rows: &[Row], prev: f64) -> RecordBatch {
    let values: Float64Array = rows.iter().map(|r| r.2).collect();
    let values: ArrayRef = Arc::new(values);
    RecordBatch::try_new(
        filler(0, 0, false).schema.clone(),
        vec![
            Arc::new(rows.iter().map(|r| r.1).collect::<Int64Array>()),
            Arc::new(rows.iter().map(|r| r.0).collect::<StringArray>()),
            values.clone(),
            values.clone(),
            values,
            Arc::new(Float64Array::from(vec![prev; rows.len()])),
        ],
    )
    .unwrap()
}

/// The output rows: group, bucket, value, locf, interpolate.
type Out = (Option<String>, i64, Option<f64>, Option<f64>, Option<f64>);

fn run(filler: &Filler, rows: &[Row], prev: f64, batch_size: usize) -> Vec<Out> {
    let batches = filler.fill(&batch(rows, prev), batch_size).unwrap();
    let mut out = Vec::new();
    for b in &batches {
        assert!(b.num_rows() <= batch_size);
        let times = b.column(0).as_primitive::<Int64Type>();
        let hosts = b.column(1).as_string::<i32>();
        let float = |c: usize, i: usize| {
            let a = b.column(c).as_primitive::<Float64Type>();
            a.is_valid(i).then(|| a.value(i))
        };
        for i in 0..b.num_rows() {
            out.push((
                hosts.is_valid(i).then(|| hosts.value(i).to_owned()),
                times.value(i),
                float(2, i),
                float(3, i),
                float(4, i),
            ));
        }
    }
    out
}

/// Gap filling written out plainly, one group at a time.
fn model(
    rows: &[Row],
    start: i64,
    finish: i64,
    prev: f64,
    treat_null_as_missing: bool,
) -> Vec<Out> {
    let mut out = Vec::new();
    let mut groups: Vec<Option<&str>> = rows.iter().map(|r| r.0).collect();
    groups.dedup();
    for group in groups {
        let real: Vec<(i64, Option<f64>)> = rows
            .iter()
            .filter(|r| r.0 == group)
            .map(|r| (r.1, r.2))
            .collect();
        let mut times: Vec<i64> = real.iter().map(|r| r.0).collect();
        let mut b = start.div_euclid(WIDTH) * WIDTH;
        while b < finish {
            times.push(b);
            b += WIDTH;
        }
        times.sort_unstable();
        times.dedup();
        let mut carried: Option<Option<f64>> = None;
        for t in times {
            let found = real.iter().find(|r| r.0 == t);
            let value = found.and_then(|r| r.1);
            let locf = match found {
                Some(_) if value.is_some() || !treat_null_as_missing => {
                    carried = Some(value);
                    value
                }
                _ => carried.unwrap_or(Some(prev)),
            };
            let interpolated = match found {
                Some(_) => value,
                None => {
                    let before = real.iter().rfind(|r| r.0 < t);
                    let after = real.iter().find(|r| r.0 > t);
                    match (before, after) {
                        (Some(&(t0, Some(v0))), Some(&(t1, Some(v1)))) => {
                            Some(v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64)
                        }
                        _ => None,
                    }
                }
            };
            out.push((group.map(str::to_owned), t, value, locf, interpolated));
        }
    }
    out
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        (a, b) => a.is_none() && b.is_none(),
    }
}

#[test]
fn a_group_without_rows_before_its_first_gets_prev() {
    let rows = [(Some("a"), 20, Some(2.0)), (Some("a"), 50, Some(5.0))];
    let out = run(&filler(0, 70, false), &rows, -1.0, 3);
    let locf: Vec<_> = out.iter().map(|o| (o.1, o.3)).collect();
    assert_eq!(
        locf,
        [
            (0, Some(-1.0)),
            (10, Some(-1.0)),
            (20, Some(2.0)),
            (30, Some(2.0)),
            (40, Some(2.0)),
            (50, Some(5.0)),
            (60, Some(5.0)),
        ]
    );
    let interpolated: Vec<_> = out.iter().map(|o| o.4).collect();
    assert_eq!(
        interpolated,
        [None, None, Some(2.0), Some(3.0), Some(4.0), Some(5.0), None]
    );
}

fn rows_strategy() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::btree_map(
        (
            prop_oneof![Just(Some("a")), Just(Some("b")), Just(None)],
            -5i64..15,
        ),
        prop::option::weighted(0.8, -100.0f64..100.0),
        0..25,
    )
    .prop_map(|rows| {
        // Sorted by group (NULLs last), then bucket.
        let mut rows: Vec<Row> = rows
            .into_iter()
            .map(|((g, t), v)| (g, t * WIDTH, v))
            .collect();
        rows.sort_by(|a, b| (a.0.is_none(), a.0, a.1).cmp(&(b.0.is_none(), b.0, b.1)));
        rows
    })
}

proptest! {
    #[test]
    fn filling_matches_the_model(
        rows in rows_strategy(),
        start in -60i64..60,
        length in 0i64..160,
        treat_null_as_missing in any::<bool>(),
        batch_size in 1usize..8,
    ) {
        let finish = start + length;
        let filler = filler(start, finish, treat_null_as_missing);
        let got = run(&filler, &rows, -1.0, batch_size);
        let want = model(&rows, start, finish, -1.0, treat_null_as_missing);
        prop_assert_eq!(got.len(), want.len(), "{:?}\n{:?}", got, want);
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(&g.0, &w.0);
            prop_assert_eq!(g.1, w.1);
            prop_assert!(close(g.2, w.2) && close(g.3, w.3) && close(g.4, w.4), "{:?} != {:?}", g, w);
        }
    }
}
