//! The rows of `INSERT ... SELECT ... FROM (VALUES ...)`, planned on their
//! own. DataFusion plans an `INSERT`'s source with the target's columns as
//! the type of every `VALUES` list in it, nested ones too, so a nested list
//! of another width fails ("Inconsistent data length across values list")
//! and one of the same width is cast to the wrong columns' types.
//! SQLAlchemy's multi-row inserts (`INSERT INTO t (a) SELECT p0 FROM
//! (VALUES (...), (...)) AS imp_sen(p0, sen_counter) ORDER BY sen_counter
//! RETURNING ...`) are of this form.
//!
//! Such a source is planned as the query it is, and the `INSERT` reads it
//! through a table function of the session that hands DataFusion that plan
//! as a view, which its plan builder inlines.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{Insert, Query, SetExpr};
use parking_lot::Mutex;

/// The table function's name.
pub(crate) const INSERT_SOURCE: &str = "__epochdb_insert_source";

/// Whether `insert`'s source must be planned on its own: a query (not a
/// plain `VALUES` list) with a `VALUES` list in it.
pub(crate) fn needs_own_plan(insert: &Insert) -> bool {
    let Some(source) = &insert.source else {
        return false;
    };
    !matches!(source.body.as_ref(), SetExpr::Values(_))
        && source.to_string().to_ascii_uppercase().contains("VALUES")
}

/// The query an `INSERT` reads through the table function.
pub(crate) fn reading_source() -> Option<Box<Query>> {
    let sql = format!("SELECT * FROM {INSERT_SOURCE}()");
    datafusion::sql::sqlparser::parser::Parser::new(
        &crate::query::pg::dialect::PostgresDialect::default(),
    )
    .try_with_sql(&sql)
    .and_then(|mut parser| parser.parse_query())
    .ok()
}

/// One session's planned source, while the `INSERT` that reads it is
/// planned.
#[derive(Debug, Default)]
pub(crate) struct InsertSource(Mutex<Option<LogicalPlan>>);

impl InsertSource {
    pub(crate) fn set(&self, plan: Option<LogicalPlan>) {
        *self.0.lock() = plan;
    }
}

impl TableFunctionImpl for InsertSource {
    fn call_with_args(&self, _args: TableFunctionArgs<'_, '_>) -> Result<Arc<dyn TableProvider>> {
        let plan = self.0.lock().clone().ok_or_else(|| {
            DataFusionError::Plan(format!("{INSERT_SOURCE} is not a function to call"))
        })?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
