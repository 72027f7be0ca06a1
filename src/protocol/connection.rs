//! The state one connection's handlers share: its engine and security, the
//! session startup chose, the COPY in progress, and how the session's
//! transaction state reaches ReadyForQuery.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::startup::ParameterStatus;

use super::auth::Security;
use super::auth_delay::PendingLogin;
use super::cancel::{Backends, Registration};
use super::copy_in::CopyState;
use super::sqlstate;
use crate::query::QueryEngine;
use crate::session::{Session, TransactionState};

/// State shared by the handlers of one connection.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) engine: Arc<QueryEngine>,
    pub(super) security: Arc<Security>,
    /// Set once startup has chosen the database.
    pub(super) session: OnceLock<Arc<Session>>,
    /// The `COPY ... FROM STDIN` in progress, if any.
    pub(super) copy: parking_lot::Mutex<Option<CopyState>>,
    pub(super) backends: Arc<Backends>,
    /// Keeps the session reachable by cancel requests while the connection lives.
    pub(super) registration: parking_lot::Mutex<Option<Registration>>,
    /// Bumped by `DEALLOCATE ALL` and `DISCARD ALL`: statements parsed
    /// before the current epoch no longer exist.
    pub(super) statement_epoch: AtomicU64,
    /// Counts this connection among its address's unauthenticated ones
    /// until it authenticates (or closes).
    pub(super) pending_login: parking_lot::Mutex<Option<PendingLogin>>,
}

impl Connection {
    pub(super) fn session(&self) -> PgWireResult<Arc<Session>> {
        self.session.get().cloned().ok_or_else(|| {
            sqlstate::user_error(
                sqlstate::PROTOCOL_VIOLATION,
                "query received before startup completed",
            )
        })
    }
}

/// Makes the status ReadyForQuery reports the session's transaction state.
/// The session, not pgwire, tracks it: only the session knows, for example,
/// that `ROLLBACK TO SAVEPOINT` revived a failed block.
pub(super) fn sync_transaction_status<C: ClientInfo>(client: &mut C, session: &Session) {
    client.set_transaction_status(match session.transaction_state() {
        TransactionState::Idle => TransactionStatus::Idle,
        TransactionState::InBlock => TransactionStatus::Transaction,
        TransactionState::Failed => TransactionStatus::Error,
    });
}

/// Sends ParameterStatus for settings the last statement changed, and its
/// warnings as NoticeResponses.
pub(super) async fn report_session<C>(client: &mut C, session: &Session) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for (name, value) in session.take_reported_settings() {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                name.to_owned(),
                value,
            )))
            .await?;
    }
    for notice in session.take_notices() {
        let info = ErrorInfo::new("WARNING".to_owned(), notice.code.to_owned(), notice.message);
        client
            .feed(PgWireBackendMessage::NoticeResponse(info.into()))
            .await?;
    }
    Ok(())
}
