//! The analyzer rule that turns a LEFT JOIN carrying the marker into an
//! [`AsofJoin`] node.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Extension, Join, JoinType, LogicalPlan, Operator,
};
use datafusion::optimizer::AnalyzerRule;

use super::functions::{Direction, MARKER, unsupported};
use super::node::AsofJoin;

// The analyzer rule.

/// Turns the LEFT JOINs that [`rewrite_joins`](super::ast::rewrite_joins) made into [`AsofJoin`]s.
#[derive(Debug, Default)]
pub(crate) struct AsofRule;

impl AnalyzerRule for AsofRule {
    fn name(&self) -> &str {
        "epochdb_asof_join"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Join(join) if has_marker(&join) => asof_join(join).map(Transformed::yes),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }
}

pub(super) fn is_marker(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.func.name() == MARKER)
}

pub(super) fn has_marker(join: &Join) -> bool {
    join.filter
        .as_ref()
        .is_some_and(|f| split_conjunction(f).into_iter().any(is_marker))
}

pub(super) fn asof_join(join: Join) -> Result<LogicalPlan> {
    if join.join_type != JoinType::Left {
        return internal_err!("an ASOF join must be a left join");
    }
    let (left_schema, right_schema) = (join.left.schema(), join.right.schema());
    // Which side an expression reads: Some(true) left, Some(false) right.
    let side = |e: &Expr| -> Option<bool> {
        let columns = e.column_refs();
        if columns.is_empty() {
            return None;
        }
        if columns.iter().all(|c| left_schema.has_column(c)) {
            Some(true)
        } else if columns.iter().all(|c| right_schema.has_column(c)) {
            Some(false)
        } else {
            None
        }
    };
    let mut keys: Vec<(Expr, Expr)> = join
        .on
        .iter()
        .map(|(l, r)| (l.clone(), r.clone()))
        .collect();
    let mut matched = None;
    let filter = join
        .filter
        .clone()
        .unwrap_or_else(|| Expr::Literal(ScalarValue::Boolean(Some(true)), None));
    for conjunct in split_conjunction(&filter) {
        match conjunct {
            Expr::ScalarFunction(f) if is_marker(conjunct) => {
                let (first, second) = (&f.args[0], &f.args[1]);
                let op = match f.args.get(2) {
                    Some(Expr::Literal(ScalarValue::Utf8(Some(op)), _)) => match op.as_str() {
                        ">=" => Operator::GtEq,
                        ">" => Operator::Gt,
                        "<=" => Operator::LtEq,
                        _ => Operator::Lt,
                    },
                    _ => return internal_err!("{MARKER} without its operator"),
                };
                let (left_time, right_time, op) = match (side(first), side(second)) {
                    (Some(true), Some(false)) => (first, second, op),
                    (Some(false), Some(true)) => match op.swap() {
                        Some(op) => (second, first, op),
                        None => return internal_err!("{MARKER}: {op} has no mirror"),
                    },
                    _ => {
                        return Err(unsupported(
                            "an ASOF JOIN MATCH_CONDITION that does not compare a left time \
                             with a right time",
                        ));
                    }
                };
                let direction = Direction::of(op)
                    .ok_or_else(|| unsupported("that MATCH_CONDITION operator"))?;
                matched = Some((
                    left_time.clone(),
                    right_time.clone(),
                    direction,
                    f.args.get(3).cloned(),
                ));
            }
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => match (side(left), side(right)) {
                (Some(true), Some(false)) => {
                    keys.push((left.as_ref().clone(), right.as_ref().clone()))
                }
                (Some(false), Some(true)) => {
                    keys.push((right.as_ref().clone(), left.as_ref().clone()))
                }
                _ => {
                    return Err(unsupported(format!(
                        "`{conjunct}` in an ASOF JOIN's ON, which takes equalities of a left and \
                         a right expression"
                    )));
                }
            },
            Expr::Literal(ScalarValue::Boolean(Some(true)), _) => {}
            other => {
                return Err(unsupported(format!(
                    "`{other}` in an ASOF JOIN's ON, which takes equalities of a left and a \
                     right expression"
                )));
            }
        }
    }
    let Some((left_time, right_time, direction, tolerance)) = matched else {
        return internal_err!("an ASOF join without its match condition");
    };
    let node = AsofJoin {
        left: join.left,
        right: join.right,
        keys,
        left_time,
        right_time,
        direction,
        tolerance,
        schema: join.schema,
    };
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    }))
}
