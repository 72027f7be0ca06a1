//! The storage tree: [`Storage`] → [`Database`] → [`Namespace`] → [`Table`],
//! with the ACL each database, schema and table keeps, and the role catalog.
//! Every change is logged and applied under the lock of the map it changes,
//! holding the journal's commit lock shared (see [`journal`](super::journal)).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::acl::{Acl, AclObject, Privileges, Role};
use super::error::{Error, Result};
use super::files::Files;
use super::index::Index;
use super::journal::{Durable, Journal};
use super::record::{self, Record, create_table_record};
use super::roles::{RoleChange, Roles};
use super::schema::{
    ColumnCheck, ColumnFill, ColumnRole, ColumnSchema, SequenceOptions, SequenceOwner,
    TableOptions, TableSchema, UniqueConstraint,
};
use super::sequence::Sequence;
use super::table::Table;
use super::view::View;

/// The database that always exists, as on PostgreSQL.
pub const DEFAULT_DATABASE: &str = "postgres";
/// The schema every new database starts with.
pub const DEFAULT_SCHEMA: &str = "public";

/// The root of all in-memory state. Cheap to share as `Arc<Storage>`.
#[derive(Debug)]
pub struct Storage {
    pub(super) databases: RwLock<BTreeMap<String, Arc<Database>>>,
    pub(super) roles: Roles,
    pub(super) journal: Arc<Journal>,
    /// Where snapshots go; `None` for purely in-memory storage.
    pub(super) durability: Option<Files>,
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

    pub(super) fn with_journal(journal: Arc<Journal>, durability: Option<Files>) -> Self {
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

    /// Drops, in every table with a retention, the shards wholly older
    /// than it keeps; returns the tickets of the tables that lost rows.
    pub fn expire(&self) -> Result<Vec<(String, Durable<usize>)>> {
        let databases: Vec<Arc<Database>> = self.databases.read().values().cloned().collect();
        let mut expired = Vec::new();
        for database in databases {
            let schemas: Vec<Arc<Namespace>> = database.schemas.read().values().cloned().collect();
            for namespace in schemas {
                let tables: Vec<Arc<Table>> = namespace.tables.read().values().cloned().collect();
                for table in tables.iter().filter(|t| t.retention().is_some()) {
                    let name = format!("{}.{}.{}", database.name, namespace.name, table.name());
                    expired.push((name, table.expire()?));
                }
            }
        }
        Ok(expired)
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
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
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
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
        if let Some(database) = databases.remove(name) {
            for namespace in database.schemas.read().values() {
                namespace.end_subscriptions();
            }
        }
        Ok(logged)
    }
}

/// Roles and grants.
impl Storage {
    /// The role `name`, if it exists.
    pub fn role(&self, name: &str) -> Option<Role> {
        self.roles.get(name)
    }

    /// Every role, by name.
    pub fn roles(&self) -> Vec<Role> {
        self.roles.all()
    }

    /// Creates a role.
    pub fn create_role(&self, name: &str, change: RoleChange) -> Result<Durable<()>> {
        let _change = self.journal.change();
        self.roles.create(&self.journal, name, change)
    }

    /// Changes a role.
    pub fn alter_role(&self, name: &str, change: RoleChange) -> Result<Durable<()>> {
        let _change = self.journal.change();
        self.roles.alter(&self.journal, name, change)
    }

    /// Drops roles, all or none. A role that still holds privileges on some
    /// object stays, as in PostgreSQL: revoke them first. A role that does not
    /// exist is an error unless `if_exists` is set.
    pub fn drop_roles(&self, names: &[String], if_exists: bool) -> Result<Durable<()>> {
        let _change = self.journal.change();
        self.roles
            .drop_all(&self.journal, names, if_exists, |name| {
                self.object_granted_to(name)
            })
    }

    /// Changes what `grantee` (a role, or [`PUBLIC`]) holds on each of
    /// `objects`. The role cannot be dropped meanwhile, so no grant outlives
    /// its grantee.
    pub fn update_privileges(
        &self,
        grantee: &str,
        objects: &[Grantable],
        update: impl Fn(Privileges) -> Privileges,
    ) -> Result<Vec<Durable<()>>> {
        let _change = self.journal.change();
        let journal = self.journal.as_ref();
        self.roles.while_grantee_exists(grantee, || {
            objects
                .iter()
                .map(|object| match object {
                    Grantable::Database(db) => apply_acl(
                        journal,
                        &db.acl,
                        AclObject::Database(db.name.clone()),
                        grantee,
                        &update,
                    ),
                    Grantable::Schema(namespace) => apply_acl(
                        journal,
                        &namespace.acl,
                        AclObject::Schema {
                            database: namespace.database.clone(),
                            name: namespace.name.clone(),
                        },
                        grantee,
                        &update,
                    ),
                    Grantable::Table(table) => apply_acl(
                        journal,
                        table.acl_lock(),
                        AclObject::Table(table.id()),
                        grantee,
                        &update,
                    ),
                })
                .collect()
        })
    }

    /// The first object (as PostgreSQL names it in a DETAIL) on which
    /// `grantee` holds a privilege.
    fn object_granted_to(&self, grantee: &str) -> Option<String> {
        for database in self.databases.read().values() {
            if database.acl.read().holds_anything(grantee) {
                return Some(format!("database {}", database.name));
            }
            for namespace in database.schemas.read().values() {
                if namespace.acl.read().holds_anything(grantee) {
                    return Some(format!("schema {}", namespace.name()));
                }
                for (name, table) in namespace.tables.read().iter() {
                    if table.acl_lock().read().holds_anything(grantee) {
                        return Some(format!("table {name}"));
                    }
                }
            }
        }
        None
    }

    /// The catalog's version: it changes with every DDL, role and grant
    /// change, so a plan made at another version may name what is gone.
    pub fn catalog_version(&self) -> u64 {
        self.journal.catalog_version()
    }

    /// Every table, with its database and schema names.
    pub(super) fn tables(&self) -> Vec<(String, String, Arc<Table>)> {
        let mut all = Vec::new();
        for database in self.databases.read().values() {
            for namespace in database.schemas.read().values() {
                for table in namespace.tables.read().values() {
                    all.push((database.name.clone(), namespace.name.clone(), table.clone()));
                }
            }
        }
        all
    }
}

/// An object privileges are granted on.
#[derive(Debug, Clone)]
pub enum Grantable {
    Database(Arc<Database>),
    Schema(Arc<Namespace>),
    Table(Arc<Table>),
}

/// Changes `grantee`'s privileges in `acl` (of `object`) under the object's
/// own lock, logging the result; the caller holds the commit lock.
fn apply_acl(
    journal: &Journal,
    acl: &RwLock<Acl>,
    object: AclObject,
    grantee: &str,
    update: impl FnOnce(Privileges) -> Privileges,
) -> Result<Durable<()>> {
    let mut acl = acl.write();
    let privileges = update(acl.granted_to(grantee));
    let record = Record::SetAcl {
        object,
        grantee: grantee.to_owned(),
        privileges: privileges.bits(),
    };
    let logged = journal.log_catalog(&[record.encode()], ())?;
    acl.set(grantee, privileges);
    Ok(logged)
}

/// A database: a set of schemas.
#[derive(Debug)]
pub struct Database {
    pub(super) name: String,
    pub(super) schemas: RwLock<BTreeMap<String, Arc<Namespace>>>,
    /// PUBLIC may connect until revoked, as in PostgreSQL.
    pub(super) acl: RwLock<Acl>,
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
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
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
        if !cascade
            && (!namespace.tables.read().is_empty()
                || !namespace.sequences.read().is_empty()
                || !namespace.views.read().is_empty())
        {
            return Err(Error::SchemaNotEmpty { name: name.into() });
        }
        let record = Record::DropSchema {
            database: self.name.clone(),
            name: name.into(),
        };
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
        if let Some(namespace) = schemas.remove(name) {
            namespace.end_subscriptions();
        }
        Ok(logged)
    }
}

/// A sequence a new table's column will own: `SERIAL` or an identity.
#[derive(Debug, Clone)]
pub struct OwnedSequence {
    pub column: String,
    /// `table_column_seq`, the name PostgreSQL tries first.
    pub preferred: String,
    pub options: SequenceOptions,
}

/// Whether `index` may be made on a table of schema `schema`: on its time
/// and tag columns only, each once (see [`Index`]).
fn check_index(schema: &TableSchema, index: &Index) -> Result<()> {
    if schema.is_plain() {
        return Err(Error::Unsupported {
            what: "CREATE INDEX on a table without a time column".into(),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for column in &index.columns {
        let Some(found) = schema.columns().iter().find(|c| c.name == column.name) else {
            return Err(Error::InvalidSchema {
                reason: format!("column \"{}\" does not exist", column.name),
            });
        };
        if found.role == ColumnRole::Field {
            return Err(Error::Unsupported {
                what: format!(
                    "CREATE INDEX on column \"{}\", a field (only tag and time columns are indexed)",
                    column.name
                ),
            });
        }
        seen.insert(column.name.as_str());
    }
    if index.columns.is_empty() || seen.len() != index.columns.len() {
        return Err(Error::InvalidSchema {
            reason: "an index names each of its columns once".into(),
        });
    }
    Ok(())
}

/// The default of a column that owns sequence `name` of schema `schema`,
/// as PostgreSQL shows it (qualified outside `public`).
fn nextval_text(schema: &str, name: &str) -> String {
    let quote = |name: &str| {
        let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if plain {
            name.to_owned()
        } else {
            format!("\"{}\"", name.replace('"', "\"\""))
        }
    };
    let name = if schema == DEFAULT_SCHEMA {
        quote(name)
    } else {
        format!("{}.{}", quote(schema), quote(name))
    };
    format!("nextval('{}'::regclass)", name.replace('\'', "''"))
}

/// Whether `name` is a table's, a sequence's or a view's: one name space.
fn taken(
    tables: &BTreeMap<String, Arc<Table>>,
    sequences: &BTreeMap<String, Arc<Sequence>>,
    views: &BTreeMap<String, Arc<View>>,
    indexes: &BTreeMap<String, Arc<Index>>,
    name: &str,
) -> bool {
    tables.contains_key(name)
        || sequences.contains_key(name)
        || views.contains_key(name)
        || indexes.contains_key(name)
        || key_named(tables, name)
}

/// Whether a key of one of `tables` has name `name`: the index behind it is
/// a relation of the schema, as in PostgreSQL.
fn key_named(tables: &BTreeMap<String, Arc<Table>>, name: &str) -> bool {
    (tables.values()).any(|t| (t.schema().constraints().iter()).any(|k| k.name == name))
}

/// A schema (PostgreSQL's namespace): a set of tables.
#[derive(Debug)]
pub struct Namespace {
    pub(super) database: String,
    pub(super) name: String,
    pub(super) tables: RwLock<BTreeMap<String, Arc<Table>>>,
    /// Sequences share the tables' names: a name is one or the other. Locked
    /// after `tables` when both are.
    pub(super) sequences: RwLock<BTreeMap<String, Arc<Sequence>>>,
    /// Views share the names too. Locked after `sequences`.
    pub(super) views: RwLock<BTreeMap<String, Arc<View>>>,
    /// Indexes share the names too. Locked after `views`.
    pub(super) indexes: RwLock<BTreeMap<String, Arc<Index>>>,
    /// PUBLIC may use each database's `public` schema, as in PostgreSQL 15.
    pub(super) acl: RwLock<Acl>,
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
            sequences: RwLock::new(BTreeMap::new()),
            views: RwLock::new(BTreeMap::new()),
            indexes: RwLock::new(BTreeMap::new()),
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
        self.create_table_with_sequences(name, schema, options, Vec::new(), if_not_exists)
    }

    /// Creates a table and the sequences its columns own (`SERIAL`,
    /// identity columns), logged as one change. Each sequence is named
    /// `preferred` or, when that name is taken, `preferred` with the first
    /// free number after it, as PostgreSQL chooses; the names chosen are
    /// returned with the ticket, in order, empty when the table existed.
    pub fn create_table_with_sequences(
        &self,
        name: &str,
        schema: TableSchema,
        options: TableOptions,
        owned: Vec<OwnedSequence>,
        if_not_exists: bool,
    ) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let mut tables = self.tables.write();
        let mut sequences = self.sequences.write();
        if taken(
            &tables,
            &sequences,
            &self.views.read(),
            &self.indexes.read(),
            name,
        ) {
            return if if_not_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::TableExists { name: name.into() })
            };
        }
        // The indexes behind its keys are relations of the schema too.
        let views = self.views.read();
        let indexes = self.indexes.read();
        for key in schema.constraints() {
            if key.name == name || taken(&tables, &sequences, &views, &indexes, &key.name) {
                return Err(Error::TableExists {
                    name: key.name.clone(),
                });
            }
        }
        drop((views, indexes));
        if options.shard_interval <= 0 || options.block_size == 0 {
            return Err(Error::InvalidSchema {
                reason: "shard_interval and block_size must be positive".into(),
            });
        }
        let mut records = Vec::with_capacity(owned.len() + 1);
        let mut created = Vec::with_capacity(owned.len());
        for sequence in owned {
            let taken = |candidate: &str| {
                candidate == name
                    || taken(
                        &tables,
                        &sequences,
                        &self.views.read(),
                        &self.indexes.read(),
                        candidate,
                    )
                    || created.iter().any(|s: &Sequence| s.name() == candidate)
            };
            let mut chosen = sequence.preferred.clone();
            let mut n = 0u32;
            while taken(&chosen) {
                n += 1;
                chosen = format!("{}{n}", sequence.preferred);
            }
            let id = self.journal.next_table_id();
            let owner = Some(SequenceOwner {
                table: name.to_owned(),
                column: sequence.column,
            });
            records.push(
                Record::CreateSequence {
                    database: self.database.clone(),
                    schema: self.name.clone(),
                    name: chosen.clone(),
                    id,
                    options: sequence.options,
                    owner: owner.clone(),
                }
                .encode(),
            );
            created.push(Sequence::new(
                id,
                chosen,
                sequence.options,
                owner,
                Some(self.journal.clone()),
            ));
        }
        let mut schema = schema;
        for sequence in &created {
            if let Some(owner) = sequence.owner() {
                let default = nextval_text(&self.name, sequence.name());
                schema = schema.with_default(&owner.column, default)?;
            }
        }
        let id = self.journal.next_table_id();
        let logged = self.insert_table(&mut tables, name, schema, options, id, records)?;
        for sequence in created {
            sequences.insert(sequence.name().to_owned(), Arc::new(sequence));
        }
        Ok(logged)
    }

    pub fn sequence(&self, name: &str) -> Option<Arc<Sequence>> {
        self.sequences.read().get(name).cloned()
    }

    pub fn sequence_names(&self) -> Vec<String> {
        self.sequences.read().keys().cloned().collect()
    }

    /// `CREATE SEQUENCE`. Returns `false` when it existed and
    /// `if_not_exists` was set.
    pub fn create_sequence(
        &self,
        name: &str,
        options: SequenceOptions,
        if_not_exists: bool,
    ) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let tables = self.tables.read();
        let mut sequences = self.sequences.write();
        if taken(
            &tables,
            &sequences,
            &self.views.read(),
            &self.indexes.read(),
            name,
        ) {
            return if if_not_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::TableExists { name: name.into() })
            };
        }
        let id = self.journal.next_table_id();
        self.insert_sequence(&mut sequences, name, id, options, None)
    }

    fn insert_sequence(
        &self,
        sequences: &mut BTreeMap<String, Arc<Sequence>>,
        name: &str,
        id: u64,
        options: SequenceOptions,
        owner: Option<SequenceOwner>,
    ) -> Result<Durable<bool>> {
        let record = Record::CreateSequence {
            database: self.database.clone(),
            schema: self.name.clone(),
            name: name.to_owned(),
            id,
            options,
            owner: owner.clone(),
        };
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
        let sequence = Sequence::new(
            id,
            name.to_owned(),
            options,
            owner,
            Some(self.journal.clone()),
        );
        sequences.insert(name.to_owned(), Arc::new(sequence));
        Ok(logged)
    }

    /// Sequence `id` as recovery found it.
    pub(super) fn restore_sequence(
        &self,
        name: &str,
        id: u64,
        options: SequenceOptions,
        owner: Option<SequenceOwner>,
    ) -> Result<Arc<Sequence>> {
        let mut sequences = self.sequences.write();
        let _ = self
            .insert_sequence(&mut sequences, name, id, options, owner)?
            .without_waiting();
        sequences.get(name).cloned().ok_or_else(|| Error::Internal {
            reason: "restored sequence vanished".into(),
        })
    }

    /// Removes sequence `name` as replay finds it dropped.
    pub(super) fn forget_sequence(&self, name: &str) {
        self.sequences.write().remove(name);
    }

    /// `DROP SEQUENCE`. A sequence a column owns goes with its table, and
    /// one a column's default calls is refused (`in_use` names the
    /// column's table when the caller found one).
    pub fn drop_sequence(&self, name: &str, if_exists: bool) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let mut sequences = self.sequences.write();
        let Some(sequence) = sequences.get(name) else {
            return if if_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::SequenceNotFound { name: name.into() })
            };
        };
        if let Some(owner) = sequence.owner() {
            return Err(Error::SequenceInUse {
                name: name.into(),
                detail: format!(
                    "default value for column {} of table {} depends on sequence {name}",
                    owner.column, owner.table
                ),
            });
        }
        let record = Record::DropSequence {
            database: self.database.clone(),
            schema: self.name.clone(),
            name: name.into(),
        };
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
        sequences.remove(name);
        Ok(logged)
    }

    pub fn view(&self, name: &str) -> Option<Arc<View>> {
        self.views.read().get(name).cloned()
    }

    pub fn views(&self) -> Vec<Arc<View>> {
        self.views.read().values().cloned().collect()
    }

    /// `CREATE [OR REPLACE] VIEW`: `replacing` is the view the caller
    /// checked the new one against (`None`: there was none). Fails when
    /// the name is taken by anything else, or by another version of the
    /// view, as a concurrent `CREATE` may leave it.
    pub fn create_view(&self, view: View, replacing: Option<&Arc<View>>) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let tables = self.tables.read();
        let sequences = self.sequences.read();
        let mut views = self.views.write();
        let name = view.name.clone();
        let current = views.get(&name);
        let free = !tables.contains_key(&name)
            && !sequences.contains_key(&name)
            && !self.indexes.read().contains_key(&name)
            && !key_named(&tables, &name);
        let expected = match (current, replacing) {
            (None, None) => true,
            (Some(current), Some(replacing)) => Arc::ptr_eq(current, replacing),
            _ => false,
        };
        if !free || !expected {
            return Err(Error::TableExists { name });
        }
        let record = Record::CreateView {
            database: self.database.clone(),
            schema: self.name.clone(),
            view: view.clone(),
        };
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
        views.insert(name, Arc::new(view));
        Ok(logged)
    }

    /// `DROP VIEW`, once the caller has dropped what depends on it.
    pub fn drop_view(&self, name: &str) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let mut views = self.views.write();
        if !views.contains_key(name) {
            return Err(Error::ViewNotFound { name: name.into() });
        }
        let record = Record::DropView {
            database: self.database.clone(),
            schema: self.name.clone(),
            name: name.into(),
        };
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
        views.remove(name);
        Ok(logged)
    }

    /// View `view` as recovery found it.
    pub(super) fn restore_view(&self, view: View) {
        self.views.write().insert(view.name.clone(), Arc::new(view));
    }

    /// Removes view `name` as replay finds it dropped.
    pub(super) fn forget_view(&self, name: &str) {
        self.views.write().remove(name);
    }

    pub fn index(&self, name: &str) -> Option<Arc<Index>> {
        self.indexes.read().get(name).cloned()
    }

    /// The schema's indexes, by name.
    pub fn indexes(&self) -> Vec<Arc<Index>> {
        self.indexes.read().values().cloned().collect()
    }

    /// `CREATE INDEX` on a time-series table's tag and time columns, which
    /// its tag index and time-ordered blocks already serve (see
    /// [`Index`]). Returns `false` when the name was taken and
    /// `if_not_exists` was set.
    pub fn create_index(&self, index: Index, if_not_exists: bool) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let tables = self.tables.read();
        let sequences = self.sequences.read();
        let views = self.views.read();
        let mut indexes = self.indexes.write();
        if taken(&tables, &sequences, &views, &indexes, &index.name) {
            return if if_not_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::TableExists { name: index.name })
            };
        }
        let table = (tables.get(&index.table)).ok_or_else(|| Error::TableNotFound {
            name: index.table.clone(),
        })?;
        check_index(table.schema(), &index)?;
        let record = Record::CreateIndex {
            database: self.database.clone(),
            schema: self.name.clone(),
            index: index.clone(),
        };
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
        indexes.insert(index.name.clone(), Arc::new(index));
        Ok(logged)
    }

    /// `DROP INDEX`. Returns `false` when there was none and `if_exists`
    /// was set. The index behind a key goes only with its key.
    pub fn drop_index(&self, name: &str, if_exists: bool) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let tables = self.tables.read();
        let mut indexes = self.indexes.write();
        if !indexes.contains_key(name) {
            let keyed = (tables.values())
                .find(|t| (t.schema().constraints().iter()).any(|k| k.name == name));
            return match keyed {
                Some(table) => Err(Error::IndexOfConstraint {
                    name: name.into(),
                    table: table.name().into(),
                }),
                None if if_exists => Ok(Durable::new(false, None)),
                None => Err(Error::IndexNotFound { name: name.into() }),
            };
        }
        let record = Record::DropIndex {
            database: self.database.clone(),
            schema: self.name.clone(),
            name: name.into(),
        };
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
        indexes.remove(name);
        Ok(logged)
    }

    /// Index `index` as recovery found it.
    pub(super) fn restore_index(&self, index: Index) {
        self.indexes
            .write()
            .insert(index.name.clone(), Arc::new(index));
    }

    /// Removes index `name` as replay finds it dropped.
    pub(super) fn forget_index(&self, name: &str) {
        self.indexes.write().remove(name);
    }

    /// Points the indexes of table `table` at `new_name` (when it is
    /// renamed), with their columns renamed as `renamed` says.
    fn follow_table(&self, table: &str, new_name: &str, renamed: &[(String, String)]) {
        for index in self.indexes.write().values_mut() {
            if index.table != table {
                continue;
            }
            let mut moved = Index::clone(index);
            moved.table = new_name.to_owned();
            for column in &mut moved.columns {
                if let Some((_, to)) = renamed.iter().find(|(from, _)| *from == column.name) {
                    column.name = to.clone();
                }
            }
            *index = Arc::new(moved);
        }
    }

    /// Creates table `id` under the lock of the table map, logging it after
    /// the records `before` (the sequences its columns own), as one write.
    fn insert_table(
        &self,
        tables: &mut BTreeMap<String, Arc<Table>>,
        name: &str,
        schema: TableSchema,
        options: TableOptions,
        id: u64,
        mut before: Vec<Vec<u8>>,
    ) -> Result<Durable<bool>> {
        let record = create_table_record(&self.database, &self.name, name, id, options, &schema);
        before.push(record.encode());
        let logged = self.journal.log_catalog(&before, true)?;
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
    pub(super) fn restore_table(
        &self,
        name: &str,
        schema: TableSchema,
        options: TableOptions,
        id: u64,
    ) -> Result<Arc<Table>> {
        let mut tables = self.tables.write();
        let _ = self
            .insert_table(&mut tables, name, schema, options, id, Vec::new())?
            .without_waiting();
        tables.get(name).cloned().ok_or_else(|| Error::Internal {
            reason: "restored table vanished".into(),
        })
    }

    /// Adds `columns` to table `name`, after its own, as fields that its
    /// existing rows hold as `fills` says, one per column (NULL for those
    /// past its end): `ALTER TABLE ... ADD COLUMN`. The table is replaced
    /// by one with the new schema that takes all of its rows; a statement
    /// still holding the old one reads and writes the new one as of the old
    /// columns. Returns the new table.
    pub fn add_columns(
        &self,
        name: &str,
        columns: Vec<ColumnSchema>,
        fills: &[ColumnFill],
    ) -> Result<(Arc<Table>, Durable<bool>)> {
        let _change = self.journal.change();
        let mut tables = self.tables.write();
        let old = tables
            .get(name)
            .cloned()
            .ok_or_else(|| Error::TableNotFound { name: name.into() })?;
        let schema = old.schema_with(&columns)?;
        let (table, logged) = old.retire_into(schema, fills, |fills| {
            record::fill_row(&columns, fills)?;
            let record = Record::AddColumns {
                database: self.database.clone(),
                schema: self.name.clone(),
                name: name.to_owned(),
                id: old.id(),
                columns,
                fills: fills.to_vec(),
            };
            self.journal.log_catalog(&[record.encode()], true)
        })?;
        tables.insert(name.to_owned(), table.clone());
        Ok((table, logged))
    }

    /// The records that drop sequences `owned` of this schema.
    fn drop_sequence_records(&self, owned: &[String]) -> Vec<Vec<u8>> {
        (owned.iter())
            .map(|sequence| {
                Record::DropSequence {
                    database: self.database.clone(),
                    schema: self.name.clone(),
                    name: sequence.clone(),
                }
                .encode()
            })
            .collect()
    }

    /// Drops field columns `dropped` of table `name` (`ALTER TABLE ... DROP
    /// COLUMN`), as one change: the table is replaced by one without them,
    /// which takes its rows, and without the keys that include them and the
    /// sequences they own (`SERIAL`, identity), as PostgreSQL drops them. Refused for the time
    /// column and tags (which make series). Statements still holding the
    /// old table fail (`TableAltered`). Returns the new table.
    pub fn drop_columns(
        &self,
        name: &str,
        dropped: &[String],
    ) -> Result<(Arc<Table>, Durable<bool>)> {
        let _change = self.journal.change();
        let mut tables = self.tables.write();
        let old = tables
            .get(name)
            .cloned()
            .ok_or_else(|| Error::TableNotFound { name: name.into() })?;
        let schema = old.schema();
        let mut indices = Vec::with_capacity(dropped.len());
        let mut fields = Vec::with_capacity(dropped.len());
        for column in dropped {
            let index = (schema.columns().iter())
                .position(|c| &c.name == column)
                .filter(|i| !indices.contains(i))
                .ok_or_else(|| Error::Internal {
                    reason: format!("table \"{name}\" has no column \"{column}\" to drop"),
                })?;
            let field = (schema.field_indices().iter())
                .position(|&i| i == index)
                .ok_or_else(|| Error::Unsupported {
                    what: format!("dropping column \"{column}\", the table's time column or a tag"),
                })?;
            indices.push(index);
            fields.push(field);
        }
        let mut sequences = self.sequences.write();
        let owned: Vec<String> = (sequences.values())
            .filter(|s| {
                s.owner()
                    .is_some_and(|o| o.table == name && dropped.contains(&o.column))
            })
            .map(|s| s.name().to_owned())
            .collect();
        let columns = (schema.columns().iter().enumerate())
            .filter(|(i, _)| !indices.contains(i))
            .map(|(_, c)| c.clone())
            .collect();
        let kept: Vec<bool> = (schema.constraints().iter())
            .map(|c| !c.columns.iter().any(|i| indices.contains(i)))
            .collect();
        let constraints = (schema.constraints().iter().zip(&kept))
            .filter(|(_, kept)| **kept)
            .map(|(c, _)| UniqueConstraint {
                columns: (c.columns.iter())
                    .map(|&i| i - indices.iter().filter(|&&d| d < i).count())
                    .collect(),
                ..c.clone()
            })
            .collect();
        let new_schema = TableSchema::try_new(columns)?.with_constraints(constraints)?;
        let mut records = self.drop_sequence_records(&owned);
        records.extend(dropped.iter().map(|column| {
            Record::DropColumn {
                database: self.database.clone(),
                schema: self.name.clone(),
                name: name.to_owned(),
                id: old.id(),
                column: column.clone(),
            }
            .encode()
        }));
        let (table, logged) = old.retire_dropping(new_schema, &fields, &kept, || {
            self.journal.log_catalog(&records, true)
        })?;
        tables.insert(name.to_owned(), table.clone());
        for sequence in owned {
            sequences.remove(&sequence);
        }
        Ok((table, logged))
    }

    /// Changes what `ALTER TABLE` changes of table `name`'s columns, given
    /// as the whole new list: names, defaults, `NOT NULL` and `VARCHAR(n)`
    /// lengths, and types that widen (`integer` to `bigint`: the values are
    /// encoded again), never roles or order. A column made `NOT NULL` is
    /// checked to hold no NULL first (`ColumnHasNulls` otherwise), and one
    /// given a shorter length to hold no longer value (`StringTooLong`).
    /// Returns the new table.
    pub fn alter_columns(
        &self,
        name: &str,
        columns: Vec<ColumnSchema>,
    ) -> Result<(Arc<Table>, Durable<bool>)> {
        let _change = self.journal.change();
        let mut tables = self.tables.write();
        let old = tables
            .get(name)
            .cloned()
            .ok_or_else(|| Error::TableNotFound { name: name.into() })?;
        let before = old.schema().columns();
        let same_shape = before.len() == columns.len()
            && (before.iter().zip(&columns).enumerate()).all(|(i, (a, b))| {
                // A key's map holds its values encoded by type: not retyped.
                let keyed = (old.schema().constraints().iter()).any(|k| k.columns.contains(&i));
                let retyped = a.column_type != b.column_type;
                (!retyped
                    || (a.role == ColumnRole::Field
                        && !keyed
                        && a.column_type.widens_to(b.column_type)))
                    && a.role == b.role
                    && a.identity == b.identity
            });
        if !same_shape {
            return Err(Error::Internal {
                reason: "ALTER TABLE changed a column's type, role or place".into(),
            });
        }
        let mut checks: Vec<(usize, ColumnCheck)> = (before.iter().zip(&columns).enumerate())
            .filter(|(_, (a, b))| a.nullable && !b.nullable)
            .map(|(i, _)| (i, ColumnCheck::NotNull))
            .collect();
        checks.extend(
            (before.iter().zip(&columns).enumerate())
                .filter(|(_, (a, b))| a.column_type != b.column_type)
                .map(|(i, (_, b))| (i, ColumnCheck::Retype(b.column_type))),
        );
        checks.extend(
            (before.iter().zip(&columns).enumerate())
                .filter(|(_, (a, b))| match (a.max_chars, b.max_chars) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(was), Some(is)) => is < was,
                })
                .map(|(i, _)| (i, ColumnCheck::Fits)),
        );
        let schema = TableSchema::try_new(columns.clone())?
            .with_constraints(old.schema().constraints().to_vec())?;
        let columns_after = columns.clone();
        let record = Record::AlterColumns {
            database: self.database.clone(),
            schema: self.name.clone(),
            name: name.to_owned(),
            id: old.id(),
            columns,
        };
        let renamed: Vec<(String, String)> = (before.iter().zip(&columns_after))
            .filter(|(a, b)| a.name != b.name)
            .map(|(a, b)| (a.name.clone(), b.name.clone()))
            .collect();
        let (table, logged) = old.retire_as(name, schema, &checks, &[], |_| {
            self.journal.log_catalog(&[record.encode()], true)
        })?;
        for sequence in self.sequences.read().values() {
            sequence.rename_owner(name, name, &renamed);
        }
        self.follow_table(name, name, &renamed);
        tables.insert(name.to_owned(), table.clone());
        Ok((table, logged))
    }

    /// `ALTER TABLE name RENAME TO new_name`. Returns the renamed table.
    pub fn rename_table(&self, name: &str, new_name: &str) -> Result<(Arc<Table>, Durable<bool>)> {
        let _change = self.journal.change();
        let mut tables = self.tables.write();
        let sequences = self.sequences.read();
        let views = self.views.read();
        let old = tables
            .get(name)
            .cloned()
            .ok_or_else(|| Error::TableNotFound { name: name.into() })?;
        if taken(&tables, &sequences, &views, &self.indexes.read(), new_name) {
            return Err(Error::TableExists {
                name: new_name.into(),
            });
        }
        let schema = TableSchema::clone(old.schema());
        let record = Record::RenameTable {
            database: self.database.clone(),
            schema: self.name.clone(),
            name: name.to_owned(),
            id: old.id(),
            new_name: new_name.to_owned(),
        };
        let (table, logged) = old.retire_as(new_name, schema, &[], &[], |_| {
            self.journal.log_catalog(&[record.encode()], true)
        })?;
        tables.remove(name);
        tables.insert(new_name.to_owned(), table.clone());
        for sequence in sequences.values() {
            sequence.rename_owner(name, new_name, &[]);
        }
        self.follow_table(name, new_name, &[]);
        Ok((table, logged))
    }

    /// Sets how long table `name` keeps rows, in microseconds (`None`: for
    /// ever). Only a table with a time column has a retention.
    pub fn set_retention(&self, name: &str, retention: Option<i64>) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let tables = self.tables.write();
        let table = (tables.get(name)).ok_or_else(|| Error::TableNotFound { name: name.into() })?;
        if table.schema().is_plain() {
            return Err(Error::Unsupported {
                what: "a retention on a table without a time column".into(),
            });
        }
        if retention.is_some_and(|r| r <= 0) {
            return Err(Error::InvalidSchema {
                reason: "a retention must be a positive interval".into(),
            });
        }
        let record = Record::SetRetention {
            table: table.id(),
            retention,
        };
        let logged = self.journal.log_catalog(&[record.encode()], true)?;
        table.set_retention(retention);
        Ok(logged)
    }

    /// Ends the subscriptions to its tables: it is being dropped.
    fn end_subscriptions(&self) {
        for table in self.tables.read().values() {
            table.end_subscriptions();
        }
    }

    /// Drops a table. Scans that already hold it finish on their own copy.
    pub fn drop_table(&self, name: &str, if_exists: bool) -> Result<Durable<bool>> {
        let _change = self.journal.change();
        let mut tables = self.tables.write();
        let mut sequences = self.sequences.write();
        if !tables.contains_key(name) {
            return if if_exists {
                Ok(Durable::new(false, None))
            } else {
                Err(Error::TableNotFound { name: name.into() })
            };
        }
        // The sequences its columns own go with it.
        let owned: Vec<String> = (sequences.values())
            .filter(|s| s.owner().is_some_and(|o| o.table == name))
            .map(|s| s.name().to_owned())
            .collect();
        let mut records = self.drop_sequence_records(&owned);
        records.push(
            Record::DropTable {
                database: self.database.clone(),
                schema: self.name.clone(),
                name: name.into(),
            }
            .encode(),
        );
        let logged = self.journal.log_catalog(&records, true)?;
        if let Some(table) = tables.remove(name) {
            table.end_subscriptions();
        }
        for sequence in owned {
            sequences.remove(&sequence);
        }
        // Its indexes go with it, as replaying the drop drops them.
        self.indexes.write().retain(|_, index| index.table != name);
        Ok(logged)
    }
}
