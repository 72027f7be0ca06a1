//! EpochDB: an in-memory time-series database that speaks the PostgreSQL wire
//! protocol.
//!
//! # Layout
//!
//! Data flows one way; each layer only calls the layers below it, and no two
//! files import each other (`tests/layers.rs` checks both).
//!
//! ```text
//! read:  protocol ─▶ session ─▶ query (DataFusion) ─▶ storage ─▶ codec
//! write: protocol ─▶ session ─▶ query (INSERT, COPY) ─▶ storage ─▶ wal, codec
//!        http (line protocol) ─▶ query (ingest) ─▶ storage
//! ```
//!
//! - [`protocol`]: the PostgreSQL wire protocol (pgwire), encoding of results and
//!   the single mapping of errors to SQLSTATEs.
//! - [`http`]: the HTTP listener for collectors (InfluxDB's write endpoints);
//!   [`lp_tcp`]: line protocol over plain TCP.
//! - [`session`]: one client's session: parsing, settings, transaction state.
//! - [`query`]: DataFusion planning and execution, the catalogs, DDL, COPY.
//! - [`storage`]: databases, schemas, tables of series, and their points.
//! - [`wal`]: the write-ahead log as framed bytes; [`codec`]: compression of
//!   column values.
//! - Leaves any layer may use: [`pgtype`] (PostgreSQL values in their text
//!   and binary forms), [`password`] (stored password verifiers) and
//!   [`line_protocol`] (InfluxDB line protocol, parsed).
//! - [`db`] builds the layers from [`config`]; [`server`] accepts connections.
//!
//! See `docs/ARCHITECTURE.md` for the map.

#![forbid(unsafe_code)]

pub mod codec;
pub mod config;
pub mod db;
pub mod http;
pub mod line_protocol;
pub mod lp_tcp;
pub mod password;
pub mod pgtype;
pub mod protocol;
pub mod query;
pub mod server;
pub mod session;
pub mod storage;
pub mod wal;
