//! Casts to an integer round as PostgreSQL rounds, where Arrow truncates:
//! a `float8` or `float4` value to the nearest integer, ties to even
//! (`rint`, so `2.5::float8::int` is 2), and a `numeric` value (a decimal,
//! or a literal such as `2.5`, which PostgreSQL reads as numeric) to the
//! nearest, ties away from zero (`2.5::int` is 3). [`RoundForInt`] rounds;
//! Arrow's cast then converts the integral value, and fails (22003) out of
//! the target's range.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float32Type, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// How a value is rounded to an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Rounding {
    /// Ties to even: PostgreSQL's float to integer.
    HalfEven,
    /// Ties away from zero: PostgreSQL's numeric to integer.
    HalfAway,
}

/// `expr` (a float or decimal) rounded to an integral value by `rounding`,
/// of its own type (a decimal at scale 0).
pub(crate) fn round_for_int(expr: Expr, rounding: Rounding) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(RoundForInt {
            rounding,
            signature: Signature::any(1, Volatility::Immutable),
        })),
        vec![expr],
    ))
}

/// The function; see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundForInt {
    rounding: Rounding,
    signature: Signature,
}

impl ScalarUDFImpl for RoundForInt {
    fn name(&self) -> &str {
        match self.rounding {
            Rounding::HalfEven => "epochdb_rint",
            Rounding::HalfAway => "epochdb_round_half_away",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match arg_types.first() {
            Some(DataType::Float32) => DataType::Float32,
            Some(DataType::Decimal128(..)) => DataType::Decimal128(38, 0),
            _ => DataType::Float64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("{} takes one argument", self.name());
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.into_array(1)?;
        let round64 = |v: f64| match self.rounding {
            Rounding::HalfEven => v.round_ties_even(),
            Rounding::HalfAway => v.round(),
        };
        let rounded: ArrayRef = match array.data_type() {
            DataType::Float32 => Arc::new(
                array
                    .as_primitive::<Float32Type>()
                    .unary::<_, Float32Type>(|v| match self.rounding {
                        Rounding::HalfEven => v.round_ties_even(),
                        Rounding::HalfAway => v.round(),
                    }),
            ),
            DataType::Float64 => Arc::new(
                array
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(round64),
            ),
            DataType::Decimal128(_, scale) => {
                // Exactly, in the decimal's own digits: ties away from zero.
                let unit = 10i128
                    .checked_pow(u32::from(scale.unsigned_abs()))
                    .unwrap_or(1);
                let integral = |v: i128| {
                    if *scale <= 0 {
                        return v;
                    }
                    let (q, r) = (v / unit, v % unit);
                    if r.unsigned_abs() * 2 >= unit.unsigned_abs() {
                        q + v.signum()
                    } else {
                        q
                    }
                };
                Arc::new(
                    array
                        .as_primitive::<Decimal128Type>()
                        .unary::<_, Decimal128Type>(integral)
                        .with_data_type(DataType::Decimal128(38, 0)),
                )
            }
            other => return exec_err!("{} cannot round {other}", self.name()),
        };
        Ok(if is_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&rounded, 0)?)
        } else {
            ColumnarValue::Array(rounded)
        })
    }
}
