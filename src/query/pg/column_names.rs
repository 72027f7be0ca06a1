//! Result column names as PostgreSQL chooses them.
//!
//! DataFusion names an unaliased expression after its full text
//! (`count(*)`, `avg(cpu.usage_user)`, `Int64(1)`); PostgreSQL names it after
//! the function, column or cast type (`count`, `avg`, `int4`), and `?column?`
//! otherwise. Clients and ORMs read columns by these names, so the names of a
//! query's output follow PostgreSQL's rules (its `FigureColname`).

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, Query, SelectItem, SetExpr, Statement,
};

use crate::query::commands::names::normalize;

/// The output column names PostgreSQL would give `statement`, where they can be
/// told from the text alone; `None` leaves DataFusion's names.
///
/// `columns` is the number of output columns of the plan, needed to expand a
/// single `*`.
pub(crate) fn postgres_names(statement: &Statement, columns: usize) -> Option<Vec<Option<String>>> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let items = select_items(query)?;
    let wildcards = items
        .iter()
        .filter(|i| {
            matches!(
                i,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        })
        .count();
    let named = items.len() - wildcards;
    if wildcards > 1 || columns < named || (wildcards == 0 && columns != named) {
        return None;
    }
    let mut names = Vec::with_capacity(columns);
    for item in items {
        match item {
            // Columns from `*` keep their (already correct) table column names.
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                names.extend(std::iter::repeat_n(None, columns - named));
            }
            SelectItem::UnnamedExpr(expr) => {
                names.push(Some(figure(expr).unwrap_or_else(|| "?column?".to_owned())))
            }
            SelectItem::ExprWithAlias { alias, .. } => names.push(Some(normalize(alias))),
            SelectItem::ExprWithAliases { .. } => return None,
        }
    }
    Some(names)
}

/// The SELECT list that names the output: the leftmost SELECT of the query.
fn select_items(query: &Query) -> Option<&[SelectItem]> {
    let mut body = query.body.as_ref();
    loop {
        match body {
            SetExpr::Select(select) => return Some(&select.projection),
            SetExpr::Query(inner) => body = inner.body.as_ref(),
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            _ => return None,
        }
    }
}

/// PostgreSQL's name for an expression, or `None` for `?column?`.
fn figure(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(normalize(ident)),
        Expr::CompoundIdentifier(parts) => parts.last().map(normalize),
        Expr::Function(function) => function
            .name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(normalize),
        Expr::Cast {
            kind,
            expr,
            data_type,
            ..
        } => match (figure(expr), kind) {
            (Some(name), _) => Some(name),
            (None, CastKind::DoubleColon | CastKind::Cast) => Some(type_name(data_type)),
            (None, _) => None,
        },
        Expr::Nested(inner) => figure(inner),
        Expr::Case { .. } => Some("case".to_owned()),
        Expr::Exists { .. } => Some("exists".to_owned()),
        Expr::Array(_) => Some("array".to_owned()),
        Expr::Extract { .. } => Some("extract".to_owned()),
        Expr::Substring { .. } => Some("substring".to_owned()),
        Expr::Position { .. } => Some("position".to_owned()),
        Expr::Trim { .. } => Some("btrim".to_owned()),
        Expr::Ceil { .. } => Some("ceil".to_owned()),
        Expr::Floor { .. } => Some("floor".to_owned()),
        Expr::Overlay { .. } => Some("overlay".to_owned()),
        Expr::TypedString(typed) => Some(type_name(&typed.data_type)),
        _ => None,
    }
}

/// The name PostgreSQL gives a cast to `data_type`: its internal type name.
fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::SmallInt(_) | DataType::Int2(_) => "int2",
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int4",
        DataType::BigInt(_) | DataType::Int8(_) => "int8",
        DataType::Real | DataType::Float4 => "float4",
        DataType::DoublePrecision | DataType::Float8 | DataType::Double(_) => "float8",
        DataType::Float(_) => "float8",
        DataType::Boolean | DataType::Bool => "bool",
        DataType::Text => "text",
        DataType::Varchar(_) | DataType::CharacterVarying(_) | DataType::CharVarying(_) => {
            "varchar"
        }
        DataType::Char(_) | DataType::Character(_) => "bpchar",
        DataType::Numeric(_) | DataType::Decimal(_) => "numeric",
        DataType::Date => "date",
        DataType::Time(..) => "time",
        DataType::Timestamp(_, tz) => match tz {
            datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone
            | datafusion::sql::sqlparser::ast::TimezoneInfo::Tz => "timestamptz",
            _ => "timestamp",
        },
        DataType::Interval { .. } => "interval",
        DataType::Bytea => "bytea",
        DataType::JSON => "json",
        DataType::JSONB => "jsonb",
        DataType::Uuid => "uuid",
        other => return other.to_string().to_lowercase(),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn names(sql: &str, columns: usize) -> Option<Vec<Option<String>>> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        postgres_names(&statement, columns)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn names_follow_postgres() {
        assert_eq!(
            names(
                "SELECT count(*), avg(cpu.v), 1, 'a'::int, x::text, v AS \"Mixed\", (h) FROM cpu",
                7
            ),
            Some(vec![
                s("count"),
                s("avg"),
                s("?column?"),
                s("int4"),
                s("x"),
                s("Mixed"),
                s("h")
            ])
        );
        assert_eq!(
            names("SELECT *, 1 FROM cpu", 3),
            Some(vec![None, None, s("?column?")])
        );
        assert_eq!(
            names("SELECT a FROM t UNION SELECT b FROM u", 1),
            Some(vec![s("a")])
        );
        assert_eq!(names("SELECT *, * FROM cpu", 4), None);
        assert_eq!(names("VALUES (1)", 1), None);
    }
}
