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
pub(super) fn parse(sql: &str) -> Result<Vec<Statement>> {
    let plain = Parser::parse_sql(&PostgreSqlDialect {}, sql);
    let mut statements = if !reads_catalogs(sql) {
        plain?
    } else {
        match CATALOG_PARSER.parse(sql) {
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

    #[test]
    fn empty_and_comment_only_text_has_no_statements() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("-- ping").unwrap().is_empty());
        assert!(parse(" ; ").unwrap().is_empty());
    }

    #[test]
    fn ordinary_queries_are_not_rewritten() {
        let sql = "SELECT (SELECT max(v) FROM t WHERE t.h = o.h) FROM o";
        let parsed = parse(sql).unwrap();
        assert_eq!(parsed[0].to_string(), sql);
    }

    #[test]
    fn like_with_another_escape_character_is_translated() {
        let parsed = parse("SELECT 1 WHERE 'a' NOT LIKE $1 || '%' ESCAPE '/'").unwrap();
        assert_eq!(
            parsed[0].to_string(),
            "SELECT 1 WHERE 'a' NOT LIKE like_escape($1 || '%', '/')"
        );
        let backslash = r"SELECT 1 WHERE 'a' LIKE 'x\_' ESCAPE '\'";
        assert_eq!(parse(backslash).unwrap()[0].to_string(), backslash);
    }

    #[test]
    fn several_statements_parse_in_order() {
        let parsed = parse("SELECT 1; SELECT 2").unwrap();
        assert_eq!(parsed.len(), 2);
    }
}
