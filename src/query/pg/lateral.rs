//! `LATERAL` subqueries with `ORDER BY ... LIMIT n`, the "top n per row"
//! form (TimescaleDB's last point per series is one), which DataFusion
//! cannot decorrelate: its physical planner refuses the outer reference.
//!
//! When the subquery is correlated only by equalities between its own
//! columns and the outer row's (`c.host = h.host`), it is the rows of the
//! subquery's table numbered within each key by the subquery's order, the
//! first n of each joined to the outer row by the key:
//!
//! ```sql
//! ... JOIN LATERAL (SELECT v FROM t WHERE t.k = o.k AND p ORDER BY time DESC LIMIT 1) l ON true
//! ... JOIN (SELECT v, t.k AS __epochdb_lateral_key1,
//!                  row_number() OVER (PARTITION BY t.k ORDER BY time DESC) AS __epochdb_lateral_rn
//!           FROM t WHERE p) l
//!        ON l.__epochdb_lateral_key1 = o.k AND l.__epochdb_lateral_rn <= 1
//! ```
//!
//! `LEFT JOIN LATERAL ... ON true` keeps its outer rows the same way. The
//! added columns, named `__epochdb_lateral_...`, are dropped from the
//! statement's result by [`hide_helper_columns`] when a `*` expands them.
//! Any other shape (an aggregate or `DISTINCT` in the subquery, outer
//! references beyond the equalities, a `DISTINCT *` outside) is left as it
//! is, for DataFusion to plan or refuse.

use std::collections::HashSet;
use std::ops::ControlFlow;

use crate::query::pg::dialect::PostgresDialect;
use datafusion::common::Result;
use datafusion::logical_expr::{Expr as PlanExpr, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Distinct, Expr, GroupByExpr, Join, JoinConstraint, JoinOperator, LimitClause,
    OrderByKind, Query, Select, SelectItem, SetExpr, Statement, TableFactor, Value, VisitMut,
    VisitorMut, visit_expressions,
};
use datafusion::sql::sqlparser::parser::Parser;

use super::set_comparison::conjuncts;

/// The prefix of the columns the rewrite adds.
const HELPER_PREFIX: &str = "__epochdb_lateral_";

/// Aggregates a subquery's select list may call; such a subquery returns
/// one row per group, which numbering its table's rows would not.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "mean",
    "first",
    "last",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "median",
    "mode",
    "percentile_cont",
    "percentile_disc",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "bit_and",
    "bit_or",
    "corr",
    "covar_pop",
    "covar_samp",
];

/// Decorrelates the `LATERAL` subqueries of `statement` that have the
/// shape above.
pub(crate) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Decorrelator);
}

struct Decorrelator;

impl VisitorMut for Decorrelator {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            rewrite_select(select);
        }
        ControlFlow::Continue(())
    }
}

/// The name a FROM item is referred to by, as it would be folded.
fn relation_name(factor: &TableFactor) -> Option<String> {
    let fold = |i: &datafusion::sql::sqlparser::ast::Ident| {
        if i.quote_style.is_some() {
            i.value.clone()
        } else {
            i.value.to_lowercase()
        }
    };
    match factor {
        TableFactor::Table { alias: Some(a), .. }
        | TableFactor::Derived { alias: Some(a), .. }
        | TableFactor::Function { alias: Some(a), .. }
        | TableFactor::UNNEST { alias: Some(a), .. } => Some(fold(&a.name)),
        TableFactor::Table { name, .. } => name.0.last().and_then(|p| p.as_ident()).map(fold),
        _ => None,
    }
}

fn rewrite_select(select: &mut Select) {
    let projection = select.projection.clone();
    let distinct = select.distinct.is_some();
    for from in &mut select.from {
        let mut outer: Vec<String> = relation_name(&from.relation).into_iter().collect();
        for join in &mut from.joins {
            if let Some((relation, operator)) = decorrelate(&outer, join, &projection, distinct) {
                join.relation = relation;
                join.join_operator = operator;
            }
            outer.extend(relation_name(&join.relation));
        }
    }
    // The comma form `FROM a, LATERAL (...) l`, as `a JOIN LATERAL (...) l`.
    if select.from.len() == 2 && select.from[1].joins.is_empty() {
        let mut outer: Vec<String> = relation_name(&select.from[0].relation)
            .into_iter()
            .collect();
        outer.extend(
            select.from[0]
                .joins
                .iter()
                .filter_map(|j| relation_name(&j.relation)),
        );
        let join = Join {
            relation: select.from[1].relation.clone(),
            global: false,
            join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
        };
        if let Some((relation, join_operator)) = decorrelate(&outer, &join, &projection, distinct) {
            select.from.pop();
            select.from[0].joins.push(Join {
                relation,
                global: false,
                join_operator,
            });
        }
    }
}

/// Whether `expr` is the literal `true`.
fn is_true(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if v.value == Value::Boolean(true))
}

/// Whether `expr` names a column qualified by one of `outer`.
fn refers_to(expr: &Expr, outer: &HashSet<String>) -> bool {
    visit_expressions(expr, |e| match e {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let first = &parts[0];
            let name = if first.quote_style.is_some() {
                first.value.clone()
            } else {
                first.value.to_lowercase()
            };
            if outer.contains(&name) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// The join that replaces `join`, if it is a lateral subquery of the shape
/// in the module documentation.
fn decorrelate(
    outer_names: &[String],
    join: &Join,
    outer_projection: &[SelectItem],
    outer_distinct: bool,
) -> Option<(TableFactor, JoinOperator)> {
    let TableFactor::Derived {
        lateral: true,
        subquery,
        alias: Some(alias),
        sample: None,
    } = &join.relation
    else {
        return None;
    };
    if !alias.columns.is_empty() {
        return None;
    }
    let alias_name = relation_name(&join.relation)?;
    let left = match &join.join_operator {
        JoinOperator::CrossJoin(JoinConstraint::None) => false,
        JoinOperator::Join(JoinConstraint::On(on))
        | JoinOperator::Inner(JoinConstraint::On(on))
            if is_true(on) =>
        {
            false
        }
        JoinOperator::Left(JoinConstraint::On(on))
        | JoinOperator::LeftOuter(JoinConstraint::On(on))
            if is_true(on) =>
        {
            true
        }
        _ => return None,
    };
    // A `*` outside that would expand the helper columns is fine (they are
    // dropped from the result) unless DISTINCT compares them.
    let expands = outer_projection.iter().any(|item| match item {
        SelectItem::Wildcard(_) => true,
        SelectItem::QualifiedWildcard(kind, _) => kind.to_string().to_lowercase() == alias_name,
        _ => false,
    });
    if expands && outer_distinct {
        return None;
    }
    let Query {
        with: None,
        body,
        order_by,
        limit_clause:
            Some(LimitClause::LimitOffset {
                limit: Some(limit),
                offset,
                limit_by,
            }),
        fetch: None,
        locks,
        for_clause: None,
        ..
    } = subquery.as_ref()
    else {
        return None;
    };
    if !limit_by.is_empty() || !locks.is_empty() {
        return None;
    }
    let count = literal_count(limit)?;
    let skip = match offset {
        None => 0,
        Some(offset) => literal_count(&offset.value)?,
    };
    let SetExpr::Select(inner) = body.as_ref() else {
        return None;
    };
    let plain = inner.distinct.is_none()
        && inner.top.is_none()
        && inner.having.is_none()
        && inner.qualify.is_none()
        && inner.named_window.is_empty()
        && inner.into.is_none()
        && matches!(&inner.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty())
        && !inner.from.is_empty();
    if !plain
        || inner
            .distinct
            .as_ref()
            .is_some_and(|d| matches!(d, Distinct::On(_)))
    {
        return None;
    }
    // The names the subquery's own FROM items go by must not be the outer
    // ones: a qualified name would be ambiguous.
    let inner_names: HashSet<String> = inner
        .from
        .iter()
        .flat_map(|f| {
            std::iter::once(&f.relation)
                .chain(f.joins.iter().map(|j| &j.relation))
                .filter_map(relation_name)
        })
        .collect();
    let outer: HashSet<String> = outer_names.iter().cloned().collect();
    if outer.iter().any(|n| inner_names.contains(n)) {
        return None;
    }
    // No aggregate, window, or outer reference in the select list.
    for item in &inner.projection {
        let expr = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => continue,
            _ => return None,
        };
        let aggregate =
            visit_expressions(expr, |e| match e {
                Expr::Function(f)
                    if f.over.is_some()
                        || f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
                            AGGREGATES.contains(&i.value.to_lowercase().as_str())
                        }) =>
                {
                    ControlFlow::Break(())
                }
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            })
            .is_break();
        if aggregate || refers_to(expr, &outer) {
            return None;
        }
    }
    // The WHERE: equalities with the outer row, and the rest.
    let mut parts = Vec::new();
    if let Some(selection) = &inner.selection {
        conjuncts(selection, &mut parts);
    }
    let parts: Vec<Expr> = parts.into_iter().cloned().collect();
    let mut keys = Vec::new();
    let mut rest = Vec::new();
    for part in parts {
        if !refers_to(&part, &outer) {
            rest.push(part);
            continue;
        }
        let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = part
        else {
            return None;
        };
        match (refers_to(&left, &outer), refers_to(&right, &outer)) {
            (false, true) => keys.push((*left, *right)),
            (true, false) => keys.push((*right, *left)),
            _ => return None,
        }
    }
    if keys.is_empty() {
        return None;
    }
    // The order, with select-list aliases replaced by what they name.
    let mut order = Vec::new();
    if let Some(order_by) = order_by {
        let OrderByKind::Expressions(items) = &order_by.kind else {
            return None;
        };
        if order_by.interpolate.is_some() {
            return None;
        }
        for item in items {
            if refers_to(&item.expr, &outer)
                || matches!(&item.expr, Expr::Value(v) if matches!(v.value, Value::Number(..)))
            {
                return None;
            }
            let mut item = item.clone();
            if let Expr::Identifier(ident) = &item.expr
                && let Some(named) = inner.projection.iter().find_map(|p| match p {
                    SelectItem::ExprWithAlias { expr, alias } if alias.value == ident.value => {
                        Some(expr.clone())
                    }
                    _ => None,
                })
            {
                item.expr = named;
            }
            order.push(item.to_string());
        }
    }
    let projection: Vec<String> = inner.projection.iter().map(ToString::to_string).collect();
    let inner_keys: Vec<String> = keys.iter().map(|(inner, _)| inner.to_string()).collect();
    let mut columns = projection;
    for (i, key) in inner_keys.iter().enumerate() {
        columns.push(format!("{key} AS {HELPER_PREFIX}key{}", i + 1));
    }
    let order_clause = if order.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", order.join(", "))
    };
    columns.push(format!(
        "row_number() OVER (PARTITION BY {}{order_clause}) AS {HELPER_PREFIX}rn",
        inner_keys.join(", ")
    ));
    let from: Vec<String> = inner.from.iter().map(ToString::to_string).collect();
    let mut sql = format!("SELECT {} FROM {}", columns.join(", "), from.join(", "));
    if !rest.is_empty() {
        let rest: Vec<String> = rest.iter().map(|e| format!("({e})")).collect();
        sql.push_str(&format!(" WHERE {}", rest.join(" AND ")));
    }
    let new_query = Parser::new(&PostgresDialect::default())
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .ok()?;
    let quoted_alias = alias.name.to_string();
    let mut condition: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, (_, outer))| format!("{quoted_alias}.{HELPER_PREFIX}key{} = {outer}", i + 1))
        .collect();
    condition.push(format!("{quoted_alias}.{HELPER_PREFIX}rn > {skip}"));
    condition.push(format!(
        "{quoted_alias}.{HELPER_PREFIX}rn <= {}",
        skip.checked_add(count)?
    ));
    let on = Parser::new(&PostgresDialect::default())
        .try_with_sql(&condition.join(" AND "))
        .and_then(|mut p| p.parse_expr())
        .ok()?;
    let relation = TableFactor::Derived {
        lateral: false,
        subquery: new_query,
        alias: Some(alias.clone()),
        sample: None,
    };
    let operator = if left {
        JoinOperator::LeftOuter(JoinConstraint::On(on))
    } else {
        JoinOperator::Inner(JoinConstraint::On(on))
    };
    Some((relation, operator))
}

/// A non-negative integer literal.
fn literal_count(expr: &Expr) -> Option<u64> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// `plan` without the output columns [`rewrite`] added, where a `*`
/// brought them into the result.
pub(crate) fn hide_helper_columns(plan: LogicalPlan) -> Result<LogicalPlan> {
    let helpers = plan
        .schema()
        .fields()
        .iter()
        .any(|f| f.name().starts_with(HELPER_PREFIX));
    if !helpers || matches!(plan, LogicalPlan::Dml(_)) {
        return Ok(plan);
    }
    let keep: Vec<PlanExpr> = plan
        .schema()
        .iter()
        .filter(|(_, f)| !f.name().starts_with(HELPER_PREFIX))
        .map(|(qualifier, field)| {
            PlanExpr::Column(datafusion::common::Column::from((qualifier, field)))
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(keep)?.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        super::super::rewritten_by(sql, rewrite)
    }

    #[test]
    fn top_n_per_row_becomes_a_numbered_join() {
        let sql = rewritten(
            "SELECT h.host, l.v FROM hosts h CROSS JOIN LATERAL \
             (SELECT v FROM t WHERE t.host = h.host AND v > 0 ORDER BY time DESC LIMIT 2) l",
        );
        assert_eq!(
            sql,
            "SELECT h.host, l.v FROM hosts h INNER JOIN (SELECT v, t.host AS __epochdb_lateral_key1, \
             row_number() OVER (PARTITION BY t.host ORDER BY time DESC) AS __epochdb_lateral_rn \
             FROM t WHERE (v > 0)) l ON l.__epochdb_lateral_key1 = h.host AND \
             l.__epochdb_lateral_rn > 0 AND l.__epochdb_lateral_rn <= 2"
        );
    }

    #[test]
    fn other_shapes_are_left_alone() {
        for sql in [
            // An aggregate returns one row per outer row.
            "SELECT * FROM h, LATERAL (SELECT max(v) FROM t WHERE t.k = h.k LIMIT 1) l",
            // A correlation that is not an equality.
            "SELECT * FROM h, LATERAL (SELECT v FROM t WHERE t.k > h.k LIMIT 1) l",
            // No correlation at all.
            "SELECT * FROM h, LATERAL (SELECT v FROM t LIMIT 1) l",
            // DISTINCT over the helper columns.
            "SELECT DISTINCT * FROM h JOIN LATERAL (SELECT v FROM t WHERE t.k = h.k LIMIT 1) l ON true",
        ] {
            let before = super::super::rewritten_by(sql, |_| {});
            assert_eq!(rewritten(sql), before, "{sql}");
        }
    }
}
