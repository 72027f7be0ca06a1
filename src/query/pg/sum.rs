//! `sum` with PostgreSQL's result types: the sum of bigints is a numeric,
//! which never overflows (DataFusion's is a bigint that wraps around). The
//! sums of smaller integers stay bigints, as in PostgreSQL.
//!
//! When a statement is planned, before type coercion, the argument of every
//! `sum` of a bigint is cast to a numeric of 38 digits, which holds any sum
//! of them; DataFusion's `sum` of that numeric is then the numeric
//! PostgreSQL returns, and the statement's described result types say so.
//! The choice is made once, on the types the statement has: a bigint that
//! type coercion makes later of a smaller integer (`sum(int4)` adds in
//! bigints) is not a bigint column, and stays summed as one.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction, WindowFunctionDefinition};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, cast};

use super::plan_exprs::{input_schema, retype_nodes, rewrite_node};

/// The numeric a bigint sum adds in.
const BIGINT_SUM: DataType = DataType::Decimal128(38, 0);

/// `plan` with its sums of bigints made sums of numerics.
pub(crate) fn bigint_sums_as_numeric(plan: LogicalPlan) -> Result<LogicalPlan> {
    retype_nodes(plan, |node| {
        let schema = input_schema(&node);
        rewrite_node(node, |e| widen(e, &schema))
    })
}

fn widen(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let is_sum = |name: &str| name.eq_ignore_ascii_case("sum");
    Ok(match expr {
        Expr::AggregateFunction(AggregateFunction { func, mut params }) if is_sum(func.name()) => {
            let widened = widen_args(&mut params.args, schema)?;
            let expr = Expr::AggregateFunction(AggregateFunction { func, params });
            if widened {
                Transformed::yes(expr)
            } else {
                Transformed::no(expr)
            }
        }
        Expr::WindowFunction(mut window) if matches!(&window.fun, WindowFunctionDefinition::AggregateUDF(f) if is_sum(f.name())) =>
        {
            let WindowFunction { params, .. } = window.as_mut();
            if widen_args(&mut params.args, schema)? {
                Transformed::yes(Expr::WindowFunction(window))
            } else {
                Transformed::no(Expr::WindowFunction(window))
            }
        }
        expr => Transformed::no(expr),
    })
}

/// Casts a lone bigint argument to [`BIGINT_SUM`]; whether it did.
fn widen_args(args: &mut [Expr], schema: &DFSchema) -> Result<bool> {
    let [arg] = args else {
        return Ok(false);
    };
    if arg.get_type(schema)? != DataType::Int64 {
        return Ok(false);
    }
    let bigint = std::mem::replace(arg, Expr::Literal(ScalarValue::Null, None));
    *arg = cast(bigint, BIGINT_SUM);
    Ok(true)
}
