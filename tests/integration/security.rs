//! Authentication, TLS and privileges, with real clients: tokio-postgres and
//! psql. Passwords are checked with SCRAM-SHA-256 and md5; TLS uses a
//! self-signed certificate made here.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use epochdb::config::Password;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::error::SqlState;

use crate::common::{TIMEOUT, TestServer};

const ADMIN_PASSWORD: &str = "admin secret";

/// A server whose superuser `admin` has a password: every login needs one.
async fn start_secured(configure: impl FnOnce(&mut epochdb::config::Config)) -> TestServer {
    TestServer::start_with(|config| {
        config.superuser = Some("admin".into());
        config.superuser_password = Some(Password(ADMIN_PASSWORD.into()));
        configure(config);
    })
    .await
}

async fn login(
    server: &TestServer,
    user: &str,
    password: &str,
    database: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(server.port())
        .user(user)
        .password(password)
        .dbname(database)
        .connect_timeout(Duration::from_secs(10));
    let (client, connection) = tokio::time::timeout(TIMEOUT, config.connect(tokio_postgres::NoTls))
        .await
        .expect("login timed out")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The superuser's session on `postgres`.
async fn superuser_session(server: &TestServer) -> tokio_postgres::Client {
    login(server, "admin", ADMIN_PASSWORD, "postgres")
        .await
        .expect("the superuser logs in")
}

fn code(error: &tokio_postgres::Error) -> Option<&SqlState> {
    error.code()
}

fn message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), |e| e.message().to_owned())
}

/// psql with a password in PGPASSWORD; returns (success, output). On a
/// blocking thread: the server runs on this test's runtime.
async fn psql(connection: &str, password: &str, sql: &str) -> (bool, String) {
    let mut command = Command::new("psql");
    command
        .arg(connection)
        .args(["-X", "-A", "-t", "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("psql task")
        .expect("run psql");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_fail_alike() {
    let server = start_secured(|_| {}).await;
    let wrong = login(&server, "admin", "not it", "postgres")
        .await
        .unwrap_err();
    assert_eq!(code(&wrong), Some(&SqlState::INVALID_PASSWORD), "{wrong}");
    assert_eq!(
        message(&wrong),
        "password authentication failed for user \"admin\""
    );
    let unknown = login(&server, "nobody", "x", "postgres").await.unwrap_err();
    assert_eq!(
        code(&unknown),
        Some(&SqlState::INVALID_PASSWORD),
        "{unknown}"
    );
    assert_eq!(
        message(&unknown),
        "password authentication failed for user \"nobody\""
    );
    // Without a password at all, the client cannot even try.
    assert!(server.connect_to("postgres").await.is_err());
    let admin = superuser_session(&server).await;
    let row = admin
        .query_one("SELECT current_user, session_user", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "admin");
    assert_eq!(row.get::<_, String>(1), "admin");
}

#[tokio::test]
async fn scram_and_md5_logins_work_with_tokio_postgres_and_psql() {
    let server = start_secured(|_| {}).await;
    let admin = superuser_session(&server).await;
    admin
        .batch_execute(
            "CREATE USER scram_user PASSWORD 'scram pw';
             SET password_encryption = 'md5';
             CREATE USER md5_user WITH PASSWORD 'md5 pw';
             CREATE ROLE no_login PASSWORD 'x';",
        )
        .await
        .unwrap();
    let stored = admin
        .query("SELECT rolname, rolpassword FROM pg_roles ORDER BY 1", &[])
        .await
        .unwrap();
    for row in &stored {
        // Never the password itself, nor the verifier.
        let shown: Option<String> = row.get(1);
        assert_eq!(
            shown.as_deref(),
            Some("********"),
            "{:?}",
            row.get::<_, String>(0)
        );
    }
    for (user, password) in [("scram_user", "scram pw"), ("md5_user", "md5 pw")] {
        let client = login(&server, user, password, "postgres").await.unwrap();
        let row = client.query_one("SELECT current_user", &[]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), user);
        let connection = format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres",
            server.port()
        );
        let (ok, out) = psql(&connection, password, "SELECT current_user").await;
        assert!(ok, "{out}");
        assert_eq!(out.trim(), user);
        let (ok, out) = psql(&connection, "wrong", "SELECT 1").await;
        assert!(
            !ok && out.contains("password authentication failed"),
            "{out}"
        );
    }
    // A role without LOGIN authenticates but may not connect.
    let refused = login(&server, "no_login", "x", "postgres")
        .await
        .unwrap_err();
    assert_eq!(
        code(&refused),
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    );
    // A role changes its own password; the old one stops working.
    let user = login(&server, "scram_user", "scram pw", "postgres")
        .await
        .unwrap();
    user.batch_execute("ALTER USER scram_user PASSWORD 'new pw'")
        .await
        .unwrap();
    assert!(
        login(&server, "scram_user", "scram pw", "postgres")
            .await
            .is_err()
    );
    login(&server, "scram_user", "new pw", "postgres")
        .await
        .unwrap();
}

/// A self-signed certificate for localhost and 127.0.0.1, written to `dir`.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate_under_require_and_verify_full() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let (cert_path, key_path) = (cert.clone(), key.clone());
    let server = start_secured(move |config| {
        config.tls_cert = Some(cert_path);
        config.tls_key = Some(key_path);
    })
    .await;
    let port = server.port();
    let require = format!("host=127.0.0.1 port={port} user=admin dbname=postgres sslmode=require");
    let (ok, out) = psql(&require, ADMIN_PASSWORD, "SELECT current_user").await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "admin");
    let verify = format!(
        "host=localhost port={port} user=admin dbname=postgres sslmode=verify-full \
         sslrootcert={} channel_binding=require",
        cert.display()
    );
    let (ok, out) = psql(&verify, ADMIN_PASSWORD, "SELECT 42").await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "42");
    // verify-full checks the name: the certificate does not name this one.
    let other_name = format!(
        "host=127.0.0.2 port={port} user=admin dbname=postgres sslmode=verify-full sslrootcert={}",
        cert.display()
    );
    let (ok, out) = psql(&other_name, ADMIN_PASSWORD, "SELECT 1").await;
    assert!(!ok, "{out}");
    // Plain connections still work without --tls-required.
    superuser_session(&server).await;
    // SCRAM-SHA-256-PLUS is not offered without TLS, so libpq refuses to
    // log in when told to insist on channel binding.
    let plain_binding = format!(
        "host=127.0.0.1 port={port} user=admin dbname=postgres sslmode=disable channel_binding=require"
    );
    let (ok, out) = psql(&plain_binding, ADMIN_PASSWORD, "SELECT 1").await;
    assert!(!ok, "{out}");
}

#[tokio::test]
async fn direct_ssl_without_an_ssl_request() {
    use pgwire::tokio::tokio_rustls::{TlsConnector, rustls};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let pem = std::fs::read(&cert).unwrap();
    let server = start_secured(move |config| {
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
        config.tls_required = true;
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&pem).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // PostgreSQL 17's sslnegotiation=direct: TLS at once, with this ALPN.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    let tcp = connect_raw(&server).await;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("direct TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"postgresql"[..]));
    tls.write_all(&startup_packet("admin")).await.unwrap();
    let mut reply = [0u8; 64];
    let n = tls.read(&mut reply).await.unwrap();
    // AuthenticationSASL (10), offering SCRAM-SHA-256-PLUS over TLS.
    assert!(n > 9 && reply[0] == b'R', "{:?}", &reply[..n]);
    assert_eq!(
        i32::from_be_bytes([reply[5], reply[6], reply[7], reply[8]]),
        10
    );
    let offered = String::from_utf8_lossy(&reply[9..n]).into_owned();
    assert!(offered.contains("SCRAM-SHA-256-PLUS"), "{offered}");
}

#[tokio::test]
async fn tls_required_refuses_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let server = start_secured(move |config| {
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
        config.tls_required = true;
    })
    .await;
    let refused = login(&server, "admin", ADMIN_PASSWORD, "postgres")
        .await
        .unwrap_err();
    assert_eq!(
        code(&refused),
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "{refused}"
    );
    assert!(message(&refused).contains("SSL"), "{refused}");
    let port = server.port();
    let (ok, out) = psql(
        &format!("host=127.0.0.1 port={port} user=admin dbname=postgres sslmode=disable"),
        ADMIN_PASSWORD,
        "SELECT 1",
    )
    .await;
    assert!(!ok && out.contains("--tls-required"), "{out}");
    let (ok, out) = psql(
        &format!("host=127.0.0.1 port={port} user=admin dbname=postgres sslmode=require"),
        ADMIN_PASSWORD,
        "SELECT 1",
    )
    .await;
    assert!(ok, "{out}");
}

async fn denied(client: &tokio_postgres::Client, sql: &str) -> String {
    let error = client.batch_execute(sql).await.unwrap_err();
    assert_eq!(
        code(&error),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{sql}: {error}"
    );
    message(&error)
}

#[tokio::test]
async fn privileges_are_granted_revoked_and_enforced() {
    let server = start_secured(|_| {}).await;
    let admin = superuser_session(&server).await;
    admin
        .batch_execute(
            "CREATE USER reader PASSWORD 'r';
             CREATE USER writer PASSWORD 'w';
             CREATE TABLE cpu (time TIMESTAMPTZ NOT NULL, host TEXT, usage DOUBLE PRECISION);
             INSERT INTO cpu VALUES ('2024-01-01 00:00:00+00', 'a', 1.5);
             CREATE SCHEMA private;
             CREATE TABLE private.secrets (time TIMESTAMPTZ NOT NULL, v DOUBLE PRECISION);",
        )
        .await
        .unwrap();
    let reader = login(&server, "reader", "r", "postgres").await.unwrap();
    assert_eq!(
        denied(&reader, "SELECT * FROM cpu").await,
        "permission denied for table cpu"
    );
    denied(&reader, "SELECT count(*) FROM (SELECT host FROM cpu) s").await;
    assert_eq!(
        denied(&reader, "CREATE TABLE mine (time TIMESTAMPTZ)").await,
        "permission denied for schema public"
    );
    denied(&reader, "CREATE USER sneaky").await;
    denied(&reader, "GRANT SELECT ON cpu TO reader").await;
    denied(&reader, "ALTER USER reader SUPERUSER").await;
    // Even planning a write it may not make is refused, as on PostgreSQL.
    denied(&reader, "EXPLAIN DELETE FROM cpu").await;
    // The catalogs stay readable.
    reader
        .query("SELECT rolname FROM pg_roles", &[])
        .await
        .unwrap();

    admin
        .batch_execute("GRANT SELECT ON cpu TO reader; GRANT INSERT ON TABLE cpu TO writer")
        .await
        .unwrap();
    let rows = reader.query("SELECT host FROM cpu", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    denied(&reader, "INSERT INTO cpu VALUES (now(), 'r', 1)").await;
    denied(&reader, "COPY cpu FROM STDIN").await;

    let writer = login(&server, "writer", "w", "postgres").await.unwrap();
    writer
        .batch_execute("INSERT INTO cpu VALUES ('2024-01-01 00:00:01+00', 'w', 2)")
        .await
        .unwrap();
    denied(&writer, "SELECT * FROM cpu").await;
    // INSERT ... SELECT needs SELECT on the source as well.
    denied(&writer, "INSERT INTO cpu SELECT * FROM cpu").await;

    // A schema needs USAGE before its tables' own privileges count.
    admin
        .batch_execute("GRANT SELECT ON ALL TABLES IN SCHEMA private TO reader")
        .await
        .unwrap();
    assert_eq!(
        denied(&reader, "SELECT * FROM private.secrets").await,
        "permission denied for schema private"
    );
    admin
        .batch_execute("GRANT USAGE ON SCHEMA private TO reader")
        .await
        .unwrap();
    reader
        .query("SELECT * FROM private.secrets", &[])
        .await
        .unwrap();

    // REVOKE applies to statements prepared before it.
    let prepared = reader.prepare("SELECT host FROM cpu").await.unwrap();
    admin
        .batch_execute("REVOKE SELECT ON cpu FROM reader")
        .await
        .unwrap();
    let error = reader.query(&prepared, &[]).await.unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::INSUFFICIENT_PRIVILEGE));

    // CONNECT: PUBLIC holds it until revoked; then only grantees connect.
    admin
        .batch_execute(
            "CREATE DATABASE metrics;
             REVOKE CONNECT ON DATABASE metrics FROM PUBLIC;
             GRANT CONNECT ON DATABASE metrics TO writer",
        )
        .await
        .unwrap();
    let refused = login(&server, "reader", "r", "metrics").await.unwrap_err();
    assert_eq!(
        code(&refused),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{refused}"
    );
    assert_eq!(
        message(&refused),
        "permission denied for database \"metrics\""
    );
    login(&server, "writer", "w", "metrics").await.unwrap();

    // A role that holds privileges cannot be dropped until they are revoked.
    let error = admin.batch_execute("DROP USER writer").await.unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::DEPENDENT_OBJECTS_STILL_EXIST));
    admin
        .batch_execute(
            "REVOKE INSERT ON cpu FROM writer;
             REVOKE CONNECT ON DATABASE metrics FROM writer;
             DROP USER writer",
        )
        .await
        .unwrap();
    assert!(login(&server, "writer", "w", "postgres").await.is_err());

    // Errors of the statements themselves.
    let error = admin
        .batch_execute("GRANT SELECT ON cpu TO ghost")
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::UNDEFINED_OBJECT));
    let error = admin
        .batch_execute("GRANT USAGE ON cpu TO reader")
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::INVALID_GRANT_OPERATION));
    let error = admin.batch_execute("CREATE USER reader").await.unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::DUPLICATE_OBJECT));
    let error = admin.batch_execute("CREATE USER public").await.unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::RESERVED_NAME));
}

#[tokio::test]
async fn users_and_grants_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let configure = |config: &mut epochdb::config::Config| {
        config.superuser = Some("admin".into());
        config.superuser_password = Some(Password(ADMIN_PASSWORD.into()));
    };
    let server = TestServer::start_in(dir.path(), configure).await;
    let admin = superuser_session(&server).await;
    admin
        .batch_execute(
            "CREATE USER alice PASSWORD 'alice pw';
             SET password_encryption = 'md5';
             CREATE USER bob PASSWORD 'bob pw';
             CREATE TABLE t (time TIMESTAMPTZ NOT NULL, v DOUBLE PRECISION);
             GRANT SELECT ON t TO alice;
             CREATE DATABASE closed;
             REVOKE CONNECT ON DATABASE closed FROM PUBLIC;",
        )
        .await
        .unwrap();
    drop(admin);
    let salts = (
        scram_salt(&server, "alice").await,
        scram_salt(&server, "ghost").await,
    );
    server.stop().await;

    // Recovered from the WAL, twice (the storage unit tests cover snapshots).
    for round in 0..2 {
        let server = TestServer::start_in(dir.path(), configure).await;
        // A role that does not exist keeps its made-up salt, as a real one
        // keeps its own: a restart tells nobody which roles exist.
        let again = (
            scram_salt(&server, "alice").await,
            scram_salt(&server, "ghost").await,
        );
        assert_eq!(again, salts, "round {round}");
        let alice = login(&server, "alice", "alice pw", "postgres")
            .await
            .unwrap();
        alice.query("SELECT * FROM t", &[]).await.unwrap();
        let bob = login(&server, "bob", "bob pw", "postgres").await.unwrap();
        let error = bob.query("SELECT * FROM t", &[]).await.unwrap_err();
        assert_eq!(
            code(&error),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "round {round}"
        );
        let error = login(&server, "alice", "alice pw", "closed")
            .await
            .unwrap_err();
        assert_eq!(
            code(&error),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "round {round}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn failures_are_delayed_but_the_right_password_always_logs_in() {
    let server = start_secured(|config| {
        config.auth_delay = Duration::from_millis(20);
        config.auth_delay_max = Duration::from_millis(160);
    })
    .await;
    // Twenty rapid wrong passwords: each refused with 28P01, never locked
    // out, and answered later as they go on (20, 40, 80, then 160 ms).
    let mut last = Duration::ZERO;
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let error = login(&server, "admin", "guess", "postgres")
            .await
            .unwrap_err();
        last = started.elapsed();
        assert_eq!(code(&error), Some(&SqlState::INVALID_PASSWORD), "{error}");
    }
    assert!(
        last >= Duration::from_millis(160),
        "a repeated failure waits the longest delay: {last:?}"
    );
    // The right password logs in at once, from the same address.
    let client = login(&server, "admin", ADMIN_PASSWORD, "postgres")
        .await
        .expect("the right password logs in");
    client.simple_query("SELECT 1").await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn unauthenticated_connections_per_address_are_capped() {
    let server = start_secured(|config| config.max_unauthenticated_per_address = 2).await;
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let mut socket = TcpStream::connect(("127.0.0.1", server.port()))
            .await
            .unwrap();
        socket.write_all(&startup_packet("admin")).await.unwrap();
        // The password request: the connection is now authenticating.
        let mut first = [0u8; 1];
        tokio::time::timeout(TIMEOUT, socket.read_exact(&mut first))
            .await
            .expect("a password request")
            .unwrap();
        assert_eq!(first[0], b'R');
        waiting.push(socket);
    }
    let error = login(&server, "admin", ADMIN_PASSWORD, "postgres")
        .await
        .unwrap_err();
    assert_eq!(
        code(&error),
        Some(&SqlState::TOO_MANY_CONNECTIONS),
        "{error}"
    );
    // One of them gives up: a slot is free again, and an authenticated
    // connection does not take one.
    drop(waiting.pop());
    let mut clients = Vec::new();
    for _ in 0..3 {
        let client = tokio::time::timeout(TIMEOUT, async {
            loop {
                match login(&server, "admin", ADMIN_PASSWORD, "postgres").await {
                    Ok(client) => break client,
                    // The server may not have seen the close yet.
                    Err(e) if code(&e) == Some(&SqlState::TOO_MANY_CONNECTIONS) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        })
        .await
        .expect("a login once a slot is free");
        clients.push(client);
    }
    server.stop().await;
}

/// Reads until the server hangs up; panics, saying `what`, if it does not
/// within 10 s. Returns what it sent.
async fn read_until_closed(socket: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 256];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("{what}"));
        match read {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

async fn connect_raw(server: &TestServer) -> TcpStream {
    TcpStream::connect(("127.0.0.1", server.port()))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_that_never_authenticates_is_disconnected() {
    let server = start_secured(|config| {
        config.authentication_timeout = Duration::from_millis(500);
    })
    .await;
    // Nothing is sent; the server hangs up on its own.
    let mut socket = connect_raw(&server).await;
    let silent = "the server kept a silent connection open";
    assert!(read_until_closed(&mut socket, silent).await.is_empty());

    // One that starts but never answers the password request, likewise.
    let mut socket = connect_raw(&server).await;
    socket.write_all(&startup_packet("admin")).await.unwrap();
    let unanswered = "the server kept an unauthenticated connection open";
    let received = read_until_closed(&mut socket, unanswered).await;
    assert_eq!(
        received.first(),
        Some(&b'R'),
        "an authentication request came first"
    );
    // The server still serves others.
    superuser_session(&server).await;
}

/// The salt the server's SCRAM-SHA-256 server-first message offers `user`.
async fn scram_salt(server: &TestServer, user: &str) -> String {
    let mut socket = connect_raw(server).await;
    socket.write_all(&startup_packet(user)).await.unwrap();
    let mut buffer = [0u8; 512];
    let n = socket.read(&mut buffer).await.unwrap();
    assert!(n > 0 && buffer[0] == b'R', "{:?}", &buffer[..n]);
    let client_first = b"n,,n=,r=fyko+d2lbbFgONRv9qkxdawL";
    let mut payload = b"SCRAM-SHA-256\0".to_vec();
    payload.extend_from_slice(&(client_first.len() as i32).to_be_bytes());
    payload.extend_from_slice(client_first);
    let mut message = vec![b'p'];
    message.extend_from_slice(&((payload.len() + 4) as i32).to_be_bytes());
    message.extend_from_slice(&payload);
    socket.write_all(&message).await.unwrap();
    let n = socket.read(&mut buffer).await.unwrap();
    // AuthenticationSASLContinue: "r=<nonce>,s=<salt>,i=<iterations>".
    assert!(n > 9 && buffer[0] == b'R', "{:?}", &buffer[..n]);
    let text = String::from_utf8_lossy(&buffer[9..n]).into_owned();
    text.split(',')
        .find_map(|part| part.strip_prefix("s="))
        .unwrap_or_else(|| panic!("no salt in {text}"))
        .to_owned()
}

/// A protocol 3.0 StartupMessage for `user`.
fn startup_packet(user: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608i32.to_be_bytes());
    for (k, v) in [("user", user), ("database", "postgres")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    packet
}

#[tokio::test]
async fn oversized_startup_and_password_messages_are_refused() {
    let server = start_secured(|_| {}).await;
    // A startup packet claiming 1 MB: refused before it is read.
    let mut socket = connect_raw(&server).await;
    let mut packet = (1_000_000i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&196_608i32.to_be_bytes());
    socket.write_all(&packet).await.unwrap();
    let reply = read_until_closed(&mut socket, "the server waited for a 1 MB startup packet").await;
    assert!(!holds_authentication_ok(&reply));

    // A password message of 1 MB after a proper startup: refused too.
    let mut socket = connect_raw(&server).await;
    socket.write_all(&startup_packet("admin")).await.unwrap();
    let mut message = vec![b'p'];
    message.extend_from_slice(&(1_000_000i32).to_be_bytes());
    socket.write_all(&message).await.unwrap();
    let reply = read_until_closed(&mut socket, "the server waited for a 1 MB password").await;
    assert_eq!(
        reply.first(),
        Some(&b'R'),
        "the password request came first"
    );
    assert!(!holds_authentication_ok(&reply));
    superuser_session(&server).await;
}

#[tokio::test]
async fn the_superuser_password_comes_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, "from a file\n").unwrap();
    let server = TestServer::start_with(move |config| {
        config.superuser = Some("root".into());
        config.superuser_password_file = Some(file);
    })
    .await;
    let root = login(&server, "root", "from a file", "postgres")
        .await
        .unwrap();
    let row = root
        .query_one(
            "SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = 'root'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1));
    let connection = format!(
        "host=127.0.0.1 port={} user=root dbname=postgres",
        server.port()
    );
    let (ok, out) = psql(&connection, "from a file", "SHOW password_encryption").await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "scram-sha-256");
}

#[tokio::test]
async fn without_a_superuser_loopback_is_trusted() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE USER limited; CREATE TABLE t (time TIMESTAMPTZ NOT NULL)")
        .await
        .unwrap();
    // A name that is no role is the development superuser; a role is itself.
    let (limited, connection) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=limited dbname=postgres",
            server.port()
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    denied(&limited, "SELECT * FROM t").await;
}

/// Whether a server reply holds AuthenticationOk.
fn holds_authentication_ok(reply: &[u8]) -> bool {
    let mut at = 0;
    while at + 5 <= reply.len() {
        let len = i32::from_be_bytes([reply[at + 1], reply[at + 2], reply[at + 3], reply[at + 4]]);
        if reply[at] == b'R' && len == 8 && reply.get(at + 5..at + 9) == Some(&[0, 0, 0, 0]) {
            return true;
        }
        at += 1 + len.max(4) as usize;
    }
    false
}

#[tokio::test]
async fn garbage_password_messages_never_authenticate() {
    let server = start_secured(|config| config.auth_delay = Duration::ZERO).await;
    // A linear congruential generator: the same inputs every run.
    let mut state = 42u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 24
    };
    for round in 0..48 {
        let len = (next() % 200) as usize;
        let body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let mut message = Vec::new();
        match round % 3 {
            // A SASLInitialResponse naming SCRAM, with random client-first data.
            0 => {
                message.push(b'p');
                let mut payload = b"SCRAM-SHA-256\0".to_vec();
                payload.extend_from_slice(&(body.len() as i32).to_be_bytes());
                payload.extend_from_slice(&body);
                message.extend_from_slice(&((payload.len() + 4) as i32).to_be_bytes());
                message.extend_from_slice(&payload);
            }
            // A password message of random bytes.
            1 => {
                message.push(b'p');
                message.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
                message.extend_from_slice(&body);
            }
            // Bytes with no framing at all.
            _ => message = body,
        }
        let mut socket = connect_raw(&server).await;
        socket.write_all(&startup_packet("admin")).await.unwrap();
        let _ = socket.write_all(&message).await;
        let _ = socket.shutdown().await;
        let reply = read_until_closed(&mut socket, "the server neither answered nor hung up").await;
        assert!(
            !holds_authentication_ok(&reply),
            "round {round}: {message:?}"
        );
    }
    superuser_session(&server).await;
}
