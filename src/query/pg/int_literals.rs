//! PostgreSQL's type for integer literals: `int4` when the value fits, and
//! `int8` only when it does not. DataFusion types every integer literal as
//! `Int64`, so `SELECT 1` reached drivers as `bigint` (node-postgres hands
//! an application the string `'1'` for one), and `2147483647 + 1` did not
//! overflow as PostgreSQL's `integer` does.
//!
//! It runs on the plan SQL planning made, before type coercion: the
//! literals it sees are the ones the statement wrote. A `VALUES` column is retyped only
//! when every row of it is such a literal, since its schema is fixed when
//! it is planned.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result, ScalarValue};
use datafusion::logical_expr::expr::Placeholder;
use datafusion::logical_expr::{
    DmlStatement, Expr, LogicalPlan, LogicalPlanBuilder, Values, WriteOp, cast,
};

use super::plan_exprs::{retype_nodes, retype_values_columns, rewrite_node};

/// `plan` as SQL planning made it, with integer literals that fit in 32
/// bits typed `Int32`. Run before parameters are bound, so a parameter's
/// value keeps the type the client declared.
pub(crate) fn narrow_int_literals(plan: LogicalPlan) -> Result<LogicalPlan> {
    retype_nodes(plan, |plan| match plan {
        LogicalPlan::Values(values) => retype_values(values),
        LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)) => cast_to_target(dml),
        // A union's schema is typed again from its first input; type
        // coercion then widens it to what the other inputs need.
        LogicalPlan::Union(union) => super::plan_exprs::retype_union(union),
        // A limit's counts stay `Int64`; an extension's schema is its own.
        LogicalPlan::Limit(_) | LogicalPlan::Extension(_) => Ok(Transformed::no(plan)),
        plan => rewrite_node(plan, |e| {
            narrow(e).transform_data(|e| Ok(narrow_placeholder(e)))
        }),
    })
}

/// The `Int32` value of an integer literal that fits in one.
fn int4_value(expr: &Expr) -> Option<i32> {
    match expr {
        Expr::Literal(ScalarValue::Int64(Some(v)), _) => i32::try_from(*v).ok(),
        _ => None,
    }
}

/// A parameter met by an `int4` literal in arithmetic or a comparison
/// (`$1 + 1`): PostgreSQL infers `integer` for it, where planning inferred
/// `bigint` from the literal before it was narrowed.
fn narrow_placeholder(expr: Expr) -> Transformed<Expr> {
    let Expr::BinaryExpr(mut binary) = expr else {
        return Transformed::no(expr);
    };
    let int4 = |e: &Expr| matches!(e, Expr::Literal(ScalarValue::Int32(Some(_)), _));
    let (right_int4, left_int4) = (int4(&binary.right), int4(&binary.left));
    let mut changed = false;
    for (side, other_int4) in [
        (binary.left.as_mut(), right_int4),
        (binary.right.as_mut(), left_int4),
    ] {
        if let Expr::Placeholder(Placeholder {
            field: Some(field), ..
        }) = side
            && field.data_type() == &DataType::Int64
            && other_int4
        {
            *field = Arc::new(field.as_ref().clone().with_data_type(DataType::Int32));
            changed = true;
        }
    }
    let expr = Expr::BinaryExpr(binary);
    if changed {
        Transformed::yes(expr)
    } else {
        Transformed::no(expr)
    }
}

fn narrow(expr: Expr) -> Transformed<Expr> {
    match (int4_value(&expr), expr) {
        // Beyond bigint, an integer literal is numeric.
        (_, Expr::Literal(ScalarValue::UInt64(Some(v)), metadata)) => {
            Transformed::yes(Expr::Literal(
                ScalarValue::Decimal128(Some(i128::from(v)), 20, 0),
                metadata,
            ))
        }
        (Some(v), Expr::Literal(_, metadata)) => {
            Transformed::yes(Expr::Literal(ScalarValue::Int32(Some(v)), metadata))
        }
        (_, expr) => Transformed::no(expr),
    }
}

/// An insert whose input this rule retyped, with the input cast back to
/// the table's column types: DataFusion adds those casts when it plans the
/// insert, only where the types then differed.
fn cast_to_target(dml: DmlStatement) -> Result<Transformed<LogicalPlan>> {
    let target = dml.target.schema();
    let input_schema = dml.input.schema();
    let differs = input_schema.fields().len() == target.fields().len()
        && (input_schema.fields().iter())
            .zip(target.fields())
            .any(|(have, want)| have.data_type() != want.data_type());
    if !differs {
        return Ok(Transformed::no(LogicalPlan::Dml(dml)));
    }
    let exprs = (input_schema.iter())
        .zip(target.fields())
        .map(|((qualifier, have), want)| {
            let column = Expr::Column(Column::new(qualifier.cloned(), have.name()));
            if have.data_type() == want.data_type() {
                column
            } else {
                cast(column, want.data_type().clone()).alias(have.name())
            }
        })
        .collect::<Vec<_>>();
    let input = LogicalPlanBuilder::from(Arc::unwrap_or_clone(dml.input))
        .project(exprs)?
        .build()?;
    Ok(Transformed::yes(LogicalPlan::Dml(DmlStatement {
        input: Arc::new(input),
        ..dml
    })))
}

/// `VALUES` with each column of only `int4`-sized literals typed `Int32`.
fn retype_values(values: Values) -> Result<Transformed<LogicalPlan>> {
    let Values { schema, mut values } = values;
    let narrow_columns: Vec<usize> = (0..schema.fields().len())
        .filter(|&c| {
            schema.field(c).data_type() == &DataType::Int64
                && !values.is_empty()
                && values
                    .iter()
                    .all(|row| row.get(c).and_then(int4_value).is_some())
        })
        .collect();
    if narrow_columns.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Values(Values {
            schema,
            values,
        })));
    }
    for row in &mut values {
        for &c in &narrow_columns {
            let cell = std::mem::replace(&mut row[c], Expr::Literal(ScalarValue::Null, None));
            row[c] = narrow(cell).data;
        }
    }
    Ok(Transformed::yes(retype_values_columns(
        Values { schema, values },
        &narrow_columns,
        &DataType::Int32,
    )?))
}
