//! The composition root: builds every layer from the configuration. Nothing but
//! the server and `main` uses it.

use std::sync::Arc;

use crate::config::Config;
use crate::query::{QueryConfig, QueryEngine};
use crate::storage::Storage;

/// Errors while opening the database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the query engine: {0}")]
    Query(#[from] crate::query::Error),
}

/// An open database: storage and the engine that queries it.
#[derive(Debug, Clone)]
pub struct Db {
    engine: Arc<QueryEngine>,
}

impl Db {
    /// Opens the database described by `config`. Storage starts empty: data is
    /// not persisted yet (the durability issue adds the WAL and snapshots), but
    /// the data directory is created so that it is ready for them.
    pub fn open(config: &Config) -> Result<Self, Error> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let storage = Arc::new(Storage::new());
        let query = QueryConfig {
            memory_limit: (config.query_memory_limit > 0).then_some(config.query_memory_limit),
            ..QueryConfig::default()
        };
        let engine = Arc::new(QueryEngine::try_new(storage, &query)?);
        Ok(Self { engine })
    }

    pub fn engine(&self) -> &Arc<QueryEngine> {
        &self.engine
    }
}
