//! Arithmetic on dates with PostgreSQL's result types, planned before
//! DataFusion coerces the operands: `date ± interval` is a `timestamp`
//! (DataFusion's is a `date`, which drops the interval's time of day), and
//! `date - date` an `integer` of days (DataFusion's is a `bigint`).

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, Operator, binary_expr};
use datafusion::sql::sqlparser::ast::BinaryOperator;

/// Plans `+` and `-` with a date operand.
#[derive(Debug)]
pub(crate) struct DateArithmetic;

fn timestamp(expr: Expr) -> Expr {
    Expr::Cast(Cast::new(
        Box::new(expr),
        DataType::Timestamp(TimeUnit::Microsecond, None),
    ))
}

impl ExprPlanner for DateArithmetic {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let op = match expr.op {
            BinaryOperator::Plus => Operator::Plus,
            BinaryOperator::Minus => Operator::Minus,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let is = |e: &Expr, wanted: fn(&DataType) -> bool| {
            e.get_type(schema).map(|t| wanted(&t)).unwrap_or(false)
        };
        let date = |t: &DataType| *t == DataType::Date32;
        let interval = |t: &DataType| matches!(t, DataType::Interval(_));
        let RawBinaryExpr { left, right, .. } = &expr;
        let planned = if is(left, date) && is(right, interval) {
            binary_expr(timestamp(left.clone()), op, right.clone())
        } else if op == Operator::Plus && is(left, interval) && is(right, date) {
            binary_expr(left.clone(), op, timestamp(right.clone()))
        } else if op == Operator::Minus && is(left, date) && is(right, date) {
            let days = binary_expr(left.clone(), op, right.clone());
            Expr::Cast(Cast::new(Box::new(days), DataType::Int32))
        } else {
            return Ok(PlannerResult::Original(expr));
        };
        Ok(PlannerResult::Planned(planned))
    }
}
