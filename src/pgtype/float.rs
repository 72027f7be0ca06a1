//! `real` and `double precision`: `float4in`/`float8in` and
//! `float4out`/`float8out` (with `extra_float_digits` ≥ 1, every driver's
//! setting: the shortest text that reads back as the same value). The binary
//! forms are IEEE 754, big-endian.

use super::error::{ValueError, ValueResult};
use super::input::trim_space;

/// PostgreSQL's float input: decimal or exponent notation, `NaN`, `Infinity`
/// and `inf`, any case, with a sign and white space around. A finite number
/// too large for `f64` is out of range.
pub fn float8_in(s: &str) -> ValueResult<f64> {
    let t = trim_space(s);
    if let Some(v) = short_decimal(t.as_bytes()) {
        return Ok(v);
    }
    let invalid = || ValueError::InvalidText {
        type_name: "double precision",
        value: s.to_owned(),
    };
    let valid = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'));
    if !valid {
        return Err(invalid());
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_infinite() && !t.to_ascii_lowercase().contains("inf") => {
            Err(ValueError::OutOfRange {
                type_name: "double precision",
                value: s.to_owned(),
            })
        }
        Ok(v) => Ok(v),
        Err(_) => Err(invalid()),
    }
}

/// `real` input: as [`float8_in`], then narrowed; a finite value beyond
/// `f32` is out of range.
pub fn float4_in(s: &str) -> ValueResult<f32> {
    let wide = float8_in(s).map_err(|e| match e {
        ValueError::InvalidText { value, .. } => ValueError::InvalidText {
            type_name: "real",
            value,
        },
        ValueError::OutOfRange { value, .. } => ValueError::OutOfRange {
            type_name: "real",
            value,
        },
        other => other,
    })?;
    let narrow = wide as f32;
    if narrow.is_infinite() && wide.is_finite() {
        return Err(ValueError::OutOfRange {
            type_name: "real",
            value: s.to_owned(),
        });
    }
    Ok(narrow)
}

/// The common case of float input, fast: `[-+]digits[.digits]` with at most
/// 15 significant digits. The digits are an integer below 2^53 and the scale
/// a power of ten up to 10^15, both exact as `f64`, so one division rounds
/// correctly (Clinger's fast path), as the full parser would. Anything else
/// is `None`.
pub fn short_decimal(s: &[u8]) -> Option<f64> {
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut count = 0;
    let mut point = None;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    // At least one digit; a lone "." is not a number.
    if count == 0 || count > 15 {
        return None;
    }
    let scale = point.map_or(0, |p| digits.len() - p - 1);
    let magnitude = mantissa as f64 / POWERS[scale];
    Some(if negative { -magnitude } else { magnitude })
}

/// `float8` as PostgreSQL prints it: the shortest text that reads back as
/// the same value, in exponent form outside 1e-4 ≤ |v| < 1e15.
pub fn float8_out(v: f64) -> String {
    // Whole numbers below 1e15 print as integers (PostgreSQL's small-integer
    // path): most values a time series holds.
    let magnitude = v.abs();
    if (1e-4..1e15).contains(&magnitude) && v == v.trunc() {
        return itoa::Buffer::new().format(v as i64).to_owned();
    }
    float8_out_general(v)
}

/// [`float8_out`] without its fast path.
pub(super) fn float8_out_general(v: f64) -> String {
    let bits = v.to_bits();
    let ieee = Ieee {
        exponent: ((bits >> 52) & 0x7ff) as u32,
        fraction: bits & ((1 << 52) - 1),
        fraction_bits: 52,
        bias: 1023,
    };
    render(v, ieee, 15, || {
        let with_digits = move |digits: usize| {
            let text = format!("{:.*e}", digits - 1, v.abs());
            (text.parse::<f64>().ok() == Some(v.abs())).then_some(text)
        };
        (format!("{:e}", v.abs()), Box::new(with_digits))
    })
}

/// `float4` likewise, switching to exponent form from 1e6.
pub fn float4_out(v: f32) -> String {
    let bits = v.to_bits();
    let ieee = Ieee {
        exponent: (bits >> 23) & 0xff,
        fraction: u64::from(bits & ((1 << 23) - 1)),
        fraction_bits: 23,
        bias: 127,
    };
    render(f64::from(v), ieee, 6, || {
        let with_digits = move |digits: usize| {
            let text = format!("{:.*e}", digits - 1, v.abs());
            (text.parse::<f32>().ok() == Some(v.abs())).then_some(text)
        };
        (format!("{:e}", v.abs()), Box::new(with_digits))
    })
}

/// The fields of an IEEE 754 binary value.
#[derive(Debug, Clone, Copy)]
struct Ieee {
    exponent: u32,
    fraction: u64,
    fraction_bits: u32,
    bias: i32,
}

/// Rust's shortest `{:e}` rendering of |v|, and its rendering with a given
/// number of significant digits, if that reads back as v.
type Renderings = (String, Box<dyn Fn(usize) -> Option<String>>);

/// Prints a value as PostgreSQL's Ryu does: the shortest decimal strictly
/// inside the interval of values that read back as `v` (PostgreSQL's Ryu
/// never takes a decimal on the interval's bound, where Rust's shortest
/// form may, reading back by ties-to-even), then plain or exponent form by
/// the decimal exponent.
fn render(
    v: f64,
    ieee: Ieee,
    max_exponent: i32,
    renderings: impl FnOnce() -> Renderings,
) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    let (shortest, with_digits) = renderings();
    let (mut digits, mut exponent) = split_exponent(&shortest);
    // On a bound, the next length's correctly rounded decimal that reads
    // back (and is not itself on a bound) is PostgreSQL's.
    let mut length = digits.len();
    while on_bound(&digits, exponent, ieee) && length < 17 {
        length += 1;
        if let Some(text) = with_digits(length) {
            (digits, exponent) = split_exponent(&text);
        }
    }
    let text = if exponent < -4 || exponent >= max_exponent {
        let mantissa = match digits.split_at(1) {
            (first, "") => first.to_owned(),
            (first, rest) => format!("{first}.{rest}"),
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{exponent_sign}{:02}", exponent.abs())
    } else if exponent < 0 {
        format!("0.{}{digits}", "0".repeat((-exponent - 1) as usize))
    } else {
        let point = exponent as usize + 1;
        if point >= digits.len() {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    format!("{sign}{text}")
}

/// The significant digits (without trailing zeros) and the decimal exponent
/// of Rust's `d.ddde±x` form.
fn split_exponent(text: &str) -> (String, i32) {
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, exponent.parse().unwrap_or(0))
}

/// Whether the decimal `digits` × 10^(exponent - len + 1) is exactly one of
/// the two bounds of the interval that reads back as the value `ieee`: half
/// way to the next value up or down.
fn on_bound(digits: &str, exponent: i32, ieee: Ieee) -> bool {
    let Ok(d) = digits.parse::<u128>() else {
        return false;
    };
    // The decimal is d × 10^k.
    let k = exponent - (digits.len() as i32 - 1);
    // The value is m × 2^e2; its bounds are (4m + 2) × 2^(e2 - 2) and
    // (4m - 1 - shift) × 2^(e2 - 2), the lower one nearer for a power of two.
    let (m, e2) = if ieee.exponent == 0 {
        (ieee.fraction, 1 - ieee.bias - ieee.fraction_bits as i32)
    } else {
        (
            ieee.fraction | 1 << ieee.fraction_bits,
            ieee.exponent as i32 - ieee.bias - ieee.fraction_bits as i32,
        )
    };
    let shift = u64::from(ieee.fraction != 0 || ieee.exponent <= 1);
    let s = e2 - 2;
    [4 * m + 2, 4 * m - 1 - shift]
        .into_iter()
        .any(|n| decimal_equals(d, k, u128::from(n), s))
}

/// d × 10^k == n × 2^s, exactly.
fn decimal_equals(d: u128, k: i32, n: u128, s: i32) -> bool {
    let (d_odd, d_twos) = (d >> d.trailing_zeros(), d.trailing_zeros() as i32);
    let (n_odd, n_twos) = (n >> n.trailing_zeros(), n.trailing_zeros() as i32);
    let five_pow = |p: i32| 5u128.checked_pow(p as u32);
    if k >= 0 {
        // d × 5^k × 2^k = n × 2^s.
        five_pow(k)
            .and_then(|f| d_odd.checked_mul(f))
            .is_some_and(|left| left == n_odd && d_twos + k == n_twos + s)
    } else {
        // d = n × 5^-k × 2^(s - k).
        five_pow(-k)
            .and_then(|f| n_odd.checked_mul(f))
            .is_some_and(|right| right == d_odd && d_twos == n_twos + s - k)
    }
}
