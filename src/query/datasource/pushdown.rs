//! Filter pushdown: DataFusion predicates → a storage [`ScanRequest`].
//!
//! | predicate | on | pushed as | exactness |
//! | --- | --- | --- | --- |
//! | `=`, `<`, `<=`, `>`, `>=`, `BETWEEN` with a timestamp literal | time column | time range | Exact |
//! | `IN (timestamps)` | time column | exact time points | Exact |
//! | `=`, `<>`, `IN`, `NOT IN`, `IS [NOT] NULL`, `LIKE 'prefix%'`, and `OR`s of these | tag columns | series filter (tag index) | Exact |
//! | `=`, `<`, `<=`, `>`, `>=`, `BETWEEN` with a numeric literal | numeric fields | block min/max pruning | Inexact |
//!
//! Anything else is `Unsupported` and left to DataFusion. Literals arrive
//! constant-folded (`now() - interval '1 hour'` and `'2026-01-01T00:00:00Z'`
//! are timestamp literals by then), and a cast of the column to a wider
//! timestamp type is looked through.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, Like, Operator, TableProviderFilterPushDown,
};

use crate::storage::{
    ColumnRole, ColumnType, FieldBound, ScanRequest, SeriesFilter, TableSchema, TagPredicate,
    TimeRange,
};

/// What one filter contributes to a scan.
#[derive(Debug, Clone, PartialEq)]
enum Pushed {
    Time(TimeRange),
    TimePoints(Vec<i64>),
    Series(SeriesFilter),
    Field(FieldBound),
}

/// How DataFusion must treat `filter` if it is pushed to this table.
pub(crate) fn support(schema: &TableSchema, filter: &Expr) -> TableProviderFilterPushDown {
    match classify(schema, filter) {
        Some(Pushed::Time(_) | Pushed::TimePoints(_)) => TableProviderFilterPushDown::Exact,
        Some(Pushed::Series(_)) => TableProviderFilterPushDown::Exact,
        Some(Pushed::Field(_)) => TableProviderFilterPushDown::Inexact,
        None => TableProviderFilterPushDown::Unsupported,
    }
}

/// Whether `filter` says only which times or series a row has, as a time
/// range or a series filter: what a region of the table states exactly.
pub(crate) fn is_region(schema: &TableSchema, filter: &Expr) -> bool {
    matches!(
        classify(schema, filter),
        Some(Pushed::Time(_) | Pushed::Series(_))
    )
}

/// Folds pushed filters into `request`.
pub(crate) fn apply(schema: &TableSchema, filters: &[Expr], request: &mut ScanRequest) {
    let mut series = Vec::new();
    for filter in filters {
        match classify(schema, filter) {
            Some(Pushed::Time(range)) => {
                request.time_range = TimeRange {
                    start: request.time_range.start.max(range.start),
                    end: request.time_range.end.min(range.end),
                };
            }
            Some(Pushed::TimePoints(points)) => {
                request.time_points = Some(match request.time_points.take() {
                    // Two IN lists: only times in both match.
                    Some(mut previous) => {
                        previous.retain(|t| points.contains(t));
                        previous
                    }
                    None => points,
                });
            }
            Some(Pushed::Series(filter)) => series.push(filter),
            Some(Pushed::Field(bound)) => request.field_bounds.push(bound),
            None => {}
        }
    }
    if !series.is_empty() {
        request.series = SeriesFilter::And(series);
    }
}

fn classify(schema: &TableSchema, filter: &Expr) -> Option<Pushed> {
    if let Some(filter) = series_filter(schema, filter) {
        return Some(Pushed::Series(filter));
    }
    if let Some(pushed) = time_filter(schema, filter) {
        return Some(pushed);
    }
    field_bound(schema, filter).map(Pushed::Field)
}

/// The table column `expr` names, looking through casts.
fn column<'a>(
    schema: &'a TableSchema,
    expr: &Expr,
) -> Option<(usize, &'a crate::storage::ColumnSchema)> {
    match expr {
        Expr::Column(c) => schema
            .columns()
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == c.name),
        Expr::Cast(cast) => column(schema, &cast.expr),
        Expr::TryCast(cast) => column(schema, &cast.expr),
        _ => None,
    }
}

fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) if !value.is_null() => Some(value),
        _ => None,
    }
}

/// `column op literal` or `literal op column`, normalised to the former.
fn comparison<'a>(
    left: &'a Expr,
    op: Operator,
    right: &'a Expr,
) -> Option<(&'a Expr, Operator, &'a ScalarValue)> {
    if let Some(value) = literal(right) {
        return Some((left, op, value));
    }
    let value = literal(left)?;
    let swapped = match op {
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        other => other,
    };
    Some((right, swapped, value))
}

// ---- time ----------------------------------------------------------------

/// A timestamp literal as nanoseconds since the epoch (i128, so no unit
/// conversion can overflow).
fn timestamp_nanos(value: &ScalarValue) -> Option<i128> {
    Some(match value {
        ScalarValue::TimestampSecond(Some(v), _) => i128::from(*v) * 1_000_000_000,
        ScalarValue::TimestampMillisecond(Some(v), _) => i128::from(*v) * 1_000_000,
        ScalarValue::TimestampMicrosecond(Some(v), _) => i128::from(*v) * 1_000,
        ScalarValue::TimestampNanosecond(Some(v), _) => i128::from(*v),
        _ => return None,
    })
}

fn clamp(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The microsecond range where `time op value` holds.
fn time_range(op: Operator, nanos: i128) -> Option<TimeRange> {
    let floor = nanos.div_euclid(1_000);
    let exact = nanos.rem_euclid(1_000) == 0;
    let ceil = if exact { floor } else { floor + 1 };
    Some(match op {
        Operator::Eq if exact => TimeRange {
            start: clamp(floor),
            end: clamp(floor),
        },
        // No microsecond equals a value between two microseconds.
        Operator::Eq => TimeRange { start: 1, end: 0 },
        Operator::Gt => TimeRange {
            start: clamp(floor + 1),
            end: i64::MAX,
        },
        Operator::GtEq => TimeRange {
            start: clamp(ceil),
            end: i64::MAX,
        },
        Operator::Lt => TimeRange {
            start: i64::MIN,
            end: clamp(ceil - 1),
        },
        Operator::LtEq => TimeRange {
            start: i64::MIN,
            end: clamp(floor),
        },
        _ => return None,
    })
}

fn is_time(schema: &TableSchema, expr: &Expr) -> bool {
    column(schema, expr).is_some_and(|(_, c)| c.role == ColumnRole::Time)
}

fn time_filter(schema: &TableSchema, filter: &Expr) -> Option<Pushed> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (col, op, value) = comparison(left, *op, right)?;
            if !is_time(schema, col) {
                return None;
            }
            Some(Pushed::Time(time_range(op, timestamp_nanos(value)?)?))
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if is_time(schema, expr) => {
            let low = time_range(Operator::GtEq, timestamp_nanos(literal(low)?)?)?;
            let high = time_range(Operator::LtEq, timestamp_nanos(literal(high)?)?)?;
            Some(Pushed::Time(TimeRange {
                start: low.start,
                end: high.end,
            }))
        }
        Expr::InList(list) if !list.negated && is_time(schema, &list.expr) => {
            let values = list
                .list
                .iter()
                .map(|e| literal(e).and_then(timestamp_nanos))
                .collect::<Option<Vec<_>>>()?;
            // A value between two microseconds matches no stored time.
            let points = values
                .into_iter()
                .filter(|v| v.rem_euclid(1_000) == 0)
                .map(|v| v.div_euclid(1_000))
                .filter(|&v| i64::try_from(v).is_ok())
                .map(clamp)
                .collect();
            Some(Pushed::TimePoints(points))
        }
        _ => None,
    }
}

// ---- tags ----------------------------------------------------------------

fn tag_position(schema: &TableSchema, expr: &Expr) -> Option<usize> {
    // Only a plain column: a cast could change what equality means.
    let Expr::Column(c) = expr else {
        return None;
    };
    schema
        .tag_indices()
        .iter()
        .position(|&t| schema.columns()[t].name == c.name)
}

fn text(value: &ScalarValue) -> Option<String> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s.clone()),
        _ => None,
    }
}

fn series_filter(schema: &TableSchema, filter: &Expr) -> Option<SeriesFilter> {
    let tag = |tag, predicate| Some(SeriesFilter::Tag { tag, predicate });
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => Some(SeriesFilter::Or(vec![
            series_filter(schema, left)?,
            series_filter(schema, right)?,
        ])),
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => Some(SeriesFilter::And(vec![
            series_filter(schema, left)?,
            series_filter(schema, right)?,
        ])),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (col, op, value) = comparison(left, *op, right)?;
            let position = tag_position(schema, col)?;
            let value = text(value)?;
            match op {
                Operator::Eq => tag(position, TagPredicate::Eq(value)),
                Operator::NotEq => tag(position, TagPredicate::NotEq(value)),
                _ => None,
            }
        }
        Expr::InList(list) => {
            let position = tag_position(schema, &list.expr)?;
            let values = list
                .list
                .iter()
                .map(|e| literal(e).and_then(text))
                .collect::<Option<Vec<_>>>()?;
            if list.negated {
                tag(position, TagPredicate::NotIn(values))
            } else {
                tag(position, TagPredicate::In(values))
            }
        }
        Expr::IsNull(expr) => tag(tag_position(schema, expr)?, TagPredicate::IsNull),
        Expr::IsNotNull(expr) => tag(tag_position(schema, expr)?, TagPredicate::IsNotNull),
        Expr::Like(Like {
            negated: false,
            expr,
            pattern,
            escape_char: None,
            case_insensitive: false,
        }) => {
            let position = tag_position(schema, expr)?;
            let pattern = text(literal(pattern)?)?;
            let prefix = pattern.strip_suffix('%')?;
            if prefix.contains(['%', '_', '\\']) {
                return None;
            }
            tag(position, TagPredicate::Prefix(prefix.to_owned()))
        }
        _ => None,
    }
}

// ---- fields --------------------------------------------------------------

fn number(value: &ScalarValue) -> Option<f64> {
    Some(match value {
        ScalarValue::Float64(Some(v)) => *v,
        ScalarValue::Float32(Some(v)) => f64::from(*v),
        ScalarValue::Int64(Some(v)) => *v as f64,
        ScalarValue::Int32(Some(v)) => f64::from(*v),
        ScalarValue::Int16(Some(v)) => f64::from(*v),
        ScalarValue::Int8(Some(v)) => f64::from(*v),
        ScalarValue::UInt64(Some(v)) => *v as f64,
        ScalarValue::UInt32(Some(v)) => f64::from(*v),
        ScalarValue::UInt16(Some(v)) => f64::from(*v),
        ScalarValue::UInt8(Some(v)) => f64::from(*v),
        _ => return None,
    })
    .filter(|v| !v.is_nan())
}

fn numeric_field(schema: &TableSchema, expr: &Expr) -> Option<usize> {
    let (index, column) = column(schema, expr)?;
    let numeric = matches!(
        column.column_type,
        ColumnType::Float64
            | ColumnType::Float32
            | ColumnType::Int64
            | ColumnType::Int32
            | ColumnType::Int16
    );
    (column.role == ColumnRole::Field && numeric).then_some(index)
}

fn field_bound(schema: &TableSchema, filter: &Expr) -> Option<FieldBound> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (col, op, value) = comparison(left, *op, right)?;
            let column = numeric_field(schema, col)?;
            let v = number(value)?;
            let (min, max) = match op {
                Operator::Eq => (Some(v), Some(v)),
                // Bounds stay inclusive: pruning only needs to be conservative.
                Operator::Gt | Operator::GtEq => (Some(v), None),
                Operator::Lt | Operator::LtEq => (None, Some(v)),
                _ => return None,
            };
            Some(FieldBound { column, min, max })
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => Some(FieldBound {
            column: numeric_field(schema, expr)?,
            min: Some(number(literal(low)?)?),
            max: Some(number(literal(high)?)?),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
