//! Transaction blocks and cancel requests, with tokio-postgres.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt, pin_mut};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::common::TestServer;
use crate::copy::count;

const TABLE: &str = "CREATE TABLE m (time TIMESTAMPTZ NOT NULL, host TEXT, v DOUBLE PRECISION)";
/// Long enough that only a cancel ends it in a test's time.
const LONG: Duration = Duration::from_secs(60);

/// The session answers after a cancel.
async fn assert_usable(client: &Client) {
    let one: i64 = client
        .query_one("SELECT 1::bigint", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(one, 1);
}

#[tokio::test]
async fn writes_apply_at_commit_and_savepoints_drop_theirs() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    let other = server.connect().await;

    let mut tx = client.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'a', $1)",
        &[&1.0f64],
    )
    .await
    .unwrap();
    {
        // A nested transaction is a savepoint; its error and its rows go
        // with its rollback, and the outer block goes on.
        let nested = tx.transaction().await.unwrap();
        nested
            .execute(
                "INSERT INTO m VALUES ('2024-01-01 00:00:10+00', 'a', 2)",
                &[],
            )
            .await
            .unwrap();
        let error = nested.execute("SELECT 'x'::int", &[]).await.unwrap_err();
        assert_eq!(error.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
        let error = nested.execute("SELECT 1", &[]).await.unwrap_err();
        assert_eq!(error.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
        nested.rollback().await.unwrap();
    }
    let sink = tx.copy_in("COPY m FROM STDIN").await.unwrap();
    pin_mut!(sink);
    sink.send(Bytes::from_static(b"2024-01-01 00:00:20+00\tb\t3\n"))
        .await
        .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 1);
    assert_eq!(count(&other).await, 0, "nothing is visible before COMMIT");
    tx.commit().await.unwrap();

    let rows = other
        .query("SELECT host, v FROM m ORDER BY time", &[])
        .await
        .unwrap();
    let rows: Vec<(String, f64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, vec![("a".to_owned(), 1.0), ("b".to_owned(), 3.0)]);

    // A dropped transaction rolls back, COPY included.
    {
        let tx = client.transaction().await.unwrap();
        let sink = tx.copy_in("COPY m FROM STDIN").await.unwrap();
        pin_mut!(sink);
        sink.send(Bytes::from_static(b"2024-01-01 00:00:30+00\tc\t4\n"))
            .await
            .unwrap();
        assert_eq!(sink.finish().await.unwrap(), 1);
    }
    assert_eq!(count(&client).await, 2);

    // A connection that closes inside a block applies nothing of it.
    let third = server.connect().await;
    third
        .batch_execute("BEGIN; INSERT INTO m VALUES ('2024-01-01 00:00:40+00', 'd', 5)")
        .await
        .unwrap();
    drop(third);
    assert_eq!(count(&client).await, 2);
    server.stop().await;
}

#[tokio::test]
async fn cancel_stops_a_running_statement_and_the_session_goes_on() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(NoTls).await.unwrap();
    });
    let query = client.query_one(
        "SELECT count(*) FROM generate_series(1, 100000000000) AS a(x) WHERE x % 7 = 3",
        &[],
    );
    let error = tokio::time::timeout(LONG, query)
        .await
        .expect("the cancel must end the query")
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
    let message = error.as_db_error().map(|e| e.message().to_owned());
    assert_eq!(
        message.as_deref(),
        Some("canceling statement due to user request")
    );
    canceller.await.unwrap();
    assert_usable(&client).await;
    server.stop().await;
}

#[tokio::test]
async fn cancel_stops_rows_while_they_stream() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let rows = client
        .query_raw(
            "SELECT x FROM generate_series(1, 100000000000) AS a(x)",
            std::iter::empty::<i64>(),
        )
        .await
        .unwrap();
    pin_mut!(rows);
    for _ in 0..1000 {
        rows.next().await.unwrap().unwrap();
    }
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    let drained = tokio::time::timeout(LONG, async {
        loop {
            match rows.next().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => break Some(e),
                None => break None,
            }
        }
    })
    .await
    .expect("the cancel must end the rows");
    let error = drained.expect("the rows end in an error");
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
    assert_usable(&client).await;
    server.stop().await;
}

#[tokio::test]
async fn cancel_ends_a_copy_and_applies_none_of_it() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    let sink = client.copy_in("COPY m FROM STDIN").await.unwrap();
    pin_mut!(sink);
    sink.send(Bytes::from_static(b"2024-01-01 00:00:00+00\ta\t1\n"))
        .await
        .unwrap();
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    // The cancel lands on the server before the next data does.
    tokio::time::sleep(Duration::from_millis(100)).await;
    sink.send(Bytes::from_static(b"2024-01-01 00:00:10+00\ta\t2\n"))
        .await
        .unwrap();
    let error = sink.finish().await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
    assert_eq!(count(&client).await, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_portal_returns_its_rows_in_pieces() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let tx = client.transaction().await.unwrap();
    let portal = tx
        .bind(
            "SELECT x FROM generate_series(1, 5) AS a(x) ORDER BY x",
            &[],
        )
        .await
        .unwrap();
    let mut pieces = Vec::new();
    for _ in 0..4 {
        let rows = tx.query_portal(&portal, 2).await.unwrap();
        pieces.push(rows.iter().map(|r| r.get(0)).collect::<Vec<i32>>());
    }
    assert_eq!(pieces, vec![vec![1, 2], vec![3, 4], vec![5], vec![]]);
    tx.commit().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_block_reads_its_own_writes_and_others_do_not() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    client
        .batch_execute("INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'a', 1)")
        .await
        .unwrap();
    let other = server.connect().await;
    let tx = client.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO m VALUES ('2024-01-01 00:00:10+00', 'a', 2), ('2024-01-01 00:00:20+00', 'b', 3)",
        &[],
    )
    .await
    .unwrap();
    let sum: f64 = tx
        .query_one("SELECT sum(v) FROM m", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        sum, 6.0,
        "the block sees its staged rows beside the table's"
    );
    let hosts: i64 = tx
        .query_one("SELECT count(*) FROM m WHERE host = 'b'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(hosts, 1);
    assert_eq!(count(&other).await, 1, "other sessions do not");
    tx.rollback().await.unwrap();
    assert_eq!(count(&client).await, 1);
    server.stop().await;
}

#[tokio::test]
async fn a_multi_statement_query_is_one_implicit_transaction() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    // An error part way: PostgreSQL keeps none of the rows.
    let error = client
        .batch_execute(
            "INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'a', 1);
             SELECT 1 / 0;
             INSERT INTO m VALUES ('2024-01-01 00:00:10+00', 'a', 2)",
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::DIVISION_BY_ZERO));
    assert_eq!(count(&client).await, 0);
    // An error while a later statement's rows are produced undoes it too.
    client
        .batch_execute("INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'a', 0)")
        .await
        .unwrap();
    let error = client
        .batch_execute(
            "INSERT INTO m VALUES ('2024-01-01 00:00:10+00', 'a', 2);
             SELECT 1 / v::int FROM m",
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::DIVISION_BY_ZERO));
    assert_eq!(count(&client).await, 1);
    // Without an error all of it applies, and later statements see earlier
    // ones' rows, as in PostgreSQL.
    let messages = client
        .simple_query(
            "INSERT INTO m VALUES ('2024-01-01 00:00:20+00', 'b', 3);
             SELECT count(*) FROM m",
        )
        .await
        .unwrap();
    let seen = messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
        _ => None,
    });
    assert_eq!(seen.as_deref(), Some("2"));
    assert_eq!(count(&client).await, 2);
    assert_usable(&client).await;
    server.stop().await;
}

#[tokio::test]
async fn a_prepared_statement_plans_again_after_ddl() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    let statement = client.prepare("SELECT count(*) FROM m").await.unwrap();
    for round in 0..3 {
        client
            .batch_execute(&format!(
                "DROP TABLE m; {TABLE}; INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'a', {round})"
            ))
            .await
            .unwrap();
        let rows: i64 = client.query_one(&statement, &[]).await.unwrap().get(0);
        assert_eq!(
            rows, 1,
            "round {round} reads the new table, not a dropped one"
        );
    }
    // A table of other column types: the statement's result type changes,
    // which PostgreSQL refuses.
    let select = client.prepare("SELECT v FROM m").await.unwrap();
    client
        .batch_execute(
            "DROP TABLE m; CREATE TABLE m (time TIMESTAMPTZ NOT NULL, host TEXT, v BIGINT)",
        )
        .await
        .unwrap();
    let error = client.query(&select, &[]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::FEATURE_NOT_SUPPORTED));
    assert_eq!(
        error.as_db_error().unwrap().message(),
        "cached plan must not change result type"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_declared_parameter_type_is_the_parameters_type() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    // psycopg sends 0.5 as float8: PostgreSQL computes in float8.
    let statement = client
        .prepare_typed("SELECT 10 - $1", &[tokio_postgres::types::Type::FLOAT8])
        .await
        .unwrap();
    let value: f64 = client
        .query_one(&statement, &[&0.5f64])
        .await
        .unwrap()
        .get(0);
    assert_eq!(value, 9.5);
    // Undeclared, the statement decides: an integer, as the literal is.
    let statement = client.prepare("SELECT 10 - $1").await.unwrap();
    assert_eq!(statement.params(), &[tokio_postgres::types::Type::INT4]);
    server.stop().await;
}

/// A block's UPDATE of a plain table is its own until COMMIT; when another
/// session changed the row first, the COMMIT fails with 40001 and applies
/// nothing, and the other session's change stands.
#[tokio::test]
async fn a_blocks_update_meets_a_concurrent_one_with_a_serialization_failure() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let other = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE devices (id INT PRIMARY KEY, site TEXT);
             INSERT INTO devices VALUES (1, 'a'), (2, 'b');",
        )
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute("UPDATE devices SET site = 'mine' WHERE id = 1", &[])
        .await
        .unwrap();
    tx.execute("DELETE FROM devices WHERE id = 2", &[])
        .await
        .unwrap();
    let seen: String = tx
        .query_one("SELECT site FROM devices WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, "mine");
    let others: i64 = other
        .query_one("SELECT count(*) FROM devices WHERE site IN ('a', 'b')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(others, 2, "uncommitted changes are the block's own");
    other
        .execute("UPDATE devices SET site = 'theirs' WHERE id = 1", &[])
        .await
        .unwrap();
    let error = tx.commit().await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::T_R_SERIALIZATION_FAILURE));
    let rows: Vec<(i32, String)> = other
        .query("SELECT id, site FROM devices ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, vec![(1, "theirs".into()), (2, "b".into())]);

    // A failed COMMIT applies nothing, in any table; a second table whose
    // share could fail is refused when the block first writes it.
    client
        .batch_execute("CREATE TABLE notes (x INT); CREATE TABLE tags (id INT PRIMARY KEY)")
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO notes VALUES (1)", &[])
        .await
        .unwrap();
    tx.execute("UPDATE devices SET site = 'again' WHERE id = 1", &[])
        .await
        .unwrap();
    let refused = tx
        .execute("INSERT INTO tags VALUES (1)", &[])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(&SqlState::FEATURE_NOT_SUPPORTED));
    drop(tx);
    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO notes VALUES (1)", &[])
        .await
        .unwrap();
    tx.execute("UPDATE devices SET site = 'again' WHERE id = 1", &[])
        .await
        .unwrap();
    other
        .execute("UPDATE devices SET site = 'first' WHERE id = 1", &[])
        .await
        .unwrap();
    let error = tx.commit().await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::T_R_SERIALIZATION_FAILURE));
    let notes: i64 = other
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(notes, 0, "the failed block's other writes are not applied");
}
