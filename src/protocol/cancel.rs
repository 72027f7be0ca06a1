//! Cancel requests. A client cancels a running statement by opening a new
//! connection that sends only a CancelRequest with the backend key (process
//! id and secret) its session was given at startup.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;

use crate::session::Canceller;

/// The sessions of a server by backend key, shared by all its connections.
#[derive(Debug, Default)]
pub struct Backends {
    sessions: Mutex<HashMap<(i32, Bytes), Canceller>>,
}

impl Backends {
    /// Registers a session under its backend key until the returned guard drops.
    pub(super) fn register(
        self: &Arc<Self>,
        pid: i32,
        secret: &SecretKey,
        canceller: Canceller,
    ) -> Registration {
        let key = (pid, secret.to_bytes());
        self.sessions.lock().insert(key.clone(), canceller);
        Registration {
            backends: self.clone(),
            key,
        }
    }

    /// Cancels the statement of the session with this key; a wrong key
    /// does nothing, as in PostgreSQL, and nothing is sent back.
    fn cancel(&self, pid: i32, secret: &SecretKey) -> bool {
        let canceller = self.sessions.lock().get(&(pid, secret.to_bytes())).cloned();
        match canceller {
            Some(canceller) => {
                canceller.cancel();
                true
            }
            None => false,
        }
    }
}

/// Keeps a session registered; unregisters it when the connection ends.
#[derive(Debug)]
pub(super) struct Registration {
    backends: Arc<Backends>,
    key: (i32, Bytes),
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.backends.sessions.lock().remove(&self.key);
    }
}

/// Answers CancelRequest messages.
#[derive(Debug)]
pub(super) struct CancelRequests {
    pub(super) backends: Arc<Backends>,
}

#[async_trait]
impl CancelHandler for CancelRequests {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let found = self.backends.cancel(request.pid, &request.secret_key);
        tracing::debug!(pid = request.pid, found, "cancel request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_lives_as_long_as_its_guard() {
        let backends = Arc::new(Backends::default());
        let secret = SecretKey::I32(7);
        let guard = backends.register(1, &secret, Canceller::default());
        assert!(backends.cancel(1, &secret));
        assert!(!backends.cancel(1, &SecretKey::I32(8)), "wrong secret");
        assert!(!backends.cancel(2, &secret), "wrong process id");
        drop(guard);
        assert!(!backends.cancel(1, &secret));
    }
}
