//! `make_interval([years [, months [, weeks [, days [, hours [, mins [,
//! secs]]]]]]])`, each argument 0 when left out, in positional or named
//! notation (`make_interval(mins => 5)`), as PostgreSQL 15 computes it:
//! months and days wrap around as its 32-bit arithmetic does, and seconds
//! are rounded to microseconds. Infinite or NaN seconds are refused
//! (22008), and so is a time Arrow's nanoseconds cannot hold (PostgreSQL's
//! reaches 2.5 billion hours, Arrow's 2.5 million): an error, never another
//! value.
//!
//! DataFusion reads named arguments only as a prefix of the parameters, so
//! [`positional_arguments`] first writes each call's arguments out in full.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, IntervalMonthDayNanoBuilder};
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int32Type, IntervalMonthDayNano, IntervalUnit,
};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments,
    Statement, Value, VisitMut, VisitorMut,
};

use super::columnar::{columnar, no_such_function, unknown};
use crate::query::error::Error;

/// The parameters, in order; the last is `double precision`, the others
/// `integer`.
const PARAMETERS: [&str; 7] = ["years", "months", "weeks", "days", "hours", "mins", "secs"];

const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_MINUTE: i64 = 60_000_000;

/// The interval PostgreSQL 15's `make_interval` makes, refused when its
/// seconds are not finite or its time does not fit Arrow's nanoseconds.
fn make_interval(fields: [i32; 6], secs: f64) -> Result<IntervalMonthDayNano, Error> {
    let [years, months, weeks, days, hours, mins] = fields;
    if !secs.is_finite() {
        return Err(Error::IntervalOutOfRange);
    }
    let months = years.wrapping_mul(12).wrapping_add(months);
    let days = weeks.wrapping_mul(7).wrapping_add(days);
    // C's conversion of a double outside int64's range gives its minimum
    // on the machines PostgreSQL runs on.
    let rounded = (secs * 1e6).round_ties_even();
    let secs = if rounded >= -(2f64.powi(63)) && rounded < 2f64.powi(63) {
        rounded as i64
    } else {
        i64::MIN
    };
    let micros = i64::from(hours)
        .wrapping_mul(MICROS_PER_HOUR)
        .wrapping_add(i64::from(mins).wrapping_mul(MICROS_PER_MINUTE))
        .wrapping_add(secs);
    let nanos = micros.checked_mul(1000).ok_or(Error::IntervalOutOfRange)?;
    Ok(IntervalMonthDayNano::new(months, days, nanos))
}

pub(crate) fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(MakeInterval {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MakeInterval {
    signature: Signature,
}

impl ScalarUDFImpl for MakeInterval {
    fn name(&self) -> &str {
        "make_interval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let fits = arg_types.len() <= PARAMETERS.len()
            && arg_types.iter().enumerate().all(|(i, t)| match i {
                6 => t.is_numeric() || unknown(t),
                _ => t.is_integer() || unknown(t),
            });
        if !fits {
            return Err(no_such_function(self.name(), arg_types));
        }
        Ok((0..arg_types.len())
            .map(|i| match i {
                6 => DataType::Float64,
                _ => DataType::Int32,
            })
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        let is_scalar = (args.args.iter()).all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays: Vec<ArrayRef> = (args.args.iter())
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let mut out = IntervalMonthDayNanoBuilder::with_capacity(rows);
        'rows: for row in 0..rows {
            let mut fields = [0; 6];
            let mut secs = 0.0;
            for (i, array) in arrays.iter().enumerate() {
                if array.is_null(row) {
                    out.append_null();
                    continue 'rows;
                }
                match (i, fields.get_mut(i)) {
                    (_, Some(field)) => *field = array.as_primitive::<Int32Type>().value(row),
                    _ => secs = array.as_primitive::<Float64Type>().value(row),
                }
            }
            out.append_value(make_interval(fields, secs)?);
        }
        columnar(Arc::new(out.finish()), is_scalar)
    }
}

/// Writes every `make_interval` call with named arguments out with all of
/// them in order, the ones left out as 0. A call naming an unknown
/// parameter is left as written, for the planner to refuse; one naming a
/// parameter twice is refused here, as PostgreSQL's parser refuses it.
pub(crate) fn positional_arguments(statement: &mut Statement) -> Result<(), Error> {
    match statement.visit(&mut Positional) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Positional;

impl VisitorMut for Positional {
    type Break = Error;

    fn post_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<Error> {
        let SqlExpr::Function(function) = expr else {
            return ControlFlow::Continue(());
        };
        let is_make_interval = (function.name.0.last())
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case("make_interval"));
        if let (true, FunctionArguments::List(list)) = (is_make_interval, &mut function.args) {
            match in_order(list) {
                Ok(Some(args)) => list.args = args,
                Ok(None) => {}
                Err(error) => return ControlFlow::Break(error),
            }
        }
        ControlFlow::Continue(())
    }
}

/// The arguments of `list` by position, 0 where none is given; `None` when
/// no argument is named (nothing to do) or a name is unknown.
fn in_order(list: &FunctionArgumentList) -> Result<Option<Vec<FunctionArg>>, Error> {
    if !(list.args.iter()).any(|a| matches!(a, FunctionArg::Named { .. })) {
        return Ok(None);
    }
    let mut slots: [Option<FunctionArgExpr>; 7] = Default::default();
    for (position, arg) in list.args.iter().enumerate() {
        let (slot, value) = match arg {
            FunctionArg::Unnamed(value) => (position, value),
            FunctionArg::Named { name, arg, .. } => {
                let name = match name.quote_style {
                    Some(_) => name.value.clone(),
                    None => name.value.to_lowercase(),
                };
                let Some(slot) = PARAMETERS.iter().position(|p| *p == name) else {
                    return Ok(None);
                };
                if slots[slot].is_some() {
                    return Err(Error::SyntaxError {
                        message: format!("argument name \"{name}\" used more than once"),
                    });
                }
                (slot, arg)
            }
            FunctionArg::ExprNamed { .. } => return Ok(None),
        };
        let Some(free) = slots.get_mut(slot) else {
            return Ok(None);
        };
        *free = Some(value.clone());
    }
    let zero = |i: usize| {
        let text = if i == 6 { "0.0" } else { "0" };
        FunctionArgExpr::Expr(SqlExpr::value(Value::Number(text.into(), false)))
    };
    Ok(Some(
        (slots.into_iter().enumerate())
            .map(|(i, slot)| FunctionArg::Unnamed(slot.unwrap_or_else(|| zero(i))))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(months: i32, days: i32, micros: i64) -> IntervalMonthDayNano {
        IntervalMonthDayNano::new(months, days, micros * 1000)
    }

    /// Each expected value as PostgreSQL 15 prints it, beside.
    #[test]
    fn values_as_postgres_computes_them() {
        // 1 year 2 mons 25 days 05:06:07.5
        assert_eq!(
            make_interval([1, 2, 3, 4, 5, 6], 7.5).unwrap(),
            interval(
                14,
                25,
                5 * MICROS_PER_HOUR + 6 * MICROS_PER_MINUTE + 7_500_000
            )
        );
        // 00:00:01.234568
        assert_eq!(
            make_interval([0; 6], 1.2345678).unwrap(),
            interval(0, 0, 1_234_568)
        );
        // -1 years: PostgreSQL 15's months wrap around.
        assert_eq!(
            make_interval([i32::MAX, 0, 0, 0, 0, 0], 0.0).unwrap(),
            interval(-12, 0, 0)
        );
        // 2147483641 days
        assert_eq!(
            make_interval([0, 0, i32::MAX, 0, 0, 0], 0.0).unwrap(),
            interval(0, 2_147_483_641, 0)
        );
    }

    #[test]
    fn what_arrow_cannot_hold_is_refused() {
        assert!(make_interval([0; 6], f64::INFINITY).is_err());
        assert!(make_interval([0; 6], f64::NAN).is_err());
        // PostgreSQL: -2562047788:00:54.775808, beyond Arrow's nanoseconds.
        assert!(make_interval([0; 6], 1e15).is_err());
        assert!(make_interval([0, 0, 0, 0, i32::MAX, 0], 0.0).is_err());
    }
}
