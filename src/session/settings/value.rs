//! A parameter's value from the text a client sends, in the form `SHOW`
//! prints it, with PostgreSQL's rules for booleans, units and ranges.

use super::catalog::{Kind, Unit};
use crate::session::error::{Error, Result};

/// `text` as a value of parameter `name` of kind `kind`, normalized.
pub(super) fn normalize(name: &str, kind: Kind, text: &str) -> Result<String> {
    let invalid = |hint: Option<String>| Error::InvalidSettingValue {
        name: name.to_owned(),
        value: text.to_owned(),
        hint,
    };
    match kind {
        Kind::Text => Ok(text.to_owned()),
        Kind::Bool => match parse_bool(text) {
            Some(true) => Ok("on".to_owned()),
            Some(false) => Ok("off".to_owned()),
            None => Err(Error::SettingNeedsBoolean {
                name: name.to_owned(),
            }),
        },
        Kind::Enum(words) => {
            let wanted = text.trim();
            match words.iter().find(|w| w.eq_ignore_ascii_case(wanted)) {
                Some(word) => Ok((*word).to_owned()),
                None => Err(invalid(Some(format!(
                    "Available values: {}.",
                    words.join(", ")
                )))),
            }
        }
        Kind::Real { min, max } => {
            let value: f64 = text.trim().parse().map_err(|_| invalid(None))?;
            if !value.is_finite() || value < min || value > max {
                return Err(Error::SettingOutOfRange {
                    name: name.to_owned(),
                    value: format_g(value),
                    min: format_g(min),
                    max: format_g(max),
                });
            }
            Ok(format_g(value))
        }
        Kind::Int { min, max, unit } => {
            let value = parse_int(text, unit).ok_or_else(|| {
                let hint = match unit {
                    Unit::None => None,
                    Unit::Bytes(_) => {
                        Some("Valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\".")
                    }
                    Unit::Micros(_) => Some(
                        "Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\".",
                    ),
                };
                // Only a number followed by a word gets the hint.
                let has_unit = text
                    .trim()
                    .starts_with(|c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'));
                invalid(hint.filter(|_| has_unit).map(str::to_owned))
            })?;
            if value < min || value > max {
                return Err(Error::SettingOutOfRange {
                    name: name.to_owned(),
                    value: match unit_name(unit) {
                        Some(u) => format!("{value} {u}"),
                        None => value.to_string(),
                    },
                    min: min.to_string(),
                    max: max.to_string(),
                });
            }
            Ok(show_int(value, unit))
        }
    }
}

/// PostgreSQL's booleans: `on`, `off`, and any unambiguous prefix of `true`,
/// `false`, `yes`, `no`, `1` and `0`, in any case.
pub(super) fn parse_bool(text: &str) -> Option<bool> {
    let t = text.trim().to_ascii_lowercase();
    if t.is_empty() {
        return None;
    }
    let prefix_of = |word: &str| word.starts_with(t.as_str());
    match t.as_str() {
        "1" | "on" => Some(true),
        "0" | "off" | "of" => Some(false),
        _ if prefix_of("true") || prefix_of("yes") => Some(true),
        _ if prefix_of("false") || prefix_of("no") => Some(false),
        _ => None,
    }
}

/// The unit `SHOW` names a value's base unit with in range errors.
fn unit_name(unit: Unit) -> Option<&'static str> {
    match unit {
        Unit::None => None,
        Unit::Bytes(1) => Some("B"),
        Unit::Bytes(1024) => Some("kB"),
        Unit::Bytes(_) => Some("8kB"),
        Unit::Micros(1_000) => Some("ms"),
        Unit::Micros(1_000_000) => Some("s"),
        Unit::Micros(_) => Some("min"),
    }
}

/// A number with an optional unit, in `unit`s, rounded to the nearest
/// (halves away from zero, as `rint` does here for positive values).
pub(super) fn parse_int(text: &str, unit: Unit) -> Option<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number = number.trim();
    let value: f64 = match number.parse::<i64>() {
        Ok(n) => n as f64,
        Err(_) => number.parse().ok()?,
    };
    if !value.is_finite() {
        return None;
    }
    let suffix = suffix.trim();
    let scale = match (unit, suffix) {
        (_, "") => 1.0,
        (Unit::Bytes(base), _) => {
            let bytes: f64 = match suffix {
                "B" => 1.0,
                "kB" => 1024.0,
                "MB" => 1024.0 * 1024.0,
                "GB" => 1024.0 * 1024.0 * 1024.0,
                "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
                _ => return None,
            };
            bytes / base as f64
        }
        (Unit::Micros(base), _) => {
            let micros: f64 = match suffix {
                "us" => 1.0,
                "ms" => 1e3,
                "s" => 1e6,
                "min" => 60e6,
                "h" => 3_600e6,
                "d" => 86_400e6,
                _ => return None,
            };
            micros / base as f64
        }
        (Unit::None, _) => return None,
    };
    let scaled = (value * scale).round();
    (scaled >= i64::MIN as f64 && scaled <= i64::MAX as f64).then_some(scaled as i64)
}

/// How `SHOW` prints an integer parameter: with units, in the largest unit
/// that holds the value exactly.
fn show_int(value: i64, unit: Unit) -> String {
    let (amount, units): (i64, &[(i64, &str)]) = match unit {
        Unit::None => return value.to_string(),
        Unit::Bytes(base) => (
            value.saturating_mul(base),
            &[
                (1 << 40, "TB"),
                (1 << 30, "GB"),
                (1 << 20, "MB"),
                (1 << 10, "kB"),
                (1, "B"),
            ],
        ),
        Unit::Micros(base) => (
            value.saturating_mul(base),
            &[
                (86_400_000_000, "d"),
                (3_600_000_000, "h"),
                (60_000_000, "min"),
                (1_000_000, "s"),
                (1_000, "ms"),
                (1, "us"),
            ],
        ),
    };
    if amount == 0 {
        return "0".to_owned();
    }
    // PostgreSQL never shows a unit smaller than the parameter's own.
    let smallest = match unit {
        Unit::Bytes(1) | Unit::Micros(1) => 1,
        Unit::Bytes(_) => 1024,
        Unit::Micros(base) => base,
        Unit::None => 1,
    };
    units
        .iter()
        .filter(|(size, _)| *size >= smallest)
        .find(|(size, _)| amount % size == 0)
        .map(|(size, name)| format!("{}{name}", amount / size))
        .unwrap_or_else(|| value.to_string())
}

/// A float as C's `%g` prints it: six significant digits, exponent form
/// below 1e-4 or from 1e6 on.
fn format_g(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    let exponent = value.abs().log10().floor() as i32;
    let rounded = format!("{value:.5e}");
    // The exponent after rounding to six digits (9.999996 becomes 1e+01).
    let exponent = rounded
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse::<i32>().ok())
        .unwrap_or(exponent);
    if (-4..6).contains(&exponent) {
        let decimals = usize::try_from(5 - exponent).unwrap_or(0);
        let fixed = format!("{value:.decimals$}");
        trim_zeros(&fixed).to_owned()
    } else {
        let (mantissa, _) = rounded.split_once('e').unwrap_or((&rounded, ""));
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_zeros(mantissa), exponent.abs())
    }
}

fn trim_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(kind: Kind, text: &str) -> String {
        match normalize("p", kind, text) {
            Ok(v) => v,
            Err(e) => format!("error: {e}"),
        }
    }

    const MEM: Kind = Kind::Int {
        min: 64,
        max: 2_147_483_647,
        unit: Unit::Bytes(1024),
    };
    const TIME: Kind = Kind::Int {
        min: 0,
        max: 2_147_483_647,
        unit: Unit::Micros(1_000),
    };

    #[test]
    fn memory_and_time_values_print_as_postgresql_prints_them() {
        assert_eq!(show(MEM, "65536"), "64MB");
        assert_eq!(show(MEM, "1024kB"), "1MB");
        assert_eq!(show(MEM, "1.5MB"), "1536kB");
        assert_eq!(show(MEM, "2GB"), "2GB");
        assert!(show(MEM, "100B").contains("0 kB is outside the valid range"));
        assert!(show(MEM, "64mb").starts_with("error: invalid value"));
        let pages = Kind::Int {
            min: 100,
            max: 1 << 30,
            unit: Unit::Bytes(8192),
        };
        assert_eq!(show(pages, "1000"), "8000kB");
        assert_eq!(show(TIME, "100us"), "0");
        assert_eq!(show(TIME, "1500us"), "2ms");
        assert_eq!(show(TIME, " 2 s "), "2s");
        assert_eq!(show(TIME, "1.5s"), "1500ms");
        assert_eq!(show(TIME, "90000"), "90s");
        assert_eq!(show(TIME, "1 h"), "1h");
        assert!(show(TIME, "1H").starts_with("error: invalid value"));
        assert!(show(TIME, "-1").contains("-1 ms is outside"));
    }

    #[test]
    fn booleans_enums_and_reals() {
        assert_eq!(show(Kind::Bool, "of"), "off");
        assert_eq!(show(Kind::Bool, "t"), "on");
        assert_eq!(show(Kind::Bool, "YES"), "on");
        assert!(show(Kind::Bool, "o").starts_with("error"));
        assert!(show(Kind::Bool, "2").starts_with("error"));
        let levels = Kind::Enum(&["notice", "warning", "error"]);
        assert_eq!(show(levels, "WARNING"), "warning");
        assert!(show(levels, "bogus").starts_with("error"));
        let real = Kind::Real {
            min: 0.0,
            max: f64::MAX,
        };
        assert_eq!(show(real, "1.1"), "1.1");
        assert_eq!(show(real, "1000000"), "1e+06");
        assert_eq!(show(real, "0.00001"), "1e-05");
        assert_eq!(show(real, "4"), "4");
        assert_eq!(show(real, "0.0025"), "0.0025");
        assert_eq!(show(real, "123456.7"), "123457");
        assert!(show(real, "x").starts_with("error"));
    }
}
