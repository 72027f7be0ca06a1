//! The PostgreSQL wire protocol edge, built on pgwire. The only module that
//! imports pgwire.
//!
//! One [`Connection`] per socket holds the client's [`Session`]; pgwire asks the
//! [`ConnectionHandlers`] for its handlers once per connection, so every handler
//! here is per connection too. Errors become ErrorResponses in `sqlstate`, and
//! only there.

mod copy;
mod copy_format;
mod encode;
mod params;
mod query;
mod sqlstate;
mod startup;

use std::sync::{Arc, OnceLock};

use pgwire::api::PgWireServerHandlers;
use pgwire::error::PgWireResult;
use tokio::net::TcpStream;

use crate::query::QueryEngine;
use crate::session::Session;

/// State shared by the handlers of one connection.
#[derive(Debug)]
struct Connection {
    engine: Arc<QueryEngine>,
    /// Set once startup has chosen the database.
    session: OnceLock<Arc<Session>>,
    /// The `COPY ... FROM STDIN` in progress, if any.
    copy: parking_lot::Mutex<Option<copy::CopyState>>,
}

impl Connection {
    fn session(&self) -> PgWireResult<Arc<Session>> {
        self.session.get().cloned().ok_or_else(|| {
            sqlstate::user_error(
                sqlstate::PROTOCOL_VIOLATION,
                "query received before startup completed",
            )
        })
    }
}

/// The pgwire handlers of one connection.
#[derive(Debug)]
pub struct ConnectionHandlers {
    connection: Arc<Connection>,
}

impl ConnectionHandlers {
    pub fn new(engine: Arc<QueryEngine>) -> Self {
        Self {
            connection: Arc::new(Connection {
                engine,
                session: OnceLock::new(),
                copy: parking_lot::Mutex::new(None),
            }),
        }
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::new(query::QueryHandler::new(self.connection.clone()))
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::new(query::QueryHandler::new(self.connection.clone()))
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::new(startup::Startup::new(self.connection.clone()))
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        Arc::new(copy::CopyInHandler::new(self.connection.clone()))
    }
}

/// Serves one client socket until it disconnects.
pub async fn serve(socket: TcpStream, engine: Arc<QueryEngine>) -> std::io::Result<()> {
    pgwire::tokio::process_socket(socket, None, ConnectionHandlers::new(engine)).await
}
