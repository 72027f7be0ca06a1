//! `smallint`, `integer` and `bigint`: `int2in`/`int4in`/`int8in`. Output is
//! the decimal digits; the binary forms are big-endian two's complement.

use std::num::IntErrorKind;
use std::str::FromStr;

use super::error::{ValueError, ValueResult};
use super::input::trim_space;

/// An integer as PostgreSQL reads one: an optional sign and decimal digits,
/// with white space around. A number outside `T` is out of range, as in
/// PostgreSQL, never wrapped or clamped.
pub fn int_in<T>(s: &str, type_name: &'static str) -> ValueResult<T>
where
    T: FromStr<Err = std::num::ParseIntError>,
{
    trim_space(s).parse::<T>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => ValueError::OutOfRange {
            type_name,
            value: s.to_owned(),
        },
        _ => ValueError::InvalidText {
            type_name,
            value: s.to_owned(),
        },
    })
}

/// The common case of integer input, fast: `[-]digits`, at most 18 of them
/// (so no overflow in `i64`); `None` otherwise, or when out of `T`'s range,
/// for [`int_in`] to decide.
pub fn short_integer<T: TryFrom<i64>>(s: &[u8]) -> Option<T> {
    let (negative, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut magnitude = 0i64;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude * 10 + i64::from(b - b'0');
    }
    T::try_from(if negative { -magnitude } else { magnitude }).ok()
}
