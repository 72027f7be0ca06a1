//! Sealed blocks: immutable, compressed, time-sorted points of one series in
//! one shard, column by column, with statistics for pruning.
//!
//! Each field column is stored as its non-NULL values (compressed by the codec
//! for its type) plus a validity bitmap, which is left out when the block has
//! no NULLs.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::buffer::NullBuffer;

use super::bytes::{Reader, Writer};
use super::column::{FieldColumn, Values};
use super::error::{Error, Result, corrupt as corrupt_record};
use super::schema::{ColumnType, UTC, repeated};
use crate::codec;

/// Statistics of one field column in one block.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldStats {
    pub null_count: usize,
    pub values: ValueStats,
}

/// Value statistics, where they are cheap to keep.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueStats {
    /// Over the non-NaN values; `min`/`max` are `None` when there are none.
    Float {
        min: Option<f64>,
        max: Option<f64>,
        sum: f64,
        nan_count: usize,
    },
    Int {
        min: Option<i64>,
        max: Option<i64>,
        sum: i128,
    },
    Bool {
        true_count: usize,
    },
    /// No value statistics (text).
    None,
}

impl ValueStats {
    /// Whether some value in `[min, max]` (inclusive, either side open when
    /// `None`) may occur. Conservative: `true` unless the statistics rule it out.
    pub fn may_contain(&self, min: Option<f64>, max: Option<f64>) -> bool {
        let (lo, hi) = match self {
            ValueStats::Float {
                min: lo,
                max: hi,
                nan_count,
                ..
            } => {
                // NaN sorts above every number, in PostgreSQL and in Arrow.
                if *nan_count > 0 {
                    return true;
                }
                match (lo, hi) {
                    (Some(lo), Some(hi)) => (*lo, *hi),
                    _ => return false,
                }
            }
            ValueStats::Int {
                min: lo, max: hi, ..
            } => match (lo, hi) {
                (Some(lo), Some(hi)) => (*lo as f64, *hi as f64),
                _ => return false,
            },
            ValueStats::Bool { .. } | ValueStats::None => return true,
        };
        min.is_none_or(|m| hi >= m) && max.is_none_or(|m| lo <= m)
    }
}

/// One compressed field column.
#[derive(Debug, Clone)]
struct SealedColumn {
    column_type: ColumnType,
    data: Vec<u8>,
    /// Absent when the block has no NULLs in this column.
    validity: Option<Vec<u8>>,
    stats: FieldStats,
}

/// An immutable block of points, sorted by time.
#[derive(Debug)]
pub struct SealedBlock {
    rows: usize,
    min_time: i64,
    max_time: i64,
    times: Vec<u8>,
    fields: Vec<SealedColumn>,
}

impl SealedBlock {
    /// Compresses time-sorted points.
    pub(crate) fn encode(times: &[i64], fields: &[FieldColumn]) -> Result<Self> {
        let mut encoded_times = Vec::new();
        codec::timestamp::encode(times, &mut encoded_times);
        let fields = fields.iter().map(encode_column).collect();
        Ok(Self {
            rows: times.len(),
            min_time: times.first().copied().unwrap_or(0),
            max_time: times.last().copied().unwrap_or(0),
            times: encoded_times,
            fields,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn min_time(&self) -> i64 {
        self.min_time
    }

    pub fn max_time(&self) -> i64 {
        self.max_time
    }

    /// Statistics of the `field`-th field column.
    /// How many field columns it holds.
    pub(crate) fn field_count(&self) -> usize {
        self.fields.len()
    }

    /// The type of the `field`-th field column it holds.
    pub(crate) fn field_type(&self, field: usize) -> Option<ColumnType> {
        self.fields.get(field).map(|c| c.column_type)
    }

    pub fn field_stats(&self, field: usize) -> Option<&FieldStats> {
        self.fields.get(field).map(|c| &c.stats)
    }

    /// Compressed bytes of the times, then of each field column.
    pub(crate) fn column_bytes(&self) -> (usize, Vec<usize>) {
        (
            self.times.capacity(),
            self.fields
                .iter()
                .map(|c| c.data.capacity() + c.validity.as_ref().map_or(0, Vec::capacity))
                .collect(),
        )
    }

    /// A copy that holds field columns up to `field_types.len()` (the
    /// table's), a column it lacks holding its `fills` value (by field
    /// position) in every row; `None` when every column it lacks would be
    /// NULL, which it reads as already.
    pub(crate) fn with_fields(
        &self,
        field_types: &[ColumnType],
        fills: &[Option<ArrayRef>],
    ) -> Result<Option<Self>> {
        let lacking = self.fields.len()..field_types.len();
        if !lacking
            .clone()
            .any(|f| fills.get(f).is_some_and(Option::is_some))
        {
            return Ok(None);
        }
        let mut fields = self.fields.clone();
        for f in lacking {
            let column_type = field_types[f];
            let values = repeated(
                fills.get(f).and_then(Option::as_ref),
                column_type,
                self.rows,
            )?;
            let mut column = FieldColumn::new(column_type);
            column.extend(values.as_ref(), 0..self.rows)?;
            fields.push(encode_column(&column));
        }
        Ok(Some(self.with_columns(fields)))
    }

    /// A copy without the field columns `fields`, which later ones take
    /// the place of; `None` when it holds none of them (it was sealed before
    /// they were added).
    pub(crate) fn without_fields(&self, fields: &[usize]) -> Option<Self> {
        if !fields.iter().any(|&f| f < self.fields.len()) {
            return None;
        }
        let mut position = 0;
        let mut kept = self.fields.clone();
        kept.retain(|_| {
            position += 1;
            !fields.contains(&(position - 1))
        });
        Some(self.with_columns(kept))
    }

    /// A copy whose field columns `retypes` (position, new type) are encoded
    /// again as the new types; `None` when it holds none of them.
    pub(crate) fn retyped(&self, retypes: &[(usize, ColumnType)]) -> Result<Option<Self>> {
        if !retypes.iter().any(|&(f, _)| f < self.fields.len()) {
            return Ok(None);
        }
        let mut fields = self.fields.clone();
        for &(field, to) in retypes {
            let Some(old) = self.fields.get(field) else {
                continue;
            };
            let values = self.decode_field(field, old.column_type)?;
            let values = arrow::compute::cast(&values, &to.arrow_type())?;
            let mut column = FieldColumn::new(to);
            column.extend(values.as_ref(), 0..self.rows)?;
            fields[field] = encode_column(&column);
        }
        Ok(Some(self.with_columns(fields)))
    }

    /// A copy with the same rows and times and field columns `fields`.
    fn with_columns(&self, fields: Vec<SealedColumn>) -> Self {
        Self {
            rows: self.rows,
            min_time: self.min_time,
            max_time: self.max_time,
            times: self.times.clone(),
            fields,
        }
    }

    /// Decodes the times.
    pub(crate) fn decode_times(&self) -> Result<Vec<i64>> {
        Ok(codec::timestamp::decode(&self.times)?)
    }

    /// Decodes the `field`-th field column, of type `column_type`, as an
    /// Arrow array of `rows` values. A block sealed before the column was
    /// added to its table holds none of it: its values are NULL.
    pub(crate) fn decode_field(&self, field: usize, column_type: ColumnType) -> Result<ArrayRef> {
        let Some(column) = self.fields.get(field) else {
            return Ok(arrow::array::new_null_array(
                &column_type.arrow_type(),
                self.rows,
            ));
        };
        let validity = match &column.validity {
            Some(bytes) => Some(codec::validity::decode(bytes)?),
            None => None,
        };
        decode_column(column, validity, self.rows)
    }
}

fn encode_column(column: &FieldColumn) -> SealedColumn {
    let valid = |i: usize| column.is_valid(i);
    let mut data = Vec::new();
    let column_type = column.values.column_type();
    let values = match &column.values {
        Values::Float64(v) => {
            let dense: Vec<f64> = dense(v, column);
            codec::float::encode(&dense, &mut data);
            float_stats(dense.iter().copied())
        }
        Values::Float32(v) => {
            let dense: Vec<f32> = dense(v, column);
            codec::float::encode_f32(&dense, &mut data);
            float_stats(dense.iter().map(|&x| f64::from(x)))
        }
        Values::Int64(v) => int_column(dense(v, column), &mut data),
        Values::Int32(v) => int_column(
            dense(v, column).into_iter().map(i64::from).collect(),
            &mut data,
        ),
        Values::Int16(v) => int_column(
            dense(v, column).into_iter().map(i64::from).collect(),
            &mut data,
        ),
        Values::Date(v) => int_column(
            dense(v, column).into_iter().map(i64::from).collect(),
            &mut data,
        ),
        Values::Timestamp { values, .. } => int_column(dense(values, column), &mut data),
        Values::Boolean(v) => {
            let dense: Vec<bool> = dense(v, column);
            codec::boolean::encode(&dense, &mut data);
            ValueStats::Bool {
                true_count: dense.iter().filter(|&&b| b).count(),
            }
        }
        Values::Utf8(v) => {
            let dense: Vec<&str> = (0..v.len())
                .filter(|&i| valid(i))
                .map(|i| v[i].as_ref())
                .collect();
            codec::text::encode(&dense, &mut data);
            ValueStats::None
        }
        Values::Binary(v) => {
            let dense: Vec<&[u8]> = (0..v.len())
                .filter(|&i| valid(i))
                .map(|i| v[i].as_ref())
                .collect();
            codec::text::encode_bytes(&dense, &mut data);
            ValueStats::None
        }
    };
    let validity = (column.null_count > 0).then(|| {
        let mut bytes = Vec::new();
        codec::validity::encode(&column.validity, &mut bytes);
        bytes
    });
    data.shrink_to_fit();
    SealedColumn {
        column_type,
        data,
        validity,
        stats: FieldStats {
            null_count: column.null_count,
            values,
        },
    }
}

/// The non-NULL values of a column.
fn dense<T: Copy>(values: &[T], column: &FieldColumn) -> Vec<T> {
    if column.null_count == 0 {
        return values.to_vec();
    }
    values
        .iter()
        .zip(&column.validity)
        .filter(|(_, valid)| **valid)
        .map(|(v, _)| *v)
        .collect()
}

fn int_column(values: Vec<i64>, data: &mut Vec<u8>) -> ValueStats {
    codec::integer::encode(&values, data);
    ValueStats::Int {
        min: values.iter().min().copied(),
        max: values.iter().max().copied(),
        sum: values.iter().map(|&v| i128::from(v)).sum(),
    }
}

fn float_stats(values: impl Iterator<Item = f64>) -> ValueStats {
    let (mut min, mut max, mut sum, mut nan_count) = (None::<f64>, None::<f64>, 0.0, 0);
    for v in values {
        if v.is_nan() {
            nan_count += 1;
            continue;
        }
        min = Some(min.map_or(v, |m| m.min(v)));
        max = Some(max.map_or(v, |m| m.max(v)));
        sum += v;
    }
    ValueStats::Float {
        min,
        max,
        sum,
        nan_count,
    }
}

/// Spreads dense values over `rows` slots following `validity`; NULL slots get
/// the default value.
fn spread<T: Copy + Default>(
    dense: Vec<T>,
    validity: Option<&[bool]>,
    rows: usize,
) -> Result<Vec<T>> {
    let Some(validity) = validity else {
        if dense.len() != rows {
            return Err(corrupt("value count does not match the block's row count"));
        }
        return Ok(dense);
    };
    if validity.len() != rows || validity.iter().filter(|&&v| v).count() != dense.len() {
        return Err(corrupt("validity does not match the values"));
    }
    let mut values = dense.into_iter();
    Ok(validity
        .iter()
        .map(|&valid| {
            if valid {
                values.next().unwrap_or_default()
            } else {
                T::default()
            }
        })
        .collect())
}

fn corrupt(reason: &'static str) -> Error {
    Error::Codec(codec::Error::Corrupt { reason })
}

fn decode_column(
    column: &SealedColumn,
    validity: Option<Vec<bool>>,
    rows: usize,
) -> Result<ArrayRef> {
    let nulls = validity.as_ref().map(|v| NullBuffer::from(v.as_slice()));
    let validity = validity.as_deref();
    let ints =
        |data: &[u8]| -> Result<Vec<i64>> { spread(codec::integer::decode(data)?, validity, rows) };
    let narrow = |values: Vec<i64>| values.into_iter();
    Ok(match column.column_type.physical() {
        ColumnType::Float64 => {
            let values = spread(codec::float::decode(&column.data)?, validity, rows)?;
            Arc::new(Float64Array::new(values.into(), nulls))
        }
        ColumnType::Float32 => {
            let values = spread(codec::float::decode_f32(&column.data)?, validity, rows)?;
            Arc::new(Float32Array::new(values.into(), nulls))
        }
        ColumnType::Int64 => Arc::new(Int64Array::new(ints(&column.data)?.into(), nulls)),
        ColumnType::Int32 => {
            let values = narrow(ints(&column.data)?)
                .map(|v| i32::try_from(v).map_err(|_| corrupt("integer out of range")))
                .collect::<Result<Vec<_>>>()?;
            Arc::new(Int32Array::new(values.into(), nulls))
        }
        ColumnType::Int16 => {
            let values = narrow(ints(&column.data)?)
                .map(|v| i16::try_from(v).map_err(|_| corrupt("integer out of range")))
                .collect::<Result<Vec<_>>>()?;
            Arc::new(Int16Array::new(values.into(), nulls))
        }
        ColumnType::Date => {
            let values = narrow(ints(&column.data)?)
                .map(|v| i32::try_from(v).map_err(|_| corrupt("date out of range")))
                .collect::<Result<Vec<_>>>()?;
            Arc::new(Date32Array::new(values.into(), nulls))
        }
        ColumnType::Timestamp { with_time_zone } => Arc::new(
            TimestampMicrosecondArray::new(ints(&column.data)?.into(), nulls)
                .with_timezone_opt(with_time_zone.then_some(UTC)),
        ),
        ColumnType::Boolean => {
            let values = spread(codec::boolean::decode(&column.data)?, validity, rows)?;
            Arc::new(BooleanArray::new(values.as_slice().into(), nulls))
        }
        ColumnType::Utf8 | ColumnType::Json | ColumnType::Jsonb | ColumnType::Uuid => {
            let dense = codec::text::decode(&column.data)?;
            let values = with_validity(&dense, validity, rows)?;
            Arc::new(
                (values.into_iter())
                    .map(|v| v.map(String::as_str))
                    .collect::<StringArray>(),
            )
        }
        ColumnType::Bytea => {
            let dense = codec::text::decode_bytes(&column.data)?;
            let values = with_validity(&dense, validity, rows)?;
            Arc::new(
                (values.into_iter())
                    .map(|v| v.map(Vec::as_slice))
                    .collect::<BinaryArray>(),
            )
        }
    })
}

/// The values of `rows` rows from the non-NULL ones, `dense`, and the rows'
/// validity (all valid when `None`).
fn with_validity<'a, T>(
    dense: &'a [T],
    validity: Option<&[bool]>,
    rows: usize,
) -> Result<Vec<Option<&'a T>>> {
    match validity {
        None if dense.len() != rows => {
            Err(corrupt("value count does not match the block's row count"))
        }
        None => Ok(dense.iter().map(Some).collect()),
        Some(validity)
            if validity.len() != rows || validity.iter().filter(|&&v| v).count() != dense.len() =>
        {
            Err(corrupt("validity does not match the values"))
        }
        Some(validity) => {
            let mut values = dense.iter();
            Ok(validity
                .iter()
                .map(|&valid| if valid { values.next() } else { None })
                .collect())
        }
    }
}

/// The one-byte tag of a column type in records and snapshots.
impl SealedBlock {
    /// Appends the block as it is held: compressed columns and statistics.
    pub(super) fn write_to(&self, w: &mut Writer) {
        w.len(self.rows);
        w.i64(self.min_time);
        w.i64(self.max_time);
        w.bytes(&self.times);
        w.len(self.fields.len());
        for column in &self.fields {
            w.u8(column.column_type.tag());
            w.bytes(&column.data);
            match &column.validity {
                Some(validity) => {
                    w.u8(1);
                    w.bytes(validity);
                }
                None => w.u8(0),
            }
            w.len(column.stats.null_count);
            match &column.stats.values {
                ValueStats::None => w.u8(0),
                ValueStats::Float {
                    min,
                    max,
                    sum,
                    nan_count,
                } => {
                    w.u8(1);
                    for bound in [min, max] {
                        w.u8(u8::from(bound.is_some()));
                        w.f64(bound.unwrap_or(0.0));
                    }
                    w.f64(*sum);
                    w.len(*nan_count);
                }
                ValueStats::Int { min, max, sum } => {
                    w.u8(2);
                    for bound in [min, max] {
                        w.u8(u8::from(bound.is_some()));
                        w.i64(bound.unwrap_or(0));
                    }
                    w.i128(*sum);
                }
                ValueStats::Bool { true_count } => {
                    w.u8(3);
                    w.len(*true_count);
                }
            }
        }
    }

    /// Reads a block that [`write_to`](Self::write_to) wrote, for a table
    /// whose field columns have `field_types`: all of them, or the first
    /// ones when the block was sealed before the others were added. The
    /// column bytes are checked when they are decoded, as always.
    pub(super) fn read_from(r: &mut Reader<'_>, field_types: &[ColumnType]) -> Result<Self> {
        let rows = r.varint()? as usize;
        let min_time = r.i64()?;
        let max_time = r.i64()?;
        let times = r.bytes()?.to_vec();
        let count = r.len()?;
        if count > field_types.len() {
            return Err(corrupt_record(
                "block has the wrong number of field columns",
            ));
        }
        let mut fields = Vec::with_capacity(count);
        for &expected in &field_types[..count] {
            let column_type = ColumnType::from_tag(r.u8()?)?;
            if column_type != expected.physical() {
                return Err(corrupt_record("block column has the wrong type"));
            }
            let data = r.bytes()?.to_vec();
            let validity = r
                .bool()?
                .then(|| r.bytes().map(<[u8]>::to_vec))
                .transpose()?;
            let null_count = r.varint()? as usize;
            let bound_f64 = |r: &mut Reader<'_>| -> Result<Option<f64>> {
                let present = r.bool()?;
                let value = r.f64()?;
                Ok(present.then_some(value))
            };
            let values = match r.u8()? {
                0 => ValueStats::None,
                1 => ValueStats::Float {
                    min: bound_f64(r)?,
                    max: bound_f64(r)?,
                    sum: r.f64()?,
                    nan_count: r.varint()? as usize,
                },
                2 => {
                    let mut bound = || -> Result<Option<i64>> {
                        let present = r.bool()?;
                        let value = r.i64()?;
                        Ok(present.then_some(value))
                    };
                    let (min, max) = (bound()?, bound()?);
                    ValueStats::Int {
                        min,
                        max,
                        sum: r.i128()?,
                    }
                }
                3 => ValueStats::Bool {
                    true_count: r.varint()? as usize,
                },
                other => return Err(corrupt_record(format!("unknown statistics tag {other}"))),
            };
            fields.push(SealedColumn {
                column_type,
                data,
                validity,
                stats: FieldStats { null_count, values },
            });
        }
        Ok(Self {
            rows,
            min_time,
            max_time,
            times,
            fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Float64Type;

    use super::*;
    use crate::storage::head::HeadBlock;

    #[test]
    fn a_sealed_date_column_decodes_to_its_days() {
        let mut head = HeadBlock::new(&[ColumnType::Date]);
        let days = Date32Array::from(vec![Some(-719_162), None, Some(19_723), Some(2_932_896)]);
        head.extend(&[1, 2, 3, 4], &[&days], 0..4).unwrap();
        let block = head.seal().unwrap();
        let back = block.decode_field(0, ColumnType::Date).unwrap();
        assert_eq!(back.to_data(), days.to_data());
    }

    #[test]
    fn a_sealed_block_decodes_to_what_was_written_with_stats() {
        let mut head = HeadBlock::new(&[ColumnType::Float64, ColumnType::Utf8, ColumnType::Int32]);
        let floats = Float64Array::from(vec![Some(1.5), None, Some(f64::NAN), Some(-2.0)]);
        let texts = StringArray::from(vec![Some("a"), Some("b"), None, Some("a")]);
        let ints = Int32Array::from(vec![Some(i32::MIN), Some(7), Some(i32::MAX), None]);
        let fields: [&dyn Array; 3] = [&floats, &texts, &ints];
        head.extend(&[40, 10], &fields, 0..2).unwrap();
        head.extend(&[30], &fields, 2..3).unwrap();
        head.extend(&[20], &fields, 3..4).unwrap();
        let block = head.seal().unwrap();
        assert!(head.is_empty());
        assert_eq!(
            (block.rows(), block.min_time(), block.max_time()),
            (4, 10, 40)
        );
        assert_eq!(block.decode_times().unwrap(), vec![10, 20, 30, 40]);
        let f = block.decode_field(0, ColumnType::Float64).unwrap();
        let f = f.as_primitive::<Float64Type>();
        assert!(f.is_null(0));
        assert_eq!(f.value(1), -2.0);
        assert!(f.value(2).is_nan());
        assert_eq!(f.value(3), 1.5);
        let t = block.decode_field(1, ColumnType::Utf8).unwrap();
        assert_eq!(
            t.as_string::<i32>().iter().collect::<Vec<_>>(),
            vec![Some("b"), Some("a"), None, Some("a")]
        );
        let i = block.decode_field(2, ColumnType::Int32).unwrap();
        assert_eq!(
            i.as_primitive::<arrow::datatypes::Int32Type>()
                .iter()
                .collect::<Vec<_>>(),
            vec![Some(7), None, Some(i32::MAX), Some(i32::MIN)]
        );
        let stats = block.field_stats(0).unwrap();
        assert_eq!(stats.null_count, 1);
        assert_eq!(
            stats.values,
            ValueStats::Float {
                min: Some(-2.0),
                max: Some(1.5),
                sum: -0.5,
                nan_count: 1
            }
        );
        assert!(
            block
                .field_stats(2)
                .unwrap()
                .values
                .may_contain(Some(0.0), Some(10.0))
        );
        let ints_only = ValueStats::Int {
            min: Some(1),
            max: Some(5),
            sum: 6,
        };
        assert!(!ints_only.may_contain(Some(6.0), None));
        assert!(!ints_only.may_contain(None, Some(0.5)));
        assert!(ints_only.may_contain(Some(5.0), Some(5.0)));
    }
}
