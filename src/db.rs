//! The composition root: builds every layer from the configuration. Nothing but
//! the server and `main` uses it.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{Config, Durability};
use crate::http::HttpOptions;
use crate::lp_tcp::TcpOptions;
use crate::password::{Encryption, Secret};
use crate::protocol::{self, Security, SecurityOptions};
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
    #[error("cannot read the superuser password file {path}: {source}")]
    PasswordFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the superuser password file {path} is empty")]
    EmptyPassword { path: std::path::PathBuf },
    #[error(
        "--superuser {name} needs a password: give --superuser-password-file \
         or EPOCHDB_SUPERUSER_PASSWORD"
    )]
    NoSuperuserPassword { name: String },
    #[error("cannot set up the superuser {name}: {source}")]
    Superuser {
        name: String,
        source: storage::Error,
    },
    #[error("invalid superuser password: {0}")]
    Password(#[from] crate::password::Error),
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] protocol::SecurityError),
}

/// An open database: storage and the engine that queries it.
#[derive(Debug, Clone)]
pub struct Db {
    engine: Arc<QueryEngine>,
    security: Arc<Security>,
    http: HttpOptions,
    ilp_tcp: TcpOptions,
    storage: Arc<Storage>,
    snapshots: Arc<Upkeep>,
    /// Drops what tables keep no longer.
    retention: Arc<Upkeep>,
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
        let superuser = bootstrap_superuser(config, &storage)?;
        let passwords = superuser.is_some();
        let query = QueryConfig {
            memory_limit: (config.query_memory_limit > 0).then_some(config.query_memory_limit),
            subscribe_queue_rows: config.subscribe_queue_rows,
            ..QueryConfig::default()
        };
        let engine = Arc::new(QueryEngine::try_new(storage.clone(), &query)?);
        let snapshots = Arc::new(match mode {
            Some(_) => Upkeep::snapshots(
                storage.clone(),
                config.snapshot_interval,
                config.snapshot_wal_size as u64,
            )?,
            None => Upkeep::default(),
        });
        let retention = Arc::new(Upkeep::retention(storage.clone())?);
        let security = Arc::new(Security::new(
            &SecurityOptions {
                passwords,
                tls_cert: config.tls_cert.clone(),
                tls_key: config.tls_key.clone(),
                tls_required: config.tls_required,
                authentication_timeout: config.authentication_timeout,
                auth_delay: config.auth_delay,
                auth_delay_max: config.auth_delay_max,
                max_unauthenticated_per_address: config.max_unauthenticated_per_address,
                mock_key_file: mode.map(|_| config.data_dir.join("auth.key")),
            },
            engine.clone(),
        )?);
        let http = HttpOptions {
            passwords,
            token_role: config.http_token_role.clone().or(superuser),
            max_body_bytes: config.http_max_body_size,
            auth_failure_delay: config.auth_delay,
        };
        let ilp_tcp = TcpOptions {
            database: config.ilp_tcp_database.clone(),
            ..TcpOptions::default()
        };
        Ok(Self {
            engine,
            security,
            http,
            ilp_tcp,
            storage,
            snapshots,
            retention,
        })
    }

    pub fn engine(&self) -> &Arc<QueryEngine> {
        &self.engine
    }

    /// How the HTTP listener serves collectors.
    pub fn http_options(&self) -> &HttpOptions {
        &self.http
    }

    /// How the TCP line protocol listener batches.
    pub fn ilp_tcp_options(&self) -> &TcpOptions {
        &self.ilp_tcp
    }

    /// How clients connect and authenticate.
    pub fn security(&self) -> &Arc<Security> {
        &self.security
    }

    /// Stops taking snapshots, writes a last one, and closes the WAL. Call
    /// once the server has stopped taking writes.
    pub fn shutdown(&self) -> Result<(), storage::Error> {
        self.retention.stop();
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

/// Creates the configured superuser, or gives it the configured password.
/// Returns its name when there is one, and then clients authenticate with
/// passwords.
fn bootstrap_superuser(config: &Config, storage: &Storage) -> Result<Option<String>, Error> {
    let password = match (&config.superuser_password_file, &config.superuser_password) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|source| Error::PasswordFile {
                path: path.clone(),
                source,
            })?;
            let password = text.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err(Error::EmptyPassword { path: path.clone() });
            }
            Some(password.to_owned())
        }
        (None, Some(password)) => Some(password.0.clone()),
        (None, None) => None,
    };
    let name = match (&config.superuser, &password) {
        (Some(name), _) => name.clone(),
        (None, Some(_)) => storage::DEFAULT_DATABASE.to_owned(),
        (None, None) => return Ok(None),
    };
    let failed = |source| Error::Superuser {
        name: name.clone(),
        source,
    };
    let existing = storage.role(&name);
    let secret = match (&password, &existing) {
        (Some(password), Some(role))
            if role
                .password
                .as_deref()
                .and_then(Secret::parse)
                .is_some_and(|s| s.matches(&name, password)) =>
        {
            // The stored verifier already proves this password: keep it.
            None
        }
        (Some(password), _) => {
            Some(Secret::new(&name, password, Encryption::ScramSha256)?.to_text())
        }
        (None, Some(role)) if role.password.is_some() => None,
        (None, _) => return Err(Error::NoSuperuserPassword { name }),
    };
    let change = storage::RoleChange {
        superuser: Some(true),
        login: Some(true),
        password: secret.map(Some),
    };
    let unchanged = existing
        .as_ref()
        .is_some_and(|role| role.superuser && role.login && change.password.is_none());
    if !unchanged {
        // Not awaited: on a crash before the WAL is synced, the next start
        // sets the superuser up again from the same configuration.
        let durable = match existing {
            Some(_) => storage.alter_role(&name, change),
            None => storage.create_role(&name, change),
        }
        .map_err(failed)?;
        let () = durable.without_waiting();
    }
    tracing::info!(superuser = %name, "password authentication is on");
    Ok(Some(name))
}

/// A thread of the database's own upkeep: it runs its work once per tick
/// until the database shuts down.
#[derive(Debug, Default)]
struct Upkeep {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Upkeep {
    /// Starts thread `name`, running `work` every `tick` until stopped or
    /// until `work` says it is done.
    fn start(
        name: &str,
        tick: Duration,
        mut work: impl FnMut() -> bool + Send + 'static,
    ) -> Result<Self, Error> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    if !work() {
                        return;
                    }
                }
            })
            .map_err(Error::Thread)?;
        Ok(Self {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The thread that writes snapshots, by time and by WAL size.
    fn snapshots(storage: Arc<Storage>, interval: Duration, wal_size: u64) -> Result<Self, Error> {
        let mut last = Instant::now();
        // Check the WAL size often; the interval decides the rest.
        let tick = if interval.is_zero() {
            Duration::from_secs(1)
        } else {
            interval.min(Duration::from_secs(1))
        };
        Self::start("epochdb-snapshot", tick, move || {
            let due = !interval.is_zero() && last.elapsed() >= interval;
            let grown = storage.wal_bytes_since_snapshot() >= wal_size;
            if !(due || grown) || storage.wal_bytes_since_snapshot() == 0 {
                return true;
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
                Ok(None) => return false,
                Err(e) => tracing::error!(error = %e, "snapshot failed; the WAL is kept"),
            }
            true
        })
    }

    /// The thread that drops, every second, the shards of each table that
    /// lie wholly before its retention.
    fn retention(storage: Arc<Storage>) -> Result<Self, Error> {
        // The thread's own runtime, to wait until each drop is durable.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(Error::Thread)?;
        Self::start("epochdb-retention", Duration::from_secs(1), move || {
            let expired = match storage.expire() {
                Ok(expired) => expired,
                Err(e) => {
                    tracing::error!(error = %e, "dropping data beyond retention failed");
                    return true;
                }
            };
            for (table, ticket) in expired {
                match runtime.block_on(ticket.durable()) {
                    Ok(0) => {}
                    Ok(rows) => tracing::info!(table, rows, "dropped data beyond retention"),
                    Err(e) => {
                        tracing::error!(table, error = %e, "dropping data beyond retention failed")
                    }
                }
            }
            true
        })
    }

    fn stop(&self) {
        drop(self.stop.lock().take());
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Upkeep {
    fn drop(&mut self) {
        self.stop();
    }
}
