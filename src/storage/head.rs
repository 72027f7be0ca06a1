//! The mutable, uncompressed columnar head of one series.
//!
//! Points are appended in arrival order. The head remembers whether they are
//! still in time order; if a late point arrived, a read sorts a copy (stably, so
//! rows with equal timestamps keep their arrival order). The compressed sealed
//! blocks of the storage-engine issue will sit behind this head.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float32Array, Float64Array, Int16Array, Int32Array,
    Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
};

use super::schema::{ColumnType, UTC};
use super::{Error, Result};

/// Values of one field column, with NULLs.
#[derive(Debug, Clone)]
pub(crate) enum FieldValues {
    Float64(Vec<Option<f64>>),
    Float32(Vec<Option<f32>>),
    Int64(Vec<Option<i64>>),
    Int32(Vec<Option<i32>>),
    Int16(Vec<Option<i16>>),
    Boolean(Vec<Option<bool>>),
    Utf8(Vec<Option<String>>),
    /// Microseconds; `with_time_zone` picks TIMESTAMPTZ over TIMESTAMP.
    Timestamp {
        values: Vec<Option<i64>>,
        with_time_zone: bool,
    },
}

impl FieldValues {
    pub(crate) fn new(column_type: ColumnType) -> Self {
        match column_type {
            ColumnType::Float64 => FieldValues::Float64(Vec::new()),
            ColumnType::Float32 => FieldValues::Float32(Vec::new()),
            ColumnType::Int64 => FieldValues::Int64(Vec::new()),
            ColumnType::Int32 => FieldValues::Int32(Vec::new()),
            ColumnType::Int16 => FieldValues::Int16(Vec::new()),
            ColumnType::Boolean => FieldValues::Boolean(Vec::new()),
            ColumnType::Utf8 => FieldValues::Utf8(Vec::new()),
            ColumnType::Timestamp { with_time_zone } => FieldValues::Timestamp {
                values: Vec::new(),
                with_time_zone,
            },
        }
    }

    /// Appends `array[row]`. The caller has checked that the array's type matches.
    fn push(&mut self, array: &dyn Array, row: usize) -> Result<()> {
        let valid = array.is_valid(row);
        macro_rules! push_primitive {
            ($values:expr, $t:ty) => {{
                let typed = array
                    .as_primitive_opt::<$t>()
                    .ok_or_else(|| type_mismatch(array))?;
                $values.push(valid.then(|| typed.value(row)));
            }};
        }
        match self {
            FieldValues::Float64(values) => push_primitive!(values, Float64Type),
            FieldValues::Float32(values) => push_primitive!(values, Float32Type),
            FieldValues::Int64(values) => push_primitive!(values, Int64Type),
            FieldValues::Int32(values) => push_primitive!(values, Int32Type),
            FieldValues::Int16(values) => push_primitive!(values, Int16Type),
            FieldValues::Timestamp { values, .. } => {
                push_primitive!(values, TimestampMicrosecondType)
            }
            FieldValues::Boolean(values) => {
                let typed = array.as_boolean_opt().ok_or_else(|| type_mismatch(array))?;
                values.push(valid.then(|| typed.value(row)));
            }
            FieldValues::Utf8(values) => {
                let typed = array
                    .as_string_opt::<i32>()
                    .ok_or_else(|| type_mismatch(array))?;
                values.push(valid.then(|| typed.value(row).to_owned()));
            }
        }
        Ok(())
    }

    /// Builds an Arrow array of the rows at `order`.
    fn to_array(&self, order: &[usize]) -> ArrayRef {
        fn pick<T: Clone>(values: &[Option<T>], order: &[usize]) -> Vec<Option<T>> {
            order.iter().map(|&i| values[i].clone()).collect()
        }
        match self {
            FieldValues::Float64(v) => Arc::new(Float64Array::from(pick(v, order))),
            FieldValues::Float32(v) => Arc::new(Float32Array::from(pick(v, order))),
            FieldValues::Int64(v) => Arc::new(Int64Array::from(pick(v, order))),
            FieldValues::Int32(v) => Arc::new(Int32Array::from(pick(v, order))),
            FieldValues::Int16(v) => Arc::new(Int16Array::from(pick(v, order))),
            FieldValues::Boolean(v) => Arc::new(BooleanArray::from(pick(v, order))),
            FieldValues::Timestamp {
                values,
                with_time_zone,
            } => Arc::new(
                TimestampMicrosecondArray::from(pick(values, order))
                    .with_timezone_opt(with_time_zone.then_some(UTC)),
            ),
            FieldValues::Utf8(v) => Arc::new(
                order
                    .iter()
                    .map(|&i| v[i].as_deref())
                    .collect::<StringArray>(),
            ),
        }
    }

    fn approximate_bytes(&self) -> usize {
        match self {
            FieldValues::Float64(v) => v.capacity() * size_of::<Option<f64>>(),
            FieldValues::Float32(v) => v.capacity() * size_of::<Option<f32>>(),
            FieldValues::Int64(v) => v.capacity() * size_of::<Option<i64>>(),
            FieldValues::Int32(v) => v.capacity() * size_of::<Option<i32>>(),
            FieldValues::Int16(v) => v.capacity() * size_of::<Option<i16>>(),
            FieldValues::Boolean(v) => v.capacity() * size_of::<Option<bool>>(),
            FieldValues::Timestamp { values, .. } => values.capacity() * size_of::<Option<i64>>(),
            FieldValues::Utf8(v) => {
                v.capacity() * size_of::<Option<String>>()
                    + v.iter().flatten().map(String::capacity).sum::<usize>()
            }
        }
    }
}

fn type_mismatch(array: &dyn Array) -> Error {
    Error::Internal {
        reason: format!("unexpected array type {} in write", array.data_type()),
    }
}

/// The points of one series that have not been sealed yet.
#[derive(Debug, Clone)]
pub(crate) struct HeadBlock {
    times: Vec<i64>,
    fields: Vec<FieldValues>,
    /// `true` while `times` is non-decreasing.
    in_order: bool,
}

impl HeadBlock {
    pub(crate) fn new(field_types: &[ColumnType]) -> Self {
        Self {
            times: Vec::new(),
            fields: field_types.iter().map(|&t| FieldValues::new(t)).collect(),
            in_order: true,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }

    /// Appends one point: `time`, then `fields[i][row]` for each field column.
    pub(crate) fn push(&mut self, time: i64, fields: &[&dyn Array], row: usize) -> Result<()> {
        // `Table::write` has checked the column types, so `push` cannot fail half-way.
        for (values, array) in self.fields.iter_mut().zip(fields) {
            values.push(*array, row)?;
        }
        if self.times.last().is_some_and(|&last| time < last) {
            self.in_order = false;
        }
        self.times.push(time);
        Ok(())
    }

    /// The row order that yields the points sorted by time, stable for equal times.
    fn time_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.times.len()).collect();
        if !self.in_order {
            order.sort_by_key(|&i| self.times[i]);
        }
        order
    }

    /// The time column, then the field columns (those selected by `fields`, in that
    /// order), sorted by time.
    pub(crate) fn to_arrays(
        &self,
        time_zone: Option<&str>,
        fields: &[usize],
    ) -> (ArrayRef, Vec<ArrayRef>) {
        let order = self.time_order();
        let times = TimestampMicrosecondArray::from(
            order.iter().map(|&i| self.times[i]).collect::<Vec<_>>(),
        );
        let times = Arc::new(times.with_timezone_opt(time_zone)) as ArrayRef;
        let fields = fields
            .iter()
            .map(|&f| self.fields[f].to_array(&order))
            .collect();
        (times, fields)
    }

    pub(crate) fn approximate_bytes(&self) -> usize {
        self.times.capacity() * size_of::<i64>()
            + self
                .fields
                .iter()
                .map(FieldValues::approximate_bytes)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_points_are_returned_in_time_order_and_ties_keep_arrival_order() {
        let mut head = HeadBlock::new(&[ColumnType::Int64]);
        let values = Int64Array::from(vec![Some(1), Some(2), None, Some(4)]);
        for (row, time) in [30, 10, 20, 10].into_iter().enumerate() {
            head.push(time, &[&values], row).unwrap();
        }
        let (times, fields) = head.to_arrays(None, &[0]);
        let times = times.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(times.values().to_vec(), vec![10, 10, 20, 30]);
        let fields = fields[0].as_primitive::<Int64Type>();
        assert_eq!(
            fields.iter().collect::<Vec<_>>(),
            vec![Some(2), Some(4), None, Some(1)]
        );
    }
}
