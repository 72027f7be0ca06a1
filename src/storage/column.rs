//! The uncompressed column vocabulary shared by heads and sealed blocks: a
//! field column's values with their validity, and the time column as Arrow.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
};

use super::error::{Error, Result};
use super::schema::{ColumnType, UTC};

/// Values of one field column. NULL rows hold a default value; `validity`
/// tells them apart.
#[derive(Debug, Clone)]
pub(crate) enum Values {
    Float64(Vec<f64>),
    Float32(Vec<f32>),
    Int64(Vec<i64>),
    Int32(Vec<i32>),
    Int16(Vec<i16>),
    Boolean(Vec<bool>),
    Utf8(Vec<Box<str>>),
    Binary(Vec<Box<[u8]>>),
    /// Days since 1970-01-01.
    Date(Vec<i32>),
    /// Microseconds; `with_time_zone` picks TIMESTAMPTZ over TIMESTAMP.
    Timestamp {
        values: Vec<i64>,
        with_time_zone: bool,
    },
}

/// One field column of a head: values plus validity.
#[derive(Debug, Clone)]
pub(crate) struct FieldColumn {
    pub(crate) values: Values,
    /// `validity[i]` is false where row `i` is NULL. Empty while the column
    /// has no NULL, so a column without NULLs pays nothing for it.
    pub(crate) validity: Vec<bool>,
    pub(crate) null_count: usize,
}

impl FieldColumn {
    pub(crate) fn new(column_type: ColumnType) -> Self {
        let values = match column_type.physical() {
            ColumnType::Float64 => Values::Float64(Vec::new()),
            ColumnType::Float32 => Values::Float32(Vec::new()),
            ColumnType::Int64 => Values::Int64(Vec::new()),
            ColumnType::Int32 => Values::Int32(Vec::new()),
            ColumnType::Int16 => Values::Int16(Vec::new()),
            ColumnType::Boolean => Values::Boolean(Vec::new()),
            ColumnType::Utf8 => Values::Utf8(Vec::new()),
            ColumnType::Date => Values::Date(Vec::new()),
            ColumnType::Bytea => Values::Binary(Vec::new()),
            ColumnType::Json | ColumnType::Jsonb | ColumnType::Uuid => Values::Utf8(Vec::new()),
            ColumnType::Timestamp { with_time_zone } => Values::Timestamp {
                values: Vec::new(),
                with_time_zone,
            },
        };
        Self {
            values,
            validity: Vec::new(),
            null_count: 0,
        }
    }

    /// Appends `array[range]`, a column at a time. The caller has checked
    /// that the array's type matches.
    pub(crate) fn extend(&mut self, array: &dyn Array, range: Range<usize>) -> Result<()> {
        let (start, len) = (range.start, range.len());
        macro_rules! extend_primitive {
            ($values:expr, $t:ty) => {{
                let typed = array
                    .as_primitive_opt::<$t>()
                    .ok_or_else(|| type_mismatch(array))?;
                // NULL slots keep whatever Arrow holds there; validity says
                // they are NULL.
                $values.extend_from_slice(&typed.values()[range.clone()]);
            }};
        }
        match &mut self.values {
            Values::Float64(values) => extend_primitive!(values, Float64Type),
            Values::Float32(values) => extend_primitive!(values, Float32Type),
            Values::Int64(values) => extend_primitive!(values, Int64Type),
            Values::Int32(values) => extend_primitive!(values, Int32Type),
            Values::Int16(values) => extend_primitive!(values, Int16Type),
            Values::Date(values) => extend_primitive!(values, Date32Type),
            Values::Timestamp { values, .. } => {
                extend_primitive!(values, TimestampMicrosecondType)
            }
            Values::Boolean(values) => {
                let typed = array.as_boolean_opt().ok_or_else(|| type_mismatch(array))?;
                values.extend(range.clone().map(|i| typed.value(i)));
            }
            Values::Utf8(values) => {
                let typed = array
                    .as_string_opt::<i32>()
                    .ok_or_else(|| type_mismatch(array))?;
                values.extend(range.clone().map(|i| Box::from(typed.value(i))));
            }
            Values::Binary(values) => {
                let typed = array
                    .as_binary_opt::<i32>()
                    .ok_or_else(|| type_mismatch(array))?;
                values.extend(range.clone().map(|i| Box::from(typed.value(i))));
            }
        }
        let nulls = array.nulls().map(|n| n.slice(start, len));
        let new_nulls = nulls.as_ref().map_or(0, NullBuffer::null_count);
        if self.null_count > 0 || new_nulls > 0 {
            if self.null_count == 0 {
                // The first NULL: every earlier row was valid.
                self.validity = vec![true; self.len() - len];
            }
            match &nulls {
                Some(nulls) => self.validity.extend(nulls.iter()),
                None => self.validity.extend(std::iter::repeat_n(true, len)),
            }
        }
        self.null_count += new_nulls;
        Ok(())
    }

    /// The values as type `to`, converted as Arrow casts them (used for
    /// widening, where every value converts exactly).
    pub(crate) fn retyped(&self, to: ColumnType) -> Result<FieldColumn> {
        let values = arrow::compute::cast(&self.to_array(), &to.arrow_type())?;
        let mut column = FieldColumn::new(to);
        column.extend(values.as_ref(), 0..values.len())?;
        Ok(column)
    }

    pub(crate) fn len(&self) -> usize {
        match &self.values {
            Values::Float64(v) => v.len(),
            Values::Float32(v) => v.len(),
            Values::Int64(v) => v.len(),
            Values::Int32(v) => v.len(),
            Values::Int16(v) => v.len(),
            Values::Boolean(v) => v.len(),
            Values::Utf8(v) => v.len(),
            Values::Binary(v) => v.len(),
            Values::Date(v) => v.len(),
            Values::Timestamp { values, .. } => values.len(),
        }
    }

    /// Whether row `i` is not NULL.
    pub(crate) fn is_valid(&self, i: usize) -> bool {
        self.validity.get(i).copied().unwrap_or(true)
    }

    /// The rows at `order`, as a new column.
    pub(crate) fn reordered(&self, order: &[usize]) -> FieldColumn {
        fn pick<T: Clone>(values: &[T], order: &[usize]) -> Vec<T> {
            order.iter().map(|&i| values[i].clone()).collect()
        }
        let values = match &self.values {
            Values::Float64(v) => Values::Float64(pick(v, order)),
            Values::Float32(v) => Values::Float32(pick(v, order)),
            Values::Int64(v) => Values::Int64(pick(v, order)),
            Values::Int32(v) => Values::Int32(pick(v, order)),
            Values::Int16(v) => Values::Int16(pick(v, order)),
            Values::Boolean(v) => Values::Boolean(pick(v, order)),
            Values::Utf8(v) => Values::Utf8(pick(v, order)),
            Values::Binary(v) => Values::Binary(pick(v, order)),
            Values::Date(v) => Values::Date(pick(v, order)),
            Values::Timestamp {
                values,
                with_time_zone,
            } => Values::Timestamp {
                values: pick(values, order),
                with_time_zone: *with_time_zone,
            },
        };
        FieldColumn {
            values,
            validity: if self.validity.is_empty() {
                Vec::new()
            } else {
                pick(&self.validity, order)
            },
            null_count: self.null_count,
        }
    }

    /// This column as an Arrow array.
    pub(crate) fn to_array(&self) -> ArrayRef {
        self.array(0..self.len())
    }

    /// Rows `rows` of this column as an Arrow array.
    pub(crate) fn array(&self, rows: Range<usize>) -> ArrayRef {
        let nulls = (self.null_count > 0)
            .then(|| NullBuffer::from(&self.validity[rows.clone()]))
            .filter(|n| n.null_count() > 0);
        match &self.values {
            Values::Float64(v) => Arc::new(Float64Array::new(v[rows].to_vec().into(), nulls)),
            Values::Float32(v) => Arc::new(Float32Array::new(v[rows].to_vec().into(), nulls)),
            Values::Int64(v) => Arc::new(Int64Array::new(v[rows].to_vec().into(), nulls)),
            Values::Int32(v) => Arc::new(Int32Array::new(v[rows].to_vec().into(), nulls)),
            Values::Int16(v) => Arc::new(Int16Array::new(v[rows].to_vec().into(), nulls)),
            Values::Boolean(v) => Arc::new(BooleanArray::new(v[rows].into(), nulls)),
            Values::Date(v) => Arc::new(Date32Array::new(v[rows].to_vec().into(), nulls)),
            Values::Utf8(v) => Arc::new(
                rows.map(|i| self.is_valid(i).then_some(v[i].as_ref()))
                    .collect::<StringArray>(),
            ),
            Values::Binary(v) => Arc::new(
                rows.map(|i| self.is_valid(i).then_some(v[i].as_ref()))
                    .collect::<BinaryArray>(),
            ),
            Values::Timestamp {
                values,
                with_time_zone,
            } => Arc::new(
                TimestampMicrosecondArray::new(values[rows].to_vec().into(), nulls)
                    .with_timezone_opt(with_time_zone.then_some(UTC)),
            ),
        }
    }

    /// Row `row` of each column of `picks`, in order, as one Arrow array:
    /// the newest row of many heads without an array per head. `None` when
    /// `picks` is empty or its columns' types differ.
    pub(crate) fn gather(picks: &[(&FieldColumn, usize)]) -> Option<ArrayRef> {
        let (first, _) = picks.first()?;
        let nulls = (picks.iter().any(|(c, _)| c.null_count > 0))
            .then(|| NullBuffer::from_iter(picks.iter().map(|(c, r)| c.is_valid(*r))))
            .filter(|n| n.null_count() > 0);
        macro_rules! pick {
            ($variant:ident) => {
                picks
                    .iter()
                    .map(|(c, r)| match &c.values {
                        Values::$variant(v) => v.get(*r).copied(),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?
            };
        }
        // Boxed values (text, bytes), NULL where the row is.
        macro_rules! pick_boxed {
            ($variant:ident) => {
                picks
                    .iter()
                    .map(|(c, r)| match &c.values {
                        Values::$variant(v) => {
                            Some(c.is_valid(*r).then(|| v.get(*r)).flatten().map(|b| &**b))
                        }
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?
            };
        }
        Some(match &first.values {
            Values::Float64(_) => Arc::new(Float64Array::new(pick!(Float64).into(), nulls)),
            Values::Float32(_) => Arc::new(Float32Array::new(pick!(Float32).into(), nulls)),
            Values::Int64(_) => Arc::new(Int64Array::new(pick!(Int64).into(), nulls)),
            Values::Int32(_) => Arc::new(Int32Array::new(pick!(Int32).into(), nulls)),
            Values::Int16(_) => Arc::new(Int16Array::new(pick!(Int16).into(), nulls)),
            Values::Boolean(_) => Arc::new(BooleanArray::new(pick!(Boolean).into(), nulls)),
            Values::Date(_) => Arc::new(Date32Array::new(pick!(Date).into(), nulls)),
            Values::Utf8(_) => Arc::new(pick_boxed!(Utf8).into_iter().collect::<StringArray>()),
            Values::Binary(_) => Arc::new(pick_boxed!(Binary).into_iter().collect::<BinaryArray>()),
            Values::Timestamp { with_time_zone, .. } => {
                let values = (picks.iter())
                    .map(|(c, r)| match &c.values {
                        Values::Timestamp { values, .. } => values.get(*r).copied(),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                Arc::new(
                    TimestampMicrosecondArray::new(values.into(), nulls)
                        .with_timezone_opt(with_time_zone.then_some(UTC)),
                )
            }
        })
    }

    pub(crate) fn approximate_bytes(&self) -> usize {
        let values = match &self.values {
            Values::Float64(v) => v.capacity() * 8,
            Values::Float32(v) => v.capacity() * 4,
            Values::Int64(v) => v.capacity() * 8,
            Values::Int32(v) | Values::Date(v) => v.capacity() * 4,
            Values::Int16(v) => v.capacity() * 2,
            Values::Boolean(v) => v.capacity(),
            Values::Timestamp { values, .. } => values.capacity() * 8,
            Values::Utf8(v) => {
                v.capacity() * size_of::<Box<str>>() + v.iter().map(|s| s.len()).sum::<usize>()
            }
            Values::Binary(v) => {
                v.capacity() * size_of::<Box<[u8]>>() + v.iter().map(|s| s.len()).sum::<usize>()
            }
        };
        values + self.validity.capacity()
    }
}

fn type_mismatch(array: &dyn Array) -> Error {
    Error::Internal {
        reason: format!("unexpected array type {} in write", array.data_type()),
    }
}

impl Values {
    pub(crate) fn column_type(&self) -> ColumnType {
        match self {
            Values::Float64(_) => ColumnType::Float64,
            Values::Float32(_) => ColumnType::Float32,
            Values::Int64(_) => ColumnType::Int64,
            Values::Int32(_) => ColumnType::Int32,
            Values::Int16(_) => ColumnType::Int16,
            Values::Boolean(_) => ColumnType::Boolean,
            Values::Utf8(_) => ColumnType::Utf8,
            Values::Binary(_) => ColumnType::Bytea,
            Values::Date(_) => ColumnType::Date,
            Values::Timestamp { with_time_zone, .. } => ColumnType::Timestamp {
                with_time_zone: *with_time_zone,
            },
        }
    }
}

/// Times as an Arrow array of the table's time type.
pub(crate) fn time_array(times: Vec<i64>, time_zone: Option<&str>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::new(times.into(), None).with_timezone_opt(time_zone))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::compute::concat;
    use proptest::prelude::*;

    fn column(values: &[Option<i64>], column_type: ColumnType) -> FieldColumn {
        let mut column = FieldColumn::new(column_type);
        let array: ArrayRef = match column_type {
            ColumnType::Utf8 => Arc::new(
                (values.iter())
                    .map(|v| v.map(|v| v.to_string()))
                    .collect::<StringArray>(),
            ),
            ColumnType::Float64 => Arc::new(
                (values.iter())
                    .map(|v| v.map(|v| v as f64))
                    .collect::<Float64Array>(),
            ),
            _ => Arc::new(values.iter().copied().collect::<Int64Array>()),
        };
        column
            .extend(array.as_ref(), 0..values.len())
            .expect("types match");
        column
    }

    proptest! {
        /// Gathering rows of many columns gives what cutting each row out
        /// and concatenating them gives, NULLs included.
        #[test]
        fn gather_matches_rows_cut_out_and_concatenated(
            columns in prop::collection::vec(
                prop::collection::vec(prop::option::of(-1000i64..1000), 1..20), 1..8),
            picks in prop::collection::vec((0usize..8, 0usize..20), 1..30),
            kind in 0usize..3,
        ) {
            let column_type = [ColumnType::Int64, ColumnType::Float64, ColumnType::Utf8][kind];
            let columns: Vec<FieldColumn> =
                columns.iter().map(|c| column(c, column_type)).collect();
            let picks: Vec<(&FieldColumn, usize)> = picks
                .iter()
                .map(|&(c, r)| {
                    let c = &columns[c % columns.len()];
                    (c, r % c.len())
                })
                .collect();
            let gathered = FieldColumn::gather(&picks).expect("one type");
            let cut: Vec<ArrayRef> = picks.iter().map(|(c, r)| c.array(*r..*r + 1)).collect();
            let cut: Vec<&dyn Array> = cut.iter().map(AsRef::as_ref).collect();
            let expected = concat(&cut).expect("one type");
            prop_assert_eq!(gathered.to_data(), expected.to_data());
        }
    }

    #[test]
    fn gather_refuses_nothing_and_mixed_types() {
        assert!(FieldColumn::gather(&[]).is_none());
        let ints = column(&[Some(1)], ColumnType::Int64);
        let floats = column(&[Some(1)], ColumnType::Float64);
        assert!(FieldColumn::gather(&[(&ints, 0), (&floats, 0)]).is_none());
    }
}
