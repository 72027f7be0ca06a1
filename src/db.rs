//! The composition root: builds every layer from the configuration. Nothing but
//! the server and `main` uses it.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{Config, Durability};
use crate::query::{QueryConfig, QueryEngine};
use crate::storage::{self, DurabilityOptions, Storage};
use crate::wal::{FileSystem, OnCorruption, OsFileSystem, SyncMode};

/// Errors while opening the database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot recover the data in {path}: {source}")]
    Recovery {
        path: std::path::PathBuf,
        source: storage::Error,
    },
    #[error("cannot start the snapshot thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot start the query engine: {0}")]
    Query(#[from] crate::query::Error),
}

/// An open database: storage and the engine that queries it.
#[derive(Debug, Clone)]
pub struct Db {
    engine: Arc<QueryEngine>,
    storage: Arc<Storage>,
    snapshots: Arc<Snapshotter>,
}

impl Db {
    /// Opens the database described by `config`: recovers what the data
    /// directory holds (unless durability is `none`) and starts the thread
    /// that takes snapshots.
    pub fn open(config: &Config) -> Result<Self, Error> {
        Self::open_with(config, Arc::new(OsFileSystem))
    }

    /// [`open`](Self::open), with the WAL and snapshots going through `fs`:
    /// how tests inject failed writes and fsyncs.
    pub fn open_with(config: &Config, fs: Arc<dyn FileSystem>) -> Result<Self, Error> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let mode = match config.durability {
            Durability::None => None,
            Durability::Sync => Some(SyncMode::Sync),
            Durability::Interval(every) => Some(SyncMode::Interval(every)),
        };
        let storage = match mode {
            None => {
                tracing::warn!(
                    "--durability none: data lives in memory only and is gone on restart"
                );
                Storage::new()
            }
            Some(mode) => {
                let started = Instant::now();
                let options = DurabilityOptions {
                    dir: config.data_dir.clone(),
                    fs,
                    mode,
                    segment_size: config.wal_segment_size as u64,
                    on_corruption: if config.recover_truncate {
                        OnCorruption::Truncate
                    } else {
                        OnCorruption::Fail
                    },
                };
                let (storage, recovery) =
                    Storage::open(&options).map_err(|source| Error::Recovery {
                        path: config.data_dir.clone(),
                        source,
                    })?;
                tracing::info!(
                    tables = recovery.tables,
                    snapshot_lsn = recovery.snapshot_lsn,
                    wal_records = recovery.wal_records,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "recovery finished"
                );
                storage
            }
        };
        let storage = Arc::new(storage);
        let query = QueryConfig {
            memory_limit: (config.query_memory_limit > 0).then_some(config.query_memory_limit),
            ..QueryConfig::default()
        };
        let engine = Arc::new(QueryEngine::try_new(storage.clone(), &query)?);
        let snapshots = Arc::new(match mode {
            Some(_) => Snapshotter::start(
                storage.clone(),
                config.snapshot_interval,
                config.snapshot_wal_size as u64,
            )?,
            None => Snapshotter::default(),
        });
        Ok(Self {
            engine,
            storage,
            snapshots,
        })
    }

    pub fn engine(&self) -> &Arc<QueryEngine> {
        &self.engine
    }

    /// Stops taking snapshots, writes a last one, and closes the WAL. Call
    /// once the server has stopped taking writes.
    pub fn shutdown(&self) -> Result<(), storage::Error> {
        self.snapshots.stop();
        if let Some(report) = self.storage.snapshot()? {
            tracing::info!(
                lsn = report.lsn,
                bytes = report.bytes,
                rows = report.rows,
                elapsed_ms = report.elapsed.as_millis() as u64,
                "wrote the shutdown snapshot"
            );
        }
        self.storage.close()
    }
}

/// The thread that writes snapshots, by time and by WAL size.
#[derive(Debug, Default)]
struct Snapshotter {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Snapshotter {
    fn start(storage: Arc<Storage>, interval: Duration, wal_size: u64) -> Result<Self, Error> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("epochdb-snapshot".into())
            .spawn(move || {
                let mut last = Instant::now();
                // Check the WAL size often; the interval decides the rest.
                let tick = if interval.is_zero() {
                    Duration::from_secs(1)
                } else {
                    interval.min(Duration::from_secs(1))
                };
                loop {
                    match stopped.recv_timeout(tick) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let due = !interval.is_zero() && last.elapsed() >= interval;
                    let grown = storage.wal_bytes_since_snapshot() >= wal_size;
                    if !(due || grown) || storage.wal_bytes_since_snapshot() == 0 {
                        continue;
                    }
                    last = Instant::now();
                    match storage.snapshot() {
                        Ok(Some(report)) => tracing::info!(
                            lsn = report.lsn,
                            bytes = report.bytes,
                            rows = report.rows,
                            pause_us = report.pause.as_micros() as u64,
                            elapsed_ms = report.elapsed.as_millis() as u64,
                            segments_removed = report.segments_removed,
                            "wrote a snapshot"
                        ),
                        Ok(None) => return,
                        Err(e) => tracing::error!(error = %e, "snapshot failed; the WAL is kept"),
                    }
                }
            })
            .map_err(Error::Thread)?;
        Ok(Self {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn stop(&self) {
        drop(self.stop.lock().take());
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Snapshotter {
    fn drop(&mut self) {
        self.stop();
    }
}
