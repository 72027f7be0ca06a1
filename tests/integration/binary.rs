//! The real `epochdb` binary: command line, port 0, psql, and clean shutdown on
//! SIGTERM and SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A server process and the port it logged.
struct Process {
    child: Child,
    port: u16,
    _data_dir: tempfile::TempDir,
}

impl Process {
    fn start() -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_epochdb"))
            .args(["--listen", "127.0.0.1:0", "--log-level", "info"])
            .env("EPOCHDB_DATA_DIR", data_dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start epochdb");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("address=127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port.parse::<u16>().unwrap());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server logged its address");
        assert!(data_dir.path().join("data").is_dir(), "data dir created");
        Self {
            child,
            port,
            _data_dir: data_dir,
        }
    }

    fn psql(&self, sql: &str) -> std::process::Output {
        Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "anyuser",
                "-X",
                "-A",
                "-t",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql, "postgres"])
            .output()
            .expect("psql is installed (.ci/run installs it)")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(mut self) -> std::process::ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("server did not exit within 30 s");
    }
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn psql_session_and_sigterm_exits_zero() {
    let server = Process::start();
    stdout(&server.psql(
        "CREATE TABLE cpu (time TIMESTAMPTZ NOT NULL, hostname TEXT, region TEXT, usage_user DOUBLE PRECISION, usage_idle BIGINT, ok BOOLEAN)",
    ));
    stdout(&server.psql(
        "INSERT INTO cpu VALUES ('2024-01-01 00:00:00+00', 'h1', 'eu', 1.5, 10, true), ('2024-01-01 00:00:10+00', 'h1', 'eu', 2.5, 20, false)",
    ));
    assert_eq!(
        stdout(
            &server.psql("SELECT hostname, avg(usage_user), count(*) FROM cpu GROUP BY hostname")
        ),
        "h1|2|2\n"
    );
    let tables = stdout(&server.psql("\\dt"));
    assert!(tables.contains("public|cpu|table"), "{tables}");
    let columns = stdout(&server.psql("\\d cpu"));
    assert!(
        columns.contains("time|timestamp with time zone||not null|"),
        "{columns}"
    );
    assert!(columns.contains("usage_idle|bigint|||"), "{columns}");
    // \df lists no user functions; with a pattern, the built-in ones with
    // their types. \du runs (no roles are defined yet).
    assert_eq!(stdout(&server.psql("\\df")), "");
    let functions = stdout(&server.psql("\\df int4pl"));
    assert!(
        functions.ends_with("|int4pl|integer|integer, integer|func\n"),
        "{functions}"
    );
    assert!(server.psql("\\du").status.success());
    // An open, idle connection does not hold shutdown up.
    let mut idle = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-U",
            "x",
            "postgres",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    let status = server.wait();
    assert_eq!(status.code(), Some(0));
    let _ = idle.kill();
    let _ = idle.wait();
}

#[test]
fn sigint_exits_zero_and_connect_to_missing_database_fails() {
    let server = Process::start();
    let output = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-U",
            "x",
            "-c",
            "SELECT 1",
            "nope",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("database \"nope\" does not exist"),
        "{stderr}"
    );
    server.signal("INT");
    assert_eq!(server.wait().code(), Some(0));
}
