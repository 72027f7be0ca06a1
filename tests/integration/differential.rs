//! The differential test against PostgreSQL 15 (which `epochdb-bench`
//! starts itself): tricky rows, seeded random queries from a grammar of the
//! constructs that have answered differently before, every answer compared.
//! CI runs a few hundred queries per seed; a longer run is
//! `cargo run --bin epochdb-bench -- --epochdb HOST:PORT --differential 20000 --seed 7`.

use std::process::Command;

use crate::common::TestServer;

#[tokio::test]
async fn seeded_random_queries_agree_with_postgres() {
    crate::common::require_postgres();
    let server = TestServer::start().await;
    let address = format!("127.0.0.1:{}", server.port());
    for seed in ["1", "2"] {
        let address = address.clone();
        let output = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_epochdb-bench"))
                .args([
                    "--epochdb",
                    &address,
                    "--differential",
                    "300",
                    "--seed",
                    seed,
                ])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "seed {seed}:\n{stdout}\n{stderr}");
        assert!(stdout.contains("0 differ"), "seed {seed}:\n{stdout}");
    }
    server.stop().await;
}
