//! The HTTP listener collectors write to: InfluxDB's write endpoints (v1
//! `/write`, v2 `/api/v2/write`, v3 `/api/v3/write_lp`), `/ping`, `/health`,
//! the one `/query` statement Telegraf sends (`CREATE DATABASE`), and
//! NSDb's live subscriptions over WebSocket (`/ws-stream`, in `stream`).
//!
//! axum serves it; tower-http inflates gzip bodies, and the body limit
//! applies to the inflated bytes, so a small body that inflates to a large
//! one is cut off at the limit. Each endpoint answers errors in its own
//! InfluxDB dialect (`dialect`), always as JSON and never with a 5xx for a
//! client's bad data. Credentials are checked against the roles' stored
//! verifiers (`auth`); the lines themselves are written by the query
//! layer's line protocol writer.

mod auth;
mod dialect;
mod handlers;
mod listener;
mod stream;

pub use handlers::HttpOptions;
pub use listener::serve;
