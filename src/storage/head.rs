//! The mutable, uncompressed columnar head of one series in one shard.
//!
//! Points are appended in arrival order. The head remembers whether they are
//! still in time order; reads and sealing sort a copy (stably, so rows with
//! equal timestamps keep their arrival order). Sealing turns the head into an
//! immutable, compressed [`SealedBlock`].

use std::ops::Range;

use arrow::array::{Array, ArrayRef};

use super::block::SealedBlock;
use super::bytes::{Reader, Writer};
use super::column::{FieldColumn, Values};
use super::error::{Result, corrupt};
use super::schema::{ColumnType, repeated};

/// The points of one series in one shard that have not been sealed yet.
#[derive(Debug, Clone)]
pub(crate) struct HeadBlock {
    times: Vec<i64>,
    fields: Vec<FieldColumn>,
    /// `true` while `times` is non-decreasing.
    in_order: bool,
}

impl HeadBlock {
    pub(crate) fn new(field_types: &[ColumnType]) -> Self {
        Self {
            times: Vec::new(),
            fields: field_types.iter().map(|&t| FieldColumn::new(t)).collect(),
            in_order: true,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Appends the points `rows` of a batch: `times` are their times, then
    /// `fields[i][rows]` for each field column.
    pub(crate) fn extend(
        &mut self,
        times: &[i64],
        fields: &[&dyn Array],
        rows: Range<usize>,
    ) -> Result<()> {
        // `Table::write` has checked the column types, so this cannot fail half-way.
        for (column, array) in self.fields.iter_mut().zip(fields) {
            column.extend(*array, rows.clone())?;
        }
        let sorted = times.windows(2).all(|w| w[0] <= w[1]);
        let follows = match (self.times.last(), times.first()) {
            (Some(last), Some(first)) => last <= first,
            _ => true,
        };
        self.in_order &= sorted && follows;
        self.times.extend_from_slice(times);
        Ok(())
    }

    /// The times, in arrival order.
    pub(crate) fn times(&self) -> &[i64] {
        &self.times
    }

    /// Field column `f` (a position among the field columns).
    pub(crate) fn field(&self, f: usize) -> &FieldColumn {
        &self.fields[f]
    }

    /// The row order that sorts the points by time, stable for equal times;
    /// `None` when they arrived in time order.
    pub(crate) fn time_order(&self) -> Option<Vec<usize>> {
        if self.in_order {
            return None;
        }
        let mut order: Vec<usize> = (0..self.times.len()).collect();
        order.sort_by_key(|&i| self.times[i]);
        Some(order)
    }

    /// A time-sorted copy of the points: times and the field columns selected
    /// by `fields` (positions among the field columns), in that order.
    pub(crate) fn sorted(&self, fields: &[usize]) -> (Vec<i64>, Vec<FieldColumn>) {
        match self.time_order() {
            None => (
                self.times.clone(),
                fields.iter().map(|&f| self.fields[f].clone()).collect(),
            ),
            Some(order) => (
                order.iter().map(|&i| self.times[i]).collect(),
                fields
                    .iter()
                    .map(|&f| self.fields[f].reordered(&order))
                    .collect(),
            ),
        }
    }

    /// The points, compressed into a block; the head stays as it is.
    pub(crate) fn to_block(&self) -> Result<SealedBlock> {
        let all: Vec<usize> = (0..self.fields.len()).collect();
        let (times, fields) = self.sorted(&all);
        SealedBlock::encode(&times, &fields)
    }

    /// A copy with field columns of `added` types after its own, each
    /// holding its `fills` value in every row (NULL where it has none): the
    /// head of a table that gained columns.
    pub(crate) fn with_fields(
        &self,
        added: &[ColumnType],
        fills: &[Option<ArrayRef>],
    ) -> Result<Self> {
        let mut head = self.clone();
        for (i, &column_type) in added.iter().enumerate() {
            let mut column = FieldColumn::new(column_type);
            let fill = fills.get(i).and_then(Option::as_ref);
            let values = repeated(fill, column_type, self.len())?;
            column.extend(values.as_ref(), 0..self.len())?;
            head.fields.push(column);
        }
        Ok(head)
    }

    /// A copy without the field columns `fields` (positions among the
    /// field columns): the head of a table that dropped them.
    pub(crate) fn without_fields(&self, fields: &[usize]) -> Self {
        let mut head = self.clone();
        let mut position = 0;
        head.fields.retain(|_| {
            position += 1;
            !fields.contains(&(position - 1))
        });
        head
    }

    /// A copy whose field columns `retypes` (position, new type) hold their
    /// values as the new types: the head of a table whose columns widened.
    pub(crate) fn retyped(&self, retypes: &[(usize, ColumnType)]) -> Result<Self> {
        let mut head = self.clone();
        for &(field, to) in retypes {
            if let Some(column) = head.fields.get_mut(field) {
                *column = column.retyped(to)?;
            }
        }
        Ok(head)
    }

    /// An empty head for the same field columns.
    pub(crate) fn empty_like(&self) -> Self {
        Self {
            times: Vec::new(),
            fields: self
                .fields
                .iter()
                .map(|f| FieldColumn::new(f.values.column_type()))
                .collect(),
            in_order: true,
        }
    }

    /// Compresses the points into an immutable block and empties the head.
    #[cfg(test)]
    pub(crate) fn seal(&mut self) -> Result<SealedBlock> {
        let block = self.to_block()?;
        *self = self.empty_like();
        Ok(block)
    }

    /// The smallest and largest time in the head.
    pub(crate) fn time_bounds(&self) -> Option<(i64, i64)> {
        if self.in_order {
            return Some((*self.times.first()?, *self.times.last()?));
        }
        let min = self.times.iter().min()?;
        let max = self.times.iter().max()?;
        Some((*min, *max))
    }

    /// Memory of each field column's values, in field order, and of the times.
    pub(crate) fn column_bytes(&self) -> (usize, Vec<usize>) {
        (
            self.times.capacity() * size_of::<i64>(),
            self.fields
                .iter()
                .map(FieldColumn::approximate_bytes)
                .collect(),
        )
    }
}

/// Raw head encoding, for WAL records: plain little-endian columns, written
/// and read at memory speed (a write's heads are compressed once, when they
/// are sealed, not again for the log).
///
/// ```text
/// times: rows × i64 | per field: type u8 | null_count varint |
///   [validity: rows × u8 (0 = NULL), if null_count > 0] | values
/// values: rows × (f64 | f32 | i64 | i32 | i16 | u8 bool) little-endian,
///         or per row a string (varint length, bytes)
/// ```
impl HeadBlock {
    pub(super) fn write_raw(&self, w: &mut Writer) {
        w.bytes
            .reserve(self.times.len() * 8 * (1 + self.fields.len()));
        for t in &self.times {
            w.i64(*t);
        }
        for field in &self.fields {
            w.u8(field.values.column_type().tag());
            w.len(field.null_count);
            if field.null_count > 0 {
                w.bytes.extend(field.validity.iter().map(|&v| u8::from(v)));
            }
            match &field.values {
                Values::Float64(v) => v.iter().for_each(|x| w.f64(*x)),
                Values::Float32(v) => v
                    .iter()
                    .for_each(|x| w.bytes.extend_from_slice(&x.to_le_bytes())),
                Values::Int64(v) => v.iter().for_each(|x| w.i64(*x)),
                Values::Timestamp { values, .. } => values.iter().for_each(|x| w.i64(*x)),
                Values::Int32(v) | Values::Date(v) => v
                    .iter()
                    .for_each(|x| w.bytes.extend_from_slice(&x.to_le_bytes())),
                Values::Int16(v) => v
                    .iter()
                    .for_each(|x| w.bytes.extend_from_slice(&x.to_le_bytes())),
                Values::Boolean(v) => w.bytes.extend(v.iter().map(|&b| u8::from(b))),
                Values::Utf8(v) => v.iter().for_each(|s| w.str(s)),
                Values::Binary(v) => v.iter().for_each(|s| w.bytes(s)),
            }
        }
    }

    /// Reads `rows` points that [`write_raw`](Self::write_raw) wrote, for
    /// field columns of `field_types`.
    pub(super) fn read_raw(
        r: &mut Reader<'_>,
        rows: usize,
        field_types: &[ColumnType],
    ) -> Result<Self> {
        fn fixed<'a, const N: usize>(
            r: &mut Reader<'a>,
            rows: usize,
        ) -> Result<impl Iterator<Item = [u8; N]> + 'a> {
            let bytes = r.exact(
                rows.checked_mul(N)
                    .ok_or_else(|| corrupt("row count overflows"))?,
            )?;
            Ok(bytes.chunks_exact(N).map(|c| {
                let mut word = [0; N];
                word.copy_from_slice(c);
                word
            }))
        }
        let times: Vec<i64> = fixed::<8>(r, rows)?.map(i64::from_le_bytes).collect();
        let mut fields = Vec::with_capacity(field_types.len());
        for &expected in field_types {
            let expected = expected.physical();
            if ColumnType::from_tag(r.u8()?)? != expected {
                return Err(corrupt("head column has the wrong type"));
            }
            let null_count = r.varint()? as usize;
            let validity: Vec<bool> = if null_count > 0 {
                let bytes = r.exact(rows)?;
                let validity: Vec<bool> = bytes.iter().map(|&b| b != 0).collect();
                if validity.iter().filter(|&&v| !v).count() != null_count {
                    return Err(corrupt("head validity does not match its NULL count"));
                }
                validity
            } else {
                Vec::new()
            };
            let values = match expected {
                ColumnType::Float64 => {
                    Values::Float64(fixed::<8>(r, rows)?.map(f64::from_le_bytes).collect())
                }
                ColumnType::Float32 => {
                    Values::Float32(fixed::<4>(r, rows)?.map(f32::from_le_bytes).collect())
                }
                ColumnType::Int64 => {
                    Values::Int64(fixed::<8>(r, rows)?.map(i64::from_le_bytes).collect())
                }
                ColumnType::Int32 => {
                    Values::Int32(fixed::<4>(r, rows)?.map(i32::from_le_bytes).collect())
                }
                ColumnType::Int16 => {
                    Values::Int16(fixed::<2>(r, rows)?.map(i16::from_le_bytes).collect())
                }
                ColumnType::Date => {
                    Values::Date(fixed::<4>(r, rows)?.map(i32::from_le_bytes).collect())
                }
                ColumnType::Timestamp { with_time_zone } => Values::Timestamp {
                    values: fixed::<8>(r, rows)?.map(i64::from_le_bytes).collect(),
                    with_time_zone,
                },
                ColumnType::Boolean => {
                    Values::Boolean(r.exact(rows)?.iter().map(|&b| b != 0).collect())
                }
                ColumnType::Utf8 | ColumnType::Json | ColumnType::Jsonb | ColumnType::Uuid => {
                    let mut values = Vec::with_capacity(rows.min(r.remaining()));
                    for _ in 0..rows {
                        values.push(Box::from(r.str()?));
                    }
                    Values::Utf8(values)
                }
                ColumnType::Bytea => {
                    let mut values = Vec::with_capacity(rows.min(r.remaining()));
                    for _ in 0..rows {
                        values.push(Box::from(r.bytes()?));
                    }
                    Values::Binary(values)
                }
            };
            fields.push(FieldColumn {
                values,
                validity,
                null_count,
            });
        }
        let in_order = times.windows(2).all(|w| w[0] <= w[1]);
        Ok(Self {
            times,
            fields,
            in_order,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, AsArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int16Array,
        Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::Int64Type;

    use super::*;
    use crate::storage::schema::UTC;

    #[test]
    fn late_points_are_returned_in_time_order_and_ties_keep_arrival_order() {
        let mut head = HeadBlock::new(&[ColumnType::Int64]);
        let values = Int64Array::from(vec![Some(1), Some(2), None, Some(4)]);
        // A run, then single rows: the first NULL arrives in a run of one.
        head.extend(&[30, 10], &[&values], 0..2).unwrap();
        head.extend(&[20], &[&values], 2..3).unwrap();
        head.extend(&[10], &[&values], 3..4).unwrap();
        let (times, fields) = head.sorted(&[0]);
        assert_eq!(times, vec![10, 10, 20, 30]);
        let array = fields[0].to_array();
        let ints = array.as_primitive::<Int64Type>();
        assert_eq!(
            ints.iter().collect::<Vec<_>>(),
            vec![Some(2), Some(4), None, Some(1)]
        );
        assert_eq!(head.time_bounds(), Some((10, 30)));
    }

    #[test]
    fn raw_heads_round_trip_every_type_with_nulls() {
        let types = [
            ColumnType::Float64,
            ColumnType::Float32,
            ColumnType::Int64,
            ColumnType::Int32,
            ColumnType::Int16,
            ColumnType::Boolean,
            ColumnType::Utf8,
            ColumnType::Timestamp {
                with_time_zone: true,
            },
            ColumnType::Date,
        ];
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![Some(f64::NAN), None, Some(-0.0)])),
            Arc::new(Float32Array::from(vec![Some(1.5f32), Some(2.0), None])),
            Arc::new(Int64Array::from(vec![None, Some(i64::MIN), Some(7)])),
            Arc::new(Int32Array::from(vec![Some(1), None, Some(-3)])),
            Arc::new(Int16Array::from(vec![Some(i16::MAX), Some(0), Some(-1)])),
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            Arc::new(StringArray::from(vec![Some("é"), Some(""), None])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(5), None, Some(-5)]).with_timezone(UTC),
            ),
            Arc::new(Date32Array::from(vec![
                None,
                Some(-719_162),
                Some(2_932_896),
            ])),
        ];
        let fields: Vec<&dyn Array> = arrays.iter().map(AsRef::as_ref).collect();
        let mut head = HeadBlock::new(&types);
        head.extend(&[30, 10, 20], &fields, 0..3).unwrap();
        let mut w = Writer::default();
        head.write_raw(&mut w);
        let mut r = Reader::new(&w.bytes);
        let back = HeadBlock::read_raw(&mut r, 3, &types).unwrap();
        assert!(r.is_empty());
        let all: Vec<usize> = (0..types.len()).collect();
        let (times, columns) = head.sorted(&all);
        let (back_times, back_columns) = back.sorted(&all);
        assert_eq!(times, back_times);
        for (a, b) in columns.iter().zip(&back_columns) {
            let (a, b) = (a.to_array(), b.to_array());
            // NaN != NaN: compare the Arrow data bit for bit.
            assert_eq!(a.to_data(), b.to_data());
        }
        // Every truncation is an error, never a panic.
        for cut in 0..w.bytes.len() {
            assert!(HeadBlock::read_raw(&mut Reader::new(&w.bytes[..cut]), 3, &types).is_err());
        }
        // The wrong column types are refused.
        let wrong = [ColumnType::Int64; 9];
        assert!(HeadBlock::read_raw(&mut Reader::new(&w.bytes), 3, &wrong).is_err());
    }
}
