//! Arithmetic with PostgreSQL's errors. DataFusion's integer `+`, `-`, `*`
//! and unary minus wrap around on overflow, and its float arithmetic
//! answers `Infinity` for a division by zero or an overflow; PostgreSQL
//! raises 22003 (`integer out of range`, `value out of range: overflow`)
//! and 22012 (`division by zero`). [`Checked`] computes an operator of
//! integers or floats as PostgreSQL does, with Arrow's checked kernels.

use std::sync::Arc;

use super::super::error::Error;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::compute::kernels::arity::try_binary;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
};
use datafusion::arrow::error::ArrowError;
use datafusion::common::{DataFusionError, Result, ScalarValue, internal_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// An operator [`Checked`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    /// Unary minus.
    Neg,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Add => "epochdb_add",
            Op::Sub => "epochdb_sub",
            Op::Mul => "epochdb_mul",
            Op::Div => "epochdb_div",
            Op::Rem => "epochdb_rem",
            Op::Neg => "epochdb_neg",
        }
    }
}

/// `-a`, or `a op₁ b op₂ c ...` evaluated left to right, over integers or
/// floats of one type. A left-deep chain (`1 + 1 + ... + 1`) is one call
/// with many arguments rather than as many nested calls, which DataFusion
/// would type over and over, once per level, while it plans.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Checked {
    ops: Vec<Op>,
    signature: Signature,
}

impl Checked {
    /// `-a` (`Op::Neg`) or `a op b`.
    pub(crate) fn new(op: Op) -> Self {
        Self::chain(vec![op])
    }

    /// `a ops[0] b ops[1] c ...`; or, for `[Op::Neg]`, `-a`.
    pub(crate) fn chain(ops: Vec<Op>) -> Self {
        Self {
            ops,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    /// The operators of a chain, left to right.
    pub(crate) fn ops(&self) -> &[Op] {
        &self.ops
    }
}

/// PostgreSQL's name for an integer type, as its range errors say it.
fn integer_name(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Int16 => "smallint",
        DataType::Int32 => "integer",
        _ => "bigint",
    }
}

fn out_of_range(message: String) -> DataFusionError {
    Error::NumericOutOfRange { message }.into()
}

fn division_by_zero() -> DataFusionError {
    Error::DivisionByZero.into()
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        match self.ops.as_slice() {
            [op] => op.name(),
            _ => "epochdb_arithmetic",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Int64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let result = match (self.ops.as_slice(), arrays.as_slice()) {
            ([Op::Neg], [a]) => negate(a)?,
            (ops, [first, rest @ ..]) if ops.len() == rest.len() => {
                let mut acc = first.clone();
                for (op, b) in ops.iter().zip(rest) {
                    acc = binary(*op, &acc, b)?;
                }
                acc
            }
            _ => return internal_err!("{} takes the wrong number of arguments", self.name()),
        };
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
        } else {
            ColumnarValue::Array(result)
        })
    }
}

fn negate(a: &ArrayRef) -> Result<ArrayRef> {
    match a.data_type() {
        DataType::Int16 | DataType::Int32 | DataType::Int64 => numeric::neg(a)
            .map_err(|_| out_of_range(format!("{} out of range", integer_name(a.data_type())))),
        _ => Ok(numeric::neg_wrapping(a)?),
    }
}

fn binary(op: Op, a: &ArrayRef, b: &ArrayRef) -> Result<ArrayRef> {
    let data_type = a.data_type().clone();
    match data_type {
        DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            let result = match op {
                Op::Add => numeric::add(a, b),
                Op::Sub => numeric::sub(a, b),
                Op::Mul => numeric::mul(a, b),
                Op::Div => numeric::div(a, b),
                Op::Rem => remainder(a, b),
                Op::Neg => return internal_err!("unary minus with two arguments"),
            };
            result.map_err(|e| match e {
                ArrowError::DivideByZero => division_by_zero(),
                _ => out_of_range(format!("{} out of range", integer_name(&data_type))),
            })
        }
        DataType::Float64 => floats::<Float64Type>(op, a, b, |v| v),
        DataType::Float32 => floats::<Float32Type>(op, a, b, f64::from),
        _ => internal_err!("checked arithmetic over {data_type}"),
    }
}

/// `a % b`, where PostgreSQL's `minimum % -1` is 0 (Arrow's overflows).
fn remainder(a: &ArrayRef, b: &ArrayRef) -> std::result::Result<ArrayRef, ArrowError> {
    match a.data_type() {
        DataType::Int16 => remainder_of::<Int16Type>(a, b),
        DataType::Int32 => remainder_of::<Int32Type>(a, b),
        _ => remainder_of::<Int64Type>(a, b),
    }
}

fn remainder_of<T: ArrowPrimitiveType>(
    a: &ArrayRef,
    b: &ArrayRef,
) -> std::result::Result<ArrayRef, ArrowError>
where
    T::Native: num_like::Integer,
{
    let (a, b) = (a.as_primitive::<T>(), b.as_primitive::<T>());
    let result: PrimitiveArray<T> = try_binary(a, b, |x, y| {
        num_like::Integer::checked_rem_pg(x, y).ok_or(ArrowError::DivideByZero)
    })?;
    Ok(Arc::new(result))
}

/// Float arithmetic with PostgreSQL's checks: a zero divisor is an error,
/// as is an infinite result of finite operands (overflow) and a zero result
/// of non-zero operands of `*` or `/` (underflow).
fn floats<T: ArrowPrimitiveType>(
    op: Op,
    a: &ArrayRef,
    b: &ArrayRef,
    wide: impl Fn(T::Native) -> f64,
) -> Result<ArrayRef> {
    let result = match op {
        Op::Add => numeric::add(a, b)?,
        Op::Sub => numeric::sub(a, b)?,
        Op::Mul => numeric::mul(a, b)?,
        Op::Div => numeric::div(a, b)?,
        Op::Rem => numeric::rem(a, b)?,
        Op::Neg => return internal_err!("unary minus with two arguments"),
    };
    let (x, y, r) = (
        a.as_primitive::<T>(),
        b.as_primitive::<T>(),
        result.as_primitive::<T>(),
    );
    for i in 0..r.len() {
        if r.is_null(i) {
            continue;
        }
        let (x, y, r) = (wide(x.value(i)), wide(y.value(i)), wide(r.value(i)));
        if matches!(op, Op::Div | Op::Rem) && y == 0.0 {
            return Err(division_by_zero());
        }
        if r.is_infinite() && x.is_finite() && y.is_finite() {
            return Err(out_of_range("value out of range: overflow".into()));
        }
        if r == 0.0 && matches!(op, Op::Mul | Op::Div) && x != 0.0 && (op == Op::Div || y != 0.0) {
            return Err(out_of_range("value out of range: underflow".into()));
        }
    }
    Ok(result)
}

/// The integer operations the remainder needs, for the three widths.
mod num_like {
    pub(crate) trait Integer: Copy {
        /// `self % other`, 0 for `MIN % -1`, `None` for a zero divisor.
        fn checked_rem_pg(self, other: Self) -> Option<Self>;
    }

    macro_rules! integer {
        ($($t:ty),*) => {$(
            impl Integer for $t {
                fn checked_rem_pg(self, other: Self) -> Option<Self> {
                    if other == 0 {
                        None
                    } else {
                        Some(self.wrapping_rem(other))
                    }
                }
            }
        )*};
    }

    integer!(i16, i32, i64);
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, Int32Array, Int64Array};

    use super::*;

    #[test]
    fn integers_overflow_into_errors_not_around() {
        let max: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX]));
        let one: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let error = binary(Op::Add, &max, &one).unwrap_err().to_string();
        assert!(error.contains("bigint out of range"), "{error}");
        let min: ArrayRef = Arc::new(Int32Array::from(vec![i32::MIN]));
        let minus_one: ArrayRef = Arc::new(Int32Array::from(vec![-1]));
        assert!(binary(Op::Div, &min, &minus_one).is_err());
        assert!(negate(&min).is_err());
        let rem = binary(Op::Rem, &min, &minus_one).unwrap();
        assert_eq!(rem.as_primitive::<Int32Type>().value(0), 0);
        let zero: ArrayRef = Arc::new(Int32Array::from(vec![0]));
        assert!(binary(Op::Rem, &min, &zero).is_err());
    }

    #[test]
    fn floats_refuse_division_by_zero_and_overflow() {
        let one: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        let zero: ArrayRef = Arc::new(Float64Array::from(vec![0.0]));
        let big: ArrayRef = Arc::new(Float64Array::from(vec![1e308]));
        let tiny: ArrayRef = Arc::new(Float64Array::from(vec![1e-308]));
        assert!(binary(Op::Div, &one, &zero).is_err());
        assert!(binary(Op::Mul, &big, &big).is_err());
        assert!(binary(Op::Mul, &tiny, &tiny).is_err());
        let inf: ArrayRef = Arc::new(Float64Array::from(vec![f64::INFINITY]));
        let sum = binary(Op::Add, &inf, &one).unwrap();
        assert_eq!(sum.as_primitive::<Float64Type>().value(0), f64::INFINITY);
    }
}
