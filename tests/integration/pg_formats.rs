//! The text forms of `pgtype` against the real PostgreSQL 15 server: a
//! sample of values of each type is printed by PostgreSQL's output functions
//! (the simple protocol returns their text) and by ours, and must read the
//! same. Input spellings PostgreSQL accepts are read back the same way.

use epochdb::pgtype;

use crate::common::Rng;
use crate::common::postgres::TempPostgres;

async fn connect(pg: &TempPostgres) -> tokio_postgres::Client {
    let config = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        pg.port
    );
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The text of each value of a one-row query, as the server printed it.
async fn texts(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    let messages = client.simple_query(sql).await.unwrap();
    let row = messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .unwrap();
    (0..row.len())
        .map(|i| row.get(i).unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn text_forms_match_postgres_15() {
    let pg = TempPostgres::start(512).await.expect("PostgreSQL 15");
    let client = connect(&pg).await;
    let mut sample = Rng(0x5EED_F00D);

    // float8 and float4: random bit patterns and the edges, given to
    // PostgreSQL in an exact spelling.
    let mut doubles: Vec<f64> = (0..300).map(|_| f64::from_bits(sample.next())).collect();
    doubles.extend([
        0.0,
        -0.0,
        1.0,
        0.1,
        1e15,
        1e-5,
        123456789012345.0,
        f64::MAX,
        f64::MIN_POSITIVE,
    ]);
    doubles.extend([f64::INFINITY, f64::NEG_INFINITY, f64::NAN]);
    for chunk in doubles.chunks(50) {
        let literals: Vec<String> = chunk
            .iter()
            .map(|v| {
                format!(
                    "'{}'::float8, '{}'::float4",
                    literal(*v),
                    literal(*v as f32 as f64)
                )
            })
            .collect();
        let printed = texts(&client, &format!("SELECT {}", literals.join(", "))).await;
        for (i, v) in chunk.iter().enumerate() {
            assert_eq!(printed[2 * i], pgtype::float8_out(*v), "float8 {v:e}");
            assert_eq!(
                printed[2 * i + 1],
                pgtype::float4_out(*v as f32),
                "float4 {v:e}"
            );
        }
    }

    // timestamp, timestamptz (UTC and two zones) and date over five
    // millennia, and intervals.
    let zones = ["UTC", "Asia/Kolkata", "America/New_York"];
    for _ in 0..10 {
        let micros: Vec<i64> = (0..30)
            .map(|_| (sample.next() % 200_000_000_000_000_000) as i64 - 62_000_000_000_000_000)
            .collect();
        for zone in zones {
            client
                .simple_query(&format!("SET TimeZone = '{zone}'"))
                .await
                .unwrap();
            let columns: Vec<String> = micros
                .iter()
                .map(|m| {
                    // Whole days and microseconds, each exact in the float
                    // factor PostgreSQL multiplies an interval by.
                    let (days, micros) = (m.div_euclid(86_400_000_000), m.rem_euclid(86_400_000_000));
                    let offset = format!("{days} * interval '1 day' + {micros} * interval '1 microsecond'");
                    format!(
                        "timestamp 'epoch' + {offset}, (timestamp 'epoch' + {offset}) AT TIME ZONE 'UTC', \
                         date 'epoch' + {days}"
                    )
                })
                .collect();
            let sql = format!("SELECT {}", columns.join(", "));
            let printed = texts(&client, &sql).await;
            let tz: arrow::array::timezone::Tz = zone.parse().unwrap();
            for (i, m) in micros.iter().enumerate() {
                assert_eq!(printed[3 * i], pgtype::timestamp_out(*m), "timestamp {m}");
                assert_eq!(
                    printed[3 * i + 1],
                    pgtype::timestamptz_out(*m, Some(&tz)),
                    "timestamptz {m} in {zone}"
                );
                let days = m.div_euclid(86_400_000_000) as i32;
                assert_eq!(printed[3 * i + 2], pgtype::date_out(days), "date {days}");
            }
        }
    }
    client.simple_query("SET TimeZone = 'UTC'").await.unwrap();
    for (months, days, micros) in [
        (0, 0, 0),
        (14, 3, 3_723_000_000),
        (0, 1, 0),
        (0, 0, -1_500_000),
        (-13, -2, 86_399_999_999),
        (1, -1, 1),
        (-1, 0, 0),
        (12, 0, 0),
        (-12, 1, -1),
        (0, -1, 3_600_000_000),
        (0, 0, 360_000_000_000),
    ] {
        let sql = format!(
            "SELECT interval '1 month' * {months} + interval '1 day' * {days} \
             + interval '1 microsecond' * {micros}"
        );
        assert_eq!(
            texts(&client, &sql).await[0],
            pgtype::interval_out(months, days, micros),
            "{sql}"
        );
    }

    // bool, integers and bytea; then spellings PostgreSQL reads, read by us.
    let printed = texts(
        &client,
        "SELECT true, false, (-32768)::int2, 2147483647::int4, (-9223372036854775808)::int8, \
         '\\x00ff10'::bytea, ''::bytea",
    )
    .await;
    let ours = [
        pgtype::bool_out(true).to_owned(),
        pgtype::bool_out(false).to_owned(),
        "-32768".to_owned(),
        "2147483647".to_owned(),
        "-9223372036854775808".to_owned(),
        pgtype::bytea_out(&[0, 255, 16]),
        pgtype::bytea_out(&[]),
    ];
    assert_eq!(printed, ours);
    for spelling in [" yes", "OFF ", "t", "1", "fa"] {
        let theirs = texts(&client, &format!("SELECT '{spelling}'::bool")).await;
        let ours = pgtype::bool_in(spelling).map(pgtype::bool_out).unwrap();
        assert_eq!(theirs[0], ours, "{spelling:?}");
    }
    for spelling in [" 1.5e3 ", "-inf", "Infinity", "+0.25", "nan", "1e-310"] {
        let theirs = texts(&client, &format!("SELECT '{spelling}'::float8")).await;
        let ours = pgtype::float8_out(pgtype::float8_in(spelling).unwrap());
        assert_eq!(theirs[0], ours, "{spelling:?}");
    }
    for spelling in ["\\x4A6b", "a\\\\b\\101"] {
        let theirs = texts(
            &client,
            &format!("SELECT E'{}'::bytea", spelling.replace('\\', "\\\\")),
        )
        .await;
        let ours = pgtype::bytea_out(&pgtype::bytea_in(spelling).unwrap());
        assert_eq!(theirs[0], ours, "{spelling:?}");
    }
}

/// A spelling of `v` that PostgreSQL reads back exactly.
fn literal(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        format!("{v:e}")
    }
}
