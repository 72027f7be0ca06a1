//! PostgreSQL's semantics where DataFusion's differ, applied to analyzed
//! plans (after type coercion, so every expression's type is known):
//!
//! - the float arguments of a DISTINCT aggregate are compared by their
//!   [`FloatKey`](super::float_key::FloatKey), so `-0` and `0` are one value
//!   (and all `NaN`s another), as PostgreSQL's `=` has them;
//! - `+`, `-`, `*`, `/`, `%` and unary minus over integers and floats are
//!   [`Checked`], raising PostgreSQL's errors where DataFusion wraps around
//!   or answers `Infinity`;
//! - floats, decimals, timestamps and intervals cast to text are printed
//!   by [`PgText`], as PostgreSQL prints them;
//! - intervals and timestamp differences are compared, sorted and counted
//!   distinct by their [`interval_key`], a month as 30 days and a day as 24
//!   hours, and floats sorted by their float key (`-0` ties `0`);
//! - a `timestamptz`'s calendar fields are read in the session's time
//!   zone ([`session_zone`]);
//! - casts of floats and decimals to integers round as PostgreSQL's do
//!   ([`round_for_int`]), and so does `round(float8)`, ties to even;
//! - `to_timestamp(float8)` out of a timestamp's range fails (22008);
//! - `numeric / numeric` of values read from rows is refused (a quotient
//!   of constants is computed before type coercion, [`numeric`]), and a
//!   decimal becomes a float exactly, by its text.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue, internal_err};
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams, ScalarFunction};
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator, ScalarUDF, Sort,
};
use datafusion::optimizer::AnalyzerRule;

use super::super::error::Error;
use super::arithmetic::{Checked, Op};
use super::array_in::array_in;
use super::binary_text::bytea_in;
use super::epoch_range::epoch_in_range;
use super::float_key::float_key;
use super::int_cast::{Rounding, round_for_int};
use super::interval_key::{interval_key, is_interval};
use super::numeric;
use super::plan_exprs::rewrite_expressions;
use super::session_zone::{self, session_zone};
use super::text_in::{ARROW_TEXT_FORM, TextTarget, arrow_text_form, timestamp_in};
use super::text_out::{PgText, prints_differently};

/// The analyzer rule; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct PgSemantics;

impl AnalyzerRule for PgSemantics {
    fn name(&self) -> &str {
        "epochdb_pg_semantics"
    }

    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let zone = session_zone(config.execution.time_zone.as_deref());
        let plan = rewrite_expressions(
            plan,
            |plan| match plan {
                LogicalPlan::Sort(sort) => Ok(LogicalPlan::Sort(sort_by_keys(sort)?)),
                other => Ok(other),
            },
            |e, schema, in_values| {
                let e = match special_datetime(&e, config) {
                    Some(value) => match &zone {
                        Some(zone) => {
                            value
                                .transform_up(|n| session_zone::apply(n, schema, zone))?
                                .data
                        }
                        None => value,
                    },
                    None => e,
                };
                match &zone {
                    Some(zone) => session_zone::apply(e, schema, zone)?
                        .transform_data(|e| rewrite(e, schema, in_values)),
                    None => rewrite(e, schema, in_values),
                }
            },
        )?;
        numeric::check_scales(&plan)?;
        super::json::refuse_orderings(&plan)?;
        Ok(plan)
    }
}

/// PostgreSQL's special date and time words, written as a literal cast to
/// a date or timestamp: `'now'` is the statement's time, `'today'`,
/// `'tomorrow'` and `'yesterday'` midnight of those days in the session's
/// zone. The expression built here is given the session's zone by the
/// caller, as the statement's own are.
fn special_datetime(expr: &Expr, config: &ConfigOptions) -> Option<Expr> {
    let Expr::Cast(cast) = expr else {
        return None;
    };
    let target = cast.field.data_type();
    if !matches!(target, DataType::Timestamp(..) | DataType::Date32) {
        return None;
    }
    let Expr::Literal(
        ScalarValue::Utf8(Some(text))
        | ScalarValue::Utf8View(Some(text))
        | ScalarValue::LargeUtf8(Some(text)),
        _,
    ) = cast.expr.as_ref()
    else {
        return None;
    };
    let word = text.trim().to_ascii_lowercase();
    let days = match word.as_str() {
        "now" => None,
        "today" => Some(0),
        "tomorrow" => Some(1),
        "yesterday" => Some(-1),
        _ => return None,
    };
    let to = |e: Expr, t: DataType| Expr::Cast(datafusion::logical_expr::Cast::new(Box::new(e), t));
    // In microseconds, as PostgreSQL's clock reads.
    let now = to(
        Expr::ScalarFunction(ScalarFunction::new_udf(
            datafusion::functions::datetime::now(config),
            vec![],
        )),
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    );
    let value = match days {
        None => now,
        Some(days) => {
            let today = to(now, DataType::Date32);
            let day = if days == 0 {
                today
            } else {
                Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(today),
                    Operator::Plus,
                    Box::new(Expr::Literal(
                        ScalarValue::new_interval_mdn(0, days, 0),
                        None,
                    )),
                ))
            };
            to(day, DataType::Date32)
        }
    };
    Some(to(value, target.clone()))
}

/// A sort whose interval keys are sorted by their [`interval_key`], and
/// whose float keys by their [`float_key`], under which `-0` and `0` tie
/// and every `NaN` sorts last, as PostgreSQL orders them. (The sort's
/// expressions are not its output, so they may change.)
fn sort_by_keys(mut sort: Sort) -> Result<Sort> {
    let schema = sort.input.schema().clone();
    for key in &mut sort.expr {
        let key_type = key.expr.get_type(&schema)?;
        if is_interval(&key_type) || key_type.is_floating() {
            let expr = std::mem::replace(&mut key.expr, Expr::Literal(ScalarValue::Null, None));
            key.expr = if key_type.is_floating() {
                float_key(expr)
            } else {
                interval_key(expr)
            };
        }
    }
    Ok(sort)
}

/// PostgreSQL's name of the type values of `data_type` have.
fn pg_type_name(data_type: &DataType) -> String {
    crate::pgtype::arrow_type_name(data_type)
}

/// Whether `data_type` is one [`Checked`] computes.
fn checked_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64
    )
}

fn is_decimal(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..)
    )
}

/// `left op right`, checked: a [`Checked`] call, or, when `left` is
/// already a chain of them, that chain one operator longer, so that `1 + 1
/// + ... + 1` stays one call however long it is.
fn checked(op: Op, left: Expr, right: Expr) -> Expr {
    let (mut ops, mut args) = match left {
        Expr::ScalarFunction(ScalarFunction { func, args })
            if op != Op::Neg
                && func
                    .inner()
                    .as_ref()
                    .downcast_ref::<Checked>()
                    .is_some_and(|c| !c.ops().contains(&Op::Neg)) =>
        {
            let ops = func
                .inner()
                .as_ref()
                .downcast_ref::<Checked>()
                .map(|c| c.ops().to_vec())
                .unwrap_or_default();
            (ops, args)
        }
        other => (Vec::new(), vec![other]),
    };
    ops.push(op);
    args.push(right);
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(Checked::chain(ops))),
        args,
    ))
}

/// `-inner`, checked.
fn checked_negation(inner: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(Checked::new(Op::Neg))),
        vec![inner],
    ))
}

fn rewrite(expr: Expr, schema: &DFSchema, in_values: bool) -> Result<Transformed<Expr>> {
    // Comparisons of the types held as text compare as those types.
    let mut expr = expr;
    for compare in [
        super::uuid::rewrite_comparisons,
        super::json::rewrite_comparisons,
    ] {
        let rewritten = compare(expr, schema)?;
        if rewritten.transformed {
            return Ok(rewritten);
        }
        expr = rewritten.data;
    }
    if let Expr::AggregateFunction(AggregateFunction { func, params }) = &expr
        && matches!(func.name(), "min" | "max")
        && let Some(arg) = params.args.first()
        && is_interval(&arg.get_type(schema)?)
    {
        return Err(Error::Unsupported {
            what: "min and max of intervals".into(),
        }
        .into());
    }
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let checked_op = match op {
                Operator::Plus => Some(Op::Add),
                Operator::Minus => Some(Op::Sub),
                Operator::Multiply => Some(Op::Mul),
                Operator::Divide => Some(Op::Div),
                Operator::Modulo => Some(Op::Rem),
                _ => None,
            };
            if super::plan_exprs::is_comparison(op)
                && is_interval(&left.get_type(schema)?)
                && is_interval(&right.get_type(schema)?)
            {
                return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                    left: Box::new(interval_key(*left)),
                    op,
                    right: Box::new(interval_key(*right)),
                })));
            }
            if let Some(checked_op) = checked_op {
                let left_type = left.get_type(schema)?;
                if checked_op == Op::Div
                    && (is_decimal(&left_type) || is_decimal(&right.get_type(schema)?))
                {
                    return numeric::constant_quotient(&left, &right).map(Transformed::yes);
                }
                if checked_type(&left_type) && right.get_type(schema)? == left_type {
                    return Ok(Transformed::yes(checked(checked_op, *left, *right)));
                }
            }
            Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                left,
                op,
                right,
            })))
        }
        // A difference of timestamps cast to an interval: whole days, then
        // the time of day, as PostgreSQL's subtraction makes it.
        Expr::Cast(cast)
            if matches!(cast.field.data_type(), DataType::Interval(_))
                && matches!(cast.expr.get_type(schema)?, DataType::Duration(_)) =>
        {
            let interval = super::extract::interval_of_duration(*cast.expr);
            Ok(Transformed::yes(Expr::Cast(
                datafusion::logical_expr::Cast {
                    expr: Box::new(interval),
                    field: cast.field,
                },
            )))
        }
        Expr::Cast(cast)
            if matches!(
                cast.field.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            ) && prints_differently(&cast.expr.get_type(schema)?) =>
        {
            let text = Expr::ScalarFunction(ScalarFunction::new_udf(
                Arc::new(ScalarUDF::new_from_impl(PgText::new())),
                vec![*cast.expr],
            ));
            Ok(Transformed::yes(
                if cast.field.data_type() == &DataType::Utf8 {
                    text
                } else {
                    Expr::Cast(datafusion::logical_expr::Cast {
                        expr: Box::new(text),
                        field: cast.field,
                    })
                },
            ))
        }
        Expr::Cast(cast)
            if matches!(
                cast.field.data_type(),
                DataType::Float32 | DataType::Float64
            ) && matches!(cast.expr.get_type(schema)?, DataType::Decimal128(..)) =>
        {
            Ok(Transformed::yes(numeric::decimal_to_float(
                *cast.expr,
                cast.field.data_type().clone(),
            )))
        }
        // PostgreSQL's clock has microseconds: now() keeps its type, its
        // value truncated to them (`now()::timestamp = localtimestamp`).
        // `length(bytea)` counts bytes; type coercion made the bytes text.
        Expr::ScalarFunction(ref call)
            if call.func.name() == "character_length"
                && let [Expr::Cast(cast)] = call.args.as_slice()
                && matches!(
                    cast.expr.get_type(schema)?,
                    DataType::Binary | DataType::LargeBinary | DataType::BinaryView
                ) =>
        {
            let bytes = Expr::Cast(datafusion::logical_expr::Cast::new(
                cast.expr.clone(),
                DataType::Binary,
            ));
            Ok(Transformed::yes(super::binary_text::byte_length(bytes)))
        }
        Expr::ScalarFunction(call) if call.func.name() == "now" && call.args.is_empty() => {
            let now = Expr::ScalarFunction(call);
            match now.get_type(schema)? {
                DataType::Timestamp(TimeUnit::Nanosecond, zone) => {
                    let micros = Expr::Cast(datafusion::logical_expr::Cast::new(
                        Box::new(now),
                        DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
                    ));
                    Ok(Transformed::yes(Expr::Cast(
                        datafusion::logical_expr::Cast::new(
                            Box::new(micros),
                            DataType::Timestamp(TimeUnit::Nanosecond, zone),
                        ),
                    )))
                }
                _ => Ok(Transformed::no(now)),
            }
        }
        // PostgreSQL has no cast from an integer to a timestamp or a date
        // (nor does assignment make one): Arrow's would read it as a count
        // of units.
        Expr::Cast(cast)
            if matches!(
                cast.field.data_type(),
                DataType::Timestamp(..) | DataType::Date32
            ) && cast.expr.get_type(schema)?.is_integer() =>
        {
            let from = pg_type_name(&cast.expr.get_type(schema)?);
            let to = pg_type_name(cast.field.data_type());
            Err(if in_values {
                Error::DatatypeMismatch {
                    message: format!(
                        "value of type {from} cannot be assigned to a column of type {to}"
                    ),
                }
            } else {
                Error::CannotCoerce { from, to }
            }
            .into())
        }
        // PostgreSQL's forms of dates, timestamps and intervals, beyond
        // those Arrow's casts read.
        Expr::Cast(cast)
            if matches!(
                cast.field.data_type(),
                DataType::Timestamp(_, Some(_)) | DataType::Date32 | DataType::Interval(_)
            ) && matches!(
                cast.expr.get_type(schema)?,
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            ) && !matches!(cast.expr.as_ref(), Expr::ScalarFunction(f) if f.func.name() == ARROW_TEXT_FORM) =>
        {
            let target = match cast.field.data_type() {
                DataType::Date32 => TextTarget::Date,
                DataType::Interval(_) => TextTarget::Interval,
                _ => TextTarget::Timestamp,
            };
            Ok(Transformed::yes(Expr::Cast(
                datafusion::logical_expr::Cast {
                    expr: Box::new(arrow_text_form(*cast.expr, target)),
                    field: cast.field,
                },
            )))
        }
        // Text read where Arrow's cast reads it otherwise: an array literal
        // as its elements (not the whole text as one element), a timestamp
        // without time zone ignoring an offset, and a bytea in its hex or
        // escape form (not as the text's own bytes).
        Expr::Cast(cast)
            if matches!(
                cast.field.data_type(),
                DataType::List(_) | DataType::Timestamp(_, None) | DataType::Binary
            ) && matches!(
                cast.expr.get_type(schema)?,
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            ) =>
        {
            let read = match cast.field.data_type() {
                DataType::List(_) => array_in,
                DataType::Binary => bytea_in,
                _ => timestamp_in,
            };
            Ok(Transformed::yes(Expr::Cast(
                datafusion::logical_expr::Cast {
                    expr: Box::new(read(*cast.expr)),
                    field: cast.field,
                },
            )))
        }
        Expr::Cast(cast)
            if matches!(
                cast.field.data_type(),
                DataType::Int16 | DataType::Int32 | DataType::Int64
            ) =>
        {
            let rounding = match cast.expr.get_type(schema)? {
                DataType::Float32 | DataType::Float64 => Some(Rounding::HalfEven),
                DataType::Decimal128(..) => Some(Rounding::HalfAway),
                _ => None,
            };
            let Some(rounding) = rounding else {
                return Ok(Transformed::no(Expr::Cast(cast)));
            };
            Ok(Transformed::yes(Expr::Cast(
                datafusion::logical_expr::Cast {
                    expr: Box::new(round_for_int(*cast.expr, rounding)),
                    field: cast.field,
                },
            )))
        }
        Expr::ScalarFunction(mut call)
            if call.func.name() == "to_timestamp"
                && call.args.len() == 1
                && call.args[0].get_type(schema)? == DataType::Float64 =>
        {
            let data_type = Expr::ScalarFunction(call.clone()).get_type(schema)?;
            let seconds =
                std::mem::replace(&mut call.args[0], Expr::Literal(ScalarValue::Null, None));
            Ok(Transformed::yes(epoch_in_range(seconds, data_type)))
        }
        // A microsecond column tested against timestamps: the items are
        // read as microseconds, as PostgreSQL reads a timestamp literal,
        // rather than the column widened to nanoseconds (IN lists are
        // kept from the simplifier, which would do this for `=`).
        Expr::InList(mut in_list)
            if matches!(in_list.expr.as_ref(), Expr::Cast(cast)
                if matches!(cast.field.data_type(), DataType::Timestamp(TimeUnit::Nanosecond, _))
                    && matches!(cast.expr.get_type(schema)?, DataType::Timestamp(TimeUnit::Microsecond, _))) =>
        {
            let Expr::Cast(cast) = *in_list.expr else {
                return internal_err!("IN list lost its cast");
            };
            let column_type = cast.expr.get_type(schema)?;
            in_list.expr = cast.expr;
            in_list.list = in_list
                .list
                .into_iter()
                .map(|item| {
                    Expr::Cast(datafusion::logical_expr::Cast::new(
                        Box::new(item),
                        column_type.clone(),
                    ))
                })
                .collect();
            Ok(Transformed::yes(Expr::InList(in_list)))
        }
        // round(float8) rounds ties to even, as rint does.
        Expr::ScalarFunction(call)
            if call.func.name() == "round"
                && call.args.len() == 1
                && call.args[0].get_type(schema)? == DataType::Float64 =>
        {
            match call.args.into_iter().next() {
                Some(arg) => Ok(Transformed::yes(round_for_int(arg, Rounding::HalfEven))),
                None => internal_err!("round lost its argument"),
            }
        }
        Expr::Negative(inner) => {
            let inner_type = inner.get_type(schema)?;
            if checked_type(&inner_type) {
                Ok(Transformed::yes(checked_negation(*inner)))
            } else {
                Ok(Transformed::no(Expr::Negative(inner)))
            }
        }
        Expr::AggregateFunction(AggregateFunction {
            func,
            params:
                AggregateFunctionParams {
                    args,
                    distinct: true,
                    filter,
                    order_by,
                    null_treatment,
                },
        }) => {
            let mut changed = false;
            let args = args
                .into_iter()
                .map(|arg| {
                    let arg_type = arg.get_type(schema)?;
                    if arg_type.is_floating() {
                        changed = true;
                        Ok(float_key(arg))
                    } else if is_interval(&arg_type) && func.name() == "count" {
                        changed = true;
                        Ok(interval_key(arg))
                    } else {
                        Ok(arg)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            let expr = Expr::AggregateFunction(AggregateFunction {
                func,
                params: AggregateFunctionParams {
                    args,
                    distinct: true,
                    filter,
                    order_by,
                    null_treatment,
                },
            });
            Ok(if changed {
                Transformed::yes(expr)
            } else {
                Transformed::no(expr)
            })
        }
        other => Ok(Transformed::no(other)),
    }
}
