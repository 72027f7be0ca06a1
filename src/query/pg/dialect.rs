//! The dialect every statement is parsed with: sqlparser's PostgreSQL
//! dialect, less the one feature that makes its parser exponential.
//!
//! With `supports_named_fn_args_with_expr_name`, the parser reads each
//! function argument as a whole expression, hoping for `expr => value`,
//! and reads it again when no arrow follows. An argument holding a call
//! is so read twice at every level, and `abs(abs(... abs(1) ...))` twenty
//! deep took seconds: any client could stall the server with one line.
//! Without it, a named argument is an identifier (`f(name => value)`),
//! which is all PostgreSQL accepts anyway: its expression-named arguments
//! belong to `json_object('key' : value)`, which EpochDB does not have.
//!
//! Every other behaviour is PostgreSQL's: the methods the PostgreSQL
//! dialect overrides are forwarded, and [`Dialect::dialect`] answers its
//! type, so the parser's own `dialect_of!(PostgreSqlDialect)` checks hold.
//! One form sqlparser's grammar lacks is added: `trim(LEADING FROM x)`,
//! a side without the characters to trim.

use std::any::TypeId;

use datafusion::sql::sqlparser::ast::{Expr, TrimWhereField};
use datafusion::sql::sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

/// PostgreSQL's dialect, parsed in linear time.
#[derive(Debug, Default, Clone, Copy)]
pub struct PostgresDialect(PostgreSqlDialect);

impl Dialect for PostgresDialect {
    fn dialect(&self) -> TypeId {
        self.0.dialect()
    }

    fn parse_prefix(&self, parser: &mut Parser<'_>) -> Option<Result<Expr, ParserError>> {
        let keyword = |n: usize| match parser.peek_nth_token(n).token {
            Token::Word(word) => Some(word.keyword),
            _ => None,
        };
        let trim_where = match (keyword(0), keyword(2), keyword(3)) {
            (Some(Keyword::TRIM), Some(side), Some(Keyword::FROM))
                if parser.peek_nth_token(1).token == Token::LParen =>
            {
                match side {
                    Keyword::LEADING => TrimWhereField::Leading,
                    Keyword::TRAILING => TrimWhereField::Trailing,
                    Keyword::BOTH => TrimWhereField::Both,
                    _ => return None,
                }
            }
            _ => return None,
        };
        for _ in 0..4 {
            parser.next_token();
        }
        Some(parser.parse_expr().and_then(|expr| {
            parser.expect_token(&Token::RParen)?;
            Ok(Expr::Trim {
                trim_where: Some(trim_where),
                trim_what: None,
                expr: Box::new(expr),
                trim_characters: None,
            })
        }))
    }

    fn supports_named_fn_args_with_expr_name(&self) -> bool {
        false
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.0.identifier_quote_style(identifier)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.0.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.0.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.0.is_identifier_part(ch)
    }

    fn supports_unicode_string_literal(&self) -> bool {
        self.0.supports_unicode_string_literal()
    }

    fn is_reserved_for_identifier(&self, kw: Keyword) -> bool {
        self.0.is_reserved_for_identifier(kw)
    }

    fn is_custom_operator_part(&self, ch: char) -> bool {
        self.0.is_custom_operator_part(ch)
    }

    fn get_next_precedence(&self, parser: &Parser<'_>) -> Option<Result<u8, ParserError>> {
        self.0.get_next_precedence(parser)
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        self.0.supports_filter_during_aggregation()
    }

    fn supports_group_by_expr(&self) -> bool {
        self.0.supports_group_by_expr()
    }

    fn prec_value(&self, prec: Precedence) -> u8 {
        self.0.prec_value(prec)
    }

    fn allow_extract_custom(&self) -> bool {
        self.0.allow_extract_custom()
    }

    fn allow_extract_single_quotes(&self) -> bool {
        self.0.allow_extract_single_quotes()
    }

    fn supports_create_index_with_clause(&self) -> bool {
        self.0.supports_create_index_with_clause()
    }

    fn supports_explain_with_utility_options(&self) -> bool {
        self.0.supports_explain_with_utility_options()
    }

    fn supports_listen_notify(&self) -> bool {
        self.0.supports_listen_notify()
    }

    fn supports_factorial_operator(&self) -> bool {
        self.0.supports_factorial_operator()
    }

    fn supports_bitwise_shift_operators(&self) -> bool {
        self.0.supports_bitwise_shift_operators()
    }

    fn supports_comment_on(&self) -> bool {
        self.0.supports_comment_on()
    }

    fn supports_load_extension(&self) -> bool {
        self.0.supports_load_extension()
    }

    fn supports_named_fn_args_with_colon_operator(&self) -> bool {
        self.0.supports_named_fn_args_with_colon_operator()
    }

    fn supports_empty_projections(&self) -> bool {
        self.0.supports_empty_projections()
    }

    fn supports_nested_comments(&self) -> bool {
        self.0.supports_nested_comments()
    }

    fn supports_string_escape_constant(&self) -> bool {
        self.0.supports_string_escape_constant()
    }

    fn supports_numeric_literal_underscores(&self) -> bool {
        self.0.supports_numeric_literal_underscores()
    }

    fn supports_array_typedef_with_brackets(&self) -> bool {
        self.0.supports_array_typedef_with_brackets()
    }

    fn supports_geometric_types(&self) -> bool {
        self.0.supports_geometric_types()
    }

    fn supports_set_names(&self) -> bool {
        self.0.supports_set_names()
    }

    fn supports_alter_column_type_using(&self) -> bool {
        self.0.supports_alter_column_type_using()
    }

    fn supports_notnull_operator(&self) -> bool {
        self.0.supports_notnull_operator()
    }

    fn supports_interval_options(&self) -> bool {
        self.0.supports_interval_options()
    }

    fn supports_insert_table_alias(&self) -> bool {
        self.0.supports_insert_table_alias()
    }

    fn supports_create_table_like_parenthesized(&self) -> bool {
        self.0.supports_create_table_like_parenthesized()
    }

    fn supports_select_wildcard_with_alias(&self) -> bool {
        self.0.supports_select_wildcard_with_alias()
    }

    fn supports_comma_separated_trim(&self) -> bool {
        self.0.supports_comma_separated_trim()
    }

    fn supports_xml_expressions(&self) -> bool {
        self.0.supports_xml_expressions()
    }

    fn supports_comment_optimizer_hint(&self) -> bool {
        self.0.supports_comment_optimizer_hint()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::PostgresDialect;

    fn parse(dialect: &dyn super::Dialect, sql: &str) -> String {
        match Parser::parse_sql(dialect, sql) {
            Ok(statements) => format!("{statements:?}"),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn statements_parse_as_with_the_postgresql_dialect() {
        for sql in [
            "SELECT a, b::int8, $1 FROM s.t AS x WHERE a ~ 'x' AND b !~* 'y' ORDER BY 1 NULLS FIRST",
            "SELECT date_trunc('hour', ts) AS h, avg(v) FILTER (WHERE v > 0) FROM m GROUP BY 1",
            "SELECT E'a\\nb', U&'\\0041', 1_000, 5!, 1 << 2, x::text[], ts AT TIME ZONE 'UTC'",
            "SELECT \"Quoted\", extract('epoch' FROM ts), interval '1 day' hour, trim(both 'x', y)",
            "SELECT count(*), json_col -> 'k' ->> 'v', p <-> q, x ISNULL",
            "INSERT INTO t AS a (x) VALUES (1) ON CONFLICT (x) DO UPDATE SET x = excluded.x RETURNING *",
            "CREATE TABLE t (id int PRIMARY KEY, v text DEFAULT 'a', ts timestamptz NOT NULL)",
            "COMMENT ON TABLE t IS 'x'; LISTEN ch; NOTIFY ch, 'p'; SET NAMES 'UTF8'",
            "EXPLAIN (ANALYZE, VERBOSE) SELECT /* a /* nested */ comment */ 1",
            "SELECT * FROM t WHERE x BETWEEN SYMMETRIC 1 AND 2 AND y NOTNULL",
        ] {
            assert_eq!(
                parse(&PostgresDialect::default(), sql),
                parse(&PostgreSqlDialect {}, sql),
                "{sql}"
            );
        }
    }

    #[test]
    fn named_arguments_are_identifiers() {
        let parsed = parse(&PostgresDialect::default(), "SELECT f(a => 1, b => 2)");
        assert_eq!(parsed.matches("Named {").count(), 2, "{parsed}");
        assert!(!parsed.contains("ExprNamed"), "{parsed}");
    }

    #[test]
    fn nested_calls_parse_in_linear_time() {
        // The PostgreSQL dialect reads each argument twice per level:
        // this would take 2^1000 steps there.
        let depth = 1000;
        let sql = format!("SELECT {}1{}", "abs(".repeat(depth), ")".repeat(depth));
        let parsed = Parser::new(&PostgresDialect::default())
            .with_recursion_limit(10 * depth)
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_statements());
        assert!(parsed.is_ok(), "{parsed:?}");
    }
}
