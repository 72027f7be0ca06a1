//! The PostgreSQL wire protocol edge, built on pgwire. The only module that
//! imports pgwire.
//!
//! One `Connection` per socket holds the client's [`Session`]; pgwire asks the
//! [`ConnectionHandlers`] for its handlers once per connection, so every handler
//! here is per connection too. Errors become ErrorResponses in `sqlstate`, and
//! only there.

mod auth;
mod auth_delay;
mod cancel;
mod connection;
mod copy;
mod copy_format;
mod copy_in;
mod encode;
mod frames;
mod handlers;
mod params;
mod query;
mod sqlstate;
mod startup;
mod stream_out;

pub use auth::{Error as SecurityError, Security, SecurityOptions};
pub use cancel::Backends;
pub use handlers::{ConnectionHandlers, serve};
