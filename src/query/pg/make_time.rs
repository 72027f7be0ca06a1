//! `make_date(year, month, day)`, `make_time(hour, min, sec)`,
//! `make_timestamp(year, month, day, hour,
//! min, sec)` and `make_timestamptz(..., [zone])`: a date or timestamp from
//! its fields, checked as PostgreSQL checks them (22008, in its words).
//! A negative year is BC, as in PostgreSQL 15. `make_timestamptz` reads the fields as a
//! wall time in `zone`, or in the session's time zone without one.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int32Type, TimeUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::at_time_zone::{ZoneCache, session_zone};
use super::columnar::columnar;
use crate::pgtype;
use crate::query::error::Error;

const MICROS_PER_SEC: f64 = 1_000_000.0;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// 294277-01-01, the day after PostgreSQL's last timestamp, in days since
/// 1970-01-01.
const END_DAYS: i32 = 106_762_940;

fn overflow(message: String) -> Error {
    Error::DatetimeFieldOverflow { message }
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i32, month: i32) -> i32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// PostgreSQL's `ValidateDate` of a year (astronomical once `bc` is
/// applied), month and day: the year as it holds it, or `Err` with the
/// year it had reached (the error message prints that one).
fn validate_date(year: i32, month: i32, day: i32, bc: bool) -> Result<i32, i32> {
    if year <= 0 {
        return Err(year);
    }
    let year = if bc { -(year - 1) } else { year };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(year);
    }
    if day > days_in_month(year, month) {
        return Err(year);
    }
    Ok(year)
}

/// Days since 1970-01-01 of a valid date (astronomical year), in the
/// proleptic Gregorian calendar (PostgreSQL's), for any year it holds.
fn epoch_days(year: i32, month: i32, day: i32) -> Option<i32> {
    let (year, month, day) = (i64::from(year), i64::from(month), i64::from(day));
    // Years counted from March, so that the leap day ends a year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    i32::try_from(era * 146_097 + day_of_era - 719_468).ok()
}

/// `make_date`'s value, in days since 1970-01-01.
fn make_date(year: i32, month: i32, day: i32) -> Result<i32, Error> {
    let (bc, y) = if year < 0 {
        (true, -year)
    } else {
        (false, year)
    };
    let astronomical = validate_date(y, month, day, bc).map_err(|reached| {
        overflow(format!(
            "date field value out of range: {reached}-{month:02}-{day:02}"
        ))
    })?;
    // PostgreSQL's dates end in 5874897 AD.
    if !(-4713..=5_874_897).contains(&astronomical) {
        return Err(overflow(format!(
            "date out of range: {year}-{month:02}-{day:02}"
        )));
    }
    epoch_days(astronomical, month, day)
        .ok_or_else(|| overflow(format!("date out of range: {year}-{month:02}-{day:02}")))
}

/// C's `%g` of a seconds value, as PostgreSQL's messages print it (`%02g`).
fn seconds_text(sec: f64) -> String {
    if sec.fract() == 0.0 && sec.abs() < 1e6 {
        format!("{sec:02}")
    } else {
        let text = format!("{sec:.6}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        // Six significant digits.
        let digits = text.chars().filter(char::is_ascii_digit).count();
        if digits > 6 {
            let int_digits = text
                .split('.')
                .next()
                .map_or(0, |i| i.trim_start_matches('-').len());
            format!("{sec:.*}", 6usize.saturating_sub(int_digits))
        } else {
            text.to_owned()
        }
    }
}

/// PostgreSQL's `float_time_overflows`.
fn time_overflows(hour: i32, min: i32, sec: f64) -> bool {
    if !(0..=24).contains(&hour) || !(0..60).contains(&min) || sec.is_nan() {
        return true;
    }
    let micros = (sec * MICROS_PER_SEC).round_ties_even();
    if !(0.0..=60.0 * MICROS_PER_SEC).contains(&micros) {
        return true;
    }
    let total = (f64::from(hour) * 60.0 + f64::from(min)) * 60.0 * MICROS_PER_SEC + micros;
    total > MICROS_PER_DAY as f64
}

/// `make_timestamp`'s value: microseconds since 1970-01-01 00:00.
fn make_timestamp(
    year: i32,
    month: i32,
    day: i32,
    hour: i32,
    min: i32,
    sec: f64,
) -> Result<i64, Error> {
    // PostgreSQL 15 reads a negative year as BC here too.
    let (bc, y) = if year < 0 {
        (true, -year)
    } else {
        (false, year)
    };
    let astronomical = validate_date(y, month, day, bc).map_err(|_| {
        overflow(format!(
            "date field value out of range: {year}-{month:02}-{day:02}"
        ))
    })?;
    if !(-4713..=5_874_897).contains(&astronomical) {
        return Err(overflow(format!(
            "date out of range: {year}-{month:02}-{day:02}"
        )));
    }
    if time_overflows(hour, min, sec) {
        return Err(overflow(format!(
            "time field value out of range: {hour}:{min:02}:{}",
            seconds_text(sec)
        )));
    }
    let out_of_range = || {
        overflow(format!(
            "timestamp out of range: {year}-{month:02}-{day:02} {hour}:{min:02}:{}",
            seconds_text(sec)
        ))
    };
    let days = epoch_days(astronomical, month, day).ok_or_else(out_of_range)?;
    let time = (i64::from(hour) * 60 + i64::from(min)) * 60_000_000
        + (sec * MICROS_PER_SEC).round_ties_even() as i64;
    let micros = i128::from(days) * i128::from(MICROS_PER_DAY) + i128::from(time);
    // PostgreSQL's last timestamp is 294276-12-31 23:59:59.999999; Arrow's
    // microseconds end a little earlier, in 294247.
    if micros >= i128::from(END_DAYS) * i128::from(MICROS_PER_DAY) {
        return Err(out_of_range());
    }
    i64::try_from(micros).map_err(|_| out_of_range())
}

/// Which function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Make {
    Date,
    Time,
    Timestamp,
    Timestamptz,
}

/// The four functions.
pub(crate) fn udfs() -> [ScalarUDF; 4] {
    [Make::Date, Make::Time, Make::Timestamp, Make::Timestamptz].map(|make| {
        ScalarUDF::new_from_impl(MakeUdf {
            make,
            signature: Signature::user_defined(Volatility::Stable),
        })
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MakeUdf {
    make: Make,
    signature: Signature,
}

/// An integer, or a literal of unknown type (text), which PostgreSQL reads
/// as the parameter's type.
fn integer_like(t: &DataType) -> bool {
    t.is_integer() || t.is_null() || text_like(t)
}

fn text_like(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

impl ScalarUDFImpl for MakeUdf {
    fn name(&self) -> &str {
        match self.make {
            Make::Date => "make_date",
            Make::Time => "make_time",
            Make::Timestamp => "make_timestamp",
            Make::Timestamptz => "make_timestamptz",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let arity_ok = match self.make {
            Make::Date | Make::Time => arg_types.len() == 3,
            Make::Timestamp => arg_types.len() == 6,
            Make::Timestamptz => matches!(arg_types.len(), 6 | 7),
        };
        // `make_time`'s seconds are its third argument.
        let seconds = if self.make == Make::Time { 2 } else { 5 };
        let types_ok = arg_types.iter().enumerate().all(|(i, t)| match i {
            i if i == seconds => t.is_numeric() || t.is_null() || text_like(t),
            0..=4 => integer_like(t),
            5 => t.is_numeric() || t.is_null() || text_like(t),
            _ => text_like(t) || t.is_null(),
        });
        if !(arity_ok && types_ok) {
            let names: Vec<String> = arg_types.iter().map(pgtype::arrow_type_name).collect();
            return Err(Error::UndefinedFunction {
                message: format!(
                    "function {}({}) does not exist",
                    self.name(),
                    names.join(", ")
                ),
            }
            .into());
        }
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, _)| match i {
                i if i == seconds => DataType::Float64,
                0..=4 => DataType::Int32,
                5 => DataType::Float64,
                _ => DataType::Utf8,
            })
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.make {
            Make::Date => DataType::Date32,
            Make::Time => DataType::Time64(TimeUnit::Microsecond),
            Make::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Make::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let default_zone = session_zone(&args)?;
        let rows = args.number_rows.max(1);
        let is_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let ints = arrays
            .iter()
            .take(5.min(arrays.len()))
            .map(|a| cast(a, &DataType::Int32))
            .collect::<Result<Vec<_>, _>>()?;
        let ints: Vec<_> = ints.iter().map(|a| a.as_primitive::<Int32Type>()).collect();
        let int = |i: usize, row: usize| -> Option<i32> {
            let a = ints.get(i)?;
            (!a.is_null(row)).then(|| a.value(row))
        };
        if self.make == Make::Time {
            let Some(secs) = arrays.get(2) else {
                return exec_err!("make_time takes three fields");
            };
            let secs = cast(secs, &DataType::Float64)?;
            let secs = secs.as_primitive::<Float64Type>();
            let mut out = Time64MicrosecondBuilder::with_capacity(rows);
            for row in 0..rows {
                let sec = (!secs.is_null(row)).then(|| secs.value(row));
                let (Some(h), Some(m), Some(sec)) = (int(0, row), int(1, row), sec) else {
                    out.append_null();
                    continue;
                };
                if time_overflows(h, m, sec) {
                    return Err(overflow(format!(
                        "time field value out of range: {h}:{m:02}:{}",
                        seconds_text(sec)
                    ))
                    .into());
                }
                let micros = (i64::from(h) * 60 + i64::from(m)) * 60_000_000
                    + (sec * MICROS_PER_SEC).round_ties_even() as i64;
                out.append_value(micros);
            }
            let array: ArrayRef = Arc::new(out.finish());
            return columnar(array, is_scalar);
        }
        if self.make == Make::Date {
            let mut out = Date32Builder::with_capacity(rows);
            for row in 0..rows {
                match (int(0, row), int(1, row), int(2, row)) {
                    (Some(y), Some(m), Some(d)) => out.append_value(make_date(y, m, d)?),
                    _ => out.append_null(),
                }
            }
            let array: ArrayRef = Arc::new(out.finish());
            return columnar(array, is_scalar);
        }
        let Some(secs) = arrays.get(5) else {
            return exec_err!("{} takes six fields", self.name());
        };
        let secs = cast(secs, &DataType::Float64)?;
        let secs = secs.as_primitive::<Float64Type>();
        let zones = arrays
            .get(6)
            .map(|z| cast(z, &DataType::Utf8))
            .transpose()?;
        let zones = zones.as_ref().map(|z| z.as_string::<i32>());
        let mut zones_seen = ZoneCache::default();
        let mut out = TimestampMicrosecondBuilder::with_capacity(rows);
        for row in 0..rows {
            let fields = (
                int(0, row),
                int(1, row),
                int(2, row),
                int(3, row),
                int(4, row),
                (!secs.is_null(row)).then(|| secs.value(row)),
            );
            let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = fields else {
                out.append_null();
                continue;
            };
            let wall = make_timestamp(y, mo, d, h, mi, s)?;
            let value = match (self.make, zones) {
                (Make::Timestamp, _) => wall,
                (_, None) => pgtype::instant_of_wall(wall, &default_zone),
                (_, Some(zones)) => {
                    if zones.is_null(row) {
                        out.append_null();
                        continue;
                    }
                    let tz = zones_seen.get(zones.value(row))?;
                    pgtype::instant_of_wall(wall, &tz)
                }
            };
            out.append_value(value);
        }
        let array = out.finish();
        let array: ArrayRef = if self.make == Make::Timestamptz {
            Arc::new(array.with_timezone("UTC"))
        } else {
            Arc::new(array)
        };
        columnar(array, is_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_as_postgres_checks_them() {
        assert_eq!(make_date(1970, 1, 2).unwrap(), 1);
        assert_eq!(
            make_date(2023, 2, 30).unwrap_err().to_string(),
            "date field value out of range: 2023-02-30"
        );
        assert_eq!(
            make_date(0, 2, 3).unwrap_err().to_string(),
            "date field value out of range: 0-02-03"
        );
        assert_eq!(
            make_date(-1, 1, 1).unwrap(),
            make_date(1, 1, 1).unwrap() - 366
        );
        assert_eq!(make_timestamp(1970, 1, 1, 0, 0, 1.5).unwrap(), 1_500_000);
        assert_eq!(
            make_timestamp(2023, 1, 1, 25, 0, 0.0)
                .unwrap_err()
                .to_string(),
            "time field value out of range: 25:00:00"
        );
        assert_eq!(
            make_timestamp(2023, 1, 1, 1, 2, 60.5)
                .unwrap_err()
                .to_string(),
            "time field value out of range: 1:02:60.5"
        );
        assert!(make_timestamp(2023, 1, 1, 24, 0, 0.0).is_ok());
        assert!(make_timestamp(294_277, 1, 1, 0, 0, 0.0).is_err());
        assert!(make_timestamp(i32::MAX, 1, 1, 0, 0, 0.0).is_err());
        assert_eq!(epoch_days(294_277, 1, 1), Some(END_DAYS));
        assert_eq!(epoch_days(2000, 3, 1), Some(11_017));
        assert_eq!(epoch_days(0, 12, 31), Some(-719_163));
    }
}
