//! `floor`, `ceil`, `trunc` and `round` of a numeric quotient
//! (`floor(extract(epoch from time) / 300)`, Grafana's grouping without
//! TimescaleDB), computed as PostgreSQL computes them.
//!
//! A quotient of numerics alone is refused (see [`numeric`](super::numeric)):
//! PostgreSQL gives each one a scale chosen from its operands' values,
//! which one Arrow decimal column cannot hold. Rounded to a whole number,
//! it has one scale, 0. PostgreSQL first divides to the scale
//! `select_div_scale` chooses for the row's operands, rounding half away
//! from zero, and then rounds that; so does [`RoundedQuotient`], exactly,
//! in 128-bit integers.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Decimal128Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::columnar::columnar;
use crate::query::error::Error;

const NAME: &str = "__epochdb_rounded_quotient";

/// PostgreSQL's `NUMERIC_MIN_SIG_DIGITS`: a quotient has at least this many
/// significant digits.
const MIN_SIG_DIGITS: i32 = 16;

/// PostgreSQL's largest display scale.
const MAX_DISPLAY_SCALE: i32 = 1000;

/// How the quotient is made whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rounding {
    Floor,
    Ceil,
    Trunc,
    Round,
}

impl Rounding {
    /// The rounding a one-argument call of `name` does.
    pub(crate) fn of(name: &str) -> Option<Self> {
        Some(match name {
            "floor" => Self::Floor,
            "ceil" | "ceiling" => Self::Ceil,
            "trunc" => Self::Trunc,
            "round" => Self::Round,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::Ceil => "ceil",
            Self::Trunc => "trunc",
            Self::Round => "round",
        }
    }

    /// `whole` (the quotient's magnitude truncated) given what was cut off
    /// (`rest` of `unit`), with the quotient's sign.
    fn apply(self, negative: bool, whole: i128, rest: i128, unit: i128) -> i128 {
        let up = match self {
            Self::Trunc => false,
            Self::Floor => negative && rest != 0,
            Self::Ceil => !negative && rest != 0,
            Self::Round => rest * 2 >= unit,
        };
        let magnitude = whole + i128::from(up);
        if negative { -magnitude } else { magnitude }
    }
}

/// `rounding(left / right)` as a call of [`RoundedQuotient`].
pub(crate) fn call(rounding: Rounding, left: Expr, right: Expr) -> Expr {
    let mode = Expr::Literal(ScalarValue::Utf8(Some(rounding.name().to_owned())), None);
    Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(RoundedQuotient::new())),
        vec![left, right, mode],
    ))
}

/// The weight of a value's first base-10000 digit, and that digit, as
/// PostgreSQL's numeric keeps them (0 and 0 for zero).
fn weight_and_first_digit(mantissa: i128, scale: i32) -> (i32, i128) {
    let magnitude = mantissa.unsigned_abs();
    if magnitude == 0 {
        return (0, 0);
    }
    let exponent = magnitude.ilog10() as i32 - scale;
    let weight = exponent.div_euclid(4);
    let shift = scale + 4 * weight;
    let first = if shift >= 0 {
        magnitude / 10u128.pow(shift.unsigned_abs())
    } else {
        magnitude * 10u128.pow(shift.unsigned_abs())
    };
    (weight, first as i128)
}

/// PostgreSQL's `select_div_scale`.
fn division_scale(a: i128, a_scale: i32, b: i128, b_scale: i32) -> i32 {
    let (weight1, first1) = weight_and_first_digit(a, a_scale);
    let (weight2, first2) = weight_and_first_digit(b, b_scale);
    let mut quotient_weight = weight1 - weight2;
    if first1 <= first2 {
        quotient_weight -= 1;
    }
    (MIN_SIG_DIGITS - quotient_weight * 4)
        .max(a_scale)
        .max(b_scale)
        .clamp(0, MAX_DISPLAY_SCALE)
}

fn out_of_range() -> datafusion::error::DataFusionError {
    Error::NumericOutOfRange {
        message: "value overflows numeric format".into(),
    }
    .into()
}

fn pow10(n: i32) -> Result<i128> {
    u32::try_from(n)
        .ok()
        .and_then(|n| 10i128.checked_pow(n))
        .ok_or_else(out_of_range)
}

/// `rounding(a / b)` of `a` and `b` at their scales, as PostgreSQL answers.
fn rounded_quotient(
    rounding: Rounding,
    a: i128,
    a_scale: i32,
    b: i128,
    b_scale: i32,
) -> Result<i128> {
    if b == 0 {
        return Err(Error::DivisionByZero.into());
    }
    let rscale = division_scale(a, a_scale, b, b_scale);
    // |a| / |b| = (|a| * 10^(b_scale + rscale)) / (|b| * 10^a_scale), in
    // units of 10^-rscale, rounded half away from zero.
    let numerator = a
        .checked_abs()
        .and_then(|a| a.checked_mul(pow10(b_scale + rscale).ok()?))
        .ok_or_else(out_of_range)?;
    let denominator = b
        .checked_abs()
        .and_then(|b| b.checked_mul(pow10(a_scale).ok()?))
        .ok_or_else(out_of_range)?;
    let quotient =
        numerator / denominator + i128::from((numerator % denominator) * 2 >= denominator);
    let unit = pow10(rscale)?;
    let negative = (a < 0) != (b < 0) && quotient != 0;
    Ok(rounding.apply(negative, quotient / unit, quotient % unit, unit))
}

/// `__epochdb_rounded_quotient(a, b, 'floor' | 'ceil' | 'trunc' | 'round')`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct RoundedQuotient {
    signature: Signature,
}

impl RoundedQuotient {
    fn new() -> Self {
        Self {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

/// The operand as decimals, and their scale.
fn decimals(array: &ArrayRef) -> Result<(Decimal128Array, i32)> {
    let array = match array.data_type() {
        DataType::Decimal128(..) => array.clone(),
        _ => cast(array, &DataType::Decimal128(38, 0))?,
    };
    let DataType::Decimal128(_, scale) = array.data_type() else {
        return exec_err!("a quotient of numerics takes numbers");
    };
    let scale = i32::from(*scale);
    Ok((array.as_primitive::<Decimal128Type>().clone(), scale))
}

impl ScalarUDFImpl for RoundedQuotient {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(38, 0))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [left, right, ColumnarValue::Scalar(mode)] = args.args.as_slice() else {
            return exec_err!("{NAME} takes two numbers and a rounding");
        };
        let Some(rounding) = mode.try_as_str().flatten().and_then(Rounding::of) else {
            return exec_err!("{NAME}: unknown rounding");
        };
        let is_scalar =
            matches!(left, ColumnarValue::Scalar(_)) && matches!(right, ColumnarValue::Scalar(_));
        let rows = args.number_rows.max(1);
        let (a, a_scale) = decimals(&left.to_array(rows)?)?;
        let (b, b_scale) = decimals(&right.to_array(rows)?)?;
        let values = (a.iter().zip(b.iter()))
            .map(|pair| match pair {
                (Some(a), Some(b)) => rounded_quotient(rounding, a, a_scale, b, b_scale).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<Decimal128Array>>()?
            .with_precision_and_scale(38, 0)?;
        columnar(Arc::new(values), is_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_postgresqls() {
        // 1704067200.000000 / 300: 5680224.000000000000 (12 decimals).
        assert_eq!(division_scale(1_704_067_200_000_000, 6, 300, 0), 12);
        // 1 / 3: 0.33333333333333333333 (20 decimals).
        assert_eq!(division_scale(1, 0, 3, 0), 20);
        // 10 / 4: 2.5000000000000000 (16 decimals).
        assert_eq!(division_scale(10, 0, 4, 0), 16);
        // 0.0005 / 7: weight -1, first digit 5.
        assert_eq!(weight_and_first_digit(5, 4), (-1, 5));
        assert_eq!(weight_and_first_digit(1_704_067_200, 0), (2, 17));
    }

    #[test]
    fn quotients_round_as_postgresql_rounds_them() {
        let q = |r, a, sa, b, sb| rounded_quotient(r, a, sa, b, sb).unwrap();
        assert_eq!(
            q(Rounding::Floor, 1_704_067_207_250_000, 6, 300, 0),
            5_680_224
        );
        assert_eq!(q(Rounding::Floor, -7, 0, 2, 0), -4);
        assert_eq!(q(Rounding::Ceil, -7, 0, 2, 0), -3);
        assert_eq!(q(Rounding::Ceil, 7, 0, 2, 0), 4);
        assert_eq!(q(Rounding::Trunc, -7, 0, 2, 0), -3);
        assert_eq!(q(Rounding::Round, -7, 0, 2, 0), -4);
        assert_eq!(q(Rounding::Round, 5, 0, 4, 0), 1);
        assert_eq!(q(Rounding::Floor, 6, 0, 3, 0), 2);
        // 2/3 at 16 significant digits rounds to ...6667: not a whole 1.
        assert_eq!(q(Rounding::Floor, 2, 0, 3, 0), 0);
        // 2999999999999.9999995 / 1 at scale 7 is not rounded up by the
        // division (its scale keeps all of it).
        assert_eq!(
            q(Rounding::Floor, 29_999_999_999_999_999_995, 7, 1, 0),
            2_999_999_999_999
        );
        assert!(rounded_quotient(Rounding::Floor, 1, 0, 0, 0).is_err());
    }
}
