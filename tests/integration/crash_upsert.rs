//! Crash recovery of upserts and updates: after a SIGKILL at any moment,
//! every acknowledged `INSERT ... ON CONFLICT DO UPDATE` and `UPDATE` of a
//! keyed plain table is there, exactly once per key.
//!
//! Each cycle starts the binary on one data directory (synchronous
//! durability, frequent snapshots, small WAL segments), lets two writers
//! run on their own connections, and SIGKILLs the server at a random
//! moment: one upserts `(k, n)` into `kv_upsert`, the other sets `v = n`
//! of key `k` in `kv_update` (whose keys were inserted once). `n` only
//! grows, so after every restart each key has one row whose value is one
//! that was sent for it, no older than the last one acknowledged. At the
//! end a clean shutdown and restart must keep the same. The seed of the
//! kill delays and keys is named by every failure
//! (`EPOCHDB_CRASH_SEED` reuses it; `EPOCHDB_UPSERT_CYCLES` sets the
//! number of cycles).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::timeout;
use tokio_postgres::SimpleQueryMessage;

use super::crash::{Rng, Server, clock_seed, connect, describe, env_number};

const DEFAULT_CYCLES: u64 = 8;
const KEYS: u64 = 40;
const TABLES: [&str; 2] = ["kv_upsert", "kv_update"];
const OP_TIMEOUT: Duration = Duration::from_secs(20);
const KILL_AFTER_MS: (u64, u64) = (50, 500);

/// What was sent and acknowledged for each key of one table.
#[derive(Debug, Default)]
struct Ledger {
    sent: HashMap<u64, HashSet<i64>>,
    acked: HashMap<u64, i64>,
}

#[test]
fn sigkill_keeps_every_acknowledged_upsert_and_update() {
    let seed = env_number("EPOCHDB_CRASH_SEED").unwrap_or_else(clock_seed);
    let cycles = env_number("EPOCHDB_UPSERT_CYCLES")
        .unwrap_or(DEFAULT_CYCLES)
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut rng = Rng::new(seed);
    let ledgers: [Arc<Mutex<Ledger>>; 2] = Default::default();

    for cycle in 0..cycles {
        let mut server = Server::start(&data_dir, seed, &format!("start of cycle {cycle}"));
        runtime.block_on(async {
            if cycle == 0 {
                prepare(server.port, seed, &ledgers[1]).await;
            } else {
                verify(
                    server.port,
                    seed,
                    &ledgers,
                    &format!("after cycle {}", cycle - 1),
                )
                .await;
            }
            let stop = Arc::new(AtomicBool::new(false));
            let mut writers = Vec::new();
            for (table, ledger) in TABLES.iter().zip(&ledgers) {
                writers.push(tokio::spawn(write(
                    server.port,
                    table,
                    cycle,
                    rng.between(0, u64::MAX - 1),
                    ledger.clone(),
                    stop.clone(),
                )));
            }
            let delay = rng.between(KILL_AFTER_MS.0, KILL_AFTER_MS.1);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            server.kill();
            stop.store(true, Ordering::SeqCst);
            for writer in writers {
                let _ = writer.await;
            }
        });
    }
    let last = "after the last cycle";
    let server = Server::start(&data_dir, seed, last);
    runtime.block_on(verify(server.port, seed, &ledgers, last));
    server.terminate(seed);
    let clean = "after a clean shutdown";
    let server = Server::start(&data_dir, seed, clean);
    runtime.block_on(verify(server.port, seed, &ledgers, clean));
    server.terminate(seed);

    // Not vacuous: both writers got writes acknowledged.
    for (table, ledger) in TABLES.iter().zip(&ledgers) {
        let acked = runtime.block_on(ledger.lock()).acked.len();
        assert!(
            acked > 0,
            "seed {seed}: no write to {table} was acknowledged"
        );
    }
}

/// Creates the tables, and the keys `kv_update` updates (value 0).
async fn prepare(port: u16, seed: u64, update_ledger: &Mutex<Ledger>) {
    let client = connect(port)
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let keys: Vec<String> = (0..KEYS).map(|k| format!("({k}, 0)")).collect();
    let sql = format!(
        "CREATE TABLE kv_upsert (k BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         CREATE TABLE kv_update (k BIGINT PRIMARY KEY, v BIGINT NOT NULL); \
         INSERT INTO kv_update VALUES {}",
        keys.join(", ")
    );
    timeout(OP_TIMEOUT, client.batch_execute(&sql))
        .await
        .unwrap_or_else(|_| panic!("seed {seed}: creating the tables timed out"))
        .unwrap_or_else(|e| panic!("seed {seed}: creating the tables: {}", describe(&e)));
    let mut ledger = update_ledger.lock().await;
    for k in 0..KEYS {
        ledger.sent.entry(k).or_default().insert(0);
        ledger.acked.insert(k, 0);
    }
}

/// Writes to `table` until `stop` or the connection fails: upserts or
/// updates of random keys, with values that only grow.
async fn write(
    port: u16,
    table: &'static str,
    cycle: u64,
    seed: u64,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    let Ok(client) = connect(port).await else {
        return;
    };
    let mut rng = Rng::new(seed);
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let k = rng.between(0, KEYS - 1);
        let n = i64::try_from(cycle * 1_000_000 + i).unwrap();
        let sql = match table {
            "kv_upsert" => format!(
                "INSERT INTO kv_upsert VALUES ({k}, {n}) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
            ),
            _ => format!("UPDATE kv_update SET v = {n} WHERE k = {k}"),
        };
        ledger.lock().await.sent.entry(k).or_default().insert(n);
        match timeout(OP_TIMEOUT, client.simple_query(&sql)).await {
            Ok(Ok(messages)) => {
                let changed = messages
                    .iter()
                    .any(|m| matches!(m, SimpleQueryMessage::CommandComplete(1)));
                assert!(changed, "{table}: `{sql}` changed no row");
                ledger.lock().await.acked.insert(k, n);
            }
            _ => return,
        }
    }
}

/// Each key written has one row, whose value was sent for it and is no
/// older than the last one acknowledged.
async fn verify(port: u16, seed: u64, ledgers: &[Arc<Mutex<Ledger>>; 2], label: &str) {
    let client = connect(port)
        .await
        .unwrap_or_else(|e| panic!("seed {seed}, {label}: {e}"));
    for (table, ledger) in TABLES.iter().zip(ledgers) {
        let rows = timeout(
            OP_TIMEOUT,
            client.query(&format!("SELECT k, v FROM {table}"), &[]),
        )
        .await
        .unwrap_or_else(|_| panic!("seed {seed}, {label}: reading {table} timed out"))
        .unwrap_or_else(|e| panic!("seed {seed}, {label}: reading {table}: {}", describe(&e)));
        let mut found: HashMap<u64, i64> = HashMap::new();
        for row in rows {
            let k = u64::try_from(row.get::<_, i64>(0)).unwrap();
            let v: i64 = row.get(1);
            assert!(
                found.insert(k, v).is_none(),
                "seed {seed}, {label}: key {k} of {table} is there twice"
            );
        }
        let ledger = ledger.lock().await;
        for (k, acked) in &ledger.acked {
            let Some(v) = found.get(k) else {
                panic!("seed {seed}, {label}: key {k} of {table} is gone (acknowledged {acked})");
            };
            assert!(
                v >= acked,
                "seed {seed}, {label}: key {k} of {table} holds {v}, older than the \
                 acknowledged {acked}"
            );
        }
        for (k, v) in &found {
            let sent = ledger.sent.get(k).is_some_and(|sent| sent.contains(v));
            assert!(
                sent,
                "seed {seed}, {label}: key {k} of {table} holds {v}, never sent"
            );
        }
    }
}
