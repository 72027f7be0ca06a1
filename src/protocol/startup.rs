//! Startup: authenticate the client (see `auth`), choose the database, open
//! the session, report server parameters.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::mechanism::{AuthMechanism, AuthState};
use pgwire::api::auth::{
    ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, METADATA_DATABASE, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::connection::Connection;
use super::sqlstate;
use crate::session::{Principal, Session};
use crate::storage::Role;

/// Startup parameters a client may send that are also session settings.
const STARTUP_SETTINGS: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "datestyle",
    "TimeZone",
    "timezone",
    "extra_float_digits",
    "search_path",
];

pub(super) struct Startup {
    connection: Arc<Connection>,
    pids: RandomPidSecretKeyGenerator,
    /// The password exchange in progress.
    login: parking_lot::Mutex<Option<Box<dyn AuthMechanism>>>,
}

impl Debug for Startup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Startup").finish_non_exhaustive()
    }
}

impl Startup {
    pub(super) fn new(connection: Arc<Connection>) -> Self {
        Self {
            connection,
            pids: RandomPidSecretKeyGenerator::default(),
            login: parking_lot::Mutex::new(None),
        }
    }

    fn open_session<C: ClientInfo>(
        &self,
        client: &C,
        principal: Arc<Principal>,
    ) -> PgWireResult<Arc<Session>> {
        let metadata = client.metadata();
        let database = metadata
            .get(METADATA_DATABASE)
            .cloned()
            .unwrap_or_else(|| principal.name().to_owned());
        let session =
            Session::new(self.connection.engine.clone(), &database, principal).map_err(|e| {
                let info = sqlstate::error_info(&e);
                let mut fatal = ErrorInfo::new("FATAL".to_owned(), info.code, info.message);
                fatal.detail = info.detail;
                PgWireError::UserError(Box::new(fatal))
            })?;
        for (name, value) in metadata {
            if STARTUP_SETTINGS.contains(&name.as_str()) {
                // A bad startup setting is ignored, as PostgreSQL ignores a bad
                // option in the startup packet for a parameter a user may set.
                if let Err(e) = session.set(name, Some(value.clone())) {
                    tracing::debug!(error = %e, "ignoring startup parameter {name}");
                }
            }
        }
        session.keep_settings_as_defaults();
        Ok(Arc::new(session))
    }

    /// The startup message: decide how the client proves who it is.
    async fn start<C>(
        &self,
        client: &mut C,
        startup: &pgwire::messages::startup::Startup,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.connection.session.get().is_some() || self.login.lock().is_some() {
            return Err(sqlstate::user_error(
                sqlstate::PROTOCOL_VIOLATION,
                "duplicate startup message",
            ));
        }
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        let security = &self.connection.security;
        let peer = client.socket_addr().ip();
        if security.tls_required() && !client.is_secure() {
            tracing::info!(%peer, "refused a connection without TLS (--tls-required)");
            return Err(fatal(
                sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                "this server accepts only connections that use SSL (--tls-required)".into(),
            ));
        }
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .ok_or_else(|| {
                fatal(
                    sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                    "no PostgreSQL user name specified in startup packet".into(),
                )
            })?;
        let Some(pending) = security.pending_logins().begin(peer) else {
            tracing::warn!(%peer, %user, "refused a connection: too many from its address are authenticating");
            return Err(fatal(
                sqlstate::TOO_MANY_CONNECTIONS,
                format!("too many connections from {peer} are authenticating at once"),
            ));
        };
        *self.connection.pending_login.lock() = Some(pending);
        if !security.passwords() {
            if !is_loopback(peer) {
                tracing::warn!(
                    %peer, %user,
                    "refused a connection: without --superuser only loopback connections are accepted"
                );
                return Err(fatal(
                    sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                    format!(
                        "connections from {peer} are refused: this server has no superuser \
                         password (--superuser) and accepts only loopback connections"
                    ),
                ));
            }
            let principal = match self.connection.engine.role(&user) {
                Some(role) => {
                    check_can_login(&role)?;
                    Principal::new(&user, false)
                }
                None => Principal::new(&user, true),
            };
            return self.complete(client, Arc::new(principal), None).await;
        }
        let mechanism = security.mechanism(&user, client.is_secure());
        self.step(client, mechanism, None).await
    }

    /// Runs one step of the password exchange: the first (`message` is
    /// `None`) or the answer to a client's message.
    async fn step<C>(
        &self,
        client: &mut C,
        mut mechanism: Box<dyn AuthMechanism>,
        message: Option<PasswordMessageFamily>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = match message {
            None => mechanism.begin(&*client).await,
            Some(message) => mechanism.next(&*client, message).await,
        };
        let peer = client.socket_addr().ip();
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        match state {
            Ok(AuthState::InProgress(request)) => {
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                *self.login.lock() = Some(mechanism);
                client
                    .send(PgWireBackendMessage::Authentication(request))
                    .await?;
                Ok(())
            }
            Ok(AuthState::Ok { final_message, .. }) => {
                // Only a role's own verifier can be matched, so the role exists.
                let role = self.connection.engine.role(&user).ok_or_else(|| {
                    fatal(
                        sqlstate::INVALID_PASSWORD,
                        format!("password authentication failed for user \"{user}\""),
                    )
                })?;
                check_can_login(&role)?;
                self.connection.security.auth_delay().succeeded(peer, &user);
                tracing::debug!(%peer, %user, "password authentication succeeded");
                self.complete(
                    client,
                    Arc::new(Principal::new(&user, false)),
                    final_message,
                )
                .await
            }
            Ok(AuthState::Failed(error)) | Err(error) => {
                let delay = self.connection.security.auth_delay().failed(peer, &user);
                // The reason is pgwire's; it never holds the password.
                tracing::warn!(%peer, %user, reason = %error, delay_ms = delay.as_millis() as u64, "password authentication failed");
                // auth_delay: the answer waits, the connection still counted
                // among its address's unauthenticated ones.
                tokio::time::sleep(delay).await;
                Err(fatal(
                    sqlstate::INVALID_PASSWORD,
                    format!("password authentication failed for user \"{user}\""),
                ))
            }
        }
    }

    /// Authenticated: open the session and tell the client it is ready.
    async fn complete<C>(
        &self,
        client: &mut C,
        principal: Arc<Principal>,
        final_message: Option<Authentication>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.open_session(client, principal)?;
        // Authenticated: no longer among its address's pending logins.
        self.connection.pending_login.lock().take();
        if let Some(message) = final_message {
            client
                .send(PgWireBackendMessage::Authentication(message))
                .await?;
        }
        let (pid, secret_key) = self.pids.generate(client);
        let registration = self
            .connection
            .backends
            .register(pid, &secret_key, session.canceller());
        *self.connection.registration.lock() = Some(registration);
        client.set_pid_and_secret_key(pid, secret_key);
        let parameters = ServerParameters {
            session: session.clone(),
        };
        // Only one startup per connection: a second one finds the session set.
        if self.connection.session.set(session).is_err() {
            return Err(sqlstate::user_error(
                sqlstate::PROTOCOL_VIOLATION,
                "duplicate startup message",
            ));
        }
        finish_authentication(client, &parameters).await
    }
}

/// Loopback, also as an IPv4-mapped IPv6 address (a dual-stack listener).
fn is_loopback(peer: std::net::IpAddr) -> bool {
    match peer {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        v4 => v4.is_loopback(),
    }
}

/// A role without LOGIN cannot connect, however it authenticates.
fn check_can_login(role: &Role) -> PgWireResult<()> {
    if role.login {
        Ok(())
    } else {
        Err(fatal(
            sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
            format!("role \"{}\" is not permitted to log in", role.name),
        ))
    }
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_owned(),
        code.to_owned(),
        message,
    )))
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => self.start(client, startup).await,
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let Some(mechanism) = self.login.lock().take() else {
                    return Err(fatal(
                        sqlstate::PROTOCOL_VIOLATION,
                        "unexpected password message: no authentication is in progress".into(),
                    ));
                };
                self.step(client, mechanism, Some(message)).await
            }
            _ => Err(fatal(
                sqlstate::PROTOCOL_VIOLATION,
                "unexpected message during authentication".into(),
            )),
        }
    }
}

/// The ParameterStatus messages sent after authentication.
struct ServerParameters {
    session: Arc<Session>,
}

impl ServerParameterProvider for ServerParameters {
    fn server_parameters<C: ClientInfo>(&self, _client: &C) -> Option<HashMap<String, String>> {
        let setting = |name: &str| self.session.setting(name).unwrap_or_default();
        let mut parameters = HashMap::new();
        for (key, name) in [
            ("server_version", "server_version"),
            ("server_encoding", "server_encoding"),
            ("client_encoding", "client_encoding"),
            ("DateStyle", "datestyle"),
            ("IntervalStyle", "intervalstyle"),
            ("TimeZone", "timezone"),
            ("integer_datetimes", "integer_datetimes"),
            ("standard_conforming_strings", "standard_conforming_strings"),
            ("application_name", "application_name"),
            ("is_superuser", "is_superuser"),
            ("session_authorization", "session_authorization"),
        ] {
            parameters.insert(key.to_owned(), setting(name));
        }
        parameters.insert("in_hot_standby".to_owned(), "off".to_owned());
        parameters.insert("default_transaction_read_only".to_owned(), "off".to_owned());
        Some(parameters)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_includes_mapped_addresses() {
        for (address, loopback) in [
            ("127.0.0.1", true),
            ("127.8.9.1", true),
            ("::1", true),
            ("::ffff:127.0.0.1", true),
            ("10.1.2.3", false),
            ("::ffff:10.1.2.3", false),
            ("fe80::1", false),
        ] {
            assert_eq!(
                super::is_loopback(address.parse().unwrap()),
                loopback,
                "{address}"
            );
        }
    }
}
