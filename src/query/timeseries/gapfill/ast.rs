//! The AST pass before planning: named arguments of the gap-filling
//! functions (`start => ...`) become positional ones.

use std::ops::ControlFlow;

use datafusion::arrow::array::timezone::Tz;
use datafusion::common::Result;
use datafusion::sql::sqlparser::ast;

use super::functions::{GAPFILL, INTERPOLATE, LOCF};
use crate::query::error::Error;

/// The parameters of the gap-filling functions, in order, as TimescaleDB
/// names them.
pub(super) fn parameter_names(function: &str) -> Option<&'static [&'static str]> {
    match function {
        GAPFILL => Some(&["bucket_width", "ts", "timezone", "start", "finish"]),
        LOCF => Some(&["value", "prev", "treat_null_as_missing"]),
        INTERPOLATE => Some(&["value", "prev", "next"]),
        _ => None,
    }
}

/// Rewrites named arguments of the gap-filling functions (`start => ...`)
/// as positional ones, with NULL for those left out, which DataFusion's
/// named arguments cannot skip.
pub(crate) fn positional_arguments(statement: &mut ast::Statement) -> Result<(), Error> {
    let mut error = None;
    let _ = ast::visit_expressions_mut(statement, |expr| {
        if let ast::Expr::Function(function) = expr
            && let Err(e) = name_to_position(function)
        {
            error = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    error.map_or(Ok(()), Err)
}

pub(super) fn is_zone_name(arg: &ast::FunctionArgExpr) -> bool {
    matches!(
        arg,
        ast::FunctionArgExpr::Expr(ast::Expr::Value(value))
            if matches!(&value.value, ast::Value::SingleQuotedString(name) if name.parse::<Tz>().is_ok())
    )
}

pub(super) fn name_to_position(function: &mut ast::Function) -> Result<(), Error> {
    let Some(name) = function.name.0.last().and_then(|p| p.as_ident()) else {
        return Ok(());
    };
    let function_name = name.value.to_ascii_lowercase();
    let Some(names) = parameter_names(&function_name) else {
        return Ok(());
    };
    let ast::FunctionArguments::List(list) = &mut function.args else {
        return Ok(());
    };
    let named = |arg: &ast::FunctionArg| match arg {
        ast::FunctionArg::Named { name, .. } => Some(name.value.clone()),
        ast::FunctionArg::ExprNamed {
            name: ast::Expr::Identifier(name),
            ..
        } => Some(name.value.clone()),
        _ => None,
    };
    if !list.args.iter().any(|a| named(a).is_some()) {
        return Ok(());
    }
    let mut slots: Vec<Option<ast::FunctionArgExpr>> = vec![None; names.len()];
    let mut next = 0;
    for arg in list.args.drain(..) {
        let (slot, value) = match named(&arg) {
            Some(given) => {
                let slot = names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(&given))
                    .ok_or_else(|| Error::InvalidParameterValue {
                        message: format!("{function_name} has no parameter named \"{given}\""),
                    })?;
                let (ast::FunctionArg::Named { arg, .. } | ast::FunctionArg::ExprNamed { arg, .. }) =
                    arg
                else {
                    continue;
                };
                (slot, arg)
            }
            None => {
                let ast::FunctionArg::Unnamed(arg) = arg else {
                    continue;
                };
                // Positional arguments after the time are the time zone
                // (a zone's name), then the start and the finish.
                if function_name == GAPFILL && next == 2 && !is_zone_name(&arg) {
                    next = 3;
                }
                next += 1;
                (next - 1, arg)
            }
        };
        let Some(place) = slots.get_mut(slot) else {
            return Err(Error::InvalidParameterValue {
                message: format!("{function_name} takes at most {} arguments", names.len()),
            });
        };
        if place.replace(value).is_some() {
            return Err(Error::InvalidParameterValue {
                message: format!("{function_name}: argument \"{}\" given twice", names[slot]),
            });
        }
    }
    let last = slots.iter().rposition(Option::is_some).unwrap_or(0);
    list.args = slots
        .into_iter()
        .take(last + 1)
        .map(|slot| {
            ast::FunctionArg::Unnamed(slot.unwrap_or(ast::FunctionArgExpr::Expr(ast::Expr::Value(
                ast::Value::Null.into(),
            ))))
        })
        .collect();
    Ok(())
}
