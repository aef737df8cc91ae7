"""Debezium's JDBC sink connector, unmodified, consumes the topics of `output.debezium =
json-schema` (issue 23, docs/debezium.md): a MariaDB and a PostgreSQL collector write inserts,
updates, deletes and a primary-key change of tables with many column types; Kafka Connect
(4.3.0, JsonConverter with schemas) runs Debezium 3.5's JdbcSinkConnector (upsert, deletes on,
tables made by the sink from the events' schemas) into a fresh PostgreSQL database; every row
of every target table equals the source's.

  it_debezium_jdbc_sink    both sources into one sink; skipped when Kafka Connect's or the JDBC
                           sink's jars are not installed (deploy/local/install fetches them)
"""

import datetime
import decimal
import json
import random
import time
from pathlib import Path

import pytest

from e2e_util import collector, master_pos, my_exec, mysql_connect, pg_connect, pg_drop

UTC = datetime.timezone.utc

# MariaDB: (column, type, values of the rows 1..3, what an update sets)
MY_COLS = [
    ("ti", "TINYINT", [-128, 0, 127], 5),
    ("tu", "TINYINT UNSIGNED", [0, 200, 255], 7),
    ("si", "SMALLINT", [-32768, 1, 32767], 9),
    ("su", "SMALLINT UNSIGNED", [65535, 0, 3], 4),
    ("mi", "MEDIUMINT", [-8388608, 8388607, 0], 11),
    ("ii", "INT", [-2147483648, 2147483647, 12], 13),
    ("iu", "INT UNSIGNED", [4294967295, 0, 1], 2),
    ("bi", "BIGINT", [-9223372036854775808, 9223372036854775807, 0], -1),
    ("bu", "BIGINT UNSIGNED", [9223372036854775807, 0, 1], 42),
    ("fl", "FLOAT", [1.5, -0.25, 3.0e20], 2.5),
    ("db", "DOUBLE", [3.141592653589793, -1e-300, 0.0], 6.02214076e23),
    ("de", "DECIMAL(20,6)", ["-12345678901234.123456", "0.000001", "7"], "99.5"),
    ("d0", "DECIMAL(30,0)", ["123456789012345678901234567890", "-1", "0"], "5"),
    ("vc", "VARCHAR(40)", ["héllo wörld", "", "quote ' and \\ back"], "changed"),
    ("tx", "TEXT", ["long " * 50, "x", "ü€😀"], "t2"),
    ("ch", "CHAR(5)", ["ab", "abcde", "z"], "q"),
    ("en", "ENUM('red','green','blue')", ["red", "blue", "green"], "green"),
    ("st", "SET('a','b','c')", ["a,c", "", "a,b,c"], "b"),
    ("js", "JSON", ['{"k": [1, 2, {"x": null}]}', '[]', '"s"'], '{"u": true}'),
    ("vb", "VARBINARY(16)", [b"\x00\xff\x10", b"", b"abc"], b"\x01"),
    ("bl", "BLOB", [bytes(range(256)), b"\x00", b"blob"], b"\xfe"),
    ("b1", "BIT(1)", [1, 0, 1], 0),
    # BIT(7), not wider: Bits are little-endian bytes (Debezium's sources, shiftlog), the sink's
    # PostgreSQL BitType reads them as BigInteger's big-endian two's complement
    ("bn", "BIT(7)", [0b1000001, 0, 0b1111111], 0b0000110),
    ("dt", "DATE", ["2024-02-29", "1970-01-01", "1000-01-01"], "2030-12-31"),
    ("tm", "TIME(6)", ["23:59:59.999999", "00:00:00", "12:34:56.5"], "01:02:03"),
    ("d3", "DATETIME(3)", ["2024-02-29 10:11:12.123", "1970-01-01 00:00:00", "1969-12-31 23:59:59.5"],
     "2001-09-09 01:46:40"),
    ("d6", "DATETIME(6)", ["2024-02-29 10:11:12.123456", "9999-12-31 23:59:59.999999",
                           "1900-01-01 00:00:00"], "2020-01-01 00:00:00.000001"),
    ("ts", "TIMESTAMP(6)", ["2024-02-29 10:11:12.654321", "1970-01-01 00:00:01",
                            "2038-01-19 03:14:07"], "2000-01-01 00:00:00"),
    ("yr", "YEAR", [2024, 1901, 2155], 1999),
]

# PostgreSQL: (column, type, values of the rows 1..3, what an update sets)
PG_COLS = [
    ("i2", "smallint", [-32768, 0, 32767], 3),
    ("i4", "integer", [-2147483648, 2147483647, 5], 6),
    ("i8", "bigint", [-9223372036854775808, 9223372036854775807, 0], 8),
    ("r4", "real", [1.5, -0.25, 3.0e20], 2.5),
    ("r8", "double precision", [3.141592653589793, -1e-300, 0.0], 6.02214076e23),
    ("nu", "numeric(20,6)", ["-12345678901234.123456", "0.000001", "7"], "99.5"),
    ("tx", "text", ["héllo wörld", "", "ü€😀 ' \\"], "t2"),
    ("vc", "varchar(12)", ["abc", "x", ""], "v"),
    ("bo", "boolean", [True, False, True], False),
    ("ba", "bytea", [bytes(range(256)), b"", b"\x00"], b"\x01"),
    ("dt", "date", ["2024-02-29", "1970-01-01", "1000-01-01"], "2030-12-31"),
    ("tm", "time", ["23:59:59.999999", "00:00:00", "12:34:56.5"], "01:02:03"),
    ("t6", "timestamp", ["2024-02-29 10:11:12.123456", "1969-12-31 23:59:59.5",
                         "1900-01-01 00:00:00"], "2020-01-01 00:00:00.000001"),
    ("tz", "timestamptz", ["2024-02-29 10:11:12.654321+02", "1970-01-01 00:00:01+00",
                           "2038-01-19 03:14:07-05"], "2000-01-01 00:00:00+00"),
    ("js", "jsonb", ['{"k": [1, 2, {"x": null}]}', '[]', '"s"'], '{"u": true}'),
    ("uu", "uuid", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000",
                    "ffffffff-ffff-ffff-ffff-ffffffffffff"], "123e4567-e89b-12d3-a456-426614174000"),
]


def connect_dirs(stack):
    """(Connect's runtime jars, the JDBC sink's plugin directory), or a reason to skip."""
    libs, plugin = stack.get("SL_CONNECT_LIBS"), stack.get("SL_DBZ_JDBC_PLUGIN")
    if not libs or not plugin:
        return None, "SL_CONNECT_LIBS / SL_DBZ_JDBC_PLUGIN not set (deploy/local/env)"
    for d in (libs, f"{plugin}/libs"):
        if not Path(d).is_dir() or not any(Path(d).glob("*.jar")):
            return None, f"no jars in {d}: run deploy/local/install (Kafka Connect and " \
                         "Debezium's JDBC sink from Maven Central)"
    return (libs, plugin), None


SINGLE = {"fl", "r4"}    # single precision: compared to 7 digits


def norm(v, col=""):
    """A value as both databases' Python drivers can agree on it."""
    if isinstance(v, memoryview):
        v = bytes(v)
    if isinstance(v, datetime.timedelta):              # pymysql's TIME
        return int(v / datetime.timedelta(microseconds=1))
    if isinstance(v, datetime.time):
        return ((v.hour * 60 + v.minute) * 60 + v.second) * 1000000 + v.microsecond
    if isinstance(v, datetime.datetime) and v.tzinfo is not None:
        return v.astimezone(UTC).replace(tzinfo=None)
    if isinstance(v, float) and col in SINGLE:
        return float(f"{v:.7g}")
    if isinstance(v, decimal.Decimal):
        return v.normalize() if v else decimal.Decimal(0)
    return v


def my_bits(v):
    return None if v is None else int.from_bytes(v, "big") if isinstance(v, bytes) else int(v)


def pg_bits(v):
    if v is None or isinstance(v, bool):
        return v
    return int(v, 2)


def wait_rows(what, want, get, worker, name, timeout):
    deadline = time.monotonic() + timeout
    while True:
        got = get()
        if got == want:
            return
        trace = worker.failed(name)
        assert trace is None, f"the JDBC sink failed: {trace}\n{worker.tail()}"
        if time.monotonic() > deadline:
            diff = [f"{a!r}\n   != {b!r}" for a, b in zip(want, got or []) if a != b][:3]
            pytest.fail(f"{what}: {len(want)} source rows, {len(got or [])} target rows; "
                        f"first differences:\n" + "\n".join(diff) + f"\n{worker.tail()}")
        time.sleep(0.5)


def pg_target_rows(tgt, table, cols, key):
    cur = tgt.cursor()
    cur.execute(f"SELECT to_regclass('public.\"{table}\"') IS NOT NULL")
    if not cur.fetchone()[0]:
        return None
    cur.execute("SELECT " + ", ".join(f'"{c}"' for c in cols) + f' FROM "{table}" ORDER BY ' +
                ", ".join(f'"{k}"' for k in key))
    return cur.fetchall()


def test_it_debezium_jdbc_sink(stack, bin_dir, tmp_path, unique_name):
    dirs, why = connect_dirs(stack)
    if dirs is None:
        pytest.skip(why)
    from kafka_connect import ConnectWorker
    src, name = unique_name("dbzj"), unique_name("dbzjn")
    pgsrc, tgt_db = unique_name("dbzjp"), unique_name("dbzjt")
    slot, pub = f"s_{pgsrc}"[:63], f"p_{pgsrc}"[:63]

    my = mysql_connect(stack)
    my_exec(my, "SET time_zone = '+00:00'")
    admin = pg_connect(stack)
    for db in (pgsrc, tgt_db):
        admin.cursor().execute(f'CREATE DATABASE "{db}"')
    admin.close()
    pg = pg_connect(stack, dbname=pgsrc)
    pg.cursor().execute("SET TIME ZONE 'UTC'")
    tgt = pg_connect(stack, dbname=tgt_db)
    tgt.cursor().execute("SET TIME ZONE 'UTC'")
    worker, cols = None, []
    try:
        start = master_pos(my)
        my_exec(my, f"CREATE DATABASE `{src}`",
                f"CREATE TABLE `{src}`.m_types (id INT PRIMARY KEY, " +
                ", ".join(f"`{c}` {t}" for c, t, _, _ in MY_COLS) + ")",
                f"CREATE TABLE `{src}`.m_kv (k1 VARCHAR(10), k2 INT, v VARCHAR(20), "
                "PRIMARY KEY (k1, k2))")
        pcur = pg.cursor()
        pcur.execute("CREATE TABLE p_types (id bigint PRIMARY KEY, " +
                     ", ".join(f'"{c}" {t}' for c, t, _, _ in PG_COLS) + ")")
        pcur.execute("CREATE TABLE p_kv (k1 text, k2 int, v text, PRIMARY KEY (k1, k2))")
        pcur.execute(f'CREATE PUBLICATION "{pub}" FOR ALL TABLES')

        common = {"output.debezium": "json-schema", "output.debezium.name": name,
                  "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"],
                  "topic.prefix": unique_name("dbzjx")}
        cols.append(collector(bin_dir, "mysql-to-pg", tmp_path, "collector-my", {
            **common, "source.name": src, "tables.include": src + r"\..*",
            "source.server_id": str(random.randint(100000, 4000000000)),
            "start.position": start}))
        cols.append(collector(bin_dir, "pg-to-mysql", tmp_path, "collector-pg", {
            **common, "source.name": pgsrc, "source.database": pgsrc, "source.slot": slot,
            "source.publication": pub}))
        worker = ConnectWorker(tmp_path, stack["SL_KAFKA_BROKERS"], dirs[0], dirs[1],
                               ["-Xms64M", "-Xmx512M", "-XX:+UseSerialGC",
                                "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"])
        for c in cols:                  # both start at once, then each must be reading
            c.start(wait=False)
        for c in cols:
            c.wait_log(c.ready)

        # MariaDB: three rows, updates (one to NULLs), a delete, a key change, in transactions
        # and autocommit
        names = [c for c, _, _, _ in MY_COLS]
        ins = f"INSERT INTO `{src}`.m_types (id, {', '.join(f'`{c}`' for c in names)}) " \
              f"VALUES ({', '.join(['%s'] * (len(names) + 1))})"
        my_exec(my, *[(ins, [i + 1, *[v[i] for _, _, v, _ in MY_COLS]]) for i in range(3)],
                (f"INSERT INTO `{src}`.m_types (id) VALUES (4)",),
                (f"INSERT INTO `{src}`.m_kv VALUES ('a', 1, 'x'), ('b', 2, 'y'), ('c', 3, 'z')",),
                txn=True)
        my_exec(my, (f"UPDATE `{src}`.m_types SET " +
                     ", ".join(f"`{c}` = %s" for c in names) + " WHERE id = 2",
                     [u for _, _, _, u in MY_COLS]))
        my_exec(my, f"UPDATE `{src}`.m_types SET " + ", ".join(f"`{c}` = NULL" for c in names) +
                " WHERE id = 3")
        my_exec(my, f"DELETE FROM `{src}`.m_types WHERE id = 4",
                f"UPDATE `{src}`.m_types SET id = 40 WHERE id = 1",
                f"UPDATE `{src}`.m_kv SET k1 = 'bb' WHERE k1 = 'b'",
                f"DELETE FROM `{src}`.m_kv WHERE k1 = 'c'",
                f"UPDATE `{src}`.m_kv SET v = 'xx' WHERE k1 = 'a'", txn=True)

        # PostgreSQL: the same shapes
        pnames = [c for c, _, _, _ in PG_COLS]
        pins = f"INSERT INTO p_types (id, {', '.join(f'{chr(34)}{c}{chr(34)}' for c in pnames)}) " \
               f"VALUES ({', '.join(['%s'] * (len(pnames) + 1))})"
        with pg:
            pg.autocommit = False
            for i in range(3):
                pcur.execute(pins, [i + 1, *[v[i] for _, _, v, _ in PG_COLS]])
            pcur.execute("INSERT INTO p_types (id) VALUES (4)")
            pcur.execute("INSERT INTO p_kv VALUES ('a', 1, 'x'), ('b', 2, 'y'), ('c', 3, 'z')")
        pg.autocommit = True
        pcur.execute("UPDATE p_types SET " + ", ".join(f'"{c}" = %s' for c in pnames) +
                     " WHERE id = 2", [u for _, _, _, u in PG_COLS])
        pcur.execute("UPDATE p_types SET " + ", ".join(f'"{c}" = NULL' for c in pnames) +
                     " WHERE id = 3")
        pcur.execute("DELETE FROM p_types WHERE id = 4")
        pcur.execute("UPDATE p_types SET id = 40 WHERE id = 1")
        pcur.execute("UPDATE p_kv SET k1 = 'bb' WHERE k1 = 'b'")
        pcur.execute("DELETE FROM p_kv WHERE k1 = 'c'")
        pcur.execute("UPDATE p_kv SET v = 'xx' WHERE k1 = 'a'")

        worker.wait_rest()
        sink = f"sink-{name}"
        worker.start_connector(sink, {
            "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "tasks.max": "1",
            # the per-table topics only, not <name>.transaction
            "topics.regex": rf"{name}\.({src}|public)\.[mp]_.*",
            "connection.url": f"jdbc:postgresql://{stack['SL_PG_HOST']}:{stack['SL_PG_PORT']}/"
                              f"{tgt_db}",
            "connection.username": stack["SL_PG_USER"],
            "connection.password": stack["SL_PG_PASSWORD"],
            "insert.mode": "upsert", "delete.enabled": "true", "primary.key.mode": "record_key",
            "schema.evolution": "basic", "collection.name.format": "${source.table}",
            "consumer.override.auto.offset.reset": "earliest"})

        bits = {"b1", "bn"}
        mcols = ["id", *names]
        for table, cl, key in (("m_types", mcols, ["id"]), ("m_kv", ["k1", "k2", "v"],
                                                            ["k1", "k2"])):
            with my.cursor() as c:
                c.execute(f"SELECT {', '.join(f'`{x}`' for x in cl)} FROM `{src}`.`{table}` "
                          f"ORDER BY {', '.join(key)}")
                want = [tuple(norm(my_bits(v) if n in bits else
                                   json.loads(v) if n == "js" and v is not None else v, n)
                              for n, v in zip(cl, r)) for r in c.fetchall()]

            def got(table=table, cl=cl, key=key):
                rows = pg_target_rows(tgt, table, cl, key)
                return rows and [tuple(norm(pg_bits(v) if n in bits else
                                            json.loads(v) if n == "js" and isinstance(v, str)
                                            else v, n) for n, v in zip(cl, r)) for r in rows]
            wait_rows(f"MariaDB {table}", want, got, worker, sink, 60)

        pcols = ["id", *pnames]
        for table, cl, key in (("p_types", pcols, ["id"]), ("p_kv", ["k1", "k2", "v"],
                                                            ["k1", "k2"])):
            pcur.execute("SELECT " + ", ".join(f'"{x}"' for x in cl) + f" FROM {table} ORDER BY " +
                         ", ".join(key))
            want = [tuple(norm(str(v) if n == "uu" and v is not None else v, n)
                          for n, v in zip(cl, r)) for r in pcur.fetchall()]

            def got(table=table, cl=cl, key=key):
                rows = pg_target_rows(tgt, table, cl, key)
                return rows and [tuple(norm(json.loads(v) if n == "js" and isinstance(v, str)
                                            else str(v) if n == "uu" and v is not None else v, n)
                                       for n, v in zip(cl, r)) for r in rows]
            wait_rows(f"PostgreSQL {table}", want, got, worker, sink, 60)
    finally:
        if worker:
            worker.stop()
        for c in cols:
            c.stop()
        my_exec(my, f"DROP DATABASE IF EXISTS `{src}`")
        my.close()
        pg.close()
        tgt.close()
        pg_drop(stack, pgsrc, tgt_db, slot=slot)
