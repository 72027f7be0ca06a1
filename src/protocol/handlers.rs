//! The pgwire handlers of one connection, and serving a socket with them.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use futures::StreamExt;
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::PgWireError;
use pgwire::messages::PgWireFrontendMessage;
use pgwire::tokio::server;
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts};

use super::auth::Security;
use super::cancel::{self, Backends};
use super::connection::Connection;
use super::frames::{CheckedIo, FrameCheck};
use super::query::PreparedStatement;
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
                pending_login: parking_lot::Mutex::new(None),
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
        served = process_socket(socket, acceptor, handlers) => served,
        () = unauthenticated => {
            tracing::info!("disconnecting a client that did not authenticate in time");
            Ok(())
        }
    }
}

/// pgwire's `process_socket`, with the connection's incoming frames
/// checked by [`CheckedIo`] before pgwire's decoder reads them.
async fn process_socket(
    socket: TcpStream,
    acceptor: Option<pgwire::tokio::TlsAcceptor>,
    handlers: ConnectionHandlers,
) -> std::io::Result<()> {
    // pgwire's limit on finishing startup.
    let startup_timeout = tokio::time::sleep(std::time::Duration::from_secs(60));
    tokio::pin!(startup_timeout);
    let negotiated = tokio::select! {
        () = &mut startup_timeout => return Ok(()),
        negotiated = server::negotiate_tls::<PreparedStatement>(socket, acceptor) => negotiated?,
    };
    let Some(socket) = negotiated else {
        return Ok(());
    };
    let parts = socket.into_parts();
    let mut check = FrameCheck::new();
    check.skip(&parts.read_buf);
    let mut checked = FramedParts::new(CheckedIo::new(parts.io, check), parts.codec);
    checked.read_buf = parts.read_buf;
    checked.write_buf = parts.write_buf;
    let mut socket = Framed::from_parts(checked);

    let startup_handler = handlers.startup_handler();
    let simple_query_handler = handlers.simple_query_handler();
    // Named, not opaque: its statements are the codec's.
    let extended_query_handler = Arc::new(query::QueryHandler::new(handlers.connection.clone()));
    let copy_handler = handlers.copy_handler();
    let cancel_handler = handlers.cancel_handler();
    let error_handler = handlers.error_handler();
    loop {
        let message = if matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        ) {
            tokio::select! {
                () = &mut startup_timeout => None,
                message = socket.next() => message,
            }
        } else {
            socket.next().await
        };
        let Some(Ok(message)) = message else {
            break;
        };
        // Terminate: the client is leaving, and some wait for the close.
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        let is_extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(is_extended_query) => is_extended_query,
            _ => message.is_extended_query(),
        };
        let is_cancel_request = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        if let Err(mut error) = server::process_message(
            message,
            &mut socket,
            startup_handler.clone(),
            simple_query_handler.clone(),
            extended_query_handler.clone(),
            copy_handler.clone(),
            cancel_handler.clone(),
        )
        .await
        {
            error_handler.on_error(&socket, &mut error);
            let is_fatal = error.is_fatal();
            server::process_error(&mut socket, error, is_extended_query).await?;
            if is_fatal {
                break;
            }
        }
        if is_cancel_request {
            break;
        }
    }
    Ok(())
}
