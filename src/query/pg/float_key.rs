//! Floats compared as PostgreSQL's `=` compares them: `-0` equals `0`, and
//! every `NaN` equals every other. DataFusion compares float bits in IN
//! lists and DISTINCT; comparing the [`FloatKey`] of the values instead
//! gives PostgreSQL's answer, since under it equal values have equal bits.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The name of [`FloatKey`].
pub(crate) const FLOAT_KEY: &str = "epochdb_float_key";

/// `expr` as the key its float value compares by: literals folded now.
pub(crate) fn float_key(expr: Expr) -> Expr {
    match expr {
        Expr::Literal(ScalarValue::Float64(v), metadata) => {
            Expr::Literal(ScalarValue::Float64(v.map(canonical)), metadata)
        }
        Expr::Literal(ScalarValue::Float32(v), metadata) => Expr::Literal(
            ScalarValue::Float32(v.map(|v| canonical(f64::from(v)) as f32)),
            metadata,
        ),
        Expr::ScalarFunction(ScalarFunction { ref func, .. }) if func.name() == FLOAT_KEY => expr,
        other => Expr::ScalarFunction(ScalarFunction::new_udf(
            Arc::new(ScalarUDF::new_from_impl(FloatKey::default())),
            vec![other],
        )),
    }
}

/// The value whose bits stand for `v` in a comparison: `0` for `-0`, one
/// `NaN` for all.
pub(crate) fn canonical(v: f64) -> f64 {
    if v.is_nan() {
        f64::NAN
    } else if v == 0.0 {
        0.0
    } else {
        v
    }
}

/// Float values with their keys for equality: what `=` compares. Other
/// types as they are.
pub(crate) fn keyed(array: ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::Float64 => Arc::new(
            array
                .as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(canonical),
        ),
        DataType::Float32 => Arc::new(
            array
                .as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(|v| canonical(f64::from(v)) as f32),
        ),
        _ => array,
    }
}

/// `epochdb_float_key(x)`: a float with `-0` made `0` and every `NaN` the
/// same, so that comparing bits (as an IN list's hash set does) is `=`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct FloatKey {
    signature: Signature,
}

impl Default for FloatKey {
    fn default() -> Self {
        Self {
            signature: Signature::uniform(
                1,
                vec![DataType::Float64, DataType::Float32],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for FloatKey {
    fn name(&self) -> &str {
        FLOAT_KEY
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Float64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.first() else {
            return internal_err!("{FLOAT_KEY} takes one argument");
        };
        Ok(match value {
            ColumnarValue::Array(array) => ColumnarValue::Array(keyed(array.clone())),
            ColumnarValue::Scalar(scalar) => {
                let array = keyed(scalar.to_array()?);
                ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
            }
        })
    }
}
