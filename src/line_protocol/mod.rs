//! InfluxDB line protocol, read: a request body split into lines, and each
//! line parsed into a measurement, tags, fields and an optional timestamp.
//!
//! ```text
//! line   = measurement ["," tag "=" value]... " " field "=" value ["," field "=" value]... [" " timestamp]
//! values = 1.5 | -1e3 (float) | 7i (integer) | 7u (unsigned) | "text" | t, true, F, FALSE, ...
//! ```
//!
//! The grammar is InfluxDB's, as its own Rust parser (`influxdb-line-protocol`)
//! reads it, and a property test holds this parser to it on generated input:
//! the same lines are accepted and read the same. Deliberate differences: a
//! float that overflows to infinity is an error here; a line that is not
//! UTF-8 is an error of its own rather than of the whole body; and a comma
//! after a line's only field (`m f=1,`), which the reference lets pass, is
//! an error.
//!
//! Names are borrowed from the input unless escapes had to be resolved. The
//! parser knows nothing of tables: duplicate keys, types and time units are
//! the writer's business.

use std::borrow::Cow;

mod split;

#[cfg(test)]
mod tests;

pub use split::{Lines, complete_len};

/// A field's value, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(Cow<'a, str>),
    Boolean(bool),
}

impl FieldValue<'_> {
    /// The name of the value's type, as InfluxDB's errors spell it.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Float(_) => "float",
            FieldValue::Integer(_) => "integer",
            FieldValue::Unsigned(_) => "unsigned",
            FieldValue::String(_) => "string",
            FieldValue::Boolean(_) => "boolean",
        }
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    pub measurement: Cow<'a, str>,
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    /// In the request's precision; `None` takes the server's time.
    pub timestamp: Option<i64>,
}

/// Why a line is not line protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid UTF-8")]
    InvalidUtf8,
    #[error("missing measurement")]
    MissingMeasurement,
    #[error("missing tag key")]
    MissingTagKey,
    #[error("missing tag value")]
    MissingTagValue,
    #[error("missing fields")]
    MissingFields,
    #[error("missing field key")]
    MissingFieldKey,
    #[error("missing field value")]
    MissingFieldValue,
    #[error("invalid field value {0}")]
    InvalidFieldValue(String),
    #[error("invalid integer value {0}: out of range")]
    IntegerOutOfRange(String),
    #[error("invalid float value {0}: out of range")]
    FloatOutOfRange(String),
    #[error("unterminated string field value")]
    UnterminatedString,
    #[error("names may not end with a backslash")]
    EndsWithBackslash,
    #[error("bad timestamp {0}")]
    BadTimestamp(String),
    #[error("unexpected content after the line: {0}")]
    TrailingContent(String),
}

/// Every line of `body` that is not blank or a comment, with the number
/// (from 1) of the physical line where it starts.
pub fn parse(body: &[u8]) -> impl Iterator<Item = (usize, Result<Line<'_>, ParseError>)> {
    Lines::new(body).map(|(number, line)| (number, parse_line(line)))
}

/// Parses one line, as [`Lines`] cut it (leading blanks and comments gone).
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::InvalidUtf8)?;
    let mut cursor = Cursor { text, pos: 0 };
    let measurement = cursor
        .name(Element::Measurement)?
        .ok_or(ParseError::MissingMeasurement)?;
    let mut tags = Vec::new();
    if cursor.eat(b',') {
        loop {
            let key = cursor
                .name(Element::TagKey)?
                .ok_or(ParseError::MissingTagKey)?;
            if !cursor.eat(b'=') {
                return Err(ParseError::MissingTagValue);
            }
            let value = (cursor.name(Element::TagValue)?).ok_or(ParseError::MissingTagValue)?;
            tags.push((key, value));
            if !cursor.eat(b',') {
                break;
            }
        }
    }
    if !cursor.spaces() {
        return Err(match cursor.peek() {
            None => ParseError::MissingFields,
            Some(_) => cursor.trailing(),
        });
    }
    let mut fields = Vec::new();
    loop {
        let key = (cursor.name(Element::FieldKey)?).ok_or(ParseError::MissingFieldKey)?;
        if !cursor.eat(b'=') {
            return Err(ParseError::MissingFieldValue);
        }
        fields.push((key, cursor.field_value()?));
        if !cursor.eat(b',') {
            break;
        }
    }
    let timestamp = match cursor.peek() {
        None => None,
        Some(b' ') => {
            let before = cursor.pos;
            cursor.spaces();
            let digits = cursor.signed_digits();
            if digits.is_empty() {
                cursor.pos = before;
                return Err(cursor.trailing());
            }
            let value =
                (digits.parse::<i64>()).map_err(|_| ParseError::BadTimestamp(digits.into()))?;
            cursor.spaces();
            Some(value)
        }
        Some(_) => return Err(cursor.trailing()),
    };
    if cursor.peek().is_some() {
        return Err(cursor.trailing());
    }
    Ok(Line {
        measurement,
        tags,
        fields,
        timestamp,
    })
}

/// The parts of a line that are names, each with its own delimiters and
/// escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    Measurement,
    TagKey,
    TagValue,
    FieldKey,
}

impl Element {
    /// Whether `byte` ends the name (when not escaped).
    fn ends(self, byte: u8) -> bool {
        matches!(byte, b' ' | b'\t' | b'\n' | b'\\')
            || match self {
                Element::Measurement => byte == b',' || byte == 0,
                Element::TagKey | Element::FieldKey => byte == b'=',
                Element::TagValue => byte == b',',
            }
    }

    /// Whether `\` followed by `byte` stands for `byte` alone.
    fn escapes(self, byte: u8) -> bool {
        match self {
            Element::Measurement => matches!(byte, b',' | b' ' | b'\\'),
            _ => matches!(byte, b',' | b' ' | b'\\' | b'='),
        }
    }
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.pos += usize::from(found);
        found
    }

    /// Skips one or more spaces; `false` if there was none.
    fn spaces(&mut self) -> bool {
        let start = self.pos;
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        self.pos > start
    }

    fn trailing(&self) -> ParseError {
        ParseError::TrailingContent(self.text[self.pos..].chars().take(64).collect())
    }

    /// A name, unescaped; `None` when there is none here. `\` before a
    /// character the element escapes stands for that character; before any
    /// other character it is kept, with the character.
    fn name(&mut self, element: Element) -> Result<Option<Cow<'a, str>>, ParseError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut owned: Option<String> = None;
        // Start of the run not yet copied into `owned`.
        let mut run = start;
        loop {
            match bytes.get(self.pos) {
                Some(b'\\') => {
                    let next = bytes.get(self.pos + 1).copied();
                    match next {
                        Some(escaped) if element.escapes(escaped) => {
                            let out = owned.get_or_insert_with(String::new);
                            out.push_str(&self.text[run..self.pos]);
                            out.push(char::from(escaped));
                            self.pos += 2;
                            run = self.pos;
                        }
                        Some(_) => {
                            // Kept as written, with the character after it
                            // (whole, when it takes several bytes).
                            let width = self.text[self.pos + 1..]
                                .chars()
                                .next()
                                .map_or(1, char::len_utf8);
                            self.pos += 1 + width;
                        }
                        None => {
                            self.pos += 1;
                            break;
                        }
                    }
                }
                Some(&byte) if !element.ends(byte) => self.pos += 1,
                _ => break,
            }
        }
        if self.pos == start {
            return Ok(None);
        }
        let name = match owned {
            Some(mut out) => {
                out.push_str(&self.text[run..self.pos]);
                Cow::Owned(out)
            }
            None => Cow::Borrowed(&self.text[start..self.pos]),
        };
        if name.ends_with('\\') {
            return Err(ParseError::EndsWithBackslash);
        }
        Ok(Some(name))
    }

    /// `-`, then digits: the text they span (empty when there are no digits).
    fn signed_digits(&mut self) -> &'a str {
        let start = self.pos;
        self.eat(b'-');
        if !self.digits() {
            self.pos = start;
        }
        &self.text[start..self.pos]
    }

    /// Skips digits; `false` if there was none.
    fn digits(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Whether the field value just read ends where it should: at the end
    /// of the line, before the next field, or before the timestamp.
    fn at_value_end(&self) -> bool {
        matches!(self.peek(), None | Some(b',' | b' '))
    }

    fn field_value(&mut self) -> Result<FieldValue<'a>, ParseError> {
        let start = self.pos;
        match self.peek() {
            None => Err(ParseError::MissingFieldValue),
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => {
                while !self.at_value_end() {
                    self.pos += 1;
                }
                let word = &self.text[start..self.pos];
                match word {
                    "t" | "T" | "true" | "True" | "TRUE" => Ok(FieldValue::Boolean(true)),
                    "f" | "F" | "false" | "False" | "FALSE" => Ok(FieldValue::Boolean(false)),
                    _ if word.is_empty() => Err(ParseError::MissingFieldValue),
                    _ => Err(ParseError::InvalidFieldValue(
                        word.chars().take(64).collect(),
                    )),
                }
            }
        }
    }

    fn number(&mut self) -> Result<FieldValue<'a>, ParseError> {
        let start = self.pos;
        let digits = self.signed_digits();
        if digits.is_empty() {
            return Err(self.invalid_value(start));
        }
        let value = match self.peek() {
            Some(b'i') => {
                self.pos += 1;
                FieldValue::Integer(
                    (digits.parse::<i64>())
                        .map_err(|_| ParseError::IntegerOutOfRange(digits.into()))?,
                )
            }
            Some(b'u') if !digits.starts_with('-') => {
                self.pos += 1;
                FieldValue::Unsigned(
                    (digits.parse::<u64>())
                        .map_err(|_| ParseError::IntegerOutOfRange(digits.into()))?,
                )
            }
            _ => {
                let mark = self.pos;
                if !(self.eat(b'.') && self.digits()) {
                    self.pos = mark;
                }
                let mark = self.pos;
                if self.eat(b'e') || self.eat(b'E') {
                    if !self.eat(b'+') {
                        self.eat(b'-');
                    }
                    if !self.digits() {
                        self.pos = mark;
                    }
                }
                let text = &self.text[start..self.pos];
                let value = (text.parse::<f64>()).map_err(|_| self.invalid_value(start))?;
                if !value.is_finite() {
                    return Err(ParseError::FloatOutOfRange(text.into()));
                }
                FieldValue::Float(value)
            }
        };
        if !self.at_value_end() {
            return Err(self.invalid_value(start));
        }
        Ok(value)
    }

    fn invalid_value(&self, start: usize) -> ParseError {
        let rest = &self.text[start..];
        let end = rest.find([',', ' ']).unwrap_or(rest.len());
        ParseError::InvalidFieldValue(rest[..end].chars().take(64).collect())
    }

    /// A string value: `\"` is a quote and `\\` a backslash; any other
    /// backslash is kept.
    fn string(&mut self) -> Result<FieldValue<'a>, ParseError> {
        let bytes = self.text.as_bytes();
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            match bytes.get(self.pos) {
                None => return Err(ParseError::UnterminatedString),
                Some(b'"') => break,
                Some(b'\\') if matches!(bytes.get(self.pos + 1), Some(b'"' | b'\\')) => {
                    let out = owned.get_or_insert_with(String::new);
                    out.push_str(&self.text[run..self.pos]);
                    out.push(char::from(bytes[self.pos + 1]));
                    self.pos += 2;
                    run = self.pos;
                }
                Some(_) => self.pos += 1,
            }
        }
        let value = match owned {
            Some(mut out) => {
                out.push_str(&self.text[run..self.pos]);
                Cow::Owned(out)
            }
            None => Cow::Borrowed(&self.text[start..self.pos]),
        };
        self.pos += 1;
        if !self.at_value_end() {
            return Err(self.trailing());
        }
        Ok(FieldValue::String(value))
    }
}
