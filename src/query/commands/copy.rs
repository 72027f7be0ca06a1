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

use crate::query::pg::dialect::PostgresDialect;
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, PrimitiveArray, RecordBatch, RecordBatchOptions,
    StringArray, TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Schema, TimeUnit,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Expr as SqlExpr,
    Ident, ObjectName, SelectItem, SetExpr, Statement,
};
use datafusion::sql::sqlparser::parser::Parser;

use super::names::{normalize, qualified};
use super::transaction::PendingWrites;
use crate::pgtype::{self, ValueError, ValueResult};
use crate::query::error::{Error, Result};
use crate::query::pg::defaults::default_expr;
use crate::storage::{ColumnRole, ColumnType, Namespace, SeriesId, Storage, Table};
use datafusion::common::DFSchema;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::ExprSchemable;
use datafusion::physical_expr::PhysicalExpr;

/// Rows per batch written to the staging table.
const BATCH_ROWS: usize = 8192;

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
            let (namespace, table) = copy_table(storage, ctx, &table_name, to)?;
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
                let defaults = copy_defaults(ctx, &table, &indices)?;
                return Ok(CopyPlan::From(CopyFrom {
                    table,
                    namespace,
                    columns: indices,
                    defaults,
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
                Parser::parse_sql(&PostgresDialect::default(), &select)
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

/// The defaults of the columns a copy leaves out, by table column: each
/// is evaluated for every batch of rows (so `nextval` gives each row its
/// own value). Only fields take them here: a tag or time column left out
/// with a default is refused, not stored as NULL.
fn copy_defaults(
    ctx: &SessionContext,
    table: &Table,
    copied: &[usize],
) -> Result<Vec<Option<Arc<dyn PhysicalExpr>>>> {
    let schema = table.schema();
    let state = ctx.state();
    let empty = DFSchema::empty();
    let mut defaults = vec![None; schema.columns().len()];
    for (index, column) in schema.columns().iter().enumerate() {
        let Some(text) = column.default.as_deref() else {
            continue;
        };
        if copied.contains(&index) {
            continue;
        }
        if column.role != ColumnRole::Field {
            return Err(Error::Unsupported {
                what: format!(
                    "COPY FROM leaving out column \"{}\", a tag or time column with a DEFAULT",
                    column.name
                ),
            });
        }
        let sql = default_expr(Some(text))?.to_string();
        let expr = state.create_logical_expr(&sql, &empty)?;
        let expr = expr.cast_to(&column.column_type.arrow_type(), &empty)?;
        defaults[index] = Some(state.create_physical_expr(expr, &empty)?);
    }
    Ok(defaults)
}

/// The storage table `name` names, in the session's database, and its schema.
fn copy_table(
    storage: &Storage,
    ctx: &SessionContext,
    name: &ObjectName,
    to: bool,
) -> Result<(Arc<Namespace>, Arc<Table>)> {
    let options = ctx.state().config().options().catalog.clone();
    let (schema, table) = qualified(name, &options.default_catalog, &options.default_schema)?;
    let namespace = storage
        .database(&options.default_catalog)
        .and_then(|db| db.schema(&schema));
    if namespace
        .as_ref()
        .is_some_and(|ns| ns.view(&table).is_some())
    {
        return Err(if to {
            Error::WrongKindOfRelation {
                message: format!("cannot copy from view \"{table}\""),
                hint: "Try the COPY (SELECT ...) TO variant.",
            }
        } else {
            Error::WrongKindOfRelation {
                message: format!("cannot copy to view \"{table}\""),
                hint: "To enable copying to a view, provide an INSTEAD OF INSERT trigger.",
            }
        });
    }
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
    /// The default of each table column the copy leaves out, if it has one.
    pub(crate) defaults: Vec<Option<Arc<dyn PhysicalExpr>>>,
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
            time: schema.time_index().and_then(position),
            tags: schema.tag_indices().iter().map(|&c| position(c)).collect(),
            fields: schema
                .field_indices()
                .iter()
                .map(|&c| position(c))
                .collect(),
            series: HashMap::default(),
            key: Vec::new(),
            defaults: self.defaults.clone(),
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
                .find(|(i, c)| {
                    !c.nullable
                        && !self.columns.contains(i)
                        && self.defaults.get(*i).is_none_or(Option::is_none)
                })
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
            Some(pending) => pending.stage_table(&self.table, staging)?,
            None => Some(staging),
        };
        if let Some(staging) = staging {
            let stored = self.table.absorb(staging)?.durable().await? as u64;
            if let Some(pending) = &self.pending_writes {
                pending.note_expired(rows.saturating_sub(stored));
            }
            return Ok(stored);
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
    /// The defaults of columns left out, by table column.
    defaults: Vec<Option<Arc<dyn PhysicalExpr>>>,
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
        let time = (self.table.schema().time_index())
            .map(|index| self.column(raw, index, self.time))
            .transpose()?;
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
            let data_type = column.column_type.arrow_type();
            let Some(default) = self.defaults.get(index).and_then(Option::as_ref) else {
                return Ok(new_null_array(&data_type, raw.len()));
            };
            let rows = RecordBatch::try_new_with_options(
                Arc::new(Schema::empty()),
                Vec::new(),
                &RecordBatchOptions::new().with_row_count(Some(raw.len())),
            )
            .map_err(DataFusionError::from)?;
            let values = default.evaluate(&rows)?.into_array(raw.len())?;
            if let Some((row, _)) = (values.null_count() > 0 && !column.nullable)
                .then(|| {
                    values
                        .nulls()
                        .and_then(|n| n.iter().enumerate().find(|(_, v)| !v))
                })
                .flatten()
            {
                return Err(not_null_error(
                    &self.table,
                    column.name.clone(),
                    raw.lines.get(row).copied().unwrap_or(0),
                ));
            }
            return Ok(values);
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
                    _ => Err(Error::CopyValue {
                        error: ValueError::InvalidEncoding,
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
    Tag(usize),
    Field(usize),
}

fn schema_index(table: &Table, role: Role) -> usize {
    let schema = table.schema();
    match role {
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
            return Err(Error::CopyValue {
                error: ValueError::InvalidEncoding,
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

/// A value of the column at `context` that does not read as its type.
fn value_error(error: ValueError, context: &CopyContext<'_>, text: Option<&str>) -> Error {
    let context = match (&error, text) {
        (
            ValueError::InvalidText { .. }
            | ValueError::OutOfRange { .. }
            | ValueError::DatetimeOutOfRange { .. },
            Some(text),
        ) => context.with_value(text),
        _ => context.without_value(),
    };
    Error::CopyValue { error, context }
}

/// Parses each text field: with `fast` on its raw bytes when that answers
/// (the common forms, without a UTF-8 check or trimming), otherwise with
/// `parse`, PostgreSQL's input function for the type.
fn parse_each<'a, T: Default>(
    values: &RawColumn<'a>,
    context: &dyn Fn(usize) -> CopyContext<'a>,
    fast: impl Fn(&[u8]) -> Option<T>,
    parse: impl Fn(&str) -> ValueResult<T>,
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
        let text = pgtype::utf8(raw).map_err(|e| value_error(e, &context(row), None))?;
        let value = parse(text).map_err(|e| value_error(e, &context(row), Some(text)))?;
        parsed.push(value);
    }
    Ok((parsed, values.nulls()))
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
        // JSON is checked (and `jsonb` normalized) as storage takes it.
        ColumnType::Utf8 | ColumnType::Json | ColumnType::Jsonb | ColumnType::Uuid => {
            Arc::new(values.strings(context)?)
        }
        ColumnType::Float64 => primitive::<Float64Type>(parse_each(
            values,
            context,
            pgtype::short_decimal,
            pgtype::float8_in,
        )?),
        ColumnType::Float32 => {
            primitive::<Float32Type>(parse_each(values, context, |_| None, pgtype::float4_in)?)
        }
        ColumnType::Int64 => primitive::<Int64Type>(parse_each(
            values,
            context,
            pgtype::short_integer::<i64>,
            |s| pgtype::int_in(s, "bigint"),
        )?),
        ColumnType::Int32 => primitive::<Int32Type>(parse_each(
            values,
            context,
            pgtype::short_integer::<i32>,
            |s| pgtype::int_in(s, "integer"),
        )?),
        ColumnType::Int16 => primitive::<Int16Type>(parse_each(
            values,
            context,
            pgtype::short_integer::<i16>,
            |s| pgtype::int_in(s, "smallint"),
        )?),
        ColumnType::Boolean => {
            let (parsed, nulls) = parse_each(values, context, |_| None, pgtype::bool_in)?;
            Arc::new(BooleanArray::new(parsed.into(), nulls))
        }
        ColumnType::Date => {
            primitive::<Date32Type>(parse_each(values, context, |_| None, pgtype::date_in)?)
        }
        ColumnType::Bytea => {
            let (bytes, nulls) = parse_each(values, context, |_| None, pgtype::bytea_in)?;
            binary(bytes, nulls)
        }
        ColumnType::Timestamp { with_time_zone } => {
            let (micros, nulls) = parse_each(
                values,
                context,
                |v| pgtype::iso_timestamp(v, with_time_zone),
                |s| pgtype::timestamp_in(s, with_time_zone),
            )?;
            timestamps(micros, nulls, with_time_zone)
        }
    })
}

/// A `bytea` column of `values`, NULL where `nulls` says.
fn binary(values: Vec<Vec<u8>>, nulls: Option<NullBuffer>) -> ArrayRef {
    let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
    Arc::new(
        (values.iter().enumerate())
            .map(|(i, v)| valid(i).then_some(v.as_slice()))
            .collect::<BinaryArray>(),
    )
}

/// A timestamp column of the table's type.
fn timestamps(micros: Vec<i64>, nulls: Option<NullBuffer>, with_time_zone: bool) -> ArrayRef {
    let array = TimestampMicrosecondArray::new(ScalarBuffer::from(micros), nulls);
    let column_type = ColumnType::Timestamp { with_time_zone };
    Arc::new(match column_type.arrow_type() {
        DataType::Timestamp(TimeUnit::Microsecond, Some(zone)) => array.with_timezone(zone),
        _ => array,
    })
}

/// Binary fields in PostgreSQL's binary format for the column's type.
fn binary_array<'a>(
    values: &RawColumn<'a>,
    column_type: ColumnType,
    context: &dyn Fn(usize) -> CopyContext<'a>,
) -> Result<ArrayRef> {
    /// Each value read by `recv`, PostgreSQL's receive function for the
    /// type.
    fn each<'a, T: Default>(
        values: &RawColumn<'a>,
        context: &dyn Fn(usize) -> CopyContext<'a>,
        recv: impl Fn(&[u8]) -> ValueResult<T>,
    ) -> Result<(Vec<T>, Option<NullBuffer>)> {
        let parsed = (0..values.len())
            .map(|row| match values.get(row) {
                None => Ok(T::default()),
                Some(bytes) => recv(bytes).map_err(|e| value_error(e, &context(row), None)),
            })
            .collect::<Result<Vec<T>>>()?;
        Ok((parsed, values.nulls()))
    }
    fn fixed<'a, const N: usize, T: Default>(
        values: &RawColumn<'a>,
        context: &dyn Fn(usize) -> CopyContext<'a>,
        type_name: &'static str,
        convert: impl Fn([u8; N]) -> T,
    ) -> Result<(Vec<T>, Option<NullBuffer>)> {
        each(values, context, |bytes| {
            pgtype::fixed::<N>(bytes, type_name).map(&convert)
        })
    }
    Ok(match column_type {
        ColumnType::Utf8 | ColumnType::Json => Arc::new(values.strings(context)?),
        ColumnType::Jsonb | ColumnType::Uuid => {
            let recv = match column_type {
                ColumnType::Uuid => pgtype::uuid_recv,
                _ => pgtype::jsonb_recv,
            };
            let (texts, nulls) = each(values, context, recv)?;
            let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
            Arc::new(
                (texts.iter().enumerate())
                    .map(|(i, t)| valid(i).then_some(t.as_str()))
                    .collect::<StringArray>(),
            )
        }
        ColumnType::Float64 => primitive::<Float64Type>(fixed(
            values,
            context,
            "double precision",
            f64::from_be_bytes,
        )?),
        ColumnType::Float32 => {
            primitive::<Float32Type>(fixed(values, context, "real", f32::from_be_bytes)?)
        }
        ColumnType::Int64 => {
            primitive::<Int64Type>(fixed(values, context, "bigint", i64::from_be_bytes)?)
        }
        ColumnType::Int32 => {
            primitive::<Int32Type>(fixed(values, context, "integer", i32::from_be_bytes)?)
        }
        ColumnType::Int16 => {
            primitive::<Int16Type>(fixed(values, context, "smallint", i16::from_be_bytes)?)
        }
        ColumnType::Boolean => {
            let (parsed, nulls) = fixed(values, context, "boolean", |[b]: [u8; 1]| b != 0)?;
            Arc::new(BooleanArray::new(parsed.into(), nulls))
        }
        ColumnType::Date => primitive::<Date32Type>(each(values, context, pgtype::date_recv)?),
        ColumnType::Bytea => {
            let (bytes, nulls) = each(values, context, |raw| Ok(raw.to_vec()))?;
            binary(bytes, nulls)
        }
        ColumnType::Timestamp { with_time_zone } => {
            let type_name = if with_time_zone {
                "timestamp with time zone"
            } else {
                "timestamp without time zone"
            };
            let (micros, nulls) = each(values, context, |bytes| {
                pgtype::timestamp_recv(bytes, type_name)
            })?;
            timestamps(micros, nulls, with_time_zone)
        }
    })
}
