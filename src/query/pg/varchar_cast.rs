//! An explicit cast to `varchar(n)` keeps the first n characters, as
//! PostgreSQL's does (`'abcdef'::varchar(3)` is `abc`). DataFusion has one
//! text type and drops the length, so the statement's cast becomes
//! `left(CAST(x AS varchar), n)` before planning. (A `varchar(n)` column
//! checks its length when a value is stored: storage's `fit_text`.)
//!
//! A cast to `char(n)` (blank-padded `character`) is refused (0A000).
//!
//! `pg_typeof(x)::text` calls the plain-text form of `pg_typeof`, whose
//! result is otherwise a `regtype`.
//!
//! A cast to `float` is PostgreSQL's `double precision`, and to `float(p)`
//! a `real` for 1 to 24 bits and a `double precision` for 25 to 53 (other
//! precisions are 22023); DataFusion reads every `float` as a `real`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, CharacterLength, DataType, ExactNumberInfo, Expr, VisitMut, VisitorMut,
};

use super::at_time_zone::function_call;
use super::type_of::PG_TYPEOF_TEXT;
use crate::query::error::{Error, Result};

/// Turns every `CAST(x AS varchar(n))` of `statement` into the truncation,
/// and every cast to `float` into one to the type PostgreSQL means.
pub(crate) fn rewrite(statement: &mut ast::Statement) -> Result<()> {
    match statement.visit(&mut Rewriter) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewriter;

/// The type PostgreSQL reads `float(p)` as.
fn float_type(precision: &ExactNumberInfo) -> Result<DataType> {
    match precision {
        ExactNumberInfo::None => Ok(DataType::DoublePrecision),
        ExactNumberInfo::Precision(0) | ExactNumberInfo::PrecisionAndScale(0, _) => {
            Err(Error::InvalidParameterValue {
                message: "precision for type float must be at least 1 bit".into(),
            })
        }
        ExactNumberInfo::Precision(1..=24) => Ok(DataType::Real),
        ExactNumberInfo::Precision(25..=53) => Ok(DataType::DoublePrecision),
        _ => Err(Error::InvalidParameterValue {
            message: "precision for type float must be less than 54 bits".into(),
        }),
    }
}

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
    type Break = Error;

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Error> {
        if let Expr::Cast { data_type, .. } | Expr::TypedString(ast::TypedString { data_type, .. }) =
            expr
            && let DataType::Float(precision) = data_type
        {
            match float_type(precision) {
                Ok(float) => *data_type = float,
                Err(error) => return ControlFlow::Break(error),
            }
        }
        // `pg_typeof(x)::text` is the name as text, no longer a `regtype`.
        if let Expr::Cast {
            expr: inner,
            data_type: DataType::Text | DataType::Varchar(None) | DataType::CharacterVarying(None),
            ..
        } = expr
            && let Expr::Function(function) = inner.as_mut()
            && let [part] = function.name.0.as_slice()
            && part
                .as_ident()
                .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_typeof"))
        {
            function.name = ast::ObjectName::from(vec![ast::Ident::new(PG_TYPEOF_TEXT)]);
            let call = std::mem::replace(inner.as_mut(), Expr::Value(ast::Value::Null.into()));
            *expr = call;
        }
        // `char(n)` pads and cuts to n characters and is a type of its own
        // (`bpchar`); DataFusion reads it as text, so it is refused.
        if let Expr::Cast { data_type, .. } | Expr::TypedString(ast::TypedString { data_type, .. }) =
            expr
            && matches!(data_type, DataType::Char(_) | DataType::Character(_))
        {
            return ControlFlow::Break(Error::Unsupported {
                what: "the type character (char(n), blank-padded); use varchar(n) or text".into(),
            });
        }
        // `character varying` is `varchar`, which DataFusion reads.
        if let Expr::Cast { data_type, .. } = expr
            && matches!(data_type, DataType::CharacterVarying(None))
        {
            *data_type = DataType::Varchar(None);
        }
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
