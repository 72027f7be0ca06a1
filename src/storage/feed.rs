//! A table's feed of new rows, for live subscriptions.
//!
//! Every write a table applies is published to its feed under the table's
//! write lock, right after it is applied (and logged), so a subscriber that
//! registers under the same lock, together with a snapshot, receives
//! exactly the writes the snapshot lacks: none missing, none twice.
//!
//! Writers never wait on subscribers. Each subscriber has an unbounded
//! channel whose rows are counted: a publish that would take a subscriber
//! past its limit ends that subscription instead ([`Ended::FellBehind`]).
//! A delivery carries the write's durability ticket, and a subscriber waits
//! on it before it hands the rows on, so no one sees a row a crash could
//! take back. Rows are shared between subscribers, not copied.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, new_null_array};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::error::Result;
use super::journal::Durable;
use super::scan::ReadView;
use super::series::SeriesKey;
use super::tag_index::SeriesFilter;

/// The rows of one write that a subscriber's series filter passes, in the
/// table's columns as they were when it was written. They are decoded by
/// the subscriber, when it reads them: a writer only routes them.
#[derive(Debug)]
pub struct Delivery {
    /// The write's position: its log sequence number, or the table's own
    /// count of writes without a log. Later writes have larger ones.
    pub lsn: u64,
    written: Arc<Written>,
    /// The pieces of `written` this subscriber wants.
    pieces: Vec<usize>,
    /// At most how many rows they hold: what the subscriber's queue counts.
    rows: usize,
    durable: Durable<()>,
}

impl Delivery {
    /// Waits until the write is durable, then decodes its rows; fails if
    /// the log failed.
    pub async fn durable(self) -> Result<(u64, Vec<RecordBatch>)> {
        self.durable.durable().await?;
        let mut rows = Vec::with_capacity(self.pieces.len());
        for &piece in &self.pieces {
            if let Some(batch) = self.written.decode(piece)? {
                rows.push(batch);
            }
        }
        Ok((self.lsn, rows))
    }
}

/// A write's staged rows, shared by the deliveries of it; each piece is
/// decoded by the first subscriber that reads it, and kept for the others.
#[derive(Debug)]
struct Written {
    /// The rows, with only the columns some subscriber reads.
    view: ReadView,
    /// Those columns' positions in the table.
    columns: Vec<usize>,
    /// The table's columns, all nullable: a batch handed out has them all,
    /// those no one reads all NULL.
    full: SchemaRef,
    decoded: Vec<OnceLock<Option<RecordBatch>>>,
}

impl Written {
    fn decode(&self, piece: usize) -> Result<Option<RecordBatch>> {
        let Some(slot) = self.decoded.get(piece) else {
            return Ok(None);
        };
        if let Some(batch) = slot.get() {
            return Ok(batch.clone());
        }
        let batch = match self.view.decode(piece)? {
            Some(read) => Some(self.widen(&read)?),
            None => None,
        };
        // Two subscribers may race to decode a piece; both get the same rows.
        let _ = slot.set(batch.clone());
        Ok(batch)
    }

    /// `read` (the view's columns) with every column of the table.
    fn widen(&self, read: &RecordBatch) -> Result<RecordBatch> {
        let rows = read.num_rows();
        let columns: Vec<ArrayRef> = (self.full.fields().iter().enumerate())
            .map(
                |(i, field)| match self.columns.iter().position(|&c| c == i) {
                    Some(at) => read.column(at).clone(),
                    None => new_null_array(field.data_type(), rows),
                },
            )
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            self.full.clone(),
            columns,
            &options,
        )?)
    }
}

/// Why a subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The table was dropped.
    Dropped,
    /// A column of the table was dropped.
    Altered,
    /// More than `limit` rows waited for the subscriber.
    FellBehind { limit: usize },
}

/// What a subscriber and its feed share.
#[derive(Debug)]
struct Shared {
    /// Rows published to the subscriber and not yet received.
    queued: AtomicUsize,
    limit: usize,
    ended: Mutex<Option<Ended>>,
}

#[derive(Debug)]
struct Subscriber {
    sender: mpsc::UnboundedSender<Delivery>,
    shared: Arc<Shared>,
    /// Which series it wants (the rest of its query is its own business).
    series: SeriesFilter,
    /// Which of the table's columns it reads, by position.
    columns: Vec<usize>,
}

/// The subscribers, indexed by the tag values their series filters
/// require, so that a write's series find theirs without testing every
/// subscriber.
#[derive(Debug, Default)]
struct Registry {
    subscribers: HashMap<u64, Subscriber>,
    /// Tag position → value → the subscribers that require it.
    by_tag: HashMap<usize, HashMap<Arc<str>, Vec<u64>>>,
    /// Subscribers whose filters require no value: tested on every series.
    unindexed: Vec<u64>,
    /// Set when the table is dropped: whoever subscribes after that (having
    /// found the table before) ends at once.
    ended: Option<Ended>,
    /// The columns any subscriber reads, in order: kept as subscribers come
    /// and go, so that a write does not gather them.
    columns: Vec<usize>,
}

impl Registry {
    fn add(&mut self, id: u64, subscriber: Subscriber) {
        match subscriber.series.required_values() {
            Some(values) => {
                for (tag, value) in values {
                    let ids = (self.by_tag.entry(tag).or_default())
                        .entry(Arc::from(value))
                        .or_default();
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            None => self.unindexed.push(id),
        }
        self.subscribers.insert(id, subscriber);
        self.gather_columns();
    }

    fn remove(&mut self, id: u64) -> Option<Subscriber> {
        let subscriber = self.subscribers.remove(&id)?;
        match subscriber.series.required_values() {
            Some(values) => {
                for (tag, value) in values {
                    if let Some(by_value) = self.by_tag.get_mut(&tag)
                        && let Some(ids) = by_value.get_mut(value)
                    {
                        ids.retain(|&other| other != id);
                        if ids.is_empty() {
                            by_value.remove(value);
                        }
                    }
                }
            }
            None => self.unindexed.retain(|&other| other != id),
        }
        self.gather_columns();
        Some(subscriber)
    }

    fn gather_columns(&mut self) {
        let mut columns: Vec<usize> = (self.subscribers.values())
            .flat_map(|s| s.columns.iter().copied())
            .collect();
        columns.sort_unstable();
        columns.dedup();
        self.columns = columns;
    }

    /// The subscribers that want the series `key`, into `out` (cleared).
    fn wanting(&self, key: &SeriesKey, out: &mut Vec<u64>) {
        out.clear();
        out.extend_from_slice(&self.unindexed);
        for (tag, value) in key.values().iter().enumerate() {
            if let Some(value) = value
                && let Some(ids) = self.by_tag.get(&tag).and_then(|m| m.get(value.as_ref()))
            {
                out.extend_from_slice(ids);
            }
        }
        out.sort_unstable();
        out.dedup();
        out.retain(|id| (self.subscribers.get(id)).is_some_and(|s| s.series.matches(key)));
    }
}

/// The subscribers of one table (shared by the tables that replace it when
/// its columns change).
#[derive(Debug, Default)]
pub(super) struct Feed {
    registry: Mutex<Registry>,
    /// How many subscribers there are: read without the lock by writers,
    /// which prepare their rows for publishing only when there are some.
    count: AtomicUsize,
    next_id: AtomicU64,
    /// The position of the last write published.
    last_lsn: AtomicU64,
}

/// A write's rows on their way to subscribers, and who gets which.
pub(super) struct Outgoing {
    written: Arc<Written>,
    /// Subscriber → the pieces it gets; fixed by [`Feed::route_under_lock`].
    routes: Vec<(u64, Vec<usize>)>,
}

impl Feed {
    /// Whether anyone subscribes (a hint: the answer may change at once;
    /// under the table's write lock it is exact).
    pub(super) fn is_active(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// A new subscriber to the series `series` passes, which receives every
    /// write published after this: call under the table's write lock, with
    /// the snapshot it starts from. `now` is the snapshot's ticket: the
    /// log's end when it was taken.
    pub(super) fn subscribe(
        self: &Arc<Self>,
        series: SeriesFilter,
        columns: Vec<usize>,
        limit: usize,
        now: Durable<()>,
    ) -> Subscription {
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            limit: limit.max(1),
            ended: Mutex::new(None),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut registry = self.registry.lock();
        match registry.ended {
            Some(why) => *shared.ended.lock() = Some(why),
            None => {
                let subscriber = Subscriber {
                    sender,
                    shared: shared.clone(),
                    series,
                    columns,
                };
                registry.add(id, subscriber);
            }
        }
        self.count
            .store(registry.subscribers.len(), Ordering::Release);
        // Every write logged so far is at or before the log's end, and
        // every later one after it.
        let start_lsn = match now.lsn() {
            Some(end) => self.last_lsn.fetch_max(end, Ordering::AcqRel).max(end),
            None => self.last_lsn.load(Ordering::Acquire),
        };
        Subscription {
            start_lsn,
            snapshot: Some(now),
            receiver,
            shared,
            feed: self.clone(),
            id,
        }
    }

    /// A write's rows readied for the subscribers, before the table's
    /// write lock is taken: nothing is decoded. `staged` gives a view of
    /// them with the columns asked for; `full` is the table's schema.
    /// `None` when no one subscribes.
    pub(super) fn prepare(
        &self,
        staged: impl Fn(Vec<usize>) -> Result<ReadView>,
        full: &SchemaRef,
    ) -> Result<Option<Outgoing>> {
        if !self.is_active() {
            return Ok(None);
        }
        let columns = self.registry.lock().columns.clone();
        let view = staged(columns.clone())?;
        let fields: Vec<Field> = (full.fields().iter())
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let written = Written {
            decoded: (0..view.len()).map(|_| OnceLock::new()).collect(),
            view,
            columns,
            full: Arc::new(Schema::new(fields)),
        };
        Ok(Some(Outgoing {
            written: Arc::new(written),
            routes: Vec::new(),
        }))
    }

    /// Fixes who gets which of the write's rows: under the table's write
    /// lock, so that the subscribers are exactly those whose snapshots
    /// lack the write. `prepared` is what [`prepare`](Self::prepare)
    /// readied (`None` if no one subscribed then); it is readied again if
    /// someone who reads other columns subscribed since.
    pub(super) fn route_under_lock(
        &self,
        staged: impl Fn(Vec<usize>) -> Result<ReadView>,
        full: &SchemaRef,
        prepared: Option<Outgoing>,
    ) -> Result<Option<Outgoing>> {
        if !self.is_active() {
            return Ok(None);
        }
        let columns = self.registry.lock().columns.clone();
        let prepared = prepared.filter(|p| columns.iter().all(|c| p.written.columns.contains(c)));
        let mut outgoing = match prepared {
            Some(outgoing) => outgoing,
            None => match self.prepare(staged, full)? {
                Some(outgoing) => outgoing,
                None => return Ok(None),
            },
        };
        let registry = self.registry.lock();
        let mut routes: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut wanting = Vec::new();
        let view = &outgoing.written.view;
        for piece in 0..view.len() {
            let Some(key) = view.key(piece) else {
                continue;
            };
            registry.wanting(key, &mut wanting);
            for &id in &wanting {
                routes.entry(id).or_default().push(piece);
            }
        }
        outgoing.routes = routes.into_iter().collect();
        Ok(Some(outgoing))
    }

    /// Publishes one write's routed rows, under the table's write lock,
    /// after the write is applied. `lsn` is its log position (`None`
    /// without a log).
    pub(super) fn publish(&self, outgoing: Outgoing, lsn: Option<u64>, durable: &Durable<()>) {
        let lsn = match lsn {
            Some(lsn) => lsn,
            None => self.last_lsn.load(Ordering::Acquire) + 1,
        };
        self.last_lsn.fetch_max(lsn, Ordering::AcqRel);
        let mut registry = self.registry.lock();
        let mut gone = Vec::new();
        for (id, pieces) in outgoing.routes {
            let Some(subscriber) = registry.subscribers.get(&id) else {
                continue;
            };
            let count: usize = (pieces.iter())
                .map(|&p| outgoing.written.view.piece_rows(p))
                .sum();
            if count == 0 {
                continue;
            }
            // A write larger than the limit still reaches a subscriber that
            // has caught up.
            let shared = &subscriber.shared;
            let queued = shared.queued.load(Ordering::Acquire);
            if queued > 0 && queued.saturating_add(count) > shared.limit {
                *shared.ended.lock() = Some(Ended::FellBehind {
                    limit: shared.limit,
                });
                gone.push(id);
                continue;
            }
            shared.queued.fetch_add(count, Ordering::AcqRel);
            let delivery = Delivery {
                lsn,
                written: outgoing.written.clone(),
                pieces,
                rows: count,
                durable: durable.again(),
            };
            // A closed channel: the subscriber is gone.
            if subscriber.sender.send(delivery).is_err() {
                gone.push(id);
            }
        }
        for id in gone {
            registry.remove(id);
        }
        self.count
            .store(registry.subscribers.len(), Ordering::Release);
    }

    /// Ends every subscription: the table is gone.
    pub(super) fn end(&self, why: Ended) {
        let mut registry = self.registry.lock();
        for (_, subscriber) in registry.subscribers.drain() {
            *subscriber.shared.ended.lock() = Some(why);
        }
        *registry = Registry {
            ended: Some(why),
            ..Registry::default()
        };
        self.count.store(0, Ordering::Release);
    }

    fn remove(&self, id: u64) {
        let mut registry = self.registry.lock();
        registry.remove(id);
        self.count
            .store(registry.subscribers.len(), Ordering::Release);
    }
}

/// One subscriber's end of a feed. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    /// The position of the last write the starting snapshot holds: every
    /// delivery is later.
    pub start_lsn: u64,
    /// The snapshot's ticket, until [`snapshot_durable`](Self::snapshot_durable) waited on it.
    snapshot: Option<Durable<()>>,
    receiver: mpsc::UnboundedReceiver<Delivery>,
    shared: Arc<Shared>,
    feed: Arc<Feed>,
    id: u64,
}

impl Subscription {
    /// The next write's rows, waiting for one; or why the subscription
    /// ended. A subscription that fell behind ends at once, before the rows
    /// still queued.
    pub async fn next(&mut self) -> std::result::Result<Delivery, Ended> {
        if let Some(why) = *self.shared.ended.lock() {
            return Err(why);
        }
        match self.receiver.recv().await {
            Some(delivery) => {
                self.shared
                    .queued
                    .fetch_sub(delivery.rows, Ordering::AcqRel);
                if let Some(why) = *self.shared.ended.lock() {
                    return Err(why);
                }
                Ok(delivery)
            }
            None => Err((*self.shared.ended.lock()).unwrap_or(Ended::Dropped)),
        }
    }

    /// Waits until every write the snapshot holds is durable: only then
    /// may its rows be sent.
    pub async fn snapshot_durable(&mut self) -> Result<()> {
        match self.snapshot.take() {
            Some(ticket) => ticket.durable().await,
            None => Ok(()),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feed.remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };

    use super::*;
    use crate::storage::scan::ScanRequest;
    use crate::storage::schema::TableOptions;
    use crate::storage::table::Table;
    use crate::storage::tag_index::TagPredicate;
    use crate::storage::tests::cpu_schema;

    fn table() -> Table {
        Table::new("m".into(), cpu_schema(), TableOptions::default())
    }

    /// A staged write of one row per host.
    fn staged(table: &Table, hosts: &[&str]) -> Table {
        let staging = table.staging();
        let n = hosts.len();
        let batch = RecordBatch::try_new(
            table.arrow_schema().clone(),
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![1_000; n]).with_timezone("UTC")),
                Arc::new(StringArray::from(hosts.to_vec())),
                Arc::new(Float64Array::from(vec![1.0; n])),
            ],
        )
        .unwrap();
        staging.write(&[batch]).unwrap().without_waiting();
        staging
    }

    fn host(value: &str) -> SeriesFilter {
        SeriesFilter::Tag {
            tag: 0,
            predicate: TagPredicate::Eq(value.into()),
        }
    }

    fn view(staged: &Table, columns: Vec<usize>) -> Result<ReadView> {
        staged.snapshot(&ScanRequest {
            projection: Some(columns),
            ..ScanRequest::default()
        })
    }

    fn publish(feed: &Feed, staged: &Table, lsn: Option<u64>) {
        let full = staged.arrow_schema();
        let columns = |c| view(staged, c);
        let outgoing = feed.prepare(columns, full).unwrap();
        if let Some(outgoing) = feed.route_under_lock(columns, full, outgoing).unwrap() {
            feed.publish(outgoing, lsn, &Durable::new((), None));
        }
    }

    fn rows(delivery: &Delivery) -> usize {
        delivery.rows
    }

    #[tokio::test]
    async fn routes_series_to_their_subscribers_in_order() {
        let table = table();
        let feed = Arc::new(Feed::default());
        let now = || Durable::new((), None);
        let mut a = feed.subscribe(host("a"), vec![0, 2], 100, now());
        let mut all = feed.subscribe(SeriesFilter::All, vec![0, 1, 2], 100, now());
        publish(&feed, &staged(&table, &["a", "b", "c"]), None);
        publish(&feed, &staged(&table, &["b"]), Some(10));
        publish(&feed, &staged(&table, &["a"]), None);
        let first = all.next().await.unwrap();
        assert_eq!((first.lsn, rows(&first)), (1, 3));
        assert_eq!(all.next().await.unwrap().lsn, 10);
        assert_eq!(all.next().await.unwrap().lsn, 11);
        // `a` saw only its own series.
        let first = a.next().await.unwrap();
        assert_eq!((first.lsn, rows(&first)), (1, 1));
        let (lsn, batches) = a.next().await.unwrap().durable().await.unwrap();
        assert_eq!(lsn, 11);
        assert_eq!(batches[0].num_rows(), 1);
        // Every column, those someone reads decoded.
        assert_eq!(batches[0].num_columns(), 3);
        assert_eq!(batches[0].column(1).null_count(), 0);
    }

    #[tokio::test]
    async fn cuts_off_a_subscriber_that_falls_behind() {
        let table = table();
        let feed = Arc::new(Feed::default());
        let now = || Durable::new((), None);
        let mut fast = feed.subscribe(SeriesFilter::All, vec![0, 1, 2], 100, now());
        let mut slow = feed.subscribe(SeriesFilter::All, vec![0], 5, now());
        publish(&feed, &staged(&table, &["a", "b", "c"]), None);
        publish(&feed, &staged(&table, &["a", "b", "c"]), None);
        // 6 rows queued for `slow`, beyond its 5: it is cut off, `fast` is not.
        assert_eq!(
            slow.next().await.unwrap_err(),
            Ended::FellBehind { limit: 5 }
        );
        assert_eq!(rows(&fast.next().await.unwrap()), 3);
        assert!(feed.is_active());
        drop(fast);
        drop(slow);
        assert!(!feed.is_active());
        let quiet = staged(&table, &["a"]);
        let columns = |c| view(&quiet, c);
        assert!(
            feed.prepare(columns, quiet.arrow_schema())
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn ending_the_feed_ends_its_subscriptions() {
        let feed = Arc::new(Feed::default());
        let mut subscription = feed.subscribe(host("x"), vec![0], 10, Durable::new((), None));
        feed.end(Ended::Dropped);
        assert_eq!(subscription.next().await.unwrap_err(), Ended::Dropped);
        assert!(!feed.is_active());
        // One that found the table before it was dropped ends at once.
        let mut late = feed.subscribe(SeriesFilter::All, vec![0], 10, Durable::new((), None));
        assert_eq!(late.next().await.unwrap_err(), Ended::Dropped);
        assert!(!feed.is_active());
    }
}
