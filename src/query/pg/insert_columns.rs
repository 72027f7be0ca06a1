//! The columns an `INSERT` leaves to the table, as PostgreSQL fills them:
//!
//! - `INSERT INTO t VALUES (...)` without a column list, whose rows are
//!   shorter than the table, gives the table's first columns;
//! - a column left out takes its `DEFAULT` (NULL without one), evaluated
//!   for each row, and so does a `DEFAULT` written in place of a value.
//!
//! `OVERRIDING SYSTEM VALUE` lets an `INSERT` give a `GENERATED ALWAYS`
//! identity column its value; `OVERRIDING USER VALUE` makes every identity
//! column take its default whatever the statement gives it. The session
//! marks the statement ([`overriding_marker`]), since the parser does not
//! read the clause.
//!
//! DataFusion wants a value for every column and knows no `DEFAULT`
//! keyword, so the statement is given the column list and the default
//! expressions PostgreSQL reads into it, before the other rewrites.

use crate::query::pg::dialect::PostgresDialect;
use datafusion::execution::session_state::SessionState;
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectName, Query, SetExpr, Statement, TableObject,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Span;

use crate::query::commands::names::normalize;
use crate::query::datasource::table::SeriesTableProvider;
use crate::query::error::{Error, Result};
use crate::query::pg::defaults::default_expr;
use crate::storage::{ColumnSchema, Identity};

/// What the session puts in an `INSERT`'s (otherwise unused) after-columns
/// list for `OVERRIDING SYSTEM VALUE` (`system`) or `OVERRIDING USER
/// VALUE`. The quote character cannot come from a client's text.
pub fn overriding_marker(system: bool) -> Ident {
    let value = if system {
        "overriding system value"
    } else {
        "overriding user value"
    };
    Ident {
        value: value.to_owned(),
        quote_style: Some('\u{1}'),
        span: Span::empty(),
    }
}

/// Which `OVERRIDING` an `INSERT` says, taking the marker off it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overriding {
    None,
    System,
    User,
}

fn take_overriding(after_columns: &mut Vec<Ident>) -> Overriding {
    let found = if after_columns.contains(&overriding_marker(true)) {
        Overriding::System
    } else if after_columns.contains(&overriding_marker(false)) {
        Overriding::User
    } else {
        return Overriding::None;
    };
    after_columns.clear();
    found
}

/// The name of the derived table a query source is wrapped in.
const SOURCE: &str = "__epochdb_insert_source";

/// Rewrites an `INSERT` as described above; leaves every other statement
/// as it is (an unknown table fails later, as it would anyway).
pub(crate) async fn rewrite(state: &SessionState, statement: &mut Statement) -> Result<()> {
    let Statement::Insert(insert) = statement else {
        return Ok(());
    };
    let overriding = take_overriding(&mut insert.after_columns);
    let TableObject::TableName(name) = &insert.table else {
        return Ok(());
    };
    let Ok(reference) = object_name_to_table_reference(name.clone(), true) else {
        return Ok(());
    };
    let Ok(schema) = state.schema_for_ref(reference.clone()) else {
        return Ok(());
    };
    let Some(provider) = schema.table(reference.table()).await? else {
        return Ok(());
    };
    let Some(table) = provider.downcast_ref::<SeriesTableProvider>() else {
        return Ok(());
    };
    let columns = table.table().schema().columns();
    if insert.source.is_none() && insert.columns.is_empty() {
        // `DEFAULT VALUES`: one row of defaults.
        let defaults = (columns.iter())
            .map(|c| Ok(default_expr(c.default.as_deref())?.to_string()))
            .collect::<Result<Vec<_>>>()?;
        let sql = format!("VALUES ({})", defaults.join(", "));
        insert.source = Some(parse_query(&sql, "INSERT ... DEFAULT VALUES")?);
        return Ok(());
    }
    let Some(source) = insert.source.as_mut() else {
        return Ok(());
    };
    let mut listed: Vec<String> = insert
        .columns
        .iter()
        .filter_map(|c| c.0.last().and_then(|p| p.as_ident()).map(normalize))
        .collect();
    if let SetExpr::Values(values) = source.body.as_mut() {
        if listed.is_empty() {
            // The table's first columns, as many as the rows have.
            let width = values.rows.first().map_or(0, |row| row.len());
            listed = columns.iter().take(width).map(|c| c.name.clone()).collect();
        }
        for row in &mut values.rows {
            for (value, name) in row.iter_mut().zip(&listed) {
                let column = columns.iter().find(|c| &c.name == name);
                let identity = column.is_some_and(|c| c.identity.is_some());
                if is_default_keyword(value) || (identity && overriding == Overriding::User) {
                    *value = default_expr(column.and_then(|c| c.default.as_deref()))?;
                } else if let Some(column) = column
                    && overriding != Overriding::System
                {
                    refuse_always(column)?;
                }
            }
        }
    } else if overriding == Overriding::User {
        return Err(Error::Unsupported {
            what: "INSERT ... OVERRIDING USER VALUE with a query".into(),
        });
    } else if overriding == Overriding::System {
        // The values given are taken as they are.
    } else if listed.is_empty() {
        // A query fills the table's columns from the first.
        for column in columns {
            refuse_always(column)?;
        }
    } else {
        for column in columns.iter().filter(|c| listed.contains(&c.name)) {
            refuse_always(column)?;
        }
    }
    // Columns left out that have a default, in table order.
    let missing: Vec<(&str, Expr)> = columns
        .iter()
        .filter(|c| c.default.is_some() && !listed.contains(&c.name))
        .map(|c| Ok((c.name.as_str(), default_expr(c.default.as_deref())?)))
        .collect::<Result<_>>()?;
    if missing.is_empty() {
        if insert.columns.is_empty() && listed.len() < columns.len() {
            insert.columns = listed.iter().map(|n| column_name(n)).collect();
        }
        return Ok(());
    }
    if listed.is_empty() {
        // A query without a column list fills the table's columns itself.
        return Ok(());
    }
    match source.body.as_mut() {
        SetExpr::Values(values) => {
            for row in &mut values.rows {
                row.extend(missing.iter().map(|(_, e)| e.clone()));
            }
        }
        _ => wrap_query(source, listed.len(), &missing)?,
    }
    insert.columns = (listed.iter().map(String::as_str))
        .chain(missing.iter().map(|(n, _)| *n))
        .map(column_name)
        .collect();
    Ok(())
}

/// `DEFAULT` written as a value.
fn is_default_keyword(value: &Expr) -> bool {
    matches!(value, Expr::Identifier(ident)
        if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default"))
}

/// A value given to a `GENERATED ALWAYS` identity column: refused, as
/// PostgreSQL refuses it without `OVERRIDING SYSTEM VALUE` (which EpochDB
/// does not parse).
fn refuse_always(column: &ColumnSchema) -> Result<()> {
    if column.identity == Some(Identity::Always) {
        return Err(Error::GeneratedAlways {
            message: format!(
                "cannot insert a non-DEFAULT value into column \"{}\"",
                column.name
            ),
            column: column.name.clone(),
        });
    }
    Ok(())
}

fn column_name(name: &str) -> ObjectName {
    ObjectName::from(vec![Ident::with_quote('"', name)])
}

/// `query` as `SELECT c1, ..., cn, <defaults> FROM (query) AS source(c1,
/// ..., cn)`: its `width` columns, then the defaults, for each of its rows.
fn wrap_query(query: &mut Query, width: usize, missing: &[(&str, Expr)]) -> Result<()> {
    let names: Vec<String> = (1..=width).map(|i| format!("c{i}")).collect();
    let values: Vec<String> = (names.iter().cloned())
        .chain(missing.iter().map(|(_, e)| e.to_string()))
        .collect();
    let sql = format!(
        "SELECT {} FROM ({query}) AS {SOURCE}({})",
        values.join(", "),
        names.join(", ")
    );
    *query = *parse_query(&sql, "defaults for this form of INSERT ... SELECT")?;
    Ok(())
}

/// A query written out by this module, parsed; refused as `what` if the
/// text of the statement it came from does not read back.
fn parse_query(sql: &str, what: &str) -> Result<Box<Query>> {
    Parser::new(&PostgresDialect::default())
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_query())
        .map_err(|_| Error::Unsupported { what: what.into() })
}
