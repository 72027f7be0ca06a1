//! `pg_text`: a value cast to text as PostgreSQL prints it. Arrow's casts
//! print floats (`2.0`, `1e20`, `inf`), timestamps (RFC 3339), intervals
//! (`4 days 0 hours 0 mins 0.000000000 secs`) and decimals otherwise; the
//! [`semantics`](super::semantics) rule sends casts of those types to text
//! here, where [`crate::pgtype`]'s output functions print them, the same
//! ones the protocol uses for results. A `timestamptz` is printed in the
//! session's time zone. Arrays print as `array_out` prints them (`{1,2}`;
//! Arrow's cast gives `[1, 2]`).

use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, DurationMicrosecondType, Float32Type, Float64Type,
    IntervalMonthDayNanoType, IntervalUnit, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::pgtype;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Whether values of `data_type` cast to text print differently in Arrow
/// than in PostgreSQL, so that the cast goes through [`PgText`].
pub(crate) fn prints_differently(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Timestamp(..)
            | DataType::Interval(_)
            | DataType::Duration(_)
            | DataType::List(_)
            | DataType::LargeList(_)
    )
}

/// The function; see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct PgText {
    signature: Signature,
}

impl PgText {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for PgText {
    fn name(&self) -> &str {
        "pg_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let time_zone = args
            .config_options
            .execution
            .time_zone
            .as_deref()
            .and_then(|name| name.parse::<Tz>().ok());
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("pg_text takes one argument");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.into_array(1)?;
        let text = print(&array, time_zone.as_ref())?;
        Ok(if is_scalar {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&text, 0)?)
        } else {
            ColumnarValue::Array(text)
        })
    }
}

/// Every value of `array` printed as PostgreSQL does.
pub(crate) fn print(array: &ArrayRef, time_zone: Option<&Tz>) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    match array.data_type() {
        DataType::Float64 => {
            let values = array.as_primitive::<Float64Type>();
            for v in values.iter() {
                out.append_option(v.map(pgtype::float8_out));
            }
        }
        DataType::Float32 => {
            let values = array.as_primitive::<Float32Type>();
            for v in values.iter() {
                out.append_option(v.map(pgtype::float4_out));
            }
        }
        DataType::Decimal128(_, scale) => {
            let values = array.as_primitive::<Decimal128Type>();
            for v in values.iter() {
                out.append_option(v.map(|v| pgtype::numeric_out(v, *scale)));
            }
        }
        DataType::Timestamp(_, zone) => {
            let zoned = zone.is_some();
            let micros = cast(
                array,
                &DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
            )?;
            for v in micros.as_primitive::<TimestampMicrosecondType>().iter() {
                out.append_option(v.map(|v| {
                    if zoned {
                        pgtype::timestamptz_out(v, time_zone)
                    } else {
                        pgtype::timestamp_out(v)
                    }
                }));
            }
        }
        DataType::Interval(_) => {
            let parts = cast(array, &DataType::Interval(IntervalUnit::MonthDayNano))?;
            for v in parts.as_primitive::<IntervalMonthDayNanoType>().iter() {
                out.append_option(
                    v.map(|v| pgtype::interval_out(v.months, v.days, v.nanoseconds / 1_000)),
                );
            }
        }
        DataType::Duration(_) => {
            // A timestamp difference: PostgreSQL's interval of whole days
            // and a time (its `justify_hours`).
            let micros = cast(array, &DataType::Duration(TimeUnit::Microsecond))?;
            for v in micros.as_primitive::<DurationMicrosecondType>().iter() {
                out.append_option(v.map(|v| {
                    let days = v / MICROS_PER_DAY;
                    let days =
                        i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX });
                    pgtype::interval_out(0, days, v % MICROS_PER_DAY)
                }));
            }
        }
        DataType::List(_) | DataType::LargeList(_) => print_arrays(array, time_zone, &mut out)?,
        other => return exec_err!("pg_text cannot print {other}"),
    }
    Ok(Arc::new(out.finish()))
}

/// Each list of `array` as `array_out` prints it: `{1,2}`, `{a,"b c",NULL}`,
/// a nested list as a sub-array `{{1,2},{3}}`.
fn print_arrays(array: &ArrayRef, time_zone: Option<&Tz>, out: &mut StringBuilder) -> Result<()> {
    let (values, bounds): (&ArrayRef, Vec<(usize, usize)>) = match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let offsets = list.value_offsets();
            let bounds = offsets.windows(2).map(|w| (w[0] as usize, w[1] as usize));
            (list.values(), bounds.collect())
        }
        _ => {
            let list = array.as_list::<i64>();
            let offsets = list.value_offsets();
            let bounds = offsets.windows(2).map(|w| (w[0] as usize, w[1] as usize));
            (list.values(), bounds.collect())
        }
    };
    let nested = matches!(
        values.data_type(),
        DataType::List(_) | DataType::LargeList(_)
    );
    let texts = match values.data_type() {
        t if prints_differently(t) => print(values, time_zone)?,
        DataType::Boolean => {
            let mut texts = StringBuilder::with_capacity(values.len(), values.len());
            for v in values.as_boolean().iter() {
                texts.append_option(v.map(|v| if v { "t" } else { "f" }));
            }
            Arc::new(texts.finish())
        }
        _ => cast(values, &DataType::Utf8)?,
    };
    let texts = texts.as_string::<i32>();
    let mut text = Vec::new();
    for (row, (start, end)) in bounds.into_iter().enumerate() {
        if array.is_null(row) {
            out.append_null();
            continue;
        }
        text.clear();
        text.push(b'{');
        for (n, i) in (start..end).enumerate() {
            if n > 0 {
                text.push(b',');
            }
            if texts.is_null(i) {
                text.extend_from_slice(b"NULL");
            } else if nested {
                text.extend_from_slice(texts.value(i).as_bytes());
            } else {
                pgtype::quote_array_element(texts.value(i).as_bytes(), &mut text);
            }
        }
        text.push(b'}');
        out.append_value(String::from_utf8_lossy(&text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, TimestampMicrosecondArray};

    fn texts(array: ArrayRef, tz: Option<&Tz>) -> Vec<Option<String>> {
        let printed = print(&array, tz).unwrap();
        printed
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect()
    }

    #[test]
    fn floats_print_as_postgres_does() {
        let array = Arc::new(Float64Array::from(vec![
            Some(2.0),
            Some(1e20),
            Some(-0.0),
            Some(f64::INFINITY),
            None,
        ]));
        assert_eq!(
            texts(array, None),
            vec![
                Some("2".into()),
                Some("1e+20".into()),
                Some("-0".into()),
                Some("Infinity".into()),
                None
            ]
        );
    }

    #[test]
    fn timestamptz_prints_in_the_session_zone() {
        let array: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![1_704_067_200_000_000]).with_timezone("UTC"),
        );
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            texts(array.clone(), Some(&new_york)),
            vec![Some("2023-12-31 19:00:00-05".into())]
        );
        assert_eq!(
            texts(array, None),
            vec![Some("2024-01-01 00:00:00+00".into())]
        );
    }
}
