//! Forms of a query that PostgreSQL reads and DataFusion plans otherwise or
//! not at all, respelled before planning:
//! - `FETCH FIRST n ROWS ONLY` (the standard's `LIMIT`, which Hibernate and
//!   other ORMs send) becomes `LIMIT n`; `WITH TIES` is refused.
//! - `generate_series(...)` as a select-list item returns rows, as a
//!   set-returning function does in PostgreSQL, not one array: it becomes
//!   `unnest(generate_series(...))`. Several in one list advance together,
//!   as in PostgreSQL 10 and later.
//! - An `INTERVAL '...'` literal in one of PostgreSQL's forms DataFusion
//!   does not read (`'04:05:06'`, `'P1DT2H'`, `'@ 1 hour ago'`) is given as
//!   the list of quantities and units it means ([`pgtype::interval_text`]).
//! - An interval written as one, times or divided by a number, becomes
//!   [`interval_scale`]'s call.
//! - `regexp_split_to_table(...)` as a select-list item becomes
//!   `unnest(regexp_split_to_array(...))`, the rows of its pieces.
//! - A Unicode escape string (`U&'d\0061t\+000061'`), which the parser has
//!   already decoded, becomes a plain string literal.
//! - `localtimestamp` and `localtime` become [`clock`]'s calls.
//! - `EXTRACT` of a field only PostgreSQL has becomes [`date_fields`]'s
//!   `date_part`.
//! - `TABLESAMPLE`, which DataFusion would ignore and so return every row,
//!   is refused.
//! - Operators and functions DataFusion spells otherwise are [`respell`]ed.

use std::ops::ControlFlow;

use crate::query::pg::dialect::PostgresDialect;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, Fetch, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, Interval, LimitClause, ObjectName, Query, SelectItem, SetExpr,
    Statement, TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::parser::Parser;

use super::at_time_zone::function_call;
use super::{
    clock, date_fields, interval_scale, json, json_agg, numeric, respell, srf_columns, uuid,
};
use crate::pgtype;
use crate::query::error::{Error, Result};

/// Respells the query forms above throughout `statement`.
pub(crate) fn rewrite(statement: &mut Statement) -> Result<()> {
    match statement.visit(&mut Respeller) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Respeller;

impl VisitorMut for Respeller {
    type Break = Error;

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Error> {
        if let TableFactor::Table {
            sample: Some(_), ..
        } = factor
        {
            return ControlFlow::Break(Error::Unsupported {
                what: "TABLESAMPLE".into(),
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<Error> {
        if let Some(fetch) = query.fetch.take()
            && let Err(error) = fetch_as_limit(query, fetch)
        {
            return ControlFlow::Break(error);
        }
        if let Err(error) = expand_series(query.body.as_mut()) {
            return ControlFlow::Break(error);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Error> {
        interval_scale::rewrite(expr);
        if let Err(error) = clock::rewrite_expr(expr) {
            return ControlFlow::Break(error);
        }
        if let Err(error) = date_fields::rewrite_extract(expr) {
            return ControlFlow::Break(error);
        }
        if let Expr::Value(ValueWithSpan { value, .. }) = expr
            && let Value::UnicodeStringLiteral(text) = value
        {
            *value = Value::SingleQuotedString(std::mem::take(text));
        }
        mod_as_operator(expr);
        respell::rewrite(expr);
        json::rewrite_cast(expr);
        if let Err(error) = json_agg::rewrite(expr) {
            return ControlFlow::Break(error);
        }
        uuid::rewrite_cast(expr);
        if let Expr::Interval(Interval {
            value,
            leading_field: None,
            last_field: None,
            ..
        }) = expr
            && let Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(text),
                ..
            }) = value.as_mut()
            && let Some(units) = pgtype::interval_text(text)
        {
            *text = units;
        }
        ControlFlow::Continue(())
    }
}

fn fetch_as_limit(query: &mut Query, fetch: Fetch) -> Result<()> {
    if fetch.with_ties || fetch.percent {
        return Err(Error::Unsupported {
            what: "FETCH ... WITH TIES or PERCENT".into(),
        });
    }
    let count = fetch
        .quantity
        .unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
    match &mut query.limit_clause {
        None => {
            query.limit_clause = Some(LimitClause::LimitOffset {
                limit: Some(count),
                offset: None,
                limit_by: Vec::new(),
            })
        }
        Some(LimitClause::LimitOffset {
            limit: limit @ None,
            ..
        }) => *limit = Some(count),
        Some(_) => {
            return Err(Error::Unsupported {
                what: "both LIMIT and FETCH".into(),
            });
        }
    }
    Ok(())
}

/// Wraps each select-list `generate_series(...)` of `body` in `unnest`.
fn expand_series(body: &mut SetExpr) -> Result<()> {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item
                else {
                    continue;
                };
                if calls(expr, "regexp_split_to_table")
                    && let Expr::Function(f) = expr
                {
                    f.name = ObjectName::from(vec![Ident::new("regexp_split_to_array")]);
                    let split = std::mem::replace(expr, Expr::value(Value::Null));
                    *expr = function_call("unnest", vec![split]);
                    continue;
                }
                if calls(expr, "generate_series") {
                    if let Some(numeric) = numeric_series_expr(expr)? {
                        *expr = numeric;
                        continue;
                    }
                    *expr = series_rows(std::mem::replace(expr, Expr::value(Value::Null)));
                    continue;
                }
                // A series inside an expression (`generate_series(1, 3)::text`,
                // `generate_series(...) + 1`) gives rows there too.
                let _ = expr.visit(&mut NestedSeries {
                    queries: 0,
                    unnests: 0,
                });
            }
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            expand_series(left)?;
            expand_series(right)
        }
        _ => Ok(()),
    }
}

/// `mod(a, b)`, PostgreSQL's function for `a % b` (integers and numerics),
/// which DataFusion does not have.
fn mod_as_operator(expr: &mut Expr) {
    let Expr::Function(function) = expr else {
        return;
    };
    let is_mod = matches!(function.name.0.as_slice(), [part]
        if part.as_ident().is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("mod")));
    let FunctionArguments::List(list) = &function.args else {
        return;
    };
    if !is_mod
        || function.over.is_some()
        || function.filter.is_some()
        || list.duplicate_treatment.is_some()
        || !list.clauses.is_empty()
    {
        return;
    }
    let [
        FunctionArg::Unnamed(FunctionArgExpr::Expr(a)),
        FunctionArg::Unnamed(FunctionArgExpr::Expr(b)),
    ] = list.args.as_slice()
    else {
        return;
    };
    *expr = Expr::Nested(Box::new(Expr::BinaryOp {
        left: Box::new(a.clone()),
        op: BinaryOperator::Modulo,
        right: Box::new(b.clone()),
    }));
}

/// Turns the `generate_series(...)` calls of an expression into the rows
/// they give ([`series_rows`]), outside the subqueries in it (which had
/// their own select lists expanded already) and outside `unnest` (the
/// catalog rewrites unnest series themselves). A call is replaced after
/// its arguments are visited, so a replacement is not visited again.
struct NestedSeries {
    /// How many subqueries deep the visit is.
    queries: usize,
    /// How many `unnest` calls deep.
    unnests: usize,
}

/// Whether `expr` calls function `name`.
fn calls(expr: &Expr, name: &str) -> bool {
    matches!(expr, Expr::Function(f)
        if f.name.0.len() == 1
            && f.name.0[0].as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case(name)))
}

impl VisitorMut for NestedSeries {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.queries += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.queries -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if calls(expr, "unnest") {
            self.unnests += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if calls(expr, "unnest") {
            self.unnests -= 1;
        } else if self.queries == 0 && self.unnests == 0 && calls(expr, "generate_series") {
            *expr = series_rows(std::mem::replace(expr, Expr::value(Value::Null)));
        }
        ControlFlow::Continue(())
    }
}

/// A select-list `generate_series(...)` call as the rows it gives:
/// `unnest` of it, typed `integer` for PostgreSQL's `integer` form, with
/// date literals read as the `timestamptz` ones PostgreSQL's form takes.
fn series_rows(mut series: Expr) -> Expr {
    let mut int4 = false;
    if let Expr::Function(f) = &mut series
        && let FunctionArguments::List(list) = &mut f.args
    {
        super::text_in::date_literals_as_timestamptz(&mut list.args);
        int4 = srf_columns::int4_series(&list.args);
    }
    let rows = function_call("unnest", vec![series]);
    if !int4 {
        return rows;
    }
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(rows),
        data_type: DataType::Integer(None),
        array: false,
        format: None,
    }
}

/// A select-list `generate_series` of numeric constants, as the integer
/// series times its unit ([`numeric::numeric_series`]).
fn numeric_series_expr(call: &Expr) -> Result<Option<Expr>> {
    let Expr::Function(function) = call else {
        return Ok(None);
    };
    let FunctionArguments::List(list) = &function.args else {
        return Ok(None);
    };
    let Some((whole, unit)) = numeric::numeric_series(&list.args)? else {
        return Ok(None);
    };
    let [start, stop, step] = whole.as_slice() else {
        return Ok(None);
    };
    let sql = format!(
        "{}(unnest(generate_series({start}, {stop}, {step}))) * {unit}",
        numeric::NUMERIC_CAST
    );
    Ok(Parser::new(&PostgresDialect::default())
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_expr())
        .ok())
}
