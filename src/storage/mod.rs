//! In-memory state: databases, schemas (namespaces) and time-series tables.
//!
//! Storage knows Arrow, not DataFusion: writes arrive as Arrow `RecordBatch`es
//! and scans return them. A table groups rows into series by tag set; each
//! series keeps, per time shard, a mutable head and immutable compressed
//! blocks (see [`table`](self::Table) for the layout). Every object here is shared behind `Arc` and
//! synchronised internally, so any number of sessions may read and write at once.
//! Locks are `parking_lot` locks held only for in-memory work, never across an
//! `.await`.

mod acl;
mod aggregate;
mod block;
mod bytes;
mod catalog;
mod column;
pub mod decoders;
mod durability;
mod error;
mod feed;
mod files;
mod head;
mod image;
mod index;
mod journal;
mod record;
mod roles;
mod scan;
mod schema;
mod sequence;
mod series;
mod table;
mod tag_index;
mod unique;
mod view;

pub use acl::{Acl, PUBLIC, Privileges, Role};
pub use aggregate::{AggregateKind, AggregateRequest, AggregateStats, AggregateValue};
pub use block::{FieldStats, SealedBlock, ValueStats};
pub use catalog::{
    DEFAULT_DATABASE, DEFAULT_SCHEMA, Database, Grantable, Namespace, OwnedSequence, Storage,
};
pub use durability::{Recovery, SnapshotReport};
pub use error::{Error, Result};
pub use feed::{Delivery, Ended, Subscription};
pub use files::DurabilityOptions;
pub use index::{Index, IndexColumn};
pub use journal::Durable;
pub use roles::RoleChange;
pub use scan::{FieldBound, ReadView, ScanRequest, ScanStats, TimeRange};
pub use schema::{
    ColumnFill, ColumnRole, ColumnSchema, ColumnType, DEFAULT_BLOCK_SIZE, DEFAULT_SHARD_INTERVAL,
    Identity, SequenceOptions, SequenceOwner, SequenceSpec, SequenceType, TableOptions,
    TableSchema, UniqueConstraint,
};
pub use sequence::{Sequence, SequenceState};
pub use series::{SeriesId, SeriesKey};
pub use table::delete::{Region, RowPredicate, RowRewrite};
pub use table::{ColumnUsage, Table};
pub use tag_index::{SeriesFilter, SeriesSet, TagPredicate};
pub use unique::KeyMatch;
pub use view::{View, ViewColumn, ViewDependency, storable as view_column_storable};

#[cfg(test)]
mod tests;
