//! Why a value could not be read or written.

/// A value that does not read as, or does not fit, its PostgreSQL type. The
/// messages are PostgreSQL's; the protocol edge gives each its SQLSTATE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// 22P02, and 22007 for dates, times and intervals.
    #[error("invalid input syntax for type {type_name}: \"{value}\"")]
    InvalidText {
        type_name: &'static str,
        value: String,
    },
    /// 22003: a number outside its type's range.
    #[error("value \"{value}\" is out of range for type {type_name}")]
    OutOfRange {
        type_name: &'static str,
        value: String,
    },
    /// 22008: a date or time outside PostgreSQL's range (or, until EpochDB
    /// stores them, `infinity`).
    #[error("{what} out of range")]
    DatetimeOutOfRange { what: &'static str },
    /// 22008: a date whose fields read but name no day (`2024-02-30`).
    #[error("date/time field value out of range: \"{value}\"")]
    DatetimeField { value: String },
    /// 22P03: a binary value of the wrong size.
    #[error("incorrect binary data format")]
    InvalidBinary {
        type_name: &'static str,
        expected: usize,
        actual: usize,
    },
    /// 22021: text that is not UTF-8.
    #[error("invalid byte sequence for encoding \"UTF8\"")]
    InvalidEncoding,
    /// 22P02: text that is not an array literal.
    #[error("malformed array literal: \"{value}\"")]
    MalformedArray { value: String },
    /// 22023: `bytea` hex text with a bad digit, or an odd number of them.
    #[error("{message}")]
    InvalidHex { message: String },
    /// 22P02: text that is not JSON.
    #[error("invalid input syntax for type json")]
    InvalidJson { detail: String },
    /// 22P05: `\u0000` in a `jsonb` string.
    #[error("unsupported Unicode escape sequence")]
    UnsupportedUnicodeEscape,
    /// 54001: a value nested deeper than EpochDB reads.
    #[error("stack depth limit exceeded")]
    TooDeep,
    /// 0A000: a form PostgreSQL reads that EpochDB does not.
    #[error("{what} are not supported")]
    NotSupported { what: &'static str },
}

pub type ValueResult<T> = Result<T, ValueError>;
