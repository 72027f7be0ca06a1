//! `sum` with PostgreSQL's result types: the sum of bigints is a numeric,
//! which never overflows (DataFusion's is a bigint that wraps around). The
//! sums of smaller integers stay bigints, as in PostgreSQL. Everything but
//! the argument types is DataFusion's `sum`: bigints are cast to a numeric
//! of 38 digits, which holds any sum of them, before they are added.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, GroupsAccumulator, ReversedUDAF,
    SetMonotonicity, Signature, StatisticsArgs, Volatility,
};

/// The numeric a bigint sum adds in.
const BIGINT_SUM: DataType = DataType::Decimal128(38, 0);

/// PostgreSQL's `sum`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct PgSum {
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

impl PgSum {
    pub(crate) fn udaf() -> AggregateUDF {
        AggregateUDF::new_from_impl(Self {
            inner: sum_udaf(),
            signature: Signature::user_defined(Volatility::Immutable),
        })
    }

    fn wrapped(&self) -> &dyn AggregateUDFImpl {
        self.inner.inner().as_ref()
    }
}

/// The type `sum` adds a value of `data_type` in.
fn addend_type(data_type: &DataType) -> Result<DataType> {
    Ok(match data_type {
        DataType::Int64 => BIGINT_SUM,
        DataType::Null | DataType::Int8 | DataType::Int16 | DataType::Int32 => DataType::Int64,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            DataType::UInt64
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => DataType::Float64,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..)
        | DataType::Duration(_)
        | DataType::Interval(_) => data_type.clone(),
        DataType::Dictionary(_, value) => return addend_type(value),
        other => return plan_err!("function sum({other}) does not exist"),
    })
}

impl AggregateUDFImpl for PgSum {
    fn name(&self) -> &str {
        self.wrapped().name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [one] => Ok(vec![addend_type(one)?]),
            _ => plan_err!("sum takes one argument"),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.wrapped().return_type(arg_types)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        self.wrapped().accumulator(acc_args)
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        self.wrapped().state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs<'_>) -> bool {
        self.wrapped().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs<'_>,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        self.wrapped().create_groups_accumulator(args)
    }

    fn create_sliding_accumulator(
        &self,
        args: AccumulatorArgs<'_>,
    ) -> Result<Box<dyn Accumulator>> {
        self.wrapped().create_sliding_accumulator(args)
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.wrapped().order_sensitivity()
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs<'_>) -> Option<ScalarValue> {
        self.wrapped().value_from_stats(statistics_args)
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.wrapped().set_monotonicity(data_type)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.wrapped().documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigints_add_as_numerics_and_smaller_integers_as_bigints() {
        let sum = PgSum::udaf();
        let coerced = sum.coerce_types(&[DataType::Int64]).unwrap();
        assert_eq!(coerced, vec![BIGINT_SUM]);
        assert_eq!(sum.return_type(&coerced).unwrap(), BIGINT_SUM);
        let coerced = sum.coerce_types(&[DataType::Int32]).unwrap();
        assert_eq!(sum.return_type(&coerced).unwrap(), DataType::Int64);
        let coerced = sum.coerce_types(&[DataType::Float32]).unwrap();
        assert_eq!(sum.return_type(&coerced).unwrap(), DataType::Float64);
        assert!(sum.coerce_types(&[DataType::Utf8]).is_err());
    }
}
