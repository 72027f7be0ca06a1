//! The session's `TimeZone` applied where PostgreSQL applies it to a
//! `timestamptz`. A table's time column holds instants tagged UTC, and
//! DataFusion reads a tagged timestamp's calendar fields (its date, hour,
//! day boundary) in its tag's zone; PostgreSQL reads them in the session's.
//! So, when the session is not in UTC, the instant is re-tagged with the
//! session's zone (the same instant) before:
//!
//! - `date_trunc` and `date_part` (and so `extract`) read it,
//!   the result tagged back to the type the plan expects;
//! - a cast to `date` or to `timestamp` (without time zone) takes its
//!   local date or wall time;
//! - an interval is added or subtracted, its days and months being
//!   calendar days and months there;
//!
//! and a `timestamp`, a `date` or a zone-less literal becoming a
//! `timestamptz` is read as the session's local time, so `time >=
//! '2023-12-31 19:00:00'` and `time >= '2024-01-01'::date` mean that time
//! in the session's zone.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, ExprSchemable, Operator, ScalarUDF};

use super::at_time_zone::Timezone;
use super::text_in::{TextTarget, arrow_text_form};

/// Functions that read a timestamptz argument's calendar fields.
/// (`to_char` reads the session's zone itself.)
const CALENDAR_FUNCTIONS: &[&str] = &["date_trunc", "date_part", super::extract::EXTRACT];

fn cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(expr), data_type))
}

/// `expr` with the session's zone applied, if it is one of the module
/// documentation's shapes and the session's zone differs from its tag.
pub(crate) fn apply(expr: Expr, schema: &DFSchema, zone: &Arc<str>) -> Result<Transformed<Expr>> {
    match expr {
        Expr::ScalarFunction(mut call)
            if CALENDAR_FUNCTIONS.contains(&call.func.name()) && retags(&call, schema, zone)? =>
        {
            let result_type = Expr::ScalarFunction(call.clone()).get_type(schema)?;
            for arg in &mut call.args {
                if let DataType::Timestamp(unit, Some(_)) = arg.get_type(schema)? {
                    let taken = std::mem::replace(arg, Expr::Literal(ScalarValue::Null, None));
                    *arg = cast(taken, DataType::Timestamp(unit, Some(zone.clone())));
                }
            }
            let call = Expr::ScalarFunction(ScalarFunction::new_udf(call.func, call.args));
            Ok(Transformed::yes(match result_type {
                DataType::Timestamp(_, Some(_)) => cast(call, result_type),
                _ => call,
            }))
        }
        // An interval's days and months are calendar days and months in the
        // session's zone: across a daylight-saving change, a day is not 24
        // hours.
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(op, Operator::Plus | Operator::Minus) =>
        {
            let (left_type, right_type) = (left.get_type(schema)?, right.get_type(schema)?);
            let retag = |side: Expr, data_type: &DataType| match data_type {
                DataType::Timestamp(unit, Some(tag)) if tag != zone => {
                    Some(cast(side, DataType::Timestamp(*unit, Some(zone.clone()))))
                }
                _ => None,
            };
            let shifted = match (&left_type, &right_type) {
                (DataType::Timestamp(..), DataType::Interval(_)) => {
                    retag((*left).clone(), &left_type).map(|l| (l, (*right).clone()))
                }
                (DataType::Interval(_), DataType::Timestamp(..)) if op == Operator::Plus => {
                    retag((*right).clone(), &right_type).map(|r| ((*left).clone(), r))
                }
                _ => None,
            };
            match shifted {
                Some((l, r)) => {
                    let result_type = Expr::BinaryExpr(BinaryExpr {
                        left: left.clone(),
                        op,
                        right: right.clone(),
                    })
                    .get_type(schema)?;
                    Ok(Transformed::yes(cast(
                        Expr::BinaryExpr(BinaryExpr::new(Box::new(l), op, Box::new(r))),
                        result_type,
                    )))
                }
                None => Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                }))),
            }
        }
        Expr::Cast(Cast { expr: inner, field }) => {
            let from = inner.get_type(schema)?;
            let to = field.data_type().clone();
            match (&from, &to) {
                // A local date of an instant.
                (DataType::Timestamp(unit, Some(tag)), DataType::Date32 | DataType::Date64)
                    if tag != zone =>
                {
                    Ok(Transformed::yes(cast(
                        cast(*inner, DataType::Timestamp(*unit, Some(zone.clone()))),
                        to,
                    )))
                }
                // The wall time of an instant.
                (DataType::Timestamp(_, Some(_)), DataType::Timestamp(_, None)) => {
                    Ok(Transformed::yes(cast(wall(*inner, zone), to)))
                }
                // A wall time (or a date's midnight) as an instant.
                (
                    DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, None),
                    DataType::Timestamp(_, Some(_)),
                ) => Ok(Transformed::yes(cast(
                    wall(
                        cast(*inner, DataType::Timestamp(TimeUnit::Microsecond, None)),
                        zone,
                    ),
                    to,
                ))),
                // A zone-less literal is read in the session's zone.
                (
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8,
                    DataType::Timestamp(unit, Some(tag)),
                ) if tag != zone => Ok(Transformed::yes(cast(
                    cast(
                        arrow_text_form(*inner, TextTarget::Timestamp),
                        DataType::Timestamp(*unit, Some(zone.clone())),
                    ),
                    to,
                ))),
                _ => Ok(Transformed::no(Expr::Cast(Cast { expr: inner, field }))),
            }
        }
        other => Ok(Transformed::no(other)),
    }
}

/// `timezone(zone, expr)`: the wall time an instant shows in the session's
/// zone, or the instant a wall time there is.
fn wall(expr: Expr, zone: &Arc<str>) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(Timezone::new())),
        vec![
            Expr::Literal(ScalarValue::Utf8(Some(zone.to_string())), None),
            expr,
        ],
    ))
}

/// Whether one of `call`'s arguments is an instant tagged other than the
/// session's zone.
fn retags(call: &ScalarFunction, schema: &DFSchema, zone: &Arc<str>) -> Result<bool> {
    for arg in &call.args {
        if let DataType::Timestamp(_, Some(tag)) = arg.get_type(schema)?
            && &tag != zone
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The session's zone, when it is not UTC (where nothing changes).
pub(crate) fn session_zone(time_zone: Option<&str>) -> Option<Arc<str>> {
    match time_zone {
        None | Some("UTC" | "utc" | "+00:00" | "Etc/UTC") => None,
        Some(zone) => Some(Arc::from(zone)),
    }
}
