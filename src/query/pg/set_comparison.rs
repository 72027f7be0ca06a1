//! Subquery comparisons planned so that DataFusion gives PostgreSQL's answer.
//!
//! - `x op ANY ('{a,b}')` and `ALL`, the array written as text: compared
//!   with each element (DataFusion would take the text for an array).
//! - `x op ANY (SELECT ...)` and `x op ALL (SELECT ...)`: DataFusion names
//!   the subquery's column as its table does, so in `x = ANY (SELECT x FROM
//!   q ...)` over `q` the comparison it builds reads the outer `x` on both
//!   sides and holds for every row. The subquery's column gets a name of its
//!   own. In a select list, where DataFusion cannot run them, they are
//!   refused (0A000) rather than answered wrongly.
//! - `x [NOT] IN (SELECT ...)` anywhere but as a whole condition of WHERE:
//!   DataFusion answers it with a join that knows no NULL (`NULL NOT IN
//!   (...)` under an OR holds), so it becomes `x = ANY (...)` (under NOT),
//!   which is PostgreSQL's definition of IN and keeps three-valued logic. A
//!   whole condition of WHERE that tests a column stays, where DataFusion's
//!   null-aware anti join answers it exactly.
//! - `[NOT] EXISTS (SELECT ... FROM f WHERE w)` in a select list, where
//!   DataFusion cannot run it: `(SELECT count(*) > 0 FROM f WHERE w)`, a
//!   scalar subquery DataFusion runs, correlated or not. A subquery whose
//!   rows are not simply those of its FROM and WHERE (with HAVING, DISTINCT,
//!   LIMIT, OFFSET or set operations, or no FROM) is counted whole, as
//!   `(SELECT count(*) > 0 FROM (subquery) AS s)`, which DataFusion runs
//!   when it is not correlated and refuses when it is.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, GroupByExpr, Ident, ObjectName, Query, Select, SelectItem, SetExpr,
    Statement, UnaryOperator, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use datafusion::sql::sqlparser::parser::Parser;

use super::array_in::ARRAY_OF;
use super::dialect::PostgresDialect;
use crate::pgtype;
use crate::query::error::{Error, Result};

/// The name a compared subquery's column takes.
const COLUMN: &str = "__epochdb_compared";

/// Rewrites the statement's subquery comparisons; see the module docs.
pub(crate) fn rewrite(statement: &mut Statement) -> Result<()> {
    let mut rewriter = Rewriter::default();
    match statement.visit(&mut rewriter) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(error) => Err(error),
    }
}

#[derive(Default)]
struct Rewriter {
    /// The `IN (subquery)` nodes that are whole conditions of a WHERE, by
    /// address: they are left as they are.
    whole_conditions: HashSet<usize>,
    /// The select-list expressions, by address.
    projections: HashSet<usize>,
    /// Per query being visited, how many select-list expressions the visit
    /// is inside.
    in_projection: Vec<usize>,
}

impl Rewriter {
    fn in_projection(&self) -> bool {
        self.in_projection.last().is_some_and(|n| *n > 0)
    }
}

fn address(expr: &Expr) -> usize {
    std::ptr::from_ref(expr) as usize
}

/// The conditions ANDed together in `expr`.
pub(crate) fn conjuncts<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}

impl VisitorMut for Rewriter {
    type Break = Error;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Error> {
        self.in_projection.push(0);
        if let SetExpr::Select(select) = query.body.as_ref()
            && let Some(selection) = &select.selection
        {
            let mut whole = Vec::new();
            conjuncts(selection, &mut whole);
            self.whole_conditions.extend(
                whole
                    .into_iter()
                    // Only a column is tested by the anti join as
                    // PostgreSQL would; a constant (`NULL NOT IN (...)`)
                    // DataFusion answers as if the subquery were empty.
                    .filter(|e| {
                        matches!(e, Expr::InSubquery { expr, .. }
                            if matches!(expr.as_ref(), Expr::Identifier(_) | Expr::CompoundIdentifier(_)))
                    })
                    .map(address),
            );
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<Error> {
        self.in_projection.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<Error> {
        for item in &select.projection {
            if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                self.projections.insert(address(expr));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Error> {
        if self.projections.contains(&address(expr))
            && let Some(depth) = self.in_projection.last_mut()
        {
            *depth += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Error> {
        let root = address(expr);
        let flow = self.compare(expr);
        if self.projections.contains(&root)
            && let Some(depth) = self.in_projection.last_mut()
        {
            *depth -= 1;
        }
        flow
    }
}

/// `EXISTS (subquery)` as a count of the subquery's rows (see the module
/// documentation).
fn exists_as_count(subquery: &Query) -> Option<Query> {
    let plain = match subquery.body.as_ref() {
        SetExpr::Select(select)
            if subquery.limit_clause.is_none()
                && subquery.fetch.is_none()
                && select.having.is_none()
                && select.distinct.is_none()
                && select.top.is_none()
                && select.qualify.is_none()
                && !select.from.is_empty() =>
        {
            Some(select)
        }
        _ => None,
    };
    let Some(select) = plain else {
        let whole = format!("SELECT count(*) > 0 FROM ({subquery}) AS __epochdb_exists");
        return Parser::new(&PostgresDialect::default())
            .try_with_sql(&whole)
            .and_then(|mut p| p.parse_query())
            .ok()
            .map(|q| *q);
    };
    let counted = Parser::new(&PostgresDialect::default())
        .try_with_sql("count(*) > 0")
        .and_then(|mut p| p.parse_expr())
        .ok()?;
    let mut select = select.clone();
    select.projection = vec![SelectItem::UnnamedExpr(counted)];
    // Grouped or not, there are rows exactly when the FROM and WHERE give some.
    select.group_by = GroupByExpr::Expressions(vec![], vec![]);
    select.named_window.clear();
    let mut counting = subquery.clone();
    counting.body = Box::new(SetExpr::Select(select));
    counting.order_by = None;
    Some(counting)
}

impl Rewriter {
    fn compare(&mut self, expr: &mut Expr) -> ControlFlow<Error> {
        match expr {
            Expr::Exists { subquery, negated } if self.in_projection() => {
                if let Some(counting) = exists_as_count(subquery) {
                    let count = Expr::Subquery(Box::new(counting));
                    *expr = if *negated {
                        Expr::UnaryOp {
                            op: UnaryOperator::Not,
                            expr: Box::new(count),
                        }
                    } else {
                        count
                    };
                }
            }
            Expr::AnyOp { left, right, .. } | Expr::AllOp { left, right, .. }
                if is_parameter(right) =>
            {
                let parameter = std::mem::replace(right.as_mut(), Expr::value(Value::Null));
                **right = array_parameter(parameter, left.as_ref().clone());
            }
            // The catalog parser's spelling of `x = ANY (array)`.
            Expr::Function(function) if is_array_contains(function) => {
                if let FunctionArguments::List(list) = &mut function.args
                    && let [
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(array)),
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(like)),
                    ] = list.args.as_mut_slice()
                    && is_parameter(array)
                {
                    let parameter = std::mem::replace(array, Expr::value(Value::Null));
                    *array = array_parameter(parameter, like.clone());
                }
            }
            Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } if is_array_text(right) => {
                if let Err(error) = compare_with_array_literal(expr) {
                    return ControlFlow::Break(error);
                }
            }
            Expr::AnyOp { right, .. } | Expr::AllOp { right, .. }
                if matches!(right.as_ref(), Expr::Subquery(_)) =>
            {
                if self.in_projection() {
                    return ControlFlow::Break(Error::Unsupported {
                        what: "ANY or ALL with a subquery in a select list".into(),
                    });
                }
                if let Expr::Subquery(query) = right.as_mut() {
                    name_column(query);
                }
            }
            Expr::InSubquery { .. } if !self.whole_conditions.contains(&address(expr)) => {
                let Expr::InSubquery {
                    expr: tested,
                    mut subquery,
                    negated,
                } = std::mem::replace(expr, Expr::Value(Value::Null.into()))
                else {
                    return ControlFlow::Continue(());
                };
                if self.in_projection() {
                    return ControlFlow::Break(Error::Unsupported {
                        what: "IN with a subquery in a select list".into(),
                    });
                }
                name_column(&mut subquery);
                let any = Expr::AnyOp {
                    left: tested,
                    compare_op: BinaryOperator::Eq,
                    right: Box::new(Expr::Subquery(subquery)),
                    is_some: false,
                };
                *expr = if negated {
                    Expr::UnaryOp {
                        op: UnaryOperator::Not,
                        expr: Box::new(Expr::Nested(Box::new(any))),
                    }
                } else {
                    any
                };
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Whether `expr` is a parameter `$n`, bare or cast to its declared type.
fn is_parameter(expr: &Expr) -> bool {
    match expr {
        Expr::Value(v) => matches!(v.value, Value::Placeholder(_)),
        Expr::Cast { expr, .. } => is_parameter(expr),
        _ => false,
    }
}

fn is_array_contains(function: &Function) -> bool {
    matches!(function.name.0.as_slice(), [part] if part.as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case("array_contains")))
}

/// Whether `expr` is a string literal: an array written as text.
fn is_array_text(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)))
}

/// The array parameter of `x op ANY ($n)` read as an array of `x`'s type,
/// by [`array_of`](super::array_in::array_of), which the planner calls for
/// [`ARRAY_OF`].
fn array_parameter(parameter: Expr, like: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(ARRAY_OF)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![
                FunctionArg::Unnamed(FunctionArgExpr::Expr(parameter)),
                FunctionArg::Unnamed(FunctionArgExpr::Expr(like)),
            ],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// `x op ANY ('{a,b}')` and `x op ALL ('{a,b}')`, whose array is written as
/// text, compared with each element in turn: `x IN ('a', 'b')` for `= ANY`,
/// `x NOT IN (...)` for `<> ALL`, and an OR (ANY) or AND (ALL) of the
/// comparisons otherwise. Each element is an untyped literal, as PostgreSQL
/// reads the array as one of `x`'s type. Over no elements, ANY is false and
/// ALL true.
fn compare_with_array_literal(expr: &mut Expr) -> Result<()> {
    let (left, op, right, all) = match std::mem::replace(expr, Expr::Value(Value::Null.into())) {
        Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        } => (left, compare_op, right, false),
        Expr::AllOp {
            left,
            compare_op,
            right,
        } => (left, compare_op, right, true),
        other => {
            *expr = other;
            return Ok(());
        }
    };
    let Expr::Value(ValueWithSpan {
        value: Value::SingleQuotedString(text),
        ..
    }) = *right
    else {
        return Ok(());
    };
    let elements: Vec<Expr> = pgtype::array_elements(&text)?
        .into_iter()
        .map(|element| {
            Expr::value(match element {
                Some(text) => Value::SingleQuotedString(text),
                None => Value::Null,
            })
        })
        .collect();
    *expr = match (&op, all) {
        _ if elements.is_empty() => Expr::value(Value::Boolean(all)),
        (BinaryOperator::Eq, false) | (BinaryOperator::NotEq, true) => Expr::InList {
            expr: left,
            list: elements,
            negated: all,
        },
        _ => {
            let join = if all {
                BinaryOperator::And
            } else {
                BinaryOperator::Or
            };
            let comparisons = elements.into_iter().map(|element| Expr::BinaryOp {
                left: left.clone(),
                op: op.clone(),
                right: Box::new(element),
            });
            let joined = comparisons
                .reduce(|a, b| Expr::BinaryOp {
                    left: Box::new(a),
                    op: join.clone(),
                    right: Box::new(b),
                })
                .unwrap_or(Expr::value(Value::Boolean(all)));
            Expr::Nested(Box::new(joined))
        }
    };
    Ok(())
}

/// Gives the single column of a compared subquery a name no outer column
/// has.
fn name_column(query: &mut Query) {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    if let [item] = select.projection.as_mut_slice() {
        let expr = match std::mem::replace(item, SelectItem::Wildcard(Default::default())) {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr,
            other => {
                *item = other;
                return;
            }
        };
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::new(COLUMN),
        };
    }
}

#[cfg(test)]
mod tests {
    use crate::query::pg::dialect::PostgresDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn rewritten(sql: &str) -> Result<String> {
        let mut statements = Parser::parse_sql(&PostgresDialect::default(), sql).unwrap();
        rewrite(&mut statements[0])?;
        Ok(statements[0].to_string())
    }

    #[test]
    fn compared_subqueries_name_their_column() {
        assert_eq!(
            rewritten("SELECT x FROM q WHERE x > ALL (SELECT x FROM q)").unwrap(),
            "SELECT x FROM q WHERE x > ALL(SELECT x AS __epochdb_compared FROM q)"
        );
    }

    #[test]
    fn in_under_or_becomes_any_and_a_whole_condition_stays() {
        assert_eq!(
            rewritten("SELECT x FROM q WHERE x NOT IN (SELECT y FROM r) OR k = 'a'").unwrap(),
            "SELECT x FROM q WHERE NOT (x = ANY(SELECT y AS __epochdb_compared FROM r)) OR k = 'a'"
        );
        let whole = "SELECT x FROM q WHERE k = 'a' AND x NOT IN (SELECT y FROM r)";
        assert_eq!(rewritten(whole).unwrap(), whole);
    }

    #[test]
    fn select_lists_are_refused() {
        assert!(rewritten("SELECT x = ANY (SELECT y FROM r) FROM q").is_err());
        assert!(rewritten("SELECT x IN (SELECT y FROM r) FROM q").is_err());
    }
}
