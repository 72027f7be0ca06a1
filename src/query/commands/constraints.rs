//! `PRIMARY KEY` and `UNIQUE` of `CREATE TABLE`, as column options or table
//! constraints, resolved to columns and named as PostgreSQL names them
//! (`t_pkey`, `t_a_b_key`). What EpochDB does not enforce is refused, never
//! accepted and ignored.

use datafusion::sql::sqlparser::ast::{
    ColumnDef, ColumnOption, CreateTable, Expr, IndexColumn, NullsDistinctOption, TableConstraint,
};

use super::names::normalize;
use crate::query::error::{Error, Result};
use crate::storage::{ColumnSchema, UniqueConstraint};

/// PostgreSQL's longest identifier, in bytes (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A key as written: its name, if given, and its columns' names.
struct Declared {
    name: Option<String>,
    columns: Vec<String>,
    primary: bool,
}

/// The unique constraints `create` declares over `columns` (its columns, in
/// order), the primary key first, as PostgreSQL creates their indexes.
pub(super) fn unique_constraints(
    table: &str,
    create: &CreateTable,
    columns: &[ColumnSchema],
) -> Result<Vec<UniqueConstraint>> {
    let mut declared = Vec::new();
    for column in &create.columns {
        column_keys(column, &mut declared)?;
    }
    for constraint in &create.constraints {
        declared.push(match constraint {
            TableConstraint::PrimaryKey(key) => {
                refuse_characteristics(key.characteristics.is_some())?;
                Declared {
                    name: key.name.as_ref().map(normalize),
                    columns: index_columns(&key.columns)?,
                    primary: true,
                }
            }
            TableConstraint::Unique(key) => {
                refuse_characteristics(key.characteristics.is_some())?;
                refuse_nulls_not_distinct(&key.nulls_distinct)?;
                Declared {
                    name: key.name.as_ref().map(normalize),
                    columns: index_columns(&key.columns)?,
                    primary: false,
                }
            }
            other => {
                return Err(Error::Unsupported {
                    what: format!("table constraint {other}"),
                });
            }
        });
    }
    if declared.iter().filter(|d| d.primary).count() > 1 {
        return Err(Error::InvalidTableDefinition {
            message: format!("multiple primary keys for table \"{table}\" are not allowed"),
        });
    }
    declared.sort_by_key(|d| !d.primary);
    let mut constraints: Vec<UniqueConstraint> = Vec::with_capacity(declared.len());
    for key in declared {
        let mut indices = Vec::with_capacity(key.columns.len());
        for name in &key.columns {
            let index = columns
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| Error::UndefinedColumnInKey {
                    name: name.to_owned(),
                })?;
            if indices.contains(&index) {
                return Err(Error::DuplicateColumnInKey {
                    name: name.to_owned(),
                    kind: if key.primary { "primary key" } else { "unique" },
                });
            }
            indices.push(index);
        }
        let name = match key.name {
            Some(name) => name,
            None => {
                let label = if key.primary { "pkey" } else { "key" };
                let columns = if key.primary {
                    String::new()
                } else {
                    key.columns.join("_")
                };
                choose_name(table, &columns, label, &constraints)
            }
        };
        if constraints.iter().any(|c| c.name == name) {
            return Err(Error::DuplicateRelation { name });
        }
        constraints.push(UniqueConstraint {
            name,
            columns: indices,
            primary: key.primary,
        });
    }
    Ok(constraints)
}

/// `PRIMARY KEY` and `UNIQUE` written on a column.
fn column_keys(column: &ColumnDef, declared: &mut Vec<Declared>) -> Result<()> {
    for option in &column.options {
        let primary = match &option.option {
            ColumnOption::PrimaryKey(key) => {
                refuse_characteristics(key.characteristics.is_some())?;
                true
            }
            ColumnOption::Unique(key) => {
                refuse_characteristics(key.characteristics.is_some())?;
                refuse_nulls_not_distinct(&key.nulls_distinct)?;
                false
            }
            _ => continue,
        };
        declared.push(Declared {
            name: option.name.as_ref().map(normalize),
            columns: vec![normalize(&column.name)],
            primary,
        });
    }
    Ok(())
}

/// The column names of a key; an expression or an order is not a column.
fn index_columns(columns: &[IndexColumn]) -> Result<Vec<String>> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(ident)
                if c.column.options.asc.is_none()
                    && c.column.options.nulls_first.is_none()
                    && c.operator_class.is_none() =>
            {
                Ok(normalize(ident))
            }
            other => Err(Error::Unsupported {
                what: format!("a key on {other}"),
            }),
        })
        .collect()
}

fn refuse_characteristics(present: bool) -> Result<()> {
    if present {
        return Err(Error::Unsupported {
            what: "DEFERRABLE constraints".into(),
        });
    }
    Ok(())
}

fn refuse_nulls_not_distinct(option: &NullsDistinctOption) -> Result<()> {
    if matches!(option, NullsDistinctOption::NotDistinct) {
        return Err(Error::Unsupported {
            what: "UNIQUE NULLS NOT DISTINCT".into(),
        });
    }
    Ok(())
}

/// PostgreSQL's `ChooseRelationName` within one table: `table_columns_label`,
/// the longer of the two name parts shortened until the whole fits in 63
/// bytes, and a number added before the label's `_` part when taken.
fn choose_name(table: &str, columns: &str, label: &str, taken: &[UniqueConstraint]) -> String {
    let mut suffix = 0usize;
    loop {
        let label = if suffix == 0 {
            label.to_owned()
        } else {
            format!("{label}{suffix}")
        };
        let name = object_name(table, columns, &label);
        if !taken.iter().any(|c| c.name == name) {
            return name;
        }
        suffix += 1;
    }
}

/// PostgreSQL's `makeObjectName`.
pub(super) fn object_name(first: &str, second: &str, label: &str) -> String {
    let overhead = label.len() + 1 + usize::from(!second.is_empty());
    let available = MAX_IDENTIFIER_BYTES.saturating_sub(overhead);
    let (mut first_len, mut second_len) = (first.len(), second.len());
    while first_len + second_len > available {
        if first_len > second_len {
            first_len -= 1;
        } else {
            second_len -= 1;
        }
    }
    let mut name = clip(first, first_len).to_owned();
    if !second.is_empty() {
        name.push('_');
        name.push_str(clip(second, second_len));
    }
    name.push('_');
    name.push_str(label);
    name
}

/// The longest prefix of `s` of at most `bytes` bytes that ends on a
/// character boundary.
fn clip(s: &str, bytes: usize) -> &str {
    let mut end = bytes.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_postgres() {
        assert_eq!(object_name("devices", "", "pkey"), "devices_pkey");
        assert_eq!(object_name("devices", "name", "key"), "devices_name_key");
        assert_eq!(object_name("t", "a_b", "key"), "t_a_b_key");
        let long = "x".repeat(70);
        let name = object_name(&long, "col", "key");
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("_col_key"));
        let both = object_name(&"a".repeat(40), &"b".repeat(40), "key");
        assert_eq!(both, format!("{}_{}_key", "a".repeat(29), "b".repeat(29)));
        let taken = vec![UniqueConstraint {
            name: "t_a_key".into(),
            columns: vec![0],
            primary: false,
        }];
        assert_eq!(choose_name("t", "a", "key", &taken), "t_a_key1");
    }
}
