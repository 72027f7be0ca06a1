//! `CREATE INDEX` and `DROP INDEX`.
//!
//! A time-series table is indexed by its tags and time already (see
//! storage's `Index`), so an index over those columns is kept as its
//! definition, listed by the catalogs. Anything that would need an index
//! structure of its own is refused with 0A000 rather than accepted and
//! ignored: `UNIQUE`, a field or an expression, a plain table's columns, a
//! partial index, `INCLUDE`, and access methods other than btree.

use datafusion::sql::sqlparser::ast::{CreateIndex, Expr, IndexType, ObjectName, ObjectNamePart};

use super::constraints::object_name;
use super::names::{normalize, qualified};
use crate::query::error::{Error, Result};
use crate::storage::{self, Index, IndexColumn, Namespace};

/// What `CREATE INDEX` asks for, checked for what EpochDB can build.
#[derive(Debug, Clone)]
pub struct IndexRequest {
    /// `None`: named as PostgreSQL names it ([`default_name`]).
    pub name: Option<String>,
    pub table: ObjectName,
    pub columns: Vec<IndexColumn>,
    pub if_not_exists: bool,
}

/// Reads `CREATE INDEX`, refusing what would need an index structure.
pub(super) fn request(create: &CreateIndex) -> Result<IndexRequest> {
    let unsupported = |what: &str| Error::Unsupported { what: what.into() };
    if create.unique {
        return Err(unsupported(
            "CREATE UNIQUE INDEX (declare PRIMARY KEY or UNIQUE with the table)",
        ));
    }
    if create.predicate.is_some() {
        return Err(unsupported("a partial index (CREATE INDEX ... WHERE)"));
    }
    if !create.include.is_empty() {
        return Err(unsupported("CREATE INDEX ... INCLUDE"));
    }
    if !create.with.is_empty() || !create.index_options.is_empty() {
        return Err(unsupported("index storage parameters"));
    }
    if create.nulls_distinct == Some(false) {
        return Err(unsupported("NULLS NOT DISTINCT"));
    }
    match &create.using {
        None | Some(IndexType::BTree) => {}
        Some(other) => {
            return Err(unsupported(&format!("index access method {other}")));
        }
    }
    let name = match &create.name {
        None => None,
        Some(name) => match name.0.as_slice() {
            [ObjectNamePart::Identifier(ident)] => Some(normalize(ident)),
            [_] => return Err(unsupported("this index name")),
            _ => {
                return Err(Error::SyntaxError {
                    message: format!(
                        "an index is made in its table's schema: \"{name}\" cannot be qualified"
                    ),
                });
            }
        },
    };
    let mut columns: Vec<IndexColumn> = Vec::with_capacity(create.columns.len());
    for column in &create.columns {
        if column.operator_class.is_some() {
            return Err(unsupported("an index operator class"));
        }
        let Expr::Identifier(ident) = &column.column.expr else {
            return Err(unsupported("an index on an expression"));
        };
        let descending = column.column.options.asc == Some(false);
        if columns.iter().any(|c| c.name == normalize(ident)) {
            return Err(unsupported("an index that names a column twice"));
        }
        columns.push(IndexColumn {
            name: normalize(ident),
            descending,
            // PostgreSQL's default: NULLS LAST ascending, NULLS FIRST descending.
            nulls_first: column.column.options.nulls_first.unwrap_or(descending),
        });
    }
    Ok(IndexRequest {
        name,
        table: create.table_name.clone(),
        columns,
        if_not_exists: create.if_not_exists,
    })
}

/// Creates the index `request` describes in the current database.
pub(super) fn create(
    database: &storage::Database,
    request: &IndexRequest,
    (current_database, current_schema): (&str, &str),
) -> Result<storage::Durable<bool>> {
    let (schema, table) = qualified(&request.table, current_database, current_schema)?;
    let found = database
        .schema(&schema)
        .and_then(|ns| Some((ns.clone(), ns.table(&table)?)));
    let Some((namespace, existing)) = found else {
        let namespace = database.schema(&schema);
        let kind = match namespace {
            Some(ns) if ns.view(&table).is_some() => "views",
            Some(ns) if ns.sequence(&table).is_some() => "sequences",
            _ => return Err(Error::UndefinedTable { name: table }),
        };
        return Err(Error::WrongObjectType {
            message: format!(
                "cannot create index on relation \"{table}\": this operation is not supported for {kind}"
            ),
        });
    };
    let table_schema = existing.schema();
    for column in &request.columns {
        if !(table_schema.columns().iter()).any(|c| c.name == column.name) {
            return Err(Error::UndefinedColumn {
                name: column.name.clone(),
            });
        }
    }
    let name = match &request.name {
        Some(name) => name.clone(),
        None => default_name(&namespace, &table, &request.columns),
    };
    let index = Index {
        name,
        table,
        columns: request.columns.clone(),
    };
    Ok(namespace.create_index(index, request.if_not_exists)?)
}

/// Drops the indexes `names` names: all of them, or none when one is
/// missing (and not `if_exists`).
pub(super) fn drop(
    database: &storage::Database,
    names: &[ObjectName],
    if_exists: bool,
    (current_database, current_schema): (&str, &str),
) -> Result<Vec<storage::Durable<bool>>> {
    let mut targets = Vec::with_capacity(names.len());
    for name in names {
        let (schema, index) = qualified(name, current_database, current_schema)?;
        let namespace = database
            .schema(&schema)
            .ok_or(storage::Error::SchemaNotFound { name: schema })?;
        let hint = if namespace.table(&index).is_some() {
            Some("Use DROP TABLE to remove a table.")
        } else if namespace.view(&index).is_some() {
            Some("Use DROP VIEW to remove a view.")
        } else if namespace.sequence(&index).is_some() {
            Some("Use DROP SEQUENCE to remove a sequence.")
        } else {
            None
        };
        if let Some(hint) = hint {
            return Err(Error::WrongKindOfRelation {
                message: format!("\"{index}\" is not an index"),
                hint,
            });
        }
        if namespace.index(&index).is_some() {
            targets.push((namespace, index));
            continue;
        }
        let keyed = (namespace.table_names().into_iter())
            .filter_map(|t| namespace.table(&t))
            .find(|t| t.schema().constraints().iter().any(|k| k.name == index));
        match keyed {
            Some(table) => {
                return Err(storage::Error::IndexOfConstraint {
                    name: index,
                    table: table.name().to_owned(),
                }
                .into());
            }
            None if if_exists => {}
            None => return Err(storage::Error::IndexNotFound { name: index }.into()),
        }
    }
    let mut dropped = Vec::with_capacity(targets.len());
    for (namespace, index) in &targets {
        dropped.push(namespace.drop_index(index, true)?);
    }
    Ok(dropped)
}

/// The name PostgreSQL gives an unnamed index: `table_col1_col2_idx`, cut
/// to 63 bytes as `makeObjectName` cuts it, with a number after `idx` when
/// the name is taken.
fn default_name(namespace: &Namespace, table: &str, columns: &[IndexColumn]) -> String {
    let columns: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let columns = columns.join("_");
    let taken = |name: &str| {
        namespace.table(name).is_some()
            || namespace.view(name).is_some()
            || namespace.sequence(name).is_some()
            || namespace.index(name).is_some()
            || (namespace.table_names().iter())
                .filter_map(|t| namespace.table(t))
                .any(|t| t.schema().constraints().iter().any(|k| k.name == name))
    };
    let mut pass = 0u32;
    loop {
        let label = match pass {
            0 => "idx".to_owned(),
            n => format!("idx{n}"),
        };
        let name = object_name(table, &columns, &label);
        if !taken(&name) {
            return name;
        }
        pass += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_as_postgres_cuts_them() {
        assert_eq!(
            object_name("cpu", "hostname_time", "idx"),
            "cpu_hostname_time_idx"
        );
        let long = "a".repeat(70);
        let name = object_name(&long, "host", "idx");
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("_host_idx"), "{name}");
        // PostgreSQL counts bytes, then cuts each part to a character.
        let e = "é".repeat(31);
        assert_eq!(
            object_name(&e, &e, "idx"),
            format!("{}_{}_idx", "é".repeat(14), "é".repeat(14))
        );
    }
}
