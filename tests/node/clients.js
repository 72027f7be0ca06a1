// node-postgres against a running EpochDB. Usage: node clients.js PORT.
// Every check asserts results; the first failure exits non-zero.
// tests/integration/node.rs runs it.
"use strict";

const assert = require("node:assert/strict");
const { Client } = require("pg");

const port = Number(process.argv[2]);
const t0 = Date.UTC(2024, 0, 1);
const at = (seconds) => new Date(t0 + seconds * 1000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const client = new Client({
    host: "127.0.0.1", port, user: "tester", database: "postgres", query_timeout: 30_000,
  });
  await client.connect();
  try {
    const version = (await client.query("SELECT version() AS v")).rows[0].v;
    assert.match(version, /^PostgreSQL 15\..*EpochDB/);

    await client.query(
      "CREATE TABLE node_m (time TIMESTAMPTZ NOT NULL, host TEXT, v DOUBLE PRECISION, n BIGINT, ok BOOLEAN)",
    );
    for (let i = 0; i < 4; i++) {
      await client.query("INSERT INTO node_m VALUES ($1, $2, $3, $4, $5)", [
        at(i), `h${i % 2}`, i * 0.5, i, i % 2 === 0,
      ]);
    }
    const rows = (
      await client.query("SELECT time, host, v, n, ok FROM node_m WHERE host = $1 ORDER BY time", ["h1"])
    ).rows;
    // node-postgres returns bigint as a string, as it does from PostgreSQL.
    assert.deepEqual(rows, [
      { time: at(1), host: "h1", v: 0.5, n: "1", ok: false },
      { time: at(3), host: "h1", v: 1.5, n: "3", ok: false },
    ]);
    // Integer literals are int4, which node-postgres hands over as numbers;
    // one too large for int4 is int8, a string.
    const literals = (await client.query("SELECT 1 AS one, -7 AS neg, 3000000000 AS big, 2 + 3 AS sum")).rows[0];
    assert.deepEqual(literals, { one: 1, neg: -7, big: "3000000000", sum: 5 });
    console.log("ok node-postgres: parameters and types");

    await client.query("BEGIN");
    await client.query("INSERT INTO node_m (time, host, v) VALUES ($1, 'tx', 1)", [at(10)]);
    await client.query("ROLLBACK");
    await client.query("BEGIN");
    await assert.rejects(client.query("SELECT * FROM no_such_table"), { code: "42P01" });
    await assert.rejects(client.query("SELECT 1"), { code: "25P02" });
    await client.query("ROLLBACK");
    const count = (await client.query("SELECT count(*) AS c FROM node_m WHERE host = 'tx'")).rows[0].c;
    assert.equal(count, "0");
    console.log("ok node-postgres: transactions and errors");

    // Several statements in one simple query; rowMode arrays.
    const results = await client.query("SELECT 'one' AS a; SELECT 'x' AS b");
    assert.deepEqual(results.map((r) => r.rows), [[{ a: "one" }], [{ b: "x" }]]);
    const arrays = await client.query({ text: "SELECT n, host FROM node_m WHERE n < $1 ORDER BY n", values: [2], rowMode: "array" });
    assert.deepEqual(arrays.rows, [["0", "h0"], ["1", "h1"]]);
    console.log("ok node-postgres: multi-statement queries and row modes");

    await subscribe(client);
    console.log("ok node-postgres: SUBSCRIBE in a cursor, a FETCH loop, a slow subscriber cut off (53400)");
  } finally {
    await client.end();
  }
}

// A FETCH loop over a cursor on SUBSCRIBE, in a transaction, while a second
// connection writes rows with ids 0..IDS-1, one INSERT each: the first
// BEFORE before the cursor is declared, the rest at most LEAD ahead of those
// or of what the loop has read, so that the subscription starts while it
// writes and its queue stays under the server's --subscribe-queue-rows
// (50). Each INSERT also writes a row under another host, which the
// subscription's filter leaves out. Then a subscriber that lets more than 50
// rows wait.
async function subscribe(client) {
  const IDS = 300;
  const BEFORE = 100;
  const LEAD = 20;
  const writer = new Client({
    host: "127.0.0.1", port, user: "tester", database: "postgres", query_timeout: 30_000,
  });
  await writer.connect();
  try {
    await client.query("CREATE TABLE node_feed (time TIMESTAMPTZ NOT NULL, host TEXT, n BIGINT)");
    let written = 0;
    let received = 0;
    const write = (async () => {
      for (let n = 0; n < IDS; n++) {
        const deadline = Date.now() + 30_000;
        while (n - Math.max(received, BEFORE) >= LEAD) {
          assert.ok(Date.now() < deadline, `the subscriber stalled at ${received} rows`);
          await sleep(1);
        }
        await writer.query("INSERT INTO node_feed VALUES ($1, 'w', $2), ($1, 'x', -1)", [at(n), n]);
        written = n + 1;
      }
    })();
    while (written < BEFORE) {
      await Promise.race([write, sleep(1)]);
    }
    await client.query("BEGIN");
    await client.query(
      "DECLARE feed CURSOR FOR SUBSCRIBE (SELECT n FROM node_feed WHERE host = 'w') WITH (PROGRESS)",
    );
    const rows = [];
    // Progress rows come every idle second: a loop waiting for an id that
    // never comes stops at this deadline.
    const deadline = Date.now() + 30_000;
    while (!rows.some((r) => r.n === IDS - 1)) {
      assert.ok(Date.now() < deadline, `the last id did not come: ${rows.length} rows`);
      const batch = (await client.query("FETCH 100 feed WITH (timeout = '5s')")).rows;
      assert.ok(batch.length > 0, `no row within 5 s after ${rows.length}`);
      for (const r of batch) {
        rows.push({
          lsn: BigInt(r.epochdb_lsn),
          progressed: r.epochdb_progressed,
          n: r.n === null ? null : Number(r.n),
        });
      }
      received = rows.filter((r) => !r.progressed).length;
    }
    await write;
    // Nothing but progress rows after the last id.
    const rest = (await client.query("FETCH ALL feed WITH (timeout = '100ms')")).rows;
    assert.ok(rest.every((r) => r.epochdb_progressed), JSON.stringify(rest));
    await client.query("ROLLBACK");

    // Positions never decrease; the snapshot, up to the first progress row,
    // holds exactly the ids written before it, at its own position; the live
    // rows every later id once, in order, each later than the snapshot.
    rows.forEach((r, i) => assert.ok(i === 0 || rows[i - 1].lsn <= r.lsn, `position ${i} went back`));
    const end = rows.findIndex((r) => r.progressed);
    const snapshotLsn = rows[end].lsn;
    const snapshot = rows.slice(0, end);
    assert.ok(snapshot.every((r) => r.lsn === snapshotLsn));
    const ids = snapshot.map((r) => r.n).sort((a, b) => a - b);
    assert.ok(ids.length >= BEFORE, `a snapshot of ${ids.length} rows`);
    assert.deepEqual(ids, [...Array(ids.length).keys()]);
    const live = rows.slice(end + 1).filter((r) => !r.progressed);
    assert.ok(live.every((r) => r.lsn > snapshotLsn));
    assert.deepEqual(
      live.map((r) => r.n),
      [...Array(IDS - ids.length).keys()].map((i) => ids.length + i),
    );
    assert.ok(rows.every((r) => !r.progressed || r.n === null));

    await client.query("BEGIN");
    await client.query("DECLARE slow CURSOR FOR SUBSCRIBE node_feed WITH (SNAPSHOT = false)");
    // The first write reaches it whatever its size; the second would make 60
    // rows wait.
    for (let i = 0; i < 2; i++) {
      await writer.query("INSERT INTO node_feed SELECT now(), 'w', g FROM generate_series(1, 30) g");
    }
    await assert.rejects(client.query("FETCH ALL slow WITH (timeout = '5s')"), { code: "53400" });
    await client.query("ROLLBACK");
    const count = (await client.query("SELECT count(*) AS c FROM node_feed")).rows[0].c;
    assert.equal(count, String(2 * IDS + 60));
  } finally {
    await writer.end();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
