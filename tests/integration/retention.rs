//! Retention: rows older than a table keeps are not stored (INSERT and COPY
//! say so in a warning, the line protocol as a partial write in InfluxDB's
//! words), the background task drops whole shards as they age out, and the
//! retention and the drops survive a restart.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::SinkExt as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TIMEOUT, TestServer, text_rows};

/// Posts `body` to `/write` and returns the status and the body.
async fn write(port: u16, body: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let head = format!(
            "POST /write?db=postgres&precision=s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn rows_beyond_retention_are_refused_dropped_and_stay_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let configure =
        |config: &mut epochdb::config::Config| config.http_listen = "127.0.0.1:0".into();
    let server = TestServer::start_in(dir.path(), configure).await;
    let (client, mut notices) = server.connect_with_notices().await;
    client
        .batch_execute(
            "CREATE TABLE m (time TIMESTAMPTZ NOT NULL, host TEXT, v FLOAT8) \
             WITH (retention = '2 hours', shard_interval = '1h')",
        )
        .await
        .unwrap();

    // INSERT: the old row is not stored, and a warning says so.
    let inserted = client
        .execute(
            "INSERT INTO m VALUES (now(), 'a', 1), (now() - interval '1 day', 'a', 2), \
             (now() - interval '90 minutes', 'b', 3)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 2);
    let warning = notices.recv().await.expect("a warning");
    assert!(warning.contains("1 row was not stored"), "{warning}");

    // COPY: the same.
    let sink = client
        .copy_in("COPY m FROM STDIN WITH (FORMAT csv)")
        .await
        .unwrap();
    let mut sink = std::pin::pin!(sink);
    let csv = "2000-01-01 00:00:00+00,c,4\n2000-01-02 00:00:00+00,c,5\n";
    sink.send(bytes::Bytes::from(csv)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 0);
    let warning = notices.recv().await.expect("a warning");
    assert!(warning.contains("2 rows were not stored"), "{warning}");

    // The line protocol: a partial write, in the phrase Telegraf does not
    // retry.
    let now = now_seconds();
    let body = format!("m,host=d v=6 {now}\nm,host=d v=7 {}\n", now - 86_400);
    let (status, answer) = write(server.http_port(), &body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("partial write") && answer.contains("points beyond retention policy"),
        "{answer}"
    );
    assert_eq!(
        text_rows(&client, "SELECT v FROM m ORDER BY v").await,
        vec!["1", "3", "6"]
    );

    // Shorten the retention: the background task drops the shard that
    // held the row of 90 minutes ago, once all of it is older than 30
    // minutes ago.
    client
        .batch_execute("ALTER TABLE m SET (retention = '30 minutes')")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = text_rows(&client, "SELECT v FROM m ORDER BY v").await;
        if left == ["1", "6"] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "left: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(client);
    server.stop().await;

    // After a restart: the drop and the retention are still there.
    let server = TestServer::start_in(dir.path(), configure).await;
    let client = server.connect().await;
    assert_eq!(
        text_rows(&client, "SELECT v FROM m ORDER BY v").await,
        vec!["1", "6"]
    );
    assert_eq!(
        text_rows(
            &client,
            "SELECT table_name, retention, shard_interval FROM epochdb.tables"
        )
        .await,
        vec!["m|00:30:00|01:00:00"]
    );
    client
        .batch_execute("ALTER TABLE m RESET (retention)")
        .await
        .unwrap();
    let inserted = client
        .execute(
            "INSERT INTO m VALUES ('2000-01-01 00:00:00+00', 'e', 8)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    drop(client);
    server.stop().await;
}
