//! The writes of an open transaction block.
//!
//! Inside `BEGIN ... COMMIT` an `INSERT` or `COPY` checks and stages its rows
//! (compressed, in a staging table no reader sees) instead of applying them.
//! `COMMIT` applies them table by table in statement order, `ROLLBACK` drops
//! them, and `ROLLBACK TO SAVEPOINT` drops those staged after the savepoint.
//! Other sessions see the rows once `COMMIT` applies them; the writing
//! session's own scans read its staged rows beside the table's, as
//! PostgreSQL's transaction sees its own writes.
//!
//! `UPDATE` and `DELETE` of a plain table inside a block remove the table's
//! rows they choose by number (the block's own scans leave them out) and
//! staged rows at once; `COMMIT` removes the table's rows and adds the
//! staged ones as one change ([`Table::replace_rows`]), which fails with a
//! serialization failure if another session changed a removed row first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::RecordBatch;
use parking_lot::Mutex;

use crate::query::error::Result;
use crate::storage::{self, Table};

/// One session's staged writes. Installed in the session's DataFusion config,
/// where `INSERT`'s sink and `COPY` find it; the session opens and closes it.
#[derive(Debug, Default)]
pub struct PendingWrites {
    /// `None` outside a transaction block: writes apply at once.
    block: Mutex<Option<Block>>,
    /// Rows the session's writes did not store, being older than their
    /// table's retention keeps, not yet reported.
    expired: AtomicU64,
}

#[derive(Debug, Default)]
struct Block {
    staged: Vec<Staged>,
    /// `staged[..floor]` is covered by a savepoint: later rows must not merge
    /// into it, or rolling back to the savepoint could not drop them.
    floor: usize,
    /// Rows of tables (not of staged writes) that the block deleted or
    /// replaced, in statement order.
    removed: Vec<Removed>,
}

#[derive(Debug)]
struct Removed {
    target: Arc<Table>,
    rows: Vec<i64>,
}

#[derive(Debug)]
struct Staged {
    target: Arc<Table>,
    rows: Table,
}

/// Where a savepoint leaves the staged writes, to roll back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteMark {
    staged: usize,
    removed: usize,
}

impl PendingWrites {
    /// Opens a transaction block: writes are staged from now on.
    pub fn begin(&self) {
        *self.block.lock() = Some(Block::default());
    }

    /// Marks the current point, for [`rollback_to`](Self::rollback_to).
    pub fn savepoint(&self) -> WriteMark {
        let mut block = self.block.lock();
        let Some(block) = block.as_mut() else {
            return WriteMark {
                staged: 0,
                removed: 0,
            };
        };
        block.floor = block.staged.len();
        WriteMark {
            staged: block.floor,
            removed: block.removed.len(),
        }
    }

    /// Drops the writes staged after `mark`.
    pub fn rollback_to(&self, mark: WriteMark) {
        if let Some(block) = self.block.lock().as_mut() {
            block.staged.truncate(mark.staged);
            block.floor = mark.staged;
            block.removed.truncate(mark.removed);
        }
    }

    /// Closes the block, dropping every staged write.
    pub fn discard(&self) {
        *self.block.lock() = None;
    }

    /// Closes the block and applies its writes, table by table in the order
    /// they were made. Returns the number of rows applied, once durable.
    ///
    /// Each table's writes apply whole, and a reader sees all or none of them;
    /// writes to different tables become visible one table after the other.
    pub async fn commit(&self) -> Result<u64> {
        let Some(mut block) = self.block.lock().take() else {
            return Ok(0);
        };
        let mut tickets = Vec::with_capacity(block.staged.len() + 1);
        // The one table whose share can fail goes first, whole: its removals
        // and all its staged rows as one change. If it fails, nothing of the
        // block is applied; the other tables' shares cannot fail.
        if let Some(target) = block.conflicting() {
            let removed = take_removed(&mut block.removed, &target).unwrap_or_default();
            let (mine, others): (Vec<Staged>, Vec<Staged>) =
                (block.staged.drain(..)).partition(|s| Arc::ptr_eq(&s.target, &target));
            block.staged = others;
            let merged = target.staging();
            for staged in mine {
                // A staging table has no log: nothing to wait for.
                let _ = merged.absorb(staged.rows)?.without_waiting();
            }
            tickets.push(target.replace_rows(removed, merged, false)?);
        }
        for staged in block.staged {
            tickets.push(staged.target.absorb(staged.rows)?);
        }
        let mut rows = 0;
        for ticket in tickets {
            rows += ticket.durable().await? as u64;
        }
        Ok(rows)
    }

    /// Notes rows a write did not store, being older than its table's
    /// retention keeps.
    pub(crate) fn note_expired(&self, rows: u64) {
        self.expired.fetch_add(rows, Ordering::Relaxed);
    }

    /// The rows noted by [`note_expired`](Self::note_expired) since the
    /// last call: what the session tells the client.
    pub fn take_expired(&self) -> u64 {
        self.expired.swap(0, Ordering::Relaxed)
    }

    /// `true` inside a transaction block.
    pub(crate) fn in_block(&self) -> bool {
        self.block.lock().is_some()
    }

    /// The rows of `target` the block has removed, sorted, for its own
    /// scans to leave out; `None` when there are none.
    pub(crate) fn removed_rows(&self, target: &Arc<Table>) -> Option<Arc<Vec<i64>>> {
        let guard = self.block.lock();
        let mut rows: Vec<i64> = (guard.as_ref()?.removed.iter())
            .filter(|r| Arc::ptr_eq(&r.target, target))
            .flat_map(|r| r.rows.iter().copied())
            .collect();
        if rows.is_empty() {
            return None;
        }
        rows.sort_unstable();
        Some(Arc::new(rows))
    }

    /// The rows staged for `target` (of a plain table), with their numbers,
    /// per staged write: what a block's `UPDATE` or `DELETE` chooses from
    /// beside the table's rows.
    #[allow(clippy::type_complexity)]
    pub(crate) fn staged_numbered(
        &self,
        target: &Arc<Table>,
    ) -> storage::Result<Vec<(usize, Vec<(RecordBatch, Vec<i64>)>)>> {
        let guard = self.block.lock();
        let Some(block) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        (block.staged.iter().enumerate())
            .filter(|(_, s)| Arc::ptr_eq(&s.target, target))
            .map(|(i, s)| Ok((i, s.rows.numbered_rows(None)?)))
            .collect()
    }

    /// For each row of `batches`, the row staged for `target` whose key for
    /// constraint `constraint` it has: which staged write, which number.
    pub(crate) fn staged_key_matches(
        &self,
        target: &Arc<Table>,
        constraint: usize,
        batches: &[RecordBatch],
    ) -> storage::Result<Vec<Option<(usize, i64)>>> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let mut found = vec![None; rows];
        let guard = self.block.lock();
        let Some(block) = guard.as_ref() else {
            return Ok(found);
        };
        for (index, staged) in block.staged.iter().enumerate() {
            if !Arc::ptr_eq(&staged.target, target) {
                continue;
            }
            let matches = staged.rows.key_matches(constraint, batches)?;
            for (slot, matched) in found.iter_mut().zip(matches) {
                if slot.is_none() {
                    *slot = matched.existing.map(|number| (index, number));
                }
            }
        }
        Ok(found)
    }

    /// The rows numbered `numbers` of staged write `index`, with their
    /// numbers.
    #[allow(clippy::type_complexity)]
    pub(crate) fn staged_rows_at(
        &self,
        index: usize,
        numbers: &[i64],
    ) -> storage::Result<Vec<(RecordBatch, Vec<i64>)>> {
        let guard = self.block.lock();
        match guard.as_ref().and_then(|block| block.staged.get(index)) {
            Some(staged) => staged.rows.numbered_rows_at(numbers),
            None => Ok(Vec::new()),
        }
    }

    /// Records that the block removes rows `rows` of `target` itself, and
    /// removes the staged rows `staged` (per staged write, by number) now.
    /// Staged rows a savepoint covers cannot be removed: rolling back to it
    /// could not bring them back.
    pub(crate) fn remove(
        &self,
        target: &Arc<Table>,
        rows: Vec<i64>,
        staged: Vec<(usize, Vec<i64>)>,
    ) -> storage::Result<()> {
        self.check_one_conflicting(target, true)?;
        let mut guard = self.block.lock();
        let Some(block) = guard.as_mut() else {
            return Err(storage::Error::Internal {
                reason: "rows removed outside a transaction block".into(),
            });
        };
        for (index, numbers) in &staged {
            if *index < block.floor && !numbers.is_empty() {
                return Err(storage::Error::Unsupported {
                    what: "changing rows inserted before a savepoint of the same block".into(),
                });
            }
        }
        for (index, numbers) in staged {
            let Some(entry) = block.staged.get(index) else {
                continue;
            };
            if !numbers.is_empty() {
                let _ = entry
                    .rows
                    .replace_rows(numbers, entry.target.staging(), false)?
                    .without_waiting();
            }
        }
        if !rows.is_empty() {
            block.removed.push(Removed {
                target: target.clone(),
                rows,
            });
        }
        Ok(())
    }

    /// Snapshots of the rows staged for `target`, for the writing session's
    /// own scans; none outside a block.
    pub(crate) fn staged_views(
        &self,
        target: &Arc<Table>,
        request: &storage::ScanRequest,
    ) -> storage::Result<Vec<storage::ReadView>> {
        let guard = self.block.lock();
        let Some(block) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        block
            .staged
            .iter()
            .filter(|s| Arc::ptr_eq(&s.target, target))
            .map(|s| s.rows.snapshot(request))
            .collect()
    }

    /// Stages `batches` for `target` if a block is open; `None` if not (the
    /// caller writes them at once). Rows are checked now, as a write checks
    /// them, so a bad row fails its own statement rather than the `COMMIT`.
    pub(crate) fn stage_batches(
        &self,
        target: &Arc<Table>,
        batches: &[RecordBatch],
    ) -> Option<storage::Result<usize>> {
        // Against the committed rows now, as PostgreSQL checks a key at once
        // (less those the block removed); against the rows committed
        // meanwhile again at COMMIT.
        if !self.in_block() {
            return None;
        }
        if let Err(e) = self.check_one_conflicting(target, false) {
            return Some(Err(e));
        }
        let checked = match self.removed_rows(target) {
            None => target.check_unique(batches),
            Some(removed) => target
                .rows_at(&removed)
                .and_then(|freed| target.check_unique_replacing(&freed, &[], batches)),
        };
        if let Err(e) = checked.and_then(|()| self.check_staged_unique(target, &[], batches)) {
            return Some(Err(e));
        }
        self.stage(target, batches)
    }

    /// Checks `batches` against the keys of the rows staged for `target`,
    /// as [`Table::check_unique_replacing`] checks a table's, with `paired`
    /// the rows they replace, row by row.
    pub(crate) fn check_staged_unique(
        &self,
        target: &Arc<Table>,
        paired: &[RecordBatch],
        batches: &[RecordBatch],
    ) -> storage::Result<()> {
        let guard = self.block.lock();
        let Some(block) = guard.as_ref() else {
            return Ok(());
        };
        (block.staged.iter())
            .filter(|s| Arc::ptr_eq(&s.target, target))
            .try_for_each(|s| s.rows.check_unique_replacing(&[], paired, batches))
    }

    /// Stages rows already checked against the table's keys.
    pub(crate) fn stage(
        &self,
        target: &Arc<Table>,
        batches: &[RecordBatch],
    ) -> Option<storage::Result<usize>> {
        let mut guard = self.block.lock();
        let block = guard.as_mut()?;
        let floor = block.floor;
        let index = match block.staged[floor..]
            .iter()
            .position(|s| Arc::ptr_eq(&s.target, target))
        {
            Some(i) => floor + i,
            None => {
                block.staged.push(Staged {
                    target: target.clone(),
                    rows: target.staging(),
                });
                block.staged.len() - 1
            }
        };
        // A staging table has no log: nothing to wait for.
        Some(
            block.staged[index]
                .rows
                .write(batches)
                .map(|written| written.without_waiting()),
        )
    }

    /// Stages a whole staging table (a `COPY`'s) for `target` if a block is
    /// open; gives it back if not.
    pub(crate) fn stage_table(
        &self,
        target: &Arc<Table>,
        rows: Table,
    ) -> storage::Result<Option<Table>> {
        self.check_one_conflicting(target, false)?;
        let mut guard = self.block.lock();
        let Some(block) = guard.as_mut() else {
            return Ok(Some(rows));
        };
        block.staged.push(Staged {
            target: target.clone(),
            rows,
        });
        Ok(None)
    }

    /// Refuses a write to `target` (one that removes rows, if `removes`)
    /// that would give the block a second table whose share of the COMMIT
    /// can fail (one with keys, or with rows the block removes): a COMMIT
    /// applies one table after another, so only one share may fail, and it
    /// goes first.
    pub(crate) fn check_one_conflicting(
        &self,
        target: &Arc<Table>,
        removes: bool,
    ) -> storage::Result<()> {
        let guard = self.block.lock();
        let Some(block) = guard.as_ref() else {
            return Ok(());
        };
        if !(removes || block.can_conflict(target)) {
            return Ok(());
        }
        match block.conflicting() {
            Some(other) if !Arc::ptr_eq(&other, target) => Err(storage::Error::Unsupported {
                what: format!(
                    "a transaction block that changes \"{}\" and \"{}\" (updates, deletes or \
                     inserts into tables with keys go to one table per block)",
                    other.name(),
                    target.name()
                ),
            }),
            _ => Ok(()),
        }
    }
}

impl Block {
    /// Whether `target`'s share of the COMMIT can fail: it has keys, or
    /// rows the block removes.
    fn can_conflict(&self, target: &Arc<Table>) -> bool {
        !target.schema().constraints().is_empty()
            || self.removed.iter().any(|r| Arc::ptr_eq(&r.target, target))
    }

    /// The table whose share of the COMMIT can fail, if any (at most one:
    /// [`PendingWrites::check_one_conflicting`]).
    fn conflicting(&self) -> Option<Arc<Table>> {
        (self.removed.iter().map(|r| &r.target))
            .chain(self.staged.iter().map(|s| &s.target))
            .find(|t| self.can_conflict(t))
            .cloned()
    }
}

/// The rows of `target` in `removed`, taken out of it; `None` if none.
fn take_removed(removed: &mut Vec<Removed>, target: &Arc<Table>) -> Option<Vec<i64>> {
    let mut rows = Vec::new();
    removed.retain(|r| {
        let mine = Arc::ptr_eq(&r.target, target);
        if mine {
            rows.extend(&r.rows);
        }
        !mine
    });
    (!rows.is_empty()).then_some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{ColumnRole, ColumnSchema, ColumnType, TableOptions, TableSchema};
    use datafusion::arrow::array::{Float64Array, TimestampMicrosecondArray};

    fn table() -> Arc<Table> {
        let column = |name: &str, column_type, role| ColumnSchema {
            name: name.into(),
            column_type,
            role,
            nullable: true,
            max_chars: None,
            identity: None,
            default: None,
        };
        let schema = TableSchema::try_new(vec![
            column(
                "time",
                ColumnType::Timestamp {
                    with_time_zone: false,
                },
                ColumnRole::Time,
            ),
            column("v", ColumnType::Float64, ColumnRole::Field),
        ])
        .expect("valid schema");
        Arc::new(Table::new("t".into(), schema, TableOptions::default()))
    }

    fn batch(table: &Table, times: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            table.arrow_schema().clone(),
            vec![
                Arc::new(TimestampMicrosecondArray::from(times.to_vec())),
                Arc::new(Float64Array::from(
                    times.iter().map(|&t| t as f64).collect::<Vec<_>>(),
                )),
            ],
        )
        .expect("valid batch")
    }

    fn rows(table: &Table) -> usize {
        table
            .scan(None)
            .expect("scan")
            .iter()
            .map(RecordBatch::num_rows)
            .sum()
    }

    #[test]
    fn outside_a_block_nothing_is_staged() {
        let t = table();
        let pending = PendingWrites::default();
        assert!(pending.stage_batches(&t, &[batch(&t, &[1])]).is_none());
        assert!(pending.stage_table(&t, t.staging()).unwrap().is_some());
    }

    #[tokio::test]
    async fn commit_applies_and_rollback_to_drops_later_writes() {
        let t = table();
        let pending = PendingWrites::default();
        pending.begin();
        let staged = pending.stage_batches(&t, &[batch(&t, &[1, 2])]);
        assert_eq!(staged.map(|r| r.ok()), Some(Some(2)));
        let mark = pending.savepoint();
        let staged = pending.stage_batches(&t, &[batch(&t, &[3])]);
        assert_eq!(staged.map(|r| r.ok()), Some(Some(1)));
        assert_eq!(rows(&t), 0, "staged rows are invisible");
        pending.rollback_to(mark);
        let staged = pending.stage_batches(&t, &[batch(&t, &[4, 5, 6])]);
        assert_eq!(staged.map(|r| r.ok()), Some(Some(3)));
        assert_eq!(pending.commit().await.ok(), Some(5));
        assert!(
            pending.stage_batches(&t, &[batch(&t, &[7])]).is_none(),
            "COMMIT closes the block"
        );
        assert_eq!(rows(&t), 5);
    }

    #[tokio::test]
    async fn discard_applies_nothing() {
        let t = table();
        let pending = PendingWrites::default();
        pending.begin();
        let staged = pending.stage_batches(&t, &[batch(&t, &[1])]);
        assert!(staged.is_some());
        pending.discard();
        assert_eq!(pending.commit().await.ok(), Some(0));
        assert_eq!(rows(&t), 0);
    }
}
