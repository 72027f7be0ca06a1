//! The column of a set-returning function in FROM, named as PostgreSQL names
//! it. `FROM generate_series(1, 3) g` has one column, `g`, and without an
//! alias the column is named after the function; DataFusion calls it
//! `value` (and `unnest`'s after the whole call), so `SELECT g ...` did not
//! resolve. The statement is given the column alias PostgreSQL implies.
//! `WITH ORDINALITY`, which DataFusion would drop silently, is refused.

use std::ops::ControlFlow;

use crate::query::pg::dialect::PostgresDialect;
use datafusion::sql::sqlparser::ast::{
    Ident, Statement, TableAlias, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::parser::Parser;

use super::numeric;

use crate::query::error::{Error, Result};

/// The single-column set-returning functions whose column is named this way.
const SINGLE_COLUMN: &[&str] = &["generate_series", "unnest"];

/// Names the columns of `statement`'s set-returning functions in FROM.
pub(crate) fn rewrite(statement: &mut Statement) -> Result<()> {
    match statement.visit(&mut Namer) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Namer;

fn ordinality() -> Error {
    Error::Unsupported {
        what: "WITH ORDINALITY".into(),
    }
}

/// `alias` with its one column named: after the alias, or, with no alias,
/// both after the function.
fn name_column(alias: &mut Option<TableAlias>, function: &str) {
    match alias {
        Some(alias) if alias.columns.is_empty() => {
            let name = alias.name.clone();
            alias.columns.push(TableAliasColumnDef {
                name,
                data_type: None,
            });
        }
        Some(_) => {}
        None => {
            *alias = Some(TableAlias {
                explicit: true,
                name: Ident::new(function),
                columns: vec![TableAliasColumnDef::from_name(function)],
                at: None,
            });
        }
    }
}

/// A numeric `generate_series` in FROM as a derived table: the integer
/// series times its unit, under the call's alias.
fn numeric_series_table(
    whole: &[i64],
    unit: &str,
    alias: Option<TableAlias>,
) -> Option<TableFactor> {
    let [start, stop, step] = whole else {
        return None;
    };
    let sql = format!(
        "SELECT {}(s) * {unit} FROM generate_series({start}, {stop}, {step}) AS series(s)",
        numeric::NUMERIC_CAST
    );
    let subquery = Parser::new(&PostgresDialect::default())
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .ok()?;
    Some(TableFactor::Derived {
        lateral: false,
        subquery,
        alias,
        sample: None,
    })
}

impl VisitorMut for Namer {
    type Break = Error;

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Error> {
        match factor {
            TableFactor::Table {
                name,
                alias,
                args: Some(args),
                with_ordinality,
                ..
            } => {
                let function = match name.0.as_slice() {
                    [part] => part.as_ident().map(|i| i.value.to_ascii_lowercase()),
                    _ => None,
                };
                let Some(function) = function.filter(|f| SINGLE_COLUMN.contains(&f.as_str()))
                else {
                    return ControlFlow::Continue(());
                };
                if *with_ordinality {
                    return ControlFlow::Break(ordinality());
                }
                name_column(alias, &function);
                if function == "generate_series" {
                    match numeric::numeric_series(&args.args) {
                        Err(error) => return ControlFlow::Break(error),
                        Ok(Some((whole, unit))) => {
                            if let Some(derived) = numeric_series_table(&whole, &unit, alias.take())
                            {
                                *factor = derived;
                            }
                        }
                        Ok(None) => {}
                    }
                }
            }
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_ordinality,
                ..
            } => {
                if *with_ordinality {
                    return ControlFlow::Break(ordinality());
                }
                if array_exprs.len() == 1 {
                    name_column(alias, "unnest");
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}
