//! tokio-postgres against an in-process server: startup, both query protocols,
//! parameters, SQLSTATEs, concurrency.

use chrono::{DateTime, TimeZone, Utc};
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::error::SqlState;

use crate::common::TestServer;

const CPU: &str = "CREATE TABLE cpu (time TIMESTAMPTZ NOT NULL, hostname TEXT, region TEXT, \
                   usage_user DOUBLE PRECISION, usage_idle BIGINT, ok BOOLEAN)";

fn ts(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_704_067_200 + seconds, 0).unwrap()
}

#[tokio::test]
async fn unknown_database_is_refused_with_3d000() {
    let server = TestServer::start().await;
    let error = server.connect_to("nope").await.expect_err("must fail");
    assert_eq!(
        error.code(),
        Some(&SqlState::INVALID_CATALOG_NAME),
        "{error}"
    );

    let client = server.connect().await;
    client
        .batch_execute("CREATE DATABASE metrics")
        .await
        .unwrap();
    let metrics = server.connect_to("metrics").await.unwrap();
    metrics.batch_execute(CPU).await.unwrap();
    let row = metrics
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "metrics");
    // Databases are separate namespaces.
    let error = client.query("SELECT * FROM cpu", &[]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::UNDEFINED_TABLE));
    server.stop().await;
}

#[tokio::test]
async fn extended_protocol_round_trips_every_field_type() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (time TIMESTAMPTZ NOT NULL, tag TEXT, f8 DOUBLE PRECISION, f4 REAL, \
             i8 BIGINT, i4 INTEGER, i2 SMALLINT, b BOOLEAN, note TEXT, local TIMESTAMP) \
             WITH (tags = 'tag')",
        )
        .await
        .unwrap();
    let local = ts(5).naive_utc();
    let inserted = client
        .execute(
            "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &ts(0),
                &"a",
                &-1.5e300f64,
                &0.25f32,
                &i64::MIN,
                &i32::MAX,
                &i16::MIN,
                &true,
                &"héllo",
                &local,
            ],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    let row = client
        .query_one("SELECT * FROM t WHERE tag = $1", &[&"a"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, DateTime<Utc>>("time"), ts(0));
    assert_eq!(row.get::<_, f64>("f8"), -1.5e300);
    assert_eq!(row.get::<_, f32>("f4"), 0.25);
    assert_eq!(row.get::<_, i64>("i8"), i64::MIN);
    assert_eq!(row.get::<_, i32>("i4"), i32::MAX);
    assert_eq!(row.get::<_, i16>("i2"), i16::MIN);
    assert!(row.get::<_, bool>("b"));
    assert_eq!(row.get::<_, String>("note"), "héllo");
    assert_eq!(row.get::<_, chrono::NaiveDateTime>("local"), local);
    server.stop().await;
}

#[tokio::test]
async fn results_postgres_types_as_integer_or_regtype_arrive_so() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let statement = client
        .prepare(
            "SELECT g, ntile(2) OVER (ORDER BY g), array_length(ARRAY[g], 1), pg_typeof(g), \
             pg_typeof(g)::text, 1::float FROM generate_series(1, 3) g",
        )
        .await
        .unwrap();
    let types: Vec<_> = statement
        .columns()
        .iter()
        .map(|c| c.type_().name().to_owned())
        .collect();
    assert_eq!(types, ["int4", "int4", "int4", "regtype", "text", "float8"]);
    // A regtype in binary is the type's oid.
    let row = client
        .query_one(
            "SELECT pg_typeof(1), pg_typeof(now()), pg_typeof(ARRAY['a'])",
            &[],
        )
        .await
        .unwrap();
    let oids: Vec<u32> = (0..3).map(|i| row.get::<_, Oid>(i).0).collect();
    assert_eq!(oids, [23, 1184, 1009]);
    server.stop().await;
}

/// An oid of any of the `reg*` types, as sent in binary.
struct Oid(u32);

impl<'a> tokio_postgres::types::FromSql<'a> for Oid {
    fn from_sql(
        _ty: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Oid(u32::from_be_bytes(raw.try_into()?)))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::REGTYPE
    }
}

#[tokio::test]
async fn result_columns_carry_postgres_types_and_names() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(CPU).await.unwrap();
    let statement = client
        .prepare("SELECT time, hostname, usage_user, usage_idle, ok, count(*) OVER (), 1, 2::int2, 3::int4, 1.5::real FROM cpu")
        .await
        .unwrap();
    let types: Vec<_> = statement
        .columns()
        .iter()
        .map(|c| c.type_().name().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "timestamptz",
            "text",
            "float8",
            "int8",
            "bool",
            "int8",
            "int4",
            "int2",
            "int4",
            "float4"
        ]
    );
    let names: Vec<_> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "time",
            "hostname",
            "usage_user",
            "usage_idle",
            "ok",
            "count",
            "?column?",
            "int2",
            "int4",
            "float4"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn arrays_arrive_as_postgres_arrays_in_binary() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    // tokio-postgres reads results in binary: the array header, element type
    // and NULL elements must be as array_send writes them.
    let row = client
        .query_one(
            "SELECT make_array('a', NULL, 'b c'), make_array(1, 2, 3), make_array(1.5::float8, -2.0::float8), \
             make_array(true, false), (SELECT array_agg(x) FROM (VALUES (7)) t(x) WHERE x > 7)",
            &[],
        )
        .await
        .unwrap();
    let types: Vec<_> = row
        .columns()
        .iter()
        .map(|c| c.type_().name().to_owned())
        .collect();
    // Integer literals are int4, as in PostgreSQL.
    assert_eq!(types, ["_text", "_int4", "_float8", "_bool", "_int4"]);
    let text: Vec<Option<String>> = row.get(0);
    assert_eq!(text, [Some("a".into()), None, Some("b c".into())]);
    assert_eq!(row.get::<_, Vec<i32>>(1), [1, 2, 3]);
    assert_eq!(row.get::<_, Vec<f64>>(2), [1.5, -2.0]);
    assert_eq!(row.get::<_, Vec<bool>>(3), [true, false]);
    assert_eq!(row.get::<_, Option<Vec<i32>>>(4), None);
    server.stop().await;
}

#[tokio::test]
async fn simple_protocol_returns_postgres_text() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(CPU).await.unwrap();
    let messages = client
        .simple_query(
            "INSERT INTO cpu VALUES ('2024-01-01 00:00:00.5+00', 'h', 'eu', 0.1, 7, false); \
             SELECT time, usage_user, ok, usage_idle, region FROM cpu",
        )
        .await
        .unwrap();
    let rows: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect();
    assert!(matches!(
        messages[0],
        SimpleQueryMessage::CommandComplete(1)
    ));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get(0), Some("2024-01-01 00:00:00.5+00"));
    assert_eq!(rows[0].get(1), Some("0.1"));
    assert_eq!(rows[0].get(2), Some("f"));
    assert_eq!(rows[0].get(3), Some("7"));
    assert_eq!(rows[0].get(4), Some("eu"));
    server.stop().await;
}

#[tokio::test]
async fn errors_carry_sqlstates_and_the_session_survives() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(CPU).await.unwrap();
    let cases = [
        ("SELECT * FROM missing", SqlState::UNDEFINED_TABLE),
        ("SELECT missing FROM cpu", SqlState::UNDEFINED_COLUMN),
        ("SELEKT 1", SqlState::SYNTAX_ERROR),
        ("SELECT 'x'::bigint", SqlState::INVALID_TEXT_REPRESENTATION),
        // PostgreSQL: operator does not exist: boolean = timestamp with time zone.
        (
            "SELECT * FROM cpu WHERE ok = now()",
            SqlState::UNDEFINED_FUNCTION,
        ),
        (
            "INSERT INTO cpu (hostname) VALUES ('h')",
            SqlState::NOT_NULL_VIOLATION,
        ),
        (
            "CREATE TABLE plain (a INT CHECK (a > 0))",
            SqlState::FEATURE_NOT_SUPPORTED,
        ),
        (CPU, SqlState::DUPLICATE_TABLE),
    ];
    for (sql, code) in cases {
        // Both protocols must report the same code.
        let simple = client.batch_execute(sql).await.unwrap_err();
        assert_eq!(simple.code(), Some(&code), "simple: {sql}: {simple}");
        let extended = client.query(sql, &[]).await.unwrap_err();
        assert_eq!(extended.code(), Some(&code), "extended: {sql}: {extended}");
    }
    let row = client
        .query_one("SELECT count(*) FROM cpu", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 0);
    server.stop().await;
}

#[tokio::test]
async fn parameters_are_inferred_in_where_values_and_limit() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(CPU).await.unwrap();
    let insert = client
        .prepare("INSERT INTO cpu (time, hostname, usage_user) VALUES ($1, $2, $3)")
        .await
        .unwrap();
    for i in 0..10i64 {
        let host = format!("h{}", i % 2);
        client
            .execute(&insert, &[&ts(i), &host, &(i as f64)])
            .await
            .unwrap();
    }
    let rows = client
        .query(
            "SELECT usage_user FROM cpu WHERE hostname = $1 AND time >= $2 ORDER BY time LIMIT $3",
            &[&"h1", &ts(4), &2i64],
        )
        .await
        .unwrap();
    let values: Vec<f64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(values, [5.0, 7.0]);
    // A NULL parameter.
    client
        .execute(
            &insert,
            &[&ts(100), &Option::<String>::None, &Option::<f64>::None],
        )
        .await
        .unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM cpu WHERE hostname IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_writers_and_readers_lose_nothing() {
    let server = TestServer::start().await;
    server.connect().await.batch_execute(CPU).await.unwrap();
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let client = server.connect().await;
        tasks.push(tokio::spawn(async move {
            for batch in 0..25 {
                let values: Vec<String> = (0..10)
                    .map(|i| {
                        format!(
                            "('2024-01-01 00:00:00+00'::timestamptz + INTERVAL '{} seconds', 'w{writer}', 'r', {i}, {batch}, true)",
                            batch * 10 + i
                        )
                    })
                    .collect();
                client
                    .batch_execute(&format!("INSERT INTO cpu VALUES {}", values.join(", ")))
                    .await
                    .unwrap();
            }
        }));
    }
    let reader = server.connect().await;
    tasks.push(tokio::spawn(async move {
        for _ in 0..20 {
            let n: i64 = reader
                .query_one("SELECT count(*) FROM cpu", &[])
                .await
                .unwrap()
                .get(0);
            // Each INSERT is applied whole.
            assert_eq!(n % 10, 0);
        }
    }));
    for task in tasks {
        task.await.unwrap();
    }
    let client = server.connect().await;
    let rows = client
        .query(
            "SELECT hostname, count(*), count(DISTINCT time) FROM cpu GROUP BY hostname ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    for row in rows {
        assert_eq!(row.get::<_, i64>(1), 250);
        assert_eq!(row.get::<_, i64>(2), 250);
    }
    server.stop().await;
}

#[tokio::test]
async fn settings_are_per_session_and_reported() {
    let server = TestServer::start().await;
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute("SET TIME ZONE 'Europe/Berlin'")
        .await
        .unwrap();
    let show = |rows: Vec<SimpleQueryMessage>| {
        rows.into_iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(
        show(a.simple_query("SHOW TimeZone").await.unwrap()),
        "Europe/Berlin"
    );
    assert_eq!(show(b.simple_query("SHOW TimeZone").await.unwrap()), "UTC");
    // timestamptz text follows the session time zone.
    let text = show(
        a.simple_query("SELECT TIMESTAMPTZ '2024-07-01 00:00:00+00'")
            .await
            .unwrap(),
    );
    assert_eq!(text, "2024-07-01 02:00:00+02");
    server.stop().await;
}
