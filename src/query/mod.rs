//! SQL planning and execution with Apache DataFusion.
//!
//! The [`QueryEngine`] owns one base DataFusion `SessionState` (catalogs, UDFs,
//! the pg_catalog type planner) built once at start-up. Each client session gets
//! its own `SessionContext` derived from it, so session settings never leak
//! between connections, while all of them see the same storage.
//!
//! Statements arrive parsed (sqlparser AST). Queries and `INSERT` are planned by
//! DataFusion; DDL is executed here against storage, because a time-series
//! table is not something DataFusion can create.

mod access;
mod aggregate_exec;
mod asof;
mod bookend;
mod catalog;
mod column_names;
mod copy;
mod date_trunc;
mod ddl;
mod functions;
mod gapfill;
mod latest;
mod planner;
mod pushdown;
mod roles_catalog;
mod scan_exec;
mod system;
mod table;
mod time_bucket;
mod transaction;

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::common::ParamValues;
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyOption, CopyOption, CopySource, CopyTarget, Expr as SqlExpr, Ident, ObjectName,
    SelectItem, SetExpr, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables;
use datafusion_pg_catalog::pg_catalog::generate_series_arg_coercion::CoerceIntArgsToBigInt;
use datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;
use futures::StreamExt;

pub use access::{Dcl, Principal};
pub use copy::{CopyFormat, CopyFrom, CopyIn, CopyOptions, RawField};
pub use ddl::Ddl;
pub use functions::{POSTGRES_VERSION, POSTGRES_VERSION_NUM, version_string};
pub use transaction::{PendingWrites, WriteMark};

use crate::storage::{self, Storage};

/// Errors of the query layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error("relation \"{name}\" does not exist")]
    UndefinedTable { name: String },
    #[error("column \"{name}\" does not exist")]
    UndefinedColumn { name: String },
    #[error("type \"{name}\" does not exist")]
    UndefinedType { name: String },
    #[error("{what} is not supported")]
    Unsupported { what: String },
    #[error("{function}: {reason}")]
    InvalidArgument {
        function: &'static str,
        reason: String,
    },
    /// A bad argument, in the words of the function's original (TimescaleDB).
    #[error("{message}")]
    InvalidParameterValue { message: String },
    #[error("timestamp out of range")]
    DatetimeOutOfRange,
    #[error("unrecognized parameter \"{name}\"")]
    UnknownTableOption { name: String },
    #[error("invalid value for parameter \"{name}\": {reason}")]
    InvalidTableOption { name: String, reason: String },
    #[error("cross-database references are not implemented: \"{name}\"")]
    CrossDatabase { name: String },
    #[error("cannot drop the currently open database")]
    DropCurrentDatabase,
    #[error("{reason}")]
    InvalidCopyOption { reason: String },
    #[error("{message}")]
    PermissionDenied {
        message: String,
        detail: Option<String>,
    },
    #[error("{message}")]
    InvalidGrant { message: String },
    #[error("{message}")]
    ObjectInUse { message: String },
    #[error(transparent)]
    Password(#[from] crate::password::Error),
    #[error("invalid input syntax for type {type_name}: \"{value}\"")]
    CopyInvalidText {
        type_name: &'static str,
        value: String,
        context: String,
    },
    #[error("value \"{value}\" is out of range for type {type_name}")]
    CopyOutOfRange {
        type_name: &'static str,
        value: String,
        context: String,
    },
    #[error("incorrect binary data format")]
    CopyInvalidBinary { context: String },
    #[error("invalid byte sequence for encoding \"UTF8\"")]
    CopyInvalidEncoding { context: String },
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    CopyNotNull {
        table: String,
        column: String,
        context: String,
    },
}

impl Error {
    /// Where the error happened, for the ErrorResponse's context field.
    pub fn context(&self) -> Option<&str> {
        match self {
            Error::CopyInvalidText { context, .. }
            | Error::CopyOutOfRange { context, .. }
            | Error::CopyInvalidBinary { context }
            | Error::CopyInvalidEncoding { context }
            | Error::CopyNotNull { context, .. } => Some(context),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the query layer.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// Parallelism of scans and operators.
    pub target_partitions: usize,
    /// Memory one session's query may hold in operators; `None` for no limit.
    pub memory_limit: Option<usize>,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_limit: None,
        }
    }
}

/// Plans and executes SQL over storage. Shared by all sessions.
#[derive(Debug)]
pub struct QueryEngine {
    storage: Arc<Storage>,
    base: SessionState,
    memory_limit: Option<usize>,
}

/// A statement ready to run, possibly many times with different parameters.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// A query, `INSERT` or `EXPLAIN` planned by DataFusion. `names` are the
    /// PostgreSQL names of the output columns, where they differ from
    /// DataFusion's (`None` keeps DataFusion's name).
    Plan {
        plan: LogicalPlan,
        names: Option<Vec<Option<String>>>,
        /// For `INSERT INTO t (a, b) ...`, the listed columns.
        insert_columns: Vec<String>,
    },
    /// DDL run against storage.
    Ddl(Ddl),
    /// A role statement, GRANT or REVOKE.
    Dcl(Dcl),
    /// `COPY table FROM STDIN`.
    CopyFrom(CopyFrom),
    /// `COPY table TO STDOUT` or `COPY (query) TO STDOUT`: the query's rows.
    CopyTo {
        query: Box<Prepared>,
        options: CopyOptions,
    },
}

impl Prepared {
    /// The columns of the rows this statement returns; `None` for statements that
    /// return no rows (DDL, `INSERT`).
    pub fn output_schema(&self) -> Option<SchemaRef> {
        match self {
            Prepared::Plan { plan, names, .. } if !is_insert(plan) => {
                Some(renamed(plan.schema().inner(), names.as_deref()))
            }
            _ => None,
        }
    }

    /// The types DataFusion inferred for `$1..$n`, in order; `None` where unknown.
    pub fn parameter_types(&self) -> Result<Vec<Option<DataType>>> {
        let Prepared::Plan { plan, .. } = self else {
            return Ok(Vec::new());
        };
        let mut types = plan.get_parameter_types()?;
        // DataFusion leaves LIMIT/OFFSET parameters untyped; PostgreSQL makes
        // them bigint.
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::Limit(limit) = node {
                for expr in limit.skip.iter().chain(limit.fetch.iter()) {
                    if let Expr::Placeholder(p) = expr.as_ref()
                        && types.get(&p.id).is_some_and(Option::is_none)
                    {
                        types.insert(p.id.clone(), Some(DataType::Int64));
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        let count = types
            .keys()
            .filter_map(|k| k.strip_prefix('$')?.parse::<usize>().ok())
            .max()
            .unwrap_or(0);
        Ok((1..=count)
            .map(|i| types.get(&format!("${i}")).cloned().flatten())
            .collect())
    }
}

/// What executing a statement produced.
pub enum Output {
    /// Rows, streamed.
    Rows(SendableRecordBatchStream),
    /// A completed command with its PostgreSQL command tag and affected rows.
    Command {
        tag: &'static str,
        rows: Option<u64>,
    },
    /// A `COPY ... FROM STDIN` waiting for its data.
    CopyIn {
        writer: Box<CopyIn>,
        options: CopyOptions,
        columns: usize,
    },
    /// The rows of a `COPY ... TO STDOUT`.
    CopyOut {
        rows: SendableRecordBatchStream,
        options: CopyOptions,
    },
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Rows(stream) => f.debug_tuple("Rows").field(&stream.schema()).finish(),
            Output::Command { tag, rows } => f
                .debug_struct("Command")
                .field("tag", tag)
                .field("rows", rows)
                .finish(),
            Output::CopyIn { options, .. } => f.debug_tuple("CopyIn").field(options).finish(),
            Output::CopyOut { options, .. } => f.debug_tuple("CopyOut").field(options).finish(),
        }
    }
}

/// `schema` with the given column names; `None` entries keep theirs.
fn renamed(schema: &SchemaRef, names: Option<&[Option<String>]>) -> SchemaRef {
    let Some(names) = names else {
        return schema.clone();
    };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(field, name)| match name {
            Some(name) => field.as_ref().clone().with_name(name),
            None => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn is_insert(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)))
}

impl QueryEngine {
    pub fn try_new(storage: Arc<Storage>, config: &QueryConfig) -> Result<Self> {
        let pg_static_tables = Arc::new(PgCatalogStaticTables::try_new()?);
        let catalogs = Arc::new(catalog::StorageCatalogList::new(
            storage.clone(),
            pg_static_tables.clone(),
        ));
        let mut session_config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(storage::DEFAULT_DATABASE, storage::DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_target_partitions(config.target_partitions.max(1));
        let options = session_config.options_mut();
        options.execution.time_zone = Some("UTC".to_owned());
        options.sql_parser.map_string_types_to_utf8view = false;
        options.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;

        let mut builder = SessionStateBuilder::new()
            .with_config(session_config)
            .with_catalog_list(catalogs)
            .with_default_features()
            .with_type_planner(Arc::new(PgOidTypePlanner))
            .with_physical_optimizer_rule(Arc::new(aggregate_exec::StorageAggregates))
            .with_physical_optimizer_rule(Arc::new(latest::LatestPerSeries))
            .with_analyzer_rule(Arc::new(gapfill::GapFillRule))
            .with_analyzer_rule(Arc::new(asof::AsofRule))
            .with_query_planner(Arc::new(planner::EpochQueryPlanner));
        // Ahead of DataFusion's planners, which claim every subscript.
        builder
            .expr_planners()
            .get_or_insert_default()
            .insert(0, Arc::new(functions::VectorSubscripts));
        let state = builder.build();
        // The pg-catalog helpers are written against a SessionContext; apply them
        // once to the base state.
        let ctx = SessionContext::new_with_state(state);
        functions::register(&ctx, &pg_static_tables);
        CoerceIntArgsToBigInt::widen(&ctx);
        Ok(Self {
            storage,
            base: ctx.state(),
            memory_limit: config.memory_limit,
        })
    }

    pub fn database_exists(&self, name: &str) -> bool {
        self.storage.database(name).is_some()
    }

    /// The role `name`, for authentication.
    pub fn role(&self, name: &str) -> Option<storage::Role> {
        self.storage.role(name)
    }

    /// Every role, by name.
    pub fn roles(&self) -> Vec<storage::Role> {
        self.storage.roles()
    }

    /// Whether `principal` is a superuser now.
    pub fn is_superuser(&self, principal: &Principal) -> bool {
        principal.is_superuser(&self.storage)
    }

    /// May `principal` connect to `database` (CONNECT privilege)?
    pub fn check_connect(&self, principal: &Principal, database: &str) -> Result<()> {
        access::check_connect(&self.storage, principal, database)
    }

    /// A fresh DataFusion context for a session connected to `database`, with
    /// a memory pool of its own: a session runs one query at a time, so the
    /// pool's limit is a per-query cap.
    ///
    /// `INSERT` and `COPY` in the context stage their rows in `pending` while
    /// it holds an open transaction block.
    ///
    /// `principal` is the role the session acts as; its privileges are
    /// checked when each statement runs.
    pub fn new_context(
        &self,
        database: &str,
        pending: Arc<PendingWrites>,
        principal: Arc<Principal>,
    ) -> Result<SessionContext> {
        let config = self
            .base
            .config()
            .clone()
            .with_default_catalog_and_schema(database, storage::DEFAULT_SCHEMA)
            .with_extension(pending)
            .with_extension(principal);
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(limit) = self.memory_limit {
            runtime = runtime.with_memory_limit(limit, 1.0);
        }
        let state = SessionStateBuilder::new_from_existing(self.base.clone())
            .with_config(config)
            .with_runtime_env(runtime.build_arc()?)
            .build();
        let ctx = SessionContext::new_with_state(state);
        functions::register_for_database(&ctx, database);
        Ok(ctx)
    }

    /// Plans a statement. Table references are checked first, so an unknown
    /// table is reported as such rather than as a planning failure.
    pub async fn prepare(&self, ctx: &SessionContext, statement: Statement) -> Result<Prepared> {
        if let Some(dcl) = Dcl::from_statement(&statement)? {
            return Ok(Prepared::Dcl(dcl));
        }
        if let Some(ddl) = Ddl::from_statement(&statement)? {
            return Ok(Prepared::Ddl(ddl));
        }
        if let Statement::Copy {
            source,
            to,
            target,
            options,
            legacy_options,
            ..
        } = statement
        {
            return self
                .prepare_copy(ctx, source, to, target, &options, &legacy_options)
                .await;
        }
        let mut statement = statement;
        gapfill::positional_arguments(&mut statement)?;
        asof::rewrite_joins(&mut statement)?;
        match &statement {
            Statement::Query(_) | Statement::Insert(_) | Statement::Explain { .. } => {}
            other => {
                return Err(Error::Unsupported {
                    what: statement_kind(other),
                });
            }
        }
        let state = ctx.state();
        let statement = DfStatement::Statement(Box::new(statement));
        let current = state.config_options().catalog.default_catalog.clone();
        for reference in state.resolve_table_references(&statement)? {
            if let TableReference::Bare { table } = &reference
                && state.table_functions().contains_key(table.as_ref())
            {
                continue;
            }
            // As in PostgreSQL, a session sees only its own database (and so
            // CONNECT governs what a role may read).
            if reference
                .catalog()
                .is_some_and(|catalog| catalog != current)
            {
                return Err(Error::CrossDatabase {
                    name: reference.to_string(),
                });
            }
            let exists = match state.schema_for_ref(reference.clone()) {
                Ok(schema) => schema.table_exist(reference.table()),
                Err(_) => false,
            };
            if !exists {
                return Err(Error::UndefinedTable {
                    name: reference.to_string(),
                });
            }
        }
        let plan = state.statement_to_plan(statement.clone()).await?;
        let DfStatement::Statement(ast) = &statement else {
            return Err(Error::Unsupported {
                what: "this statement".into(),
            });
        };
        let names = column_names::postgres_names(ast, plan.schema().fields().len());
        let insert_columns = match ast.as_ref() {
            Statement::Insert(insert) => insert
                .columns
                .iter()
                .filter_map(|c| c.0.last().and_then(|p| p.as_ident()).map(ddl::normalize))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Prepared::Plan {
            plan,
            names,
            insert_columns,
        })
    }

    /// Plans `COPY`: from STDIN into a table, or to STDOUT from a table or a
    /// query. Files and programs on the server are not offered.
    async fn prepare_copy(
        &self,
        ctx: &SessionContext,
        source: CopySource,
        to: bool,
        target: CopyTarget,
        options: &[CopyOption],
        legacy_options: &[CopyLegacyOption],
    ) -> Result<Prepared> {
        let options = CopyOptions::parse(options, legacy_options)?;
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
                let (namespace, table) = self.copy_table(ctx, &table_name)?;
                let schema = table.schema();
                let indices = if columns.is_empty() {
                    (0..schema.columns().len()).collect()
                } else {
                    columns
                        .iter()
                        .map(|c| {
                            let name = ddl::normalize(c);
                            schema
                                .columns()
                                .iter()
                                .position(|s| s.name == name)
                                .ok_or(Error::UndefinedColumn { name })
                        })
                        .collect::<Result<Vec<_>>>()?
                };
                if !to {
                    return Ok(Prepared::CopyFrom(CopyFrom {
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
        let query = Box::pin(self.prepare(ctx, query)).await?;
        Ok(Prepared::CopyTo {
            query: Box::new(query),
            options,
        })
    }

    /// The storage table `name` names, in the session's database, and its schema.
    fn copy_table(
        &self,
        ctx: &SessionContext,
        name: &ObjectName,
    ) -> Result<(Arc<storage::Namespace>, Arc<storage::Table>)> {
        let options = ctx.state().config().options().catalog.clone();
        let (schema, table) =
            ddl::qualified(name, &options.default_catalog, &options.default_schema)?;
        let namespace = self
            .storage
            .database(&options.default_catalog)
            .and_then(|db| db.schema(&schema));
        namespace
            .and_then(|namespace| Some((namespace.clone(), namespace.table(&table)?)))
            .ok_or_else(|| Error::UndefinedTable {
                name: name.to_string(),
            })
    }

    /// Runs a prepared statement. `params` binds `$1..$n`.
    pub async fn execute(
        &self,
        ctx: &SessionContext,
        prepared: &Prepared,
        params: Option<ParamValues>,
    ) -> Result<Output> {
        match prepared {
            Prepared::Ddl(ddl) => {
                access::require_superuser(&self.storage, ctx, || {
                    let catalog = ctx.state().config_options().catalog.clone();
                    ddl.denied_message(&catalog.default_catalog, &catalog.default_schema)
                })?;
                ddl.execute(&self.storage, ctx).await
            }
            Prepared::Dcl(dcl) => dcl.execute(&self.storage, ctx).await,
            Prepared::CopyFrom(copy) => {
                access::check_copy_from(&self.storage, ctx, &copy.namespace, &copy.table)?;
                Ok(Output::CopyIn {
                    writer: Box::new(copy.start(ctx.state().config().get_extension())),
                    options: copy.options().clone(),
                    columns: copy.column_count(),
                })
            }
            Prepared::CopyTo { query, options } => {
                match Box::pin(self.execute(ctx, query, params)).await? {
                    Output::Rows(rows) => Ok(Output::CopyOut {
                        rows,
                        options: options.clone(),
                    }),
                    _ => Err(Error::Unsupported {
                        what: "COPY of a statement that returns no rows".into(),
                    }),
                }
            }
            Prepared::Plan {
                plan,
                names,
                insert_columns,
            } => {
                access::check_plan(&self.storage, ctx, plan)?;
                let mut plan = plan.clone();
                if let Some(params) = params {
                    plan = plan.replace_params_with_values(&params)?;
                }
                let insert = is_insert(&plan);
                let target = match &plan {
                    LogicalPlan::Dml(dml) => Some(InsertTarget {
                        table: dml.table_name.table().to_owned(),
                        schema: dml.target.schema(),
                        columns: insert_columns.clone(),
                        input_names: dml
                            .input
                            .schema()
                            .fields()
                            .iter()
                            .map(|f| f.name().clone())
                            .collect(),
                    }),
                    _ => None,
                };
                let frame = ctx.execute_logical_plan(plan).await?;
                if insert {
                    let batches = frame.collect().await.map_err(|e| match &target {
                        Some(target) => target
                            .not_null_violation(&e)
                            .unwrap_or(Error::DataFusion(e)),
                        None => Error::DataFusion(e),
                    })?;
                    let rows = batches
                        .iter()
                        .filter_map(|b| b.column(0).as_primitive_opt::<UInt64Type>())
                        .flat_map(|counts| counts.iter().flatten())
                        .sum();
                    Ok(Output::Command {
                        tag: "INSERT",
                        rows: Some(rows),
                    })
                } else {
                    let stream = frame.execute_stream().await?;
                    if names.is_none() {
                        return Ok(Output::Rows(stream));
                    }
                    let schema = renamed(&stream.schema(), names.as_deref());
                    let output_schema = schema.clone();
                    let stream = stream.map(move |batch| {
                        let batch = batch?;
                        Ok(RecordBatch::try_new(
                            output_schema.clone(),
                            batch.columns().to_vec(),
                        )?)
                    });
                    Ok(Output::Rows(Box::pin(RecordBatchStreamAdapter::new(
                        schema, stream,
                    ))))
                }
            }
        }
    }
}

/// The table an `INSERT` writes to, for reporting NOT NULL violations.
struct InsertTarget {
    table: String,
    schema: SchemaRef,
    /// The column list of `INSERT INTO t (a, b)`; empty without one.
    columns: Vec<String>,
    /// Column names of the insert's input, in table-column order.
    input_names: Vec<String>,
}

impl InsertTarget {
    /// Arrow rejects a NULL in a non-nullable column before our write path sees
    /// it, naming the column by its table position, or by its name in the input
    /// (`columnN` for the N-th VALUES column). Report it as PostgreSQL does,
    /// naming the table column.
    fn not_null_violation(&self, error: &DataFusionError) -> Option<Error> {
        let message = error.find_root().to_string();
        let table_column = |index: usize| self.schema.fields().get(index).map(|f| f.name().clone());
        let column = if let Some(rest) = message.split("Invalid batch column at '").nth(1) {
            let (index, tail) = rest.split_once('\'')?;
            tail.contains("non-nullable").then_some(())?;
            table_column(index.parse().ok()?)?
        } else {
            let rest = message.split("Column '").nth(1)?;
            let (name, tail) = rest.split_once('\'')?;
            tail.contains("non-nullable").then_some(())?;
            let values_index = name
                .strip_prefix("column")
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1));
            match values_index {
                Some(i) if !self.columns.is_empty() => self.columns.get(i)?.clone(),
                Some(i) => table_column(i)?,
                None if self.schema.field_with_name(name).is_ok() => name.to_owned(),
                None => table_column(self.input_names.iter().position(|n| n == name)?)?,
            }
        };
        Some(Error::Storage(storage::Error::NotNullViolation {
            table: self.table.clone(),
            column,
        }))
    }
}

/// The SQL keyword(s) naming a statement, for "not supported" errors.
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second] if matches!(*first, "CREATE" | "DROP" | "ALTER") => {
            format!("{first} {second}")
        }
        [first, ..] => (*first).to_owned(),
        [] => "this statement".to_owned(),
    }
}
