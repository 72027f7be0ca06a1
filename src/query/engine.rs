//! The engine: one base DataFusion state built at start-up, a context per
//! session derived from it, and the planning and running of statements.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, SchemaRef, UInt64Type};
use datafusion::common::ParamValues;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{SchemaError, TableReference};
use datafusion::datasource::source_as_provider;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::{Analyzer, AnalyzerRule, Optimizer};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, CreateView, Expr as SqlExpr, FromTable, ObjectNamePart, OnInsert, SelectItem,
    Statement, TableFactor, TableObject, visit_expressions_mut,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables;
use datafusion_pg_catalog::pg_catalog::generate_series_arg_coercion::CoerceIntArgsToBigInt;

use super::commands::access::{self, Dcl, Principal};
use super::commands::copy::{self, CopyPlan};
use super::commands::create_as::CreateAs;
use super::commands::ddl::Ddl;
use super::commands::ingest::{self, LineWrite, LineWriteOutcome};
use super::commands::names::{self, normalize};
use super::commands::retention;
use super::commands::sequences::{self, SessionSequences};
use super::commands::subscribe::{self, SubscribeOptions};
use super::commands::transaction::PendingWrites;
use super::commands::upsert::OnConflict;
use super::commands::views::{self, ViewStatement};
use super::datasource::aggregate_exec::StorageAggregates;
use super::datasource::catalog::StorageCatalogList;
use super::datasource::table::{ReturnedRows, SeriesTableProvider};
use super::error::{Error, Result};
use super::heavy;
use super::output::Output;
use super::pg::insert_source::{self, InsertSource};
use super::pg::int_literals::narrow_int_literals;
use super::pg::keys_catalog::{ColumnFact, KeyDefinition};
use super::pg::relation_oids::{TableIsVisible, ViewDefinition};
use super::pg::semantics::PgSemantics;
use super::pg::sum::bigint_sums_as_numeric;
use super::pg::zone_tags::{MicrosecondSeries, UnifyZoneTags, UtcTimestampTypes};
use super::pg::{
    at_time_zone, in_lists, insert_columns, lateral, numeric, pattern_match, placeholders,
    query_forms, set_comparison, set_operations, srf_columns, text_in, varchar_cast,
};
use super::pg::{column_names, date_arithmetic, date_fields, functions, json, make_interval};
use super::planner::EpochQueryPlanner;
use super::prepared::{PlannedQuery, Prepared, dml_tag, is_insert, renamed};
use super::timeseries::{self, AsofRule, GapFillRule, LatestPerSeries};
use crate::storage::{self, ColumnFill, Storage};

/// Settings of the query layer.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// Parallelism of scans and operators.
    pub target_partitions: usize,
    /// Memory one session's query may hold in operators; `None` for no limit.
    pub memory_limit: Option<usize>,
    /// How many rows may wait for a subscriber before it is cut off.
    pub subscribe_queue_rows: usize,
}

/// How many rows may wait for a subscriber, by default.
pub const DEFAULT_SUBSCRIBE_QUEUE_ROWS: usize = 1_000_000;

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_limit: None,
            subscribe_queue_rows: DEFAULT_SUBSCRIBE_QUEUE_ROWS,
        }
    }
}

/// DataFusion's refusal of two output columns of one name, which
/// PostgreSQL allows.
fn duplicate_output_name(error: &DataFusionError) -> bool {
    match error.find_root() {
        DataFusionError::Plan(message) => message.contains("require unique expression names"),
        DataFusionError::SchemaError(error, _) => {
            matches!(**error, SchemaError::DuplicateUnqualifiedField { .. })
        }
        _ => false,
    }
}

/// Plans and executes SQL over storage. Shared by all sessions.
#[derive(Debug)]
pub struct QueryEngine {
    storage: Arc<Storage>,
    catalogs: Arc<StorageCatalogList>,
    base: SessionState,
    memory_limit: Option<usize>,
    subscribe_queue_rows: usize,
}

impl QueryEngine {
    pub fn try_new(storage: Arc<Storage>, config: &QueryConfig) -> Result<Self> {
        let pg_static_tables = Arc::new(PgCatalogStaticTables::try_new()?);
        let catalogs = Arc::new(StorageCatalogList::new(
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
        options.sql_parser.parse_float_as_decimal = true;
        // Scans report an upper bound of their rows (`SeriesScanExec`), so
        // a small one is not spread over partitions only to be merged again.
        options
            .execution
            .use_row_number_estimates_to_optimize_partitioning = true;

        let mut builder = SessionStateBuilder::new()
            .with_config(session_config)
            .with_catalog_list(catalogs.clone())
            .with_default_features()
            .with_type_planner(Arc::new(UtcTimestampTypes::default()))
            .with_optimizer_rules(in_lists::around_simplification(Optimizer::new().rules))
            .with_physical_optimizer_rule(Arc::new(StorageAggregates))
            .with_physical_optimizer_rule(Arc::new(LatestPerSeries))
            .with_analyzer_rules(
                std::iter::once(Arc::new(UnifyZoneTags) as Arc<dyn AnalyzerRule + Send + Sync>)
                    .chain(Analyzer::new().rules)
                    .collect(),
            )
            .with_analyzer_rule(Arc::new(GapFillRule))
            .with_analyzer_rule(Arc::new(AsofRule))
            .with_analyzer_rule(Arc::new(PgSemantics))
            .with_query_planner(Arc::new(EpochQueryPlanner));
        // Ahead of DataFusion's planners, which claim every subscript.
        builder
            .expr_planners()
            .get_or_insert_default()
            .insert(0, Arc::new(functions::VectorSubscripts));
        builder
            .expr_planners()
            .get_or_insert_default()
            .insert(0, Arc::new(date_arithmetic::DateArithmetic));
        builder
            .expr_planners()
            .get_or_insert_default()
            .insert(0, Arc::new(json::JsonOperators));
        let state = builder.build();
        // The pg-catalog helpers are written against a SessionContext; apply them
        // once to the base state.
        let ctx = SessionContext::new_with_state(state);
        functions::register(&ctx, &pg_static_tables);
        timeseries::register(&ctx);
        functions::register_date_trunc_zone(&ctx);
        CoerceIntArgsToBigInt::widen(&ctx);
        MicrosecondSeries::wrap(&ctx);
        Ok(Self {
            storage,
            catalogs,
            base: ctx.state(),
            memory_limit: config.memory_limit,
            subscribe_queue_rows: config.subscribe_queue_rows,
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

    /// Writes line protocol as `principal`; returns once the rows it wrote
    /// are durable. Lines it refuses are in the outcome; the request fails
    /// as a whole only when it may not write or the database is missing.
    pub async fn write_lines(
        &self,
        principal: &Principal,
        write: &LineWrite<'_>,
    ) -> Result<LineWriteOutcome> {
        ingest::write_lines(&self.storage, principal, write).await
    }

    /// `CREATE DATABASE IF NOT EXISTS name` as `principal`, for clients
    /// that send it outside SQL (InfluxDB's `/query`). Returns whether it
    /// created the database, once that is durable. Only superusers create
    /// databases; anyone may be told that one exists.
    pub async fn create_database(&self, principal: &Principal, name: &str) -> Result<bool> {
        if self.storage.database(name).is_some() {
            return Ok(false);
        }
        if !principal.is_superuser(&self.storage) {
            return Err(Error::PermissionDenied {
                message: "permission denied to create database".into(),
                detail: None,
            });
        }
        Ok(self.storage.create_database(name, true)?.durable().await?)
    }

    /// A live subscription for a client outside SQL sessions (NSDb's
    /// WebSocket): `query`, one `SELECT` in PostgreSQL's SQL, run as
    /// `principal` in `database` with `schema` as the current schema, and
    /// streamed as `SUBSCRIBE ... WITH (PROGRESS)` streams it (the first
    /// progress row ends the snapshot).
    pub async fn subscribe(
        &self,
        principal: Arc<Principal>,
        database: &str,
        schema: &str,
        query: &str,
    ) -> Result<SendableRecordBatchStream> {
        self.check_connect(&principal, database)?;
        let ctx = self.new_context(database, Arc::default(), principal)?;
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .catalog
            .default_schema = schema.to_owned();
        let mut statements =
            Parser::parse_sql(&super::pg::dialect::PostgresDialect::default(), query).map_err(
                |e| Error::SyntaxError {
                    message: e.to_string(),
                },
            )?;
        let (Some(statement @ Statement::Query(_)), true) =
            (statements.pop(), statements.is_empty())
        else {
            return Err(Error::Unsupported {
                what: "a subscription to anything but one SELECT".into(),
            });
        };
        let query = match self.prepare(&ctx, statement).await? {
            Prepared::Plan(query) if dml_tag(&query.plan).is_none() => query,
            _ => {
                return Err(Error::Unsupported {
                    what: "a subscription to anything but one SELECT".into(),
                });
            }
        };
        let options = SubscribeOptions {
            progress: true,
            ..SubscribeOptions::default()
        };
        match self
            .execute(&ctx, &Prepared::Subscribe { query, options }, None)
            .await?
        {
            Output::Rows(rows) => Ok(rows),
            _ => Err(Error::Unsupported {
                what: "a subscription that returns no rows".into(),
            }),
        }
    }

    /// The time column and the tag columns of `table` in `database`'s
    /// `schema`, by name; `None` when there is no such table.
    pub fn column_roles(
        &self,
        database: &str,
        schema: &str,
        table: &str,
    ) -> Option<(Option<String>, Vec<String>)> {
        let table = self
            .storage
            .database(database)?
            .schema(schema)?
            .table(table)?;
        let columns = table.schema().columns();
        let time = table.schema().time_column().map(|c| c.name.clone());
        let tags = (table.schema().tag_indices().iter())
            .filter_map(|&i| columns.get(i).map(|c| c.name.clone()))
            .collect();
        Some((time, tags))
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
        let sequences = Arc::new(SessionSequences::default());
        let insert_source = Arc::new(InsertSource::default());
        let returned = Arc::new(ReturnedRows::default());
        let config = self
            .base
            .config()
            .clone()
            .with_default_catalog_and_schema(database, storage::DEFAULT_SCHEMA)
            .with_extension(pending)
            .with_extension(principal.clone())
            .with_extension(sequences.clone())
            .with_extension(returned)
            .with_extension(insert_source.clone());
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
        if let Some(db) = self.storage.database(database) {
            let oids = self.catalogs.relation_oids(&db)?;
            ctx.register_udf(ViewDefinition::udf(db.clone(), oids.clone()));
            for udf in KeyDefinition::udfs(db.clone(), oids.clone()) {
                ctx.register_udf(udf);
            }
            for udf in ColumnFact::udfs(db) {
                ctx.register_udf(udf);
            }
            ctx.register_udf(TableIsVisible::udf(oids));
        }
        for udf in retention::udfs(self.storage.clone(), principal.clone()) {
            ctx.register_udf(udf);
        }
        for udf in sequences::udfs(self.storage.clone(), principal, sequences) {
            ctx.register_udf(udf);
        }
        ctx.register_udtf(insert_source::INSERT_SOURCE, insert_source);
        Ok(ctx)
    }

    /// Plans a statement. Table references are checked first, so an unknown
    /// table is reported as such rather than as a planning failure.
    pub async fn prepare(&self, ctx: &SessionContext, statement: Statement) -> Result<Prepared> {
        self.prepare_with_types(ctx, statement, &[]).await
    }

    /// Plans a statement whose parameters have the types the client
    /// declared (`None`: infer it from the statement, as PostgreSQL does
    /// for an unspecified type).
    pub async fn prepare_with_types(
        &self,
        ctx: &SessionContext,
        statement: Statement,
        declared: &[Option<DataType>],
    ) -> Result<Prepared> {
        let heavy = heavy::is_heavy(&statement);
        heavy::run(heavy, self.plan(ctx, statement, declared, heavy)).await
    }

    async fn plan(
        &self,
        ctx: &SessionContext,
        statement: Statement,
        declared: &[Option<DataType>],
        heavy: bool,
    ) -> Result<Prepared> {
        if let Statement::CreateView(create) = statement {
            return Box::pin(self.plan_create_view(ctx, create, heavy)).await;
        }
        let mut statement = statement;
        if let Some(create_as) = CreateAs::from_statement(&mut statement)? {
            return Box::pin(self.plan_create_as(ctx, create_as, heavy)).await;
        }
        if let Some(dcl) = Dcl::from_statement(&statement)? {
            return Ok(Prepared::Dcl(dcl));
        }
        if let Some(ddl) = Ddl::from_statement(&statement)? {
            return Ok(Prepared::Ddl(ddl));
        }
        if matches!(statement, Statement::Copy { .. }) {
            return self.prepare_copy(ctx, statement).await;
        }
        if let Some((query, options)) = subscribe::take(&statement) {
            return match Box::pin(self.plan(ctx, query, declared, heavy)).await? {
                Prepared::Plan(query) if dml_tag(&query.plan).is_none() => {
                    Ok(Prepared::Subscribe { query, options })
                }
                _ => Err(Error::Unsupported {
                    what: "SUBSCRIBE to a statement that is not a query".into(),
                }),
            };
        }
        let catalog_version = self.storage.catalog_version();
        let original = Arc::new(statement.clone());
        // One copy of the session's state for the whole statement: a copy
        // clones every function registry, a cost paid per query.
        let state = ctx.state();
        // Views first: what follows sees their queries as if written here.
        {
            let catalog = &state.config_options().catalog;
            if let Some(database) = self.storage.database(&catalog.default_catalog) {
                let scope = views::Scope {
                    database: &database,
                    current_schema: &catalog.default_schema,
                };
                views::refuse_writes(&scope, &statement)?;
                views::expand(&scope, &mut statement)?;
            }
        }
        // `... RETURNING`: the change, then the returned rows planned as a
        // query over the target, which runs over the rows changed.
        let (on_conflict, insert_alias) = match &mut statement {
            Statement::Insert(insert) => match insert.on.take() {
                None => (None, None),
                Some(OnInsert::OnConflict(clause)) => (
                    Some(clause),
                    (insert.table_alias.as_ref()).map(|a| normalize(&a.alias)),
                ),
                Some(_) => {
                    return Err(Error::Unsupported {
                        what: "INSERT ... ON DUPLICATE KEY UPDATE".into(),
                    });
                }
            },
            _ => (None, None),
        };
        let returning = match returning_target(&mut statement)? {
            Some((target, items)) => {
                Some(Box::pin(self.plan_returning(ctx, target, items, declared, heavy)).await?)
            }
            None => None,
        };
        insert_columns::rewrite(&state, &mut statement).await?;
        placeholders::declare_types(&mut statement, declared);
        set_comparison::rewrite(&mut statement)?;
        set_operations::rewrite(&mut statement)?;
        at_time_zone::rewrite(&mut statement);
        pattern_match::rewrite(&mut statement)?;
        text_in::table_function_literals(&mut statement);
        make_interval::positional_arguments(&mut statement)?;
        varchar_cast::rewrite(&mut statement)?;
        numeric::rewrite(&mut statement);
        srf_columns::rewrite(&mut statement)?;
        query_forms::rewrite(&mut statement)?;
        lateral::rewrite(&mut statement);
        timeseries::positional_arguments(&mut statement)?;
        timeseries::rewrite_joins(&mut statement)?;
        match &statement {
            Statement::Query(_) | Statement::Insert(_) | Statement::Explain { .. } => {}
            Statement::Update(_) | Statement::Delete(_) => {
                refuse_dml_forms(&statement)?;
                drop_delete_alias(&mut statement)?;
            }
            other => {
                return Err(Error::Unsupported {
                    what: statement_kind(other),
                });
            }
        }
        fold_assignment_targets(&mut statement);
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
        // An `INSERT`'s source with `VALUES` nested in it: planned on its
        // own (see `insert_source`).
        let mut statement = statement;
        let source_slot = state.config().get_extension::<InsertSource>();
        if let (DfStatement::Statement(ast), Some(slot)) = (&mut statement, &source_slot)
            && let Statement::Insert(insert) = ast.as_mut()
            && insert_source::needs_own_plan(insert)
            && let Some(reading) = insert_source::reading_source()
            && let Some(source) = insert.source.replace(reading)
        {
            let query = DfStatement::Statement(Box::new(Statement::Query(source)));
            slot.set(Some(state.statement_to_plan(query).await?));
        }
        let planned = state.statement_to_plan(statement.clone()).await;
        if let Some(slot) = &source_slot {
            slot.set(None);
        }
        let plan = match planned {
            Err(error) if duplicate_output_name(&error) => {
                let mut renamed = statement.clone();
                if let DfStatement::Statement(ast) = &mut renamed
                    && column_names::distinct_output_names(ast)?
                {
                    state.statement_to_plan(renamed).await?
                } else {
                    return Err(error.into());
                }
            }
            planned => planned?,
        };
        // PostgreSQL's types, settled before the statement is described.
        let plan = bigint_sums_as_numeric(narrow_int_literals(plan)?)?;
        let plan = date_fields::truncate_dates_as_timestamptz(plan)?;
        let plan = numeric::settle_numerics(plan)?;
        let plan = lateral::hide_helper_columns(plan)?;
        let DfStatement::Statement(ast) = &statement else {
            return Err(Error::Unsupported {
                what: "this statement".into(),
            });
        };
        // Once every target is known to exist, as PostgreSQL checks it.
        refuse_repeated_assignments(ast)?;
        refuse_identity_updates(ast, &plan)?;
        // Named as PostgreSQL names them: after what the client wrote, not
        // after the rewrites above.
        let names = column_names::postgres_names(&original, plan.schema().fields().len());
        let insert_columns = match ast.as_ref() {
            Statement::Insert(insert) => insert
                .columns
                .iter()
                .filter_map(|c| c.0.last().and_then(|p| p.as_ident()).map(normalize))
                .collect(),
            _ => Vec::new(),
        };
        let on_conflict = match on_conflict {
            Some(clause) => {
                let table = match &plan {
                    LogicalPlan::Dml(dml) => source_as_provider(&dml.target)?
                        .downcast_ref::<SeriesTableProvider>()
                        .map(|t| t.table().clone()),
                    _ => None,
                };
                let Some(table) = table else {
                    return Err(Error::Unsupported {
                        what: "INSERT ... ON CONFLICT into this relation".into(),
                    });
                };
                let alias = insert_alias.unwrap_or_else(|| table.name().to_owned());
                Some(Arc::new(OnConflict::plan(&state, table, &alias, &clause)?))
            }
            None => None,
        };
        Ok(Prepared::Plan(Box::new(PlannedQuery {
            plan,
            names,
            returning,
            on_conflict,
            insert_columns,
            statement: original,
            declared: declared.into(),
            catalog_version,
            heavy,
            replanned: Arc::default(),
        })))
    }

    /// Plans `CREATE [OR REPLACE] VIEW`: its query is planned as any query,
    /// for the names and types of its columns; running it stores the view.
    async fn plan_create_view(
        &self,
        ctx: &SessionContext,
        create: CreateView,
        heavy: bool,
    ) -> Result<Prepared> {
        let state = ctx.state();
        let catalog = state.config_options().catalog.clone();
        let mut statement =
            ViewStatement::from_create(create, &catalog.default_catalog, &catalog.default_schema)?;
        let database = (self.storage.database(&catalog.default_catalog)).ok_or_else(|| {
            Error::UndefinedDatabase {
                name: catalog.default_catalog.clone(),
            }
        })?;
        views::qualify(
            &views::Scope {
                database: &database,
                current_schema: &catalog.default_schema,
            },
            &mut statement.query,
        )?;
        views::refuse_zoned_literals(
            &statement.query,
            state.config_options().execution.time_zone.as_deref(),
        )?;
        let text = statement.stored_query()?;
        let query = Statement::Query(Box::new(statement.query.clone()));
        let Prepared::Plan(planned) = Box::pin(self.plan(ctx, query, &[], heavy)).await? else {
            return Err(Error::Unsupported {
                what: "this query in a view".into(),
            });
        };
        if let Some(parameter) = planned.plan.get_parameter_types()?.keys().min() {
            return Err(Error::UndefinedParameter {
                message: format!("there is no parameter {parameter}"),
            });
        }
        let columns = (output_columns(&planned).into_iter())
            .map(|(name, field)| (name, field.data_type().clone()))
            .collect();
        let view = views::define(&database, &statement, text, columns)?;
        Ok(Prepared::Ddl(Ddl::CreateView {
            schema: statement.schema,
            view,
            or_replace: statement.or_replace,
        }))
    }

    /// What the rows a table holds take in the columns an `ALTER TABLE ...
    /// ADD COLUMN` adds, one per column: NULL without a `DEFAULT`; else the
    /// default computed once, as PostgreSQL computes one that is not
    /// volatile. When any default is volatile (`random()`, `nextval`), every
    /// defaulted column is `PerRow`, which only a table without rows takes,
    /// and nothing is run (a sequence is not advanced).
    async fn column_fills(&self, ctx: &SessionContext, ddl: &Ddl) -> Result<Vec<ColumnFill>> {
        let internal = |what: &str| Error::DataFusion(DataFusionError::Internal(what.into()));
        let Some((query, defaulted)) = ddl.fill_query(&self.storage, ctx)? else {
            return Ok(Vec::new());
        };
        let prepared = Box::pin(self.prepare(ctx, query)).await?;
        let Prepared::Plan(planned) = &prepared else {
            return Err(internal("a column default planned as no query"));
        };
        let volatile = planned
            .plan
            .exists(|node| Ok(node.expressions().iter().any(|e| e.is_volatile())))?;
        let mut values = Vec::new();
        if !volatile {
            let Output::Rows(stream) = Box::pin(self.execute(ctx, &prepared, None)).await? else {
                return Err(internal("a column default ran as no query"));
            };
            let batches = datafusion::physical_plan::common::collect(stream).await?;
            let batch = (batches.iter().find(|b| b.num_rows() > 0))
                .ok_or_else(|| internal("a column default computed no row"))?;
            values = batch.columns().iter().map(|c| c.slice(0, 1)).collect();
        }
        let mut values = values.into_iter();
        let mut fills = Vec::with_capacity(defaulted.len());
        for (has_default, (column, _)) in defaulted.into_iter().zip(ddl.added_columns()) {
            fills.push(match (has_default, volatile) {
                (false, _) => ColumnFill::Null,
                (true, true) => ColumnFill::PerRow,
                (true, false) => {
                    let value = values
                        .next()
                        .ok_or_else(|| internal("a column default computed no value"))?;
                    let arrow_type = column.column_type.arrow_type();
                    let value = match value.data_type() == &arrow_type {
                        true => value,
                        false => cast(&value, &arrow_type).map_err(DataFusionError::from)?,
                    };
                    ColumnFill::Value(value)
                }
            });
        }
        Ok(fills)
    }

    /// Plans `CREATE TABLE ... AS` and `SELECT ... INTO`: the query is
    /// planned as any query, for the table's columns.
    async fn plan_create_as(
        &self,
        ctx: &SessionContext,
        create_as: CreateAs,
        heavy: bool,
    ) -> Result<Prepared> {
        let query = Statement::Query(create_as.query.clone());
        let planned = Box::pin(self.plan(ctx, query, &[], heavy)).await?;
        let Prepared::Plan(planned) = planned else {
            return Err(Error::Unsupported {
                what: "this query in CREATE TABLE ... AS".into(),
            });
        };
        if !planned.plan.get_parameter_types()?.is_empty() {
            return Err(Error::Unsupported {
                what: "parameters in CREATE TABLE ... AS".into(),
            });
        }
        Ok(Prepared::CreateTableAs {
            table: create_as.table(output_columns(&planned))?,
            insert: create_as.insert()?.map(Box::new),
            if_not_exists: create_as.if_not_exists(),
        })
    }

    /// Runs `CREATE TABLE ... AS`: the table is made, then filled; when
    /// filling it fails, it is dropped again. Inside a transaction block
    /// the table is made at once, as any DDL there is, and its rows are
    /// the block's until `COMMIT`, as an `INSERT`'s are.
    async fn create_as(
        &self,
        ctx: &SessionContext,
        table: &Ddl,
        insert: Option<&Statement>,
        if_not_exists: bool,
    ) -> Result<Output> {
        let state = ctx.state();
        let Ddl::CreateTable { name, .. } = table else {
            return Err(Error::Unsupported {
                what: "CREATE TABLE ... AS".into(),
            });
        };
        let catalog = state.config_options().catalog.clone();
        let (schema, relation) =
            names::qualified(name, &catalog.default_catalog, &catalog.default_schema)?;
        let exists = (self.storage.database(&catalog.default_catalog))
            .and_then(|db| db.schema(&schema))
            .is_some_and(|ns| {
                ns.table(&relation).is_some()
                    || ns.view(&relation).is_some()
                    || ns.sequence(&relation).is_some()
            });
        if exists {
            if if_not_exists {
                return Ok(Output::Command {
                    tag: "CREATE TABLE AS",
                    rows: None,
                });
            }
            return Err(storage::Error::TableExists { name: relation }.into());
        }
        table.execute(&self.storage, ctx).await?;
        let Some(insert) = insert else {
            return Ok(Output::Command {
                tag: "CREATE TABLE AS",
                rows: None,
            });
        };
        let filled = match Box::pin(self.prepare(ctx, insert.clone())).await {
            Ok(prepared) => Box::pin(self.execute(ctx, &prepared, None)).await,
            Err(error) => Err(error),
        };
        match filled {
            Ok(Output::Command { rows, .. }) => Ok(Output::Command {
                tag: "SELECT",
                rows,
            }),
            Ok(_) => Ok(Output::Command {
                tag: "SELECT",
                rows: Some(0),
            }),
            Err(error) => {
                let drop = Ddl::DropTables {
                    names: vec![name.clone()],
                    if_exists: true,
                    cascade: false,
                };
                if let Err(dropped) = drop.execute(&self.storage, ctx).await {
                    tracing::warn!(error = %dropped, "cannot drop a table CREATE TABLE AS left");
                }
                Err(error)
            }
        }
    }

    /// The rows `... RETURNING items` returns, planned as `SELECT items
    /// FROM target`: at run time the scan of the target becomes a scan of
    /// the rows the statement wrote (or, for a `DELETE`, removed).
    async fn plan_returning(
        &self,
        ctx: &SessionContext,
        target: String,
        items: Vec<SelectItem>,
        declared: &[Option<DataType>],
        heavy: bool,
    ) -> Result<Box<PlannedQuery>> {
        let items: Vec<String> = items.iter().map(ToString::to_string).collect();
        let sql = format!("SELECT {} FROM {target}", items.join(", "));
        let select = Parser::new(&super::pg::dialect::PostgresDialect::default())
            .try_with_sql(&sql)
            .and_then(|mut parser| parser.parse_statement())
            .map_err(|e| Error::Unsupported {
                what: format!("this RETURNING list ({e})"),
            })?;
        match Box::pin(self.plan(ctx, select, declared, heavy)).await? {
            Prepared::Plan(planned) => Ok(planned),
            _ => Err(Error::Unsupported {
                what: "this RETURNING list".into(),
            }),
        }
    }

    /// `planned`, or the plan made again if the catalog has changed since.
    /// As in PostgreSQL, a plan made again must return the same types.
    async fn current_plan(
        &self,
        ctx: &SessionContext,
        planned: &PlannedQuery,
    ) -> Result<PlannedQuery> {
        let version = self.storage.catalog_version();
        if planned.catalog_version == version {
            return Ok(planned.clone());
        }
        if let Some(again) = planned.replanned.lock().as_ref()
            && again.catalog_version == version
        {
            return Ok(again.clone());
        }
        let statement = planned.statement.as_ref().clone();
        let again =
            match Box::pin(self.prepare_with_types(ctx, statement, &planned.declared)).await? {
                Prepared::Plan(again) => *again,
                _ => {
                    return Err(Error::Unsupported {
                        what: "a prepared statement that is no longer a query".into(),
                    });
                }
            };
        if again.output_types() != planned.output_types() {
            return Err(Error::CachedPlanChanged);
        }
        *planned.replanned.lock() = Some(again.clone());
        Ok(again)
    }

    /// Plans `COPY`: from STDIN into a table, or to STDOUT from a table or a
    /// query, whose rows are planned as any query's.
    async fn prepare_copy(&self, ctx: &SessionContext, statement: Statement) -> Result<Prepared> {
        match copy::plan(&self.storage, ctx, statement)? {
            CopyPlan::From(copy) => Ok(Prepared::CopyFrom(copy)),
            CopyPlan::To { query, options } => {
                let query = Box::pin(self.prepare(ctx, *query)).await?;
                Ok(Prepared::CopyTo {
                    query: Box::new(query),
                    options,
                })
            }
        }
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
                let fills = Box::pin(self.column_fills(ctx, ddl)).await?;
                ddl.execute_filled(&self.storage, ctx, &fills).await
            }
            Prepared::Dcl(dcl) => dcl.execute(&self.storage, ctx).await,
            Prepared::CreateTableAs {
                table,
                insert,
                if_not_exists,
            } => {
                access::require_superuser(&self.storage, ctx, || {
                    let catalog = ctx.state().config_options().catalog.clone();
                    table.denied_message(&catalog.default_catalog, &catalog.default_schema)
                })?;
                self.create_as(ctx, table, insert.as_deref(), *if_not_exists)
                    .await
            }
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
            Prepared::Plan(planned) => {
                heavy::run(planned.heavy, self.run_plan(ctx, planned, params)).await
            }
            Prepared::Subscribe { query, options } => {
                let planned = self.current_plan(ctx, query).await?;
                access::check_plan(&self.storage, ctx, &planned.plan)?;
                let mut plan = planned.plan.clone();
                if let Some(params) = &params {
                    plan = numeric::unconstrained_parameters(plan)?
                        .replace_params_with_values(params)?;
                }
                // The columns as bound: a parameter has its value's type.
                let columns = renamed(plan.schema().inner(), planned.names.as_deref());
                let schema = subscribe::output_schema(&columns, *options);
                let rows = subscribe::start(
                    &ctx.state(),
                    &plan,
                    schema,
                    *options,
                    self.subscribe_queue_rows,
                )?;
                Ok(Output::Rows(rows))
            }
        }
    }

    /// Runs a planned query: made again if the catalog has changed, then
    /// optimized and started (DML runs to its end).
    async fn run_plan(
        &self,
        ctx: &SessionContext,
        planned: &PlannedQuery,
        params: Option<ParamValues>,
    ) -> Result<Output> {
        let PlannedQuery {
            plan,
            names,
            insert_columns,
            returning,
            on_conflict,
            ..
        } = &self.current_plan(ctx, planned).await?;
        access::check_plan(&self.storage, ctx, plan)?;
        let mut plan = plan.clone();
        if let Some(params) = &params {
            plan = numeric::unconstrained_parameters(plan)?.replace_params_with_values(params)?;
        }
        if let (Some(on_conflict), LogicalPlan::Dml(dml)) = (on_conflict, &plan) {
            if on_conflict.updates() {
                access::require_superuser(&self.storage, ctx, || {
                    format!("permission denied for table {}", dml.table_name.table())
                })?;
            }
            let input = ctx.execute_logical_plan(dml.input.as_ref().clone()).await?;
            let pending = ctx.state().config().get_extension::<PendingWrites>();
            let upserted = on_conflict
                .run(&ctx.state(), pending, input.collect().await?)
                .await?;
            if let Some(sequences) = ctx.state().config().get_extension::<SessionSequences>() {
                sequences.durable().await?;
            }
            if let Some(returning) = returning {
                return returned_rows(ctx, returning, params.as_ref(), upserted.rows, "INSERT")
                    .await;
            }
            return Ok(Output::Command {
                tag: "INSERT",
                rows: Some(upserted.count as u64),
            });
        }
        let returned = match returning {
            Some(_) => ctx.state().config().get_extension::<ReturnedRows>(),
            None => None,
        };
        if let Some(returned) = &returned {
            returned.capture();
        }
        let insert = is_insert(&plan);
        let dml_tag = dml_tag(&plan);
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
        let write_error = |e: DataFusionError| match &target {
            Some(target) if insert => target
                .not_null_violation(&e)
                .unwrap_or(Error::DataFusion(e)),
            _ => Error::DataFusion(e),
        };
        let frame = ctx.execute_logical_plan(plan).await;
        if let (Some(returning), Some(returned)) = (returning, &returned) {
            // The insert runs to its end first, as any other.
            let collected = match frame {
                Ok(frame) => frame.collect().await.map_err(write_error),
                Err(e) => Err(e.into()),
            };
            let rows = returned.take();
            collected?;
            if let Some(sequences) = ctx.state().config().get_extension::<SessionSequences>() {
                sequences.durable().await?;
            }
            let tag = dml_tag.unwrap_or("INSERT");
            return returned_rows(ctx, returning, params.as_ref(), rows, tag).await;
        }
        let frame = frame?;
        if let Some(tag) = dml_tag {
            let batches = frame.collect().await.map_err(write_error)?;
            let rows = batches
                .iter()
                .filter_map(|b| b.column(0).as_primitive_opt::<UInt64Type>())
                .flat_map(|counts| counts.iter().flatten())
                .sum();
            if let Some(sequences) = ctx.state().config().get_extension::<SessionSequences>() {
                sequences.durable().await?;
            }
            Ok(Output::Command {
                tag,
                rows: Some(rows),
            })
        } else {
            let stream = frame.execute_stream().await?;
            let sequences = ctx.state_ref().read().config().get_extension();
            let stream = match sequences {
                Some(sequences) => sequences::durable_at_end(stream, sequences),
                None => stream,
            };
            if names.is_none() {
                return Ok(Output::Rows(stream));
            }
            // Only the names differ, which DataFusion's own schema
            // cannot hold when two are equal (`SELECT x, x`): the
            // stream reports PostgreSQL's, and its batches pass
            // through as DataFusion made them.
            let schema = renamed(&stream.schema(), names.as_deref());
            Ok(Output::Rows(Box::pin(RecordBatchStreamAdapter::new(
                schema, stream,
            ))))
        }
    }
}

/// The columns a planned query returns: PostgreSQL's names, and types.
fn output_columns(planned: &PlannedQuery) -> Vec<(String, FieldRef)> {
    let fields = planned.plan.schema().fields();
    (fields.iter().enumerate())
        .map(|(i, field)| {
            let name = (planned.names.as_ref())
                .and_then(|names| names.get(i).cloned().flatten())
                .unwrap_or_else(|| field.name().clone());
            (name, field.clone())
        })
        .collect()
}

/// The rows `... RETURNING` returns: its query, run over `rows` (what the
/// statement wrote or removed) in place of the target's scan.
async fn returned_rows(
    ctx: &SessionContext,
    returning: &PlannedQuery,
    params: Option<&ParamValues>,
    rows: Vec<RecordBatch>,
    tag: &'static str,
) -> Result<Output> {
    let mut plan = returning.plan.clone();
    if let Some(params) = params {
        plan = numeric::unconstrained_parameters(plan)?.replace_params_with_values(params)?;
    }
    let plan = ReturnedRows::scan_of(plan, rows)?;
    let stream = ctx
        .execute_logical_plan(plan)
        .await?
        .execute_stream()
        .await?;
    let schema = renamed(&stream.schema(), returning.names.as_deref());
    Ok(Output::Returning {
        tag,
        rows: Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
    })
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

/// The forms of `UPDATE` and `DELETE` that are not run (0A000) rather than
/// run differently: reading other tables, returning rows, or limited.
/// Folds the unquoted columns `UPDATE ... SET` assigns to lower case, as
/// PostgreSQL folds every identifier: DataFusion reads them as written.
fn fold_assignment_targets(statement: &mut Statement) {
    let Statement::Update(update) = statement else {
        return;
    };
    for assignment in &mut update.assignments {
        if let AssignmentTarget::ColumnName(name) = &mut assignment.target
            && let Some(ObjectNamePart::Identifier(ident)) = name.0.last_mut()
            && ident.quote_style.is_none()
        {
            ident.value = ident.value.to_lowercase();
        }
    }
}

/// `UPDATE t SET v = 1, v = 2` is an error in PostgreSQL; DataFusion
/// would keep the last value.
fn refuse_repeated_assignments(statement: &Statement) -> Result<()> {
    let Statement::Update(update) = statement else {
        return Ok(());
    };
    let mut seen = std::collections::HashSet::new();
    for assignment in &update.assignments {
        let AssignmentTarget::ColumnName(name) = &assignment.target else {
            continue;
        };
        let Some(column) = name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(normalize)
        else {
            continue;
        };
        if !seen.insert(column.clone()) {
            return Err(Error::MultipleAssignments { column });
        }
    }
    Ok(())
}

/// Takes the `RETURNING` list off an `INSERT`, `UPDATE` or `DELETE`, with
/// the target it reads (`table [AS alias]`).
fn returning_target(statement: &mut Statement) -> Result<Option<(String, Vec<SelectItem>)>> {
    let table = |relation: &TableFactor| match relation {
        TableFactor::Table { name, alias, .. } => Ok(match alias {
            Some(alias) => format!("{name} AS {}", alias.name),
            None => name.to_string(),
        }),
        _ => Err(Error::Unsupported {
            what: "RETURNING from this relation".into(),
        }),
    };
    match statement {
        Statement::Insert(insert) => {
            // The alias names the target only for RETURNING and ON
            // CONFLICT; DataFusion takes none.
            let alias = insert.table_alias.take();
            let Some(items) = insert.returning.take() else {
                return Ok(None);
            };
            let TableObject::TableName(name) = &insert.table else {
                return Err(Error::Unsupported {
                    what: "INSERT ... RETURNING into a table function".into(),
                });
            };
            let target = match alias {
                Some(alias) => format!("{name} AS {}", alias.alias),
                None => name.to_string(),
            };
            Ok(Some((target, items)))
        }
        Statement::Update(update) => match update.returning.take() {
            Some(items) => Ok(Some((table(&update.table.relation)?, items))),
            None => Ok(None),
        },
        Statement::Delete(delete) => {
            let Some(items) = delete.returning.take() else {
                return Ok(None);
            };
            let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) =
                &delete.from;
            match tables.as_slice() {
                [one] => Ok(Some((table(&one.relation)?, items))),
                _ => Err(Error::Unsupported {
                    what: "DELETE ... USING".into(),
                }),
            }
        }
        _ => Ok(None),
    }
}

/// `UPDATE t SET id = ...` of a `GENERATED ALWAYS` identity column is an
/// error in PostgreSQL (428C9).
fn refuse_identity_updates(statement: &Statement, plan: &LogicalPlan) -> Result<()> {
    let (Statement::Update(update), LogicalPlan::Dml(dml)) = (statement, plan) else {
        return Ok(());
    };
    let Ok(provider) = source_as_provider(&dml.target) else {
        return Ok(());
    };
    let Some(table) = provider.downcast_ref::<SeriesTableProvider>() else {
        return Ok(());
    };
    for assignment in &update.assignments {
        let AssignmentTarget::ColumnName(name) = &assignment.target else {
            continue;
        };
        let Some(column) = name.0.last().and_then(|part| part.as_ident()) else {
            continue;
        };
        let column = normalize(column);
        let always = (table.table().schema().columns().iter())
            .any(|c| c.name == column && c.identity == Some(storage::Identity::Always));
        if always {
            return Err(Error::GeneratedAlways {
                message: format!("column \"{column}\" can only be updated to DEFAULT"),
                column,
            });
        }
    }
    Ok(())
}

/// `DELETE FROM t AS a WHERE a.c ...` as `DELETE FROM t WHERE c ...`:
/// DataFusion plans a `DELETE` without its alias. Only one relation is in
/// scope (`USING` is refused), so a column named through the alias is the
/// table's.
fn drop_delete_alias(statement: &mut Statement) -> Result<()> {
    let Statement::Delete(delete) = statement else {
        return Ok(());
    };
    let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) = &mut delete.from;
    let [table] = tables.as_mut_slice() else {
        return Ok(());
    };
    let TableFactor::Table { alias, .. } = &mut table.relation else {
        return Ok(());
    };
    let Some(taken) = alias.take() else {
        return Ok(());
    };
    if !taken.columns.is_empty() {
        return Err(Error::Unsupported {
            what: "column aliases in DELETE".into(),
        });
    }
    let name = normalize(&taken.name);
    if let Some(selection) = &mut delete.selection {
        let _ = visit_expressions_mut(selection, |expr| {
            if let SqlExpr::CompoundIdentifier(parts) = expr
                && let [qualifier, column] = parts.as_slice()
                && normalize(qualifier) == name
            {
                *expr = SqlExpr::Identifier(column.clone());
            }
            ControlFlow::<()>::Continue(())
        });
    }
    Ok(())
}

fn refuse_dml_forms(statement: &Statement) -> Result<()> {
    let refused = match statement {
        Statement::Update(update) => {
            if update.from.is_some() || !update.table.joins.is_empty() {
                Some("UPDATE ... FROM")
            } else if !update.order_by.is_empty() || update.limit.is_some() {
                Some("UPDATE ... ORDER BY/LIMIT")
            } else {
                None
            }
        }
        Statement::Delete(delete) => {
            if delete.using.is_some() || !delete.tables.is_empty() {
                Some("DELETE ... USING")
            } else if !delete.order_by.is_empty() || delete.limit.is_some() {
                Some("DELETE ... ORDER BY/LIMIT")
            } else {
                None
            }
        }
        _ => None,
    };
    match refused {
        Some(what) => Err(Error::Unsupported { what: what.into() }),
        None => Ok(()),
    }
}
