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

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, PrimitiveArray, StringArray, TimestampMicrosecondArray,
    new_null_array,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    TimeUnit,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Expr as SqlExpr,
    Ident, ObjectName, SelectItem, SetExpr, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::names::{normalize, qualified};
use super::transaction::PendingWrites;
use crate::query::error::{Error, Result};
use crate::storage::{ColumnType, Namespace, SeriesId, Storage, Table};

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
    pub(crate) fn parse(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Self> {
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

/// A planned `COPY`: into a table, or the rows of a query.
#[derive(Debug)]
pub(crate) enum CopyPlan {
    From(CopyFrom),
    /// `query` selects the rows; for `COPY table TO`, the table's columns.
    To {
        query: Box<Statement>,
        options: CopyOptions,
    },
}

/// Plans a `COPY` statement: from STDIN into a table, or to STDOUT from a
/// table or a query. Files and programs on the server are not offered.
pub(crate) fn plan(
    storage: &Storage,
    ctx: &SessionContext,
    statement: Statement,
) -> Result<CopyPlan> {
    let Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return Err(Error::Unsupported {
            what: "this statement as COPY".into(),
        });
    };
    let options = CopyOptions::parse(&options, &legacy_options)?;
    match (to, target) {
        (false, CopyTarget::Stdin) => {}
        (true, CopyTarget::Stdout) => {}
        (_, CopyTarget::File { .. } | CopyTarget::Program { .. }) => {
            return Err(Error::Unsupported {
                what: "COPY to or from a file or program on the server (use STDIN or STDOUT)"
                    .into(),
            });
        }
        (false, _) => {
            return Err(Error::InvalidCopyOption {
                reason: "COPY FROM reads only from STDIN".into(),
            });
        }
        (true, _) => {
            return Err(Error::InvalidCopyOption {
                reason: "COPY TO writes only to STDOUT".into(),
            });
        }
    }
    let query = match source {
        CopySource::Query(query) if to => Statement::Query(query),
        CopySource::Query(_) => {
            return Err(Error::InvalidCopyOption {
                reason: "COPY FROM needs a table, not a query".into(),
            });
        }
        CopySource::Table {
            table_name,
            columns,
        } => {
            let (namespace, table) = copy_table(storage, ctx, &table_name)?;
            let schema = table.schema();
            let indices = if columns.is_empty() {
                (0..schema.columns().len()).collect()
            } else {
                columns
                    .iter()
                    .map(|c| {
                        let name = normalize(c);
                        schema
                            .columns()
                            .iter()
                            .position(|s| s.name == name)
                            .ok_or(Error::UndefinedColumn { name })
                    })
                    .collect::<Result<Vec<_>>>()?
            };
            if !to {
                return Ok(CopyPlan::From(CopyFrom {
                    table,
                    namespace,
                    columns: indices,
                    options,
                }));
            }
            let projection = indices
                .iter()
                .map(|&i| {
                    SelectItem::UnnamedExpr(SqlExpr::Identifier(Ident::with_quote(
                        '"',
                        schema.columns()[i].name.clone(),
                    )))
                })
                .collect();
            let select = format!("SELECT 1 FROM {table_name}");
            let Some(Statement::Query(mut query)) =
                Parser::parse_sql(&PostgreSqlDialect {}, &select)
                    .map_err(|e| Error::DataFusion(e.into()))?
                    .pop()
            else {
                return Err(Error::Unsupported {
                    what: format!("COPY {table_name}"),
                });
            };
            if let SetExpr::Select(select) = query.body.as_mut() {
                select.projection = projection;
            }
            Statement::Query(query)
        }
    };
    Ok(CopyPlan::To {
        query: Box::new(query),
        options,
    })
}

/// The storage table `name` names, in the session's database, and its schema.
fn copy_table(
    storage: &Storage,
    ctx: &SessionContext,
    name: &ObjectName,
) -> Result<(Arc<Namespace>, Arc<Table>)> {
    let options = ctx.state().config().options().catalog.clone();
    let (schema, table) = qualified(name, &options.default_catalog, &options.default_schema)?;
    let namespace = storage
        .database(&options.default_catalog)
        .and_then(|db| db.schema(&schema));
    namespace
        .and_then(|namespace| Some((namespace.clone(), namespace.table(&table)?)))
        .ok_or_else(|| Error::UndefinedTable {
            name: name.to_string(),
        })
}

/// A planned `COPY table [(columns)] FROM STDIN`.
#[derive(Debug, Clone)]
pub struct CopyFrom {
    pub(crate) table: Arc<Table>,
    /// The schema the table is in, for the privilege check.
    pub(crate) namespace: Arc<Namespace>,
    /// The table column of each copied column, in the order the data has them.
    pub(crate) columns: Vec<usize>,
    pub(crate) options: CopyOptions,
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
    /// `pending`, its rows are staged there when it finishes. Its rows are
    /// converted and staged by a worker on a blocking thread, while the
    /// connection goes on decoding: call it from within a Tokio runtime.
    pub fn start(&self, pending: Option<Arc<PendingWrites>>) -> CopyIn {
        let schema = self.table.schema();
        let position = |column: usize| self.columns.iter().position(|&c| c == column);
        let converter = Converter {
            table: self.table.clone(),
            binary: self.options.format == CopyFormat::Binary,
            time: position(schema.time_index()),
            tags: schema.tag_indices().iter().map(|&c| position(c)).collect(),
            fields: schema
                .field_indices()
                .iter()
                .map(|&c| position(c))
                .collect(),
            series: HashMap::default(),
            key: Vec::new(),
        };
        let (batches, inbox) = mpsc::channel::<RawRows>(PIPELINE_DEPTH);
        let (recycle, recycled) = std::sync::mpsc::channel::<RawRows>();
        let staging = self.table.staging();
        let worker = tokio::task::spawn_blocking(move || converter.run(inbox, recycle, staging));
        CopyIn {
            pending_writes: pending,
            table: self.table.clone(),
            rows: RawRows::new(self.columns.len()),
            batches: Some(batches),
            recycled,
            worker: Some(worker),
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
        }
    }
}

/// Batches that may wait for the worker: the decoder runs at most this far
/// ahead of the conversion, which bounds the memory a copy holds.
const PIPELINE_DEPTH: usize = 2;

/// A batch is also handed over once its raw bytes reach this size, so that
/// wide rows do not build up.
const BATCH_BYTES: usize = 16 << 20;

/// A field of a row given to [`CopyIn::push_row`]: where its bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawField {
    Null,
    /// `line[start..end]`: the value as it stands in the input line.
    Line(usize, usize),
    /// `extra[start..end]`: a value that had to be rewritten (de-escaped).
    Extra(usize, usize),
}

/// Stages the rows of one `COPY ... FROM STDIN`; see the module documentation.
///
/// The connection hands it rows as raw fields ([`push_row`](Self::push_row));
/// full batches go to a worker ([`ship`](Self::ship)), which parses them
/// into typed columns and writes them to a staging table while the next
/// batch is decoded. Dropping the writer drops what it staged.
#[derive(Debug)]
pub struct CopyIn {
    table: Arc<Table>,
    pending_writes: Option<Arc<PendingWrites>>,
    columns: Vec<usize>,
    /// Whether each copied column is NOT NULL.
    not_null: Vec<bool>,
    /// A NOT NULL column the copy leaves out: every row violates it.
    missing_not_null: Option<String>,
    /// The batch being filled.
    rows: RawRows,
    /// To the worker; `None` once the copy has been closed.
    batches: Option<mpsc::Sender<RawRows>>,
    /// Batches the worker is done with, to be filled again.
    recycled: std::sync::mpsc::Receiver<RawRows>,
    worker: Option<tokio::task::JoinHandle<Result<(Table, u64)>>>,
}

impl CopyIn {
    /// Adds a row, read from input line `line_no`: `fields` (one per copied
    /// column, in order) point into `line` or `extra`, which hold text or
    /// PostgreSQL's binary format. Returns whether a batch is full: then
    /// [`ship`](Self::ship) it before the next row.
    pub fn push_row(
        &mut self,
        line: &[u8],
        extra: &[u8],
        fields: &[RawField],
        line_no: u64,
    ) -> Result<bool> {
        if let Some(column) = &self.missing_not_null {
            return Err(self.not_null_error(column.clone(), line_no));
        }
        if fields.len() != self.columns.len() {
            return Err(internal(format!(
                "COPY row has {} fields, expected {}",
                fields.len(),
                self.columns.len()
            )));
        }
        if let Some(position) =
            (0..fields.len()).find(|&i| self.not_null[i] && fields[i] == RawField::Null)
        {
            let column = self.table.schema().columns()[self.columns[position]]
                .name
                .clone();
            return Err(self.not_null_error(column, line_no));
        }
        self.rows.push(line, extra, fields, line_no)?;
        Ok(self.rows.is_full())
    }

    /// Hands the rows pushed so far to the worker, waiting while it is
    /// [`PIPELINE_DEPTH`] batches behind. Returns the worker's error if it
    /// has failed.
    pub async fn ship(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let empty = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| RawRows::new(self.columns.len()));
        let batch = std::mem::replace(&mut self.rows, empty);
        let Some(batches) = &self.batches else {
            return Err(internal("COPY batch after the copy was closed".into()));
        };
        if batches.send(batch).await.is_err() {
            // The worker stopped early, on an error: report it.
            self.batches = None;
            self.join().await?;
            return Err(internal("COPY worker stopped".into()));
        }
        Ok(())
    }

    /// Writes the remaining rows and applies the whole copy to the table, or
    /// stages it in the open transaction block. Returns the number of rows
    /// copied, once they are durable.
    pub async fn finish(mut self) -> Result<u64> {
        self.ship().await?;
        self.batches = None;
        let (staging, rows) = self.join().await?;
        let staging = match &self.pending_writes {
            Some(pending) => pending.stage_table(&self.table, staging),
            None => Some(staging),
        };
        if let Some(staging) = staging {
            self.table.absorb(staging)?.durable().await?;
        }
        Ok(rows)
    }

    /// Waits for the worker to end (its input closed, or an error).
    async fn join(&mut self) -> Result<(Table, u64)> {
        let worker = self
            .worker
            .take()
            .ok_or_else(|| internal("COPY worker already joined".into()))?;
        worker
            .await
            .map_err(|e| internal(format!("COPY worker failed: {e}")))?
    }

    fn not_null_error(&self, column: String, line: u64) -> Error {
        not_null_error(&self.table, column, line)
    }
}

fn not_null_error(table: &Table, column: String, line: u64) -> Error {
    Error::CopyNotNull {
        table: table.name().to_owned(),
        column,
        context: format!("COPY {}, line {line}", table.name()),
    }
}

fn internal(reason: String) -> Error {
    Error::Storage(crate::storage::Error::Internal { reason })
}

/// The worker's side of a copy: turns raw batches into typed columns and
/// stages them.
#[derive(Debug)]
struct Converter {
    table: Arc<Table>,
    binary: bool,
    /// Where the time column, each tag column and each field column (in the
    /// table's order) are among the copied columns, if copied.
    time: Option<usize>,
    tags: Vec<Option<usize>>,
    fields: Vec<Option<usize>>,
    /// Series of the staging table by the raw bytes of their tag values
    /// (see [`series_key`](Self::series_key)): most rows are found here
    /// without decoding their tags.
    series: HashMap<Box<[u8]>, SeriesId, foldhash::fast::FixedState>,
    /// Scratch space for a row's key.
    key: Vec<u8>,
}

impl Converter {
    /// Converts and stages batches until the input closes; returns the
    /// staging table and its row count, or the first error (which drops the
    /// input, so that the connection sees the failure at its next batch).
    fn run(
        mut self,
        mut inbox: mpsc::Receiver<RawRows>,
        recycle: std::sync::mpsc::Sender<RawRows>,
        staging: Table,
    ) -> Result<(Table, u64)> {
        let mut rows = 0;
        while let Some(mut batch) = inbox.blocking_recv() {
            self.stage(&batch, &staging)?;
            rows += batch.len() as u64;
            batch.clear();
            // The connection may have gone: then the batch is just dropped.
            let _ = recycle.send(batch);
        }
        Ok((staging, rows))
    }

    /// Parses one raw batch and appends it to `staging`; columns the copy
    /// leaves out are NULL.
    fn stage(&mut self, raw: &RawRows, staging: &Table) -> Result<()> {
        let ids = (0..raw.len())
            .map(|row| self.series_of(raw, row, staging))
            .collect::<Result<Vec<_>>>()?;
        let time = self.column(raw, schema_index(&self.table, Role::Time), self.time)?;
        let fields = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, &position)| {
                self.column(raw, schema_index(&self.table, Role::Field(i)), position)
            })
            .collect::<Result<Vec<_>>>()?;
        staging.write_series(ids, time, fields)?;
        Ok(())
    }

    /// Table column `index`, copied at `position` (or NULL), as an array.
    fn column(&self, raw: &RawRows, index: usize, position: Option<usize>) -> Result<ArrayRef> {
        let column = &self.table.schema().columns()[index];
        let Some(position) = position else {
            return Ok(new_null_array(&column.column_type.arrow_type(), raw.len()));
        };
        let values = RawColumn {
            rows: raw,
            column: position,
        };
        let context = |row: usize| CopyContext {
            table: self.table.name(),
            line: raw.lines.get(row).copied().unwrap_or(0),
            column: &column.name,
        };
        if self.binary {
            binary_array(&values, column.column_type, &context)
        } else {
            text_array(&values, column.column_type, &context)
        }
    }

    /// The staging table's series of `row`, found by the raw bytes of its
    /// tags; a new one is checked (valid UTF-8, no NUL) and created.
    fn series_of(&mut self, raw: &RawRows, row: usize, staging: &Table) -> Result<SeriesId> {
        let mut key = std::mem::take(&mut self.key);
        self.series_key(raw, row, &mut key);
        let found = self.series.get(key.as_slice()).copied();
        let id = match found {
            Some(id) => Ok(id),
            None => self.new_series(raw, row, staging).inspect(|&id| {
                self.series.insert(key.as_slice().into(), id);
            }),
        };
        self.key = key;
        id
    }

    /// A row's tag values as one byte string: per tag column, 0 for NULL, or
    /// 1, the length (4 bytes) and the bytes. Equal keys, equal series.
    fn series_key(&self, raw: &RawRows, row: usize, key: &mut Vec<u8>) {
        key.clear();
        for &position in &self.tags {
            match position.and_then(|p| raw.get(row, p)) {
                None => key.push(0),
                Some(value) => {
                    key.push(1);
                    key.extend_from_slice(&(value.len() as u32).to_le_bytes());
                    key.extend_from_slice(value);
                }
            }
        }
    }

    fn new_series(&self, raw: &RawRows, row: usize, staging: &Table) -> Result<SeriesId> {
        let tags = self
            .tags
            .iter()
            .enumerate()
            .map(|(i, &position)| {
                let Some(value) = position.and_then(|p| raw.get(row, p)) else {
                    return Ok(None);
                };
                match std::str::from_utf8(value) {
                    Ok(text) if !value.contains(&0) => Ok(Some(text)),
                    _ => Err(Error::CopyInvalidEncoding {
                        context: CopyContext {
                            table: self.table.name(),
                            line: raw.lines.get(row).copied().unwrap_or(0),
                            column: &self.table.schema().columns()
                                [schema_index(&self.table, Role::Tag(i))]
                            .name,
                        }
                        .without_value(),
                    }),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(staging.series(&tags)?)
    }
}

/// A column by its role in the table.
enum Role {
    Time,
    Tag(usize),
    Field(usize),
}

fn schema_index(table: &Table, role: Role) -> usize {
    let schema = table.schema();
    match role {
        Role::Time => schema.time_index(),
        Role::Tag(i) => schema.tag_indices()[i],
        Role::Field(i) => schema.field_indices()[i],
    }
}

/// Rows of raw fields: each row's input line (and de-escaped values) copied
/// once, end to end in one buffer, and where each field lies in it.
#[derive(Debug)]
struct RawRows {
    columns: usize,
    bytes: Vec<u8>,
    /// Row-major: field `c` of row `r` is `bytes[start..end]` for
    /// `fields[r * columns + c] = (start, end)`; NULL is `(u32::MAX, 0)`.
    fields: Vec<(u32, u32)>,
    /// The input line of each row, for error messages.
    lines: Vec<u64>,
    /// Whether each column has a NULL.
    has_null: Vec<bool>,
}

const NULL_FIELD: (u32, u32) = (u32::MAX, 0);

impl RawRows {
    fn new(columns: usize) -> Self {
        Self {
            columns,
            bytes: Vec::new(),
            fields: Vec::with_capacity(BATCH_ROWS * columns),
            lines: Vec::with_capacity(BATCH_ROWS),
            has_null: vec![false; columns],
        }
    }

    fn len(&self) -> usize {
        self.lines.len()
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn is_full(&self) -> bool {
        self.lines.len() >= BATCH_ROWS || self.bytes.len() >= BATCH_BYTES
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.fields.clear();
        self.lines.clear();
        self.has_null.fill(false);
    }

    fn push(&mut self, line: &[u8], extra: &[u8], fields: &[RawField], line_no: u64) -> Result<()> {
        let offset = |at: usize| {
            u32::try_from(at).map_err(|_| internal("COPY batch larger than 4 GiB".into()))
        };
        let line_base = self.bytes.len();
        self.bytes.extend_from_slice(line);
        let extra_base = self.bytes.len();
        self.bytes.extend_from_slice(extra);
        offset(self.bytes.len())?;
        for (column, field) in fields.iter().enumerate() {
            self.fields.push(match *field {
                RawField::Null => {
                    self.has_null[column] = true;
                    NULL_FIELD
                }
                RawField::Line(start, end) if start <= end && end <= line.len() => {
                    (offset(line_base + start)?, offset(line_base + end)?)
                }
                RawField::Extra(start, end) if start <= end && end <= extra.len() => {
                    (offset(extra_base + start)?, offset(extra_base + end)?)
                }
                _ => return Err(internal("COPY field outside its row".into())),
            });
        }
        self.lines.push(line_no);
        Ok(())
    }

    fn get(&self, row: usize, column: usize) -> Option<&[u8]> {
        let (start, end) = self.fields[row * self.columns + column];
        if start == u32::MAX {
            return None;
        }
        self.bytes.get(start as usize..end as usize)
    }
}

/// One column of a [`RawRows`].
#[derive(Debug, Clone, Copy)]
struct RawColumn<'a> {
    rows: &'a RawRows,
    column: usize,
}

impl<'a> RawColumn<'a> {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn get(&self, row: usize) -> Option<&'a [u8]> {
        self.rows.get(row, self.column)
    }

    /// Validity, or `None` when no value is NULL.
    fn nulls(&self) -> Option<NullBuffer> {
        if !self.rows.has_null[self.column] {
            return None;
        }
        let valid: Vec<bool> = (0..self.len()).map(|r| self.get(r).is_some()).collect();
        valid.contains(&false).then(|| NullBuffer::from(valid))
    }

    /// The column as UTF-8 text; PostgreSQL rejects NUL bytes too.
    fn strings(self, context: &dyn Fn(usize) -> CopyContext<'a>) -> Result<StringArray> {
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(self.len() + 1);
        offsets.push(0i32);
        for row in 0..self.len() {
            if let Some(value) = self.get(row) {
                bytes.extend_from_slice(value);
            }
            offsets.push(
                i32::try_from(bytes.len())
                    .map_err(|_| internal("COPY batch larger than 2 GiB".into()))?,
            );
        }
        if std::str::from_utf8(&bytes).is_err() || bytes.contains(&0) {
            let row = (0..self.len())
                .find(|&r| {
                    self.get(r)
                        .is_some_and(|v| v.contains(&0) || std::str::from_utf8(v).is_err())
                })
                .unwrap_or(0);
            return Err(Error::CopyInvalidEncoding {
                context: context(row).without_value(),
            });
        }
        StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(bytes),
            self.nulls(),
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

/// Parses each text field: with `fast` on its raw bytes when that answers
/// (the common forms, without a UTF-8 check or trimming), otherwise with
/// `parse`, as PostgreSQL's input function for the type would: surrounding
/// whitespace is allowed.
fn parse_each<'a, T: Default>(
    values: &RawColumn<'a>,
    column_type: ColumnType,
    context: &dyn Fn(usize) -> CopyContext<'a>,
    fast: impl Fn(&[u8]) -> Option<T>,
    parse: impl Fn(&str) -> std::result::Result<T, ParseFailure>,
) -> Result<(Vec<T>, Option<NullBuffer>)> {
    let mut parsed = Vec::with_capacity(values.len());
    for row in 0..values.len() {
        let Some(raw) = values.get(row) else {
            parsed.push(T::default());
            continue;
        };
        if let Some(value) = fast(raw) {
            parsed.push(value);
            continue;
        }
        let text = std::str::from_utf8(raw).map_err(|_| Error::CopyInvalidEncoding {
            context: context(row).without_value(),
        })?;
        let value = parse(trim_space(text)).map_err(|failure| match failure {
            ParseFailure::Invalid => invalid_text(column_type, text, &context(row)),
            ParseFailure::OutOfRange => Error::CopyOutOfRange {
                type_name: type_name(column_type),
                value: text.to_owned(),
                context: context(row).with_value(text),
            },
        })?;
        parsed.push(value);
    }
    Ok((parsed, values.nulls()))
}

/// The common case of integer input, fast: `[-]digits`, at most 18 of them
/// (so no overflow in `i64`); `None` otherwise, or when out of `T`'s range.
fn short_integer<T: TryFrom<i64>>(s: &[u8]) -> Option<T> {
    let (negative, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut magnitude = 0i64;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude * 10 + i64::from(b - b'0');
    }
    T::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// Strips the whitespace PostgreSQL's input functions skip (C's `isspace`).
fn trim_space(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C'))
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
    if let Some(v) = short_decimal(s.as_bytes()) {
        return Ok(v);
    }
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

/// The common case of float input, fast: `[-+]digits[.digits]` with at most
/// 15 significant digits. The digits are an integer below 2^53 and the scale
/// a power of ten up to 10^22, both exact as `f64`, so one division rounds
/// correctly (Clinger's fast path), as the full parser would. Anything else
/// is `None`.
fn short_decimal(s: &[u8]) -> Option<f64> {
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut count = 0;
    let mut point = None;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    // At least one digit; a lone "." is not a number.
    if count == 0 || count > 15 {
        return None;
    }
    let scale = point.map_or(0, |p| digits.len() - p - 1);
    let magnitude = mantissa as f64 / POWERS[scale];
    Some(if negative { -magnitude } else { magnitude })
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

/// Microseconds since the Unix epoch of the common ISO 8601 forms,
/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (space or `T`), with an offset (`Z`,
/// `±HH`, `±HHMM`, `±HH:MM`) only when `zoned`; an offset-less value counts
/// as UTC. Anything else, and invalid dates, are `None`: the general parser
/// decides those.
fn iso_timestamp(s: &[u8], zoned: bool) -> Option<i64> {
    fn number(digits: &[u8]) -> Option<i64> {
        digits.iter().try_fold(0i64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
        })
    }
    if s.len() < 19 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b' ' | b'T') {
        return None;
    }
    if s[13] != b':' || s[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(&s[0..4])?, number(&s[5..7])?, number(&s[8..10])?);
    let (hour, minute, second) = (
        number(&s[11..13])?,
        number(&s[14..16])?,
        number(&s[17..19])?,
    );
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        micros = number(&fraction[..digits])? * 10i64.pow(6 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest {
        [] => 0,
        _ if !zoned => return None,
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (hours, minutes) = match zone {
                [h1, h2] => (number(&[*h1, *h2])?, 0),
                [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => {
                    (number(&[*h1, *h2])?, number(&[*m1, *m2])?)
                }
                _ => return None,
            };
            if hours > 15 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + micros)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn primitive<T: ArrowPrimitiveType>(
    (values, nulls): (Vec<T::Native>, Option<NullBuffer>),
) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls))
}

fn text_array<'a>(
    values: &RawColumn<'a>,
    column_type: ColumnType,
    context: &dyn Fn(usize) -> CopyContext<'a>,
) -> Result<ArrayRef> {
    Ok(match column_type {
        ColumnType::Utf8 => Arc::new(values.strings(context)?),
        ColumnType::Float64 => primitive::<Float64Type>(parse_each(
            values,
            column_type,
            context,
            short_decimal,
            float,
        )?),
        ColumnType::Float32 => primitive::<Float32Type>(parse_each(
            values,
            column_type,
            context,
            |_| None,
            |s| {
                let v = float(s)?;
                let narrow = v as f32;
                if narrow.is_infinite() && v.is_finite() {
                    Err(ParseFailure::OutOfRange)
                } else {
                    Ok(narrow)
                }
            },
        )?),
        ColumnType::Int64 => primitive::<Int64Type>(parse_each(
            values,
            column_type,
            context,
            short_integer::<i64>,
            int::<i64>,
        )?),
        ColumnType::Int32 => primitive::<Int32Type>(parse_each(
            values,
            column_type,
            context,
            short_integer::<i32>,
            int::<i32>,
        )?),
        ColumnType::Int16 => primitive::<Int16Type>(parse_each(
            values,
            column_type,
            context,
            short_integer::<i16>,
            int::<i16>,
        )?),
        ColumnType::Boolean => {
            let (parsed, nulls) = parse_each(values, column_type, context, |_| None, boolean)?;
            Arc::new(BooleanArray::new(parsed.into(), nulls))
        }
        ColumnType::Timestamp { with_time_zone } => {
            let fast: Option<Vec<i64>> = (0..values.len())
                .map(|row| {
                    values
                        .get(row)
                        .map_or(Some(0), |v| iso_timestamp(v, with_time_zone))
                })
                .collect();
            match fast {
                Some(micros) => {
                    let array =
                        TimestampMicrosecondArray::new(ScalarBuffer::from(micros), values.nulls());
                    Arc::new(match column_type.arrow_type() {
                        DataType::Timestamp(TimeUnit::Microsecond, Some(zone)) => {
                            array.with_timezone(zone)
                        }
                        _ => array,
                    })
                }
                None => {
                    // Arrow's timestamp parser reads PostgreSQL's output
                    // formats (ISO 8601, with a space or a `T`, with or
                    // without an offset).
                    let input = values.strings(context)?;
                    let target = column_type.arrow_type();
                    let parsed = cast_with_options(&input, &target, &CastOptions::default())
                        .map_err(|e| Error::Storage(e.into()))?;
                    if let Some(row) =
                        (0..input.len()).find(|&r| input.is_valid(r) && parsed.is_null(r))
                    {
                        return Err(invalid_text(column_type, input.value(row), &context(row)));
                    }
                    parsed
                }
            }
        }
    })
}

/// Binary fields in PostgreSQL's binary format for the column's type.
fn binary_array<'a>(
    values: &RawColumn<'a>,
    column_type: ColumnType,
    context: &dyn Fn(usize) -> CopyContext<'a>,
) -> Result<ArrayRef> {
    fn fixed<'a, const N: usize, T: Default>(
        values: &RawColumn<'a>,
        context: &dyn Fn(usize) -> CopyContext<'a>,
        convert: impl Fn([u8; N]) -> T,
    ) -> Result<(Vec<T>, Option<NullBuffer>)> {
        let parsed =
            (0..values.len())
                .map(|row| match values.get(row) {
                    None => Ok(T::default()),
                    Some(bytes) => <[u8; N]>::try_from(bytes).map(&convert).map_err(|_| {
                        Error::CopyInvalidBinary {
                            context: context(row).without_value(),
                        }
                    }),
                })
                .collect::<Result<Vec<T>>>()?;
        Ok((parsed, values.nulls()))
    }
    Ok(match column_type {
        ColumnType::Utf8 => Arc::new(values.strings(context)?),
        ColumnType::Float64 => {
            primitive::<Float64Type>(fixed(values, context, f64::from_be_bytes)?)
        }
        ColumnType::Float32 => {
            primitive::<Float32Type>(fixed(values, context, f32::from_be_bytes)?)
        }
        ColumnType::Int64 => primitive::<Int64Type>(fixed(values, context, i64::from_be_bytes)?),
        ColumnType::Int32 => primitive::<Int32Type>(fixed(values, context, i32::from_be_bytes)?),
        ColumnType::Int16 => primitive::<Int16Type>(fixed(values, context, i16::from_be_bytes)?),
        ColumnType::Boolean => {
            let (parsed, nulls) = fixed(values, context, |[b]: [u8; 1]| b != 0)?;
            Arc::new(BooleanArray::new(parsed.into(), nulls))
        }
        ColumnType::Timestamp { with_time_zone } => {
            let (micros, nulls) = fixed(values, context, |b: [u8; 8]| {
                i64::from_be_bytes(b).saturating_add(PG_EPOCH_OFFSET_MICROS)
            })?;
            let array = TimestampMicrosecondArray::new(ScalarBuffer::from(micros), nulls);
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
