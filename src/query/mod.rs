//! SQL planning and execution with Apache DataFusion.
//!
//! The [`QueryEngine`] owns one base DataFusion `SessionState` (catalogs, UDFs,
//! the pg_catalog type planner) built once at start-up. Each client session gets
//! its own `SessionContext` derived from it, so session settings never leak
//! between connections, while all of them see the same storage.
//!
//! Statements arrive parsed (sqlparser AST). Queries and `INSERT` are planned by
//! DataFusion; DDL is executed here against storage, because a time-series
//! table is not something DataFusion can create.

mod commands;
mod datasource;
mod engine;
mod error;
mod heavy;
mod output;
mod pg;
mod planner;
mod prepared;
mod timeseries;

pub use commands::access::{Dcl, Principal};
pub use commands::copy::{CopyFormat, CopyFrom, CopyIn, CopyOptions, RawField};
pub use commands::create_as::no_data_marker;
pub use commands::ddl::Ddl;
pub use commands::ingest::{LineWrite, LineWriteOutcome, Precision, RejectedLine, now_micros};
pub use commands::subscribe::{SubscribeOptions, marker as subscribe_marker};
pub use commands::transaction::{PendingWrites, WriteMark};
pub use engine::{DEFAULT_SUBSCRIBE_QUEUE_ROWS, QueryConfig, QueryEngine};
pub use error::{Error, Result};
pub use output::Output;
pub use pg::dialect::PostgresDialect;
pub use pg::functions::{POSTGRES_VERSION, POSTGRES_VERSION_NUM, version_string};
pub use pg::insert_columns::overriding_marker;
pub(crate) use pg::placeholders::{declare_sql_types, sql_type};
pub(crate) use pg::quoting::quote_ident;
pub use prepared::{PlannedQuery, Prepared};
