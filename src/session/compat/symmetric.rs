//! `x [NOT] BETWEEN SYMMETRIC a AND b`, which the parser does not read.
//! Before parsing, the word `SYMMETRIC` (or `ASYMMETRIC`, the default) after
//! `BETWEEN` is blanked out in the text (spaces, so every other token keeps
//! its place), and where it was is remembered. After parsing, each
//! `BETWEEN` whose lower bound starts there (past only spaces, comments and
//! opening parentheses) becomes PostgreSQL's meaning: `(x BETWEEN a AND b OR x
//! BETWEEN b AND a)`, under `NOT` for `NOT BETWEEN`. The `BETWEEN`s are
//! found in the plain parse, whose places are the text's, and marked by
//! their order, which a catalog query's own parse keeps. A remembered place
//! no `BETWEEN` claims, or a parse with other `BETWEEN`s, is refused
//! (0A000) rather than read as the plain form.

use std::ops::ControlFlow;

use crate::query::PostgresDialect;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Spanned, Statement, UnaryOperator, visit_expressions,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

use crate::query;
use crate::session::error::{Error, Result};

/// `sql` with each `SYMMETRIC` after `BETWEEN` blanked out, and the byte
/// offsets where they ended; `None` when there is none (or the text does
/// not tokenize, which the parser then reports).
pub(super) fn blank(sql: &str) -> Option<(String, Vec<usize>)> {
    if !sql.to_ascii_lowercase().contains("symmetric") {
        return None;
    }
    let tokens = Tokenizer::new(&PostgresDialect::default(), sql)
        .tokenize_with_location()
        .ok()?;
    let significant: Vec<_> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let mut text = sql.to_owned();
    let mut ends = Vec::new();
    for pair in significant.windows(2) {
        let [between, word] = pair else { continue };
        let symmetric = is_word(&word.token, "SYMMETRIC");
        if !is_word(&between.token, "BETWEEN") || !(symmetric || is_word(&word.token, "ASYMMETRIC"))
        {
            continue;
        }
        let start = byte_offset(sql, word.span.start)?;
        let end = byte_offset(sql, word.span.end)?;
        text.replace_range(start..end, &" ".repeat(end - start));
        if symmetric {
            ends.push(end);
        }
    }
    (text != sql).then_some((text, ends))
}

/// Whether `token` is the unquoted keyword `word`.
fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// The byte offset of a tokenizer location (1-based line and column, in
/// characters).
fn byte_offset(sql: &str, at: Location) -> Option<usize> {
    let (mut line, mut column) = (1, 1);
    for (i, c) in sql.char_indices() {
        if (line, column) == (at.line, at.column) {
            return Some(i);
        }
        if c == '\n' {
            (line, column) = (line + 1, 1);
        } else {
            column += 1;
        }
    }
    ((line, column) == (at.line, at.column)).then_some(sql.len())
}

/// Which `BETWEEN`s of `statements` (parsed from `sql`), in the order
/// they are visited, have their lower bound at one of `ends`: those are
/// symmetric. Every end must be claimed.
pub(super) fn marks(sql: &str, ends: &[usize], statements: &[Statement]) -> Result<Vec<bool>> {
    let mut claimed = vec![false; ends.len()];
    let mut marks = Vec::new();
    for statement in statements {
        let _ = visit_expressions(statement, |expr: &Expr| {
            if let Expr::Between { low, .. } = expr {
                let claim = claim(sql, ends, low);
                if let Some(k) = claim {
                    claimed[k] = true;
                }
                marks.push(claim.is_some());
            }
            ControlFlow::<()>::Continue(())
        });
    }
    if claimed.iter().all(|&c| c) {
        Ok(marks)
    } else {
        Err(unsupported())
    }
}

fn unsupported() -> Error {
    Error::Query(query::Error::Unsupported {
        what: "this use of BETWEEN SYMMETRIC".into(),
    })
}

/// Makes the `BETWEEN`s of `statements` that `marks` marks (in visiting
/// order) symmetric; statements whose `BETWEEN`s do not match the marks
/// one for one are refused.
pub(super) fn apply(marks: &[bool], statements: &mut [Statement]) -> Result<()> {
    let mut seen = 0;
    for statement in statements.iter_mut() {
        let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
            if let Expr::Between { .. } = expr {
                if marks.get(seen) == Some(&true) {
                    make_symmetric(expr);
                }
                seen += 1;
            }
            ControlFlow::<()>::Continue(())
        });
    }
    if seen == marks.len() {
        Ok(())
    } else {
        Err(unsupported())
    }
}

/// Which of `ends` the lower bound `low` starts at, if one: only
/// whitespace, comments and opening parentheses lie between.
fn claim(sql: &str, ends: &[usize], low: &Expr) -> Option<usize> {
    let start = byte_offset(sql, low.span().start)?;
    ends.iter().position(|&end| {
        end <= start
            && sql.get(end..start).is_some_and(|gap| {
                Tokenizer::new(&PostgresDialect::default(), gap)
                    .tokenize()
                    .is_ok_and(|tokens| {
                        tokens
                            .iter()
                            .all(|t| matches!(t, Token::Whitespace(_) | Token::LParen))
                    })
            })
    })
}

fn make_symmetric(expr: &mut Expr) {
    let placeholder = Expr::value(datafusion::sql::sqlparser::ast::Value::Null);
    let Expr::Between {
        expr: value,
        negated,
        low,
        high,
    } = std::mem::replace(expr, placeholder)
    else {
        return;
    };
    let forward = Expr::Between {
        expr: value.clone(),
        negated: false,
        low: low.clone(),
        high: high.clone(),
    };
    let backward = Expr::Between {
        expr: value,
        negated: false,
        low: high,
        high: low,
    };
    let either = Expr::Nested(Box::new(Expr::BinaryOp {
        left: Box::new(forward),
        op: BinaryOperator::Or,
        right: Box::new(backward),
    }));
    *expr = if negated {
        Expr::Nested(Box::new(Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: Box::new(either),
        }))
    } else {
        either
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::parser::Parser;

    fn respelled(sql: &str) -> Result<String> {
        let (text, ends) = blank(sql).unwrap();
        let mut statements = Parser::parse_sql(&PostgresDialect::default(), &text).unwrap();
        let marks = marks(&text, &ends, &statements)?;
        apply(&marks, &mut statements)?;
        Ok(statements[0].to_string())
    }

    #[test]
    fn symmetric_between_takes_either_order() {
        assert_eq!(
            respelled("SELECT x BETWEEN SYMMETRIC 3 AND 1").unwrap(),
            "SELECT (x BETWEEN 3 AND 1 OR x BETWEEN 1 AND 3)"
        );
        assert_eq!(
            respelled("SELECT x NOT BETWEEN symmetric (1 + 2) AND y").unwrap(),
            "SELECT (NOT (x BETWEEN (1 + 2) AND y OR x BETWEEN y AND (1 + 2)))"
        );
        assert_eq!(
            respelled("SELECT x BETWEEN SYMMETRIC /* c */ 3 AND 1").unwrap(),
            "SELECT (x BETWEEN 3 AND 1 OR x BETWEEN 1 AND 3)"
        );
        assert_eq!(
            respelled("SELECT x BETWEEN ASYMMETRIC 1 AND 3").unwrap(),
            "SELECT x BETWEEN 1 AND 3"
        );
    }

    #[test]
    fn the_word_elsewhere_is_left_alone() {
        assert!(blank("SELECT 'between symmetric' AS \"symmetric\"").is_none());
    }
}
