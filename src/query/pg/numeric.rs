//! PostgreSQL's `numeric` on Arrow's 128-bit decimals, exact where they
//! can be and refused where they cannot.
//!
//! A PostgreSQL numeric carries its own display scale: `1.5` prints one
//! decimal and `1.50` two, and a quotient gets as many as
//! `select_div_scale` chooses for its operands' values. A column of Arrow
//! decimals has one scale for all its rows. So:
//!
//! - a literal with a decimal point is a decimal of its own scale (the
//!   parser's `parse_float_as_decimal`), and `+`, `-`, `*`, `%`, `sum`,
//!   `min`, `max`, `abs`, `round`, `trunc`, `ceil` and `floor` give the
//!   scales PostgreSQL gives, since those follow from the operands' types;
//! - a cast to `numeric` is [`NumericCast`] (`epochdb_numeric`), made from
//!   the statement's text by [`rewrite`]: with a precision and scale it
//!   rounds as PostgreSQL's typmod does (a float by its 15 significant
//!   digits), and overflow is PostgreSQL's `numeric field overflow`; without
//!   them, integers and decimals keep their scale, a constant gets the scale
//!   of its text, and anything else (a float column, whose rows would each
//!   have their own) is refused, except as `round(x::numeric, n)`, whose
//!   scale is `n`;
//! - before type coercion, [`settle_numerics`] computes a quotient of
//!   constants as `numeric_div` does ([`constant_quotient`]; other quotients
//!   are refused), gives `round`, `trunc`, `ceil` and `floor` PostgreSQL's
//!   scales, and makes a decimal that meets a float a float, as PostgreSQL's
//!   implicit cast does; [`decimal_to_float`] converts by the digits;
//! - [`settle_numerics`] also refuses what DataFusion would answer in
//!   `double precision` where PostgreSQL answers a numeric of its own
//!   scale: `avg`, `stddev` and `variance` of decimals, `sqrt`, `exp`, `ln`,
//!   `log` and `power` of them;
//! - [`check_scales`] refuses, after type coercion, a value widened to a
//!   larger scale where the widening shows (a `CASE` branch, a `COALESCE`
//!   argument, a `UNION` or `VALUES` column mixing `1` and `1.5`, which
//!   PostgreSQL prints as `1` and `1.5`), and any value narrowed;
//! - parameters keep the scale of the value bound ([`unconstrained_parameters`]),
//!   and `generate_series` of numeric constants is an integer series times
//!   its unit ([`numeric_series`]).

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Decimal128Builder, Float32Array, Float64Array,
    new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Field, FieldRef, Float64Type, Int64Type, UInt64Type,
};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result, ScalarValue, exec_err, internal_err};
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder,
    ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Union, Values, Volatility,
    WindowFunctionDefinition,
};
use datafusion::sql::sqlparser::ast::{
    self, DataType as SqlType, ExactNumberInfo, VisitMut, VisitorMut,
};

use super::at_time_zone::function_call;
use super::numeric_quotient::{self, Rounding};
use super::plan_exprs::{input_schema, retype_values_columns};
use crate::pgtype::{self, DivisionError, MAX_DIGITS};
use crate::query::error::Error;

/// The name of [`NumericCast`].
pub(crate) const NUMERIC_CAST: &str = "epochdb_numeric";

/// Every cast to `numeric` of `statement` as a call of [`NumericCast`]:
/// `x::numeric(p, s)` is `epochdb_numeric(x, p, s)`, `x::numeric` is
/// `epochdb_numeric(x)`, and `round(x::numeric, n)` is `round(
/// epochdb_numeric(x, 38, n), n)`. A parameter's cast stays a cast, so that
/// it still declares the parameter's type.
pub(crate) fn rewrite(statement: &mut ast::Statement) {
    integer_quotients(statement);
    let _ = statement.visit(&mut Rewriter);
}

/// PostgreSQL's `div(a, b)`, the integer quotient of two numerics rounded
/// toward zero, as `trunc(a::numeric / b::numeric)` (the names of the
/// columns follow the statement as written).
fn integer_quotients(statement: &mut ast::Statement) {
    let _ = ast::visit_expressions_mut(statement, |expr: &mut ast::Expr| {
        if let ast::Expr::Function(function) = expr
            && function
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("div"))
            && let ast::FunctionArguments::List(list) = &function.args
            && list.duplicate_treatment.is_none()
            && list.clauses.is_empty()
            && let [
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a)),
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(b)),
            ] = list.args.as_slice()
            && function.over.is_none()
            && function.filter.is_none()
        {
            let text = format!("trunc(CAST(({a}) AS NUMERIC) / CAST(({b}) AS NUMERIC))");
            if let Ok(call) = ast_parser(&text) {
                *expr = call;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn ast_parser(text: &str) -> Result<ast::Expr, datafusion::sql::sqlparser::parser::ParserError> {
    datafusion::sql::sqlparser::parser::Parser::new(&super::dialect::PostgresDialect::default())
        .try_with_sql(text)?
        .parse_expr()
}

struct Rewriter;

/// The precision and scale of `data_type`, if it is `numeric` (`None` for
/// neither given, `Some((p, None))` for a precision alone).
fn numeric_typmod(data_type: &SqlType) -> Option<Option<(u64, i64)>> {
    match data_type {
        SqlType::Numeric(info) | SqlType::Decimal(info) | SqlType::Dec(info) => Some(match info {
            ExactNumberInfo::None => None,
            ExactNumberInfo::Precision(p) => Some((*p, 0)),
            ExactNumberInfo::PrecisionAndScale(p, s) => Some((*p, *s)),
        }),
        _ => None,
    }
}

/// The integer `n` as a literal (under a minus when negative).
pub(crate) fn number(n: i64) -> ast::Expr {
    let text = n.unsigned_abs().to_string();
    let literal = ast::Expr::Value(ast::Value::Number(text, false).into());
    if n < 0 {
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr: Box::new(literal),
        }
    } else {
        literal
    }
}

fn numeric_call(value: ast::Expr, typmod: Option<(u64, i64)>) -> ast::Expr {
    let mut args = vec![value];
    if let Some((p, s)) = typmod {
        args.push(number(i64::try_from(p).unwrap_or(i64::MAX)));
        args.push(number(s));
    }
    function_call(NUMERIC_CAST, args)
}

/// The integer a literal argument writes, if it is one.
fn integer_literal(expr: &ast::Expr) -> Option<i64> {
    match expr {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => integer_literal(expr).map(|n| -n),
        ast::Expr::Nested(inner) => integer_literal(inner),
        _ => None,
    }
}

/// The arguments of a call written as `name(a, b, ...)`.
fn plain_args<'a>(
    function: &'a mut ast::Function,
    name: &str,
) -> Option<&'a mut Vec<ast::FunctionArg>> {
    let called = function
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| i.value.eq_ignore_ascii_case(name));
    match &mut function.args {
        ast::FunctionArguments::List(list) if called && function.name.0.len() == 1 => {
            Some(&mut list.args)
        }
        _ => None,
    }
}

fn unnamed(arg: &mut ast::FunctionArg) -> Option<&mut ast::Expr> {
    match arg {
        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Some(e),
        _ => None,
    }
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut ast::Expr) -> ControlFlow<()> {
        match expr {
            ast::Expr::Cast {
                data_type,
                expr: inner,
                array: false,
                format: None,
                ..
            } => {
                let placeholder = matches!(
                    inner.as_ref(),
                    ast::Expr::Value(v) if matches!(v.value, ast::Value::Placeholder(_))
                );
                match numeric_typmod(data_type) {
                    // A parameter's cast declares its type; the value
                    // keeps its own scale (see `unconstrained_parameters`).
                    Some(None) if placeholder => {}
                    Some(Some(typmod)) if placeholder => {
                        let typed =
                            std::mem::replace(expr, ast::Expr::Value(ast::Value::Null.into()));
                        if let ast::Expr::Cast {
                            kind,
                            expr: inner,
                            array,
                            format,
                            ..
                        } = typed
                        {
                            let declared = ast::Expr::Cast {
                                kind,
                                expr: inner,
                                data_type: SqlType::Numeric(ExactNumberInfo::None),
                                array,
                                format,
                            };
                            *expr = numeric_call(declared, Some(typmod));
                        }
                    }
                    Some(typmod) => {
                        let value = std::mem::replace(
                            inner.as_mut(),
                            ast::Expr::Value(ast::Value::Null.into()),
                        );
                        *expr = numeric_call(value, typmod);
                    }
                    None => {}
                }
            }
            ast::Expr::Value(value) => {
                if let ast::Value::Number(text, _) = &value.value
                    && let Some(respelled) = respell_number(text)
                {
                    *expr = respelled;
                }
            }
            ast::Expr::TypedString(typed) => {
                if let Some(typmod) = numeric_typmod(&typed.data_type) {
                    let value = ast::Expr::Value(typed.value.clone());
                    *expr = numeric_call(value, typmod);
                }
            }
            ast::Expr::Function(function) => {
                // round(x::numeric, n): the cast's scale is n.
                let Some(args) = plain_args(function, "round") else {
                    return ControlFlow::Continue(());
                };
                let [value, places] = args.as_mut_slice() else {
                    return ControlFlow::Continue(());
                };
                let Some(n) = unnamed(places)
                    .and_then(|p| integer_literal(p))
                    .filter(|n| (0..=i64::from(MAX_DIGITS)).contains(n))
                else {
                    return ControlFlow::Continue(());
                };
                if let Some(ast::Expr::Function(inner)) = unnamed(value)
                    && let Some(inner_args) = plain_args(inner, NUMERIC_CAST)
                    && inner_args.len() == 1
                {
                    inner_args.push(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                        number(i64::from(MAX_DIGITS)),
                    )));
                    inner_args.push(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                        number(n),
                    )));
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// A number literal with an exponent written out in plain digits, as
/// the decimal of its own scale it is (`1.5e-3` is `0.0015`, `1e5` is
/// `100000`); one beyond a 128-bit decimal (`1e308`) as a `double
/// precision` constant, the type it is compared with or stored as
/// wherever EpochDB can use it. `None` for a literal to keep as written.
fn respell_number(text: &str) -> Option<ast::Expr> {
    let exponent = text.contains(['e', 'E']);
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    if !exponent && digits <= usize::from(MAX_DIGITS) {
        return None;
    }
    let plain = pgtype::numeric_text_scale(text)
        .filter(|scale| *scale <= i32::from(MAX_DIGITS))
        .and_then(|scale| {
            let scale = scale as i8;
            pgtype::numeric_in(text, MAX_DIGITS, scale)
                .ok()
                .map(|v| pgtype::numeric_out(v, scale))
        });
    Some(match plain {
        // Without a decimal point the digits would read as an integer.
        Some(plain) if !plain.contains('.') && exponent => numeric_call(
            ast::Expr::Value(ast::Value::SingleQuotedString(plain).into()),
            None,
        ),
        Some(plain) => ast::Expr::Value(ast::Value::Number(plain, false).into()),
        None => ast::Expr::Cast {
            kind: ast::CastKind::DoubleColon,
            expr: Box::new(ast::Expr::Value(
                ast::Value::SingleQuotedString(text.to_owned()).into(),
            )),
            data_type: SqlType::DoublePrecision,
            array: false,
            format: None,
        },
    })
}

/// `plan` with the casts of parameters to `numeric` (no precision or
/// scale: planning's `Decimal128(38, 10)`) removed, so that the value bound
/// to the parameter, read at its own scale, keeps it: `$1::numeric` with
/// `2.250` is `2.250`, as in PostgreSQL. Run before the values are bound.
pub(crate) fn unconstrained_parameters(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        node.map_expressions(|e| {
            e.transform_up(|e| match e {
                Expr::Cast(c)
                    if matches!(c.expr.as_ref(), Expr::Placeholder(_))
                        && *c.field.data_type() == DataType::Decimal128(MAX_DIGITS, 10) =>
                {
                    Ok(Transformed::yes(*c.expr))
                }
                other => Ok(Transformed::no(other)),
            })
        })
    })
    .map(|t| t.data)
}

/// A signed number literal's value and scale.
fn signed_literal(expr: &ast::Expr) -> Option<(i128, i8)> {
    match expr {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(text, _) => pgtype::numeric_in_own_scale(text).ok(),
            _ => None,
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => signed_literal(expr).map(|(v, s)| (-v, s)),
        ast::Expr::Nested(inner) => signed_literal(inner),
        _ => None,
    }
}

fn is_decimal_literal(expr: &ast::Expr) -> bool {
    match expr {
        ast::Expr::Value(v) => {
            matches!(&v.value, ast::Value::Number(text, _) if text.contains(['.', 'e', 'E']))
        }
        ast::Expr::UnaryOp { expr, .. } | ast::Expr::Nested(expr) => is_decimal_literal(expr),
        _ => false,
    }
}

/// A numeric `generate_series(start, stop[, step])` as an integer one:
/// the arguments scaled to whole units of the scale PostgreSQL's values have
/// (the larger of the start's and the step's), and the literal one unit is
/// (`0.1`), to multiply the integers by. `None` when no argument is a
/// number with a decimal point; refused when such arguments are not all
/// constants.
pub(crate) fn numeric_series(
    args: &[ast::FunctionArg],
) -> crate::query::error::Result<Option<(Vec<i64>, String)>> {
    let args: Vec<&ast::Expr> = args
        .iter()
        .filter_map(|a| match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect();
    if !args.iter().any(|a| is_decimal_literal(a)) {
        return Ok(None);
    }
    let refused = || Error::Unsupported {
        what: "generate_series of numeric values other than constants".into(),
    };
    let values: Vec<(i128, i8)> = args
        .iter()
        .map(|a| signed_literal(a))
        .collect::<Option<_>>()
        .ok_or_else(refused)?;
    let ((start, start_scale), (stop, stop_scale), (step, step_scale)) = match values.as_slice() {
        [a, b] => (*a, *b, (1, 0)),
        [a, b, c] => (*a, *b, *c),
        _ => return Err(refused()),
    };
    if step == 0 {
        return Err(Error::InvalidParameterValue {
            message: "step size cannot equal zero".into(),
        });
    }
    // PostgreSQL's first value is the start as written, the others have the
    // larger scale: one column has one.
    if step_scale.max(0) > start_scale.max(0) {
        return Err(Error::Unsupported {
            what: "generate_series of numeric values whose step has more decimals than its \
                   start (PostgreSQL prints the first value with fewer)"
                .into(),
        });
    }
    let scale = start_scale.max(0);
    let wide = || Error::Unsupported {
        what: "generate_series of numeric values beyond bigint's range in units of their scale"
            .into(),
    };
    let whole =
        |v: i128, from: i8| pgtype::rescale(v, from, scale).and_then(|v| i64::try_from(v).ok());
    let start = whole(start, start_scale).ok_or_else(wide)?;
    let step = whole(step, step_scale).ok_or_else(wide)?;
    // The stop, exactly as a bound in whole units: rounded toward the start.
    let stop = if stop_scale <= scale {
        pgtype::rescale(stop, stop_scale, scale)
    } else {
        let divisor = 10i128.checked_pow(u32::from((stop_scale - scale).unsigned_abs()));
        divisor.map(|d| {
            if step > 0 {
                stop.div_euclid(d)
            } else {
                -(-stop).div_euclid(d)
            }
        })
    }
    .and_then(|v| i64::try_from(v).ok())
    .ok_or_else(wide)?;
    let unit = if scale == 0 {
        "1".to_owned()
    } else {
        format!("0.{}1", "0".repeat(usize::from(scale.unsigned_abs()) - 1))
    };
    Ok(Some((vec![start, stop, step], unit)))
}

/// `CAST(x AS numeric[(p, s)])`; see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct NumericCast {
    signature: Signature,
}

impl NumericCast {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

fn unsupported(what: impl Into<String>) -> datafusion::error::DataFusionError {
    Error::Unsupported { what: what.into() }.into()
}

/// The integer value of a constant argument.
fn constant_int(scalar: Option<&ScalarValue>) -> Option<i64> {
    let scalar = scalar?;
    if !scalar.data_type().is_integer() {
        return None;
    }
    match scalar.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(v) => v,
        _ => None,
    }
}

/// `numeric(p, s)` as an Arrow decimal, with PostgreSQL's errors for
/// what it refuses and 0A000 for what a 128-bit decimal cannot hold.
fn typmod_type(precision: i64, scale: i64) -> Result<DataType> {
    if !(1..=1000).contains(&precision) {
        return Err(Error::InvalidParameterValue {
            message: format!("NUMERIC precision {precision} must be between 1 and 1000"),
        }
        .into());
    }
    if !(-1000..=1000).contains(&scale) {
        return Err(Error::InvalidParameterValue {
            message: format!("NUMERIC scale {scale} must be between -1000 and 1000"),
        }
        .into());
    }
    if precision > i64::from(MAX_DIGITS) {
        return Err(unsupported(format!(
            "numeric precision above {MAX_DIGITS} (numeric({precision}, {scale}))"
        )));
    }
    if scale < 0 || scale > precision {
        return Err(unsupported(format!(
            "a numeric scale below zero or above the precision (numeric({precision}, {scale}))"
        )));
    }
    Ok(DataType::Decimal128(precision as u8, scale as i8))
}

/// The display scale of a constant float or text cast to `numeric`.
fn constant_scale(scalar: &ScalarValue) -> Result<Option<i8>> {
    let text = match scalar {
        _ if scalar.is_null() => return Ok(None),
        ScalarValue::Float64(Some(v)) => float_text(*v)?,
        ScalarValue::Float32(Some(v)) => float_text(f64::from(*v))?,
        ScalarValue::Float16(Some(v)) => float_text(f64::from(*v))?,
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => {
            check_text(s)?;
            s.clone()
        }
        _ => return Ok(None),
    };
    let scale = pgtype::numeric_text_scale(&text).ok_or_else(|| invalid_text(&text))?;
    if scale > i32::from(MAX_DIGITS) {
        return Err(unsupported(format!(
            "a numeric of more than {MAX_DIGITS} decimals ('{text}')"
        )));
    }
    Ok(Some(scale as i8))
}

fn invalid_text(text: &str) -> datafusion::error::DataFusionError {
    Error::InvalidTextRepresentation {
        message: format!("invalid input syntax for type numeric: \"{text}\""),
    }
    .into()
}

fn check_text(text: &str) -> Result<()> {
    if pgtype::is_special_numeric_text(text) {
        return Err(unsupported("NaN and Infinity as numeric values"));
    }
    Ok(())
}

fn float_text(v: f64) -> Result<String> {
    pgtype::float8_numeric_text(v).ok_or_else(|| unsupported("NaN and Infinity as numeric values"))
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    )
}

impl ScalarUDFImpl for NumericCast {
    fn name(&self) -> &str {
        NUMERIC_CAST
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        internal_err!("{NUMERIC_CAST} types its result from its arguments")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        let input = args.arg_fields.first().map(|f| f.data_type().clone());
        let target = match (input, args.arg_fields.len()) {
            (Some(input), 3) => {
                let (Some(p), Some(s)) = (
                    constant_int(args.scalar_arguments.get(1).copied().flatten()),
                    constant_int(args.scalar_arguments.get(2).copied().flatten()),
                ) else {
                    return internal_err!("{NUMERIC_CAST} takes a constant precision and scale");
                };
                if !castable(&input) {
                    return Err(cannot_cast(&input));
                }
                typmod_type(p, s)?
            }
            (Some(input), 1) => match &input {
                DataType::Null => DataType::Decimal128(MAX_DIGITS, 0),
                t if t.is_integer() => DataType::Decimal128(MAX_DIGITS, 0),
                DataType::Decimal128(..) => input.clone(),
                t if t.is_floating() || is_text(t) => {
                    let scalar = args.scalar_arguments.first().copied().flatten();
                    match scalar.map(constant_scale).transpose()? {
                        Some(Some(scale)) => DataType::Decimal128(MAX_DIGITS, scale),
                        Some(None) => DataType::Decimal128(MAX_DIGITS, 0),
                        None => {
                            return Err(unsupported(format!(
                                "a cast of {} values to numeric without a scale (PostgreSQL gives \
                                 each value the scale of its own digits; write numeric(p, s), or \
                                 round(x::numeric, s))",
                                pgtype::arrow_type_name(t)
                            )));
                        }
                    }
                }
                other => return Err(cannot_cast(other)),
            },
            _ => return internal_err!("{NUMERIC_CAST} takes one or three arguments"),
        };
        Ok(Arc::new(Field::new(self.name(), target, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Decimal128(precision, scale) = *args.return_field.data_type() else {
            return internal_err!("{NUMERIC_CAST} returns a decimal");
        };
        let typmod = args.args.len() == 3;
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("{NUMERIC_CAST} takes an argument");
        };
        let scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(args.number_rows)?;
        let out = to_decimal(&array, precision, scale, typmod)?;
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

fn castable(data_type: &DataType) -> bool {
    data_type.is_null()
        || data_type.is_integer()
        || data_type.is_floating()
        || is_text(data_type)
        || matches!(data_type, DataType::Decimal128(..))
}

fn cannot_cast(data_type: &DataType) -> datafusion::error::DataFusionError {
    Error::CannotCoerce {
        from: pgtype::arrow_type_name(data_type),
        to: "numeric".into(),
    }
    .into()
}

/// PostgreSQL's error for a value too wide for `numeric(precision, scale)`,
/// or, for a numeric without a typmod, for one beyond 128 bits.
fn overflow(precision: u8, scale: i8, typmod: bool) -> datafusion::error::DataFusionError {
    if typmod {
        Error::NumericFieldOverflow { precision, scale }.into()
    } else {
        unsupported(format!("a numeric value of more than {MAX_DIGITS} digits"))
    }
}

/// `array` as `numeric(precision, scale)`, row by row.
fn to_decimal(array: &ArrayRef, precision: u8, scale: i8, typmod: bool) -> Result<ArrayRef> {
    let mut out = Decimal128Builder::with_capacity(array.len());
    let fit = |v: Option<i128>| match v {
        Some(v) if pgtype::fits_precision(v, precision) => Ok(v),
        _ => Err(overflow(precision, scale, typmod)),
    };
    match array.data_type() {
        DataType::Null => {
            return Ok(new_null_array(
                &DataType::Decimal128(precision, scale),
                array.len(),
            ));
        }
        t if t.is_integer() => {
            // Every integer type but u64 fits in i64; u64 goes through i128.
            if matches!(t, DataType::UInt64) {
                let values = array.as_primitive::<UInt64Type>();
                for v in values.iter() {
                    out.append_option(
                        v.map(|v| fit(pgtype::rescale(i128::from(v), 0, scale)))
                            .transpose()?,
                    );
                }
            } else {
                let ints = cast(array, &DataType::Int64)?;
                for v in ints.as_primitive::<Int64Type>().iter() {
                    out.append_option(
                        v.map(|v| fit(pgtype::rescale(i128::from(v), 0, scale)))
                            .transpose()?,
                    );
                }
            }
        }
        DataType::Decimal128(_, from) => {
            let from = *from;
            for v in array.as_primitive::<Decimal128Type>().iter() {
                out.append_option(
                    v.map(|v| fit(pgtype::rescale(v, from, scale)))
                        .transpose()?,
                );
            }
        }
        t if t.is_floating() => {
            let floats = cast(array, &DataType::Float64)?;
            for v in floats.as_primitive::<Float64Type>().iter() {
                let value = v
                    .map(|v| {
                        if v.is_infinite() && typmod {
                            return Err(Error::NumericFieldInfinite { precision, scale }.into());
                        }
                        let text = float_text(v)?;
                        read_text(&text, precision, scale, typmod)
                    })
                    .transpose()?;
                out.append_option(value);
            }
        }
        t if is_text(t) => {
            let text = cast(array, &DataType::Utf8)?;
            for v in text.as_string::<i32>().iter() {
                let value = v
                    .map(|v| {
                        check_text(v)?;
                        read_text(v, precision, scale, typmod)
                    })
                    .transpose()?;
                out.append_option(value);
            }
        }
        other => return Err(cannot_cast(other)),
    }
    let out: Decimal128Array = out.finish().with_precision_and_scale(precision, scale)?;
    Ok(Arc::new(out))
}

fn read_text(text: &str, precision: u8, scale: i8, typmod: bool) -> Result<i128> {
    pgtype::numeric_in(text, precision, scale).map_err(|e| match e {
        pgtype::ValueError::OutOfRange { .. } => overflow(precision, scale, typmod),
        _ => invalid_text(text),
    })
}

/// `inner` (a decimal) as a float of type `target`, converted as PostgreSQL
/// converts a numeric, from its digits (correctly rounded): Arrow's cast
/// divides by a power of ten in floating point, which can miss by a unit
/// in the last place (`956.0342718892493` became `...492`).
pub(crate) fn decimal_to_float(inner: Expr, target: DataType) -> Expr {
    if let Expr::Literal(ScalarValue::Decimal128(value, _, scale), _) = &inner {
        let text = value.map(|v| pgtype::numeric_out(v, *scale));
        let literal = match target {
            DataType::Float32 => ScalarValue::Float32(text.and_then(|t| t.parse().ok())),
            _ => ScalarValue::Float64(text.and_then(|t| t.parse().ok())),
        };
        return Expr::Literal(literal, None);
    }
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            DecimalToFloat {
                signature: Signature::any(1, Volatility::Immutable),
                target,
            },
        )),
        vec![inner],
    ))
}

/// The name of [`decimal_to_float`]'s function.
const FLOAT_CONVERSION: &str = "epochdb_numeric_float";

/// See [`decimal_to_float`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct DecimalToFloat {
    signature: Signature,
    target: DataType,
}

impl ScalarUDFImpl for DecimalToFloat {
    fn name(&self) -> &str {
        FLOAT_CONVERSION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.into_iter().next() else {
            return exec_err!("epochdb_numeric_float takes one argument");
        };
        let scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(args.number_rows)?;
        let DataType::Decimal128(_, scale) = *array.data_type() else {
            return exec_err!("epochdb_numeric_float takes a decimal");
        };
        let texts = array
            .as_primitive::<Decimal128Type>()
            .iter()
            .map(|v| v.map(|v| pgtype::numeric_out(v, scale)));
        let out: ArrayRef = match self.target {
            DataType::Float32 => Arc::new(
                texts
                    .map(|t| t.and_then(|t| t.parse::<f32>().ok()))
                    .collect::<Float32Array>(),
            ),
            _ => Arc::new(
                texts
                    .map(|t| t.and_then(|t| t.parse::<f64>().ok()))
                    .collect::<Float64Array>(),
            ),
        };
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

/// The value and scale of a constant of an integer or decimal type: a
/// literal, maybe under casts that keep its value. `Some(None)` for NULL.
fn decimal_constant(expr: &Expr) -> Option<Option<(i128, i8)>> {
    match expr {
        Expr::Literal(scalar, _) => match scalar {
            s if s.is_null() => Some(None),
            ScalarValue::Decimal128(Some(v), _, s) => Some(Some((*v, *s))),
            s if s.data_type().is_integer() => {
                match s.cast_to(&DataType::Decimal128(MAX_DIGITS, 0)).ok()? {
                    ScalarValue::Decimal128(Some(v), _, _) => Some(Some((v, 0))),
                    _ => None,
                }
            }
            _ => None,
        },
        Expr::Cast(c)
            if matches!(c.field.data_type(), DataType::Decimal128(..))
                || c.field.data_type().is_integer() =>
        {
            decimal_constant(&c.expr)
        }
        Expr::ScalarFunction(call) if call.func.name() == NUMERIC_CAST => {
            numeric_constant(&call.args)
        }
        _ => None,
    }
}

/// The value of `epochdb_numeric(args)` when its argument is a literal.
fn numeric_constant(args: &[Expr]) -> Option<Option<(i128, i8)>> {
    let Some(Expr::Literal(value, _)) = args.first() else {
        return None;
    };
    let (precision, scale, typmod) = match args {
        [_] => match value {
            s if s.is_null() => return Some(None),
            ScalarValue::Decimal128(Some(v), _, s) => return Some(Some((*v, *s))),
            s if s.data_type().is_integer() => (MAX_DIGITS, 0, false),
            s => (MAX_DIGITS, constant_scale(s).ok()??, false),
        },
        [_, Expr::Literal(p, _), Expr::Literal(s, _)] => {
            let DataType::Decimal128(p, s) =
                typmod_type(constant_int(Some(p))?, constant_int(Some(s))?).ok()?
            else {
                return None;
            };
            (p, s, true)
        }
        _ => return None,
    };
    let array = value.to_array().ok()?;
    let out = to_decimal(&array, precision, scale, typmod).ok()?;
    let out = out.as_primitive::<Decimal128Type>();
    Some(out.is_valid(0).then(|| (out.value(0), scale)))
}

/// `left / right` where either is a decimal: PostgreSQL's quotient when
/// both are constants, and refused otherwise.
pub(crate) fn constant_quotient(left: &Expr, right: &Expr) -> Result<Expr> {
    let (Some(a), Some(b)) = (decimal_constant(left), decimal_constant(right)) else {
        return Err(unsupported(
            "division of numeric values other than constants (PostgreSQL gives each quotient \
             its own scale; cast an operand to double precision)",
        ));
    };
    let value = match (a, b) {
        (Some((a, sa)), Some((b, sb))) => match pgtype::numeric_div(a, sa, b, sb) {
            Ok((q, scale)) => ScalarValue::Decimal128(Some(q), MAX_DIGITS, scale),
            Err(DivisionError::ByZero) => return Err(Error::DivisionByZero.into()),
            Err(DivisionError::TooWide) => {
                return Err(unsupported(format!(
                    "a numeric quotient of more than {MAX_DIGITS} digits"
                )));
            }
        },
        _ => ScalarValue::Decimal128(None, MAX_DIGITS, 0),
    };
    Ok(Expr::Literal(value, None))
}

/// The functions [`rounded_scale`] gives PostgreSQL's scale.
const ROUNDING_FUNCTIONS: &[&str] = &["round", "trunc", "ceil", "floor"];

/// `round`, `trunc`, `ceil` or `floor` of a decimal, with PostgreSQL's
/// scale: `round(x, n)` and `trunc(x, n)` have `n` decimals (none for a
/// negative `n`), the others none. DataFusion keeps at most the
/// argument's scale (`round(1.5, 2)` printed `1.5`, `trunc(1.789, 1)`
/// `1.700`). The value has no more decimals than that scale, so giving it
/// the scale changes no digit.
fn rounded_scale(mut call: ScalarFunction, schema: &DFSchema) -> Result<Expr> {
    let name = call.func.name().to_owned();
    // ceil and floor keep their argument's type, where a carry (ceil(9.5)
    // is 10) may need one more digit.
    if matches!(name.as_str(), "ceil" | "floor")
        && let Some(arg) = call.args.first_mut()
        && let DataType::Decimal128(p, s) = arg.get_type(schema)?
        && p < MAX_DIGITS
    {
        let taken = std::mem::replace(arg, Expr::Literal(ScalarValue::Null, None));
        *arg = Expr::Cast(datafusion::logical_expr::Cast::new(
            Box::new(taken),
            DataType::Decimal128(p + 1, s),
        ));
    }
    let places = match call.args.get(1) {
        None => 0,
        Some(places) => match decimal_constant(places) {
            Some(Some((n, 0))) => i64::try_from(n).unwrap_or(i64::MAX),
            Some(None) => 0,
            _ => {
                return Err(unsupported(format!(
                    "{name} of numeric values to a number of places that is not a constant \
                     (PostgreSQL's result has that many decimals)"
                )));
            }
        },
    };
    let target = places.max(0);
    let call = Expr::ScalarFunction(call);
    let DataType::Decimal128(precision, scale) = call.get_type(schema)? else {
        return Ok(call);
    };
    if i64::from(scale) == target {
        return Ok(call);
    }
    if target > i64::from(MAX_DIGITS) {
        return Err(unsupported(format!(
            "{name} of a numeric to more than {MAX_DIGITS} decimals"
        )));
    }
    let whole = i64::from(precision) - i64::from(scale).max(0);
    let precision = (whole + target).clamp(1, i64::from(MAX_DIGITS));
    Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            NumericCast::new(),
        )),
        vec![
            call,
            Expr::Literal(ScalarValue::Int64(Some(precision)), None),
            Expr::Literal(ScalarValue::Int64(Some(target)), None),
        ],
    )))
}

fn is_decimal(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Decimal128(..) | DataType::Decimal256(..)
    )
}

/// Functions whose PostgreSQL form for numeric arguments answers a numeric
/// of a scale chosen from the value, where DataFusion's answers a float.
const VALUE_SCALED_FUNCTIONS: &[&str] = &["sqrt", "exp", "ln", "log", "log10", "power", "pow"];

/// Aggregates likewise.
const VALUE_SCALED_AGGREGATES: &[&str] = &[
    "avg",
    "mean",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
];

/// Refuses, before type coercion, a call whose PostgreSQL answer for
/// numeric arguments has a scale of the value's own choosing; see the
/// module documentation.
fn refuse_call(expr: &Expr, schema: &DFSchema) -> Result<()> {
    let (name, args) = match expr {
        Expr::ScalarFunction(ScalarFunction { func, args })
            if VALUE_SCALED_FUNCTIONS.contains(&func.name()) =>
        {
            if func.name() == "log" && args.len() == 2 {
                return Err(unsupported(
                    "log(b, x), which PostgreSQL computes in numeric with a scale of its \
                     own choosing (use ln(x) / ln(b))",
                ));
            }
            (func.name(), args)
        }
        Expr::AggregateFunction(AggregateFunction { func, params })
            if VALUE_SCALED_AGGREGATES.contains(&func.name()) =>
        {
            (func.name(), &params.args)
        }
        Expr::WindowFunction(window) => match &window.fun {
            WindowFunctionDefinition::AggregateUDF(func)
                if VALUE_SCALED_AGGREGATES.contains(&func.name()) =>
            {
                (func.name(), &window.params.args)
            }
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    for arg in args {
        // A type that cannot be told yet is left to planning's own errors.
        if arg.get_type(schema).is_ok_and(|t| is_decimal(&t)) {
            return Err(unsupported(format!(
                "{name} of numeric values, which PostgreSQL answers with a scale chosen \
                 from the value (cast the argument to double precision)"
            )));
        }
    }
    Ok(())
}

/// `plan` as SQL planning made it, its numerics settled before type
/// coercion, so that coercion sees their true types:
///
/// - every decimal that meets a float (compared with it, or in one result
///   with it: a `CASE`, `COALESCE`, `IN` list, `BETWEEN`, `VALUES` or `UNION`
///   column) is cast to `double precision`, as PostgreSQL's implicit cast
///   from numeric to float8 does. DataFusion's coercion goes the other way,
///   to a decimal of 15 decimals, where `'Infinity'`, `NaN` and `1e308` fail
///   and `1e-20` equals zero;
/// - a quotient of constants is computed ([`constant_quotient`]);
/// - `round`, `trunc`, `ceil` and `floor` of decimals get PostgreSQL's
///   scales ([`rounded_scale`]).
pub(crate) fn settle_numerics(plan: LogicalPlan) -> Result<LogicalPlan> {
    super::plan_exprs::retype_nodes(plan, |node| {
        let node = match node {
            LogicalPlan::Values(values) => float_values(values)?,
            LogicalPlan::Union(union) => float_union(union)?,
            other => Transformed::no(other),
        };
        node.transform_data(|node| {
            let schema = input_schema(&node);
            let settled = super::plan_exprs::rewrite_node(node, |e| settle(e, &schema))?;
            let changed = settled.transformed;
            settled.transform_data(|node| match node {
                // Their schemas are not typed again from their rows and
                // inputs by themselves.
                LogicalPlan::Values(Values { values, .. }) if changed => {
                    LogicalPlanBuilder::values(values)?
                        .build()
                        .map(Transformed::yes)
                }
                LogicalPlan::Union(union) => super::plan_exprs::retype_union(union),
                other => Ok(Transformed::no(other)),
            })
        })
    })
}

/// One expression of [`settle_numerics`], its operands settled already.
fn settle(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    refuse_call(&expr, schema)?;
    let expr = to_float_where_floats(expr, schema)?;
    expr.transform_data(|expr| match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: datafusion::logical_expr::Operator::Divide,
            right,
        }) if [&left, &right]
            .iter()
            .any(|side| side.get_type(schema).is_ok_and(|t| is_decimal(&t)))
            && decimal_constant(&left).is_some()
            && decimal_constant(&right).is_some() =>
        {
            constant_quotient(&left, &right).map(Transformed::yes)
        }
        // A quotient made whole has one scale: computed as PostgreSQL
        // computes it.
        Expr::ScalarFunction(call) if let Some(rounding) = rounded_division(&call, schema) => {
            let mut args = call.args.into_iter();
            match args.next() {
                Some(Expr::BinaryExpr(BinaryExpr { left, right, .. })) => Ok(Transformed::yes(
                    numeric_quotient::call(rounding, *left, *right),
                )),
                _ => Err(unsupported("this rounding of a quotient")),
            }
        }
        Expr::ScalarFunction(call)
            if ROUNDING_FUNCTIONS.contains(&call.func.name())
                && call
                    .args
                    .first()
                    .is_some_and(|a| a.get_type(schema).is_ok_and(|t| is_decimal(&t))) =>
        {
            rounded_scale(call, schema).map(Transformed::yes)
        }
        other => Ok(Transformed::no(other)),
    })
}

/// The rounding `call` does of a quotient of numerics, if it is
/// `floor`, `ceil`, `trunc` or `round` of one (to a whole number).
fn rounded_division(call: &ScalarFunction, schema: &DFSchema) -> Option<Rounding> {
    let [Expr::BinaryExpr(BinaryExpr { left, op, right })] = call.args.as_slice() else {
        return None;
    };
    let decimal = |side: &Expr| side.get_type(schema).is_ok_and(|t| is_decimal(&t));
    let numbers = |side: &Expr| {
        side.get_type(schema)
            .is_ok_and(|t| is_decimal(&t) || t.is_integer())
    };
    (*op == datafusion::logical_expr::Operator::Divide
        && (decimal(left) || decimal(right))
        && numbers(left)
        && numbers(right))
    .then(|| Rounding::of(call.func.name()))
    .flatten()
}

/// The columns of `types` (one list per row or input) that hold both
/// floats and decimals.
fn mixed_columns(types: &[Vec<DataType>]) -> Vec<usize> {
    let width = types.iter().map(Vec::len).min().unwrap_or(0);
    (0..width)
        .filter(|&c| {
            types.iter().any(|row| row[c].is_floating())
                && types.iter().any(|row| is_decimal(&row[c]))
        })
        .collect()
}

/// A VALUES list whose columns mixing floats and decimals are floats.
fn float_values(values: Values) -> Result<Transformed<LogicalPlan>> {
    let empty = DFSchema::empty();
    // Planning may have cast the column to a decimal already.
    let Values { schema, mut values } = values;
    for row in &mut values {
        for cell in row.iter_mut() {
            if let Expr::Cast(c) = cell
                && is_decimal(c.field.data_type())
                && c.expr.get_type(&empty).is_ok_and(|t| t.is_floating())
            {
                let inner =
                    std::mem::replace(c.expr.as_mut(), Expr::Literal(ScalarValue::Null, None));
                *cell = inner;
            }
        }
    }
    let values = Values { schema, values };
    let types = values
        .values
        .iter()
        .map(|row| {
            row.iter()
                .map(|e| e.get_type(&empty))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let mixed = mixed_columns(&types);
    if mixed.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Values(values)));
    }
    let Values { schema, mut values } = values;
    for row in &mut values {
        for &c in &mixed {
            let cell = std::mem::replace(&mut row[c], Expr::Literal(ScalarValue::Null, None));
            row[c] = if is_decimal(&cell.get_type(&empty)?) {
                to_float(cell)
            } else {
                cell
            };
        }
    }
    let values = Values { schema, values };
    Ok(Transformed::yes(retype_values_columns(
        values,
        &mixed,
        &DataType::Float64,
    )?))
}

/// A UNION whose columns mixing floats and decimals are floats: each
/// input with a decimal there casts it.
fn float_union(union: Union) -> Result<Transformed<LogicalPlan>> {
    let types: Vec<Vec<DataType>> = union
        .inputs
        .iter()
        .map(|input| {
            input
                .schema()
                .fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect()
        })
        .collect();
    let mixed = mixed_columns(&types);
    if mixed.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Union(union)));
    }
    let inputs = union
        .inputs
        .into_iter()
        .map(|input| {
            let exprs: Vec<Expr> = input
                .schema()
                .iter()
                .enumerate()
                .map(|(c, (qualifier, field))| {
                    let column = Expr::Column(Column::from((qualifier, field)));
                    if mixed.contains(&c) && is_decimal(field.data_type()) {
                        to_float(column).alias(field.name())
                    } else {
                        column
                    }
                })
                .collect();
            LogicalPlanBuilder::from(input.as_ref().clone())
                .project(exprs)?
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Transformed::yes(LogicalPlan::Union(
        Union::try_new_with_loose_types(inputs)?,
    )))
}

fn to_float(expr: Expr) -> Expr {
    Expr::Cast(datafusion::logical_expr::Cast::new(
        Box::new(expr),
        DataType::Float64,
    ))
}

/// Casts the decimals of `exprs` to float when one of them is a float.
fn unify(exprs: Vec<&mut Expr>, schema: &DFSchema) -> bool {
    let types: Vec<Option<DataType>> = exprs.iter().map(|e| e.get_type(schema).ok()).collect();
    let floats = types.iter().flatten().any(DataType::is_floating);
    let decimals = types.iter().flatten().any(is_decimal);
    if !(floats && decimals) {
        return false;
    }
    for (expr, data_type) in exprs.into_iter().zip(types) {
        if data_type.as_ref().is_some_and(is_decimal) {
            let taken = std::mem::replace(expr, Expr::Literal(ScalarValue::Null, None));
            *expr = to_float(taken);
        }
    }
    true
}

fn to_float_where_floats(mut expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let changed = match &mut expr {
        // PostgreSQL's to_timestamp of a number takes a float8.
        Expr::ScalarFunction(call)
            if call.func.name() == "to_timestamp"
                && call.args.len() == 1
                && call.args[0].get_type(schema).is_ok_and(|t| is_decimal(&t)) =>
        {
            let arg = std::mem::replace(&mut call.args[0], Expr::Literal(ScalarValue::Null, None));
            call.args[0] = to_float(arg);
            true
        }
        Expr::BinaryExpr(BinaryExpr { left, right, .. }) => {
            unify(vec![left.as_mut(), right.as_mut()], schema)
        }
        Expr::InList(list) => {
            let mut all = vec![list.expr.as_mut()];
            all.extend(list.list.iter_mut());
            unify(all, schema)
        }
        Expr::Between(between) => unify(
            vec![
                between.expr.as_mut(),
                between.low.as_mut(),
                between.high.as_mut(),
            ],
            schema,
        ),
        Expr::Case(case) => {
            let mut results: Vec<&mut Expr> = Vec::new();
            let mut compared: Vec<&mut Expr> = Vec::new();
            let has_operand = case.expr.is_some();
            if let Some(operand) = case.expr.as_mut() {
                compared.push(operand.as_mut());
            }
            for (when, then) in case.when_then_expr.iter_mut() {
                if has_operand {
                    compared.push(when.as_mut());
                }
                results.push(then.as_mut());
            }
            if let Some(otherwise) = case.else_expr.as_mut() {
                results.push(otherwise.as_mut());
            }
            let a = unify(results, schema);
            unify(compared, schema) || a
        }
        Expr::ScalarFunction(call)
            if matches!(
                call.func.name(),
                "coalesce" | "nullif" | "greatest" | "least" | "make_array" | "nvl" | "ifnull"
            ) =>
        {
            unify(call.args.iter_mut().collect(), schema)
        }
        _ => false,
    };
    Ok(if changed {
        Transformed::yes(expr)
    } else {
        Transformed::no(expr)
    })
}

/// Refuses, in an analyzed `plan`, a value widened to a larger decimal
/// scale where the widening would show in the answer; see the module
/// documentation.
pub(crate) fn check_scales(plan: &LogicalPlan) -> Result<()> {
    plan.apply_with_subqueries(|node| {
        let schema = input_schema(node);
        node.apply_expressions(|e| {
            check_expr(e, &schema, false)?;
            Ok(TreeNodeRecursion::Continue)
        })
    })?;
    Ok(())
}

/// Whether the cast of `inner` to `target` adds decimals `inner` did not
/// print.
fn widens_scale(inner: &Expr, target: &DataType, schema: &DFSchema) -> bool {
    let DataType::Decimal128(_, to) = target else {
        return false;
    };
    let from = match inner.get_type(schema) {
        Ok(DataType::Decimal128(_, s)) => s.max(0),
        Ok(t) if t.is_integer() => 0,
        _ => return false,
    };
    *to > from
}

/// Checks `expr`; `compared` says it is an operand of arithmetic or a
/// comparison, or cast to a float or an integer, where a widened scale
/// changes no answer.
fn check_expr(expr: &Expr, schema: &DFSchema, compared: bool) -> Result<()> {
    // A float made a decimal by type coercion (a UNION or VALUES column of
    // both): PostgreSQL makes the decimal a float.
    if let Expr::Cast(c) = expr
        && is_decimal(c.field.data_type())
        && c.expr.get_type(schema).is_ok_and(|t| t.is_floating())
    {
        return Err(unsupported(
            "double precision and numeric values in one result column (cast the numeric \
             values to double precision)",
        ));
    }
    // A decimal given fewer decimals than it has would be rounded: only a
    // cast the statement wrote (`numeric(p, s)`, a call) may do that.
    if let Expr::Cast(c) = expr
        && let DataType::Decimal128(_, to) = c.field.data_type()
        && let Ok(DataType::Decimal128(_, from)) = c.expr.get_type(schema)
        && to < &from
    {
        return Err(unsupported(
            "numeric values of different scales in one result column (PostgreSQL prints each \
             with its own scale; cast them to one numeric(p, s))",
        ));
    }
    if let Expr::Cast(c) = expr
        && !compared
        && widens_scale(&c.expr, c.field.data_type(), schema)
    {
        return Err(unsupported(
            "numeric values of different scales in one result column (PostgreSQL prints each \
             with its own scale; cast them to one numeric(p, s))",
        ));
    }
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            // Arithmetic and comparisons (the operators with a negation).
            let operands = op.is_numerical_operators() || op.negate().is_some();
            check_expr(left, schema, operands)?;
            check_expr(right, schema, operands)
        }
        Expr::InList(list) => {
            check_expr(&list.expr, schema, true)?;
            list.list
                .iter()
                .try_for_each(|item| check_expr(item, schema, true))
        }
        Expr::Between(between) => {
            check_expr(&between.expr, schema, true)?;
            check_expr(&between.low, schema, true)?;
            check_expr(&between.high, schema, true)
        }
        Expr::Case(case) => {
            if let Some(operand) = &case.expr {
                check_expr(operand, schema, true)?;
            }
            for (when, then) in &case.when_then_expr {
                check_expr(when, schema, case.expr.is_some())?;
                check_expr(then, schema, false)?;
            }
            match &case.else_expr {
                Some(otherwise) => check_expr(otherwise, schema, false),
                None => Ok(()),
            }
        }
        // A scale does not show in a float or an integer.
        Expr::Cast(c) => {
            let target = c.field.data_type();
            check_expr(&c.expr, schema, target.is_floating() || target.is_integer())
        }
        other => {
            // The exact conversion to a float is a cast to a float, and
            // `width_bucket` only compares its arguments.
            let scale_hidden = matches!(other, Expr::ScalarFunction(f)
                if [FLOAT_CONVERSION, "width_bucket"].contains(&f.func.name()));
            let mut result = Ok(());
            other.apply_children(|child| {
                result = check_expr(child, schema, scale_hidden);
                Ok(if result.is_ok() {
                    TreeNodeRecursion::Continue
                } else {
                    TreeNodeRecursion::Stop
                })
            })?;
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        super::super::rewritten_by(sql, rewrite)
    }

    #[test]
    fn casts_to_numeric_become_calls() {
        assert_eq!(
            rewritten("SELECT x::numeric, CAST(y AS decimal(5,2)), z::numeric(4)"),
            "SELECT epochdb_numeric(x), epochdb_numeric(y, 5, 2), epochdb_numeric(z, 4, 0)"
        );
        assert_eq!(
            rewritten("SELECT round(avg(x)::numeric, 2), round(x::numeric), round(x::numeric, y)"),
            "SELECT round(epochdb_numeric(avg(x), 38, 2), 2), round(epochdb_numeric(x)), \
             round(epochdb_numeric(x), y)"
        );
        assert_eq!(
            rewritten("SELECT numeric '1.50'"),
            "SELECT epochdb_numeric('1.50')"
        );
        assert_eq!(rewritten("SELECT $1::numeric"), "SELECT $1::NUMERIC");
        assert_eq!(
            rewritten("SELECT $1::numeric(5,2)"),
            "SELECT epochdb_numeric($1::NUMERIC, 5, 2)"
        );
        assert_eq!(rewritten("SELECT x::float8"), "SELECT x::FLOAT8");
        assert_eq!(
            rewritten("SELECT 1.5e-3, 1e5, 2.5, 1e308"),
            "SELECT 0.0015, epochdb_numeric('100000'), 2.5, '1e308'::DOUBLE PRECISION"
        );
    }
}
