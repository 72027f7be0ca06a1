//! Writes in InfluxDB line protocol: each measurement is a table of schema
//! `public`, created by its first write (`time TIMESTAMPTZ`, tags as text
//! tag columns, fields typed by their first value), and the request's valid
//! lines are written together, or none of them when the request says so.
//!
//! A line is refused, with InfluxDB's wording, when it is not line protocol,
//! names a key twice or `time`, gives a field another type than its column
//! has (or than an earlier line of the request gave it), or writes a tag
//! into a field column or the reverse. Refused lines never touch a table.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondArray,
};

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
            _ => return None,
        })
    }

    /// `value` in microseconds: digits finer than a microsecond are dropped
    /// (rounding down); `None` when it does not fit.
    pub fn to_micros(self, value: i64) -> Option<i64> {
        let micros = match self {
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
    pub rejected: Vec<RejectedLine>,
}

/// Runs `write` as `principal`. Returns once what it wrote is durable.
pub(crate) async fn write_lines(
    storage: &Storage,
    principal: &Principal,
    write: &LineWrite<'_>,
) -> Result<LineWriteOutcome> {
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

    let mut rejected = Vec::new();
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for (number, raw) in Lines::new(write.body) {
        let mut reject = |reason: String| rejected.push(rejection(number, raw, reason));
        if raw.len() > MAX_LINE_BYTES {
            reject(format!("line longer than {MAX_LINE_BYTES} bytes"));
            continue;
        }
        let line = match line_protocol::parse_line(raw) {
            Ok(line) => line,
            Err(e) => {
                reject(e.to_string());
                continue;
            }
        };
        let time = match line.timestamp {
            None => write.now_micros,
            Some(t) => match write.precision.to_micros(t) {
                Some(micros) => micros,
                None => {
                    reject(format!("bad timestamp {t}: out of range"));
                    continue;
                }
            },
        };
        if let Err(reason) = check_line(&line) {
            reject(reason);
            continue;
        }
        let index = match group_of.get(line.measurement.as_ref()) {
            Some(&index) => index,
            None => {
                group_of.insert(line.measurement.to_string(), groups.len());
                groups.push(Group::new(line.measurement.to_string()));
                groups.len() - 1
            }
        };
        groups[index].lines.push((number, raw, time, line));
    }

    // Resolve every table first: a request that may not write one of them
    // writes none.
    let mut targets = Vec::with_capacity(groups.len());
    for group in &groups {
        targets.push(resolve_table(
            &namespace,
            principal,
            superuser,
            group,
            &mut rejected,
        )?);
    }
    let mut batches = Vec::new();
    for (group, target) in groups.iter().zip(targets) {
        let Some((table, creation)) = target else {
            continue;
        };
        let mut batch = BatchBuilder::new(table.schema());
        for (number, raw, time, line) in &group.lines {
            if let Err(reason) = batch.push(&group.measurement, *time, line) {
                rejected.push(rejection(*number, raw, reason));
            }
        }
        if batch.rows > 0 {
            batches.push((table, batch.finish()?, creation));
        } else if let Some(creation) = creation {
            creation.durable().await?;
        }
    }
    rejected.sort_by_key(|r| r.line);
    if !write.accept_partial && !rejected.is_empty() {
        return Ok(LineWriteOutcome { rows: 0, rejected });
    }
    let mut creations = Vec::new();
    let mut tickets = Vec::with_capacity(batches.len());
    for (table, batch, creation) in batches {
        creations.extend(creation);
        // A concurrent write that added columns meanwhile replaced the
        // table: this one forwards the batch, with NULL in them.
        tickets.push(table.write(&[batch])?);
    }
    for creation in creations {
        creation.durable().await?;
    }
    let mut rows = 0;
    for ticket in tickets {
        rows += ticket.durable().await?;
    }
    Ok(LineWriteOutcome { rows, rejected })
}

/// The lines of one measurement, in order: number, text, time (µs), line.
type GroupLine<'a> = (usize, &'a [u8], i64, Line<'a>);

struct Group<'a> {
    measurement: String,
    lines: Vec<GroupLine<'a>>,
}

impl Group<'_> {
    fn new(measurement: String) -> Self {
        Self {
            measurement,
            lines: Vec::new(),
        }
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
    let keys = (line.tags.iter().map(|(k, _)| k)).chain(line.fields.iter().map(|(k, _)| k));
    let mut seen: Vec<&str> = Vec::with_capacity(line.tags.len() + line.fields.len());
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
        if seen.contains(&key.as_ref()) {
            return Err(format!(
                "duplicate key \"{key}\" on measurement \"{measurement}\""
            ));
        }
        seen.push(key);
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

/// The table a group writes, created when missing (with the ticket of its
/// creation); `None` when it can take none of the lines, which are then
/// refused.
type Target = Option<(Arc<Table>, Option<Durable<bool>>)>;

fn resolve_table(
    namespace: &Namespace,
    principal: &Principal,
    superuser: bool,
    group: &Group<'_>,
    rejected: &mut Vec<RejectedLine>,
) -> Result<Target> {
    let mut refuse_all = |reason: String| {
        for (number, raw, _, _) in &group.lines {
            rejected.push(rejection(*number, raw, reason.clone()));
        }
    };
    let name = group.measurement.as_str();
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
                refuse_all(format!(
                    "cannot create table \"{name}\": the database holds {MAX_TABLES} tables already"
                ));
                return Ok(None);
            }
            let schema = infer_schema(group)?;
            let creation = namespace.create_table(name, schema, TableOptions::default(), true)?;
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
        refuse_all(format!(
            "table \"{name}\" has no time column: line protocol writes only time-series tables"
        ));
        return Ok(None);
    }
    let table = if superuser {
        add_missing_columns(namespace, table, group)?
    } else {
        // Lines with keys the table lacks are refused, naming the column.
        table
    };
    Ok(Some((table, creation)))
}

/// `table`, with a column for each key of `group` it lacks (in the order
/// they first appear, typed by their first value), added as an `ALTER
/// TABLE ... ADD COLUMN` would add them: every existing row holds NULL.
/// A tag that first appears after the table was created becomes a text
/// field: it reads the same in SQL, but does not split series.
fn add_missing_columns(
    namespace: &Namespace,
    mut table: Arc<Table>,
    group: &Group<'_>,
) -> Result<Arc<Table>> {
    // A concurrent write may add some of the same columns first: look again.
    for _ in 0..3 {
        let schema = table.schema().clone();
        let known = |key: &str| schema.columns().iter().any(|c| c.name == key);
        let mut missing: Vec<ColumnSchema> = Vec::new();
        let mut room = MAX_COLUMNS.saturating_sub(schema.columns().len());
        for (_, _, _, line) in &group.lines {
            let tags = (line.tags.iter()).map(|(key, _)| (key, ColumnType::Utf8));
            let fields = (line.fields.iter()).map(|(key, value)| (key, column_type_of(value)));
            for (key, column_type) in tags.chain(fields) {
                if room == 0 || known(key) || missing.iter().any(|c| c.name == *key) {
                    continue;
                }
                room -= 1;
                missing.push(ColumnSchema {
                    name: key.to_string(),
                    column_type,
                    role: ColumnRole::Field,
                    nullable: true,
                    max_chars: None,
                    default: None,
                });
            }
        }
        if missing.is_empty() {
            return Ok(table);
        }
        match namespace.add_columns(&group.measurement, missing) {
            Ok((altered, _)) => return Ok(altered),
            Err(storage::Error::DuplicateColumn { .. }) => {
                table =
                    namespace
                        .table(&group.measurement)
                        .ok_or_else(|| Error::UndefinedTable {
                            name: group.measurement.clone(),
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

/// The schema of a table created for `group`: `time`, then its tags and
/// its fields in the order they first appear, each field of the type it
/// first has. Lines that disagree are refused later, against this schema.
fn infer_schema(group: &Group<'_>) -> Result<TableSchema> {
    let column = |name: &str, column_type, role| ColumnSchema {
        name: name.to_owned(),
        column_type,
        role,
        nullable: role != ColumnRole::Time,
        max_chars: None,
        default: None,
    };
    let time = ColumnType::Timestamp {
        with_time_zone: true,
    };
    let mut columns = vec![column("time", time, ColumnRole::Time)];
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let mut fields = Vec::new();
    for (_, _, _, line) in &group.lines {
        for (key, _) in &line.tags {
            if columns.len() + fields.len() >= MAX_COLUMNS {
                break;
            }
            if let Entry::Vacant(slot) = seen.entry(key) {
                slot.insert(());
                columns.push(column(key, ColumnType::Utf8, ColumnRole::Tag));
            }
        }
        for (key, value) in &line.fields {
            if columns.len() + fields.len() >= MAX_COLUMNS {
                break;
            }
            if let Entry::Vacant(slot) = seen.entry(key) {
                slot.insert(());
                fields.push(column(key, column_type_of(value), ColumnRole::Field));
            }
        }
    }
    columns.extend(fields);
    // Keys are unique within the request's names and none is `time`, so
    // this cannot fail; if it did, the request fails rather than a line.
    Ok(TableSchema::try_new(columns)?)
}

/// One table's rows, built a column at a time from the lines it accepts.
struct BatchBuilder {
    schema: Arc<TableSchema>,
    by_name: HashMap<String, usize>,
    time: usize,
    times: Vec<i64>,
    columns: Vec<Builder>,
    rows: usize,
    /// Scratch: the value each column takes from the current line.
    row: Vec<Option<Value>>,
}

enum Builder {
    /// The time column: filled from `times`.
    Time,
    Text(StringBuilder),
    Float64(Float64Builder),
    Float32(Float32Builder),
    Int64(Int64Builder),
    Int32(Int32Builder),
    Int16(Int16Builder),
    Boolean(BooleanBuilder),
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
        let columns = schema
            .columns()
            .iter()
            .map(|c| match (c.role, c.column_type) {
                (ColumnRole::Time, _) | (_, ColumnType::Timestamp { .. }) => Builder::Time,
                (_, ColumnType::Utf8) => Builder::Text(StringBuilder::new()),
                (_, ColumnType::Float64) => Builder::Float64(Float64Builder::new()),
                (_, ColumnType::Float32) => Builder::Float32(Float32Builder::new()),
                (_, ColumnType::Int64) => Builder::Int64(Int64Builder::new()),
                (_, ColumnType::Int32) => Builder::Int32(Int32Builder::new()),
                (_, ColumnType::Int16) => Builder::Int16(Int16Builder::new()),
                (_, ColumnType::Boolean) => Builder::Boolean(BooleanBuilder::new()),
            })
            .collect();
        Self {
            by_name: (schema.columns().iter().enumerate())
                .map(|(i, c)| (c.name.clone(), i))
                .collect(),
            time: schema.time_index().unwrap_or(0),
            times: Vec::new(),
            columns,
            rows: 0,
            row: (0..schema.columns().len()).map(|_| None).collect(),
            schema: schema.clone(),
        }
    }

    /// Checks `line` against the table and appends it, or says why not.
    fn push(
        &mut self,
        measurement: &str,
        time: i64,
        line: &Line<'_>,
    ) -> std::result::Result<(), String> {
        for slot in &mut self.row {
            *slot = None;
        }
        let columns = self.schema.columns();
        for (key, value) in &line.tags {
            let column = self.column(measurement, key)?;
            let schema = &columns[column];
            // A tag that came after the table was made is a text field.
            if schema.column_type != ColumnType::Utf8 || schema.role == ColumnRole::Time {
                return Err(format!(
                    "tag \"{key}\" on measurement \"{measurement}\" is a field column of another type"
                ));
            }
            let fitted = schema.fit_text(value).map_err(|e| e.to_string())?;
            self.row[column] = Some(Value::Text(fitted.to_owned()));
        }
        for (key, value) in &line.fields {
            let column = self.column(measurement, key)?;
            let schema = &columns[column];
            if schema.role != ColumnRole::Field {
                return Err(format!(
                    "field \"{key}\" on measurement \"{measurement}\" is a tag column"
                ));
            }
            self.row[column] = Some(field_value(measurement, key, schema, value)?);
        }
        for (i, column) in columns.iter().enumerate() {
            if i == self.time || self.row[i].is_some() {
                continue;
            }
            if !column.nullable {
                return Err(format!(
                    "null value in column \"{}\" of relation \"{measurement}\" violates not-null constraint",
                    column.name
                ));
            }
            if column.default.is_some() {
                return Err(format!(
                    "column \"{}\" of relation \"{measurement}\" has a DEFAULT, which line protocol writes do not evaluate: give the value",
                    column.name
                ));
            }
        }
        self.times.push(time);
        for (builder, value) in self.columns.iter_mut().zip(self.row.iter_mut()) {
            match (builder, value.take()) {
                (Builder::Time, _) => {}
                (Builder::Text(b), Some(Value::Text(v))) => b.append_value(v),
                (Builder::Text(b), _) => b.append_null(),
                (Builder::Float64(b), Some(Value::Float(v))) => b.append_value(v),
                (Builder::Float64(b), _) => b.append_null(),
                (Builder::Float32(b), Some(Value::Float(v))) => b.append_value(v as f32),
                (Builder::Float32(b), _) => b.append_null(),
                (Builder::Int64(b), Some(Value::Integer(v))) => b.append_value(v),
                (Builder::Int64(b), _) => b.append_null(),
                (Builder::Int32(b), Some(Value::Integer(v))) => {
                    b.append_option(i32::try_from(v).ok())
                }
                (Builder::Int32(b), _) => b.append_null(),
                (Builder::Int16(b), Some(Value::Integer(v))) => {
                    b.append_option(i16::try_from(v).ok())
                }
                (Builder::Int16(b), _) => b.append_null(),
                (Builder::Boolean(b), Some(Value::Boolean(v))) => b.append_value(v),
                (Builder::Boolean(b), _) => b.append_null(),
            }
        }
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

    fn finish(self) -> Result<RecordBatch> {
        let time_type = self.schema.columns()[self.time].column_type.arrow_type();
        let mut times = Some(self.times);
        let arrays: Vec<ArrayRef> = (self.columns.into_iter())
            .map(|builder| -> ArrayRef {
                match builder {
                    Builder::Time => Arc::new(
                        TimestampMicrosecondArray::from(times.take().unwrap_or_default())
                            .with_data_type(time_type.clone()),
                    ),
                    Builder::Text(mut b) => Arc::new(b.finish()),
                    Builder::Float64(mut b) => Arc::new(b.finish()),
                    Builder::Float32(mut b) => Arc::new(b.finish()),
                    Builder::Int64(mut b) => Arc::new(b.finish()),
                    Builder::Int32(mut b) => Arc::new(b.finish()),
                    Builder::Int16(mut b) => Arc::new(b.finish()),
                    Builder::Boolean(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
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
    }
}
