//! `SUBSCRIBE [TO] (query) | name [WITH (SNAPSHOT [= b], PROGRESS [= b], GRACE = 'interval')]`,
//! in Materialize's spelling, alone, inside `COPY (...) TO STDOUT` or as
//! the query of `DECLARE ... CURSOR FOR`; and `FETCH ... WITH (timeout =
//! 'interval')`. The parser reads neither: a subscription is respelled as
//! `SELECT * FROM (query) AS <marker>`, the marker naming its options (see
//! `query::subscribe_marker`), and a `FETCH`'s timeout is taken out of the
//! text and put back on the parsed statement.

use std::ops::Range;

use datafusion::sql::sqlparser::ast::{Ident, ObjectName, Statement};
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{Span, Token};

use crate::query::{SubscribeOptions, subscribe_marker};
use crate::session::error::{Error, Result};

/// A token of the statement, with its bytes in the text.
type Spanned<'a> = (&'a Token, Range<usize>);

/// Edits of the text: bytes to replace, and what replaces them.
pub(super) type Edits = Vec<(Range<usize>, String)>;

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// The quote that marks the ident a `FETCH`'s timeout is carried in: no
/// client can write it.
const TIMEOUT_QUOTE: char = '\u{2}';

/// One option of a list: its name in lower case, and its value if given.
type Options<'a> = Vec<(String, Option<&'a Token>)>;

/// Whether `sql` may hold something to respell (a cheap test first,
/// without copying the text).
pub(super) fn may_respell(sql: &str) -> bool {
    let has = |word: &str| {
        (sql.as_bytes().windows(word.len())).any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
    };
    has("subscribe") || has("fetch") && has("with")
}

/// The edits that respell one statement, and the timeout taken out of a
/// `FETCH`.
pub(super) fn edits(statement: &[Spanned<'_>]) -> Result<(Edits, Option<String>)> {
    let Some(first) = statement.first() else {
        return Ok((Vec::new(), None));
    };
    if let Some(at) = subscribe_at(statement) {
        return Ok((subscription(statement, at)?, None));
    }
    if is_word(first.0, "FETCH")
        && let Some((cut, timeout)) = fetch_timeout(statement)?
    {
        return Ok((vec![(cut, String::new())], Some(timeout)));
    }
    Ok((Vec::new(), None))
}

/// Puts a `FETCH`'s timeout back on the parsed statement.
pub(super) fn apply_timeout(statement: &mut Statement, timeout: &str) {
    if let Statement::Fetch { into, .. } = statement {
        *into = Some(ObjectName::from(vec![Ident {
            value: timeout.to_owned(),
            quote_style: Some(TIMEOUT_QUOTE),
            span: Span::empty(),
        }]));
    }
}

/// The timeout a parsed `FETCH` was given, as written.
pub(in crate::session) fn timeout_of(into: Option<&ObjectName>) -> Option<&str> {
    let name = into?;
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .filter(|i| i.quote_style == Some(TIMEOUT_QUOTE))
            .map(|i| i.value.as_str()),
        _ => None,
    }
}

/// Where `SUBSCRIBE` starts in a statement: first, after `COPY (`, or as
/// the query of `DECLARE ... FOR`.
fn subscribe_at(statement: &[Spanned<'_>]) -> Option<usize> {
    let word = |i: usize, w: &str| statement.get(i).is_some_and(|t| is_word(t.0, w));
    if word(0, "SUBSCRIBE") {
        return Some(0);
    }
    if word(0, "COPY")
        && statement.get(1).is_some_and(|t| *t.0 == Token::LParen)
        && word(2, "SUBSCRIBE")
    {
        return Some(2);
    }
    if word(0, "DECLARE") {
        let at = statement.iter().position(|t| is_word(t.0, "FOR"))?;
        return word(at + 1, "SUBSCRIBE").then_some(at + 1);
    }
    None
}

fn syntax_error(near: Option<&Spanned<'_>>) -> Error {
    let message = match near {
        Some(token) => format!("syntax error at or near \"{}\"", token.0),
        None => "syntax error at end of input".to_owned(),
    };
    Error::Parse(ParserError::ParserError(message))
}

/// The index of the `)` that closes the `(` at `open`.
fn closing(statement: &[Spanned<'_>], open: usize) -> Result<usize> {
    let mut depth = 0usize;
    for (i, token) in statement.iter().enumerate().skip(open) {
        match token.0 {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err(syntax_error(None))
}

/// `(name [= value], ...)` from the `(` at `open`: the options and the
/// index of the `)`.
fn options<'a>(statement: &[Spanned<'a>], open: usize) -> Result<(Options<'a>, usize)> {
    let close = closing(statement, open)?;
    let mut found = Vec::new();
    for option in statement[open + 1..close].split(|t| *t.0 == Token::Comma) {
        match option {
            [(Token::Word(name), _)] => found.push((name.value.to_ascii_lowercase(), None)),
            [(Token::Word(name), _), (Token::Eq, _), (value, _)] => {
                found.push((name.value.to_ascii_lowercase(), Some(*value)));
            }
            other => return Err(syntax_error(other.first().or(statement.get(close)))),
        }
    }
    Ok((found, close))
}

/// A boolean option's value, as PostgreSQL reads booleans.
fn boolean(name: &str, value: Option<&Token>) -> Result<bool> {
    let text = match value {
        None => return Ok(true),
        Some(Token::Word(w)) => w.value.to_ascii_lowercase(),
        Some(Token::SingleQuotedString(s)) => s.to_ascii_lowercase(),
        Some(Token::Number(n, _)) => n.clone(),
        Some(other) => other.to_string(),
    };
    match text.as_str() {
        "true" | "on" | "yes" | "1" | "t" => Ok(true),
        "false" | "off" | "no" | "0" | "f" => Ok(false),
        _ => Err(Error::Query(crate::query::Error::InvalidParameterValue {
            message: format!("option \"{name}\" requires a Boolean value"),
        })),
    }
}

/// A duration option's value in milliseconds: an interval as
/// `statement_timeout` reads one (`'10s'`; a bare number is milliseconds).
fn duration_ms(name: &str, value: Option<&Token>) -> Result<u64> {
    let text = match value {
        Some(Token::SingleQuotedString(text) | Token::Number(text, _)) => text.as_str(),
        _ => "",
    };
    crate::session::settings::parse_duration_millis(text).ok_or_else(|| {
        Error::Query(crate::query::Error::InvalidParameterValue {
            message: format!("option \"{name}\" requires a duration such as '10s'"),
        })
    })
}

/// The edits that respell the subscription whose `SUBSCRIBE` is at `at`.
fn subscription(statement: &[Spanned<'_>], at: usize) -> Result<Edits> {
    let mut edits = Vec::new();
    let mut i = at + 1;
    let starts_target =
        |t: Option<&Spanned<'_>>| t.is_some_and(|t| matches!(t.0, Token::Word(_) | Token::LParen));
    if statement.get(i).is_some_and(|t| is_word(t.0, "TO")) && starts_target(statement.get(i + 1)) {
        i += 1;
    }
    edits.push((
        statement[at].1.start..statement[i - 1].1.end,
        "SELECT * FROM".to_owned(),
    ));
    // The query in parentheses, or a relation's name.
    let end = match statement.get(i).map(|t| t.0) {
        Some(Token::LParen) => closing(statement, i)?,
        Some(Token::Word(_)) => {
            let mut j = i;
            while statement.get(j + 1).is_some_and(|t| *t.0 == Token::Period)
                && statement
                    .get(j + 2)
                    .is_some_and(|t| matches!(t.0, Token::Word(_)))
            {
                j += 2;
            }
            j
        }
        _ => return Err(syntax_error(statement.get(i))),
    };
    let mut subscribe = SubscribeOptions::default();
    let mut next = end + 1;
    if statement.get(next).is_some_and(|t| is_word(t.0, "WITH"))
        && statement
            .get(next + 1)
            .is_some_and(|t| *t.0 == Token::LParen)
    {
        let (found, close) = options(statement, next + 1)?;
        for (name, value) in found {
            match name.as_str() {
                "snapshot" => subscribe.snapshot = boolean(&name, value)?,
                "progress" => subscribe.progress = boolean(&name, value)?,
                "grace" => subscribe.grace_ms = duration_ms(&name, value)?,
                _ => {
                    return Err(Error::Parse(ParserError::ParserError(format!(
                        "unrecognized SUBSCRIBE option \"{name}\""
                    ))));
                }
            }
        }
        edits.push((
            statement[next].1.start..statement[close].1.end,
            String::new(),
        ));
        next = close + 1;
    }
    // Only the end of the statement, or the `)` of `COPY (...)`, may follow.
    let copy = at == 2;
    match statement.get(next) {
        None if !copy => {}
        Some(t) if copy && *t.0 == Token::RParen => {}
        other => return Err(syntax_error(other)),
    }
    let at_end = statement[end].1.end;
    edits.insert(
        1,
        (
            at_end..at_end,
            format!(" AS {}", subscribe_marker(subscribe)),
        ),
    );
    Ok(edits)
}

/// `WITH (timeout = value)` at the end of a `FETCH`: its bytes and the value.
fn fetch_timeout(statement: &[Spanned<'_>]) -> Result<Option<(Range<usize>, String)>> {
    let Some(with) = statement.iter().position(|t| is_word(t.0, "WITH")) else {
        return Ok(None);
    };
    if statement
        .get(with + 1)
        .is_none_or(|t| *t.0 != Token::LParen)
    {
        return Ok(None);
    }
    let (found, close) = options(statement, with + 1)?;
    if close + 1 != statement.len() {
        return Err(syntax_error(statement.get(close + 1)));
    }
    let mut timeout = None;
    for (name, value) in found {
        match (name.as_str(), value) {
            ("timeout", Some(Token::SingleQuotedString(text))) => timeout = Some(text.clone()),
            ("timeout", Some(Token::Number(text, _))) => timeout = Some(text.clone()),
            ("timeout", _) => {
                return Err(Error::Parse(ParserError::ParserError(
                    "FETCH's timeout must be an interval such as '1s'".to_owned(),
                )));
            }
            _ => {
                return Err(Error::Parse(ParserError::ParserError(format!(
                    "unrecognized FETCH option \"{name}\""
                ))));
            }
        }
    }
    let cut = statement[with].1.start..statement[close].1.end;
    Ok(timeout.map(|t| (cut, t)))
}
