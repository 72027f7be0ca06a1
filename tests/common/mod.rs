//! The test harness shared by the integration tests and the sqllogictest runner:
//! a real EpochDB server in-process on a free loopback port, with its own data
//! directory, and real clients connected to it over TCP.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use epochdb::config::Config;
use epochdb::db::Db;
use epochdb::wal::{FileSystem, OsFileSystem};
use tempfile::TempDir;
use tokio::net::TcpListener;

/// A throwaway PostgreSQL 15, for tests that compare answers with it: the
/// benchmark tool's, ready once it answers a query.
#[path = "../../src/bin/epochdb-bench/postgres.rs"]
pub mod postgres;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A small, fixed-seed generator (xorshift64*), so that a failure repeats.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 for 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// How long any single client operation in a test may take before the test fails
/// instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A running server. Dropping it stops the server.
pub struct TestServer {
    addr: SocketAddr,
    /// The HTTP listener's address, when the configuration turned it on.
    http_addr: Option<SocketAddr>,
    /// The TCP line protocol listener's address, likewise.
    ilp_tcp_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    owned_dir: Option<TempDir>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1 with a fresh data directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server whose configuration `configure` adjusts first.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_fs(configure, Arc::new(OsFileSystem)).await
    }

    /// Starts a server whose WAL and snapshots go through `fs`.
    pub async fn start_with_fs(
        configure: impl FnOnce(&mut Config),
        fs: Arc<dyn FileSystem>,
    ) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut server = Self::start_in_with_fs(data_dir.path(), configure, fs).await;
        server.owned_dir = Some(data_dir);
        server
    }

    /// Starts a server on the data directory `data_dir`, which outlives it:
    /// a later server started there recovers what this one wrote.
    pub async fn start_in(data_dir: &std::path::Path, configure: impl FnOnce(&mut Config)) -> Self {
        Self::start_in_with_fs(data_dir, configure, Arc::new(OsFileSystem)).await
    }

    async fn start_in_with_fs(
        data_dir: &std::path::Path,
        configure: impl FnOnce(&mut Config),
        fs: Arc<dyn FileSystem>,
    ) -> Self {
        let mut config = Config::for_data_dir(data_dir);
        // Failed logins in tests wait only briefly; a test of the delay
        // sets its own.
        config.auth_delay = Duration::from_millis(5);
        config.auth_delay_max = Duration::from_millis(50);
        configure(&mut config);
        let db = Db::open_with(&config, fs).expect("open db");
        let listener = TcpListener::bind(&config.listen).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let (http_addr, http) = side_listener(config.http_address(), |listener, stop| {
            let db = db.clone();
            async move {
                let _ = epochdb::server::run_http(listener, db, stop).await;
            }
        })
        .await;
        let (ilp_tcp_addr, ilp_tcp) = side_listener(config.ilp_tcp_address(), |listener, stop| {
            epochdb::server::run_ilp_tcp(listener, db.clone(), stop)
        })
        .await;
        let task = tokio::spawn(async move {
            epochdb::server::run(listener, db, async move {
                let _ = stopped.await;
            })
            .await;
            if let Some((token, task)) = http {
                token.cancel();
                let _ = task.await;
            }
            if let Some((token, task)) = ilp_tcp {
                token.cancel();
                let _ = task.await;
            }
        });
        Self {
            addr,
            http_addr,
            ilp_tcp_addr,
            stop: Some(stop),
            task: Some(task),
            owned_dir: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The TCP line protocol listener's port; the server must have been
    /// started with `ilp_tcp_listen` set.
    pub fn ilp_tcp_port(&self) -> u16 {
        self.ilp_tcp_addr.expect("the TCP listener is on").port()
    }

    /// The HTTP listener's port; the server must have been started with
    /// `http_listen` set.
    pub fn http_port(&self) -> u16 {
        self.http_addr.expect("the HTTP listener is on").port()
    }

    /// A connection string for `database`.
    pub fn connection_string(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=tester dbname={database} connect_timeout=10",
            self.port()
        )
    }

    /// Connects to the `postgres` database.
    pub async fn connect(&self) -> tokio_postgres::Client {
        self.connect_to("postgres").await.expect("connect")
    }

    /// Connects to `postgres`, with the messages of the notices and
    /// warnings the server sends, in order.
    pub async fn connect_with_notices(
        &self,
    ) -> (
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<String>,
    ) {
        let (client, mut connection) = tokio::time::timeout(
            TIMEOUT,
            tokio_postgres::connect(&self.connection_string("postgres"), tokio_postgres::NoTls),
        )
        .await
        .expect("connect timed out")
        .expect("connect");
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = futures::StreamExt::next(&mut messages).await {
                if let tokio_postgres::AsyncMessage::Notice(notice) = message {
                    let _ = sender.send(notice.message().to_owned());
                }
            }
        });
        (client, receiver)
    }

    /// Connects to `database`, returning the error a client would see.
    pub async fn connect_to(
        &self,
        database: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio::time::timeout(
            TIMEOUT,
            tokio_postgres::connect(&self.connection_string(database), tokio_postgres::NoTls),
        )
        .await
        .expect("connect timed out")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Stops the server and waits until every connection is closed.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(TIMEOUT, task)
                .await
                .expect("server did not stop")
                .expect("server task panicked");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A listener beside the PostgreSQL one (HTTP, TCP line protocol), when
/// `address` turns it on: its address, and how to stop it and wait for it.
async fn side_listener<F, Fut>(
    address: Option<&str>,
    serve: F,
) -> (
    Option<SocketAddr>,
    Option<(tokio_util::sync::CancellationToken, JoinHandle<()>)>,
)
where
    F: FnOnce(TcpListener, tokio_util::sync::WaitForCancellationFutureOwned) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(address) = address else {
        return (None, None);
    };
    let listener = TcpListener::bind(address).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let token = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(serve(listener, token.clone().cancelled_owned()));
    (Some(addr), Some((token, task)))
}

/// Runs a command to completion; panics with its output unless it succeeds.
/// Returns its standard output and error.
pub fn run_checked(command: &mut std::process::Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

/// Runs a client suite script against `server`, with the port as its last
/// argument, and checks that each of its `checks` printed its `ok` line.
pub async fn run_client_suite(
    server: &TestServer,
    mut command: std::process::Command,
    checks: usize,
) {
    command.arg(server.port().to_string());
    let output = tokio::task::spawn_blocking(move || run_checked(&mut command))
        .await
        .expect("suite task");
    let passed = output.lines().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(passed, checks, "{output}");
}

/// Panics unless the PostgreSQL 15 that `epochdb-bench` starts for its
/// comparisons is installed (Debian's `postgresql`, which `.ci/run`
/// installs, or `EPOCHDB_PG_BIN`).
#[allow(dead_code)]
pub fn require_postgres() {
    let bin =
        std::env::var("EPOCHDB_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".to_owned());
    assert!(
        std::path::Path::new(&bin).join("initdb").is_file(),
        "PostgreSQL 15 is not at {bin}: install postgresql or set EPOCHDB_PG_BIN"
    );
}

/// The rows `query` returns over the simple protocol, each as its columns'
/// text joined by `|` (NULL as `NULL`).
pub async fn text_rows(client: &tokio_postgres::Client, query: &str) -> Vec<String> {
    let messages = client.simple_query(query).await.unwrap();
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL"))
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect()
}
