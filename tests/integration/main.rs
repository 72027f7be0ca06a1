//! Integration tests: real clients against a real server over TCP. One binary,
//! so the suite links once.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

mod binary;
mod clients;
mod copy;
mod crash;
mod crash_upsert;
mod decoders;
mod differential;
mod guards;
mod http;
mod jdbc;
mod lp_tcp;
mod node;
mod pg_formats;
mod protocol;
mod pruning;
mod python;
mod retention;
mod security;
mod subscribe;
mod transactions;
mod tsbs;
