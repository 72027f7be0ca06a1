//! PostgreSQL compatibility in the query layer: functions PostgreSQL clients
//! call (`version()`, the catalog functions, overrides of DataFusion's), the
//! column names PostgreSQL gives results, and the role catalogs.

pub(crate) mod age;
pub(crate) mod arithmetic;
pub(crate) mod array_edit;
pub(crate) mod array_in;
pub(crate) mod at_time_zone;
pub(crate) mod binary_text;
pub(crate) mod clock;
pub(crate) mod column_names;
pub(crate) mod columnar;
pub(crate) mod date_arithmetic;
pub(crate) mod date_fields;
pub(crate) mod defaults;
pub(crate) mod dialect;
pub(crate) mod epoch_range;
pub(crate) mod extract;
pub(crate) mod float_key;
pub(crate) mod format;
pub(crate) mod from_char;
pub(crate) mod functions;
pub(crate) mod in_lists;
pub(crate) mod insert_columns;
pub(crate) mod insert_source;
pub(crate) mod int4_results;
pub(crate) mod int_cast;
pub(crate) mod int_literals;
pub(crate) mod interval_key;
pub(crate) mod interval_scale;
pub(crate) mod json;
pub(crate) mod json_agg;
pub(crate) mod justify;
pub(crate) mod keys_catalog;
pub(crate) mod lateral;
pub(crate) mod make_interval;
pub(crate) mod make_time;
pub(crate) mod min_max;
pub(crate) mod number_text;
pub(crate) mod numeric;
pub(crate) mod numeric_quotient;
pub(crate) mod ordered_set;
pub(crate) mod pattern_match;
pub(crate) mod placeholders;
pub(crate) mod plan_exprs;
pub(crate) mod query_forms;
pub(crate) mod quoting;
pub(crate) mod regexp_split;
pub(crate) mod relation_oids;
pub(crate) mod respell;
pub(crate) mod roles_catalog;
pub(crate) mod semantics;
pub(crate) mod session_zone;
pub(crate) mod set_comparison;
pub(crate) mod set_operations;
pub(crate) mod shown_default;
pub(crate) mod srf_columns;
pub(crate) mod sum;
pub(crate) mod text_in;
pub(crate) mod text_out;
pub(crate) mod to_char;
pub(crate) mod type_of;
pub(crate) mod uuid;
pub(crate) mod varchar_cast;
pub(crate) mod views_catalog;
pub(crate) mod width_bucket;
pub(crate) mod zone_tags;

/// `sql`'s first statement, rewritten by `rewrite` and printed: for the
/// tests of the statement rewrites.
#[cfg(test)]
pub(crate) fn rewritten_by(
    sql: &str,
    rewrite: impl FnOnce(&mut datafusion::sql::sqlparser::ast::Statement),
) -> String {
    use crate::query::pg::dialect::PostgresDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let mut statements = Parser::parse_sql(&PostgresDialect::default(), sql).unwrap_or_default();
    let Some(statement) = statements.first_mut() else {
        return String::new();
    };
    rewrite(statement);
    statement.to_string()
}
