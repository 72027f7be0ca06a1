//! The Python client suite, `tests/python/clients.py`: psycopg 3, asyncpg and
//! SQLAlchemy against a server over TCP, subscriptions among them. Its Python
//! environment is a venv in cargo's target directory, with
//! `tests/python/requirements.txt` installed from PyPI the first time (and
//! again whenever the requirements change).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TestServer, run_checked, run_client_suite};

const REQUIREMENTS: &str = include_str!("../python/requirements.txt");

/// The venv's python, with the requirements installed: built once, by
/// the first test that asks, while the others wait.
fn python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(install).clone()
}

fn install() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-clients");
    let python = venv.join("bin").join("python");
    let stamp = venv.join("requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(REQUIREMENTS) {
        return python;
    }
    run_checked(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
    );
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/requirements.txt");
    run_checked(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements),
    );
    std::fs::write(&stamp, REQUIREMENTS).unwrap();
    python
}

#[tokio::test]
async fn psycopg_asyncpg_and_sqlalchemy_pass_their_suite() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    // A short subscriber queue, for the suite's slow subscribers (53400).
    let server = TestServer::start_with(|config| config.subscribe_queue_rows = 50).await;
    let mut suite = Command::new(python);
    suite.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/clients.py"));
    run_client_suite(&server, suite, 12).await;
    server.stop().await;
}

#[tokio::test]
async fn influxdb_v1_and_v2_clients_write_what_sql_reads_back() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let server = TestServer::start_with(|config| config.http_listen = "127.0.0.1:0".into()).await;
    let mut suite = Command::new(python);
    suite
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/influx_clients.py"))
        .arg(server.http_port().to_string());
    run_client_suite(&server, suite, 4).await;
    server.stop().await;
}
