//! Who an HTTP request acts as. With passwords on, a request carries a role
//! and its password in any of the ways InfluxDB clients send them:
//! `Authorization: Basic`, the `u` and `p` parameters, `Authorization: Token
//! user:password`, or `Authorization: Token <password>` (or `Bearer`) for
//! the configured token role. They are checked against the role's stored
//! verifier. Without passwords, only loopback clients are served, trusted
//! as the role they name (or as a superuser), as on the PostgreSQL port.
//!
//! A SCRAM check costs thousands of hash rounds, too many for every write
//! of a busy collector: a password that passed is remembered as a keyed
//! digest (never in plain text) together with the verifier it matched, and
//! forgotten when the role's verifier changes. Checks that do run take one
//! of two permits, so guesses cannot keep every core hashing, and a role
//! that does not exist costs the same check as one that does.
//!
//! Without passwords, a request a web page made (it carries `Origin`, or
//! `Sec-Fetch-Site` other than `none`) is refused: otherwise any page the
//! local user opens could write through the trusted loopback.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use parking_lot::Mutex;
use ring::hmac;

use crate::password::{MAX_PASSWORD_LEN, Secret};
use crate::query::{Principal, QueryEngine};

/// Remembered passwords at most; past it the memory starts over.
const CACHE_ENTRIES: usize = 1024;

/// Why a request is not served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum AuthError {
    #[error("authorization failed")]
    Failed,
    #[error(
        "EpochDB serves clients from other hosts only with password authentication on \
         (start it with --superuser)"
    )]
    NotLoopback,
    #[error(
        "EpochDB refuses requests from web pages without password authentication \
         (start it with --superuser)"
    )]
    FromWebPage,
    #[error("role \"{0}\" is not permitted to log in")]
    CannotLogin(String),
}

/// Checks credentials, for every request.
pub(super) struct Authenticator {
    engine: Arc<QueryEngine>,
    passwords: bool,
    token_role: Option<String>,
    failure_delay: Duration,
    key: hmac::Key,
    verified: Mutex<HashMap<String, Verified>>,
    /// What an unknown role's password is checked against.
    decoy: Secret,
    /// Password checks that may run at once.
    checks: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("passwords", &self.passwords)
            .field("token_role", &self.token_role)
            .finish_non_exhaustive()
    }
}

/// A password that matched `verifier`, as a keyed digest.
struct Verified {
    verifier: String,
    digest: hmac::Tag,
}

/// What a request says about who it is.
#[derive(Debug, Default, PartialEq, Eq)]
struct Credentials {
    user: Option<String>,
    password: Option<String>,
}

impl Authenticator {
    pub(super) fn new(
        engine: Arc<QueryEngine>,
        passwords: bool,
        token_role: Option<String>,
        failure_delay: Duration,
    ) -> std::io::Result<Self> {
        // A key only this process knows.
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| std::io::Error::other("cannot draw a random key"))?;
        let mut salt = [0u8; 16];
        ring::rand::SecureRandom::fill(&rng, &mut salt)
            .map_err(|_| std::io::Error::other("cannot draw a random salt"))?;
        let decoy = Secret::scram("", salt.to_vec(), crate::password::SCRAM_ITERATIONS);
        Ok(Self {
            engine,
            passwords,
            token_role,
            failure_delay,
            key,
            verified: Mutex::new(HashMap::new()),
            decoy,
            checks: tokio::sync::Semaphore::new(2),
        })
    }

    /// The principal of a request, or why it is refused (after the
    /// configured delay, for a wrong password).
    pub(super) async fn authenticate(
        &self,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
        peer: SocketAddr,
    ) -> Result<Principal, AuthError> {
        let credentials = credentials(headers, params, self.token_role.as_deref());
        if !self.passwords {
            if !peer.ip().to_canonical().is_loopback() {
                return Err(AuthError::NotLoopback);
            }
            if from_web_page(headers) {
                return Err(AuthError::FromWebPage);
            }
            return match credentials.user {
                Some(user) => match self.engine.role(&user) {
                    Some(role) if !role.login => Err(AuthError::CannotLogin(user)),
                    Some(_) => Ok(Principal::new(&user, false)),
                    None => Ok(Principal::new(&user, true)),
                },
                None => Ok(Principal::new(crate::storage::DEFAULT_DATABASE, true)),
            };
        }
        let (Some(user), Some(password)) = (credentials.user, credentials.password) else {
            return Err(self.fail().await);
        };
        if self.check_password(&user, &password).await {
            Ok(Principal::new(&user, false))
        } else {
            Err(self.fail().await)
        }
    }

    async fn fail(&self) -> AuthError {
        tokio::time::sleep(self.failure_delay).await;
        AuthError::Failed
    }

    async fn check_password(&self, user: &str, password: &str) -> bool {
        if password.len() > MAX_PASSWORD_LEN {
            return false;
        }
        let role = self.engine.role(user).filter(|role| role.login);
        let Some(verifier) = role.and_then(|role| role.password) else {
            // As costly as a real check: failing fast would tell which roles exist.
            let decoy = self.decoy.clone();
            let password = password.to_owned();
            let _permit = self.checks.acquire().await;
            let _ = tokio::task::spawn_blocking(move || decoy.matches("", &password)).await;
            return false;
        };
        let digest = hmac::sign(&self.key, password.as_bytes());
        if let Some(known) = self.verified.lock().get(user)
            && known.verifier == verifier
            && same(known.digest.as_ref(), digest.as_ref())
        {
            return true;
        }
        let Some(secret) = Secret::parse(&verifier) else {
            return false;
        };
        let (user_owned, password_owned) = (user.to_owned(), password.to_owned());
        let _permit = self.checks.acquire().await;
        let matched =
            tokio::task::spawn_blocking(move || secret.matches(&user_owned, &password_owned))
                .await
                .unwrap_or(false);
        if matched {
            let mut verified = self.verified.lock();
            if verified.len() >= CACHE_ENTRIES {
                verified.clear();
            }
            verified.insert(user.to_owned(), Verified { verifier, digest });
        }
        matched
    }
}

/// Whether a browser sent the request on a page's behalf: browsers send
/// `Origin` with every cross-origin request and every POST, and
/// `Sec-Fetch-Site` with every request (`none` when the user typed it).
fn from_web_page(headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    headers.contains_key(axum::http::header::ORIGIN) || site.is_some_and(|s| s != "none")
}

/// Compares two digests in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credentials of a request: the `Authorization` header first, then
/// the `u` and `p` parameters.
fn credentials(
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    token_role: Option<&str>,
) -> Credentials {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            if let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                return Credentials {
                    user: Some(user.to_owned()),
                    password: Some(password.to_owned()),
                };
            }
            return Credentials::default();
        }
        if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
            return match rest.split_once(':') {
                Some((user, password)) => Credentials {
                    user: Some(user.to_owned()),
                    password: Some(password.to_owned()),
                },
                None => Credentials {
                    user: token_role.map(str::to_owned),
                    password: Some(rest.to_owned()),
                },
            };
        }
        return Credentials::default();
    }
    Credentials {
        user: params.get("u").cloned(),
        password: params.get("p").cloned(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_header(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("")),
        );
        headers
    }

    fn both(user: &str, password: &str) -> Credentials {
        Credentials {
            user: Some(user.into()),
            password: Some(password.into()),
        }
    }

    #[test]
    fn reads_every_way_clients_send_credentials() {
        let none = HashMap::new();
        // "alice:s3:cret" in base64: the password may hold a colon.
        let basic = with_header("Basic YWxpY2U6czM6Y3JldA==");
        assert_eq!(credentials(&basic, &none, None), both("alice", "s3:cret"));
        let token = with_header("Token alice:pw");
        assert_eq!(credentials(&token, &none, None), both("alice", "pw"));
        let bare = with_header("Token secret");
        assert_eq!(
            credentials(&bare, &none, Some("postgres")),
            both("postgres", "secret")
        );
        let bearer = with_header("Bearer secret");
        assert_eq!(
            credentials(&bearer, &none, Some("postgres")),
            both("postgres", "secret")
        );
        let params: HashMap<String, String> = [
            ("u".to_owned(), "bob".to_owned()),
            ("p".to_owned(), "pw".to_owned()),
        ]
        .into();
        assert_eq!(
            credentials(&HeaderMap::new(), &params, None),
            both("bob", "pw")
        );
        assert_eq!(
            credentials(&with_header("Basic !!!"), &params, None),
            Credentials::default()
        );
    }
}
