//! A throwaway PostgreSQL 15 cluster for comparison: initialised in a temp
//! directory, listening on a free loopback port, removed when dropped. As
//! root, it runs as the `postgres` user, since PostgreSQL refuses root.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running PostgreSQL.
#[derive(Debug)]
pub(crate) struct TempPostgres {
    pub(crate) port: u16,
    bin: PathBuf,
    dir: PathBuf,
    server: Child,
}

/// Where PostgreSQL 15's server programs are.
fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("EPOCHDB_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let debian = Path::new("/usr/lib/postgresql/15/bin");
    if debian.join("initdb").exists() {
        return Ok(debian.to_owned());
    }
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|e| {
            format!("PostgreSQL 15 not found (no /usr/lib/postgresql/15/bin, pg_config: {e})")
        })?;
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// `program` with `args`, as the `postgres` user when we are root.
fn command(program: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program).args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl TempPostgres {
    /// Initialises and starts a cluster tuned for a benchmark on a machine
    /// with `memory_mb` of memory: data in memory, no fsync.
    pub(crate) async fn start(memory_mb: u64) -> Result<Self, String> {
        let bin = bin_dir()?;
        let dir = std::env::temp_dir().join(format!("epochdb-bench-pg-{}", std::process::id()));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err("chown of the PostgreSQL directory failed".to_owned());
            }
        }
        let data_str = data.to_string_lossy().into_owned();
        let output = command(
            &bin.join("initdb"),
            &[
                "-D",
                &data_str,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
        )
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let port = free_port()?;
        let shared_buffers = format!("shared_buffers={}MB", (memory_mb / 4).max(128));
        let port_arg = format!("port={port}");
        let socket = format!("unix_socket_directories={}", dir.to_string_lossy());
        let mut args = vec!["-D", &data_str];
        let settings = [
            "listen_addresses=127.0.0.1",
            port_arg.as_str(),
            socket.as_str(),
            shared_buffers.as_str(),
            "work_mem=64MB",
            "maintenance_work_mem=1GB",
            "max_wal_size=8GB",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "timezone=UTC",
        ];
        for setting in &settings {
            args.push("-c");
            args.push(setting);
        }
        let server = command(&bin.join("postgres"), &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("postgres: {e}"))?;
        let mut pg = Self {
            port,
            bin,
            dir,
            server,
        };
        // PostgreSQL accepts connections before it accepts queries (57P03,
        // "the database system is starting up"): it is ready once a query
        // answers.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let last = match pg.query_answers().await {
                Ok(()) => return Ok(pg),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(format!("PostgreSQL did not answer in 30 s: {last}"));
            }
            if let Ok(Some(status)) = pg.server.try_wait() {
                return Err(format!("PostgreSQL exited: {status}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether `SELECT 1` answers now.
    async fn query_answers(&self) -> Result<(), String> {
        let config = format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        );
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        let connection = tokio::spawn(connection);
        let answered = client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        drop(client);
        let _ = connection.await;
        answered
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let _ = command(
            &self.bin.join("pg_ctl"),
            &["stop", "-D", &data, "-m", "fast", "-w"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
        // pg_ctl waited for the server to stop; if it could not stop it,
        // kill it.
        if let Ok(None) = self.server.try_wait() {
            let _ = self.server.kill();
        }
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
