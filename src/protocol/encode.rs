//! Arrow → PostgreSQL: result column types and row encoding, text and binary.
//!
//! Rows are encoded a batch at a time, with one type dispatch per column rather
//! than per cell. Text follows PostgreSQL's output functions (`t`/`f`, shortest
//! round-trip floats with PostgreSQL's exponent rules, timestamps without
//! trailing fractional zeros, `timestamptz` in the session's `TimeZone`).
//! A list of such values is a one-dimensional PostgreSQL array (`{a,"b c"}` in
//! text, array_send's layout in binary). A type without a dedicated encoding is
//! sent as `text`, rendered by Arrow, in both formats (a `text` value's binary
//! form is its bytes).

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float16Type, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, IntervalUnit, Schema, TimeUnit, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::messages::data::DataRow;

use crate::pgtype::{self, ValueError, array_type, has_dedicated_encoding, pg_type};

/// Errors while encoding values.
#[derive(Debug, thiserror::Error)]
pub(super) enum EncodeError {
    #[error(transparent)]
    Value(#[from] ValueError),
    #[error("cannot render column: {0}")]
    Render(#[from] ArrowError),
}

/// Describes result columns for RowDescription, with the format of each.
pub(super) fn field_infos(
    schema: &Schema,
    format_for: impl Fn(usize) -> FieldFormat,
) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| FieldInfo::new(f.name().clone(), None, None, pg_type(f), format_for(i)))
        .collect()
}

/// Session settings that change how values are rendered as text.
#[derive(Debug, Clone)]
pub(super) struct RenderOptions {
    /// The session's `TimeZone`, for `timestamptz`; `None` is UTC.
    pub(super) time_zone: Option<Tz>,
}

impl RenderOptions {
    /// Options for a session whose `TimeZone` setting is `time_zone`. The session
    /// validated the name when it was set.
    pub(super) fn new(time_zone: &str) -> Self {
        Self {
            time_zone: time_zone.parse::<Tz>().ok(),
        }
    }
}

/// Encodes every row of `batch` as DataRow messages.
pub(super) fn encode_batch(
    batch: &RecordBatch,
    fields: &[FieldInfo],
    options: &RenderOptions,
) -> Result<Vec<DataRow>, EncodeError> {
    let columns: Vec<ColumnEncoder<'_>> = batch
        .columns()
        .iter()
        .zip(fields)
        .map(|(array, field)| ColumnEncoder::new(array, field, options))
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    let mut buf = BytesMut::with_capacity(64 * columns.len().max(1));
    for row in 0..batch.num_rows() {
        for column in &columns {
            if column.is_null(row) {
                buf.put_i32(-1);
                continue;
            }
            let start = buf.len();
            buf.put_i32(0);
            column.encode(row, &mut buf)?;
            let len = (buf.len() - start - 4) as i32;
            buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
        }
        rows.push(DataRow::new(buf.split(), columns.len() as i16));
    }
    Ok(rows)
}

/// Encodes every value of `batch`, row by row, handing each to `visit` as
/// (row, column, bytes), with `None` for NULL. For COPY TO, which frames the
/// values itself.
pub(super) fn encode_values(
    batch: &RecordBatch,
    fields: &[FieldInfo],
    options: &RenderOptions,
    mut visit: impl FnMut(usize, usize, Option<&[u8]>),
) -> Result<(), EncodeError> {
    let columns: Vec<ColumnEncoder<'_>> = batch
        .columns()
        .iter()
        .zip(fields)
        .map(|(array, field)| ColumnEncoder::new(array, field, options))
        .collect::<Result<_, _>>()?;
    let mut buf = BytesMut::with_capacity(64);
    for row in 0..batch.num_rows() {
        for (i, column) in columns.iter().enumerate() {
            if column.is_null(row) {
                visit(row, i, None);
                continue;
            }
            buf.clear();
            column.encode(row, &mut buf)?;
            visit(row, i, Some(&buf));
        }
    }
    Ok(())
}

/// Encodes one column; chosen once per batch.
struct ColumnEncoder<'a> {
    array: &'a ArrayRef,
    binary: bool,
    pg_type: Type,
    options: &'a RenderOptions,
    /// Arrow's renderer, for types without a dedicated encoding.
    fallback: Option<ArrayFormatter<'a>>,
    /// For a one-dimensional array column, the encoder of its elements.
    elements: Option<Box<ColumnEncoder<'a>>>,
    /// Which rows are NULL. Logical, not physical: an array of type Null (a
    /// bare `SELECT NULL`) has no validity buffer, yet every row is NULL.
    nulls: Option<NullBuffer>,
}

impl<'a> ColumnEncoder<'a> {
    fn new(
        array: &'a ArrayRef,
        field: &FieldInfo,
        options: &'a RenderOptions,
    ) -> Result<Self, EncodeError> {
        Self::with(
            array,
            field.format() == FieldFormat::Binary,
            field.datatype().clone(),
            options,
        )
    }

    fn with(
        array: &'a ArrayRef,
        binary: bool,
        reported: Type,
        options: &'a RenderOptions,
    ) -> Result<Self, EncodeError> {
        let mut elements = None;
        let mut fallback = None;
        match array.data_type() {
            data_type if has_dedicated_encoding(data_type) => {}
            DataType::List(element) | DataType::LargeList(element)
                if has_dedicated_encoding(element.data_type())
                    && array_type(&pg_type(element)).as_ref() == Some(&reported) =>
            {
                let values = match array.data_type() {
                    DataType::List(_) => array.as_list::<i32>().values(),
                    _ => array.as_list::<i64>().values(),
                };
                let element_type = pg_type(element);
                elements = Some(Box::new(Self::with(values, binary, element_type, options)?));
            }
            _ => {
                fallback = Some(ArrayFormatter::try_new(
                    array.as_ref(),
                    &FormatOptions::default(),
                )?);
            }
        }
        Ok(Self {
            array,
            binary,
            pg_type: reported,
            options,
            fallback,
            elements,
            nulls: array.logical_nulls(),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|nulls| nulls.is_null(row))
    }

    fn encode(&self, row: usize, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if let Some(formatter) = &self.fallback {
            buf.put_slice(formatter.value(row).to_string().as_bytes());
            return Ok(());
        }
        if let Some(elements) = &self.elements {
            return self.array_value(elements, row, buf);
        }
        let a = self.array;
        match a.data_type() {
            DataType::Boolean => {
                let v = a.as_boolean().value(row);
                if self.binary {
                    buf.put_u8(u8::from(v));
                } else {
                    buf.put_u8(if v { b't' } else { b'f' });
                }
            }
            DataType::Int8 => self.int(i64::from(a.as_primitive::<Int8Type>().value(row)), buf)?,
            DataType::Int16 => {
                self.int(i64::from(a.as_primitive::<Int16Type>().value(row)), buf)?
            }
            DataType::Int32 => {
                self.int(i64::from(a.as_primitive::<Int32Type>().value(row)), buf)?
            }
            DataType::Int64 => self.int(a.as_primitive::<Int64Type>().value(row), buf)?,
            DataType::UInt8 => {
                self.int(i64::from(a.as_primitive::<UInt8Type>().value(row)), buf)?
            }
            DataType::UInt16 => {
                self.int(i64::from(a.as_primitive::<UInt16Type>().value(row)), buf)?
            }
            DataType::UInt32 => {
                self.int(i64::from(a.as_primitive::<UInt32Type>().value(row)), buf)?
            }
            DataType::UInt64 => {
                let v = a.as_primitive::<UInt64Type>().value(row);
                let v = i64::try_from(v).map_err(|_| ValueError::OutOfRange {
                    type_name: "bigint",
                    value: v.to_string(),
                })?;
                self.int(v, buf)?
            }
            DataType::Float16 => {
                self.float4(a.as_primitive::<Float16Type>().value(row).to_f32(), buf)
            }
            DataType::Float32 => self.float4(a.as_primitive::<Float32Type>().value(row), buf),
            DataType::Float64 => {
                let v = a.as_primitive::<Float64Type>().value(row);
                if self.binary {
                    buf.put_f64(v);
                } else {
                    buf.put_slice(pgtype::float8_out(v).as_bytes());
                }
            }
            DataType::Decimal128(_, scale) => {
                let v = a.as_primitive::<Decimal128Type>().value(row);
                if self.binary {
                    buf.put_slice(&pgtype::numeric_send(v, *scale));
                } else {
                    buf.put_slice(pgtype::numeric_out(v, *scale).as_bytes());
                }
            }
            DataType::Utf8 => self.text(a.as_string::<i32>().value(row), buf)?,
            DataType::LargeUtf8 => self.text(a.as_string::<i64>().value(row), buf)?,
            DataType::Utf8View => self.text(a.as_string_view().value(row), buf)?,
            DataType::Binary => self.bytea(a.as_binary::<i32>().value(row), buf),
            DataType::LargeBinary => self.bytea(a.as_binary::<i64>().value(row), buf),
            DataType::BinaryView => self.bytea(a.as_binary_view().value(row), buf),
            DataType::Timestamp(unit, tz) => {
                let micros = timestamp_micros(a, *unit, row)?;
                if self.binary {
                    buf.put_i64(pgtype::timestamp_send(micros)?);
                } else {
                    let text = match tz {
                        Some(_) => pgtype::timestamptz_out(micros, self.options.time_zone.as_ref()),
                        None => pgtype::timestamp_out(micros),
                    };
                    buf.put_slice(text.as_bytes());
                }
            }
            DataType::Date32 => self.date(a.as_primitive::<Date32Type>().value(row), buf)?,
            DataType::Date64 => {
                let days = a
                    .as_primitive::<Date64Type>()
                    .value(row)
                    .div_euclid(86_400_000);
                let days = i32::try_from(days)
                    .map_err(|_| ValueError::DatetimeOutOfRange { what: "date" })?;
                self.date(days, buf)?
            }
            DataType::Time32(_) | DataType::Time64(_) => {
                let micros = time_micros(a, row);
                if self.binary {
                    buf.put_i64(micros);
                } else {
                    buf.put_slice(pgtype::time_out(micros).as_bytes());
                }
            }
            DataType::Interval(_) | DataType::Duration(_) => {
                let (months, days, micros) = interval_parts(a, row)?;
                if self.binary {
                    buf.put_i64(micros);
                    buf.put_i32(days);
                    buf.put_i32(months);
                } else {
                    buf.put_slice(pgtype::interval_out(months, days, micros).as_bytes());
                }
            }
            _ => {
                // `dedicated` above lists exactly the types handled here.
                buf.put_slice(b"?");
            }
        }
        Ok(())
    }

    /// Row `row` of a list column as a one-dimensional PostgreSQL array, in
    /// `array_out`'s text form or `array_send`'s binary form.
    fn array_value(
        &self,
        elements: &ColumnEncoder<'_>,
        row: usize,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let range = match self.array.data_type() {
            DataType::List(_) => {
                let offsets = self.array.as_list::<i32>().value_offsets();
                offsets[row] as usize..offsets[row + 1] as usize
            }
            _ => {
                let offsets = self.array.as_list::<i64>().value_offsets();
                offsets[row] as usize..offsets[row + 1] as usize
            }
        };
        if self.binary {
            let count = i32::try_from(range.len()).map_err(|_| ValueError::OutOfRange {
                type_name: "integer",
                value: range.len().to_string(),
            })?;
            let has_null = range.clone().any(|i| elements.is_null(i));
            buf.put_i32(i32::from(count > 0));
            buf.put_i32(i32::from(has_null));
            buf.put_u32(elements.pg_type.oid());
            if count > 0 {
                buf.put_i32(count);
                // Lower bound.
                buf.put_i32(1);
            }
            for i in range {
                if elements.is_null(i) {
                    buf.put_i32(-1);
                    continue;
                }
                let start = buf.len();
                buf.put_i32(0);
                elements.encode(i, buf)?;
                let len = (buf.len() - start - 4) as i32;
                buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
            }
            return Ok(());
        }
        buf.put_u8(b'{');
        let mut element = BytesMut::new();
        for (n, i) in range.enumerate() {
            if n > 0 {
                buf.put_u8(b',');
            }
            if elements.is_null(i) {
                buf.put_slice(b"NULL");
                continue;
            }
            element.clear();
            elements.encode(i, &mut element)?;
            pgtype::quote_array_element(&element, buf);
        }
        buf.put_u8(b'}');
        Ok(())
    }

    fn int(&self, v: i64, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if !self.binary {
            buf.put_slice(itoa::Buffer::new().format(v).as_bytes());
            return Ok(());
        }
        let out_of_range = |type_name| ValueError::OutOfRange {
            type_name,
            value: v.to_string(),
        };
        match self.pg_type {
            Type::INT2 => buf.put_i16(i16::try_from(v).map_err(|_| out_of_range("smallint"))?),
            Type::INT4 => buf.put_i32(i32::try_from(v).map_err(|_| out_of_range("integer"))?),
            Type::INT8 => buf.put_i64(v),
            // OID and the reg* types are unsigned 32-bit on the wire.
            _ => buf.put_u32(v as u32),
        }
        Ok(())
    }

    fn float4(&self, v: f32, buf: &mut BytesMut) {
        if self.binary {
            buf.put_f32(v);
        } else {
            buf.put_slice(pgtype::float4_out(v).as_bytes());
        }
    }

    fn text(&self, v: &str, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if self.pg_type == Type::CHAR && self.binary {
            buf.put_u8(v.as_bytes().first().copied().unwrap_or(0));
        } else if self.pg_type == Type::REGTYPE && self.binary {
            // A `regtype` is its oid on the wire.
            let oid = pgtype::type_oid(v).ok_or_else(|| ValueError::OutOfRange {
                type_name: "regtype",
                value: v.to_owned(),
            })?;
            buf.put_u32(oid);
        } else if self.pg_type == Type::UUID && self.binary {
            buf.put_slice(&pgtype::uuid_send(v)?);
        } else if self.pg_type == Type::JSONB && self.binary {
            // `jsonb`'s binary form: a version byte, then the text.
            buf.put_u8(1);
            buf.put_slice(v.as_bytes());
        } else {
            buf.put_slice(v.as_bytes());
        }
        Ok(())
    }

    fn bytea(&self, v: &[u8], buf: &mut BytesMut) {
        if self.binary {
            buf.put_slice(v);
        } else {
            buf.put_slice(pgtype::bytea_out(v).as_bytes());
        }
    }

    fn date(&self, days_since_unix_epoch: i32, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if self.binary {
            buf.put_i32(pgtype::date_send(days_since_unix_epoch)?);
        } else {
            buf.put_slice(pgtype::date_out(days_since_unix_epoch).as_bytes());
        }
        Ok(())
    }
}

/// Microseconds of a timestamp in any unit; seconds and milliseconds beyond
/// what microseconds can hold are out of range.
fn timestamp_micros(a: &ArrayRef, unit: TimeUnit, row: usize) -> Result<i64, ValueError> {
    use datafusion::arrow::datatypes::{
        TimestampMicrosecondType as Us, TimestampMillisecondType as Ms,
        TimestampNanosecondType as Ns, TimestampSecondType as S,
    };
    let out_of_range = || ValueError::DatetimeOutOfRange { what: "timestamp" };
    Ok(match unit {
        TimeUnit::Second => a
            .as_primitive::<S>()
            .value(row)
            .checked_mul(1_000_000)
            .ok_or_else(out_of_range)?,
        TimeUnit::Millisecond => a
            .as_primitive::<Ms>()
            .value(row)
            .checked_mul(1_000)
            .ok_or_else(out_of_range)?,
        TimeUnit::Microsecond => a.as_primitive::<Us>().value(row),
        TimeUnit::Nanosecond => a.as_primitive::<Ns>().value(row).div_euclid(1_000),
    })
}

fn time_micros(a: &ArrayRef, row: usize) -> i64 {
    use datafusion::arrow::datatypes::{
        Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType,
    };
    match a.data_type() {
        DataType::Time32(TimeUnit::Second) => {
            i64::from(a.as_primitive::<Time32SecondType>().value(row)) * 1_000_000
        }
        DataType::Time32(_) => {
            i64::from(a.as_primitive::<Time32MillisecondType>().value(row)) * 1_000
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            a.as_primitive::<Time64NanosecondType>().value(row) / 1_000
        }
        _ => a.as_primitive::<Time64MicrosecondType>().value(row),
    }
}

/// (months, days, microseconds) of an interval or duration value.
fn interval_parts(a: &ArrayRef, row: usize) -> Result<(i32, i32, i64), ValueError> {
    use datafusion::arrow::datatypes::{
        DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
        DurationSecondType, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalYearMonthType,
    };
    let out_of_range = ValueError::DatetimeOutOfRange { what: "interval" };
    Ok(match a.data_type() {
        DataType::Interval(IntervalUnit::YearMonth) => {
            (a.as_primitive::<IntervalYearMonthType>().value(row), 0, 0)
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            let v = a.as_primitive::<IntervalDayTimeType>().value(row);
            (0, v.days, i64::from(v.milliseconds) * 1_000)
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = a.as_primitive::<IntervalMonthDayNanoType>().value(row);
            (v.months, v.days, v.nanoseconds / 1_000)
        }
        DataType::Duration(unit) => {
            let micros = match unit {
                TimeUnit::Second => a
                    .as_primitive::<DurationSecondType>()
                    .value(row)
                    .checked_mul(1_000_000)
                    .ok_or(out_of_range)?,
                TimeUnit::Millisecond => a
                    .as_primitive::<DurationMillisecondType>()
                    .value(row)
                    .checked_mul(1_000)
                    .ok_or(out_of_range)?,
                TimeUnit::Microsecond => a.as_primitive::<DurationMicrosecondType>().value(row),
                TimeUnit::Nanosecond => {
                    a.as_primitive::<DurationNanosecondType>().value(row) / 1_000
                }
            };
            // PostgreSQL's timestamp difference carries whole days separately.
            let days = micros / 86_400_000_000;
            (0, days as i32, micros % 86_400_000_000)
        }
        _ => (0, 0, 0),
    })
}

#[cfg(test)]
mod tests;
