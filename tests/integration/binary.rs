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
            .args([
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--log-level",
                "info",
            ])
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

/// A statement shape: what it is, its text at a size, the size PostgreSQL
/// answers, and the answer.
type Shape = (&'static str, fn(usize) -> String, usize, &'static str);

/// The statement shapes that once overflowed a worker's stack and aborted
/// the server, or planned for minutes, each with a size PostgreSQL 15
/// answers and its answer, and at ten times that size, which may fail
/// (54001, as PostgreSQL's `stack depth limit exceeded`, or 42601 for the
/// parser's nesting) but must leave the server serving.
#[tokio::test]
async fn deep_and_long_statements_answer_or_fail_and_the_server_keeps_serving() {
    let server = Process::start();
    let config = format!(
        "host=127.0.0.1 port={} user=tester dbname=postgres",
        server.port
    );
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE q (time TIMESTAMPTZ NOT NULL, k TEXT, x BIGINT);
             INSERT INTO q VALUES ('2024-01-01 00:00:00+00', 'h7', 1), ('2024-01-01 00:00:01+00', 'z', 2)",
        )
        .await
        .unwrap();
    let shapes: [Shape; 10] = [
        (
            "a sum",
            |n| format!("SELECT {}", vec!["1"; n].join(" + ")),
            200,
            "200",
        ),
        (
            "an OR of equalities",
            |n| {
                let terms: Vec<String> = (0..n).map(|i| format!("k = 'h{i}'")).collect();
                format!("SELECT count(*) FROM q WHERE {}", terms.join(" OR "))
            },
            3_000,
            "1",
        ),
        (
            "an AND",
            |n| format!("SELECT {}", vec!["true"; n].join(" AND ")),
            2_500,
            "t",
        ),
        (
            "nested NOTs",
            |n| format!("SELECT {}true", "NOT ".repeat(n)),
            200,
            "t",
        ),
        (
            "nested scalar subqueries",
            |n| format!("SELECT {}1{}", "(SELECT ".repeat(n), ")".repeat(n)),
            200,
            "1",
        ),
        (
            "an IN list",
            |n| {
                let items: Vec<String> = (0..n).map(|i| format!("'h{i}'")).collect();
                format!("SELECT count(*) FROM q WHERE k IN ({})", items.join(", "))
            },
            10_000,
            "1",
        ),
        // The parser once read each argument twice per level of calls.
        (
            "nested calls",
            |n| format!("SELECT {}-1{}", "abs(".repeat(n), ")".repeat(n)),
            100,
            "1",
        ),
        // DataFusion writes COALESCE(a, b) as a CASE that repeats a.
        (
            "nested COALESCEs",
            |n| {
                let call = format!("{}x{}", "coalesce(".repeat(n), ", 0)".repeat(n));
                format!("SELECT {call} FROM q WHERE x = 1")
            },
            8,
            "1",
        ),
        (
            "a chain of casts",
            |n| format!("SELECT 1{}", "::int8".repeat(n)),
            200,
            "1",
        ),
        (
            "a chain of UNION ALLs",
            |n| vec!["SELECT 1"; n].join(" UNION ALL "),
            120,
            "1",
        ),
    ];
    for (what, sql, size, answer) in shapes {
        let rows = client.simple_query(&sql(size)).await;
        let value = rows.as_ref().ok().and_then(|messages| {
            messages.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
        });
        assert_eq!(value.as_deref(), Some(answer), "{what} of {size}: {rows:?}");
        match client.simple_query(&sql(size * 10)).await {
            Ok(_) => {}
            Err(e) => {
                let code = e.code().map(|c| c.code().to_owned());
                assert!(
                    matches!(code.as_deref(), Some("54001" | "42601")),
                    "{what} of {}: {e}",
                    size * 10
                );
            }
        }
        let alive = client.simple_query("SELECT 42").await;
        assert!(alive.is_ok(), "the server died after {what}: {alive:?}");
    }
    drop(client);
    server.signal("TERM");
    assert!(server.wait().success());
}

/// `COPY (SUBSCRIBE ...) TO STDOUT` in psql at a terminal (`script` gives
/// it one): the snapshot's row, then a row written later, as it is written.
#[test]
fn psql_shows_subscribed_rows_live() {
    let server = Process::start();
    stdout(&server.psql(
        "CREATE TABLE live (time TIMESTAMPTZ NOT NULL, host TEXT, v BIGINT); \
         INSERT INTO live VALUES ('2024-01-01 00:00:00+00', 'a', 1)",
    ));
    let psql = format!(
        "psql -h 127.0.0.1 -p {} -U anyuser -X -c 'COPY (SUBSCRIBE live) TO STDOUT' postgres",
        server.port
    );
    let mut child = Command::new("script")
        .args(["-q", "-f", "-c", &psql, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script is installed (util-linux)");
    let output = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("a row in time")
    };
    let snapshot = next();
    assert!(snapshot.contains("\ta\t1"), "{snapshot:?}");
    stdout(&server.psql("INSERT INTO live VALUES ('2024-01-01 00:00:01+00', 'b', 2)"));
    let live = next();
    assert!(live.contains("\tb\t2"), "{live:?}");
    let _ = child.kill();
    let _ = child.wait();
}
