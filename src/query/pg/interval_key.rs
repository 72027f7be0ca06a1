//! Intervals compared as PostgreSQL compares them: by one number, a month
//! counted as 30 days and a day as 24 hours, so `interval '1 month' =
//! interval '30 days'` and `interval '1 day' = interval '24 hours'`.
//! Arrow compares an interval's months, days and nanoseconds field by
//! field, and a timestamp difference (a duration) not at all against an
//! interval. [`IntervalKey`] maps each interval or duration to that number
//! (in nanoseconds, as a 128-bit decimal, which no interval overflows); the
//! [`semantics`](super::semantics) rule compares, sorts and counts
//! distinct intervals by it.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Decimal128Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNanoType, IntervalUnit, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;
const KEY_TYPE: DataType = DataType::Decimal128(38, 0);

/// Whether `data_type` is compared by its [`IntervalKey`].
pub(crate) fn is_interval(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Interval(_) | DataType::Duration(_))
}

/// `expr`, an interval or duration, as the number it compares by.
pub(crate) fn interval_key(expr: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(IntervalKey::new())),
        vec![expr],
    ))
}

/// The function; see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct IntervalKey {
    signature: Signature,
}

impl IntervalKey {
    fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IntervalKey {
    fn name(&self) -> &str {
        "epochdb_interval_key"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(KEY_TYPE)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("epochdb_interval_key takes one argument");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let keys = keys(&value.into_array(1)?)?;
        Ok(if is_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&keys, 0)?)
        } else {
            ColumnarValue::Array(keys)
        })
    }
}

/// The key of every value of `array`.
fn keys(array: &ArrayRef) -> Result<ArrayRef> {
    let parts = match array.data_type() {
        DataType::Duration(_) => cast(
            &cast(array, &DataType::Duration(TimeUnit::Nanosecond))?,
            &DataType::Interval(IntervalUnit::MonthDayNano),
        )?,
        DataType::Interval(_) => cast(array, &DataType::Interval(IntervalUnit::MonthDayNano))?,
        other => return exec_err!("epochdb_interval_key cannot key {other}"),
    };
    let keys: Decimal128Array = parts
        .as_primitive::<IntervalMonthDayNanoType>()
        .iter()
        .map(|v| {
            v.map(|v| {
                (i128::from(v.months) * 30 + i128::from(v.days)) * NANOS_PER_DAY
                    + i128::from(v.nanoseconds)
            })
        })
        .collect();
    Ok(Arc::new(keys.with_data_type(KEY_TYPE)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{DurationNanosecondArray, IntervalMonthDayNanoArray};
    use datafusion::arrow::datatypes::{Decimal128Type, IntervalMonthDayNano};

    fn key_values(array: ArrayRef) -> Vec<Option<i128>> {
        keys(&array)
            .unwrap()
            .as_primitive::<Decimal128Type>()
            .iter()
            .collect()
    }

    #[test]
    fn a_month_is_thirty_days_and_a_day_24_hours() {
        let hour = 3_600_000_000_000;
        let intervals = Arc::new(IntervalMonthDayNanoArray::from(vec![
            Some(IntervalMonthDayNano::new(1, 0, 0)),
            Some(IntervalMonthDayNano::new(0, 30, 0)),
            Some(IntervalMonthDayNano::new(0, 0, 720 * hour)),
            Some(IntervalMonthDayNano::new(0, -1, hour)),
            None,
        ]));
        let k = key_values(intervals);
        assert_eq!(k[0], k[1]);
        assert_eq!(k[1], k[2]);
        assert_eq!(k[3], Some(-23 * i128::from(hour)));
        assert_eq!(k[4], None);
        let durations = Arc::new(DurationNanosecondArray::from(vec![24 * hour]));
        assert_eq!(key_values(durations), vec![Some(NANOS_PER_DAY)]);
    }
}
