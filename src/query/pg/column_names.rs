//! Result column names as PostgreSQL chooses them.
//!
//! DataFusion names an unaliased expression after its full text
//! (`count(*)`, `avg(cpu.usage_user)`, `Int64(1)`); PostgreSQL names it after
//! the function, column or cast type (`count`, `avg`, `int4`), and `?column?`
//! otherwise. Clients and ORMs read columns by these names, so the names of a
//! query's output follow PostgreSQL's rules (its `FigureColname`).

use std::collections::HashMap;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, CastKind, DataType, ExactNumberInfo, Expr, Ident, OrderByKind,
    Query, SelectItem, SetExpr, Statement, TrimWhereField, Value,
};

use crate::query::error::{Error, Result};

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

/// Gives every output column of `statement`'s SELECT lists a name of its
/// own, for DataFusion, which refuses two columns of one name where
/// PostgreSQL allows them (`SELECT x, x`, `SELECT count(*), count(*)`).
/// Aliases that are already unique stay, so that ORDER BY and GROUP BY
/// still find them; the client sees [`postgres_names`] of the statement as
/// it wrote it. Returns whether anything was renamed.
pub(crate) fn distinct_output_names(statement: &mut Statement) -> Result<bool> {
    if let Statement::Insert(insert) = statement {
        // An INSERT's query feeds columns by position: its names do not
        // matter, but DataFusion wants them distinct too.
        let Some(source) = insert.source.take() else {
            return Ok(false);
        };
        let mut query = Statement::Query(source);
        let renamed = distinct_output_names(&mut query);
        if let Statement::Query(source) = query {
            insert.source = Some(source);
        }
        return renamed;
    }
    let Statement::Query(query) = statement else {
        return Ok(false);
    };
    // The names ORDER BY sees, as PostgreSQL names the columns.
    let outputs: Vec<Option<(String, Expr)>> = select_items(query)
        .unwrap_or_default()
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(expr) => Some((
                figure(expr).unwrap_or_else(|| "?column?".to_owned()),
                expr.clone(),
            )),
            SelectItem::ExprWithAlias { expr, alias } => Some((normalize(alias), expr.clone())),
            _ => None,
        })
        .collect();
    if !rename_set_expr(query.body.as_mut()) {
        return Ok(false);
    }
    let aliases: Vec<Option<Ident>> = select_items(query)
        .unwrap_or_default()
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.clone()),
            _ => None,
        })
        .collect();
    let Some(OrderByKind::Expressions(order_by)) = query.order_by.as_mut().map(|o| &mut o.kind)
    else {
        return Ok(true);
    };
    // PostgreSQL's rule for a bare name in ORDER BY: an output column of that
    // name first (two of them must be the same expression), else an input
    // column.
    for item in order_by {
        let Expr::Identifier(ident) = &item.expr else {
            continue;
        };
        let name = normalize(ident);
        let matches: Vec<usize> = (outputs.iter().enumerate())
            .filter(|(_, output)| output.as_ref().is_some_and(|(n, _)| *n == name))
            .map(|(position, _)| position)
            .collect();
        let Some(&first) = matches.first() else {
            continue;
        };
        let same = |&position: &usize| {
            outputs[position].as_ref().map(|(_, e)| e) == outputs[first].as_ref().map(|(_, e)| e)
        };
        if !matches.iter().all(same) {
            return Err(Error::AmbiguousColumn {
                message: format!("ORDER BY \"{name}\" is ambiguous"),
            });
        }
        if let Some(Some(alias)) = aliases.get(first) {
            item.expr = Expr::Identifier(alias.clone());
        }
    }
    Ok(true)
}

fn rename_set_expr(body: &mut SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => {
            let mut aliases: HashMap<String, usize> = HashMap::new();
            for item in &select.projection {
                if let SelectItem::ExprWithAlias { alias, .. } = item {
                    *aliases.entry(normalize(alias)).or_default() += 1;
                }
            }
            let mut renamed = false;
            for (position, item) in select.projection.iter_mut().enumerate() {
                let unique_alias = matches!(item, SelectItem::ExprWithAlias { alias, .. }
                    if aliases.get(&normalize(alias)) == Some(&1));
                let expr = match item {
                    SelectItem::UnnamedExpr(expr) => expr,
                    SelectItem::ExprWithAlias { expr, .. } if !unique_alias => expr,
                    _ => continue,
                };
                let expr = std::mem::replace(expr, Expr::value(Value::Null));
                *item = SelectItem::ExprWithAlias {
                    expr,
                    alias: Ident::with_quote('"', format!("epochdb output column {position}")),
                };
                renamed = true;
            }
            renamed
        }
        SetExpr::Query(inner) => rename_set_expr(inner.body.as_mut()),
        SetExpr::SetOperation { left, right, .. } => {
            let left = rename_set_expr(left);
            rename_set_expr(right) || left
        }
        _ => false,
    }
}

/// PostgreSQL's name for an expression, or `None` for `?column?`.
fn figure(expr: &Expr) -> Option<String> {
    named(expr).map(|(name, _)| name)
}

/// How firmly an expression names its column, as in PostgreSQL's
/// FigureColname: a cast's type name is weak, and gives way to any strong
/// name found inside the cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strength {
    Weak,
    Strong,
}

/// The name `expr` gives its column, and how firmly. One pass down the
/// expression: nested casts are visited once each.
fn named(expr: &Expr) -> Option<(String, Strength)> {
    let strong = |name: &str| Some((name.to_owned(), Strength::Strong));
    match expr {
        Expr::Identifier(ident) => Some((normalize(ident), Strength::Strong)),
        Expr::CompoundIdentifier(parts) => {
            parts.last().map(|part| (normalize(part), Strength::Strong))
        }
        Expr::Function(function) => function
            .name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(|part| (normalize(part), Strength::Strong)),
        Expr::Cast {
            kind,
            expr,
            data_type,
            ..
        } => match (named(expr), kind) {
            (Some((name, Strength::Strong)), _) => Some((name, Strength::Strong)),
            (_, CastKind::DoubleColon | CastKind::Cast) => {
                Some((type_name(data_type), Strength::Weak))
            }
            (weak, _) => weak,
        },
        Expr::Nested(inner) => named(inner),
        Expr::Case { .. } => strong("case"),
        Expr::Exists { .. } => strong("exists"),
        Expr::Array(_) => strong("array"),
        Expr::Extract { .. } => strong("extract"),
        Expr::AtTimeZone { .. } => strong("timezone"),
        Expr::Substring {
            shorthand: true, ..
        } => strong("substr"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Interval(_) => strong("interval"),
        // Subscripts name the column after what they index, as firmly.
        Expr::CompoundFieldAccess { root, access_chain }
            if access_chain
                .iter()
                .all(|a| matches!(a, AccessExpr::Subscript(_))) =>
        {
            named(root)
        }
        Expr::Position { .. } => strong("position"),
        // PostgreSQL's grammar makes `trim` a call of the function it is.
        Expr::Trim { trim_where, .. } => strong(match trim_where {
            Some(TrimWhereField::Leading) => "ltrim",
            Some(TrimWhereField::Trailing) => "rtrim",
            Some(TrimWhereField::Both) | None => "btrim",
        }),
        Expr::Ceil { .. } => strong("ceil"),
        Expr::Floor { .. } => strong("floor"),
        Expr::Overlay { .. } => strong("overlay"),
        Expr::TypedString(typed) => Some((type_name(&typed.data_type), Strength::Weak)),
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
        DataType::Float(ExactNumberInfo::Precision(1..=24)) => "float4",
        DataType::Float(_) => "float8",
        DataType::Boolean | DataType::Bool => "bool",
        DataType::Text => "text",
        DataType::Varchar(_) | DataType::CharacterVarying(_) | DataType::CharVarying(_) => {
            "varchar"
        }
        DataType::Char(_) | DataType::Character(_) => "bpchar",
        DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => "numeric",
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
        // `x::text[]` is named after its element type, as in PostgreSQL.
        DataType::Array(
            ArrayElemTypeDef::SquareBracket(element, _) | ArrayElemTypeDef::AngleBracket(element),
        ) => return type_name(element),
        other => return other.to_string().to_lowercase(),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use crate::query::pg::dialect::PostgresDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn names(sql: &str, columns: usize) -> Option<Vec<Option<String>>> {
        let statement = Parser::parse_sql(&PostgresDialect::default(), sql)
            .unwrap()
            .remove(0);
        postgres_names(&statement, columns)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn casts_name_weakly_through_subscripts_and_at_any_depth() {
        assert_eq!(
            names(
                "SELECT ('{1}'::int[])[1]::text, (array[1])[1]::text, 1::int8::text",
                3
            ),
            Some(vec![s("text"), s("array"), s("text")])
        );
        // Each cast is visited once: a chain of hundreds is named at once.
        let chain = format!("SELECT x{}", "::int8".repeat(300));
        assert_eq!(names(&chain, 1), Some(vec![s("x")]));
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
