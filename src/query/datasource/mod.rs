//! Where DataFusion meets storage: the catalogs (database = catalog, schema =
//! schema, read live from storage, with one `pg_catalog` per database and the
//! `epochdb` system schema), the table provider with its predicate pushdown,
//! and the physical operators that scan and aggregate storage directly.

pub(crate) mod aggregate_exec;
pub(crate) mod catalog;
pub(crate) mod dml;
pub(crate) mod key_lookup;
pub(crate) mod pushdown;
pub(crate) mod scan_exec;
pub(crate) mod system;
pub(crate) mod table;
