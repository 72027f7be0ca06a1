//! The TCP line protocol listener: lines in, no answers; batches by size
//! and time; a bad line closes the connection.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TIMEOUT, TestServer};

async fn count(server: &TestServer, query: &str) -> i64 {
    let client = server.connect().await;
    match client.query_one(query, &[]).await {
        Ok(row) => row.get(0),
        Err(_) => 0,
    }
}

/// Waits until `query` counts `expected`, or fails after the timeout.
async fn until(server: &TestServer, query: &str, expected: i64) {
    let started = std::time::Instant::now();
    loop {
        let n = count(server, query).await;
        if n == expected {
            return;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "{query}: {n}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn lines_commit_within_a_second_and_a_bad_line_closes_the_connection() {
    let server = TestServer::start_with(|config| {
        config.ilp_tcp_listen = "127.0.0.1:0".into();
    })
    .await;
    let port = server.ilp_tcp_port();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // A line split across two writes, and no close: the timer writes them.
    stream
        .write_all(b"tcp,host=a v=1 1000\ntcp,host=b v=")
        .await
        .unwrap();
    stream.write_all(b"2 2000\n").await.unwrap();
    until(&server, "SELECT count(*) FROM tcp", 2).await;

    // A bad line: the valid lines of its batch commit, the connection
    // closes, and what comes after is not read.
    stream
        .write_all(b"tcp,host=c v=3 3000\ntcp,host=c v=\"x\" 4000\ntcp,host=c v=5 5000\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    until(&server, "SELECT count(*) FROM tcp", 4).await;
    assert_eq!(
        count(&server, "SELECT count(*) FROM tcp WHERE v = 5").await,
        1
    );

    // Closing the stream writes what it holds, a last line without a newline too.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(b"tcp,host=d v=6 6000\ntcp,host=d v=7 7000")
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);
    until(&server, "SELECT count(*) FROM tcp WHERE host = 'd'", 2).await;

    // An HTTP request (what a web page can make a browser send) is not
    // line protocol: the connection closes and nothing is written.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\ntcp,host=e v=8 8000\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        count(&server, "SELECT count(*) FROM tcp WHERE host = 'e'").await,
        0
    );
    server.stop().await;
}
