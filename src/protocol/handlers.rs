//! The pgwire handlers of one connection, and serving a socket with them.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use pgwire::api::{ClientInfo, ErrorHandler, PgWireServerHandlers};
use pgwire::error::PgWireError;
use tokio::net::TcpStream;

use super::auth::Security;
use super::cancel::{self, Backends};
use super::connection::Connection;
use super::{copy, query, startup};
use crate::query::QueryEngine;

/// The pgwire handlers of one connection.
#[derive(Debug)]
pub struct ConnectionHandlers {
    connection: Arc<Connection>,
}

impl ConnectionHandlers {
    pub fn new(engine: Arc<QueryEngine>, backends: Arc<Backends>, security: Arc<Security>) -> Self {
        Self {
            connection: Arc::new(Connection {
                engine,
                security,
                session: OnceLock::new(),
                copy: parking_lot::Mutex::new(None),
                backends,
                registration: parking_lot::Mutex::new(None),
                statement_epoch: AtomicU64::new(0),
            }),
        }
    }
}

/// Sees every error a handler returns before it is sent: an error inside a
/// transaction block fails the block, whichever layer raised it.
#[derive(Debug)]
struct FailTransaction {
    connection: Arc<Connection>,
}

impl ErrorHandler for FailTransaction {
    fn on_error<C: ClientInfo>(&self, _client: &C, _error: &mut PgWireError) {
        if let Some(session) = self.connection.session.get() {
            session.statement_failed();
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

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(cancel::CancelRequests {
            backends: self.connection.backends.clone(),
        })
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(FailTransaction {
            connection: self.connection.clone(),
        })
    }
}

/// Serves one client socket until it disconnects. `backends` holds the
/// server's sessions for cancel requests. A client that has not
/// authenticated within the authentication timeout is disconnected.
pub async fn serve(
    socket: TcpStream,
    engine: Arc<QueryEngine>,
    backends: Arc<Backends>,
    security: Arc<Security>,
) -> std::io::Result<()> {
    let timeout = security.authentication_timeout();
    let acceptor = security.tls_acceptor();
    let handlers = ConnectionHandlers::new(engine, backends, security);
    let connection = handlers.connection.clone();
    let unauthenticated = async move {
        tokio::time::sleep(timeout).await;
        if connection.session.get().is_some() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = pgwire::tokio::process_socket(socket, acceptor, handlers) => served,
        () = unauthenticated => {
            tracing::info!("disconnecting a client that did not authenticate in time");
            Ok(())
        }
    }
}
