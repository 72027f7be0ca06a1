//! Who may connect, and how they prove it: password authentication (SCRAM-
//! SHA-256, with channel binding over TLS, or md5, chosen by how the role's
//! password is stored, as PostgreSQL's `md5` method does), the loopback-only
//! trust of a server without a superuser, TLS, and the throttle on failed
//! logins.
//!
//! pgwire runs the SCRAM and md5 exchanges; the credentials come from the
//! role catalog through [`RoleSecrets`], which hands out only the stored
//! verifier. A role that does not exist, or has no password, gets a made-up
//! verifier, so a client learns from a failure nothing about which roles
//! exist.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pgwire::api::auth::md5pass::Md5PasswordAuth;
use pgwire::api::auth::mechanism::{AuthMechanism, AuthMechanismFactory};
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::auth_delay::{AuthDelay, PendingLogins};
use crate::password::{SCRAM_ITERATIONS, Secret};
use crate::query::QueryEngine;

/// What the security of the server is built from (the configuration).
#[derive(Debug, Clone, Default)]
pub struct SecurityOptions {
    /// A superuser with a password is configured: every connection
    /// authenticates with a password. Otherwise loopback ones are trusted
    /// and all others refused.
    pub passwords: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_required: bool,
    pub authentication_timeout: Duration,
    /// The first delay of a failed login, and the longest; see
    /// [`AuthDelay`].
    pub auth_delay: Duration,
    pub auth_delay_max: Duration,
    /// Connections per address that may be authenticating at once; 0 for
    /// no cap.
    pub max_unauthenticated_per_address: usize,
    /// Where the key of the made-up salts of unknown roles is kept, so that
    /// they stay the same across restarts as real roles' salts do (otherwise
    /// comparing salts before and after a restart tells which roles exist).
    /// `None`: a new key each start.
    pub mock_key_file: Option<PathBuf>,
}

/// Errors setting up TLS.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key: {reason}")]
    NoKey { path: PathBuf, reason: String },
    #[error("the TLS certificate and key do not work together: {0}")]
    Tls(String),
    #[error("cannot keep the authentication key in {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no source of randomness for the authentication key")]
    Random,
}

/// The TLS side: the acceptor, and the SCRAM that binds to its certificate.
struct Tls {
    acceptor: TlsAcceptor,
    scram: ScramAuth,
}

/// How connections are secured and authenticated; one per server.
pub struct Security {
    passwords: bool,
    tls: Option<Tls>,
    tls_required: bool,
    authentication_timeout: Duration,
    scram: ScramAuth,
    md5: Md5PasswordAuth<RoleSecrets>,
    auth_delay: AuthDelay,
    pending_logins: PendingLogins,
    engine: Arc<QueryEngine>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("passwords", &self.passwords)
            .field("tls", &self.tls.is_some())
            .field("tls_required", &self.tls_required)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

impl Security {
    pub fn new(options: &SecurityOptions, engine: Arc<QueryEngine>) -> Result<Self, Error> {
        let seed = match &options.mock_key_file {
            Some(path) => mock_key(path)?,
            None => random::<32>().map_err(|_| Error::Random)?,
        };
        let secrets = Arc::new(RoleSecrets::new(engine.clone(), &seed));
        let mut scram = ScramAuth::new(secrets.clone() as Arc<dyn AuthSource>);
        scram.set_iterations(SCRAM_ITERATIONS as usize);
        let tls = match (&options.tls_cert, &options.tls_key) {
            (Some(cert), Some(key)) => Some(load_tls(cert, key, &scram)?),
            _ => None,
        };
        if options.passwords {
            tracing::info!(
                tls = tls.is_some(),
                "clients authenticate with a password (SCRAM-SHA-256 or md5)"
            );
        } else {
            tracing::warn!(
                "no --superuser: loopback connections are accepted without a password \
                 (trust), and every other connection is refused"
            );
            if engine.roles().iter().any(|role| role.password.is_some()) {
                tracing::warn!(
                    "roles with passwords exist, but without --superuser their passwords \
                     are not asked for: start with --superuser to require them"
                );
            }
        }
        Ok(Self {
            passwords: options.passwords,
            tls,
            tls_required: options.tls_required,
            authentication_timeout: options.authentication_timeout,
            scram,
            md5: Md5PasswordAuth::new(secrets),
            auth_delay: AuthDelay::new(options.auth_delay, options.auth_delay_max),
            pending_logins: PendingLogins::new(options.max_unauthenticated_per_address),
            engine,
        })
    }

    pub(super) fn tls_acceptor(&self) -> Option<TlsAcceptor> {
        self.tls.as_ref().map(|tls| tls.acceptor.clone())
    }

    pub(super) fn tls_required(&self) -> bool {
        self.tls_required
    }

    pub(super) fn passwords(&self) -> bool {
        self.passwords
    }

    pub(super) fn authentication_timeout(&self) -> Duration {
        self.authentication_timeout
    }

    pub(super) fn auth_delay(&self) -> &AuthDelay {
        &self.auth_delay
    }

    pub(super) fn pending_logins(&self) -> &PendingLogins {
        &self.pending_logins
    }

    /// The exchange that proves `user`'s password: md5 for a role whose
    /// password is stored as md5, SCRAM-SHA-256 otherwise (offering
    /// SCRAM-SHA-256-PLUS over TLS).
    pub(super) fn mechanism(&self, user: &str, secure: bool) -> Box<dyn AuthMechanism> {
        let stored = self
            .engine
            .role(user)
            .and_then(|role| role.password)
            .and_then(|text| Secret::parse(&text));
        match (stored, &self.tls) {
            (Some(Secret::Md5 { .. }), _) => self.md5.create(),
            (_, Some(tls)) if secure => tls.scram.create(),
            _ => self.scram.create(),
        }
    }
}

fn load_tls(cert_path: &Path, key_path: &Path, scram: &ScramAuth) -> Result<Tls, Error> {
    let cert_pem = read(cert_path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| Error::NoCertificate {
            path: cert_path.to_owned(),
        })?;
    if certs.is_empty() {
        return Err(Error::NoCertificate {
            path: cert_path.to_owned(),
        });
    }
    let key_pem = read(key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| Error::NoKey {
        path: key_path.to_owned(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    // Direct SSL (PostgreSQL 17's sslnegotiation=direct) needs the ALPN name.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    let mut bound = scram.clone();
    bound
        .configure_certificate(&cert_pem)
        .map_err(|e| Error::Tls(format!("channel binding: {e}")))?;
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        scram: bound,
    })
}

/// The stored credentials of roles, as pgwire's mechanisms ask for them.
struct RoleSecrets {
    engine: Arc<QueryEngine>,
    /// Keys the made-up salts of roles without a verifier, so that one name
    /// always sees the same salt, across restarts too (a real role's salt
    /// does not change either).
    mock_key: ring::hmac::Key,
}

impl fmt::Debug for RoleSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoleSecrets")
    }
}

fn random<const N: usize>() -> PgWireResult<[u8; N]> {
    use ring::rand::SecureRandom;
    let mut bytes = [0; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PgWireError::InvalidScramMessage("no randomness".into()))?;
    Ok(bytes)
}

/// The key in `path`, made (32 random bytes, readable by the owner only)
/// if there is none yet.
fn mock_key(path: &Path) -> Result<[u8; 32], Error> {
    let failed = |source| Error::KeyFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == 32 => {
            let mut key = [0; 32];
            key.copy_from_slice(&bytes);
            return Ok(key);
        }
        Ok(_) => tracing::warn!(file = %path.display(), "replacing a damaged authentication key"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed(e)),
    }
    let key = random::<32>().map_err(|_| Error::Random)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(failed)?;
    std::io::Write::write_all(&mut file, &key).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    Ok(key)
}

impl RoleSecrets {
    fn new(engine: Arc<QueryEngine>, seed: &[u8; 32]) -> Self {
        Self {
            engine,
            mock_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed),
        }
    }

    /// The stored secret of the role logging in, if it has one and may log in.
    fn secret(&self, login: &LoginInfo<'_>) -> Option<Secret> {
        let role = self.engine.role(login.user()?)?;
        role.password.as_deref().and_then(Secret::parse)
    }
}

// The trait's signatures elide `LoginInfo`'s lifetime; spelling it out
// changes how async-trait binds it.
#[allow(elided_lifetimes_in_paths)]
#[async_trait]
impl AuthSource for RoleSecrets {
    /// For md5: a fresh salt and the response that proves the password.
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let salt = random::<4>()?;
        let expected = match self.secret(login).and_then(|s| s.md5_response(&salt)) {
            Some(response) => response,
            // Nothing a client sends matches 32 random bytes.
            None => format!("none {}", hex::encode(random::<32>()?)),
        };
        Ok(Password::new(Some(salt.to_vec()), expected.into_bytes()))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        if let Some(Secret::Scram {
            iterations,
            salt,
            stored_key,
            server_key,
        }) = self.secret(login)
        {
            let secret = ScramSecret::Verifier {
                salt,
                iterations: iterations as usize,
                stored_key: stored_key.to_vec(),
                server_key: server_key.to_vec(),
            };
            return Ok((secret, None));
        }
        // A made-up verifier no proof matches, with a salt stable per name.
        let user = login.user().unwrap_or_default();
        let tag = ring::hmac::sign(&self.mock_key, user.as_bytes());
        let secret = ScramSecret::Verifier {
            salt: tag.as_ref()[..16].to_vec(),
            iterations: SCRAM_ITERATIONS as usize,
            stored_key: random::<32>()?.to_vec(),
            server_key: random::<32>()?.to_vec(),
        };
        Ok((secret, None))
    }
}
