//! PostgreSQL operators and functions DataFusion has under another
//! spelling, respelled before planning (the columns keep PostgreSQL's
//! names, which come from the statement as written):
//!
//! - `|/ x` and `||/ x` are `sqrt` and `cbrt` of a `double precision`,
//!   the only type PostgreSQL has them for;
//! - `@ x` is `abs(x)`, and `~ x` (bitwise not) is `x # -1`;
//! - `a && b` (arrays overlap) is `array_has_any(a, b)`, the NULL elements
//!   of `a` removed first;
//! - `ceiling(x)` is `ceil(x)`;
//! - `num_nulls(...)` and `num_nonnulls(...)` count their NULL and non-NULL
//!   arguments, as an `integer`;
//! - `isfinite(x)` is true for any value that is not NULL: EpochDB's dates,
//!   timestamps and intervals have no infinities.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, ObjectName, UnaryOperator, Value,
};

use datafusion::sql::sqlparser::parser::Parser;

use super::at_time_zone::function_call;
use super::dialect::PostgresDialect;
use super::numeric::number;

fn cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr),
        data_type,
        array: false,
        format: None,
    }
}

/// `expr`, moved out, a NULL left in its place.
pub(crate) fn take(expr: &mut Expr) -> Expr {
    std::mem::replace(expr, Expr::Value(Value::Null.into()))
}

/// The plain arguments of a call of `name` (case-insensitive, unqualified),
/// if `expr` is one.
fn call_args<'a>(expr: &'a mut Expr, names: &[&str]) -> Option<(String, Vec<&'a mut Expr>)> {
    let Expr::Function(function) = expr else {
        return None;
    };
    let name = match function.name.0.as_slice() {
        [part] => part.as_ident()?.value.to_ascii_lowercase(),
        _ => return None,
    };
    if !names.contains(&name.as_str()) || function.over.is_some() || function.filter.is_some() {
        return None;
    }
    let FunctionArguments::List(list) = &mut function.args else {
        return None;
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    let args = list
        .args
        .iter_mut()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((name, args))
}

/// Respells `expr` (see the module documentation).
pub(crate) fn rewrite(expr: &mut Expr) {
    match expr {
        Expr::UnaryOp {
            op: op @ (UnaryOperator::PGSquareRoot | UnaryOperator::PGCubeRoot),
            expr: operand,
        } => {
            let function = if *op == UnaryOperator::PGSquareRoot {
                "sqrt"
            } else {
                "cbrt"
            };
            let operand = cast(take(operand), DataType::DoublePrecision);
            *expr = function_call(function, vec![operand]);
        }
        Expr::UnaryOp {
            op: UnaryOperator::PGAbs,
            expr: operand,
        } => {
            *expr = function_call("abs", vec![take(operand)]);
        }
        Expr::UnaryOp {
            op: UnaryOperator::BitwiseNot,
            expr: operand,
        } => {
            let operand = take(operand);
            *expr = Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(operand))),
                op: BinaryOperator::PGBitwiseXor,
                right: Box::new(number(-1)),
            }));
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::PGOverlap,
            right,
        } => {
            // PostgreSQL's overlap never matches a NULL element with another.
            let left = function_call(
                "array_remove",
                vec![take(left), Expr::Value(Value::Null.into())],
            );
            *expr = function_call("array_has_any", vec![left, take(right)]);
        }
        _ => {
            let Some((name, mut args)) =
                call_args(expr, &["ceiling", "num_nulls", "num_nonnulls", "isfinite"])
            else {
                return;
            };
            match name.as_str() {
                "ceiling" => {
                    if let Expr::Function(function) = expr {
                        function.name = ObjectName::from(vec![Ident::new("ceil")]);
                    }
                }
                "isfinite" => {
                    let [value] = args.as_mut_slice() else {
                        return;
                    };
                    let sql = format!("CASE WHEN ({value}) IS NULL THEN NULL ELSE true END");
                    if let Ok(finite) = Parser::new(&PostgresDialect::default())
                        .try_with_sql(&sql)
                        .and_then(|mut p| p.parse_expr())
                    {
                        *expr = finite;
                    }
                }
                _ => {
                    if args.is_empty() {
                        return;
                    }
                    let nulls = name == "num_nulls";
                    let counted = args.iter_mut().map(|arg| {
                        let operand = Box::new(take(arg));
                        let test = if nulls {
                            Expr::IsNull(operand)
                        } else {
                            Expr::IsNotNull(operand)
                        };
                        cast(test, DataType::Integer(None))
                    });
                    let sum = counted
                        .reduce(|a, b| Expr::BinaryOp {
                            left: Box::new(a),
                            op: BinaryOperator::Plus,
                            right: Box::new(b),
                        })
                        .unwrap_or_else(|| number(0));
                    *expr = Expr::Nested(Box::new(sum));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use datafusion::sql::sqlparser::ast::visit_expressions_mut;

    use super::*;
    use crate::query::pg::rewritten_by;

    fn respelled(sql: &str) -> String {
        rewritten_by(sql, |statement| {
            let _ = visit_expressions_mut(statement, |e: &mut Expr| {
                rewrite(e);
                ControlFlow::<()>::Continue(())
            });
        })
    }

    #[test]
    fn operators_become_functions() {
        assert_eq!(
            respelled("SELECT |/ 16, ||/ x, ~7, a && b"),
            "SELECT sqrt(CAST(16 AS DOUBLE PRECISION)), cbrt(CAST(x AS DOUBLE PRECISION)), \
             ((7) # -1), array_has_any(array_remove(a, NULL), b)"
        );
    }

    #[test]
    fn functions_become_expressions() {
        assert_eq!(
            respelled("SELECT ceiling(x), num_nulls(a, NULL), num_nonnulls(b)"),
            "SELECT ceil(x), (CAST(a IS NULL AS INTEGER) + CAST(NULL IS NULL AS INTEGER)), \
             (CAST(b IS NOT NULL AS INTEGER))"
        );
    }
}
