//! One-dimensional arrays in PostgreSQL's text form: what an element looks
//! like between the braces (`array_out`), and the elements of an array
//! literal (`array_in`).

use bytes::BufMut;

use super::error::{ValueError, ValueResult};

/// Appends an array element's text as `array_out` writes it: in double quotes,
/// with `"` and `\` escaped, when it is empty, reads as NULL, or holds a
/// delimiter, brace, quote, backslash or white space.
pub fn quote_array_element(text: &[u8], buf: &mut impl BufMut) {
    let needs_quotes = text.is_empty()
        || text.eq_ignore_ascii_case(b"NULL")
        || text
            .iter()
            .any(|&b| matches!(b, b'{' | b'}' | b',' | b'"' | b'\\') || b.is_ascii_whitespace());
    if !needs_quotes {
        buf.put_slice(text);
        return;
    }
    buf.put_u8(b'"');
    for &b in text {
        if b == b'"' || b == b'\\' {
            buf.put_u8(b'\\');
        }
        buf.put_u8(b);
    }
    buf.put_u8(b'"');
}

/// The elements of a one-dimensional array literal, as `array_in` reads
/// them: `{a, "b c", NULL, "NULL"}` is `a`, `b c`, a null and the text `NULL`.
/// Elements are trimmed of white space unless quoted, and a backslash keeps
/// the next character as it is. Multi-dimensional arrays and explicit bounds
/// (`[0:1]={...}`) are refused.
pub fn array_elements(text: &str) -> ValueResult<Vec<Option<String>>> {
    let malformed = || ValueError::MalformedArray {
        value: text.to_owned(),
    };
    let body = text.trim_matches(is_space);
    if body.starts_with('[') {
        return Err(ValueError::NotSupported {
            what: "array bounds in array literals",
        });
    }
    let body = body
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or_else(malformed)?;
    let mut chars = body.chars().peekable();
    let mut elements = Vec::new();
    if body.trim_matches(is_space).is_empty() {
        return Ok(elements);
    }
    loop {
        while chars.next_if(|&c| is_space(c)).is_some() {}
        let mut element = String::new();
        let mut quoted = false;
        let mut escaped = false;
        // Up to where the element's unescaped trailing spaces start.
        let mut kept = 0;
        match chars.peek() {
            Some('{') => {
                return Err(ValueError::NotSupported {
                    what: "multidimensional arrays",
                });
            }
            Some('"') => {
                quoted = true;
                chars.next();
                loop {
                    match chars.next().ok_or_else(malformed)? {
                        '"' => break,
                        '\\' => element.push(chars.next().ok_or_else(malformed)?),
                        c => element.push(c),
                    }
                }
                while chars.next_if(|&c| is_space(c)).is_some() {}
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    match c {
                        ',' => break,
                        '{' | '}' | '"' => return Err(malformed()),
                        '\\' => {
                            chars.next();
                            element.push(chars.next().ok_or_else(malformed)?);
                            kept = element.len();
                            escaped = true;
                        }
                        c => {
                            chars.next();
                            element.push(c);
                            if !is_space(c) {
                                kept = element.len();
                            }
                        }
                    }
                }
                element.truncate(kept);
                if element.is_empty() {
                    return Err(malformed());
                }
            }
        }
        let null = !quoted && !escaped && element.eq_ignore_ascii_case("NULL");
        elements.push((!null).then_some(element));
        match chars.next() {
            None => return Ok(elements),
            Some(',') => {}
            Some(_) => return Err(malformed()),
        }
    }
}

/// The white space `array_in` skips.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}
