//! `justify_hours`, `justify_days` and `justify_interval`: an interval with
//! whole days of its time carried into days, and whole 30-day months of
//! its days into months, signs made to agree, as PostgreSQL computes them.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, IntervalMonthDayNanoBuilder};
use datafusion::arrow::datatypes::{
    DataType, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::columnar::columnar;
use crate::query::error::Error;

const DAYS_PER_MONTH: i32 = 30;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// An interval as PostgreSQL holds it: months, days, microseconds.
type Parts = (i32, i32, i64);

fn overflow() -> Error {
    Error::IntervalOutOfRange
}

/// Whole days of `time` carried into `days`.
fn carry_days(days: i32, time: i64) -> Result<(i32, i64), Error> {
    let whole = time / MICROS_PER_DAY;
    let days = days
        .checked_add(i32::try_from(whole).map_err(|_| overflow())?)
        .ok_or_else(overflow)?;
    Ok((days, time - whole * MICROS_PER_DAY))
}

/// Whole 30-day months of `days` carried into `months`.
fn carry_months(months: i32, days: i32) -> Result<(i32, i32), Error> {
    let whole = days / DAYS_PER_MONTH;
    let months = months.checked_add(whole).ok_or_else(overflow)?;
    Ok((months, days - whole * DAYS_PER_MONTH))
}

/// `(high, low)` with one unit of `high` moved into `low` (`per` of them)
/// where their signs disagree.
fn agree<L>(high: i32, low: L, per: L) -> (i32, L)
where
    L: Copy + PartialOrd + Default + std::ops::Add<Output = L> + std::ops::Sub<Output = L>,
{
    let zero = L::default();
    if high > 0 && low < zero {
        (high - 1, low + per)
    } else if high < 0 && low > zero {
        (high + 1, low - per)
    } else {
        (high, low)
    }
}

fn justify_hours((months, days, micros): Parts) -> Result<Parts, Error> {
    let (days, time) = carry_days(days, micros)?;
    let (days, time) = agree(days, time, MICROS_PER_DAY);
    Ok((months, days, time))
}

fn justify_days((months, days, micros): Parts) -> Result<Parts, Error> {
    let (months, days) = carry_months(months, days)?;
    let (months, days) = agree(months, days, DAYS_PER_MONTH);
    Ok((months, days, micros))
}

/// Both, with every part given one sign.
fn justify_interval((months, days, time): Parts) -> Result<Parts, Error> {
    // Days first, when that keeps the carry of the time from overflowing.
    let (months, days) = if (days > 0 && time > 0) || (days < 0 && time < 0) {
        carry_months(months, days)?
    } else {
        (months, days)
    };
    let (days, time) = carry_days(days, time)?;
    let (mut months, mut days) = carry_months(months, days)?;
    // A zero day count takes the time's sign for the months' check.
    if months > 0 && (days < 0 || (days == 0 && time < 0)) {
        days += DAYS_PER_MONTH;
        months -= 1;
    } else if months < 0 && (days > 0 || (days == 0 && time > 0)) {
        days -= DAYS_PER_MONTH;
        months += 1;
    }
    let (days, time) = agree(days, time, MICROS_PER_DAY);
    Ok((months, days, time))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Justify {
    Hours,
    Days,
    Interval,
}

/// The three functions.
pub(crate) fn udfs() -> [ScalarUDF; 3] {
    [Justify::Hours, Justify::Days, Justify::Interval].map(|justify| {
        ScalarUDF::new_from_impl(JustifyUdf {
            justify,
            signature: Signature::exact(
                vec![DataType::Interval(IntervalUnit::MonthDayNano)],
                Volatility::Immutable,
            ),
        })
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JustifyUdf {
    justify: Justify,
    signature: Signature,
}

impl ScalarUDFImpl for JustifyUdf {
    fn name(&self) -> &str {
        match self.justify {
            Justify::Hours => "justify_hours",
            Justify::Days => "justify_days",
            Justify::Interval => "justify_interval",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let justify = match self.justify {
            Justify::Hours => justify_hours,
            Justify::Days => justify_days,
            Justify::Interval => justify_interval,
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let intervals = value.to_array(args.number_rows)?;
        let mut justified = IntervalMonthDayNanoBuilder::with_capacity(intervals.len());
        for value in intervals.as_primitive::<IntervalMonthDayNanoType>() {
            match value {
                None => justified.append_null(),
                Some(v) => {
                    let (months, days, micros) = justify((v.months, v.days, v.nanoseconds / 1000))?;
                    justified.append_value(IntervalMonthDayNano::new(months, days, micros * 1000));
                }
            }
        }
        let array: ArrayRef = Arc::new(justified.finish());
        columnar(array, is_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn intervals_justify_as_postgres_justifies_them() {
        assert_eq!(justify_days((0, 35, 0)).unwrap(), (1, 5, 0));
        assert_eq!(justify_hours((0, 0, 27 * HOUR)).unwrap(), (0, 1, 3 * HOUR));
        assert_eq!(justify_hours((0, 1, -HOUR)).unwrap(), (0, 0, 23 * HOUR));
        assert_eq!(justify_days((1, -1, 0)).unwrap(), (0, 29, 0));
        assert_eq!(
            justify_interval((1, -1, -HOUR)).unwrap(),
            (0, 28, 23 * HOUR)
        );
    }
}
