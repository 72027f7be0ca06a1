use std::sync::Arc;

use datafusion::logical_expr::{col, lit};
use datafusion::prelude::Expr;

use super::*;
use crate::storage::ColumnSchema;

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
        column("region", ColumnType::Utf8, ColumnRole::Tag),
        column("v", ColumnType::Float64, ColumnRole::Field),
        column("note", ColumnType::Utf8, ColumnRole::Field),
    ])
    .unwrap()
}

fn ts_ns(v: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(
        Some(v),
        Some(Arc::from("UTC")),
    ))
}

fn request(filters: &[Expr]) -> ScanRequest {
    let mut request = ScanRequest::default();
    apply(&schema(), filters, &mut request);
    request
}

#[test]
fn time_comparisons_become_exact_ranges_at_microsecond_edges() {
    use TableProviderFilterPushDown::*;
    let s = schema();
    assert_eq!(support(&s, &col("time").gt_eq(ts_ns(5_000))), Exact);
    let r = request(&[col("time").gt(ts_ns(5_500)), col("time").lt(ts_ns(9_000))]);
    assert_eq!(r.time_range, TimeRange { start: 6, end: 8 });
    let r = request(&[
        col("time").gt_eq(ts_ns(5_500)),
        col("time").lt_eq(ts_ns(9_999)),
    ]);
    assert_eq!(r.time_range, TimeRange { start: 6, end: 9 });
    // Literal on the left.
    let r = request(&[ts_ns(2_000).lt(col("time"))]);
    assert_eq!(r.time_range.start, 3);
    // Between a microsecond: nothing.
    assert!(
        request(&[col("time").eq(ts_ns(1_500))])
            .time_range
            .is_empty()
    );
    let r = request(&[col("time").between(ts_ns(1_000), ts_ns(3_000))]);
    assert_eq!(r.time_range, TimeRange { start: 1, end: 3 });
    let within = col("time").in_list(vec![ts_ns(1_000), ts_ns(9_000), ts_ns(9_500)], false);
    assert_eq!(support(&s, &within), Exact);
    // The value between two microseconds can match nothing and is dropped.
    assert_eq!(
        request(std::slice::from_ref(&within)).time_points,
        Some(vec![1, 9])
    );
    // Two lists intersect.
    let other = col("time").in_list(vec![ts_ns(9_000), ts_ns(4_000)], false);
    assert_eq!(request(&[within, other]).time_points, Some(vec![9]));
    // Not a literal, or not the time column: left to DataFusion.
    assert_eq!(support(&s, &col("time").gt(col("time"))), Unsupported);
}

#[test]
fn tag_predicates_become_exact_series_filters() {
    use TableProviderFilterPushDown::*;
    let s = schema();
    let cases: Vec<(Expr, SeriesFilter)> = vec![
        (
            col("host").eq(lit("a")),
            SeriesFilter::Tag {
                tag: 0,
                predicate: TagPredicate::Eq("a".into()),
            },
        ),
        (
            lit("a").eq(col("region")),
            SeriesFilter::Tag {
                tag: 1,
                predicate: TagPredicate::Eq("a".into()),
            },
        ),
        (
            col("host").not_eq(lit("a")),
            SeriesFilter::Tag {
                tag: 0,
                predicate: TagPredicate::NotEq("a".into()),
            },
        ),
        (
            col("host").in_list(vec![lit("a"), lit("b")], true),
            SeriesFilter::Tag {
                tag: 0,
                predicate: TagPredicate::NotIn(vec!["a".into(), "b".into()]),
            },
        ),
        (
            col("host").is_null(),
            SeriesFilter::Tag {
                tag: 0,
                predicate: TagPredicate::IsNull,
            },
        ),
        (
            col("host").like(lit("web%")),
            SeriesFilter::Tag {
                tag: 0,
                predicate: TagPredicate::Prefix("web".into()),
            },
        ),
        (
            col("host").eq(lit("a")).or(col("region").is_not_null()),
            SeriesFilter::Or(vec![
                SeriesFilter::Tag {
                    tag: 0,
                    predicate: TagPredicate::Eq("a".into()),
                },
                SeriesFilter::Tag {
                    tag: 1,
                    predicate: TagPredicate::IsNotNull,
                },
            ]),
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(support(&s, &expr), Exact, "{expr}");
        assert_eq!(request(&[expr]).series, SeriesFilter::And(vec![want]));
    }
    // Not a prefix pattern, a field, or a tag OR'ed with a field: not pushed.
    for expr in [
        col("host").like(lit("%web")),
        col("host").like(lit("w_b%")),
        col("note").eq(lit("x")),
        col("host").eq(lit("a")).or(col("v").gt(lit(1.0))),
    ] {
        assert_eq!(support(&s, &expr), Unsupported, "{expr}");
    }
}

#[test]
fn numeric_field_comparisons_prune_inexactly() {
    use TableProviderFilterPushDown::*;
    let s = schema();
    assert_eq!(support(&s, &col("v").gt(lit(1.5))), Inexact);
    let r = request(&[col("v").gt(lit(1.5)), col("v").between(lit(0.0), lit(10))]);
    assert_eq!(
        r.field_bounds,
        vec![
            FieldBound {
                column: 3,
                min: Some(1.5),
                max: None
            },
            FieldBound {
                column: 3,
                min: Some(0.0),
                max: Some(10.0)
            },
        ]
    );
    assert_eq!(support(&s, &col("v").gt(lit(f64::NAN))), Unsupported);
}
