//! SQL text from clients, parsed PostgreSQL's way, with the catalog-query
//! rewrites of datafusion-pg-catalog applied only where they belong.
//!
//! The pg-catalog rewrites (and its table of canned replacements for known
//! client queries) make psql's and drivers' catalog queries plannable, but some
//! change the meaning of ordinary queries (a correlated scalar subquery becomes
//! NULL). So they are applied only to statements that read the catalogs.

use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use super::Result;

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
    if !reads_catalogs(sql) {
        return Ok(plain?);
    }
    match CATALOG_PARSER.parse(sql) {
        Ok(statements) => Ok(statements),
        // Report the error of the plain parse: it points at the client's text.
        Err(_) => Ok(plain?),
    }
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
    fn several_statements_parse_in_order() {
        let parsed = parse("SELECT 1; SELECT 2").unwrap();
        assert_eq!(parsed.len(), 2);
    }
}
