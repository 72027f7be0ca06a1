//! The keys of a table's `PRIMARY KEY` and `UNIQUE` constraints: one hash
//! map per constraint from every key its rows hold to the row's number, so
//! a write checks its rows in O(1) each, and a scan for one key reads one
//! block.
//!
//! A key is the row's values in the constraint's columns, in Arrow's row
//! format (equal values give equal bytes). As in PostgreSQL, a key with a
//! NULL in it equals no other key and is not kept.

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType,
};
use arrow::row::{RowConverter, SortField};

use super::error::{Error, Result};
use super::schema::TableSchema;
use crate::pgtype;

/// The keys a table holds, per constraint of its schema.
#[derive(Debug, Default)]
pub(super) struct UniqueKeys {
    sets: Vec<HashMap<Box<[u8]>, i64>>,
}

/// What a row's key for one constraint matches: the number of the row
/// holding it, and an earlier row of the same write with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyMatch {
    pub existing: Option<i64>,
    pub earlier: Option<usize>,
}

/// The keys of some rows, per constraint, row by row (`None` for a key with
/// a NULL in it).
#[derive(Debug, Default)]
pub(super) struct NewKeys {
    sets: Vec<Vec<Option<Box<[u8]>>>>,
}

impl UniqueKeys {
    pub(super) fn new(schema: &TableSchema) -> Self {
        Self {
            sets: vec![HashMap::new(); schema.constraints().len()],
        }
    }

    /// Keeps the keys of the constraints `kept` marks true (by position),
    /// for a table whose schema dropped the others.
    pub(super) fn retain(&mut self, kept: &[bool]) {
        let mut position = 0;
        self.sets.retain(|_| {
            position += 1;
            kept.get(position - 1).copied().unwrap_or(true)
        });
    }

    /// The keys of `batches` (rows of the table's columns, in order),
    /// checked against the keys held and against each other: the first
    /// duplicate is PostgreSQL's unique violation, with its detail.
    pub(super) fn check(&self, schema: &TableSchema, batches: &[RecordBatch]) -> Result<NewKeys> {
        let none = NewKeys::default();
        self.check_replacing(schema, &none, &none, batches)
    }

    /// [`check`](Self::check) for rows that come as others go: the keys of
    /// `freed` are free from the start (rows deleted), those of `paired`
    /// row by row (the rows an `UPDATE` replaces, in row order): as
    /// PostgreSQL checks an `UPDATE`, new row `k` may take a key that old
    /// rows up to `k` gave up, but not one a later old row still holds.
    pub(super) fn check_replacing(
        &self,
        schema: &TableSchema,
        freed: &NewKeys,
        paired: &NewKeys,
        batches: &[RecordBatch],
    ) -> Result<NewKeys> {
        let new = Self::keys_of(schema, batches)?;
        for (c, keys) in new.sets.iter().enumerate() {
            let removed = paired.sets.get(c).map_or(&[][..], Vec::as_slice);
            let mut given_up: HashSet<&[u8]> = (freed.sets.get(c).into_iter().flatten())
                .flatten()
                .map(AsRef::as_ref)
                .collect();
            let mut taken: HashSet<&[u8]> = HashSet::new();
            for (k, key) in keys.iter().enumerate() {
                if let Some(Some(old)) = removed.get(k) {
                    given_up.insert(old);
                }
                let Some(key) = key else {
                    continue;
                };
                let held = self.sets[c].contains_key(key) && !given_up.contains(key.as_ref());
                if held || !taken.insert(key) {
                    return Err(violation(schema, c, batches, k));
                }
            }
        }
        Ok(new)
    }

    /// The keys of `batches`, unchecked.
    pub(super) fn keys_of(schema: &TableSchema, batches: &[RecordBatch]) -> Result<NewKeys> {
        let mut new = NewKeys::default();
        for constraint in schema.constraints() {
            let mut keys = Vec::new();
            for batch in batches {
                let columns: Vec<_> = (constraint.columns.iter())
                    .map(|&i| batch.column(i).clone())
                    .collect();
                let fields = columns
                    .iter()
                    .map(|c| SortField::new(c.data_type().clone()))
                    .collect();
                let rows = RowConverter::new(fields)?.convert_columns(&columns)?;
                for (r, row) in rows.iter().enumerate() {
                    let null = columns.iter().any(|c| c.is_null(r));
                    keys.push((!null).then(|| row.as_ref().into()));
                }
            }
            new.sets.push(keys);
        }
        Ok(new)
    }

    /// Takes in keys that [`check`](Self::check) gave, once their rows are
    /// in, numbered `numbers` (row by row).
    pub(super) fn insert(&mut self, new: NewKeys, numbers: &[i64]) {
        for (set, keys) in self.sets.iter_mut().zip(new.sets) {
            for (key, &number) in keys.into_iter().zip(numbers) {
                if let Some(key) = key {
                    set.insert(key, number);
                }
            }
        }
    }

    /// The number of the row whose key for constraint `c` is `value` (one
    /// row of each of the constraint's columns): `None` when no row has it.
    pub(super) fn row_of(&self, c: usize, value: &[ArrayRef]) -> Result<Option<i64>> {
        let fields = value
            .iter()
            .map(|v| SortField::new(v.data_type().clone()))
            .collect();
        let rows = RowConverter::new(fields)?.convert_columns(value)?;
        if rows.num_rows() != 1 || value.iter().any(|v| v.is_null(0)) {
            return Ok(None);
        }
        Ok(self.sets[c].get(rows.row(0).as_ref()).copied())
    }

    /// For each row of `new`, by its key for constraint `c`: the row
    /// already holding the key, and the first earlier row of `new` with the
    /// same key (a key with a NULL in it matches nothing).
    pub(super) fn matches(&self, c: usize, new: &NewKeys) -> Vec<KeyMatch> {
        let keys = new.sets.get(c).map_or(&[][..], Vec::as_slice);
        let mut first: HashMap<&[u8], usize> = HashMap::new();
        (keys.iter().enumerate())
            .map(|(row, key)| match key {
                None => KeyMatch::default(),
                Some(key) => KeyMatch {
                    existing: self
                        .sets
                        .get(c)
                        .and_then(|set| set.get(key.as_ref()).copied()),
                    earlier: Some(*first.entry(key.as_ref()).or_insert(row)).filter(|&e| e != row),
                },
            })
            .collect()
    }

    /// Gives up the keys of rows that are gone.
    pub(super) fn remove(&mut self, gone: &NewKeys) {
        for (set, keys) in self.sets.iter_mut().zip(&gone.sets) {
            for key in keys.iter().flatten() {
                set.remove(key.as_ref());
            }
        }
    }

    /// The memory each constraint's keys take, in the schema's order.
    pub(super) fn approximate_bytes(&self) -> Vec<usize> {
        (self.sets.iter())
            .map(|set| {
                set.keys()
                    .map(|k| k.len() + size_of::<Box<[u8]>>() + size_of::<i64>())
                    .sum()
            })
            .collect()
    }
}

/// PostgreSQL's unique violation for row `row` (counted across `batches`)
/// and constraint `c`.
fn violation(schema: &TableSchema, c: usize, batches: &[RecordBatch], mut row: usize) -> Error {
    let constraint = &schema.constraints()[c];
    let Some(batch) = batches.iter().find(|b| {
        let inside = row < b.num_rows();
        if !inside {
            row -= b.num_rows();
        }
        inside
    }) else {
        return Error::Internal {
            reason: "a violation past the rows".into(),
        };
    };
    let names: Vec<&str> = (constraint.columns.iter())
        .map(|&i| schema.columns()[i].name.as_str())
        .collect();
    let values: Vec<String> = (constraint.columns.iter())
        .map(|&i| value_text(batch.column(i).as_ref(), row))
        .collect();
    Error::UniqueViolation {
        constraint: constraint.name.clone(),
        detail: format!(
            "Key ({})=({}) already exists.",
            names.join(", "),
            values.join(", ")
        ),
    }
}

/// A key value as PostgreSQL's detail prints it (timestamps with a zone in UTC).
fn value_text(array: &dyn Array, row: usize) -> String {
    match array.data_type() {
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Float32 => pgtype::float4_out(array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => pgtype::float8_out(array.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => pgtype::bool_out(array.as_boolean().value(row)).to_owned(),
        DataType::Utf8 => array.as_string::<i32>().value(row).to_owned(),
        DataType::Timestamp(TimeUnit::Microsecond, zone) => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
            match zone {
                Some(_) => pgtype::timestamptz_out(micros, None),
                None => pgtype::timestamp_out(micros),
            }
        }
        other => format!("<{other}>"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;
    use crate::storage::{ColumnRole, ColumnSchema, ColumnType, UniqueConstraint};

    fn schema() -> TableSchema {
        let column = |name: &str, column_type| ColumnSchema {
            name: name.into(),
            column_type,
            role: ColumnRole::Field,
            nullable: true,
            max_chars: None,
            identity: None,
            default: None,
        };
        TableSchema::try_new(vec![
            column("id", ColumnType::Int64),
            column("name", ColumnType::Utf8),
        ])
        .unwrap()
        .with_constraints(vec![
            UniqueConstraint {
                name: "t_pkey".into(),
                columns: vec![0],
                primary: true,
            },
            UniqueConstraint {
                name: "t_name_id_key".into(),
                columns: vec![1, 0],
                primary: false,
            },
        ])
        .unwrap()
    }

    fn batch(schema: &TableSchema, ids: &[i64], names: &[Option<&str>]) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(names.to_vec())),
        ];
        RecordBatch::try_new(schema.arrow_schema().clone(), columns).unwrap()
    }

    fn detail(result: Result<NewKeys>) -> (String, String) {
        match result {
            Err(Error::UniqueViolation { constraint, detail }) => (constraint, detail),
            other => panic!("expected a unique violation, got {other:?}"),
        }
    }

    #[test]
    fn duplicates_fail_within_a_write_and_against_the_table() {
        let schema = schema();
        let mut keys = UniqueKeys::new(&schema);
        assert!(!schema.arrow_schema().field(0).is_nullable());
        let first = keys
            .check(&schema, &[batch(&schema, &[1, 2], &[Some("a"), None])])
            .unwrap();
        keys.insert(first, &[0, 1]);

        let again = keys.check(&schema, &[batch(&schema, &[2], &[Some("b")])]);
        assert_eq!(
            detail(again),
            ("t_pkey".into(), "Key (id)=(2) already exists.".into())
        );
        let within = keys.check(
            &schema,
            &[
                batch(&schema, &[3], &[Some("c")]),
                batch(&schema, &[4, 3], &[Some("d"), Some("e")]),
            ],
        );
        assert_eq!(detail(within).1, "Key (id)=(3) already exists.");
        let multi = keys.check(&schema, &[batch(&schema, &[5, 5], &[Some("x"), Some("x")])]);
        assert_eq!(detail(multi).1, "Key (id)=(5) already exists.");

        // NULLs are distinct: (NULL, 7) twice is no duplicate.
        let nulls = keys.check(&schema, &[batch(&schema, &[7, 8], &[None, None])]);
        assert!(nulls.is_ok());
        // Nothing failed was kept: 3 is free.
        assert!(
            keys.check(&schema, &[batch(&schema, &[3], &[None])])
                .is_ok()
        );
    }

    #[test]
    fn a_key_names_its_row() {
        let schema = schema();
        let mut keys = UniqueKeys::new(&schema);
        let rows = batch(&schema, &[7, 9], &[Some("a"), None]);
        let new = keys.check(&schema, std::slice::from_ref(&rows)).unwrap();
        keys.insert(new, &[40, 41]);
        let id = |v: i64| -> Vec<ArrayRef> { vec![Arc::new(Int64Array::from(vec![v]))] };
        assert_eq!(keys.row_of(0, &id(9)).unwrap(), Some(41));
        assert_eq!(keys.row_of(0, &id(8)).unwrap(), None);
        let gone = UniqueKeys::keys_of(&schema, &[rows]).unwrap();
        keys.remove(&gone);
        assert_eq!(keys.row_of(0, &id(9)).unwrap(), None);
    }

    #[test]
    fn multi_column_keys_name_their_columns() {
        let schema = schema();
        let mut keys = UniqueKeys::new(&schema);
        let first = keys
            .check(&schema, &[batch(&schema, &[1], &[Some("a")])])
            .unwrap();
        keys.insert(first, &[0, 1]);
        // Same name, other id: the pair differs, and so does the key.
        assert!(
            keys.check(&schema, &[batch(&schema, &[2], &[Some("a")])])
                .is_ok()
        );
        let schema_only_name = keys.check(&schema, &[batch(&schema, &[1], &[Some("b")])]);
        assert_eq!(detail(schema_only_name).0, "t_pkey");
    }

    #[test]
    fn matches_name_the_row_holding_a_key_and_the_first_earlier_row() {
        let schema = schema();
        let mut keys = UniqueKeys::new(&schema);
        let held = batch(&schema, &[1, 2], &[Some("a"), Some("b")]);
        keys.insert(keys.check(&schema, &[held]).unwrap(), &[10, 11]);
        let new = batch(&schema, &[2, 3, 3, 2], &[Some("x"), None, Some("y"), None]);
        let new = UniqueKeys::keys_of(&schema, &[new]).unwrap();
        let found = |existing, earlier| KeyMatch { existing, earlier };
        assert_eq!(
            keys.matches(0, &new),
            vec![
                found(Some(11), None),
                found(None, None),
                found(None, Some(1)),
                found(Some(11), Some(0)),
            ]
        );
        // A key with a NULL in it matches nothing.
        assert_eq!(keys.matches(1, &new)[1], KeyMatch::default());
    }
}
