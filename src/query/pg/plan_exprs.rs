//! The walks the `pg` rewrites share: every expression of every node of a
//! plan (and of its subqueries), rewritten bottom up with the schema its
//! columns come from, the node's output names kept.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DFSchemaRef, Result};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan, Operator, Union, Values};

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
        let schema = input_schema(&plan);
        let plan = node(plan)?;
        let in_values = matches!(plan, LogicalPlan::Values(_));
        rewrite_node(plan, |e| rewrite(e, &schema, in_values))
    })
    .map(|t| t.data)
}

/// For rewrites that change types: `plan` with each node rewritten by
/// `node` bottom up, and every node from the first one rewritten up to the
/// root typed again.
pub(crate) fn retype_nodes(
    plan: LogicalPlan,
    mut node: impl FnMut(LogicalPlan) -> Result<Transformed<LogicalPlan>>,
) -> Result<LogicalPlan> {
    let mut changed = false;
    plan.transform_up_with_subqueries(|plan| {
        let node = node(plan)?;
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

/// The columns `plan`'s expressions read: its input's, or for a node of
/// several inputs (a join), its own.
pub(crate) fn input_schema(plan: &LogicalPlan) -> DFSchemaRef {
    match plan.inputs().as_slice() {
        [] => Arc::new(DFSchema::empty()),
        [input] => input.schema().clone(),
        _ => plan.schema().clone(),
    }
}

/// Whether `op` compares its operands (`=`, `<`, `IS DISTINCT FROM`, ...).
pub(crate) fn is_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

/// `plan` with each of its expressions rewritten bottom up by `rewrite`,
/// under the names they had.
pub(crate) fn rewrite_node(
    plan: LogicalPlan,
    mut rewrite: impl FnMut(Expr) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let names = NamePreserver::new(&plan);
    plan.map_expressions(|expr| {
        let name = names.save(&expr);
        Ok(expr
            .transform_up(&mut rewrite)?
            .update_data(|e| name.restore(e)))
    })
}

/// `values` with the fields of `columns` typed `data_type` (its rows
/// already hold values of that type there).
pub(crate) fn retype_values_columns(
    values: Values,
    columns: &[usize],
    data_type: &DataType,
) -> Result<LogicalPlan> {
    let Values { schema, values } = values;
    let fields = schema
        .iter()
        .enumerate()
        .map(|(c, (qualifier, field))| {
            let field = if columns.contains(&c) {
                Arc::new(field.as_ref().clone().with_data_type(data_type.clone()))
            } else {
                field.clone()
            };
            (qualifier.cloned(), field)
        })
        .collect();
    let schema = DFSchema::new_with_metadata(fields, schema.metadata().clone())?;
    Ok(LogicalPlan::Values(Values {
        schema: Arc::new(schema),
        values,
    }))
}

/// `union` with its schema typed again from its inputs (type coercion then
/// widens it to what the other inputs need).
pub(crate) fn retype_union(union: Union) -> Result<Transformed<LogicalPlan>> {
    let retyped = Union::try_new_with_loose_types(union.inputs.clone())?;
    Ok(if retyped.schema == union.schema {
        Transformed::no(LogicalPlan::Union(union))
    } else {
        Transformed::yes(LogicalPlan::Union(retyped))
    })
}
