//! Arithmetic on dates with PostgreSQL's result types, planned before
//! DataFusion coerces the operands: `date ± interval` is a `timestamp`
//! (DataFusion's is a `date`, which drops the interval's time of day), and
//! `date - date` an `integer` of days (DataFusion's is a `bigint`), and
//! `date ± integer` a date checked against PostgreSQL's range (DataFusion's
//! overflows into NULL).

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Date32Builder};
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit};
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    Cast, ColumnarValue, Expr, ExprSchemable, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility, binary_expr,
};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use super::columnar::{arguments, columnar};
use crate::query::error::Error;

/// The days from 1970-01-01 of PostgreSQL's first date (4714-11-24 BC) and
/// of the day after its last (5874898-01-01).
const FIRST_DAY: i64 = -2_440_588;
const END_DAY: i64 = 2_145_042_906;

/// PostgreSQL adds days of type `integer` (or narrower) to a date, and
/// reads an integer literal too large for one as a `bigint`, for which it
/// has no operator. (Other `bigint`s are taken: before DataFusion's types
/// are narrowed to PostgreSQL's, a `VALUES` column of small integers is one.)
fn refuse_bigint(days: &Expr, op: Operator) -> Result<()> {
    if let Expr::Literal(ScalarValue::Int64(Some(v)), _) = days
        && i32::try_from(*v).is_err()
    {
        return Err(Error::UndefinedFunction {
            message: format!("operator does not exist: date {op} bigint"),
        }
        .into());
    }
    Ok(())
}

fn int8(expr: Expr) -> Expr {
    Expr::Cast(Cast::new(Box::new(expr), DataType::Int64))
}

/// `epochdb_date_add_days(date, bigint)`: the date so many days later, or
/// PostgreSQL's `date out of range`.
fn add_days() -> ScalarUDF {
    ScalarUDF::new_from_impl(AddDays {
        signature: Signature::exact(
            vec![DataType::Date32, DataType::Int64],
            Volatility::Immutable,
        ),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct AddDays {
    signature: Signature,
}

impl ScalarUDFImpl for AddDays {
    fn name(&self) -> &str {
        "epochdb_date_add_days"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, scalar) = arguments(&args.args)?;
        let [dates, days] = arrays.as_slice() else {
            return exec_err!("epochdb_date_add_days takes two arguments");
        };
        let dates = dates.as_primitive::<Date32Type>();
        let days = days.as_primitive::<Int64Type>();
        let mut sums = Date32Builder::with_capacity(dates.len());
        for (date, days) in dates.iter().zip(days.iter()) {
            let (Some(date), Some(days)) = (date, days) else {
                sums.append_null();
                continue;
            };
            let day = i64::from(date).saturating_add(days);
            match i32::try_from(day) {
                Ok(day) if (FIRST_DAY..END_DAY).contains(&i64::from(day)) => sums.append_value(day),
                _ => return Err(Error::DateOutOfRange.into()),
            }
        }
        let sums = sums.finish();
        columnar(Arc::new(sums), scalar)
    }
}

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
        let integer = |t: &DataType| {
            matches!(
                t,
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
            )
        };
        let RawBinaryExpr { left, right, .. } = &expr;
        let planned = if is(left, date) && is(right, interval) {
            binary_expr(timestamp(left.clone()), op, right.clone())
        } else if op == Operator::Plus && is(left, interval) && is(right, date) {
            binary_expr(left.clone(), op, timestamp(right.clone()))
        } else if is(left, date) && is(right, integer) {
            refuse_bigint(right, op)?;
            let days = match op {
                Operator::Minus => Expr::Negative(Box::new(int8(right.clone()))),
                _ => int8(right.clone()),
            };
            add_days().call(vec![left.clone(), days])
        } else if op == Operator::Plus && is(left, integer) && is(right, date) {
            refuse_bigint(left, op)?;
            add_days().call(vec![right.clone(), int8(left.clone())])
        } else if op == Operator::Minus && is(left, date) && is(right, date) {
            let days = binary_expr(left.clone(), op, right.clone());
            Expr::Cast(Cast::new(Box::new(days), DataType::Int32))
        } else {
            return Ok(PlannerResult::Original(expr));
        };
        Ok(PlannerResult::Planned(planned))
    }
}
