//! Statements prepared in SQL: `PREPARE name [(types)] AS statement`,
//! `EXECUTE name [(values)]` and `DEALLOCATE`. They live with the session;
//! the protocol layer keeps the ones prepared with Parse.

use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::sql::sqlparser::ast::{Expr, Statement};

use super::error::{Error, Result};
use super::output::Prepared;

/// A session's statements prepared with `PREPARE`, by name.
#[derive(Default)]
pub(super) struct NamedStatements {
    /// Each statement, and its parameters' types as `PREPARE` declared them.
    statements: HashMap<String, (Prepared, Vec<String>)>,
}

impl NamedStatements {
    pub(super) fn add(
        &mut self,
        name: &str,
        statement: Prepared,
        declared: Vec<String>,
    ) -> Result<()> {
        if self.statements.contains_key(name) {
            return Err(Error::PreparedExists {
                name: name.to_owned(),
            });
        }
        self.statements
            .insert(name.to_owned(), (statement, declared));
        Ok(())
    }

    pub(super) fn get(&self, name: &str) -> Option<(Prepared, Vec<String>)> {
        self.statements.get(name).cloned()
    }

    /// Drops `name`; `false` if there is no such statement here.
    pub(super) fn remove(&mut self, name: &str) -> bool {
        self.statements.remove(name).is_some()
    }

    pub(super) fn clear(&mut self) {
        self.statements.clear();
    }
}

/// Whether PostgreSQL lets `statement` be prepared: queries and the
/// statements that change rows.
pub(super) fn preparable(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Query(_) | Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
    )
}

/// The query that computes `EXECUTE`'s values, each cast to the type its
/// parameter has (`None`: left as written).
pub(super) fn parameter_query(values: &[Expr], types: &[Option<String>]) -> String {
    let columns: Vec<String> = values
        .iter()
        .zip(types)
        .map(|(value, sql_type)| match sql_type {
            Some(sql_type) => format!("CAST({value} AS {sql_type})"),
            None => value.to_string(),
        })
        .collect();
    format!("SELECT {}", columns.join(", "))
}

/// The parameter values from the one row of [`parameter_query`], each as
/// the Arrow type its parameter has (a SQL cast to `timestamptz` computes
/// nanoseconds; the statement's parameter holds microseconds).
pub(super) fn parameter_values(
    batches: &[RecordBatch],
    types: &[Option<DataType>],
) -> Result<ParamValues> {
    let row = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or(Error::ParameterValuesMissing)?;
    let values = (row.columns().iter().enumerate())
        .map(|(i, column)| {
            let value = ScalarValue::try_from_array(column, 0)?;
            match types.get(i) {
                Some(Some(data_type)) if *data_type != value.data_type() => {
                    value.cast_to(data_type)
                }
                _ => Ok(value),
            }
        })
        .collect::<datafusion::common::Result<Vec<_>>>()
        .map_err(|e| Error::Query(e.into()))?;
    Ok(ParamValues::from(values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::PostgresDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    #[test]
    fn parameter_values_are_cast_to_their_parameters_types() {
        let exprs: Vec<Expr> = ["41", "'x' || 'y'"]
            .iter()
            .map(|sql| {
                Parser::new(&PostgresDialect::default())
                    .try_with_sql(sql)
                    .and_then(|mut p| p.parse_expr())
                    .unwrap()
            })
            .collect();
        assert_eq!(
            parameter_query(&exprs, &[Some("INTEGER".to_owned()), None]),
            "SELECT CAST(41 AS INTEGER), 'x' || 'y'"
        );
    }
}
