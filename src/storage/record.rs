//! The records of the write-ahead log and of snapshots: one logged change
//! each, and their byte encoding (drawn in docs/FILE-FORMATS.md). Tables,
//! schemas and roles produce records; the [`journal`](super::journal) only
//! frames and orders them.

use arrow::array::{Array, ArrayRef, new_null_array};

use super::acl::{AclObject, Role};
use super::bytes::{Reader, Writer};
use super::error::{Result, corrupt};
use super::head::HeadBlock;
use super::image::{read_key, write_key};
use super::index::Index;
use super::scan::TimeRange;
use super::schema::{
    ColumnRole, ColumnSchema, ColumnType, Identity, SequenceOptions, SequenceOwner, SequenceType,
    TableOptions, TableSchema, UniqueConstraint,
};
use super::series::SeriesKey;
use super::view::View;

/// One logged change.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Record {
    CreateDatabase {
        name: String,
    },
    DropDatabase {
        name: String,
    },
    CreateSchema {
        database: String,
        name: String,
    },
    DropSchema {
        database: String,
        name: String,
    },
    CreateTable {
        database: String,
        schema: String,
        name: String,
        id: u64,
        options: TableOptions,
        columns: Vec<ColumnSchema>,
        /// A table with any is logged as its own kind of record, so the
        /// records of other tables read as they did before keys existed.
        constraints: Vec<UniqueConstraint>,
    },
    DropTable {
        database: String,
        schema: String,
        name: String,
    },
    /// `columns` added to table `id` (named `name`), after its own, its
    /// rows holding `fills` in them: one value per column (NULL for `None`,
    /// and for columns past its end). A record with a value is logged as
    /// its own kind, so that one without reads as before fills existed.
    AddColumns {
        database: String,
        schema: String,
        name: String,
        id: u64,
        columns: Vec<ColumnSchema>,
        fills: Vec<Option<ArrayRef>>,
    },
    /// Rows for table `table`, as a table image fragment (see `image`). The
    /// fragments of one write are contiguous; `last` closes the write, which
    /// applies all of them or, when the log ends first, none.
    Data {
        table: u64,
        last: bool,
        image: Vec<u8>,
    },
    /// Rows of plain table `table` deleted, by row number (ascending). Part
    /// of a write as `Data` fragments are: the write applies when its `last`
    /// record comes, in the order of its records.
    DeleteRows {
        table: u64,
        last: bool,
        rows: Vec<i64>,
    },
    /// The rows of table `table` in `time_range` removed, of the series
    /// with these keys or (`None`) of every series: a `DELETE` or
    /// `TRUNCATE`. Part of a write as `Data` fragments are; the rows a
    /// `DELETE`'s predicate kept follow as `Data`.
    DeleteRange {
        table: u64,
        last: bool,
        time_range: TimeRange,
        series: Option<Vec<SeriesKey>>,
    },
    /// How long table `table` keeps rows, in microseconds (`None`: for
    /// ever).
    SetRetention {
        table: u64,
        retention: Option<i64>,
    },
    /// Sequence `id` created in a schema, maybe owned by a table's column.
    CreateSequence {
        database: String,
        schema: String,
        name: String,
        id: u64,
        options: SequenceOptions,
        owner: Option<SequenceOwner>,
    },
    DropSequence {
        database: String,
        schema: String,
        name: String,
    },
    /// Sequence `id` may have handed out values up to `last` (see
    /// `sequence`).
    SequenceValue {
        id: u64,
        last: i64,
        called: bool,
    },
    /// Table `id` (named `name`) with its columns changed in what `ALTER
    /// TABLE` changes of them: names, defaults, `NOT NULL`. The whole list.
    AlterColumns {
        database: String,
        schema: String,
        name: String,
        id: u64,
        columns: Vec<ColumnSchema>,
    },
    /// Field column `column` of table `id` (named `name`) dropped.
    DropColumn {
        database: String,
        schema: String,
        name: String,
        id: u64,
        column: String,
    },
    /// Table `id` (named `name`) renamed `new_name`.
    RenameTable {
        database: String,
        schema: String,
        name: String,
        id: u64,
        new_name: String,
    },
    /// View `view.name` created in a schema, or replaced there.
    CreateView {
        database: String,
        schema: String,
        view: View,
    },
    DropView {
        database: String,
        schema: String,
        name: String,
    },
    /// Index `index.name` created in a schema (on `index.table`).
    CreateIndex {
        database: String,
        schema: String,
        index: Index,
    },
    DropIndex {
        database: String,
        schema: String,
        name: String,
    },
    /// The last record of a snapshot file: how many came before it.
    SnapshotEnd {
        records: u64,
    },
    /// A role as created or altered: the whole of it.
    PutRole(Role),
    DropRole {
        name: String,
    },
    /// What `grantee` now holds on `object` (the whole set, not a change).
    SetAcl {
        object: AclObject,
        grantee: String,
        privileges: u8,
    },
}

/// The bits of a column's flag byte in `CreateTable`. Older logs wrote the
/// byte as a plain boolean, which reads as `NULLABLE` alone.
mod column_flags {
    pub(super) const NULLABLE: u8 = 1;
    /// A varint character limit (`VARCHAR(n)`) follows the flags.
    pub(super) const MAX_CHARS: u8 = 2;
    /// The SQL text of the column's default follows (after the limit).
    pub(super) const DEFAULT: u8 = 4;
    /// An identity column (`GENERATED ... AS IDENTITY`), whose default
    /// calls its sequence.
    pub(super) const IDENTITY: u8 = 8;
    /// With `IDENTITY`: `GENERATED ALWAYS`.
    pub(super) const ALWAYS: u8 = 16;
}

mod kind {
    pub(super) const CREATE_DATABASE: u8 = 1;
    pub(super) const DROP_DATABASE: u8 = 2;
    pub(super) const CREATE_SCHEMA: u8 = 3;
    pub(super) const DROP_SCHEMA: u8 = 4;
    pub(super) const CREATE_TABLE: u8 = 5;
    pub(super) const DROP_TABLE: u8 = 6;
    pub(super) const DATA: u8 = 7;
    pub(super) const SNAPSHOT_END: u8 = 8;
    pub(super) const PUT_ROLE: u8 = 9;
    pub(super) const DROP_ROLE: u8 = 10;
    pub(super) const SET_ACL: u8 = 11;
    /// `CREATE_TABLE` followed by the table's unique constraints.
    pub(super) const CREATE_KEYED_TABLE: u8 = 12;
    pub(super) const DELETE_ROWS: u8 = 13;
    pub(super) const ADD_COLUMNS: u8 = 14;
    pub(super) const DELETE_RANGE: u8 = 15;
    pub(super) const SET_RETENTION: u8 = 16;
    pub(super) const CREATE_SEQUENCE: u8 = 17;
    pub(super) const DROP_SEQUENCE: u8 = 18;
    pub(super) const SEQUENCE_VALUE: u8 = 19;
    pub(super) const CREATE_VIEW: u8 = 20;
    pub(super) const DROP_VIEW: u8 = 21;
    pub(super) const ALTER_COLUMNS: u8 = 22;
    pub(super) const RENAME_TABLE: u8 = 23;
    /// `ADD_COLUMNS` followed by the added columns' fills, as one raw head
    /// row.
    pub(super) const ADD_FILLED_COLUMNS: u8 = 24;
    pub(super) const DROP_COLUMN: u8 = 25;
    pub(super) const CREATE_INDEX: u8 = 26;
    pub(super) const DROP_INDEX: u8 = 27;
}

impl Record {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Record::CreateDatabase { name } => {
                w.u8(kind::CREATE_DATABASE);
                w.str(name);
            }
            Record::DropDatabase { name } => {
                w.u8(kind::DROP_DATABASE);
                w.str(name);
            }
            Record::CreateSchema { database, name } => {
                w.u8(kind::CREATE_SCHEMA);
                w.str(database);
                w.str(name);
            }
            Record::DropSchema { database, name } => {
                w.u8(kind::DROP_SCHEMA);
                w.str(database);
                w.str(name);
            }
            Record::CreateTable {
                database,
                schema,
                name,
                id,
                options,
                columns,
                constraints,
            } => {
                w.u8(if constraints.is_empty() {
                    kind::CREATE_TABLE
                } else {
                    kind::CREATE_KEYED_TABLE
                });
                w.str(database);
                w.str(schema);
                w.str(name);
                w.u64(*id);
                w.i64(options.shard_interval);
                w.len(options.block_size);
                write_columns(&mut w, columns);
                if !constraints.is_empty() {
                    w.len(constraints.len());
                    for constraint in constraints {
                        w.str(&constraint.name);
                        w.u8(u8::from(constraint.primary));
                        w.len(constraint.columns.len());
                        for &column in &constraint.columns {
                            w.len(column);
                        }
                    }
                }
            }
            Record::AddColumns {
                database,
                schema,
                name,
                id,
                columns,
                fills,
            } => {
                let filled = fills.iter().any(Option::is_some);
                w.u8(match filled {
                    true => kind::ADD_FILLED_COLUMNS,
                    false => kind::ADD_COLUMNS,
                });
                w.str(database);
                w.str(schema);
                w.str(name);
                w.u64(*id);
                write_columns(&mut w, columns);
                if filled {
                    write_fills(&mut w, columns, fills);
                }
            }
            Record::AlterColumns {
                database,
                schema,
                name,
                id,
                columns,
            } => {
                w.u8(kind::ALTER_COLUMNS);
                w.str(database);
                w.str(schema);
                w.str(name);
                w.u64(*id);
                write_columns(&mut w, columns);
            }
            Record::DropColumn {
                database,
                schema,
                name,
                id,
                column,
            } => {
                w.u8(kind::DROP_COLUMN);
                w.str(database);
                w.str(schema);
                w.str(name);
                w.u64(*id);
                w.str(column);
            }
            Record::RenameTable {
                database,
                schema,
                name,
                id,
                new_name,
            } => {
                w.u8(kind::RENAME_TABLE);
                w.str(database);
                w.str(schema);
                w.str(name);
                w.u64(*id);
                w.str(new_name);
            }
            Record::DropTable {
                database,
                schema,
                name,
            } => {
                w.u8(kind::DROP_TABLE);
                w.str(database);
                w.str(schema);
                w.str(name);
            }
            Record::Data { table, last, image } => {
                w.bytes.reserve(image.len() + 10);
                w.u8(kind::DATA);
                w.u64(*table);
                w.u8(u8::from(*last));
                w.bytes.extend_from_slice(image);
            }
            Record::DeleteRange {
                table,
                last,
                time_range,
                series,
            } => {
                w.u8(kind::DELETE_RANGE);
                w.u64(*table);
                w.u8(u8::from(*last));
                w.i64(time_range.start);
                w.i64(time_range.end);
                match series {
                    None => w.u8(0),
                    Some(keys) => {
                        w.u8(1);
                        w.len(keys.len());
                        for key in keys {
                            w.len(key.values().len());
                            write_key(&mut w, key);
                        }
                    }
                }
            }
            Record::CreateSequence {
                database,
                schema,
                name,
                id,
                options,
                owner,
            } => {
                w.u8(kind::CREATE_SEQUENCE);
                w.str(database);
                w.str(schema);
                w.str(name);
                w.u64(*id);
                w.u8(options.data_type.code());
                for value in [
                    options.increment,
                    options.min,
                    options.max,
                    options.start,
                    options.cache,
                ] {
                    w.i64(value);
                }
                w.u8(u8::from(options.cycle));
                match owner {
                    None => w.u8(0),
                    Some(owner) => {
                        w.u8(1);
                        w.str(&owner.table);
                        w.str(&owner.column);
                    }
                }
            }
            Record::DropSequence {
                database,
                schema,
                name,
            } => {
                w.u8(kind::DROP_SEQUENCE);
                w.str(database);
                w.str(schema);
                w.str(name);
            }
            Record::CreateView {
                database,
                schema,
                view,
            } => {
                w.u8(kind::CREATE_VIEW);
                w.str(database);
                w.str(schema);
                view.encode(&mut w);
            }
            Record::DropView {
                database,
                schema,
                name,
            } => {
                w.u8(kind::DROP_VIEW);
                w.str(database);
                w.str(schema);
                w.str(name);
            }
            Record::CreateIndex {
                database,
                schema,
                index,
            } => {
                w.u8(kind::CREATE_INDEX);
                w.str(database);
                w.str(schema);
                index.encode(&mut w);
            }
            Record::DropIndex {
                database,
                schema,
                name,
            } => {
                w.u8(kind::DROP_INDEX);
                w.str(database);
                w.str(schema);
                w.str(name);
            }
            Record::SequenceValue { id, last, called } => {
                w.u8(kind::SEQUENCE_VALUE);
                w.u64(*id);
                w.i64(*last);
                w.u8(u8::from(*called));
            }
            Record::SetRetention { table, retention } => {
                w.u8(kind::SET_RETENTION);
                w.u64(*table);
                match retention {
                    None => w.u8(0),
                    Some(micros) => {
                        w.u8(1);
                        w.i64(*micros);
                    }
                }
            }
            Record::DeleteRows { table, last, rows } => {
                w.u8(kind::DELETE_ROWS);
                w.u64(*table);
                w.u8(u8::from(*last));
                w.len(rows.len());
                // Ascending row numbers, as the gaps between them.
                let mut previous = 0i64;
                for &row in rows {
                    w.varint(row.wrapping_sub(previous) as u64);
                    previous = row;
                }
            }
            Record::SnapshotEnd { records } => {
                w.u8(kind::SNAPSHOT_END);
                w.u64(*records);
            }
            Record::PutRole(role) => {
                w.u8(kind::PUT_ROLE);
                w.str(&role.name);
                w.u64(u64::from(role.oid));
                w.u8(u8::from(role.superuser) | u8::from(role.login) << 1);
                match &role.password {
                    Some(password) => {
                        w.u8(1);
                        w.str(password);
                    }
                    None => w.u8(0),
                }
            }
            Record::DropRole { name } => {
                w.u8(kind::DROP_ROLE);
                w.str(name);
            }
            Record::SetAcl {
                object,
                grantee,
                privileges,
            } => {
                w.u8(kind::SET_ACL);
                match object {
                    AclObject::Database(name) => {
                        w.u8(0);
                        w.str(name);
                    }
                    AclObject::Schema { database, name } => {
                        w.u8(1);
                        w.str(database);
                        w.str(name);
                    }
                    AclObject::Table(id) => {
                        w.u8(2);
                        w.u64(*id);
                    }
                }
                w.str(grantee);
                w.u8(*privileges);
            }
        }
        w.bytes
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let name = |r: &mut Reader<'_>| r.str().map(str::to_owned);
        let record = match r.u8()? {
            kind::CREATE_DATABASE => Record::CreateDatabase {
                name: name(&mut r)?,
            },
            kind::DROP_DATABASE => Record::DropDatabase {
                name: name(&mut r)?,
            },
            kind::CREATE_SCHEMA => Record::CreateSchema {
                database: name(&mut r)?,
                name: name(&mut r)?,
            },
            kind::DROP_SCHEMA => Record::DropSchema {
                database: name(&mut r)?,
                name: name(&mut r)?,
            },
            keyed @ (kind::CREATE_TABLE | kind::CREATE_KEYED_TABLE) => {
                let database = name(&mut r)?;
                let schema = name(&mut r)?;
                let table = name(&mut r)?;
                let id = r.u64()?;
                let options = TableOptions {
                    shard_interval: r.i64()?,
                    block_size: r.varint()? as usize,
                };
                let columns = read_columns(&mut r)?;
                let mut constraints = Vec::new();
                if keyed == kind::CREATE_KEYED_TABLE {
                    for _ in 0..r.len()? {
                        let name = name(&mut r)?;
                        let primary = r.bool()?;
                        let count = r.len()?;
                        // Indices, checked against the columns by the schema.
                        let columns = (0..count)
                            .map(|_| {
                                let index = r.varint()?;
                                usize::try_from(index)
                                    .map_err(|_| corrupt(format!("column {index} out of range")))
                            })
                            .collect::<Result<Vec<_>>>()?;
                        constraints.push(UniqueConstraint {
                            name,
                            columns,
                            primary,
                        });
                    }
                }
                Record::CreateTable {
                    database,
                    schema,
                    name: table,
                    id,
                    options,
                    columns,
                    constraints,
                }
            }
            tag @ (kind::ADD_COLUMNS | kind::ADD_FILLED_COLUMNS) => {
                let database = name(&mut r)?;
                let schema = name(&mut r)?;
                let table = name(&mut r)?;
                let id = r.u64()?;
                let columns = read_columns(&mut r)?;
                let fills = match tag {
                    kind::ADD_FILLED_COLUMNS => read_fills(&mut r, &columns)?,
                    _ => Vec::new(),
                };
                Record::AddColumns {
                    database,
                    schema,
                    name: table,
                    id,
                    columns,
                    fills,
                }
            }
            kind::ALTER_COLUMNS => Record::AlterColumns {
                database: name(&mut r)?,
                schema: name(&mut r)?,
                name: name(&mut r)?,
                id: r.u64()?,
                columns: read_columns(&mut r)?,
            },
            kind::DROP_COLUMN => Record::DropColumn {
                database: name(&mut r)?,
                schema: name(&mut r)?,
                name: name(&mut r)?,
                id: r.u64()?,
                column: name(&mut r)?,
            },
            kind::RENAME_TABLE => Record::RenameTable {
                database: name(&mut r)?,
                schema: name(&mut r)?,
                name: name(&mut r)?,
                id: r.u64()?,
                new_name: name(&mut r)?,
            },
            kind::DROP_TABLE => Record::DropTable {
                database: name(&mut r)?,
                schema: name(&mut r)?,
                name: name(&mut r)?,
            },
            kind::DATA => {
                let table = r.u64()?;
                let last = r.bool()?;
                // The image is the rest of the record.
                let image = bytes[bytes.len() - r.remaining()..].to_vec();
                return Ok(Record::Data { table, last, image });
            }
            kind::DELETE_ROWS => {
                let table = r.u64()?;
                let last = r.bool()?;
                let count = r.len()?;
                let mut rows = Vec::with_capacity(count);
                let mut previous = 0i64;
                for _ in 0..count {
                    let gap = i64::try_from(r.varint()?).map_err(|_| corrupt("row gap"))?;
                    previous = previous
                        .checked_add(gap)
                        .ok_or_else(|| corrupt("row number out of range"))?;
                    rows.push(previous);
                }
                Record::DeleteRows { table, last, rows }
            }
            kind::DELETE_RANGE => {
                let table = r.u64()?;
                let last = r.bool()?;
                let time_range = TimeRange {
                    start: r.i64()?,
                    end: r.i64()?,
                };
                let series = match r.u8()? {
                    0 => None,
                    1 => {
                        let count = r.len()?;
                        let mut keys = Vec::with_capacity(count);
                        for _ in 0..count {
                            let tags = r.len()?;
                            keys.push(read_key(&mut r, tags)?);
                        }
                        Some(keys)
                    }
                    other => return Err(corrupt(format!("unknown series list {other}"))),
                };
                Record::DeleteRange {
                    table,
                    last,
                    time_range,
                    series,
                }
            }
            kind::SET_RETENTION => Record::SetRetention {
                table: r.u64()?,
                retention: match r.u8()? {
                    0 => None,
                    1 => Some(r.i64()?),
                    other => return Err(corrupt(format!("unknown retention flag {other}"))),
                },
            },
            kind::CREATE_SEQUENCE => {
                let database = name(&mut r)?;
                let schema = name(&mut r)?;
                let sequence = name(&mut r)?;
                let id = r.u64()?;
                let data_type = SequenceType::from_code(r.u8()?)
                    .ok_or_else(|| corrupt("unknown sequence type"))?;
                let options = SequenceOptions {
                    data_type,
                    increment: r.i64()?,
                    min: r.i64()?,
                    max: r.i64()?,
                    start: r.i64()?,
                    cache: r.i64()?,
                    cycle: r.bool()?,
                };
                let owner = match r.u8()? {
                    0 => None,
                    1 => Some(SequenceOwner {
                        table: name(&mut r)?,
                        column: name(&mut r)?,
                    }),
                    other => return Err(corrupt(format!("unknown owner flag {other}"))),
                };
                Record::CreateSequence {
                    database,
                    schema,
                    name: sequence,
                    id,
                    options,
                    owner,
                }
            }
            kind::DROP_SEQUENCE => Record::DropSequence {
                database: name(&mut r)?,
                schema: name(&mut r)?,
                name: name(&mut r)?,
            },
            kind::SEQUENCE_VALUE => Record::SequenceValue {
                id: r.u64()?,
                last: r.i64()?,
                called: r.bool()?,
            },
            kind::CREATE_VIEW => Record::CreateView {
                database: name(&mut r)?,
                schema: name(&mut r)?,
                view: View::decode(&mut r)?,
            },
            kind::DROP_VIEW => Record::DropView {
                database: name(&mut r)?,
                schema: name(&mut r)?,
                name: name(&mut r)?,
            },
            kind::CREATE_INDEX => Record::CreateIndex {
                database: name(&mut r)?,
                schema: name(&mut r)?,
                index: Index::decode(&mut r)?,
            },
            kind::DROP_INDEX => Record::DropIndex {
                database: name(&mut r)?,
                schema: name(&mut r)?,
                name: name(&mut r)?,
            },
            kind::SNAPSHOT_END => Record::SnapshotEnd { records: r.u64()? },
            kind::PUT_ROLE => {
                let name = name(&mut r)?;
                let oid = u32::try_from(r.u64()?).map_err(|_| corrupt("role oid out of range"))?;
                let flags = r.u8()?;
                let password = match r.u8()? {
                    0 => None,
                    1 => Some(r.str()?.to_owned()),
                    other => return Err(corrupt(format!("unknown password tag {other}"))),
                };
                Record::PutRole(Role {
                    name,
                    oid,
                    superuser: flags & 1 != 0,
                    login: flags & 2 != 0,
                    password,
                })
            }
            kind::DROP_ROLE => Record::DropRole {
                name: name(&mut r)?,
            },
            kind::SET_ACL => {
                let object = match r.u8()? {
                    0 => AclObject::Database(name(&mut r)?),
                    1 => AclObject::Schema {
                        database: name(&mut r)?,
                        name: name(&mut r)?,
                    },
                    2 => AclObject::Table(r.u64()?),
                    other => return Err(corrupt(format!("unknown ACL object {other}"))),
                };
                Record::SetAcl {
                    object,
                    grantee: name(&mut r)?,
                    privileges: r.u8()?,
                }
            }
            other => return Err(corrupt(format!("unknown record kind {other}"))),
        };
        if !r.is_empty() {
            return Err(corrupt("record has trailing bytes"));
        }
        Ok(record)
    }
}

/// Starts a `Data` record for `table`, not yet marked last; the image follows.
pub(super) fn data_record_header(w: &mut Writer, table: u64) {
    w.u8(kind::DATA);
    w.u64(table);
    w.u8(0);
}

/// Where `data_record_header` puts the `last` flag: after the kind and the id.
const LAST_FLAG: usize = 1 + 8;

/// Marks a `Data` record as the last of its write.
pub(super) fn mark_last(record: &mut [u8]) {
    if let Some(flag) = record.get_mut(LAST_FLAG) {
        *flag = 1;
    }
}

/// The `CreateTable` record of a table that exists.
pub(super) fn create_table_record(
    database: &str,
    schema: &str,
    name: &str,
    id: u64,
    options: TableOptions,
    table_schema: &TableSchema,
) -> Record {
    Record::CreateTable {
        database: database.to_owned(),
        schema: schema.to_owned(),
        name: name.to_owned(),
        id,
        options,
        columns: table_schema.columns().to_vec(),
        constraints: table_schema.constraints().to_vec(),
    }
}

/// The columns of a `CreateTable` or `AddColumns` record.
fn write_columns(w: &mut Writer, columns: &[ColumnSchema]) {
    w.len(columns.len());
    for column in columns {
        w.str(&column.name);
        w.u8(column.column_type.tag());
        w.u8(column.role.tag());
        let mut flags = u8::from(column.nullable);
        if column.max_chars.is_some() {
            flags |= column_flags::MAX_CHARS;
        }
        if column.default.is_some() {
            flags |= column_flags::DEFAULT;
        }
        match column.identity {
            None => {}
            Some(Identity::ByDefault) => flags |= column_flags::IDENTITY,
            Some(Identity::Always) => flags |= column_flags::IDENTITY | column_flags::ALWAYS,
        }
        w.u8(flags);
        if let Some(n) = column.max_chars {
            w.varint(u64::from(n));
        }
        if let Some(default) = &column.default {
            w.str(default);
        }
    }
}

/// The values of an `ADD_FILLED_COLUMNS` record as one head row of
/// `columns`, NULL where `fills` has none; fails when a value is not one of
/// its column's type. [`Record::encode`] writes what this builds, so a
/// record is checked with it before it is logged.
pub(super) fn fill_row(columns: &[ColumnSchema], fills: &[Option<ArrayRef>]) -> Result<HeadBlock> {
    let types: Vec<ColumnType> = columns.iter().map(|c| c.column_type).collect();
    let mut row = HeadBlock::new(&types);
    let arrays: Vec<ArrayRef> = (types.iter().enumerate())
        .map(|(i, &column_type)| match fills.get(i) {
            Some(Some(value)) => value.clone(),
            _ => new_null_array(&column_type.arrow_type(), 1),
        })
        .collect();
    if arrays.iter().any(|a| a.len() != 1) {
        return Err(corrupt("a column's fill is not one value"));
    }
    let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
    row.extend(&[0], &refs, 0..1)?;
    Ok(row)
}

/// Writes what [`fill_row`] builds, checked before the record is logged;
/// NULLs, should it fail nonetheless.
fn write_fills(w: &mut Writer, columns: &[ColumnSchema], fills: &[Option<ArrayRef>]) {
    match fill_row(columns, fills) {
        Ok(row) => row.write_raw(w),
        Err(_) => fill_row(columns, &[])
            .unwrap_or_else(|_| HeadBlock::new(&[]))
            .write_raw(w),
    }
}

/// Reads what [`write_fills`] wrote.
fn read_fills(r: &mut Reader<'_>, columns: &[ColumnSchema]) -> Result<Vec<Option<ArrayRef>>> {
    let types: Vec<ColumnType> = columns.iter().map(|c| c.column_type).collect();
    let row = HeadBlock::read_raw(r, 1, &types)?;
    Ok((0..types.len())
        .map(|i| {
            let value = row.field(i).to_array();
            (!value.is_null(0)).then_some(value)
        })
        .collect())
}

/// Reads what [`write_columns`] wrote.
fn read_columns(r: &mut Reader<'_>) -> Result<Vec<ColumnSchema>> {
    let count = r.len()?;
    let mut columns = Vec::with_capacity(count);
    for _ in 0..count {
        let name = r.str()?.to_owned();
        let column_type = ColumnType::from_tag(r.u8()?)?;
        let role = ColumnRole::from_tag(r.u8()?)?;
        let flags = r.u8()?;
        let known = column_flags::NULLABLE
            | column_flags::MAX_CHARS
            | column_flags::DEFAULT
            | column_flags::IDENTITY
            | column_flags::ALWAYS;
        if flags & !known != 0 {
            return Err(corrupt(format!("unknown column flags {flags:#x}")));
        }
        let max_chars = if flags & column_flags::MAX_CHARS != 0 {
            let n = r.varint()?;
            Some(u32::try_from(n).map_err(|_| corrupt(format!("column length {n} out of range")))?)
        } else {
            None
        };
        let default = if flags & column_flags::DEFAULT != 0 {
            Some(r.str()?.to_owned())
        } else {
            None
        };
        columns.push(ColumnSchema {
            name,
            column_type,
            role,
            nullable: flags & column_flags::NULLABLE != 0,
            max_chars,
            default,
            identity: match (flags & column_flags::IDENTITY, flags & column_flags::ALWAYS) {
                (0, 0) => None,
                (0, _) => return Err(corrupt("GENERATED ALWAYS without an identity")),
                (_, 0) => Some(Identity::ByDefault),
                _ => Some(Identity::Always),
            },
        });
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn records_round_trip() {
        let records = vec![
            Record::CreateDatabase { name: "db".into() },
            Record::DropDatabase { name: "db".into() },
            Record::CreateSchema {
                database: "db".into(),
                name: "s".into(),
            },
            Record::DropSchema {
                database: "db".into(),
                name: "s".into(),
            },
            Record::CreateTable {
                database: "db".into(),
                schema: "s".into(),
                name: "t".into(),
                id: 42,
                options: TableOptions::default(),
                columns: vec![
                    ColumnSchema {
                        name: "time".into(),
                        column_type: ColumnType::Timestamp {
                            with_time_zone: true,
                        },
                        role: ColumnRole::Time,
                        nullable: false,
                        max_chars: None,
                        identity: None,
                        default: None,
                    },
                    ColumnSchema {
                        name: "v".into(),
                        column_type: ColumnType::Float64,
                        role: ColumnRole::Field,
                        nullable: true,
                        max_chars: None,
                        identity: None,
                        default: None,
                    },
                    ColumnSchema {
                        name: "note".into(),
                        column_type: ColumnType::Utf8,
                        role: ColumnRole::Field,
                        nullable: false,
                        max_chars: Some(300),
                        identity: None,
                        default: Some("'none'::text".into()),
                    },
                ],
                constraints: Vec::new(),
            },
            Record::CreateTable {
                database: "db".into(),
                schema: "s".into(),
                name: "devices".into(),
                id: 43,
                options: TableOptions::default(),
                columns: vec![ColumnSchema {
                    name: "id".into(),
                    column_type: ColumnType::Int64,
                    role: ColumnRole::Field,
                    nullable: false,
                    max_chars: None,
                    identity: None,
                    default: None,
                }],
                constraints: vec![
                    UniqueConstraint {
                        name: "devices_pkey".into(),
                        columns: vec![0],
                        primary: true,
                    },
                    UniqueConstraint {
                        name: "devices_id_key".into(),
                        columns: vec![3, 0],
                        primary: false,
                    },
                ],
            },
            Record::AddColumns {
                database: "db".into(),
                schema: "s".into(),
                name: "t".into(),
                id: 9,
                columns: vec![ColumnSchema {
                    name: "note".into(),
                    column_type: ColumnType::Utf8,
                    role: ColumnRole::Field,
                    nullable: true,
                    max_chars: Some(20),
                    identity: None,
                    default: None,
                }],
                fills: Vec::new(),
            },
            Record::AddColumns {
                database: "db".into(),
                schema: "s".into(),
                name: "t".into(),
                id: 10,
                columns: vec![
                    ColumnSchema {
                        name: "n".into(),
                        column_type: ColumnType::Int32,
                        role: ColumnRole::Field,
                        nullable: false,
                        max_chars: None,
                        identity: None,
                        default: Some("7".into()),
                    },
                    ColumnSchema {
                        name: "note".into(),
                        column_type: ColumnType::Utf8,
                        role: ColumnRole::Field,
                        nullable: true,
                        max_chars: None,
                        identity: None,
                        default: None,
                    },
                    ColumnSchema {
                        name: "j".into(),
                        column_type: ColumnType::Jsonb,
                        role: ColumnRole::Field,
                        nullable: true,
                        max_chars: None,
                        identity: None,
                        default: Some("'{}'::jsonb".into()),
                    },
                ],
                fills: vec![
                    Some(Arc::new(arrow::array::Int32Array::from(vec![7])) as ArrayRef),
                    None,
                    Some(Arc::new(arrow::array::StringArray::from(vec!["{}"])) as ArrayRef),
                ],
            },
            Record::DropColumn {
                database: "db".into(),
                schema: "s".into(),
                name: "t".into(),
                id: 9,
                column: "note".into(),
            },
            Record::AlterColumns {
                database: "db".into(),
                schema: "s".into(),
                name: "t".into(),
                id: 9,
                columns: vec![ColumnSchema {
                    name: "renamed".into(),
                    column_type: ColumnType::Int64,
                    role: ColumnRole::Field,
                    nullable: false,
                    max_chars: None,
                    identity: None,
                    default: Some("42".into()),
                }],
            },
            Record::RenameTable {
                database: "db".into(),
                schema: "s".into(),
                name: "t".into(),
                id: 9,
                new_name: "u".into(),
            },
            Record::DeleteRows {
                table: 43,
                last: true,
                rows: vec![0, 5, 6, 1 << 40],
            },
            Record::DropTable {
                database: "db".into(),
                schema: "s".into(),
                name: "t".into(),
            },
            Record::DeleteRange {
                table: 44,
                last: false,
                time_range: TimeRange {
                    start: -5,
                    end: 1 << 50,
                },
                series: Some(vec![
                    SeriesKey::new(vec![Some("a".into()), None]),
                    SeriesKey::new(vec![None, Some("é".into())]),
                ]),
            },
            Record::DeleteRange {
                table: 44,
                last: true,
                time_range: TimeRange::ALL,
                series: None,
            },
            Record::SetRetention {
                table: 44,
                retention: Some(86_400_000_000),
            },
            Record::SetRetention {
                table: 44,
                retention: None,
            },
            Record::CreateSequence {
                database: "db".into(),
                schema: "s".into(),
                name: "t_id_seq".into(),
                id: 45,
                options: SequenceOptions {
                    data_type: SequenceType::Int32,
                    increment: -3,
                    min: i64::MIN,
                    max: 7,
                    start: 2,
                    cache: 1,
                    cycle: true,
                },
                owner: Some(SequenceOwner {
                    table: "t".into(),
                    column: "id".into(),
                }),
            },
            Record::CreateSequence {
                database: "db".into(),
                schema: "s".into(),
                name: "s".into(),
                id: 46,
                options: SequenceOptions::new(&Default::default()).unwrap(),
                owner: None,
            },
            Record::DropSequence {
                database: "db".into(),
                schema: "s".into(),
                name: "s".into(),
            },
            Record::SequenceValue {
                id: 45,
                last: -9,
                called: true,
            },
            Record::CreateView {
                database: "db".into(),
                schema: "s".into(),
                view: View {
                    name: "v".into(),
                    query: "SELECT a FROM t".into(),
                    columns: vec![crate::storage::ViewColumn {
                        name: "a".into(),
                        data_type: arrow::datatypes::DataType::Int32,
                    }],
                    depends_on: vec![crate::storage::ViewDependency {
                        schema: "s".into(),
                        name: "t".into(),
                        columns: vec!["a".into(), "b".into()],
                    }],
                },
            },
            Record::DropView {
                database: "db".into(),
                schema: "s".into(),
                name: "v".into(),
            },
            Record::CreateIndex {
                database: "db".into(),
                schema: "s".into(),
                index: Index {
                    name: "t_host_time_idx".into(),
                    table: "t".into(),
                    columns: vec![
                        crate::storage::IndexColumn {
                            name: "host".into(),
                            descending: false,
                            nulls_first: false,
                        },
                        crate::storage::IndexColumn {
                            name: "time".into(),
                            descending: true,
                            nulls_first: true,
                        },
                    ],
                },
            },
            Record::DropIndex {
                database: "db".into(),
                schema: "s".into(),
                name: "t_host_time_idx".into(),
            },
            Record::Data {
                table: 3,
                last: true,
                image: vec![1, 2, 3],
            },
            Record::SnapshotEnd { records: 9 },
            Record::PutRole(Role {
                name: "alice".into(),
                oid: 16384,
                superuser: true,
                login: true,
                password: Some("md5abc".into()),
            }),
            Record::PutRole(Role {
                name: "bob".into(),
                oid: 16385,
                superuser: false,
                login: false,
                password: None,
            }),
            Record::DropRole { name: "bob".into() },
            Record::SetAcl {
                object: AclObject::Database("db".into()),
                grantee: "public".into(),
                privileges: 0,
            },
            Record::SetAcl {
                object: AclObject::Schema {
                    database: "db".into(),
                    name: "s".into(),
                },
                grantee: "alice".into(),
                privileges: 2,
            },
            Record::SetAcl {
                object: AclObject::Table(7),
                grantee: "alice".into(),
                privileges: 12,
            },
        ];
        for record in records {
            let bytes = record.encode();
            assert_eq!(Record::decode(&bytes).unwrap(), record);
            for cut in 0..bytes.len() {
                if !matches!(record, Record::Data { .. }) || cut < 10 {
                    assert!(
                        Record::decode(&bytes[..cut]).is_err(),
                        "{record:?} cut {cut}"
                    );
                }
            }
        }
        assert!(Record::decode(&[99]).is_err());
    }
}
