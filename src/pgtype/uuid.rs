//! `uuid`: held as its canonical text (lowercase, `8-4-4-4-12`), which
//! compares and sorts as PostgreSQL compares the 16 bytes.

use std::fmt::Write;

use super::error::{ValueError, ValueResult};
use super::input::fixed;

/// `text` as `uuid_in` reads it (32 hexadecimal digits, a hyphen allowed
/// after any group of four, optionally in braces), in canonical form.
pub fn uuid_in(text: &str) -> ValueResult<String> {
    let invalid = || ValueError::InvalidText {
        type_name: "uuid",
        value: text.to_owned(),
    };
    let bytes = text.as_bytes();
    let body = match (bytes.first(), bytes.last()) {
        (Some(b'{'), Some(b'}')) if bytes.len() >= 2 => &bytes[1..bytes.len() - 1],
        (Some(b'{'), _) => return Err(invalid()),
        _ => bytes,
    };
    let mut value = [0u8; 16];
    let mut at = 0;
    for (i, byte) in value.iter_mut().enumerate() {
        let pair = body.get(at..at + 2).ok_or_else(invalid)?;
        let digit = |c: u8| (c as char).to_digit(16).ok_or_else(invalid);
        *byte = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        at += 2;
        if body.get(at) == Some(&b'-') && i % 2 == 1 && i < 15 {
            at += 1;
        }
    }
    if at != body.len() {
        return Err(invalid());
    }
    Ok(uuid_out(&value))
}

/// The canonical text of 16 bytes.
pub fn uuid_out(value: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, byte) in value.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// A `uuid` in its binary form (its 16 bytes), as canonical text.
pub fn uuid_recv(bytes: &[u8]) -> ValueResult<String> {
    Ok(uuid_out(&fixed::<16>(bytes, "uuid")?))
}

/// The 16 bytes of a canonical (or any readable) `uuid` text.
pub fn uuid_send(text: &str) -> ValueResult<[u8; 16]> {
    let canonical = uuid_in(text)?;
    let mut value = [0u8; 16];
    let digits: Vec<u8> = canonical.bytes().filter(|&b| b != b'-').collect();
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let text = std::str::from_utf8(pair).map_err(|_| ValueError::InvalidEncoding)?;
        value[i] = u8::from_str_radix(text, 16).map_err(|_| ValueError::InvalidEncoding)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn uuid_text_reads_as_postgresql_reads_it() {
        let canonical = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        for form in [
            canonical,
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
        ] {
            assert_eq!(uuid_in(form).as_deref(), Ok(canonical), "{form}");
        }
        for bad in [
            "",
            " a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11 ",
            "a0eebc999c0b4ef8bb6d6bb9bd380a1-",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11-",
            "a0e-ebc999c0b4ef8bb6d6bb9bd380a11",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a1g",
            "a0eebc999c0b4ef8bb6d6bb9bd380a1",
            "a0eebc999c0b4ef8bb6d6bb9bd380a111",
        ] {
            assert!(uuid_in(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// The canonical text round-trips through bytes, and sorts as the
        /// bytes do.
        #[test]
        fn canonical_text_is_the_bytes(a in any::<[u8; 16]>(), b in any::<[u8; 16]>()) {
            let (ta, tb) = (uuid_out(&a), uuid_out(&b));
            prop_assert_eq!(uuid_send(&ta).unwrap(), a);
            prop_assert_eq!(uuid_in(&ta.to_uppercase()).unwrap(), ta.clone());
            prop_assert_eq!(ta.cmp(&tb), a.cmp(&b));
        }

        #[test]
        fn any_text_reads_or_fails(text in "[{}0-9a-fA-F-]{0,40}") {
            if let Ok(canonical) = uuid_in(&text) {
                prop_assert_eq!(uuid_in(&canonical).unwrap(), canonical);
            }
        }
    }
}
