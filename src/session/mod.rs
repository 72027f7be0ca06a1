//! One client session: its database, its settings and its DataFusion context.
//!
//! The session turns SQL text into statements, answers the statements that are
//! about the session itself (`SET`, `SHOW`, `RESET`, transaction control) and
//! hands everything else to the query engine. It knows nothing of the wire
//! protocol: the protocol layer drives it and encodes what it returns.

mod cancel;
mod compat;
mod error;
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
    CloseCursor, DiscardObject, Expr, Ident, Reset, ResetStatement, Set, Statement, Value,
    ValueWithSpan,
};
use parking_lot::Mutex;
use tokio::time::Instant;

pub use cancel::Canceller;
pub use compat::STATEMENT_STACK_BYTES;
pub use error::{Error, Result};
pub use output::{Output, Prepared};
pub use settings::Settings;
pub use transaction::{Notice, TransactionCommand, TransactionEffect, TransactionState};

use crate::password::Encryption;
use crate::query::{self, PendingWrites, QueryEngine};

pub use crate::query::Principal;
use cancel::Interruptible;
use output::show_schema;
use transaction::Transaction;

/// One client's session. Used by one connection at a time.
pub struct Session {
    engine: Arc<QueryEngine>,
    ctx: SessionContext,
    database: String,
    /// Shared with the `current_setting()` function registered on `ctx`.
    settings: Arc<Mutex<Settings>>,
    /// ParameterStatus changes not yet sent to the client.
    reported: Mutex<Vec<(&'static str, String)>>,
    /// Warnings not yet sent to the client.
    notices: Mutex<Vec<Notice>>,
    transaction: Mutex<Transaction>,
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
        ctx.register_udf(settings::current_setting_udf(settings.clone()));
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
            reported: Mutex::new(Vec::new()),
            notices: Mutex::new(Vec::new()),
            transaction: Mutex::new(Transaction::new(writes.clone())),
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
        self.transaction.lock().begin_implicit()
    }

    /// Ends the implicit transaction of a multi-statement query.
    pub async fn end_implicit(&self) -> Result<()> {
        let commit = self.transaction.lock().end_implicit();
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

    /// Warnings to send to the client, oldest first.
    pub fn take_notices(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.notices.lock())
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
        match statement {
            Statement::Discard { object_type } => Ok(Prepared::Discard(object_type)),
            Statement::Close { cursor } => match cursor {
                CloseCursor::All => Ok(Prepared::Done {
                    tag: "CLOSE CURSOR ALL",
                }),
                CloseCursor::Specific { name } => Err(Error::CursorNotFound {
                    name: identifier(&name),
                }),
            },
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
            Statement::ShowVariable { variable } => {
                let name = variable
                    .iter()
                    .map(|i| i.value.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let name = match name.to_ascii_lowercase().as_str() {
                    "time zone" => "timezone".to_owned(),
                    "transaction isolation level" => "transaction_isolation".to_owned(),
                    _ => name,
                };
                // Validate now, so that an unknown name fails at prepare time.
                Settings::display_name(&name)?;
                Ok(Prepared::Show { name })
            }
            other => Ok(Prepared::Query(
                self.engine
                    .prepare_with_types(&self.ctx, other, declared)
                    .await?,
            )),
        }
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
                    query::Output::CopyOut { rows, options } => query::Output::CopyOut {
                        rows: guard(rows),
                        options,
                    },
                    other => other,
                }))
            }
            Prepared::Transaction(command) => {
                let applied = self.transaction.lock().apply(command)?;
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
                Ok(Output::Deallocate {
                    name: None,
                    tag: "DISCARD ALL",
                })
            }
            Prepared::Done { tag } => Ok(Output::command(tag)),
            Prepared::Deallocate { name } => Ok(Output::Deallocate {
                name: name.clone(),
                tag: "DEALLOCATE",
            }),
            Prepared::Set { name, value } => {
                self.set(name, value.clone())?;
                Ok(Output::command("SET"))
            }
            Prepared::Reset { name } => {
                self.reset(name.as_deref())?;
                Ok(Output::command("RESET"))
            }
            Prepared::Show { name } => {
                let value = self.setting(name)?;
                let schema = show_schema(name)?;
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
        let mut settings = self.settings.lock();
        let change = match value {
            Some(value) => settings.set(name, value)?,
            None => settings.reset(name)?,
        };
        let time_zone = settings.get("timezone")?;
        let encryption = settings.get("password_encryption")?;
        drop(settings);
        self.apply_time_zone(&time_zone);
        self.apply_password_encryption(&encryption);
        self.reported.lock().extend(change);
        Ok(())
    }

    /// `RESET name`, or `RESET ALL` for `None`.
    fn reset(&self, name: Option<&str>) -> Result<()> {
        let mut settings = self.settings.lock();
        let changes = match name {
            Some(name) => settings.reset(name)?.into_iter().collect(),
            None => settings.reset_all(),
        };
        let time_zone = settings.get("timezone")?;
        let encryption = settings.get("password_encryption")?;
        drop(settings);
        self.apply_time_zone(&time_zone);
        self.apply_password_encryption(&encryption);
        self.reported.lock().extend(changes);
        Ok(())
    }

    /// Makes the current settings the ones `RESET` restores (the startup
    /// packet's), and drops the queued reports: startup reports every one.
    pub fn keep_settings_as_defaults(&self) {
        self.settings.lock().keep_as_defaults();
        self.reported.lock().clear();
    }

    /// Setting changes to report to the client (ParameterStatus), oldest first.
    pub fn take_reported_settings(&self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut *self.reported.lock())
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
            variable, values, ..
        } => {
            let name = variable.to_string();
            let value = set_value(&values);
            Ok(Prepared::Set { name, value })
        }
        // `SET TIME ZONE LOCAL` is `DEFAULT`.
        Set::SetTimeZone { value, .. } => Ok(Prepared::Set {
            name: "timezone".to_owned(),
            value: match &value {
                Expr::Identifier(ident)
                    if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("local") =>
                {
                    None
                }
                _ => set_value(std::slice::from_ref(&value)),
            },
        }),
        other => Err(query::Error::Unsupported {
            what: format!("{other}"),
        }
        .into()),
    }
}

/// The text of a `SET` value list as PostgreSQL stores it; `None` for `DEFAULT`.
fn set_value(values: &[Expr]) -> Option<String> {
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(s) | Value::DoubleQuotedString(s),
                ..
            }) => s.clone(),
            Expr::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        })
        .collect();
    if parts.len() == 1 && parts[0].eq_ignore_ascii_case("default") {
        return None;
    }
    Some(parts.join(", "))
}
