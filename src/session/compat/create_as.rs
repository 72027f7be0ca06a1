//! `CREATE TABLE t (a, b) AS query WITH [NO] DATA`: PostgreSQL names the
//! new table's columns in a list without types and says whether to fill
//! it; the parser reads neither. Both are taken out of the text before
//! parsing and put back on the parsed statement: the names as columns of
//! no type, `WITH NO DATA` as the query layer's marker column.

use std::ops::Range;

use datafusion::sql::sqlparser::ast::{ColumnDef, DataType, Ident, Statement};
use datafusion::sql::sqlparser::tokenizer::{Span, Token};

use crate::query::no_data_marker;

/// What was taken out of one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Taken {
    /// The statement's index in the text.
    pub at: usize,
    pub columns: Vec<Ident>,
    pub no_data: bool,
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// The edits that take the column list and `WITH [NO] DATA` out of one
/// statement's tokens (each with its bytes), if it is a `CREATE TABLE ...
/// AS` with either.
pub(super) fn edits(
    statement: &[(&Token, Range<usize>)],
    at: usize,
) -> Option<(Vec<Range<usize>>, Taken)> {
    let mut i = 0;
    let word = |i: usize, w: &str| statement.get(i).is_some_and(|t| is_word(t.0, w));
    if !word(0, "CREATE") {
        return None;
    }
    i += 1;
    while ["TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL"]
        .iter()
        .any(|w| word(i, w))
    {
        i += 1;
    }
    if !word(i, "TABLE") {
        return None;
    }
    i += 1;
    if word(i, "IF") && word(i + 1, "NOT") && word(i + 2, "EXISTS") {
        i += 3;
    }
    // The name: words joined by periods.
    loop {
        if !matches!(statement.get(i).map(|t| t.0), Some(Token::Word(_))) {
            return None;
        }
        i += 1;
        if matches!(statement.get(i).map(|t| t.0), Some(Token::Period)) {
            i += 1;
        } else {
            break;
        }
    }
    let mut cut = Vec::new();
    let mut columns = Vec::new();
    // `(a, b)`: names alone, then `AS` (or `WITH (options) AS`).
    if matches!(statement.get(i).map(|t| t.0), Some(Token::LParen)) {
        let open = i;
        let mut j = i + 1;
        loop {
            match statement.get(j).map(|t| t.0) {
                Some(Token::Word(w)) => columns.push(Ident {
                    value: w.value.clone(),
                    quote_style: w.quote_style,
                    span: Span::empty(),
                }),
                _ => return None,
            }
            j += 1;
            match statement.get(j).map(|t| t.0) {
                Some(Token::Comma) => j += 1,
                Some(Token::RParen) => break,
                _ => return None,
            }
        }
        let close = j;
        if !(word(close + 1, "AS") || word(close + 1, "WITH")) {
            return None;
        }
        cut.push(statement[open].1.start..statement[close].1.end);
    }
    if !statement.iter().any(|t| is_word(t.0, "AS")) {
        return None;
    }
    let n = statement.len();
    let mut no_data = false;
    if n >= 3 && word(n - 3, "WITH") && word(n - 2, "NO") && word(n - 1, "DATA") {
        no_data = true;
        cut.push(statement[n - 3].1.start..statement[n - 1].1.end);
    } else if n >= 2 && word(n - 2, "WITH") && word(n - 1, "DATA") {
        cut.push(statement[n - 2].1.start..statement[n - 1].1.end);
    }
    if cut.is_empty() {
        return None;
    }
    Some((
        cut,
        Taken {
            at,
            columns,
            no_data,
        },
    ))
}

/// Puts what was taken back on the parsed statement.
pub(super) fn apply(taken: &Taken, statement: &mut Statement) {
    let Statement::CreateTable(create) = statement else {
        return;
    };
    if create.query.is_none() {
        return;
    }
    let column = |name: Ident| ColumnDef {
        name,
        data_type: DataType::Unspecified,
        options: Vec::new(),
    };
    create.columns = taken.columns.iter().cloned().map(column).collect();
    if taken.no_data {
        create.columns.push(column(no_data_marker()));
    }
}
