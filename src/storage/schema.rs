//! Table schemas: which column is the time column, which are tags and which
//! are fields; the column types with their tags in the file formats; and the
//! per-table storage options.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::error::{Error, Result, corrupt};
use crate::pgtype;

/// The time zone given to `TIMESTAMPTZ` columns. Instants are stored in UTC; the
/// session's `TimeZone` only changes how they are rendered.
pub(crate) const UTC: &str = "UTC";

/// The value types a column can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Microseconds since the Unix epoch. `with_time_zone` is `TIMESTAMPTZ`.
    Timestamp {
        with_time_zone: bool,
    },
    Float64,
    Float32,
    Int64,
    Int32,
    Int16,
    Boolean,
    Utf8,
    /// Days since 1970-01-01, PostgreSQL's `DATE`.
    Date,
    /// `JSON`: the text as written, checked.
    Json,
    /// `JSONB`: the text as `jsonb_out` prints it (normalized when stored).
    Jsonb,
    /// `UUID`: its canonical text, which sorts as its bytes do.
    Uuid,
    /// `BYTEA`: byte strings.
    Bytea,
}

impl ColumnType {
    /// The Arrow type the column is scanned as.
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::Timestamp { with_time_zone } => DataType::Timestamp(
                TimeUnit::Microsecond,
                with_time_zone.then(|| Arc::from(UTC)),
            ),
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int16 => DataType::Int16,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::Date => DataType::Date32,
            ColumnType::Json | ColumnType::Jsonb | ColumnType::Uuid => DataType::Utf8,
            ColumnType::Bytea => DataType::Binary,
        }
    }

    /// The type the values are held as: JSON and UUIDs are held as text.
    pub fn physical(self) -> Self {
        match self {
            ColumnType::Json | ColumnType::Jsonb | ColumnType::Uuid => ColumnType::Utf8,
            other => other,
        }
    }

    /// Whether every value of this type is a value of `to`, exactly
    /// (`smallint` to `integer` or `bigint`, `integer` to `bigint` or
    /// `double precision`, `real` to `double precision`): a column can
    /// change to it without a check.
    pub fn widens_to(self, to: ColumnType) -> bool {
        use ColumnType::{Float32, Float64, Int16, Int32, Int64};
        matches!(
            (self, to),
            (Int16, Int32 | Int64 | Float32 | Float64)
                | (Int32, Int64 | Float64)
                | (Float32, Float64)
        )
    }

    /// PostgreSQL's name for the type, as its messages spell it.
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnType::Timestamp {
                with_time_zone: false,
            } => "timestamp without time zone",
            ColumnType::Timestamp {
                with_time_zone: true,
            } => "timestamp with time zone",
            ColumnType::Float64 => "double precision",
            ColumnType::Float32 => "real",
            ColumnType::Int64 => "bigint",
            ColumnType::Int32 => "integer",
            ColumnType::Int16 => "smallint",
            ColumnType::Boolean => "boolean",
            ColumnType::Utf8 => "text",
            ColumnType::Date => "date",
            ColumnType::Json => "json",
            ColumnType::Jsonb => "jsonb",
            ColumnType::Uuid => "uuid",
            ColumnType::Bytea => "bytea",
        }
    }

    /// The PostgreSQL type name a column of this type reports through Arrow
    /// field metadata ([`pgtype::pg_type_metadata`]), where its Arrow type
    /// says less.
    pub fn pg_type_name(self) -> Option<&'static str> {
        match self {
            ColumnType::Json => Some("json"),
            ColumnType::Jsonb => Some("jsonb"),
            ColumnType::Uuid => Some("uuid"),
            _ => None,
        }
    }

    /// The Arrow field of a column of this type.
    pub fn arrow_field(self, name: &str, nullable: bool) -> Field {
        let field = Field::new(name, self.arrow_type(), nullable);
        match self.pg_type_name() {
            Some(pg_type) => field.with_metadata(pgtype::pg_type_metadata(pg_type)),
            None => field,
        }
    }

    /// The byte that names the type in WAL records, snapshots and blocks.
    pub(super) fn tag(self) -> u8 {
        match self {
            ColumnType::Timestamp {
                with_time_zone: false,
            } => 1,
            ColumnType::Timestamp {
                with_time_zone: true,
            } => 2,
            ColumnType::Float64 => 3,
            ColumnType::Float32 => 4,
            ColumnType::Int64 => 5,
            ColumnType::Int32 => 6,
            ColumnType::Int16 => 7,
            ColumnType::Boolean => 8,
            ColumnType::Utf8 => 9,
            ColumnType::Date => 10,
            ColumnType::Json => 11,
            ColumnType::Jsonb => 12,
            ColumnType::Uuid => 13,
            ColumnType::Bytea => 14,
        }
    }

    /// The type a [`tag`](Self::tag) names.
    pub(super) fn from_tag(tag: u8) -> Result<Self> {
        Ok(match tag {
            1 => ColumnType::Timestamp {
                with_time_zone: false,
            },
            2 => ColumnType::Timestamp {
                with_time_zone: true,
            },
            3 => ColumnType::Float64,
            4 => ColumnType::Float32,
            5 => ColumnType::Int64,
            6 => ColumnType::Int32,
            7 => ColumnType::Int16,
            8 => ColumnType::Boolean,
            9 => ColumnType::Utf8,
            10 => ColumnType::Date,
            11 => ColumnType::Json,
            12 => ColumnType::Jsonb,
            13 => ColumnType::Uuid,
            14 => ColumnType::Bytea,
            other => return Err(corrupt(format!("unknown column type tag {other}"))),
        })
    }
}

/// The part a column plays in the time-series model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRole {
    /// The designated time column: exactly one per table, never NULL.
    Time,
    /// A dimension. A distinct set of tag values identifies a series.
    Tag,
    /// A measured value; a point has several.
    Field,
}

impl ColumnRole {
    /// The byte that names the role in WAL records and snapshots.
    pub(super) fn tag(self) -> u8 {
        match self {
            ColumnRole::Time => 0,
            ColumnRole::Tag => 1,
            ColumnRole::Field => 2,
        }
    }

    /// The role a [`tag`](Self::tag) names.
    pub(super) fn from_tag(tag: u8) -> Result<Self> {
        Ok(match tag {
            0 => ColumnRole::Time,
            1 => ColumnRole::Tag,
            2 => ColumnRole::Field,
            other => return Err(corrupt(format!("unknown column role {other}"))),
        })
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSchema {
    pub name: String,
    pub column_type: ColumnType,
    pub role: ColumnRole,
    /// `false` for `NOT NULL` columns. The time column is never nullable.
    pub nullable: bool,
    /// `VARCHAR(n)`: a text column whose values hold at most `n` characters.
    pub max_chars: Option<u32>,
    /// The SQL text of the column's `DEFAULT`, which an `INSERT` that
    /// leaves the column out evaluates (per row).
    pub default: Option<String>,
    /// An identity column (`GENERATED ... AS IDENTITY`): its default calls
    /// the sequence it owns.
    pub identity: Option<Identity>,
}

/// How an identity column takes values an `INSERT` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// `GENERATED ALWAYS`: only with `OVERRIDING SYSTEM VALUE`.
    Always,
    /// `GENERATED BY DEFAULT`: as any default.
    ByDefault,
}

impl ColumnSchema {
    /// `value` as this column stores it. A `VARCHAR(n)` column follows
    /// PostgreSQL's rule for assignment: a value longer than `n` characters is
    /// an error, unless everything past the `n`th character is spaces, which
    /// are cut off.
    pub fn fit_text<'a>(&self, value: &'a str) -> Result<&'a str> {
        let Some(max_chars) = self.max_chars else {
            return Ok(value);
        };
        // A character takes at least one byte: most values need no counting.
        if value.len() <= max_chars as usize {
            return Ok(value);
        }
        match value.char_indices().nth(max_chars as usize) {
            None => Ok(value),
            Some((cut, _)) if value[cut..].bytes().all(|b| b == b' ') => Ok(&value[..cut]),
            Some(_) => Err(Error::StringTooLong { max_chars }),
        }
    }

    /// Whether values written to this column are checked or rewritten
    /// first ([`fit_array`](Self::fit_array)).
    pub(super) fn fits_values(&self) -> bool {
        self.max_chars.is_some()
            || matches!(
                self.column_type,
                ColumnType::Json | ColumnType::Jsonb | ColumnType::Uuid
            )
    }

    /// A column of values as this column stores them: `VARCHAR(n)` values
    /// fitted ([`fit_text`](Self::fit_text)), `json` checked, `jsonb` and
    /// `uuid` normalized. `None` when every value is stored as it is.
    pub(super) fn fit_array(&self, column: &ArrayRef) -> Result<Option<ArrayRef>> {
        let Some(strings) = column.as_string_opt::<i32>() else {
            return Ok(None);
        };
        match self.column_type {
            ColumnType::Json => {
                for value in strings.iter().flatten() {
                    pgtype::json_in(value)?;
                }
                return Ok(None);
            }
            ColumnType::Jsonb | ColumnType::Uuid => {
                let normalize = match self.column_type {
                    ColumnType::Uuid => pgtype::uuid_in,
                    _ => pgtype::jsonb_in,
                };
                let mut changed = false;
                let normalized = strings
                    .iter()
                    .map(|value| {
                        value
                            .map(|v| {
                                let n = normalize(v)?;
                                changed |= n != v;
                                Ok(n)
                            })
                            .transpose()
                    })
                    .collect::<Result<StringArray>>()?;
                return Ok(changed.then(|| Arc::new(normalized) as ArrayRef));
            }
            _ => {}
        }
        if self.max_chars.is_none() {
            return Ok(None);
        }
        let mut cut = false;
        for value in strings.iter().flatten() {
            cut |= self.fit_text(value)?.len() != value.len();
        }
        if !cut {
            return Ok(None);
        }
        let fitted = strings
            .iter()
            .map(|value| value.map(|v| self.fit_text(v)).transpose())
            .collect::<Result<StringArray>>()?;
        Ok(Some(Arc::new(fitted)))
    }
}

/// What an `ALTER TABLE` checks of a column's values before it changes the
/// column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColumnCheck {
    /// No NULL (`SET NOT NULL`).
    NotNull,
    /// Every value fits the column's new length (`TYPE varchar(n)`).
    Fits,
    /// The values take a wider type (`TYPE bigint` of an `integer`
    /// field): not a check, a conversion, made under the same lock.
    Retype(ColumnType),
}

/// The value that the rows a table already holds take in a column added
/// to it (`ALTER TABLE ... ADD COLUMN`), as PostgreSQL gives them the
/// column's default.
#[derive(Debug, Clone)]
pub enum ColumnFill {
    /// NULL: the column has no default (or one that is NULL).
    Null,
    /// The default, computed once: one value of the column's Arrow type.
    Value(ArrayRef),
    /// A default that takes a new value in each row (`random()`): only a
    /// table without rows can take it.
    PerRow,
}

impl ColumnFill {
    /// The one value `column`'s existing rows take, fitted as a write
    /// would fit it (`None` for NULL); `PerRow` has none.
    pub(super) fn value(&self, column: &ColumnSchema) -> Result<Option<ArrayRef>> {
        let ColumnFill::Value(value) = self else {
            return Ok(None);
        };
        let arrow_type = column.column_type.arrow_type();
        if value.len() != 1 || value.data_type() != &arrow_type {
            return Err(Error::Internal {
                reason: format!(
                    "the value added column \"{}\" takes is not one {arrow_type}",
                    column.name
                ),
            });
        }
        if value.is_null(0) {
            return Ok(None);
        }
        Ok(Some(
            column.fit_array(value)?.unwrap_or_else(|| value.clone()),
        ))
    }
}

/// `value` (of one row, or `None` for NULL) in each of `rows` rows, as an
/// array of `column_type`.
pub(super) fn repeated(
    value: Option<&ArrayRef>,
    column_type: ColumnType,
    rows: usize,
) -> Result<ArrayRef> {
    match value {
        None => Ok(arrow::array::new_null_array(
            &column_type.arrow_type(),
            rows,
        )),
        Some(value) => {
            let indices = arrow::array::UInt32Array::from(vec![0u32; rows]);
            Ok(arrow::compute::take(value.as_ref(), &indices, None)?)
        }
    }
}

/// A `PRIMARY KEY` or `UNIQUE` constraint: no two rows hold the same
/// values in `columns`, where a key with a NULL in it is equal to none (as
/// in PostgreSQL, whose unique indexes treat NULLs as distinct).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueConstraint {
    /// The name errors report, such as `devices_pkey` or `devices_name_key`.
    pub name: String,
    /// Indices of the table's columns, in the constraint's order.
    pub columns: Vec<usize>,
    /// A primary key also makes its columns `NOT NULL`.
    pub primary: bool,
}

/// The validated schema of a table: a time-series table, with a time
/// column, or a plain table, without one. A plain table's columns are all
/// fields, and its rows form one series ordered by arrival.
#[derive(Debug, Clone)]
pub struct TableSchema {
    columns: Vec<ColumnSchema>,
    time_index: Option<usize>,
    constraints: Vec<UniqueConstraint>,
    tag_indices: Vec<usize>,
    field_indices: Vec<usize>,
    arrow: SchemaRef,
}

impl TableSchema {
    /// Checks the invariants: unique names, at most one time column, of a
    /// timestamp type, and tags of a text type only beside one.
    pub fn try_new(columns: Vec<ColumnSchema>) -> Result<Self> {
        let mut seen = HashSet::new();
        for column in &columns {
            if !seen.insert(column.name.as_str()) {
                return Err(Error::DuplicateColumn {
                    column: column.name.clone(),
                });
            }
        }
        let mut time_index = None;
        let mut tag_indices = Vec::new();
        let mut field_indices = Vec::new();
        for (index, column) in columns.iter().enumerate() {
            match column.role {
                ColumnRole::Time => {
                    if time_index.replace(index).is_some() {
                        return Err(Error::InvalidSchema {
                            reason: "a table has exactly one time column".into(),
                        });
                    }
                    if !matches!(column.column_type, ColumnType::Timestamp { .. }) {
                        return Err(Error::InvalidSchema {
                            reason: format!(
                                "time column \"{}\" must be TIMESTAMP or TIMESTAMPTZ",
                                column.name
                            ),
                        });
                    }
                }
                ColumnRole::Tag => {
                    if column.column_type != ColumnType::Utf8 {
                        return Err(Error::InvalidSchema {
                            reason: format!(
                                "tag column \"{}\" must be TEXT or VARCHAR",
                                column.name
                            ),
                        });
                    }
                    tag_indices.push(index);
                }
                ColumnRole::Field => field_indices.push(index),
            }
            let valid_length = match column.max_chars {
                None => true,
                Some(n) => n > 0 && column.column_type == ColumnType::Utf8,
            };
            if !valid_length {
                return Err(Error::InvalidSchema {
                    reason: format!("column \"{}\" has an invalid length", column.name),
                });
            }
        }
        if time_index.is_none() && !tag_indices.is_empty() {
            return Err(Error::InvalidSchema {
                reason: "a table without a time column has no tags".into(),
            });
        }
        let mut columns = columns;
        if let Some(time_index) = time_index {
            columns[time_index].nullable = false;
        }
        let arrow = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| c.column_type.arrow_field(&c.name, c.nullable))
                .collect::<Vec<_>>(),
        ));
        Ok(Self {
            columns,
            time_index,
            constraints: Vec::new(),
            tag_indices,
            field_indices,
            arrow,
        })
    }

    /// This schema with `default` as the default of column `name`.
    pub(super) fn with_default(mut self, name: &str, default: String) -> Result<Self> {
        let column = (self.columns.iter_mut())
            .find(|c| c.name == name)
            .ok_or_else(|| Error::InvalidSchema {
                reason: format!("column \"{name}\" does not exist"),
            })?;
        column.default = Some(default);
        Ok(self)
    }

    /// This schema with `constraints`, whose primary key's columns become
    /// `NOT NULL`. Only a plain table takes them: on a time-series table a
    /// key would have to include the time column and be checked on the
    /// append path, which is not built yet.
    pub fn with_constraints(mut self, constraints: Vec<UniqueConstraint>) -> Result<Self> {
        if constraints.is_empty() {
            return Ok(self);
        }
        if self.time_index.is_some() {
            return Err(Error::Unsupported {
                what: "PRIMARY KEY and UNIQUE on a table with a time column".into(),
            });
        }
        if constraints.iter().filter(|c| c.primary).count() > 1 {
            return Err(Error::InvalidSchema {
                reason: "multiple primary keys for a table are not allowed".into(),
            });
        }
        for constraint in &constraints {
            let mut seen = HashSet::new();
            let valid = !constraint.columns.is_empty()
                && constraint
                    .columns
                    .iter()
                    .all(|&c| c < self.columns.len() && seen.insert(c));
            if !valid {
                return Err(Error::InvalidSchema {
                    reason: format!("constraint \"{}\" names invalid columns", constraint.name),
                });
            }
            if constraint.primary {
                for &c in &constraint.columns {
                    self.columns[c].nullable = false;
                }
            }
        }
        self.arrow = Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| c.column_type.arrow_field(&c.name, c.nullable))
                .collect::<Vec<_>>(),
        ));
        self.constraints = constraints;
        Ok(self)
    }

    pub fn columns(&self) -> &[ColumnSchema] {
        &self.columns
    }

    /// The time column's index; `None` for a plain table.
    pub fn time_index(&self) -> Option<usize> {
        self.time_index
    }

    pub fn time_column(&self) -> Option<&ColumnSchema> {
        self.time_index.map(|i| &self.columns[i])
    }

    /// `true` for a table without a time column.
    pub fn is_plain(&self) -> bool {
        self.time_index.is_none()
    }

    pub fn constraints(&self) -> &[UniqueConstraint] {
        &self.constraints
    }

    pub fn tag_indices(&self) -> &[usize] {
        &self.tag_indices
    }

    pub fn field_indices(&self) -> &[usize] {
        &self.field_indices
    }

    /// The Arrow schema that scans produce and writes must match.
    pub fn arrow_schema(&self) -> &SchemaRef {
        &self.arrow
    }
}

/// Per-table storage settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableOptions {
    /// Width of a time shard, in microseconds.
    pub shard_interval: i64,
    /// Points per sealed block.
    pub block_size: usize,
}

/// One day, in microseconds.
pub const DEFAULT_SHARD_INTERVAL: i64 = 86_400_000_000;
/// Points per sealed block. 1024 points of a 10 s series cover 2.8 hours: a
/// one-hour query decodes one or two blocks per series, a head stays small to
/// copy, and the codecs already reach their asymptotic size (see the storage
/// bench).
pub const DEFAULT_BLOCK_SIZE: usize = 1024;

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            shard_interval: DEFAULT_SHARD_INTERVAL,
            block_size: DEFAULT_BLOCK_SIZE,
        }
    }
}

/// The integer type a sequence counts in (`AS smallint | integer | bigint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceType {
    Int16,
    Int32,
    Int64,
}

impl SequenceType {
    fn bounds(self) -> (i64, i64) {
        match self {
            SequenceType::Int16 => (i16::MIN.into(), i16::MAX.into()),
            SequenceType::Int32 => (i32::MIN.into(), i32::MAX.into()),
            SequenceType::Int64 => (i64::MIN, i64::MAX),
        }
    }

    /// PostgreSQL's name for the type, as its messages spell it.
    pub fn name(self) -> &'static str {
        match self {
            SequenceType::Int16 => "smallint",
            SequenceType::Int32 => "integer",
            SequenceType::Int64 => "bigint",
        }
    }

    pub(super) fn code(self) -> u8 {
        match self {
            SequenceType::Int16 => 2,
            SequenceType::Int32 => 4,
            SequenceType::Int64 => 8,
        }
    }

    pub(super) fn from_code(code: u8) -> Option<Self> {
        match code {
            2 => Some(SequenceType::Int16),
            4 => Some(SequenceType::Int32),
            8 => Some(SequenceType::Int64),
            _ => None,
        }
    }
}

/// What `CREATE SEQUENCE` (or an identity column's options) said; `None`
/// takes PostgreSQL's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SequenceSpec {
    pub data_type: Option<SequenceType>,
    pub increment: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub start: Option<i64>,
    pub cache: Option<i64>,
    pub cycle: bool,
}

/// A sequence's settled definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceOptions {
    pub data_type: SequenceType,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub start: i64,
    pub cache: i64,
    pub cycle: bool,
}

fn invalid(reason: String) -> Error {
    Error::InvalidSequence { reason }
}

impl SequenceOptions {
    /// The definition `spec` asks for, checked as PostgreSQL checks it.
    pub fn new(spec: &SequenceSpec) -> Result<Self> {
        let data_type = spec.data_type.unwrap_or(SequenceType::Int64);
        let (low, high) = data_type.bounds();
        let increment = spec.increment.unwrap_or(1);
        if increment == 0 {
            return Err(invalid("INCREMENT must not be zero".into()));
        }
        let ascending = increment > 0;
        let max = spec.max.unwrap_or(if ascending { high } else { -1 });
        let min = spec.min.unwrap_or(if ascending { 1 } else { low });
        let type_name = data_type.name();
        if max < low || max > high {
            return Err(invalid(format!(
                "MAXVALUE ({max}) is out of range for sequence data type {type_name}"
            )));
        }
        if min < low || min > high {
            return Err(invalid(format!(
                "MINVALUE ({min}) is out of range for sequence data type {type_name}"
            )));
        }
        if min >= max {
            return Err(invalid(format!(
                "MINVALUE ({min}) must be less than MAXVALUE ({max})"
            )));
        }
        let start = spec.start.unwrap_or(if ascending { min } else { max });
        if start < min {
            return Err(invalid(format!(
                "START value ({start}) cannot be less than MINVALUE ({min})"
            )));
        }
        if start > max {
            return Err(invalid(format!(
                "START value ({start}) cannot be greater than MAXVALUE ({max})"
            )));
        }
        let cache = spec.cache.unwrap_or(1);
        if cache <= 0 {
            return Err(invalid(format!(
                "CACHE ({cache}) must be greater than zero"
            )));
        }
        Ok(Self {
            data_type,
            increment,
            min,
            max,
            start,
            cache,
            cycle: spec.cycle,
        })
    }

    /// The value after `value`, wrapping when the sequence cycles; `None`
    /// past the end.
    pub(super) fn after(&self, value: i64) -> Option<i64> {
        match value.checked_add(self.increment) {
            Some(next) if (self.min..=self.max).contains(&next) => Some(next),
            _ if !self.cycle => None,
            _ if self.increment > 0 => Some(self.min),
            _ => Some(self.max),
        }
    }
}

/// The column a sequence belongs to (`SERIAL`, identity, `OWNED BY`): it is
/// dropped with its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceOwner {
    pub table: String,
    pub column: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, column_type: ColumnType, role: ColumnRole) -> ColumnSchema {
        ColumnSchema {
            name: name.into(),
            column_type,
            role,
            nullable: true,
            max_chars: None,
            identity: None,
            default: None,
        }
    }

    #[test]
    fn time_column_is_required_and_never_nullable() {
        let ts = ColumnType::Timestamp {
            with_time_zone: true,
        };
        let schema = TableSchema::try_new(vec![
            column("host", ColumnType::Utf8, ColumnRole::Tag),
            column("time", ts, ColumnRole::Time),
            column("v", ColumnType::Float64, ColumnRole::Field),
        ])
        .unwrap();
        assert_eq!(schema.time_index(), Some(1));
        assert_eq!(schema.tag_indices(), &[0]);
        assert_eq!(schema.field_indices(), &[2]);
        assert!(!schema.arrow_schema().field(1).is_nullable());

        let plain =
            TableSchema::try_new(vec![column("v", ColumnType::Int64, ColumnRole::Field)]).unwrap();
        assert!(plain.is_plain());
        let tagged = TableSchema::try_new(vec![column("h", ColumnType::Utf8, ColumnRole::Tag)]);
        assert!(matches!(tagged, Err(Error::InvalidSchema { .. })));
    }

    #[test]
    fn rejects_duplicate_names_and_bad_roles() {
        let ts = ColumnType::Timestamp {
            with_time_zone: false,
        };
        let duplicate = TableSchema::try_new(vec![
            column("t", ts, ColumnRole::Time),
            column("t", ColumnType::Int64, ColumnRole::Field),
        ]);
        assert!(matches!(duplicate, Err(Error::DuplicateColumn { .. })));
        let numeric_tag = TableSchema::try_new(vec![
            column("t", ts, ColumnRole::Time),
            column("n", ColumnType::Int64, ColumnRole::Tag),
        ]);
        assert!(matches!(numeric_tag, Err(Error::InvalidSchema { .. })));
    }

    #[test]
    fn varchar_values_fit_as_postgres_assigns_them() {
        let limited = ColumnSchema {
            max_chars: Some(3),
            identity: None,
            default: None,
            ..column("v", ColumnType::Utf8, ColumnRole::Field)
        };
        assert_eq!(limited.fit_text("abc").unwrap(), "abc");
        assert_eq!(limited.fit_text("ééé").unwrap(), "ééé");
        assert_eq!(limited.fit_text("ab    ").unwrap(), "ab ");
        assert_eq!(limited.fit_text("ééé  ").unwrap(), "ééé");
        assert!(matches!(
            limited.fit_text("abcd"),
            Err(Error::StringTooLong { max_chars: 3 })
        ));
        assert!(limited.fit_text("abc \t").is_err());

        let values: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("abc  ")]));
        let fitted = limited.fit_array(&values).unwrap().unwrap();
        assert_eq!(
            fitted.as_string::<i32>().iter().collect::<Vec<_>>(),
            vec![Some("a"), None, Some("abc")]
        );
        let fits: ArrayRef = Arc::new(StringArray::from(vec!["a", "ab"]));
        assert!(limited.fit_array(&fits).unwrap().is_none());

        let unlimited = column("v", ColumnType::Utf8, ColumnRole::Field);
        assert_eq!(unlimited.fit_text("abcdef").unwrap(), "abcdef");
        let numeric_length = TableSchema::try_new(vec![
            column(
                "t",
                ColumnType::Timestamp {
                    with_time_zone: true,
                },
                ColumnRole::Time,
            ),
            ColumnSchema {
                max_chars: Some(3),
                identity: None,
                default: None,
                ..column("n", ColumnType::Int64, ColumnRole::Field)
            },
        ]);
        assert!(matches!(numeric_length, Err(Error::InvalidSchema { .. })));
    }
}
