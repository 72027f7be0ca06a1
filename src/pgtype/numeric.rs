//! `numeric`, held as Arrow's 128-bit decimal (an integer `value` and a
//! `scale`: the number is `value / 10^scale`): `numeric_out`,
//! `numeric_send` and `numeric_in`. PostgreSQL prints a numeric with as
//! many decimals as its display scale, which is the decimal's scale here.
//!
//! The binary form is PostgreSQL's: a header of four 16-bit words (the
//! number of digits, the weight of the first digit, the sign, the display
//! scale), then the digits in base 10000, most significant first, without
//! leading or trailing zero digits. The weight counts base-10000 digits
//! before the decimal point, less one.

use super::error::{ValueError, ValueResult};
use super::input::trim_space;

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
/// Decimal digits in a base-10000 digit.
const DEC_DIGITS: usize = 4;

/// `value / 10^scale` as PostgreSQL prints it. A negative scale (Arrow
/// allows one) prints the zeros it stands for.
pub fn numeric_out(value: i128, scale: i8) -> String {
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    if scale <= 0 {
        if value == 0 {
            return "0".to_owned();
        }
        let zeros = usize::from(scale.unsigned_abs());
        return format!("{sign}{digits}{}", "0".repeat(zeros));
    }
    let scale = usize::from(scale.unsigned_abs());
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

/// The binary form of `value / 10^scale`.
pub fn numeric_send(value: i128, scale: i8) -> Vec<u8> {
    let display_scale = u16::from(scale.max(0).unsigned_abs());
    // The decimal digits before and after the point, each padded with
    // zeros to whole base-10000 digits.
    let digits = value.unsigned_abs().to_string();
    let (mut whole, mut fraction) = if scale >= 0 {
        let scale = usize::from(scale.unsigned_abs());
        let digits = format!("{digits:0>width$}", width = scale + 1);
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        (whole.to_owned(), fraction.to_owned())
    } else {
        let zeros = usize::from(scale.unsigned_abs());
        (format!("{digits}{}", "0".repeat(zeros)), String::new())
    };
    whole.insert_str(
        0,
        &"0".repeat((DEC_DIGITS - whole.len() % DEC_DIGITS) % DEC_DIGITS),
    );
    fraction.push_str(&"0".repeat((DEC_DIGITS - fraction.len() % DEC_DIGITS) % DEC_DIGITS));
    let group = |chunk: &[u8]| {
        chunk
            .iter()
            .fold(0u16, |acc, &b| acc * 10 + u16::from(b - b'0'))
    };
    let mut groups: Vec<u16> = whole
        .as_bytes()
        .chunks(DEC_DIGITS)
        .chain(fraction.as_bytes().chunks(DEC_DIGITS))
        .map(group)
        .collect();
    let mut weight = (whole.len() / DEC_DIGITS) as i32 - 1;
    let leading = groups.iter().take_while(|&&g| g == 0).count();
    groups.drain(..leading);
    weight -= leading as i32;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign = if value < 0 { NEGATIVE } else { POSITIVE };
    let mut out = Vec::with_capacity(8 + 2 * groups.len());
    for word in [
        groups.len() as u16,
        weight as i16 as u16,
        sign,
        display_scale,
    ]
    .into_iter()
    .chain(groups)
    {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out
}

/// PostgreSQL's numeric input, for a column of the given precision and
/// scale: `[sign]digits[.digits][e[sign]digits]` with white space around,
/// rounded half away from zero to `scale` decimals. A value with more
/// digits than `precision` allows is out of range (22003), as a `numeric(p,
/// s)` column has it.
pub fn numeric_in(s: &str, precision: u8, scale: i8) -> ValueResult<i128> {
    let invalid = || ValueError::InvalidText {
        type_name: "numeric",
        value: s.to_owned(),
    };
    let out_of_range = || ValueError::OutOfRange {
        type_name: "numeric",
        value: s.to_owned(),
    };
    let t = trim_space(s);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(at) => {
            let exponent: i32 = t[at + 1..].parse().map_err(|_| invalid())?;
            (&t[..at], exponent)
        }
        None => (t, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    // The digits, with the decimal point `point` digits from their start.
    let digits: Vec<u8> = whole
        .bytes()
        .chain(fraction.bytes())
        .map(|b| b - b'0')
        .collect();
    let point = i64::try_from(whole.len()).map_err(|_| out_of_range())? + i64::from(exponent);
    // Keep the digits up to `scale` decimals; round on the next one.
    let kept = point + i64::from(scale);
    let mut value: i128 = 0;
    for position in 0..kept.max(0) {
        let digit = usize::try_from(position)
            .ok()
            .and_then(|p| digits.get(p))
            .copied()
            .unwrap_or(0);
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(digit)))
            .ok_or_else(out_of_range)?;
    }
    let next = usize::try_from(kept)
        .ok()
        .and_then(|p| digits.get(p))
        .copied()
        .unwrap_or(0);
    if next >= 5 {
        value = value.checked_add(1).ok_or_else(out_of_range)?;
    }
    if value != 0 && value.unsigned_abs() >= 10u128.pow(u32::from(precision)) {
        return Err(out_of_range());
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_the_scales_decimals() {
        assert_eq!(numeric_out(18446744073709551614, 0), "18446744073709551614");
        assert_eq!(numeric_out(-5, 2), "-0.05");
        assert_eq!(numeric_out(12345, 2), "123.45");
        assert_eq!(numeric_out(0, 3), "0.000");
        assert_eq!(numeric_out(7, -2), "700");
    }

    /// The words of a binary numeric, for comparing with PostgreSQL's.
    fn words(value: i128, scale: i8) -> Vec<i16> {
        numeric_send(value, scale)
            .chunks(2)
            .map(|w| i16::from_be_bytes([w[0], w[1]]))
            .collect()
    }

    #[test]
    fn binary_is_postgresqls() {
        // SELECT numeric_send(x) on PostgreSQL 15, read as 16-bit words.
        assert_eq!(words(0, 0), vec![0, 0, 0, 0]);
        assert_eq!(words(1, 0), vec![1, 0, 0, 0, 1]);
        assert_eq!(words(10000, 0), vec![1, 1, 0, 0, 1]);
        assert_eq!(words(12345, 2), vec![2, 0, 0, 2, 123, 4500]);
        assert_eq!(words(-5, 2), vec![1, -1, 0x4000, 2, 500]);
        assert_eq!(
            words(18446744073709551614, 0),
            vec![5, 4, 0, 0, 1844, 6744, 737, 955, 1614]
        );
        assert_eq!(words(100000000, 4), vec![1, 1, 0, 4, 1]);
        assert_eq!(words(7, -5), vec![1, 1, 0, 0, 70]);
    }

    #[test]
    fn text_reads_back_with_rounding_half_away_from_zero() {
        assert_eq!(numeric_in("123.455", 38, 2).unwrap(), 12346);
        assert_eq!(numeric_in("-123.455", 38, 2).unwrap(), -12346);
        assert_eq!(numeric_in(" 1e3 ", 38, 0).unwrap(), 1000);
        assert_eq!(numeric_in(".5", 38, 0).unwrap(), 1);
        assert_eq!(numeric_in("1.5E-1", 38, 1).unwrap(), 2);
        assert!(numeric_in("1000", 3, 0).is_err());
        assert!(numeric_in("abc", 38, 0).is_err());
        assert!(numeric_in(".", 38, 0).is_err());
        assert!(numeric_in("1e400", 38, 0).is_err());
    }
}
