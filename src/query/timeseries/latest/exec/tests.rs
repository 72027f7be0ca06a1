use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{Field, Float64Type, Schema};
use datafusion::physical_expr::expressions::col;
use proptest::prelude::*;

use super::*;

/// An input row: group, time, value.
type Row = (Option<&'static str>, Option<i64>, Option<f64>);

fn input_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("g", DataType::Utf8, true),
        Field::new("t", DataType::Int64, true),
        Field::new("v", DataType::Float64, true),
    ]))
}

fn output_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("g", DataType::Utf8, true),
        Field::new("last_v", DataType::Float64, true),
        Field::new("max_t", DataType::Int64, true),
    ]))
}

fn batch(rows: &[Row]) -> RecordBatch {
    RecordBatch::try_new(
        input_schema(),
        vec![
            Arc::new(rows.iter().map(|r| r.0).collect::<StringArray>()),
            Arc::new(rows.iter().map(|r| r.1).collect::<Int64Array>()),
            Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>()),
        ],
    )
    .unwrap()
}

/// Picks over `batches`: per group, the value and time of its newest row.
fn pick(batches: &[Vec<Row>]) -> Vec<(Option<String>, Option<f64>, Option<i64>)> {
    let schema = input_schema();
    let spec = LatestGroups {
        groups: vec![col("g", &schema).unwrap()],
        time: Some(col("t", &schema).unwrap()),
        values: vec![col("v", &schema).unwrap(), col("t", &schema).unwrap()],
        names: vec!["last(v, t)".to_owned(), "max(t)".to_owned()],
    };
    let mut picker = Picker::new(spec, &schema).unwrap();
    for rows in batches {
        picker.push(&batch(rows)).unwrap();
    }
    let out = picker.finish(&output_schema()).unwrap();
    let groups = out.column(0).as_string::<i32>();
    let values = out.column(1).as_primitive::<Float64Type>();
    let times = out.column(2).as_primitive::<Int64Type>();
    (0..out.num_rows())
        .map(|r| {
            (
                groups.is_valid(r).then(|| groups.value(r).to_owned()),
                values.is_valid(r).then(|| values.value(r)),
                times.is_valid(r).then(|| times.value(r)),
            )
        })
        .collect()
}

/// The same by a plain reading: groups in order of first arrival, each
/// with its first row at its greatest time (NULL times lose to any time).
fn model(batches: &[Vec<Row>]) -> Vec<(Option<String>, Option<f64>, Option<i64>)> {
    let rows: Vec<&Row> = batches.iter().flatten().collect();
    let mut groups: Vec<Option<&str>> = Vec::new();
    for row in &rows {
        if !groups.contains(&row.0) {
            groups.push(row.0);
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let mine = rows.iter().filter(|r| r.0 == g);
            let newest = mine.clone().map(|r| r.1.unwrap_or(i64::MIN)).max();
            let row = mine
                .into_iter()
                .find(|r| Some(r.1.unwrap_or(i64::MIN)) == newest)
                .unwrap();
            (g.map(str::to_owned), row.2, row.1)
        })
        .collect()
}

#[test]
fn each_group_gets_its_newest_row() {
    let batches = vec![
        vec![
            (Some("a"), Some(1), Some(1.0)),
            (Some("b"), Some(5), None),
            (None, Some(2), Some(2.0)),
        ],
        vec![],
        vec![
            (Some("a"), Some(3), Some(3.0)),
            (Some("b"), Some(4), Some(4.0)),
            (Some("a"), Some(3), Some(9.0)),
            (None, None, Some(7.0)),
        ],
    ];
    assert_eq!(
        pick(&batches),
        vec![
            (Some("a".to_owned()), Some(3.0), Some(3)),
            (Some("b".to_owned()), None, Some(5)),
            (None, Some(2.0), Some(2)),
        ]
    );
}

#[test]
fn no_rows_no_groups() {
    assert!(pick(&[]).is_empty());
    assert!(pick(&[vec![]]).is_empty());
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::weighted(0.9, prop::sample::select(vec!["a", "b", "c", "d"])),
        prop::option::weighted(0.9, -3i64..4),
        prop::option::weighted(0.8, (-100i32..100).prop_map(f64::from)),
    )
}

proptest! {
    #[test]
    fn picks_what_a_plain_reading_picks(
        batches in prop::collection::vec(prop::collection::vec(row(), 0..6), 0..5)
    ) {
        prop_assert_eq!(pick(&batches), model(&batches));
    }
}
