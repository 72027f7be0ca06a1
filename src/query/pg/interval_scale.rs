//! `interval * number` and `interval / number`, as PostgreSQL computes
//! them (its `interval_mul` and `interval_div`, callable by those names
//! too): months and days are scaled and truncated on their own, and what
//! the truncation leaves is carried down, a month as 30 days and a day as
//! 24 hours, never up. `interval '1 month' / 3` is `10 days`, and
//! `interval '1 day' * 1.5` is `1 day 12:00:00`.
//!
//! DataFusion cannot type an interval times a number, so the statement's
//! `x * n` (or `n * x`, `x / n`) where `x` is written as an interval is
//! made a call before planning.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, IntervalMonthDayNanoBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{self, BinaryOperator, CastKind};

use super::at_time_zone::function_call;
use super::columnar::columnar;
use crate::query::error::Error;

const DAYS_PER_MONTH: f64 = 30.0;
const SECS_PER_DAY: f64 = 86_400.0;
const USECS_PER_SEC: f64 = 1_000_000.0;

/// Rounds to microsecond precision, as PostgreSQL's `TSROUND`.
fn ts_round(value: f64) -> f64 {
    (value * USECS_PER_SEC).round_ties_even() / USECS_PER_SEC
}

fn out_of_range() -> Error {
    Error::IntervalOutOfRange
}

/// An `i32` from a product, or "interval out of range".
fn to_i32(value: f64) -> Result<i32, Error> {
    if value.is_nan() || value > f64::from(i32::MAX) || value < f64::from(i32::MIN) {
        return Err(out_of_range());
    }
    Ok(value as i32)
}

/// `(months, days, micros)` scaled by `factor` (or divided by it), with
/// PostgreSQL's truncation and carrying.
pub(crate) fn scale(
    (months, days, micros): (i32, i32, i64),
    factor: f64,
    divide: bool,
) -> Result<(i32, i32, i64), Error> {
    if divide && factor == 0.0 {
        return Err(Error::DivisionByZero);
    }
    let apply = |value: f64| {
        if divide {
            value / factor
        } else {
            value * factor
        }
    };
    let result_months = to_i32(apply(f64::from(months)))?;
    let mut result_days = to_i32(apply(f64::from(days)))?;
    let month_remainder_days =
        ts_round((apply(f64::from(months)) - f64::from(result_months)) * DAYS_PER_MONTH);
    let mut sec_remainder = ts_round(
        (apply(f64::from(days)) - f64::from(result_days) + month_remainder_days
            - month_remainder_days.trunc())
            * SECS_PER_DAY,
    );
    if sec_remainder.abs() >= SECS_PER_DAY {
        let whole_days = (sec_remainder / SECS_PER_DAY).trunc();
        result_days = result_days
            .checked_add(to_i32(whole_days)?)
            .ok_or_else(out_of_range)?;
        sec_remainder -= whole_days * SECS_PER_DAY;
    }
    result_days = result_days
        .checked_add(to_i32(month_remainder_days.trunc())?)
        .ok_or_else(out_of_range)?;
    let time = (apply(micros as f64) + sec_remainder * USECS_PER_SEC).round_ties_even();
    // The range of an i64, as PostgreSQL's FLOAT8_FITS_IN_INT64 checks it.
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&time) {
        return Err(out_of_range());
    }
    Ok((result_months, result_days, time as i64))
}

/// `interval_mul` and `interval_div`.
pub(crate) fn udfs() -> [ScalarUDF; 2] {
    [false, true].map(|divide| {
        ScalarUDF::new_from_impl(IntervalScale {
            divide,
            signature: Signature::exact(
                vec![
                    DataType::Interval(IntervalUnit::MonthDayNano),
                    DataType::Float64,
                ],
                Volatility::Immutable,
            ),
        })
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalScale {
    divide: bool,
    signature: Signature,
}

impl ScalarUDFImpl for IntervalScale {
    fn name(&self) -> &str {
        if self.divide {
            "interval_div"
        } else {
            "interval_mul"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [interval, factor] = args.args.as_slice() else {
            return exec_err!("{} takes two arguments", self.name());
        };
        let scalar = matches!(
            (interval, factor),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let rows = args.number_rows;
        let intervals = interval.to_array(rows)?;
        let intervals = intervals.as_primitive::<IntervalMonthDayNanoType>();
        let factors = cast(&factor.to_array(rows)?, &DataType::Float64)?;
        let factors = factors.as_primitive::<Float64Type>();
        let mut out = IntervalMonthDayNanoBuilder::with_capacity(rows);
        for row in 0..intervals.len() {
            if intervals.is_null(row) || factors.is_null(row) {
                out.append_null();
                continue;
            }
            let value = intervals.value(row);
            let (months, days, micros) = scale(
                (value.months, value.days, value.nanoseconds / 1000),
                factors.value(row),
                self.divide,
            )?;
            let nanos = micros.checked_mul(1000).ok_or_else(out_of_range)?;
            out.append_value(IntervalMonthDayNano::new(months, days, nanos));
        }
        let array: ArrayRef = Arc::new(out.finish());
        columnar(array, scalar)
    }
}

/// Whether `expr` is written as an interval: a literal or a cast to one.
fn written_as_interval(expr: &ast::Expr) -> bool {
    match expr {
        ast::Expr::Interval(_) => true,
        ast::Expr::Cast {
            data_type: ast::DataType::Interval { .. },
            kind: CastKind::Cast | CastKind::DoubleColon,
            ..
        } => true,
        ast::Expr::TypedString(typed) => matches!(typed.data_type, ast::DataType::Interval { .. }),
        ast::Expr::Nested(inner) => written_as_interval(inner),
        _ => false,
    }
}

/// `expr` as an `interval_mul`/`interval_div` call if it scales an interval
/// that is written as one.
pub(crate) fn rewrite(expr: &mut ast::Expr) {
    let ast::Expr::BinaryOp { left, op, right } = expr else {
        return;
    };
    let call = match op {
        BinaryOperator::Multiply if written_as_interval(left) => Some(("interval_mul", false)),
        BinaryOperator::Multiply if written_as_interval(right) => Some(("interval_mul", true)),
        BinaryOperator::Divide if written_as_interval(left) => Some(("interval_div", false)),
        _ => None,
    };
    let Some((name, swapped)) = call else {
        return;
    };
    let null = || Box::new(ast::Expr::value(ast::Value::Null));
    let (left, right) = (
        std::mem::replace(left, null()),
        std::mem::replace(right, null()),
    );
    let (interval, factor) = if swapped {
        (right, left)
    } else {
        (left, right)
    };
    *expr = function_call(name, vec![*interval, *factor]);
}

#[cfg(test)]
mod tests {
    use super::scale;

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn fractions_carry_down_as_postgres_carries_them() {
        assert_eq!(scale((1, 0, 0), 2.0, false).unwrap(), (2, 0, 0));
        assert_eq!(scale((0, 1, 0), 1.5, false).unwrap(), (0, 1, 12 * HOUR));
        assert_eq!(scale((1, 0, 0), 3.0, true).unwrap(), (0, 10, 0));
        assert_eq!(scale((0, 1, 0), 3.0, true).unwrap(), (0, 0, 8 * HOUR));
        assert_eq!(scale((1, 0, 0), 0.5, false).unwrap(), (0, 15, 0));
        assert_eq!(scale((0, 0, HOUR), -2.0, false).unwrap(), (0, 0, -2 * HOUR));
        assert!(scale((0, 1, 0), 0.0, true).is_err());
        assert!(scale((i32::MAX, 0, 0), 2.0, false).is_err());
    }
}
