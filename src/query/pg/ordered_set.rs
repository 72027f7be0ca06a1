//! The ordered-set aggregates `mode() WITHIN GROUP (ORDER BY x)` and
//! `percentile_disc(f) WITHIN GROUP (ORDER BY x)`, as PostgreSQL computes
//! them. DataFusion's planner hands an aggregate that takes a `WITHIN GROUP`
//! clause its ordering value as the first argument (the direct arguments
//! follow) and the ordering itself, and leaves the sorting to it (as its
//! `percentile_cont` does). NULLs are ignored.
//!
//! - `mode`: the most frequent value; of several, the first in the order
//!   (the smallest ascending, the largest descending).
//! - `percentile_disc(f)`: the first value, in the order, whose position
//!   reaches the fraction `f` of the values (`f` in [0, 1], else 22003).
//!
//! The array form `percentile_disc(array[...])` is not supported.

use std::mem::size_of_val;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::{SortOptions, cast, concat, sort_to_indices, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use crate::query::error::Error;

/// Which aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Mode,
    PercentileDisc,
}

/// The two aggregates.
pub(crate) fn udafs() -> [AggregateUDF; 2] {
    [Kind::Mode, Kind::PercentileDisc].map(|kind| {
        AggregateUDF::new_from_impl(OrderedSet {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OrderedSet {
    kind: Kind,
    signature: Signature,
}

impl AggregateUDFImpl for OrderedSet {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Mode => "mode",
            Kind::PercentileDisc => "percentile_disc",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match (self.kind, arg_types) {
            (Kind::Mode, [value]) => Ok(vec![value.clone()]),
            (Kind::PercentileDisc, [value, fraction])
                if fraction.is_numeric() || fraction.is_null() =>
            {
                Ok(vec![value.clone(), DataType::Float64])
            }
            // Refused when typed, where the refusal keeps its code.
            (Kind::PercentileDisc, [value, fractions @ DataType::List(_)]) => {
                Ok(vec![value.clone(), fractions.clone()])
            }
            _ => {
                let names: Vec<String> = arg_types
                    .iter()
                    .map(crate::pgtype::arrow_type_name)
                    .collect();
                Err(Error::UndefinedFunction {
                    message: format!(
                        "function {}({}) does not exist",
                        self.name(),
                        names.join(", ")
                    ),
                }
                .into())
            }
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if let Some(DataType::List(_)) = arg_types.get(1) {
            return Err(Error::Unsupported {
                what: "percentile_disc of an array of fractions".into(),
            }
            .into());
        }
        match arg_types.first() {
            Some(t) => Ok(t.clone()),
            None => exec_err!("{} needs WITHIN GROUP (ORDER BY ...)", self.name()),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        let value = args
            .input_fields
            .first()
            .map_or(DataType::Null, |f| f.data_type().clone());
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "values"),
                DataType::List(Arc::new(Field::new_list_field(value, true))),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "fraction"),
                DataType::Float64,
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        let Some(order) = args.order_bys.first() else {
            return Err(Error::Unsupported {
                what: format!("{} without WITHIN GROUP (ORDER BY ...)", self.name()),
            }
            .into());
        };
        let data_type = args
            .expr_fields
            .first()
            .map_or(DataType::Null, |f| f.data_type().clone());
        Ok(Box::new(OrderedSetAccumulator {
            kind: self.kind,
            data_type,
            options: SortOptions {
                descending: order.options.descending,
                nulls_first: false,
            },
            values: Vec::new(),
            fraction: None,
        }))
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct OrderedSetAccumulator {
    kind: Kind,
    data_type: DataType,
    options: SortOptions,
    /// The non-null values seen, in batches.
    values: Vec<ArrayRef>,
    /// `percentile_disc`'s fraction, once seen.
    fraction: Option<f64>,
}

impl OrderedSetAccumulator {
    fn keep(&mut self, values: &ArrayRef) {
        if values.len() > values.null_count() {
            self.values.push(Arc::clone(values));
        }
    }

    fn see_fraction(&mut self, fractions: &ArrayRef) -> Result<()> {
        if self.fraction.is_none() {
            let fractions = cast(fractions, &DataType::Float64)?;
            let fractions = fractions.as_primitive::<Float64Type>();
            self.fraction = fractions.iter().flatten().next();
        }
        Ok(())
    }

    /// The values, sorted in the order, NULLs left out.
    fn sorted(&self) -> Result<Option<ArrayRef>> {
        if self.values.is_empty() {
            return Ok(None);
        }
        let parts: Vec<&dyn Array> = self.values.iter().map(|a| a.as_ref()).collect();
        let all = concat(&parts)?;
        let indices = sort_to_indices(&all, Some(self.options), None)?;
        let sorted = take(&all, &indices, None)?;
        let present = sorted.len() - sorted.null_count();
        Ok((present > 0).then(|| sorted.slice(0, present)))
    }
}

impl Accumulator for OrderedSetAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(first) = values.first() else {
            return Ok(());
        };
        self.keep(first);
        if let Some(fractions) = values.get(1) {
            self.see_fraction(fractions)?;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [lists, fractions] = states else {
            return exec_err!("an ordered-set aggregate's state has two parts");
        };
        for list in lists.as_list::<i32>().iter().flatten() {
            self.keep(&list);
        }
        self.see_fraction(fractions)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values = match self.sorted()? {
            Some(sorted) => sorted,
            None => ScalarValue::try_from(&self.data_type)?.to_array_of_size(0)?,
        };
        let list = ScalarValue::List(Arc::new(
            datafusion::common::utils::SingleRowListArrayBuilder::new(values)
                .with_nullable(true)
                .build_list_array(),
        ));
        Ok(vec![list, ScalarValue::Float64(self.fraction)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let null = ScalarValue::try_from(&self.data_type)?;
        if self.kind == Kind::PercentileDisc {
            let Some(fraction) = self.fraction else {
                return Ok(null);
            };
            if !(0.0..=1.0).contains(&fraction) {
                return Err(Error::NumericOutOfRange {
                    message: format!("percentile value {fraction} is not between 0 and 1"),
                }
                .into());
            }
            let Some(sorted) = self.sorted()? else {
                return Ok(null);
            };
            let n = sorted.len();
            let row = (fraction * n as f64).ceil() as usize;
            let index = row.clamp(1, n) - 1;
            return ScalarValue::try_from_array(&sorted, index);
        }
        let Some(sorted) = self.sorted()? else {
            return Ok(null);
        };
        let mut best: Option<(usize, ScalarValue)> = None;
        let mut run: Option<(usize, ScalarValue)> = None;
        for i in 0..sorted.len() {
            let value = ScalarValue::try_from_array(&sorted, i)?;
            run = match run {
                Some((count, current)) if current == value => Some((count + 1, current)),
                _ => Some((1, value)),
            };
            if let Some((count, current)) = &run
                && best.as_ref().is_none_or(|(b, _)| count > b)
            {
                best = Some((*count, current.clone()));
            }
        }
        Ok(best.map_or(null, |(_, value)| value))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .values
                .iter()
                .map(|a| a.get_array_memory_size())
                .sum::<usize>()
    }
}
