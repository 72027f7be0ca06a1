//! Parameters of the types the client declared. PostgreSQL takes a type
//! given at Parse as the parameter's type; only unspecified ones are
//! inferred from the statement. DataFusion infers every one, so a declared
//! type becomes a cast around its placeholder: `SELECT 10 - $1` with a
//! `float8` parameter computes in `float8`, not in the integer the `10`
//! suggests.

use std::ops::ControlFlow;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::sql::sqlparser::ast::{
    self, CastKind, Expr, Statement, TimezoneInfo, Value, visit_expressions_mut,
};

/// Wraps each placeholder `$n` whose type the client declared in a cast to
/// that type.
pub(crate) fn declare_types(statement: &mut Statement, declared: &[Option<DataType>]) {
    let declared: Vec<Option<ast::DataType>> = declared
        .iter()
        .map(|d| d.as_ref().and_then(sql_type))
        .collect();
    declare_sql_types(statement, &declared);
}

/// Wraps each placeholder `$n` in a cast to the `n`th type of `declared`,
/// where one is given: the types of SQL's `PREPARE name (types) AS ...`.
pub(crate) fn declare_sql_types(statement: &mut Statement, declared: &[Option<ast::DataType>]) {
    if declared.iter().all(Option::is_none) {
        return;
    }
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Value(value) = expr
            && let Value::Placeholder(name) = &value.value
            && let Some(index) = name.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            && let Some(Some(data_type)) = index.checked_sub(1).and_then(|i| declared.get(i))
        {
            let data_type = data_type.clone();
            let placeholder = std::mem::replace(expr, Expr::Value(Value::Null.into()));
            *expr = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(placeholder),
                data_type,
                array: false,
                format: None,
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The SQL spelling of an Arrow type a parameter can be declared as.
pub(crate) fn sql_type(data_type: &DataType) -> Option<ast::DataType> {
    Some(match data_type {
        DataType::Boolean => ast::DataType::Boolean,
        DataType::Int16 => ast::DataType::SmallInt(None),
        DataType::Int32 => ast::DataType::Integer(None),
        DataType::Int64 => ast::DataType::BigInt(None),
        DataType::Float32 => ast::DataType::Real,
        DataType::Float64 => ast::DataType::DoublePrecision,
        DataType::Utf8 => ast::DataType::Text,
        DataType::Binary => ast::DataType::Bytea,
        DataType::Date32 => ast::DataType::Date,
        DataType::Decimal128(..) => ast::DataType::Numeric(ast::ExactNumberInfo::None),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            ast::DataType::Timestamp(None, TimezoneInfo::WithoutTimeZone)
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            ast::DataType::Timestamp(None, TimezoneInfo::WithTimeZone)
        }
        DataType::List(element) => ast::DataType::Array(ast::ArrayElemTypeDef::SquareBracket(
            Box::new(sql_type(element.data_type())?),
            None,
        )),
        _ => return None,
    })
}
