//! Guards: statement_timeout, the per-query memory cap, and a failed fsync of
//! the WAL. Each ends the statement with an error and leaves the server and
//! the session usable.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use epochdb::wal::{FileSystem, OsFileSystem, WalFile};
use tokio_postgres::error::SqlState;

use crate::common::TestServer;

#[tokio::test]
async fn statement_timeout_cancels_a_long_query() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("SET statement_timeout = '200ms'")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = client
        .query(
            "SELECT count(*) FROM generate_series(1, 100000000000) AS t(x) WHERE x % 7 = 3",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    let row = client
        .query_one("SELECT count(*) FROM generate_series(1, 1000)", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1000);
    server.stop().await;
}

#[tokio::test]
async fn a_query_over_the_memory_cap_fails_with_53200() {
    let server = TestServer::start_with(|c| c.query_memory_limit = 4 << 20).await;
    let client = server.connect().await;
    let error = client
        .query(
            "SELECT x % 1000000, count(*), max(x::text) FROM generate_series(1, 3000000) AS t(x) GROUP BY 1 ORDER BY 3 DESC",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::OUT_OF_MEMORY), "{error}");
    // The server and the session are still fine.
    let row = client.query_one("SELECT 1::bigint", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    server.stop().await;
}

/// The operating system's file system, with fsyncs that fail on demand.
#[derive(Debug, Default)]
struct FailingFsync {
    fail: Arc<AtomicBool>,
}

#[derive(Debug)]
struct FailingFile {
    inner: Box<dyn WalFile>,
    fail: Arc<AtomicBool>,
}

impl WalFile for FailingFile {
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(data)
    }

    fn sync(&mut self) -> std::io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected fsync failure"));
        }
        self.inner.sync()
    }
}

impl FileSystem for FailingFsync {
    fn create(&self, path: &Path) -> std::io::Result<Box<dyn WalFile>> {
        Ok(Box::new(FailingFile {
            inner: OsFileSystem.create(path)?,
            fail: self.fail.clone(),
        }))
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        OsFileSystem.read(path)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        OsFileSystem.list(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        OsFileSystem.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        OsFileSystem.remove(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> std::io::Result<()> {
        OsFileSystem.truncate(path, len)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        OsFileSystem.sync_dir(dir)
    }
}

#[tokio::test]
async fn a_failed_fsync_stops_writes_with_58030_and_reads_go_on() {
    let fs = FailingFsync::default();
    let fail = fs.fail.clone();
    let server = TestServer::start_with_fs(|_| {}, Arc::new(fs)).await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (time TIMESTAMPTZ NOT NULL, v DOUBLE PRECISION); \
             INSERT INTO t VALUES ('2024-01-01 00:00:00+00', 1)",
        )
        .await
        .unwrap();
    fail.store(true, Ordering::SeqCst);
    let insert = "INSERT INTO t VALUES ('2024-01-01 00:00:01+00', 2)";
    let error = client.batch_execute(insert).await.unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("58030"), "{error:?}");
    // No retry that pretends: even once fsync works again, writes stay refused.
    fail.store(false, Ordering::SeqCst);
    let error = client.batch_execute(insert).await.unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("58030"), "{error:?}");
    let message = error
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("accepts no more writes"), "{message}");
    // Reads go on, on the same connection.
    let row = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap();
    assert!(row.get::<_, i64>(0) >= 1);
}
