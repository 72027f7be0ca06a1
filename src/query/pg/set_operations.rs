//! `INTERSECT ALL` and `EXCEPT ALL` with PostgreSQL's multiplicities: a
//! row that appears m times on the left and n times on the right appears
//! min(m, n) times in the intersection and max(m - n, 0) times in the
//! difference. DataFusion answers them with a semi or anti join, which
//! keeps every left copy of a matched row (or none), so the statement is
//! rewritten before planning: each side's rows are numbered within their
//! group of equal rows, and the numbered rows go through the plain
//! (distinct) operation, whose answer, without the numbers, is the one
//! PostgreSQL gives. The sides' columns are counted from the statement;
//! when a side's columns cannot be (a `*`), the operation is refused
//! (0A000) rather than answered otherwise.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Query, SelectItem, SetExpr, SetOperator, SetQuantifier, Statement, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::parser::Parser;

use super::dialect::PostgresDialect;
use crate::query::error::{Error, Result};

/// Rewrites every `INTERSECT ALL` and `EXCEPT ALL` of `statement`.
pub(crate) fn rewrite(statement: &mut Statement) -> Result<()> {
    match statement.visit(&mut Rewriter) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = Error;

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<Error> {
        match rewrite_set_expr(&mut query.body) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }
}

/// The names of the columns `body` returns, as far as the statement says
/// them (`None` for one it does not name); `None` when their number is not
/// known from the text.
fn column_names(body: &SetExpr) -> Option<Vec<Option<String>>> {
    match body {
        SetExpr::Select(select) => select
            .projection
            .iter()
            .map(|item| match item {
                SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some(Some(ident.value.clone())),
                SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                    Some(parts.last().map(|p| p.value.clone()))
                }
                SelectItem::UnnamedExpr(_) => Some(None),
                SelectItem::ExprWithAlias { alias, .. } => Some(Some(alias.value.clone())),
                _ => None,
            })
            .collect(),
        SetExpr::SetOperation { left, .. } => column_names(left),
        SetExpr::Query(query) => column_names(&query.body),
        SetExpr::Values(values) => values.rows.first().map(|row| vec![None; row.len()]),
        _ => None,
    }
}

fn rewrite_set_expr(body: &mut SetExpr) -> Result<()> {
    if let SetExpr::SetOperation { left, right, .. } = body {
        rewrite_set_expr(left)?;
        rewrite_set_expr(right)?;
    }
    let SetExpr::SetOperation {
        op: op @ (SetOperator::Intersect | SetOperator::Except),
        set_quantifier: SetQuantifier::All,
        left,
        right,
    } = body
    else {
        return Ok(());
    };
    let refused = || Error::Unsupported {
        what: "INTERSECT ALL or EXCEPT ALL of a query whose columns are given by *".into(),
    };
    let names = column_names(left).ok_or_else(refused)?;
    if column_names(right).map(|r| r.len()) != Some(names.len()) {
        // Let the planner report sides of different widths, or refuse `*`.
        if column_names(right).is_none() {
            return Err(refused());
        }
        return Ok(());
    }
    let columns: Vec<String> = (1..=names.len())
        .map(|i| format!("__epochdb_c{i}"))
        .collect();
    let list = columns.join(", ");
    let numbered = |side: &SetExpr, alias: &str| {
        format!(
            "SELECT {list}, row_number() OVER (PARTITION BY {list}) AS __epochdb_n \
             FROM ({side}) AS {alias}({list})"
        )
    };
    let keyword = if *op == SetOperator::Intersect {
        "INTERSECT"
    } else {
        "EXCEPT"
    };
    // The result's columns under the left side's names, so that a query
    // around this one reads them as it would have.
    let outputs: Vec<String> = columns
        .iter()
        .zip(&names)
        .map(|(column, name)| match name {
            Some(name) => format!("{column} AS \"{}\"", name.replace('"', "\"\"")),
            None => column.clone(),
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM ({} {keyword} {}) AS __epochdb_set",
        outputs.join(", "),
        numbered(left, "__epochdb_l"),
        numbered(right, "__epochdb_r"),
    );
    let query = Parser::new(&PostgresDialect::default())
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|_| refused())?;
    *body = SetExpr::Query(query);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::pg::rewritten_by;

    #[test]
    fn all_forms_number_their_rows() {
        let sql = rewritten_by("SELECT x FROM a INTERSECT ALL SELECT y FROM b", |s| {
            rewrite(s).unwrap();
        });
        assert!(
            sql.contains("row_number() OVER (PARTITION BY __epochdb_c1)"),
            "{sql}"
        );
        assert!(sql.contains("INTERSECT SELECT"), "{sql}");
        assert!(sql.starts_with("(SELECT __epochdb_c1 AS \"x\""), "{sql}");
    }

    #[test]
    fn other_set_operations_stay() {
        let sql = "SELECT x FROM a UNION ALL SELECT y FROM b";
        assert_eq!(rewritten_by(sql, |s| rewrite(s).unwrap()), sql);
        let sql = "SELECT x FROM a INTERSECT SELECT y FROM b";
        assert_eq!(rewritten_by(sql, |s| rewrite(s).unwrap()), sql);
    }

    #[test]
    fn a_star_is_refused() {
        let mut statements = Parser::parse_sql(
            &PostgresDialect::default(),
            "SELECT * FROM a EXCEPT ALL SELECT y FROM b",
        )
        .unwrap();
        assert!(rewrite(&mut statements[0]).is_err());
    }
}
