//! Startup: choose the database, open the session, report server parameters.
//!
//! There is no authentication yet: any user name is accepted.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::{
    ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, METADATA_DATABASE, METADATA_USER, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::Connection;
use super::sqlstate;
use crate::session::{self, Session};

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

#[derive(Debug)]
pub(super) struct Startup {
    connection: Arc<Connection>,
    pids: RandomPidSecretKeyGenerator,
}

impl Startup {
    pub(super) fn new(connection: Arc<Connection>) -> Self {
        Self {
            connection,
            pids: RandomPidSecretKeyGenerator::default(),
        }
    }

    fn open_session<C: ClientInfo>(&self, client: &C) -> PgWireResult<Arc<Session>> {
        let metadata = client.metadata();
        let user = metadata.get(METADATA_USER).cloned().ok_or_else(|| {
            fatal(
                "28000",
                "no PostgreSQL user name specified in startup packet".into(),
            )
        })?;
        let database = metadata
            .get(METADATA_DATABASE)
            .cloned()
            .unwrap_or_else(|| user.clone());
        let session = Session::new(self.connection.engine.clone(), &database, &user).map_err(
            |e| match &e {
                session::Error::DatabaseNotFound { .. } => {
                    fatal(sqlstate::INVALID_CATALOG_NAME, e.to_string())
                }
                _ => sqlstate::to_pgwire(&e),
            },
        )?;
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
        let PgWireFrontendMessage::Startup(ref startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        let session = self.open_session(client)?;
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
        ] {
            parameters.insert(key.to_owned(), setting(name));
        }
        parameters.insert("is_superuser".to_owned(), "on".to_owned());
        parameters.insert(
            "session_authorization".to_owned(),
            self.session.user().to_owned(),
        );
        parameters.insert("in_hot_standby".to_owned(), "off".to_owned());
        parameters.insert("default_transaction_read_only".to_owned(), "off".to_owned());
        Some(parameters)
    }
}
