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

/// A numeric read from text at its own display scale ([`numeric_text_scale`]):
/// the value and the scale. NaN and the infinities are not supported, and
/// a value beyond 38 digits is out of range.
pub fn numeric_in_own_scale(s: &str) -> ValueResult<(i128, i8)> {
    if is_special_numeric_text(s) {
        return Err(ValueError::NotSupported {
            what: "NaN and Infinity numeric values",
        });
    }
    let scale = numeric_text_scale(s).ok_or_else(|| ValueError::InvalidText {
        type_name: "numeric",
        value: s.to_owned(),
    })?;
    let scale = i8::try_from(scale)
        .ok()
        .filter(|scale| *scale <= MAX_DIGITS as i8)
        .ok_or_else(|| ValueError::OutOfRange {
            type_name: "numeric",
            value: s.to_owned(),
        })?;
    Ok((numeric_in(s, MAX_DIGITS, scale)?, scale))
}

/// A numeric's binary form (see [`numeric_send`]) read back: the value and
/// its display scale.
pub fn numeric_recv(bytes: &[u8]) -> ValueResult<(i128, i8)> {
    let invalid = || ValueError::InvalidBinary {
        type_name: "numeric",
        expected: 8,
        actual: bytes.len(),
    };
    let word = |i: usize| -> ValueResult<u16> {
        bytes
            .get(2 * i..2 * i + 2)
            .map(|w| u16::from_be_bytes([w[0], w[1]]))
            .ok_or_else(invalid)
    };
    let (count, weight, sign, display_scale) = (word(0)?, word(1)? as i16, word(2)?, word(3)?);
    if bytes.len() != 8 + 2 * usize::from(count) {
        return Err(invalid());
    }
    if !matches!(sign, POSITIVE | NEGATIVE) {
        return Err(ValueError::NotSupported {
            what: "NaN and Infinity numeric values",
        });
    }
    let out_of_range = || ValueError::OutOfRange {
        type_name: "numeric",
        value: "(binary)".to_owned(),
    };
    let scale = i8::try_from(display_scale)
        .ok()
        .filter(|scale| *scale <= MAX_DIGITS as i8)
        .ok_or_else(out_of_range)?;
    // The digits as one integer in base 10000 (in 256 bits: the last digit
    // may carry zeros beyond the display scale), and the power of 10000 of
    // its last digit.
    use datafusion::arrow::datatypes::i256;
    let mut digits = i256::ZERO;
    for i in 0..usize::from(count) {
        let digit = word(4 + i)?;
        if digit >= 10000 {
            return Err(invalid());
        }
        digits = digits
            .checked_mul(i256::from_i128(10000))
            .and_then(|v| v.checked_add(i256::from_i128(i128::from(digit))))
            .ok_or_else(out_of_range)?;
    }
    let last = i32::from(weight) - i32::from(count) + 1;
    // digits * 10000^last, at `scale` decimals.
    let shift = DEC_DIGITS as i32 * last + i32::from(scale);
    let power = i256::from_i128(10).checked_pow(shift.unsigned_abs());
    let value = if shift >= 0 {
        power
            .and_then(|f| digits.checked_mul(f))
            .ok_or_else(out_of_range)?
    } else {
        power
            .and_then(|f| digits.checked_div(f))
            .unwrap_or(i256::ZERO)
    };
    let value = value.to_i128().ok_or_else(out_of_range)?;
    if !fits_precision(value, MAX_DIGITS) {
        return Err(out_of_range());
    }
    Ok((if sign == NEGATIVE { -value } else { value }, scale))
}

/// The most decimal digits a 128-bit decimal holds.
pub const MAX_DIGITS: u8 = 38;

/// The display scale PostgreSQL gives a numeric read from `s`: its
/// decimals less its exponent, never below zero (`'1.50'` has 2, `'1.5e-3'`
/// 4, `'1e5'` 0). `None` when `s` is not a number's text.
pub fn numeric_text_scale(s: &str) -> Option<i32> {
    let t = trim_space(s);
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(at) => (&t[..at], t[at + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = whole.bytes().chain(fraction.bytes());
    if whole.is_empty() && fraction.is_empty() || !digits.clone().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let decimals = i32::try_from(fraction.len()).ok()?;
    Some(decimals.saturating_sub(exponent).max(0))
}

/// Whether `s` names one of numeric's special values (`NaN`, `Infinity`),
/// which a 128-bit decimal cannot hold.
pub fn is_special_numeric_text(s: &str) -> bool {
    let t = trim_space(s).to_ascii_lowercase();
    let t = t.strip_prefix(['-', '+']).unwrap_or(&t);
    matches!(t, "nan" | "infinity" | "inf")
}

/// The text of a float8 converted to numeric, as PostgreSQL converts it:
/// rounded to 15 significant digits (`%.15g`), without trailing zeros, in
/// the `digits e exponent` form [`numeric_in`] and [`numeric_text_scale`]
/// read (`0.1` is `1e-1`, `1.5` is `15e-1`). `None` for NaN and the
/// infinities, which a 128-bit decimal cannot hold.
pub fn float8_numeric_text(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    // `d.dddddddddddddde±x`, rounded from the exact binary value.
    let scientific = format!("{v:.14e}");
    let (mantissa, exponent) = scientific.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        return Some("0".to_owned());
    }
    let shift = exponent - (i32::try_from(digits.len()).ok()? - 1);
    Some(format!("{sign}{digits}e{shift}"))
}

/// `value / 10^from` at scale `to`, rounded half away from zero as
/// PostgreSQL rounds a numeric to a scale; `None` when it does not fit
/// in 128 bits.
pub fn rescale(value: i128, from: i8, to: i8) -> Option<i128> {
    let shift = i32::from(to) - i32::from(from);
    if shift >= 0 {
        return 10i128
            .checked_pow(shift.unsigned_abs())
            .and_then(|f| value.checked_mul(f));
    }
    let Some(divisor) = 10i128.checked_pow(shift.unsigned_abs()) else {
        return Some(0);
    };
    let (quotient, remainder) = (value / divisor, value % divisor);
    let away = remainder.unsigned_abs() * 2 >= divisor.unsigned_abs();
    Some(if away {
        quotient + value.signum()
    } else {
        quotient
    })
}

/// Whether `value` (at any scale) has at most `precision` digits.
pub fn fits_precision(value: i128, precision: u8) -> bool {
    10u128
        .checked_pow(u32::from(precision))
        .is_none_or(|limit| value.unsigned_abs() < limit)
}

/// Why a numeric division has no answer here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DivisionError {
    /// A zero divisor (22012).
    ByZero,
    /// A quotient whose scale or digits a 128-bit decimal cannot hold.
    TooWide,
}

/// `a / 10^sa` divided by `b / 10^sb`, as PostgreSQL's `numeric_div`
/// computes it: at the scale its `select_div_scale` chooses from the
/// operands (at least 16 significant digits, and no fewer decimals than
/// either operand shows), rounded half away from zero. The scale is the
/// result's display scale.
pub fn numeric_div(a: i128, sa: i8, b: i128, sb: i8) -> Result<(i128, i8), DivisionError> {
    use datafusion::arrow::datatypes::i256;
    if b == 0 {
        return Err(DivisionError::ByZero);
    }
    let (weight_a, first_a) = weight_and_first_digit(a, sa);
    let (weight_b, first_b) = weight_and_first_digit(b, sb);
    let mut quotient_weight = weight_a - weight_b;
    if first_a <= first_b {
        quotient_weight -= 1;
    }
    let scale = (16 - quotient_weight * DEC_DIGITS as i32)
        .max(i32::from(sa))
        .max(i32::from(sb))
        .max(0);
    if scale > i32::from(MAX_DIGITS) {
        return Err(DivisionError::TooWide);
    }
    // a / b * 10^(scale - sa + sb), rounded.
    let shift = scale - i32::from(sa) + i32::from(sb);
    let ten = |n: u32| {
        i256::from_i128(10)
            .checked_pow(n)
            .ok_or(DivisionError::TooWide)
    };
    let (numerator, denominator) = if shift >= 0 {
        let n = i256::from_i128(a)
            .checked_mul(ten(shift.unsigned_abs())?)
            .ok_or(DivisionError::TooWide)?;
        (n, i256::from_i128(b))
    } else {
        let d = i256::from_i128(b)
            .checked_mul(ten(shift.unsigned_abs())?)
            .ok_or(DivisionError::TooWide)?;
        (i256::from_i128(a), d)
    };
    let quotient = numerator
        .checked_div(denominator)
        .ok_or(DivisionError::TooWide)?;
    let remainder = numerator
        .checked_rem(denominator)
        .ok_or(DivisionError::TooWide)?;
    let twice = remainder
        .wrapping_abs()
        .checked_mul(i256::from_i128(2))
        .ok_or(DivisionError::TooWide)?;
    let quotient = if twice >= denominator.wrapping_abs() {
        let negative = (numerator < i256::ZERO) != (denominator < i256::ZERO);
        quotient
            .checked_add(if negative { i256::MINUS_ONE } else { i256::ONE })
            .ok_or(DivisionError::TooWide)?
    } else {
        quotient
    };
    let quotient = quotient.to_i128().ok_or(DivisionError::TooWide)?;
    if !fits_precision(quotient, MAX_DIGITS) {
        return Err(DivisionError::TooWide);
    }
    Ok((
        quotient,
        i8::try_from(scale).map_err(|_| DivisionError::TooWide)?,
    ))
}

/// The weight (in base-10000 digits, as PostgreSQL stores a numeric) of the
/// first nonzero digit of `value / 10^scale`, and that digit; `(0, 0)` for
/// zero.
fn weight_and_first_digit(value: i128, scale: i8) -> (i32, u128) {
    let magnitude = value.unsigned_abs();
    if magnitude == 0 {
        return (0, 0);
    }
    let digits = magnitude.ilog10() as i32 + 1;
    // The power of ten of the leading decimal digit.
    let leading = digits - 1 - i32::from(scale);
    let weight = leading.div_euclid(DEC_DIGITS as i32);
    // value / 10^(scale + 4 * weight), in whole units.
    let shift = i32::from(scale) + DEC_DIGITS as i32 * weight;
    let first = if shift >= 0 {
        magnitude / 10u128.pow(shift.unsigned_abs())
    } else {
        magnitude * 10u128.pow(shift.unsigned_abs())
    };
    (weight, first)
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

    /// `numeric_div` as text, for comparing with PostgreSQL's.
    fn quotient(a: &str, b: &str) -> String {
        let read = |t: &str| {
            let scale = numeric_text_scale(t).unwrap() as i8;
            (numeric_in(t, 38, scale).unwrap(), scale)
        };
        let ((a, sa), (b, sb)) = (read(a), read(b));
        let (q, scale) = numeric_div(a, sa, b, sb).unwrap();
        numeric_out(q, scale)
    }

    #[test]
    fn division_has_postgresqls_scale() {
        // SELECT a / b on PostgreSQL 15.
        for (a, b, expected) in [
            ("10", "3.0", "3.3333333333333333"),
            ("10", "2.0", "5.0000000000000000"),
            ("2.0", "2", "1.00000000000000000000"),
            ("1", "3.0", "0.33333333333333333333"),
            ("7.5", "0.25", "30.0000000000000000"),
            ("-1", "3.0", "-0.33333333333333333333"),
            ("100000", "3.0", "33333.333333333333"),
            ("1", "30000.0", "0.000033333333333333333333"),
            ("12345.678", "0.001", "12345678.000000000000"),
            ("1e20", "3", "33333333333333333333"),
            ("0", "5.0", "0.00000000000000000000"),
            ("0.5", "3", "0.16666666666666666667"),
            ("1.00", "3", "0.33333333333333333333"),
        ] {
            assert_eq!(quotient(a, b), expected, "{a} / {b}");
        }
        assert_eq!(numeric_div(1, 0, 0, 0), Err(DivisionError::ByZero));
        assert_eq!(numeric_div(1, 0, 3, -20), Err(DivisionError::TooWide));
    }

    #[test]
    fn floats_convert_with_fifteen_digits() {
        // SELECT x::float8::numeric on PostgreSQL 15.
        let numeric = |v: f64| {
            let text = float8_numeric_text(v).unwrap();
            let scale = numeric_text_scale(&text).unwrap() as i8;
            numeric_out(numeric_in(&text, 38, scale).unwrap(), scale)
        };
        assert_eq!(numeric(0.1), "0.1");
        assert_eq!(numeric(1.5), "1.5");
        assert_eq!(numeric(100.0), "100");
        assert_eq!(numeric(1e20), "100000000000000000000");
        assert_eq!(numeric(1.23e-5), "0.0000123");
        assert_eq!(numeric(1.0 / 3.0), "0.333333333333333");
        assert_eq!(numeric(-2.5), "-2.5");
        assert_eq!(numeric(123_456_789.123_456_79), "123456789.123457");
        assert_eq!(numeric(0.0), "0");
        // ::numeric(5,2)
        assert_eq!(
            numeric_in(&float8_numeric_text(1.005).unwrap(), 5, 2),
            Ok(101)
        );
        assert_eq!(
            numeric_in(&float8_numeric_text(0.125).unwrap(), 5, 2),
            Ok(13)
        );
        assert_eq!(float8_numeric_text(f64::NAN), None);
    }

    #[test]
    fn text_scales_and_rescaling() {
        assert_eq!(numeric_text_scale("1.50"), Some(2));
        assert_eq!(numeric_text_scale(" -1.5e-3 "), Some(4));
        assert_eq!(numeric_text_scale("1e5"), Some(0));
        assert_eq!(numeric_text_scale("x"), None);
        assert!(is_special_numeric_text(" -Infinity"));
        assert!(!is_special_numeric_text("1"));
        assert_eq!(rescale(1005, 3, 2), Some(101));
        assert_eq!(rescale(-1005, 3, 2), Some(-101));
        assert_eq!(rescale(1004, 3, 2), Some(100));
        assert_eq!(rescale(15, 1, 3), Some(1500));
        assert_eq!(rescale(i128::MAX, 0, 1), None);
        assert!(fits_precision(99999, 5));
        assert!(!fits_precision(-100000, 5));
    }

    proptest::proptest! {
        #[test]
        fn quotients_times_divisors_come_back(a in -10i128.pow(18)..10i128.pow(18), b in 1i128..10i128.pow(9), sa in 0i8..6, sb in 0i8..6) {
            let (q, scale) = numeric_div(a, sa, b, sb).unwrap();
            // |q - a/b| <= half a unit of the last place: |q*b*10^sa - a*10^(scale+sb)| * 2 <= b*10^(sa)... checked in i256.
            use datafusion::arrow::datatypes::i256;
            let ten = |n: i32| i256::from_i128(10).checked_pow(n as u32).unwrap();
            let lhs = i256::from_i128(q).checked_mul(i256::from_i128(b)).unwrap().checked_mul(ten(i32::from(sa))).unwrap();
            let rhs = i256::from_i128(a).checked_mul(ten(i32::from(scale) + i32::from(sb))).unwrap();
            let error = lhs.checked_sub(rhs).unwrap().wrapping_abs().checked_mul(i256::from_i128(2)).unwrap();
            let unit = i256::from_i128(b).checked_mul(ten(i32::from(sa))).unwrap();
            proptest::prop_assert!(error <= unit);
            proptest::prop_assert!(i32::from(scale) >= i32::from(sa.max(sb)));
        }

        #[test]
        fn float_text_reads_back_close(v in proptest::num::f64::NORMAL) {
            let text = float8_numeric_text(v).unwrap();
            let back: f64 = text.parse().unwrap();
            proptest::prop_assert!(((back - v) / v).abs() < 1e-14);
            proptest::prop_assert!(numeric_text_scale(&text).is_some());
        }
    }

    #[test]
    fn binary_reads_back() {
        for (value, scale) in [
            (0, 0),
            (1, 0),
            (12345, 2),
            (-5, 2),
            (18446744073709551614, 0),
            (100000000, 4),
            (7, 0),
            (-123456789012345678901234567890, 7),
        ] {
            assert_eq!(
                numeric_recv(&numeric_send(value, scale)),
                Ok((value, scale))
            );
        }
        assert!(numeric_recv(&[0, 0, 0, 0, 0xC0, 0, 0, 0]).is_err());
        assert!(numeric_recv(&[0, 1, 0, 0]).is_err());
        assert_eq!(numeric_in_own_scale(" 2.250 "), Ok((2250, 3)));
        assert!(numeric_in_own_scale("NaN").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_binary_is_read_or_refused(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = numeric_recv(&bytes);
        }

        #[test]
        fn sent_values_read_back(value in -10i128.pow(37)..10i128.pow(37), scale in 0i8..20) {
            proptest::prop_assert_eq!(numeric_recv(&numeric_send(value, scale)), Ok((value, scale)));
        }
    }
}
