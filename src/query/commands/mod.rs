//! Statements the engine runs itself rather than through DataFusion's
//! planner: DDL, roles and privileges (with the privilege checks every
//! statement passes), COPY, line protocol writes (`ingest`), and the writes a transaction block holds back.

pub(crate) mod access;
mod constraints;
pub(crate) mod copy;
pub(crate) mod create_as;
pub(crate) mod ddl;
mod indexes;
pub(crate) mod ingest;
pub(crate) mod names;
pub(crate) mod retention;
pub(crate) mod sequences;
pub(crate) mod subscribe;
mod subscribe_pipeline;
mod subscribe_rollup;
pub(crate) mod transaction;
pub(crate) mod upsert;
pub(crate) mod views;
