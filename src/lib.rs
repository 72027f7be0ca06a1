//! EpochDB: an in-memory time-series database that speaks the PostgreSQL wire
//! protocol.
//!
//! # Layout
//!
//! Data flows one way; each layer only calls the layers below it.
//!
//! ```text
//! read:  protocol ─▶ session ─▶ query (DataFusion) ─▶ storage
//! write: protocol ─▶ session ─▶ query (INSERT via TableProvider::insert_into) ─▶ storage
//! ```
//!
//! - [`protocol`]: the PostgreSQL wire protocol (pgwire), encoding of results and
//!   the single mapping of errors to SQLSTATEs.
//! - [`session`]: one client's session: parsing, settings, transaction state.
//! - [`query`]: DataFusion planning and execution, the catalogs, DDL.
//! - [`storage`]: databases, schemas, tables of series, and their points.
//! - [`db`] builds the layers from [`config`]; [`server`] accepts connections.
//!
//! See `docs/ARCHITECTURE.md` for the map.

pub mod codec;
pub mod config;
pub mod db;
pub mod password;
pub mod protocol;
pub mod query;
pub mod server;
pub mod session;
pub mod storage;
pub mod wal;
