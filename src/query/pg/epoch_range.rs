//! `to_timestamp(float8)` beyond the range of a timestamp fails with 22008,
//! as PostgreSQL's does: DataFusion's clamps the seconds to the last
//! nanosecond timestamp, an answer that looks right. [`EpochInRange`]
//! passes the seconds through, or fails for a value no timestamp holds.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::query::error::Error;

/// Seconds either side of the epoch that a nanosecond timestamp holds.
const LIMIT_SECONDS: f64 = i64::MAX as f64 / 1e9;

/// `seconds` (a float8), checked to be within a timestamp's range.
pub(crate) fn epoch_in_range(seconds: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(EpochInRange {
            signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
        })),
        vec![seconds],
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
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("epochdb_epoch_in_range takes one argument");
        };
        let array = value.to_array(1)?;
        let out_of_range = array
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .any(|v| !v.is_finite() || v.abs() >= LIMIT_SECONDS);
        if out_of_range {
            return Err(Error::DatetimeOutOfRange.into());
        }
        Ok(value)
    }
}
