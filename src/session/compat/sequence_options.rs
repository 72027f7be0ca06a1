//! Sequence options in any order. PostgreSQL takes the options of `CREATE
//! SEQUENCE` and of an identity column (`GENERATED ... AS IDENTITY (...)`)
//! in any order; the parser takes them only in one (`AS`, `INCREMENT`,
//! `MINVALUE`, `MAXVALUE`, `START`, `CACHE`, `CYCLE`, `OWNED BY`). The
//! options are put in that order before parsing.
//!
//! Also `nextval('s'::regclass)` (and `currval`, `setval`): a sequence is
//! named by the string, since the catalogs' `regclass` lookup does not
//! list sequences.

use std::ops::Range;

use datafusion::sql::sqlparser::tokenizer::Token;

/// A token and the bytes of the statement it came from.
pub(super) type Located<'a> = (&'a Token, Range<usize>);

fn word(token: &Token) -> Option<String> {
    match token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// Where an option starting at `tokens[i]` goes in the parser's order;
/// `None` when no option starts there.
fn rank(tokens: &[Located<'_>], i: usize) -> Option<u8> {
    let this = word(tokens[i].0)?;
    let next = tokens.get(i + 1).and_then(|t| word(t.0));
    Some(match this.as_str() {
        "AS" => 0,
        "INCREMENT" => 1,
        "MINVALUE" => 2,
        "MAXVALUE" => 3,
        "START" => 4,
        "CACHE" => 5,
        "CYCLE" => 6,
        "OWNED" => 7,
        "NO" => match next.as_deref() {
            Some("MINVALUE") => 2,
            Some("MAXVALUE") => 3,
            Some("CYCLE") => 6,
            _ => return None,
        },
        _ => return None,
    })
}

/// The edit that puts the options in `tokens` (all of them options, the
/// first starting one) in the parser's order; `None` when they are in it.
fn reorder(sql: &str, tokens: &[Located<'_>]) -> Option<(Range<usize>, String)> {
    let mut groups: Vec<(u8, Range<usize>)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let Some(r) = rank(tokens, i) else {
            let group = groups.last_mut()?;
            group.1.end = tokens[i].1.end;
            i += 1;
            continue;
        };
        // The keyword after `NO` belongs to it.
        let width = if word(tokens[i].0).as_deref() == Some("NO") {
            2
        } else {
            1
        };
        let end = tokens[(i + width - 1).min(tokens.len() - 1)].1.end;
        groups.push((r, tokens[i].1.start..end));
        i += width;
    }
    if groups.windows(2).all(|w| w[0].0 <= w[1].0) {
        return None;
    }
    let span = groups.first()?.1.start..groups.last()?.1.end;
    groups.sort_by_key(|g| g.0);
    let text = (groups.iter())
        .map(|(_, bytes)| sql.get(bytes.clone()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ");
    Some((span, text))
}

/// The edits one statement's tokens need.
pub(super) fn edits(sql: &str, statement: &[Located<'_>]) -> Vec<(Range<usize>, String)> {
    let mut edits = Vec::new();
    let is = |i: usize, w: &str| statement.get(i).and_then(|t| word(t.0)).as_deref() == Some(w);
    // CREATE [TEMP | TEMPORARY] SEQUENCE [IF NOT EXISTS] name options
    let mut at = 1;
    if is(at, "TEMP") || is(at, "TEMPORARY") {
        at += 1;
    }
    if is(0, "CREATE") && is(at, "SEQUENCE") {
        at += 1;
        if is(at, "IF") {
            at += 3;
        }
        // The name: words joined by periods.
        at += 1;
        while statement.get(at).is_some_and(|t| *t.0 == Token::Period) {
            at += 2;
        }
        if at < statement.len() && rank(statement, at).is_some() {
            edits.extend(reorder(sql, &statement[at..]));
        }
    }
    // nextval('s'::regclass)
    for (i, window) in statement.windows(5).enumerate() {
        let calls = (word(window[0].0).as_deref())
            .is_some_and(|w| matches!(w, "NEXTVAL" | "CURRVAL" | "SETVAL"));
        if calls
            && *window[1].0 == Token::LParen
            && matches!(window[2].0, Token::SingleQuotedString(_))
            && *window[3].0 == Token::DoubleColon
            && word(window[4].0).as_deref() == Some("REGCLASS")
        {
            edits.push((
                statement[i + 3].1.start..statement[i + 4].1.end,
                String::new(),
            ));
        }
    }
    // ... AS IDENTITY (options)
    for i in 0..statement.len() {
        if is(i, "IDENTITY") && statement.get(i + 1).is_some_and(|t| *t.0 == Token::LParen) {
            let start = i + 2;
            let Some(len) = statement[start..]
                .iter()
                .position(|t| *t.0 == Token::RParen)
            else {
                continue;
            };
            if len > 0 && rank(statement, start).is_some() {
                edits.extend(reorder(sql, &statement[start..start + len]));
            }
        }
    }
    edits
}
