//! SQL text from clients, parsed PostgreSQL's way, with the catalog-query
//! rewrites of datafusion-pg-catalog (and ours, `catalog_rewrite`) applied only
//! where they belong.
//!
//! The pg-catalog rewrites (and its table of canned replacements for known
//! client queries) make psql's and drivers' catalog queries plannable, but some
//! change the meaning of ordinary queries (a correlated scalar subquery becomes
//! NULL). So they are applied only to statements that read the catalogs.
//! `LIKE ... ESCAPE` is translated in every statement.

use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, Statement, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use super::Result;

mod catalog_rewrite;

static CATALOG_PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// Markers of a query that reads the system catalogs.
const CATALOG_MARKERS: &[&str] = &[
    "pg_",
    "information_schema",
    "regclass",
    "regtype",
    "regproc",
    "regnamespace",
    "current_schema",
];

fn reads_catalogs(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    CATALOG_MARKERS.iter().any(|m| lower.contains(m))
}

/// Parses `sql` into statements. Empty and comment-only text yields none.
/// `search_path` gives the schemas of the session's search path, in order,
/// for the client queries that read it.
pub(super) fn parse(sql: &str, search_path: impl Fn() -> Vec<String>) -> Result<Vec<Statement>> {
    let plain = Parser::parse_sql(&PostgreSqlDialect {}, sql);
    let mut statements = if !reads_catalogs(sql) {
        plain?
    } else {
        let resolved = resolve_search_path_subquery(sql, search_path);
        match CATALOG_PARSER.parse(resolved.as_deref().unwrap_or(sql)) {
            Ok(mut statements) => {
                statements.iter_mut().for_each(catalog_rewrite::rewrite);
                statements
            }
            // Report the error of the plain parse: it points at the client's text.
            Err(_) => plain?,
        }
    };
    statements.iter_mut().for_each(rewrite_like_escape);
    Ok(statements)
}

/// The subquery Grafana's query builder uses for "the schemas on the search
/// path" (its table and column lists). DataFusion cannot plan it (`s[i]` over
/// a cross join with a scalar array, and it sits in an IN inside ORDER BY), and
/// pg-catalog's canned replacement is an empty list.
const GRAFANA_SEARCH_PATH_SUBQUERY: &str = r#"SELECT
    CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
FROM generate_series(
    array_lower(string_to_array(current_setting('search_path'),','),1),
    array_upper(string_to_array(current_setting('search_path'),','),1)
) as i,
string_to_array(current_setting('search_path'),',') s"#;

static GRAFANA_SEARCH_PATH_TOKENS: LazyLock<Vec<Token>> =
    LazyLock::new(|| significant(tokenize(GRAFANA_SEARCH_PATH_SUBQUERY).unwrap_or_default()));

fn tokenize(sql: &str) -> Option<Vec<Token>> {
    Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()
}

fn significant(tokens: Vec<Token>) -> Vec<Token> {
    tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect()
}

/// Tokens equal up to the case of keywords and unquoted names.
fn same_token(a: &Token, b: &Token) -> bool {
    match (a, b) {
        (Token::Word(a), Token::Word(b)) => {
            a.quote_style == b.quote_style
                && if a.quote_style.is_none() {
                    a.value.eq_ignore_ascii_case(&b.value)
                } else {
                    a.value == b.value
                }
        }
        _ => a == b,
    }
}

/// `sql` with Grafana's search-path subquery replaced by the literal list of
/// the session's search-path schemas, which is what it computes; `None` when
/// the query has no such subquery.
fn resolve_search_path_subquery(
    sql: &str,
    search_path: impl Fn() -> Vec<String>,
) -> Option<String> {
    let pattern = GRAFANA_SEARCH_PATH_TOKENS.as_slice();
    let first = pattern.first()?;
    if !sql
        .to_ascii_lowercase()
        .contains("current_setting('search_path')")
    {
        return None;
    }
    let tokens = tokenize(sql)?;
    // Positions of the significant tokens in `tokens`.
    let positions: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    let mut out = String::with_capacity(sql.len());
    let mut next = 0;
    let mut k = 0;
    let mut replaced = false;
    while k + pattern.len() <= positions.len() {
        let matches = same_token(&tokens[positions[k]], first)
            && pattern
                .iter()
                .enumerate()
                .all(|(j, p)| same_token(&tokens[positions[k + j]], p));
        if !matches {
            k += 1;
            continue;
        }
        for token in &tokens[next..positions[k]] {
            out.push_str(&token.to_string());
        }
        let schemas = search_path();
        if schemas.is_empty() {
            out.push_str("NULL");
        } else {
            let literals: Vec<String> = schemas
                .iter()
                .map(|s| Value::SingleQuotedString(s.clone()).to_string())
                .collect();
            out.push_str(&literals.join(", "));
        }
        next = positions[k + pattern.len() - 1] + 1;
        k += pattern.len();
        replaced = true;
    }
    if !replaced {
        return None;
    }
    for token in &tokens[next..] {
        out.push_str(&token.to_string());
    }
    Some(out)
}

/// `x LIKE p ESCAPE 'c'`: DataFusion knows only the backslash as LIKE's escape
/// character, so a pattern with another one is translated by `like_escape`, as
/// PostgreSQL's own function of that name does.
fn rewrite_like_escape(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = expr
            && let Some(escape) = escape_char
            && escape.value != Value::SingleQuotedString("\\".to_owned())
        {
            let translated = Expr::Function(Function {
                name: ObjectName::from(vec![Ident::new("like_escape")]),
                uses_odbc_syntax: false,
                parameters: FunctionArguments::None,
                args: FunctionArguments::List(FunctionArgumentList {
                    duplicate_treatment: None,
                    args: vec![
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(pattern.as_ref().clone())),
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(escape.clone()))),
                    ],
                    clauses: vec![],
                }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: vec![],
            });
            **pattern = translated;
            *escape_char = None;
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_default(sql: &str) -> Result<Vec<Statement>> {
        parse(sql, || vec!["alice".to_owned(), "public".to_owned()])
    }

    #[test]
    fn grafana_search_path_subquery_becomes_the_session_schemas() {
        let sql = "SELECT table_name FROM information_schema.tables WHERE \
                   quote_ident(table_schema) IN (select CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END\n\
                   FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1),\n\
                   array_upper(string_to_array(current_setting('search_path'),','),1)) as i,\n\
                   string_to_array(current_setting('search_path'),',') s) ORDER BY 1";
        let resolved =
            resolve_search_path_subquery(sql, || vec!["alice".to_owned(), "public".to_owned()])
                .unwrap();
        assert_eq!(
            resolved,
            "SELECT table_name FROM information_schema.tables WHERE \
             quote_ident(table_schema) IN ('alice', 'public') ORDER BY 1"
        );
        assert_eq!(
            resolve_search_path_subquery("SELECT current_setting('search_path')", Vec::new),
            None
        );
    }

    #[test]
    fn empty_and_comment_only_text_has_no_statements() {
        assert!(parse_default("").unwrap().is_empty());
        assert!(parse_default("-- ping").unwrap().is_empty());
        assert!(parse_default(" ; ").unwrap().is_empty());
    }

    #[test]
    fn ordinary_queries_are_not_rewritten() {
        let sql = "SELECT (SELECT max(v) FROM t WHERE t.h = o.h) FROM o";
        let parsed = parse_default(sql).unwrap();
        assert_eq!(parsed[0].to_string(), sql);
    }

    #[test]
    fn like_with_another_escape_character_is_translated() {
        let parsed = parse_default("SELECT 1 WHERE 'a' NOT LIKE $1 || '%' ESCAPE '/'").unwrap();
        assert_eq!(
            parsed[0].to_string(),
            "SELECT 1 WHERE 'a' NOT LIKE like_escape($1 || '%', '/')"
        );
        let backslash = r"SELECT 1 WHERE 'a' LIKE 'x\_' ESCAPE '\'";
        assert_eq!(parse_default(backslash).unwrap()[0].to_string(), backslash);
    }

    #[test]
    fn several_statements_parse_in_order() {
        let parsed = parse_default("SELECT 1; SELECT 2").unwrap();
        assert_eq!(parsed.len(), 2);
    }
}
