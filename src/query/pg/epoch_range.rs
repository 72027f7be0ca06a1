//! `to_timestamp(float8)` as PostgreSQL computes it: the seconds rounded
//! to the nearest microsecond (`to_timestamp(1704067207.25)` is at .25,
//! where DataFusion's nanoseconds of the float, truncated, fall a
//! microsecond short), and beyond the range of a timestamp a failure with
//! 22008 (DataFusion clamps the seconds to the last nanosecond timestamp,
//! an answer that looks right). [`EpochInRange`] makes the microseconds,
//! or fails for a value no timestamp holds.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::columnar::columnar;
use crate::query::error::Error;

/// Seconds either side of the epoch that a nanosecond timestamp holds.
const LIMIT_SECONDS: f64 = i64::MAX as f64 / 1e9;

/// `to_timestamp(seconds)` (a float8) as PostgreSQL's, of the type
/// `data_type` DataFusion's call has.
pub(crate) fn epoch_in_range(seconds: Expr, data_type: DataType) -> Expr {
    let micros = Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(EpochInRange {
            signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
        })),
        vec![seconds],
    ));
    let timestamp = Expr::Cast(datafusion::logical_expr::Cast::new(
        Box::new(micros),
        DataType::Timestamp(TimeUnit::Microsecond, None),
    ));
    Expr::Cast(datafusion::logical_expr::Cast::new(
        Box::new(timestamp),
        data_type,
    ))
}

/// The function; see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
struct EpochInRange {
    signature: Signature,
}

impl ScalarUDFImpl for EpochInRange {
    fn name(&self) -> &str {
        "epochdb_epoch_in_range"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("epochdb_epoch_in_range takes one argument");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(1)?;
        let micros = array
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| match v {
                Some(v) if !v.is_finite() || v.abs() >= LIMIT_SECONDS => {
                    Err(Error::DatetimeOutOfRange.into())
                }
                // PostgreSQL's rint(seconds * 1e6): halves to even.
                Some(v) => Ok(Some((v * 1e6).round_ties_even() as i64)),
                None => Ok(None),
            })
            .collect::<Result<Int64Array>>()?;
        columnar(Arc::new(micros), is_scalar)
    }
}
