"""Python clients against a running EpochDB: psycopg 3, asyncpg and SQLAlchemy.

Usage: clients.py PORT. Every check asserts results; the first failure
raises and the process exits non-zero. tests/integration/python.rs runs it.
"""

import asyncio
import contextlib
import datetime as dt
import sys
import threading
import time
from decimal import Decimal

import asyncpg
import psycopg
import sqlalchemy as sa
from psycopg import errors
from sqlalchemy import orm

PORT = int(sys.argv[1])
DSN = f"host=127.0.0.1 port={PORT} user=tester dbname=postgres"
UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds):
    return T0 + dt.timedelta(seconds=seconds)


def check(name, fn):
    fn()
    print(f"ok {name}")


# Subscriptions: a writer inserts rows with ids 0..FEED_IDS-1 one INSERT at
# a time from its own connection while a subscriber reads them. The ids are
# under host 'w'; each INSERT also writes a row under another host, which a
# subscription filtered on 'w' never sees.
FEED_IDS = 300
FEED_BEFORE = 100  # written before the subscription starts
FEED_LEAD = 20  # how far the writer may run ahead of the subscriber
FEED_TABLE = "CREATE TABLE {} (time TIMESTAMPTZ NOT NULL, host TEXT, n BIGINT)"


class FeedWriter:
    """The writer, on a thread: the first FEED_BEFORE ids at once, the rest
    at most FEED_LEAD ahead of those or of what the subscriber reports
    (`saw`), whichever is more, so that the subscription starts while it
    writes and its queue stays under the server's --subscribe-queue-rows
    (50)."""

    def __init__(self, table):
        self.table = table
        self.received = 0
        self.error = None
        self.ready = threading.Event()
        self.moved = threading.Condition()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            with psycopg.connect(DSN, autocommit=True) as conn:
                for n in range(FEED_IDS):
                    if n == FEED_BEFORE:
                        self.ready.set()
                    with self.moved:
                        if not self.moved.wait_for(lambda: n - max(self.received, FEED_BEFORE) < FEED_LEAD, timeout=30):
                            raise AssertionError(f"the subscriber stalled at {self.received} rows")
                    conn.execute(
                        f"INSERT INTO {self.table} VALUES (%s, 'w', %s), (%s, 'x', -1)", (at(n), n, at(n))
                    )
        except BaseException as e:  # noqa: BLE001 - reported by __exit__
            self.error = e
        finally:
            self.ready.set()

    def saw(self, count):
        with self.moved:
            self.received = count
            self.moved.notify()

    def __enter__(self):
        # Progress rows come every idle second: a subscriber waiting for
        # an id that never comes stops at this deadline.
        self.deadline = time.monotonic() + 30
        self.thread.start()
        assert self.ready.wait(30), "the writer did not start"
        return self

    def __exit__(self, *exc):
        self.saw(FEED_IDS)  # let it finish if the subscriber failed
        self.thread.join(30)
        if self.error is not None:
            raise self.error


def feed_rows(rows, writer, batch):
    """Adds `batch` of (epochdb_lsn, epochdb_progressed, n) to `rows` and
    tells the writer how many ids came; whether the last id came."""
    if writer.error is not None:
        raise writer.error
    assert time.monotonic() < writer.deadline, f"the last id did not come: {len(rows)} rows"
    rows.extend(tuple(r) for r in batch)
    writer.saw(sum(1 for r in rows if not r[1]))
    return any(r[2] == FEED_IDS - 1 for r in batch)


def check_feed(rows):
    """The rows of `SUBSCRIBE (SELECT n ... WHERE host = 'w') WITH (PROGRESS)`
    up to the last id: the snapshot (up to the first progress row) holds
    exactly the ids written before it, at its own position, and the live
    rows exactly every later id once, in order, each later than the
    snapshot; positions never decrease."""
    lsns = [r[0] for r in rows]
    assert lsns == sorted(lsns), lsns
    end = next(i for i, r in enumerate(rows) if r[1])
    snapshot_lsn = rows[end][0]
    snapshot = sorted(n for lsn, _, n in rows[:end])
    assert all(lsn == snapshot_lsn for lsn, _, _ in rows[:end]), rows[:end]
    assert len(snapshot) >= FEED_BEFORE and snapshot == list(range(len(snapshot))), snapshot
    live = [r for r in rows[end + 1 :] if not r[1]]
    assert all(lsn > snapshot_lsn for lsn, _, _ in live), (snapshot_lsn, live[:3])
    assert [n for _, _, n in live] == list(range(len(snapshot), FEED_IDS)), live
    assert all(n is None for _, progressed, n in rows if progressed)


def psycopg_basics():
    with psycopg.connect(DSN, autocommit=True) as conn:
        assert conn.info.server_version >= 150000, conn.info.server_version
        (version,) = conn.execute("SELECT version()").fetchone()
        assert version.startswith("PostgreSQL 15.") and "EpochDB" in version, version
        conn.execute(
            "CREATE TABLE py_cpu (time TIMESTAMPTZ NOT NULL, host TEXT, "
            "usage DOUBLE PRECISION, n BIGINT, ok BOOLEAN)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO py_cpu VALUES (%s, %s, %s, %s, %s)",
                [(at(i), f"h{i % 2}", i / 2, i, i % 3 == 0) for i in range(6)],
            )
        rows = conn.execute(
            "SELECT time, host, usage, n, ok FROM py_cpu WHERE host = %s ORDER BY time",
            ("h1",),
        ).fetchall()
        assert rows == [
            (at(1), "h1", 0.5, 1, False),
            (at(3), "h1", 1.5, 3, True),
            (at(5), "h1", 2.5, 5, False),
        ], rows
        # A list is an array parameter: untyped for strings (read as an array
        # of the compared column's type), int2[] for small integers.
        rows = conn.execute(
            "SELECT DISTINCT host FROM py_cpu WHERE host = ANY(%s) ORDER BY host", (["h1", "x"],)
        ).fetchall()
        assert rows == [("h1",)], rows
        rows = conn.execute("SELECT n FROM py_cpu WHERE n = ANY(%s) ORDER BY n", ([1, 4],)).fetchall()
        assert rows == [(1,), (4,)], rows
        (texts,) = conn.execute("SELECT %s::text[]", (["a", None, "b c"],)).fetchone()
        assert texts == ["a", None, "b c"], texts
        # Binary results decode to the same values.
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT time, usage, n, ok FROM py_cpu WHERE n = %s", (4,))
            assert cur.fetchall() == [(at(4), 2.0, 4, False)]
        try:
            conn.execute("SELECT * FROM no_such_table")
            raise AssertionError("must fail")
        except errors.UndefinedTable:
            pass
        (one,) = conn.execute("SELECT 1").fetchone()
        assert one == 1
        # Numerics arrive as Decimals of PostgreSQL's scale, in text and in
        # binary, and a Decimal parameter keeps its own.
        for binary in (False, True):
            with conn.cursor(binary=binary) as cur:
                cur.execute(
                    "SELECT 1.50, 0.1 + 0.2, 10 / 4.0, %s + 1, %s::numeric(5,1), round(avg(usage)::numeric, 2) FROM py_cpu",
                    (Decimal("2.250"), Decimal("1.25")),
                )
                assert cur.fetchone() == (
                    Decimal("1.50"),
                    Decimal("0.3"),
                    Decimal("2.5000000000000000"),
                    Decimal("3.250"),
                    Decimal("1.3"),
                    Decimal("1.25"),
                ), binary


def psycopg_transactions():
    # psycopg's default: every statement runs inside a transaction block.
    with psycopg.connect(DSN) as conn:
        conn.execute("INSERT INTO py_cpu (time, host, usage) VALUES (%s, 'tx', 1)", (at(10),))
        conn.rollback()
        conn.execute("INSERT INTO py_cpu (time, host, usage) VALUES (%s, 'tx', 2)", (at(11),))
        conn.commit()
        try:
            conn.execute("SELECT 'x'::int")
            raise AssertionError("must fail")
        except errors.InvalidTextRepresentation:
            pass
        try:
            conn.execute("SELECT 1")
            raise AssertionError("must fail")
        except errors.InFailedSqlTransaction:
            pass
        conn.rollback()
        with conn.transaction():
            conn.execute("INSERT INTO py_cpu (time, host, usage) VALUES (%s, 'tx', 3)", (at(12),))
            try:
                with conn.transaction():  # a savepoint
                    conn.execute("INSERT INTO py_cpu (time, host, usage) VALUES (%s, 'tx', 4)", (at(13),))
                    conn.execute("SELECT * FROM no_such_table")
            except errors.UndefinedTable:
                pass
        conn.commit()
        rows = conn.execute("SELECT usage FROM py_cpu WHERE host = 'tx' ORDER BY time").fetchall()
        assert rows == [(2.0,), (3.0,)], rows


def psycopg_copy():
    with psycopg.connect(DSN, autocommit=True) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY py_cpu (time, host, usage, n, ok) FROM STDIN") as copy:
                for i in range(100, 1100):
                    copy.write_row((at(i), "copy", i * 0.25, i, True))
            with cur.copy("COPY py_cpu (time, host, usage) FROM STDIN (FORMAT binary)") as copy:
                copy.set_types(["timestamptz", "text", "float8"])
                for i in range(2000, 2010):
                    copy.write_row((at(i), "bin", 1.0))
        (count, total) = conn.execute(
            "SELECT count(*), sum(n) FROM py_cpu WHERE host = 'copy'"
        ).fetchone()
        assert (count, total) == (1000, sum(range(100, 1100))), (count, total)
        (count,) = conn.execute("SELECT count(*) FROM py_cpu WHERE host = 'bin'").fetchone()
        assert count == 10
        with conn.cursor() as cur:
            out = b""
            with cur.copy("COPY (SELECT n, host FROM py_cpu WHERE n < 3 ORDER BY n) TO STDOUT") as copy:
                for data in copy:
                    out += bytes(data)
        assert out == b"0\th0\n1\th1\n2\th0\n", out


def psycopg_named_cursor():
    # A server-side cursor: psycopg declares it, then describes the portal
    # of that name, then fetches it in pieces. SQLAlchemy's stream_results
    # uses one.
    with psycopg.connect(DSN) as conn:
        with conn.cursor("py_named") as cur:
            cur.itersize = 300
            cur.execute("SELECT n, host FROM py_cpu WHERE host = %s ORDER BY n", ("copy",))
            assert [d.name for d in cur.description] == ["n", "host"], cur.description
            rows = list(cur)
        assert [r[0] for r in rows] == list(range(100, 1100)), len(rows)
    engine = sa.create_engine(f"postgresql+psycopg://tester@127.0.0.1:{PORT}/postgres")
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=250).execute(
            sa.text("SELECT n FROM py_cpu WHERE host = 'copy'")
        )
        assert sum(1 for _ in result) == 1000
    engine.dispose()


def psycopg_subscribe_stream():
    # A bare SUBSCRIBE read with cursor.stream(): its rows arrive one by one
    # while the writer writes; leaving the loop cancels it.
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(FEED_TABLE.format("py_feed"))
        rows = []
        watchdog = threading.Timer(30, conn.cancel)  # nothing hangs
        with FeedWriter("py_feed") as writer:
            watchdog.start()
            try:
                cur = conn.cursor()
                query = "SUBSCRIBE (SELECT n FROM py_feed WHERE host = %s) WITH (PROGRESS)"
                # Closing the stream cancels the subscription.
                with contextlib.closing(cur.stream(query, ("w",))) as stream:
                    for row in stream:
                        if feed_rows(rows, writer, [row]):
                            break
                    assert [d.name for d in cur.description] == ["epochdb_lsn", "epochdb_progressed", "n"]
            finally:
                watchdog.cancel()
        check_feed(rows)
        assert conn.execute("SELECT count(*) FROM py_feed").fetchone() == (2 * FEED_IDS,)


def psycopg_subscribe_cursor():
    # A cursor over SUBSCRIBE in psycopg's implicit transaction, read with a
    # FETCH loop; then a subscriber that lets more than 50 rows wait.
    with psycopg.connect(DSN) as conn:
        conn.execute(FEED_TABLE.format("py_feed2"))
        conn.commit()
        rows = []
        with FeedWriter("py_feed2") as writer:
            conn.execute("DECLARE feed CURSOR FOR SUBSCRIBE (SELECT n FROM py_feed2 WHERE host = 'w') WITH (PROGRESS)")
            done = False
            while not done:
                batch = conn.execute("FETCH 100 feed WITH (timeout = '5s')").fetchall()
                assert batch, f"no row within 5 s after {len(rows)}"
                done = feed_rows(rows, writer, batch)
        # Nothing but progress rows after the last id.
        rest = conn.execute("FETCH ALL feed WITH (timeout = '100ms')").fetchall()
        assert all(progressed for _, progressed, _ in rest), rest
        conn.rollback()
        check_feed(rows)

        conn.execute("DECLARE slow CURSOR FOR SUBSCRIBE py_feed2 WITH (SNAPSHOT = false)")
        with psycopg.connect(DSN, autocommit=True) as other:
            # The first write reaches it whatever its size; the second would
            # make 60 rows wait.
            for _ in range(2):
                other.execute("INSERT INTO py_feed2 SELECT now(), 'w', g FROM generate_series(1, 30) g")
        try:
            conn.execute("FETCH ALL slow WITH (timeout = '5s')")
            raise AssertionError("must fail")
        except errors.ConfigurationLimitExceeded as e:
            assert e.sqlstate == "53400", e
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM py_feed2").fetchone() == (2 * FEED_IDS + 60,)


async def asyncpg_suite():
    conn = await asyncpg.connect(host="127.0.0.1", port=PORT, user="tester", database="postgres")
    try:
        await conn.execute(
            "CREATE TABLE apg (time TIMESTAMPTZ NOT NULL, host TEXT, v DOUBLE PRECISION, n BIGINT)"
        )
        await conn.executemany(
            "INSERT INTO apg VALUES ($1, $2, $3, $4)",
            [(at(i), "a", i * 1.5, i) for i in range(5)],
        )
        rows = await conn.fetch("SELECT time, host, v, n FROM apg WHERE n >= $1 ORDER BY time", 3)
        assert [tuple(r) for r in rows] == [(at(3), "a", 4.5, 3), (at(4), "a", 6.0, 4)], rows
        assert await conn.fetchval("SELECT count(*) FROM apg") == 5
        statement = await conn.prepare("SELECT n FROM apg WHERE time = $1")
        assert await statement.fetchval(at(2)) == 2
        n = await conn.copy_records_to_table(
            "apg", records=[(at(10 + i), "b", 0.5, i) for i in range(100)]
        )
        assert n == "COPY 100", n
        assert await conn.fetchval("SELECT count(*) FROM apg WHERE host = 'b'") == 100
        try:
            async with conn.transaction():
                await conn.execute("INSERT INTO apg VALUES ($1, 'c', 1, 1)", at(500))
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert await conn.fetchval("SELECT count(*) FROM apg WHERE host = 'c'") == 0
        # Cursors: asyncpg binds a portal, fetches from it and MOVEs it by name.
        async with conn.transaction():
            cur = await conn.cursor("SELECT n FROM apg WHERE host = 'b' ORDER BY n")
            assert [r[0] for r in await cur.fetch(2)] == [0, 1]
            await cur.forward(3)
            assert (await cur.fetchrow())[0] == 5
            seen = [r[0] async for r in conn.cursor("SELECT g FROM generate_series(1, 5) g", prefetch=2)]
            assert seen == [1, 2, 3, 4, 5], seen
        # Booleans are sent in binary, as parameters typed by a cast or by NOT.
        assert await conn.fetchval("SELECT $1::bool", True) is True
        assert await conn.fetchval("SELECT NOT $1", False) is True
        # Numerics both ways in binary, at their own scale.
        assert await conn.fetchval("SELECT $1::numeric + 1.5", Decimal("2.25")) == Decimal("3.75")
        assert str(await conn.fetchval("SELECT $1::numeric", Decimal("-1.000120"))) == "-1.000120"
        assert str(await conn.fetchval("SELECT 10 / 4.0")) == "2.5000000000000000"
        try:
            await conn.fetch("SELECT * FROM no_such_table")
            raise AssertionError("must fail")
        except asyncpg.exceptions.UndefinedTableError:
            pass
        # CRUD on a plain table with a SERIAL key: prepared statements
        # described before they run, RETURNING, upserts.
        await conn.execute("CREATE TABLE apg_items (id SERIAL PRIMARY KEY, name TEXT UNIQUE, qty INT DEFAULT 0)")
        new_id = await conn.fetchval("INSERT INTO apg_items (name) VALUES ($1) RETURNING id", "bolt")
        assert new_id == 1, new_id
        rows = await conn.fetch(
            "INSERT INTO apg_items (name, qty) VALUES ($1, $2), ($3, $4) RETURNING id, name, qty",
            "nut", 5, "gear", 7,
        )
        assert [tuple(r) for r in rows] == [(2, "nut", 5), (3, "gear", 7)], rows
        upsert = await conn.prepare(
            "INSERT INTO apg_items (name, qty) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET qty = apg_items.qty + excluded.qty RETURNING id, qty"
        )
        assert tuple(await upsert.fetchrow("nut", 10)) == (2, 15)
        assert tuple(await upsert.fetchrow("washer", 1)) == (5, 1)
        row = await conn.fetchrow("UPDATE apg_items SET qty = qty * 2 WHERE name = $1 RETURNING id, qty", "gear")
        assert tuple(row) == (3, 14), row
        gone = await conn.fetch("DELETE FROM apg_items WHERE qty < $1 RETURNING name", 5)
        assert sorted(r[0] for r in gone) == ["bolt", "washer"], gone
        assert await conn.fetchval("SELECT currval('apg_items_id_seq')") == 5
    finally:
        await conn.close()
    # A pool resets each connection it takes back.
    pool = await asyncpg.create_pool(
        host="127.0.0.1", port=PORT, user="tester", database="postgres", min_size=1, max_size=2
    )
    try:
        for _ in range(3):
            async with pool.acquire() as c:
                assert await c.fetchval("SELECT count(*) FROM apg WHERE host = 'a'") == 5
    finally:
        await pool.close()


async def asyncpg_subscribe():
    # A FETCH loop over a cursor in a transaction, while another asyncpg
    # connection writes (at most FEED_LEAD ids ahead); then a subscriber
    # that lets more than 50 rows wait.
    conn = await asyncpg.connect(host="127.0.0.1", port=PORT, user="tester", database="postgres")
    other = await asyncpg.connect(host="127.0.0.1", port=PORT, user="tester", database="postgres")
    try:
        await conn.execute(FEED_TABLE.format("apg_feed"))
        received = 0
        ready = asyncio.Event()

        async def write():
            for n in range(FEED_IDS):
                if n == FEED_BEFORE:
                    ready.set()
                while n - max(received, FEED_BEFORE) >= FEED_LEAD:
                    await asyncio.sleep(0.001)
                await other.execute("INSERT INTO apg_feed VALUES ($1, 'w', $2), ($1, 'x', -1)", at(n), n)

        writer = asyncio.create_task(write())
        await asyncio.wait_for(ready.wait(), 30)
        rows = []
        async with conn.transaction():
            await conn.execute(
                "DECLARE feed CURSOR FOR SUBSCRIBE (SELECT n FROM apg_feed WHERE host = 'w') WITH (PROGRESS)"
            )
            done = False
            deadline = time.monotonic() + 30
            while not done:
                if writer.done() and writer.exception() is not None:
                    raise writer.exception()
                assert time.monotonic() < deadline, f"the last id did not come: {len(rows)} rows"
                batch = await asyncio.wait_for(conn.fetch("FETCH 100 feed WITH (timeout = '5s')"), 30)
                assert batch, f"no row within 5 s after {len(rows)}"
                rows.extend(tuple(r) for r in batch)
                received = sum(1 for r in rows if not r[1])
                done = any(r[2] == FEED_IDS - 1 for r in batch)
            rest = await conn.fetch("FETCH ALL feed WITH (timeout = '100ms')")
            assert all(r["epochdb_progressed"] for r in rest), rest
        await asyncio.wait_for(writer, 30)
        check_feed(rows)

        try:
            async with conn.transaction():
                await conn.execute("DECLARE slow CURSOR FOR SUBSCRIBE apg_feed WITH (SNAPSHOT = false)")
                for _ in range(2):  # the second write makes 60 rows wait
                    await other.execute("INSERT INTO apg_feed SELECT now(), 'w', g FROM generate_series(1, 30) g")
                await asyncio.wait_for(conn.fetch("FETCH ALL slow WITH (timeout = '5s')"), 30)
            raise AssertionError("must fail")
        except asyncpg.exceptions.ConfigurationLimitExceededError:
            pass
        assert await conn.fetchval("SELECT count(*) FROM apg_feed") == 2 * FEED_IDS + 60
    finally:
        await other.close()
        await conn.close()


def sqlalchemy_suite():
    # The default engine: its dialect initialization looks up hstore with
    # to_regtype() and reads version() and current settings.
    engine = sa.create_engine(f"postgresql+psycopg://tester@127.0.0.1:{PORT}/postgres")
    with engine.begin() as conn:
        assert conn.dialect.server_version_info[0] == 15, conn.dialect.server_version_info
        conn.execute(
            sa.text(
                "CREATE TABLE sa_cpu (time TIMESTAMPTZ NOT NULL, host TEXT, "
                "usage DOUBLE PRECISION, n BIGINT)"
            )
        )

    # The inspector: what Alembic, pandas and admin tools call.
    inspector = sa.inspect(engine)
    assert "public" in inspector.get_schema_names()
    assert "sa_cpu" in inspector.get_table_names()
    assert inspector.has_table("sa_cpu") and not inspector.has_table("nope")
    columns = inspector.get_columns("sa_cpu")
    assert [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in columns] == [
        ("time", "TIMESTAMP", False, None),
        ("host", "TEXT", True, None),
        ("usage", "DOUBLE PRECISION", True, None),
        ("n", "BIGINT", True, None),
    ], columns
    assert columns[0]["type"].timezone
    assert inspector.get_pk_constraint("sa_cpu")["constrained_columns"] == []
    assert inspector.get_indexes("sa_cpu") == []
    assert inspector.get_foreign_keys("sa_cpu") == []
    assert inspector.get_unique_constraints("sa_cpu") == []
    assert inspector.get_table_comment("sa_cpu") == {"text": None}

    # Core: a reflected table, executemany inserts, a bound query.
    table = sa.Table("sa_cpu", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [{"time": at(i), "host": f"h{i % 2}", "usage": i * 1.5, "n": i} for i in range(6)],
        )
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.host, sa.func.count(), sa.func.max(table.c.usage))
            .where(table.c.time >= at(1))
            .group_by(table.c.host)
            .order_by(table.c.host)
        ).all()
        assert rows == [("h0", 2, 6.0), ("h1", 3, 7.5)], rows
        # A failed statement rolls the implicit transaction back; the
        # connection goes on.
        try:
            conn.execute(sa.text("SELECT * FROM nope"))
            raise AssertionError("must fail")
        except sa.exc.ProgrammingError as e:
            assert isinstance(e.orig, errors.UndefinedTable), e
        conn.rollback()
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 6

    # The ORM, over the reflected table (a time series has no primary key:
    # the mapping names one).
    class Base(orm.DeclarativeBase):
        pass

    class Reading(Base):
        __table__ = table
        __mapper_args__ = {"primary_key": [table.c.time, table.c.host]}

    with orm.Session(engine) as session:
        readings = session.scalars(
            sa.select(Reading).where(Reading.host == "h1").order_by(Reading.time.desc()).limit(2)
        ).all()
        assert [(r.time, r.n) for r in readings] == [(at(5), 5), (at(3), 3)]

    # A view: listed (EpochDB's own `epochdb` views are not on the search
    # path), described, reflected and read, its filter and the reader's
    # together; and a rollup made with CREATE TABLE ... AS.
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE VIEW sa_h1 AS SELECT time, usage FROM sa_cpu WHERE host = 'h1'"))
        conn.execute(
            sa.text(
                "CREATE TABLE sa_rollup AS SELECT host, count(*) AS n, max(usage) AS top "
                "FROM sa_cpu GROUP BY host"
            )
        )
    inspector = sa.inspect(engine)
    assert inspector.get_view_names() == ["sa_h1"], inspector.get_view_names()
    assert "sa_cpu" in inspector.get_view_definition("sa_h1")
    view = sa.Table("sa_h1", sa.MetaData(), autoload_with=engine)
    assert [c.name for c in view.columns] == ["time", "usage"]
    rollup = sa.Table("sa_rollup", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(view.c.usage).where(view.c.usage > 2).order_by(view.c.usage)).all()
        assert rows == [(4.5,), (7.5,)], rows
        rows = conn.execute(sa.select(rollup).order_by(rollup.c.host)).all()
        assert rows == [("h0", 3, 6.0), ("h1", 3, 7.5)], rows


def plain_tables():
    # psycopg: keys, parameters in UPDATE and DELETE, a block's own changes.
    with psycopg.connect(DSN) as conn:
        conn.execute("CREATE TABLE py_devices (id INT PRIMARY KEY, name TEXT UNIQUE, site TEXT)")
        conn.execute("INSERT INTO py_devices VALUES (%s, %s, %s), (%s, %s, %s)", (1, "a", "s1", 2, "b", "s2"))
        conn.commit()
        cur = conn.execute("UPDATE py_devices SET site = %s WHERE id = %s", ("s9", 1))
        assert cur.rowcount == 1, cur.rowcount
        assert conn.execute("SELECT site FROM py_devices WHERE id = %s", (1,)).fetchone() == ("s9",)
        conn.rollback()
        assert conn.execute("SELECT site FROM py_devices WHERE id = 1").fetchone() == ("s1",)
        try:
            conn.execute("INSERT INTO py_devices VALUES (%s, %s, NULL)", (3, "a"))
            raise AssertionError("must fail")
        except errors.UniqueViolation as e:
            assert e.diag.constraint_name is None or e.diag.constraint_name == "py_devices_name_key"
            assert "py_devices_name_key" in str(e), e
        conn.rollback()
        cur = conn.execute("DELETE FROM py_devices WHERE name = %s", ("b",))
        assert cur.rowcount == 1, cur.rowcount
        conn.commit()
        rows = conn.execute("SELECT id, name, site FROM py_devices ORDER BY id").fetchall()
        assert rows == [(1, "a", "s1")], rows

    # The SQLAlchemy ORM over a plain table it creates: create_all, then
    # insert, update and delete by primary key.
    engine = sa.create_engine(f"postgresql+psycopg://tester@127.0.0.1:{PORT}/postgres")

    class Base(orm.DeclarativeBase):
        pass

    class Site(Base):
        __tablename__ = "sa_sites"
        id = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
        name = sa.Column(sa.String(50), nullable=False, unique=True)
        # A default of the client's.
        active = sa.Column(sa.Boolean, default=True)

    Base.metadata.create_all(engine)
    # The inspector finds the keys create_all made, as on PostgreSQL.
    inspector = sa.inspect(engine)
    key = inspector.get_pk_constraint("sa_sites")
    assert (key["name"], key["constrained_columns"]) == ("sa_sites_pkey", ["id"]), key
    uniques = [(u["name"], u["column_names"]) for u in inspector.get_unique_constraints("sa_sites")]
    assert uniques == [("sa_sites_name_key", ["name"])], uniques
    indexes = [(i["name"], i["unique"], i["column_names"]) for i in inspector.get_indexes("sa_sites")]
    assert indexes == [("sa_sites_name_key", True, ["name"])], indexes
    with orm.Session(engine) as session:
        session.add_all([Site(id=1, name="north"), Site(id=2, name="south")])
        session.commit()
        north = session.get(Site, 1)
        north.name = "north-1"
        session.delete(session.get(Site, 2))
        session.commit()
        sites = session.scalars(sa.select(Site).order_by(Site.id)).all()
        assert [(s.id, s.name, s.active) for s in sites] == [(1, "north-1", True)], sites
        session.add(Site(id=3, name="north-1"))
        try:
            session.commit()
            raise AssertionError("must fail")
        except sa.exc.IntegrityError:
            session.rollback()

    # An autoincrement id (SERIAL) and a server default: SQLAlchemy creates
    # the table and reads both back with INSERT ... RETURNING.
    class Device(Base):
        __tablename__ = "sa_devices"
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String(50), nullable=False)
        kind = sa.Column(sa.Text, server_default="sensor")

    Base.metadata.create_all(engine)
    with orm.Session(engine) as session:
        devices = [Device(name="a"), Device(name="b"), Device(name="c", kind="gateway")]
        session.add_all(devices)
        session.commit()
        assert [(d.id, d.name, d.kind) for d in devices] == [
            (1, "a", "sensor"),
            (2, "b", "sensor"),
            (3, "c", "gateway"),
        ], [(d.id, d.kind) for d in devices]
        session.delete(devices[1])
        session.commit()
        later = Device(name="d")
        session.add(later)
        session.commit()
        assert later.id == 4, later.id
    # Upserts as SQLAlchemy spells them for PostgreSQL.
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    devices_table = Device.__table__
    with engine.begin() as conn:
        stmt = pg_insert(devices_table).values(id=1, name="a2", kind="sensor")
        stmt = stmt.on_conflict_do_update(
            index_elements=[devices_table.c.id], set_={"name": stmt.excluded.name}
        ).returning(devices_table.c.id, devices_table.c.name)
        assert conn.execute(stmt).all() == [(1, "a2")]
        conn.execute(pg_insert(devices_table).values(id=3, name="x").on_conflict_do_nothing())
        name = conn.execute(sa.select(devices_table.c.name).where(devices_table.c.id == 3)).scalar()
        assert name == "c", name
    with engine.begin() as conn:
        deleted = conn.execute(
            sa.delete(Device.__table__).where(Device.__table__.c.kind == "sensor").returning(Device.__table__.c.id)
        ).scalars().all()
        assert sorted(deleted) == [1, 4], deleted


def json_and_date_columns():
    # psycopg adapts jsonb and json to Python objects and dates to dates,
    # in text and binary; a bad document is refused with 22P02.
    from psycopg.types.json import Json, Jsonb

    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("CREATE TABLE py_docs (id INT PRIMARY KEY, day DATE, meta JSONB, raw JSON)")
        conn.execute(
            "INSERT INTO py_docs VALUES (%s, %s, %s, %s)",
            (1, dt.date(2024, 2, 29), Jsonb({"b": [1, 2.5], "a": None}), Json({"k": "v"})),
        )
        conn.execute(
            "INSERT INTO py_docs VALUES (%b, %b, %b, %b)",
            (2, dt.date(1999, 12, 31), Jsonb({"site": "s2"}), Json([1])),
        )
        for binary in (False, True):
            rows = conn.execute("SELECT * FROM py_docs ORDER BY id", binary=binary).fetchall()
            assert rows == [
                (1, dt.date(2024, 2, 29), {"a": None, "b": [1, 2.5]}, {"k": "v"}),
                (2, dt.date(1999, 12, 31), {"site": "s2"}, [1]),
            ], rows
        text = conn.execute("SELECT meta::text FROM py_docs WHERE id = 1").fetchone()[0]
        assert text == '{"a": null, "b": [1, 2.5]}', text
        found = conn.execute(
            "SELECT id FROM py_docs WHERE meta @> %s AND day < %s",
            (Jsonb({"site": "s2"}), dt.date(2000, 1, 1)),
        ).fetchall()
        assert found == [(2,)], found
        try:
            conn.execute("INSERT INTO py_docs (id, meta) VALUES (3, %s)", ('{"bad"',))
            raise AssertionError("must fail")
        except errors.InvalidTextRepresentation:
            pass

        # uuid keys, made by the server or sent as uuid.UUID, in a list too.
        import uuid

        conn.execute("CREATE TABLE py_users (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), name TEXT)")
        made = conn.execute("INSERT INTO py_users (name) VALUES ('a') RETURNING id").fetchone()[0]
        assert isinstance(made, uuid.UUID), made
        sent = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        conn.execute("INSERT INTO py_users VALUES (%b, %b)", (sent, "b"))
        for binary in (False, True):
            names = conn.execute(
                "SELECT name FROM py_users WHERE id = ANY(%s) ORDER BY name", ([made, sent],), binary=binary
            ).fetchall()
            assert names == [("a",), ("b",)], names
        row = conn.execute("SELECT id FROM py_users WHERE id = %s", (str(sent).upper(),)).fetchone()
        assert row == (sent,), row

        # bytea: bytes in, bytes out, through COPY too.
        conn.execute("CREATE TABLE py_blobs (id INT PRIMARY KEY, data BYTEA)")
        conn.execute("INSERT INTO py_blobs VALUES (%s, %s), (%b, %b)", (1, b"\x00\xffab", 2, b""))
        with conn.cursor().copy("COPY py_blobs FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "bytea"])
            copy.write_row((3, b"\x01\x02"))
        with conn.cursor().copy("COPY py_blobs FROM STDIN") as copy:
            copy.write_row((4, b"\\"))
        for binary in (False, True):
            rows = conn.execute("SELECT id, data, length(data) FROM py_blobs ORDER BY id", binary=binary).fetchall()
            assert rows == [(1, b"\x00\xffab", 4), (2, b"", 0), (3, b"\x01\x02", 2), (4, b"\\", 1)], rows


# Alembic: two revisions of a small model, run with `alembic upgrade` and
# `downgrade` from a script directory written here, as a project has one.
ALEMBIC_ENV = """
from alembic import context
import sqlalchemy as sa

engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""

ALEMBIC_REVISIONS = {
    "0001_users.py": """
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "al_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("born", sa.Date),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )


def downgrade():
    op.drop_table("al_users")
""",
    "0002_score.py": """
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"


def upgrade():
    op.add_column("al_users", sa.Column("score", sa.Integer, nullable=False, server_default="0"))
    op.add_column("al_users", sa.Column("nickname", sa.String(20)))
    op.alter_column("al_users", "score", server_default=None)


def downgrade():
    op.drop_column("al_users", "nickname")
    op.drop_column("al_users", "score")
""",
}


def alembic_suite():
    import pathlib
    import tempfile

    from alembic import command
    from alembic.config import Config

    url = f"postgresql+psycopg://tester@127.0.0.1:{PORT}/postgres"
    engine = sa.create_engine(url)
    with tempfile.TemporaryDirectory() as scripts:
        root = pathlib.Path(scripts)
        (root / "env.py").write_text(ALEMBIC_ENV)
        (root / "versions").mkdir()
        for name, text in ALEMBIC_REVISIONS.items():
            (root / "versions" / name).write_text(text)
        config = Config()
        config.set_main_option("script_location", scripts)
        config.set_main_option("sqlalchemy.url", url)

        def version():
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()

        def columns():
            return [c["name"] for c in sa.inspect(engine).get_columns("al_users")]

        command.upgrade(config, "0001")
        assert version() == ["0001"], version()
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO al_users (name, born) VALUES ('ada', '1815-12-10'), ('bob', NULL)")
            )
        # The rows already there take the new NOT NULL column's default.
        command.upgrade(config, "head")
        assert version() == ["0002"], version()
        assert columns() == ["id", "name", "born", "active", "created", "score", "nickname"], columns()

        # CRUD through the ORM, with the model the migrations build.
        class Base(orm.DeclarativeBase):
            pass

        class User(Base):
            __tablename__ = "al_users"
            id = sa.Column(sa.Integer, primary_key=True)
            name = sa.Column(sa.Text, nullable=False, unique=True)
            born = sa.Column(sa.Date)
            active = sa.Column(sa.Boolean, nullable=False, server_default=sa.true())
            created = sa.Column(sa.DateTime(timezone=True), server_default=sa.func.now())
            score = sa.Column(sa.Integer, nullable=False)
            nickname = sa.Column(sa.String(20))

        with orm.Session(engine) as session:
            users = session.scalars(sa.select(User).order_by(User.id)).all()
            assert [(u.id, u.name, u.born, u.active, u.score, u.nickname) for u in users] == [
                (1, "ada", dt.date(1815, 12, 10), True, 0, None),
                (2, "bob", None, True, 0, None),
            ], users
            assert all(u.created is not None for u in users)
            session.add(User(name="cy", score=5, nickname="c"))
            users[1].score = 3
            session.delete(users[0])
            session.commit()
            rows = session.execute(sa.select(User.id, User.name, User.score).order_by(User.id)).all()
            assert rows == [(2, "bob", 3), (3, "cy", 5)], rows
        # What `alembic check` and autogenerate compare: the model against
        # the keys, defaults and types reflected from the database. Nothing
        # differs.
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        with engine.connect() as conn:
            opts = {"compare_type": True, "compare_server_default": True}
            context = MigrationContext.configure(conn, opts=opts)
            diffs = [d for d in compare_metadata(context, Base.metadata) if "al_users" in str(d)]
        assert diffs == [], diffs
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO al_users (name, score) VALUES ('cy', 1)"))
            raise AssertionError("must fail")
        except sa.exc.IntegrityError as e:
            assert isinstance(e.orig, errors.UniqueViolation), e
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO al_users (name, score) VALUES ('dee', NULL)"))
            raise AssertionError("must fail")
        except sa.exc.IntegrityError as e:
            assert isinstance(e.orig, errors.NotNullViolation), e

        # Down one revision (DROP COLUMN), to the base (DROP TABLE), and up again.
        command.downgrade(config, "-1")
        assert version() == ["0001"], version()
        assert columns() == ["id", "name", "born", "active", "created"], columns()
        with engine.connect() as conn:
            names = conn.execute(sa.text("SELECT name FROM al_users ORDER BY id")).scalars().all()
            assert names == ["bob", "cy"], names
        command.downgrade(config, "base")
        assert version() == [], version()
        assert not sa.inspect(engine).has_table("al_users")
        command.upgrade(config, "head")
        assert version() == ["0002"], version()
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO al_users (name, score) VALUES ('eve', 1)"))
            row = conn.execute(sa.text("SELECT id, name, score FROM al_users")).one()
            assert tuple(row) == (1, "eve", 1), row
            conn.execute(sa.text("DROP TABLE al_users"))
            conn.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()


check("psycopg: types, parameters, binary results, errors", psycopg_basics)
check("psycopg: transactions and savepoints", psycopg_transactions)
check("psycopg: COPY in text and binary, COPY out", psycopg_copy)
check("psycopg and SQLAlchemy: server-side (named) cursors, stream_results", psycopg_named_cursor)
check("psycopg: SUBSCRIBE streamed with cursor.stream(), snapshot and live rows exactly once", psycopg_subscribe_stream)
check("psycopg: SUBSCRIBE in a cursor, a FETCH loop, a slow subscriber cut off (53400)", psycopg_subscribe_cursor)
check("SQLAlchemy: dialect initialization, inspector, Core and ORM", sqlalchemy_suite)
check("psycopg and the SQLAlchemy ORM: plain tables, keys, UPDATE, DELETE", plain_tables)
check("psycopg: DATE, JSON, JSONB, UUID and BYTEA columns in text and binary", json_and_date_columns)
check("Alembic: upgrade and downgrade of a small model, then ORM CRUD", alembic_suite)
check("asyncpg: queries, prepared statements, COPY, transactions, pools, CRUD", lambda: asyncio.run(asyncpg_suite()))
check(
    "asyncpg: SUBSCRIBE in a cursor, a FETCH loop, a slow subscriber cut off (53400)",
    lambda: asyncio.run(asyncpg_subscribe()),
)
