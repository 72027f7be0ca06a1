//! Pruning is visible and real: after loading many days of data, a one-hour,
//! one-host query decodes only the blocks it needs.

use crate::common::TestServer;

/// The `name=N` figure in an EXPLAIN line.
fn figure(text: &str, name: &str) -> u64 {
    let start = text
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        + name.len()
        + 1;
    text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn one_hour_one_host_decodes_only_the_blocks_it_needs() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE cpu (time TIMESTAMPTZ NOT NULL, host TEXT, v DOUBLE PRECISION);
             INSERT INTO cpu
             SELECT t, 'host_' || (extract(epoch FROM t)::bigint / 10 % 4)::text,
                    (extract(epoch FROM t)::bigint % 100)::double precision
             FROM generate_series(TIMESTAMPTZ '2024-01-01 00:00:00+00', TIMESTAMPTZ '2024-01-05 23:59:59+00',
                                  INTERVAL '10 seconds') AS s(t);",
        )
        .await
        .unwrap();
    let total: i64 = client
        .query_one("SELECT count(*) FROM cpu", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 5 * 8640);

    let query = "SELECT max(v), count(*) FROM cpu WHERE host = 'host_1' \
                 AND time >= '2024-01-03 10:00:00+00' AND time < '2024-01-03 11:00:00+00'";
    let row = client.query_one(query, &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(1), 90);

    let plan: Vec<String> = client
        .query(&format!("EXPLAIN ANALYZE {query}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(1))
        .collect();
    let plan = plan.join("\n");
    let scan = plan
        .lines()
        .find(|l| l.contains("SeriesScanExec"))
        .unwrap_or_else(|| panic!("no scan in {plan}"));
    assert_eq!(figure(scan, "series"), 1, "{scan}");
    // host_1 has 10800 points over 5 daily shards: about 11 blocks of 1024.
    // One hour falls in one block, or two at a block edge.
    let scanned = figure(scan, "blocks_scanned");
    assert!((1..=2).contains(&scanned), "{scan}");
    assert!(figure(scan, "blocks_skipped") <= 2, "{scan}");
    assert!(figure(scan, "rows_decoded") <= 2048, "{scan}");
    assert!(scan.contains("pushed=["), "{scan}");
    server.stop().await;
}
