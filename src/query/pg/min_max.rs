//! `max` and `min` with PostgreSQL's order of floats.
//!
//! PostgreSQL orders `NaN` above every number, `Infinity` included. The
//! grouped `max`/`min` of DataFusion 55 start each group at the type's
//! finite extreme (`f64::MIN`), so a group of only `-Infinity` answers
//! `-1.797e308`, and compare with `partial_cmp`, so a `NaN` is kept or lost
//! depending on the order rows arrive in. These wrap DataFusion's and
//! replace only their grouped float accumulators; everything else (the
//! ungrouped accumulators, which order floats totally with `NaN` last,
//! statistics, sort hints) is DataFusion's.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef, Float32Type, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, GroupsAccumulator, ReversedUDAF,
    SetMonotonicity, Signature, StatisticsArgs,
};
use datafusion_functions_aggregate_common::aggregate::groups_accumulator::prim_op::PrimitiveGroupsAccumulator;

/// Which of the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Extreme {
    Max,
    Min,
}

/// PostgreSQL's `max` or `min`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct PgMinMax {
    extreme: Extreme,
    inner: Arc<AggregateUDF>,
}

impl PgMinMax {
    pub(crate) fn max() -> AggregateUDF {
        AggregateUDF::new_from_impl(Self {
            extreme: Extreme::Max,
            inner: max_udaf(),
        })
    }

    pub(crate) fn min() -> AggregateUDF {
        AggregateUDF::new_from_impl(Self {
            extreme: Extreme::Min,
            inner: min_udaf(),
        })
    }

    fn wrapped(&self) -> &dyn AggregateUDFImpl {
        self.inner.inner().as_ref()
    }
}

/// `a` after `b` in PostgreSQL's order of floats: NaN is the greatest and
/// equals itself.
fn after(a: f64, b: f64) -> bool {
    match (a.is_nan(), b.is_nan()) {
        (true, false) => true,
        (false, false) => a > b,
        _ => false,
    }
}

macro_rules! float_accumulator {
    ($data_type:expr, $native:ty, $arrow:ty, $extreme:expr) => {{
        let accumulator: Box<dyn GroupsAccumulator> = match $extreme {
            Extreme::Max => Box::new(
                PrimitiveGroupsAccumulator::<$arrow, _>::new(
                    $data_type,
                    |cur: &mut $native, new| {
                        if after(f64::from(new), f64::from(*cur)) {
                            *cur = new;
                        }
                    },
                )
                .with_starting_value(<$native>::NEG_INFINITY),
            ),
            Extreme::Min => Box::new(
                PrimitiveGroupsAccumulator::<$arrow, _>::new(
                    $data_type,
                    |cur: &mut $native, new| {
                        if after(f64::from(*cur), f64::from(new)) {
                            *cur = new;
                        }
                    },
                )
                .with_starting_value(<$native>::NAN),
            ),
        };
        Ok(accumulator)
    }};
}

impl AggregateUDFImpl for PgMinMax {
    fn name(&self) -> &str {
        self.wrapped().name()
    }

    fn signature(&self) -> &Signature {
        self.wrapped().signature()
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
        let data_type = args.return_field.data_type().clone();
        match data_type {
            DataType::Float64 => float_accumulator!(&data_type, f64, Float64Type, self.extreme),
            DataType::Float32 => float_accumulator!(&data_type, f32, Float32Type, self.extreme),
            _ => self.wrapped().create_groups_accumulator(args),
        }
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

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.wrapped().coerce_types(arg_types)
    }

    fn is_descending(&self) -> Option<bool> {
        self.wrapped().is_descending()
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs<'_>) -> Option<ScalarValue> {
        self.wrapped().value_from_stats(statistics_args)
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.wrapped().default_value(data_type)
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
    fn nan_is_after_every_number_and_equal_to_itself() {
        assert!(after(f64::NAN, f64::INFINITY));
        assert!(!after(f64::INFINITY, f64::NAN));
        assert!(!after(f64::NAN, f64::NAN));
        assert!(after(1.0, f64::NEG_INFINITY));
        assert!(!after(-0.0, 0.0));
    }
}
