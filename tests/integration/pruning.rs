//! Pruning is visible and real: after loading many days of data, a one-hour,
//! one-host query decodes only the blocks it needs; `ORDER BY time DESC LIMIT`
//! reads backwards without sorting; ungrouped aggregates read whole blocks'
//! statistics instead of decoding them.

use tokio_postgres::Client;

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

/// Five days at 10 s, four hosts, 1024-point blocks in daily shards.
async fn load(client: &Client) {
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
}

/// The EXPLAIN ANALYZE text of `query`.
async fn explain_analyze(client: &Client, query: &str) -> String {
    let plan: Vec<String> = client
        .query(&format!("EXPLAIN ANALYZE {query}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(1))
        .collect();
    plan.join("\n")
}

/// The plan line of the node named `name`.
fn node<'a>(plan: &'a str, name: &str) -> &'a str {
    plan.lines()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("no {name} in {plan}"))
}

#[tokio::test]
async fn one_hour_one_host_decodes_only_the_blocks_it_needs() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    load(&client).await;
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

    // Answered by the storage: from statistics where a block is whole,
    // decoded at the hour's edges.
    let plan = explain_analyze(&client, query).await;
    let scan = node(&plan, "SeriesAggregateExec");
    assert_eq!(figure(scan, "series"), 1, "{scan}");
    // host_1 has 10800 points over 5 daily shards: about 11 blocks of 1024.
    // One hour falls in one block, or two at a block edge.
    let scanned = figure(scan, "blocks_scanned");
    assert!((1..=2).contains(&scanned), "{scan}");
    assert!(figure(scan, "blocks_skipped") <= 2, "{scan}");
    assert!(figure(scan, "rows_decoded") <= 2048, "{scan}");
    assert!(scan.contains("pushed=["), "{scan}");

    // The same with a plain scan.
    let query = "SELECT v FROM cpu WHERE host = 'host_1' \
                 AND time >= '2024-01-03 10:00:00+00' AND time < '2024-01-03 11:00:00+00'";
    assert_eq!(client.query(query, &[]).await.unwrap().len(), 90);
    let plan = explain_analyze(&client, query).await;
    let scan = node(&plan, "SeriesScanExec");
    assert!((1..=2).contains(&figure(scan, "blocks_scanned")), "{scan}");
    assert!(figure(scan, "rows_decoded") <= 2048, "{scan}");
    server.stop().await;
}

#[tokio::test]
async fn newest_first_reads_backwards_without_a_sort() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    load(&client).await;
    let query = "SELECT time, v FROM cpu WHERE host = 'host_2' ORDER BY time DESC LIMIT 5";
    let rows = client.query(query, &[]).await.unwrap();
    let times: Vec<chrono::DateTime<chrono::Utc>> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(times.len(), 5);
    assert!(times.windows(2).all(|w| w[0] > w[1]), "{times:?}");
    assert_eq!(times[0].to_rfc3339(), "2024-01-05T23:59:40+00:00");

    let plan = explain_analyze(&client, query).await;
    assert!(!plan.contains("SortExec"), "{plan}");
    let scan = node(&plan, "SeriesScanExec");
    assert!(scan.contains("order=time_desc"), "{scan}");
    // The newest rows are in the last shard's head or its last block: no more
    // than one block is decoded, of the 11 the host has.
    assert!(figure(scan, "rows_decoded") <= 1024, "{scan}");
    server.stop().await;
}

#[tokio::test]
async fn whole_blocks_answer_aggregates_from_statistics() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    load(&client).await;
    let query = "SELECT count(*), min(v), max(v), sum(v), max(time) FROM cpu \
                 WHERE time >= '2024-01-02 00:00:00+00' AND time < '2024-01-04 00:00:00+00'";
    let defeated = "SELECT count(*), min(v + 0), max(v + 0), sum(v + 0), \
                    max(time + INTERVAL '0 seconds') FROM cpu \
                    WHERE time >= '2024-01-02 00:00:00+00' AND time < '2024-01-04 00:00:00+00'";
    let row = client.query_one(query, &[]).await.unwrap();
    let want = client.query_one(defeated, &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 2 * 8640);
    assert_eq!(row.get::<_, i64>(0), want.get::<_, i64>(0));
    for i in 1..4 {
        assert_eq!(row.get::<_, f64>(i), want.get::<_, f64>(i), "column {i}");
    }
    assert_eq!(
        row.get::<_, chrono::DateTime<chrono::Utc>>(4),
        want.get::<_, chrono::DateTime<chrono::Utc>>(4)
    );

    let plan = explain_analyze(&client, query).await;
    assert!(!plan.contains("AggregateExec: mode"), "{plan}");
    let aggregate = node(&plan, "SeriesAggregateExec");
    // Two whole days are whole shards, sealed when the next day began: every
    // block comes from its statistics and nothing is decoded.
    assert!(figure(aggregate, "blocks_from_stats") >= 16, "{aggregate}");
    assert_eq!(figure(aggregate, "rows_decoded"), 0, "{aggregate}");
    server.stop().await;
}

#[tokio::test]
async fn one_series_grouped_by_time_bucket_streams_without_a_sort() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    load(&client).await;
    let query = "SELECT time_bucket('1 hour', time) AS hour, count(*), max(v) FROM cpu \
                 WHERE host = 'host_3' GROUP BY hour ORDER BY hour";
    let rows = client.query(query, &[]).await.unwrap();
    // host_3 reports every 40 seconds for 5 days: 120 hours of 90 points.
    assert_eq!(rows.len(), 5 * 24);
    assert!(rows.iter().all(|r| r.get::<_, i64>(1) == 90));

    // The scan of one series is in time order and time_bucket keeps it, so
    // the aggregate runs in sorted mode and nothing sorts.
    let plan = explain_analyze(&client, query).await;
    assert!(!plan.contains("SortExec"), "{plan}");
    assert!(
        node(&plan, "AggregateExec: mode=Partial").contains("ordering_mode=Sorted"),
        "{plan}"
    );
    server.stop().await;
}

#[tokio::test]
async fn latest_point_per_series_decodes_one_block_per_series() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    load(&client).await;
    // Out of order: an old point arrives last and must not win.
    client
        .batch_execute("INSERT INTO cpu VALUES ('2024-01-01 00:00:05+00', 'host_1', -1)")
        .await
        .unwrap();
    let rows = |query: &'static str| {
        let client = &client;
        async move {
            client
                .query(query, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r.get::<_, String>(0),
                        r.get::<_, Option<f64>>(1),
                        r.get::<_, chrono::DateTime<chrono::Utc>>(2),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let last = "SELECT host, last(v, time), max(time) FROM cpu GROUP BY host ORDER BY host";
    let distinct_on = "SELECT DISTINCT ON (host) host, v, time FROM cpu ORDER BY host, time DESC";
    // The same questions in forms the rule leaves alone: full scans.
    let full_last = "SELECT host, last(v, time + INTERVAL '0 seconds'), max(time) FROM cpu \
                     GROUP BY host ORDER BY host";
    let full_distinct_on = "SELECT DISTINCT ON (host) host, v, time FROM cpu \
                            WHERE v > -1000 ORDER BY host, time DESC";
    let want = rows(full_last).await;
    assert_eq!(want.len(), 4);
    assert_eq!(want[1].2.to_rfc3339(), "2024-01-05T23:59:30+00:00");
    assert_eq!(rows(last).await, want);
    assert_eq!(rows(distinct_on).await, want);
    assert_eq!(rows(full_distinct_on).await, want);

    for query in [last, distinct_on] {
        let plan = explain_analyze(&client, query).await;
        let scan = node(&plan, "SeriesScanExec");
        assert!(scan.contains("latest_per_series"), "{plan}");
        assert_eq!(figure(scan, "output_rows"), 4, "{scan}");
        // Each host's newest rows are in its head or its newest block.
        assert!(figure(scan, "rows_decoded") <= 4 * 1024, "{scan}");
    }
    for query in [full_last, full_distinct_on] {
        let plan = explain_analyze(&client, query).await;
        assert!(!plan.contains("latest_per_series"), "{plan}");
    }
    server.stop().await;
}

#[tokio::test]
async fn gap_filling_reads_its_range_from_parameters_and_seeds_from_the_newest_blocks() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    load(&client).await;
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    // A window that starts an hour after the data ends: only seeding can
    // fill it, from each host's newest block.
    let query = "SELECT time_bucket_gapfill('1 hour', time) AS b, host, avg(v),
                        locf(avg(v), prev_observation())
                 FROM cpu WHERE time >= $1 AND time < $2 GROUP BY b, host ORDER BY host, b";
    let (start, finish) = (at("2024-01-05T22:00:00Z"), at("2024-01-06T03:00:00Z"));
    let rows = client.query(query, &[&start, &finish]).await.unwrap();
    // Four hosts, five buckets each; the last two hours had data.
    assert_eq!(rows.len(), 20);
    for host in rows.chunks(5) {
        let avg = |i: usize| host[i].get::<_, Option<f64>>(2);
        let locf = |i: usize| host[i].get::<_, Option<f64>>(3);
        assert!(avg(0).is_some() && avg(1).is_some(), "{host:?}");
        assert_eq!(locf(1), avg(1));
        for i in 2..5 {
            assert_eq!(avg(i), None);
            assert_eq!(locf(i), avg(1));
        }
    }
    let literal = query
        .replace("$1", "'2024-01-05 22:00:00+00'")
        .replace("$2", "'2024-01-06 03:00:00+00'");
    let plan = explain_analyze(&client, &literal).await;
    assert!(plan.contains("GapFillExec"), "{plan}");
    let seed = plan
        .lines()
        .find(|l| l.contains("SeriesScanExec") && l.contains("latest_per_series"))
        .unwrap_or_else(|| panic!("no latest-per-series seed scan in {plan}"));
    assert!(figure(seed, "rows_decoded") <= 4 * 1024, "{seed}");
    server.stop().await;
}

#[tokio::test]
async fn a_small_scan_stays_in_one_partition_and_a_large_one_is_spread() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    load(&client).await;
    // Four series over one hour: 360 rows, fewer than a batch holds. The
    // scan reports that bound, so nothing repartitions or merges.
    let small = "SELECT host, date_trunc('minute', time) AS minute, max(v) FROM cpu \
                 WHERE time >= '2024-01-03 10:00:00+00' AND time < '2024-01-03 11:00:00+00' \
                 GROUP BY host, minute ORDER BY host, minute";
    let rows = client.query(small, &[]).await.unwrap();
    assert_eq!(rows.len(), 4 * 60);
    let plan = explain_analyze(&client, small).await;
    assert!(!plan.contains("RepartitionExec"), "{plan}");
    assert!(!plan.contains("SortPreservingMergeExec"), "{plan}");
    assert!(!plan.contains("AggregateExec: mode=Partial"), "{plan}");

    // Every row of five days: spread over the partitions, aggregated in
    // each, then merged.
    let large = "SELECT host, count(*), max(v) FROM cpu GROUP BY host ORDER BY host";
    let rows = client.query(large, &[]).await.unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.get::<_, i64>(1) == 5 * 8640 / 4));
    // (The server plans for as many partitions as the machine has cores.)
    if std::thread::available_parallelism().is_ok_and(|n| n.get() > 1) {
        let plan = explain_analyze(&client, large).await;
        assert!(plan.contains("AggregateExec: mode=Partial"), "{plan}");
        assert!(plan.contains("RepartitionExec"), "{plan}");
    }
    server.stop().await;
}
