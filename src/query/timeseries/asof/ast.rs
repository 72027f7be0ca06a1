//! The SQL rewrite: every `ASOF JOIN` becomes a LEFT JOIN whose ON carries
//! the match condition as a call of the marker.

use std::ops::ControlFlow;

use datafusion::common::Result;
use datafusion::sql::sqlparser::ast;

use super::functions::MARKER;
use crate::query::error::Error;

// The SQL rewrite.

pub(super) fn unsupported_error(what: impl Into<String>) -> Error {
    Error::Unsupported { what: what.into() }
}

/// Rewrites every `ASOF JOIN` in `statement` as a LEFT JOIN carrying its
/// match condition in a marker call, for [`AsofRule`](super::rule::AsofRule) to find.
pub(crate) fn rewrite_joins(statement: &mut ast::Statement) -> Result<(), Error> {
    struct Rewriter(Option<Error>);
    impl ast::VisitorMut for Rewriter {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut ast::Query) -> ControlFlow<()> {
            match rewrite_set_expr(&mut query.body) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    self.0 = Some(e);
                    ControlFlow::Break(())
                }
            }
        }
    }
    let mut rewriter = Rewriter(None);
    let _ = ast::VisitMut::visit(statement, &mut rewriter);
    rewriter.0.map_or(Ok(()), Err)
}

pub(super) fn rewrite_set_expr(body: &mut ast::SetExpr) -> Result<(), Error> {
    match body {
        ast::SetExpr::Select(select) => {
            for from in &mut select.from {
                for join in &mut from.joins {
                    rewrite_join(join)?;
                }
            }
            Ok(())
        }
        ast::SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left)?;
            rewrite_set_expr(right)
        }
        _ => Ok(()),
    }
}

pub(super) fn rewrite_join(join: &mut ast::Join) -> Result<(), Error> {
    let ast::JoinOperator::AsOf {
        match_condition,
        constraint,
    } = &join.join_operator
    else {
        return Ok(());
    };
    let marker = marker_call(match_condition)?;
    let on = match constraint {
        ast::JoinConstraint::On(on) => ast::Expr::BinaryOp {
            left: Box::new(ast::Expr::Nested(Box::new(on.clone()))),
            op: ast::BinaryOperator::And,
            right: Box::new(marker),
        },
        ast::JoinConstraint::None => marker,
        _ => {
            return Err(unsupported_error(
                "ASOF JOIN with USING or NATURAL (write ON a.key = b.key)",
            ));
        }
    };
    join.join_operator = ast::JoinOperator::LeftOuter(ast::JoinConstraint::On(on));
    Ok(())
}

pub(super) fn shape_error() -> Error {
    unsupported_error(
        "this MATCH_CONDITION: it takes one comparison (>=, >, <=, <) of a left and a right \
         time, optionally ANDed with a tolerance such as `a.time - b.time <= INTERVAL '1 minute'`",
    )
}

pub(super) fn strip_nested(expr: &ast::Expr) -> &ast::Expr {
    match expr {
        ast::Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}

/// `left op right` with op one of >=, >, <=, <.
pub(super) fn comparison(e: &ast::Expr) -> Option<(&ast::Expr, &'static str, &ast::Expr)> {
    let ast::Expr::BinaryOp { left, op, right } = e else {
        return None;
    };
    let op = match op {
        ast::BinaryOperator::GtEq => ">=",
        ast::BinaryOperator::Gt => ">",
        ast::BinaryOperator::LtEq => "<=",
        ast::BinaryOperator::Lt => "<",
        _ => return None,
    };
    Some((strip_nested(left), op, strip_nested(right)))
}

/// `epochdb_asof(first, second, 'op' [, tolerance])` from a match condition
/// `first op second [AND tolerance]`.
pub(super) fn marker_call(condition: &ast::Expr) -> Result<ast::Expr, Error> {
    let mut conjuncts = Vec::new();
    fn split<'a>(e: &'a ast::Expr, out: &mut Vec<&'a ast::Expr>) {
        match strip_nested(e) {
            ast::Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::And,
                right,
            } => {
                split(left, out);
                split(right, out);
            }
            other => out.push(other),
        }
    }
    split(condition, &mut conjuncts);
    let (main, tolerance) = match conjuncts.as_slice() {
        [one] => (comparison(one).ok_or_else(shape_error)?, None),
        [one, two] => {
            // The tolerance is the one whose side is a difference.
            let is_difference = |e: &ast::Expr| {
                comparison(e).is_some_and(|(l, _, r)| {
                    matches!(
                        l,
                        ast::Expr::BinaryOp {
                            op: ast::BinaryOperator::Minus,
                            ..
                        }
                    ) || matches!(
                        r,
                        ast::Expr::BinaryOp {
                            op: ast::BinaryOperator::Minus,
                            ..
                        }
                    )
                })
            };
            let (main, tolerance) = if is_difference(two) {
                (one, two)
            } else {
                (two, one)
            };
            (
                comparison(main).ok_or_else(shape_error)?,
                Some(comparison(tolerance).ok_or_else(shape_error)?),
            )
        }
        _ => return Err(shape_error()),
    };
    let (first, op, second) = main;
    let tolerance = match tolerance {
        None => None,
        Some((l, op, r)) => {
            // `p - q <= tol` or `tol >= p - q`, p and q the two times.
            let (difference, bound) = match op {
                "<=" | "<" => (l, r),
                _ => (r, l),
            };
            let ast::Expr::BinaryOp {
                left: p,
                op: ast::BinaryOperator::Minus,
                right: q,
            } = strip_nested(difference)
            else {
                return Err(shape_error());
            };
            let (p, q) = (strip_nested(p), strip_nested(q));
            if !((p == first && q == second) || (p == second && q == first)) {
                return Err(shape_error());
            }
            Some(bound.clone())
        }
    };
    let arg = |e: ast::Expr| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e));
    let mut args = vec![
        arg(first.clone()),
        arg(second.clone()),
        arg(ast::Expr::Value(
            ast::Value::SingleQuotedString(op.to_owned()).into(),
        )),
    ];
    if let Some(tolerance) = tolerance {
        args.push(arg(tolerance));
    }
    Ok(ast::Expr::Function(ast::Function {
        name: ast::ObjectName::from(vec![ast::Ident::new(MARKER)]),
        uses_odbc_syntax: false,
        parameters: ast::FunctionArguments::None,
        args: ast::FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }))
}
