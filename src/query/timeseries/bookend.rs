//! `first(value, time)` and `last(value, time)`, TimescaleDB's "bookend"
//! aggregates: the value of the row with the smallest (or largest) time.
//!
//! Rows whose time is NULL are skipped; a NULL value at the chosen time is the
//! answer, as in TimescaleDB. Of rows with equal times, the first one read
//! wins. The time may be of any ordered type. Partial aggregates merge by the
//! same rule, so the answer does not depend on how the input was split.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, make_comparator};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

/// Which end of the time order an aggregate keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum End {
    First,
    Last,
}

impl End {
    /// Whether a row at time order `ordering` (against the best so far)
    /// replaces it.
    fn prefers(self, ordering: Ordering) -> bool {
        match self {
            End::First => ordering == Ordering::Less,
            End::Last => ordering == Ordering::Greater,
        }
    }
}

/// The `first` or `last` aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Bookend {
    end: End,
    signature: Signature,
}

impl Bookend {
    pub(crate) fn first() -> Self {
        Self::new(End::First)
    }

    pub(crate) fn last() -> Self {
        Self::new(End::Last)
    }

    fn new(end: End) -> Self {
        Self {
            end,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for Bookend {
    fn name(&self) -> &str {
        match self.end {
            End::First => "first",
            End::Last => "last",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn accumulator(&self, args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(BookendAccumulator {
            end: self.end,
            value: ScalarValue::try_from(args.expr_fields[0].data_type())?,
            time: ScalarValue::try_from(args.expr_fields[1].data_type())?,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "value"),
                args.input_fields[0].data_type().clone(),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "time"),
                args.input_fields[1].data_type().clone(),
                true,
            )),
        ])
    }
}

/// The best row so far: its value and its time (NULL before any row).
#[derive(Debug)]
struct BookendAccumulator {
    end: End,
    value: ScalarValue,
    time: ScalarValue,
}

impl BookendAccumulator {
    /// Takes the best row of `values` and `times` if it beats the one held.
    fn offer(&mut self, values: &ArrayRef, times: &ArrayRef) -> Result<()> {
        let compare = make_comparator(times, times, SortOptions::default())?;
        let mut best: Option<usize> = None;
        for row in 0..times.len() {
            if times.is_null(row) {
                continue;
            }
            best = match best {
                Some(b) if !self.end.prefers(compare(row, b)) => Some(b),
                _ => Some(row),
            };
        }
        let Some(row) = best else {
            return Ok(());
        };
        let time = ScalarValue::try_from_array(times, row)?;
        let better = self.time.is_null()
            || time
                .partial_cmp(&self.time)
                .is_some_and(|ordering| self.end.prefers(ordering));
        if better {
            self.time = time;
            self.value = ScalarValue::try_from_array(values, row)?;
        }
        Ok(())
    }
}

impl Accumulator for BookendAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.offer(&values[0], &values[1])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.offer(&states[0], &states[1])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.value.clone(), self.time.clone()])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.value.clone())
    }

    fn size(&self) -> usize {
        size_of_val(self) - size_of::<ScalarValue>() * 2 + self.value.size() + self.time.size()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, Int64Array};

    use super::*;

    /// One batch: values and their times.
    type Batch = (Vec<Option<f64>>, Vec<Option<i64>>);

    fn run(end: End, batches: &[Batch]) -> ScalarValue {
        let mut acc = BookendAccumulator {
            end,
            value: ScalarValue::Float64(None),
            time: ScalarValue::Int64(None),
        };
        for (values, times) in batches {
            let values: ArrayRef = Arc::new(Float64Array::from(values.clone()));
            let times: ArrayRef = Arc::new(Int64Array::from(times.clone()));
            acc.update_batch(&[values, times]).unwrap();
        }
        acc.evaluate().unwrap()
    }

    #[test]
    fn keeps_the_value_at_the_smallest_or_largest_time() {
        let batches = [
            (
                vec![Some(1.0), Some(2.0), Some(9.0)],
                vec![Some(5), Some(3), None],
            ),
            (vec![None, Some(4.0)], vec![Some(7), Some(3)]),
        ];
        assert_eq!(run(End::First, &batches), ScalarValue::Float64(Some(2.0)));
        // The largest time's value is NULL, and NULL is the answer.
        assert_eq!(run(End::Last, &batches), ScalarValue::Float64(None));
        assert_eq!(
            run(End::Last, &batches[..1]),
            ScalarValue::Float64(Some(1.0))
        );
        assert_eq!(run(End::First, &[]), ScalarValue::Float64(None));
    }

    #[test]
    fn partial_states_merge_by_the_same_rule() {
        let mut whole = BookendAccumulator {
            end: End::Last,
            value: ScalarValue::Float64(None),
            time: ScalarValue::Int64(None),
        };
        let states: [ArrayRef; 2] = [
            Arc::new(Float64Array::from(vec![Some(1.0), None, Some(3.0)])),
            Arc::new(Int64Array::from(vec![Some(10), None, Some(30)])),
        ];
        whole.merge_batch(&states).unwrap();
        assert_eq!(whole.evaluate().unwrap(), ScalarValue::Float64(Some(3.0)));
    }
}
