//! IN lists kept away from DataFusion's set algebra on them.
//!
//! DataFusion's expression simplifier merges `c IN (1, 2) AND c IN (3, 4)`
//! into the intersection of the lists, and an empty intersection into the
//! constant `false`; it merges `OR` and `NOT IN` likewise. For a NULL `c`
//! PostgreSQL's answer is NULL, not `false`, which differs under `NOT` and
//! in a select list, and with non-literal items the merged lists are wrong
//! even without NULLs. The merges cannot be switched off on their own, so
//! [`ProtectInLists`] runs just before each simplification and turns every
//! IN list (and every `OR` of equalities it would build one from) into a
//! call of [`InListCall`], whose arguments the simplifier still folds but
//! whose whole it leaves alone; [`RestoreInLists`] runs just after and turns
//! the calls back into IN lists, which the later rules and the scan's
//! pushdown read as usual.
//!
//! PostgreSQL's `=` on floats holds for `-0` and `0`, and for any two
//! `NaN`s; DataFusion's IN list compares their bits. A restored float list
//! compares the [`FloatKey`](super::float_key::FloatKey) of its values instead, under which those are
//! the same bits.

use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::kernels::boolean::{not, or_kleene};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::expr::{InList, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::float_key::{FLOAT_KEY, float_key, keyed};

/// The name of the call an IN list hides behind.
const IN_LIST: &str = "epochdb_in_list";

/// Inserts the two rules around each of DataFusion's simplifications in
/// its list of optimizer rules.
pub(crate) fn around_simplification(
    rules: Vec<Arc<dyn OptimizerRule + Send + Sync>>,
) -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    let mut out = Vec::with_capacity(rules.len() + 4);
    for rule in rules {
        let simplifies = rule.name() == "simplify_expressions";
        if simplifies {
            out.push(Arc::new(ProtectInLists) as Arc<dyn OptimizerRule + Send + Sync>);
        }
        out.push(rule);
        if simplifies {
            out.push(Arc::new(RestoreInLists));
        }
    }
    out
}

/// Turns IN lists into [`InListCall`]s; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct ProtectInLists;

/// Turns [`InListCall`]s back into IN lists.
#[derive(Debug, Default)]
pub(crate) struct RestoreInLists;

impl OptimizerRule for ProtectInLists {
    fn name(&self) -> &str {
        "epochdb_protect_in_lists"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        rewrite_expressions(plan, protect)
    }
}

impl OptimizerRule for RestoreInLists {
    fn name(&self) -> &str {
        "epochdb_restore_in_lists"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        rewrite_expressions(plan, restore)
    }
}

/// Rewrites every expression of one plan node bottom-up, keeping the names
/// of its output columns.
fn rewrite_expressions(
    plan: LogicalPlan,
    rewrite: fn(Expr) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let names = NamePreserver::new(&plan);
    plan.map_expressions(|expr| {
        let name = names.save(&expr);
        Ok(expr.transform_up(rewrite)?.update_data(|e| name.restore(e)))
    })
}

fn protect(expr: Expr) -> Result<Transformed<Expr>> {
    Ok(match expr {
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => Transformed::yes(call(*expr, list, negated)),
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => match (equality(&left), equality(&right)) {
            // `a = x OR a = y`, or a hidden list OR `a = z`: the simplifier
            // would make an IN list of it.
            (Some((a, x)), Some((b, y))) if a == b => {
                Transformed::yes(call(a.clone(), vec![x.clone(), y.clone()], false))
            }
            _ => match (hidden(&left), equality(&right)) {
                (Some((a, items, false)), Some((b, y))) if a == b => {
                    let mut items = items.to_vec();
                    items.push(y.clone());
                    Transformed::yes(call(a.clone(), items, false))
                }
                _ => Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op: Operator::Or,
                    right,
                })),
            },
        },
        other => Transformed::no(other),
    })
}

fn restore(expr: Expr) -> Result<Transformed<Expr>> {
    Ok(match expr {
        Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == IN_LIST => {
            let mut args = args.into_iter();
            let negated = matches!(
                args.next(),
                Some(Expr::Literal(ScalarValue::Boolean(Some(true)), _))
            );
            let Some(tested) = args.next() else {
                return internal_err!("{IN_LIST} without its tested expression");
            };
            let float = matches!(
                &tested,
                Expr::ScalarFunction(ScalarFunction { func, .. }) if func.name() == FLOAT_KEY
            ) || args.clone().any(|item| {
                matches!(
                    item,
                    Expr::Literal(ScalarValue::Float64(_) | ScalarValue::Float32(_), _)
                )
            });
            let (tested, list) = if float {
                (float_key(tested), args.map(float_key).collect())
            } else {
                (tested, args.collect())
            };
            Transformed::yes(Expr::InList(InList {
                expr: Box::new(tested),
                list,
                negated,
            }))
        }
        other => Transformed::no(other),
    })
}

/// `a = x` with `x` a literal: (a, x).
fn equality(expr: &Expr) -> Option<(&Expr, &Expr)> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) if matches!(right.as_ref(), Expr::Literal(..)) => Some((left, right)),
        _ => None,
    }
}

/// The parts of a hidden IN list: (tested, items, negated).
fn hidden(expr: &Expr) -> Option<(&Expr, &[Expr], bool)> {
    match expr {
        Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == IN_LIST => {
            let negated = matches!(
                args.first(),
                Some(Expr::Literal(ScalarValue::Boolean(Some(true)), _))
            );
            Some((args.get(1)?, args.get(2..)?, negated))
        }
        _ => None,
    }
}

fn call(tested: Expr, items: Vec<Expr>, negated: bool) -> Expr {
    let mut args = Vec::with_capacity(items.len() + 2);
    args.push(Expr::Literal(ScalarValue::Boolean(Some(negated)), None));
    args.push(tested);
    args.extend(items);
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(InListCall::default())),
        args,
    ))
}

/// `epochdb_in_list(negated, tested, items...)`: an IN list the simplifier
/// does not merge with others. It is evaluated as PostgreSQL evaluates IN,
/// should a plan ever reach execution with one.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct InListCall {
    signature: Signature,
}

impl Default for InListCall {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for InListCall {
    fn name(&self) -> &str {
        IN_LIST
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let negated = matches!(
            args.args.first(),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let Some(tested) = args.args.get(1) else {
            return internal_err!("{IN_LIST} without its tested expression");
        };
        let tested = keyed(tested.to_array(rows)?);
        let mut found = BooleanArray::from(vec![false; rows]);
        for item in &args.args[2..] {
            let item = keyed(item.to_array(rows)?);
            found = or_kleene(&found, &eq(&tested, &item)?)?;
        }
        if negated {
            found = not(&found)?;
        }
        debug_assert_eq!(found.len(), rows);
        Ok(ColumnarValue::Array(Arc::new(found)))
    }
}
