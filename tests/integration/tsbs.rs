//! The TSBS benchmark tool at its smallest scale, as CI's smoke test: it
//! loads a running server, runs all 15 query types, and checks every answer
//! against PostgreSQL 15, which it starts itself (Debian's `postgresql`,
//! which `.ci/run` installs).

use std::process::Command;

use crate::common::TestServer;

#[tokio::test]
async fn tsbs_smoke_agrees_with_postgres() {
    crate::common::require_postgres();
    let server = TestServer::start().await;
    let address = format!("127.0.0.1:{}", server.port());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_epochdb-bench"))
            .args([
                "--epochdb",
                &address,
                "--hosts",
                "8",
                "--hours",
                "13",
                "--runs",
                "2",
            ])
            .args(["--compare", "postgres"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("EpochDB and PostgreSQL agree on all 45 queries"),
        "{stdout}"
    );
    assert!(stdout.contains("lastpoint"), "{stdout}");
    server.stop().await;
}
