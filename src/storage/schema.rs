//! Table schemas: which column is the time column, which are tags and which
//! are fields; the column types with their tags in the file formats; and the
//! per-table storage options.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::error::{Error, Result, corrupt};

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

    /// [`fit_text`](Self::fit_text) over a column of values; `None` when
    /// every value already fits as it is (or the column is not text).
    pub(super) fn fit_array(&self, column: &ArrayRef) -> Result<Option<ArrayRef>> {
        if self.max_chars.is_none() {
            return Ok(None);
        }
        let Some(strings) = column.as_string_opt::<i32>() else {
            return Ok(None);
        };
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
                .map(|c| Field::new(&c.name, c.column_type.arrow_type(), c.nullable))
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
                .map(|c| Field::new(&c.name, c.column_type.arrow_type(), c.nullable))
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
                default: None,
                ..column("n", ColumnType::Int64, ColumnRole::Field)
            },
        ]);
        assert!(matches!(numeric_length, Err(Error::InvalidSchema { .. })));
    }
}
