//! SQL names as PostgreSQL resolves them: identifiers folded to lower case
//! unless quoted, and `[[database.]schema.]name` against the session's
//! defaults.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::query::error::{Error, Result};

/// PostgreSQL folds unquoted identifiers to lower case and keeps quoted ones.
pub(crate) fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => normalize(ident),
            None => part.to_string(),
        })
        .collect()
}

pub(crate) fn single_name(name: &ObjectName) -> Result<String> {
    match parts(name).as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Error::Unsupported {
            what: format!("the qualified name {name}"),
        }),
    }
}

/// A relation named by a string, as `'s'::regclass` and functions that
/// take a relation's name read it (`'t'`, `'schema.t'`, `'"T"'`),
/// resolved against the session's defaults.
pub(crate) fn qualified_text(text: &str, database: &str, schema: &str) -> Result<(String, String)> {
    let name = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_object_name(false))
        .map_err(|_| Error::InvalidTextRepresentation {
            message: format!("invalid name syntax: \"{text}\""),
        })?;
    qualified(&name, database, schema)
}

/// `[[database.]schema.]table` resolved against the session's defaults.
pub(crate) fn qualified(
    name: &ObjectName,
    database: &str,
    schema: &str,
) -> Result<(String, String)> {
    match parts(name).as_slice() {
        [table] => Ok((schema.to_owned(), table.clone())),
        [s, table] => Ok((s.clone(), table.clone())),
        [d, s, table] if d == database => Ok((s.clone(), table.clone())),
        [_, _, _] => Err(Error::CrossDatabase {
            name: name.to_string(),
        }),
        _ => Err(Error::Unsupported {
            what: format!("the name {name}"),
        }),
    }
}

pub(crate) fn schema_name(name: &ObjectName, database: &str) -> Result<String> {
    match parts(name).as_slice() {
        [schema] => Ok(schema.clone()),
        [d, schema] if d == database => Ok(schema.clone()),
        [_, _] => Err(Error::CrossDatabase {
            name: name.to_string(),
        }),
        _ => Err(Error::Unsupported {
            what: format!("the name {name}"),
        }),
    }
}
