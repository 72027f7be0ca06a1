//! `width_bucket(operand, low, high, count)`: which of `count` equal-width
//! buckets between `low` and `high` (either way round) holds `operand`, 0
//! below the range and `count + 1` above it, as PostgreSQL 15 computes it.
//! Over `double precision` (also for integers, as PostgreSQL resolves
//! them) with its rounding guard, and exactly over `numeric`. Its errors
//! are PostgreSQL's (2201G, and 22003 for a `count + 1` beyond `integer`);
//! a numeric product too wide for 128 bits is refused (22003) rather than
//! rounded. The array form, `width_bucket(operand, thresholds)`, is not
//! here (42883).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Builder};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int32Type};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::columnar::{columnar, no_such_function, unknown};
use crate::query::error::Error;

fn refused(message: &'static str) -> Error {
    Error::InvalidWidthBucketArgument { message }
}

fn integer_out_of_range() -> Error {
    Error::NumericOutOfRange {
        message: "integer out of range".into(),
    }
}

/// Where `operand` falls between `low` and `high` (either way round), by
/// PostgreSQL's rules: 0 before the range, `count + 1` at or past its end,
/// `inside()` within it.
fn place<T: PartialOrd>(
    operand: T,
    low: T,
    high: T,
    count: i32,
    inside: impl FnOnce() -> Result<i32, Error>,
) -> Result<i32, Error> {
    let (before, past) = if low < high {
        (operand < low, operand >= high)
    } else if low > high {
        (operand > low, operand <= high)
    } else {
        return Err(refused("lower bound cannot equal upper bound"));
    };
    if before {
        Ok(0)
    } else if past {
        count.checked_add(1).ok_or_else(integer_out_of_range)
    } else {
        inside()
    }
}

/// PostgreSQL's `width_bucket_float8`.
fn bucket_float(operand: f64, low: f64, high: f64, count: i32) -> Result<i32, Error> {
    if count <= 0 {
        return Err(refused("count must be greater than zero"));
    }
    if operand.is_nan() || low.is_nan() || high.is_nan() {
        return Err(refused(
            "operand, lower bound, and upper bound cannot be NaN",
        ));
    }
    if low.is_infinite() || high.is_infinite() {
        return Err(refused("lower and upper bounds must be finite"));
    }
    place(operand, low, high, count, || {
        // The operand's distance into the range over the range's width
        // (negated both when the range runs down), each halved first when
        // the width itself overflows.
        let fraction = if (high - low).is_finite() {
            (operand - low) / (high - low)
        } else {
            (operand / 2.0 - low / 2.0) / (high / 2.0 - low / 2.0)
        };
        // The quotient could round to 1.0, which would be a lie.
        let bucket = (f64::from(count) * fraction) as i32;
        Ok(bucket.min(count - 1) + 1)
    })
}

/// PostgreSQL's `width_bucket_numeric`, over decimals of one scale.
fn bucket_decimal(operand: i128, low: i128, high: i128, count: i32) -> Result<i32, Error> {
    if count <= 0 {
        return Err(refused("count must be greater than zero"));
    }
    place(operand, low, high, count, || {
        // Distance and width share their sign, and the distance is the
        // smaller: the quotient is below `count`.
        let distance = operand.checked_sub(low).ok_or_else(integer_out_of_range)?;
        let width = high.checked_sub(low).ok_or_else(integer_out_of_range)?;
        let scaled = (distance.checked_mul(i128::from(count))).ok_or_else(integer_out_of_range)?;
        Ok(i32::try_from(scaled / width).map_err(|_| integer_out_of_range())? + 1)
    })
}

pub(crate) fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(WidthBucket {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct WidthBucket {
    signature: Signature,
}

/// The decimal type three arguments share (the largest scale), if any is a
/// decimal and none a float: PostgreSQL's numeric form.
fn shared_decimal(arg_types: &[DataType]) -> Option<DataType> {
    if (arg_types.iter()).any(DataType::is_floating) {
        return None;
    }
    let scale = (arg_types.iter())
        .filter_map(|t| match t {
            DataType::Decimal128(_, s) => Some(*s),
            _ => None,
        })
        .max()?;
    Some(DataType::Decimal128(38, scale))
}

impl ScalarUDFImpl for WidthBucket {
    fn name(&self) -> &str {
        "width_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let fits = arg_types.len() == 4
            && arg_types[..3].iter().all(|t| t.is_numeric() || unknown(t))
            && (arg_types[3].is_integer() || unknown(&arg_types[3]));
        if !fits {
            return Err(no_such_function(self.name(), arg_types));
        }
        let value = shared_decimal(&arg_types[..3]).unwrap_or(DataType::Float64);
        Ok(vec![value.clone(), value.clone(), value, DataType::Int32])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        let is_scalar = (args.args.iter()).all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays: Vec<ArrayRef> = (args.args.iter())
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let [operand, low, high, count] = arrays.as_slice() else {
            return Err(Error::UndefinedFunction {
                message: "function width_bucket takes four arguments".into(),
            }
            .into());
        };
        let count = count.as_primitive::<Int32Type>();
        let decimal = matches!(operand.data_type(), DataType::Decimal128(..));
        let mut out = Int32Builder::with_capacity(rows);
        for row in 0..rows {
            if [operand, low, high].iter().any(|a| a.is_null(row)) || count.is_null(row) {
                out.append_null();
                continue;
            }
            let count = count.value(row);
            let bucket = if decimal {
                let value = |a: &ArrayRef| a.as_primitive::<Decimal128Type>().value(row);
                bucket_decimal(value(operand), value(low), value(high), count)?
            } else {
                let value = |a: &ArrayRef| a.as_primitive::<Float64Type>().value(row);
                bucket_float(value(operand), value(low), value(high), count)?
            };
            out.append_value(bucket);
        }
        columnar(Arc::new(out.finish()), is_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each as PostgreSQL 15 answers it.
    #[test]
    fn buckets_as_postgres_counts_them() {
        assert_eq!(bucket_float(5.0, 0.0, 10.0, 5).unwrap(), 3);
        assert_eq!(bucket_float(-1.0, 0.0, 10.0, 5).unwrap(), 0);
        assert_eq!(bucket_float(10.0, 0.0, 10.0, 5).unwrap(), 6);
        assert_eq!(bucket_float(3.0, 10.0, 0.0, 5).unwrap(), 4);
        assert_eq!(bucket_float(0.0, 10.0, 0.0, 5).unwrap(), 6);
        assert_eq!(bucket_float(11.0, 10.0, 0.0, 5).unwrap(), 0);
        // 0.3 / 0.9 rounds above a third: bucket 2, as PostgreSQL 15.18.
        assert_eq!(bucket_float(0.3, 0.0, 0.9, 3).unwrap(), 2);
        assert_eq!(bucket_float(2.0, 0.0, 3.0, 3).unwrap(), 3);
        assert_eq!(bucket_float(1e308, -1e308, 1e308, 10).unwrap(), 11);
        assert_eq!(bucket_float(0.0, -1e308, 1e308, 10).unwrap(), 6);
        assert_eq!(bucket_float(f64::INFINITY, 0.0, 10.0, 5).unwrap(), 6);
        // 5.35 in 0.024 .. 10.06, at scale 3.
        assert_eq!(bucket_decimal(5350, 24, 10060, 5).unwrap(), 3);
        assert_eq!(bucket_decimal(3000, 10000, 0, 5).unwrap(), 4);
    }

    #[test]
    fn refusals_are_postgres_errors() {
        assert!(bucket_float(1.0, 0.0, 10.0, 0).is_err());
        assert!(bucket_float(1.0, 1.0, 1.0, 3).is_err());
        assert!(bucket_float(f64::NAN, 0.0, 10.0, 5).is_err());
        assert!(bucket_float(1.0, 0.0, f64::INFINITY, 5).is_err());
        assert!(bucket_float(10.0, 0.0, 10.0, i32::MAX).is_err());
        assert!(bucket_decimal(1, 0, 10, -1).is_err());
        assert!(bucket_decimal(i128::MAX / 2, 0, i128::MAX, 5).is_err());
    }
}
