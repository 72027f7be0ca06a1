//! Passwords as PostgreSQL stores them (`pg_authid.rolpassword`): a
//! SCRAM-SHA-256 verifier, `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
//! (base64), or an md5 hash, `md5` followed by the hex md5 of password and
//! user name. Neither lets anyone recover the password, and neither is ever
//! built from anything but the password a client chose.
//!
//! Pure functions over `ring`; the protocol layer turns a [`Secret`] into the
//! credential its authentication mechanism checks.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};

/// PostgreSQL's default `scram_iterations`.
pub const SCRAM_ITERATIONS: u32 = 4096;
/// PostgreSQL's salt length for new verifiers.
const SALT_LEN: usize = 16;
/// The longest password accepted (PostgreSQL reads at most 1000 bytes of a
/// password message; a longer one only costs hashing time).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A stored password.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A SCRAM-SHA-256 verifier.
    Scram {
        iterations: u32,
        salt: Vec<u8>,
        stored_key: [u8; 32],
        server_key: [u8; 32],
    },
    /// `md5(password || user)`, bound to the user name it was made for.
    Md5 { hash: [u8; 16] },
}

/// How a new password is stored: PostgreSQL's `password_encryption`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    ScramSha256,
    Md5,
}

/// Errors of this module: a stored or supplied secret that is not one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid password verifier: {reason}")]
    Malformed { reason: &'static str },
    #[error("password is too long (at most {MAX_PASSWORD_LEN} bytes)")]
    TooLong,
    #[error("cannot generate a random salt")]
    Random,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material, not even to a log.
        match self {
            Secret::Scram { iterations, .. } => f
                .debug_struct("Scram")
                .field("iterations", iterations)
                .finish_non_exhaustive(),
            Secret::Md5 { .. } => f.write_str("Md5(..)"),
        }
    }
}

impl Secret {
    /// Stores `password` for `user` the way `encryption` says. A password
    /// that already is a verifier or an md5 hash (what `psql`'s `\password`
    /// sends) is kept as it is, as PostgreSQL does.
    pub fn new(user: &str, password: &str, encryption: Encryption) -> Result<Self, Error> {
        if let Some(secret) = Self::parse(password) {
            return Ok(secret);
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Error::TooLong);
        }
        match encryption {
            Encryption::ScramSha256 => {
                let mut salt = vec![0; SALT_LEN];
                SystemRandom::new()
                    .fill(&mut salt)
                    .map_err(|_| Error::Random)?;
                Ok(Self::scram(password, salt, SCRAM_ITERATIONS))
            }
            Encryption::Md5 => Ok(Self::md5(user, password)),
        }
    }

    /// The SCRAM-SHA-256 verifier of `password` with this salt and count.
    pub fn scram(password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let salted = salted_password(password, &salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key: [u8; 32] = sha256(&client_key);
        let server_key = hmac_sha256(&salted, b"Server Key");
        Secret::Scram {
            iterations,
            salt,
            stored_key,
            server_key,
        }
    }

    /// The md5 form: `md5(password || user)`.
    pub fn md5(user: &str, password: &str) -> Self {
        let digest = md5::compute(format!("{password}{user}"));
        Secret::Md5 { hash: digest.0 }
    }

    /// Reads a stored secret; `None` if `text` is neither form.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(hex_hash) = text.strip_prefix("md5") {
            let mut hash = [0; 16];
            return (hex_hash.len() == 32 && hex::decode_to_slice(hex_hash, &mut hash).is_ok())
                .then_some(Secret::Md5 { hash });
        }
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (parameters, keys) = rest.split_once('$')?;
        let (iterations, salt) = parameters.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok().filter(|&i| i > 0)?;
        let salt = STANDARD.decode(salt).ok().filter(|s| !s.is_empty())?;
        let key = |text: &str| -> Option<[u8; 32]> { STANDARD.decode(text).ok()?.try_into().ok() };
        Some(Secret::Scram {
            iterations,
            salt,
            stored_key: key(stored_key)?,
            server_key: key(server_key)?,
        })
    }

    /// The stored text, as `pg_authid.rolpassword` shows it.
    pub fn to_text(&self) -> String {
        match self {
            Secret::Scram {
                iterations,
                salt,
                stored_key,
                server_key,
            } => format!(
                "SCRAM-SHA-256${iterations}:{}${}:{}",
                STANDARD.encode(salt),
                STANDARD.encode(stored_key),
                STANDARD.encode(server_key)
            ),
            Secret::Md5 { hash } => format!("md5{}", hex::encode(hash)),
        }
    }

    /// What an md5 client must send for this secret and `salt`:
    /// `md5` + hex(md5(hex(md5(password || user)) || salt)).
    pub fn md5_response(&self, salt: &[u8; 4]) -> Option<String> {
        let Secret::Md5 { hash } = self else {
            return None;
        };
        let mut input = hex::encode(hash).into_bytes();
        input.extend_from_slice(salt);
        Some(format!("md5{:x}", md5::compute(input)))
    }

    /// Whether `password` is the one this secret was made from (for `user`).
    pub fn matches(&self, user: &str, password: &str) -> bool {
        match self {
            Secret::Scram {
                iterations,
                salt,
                stored_key,
                ..
            } => {
                let salted = salted_password(password, salt, *iterations);
                let client_key = hmac_sha256(&salted, b"Client Key");
                same_bytes(&sha256(&client_key), stored_key)
            }
            Secret::Md5 { hash } => same_bytes(&md5::compute(format!("{password}{user}")).0, hash),
        }
    }
}

/// `Hi(Normalize(password), salt, i)` of RFC 5802, with SASLprep as
/// PostgreSQL applies it (a password it cannot normalize is used as is).
fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let normalized = stringprep::saslprep(password);
    let bytes = match &normalized {
        Ok(text) => text.as_bytes(),
        Err(_) => password.as_bytes(),
    };
    let mut out = [0; 32];
    let iterations = std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        bytes,
        &mut out,
    );
    out
}

/// Equality that takes as long whichever byte differs.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut out = [0; 32];
    out.copy_from_slice(hmac::sign(&key, message).as_ref());
    out
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn postgres_verifiers_are_read_and_checked() {
        // Made by PostgreSQL 15: SET password_encryption = 'scram-sha-256';
        // CREATE ROLE alice PASSWORD 'secret'; then read from pg_authid.
        let text = "SCRAM-SHA-256$4096:a8wWEBgrGRFpdIBgFXE0Nw==$\
                    +KjyUByw9tatGs7v5vjdU0oplvfLdc8NMHjj/CdzJZA=:\
                    OfHBEDedqSXuGiSEhygETjArKNwtgweGUt+mPZ53H+Q=";
        let secret = Secret::parse(text).expect("a verifier");
        assert_eq!(secret.to_text(), text);
        assert!(secret.matches("alice", "secret"));
        assert!(!secret.matches("alice", "Secret"));
        // SET password_encryption = 'md5'; CREATE ROLE bob PASSWORD 'secret'.
        let md5 = Secret::parse("md521f3163f8f86fa10bdefbfbd502a8f06").expect("an md5 hash");
        assert!(md5.matches("bob", "secret"));
        assert_eq!(md5, Secret::md5("bob", "secret"));
        let made = Secret::md5("alice", "secret");
        assert!(made.matches("alice", "secret"));
        assert!(!made.matches("bob", "secret"));
    }

    #[test]
    fn malformed_secrets_are_not_secrets() {
        for text in [
            "",
            "md5",
            "md5xyz",
            "md5de2d0f8e8d2d5ebb4f0b37d3f0b5e0e",
            "SCRAM-SHA-256$",
            "SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$4096:$AAAA:AAAA",
            "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
            "plain password",
        ] {
            assert!(Secret::parse(text).is_none(), "{text}");
        }
    }

    #[test]
    fn a_verifier_given_as_the_password_is_kept() {
        let first = Secret::new("u", "pw", Encryption::ScramSha256).unwrap();
        let again = Secret::new("u", &first.to_text(), Encryption::Md5).unwrap();
        assert_eq!(first, again);
        assert!(again.matches("u", "pw"));
        assert!(format!("{again:?}").find("stored").is_none());
    }

    #[test]
    fn md5_response_matches_libpq() {
        // libpq: md5(hex(md5("secret" || "alice")) || salt), prefixed by "md5".
        let secret = Secret::md5("alice", "secret");
        let salt = [1, 2, 3, 4];
        let inner = format!("{:x}", md5::compute("secretalice"));
        let mut bytes = inner.into_bytes();
        bytes.extend_from_slice(&salt);
        let expected = format!("md5{:x}", md5::compute(bytes));
        assert_eq!(secret.md5_response(&salt), Some(expected));
    }

    proptest! {
        #[test]
        fn any_text_parses_or_not_without_panicking(text in ".{0,120}") {
            if let Some(secret) = Secret::parse(&text) {
                prop_assert_eq!(Secret::parse(&secret.to_text()), Some(secret));
            }
        }

        #[test]
        fn verifiers_round_trip(password in ".{0,40}", salt in proptest::collection::vec(any::<u8>(), 1..24)) {
            let secret = Secret::scram(&password, salt, 4096);
            prop_assert_eq!(Secret::parse(&secret.to_text()), Some(secret.clone()));
            prop_assert!(secret.matches("u", &password));
        }
    }
}
