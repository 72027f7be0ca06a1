//! One client session: its database, its settings and its DataFusion context.
//!
//! The session turns SQL text into statements, answers the statements that are
//! about the session itself (`SET`, `SHOW`, `RESET`, transaction control) and
//! hands everything else to the query engine. It knows nothing of the wire
//! protocol: the protocol layer drives it and encodes what it returns.

mod compat;
mod settings;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Expr, Reset, ResetStatement, Set, Statement, Value, ValueWithSpan,
};
use datafusion::sql::sqlparser::parser::ParserError;
use futures::Stream;
use parking_lot::Mutex;
use tokio::time::{Instant, Sleep};

pub use settings::Settings;

use crate::query::{self, QueryEngine};

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
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn parser_message(error: &ParserError) -> String {
    match error {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "statement is nested too deeply".to_owned(),
    }
}

/// Transaction control. EpochDB applies every statement on its own, so these
/// only move the session between PostgreSQL's transaction states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionCommand {
    Begin,
    Commit,
    Rollback,
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
    Transaction {
        command: TransactionCommand,
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
            Output::Transaction { command, .. } => {
                f.debug_tuple("Transaction").field(command).finish()
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
    user: String,
    settings: Mutex<Settings>,
    /// ParameterStatus changes not yet sent to the client.
    reported: Mutex<Vec<(&'static str, String)>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("database", &self.database)
            .field("user", &self.user)
            .field("session_id", &self.ctx.session_id())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens a session on `database`, which must exist.
    pub fn new(engine: Arc<QueryEngine>, database: &str, user: &str) -> Result<Self> {
        if !engine.database_exists(database) {
            return Err(Error::DatabaseNotFound {
                name: database.to_owned(),
            });
        }
        let ctx = engine.new_context(database)?;
        Ok(Self {
            engine,
            ctx,
            database: database.to_owned(),
            user: user.to_owned(),
            settings: Mutex::new(Settings::default()),
            reported: Mutex::new(Vec::new()),
        })
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// The current value of a setting.
    pub fn setting(&self, name: &str) -> Result<String> {
        self.settings.lock().get(name)
    }

    /// Parses SQL text into statements; an empty or comment-only text has none.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        compat::parse(sql)
    }

    /// Prepares one statement for execution.
    pub async fn prepare(&self, statement: Statement) -> Result<Prepared> {
        match statement {
            Statement::StartTransaction { .. } => {
                Ok(Prepared::Transaction(TransactionCommand::Begin))
            }
            Statement::Commit { .. } => Ok(Prepared::Transaction(TransactionCommand::Commit)),
            Statement::Rollback {
                savepoint: None, ..
            } => Ok(Prepared::Transaction(TransactionCommand::Rollback)),
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
    /// Under a `statement_timeout`, both the execution and the streaming of its
    /// rows are bounded: past the deadline the statement fails with 57014.
    pub async fn execute(
        &self,
        prepared: &Prepared,
        params: Option<ParamValues>,
    ) -> Result<Output> {
        match prepared {
            Prepared::Query(q) => {
                let execution = self.engine.execute(&self.ctx, q, params);
                let (output, deadline) = match self.statement_timeout() {
                    Some(timeout) => {
                        let deadline = Instant::now() + timeout;
                        let output = tokio::time::timeout_at(deadline, execution)
                            .await
                            .map_err(|_| Error::StatementTimeout)??;
                        (output, Some(deadline))
                    }
                    None => (execution.await?, None),
                };
                Ok(match output {
                    query::Output::Rows(stream) => Output::Rows(match deadline {
                        Some(deadline) => Box::pin(Deadline::new(stream, deadline)),
                        None => stream,
                    }),
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
                        rows: match deadline {
                            Some(deadline) => Box::pin(Deadline::new(rows, deadline)),
                            None => rows,
                        },
                        options,
                    },
                })
            }
            Prepared::Transaction(command) => Ok(Output::Transaction {
                command: *command,
                tag: match command {
                    TransactionCommand::Begin => "BEGIN",
                    TransactionCommand::Commit => "COMMIT",
                    TransactionCommand::Rollback => "ROLLBACK",
                },
            }),
            Prepared::Set { name, value } => {
                self.set(name, value.clone())?;
                Ok(Output::Command {
                    tag: "SET",
                    rows: None,
                })
            }
            Prepared::Reset { name } => {
                let mut settings = self.settings.lock();
                let changes = match name {
                    Some(name) => settings.reset(name)?.into_iter().collect(),
                    None => settings.reset_all(),
                };
                let time_zone = settings.get("timezone")?;
                drop(settings);
                self.apply_time_zone(&time_zone);
                self.reported.lock().extend(changes);
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
        drop(settings);
        self.apply_time_zone(&time_zone);
        self.reported.lock().extend(change);
        Ok(())
    }

    /// Setting changes to report to the client (ParameterStatus), oldest first.
    pub fn take_reported_settings(&self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut *self.reported.lock())
    }

    fn apply_time_zone(&self, time_zone: &str) {
        let state = self.ctx.state_ref();
        let mut state = state.write();
        state.config_mut().options_mut().execution.time_zone = Some(time_zone.to_owned());
    }
}

/// A row stream that fails with a statement timeout once its deadline passes.
struct Deadline {
    inner: SendableRecordBatchStream,
    sleep: Pin<Box<Sleep>>,
    expired: bool,
}

impl Deadline {
    fn new(inner: SendableRecordBatchStream, deadline: Instant) -> Self {
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            expired: false,
        }
    }
}

impl Stream for Deadline {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let error = DataFusionError::External(Box::new(Error::StatementTimeout));
            return Poll::Ready(Some(Err(error)));
        }
        self.inner.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for Deadline {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
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
