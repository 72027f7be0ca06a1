//! One client session: its database, its settings and its DataFusion context.
//!
//! The session turns SQL text into statements, answers the statements that are
//! about the session itself (`SET`, `SHOW`, `RESET`, transaction control) and
//! hands everything else to the query engine. It knows nothing of the wire
//! protocol: the protocol layer drives it and encodes what it returns.

mod compat;
mod settings;
mod transaction;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CloseCursor, DiscardObject, Expr, Ident, Reset, ResetStatement, Set, Statement, Value,
    ValueWithSpan,
};
use datafusion::sql::sqlparser::parser::ParserError;
use futures::Stream;
use parking_lot::Mutex;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pub use settings::Settings;
pub use transaction::{Notice, TransactionCommand, TransactionEffect, TransactionState};

use crate::password::Encryption;
use crate::query::{self, PendingWrites, QueryEngine};

pub use crate::query::Principal;
use transaction::Transaction;

/// Errors of the session layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("syntax error: {}", parser_message(.0))]
    Parse(#[from] ParserError),
    #[error(transparent)]
    Query(#[from] query::Error),
    #[error("unrecognized configuration parameter \"{name}\"")]
    UnknownSetting { name: String },
    #[error("invalid value for parameter \"{name}\": \"{value}\"")]
    InvalidSettingValue { name: String, value: String },
    #[error("parameter \"{name}\" cannot be changed")]
    ReadOnlySetting { name: String },
    #[error("database \"{name}\" does not exist")]
    DatabaseNotFound { name: String },
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    #[error("canceling statement due to user request")]
    Canceled,
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    TransactionAborted,
    #[error("{0} can only be used in transaction blocks")]
    NoTransaction(&'static str),
    #[error("{0} cannot run inside a transaction block")]
    InTransaction(&'static str),
    #[error("savepoint \"{name}\" does not exist")]
    SavepointNotFound { name: String },
    #[error("cursor \"{name}\" does not exist")]
    CursorNotFound { name: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn parser_message(error: &ParserError) -> String {
    match error {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "statement is nested too deeply".to_owned(),
    }
}

/// A statement ready to execute.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Planned (or DDL) work for the query engine.
    Query(query::Prepared),
    /// `SET name = value`, or `SET name TO DEFAULT` when `value` is `None`.
    Set {
        name: String,
        value: Option<String>,
    },
    /// `RESET name`, or `RESET ALL` when `name` is `None`.
    Reset {
        name: Option<String>,
    },
    Show {
        name: String,
    },
    Transaction(TransactionCommand),
    /// `DISCARD ALL | PLANS | SEQUENCES | TEMP`.
    Discard(DiscardObject),
    /// `DEALLOCATE name`, or `DEALLOCATE ALL` when `name` is `None`.
    Deallocate {
        name: Option<String>,
    },
    /// A statement with nothing to do: `CLOSE ALL` (there are no SQL
    /// cursors) and `UNLISTEN` (no channels). Pool resets send them.
    Done {
        tag: &'static str,
    },
}

impl Prepared {
    /// The columns of the rows the statement returns, `None` if it returns none.
    pub fn output_schema(&self) -> Result<Option<SchemaRef>> {
        Ok(match self {
            Prepared::Query(q) => q.output_schema(),
            Prepared::Show { name } => Some(show_schema(name)?),
            _ => None,
        })
    }

    /// The inferred types of `$1..$n`.
    pub fn parameter_types(&self) -> Result<Vec<Option<DataType>>> {
        Ok(match self {
            Prepared::Query(q) => q.parameter_types()?,
            _ => Vec::new(),
        })
    }
}

/// What executing a statement produced.
pub enum Output {
    Rows(SendableRecordBatchStream),
    /// A command tag (`CREATE TABLE`, `INSERT`, `SET`, ...) and, where PostgreSQL
    /// reports one, the number of rows affected.
    Command {
        tag: &'static str,
        rows: Option<u64>,
    },
    /// A transaction control statement: how it moved the transaction.
    Transaction {
        effect: TransactionEffect,
        tag: &'static str,
    },
    /// Prepared statements to drop (`name`, or all of them for `None`); the
    /// protocol layer holds them.
    Deallocate {
        name: Option<String>,
        tag: &'static str,
    },
    /// `COPY ... FROM STDIN`: the protocol feeds `writer` the client's data.
    CopyIn {
        writer: Box<query::CopyIn>,
        options: query::CopyOptions,
        columns: usize,
    },
    /// `COPY ... TO STDOUT`: rows for the protocol to send in the COPY format.
    CopyOut {
        rows: SendableRecordBatchStream,
        options: query::CopyOptions,
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
            Output::Transaction { effect, tag } => f
                .debug_tuple("Transaction")
                .field(effect)
                .field(tag)
                .finish(),
            Output::Deallocate { name, tag } => {
                f.debug_tuple("Deallocate").field(name).field(tag).finish()
            }
            Output::CopyIn { options, .. } => f.debug_tuple("CopyIn").field(options).finish(),
            Output::CopyOut { options, .. } => f.debug_tuple("CopyOut").field(options).finish(),
        }
    }
}

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
        let command = transaction_command(&statement);
        let checked = self.transaction.lock().check(command.as_ref());
        let result = match (checked, command) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(command)) => Ok(Prepared::Transaction(command)),
            (Ok(()), None) => self.prepare_statement(statement).await,
        };
        if result.is_err() {
            self.statement_failed();
        }
        result
    }

    async fn prepare_statement(&self, statement: Statement) -> Result<Prepared> {
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
                self.engine.prepare(&self.ctx, other).await?,
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
                Ok(match output {
                    query::Output::Rows(stream) => Output::Rows(guard(stream)),
                    query::Output::Command { tag, rows } => Output::Command { tag, rows },
                    query::Output::CopyIn {
                        writer,
                        options,
                        columns,
                    } => Output::CopyIn {
                        writer,
                        options,
                        columns,
                    },
                    query::Output::CopyOut { rows, options } => Output::CopyOut {
                        rows: guard(rows),
                        options,
                    },
                })
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
            Prepared::Discard(DiscardObject::PLANS) => Ok(Output::Command {
                tag: "DISCARD PLANS",
                rows: None,
            }),
            Prepared::Discard(DiscardObject::SEQUENCES) => Ok(Output::Command {
                tag: "DISCARD SEQUENCES",
                rows: None,
            }),
            Prepared::Discard(DiscardObject::TEMP) => Ok(Output::Command {
                tag: "DISCARD TEMP",
                rows: None,
            }),
            Prepared::Discard(DiscardObject::ALL) => {
                self.transaction.lock().check_outside("DISCARD ALL")?;
                self.reset(None)?;
                Ok(Output::Deallocate {
                    name: None,
                    tag: "DISCARD ALL",
                })
            }
            Prepared::Done { tag } => Ok(Output::Command { tag, rows: None }),
            Prepared::Deallocate { name } => Ok(Output::Deallocate {
                name: name.clone(),
                tag: "DEALLOCATE",
            }),
            Prepared::Set { name, value } => {
                self.set(name, value.clone())?;
                Ok(Output::Command {
                    tag: "SET",
                    rows: None,
                })
            }
            Prepared::Reset { name } => {
                self.reset(name.as_deref())?;
                Ok(Output::Command {
                    tag: "RESET",
                    rows: None,
                })
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
                Ok(Output::Rows(Box::pin(RecordBatchStreamAdapter::new(
                    schema, stream,
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

/// Cancels the statement a session is running; cloned into the registry
/// that cancel requests from other connections look in.
#[derive(Debug, Clone, Default)]
pub struct Canceller {
    current: Arc<Mutex<CancellationToken>>,
}

impl Canceller {
    /// Cancels the running statement, if any. A session between statements
    /// is not affected: the next statement starts afresh.
    pub fn cancel(&self) {
        self.current.lock().cancel();
    }

    /// A fresh token for a statement that starts now.
    fn start(&self) -> CancellationToken {
        let token = CancellationToken::new();
        *self.current.lock() = token.clone();
        token
    }
}

/// A row stream that ends in an error once its statement is cancelled or its
/// deadline passes.
struct Interruptible {
    inner: SendableRecordBatchStream,
    deadline: Option<Pin<Box<Sleep>>>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    ended: bool,
}

impl Interruptible {
    fn new(
        inner: SendableRecordBatchStream,
        deadline: Option<Instant>,
        token: CancellationToken,
    ) -> Self {
        Self {
            inner,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            cancelled: Box::pin(token.cancelled_owned()),
            ended: false,
        }
    }
}

impl Stream for Interruptible {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let interrupted = if self.cancelled.as_mut().poll(cx).is_ready() {
            Some(Error::Canceled)
        } else if let Some(sleep) = self.deadline.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            Some(Error::StatementTimeout)
        } else {
            None
        };
        if let Some(error) = interrupted {
            self.ended = true;
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(error)))));
        }
        self.inner.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for Interruptible {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
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

fn show_schema(name: &str) -> Result<SchemaRef> {
    let display = Settings::display_name(name)?;
    Ok(Arc::new(Schema::new(vec![Field::new(
        display.to_ascii_lowercase(),
        DataType::Utf8,
        false,
    )])))
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
        Set::SetTimeZone { value, .. } => Ok(Prepared::Set {
            name: "timezone".to_owned(),
            value: set_value(std::slice::from_ref(&value)),
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
