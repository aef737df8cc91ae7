"""End to end from MariaDB: binlog -> shiftlog-collector -> Kafka -> shiftlog-applier ->
PostgreSQL, MariaDB (another database on the same server) and MongoDB, every service a real
process started from the ready configs under examples/ (only names overridden with -X):

  it_e2e_mysql_mixed_workload_three_targets   inserts/updates/deletes, multi-row transactions,
                                              a key-changing update, a composite primary key,
                                              multi-row statements, ADD COLUMN mid-stream ->
                                              each target equals the source row for row (pymysql,
                                              psycopg2, pymongo) and by checksum
  it_e2e_mysql_type_matrix                    one table per MariaDB type family with edge values
                                              -> each target, compared exactly as defined per
                                              target (docs/type-matrix.md holds the result)
  it_e2e_mysql_kill9_collector_and_applier    kill -9 of the collector and of the applier at
                                              random instants (3x each; more with SHIFTLOG_LONG)
                                              during a ledger + transfer workload -> the target
                                              equals the source, and a trigger-made audit shows
                                              every ledger row applied once, never replayed

Each test has its own databases, source name, topic prefix and task names.
"""

import datetime
import decimal
import os
import random
import threading
import time

import pytest

from conftest import REPO_ROOT
from e2e_util import (made_and_closed, pg_drop, applier, collector, count_messages, read_messages, digest, first_diff, master_pos,
                      mongo_client, mongo_rows, my_exec, my_rows, mysql_connect, pg_connect,
                      pg_rows, stop_all, wait_topic, wait_until)

LONG = bool(os.environ.get("SHIFTLOG_LONG"))
D = decimal.Decimal


# ------------------------------------------------------------------ the pipeline

class Pipeline:
    """A MariaDB source database, the collector from examples/mysql-to-pg, and appliers to a
    PostgreSQL database, a MariaDB database and a MongoDB database (examples/mysql-to-*)."""

    def __init__(self, stack, bin_dir, tmp, unique_name, targets=("pg", "mysql", "mongo"),
                 workers=1, snapshot=False):
        """snapshot: the collector starts (at the binlog's end then) with snapshot.mode =
        initial, so the rows already there arrive as READ rows (the targets' bulk paths)."""
        self.stack, self.bin_dir, self.tmp = stack, bin_dir, tmp
        self.snapshot = snapshot
        self.src = unique_name("e2e")
        self.prefix = unique_name("e2ep")
        self.topic = f"{self.prefix}.{self.src}"
        self.my = mysql_connect(stack)
        my_exec(self.my, "SET time_zone = '+00:00'")
        self.start_pos = master_pos(self.my)
        my_exec(self.my, f"CREATE DATABASE `{self.src}`")
        self.targets = targets
        self.pg_db = unique_name("e2epg") if "pg" in targets else None
        self.my_db = unique_name("e2emy") if "mysql" in targets else None
        self.mg_db = unique_name("e2emg") if "mongo" in targets else None
        if self.pg_db:
            pg_connect(stack).cursor().execute(f'CREATE DATABASE "{self.pg_db}"')
            self.pg = pg_connect(stack, dbname=self.pg_db)
        self.mongo = mongo_client(stack) if self.mg_db else None
        self.sigdb = unique_name("e2esig") if snapshot else None
        if snapshot:
            my_exec(self.my, f"GRANT CREATE, INSERT, UPDATE ON `{self.sigdb}`.* TO "
                             f"'{stack['SL_MYSQL_CDC_USER']}'@'127.0.0.1'")
        self.col = self._collector(self.start_pos)
        self.apps = {}
        common = {"source.topic": self.topic, "tables": f"{self.src}.*",
                  "worker_num": str(workers)}
        if self.pg_db:
            self.apps["pg"] = applier(bin_dir, "mysql-to-pg", tmp, "applier-pg", {
                **common, "task.name": self.src + "_pg", "target.database": self.pg_db,
                "map.tables": f"{self.src}.*={self.src}.*"})
        if self.my_db:
            self.apps["mysql"] = applier(bin_dir, "mysql-to-mysql", tmp, "applier-mysql", {
                **common, "task.name": self.src + "_my", "target.database": self.my_db,
                "map.tables": f"{self.src}.*={self.my_db}.*"})
        if self.mg_db:
            self.apps["mongo"] = applier(bin_dir, "mysql-to-mongo", tmp, "applier-mongo", {
                **common, "task.name": self.src + "_mg", "target.database": self.mg_db,
                "map.tables": f"{self.src}.*={self.mg_db}.*"})

    def _collector(self, start_pos):
        # one chunk per table: its rows are one source transaction, as the type matrix's
        # INSERTs are (a value a target refuses sends that transaction to the DLQ)
        extra = {"snapshot.mode": "initial", "snapshot.signal.table": f"{self.sigdb}.sig",
                 "snapshot.chunk.rows": "100"} if self.snapshot else {}
        return collector(self.bin_dir, "mysql-to-pg", self.tmp, "collector", {
            "source.name": self.src, "topic.prefix": self.prefix,
            "tables.include": self.src + r"\..*",
            "source.server_id": str(random.randint(100000, 4000000000)),
            "start.position": start_pos, **extra})

    def services(self):
        return [self.col, *self.apps.values()]

    def start(self):
        if self.snapshot:                 # past the rows written so far: they are copied
            self.col = self._collector(master_pos(self.my))
        self.col.start()
        wait_topic(self.stack, self.topic)
        for a in self.apps.values():
            a.start()
        return self

    def sql(self, *stmts, txn=False):
        my_exec(self.my, *stmts, txn=txn)

    def source_rows(self, table, cols, key):
        return my_rows(self.my, self.src, table, cols, key)

    def target_rows(self, target, table, cols, key, pg_casts=None):
        if target == "pg":
            return pg_rows(self.pg, self.src, table, cols, key, pg_casts)
        if target == "mysql":
            with self.my.cursor() as c:
                c.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                          "AND TABLE_NAME=%s", (self.my_db, table))
                if not c.fetchone()[0]:
                    return None
            return my_rows(self.my, self.my_db, table, cols, key)
        return mongo_rows(self.mongo, self.mg_db, table, cols, key)[0]

    def columns(self, table):
        with self.my.cursor() as c:
            c.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s "
                      "AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION", (self.src, table))
            return [r[0] for r in c.fetchall()]

    def wait_equal(self, tables, normalise=None, timeout=90):
        """Until every target holds exactly the source rows of every (table, key, pg_casts)."""
        normalise = normalise or (lambda target, table, rows: rows)

        def check():
            for table, key, casts in tables:
                cols = self.columns(table)
                want = self.source_rows(table, cols, key)
                for t in self.apps:
                    try:
                        got = self.target_rows(t, table, cols, key, casts)
                    except Exception as e:     # e.g. the new column not there yet
                        return False, f"{t} {table}: {type(e).__name__}: {e}"
                    d = first_diff(normalise("source", table, want),
                                   None if got is None else normalise(t, table, got))
                    if d:
                        return False, f"{t} {table}: {d}"
            return True, None
        wait_until("targets equal to the source", check, self.services(), timeout=timeout)

    def close(self):
        stop_all(*self.services())
        my_exec(self.my, f"DROP DATABASE IF EXISTS `{self.src}`")
        if self.sigdb:
            my_exec(self.my, f"DROP DATABASE IF EXISTS `{self.sigdb}`")
        if self.my_db:
            my_exec(self.my, f"DROP DATABASE IF EXISTS `{self.my_db}`")
        self.my.close()
        if self.pg_db:
            self.pg.close()
            pg_drop(self.stack, self.pg_db)
        if self.mongo:
            self.mongo.drop_database(self.mg_db)
            self.mongo.close()


@pytest.fixture
def pipeline(stack, bin_dir, tmp_path, unique_name):
    yield from made_and_closed(
        lambda **kw: Pipeline(stack, bin_dir, tmp_path, unique_name, **kw))


# ------------------------------------------------------------------ mixed workload

def mixed_workload(p, rng, n_txn, accounts, orders, with_email=False):
    """n_txn source transactions of random kinds; `accounts` and `orders` are the ids alive."""
    s = p.src
    for i in range(n_txn):
        k = rng.random()
        now = datetime.datetime(2026, 1, 1) + datetime.timedelta(seconds=i, microseconds=rng.randrange(10**6))
        if k < 0.2:          # new accounts, several rows in one statement
            ids = [max(accounts, default=0) + j + 1 for j in range(rng.randint(1, 4))]
            vals = ", ".join(["(%s, %s, %s, %s, %s)"] * len(ids))
            args = []
            for a in ids:
                args += [a, f"owner {a} '\"é", D(rng.randrange(0, 10**6)) / 100,
                         rng.choice(["open", "frozen"]), now]
            p.sql((f"INSERT INTO `{s}`.accounts (id, owner, balance, status, updated) VALUES {vals}",
                   args))
            accounts.update(ids)
        elif k < 0.45 and len(accounts) >= 2:   # a transfer: two updates in one transaction
            a, b = rng.sample(sorted(accounts), 2)
            amt = D(rng.randrange(1, 5000)) / 100
            stmts = [(f"UPDATE `{s}`.accounts SET balance = balance - %s, updated = %s WHERE id = %s",
                      (amt, now, a)),
                     (f"UPDATE `{s}`.accounts SET balance = balance + %s, updated = %s WHERE id = %s",
                      (amt, now, b))]
            if with_email:
                stmts.append((f"UPDATE `{s}`.accounts SET email = %s WHERE id = %s",
                              (f"a{a}@example.com", a)))
            p.sql(*stmts, txn=True)
        elif k < 0.7:        # an order: 1..6 lines in one transaction, one statement per line
            oid = max(orders, default=1000) + 1
            orders.add(oid)
            stmts = [(f"INSERT INTO `{s}`.order_items VALUES (%s, %s, %s, %s, %s, %s)",
                      (oid, line, f"SKU-{rng.randrange(100)}", rng.randint(1, 9),
                       None if line == 3 else D(rng.randrange(100, 99999)) / 100,
                       rng.choice([None, "", "gift\nwrap", "x" * 300])))
                     for line in range(1, rng.randint(2, 7))]
            stmts.append((f"INSERT INTO `{s}`.events (kind, payload) VALUES ('order', %s)",
                          (f'{{"order": {oid}, "lines": {len(stmts)}}}',)))
            p.sql(*stmts, txn=True)
        elif k < 0.8 and orders:   # change an order's lines: update one, delete one
            oid = rng.choice(sorted(orders))
            p.sql((f"UPDATE `{s}`.order_items SET qty = qty + 1, note = 'changed' WHERE order_id = %s "
                   f"AND line = 1", (oid,)),
                  (f"DELETE FROM `{s}`.order_items WHERE order_id = %s AND line = 2", (oid,)),
                  txn=True)
        elif k < 0.85 and orders:   # key-changing update (order renumbered)
            oid = rng.choice(sorted(orders))
            new = max(orders) + 1
            p.sql((f"UPDATE `{s}`.order_items SET order_id = %s WHERE order_id = %s", (new, oid)))
            orders.discard(oid)
            orders.add(new)
        elif k < 0.92 and accounts:  # close and delete an account
            a = rng.choice(sorted(accounts))
            p.sql((f"DELETE FROM `{s}`.accounts WHERE id = %s", (a,)))
            accounts.discard(a)
        else:                # autocommit single-row insert and delete of events
            p.sql((f"INSERT INTO `{s}`.events (kind, payload) VALUES ('ping', NULL)",))
            p.sql(f"DELETE FROM `{s}`.events WHERE kind = 'ping' ORDER BY id LIMIT 1")


MIXED_TABLES = [("accounts", ["id"], None), ("order_items", ["order_id", "line"], None),
                ("events", ["id"], {"payload": "::text"})]


@pytest.mark.parametrize("workers", [1, 3], ids=lambda w: f"workers{w}")
def test_it_e2e_mysql_mixed_workload_three_targets(pipeline, workers):
    t0 = time.monotonic()
    p = pipeline(workers=workers)
    s = p.src
    p.sql(f"CREATE TABLE `{s}`.accounts (id INT PRIMARY KEY, owner VARCHAR(40) NOT NULL, "
          "balance DECIMAL(14,2) NOT NULL, status ENUM('open','frozen','closed') NOT NULL, "
          "updated DATETIME(6) NOT NULL)",
          f"CREATE TABLE `{s}`.order_items (order_id BIGINT NOT NULL, line SMALLINT NOT NULL, "
          "sku VARCHAR(24) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2), note TEXT, "
          "PRIMARY KEY (order_id, line))",
          f"CREATE TABLE `{s}`.events (id BIGINT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(16), "
          "payload JSON)")
    # rows that exist before the collector starts (it reads the binlog from before the CREATEs)
    p.sql(f"INSERT INTO `{s}`.accounts VALUES (1, 'first', 100.00, 'open', '2026-01-01 00:00:00.000001'), "
          "(2, 'second', 0.00, 'closed', '2026-01-01 00:00:00.5')")
    p.start()
    rng = random.Random(20261125)
    accounts, orders = {1, 2}, set()
    mixed_workload(p, rng, 120 if not LONG else 1000, accounts, orders)
    # DDL mid-stream, then changes that use the new column
    p.sql(f"ALTER TABLE `{s}`.accounts ADD COLUMN email VARCHAR(80) NULL")
    mixed_workload(p, rng, 80 if not LONG else 1000, accounts, orders, with_email=True)
    # one rows event of many rows, both ways
    p.sql(f"UPDATE `{s}`.order_items SET qty = qty * 2 WHERE order_id % 3 = 0")
    p.sql(f"DELETE FROM `{s}`.order_items WHERE order_id % 5 = 0")
    # MongoDB has no ALTER: documents written before ADD COLUMN lack the field, which is what
    # NULL is there. Any other missing field is a difference.
    def added_is_null(target, table, rows):
        if target != "mongo" or table != "accounts":
            return rows
        i = p.columns("accounts").index("email")
        return [r[:i] + (None if r[i] == "<missing>" else r[i],) + r[i + 1:] for r in rows]
    p.wait_equal(MIXED_TABLES, added_is_null)

    # the new column arrived in every target
    for t in p.apps:
        cols = p.columns("accounts")
        rows = p.target_rows(t, "accounts", cols, ["id"])
        assert any(r[cols.index("email")] for r in rows), f"{t}: no email arrived"
    # checksums: a digest of every row as each independent client reads it, per table ...
    for table, key, casts in MIXED_TABLES:
        cols = p.columns(table)
        want = digest(p.source_rows(table, cols, key))
        for t in p.apps:
            got = added_is_null(t, table, p.target_rows(t, table, cols, key, casts))
            assert digest(got) == want, (t, table)
    # ... and one computed by the servers themselves (MariaDB source vs PostgreSQL target)
    with p.my.cursor() as c:
        c.execute("SET SESSION group_concat_max_len = 1073741824")
        c.execute("SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', order_id, line, sku, qty, "
                  "IFNULL(price, '\\\\N'), IFNULL(note, '\\\\N')) ORDER BY order_id, line "
                  f"SEPARATOR '\\n')), COUNT(*) FROM `{s}`.order_items")
        my_sum = c.fetchone()
    cur = p.pg.cursor()
    cur.execute("SELECT md5(string_agg(concat_ws('|', order_id, line, sku, qty, "
                "coalesce(price::text, '\\N'), coalesce(note, '\\N')), E'\\n' "
                f'ORDER BY order_id, line)), count(*) FROM "{s}".order_items')
    assert cur.fetchone() == my_sum
    with p.my.cursor() as c:
        c.execute(f"CHECKSUM TABLE `{s}`.order_items, `{p.my_db}`.order_items")
        sums = [r[1] for r in c.fetchall()]
    assert sums[0] == sums[1], sums
    # composite key in MongoDB: _id is the key sub-document in key order
    doc = p.mongo[p.mg_db]["order_items"].find_one()
    assert list(doc["_id"].keys()) == ["order_id", "line"]
    # nothing was dead-lettered
    assert count_messages(p.stack, p.topic + ".dlq") == 0
    print(f"mixed workload, worker_num {workers}: {len(accounts)} accounts, {len(orders)} orders, "
          f"{time.monotonic() - t0:.1f}s")


# ------------------------------------------------------------------ type matrix

# One table per MariaDB type family: (table, columns DDL, rows as SQL literal tuples). Every
# table gets `id INT PRIMARY KEY` first; row ids 1.. in order. Row 4 of each table starts all
# NULL and is then UPDATEd to row 1's values; row 5 is inserted and DELETEd.
TYPE_TABLES = [
    ("t_int", "c_ti TINYINT, c_tiu TINYINT UNSIGNED, c_si SMALLINT, c_siu SMALLINT UNSIGNED, "
     "c_mi MEDIUMINT, c_miu MEDIUMINT UNSIGNED, c_i INT, c_iu INT UNSIGNED, c_bi BIGINT, "
     "c_biu BIGINT UNSIGNED, c_bool BOOLEAN",
     [("-128", "0", "-32768", "0", "-8388608", "0", "-2147483648", "0",
       "-9223372036854775808", "0", "0"),
      ("127", "255", "32767", "65535", "8388607", "16777215", "2147483647", "4294967295",
       "9223372036854775807", "18446744073709551615", "1"),
      ("0", "1", "-1", "1", "-1", "1", "-1", "1", "-1", "9223372036854775808", "NULL")]),
    ("t_dec", "c_d65 DECIMAL(65,30), c_d10 DECIMAL(10,2), c_d5 DECIMAL(5,0), "
     "c_d34 DECIMAL(34,4), c_du DECIMAL(12,6) UNSIGNED",
     [("-99999999999999999999999999999999999.999999999999999999999999999999", "-99999999.99",
       "-99999", "-999999999999999999999999999999.9999", "0.000000"),
      ("99999999999999999999999999999999999.999999999999999999999999999999", "99999999.99",
       "99999", "999999999999999999999999999999.9999", "999999.999999"),
      ("0.000000000000000000000000000001", "0.00", "0", "0.0001", "0.000001")]),
    ("t_float", "c_f FLOAT, c_d DOUBLE",
     [("-3.40282e38", "-1.7976931348623157e308"),
      ("3.40282e38", "1.7976931348623157e308"),
      ("1.401298464324817e-45", "4.9406564584124654e-324"),
      ]),
    ("t_bit", "c_b1 BIT(1), c_b10 BIT(10), c_b64 BIT(64)",
     [("b'0'", "b'0000000000'", "b'0'"),
      ("b'1'", "b'1111111111'", "b'1111111111111111111111111111111111111111111111111111111111111111'"),
      ("b'1'", "b'1010000001'", "b'1000000000000000000000000000000000000000000000000000000000000001'")]),
    ("t_time", "c_date DATE, c_time TIME, c_time6 TIME(6), c_dt DATETIME, c_dt3 DATETIME(3), "
     "c_dt6 DATETIME(6), c_ts TIMESTAMP NULL, c_ts6 TIMESTAMP(6) NULL, c_year YEAR",
     [("'1000-01-01'", "'-838:59:59'", "'-838:59:59.000000'", "'1000-01-01 00:00:00'",
       "'1000-01-01 00:00:00.000'", "'1000-01-01 00:00:00.000000'", "'1970-01-01 00:00:01'",
       "'1970-01-01 00:00:01.000000'", "1901"),
      ("'9999-12-31'", "'838:59:59'", "'838:59:59.000000'", "'9999-12-31 23:59:59'",
       "'9999-12-31 23:59:59.999'", "'9999-12-31 23:59:59.999999'", "'2038-01-19 03:14:07'",
       "'2038-01-19 03:14:07.999999'", "2155"),
      ("'2024-02-29'", "'00:00:00'", "'-00:00:00.500000'", "'2024-02-29 12:34:56'",
       "'2024-02-29 12:34:56.001'", "'2024-02-29 12:34:56.000001'", "'2024-02-29 12:34:56'",
       "'2024-02-29 12:34:56.123456'", "2000")]),
    ("t_str", "c_char CHAR(10), c_vc VARCHAR(255), c_latin1 VARCHAR(50) CHARACTER SET latin1, "
     "c_tt TINYTEXT, c_t TEXT, c_mt MEDIUMTEXT, c_lt LONGTEXT",
     [("''", "''", "''", "''", "''", "''", "''"),
      ("'caf\u00e9 \U0001F600'", "'trailing   '", "'caf\u00e9 \u00ff'", "'\\\\ \\' \" `'",
       "'line1\\nline2\\ttab'", "REPEAT('m\u00e9', 40000)", "REPEAT('\U0001F600', 100000)"),
      ("'abc'", "'\u65e5\u672c\u8a9e \u0645\u0631\u062d\u0628\u0627'", "'x'", "'a'", "'NULL'",
       "'b'", "'c'")]),
    ("t_bin", "c_bn BINARY(4), c_vb VARBINARY(20), c_tb TINYBLOB, c_b BLOB, c_mb MEDIUMBLOB, "
     "c_lb LONGBLOB",
     [("''", "''", "''", "''", "''", "''"),
      ("x'00ff00ff'", "x'00'", "x'ff00'", "x'000102fdfeff'", "REPEAT(x'00ff', 70000)",
       "REPEAT(x'01', 300000)"),
      ("'ab'", "'ab  '", "'a'", "'b'", "'c'", "'d'")]),
    ("t_enum_set", "c_enum ENUM('a','b,c','\u00e9\u00e8', ''), c_set SET('x','y','z')",
     [("'a'", "''"), ("'b,c'", "'x,y,z'"), ("'\u00e9\u00e8'", "'z,x'")]),
    ("t_json", "c_json JSON",
     [("'{}'",), ("'{\"a\": [1, 2.50, \"x\\\\u00e9\"], \"b\": null,  \"c\": {\"d\": true}}'",),
      ("'\"str\"'",)]),
    ("t_net", "c_inet6 INET6, c_inet4 INET4, c_uuid UUID",
     [("'::'", "'0.0.0.0'", "'00000000-0000-0000-0000-000000000000'"),
      ("'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'", "'255.255.255.255'",
       "'ffffffff-ffff-ffff-ffff-ffffffffffff'"),
      ("'2001:db8::1'", "'10.0.0.1'", "'0e9e2a3c-1d2b-4c5d-8e6f-7a8b9c0d1e2f'")]),
    ("t_geo", "c_geo GEOMETRY",
     [("ST_GeomFromText('POINT(1 2)')",), ("ST_GeomFromText('LINESTRING(0 0,1 1,2 2)')",),
      ("ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))')",)]),
    # last, each in its own transaction: values PostgreSQL refuses by design (docs/applier.md)
    ("t_zero", "c_date DATE, c_dt DATETIME(6), c_ts TIMESTAMP NULL",
     [("'0000-00-00'", "'0000-00-00 00:00:00.000000'", "'0000-00-00 00:00:00'"),
      ("'2024-00-00'", "'2024-01-00 00:00:00.000000'", "'1970-01-01 00:00:01'"),
      ("'0000-00-00'", "'0000-00-00 00:00:00.000000'", "'0000-00-00 00:00:00'")]),
    ("t_nul", "c_vc VARCHAR(20), c_t TEXT",
     [("'a\\0b'", "'\\0'"), ("'x'", "'y'"), ("'\\0'", "'z\\0z'")]),
]
# Columns whose MariaDB column type may differ from the source's (none: since the DDL's SCHEMA
# record carries ENUM/SET labels, the MariaDB target creates ENUM/SET columns again).
MYSQL_TYPE_KNOWN = {}
PG_REFUSED = {"t_zero": "zero dates have no PostgreSQL date (DLQ by design)",
              "t_nul": "PostgreSQL text cannot hold U+0000 (DLQ by design)"}


def type_columns(conn, db, table):
    with conn.cursor() as c:
        c.execute("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS "
                  "WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION", (db, table))
        return [tuple(r) for r in c.fetchall()]


def my_select(conn, db, table, cols):
    """Rows with FLOAT read as the exact double it holds (the text protocol rounds it)."""
    exprs = [f"CAST(`{n}` AS DOUBLE)" if dt == "float" else f"`{n}`" for n, dt, _ in cols]
    with conn.cursor() as c:
        c.execute(f"SELECT {', '.join(exprs)} FROM `{db}`.`{table}` ORDER BY id")
        return [tuple(r) for r in c.fetchall()]


def bits_int(v):
    return None if v is None else int.from_bytes(v, "big")


def pg_norm(dt, v, src):
    """A PostgreSQL value (psycopg2) as the MariaDB value pymysql reads, per docs/applier.md."""
    if v is None:
        return None
    if dt == "bit":                        # bit(n) text '0101' vs BIT bytes
        return v if src is None else (int(v, 2) == bits_int(src) and src) or v
    if dt == "bigint" and isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else v
    if dt == "timestamp" and isinstance(v, datetime.datetime) and v.tzinfo is not None:
        return v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    if dt == "set" and isinstance(v, list):
        return ",".join(v)
    return v


def mongo_norm(dt, v, src):
    """A MongoDB field (mongo_value) as the MariaDB value pymysql reads, per docs/targets.md."""
    from bson.int64 import Int64
    if v is None or v == "<missing>":
        return v
    if dt == "time" and isinstance(v, Int64):     # TIME: signed µs
        return datetime.timedelta(microseconds=int(v))
    if isinstance(v, Int64):               # every integer is an int64 (docs/targets.md)
        return int(v)
    if dt == "date" and isinstance(v, datetime.datetime):
        return v.date()
    if dt == "set" and isinstance(v, list):
        return ",".join(v)
    if dt in ("bigint", "int", "tinyint", "smallint", "mediumint") and isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else v
    return v


def same(want, got):
    if isinstance(want, decimal.Decimal) and isinstance(got, decimal.Decimal):
        return str(want) == str(got)       # exact digits, scale included
    if isinstance(want, float) and isinstance(got, float):
        return want.hex() == got.hex()
    return type(want) is type(got) and want == got if want is not None else got is None


@pytest.mark.parametrize("snapshot", [False, True], ids=["stream", "snapshot"])
def test_it_e2e_mysql_type_matrix(pipeline, tmp_path, snapshot):
    """snapshot: the same rows written before the collector's first start, copied by its
    snapshot (READ rows: PostgreSQL's COPY path, MariaDB's and MongoDB's bulks), must arrive
    as exact as streamed ones."""
    import json
    t0 = time.monotonic()
    p = pipeline(snapshot=snapshot)
    s = p.src
    for table, ddl, _ in TYPE_TABLES:
        p.sql(f"CREATE TABLE `{s}`.`{table}` (id INT PRIMARY KEY, {ddl})")
    p.sql(f"CREATE TABLE `{s}`.t_done (id INT PRIMARY KEY)")
    if not snapshot:
        p.start()
    p.sql("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")    # zero dates allowed
    for table, ddl, rows in TYPE_TABLES:
        ncol = len(rows[0])
        values = [f"({i + 1}, {', '.join(r)})" for i, r in enumerate(rows)]
        values.append(f"({len(rows) + 1}, {', '.join(['NULL'] * ncol)})")      # row 4: NULLs
        values.append(f"({len(rows) + 2}, {', '.join(rows[0])})")               # row 5
        cols = [c for c, _, _ in type_columns(p.my, s, table)][1:]
        sets = ", ".join(f"a.`{c}` = b.`{c}`" for c in cols)
        p.sql(f"INSERT INTO `{s}`.`{table}` VALUES {', '.join(values)}",
              f"UPDATE `{s}`.`{table}` a JOIN `{s}`.`{table}` b ON b.id = 2 SET {sets} "
              f"WHERE a.id = {len(rows) + 1}",
              f"DELETE FROM `{s}`.`{table}` WHERE id = {len(rows) + 2}", txn=True)
    if snapshot:
        p.start()                         # then t_done, streamed after every chunk
        p.col.wait_log(r"snapshot: finished", timeout=120)
    p.sql(f"INSERT INTO `{s}`.t_done VALUES (1)")

    def done():
        for t in p.apps:
            try:
                got = p.target_rows(t, "t_done", ["id"], ["id"])
            except Exception as e:
                return False, f"{t}: {e}"
            if got != [(1,)]:
                return False, f"{t}: t_done {got}"
        return True, None
    wait_until("the last transaction in every target", done, p.services(), timeout=90)

    results, bad, tgt_types_all = {}, [], {}
    for table, _, _ in TYPE_TABLES:
        cols = type_columns(p.my, s, table)
        want = my_select(p.my, s, table, cols)
        names = [n for n, _, _ in cols]
        got = {"mysql": my_select(p.my, p.my_db, table, cols) if p.target_rows(
                   "mysql", table, ["id"], ["id"]) is not None else None,
               "pg": p.target_rows("pg", table, names, ["id"],
                                   {n: "::float8" for n, dt, _ in cols if dt == "float"} |
                                   {n: "::text" for n, dt, _ in cols   # MariaDB's JSON
                                    if dt in ("bit", "json", "uuid", "longtext")}),
               "mongo": p.target_rows("mongo", table, names, ["id"])}
        tgt_types = {}
        with p.my.cursor() as c:
            c.execute("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                      "WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s", (p.my_db, table))
            tgt_types = dict(c.fetchall())
        tgt_types_all.update({(table, k): v for k, v in tgt_types.items()})
        for ci, (name, dt, ctype) in enumerate(cols):
            if name == "id":
                continue
            for t in ("pg", "mysql", "mongo"):
                rows = got[t]
                if t == "pg" and table in PG_REFUSED:
                    ok = not rows
                    verdict = f"refused: {PG_REFUSED[table]}" if ok else f"arrived?! {rows}"
                    results[(table, name, ctype, t)] = (ok, verdict)
                    if not ok:
                        bad.append((table, name, t, verdict))
                    continue
                if rows is None or len(rows) != len(want):
                    verdict = f"{0 if rows is None else len(rows)} rows, want {len(want)}"
                    results[(table, name, ctype, t)] = (False, verdict)
                    bad.append((table, name, t, verdict))
                    continue
                diffs = []
                for w, g in zip(want, rows):
                    v = g[ci]
                    if t == "pg":
                        v = pg_norm(dt, v, w[ci])
                    elif t == "mongo":
                        v = mongo_norm(dt, v, w[ci])
                    if not same(w[ci], v):
                        diffs.append(f"want {w[ci]!r} got {g[ci]!r}")
                if t == "mysql" and tgt_types.get(name) != ctype and \
                        (table, name) not in MYSQL_TYPE_KNOWN:
                    diffs.append(f"column type {tgt_types.get(name)} (source {ctype})")
                results[(table, name, ctype, t)] = (not diffs, "; ".join(diffs)[:300] or "exact")
                if diffs:
                    bad.append((table, name, t, "; ".join(diffs)[:300]))
    # the result table (docs/type-matrix.md is written from it)
    lines = [f"{tb}.{n} {ct}: " + " | ".join(
        f"{t}={'ok' if results[(tb, n, ct, t)][0] else 'NO'}" for t in ("pg", "mysql", "mongo"))
        for (tb, n, ct, t) in results if t == "pg"]
    report = tmp_path / "type-matrix.json"
    report.write_text(json.dumps([[*k, *v] for k, v in results.items()], default=str, indent=1))
    print("\n".join(lines))
    for (tb, n), why in MYSQL_TYPE_KNOWN.items():
        print(f"known: mysql {tb}.{n}: values exact, column {tgt_types_all.get((tb, n))}: {why}")
    n_ok = sum(ok for ok, _ in results.values())
    print(f"type matrix: {n_ok}/{len(results)} column x target cells as expected "
          f"({time.monotonic() - t0:.1f}s); details in {report}")
    assert not bad, "\n".join(f"{tb}.{n} -> {t}: {why}" for tb, n, t, why in bad)
    check_matrix_doc(p, s, results, tgt_types_all)
    # MariaDB's JSON is a json column in PostgreSQL (docs/type-matrix.md), not text
    cur = p.pg.cursor()
    cur.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = 't_json' AND column_name = 'c_json'", (s,))
    assert cur.fetchone() == ("json",)
    # the dead letters: only the PostgreSQL-refused tables' transactions, with a reason
    dead = read_messages(p.stack, p.topic + ".dlq")
    assert {k.split(".")[-1] for k, h in dead if h.get("sl.op") != "commit"} == set(PG_REFUSED), dead
    assert all(h.get("sl.dlq.reason") and h.get("sl.dlq.task") == p.src + "_pg" for _, h in dead)


# ------------------------------------------------------------------ odd types, created live

def odd_exprs(cols):
    """(MariaDB SELECT expressions, PostgreSQL SELECT expressions) per column that read the
    same Python value from both sides (docs/applier.md: GEOMETRY as bytea with MariaDB's
    SRID + WKB bytes, BIT as bit(n), SET as text[], INET6 as inet, JSON as json)."""
    geo = ("geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
           "multipolygon", "geometrycollection")
    my, pg = [], []
    for n, dt, _ in cols:
        if dt in geo:
            my.append(f"HEX(`{n}`)")
            pg.append(f'upper(encode("{n}", \'hex\'))')
        elif dt == "bit":                # bytes vs bit(n) text: pg_norm compares them
            my.append(f"`{n}`")
            pg.append(f'"{n}"::text')
        elif dt == "float":
            my.append(f"CAST(`{n}` AS DOUBLE)")
            pg.append(f'"{n}"::float8')
        elif dt in ("inet6", "inet4"):
            my.append(f"CAST(`{n}` AS CHAR)")
            pg.append(f'host("{n}")')
        elif dt in ("uuid",):
            my.append(f"CAST(`{n}` AS CHAR)")
            pg.append(f'"{n}"::text')
        elif dt == "longtext":           # JSON: the exact text on both sides
            my.append(f"`{n}`")
            pg.append(f'"{n}"::text')
        else:
            my.append(f"`{n}`")
            pg.append(f'"{n}"')
    return my, pg


def test_it_e2e_mysql_odd_types_created_live(pipeline):
    """Issue 17, case 2 end to end: while the collector and the PostgreSQL applier run, a
    table with POINT and the rest of the GEOMETRY family, YEAR/YEAR(4), display widths,
    BIGINT(20) UNSIGNED in a composite key, BINARY(16), CHARACTER SET binary, JSON, BIT,
    DECIMAL, ENUM/SET, TIME(3)/DATETIME(6), INET6/UUID is created by a fixture script's
    `DROP TABLE IF EXISTS` + `CREATE TABLE`, written, ALTERed (more odd columns) and written
    again: every row arrives exact in PostgreSQL (POINT as bytea holding MariaDB's SRID + WKB
    bytes), the columns are created with the right types (JSON as json), and nothing goes to
    the dead-letter topic."""
    from test_mysql_collector_schema import ODD_ALTER, ODD_CREATE, ODD_ROW
    t0 = time.monotonic()
    p = pipeline(targets=("pg",))
    s = p.src
    p.start()
    p.sql(f"USE `{s}`", "DROP TABLE IF EXISTS odd", ODD_CREATE)   # a fixture script's shape
    p.sql(*[ODD_ROW.format(k=k) for k in (1, 2)], txn=True)
    p.sql("INSERT INTO odd (id, bu, vc) VALUES (3, 5, 'v')")     # NULL in every other column
    p.sql(ODD_ALTER)
    p.sql(ODD_ROW.format(k=4),
          "UPDATE odd SET p2 = POINT(-1.5, 2.25), j2 = '[1, \"x\"]', mi = 16777215, "
          "fl = -3.40282e38, fu = 1.5, db = 4.9406564584124654e-324, "
          "ts = '2038-01-19 03:14:07.99', da = '9999-12-31', lt = REPEAT('é', 3000), "
          "mb = REPEAT(x'00ff', 40000), mls = ST_GeomFromText('MULTILINESTRING((1 1,2 2))'), "
          "bo = 0, i4 = '10.0.0.1' WHERE id = 4",
          "UPDATE odd SET p = ST_GeomFromText('POINT(5 6)'), j = '{\"b\": [true, null]}', "
          "y = 1901 WHERE id = 1",
          "DELETE FROM odd WHERE id = 2", txn=True)
    p.sql(f"CREATE TABLE `{s}`.t_done (id INT PRIMARY KEY)", f"INSERT INTO `{s}`.t_done VALUES (1)")
    cols = type_columns(p.my, s, "odd")
    my_e, pg_e = odd_exprs(cols)
    with p.my.cursor() as c:
        c.execute(f"SELECT {', '.join(my_e)} FROM `{s}`.odd ORDER BY id")
        want = [tuple(r) for r in c.fetchall()]
    assert len(want) == 3

    def check():
        got = p.target_rows("pg", "t_done", ["id"], ["id"])
        if got != [(1,)]:
            return False, f"t_done {got}"
        cur = p.pg.cursor()
        cur.execute(f"SELECT to_regclass('\"{s}\".odd') IS NOT NULL")
        if not cur.fetchone()[0]:
            return False, "no table odd in PostgreSQL"
        cur.execute(f'SELECT {", ".join(pg_e)} FROM "{s}".odd ORDER BY id')
        rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                for r in cur.fetchall()]
        if len(rows) != len(want):
            return False, f"{len(rows)} rows, want {len(want)}"
        diffs = []
        for w, g in zip(want, rows):
            for (n, dt, _), a, b in zip(cols, w, g):
                if not same(a, pg_norm(dt, b, a)):
                    diffs.append(f"{n} ({dt}): want {a!r} got {b!r}")
        return not diffs, "; ".join(diffs)[:2000]
    wait_until("odd rows exact in PostgreSQL", check, p.services(), timeout=60)
    cur = p.pg.cursor()
    cur.execute("SELECT column_name, format_type(atttypid, atttypmod) FROM "
                "information_schema.columns JOIN pg_attribute ON attrelid = "
                "(quote_ident(table_schema) || '.' || quote_ident(table_name))::regclass "
                "AND attname = column_name WHERE table_schema = %s AND table_name = 'odd'",
                (s,))
    pg_types = dict(cur.fetchall())
    for g in ("p", "p2", "g", "ls", "pg", "mp", "ml", "mpg", "gc", "mls", "b16", "cb", "tb"):
        assert pg_types[g] == "bytea", (g, pg_types)
    assert pg_types["j"] == "json" and pg_types["j2"] == "json", pg_types
    assert pg_types["y"] == pg_types["y4"] == "smallint", pg_types
    assert pg_types["bu"] == "numeric(20,0)" and pg_types["bt"] == "bit(5)", pg_types
    dead = read_messages(p.stack, p.topic + ".dlq")
    assert dead == [], dead
    print(f"\nodd types live: {len(cols)} columns, {len(want)} rows exact in PostgreSQL, "
          f"DLQ empty, {time.monotonic() - t0:.1f}s")


MATRIX_DOC = REPO_ROOT / "docs" / "type-matrix.md"
MATRIX_BEGIN = ("<!-- generated by tests/it/test_e2e_mysql.py::test_it_e2e_mysql_type_matrix "
                "(SHIFTLOG_WRITE_DOCS=1 rewrites it); the test fails when it differs -->")
MATRIX_END = "<!-- end of the generated matrix -->"


def check_matrix_doc(p, s, results, my_types):
    """docs/type-matrix.md's per-column table is what this run proved, cell by cell: the test
    fails when the document and the behaviour differ (SHIFTLOG_WRITE_DOCS=1 writes it)."""
    cur = p.pg.cursor()
    cur.execute("SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM "
                "pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON "
                "n.oid = c.relnamespace WHERE n.nspname = %s AND a.attnum > 0 AND NOT "
                "a.attisdropped", (s,))
    pg_types = {(t, c): ty for t, c, ty in cur.fetchall()}

    def cell(key, typ):
        ok, verdict = results[key]
        if not ok:
            return f"NO: {verdict}"
        return f"exact (`{typ}`)" if verdict == "exact" and typ else verdict
    rows = ["| source column (MariaDB 10.11) | PostgreSQL | MariaDB | MongoDB |",
            "|---|---|---|---|"]
    for (tb, n, ct, t) in results:
        if t != "pg":
            continue
        rows.append(f"| `{ct}` ({tb}.{n}) | {cell((tb, n, ct, 'pg'), pg_types.get((tb, n)))} | "
                    f"{cell((tb, n, ct, 'mysql'), my_types.get((tb, n)))} | "
                    f"{cell((tb, n, ct, 'mongo'), None)} |")
    block = "\n".join([MATRIX_BEGIN, "", *rows, "", MATRIX_END])
    doc = MATRIX_DOC.read_text()
    if MATRIX_BEGIN in doc:
        head, rest = doc.split(MATRIX_BEGIN, 1)
        tail = rest.split(MATRIX_END, 1)[1]
        new = head + block + tail
    else:
        new = doc.rstrip("\n") + "\n\n## Every column, as the last run proved it\n\n" + block + "\n"
    if os.environ.get("SHIFTLOG_WRITE_DOCS") == "1":
        MATRIX_DOC.write_text(new)
        return
    assert new == doc, ("docs/type-matrix.md differs from what this run proved; rerun with "
                        "SHIFTLOG_WRITE_DOCS=1 and review the diff")


# ------------------------------------------------------------------ kill -9 of both services

def test_it_e2e_mysql_kill9_collector_and_applier(pipeline):
    """kill -9 of the collector and of the applier at random instants during a ledger +
    transfer workload (3x each; 10x with SHIFTLOG_LONG). The PostgreSQL target table `ledger`
    is made beforehand with an AFTER INSERT OR UPDATE trigger that writes an audit row: ledger
    rows are only ever inserted at the source, so an audit row 'UPDATE' (an upsert that hit an
    existing row) or two audit rows for one id would be a change applied twice. A concurrent
    reader checks that the sum of the balances never changes (no torn transaction)."""
    t0 = time.monotonic()
    rng = random.Random()
    kills = 10 if LONG else 3
    n_acct, start_balance = 20, D("1000.00")
    p = pipeline(targets=("pg",))
    # lease = false: a restart right after kill -9 would wait as a standby for lease.ttl.ms
    p.col.argv += ["-X", "lease=false"]
    s = p.src
    p.sql(f"CREATE TABLE `{s}`.acct (id INT PRIMARY KEY, balance DECIMAL(14,2) NOT NULL)",
          f"CREATE TABLE `{s}`.ledger (id BIGINT PRIMARY KEY, acct INT NOT NULL, "
          "amount DECIMAL(12,2) NOT NULL, txn INT NOT NULL)")
    cur = p.pg.cursor()
    cur.execute(f'CREATE SCHEMA "{s}"')
    cur.execute(f'CREATE TABLE "{s}".ledger (id bigint PRIMARY KEY, acct integer NOT NULL, '
                'amount numeric(12,2) NOT NULL, txn integer NOT NULL)')
    cur.execute("CREATE TABLE public.audit (ledger_id bigint, op text)")
    cur.execute("CREATE FUNCTION public.audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "INSERT INTO public.audit VALUES (NEW.id, TG_OP); RETURN NULL; END $$")
    cur.execute(f'CREATE TRIGGER audit_t AFTER INSERT OR UPDATE ON "{s}".ledger '
                "FOR EACH ROW EXECUTE FUNCTION public.audit_fn()")
    p.sql((f"INSERT INTO `{s}`.acct VALUES " + ", ".join(["(%s, %s)"] * n_acct),
           [x for i in range(1, n_acct + 1) for x in (i, start_balance)]))
    col, app = p.col, p.apps["pg"]
    p.start()

    stop = threading.Event()
    errors, done = [], {"txn": 0}

    def workload():
        conn = mysql_connect(p.stack)
        r = random.Random(7)
        lid = 0
        try:
            while not stop.is_set():
                a, b = r.sample(range(1, n_acct + 1), 2)
                amt = D(r.randrange(1, 10000)) / 100
                stmts = []
                for _ in range(r.randint(1, 4)):
                    lid += 1
                    stmts.append((f"INSERT INTO `{s}`.ledger VALUES (%s, %s, %s, %s)",
                                  (lid, a, amt, done["txn"])))
                stmts += [(f"UPDATE `{s}`.acct SET balance = balance - %s WHERE id = %s", (amt, a)),
                          (f"UPDATE `{s}`.acct SET balance = balance + %s WHERE id = %s", (amt, b))]
                my_exec(conn, *stmts, txn=True)
                done["txn"] += 1
                time.sleep(0.002)
        except Exception as e:       # noqa: BLE001 - reported by the test
            errors.append(e)
        finally:
            conn.close()

    def reader():
        conn = pg_connect(p.stack, dbname=p.pg_db)
        c = conn.cursor()
        try:
            while not stop.is_set():
                try:
                    c.execute(f'SELECT count(*), sum(balance) FROM "{s}".acct')
                except Exception:     # table not created yet
                    time.sleep(0.1)
                    continue
                n, total = c.fetchone()
                if n and total != start_balance * n:
                    errors.append(AssertionError(f"torn transaction seen: {n} accounts, sum {total}"))
                time.sleep(0.05)
        finally:
            conn.close()

    threads = [threading.Thread(target=workload), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    try:
        victims = [col] * kills + [app] * kills
        rng.shuffle(victims)
        for v in victims:
            time.sleep(rng.uniform(0.3, 1.5))
            v.kill9()
            time.sleep(rng.uniform(0.0, 0.5))
            v.start()
        time.sleep(rng.uniform(0.5, 1.0))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert col.starts == kills + 1 and app.starts == kills + 1
    p.wait_equal([("acct", ["id"], None), ("ledger", ["id"], None)], timeout=120)
    cur.execute("SELECT count(*), count(DISTINCT ledger_id), count(*) FILTER (WHERE op <> 'INSERT') "
                "FROM public.audit")
    n_audit, n_ids, n_replayed = cur.fetchone()
    cur.execute(f'SELECT count(*) FROM "{s}".ledger')
    n_ledger = cur.fetchone()[0]
    assert (n_audit, n_ids, n_replayed) == (n_ledger, n_ledger, 0), \
        f"audit {n_audit} rows for {n_ids} ids, {n_replayed} re-applied; ledger {n_ledger}"
    cur.execute(f'SELECT sum(balance) FROM "{s}".acct')
    assert cur.fetchone()[0] == start_balance * n_acct
    print(f"kill -9: {kills}x collector, {kills}x applier, {done['txn']} source transactions, "
          f"{n_ledger} ledger rows, each applied once; {time.monotonic() - t0:.1f}s")
