//! Column defaults as expressions: the SQL text a column's `DEFAULT` is
//! stored as, read back for `INSERT` and `COPY`, and the `nextval('s')`
//! calls in it, which name a sequence by a string (maybe cast to
//! `regclass`, as PostgreSQL shows a `SERIAL`'s default).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DataType as SqlType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::parser::Parser;

use crate::query::error::{Error, Result};
use crate::query::pg::dialect::PostgresDialect;

/// A column's default as an expression; NULL without one.
pub(crate) fn default_expr(text: Option<&str>) -> Result<Expr> {
    let Some(text) = text else {
        return Ok(Expr::Value(Value::Null.into()));
    };
    let mut expr = Parser::new(&PostgresDialect::default())
        .try_with_sql(text)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|e| Error::InvalidParameterValue {
            message: format!("the default {text} does not parse: {e}"),
        })?;
    // `nextval('s'::regclass)`, as a `SERIAL`'s default reads, names its
    // sequence by the string.
    let _ = visit_expressions_mut(&mut expr, |e| {
        if nextval_argument(e).is_some()
            && let Expr::Function(function) = e
            && let FunctionArguments::List(list) = &mut function.args
            && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(argument))) =
                list.args.first_mut()
        {
            *argument = regclass_operand(argument).clone();
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(expr)
}

/// The sequence a `nextval('name')` call names, written as a string.
pub(crate) fn nextval_argument(expr: &Expr) -> Option<String> {
    let Expr::Function(function) = expr else {
        return None;
    };
    if !function.name.to_string().eq_ignore_ascii_case("nextval") {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(argument))] = list.args.as_slice() else {
        return None;
    };
    string_literal(regclass_operand(argument))
}

/// `'name'::regclass` as `'name'`; anything else as it is.
pub(crate) fn regclass_operand(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast {
            expr: inner,
            data_type: SqlType::Regclass,
            ..
        } => inner,
        Expr::Cast {
            expr: inner,
            data_type: SqlType::Custom(name, _),
            ..
        } if name.to_string().eq_ignore_ascii_case("regclass") => inner,
        other => other,
    }
}

fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}
