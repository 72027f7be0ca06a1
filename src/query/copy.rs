//! `COPY`: what a statement asks for, and the writer behind `COPY ... FROM
//! STDIN`.
//!
//! The protocol layer splits the client's data into rows of raw fields (see
//! `protocol::copy_format`); [`CopyIn`] turns them into typed Arrow columns, a
//! batch at a time, and writes each batch to a staging table of the target,
//! compressed as it goes. Only when the client ends the copy does
//! [`CopyIn::finish`] move the staged rows into the table, in one step: like
//! PostgreSQL, a failed COPY applies none of its rows, and the input is never
//! held in memory uncompressed.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption};

use super::transaction::PendingWrites;
use super::{Error, Result};
use crate::storage::{ColumnType, Table};

/// Rows per batch written to the staging table.
const BATCH_ROWS: usize = 8192;

/// Microseconds between the Unix epoch and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// The data format of a `COPY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

/// The options of a `COPY` statement, as given; `None` means PostgreSQL's
/// default for the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    pub format: CopyFormat,
    pub delimiter: Option<char>,
    pub null: Option<String>,
    pub header: bool,
    pub quote: Option<char>,
    pub escape: Option<char>,
}

impl CopyOptions {
    /// Reads the options of a `COPY` statement, new and legacy syntax.
    pub(super) fn parse(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Self> {
        let mut parsed = CopyOptions {
            format: CopyFormat::Text,
            delimiter: None,
            null: None,
            header: false,
            quote: None,
            escape: None,
        };
        for option in options {
            match option {
                CopyOption::Format(name) => {
                    parsed.format = match name.value.to_ascii_lowercase().as_str() {
                        "text" => CopyFormat::Text,
                        "csv" => CopyFormat::Csv,
                        "binary" => CopyFormat::Binary,
                        other => {
                            return Err(Error::InvalidCopyOption {
                                reason: format!("COPY format \"{other}\" not recognized"),
                            });
                        }
                    }
                }
                CopyOption::Delimiter(c) => parsed.delimiter = Some(*c),
                CopyOption::Null(s) => parsed.null = Some(s.clone()),
                CopyOption::Header(h) => parsed.header = *h,
                CopyOption::Quote(c) => parsed.quote = Some(*c),
                CopyOption::Escape(c) => parsed.escape = Some(*c),
                CopyOption::Encoding(e) if e.eq_ignore_ascii_case("utf8") => {}
                CopyOption::Encoding(e) if e.eq_ignore_ascii_case("utf-8") => {}
                CopyOption::Freeze(_) => {}
                other => {
                    return Err(Error::Unsupported {
                        what: format!("the COPY option {other}"),
                    });
                }
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Binary => parsed.format = CopyFormat::Binary,
                CopyLegacyOption::Delimiter(c) => parsed.delimiter = Some(*c),
                CopyLegacyOption::Null(s) => parsed.null = Some(s.clone()),
                CopyLegacyOption::Csv(csv) => {
                    parsed.format = CopyFormat::Csv;
                    for option in csv {
                        match option {
                            CopyLegacyCsvOption::Header => parsed.header = true,
                            CopyLegacyCsvOption::Quote(c) => parsed.quote = Some(*c),
                            CopyLegacyCsvOption::Escape(c) => parsed.escape = Some(*c),
                            other => {
                                return Err(Error::Unsupported {
                                    what: format!("the COPY option {other}"),
                                });
                            }
                        }
                    }
                }
                other => {
                    return Err(Error::Unsupported {
                        what: format!("the COPY option {other}"),
                    });
                }
            }
        }
        if parsed.format != CopyFormat::Csv && (parsed.quote.is_some() || parsed.escape.is_some()) {
            return Err(Error::InvalidCopyOption {
                reason: "COPY QUOTE and ESCAPE are available only in CSV mode".into(),
            });
        }
        if parsed.format == CopyFormat::Binary
            && (parsed.delimiter.is_some() || parsed.null.is_some() || parsed.header)
        {
            return Err(Error::InvalidCopyOption {
                reason: "cannot specify DELIMITER, NULL or HEADER in BINARY mode".into(),
            });
        }
        Ok(parsed)
    }
}

/// A planned `COPY table [(columns)] FROM STDIN`.
#[derive(Debug, Clone)]
pub struct CopyFrom {
    pub(super) table: Arc<Table>,
    /// The table column of each copied column, in the order the data has them.
    pub(super) columns: Vec<usize>,
    pub(super) options: CopyOptions,
}

impl CopyFrom {
    pub fn options(&self) -> &CopyOptions {
        &self.options
    }

    /// How many fields each row of the data has.
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// A writer for one run of the copy; inside an open transaction block of
    /// `pending`, its rows are staged there when it finishes.
    pub fn start(&self, pending: Option<Arc<PendingWrites>>) -> CopyIn {
        let schema = self.table.schema();
        CopyIn {
            pending_writes: pending,
            staging: self.table.staging(),
            table: self.table.clone(),
            pending: (0..self.columns.len()).map(|_| RawColumn::new()).collect(),
            lines: Vec::with_capacity(BATCH_ROWS),
            binary: self.options.format == CopyFormat::Binary,
            not_null: self
                .columns
                .iter()
                .map(|&c| !schema.columns()[c].nullable)
                .collect(),
            missing_not_null: schema
                .columns()
                .iter()
                .enumerate()
                .find(|(i, c)| !c.nullable && !self.columns.contains(i))
                .map(|(_, c)| c.name.clone()),
            columns: self.columns.clone(),
            rows: 0,
        }
    }
}

/// Stages the rows of one `COPY ... FROM STDIN`; see the module documentation.
#[derive(Debug)]
pub struct CopyIn {
    table: Arc<Table>,
    pending_writes: Option<Arc<PendingWrites>>,
    staging: Table,
    columns: Vec<usize>,
    binary: bool,
    /// Whether each copied column is NOT NULL.
    not_null: Vec<bool>,
    /// A NOT NULL column the copy leaves out: every row violates it.
    missing_not_null: Option<String>,
    /// Raw fields of the rows not yet written, per copied column.
    pending: Vec<RawColumn>,
    /// The input line of each pending row, for error messages.
    lines: Vec<u64>,
    rows: u64,
}

impl CopyIn {
    /// Adds field `column` of the current row: its raw bytes (text, or a
    /// value in PostgreSQL's binary format), or `None` for NULL. Fields come in
    /// column order; [`end_row`](Self::end_row) closes the row.
    pub fn push_field(&mut self, column: usize, value: Option<&[u8]>) {
        if let Some(pending) = self.pending.get_mut(column) {
            pending.push(value);
        }
    }

    /// Closes the current row, read from input line `line`.
    pub fn end_row(&mut self, line: u64) -> Result<()> {
        let row = self.lines.len();
        if let Some(column) = &self.missing_not_null {
            return Err(self.not_null_error(column.clone(), line));
        }
        if let Some(position) = self.pending.iter().position(|p| p.len() != row + 1) {
            return Err(Error::Storage(crate::storage::Error::Internal {
                reason: format!("COPY row is missing field {}", position + 1),
            }));
        }
        if let Some(position) =
            (0..self.pending.len()).find(|&i| self.not_null[i] && !self.pending[i].is_valid(row))
        {
            let column = self.table.schema().columns()[self.columns[position]]
                .name
                .clone();
            return Err(self.not_null_error(column, line));
        }
        self.lines.push(line);
        if self.lines.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the remaining rows and applies the whole copy to the table, or
    /// stages it in the open transaction block. Returns the number of rows
    /// copied, once they are durable.
    pub async fn finish(mut self) -> Result<u64> {
        self.flush()?;
        let staging = match &self.pending_writes {
            Some(pending) => pending.stage_table(&self.table, self.staging),
            None => Some(self.staging),
        };
        if let Some(staging) = staging {
            self.table.absorb(staging)?.durable().await?;
        }
        Ok(self.rows)
    }

    fn not_null_error(&self, column: String, line: u64) -> Error {
        Error::CopyNotNull {
            table: self.table.name().to_owned(),
            column,
            context: format!("COPY {}, line {line}", self.table.name()),
        }
    }

    /// Converts the pending rows into a batch and stages it.
    fn flush(&mut self) -> Result<()> {
        let rows = self.lines.len();
        if rows == 0 {
            return Ok(());
        }
        let schema = self.table.schema().clone();
        let mut arrays: Vec<ArrayRef> = schema
            .columns()
            .iter()
            .map(|c| new_null_array(&c.column_type.arrow_type(), rows))
            .collect();
        for (position, &column) in self.columns.iter().enumerate() {
            let values = &mut self.pending[position];
            let column_schema = &schema.columns()[column];
            let context = |row: usize| CopyContext {
                table: self.table.name(),
                line: self.lines.get(row).copied().unwrap_or(0),
                column: &column_schema.name,
            };
            arrays[column] = if self.binary {
                binary_array(values, column_schema.column_type, &context)?
            } else {
                text_array(values, column_schema.column_type, &context)?
            };
            values.clear();
        }
        let batch = RecordBatch::try_new(self.table.arrow_schema().clone(), arrays)
            .map_err(|e| Error::Storage(e.into()))?;
        // A staging table has no log: nothing to wait for.
        self.staging.write(&[batch])?.without_waiting();
        self.rows += rows as u64;
        self.lines.clear();
        Ok(())
    }
}

/// The raw fields of one copied column, end to end in one buffer: no
/// allocation per field.
#[derive(Debug)]
struct RawColumn {
    bytes: Vec<u8>,
    /// `offsets[i]..offsets[i + 1]` holds field `i`.
    offsets: Vec<usize>,
    valid: Vec<bool>,
}

impl RawColumn {
    fn new() -> Self {
        Self {
            bytes: Vec::new(),
            offsets: vec![0],
            valid: Vec::with_capacity(BATCH_ROWS),
        }
    }

    fn push(&mut self, value: Option<&[u8]>) {
        if let Some(value) = value {
            self.bytes.extend_from_slice(value);
        }
        self.offsets.push(self.bytes.len());
        self.valid.push(value.is_some());
    }

    fn len(&self) -> usize {
        self.valid.len()
    }

    fn is_valid(&self, row: usize) -> bool {
        self.valid.get(row).copied().unwrap_or(false)
    }

    fn get(&self, row: usize) -> Option<&[u8]> {
        if !self.is_valid(row) {
            return None;
        }
        self.bytes.get(self.offsets[row]..self.offsets[row + 1])
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.offsets.truncate(1);
        self.valid.clear();
    }

    /// The column as UTF-8 text, without copying the bytes; PostgreSQL
    /// rejects NUL bytes too.
    fn to_strings<'a>(&self, context: &dyn Fn(usize) -> CopyContext<'a>) -> Result<StringArray> {
        let invalid = |row: usize| Error::CopyInvalidEncoding {
            context: context(row).without_value(),
        };
        if std::str::from_utf8(&self.bytes).is_err() || self.bytes.contains(&0) {
            let row = (0..self.len())
                .find(|&r| {
                    self.get(r)
                        .is_some_and(|v| v.contains(&0) || std::str::from_utf8(v).is_err())
                })
                .unwrap_or(0);
            return Err(invalid(row));
        }
        let offsets = self
            .offsets
            .iter()
            .map(|&o| i32::try_from(o))
            .collect::<std::result::Result<Vec<i32>, _>>()
            .map_err(|_| {
                Error::Storage(crate::storage::Error::Internal {
                    reason: "COPY batch larger than 2 GiB".into(),
                })
            })?;
        StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_slice_ref(&self.bytes),
            Some(NullBuffer::from(self.valid.clone())),
        )
        .map_err(|e| Error::Storage(e.into()))
    }
}

/// Where a value came from, for error messages.
struct CopyContext<'a> {
    table: &'a str,
    line: u64,
    column: &'a str,
}

impl CopyContext<'_> {
    fn with_value(&self, value: &str) -> String {
        format!(
            "COPY {}, line {}, column {}: \"{value}\"",
            self.table, self.line, self.column
        )
    }

    fn without_value(&self) -> String {
        format!(
            "COPY {}, line {}, column {}",
            self.table, self.line, self.column
        )
    }
}

fn type_name(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Timestamp {
            with_time_zone: true,
        } => "timestamp with time zone",
        ColumnType::Timestamp {
            with_time_zone: false,
        } => "timestamp without time zone",
        ColumnType::Float64 => "double precision",
        ColumnType::Float32 => "real",
        ColumnType::Int64 => "bigint",
        ColumnType::Int32 => "integer",
        ColumnType::Int16 => "smallint",
        ColumnType::Boolean => "boolean",
        ColumnType::Utf8 => "text",
    }
}

fn invalid_text(column_type: ColumnType, value: &str, context: &CopyContext<'_>) -> Error {
    Error::CopyInvalidText {
        type_name: type_name(column_type),
        value: value.to_owned(),
        context: context.with_value(value),
    }
}

/// Parses each text field with `parse`, as PostgreSQL's input function for the
/// type would: surrounding whitespace is allowed.
fn parse_each<'a, T>(
    strings: &StringArray,
    column_type: ColumnType,
    context: &dyn Fn(usize) -> CopyContext<'a>,
    parse: impl Fn(&str) -> std::result::Result<T, ParseFailure>,
) -> Result<Vec<Option<T>>> {
    strings
        .iter()
        .enumerate()
        .map(|(row, v)| {
            v.map(|s| {
                parse(s.trim()).map_err(|failure| match failure {
                    ParseFailure::Invalid => invalid_text(column_type, s, &context(row)),
                    ParseFailure::OutOfRange => Error::CopyOutOfRange {
                        type_name: type_name(column_type),
                        value: s.to_owned(),
                        context: context(row).with_value(s),
                    },
                })
            })
            .transpose()
        })
        .collect()
}

enum ParseFailure {
    Invalid,
    OutOfRange,
}

fn int<T: std::str::FromStr<Err = std::num::ParseIntError>>(
    s: &str,
) -> std::result::Result<T, ParseFailure> {
    s.parse::<T>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            ParseFailure::OutOfRange
        }
        _ => ParseFailure::Invalid,
    })
}

/// PostgreSQL's float input: decimal or exponent notation, `NaN`, `Infinity`
/// and `inf`, any case, with a sign.
fn float(s: &str) -> std::result::Result<f64, ParseFailure> {
    let valid = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'));
    if !valid {
        return Err(ParseFailure::Invalid);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_infinite() && !s.to_ascii_lowercase().contains("inf") => {
            Err(ParseFailure::OutOfRange)
        }
        Ok(v) => Ok(v),
        Err(_) => Err(ParseFailure::Invalid),
    }
}

/// PostgreSQL's boolean input: `t`, `true`, `yes`, `on`, `1` and their
/// opposites, any case, or an unambiguous prefix of the words.
fn boolean(s: &str) -> std::result::Result<bool, ParseFailure> {
    let lower = s.to_ascii_lowercase();
    let is_prefix = |word: &str| !lower.is_empty() && word.starts_with(lower.as_str());
    match lower.as_str() {
        "1" | "on" => Ok(true),
        "0" | "of" | "off" => Ok(false),
        _ if is_prefix("true") || is_prefix("yes") => Ok(true),
        _ if is_prefix("false") || is_prefix("no") => Ok(false),
        _ => Err(ParseFailure::Invalid),
    }
}

fn text_array<'a>(
    values: &RawColumn,
    column_type: ColumnType,
    context: &dyn Fn(usize) -> CopyContext<'a>,
) -> Result<ArrayRef> {
    let strings = values.to_strings(context)?;
    Ok(match column_type {
        ColumnType::Utf8 => Arc::new(strings),
        ColumnType::Float64 => Arc::new(Float64Array::from(parse_each(
            &strings,
            column_type,
            context,
            float,
        )?)),
        ColumnType::Float32 => Arc::new(Float32Array::from(parse_each(
            &strings,
            column_type,
            context,
            |s| {
                let v = float(s)?;
                let narrow = v as f32;
                if narrow.is_infinite() && v.is_finite() {
                    Err(ParseFailure::OutOfRange)
                } else {
                    Ok(narrow)
                }
            },
        )?)),
        ColumnType::Int64 => Arc::new(Int64Array::from(parse_each(
            &strings,
            column_type,
            context,
            int::<i64>,
        )?)),
        ColumnType::Int32 => Arc::new(Int32Array::from(parse_each(
            &strings,
            column_type,
            context,
            int::<i32>,
        )?)),
        ColumnType::Int16 => Arc::new(Int16Array::from(parse_each(
            &strings,
            column_type,
            context,
            int::<i16>,
        )?)),
        ColumnType::Boolean => Arc::new(BooleanArray::from(parse_each(
            &strings,
            column_type,
            context,
            boolean,
        )?)),
        ColumnType::Timestamp { .. } => {
            // Arrow's timestamp parser reads PostgreSQL's output formats
            // (ISO 8601, with a space or a `T`, with or without an offset).
            let input = strings;
            let target = column_type.arrow_type();
            let parsed = cast_with_options(&input, &target, &CastOptions::default())
                .map_err(|e| Error::Storage(e.into()))?;
            if let Some(row) = (0..input.len()).find(|&r| input.is_valid(r) && parsed.is_null(r)) {
                return Err(invalid_text(column_type, input.value(row), &context(row)));
            }
            parsed
        }
    })
}

/// Binary fields in PostgreSQL's binary format for the column's type.
fn binary_array<'a>(
    values: &RawColumn,
    column_type: ColumnType,
    context: &dyn Fn(usize) -> CopyContext<'a>,
) -> Result<ArrayRef> {
    fn fixed<'a, const N: usize, T>(
        values: &RawColumn,
        context: &dyn Fn(usize) -> CopyContext<'a>,
        convert: impl Fn([u8; N]) -> T,
    ) -> Result<Vec<Option<T>>> {
        (0..values.len())
            .map(|row| {
                values
                    .get(row)
                    .map(|bytes| {
                        <[u8; N]>::try_from(bytes).map(&convert).map_err(|_| {
                            Error::CopyInvalidBinary {
                                context: context(row).without_value(),
                            }
                        })
                    })
                    .transpose()
            })
            .collect()
    }
    Ok(match column_type {
        ColumnType::Utf8 => Arc::new(values.to_strings(context)?),
        ColumnType::Float64 => Arc::new(Float64Array::from(fixed(
            values,
            context,
            f64::from_be_bytes,
        )?)),
        ColumnType::Float32 => Arc::new(Float32Array::from(fixed(
            values,
            context,
            f32::from_be_bytes,
        )?)),
        ColumnType::Int64 => Arc::new(Int64Array::from(fixed(
            values,
            context,
            i64::from_be_bytes,
        )?)),
        ColumnType::Int32 => Arc::new(Int32Array::from(fixed(
            values,
            context,
            i32::from_be_bytes,
        )?)),
        ColumnType::Int16 => Arc::new(Int16Array::from(fixed(
            values,
            context,
            i16::from_be_bytes,
        )?)),
        ColumnType::Boolean => Arc::new(BooleanArray::from(fixed(
            values,
            context,
            |[b]: [u8; 1]| b != 0,
        )?)),
        ColumnType::Timestamp { with_time_zone } => {
            let micros = fixed(values, context, |b: [u8; 8]| {
                i64::from_be_bytes(b).saturating_add(PG_EPOCH_OFFSET_MICROS)
            })?;
            let array = TimestampMicrosecondArray::from(micros);
            let array = match column_type.arrow_type() {
                DataType::Timestamp(TimeUnit::Microsecond, Some(zone)) if with_time_zone => {
                    array.with_timezone(zone)
                }
                _ => array,
            };
            Arc::new(array)
        }
    })
}

#[cfg(test)]
mod tests;
