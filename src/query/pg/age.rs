//! `age(a, b)` and `age(a)`: the difference of two timestamps as PostgreSQL
//! computes it, field by field (years, months, days, then the time), each
//! negative field borrowing from the next larger one, a borrowed month
//! being as long as the month of the earlier timestamp. `age(a)` is
//! `age(today at midnight, a)`. A `timestamptz` is read as its wall time in
//! the session's time zone.

use std::sync::Arc;

use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, IntervalMonthDayNanoBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::at_time_zone::session_zone;
use super::columnar::columnar;
use crate::pgtype;
use crate::query::error::Error;

/// The function.
pub(crate) fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Age {
        signature: Signature::user_defined(Volatility::Stable),
    })
}

/// A timestamp's fields, as PostgreSQL's `struct pg_tm` holds them (an
/// astronomical year).
#[derive(Debug, Clone, Copy)]
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    usec: i64,
}

fn fields(micros: i64) -> Option<Fields> {
    let t: NaiveDateTime = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
    Some(Fields {
        year: i64::from(t.year()),
        month: i64::from(t.month()),
        day: i64::from(t.day()),
        hour: i64::from(t.hour()),
        min: i64::from(t.minute()),
        sec: i64::from(t.second()),
        usec: i64::from(t.nanosecond() / 1000),
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `a - b` as PostgreSQL's `timestamp_age` computes it, both wall times in
/// microseconds: (months, days, microseconds).
fn age(a: i64, b: i64) -> Result<(i32, i32, i64), Error> {
    let (Some(f1), Some(f2)) = (fields(a), fields(b)) else {
        return Err(Error::DatetimeOutOfRange);
    };
    let mut d = Fields {
        year: f1.year - f2.year,
        month: f1.month - f2.month,
        day: f1.day - f2.day,
        hour: f1.hour - f2.hour,
        min: f1.min - f2.min,
        sec: f1.sec - f2.sec,
        usec: f1.usec - f2.usec,
    };
    let flip = a < b;
    let negate = |d: &mut Fields| {
        for v in [
            &mut d.year,
            &mut d.month,
            &mut d.day,
            &mut d.hour,
            &mut d.min,
            &mut d.sec,
            &mut d.usec,
        ] {
            *v = -*v;
        }
    };
    if flip {
        negate(&mut d);
    }
    while d.usec < 0 {
        d.usec += 1_000_000;
        d.sec -= 1;
    }
    while d.sec < 0 {
        d.sec += 60;
        d.min -= 1;
    }
    while d.min < 0 {
        d.min += 60;
        d.hour -= 1;
    }
    while d.hour < 0 {
        d.hour += 24;
        d.day -= 1;
    }
    // The month borrowed from is the earlier timestamp's.
    let earlier = if flip { f1 } else { f2 };
    while d.day < 0 {
        d.day += days_in_month(earlier.year, earlier.month);
        d.month -= 1;
    }
    while d.month < 0 {
        d.month += 12;
        d.year -= 1;
    }
    if flip {
        negate(&mut d);
    }
    let months = d.year * 12 + d.month;
    let time = ((d.hour * 60 + d.min) * 60 + d.sec) * 1_000_000 + d.usec;
    Ok((
        i32::try_from(months).map_err(|_| Error::IntervalOutOfRange)?,
        i32::try_from(d.day).map_err(|_| Error::IntervalOutOfRange)?,
        time,
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Age {
    signature: Signature,
}

/// What `age` reads an argument of type `t` as, or `None`.
fn timestamp_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Timestamp(_, Some(_))
        | DataType::Utf8
        | DataType::Utf8View
        | DataType::LargeUtf8
        | DataType::Null => Some(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        )),
        DataType::Timestamp(_, None) | DataType::Date32 | DataType::Date64 => {
            Some(DataType::Timestamp(TimeUnit::Microsecond, None))
        }
        _ => None,
    }
}

impl ScalarUDFImpl for Age {
    fn name(&self) -> &str {
        "age"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let types: Option<Vec<DataType>> = arg_types.iter().map(timestamp_type).collect();
        match types {
            Some(mut types) if matches!(types.len(), 1 | 2) => {
                // A timestamp with a timestamptz: both timestamptz, as in
                // PostgreSQL.
                if types
                    .iter()
                    .any(|t| matches!(t, DataType::Timestamp(_, Some(_))))
                {
                    let zoned = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
                    types.iter_mut().for_each(|t| *t = zoned.clone());
                }
                Ok(types)
            }
            _ => {
                let names: Vec<String> = arg_types.iter().map(pgtype::arrow_type_name).collect();
                Err(Error::UndefinedFunction {
                    message: format!("function age({}) does not exist", names.join(", ")),
                }
                .into())
            }
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone: Tz = session_zone(&args)?;
        let rows = args.number_rows.max(1);
        let is_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let mut walls = Vec::with_capacity(2);
        for arg in &args.args {
            let array = arg.to_array(rows)?;
            let zoned = matches!(array.data_type(), DataType::Timestamp(_, Some(_)));
            let micros = cast(&array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let micros = micros.as_primitive::<TimestampMicrosecondType>();
            let wall: Vec<Option<i64>> = micros
                .iter()
                .map(|v| {
                    v.map(|v| {
                        if zoned {
                            pgtype::wall_micros(v, &zone)
                        } else {
                            v
                        }
                    })
                })
                .collect();
            walls.push(wall);
        }
        if walls.len() == 1 {
            // Today's midnight, in the session's zone.
            let now = chrono::Utc::now().timestamp_micros();
            let today = pgtype::wall_micros(now, &zone).div_euclid(86_400_000_000) * 86_400_000_000;
            walls.insert(0, vec![Some(today); rows]);
        }
        let [first, second] = walls.as_slice() else {
            return exec_err!("age takes one or two timestamps");
        };
        let mut out = IntervalMonthDayNanoBuilder::with_capacity(rows);
        for (a, b) in first.iter().zip(second) {
            match (a, b) {
                (Some(a), Some(b)) => {
                    let (months, days, micros) = age(*a, *b)?;
                    let nanos = micros.checked_mul(1000).ok_or(Error::IntervalOutOfRange)?;
                    out.append_value(IntervalMonthDayNano::new(months, days, nanos));
                }
                _ => out.append_null(),
            }
        }
        let array: ArrayRef = Arc::new(out.finish());
        columnar(array, is_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_micros()
    }

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn ages_are_postgres_field_differences() {
        assert_eq!(
            age(ts("2023-03-01 00:00:00"), ts("2022-01-31 00:00:00")).unwrap(),
            (13, 1, 0)
        );
        assert_eq!(
            age(ts("2022-01-31 00:00:00"), ts("2023-03-01 00:00:00")).unwrap(),
            (-13, -1, 0)
        );
        assert_eq!(
            age(ts("2001-04-10 00:00:00"), ts("1957-06-13 00:00:00")).unwrap(),
            (43 * 12 + 9, 27, 0)
        );
        assert_eq!(
            age(ts("2023-01-01 01:00:00"), ts("2022-12-31 23:00:00")).unwrap(),
            (0, 0, 2 * HOUR)
        );
    }
}
