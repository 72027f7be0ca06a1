// pgJDBC against a running EpochDB: DatabaseMetaData, prepared statements,
// batches, errors and subscriptions. Usage: java -cp postgresql.jar Clients.java PORT.
// Every check asserts results; the first failure throws and the process exits
// non-zero. tests/integration/jdbc.rs runs it.

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

public class Clients {
    static String url;

    static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    static <T> void equal(T got, T want, String what) {
        if (got == null ? want != null : !got.equals(want)) {
            throw new AssertionError(what + ": got " + got + ", want " + want);
        }
    }

    static Connection connect() throws SQLException {
        return DriverManager.getConnection(url, "tester", "");
    }

    static List<String> column(ResultSet rs, String name) throws SQLException {
        List<String> values = new ArrayList<>();
        while (rs.next()) {
            values.add(rs.getString(name));
        }
        return values;
    }

    static void metadata() throws SQLException {
        try (Connection c = connect(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE jdbc_cpu (time TIMESTAMPTZ NOT NULL, host TEXT, "
                + "usage DOUBLE PRECISION, n INTEGER, ok BOOLEAN)");
            DatabaseMetaData md = c.getMetaData();
            equal(md.getDatabaseProductName(), "PostgreSQL", "product name");
            equal(md.getDatabaseMajorVersion(), 15, "major version");
            check(md.getDatabaseProductVersion().startsWith("15."), md.getDatabaseProductVersion());
            equal(md.getUserName(), "tester", "user name");

            List<String> schemas = column(md.getSchemas(), "TABLE_SCHEM");
            check(schemas.contains("public") && schemas.contains("pg_catalog")
                && schemas.contains("information_schema"), "schemas " + schemas);

            List<String> catalogs = column(md.getCatalogs(), "TABLE_CAT");
            check(catalogs.contains("postgres"), "catalogs " + catalogs);

            List<String> tables = column(
                md.getTables(null, "public", "jdbc%", new String[] {"TABLE"}), "TABLE_NAME");
            equal(tables, List.of("jdbc_cpu"), "tables");

            List<String> types = column(md.getTableTypes(), "TABLE_TYPE");
            check(types.contains("TABLE") && types.contains("VIEW"), "table types " + types);

            try (ResultSet rs = md.getColumns(null, "public", "jdbc_cpu", "%")) {
                List<String> columns = new ArrayList<>();
                while (rs.next()) {
                    columns.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME") + " "
                        + rs.getInt("DATA_TYPE") + " " + rs.getString("IS_NULLABLE") + " "
                        + rs.getInt("ORDINAL_POSITION"));
                }
                equal(columns, List.of(
                    "time timestamptz " + Types.TIMESTAMP + " NO 1",
                    "host text " + Types.VARCHAR + " YES 2",
                    "usage float8 " + Types.DOUBLE + " YES 3",
                    "n int4 " + Types.INTEGER + " YES 4",
                    "ok bool " + Types.BIT + " YES 5"), "columns");
            }

            // A time-series table without keys: empty, not an error.
            check(!md.getPrimaryKeys(null, "public", "jdbc_cpu").next(), "primary keys");
            check(!md.getIndexInfo(null, "public", "jdbc_cpu", false, true).next(), "indexes");

            // A plain table's key, the unique indexes behind its keys, and a
            // column's default, as PostgreSQL lists them.
            s.execute("CREATE TABLE jdbc_sites (id INT PRIMARY KEY, code TEXT UNIQUE, "
                + "name TEXT DEFAULT 'x')");
            try (ResultSet rs = md.getPrimaryKeys(null, "public", "jdbc_sites")) {
                check(rs.next(), "a primary key");
                equal(rs.getString("COLUMN_NAME") + " " + rs.getString("PK_NAME"),
                    "id jdbc_sites_pkey", "primary key");
                check(!rs.next(), "one primary key column");
            }
            equal(column(md.getIndexInfo(null, "public", "jdbc_sites", true, true), "INDEX_NAME"),
                List.of("jdbc_sites_code_key", "jdbc_sites_pkey"), "unique indexes");
            equal(column(md.getColumns(null, "public", "jdbc_sites", "name"), "COLUMN_DEF"),
                List.of("'x'::text"), "column default");

            List<String> typeNames = column(md.getTypeInfo(), "TYPE_NAME");
            check(typeNames.contains("int4") && typeNames.contains("timestamptz")
                && typeNames.contains("float8"), "type info");
        }
        System.out.println("ok jdbc: DatabaseMetaData");
    }

    static void statements() throws SQLException {
        try (Connection c = connect()) {
            Timestamp t0 = Timestamp.valueOf("2024-01-01 00:00:00");
            try (PreparedStatement insert = c.prepareStatement(
                     "INSERT INTO jdbc_cpu (time, host, usage, n, ok) VALUES (?, ?, ?, ?, ?)")) {
                for (int i = 0; i < 10; i++) {
                    insert.setTimestamp(1, new Timestamp(t0.getTime() + i * 10_000L));
                    insert.setString(2, "h" + (i % 2));
                    insert.setDouble(3, i * 1.5);
                    insert.setInt(4, i);
                    insert.setBoolean(5, i % 2 == 0);
                    insert.addBatch();
                }
                int[] counts = insert.executeBatch();
                equal(counts.length, 10, "batch size");
            }
            // The driver switches to server-side prepared statements (and
            // binary results) from the fifth execution on.
            try (PreparedStatement query = c.prepareStatement(
                     "SELECT count(*), sum(n), max(usage) FROM jdbc_cpu WHERE host = ? AND time >= ?")) {
                for (int run = 0; run < 6; run++) {
                    query.setString(1, "h1");
                    query.setTimestamp(2, t0);
                    try (ResultSet rs = query.executeQuery()) {
                        check(rs.next(), "a row");
                        equal(rs.getLong(1), 5L, "count");
                        equal(rs.getLong(2), 25L, "sum");
                        equal(rs.getDouble(3), 13.5, "max");
                    }
                }
            }
            try (PreparedStatement query = c.prepareStatement(
                     "SELECT time, host, usage, n, ok FROM jdbc_cpu WHERE n = ? ORDER BY time")) {
                query.setInt(1, 3);
                try (ResultSet rs = query.executeQuery()) {
                    check(rs.next(), "row n = 3");
                    equal(rs.getTimestamp(1).getTime(), t0.getTime() + 30_000L, "time");
                    equal(rs.getString(2), "h1", "host");
                    equal(rs.getDouble(3), 4.5, "usage");
                    equal(rs.getInt(4), 3, "n");
                    equal(rs.getBoolean(5), false, "ok");
                    equal(rs.getMetaData().getColumnTypeName(4), "int4", "n's type");
                    check(!rs.next(), "one row");
                }
            }
        }
        System.out.println("ok jdbc: prepared statements and batches");
    }

    static void errorsAndTransactions() throws SQLException {
        try (Connection c = connect(); Statement s = c.createStatement()) {
            try {
                s.executeQuery("SELECT * FROM jdbc_missing");
                throw new AssertionError("no error");
            } catch (SQLException e) {
                equal(e.getSQLState(), "42P01", "undefined table");
            }
            c.setAutoCommit(false);
            s.executeUpdate("INSERT INTO jdbc_cpu (time, host) VALUES ('2024-01-02 00:00:00+00', 'tx')");
            c.rollback();
            c.setAutoCommit(true);
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM jdbc_cpu WHERE host = 'tx'")) {
                check(rs.next(), "count row");
                equal(rs.getLong(1), 0L, "rolled back");
            }
        }
        System.out.println("ok jdbc: errors and transactions");
    }

    static void generatedKeys() throws SQLException {
        try (Connection c = connect(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE jdbc_items (id SERIAL PRIMARY KEY, name TEXT NOT NULL, qty INT DEFAULT 1)");
            // getGeneratedKeys: the driver appends RETURNING to the insert.
            try (PreparedStatement insert = c.prepareStatement(
                     "INSERT INTO jdbc_items (name) VALUES (?)", Statement.RETURN_GENERATED_KEYS)) {
                for (String name : new String[] {"a", "b"}) {
                    insert.setString(1, name);
                    equal(insert.executeUpdate(), 1, "inserted");
                }
                try (ResultSet keys = insert.getGeneratedKeys()) {
                    check(keys.next(), "a generated key");
                    equal(keys.getInt("id"), 2, "the second key");
                }
            }
            try (PreparedStatement upsert = c.prepareStatement(
                     "INSERT INTO jdbc_items (id, name) VALUES (?, ?) "
                         + "ON CONFLICT (id) DO UPDATE SET qty = jdbc_items.qty + 1 RETURNING qty")) {
                upsert.setInt(1, 1);
                upsert.setString(2, "a");
                try (ResultSet rs = upsert.executeQuery()) {
                    check(rs.next(), "an upserted row");
                    equal(rs.getInt(1), 2, "qty after the upsert");
                }
            }
        }
        System.out.println("ok jdbc: SERIAL keys, RETURNING and upserts");
    }

    // A FETCH loop over a cursor on SUBSCRIBE while a second connection
    // writes rows with ids 0..IDS-1, one INSERT each: the first BEFORE before
    // the cursor is declared, the rest at most LEAD ahead of those or of what
    // the loop has read, so that the subscription starts while it writes and
    // its queue stays under the server's --subscribe-queue-rows (50). Each
    // INSERT also writes a row under another host, which the subscription's
    // filter leaves out. Then a subscriber that lets more than 50 rows wait.
    static void subscriptions() throws Exception {
        final int ids = 300;
        final int before = 100;
        final int lead = 20;
        try (Connection c = connect(); Statement s = c.createStatement()) {
            s.setQueryTimeout(30); // nothing hangs
            s.execute("CREATE TABLE jdbc_feed (time TIMESTAMPTZ NOT NULL, host TEXT, n BIGINT)");
            AtomicInteger written = new AtomicInteger();
            AtomicInteger received = new AtomicInteger();
            AtomicReference<Throwable> failed = new AtomicReference<>();
            Thread writer = new Thread(() -> {
                // A prepared INSERT with parameters: pgJDBC prepares it on
                // the server from its fifth execution, and then needs it
                // described with NoData, as PostgreSQL describes it.
                try (Connection w = connect();
                     PreparedStatement insert = w.prepareStatement(
                         "INSERT INTO jdbc_feed VALUES ('2024-01-01 00:00:00+00'::timestamptz + ? * interval '1 s', 'w', ?), "
                             + "('2024-01-01 00:00:00+00'::timestamptz + ? * interval '1 s', 'x', -1)")) {
                    for (int n = 0; n < ids; n++) {
                        long deadline = System.nanoTime() + 30_000_000_000L;
                        while (n - Math.max(received.get(), before) >= lead) {
                            check(System.nanoTime() < deadline, "the subscriber stalled at " + received);
                            Thread.sleep(1);
                        }
                        insert.setInt(1, n);
                        insert.setLong(2, n);
                        insert.setInt(3, n);
                        equal(insert.executeUpdate(), 2, "rows inserted");
                        written.set(n + 1);
                    }
                } catch (Throwable e) {
                    failed.set(e);
                    written.set(ids);
                }
            });
            writer.setDaemon(true);
            writer.start();
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (written.get() < before) {
                check(System.nanoTime() < deadline, "the writer did not start");
                Thread.sleep(1);
            }
            c.setAutoCommit(false);
            s.execute("DECLARE feed CURSOR FOR SUBSCRIBE (SELECT n FROM jdbc_feed WHERE host = 'w') "
                + "WITH (PROGRESS)");
            // Each row: epochdb_lsn, epochdb_progressed, n (null on progress rows).
            List<Long> lsns = new ArrayList<>();
            List<Boolean> progressed = new ArrayList<>();
            List<Long> values = new ArrayList<>();
            boolean done = false;
            // Progress rows come every idle second: a loop waiting for an id
            // that never comes stops at this deadline.
            deadline = System.nanoTime() + 30_000_000_000L;
            while (!done) {
                if (failed.get() != null) {
                    throw new AssertionError("the writer failed", failed.get());
                }
                check(System.nanoTime() < deadline, "the last id did not come: " + lsns.size() + " rows");
                try (ResultSet rs = s.executeQuery("FETCH 100 feed WITH (timeout = '5s')")) {
                    int had = lsns.size();
                    while (rs.next()) {
                        lsns.add(rs.getLong(1));
                        progressed.add(rs.getBoolean(2));
                        long n = rs.getLong(3);
                        values.add(rs.wasNull() ? null : n);
                        done |= values.get(values.size() - 1) != null && n == ids - 1;
                    }
                    check(lsns.size() > had, "no row within 5 s after " + had);
                }
                received.set((int) progressed.stream().filter(p -> !p).count());
            }
            writer.join(30_000);
            if (failed.get() != null) {
                throw new AssertionError("the writer failed", failed.get());
            }
            // Nothing but progress rows after the last id.
            try (ResultSet rs = s.executeQuery("FETCH ALL feed WITH (timeout = '100ms')")) {
                while (rs.next()) {
                    check(rs.getBoolean(2), "a row after the last id: " + rs.getString(3));
                }
            }
            c.rollback();

            // Positions never decrease; the snapshot, up to the first progress
            // row, holds exactly the ids written before it, at its own
            // position; the live rows every later id once, in order, each
            // later than the snapshot.
            for (int i = 1; i < lsns.size(); i++) {
                check(lsns.get(i - 1) <= lsns.get(i), "position " + i + " went back");
            }
            int end = progressed.indexOf(true);
            long snapshotLsn = lsns.get(end);
            List<Long> snapshot = new ArrayList<>(values.subList(0, end));
            snapshot.sort(null);
            check(snapshot.size() >= before, "a snapshot of " + snapshot.size() + " rows");
            List<Long> live = new ArrayList<>();
            for (int i = 0; i < lsns.size(); i++) {
                if (i < end) {
                    equal(lsns.get(i), snapshotLsn, "a snapshot row's position");
                    equal(snapshot.get(i), (long) i, "snapshot id");
                } else if (progressed.get(i)) {
                    equal(values.get(i), null, "a progress row's n");
                } else {
                    check(lsns.get(i) > snapshotLsn, "a live row before the snapshot");
                    live.add(values.get(i));
                }
            }
            equal(live.size(), ids - end, "live rows");
            for (int i = 0; i < live.size(); i++) {
                equal(live.get(i), (long) (end + i), "live id");
            }

            s.execute("DECLARE slow CURSOR FOR SUBSCRIBE jdbc_feed WITH (SNAPSHOT = false)");
            try (Connection w = connect(); Statement ws = w.createStatement()) {
                // The first write reaches it whatever its size; the second
                // would make 60 rows wait.
                for (int i = 0; i < 2; i++) {
                    ws.executeUpdate(
                        "INSERT INTO jdbc_feed SELECT now(), 'w', g FROM generate_series(1, 30) g");
                }
            }
            try {
                s.executeQuery("FETCH ALL slow WITH (timeout = '5s')");
                throw new AssertionError("no error");
            } catch (SQLException e) {
                equal(e.getSQLState(), "53400", "a slow subscriber cut off");
            }
            c.rollback();
            c.setAutoCommit(true);
            try (ResultSet rs = s.executeQuery("SELECT count(*) FROM jdbc_feed")) {
                check(rs.next(), "count row");
                equal(rs.getLong(1), 2L * ids + 60, "rows written");
            }
        }
        System.out.println("ok jdbc: SUBSCRIBE in a cursor, a FETCH loop, a slow subscriber cut off (53400)");
    }

    public static void main(String[] args) throws Exception {
        url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/postgres";
        metadata();
        statements();
        errorsAndTransactions();
        generatedKeys();
        subscriptions();
    }
}
