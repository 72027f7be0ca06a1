//! The data directory as durable storage sees it: where and how it persists,
//! the names of snapshot files, and the state of snapshotting that the
//! storage tree carries (one snapshot at a time, the LSN the newest covers).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;

use super::error::Error;
use crate::wal::{self, FileSystem, OnCorruption, SyncMode};

/// The magic number of snapshot files.
pub(super) const SNAPSHOT_MAGIC: &[u8; 8] = b"EPOCHSNP";

/// Where and how storage persists.
#[derive(Debug, Clone)]
pub struct DurabilityOptions {
    pub dir: PathBuf,
    pub fs: Arc<dyn FileSystem>,
    pub mode: SyncMode,
    /// WAL segments are closed at this size.
    pub segment_size: u64,
    /// What recovery does about a corrupt record in the middle of the WAL.
    pub on_corruption: OnCorruption,
}

/// The files of durable storage.
#[derive(Debug)]
pub(super) struct Files {
    pub(super) dir: PathBuf,
    pub(super) fs: Arc<dyn FileSystem>,
    /// One snapshot at a time.
    pub(super) snapshotting: Mutex<()>,
    /// The LSN the newest snapshot covers.
    pub(super) snapshot_lsn: AtomicU64,
}

pub(super) fn snapshot_name(lsn: u64) -> String {
    format!("snapshot-{lsn:020}.snap")
}

pub(super) fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("snapshot-")?.strip_suffix(".snap")?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

pub(super) fn io(action: &'static str, path: &Path, error: &std::io::Error) -> Error {
    Error::Wal(wal::Error::Io {
        action,
        path: path.to_owned(),
        reason: error.to_string().into(),
    })
}
