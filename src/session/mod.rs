//! One client session: its database, its settings and its DataFusion context.
//!
//! The session turns SQL text into statements, answers the statements that are
//! about the session itself (`SET`, `SHOW`, `RESET`, transaction control) and
//! hands everything else to the query engine. It knows nothing of the wire
//! protocol: the protocol layer drives it and encodes what it returns.

mod cancel;
mod compat;
mod cursor;
mod error;
mod named;
mod output;
mod settings;
mod transaction;

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CloseCursor, ContextModifier, Declare, DeclareType, DiscardObject, Expr, Ident, Reset,
    ResetStatement, Set, Statement, Value, ValueWithSpan,
};
use datafusion::sql::sqlparser::parser::ParserError;
use futures::TryStreamExt;
use parking_lot::Mutex;
use tokio::time::Instant;

pub use cancel::Canceller;
pub use compat::STATEMENT_STACK_BYTES;
pub use cursor::Count;
pub use error::{Error, Result};
pub use output::{Output, Prepared};
pub use settings::Settings;
pub use transaction::{Notice, TransactionCommand, TransactionEffect, TransactionState};

use crate::password::Encryption;
use crate::query::{self, PendingWrites, QueryEngine};

pub use crate::query::Principal;
use cancel::Interruptible;
use cursor::Cursors;
use named::NamedStatements;
use output::show_schema;
use transaction::Transaction;

/// One client's session. Used by one connection at a time.
pub struct Session {
    engine: Arc<QueryEngine>,
    ctx: SessionContext,
    database: String,
    /// Shared with the `current_setting()` function registered on `ctx`.
    settings: Arc<Mutex<Settings>>,
    /// Warnings not yet sent to the client.
    notices: Mutex<Vec<Notice>>,
    transaction: Mutex<Transaction>,
    /// Open SQL cursors.
    cursors: Mutex<Cursors>,
    /// Statements prepared with SQL's `PREPARE`.
    named: Mutex<NamedStatements>,
    writes: Arc<PendingWrites>,
    canceller: Canceller,
    principal: Arc<Principal>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("database", &self.database)
            .field("user", &self.principal.name())
            .field("session_id", &self.ctx.session_id())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens a session of `principal` on `database`, which must exist.
    pub fn new(
        engine: Arc<QueryEngine>,
        database: &str,
        principal: Arc<Principal>,
    ) -> Result<Self> {
        if !engine.database_exists(database) {
            return Err(Error::DatabaseNotFound {
                name: database.to_owned(),
            });
        }
        engine.check_connect(&principal, database)?;
        let writes = Arc::new(PendingWrites::default());
        let ctx = engine.new_context(database, writes.clone(), principal.clone())?;
        let mut server_set = Settings::default();
        let superuser = if engine.is_superuser(&principal) {
            "on"
        } else {
            "off"
        };
        server_set.set_by_server("is_superuser", superuser.to_owned());
        server_set.set_by_server("session_authorization", principal.name().to_owned());
        let settings = Arc::new(Mutex::new(server_set));
        for udf in settings::functions::udfs(&settings) {
            ctx.register_udf(udf);
        }
        for name in compat::USER_FUNCTIONS {
            let user = ScalarValue::Utf8(Some(principal.name().to_owned()));
            let call = move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(user.clone()));
            ctx.register_udf(create_udf(
                name,
                vec![],
                DataType::Utf8,
                Volatility::Stable,
                Arc::new(call),
            ));
        }
        Ok(Self {
            engine,
            ctx,
            database: database.to_owned(),
            principal,
            settings,
            notices: Mutex::new(Vec::new()),
            transaction: Mutex::new(Transaction::new(writes.clone())),
            cursors: Mutex::new(Cursors::default()),
            named: Mutex::new(NamedStatements::default()),
            writes,
            canceller: Canceller::default(),
        })
    }

    /// Where the session stands: idle, in a transaction block, or in a failed one.
    pub fn transaction_state(&self) -> TransactionState {
        self.transaction.lock().state()
    }

    /// Records that a statement failed: a transaction block becomes failed.
    /// The session calls this for its own errors; the protocol layer calls it
    /// for errors it raises itself (binding, encoding, COPY data).
    pub fn statement_failed(&self) {
        self.transaction.lock().fail();
    }

    /// Runs the rest of a multi-statement query in one implicit transaction,
    /// as PostgreSQL does, unless a block is open (`false`): its writes are
    /// staged, its statements read them, and [`end_implicit`](Self::end_implicit)
    /// applies them all or, after an error, none.
    pub fn begin_implicit(&self) -> bool {
        let began = self.transaction.lock().begin_implicit();
        if began {
            self.settings.lock().begin();
        }
        began
    }

    /// Ends the implicit transaction of a multi-statement query.
    pub async fn end_implicit(&self) -> Result<()> {
        let commit = self.transaction.lock().end_implicit();
        self.end_block(commit);
        if commit {
            self.writes.commit().await?;
        }
        Ok(())
    }

    /// Whether `statement` controls transactions (`BEGIN`, `COMMIT`, ...),
    /// which a multi-statement query then runs as written.
    pub fn is_transaction_control(statement: &Statement) -> bool {
        transaction_command(statement).is_some()
    }

    /// The handle another connection uses to cancel this session's statement.
    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Fails with 57014 if the running statement was cancelled: for work the
    /// protocol layer drives itself, such as the data of a `COPY FROM STDIN`.
    pub fn check_canceled(&self) -> Result<()> {
        if self.canceller.current.lock().is_cancelled() {
            return Err(Error::Canceled);
        }
        Ok(())
    }

    /// Warnings to send to the client, oldest first: none when
    /// `client_min_messages` is `error`.
    pub fn take_notices(&self) -> Vec<Notice> {
        let mut notices = std::mem::take(&mut *self.notices.lock());
        let expired = self.writes.take_expired();
        if expired > 0 {
            notices.push(Notice {
                code: "01000",
                message: match expired {
                    1 => "1 row was not stored: it is older than its table's retention keeps".into(),
                    n => format!(
                        "{n} rows were not stored: they are older than their table's retention keeps"
                    ),
                },
            });
        }
        match self.setting("client_min_messages") {
            Ok(level) if level == "error" => Vec::new(),
            _ => notices,
        }
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn user(&self) -> &str {
        self.principal.name()
    }

    /// The entries of the search path, in order, `"$user"` resolved to the
    /// session's user, as Grafana's search-path subquery computes them.
    fn search_path_schemas(&self) -> Vec<String> {
        let path = self.setting("search_path").unwrap_or_default();
        path.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s == "\"$user\"" {
                    self.user().to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    }

    /// The columns of the open SQL cursor `name` (`DECLARE`), which the
    /// extended protocol may describe as a portal.
    pub fn cursor_schema(&self, name: &str) -> Option<arrow::datatypes::SchemaRef> {
        self.cursors.lock().schema(name).ok()
    }

    /// The current value of a setting.
    pub fn setting(&self, name: &str) -> Result<String> {
        self.settings.lock().get(name)
    }

    /// Parses SQL text into statements; an empty or comment-only text has none.
    /// A syntax error inside a transaction block fails the block.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        let parsed = compat::parse(sql, || self.search_path_schemas());
        if parsed.is_err() {
            self.statement_failed();
        }
        parsed
    }

    /// Prepares one statement for execution. In a failed transaction block
    /// only the statements that end the failure may be prepared.
    pub async fn prepare(&self, statement: Statement) -> Result<Prepared> {
        self.prepare_with_types(statement, &[]).await
    }

    /// Prepares a statement whose parameters have the types the client
    /// declared at Parse (`None` for an unspecified type, which the
    /// statement decides).
    pub async fn prepare_with_types(
        &self,
        statement: Statement,
        declared: &[Option<DataType>],
    ) -> Result<Prepared> {
        let command = transaction_command(&statement);
        let checked = self.transaction.lock().check(command.as_ref());
        let result = match (checked, command) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(command)) => Ok(Prepared::Transaction(command)),
            (Ok(()), None) => self.prepare_statement(statement, declared).await,
        };
        if result.is_err() {
            self.statement_failed();
        }
        result
    }

    async fn prepare_statement(
        &self,
        statement: Statement,
        declared: &[Option<DataType>],
    ) -> Result<Prepared> {
        // A `set_config()` of the last statement may have changed the zone.
        self.sync_settings();
        match statement {
            Statement::Discard { object_type } => Ok(Prepared::Discard(object_type)),
            Statement::Close { cursor } => Ok(Prepared::Close {
                name: match cursor {
                    CloseCursor::All => None,
                    CloseCursor::Specific { name } => Some(identifier(&name)),
                },
            }),
            Statement::Declare { stmts } => self.prepare_declare(stmts, declared).await,
            Statement::Prepare {
                name,
                data_types,
                mut statement,
            } => {
                if !named::preparable(&statement) {
                    return Err(Error::Parse(ParserError::ParserError(
                        "PREPARE takes a SELECT, VALUES, INSERT, UPDATE or DELETE".to_owned(),
                    )));
                }
                let declared: Vec<String> = data_types.iter().map(ToString::to_string).collect();
                let types: Vec<_> = data_types.into_iter().map(Some).collect();
                query::declare_sql_types(&mut statement, &types);
                let prepared = Box::pin(self.prepare_statement(*statement, &[])).await?;
                Ok(Prepared::PrepareNamed {
                    name: identifier(&name),
                    statement: Box::new(prepared),
                    declared,
                })
            }
            Statement::Execute {
                name: Some(name),
                parameters,
                immediate: false,
                into,
                using,
                output: false,
                default: false,
                ..
            } if into.is_empty() && using.is_empty() && name.0.len() == 1 => {
                let name = match name.0[0].as_ident() {
                    Some(ident) => identifier(ident),
                    None => name.to_string(),
                };
                let (statement, declared) = self
                    .named
                    .lock()
                    .get(&name)
                    .ok_or_else(|| Error::PreparedNotFound { name: name.clone() })?;
                let expected = statement.parameter_types()?.len();
                if parameters.len() != expected {
                    return Err(Error::WrongParameterCount { name });
                }
                Ok(Prepared::ExecuteNamed {
                    statement: Box::new(statement),
                    parameters,
                    declared,
                })
            }
            Statement::Fetch {
                name,
                direction,
                into,
                ..
            } => {
                let name = identifier(&name);
                let count = Count::of(&direction)?;
                if compat::is_move(into.as_ref()) {
                    return Ok(Prepared::Move { name, count });
                }
                let timeout = match compat::fetch_timeout(into.as_ref()) {
                    Some(text) => Some(fetch_timeout(text)?),
                    None if into.is_some() => {
                        return Err(Error::Parse(ParserError::ParserError(
                            "FETCH ... INTO is only for PL/pgSQL".to_owned(),
                        )));
                    }
                    None => None,
                };
                let schema = self.cursors.lock().schema(&name)?;
                Ok(Prepared::Fetch {
                    name,
                    count,
                    schema,
                    timeout,
                })
            }
            Statement::UNLISTEN { .. } => Ok(Prepared::Done { tag: "UNLISTEN" }),
            Statement::Deallocate { name, .. } => {
                let all = name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all");
                Ok(Prepared::Deallocate {
                    name: (!all).then(|| identifier(&name)),
                })
            }
            Statement::Set(set) => prepare_set(set),
            Statement::Reset(ResetStatement { reset }) => Ok(match reset {
                Reset::ALL => Prepared::Reset { name: None },
                Reset::ConfigurationParameter(name) => Prepared::Reset {
                    name: Some(name.to_string()),
                },
            }),
            Statement::ShowVariable { variable }
                if variable.len() == 1
                    && variable[0].quote_style.is_none()
                    && variable[0].value.eq_ignore_ascii_case("all") =>
            {
                Err(query::Error::Unsupported {
                    what: "SHOW ALL".to_owned(),
                }
                .into())
            }
            Statement::ShowVariable { variable } => {
                let words: Vec<&str> = variable.iter().map(|i| i.value.as_str()).collect();
                let name = match words.join(" ").to_ascii_lowercase().as_str() {
                    "time zone" => "timezone".to_owned(),
                    "transaction isolation level" => "transaction_isolation".to_owned(),
                    "session authorization" => "session_authorization".to_owned(),
                    // `SHOW myapp.tenant`: a custom parameter.
                    _ => words.join("."),
                };
                // Resolved now, so that an unknown name fails at prepare time.
                let (display, _) = self.settings.lock().show(&name)?;
                Ok(Prepared::Show { name, display })
            }
            other => Ok(Prepared::Query(
                self.engine
                    .prepare_with_types(&self.ctx, other, declared)
                    .await?,
            )),
        }
    }

    /// `DECLARE name [NO SCROLL] CURSOR [WITH[OUT] HOLD] FOR query`.
    async fn prepare_declare(
        &self,
        mut stmts: Vec<Declare>,
        declared: &[Option<DataType>],
    ) -> Result<Prepared> {
        let unsupported = |what: &str| -> Result<Prepared> {
            Err(query::Error::Unsupported {
                what: what.to_owned(),
            }
            .into())
        };
        let Some(declare) = stmts.pop().filter(|_| stmts.is_empty()) else {
            return unsupported("DECLARE of several cursors");
        };
        let (Some(DeclareType::Cursor), Some(query), [name]) = (
            &declare.declare_type,
            declare.for_query,
            declare.names.as_slice(),
        ) else {
            return unsupported("DECLARE of anything but a cursor");
        };
        if declare.scroll == Some(true) {
            return unsupported("DECLARE ... SCROLL CURSOR");
        }
        if declare.binary == Some(true) {
            return unsupported("DECLARE ... BINARY CURSOR");
        }
        let query = self
            .engine
            .prepare_with_types(&self.ctx, Statement::Query(query), declared)
            .await?;
        Ok(Prepared::Declare {
            name: identifier(name),
            query,
            hold: declare.hold == Some(true),
        })
    }

    /// The values of `EXECUTE name (values)`, each cast to its parameter's
    /// type (the one `PREPARE` declared, or else the one the statement
    /// implies), computed by a query of their own.
    async fn evaluate_parameters(
        &self,
        statement: &Prepared,
        values: &[Expr],
        declared: &[String],
    ) -> Result<Option<ParamValues>> {
        if values.is_empty() {
            return Ok(None);
        }
        let data_types = statement.parameter_types()?;
        let types: Vec<Option<String>> = data_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                declared
                    .get(i)
                    .cloned()
                    .or_else(|| t.as_ref().and_then(query::sql_type).map(|t| t.to_string()))
            })
            .collect();
        let sql = named::parameter_query(values, &types);
        let mut statements = self.parse(&sql)?;
        let (Some(select), true) = (statements.pop(), statements.is_empty()) else {
            return Err(Error::ParameterValuesMissing);
        };
        let query = self.engine.prepare(&self.ctx, select).await?;
        let batches: Vec<RecordBatch> = match self.engine.execute(&self.ctx, &query, None).await? {
            query::Output::Rows(rows) => rows.try_collect().await.map_err(query::Error::from)?,
            _ => Vec::new(),
        };
        // A declared type is the value's; an implied one is also the Arrow
        // type the plan holds the parameter as.
        let implied: Vec<Option<DataType>> = (data_types.into_iter().enumerate())
            .map(|(i, t)| t.filter(|_| declared.get(i).is_none()))
            .collect();
        named::parameter_values(&batches, &implied).map(Some)
    }

    /// Runs `work` as a statement: it ends with 57014 on a cancel request or
    /// when `statement_timeout` passes.
    async fn interruptible<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        let token = self.canceller.start();
        let deadline = self.statement_timeout().map(|t| Instant::now() + t);
        let run = async {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, work)
                    .await
                    .map_err(|_| Error::StatementTimeout)?,
                None => work.await,
            }
        };
        tokio::select! {
            output = run => output,
            () = token.cancelled_owned() => Err(Error::Canceled),
        }
    }

    /// Reads `count` rows from cursor `name`.
    async fn read_cursor(
        &self,
        name: &str,
        count: Count,
        timeout: Option<Duration>,
    ) -> Result<Vec<RecordBatch>> {
        let mut cursor = self.cursors.lock().take_out(name)?;
        let rows = self.interruptible(cursor.take(count, timeout)).await;
        self.cursors.lock().put_back(name.to_owned(), cursor);
        rows
    }

    /// The session's `statement_timeout`, if one is set.
    fn statement_timeout(&self) -> Option<Duration> {
        let text = self.setting("statement_timeout").ok()?;
        settings::parse_duration_millis(&text)
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    }

    /// Executes a prepared statement with the given `$n` parameters.
    ///
    /// The statement, and the streaming of its rows, end with 57014 when a
    /// cancel request arrives or a `statement_timeout` passes. An error inside
    /// a transaction block fails the block.
    pub async fn execute(
        &self,
        prepared: &Prepared,
        params: Option<ParamValues>,
    ) -> Result<Output> {
        let command = match prepared {
            Prepared::Transaction(command) => Some(command),
            _ => None,
        };
        let checked = self.transaction.lock().check(command);
        let result = match checked {
            Ok(()) => self.execute_statement(prepared, params).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.statement_failed();
        }
        result
    }

    async fn execute_statement(
        &self,
        prepared: &Prepared,
        params: Option<ParamValues>,
    ) -> Result<Output> {
        match prepared {
            Prepared::Query(q) => {
                let token = self.canceller.start();
                let deadline = self.statement_timeout().map(|t| Instant::now() + t);
                let execution = self.engine.execute(&self.ctx, q, params);
                let run = async {
                    match deadline {
                        Some(deadline) => tokio::time::timeout_at(deadline, execution)
                            .await
                            .map_err(|_| Error::StatementTimeout)?
                            .map_err(Error::from),
                        None => execution.await.map_err(Error::from),
                    }
                };
                let output = tokio::select! {
                    output = run => output?,
                    () = token.clone().cancelled_owned() => return Err(Error::Canceled),
                };
                let guard = |stream| -> SendableRecordBatchStream {
                    Box::pin(Interruptible::new(stream, deadline, token.clone()))
                };
                Ok(Output::Statement(match output {
                    query::Output::Rows(stream) => query::Output::Rows(guard(stream)),
                    query::Output::Returning { tag, rows } => query::Output::Returning {
                        tag,
                        rows: guard(rows),
                    },
                    query::Output::CopyOut { rows, options } => query::Output::CopyOut {
                        rows: guard(rows),
                        options,
                    },
                    other => other,
                }))
            }
            Prepared::Transaction(command) => {
                let applied = self.transaction.lock().apply(command)?;
                self.follow_transaction(command, &applied);
                self.notices.lock().extend(applied.notice);
                if applied.commit {
                    self.writes.commit().await?;
                }
                Ok(Output::Transaction {
                    effect: applied.effect,
                    tag: applied.tag,
                })
            }
            // There are no cached plans, sequences or temporary tables.
            Prepared::Discard(DiscardObject::PLANS) => Ok(Output::command("DISCARD PLANS")),
            Prepared::Discard(DiscardObject::SEQUENCES) => Ok(Output::command("DISCARD SEQUENCES")),
            Prepared::Discard(DiscardObject::TEMP) => Ok(Output::command("DISCARD TEMP")),
            Prepared::Discard(DiscardObject::ALL) => {
                self.transaction.lock().check_outside("DISCARD ALL")?;
                self.reset(None)?;
                self.cursors.lock().close_all();
                self.named.lock().clear();
                Ok(Output::Deallocate {
                    name: None,
                    tag: "DISCARD ALL",
                })
            }
            Prepared::Done { tag } => Ok(Output::command(tag)),
            Prepared::PrepareNamed {
                name,
                statement,
                declared,
            } => {
                self.named
                    .lock()
                    .add(name, statement.as_ref().clone(), declared.clone())?;
                Ok(Output::command("PREPARE"))
            }
            Prepared::ExecuteNamed {
                statement,
                parameters,
                declared,
            } => {
                let params = self
                    .evaluate_parameters(statement, parameters, declared)
                    .await?;
                Box::pin(self.execute_statement(statement, params)).await
            }
            Prepared::Declare { name, query, hold } => {
                let in_block = self.transaction_state() != TransactionState::Idle;
                if !in_block && !hold {
                    return Err(Error::NoTransaction("DECLARE CURSOR"));
                }
                let rows = match self.engine.execute(&self.ctx, query, params).await? {
                    query::Output::Rows(rows) => rows,
                    _ => {
                        return Err(query::Error::Unsupported {
                            what: "a cursor over a statement that returns no rows".to_owned(),
                        }
                        .into());
                    }
                };
                let live = query.is_subscription();
                (self.cursors.lock()).declare(name, rows, *hold, in_block, live)?;
                Ok(Output::command("DECLARE CURSOR"))
            }
            Prepared::Fetch {
                name,
                count,
                schema,
                timeout,
            } => {
                let batches = self.read_cursor(name, *count, *timeout).await?;
                let stream = futures::stream::iter(batches.into_iter().map(Ok));
                Ok(Output::Fetched(Box::pin(RecordBatchStreamAdapter::new(
                    schema.clone(),
                    stream,
                ))))
            }
            Prepared::Move { name, count } => {
                let batches = self.read_cursor(name, *count, None).await?;
                let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
                Ok(Output::Statement(query::Output::Command {
                    tag: "MOVE",
                    rows: Some(rows),
                }))
            }
            Prepared::Close { name } => {
                let mut cursors = self.cursors.lock();
                match name {
                    Some(name) => {
                        cursors.close(name)?;
                        Ok(Output::command("CLOSE CURSOR"))
                    }
                    None => {
                        cursors.close_all();
                        Ok(Output::command("CLOSE CURSOR ALL"))
                    }
                }
            }
            Prepared::Deallocate { name: Some(name) } if self.named.lock().remove(name) => {
                Ok(Output::command("DEALLOCATE"))
            }
            Prepared::Deallocate { name } => {
                if name.is_none() {
                    self.named.lock().clear();
                }
                Ok(Output::Deallocate {
                    name: name.clone(),
                    tag: if name.is_some() {
                        "DEALLOCATE"
                    } else {
                        "DEALLOCATE ALL"
                    },
                })
            }
            Prepared::Set { name, value, local } => {
                self.set_scoped(name, value.clone(), *local)?;
                Ok(Output::command("SET"))
            }
            Prepared::Reset { name } => {
                self.reset(name.as_deref())?;
                Ok(Output::command("RESET"))
            }
            Prepared::Show { name, display } => {
                let value = self.setting(name)?;
                let schema = show_schema(display);
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(StringArray::from(vec![value]))],
                )
                .map_err(|e| query::Error::DataFusion(e.into()))?;
                let stream = futures::stream::iter([Ok(batch)]);
                Ok(Output::Statement(query::Output::Rows(Box::pin(
                    RecordBatchStreamAdapter::new(schema, stream),
                ))))
            }
        }
    }

    /// Sets a parameter (`None` restores its default), as `SET` does.
    pub fn set(&self, name: &str, value: Option<String>) -> Result<()> {
        self.set_scoped(name, value, false)
    }

    /// `SET` or, with `local`, `SET LOCAL`.
    fn set_scoped(&self, name: &str, value: Option<String>, local: bool) -> Result<()> {
        let result = {
            let mut settings = self.settings.lock();
            match value {
                Some(value) => settings.set(name, value, local).map(|(_, notice)| notice),
                None => settings.reset(name).map(|()| None),
            }
        };
        self.sync_settings();
        self.notices.lock().extend(result?);
        Ok(())
    }

    /// `RESET name`, or `RESET ALL` for `None`.
    fn reset(&self, name: Option<&str>) -> Result<()> {
        let result = match name {
            Some(name) => self.settings.lock().reset(name),
            None => {
                self.settings.lock().reset_all();
                Ok(())
            }
        };
        self.sync_settings();
        result
    }

    /// Makes the current settings the ones `RESET` restores (the startup
    /// packet's), and drops the queued reports: startup reports every one.
    pub fn keep_settings_as_defaults(&self) {
        self.settings.lock().keep_as_defaults();
    }

    /// Setting changes to report to the client (ParameterStatus), oldest first.
    pub fn take_reported_settings(&self) -> Vec<(&'static str, String)> {
        self.sync_settings();
        self.settings.lock().take_reports()
    }

    /// Moves the settings and cursors with the transaction: a rollback
    /// undoes what the block set, a commit ends its `SET LOCAL`s, and either
    /// closes its cursors but those declared `WITH HOLD`.
    fn follow_transaction(&self, command: &TransactionCommand, applied: &transaction::Applied) {
        use TransactionCommand as C;
        match (command, applied.effect) {
            (C::Begin, TransactionEffect::Began) => self.settings.lock().begin(),
            (C::Commit | C::Rollback, TransactionEffect::Ended) => self.end_block(applied.commit),
            (C::Savepoint(name), _) => self.settings.lock().savepoint(name),
            (C::Release(name), _) => self.settings.lock().release(name),
            (C::RollbackTo(name), _) => self.settings.lock().rollback_to(name),
            _ => {}
        }
        self.sync_settings();
    }

    /// A transaction block ended, committed or rolled back.
    fn end_block(&self, committed: bool) {
        {
            let mut settings = self.settings.lock();
            if committed {
                settings.commit();
            } else {
                settings.rollback();
            }
        }
        self.cursors.lock().end_block(committed);
        self.sync_settings();
    }

    /// Applies changed settings that other parts of the session follow: the
    /// time zone of the DataFusion context and the password encryption.
    fn sync_settings(&self) {
        let mut settings = self.settings.lock();
        if !settings.take_changed() {
            return;
        }
        let time_zone = settings.get("timezone").unwrap_or_default();
        let encryption = settings.get("password_encryption").unwrap_or_default();
        drop(settings);
        self.apply_time_zone(&time_zone);
        self.apply_password_encryption(&encryption);
    }

    fn apply_password_encryption(&self, setting: &str) {
        self.principal.set_password_encryption(if setting == "md5" {
            Encryption::Md5
        } else {
            Encryption::ScramSha256
        });
    }

    fn apply_time_zone(&self, time_zone: &str) {
        let state = self.ctx.state_ref();
        let mut state = state.write();
        state.config_mut().options_mut().execution.time_zone = Some(time_zone.to_owned());
    }
}

/// The transaction command a statement is, if it is one.
fn transaction_command(statement: &Statement) -> Option<TransactionCommand> {
    Some(match statement {
        Statement::StartTransaction { .. } => TransactionCommand::Begin,
        Statement::Commit { .. } => TransactionCommand::Commit,
        Statement::Rollback {
            savepoint: None, ..
        } => TransactionCommand::Rollback,
        Statement::Rollback {
            savepoint: Some(name),
            ..
        } => TransactionCommand::RollbackTo(identifier(name)),
        Statement::Savepoint { name } => TransactionCommand::Savepoint(identifier(name)),
        Statement::ReleaseSavepoint { name } => TransactionCommand::Release(identifier(name)),
        _ => return None,
    })
}

/// An identifier as PostgreSQL folds it: lower case unless quoted.
fn identifier(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn prepare_set(set: Set) -> Result<Prepared> {
    match set {
        Set::SingleAssignment {
            scope,
            variable,
            values,
            ..
        } => {
            let name = variable.to_string();
            let value = set_value(&name, &values);
            let local = matches!(scope, Some(ContextModifier::Local));
            Ok(Prepared::Set { name, value, local })
        }
        // `SET TIME ZONE LOCAL` is `DEFAULT`.
        Set::SetTimeZone { local, value } => Ok(Prepared::Set {
            name: "timezone".to_owned(),
            local,
            value: match &value {
                Expr::Identifier(ident)
                    if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("local") =>
                {
                    None
                }
                _ => set_value("timezone", std::slice::from_ref(&value)),
            },
        }),
        other => Err(query::Error::Unsupported {
            what: format!("{other}"),
        }
        .into()),
    }
}

/// The text of a `SET` value list as PostgreSQL stores it; `None` for
/// `DEFAULT`. Unquoted words fold to lower case; the elements of a list
/// parameter (`search_path`) are quoted where an identifier needs it.
fn set_value(name: &str, values: &[Expr]) -> Option<String> {
    let list = LIST_PARAMETERS.contains(&name.to_ascii_lowercase().as_str());
    let parts: Vec<String> = values
        .iter()
        .map(|v| {
            let text = match v {
                Expr::Value(ValueWithSpan {
                    value: Value::SingleQuotedString(s) | Value::DoubleQuotedString(s),
                    ..
                }) => s.clone(),
                Expr::Identifier(ident) => identifier(ident),
                other => other.to_string(),
            };
            if list {
                query::quote_ident(&text)
            } else {
                text
            }
        })
        .collect();
    if let [only] = values
        && matches!(only, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
    {
        return None;
    }
    Some(parts.join(", "))
}

/// Parameters whose value is a list of names.
const LIST_PARAMETERS: &[&str] = &[
    "search_path",
    "temp_tablespaces",
    "local_preload_libraries",
    "session_preload_libraries",
];

/// A `FETCH`'s `WITH (timeout = ...)`: an interval as `statement_timeout`
/// reads one (`'1s'`, `'500ms'`; a bare number is milliseconds).
fn fetch_timeout(text: &str) -> Result<Duration> {
    settings::parse_duration_millis(text)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            query::Error::InvalidParameterValue {
                message: format!("invalid value for FETCH's timeout: \"{text}\""),
            }
            .into()
        })
}
