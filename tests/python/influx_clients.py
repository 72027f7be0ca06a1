"""InfluxDB's Python clients writing to EpochDB's HTTP listener: the v1
client (`influxdb`) and the v2 client (`influxdb-client`, with gzip). Each
check reads the rows back over SQL (psycopg) and compares them value for
value, and prints `ok <name>`.

Usage: influx_clients.py HTTP_PORT PG_PORT
"""

import datetime
import sys

import influxdb
import influxdb_client
import psycopg
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

HTTP_PORT = int(sys.argv[1])
PG_PORT = int(sys.argv[2])
UTC = datetime.timezone.utc


def sql(query, database="postgres"):
    with psycopg.connect(
        host="127.0.0.1", port=PG_PORT, user="tester", dbname=database
    ) as conn:
        return conn.execute(query).fetchall()


def check(name, actual, expected):
    if actual != expected:
        raise AssertionError(f"{name}: expected {expected!r}, got {actual!r}")


def v1_client_writes_points():
    client = influxdb.InfluxDBClient(
        host="127.0.0.1", port=HTTP_PORT, database="postgres"
    )
    points = [
        {
            "measurement": "v1_cpu",
            "tags": {"host": "a", "region": "eu"},
            "time": 1700000000,
            "fields": {"usage": 1.5, "count": 3, "note": "x y", "ok": True},
        },
        {
            "measurement": "v1_cpu",
            "tags": {"host": "b"},
            "time": 1700000010,
            "fields": {"usage": 2.25, "count": -4, "note": "q\"uote", "ok": False},
        },
    ]
    check("write_points", client.write_points(points, time_precision="s"), True)
    rows = sql(
        "SELECT time, host, region, usage, count, note, ok FROM v1_cpu ORDER BY time"
    )
    check(
        "v1 rows",
        rows,
        [
            (datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), "a", "eu", 1.5, 3, "x y", True),
            (datetime.datetime(2023, 11, 14, 22, 13, 30, tzinfo=UTC), "b", None, 2.25, -4, 'q"uote', False),
        ],
    )
    print("ok v1 client writes points")


def v1_client_creates_a_database_and_writes_to_it():
    client = influxdb.InfluxDBClient(host="127.0.0.1", port=HTTP_PORT)
    client.create_database("telegraf")
    client.switch_database("telegraf")
    check(
        "write",
        client.write_points(
            [{"measurement": "mem", "tags": {"host": "h"}, "fields": {"free": 10}}]
        ),
        True,
    )
    check("rows", sql("SELECT host, free FROM mem", "telegraf"), [("h", 10)])
    try:
        client.switch_database("missing")
        client.write_points([{"measurement": "m", "fields": {"f": 1.0}}])
        raise AssertionError("a write to a missing database succeeded")
    except influxdb.exceptions.InfluxDBClientError as e:
        check("status", e.code, 404)
    print("ok v1 client creates a database")


def v2_client_writes_gzip_in_nanoseconds():
    with influxdb_client.InfluxDBClient(
        url=f"http://127.0.0.1:{HTTP_PORT}", token="unused", org="-", enable_gzip=True
    ) as client:
        check("ping", client.ping(), True)
        write = client.write_api(write_options=SYNCHRONOUS)
        points = [
            influxdb_client.Point("v2_temp")
            .tag("site", "s1")
            .field("celsius", 21.5)
            .field("reading", 7)
            .time(1700000000123456789, write_precision="ns"),
            influxdb_client.Point("v2_temp")
            .tag("site", "s2")
            .field("celsius", -3.0)
            .field("reading", 8)
            .time(1700000001000000999, write_precision="ns"),
        ]
        write.write(bucket="postgres", record=points)
        # Digits finer than a microsecond are dropped.
        rows = sql("SELECT time, site, celsius, reading FROM v2_temp ORDER BY time")
        check(
            "v2 rows",
            rows,
            [
                (datetime.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC), "s1", 21.5, 7),
                (datetime.datetime(2023, 11, 14, 22, 13, 21, 0, tzinfo=UTC), "s2", -3.0, 8),
            ],
        )
    print("ok v2 client writes gzip in nanoseconds")


def v2_client_sees_a_type_conflict():
    with influxdb_client.InfluxDBClient(
        url=f"http://127.0.0.1:{HTTP_PORT}", token="unused", org="-"
    ) as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        try:
            write.write(
                bucket="postgres",
                record="v2_temp,site=s3 celsius=\"warm\" 1700000002000000000\n"
                "v2_temp,site=s3 celsius=20.0 1700000003000000000",
            )
            raise AssertionError("a conflicting write succeeded")
        except ApiException as e:
            check("status", e.status, 400)
            if "field type conflict" not in e.body or '"code":"invalid"' not in e.body:
                raise AssertionError(e.body)
        # The valid line was written.
        check(
            "partial",
            sql("SELECT celsius FROM v2_temp WHERE site = 's3'"),
            [(20.0,)],
        )
    print("ok v2 client sees a type conflict")


v1_client_writes_points()
v1_client_creates_a_database_and_writes_to_it()
v2_client_writes_gzip_in_nanoseconds()
v2_client_sees_a_type_conflict()
