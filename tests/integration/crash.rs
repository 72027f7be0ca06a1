//! Crash recovery of the real binary: a SIGKILL at any moment loses nothing
//! that was acknowledged, and invents nothing that was not written.
//!
//! One data directory lives through many cycles. Each cycle starts the `epochdb`
//! binary on it with synchronous durability, a snapshot every 300 ms and 256 KiB
//! WAL segments (so snapshots and the deletion of covered segments happen while
//! the test writes), lets five writers append to one table concurrently, each on
//! its own connection (three with multi-row INSERTs over both query protocols, two
//! with COPY FROM STDIN; the fifth deletes about half of its statements' rows right
//! after they are acknowledged, by time range or by field values), and SIGKILLs
//! the server at a random moment. The next
//! cycle restarts the server on the same directory and reads the whole table
//! back. Every row is unique by (writer, cycle, seq), and its time and value are
//! functions of that key. Over all cycles so far:
//!
//! 1. every acknowledged statement is present, row for row, with exact values,
//!    unless an acknowledged DELETE took it, and then none of its rows is;
//! 2. every row present was sent by some writer and has exact values (no phantoms);
//! 3. no row is present twice (replaying the WAL over a snapshot doubles nothing);
//! 4. every statement (one COPY, one multi-row INSERT, one DELETE) is all or
//!    nothing, and a statement found whole (or, once a DELETE was sent for it,
//!    gone) by one check is found so by every later check: deleted rows never
//!    come back.
//!
//! A statement in flight at the kill may be present or absent. At the end the
//! server recovers once more, is stopped cleanly with SIGTERM (it must exit 0),
//! and the same checks hold after the restart that follows the clean shutdown.
//!
//! Kill delays, statement sizes and protocols come from a seed that every failure
//! message names; `EPOCHDB_CRASH_SEED=<seed>` reuses it (timing still varies) and
//! `EPOCHDB_CRASH_CYCLES=<n>` changes the number of cycles.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::{self, Write as _};
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{SinkExt, pin_mut};
use tokio::time::timeout;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS crash (time TIMESTAMPTZ NOT NULL, \
                            writer TEXT, cycle BIGINT, seq BIGINT, v DOUBLE PRECISION)";
const SELECT_ALL: &str = "SELECT writer, cycle, seq, v, time FROM crash";
const INSERT_INTO: &str = "INSERT INTO crash (time, writer, cycle, seq, v) VALUES ";
const COPY_IN: &str = "COPY crash (time, writer, cycle, seq, v) FROM STDIN";

/// Kill-and-recover cycles, unless `EPOCHDB_CRASH_CYCLES` says otherwise.
const DEFAULT_CYCLES: u64 = 20;
/// The writers' `writer` tags. The first `INSERT_WRITERS` INSERT, then two COPY;
/// the last INSERTs and deletes.
const WRITERS: [&str; 5] = ["insert-0", "insert-1", "copy-2", "copy-3", "delete-4"];
const INSERT_WRITERS: usize = 2;
const DELETING_WRITER: usize = 4;
/// Rows per statement, inclusive bounds.
const INSERT_ROWS: (u64, u64) = (1, 50);
const COPY_ROWS: (u64, u64) = (200, 2_000);
/// A writer sends statements as fast as the server answers, but never more rows
/// than (burst + rows per second × time since its start). This bounds what a
/// cycle leaves behind, and so the time every later full check takes, however
/// fast the build is.
const INSERT_RATE: (u64, u64) = (50, 1_000);
const COPY_RATE: (u64, u64) = (2_000, 3_000);
/// A COPY is sent in CopyData messages of this size, so kills land mid-stream.
const COPY_CHUNK: usize = 8 * 1024;
/// The kill comes this many milliseconds after the writers start, inclusive.
const KILL_AFTER_MS: (u64, u64) = (50, 600);

/// Any one client operation; the test fails instead of hanging.
const OP_TIMEOUT: Duration = Duration::from_secs(20);
/// Reading the whole table back.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Start-up, which includes recovery.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the server's log kept for failure messages.
const LOG_LINES: usize = 40;

/// 2024-01-01 00:00:00 UTC, in microseconds since the Unix epoch.
const BASE_MICROS: i64 = 1_704_067_200_000_000;

/// A row's identity: writer index, cycle, sequence number within the cycle.
type Key = (usize, u32, u64);

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_row() {
    let seed = env_number("EPOCHDB_CRASH_SEED").unwrap_or_else(clock_seed);
    let cycles = env_number("EPOCHDB_CRASH_CYCLES")
        .unwrap_or(DEFAULT_CYCLES)
        .max(1);
    let cycles = u32::try_from(cycles).expect("EPOCHDB_CRASH_CYCLES fits in u32");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut rng = Rng::new(seed);
    let mut ledger = Ledger::default();

    for cycle in 0..cycles {
        let mut server = Server::start(&data_dir, seed, &format!("start of cycle {cycle}"));
        // Cycle N's writes are checked once the server has recovered from its kill.
        if let Some(previous) = cycle.checked_sub(1) {
            runtime.block_on(verify(
                &server,
                &mut ledger,
                seed,
                &format!("check after cycle {previous}"),
            ));
        }
        let statements = runtime.block_on(run_cycle(&mut server, cycle, seed, &mut rng));
        ledger.record(statements);
    }

    let last = format!("check after cycle {} (the last)", cycles - 1);
    let server = Server::start(&data_dir, seed, &last);
    runtime.block_on(verify(&server, &mut ledger, seed, &last));
    server.terminate(seed);

    // A clean shutdown (which writes a snapshot) loses nothing either.
    let clean = "check after a clean shutdown";
    let server = Server::start(&data_dir, seed, clean);
    runtime.block_on(verify(&server, &mut ledger, seed, clean));
    server.terminate(seed);

    // The checks were not vacuous: every writer got statements acknowledged,
    // and deletes of both kinds were.
    for by_time in [true, false] {
        let deleted = (ledger.statements.iter())
            .filter(|s| s.delete.is_some_and(|d| d.acked && d.by_time == by_time))
            .count();
        assert!(
            deleted > 0,
            "seed {seed}: no DELETE by {} was acknowledged",
            if by_time { "time" } else { "field values" }
        );
    }
    for (writer, name) in WRITERS.iter().enumerate() {
        let acked = ledger
            .statements
            .iter()
            .filter(|s| s.writer == writer && s.acked)
            .count();
        assert!(
            acked > 0,
            "seed {seed}: writer {name} never had a statement acknowledged"
        );
    }
}

/// One cycle on a started server: create the table, start the writers, SIGKILL
/// the server after a random delay, and return every statement the writers sent.
async fn run_cycle(server: &mut Server, cycle: u32, seed: u64, rng: &mut Rng) -> Vec<Statement> {
    let context = format!("seed {seed}, cycle {cycle}");
    let admin = connect(server.port)
        .await
        .unwrap_or_else(|e| panic!("{context}: {e}"));
    match timeout(OP_TIMEOUT, admin.batch_execute(CREATE_TABLE)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{context}: CREATE TABLE failed: {}", describe(&e)),
        Err(_) => panic!("{context}: CREATE TABLE did not finish within {OP_TIMEOUT:?}"),
    }

    let killed = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::with_capacity(WRITERS.len());
    for (writer, name) in WRITERS.iter().enumerate() {
        let client = connect(server.port)
            .await
            .unwrap_or_else(|e| panic!("{context}, writer {name}: {e}"));
        let rng = Rng::new(seed ^ (u64::from(cycle) << 32) ^ (writer as u64 + 1));
        writers.push(tokio::spawn(run_writer(
            writer,
            cycle,
            client,
            rng,
            Arc::clone(&killed),
        )));
    }

    let delay = rng.between(KILL_AFTER_MS.0, KILL_AFTER_MS.1);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    if let Some(status) = server.child.try_wait().unwrap() {
        panic!(
            "{context}: the server exited on its own ({status}) before the kill; its log:\n{}",
            server.log_tail()
        );
    }
    // Set before the kill: an error a writer sees from now on may be the kill's.
    killed.store(true, Ordering::SeqCst);
    server.kill();

    let mut statements = Vec::new();
    for (task, name) in writers.into_iter().zip(WRITERS) {
        let (sent, outcome) = timeout(OP_TIMEOUT + Duration::from_secs(5), task)
            .await
            .unwrap_or_else(|_| panic!("{context}: writer {name} did not stop after the kill"))
            .unwrap_or_else(|e| panic!("{context}: writer {name} panicked: {e}"));
        if let Err(message) = outcome {
            panic!(
                "{context}, writer {name} (kill after {delay} ms): {message}; server log:\n{}",
                server.log_tail()
            );
        }
        statements.extend(sent);
    }
    drop(admin);
    statements
}

/// One writer for one cycle: statements back to back until the first error,
/// which is expected only once the server has been killed. Returns every
/// statement it sent (whether or not acknowledged), and an error if it stopped
/// for any other reason.
async fn run_writer(
    writer: usize,
    cycle: u32,
    client: Client,
    mut rng: Rng,
    killed: Arc<AtomicBool>,
) -> (Vec<Statement>, Result<(), String>) {
    let copies = writer >= INSERT_WRITERS && writer != DELETING_WRITER;
    let (min_rows, max_rows) = if copies { COPY_ROWS } else { INSERT_ROWS };
    let (burst, per_second) = if copies { COPY_RATE } else { INSERT_RATE };
    let started = Instant::now();
    let mut statements: Vec<Statement> = Vec::new();
    let mut next_seq = 0;
    loop {
        let rows = rng.between(min_rows, max_rows);
        let seqs = next_seq..next_seq + rows;
        next_seq = seqs.end;
        let due =
            Duration::from_secs_f64(seqs.end.saturating_sub(burst) as f64 / per_second as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let via = if copies {
            Via::CopyIn
        } else {
            match rng.between(0, 2) {
                0 => Via::Batch,
                1 => Via::Simple,
                _ => Via::Extended,
            }
        };
        // Recorded before it is sent: whatever the server may have applied is known.
        statements.push(Statement {
            writer,
            cycle,
            seqs: seqs.clone(),
            via,
            acked: false,
            seen_whole: false,
            delete: None,
            seen_gone: false,
        });
        let outcome = timeout(OP_TIMEOUT, run_statement(&client, via, writer, cycle, seqs)).await;
        let statement = statements.last_mut().unwrap();
        let outcome = match outcome {
            Ok(Ok(count)) if count == rows => {
                statement.acked = true;
                if writer != DELETING_WRITER || rng.between(0, 1) == 0 {
                    continue;
                }
                // Recorded before it is sent, as the statement was.
                let by_time = rng.between(0, 1) == 0;
                statement.delete = Some(Delete {
                    by_time,
                    acked: false,
                });
                let sql = delete_sql(writer, cycle, statement.seqs.clone(), by_time);
                timeout(OP_TIMEOUT, simple_rows(&client, &sql)).await
            }
            other => other,
        };
        let statement = statements.last_mut().unwrap();
        if let (Ok(Ok(count)), Some(delete)) = (&outcome, &mut statement.delete)
            && *count == rows
        {
            delete.acked = true;
            continue;
        }
        let error = match outcome {
            Ok(Ok(count)) => format!("{statement} reported {count} rows"),
            Ok(Err(_)) if killed.load(Ordering::SeqCst) => return (statements, Ok(())),
            Ok(Err(e)) => format!("{statement} failed before the kill: {}", describe(&e)),
            Err(_) => format!("{statement} did not finish within {OP_TIMEOUT:?}"),
        };
        return (statements, Err(error));
    }
}

/// Sends one statement writing the rows `seqs` of `writer` in `cycle`; returns
/// the row count the server reported.
async fn run_statement(
    client: &Client,
    via: Via,
    writer: usize,
    cycle: u32,
    seqs: Range<u64>,
) -> Result<u64, tokio_postgres::Error> {
    let rows = seqs.end - seqs.start;
    match via {
        Via::Batch => {
            client
                .batch_execute(&insert_sql(writer, cycle, seqs))
                .await?;
            Ok(rows)
        }
        Via::Simple => simple_rows(client, &insert_sql(writer, cycle, seqs)).await,
        Via::Extended => {
            let name = WRITERS[writer];
            let bound: Vec<Bound> = seqs.map(|seq| Bound::of((writer, cycle, seq))).collect();
            let mut sql = String::from(INSERT_INTO);
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(bound.len() * 5);
            for (i, row) in bound.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let p = i * 5;
                write!(
                    sql,
                    "(${}, ${}, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5
                )
                .unwrap();
                params.push(&row.time);
                params.push(&name);
                params.push(&row.cycle);
                params.push(&row.seq);
                params.push(&row.v);
            }
            client.execute(sql.as_str(), &params).await
        }
        Via::CopyIn => {
            let data = copy_data(writer, cycle, seqs);
            let sink = client.copy_in(COPY_IN).await?;
            pin_mut!(sink);
            for chunk in data.as_bytes().chunks(COPY_CHUNK) {
                sink.send(Bytes::copy_from_slice(chunk)).await?;
            }
            sink.finish().await
        }
    }
}

/// The DELETE of the rows `seqs` of `writer` in `cycle`: by their time
/// range (a region of the table: no row needs decoding) or by their field
/// values (checked row by row).
fn delete_sql(writer: usize, cycle: u32, seqs: Range<u64>, by_time: bool) -> String {
    let name = WRITERS[writer];
    if by_time {
        let first = time_text((writer, cycle, seqs.start));
        let last = time_text((writer, cycle, seqs.end - 1));
        format!(
            "DELETE FROM crash WHERE writer = '{name}' AND time >= '{first}' AND time <= '{last}'"
        )
    } else {
        format!(
            "DELETE FROM crash WHERE writer = '{name}' AND cycle = {cycle} \
             AND seq >= {} AND seq < {}",
            seqs.start, seqs.end
        )
    }
}

/// Runs `sql` over the simple protocol; the row count the server reported.
async fn simple_rows(client: &Client, sql: &str) -> Result<u64, tokio_postgres::Error> {
    let messages = client.simple_query(sql).await?;
    Ok(messages
        .iter()
        .map(|message| match message {
            SimpleQueryMessage::CommandComplete(n) => *n,
            _ => 0,
        })
        .sum())
}

/// A multi-row INSERT with literal values, for the simple protocol.
fn insert_sql(writer: usize, cycle: u32, seqs: Range<u64>) -> String {
    let mut sql = String::from(INSERT_INTO);
    for (i, seq) in seqs.enumerate() {
        let key = (writer, cycle, seq);
        if i > 0 {
            sql.push_str(", ");
        }
        write!(
            sql,
            "('{}', '{}', {cycle}, {seq}, {})",
            time_text(key),
            WRITERS[writer],
            expected_v(key)
        )
        .unwrap();
    }
    sql
}

/// COPY text format: tab-separated, one row a line.
fn copy_data(writer: usize, cycle: u32, seqs: Range<u64>) -> String {
    let mut data = String::new();
    for seq in seqs {
        let key = (writer, cycle, seq);
        writeln!(
            data,
            "{}\t{}\t{cycle}\t{seq}\t{}",
            time_text(key),
            WRITERS[writer],
            expected_v(key)
        )
        .unwrap();
    }
    data
}

/// A row's parameters for the extended protocol.
#[derive(Debug)]
struct Bound {
    time: DateTime<Utc>,
    cycle: i64,
    seq: i64,
    v: f64,
}

impl Bound {
    fn of(key: Key) -> Self {
        Self {
            time: expected_time(key),
            cycle: i64::from(key.1),
            seq: key.2 as i64,
            v: expected_v(key),
        }
    }
}

/// Distinct for every key: cycles 10^9 µs apart, writers 10^8 µs apart within a
/// cycle (a writer writes far fewer than 10^8 rows a cycle).
fn expected_micros((writer, cycle, seq): Key) -> i64 {
    BASE_MICROS + i64::from(cycle) * 1_000_000_000 + writer as i64 * 100_000_000 + seq as i64
}

fn expected_time(key: Key) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(expected_micros(key)).unwrap()
}

/// Multiples of 1/8 well below 2^40, some negative: exact in binary, and in the
/// shortest decimal text Rust prints for them.
fn expected_v((writer, cycle, seq): Key) -> f64 {
    seq as f64 * 0.25 + f64::from(cycle) * 1000.0 + writer as f64 / 8.0 - 4096.0
}

/// The time as PostgreSQL text with microseconds, e.g. `2024-01-01 00:00:00.000123+00`.
fn time_text(key: Key) -> String {
    expected_time(key)
        .format("%Y-%m-%d %H:%M:%S%.6f+00")
        .to_string()
}

fn show(key: Key) -> String {
    format!(
        "(writer {}, cycle {}, seq {})",
        WRITERS[key.0], key.1, key.2
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Batch,
    Simple,
    Extended,
    CopyIn,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Batch => "INSERT by batch_execute (simple protocol)",
            Self::Simple => "INSERT by simple_query (simple protocol)",
            Self::Extended => "INSERT with parameters (extended protocol)",
            Self::CopyIn => "COPY FROM STDIN",
        })
    }
}

/// One statement a writer sent: the rows `seqs` of `writer` in `cycle`.
#[derive(Debug, Clone)]
struct Statement {
    writer: usize,
    cycle: u32,
    seqs: Range<u64>,
    via: Via,
    /// The server reported success.
    acked: bool,
    /// A check found all of its rows, so every later check must too.
    seen_whole: bool,
    /// The DELETE of its rows, once acknowledged, if one was sent.
    delete: Option<Delete>,
    /// A check found none of its rows after its DELETE was sent: every
    /// later check must find none either.
    seen_gone: bool,
}

/// The DELETE of one statement's rows.
#[derive(Debug, Clone, Copy)]
struct Delete {
    /// By time range (else by field values).
    by_time: bool,
    /// The server reported success, with the statement's row count.
    acked: bool,
}

impl Statement {
    fn rows(&self) -> u64 {
        self.seqs.end - self.seqs.start
    }

    fn first_missing(&self, present: &HashSet<Key>) -> Option<Key> {
        self.seqs
            .clone()
            .map(|seq| (self.writer, self.cycle, seq))
            .find(|key| !present.contains(key))
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} rows by writer {} in cycle {}, seq {}..{} ({})",
            self.via,
            self.rows(),
            WRITERS[self.writer],
            self.cycle,
            self.seqs.start,
            self.seqs.end,
            if self.acked {
                "acknowledged"
            } else {
                "not acknowledged"
            }
        )?;
        if let Some(delete) = self.delete {
            write!(
                f,
                ", then deleted by {} ({})",
                if delete.by_time {
                    "time"
                } else {
                    "field values"
                },
                if delete.acked {
                    "acknowledged"
                } else {
                    "not acknowledged"
                }
            )?;
        }
        Ok(())
    }
}

/// Every statement sent in every cycle so far, and which statement sent each key.
#[derive(Debug, Default)]
struct Ledger {
    statements: Vec<Statement>,
    owner: HashMap<Key, usize>,
}

impl Ledger {
    fn record(&mut self, statements: Vec<Statement>) {
        for statement in statements {
            let index = self.statements.len();
            for seq in statement.seqs.clone() {
                let key = (statement.writer, statement.cycle, seq);
                let previous = self.owner.insert(key, index);
                assert!(previous.is_none(), "the test sent {} twice", show(key));
            }
            self.statements.push(statement);
        }
    }
}

/// Failure messages of one check: what failed, the seed, the check, the server's log.
struct Check<'a> {
    seed: u64,
    label: &'a str,
    server: &'a Server,
}

impl Check<'_> {
    fn fail(&self, message: impl fmt::Display) -> ! {
        panic!(
            "{message}\n(seed {seed}, {label}; EPOCHDB_CRASH_SEED={seed} reuses the seed)\n\
             server log:\n{log}",
            seed = self.seed,
            label = self.label,
            log = self.server.log_tail()
        )
    }
}

/// Reads the whole table from a freshly started server and checks it against
/// the ledger; records which statements were found whole.
async fn verify(server: &Server, ledger: &mut Ledger, seed: u64, label: &str) {
    let check = Check {
        seed,
        label,
        server,
    };
    let client = connect(server.port)
        .await
        .unwrap_or_else(|e| check.fail(format!("after restart: {e}")));
    let table = match timeout(READ_TIMEOUT, client.query(SELECT_ALL, &[])).await {
        Ok(Ok(table)) => table,
        Ok(Err(e)) => check.fail(format!("reading the table failed: {}", describe(&e))),
        Err(_) => check.fail(format!(
            "reading the table did not finish within {READ_TIMEOUT:?}"
        )),
    };

    // Rows found per statement, by index in the ledger.
    let mut counts = vec![0u64; ledger.statements.len()];
    let mut present: HashSet<Key> = HashSet::with_capacity(table.len());
    for row in &table {
        let writer: Option<String> = row.get(0);
        let cycle: Option<i64> = row.get(1);
        let seq: Option<i64> = row.get(2);
        let v: Option<f64> = row.get(3);
        let time: Option<DateTime<Utc>> = row.get(4);
        let shown = format!(
            "row (writer {writer:?}, cycle {cycle:?}, seq {seq:?}, v {v:?}, time {time:?})"
        );
        let Some(key) = parse_key(writer.as_deref(), cycle, seq) else {
            check.fail(format!("phantom {shown}: no writer uses that key"));
        };
        let Some(&index) = ledger.owner.get(&key) else {
            check.fail(format!("phantom {shown}: no writer ever sent it"));
        };
        if !present.insert(key) {
            check.fail(format!("duplicate {shown}: the key is present twice"));
        }
        if v.map(f64::to_bits) != Some(expected_v(key).to_bits())
            || time != Some(expected_time(key))
        {
            check.fail(format!(
                "{shown} has wrong values: expected v {} and time {}",
                expected_v(key),
                expected_time(key)
            ));
        }
        counts[index] += 1;
    }

    for (statement, &found) in ledger.statements.iter_mut().zip(&counts) {
        let rows = statement.rows();
        let missing = statement
            .first_missing(&present)
            .map_or_else(|| "none".to_owned(), show);
        if found > 0 && found < rows {
            check.fail(format!(
                "{statement} is applied in part: {found} of {rows} rows present; \
                 first missing row {missing}"
            ));
        }
        if let Some(delete) = statement.delete {
            if found > 0 && (delete.acked || statement.seen_gone) {
                check.fail(format!(
                    "{statement}: its deleted rows came back ({found} of {rows} present)"
                ));
            }
            if found == rows && !statement.seen_whole {
                // Whole now, so whole from now on: its DELETE did not survive.
                statement.seen_whole = true;
            } else if found == 0 && statement.seen_whole {
                check.fail(format!(
                    "{statement} was present in an earlier check and is gone now"
                ));
            }
            statement.seen_gone |= found == 0;
            continue;
        }
        if found == rows {
            statement.seen_whole = true;
            continue;
        }
        if statement.acked {
            check.fail(format!(
                "{statement} is lost: none of its rows are present; first missing row {missing}"
            ));
        }
        if statement.seen_whole {
            check.fail(format!(
                "{statement} was present in an earlier check and is gone now; \
                 first missing row {missing}"
            ));
        }
    }
}

fn parse_key(writer: Option<&str>, cycle: Option<i64>, seq: Option<i64>) -> Option<Key> {
    let writer = WRITERS.iter().position(|name| Some(*name) == writer)?;
    Some((
        writer,
        u32::try_from(cycle?).ok()?,
        u64::try_from(seq?).ok()?,
    ))
}

/// The `epochdb` binary on the shared data directory. Dropping it SIGKILLs the
/// process, so a failing test leaves no server behind.
#[derive(Debug)]
pub(super) struct Server {
    child: Child,
    pub(super) port: u16,
    /// The last lines the server wrote to stderr, for failure messages.
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    /// Starts the binary and waits until it listens (so recovery is done).
    pub(super) fn start(data_dir: &Path, seed: u64, label: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_epochdb"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--log-level",
                "info",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--durability", "sync"])
            .args(["--snapshot-interval", "300ms"])
            .args(["--wal-segment-size", "256KiB"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start epochdb");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_LINES)));
        let lines = Arc::clone(&log);
        let (port_tx, port_rx) = mpsc::channel();
        // Reads stderr to the end, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("address=127.0.0.1:").nth(1) {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(port) = digits.parse::<u16>() {
                        let _ = port_tx.send(port);
                    }
                }
                let mut tail = lines.lock().unwrap();
                if tail.len() == LOG_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let mut server = Self {
            child,
            port: 0,
            log,
        };
        match port_rx.recv_timeout(START_TIMEOUT) {
            Ok(port) => server.port = port,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server
                    .exit_status_within(Duration::from_secs(5))
                    .map_or_else(|| "still running".to_owned(), |s| s.to_string());
                panic!(
                    "seed {seed}, {label}: the server stopped during start-up ({status}); \
                     its log:\n{}",
                    server.log_tail()
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "seed {seed}, {label}: the server did not listen within {START_TIMEOUT:?}; \
                 its log:\n{}",
                server.log_tail()
            ),
        }
        server
    }

    /// SIGKILL: no chance to flush, snapshot or close anything.
    pub(super) fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }

    /// SIGTERM, which must shut the server down cleanly with exit status 0.
    pub(super) fn terminate(mut self, seed: u64) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        match self.exit_status_within(EXIT_TIMEOUT) {
            Some(status) => assert_eq!(
                status.code(),
                Some(0),
                "seed {seed}: after SIGTERM the server exited with {status}; its log:\n{}",
                self.log_tail()
            ),
            None => panic!(
                "seed {seed}: the server did not exit within {EXIT_TIMEOUT:?} of SIGTERM; \
                 its log:\n{}",
                self.log_tail()
            ),
        }
    }

    fn exit_status_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        let lines = self.log.lock().unwrap();
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) async fn connect(port: u16) -> Result<Client, String> {
    let config =
        format!("host=127.0.0.1 port={port} user=crash dbname=postgres connect_timeout=10");
    let (client, connection) = timeout(OP_TIMEOUT, tokio_postgres::connect(&config, NoTls))
        .await
        .map_err(|_| format!("connecting did not finish within {OP_TIMEOUT:?}"))?
        .map_err(|e| format!("cannot connect: {}", describe(&e)))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

pub(super) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

pub(super) fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {text:?}")),
    )
}

pub(super) fn clock_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// xorshift64*, seeded through splitmix64 so that nearby seeds give unrelated
/// streams.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        // Never zero, which xorshift would never leave.
        Self((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `low..=high`.
    pub(super) fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}
