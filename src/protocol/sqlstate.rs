//! The one place errors become PostgreSQL ErrorResponses with a SQLSTATE.
//!
//! Every layer's error enum is matched exhaustively (no wildcard arm), so a new
//! variant forces a decision here. DataFusion's errors are unwrapped to their
//! root first; errors of ours that travelled through DataFusion as `External`
//! are downcast back.

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use pgwire::error::{ErrorInfo, PgWireError};

use super::encode::EncodeError;
use crate::pgtype::ValueError;
use crate::query;
use crate::session;
use crate::storage;

pub(super) const FEATURE_NOT_SUPPORTED: &str = "0A000";
pub(super) const INVALID_CATALOG_NAME: &str = "3D000";
pub(super) const INVALID_SCHEMA_NAME: &str = "3F000";
pub(super) const DATA_EXCEPTION: &str = "22000";
pub(super) const STRING_DATA_RIGHT_TRUNCATION: &str = "22001";
pub(super) const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
pub(super) const SEQUENCE_GENERATOR_LIMIT_EXCEEDED: &str = "2200H";
pub(super) const INVALID_ARGUMENT_FOR_POWER_FUNCTION: &str = "2201F";
pub(super) const INVALID_ARGUMENT_FOR_WIDTH_BUCKET_FUNCTION: &str = "2201G";
pub(super) const DIVISION_BY_ZERO: &str = "22012";
pub(super) const INVALID_ARGUMENT_FOR_NTILE_FUNCTION: &str = "22014";
pub(super) const NULL_VALUE_NOT_ALLOWED: &str = "22004";
pub(super) const INVALID_PARAMETER_VALUE: &str = "22023";
pub(super) const DATETIME_FIELD_OVERFLOW: &str = "22008";
pub(super) const INVALID_TEXT_REPRESENTATION: &str = "22P02";
pub(super) const INVALID_ESCAPE_SEQUENCE: &str = "22025";
pub(super) const INVALID_BINARY_REPRESENTATION: &str = "22P03";
pub(super) const BAD_COPY_FILE_FORMAT: &str = "22P04";
pub(super) const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
pub(super) const NOT_NULL_VIOLATION: &str = "23502";
pub(super) const GENERATED_ALWAYS: &str = "428C9";
pub(super) const UNIQUE_VIOLATION: &str = "23505";
pub(super) const SERIALIZATION_FAILURE: &str = "40001";
pub(super) const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";
pub(super) const SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION: &str = "42000";
pub(super) const SYNTAX_ERROR: &str = "42601";
pub(super) const UNDEFINED_COLUMN: &str = "42703";
pub(super) const UNDEFINED_FUNCTION: &str = "42883";
pub(super) const UNDEFINED_TABLE: &str = "42P01";
pub(super) const UNDEFINED_OBJECT: &str = "42704";
pub(super) const DUPLICATE_COLUMN: &str = "42701";
pub(super) const AMBIGUOUS_COLUMN: &str = "42702";
pub(super) const DUPLICATE_DATABASE: &str = "42P04";
pub(super) const DUPLICATE_SCHEMA: &str = "42P06";
pub(super) const DUPLICATE_TABLE: &str = "42P07";
pub(super) const DATATYPE_MISMATCH: &str = "42804";
pub(super) const CANNOT_COERCE: &str = "42846";
pub(super) const INVALID_TABLE_DEFINITION: &str = "42P16";
pub(super) const GROUPING_ERROR: &str = "42803";
pub(super) const INVALID_COLUMN_REFERENCE: &str = "42P10";
pub(super) const CARDINALITY_VIOLATION: &str = "21000";
pub(super) const INVALID_DATETIME_FORMAT: &str = "22007";
pub(super) const PROTOCOL_VIOLATION: &str = "08P01";
pub(super) const INSUFFICIENT_PRIVILEGE: &str = "42501";
pub(super) const DUPLICATE_OBJECT: &str = "42710";
pub(super) const RESERVED_NAME: &str = "42939";
pub(super) const INVALID_GRANT_OPERATION: &str = "0LP01";
pub(super) const INVALID_AUTHORIZATION_SPECIFICATION: &str = "28000";
pub(super) const INVALID_PASSWORD: &str = "28P01";
pub(super) const OUT_OF_MEMORY: &str = "53200";
pub(super) const CONFIGURATION_LIMIT_EXCEEDED: &str = "53400";
pub(super) const OBJECT_IN_USE: &str = "55006";
pub(super) const CANT_CHANGE_RUNTIME_PARAM: &str = "55P02";
pub(super) const QUERY_CANCELED: &str = "57014";
pub(super) const ACTIVE_SQL_TRANSACTION: &str = "25001";
pub(super) const NO_ACTIVE_SQL_TRANSACTION: &str = "25P01";
pub(super) const IN_FAILED_SQL_TRANSACTION: &str = "25P02";
pub(super) const INVALID_SAVEPOINT_SPECIFICATION: &str = "3B001";
pub(super) const INVALID_SQL_STATEMENT_NAME: &str = "26000";
pub(super) const INVALID_CURSOR_NAME: &str = "34000";
pub(super) const DUPLICATE_CURSOR: &str = "42P03";
pub(super) const WRONG_OBJECT_TYPE: &str = "42809";
pub(super) const INVALID_OBJECT_DEFINITION: &str = "42P17";
pub(super) const UNDEFINED_PARAMETER: &str = "42P02";
pub(super) const DUPLICATE_PREPARED_STATEMENT: &str = "42P05";
pub(super) const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
pub(super) const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
pub(super) const TOO_MANY_CONNECTIONS: &str = "53300";
pub(super) const STATEMENT_TOO_COMPLEX: &str = "54001";
pub(super) const UNTRANSLATABLE_CHARACTER: &str = "22P05";
pub(super) const ADMIN_SHUTDOWN: &str = "57P01";
pub(super) const IO_ERROR: &str = "58030";
pub(super) const INTERNAL_ERROR: &str = "XX000";
pub(super) const DATA_CORRUPTED: &str = "XX001";

/// Whether an error is the server's fault (logged at `error!`) or the client's
/// (logged at `debug!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blame {
    Client,
    Server,
}

/// The ErrorResponse for a session error.
pub(super) fn error_info(error: &session::Error) -> ErrorInfo {
    let (code, blame) = session_code(error);
    let message = match error {
        session::Error::Query(query::Error::DataFusion(e)) => datafusion_message(e),
        other => other.to_string(),
    };
    match blame {
        Blame::Server => tracing::error!(code, %message, "internal error"),
        Blame::Client => tracing::debug!(code, %message, "statement failed"),
    }
    let mut info = ErrorInfo::new("ERROR".to_owned(), code.to_owned(), message);
    info.hint = match error {
        session::Error::InvalidSettingValue { hint, .. } => hint.clone(),
        other => query_error(other)
            .and_then(query::Error::hint)
            .map(str::to_owned),
    };
    if let session::Error::Query(e) = error {
        info.where_context = e.context().map(str::to_owned);
        let inner = query_error(error).unwrap_or(e);
        let storage_error = match inner {
            query::Error::Storage(e) => Some(e),
            query::Error::DataFusion(e) => match root(e) {
                DataFusionError::External(inner) => inner.downcast_ref::<storage::Error>(),
                _ => None,
            },
            _ => None,
        };
        info.detail = match storage_error {
            Some(
                storage::Error::RoleInUse { detail, .. }
                | storage::Error::SequenceInUse { detail, .. }
                | storage::Error::UniqueViolation { detail, .. },
            ) => Some(detail.clone()),
            _ => inner.detail(),
        };
    }
    info
}

/// The ErrorResponse for malformed COPY data: 22P04, with the line.
pub(super) fn copy_error_info(error: &super::copy_format::CopyError) -> ErrorInfo {
    tracing::debug!(%error, "COPY data rejected");
    let mut info = ErrorInfo::new(
        "ERROR".to_owned(),
        BAD_COPY_FILE_FORMAT.to_owned(),
        error.to_string(),
    );
    info.where_context = error.line().map(|line| format!("COPY, line {line}"));
    info.hint = error.hint().map(str::to_owned);
    info
}

/// A session error as pgwire's error type.
pub(super) fn to_pgwire(error: &session::Error) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(error)))
}

/// An error with an explicit code (protocol-level problems).
pub(super) fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_owned(),
        code.to_owned(),
        message.into(),
    )))
}

/// A DataFusion error raised while rows stream.
pub(super) fn stream_error(error: DataFusionError) -> PgWireError {
    to_pgwire(&session::Error::Query(query::Error::DataFusion(error)))
}

/// An encoding error raised while rows stream.
pub(super) fn encode_error(error: &EncodeError) -> PgWireError {
    let code = match error {
        EncodeError::Value(e) => value_code(e),
        EncodeError::Render(_) => INTERNAL_ERROR,
    };
    user_error(code, error.to_string())
}

/// A Bind parameter (`index` from 1) that does not read as its type.
pub(super) fn parameter_error(index: usize, error: &ValueError) -> PgWireError {
    let mut info = ErrorInfo::new(
        "ERROR".to_owned(),
        value_code(error).to_owned(),
        error.to_string(),
    );
    info.where_context = Some(format!("unnamed portal parameter ${index}"));
    PgWireError::UserError(Box::new(info))
}

/// The SQLSTATE of a value that does not read as, or fit, its type.
fn value_code(error: &ValueError) -> &'static str {
    match error {
        ValueError::InvalidText { type_name, .. }
            if type_name.starts_with("date")
                || type_name.starts_with("time")
                || *type_name == "interval" =>
        {
            INVALID_DATETIME_FORMAT
        }
        ValueError::InvalidText { .. } => INVALID_TEXT_REPRESENTATION,
        ValueError::DatetimeField { .. } => DATETIME_FIELD_OVERFLOW,
        ValueError::InvalidJson { .. } => INVALID_TEXT_REPRESENTATION,
        ValueError::InvalidHex { .. } => INVALID_PARAMETER_VALUE,
        ValueError::UnsupportedUnicodeEscape => UNTRANSLATABLE_CHARACTER,
        ValueError::TooDeep => STATEMENT_TOO_COMPLEX,
        ValueError::OutOfRange { .. } => NUMERIC_VALUE_OUT_OF_RANGE,
        ValueError::DatetimeOutOfRange { .. } => DATETIME_FIELD_OVERFLOW,
        ValueError::InvalidBinary { .. } => INVALID_BINARY_REPRESENTATION,
        ValueError::InvalidEncoding => CHARACTER_NOT_IN_REPERTOIRE,
        ValueError::MalformedArray { .. } => INVALID_TEXT_REPRESENTATION,
        ValueError::NotSupported { .. } => FEATURE_NOT_SUPPORTED,
    }
}

fn session_code(error: &session::Error) -> (&'static str, Blame) {
    use session::Error as E;
    match error {
        E::Parse(_) => (SYNTAX_ERROR, Blame::Client),
        E::Query(e) => query_code(e),
        E::UnknownSetting { .. } => (UNDEFINED_OBJECT, Blame::Client),
        E::InvalidSettingValue { .. }
        | E::SettingOutOfRange { .. }
        | E::SettingNeedsBoolean { .. }
        | E::SettingNameMissing => (INVALID_PARAMETER_VALUE, Blame::Client),
        E::SettingPermission { .. } => (INSUFFICIENT_PRIVILEGE, Blame::Client),
        E::UnsupportedSettingValue { .. } => (FEATURE_NOT_SUPPORTED, Blame::Client),
        E::ReadOnlySetting { .. } => (CANT_CHANGE_RUNTIME_PARAM, Blame::Client),
        E::DatabaseNotFound { .. } => (INVALID_CATALOG_NAME, Blame::Client),
        E::StatementTimeout | E::Canceled => (QUERY_CANCELED, Blame::Client),
        E::TransactionAborted => (IN_FAILED_SQL_TRANSACTION, Blame::Client),
        E::NoTransaction(_) => (NO_ACTIVE_SQL_TRANSACTION, Blame::Client),
        E::InTransaction(_) => (ACTIVE_SQL_TRANSACTION, Blame::Client),
        E::SavepointNotFound { .. } => (INVALID_SAVEPOINT_SPECIFICATION, Blame::Client),
        E::CursorNotFound { .. } => (INVALID_CURSOR_NAME, Blame::Client),
        E::CursorExists { .. } => (DUPLICATE_CURSOR, Blame::Client),
        E::CursorBackward => (OBJECT_NOT_IN_PREREQUISITE_STATE, Blame::Client),
        E::PreparedExists { .. } => (DUPLICATE_PREPARED_STATEMENT, Blame::Client),
        E::PreparedNotFound { .. } => (INVALID_SQL_STATEMENT_NAME, Blame::Client),
        E::WrongParameterCount { .. } => (SYNTAX_ERROR, Blame::Client),
        E::ParameterValuesMissing => (INTERNAL_ERROR, Blame::Server),
        E::StackDepthExceeded | E::StatementTooComplex => (STATEMENT_TOO_COMPLEX, Blame::Client),
    }
}

fn query_code(error: &query::Error) -> (&'static str, Blame) {
    use query::Error as E;
    match error {
        E::DataFusion(e) => datafusion_code(e),
        E::Storage(e) => storage_code(e),
        E::UndefinedTable { .. } => (UNDEFINED_TABLE, Blame::Client),
        E::UndefinedColumn { .. }
        | E::UndefinedColumnInKey { .. }
        | E::UndefinedColumnOf { .. } => (UNDEFINED_COLUMN, Blame::Client),
        E::InvalidTableDefinition { .. } => (INVALID_TABLE_DEFINITION, Blame::Client),
        E::DuplicateColumnInKey { .. } => (DUPLICATE_COLUMN, Blame::Client),
        E::DuplicateRelation { .. } => (DUPLICATE_TABLE, Blame::Client),
        E::UndefinedType { .. } => (UNDEFINED_OBJECT, Blame::Client),
        E::Unsupported { .. } => (FEATURE_NOT_SUPPORTED, Blame::Client),
        E::InvalidArgument { .. } | E::InvalidParameterValue { .. } => {
            (INVALID_PARAMETER_VALUE, Blame::Client)
        }
        E::DatetimeOutOfRange | E::IntervalOutOfRange | E::DateOutOfRange => {
            (DATETIME_FIELD_OVERFLOW, Blame::Client)
        }
        E::InvalidNtileArgument => (INVALID_ARGUMENT_FOR_NTILE_FUNCTION, Blame::Client),
        E::InvalidWidthBucketArgument { .. } => {
            (INVALID_ARGUMENT_FOR_WIDTH_BUCKET_FUNCTION, Blame::Client)
        }
        E::UnknownTableOption { .. } | E::InvalidTableOption { .. } => {
            (INVALID_PARAMETER_VALUE, Blame::Client)
        }
        E::CrossDatabase { .. } => (FEATURE_NOT_SUPPORTED, Blame::Client),
        E::UndefinedDatabase { .. } => (INVALID_CATALOG_NAME, Blame::Client),
        E::DuplicateColumn { .. } => (DUPLICATE_COLUMN, Blame::Client),
        E::DropCurrentDatabase => (OBJECT_IN_USE, Blame::Client),
        E::InvalidCopyOption { .. } | E::MultipleAssignments { .. } => {
            (SYNTAX_ERROR, Blame::Client)
        }
        E::CopyValue { error, .. } => (value_code(error), Blame::Client),
        E::Value(error) => (value_code(error), Blame::Client),
        E::CopyNotNull { .. } => (NOT_NULL_VIOLATION, Blame::Client),
        E::PermissionDenied { .. } => (INSUFFICIENT_PRIVILEGE, Blame::Client),
        E::InvalidGrant { .. } => (INVALID_GRANT_OPERATION, Blame::Client),
        E::ObjectInUse { .. } => (OBJECT_IN_USE, Blame::Client),
        E::DuplicateObject { .. } => (DUPLICATE_OBJECT, Blame::Client),
        E::UndefinedObject { .. } => (UNDEFINED_OBJECT, Blame::Client),
        E::UndefinedFunction { .. } => (UNDEFINED_FUNCTION, Blame::Client),
        E::AmbiguousColumn { .. } => (AMBIGUOUS_COLUMN, Blame::Client),
        E::DatatypeMismatch { .. } => (DATATYPE_MISMATCH, Blame::Client),
        E::CannotCoerce { .. } => (CANNOT_COERCE, Blame::Client),
        E::InvalidDatetimeFormat { .. } => (INVALID_DATETIME_FORMAT, Blame::Client),
        E::InvalidTextRepresentation { .. } => (INVALID_TEXT_REPRESENTATION, Blame::Client),
        E::InvalidEscapeSequence => (INVALID_ESCAPE_SEQUENCE, Blame::Client),
        E::WrongObjectType { .. } | E::WrongKindOfRelation { .. } => {
            (WRONG_OBJECT_TYPE, Blame::Client)
        }
        E::ViewColumnRenamed { .. } => (INVALID_TABLE_DEFINITION, Blame::Client),
        E::ViewRecursion { .. } => (INVALID_OBJECT_DEFINITION, Blame::Client),
        E::DependentObjects { .. } => (DEPENDENT_OBJECTS_STILL_EXIST, Blame::Client),
        E::ReadOnlyView { .. } => (FEATURE_NOT_SUPPORTED, Blame::Client),
        E::TooComplex { .. } => (STATEMENT_TOO_COMPLEX, Blame::Client),
        E::UndefinedParameter { .. } => (UNDEFINED_PARAMETER, Blame::Client),
        E::InvalidColumnReference { .. } => (INVALID_COLUMN_REFERENCE, Blame::Client),
        E::CardinalityViolation { .. } => (CARDINALITY_VIOLATION, Blame::Client),
        E::SyntaxError { .. } => (SYNTAX_ERROR, Blame::Client),
        E::NotInPrerequisiteState { .. } => (OBJECT_NOT_IN_PREREQUISITE_STATE, Blame::Client),
        E::GeneratedAlways { .. } => (GENERATED_ALWAYS, Blame::Client),
        E::NumericOutOfRange { .. }
        | E::NumericFieldOverflow { .. }
        | E::NumericFieldInfinite { .. } => (NUMERIC_VALUE_OUT_OF_RANGE, Blame::Client),
        E::DivisionByZero => (DIVISION_BY_ZERO, Blame::Client),
        E::DatetimeFieldOverflow { .. } => (DATETIME_FIELD_OVERFLOW, Blame::Client),
        E::NullValueNotAllowed { .. } => (NULL_VALUE_NOT_ALLOWED, Blame::Client),
        E::FeatureNotSupported { .. } => (FEATURE_NOT_SUPPORTED, Blame::Client),
        E::FormatSpecifier { .. } => (INVALID_PARAMETER_VALUE, Blame::Client),
        E::CachedPlanChanged => (FEATURE_NOT_SUPPORTED, Blame::Client),
        E::SubscriptionFellBehind { .. } => (CONFIGURATION_LIMIT_EXCEEDED, Blame::Client),
        E::SubscribedTableDropped { .. } => (UNDEFINED_TABLE, Blame::Client),
        E::Password(e) => match e {
            crate::password::Error::Malformed { .. } | crate::password::Error::TooLong => {
                (INVALID_PARAMETER_VALUE, Blame::Client)
            }
            crate::password::Error::Random => (INTERNAL_ERROR, Blame::Server),
        },
    }
}

fn storage_code(error: &storage::Error) -> (&'static str, Blame) {
    use storage::Error as E;
    match error {
        E::DatabaseExists { .. } => (DUPLICATE_DATABASE, Blame::Client),
        E::DatabaseNotFound { .. } => (INVALID_CATALOG_NAME, Blame::Client),
        E::DatabaseProtected { .. } => (OBJECT_IN_USE, Blame::Client),
        E::SchemaExists { .. } => (DUPLICATE_SCHEMA, Blame::Client),
        E::SchemaNotFound { .. } => (INVALID_SCHEMA_NAME, Blame::Client),
        E::SchemaNotEmpty { .. } => (DEPENDENT_OBJECTS_STILL_EXIST, Blame::Client),
        E::TableExists { .. } => (DUPLICATE_TABLE, Blame::Client),
        E::TableNotFound { .. } => (UNDEFINED_TABLE, Blame::Client),
        E::DuplicateColumn { .. } => (DUPLICATE_COLUMN, Blame::Client),
        E::Value(e) => (value_code(e), Blame::Client),
        E::Unsupported { .. } => (FEATURE_NOT_SUPPORTED, Blame::Client),
        E::UniqueViolation { .. } => (UNIQUE_VIOLATION, Blame::Client),
        E::ConcurrentUpdate | E::TableAltered { .. } => (SERIALIZATION_FAILURE, Blame::Client),
        E::InvalidSchema { .. } => (INVALID_TABLE_DEFINITION, Blame::Client),
        E::NotNullViolation { .. } | E::ColumnHasNulls { .. } => {
            (NOT_NULL_VIOLATION, Blame::Client)
        }
        E::StringTooLong { .. } => (STRING_DATA_RIGHT_TRUNCATION, Blame::Client),
        E::SequenceNotFound { .. } | E::ViewNotFound { .. } => (UNDEFINED_TABLE, Blame::Client),
        E::IndexNotFound { .. } => (UNDEFINED_OBJECT, Blame::Client),
        E::IndexOfConstraint { .. } => (DEPENDENT_OBJECTS_STILL_EXIST, Blame::Client),
        E::SequenceInUse { .. } => (DEPENDENT_OBJECTS_STILL_EXIST, Blame::Client),
        E::InvalidSequence { .. } => (INVALID_PARAMETER_VALUE, Blame::Client),
        E::SequenceLimit { .. } => (SEQUENCE_GENERATOR_LIMIT_EXCEEDED, Blame::Client),
        E::SequenceValueOutOfBounds { .. } => (NUMERIC_VALUE_OUT_OF_RANGE, Blame::Client),
        E::Arrow(e) => arrow_code(e),
        E::Codec(_) => (DATA_CORRUPTED, Blame::Server),
        E::Internal { .. } => (INTERNAL_ERROR, Blame::Server),
        E::Corrupt { .. } => (DATA_CORRUPTED, Blame::Server),
        E::Wal(e) => wal_code(e),
        E::RoleExists { .. } => (DUPLICATE_OBJECT, Blame::Client),
        E::RoleNotFound { .. } => (UNDEFINED_OBJECT, Blame::Client),
        E::ReservedRoleName { .. } => (RESERVED_NAME, Blame::Client),
        E::RoleInUse { .. } => (DEPENDENT_OBJECTS_STILL_EXIST, Blame::Client),
    }
}

fn wal_code(error: &crate::wal::Error) -> (&'static str, Blame) {
    use crate::wal::Error as E;
    match error {
        E::Failed(_) | E::Io { .. } => (IO_ERROR, Blame::Server),
        E::Closed => (ADMIN_SHUTDOWN, Blame::Server),
        E::Corrupt { .. } => (DATA_CORRUPTED, Blame::Server),
    }
}

/// The innermost error of a DataFusion error chain.
/// The query layer's error behind `error`, also when it was raised inside
/// DataFusion (a function's) and travelled as `External`.
fn query_error(error: &session::Error) -> Option<&query::Error> {
    fn inside(error: &query::Error) -> &query::Error {
        match error {
            query::Error::DataFusion(e) => match root(e) {
                DataFusionError::External(inner) => {
                    if let Some(found) = inner.downcast_ref::<query::Error>() {
                        inside(found)
                    } else if let Some(session::Error::Query(found)) =
                        inner.downcast_ref::<session::Error>()
                    {
                        inside(found)
                    } else {
                        error
                    }
                }
                _ => error,
            },
            other => other,
        }
    }
    match error {
        session::Error::Query(e) => Some(inside(e)),
        _ => None,
    }
}

fn root(error: &DataFusionError) -> &DataFusionError {
    match error {
        DataFusionError::Context(_, inner) => root(inner),
        DataFusionError::Shared(inner) => root(inner),
        DataFusionError::Diagnostic(_, inner) => root(inner),
        DataFusionError::Collection(errors) => errors.first().map_or(error, root),
        other => other,
    }
}

fn datafusion_message(error: &DataFusionError) -> String {
    let root = root(error);
    match root {
        DataFusionError::External(inner) => match inner.downcast_ref::<session::Error>() {
            Some(session::Error::Query(query::Error::DataFusion(e))) => datafusion_message(e),
            _ => inner.to_string(),
        },
        DataFusionError::ArrowError(inner, _) => arrow_message(inner),
        DataFusionError::SchemaError(error, _) => match error.as_ref() {
            SchemaError::FieldNotFound { field, .. } => {
                format!("column \"{}\" does not exist", field.name())
            }
            other => other.to_string(),
        },
        DataFusionError::SQL(inner, _) => inner.to_string(),
        DataFusionError::Plan(message)
        | DataFusionError::Execution(message)
        | DataFusionError::NotImplemented(message)
        | DataFusionError::Configuration(message)
        | DataFusionError::ResourcesExhausted(message) => message.clone(),
        other => other.to_string(),
    }
}

fn arrow_message(error: &ArrowError) -> String {
    match error {
        ArrowError::CastError(m) => cast_message(m).unwrap_or_else(|| m.clone()),
        ArrowError::ParseError(m)
        | ArrowError::ComputeError(m)
        | ArrowError::InvalidArgumentError(m) => m.clone(),
        ArrowError::DivideByZero => "division by zero".to_owned(),
        other => other.to_string(),
    }
}

/// Arrow's "Cannot cast string 'x' to value of Int32 type" in PostgreSQL's
/// words, for the types PostgreSQL names that way.
fn cast_message(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Cannot cast string '")?;
    let (value, arrow_type) = rest.rsplit_once("' to value of ")?;
    if arrow_type == "Date32 type" {
        return Some(if date_field_overflow(value) {
            format!("date/time field value out of range: \"{value}\"")
        } else {
            format!("invalid input syntax for type date: \"{value}\"")
        });
    }
    let pg_type = match arrow_type.strip_suffix(" type")? {
        "Int16" => "smallint",
        "Int32" => "integer",
        "Int64" => "bigint",
        "Float32" => "real",
        "Float64" => "double precision",
        "Boolean" => "boolean",
        _ => return None,
    };
    if out_of_range_integer(value, pg_type) {
        return Some(format!(
            "value \"{value}\" is out of range for type {pg_type}"
        ));
    }
    Some(format!(
        "invalid input syntax for type {pg_type}: \"{value}\""
    ))
}

/// Whether a cast of `value` to an integer type failed for its size: it
/// is an integer's text, which PostgreSQL reports as out of range (22003).
fn out_of_range_integer(value: &str, pg_type: &str) -> bool {
    let digits = value.trim().trim_start_matches(['-', '+']);
    matches!(pg_type, "smallint" | "integer" | "bigint")
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a date's text that Arrow could not read has the shape of an
/// ISO date (`2024-02-30`), which PostgreSQL reads and then finds a field
/// out of range.
fn date_field_overflow(value: &str) -> bool {
    let parts: Vec<&str> = value.trim().splitn(3, '-').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The code of an Arrow cast error: 22003 for an integer too large for
/// its type, 22007 or 22008 for a date, 22P02 (or a rule's code) otherwise.
fn cast_code(message: &str) -> &'static str {
    if let Some(value) = message
        .strip_prefix("Cannot cast string '")
        .and_then(|rest| rest.strip_suffix("' to value of Date32 type"))
    {
        return if date_field_overflow(value) {
            DATETIME_FIELD_OVERFLOW
        } else {
            INVALID_DATETIME_FORMAT
        };
    }
    let out_of_range = message
        .strip_prefix("Cannot cast string '")
        .and_then(|rest| rest.rsplit_once("' to value of "))
        .is_some_and(|(value, arrow_type)| {
            let pg_type = match arrow_type {
                "Int16 type" => "smallint",
                "Int32 type" => "integer",
                "Int64 type" => "bigint",
                _ => "",
            };
            out_of_range_integer(value, pg_type)
        });
    if out_of_range {
        NUMERIC_VALUE_OUT_OF_RANGE
    } else {
        message_code(ARROW_MESSAGES, message, INVALID_TEXT_REPRESENTATION)
    }
}

fn datafusion_code(error: &DataFusionError) -> (&'static str, Blame) {
    match root(error) {
        DataFusionError::SQL(_, _) => (SYNTAX_ERROR, Blame::Client),
        DataFusionError::SchemaError(e, _) => match e.as_ref() {
            SchemaError::FieldNotFound { .. } => (UNDEFINED_COLUMN, Blame::Client),
            SchemaError::AmbiguousReference { .. } => (AMBIGUOUS_COLUMN, Blame::Client),
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => (DUPLICATE_COLUMN, Blame::Client),
        },
        DataFusionError::ArrowError(e, _) => arrow_code(e),
        DataFusionError::External(e) => external_code(e.as_ref()),
        DataFusionError::NotImplemented(_) => (FEATURE_NOT_SUPPORTED, Blame::Client),
        DataFusionError::ResourcesExhausted(_) => (OUT_OF_MEMORY, Blame::Client),
        DataFusionError::Plan(message) => (plan_code(message), Blame::Client),
        DataFusionError::Execution(message) => (execution_code(message), Blame::Client),
        DataFusionError::Configuration(_) => (INVALID_PARAMETER_VALUE, Blame::Client),
        DataFusionError::ParquetError(_)
        | DataFusionError::ObjectStore(_)
        | DataFusionError::IoError(_)
        | DataFusionError::Internal(_)
        | DataFusionError::ExecutionJoin(_)
        | DataFusionError::Substrait(_)
        | DataFusionError::Context(_, _)
        | DataFusionError::Shared(_)
        | DataFusionError::Diagnostic(_, _)
        | DataFusionError::Collection(_)
        | DataFusionError::Ffi(_) => (INTERNAL_ERROR, Blame::Server),
    }
}

/// Our own errors that crossed DataFusion as `External`.
fn external_code(error: &(dyn std::error::Error + Send + Sync + 'static)) -> (&'static str, Blame) {
    if let Some(e) = error.downcast_ref::<storage::Error>() {
        return storage_code(e);
    }
    if let Some(e) = error.downcast_ref::<session::Error>() {
        return session_code(e);
    }
    if let Some(e) = error.downcast_ref::<query::Error>() {
        return query_code(e);
    }
    if let Some(e) = error.downcast_ref::<ArrowError>() {
        return arrow_code(e);
    }
    if let Some(e) = error.downcast_ref::<DataFusionError>() {
        return datafusion_code(e);
    }
    (INTERNAL_ERROR, Blame::Server)
}

fn arrow_code(error: &ArrowError) -> (&'static str, Blame) {
    match error {
        ArrowError::CastError(m) | ArrowError::ParseError(m) => (cast_code(m), Blame::Client),
        ArrowError::ComputeError(m) => (
            message_code(ARROW_MESSAGES, m, DATA_EXCEPTION),
            Blame::Client,
        ),
        ArrowError::DivideByZero => (DIVISION_BY_ZERO, Blame::Client),
        ArrowError::ArithmeticOverflow(_) => (NUMERIC_VALUE_OUT_OF_RANGE, Blame::Client),
        ArrowError::InvalidArgumentError(m) => (
            message_code(ARROW_MESSAGES, m, DATA_EXCEPTION),
            Blame::Client,
        ),
        ArrowError::ExternalError(inner) => external_code(inner.as_ref()),
        _ => (INTERNAL_ERROR, Blame::Server),
    }
}

/// A message rule: every one of its (lower-case) words is in the message.
type MessageRule = (&'static [&'static str], &'static str);

/// DataFusion reports planning problems as text. These are the ones clients
/// meet, in the words DataFusion 55 uses, with the SQLSTATE PostgreSQL gives
/// the same mistake; the first rule that matches decides. Each rule is met
/// by a statement in this file's tests, so a change of wording fails them.
const PLAN_MESSAGES: &[MessageRule] = &[
    // A call no signature takes: PostgreSQL finds no such function.
    (&["no function matches"], UNDEFINED_FUNCTION),
    (&["invalid function"], UNDEFINED_FUNCTION),
    (&["does not support named arguments"], UNDEFINED_FUNCTION),
    // Without the "no function matches" above: ANY or ALL over a value
    // that is no array, which DataFusion plans as a call.
    (
        &["failed to coerce arguments to satisfy a call"],
        WRONG_OBJECT_TYPE,
    ),
    // AND, OR and NOT need booleans, as does WHERE.
    (
        &["cannot infer common argument type for logical boolean"],
        DATATYPE_MISMATCH,
    ),
    (
        &["cannot create filter with non-boolean predicate"],
        DATATYPE_MISMATCH,
    ),
    (&["requires a boolean expression"], DATATYPE_MISMATCH),
    (&["incompatible inputs for union"], DATATYPE_MISMATCH),
    // An operator without a form for its operand types.
    (&["cannot infer common"], UNDEFINED_FUNCTION),
    (&["cannot coerce arithmetic expression"], UNDEFINED_FUNCTION),
    (
        &["cannot get result type for temporal operation"],
        UNDEFINED_FUNCTION,
    ),
    // Grouping.
    (&["must be in group by"], GROUPING_ERROR),
    (
        &["aggregate functions are not allowed in the where clause"],
        GROUPING_ERROR,
    ),
    // Shapes that do not line up.
    (&["queries have different number of columns"], SYNTAX_ERROR),
    (
        &["inconsistent data length across values list"],
        SYNTAX_ERROR,
    ),
    (
        &["the subquery should only return one column"],
        SYNTAX_ERROR,
    ),
    (&["order by column out of bounds"], INVALID_COLUMN_REFERENCE),
    (&["not found", "table"], UNDEFINED_TABLE),
    (&["not supported"], FEATURE_NOT_SUPPORTED),
    (&["unsupported"], FEATURE_NOT_SUPPORTED),
    // `json_agg(x ORDER BY y) OVER ()`, as PostgreSQL words it too.
    (&["is not implemented"], FEATURE_NOT_SUPPORTED),
    (&["frame offsets for range"], INVALID_COLUMN_REFERENCE),
];

/// Execution errors DataFusion raises as text, likewise.
const EXECUTION_MESSAGES: &[MessageRule] = &[
    (
        &["scalar subquery returned more than one row"],
        CARDINALITY_VIOLATION,
    ),
    (&["error parsing"], INVALID_DATETIME_FORMAT),
    (&["overflow"], NUMERIC_VALUE_OUT_OF_RANGE),
    (&["exceeds the representable"], NUMERIC_VALUE_OUT_OF_RANGE),
    (&["invalid"], INVALID_PARAMETER_VALUE),
];

/// Arrow's cast, parse and compute errors, likewise.
const ARROW_MESSAGES: &[MessageRule] = &[
    (&["timestamp out of range"], DATETIME_FIELD_OVERFLOW),
    // DataFusion's sqrt raises its error inside Arrow's kernel.
    (
        &["square root of a negative number"],
        INVALID_ARGUMENT_FOR_POWER_FUNCTION,
    ),
    (&["overflow"], NUMERIC_VALUE_OUT_OF_RANGE),
    (&["out of range"], NUMERIC_VALUE_OUT_OF_RANGE),
    (&["can't cast value"], NUMERIC_VALUE_OUT_OF_RANGE),
    // A decimal beyond its column's precision: PostgreSQL's "numeric field
    // overflow".
    (
        &["too large to store in a decimal"],
        NUMERIC_VALUE_OUT_OF_RANGE,
    ),
];

/// The index of the first rule of `rules` that `message` meets.
fn matching_rule(rules: &[MessageRule], message: &str) -> Option<usize> {
    let m = message.to_ascii_lowercase();
    rules
        .iter()
        .position(|(words, _)| words.iter().all(|w| m.contains(w)))
}

fn message_code(rules: &[MessageRule], message: &str, default: &'static str) -> &'static str {
    matching_rule(rules, message).map_or(default, |i| rules[i].1)
}

fn plan_code(message: &str) -> &'static str {
    message_code(
        PLAN_MESSAGES,
        message,
        SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION,
    )
}

fn execution_code(message: &str) -> &'static str {
    message_code(EXECUTION_MESSAGES, message, DATA_EXCEPTION)
}

#[cfg(test)]
mod tests;
