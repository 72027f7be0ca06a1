//! The column of a set-returning function in FROM, named as PostgreSQL names
//! it. `FROM generate_series(1, 3) g` has one column, `g`, and without an
//! alias the column is named after the function; DataFusion calls it
//! `value` (and `unnest`'s after the whole call), so `SELECT g ...` did not
//! resolve. The statement is given the column alias PostgreSQL implies.
//! `WITH ORDINALITY`, which DataFusion would drop silently, is refused.

use std::ops::ControlFlow;

use crate::query::pg::dialect::PostgresDialect;
use datafusion::sql::sqlparser::ast::{
    DataType, Expr, FunctionArg, FunctionArgExpr, Ident, Statement, TableAlias,
    TableAliasColumnDef, TableFactor, UnaryOperator, Value, VisitMut, VisitorMut,
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
    derived_table(&sql, alias)
}

/// The query `sql` as a table under `alias`.
fn derived_table(sql: &str, alias: Option<TableAlias>) -> Option<TableFactor> {
    let subquery = Parser::new(&PostgresDialect::default())
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_query())
        .ok()?;
    Some(TableFactor::Derived {
        lateral: false,
        subquery,
        alias,
        sample: None,
    })
}

/// Whether a `generate_series` of `args` is PostgreSQL's `integer` form:
/// two or three arguments, each an integer literal that fits an `integer`
/// or a cast to `integer` or `smallint`. DataFusion's series is of
/// `bigint`s, which drivers hand applications otherwise (node-postgres as
/// strings).
pub(crate) fn int4_series(args: &[FunctionArg]) -> bool {
    fn int4(expr: &Expr) -> bool {
        match expr {
            Expr::Value(v) => match &v.value {
                Value::Number(text, _) => text.parse::<i32>().is_ok(),
                _ => false,
            },
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => match expr.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Number(text, _) => format!("-{text}").parse::<i32>().is_ok(),
                    _ => false,
                },
                _ => false,
            },
            Expr::Nested(inner) => int4(inner),
            Expr::Cast { data_type, .. } => matches!(
                data_type,
                DataType::Int(None)
                    | DataType::Integer(None)
                    | DataType::Int4(None)
                    | DataType::SmallInt(None)
                    | DataType::Int2(None)
            ),
            _ => false,
        }
    }
    matches!(args.len(), 2 | 3)
        && args
            .iter()
            .all(|arg| matches!(arg, FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if int4(e)))
}

/// An `integer` `generate_series` in FROM as a derived table over
/// DataFusion's, its values cast back, under the call's alias.
fn int4_series_table(args: &[FunctionArg], alias: Option<TableAlias>) -> Option<TableFactor> {
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    let sql = format!(
        "SELECT CAST(s AS INTEGER) FROM generate_series({}) AS series(s)",
        args.join(", ")
    );
    derived_table(&sql, alias)
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
                        Ok(None) if int4_series(&args.args) => {
                            if let Some(derived) = int4_series_table(&args.args, alias.take()) {
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
