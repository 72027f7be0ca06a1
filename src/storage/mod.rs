//! In-memory state: databases, schemas (namespaces) and time-series tables.
//!
//! Storage knows Arrow, not DataFusion: writes arrive as Arrow `RecordBatch`es
//! and scans return them. A table groups rows into series by tag set; each
//! series keeps, per time shard, a mutable head and immutable compressed
//! blocks (see [`table`](self::Table) for the layout). Every object here is shared behind `Arc` and
//! synchronised internally, so any number of sessions may read and write at once.
//! Locks are `parking_lot` locks held only for in-memory work, never across an
//! `.await`.

mod aggregate;
mod block;
mod bytes;
mod durability;
mod head;
mod image;
mod journal;
mod roles;
mod scan;
mod schema;
mod series;
mod table;
mod tag_index;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use journal::{Journal, Record, create_table_record};
use roles::Roles;

pub use aggregate::{AggregateKind, AggregateRequest, AggregateStats, AggregateValue};
pub use block::{FieldStats, SealedBlock, ValueStats};
pub use durability::{DurabilityOptions, Recovery, SnapshotReport};
pub use journal::Durable;
pub use roles::{Acl, Grantable, PUBLIC, Privileges, Role, RoleChange};
pub use scan::{FieldBound, ReadView, ScanRequest, ScanStats, TimeRange};
pub use schema::{ColumnRole, ColumnSchema, ColumnType, TableSchema};
pub use series::{SeriesId, SeriesKey};
pub use table::{ColumnUsage, DEFAULT_BLOCK_SIZE, DEFAULT_SHARD_INTERVAL, Table, TableOptions};
pub use tag_index::{SeriesFilter, SeriesSet, TagPredicate};

/// The database that always exists, as on PostgreSQL.
pub const DEFAULT_DATABASE: &str = "postgres";
/// The schema every new database starts with.
pub const DEFAULT_SCHEMA: &str = "public";

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("database \"{name}\" already exists")]
    DatabaseExists { name: String },
    #[error("database \"{name}\" does not exist")]
    DatabaseNotFound { name: String },
    #[error("database \"{name}\" cannot be dropped")]
    DatabaseProtected { name: String },
    #[error("schema \"{name}\" already exists")]
    SchemaExists { name: String },
    #[error("schema \"{name}\" does not exist")]
    SchemaNotFound { name: String },
    #[error("cannot drop schema \"{name}\" because other objects depend on it")]
    SchemaNotEmpty { name: String },
    #[error("relation \"{name}\" already exists")]
    TableExists { name: String },
    #[error("table \"{name}\" does not exist")]
    TableNotFound { name: String },
    #[error("column \"{column}\" specified more than once")]
    DuplicateColumn { column: String },
    #[error("a time-series table needs a TIMESTAMP or TIMESTAMPTZ column")]
    NoTimeColumn,
    #[error("invalid table definition: {reason}")]
    InvalidSchema { reason: String },
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNullViolation { table: String, column: String },
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("corrupt block: {0}")]
    Codec(#[from] crate::codec::Error),
    #[error("internal storage error: {reason}")]
    Internal { reason: String },
    #[error(transparent)]
    Wal(#[from] crate::wal::Error),
    #[error("corrupt record: {reason}")]
    Corrupt { reason: String },
    #[error("role \"{name}\" already exists")]
    RoleExists { name: String },
    #[error("role \"{name}\" does not exist")]
    RoleNotFound { name: String },
    #[error("role name \"{name}\" is reserved")]
    ReservedRoleName { name: String },
    #[error("role \"{name}\" cannot be dropped because some objects depend on it")]
    RoleInUse { name: String, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The root of all in-memory state. Cheap to share as `Arc<Storage>`.
#[derive(Debug)]
pub struct Storage {
    databases: RwLock<BTreeMap<String, Arc<Database>>>,
    roles: Roles,
    journal: Arc<Journal>,
    /// Where snapshots go; `None` for purely in-memory storage.
    durability: Option<durability::Files>,
}

impl Default for Storage {
    fn default() -> Self {
        Self::new()
    }
}

impl Storage {
    /// Empty, purely in-memory storage holding only the `postgres` database
    /// with its `public` schema.
    pub fn new() -> Self {
        Self::with_journal(Arc::new(Journal::default()), None)
    }

    fn with_journal(journal: Arc<Journal>, durability: Option<durability::Files>) -> Self {
        let mut databases = BTreeMap::new();
        databases.insert(
            DEFAULT_DATABASE.to_owned(),
            Arc::new(Database::new(DEFAULT_DATABASE.to_owned(), journal.clone())),
        );
        Self {
            databases: RwLock::new(databases),
            roles: Roles::default(),
            journal,
            durability,
        }
    }

    pub fn database(&self, name: &str) -> Option<Arc<Database>> {
        self.databases.read().get(name).cloned()
    }

    pub fn database_names(&self) -> Vec<String> {
        self.databases.read().keys().cloned().collect()
    }

    /// Creates a database with a `public` schema. Returns `false` when it existed
    /// and `if_not_exists` was set.
    pub fn create_database(&self, name: &str, if_not_exists: bool) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let mut databases = self.databases.write();
        if databases.contains_key(name) {
            return if if_not_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::DatabaseExists { name: name.into() })
            };
        }
        let record = Record::CreateDatabase { name: name.into() };
        let logged = self.journal.log(&[record.encode()], true)?;
        databases.insert(
            name.to_owned(),
            Arc::new(Database::new(name.to_owned(), self.journal.clone())),
        );
        Ok(logged)
    }

    /// Drops a database and everything in it. Returns `false` when it did not
    /// exist and `if_exists` was set.
    pub fn drop_database(&self, name: &str, if_exists: bool) -> Result<Durable<bool>> {
        if name == DEFAULT_DATABASE {
            return Err(Error::DatabaseProtected { name: name.into() });
        }
        let _change = self.journal.change();
        let mut databases = self.databases.write();
        if !databases.contains_key(name) {
            return if if_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::DatabaseNotFound { name: name.into() })
            };
        }
        let record = Record::DropDatabase { name: name.into() };
        let logged = self.journal.log(&[record.encode()], true)?;
        databases.remove(name);
        Ok(logged)
    }
}

/// A database: a set of schemas.
#[derive(Debug)]
pub struct Database {
    name: String,
    schemas: RwLock<BTreeMap<String, Arc<Namespace>>>,
    /// PUBLIC may connect until revoked, as in PostgreSQL.
    acl: RwLock<Acl>,
    journal: Arc<Journal>,
}

impl Database {
    fn new(name: String, journal: Arc<Journal>) -> Self {
        let mut schemas = BTreeMap::new();
        schemas.insert(
            DEFAULT_SCHEMA.to_owned(),
            Arc::new(Namespace::new(
                name.clone(),
                DEFAULT_SCHEMA.to_owned(),
                journal.clone(),
            )),
        );
        Self {
            name,
            schemas: RwLock::new(schemas),
            acl: RwLock::new(Acl::public(Privileges::CONNECT)),
            journal,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Who may connect.
    pub fn acl(&self) -> Acl {
        self.acl.read().clone()
    }

    pub fn schema(&self, name: &str) -> Option<Arc<Namespace>> {
        self.schemas.read().get(name).cloned()
    }

    pub fn schema_names(&self) -> Vec<String> {
        self.schemas.read().keys().cloned().collect()
    }

    pub fn create_schema(&self, name: &str, if_not_exists: bool) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let mut schemas = self.schemas.write();
        if schemas.contains_key(name) {
            return if if_not_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::SchemaExists { name: name.into() })
            };
        }
        let record = Record::CreateSchema {
            database: self.name.clone(),
            name: name.into(),
        };
        let logged = self.journal.log(&[record.encode()], true)?;
        schemas.insert(
            name.to_owned(),
            Arc::new(Namespace::new(
                self.name.clone(),
                name.to_owned(),
                self.journal.clone(),
            )),
        );
        Ok(logged)
    }

    /// Drops a schema. Without `cascade`, a schema that still holds tables stays.
    pub fn drop_schema(&self, name: &str, if_exists: bool, cascade: bool) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let mut schemas = self.schemas.write();
        let Some(namespace) = schemas.get(name) else {
            return if if_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::SchemaNotFound { name: name.into() })
            };
        };
        if !cascade && !namespace.tables.read().is_empty() {
            return Err(Error::SchemaNotEmpty { name: name.into() });
        }
        let record = Record::DropSchema {
            database: self.name.clone(),
            name: name.into(),
        };
        let logged = self.journal.log(&[record.encode()], true)?;
        schemas.remove(name);
        Ok(logged)
    }
}

/// A schema (PostgreSQL's namespace): a set of tables.
#[derive(Debug)]
pub struct Namespace {
    database: String,
    name: String,
    tables: RwLock<BTreeMap<String, Arc<Table>>>,
    /// PUBLIC may use each database's `public` schema, as in PostgreSQL 15.
    acl: RwLock<Acl>,
    journal: Arc<Journal>,
}

impl Namespace {
    fn new(database: String, name: String, journal: Arc<Journal>) -> Self {
        let acl = if name == DEFAULT_SCHEMA {
            Acl::public(Privileges::USAGE)
        } else {
            Acl::default()
        };
        Self {
            database,
            name,
            tables: RwLock::new(BTreeMap::new()),
            acl: RwLock::new(acl),
            journal,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Who may use the schema.
    pub fn acl(&self) -> Acl {
        self.acl.read().clone()
    }

    pub fn table(&self, name: &str) -> Option<Arc<Table>> {
        self.tables.read().get(name).cloned()
    }

    pub fn table_names(&self) -> Vec<String> {
        self.tables.read().keys().cloned().collect()
    }

    /// Creates a table. Returns `false` when it existed and `if_not_exists` was set.
    pub fn create_table(
        &self,
        name: &str,
        schema: TableSchema,
        options: TableOptions,
        if_not_exists: bool,
    ) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let mut tables = self.tables.write();
        if tables.contains_key(name) {
            return if if_not_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::TableExists { name: name.into() })
            };
        }
        if options.shard_interval <= 0 || options.block_size == 0 {
            return Err(Error::InvalidSchema {
                reason: "shard_interval and block_size must be positive".into(),
            });
        }
        let id = self.journal.next_table_id();
        self.insert_table(&mut tables, name, schema, options, id)
    }

    /// Creates table `id` under the lock of the table map, logging it.
    fn insert_table(
        &self,
        tables: &mut BTreeMap<String, Arc<Table>>,
        name: &str,
        schema: TableSchema,
        options: TableOptions,
        id: u64,
    ) -> Result<Durable<bool>> {
        let record = create_table_record(&self.database, &self.name, name, id, options, &schema);
        let logged = self.journal.log(&[record.encode()], true)?;
        let table = Table::attached(
            name.to_owned(),
            schema,
            options,
            id,
            Some(self.journal.clone()),
        );
        tables.insert(name.to_owned(), Arc::new(table));
        Ok(logged)
    }

    /// Creates table `id` as recovery found it (nothing is logged: the WAL is
    /// not attached yet).
    fn restore_table(
        &self,
        name: &str,
        schema: TableSchema,
        options: TableOptions,
        id: u64,
    ) -> Result<Arc<Table>> {
        let mut tables = self.tables.write();
        let _ = self
            .insert_table(&mut tables, name, schema, options, id)?
            .without_waiting();
        tables.get(name).cloned().ok_or_else(|| Error::Internal {
            reason: "restored table vanished".into(),
        })
    }

    /// Drops a table. Scans that already hold it finish on their own copy.
    pub fn drop_table(&self, name: &str, if_exists: bool) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let mut tables = self.tables.write();
        if !tables.contains_key(name) {
            return if if_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::TableNotFound { name: name.into() })
            };
        }
        let record = Record::DropTable {
            database: self.database.clone(),
            schema: self.name.clone(),
            name: name.into(),
        };
        let logged = self.journal.log(&[record.encode()], true)?;
        tables.remove(name);
        Ok(logged)
    }
}

#[cfg(test)]
mod tests;
