//! The differential test: the same tricky rows loaded into EpochDB and a
//! PostgreSQL 15, the same seeded random queries run on both, every answer
//! compared as text. The grammar draws on what has gone wrong before: ANY
//! and ALL over subqueries, IN lists with NULLs, NOT IN over a subquery
//! with NULLs, `-0`, `NaN` and the infinities, integer extremes and
//! overflow, casts and rounding, float text, the session time zone across
//! daylight-saving edges, `AT TIME ZONE`, intervals and `to_char`.
//!
//! A query agrees when both answer the same rows (in order where the query
//! orders them totally, as a multiset otherwise), or both fail. EpochDB
//! refusing with 0A000 where PostgreSQL answers is counted, not failed: it
//! is an honest answer. Anything else is a difference.

use tokio_postgres::Client;

use crate::generate::Rng;

/// The table both servers get, and its rows: NULLs, `±0`, `±Infinity`,
/// `NaN`, integer extremes, out-of-order and duplicate times, and times
/// either side of 2024's daylight-saving changes in New York and Berlin.
const SETUP: &[&str] = &[
    "CREATE TABLE d (time TIMESTAMPTZ NOT NULL, k TEXT, id INTEGER, i INTEGER, b BIGINT, f DOUBLE PRECISION)",
    "INSERT INTO d VALUES
      ('2024-01-01 00:00:00+00', 'a', 1, 0, 0, 0),
      ('2023-12-31 23:59:59+00', 'a', 2, 7, 42, '-0'),
      ('2024-01-01 00:00:00+00', 'b', 3, 2147483647, 9223372036854775807, 1.5),
      ('2024-03-10 06:30:00+00', 'b', 4, -2147483648, -9223372036854775808, 'Infinity'),
      ('2024-03-10 07:30:00+00', 'c', 5, NULL, -1, '-Infinity'),
      ('2024-11-03 05:30:00+00', 'c', 6, 3, NULL, 'NaN'),
      ('2024-11-03 06:30:00+00', NULL, 7, -7, 1, NULL),
      ('2024-03-31 00:30:00+00', 'a', 8, 100, 1000000, 1e308),
      ('2024-03-31 01:30:00+00', 'b', 9, -100, -5, -2.5),
      ('2024-10-27 00:30:00+00', NULL, 10, 1, 2, 2.5),
      ('2024-10-27 01:30:00+00', 'a', 11, 2, 3, 'NaN'),
      ('2024-06-15 12:34:56.789+00', 'c', 12, 5, 5, 0.1),
      ('2024-02-29 23:00:00+00', 'b', 13, NULL, 7, -1e-300),
      ('2024-12-31 23:00:00+00', 'a', 14, 9, 9223372036854775806, 3.5)",
];

const ZONES: &[&str] = &["UTC", "America/New_York", "Asia/Kolkata", "Europe/Berlin"];

/// Floats worth comparing with.
const FLOATS: &[&str] = &[
    "0",
    "'-0'::float8",
    "1.5",
    "-2.5",
    "'Infinity'::float8",
    "'-Infinity'::float8",
    "'NaN'::float8",
    "NULL::float8",
    "1e308",
];

const BIGINTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "42",
    "9223372036854775807",
    "(-9223372036854775807 - 1)",
    "NULL::bigint",
];

/// Wall times with no daylight-saving gap or repeat in any of [`ZONES`].
const TIMES: &[&str] = &[
    "2024-01-01 00:00:00",
    "2023-12-31 19:00:00",
    "2024-03-10 12:00:00",
    "2024-06-15 08:00:00",
    "2024-11-03 12:00:00",
];

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len())]
}

/// A condition on a row of `d`.
fn predicate(rng: &mut Rng, depth: usize) -> String {
    let choices = if depth > 1 { 9 } else { 12 };
    match rng.below(choices) {
        0 => format!(
            "f {} {}",
            pick(rng, &["=", "<>", "<", "<=", ">", ">="]),
            pick(rng, FLOATS)
        ),
        1 => format!(
            "b {} {}",
            pick(rng, &["=", "<>", "<", ">="]),
            pick(rng, BIGINTS)
        ),
        2 => {
            let n = 1 + rng.below(5);
            let items: Vec<&str> = (0..n).map(|_| pick(rng, FLOATS)).collect();
            format!(
                "f {}IN ({})",
                if rng.below(2) == 0 { "" } else { "NOT " },
                items.join(", ")
            )
        }
        3 => format!(
            "k {}IN ({})",
            if rng.below(2) == 0 { "" } else { "NOT " },
            ["'a'", "'b'", "NULL", "'zzz'"][..1 + rng.below(4)].join(", ")
        ),
        4 => format!(
            "{} {} {} (SELECT {} FROM d AS s WHERE s.k = '{}')",
            pick(rng, &["f", "b"]),
            pick(rng, &["=", "<>", "<", ">", ">="]),
            pick(rng, &["ANY", "ALL"]),
            pick(rng, &["f", "b"]),
            pick(rng, &["a", "b", "c", "zzz"])
        ),
        5 => format!(
            "{} {}IN (SELECT {} FROM d AS s WHERE s.k {})",
            pick(rng, &["f", "b", "NULL::float8"]),
            if rng.below(2) == 0 { "" } else { "NOT " },
            pick(rng, &["f", "b"]),
            pick(rng, &["= 'a'", "= 'c'", "IS NULL", "= 'zzz'"])
        ),
        6 => format!(
            "time {} '{}'",
            pick(rng, &["=", "<", ">="]),
            pick(rng, TIMES)
        ),
        7 => format!(
            "time::date {} '{}'",
            pick(rng, &["=", "<", ">="]),
            pick(
                rng,
                &["2024-01-01", "2023-12-31", "2024-03-10", "2024-11-03"]
            )
        ),
        8 => format!(
            "'2024-12-31 00:00:00+00'::timestamptz - time {} interval '{}'",
            pick(rng, &[">", "<=", "="]),
            pick(
                rng,
                &["1 day", "30 days", "1 month", "24 hours", "300 days"]
            )
        ),
        9 => format!("({}) IS NULL", predicate(rng, depth + 1)),
        10 => format!("NOT ({})", predicate(rng, depth + 1)),
        _ => format!(
            "({}) {} ({})",
            predicate(rng, depth + 1),
            pick(rng, &["AND", "OR"]),
            predicate(rng, depth + 1)
        ),
    }
}

/// A value computed from a row of `d`.
fn scalar(rng: &mut Rng) -> String {
    match rng.below(18) {
        0 => format!(
            "b {} {}",
            pick(rng, &["+", "-", "*"]),
            pick(rng, &["1", "2", "-1", "b"])
        ),
        1 => format!("i {} i", pick(rng, &["+", "-", "*"])),
        2 => "-b".to_owned(),
        3 => format!(
            "f {} {}",
            pick(rng, &["*", "+", "/"]),
            pick(rng, &["2", "f", "-1"])
        ),
        4 => format!("f::{}", pick(rng, &["bigint", "integer", "smallint"])),
        5 => "round(f)".to_owned(),
        6 => "f::text".to_owned(),
        7 => "time::date".to_owned(),
        8 => format!(
            "extract({} FROM time)",
            pick(rng, &["hour", "day", "month", "year", "dow", "minute"])
        ),
        9 => format!(
            "date_trunc('{}', time)",
            pick(rng, &["day", "hour", "month"])
        ),
        10 => format!("time AT TIME ZONE '{}'", pick(rng, ZONES)),
        11 => format!(
            "to_char(time, '{}')",
            pick(
                rng,
                &[
                    "YYYY-MM-DD HH24:MI:SS",
                    "Dy DD Mon YYYY HH12 AM TZ",
                    "IYYY-IW ID",
                    "FMMonth DDth"
                ]
            )
        ),
        12 => "time - '2024-01-01 00:00:00+00'::timestamptz".to_owned(),
        13 => "time::timestamp".to_owned(),
        14 => "time::text".to_owned(),
        15 => format!(
            "b::{}",
            pick(rng, &["integer", "smallint", "float8", "text"])
        ),
        16 => "(time - '2024-01-01 00:00:00+00'::timestamptz) > interval '1 day'".to_owned(),
        _ => format!("i::{}", pick(rng, &["bigint", "smallint", "float4"])),
    }
}

/// One query and whether its rows come in a total order.
fn query(rng: &mut Rng) -> (String, bool) {
    let filter = predicate(rng, 0);
    match rng.below(6) {
        0 | 1 => (format!("SELECT id FROM d WHERE {filter} ORDER BY id"), true),
        2 => (format!("SELECT count(*) FROM d WHERE {filter}"), true),
        3 => (
            format!(
                // `+ 0` makes a `-0` minimum `0`: which of `-0` and `0`
                // PostgreSQL's min keeps depends on the order of the rows.
                "SELECT k, count(*), min(f) + 0, max(f) + 0, sum(b), sum(i), count(DISTINCT f) \
                 FROM d WHERE {filter} GROUP BY k"
            ),
            false,
        ),
        4 => (
            format!("SELECT id FROM d WHERE {filter} ORDER BY f NULLS FIRST, id"),
            true,
        ),
        _ => (
            format!(
                "SELECT id, {} FROM d WHERE {filter} ORDER BY id",
                scalar(rng)
            ),
            true,
        ),
    }
}

/// One server's answer: rows as text, or an error's SQLSTATE.
type Answer = Result<Vec<Vec<Option<String>>>, String>;

async fn answer(client: &Client, sql: &str) -> Answer {
    match client.simple_query(sql).await {
        Ok(messages) => Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect()),
        Err(e) => Err(e
            .code()
            .map_or_else(|| e.to_string(), |c| c.code().to_owned())),
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) queries: usize,
    pub(crate) agreed: usize,
    /// Of those, the queries both servers failed.
    pub(crate) both_failed: usize,
    /// Refused by EpochDB (0A000) where PostgreSQL answered.
    pub(crate) refused: usize,
    pub(crate) differences: Vec<String>,
}

/// Loads both servers and runs `count` queries drawn with `seed`.
pub(crate) async fn run(
    epochdb: &Client,
    postgres: &Client,
    seed: u64,
    count: usize,
) -> Result<Report, crate::Error> {
    for client in [epochdb, postgres] {
        client.batch_execute("DROP TABLE IF EXISTS d").await?;
        for statement in SETUP {
            client.batch_execute(statement).await?;
        }
    }
    let mut rng = Rng::new(seed);
    let mut report = Report::default();
    for _ in 0..count {
        let zone = pick(&mut rng, ZONES);
        let set = format!("SET TIME ZONE '{zone}'");
        epochdb.batch_execute(&set).await?;
        postgres.batch_execute(&set).await?;
        let (sql, ordered) = query(&mut rng);
        report.queries += 1;
        let ours = answer(epochdb, &sql).await;
        let theirs = answer(postgres, &sql).await;
        match (ours, theirs) {
            (Err(_), Err(_)) => {
                report.agreed += 1;
                report.both_failed += 1;
            }
            (Err(code), Ok(_)) if code == "0A000" => report.refused += 1,
            (Ok(mut a), Ok(mut b)) => {
                if !ordered {
                    a.sort();
                    b.sort();
                }
                if a == b {
                    report.agreed += 1;
                } else {
                    report.differences.push(format!(
                        "[{zone}] {sql}\n  EpochDB:    {a:?}\n  PostgreSQL: {b:?}"
                    ));
                }
            }
            (a, b) => report.differences.push(format!(
                "[{zone}] {sql}\n  EpochDB:    {a:?}\n  PostgreSQL: {b:?}"
            )),
        }
    }
    Ok(report)
}
