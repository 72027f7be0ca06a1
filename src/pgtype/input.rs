//! What every input function shares: the white space around a text value
//! and the size of a binary one.

use super::error::{ValueError, ValueResult};

/// Strips the white space PostgreSQL's input functions skip around a value
/// (C's `isspace`).
pub fn trim_space(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C'))
}

/// A fixed-size binary value: exactly `N` bytes, or
/// [`ValueError::InvalidBinary`].
pub fn fixed<const N: usize>(bytes: &[u8], type_name: &'static str) -> ValueResult<[u8; N]> {
    bytes.try_into().map_err(|_| ValueError::InvalidBinary {
        type_name,
        expected: N,
        actual: bytes.len(),
    })
}

/// Text of a value given as bytes: UTF-8, or [`ValueError::InvalidEncoding`].
pub fn utf8(bytes: &[u8]) -> ValueResult<&str> {
    std::str::from_utf8(bytes).map_err(|_| ValueError::InvalidEncoding)
}
