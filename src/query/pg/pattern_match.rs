//! The regular-expression operators `~`, `~*`, `!~`, `!~*` and
//! `SIMILAR TO`, with PostgreSQL's meaning.
//!
//! PostgreSQL matches without newline sensitivity by default: `.` and a
//! bracket expression match a newline. DataFusion's operators compile the
//! pattern as it is, where `.` stops at one, so `E'a\nb' ~ 'a.b'` would be
//! false. [`rewrite`] makes each operator `regexp_like(x, p, flags)` with the
//! `s` flag (and `i` for the case-insensitive ones), under `NOT` for the
//! negated ones.
//!
//! DataFusion reads a `SIMILAR TO` pattern as a regular expression, so
//! `'abc' SIMILAR TO 'a%'` would be false. PostgreSQL turns the pattern into
//! one with `similar_to_escape`, which this module also provides as the
//! function users can call: `%` and `_` become `.*` and `.`, `(` becomes a
//! group that captures nothing, `.`, `^`, `$` and `\` are literal, the
//! escape character (`\` unless `ESCAPE` names another, none when it names
//! '') makes the next character literal, and the whole must match.
//!
//! The functions `regexp_replace`, `regexp_match`, `regexp_like` and
//! `regexp_count` take PostgreSQL's flags, which [`rewrite`] turns into
//! Rust's for DataFusion's functions of those names: newline-insensitive
//! matching unless `n`, `p` or `w` says otherwise, `i`/`c` for case, `x` for
//! expanded syntax, `g` where PostgreSQL takes it. Flags other than a
//! constant are refused (0A000), and so are constant patterns with an
//! escape Rust reads otherwise (`\b`, `\y`, back references).
//!
//! `substring(text FROM pattern)` with a text pattern is PostgreSQL's
//! regular-expression form: the part matched by the first parenthesized
//! subexpression, or by the whole pattern when it has none, which is the
//! first element of `regexp_match`'s answer.

use std::ops::ControlFlow;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Statement,
    UnaryOperator, Value, visit_expressions_mut,
};

use datafusion::sql::sqlparser::parser::Parser;

use super::at_time_zone::function_call;
use super::dialect::PostgresDialect;
use super::regexp_split::refuse_differing_escapes;
use super::respell::take;

use super::columnar::{arguments, columnar, no_such_function, unknown};
use crate::query::error::Error;

/// The regular-expression functions whose flags are rewritten: the
/// position of the flags, the default of each argument before them, and
/// whether `g` is taken.
const FLAGGED: &[(&str, usize, &[&str], bool)] = &[
    ("regexp_replace", 3, &[], true),
    ("regexp_match", 2, &[], false),
    ("regexp_like", 2, &[], false),
    ("regexp_count", 3, &["1"], false),
];

/// Rust's flags for PostgreSQL's `flags` of `function` (`None`: no flags).
pub(crate) fn rust_flags(
    flags: &str,
    function: &str,
    global: bool,
) -> Result<Option<String>, Error> {
    let (mut case_insensitive, mut dot_newline, mut multi_line, mut extended, mut all) =
        (false, true, false, false, false);
    for flag in flags.chars() {
        match flag {
            'i' => case_insensitive = true,
            'c' => case_insensitive = false,
            'n' | 'm' => (dot_newline, multi_line) = (false, true),
            'p' => (dot_newline, multi_line) = (false, false),
            'w' => (dot_newline, multi_line) = (true, true),
            's' => (dot_newline, multi_line) = (true, false),
            'x' => extended = true,
            't' => extended = false,
            'g' if global => all = true,
            'g' => {
                return Err(Error::InvalidParameterValue {
                    message: format!("{function}() does not support the \"global\" option"),
                });
            }
            'b' | 'e' | 'q' => {
                return Err(Error::Unsupported {
                    what: format!("regular expression option \"{flag}\""),
                });
            }
            other => {
                return Err(Error::InvalidParameterValue {
                    message: format!("invalid regular expression option: \"{other}\""),
                });
            }
        }
    }
    let rust: String = [
        (case_insensitive, 'i'),
        (dot_newline, 's'),
        (multi_line, 'm'),
        (extended, 'x'),
        (all, 'g'),
    ]
    .iter()
    .filter_map(|(on, letter)| on.then_some(*letter))
    .collect();
    Ok((!rust.is_empty()).then_some(rust))
}

/// A call of one of [`FLAGGED`] with its flags made Rust's.
fn rewrite_flags(function: &mut Function) -> Result<(), Error> {
    let name = match function.name.0.as_slice() {
        [part] => part.as_ident().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    };
    let Some(&(name, at, defaults, global)) = FLAGGED.iter().find(|f| Some(f.0) == name.as_deref())
    else {
        return Ok(());
    };
    let FunctionArguments::List(list) = &mut function.args else {
        return Ok(());
    };
    let given = list.args.len();
    // Too few arguments to have flags, or too many: DataFusion's function
    // answers (or refuses) them as they are.
    if given < at - defaults.len() || given > at + 1 {
        return Ok(());
    }
    if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(pattern))) = list.args.get(1) {
        check_pattern(pattern)?;
    }
    let flags = match list.args.get(at) {
        None => String::new(),
        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) => match &v.value {
            Value::SingleQuotedString(text) => text.clone(),
            _ => return Err(flags_not_constant()),
        },
        Some(_) => return Err(flags_not_constant()),
    };
    let rust = rust_flags(&flags, name, global)?;
    list.args.truncate(at);
    if let Some(rust) = rust {
        for default in &defaults[defaults.len() - (at - list.args.len())..] {
            let value = Expr::Value(Value::Number((*default).into(), false).into());
            list.args
                .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(value)));
        }
        let rust = Expr::Value(Value::SingleQuotedString(rust).into());
        list.args
            .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(rust)));
    }
    Ok(())
}

/// Refuses a constant pattern with an escape Rust reads otherwise.
fn check_pattern(pattern: &Expr) -> Result<(), Error> {
    match pattern {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(text) => refuse_differing_escapes(text),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn flags_not_constant() -> Error {
    Error::Unsupported {
        what: "regular expression flags other than a constant".into(),
    }
}

/// Rewrites the pattern-matching operators and functions of `statement`
/// (see the module documentation).
pub(crate) fn rewrite(statement: &mut Statement) -> Result<(), Error> {
    let flow = visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Expr::Function(function) = expr {
            return match rewrite_flags(function) {
                Ok(()) => ControlFlow::Continue(()),
                Err(error) => ControlFlow::Break(error),
            };
        }
        let rewritten = match expr {
            Expr::Substring {
                expr: text,
                substring_from: Some(pattern),
                substring_for: None,
                ..
            } if matches!(pattern.as_ref(), Expr::Value(v)
                if matches!(v.value, Value::SingleQuotedString(_))) =>
            {
                let sql = format!("(regexp_match({text}, {pattern}, 's'))[1]");
                match Parser::new(&PostgresDialect::default())
                    .try_with_sql(&sql)
                    .and_then(|mut p| p.parse_expr())
                {
                    Ok(matched) => matched,
                    Err(_) => return ControlFlow::Continue(()),
                }
            }
            Expr::BinaryOp { left, op, right } => {
                let (flags, negated) = match op {
                    BinaryOperator::PGRegexMatch => ("s", false),
                    BinaryOperator::PGRegexIMatch => ("si", false),
                    BinaryOperator::PGRegexNotMatch => ("s", true),
                    BinaryOperator::PGRegexNotIMatch => ("si", true),
                    _ => return ControlFlow::Continue(()),
                };
                if let Err(error) = check_pattern(right) {
                    return ControlFlow::Break(error);
                }
                let value = take(left);
                let pattern = take(right);
                regexp_like(value, pattern, flags, negated)
            }
            Expr::SimilarTo {
                negated,
                expr: value,
                pattern,
                escape_char,
            } => {
                let value = take(value);
                let pattern = take(pattern);
                let mut escape_args = vec![pattern];
                if let Some(escape) = escape_char.take() {
                    escape_args.push(Expr::Value(escape));
                }
                let regex = function_call("similar_to_escape", escape_args);
                regexp_like(value, regex, "s", *negated)
            }
            _ => return ControlFlow::Continue(()),
        };
        *expr = rewritten;
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// `[NOT] regexp_like(value, pattern, flags)`, in parentheses.
fn regexp_like(value: Expr, pattern: Expr, flags: &str, negated: bool) -> Expr {
    let flags = Expr::Value(Value::SingleQuotedString(flags.into()).into());
    let matched = function_call("regexp_like", vec![value, pattern, flags]);
    let matched = if negated {
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: Box::new(matched),
        }
    } else {
        matched
    };
    Expr::Nested(Box::new(matched))
}

/// The regular expression PostgreSQL matches for the `SIMILAR TO` pattern
/// `pattern` with the escape character `escape` (`None`: no escape).
/// `Err` for a pattern with more than two escaped double quotes, which
/// only `SUBSTRING ... SIMILAR` gives a meaning.
pub(crate) fn similar_to_regex(pattern: &str, escape: Option<char>) -> Result<String, Error> {
    let mut out = String::with_capacity(pattern.len() + 8);
    out.push_str("^(?:");
    let mut after_escape = false;
    // Inside a bracket expression: how many members it has so far, and
    // whether it is negated (a `]` right after `[` or `[^` is a member, not
    // the end).
    let mut in_class: Option<(usize, bool)> = None;
    let mut quotes = 0;
    for c in pattern.chars() {
        if after_escape {
            after_escape = false;
            if c == '"' && in_class.is_none() {
                // The separators of SUBSTRING's three parts, as PostgreSQL
                // writes them.
                match quotes {
                    0 => out.push_str("){1,1}?("),
                    1 => out.push_str("){1,1}(?:"),
                    _ => {
                        return Err(Error::InvalidParameterValue {
                            message: "SQL regular expression may not contain more than two \
                                      escape-double-quote separators"
                                .into(),
                        });
                    }
                }
                quotes += 1;
            } else {
                out.push('\\');
                out.push(c);
            }
        } else if escape == Some(c) {
            after_escape = true;
        } else if let Some((members, negated)) = in_class {
            if c == '\\' {
                out.push('\\');
            }
            out.push(c);
            in_class = match c {
                ']' if members > 0 => None,
                '^' if members == 0 && !negated => Some((0, true)),
                _ => Some((members + 1, negated)),
            };
        } else {
            match c {
                '[' => {
                    out.push('[');
                    in_class = Some((0, false));
                }
                '%' => out.push_str(".*"),
                '_' => out.push('.'),
                '(' => out.push_str("(?:"),
                '\\' | '.' | '^' | '$' => {
                    out.push('\\');
                    out.push(c);
                }
                other => out.push(other),
            }
        }
    }
    out.push_str(")$");
    Ok(out)
}

/// `similar_to_escape(pattern [, escape])`.
pub(crate) fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(SimilarToEscape {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SimilarToEscape {
    signature: Signature,
}

impl ScalarUDFImpl for SimilarToEscape {
    fn name(&self) -> &str {
        "similar_to_escape"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if matches!(arg_types.len(), 1 | 2) && arg_types.iter().all(unknown) {
            return Ok(vec![DataType::Utf8; arg_types.len()]);
        }
        Err(no_such_function("similar_to_escape", arg_types))
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let (Some(patterns), escapes) = (arrays.first(), arrays.get(1)) else {
            return exec_err!("similar_to_escape takes one or two arguments");
        };
        let patterns = patterns.as_string::<i32>();
        let escapes = escapes.map(|e| e.as_string::<i32>());
        let mut out = StringBuilder::with_capacity(patterns.len(), patterns.len() * 8);
        for row in 0..patterns.len() {
            let escape = match escapes {
                None => Some(Some('\\')),
                Some(escapes) if escapes.is_null(row) => None,
                Some(escapes) => {
                    let text = escapes.value(row);
                    let mut chars = text.chars();
                    match (chars.next(), chars.next()) {
                        (None, _) => Some(None),
                        (Some(c), None) => Some(Some(c)),
                        _ => return Err(Error::InvalidEscapeSequence.into()),
                    }
                }
            };
            match escape {
                Some(escape) if patterns.is_valid(row) => {
                    out.append_value(similar_to_regex(patterns.value(row), escape)?);
                }
                _ => out.append_null(),
            }
        }
        columnar(std::sync::Arc::new(out.finish()), scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::pg::rewritten_by;

    #[test]
    fn patterns_become_postgres_regular_expressions() {
        let regex = |p: &str| similar_to_regex(p, Some('\\')).unwrap();
        // PostgreSQL 15's similar_to_escape for the same patterns.
        assert_eq!(
            regex("a%_\\.x(b|c)[^]x]$^"),
            "^(?:a.*.\\.x(?:b|c)[^]x]\\$\\^)$"
        );
        assert_eq!(regex("[]a]+"), "^(?:[]a]+)$");
        assert_eq!(regex("[a\\]"), "^(?:[a\\])$");
        assert_eq!(similar_to_regex("[a\\]", None).unwrap(), "^(?:[a\\\\])$");
        assert_eq!(similar_to_regex("a#%", Some('#')).unwrap(), "^(?:a\\%)$");
        assert_eq!(similar_to_regex("a\\%", None).unwrap(), "^(?:a\\\\.*)$");
        assert_eq!(regex("a\\\"b\\\"c"), "^(?:a){1,1}?(b){1,1}(?:c)$");
        assert!(similar_to_regex("\\\"a\\\"b\\\"c", Some('\\')).is_err());
    }

    #[test]
    fn postgres_flags_become_rust_flags() {
        let flags = |f: &str| rust_flags(f, "regexp_replace", true).unwrap();
        assert_eq!(flags(""), Some("s".into()));
        assert_eq!(flags("gi"), Some("isg".into()));
        assert_eq!(flags("n"), Some("m".into()));
        assert_eq!(flags("p"), None);
        assert_eq!(flags("pg"), Some("g".into()));
        assert_eq!(flags("ic"), Some("s".into()));
        assert!(rust_flags("g", "regexp_match", false).is_err());
        assert!(rust_flags("z", "regexp_match", false).is_err());
        assert_eq!(
            rewritten_by(
                "SELECT regexp_count(a, 'x'), regexp_count(a, 'x', 2, 'i')",
                |s| {
                    let _ = rewrite(s);
                }
            ),
            "SELECT regexp_count(a, 'x', 1, 's'), regexp_count(a, 'x', 2, 'is')"
        );
        assert_eq!(
            rewritten_by(
                "SELECT regexp_replace(a, 'x', 'y', 'p'), regexp_match(a, b)",
                |s| {
                    let _ = rewrite(s);
                }
            ),
            "SELECT regexp_replace(a, 'x', 'y'), regexp_match(a, b, 's')"
        );
    }

    #[test]
    fn operators_become_regexp_like_with_newlines_matched() {
        assert_eq!(
            rewritten_by("SELECT a ~ 'x', a !~* b", |s| {
                let _ = rewrite(s);
            }),
            "SELECT (regexp_like(a, 'x', 's')), (NOT regexp_like(a, b, 'si'))"
        );
        assert_eq!(
            rewritten_by("SELECT a NOT SIMILAR TO 'x%' ESCAPE '#'", |s| {
                let _ = rewrite(s);
            }),
            "SELECT (NOT regexp_like(a, similar_to_escape('x%', '#'), 's'))"
        );
    }

    #[test]
    fn the_rewrite_leaves_other_operators_alone() {
        assert_eq!(
            rewritten_by("SELECT a LIKE 'x%', a = b", |s| {
                let _ = rewrite(s);
            }),
            "SELECT a LIKE 'x%', a = b"
        );
    }
}
