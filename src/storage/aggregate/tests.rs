use std::sync::Arc;

use arrow::array::TimestampMicrosecondArray;
use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use proptest::prelude::*;

use super::*;
use crate::storage::{
    ColumnSchema, ScanRequest, SeriesFilter, Table, TableOptions, TableSchema, TimeRange,
};

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
        column("host", ColumnType::Utf8, ColumnRole::Tag),
        column("f", ColumnType::Float64, ColumnRole::Field),
        column("i", ColumnType::Int64, ColumnRole::Field),
    ])
    .unwrap()
}

type Row = (i64, Option<u8>, Option<f64>, Option<i64>);

fn write(table: &Table, rows: &[Row]) {
    let hosts: Vec<Option<String>> = rows.iter().map(|r| r.1.map(|h| format!("h{h}"))).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        Arc::new(hosts.iter().map(Option::as_deref).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.3).collect::<Int64Array>()),
    ];
    let batch = RecordBatch::try_new(table.arrow_schema().clone(), columns).unwrap();
    table.write(&[batch]).unwrap().without_waiting();
}

/// The same aggregates, the slow and obvious way.
fn model(rows: &[&Row], request: &AggregateRequest) -> AggregateValue {
    let column = request.column;
    let floats = || rows.iter().filter_map(|r| r.2).collect::<Vec<f64>>();
    let ints = || -> Vec<i64> {
        match column {
            Some(0) => rows.iter().map(|r| r.0).collect(),
            _ => rows.iter().filter_map(|r| r.3).collect(),
        }
    };
    match (request.kind, column) {
        (AggregateKind::CountRows, _) => AggregateValue::Count(rows.len() as u64),
        (AggregateKind::Count, Some(0)) => AggregateValue::Count(rows.len() as u64),
        (AggregateKind::Count, Some(1)) => {
            AggregateValue::Count(rows.iter().filter(|r| r.1.is_some()).count() as u64)
        }
        (AggregateKind::Count, Some(2)) => AggregateValue::Count(floats().len() as u64),
        (AggregateKind::Count, _) => AggregateValue::Count(ints().len() as u64),
        (kind, Some(2)) => {
            let v = floats();
            let nan = v.iter().any(|x| x.is_nan());
            let numbers = v.iter().copied().filter(|x| !x.is_nan());
            AggregateValue::Float(match kind {
                AggregateKind::Min => numbers.reduce(f64::min).or(nan.then_some(f64::NAN)),
                AggregateKind::Max if nan => Some(f64::NAN),
                AggregateKind::Max => numbers.reduce(f64::max),
                _ if v.is_empty() => None,
                _ if nan => Some(f64::NAN),
                _ => Some(numbers.sum()),
            })
        }
        (kind, _) => {
            let v = ints();
            AggregateValue::Int(match kind {
                AggregateKind::Min => v.iter().min().map(|&x| i128::from(x)),
                AggregateKind::Max => v.iter().max().map(|&x| i128::from(x)),
                _ => (!v.is_empty()).then(|| v.iter().map(|&x| i128::from(x)).sum()),
            })
        }
    }
}

fn same(a: &AggregateValue, b: &AggregateValue) -> bool {
    match (a, b) {
        (AggregateValue::Float(Some(x)), AggregateValue::Float(Some(y))) => {
            (x.is_nan() && y.is_nan()) || x == y
        }
        _ => a == b,
    }
}

fn requests() -> Vec<AggregateRequest> {
    let r = |kind, column| AggregateRequest { kind, column };
    vec![
        r(AggregateKind::CountRows, None),
        r(AggregateKind::Count, Some(0)),
        r(AggregateKind::Count, Some(1)),
        r(AggregateKind::Count, Some(2)),
        r(AggregateKind::Count, Some(3)),
        r(AggregateKind::Min, Some(0)),
        r(AggregateKind::Max, Some(0)),
        r(AggregateKind::Min, Some(2)),
        r(AggregateKind::Max, Some(2)),
        r(AggregateKind::Sum, Some(2)),
        r(AggregateKind::Min, Some(3)),
        r(AggregateKind::Max, Some(3)),
        r(AggregateKind::Sum, Some(3)),
    ]
}

#[test]
fn whole_blocks_come_from_statistics() {
    let options = TableOptions {
        shard_interval: 1 << 20,
        block_size: 4,
    };
    let table = Table::new("t".into(), schema(), options);
    let rows: Vec<Row> = (0..10)
        .map(|t| (t, Some(0), Some(t as f64), Some(-t)))
        .collect();
    write(&table, &rows);
    let request = ScanRequest {
        time_range: TimeRange { start: 2, end: 100 },
        ..ScanRequest::default()
    };
    let view = table.snapshot(&request).unwrap();
    let (values, stats) = view.aggregate(&requests()).unwrap();
    // Blocks [0..4) straddles the range start and is decoded; [4..8) is whole;
    // the head holds 8 and 9.
    assert_eq!(stats.blocks_from_stats, 1);
    assert_eq!(stats.rows_decoded, 6);
    assert_eq!(values[0], AggregateValue::Count(8));
    assert_eq!(values[5], AggregateValue::Int(Some(2)));
    assert_eq!(values[9], AggregateValue::Float(Some(44.0)));
    assert_eq!(values[11], AggregateValue::Int(Some(-2)));
}

#[test]
fn tag_min_is_not_offered() {
    let table = Table::new("t".into(), schema(), TableOptions::default());
    let view = table.snapshot(&ScanRequest::default()).unwrap();
    let request = AggregateRequest {
        kind: AggregateKind::Min,
        column: Some(1),
    };
    assert!(!view.can_aggregate(&request));
    assert!(view.aggregate(&[request]).is_err());
}

fn float() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        4 => (-100i32..100).prop_map(|v| Some(f64::from(v))),
        1 => Just(Some(f64::NAN)),
        1 => Just(None),
    ]
}

proptest! {
    /// Statistics and decoding together give what the rows give, whatever
    /// the mix of whole blocks, straddling blocks, late data and heads.
    #[test]
    fn aggregates_match_a_model(
        writes in prop::collection::vec(
            prop::collection::vec(
                (-50i64..50, prop::option::of(0u8..3), float(), prop::option::of(-9i64..9)),
                0..20,
            ),
            0..8,
        ),
        start in -60i64..60,
        len in 0i64..80,
        host in prop::option::of(0u8..3),
        points in prop::option::of(prop::collection::vec(-50i64..50, 0..5)),
    ) {
        let options = TableOptions { shard_interval: 16, block_size: 4 };
        let table = Table::new("t".into(), schema(), options);
        for rows in &writes {
            write(&table, rows);
        }
        let request = ScanRequest {
            time_range: TimeRange { start, end: start + len },
            series: match host {
                Some(h) => SeriesFilter::Tag {
                    tag: 0,
                    predicate: crate::storage::TagPredicate::Eq(format!("h{h}")),
                },
                None => SeriesFilter::All,
            },
            time_points: points.clone(),
            ..ScanRequest::default()
        };
        let view = table.snapshot(&request).unwrap();
        let requests = requests();
        let (got, _) = view.aggregate(&requests).unwrap();
        let all: Vec<&Row> = writes.iter().flatten().collect();
        let selected: Vec<&Row> = all
            .into_iter()
            .filter(|r| r.0 >= start && r.0 <= start + len)
            .filter(|r| host.is_none() || r.1 == host)
            .filter(|r| points.as_ref().is_none_or(|p| p.contains(&r.0)))
            .collect();
        for (value, request) in got.iter().zip(&requests) {
            let want = model(&selected, request);
            prop_assert!(same(value, &want), "{request:?}: got {value:?}, want {want:?}");
        }
    }
}
