//! The read API: what a scan asks for ([`ScanRequest`]) and the consistent
//! snapshot it gets ([`ReadView`]), decoded piece by piece into Arrow batches.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, StringArray, UInt32Array};
use arrow::compute::{concat, interleave, take};
use arrow::datatypes::SchemaRef;

use super::block::SealedBlock;
use super::column::{FieldColumn, time_array};
use super::error::{Error, Result};
use super::head::HeadBlock;
use super::schema::{ColumnRole, ColumnType, TableSchema, UTC};
use super::series::{SeriesId, SeriesKey};
use super::tag_index::SeriesFilter;

/// An inclusive range of microsecond timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: i64,
    pub end: i64,
}

impl TimeRange {
    pub const ALL: TimeRange = TimeRange {
        start: i64::MIN,
        end: i64::MAX,
    };

    pub fn is_empty(&self) -> bool {
        self.start > self.end
    }
}

/// Inclusive bounds on a numeric field, used to skip blocks by their min/max.
/// Rows are not filtered by it: the caller filters again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldBound {
    /// The table column index of the field.
    pub column: usize,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// What a scan needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRequest {
    /// Table column indexes to return, in order; `None` for all.
    pub projection: Option<Vec<usize>>,
    /// Rows outside it are not returned (applied exactly).
    pub time_range: TimeRange,
    /// When set, only rows at exactly these times are returned (applied
    /// exactly): `time IN (...)`.
    pub time_points: Option<Vec<i64>>,
    /// Which series (applied exactly, through the tag index).
    pub series: SeriesFilter,
    /// Block pruning by field statistics (inexact).
    pub field_bounds: Vec<FieldBound>,
    /// Rows of a plain table not returned, by row number, sorted: those a
    /// transaction block has deleted but not committed.
    pub excluded_rows: Option<Arc<Vec<i64>>>,
}

impl Default for ScanRequest {
    fn default() -> Self {
        Self {
            projection: None,
            time_range: TimeRange::ALL,
            time_points: None,
            series: SeriesFilter::All,
            field_bounds: Vec::new(),
            excluded_rows: None,
        }
    }
}

impl ScanRequest {
    /// The times a matching row lies within: the time range, narrowed to
    /// the points of `time IN (...)` inside it when there is a list (empty
    /// when none of them is).
    pub fn time_hull(&self) -> TimeRange {
        let range = self.time_range;
        let Some(points) = &self.time_points else {
            return range;
        };
        let inside = || {
            points
                .iter()
                .copied()
                .filter(|t| (range.start..=range.end).contains(t))
        };
        match (inside().min(), inside().max()) {
            (Some(start), Some(end)) => TimeRange { start, end },
            _ => TimeRange { start: 1, end: 0 },
        }
    }
}

/// What a scan did, for EXPLAIN.
#[derive(Debug, Default)]
pub struct ScanStats {
    pub series_matched: usize,
    /// Sealed blocks of the matched series in the shards of the time range.
    pub blocks_total: usize,
    /// Of those, the ones skipped by their time or value statistics.
    pub blocks_skipped: usize,
    /// Rows decoded from sealed blocks so far.
    pub rows_decoded: AtomicU64,
}

/// One series in one shard: the blocks that may match, and the head.
#[derive(Debug)]
pub(crate) struct Piece {
    pub(crate) series: SeriesId,
    pub(crate) key: SeriesKey,
    pub(crate) shard: i64,
    pub(crate) blocks: Vec<Arc<SealedBlock>>,
    /// The head as it was when the view was taken: heads are copied on
    /// write, so holding one copies nothing and writers go on.
    pub(crate) head: Option<Arc<HeadBlock>>,
}

/// A consistent snapshot of the data a scan needs. Decoding it needs no lock.
#[derive(Debug)]
pub struct ReadView {
    schema: SchemaRef,
    table: Arc<TableSchema>,
    projection: Vec<usize>,
    /// Positions, among the field columns, of the projected fields in order.
    pub(crate) field_positions: Vec<usize>,
    pub(crate) time_range: TimeRange,
    /// Sorted and without duplicates.
    pub(crate) time_points: Option<Vec<i64>>,
    /// Rows left out by number ([`ScanRequest::excluded_rows`]).
    pub(crate) excluded_rows: Option<Arc<Vec<i64>>>,
    pub(crate) pieces: Vec<Piece>,
    pub stats: ScanStats,
}

/// Decoded times and field arrays of one block or head, cut to the rows the
/// scan returns.
pub(crate) struct Part {
    pub(crate) times: Vec<i64>,
    pub(crate) fields: Vec<ArrayRef>,
}

/// Where a series' newest row is: a row of its head, or the last row of a
/// decoded part.
enum Newest<'a> {
    Head(&'a HeadBlock, usize),
    Part(Part),
}

/// Which rows of a time-sorted run the scan returns.
enum Selection {
    /// `lo..hi`.
    Range(usize, usize),
    /// These rows, ascending.
    Rows(Vec<u32>),
}

impl Selection {
    fn is_empty(&self) -> bool {
        match self {
            Selection::Range(lo, hi) => lo >= hi,
            Selection::Rows(rows) => rows.is_empty(),
        }
    }

    fn times(&self, times: &[i64]) -> Vec<i64> {
        match self {
            Selection::Range(lo, hi) => times[*lo..*hi].to_vec(),
            Selection::Rows(rows) => rows.iter().map(|&r| times[r as usize]).collect(),
        }
    }

    /// Only the last row selected.
    fn last_only(self) -> Self {
        match self {
            Selection::Range(lo, hi) if lo < hi => Selection::Range(hi - 1, hi),
            Selection::Rows(rows) => Selection::Rows(rows.last().copied().into_iter().collect()),
            empty => empty,
        }
    }

    /// The selected positions, ascending.
    fn positions(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match self {
            Selection::Range(lo, hi) => Box::new(*lo..*hi),
            Selection::Rows(rows) => Box::new(rows.iter().map(|&r| r as usize)),
        }
    }

    fn array(&self, array: &ArrayRef) -> Result<ArrayRef> {
        Ok(match self {
            Selection::Range(lo, hi) => array.slice(*lo, hi - lo),
            Selection::Rows(rows) => take(array.as_ref(), &UInt32Array::from(rows.clone()), None)?,
        })
    }
}

impl ReadView {
    pub(crate) fn new(
        schema: SchemaRef,
        table: Arc<TableSchema>,
        projection: Vec<usize>,
        field_positions: Vec<usize>,
    ) -> Self {
        Self {
            schema,
            table,
            projection,
            field_positions,
            time_range: TimeRange::ALL,
            time_points: None,
            excluded_rows: None,
            pieces: Vec::new(),
            stats: ScanStats::default(),
        }
    }

    /// The schema of the decoded batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// At most how many rows the pieces `keep` selects return: every row of
    /// their blocks and heads, without decoding anything. Planning uses it
    /// to keep small scans in one partition.
    pub fn rows_at_most(&self, keep: impl Fn(usize) -> bool) -> usize {
        (0..self.pieces.len())
            .filter(|&i| keep(i))
            .map(|i| self.piece_rows(i))
            .sum()
    }

    /// Number of pieces (series × shard).
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The series of piece `i`. Pieces of one series are adjacent, in time order.
    pub fn series(&self, i: usize) -> Option<SeriesId> {
        self.pieces.get(i).map(|p| p.series)
    }

    /// The tag values of piece `i`'s series.
    pub fn key(&self, i: usize) -> Option<&SeriesKey> {
        self.pieces.get(i).map(|p| &p.key)
    }

    /// `true` when rows are left out by number: statistics of blocks do not
    /// describe what the view returns.
    pub fn excludes_rows(&self) -> bool {
        self.excluded_rows
            .as_ref()
            .is_some_and(|rows| !rows.is_empty())
    }

    /// The table schema the view was taken from.
    pub fn table_schema(&self) -> &Arc<TableSchema> {
        &self.table
    }

    /// The table column indexes of the view's columns, in order.
    pub fn projection(&self) -> &[usize] {
        &self.projection
    }

    /// Decodes piece `i` into one time-sorted batch, or `None` if no row of it
    /// falls in the time range.
    pub fn decode(&self, i: usize) -> Result<Option<RecordBatch>> {
        Ok(self.decode_counted(i)?.0)
    }

    /// As [`decode`](Self::decode), also returning how many rows were decoded
    /// from sealed blocks.
    pub fn decode_counted(&self, i: usize) -> Result<(Option<RecordBatch>, usize)> {
        self.decode_run(&[i])
    }

    /// Decodes consecutive pieces of one series (in time order, as the view
    /// lists them) into one time-sorted batch, also returning how many rows
    /// were decoded from sealed blocks. Fewer, larger batches cost DataFusion
    /// less per row than one per block.
    pub fn decode_run(&self, run: &[usize]) -> Result<(Option<RecordBatch>, usize)> {
        let (parts, decoded) = self.decode_parts(run)?;
        let Some((piece, times, fields)) = parts else {
            return Ok((None, decoded));
        };
        Ok((Some(self.assemble(piece, times, fields)?), decoded))
    }

    /// Every piece decoded, in order.
    pub fn decode_all(&self) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            if let Some(batch) = self.decode(i)? {
                batches.push(batch);
            }
        }
        Ok(batches)
    }

    /// Decodes piece `i` as [`decode`](Self::decode) does, with the hidden
    /// time of each row: a plain table's row numbers.
    pub fn decode_numbered(&self, i: usize) -> Result<Option<(RecordBatch, Vec<i64>)>> {
        let Some((piece, times, fields)) = self.decode_parts(&[i])?.0 else {
            return Ok(None);
        };
        let batch = self.assemble(piece, times.clone(), fields)?;
        Ok(Some((batch, times)))
    }

    /// The merged times and field columns of a run of pieces, with the
    /// first piece, and how many rows were decoded from sealed blocks.
    #[allow(clippy::type_complexity)]
    fn decode_parts(
        &self,
        run: &[usize],
    ) -> Result<(Option<(&Piece, Vec<i64>, Vec<ArrayRef>)>, usize)> {
        let mut merged = Vec::with_capacity(run.len());
        let mut decoded = 0;
        let mut first = None;
        for &i in run {
            let Some(piece) = self.pieces.get(i) else {
                continue;
            };
            first = first.or(Some(piece));
            let mut parts = Vec::with_capacity(piece.blocks.len() + 1);
            for block in &piece.blocks {
                if let Some(part) = self.decode_block(block)? {
                    decoded += block.rows();
                    parts.push(part);
                }
            }
            if let Some(part) = self.head_part(piece)? {
                parts.push(part);
            }
            if !parts.is_empty() {
                // Blocks within a piece may overlap; pieces do not.
                let (times, fields) = merge(parts)?;
                merged.push(Part { times, fields });
            }
        }
        let Some(piece) = first.filter(|_| !merged.is_empty()) else {
            return Ok((None, decoded));
        };
        let (mut times, mut fields) = merge(merged)?;
        if let Some(excluded) = self.excluded_rows.as_ref().filter(|e| !e.is_empty()) {
            let keep: Vec<u32> = (0..times.len() as u32)
                .filter(|&r| excluded.binary_search(&times[r as usize]).is_err())
                .collect();
            if keep.len() < times.len() {
                times = keep.iter().map(|&r| times[r as usize]).collect();
                let keep = UInt32Array::from(keep);
                fields = (fields.iter())
                    .map(|f| take(f.as_ref(), &keep, None))
                    .collect::<std::result::Result<_, _>>()?;
                if times.is_empty() {
                    return Ok((None, decoded));
                }
            }
        }
        Ok((Some((piece, times, fields)), decoded))
    }

    /// The newest row of piece `i` that the scan returns, as a one-row batch
    /// (`None` if it has none), and how many rows were decoded from sealed
    /// blocks.
    pub fn decode_latest(&self, i: usize) -> Result<(Option<RecordBatch>, usize)> {
        self.decode_latest_runs(&[&[i]])
    }

    /// The newest row of each run of pieces (one series' pieces, in time
    /// order, as the view lists them) that the scan returns, gathered into
    /// one batch in run order (`None` if no run has a row), and how many rows
    /// were decoded from sealed blocks. A run's pieces are tried newest
    /// first, and within a piece, blocks newest first by their statistics: a
    /// block whose newest time is not after the best row found is not
    /// decoded. In a series written in time order, that leaves its head or
    /// its newest block alone.
    pub fn decode_latest_runs(&self, runs: &[&[usize]]) -> Result<(Option<RecordBatch>, usize)> {
        let mut decoded = 0;
        // Per run with a row: its piece, the row's time, and the part whose
        // last row it is.
        let mut newest: Vec<(&Piece, i64, Newest<'_>)> = Vec::with_capacity(runs.len());
        for run in runs {
            for &i in run.iter().rev() {
                let Some(piece) = self.pieces.get(i) else {
                    continue;
                };
                let (best, count) = self.newest_part(piece)?;
                decoded += count;
                if let Some((time, part)) = best {
                    newest.push((piece, time, part));
                    break;
                }
            }
        }
        if newest.is_empty() {
            return Ok((None, decoded));
        }
        let times = newest.iter().map(|(_, time, _)| *time).collect();
        let lacking = || Error::Internal {
            reason: "a part lacks a field column".into(),
        };
        let fields = (self.field_positions.iter().enumerate())
            .map(|(f, &position)| {
                // Rows from heads are gathered into one array; rows from
                // decoded blocks are the last of their parts.
                let heads: Vec<(&FieldColumn, usize)> = (newest.iter())
                    .filter_map(|(_, _, n)| match n {
                        Newest::Head(head, row) => Some((head.field(position), *row)),
                        Newest::Part(_) => None,
                    })
                    .collect();
                let gathered = match heads.is_empty() {
                    true => None,
                    false => Some(FieldColumn::gather(&heads).ok_or_else(lacking)?),
                };
                let mut arrays: Vec<&dyn Array> = gathered.iter().map(AsRef::as_ref).collect();
                let from_parts = arrays.len();
                let mut rows = Vec::with_capacity(newest.len());
                let mut head_rows = 0;
                for (_, _, n) in &newest {
                    match n {
                        Newest::Head(..) => {
                            rows.push((0, head_rows));
                            head_rows += 1;
                        }
                        Newest::Part(part) => {
                            rows.push((arrays.len(), part.times.len() - 1));
                            arrays.push(part.fields.get(f).ok_or_else(lacking)?.as_ref());
                        }
                    }
                }
                match gathered {
                    Some(gathered) if arrays.len() == from_parts => Ok(gathered),
                    _ => Ok(interleave(&arrays, &rows)?),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let keys: Vec<(&SeriesKey, usize)> = newest.iter().map(|(p, _, _)| (&p.key, 1)).collect();
        Ok((Some(self.assemble_keys(&keys, times, fields)?), decoded))
    }

    /// The newest row of `piece` that the scan returns: its time and the part
    /// it is the last row of, and how many rows were decoded from sealed
    /// blocks.
    fn newest_part<'p>(&self, piece: &'p Piece) -> Result<(Option<(i64, Newest<'p>)>, usize)> {
        // Where the newest row so far is, and that row's time.
        let mut best =
            (self.head_newest(piece)).map(|(head, time, row)| (time, Newest::Head(head, row)));
        let offer = |best: &mut Option<(i64, Newest<'p>)>, part: Part| {
            if let Some(&newest) = part.times.last()
                && best.as_ref().is_none_or(|(time, _)| newest > *time)
            {
                *best = Some((newest, Newest::Part(part)));
            }
        };
        let mut blocks: Vec<&Arc<SealedBlock>> = piece.blocks.iter().collect();
        blocks.sort_by_key(|b| std::cmp::Reverse(b.max_time()));
        let mut decoded = 0;
        for block in blocks {
            if best
                .as_ref()
                .is_some_and(|(time, _)| block.max_time() <= *time)
            {
                break;
            }
            if let Some(part) = self.decode_block(block)? {
                decoded += block.rows();
                offer(&mut best, part);
            }
        }
        Ok((best, decoded))
    }

    /// At most how many rows piece `i` holds.
    pub fn piece_rows(&self, i: usize) -> usize {
        self.pieces.get(i).map_or(0, |p| {
            p.blocks.iter().map(|b| b.rows()).sum::<usize>()
                + p.head.as_ref().map_or(0, |h| h.len())
        })
    }

    /// The rows of time-sorted `times` that the scan returns.
    /// The type of field column `f` (a position among the field columns).
    fn field_type(&self, f: usize) -> ColumnType {
        let column = self.table.field_indices()[f];
        self.table.columns()[column].column_type
    }

    fn select(&self, times: &[i64]) -> Selection {
        let (start, end) = (self.time_range.start, self.time_range.end);
        // Most runs lie wholly inside the range: their ends say so without
        // a search through times that may not be in cache.
        let lo = match times.first() {
            Some(&first) if first >= start => 0,
            _ => times.partition_point(|&t| t < start),
        };
        let hi = match times.last() {
            Some(&last) if last <= end => times.len(),
            _ => times.partition_point(|&t| t <= end),
        }
        .max(lo);
        let Some(points) = &self.time_points else {
            return Selection::Range(lo, hi);
        };
        let rows = (lo..hi)
            .filter(|&r| points.binary_search(&times[r]).is_ok())
            .map(|r| r as u32)
            .collect();
        Selection::Rows(rows)
    }

    /// The newest row of `piece`'s head that the scan returns (the last
    /// that [`head_part`](Self::head_part) selects): the head, the row's
    /// time and its position in the head.
    fn head_newest<'p>(&self, piece: &'p Piece) -> Option<(&'p HeadBlock, i64, usize)> {
        let head = piece.head.as_deref()?;
        let order = head.time_order();
        let sorted: Cow<'_, [i64]> = match &order {
            None => Cow::Borrowed(head.times()),
            Some(order) => Cow::Owned(order.iter().map(|&i| head.times()[i]).collect()),
        };
        let p = self.select(&sorted).last_only().positions().next()?;
        let row = order.as_ref().map_or(p, |o| o[p]);
        Some((head, sorted[p], row))
    }

    /// The rows of `piece`'s head that the scan returns, in time order.
    /// Only those rows are copied out.
    pub(crate) fn head_part(&self, piece: &Piece) -> Result<Option<Part>> {
        let Some(head) = piece.head.as_deref() else {
            return Ok(None);
        };
        let order = head.time_order();
        let sorted: Cow<'_, [i64]> = match &order {
            None => Cow::Borrowed(head.times()),
            Some(order) => Cow::Owned(order.iter().map(|&i| head.times()[i]).collect()),
        };
        let selection = self.select(&sorted);
        if selection.is_empty() {
            return Ok(None);
        }
        let fields = match (&order, &selection) {
            (None, &Selection::Range(lo, hi)) => self
                .field_positions
                .iter()
                .map(|&f| head.field(f).array(lo..hi))
                .collect(),
            _ => {
                // The selected rows' positions in the head, in time order.
                let rows: Vec<usize> = selection
                    .positions()
                    .map(|p| order.as_ref().map_or(p, |o| o[p]))
                    .collect();
                self.field_positions
                    .iter()
                    .map(|&f| head.field(f).reordered(&rows).to_array())
                    .collect()
            }
        };
        Ok(Some(Part {
            times: selection.times(&sorted),
            fields,
        }))
    }

    /// Decodes the rows of `block` that the scan returns, or `None` if there
    /// are none.
    pub(crate) fn decode_block(&self, block: &SealedBlock) -> Result<Option<Part>> {
        let times = block.decode_times()?;
        let selection = self.select(&times);
        if selection.is_empty() {
            return Ok(None);
        }
        self.stats
            .rows_decoded
            .fetch_add(block.rows() as u64, Ordering::Relaxed);
        let fields = self
            .field_positions
            .iter()
            .map(|&f| selection.array(&block.decode_field(f, self.field_type(f))?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Part {
            times: selection.times(&times),
            fields,
        }))
    }

    fn assemble(
        &self,
        piece: &Piece,
        times: Vec<i64>,
        fields: Vec<ArrayRef>,
    ) -> Result<RecordBatch> {
        let rows = times.len();
        self.assemble_keys(&[(&piece.key, rows)], times, fields)
    }

    /// A batch of the view's columns from times and field columns, its tag
    /// columns from `keys`: each key's values for as many rows as it says.
    fn assemble_keys(
        &self,
        keys: &[(&SeriesKey, usize)],
        times: Vec<i64>,
        fields: Vec<ArrayRef>,
    ) -> Result<RecordBatch> {
        let rows = times.len();
        let time_zone = match self.table.time_column().map(|c| c.column_type) {
            Some(ColumnType::Timestamp {
                with_time_zone: true,
            }) => Some(UTC),
            _ => None,
        };
        let time = time_array(times, time_zone);
        let mut fields = fields.into_iter();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.projection.len());
        for &c in &self.projection {
            let column = &self.table.columns()[c];
            columns.push(match column.role {
                ColumnRole::Time => time.clone(),
                ColumnRole::Tag => {
                    let tag = self.table.tag_indices().iter().position(|&t| t == c);
                    let values = keys.iter().flat_map(|&(key, n)| {
                        std::iter::repeat_n(tag.and_then(|t| key.value(t)), n)
                    });
                    Arc::new(values.collect::<StringArray>())
                }
                ColumnRole::Field => fields.next().ok_or(Error::Internal {
                    reason: "projection and field columns disagree".into(),
                })?,
            });
        }
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?)
    }
}

/// Joins time-sorted parts into one time-sorted part. Parts that follow each
/// other in time are concatenated; overlapping ones are merged stably (earlier
/// parts first for equal times).
fn merge(mut parts: Vec<Part>) -> Result<(Vec<i64>, Vec<ArrayRef>)> {
    if parts.len() == 1 {
        let part = parts.remove(0);
        return Ok((part.times, part.fields));
    }
    let ordered = parts
        .windows(2)
        .all(|w| match (w[0].times.last(), w[1].times.first()) {
            (Some(a), Some(b)) => a <= b,
            _ => true,
        });
    let columns = parts.first().map_or(0, |p| p.fields.len());
    if ordered {
        let times = parts.iter().flat_map(|p| p.times.iter().copied()).collect();
        let fields = (0..columns)
            .map(|c| {
                let arrays: Vec<&dyn Array> = parts.iter().map(|p| p.fields[c].as_ref()).collect();
                concat(&arrays)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        return Ok((times, fields));
    }
    let mut order: Vec<(i64, usize, usize)> = parts
        .iter()
        .enumerate()
        .flat_map(|(p, part)| part.times.iter().enumerate().map(move |(r, &t)| (t, p, r)))
        .collect();
    order.sort_by_key(|&(t, p, r)| (t, p, r));
    let indices: Vec<(usize, usize)> = order.iter().map(|&(_, p, r)| (p, r)).collect();
    let times = order.iter().map(|&(t, _, _)| t).collect();
    let fields = (0..columns)
        .map(|c| {
            let arrays: Vec<&dyn Array> = parts.iter().map(|p| p.fields[c].as_ref()).collect();
            interleave(&arrays, &indices)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((times, fields))
}
