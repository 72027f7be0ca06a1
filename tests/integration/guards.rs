//! Guards on queries: statement_timeout and the per-query memory cap. Both end
//! the query with an error and leave the server and the session usable.

use tokio_postgres::error::SqlState;

use crate::common::TestServer;

#[tokio::test]
async fn statement_timeout_cancels_a_long_query() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("SET statement_timeout = '200ms'")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = client
        .query(
            "SELECT count(*) FROM generate_series(1, 100000000000) AS t(x) WHERE x % 7 = 3",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    let row = client
        .query_one("SELECT count(*) FROM generate_series(1, 1000)", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1000);
    server.stop().await;
}

#[tokio::test]
async fn a_query_over_the_memory_cap_fails_with_53200() {
    let server = TestServer::start_with(|c| c.query_memory_limit = 4 << 20).await;
    let client = server.connect().await;
    let error = client
        .query(
            "SELECT x % 1000000, count(*), max(x::text) FROM generate_series(1, 3000000) AS t(x) GROUP BY 1 ORDER BY 3 DESC",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::OUT_OF_MEMORY), "{error}");
    // The server and the session are still fine.
    let row = client.query_one("SELECT 1::bigint", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    server.stop().await;
}
