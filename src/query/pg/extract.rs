//! `EXTRACT` as PostgreSQL answers it: a `numeric`, exact, where
//! `date_part` is a `double precision`.
//!
//! PostgreSQL 14 made `EXTRACT(field FROM x)` return `numeric`: `epoch` and
//! `second` with six decimals (`1704067200.000000`, `7.500000`),
//! `milliseconds` with three, every other field a whole number. The
//! fields with a fraction are computed here from the value's microseconds,
//! exactly; the whole ones come from `date_part` (DataFusion's, with
//! [`date_fields`](super::date_fields)'s extras). `date_part` gives the
//! same values as `double precision`.

use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    ArrayRef, AsArray, Decimal128Builder, Float64Array, IntervalMonthDayNanoArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, DurationMicrosecondType, Field, FieldRef, IntervalMonthDayNano,
    IntervalMonthDayNanoType, IntervalUnit, Time64MicrosecondType, TimeUnit,
    TimestampMicrosecondType,
};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::columnar::columnar;
use crate::pgtype;
use crate::query::error::Error;

/// What `EXTRACT` is planned as.
pub(crate) const EXTRACT: &str = "__epochdb_extract";

/// The fields with a fraction (in PostgreSQL's names and abbreviations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exact {
    Epoch,
    Second,
    Milliseconds,
    Microseconds,
}

const MICROS_PER_MINUTE: i128 = 60_000_000;
const MICROS_PER_DAY: i128 = 86_400_000_000;
/// PostgreSQL's year of an interval's months, in days: 365.25.
const MICROS_PER_INTERVAL_YEAR: i128 = 31_557_600_000_000;
/// PostgreSQL's month of an interval's months: 30 days.
const MICROS_PER_INTERVAL_MONTH: i128 = 30 * MICROS_PER_DAY;

impl Exact {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "epoch" => Self::Epoch,
            "s" | "sec" | "secs" | "second" | "seconds" => Self::Second,
            "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" | "mseconds" => {
                Self::Milliseconds
            }
            "us" | "usec" | "usecs" | "microsecond" | "microseconds" | "useconds" => {
                Self::Microseconds
            }
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Epoch => "epoch",
            Self::Second => "second",
            Self::Milliseconds => "milliseconds",
            Self::Microseconds => "microseconds",
        }
    }

    /// The decimals of PostgreSQL's answer (of a date, the epoch is whole).
    fn scale(self, input: &DataType) -> i8 {
        match (self, input) {
            (Self::Epoch, DataType::Date32 | DataType::Date64) => 0,
            (Self::Epoch | Self::Second, _) => 6,
            (Self::Milliseconds, _) => 3,
            (Self::Microseconds, _) => 0,
        }
    }

    /// The exact value of the field for `micros` of the minute (or, for
    /// the epoch, of all time), in units of its scale: a count of
    /// microseconds is already in units of 10^-6 s, of 10^-3 ms and of
    /// 1 µs.
    fn mantissa(self, micros: i128, within_minute: i128) -> i128 {
        match self {
            Self::Epoch => micros,
            Self::Second | Self::Milliseconds | Self::Microseconds => within_minute,
        }
    }

    /// Each value's field as a decimal mantissa of [`Self::scale`], or
    /// `None` for an input type it has no exact value for.
    fn mantissas(self, array: &ArrayRef) -> Result<Option<Vec<Option<i128>>>> {
        let values: Vec<Option<i128>> = match array.data_type() {
            DataType::Timestamp(_, tag) => {
                let zone = tag.as_deref().map(str::parse::<Tz>).transpose()?;
                let micros = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
                (micros.as_primitive::<TimestampMicrosecondType>().iter())
                    .map(|v| {
                        v.map(|v| {
                            // The seconds of the wall time: a zone's offset
                            // may hold seconds (local mean time).
                            let wall = zone.as_ref().map_or(v, |tz| pgtype::wall_micros(v, tz));
                            let within = i128::from(wall).rem_euclid(MICROS_PER_MINUTE);
                            self.mantissa(i128::from(v), within)
                        })
                    })
                    .collect()
            }
            DataType::Date32 | DataType::Date64 => {
                if self != Self::Epoch {
                    return Err(Error::FeatureNotSupported {
                        message: format!("unit \"{}\" not supported for type date", self.name()),
                    }
                    .into());
                }
                let days = cast(array, &DataType::Date32)?;
                (days.as_primitive::<Date32Type>().iter())
                    .map(|v| v.map(|days| i128::from(days) * 86_400))
                    .collect()
            }
            DataType::Time64(_) | DataType::Time32(_) => {
                let micros = cast(array, &DataType::Time64(TimeUnit::Microsecond))?;
                (micros.as_primitive::<Time64MicrosecondType>().iter())
                    .map(|v| {
                        v.map(|v| {
                            let v = i128::from(v);
                            self.mantissa(v, v % MICROS_PER_MINUTE)
                        })
                    })
                    .collect()
            }
            DataType::Duration(_) => {
                let micros = cast(array, &DataType::Duration(TimeUnit::Microsecond))?;
                (micros.as_primitive::<DurationMicrosecondType>().iter())
                    .map(|v| {
                        v.map(|v| {
                            let v = i128::from(v);
                            self.mantissa(v, v % MICROS_PER_MINUTE)
                        })
                    })
                    .collect()
            }
            DataType::Interval(_) => {
                let parts = cast(array, &DataType::Interval(IntervalUnit::MonthDayNano))?;
                (parts.as_primitive::<IntervalMonthDayNanoType>().iter())
                    .map(|v| {
                        v.map(|v| {
                            let time = i128::from(v.nanoseconds / 1_000);
                            let months = i128::from(v.months);
                            let total = months / 12 * MICROS_PER_INTERVAL_YEAR
                                + months % 12 * MICROS_PER_INTERVAL_MONTH
                                + i128::from(v.days) * MICROS_PER_DAY
                                + time;
                            // PostgreSQL's seconds of an interval keep its
                            // sign.
                            self.mantissa(total, time % MICROS_PER_MINUTE)
                        })
                    })
                    .collect()
            }
            _ => return Ok(None),
        };
        Ok(Some(values))
    }
}

/// A duration (a difference of timestamps) as the interval PostgreSQL's
/// subtraction makes: whole days, then the time of day, so that its
/// `hour` is the hour within the day. Other values pass unchanged.
pub(crate) fn duration_as_interval(value: ColumnarValue, rows: usize) -> Result<ColumnarValue> {
    let is_scalar = matches!(value, ColumnarValue::Scalar(_));
    let array = value.to_array(rows)?;
    if !matches!(array.data_type(), DataType::Duration(_)) {
        return Ok(value);
    }
    let micros = cast(&array, &DataType::Duration(TimeUnit::Microsecond))?;
    let intervals: IntervalMonthDayNanoArray = (micros.as_primitive::<DurationMicrosecondType>())
        .iter()
        .map(|v| {
            v.map(|v| {
                let day = 86_400_000_000i64;
                let days = i32::try_from(v / day).unwrap_or(i32::MAX);
                IntervalMonthDayNano::new(0, days, (v % day) * 1_000)
            })
        })
        .collect();
    columnar(Arc::new(intervals), is_scalar)
}

/// The field a call's first argument names.
fn field_name(scalar: Option<&ScalarValue>) -> Option<&str> {
    scalar.and_then(|s| s.try_as_str().flatten())
}

/// `date_part` of an exact field as `double precision`, when the input is
/// of a type it has one for: what PostgreSQL's `date_part` answers.
pub(crate) fn exact_as_double(field: Exact, array: &ArrayRef) -> Result<Option<ArrayRef>> {
    let scale = field.scale(array.data_type());
    let Some(mantissas) = field.mantissas(array)? else {
        return Ok(None);
    };
    let divisor = 10f64.powi(i32::from(scale));
    let values: Float64Array = (mantissas.into_iter())
        .map(|m| m.map(|m| m as f64 / divisor))
        .collect();
    Ok(Some(Arc::new(values)))
}

/// `EXTRACT(field FROM x)`: `date_part` as a `numeric` of PostgreSQL's
/// scale for the field.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Extract {
    date_part: ScalarUDF,
    signature: Signature,
}

impl Extract {
    /// Over `date_part`, the session's (with its extra fields).
    pub(crate) fn new(date_part: ScalarUDF) -> Self {
        Self {
            date_part,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// The most digits a `numeric` of an extracted field needs.
const PRECISION: u8 = 38;

impl ScalarUDFImpl for Extract {
    fn name(&self) -> &str {
        EXTRACT
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(PRECISION, 0))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        let input = args.arg_fields.get(1);
        let scale = match (
            field_name(args.scalar_arguments.first().copied().flatten()),
            input,
        ) {
            (Some(name), Some(input)) => {
                Exact::parse(name).map_or(0, |field| field.scale(input.data_type()))
            }
            _ => 0,
        };
        let nullable = input.is_none_or(|f| f.is_nullable());
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Decimal128(PRECISION, scale),
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (Some(ColumnarValue::Scalar(name)), Some(value)) =
            (args.args.first(), args.args.get(1))
        else {
            return exec_err!("EXTRACT takes a field name and a value");
        };
        let DataType::Decimal128(_, scale) = args.return_field.data_type().clone() else {
            return exec_err!("EXTRACT returns a numeric");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(args.number_rows.max(1))?;
        let exact = field_name(Some(name)).and_then(Exact::parse);
        if let Some(field) = exact
            && let Some(mantissas) = field.mantissas(&array)?
        {
            let mut out = Decimal128Builder::with_capacity(mantissas.len());
            out.extend(mantissas);
            let out = out.finish().with_precision_and_scale(PRECISION, scale)?;
            return columnar(Arc::new(out), is_scalar);
        }
        // A whole field: date_part's value, as a numeric.
        let mut args = args;
        args.return_field = Arc::new(Field::new("date_part", DataType::Float64, true));
        let whole = self.date_part.invoke_with_args(args)?;
        let numeric = cast(
            &whole.to_array(array.len())?,
            &DataType::Decimal128(PRECISION, scale),
        )?;
        columnar(numeric, is_scalar)
    }
}

/// `duration::interval`, as [`duration_as_interval`] makes it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DurationAsInterval {
    signature: Signature,
}

/// `value` (a duration) as PostgreSQL's interval of days and time.
pub(crate) fn interval_of_duration(
    value: datafusion::logical_expr::Expr,
) -> datafusion::logical_expr::Expr {
    datafusion::logical_expr::Expr::ScalarFunction(
        datafusion::logical_expr::expr::ScalarFunction::new_udf(
            Arc::new(ScalarUDF::new_from_impl(DurationAsInterval {
                signature: Signature::any(1, Volatility::Immutable),
            })),
            vec![value],
        ),
    )
}

impl ScalarUDFImpl for DurationAsInterval {
    fn name(&self) -> &str {
        "epochdb_duration_as_interval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("epochdb_duration_as_interval takes one value");
        };
        duration_as_interval(value, rows)
    }
}
