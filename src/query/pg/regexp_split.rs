//! `regexp_split_to_array(text, pattern [, flags])`: `text` split at each
//! match of `pattern`, as PostgreSQL splits it: a match of no characters at
//! the start or end of the text, or right after the previous match, does
//! not split. (`regexp_split_to_table` in a select list is this function
//! under `unnest`; see [`query_forms`](super::query_forms). In a FROM
//! clause it is [`RegexpSplitTable`], of constant arguments.)
//!
//! Patterns are Rust's regular expressions, which read PostgreSQL's common
//! syntax alike; the escapes whose meaning differs (`\b` is a backspace in
//! PostgreSQL, `\m`, `\M`, `\y`, `\Y`, `\Z`, back references) are refused
//! with 0A000 rather than read otherwise. Flags: `i`, `c`, `n` (or `m`),
//! `s`, `t` and `x`; `g` is refused as PostgreSQL refuses it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use regex::{Regex, RegexBuilder};

use super::columnar::columnar;
use crate::query::error::Error;

/// The function.
pub(crate) fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(RegexpSplit {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

/// `pattern` compiled with PostgreSQL's `flags`.
fn compile(pattern: &str, flags: &str) -> Result<Regex, Error> {
    let mut builder = RegexBuilder::new(pattern);
    // PostgreSQL's default: `.` matches a newline, `^` and `$` only the
    // ends of the text.
    builder.dot_matches_new_line(true);
    for flag in flags.chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            'c' => builder.case_insensitive(false),
            'n' | 'm' => builder.dot_matches_new_line(false).multi_line(true),
            's' => builder.dot_matches_new_line(true).multi_line(false),
            't' => builder.ignore_whitespace(false),
            'x' => builder.ignore_whitespace(true),
            'g' => {
                return Err(Error::InvalidParameterValue {
                    message: "regexp_split_to_array() does not support the \"global\" option"
                        .into(),
                });
            }
            'b' | 'e' | 'p' | 'q' | 'w' => {
                return Err(Error::Unsupported {
                    what: format!("regular expression option \"{flag}\""),
                });
            }
            other => {
                return Err(Error::InvalidParameterValue {
                    message: format!("invalid regular expression option: \"{other}\""),
                });
            }
        };
    }
    refuse_differing_escapes(pattern)?;
    builder.build().map_err(|e| Error::InvalidParameterValue {
        message: format!("invalid regular expression: {e}"),
    })
}

/// Refuses the escapes whose meaning differs between PostgreSQL's regular
/// expressions and Rust's (`\b` is a backspace in PostgreSQL and a word
/// boundary in Rust; `\m`, `\M`, `\y`, `\Y`, `\Z` and back references
/// Rust does not have), rather than match otherwise.
pub(crate) fn refuse_differing_escapes(pattern: &str) -> Result<(), Error> {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(next) = chars.next()
            && matches!(next, 'b' | 'B' | 'm' | 'M' | 'y' | 'Y' | 'Z' | '1'..='9')
        {
            return Err(Error::Unsupported {
                what: format!("the regular expression escape \\{next}"),
            });
        }
    }
    Ok(())
}

/// The pieces of `text` between the matches of `regex` that split it.
fn split<'t>(regex: &Regex, text: &'t str) -> Vec<&'t str> {
    let mut pieces = Vec::new();
    let (mut piece_start, mut prev_end, mut search) = (0, 0, 0);
    while search <= text.len() {
        let Some(found) = regex.find_at(text, search) else {
            break;
        };
        if found.start() < text.len() && found.end() > prev_end {
            pieces.push(&text[piece_start..found.start()]);
            piece_start = found.end();
        }
        prev_end = found.end();
        search = found.end();
        if found.start() == found.end() {
            // Past the next character.
            match text[search..].chars().next() {
                Some(c) => search += c.len_utf8(),
                None => break,
            }
        }
    }
    pieces.push(&text[piece_start..]);
    pieces
}

/// `regexp_split_to_table(text, pattern [, flags])` in a FROM clause, of
/// constant arguments: one row per piece, in a column named after the
/// function.
#[derive(Debug)]
pub(crate) struct RegexpSplitTable;

/// A constant text argument (`None` for NULL).
fn constant_text(expr: &Expr) -> Result<Option<String>> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(v) | ScalarValue::Utf8View(v) | ScalarValue::LargeUtf8(v),
            _,
        ) => Ok(v.clone()),
        Expr::Literal(ScalarValue::Null, _) => Ok(None),
        _ => Err(Error::Unsupported {
            what: "regexp_split_to_table in FROM of arguments other than text constants".into(),
        }
        .into()),
    }
}

impl TableFunctionImpl for RegexpSplitTable {
    fn call_with_args(&self, args: TableFunctionArgs<'_, '_>) -> Result<Arc<dyn TableProvider>> {
        let texts = args
            .exprs()
            .iter()
            .map(constant_text)
            .collect::<Result<Vec<_>>>()?;
        if !matches!(texts.len(), 2 | 3) {
            return Err(Error::UndefinedFunction {
                message: "function regexp_split_to_table takes two or three arguments".into(),
            }
            .into());
        }
        let mut pieces = StringBuilder::new();
        if let (Some(Some(text)), Some(Some(pattern))) = (texts.first(), texts.get(1)) {
            let flags = match texts.get(2) {
                Some(Some(flags)) => Some(flags.as_str()),
                Some(None) => None,
                None => Some(""),
            };
            if let Some(flags) = flags {
                for piece in split(&compile(pattern, flags)?, text) {
                    pieces.append_value(piece);
                }
            }
        }
        let schema = Arc::new(Schema::new(vec![Field::new(
            "regexp_split_to_table",
            DataType::Utf8,
            true,
        )]));
        let column: ArrayRef = Arc::new(pieces.finish());
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![column])?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpSplit {
    signature: Signature,
}

fn text_like(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
    )
}

impl ScalarUDFImpl for RegexpSplit {
    fn name(&self) -> &str {
        "regexp_split_to_array"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if matches!(arg_types.len(), 2 | 3) && arg_types.iter().all(text_like) {
            return Ok(vec![DataType::Utf8; arg_types.len()]);
        }
        let names: Vec<String> = arg_types
            .iter()
            .map(crate::pgtype::arrow_type_name)
            .collect();
        Err(Error::UndefinedFunction {
            message: format!(
                "function regexp_split_to_array({}) does not exist",
                names.join(", ")
            ),
        }
        .into())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !matches!(args.args.len(), 2 | 3) {
            return exec_err!("regexp_split_to_array takes two or three arguments");
        }
        let rows = args.number_rows.max(1);
        let is_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = args
            .args
            .iter()
            .map(|a| Ok(cast(&a.to_array(rows)?, &DataType::Utf8)?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let texts: Vec<_> = arrays.iter().map(|a| a.as_string::<i32>()).collect();
        let mut out = ListBuilder::new(StringBuilder::new());
        let mut cached: Option<(String, String, Regex)> = None;
        for row in 0..rows {
            if texts.iter().any(|t| t.is_null(row)) {
                out.append_null();
                continue;
            }
            let (text, pattern) = (texts[0].value(row), texts[1].value(row));
            let flags = texts.get(2).map_or("", |f| f.value(row));
            if cached
                .as_ref()
                .is_none_or(|(p, f, _)| p != pattern || f != flags)
            {
                cached = Some((
                    pattern.to_owned(),
                    flags.to_owned(),
                    compile(pattern, flags)?,
                ));
            }
            let Some((_, _, regex)) = &cached else {
                return exec_err!("regexp_split_to_array lost its pattern");
            };
            for piece in split(regex, text) {
                out.values().append_value(piece);
            }
            out.append(true);
        }
        let array: ArrayRef = Arc::new(out.finish());
        columnar(array, is_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str, pattern: &str) -> Vec<String> {
        let regex = compile(pattern, "").unwrap();
        split(&regex, text).into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn splits_as_postgres_splits() {
        assert_eq!(parts("a1b2c", "\\d"), ["a", "b", "c"]);
        assert_eq!(parts("hello", ""), ["h", "e", "l", "l", "o"]);
        assert_eq!(parts("1a1", "1"), ["", "a", ""]);
        assert_eq!(parts("abc", "x*"), ["a", "b", "c"]);
        assert_eq!(parts("", "x"), [""]);
        assert_eq!(parts("a  b", "\\s*"), ["a", "b"]);
    }
}
