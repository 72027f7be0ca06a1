//! How storage changes reach the write-ahead log: the commit lock that orders
//! logging against snapshots, and the ticket a writer waits on before it
//! acknowledges. The journal frames and orders encoded records; it does not
//! know what they say (that is [`record`](super::record)).
//!
//! Every change is logged and applied in one critical section of the object
//! it changes (a table's write lock, a namespace's table map, ...), so the
//! log holds each object's changes in the order they were applied, and
//! replaying it rebuilds the same state. Writers hold the commit lock shared
//! while they log and apply; a snapshot holds it exclusively for as long as
//! it takes to clone pointers, so it sees exactly the records before one LSN.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{RwLock, RwLockReadGuard};

use super::error::Result;
use crate::wal::Wal;

/// A change, applied in memory, that is acknowledged once [`durable`](Self::durable)
/// returns: only then is it in the log as the durability mode promises.
#[must_use = "a change may be acknowledged only once it is durable"]
#[derive(Debug)]
pub struct Durable<T> {
    value: T,
    wait: Option<(Arc<Wal>, u64)>,
}

impl<T> Durable<T> {
    pub(super) fn new(value: T, wait: Option<(Arc<Wal>, u64)>) -> Self {
        Self { value, wait }
    }

    /// Waits until the change is durable, then returns its result. Fails if
    /// the log failed: the change may then be visible now but lost on restart.
    pub async fn durable(self) -> Result<T> {
        if let Some((wal, lsn)) = &self.wait {
            wal.durable(*lsn).await?;
        }
        Ok(self.value)
    }

    /// Of two tickets, the one that waits for both.
    pub fn later(self, other: Durable<()>) -> Durable<()> {
        let lsn = |d: &Option<(Arc<Wal>, u64)>| d.as_ref().map(|(_, lsn)| *lsn);
        let wait = if lsn(&other.wait) > lsn(&self.wait) {
            other.wait
        } else {
            self.wait
        };
        Durable { value: (), wait }
    }

    /// Another ticket for the same change, without its result.
    pub(super) fn again(&self) -> Durable<()> {
        Durable {
            value: (),
            wait: self.wait.clone(),
        }
    }

    /// The change's log sequence number, if it was logged.
    pub(super) fn lsn(&self) -> Option<u64> {
        self.wait.as_ref().map(|(_, lsn)| *lsn)
    }

    /// Whether there is nothing to wait for (nothing was logged).
    pub fn is_immediate(&self) -> bool {
        self.wait.is_none()
    }

    /// The ticket of the same change, with its result mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Durable<U> {
        Durable {
            value: f(self.value),
            wait: self.wait,
        }
    }

    /// The result, before the change is durable: to decide what to do
    /// next, not to acknowledge anything.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The result, without waiting: for storage without a log (tests, benches,
    /// `--durability none`), or when the caller does not acknowledge anything.
    pub fn without_waiting(self) -> T {
        self.value
    }
}

/// The log side of a storage tree, shared by every object in it.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    /// Attached once recovery has replayed the log: nothing replay applies
    /// is logged again.
    wal: OnceLock<Arc<Wal>>,
    commit: RwLock<()>,
    next_table_id: AtomicU64,
    /// Bumped by every change to the catalog (databases, schemas, tables,
    /// roles, grants), so that what was planned before it can tell.
    catalog_version: AtomicU64,
}

impl Journal {
    pub(super) fn attach(&self, wal: Arc<Wal>) {
        let _ = self.wal.set(wal);
    }

    pub(super) fn wal(&self) -> Option<&Arc<Wal>> {
        self.wal.get()
    }

    /// Held while a change is logged and applied.
    pub(super) fn change(&self) -> RwLockReadGuard<'_, ()> {
        self.commit.read()
    }

    /// Held while a snapshot clones the state: no change is half done.
    pub(super) fn freeze(&self) -> parking_lot::RwLockWriteGuard<'_, ()> {
        self.commit.write()
    }

    pub(super) fn next_table_id(&self) -> u64 {
        self.next_table_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The catalog's version: it changes with every DDL and role change.
    pub(super) fn catalog_version(&self) -> u64 {
        self.catalog_version.load(Ordering::Acquire)
    }

    /// The catalog changed.
    pub(super) fn catalog_changed(&self) {
        self.catalog_version.fetch_add(1, Ordering::AcqRel);
    }

    /// Table ids continue after `id` (replay saw it).
    pub(super) fn saw_table_id(&self, id: u64) {
        self.next_table_id.fetch_max(id + 1, Ordering::Relaxed);
    }

    /// Logs a change to the catalog (see [`catalog_changed`](Self::catalog_changed)).
    pub(super) fn log_catalog<T>(&self, records: &[Vec<u8>], value: T) -> Result<Durable<T>> {
        let logged = self.log(records, value)?;
        self.catalog_changed();
        Ok(logged)
    }

    /// Logs `records` (nothing without a WAL) and returns the ticket to wait on.
    pub(super) fn log<T>(&self, records: &[Vec<u8>], value: T) -> Result<Durable<T>> {
        match self.wal.get() {
            Some(wal) if !records.is_empty() => {
                let lsn = wal.append(records)?;
                Ok(Durable::new(value, Some((wal.clone(), lsn))))
            }
            _ => Ok(Durable::new(value, None)),
        }
    }
}
