//! The session layer's one error type.

use datafusion::sql::sqlparser::parser::ParserError;

use crate::query;

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
    InvalidSettingValue {
        name: String,
        value: String,
        hint: Option<String>,
    },
    #[error("{value} is outside the valid range for parameter \"{name}\" ({min} .. {max})")]
    SettingOutOfRange {
        name: String,
        value: String,
        min: String,
        max: String,
    },
    #[error("parameter \"{name}\" requires a Boolean value")]
    SettingNeedsBoolean { name: String },
    #[error("permission denied to set parameter \"{name}\"")]
    SettingPermission { name: String },
    /// A value PostgreSQL accepts that would change answers in a way
    /// EpochDB does not follow.
    #[error("{name} = '{value}' is not supported")]
    UnsupportedSettingValue { name: String, value: String },
    #[error("SET requires parameter name")]
    SettingNameMissing,
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
    #[error("cursor \"{name}\" already exists")]
    CursorExists { name: String },
    #[error("cursor can only scan forward")]
    CursorBackward,
    #[error("prepared statement \"{name}\" already exists")]
    PreparedExists { name: String },
    #[error("prepared statement \"{name}\" does not exist")]
    PreparedNotFound { name: String },
    #[error("wrong number of parameters for prepared statement \"{name}\"")]
    WrongParameterCount { name: String },
    #[error("EXECUTE's parameter values could not be computed")]
    ParameterValuesMissing,
    /// A statement nested deeper than EpochDB's limits (see `compat::depth`).
    #[error("stack depth limit exceeded")]
    StackDepthExceeded,
    /// A statement whose expressions would cost more to plan than
    /// EpochDB's limits allow (see `compat::depth`).
    #[error("statement is too complex to plan")]
    StatementTooComplex,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn parser_message(error: &ParserError) -> String {
    match error {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "statement is nested too deeply".to_owned(),
    }
}
