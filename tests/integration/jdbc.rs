//! The pgJDBC client suite, `tests/jdbc/Clients.java`: DatabaseMetaData,
//! prepared statements, batches, errors and subscriptions against a server
//! over TCP. Java runs the source file directly; the driver is Debian's
//! `libpostgresql-jdbc-java` (which `.ci/run` installs), or the jar named by
//! `EPOCHDB_JDBC_JAR`.

use std::path::Path;
use std::process::Command;

use crate::common::{TestServer, run_client_suite};

const DEBIAN_JAR: &str = "/usr/share/java/postgresql.jar";

#[tokio::test]
async fn pgjdbc_passes_its_suite() {
    let jar = std::env::var("EPOCHDB_JDBC_JAR").unwrap_or_else(|_| DEBIAN_JAR.to_owned());
    assert!(
        Path::new(&jar).is_file(),
        "the pgJDBC driver is not at {jar}: install libpostgresql-jdbc-java or set EPOCHDB_JDBC_JAR"
    );
    // A short subscriber queue, for the suite's slow subscriber (53400).
    let server = TestServer::start_with(|config| config.subscribe_queue_rows = 50).await;
    let mut java = Command::new("java");
    java.arg("-cp")
        .arg(&jar)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jdbc/Clients.java"));
    run_client_suite(&server, java, 5).await;
    server.stop().await;
}
