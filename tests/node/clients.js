// node-postgres against a running EpochDB. Usage: node clients.js PORT.
// Every check asserts results; the first failure exits non-zero.
// tests/integration/node.rs runs it.
"use strict";

const assert = require("node:assert/strict");
const { Client } = require("pg");

const port = Number(process.argv[2]);
const t0 = Date.UTC(2024, 0, 1);
const at = (seconds) => new Date(t0 + seconds * 1000);

async function main() {
  const client = new Client({ host: "127.0.0.1", port, user: "tester", database: "postgres" });
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
  } finally {
    await client.end();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
