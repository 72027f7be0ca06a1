//! The node-postgres client suite, `tests/node/clients.js`, against a server
//! over TCP. Its packages are installed from the npm registry into cargo's
//! target directory the first time (and again whenever `package.json`
//! changes).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TestServer, run_checked, run_client_suite};

const PACKAGE: &str = include_str!("../node/package.json");

/// The directory holding `package.json` and its installed `node_modules`.
fn packages() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("node-clients");
    let stamp = dir.join("package.json");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(PACKAGE)
        && dir.join("node_modules").is_dir()
    {
        return dir;
    }
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&stamp, PACKAGE).unwrap();
    run_checked(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir),
    );
    dir
}

#[tokio::test]
async fn node_postgres_passes_its_suite() {
    let packages = tokio::task::spawn_blocking(packages).await.unwrap();
    // A short subscriber queue, for the suite's slow subscriber (53400).
    let server = TestServer::start_with(|config| config.subscribe_queue_rows = 50).await;
    let mut node = Command::new("node");
    node.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/clients.js"))
        .env("NODE_PATH", packages.join("node_modules"));
    run_client_suite(&server, node, 4).await;
    server.stop().await;
}
