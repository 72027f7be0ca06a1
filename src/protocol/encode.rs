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
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, Float16Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, IntervalUnit, Schema, TimeUnit, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::messages::data::DataRow;

/// Field metadata that datafusion-pg-catalog puts on OID-typed `Int32` columns.
const OID_ALIAS_KEY: &str = "pg.oid_alias";
/// Field metadata marking PostgreSQL's internal one-byte `"char"` type.
const CHAR_KEY: &str = "pg.char";

/// Microseconds between the Unix epoch and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_OFFSET_DAYS: i32 = 10_957;

/// Errors while encoding values.
#[derive(Debug, thiserror::Error)]
pub(super) enum EncodeError {
    #[error("value {value} is out of range for type {pg_type}")]
    OutOfRange {
        value: String,
        pg_type: &'static str,
    },
    #[error("cannot render column: {0}")]
    Render(#[from] ArrowError),
}

/// The PostgreSQL type a result column is reported as.
pub(super) fn pg_type(field: &Field) -> Type {
    if let Some(alias) = field.metadata().get(OID_ALIAS_KEY) {
        return match alias.as_str() {
            "regclass" => Type::REGCLASS,
            "regtype" => Type::REGTYPE,
            "regproc" => Type::REGPROC,
            "regprocedure" => Type::REGPROCEDURE,
            "regnamespace" => Type::REGNAMESPACE,
            "regrole" => Type::REGROLE,
            "regoper" => Type::REGOPER,
            "regconfig" => Type::REGCONFIG,
            _ => Type::OID,
        };
    }
    match field.data_type() {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Type::INT8,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            if field.metadata().contains_key(CHAR_KEY) {
                Type::CHAR
            } else {
                Type::TEXT
            }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::BYTEA,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL,
        DataType::Dictionary(_, value) => {
            pg_type(&Field::new(field.name(), value.as_ref().clone(), true))
        }
        DataType::List(element) | DataType::LargeList(element)
            if has_dedicated_encoding(element.data_type()) =>
        {
            array_type(&pg_type(element)).unwrap_or(Type::TEXT)
        }
        _ => Type::TEXT,
    }
}

/// The one-dimensional array type whose elements are `element`.
fn array_type(element: &Type) -> Option<Type> {
    Some(match *element {
        Type::BOOL => Type::BOOL_ARRAY,
        Type::INT2 => Type::INT2_ARRAY,
        Type::INT4 => Type::INT4_ARRAY,
        Type::INT8 => Type::INT8_ARRAY,
        Type::FLOAT4 => Type::FLOAT4_ARRAY,
        Type::FLOAT8 => Type::FLOAT8_ARRAY,
        Type::TEXT => Type::TEXT_ARRAY,
        Type::CHAR => Type::CHAR_ARRAY,
        Type::BYTEA => Type::BYTEA_ARRAY,
        Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
        Type::DATE => Type::DATE_ARRAY,
        Type::TIME => Type::TIME_ARRAY,
        Type::INTERVAL => Type::INTERVAL_ARRAY,
        Type::OID => Type::OID_ARRAY,
        _ => return None,
    })
}

/// Whether values of `data_type` have an encoding of their own (rather than
/// Arrow's rendering as text).
fn has_dedicated_encoding(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::Timestamp(_, _)
            | DataType::Date32
            | DataType::Date64
            | DataType::Time64(_)
            | DataType::Time32(_)
            | DataType::Interval(_)
            | DataType::Duration(_)
    )
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
                let v = i64::try_from(v).map_err(|_| EncodeError::OutOfRange {
                    value: v.to_string(),
                    pg_type: "bigint",
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
                    buf.put_slice(format_float8(v).as_bytes());
                }
            }
            DataType::Utf8 => self.text(a.as_string::<i32>().value(row), buf),
            DataType::LargeUtf8 => self.text(a.as_string::<i64>().value(row), buf),
            DataType::Utf8View => self.text(a.as_string_view().value(row), buf),
            DataType::Binary => self.bytea(a.as_binary::<i32>().value(row), buf),
            DataType::LargeBinary => self.bytea(a.as_binary::<i64>().value(row), buf),
            DataType::BinaryView => self.bytea(a.as_binary_view().value(row), buf),
            DataType::Timestamp(unit, tz) => {
                let micros = timestamp_micros(a, *unit, row);
                if self.binary {
                    buf.put_i64(micros.saturating_sub(PG_EPOCH_OFFSET_MICROS));
                } else {
                    let text = match tz {
                        Some(_) => format_timestamptz(micros, self.options.time_zone.as_ref()),
                        None => format_timestamp(micros),
                    };
                    buf.put_slice(text.as_bytes());
                }
            }
            DataType::Date32 => self.date(a.as_primitive::<Date32Type>().value(row), buf),
            DataType::Date64 => {
                let days = a
                    .as_primitive::<Date64Type>()
                    .value(row)
                    .div_euclid(86_400_000);
                self.date(days as i32, buf)
            }
            DataType::Time32(_) | DataType::Time64(_) => {
                let micros = time_micros(a, row);
                if self.binary {
                    buf.put_i64(micros);
                } else {
                    buf.put_slice(format_time_of_day(micros).as_bytes());
                }
            }
            DataType::Interval(_) | DataType::Duration(_) => {
                let (months, days, micros) = interval_parts(a, row);
                if self.binary {
                    buf.put_i64(micros);
                    buf.put_i32(days);
                    buf.put_i32(months);
                } else {
                    buf.put_slice(format_interval(months, days, micros).as_bytes());
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
            let count = i32::try_from(range.len()).map_err(|_| EncodeError::OutOfRange {
                value: range.len().to_string(),
                pg_type: "array",
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
            quote_array_element(&element, buf);
        }
        buf.put_u8(b'}');
        Ok(())
    }

    fn int(&self, v: i64, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if !self.binary {
            buf.put_slice(itoa::Buffer::new().format(v).as_bytes());
            return Ok(());
        }
        let out_of_range = |pg_type| EncodeError::OutOfRange {
            value: v.to_string(),
            pg_type,
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
            buf.put_slice(format_float4(v).as_bytes());
        }
    }

    fn text(&self, v: &str, buf: &mut BytesMut) {
        if self.pg_type == Type::CHAR && self.binary {
            buf.put_u8(v.as_bytes().first().copied().unwrap_or(0));
        } else {
            buf.put_slice(v.as_bytes());
        }
    }

    fn bytea(&self, v: &[u8], buf: &mut BytesMut) {
        if self.binary {
            buf.put_slice(v);
        } else {
            buf.put_slice(b"\\x");
            for byte in v {
                buf.put_slice(format!("{byte:02x}").as_bytes());
            }
        }
    }

    fn date(&self, days_since_unix_epoch: i32, buf: &mut BytesMut) {
        if self.binary {
            buf.put_i32(days_since_unix_epoch.saturating_sub(PG_EPOCH_OFFSET_DAYS));
        } else {
            buf.put_slice(format_date(days_since_unix_epoch).as_bytes());
        }
    }
}

/// Appends an array element's text as `array_out` writes it: in double quotes,
/// with `"` and `\` escaped, when it is empty, reads as NULL, or holds a
/// delimiter, brace, quote, backslash or white space.
fn quote_array_element(text: &[u8], buf: &mut BytesMut) {
    let needs_quotes = text.is_empty()
        || text.eq_ignore_ascii_case(b"NULL")
        || text
            .iter()
            .any(|&b| matches!(b, b'{' | b'}' | b',' | b'"' | b'\\') || b.is_ascii_whitespace());
    if !needs_quotes {
        buf.put_slice(text);
        return;
    }
    buf.put_u8(b'"');
    for &b in text {
        if b == b'"' || b == b'\\' {
            buf.put_u8(b'\\');
        }
        buf.put_u8(b);
    }
    buf.put_u8(b'"');
}

fn timestamp_micros(a: &ArrayRef, unit: TimeUnit, row: usize) -> i64 {
    use datafusion::arrow::datatypes::{
        TimestampMicrosecondType as Us, TimestampMillisecondType as Ms,
        TimestampNanosecondType as Ns, TimestampSecondType as S,
    };
    match unit {
        TimeUnit::Second => a.as_primitive::<S>().value(row).saturating_mul(1_000_000),
        TimeUnit::Millisecond => a.as_primitive::<Ms>().value(row).saturating_mul(1_000),
        TimeUnit::Microsecond => a.as_primitive::<Us>().value(row),
        TimeUnit::Nanosecond => a.as_primitive::<Ns>().value(row).div_euclid(1_000),
    }
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
fn interval_parts(a: &ArrayRef, row: usize) -> (i32, i32, i64) {
    use datafusion::arrow::datatypes::{
        DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
        DurationSecondType, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalYearMonthType,
    };
    match a.data_type() {
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
                    .saturating_mul(1_000_000),
                TimeUnit::Millisecond => a
                    .as_primitive::<DurationMillisecondType>()
                    .value(row)
                    .saturating_mul(1_000),
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
    }
}

/// `float8` as PostgreSQL prints it (extra_float_digits ≥ 1): the shortest text
/// that round-trips, in exponent form outside 1e-4 ≤ |v| < 1e15.
pub(super) fn format_float8(v: f64) -> String {
    // Most values need no exponent: their plain form is the answer, and a
    // whole number's is an integer's.
    let magnitude = v.abs();
    if (1e-4..1e15).contains(&magnitude) {
        return if v == v.trunc() {
            itoa::Buffer::new().format(v as i64).to_owned()
        } else {
            v.to_string()
        };
    }
    format_float8_general(v)
}

/// [`format_float8`] for any value, deciding on the exponent form from it.
fn format_float8_general(v: f64) -> String {
    format_float(v, 15, v.is_nan(), v.is_infinite(), || {
        (format!("{v}"), format!("{v:e}"))
    })
}

/// `float4` likewise, switching to exponent form from 1e6.
pub(super) fn format_float4(v: f32) -> String {
    format_float(v as f64, 6, v.is_nan(), v.is_infinite(), || {
        (format!("{v}"), format!("{v:e}"))
    })
}

fn format_float(
    v: f64,
    max_exponent: i32,
    nan: bool,
    infinite: bool,
    render: impl Fn() -> (String, String),
) -> String {
    if nan {
        return "NaN".to_owned();
    }
    if infinite {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let (plain, scientific) = render();
    if v == 0.0 {
        return plain;
    }
    let (mantissa, exponent) = match scientific.split_once('e') {
        Some((m, e)) => (m.to_owned(), e.parse::<i32>().unwrap_or(0)),
        None => return plain,
    };
    if exponent < -4 || exponent >= max_exponent {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        plain
    }
}

fn civil(micros: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros).map(|dt| dt.naive_utc())
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, fractional zeros trimmed, as PostgreSQL does.
/// The era suffix (` BC`) is left to the caller: it goes after any offset.
fn format_naive(dt: &NaiveDateTime) -> String {
    let mut out = format_date_parts(dt.year(), dt.month(), dt.day());
    out.push(' ');
    out.push_str(&format_clock(
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.nanosecond() / 1_000,
    ));
    out
}

fn format_date_parts(year: i32, month: u32, day: u32) -> String {
    // PostgreSQL has no year 0: year 0 of the proleptic calendar is 1 BC.
    let year = if year <= 0 { 1 - year } else { year };
    format!("{year:04}-{month:02}-{day:02}")
}

fn era(year: i32) -> &'static str {
    if year <= 0 { " BC" } else { "" }
}

fn format_clock(hour: u32, minute: u32, second: u32, micros: u32) -> String {
    let mut out = format!("{hour:02}:{minute:02}:{second:02}");
    if micros > 0 {
        let fraction = format!("{micros:06}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out
}

pub(super) fn format_timestamp(micros: i64) -> String {
    match civil(micros) {
        Some(dt) => format_naive(&dt) + era(dt.year()),
        None => micros.to_string(),
    }
}

/// A `timestamptz` in the session time zone, with PostgreSQL's `+HH[:MM]` offset.
pub(super) fn format_timestamptz(micros: i64, tz: Option<&Tz>) -> String {
    let Some(utc) = DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    let (local, offset) = match tz {
        Some(tz) => {
            let local = utc.with_timezone(tz);
            (local.naive_local(), local.offset().fix().local_minus_utc())
        }
        None => (utc.naive_utc(), 0),
    };
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.abs();
    let mut out = format_naive(&local);
    out.push_str(&format!("{sign}{:02}", offset / 3600));
    if offset % 3600 != 0 {
        out.push_str(&format!(":{:02}", offset % 3600 / 60));
        if offset % 60 != 0 {
            out.push_str(&format!(":{:02}", offset % 60));
        }
    }
    out.push_str(era(local.year()));
    out
}

fn format_date(days_since_unix_epoch: i32) -> String {
    match NaiveDate::from_num_days_from_ce_opt(days_since_unix_epoch.saturating_add(719_163)) {
        Some(d) => format_date_parts(d.year(), d.month(), d.day()) + era(d.year()),
        None => days_since_unix_epoch.to_string(),
    }
}

fn format_time_of_day(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    format_clock(
        (seconds / 3600) as u32,
        (seconds / 60 % 60) as u32,
        (seconds % 60) as u32,
        micros.rem_euclid(1_000_000) as u32,
    )
}

/// An interval in PostgreSQL's default `postgres` IntervalStyle.
pub(super) fn format_interval(months: i32, days: i32, micros: i64) -> String {
    let mut parts = Vec::new();
    let plural = |n: i64, unit: &str| {
        if n.abs() == 1 {
            format!("{n} {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let (years, months) = (months / 12, months % 12);
    if years != 0 {
        parts.push(plural(i64::from(years), "year"));
    }
    if months != 0 {
        parts.push(plural(i64::from(months), "mon"));
    }
    if days != 0 {
        parts.push(plural(i64::from(days), "day"));
    }
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 { "-" } else { "" };
        let abs = micros.unsigned_abs();
        let seconds = abs / 1_000_000;
        let clock = format!(
            "{sign}{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        );
        let fraction = abs % 1_000_000;
        if fraction > 0 {
            let digits = format!("{fraction:06}");
            parts.push(format!("{clock}.{}", digits.trim_end_matches('0')));
        } else {
            parts.push(clock);
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests;
