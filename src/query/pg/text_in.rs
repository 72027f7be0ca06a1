//! Text read as a `timestamp` (without time zone) as PostgreSQL reads it:
//! an offset in the text is ignored (`'12:00+05'::timestamp` is 12:00),
//! where Arrow's cast moves the time to UTC. The [`semantics`](super::semantics)
//! rule sends such casts here, to [`crate::pgtype::timestamp_in`], the
//! parser Bind and COPY use too.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, StringArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::pgtype::{self, DatetimeTarget};
use crate::query::error::Error;

/// The name of [`iso_datetime`]'s function.
pub(crate) const ISO_DATETIME: &str = "epochdb_iso_datetime";

/// `text` rewritten to ISO 8601 where it is in one of PostgreSQL's other
/// date and timestamp forms ([`pgtype::iso_datetime_text`]), for Arrow's
/// casts to `timestamptz` and `date`, which read only ISO.
pub(crate) fn iso_datetime(text: Expr, target: DatetimeTarget) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(IsoDatetime {
            signature: Signature::any(1, Volatility::Immutable),
            date: target == DatetimeTarget::Date,
        })),
        vec![text],
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct IsoDatetime {
    signature: Signature,
    date: bool,
}

impl ScalarUDFImpl for IsoDatetime {
    fn name(&self) -> &str {
        ISO_DATETIME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("{ISO_DATETIME} takes one argument");
        };
        let target = if self.date {
            DatetimeTarget::Date
        } else {
            DatetimeTarget::Timestamp
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let texts = cast(&value.into_array(1)?, &DataType::Utf8)?;
        let iso: StringArray = (texts.as_string::<i32>().iter())
            .map(|text| {
                text.map(|t| pgtype::iso_datetime_text(t, target).unwrap_or_else(|| t.to_owned()))
            })
            .collect();
        let array: ArrayRef = Arc::new(iso);
        Ok(if is_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}

/// `text` read as a microsecond `timestamp`.
pub(crate) fn timestamp_in(text: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(TimestampIn {
            signature: Signature::any(1, Volatility::Immutable),
        })),
        vec![text],
    ))
}

/// The function; see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimestampIn {
    signature: Signature,
}

impl ScalarUDFImpl for TimestampIn {
    fn name(&self) -> &str {
        "epochdb_timestamp_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("epochdb_timestamp_in takes one argument");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let texts = cast(&value.into_array(1)?, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let mut out = TimestampMicrosecondBuilder::with_capacity(texts.len());
        for text in texts.iter() {
            match text {
                None => out.append_null(),
                Some(text) => {
                    let micros = pgtype::timestamp_in(text, false).map_err(|_| {
                        Error::InvalidDatetimeFormat {
                            message: format!("invalid input syntax for type timestamp: \"{text}\""),
                        }
                    })?;
                    out.append_value(micros);
                }
            }
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(if is_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}
