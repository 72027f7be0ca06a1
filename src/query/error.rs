//! The query layer's one error type.

use datafusion::error::DataFusionError;

use crate::storage;

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
    #[error("database \"{name}\" does not exist")]
    UndefinedDatabase { name: String },
    #[error("column \"{column}\" of relation \"{table}\" already exists")]
    DuplicateColumn { column: String, table: String },
    #[error("column \"{name}\" does not exist")]
    UndefinedColumn { name: String },
    #[error("column \"{column}\" of relation \"{table}\" does not exist")]
    UndefinedColumnOf { column: String, table: String },
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
    #[error("interval out of range")]
    IntervalOutOfRange,
    #[error("date out of range")]
    DateOutOfRange,
    #[error("unrecognized parameter \"{name}\"")]
    UnknownTableOption { name: String },
    #[error("{message}")]
    InvalidTableDefinition { message: String },
    #[error("column \"{name}\" named in key does not exist")]
    UndefinedColumnInKey { name: String },
    #[error("column \"{name}\" appears twice in {kind} constraint")]
    DuplicateColumnInKey { name: String, kind: &'static str },
    #[error("relation \"{name}\" already exists")]
    DuplicateRelation { name: String },
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
    #[error("{message}")]
    DuplicateObject { message: String },
    #[error("{message}")]
    UndefinedObject { message: String },
    #[error(transparent)]
    Password(#[from] crate::password::Error),
    /// A function called with arguments it does not take: PostgreSQL finds
    /// no such function (42883).
    #[error("{message}")]
    UndefinedFunction { message: String },
    #[error("{message}")]
    AmbiguousColumn { message: String },
    /// An argument of the wrong type (42804).
    #[error("{message}")]
    DatatypeMismatch { message: String },
    /// A cast PostgreSQL has no rule for (42846).
    #[error("cannot cast type {from} to {to}")]
    CannotCoerce { from: String, to: String },
    /// Text that does not read as a date or time (22007).
    #[error("{message}")]
    InvalidDatetimeFormat { message: String },
    /// Text that does not read as what a function expects (22P02).
    #[error("{message}")]
    InvalidTextRepresentation { message: String },
    /// Arithmetic whose result its type cannot hold (22003), in
    /// PostgreSQL's words (`bigint out of range`).
    #[error("{message}")]
    NumericOutOfRange { message: String },
    /// `width_bucket`'s bounds or count refused (2201G), in PostgreSQL's
    /// words.
    #[error("{message}")]
    InvalidWidthBucketArgument { message: &'static str },
    /// An `ntile` of no buckets (22014).
    #[error("argument of ntile must be greater than zero")]
    InvalidNtileArgument,
    /// A value too wide for `numeric(precision, scale)` (22003).
    #[error("numeric field overflow")]
    NumericFieldOverflow { precision: u8, scale: i8 },
    /// An infinite float cast to `numeric(precision, scale)` (22003).
    #[error("numeric field overflow")]
    NumericFieldInfinite { precision: u8, scale: i8 },
    /// A date or time field outside its range (22008), in PostgreSQL's
    /// words (`date field value out of range: 2023-02-30`).
    #[error("{message}")]
    DatetimeFieldOverflow { message: String },
    /// A malformed `format()` specifier (22023), with PostgreSQL's hint.
    #[error("{message}")]
    FormatSpecifier { message: String },
    /// Something PostgreSQL itself refuses as not supported (0A000), in
    /// its words (`unit "timezone" not supported for type date`).
    #[error("{message}")]
    FeatureNotSupported { message: String },
    /// A NULL where a function cannot take one (22004).
    #[error("{message}")]
    NullValueNotAllowed { message: String },
    /// A zero divisor (22012).
    #[error("division by zero")]
    DivisionByZero,
    /// A LIKE escape that is not one character (22025).
    #[error("invalid escape string")]
    InvalidEscapeSequence,
    /// A prepared statement planned again after DDL returns other types
    /// (0A000, as in PostgreSQL).
    #[error("cached plan must not change result type")]
    CachedPlanChanged,
    /// A subscriber that did not keep up with the writes (53400).
    #[error(
        "subscription ended: it fell behind by more than {limit} rows (read faster, or raise \
         --subscribe-queue-rows)"
    )]
    SubscriptionFellBehind { limit: usize },
    /// The table a subscription reads was dropped (42P01).
    #[error("relation \"{name}\" was dropped while subscribed to")]
    SubscribedTableDropped { name: String },
    /// A value that does not read as its type.
    #[error(transparent)]
    Value(#[from] crate::pgtype::ValueError),
    /// A COPY value that does not read as its column's type; `context`
    /// says where it was.
    #[error("{error}")]
    CopyValue {
        error: crate::pgtype::ValueError,
        context: String,
    },
    /// A statement PostgreSQL's grammar rejects (42601), in its words.
    #[error("{message}")]
    SyntaxError { message: String },
    /// An `ON CONFLICT` target that no key matches (42P10).
    #[error("{message}")]
    InvalidColumnReference { message: String },
    /// A row an `ON CONFLICT DO UPDATE` would change twice (21000).
    #[error("{message}")]
    CardinalityViolation { message: String, hint: &'static str },
    /// A name that names another kind of object (42809).
    #[error("{message}")]
    WrongObjectType { message: String },
    /// `currval` before `nextval`, and the like (55000).
    #[error("{message}")]
    NotInPrerequisiteState { message: String },
    /// A value given to a `GENERATED ALWAYS` identity column (428C9).
    #[error("{message}")]
    GeneratedAlways { message: String, column: String },
    /// `UPDATE t SET v = 1, v = 2`.
    #[error("multiple assignments to same column \"{column}\"")]
    MultipleAssignments { column: String },
    /// `CREATE OR REPLACE VIEW` naming a column otherwise.
    #[error("cannot change name of view column \"{from}\" to \"{to}\"")]
    ViewColumnRenamed { from: String, to: String },
    /// A view that would read itself.
    #[error("infinite recursion detected in rules for relation \"{name}\"")]
    ViewRecursion { name: String },
    /// A `DROP` without `CASCADE` of what views read; `detail` names them.
    #[error("{message}")]
    DependentObjects { message: String, detail: String },
    /// `DROP TABLE` of a view and the like; `hint` names the right command.
    #[error("{message}")]
    WrongKindOfRelation { message: String, hint: &'static str },
    /// A write to a view.
    #[error("{message}")]
    ReadOnlyView { message: String },
    /// `$n` where no parameter can be (a view's query).
    #[error("{message}")]
    UndefinedParameter { message: String },
    /// Views expanded past what a statement may hold.
    #[error("{message}")]
    TooComplex { message: String },
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
    /// PostgreSQL's hint for the error, for the ErrorResponse's hint field.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::FormatSpecifier { .. } => Some("For a single \"%\" use \"%%\"."),
            Error::CardinalityViolation { hint, .. } | Error::WrongKindOfRelation { hint, .. } => {
                Some(hint)
            }
            Error::ViewColumnRenamed { .. } => {
                Some("Use ALTER VIEW ... RENAME COLUMN ... to change name of view column instead.")
            }
            Error::DependentObjects { .. } => {
                Some("Use DROP ... CASCADE to drop the dependent objects too.")
            }
            Error::GeneratedAlways { message, .. } if message.starts_with("cannot insert") => {
                Some("Use OVERRIDING SYSTEM VALUE to override.")
            }
            _ => None,
        }
    }

    /// PostgreSQL's detail for the error, for the ErrorResponse's detail
    /// field.
    pub fn detail(&self) -> Option<String> {
        match self {
            Error::NumericFieldOverflow { precision, scale } => {
                let digits = i32::from(*precision) - i32::from(*scale);
                let limit = if digits > 0 {
                    format!("10^{digits}")
                } else {
                    "1".to_owned()
                };
                Some(format!(
                    "A field with precision {precision}, scale {scale} must round to an \
                     absolute value less than {limit}."
                ))
            }
            Error::NumericFieldInfinite { precision, scale } => Some(format!(
                "A field with precision {precision}, scale {scale} cannot hold an infinite value."
            )),
            Error::PermissionDenied { detail, .. } => detail.clone(),
            Error::DependentObjects { detail, .. } => Some(detail.clone()),
            Error::ReadOnlyView { .. } => Some("Views are read-only in EpochDB.".to_owned()),
            Error::GeneratedAlways { column, .. } => Some(format!(
                "Column \"{column}\" is an identity column defined as GENERATED ALWAYS."
            )),
            _ => None,
        }
    }

    /// Where the error happened, for the ErrorResponse's context field.
    pub fn context(&self) -> Option<&str> {
        match self {
            Error::CopyValue { context, .. } | Error::CopyNotNull { context, .. } => Some(context),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of ours raised inside DataFusion (functions, rules, operators)
/// travel as `External`, and the protocol edge finds them again by type.
impl From<Error> for DataFusionError {
    fn from(error: Error) -> Self {
        DataFusionError::External(Box::new(error))
    }
}
