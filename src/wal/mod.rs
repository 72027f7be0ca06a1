//! The write-ahead log: an append-only sequence of checksummed records in
//! segment files, with group commit.
//!
//! The WAL knows bytes, not tables: [`Wal::append`] frames records into a
//! buffer and returns their end position (an LSN, a byte position over the
//! whole log); one flusher thread writes the buffer out and fsyncs it, so
//! every writer that appended while the previous fsync ran shares the next
//! one (group commit). [`Wal::durable`] waits until a position is as durable
//! as the [`SyncMode`] promises. [`replay`] reads the log back at start-up.
//!
//! ```text
//! data_dir/wal-<first lsn, 20 digits>.log:  file header | frame | frame | ...
//! ```
//! `frame` documents the bytes; docs/FILE-FORMATS.md draws them.

pub mod frame;
pub mod fs;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

pub use fs::{FileSystem, OsFileSystem, WalFile};

/// The magic number of WAL segments.
pub const SEGMENT_MAGIC: &[u8; 8] = b"EPOCHWAL";

/// When an appended record counts as durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// After an fsync that covers it. Concurrent writers share fsyncs.
    Sync,
    /// Once written to the operating system, which survives a crash of the
    /// process; the file is fsynced at least this often, which bounds what an
    /// operating-system crash or power loss can take.
    Interval(Duration),
}

/// Errors of the WAL.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A write or fsync failed earlier: nothing is accepted any more, because
    /// what the kernel did with the failed pages is unknown.
    #[error("the write-ahead log failed and accepts no more writes: {0}")]
    Failed(Arc<str>),
    #[error("the write-ahead log is closed")]
    Closed,
    #[error("cannot {action} {path}: {reason}")]
    Io {
        action: &'static str,
        path: PathBuf,
        reason: Arc<str>,
    },
    #[error("write-ahead log {path} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_error(action: &'static str, path: &Path, error: &std::io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        reason: error.to_string().into(),
    }
}

/// The file name of the segment whose first record is at `lsn`.
pub fn segment_name(lsn: u64) -> String {
    format!("wal-{lsn:020}.log")
}

/// The first LSN of a segment file name, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 {
        return None;
    }
    digits.parse().ok()
}

/// Tunables of an open WAL.
#[derive(Debug, Clone, Copy)]
pub struct WalOptions {
    pub mode: SyncMode,
    /// A segment is closed, and a new one started, once it holds this many bytes.
    pub segment_size: u64,
}

/// Progress of the flusher, published to waiting writers.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Everything before this LSN is written to the operating system.
    written: u64,
    /// Everything before this LSN is fsynced.
    synced: u64,
    failed: Option<Arc<str>>,
}

#[derive(Debug)]
struct Pending {
    /// Framed records not yet handed to the flusher.
    buffer: Vec<u8>,
    /// The LSN after the last appended record.
    end: u64,
    failed: Option<Arc<str>>,
    closing: bool,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    options: WalOptions,
    pending: Mutex<Pending>,
    wake: Condvar,
    progress: watch::Sender<Progress>,
    /// First LSNs of the segments on disk, oldest first.
    segments: Mutex<Vec<u64>>,
}

/// An open write-ahead log. Dropping it (or [`close`](Self::close)) flushes
/// and fsyncs what was appended.
#[derive(Debug)]
pub struct Wal {
    shared: Arc<Shared>,
    flusher: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Wal {
    /// Starts a new segment at `lsn` (the end of the recovered log) in `dir`,
    /// which already holds the segments `existing` (first LSNs, oldest first).
    pub fn open(
        dir: &Path,
        fs: Arc<dyn FileSystem>,
        options: WalOptions,
        lsn: u64,
        mut existing: Vec<u64>,
    ) -> Result<Self> {
        let file = create_segment(fs.as_ref(), dir, lsn)?;
        existing.retain(|&s| s != lsn);
        existing.push(lsn);
        let progress = Progress {
            written: lsn,
            synced: lsn,
            failed: None,
        };
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            fs,
            options,
            pending: Mutex::new(Pending {
                buffer: Vec::new(),
                end: lsn,
                failed: None,
                closing: false,
            }),
            wake: Condvar::new(),
            progress: watch::Sender::new(progress),
            segments: Mutex::new(existing),
        });
        let flusher = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("epochdb-wal".into())
                .spawn(move || flush_loop(&shared, file, lsn))
                .map_err(|e| io_error("start the WAL thread for", dir, &e))?
        };
        Ok(Self {
            shared,
            flusher: Mutex::new(Some(flusher)),
        })
    }

    /// Appends `records`, contiguously, and returns the LSN after the last.
    /// Cheap: a copy into a buffer. [`durable`](Self::durable) waits for it.
    pub fn append(&self, records: &[Vec<u8>]) -> Result<u64> {
        let mut pending = self.shared.pending.lock();
        if let Some(reason) = &pending.failed {
            return Err(Error::Failed(reason.clone()));
        }
        if pending.closing {
            return Err(Error::Closed);
        }
        for record in records {
            frame::encode_frame(record, &mut pending.buffer);
            pending.end += frame::frame_len(record.len()) as u64;
        }
        let end = pending.end;
        drop(pending);
        self.shared.wake.notify_one();
        Ok(end)
    }

    /// The LSN after the last appended record.
    pub fn end(&self) -> u64 {
        self.shared.pending.lock().end
    }

    /// Waits until everything before `lsn` is durable as the mode promises.
    pub async fn durable(&self, lsn: u64) -> Result<()> {
        let mode = self.shared.options.mode;
        let mut progress = self.shared.progress.subscribe();
        let reached = |p: &Progress| match mode {
            SyncMode::Sync => p.synced >= lsn,
            SyncMode::Interval(_) => p.written >= lsn,
        };
        let progress = progress
            .wait_for(|p| p.failed.is_some() || reached(p))
            .await
            .map_err(|_| Error::Closed)?;
        match &progress.failed {
            Some(reason) if !reached(&progress) => Err(Error::Failed(reason.clone())),
            _ => Ok(()),
        }
    }

    /// Removes the segments that hold only records before `lsn` (which a
    /// snapshot now covers). The newest segment always stays.
    pub fn remove_before(&self, lsn: u64) -> Result<usize> {
        let mut segments = self.shared.segments.lock();
        let covered = segments.windows(2).take_while(|w| w[1] <= lsn).count();
        for &first in &segments[..covered] {
            let path = self.shared.dir.join(segment_name(first));
            match self.shared.fs.remove(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", &path, &e)),
            }
        }
        segments.drain(..covered);
        drop(segments);
        if covered > 0 {
            self.shared
                .fs
                .sync_dir(&self.shared.dir)
                .map_err(|e| io_error("sync", &self.shared.dir, &e))?;
        }
        Ok(covered)
    }

    /// Flushes and fsyncs everything appended, then stops the flusher.
    pub fn close(&self) -> Result<()> {
        self.shared.pending.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(flusher) = self.flusher.lock().take() {
            let _ = flusher.join();
        }
        match &self.shared.progress.borrow().failed {
            Some(reason) => Err(Error::Failed(reason.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn create_segment(fs: &dyn FileSystem, dir: &Path, lsn: u64) -> Result<Box<dyn WalFile>> {
    let path = dir.join(segment_name(lsn));
    let mut file = fs
        .create(&path)
        .map_err(|e| io_error("create", &path, &e))?;
    let mut header = Vec::with_capacity(frame::FILE_HEADER);
    frame::encode_file_header(SEGMENT_MAGIC, lsn, &mut header);
    file.write_all(&header)
        .and_then(|()| file.sync())
        .map_err(|e| io_error("write", &path, &e))?;
    fs.sync_dir(dir).map_err(|e| io_error("sync", dir, &e))?;
    Ok(file)
}

/// The flusher: takes what writers appended, writes it, fsyncs it, publishes
/// progress, and rotates segments. Runs until the WAL closes or fails.
fn flush_loop(shared: &Shared, mut file: Box<dyn WalFile>, start: u64) {
    let mut segment_bytes = 0u64;
    let mut written = start;
    let mut synced = start;
    let mut last_sync = Instant::now();
    let mut spare = Vec::new();
    loop {
        let (closing, end) = {
            let mut pending = shared.pending.lock();
            loop {
                if !pending.buffer.is_empty() || pending.closing {
                    break;
                }
                match shared.options.mode {
                    SyncMode::Interval(every) if synced < written => {
                        let due = last_sync + every;
                        if Instant::now() >= due {
                            break;
                        }
                        shared.wake.wait_until(&mut pending, due);
                    }
                    _ => shared.wake.wait(&mut pending),
                }
            }
            std::mem::swap(&mut pending.buffer, &mut spare);
            (pending.closing, pending.end)
        };
        let result = (|| -> Result<()> {
            if !spare.is_empty() {
                let path = shared.dir.join(segment_name(written));
                file.write_all(&spare)
                    .map_err(|e| io_error("write", &path, &e))?;
                segment_bytes += spare.len() as u64;
                written = end;
                spare.clear();
            }
            let sync_due = match shared.options.mode {
                SyncMode::Sync => true,
                SyncMode::Interval(every) => last_sync.elapsed() >= every,
            };
            if synced < written && (sync_due || closing) {
                file.sync()
                    .map_err(|e| io_error("fsync", &shared.dir, &e))?;
                synced = written;
                last_sync = Instant::now();
            }
            if segment_bytes >= shared.options.segment_size && !closing {
                if synced < written {
                    file.sync()
                        .map_err(|e| io_error("fsync", &shared.dir, &e))?;
                    synced = written;
                }
                file = create_segment(shared.fs.as_ref(), &shared.dir, written)?;
                shared.segments.lock().push(written);
                segment_bytes = 0;
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                shared.progress.send_modify(|p| {
                    p.written = written;
                    p.synced = synced;
                });
            }
            Err(error) => {
                let reason: Arc<str> = error.to_string().into();
                tracing::error!(
                    error = %reason,
                    "the write-ahead log failed; EpochDB accepts no more writes until it restarts"
                );
                shared.pending.lock().failed = Some(reason.clone());
                shared.progress.send_modify(|p| p.failed = Some(reason));
                return;
            }
        }
        if closing && shared.pending.lock().buffer.is_empty() {
            return;
        }
    }
}

/// What [`replay`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The LSN after the last valid record: where the next segment starts.
    pub end: u64,
    /// First LSNs of the segments kept, oldest first.
    pub segments: Vec<u64>,
    /// Records replayed.
    pub records: u64,
}

/// How [`replay`] treats a corrupt record in the middle of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCorruption {
    /// Refuse: return [`Error::Corrupt`].
    Fail,
    /// Keep everything before it, cut the log there, and go on.
    Truncate,
}

/// Reads the log in `dir` and calls `visit(lsn, payload)` for every record at
/// or after `from` (the LSN a snapshot covers), in order. A torn tail (what
/// a crash leaves while appending) is cut off, with a log line.
pub fn replay<E>(
    dir: &Path,
    fs: &dyn FileSystem,
    from: u64,
    on_corruption: OnCorruption,
    mut visit: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<Result<Replayed, E>> {
    let names = fs.list(dir).map_err(|e| io_error("list", dir, &e))?;
    let mut segments: Vec<u64> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
    segments.sort_unstable();
    // Segments a snapshot covers entirely are left for `remove_before`.
    let first = segments.partition_point(|&s| s <= from).saturating_sub(1);
    let mut kept: Vec<u64> = segments[..first].to_vec();
    let mut end = from;
    let mut records = 0;
    let mut index = first;
    while index < segments.len() {
        let start = segments[index];
        let path = dir.join(segment_name(start));
        let last = index + 1 == segments.len();
        let bytes = fs.read(&path).map_err(|e| io_error("read", &path, &e))?;
        tracing::info!(file = %path.display(), bytes = bytes.len(), "replaying WAL segment");
        let corrupt = |offset: usize, reason: String| Error::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            reason,
        };
        let header = frame::decode_file_header(SEGMENT_MAGIC, &bytes);
        let cut: Option<(usize, String)> = match header {
            Err(reason) if last && bytes.len() < frame::FILE_HEADER => {
                // A crash while the segment was being created.
                tracing::warn!(file = %path.display(), "removing a WAL segment that was never completed");
                fs.remove(&path)
                    .map_err(|e| io_error("remove", &path, &e))?;
                let _ = reason;
                break;
            }
            Err(reason) => Some((0, reason.to_owned())),
            Ok(lsn) if lsn != start => Some((0, format!("header names LSN {lsn}"))),
            Ok(_) if start > end && index > first => Some((
                0,
                format!("the log has a gap: the previous segment ends at LSN {end}"),
            )),
            Ok(_) if start > end => Some((
                0,
                format!("the log starts at LSN {start}, after the snapshot's LSN {end}"),
            )),
            Ok(_) => {
                let body = &bytes[frame::FILE_HEADER..];
                let (frames, how) = frame::scan(body);
                for range in &frames {
                    let lsn = start + (range.start - frame::FRAME_HEADER) as u64;
                    if lsn >= from {
                        if let Err(e) = visit(lsn, &body[range.clone()]) {
                            return Ok(Err(e));
                        }
                        records += 1;
                    }
                }
                // A snapshot may cover records whose WAL bytes the crash lost.
                end = (start + frames.last().map_or(0, |r| r.end) as u64).max(from);
                kept.push(start);
                match how {
                    frame::End::Clean => None,
                    frame::End::Torn { offset } if last => {
                        tracing::warn!(
                            file = %path.display(),
                            offset = frame::FILE_HEADER + offset,
                            bytes = body.len() - offset,
                            "cutting off a torn write at the end of the WAL"
                        );
                        truncate(fs, &path, frame::FILE_HEADER + offset)?;
                        None
                    }
                    frame::End::Torn { offset } => Some((
                        frame::FILE_HEADER + offset,
                        "incomplete record before the last segment".to_owned(),
                    )),
                    frame::End::Corrupt { offset, reason } => {
                        Some((frame::FILE_HEADER + offset, reason.to_owned()))
                    }
                }
            }
        };
        if let Some((offset, reason)) = cut {
            if on_corruption == OnCorruption::Fail {
                return Err(corrupt(offset, reason));
            }
            tracing::warn!(
                file = %path.display(), offset, %reason,
                "--recover-truncate: discarding the WAL from a corrupt record on"
            );
            if offset >= frame::FILE_HEADER {
                truncate(fs, &path, offset)?;
            } else {
                fs.remove(&path)
                    .map_err(|e| io_error("remove", &path, &e))?;
                kept.retain(|&s| s != start);
            }
            for &later in &segments[index + 1..] {
                let later = dir.join(segment_name(later));
                fs.remove(&later)
                    .map_err(|e| io_error("remove", &later, &e))?;
            }
            break;
        }
        index += 1;
    }
    Ok(Ok(Replayed {
        end,
        segments: kept,
        records,
    }))
}

/// Cuts the log at `lsn`, a record boundary that [`replay`] reported: the
/// segment holding it is truncated there, and later segments are removed.
pub fn cut(dir: &Path, fs: &dyn FileSystem, segments: &mut Vec<u64>, lsn: u64) -> Result<()> {
    let Some(index) = segments.partition_point(|&s| s <= lsn).checked_sub(1) else {
        return Ok(());
    };
    let start = segments[index];
    truncate(
        fs,
        &dir.join(segment_name(start)),
        frame::FILE_HEADER + (lsn - start) as usize,
    )?;
    for later in segments.drain(index + 1..) {
        let path = dir.join(segment_name(later));
        fs.remove(&path)
            .map_err(|e| io_error("remove", &path, &e))?;
    }
    Ok(())
}

fn truncate(fs: &dyn FileSystem, path: &Path, len: usize) -> Result<()> {
    fs.truncate(path, len as u64)
        .map_err(|e| io_error("truncate", path, &e))
}

#[cfg(test)]
pub(crate) mod tests;
