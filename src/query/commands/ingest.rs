//! Writes in InfluxDB line protocol: each measurement is a table of schema
//! `public`, created by its first write (`time TIMESTAMPTZ`, tags as text
//! tag columns, fields typed by their first value), and the request's valid
//! lines are written together, or none of them when the request says so.
//!
//! A line is refused, with InfluxDB's wording, when it is not line protocol,
//! names a key twice or `time`, gives a field another type than its column
//! has (or than an earlier line of the request gave it), or writes a tag
//! into a field column or the reverse. Refused lines never touch a table.
//!
//! The body is read twice, so that memory stays a small multiple of the
//! body: a first pass checks each line and collects each measurement's keys
//! (to create tables and add columns), a second builds the rows, a few
//! thousand at a time, into a staging table per target, compressed as they
//! come; the staging tables are absorbed at the end. Work per line is
//! proportional to its keys, not to its table's columns.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondArray, new_null_array,
};
use arrow::datatypes::DataType;

use super::access::{Principal, check_connect, check_table};
use crate::line_protocol::{self, FieldValue, Line, Lines};
use crate::query::error::{Error, Result};
use crate::storage::{
    self, ColumnRole, ColumnSchema, ColumnType, Durable, Namespace, Privileges, Storage, Table,
    TableOptions, TableSchema,
};

/// The longest name (of a measurement, tag or field), in bytes, as
/// PostgreSQL's identifiers.
const MAX_NAME_BYTES: usize = 63;
/// The longest string field value, in bytes (InfluxDB 3's limit).
const MAX_STRING_BYTES: usize = 64 << 10;
/// The longest line, in bytes.
const MAX_LINE_BYTES: usize = 1 << 20;
/// Columns a table created by a write may grow to (PostgreSQL's limit).
const MAX_COLUMNS: usize = 1600;
/// Tables a database may hold before a write stops creating more.
const MAX_TABLES: usize = 10_000;
/// Refused lines an outcome names (all are counted).
const MAX_LISTED: usize = 100;
/// Values (rows × columns) built before they go to the staging table.
const CHUNK_CELLS: usize = 1 << 20;
/// The earliest time PostgreSQL's timestamps reach (4714-11-24 BC), in
/// microseconds since 1970.
const MIN_MICROS: i64 = -210_866_803_200_000_000;

/// The unit of a request's timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
    /// InfluxDB 3's `auto`: the unit each timestamp's size suggests
    /// (below 5e9 seconds, 5e12 milliseconds, 5e15 microseconds, else
    /// nanoseconds).
    Auto,
}

impl Precision {
    /// The unit a `precision` parameter names, in any of InfluxDB's
    /// spellings (v1 `n`, `u`; v2 `ns`, `us`; v3 `nanosecond` ...).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "n" | "ns" | "nanosecond" => Precision::Nanoseconds,
            "u" | "us" | "µ" | "µs" | "microsecond" => Precision::Microseconds,
            "ms" | "millisecond" => Precision::Milliseconds,
            "s" | "second" => Precision::Seconds,
            "m" | "minute" => Precision::Minutes,
            "h" | "hour" => Precision::Hours,
            "auto" => Precision::Auto,
            _ => return None,
        })
    }

    /// `value` in microseconds: digits finer than a microsecond are dropped
    /// (rounding down); `None` when it does not fit.
    pub fn to_micros(self, value: i64) -> Option<i64> {
        let unit = match self {
            Precision::Auto => match value.unsigned_abs() {
                0..5_000_000_000 => Precision::Seconds,
                5_000_000_000..5_000_000_000_000 => Precision::Milliseconds,
                5_000_000_000_000..5_000_000_000_000_000 => Precision::Microseconds,
                _ => Precision::Nanoseconds,
            },
            other => other,
        };
        let micros = match unit {
            Precision::Auto => None,
            Precision::Nanoseconds => Some(value.div_euclid(1000)),
            Precision::Microseconds => Some(value),
            Precision::Milliseconds => value.checked_mul(1000),
            Precision::Seconds => value.checked_mul(1_000_000),
            Precision::Minutes => value.checked_mul(60_000_000),
            Precision::Hours => value.checked_mul(3_600_000_000),
        }?;
        (micros >= MIN_MICROS).then_some(micros)
    }
}

/// Now, in microseconds since 1970: the time of a request's lines that
/// carry none.
pub fn now_micros() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A line protocol write.
#[derive(Debug, Clone)]
pub struct LineWrite<'a> {
    pub database: &'a str,
    pub body: &'a [u8],
    pub precision: Precision,
    /// Write the valid lines when others are refused (InfluxDB's default);
    /// otherwise a refused line fails the whole request.
    pub accept_partial: bool,
    /// The time of lines without one, in microseconds: one per request.
    pub now_micros: i64,
}

/// A line a write refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// Its number in the body, from 1.
    pub line: usize,
    /// The start of the line, for the message.
    pub text: String,
    pub reason: String,
}

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineWriteOutcome {
    /// Rows written (none when a refused line failed the request).
    pub rows: usize,
    /// Refused lines, in order: the first ones, when there are many.
    pub rejected: Vec<RejectedLine>,
    /// How many lines were refused.
    pub dropped: usize,
}

/// Runs `write` as `principal`. Returns once what it wrote is durable.
pub(crate) async fn write_lines(
    storage: &Storage,
    principal: &Principal,
    write: &LineWrite<'_>,
) -> Result<LineWriteOutcome> {
    // Reading and building are CPU work for as long as the body is big:
    // off the threads that serve other connections.
    let (staged, mut outcome) = off_the_workers(|| stage(storage, principal, write))?;
    let Staged { tables, creations } = staged;
    let commit = write.accept_partial || outcome.dropped == 0;
    let tickets = off_the_workers(|| -> Result<Vec<Durable<usize>>> {
        if !commit {
            return Ok(Vec::new());
        }
        // A concurrent write that added columns meanwhile replaced a
        // table: the old one forwards the rows, with NULL in them.
        (tables.into_iter())
            .map(|(table, staging)| Ok(table.absorb(staging)?))
            .collect()
    })?;
    for creation in creations {
        creation.durable().await?;
    }
    for ticket in tickets {
        outcome.rows += ticket.durable().await?;
    }
    Ok(outcome)
}

/// Runs `work` where it may block: beside the runtime's workers on a
/// multi-threaded runtime, in place on a single-threaded one (tests).
fn off_the_workers<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// A request's rows, staged per table, and the tickets of the tables it
/// created.
struct Staged {
    tables: Vec<(Arc<Table>, Table)>,
    creations: Vec<Durable<bool>>,
}

/// The keys of one measurement's valid lines, in the order they first
/// appear, with the column type of their first value (`Utf8` for a tag).
#[derive(Default)]
struct Keys {
    order: Vec<(String, ColumnType, bool)>,
    seen: HashSet<String>,
}

/// Refused lines: the first [`MAX_LISTED`] with their reasons, and a count.
#[derive(Default)]
struct Rejections {
    listed: Vec<RejectedLine>,
    total: usize,
}

impl Rejections {
    fn push(&mut self, line: usize, raw: &[u8], reason: impl FnOnce() -> String) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(rejection(line, raw, reason()));
        }
    }
}

/// Reads the body twice (see the module's documentation): checks lines and
/// collects keys, creates tables and adds columns, then stages the rows.
fn stage(
    storage: &Storage,
    principal: &Principal,
    write: &LineWrite<'_>,
) -> Result<(Staged, LineWriteOutcome)> {
    let database = storage
        .database(write.database)
        .ok_or_else(|| Error::UndefinedDatabase {
            name: write.database.to_owned(),
        })?;
    check_connect(storage, principal, write.database)?;
    let namespace =
        database
            .schema(storage::DEFAULT_SCHEMA)
            .ok_or_else(|| Error::UndefinedTable {
                name: storage::DEFAULT_SCHEMA.to_owned(),
            })?;
    let superuser = principal.is_superuser(storage);

    // Pass 1: which lines are valid, and each measurement's keys.
    let mut rejected = Rejections::default();
    let mut valid = Vec::new();
    let mut measurements: Vec<(String, Keys)> = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    for (number, raw) in Lines::new(write.body) {
        let line = match read_line(raw, write) {
            Ok((_, line)) => line,
            Err(reason) => {
                rejected.push(number, raw, || reason);
                valid.push(false);
                continue;
            }
        };
        valid.push(true);
        let index = match index_of.get(line.measurement.as_ref()) {
            Some(&index) => index,
            None => {
                index_of.insert(line.measurement.to_string(), measurements.len());
                measurements.push((line.measurement.to_string(), Keys::default()));
                measurements.len() - 1
            }
        };
        let keys = &mut measurements[index].1;
        let tags = (line.tags.iter()).map(|(key, _)| (key, ColumnType::Utf8, true));
        let fields = (line.fields.iter()).map(|(key, value)| (key, column_type_of(value), false));
        for (key, column_type, tag) in tags.chain(fields) {
            if keys.seen.len() < MAX_COLUMNS && !keys.seen.contains(key.as_ref()) {
                keys.seen.insert(key.to_string());
                keys.order.push((key.to_string(), column_type, tag));
            }
        }
    }

    // The tables, resolved before anything is written: a request that may
    // not write one of them writes none.
    let mut creations = Vec::new();
    let mut targets = Vec::with_capacity(measurements.len());
    for (name, keys) in &measurements {
        let (target, creation) = resolve_table(&namespace, principal, superuser, name, keys)?;
        creations.extend(creation);
        targets.push(target.map(|table| TableRows {
            builder: BatchBuilder::new(table.schema()),
            staging: table.staging(),
            horizon: table.horizon(),
            table,
        }));
    }

    // Pass 2: the rows of the valid lines, staged per table.
    for ((number, raw), valid) in Lines::new(write.body).zip(valid) {
        if !valid {
            continue;
        }
        let Ok((time, line)) = read_line(raw, write) else {
            continue;
        };
        let Some(&index) = index_of.get(line.measurement.as_ref()) else {
            continue;
        };
        match &mut targets[index] {
            Err(reason) => rejected.push(number, raw, || reason.clone()),
            Ok(rows) => {
                if rows.horizon.is_some_and(|horizon| time < horizon) {
                    // Telegraf reads this phrase as final: it does not retry.
                    rejected.push(number, raw, || "points beyond retention policy".into());
                } else if let Err(reason) = rows.builder.push(&measurements[index].0, time, &line) {
                    rejected.push(number, raw, || reason);
                } else if rows.builder.full() {
                    rows.flush()?;
                }
            }
        }
    }
    let mut tables = Vec::with_capacity(targets.len());
    for target in targets.into_iter().flatten() {
        let mut target = target;
        target.flush()?;
        tables.push((target.table, target.staging));
    }
    rejected.listed.sort_by_key(|r| r.line);
    let outcome = LineWriteOutcome {
        rows: 0,
        rejected: rejected.listed,
        dropped: rejected.total,
    };
    Ok((Staged { tables, creations }, outcome))
}

/// A line parsed and checked on its own, with its time in microseconds;
/// or why it is refused.
fn read_line<'a>(
    raw: &'a [u8],
    write: &LineWrite<'_>,
) -> std::result::Result<(i64, Line<'a>), String> {
    if raw.len() > MAX_LINE_BYTES {
        return Err(format!("line longer than {MAX_LINE_BYTES} bytes"));
    }
    let line = line_protocol::parse_line(raw).map_err(|e| e.to_string())?;
    let time = match line.timestamp {
        None => write.now_micros,
        Some(t) => write
            .precision
            .to_micros(t)
            .ok_or_else(|| format!("bad timestamp {t}: out of range"))?,
    };
    check_line(&line)?;
    Ok((time, line))
}

/// One target table's rows: built a chunk at a time, then staged.
struct TableRows {
    table: Arc<Table>,
    staging: Table,
    builder: BatchBuilder,
    /// The oldest time the table's retention keeps, if it has one.
    horizon: Option<i64>,
}

impl TableRows {
    /// Moves the rows built so far into the staging table.
    fn flush(&mut self) -> Result<()> {
        if self.builder.rows == 0 {
            return Ok(());
        }
        let batch = self.builder.finish_chunk()?;
        // A staging table has no log: nothing to wait for.
        let _ = self.staging.write(&[batch])?.without_waiting();
        Ok(())
    }
}

fn rejection(line: usize, raw: &[u8], reason: String) -> RejectedLine {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(256)]).into_owned();
    RejectedLine { line, text, reason }
}

/// What holds for a line whatever its table: names that fit, no key twice
/// and none named `time`, strings that fit.
fn check_line(line: &Line<'_>) -> std::result::Result<(), String> {
    let measurement = &line.measurement;
    if measurement.len() > MAX_NAME_BYTES {
        return Err(format!(
            "measurement name \"{measurement}\" is longer than {MAX_NAME_BYTES} bytes"
        ));
    }
    if line.tags.len() + line.fields.len() >= MAX_COLUMNS {
        return Err(format!(
            "line for measurement \"{measurement}\" has more than {} keys",
            MAX_COLUMNS - 1
        ));
    }
    let keys = (line.tags.iter().map(|(k, _)| k)).chain(line.fields.iter().map(|(k, _)| k));
    let mut seen: HashSet<&str> = HashSet::with_capacity(line.tags.len() + line.fields.len());
    for key in keys {
        if key.len() > MAX_NAME_BYTES {
            return Err(format!(
                "key \"{key}\" on measurement \"{measurement}\" is longer than {MAX_NAME_BYTES} bytes"
            ));
        }
        if key == "time" {
            return Err(format!(
                "invalid key: \"time\" on measurement \"{measurement}\" is the time column"
            ));
        }
        if !seen.insert(key) {
            return Err(format!(
                "duplicate key \"{key}\" on measurement \"{measurement}\""
            ));
        }
    }
    for (key, value) in &line.fields {
        if let FieldValue::String(text) = value
            && text.len() > MAX_STRING_BYTES
        {
            return Err(format!(
                "string field \"{key}\" on measurement \"{measurement}\" is longer than {MAX_STRING_BYTES} bytes"
            ));
        }
    }
    Ok(())
}

/// The table a measurement's lines go to, created when missing (with the
/// ticket of its creation) and given the columns it lacks; or, when it can
/// take none of them, why its lines are refused.
type Target = (
    std::result::Result<Arc<Table>, String>,
    Option<Durable<bool>>,
);

fn resolve_table(
    namespace: &Namespace,
    principal: &Principal,
    superuser: bool,
    name: &str,
    keys: &Keys,
) -> Result<Target> {
    let (table, creation) = match namespace.table(name) {
        Some(table) => (table, None),
        None => {
            if !superuser {
                return Err(Error::PermissionDenied {
                    message: format!(
                        "permission denied to create table \"{name}\": only superusers create tables"
                    ),
                    detail: None,
                });
            }
            if namespace.table_names().len() >= MAX_TABLES {
                let reason = format!(
                    "cannot create table \"{name}\": the database holds {MAX_TABLES} tables already"
                );
                return Ok((Err(reason), None));
            }
            let creation =
                namespace.create_table(name, infer_schema(keys)?, TableOptions::default(), true)?;
            // A concurrent write may have created it first, with its own
            // types; the lines are checked against whatever it holds.
            let table = namespace.table(name).ok_or_else(|| Error::UndefinedTable {
                name: name.to_owned(),
            })?;
            (table, Some(creation))
        }
    };
    if !superuser {
        check_table(principal, namespace, &table, Privileges::INSERT)?;
    }
    if table.schema().is_plain() {
        let reason = format!(
            "table \"{name}\" has no time column: line protocol writes only time-series tables"
        );
        return Ok((Err(reason), creation));
    }
    let table = if superuser {
        add_missing_columns(namespace, table, name, keys)?
    } else {
        // Lines with keys the table lacks are refused, naming the column.
        table
    };
    Ok((Ok(table), creation))
}

/// `table`, with a column for each of `keys` it lacks (in the order they
/// first appear, typed by their first value), added as `ALTER TABLE ...
/// ADD COLUMN` adds them: every existing row holds NULL. A tag that first
/// appears after the table was created becomes a text field: it reads the
/// same in SQL, but does not split series.
fn add_missing_columns(
    namespace: &Namespace,
    mut table: Arc<Table>,
    name: &str,
    keys: &Keys,
) -> Result<Arc<Table>> {
    // A concurrent write may add some of the same columns first: look again.
    for _ in 0..3 {
        let schema = table.schema().clone();
        let known: HashSet<&str> = schema.columns().iter().map(|c| c.name.as_str()).collect();
        let room = MAX_COLUMNS.saturating_sub(schema.columns().len());
        let missing: Vec<ColumnSchema> = (keys.order.iter())
            .filter(|(key, _, _)| !known.contains(key.as_str()))
            .take(room)
            .map(|(key, column_type, _)| ColumnSchema {
                name: key.clone(),
                column_type: *column_type,
                role: ColumnRole::Field,
                nullable: true,
                max_chars: None,
                identity: None,
                default: None,
            })
            .collect();
        if missing.is_empty() {
            return Ok(table);
        }
        match namespace.add_columns(name, missing, &[]) {
            Ok((altered, _)) => return Ok(altered),
            Err(storage::Error::DuplicateColumn { .. }) => {
                table = namespace.table(name).ok_or_else(|| Error::UndefinedTable {
                    name: name.to_owned(),
                })?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(table)
}

/// The column type a field value makes.
fn column_type_of(value: &FieldValue<'_>) -> ColumnType {
    match value {
        FieldValue::Float(_) => ColumnType::Float64,
        FieldValue::Integer(_) | FieldValue::Unsigned(_) => ColumnType::Int64,
        FieldValue::String(_) => ColumnType::Utf8,
        FieldValue::Boolean(_) => ColumnType::Boolean,
    }
}

/// The schema of a table created for a measurement: `time`, then its tags
/// and its fields in the order they first appear, each field of the type it
/// first has. Lines that disagree are refused later, against this schema.
fn infer_schema(keys: &Keys) -> Result<TableSchema> {
    let column = |name: &str, column_type, role| ColumnSchema {
        name: name.to_owned(),
        column_type,
        role,
        nullable: role != ColumnRole::Time,
        max_chars: None,
        identity: None,
        default: None,
    };
    let time = ColumnType::Timestamp {
        with_time_zone: true,
    };
    let mut columns = vec![column("time", time, ColumnRole::Time)];
    let tags = (keys.order.iter().filter(|(_, _, tag)| *tag))
        .map(|(key, t, _)| column(key, *t, ColumnRole::Tag));
    let fields = (keys.order.iter().filter(|(_, _, tag)| !*tag))
        .map(|(key, t, _)| column(key, *t, ColumnRole::Field));
    columns.extend(tags.chain(fields).take(MAX_COLUMNS - 1));
    // Keys are unique and none is `time`, so this cannot fail; if it did,
    // the request fails rather than a line.
    Ok(TableSchema::try_new(columns)?)
}

/// One table's rows, built a column at a time from the lines it accepts.
/// A column a line leaves out gets its NULL when the next value (or the end
/// of the chunk) comes, so a line costs what its keys cost.
struct BatchBuilder {
    schema: Arc<TableSchema>,
    by_name: HashMap<String, usize>,
    time: usize,
    times: Vec<i64>,
    columns: Vec<Builder>,
    /// Values (and NULLs) each column holds so far in this chunk.
    filled: Vec<usize>,
    /// Columns every line must give: `NOT NULL` ones, and ones with a
    /// `DEFAULT` (which a line protocol write does not evaluate).
    required: Vec<usize>,
    /// `marks[c] == mark`: the current line gives column `c`.
    marks: Vec<u32>,
    mark: u32,
    /// Scratch: the current line's values.
    row: Vec<(usize, Value)>,
    rows: usize,
    /// Rows a chunk holds before it goes to the staging table.
    chunk_rows: usize,
}

enum Builder {
    /// The time column: filled from `times`.
    Time,
    /// A timestamp column other than the time column: line protocol has no
    /// such values, so NULL.
    Nulls(DataType),
    Text(StringBuilder),
    Float64(Float64Builder),
    Float32(Float32Builder),
    Int64(Int64Builder),
    Int32(Int32Builder),
    Int16(Int16Builder),
    Boolean(BooleanBuilder),
}

impl Builder {
    fn append_nulls(&mut self, n: usize) {
        match self {
            Builder::Time | Builder::Nulls(_) => {}
            Builder::Text(b) => b.append_nulls(n),
            Builder::Float64(b) => b.append_nulls(n),
            Builder::Float32(b) => b.append_nulls(n),
            Builder::Int64(b) => b.append_nulls(n),
            Builder::Int32(b) => b.append_nulls(n),
            Builder::Int16(b) => b.append_nulls(n),
            Builder::Boolean(b) => b.append_nulls(n),
        }
    }

    /// Appends a value that [`field_value`] (or a tag) made for this column.
    fn append(&mut self, value: Value) {
        match (self, value) {
            (Builder::Text(b), Value::Text(v)) => b.append_value(v),
            (Builder::Float64(b), Value::Float(v)) => b.append_value(v),
            (Builder::Float32(b), Value::Float(v)) => b.append_value(v as f32),
            (Builder::Int64(b), Value::Integer(v)) => b.append_value(v),
            (Builder::Int32(b), Value::Integer(v)) => b.append_option(i32::try_from(v).ok()),
            (Builder::Int16(b), Value::Integer(v)) => b.append_option(i16::try_from(v).ok()),
            (Builder::Boolean(b), Value::Boolean(v)) => b.append_value(v),
            (builder, _) => builder.append_nulls(1),
        }
    }
}

/// A value checked against its column, ready to append.
enum Value {
    Text(String),
    Float(f64),
    Integer(i64),
    Boolean(bool),
}

impl BatchBuilder {
    fn new(schema: &Arc<TableSchema>) -> Self {
        let time = schema.time_index().unwrap_or(0);
        let columns = (schema.columns().iter().enumerate())
            .map(|(i, c)| match c.column_type {
                _ if i == time => Builder::Time,
                ColumnType::Timestamp { .. }
                | ColumnType::Date
                | ColumnType::Json
                | ColumnType::Jsonb
                | ColumnType::Uuid
                | ColumnType::Bytea => Builder::Nulls(c.column_type.arrow_type()),
                ColumnType::Utf8 => Builder::Text(StringBuilder::new()),
                ColumnType::Float64 => Builder::Float64(Float64Builder::new()),
                ColumnType::Float32 => Builder::Float32(Float32Builder::new()),
                ColumnType::Int64 => Builder::Int64(Int64Builder::new()),
                ColumnType::Int32 => Builder::Int32(Int32Builder::new()),
                ColumnType::Int16 => Builder::Int16(Int16Builder::new()),
                ColumnType::Boolean => Builder::Boolean(BooleanBuilder::new()),
            })
            .collect();
        let count = schema.columns().len();
        Self {
            by_name: (schema.columns().iter().enumerate())
                .map(|(i, c)| (c.name.clone(), i))
                .collect(),
            time,
            times: Vec::new(),
            columns,
            filled: vec![0; count],
            required: (schema.columns().iter().enumerate())
                .filter(|&(i, c)| i != time && (!c.nullable || c.default.is_some()))
                .map(|(i, _)| i)
                .collect(),
            marks: vec![0; count],
            mark: 0,
            row: Vec::new(),
            rows: 0,
            chunk_rows: (CHUNK_CELLS / count.max(1)).max(256),
            schema: schema.clone(),
        }
    }

    /// Whether the chunk should go to the staging table now.
    fn full(&self) -> bool {
        self.rows >= self.chunk_rows
    }

    /// Checks `line` against the table and appends it, or says why not.
    fn push(
        &mut self,
        measurement: &str,
        time: i64,
        line: &Line<'_>,
    ) -> std::result::Result<(), String> {
        self.mark = self.mark.wrapping_add(1);
        if self.mark == 0 {
            self.marks.fill(0);
            self.mark = 1;
        }
        self.row.clear();
        let columns = self.schema.columns();
        for (key, value) in &line.tags {
            let column = self.column(measurement, key)?;
            let schema = &columns[column];
            // A tag that came after the table was made is a text field.
            if schema.column_type != ColumnType::Utf8 {
                return Err(format!(
                    "tag \"{key}\" on measurement \"{measurement}\" is a field column of another type"
                ));
            }
            let fitted = schema.fit_text(value).map_err(|e| e.to_string())?;
            self.marks[column] = self.mark;
            self.row.push((column, Value::Text(fitted.to_owned())));
        }
        for (key, value) in &line.fields {
            let column = self.column(measurement, key)?;
            let schema = &columns[column];
            if schema.role != ColumnRole::Field {
                return Err(format!(
                    "field \"{key}\" on measurement \"{measurement}\" is a tag column"
                ));
            }
            let value = field_value(measurement, key, schema, value)?;
            self.marks[column] = self.mark;
            self.row.push((column, value));
        }
        for &i in &self.required {
            if self.marks[i] == self.mark {
                continue;
            }
            let column = &columns[i];
            return Err(if column.nullable {
                format!(
                    "column \"{}\" of relation \"{measurement}\" has a DEFAULT, which line protocol writes do not evaluate: give the value",
                    column.name
                )
            } else {
                format!(
                    "null value in column \"{}\" of relation \"{measurement}\" violates not-null constraint",
                    column.name
                )
            });
        }
        for (column, value) in self.row.drain(..) {
            let builder = &mut self.columns[column];
            builder.append_nulls(self.rows - self.filled[column]);
            builder.append(value);
            self.filled[column] = self.rows + 1;
        }
        self.times.push(time);
        self.rows += 1;
        Ok(())
    }

    fn column(&self, measurement: &str, key: &str) -> std::result::Result<usize, String> {
        self.by_name.get(key).copied().ok_or_else(|| {
            format!(
                "column \"{key}\" of relation \"{measurement}\" does not exist \
                 (a write adds columns only for a superuser, up to {MAX_COLUMNS})"
            )
        })
    }

    /// The rows built so far, as a batch of the table's columns; the
    /// builder starts the next chunk empty.
    fn finish_chunk(&mut self) -> Result<RecordBatch> {
        let rows = std::mem::take(&mut self.rows);
        let time_type = self.schema.columns()[self.time].column_type.arrow_type();
        let mut times = Some(std::mem::take(&mut self.times));
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (builder, filled) in self.columns.iter_mut().zip(&mut self.filled) {
            builder.append_nulls(rows - *filled);
            *filled = 0;
            arrays.push(match builder {
                Builder::Time => Arc::new(
                    TimestampMicrosecondArray::from(times.take().unwrap_or_default())
                        .with_data_type(time_type.clone()),
                ),
                Builder::Nulls(data_type) => new_null_array(data_type, rows),
                Builder::Text(b) => Arc::new(b.finish()),
                Builder::Float64(b) => Arc::new(b.finish()),
                Builder::Float32(b) => Arc::new(b.finish()),
                Builder::Int64(b) => Arc::new(b.finish()),
                Builder::Int32(b) => Arc::new(b.finish()),
                Builder::Int16(b) => Arc::new(b.finish()),
                Builder::Boolean(b) => Arc::new(b.finish()),
            });
        }
        RecordBatch::try_new(self.schema.arrow_schema().clone(), arrays)
            .map_err(|e| Error::DataFusion(e.into()))
    }
}

/// `value` as column `schema` stores it, or InfluxDB's type conflict.
fn field_value(
    measurement: &str,
    key: &str,
    schema: &ColumnSchema,
    value: &FieldValue<'_>,
) -> std::result::Result<Value, String> {
    let conflict = || {
        format!(
            "field type conflict: input field \"{key}\" on measurement \"{measurement}\" is type {}, already exists as type {}",
            value.type_name(),
            influx_type_name(schema.column_type)
        )
    };
    let out_of_range = |v: &dyn std::fmt::Display| {
        format!(
            "value {v} of field \"{key}\" on measurement \"{measurement}\" is out of range for its column"
        )
    };
    Ok(match (schema.column_type, value) {
        (ColumnType::Float64 | ColumnType::Float32, FieldValue::Float(v)) => {
            if schema.column_type == ColumnType::Float32 && (*v as f32).is_infinite() {
                return Err(out_of_range(v));
            }
            Value::Float(*v)
        }
        (ColumnType::Int64 | ColumnType::Int32 | ColumnType::Int16, FieldValue::Integer(v)) => {
            check_int(schema.column_type, *v).ok_or_else(|| out_of_range(v))?;
            Value::Integer(*v)
        }
        (ColumnType::Int64 | ColumnType::Int32 | ColumnType::Int16, FieldValue::Unsigned(v)) => {
            let v = i64::try_from(*v).map_err(|_| out_of_range(v))?;
            check_int(schema.column_type, v).ok_or_else(|| out_of_range(&v))?;
            Value::Integer(v)
        }
        (ColumnType::Utf8, FieldValue::String(v)) => {
            Value::Text(schema.fit_text(v).map_err(|e| e.to_string())?.to_owned())
        }
        (ColumnType::Boolean, FieldValue::Boolean(v)) => Value::Boolean(*v),
        _ => return Err(conflict()),
    })
}

fn check_int(column_type: ColumnType, v: i64) -> Option<()> {
    let fits = match column_type {
        ColumnType::Int32 => i32::try_from(v).is_ok(),
        ColumnType::Int16 => i16::try_from(v).is_ok(),
        _ => true,
    };
    fits.then_some(())
}

/// A column type in InfluxDB's words.
fn influx_type_name(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Float64 | ColumnType::Float32 => "float",
        ColumnType::Int64 | ColumnType::Int32 | ColumnType::Int16 => "integer",
        ColumnType::Utf8 => "string",
        ColumnType::Boolean => "boolean",
        ColumnType::Timestamp { .. } => "timestamp",
        ColumnType::Date => "date",
        ColumnType::Json => "json",
        ColumnType::Jsonb => "jsonb",
        ColumnType::Uuid => "uuid",
        ColumnType::Bytea => "bytea",
    }
}
