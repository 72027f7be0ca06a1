//! Rows of a time-series table deleted by region, and tables emptied:
//! `DELETE` and `TRUNCATE`.
//!
//! A deletion names a region: a time range of some series (every series, or
//! those a tag filter picks). Shards wholly inside it are dropped whole,
//! blocks wholly inside it without being decoded, and only the blocks and
//! heads that straddle its time edges are decoded and encoded again.
//!
//! A predicate on the region's rows (a field comparison, say) is applied by
//! removing the whole region and putting back the rows the predicate keeps:
//! the change is logged as a `DeleteRange` record followed by the image of
//! the kept rows, one write that replay applies whole or not at all, and
//! applies exactly as the live path did. The region is decoded under the
//! table's write lock, so no write can slip into it between the choice and
//! the change, and a scan sees all of the change or none of it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;

use super::{Chunk, Table, TableState};
use crate::storage::error::{Error, Result};
use crate::storage::head::HeadBlock;
use crate::storage::image::Heads;
use crate::storage::journal::Durable;
use crate::storage::record::{Record, data_record_header, mark_last};
use crate::storage::scan::{ScanRequest, TimeRange};
use crate::storage::schema::ColumnType;
use crate::storage::series::{SeriesId, SeriesKey};
use crate::storage::tag_index::SeriesFilter;
use crate::storage::unique::UniqueKeys;

/// The rows of a table a deletion may take: those of the series `series`
/// picks with times in `time_range`.
#[derive(Debug, Clone)]
pub struct Region {
    pub time_range: TimeRange,
    pub series: SeriesFilter,
}

impl Region {
    /// Every row of the table.
    pub const ALL: Region = Region {
        time_range: TimeRange::ALL,
        series: SeriesFilter::All,
    };
}

/// Which rows of a batch (every column of the table) a deletion takes:
/// `true` takes the row, `false` and NULL keep it.
pub type RowPredicate<'a, E> = dyn Fn(&RecordBatch) -> std::result::Result<BooleanArray, E> + 'a;

/// The new versions of rows an update takes, given them (every column of
/// the table): as many rows, in their order.
pub type RowRewrite<'a, E> = dyn Fn(&RecordBatch) -> std::result::Result<RecordBatch, E> + 'a;

/// What removing a region changes: each chunk it touches, as it will be
/// (`None`: gone), and the shards it drops whole. Nothing is changed yet.
struct RegionRemoval {
    shards: Vec<i64>,
    chunks: Vec<(i64, SeriesId, Option<Chunk>)>,
    rows: usize,
}

/// What a deletion found a table to be.
enum Target<T> {
    Here(T),
    /// Replaced by a table with more columns: ask that one.
    Retired,
}

impl Table {
    /// Deletes the rows of `region` that `predicate` takes (all of them
    /// without one), as one change: a scan sees all of it or none, and a
    /// crash keeps all of it or none. Returns how many rows it deleted,
    /// once durable. Plain tables delete by row number
    /// ([`replace_rows`](Table::replace_rows)); only [`truncate`](Self::truncate)
    /// takes a region of them.
    pub fn delete<E: From<Error>>(
        &self,
        region: &Region,
        predicate: Option<&RowPredicate<'_, E>>,
    ) -> std::result::Result<Durable<usize>, E> {
        if self.schema.is_plain() {
            return Err(Error::Unsupported {
                what: "deleting a region of a table without a time column".into(),
            }
            .into());
        }
        match self.delete_here(region, predicate, None)? {
            Target::Here(deleted) => Ok(deleted),
            Target::Retired => self.successor()?.delete(region, predicate),
        }
    }

    /// Replaces the rows of `region` that `predicate` takes by their new
    /// versions from `rewrite` (which may lie in other series or at other
    /// times), as one change: the region is removed and every row of it
    /// goes back, rewritten or not, as a `DELETE` with a predicate puts back
    /// the rows it keeps. Returns how many rows it replaced, once durable.
    /// Refused for a table with keys (the new rows are not checked against
    /// the rows outside the region), and with `TableAltered` once the
    /// table is replaced (`rewrite` gives this table's columns).
    pub fn update<E: From<Error>>(
        &self,
        region: &Region,
        predicate: &RowPredicate<'_, E>,
        rewrite: &RowRewrite<'_, E>,
    ) -> std::result::Result<Durable<usize>, E> {
        if self.schema.is_plain() || !self.schema.constraints().is_empty() {
            return Err(Error::Unsupported {
                what: "updating a region of a table without a time column or with keys".into(),
            }
            .into());
        }
        match self.delete_here(region, Some(predicate), Some(rewrite))? {
            Target::Here(updated) => Ok(updated),
            Target::Retired => Err(Error::TableAltered {
                name: self.name.clone(),
            }
            .into()),
        }
    }

    /// Deletes every row, of a time-series table or a plain one.
    pub fn truncate(&self) -> Result<Durable<usize>> {
        match self.delete_here::<Error>(&Region::ALL, None, None)? {
            Target::Here(deleted) => Ok(deleted),
            Target::Retired => self.successor()?.truncate(),
        }
    }

    /// Removes the rows of `region` that `predicate` takes (all of them
    /// without one), putting back the new versions `rewrite` gives of them
    /// when there is one.
    fn delete_here<E: From<Error>>(
        &self,
        region: &Region,
        predicate: Option<&RowPredicate<'_, E>>,
        rewrite: Option<&RowRewrite<'_, E>>,
    ) -> std::result::Result<Target<Durable<usize>>, E> {
        let journal = self.journal.as_ref().filter(|j| j.wal().is_some());
        let change = journal.map(|j| j.change());
        let mut state = match self.write_state() {
            Ok(state) => state,
            Err(Error::TableAltered { .. }) => {
                drop(change);
                return Ok(Target::Retired);
            }
            Err(e) => return Err(e.into()),
        };
        let all_series = matches!(region.series, SeriesFilter::All);
        // Every series needs no list: the region's shards go whole.
        let series = if all_series {
            Vec::new()
        } else {
            state.tags.evaluate(&region.series)
        };
        // With a predicate, the region's rows it keeps go back in.
        let mut kept = None;
        let mut taken = 0;
        if let Some(predicate) = predicate {
            let request = ScanRequest {
                time_range: region.time_range,
                series: region.series.clone(),
                ..ScanRequest::default()
            };
            let mut kept_rows = Vec::new();
            for batch in self.snapshot_in(&state, &request)?.decode_all()? {
                let takes = predicate(&batch)?;
                let keep: BooleanArray = takes.iter().map(|t| Some(t != Some(true))).collect();
                let rows = filter_record_batch(&batch, &keep).map_err(Error::from)?;
                let taken_here = batch.num_rows() - rows.num_rows();
                taken += taken_here;
                if rows.num_rows() > 0 {
                    kept_rows.push(rows);
                }
                if let Some(rewrite) = rewrite.filter(|_| taken_here > 0) {
                    let take: BooleanArray = takes.iter().map(|t| Some(t == Some(true))).collect();
                    let old = filter_record_batch(&batch, &take).map_err(Error::from)?;
                    kept_rows.push(rewrite(&old)?);
                }
            }
            if taken == 0 {
                return Ok(Target::Here(Durable::new(0, None)));
            }
            let staged = self.staging();
            // A staging table has no log: nothing to wait for.
            let _ = staged.write(&kept_rows)?.without_waiting();
            kept = Some(staged);
        }
        let chosen = (!all_series).then_some(series.as_slice());
        let removal = self.region_removal(&state, region.time_range, chosen)?;
        if removal.rows == 0 {
            return Ok(Target::Here(Durable::new(0, None)));
        }
        let deleted = if predicate.is_some() {
            taken
        } else {
            removal.rows
        };
        let logged = match journal {
            Some(journal) => {
                let keys = chosen.map(|ids| {
                    (ids.iter())
                        .filter_map(|id| state.keys.get(id.0 as usize).cloned())
                        .collect()
                });
                let records = self.delete_records(region.time_range, keys, kept.as_ref())?;
                journal.log(&records, ())?
            }
            None => Durable::new((), None),
        };
        self.apply_removal(&mut state, removal, region.time_range, all_series);
        if let Some(kept) = kept {
            self.absorb_into(&mut state, kept)?;
        }
        Ok(Target::Here(logged.map(|()| deleted)))
    }

    /// How long rows are kept, in microseconds; `None`: for ever.
    pub fn retention(&self) -> Option<i64> {
        Some(self.retention.load(Ordering::Relaxed)).filter(|&r| r > 0)
    }

    pub(in crate::storage) fn set_retention(&self, retention: Option<i64>) {
        (self.retention).store(retention.unwrap_or(0).max(0), Ordering::Relaxed);
    }

    /// The oldest time the retention keeps now; `None` without one.
    pub fn horizon(&self) -> Option<i64> {
        self.retention().map(|r| now_micros().saturating_sub(r))
    }

    /// Removes from `staged` (a staging table of this one, not yet
    /// absorbed) the rows older than the retention keeps: whole shards go
    /// as they are, and only the shard at the horizon is decoded.
    pub(super) fn drop_expired(&self, staged: &Table) -> Result<()> {
        let Some(horizon) = self.horizon() else {
            return Ok(());
        };
        let mut state = staged.state.write();
        let expired = TimeRange {
            start: i64::MIN,
            end: horizon.saturating_sub(1),
        };
        let removal = staged.region_removal(&state, expired, None)?;
        staged.apply_removal(&mut state, removal, expired, true);
        Ok(())
    }

    /// Drops the shards wholly older than the retention keeps, without
    /// decoding them, as one logged change; returns how many rows went,
    /// once durable. Rows of the shard at the horizon stay until all of
    /// it has aged out.
    pub fn expire(&self) -> Result<Durable<usize>> {
        let Some(horizon) = self.horizon() else {
            return Ok(Durable::new(0, None));
        };
        let interval = self.options.shard_interval;
        // The start of the shard that holds the horizon: every shard
        // before it lies wholly before the horizon.
        let first_kept = horizon.div_euclid(interval).saturating_mul(interval);
        let expired = Region {
            time_range: TimeRange {
                start: i64::MIN,
                end: first_kept.saturating_sub(1),
            },
            series: SeriesFilter::All,
        };
        self.delete(&expired, None)
    }

    /// A `DeleteRange` record replayed: the region's rows removed (the rows
    /// a predicate kept follow as the write's `Data` records).
    pub(in crate::storage) fn delete_range_replayed(
        &self,
        time_range: TimeRange,
        keys: Option<&[SeriesKey]>,
    ) -> Result<()> {
        let mut state = self.write_state()?;
        let chosen: Option<Vec<SeriesId>> = keys.map(|keys| {
            let mut ids: Vec<SeriesId> = (keys.iter())
                .filter_map(|key| state.ids.get(key).copied())
                .collect();
            ids.sort_unstable();
            ids
        });
        let removal = self.region_removal(&state, time_range, chosen.as_deref())?;
        self.apply_removal(&mut state, removal, time_range, keys.is_none());
        Ok(())
    }

    /// The records of a deletion: the region, then the image of the rows
    /// put back, the last one marked.
    fn delete_records(
        &self,
        time_range: TimeRange,
        series: Option<Vec<SeriesKey>>,
        kept: Option<&Table>,
    ) -> Result<Vec<Vec<u8>>> {
        let mut records = vec![
            Record::DeleteRange {
                table: self.id,
                last: false,
                time_range,
                series,
            }
            .encode(),
        ];
        if let Some(kept) = kept {
            let capture = kept.capture();
            if !capture.chunks.is_empty() {
                records.extend(capture.encode(Heads::Raw, |w| data_record_header(w, self.id))?);
            }
        }
        if let Some(last) = records.last_mut() {
            mark_last(last);
        }
        Ok(records)
    }

    /// What removing the rows of `chosen` (sorted; `None`: every series) in
    /// `time_range` would change.
    fn region_removal(
        &self,
        state: &TableState,
        time_range: TimeRange,
        chosen: Option<&[SeriesId]>,
    ) -> Result<RegionRemoval> {
        let mut removal = RegionRemoval {
            shards: Vec::new(),
            chunks: Vec::new(),
            rows: 0,
        };
        if time_range.is_empty() {
            return Ok(removal);
        }
        let interval = self.options.shard_interval;
        let first = time_range.start.div_euclid(interval);
        let last = time_range.end.div_euclid(interval);
        for (&shard_id, shard) in state.shards.range(first..=last) {
            let start = shard_id.saturating_mul(interval);
            let end = start.saturating_add(interval - 1);
            if chosen.is_none() && time_range.start <= start && end <= time_range.end {
                removal.rows += (shard.chunks.values()).map(Chunk::rows).sum::<usize>();
                removal.shards.push(shard_id);
                continue;
            }
            let mut visit = |id: SeriesId, chunk: &Chunk| -> Result<()> {
                if let Some((changed, rows)) = chunk_without(chunk, time_range, &self.field_types)?
                {
                    removal.rows += rows;
                    removal.chunks.push((shard_id, id, changed));
                }
                Ok(())
            };
            match chosen {
                None => {
                    for (&id, chunk) in &shard.chunks {
                        visit(id, chunk)?;
                    }
                }
                Some(ids) if ids.len() < shard.chunks.len() => {
                    for id in ids {
                        if let Some(chunk) = shard.chunks.get(id) {
                            visit(*id, chunk)?;
                        }
                    }
                }
                Some(ids) => {
                    for (&id, chunk) in &shard.chunks {
                        if ids.binary_search(&id).is_ok() {
                            visit(id, chunk)?;
                        }
                    }
                }
            }
        }
        Ok(removal)
    }

    /// Puts a removal into the table.
    fn apply_removal(
        &self,
        state: &mut TableState,
        removal: RegionRemoval,
        time_range: TimeRange,
        all_series: bool,
    ) {
        for shard in removal.shards {
            state.shards.remove(&shard);
        }
        for (shard_id, id, chunk) in removal.chunks {
            let Some(shard) = state.shards.get_mut(&shard_id) else {
                continue;
            };
            match chunk {
                Some(chunk) => {
                    shard.chunks.insert(id, chunk);
                }
                None => {
                    shard.chunks.remove(&id);
                }
            }
            if shard.chunks.is_empty() {
                state.shards.remove(&shard_id);
            }
        }
        // Only a whole plain table is ever removed by region (TRUNCATE):
        // none of its keys is left.
        if self.schema.is_plain() && all_series && time_range == TimeRange::ALL {
            state.unique = UniqueKeys::new(&self.schema);
        }
    }
}

/// Microseconds since the Unix epoch, by the system clock (0 before it).
fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl Chunk {
    fn rows(&self) -> usize {
        self.head.len() + self.sealed.iter().map(|b| b.rows()).sum::<usize>()
    }
}

/// `chunk` without its rows in `time_range` (`None` inside when nothing is
/// left), and how many rows that removes; `None` when it holds none there.
/// Blocks wholly inside the range go without being decoded.
#[allow(clippy::type_complexity)]
fn chunk_without(
    chunk: &Chunk,
    time_range: TimeRange,
    field_types: &[ColumnType],
) -> Result<Option<(Option<Chunk>, usize)>> {
    let mut changed = false;
    let mut rows = 0;
    let mut sealed = Vec::with_capacity(chunk.sealed.len());
    for block in &chunk.sealed {
        if block.max_time() < time_range.start || block.min_time() > time_range.end {
            sealed.push(block.clone());
            continue;
        }
        changed = true;
        if time_range.start <= block.min_time() && block.max_time() <= time_range.end {
            rows += block.rows();
            continue;
        }
        let times = block.decode_times()?;
        let fields = (field_types.iter().enumerate())
            .map(|(f, &column_type)| block.decode_field(f, column_type))
            .collect::<Result<Vec<_>>>()?;
        let mut head = chunk.head.empty_like();
        rows += keep_outside(&mut head, &times, &fields, time_range)?;
        if !head.is_empty() {
            sealed.push(Arc::new(head.to_block()?));
        }
    }
    let head = match chunk.head.time_bounds() {
        Some((min, max)) if max >= time_range.start && min <= time_range.end => {
            changed = true;
            let fields: Vec<_> = (0..field_types.len())
                .map(|f| chunk.head.field(f).to_array())
                .collect();
            let mut head = chunk.head.empty_like();
            rows += keep_outside(&mut head, chunk.head.times(), &fields, time_range)?;
            Arc::new(head)
        }
        _ => chunk.head.clone(),
    };
    if !changed {
        return Ok(None);
    }
    let left = (!sealed.is_empty() || !head.is_empty()).then_some(Chunk { sealed, head });
    Ok(Some((left, rows)))
}

/// Appends to `head` the rows of `times` and `fields` outside `time_range`;
/// returns how many rows were inside it.
fn keep_outside(
    head: &mut HeadBlock,
    times: &[i64],
    fields: &[arrow::array::ArrayRef],
    time_range: TimeRange,
) -> Result<usize> {
    let outside = |t: &i64| *t < time_range.start || *t > time_range.end;
    let keep: BooleanArray = times.iter().map(|t| Some(outside(t))).collect();
    let kept_times: Vec<i64> = times.iter().copied().filter(outside).collect();
    let kept = fields
        .iter()
        .map(|f| arrow::compute::filter(f.as_ref(), &keep))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let arrays: Vec<&dyn Array> = kept.iter().map(AsRef::as_ref).collect();
    head.extend(&kept_times, &arrays, 0..kept_times.len())?;
    Ok(times.len() - kept_times.len())
}
