//! Rows of a plain table deleted or replaced: `DELETE` and `UPDATE`.
//!
//! A plain table's rows are numbered (their hidden time), so a change names
//! the rows it removes by number. Only the blocks that hold one of them are
//! decoded and encoded again, under the table's write lock; the change is
//! logged as a `DeleteRows` record followed by the image of the rows it
//! adds, one write that replay applies whole or not at all.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, filter, take};

use super::{Table, TableState};
use crate::storage::block::SealedBlock;
use crate::storage::error::{Error, Result};
use crate::storage::head::HeadBlock;
use crate::storage::image::Heads;
use crate::storage::journal::Durable;
use crate::storage::record::{Record, data_record_header, mark_last};
use crate::storage::scan::{ReadView, ScanRequest};
use crate::storage::series::SeriesId;
use crate::storage::unique::{KeyMatch, NewKeys, UniqueKeys};

/// What removing some rows changes: per chunk, its blocks that held any
/// (replaced by what is left of them, `None` when nothing is), and its head
/// when it held any.
struct Removal {
    chunks: Vec<ChunkRemoval>,
    /// The removed rows, all columns, ordered by row number.
    rows: Option<RecordBatch>,
    count: usize,
}

struct ChunkRemoval {
    shard: i64,
    series: SeriesId,
    blocks: Vec<(usize, Option<Arc<SealedBlock>>)>,
    head: Option<Arc<HeadBlock>>,
}

/// Every row of `view`, in batches with their row numbers.
fn numbered(view: &ReadView) -> Result<Vec<(RecordBatch, Vec<i64>)>> {
    let mut rows = Vec::with_capacity(view.len());
    for i in 0..view.len() {
        if let Some(numbered) = view.decode_numbered(i)? {
            rows.push(numbered);
        }
    }
    Ok(rows)
}

impl Table {
    /// Every row of a plain table with its row number: the rows `DELETE` and
    /// `UPDATE` choose from. Batches in row-number order.
    pub fn numbered_rows(
        &self,
        excluded: Option<Arc<Vec<i64>>>,
    ) -> Result<Vec<(RecordBatch, Vec<i64>)>> {
        self.numbered_rows_by_key(excluded, None)
    }

    /// [`numbered_rows`](Self::numbered_rows), only the row whose value in
    /// column `key.0` is `key.1` when a unique constraint on that column
    /// alone can find it.
    pub fn numbered_rows_by_key(
        &self,
        excluded: Option<Arc<Vec<i64>>>,
        key: Option<(usize, &ArrayRef)>,
    ) -> Result<Vec<(RecordBatch, Vec<i64>)>> {
        self.require_plain()?;
        let request = ScanRequest {
            excluded_rows: excluded,
            ..ScanRequest::default()
        };
        let keyed = match key {
            Some((column, value)) => self.snapshot_by_key(&request, column, value)?,
            None => None,
        };
        let view = match keyed {
            Some(view) => view,
            None => self.snapshot(&request)?,
        };
        numbered(&view)
    }

    /// The rows of a plain table numbered `numbers`, all columns.
    pub fn rows_at(&self, numbers: &[i64]) -> Result<Vec<RecordBatch>> {
        match self.view_at(numbers)? {
            Some(view) => view.decode_all(),
            None => Ok(Vec::new()),
        }
    }

    /// A view of the rows of a plain table numbered `numbers`; `None` for
    /// none.
    fn view_at(&self, numbers: &[i64]) -> Result<Option<ReadView>> {
        self.require_plain()?;
        if numbers.is_empty() {
            return Ok(None);
        }
        let request = ScanRequest {
            time_points: Some(numbers.to_vec()),
            ..ScanRequest::default()
        };
        self.snapshot(&request).map(Some)
    }

    /// For each row of `batches` (rows of the table's columns), what its
    /// key for unique constraint `constraint` matches: a row of the table,
    /// an earlier row of `batches`. `INSERT ... ON CONFLICT` finds its
    /// conflicts with it.
    pub fn key_matches(&self, constraint: usize, batches: &[RecordBatch]) -> Result<Vec<KeyMatch>> {
        let keys = UniqueKeys::keys_of(&self.schema, batches)?;
        let state = self.read_state()?;
        Ok(state.unique.matches(constraint, &keys))
    }

    /// The rows of a plain table numbered `numbers`, each with its number.
    pub fn numbered_rows_at(&self, numbers: &[i64]) -> Result<Vec<(RecordBatch, Vec<i64>)>> {
        match self.view_at(numbers)? {
            Some(view) => numbered(&view),
            None => Ok(Vec::new()),
        }
    }

    /// Checks that `batches` would break none of the table's unique
    /// constraints once the rows `freed` are gone and, row by row, the rows
    /// `paired` replaced by them (see [`replace_rows`](Table::replace_rows)):
    /// what a transaction block's `UPDATE` or `INSERT` checks at once, with
    /// the block's own deletes taken into account.
    pub fn check_unique_replacing(
        &self,
        freed: &[RecordBatch],
        paired: &[RecordBatch],
        batches: &[RecordBatch],
    ) -> Result<()> {
        if self.schema.constraints().is_empty() {
            return Ok(());
        }
        let freed = UniqueKeys::keys_of(&self.schema, freed)?;
        let paired = UniqueKeys::keys_of(&self.schema, paired)?;
        let state = self.read_state()?;
        state
            .unique
            .check_replacing(&self.schema, &freed, &paired, batches)?;
        Ok(())
    }

    /// Removes the rows numbered `removed` from a plain table and adds the
    /// rows of `staged` (a [staging](Table::staging) table), as one change:
    /// a scan sees all of it or none, and a crash keeps all of it or none.
    /// When `paired`, `staged` holds the new versions of the removed rows
    /// (an `UPDATE`), in the same order, and keys are checked row by row as
    /// PostgreSQL checks them; otherwise the removed rows' keys are free
    /// for the new rows (a transaction block's changes, committed). Fails
    /// with a serialization failure when a removed row is gone already (a
    /// concurrent change took it). Returns how many rows were removed, once
    /// durable.
    pub fn replace_rows(
        &self,
        mut removed: Vec<i64>,
        staged: Table,
        paired: bool,
    ) -> Result<Durable<usize>> {
        self.require_plain()?;
        removed.sort_unstable();
        removed.dedup();
        let (keyed, numbers) = self.keyed_rows(&staged)?;
        let journal = self.journal.as_ref().filter(|j| j.wal().is_some());
        let records = match journal {
            Some(_) => self.replace_records(&removed, &staged)?,
            None => Vec::new(),
        };
        let _change = journal.map(|j| j.change());
        let mut state = self.write_state()?;
        let removal = self.removal(&state, &removed)?;
        if removal.count != removed.len() {
            return Err(Error::ConcurrentUpdate);
        }
        let removed_keys = UniqueKeys::keys_of(&self.schema, removal.rows.as_slice())?;
        let none = NewKeys::default();
        let (freed, paired) = if paired {
            (&none, &removed_keys)
        } else {
            (&removed_keys, &none)
        };
        let keys = state
            .unique
            .check_replacing(&self.schema, freed, paired, &keyed)?;
        let logged = match journal {
            Some(journal) => journal.log(&records, ())?,
            None => Durable::new((), None),
        };
        apply(&mut state, removal.chunks);
        state.unique.remove(&removed_keys);
        self.absorb_into(&mut state, staged)?;
        state.unique.insert(keys, &numbers);
        Ok(logged.map(|()| removed.len()))
    }

    /// The rows of a `DeleteRows` record removed, in replay.
    pub(in crate::storage) fn delete_replayed(&self, rows: &[i64]) -> Result<()> {
        self.require_plain()?;
        let mut state = self.write_state()?;
        let removal = self.removal(&state, rows)?;
        let removed_keys = UniqueKeys::keys_of(&self.schema, removal.rows.as_slice())?;
        apply(&mut state, removal.chunks);
        state.unique.remove(&removed_keys);
        Ok(())
    }

    fn require_plain(&self) -> Result<()> {
        if !self.schema.is_plain() {
            return Err(Error::Unsupported {
                what: "UPDATE and DELETE on a table with a time column".into(),
            });
        }
        Ok(())
    }

    /// The records of a replacement: the rows removed, then the image of
    /// the rows added, the last one marked.
    fn replace_records(&self, removed: &[i64], staged: &Table) -> Result<Vec<Vec<u8>>> {
        let mut records = vec![
            Record::DeleteRows {
                table: self.id,
                last: false,
                rows: removed.to_vec(),
            }
            .encode(),
        ];
        let capture = staged.capture();
        if !capture.chunks.is_empty() {
            records.extend(capture.encode(Heads::Raw, |w| data_record_header(w, self.id))?);
        }
        if let Some(last) = records.last_mut() {
            mark_last(last);
        }
        Ok(records)
    }

    /// What removing the rows numbered `removed` (ascending) would change;
    /// nothing is changed yet.
    fn removal(&self, state: &TableState, removed: &[i64]) -> Result<Removal> {
        let holds = |min: i64, max: i64| {
            let first = removed.partition_point(|&t| t < min);
            removed.get(first).is_some_and(|&t| t <= max)
        };
        let is_removed = |t: &i64| removed.binary_search(t).is_ok();
        let mut chunks = Vec::new();
        let mut gone: Vec<(Vec<i64>, Vec<ArrayRef>)> = Vec::new();
        let mut count = 0;
        for (&shard, chunks_of_shard) in &state.shards {
            for (&series, chunk) in &chunks_of_shard.chunks {
                let mut change = ChunkRemoval {
                    shard,
                    series,
                    blocks: Vec::new(),
                    head: None,
                };
                for (index, block) in chunk.sealed.iter().enumerate() {
                    if !holds(block.min_time(), block.max_time()) {
                        continue;
                    }
                    let times = block.decode_times()?;
                    let fields = (self.field_types.iter().enumerate())
                        .map(|(f, &column_type)| block.decode_field(f, column_type))
                        .collect::<Result<Vec<_>>>()?;
                    let (kept, taken) = split(&times, &fields, &is_removed)?;
                    count += taken.0.len();
                    gone.push(taken);
                    let block = if kept.0.is_empty() {
                        None
                    } else {
                        let mut head = HeadBlock::new(&self.field_types);
                        let arrays: Vec<&dyn Array> = kept.1.iter().map(AsRef::as_ref).collect();
                        head.extend(&kept.0, &arrays, 0..kept.0.len())?;
                        Some(Arc::new(head.to_block()?))
                    };
                    change.blocks.push((index, block));
                }
                if let Some((min, max)) = chunk.head.time_bounds()
                    && holds(min, max)
                {
                    let times = chunk.head.times();
                    let fields: Vec<ArrayRef> = (0..self.field_types.len())
                        .map(|f| chunk.head.field(f).to_array())
                        .collect();
                    let (kept, taken) = split(times, &fields, &is_removed)?;
                    count += taken.0.len();
                    gone.push(taken);
                    let mut head = chunk.head.empty_like();
                    let arrays: Vec<&dyn Array> = kept.1.iter().map(AsRef::as_ref).collect();
                    head.extend(&kept.0, &arrays, 0..kept.0.len())?;
                    change.head = Some(Arc::new(head));
                }
                if !change.blocks.is_empty() || change.head.is_some() {
                    chunks.push(change);
                }
            }
        }
        Ok(Removal {
            chunks,
            rows: self.in_row_order(gone)?,
            count,
        })
    }

    /// The removed rows as one batch of the table's columns (a plain
    /// table's columns are its fields), in row-number order.
    fn in_row_order(&self, gone: Vec<(Vec<i64>, Vec<ArrayRef>)>) -> Result<Option<RecordBatch>> {
        let schema = self.schema.arrow_schema();
        let mut times = Vec::new();
        let mut batches = Vec::with_capacity(gone.len());
        for (part_times, fields) in gone {
            if part_times.is_empty() {
                continue;
            }
            times.extend(part_times);
            batches.push(RecordBatch::try_new(schema.clone(), fields)?);
        }
        if batches.is_empty() {
            return Ok(None);
        }
        let rows = concat_batches(schema, &batches)?;
        let mut order: Vec<u32> = (0..times.len() as u32).collect();
        order.sort_by_key(|&r| times[r as usize]);
        let order = UInt32Array::from(order);
        let columns = (rows.columns().iter())
            .map(|c| take(c, &order, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Some(RecordBatch::try_new(schema.clone(), columns)?))
    }
}

/// Times and field columns split into the rows kept and the rows taken.
#[allow(clippy::type_complexity)]
fn split(
    times: &[i64],
    fields: &[ArrayRef],
    is_removed: &impl Fn(&i64) -> bool,
) -> Result<((Vec<i64>, Vec<ArrayRef>), (Vec<i64>, Vec<ArrayRef>))> {
    let taken: BooleanArray = times.iter().map(|t| Some(is_removed(t))).collect();
    let kept: BooleanArray = times.iter().map(|t| Some(!is_removed(t))).collect();
    let pick = |mask: &BooleanArray| -> Result<(Vec<i64>, Vec<ArrayRef>)> {
        let picked_times = (times.iter().zip(mask.values().iter()))
            .filter(|(_, keep)| *keep)
            .map(|(t, _)| *t)
            .collect();
        let picked = fields
            .iter()
            .map(|f| filter(f.as_ref(), mask))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((picked_times, picked))
    };
    Ok((pick(&kept)?, pick(&taken)?))
}

/// Puts a removal into the table.
fn apply(state: &mut TableState, chunks: Vec<ChunkRemoval>) {
    for change in chunks {
        let Some(chunk) = state
            .shards
            .get_mut(&change.shard)
            .and_then(|s| s.chunks.get_mut(&change.series))
        else {
            continue;
        };
        // From the last, so the indices of the others hold.
        for (index, block) in change.blocks.into_iter().rev() {
            match block {
                Some(block) => chunk.sealed[index] = block,
                None => {
                    chunk.sealed.remove(index);
                }
            }
        }
        if let Some(head) = change.head {
            chunk.head = head;
        }
    }
}
