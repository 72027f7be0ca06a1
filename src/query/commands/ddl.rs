//! DDL: CREATE/DROP of tables, schemas and databases, translated from the SQL AST
//! into storage operations.
//!
//! Column roles for `CREATE TABLE`: the first TIMESTAMP or TIMESTAMPTZ column is
//! the time column, TEXT and VARCHAR columns are tags, and every other column is
//! a field. `WITH (time_column = 'c', tags = 'a, b')` overrides the defaults.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, CastKind, CharacterLength, ColumnDef,
    ColumnOption, CreateTable, CreateTableOptions, DataType as SqlType, Expr, ObjectName,
    ObjectType, RenameTableNameKind, SchemaName, SqlOption, Statement, TimezoneInfo,
    TruncateIdentityOption, Value, visit_expressions,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::constraints::unique_constraints;
use super::indexes::{self, IndexRequest};
use super::names::{normalize, qualified, schema_name, single_name};
use super::sequences::{
    self, ColumnSequence, identity_option, identity_type, sequence_spec, sequence_type, serial_type,
};
use super::transaction::PendingWrites;
use super::views;
use crate::query::error::{Error, Result};
use crate::query::output::Output;
use crate::query::pg::defaults::{default_expr, nextval_argument};
use crate::query::pg::dialect::PostgresDialect;
use crate::storage::{
    self, ColumnFill, ColumnRole, ColumnSchema, ColumnType, OwnedSequence, SequenceOptions,
    SequenceSpec, Storage, TableOptions, TableSchema, UniqueConstraint,
};

/// A DDL statement, resolved enough to run against storage.
#[derive(Debug, Clone)]
pub enum Ddl {
    CreateTable {
        name: ObjectName,
        columns: Vec<ColumnSchema>,
        constraints: Vec<UniqueConstraint>,
        options: TableOptions,
        /// `WITH (retention = '30 days')`, in microseconds.
        retention: Option<i64>,
        /// The sequences of its `SERIAL` and identity columns.
        sequences: Vec<OwnedSequence>,
        if_not_exists: bool,
    },
    DropTables {
        names: Vec<ObjectName>,
        if_exists: bool,
        cascade: bool,
    },
    /// `CREATE [OR REPLACE] VIEW`, planned (see `views`).
    CreateView {
        schema: String,
        view: storage::View,
        or_replace: bool,
    },
    DropViews {
        names: Vec<ObjectName>,
        if_exists: bool,
        cascade: bool,
    },
    /// `ALTER TABLE [IF EXISTS] t ADD [COLUMN] [IF NOT EXISTS] c type, ...`.
    AddColumns {
        name: ObjectName,
        if_exists: bool,
        /// Each column, and whether it was `IF NOT EXISTS`.
        columns: Vec<(ColumnSchema, bool)>,
        /// Each column's `DEFAULT` cast to its type, if it has one: what the
        /// table's rows take in it (see [`fill_query`](Ddl::fill_query)).
        fill_exprs: Vec<Option<Expr>>,
    },
    /// `ALTER TABLE t ALTER [COLUMN] c SET DEFAULT ... | DROP DEFAULT | SET
    /// NOT NULL | DROP NOT NULL` and `RENAME [COLUMN] a TO b`, in order.
    AlterColumns {
        name: ObjectName,
        if_exists: bool,
        changes: Vec<ColumnChange>,
    },
    /// `ALTER TABLE [IF EXISTS] t DROP [COLUMN] [IF EXISTS] c, ...`: each
    /// column, and whether it was `IF EXISTS`.
    DropColumns {
        name: ObjectName,
        if_exists: bool,
        columns: Vec<(String, bool)>,
    },
    /// `ALTER TABLE t RENAME TO u`.
    RenameTable {
        name: ObjectName,
        if_exists: bool,
        new_name: String,
    },
    /// `ALTER TABLE t SET (retention = '7 days')`, or `RESET (retention)`
    /// (`None`).
    SetRetention {
        name: ObjectName,
        if_exists: bool,
        retention: Option<i64>,
    },
    /// `TRUNCATE [TABLE] [ONLY] t, ...`: no table here has references, so
    /// `CASCADE` changes nothing more. `RESTART IDENTITY` restarts the
    /// sequences the tables' columns own.
    Truncate {
        names: Vec<ObjectName>,
        restart_identity: bool,
    },
    CreateSequence {
        name: ObjectName,
        options: SequenceOptions,
        if_not_exists: bool,
    },
    DropSequences {
        names: Vec<ObjectName>,
        if_exists: bool,
    },
    /// `CREATE INDEX` over a time-series table's tags and time.
    CreateIndex(IndexRequest),
    DropIndexes {
        names: Vec<ObjectName>,
        if_exists: bool,
    },
    CreateSchema {
        name: ObjectName,
        if_not_exists: bool,
    },
    DropSchemas {
        names: Vec<ObjectName>,
        if_exists: bool,
        cascade: bool,
    },
    CreateDatabase {
        name: String,
        if_not_exists: bool,
    },
    DropDatabase {
        name: String,
        if_exists: bool,
    },
}

/// One change of `ALTER TABLE` to a column, named by the column.
#[derive(Debug, Clone)]
pub enum ColumnChange {
    /// The default's SQL text.
    SetDefault(String, String),
    DropDefault(String),
    SetNotNull(String),
    DropNotNull(String),
    Rename(String, String),
    /// `TYPE t`: the column's type, which must be stored as the one it
    /// has, and its `VARCHAR(n)` length (`None`: unlimited).
    SetType(String, ColumnType, Option<u32>),
}

impl Ddl {
    /// The DDL this statement is, if it is DDL we handle.
    pub(crate) fn from_statement(statement: &Statement) -> Result<Option<Self>> {
        Ok(Some(match statement {
            Statement::CreateTable(create) => create_table(create)?,
            Statement::CreateIndex(create) => Ddl::CreateIndex(indexes::request(create)?),
            Statement::AlterTable(alter) => alter_table(alter)?,
            Statement::Truncate(truncate) => {
                if truncate.partitions.is_some() || truncate.on_cluster.is_some() {
                    return Err(Error::Unsupported {
                        what: "this form of TRUNCATE".into(),
                    });
                }
                Ddl::Truncate {
                    names: (truncate.table_names.iter())
                        .map(|t| t.name.clone())
                        .collect(),
                    restart_identity: matches!(
                        truncate.identity,
                        Some(TruncateIdentityOption::Restart)
                    ),
                }
            }
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => match schema_name {
                SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _) => {
                    Ddl::CreateSchema {
                        name: name.clone(),
                        if_not_exists: *if_not_exists,
                    }
                }
                SchemaName::UnnamedAuthorization(_) => {
                    return Err(Error::Unsupported {
                        what: "CREATE SCHEMA AUTHORIZATION".into(),
                    });
                }
            },
            Statement::CreateSequence {
                temporary,
                if_not_exists,
                name,
                data_type,
                sequence_options,
                owned_by,
            } => {
                if *temporary {
                    return Err(Error::Unsupported {
                        what: "CREATE TEMPORARY SEQUENCE".into(),
                    });
                }
                // `OWNED BY NONE` is the default.
                if owned_by
                    .as_ref()
                    .is_some_and(|o| !o.to_string().eq_ignore_ascii_case("none"))
                {
                    return Err(Error::Unsupported {
                        what: "CREATE SEQUENCE ... OWNED BY".into(),
                    });
                }
                let data_type = data_type.as_ref().map(sequence_type).transpose()?;
                Ddl::CreateSequence {
                    name: name.clone(),
                    options: sequences::options(&sequence_spec(data_type, sequence_options)?)?,
                    if_not_exists: *if_not_exists,
                }
            }
            Statement::CreateDatabase {
                db_name,
                if_not_exists,
                ..
            } => Ddl::CreateDatabase {
                name: single_name(db_name)?,
                if_not_exists: *if_not_exists,
            },
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => match object_type {
                ObjectType::Table => Ddl::DropTables {
                    names: names.clone(),
                    if_exists: *if_exists,
                    cascade: *cascade,
                },
                ObjectType::View => Ddl::DropViews {
                    names: names.clone(),
                    if_exists: *if_exists,
                    cascade: *cascade,
                },
                ObjectType::Sequence if *cascade => {
                    return Err(Error::Unsupported {
                        what: "DROP SEQUENCE ... CASCADE".into(),
                    });
                }
                ObjectType::Sequence => Ddl::DropSequences {
                    names: names.clone(),
                    if_exists: *if_exists,
                },
                // Nothing depends on an index, so CASCADE drops no more.
                ObjectType::Index => Ddl::DropIndexes {
                    names: names.clone(),
                    if_exists: *if_exists,
                },
                ObjectType::Schema => Ddl::DropSchemas {
                    names: names.clone(),
                    if_exists: *if_exists,
                    cascade: *cascade,
                },
                ObjectType::Database => match names.as_slice() {
                    [name] => Ddl::DropDatabase {
                        name: single_name(name)?,
                        if_exists: *if_exists,
                    },
                    _ => {
                        return Err(Error::Unsupported {
                            what: "dropping several databases at once".into(),
                        });
                    }
                },
                other => {
                    return Err(Error::Unsupported {
                        what: format!("DROP {other}"),
                    });
                }
            },
            _ => return Ok(None),
        }))
    }

    /// What PostgreSQL tells a role that is not the owner (here: not a
    /// superuser) when it tries this.
    pub(crate) fn denied_message(&self, current_database: &str, current_schema: &str) -> String {
        let schema_of = |name: &ObjectName| {
            qualified(name, current_database, current_schema)
                .map_or_else(|_| current_schema.to_owned(), |(schema, _)| schema)
        };
        // The relation the first of `names` names.
        let first = |names: &[ObjectName]| {
            names
                .first()
                .and_then(|n| qualified(n, current_database, current_schema).ok())
                .map_or_else(String::new, |(_, relation)| relation)
        };
        match self {
            Ddl::CreateTable { name, .. } | Ddl::CreateSequence { name, .. } => {
                format!("permission denied for schema {}", schema_of(name))
            }
            Ddl::CreateView { schema, .. } => format!("permission denied for schema {schema}"),
            Ddl::DropViews { names, .. } => {
                format!("must be owner of view {}", first(names))
            }
            Ddl::DropSequences { names, .. } => {
                format!("must be owner of sequence {}", first(names))
            }
            Ddl::DropIndexes { names, .. } => {
                format!("must be owner of index {}", first(names))
            }
            Ddl::CreateIndex(request) => {
                format!(
                    "must be owner of table {}",
                    first(std::slice::from_ref(&request.table))
                )
            }
            Ddl::DropTables { names, .. } => {
                format!("must be owner of table {}", first(names))
            }
            Ddl::AddColumns { name, .. }
            | Ddl::SetRetention { name, .. }
            | Ddl::AlterColumns { name, .. }
            | Ddl::DropColumns { name, .. }
            | Ddl::RenameTable { name, .. } => {
                let table = qualified(name, current_database, current_schema)
                    .map_or_else(|_| String::new(), |(_, table)| table);
                format!("must be owner of table {table}")
            }
            Ddl::Truncate { names, .. } => {
                format!("permission denied for table {}", first(names))
            }
            Ddl::CreateSchema { .. } => {
                format!("permission denied for database {current_database}")
            }
            Ddl::DropSchemas { names, .. } => {
                let schema = names
                    .first()
                    .and_then(|n| schema_name(n, current_database).ok())
                    .unwrap_or_default();
                format!("must be owner of schema {schema}")
            }
            Ddl::CreateDatabase { .. } => "permission denied to create database".to_owned(),
            Ddl::DropDatabase { name, .. } => format!("must be owner of database {name}"),
        }
    }

    /// Runs the DDL. `ctx` supplies the current database and schema.
    /// Returns once the change is durable.
    pub(crate) async fn execute(&self, storage: &Storage, ctx: &SessionContext) -> Result<Output> {
        self.execute_filled(storage, ctx, &[]).await
    }

    /// The query that computes what the rows a table holds take in the
    /// columns an `ALTER TABLE ... ADD COLUMN` adds: one output column per
    /// added column with a `DEFAULT` that `storage` does not hold already
    /// (`IF NOT EXISTS`), in order; with them, whether the query computes
    /// each column's. `None` when it computes none, or the table is not
    /// there.
    pub(crate) fn fill_query(
        &self,
        storage: &Storage,
        ctx: &SessionContext,
    ) -> Result<Option<(Statement, Vec<bool>)>> {
        let Ddl::AddColumns {
            name, fill_exprs, ..
        } = self
        else {
            return Ok(None);
        };
        let catalog = ctx.state().config_options().catalog.clone();
        let (schema, table) = qualified(name, &catalog.default_catalog, &catalog.default_schema)?;
        let Some(table) = (storage.database(&catalog.default_catalog))
            .and_then(|db| db.schema(&schema))
            .and_then(|ns| ns.table(&table))
        else {
            return Ok(None);
        };
        let held = |column: &ColumnSchema| {
            table
                .schema()
                .columns()
                .iter()
                .any(|c| c.name == column.name)
        };
        let computed: Vec<bool> = (self.added_columns().iter().zip(fill_exprs))
            .map(|((column, _), expr)| expr.is_some() && !held(column))
            .collect();
        let exprs = (fill_exprs.iter().zip(&computed))
            .filter(|(_, computed)| **computed)
            .filter_map(|(expr, _)| expr.clone())
            .collect();
        Ok(fill_select(exprs)?.map(|query| (*query, computed)))
    }

    /// The columns of an `ALTER TABLE ... ADD COLUMN`, each with whether
    /// it was `IF NOT EXISTS`; none for other DDL.
    pub(crate) fn added_columns(&self) -> &[(ColumnSchema, bool)] {
        match self {
            Ddl::AddColumns { columns, .. } => columns,
            _ => &[],
        }
    }

    /// [`execute`](Self::execute), with `fills` (one per column of an
    /// `ALTER TABLE ... ADD COLUMN`; NULL for those past its end) the
    /// values its rows take in the added columns.
    pub(crate) async fn execute_filled(
        &self,
        storage: &Storage,
        ctx: &SessionContext,
        fills: &[ColumnFill],
    ) -> Result<Output> {
        let (tag, change) = self.apply(storage, ctx, fills)?;
        for durable in change {
            durable.durable().await?;
        }
        Ok(Output::Command { tag, rows: None })
    }

    /// Applies the DDL in memory; the tickets say when it is durable.
    fn apply(
        &self,
        storage: &Storage,
        ctx: &SessionContext,
        fills: &[ColumnFill],
    ) -> Result<(&'static str, Vec<storage::Durable<bool>>)> {
        let state = ctx.state();
        let current_database = state.config_options().catalog.default_catalog.clone();
        let current_schema = state.config_options().catalog.default_schema.clone();
        let names = (current_database.as_str(), current_schema.as_str());
        let database = || {
            storage
                .database(&current_database)
                .ok_or_else(|| storage::Error::DatabaseNotFound {
                    name: current_database.clone(),
                })
        };
        let change = match self {
            Ddl::CreateTable {
                name,
                columns,
                constraints,
                options,
                retention,
                sequences,
                if_not_exists,
            } => {
                let (schema, table) = qualified(name, &current_database, &current_schema)?;
                let namespace = database()?
                    .schema(&schema)
                    .ok_or(storage::Error::SchemaNotFound { name: schema })?;
                let table_schema =
                    TableSchema::try_new(columns.clone())?.with_constraints(constraints.clone())?;
                let created = namespace.create_table_with_sequences(
                    &table,
                    table_schema,
                    *options,
                    sequences.clone(),
                    *if_not_exists,
                )?;
                // A table that existed already keeps its own retention.
                let mut change = Vec::with_capacity(2);
                if retention.is_some() && *created.value() {
                    change.push(namespace.set_retention(&table, *retention)?);
                }
                change.insert(0, created);
                ("CREATE TABLE", change)
            }
            Ddl::SetRetention {
                name,
                if_exists,
                retention,
            } => {
                let (schema, table) = qualified(name, &current_database, &current_schema)?;
                let namespace = database()?.schema(&schema);
                match namespace.filter(|ns| ns.table(&table).is_some()) {
                    Some(namespace) => (
                        "ALTER TABLE",
                        vec![namespace.set_retention(&table, *retention)?],
                    ),
                    None if *if_exists => ("ALTER TABLE", Vec::new()),
                    None => return Err(storage::Error::TableNotFound { name: table }.into()),
                }
            }
            Ddl::DropTables {
                names,
                if_exists,
                cascade,
            } => {
                let db = database()?;
                let mut targets = Vec::with_capacity(names.len());
                for name in names {
                    let (schema, table) = qualified(name, &current_database, &current_schema)?;
                    let namespace = db.schema(&schema);
                    if namespace
                        .as_ref()
                        .is_some_and(|ns| ns.view(&table).is_some())
                    {
                        return Err(Error::WrongKindOfRelation {
                            message: format!("\"{table}\" is not a table"),
                            hint: "Use DROP VIEW to remove a view.",
                        });
                    }
                    match namespace.filter(|ns| ns.table(&table).is_some()) {
                        Some(namespace) => targets.push((namespace, table)),
                        None if *if_exists => {}
                        None => return Err(storage::Error::TableNotFound { name: table }.into()),
                    }
                }
                let mut dropped = Vec::with_capacity(targets.len());
                for (namespace, table) in &targets {
                    let relation = (namespace.name().to_owned(), table.clone());
                    dropped.extend(drop_readers(
                        &db,
                        &relation,
                        "table",
                        *cascade,
                        &current_schema,
                    )?);
                    dropped.push(namespace.drop_table(table, *if_exists)?);
                }
                ("DROP TABLE", dropped)
            }
            Ddl::CreateView {
                schema,
                view,
                or_replace,
            } => {
                let namespace =
                    database()?
                        .schema(schema)
                        .ok_or_else(|| storage::Error::SchemaNotFound {
                            name: schema.clone(),
                        })?;
                let existing = namespace.view(&view.name);
                let taken = namespace.table(&view.name).is_some()
                    || namespace.sequence(&view.name).is_some();
                let replacing = match existing {
                    Some(old) if *or_replace => {
                        views::check_replacement(&old, view)?;
                        Some(old)
                    }
                    None if taken && *or_replace => {
                        return Err(Error::WrongObjectType {
                            message: format!("\"{}\" is not a view", view.name),
                        });
                    }
                    _ if taken || existing.is_some() => {
                        return Err(storage::Error::TableExists {
                            name: view.name.clone(),
                        }
                        .into());
                    }
                    _ => None,
                };
                let created = namespace.create_view(view.clone(), replacing.as_ref())?;
                ("CREATE VIEW", vec![created])
            }
            Ddl::DropViews {
                names,
                if_exists,
                cascade,
            } => {
                let db = database()?;
                let mut targets = Vec::with_capacity(names.len());
                for name in names {
                    let (schema, view) = qualified(name, &current_database, &current_schema)?;
                    let namespace = db.schema(&schema);
                    match namespace {
                        Some(ns) if ns.view(&view).is_some() => targets.push((ns, view)),
                        Some(ns) if ns.table(&view).is_some() => {
                            return Err(Error::WrongKindOfRelation {
                                message: format!("\"{view}\" is not a view"),
                                hint: "Use DROP TABLE to remove a table.",
                            });
                        }
                        _ if *if_exists => {}
                        _ => return Err(storage::Error::ViewNotFound { name: view }.into()),
                    }
                }
                let mut dropped = Vec::with_capacity(targets.len());
                for (namespace, view) in &targets {
                    // One of the list may have gone as a reader of another.
                    if namespace.view(view).is_none() {
                        continue;
                    }
                    let relation = (namespace.name().to_owned(), view.clone());
                    dropped.extend(drop_readers(
                        &db,
                        &relation,
                        "view",
                        *cascade,
                        &current_schema,
                    )?);
                    dropped.push(namespace.drop_view(view)?);
                }
                ("DROP VIEW", dropped)
            }
            Ddl::AddColumns {
                name,
                if_exists,
                columns,
                ..
            } => {
                let (schema, table) = qualified(name, &current_database, &current_schema)?;
                let namespace = database()?.schema(&schema);
                let Some((namespace, existing)) =
                    namespace.and_then(|ns| Some((ns.clone(), ns.table(&table)?)))
                else {
                    if *if_exists {
                        return Ok(("ALTER TABLE", Vec::new()));
                    }
                    return Err(storage::Error::TableNotFound { name: table }.into());
                };
                let mut added: Vec<ColumnSchema> = Vec::with_capacity(columns.len());
                let mut added_fills = Vec::with_capacity(columns.len());
                for (i, (column, if_not_exists)) in columns.iter().enumerate() {
                    let exists = (existing.schema().columns().iter())
                        .chain(added.iter())
                        .any(|c| c.name == column.name);
                    match (exists, if_not_exists) {
                        (false, _) => {
                            added.push(column.clone());
                            added_fills.push(fills.get(i).cloned().unwrap_or(ColumnFill::Null));
                        }
                        (true, true) => {}
                        (true, false) => {
                            return Err(Error::DuplicateColumn {
                                column: column.name.clone(),
                                table,
                            });
                        }
                    }
                }
                if added.is_empty() {
                    return Ok(("ALTER TABLE", Vec::new()));
                }
                let (_, logged) = namespace.add_columns(&table, added, &added_fills)?;
                ("ALTER TABLE", vec![logged])
            }
            Ddl::AlterColumns {
                name,
                if_exists,
                changes,
            } => {
                let db = database()?;
                let Some((table, namespace, existing)) = altered(&db, name, *if_exists, names)?
                else {
                    return Ok(("ALTER TABLE", Vec::new()));
                };
                let columns = changed_columns(&db, &namespace, &existing, changes)?;
                let (_, logged) = namespace.alter_columns(&table, columns)?;
                ("ALTER TABLE", vec![logged])
            }
            Ddl::RenameTable {
                name,
                if_exists,
                new_name,
            } => {
                let db = database()?;
                let Some((table, namespace, _)) = altered(&db, name, *if_exists, names)? else {
                    return Ok(("ALTER TABLE", Vec::new()));
                };
                refuse_renaming(&db, &namespace, &table)?;
                let (_, logged) = namespace.rename_table(&table, new_name)?;
                ("ALTER TABLE", vec![logged])
            }
            Ddl::DropColumns {
                name,
                if_exists,
                columns,
            } => {
                let db = database()?;
                let Some((table, namespace, existing)) = altered(&db, name, *if_exists, names)?
                else {
                    return Ok(("ALTER TABLE", Vec::new()));
                };
                let dropped = dropped_columns(&db, &namespace, &existing, columns)?;
                if dropped.is_empty() {
                    return Ok(("ALTER TABLE", Vec::new()));
                }
                let (_, logged) = namespace.drop_columns(&table, &dropped)?;
                ("ALTER TABLE", vec![logged])
            }
            Ddl::Truncate {
                names,
                restart_identity,
            } => {
                let emptied = truncate(names, *restart_identity, storage, ctx)?;
                let emptied = emptied.into_iter().map(|d| d.map(|_| true));
                ("TRUNCATE TABLE", emptied.collect())
            }
            Ddl::CreateSequence {
                name,
                options,
                if_not_exists,
            } => {
                let (schema, sequence) = qualified(name, &current_database, &current_schema)?;
                let namespace = database()?
                    .schema(&schema)
                    .ok_or(storage::Error::SchemaNotFound { name: schema })?;
                let created = namespace.create_sequence(&sequence, *options, *if_not_exists)?;
                ("CREATE SEQUENCE", vec![created])
            }
            Ddl::CreateIndex(request) => {
                let db = database()?;
                let created = indexes::create(&db, request, names)?;
                ("CREATE INDEX", vec![created])
            }
            Ddl::DropIndexes {
                names: dropped,
                if_exists,
            } => {
                let db = database()?;
                (
                    "DROP INDEX",
                    indexes::drop(&db, dropped, *if_exists, names)?,
                )
            }
            Ddl::DropSequences { names, if_exists } => {
                let db = database()?;
                let mut targets = Vec::with_capacity(names.len());
                for name in names {
                    let (schema, sequence) = qualified(name, &current_database, &current_schema)?;
                    match db
                        .schema(&schema)
                        .filter(|ns| ns.sequence(&sequence).is_some())
                    {
                        Some(namespace) => {
                            refuse_used_sequence(&db, &schema, &sequence, &current_schema)?;
                            targets.push((namespace, sequence));
                        }
                        None if *if_exists => {}
                        None => {
                            return Err(storage::Error::SequenceNotFound { name: sequence }.into());
                        }
                    }
                }
                let mut dropped = Vec::with_capacity(targets.len());
                for (namespace, sequence) in &targets {
                    dropped.push(namespace.drop_sequence(sequence, *if_exists)?);
                }
                ("DROP SEQUENCE", dropped)
            }
            Ddl::CreateSchema {
                name,
                if_not_exists,
            } => {
                let schema = schema_name(name, &current_database)?;
                if RESERVED_SCHEMAS.contains(&schema.as_str()) {
                    return Err(storage::Error::SchemaExists { name: schema }.into());
                }
                (
                    "CREATE SCHEMA",
                    vec![database()?.create_schema(&schema, *if_not_exists)?],
                )
            }
            Ddl::DropSchemas {
                names,
                if_exists,
                cascade,
            } => {
                let db = database()?;
                let mut dropped = Vec::with_capacity(names.len());
                for name in names {
                    let schema = schema_name(name, &current_database)?;
                    // Views elsewhere that read its relations go with them.
                    if *cascade && let Some(namespace) = db.schema(&schema) {
                        for relation in namespace
                            .table_names()
                            .into_iter()
                            .chain(namespace.views().iter().map(|v| v.name.clone()))
                        {
                            let relation = (schema.clone(), relation);
                            let readers = views::readers(&db, &relation);
                            let outside: Vec<_> = (readers.into_iter())
                                .filter(|((s, _), _)| *s != schema)
                                .collect();
                            dropped.extend(views::drop_readers(&db, &outside)?);
                        }
                    }
                    dropped.push(db.drop_schema(&schema, *if_exists, *cascade)?);
                }
                ("DROP SCHEMA", dropped)
            }
            Ddl::CreateDatabase {
                name,
                if_not_exists,
            } => (
                "CREATE DATABASE",
                vec![storage.create_database(name, *if_not_exists)?],
            ),
            Ddl::DropDatabase { name, if_exists } => {
                if *name == current_database {
                    return Err(Error::DropCurrentDatabase);
                }
                (
                    "DROP DATABASE",
                    vec![storage.drop_database(name, *if_exists)?],
                )
            }
        };
        Ok(change)
    }
}

/// The columns of `table` once `changes` are made, checked as PostgreSQL
/// checks them (`NOT NULL` against the rows is storage's to check).
fn changed_columns(
    database: &storage::Database,
    namespace: &storage::Namespace,
    table: &storage::Table,
    changes: &[ColumnChange],
) -> Result<Vec<ColumnSchema>> {
    let schema = table.schema();
    let mut columns = schema.columns().to_vec();
    let relation = table.name();
    let find = |columns: &[ColumnSchema], name: &str| {
        columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| Error::UndefinedColumn {
                name: name.to_owned(),
            })
    };
    let missing = |name: &str| Error::UndefinedColumnOf {
        column: name.to_owned(),
        table: relation.to_owned(),
    };
    for change in changes {
        match change {
            ColumnChange::Rename(from, to) => {
                let at = find(&columns, from)?;
                if columns.iter().any(|c| c.name == *to) {
                    return Err(Error::DuplicateColumn {
                        column: to.clone(),
                        table: relation.to_owned(),
                    });
                }
                refuse_renaming(database, namespace, relation)?;
                columns[at].name = to.clone();
            }
            ColumnChange::SetType(column, column_type, max_chars) => {
                let at = find(&columns, column).map_err(|_| missing(column))?;
                let in_key = (schema.constraints().iter()).any(|k| k.columns.contains(&at));
                let target = &mut columns[at];
                let widened = target.role == ColumnRole::Field
                    && target.identity.is_none()
                    && !in_key
                    && target.column_type.widens_to(*column_type);
                if target.column_type != *column_type && !widened {
                    return Err(Error::Unsupported {
                        what: format!(
                            "ALTER COLUMN ... TYPE changing column \"{column}\" from {} to {}",
                            target.column_type.sql_name(),
                            column_type.sql_name()
                        ),
                    });
                }
                let view_relation = (namespace.name().to_owned(), relation.to_owned());
                if target.column_type != *column_type
                    && !views::readers(database, &view_relation).is_empty()
                {
                    return Err(Error::Unsupported {
                        what: format!(
                            "ALTER COLUMN ... TYPE of a column of table \"{relation}\", which views read"
                        ),
                    });
                }
                target.column_type = *column_type;
                target.max_chars = *max_chars;
            }
            ColumnChange::SetDefault(column, _)
            | ColumnChange::DropDefault(column)
            | ColumnChange::SetNotNull(column)
            | ColumnChange::DropNotNull(column) => {
                let at = find(&columns, column).map_err(|_| missing(column))?;
                let identity = columns[at].identity.is_some();
                let target = &mut columns[at];
                match change {
                    ColumnChange::SetDefault(_, text) if !identity => {
                        target.default = Some(text.clone());
                    }
                    ColumnChange::DropDefault(_) if !identity => target.default = None,
                    ColumnChange::SetNotNull(_) => target.nullable = false,
                    ColumnChange::DropNotNull(_) if target.role == ColumnRole::Time => {
                        return Err(Error::Unsupported {
                            what: "NULL in a table's time column".into(),
                        });
                    }
                    ColumnChange::DropNotNull(_)
                        if schema
                            .constraints()
                            .iter()
                            .any(|k| k.primary && k.columns.contains(&at)) =>
                    {
                        return Err(Error::InvalidTableDefinition {
                            message: format!("column \"{column}\" is in a primary key"),
                        });
                    }
                    ColumnChange::DropNotNull(_) if !identity => target.nullable = true,
                    _ => {
                        return Err(Error::SyntaxError {
                            message: format!(
                                "column \"{column}\" of relation \"{relation}\" is an identity column"
                            ),
                        });
                    }
                }
            }
        }
    }
    Ok(columns)
}

/// Refuses to rename table `table` (or its `column`) that views read: a
/// view keeps the names it reads. (The sequences its columns own follow
/// the rename.)
/// A table an `ALTER TABLE` names: its name, its schema and itself.
type Altered = (String, Arc<storage::Namespace>, Arc<storage::Table>);

/// The table an `ALTER TABLE` names (given the current database and
/// schema): `None` when there is none and the statement said `IF EXISTS`.
fn altered(
    database: &storage::Database,
    name: &ObjectName,
    if_exists: bool,
    (current_database, current_schema): (&str, &str),
) -> Result<Option<Altered>> {
    let (schema, table) = qualified(name, current_database, current_schema)?;
    match (database.schema(&schema)).and_then(|ns| Some((ns.clone(), ns.table(&table)?))) {
        Some((namespace, existing)) => Ok(Some((table, namespace, existing))),
        None if if_exists => Ok(None),
        None => Err(storage::Error::TableNotFound { name: table }.into()),
    }
}

/// The columns an `ALTER TABLE ... DROP COLUMN` drops, in order, checked:
/// fields of `table` that no view reads.
fn dropped_columns(
    database: &storage::Database,
    namespace: &storage::Namespace,
    table: &storage::Table,
    columns: &[(String, bool)],
) -> Result<Vec<String>> {
    let schema = table.schema();
    let mut dropped: Vec<String> = Vec::with_capacity(columns.len());
    for (column, if_exists) in columns {
        let index = schema.columns().iter().position(|c| &c.name == column);
        let Some(index) = index.filter(|_| !dropped.contains(column)) else {
            if *if_exists {
                continue;
            }
            return Err(Error::UndefinedColumnOf {
                column: column.clone(),
                table: table.name().to_owned(),
            });
        };
        let refused = |why: &str| Error::Unsupported {
            what: format!("dropping column \"{column}\", {why}"),
        };
        if !schema.field_indices().contains(&index) {
            return Err(refused("the table's time column or a tag"));
        }
        dropped.push(column.clone());
    }
    let relation = (namespace.name().to_owned(), table.name().to_owned());
    if !dropped.is_empty() && !views::readers(database, &relation).is_empty() {
        return Err(Error::Unsupported {
            what: format!(
                "dropping a column of table \"{}\" while views read it",
                table.name()
            ),
        });
    }
    Ok(dropped)
}

fn refuse_renaming(
    database: &storage::Database,
    namespace: &storage::Namespace,
    table: &str,
) -> Result<()> {
    let relation = (namespace.name().to_owned(), table.to_owned());
    if !views::readers(database, &relation).is_empty() {
        return Err(Error::Unsupported {
            what: format!("renaming table \"{table}\" or its columns while views read it"),
        });
    }
    Ok(())
}

/// Drops the views that read `relation` (a `kind`) when `cascade`, and
/// refuses to go on when there are any and not `cascade`.
fn drop_readers(
    database: &storage::Database,
    relation: &views::Relation,
    kind: &str,
    cascade: bool,
    current_schema: &str,
) -> Result<Vec<storage::Durable<bool>>> {
    let readers = views::readers(database, relation);
    if readers.is_empty() {
        return Ok(Vec::new());
    }
    if !cascade {
        let name = views::display_name(relation, current_schema);
        return Err(views::dependents_error(
            kind,
            &name,
            &readers,
            database,
            current_schema,
        ));
    }
    views::drop_readers(database, &readers)
}

/// Empties the tables `names`, all found before any is emptied. Refused
/// inside a transaction block, which could not undo it.
fn truncate(
    names: &[ObjectName],
    restart_identity: bool,
    storage: &Storage,
    ctx: &SessionContext,
) -> Result<Vec<storage::Durable<usize>>> {
    let state = ctx.state();
    if (state.config().get_extension::<PendingWrites>()).is_some_and(|p| p.in_block()) {
        return Err(Error::Unsupported {
            what: "TRUNCATE inside a transaction block".into(),
        });
    }
    let current_database = &state.config_options().catalog.default_catalog;
    let current_schema = &state.config_options().catalog.default_schema;
    let database =
        (storage.database(current_database)).ok_or_else(|| storage::Error::DatabaseNotFound {
            name: current_database.clone(),
        })?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let (schema, table) = qualified(name, current_database, current_schema)?;
        let namespace = database.schema(&schema);
        match namespace.as_ref().and_then(|ns| ns.table(&table)) {
            Some(found) => tables.push((namespace, found)),
            None => return Err(Error::UndefinedTable { name: table }),
        }
    }
    let mut emptied = Vec::with_capacity(tables.len());
    for (namespace, table) in tables {
        emptied.push(table.truncate()?);
        let Some(namespace) = namespace.filter(|_| restart_identity) else {
            continue;
        };
        for name in namespace.sequence_names() {
            let owned = (namespace.sequence(&name))
                .filter(|s| s.owner().is_some_and(|o| o.table == table.name()));
            if let Some(sequence) = owned {
                emptied.push(sequence.restart()?.map(|()| 0));
            }
        }
    }
    Ok(emptied)
}

/// Schemas every database has that are not storage schemas.
const RESERVED_SCHEMAS: &[&str] = &[
    crate::query::datasource::system::SYSTEM_SCHEMA,
    crate::query::datasource::catalog::PG_CATALOG,
    "information_schema",
];

/// A column as `CREATE TABLE` or `ALTER TABLE ... ADD COLUMN` defines it,
/// as a field (`CREATE TABLE` then picks the time column and the tags).
/// `PRIMARY KEY` and `UNIQUE` are the table's business when `keys` says
/// so, and refused otherwise.
/// `SERIAL` and identity columns (`keys` again: only in `CREATE TABLE`)
/// also return the sequence they will own.
fn column_schema(column: &ColumnDef, keys: bool) -> Result<(ColumnSchema, Option<ColumnSequence>)> {
    let name = normalize(&column.name);
    let serial = serial_type(&column.data_type);
    let data_type = serial.as_ref().map_or(&column.data_type, |(t, _)| t);
    let column_type = column_type(data_type)?;
    let mut nullable = serial.is_none();
    let mut default = None;
    let mut sequence = serial.map(|(_, sequence_type)| ColumnSequence {
        spec: SequenceSpec {
            data_type: Some(sequence_type),
            ..SequenceSpec::default()
        },
        identity: None,
    });
    let multiple_defaults = || Error::SyntaxError {
        message: format!("multiple default values specified for column \"{name}\""),
    };
    for option in &column.options {
        if let Some((identity, options)) = identity_option(&option.option)? {
            if sequence.is_some() || default.is_some() {
                return Err(multiple_defaults());
            }
            sequence = Some(ColumnSequence {
                spec: sequence_spec(Some(identity_type(column_type)?), &options)?,
                identity: Some(identity),
            });
            nullable = false;
            continue;
        }
        match &option.option {
            ColumnOption::NotNull => nullable = false,
            ColumnOption::Null if sequence.is_some() => {
                return Err(Error::SyntaxError {
                    message: format!(
                        "conflicting NULL/NOT NULL declarations for column \"{name}\""
                    ),
                });
            }
            ColumnOption::Null => nullable = true,
            ColumnOption::Default(_) if sequence.is_some() => return Err(multiple_defaults()),
            ColumnOption::Default(expr) => default = Some(default_text(expr)?),
            // Resolved with the table's constraints.
            ColumnOption::PrimaryKey(_) | ColumnOption::Unique(_) if keys => {}
            other => {
                return Err(Error::Unsupported {
                    what: format!("column option {other}"),
                });
            }
        }
    }
    if sequence.is_some() && !keys {
        return Err(Error::Unsupported {
            what: "ALTER TABLE ... ADD COLUMN of a SERIAL or identity column".into(),
        });
    }
    let identity = sequence.as_ref().and_then(|s| s.identity);
    let schema = ColumnSchema {
        name,
        column_type,
        role: ColumnRole::Field,
        nullable,
        max_chars: max_chars(&column.data_type)?,
        default,
        identity,
    };
    Ok((schema, sequence))
}

/// `DROP SEQUENCE` of a sequence a column's default calls: PostgreSQL
/// refuses it (2BP01) without `CASCADE`.
fn refuse_used_sequence(
    database: &storage::Database,
    schema: &str,
    sequence: &str,
    current_schema: &str,
) -> Result<()> {
    for namespace in database.schema_names() {
        let Some(namespace) = database.schema(&namespace) else {
            continue;
        };
        for table in namespace.table_names() {
            let Some(table) = namespace.table(&table) else {
                continue;
            };
            for column in table.schema().columns() {
                let calls = (column.default.as_deref())
                    .is_some_and(|d| default_calls(d, schema, sequence, current_schema));
                if calls {
                    return Err(storage::Error::SequenceInUse {
                        name: sequence.to_owned(),
                        detail: format!(
                            "default value for column {} of table {} depends on sequence {sequence}",
                            column.name,
                            table.name()
                        ),
                    }
                    .into());
                }
            }
        }
    }
    Ok(())
}

/// Does the default `text` call `nextval` of sequence `schema.sequence`?
fn default_calls(text: &str, schema: &str, sequence: &str, current_schema: &str) -> bool {
    let Ok(expr) = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
    else {
        return false;
    };
    let mut found = false;
    let _ = visit_expressions(&expr, |e| {
        if let Some(name) = nextval_argument(e)
            && let Ok(object) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&name)
                .and_then(|mut p| p.parse_object_name(false))
            && let Ok((s, n)) = qualified(&object, "", current_schema)
        {
            found |= s == schema && n == sequence;
        }
        if found {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

/// `ALTER TABLE ... ADD COLUMN`, the one form of `ALTER TABLE` there is:
/// new columns are fields (a `TEXT` column too: it does not split series),
/// and every existing row holds NULL in them.
fn alter_table(alter: &AlterTable) -> Result<Ddl> {
    if alter.table_type.is_some() || alter.on_cluster.is_some() || alter.location.is_some() {
        return Err(Error::Unsupported {
            what: "this form of ALTER TABLE".into(),
        });
    }
    if let [AlterTableOperation::RenameTable { table_name }] = alter.operations.as_slice() {
        let (RenameTableNameKind::To(new_name) | RenameTableNameKind::As(new_name)) = table_name;
        return Ok(Ddl::RenameTable {
            name: alter.name.clone(),
            if_exists: alter.if_exists,
            new_name: single_name(new_name)?,
        });
    }
    // PostgreSQL's RENAME stands alone in its ALTER TABLE.
    let renames =
        (alter.operations.iter()).any(|o| matches!(o, AlterTableOperation::RenameColumn { .. }));
    if renames && alter.operations.len() > 1 {
        return Err(Error::SyntaxError {
            message: "syntax error at or near \",\"".into(),
        });
    }
    let mut columns = Vec::with_capacity(alter.operations.len());
    let mut fill_exprs = Vec::new();
    let mut dropped = Vec::new();
    let mut retention = None;
    let mut changes = Vec::new();
    for operation in &alter.operations {
        match operation {
            AlterTableOperation::AlterColumn { column_name, op } => {
                let column = normalize(column_name);
                changes.push(match op {
                    AlterColumnOperation::SetDefault { value } => {
                        ColumnChange::SetDefault(column, default_text(value)?)
                    }
                    AlterColumnOperation::DropDefault => ColumnChange::DropDefault(column),
                    AlterColumnOperation::SetNotNull => ColumnChange::SetNotNull(column),
                    AlterColumnOperation::DropNotNull => ColumnChange::DropNotNull(column),
                    AlterColumnOperation::SetDataType {
                        data_type,
                        using: None,
                        ..
                    } => ColumnChange::SetType(
                        column,
                        column_type(data_type)?,
                        max_chars(data_type)?,
                    ),
                    other => {
                        return Err(Error::Unsupported {
                            what: format!("ALTER TABLE ... ALTER COLUMN ... {other}"),
                        });
                    }
                });
            }
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => changes.push(ColumnChange::Rename(
                normalize(old_column_name),
                normalize(new_column_name),
            )),
            AlterTableOperation::SetOptionsParens { options } => {
                for option in options {
                    retention = Some(retention_option(option)?);
                }
            }
            // CASCADE drops what reads the column outside the table: views,
            // which refuse the drop either way (see `dropped_columns`).
            AlterTableOperation::DropColumn {
                column_names,
                if_exists,
                ..
            } => dropped.extend(column_names.iter().map(|c| (normalize(c), *if_exists))),
            AlterTableOperation::AddColumn {
                if_not_exists,
                column_def,
                column_position: None,
                ..
            } => {
                let column = column_schema(column_def, false)?.0;
                fill_exprs.push(match &column.default {
                    Some(default) => Some(fill_expr(default, &column_def.data_type)?),
                    None => None,
                });
                columns.push((column, *if_not_exists));
            }
            other => {
                return Err(Error::Unsupported {
                    what: format!(
                        "ALTER TABLE {}",
                        other
                            .to_string()
                            .split_whitespace()
                            .take(2)
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                });
            }
        }
    }
    if !dropped.is_empty() {
        if !columns.is_empty() || !changes.is_empty() || retention.is_some() {
            return Err(Error::Unsupported {
                what: "ALTER TABLE that both drops columns and makes other changes".into(),
            });
        }
        return Ok(Ddl::DropColumns {
            name: alter.name.clone(),
            if_exists: alter.if_exists,
            columns: dropped,
        });
    }
    if !changes.is_empty() {
        if !columns.is_empty() || retention.is_some() {
            return Err(Error::Unsupported {
                what: "ALTER TABLE that both changes columns and adds them or sets options".into(),
            });
        }
        return Ok(Ddl::AlterColumns {
            name: alter.name.clone(),
            if_exists: alter.if_exists,
            changes,
        });
    }
    match retention {
        None => Ok(Ddl::AddColumns {
            name: alter.name.clone(),
            if_exists: alter.if_exists,
            columns,
            fill_exprs,
        }),
        Some(retention) if columns.is_empty() => Ok(Ddl::SetRetention {
            name: alter.name.clone(),
            if_exists: alter.if_exists,
            retention,
        }),
        Some(_) => Err(Error::Unsupported {
            what: "ALTER TABLE that both adds columns and sets options".into(),
        }),
    }
}

/// A column's `DEFAULT` (its stored text) cast to the column's type, as
/// an `INSERT` that leaves the column out would store it; a `VARCHAR(n)` is
/// cast to `text`, its length checked where the value is stored.
fn fill_expr(default: &str, data_type: &SqlType) -> Result<Expr> {
    let data_type = match data_type {
        SqlType::Varchar(_) | SqlType::CharacterVarying(_) | SqlType::CharVarying(_) => {
            SqlType::Text
        }
        other => other.clone(),
    };
    Ok(Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(Expr::Nested(Box::new(default_expr(Some(default))?))),
        data_type,
        array: false,
        format: None,
    })
}

/// `SELECT e1, e2, ...`: `None` without expressions.
fn fill_select(exprs: Vec<Expr>) -> Result<Option<Box<Statement>>> {
    if exprs.is_empty() {
        return Ok(None);
    }
    let items = (exprs.iter().map(ToString::to_string))
        .collect::<Vec<_>>()
        .join(", ");
    let statement = Parser::new(&PostgresDialect::default())
        .try_with_sql(&format!("SELECT {items}"))
        .and_then(|mut parser| parser.parse_statement())
        .map_err(|e| Error::InvalidParameterValue {
            message: format!("the defaults {items} do not parse: {e}"),
        })?;
    Ok(Some(Box::new(statement)))
}

/// The retention an `ALTER TABLE ... SET (...)` option sets: `NULL` (what
/// `RESET (retention)` is read as) for none. Retention is the only option
/// that can change after `CREATE TABLE`.
fn retention_option(option: &SqlOption) -> Result<Option<i64>> {
    let SqlOption::KeyValue { key, value } = option else {
        return Err(Error::Unsupported {
            what: format!("table option {option}"),
        });
    };
    let name = normalize(key);
    if name != "retention" {
        return Err(match name.as_str() {
            "time_column" | "tags" | "shard_interval" | "block_size" => Error::Unsupported {
                what: format!("changing the table option \"{name}\""),
            },
            _ => Error::UnknownTableOption { name },
        });
    }
    if matches!(value, Expr::Value(v) if v.value == Value::Null) {
        return Ok(None);
    }
    retention_value(value).map(Some)
}

/// A retention as `WITH (retention = '30 days')` writes it, in microseconds.
fn retention_value(value: &Expr) -> Result<i64> {
    let text = option_text(value);
    (text.as_deref().and_then(parse_interval)).ok_or_else(|| Error::InvalidTableOption {
        name: "retention".into(),
        reason: format!(
            "\"{}\" is not a positive interval such as '7 days' or '1h'",
            text.unwrap_or_else(|| value.to_string())
        ),
    })
}

fn create_table(create: &CreateTable) -> Result<Ddl> {
    if create.query.is_some() {
        return Err(Error::Unsupported {
            what: "CREATE TABLE ... AS".into(),
        });
    }
    if create.or_replace || create.temporary || create.external || create.like.is_some() {
        return Err(Error::Unsupported {
            what: "this form of CREATE TABLE".into(),
        });
    }
    let options = table_options(&create.table_options)?;

    let table_name = create
        .name
        .0
        .last()
        .and_then(|part| part.as_ident())
        .map(normalize)
        .unwrap_or_default();
    let mut columns = Vec::with_capacity(create.columns.len());
    let mut sequences = Vec::new();
    for column in &create.columns {
        let (schema, sequence) = column_schema(column, true)?;
        if let Some(sequence) = sequence {
            sequences.push(OwnedSequence {
                preferred: format!("{table_name}_{}_seq", schema.name),
                column: schema.name.clone(),
                options: sequences::options(&sequence.spec)?,
            });
        }
        columns.push(schema);
    }
    let constraints = unique_constraints(&table_name, create, &columns)?;
    let first_timestamp = columns
        .iter()
        .position(|c| matches!(c.column_type, ColumnType::Timestamp { .. }));
    // A table is a time-series table when it names its time column, or has a
    // timestamp column that no key leaves out; otherwise it is plain.
    let time_index = match (&options.time_column, first_timestamp) {
        (Some(time), _) => Some(position(&columns, time)?),
        (None, Some(first)) if constraints.iter().all(|c| c.columns.contains(&first)) => {
            Some(first)
        }
        (None, _) => None,
    };
    let Some(time_index) = time_index else {
        if options.tags.is_some() {
            return Err(Error::InvalidTableOption {
                name: "tags".into(),
                reason: "a table without a time column has no tags".into(),
            });
        }
        if options.retention.is_some() {
            return Err(Error::InvalidTableOption {
                name: "retention".into(),
                reason: "a table without a time column has no retention".into(),
            });
        }
        TableSchema::try_new(columns.clone())?.with_constraints(constraints.clone())?;
        return Ok(Ddl::CreateTable {
            name: create.name.clone(),
            columns,
            constraints,
            options: options.storage,
            retention: None,
            sequences,
            if_not_exists: create.if_not_exists,
        });
    };
    columns[time_index].role = ColumnRole::Time;
    match &options.tags {
        Some(tags) => {
            for tag in tags {
                let index = position(&columns, tag)?;
                if index == time_index {
                    return Err(Error::InvalidTableOption {
                        name: "tags".into(),
                        reason: format!("\"{tag}\" is the time column"),
                    });
                }
                columns[index].role = ColumnRole::Tag;
            }
        }
        None => {
            for column in &mut columns {
                if column.role == ColumnRole::Field && column.column_type == ColumnType::Utf8 {
                    column.role = ColumnRole::Tag;
                }
            }
        }
    }
    // Validate now, so the statement fails at prepare time rather than at execute.
    TableSchema::try_new(columns.clone())?.with_constraints(constraints.clone())?;
    Ok(Ddl::CreateTable {
        name: create.name.clone(),
        columns,
        constraints,
        options: options.storage,
        retention: options.retention,
        sequences,
        if_not_exists: create.if_not_exists,
    })
}

/// A column's `DEFAULT` as stored: its SQL text. As in PostgreSQL, it may
/// not read columns or run a subquery (0A000).
fn default_text(expr: &Expr) -> Result<String> {
    let mut refused = None;
    let _ = visit_expressions(expr, |e| {
        refused = match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                Some("cannot use column reference in DEFAULT expression")
            }
            Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => {
                Some("cannot use subquery in DEFAULT expression")
            }
            _ => None,
        };
        if refused.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    match refused {
        Some(message) => Err(Error::FeatureNotSupported {
            message: message.into(),
        }),
        None => Ok(expr.to_string()),
    }
}

fn position(columns: &[ColumnSchema], name: &str) -> Result<usize> {
    columns
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| Error::UndefinedColumn { name: name.into() })
}

/// What `WITH (...)` on CREATE TABLE may set.
#[derive(Debug, Default)]
struct CreateOptions {
    time_column: Option<String>,
    tags: Option<Vec<String>>,
    storage: TableOptions,
    retention: Option<i64>,
}

fn table_options(options: &CreateTableOptions) -> Result<CreateOptions> {
    let list = match options {
        CreateTableOptions::None => return Ok(CreateOptions::default()),
        CreateTableOptions::With(list) => list,
        _ => {
            return Err(Error::Unsupported {
                what: "table options other than WITH (...)".into(),
            });
        }
    };
    let mut parsed = CreateOptions::default();
    for option in list {
        let SqlOption::KeyValue { key, value } = option else {
            return Err(Error::Unsupported {
                what: format!("table option {option}"),
            });
        };
        let name = normalize(key);
        let text = option_text(value).ok_or_else(|| Error::InvalidTableOption {
            name: name.clone(),
            reason: "expected a string".into(),
        })?;
        match name.as_str() {
            "time_column" => parsed.time_column = Some(text.trim().to_owned()),
            "retention" => parsed.retention = Some(retention_value(value)?),
            "tags" => {
                parsed.tags = Some(
                    text.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "shard_interval" => {
                parsed.storage.shard_interval =
                    parse_interval(&text).ok_or_else(|| Error::InvalidTableOption {
                        name: name.clone(),
                        reason: format!(
                            "\"{text}\" is not a positive interval such as '1h' or '1 day'"
                        ),
                    })?;
            }
            "block_size" => {
                parsed.storage.block_size = text
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (16..=65_536).contains(n))
                    .ok_or_else(|| Error::InvalidTableOption {
                        name: name.clone(),
                        reason: "expected a number of points from 16 to 65536".into(),
                    })?;
            }
            _ => return Err(Error::UnknownTableOption { name }),
        }
    }
    Ok(parsed)
}

/// A positive interval in microseconds: `'90s'`, `'15m'`, `'1h'`, `'1d'`, `'1w'`,
/// or PostgreSQL-style `'1 hour'`, `'2 days'`, `'30 minutes'`.
fn parse_interval(text: &str) -> Option<i64> {
    let text = text.trim().to_ascii_lowercase();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let unit_micros: i64 = match unit.trim() {
        "us" | "microsecond" | "microseconds" => 1,
        "ms" | "millisecond" | "milliseconds" => 1_000,
        "s" | "sec" | "second" | "seconds" => 1_000_000,
        "m" | "min" | "minute" | "minutes" => 60_000_000,
        "h" | "hour" | "hours" => 3_600_000_000,
        "d" | "day" | "days" => 86_400_000_000,
        "w" | "week" | "weeks" => 604_800_000_000,
        _ => return None,
    };
    number.checked_mul(unit_micros).filter(|&v| v > 0)
}

fn option_text(value: &Expr) -> Option<String> {
    match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.to_string()),
            _ => None,
        },
        Expr::Identifier(ident) => Some(normalize(ident)),
        _ => None,
    }
}

fn column_type(data_type: &SqlType) -> Result<ColumnType> {
    Ok(match data_type {
        SqlType::Timestamp(_, tz) => ColumnType::Timestamp {
            with_time_zone: matches!(tz, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz),
        },
        SqlType::DoublePrecision | SqlType::Float8 | SqlType::Float64 | SqlType::Double(_) => {
            ColumnType::Float64
        }
        SqlType::Real | SqlType::Float4 | SqlType::Float32 => ColumnType::Float32,
        SqlType::Float(info) => match info {
            datafusion::sql::sqlparser::ast::ExactNumberInfo::Precision(p)
            | datafusion::sql::sqlparser::ast::ExactNumberInfo::PrecisionAndScale(p, _)
                if *p <= 24 =>
            {
                ColumnType::Float32
            }
            _ => ColumnType::Float64,
        },
        SqlType::BigInt(_) | SqlType::Int8(_) | SqlType::Int64 => ColumnType::Int64,
        SqlType::Int(_) | SqlType::Integer(_) | SqlType::Int4(_) | SqlType::Int32 => {
            ColumnType::Int32
        }
        SqlType::SmallInt(_) | SqlType::Int2(_) | SqlType::Int16 => ColumnType::Int16,
        SqlType::Boolean | SqlType::Bool => ColumnType::Boolean,
        SqlType::Date => ColumnType::Date,
        SqlType::JSON => ColumnType::Json,
        SqlType::JSONB => ColumnType::Jsonb,
        SqlType::Uuid => ColumnType::Uuid,
        SqlType::Bytea => ColumnType::Bytea,
        SqlType::Text
        | SqlType::Varchar(_)
        | SqlType::CharacterVarying(_)
        | SqlType::CharVarying(_)
        | SqlType::String(_) => ColumnType::Utf8,
        SqlType::Custom(name, _) => {
            return Err(Error::UndefinedType {
                name: name.to_string(),
            });
        }
        other => {
            return Err(Error::Unsupported {
                what: format!("column type {other}"),
            });
        }
    })
}

/// PostgreSQL's longest `VARCHAR(n)`.
const MAX_VARCHAR_LENGTH: u64 = 10_485_760;

/// The `n` of a `VARCHAR(n)` column, checked as PostgreSQL checks it.
fn max_chars(data_type: &SqlType) -> Result<Option<u32>> {
    let (SqlType::Varchar(Some(length))
    | SqlType::CharacterVarying(Some(length))
    | SqlType::CharVarying(Some(length))) = data_type
    else {
        return Ok(None);
    };
    let CharacterLength::IntegerLength { length, .. } = length else {
        return Err(Error::Unsupported {
            what: format!("column type {data_type}"),
        });
    };
    if *length < 1 {
        return Err(Error::InvalidParameterValue {
            message: "length for type varchar must be at least 1".into(),
        });
    }
    if *length > MAX_VARCHAR_LENGTH {
        return Err(Error::InvalidParameterValue {
            message: format!("length for type varchar cannot exceed {MAX_VARCHAR_LENGTH}"),
        });
    }
    Ok(u32::try_from(*length).ok())
}

#[cfg(test)]
mod tests {
    use super::{default_text, parse_interval};
    use crate::query::pg::dialect::PostgresDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    #[test]
    fn defaults_read_no_column_and_run_no_subquery() {
        let text = |sql: &str| {
            let expr = Parser::new(&PostgresDialect::default())
                .try_with_sql(sql)
                .and_then(|mut p| p.parse_expr())
                .unwrap();
            default_text(&expr).map_err(|e| e.to_string())
        };
        assert_eq!(text("1 + 1"), Ok("1 + 1".into()));
        assert_eq!(text("now()"), Ok("now()".into()));
        assert!(text("b").unwrap_err().contains("column reference"));
        assert!(text("(SELECT 1)").unwrap_err().contains("subquery"));
        assert!(text("1 + (SELECT 1)").unwrap_err().contains("subquery"));
    }

    #[test]
    fn intervals_parse_short_and_long_forms() {
        assert_eq!(parse_interval("1h"), Some(3_600_000_000));
        assert_eq!(parse_interval(" 2 days "), Some(172_800_000_000));
        assert_eq!(parse_interval("15m"), Some(900_000_000));
        assert_eq!(parse_interval("0h"), None);
        assert_eq!(parse_interval("h"), None);
        assert_eq!(parse_interval("1 fortnight"), None);
        assert_eq!(parse_interval("99999999999999999w"), None);
    }
}
