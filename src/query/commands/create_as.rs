//! `CREATE TABLE ... AS query` and `SELECT ... INTO t`: a table made with
//! the columns of the query's result, then filled by `INSERT INTO t query`.
//!
//! The new table's columns take the result's names (PostgreSQL's) and
//! types, and the usual roles: the first timestamp makes it a time-series
//! table, text columns are then its tags, and `WITH (...)` options apply
//! as in `CREATE TABLE`. As in PostgreSQL, no key, default or `NOT NULL`
//! comes along.

use datafusion::arrow::datatypes::{DataType, FieldRef, TimeUnit};
use datafusion::sql::sqlparser::ast::{
    ColumnDef, CreateTable, DataType as SqlType, Ident, Query, SetExpr, Statement, TimezoneInfo,
};
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Span;

use super::ddl::Ddl;
use super::names::normalize;
use crate::pgtype::{self, arrow_type_name};
use crate::query::error::{Error, Result};
use crate::query::pg::dialect::PostgresDialect;
use crate::storage;

/// What marks a `CREATE TABLE ... AS` written `WITH NO DATA`, which the
/// parser does not read: a column the session puts on the statement.
pub fn no_data_marker() -> Ident {
    Ident {
        value: "with no data".to_owned(),
        quote_style: Some('\u{1}'),
        span: Span::empty(),
    }
}

/// A `CREATE TABLE ... AS` with its query taken out.
pub(crate) struct CreateAs {
    pub create: CreateTable,
    pub query: Box<Query>,
    /// `WITH NO DATA`: the table is made and left empty.
    pub no_data: bool,
}

impl CreateAs {
    /// The `CREATE TABLE ... AS` or `SELECT ... INTO` this statement is.
    pub(crate) fn from_statement(statement: &mut Statement) -> Result<Option<Self>> {
        match statement {
            Statement::CreateTable(create) if create.query.is_some() => {
                let Some(query) = create.query.take() else {
                    return Ok(None);
                };
                if create.or_replace || create.temporary || create.external {
                    return Err(Error::Unsupported {
                        what: "this form of CREATE TABLE ... AS".into(),
                    });
                }
                let marker = no_data_marker();
                let no_data = create.columns.iter().any(|c| c.name == marker);
                create.columns.retain(|c| c.name != marker);
                // PostgreSQL's list names the columns, without types.
                if (create.columns.iter())
                    .any(|c| c.data_type != SqlType::Unspecified || !c.options.is_empty())
                {
                    return Err(Error::SyntaxError {
                        message: "syntax error at or near \"AS\"".into(),
                    });
                }
                Ok(Some(Self {
                    create: create.clone(),
                    query,
                    no_data,
                }))
            }
            Statement::Query(query) => {
                let Some(into) = take_into(query.body.as_mut()) else {
                    return Ok(None);
                };
                if into.temporary || into.unlogged {
                    return Err(Error::Unsupported {
                        what: "SELECT ... INTO TEMPORARY or UNLOGGED".into(),
                    });
                }
                let create = template("CREATE TABLE t AS SELECT 1")?;
                let Statement::CreateTable(mut create) = create else {
                    return Err(Error::Unsupported {
                        what: "SELECT ... INTO".into(),
                    });
                };
                create.name = into.name;
                create.query = None;
                Ok(Some(Self {
                    create,
                    query: query.clone(),
                    no_data: false,
                }))
            }
            _ => Ok(None),
        }
    }

    /// The table to make, given the query's output columns, named and
    /// typed; explicit column names (`CREATE TABLE t (a, b) AS`) come
    /// first.
    pub(crate) fn table(&self, outputs: Vec<(String, FieldRef)>) -> Result<Ddl> {
        let given: Vec<String> = (self.create.columns.iter())
            .map(|c| normalize(&c.name))
            .collect();
        if given.len() > outputs.len() {
            return Err(Error::SyntaxError {
                message: "too many column names were specified".into(),
            });
        }
        let mut columns: Vec<ColumnDef> = Vec::with_capacity(outputs.len());
        for (i, (name, field)) in outputs.into_iter().enumerate() {
            let data_type = field.data_type();
            let name = given.get(i).cloned().unwrap_or(name);
            if columns.iter().any(|c| c.name.value == name) {
                return Err(storage::Error::DuplicateColumn { column: name }.into());
            }
            let sql_type = match pgtype::pg_type_of_metadata(&field) {
                Some("json") => Some(SqlType::JSON),
                Some("jsonb") => Some(SqlType::JSONB),
                Some("uuid") => Some(SqlType::Uuid),
                _ => sql_type(data_type),
            };
            let Some(sql_type) = sql_type else {
                return Err(Error::Unsupported {
                    what: format!(
                        "column \"{name}\" of type {} in a table",
                        arrow_type_name(data_type)
                    ),
                });
            };
            columns.push(ColumnDef {
                name: Ident::with_quote('"', name),
                data_type: sql_type,
                options: Vec::new(),
            });
        }
        let mut create = self.create.clone();
        create.columns = columns;
        match Ddl::from_statement(&Statement::CreateTable(create))? {
            Some(ddl) => Ok(ddl),
            None => Err(Error::Unsupported {
                what: "this form of CREATE TABLE ... AS".into(),
            }),
        }
    }

    /// `INSERT INTO t query`, which fills the table once it is made;
    /// `None` for `WITH NO DATA`.
    pub(crate) fn insert(&self) -> Result<Option<Statement>> {
        if self.no_data {
            return Ok(None);
        }
        let mut insert = template("INSERT INTO t SELECT 1")?;
        if let Statement::Insert(insert) = &mut insert {
            insert.table =
                datafusion::sql::sqlparser::ast::TableObject::TableName(self.create.name.clone());
            insert.source = Some(self.query.clone());
        }
        Ok(Some(insert))
    }

    pub(crate) fn if_not_exists(&self) -> bool {
        self.create.if_not_exists
    }
}

/// The `INTO` of a `SELECT ... INTO`, taken off the query: PostgreSQL
/// reads it in the first `SELECT` of a `UNION`, `INTERSECT` or `EXCEPT`.
fn take_into(body: &mut SetExpr) -> Option<datafusion::sql::sqlparser::ast::SelectInto> {
    match body {
        SetExpr::Select(select) => select.into.take(),
        SetExpr::SetOperation { left, .. } => take_into(left),
        SetExpr::Query(query) => take_into(query.body.as_mut()),
        _ => None,
    }
}

/// A statement to fill in, as the parser makes it.
fn template(sql: &str) -> Result<Statement> {
    Parser::parse_sql(&PostgresDialect::default(), sql)
        .ok()
        .and_then(|mut statements| statements.pop())
        .ok_or_else(|| Error::Unsupported {
            what: "CREATE TABLE ... AS".into(),
        })
}

/// The column type that holds values of `data_type`, if a table can.
fn sql_type(data_type: &DataType) -> Option<SqlType> {
    Some(match data_type {
        DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Nanosecond, zone) => {
            let info = if zone.is_some() {
                TimezoneInfo::WithTimeZone
            } else {
                TimezoneInfo::None
            };
            SqlType::Timestamp(None, info)
        }
        DataType::Float64 => SqlType::DoublePrecision,
        DataType::Float32 => SqlType::Real,
        DataType::Int64 => SqlType::BigInt(None),
        DataType::Int32 => SqlType::Integer(None),
        DataType::Int16 => SqlType::SmallInt(None),
        DataType::Boolean => SqlType::Boolean,
        DataType::Date32 => SqlType::Date,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => SqlType::Bytea,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::Text,
        _ => return None,
    })
}
