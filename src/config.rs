//! Configuration: typed plain data, read once from the command line and the
//! environment (every flag has an `EPOCHDB_*` variable) in `main`.

use std::path::PathBuf;

use clap::Parser;

/// EpochDB: an in-memory time-series database that speaks the PostgreSQL wire protocol.
#[derive(Debug, Clone, Parser)]
#[command(name = "epochdb", version, about)]
pub struct Config {
    /// Address to listen on for PostgreSQL clients. Port 0 picks a free port.
    #[arg(long, env = "EPOCHDB_LISTEN", default_value = "127.0.0.1:5432")]
    pub listen: String,

    /// Directory for the server's files.
    #[arg(long, env = "EPOCHDB_DATA_DIR", default_value = "./epochdb-data")]
    pub data_dir: PathBuf,

    /// Log level (error, warn, info, debug, trace) or a tracing filter directive.
    #[arg(long, env = "EPOCHDB_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl Config {
    /// A configuration for tests and embedding: loopback, a free port, the given
    /// data directory.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            data_dir: data_dir.into(),
            log_level: "warn".to_owned(),
        }
    }
}
