//! `json` and `jsonb`: reading their text, `jsonb`'s normalized form, and
//! the lookups behind `->`, `->>`, `#>`, `#>>`, `@>` and `?`.
//!
//! EpochDB keeps both types as text. A `json` value is its input, checked;
//! a `jsonb` value is its normalized text, as PostgreSQL's `jsonb_out`
//! prints it: object keys sorted by length and then bytes, the last of
//! duplicate keys kept, numbers as `numeric` prints them, strings escaped
//! the one way, and `", "` and `": "` between items. A sub-value of a
//! normalized text is normalized itself, so a lookup returns a slice of
//! the text, for both types (for `json`, the slice as it was written).

use std::cmp::Ordering;
use std::fmt::Write;
use std::ops::Range;

use super::error::{ValueError, ValueResult};

/// Nesting deeper than this is refused rather than risk the stack.
pub const MAX_DEPTH: usize = 256;

/// Exponents beyond this (`1e5000`) are refused in `jsonb` numbers.
const MAX_EXPONENT: i64 = 1000;

/// A parsed value: what it is, and where its text lies in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    /// The number's text, as written.
    Number,
    /// The string's value, escapes decoded.
    String(String),
    Array(Vec<Node>),
    /// Members in input order, duplicates included.
    Object(Vec<(String, Node)>),
}

/// PostgreSQL's one message for bad JSON; `detail` says what was wrong.
fn invalid(detail: &str) -> ValueError {
    ValueError::InvalidJson {
        detail: detail.to_owned(),
    }
}

/// Reads `text` as PostgreSQL's `json_in` does. `\u0000` is refused when
/// `for_jsonb` (text cannot hold it).
pub fn parse(text: &str, for_jsonb: bool) -> ValueResult<Node> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        at: 0,
        for_jsonb,
    };
    parser.space();
    let node = parser.value(0)?;
    parser.space();
    if parser.at != parser.bytes.len() {
        return Err(invalid("Expected end of input"));
    }
    Ok(node)
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
    for_jsonb: bool,
}

impl Parser<'_> {
    fn space(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> ValueResult<()> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(invalid("unexpected token"))
        }
    }

    fn value(&mut self, depth: usize) -> ValueResult<Node> {
        if depth >= MAX_DEPTH {
            return Err(ValueError::TooDeep);
        }
        let start = self.at;
        let kind = match self.peek() {
            None => return Err(invalid("The input string ended unexpectedly.")),
            Some(b'{') => {
                self.at += 1;
                self.space();
                let mut members = Vec::new();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                } else {
                    loop {
                        self.space();
                        if self.peek() != Some(b'"') {
                            return Err(invalid("Expected string"));
                        }
                        let key = self.string()?;
                        self.space();
                        self.expect(b':')?;
                        self.space();
                        let value = self.value(depth + 1)?;
                        members.push((key, value));
                        self.space();
                        match self.peek() {
                            Some(b',') => self.at += 1,
                            Some(b'}') => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err(invalid("Expected \",\" or \"}\"")),
                        }
                    }
                }
                Kind::Object(members)
            }
            Some(b'[') => {
                self.at += 1;
                self.space();
                let mut elements = Vec::new();
                if self.peek() == Some(b']') {
                    self.at += 1;
                } else {
                    loop {
                        self.space();
                        elements.push(self.value(depth + 1)?);
                        self.space();
                        match self.peek() {
                            Some(b',') => self.at += 1,
                            Some(b']') => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err(invalid("Expected \",\" or \"]\"")),
                        }
                    }
                }
                Kind::Array(elements)
            }
            Some(b'"') => Kind::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Kind::Number
            }
            Some(_) => {
                let word_end = self.bytes[self.at..]
                    .iter()
                    .position(|b| !b.is_ascii_alphanumeric() && *b != b'_')
                    .map_or(self.bytes.len(), |n| self.at + n);
                let kind = match &self.bytes[self.at..word_end] {
                    b"true" => Kind::Bool(true),
                    b"false" => Kind::Bool(false),
                    b"null" => Kind::Null,
                    _ => return Err(invalid("Token is invalid.")),
                };
                self.at = word_end;
                kind
            }
        };
        Ok(Node {
            kind,
            span: start..self.at,
        })
    }

    /// A number as JSON writes them: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> ValueResult<()> {
        let digits = |p: &mut Self| {
            let start = p.at;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.at += 1;
            }
            p.at - start
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let first = self.peek();
        let whole = digits(self);
        if whole == 0 || (first == Some(b'0') && whole > 1) {
            return Err(invalid("Token is invalid."));
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(invalid("Token is invalid."));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(invalid("Token is invalid."));
            }
        }
        // A letter or digit run on (`1x`, `01`) is one bad token.
        if self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(invalid("Token is invalid."));
        }
        Ok(())
    }

    /// A string from its opening quote, escapes decoded.
    fn string(&mut self) -> ValueResult<String> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let run_start = self.at;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.push_str(&self.text[run_start..self.at]);
            match self.peek() {
                None => return Err(invalid("The input string ended unexpectedly.")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escaped = self.peek().ok_or_else(|| invalid("ended"))?;
                    self.at += 1;
                    match escaped {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            let c = match unit {
                                0xD800..=0xDBFF => {
                                    if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                                        return Err(invalid("Unicode high surrogate"));
                                    }
                                    self.at += 2;
                                    let low = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&low) {
                                        return Err(invalid("Unicode low surrogate"));
                                    }
                                    let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                                    char::from_u32(code).ok_or_else(|| invalid("surrogate"))?
                                }
                                0xDC00..=0xDFFF => return Err(invalid("Unicode low surrogate")),
                                0 if self.for_jsonb => {
                                    return Err(ValueError::UnsupportedUnicodeEscape);
                                }
                                _ => char::from_u32(unit).ok_or_else(|| invalid("escape"))?,
                            };
                            out.push(c);
                        }
                        _ => return Err(invalid("Escape sequence is invalid.")),
                    }
                }
                // A control character must be escaped.
                Some(_) => return Err(invalid("Character must be escaped.")),
            }
        }
    }

    fn hex4(&mut self) -> ValueResult<u32> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| invalid("\"\\u\" must be followed by four hexadecimal digits."))?;
        self.at += 4;
        let text = std::str::from_utf8(digits).map_err(|_| invalid("hex"))?;
        u32::from_str_radix(text, 16).map_err(|_| invalid("hex"))
    }
}

/// `text` checked as `json`: the text itself is the value.
pub fn json_in(text: &str) -> ValueResult<()> {
    parse(text, false).map(drop)
}

/// A `jsonb` in its binary form: a version byte, 1, then the text.
pub fn jsonb_recv(bytes: &[u8]) -> ValueResult<String> {
    match bytes.split_first() {
        Some((1, text)) => jsonb_in(super::input::utf8(text)?),
        _ => Err(ValueError::InvalidBinary {
            type_name: "jsonb",
            expected: 1,
            actual: bytes.first().map_or(0, |&v| usize::from(v)),
        }),
    }
}

/// `text` as `jsonb` prints it.
pub fn jsonb_in(text: &str) -> ValueResult<String> {
    let node = parse(text, true)?;
    let mut out = String::with_capacity(text.len());
    write_normalized(&node, text, &mut out)?;
    Ok(out)
}

/// `a || b` of `jsonb` values (each of its text), normalized: objects
/// merge (`b`'s members win), arrays concatenate, and any other value is
/// an element of an array on the other side, or of a new array of both.
pub fn concat(a: &Node, a_text: &str, b: &Node, b_text: &str) -> ValueResult<String> {
    let mut out = String::with_capacity(a_text.len() + b_text.len());
    if let (Kind::Object(a_members), Kind::Object(b_members)) = (&a.kind, &b.kind) {
        let mut members: Vec<(&String, &Node, &str)> = unique_members(a_members)
            .into_iter()
            .filter(|(key, _)| !b_members.iter().any(|(k, _)| k == *key))
            .map(|(key, value)| (key, value, a_text))
            .collect();
        members.extend(
            unique_members(b_members)
                .into_iter()
                .map(|(key, value)| (key, value, b_text)),
        );
        members.sort_by(|x, y| key_order(x.0, y.0));
        out.push('{');
        for (i, (key, value, text)) in members.into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_string(key, &mut out);
            out.push_str(": ");
            write_normalized(value, text, &mut out)?;
        }
        out.push('}');
        return Ok(out);
    }
    let elements = |node: &'_ Node| -> Vec<Node> {
        match &node.kind {
            Kind::Array(elements) => elements.clone(),
            _ => vec![node.clone()],
        }
    };
    out.push('[');
    let all = (elements(a).into_iter().map(|e| (e, a_text)))
        .chain(elements(b).into_iter().map(|e| (e, b_text)));
    for (i, (element, text)) in all.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_normalized(&element, text, &mut out)?;
    }
    out.push(']');
    Ok(out)
}

/// Writes `node` (of `text`) normalized, as `jsonb_out` prints it.
fn write_normalized(node: &Node, text: &str, out: &mut String) -> ValueResult<()> {
    match &node.kind {
        Kind::Null => out.push_str("null"),
        Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Kind::Number => out.push_str(&normalize_number(&text[node.span.clone()])?),
        Kind::String(s) => write_string(s, out),
        Kind::Array(elements) => {
            out.push('[');
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_normalized(element, text, out)?;
            }
            out.push(']');
        }
        Kind::Object(members) => {
            out.push('{');
            for (i, (key, value)) in unique_members(members).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(key, out);
                out.push_str(": ");
                write_normalized(value, text, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// An object's members as `jsonb` keeps them: the last of each key, keys
/// ordered by length and then by bytes.
fn unique_members(members: &[(String, Node)]) -> Vec<(&String, &Node)> {
    let mut unique: Vec<(&String, &Node)> = Vec::with_capacity(members.len());
    // A stable sort keeps duplicates in input order; the last one wins.
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by(|&a, &b| key_order(&members[a].0, &members[b].0));
    for i in order {
        let (key, value) = (&members[i].0, &members[i].1);
        match unique.last_mut() {
            Some(last) if last.0 == key => *last = (key, value),
            _ => unique.push((key, value)),
        }
    }
    unique
}

fn key_order(a: &str, b: &str) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// A string as `escape_json` writes it.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number as `numeric` prints it: no exponent, the scale it was
/// written with less the exponent (`1e2` is `100`, `1.50` is `1.50`,
/// `1E-2` is `0.01`), and no minus sign on zero.
pub fn normalize_number(number: &str) -> ValueResult<String> {
    let (negative, unsigned) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => {
            let exponent: i64 =
                unsigned[at + 1..]
                    .parse()
                    .map_err(|_| ValueError::NotSupported {
                        what: "jsonb numbers with exponents this large",
                    })?;
            (&unsigned[..at], exponent)
        }
        None => (unsigned, 0),
    };
    if exponent.abs() > MAX_EXPONENT {
        return Err(ValueError::NotSupported {
            what: "jsonb numbers with exponents this large",
        });
    }
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = format!("{whole}{fraction}");
    // The value is digits × 10^shift.
    let shift = exponent - fraction.len() as i64;
    let scale = usize::try_from(-shift).unwrap_or(0);
    if shift > 0 {
        digits.extend(std::iter::repeat_n('0', shift as usize));
    }
    if digits.len() <= scale {
        let pad = scale + 1 - digits.len();
        digits.insert_str(0, &"0".repeat(pad));
    }
    let (int_part, frac_part) = digits.split_at(digits.len() - scale);
    let int_part = int_part.trim_start_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    let zero = int_part == "0" && frac_part.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(digits.len() + 2);
    if negative && !zero {
        out.push('-');
    }
    out.push_str(int_part);
    if scale > 0 {
        out.push('.');
        out.push_str(frac_part);
    }
    Ok(out)
}

/// A number's value, comparable: sign, and digits with the decimal point
/// fixed, trailing fraction zeros dropped.
fn number_value(number: &str) -> Option<String> {
    let normalized = normalize_number(number).ok()?;
    Some(if normalized.contains('.') {
        normalized
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        normalized
    })
}

/// What a path step looks up.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// An object's member.
    Key(&'a str),
    /// An array's element, from the end when negative.
    Index(i64),
}

/// The value of `node` at `step`, if any (the last of duplicate keys).
pub fn child<'n>(node: &'n Node, step: Step<'_>) -> Option<&'n Node> {
    match (&node.kind, step) {
        (Kind::Object(members), Step::Key(key)) => {
            members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
        }
        (Kind::Array(elements), Step::Index(i)) => {
            let len = elements.len() as i64;
            let at = if i < 0 { len + i } else { i };
            usize::try_from(at).ok().and_then(|at| elements.get(at))
        }
        _ => None,
    }
}

/// A path given as text (`#>`'s `text[]`): each step a key of an object, or
/// an integer's text for an array.
pub fn path_child<'n>(node: &'n Node, path: &[&str]) -> Option<&'n Node> {
    let mut at = node;
    for step in path {
        at = match &at.kind {
            Kind::Object(_) => child(at, Step::Key(step))?,
            Kind::Array(_) => child(at, Step::Index(step.trim().parse().ok()?))?,
            _ => return None,
        };
    }
    Some(at)
}

/// A value as `->>` gives it: a string's value, `NULL` for null, else its
/// text.
pub fn as_text(node: &Node, text: &str) -> Option<String> {
    match &node.kind {
        Kind::Null => None,
        Kind::String(s) => Some(s.clone()),
        _ => Some(text[node.span.clone()].to_owned()),
    }
}

/// `jsonb_typeof`.
pub fn type_of(node: &Node) -> &'static str {
    match node.kind {
        Kind::Null => "null",
        Kind::Bool(_) => "boolean",
        Kind::Number => "number",
        Kind::String(_) => "string",
        Kind::Array(_) => "array",
        Kind::Object(_) => "object",
    }
}

/// Whether `a` (of `a_text`) contains `b` (of `b_text`), as `@>` decides:
/// objects by their members, arrays by their elements (each of `b`'s
/// matching one of `a`'s), scalars by value; a top-level array contains a
/// scalar it holds.
pub fn contains(a: &Node, a_text: &str, b: &Node, b_text: &str) -> bool {
    if let (Kind::Array(elements), false) = (&a.kind, is_container(b)) {
        return elements
            .iter()
            .any(|e| !is_container(e) && scalar_equal(e, a_text, b, b_text));
    }
    contains_value(a, a_text, b, b_text)
}

fn is_container(node: &Node) -> bool {
    matches!(node.kind, Kind::Array(_) | Kind::Object(_))
}

fn contains_value(a: &Node, a_text: &str, b: &Node, b_text: &str) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Object(a_members), Kind::Object(b_members)) => {
            b_members.iter().all(|(key, b_value)| {
                (a_members.iter().rev().find(|(k, _)| k == key))
                    .is_some_and(|(_, a_value)| contains_value(a_value, a_text, b_value, b_text))
            })
        }
        (Kind::Array(a_elements), Kind::Array(b_elements)) => b_elements.iter().all(|b_element| {
            a_elements.iter().any(|a_element| {
                if is_container(b_element) {
                    is_container(a_element)
                        && std::mem::discriminant(&a_element.kind)
                            == std::mem::discriminant(&b_element.kind)
                        && contains_value(a_element, a_text, b_element, b_text)
                } else {
                    !is_container(a_element) && scalar_equal(a_element, a_text, b_element, b_text)
                }
            })
        }),
        (Kind::Array(_) | Kind::Object(_), _) | (_, Kind::Array(_) | Kind::Object(_)) => false,
        _ => scalar_equal(a, a_text, b, b_text),
    }
}

/// Whether `a` and `b` are the same `jsonb` value (`=`): objects with the
/// same keys (the last of duplicates), arrays element by element, numbers
/// by value.
pub fn equal(a: &Node, a_text: &str, b: &Node, b_text: &str) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Object(a_members), Kind::Object(b_members)) => {
            let (a_members, b_members) = (unique_members(a_members), unique_members(b_members));
            a_members.len() == b_members.len()
                && a_members
                    .iter()
                    .zip(&b_members)
                    .all(|((ka, va), (kb, vb))| ka == kb && equal(va, a_text, vb, b_text))
        }
        (Kind::Array(a_elements), Kind::Array(b_elements)) => {
            a_elements.len() == b_elements.len()
                && a_elements
                    .iter()
                    .zip(b_elements)
                    .all(|(x, y)| equal(x, a_text, y, b_text))
        }
        _ => !is_container(a) && !is_container(b) && scalar_equal(a, a_text, b, b_text),
    }
}

fn scalar_equal(a: &Node, a_text: &str, b: &Node, b_text: &str) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Null, Kind::Null) => true,
        (Kind::Bool(x), Kind::Bool(y)) => x == y,
        (Kind::String(x), Kind::String(y)) => x == y,
        (Kind::Number, Kind::Number) => {
            number_value(&a_text[a.span.clone()]) == number_value(&b_text[b.span.clone()])
        }
        _ => false,
    }
}

/// Whether `key` is a top-level key of an object, or a string element of
/// an array, or the string itself (`?`).
pub fn has_key(node: &Node, key: &str) -> bool {
    match &node.kind {
        Kind::Object(members) => members.iter().any(|(k, _)| k == key),
        Kind::Array(elements) => elements
            .iter()
            .any(|e| matches!(&e.kind, Kind::String(s) if s == key)),
        Kind::String(s) => s == key,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn jsonb_normalizes_as_postgresql_prints() {
        let text = r#"{"b": [1,  2.50, 1e2, -0, 1E-2, 0.0001e2, "x\u00e9\n\u0001/"], "a" : {"z":null, "yy":true}}"#;
        assert_eq!(
            jsonb_in(text).unwrap(),
            r#"{"a": {"z": null, "yy": true}, "b": [1, 2.50, 100, 0, 0.01, 0.01, "xé\n\u0001/"]}"#
        );
        assert_eq!(jsonb_in(r#"{"a":1,"a":2}"#).unwrap(), r#"{"a": 2}"#);
        assert_eq!(jsonb_in("  \"abc\"  ").unwrap(), "\"abc\"");
        assert_eq!(jsonb_in("[ ]").unwrap(), "[]");
        assert_eq!(jsonb_in("-1.5e1").unwrap(), "-15");
        assert_eq!(jsonb_in("-0.00").unwrap(), "0.00");
    }

    #[test]
    fn bad_json_is_refused() {
        for bad in [
            "{",
            "",
            "[1,]",
            "{\"a\"}",
            "01",
            "1.",
            "-",
            "tru",
            "\"a",
            "\"\\x\"",
            "[1 2]",
            "{1:2}",
            "\"\u{1}\"",
            "\"\\ud800\"",
            "1 2",
            "nulls",
        ] {
            assert!(parse(bad, false).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse("\"\\u0000\"", true),
            Err(ValueError::UnsupportedUnicodeEscape)
        );
        assert!(parse("\"\\u0000\"", false).is_ok());
        assert_eq!(
            parse(&"[".repeat(MAX_DEPTH + 1), false),
            Err(ValueError::TooDeep)
        );
    }

    #[test]
    fn lookups_and_containment() {
        let text = r#"{"a": {"b": [5, 6]}, "s": "x\"y"}"#;
        let node = parse(text, false).unwrap();
        let b = path_child(&node, &["a", "b", "-1"]).unwrap();
        assert_eq!(&text[b.span.clone()], "6");
        let s = child(&node, Step::Key("s")).unwrap();
        assert_eq!(as_text(s, text).as_deref(), Some("x\"y"));
        let contains_text = |a: &str, b: &str| {
            let (x, y) = (parse(a, true).unwrap(), parse(b, true).unwrap());
            contains(&x, a, &y, b)
        };
        assert!(contains_text(r#"{"a":1}"#, r#"{"a":1.0}"#));
        assert!(!contains_text("[1,2,[3]]", "[3]"));
        assert!(contains_text("[1,2,[3]]", "[[3]]"));
        assert!(contains_text("[1,2]", "1"));
        assert!(contains_text(r#"{"a":[1,2]}"#, r#"{"a":[2]}"#));
        assert!(!contains_text(r#"{"a":[1,2]}"#, r#"{"a":2}"#));
        let equal_text = |a: &str, b: &str| {
            let (x, y) = (parse(a, true).unwrap(), parse(b, true).unwrap());
            equal(&x, a, &y, b)
        };
        assert!(equal_text(r#"{"b":[1.0], "a":2}"#, r#"{"a":2.00,"b":[1]}"#));
        assert!(!equal_text("[1,2]", "[2,1]"));
        assert!(!equal_text(r#"{"a":1}"#, r#"{"a":1,"b":1}"#));
        let concat_text = |a: &str, b: &str| {
            let (x, y) = (parse(a, true).unwrap(), parse(b, true).unwrap());
            concat(&x, a, &y, b).unwrap()
        };
        assert_eq!(
            concat_text(r#"{"b":1,"a":2}"#, r#"{"a":3,"c":1.0}"#),
            r#"{"a": 3, "b": 1, "c": 1.0}"#
        );
        assert_eq!(concat_text("[1,2]", "[3]"), "[1, 2, 3]");
        assert_eq!(concat_text("[1]", r#"{"a":1}"#), r#"[1, {"a": 1}]"#);
        assert_eq!(concat_text("1", "[2]"), "[1, 2]");
        assert_eq!(concat_text(r#"{"a":1}"#, "2"), r#"[{"a": 1}, 2]"#);
        assert_eq!(concat_text("1", "2"), "[1, 2]");
    }

    fn arb_json() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            (-1000i64..1000, 0u32..4, -3i32..3)
                .prop_map(|(m, f, e)| format!("{m}.{}e{e}", "5".repeat(f as usize + 1))),
            "[a-z\"\\\\é\n]{0,5}".prop_map(|s| {
                let mut out = String::new();
                write_string(&s, &mut out);
                out
            }),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(" , "))),
                prop::collection::vec(("[a-c]{0,2}", inner), 0..4).prop_map(|m| {
                    let members: Vec<String> = m
                        .into_iter()
                        .map(|(k, v)| format!("\"{k}\" :{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    proptest! {
        /// Normalizing is idempotent, and the input contains its normalized
        /// text (which keeps the last of duplicate keys).
        #[test]
        fn normalized_text_is_a_fixed_point(text in arb_json()) {
            let normalized = jsonb_in(&text).unwrap();
            prop_assert_eq!(jsonb_in(&normalized).unwrap(), normalized.clone());
            let (a, b) = (parse(&text, true).unwrap(), parse(&normalized, true).unwrap());
            prop_assert!(contains(&a, &text, &b, &normalized));
            prop_assert!(contains(&b, &normalized, &b, &normalized));
        }

        /// Any bytes: an answer or an error, never a panic.
        #[test]
        fn any_text_reads_or_fails(text in "[\\[\\]{}\":,0-9eE.+\\-a-z\\\\ ]{0,40}") {
            if let Ok(normalized) = jsonb_in(&text) {
                prop_assert!(parse(&normalized, true).is_ok());
            }
        }
    }
}
