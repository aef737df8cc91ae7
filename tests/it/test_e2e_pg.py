"""End to end from PostgreSQL: pgoutput -> shiftlog-collector -> Kafka -> shiftlog-applier ->
MariaDB and MongoDB, every service a real process started from examples/pg-to-mysql and
examples/pg-to-mongo (only names overridden with -X):

  it_e2e_pg_to_mysql_and_mongo   inserts/updates/deletes in multi-row transactions, a composite
                                 key, an UPDATE that leaves a TOASTed column unchanged (the
                                 targets keep its value), TRUNCATE (applied: MariaDB DELETE,
                                 MongoDB delete_many) and rows after it -> both targets equal
                                 the source row for row (psycopg2 vs pymysql vs pymongo) and by
                                 checksum
"""

import datetime
import decimal
import random
import time

import pytest

from e2e_util import (pg_drop, applier, collector, digest, first_diff, mongo_client, mongo_rows,
                      my_exec, my_rows, mysql_connect, pg_connect, read_messages, stop_all,
                      wait_topic, wait_until)

D = decimal.Decimal


class PgPipeline:
    def __init__(self, stack, bin_dir, tmp, unique_name):
        self.stack = stack
        self.db = unique_name("e2epgsrc")
        self.slot, self.pub = f"s_{self.db}"[:63], f"p_{self.db}"[:63]
        self.prefix = unique_name("e2epgp")
        self.topic = f"{self.prefix}.{self.db}"
        self.my_db, self.mg_db = unique_name("e2epgmy"), unique_name("e2epgmg")
        admin = pg_connect(stack)
        admin.cursor().execute(f'CREATE DATABASE "{self.db}"')
        admin.close()
        self.pg = pg_connect(stack, dbname=self.db)
        self.my = mysql_connect(stack)
        my_exec(self.my, "SET time_zone = '+00:00'")
        self.mongo = mongo_client(stack)
        self.col = collector(bin_dir, "pg-to-mysql", tmp, "collector", {
            "source.name": self.db, "topic.prefix": self.prefix, "source.database": self.db,
            "source.slot": self.slot, "source.publication": self.pub})
        common = {"source.topic": self.topic, "tables": "public.*"}
        self.apps = {
            "mysql": applier(bin_dir, "pg-to-mysql", tmp, "applier-mysql", {
                **common, "task.name": self.db + "_my", "target.database": self.my_db,
                "map.tables": f"public.*={self.my_db}.*"}),
            "mongo": applier(bin_dir, "pg-to-mongo", tmp, "applier-mongo", {
                **common, "task.name": self.db + "_mg", "target.database": self.mg_db,
                "map.tables": f"public.*={self.mg_db}.*"})}

    def sql(self, *stmts):
        cur = self.pg.cursor()
        for s in stmts:
            cur.execute(*s) if isinstance(s, tuple) else cur.execute(s)
        return cur

    def txn(self, *stmts):
        self.sql("BEGIN", *stmts, "COMMIT")

    def services(self):
        return [self.col, *self.apps.values()]

    def start(self):
        self.sql(f'CREATE PUBLICATION "{self.pub}" FOR ALL TABLES')
        self.col.start()
        wait_topic(self.stack, self.topic)
        for a in self.apps.values():
            a.start()

    def close(self):
        stop_all(*self.services())
        self.pg.close()
        pg_drop(self.stack, self.db, slot=self.slot)
        my_exec(self.my, f"DROP DATABASE IF EXISTS `{self.my_db}`")
        self.my.close()
        self.mongo.drop_database(self.mg_db)
        self.mongo.close()


@pytest.fixture
def pgp(stack, bin_dir, tmp_path, unique_name):
    p = PgPipeline(stack, bin_dir, tmp_path, unique_name)
    yield p
    p.close()


# (table, key, columns) — the column order of the source tables below
TABLES = [("items", ["id"], ["id", "name", "price", "qty", "flag", "updated", "doc"]),
          ("pairs", ["a", "b"], ["a", "b", "v"]),
          ("scratch", ["id"], ["id", "v"])]


def test_it_e2e_pg_to_mysql_and_mongo(pgp):
    t0 = time.monotonic()
    p = pgp
    p.sql("CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric(10,2), "
          "qty bigint, flag boolean, updated timestamp(6), doc text)",
          "CREATE TABLE pairs (a integer, b varchar(20), v bigint, PRIMARY KEY (a, b))",
          "CREATE TABLE scratch (id integer PRIMARY KEY, v text)")
    p.start()
    rng = random.Random(42)
    # a TOASTed value: ~64 kB of hex digits (compresses to > 2 kB, stored out of line)
    p.txn("INSERT INTO items SELECT 1, 'toasted', 1.00, 1, true, '2026-01-01 00:00:00.000001', "
          "string_agg(md5(random()::text), '') FROM generate_series(1, 2000)",
          "INSERT INTO items VALUES (2, 'second', NULL, NULL, NULL, NULL, NULL)")
    for i in range(60):
        k = rng.random()
        if k < 0.4:
            base = 100 + i * 10
            p.txn(*[("INSERT INTO items VALUES (%s, %s, %s, %s, %s, %s, %s)",
                     (base + j, f"item {base + j} \u00e9\U0001F600 '\"", D(rng.randrange(0, 10**8)) / 100,
                      rng.randrange(-2**63, 2**63), rng.choice([True, False, None]),
                      datetime.datetime(2026, 1, 1) + datetime.timedelta(microseconds=rng.randrange(10**12)),
                      rng.choice([None, "", "short"]))) for j in range(rng.randint(1, 5))])
        elif k < 0.6:
            p.txn(("UPDATE items SET qty = coalesce(qty, 0) + 1, name = name || '+' WHERE id IN "
                   "(SELECT id FROM items WHERE id >= 100 ORDER BY id LIMIT 3 OFFSET %s)",
                   (rng.randrange(10),)))
        elif k < 0.8:
            p.txn(*[("INSERT INTO pairs VALUES (%s, %s, %s) ON CONFLICT (a, b) DO UPDATE "
                     "SET v = EXCLUDED.v", (rng.randrange(10), f"k{rng.randrange(5)}", i))
                    for _ in range(3)])
        elif k < 0.9:
            p.txn(("DELETE FROM pairs WHERE a = %s", (rng.randrange(10),)),
                  ("DELETE FROM items WHERE id IN (SELECT id FROM items WHERE id >= 100 "
                   "ORDER BY id DESC LIMIT 1)",))
        else:
            p.txn(("INSERT INTO scratch VALUES (%s, %s)", (i, f"s{i}")))
    # unchanged TOAST: the row's doc is not in this UPDATE's image (pgoutput 'u')
    p.txn("UPDATE items SET price = 2.50, updated = '2026-06-01 12:00:00.5' WHERE id = 1")
    # TRUNCATE, then a row after it
    p.txn("TRUNCATE scratch")
    p.txn("INSERT INTO scratch VALUES (1000, 'after truncate')")
    # a key-changing update of a composite key
    p.txn("UPDATE pairs SET b = 'moved' WHERE (a, b) IN (SELECT a, b FROM pairs ORDER BY a, b LIMIT 1)")

    def src(table, cols, key):
        cur = p.sql(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {', '.join(key)}")
        return [tuple(r) for r in cur.fetchall()]

    def tgt(t, table, cols, key):
        if t == "mysql":
            rows = my_rows(p.my, p.my_db, table, cols, key)
            if "flag" in cols:                 # BOOLEAN is TINYINT(1) in MariaDB
                i = cols.index("flag")
                rows = [r[:i] + (None if r[i] is None else bool(r[i]),) + r[i + 1:] for r in rows]
            return rows
        rows = mongo_rows(p.mongo, p.mg_db, table, cols, key)[0]
        return [tuple(int(v) if type(v).__name__ == "Int64" else v for v in r) for r in rows]

    def check():
        for table, key, cols in TABLES:
            want = src(table, cols, key)
            for t in p.apps:
                try:
                    got = tgt(t, table, cols, key)
                except Exception as e:       # table not created yet
                    return False, f"{t} {table}: {type(e).__name__}: {e}"
                d = first_diff(want, got)
                if d:
                    return False, f"{t} {table}: {d}"
        return True, None
    wait_until("MariaDB and MongoDB equal to the PostgreSQL source", check, p.services(),
               timeout=90)

    # the unchanged TOAST value is still there, whole, in both targets
    doc = p.sql("SELECT doc FROM items WHERE id = 1").fetchone()[0]
    assert len(doc) == 64000
    assert tgt("mysql", "items", ["doc", "price"], ["id"])[0] == (doc, D("2.50"))
    assert p.mongo[p.mg_db]["items"].find_one({"_id": 1})["doc"] == doc
    # TRUNCATE arrived: only the row written after it is left
    assert tgt("mysql", "scratch", ["id"], ["id"]) == [(1000,)]
    assert tgt("mongo", "scratch", ["id"], ["id"]) == [(1000,)]
    # checksums of what each independent client reads
    for table, key, cols in TABLES:
        want = digest(src(table, cols, key))
        for t in p.apps:
            assert digest(tgt(t, table, cols, key)) == want, (t, table)
    assert read_messages(p.stack, p.topic + ".dlq") == []
    print(f"pg -> mysql + mongo: {time.monotonic() - t0:.1f}s")


def test_it_e2e_pg_varbit_keeps_its_length(pgp):
    """Issue 17: a PostgreSQL `bit varying(n)` value is its bits AND their count (B'101' is
    not B'00000101'). MariaDB has no varying BIT: the column is a VARCHAR of '0'/'1' digits,
    exactly PostgreSQL's text; MongoDB gets the same digits as a string. bit(n) stays BIT(n)
    / binary (its length is the column's)."""
    p = pgp
    p.sql("CREATE TABLE vb (id integer PRIMARY KEY, v varbit(20), vu bit varying, b bit(10))")
    p.start()
    vals = [("B''", "B''", "B'0000000000'"), ("B'1'", "B'0'", "B'1111111111'"),
            ("B'101'", "B'00000101'", "B'1000000001'"),
            ("B'10101010101010101010'", "repeat('1', 100)::varbit", "B'0000000101'"),
            ("NULL", "NULL", "NULL")]
    p.txn(*[f"INSERT INTO vb VALUES ({i + 1}, {a}, {b}, {c})" for i, (a, b, c) in enumerate(vals)])
    p.txn("UPDATE vb SET v = B'0011', vu = B'' WHERE id = 2")
    want = [tuple(r) for r in p.sql("SELECT id, v::text, vu::text, b::text FROM vb "
                                    "ORDER BY id").fetchall()]

    def bits10(x):
        return None if x is None else format(int.from_bytes(x, "big"), "010b")

    def check():
        try:
            my = [(i, v, vu, bits10(b)) for i, v, vu, b in
                  my_rows(p.my, p.my_db, "vb", ["id", "v", "vu", "b"], ["id"])]
            mg = [(int(i), v, vu, bits10(b)) for i, v, vu, b in
                  mongo_rows(p.mongo, p.mg_db, "vb", ["id", "v", "vu", "b"], ["id"])[0]]
        except Exception as e:               # table not created yet
            return False, f"{type(e).__name__}: {e}"
        return (my == want and mg == want), f"want {want}\nmysql {my}\nmongo {mg}"
    wait_until("varbit exact in MariaDB and MongoDB", check, p.services(), timeout=60)
    with p.my.cursor() as c:
        c.execute("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                  "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'vb'", (p.my_db,))
        types = dict(c.fetchall())
    assert types["v"] == "varchar(20)" and types["b"] == "bit(10)", types
    assert read_messages(p.stack, p.topic + ".dlq") == []
