//! Rewrites of catalog queries, applied after datafusion-pg-catalog's own, that
//! turn PostgreSQL idioms DataFusion cannot plan into equivalents it can.
//!
//! - `to_regtype(x)`, `to_regclass(x)`, `to_regnamespace(x)`, `to_regproc(x)`:
//!   the oid named by `x`, or NULL, as a lookup subquery.
//! - `x::regtype::text`: the name of the type with oid `x` (pg-catalog plans
//!   `regtype` as a plain integer, which would print the number).
//! - A correlated scalar subquery (ORMs put them inside CASE) that is not
//!   aggregated: DataFusion decorrelates a subquery only when it aggregates, and
//!   only when each of its conditions reads its own tables. So its value is
//!   wrapped in `max()` (a scalar subquery yields at most one row, so this is
//!   the same value), and conditions that read only the outer query's columns
//!   move out of it into a CASE around it.
//! - A scalar subquery that reads a catalog EpochDB always leaves empty
//!   (`pg_sequence`) is NULL, whatever else it reads.
//! - `pg_class.reloptions`, which pg-catalog lacks, is NULL.
//! - `pg_get_function_result(p.oid)` and `pg_get_function_arguments(p.oid)`
//!   (psql's `\df`): the types of the pg_proc row's own columns, formatted.
//! - `ARRAY(SELECT x FROM ...)` (psql's `\du`): `array_agg(x)` in the
//!   subquery, or an empty array when it has no rows.
//! - `unnest(indkey)` and `generate_subscripts(indkey, 1)` over the `int2vector`
//!   columns of pg_index, which pg-catalog holds as space-separated text.
//! - `information_schema.columns`: its `data_type` as PostgreSQL names types
//!   (`double precision`, not DataFusion's `Float64`), and `udt_name`.
//! - `information_schema._pg_expandarray(a)` (pgJDBC's primary-key and index
//!   metadata): unnested `{x, n}` records of each element and its position.

use std::collections::HashSet;
use std::ops::ControlFlow;

use crate::query::PostgresDialect;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    Ident, JoinOperator, ObjectName, ObjectNamePart, Query, Select, SelectItem, SetExpr, Statement,
    TableAlias, TableFactor, TableWithJoins, Value, VisitMut, VisitorMut, visit_expressions,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::parser::Parser;

/// Columns of type `int2vector` or `oidvector`, held as space-separated text.
const VECTOR_COLUMNS: &[&str] = &["indkey", "indclass", "indcollation", "indoption"];

/// Catalog columns pg-catalog lacks whose value is NULL for every EpochDB
/// object: `pg_class.reloptions` (no table has storage options).
const NULL_COLUMNS: &[&str] = &["reloptions"];

/// Catalog tables that are empty in every EpochDB database.
const EMPTY_CATALOGS: &[&str] = &["pg_sequence"];

/// Aggregate functions: a subquery that projects one of these already yields
/// one row.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "first_value",
    "last_value",
];

/// `sql` with each scalar subquery that a select list reads `pg_attrdef`
/// with (psql's `\d` reads a column's default so) in parentheses of its
/// own, or `None` when it has none. pg-catalog's parser replaces a
/// correlated subquery in a select list by NULL, which would hide every
/// default; a parenthesized one it leaves to [`rewrite`], which makes it
/// plannable.
pub(super) fn shield_default_subqueries(sql: &str) -> Option<String> {
    if !sql.to_ascii_lowercase().contains("pg_attrdef") {
        return None;
    }
    let mut statements = Parser::parse_sql(&PostgresDialect::default(), sql).ok()?;
    let mut shield = ShieldDefaultSubqueries { shielded: false };
    let _ = statements.visit(&mut shield);
    shield.shielded.then(|| {
        let texts: Vec<String> = statements.iter().map(ToString::to_string).collect();
        texts.join("; ")
    })
}

struct ShieldDefaultSubqueries {
    shielded: bool,
}

impl VisitorMut for ShieldDefaultSubqueries {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        for item in &mut select.projection {
            let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item
            else {
                continue;
            };
            let Expr::Subquery(subquery) = expr else {
                continue;
            };
            let SetExpr::Select(inner) = subquery.body.as_ref() else {
                continue;
            };
            let reads_defaults = inner.from.iter().any(|table| {
                matches!(&table.relation, TableFactor::Table { name, .. }
                    if name_parts(name).last().is_some_and(|t| t == "pg_attrdef"))
            });
            if reads_defaults {
                *expr = Expr::Nested(Box::new(expr.clone()));
                self.shielded = true;
            }
        }
        ControlFlow::Continue(())
    }
}

/// Applies every rewrite of this module to `statement`.
pub(super) fn rewrite(statement: &mut Statement) {
    print_regclass_items(statement);
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Some(replacement) = rewrite_expr(expr) {
            *expr = replacement;
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = statement.visit(&mut InformationSchemaColumns);
    let _ = statement.visit(&mut QualifyOurCatalogTables);
}

/// Catalog tables EpochDB adds to pg-catalog's, which pg-catalog's rewrite
/// does not know to qualify with `pg_catalog`.
const OUR_CATALOG_TABLES: &[&str] = &["pg_user", "pg_indexes"];

/// Qualifies a bare [`OUR_CATALOG_TABLES`] name with `pg_catalog`, as
/// pg-catalog does its own: `pg_catalog` is on every search path.
struct QualifyOurCatalogTables;

impl VisitorMut for QualifyOurCatalogTables {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, args, .. } = factor
            && args.is_none()
            && let [ObjectNamePart::Identifier(ident)] = name.0.as_slice()
            && ident.quote_style.is_none()
            && OUR_CATALOG_TABLES.contains(&ident.value.to_ascii_lowercase().as_str())
        {
            let table = ident.clone();
            *name = ObjectName(vec![
                ObjectNamePart::Identifier(Ident::new("pg_catalog")),
                ObjectNamePart::Identifier(table),
            ]);
        }
        ControlFlow::Continue(())
    }
}

/// The columns of DataFusion's `information_schema.columns`, in order, with
/// `data_type` (which DataFusion writes as Arrow's type) as PostgreSQL names
/// it, `ordinal_position` counted from 1 (DataFusion counts from 0), and
/// PostgreSQL's `udt_name` added. A table column's default, and the declared
/// type of a column held as text (`jsonb`, `varchar(n)`), come from the
/// table (the `epochdb_column_*` functions).
const INFORMATION_SCHEMA_COLUMNS: &str = "SELECT table_catalog, table_schema, table_name, \
     column_name, ordinal_position + 1 AS ordinal_position, \
     epochdb_column_default(table_schema, table_name, column_name) AS column_default, \
     is_nullable, \
     coalesce(epochdb_column_data_type(table_schema, table_name, column_name), \
       epochdb_sql_type(data_type)) AS data_type, \
     coalesce(epochdb_column_max_chars(table_schema, table_name, column_name), \
       character_maximum_length) AS character_maximum_length, \
     character_octet_length, numeric_precision, numeric_precision_radix, numeric_scale, \
     datetime_precision, interval_type, \
     coalesce(epochdb_column_udt_name(table_schema, table_name, column_name), \
       epochdb_udt_name(data_type)) AS udt_name \
     FROM information_schema.columns";

/// Replaces `information_schema.columns` (Grafana's column list reads its
/// `data_type`) with [`INFORMATION_SCHEMA_COLUMNS`], under the same name.
/// After the children are visited, so the replacement is not visited again.
struct InformationSchemaColumns;

impl VisitorMut for InformationSchemaColumns {
    type Break = ();

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name, alias, args, ..
        } = factor
            && args.is_none()
            && name_parts(name) == ["information_schema", "columns"]
            && let Some(Statement::Query(subquery)) =
                Parser::parse_sql(&PostgresDialect::default(), INFORMATION_SCHEMA_COLUMNS)
                    .ok()
                    .and_then(|mut statements| statements.pop())
        {
            let alias = alias.take().unwrap_or_else(|| TableAlias {
                explicit: true,
                name: Ident::new("columns"),
                columns: vec![],
                at: None,
            });
            *factor = TableFactor::Derived {
                lateral: false,
                subquery,
                alias: Some(alias),
                sample: None,
            };
        }
        ControlFlow::Continue(())
    }
}

/// The replacement of one expression, if a rewrite applies. Called bottom-up:
/// a subquery's own expressions are already rewritten.
fn rewrite_expr(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::Function(function) => lookup_function(function)
            .or_else(|| acl_as_array(function))
            .or_else(|| expand_array(function))
            .or_else(|| subscripts(function))
            .or_else(|| array_of_subquery(function)),
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } if is_text_type(&data_type.to_string()) => match inner.as_ref() {
            Expr::Cast {
                expr: oid,
                data_type: alias,
                ..
            } => regtype_as_text(oid, &alias.to_string()),
            _ => None,
        },
        Expr::Subquery(query) => {
            regclass_or_error(query).or_else(|| rewrite_scalar_subquery(query))
        }
        Expr::CompoundIdentifier(parts)
            if parts
                .last()
                .is_some_and(|c| NULL_COLUMNS.contains(&c.value.to_lowercase().as_str())) =>
        {
            Some(Expr::Value(Value::Null.into()))
        }
        _ => None,
    }
}

/// `array_to_string(p.proacl, sep)`: pg-catalog holds the `aclitem[]`
/// columns (`proacl`, `nspacl`, ...) as their text, which is read back as
/// an array (psql's `\df+` and `\dn+` list the privileges this way).
fn acl_as_array(function: &Function) -> Option<Expr> {
    if unqualified(&function.name)? != "array_to_string" {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(acl)), rest @ ..] = list.args.as_slice() else {
        return None;
    };
    let column = match acl {
        Expr::Identifier(ident) => ident,
        Expr::CompoundIdentifier(parts) => parts.last()?,
        _ => return None,
    };
    if !column.value.to_ascii_lowercase().ends_with("acl") {
        return None;
    }
    let rest: Vec<String> = rest.iter().map(ToString::to_string).collect();
    parse_expr(&format!(
        "array_to_string(CAST({acl} AS TEXT[]), {})",
        rest.join(", ")
    ))
}

/// `to_regtype(x)` and its siblings, as lookup subqueries.
fn lookup_function(function: &Function) -> Option<Expr> {
    let name = unqualified(&function.name)?;
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_slice() else {
        return None;
    };
    // The lookups name their tables `epochdb_*` so that they cannot hide the
    // client's names from the argument. A relation is visible when its schema
    // is on the search path (pg-catalog's `pg_table_is_visible` says yes to all).
    let sql = match name.as_str() {
        "to_regtype" => format!(
            "(SELECT min(epochdb_t.oid) FROM pg_catalog.pg_type epochdb_t \
             WHERE epochdb_t.typname = {arg} OR format_type(epochdb_t.oid, NULL) = {arg})"
        ),
        "to_regclass" => format!(
            "(SELECT min(epochdb_c.oid) FROM pg_catalog.pg_class epochdb_c \
             JOIN pg_catalog.pg_namespace epochdb_n ON epochdb_n.oid = epochdb_c.relnamespace \
             WHERE (epochdb_c.relname = {arg} AND epochdb_n.nspname = ANY(current_schemas(true))) \
             OR epochdb_n.nspname || '.' || epochdb_c.relname = {arg})"
        ),
        "to_regnamespace" => {
            format!(
                "(SELECT min(epochdb_n.oid) FROM pg_catalog.pg_namespace epochdb_n WHERE epochdb_n.nspname = {arg})"
            )
        }
        "to_regproc" => {
            format!(
                "(SELECT min(epochdb_p.oid) FROM pg_catalog.pg_proc epochdb_p WHERE epochdb_p.proname = {arg})"
            )
        }
        "unnest" => format!("unnest({})", as_array(arg)?),
        // psql's `\df`: a function's result and argument types, read from its
        // pg_proc row (`p.oid` → `p.prorettype`, `p.proargtypes`).
        "pg_get_function_result" => format!("format_type({}, NULL)", sibling(arg, "prorettype")?),
        "pg_get_function_arguments" => {
            format!("epochdb_format_type_list({})", sibling(arg, "proargtypes")?)
        }
        _ => return None,
    };
    parse_expr(&sql)
}

/// `information_schema._pg_expandarray(a)`, a set-returning function of
/// `{x, n}` records, as the unnesting of `epochdb_expandarray(a)`, which
/// lists them: in one select list several unnest in step, as PostgreSQL runs
/// several set-returning functions.
fn expand_array(function: &Function) -> Option<Expr> {
    let named = match name_parts(&function.name).as_slice() {
        [name] => name == "_pg_expandarray",
        [schema, name] => schema == "information_schema" && name == "_pg_expandarray",
        _ => false,
    };
    if !named {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_slice() else {
        return None;
    };
    parse_expr(&format!("unnest(epochdb_expandarray({arg}))"))
}

/// `q.oid` as `q.column`: another column of the same catalog row.
fn sibling(oid: &Expr, column: &str) -> Option<String> {
    match oid {
        Expr::CompoundIdentifier(parts)
            if parts
                .last()
                .is_some_and(|p| p.value.eq_ignore_ascii_case("oid")) =>
        {
            let qualifier: Vec<String> = parts[..parts.len() - 1]
                .iter()
                .map(ToString::to_string)
                .collect();
            Some(format!("{}.{column}", qualifier.join(".")))
        }
        Expr::Identifier(ident) if ident.value.eq_ignore_ascii_case("oid") => {
            Some(column.to_owned())
        }
        _ => None,
    }
}

/// `ARRAY(SELECT x ... [ORDER BY o])` as `coalesce((SELECT array_agg(x [ORDER
/// BY o]) ...), make_array())`: an aggregate, which DataFusion can decorrelate.
fn array_of_subquery(function: &Function) -> Option<Expr> {
    if unqualified(&function.name)? != "array" {
        return None;
    }
    let FunctionArguments::Subquery(query) = &function.args else {
        return None;
    };
    let mut query = query.clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let [item] = select.projection.as_slice() else {
        return None;
    };
    let value = match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr,
        _ => return None,
    };
    // Inside the aggregate, `ORDER BY 1` would sort by the constant: the
    // position becomes the value it names.
    let order = match query.order_by.take().map(|o| o.to_string()) {
        Some(order) => match order.strip_prefix("ORDER BY 1") {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => {
                format!(" ORDER BY {value}{rest}")
            }
            _ => format!(" {order}"),
        },
        None => String::new(),
    };
    select.projection = vec![SelectItem::UnnamedExpr(parse_expr(&format!(
        "array_agg({value}{order})"
    ))?)];
    parse_expr(&format!("coalesce(({query}), make_array())"))
}

/// `generate_subscripts(array, dim)`: the subscripts of the array, as rows.
fn subscripts(function: &Function) -> Option<Expr> {
    if unqualified(&function.name)? != "generate_subscripts" {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    let [
        FunctionArg::Unnamed(FunctionArgExpr::Expr(array)),
        FunctionArg::Unnamed(FunctionArgExpr::Expr(dimension)),
    ] = list.args.as_slice()
    else {
        return None;
    };
    let array = as_array(array).unwrap_or_else(|| array.to_string());
    parse_expr(&format!(
        "unnest(generate_series(1, array_length({array}, {dimension})))"
    ))
}

/// A vector column (`indkey`) as an integer array; None for anything else.
fn as_array(expr: &Expr) -> Option<String> {
    let column = match expr {
        Expr::Identifier(ident) => &ident.value,
        Expr::CompoundIdentifier(parts) => &parts.last()?.value,
        _ => return None,
    };
    VECTOR_COLUMNS
        .contains(&column.to_lowercase().as_str())
        .then(|| format!("CAST(string_to_array(nullif({expr}, ''), ' ') AS BIGINT[])"))
}

/// `oid::regtype::text`: the type's name, as PostgreSQL prints it.
///
/// (`oid::regclass::text` stays a number: psql orders by it, and a lookup
/// subquery there clashes with the plain column in DataFusion's projection.)
fn regtype_as_text(oid: &Expr, alias: &str) -> Option<Expr> {
    if strip_pg_catalog(alias) != "regtype" {
        return None;
    }
    parse_expr(&format!("format_type({oid}, NULL)"))
}

/// See the module documentation: empty catalogs, and correlated scalar
/// subqueries that are not aggregated.
fn rewrite_scalar_subquery(query: &Query) -> Option<Expr> {
    let select = plain_select(query)?;
    if reads_empty_catalog(&select.from) {
        return Some(Expr::Value(Value::Null.into()));
    }
    let [item] = select.projection.as_slice() else {
        return None;
    };
    let (value, alias) = match item {
        SelectItem::UnnamedExpr(e) => (e, None),
        SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
        _ => return None,
    };
    let inner = relation_names(&select.from);
    if !is_correlated(select, &inner) || is_aggregated(value) {
        return None;
    }

    let mut conditions = Vec::new();
    if let Some(selection) = &select.selection {
        conjuncts(selection, &mut conditions);
    }
    let (outer_only, own): (Vec<&Expr>, Vec<&Expr>) = conditions
        .into_iter()
        .partition(|c| reads_only_outer(c, &inner));

    let mut rewritten = query.clone();
    let SetExpr::Select(new_select) = rewritten.body.as_mut() else {
        return None;
    };
    let aggregated = parse_expr(&format!("max({value})"))?;
    new_select.projection = vec![match alias {
        Some(alias) => SelectItem::ExprWithAlias {
            expr: aggregated,
            alias: alias.clone(),
        },
        None => SelectItem::UnnamedExpr(aggregated),
    }];
    new_select.selection = conjunction(&own)?;
    let subquery = Expr::Subquery(Box::new(rewritten));
    if outer_only.is_empty() {
        return Some(subquery);
    }
    let guard = and_all(&outer_only);
    parse_expr(&format!("CASE WHEN {guard} THEN {subquery} END"))
}

/// A `'name'::regclass` literal that is a whole item of the select list
/// prints as the relation's name, as in PostgreSQL (schema-qualified when
/// the schema is not the current one), under the header `regclass`.
fn print_regclass_items(statement: &mut Statement) {
    let Statement::Query(query) = statement else {
        return;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    for item in &mut select.projection {
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else {
            continue;
        };
        let Expr::Subquery(lookup) = expr else {
            continue;
        };
        let Some(name) = regclass_literal(lookup) else {
            continue;
        };
        let mut printed = lookup.as_ref().clone();
        if let SetExpr::Select(inner) = printed.body.as_mut()
            && let Some(display) = parse_expr(
                "max(CASE WHEN n.nspname = current_schema() THEN quote_ident(c.relname) \
                 ELSE quote_ident(n.nspname) || '.' || quote_ident(c.relname) END)",
            )
        {
            inner.projection = vec![SelectItem::UnnamedExpr(display)];
        }
        let name = Value::SingleQuotedString(name);
        let Some(replacement) = parse_expr(&format!(
            "coalesce(({printed}), CAST({UNDEFINED_RELATION}({name}) AS TEXT))"
        )) else {
            continue;
        };
        *item = match std::mem::replace(item, SelectItem::Wildcard(Default::default())) {
            SelectItem::ExprWithAlias { alias, .. } => SelectItem::ExprWithAlias {
                expr: replacement,
                alias,
            },
            _ => SelectItem::ExprWithAlias {
                expr: replacement,
                alias: Ident::new("regclass"),
            },
        };
    }
}

/// The name in pg-catalog's lookup of a `'name'::regclass` literal (a
/// subquery selecting `c.oid` over `parse_ident('name')`).
fn regclass_literal(query: &Query) -> Option<String> {
    let select = match query.body.as_ref() {
        SetExpr::Select(select) => select,
        _ => return None,
    };
    let [SelectItem::UnnamedExpr(value)] = select.projection.as_slice() else {
        return None;
    };
    if !value.to_string().eq_ignore_ascii_case("c.oid") {
        return None;
    }
    let mut name: Option<String> = None;
    let _ = visit_expressions(query, |expr: &Expr| {
        if let Expr::Function(function) = expr
            && unqualified(&function.name).as_deref() == Some("parse_ident")
            && let FunctionArguments::List(list) = &function.args
            && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_slice()
        {
            let literal = match arg {
                Expr::Cast { expr, .. } => expr.as_ref(),
                other => other,
            };
            if let Expr::Value(v) = literal
                && let Value::SingleQuotedString(text) = &v.value
            {
                name = Some(text.clone());
            }
        }
        ControlFlow::<()>::Continue(())
    });
    // The system catalogs are not all rows of pg-catalog's `pg_class`
    // (pgJDBC's `'pg_class'::regclass`): their lookup stays as it was.
    name.filter(|n| {
        let n = n.to_ascii_lowercase();
        !(n.starts_with("pg_")
            || n.starts_with("pg_catalog.")
            || n.starts_with("information_schema."))
    })
}

/// pg-catalog's lookup of a `'name'::regclass` literal (a subquery over
/// `parse_ident('name')`), made to fail as PostgreSQL does when there is no
/// such relation (42P01) rather than give NULL: `coalesce(lookup,
/// epochdb_undefined_relation('name'))`, whose second argument runs only
/// when the lookup finds nothing.
fn regclass_or_error(query: &Query) -> Option<Expr> {
    if query.to_string().contains(UNDEFINED_RELATION) {
        return None;
    }
    let name = regclass_literal(query);
    let name = Value::SingleQuotedString(name?);
    // As an aggregate, the lookup is NULL (not "no row") when nothing
    // matches, which DataFusion lets coalesce see.
    let mut lookup = query.clone();
    if let SetExpr::Select(select) = lookup.body.as_mut() {
        select.projection = vec![SelectItem::UnnamedExpr(parse_expr("max(c.oid)")?)];
    }
    parse_expr(&format!(
        "coalesce(({lookup}), {UNDEFINED_RELATION}({name}))"
    ))
}

/// The function that fails with "relation does not exist".
const UNDEFINED_RELATION: &str = "epochdb_undefined_relation";

/// The query's SELECT, if it is one plain SELECT with no LIMIT, ORDER BY,
/// GROUP BY, HAVING or DISTINCT.
fn plain_select(query: &Query) -> Option<&Select> {
    if query.with.is_some()
        || query.limit_clause.is_some()
        || query.fetch.is_some()
        || query.order_by.is_some()
    {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let grouped = match &select.group_by {
        GroupByExpr::All(_) => true,
        GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
    };
    if grouped || select.having.is_some() || select.distinct.is_some() {
        return None;
    }
    Some(select)
}

/// Whether the FROM clause inner-joins a catalog that is always empty.
fn reads_empty_catalog(from: &[TableWithJoins]) -> bool {
    let empty = |factor: &TableFactor| match factor {
        TableFactor::Table { name, .. } => {
            let parts = name_parts(name);
            let catalog_schema = parts.len() == 1 || parts[0] == "pg_catalog";
            catalog_schema
                && parts
                    .last()
                    .is_some_and(|t| EMPTY_CATALOGS.contains(&t.as_str()))
        }
        _ => false,
    };
    from.iter().any(|table| {
        empty(&table.relation)
            || table.joins.iter().any(|join| {
                matches!(
                    join.join_operator,
                    JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
                ) && empty(&join.relation)
            })
    })
}

/// The names the FROM clause binds: aliases, or else the tables' own names.
fn relation_names(from: &[TableWithJoins]) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut add = |factor: &TableFactor| match factor {
        TableFactor::Table { name, alias, .. } => {
            let bound = match alias {
                Some(alias) => Some(alias.name.value.to_lowercase()),
                None => name_parts(name).pop(),
            };
            names.extend(bound);
        }
        TableFactor::Derived {
            alias: Some(alias), ..
        } => {
            names.insert(alias.name.value.to_lowercase());
        }
        _ => {}
    };
    for table in from {
        add(&table.relation);
        for join in &table.joins {
            add(&join.relation);
        }
    }
    names
}

/// The qualifiers (`t` of `t.c`, `pg_class` of `pg_catalog.pg_class.oid`) of
/// the qualified column references in `expr`, and whether it has unqualified
/// ones.
fn qualifiers(expr: &Expr) -> (HashSet<String>, bool) {
    let mut found = HashSet::new();
    let mut unqualified = false;
    let _ = visit_expressions(expr, |e: &Expr| {
        match e {
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                found.insert(parts[parts.len() - 2].value.to_lowercase());
            }
            Expr::Identifier(_) => unqualified = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    (found, unqualified)
}

/// Whether the SELECT reads a column of a table it does not bind itself.
fn is_correlated(select: &Select, inner: &HashSet<String>) -> bool {
    let mut outer = false;
    let mut check = |e: &Expr| {
        outer |= qualifiers(e).0.iter().any(|q| !inner.contains(q));
    };
    for item in &select.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            check(e);
        }
    }
    if let Some(selection) = &select.selection {
        check(selection);
    }
    outer
}

/// Whether a condition reads the outer query's columns and nothing else.
fn reads_only_outer(condition: &Expr, inner: &HashSet<String>) -> bool {
    let (found, unqualified) = qualifiers(condition);
    !unqualified
        && !found.is_empty()
        && found.iter().all(|q| !inner.contains(q))
        && !contains_subquery(condition)
}

fn contains_subquery(expr: &Expr) -> bool {
    visit_expressions(expr, |e: &Expr| match e {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

fn is_aggregated(value: &Expr) -> bool {
    match value {
        Expr::Function(function) => {
            unqualified(&function.name).is_some_and(|n| AGGREGATES.contains(&n.as_str()))
        }
        _ => false,
    }
}

/// The conjuncts of `expr`, looking through parentheses.
fn conjuncts<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}

/// `a AND b AND ...`, or no condition at all. None if it does not parse back.
fn conjunction(parts: &[&Expr]) -> Option<Option<Expr>> {
    if parts.is_empty() {
        return Some(None);
    }
    parse_expr(&and_all(parts)).map(Some)
}

/// `(a) AND (b) AND ...`, as SQL text.
fn and_all(parts: &[&Expr]) -> String {
    parts
        .iter()
        .map(|c| format!("({c})"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgresDialect::default())
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_expr())
        .ok()
}

/// The lowercased parts of a name (`pg_catalog.pg_class` → both).
fn name_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.to_lowercase(),
            ObjectNamePart::Function(f) => f.name.value.to_lowercase(),
        })
        .collect()
}

/// A function's name without `pg_catalog.`; None for other qualifiers.
fn unqualified(name: &ObjectName) -> Option<String> {
    match name_parts(name).as_slice() {
        [name] => Some(name.clone()),
        [schema, name] if schema == "pg_catalog" => Some(name.clone()),
        _ => None,
    }
}

fn strip_pg_catalog(type_name: &str) -> String {
    let lower = type_name.to_lowercase();
    lower
        .strip_prefix("pg_catalog.")
        .unwrap_or(&lower)
        .to_owned()
}

fn is_text_type(type_name: &str) -> bool {
    matches!(
        strip_pg_catalog(type_name).as_str(),
        "text" | "varchar" | "character varying" | "name"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statements = Parser::parse_sql(&PostgresDialect::default(), sql).unwrap();
        rewrite(&mut statements[0]);
        statements[0].to_string()
    }

    #[test]
    fn function_result_and_arguments_read_the_proc_row() {
        let sql = rewritten(
            "SELECT pg_catalog.pg_get_function_result(p.oid), pg_get_function_arguments(p.oid), \
             pg_get_function_result(1) FROM pg_proc p",
        );
        assert_eq!(
            sql,
            "SELECT format_type(p.prorettype, NULL), epochdb_format_type_list(p.proargtypes), \
             pg_get_function_result(1) FROM pg_proc p"
        );
    }

    #[test]
    fn array_of_a_subquery_becomes_an_aggregate() {
        let sql = rewritten(
            "SELECT ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b \
             ON m.roleid = b.oid WHERE m.member = r.oid ORDER BY 1) AS memberof FROM pg_roles r",
        );
        assert_eq!(
            sql,
            "SELECT coalesce((SELECT array_agg(b.rolname ORDER BY b.rolname) FROM pg_auth_members m \
             JOIN pg_roles b ON m.roleid = b.oid WHERE m.member = r.oid), make_array()) \
             AS memberof FROM pg_roles r"
        );
    }

    #[test]
    fn default_subqueries_in_a_select_list_are_parenthesized() {
        let psql = "SELECT a.attname, (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) \
             FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum \
             AND a.atthasdef), (SELECT c.collname FROM pg_catalog.pg_collation c \
             WHERE c.oid = a.attcollation) FROM pg_catalog.pg_attribute a";
        let shielded = shield_default_subqueries(psql).expect("shielded");
        assert!(
            shielded.starts_with("SELECT a.attname, ((SELECT pg_catalog.pg_get_expr("),
            "{shielded}"
        );
        assert!(shielded.contains(", (SELECT c.collname FROM"), "{shielded}");
        // A join with pg_attrdef (pgJDBC's) is left as it was written.
        assert_eq!(
            shield_default_subqueries(
                "SELECT a.attname FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adnum = a.attnum"
            ),
            None
        );
        assert_eq!(shield_default_subqueries("SELECT 1"), None);
    }

    #[test]
    fn information_schema_columns_names_postgres_types() {
        let sql = rewritten(
            "SELECT c.data_type FROM information_schema.columns c WHERE c.table_name = 'cpu'",
        );
        assert!(
            sql.starts_with("SELECT c.data_type FROM (SELECT table_catalog,"),
            "{sql}"
        );
        assert!(
            sql.contains("epochdb_sql_type(data_type)) AS data_type"),
            "{sql}"
        );
        assert!(
            sql.ends_with("FROM information_schema.columns) c WHERE c.table_name = 'cpu'"),
            "{sql}"
        );
        let sql = rewritten("SELECT data_type FROM information_schema.columns");
        assert!(sql.ends_with(") AS columns"), "{sql}");
    }

    #[test]
    fn to_regtype_becomes_a_lookup() {
        let sql = rewritten("SELECT oid FROM pg_type WHERE oid = to_regtype($1)");
        assert!(sql.contains(
            "(SELECT min(epochdb_t.oid) FROM pg_catalog.pg_type epochdb_t WHERE epochdb_t.typname = $1"
        ));
    }

    #[test]
    fn oid_as_regtype_text_is_format_type() {
        assert_eq!(
            rewritten("SELECT oid::regtype::text FROM pg_type"),
            "SELECT format_type(oid, NULL) FROM pg_type"
        );
        // A bare ::regtype (an oid to compare) stays.
        let sql = "SELECT 1 FROM pg_type WHERE oid = typelem::regtype";
        assert_eq!(rewritten(sql), sql);
    }

    #[test]
    fn correlated_subquery_is_aggregated_and_outer_conditions_move_out() {
        let sql = rewritten(
            "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid) \
             FROM x d WHERE a.atthasdef AND d.adrelid = a.attrelid) END FROM pg_attribute a",
        );
        assert_eq!(
            sql,
            "SELECT CASE WHEN a.atthasdef THEN CASE WHEN (a.atthasdef) THEN \
             (SELECT max(pg_get_expr(d.adbin, d.adrelid)) FROM x d \
             WHERE (d.adrelid = a.attrelid)) END END FROM pg_attribute a"
        );
    }

    #[test]
    fn uncorrelated_and_aggregated_subqueries_stay() {
        for sql in [
            "SELECT (SELECT max(v) FROM t WHERE t.h = o.h) FROM o",
            "SELECT (SELECT v FROM t WHERE t.h = 1) FROM o",
            "SELECT (SELECT v FROM t WHERE t.h = o.h LIMIT 1) FROM o",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }

    #[test]
    fn vector_columns_unnest_as_arrays() {
        assert_eq!(
            rewritten("SELECT unnest(i.indkey), generate_subscripts(i.indkey, 1) FROM pg_index i"),
            "SELECT unnest(CAST(string_to_array(nullif(i.indkey, ''), ' ') AS BIGINT[])), \
             unnest(generate_series(1, array_length(CAST(string_to_array(nullif(i.indkey, ''), ' ') \
             AS BIGINT[]), 1))) FROM pg_index i"
        );
        let sql = "SELECT unnest(a) FROM t";
        assert_eq!(rewritten(sql), sql);
    }

    #[test]
    fn subquery_over_an_empty_catalog_is_null() {
        assert_eq!(
            rewritten(
                "SELECT CASE WHEN a.x THEN (SELECT s.seqstart FROM pg_catalog.pg_sequence s \
                 WHERE s.seqrelid = a.attrelid) END FROM pg_attribute a"
            ),
            "SELECT CASE WHEN a.x THEN NULL END FROM pg_attribute a"
        );
    }
}
