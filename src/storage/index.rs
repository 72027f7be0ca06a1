//! Indexes made with `CREATE INDEX` on a time-series table.
//!
//! A time-series table is already indexed the ways such an index asks for:
//! its tag index finds a series by its tag values, and each series' blocks
//! are in time order with their time bounds in the block index. So an index
//! over tag and time columns needs no structure of its own, and storage
//! keeps only its definition: what the catalogs list (`\di`, `pg_indexes`)
//! and what recovery restores. An index over anything else (a field, an
//! expression, a plain table's columns) would need one, and is refused.

use super::bytes::{Reader, Writer};
use super::error::Result;

/// An index of a schema, on one of its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub table: String,
    pub columns: Vec<IndexColumn>,
}

/// A column of an index, in the index's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexColumn {
    pub name: String,
    /// `DESC`.
    pub descending: bool,
    /// `NULLS FIRST`, which `DESC` implies unless `NULLS LAST` is given.
    pub nulls_first: bool,
}

impl Index {
    pub(super) fn encode(&self, w: &mut Writer) {
        w.str(&self.name);
        w.str(&self.table);
        w.len(self.columns.len());
        for column in &self.columns {
            w.str(&column.name);
            w.u8(u8::from(column.descending) | u8::from(column.nulls_first) << 1);
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let name = r.str()?.to_owned();
        let table = r.str()?.to_owned();
        let count = r.len()?;
        let mut columns = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let name = r.str()?.to_owned();
            let flags = r.u8()?;
            columns.push(IndexColumn {
                name,
                descending: flags & 1 != 0,
                nulls_first: flags & 2 != 0,
            });
        }
        Ok(Self {
            name,
            table,
            columns,
        })
    }
}
