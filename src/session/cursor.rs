//! SQL cursors: `DECLARE`, `FETCH`, `MOVE` and `CLOSE`.
//!
//! A cursor holds its query's running stream and hands out rows as asked,
//! so a large result is read piece by piece. Cursors go forward only, as
//! PostgreSQL's do without `SCROLL`. One declared `WITH HOLD` outlives its
//! transaction block; the others close when it ends.

use std::collections::HashMap;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::sql::sqlparser::ast::FetchDirection;
use futures::{FutureExt, TryStreamExt};

use super::error::{Error, Result};
use crate::query;

/// How many rows a `FETCH` or `MOVE` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Rows(u64),
    All,
}

impl Count {
    /// The count a direction asks for; backward directions fail, as they do
    /// on a cursor declared without `SCROLL`.
    pub(super) fn of(direction: &FetchDirection) -> Result<Self> {
        let number = |limit: &datafusion::sql::sqlparser::ast::ValueWithSpan| {
            limit.to_string().parse::<i64>().map_err(|_| {
                Error::Query(query::Error::Unsupported {
                    what: format!("FETCH count {limit}"),
                })
            })
        };
        let rows = |n: i64| {
            u64::try_from(n)
                .map(Count::Rows)
                .map_err(|_| Error::CursorBackward)
        };
        match direction {
            FetchDirection::Next => Ok(Count::Rows(1)),
            FetchDirection::All | FetchDirection::ForwardAll => Ok(Count::All),
            FetchDirection::Count { limit } => rows(number(limit)?),
            FetchDirection::Forward { limit: Some(limit) } => rows(number(limit)?),
            FetchDirection::Forward { limit: None } => Ok(Count::Rows(1)),
            _ => Err(Error::CursorBackward),
        }
    }
}

/// An open cursor.
pub(super) struct Cursor {
    stream: SendableRecordBatchStream,
    /// Rows of the last batch read that were not handed out yet.
    pending: Option<RecordBatch>,
    /// Over a `SUBSCRIBE`: its rows never end.
    live: bool,
    /// Whether it survives the end of its transaction block.
    hold: bool,
    /// Declared in the block still open: a rollback closes it even if held.
    in_open_block: bool,
}

impl Cursor {
    pub(super) fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }

    /// The next `count` rows (fewer at the end). A subscription's cursor
    /// never ends: it waits for a first row (no longer than `timeout`,
    /// then returns none), then takes only the rows already there.
    pub(super) async fn take(
        &mut self,
        count: Count,
        timeout: Option<Duration>,
    ) -> Result<Vec<RecordBatch>> {
        let mut wanted = match count {
            Count::Rows(n) => n,
            Count::All => u64::MAX,
        };
        let mut out = Vec::new();
        let mut taken = 0u64;
        while wanted > 0 {
            let batch = match self.pending.take() {
                Some(batch) => batch,
                None => {
                    let next = self.stream.try_next();
                    let read = match (self.live, timeout) {
                        (false, _) => Some(next.await),
                        (true, _) if taken > 0 => next.now_or_never(),
                        (true, Some(timeout)) => tokio::time::timeout(timeout, next).await.ok(),
                        (true, None) => Some(next.await),
                    };
                    match read {
                        Some(read) => match read.map_err(query::Error::from)? {
                            Some(batch) => batch,
                            None => break,
                        },
                        None => break,
                    }
                }
            };
            taken += batch.num_rows() as u64;
            let rows = batch.num_rows() as u64;
            if rows <= wanted {
                wanted -= rows;
                out.push(batch);
            } else {
                let n = usize::try_from(wanted).unwrap_or(usize::MAX);
                out.push(batch.slice(0, n));
                self.pending = Some(batch.slice(n, batch.num_rows() - n));
                wanted = 0;
            }
        }
        Ok(out)
    }
}

/// A session's open cursors, by name.
#[derive(Default)]
pub(super) struct Cursors {
    open: HashMap<String, Cursor>,
}

impl Cursors {
    /// Opens `name` over `stream`.
    pub(super) fn declare(
        &mut self,
        name: &str,
        stream: SendableRecordBatchStream,
        hold: bool,
        in_block: bool,
        live: bool,
    ) -> Result<()> {
        if self.open.contains_key(name) {
            return Err(Error::CursorExists {
                name: name.to_owned(),
            });
        }
        let cursor = Cursor {
            stream,
            pending: None,
            live,
            hold,
            in_open_block: in_block,
        };
        self.open.insert(name.to_owned(), cursor);
        Ok(())
    }

    pub(super) fn schema(&self, name: &str) -> Result<SchemaRef> {
        self.open
            .get(name)
            .map(Cursor::schema)
            .ok_or_else(|| not_found(name))
    }

    /// Takes `name` out to read from it (without holding the session's lock
    /// while rows are produced); [`put_back`](Self::put_back) returns it.
    pub(super) fn take_out(&mut self, name: &str) -> Result<Cursor> {
        self.open.remove(name).ok_or_else(|| not_found(name))
    }

    pub(super) fn put_back(&mut self, name: String, cursor: Cursor) {
        self.open.insert(name, cursor);
    }

    pub(super) fn close(&mut self, name: &str) -> Result<()> {
        self.open
            .remove(name)
            .map(drop)
            .ok_or_else(|| not_found(name))
    }

    pub(super) fn close_all(&mut self) {
        self.open.clear();
    }

    /// The block ended: only cursors declared `WITH HOLD` stay open, and a
    /// rollback also closes those it declared.
    pub(super) fn end_block(&mut self, committed: bool) {
        self.open
            .retain(|_, c| c.hold && (committed || !c.in_open_block));
        for cursor in self.open.values_mut() {
            cursor.in_open_block = false;
        }
    }
}

fn not_found(name: &str) -> Error {
    Error::CursorNotFound {
        name: name.to_owned(),
    }
}
