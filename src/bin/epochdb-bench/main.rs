//! `epochdb-bench`: the TSBS devops (cpu-only) benchmark, against a running
//! EpochDB and, with `--compare postgres`, side by side with a PostgreSQL 15
//! that the tool starts itself. See docs/BENCHMARKS.md.
//!
//! ```sh
//! cargo run --release --bin epochdb-bench -- --hosts 1000 --hours 24 --compare postgres
//! ```
//!
//! With `--differential N` it runs instead the differential test against
//! PostgreSQL 15 (see `differential.rs`): N seeded random queries over
//! tricky rows, every answer compared.
// A command-line tool: its report is its output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod differential;
mod generate;
mod http;
mod postgres;
mod queries;
mod subscribe;

use std::collections::HashMap;
use std::ops::Range;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use futures::SinkExt;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use generate::{FIELDS, Rng, Scale};
use postgres::TempPostgres;
use queries::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LoadMethod {
    /// `COPY cpu FROM STDIN`, text format.
    Copy,
    /// Multi-row `INSERT` statements.
    Insert,
    /// InfluxDB line protocol over HTTP (`POST /write`), to `--http`.
    LpHttp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Compare {
    /// A PostgreSQL 15 in a temp directory, indexed as TSBS indexes it.
    Postgres,
}

/// The TSBS devops cpu-only benchmark.
#[derive(Debug, Parser)]
#[command(name = "epochdb-bench", version)]
struct Args {
    /// EpochDB's address.
    #[arg(long, default_value = "127.0.0.1:5432")]
    epochdb: String,
    /// Simulated hosts.
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Hours of data, a row per host every 10 s.
    #[arg(long, default_value_t = 24)]
    hours: usize,
    /// Seed of the data and the queries' parameters.
    #[arg(long, default_value_t = 123)]
    seed: u64,
    /// How to load.
    #[arg(long, value_enum, default_value = "copy")]
    load: LoadMethod,
    /// EpochDB's HTTP listener, for `--load lp-http`.
    #[arg(long, default_value = "127.0.0.1:8086")]
    http: String,
    /// Lines per line protocol request.
    #[arg(long, default_value_t = 5000)]
    lp_batch: usize,
    /// Rows per INSERT statement.
    #[arg(long, default_value_t = 1000)]
    insert_batch: usize,
    /// Concurrent loading connections, each with its share of the hosts.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Timed runs of each query type, each with its own parameters, after
    /// one untimed warm-up.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Only these query types (comma-separated TSBS names).
    #[arg(long, value_delimiter = ',')]
    queries: Vec<String>,
    /// Query the data already loaded (by a run with the same --hosts,
    /// --hours and --seed) instead of loading it.
    #[arg(long)]
    no_load: bool,
    /// Run the same load and queries on PostgreSQL too, check that both
    /// return the same rows, and compare.
    #[arg(long, value_enum)]
    compare: Option<Compare>,
    /// Run the differential test instead: this many seeded random queries
    /// (with --seed) on EpochDB and on a PostgreSQL 15 the tool starts,
    /// every answer compared.
    #[arg(long)]
    differential: Option<usize>,
    /// Measure live subscriptions instead: delivery latency with
    /// `--subscribers` subscribers (INSERT, COPY and line protocol over
    /// `--http`), and COPY ingest with one subscription per host against
    /// none.
    #[arg(long)]
    subscribe: bool,
    /// Subscribers of the latency measurement.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One server's answers and timings.
#[derive(Debug, Default)]
struct Results {
    /// Per query type, the latency of each timed run.
    latencies: Vec<Vec<Duration>>,
    /// Per query type and run, the rows as text.
    rows: Vec<Vec<Vec<Vec<Option<String>>>>>,
}

#[derive(Debug)]
struct Load {
    rows: u64,
    elapsed: Duration,
}

async fn connect(config: &str) -> Result<Client, Error> {
    let (client, connection) = tokio_postgres::connect(config, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("connection: {e}");
        }
    });
    Ok(client)
}

fn epochdb_config(address: &str) -> Result<String, Error> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("--epochdb {address}: expected HOST:PORT"))?;
    Ok(format!(
        "host={host} port={port} user=postgres dbname=postgres"
    ))
}

/// Hosts `0..hosts` split into `workers` ranges.
fn shares(hosts: usize, workers: usize) -> Vec<Range<usize>> {
    let workers = workers.clamp(1, hosts.max(1));
    (0..workers)
        .map(|w| hosts * w / workers..hosts * (w + 1) / workers)
        .filter(|r| !r.is_empty())
        .collect()
}

/// Loads one worker's hosts.
async fn load_share(
    config: String,
    scale: Scale,
    hosts: Range<usize>,
    method: LoadMethod,
    batches: (usize, usize),
    http: String,
) -> Result<(), Error> {
    let (insert_batch, lp_batch) = batches;
    if method == LoadMethod::LpHttp {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
        let generator = tokio::task::spawn_blocking(move || {
            generate::line_protocol(scale, hosts, lp_batch, |t| tx.blocking_send(t).is_ok())
        });
        let mut connection = http::Connection::open(&http).await?;
        while let Some(body) = rx.recv().await {
            let (status, answer) = connection
                .post("/write?db=postgres", body.as_bytes())
                .await?;
            if status != 204 {
                return Err(format!("POST /write answered {status}: {answer}").into());
            }
        }
        generator.await?;
        return Ok(());
    }
    let client = connect(&config).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
    let generator = tokio::task::spawn_blocking(move || match method {
        LoadMethod::Copy => {
            generate::copy_text(scale, hosts, 10_000, |t| tx.blocking_send(t).is_ok())
        }
        LoadMethod::Insert | LoadMethod::LpHttp => {
            generate::insert_statements(scale, hosts, insert_batch, |s| tx.blocking_send(s).is_ok())
        }
    });
    match method {
        LoadMethod::Copy => {
            let sink = client.copy_in::<_, Bytes>("COPY cpu FROM STDIN").await?;
            let mut sink = Box::pin(sink);
            while let Some(chunk) = rx.recv().await {
                sink.send(Bytes::from(chunk)).await?;
            }
            sink.as_mut().finish().await?;
        }
        LoadMethod::Insert | LoadMethod::LpHttp => {
            while let Some(statement) = rx.recv().await {
                client.batch_execute(&statement).await?;
            }
        }
    }
    generator.await?;
    Ok(())
}

/// Creates the table and loads the dataset with `workers` connections.
async fn load(
    client: &Client,
    config: &str,
    scale: Scale,
    method: LoadMethod,
    args: &Args,
) -> Result<Load, Error> {
    client.batch_execute("DROP TABLE IF EXISTS cpu").await?;
    client.batch_execute(&generate::create_table()).await?;
    let started = Instant::now();
    load_rows(config, scale, method, args).await?;
    Ok(Load {
        rows: scale.rows(),
        elapsed: started.elapsed(),
    })
}

/// Loads the dataset into the existing table with `workers` connections.
async fn load_rows(
    config: &str,
    scale: Scale,
    method: LoadMethod,
    args: &Args,
) -> Result<(), Error> {
    let tasks: Vec<_> = shares(scale.hosts, args.workers)
        .into_iter()
        .map(|hosts| {
            tokio::spawn(load_share(
                config.to_owned(),
                scale,
                hosts,
                method,
                (args.insert_batch, args.lp_batch),
                args.http.clone(),
            ))
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// The query instances of each type, the same for every server.
fn instances(kinds: &[Kind], scale: &Scale, runs: usize) -> Vec<Vec<String>> {
    kinds
        .iter()
        .map(|kind| {
            let name = kind.name();
            let salt = name.bytes().fold(scale.seed, |h, b| {
                h.rotate_left(5) ^ u64::from(b).wrapping_mul(0x100_0000_01B3)
            });
            let mut rng = Rng::new(salt);
            (0..=runs).map(|_| kind.sql(scale, &mut rng)).collect()
        })
        .collect()
}

async fn rows_of(client: &Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, Error> {
    let mut rows = Vec::new();
    for message in client.simple_query(sql).await? {
        if let SimpleQueryMessage::Row(row) = message {
            rows.push(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Runs every instance: the first untimed, the rest timed.
async fn run_queries(client: &Client, instances: &[Vec<String>]) -> Result<Results, Error> {
    let mut results = Results::default();
    for queries in instances {
        let mut latencies = Vec::new();
        let mut answers = Vec::new();
        for (i, sql) in queries.iter().enumerate() {
            let started = Instant::now();
            let rows = rows_of(client, sql)
                .await
                .map_err(|e| format!("{sql}: {e}"))?;
            let elapsed = started.elapsed();
            if i > 0 {
                latencies.push(elapsed);
            }
            answers.push(rows);
        }
        results.latencies.push(latencies);
        results.rows.push(answers);
    }
    Ok(results)
}

/// Whether two cells agree: the same text, or numbers equal to 1e-9.
fn same_cell(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) if a == b => true,
        (Some(a), Some(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => false,
        },
        (None, None) => true,
        _ => false,
    }
}

/// The first difference between two answers, if any.
fn difference(
    kind: Kind,
    mut ours: Vec<Vec<Option<String>>>,
    mut theirs: Vec<Vec<Option<String>>>,
) -> Option<String> {
    if kind.unordered() {
        ours.sort();
        theirs.sort();
    }
    if ours.len() != theirs.len() {
        return Some(format!("{} rows against {}", ours.len(), theirs.len()));
    }
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        if a.len() != b.len() || !a.iter().zip(b).all(|(x, y)| same_cell(x, y)) {
            return Some(format!("row {i}: {a:?} against {b:?}"));
        }
    }
    None
}

/// The pid of the process listening on local TCP port `port`, from /proc.
fn listener_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && *state == "0A" {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.to_string_lossy() == *i)
            {
                return Some(pid);
            }
        }
    }
    None
}

/// A process's resident memory in bytes.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn total_memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb / 1024)
}

async fn scalar(client: &Client, sql: &str) -> Result<Option<f64>, Error> {
    let rows = rows_of(client, sql).await?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|v| v.parse().ok()))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and 95th percentile (nearest rank).
fn median_p95(latencies: &[Duration]) -> (Duration, Duration) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    let median = sorted[(sorted.len() - 1) / 2];
    let rank = ((sorted.len() as f64) * 0.95).ceil() as usize;
    (median, sorted[rank.clamp(1, sorted.len()) - 1])
}

fn report_load(server: &str, load: &Load, method: LoadMethod, workers: usize) {
    let secs = load.elapsed.as_secs_f64();
    println!(
        "{server}: loaded {} rows with {} ({workers} connections) in {secs:.2} s: {:.0} rows/s",
        load.rows,
        match method {
            LoadMethod::Copy => "COPY",
            LoadMethod::Insert => "INSERT",
            LoadMethod::LpHttp => "line protocol over HTTP",
        },
        load.rows as f64 / secs.max(1e-9),
    );
}

/// The differential test; whether every query agreed.
async fn run_differential(args: &Args, count: usize) -> Result<bool, Error> {
    let epochdb = connect(&epochdb_config(&args.epochdb)?).await?;
    let pg = TempPostgres::start(512).await?;
    let postgres = connect(&format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        pg.port
    ))
    .await?;
    let report = differential::run(&epochdb, &postgres, args.seed, count).await?;
    for difference in &report.differences {
        println!("DIFFERENCE {difference}");
    }
    println!(
        "differential test, seed {}: {} queries, {} agree ({} of them both failing), {} refused by EpochDB (0A000), {} differ",
        args.seed,
        report.queries,
        report.agreed,
        report.both_failed,
        report.refused,
        report.differences.len()
    );
    Ok(report.differences.is_empty())
}

async fn run(args: Args) -> Result<bool, Error> {
    if let Some(count) = args.differential {
        return run_differential(&args, count).await;
    }
    if args.subscribe {
        let config = epochdb_config(&args.epochdb)?;
        return subscribe::run(&args, &config, args.subscribers).await;
    }
    let scale = Scale {
        hosts: args.hosts,
        steps: args.hours * 3600 / generate::INTERVAL_SECS as usize,
        seed: args.seed,
    };
    let kinds: Vec<Kind> = queries::ALL
        .into_iter()
        .filter(|k| args.queries.is_empty() || args.queries.contains(&k.name()))
        .collect();
    if kinds.is_empty() {
        return Err("no query type matches --queries".into());
    }
    let values = scale.rows() * FIELDS.len() as u64;
    println!(
        "TSBS devops cpu-only: {} hosts x {} h = {} rows, {} values; seed {}",
        scale.hosts,
        args.hours,
        scale.rows(),
        values,
        scale.seed
    );
    let queries = instances(&kinds, &scale, args.runs);

    let config = epochdb_config(&args.epochdb)?;
    let epochdb = connect(&config).await?;
    if !args.no_load {
        let loaded = load(&epochdb, &config, scale, args.load, &args).await?;
        report_load("EpochDB", &loaded, args.load, args.workers);
    }
    let bytes = scalar(
        &epochdb,
        "SELECT sum(bytes) FROM epochdb.storage WHERE table_schema = 'public' AND table_name = 'cpu'",
    )
    .await?
    .unwrap_or(0.0);
    let port = args
        .epochdb
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(5432);
    let server_rss = listener_pid(port).and_then(rss);
    println!(
        "EpochDB: the engine holds {:.1} MB for cpu, {:.3} bytes per value; server RSS {}",
        bytes / 1e6,
        bytes / values.max(1) as f64,
        server_rss.map_or("unknown".to_owned(), |r| format!(
            "{:.1} MB",
            r as f64 / 1e6
        )),
    );
    let ours = run_queries(&epochdb, &queries).await?;

    let theirs = match args.compare {
        None => None,
        Some(Compare::Postgres) => {
            let pg = TempPostgres::start(total_memory_mb()).await?;
            let pg_config = format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                pg.port
            );
            let client = connect(&pg_config).await?;
            let loaded = load(&client, &pg_config, scale, args.load, &args).await?;
            report_load("PostgreSQL", &loaded, args.load, args.workers);
            // TSBS's TimescaleDB loader's indexes, on a plain table.
            let started = Instant::now();
            for statement in [
                "CREATE INDEX ON cpu (hostname, time DESC)",
                "CREATE INDEX ON cpu (time DESC)",
                "VACUUM ANALYZE cpu",
            ] {
                client.batch_execute(statement).await?;
            }
            println!(
                "PostgreSQL: indexed and analyzed in {:.2} s",
                started.elapsed().as_secs_f64()
            );
            let size = scalar(&client, "SELECT pg_total_relation_size('cpu')")
                .await?
                .unwrap_or(0.0);
            println!(
                "PostgreSQL: table and indexes {:.1} MB, {:.3} bytes per value",
                size / 1e6,
                size / values.max(1) as f64
            );
            let results = run_queries(&client, &queries).await?;
            drop(client);
            drop(pg);
            Some(results)
        }
    };

    let mut identical = true;
    println!();
    match &theirs {
        None => {
            println!("{:<24} {:>12} {:>12}", "query", "median ms", "p95 ms");
            for (i, kind) in kinds.iter().enumerate() {
                let (median, p95) = median_p95(&ours.latencies[i]);
                println!(
                    "{:<24} {:>12.2} {:>12.2}",
                    kind.name(),
                    millis(median),
                    millis(p95)
                );
            }
        }
        Some(theirs) => {
            println!(
                "{:<24} {:>14} {:>10} {:>16} {:>10} {:>9}",
                "query", "EpochDB median", "p95", "PostgreSQL median", "p95", "speed-up"
            );
            let mut log_sum = 0.0;
            let mut mismatches: HashMap<String, String> = HashMap::new();
            for (i, kind) in kinds.iter().enumerate() {
                let (median, p95) = median_p95(&ours.latencies[i]);
                let (pg_median, pg_p95) = median_p95(&theirs.latencies[i]);
                let ratio = millis(pg_median) / millis(median).max(1e-6);
                log_sum += ratio.ln();
                println!(
                    "{:<24} {:>11.2} ms {:>7.2} ms {:>13.2} ms {:>7.2} ms {:>8.1}x",
                    kind.name(),
                    millis(median),
                    millis(p95),
                    millis(pg_median),
                    millis(pg_p95),
                    ratio
                );
                for (run, (a, b)) in ours.rows[i].iter().zip(&theirs.rows[i]).enumerate() {
                    if let Some(diff) = difference(*kind, a.clone(), b.clone()) {
                        mismatches
                            .entry(kind.name())
                            .or_insert(format!("{}\n    {diff}", queries[i][run]));
                    }
                }
            }
            println!(
                "geometric mean speed-up over {} query types: {:.1}x",
                kinds.len(),
                (log_sum / kinds.len() as f64).exp()
            );
            let checked: usize = ours.rows.iter().map(Vec::len).sum();
            if mismatches.is_empty() {
                println!("results: EpochDB and PostgreSQL agree on all {checked} queries");
            } else {
                identical = false;
                for (name, diff) in &mismatches {
                    println!("results differ for {name}: {diff}");
                }
            }
        }
    }
    Ok(identical)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("epochdb-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
