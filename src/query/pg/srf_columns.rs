//! The column of a set-returning function in FROM, named as PostgreSQL names
//! it. `FROM generate_series(1, 3) g` has one column, `g`, and without an
//! alias the column is named after the function; DataFusion calls it
//! `value` (and `unnest`'s after the whole call), so `SELECT g ...` did not
//! resolve. The statement is given the column alias PostgreSQL implies.
//! `WITH ORDINALITY`, which DataFusion would drop silently, is refused.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Ident, Statement, TableAlias, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut,
};

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

impl VisitorMut for Namer {
    type Break = Error;

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Error> {
        match factor {
            TableFactor::Table {
                name,
                alias,
                args: Some(_),
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
