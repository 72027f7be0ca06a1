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

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

use crate::password::{SCRAM_ITERATIONS, Secret};
use crate::query::QueryEngine;

/// Failed logins from one address are counted over this window.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long a locked-out address is refused.
const LOCKOUT: Duration = Duration::from_secs(30);
/// Addresses tracked at most; beyond it, stale ones are forgotten first.
const MAX_TRACKED: usize = 65_536;

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
    /// Failed logins within [`FAILURE_WINDOW`] that lock an address out; 0
    /// for never.
    pub login_failures: u32,
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
    throttle: LoginThrottle,
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
            throttle: LoginThrottle::new(options.login_failures),
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

    pub(super) fn throttle(&self) -> &LoginThrottle {
        &self.throttle
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

/// Failed logins per client address: after `limit` within
/// [`FAILURE_WINDOW`], the address is refused for [`LOCKOUT`]. A successful
/// login does not clear the count: one account an attacker holds must not
/// reset the guesses at another's password.
#[derive(Debug)]
pub(super) struct LoginThrottle {
    limit: u32,
    addresses: parking_lot::Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

impl LoginThrottle {
    pub(super) fn new(limit: u32) -> Self {
        Self {
            limit,
            addresses: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while `address` is locked out.
    pub(super) fn check(&self, address: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        match self.addresses.lock().get(&address) {
            Some(Failures {
                locked_until: Some(until),
                ..
            }) if *until > now => Err(*until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed login; returns whether the address is now locked out.
    pub(super) fn failed(&self, address: IpAddr) -> bool {
        if self.limit == 0 {
            return false;
        }
        let now = Instant::now();
        let mut addresses = self.addresses.lock();
        if addresses.len() >= MAX_TRACKED && !addresses.contains_key(&address) {
            addresses.retain(|_, f| {
                now.duration_since(f.since) < FAILURE_WINDOW
                    || f.locked_until.is_some_and(|until| until > now)
            });
            if addresses.len() >= MAX_TRACKED {
                return false;
            }
        }
        let entry = addresses.entry(address).or_insert(Failures {
            count: 0,
            since: now,
            locked_until: None,
        });
        if now.duration_since(entry.since) >= FAILURE_WINDOW {
            *entry = Failures {
                count: 0,
                since: now,
                locked_until: None,
            };
        }
        entry.count += 1;
        if entry.count >= self.limit {
            entry.locked_until = Some(now + LOCKOUT);
            entry.count = 0;
            entry.since = now;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_locked_out_after_repeated_failures() {
        let throttle = LoginThrottle::new(5);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..4 {
            assert!(!throttle.failed(a));
            assert!(throttle.check(a).is_ok());
        }
        assert!(throttle.failed(a));
        let wait = throttle.check(a).unwrap_err();
        assert!(wait <= LOCKOUT && wait > LOCKOUT - Duration::from_secs(5));
        assert!(
            throttle.check(b).is_ok(),
            "other addresses are not affected"
        );
        let never = LoginThrottle::new(0);
        for _ in 0..100 {
            assert!(!never.failed(a));
        }
        assert!(never.check(a).is_ok());
    }
}
