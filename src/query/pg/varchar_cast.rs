//! An explicit cast to `varchar(n)` keeps the first n characters, as
//! PostgreSQL's does (`'abcdef'::varchar(3)` is `abc`). DataFusion has one
//! text type and drops the length, so the statement's cast becomes
//! `left(CAST(x AS varchar), n)` before planning. (A `varchar(n)` column
//! checks its length when a value is stored: storage's `fit_text`.)

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, CharacterLength, DataType, Expr, VisitMut, VisitorMut,
};

use super::at_time_zone::function_call;

/// Turns every `CAST(x AS varchar(n))` of `statement` into the truncation.
pub(crate) fn rewrite(statement: &mut ast::Statement) {
    let _ = statement.visit(&mut Rewriter);
}

struct Rewriter;

/// The length of `varchar(n)`, if `data_type` is one.
fn length(data_type: &DataType) -> Option<u64> {
    match data_type {
        DataType::Varchar(Some(CharacterLength::IntegerLength { length, .. }))
        | DataType::CharacterVarying(Some(CharacterLength::IntegerLength { length, .. })) => {
            Some(*length)
        }
        _ => None,
    }
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Cast { data_type, .. } = expr else {
            return ControlFlow::Continue(());
        };
        let Some(n) = length(data_type) else {
            return ControlFlow::Continue(());
        };
        let placeholder = Expr::Value(ast::Value::Null.into());
        if let Expr::Cast {
            kind,
            expr: inner,
            array,
            format,
            ..
        } = std::mem::replace(expr, placeholder)
        {
            let text = Expr::Cast {
                kind,
                expr: inner,
                data_type: DataType::Varchar(None),
                array,
                format,
            };
            let n = Expr::Value(ast::Value::Number(n.to_string(), false).into());
            *expr = function_call("left", vec![text, n]);
        }
        ControlFlow::Continue(())
    }
}
