//! A time-series table: its series (keyed by tag set, indexed by tag), and per
//! time shard the series' sealed blocks and mutable heads.
//!
//! # Layout
//! ```text
//! Table ─ series: SeriesId → SeriesKey (interned tags) ─ tag index
//!       └ shards: ShardId → { SeriesId → Chunk { sealed: [Arc<SealedBlock>], head } }
//! ```
//! A shard covers `shard_interval` of time, so old data goes by whole shards.
//! Only the newest shard is open: when a write starts a newer one, the heads of
//! the older ones are sealed at the end of that write. A late point into a
//! closed shard is sealed at the end of its write, as a small block.
//!
//! # Late data
//! A point goes to the head of its series in its own shard, whatever its time.
//! Heads and sealing sort by time, so each block is sorted; blocks of a chunk
//! may overlap in time when points arrive late, and a scan merges overlapping
//! pieces (stably), so every series is returned in time order.
//!
//! # Concurrency
//! One `RwLock` per table. A write checks its batches, then appends under the
//! write lock (sealing any head that fills up). A scan takes the read lock only
//! to pick the blocks it needs (cloning their `Arc`s) and copy the matching
//! heads; decoding happens afterwards, without the lock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::take;
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::acl::Acl;
use super::block::SealedBlock;
use super::column::FieldColumn;
use super::error::{Error, Result, corrupt};
use super::feed::{Ended, Feed, Subscription};
use super::head::HeadBlock;
use super::image::{self, Capture, CapturedChunk, HeadImage, Heads};
use super::journal::{Durable, Journal};
use super::record::{data_record_header, mark_last};
use super::scan::{Piece, ReadView, ScanRequest};
use super::schema::{
    ColumnCheck, ColumnFill, ColumnRole, ColumnSchema, ColumnType, TableOptions, TableSchema,
    repeated,
};
use super::series::{Interner, SeriesId, SeriesKey, row_fingerprint};
use super::tag_index::{SeriesFilter, TagIndex};
use super::unique::UniqueKeys;

pub(super) mod delete;
mod rewrite;

/// A table of series. Cloning the `Arc<Table>` is how the query layer holds it.
#[derive(Debug)]
pub struct Table {
    name: String,
    /// Unique for the life of the data directory; WAL records name tables by it.
    id: u64,
    /// The log of the storage tree the table belongs to; `None` for staging
    /// and standalone tables, whose changes are nobody's business.
    journal: Option<Arc<Journal>>,
    schema: Arc<TableSchema>,
    options: TableOptions,
    field_types: Vec<ColumnType>,
    /// A plain table's next row number: its rows' hidden time, which keeps
    /// them in arrival order. Shared with its staging tables, so rows staged
    /// by concurrent statements never share a number.
    row_numbers: Arc<AtomicI64>,
    /// How long rows are kept, in microseconds; 0: for ever.
    retention: AtomicI64,
    /// Who may read and write it; nobody but superusers at first.
    acl: RwLock<Acl>,
    state: RwLock<TableState>,
    /// The table that took this one's rows when columns were added: reads
    /// and writes of this one go there, as of this table's own columns.
    successor: OnceLock<Arc<Table>>,
    /// The value each field column (by position) that this table added to
    /// its predecessor's gives the predecessor's rows; NULL past its end.
    fills: Vec<Option<ArrayRef>>,
    /// Rows its predecessor staged and brings later fail with
    /// `TableAltered`: a column it added has no value for them (`NOT NULL`
    /// without a default, or a default that changes per row, taken only
    /// because the table had no rows), or it checked its rows when it
    /// changed a column (`SET NOT NULL`, a shorter `varchar(n)`), which
    /// those rows were not.
    refuses_older: bool,
    /// It dropped a column of its predecessor, whose statements then fail
    /// (with `TableAltered`) rather than read or write it.
    narrowed: bool,
    /// Live subscribers to its new rows, shared with its successors.
    feed: Arc<Feed>,
}

#[derive(Debug)]
struct TableState {
    interner: Interner,
    ids: HashMap<SeriesKey, SeriesId>,
    /// Row fingerprint → series, the fast path of `series_id`; a fingerprint
    /// two series share maps to the first, and the other takes the slow path.
    fingerprints: HashMap<u64, SeriesId>,
    keys: Vec<SeriesKey>,
    tags: TagIndex,
    shards: BTreeMap<i64, Shard>,
    /// The keys of the schema's unique constraints.
    unique: UniqueKeys,
    /// The table was replaced by one with more columns, which took its
    /// rows: what still holds this one can neither read nor write it.
    retired: bool,
}

#[derive(Debug, Default)]
struct Shard {
    chunks: HashMap<SeriesId, Chunk>,
}

/// The points of one series in one shard.
#[derive(Debug)]
struct Chunk {
    sealed: Vec<Arc<SealedBlock>>,
    /// Shared with a snapshot in progress, if any; the next write to it then
    /// copies it first (`Arc::make_mut`), so taking a snapshot copies nothing.
    head: Arc<HeadBlock>,
}

impl Chunk {
    /// Appends `rows` of a batch (`times` is the batch's whole time column),
    /// sealing the head each time it reaches `block_size` points.
    fn append(
        &mut self,
        times: &[i64],
        fields: &[&dyn Array],
        rows: std::ops::Range<usize>,
        block_size: usize,
    ) -> Result<()> {
        let mut start = rows.start;
        while start < rows.end {
            let room = block_size.saturating_sub(self.head.len()).max(1);
            let stop = rows.end.min(start + room);
            Arc::make_mut(&mut self.head).extend(&times[start..stop], fields, start..stop)?;
            if self.head.len() >= block_size {
                self.seal_head()?;
            }
            start = stop;
        }
        Ok(())
    }

    /// Seals the head into a block, if it has points.
    fn seal_head(&mut self) -> Result<()> {
        if !self.head.is_empty() {
            let block = self.head.to_block()?;
            self.head = Arc::new(self.head.empty_like());
            self.sealed.push(Arc::new(block));
        }
        Ok(())
    }
}

/// What [`Table::absorb_here`] did: absorbed, or found the table retired
/// and gave the rows back.
enum Absorbed {
    Done(Durable<usize>),
    Retired(Box<Table>),
}

/// Memory and row counts of one column, for `epochdb.storage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnUsage {
    pub column: String,
    pub rows: u64,
    pub sealed_blocks: u64,
    pub head_rows: u64,
    /// Memory held by the column's sealed blocks and heads.
    pub bytes: u64,
}

impl Table {
    /// A standalone table; databases create theirs through [`Namespace::create_table`](super::Namespace::create_table).
    pub fn new(name: String, schema: TableSchema, options: TableOptions) -> Self {
        Self::attached(name, schema, options, 0, None)
    }

    /// A table of a storage tree, whose changes go to `journal`.
    pub(super) fn attached(
        name: String,
        schema: TableSchema,
        options: TableOptions,
        id: u64,
        journal: Option<Arc<Journal>>,
    ) -> Self {
        Self::with_row_numbers(name, schema, options, id, journal, Arc::default())
    }

    fn with_row_numbers(
        name: String,
        schema: TableSchema,
        options: TableOptions,
        id: u64,
        journal: Option<Arc<Journal>>,
        row_numbers: Arc<AtomicI64>,
    ) -> Self {
        let field_types = schema
            .field_indices()
            .iter()
            .map(|&i| schema.columns()[i].column_type)
            .collect();
        let state = TableState::new(&schema);
        Self {
            name,
            id,
            journal,
            schema: Arc::new(schema),
            options,
            field_types,
            row_numbers,
            retention: AtomicI64::new(0),
            acl: RwLock::new(Acl::default()),
            state: RwLock::new(state),
            successor: OnceLock::new(),
            fills: Vec::new(),
            refuses_older: false,
            narrowed: false,
            feed: Arc::default(),
        }
    }

    /// The table that replaced this retired one; `TableAltered` when it
    /// dropped a column, which what still holds this one may read.
    fn successor(&self) -> Result<&Arc<Table>> {
        let next = self.successor.get().ok_or_else(|| Error::Internal {
            reason: format!("table \"{}\" is retired without a successor", self.name),
        })?;
        if next.narrowed {
            return Err(Error::TableAltered {
                name: self.name.clone(),
            });
        }
        Ok(next)
    }

    /// `request` as this table's own columns: what it asks of a successor,
    /// which has more.
    fn own_columns(&self, request: &ScanRequest) -> ScanRequest {
        let projection = (request.projection.clone())
            .unwrap_or_else(|| (0..self.schema.columns().len()).collect());
        ScanRequest {
            projection: Some(projection),
            ..request.clone()
        }
    }

    /// `batches` of a table this one replaced, with the columns it lacks
    /// (fields, after its own) holding their fills.
    fn widen_batches(&self, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
        self.refuse_older_rows()?;
        let schema = self.arrow_schema();
        batches
            .iter()
            .map(|batch| {
                let mut columns = batch.columns().to_vec();
                let lacking = self.schema.columns().len().saturating_sub(columns.len());
                let first_field = self.field_types.len().saturating_sub(lacking);
                for f in first_field..self.field_types.len() {
                    let fill = self.fills.get(f).and_then(Option::as_ref);
                    columns.push(repeated(fill, self.field_types[f], batch.num_rows())?);
                }
                Ok(RecordBatch::try_new(schema.clone(), columns)?)
            })
            .collect()
    }

    /// `staged`, a staging table of a table this one replaced, with this
    /// table's columns: its heads and sealed blocks gain the added fields,
    /// holding their fills.
    fn widen_staged(&self, staged: Table) -> Result<Table> {
        self.refuse_older_rows()?;
        let added = match self.field_types.get(staged.field_types.len()..) {
            Some(added) if !added.is_empty() => added.to_vec(),
            _ => return Ok(staged),
        };
        let target = self.staging();
        {
            let old = staged.state.into_inner();
            let mut state = target.state.write();
            for (shard, chunks) in old.shards {
                for (series, chunk) in chunks.chunks {
                    let key = old
                        .keys
                        .get(series.0 as usize)
                        .ok_or_else(|| Error::Internal {
                            reason: "a staged chunk of an unknown series".into(),
                        })?;
                    let id = state.series_id_of_key(key)?;
                    let fills = self.fills.get(staged.field_types.len()..).unwrap_or(&[]);
                    let head = chunk.head.with_fields(&added, fills)?;
                    let widened = state.chunk(shard, id, &self.field_types);
                    widened.sealed = self.filled_blocks(chunk.sealed)?;
                    widened.head = Arc::new(head);
                }
            }
        }
        Ok(target)
    }

    /// The table's state, to change; fails once the table is retired.
    fn write_state(&self) -> Result<RwLockWriteGuard<'_, TableState>> {
        let state = self.state.write();
        if state.retired {
            return Err(Error::TableAltered {
                name: self.name.clone(),
            });
        }
        Ok(state)
    }

    /// The table's state, to read; fails once the table is retired.
    fn read_state(&self) -> Result<RwLockReadGuard<'_, TableState>> {
        let state = self.state.read();
        if state.retired {
            return Err(Error::TableAltered {
                name: self.name.clone(),
            });
        }
        Ok(state)
    }

    /// The schema of this table with `columns` added after its own, as
    /// fields. Fails, changing nothing, when they cannot be added.
    pub(super) fn schema_with(&self, columns: &[ColumnSchema]) -> Result<TableSchema> {
        for column in columns {
            if column.role != ColumnRole::Field {
                return Err(Error::Unsupported {
                    what: format!("adding \"{}\" as a tag or time column", column.name),
                });
            }
        }
        let mut all = self.schema.columns().to_vec();
        all.extend_from_slice(columns);
        TableSchema::try_new(all)?.with_constraints(self.schema.constraints().to_vec())
    }

    /// A table with `schema` (from [`schema_with`](Self::schema_with)) that
    /// takes every row of this one, which is retired: a statement that
    /// still holds it reads and writes the new table, as of the old one's
    /// columns. The rows gain the added columns holding `fills` (one per
    /// added column), checked against the columns' `NOT NULL` first.
    ///
    /// `log` logs the change, given the value each added column took (NULL
    /// for `None`), under this table's lock: a write that holds the lock
    /// first is logged before it, and one that comes after finds the table
    /// retired and is logged, by the successor, after it.
    pub(super) fn retire_into<T>(
        &self,
        schema: TableSchema,
        fills: &[ColumnFill],
        log: impl FnOnce(&[Option<ArrayRef>]) -> Result<Durable<T>>,
    ) -> Result<(Arc<Table>, Durable<T>)> {
        self.retire_as(&self.name, schema, &[], fills, log)
    }

    /// [`retire_into`](Self::retire_into) a table named `name`, once every
    /// row passes `checks` (by index of the schema: no NULL, or values that
    /// fit the new schema's column; checked under the lock that the change
    /// is made under, so no write slips between).
    pub(super) fn retire_as<T>(
        &self,
        name: &str,
        schema: TableSchema,
        checks: &[(usize, ColumnCheck)],
        fills: &[ColumnFill],
        log: impl FnOnce(&[Option<ArrayRef>]) -> Result<Durable<T>>,
    ) -> Result<(Arc<Table>, Durable<T>)> {
        let mut table = Table::with_row_numbers(
            name.to_owned(),
            schema,
            self.options,
            self.id,
            self.journal.clone(),
            self.row_numbers.clone(),
        );
        table.feed = self.feed.clone();
        let added_columns = &table.schema.columns()[self.schema.columns().len()..];
        let mut state = self.write_state()?;
        table.refuses_older = !checks.is_empty();
        for &(column, check) in checks {
            match check {
                ColumnCheck::NotNull if self.column_has_nulls(&state, column) => {
                    return Err(Error::ColumnHasNulls {
                        table: self.name.clone(),
                        column: (self.schema.columns().get(column))
                            .map(|c| c.name.clone())
                            .unwrap_or_default(),
                    });
                }
                ColumnCheck::NotNull | ColumnCheck::Retype(_) => {}
                ColumnCheck::Fits => {
                    let new =
                        (table.schema.columns().get(column)).ok_or_else(|| Error::Internal {
                            reason: format!("no column {column} to check"),
                        })?;
                    self.check_fits(&state, column, new)?;
                }
            }
        }
        let has_rows = (state.shards.values())
            .flat_map(|shard| shard.chunks.values())
            .any(|chunk| !chunk.head.is_empty() || !chunk.sealed.is_empty());
        let mut added_fills = Vec::with_capacity(added_columns.len());
        for (i, column) in added_columns.iter().enumerate() {
            let fill = fills.get(i).unwrap_or(&ColumnFill::Null);
            if has_rows && matches!(fill, ColumnFill::PerRow) {
                return Err(Error::Unsupported {
                    what: format!(
                        "adding column \"{}\", whose DEFAULT takes a new value in each row, to a table with rows",
                        column.name
                    ),
                });
            }
            let value = fill.value(column)?;
            let unfilled =
                matches!(fill, ColumnFill::PerRow) || (value.is_none() && !column.nullable);
            if has_rows && unfilled {
                return Err(Error::ColumnHasNulls {
                    table: self.name.clone(),
                    column: column.name.clone(),
                });
            }
            table.refuses_older |= unfilled;
            added_fills.push(value);
        }
        table.fills = vec![None; self.field_types.len()];
        table.fills.extend(added_fills.iter().cloned());
        // Fields whose values change type: what still holds this table, or
        // reads its feed, would meet values of the old type.
        let retypes: Vec<(usize, ColumnType)> = (checks.iter())
            .filter_map(|&(column, check)| match check {
                ColumnCheck::Retype(to) => {
                    let field = self
                        .schema
                        .field_indices()
                        .iter()
                        .position(|&i| i == column)?;
                    Some((field, to))
                }
                _ => None,
            })
            .collect();
        if !retypes.is_empty() {
            table.narrowed = true;
            table.feed = Arc::default();
        }
        let added = &table.field_types[self.field_types.len()..];
        let filled = added_fills.iter().any(Option::is_some);
        let mut heads = Vec::new();
        let mut blocks = Vec::new();
        for (&shard, chunks) in &state.shards {
            for (&series, chunk) in &chunks.chunks {
                let head = chunk.head.with_fields(added, &added_fills)?;
                heads.push((shard, series, Arc::new(head.retyped(&retypes)?)));
                if filled || !retypes.is_empty() {
                    let mut sealed = chunk.sealed.clone();
                    if filled {
                        sealed = table.filled_blocks(sealed)?;
                    }
                    for block in &mut sealed {
                        if let Some(retyped) = block.retyped(&retypes)? {
                            *block = Arc::new(retyped);
                        }
                    }
                    blocks.push((shard, series, sealed));
                }
            }
        }
        let logged = log(&added_fills)?;
        let mut moved = std::mem::replace(&mut *state, TableState::new(&self.schema));
        state.retired = true;
        for (shard, series, head) in heads {
            if let Some(chunk) =
                (moved.shards.get_mut(&shard)).and_then(|s| s.chunks.get_mut(&series))
            {
                chunk.head = head;
            }
        }
        for (shard, series, sealed) in blocks {
            if let Some(chunk) =
                (moved.shards.get_mut(&shard)).and_then(|s| s.chunks.get_mut(&series))
            {
                chunk.sealed = sealed;
            }
        }
        *table.state.write() = moved;
        *table.acl.write() = self.acl();
        table.set_retention(self.retention());
        let retyped = table.narrowed;
        let table = Arc::new(table);
        // Set before the lock is released: whoever finds this table retired
        // finds its successor.
        let _ = self.successor.set(table.clone());
        if retyped {
            self.feed.end(Ended::Altered);
        }
        Ok((table, logged))
    }

    /// A table with `schema`, this table's without the field columns
    /// `fields` (positions among the fields) and without the constraints
    /// `kept` marks false, that takes every row of this one without them;
    /// this one is retired. What still holds this one fails from then on
    /// (`TableAltered`), and its subscriptions end.
    ///
    /// `log` logs the change under this table's lock, as for
    /// [`retire_into`](Self::retire_into).
    pub(super) fn retire_dropping<T>(
        &self,
        schema: TableSchema,
        fields: &[usize],
        kept: &[bool],
        log: impl FnOnce() -> Result<Durable<T>>,
    ) -> Result<(Arc<Table>, Durable<T>)> {
        let mut table = Table::with_row_numbers(
            self.name.clone(),
            schema,
            self.options,
            self.id,
            self.journal.clone(),
            self.row_numbers.clone(),
        );
        table.narrowed = true;
        let mut state = self.write_state()?;
        let logged = log()?;
        let mut moved = std::mem::replace(&mut *state, TableState::new(&self.schema));
        state.retired = true;
        moved.unique.retain(kept);
        for chunks in moved.shards.values_mut() {
            for chunk in chunks.chunks.values_mut() {
                chunk.head = Arc::new(chunk.head.without_fields(fields));
                for block in &mut chunk.sealed {
                    if let Some(narrowed) = block.without_fields(fields) {
                        *block = Arc::new(narrowed);
                    }
                }
            }
        }
        *table.state.write() = moved;
        *table.acl.write() = self.acl();
        table.set_retention(self.retention());
        let table = Arc::new(table);
        let _ = self.successor.set(table.clone());
        // Subscribers read the old columns by position.
        self.feed.end(Ended::Altered);
        Ok((table, logged))
    }

    /// Fails with `TableAltered` when rows of the table this one replaced
    /// cannot come in (see `refuses_older`).
    fn refuse_older_rows(&self) -> Result<()> {
        if self.refuses_older {
            return Err(Error::TableAltered {
                name: self.name.clone(),
            });
        }
        Ok(())
    }

    /// `blocks` of a table this one replaced, holding this table's fills in
    /// the field columns they lack.
    fn filled_blocks(&self, blocks: Vec<Arc<SealedBlock>>) -> Result<Vec<Arc<SealedBlock>>> {
        blocks
            .into_iter()
            .map(|block| {
                Ok(match block.with_fields(&self.field_types, &self.fills)? {
                    Some(filled) => Arc::new(filled),
                    None => block,
                })
            })
            .collect()
    }

    /// Fails unless every value of text column `index` fits `column` (its
    /// new form) as it is: `StringTooLong` for one too long, and a refusal
    /// for one that only trailing spaces make too long (PostgreSQL cuts
    /// those, which would rewrite the rows).
    fn check_fits(&self, state: &TableState, index: usize, column: &ColumnSchema) -> Result<()> {
        let fits = |value: &str| -> Result<()> {
            if column.fit_text(value)?.len() != value.len() {
                return Err(Error::Unsupported {
                    what: format!(
                        "shortening column \"{}\" that holds values with trailing spaces past the new length",
                        column.name
                    ),
                });
            }
            Ok(())
        };
        let schema = &self.schema;
        if let Some(tag) = schema.tag_indices().iter().position(|&i| i == index) {
            // Only series with rows: a key stays when its rows go.
            let held = (state.shards.values())
                .flat_map(|shard| shard.chunks.iter())
                .filter(|(_, chunk)| !chunk.head.is_empty() || !chunk.sealed.is_empty());
            for (series, _) in held {
                let key = state.keys.get(series.0 as usize);
                if let Some(Some(value)) = key.and_then(|k| k.values().get(tag)) {
                    fits(value)?;
                }
            }
            return Ok(());
        }
        let Some(field) = schema.field_indices().iter().position(|&i| i == index) else {
            return Ok(());
        };
        let column_type = self.field_types[field];
        let check = |array: ArrayRef| -> Result<()> {
            if let Some(strings) = array.as_string_opt::<i32>() {
                strings.iter().flatten().try_for_each(fits)?;
            }
            Ok(())
        };
        for chunks in state.shards.values() {
            for chunk in chunks.chunks.values() {
                check(chunk.head.field(field).to_array())?;
                for block in &chunk.sealed {
                    check(block.decode_field(field, column_type)?)?;
                }
            }
        }
        Ok(())
    }

    /// Whether any row holds NULL in column `index` of the schema.
    fn column_has_nulls(&self, state: &TableState, index: usize) -> bool {
        let schema = &self.schema;
        let chunks = || state.shards.values().flat_map(|shard| shard.chunks.iter());
        let has_rows = |chunk: &Chunk| !chunk.head.is_empty() || !chunk.sealed.is_empty();
        if let Some(tag) = schema.tag_indices().iter().position(|&i| i == index) {
            return chunks().any(|(series, chunk)| {
                has_rows(chunk)
                    && (state.keys.get(series.0 as usize))
                        .is_some_and(|key| key.values().get(tag).is_some_and(Option::is_none))
            });
        }
        let Some(field) = schema.field_indices().iter().position(|&i| i == index) else {
            // The time column holds no NULL.
            return false;
        };
        chunks().any(|(_, chunk)| {
            chunk.head.field(field).null_count > 0
                || chunk
                    .sealed
                    .iter()
                    .any(|block| match block.field_stats(field) {
                        Some(stats) => stats.null_count > 0,
                        // A block older than the field reads it as NULL.
                        None => block.rows() > 0,
                    })
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Unique for the life of the data directory.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Who may read and write the table.
    pub fn acl(&self) -> Acl {
        self.acl.read().clone()
    }

    pub(super) fn acl_lock(&self) -> &RwLock<Acl> {
        &self.acl
    }

    pub fn schema(&self) -> &Arc<TableSchema> {
        &self.schema
    }

    pub fn options(&self) -> TableOptions {
        self.options
    }

    pub fn arrow_schema(&self) -> &SchemaRef {
        self.schema.arrow_schema()
    }

    /// Appends every row of `batches`, whose columns are the table's columns in
    /// order. All batches are checked before any row is applied, so a write
    /// either applies entirely or, on error, not at all.
    ///
    /// Visible to scans that start after this returns; acknowledge it once
    /// the returned ticket is [durable](Durable::durable). With a log, the
    /// rows are staged and logged as an image, which replay absorbs the same way.
    pub fn write(&self, batches: &[RecordBatch]) -> Result<Durable<usize>> {
        let fitted = self.fit_values(batches)?;
        let batches = fitted.as_deref().unwrap_or(batches);
        for batch in batches {
            self.check_batch(batch)?;
        }
        // Rows beyond the retention are dropped as a staging table is
        // absorbed.
        // So do subscribers' rows, published as it is.
        if self.journal.as_ref().is_some_and(|j| j.wal().is_some())
            || self.retention().is_some()
            || self.feed.is_active()
        {
            let staging = self.staging();
            staging.append_checked(batches)?;
            return self.absorb(staging);
        }
        match self.append_unless_subscribed(batches) {
            Ok(Some(rows)) => Ok(Durable::new(rows, None)),
            // Someone subscribed since the check above: their rows are
            // published as a staging table's are.
            Ok(None) => {
                let staging = self.staging();
                staging.append_checked(batches)?;
                self.absorb(staging)
            }
            Err(Error::TableAltered { .. }) => {
                let next = self.successor()?;
                next.write(&next.widen_batches(batches)?)
            }
            Err(e) => Err(e),
        }
    }

    /// `batches` with their values as the columns store them
    /// ([`ColumnSchema::fit_array`]: `VARCHAR(n)` fitted to its length,
    /// `json` checked, `jsonb` and `uuid` normalized); `None` when nothing
    /// changes.
    fn fit_values(&self, batches: &[RecordBatch]) -> Result<Option<Vec<RecordBatch>>> {
        let limited: Vec<usize> = (self.schema.columns().iter().enumerate())
            .filter(|(_, c)| c.fits_values())
            .map(|(i, _)| i)
            .collect();
        if limited.is_empty() {
            return Ok(None);
        }
        let mut fitted_batches: Option<Vec<RecordBatch>> = None;
        for (b, batch) in batches.iter().enumerate() {
            let mut columns: Option<Vec<ArrayRef>> = None;
            for &i in &limited {
                let Some(column) = batch.columns().get(i) else {
                    continue;
                };
                if let Some(fitted) = self.schema.columns()[i].fit_array(column)? {
                    columns.get_or_insert_with(|| batch.columns().to_vec())[i] = fitted;
                }
            }
            if let Some(columns) = columns {
                fitted_batches.get_or_insert_with(|| batches.to_vec())[b] =
                    RecordBatch::try_new(batch.schema(), columns)?;
            }
        }
        Ok(fitted_batches)
    }

    /// Applies batches that [`check_batch`](Self::check_batch) accepted.
    fn append_checked(&self, batches: &[RecordBatch]) -> Result<usize> {
        let state = self.write_state()?;
        self.append_locked(state, batches)
    }

    /// [`append_checked`](Self::append_checked), unless the table has
    /// subscribers (decided under the write lock, which they subscribe
    /// under): `None` then, and nothing is applied.
    fn append_unless_subscribed(&self, batches: &[RecordBatch]) -> Result<Option<usize>> {
        let state = self.write_state()?;
        if self.feed.is_active() {
            return Ok(None);
        }
        self.append_locked(state, batches).map(Some)
    }

    fn append_locked(
        &self,
        mut state: RwLockWriteGuard<'_, TableState>,
        batches: &[RecordBatch],
    ) -> Result<usize> {
        let keys = state.unique.check(&self.schema, batches)?;
        let newest_before = state.shards.keys().next_back().copied();
        let mut late = HashSet::new();
        let mut written = 0;
        let mut numbers = Vec::new();
        for batch in batches {
            let time = self.append(&mut state, batch, &mut late)?;
            if self.schema.is_plain() {
                let time = time.as_primitive::<TimestampMicrosecondType>();
                numbers.extend_from_slice(time.values());
            }
            written += batch.num_rows();
        }
        self.seal_closed(&mut state, newest_before, late)?;
        state.unique.insert(keys, &numbers);
        Ok(written)
    }

    /// Checks that `batches` would break none of the table's unique
    /// constraints as it stands now; a transaction checks its rows this way
    /// when it stages them, and again when it commits them.
    pub fn check_unique(&self, batches: &[RecordBatch]) -> Result<()> {
        if !self.schema.constraints().is_empty() {
            self.state.read().unique.check(&self.schema, batches)?;
        }
        Ok(())
    }

    /// The rows of a staging table with their numbers, when the table has
    /// keys to check them by.
    fn keyed_rows(&self, staged: &Table) -> Result<(Vec<RecordBatch>, Vec<i64>)> {
        if self.schema.constraints().is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let (batches, numbers): (Vec<_>, Vec<_>) = staged.numbered_rows(None)?.into_iter().unzip();
        Ok((batches, numbers.concat()))
    }

    /// Seals the heads of shards that are closed: every shard older than the
    /// newest. Those that were open before this write are sealed whole; of the
    /// older ones, only the chunks this write added late points to.
    fn seal_closed(
        &self,
        state: &mut TableState,
        newest_before: Option<i64>,
        late: HashSet<(i64, SeriesId)>,
    ) -> Result<()> {
        let Some(newest) = state.shards.keys().next_back().copied() else {
            return Ok(());
        };
        let seal = Chunk::seal_head;
        for (_, shard) in state
            .shards
            .range_mut(newest_before.unwrap_or(i64::MIN)..newest)
        {
            for chunk in shard.chunks.values_mut() {
                seal(chunk)?;
            }
        }
        for (shard, id) in late {
            if shard < newest
                && let Some(chunk) = state
                    .shards
                    .get_mut(&shard)
                    .and_then(|s| s.chunks.get_mut(&id))
            {
                seal(chunk)?;
            }
        }
        Ok(())
    }

    /// Appends a batch; returns the times it gave its rows (a plain
    /// table's row numbers).
    fn append(
        &self,
        state: &mut TableState,
        batch: &RecordBatch,
        late: &mut HashSet<(i64, SeriesId)>,
    ) -> Result<ArrayRef> {
        let columns = batch.columns();
        let tags: Vec<&StringArray> = self
            .schema
            .tag_indices()
            .iter()
            .map(|&i| columns[i].as_string::<i32>())
            .collect();
        let mut ids = Vec::with_capacity(batch.num_rows());
        let mut previous: Option<SeriesId> = None;
        for row in 0..batch.num_rows() {
            // Rows of one series often come together: reuse the last lookup.
            let id = match previous {
                Some(id) if state.keys[id.0 as usize].matches_row(&tags, row) => id,
                _ => state.series_id(&tags, row)?,
            };
            previous = Some(id);
            ids.push(id);
        }
        let fields = self
            .schema
            .field_indices()
            .iter()
            .map(|&i| columns[i].clone())
            .collect();
        let time = match self.schema.time_index() {
            Some(time) => columns[time].clone(),
            None => self.next_row_numbers(batch.num_rows()),
        };
        self.append_rows(state, ids, time.clone(), fields, late)?;
        Ok(time)
    }

    /// The hidden times of `rows` new rows of a plain table: the next row
    /// numbers, which no other write takes.
    fn next_row_numbers(&self, rows: usize) -> ArrayRef {
        let first = self.row_numbers.fetch_add(rows as i64, Ordering::Relaxed);
        Arc::new(TimestampMicrosecondArray::from_iter_values(
            first..first + rows as i64,
        ))
    }

    /// Appends rows whose series are known: `time` and `fields` (the field
    /// columns, in order) checked, `ids` of series of this table.
    fn append_rows(
        &self,
        state: &mut TableState,
        mut ids: Vec<SeriesId>,
        mut time: ArrayRef,
        mut fields: Vec<ArrayRef>,
        late: &mut HashSet<(i64, SeriesId)>,
    ) -> Result<()> {
        let rows = ids.len();
        let interval = self.options.shard_interval;
        let mut shards: Vec<i64> = time
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .iter()
            .map(|t| t.div_euclid(interval))
            .collect();
        let run_starts = |ids: &[SeriesId], shards: &[i64]| {
            (1..ids.len())
                .filter(|&r| ids[r] != ids[r - 1] || shards[r] != shards[r - 1])
                .count()
        };
        // Rows that interleave series (time-major, as most collectors send
        // them) are regrouped by series first, stably, so each series' rows
        // are appended a column at a time rather than a row at a time.
        if run_starts(&ids, &shards) * 4 > rows {
            let mut order: Vec<u32> = (0..rows as u32).collect();
            // The row number in the key keeps the order stable.
            order.sort_unstable_by_key(|&r| (ids[r as usize], shards[r as usize], r));
            ids = order.iter().map(|&r| ids[r as usize]).collect();
            shards = order.iter().map(|&r| shards[r as usize]).collect();
            let order = UInt32Array::from(order);
            time = take(&time, &order, None)?;
            fields = fields
                .iter()
                .map(|f| take(f, &order, None))
                .collect::<std::result::Result<_, _>>()?;
        }
        let times = time.as_primitive::<TimestampMicrosecondType>().values();
        let fields: Vec<&dyn Array> = fields.iter().map(|f| f.as_ref()).collect();
        let mut newest = state.shards.keys().next_back().copied().unwrap_or(i64::MIN);
        let mut row = 0;
        while row < rows {
            let (id, shard) = (ids[row], shards[row]);
            // The run of rows of this series in this shard, appended at once.
            let end = (row + 1..rows)
                .find(|&r| ids[r] != id || shards[r] != shard)
                .unwrap_or(rows);
            if shard < newest {
                late.insert((shard, id));
            }
            newest = newest.max(shard);
            state.chunk(shard, id, &self.field_types).append(
                times,
                &fields,
                row..end,
                self.options.block_size,
            )?;
            row = end;
        }
        Ok(())
    }

    /// The series with these tag values (in tag-column order, `None` for
    /// NULL), created if it is new. With [`write_series`](Self::write_series),
    /// a writer that tells series apart itself (COPY, from the raw bytes of
    /// the tags) skips the per-row lookup.
    pub fn series(&self, tags: &[Option<&str>]) -> Result<SeriesId> {
        if tags.len() != self.schema.tag_indices().len() {
            return Err(Error::Internal {
                reason: format!(
                    "{} tag values for table \"{}\" with {} tag columns",
                    tags.len(),
                    self.name,
                    self.schema.tag_indices().len()
                ),
            });
        }
        let columns = self.schema.columns();
        let tags = (tags.iter().zip(self.schema.tag_indices()))
            .map(|(v, &i)| v.map(|v| columns[i].fit_text(v)).transpose())
            .collect::<Result<Vec<_>>>()?;
        let mut state = self.write_state()?;
        let key = SeriesKey::new(
            tags.iter()
                .map(|v| v.map(|v| state.interner.intern(v)))
                .collect(),
        );
        state.id_of_interned(key)
    }

    /// Appends rows whose series [`series`](Self::series) gave: `ids[r]` is
    /// row `r`'s, `time` the time column and `fields` the field columns, in
    /// the table's order. Checked whole before anything is applied. Only for
    /// a table without a log, such as a [staging](Self::staging) table.
    pub fn write_series(
        &self,
        ids: Vec<SeriesId>,
        time: Option<ArrayRef>,
        mut fields: Vec<ArrayRef>,
    ) -> Result<usize> {
        if self.journal.as_ref().is_some_and(|j| j.wal().is_some()) {
            return Err(Error::Internal {
                reason: "write_series on a logged table".into(),
            });
        }
        for (field, &index) in fields.iter_mut().zip(self.schema.field_indices()) {
            if let Some(fitted) = self.schema.columns()[index].fit_array(field)? {
                *field = fitted;
            }
        }
        let rows = ids.len();
        let time = match (self.schema.time_index(), time) {
            (Some(index), Some(time)) => {
                self.check_column(index, time.as_ref())?;
                time
            }
            (None, None) => self.next_row_numbers(rows),
            _ => {
                return Err(Error::Internal {
                    reason: format!("write_series to \"{}\" with the wrong time", self.name),
                });
            }
        };
        if time.len() != rows {
            return Err(Error::Internal {
                reason: format!("time column of {} rows in a write of {rows}", time.len()),
            });
        }
        let columns = self.schema.field_indices().iter().copied().zip(&fields);
        if fields.len() != self.schema.field_indices().len() {
            return Err(Error::Internal {
                reason: format!(
                    "write of {} field columns to \"{}\"",
                    fields.len(),
                    self.name
                ),
            });
        }
        for (index, column) in columns {
            self.check_column(index, column.as_ref())?;
            if column.len() != rows {
                return Err(Error::Internal {
                    reason: format!("column of {} rows in a write of {rows}", column.len()),
                });
            }
        }
        let mut state = self.write_state()?;
        if ids.iter().any(|id| id.0 as usize >= state.keys.len()) {
            return Err(Error::Internal {
                reason: format!("write to an unknown series of \"{}\"", self.name),
            });
        }
        let newest_before = state.shards.keys().next_back().copied();
        let mut late = HashSet::new();
        self.append_rows(&mut state, ids, time, fields, &mut late)?;
        self.seal_closed(&mut state, newest_before, late)?;
        Ok(rows)
    }

    /// Checks types and NOT NULL constraints before anything is applied.
    fn check_batch(&self, batch: &RecordBatch) -> Result<()> {
        let expected = self.schema.arrow_schema();
        if batch.num_columns() != expected.fields().len() {
            return Err(Error::Internal {
                reason: format!(
                    "write has {} columns, table \"{}\" has {}",
                    batch.num_columns(),
                    self.name,
                    expected.fields().len()
                ),
            });
        }
        for (index, column) in batch.columns().iter().enumerate() {
            self.check_column(index, column.as_ref())?;
        }
        Ok(())
    }

    /// Checks that `column` fits table column `index`: its type, and NOT NULL.
    fn check_column(&self, index: usize, column: &dyn Array) -> Result<()> {
        let field = &self.schema.arrow_schema().fields()[index];
        if column.data_type() != field.data_type() {
            return Err(Error::Internal {
                reason: format!(
                    "column \"{}\" written as {}, expected {}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                ),
            });
        }
        let schema = &self.schema.columns()[index];
        if !schema.nullable && column.null_count() > 0 {
            return Err(Error::NotNullViolation {
                table: self.name.clone(),
                column: schema.name.clone(),
            });
        }
        Ok(())
    }

    /// An empty table with this one's schema and options that no one else
    /// sees: where a statement that must apply whole (`COPY`) stages its
    /// rows, compressed as they arrive, until [`absorb`](Self::absorb).
    pub fn staging(&self) -> Table {
        Table::with_row_numbers(
            self.name.clone(),
            (*self.schema).clone(),
            self.options,
            0,
            None,
            self.row_numbers.clone(),
        )
    }

    /// Adds every row of `staged`, a table from [`staging`](Self::staging), at
    /// once: a scan sees all of them or none. Sealed blocks move over as they
    /// are; head rows are appended. Returns the number of rows added, once
    /// durable. With a log, the staged rows are logged as an image first.
    pub fn absorb(&self, staged: Table) -> Result<Durable<usize>> {
        match self.absorb_here(staged)? {
            Absorbed::Done(rows) => Ok(rows),
            Absorbed::Retired(staged) => {
                let next = self.successor()?;
                next.absorb(next.widen_staged(*staged)?)
            }
        }
    }

    fn absorb_here(&self, staged: Table) -> Result<Absorbed> {
        self.drop_expired(&staged)?;
        let (keyed, numbers) = self.keyed_rows(&staged)?;
        // Readied for subscribers before the lock is taken; under it, only
        // what a subscriber that came in between wants is decoded.
        let staged_view = |columns| {
            staged.snapshot(&ScanRequest {
                projection: Some(columns),
                ..ScanRequest::default()
            })
        };
        let full = staged.arrow_schema();
        let prepared = self.feed.prepare(staged_view, full)?;
        let Some(journal) = self.journal.as_ref().filter(|j| j.wal().is_some()) else {
            let mut state = self.state.write();
            if state.retired {
                return Ok(Absorbed::Retired(Box::new(staged)));
            }
            let keys = state.unique.check(&self.schema, &keyed)?;
            let outgoing = self.feed.route_under_lock(staged_view, full, prepared)?;
            let rows = self.absorb_into(&mut state, staged)?;
            state.unique.insert(keys, &numbers);
            let done = Durable::new(rows, None);
            if let Some(outgoing) = outgoing {
                self.feed.publish(outgoing, None, &done.again());
            }
            return Ok(Absorbed::Done(done));
        };
        let capture = staged.capture();
        if capture.chunks.is_empty() {
            return Ok(Absorbed::Done(Durable::new(0, None)));
        }
        let mut records = capture.encode(Heads::Raw, |w| data_record_header(w, self.id))?;
        if let Some(last) = records.last_mut() {
            mark_last(last);
        }
        let _change = journal.change();
        let mut state = self.state.write();
        if state.retired {
            return Ok(Absorbed::Retired(Box::new(staged)));
        }
        // Checked under the lock that applies them: two writers of one key
        // cannot both pass.
        let keys = state.unique.check(&self.schema, &keyed)?;
        let outgoing = self.feed.route_under_lock(staged_view, full, prepared)?;
        let logged = journal.log(&records, ())?;
        let rows = self.absorb_into(&mut state, staged)?;
        state.unique.insert(keys, &numbers);
        if let Some(outgoing) = outgoing {
            self.feed.publish(outgoing, logged.lsn(), &logged);
        }
        Ok(Absorbed::Done(logged.map(|()| rows)))
    }

    /// Subscribes to the rows written from now on, and takes the snapshot
    /// of what `request` needs that they follow (an empty one without
    /// `snapshot`): under the table's lock, which keeps writers out, so
    /// every write is in exactly one of the two. `limit` is how many rows
    /// may wait for the subscriber before it is cut off.
    pub fn subscribe(
        &self,
        request: &ScanRequest,
        columns: Vec<usize>,
        snapshot: bool,
        limit: usize,
    ) -> Result<(ReadView, Subscription)> {
        let state = match self.read_state() {
            Ok(state) => state,
            Err(Error::TableAltered { .. }) => {
                let request = self.own_columns(request);
                return self
                    .successor()?
                    .subscribe(&request, columns, snapshot, limit);
            }
            Err(e) => return Err(e),
        };
        let view = if snapshot {
            self.snapshot_in(&state, request)?
        } else {
            let nothing = ScanRequest {
                series: SeriesFilter::Or(Vec::new()),
                ..request.clone()
            };
            self.snapshot_in(&state, &nothing)?
        };
        let wal = self.journal.as_ref().and_then(|j| j.wal());
        let now = Durable::new((), wal.map(|wal| (wal.clone(), wal.end())));
        let subscription = self
            .feed
            .subscribe(request.series.clone(), columns, limit, now);
        drop(state);
        Ok((Self::in_order(view), subscription))
    }

    /// Ends the table's subscriptions: it was dropped.
    pub(super) fn end_subscriptions(&self) {
        self.feed.end(Ended::Dropped);
    }

    /// [`absorb`](Self::absorb) without logging: for replay.
    pub(super) fn absorb_replayed(&self, staged: Table) -> Result<usize> {
        let (keyed, numbers) = self.keyed_rows(&staged)?;
        let mut state = self.write_state()?;
        let keys = state.unique.check(&self.schema, &keyed)?;
        let rows = self.absorb_into(&mut state, staged)?;
        state.unique.insert(keys, &numbers);
        Ok(rows)
    }

    fn absorb_into(&self, state: &mut TableState, staged: Table) -> Result<usize> {
        let staged = staged.state.into_inner();
        if self.schema.is_plain() {
            // Replayed rows keep their numbers: number new ones after them.
            let newest = (staged.shards.values().flat_map(|s| s.chunks.values()))
                .flat_map(|c| {
                    let sealed = c.sealed.iter().map(|b| b.max_time());
                    sealed.chain(c.head.time_bounds().map(|(_, max)| max))
                })
                .max();
            if let Some(newest) = newest {
                self.row_numbers
                    .fetch_max(newest.saturating_add(1), Ordering::Relaxed);
            }
        }
        let all_fields: Vec<usize> = (0..self.field_types.len()).collect();
        let block_size = self.options.block_size;
        let newest_before = state.shards.keys().next_back().copied();
        let mut newest = newest_before.unwrap_or(i64::MIN);
        let mut late = HashSet::new();
        let mut rows = 0;
        for (shard_id, shard) in staged.shards {
            for (staged_id, chunk) in shard.chunks {
                let id = state.series_id_of_key(&staged.keys[staged_id.0 as usize])?;
                if shard_id < newest {
                    late.insert((shard_id, id));
                }
                let target = state.chunk(shard_id, id, &self.field_types);
                rows += chunk.sealed.iter().map(|b| b.rows()).sum::<usize>() + chunk.head.len();
                if !chunk.sealed.is_empty() {
                    // Rows already in the head arrived first: keep them first.
                    target.seal_head()?;
                }
                target.sealed.extend(chunk.sealed);
                let (times, columns) = chunk.head.sorted(&all_fields);
                let arrays: Vec<_> = columns.iter().map(FieldColumn::to_array).collect();
                let fields: Vec<&dyn Array> = arrays.iter().map(AsRef::as_ref).collect();
                target.append(&times, &fields, 0..times.len(), block_size)?;
            }
            newest = newest.max(shard_id);
        }
        self.seal_closed(state, newest_before, late)?;
        Ok(rows)
    }

    /// Everything the table holds, by cloning pointers: the heads are shared
    /// until their next write.
    pub(super) fn capture(&self) -> Capture {
        let state = self.state.read();
        let mut chunks = Vec::new();
        for (&shard, chunks_of_shard) in &state.shards {
            let mut ids: Vec<&SeriesId> = chunks_of_shard.chunks.keys().collect();
            ids.sort_unstable();
            for id in ids {
                let chunk = &chunks_of_shard.chunks[id];
                if chunk.sealed.is_empty() && chunk.head.is_empty() {
                    continue;
                }
                chunks.push(CapturedChunk {
                    shard,
                    series: *id,
                    sealed: chunk.sealed.clone(),
                    head: chunk.head.clone(),
                });
            }
        }
        Capture {
            keys: state.keys.clone(),
            chunks,
        }
    }

    /// A staging table holding the rows of an image fragment.
    pub(super) fn staging_from_image(&self, image: &[u8]) -> Result<Table> {
        let staged = self.staging();
        let chunks = image::decode(image, self.schema.tag_indices().len(), &self.field_types)?;
        {
            let mut state = staged.state.write();
            for chunk in chunks {
                if chunk.key.values().len() != self.schema.tag_indices().len() {
                    return Err(corrupt("series key has the wrong number of tags"));
                }
                let id = state.series_id_of_key(&chunk.key)?;
                let target = state.chunk(chunk.shard, id, &self.field_types);
                target.sealed.extend(chunk.sealed.into_iter().map(Arc::new));
                if !target.head.is_empty() {
                    return Err(corrupt("an image holds a chunk twice"));
                }
                match chunk.head {
                    None => {}
                    Some(HeadImage::Raw(head)) => target.head = Arc::new(head),
                    Some(HeadImage::Block(head)) => {
                        let times = head.decode_times()?;
                        let arrays = (self.field_types.iter().enumerate())
                            .map(|(f, &column_type)| head.decode_field(f, column_type))
                            .collect::<Result<Vec<_>>>()?;
                        if times.len() != head.rows()
                            || arrays.iter().any(|a| a.len() != head.rows())
                        {
                            return Err(corrupt("head block columns differ in length"));
                        }
                        let fields: Vec<&dyn Array> = arrays.iter().map(AsRef::as_ref).collect();
                        Arc::make_mut(&mut target.head).extend(&times, &fields, 0..times.len())?;
                    }
                }
            }
        }
        Ok(staged)
    }

    /// Seals every non-empty head, open shards included: what a snapshot to
    /// disk or a bench of the compressed size wants.
    pub fn seal_heads(&self) -> Result<()> {
        let mut state = self.state.write();
        for shard in state.shards.values_mut() {
            for chunk in shard.chunks.values_mut() {
                chunk.seal_head()?;
            }
        }
        Ok(())
    }

    /// Takes a consistent snapshot of what `request` needs: the matching
    /// series, and of their shards in the time range the blocks whose
    /// statistics can match, plus their heads (shared: a writer copies a head
    /// that a view holds). Decoding is left to the returned [`ReadView`].
    pub fn snapshot(&self, request: &ScanRequest) -> Result<ReadView> {
        let view = match self.read_state() {
            Ok(state) => self.snapshot_in(&state, request)?,
            Err(Error::TableAltered { .. }) => {
                return self.successor()?.snapshot(&self.own_columns(request));
            }
            Err(e) => return Err(e),
        };
        Ok(Self::in_order(view))
    }

    /// [`snapshot`](Self::snapshot) of the one row whose value in column
    /// `column` is `value`, found through the column's own unique
    /// constraint under the same lock as the snapshot (so the row cannot
    /// move in between); `None` when no such constraint exists.
    pub fn snapshot_by_key(
        &self,
        request: &ScanRequest,
        column: usize,
        value: &ArrayRef,
    ) -> Result<Option<ReadView>> {
        let Some(c) = (self.schema.constraints().iter()).position(|c| c.columns == [column]) else {
            return Ok(None);
        };
        if value.data_type() != self.schema.arrow_schema().field(column).data_type() {
            return Ok(None);
        }
        let view = {
            let state = match self.read_state() {
                Ok(state) => state,
                Err(Error::TableAltered { .. }) => {
                    let request = self.own_columns(request);
                    return self.successor()?.snapshot_by_key(&request, column, value);
                }
                Err(e) => return Err(e),
            };
            let row = state.unique.row_of(c, std::slice::from_ref(value))?;
            let request = ScanRequest {
                time_points: Some(row.into_iter().collect()),
                ..request.clone()
            };
            self.snapshot_in(&state, &request)?
        };
        Ok(Some(Self::in_order(view)))
    }

    fn snapshot_in(&self, state: &TableState, request: &ScanRequest) -> Result<ReadView> {
        let projection = match &request.projection {
            Some(p) => p.clone(),
            None => (0..self.schema.columns().len()).collect(),
        };
        let schema = Arc::new(self.arrow_schema().project(&projection)?);
        // Field positions (among field columns) that the projection needs.
        let fields: Vec<usize> = projection
            .iter()
            .filter_map(|&c| self.schema.field_indices().iter().position(|&f| f == c))
            .collect();
        let bounds: Vec<(usize, Option<f64>, Option<f64>)> = request
            .field_bounds
            .iter()
            .filter_map(|b| {
                let field = self
                    .schema
                    .field_indices()
                    .iter()
                    .position(|&f| f == b.column)?;
                Some((field, b.min, b.max))
            })
            .collect();
        // The points' hull: no row outside it can match.
        let range = request.time_hull();
        let points = request.time_points.as_ref().map(|p| {
            let mut p: Vec<i64> = p
                .iter()
                .copied()
                .filter(|t| (range.start..=range.end).contains(t))
                .collect();
            p.sort_unstable();
            p.dedup();
            p
        });
        let first_shard = range.start.div_euclid(self.options.shard_interval);
        let last_shard = range.end.div_euclid(self.options.shard_interval);

        let mut view = ReadView::new(schema, self.schema.clone(), projection, fields);
        view.time_range = range;
        view.time_points = points;
        view.excluded_rows = request.excluded_rows.clone();
        if range.is_empty() {
            return Ok(view);
        }
        let series = state.tags.evaluate(&request.series);
        view.stats.series_matched = series.len();
        for (&shard_id, shard) in state.shards.range(first_shard..=last_shard) {
            for &id in &series {
                let Some(chunk) = shard.chunks.get(&id) else {
                    continue;
                };
                let mut blocks = Vec::new();
                for block in &chunk.sealed {
                    view.stats.blocks_total += 1;
                    let in_range = block.max_time() >= range.start
                        && block.min_time() <= range.end
                        && view.time_points.as_ref().is_none_or(|p| {
                            // Some point within the block's time span.
                            let i = p.partition_point(|&t| t < block.min_time());
                            p.get(i).is_some_and(|&t| t <= block.max_time())
                        });
                    let values_match = bounds.iter().all(|&(field, min, max)| {
                        block
                            .field_stats(field)
                            .is_none_or(|s| s.values.may_contain(min, max))
                    });
                    if in_range && values_match {
                        blocks.push(block.clone());
                    } else {
                        view.stats.blocks_skipped += 1;
                    }
                }
                let head = match chunk.head.time_bounds() {
                    Some((min, max)) if max >= range.start && min <= range.end => {
                        Some(chunk.head.clone())
                    }
                    _ => None,
                };
                if blocks.is_empty() && head.is_none() {
                    continue;
                }
                let key = &state.keys[id.0 as usize];
                split_overlapping(id, key, shard_id, blocks, head, &mut view.pieces);
            }
        }
        Ok(view)
    }

    /// A view from [`snapshot_in`](Self::snapshot_in) put in order, after
    /// the lock is released.
    fn in_order(mut view: ReadView) -> ReadView {
        // Each series in time order: by series, then shard (shards are disjoint
        // in time and visited in order above), then segment (the sort is stable
        // and segments come in time order).
        view.pieces.sort_by_key(|p| (p.series, p.shard));
        view
    }

    /// All rows, one batch per series and shard, each in time order, with the
    /// columns in `projection` (all columns when `None`).
    pub fn scan(&self, projection: Option<&[usize]>) -> Result<Vec<RecordBatch>> {
        let request = ScanRequest {
            projection: projection.map(<[usize]>::to_vec),
            ..ScanRequest::default()
        };
        self.snapshot(&request)?.decode_all()
    }

    /// Rows, blocks and memory per column.
    pub fn usage(&self) -> Vec<ColumnUsage> {
        let state = self.state.read();
        let columns = self.schema.columns();
        let mut usage: Vec<ColumnUsage> = columns
            .iter()
            .map(|c| ColumnUsage {
                column: c.name.clone(),
                rows: 0,
                sealed_blocks: 0,
                head_rows: 0,
                bytes: 0,
            })
            .collect();
        let (mut rows, mut head_rows, mut blocks) = (0u64, 0u64, 0u64);
        let time = self.schema.time_index();
        for shard in state.shards.values() {
            for chunk in shard.chunks.values() {
                head_rows += chunk.head.len() as u64;
                rows += chunk.head.len() as u64;
                let (time_bytes, field_bytes) = chunk.head.column_bytes();
                if let Some(time) = time {
                    usage[time].bytes += time_bytes as u64;
                }
                for (field, bytes) in self.schema.field_indices().iter().zip(field_bytes) {
                    usage[*field].bytes += bytes as u64;
                }
                for block in &chunk.sealed {
                    blocks += 1;
                    rows += block.rows() as u64;
                    let (time_bytes, field_bytes) = block.column_bytes();
                    if let Some(time) = time {
                        usage[time].bytes += time_bytes as u64;
                    }
                    for (field, bytes) in self.schema.field_indices().iter().zip(field_bytes) {
                        usage[*field].bytes += bytes as u64;
                    }
                }
            }
        }
        // A unique constraint's keys are shared out over its columns.
        let key_bytes = state.unique.approximate_bytes();
        for (constraint, bytes) in self.schema.constraints().iter().zip(key_bytes) {
            for &column in &constraint.columns {
                usage[column].bytes += (bytes / constraint.columns.len()) as u64;
            }
        }
        // Tags are stored once per series: the interned strings, the keys and
        // the index, shared out evenly over the tag columns.
        let tag_columns = self.schema.tag_indices();
        if !tag_columns.is_empty() {
            let shared = state.interner.approximate_bytes()
                + state.tags.approximate_bytes()
                + state
                    .keys
                    .iter()
                    .map(SeriesKey::approximate_bytes)
                    .sum::<usize>();
            for &tag in tag_columns {
                usage[tag].bytes += (shared / tag_columns.len()) as u64;
            }
        }
        for (column, entry) in columns.iter().zip(&mut usage) {
            entry.rows = rows;
            entry.head_rows = head_rows;
            entry.sealed_blocks = if column.role == ColumnRole::Tag {
                0
            } else {
                blocks
            };
        }
        usage
    }

    /// Number of series.
    pub fn series_count(&self) -> usize {
        self.state.read().keys.len()
    }
}

impl TableState {
    fn new(schema: &TableSchema) -> Self {
        Self {
            interner: Interner::default(),
            ids: HashMap::new(),
            fingerprints: HashMap::new(),
            keys: Vec::new(),
            tags: TagIndex::new(schema.tag_indices().len()),
            shards: BTreeMap::new(),
            unique: UniqueKeys::new(schema),
            retired: false,
        }
    }

    /// The id of the series of `row`, created (and indexed) if it is new.
    /// The chunk of series `id` in `shard`, created empty if missing.
    fn chunk(&mut self, shard: i64, id: SeriesId, field_types: &[ColumnType]) -> &mut Chunk {
        self.shards
            .entry(shard)
            .or_default()
            .chunks
            .entry(id)
            .or_insert_with(|| Chunk {
                sealed: Vec::new(),
                head: Arc::new(HeadBlock::new(field_types)),
            })
    }

    fn series_id(&mut self, tags: &[&StringArray], row: usize) -> Result<SeriesId> {
        let fingerprint = row_fingerprint(tags, row);
        if let Some(&id) = self.fingerprints.get(&fingerprint)
            && self.keys[id.0 as usize].matches_row(tags, row)
        {
            return Ok(id);
        }
        let key = self.interner.key_of_row(tags, row);
        let id = self.id_of_interned(key)?;
        self.fingerprints.entry(fingerprint).or_insert(id);
        Ok(id)
    }

    /// The id of a key from another table (its strings are interned here).
    fn series_id_of_key(&mut self, key: &SeriesKey) -> Result<SeriesId> {
        let values = key
            .values()
            .iter()
            .map(|v| v.as_deref().map(|v| self.interner.intern(v)))
            .collect();
        self.id_of_interned(SeriesKey::new(values))
    }

    fn id_of_interned(&mut self, key: SeriesKey) -> Result<SeriesId> {
        if let Some(&id) = self.ids.get(&key) {
            return Ok(id);
        }
        let id = SeriesId(u32::try_from(self.keys.len()).map_err(|_| Error::Internal {
            reason: "too many series in one table".into(),
        })?);
        self.tags.insert(id, &key);
        self.keys.push(key.clone());
        self.ids.insert(key, id);
        Ok(id)
    }
}

/// Cuts one series' blocks and head in one shard into pieces that do not
/// overlap in time, in time order, appended to `pieces`. Each piece decodes
/// on its own (only the blocks of one piece are ever merged), so a scan
/// with a limit, or one that runs backwards, decodes block by block. In-order data makes one piece per
/// block; late data joins the pieces it overlaps. Within a piece, blocks keep
/// their sealing order and the head comes last, so ties keep arrival order.
fn split_overlapping(
    series: SeriesId,
    key: &SeriesKey,
    shard: i64,
    blocks: Vec<Arc<SealedBlock>>,
    head: Option<Arc<HeadBlock>>,
    pieces: &mut Vec<Piece>,
) {
    // One block or the head alone (what most series hold in most shards):
    // one piece, with nothing to sort.
    if blocks.len() + usize::from(head.is_some()) <= 1 {
        pieces.push(Piece {
            series,
            key: key.clone(),
            shard,
            blocks,
            head,
        });
        return;
    }
    let head_span = head.as_ref().and_then(|h| h.time_bounds());
    // (min, max) of every block, then of the head.
    let spans: Vec<(i64, i64)> = blocks
        .iter()
        .map(|b| (b.min_time(), b.max_time()))
        .chain(head_span)
        .collect();
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| spans[i].0);
    // Sweep in time order; an item starting after everything so far ends
    // opens a new group.
    let mut group_of = vec![0; spans.len()];
    let mut groups = 0;
    let mut end = i64::MIN;
    for &i in &order {
        let (min, max) = spans[i];
        if groups == 0 || min > end {
            groups += 1;
            end = max;
        } else {
            end = end.max(max);
        }
        group_of[i] = groups - 1;
    }
    let first = pieces.len();
    pieces.extend((0..groups).map(|_| Piece {
        series,
        key: key.clone(),
        shard,
        blocks: Vec::new(),
        head: None,
    }));
    let head_group = head_span.map(|_| group_of[blocks.len()]);
    for (block, &group) in blocks.into_iter().zip(&group_of) {
        pieces[first + group].blocks.push(block);
    }
    if let Some(group) = head_group {
        pieces[first + group].head = head;
    }
}
