//! `INSERT INTO t VALUES (...)` without a column list, whose rows are
//! shorter than the table: PostgreSQL fills the columns left off at the end
//! with their defaults, DataFusion wants a value for every column. The
//! statement is given the list PostgreSQL reads into it: the table's first
//! columns, as many as the rows have.

use datafusion::execution::session_state::SessionState;
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, SetExpr, Statement, TableObject};

use crate::query::error::Result;

/// Names the columns of a short `INSERT ... VALUES`; leaves every other
/// statement as it is (an unknown table fails later, as it would anyway).
pub(crate) async fn name_short_values(
    state: &SessionState,
    statement: &mut Statement,
) -> Result<()> {
    let Statement::Insert(insert) = statement else {
        return Ok(());
    };
    let (TableObject::TableName(name), true) = (&insert.table, insert.columns.is_empty()) else {
        return Ok(());
    };
    let Some(SetExpr::Values(values)) = insert.source.as_ref().map(|s| s.body.as_ref()) else {
        return Ok(());
    };
    let Some(width) = values.rows.first().map(|row| row.len()) else {
        return Ok(());
    };
    let Ok(reference) = object_name_to_table_reference(name.clone(), true) else {
        return Ok(());
    };
    let Ok(schema) = state.schema_for_ref(reference.clone()) else {
        return Ok(());
    };
    let Some(table) = schema.table(reference.table()).await? else {
        return Ok(());
    };
    let fields = table.schema().fields().clone();
    if width >= fields.len() {
        return Ok(());
    }
    insert.columns = fields[..width]
        .iter()
        .map(|f| ObjectName::from(vec![Ident::with_quote('"', f.name())]))
        .collect();
    Ok(())
}
