//! SQL functions beyond DataFusion's own: the PostgreSQL catalog functions from
//! datafusion-pg-catalog, and PostgreSQL-compatible overrides.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::{
    self as pg, PgCatalogStaticTables, array_bounds_udf, format_type, has_privilege_udf,
    pg_get_expr_udf, quote_ident_udf,
};

/// The PostgreSQL release whose behaviour EpochDB follows.
pub const POSTGRES_VERSION: &str = "15.0";

/// What `version()` returns. Clients such as SQLAlchemy parse the leading
/// "PostgreSQL X.Y".
pub fn version_string() -> String {
    format!(
        "PostgreSQL {POSTGRES_VERSION} on {}-{}, compiled by rustc (EpochDB {})",
        std::env::consts::ARCH,
        std::env::consts::OS,
        env!("CARGO_PKG_VERSION")
    )
}

/// Registers the database-independent functions on the base context.
pub(super) fn register(ctx: &SessionContext, static_tables: &PgCatalogStaticTables) {
    for name in [
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_any_column_privilege",
    ] {
        ctx.register_udf(has_privilege_udf::create_has_privilege_udf(name));
    }
    for udf in [
        pg::create_current_schema_udf(),
        pg::create_current_schemas_udf(),
        pg::create_pg_get_userbyid_udf(),
        pg::create_pg_table_is_visible(),
        format_type::create_format_type_udf(),
        pg::create_session_user_udf(),
        pg_get_expr_udf::create_pg_get_expr_udf(),
        pg::create_pg_get_partkeydef_udf(),
        pg::create_pg_relation_is_publishable_udf(),
        pg::create_pg_get_statisticsobjdef_columns_udf(),
        pg::create_pg_encoding_to_char_udf(),
        pg::create_pg_backend_pid_udf(),
        pg::create_pg_relation_size_udf(),
        pg::create_pg_total_relation_size_udf(),
        pg::create_pg_stat_get_numscans(),
        pg::create_pg_get_constraintdef(),
        pg::create_pg_get_partition_ancestors_udf(),
        quote_ident_udf::create_quote_ident_udf(),
        quote_ident_udf::create_parse_ident_udf(),
        array_bounds_udf::create_array_upper_udf(),
        array_bounds_udf::create_array_lower_udf(),
    ] {
        ctx.register_udf(udf);
    }
    ctx.register_udtf("pg_get_keywords", static_tables.pg_get_keywords.clone());

    let version = ScalarValue::Utf8(Some(version_string()));
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(version.clone()))),
    ));

    // EpochDB has no advisory locks, so a session never holds one to release.
    // Pool resets (asyncpg's) call this; like PostgreSQL's `void`, it renders
    // as an empty value.
    ctx.register_udf(create_udf(
        "pg_advisory_unlock_all",
        vec![],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(|_| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                Some(String::new()),
            )))
        }),
    ));
}

/// Registers the functions whose answer depends on the session's database.
pub(super) fn register_for_database(ctx: &SessionContext, database: &str) {
    ctx.register_udf(pg::create_current_database_udf(database));
}
