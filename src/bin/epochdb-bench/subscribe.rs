//! `--subscribe`: what live subscriptions cost and how fast they deliver.
//!
//! - Latency: `--subscribers` clients each run `COPY (SUBSCRIBE ...) TO
//!   STDOUT` on one table while a writer writes one row at a time (by
//!   INSERT, by COPY, and by line protocol over HTTP); for every row and
//!   subscriber, the time from the write's acknowledgement to the row's
//!   arrival. A row may arrive before its writer hears the
//!   acknowledgement: that counts as 0.
//! - Ingest: the TSBS dataset loaded by COPY with no subscription, then
//!   with one subscription per host (each on its own series); every
//!   subscriber must receive exactly its host's rows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio_postgres::Client;

use super::generate::{self, Scale};
use super::{Args, Error, LoadMethod, connect, http, load_rows};

/// Rows written one at a time in each latency run.
const WRITES: usize = 300;

/// Reads a `COPY (SUBSCRIBE ...) TO STDOUT` stream, calling `row` with each
/// row's columns (after `epochdb_lsn`) until it returns false.
async fn read_rows(
    client: &Client,
    query: &str,
    ready: tokio::sync::mpsc::Sender<()>,
    mut row: impl FnMut(&[&str]) -> bool,
) -> Result<(), Error> {
    let stream = client.copy_out(query).await?;
    let _ = ready.send(()).await;
    futures::pin_mut!(stream);
    let mut partial = String::new();
    while let Some(chunk) = stream.next().await {
        partial.push_str(std::str::from_utf8(&chunk?)?);
        while let Some(end) = partial.find('\n') {
            let line: String = partial.drain(..=end).collect();
            let columns: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
            if !row(&columns[1..]) {
                return Ok(());
            }
        }
    }
    Err("a subscription ended".into())
}

/// A connection, once table `name` (time, host, n) is there again, empty.
async fn fresh_table(config: &str, name: &str) -> Result<Client, Error> {
    let client = connect(config).await?;
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {name}; \
             CREATE TABLE {name} (time TIMESTAMPTZ NOT NULL, host TEXT, n BIGINT)"
        ))
        .await?;
    Ok(client)
}

/// One latency run: for every row and subscriber, the time from the
/// write's acknowledgement to the row's arrival, and from the write's start.
async fn latency_run(
    config: &str,
    http_address: &str,
    method: LoadMethod,
    subscribers: usize,
) -> Result<(Vec<Duration>, Vec<Duration>), Error> {
    let writer = fresh_table(config, "sub_latency").await?;
    let start = Instant::now();
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(subscribers.max(1));
    let mut readers = Vec::new();
    for _ in 0..subscribers {
        let client = connect(config).await?;
        let ready = ready_tx.clone();
        readers.push(tokio::spawn(async move {
            let mut arrivals = vec![Duration::ZERO; WRITES];
            let mut seen = 0;
            let query = "COPY (SUBSCRIBE (SELECT n FROM sub_latency) WITH (SNAPSHOT = false)) \
                         TO STDOUT";
            read_rows(&client, query, ready, |columns| {
                if let Some(n) = columns.first().and_then(|n| n.parse::<usize>().ok())
                    && n < WRITES
                {
                    arrivals[n] = start.elapsed();
                    seen += 1;
                }
                seen < WRITES
            })
            .await?;
            Ok::<_, Error>(arrivals)
        }));
    }
    for _ in 0..subscribers {
        ready.recv().await.ok_or("a subscriber failed to start")?;
    }
    let mut lp = match method {
        LoadMethod::LpHttp => Some(http::Connection::open(http_address).await?),
        _ => None,
    };
    let mut acks = Vec::with_capacity(WRITES);
    let mut sends = Vec::with_capacity(WRITES);
    for n in 0..WRITES {
        sends.push(start.elapsed());
        match method {
            LoadMethod::Insert => {
                writer
                    .batch_execute(&format!("INSERT INTO sub_latency VALUES (now(), 'h', {n})"))
                    .await?;
            }
            LoadMethod::Copy => {
                let sink = writer
                    .copy_in::<_, Bytes>("COPY sub_latency (time, host, n) FROM STDIN")
                    .await?;
                let mut sink = Box::pin(sink);
                let row = format!("{}\th\t{n}\n", generate::timestamp(1_700_000_000));
                sink.send(Bytes::from(row)).await?;
                sink.as_mut().finish().await?;
            }
            LoadMethod::LpHttp => {
                let line = format!("sub_latency,host=h n={n}i");
                let connection = lp.as_mut().ok_or("no HTTP connection")?;
                let (status, answer) = connection
                    .post("/write?db=postgres", line.as_bytes())
                    .await?;
                if status != 204 {
                    return Err(format!("POST /write answered {status}: {answer}").into());
                }
            }
        }
        acks.push(start.elapsed());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (mut after_ack, mut after_send) = (Vec::new(), Vec::new());
    for reader in readers {
        let arrivals = tokio::time::timeout(Duration::from_secs(60), reader).await???;
        after_ack.extend(
            (arrivals.iter().zip(&acks)).map(|(arrived, acked)| arrived.saturating_sub(*acked)),
        );
        after_send.extend(
            (arrivals.iter().zip(&sends)).map(|(arrived, sent)| arrived.saturating_sub(*sent)),
        );
    }
    writer.batch_execute("DROP TABLE sub_latency").await?;
    Ok((after_ack, after_send))
}

/// The TSBS load by COPY with `subscriptions` subscribers, one per host
/// (the first hosts); the load's time. Each subscriber must receive
/// exactly its host's rows.
async fn ingest_run(
    config: &str,
    scale: Scale,
    args: &Args,
    subscriptions: usize,
) -> Result<Duration, Error> {
    let client = connect(config).await?;
    client.batch_execute("DROP TABLE IF EXISTS cpu").await?;
    client.batch_execute(&generate::create_table()).await?;
    let received = Arc::new(Mutex::new(HashMap::<usize, u64>::new()));
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(subscriptions.max(1));
    let mut readers = Vec::new();
    for host in 0..subscriptions {
        let client = connect(config).await?;
        let ready = ready_tx.clone();
        let received = received.clone();
        let expected = scale.steps as u64;
        readers.push(tokio::spawn(async move {
            let query = format!(
                "COPY (SUBSCRIBE (SELECT usage_user FROM cpu WHERE hostname = 'host_{host}') \
                 WITH (SNAPSHOT = false)) TO STDOUT"
            );
            let mut count = 0u64;
            read_rows(&client, &query, ready, |_| {
                count += 1;
                count < expected
            })
            .await?;
            received.lock().insert(host, count);
            Ok::<_, Error>(())
        }));
    }
    for _ in 0..subscriptions {
        ready.recv().await.ok_or("a subscriber failed to start")?;
    }
    let started = Instant::now();
    load_rows(config, scale, LoadMethod::Copy, args).await?;
    let elapsed = started.elapsed();
    for reader in readers {
        tokio::time::timeout(Duration::from_secs(120), reader).await???;
    }
    let received = received.lock();
    if received.len() != subscriptions || received.values().any(|&n| n != scale.steps as u64) {
        return Err("a subscriber did not receive exactly its host's rows".into());
    }
    Ok(elapsed)
}

/// Rows of the exactness run, and how many writers write them.
const EXACT_ROWS: i64 = 1_000_000;
const EXACT_WRITERS: i64 = 4;
/// Rows per COPY of a writer.
const EXACT_CHUNK: i64 = 2_000;

/// The exactness run: writers COPY `EXACT_ROWS` numbered rows in chunks
/// while subscribers attach at different moments (half of them leaving
/// early, the others staying); each staying subscriber must receive every
/// row exactly once, snapshot and live together. Returns how many stayed.
async fn exactness_run(config: &str) -> Result<usize, Error> {
    let setup = fresh_table(config, "sub_exact").await?;
    let mut writers = Vec::new();
    for w in 0..EXACT_WRITERS {
        let client = connect(config).await?;
        writers.push(tokio::spawn(async move {
            let share = EXACT_ROWS / EXACT_WRITERS;
            let mut n = w * share;
            while n < (w + 1) * share {
                let end = (n + EXACT_CHUNK).min((w + 1) * share);
                let mut text = String::new();
                for i in n..end {
                    text.push_str(&format!("2024-01-01 00:00:00+00\th{}\t{i}\n", i % 7));
                }
                let sink = client
                    .copy_in::<_, Bytes>("COPY sub_exact (time, host, n) FROM STDIN")
                    .await?;
                let mut sink = Box::pin(sink);
                sink.send(Bytes::from(text)).await?;
                sink.as_mut().finish().await?;
                n = end;
            }
            Ok::<_, Error>(())
        }));
    }
    let mut staying = Vec::new();
    for s in 0..8u64 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let client = connect(config).await?;
        let leaves = s % 2 == 1;
        let (ready_tx, mut ready) = tokio::sync::mpsc::channel(1);
        let task = tokio::spawn(async move {
            let mut seen = vec![false; EXACT_ROWS as usize];
            let mut count = 0usize;
            let mut twice = 0usize;
            let query = "COPY (SUBSCRIBE (SELECT n FROM sub_exact)) TO STDOUT";
            let limit = if leaves { 50_000 } else { EXACT_ROWS as usize };
            read_rows(&client, query, ready_tx, |columns| {
                if let Some(n) = columns.first().and_then(|n| n.parse::<usize>().ok())
                    && n < seen.len()
                {
                    if seen[n] {
                        twice += 1;
                    }
                    seen[n] = true;
                    count += 1;
                }
                count < limit
            })
            .await?;
            Ok::<_, Error>((count, twice, seen.iter().filter(|&&s| s).count()))
        });
        ready.recv().await.ok_or("a subscriber failed to start")?;
        if !leaves {
            staying.push(task);
        } else {
            // Leaves after its first rows: whatever it holds is freed.
            drop(task);
        }
    }
    for writer in writers {
        writer.await??;
    }
    let stayed = staying.len();
    for subscriber in staying {
        let (count, twice, distinct) =
            tokio::time::timeout(Duration::from_secs(300), subscriber).await???;
        if twice > 0 || distinct != EXACT_ROWS as usize || count != EXACT_ROWS as usize {
            return Err(format!(
                "a subscriber received {count} rows, {distinct} distinct, {twice} twice, of {EXACT_ROWS}"
            )
            .into());
        }
    }
    setup.batch_execute("DROP TABLE sub_exact").await?;
    Ok(stayed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs both measurements and prints them.
pub(crate) async fn run(args: &Args, config: &str, subscribers: usize) -> Result<bool, Error> {
    println!("subscription latency: {subscribers} subscribers, {WRITES} one-row writes each way");
    for method in [LoadMethod::Insert, LoadMethod::Copy, LoadMethod::LpHttp] {
        let (mut after_ack, mut after_send) =
            latency_run(config, &args.http, method, subscribers).await?;
        after_ack.sort();
        after_send.sort();
        println!(
            "  {method:?}: after the acknowledgement p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
             after the write's start p50 {:.2} ms, p99 {:.2} ms ({} deliveries)",
            ms(percentile(&after_ack, 0.5)),
            ms(percentile(&after_ack, 0.99)),
            ms(percentile(&after_ack, 1.0)),
            ms(percentile(&after_send, 0.5)),
            ms(percentile(&after_send, 0.99)),
            after_ack.len()
        );
    }
    let stayed = exactness_run(config).await?;
    println!(
        "exactness: {EXACT_ROWS} rows COPYed by {EXACT_WRITERS} writers while 8 subscribers \
         attached (4 leaving early): each of the {stayed} that stayed received every row once"
    );
    let scale = Scale {
        hosts: args.hosts,
        steps: args.hours * 3600 / generate::INTERVAL_SECS as usize,
        seed: args.seed,
    };
    println!(
        "ingest by COPY: {} hosts x {} h = {} rows",
        scale.hosts,
        args.hours,
        scale.rows()
    );
    let alone = ingest_run(config, scale, args, 0).await?;
    let watched = ingest_run(config, scale, args, scale.hosts).await?;
    let rate = |d: Duration| scale.rows() as f64 / d.as_secs_f64();
    println!(
        "  no subscription: {:.0} rows/s; {} subscriptions, one per host: {:.0} rows/s ({:.2}x)",
        rate(alone),
        scale.hosts,
        rate(watched),
        rate(watched) / rate(alone)
    );
    Ok(true)
}
