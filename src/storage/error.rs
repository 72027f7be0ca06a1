//! The storage layer's one error type.

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
    #[error("{what} is not supported")]
    Unsupported { what: String },
    #[error("invalid table definition: {reason}")]
    InvalidSchema { reason: String },
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNullViolation { table: String, column: String },
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation { constraint: String, detail: String },
    #[error("could not serialize access due to concurrent update")]
    ConcurrentUpdate,
    #[error("could not serialize access: table \"{name}\" was altered by a concurrent statement")]
    TableAltered { name: String },
    #[error("column \"{column}\" of relation \"{table}\" contains null values")]
    ColumnHasNulls { table: String, column: String },
    #[error("view \"{name}\" does not exist")]
    ViewNotFound { name: String },
    #[error("index \"{name}\" does not exist")]
    IndexNotFound { name: String },
    #[error("cannot drop index {name} because constraint {name} on table {table} requires it")]
    IndexOfConstraint { name: String, table: String },
    #[error("sequence \"{name}\" does not exist")]
    SequenceNotFound { name: String },
    #[error("cannot drop sequence {name} because other objects depend on it")]
    SequenceInUse { name: String, detail: String },
    #[error("{reason}")]
    InvalidSequence { reason: String },
    #[error(
        "nextval: reached {} value of sequence \"{name}\" ({bound})",
        if *maximum { "maximum" } else { "minimum" }
    )]
    SequenceLimit {
        name: String,
        maximum: bool,
        bound: i64,
    },
    #[error("setval: value {value} is out of bounds for sequence \"{name}\" ({min}..{max})")]
    SequenceValueOutOfBounds {
        name: String,
        value: i64,
        min: i64,
        max: i64,
    },
    #[error("value too long for type character varying({max_chars})")]
    StringTooLong { max_chars: u32 },
    /// A value that does not read as its column's type (`json`).
    #[error(transparent)]
    Value(#[from] crate::pgtype::ValueError),
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

/// A WAL record, snapshot or block image that does not decode.
pub(super) fn corrupt(reason: impl Into<String>) -> Error {
    Error::Corrupt {
        reason: reason.into(),
    }
}
