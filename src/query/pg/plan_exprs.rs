//! The walk the analyzer rules of `pg` share: every expression of every
//! node of a plan (and of its subqueries), rewritten bottom up with the
//! schema its columns come from, the node's output names kept.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// Rewrites `plan`'s expressions by `rewrite(expr, schema, in_values)`,
/// where `schema` holds the columns the expression reads (its node's
/// input's, a join's own, both sides') and `in_values` says it is a row of
/// VALUES, which reads none. `node` first rewrites each node itself.
pub(crate) fn rewrite_expressions(
    plan: LogicalPlan,
    mut node: impl FnMut(LogicalPlan) -> Result<LogicalPlan>,
    mut rewrite: impl FnMut(Expr, &DFSchema, bool) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|plan| {
        let inputs = plan.inputs();
        let schema = match inputs.as_slice() {
            [] => Arc::new(DFSchema::empty()),
            [input] => input.schema().clone(),
            _ => plan.schema().clone(),
        };
        let plan = node(plan)?;
        let in_values = matches!(plan, LogicalPlan::Values(_));
        let names = NamePreserver::new(&plan);
        plan.map_expressions(|expr| {
            let name = names.save(&expr);
            Ok(expr
                .transform_up(|e| rewrite(e, &schema, in_values))?
                .update_data(|e| name.restore(e)))
        })
    })
    .map(|t| t.data)
}

/// Like [`rewrite_expressions`], for rewrites that change types: every
/// node from the first one rewritten up to the root is typed again.
pub(crate) fn retype_expressions(
    plan: LogicalPlan,
    mut rewrite: impl FnMut(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    let mut changed = false;
    plan.transform_up_with_subqueries(|plan| {
        let inputs = plan.inputs();
        let schema = match inputs.as_slice() {
            [] => Arc::new(DFSchema::empty()),
            [input] => input.schema().clone(),
            _ => plan.schema().clone(),
        };
        let names = NamePreserver::new(&plan);
        let node = plan.map_expressions(|expr| {
            let name = names.save(&expr);
            Ok(expr
                .transform_up(|e| rewrite(e, &schema))?
                .update_data(|e| name.restore(e)))
        })?;
        let retype = changed;
        changed |= node.transformed;
        if retype || node.transformed {
            node.map_data(LogicalPlan::recompute_schema)
        } else {
            Ok(node)
        }
    })
    .map(|t| t.data)
}
