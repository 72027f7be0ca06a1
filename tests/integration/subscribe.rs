//! `SUBSCRIBE` over the wire: the snapshot and the live rows meet exactly
//! under concurrent writers, in each of the three ways to read them (COPY,
//! a cursor, a bare streaming query); a subscriber that falls behind is cut
//! off with 53400, a cancel ends it with 57014, and dropping its table ends
//! it with 42P01.

use std::collections::HashSet;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, pin_mut};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::common::{TIMEOUT, TestServer};

const TABLE: &str = "CREATE TABLE m (time TIMESTAMPTZ NOT NULL, host TEXT, n BIGINT)";

/// Reads `COPY (SUBSCRIBE ...) TO STDOUT` rows as text lines until `count`
/// rows have come, each split in its columns.
async fn copy_rows(
    client: &tokio_postgres::Client,
    query: &str,
    count: usize,
) -> Result<Vec<Vec<String>>, tokio_postgres::Error> {
    let stream = client.copy_out(query).await?;
    pin_mut!(stream);
    let mut rows = Vec::new();
    let mut partial = String::new();
    while rows.len() < count {
        let Some(chunk) = tokio::time::timeout(TIMEOUT, stream.next())
            .await
            .expect("rows in time")
        else {
            panic!("the subscription ended after {} rows", rows.len());
        };
        partial.push_str(std::str::from_utf8(&chunk?).unwrap());
        while let Some((line, rest)) = partial.split_once('\n') {
            rows.push(line.split('\t').map(str::to_owned).collect());
            partial = rest.to_owned();
        }
    }
    Ok(rows)
}

#[tokio::test]
async fn snapshot_and_live_rows_meet_exactly_under_concurrent_writers() {
    meet_exactly(TestServer::start().await).await;
}

/// Without a log, a write that finds no subscriber applies its rows
/// directly: one that subscribes at that moment must still get them.
#[tokio::test]
async fn snapshot_and_live_rows_meet_exactly_without_a_log() {
    let none = |config: &mut epochdb::config::Config| {
        config.durability = epochdb::config::Durability::None;
    };
    meet_exactly(TestServer::start_with(none).await).await;
}

async fn meet_exactly(server: TestServer) {
    let setup = server.connect().await;
    setup.batch_execute(TABLE).await.unwrap();
    const WRITERS: i64 = 3;
    const WRITES: i64 = 150;
    const ROWS: i64 = 4;
    let total = (WRITERS * WRITES * ROWS) as usize;

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let client = server.connect().await;
        writers.push(tokio::spawn(async move {
            for i in 0..WRITES {
                let values: Vec<String> = (0..ROWS)
                    .map(|r| {
                        let n = (w * WRITES + i) * ROWS + r;
                        format!("(now(), 'h{}', {n})", n % 5)
                    })
                    .collect();
                let sql = format!("INSERT INTO m VALUES {}", values.join(", "));
                client.batch_execute(&sql).await.unwrap();
            }
        }));
    }
    // Subscribers attach while the writers run, at different points.
    let mut subscribers = Vec::new();
    for s in 0..4u64 {
        tokio::time::sleep(Duration::from_millis(30 * s)).await;
        let client = server.connect().await;
        subscribers.push(tokio::spawn(async move {
            let query = "COPY (SUBSCRIBE (SELECT n, host FROM m)) TO STDOUT";
            copy_rows(&client, query, total).await.unwrap()
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    for subscriber in subscribers {
        let rows = subscriber.await.unwrap();
        let mut seen = HashSet::new();
        let mut last_lsn = 0i64;
        for row in &rows {
            let lsn: i64 = row[0].parse().unwrap();
            assert!(lsn >= last_lsn, "lsn went back from {last_lsn} to {lsn}");
            last_lsn = lsn;
            let n: i64 = row[1].parse().unwrap();
            assert_eq!(row[2], format!("h{}", n % 5));
            assert!(seen.insert(n), "row {n} came twice");
        }
        assert_eq!(seen.len(), total, "every row once");
    }
}

#[tokio::test]
async fn cursors_fetch_what_is_there_and_wait_for_the_rest() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let writer = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    client
        .batch_execute("INSERT INTO m VALUES ('2024-01-01', 'a', 1), ('2024-01-01', 'b', 2)")
        .await
        .unwrap();
    client
        .batch_execute(
            "BEGIN; DECLARE c CURSOR FOR SUBSCRIBE (SELECT n * 10 AS tens FROM m WHERE host = 'a')",
        )
        .await
        .unwrap();
    // The snapshot, then nothing more within the timeout.
    let rows = client
        .query("FETCH ALL c WITH (timeout = '100ms')", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].columns()[0].name(), "epochdb_lsn");
    assert_eq!(rows[0].get::<_, i64>("tens"), 10);
    let rows = client
        .query("FETCH ALL c WITH (timeout = '100ms')", &[])
        .await
        .unwrap();
    assert!(rows.is_empty());
    // A FETCH without a timeout waits for the next matching write.
    let fetch = tokio::spawn(async move {
        let rows = client.query("FETCH 10 c", &[]).await.unwrap();
        (client, rows)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    writer
        .batch_execute("INSERT INTO m VALUES ('2024-01-02', 'b', 3), ('2024-01-02', 'a', 4)")
        .await
        .unwrap();
    let (client, rows) = tokio::time::timeout(TIMEOUT, fetch).await.unwrap().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i64>("tens"), 40);
    client.batch_execute("COMMIT").await.unwrap();

    // Outside a block a cursor needs WITH HOLD, as any cursor does.
    let error = (client
        .batch_execute("DECLARE d CURSOR FOR SUBSCRIBE m")
        .await)
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::NO_ACTIVE_SQL_TRANSACTION));
}

#[tokio::test]
async fn a_bare_subscribe_streams_rows_with_progress() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let writer = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    client
        .batch_execute("INSERT INTO m VALUES ('2024-01-01', 'a', 1)")
        .await
        .unwrap();
    let statement = "SUBSCRIBE TO m WITH (PROGRESS)";
    let stream = client.simple_query_raw(statement).await.unwrap();
    pin_mut!(stream);
    let mut next_row = async || loop {
        let message = tokio::time::timeout(TIMEOUT, stream.try_next())
            .await
            .expect("a row in time")
            .unwrap()
            .expect("a row");
        if let SimpleQueryMessage::Row(row) = message {
            break (1..row.len())
                .map(|i| row.get(i).map(str::to_owned))
                .collect::<Vec<_>>();
        }
    };
    let snapshot = next_row().await;
    assert_eq!(snapshot[0].as_deref(), Some("f"));
    assert_eq!(snapshot[3].as_deref(), Some("1"));
    // The snapshot is complete: a progress row.
    assert_eq!(next_row().await[0].as_deref(), Some("t"));
    writer
        .batch_execute("INSERT INTO m VALUES ('2024-01-02', 'b', 2)")
        .await
        .unwrap();
    let live = loop {
        let row = next_row().await;
        if row[0].as_deref() == Some("f") {
            break row;
        }
    };
    assert_eq!(live[2].as_deref(), Some("b"));
    assert_eq!(live[3].as_deref(), Some("2"));
}

#[tokio::test]
async fn subscriptions_end_with_clear_errors() {
    let server = TestServer::start_with(|config| config.subscribe_queue_rows = 10).await;
    let client = server.connect().await;
    let writer = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();

    // A subscriber that lets more than 10 rows wait is cut off; the writer
    // is not held back.
    client
        .batch_execute("BEGIN; DECLARE c CURSOR FOR SUBSCRIBE m WITH (SNAPSHOT = false)")
        .await
        .unwrap();
    // The first write reaches it whatever its size; the second would make
    // 16 rows wait.
    let values: Vec<String> = (0..8).map(|n| format!("(now(), 'a', {n})")).collect();
    let sql = format!("INSERT INTO m VALUES {}", values.join(", "));
    writer.batch_execute(&sql).await.unwrap();
    writer.batch_execute(&sql).await.unwrap();
    let error = client.query("FETCH ALL c", &[]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::CONFIGURATION_LIMIT_EXCEEDED));
    client.batch_execute("ROLLBACK").await.unwrap();

    // A cancel ends a subscription with 57014, and the session goes on.
    let cancel = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        cancel.cancel_query(NoTls).await.unwrap();
    });
    let error = copy_rows(&client, "COPY (SUBSCRIBE m) TO STDOUT", 1000)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED));
    canceller.await.unwrap();
    let rows = client.query("SELECT count(*) FROM m", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 16);
    // A cursor whose subscription ended keeps failing, rather than
    // answering no rows.
    client
        .batch_execute("DECLARE h CURSOR WITH HOLD FOR SUBSCRIBE m WITH (SNAPSHOT = false)")
        .await
        .unwrap();
    writer.batch_execute(&sql).await.unwrap();
    writer.batch_execute(&sql).await.unwrap();
    for _ in 0..2 {
        let error = client.query("FETCH ALL h", &[]).await.unwrap_err();
        assert_eq!(error.code(), Some(&SqlState::CONFIGURATION_LIMIT_EXCEEDED));
    }
    client.batch_execute("CLOSE h").await.unwrap();

    // Dropping the table ends its subscriptions.
    let dropper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        writer.batch_execute("DROP TABLE m").await.unwrap();
    });
    let error = copy_rows(&client, "COPY (SUBSCRIBE m) TO STDOUT", 1000)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::UNDEFINED_TABLE));
    let message = error.as_db_error().map(|e| e.message().to_owned());
    assert!(
        message.as_deref().unwrap_or("").contains("dropped"),
        "{message:?}"
    );
    dropper.await.unwrap();
}

/// A parameter takes its value's type; a table renamed or grown while
/// subscribed to keeps its columns by position, as the plan bound them.
#[tokio::test]
async fn parameters_and_altered_tables() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let writer = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (time TIMESTAMPTZ NOT NULL, a BIGINT, b BIGINT)")
        .await
        .unwrap();
    let rows = client
        .query_raw(
            "SUBSCRIBE (SELECT a, b, $1::text AS p FROM t) WITH (SNAPSHOT = false)",
            ["tag"],
        )
        .await
        .unwrap();
    pin_mut!(rows);
    writer
        .batch_execute(
            "ALTER TABLE t RENAME a TO x; ALTER TABLE t RENAME b TO a; \
             ALTER TABLE t RENAME x TO b; ALTER TABLE t ADD COLUMN c TEXT; \
             INSERT INTO t (time, b, a, c) VALUES ('2024-01-01', 1, 2, 'new')",
        )
        .await
        .unwrap();
    let row = tokio::time::timeout(TIMEOUT, rows.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // The first column, named b now, holds 1.
    assert_eq!(row.get::<_, i64>(1), 1);
    assert_eq!(row.get::<_, i64>(2), 2);
    assert_eq!(row.get::<_, &str>(3), "tag");
}

#[tokio::test]
async fn what_cannot_be_subscribed_to_is_refused() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    client
        .batch_execute("CREATE TABLE devices (id INT PRIMARY KEY, name TEXT)")
        .await
        .unwrap();
    for (statement, code) in [
        (
            "SUBSCRIBE (SELECT host, count(*) FROM m GROUP BY host)",
            SqlState::FEATURE_NOT_SUPPORTED,
        ),
        (
            "SUBSCRIBE (SELECT * FROM m ORDER BY time)",
            SqlState::FEATURE_NOT_SUPPORTED,
        ),
        (
            "SUBSCRIBE (SELECT * FROM m, devices)",
            SqlState::FEATURE_NOT_SUPPORTED,
        ),
        ("SUBSCRIBE devices", SqlState::FEATURE_NOT_SUPPORTED),
        ("SUBSCRIBE nowhere", SqlState::UNDEFINED_TABLE),
        ("SUBSCRIBE m WITH (colour = 'red')", SqlState::SYNTAX_ERROR),
        (
            "SUBSCRIBE m WITH (snapshot = 'maybe')",
            SqlState::INVALID_PARAMETER_VALUE,
        ),
        ("SELECT 1; SUBSCRIBE m", SqlState::FEATURE_NOT_SUPPORTED),
    ] {
        let error = client.batch_execute(statement).await.unwrap_err();
        assert_eq!(error.code(), Some(&code), "{statement}: {error}");
    }
}

mod websocket {
    //! NSDb's `/ws-stream`: the history, then pushes of new matching rows;
    //! a bad request is answered with a reason and the socket goes on.

    use futures::{SinkExt, StreamExt};
    use serde_json::Value;
    use tokio_tungstenite::tungstenite::Message;

    use crate::common::{TIMEOUT, TestServer};

    type Socket = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    async fn next_json(socket: &mut Socket) -> Value {
        loop {
            let message = tokio::time::timeout(TIMEOUT, socket.next())
                .await
                .expect("a message in time")
                .expect("the socket open")
                .unwrap();
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    #[tokio::test]
    async fn history_then_pushes_of_matching_rows() {
        let server =
            TestServer::start_with(|config| config.http_listen = "127.0.0.1:0".into()).await;
        let client = server.connect().await;
        client
            .batch_execute(
                "CREATE TABLE temps (time TIMESTAMPTZ NOT NULL, room TEXT, celsius FLOAT8); \
                 INSERT INTO temps VALUES ('2024-01-01 00:00:01+00', 'kitchen', 20.5), \
                 ('2024-01-01 00:00:02+00', 'hall', 18), ('2024-01-01 00:00:03+00', 'kitchen', 21)",
            )
            .await
            .unwrap();
        let url = format!(
            "ws://127.0.0.1:{}/ws-stream?refresh_period=100",
            server.http_port()
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();

        // An invalid query: a reason, and the socket stays usable.
        let bad = r#"{"db": "postgres", "namespace": "public", "metric": "temps",
                      "queryString": "SELECT count(*) FROM temps"}"#;
        socket.send(Message::Text(bad.into())).await.unwrap();
        let answer = next_json(&mut socket).await;
        assert!(
            answer["reason"].as_str().unwrap().contains("not supported"),
            "{answer}"
        );
        assert_eq!(answer["queryString"], "SELECT count(*) FROM temps");

        let request = r#"{"db": "postgres", "namespace": "public", "metric": "temps",
            "queryString": "SELECT * FROM temps", "from": 1704067201500,
            "filters": [{"dimension": "room", "value": "kitchen", "operator": "="}]}"#;
        socket.send(Message::Text(request.into())).await.unwrap();
        let history = next_json(&mut socket).await;
        let quid = history["quid"].as_str().unwrap().to_owned();
        assert_eq!(quid.len(), 36);
        let records = history["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{history}");
        assert_eq!(records[0]["timestamp"], 1_704_067_203_000_i64);
        assert_eq!(records[0]["value"], 21.0);
        assert_eq!(records[0]["dimensions"]["room"], "kitchen");

        client
            .batch_execute(
                "INSERT INTO temps VALUES ('2024-01-01 00:00:04+00', 'hall', 17), \
                 ('2024-01-01 00:00:05+00', 'kitchen', 22)",
            )
            .await
            .unwrap();
        let push = next_json(&mut socket).await;
        assert_eq!(push["quid"], quid.as_str());
        assert_eq!(push["metric"], "temps");
        let records = push["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{push}");
        assert_eq!(records[0]["value"], 22.0);
        assert_eq!(records[0]["fields"]["celsius"], 22.0);

        // Dropping the table closes the socket with the reason.
        client.batch_execute("DROP TABLE temps").await.unwrap();
        let closed = loop {
            match tokio::time::timeout(TIMEOUT, socket.next()).await.unwrap() {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        };
        let frame = closed.expect("a close frame with a reason");
        assert!(frame.reason.as_str().contains("dropped"), "{frame:?}");
    }
}

/// A rollup by `time_bucket`: its answer now, then each bucket's final
/// rows when a later bucket's row arrives or its grace period passes, and
/// corrected rows for a late row.
/// A subscriber's connection and a writer's, after `setup` ran.
async fn subscriber_and_writer(
    server: &TestServer,
    setup: &str,
) -> (tokio_postgres::Client, tokio_postgres::Client) {
    let client = server.connect().await;
    client.batch_execute(setup).await.unwrap();
    (client, server.connect().await)
}

#[tokio::test]
async fn rollups_send_each_bucket_when_it_closes() {
    let server = TestServer::start().await;
    let (client, writer) = subscriber_and_writer(
        &server,
        "CREATE TABLE r (time TIMESTAMPTZ NOT NULL, host TEXT, v BIGINT); \
         INSERT INTO r VALUES ('2024-01-01 00:00:10+00', 'a', 1), \
         ('2024-01-01 00:00:20+00', 'a', 2), ('2024-01-01 00:00:30+00', 'b', 5)",
    )
    .await;
    client
        .batch_execute(
            "BEGIN; DECLARE c CURSOR FOR SUBSCRIBE (SELECT time_bucket('1 minute', time) AS b, \
             sum(v) AS total FROM r WHERE host = 'a' GROUP BY 1) WITH (GRACE = '1h')",
        )
        .await
        .unwrap();
    let fetch = async |client: &tokio_postgres::Client| -> Vec<(String, i64)> {
        let rows = client
            .simple_query("FETCH ALL c WITH (timeout = '300ms')")
            .await
            .unwrap();
        rows.iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some((
                    row.get(1).unwrap().to_owned(),
                    row.get(2).unwrap().parse().unwrap(),
                )),
                _ => None,
            })
            .collect()
    };
    let minute = |m: u32| format!("2024-01-01 00:{m:02}:00+00");
    assert_eq!(fetch(&client).await, vec![(minute(0), 3)]);
    // The bucket is still open: nothing yet.
    writer
        .batch_execute("INSERT INTO r VALUES ('2024-01-01 00:00:40+00', 'a', 4)")
        .await
        .unwrap();
    assert_eq!(fetch(&client).await, vec![]);
    // A row of the next minute closes it; another host's row does not count.
    writer
        .batch_execute(
            "INSERT INTO r VALUES ('2024-01-01 00:01:05+00', 'a', 10), \
             ('2024-01-01 00:02:05+00', 'b', 10)",
        )
        .await
        .unwrap();
    assert_eq!(fetch(&client).await, vec![(minute(0), 7)]);
    // A late row corrects the closed bucket at once.
    writer
        .batch_execute("INSERT INTO r VALUES ('2024-01-01 00:00:50+00', 'a', 1)")
        .await
        .unwrap();
    assert_eq!(fetch(&client).await, vec![(minute(0), 8)]);
    client.batch_execute("COMMIT").await.unwrap();

    // With a short grace period, an idle bucket closes on its own.
    client
        .batch_execute(
            "BEGIN; DECLARE g CURSOR FOR SUBSCRIBE (SELECT time_bucket('1 minute', time) AS b, \
             count(*) AS n FROM r GROUP BY 1) WITH (SNAPSHOT = false, GRACE = '200ms')",
        )
        .await
        .unwrap();
    writer
        .batch_execute("INSERT INTO r VALUES ('2024-01-01 00:05:00+00', 'a', 1)")
        .await
        .unwrap();
    let rows = client
        .query("FETCH ALL g WITH (timeout = '2s')", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i64>("n"), 1);
    client.batch_execute("COMMIT").await.unwrap();

    // An aggregate without a time bucket cannot be subscribed to.
    let error = client
        .batch_execute("SUBSCRIBE (SELECT host, sum(v) FROM r GROUP BY host)")
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::FEATURE_NOT_SUPPORTED));
}
