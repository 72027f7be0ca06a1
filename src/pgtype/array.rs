//! One-dimensional arrays in `array_out`'s text form: what an element looks
//! like between the braces.

use bytes::BufMut;

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
