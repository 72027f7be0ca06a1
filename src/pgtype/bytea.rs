//! `bytea`: `byteain` and `byteaout` (hex output, PostgreSQL's default). The
//! binary form is the bytes themselves.

use super::error::{ValueError, ValueResult};

/// `\x` and two hex digits a byte.
pub fn bytea_out(v: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 + 2 * v.len());
    out.push_str("\\x");
    for &byte in v {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 15)] as char);
    }
    out
}

/// Pairs of hex digits, white space allowed between pairs, with
/// PostgreSQL's errors.
fn hex_in(hex: &str) -> ValueResult<Vec<u8>> {
    let bytes = hex.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let digit = |at: usize| -> ValueResult<u32> {
        let c = hex[at..].chars().next().unwrap_or_default();
        c.to_digit(16).ok_or_else(|| ValueError::InvalidHex {
            message: format!("invalid hexadecimal digit: \"{c}\""),
        })
    };
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b' ' | b'\n' | b'\t' | b'\r') {
            i += 1;
            continue;
        }
        let high = digit(i)?;
        if i + 1 >= bytes.len() {
            return Err(ValueError::InvalidHex {
                message: "invalid hexadecimal data: odd number of digits".to_owned(),
            });
        }
        let low = digit(i + 1)?;
        out.push((high * 16 + low) as u8);
        i += 2;
    }
    Ok(out)
}

/// Both of PostgreSQL's input forms: hex (`\x` then pairs of hex digits,
/// white space allowed between pairs), and escape (bytes as they are, `\\`
/// for a backslash, `\ooo` in octal).
pub fn bytea_in(s: &str) -> ValueResult<Vec<u8>> {
    let invalid = || ValueError::InvalidText {
        type_name: "bytea",
        value: s.to_owned(),
    };
    if let Some(hex) = s.strip_prefix("\\x") {
        return hex_in(hex);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = bytes.get(i + 1..i + 4).ok_or_else(invalid)?;
            let valid = octal[0] <= b'3' && octal.iter().all(|b| (b'0'..=b'7').contains(b));
            if !valid {
                return Err(invalid());
            }
            out.push(octal.iter().fold(0u8, |n, b| n * 8 + (b - b'0')));
            i += 4;
        }
    }
    Ok(out)
}
