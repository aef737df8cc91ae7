"""Values and row images from a PostgreSQL source that a target must never turn into a stopped
table or an invented value (issue 17), pgoutput -> collector -> Kafka -> appliers to PostgreSQL,
MariaDB and MongoDB:

  it_e2e_pg_edge_values_pg_target   PostgreSQL's own range: timestamp 294276-12-31
                                    23:59:59.999999, 4713 BC, ±infinity, date 5874897-12-31,
                                    NaN/±Infinity in real, double and numeric -> the PostgreSQL
                                    target holds each exactly (compared as text); nothing in the
                                    DLQ (the far timestamp was refused as a "zero date")
  it_e2e_pg_nan_one_transaction     a NaN in a real column, which MariaDB cannot store: only its
                                    source transaction goes to the DLQ with the reason; later
                                    changes of the same table are applied, no table stops
                                    (it stopped the table)
  it_e2e_pg_on_unconvertible[null|stop]
                                    the same with on_unconvertible = null (NaN written as NULL,
                                    nothing dead-lettered) and = stop (the table stops, visibly:
                                    /health degraded naming it, the gauge at 1)
  it_e2e_pg_add_column_default      ADD COLUMN ... DEFAULT (int, text, boolean, numeric, date): the
                                    rows there get the default in every target (they kept NULL);
                                    a volatile default (a table rewrite) is logged, not carried
  it_e2e_pg_drop_table_alone        a DROP TABLE alone, with the opt-in event trigger: every target
                                    drops the table (they kept it: pgoutput does not say it)
  it_e2e_pg_unchanged_toast_missing_row
                                    an UPDATE that leaves a TOASTed column unchanged, on a row the
                                    target does not hold: no target invents the row with the
                                    column NULL (or absent); its transaction goes to the DLQ naming
                                    the column; the next full image creates the row exactly
"""

import datetime
import decimal
import json
import os
import random
import re
import threading
import time

import pytest

from e2e_util import (applier, first_diff, mongo_rows, my_rows, pg_connect, read_messages,
                      topic_exists, wait_until)
from test_e2e_pg import PgPipeline  # noqa: F401


@pytest.fixture
def pgv(stack, bin_dir, tmp_path, unique_name):
    """PgPipeline plus an applier to a PostgreSQL target database."""
    p = PgPipeline(stack, bin_dir, tmp_path, unique_name)
    p.pg_db = unique_name("e2epgpg")
    admin = pg_connect(stack)
    admin.cursor().execute(f'CREATE DATABASE "{p.pg_db}"')
    admin.close()
    p.tpg = pg_connect(stack, dbname=p.pg_db)
    p.apps["pg"] = applier(bin_dir, "mysql-to-pg", tmp_path, "applier-pg", {
        "source.topic": p.topic, "tables": "public.*", "task.name": p.db + "_pg",
        "target.database": p.pg_db, "map.tables": "public.*=public.*"})
    yield p
    p.close()
    p.tpg.close()
    admin = pg_connect(stack)
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{p.pg_db}" WITH (FORCE)')
    admin.close()


def target_rows(p, t, table, cols):
    """Rows of public.<table> (mapped) in target t ordered by id, None when the table is not
    there; MongoDB: _id for id, an absent field (a column added after the document) as None."""
    if t == "pg":
        c = p.tpg.cursor()
        c.execute("SELECT to_regclass(%s)", (f"public.{table}",))
        if c.fetchone()[0] is None:
            p.tpg.commit()
            return None
        c.execute(f"SELECT {', '.join(cols)} FROM public.{table} ORDER BY id")
        rows = [tuple(x) for x in c.fetchall()]
        p.tpg.commit()
        return rows
    if t == "mysql":
        with p.my.cursor() as c:
            c.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                      "AND TABLE_NAME=%s", (p.my_db, table))
            if not c.fetchone()[0]:
                return None
        return my_rows(p.my, p.my_db, table, cols, ["id"])
    if table not in p.mongo[p.mg_db].list_collection_names():
        return None
    rows = mongo_rows(p.mongo, p.mg_db, table, cols, ["id"])[0]
    return [tuple(None if v == "<missing>" else v for v in x) for x in rows]


def dlq(p):
    t = p.topic + ".dlq"
    return read_messages(p.stack, t) if topic_exists(p.stack, t) else []


def http(app, path):
    import urllib.request
    port = int(re.findall(r"serving /health and /metrics on [\d.]+:(\d+)", app.text())[-1])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


EDGE = [
    "(1, '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00', '5874897-12-31', "
    "'NaN', 'Infinity', 'NaN')",
    "(2, '4713-01-01 00:00:00 BC', '4713-01-01 00:00:00+00 BC', '4713-01-01 BC', '-Infinity', "
    "'-Infinity', -1.5)",
    "(3, 'infinity', '-infinity', 'infinity', 1.25, 2.5, 12345678901234567890.123456789)",
    "(4, '2026-12-07 10:00:00.000001', '2026-12-07 10:00:00.000001+00', '2026-12-07', 0, -0, 0)",
]


def test_it_e2e_pg_edge_values_pg_target(pgv):
    p = pgv
    p.sql("SET TIME ZONE 'UTC'",
          "CREATE TABLE edge (id int PRIMARY KEY, ts timestamp(6), tstz timestamptz(6), d date, "
          "r real, dp double precision, n numeric)")
    p.start()
    p.txn(f"INSERT INTO edge VALUES {', '.join(EDGE)}")
    cols = "id, ts::text, tstz::text, d::text, r::text, dp::text, n::text"

    def check():
        want = p.sql(f"SELECT {cols} FROM edge ORDER BY id").fetchall()
        try:
            c = p.tpg.cursor()
            c.execute("SET TIME ZONE 'UTC'")
            c.execute(f"SELECT {cols} FROM public.edge ORDER BY id")
            got = c.fetchall()
        except Exception as e:
            p.tpg.rollback()
            return False, f"{type(e).__name__}: {e}"
        d = first_diff([tuple(r) for r in want], [tuple(r) for r in got])
        return d is None, d
    wait_until("the PostgreSQL target holds every edge value", check, p.services(), timeout=60)
    assert not [m for m in dlq(p) if "edge" in json.dumps(str(m))], dlq(p)


def test_it_e2e_pg_nan_one_transaction(pgv):
    p = pgv
    del p.apps["pg"]
    p.sql("CREATE TABLE f (id int PRIMARY KEY, r real)")
    p.start()
    p.txn("INSERT INTO f VALUES (1, 'NaN')")
    p.txn("INSERT INTO f VALUES (2, 1.5)")
    p.txn("UPDATE f SET r = 2.5 WHERE id = 2")
    p.txn("INSERT INTO f VALUES (3, 'Infinity')")
    p.txn("INSERT INTO f VALUES (4, 4)")

    def check():
        try:
            with p.my.cursor() as c:
                c.execute(f"SELECT id, r FROM `{p.my_db}`.f ORDER BY id")
                got = [tuple(r) for r in c.fetchall()]
        except Exception as e:
            return False, str(e)
        return got == [(2, 2.5), (4, 4.0)], got
    wait_until("MariaDB holds the rows it can store", check, p.services(), timeout=60)
    reasons = [str(m) for m in dlq(p)]
    assert len(reasons) >= 2 and all("non-finite" in r for r in reasons), reasons
    app = p.apps["mysql"]
    assert "stopped" not in app.text(), app.tail()
    assert re.search(r"^shiftlog_applier_tables_stopped 0$", http(app, "/metrics"), re.M)


@pytest.mark.parametrize("policy", ["null", "stop"])
def test_it_e2e_pg_on_unconvertible(pgv, policy):
    p = pgv
    del p.apps["pg"], p.apps["mongo"]
    p.apps["mysql"].argv += ["-X", f"on_unconvertible={policy}"]
    p.sql("CREATE TABLE f (id int PRIMARY KEY, r real)")
    p.start()
    p.txn("INSERT INTO f VALUES (1, 'NaN')")
    p.txn("INSERT INTO f VALUES (2, 1.5)")
    app = p.apps["mysql"]
    if policy == "null":
        def check():
            with p.my.cursor() as c:
                try:
                    c.execute(f"SELECT id, r FROM `{p.my_db}`.f ORDER BY id")
                except Exception as e:
                    return False, str(e)
                got = [tuple(r) for r in c.fetchall()]
            return got == [(1, None), (2, 1.5)], got
        wait_until("NaN written as NULL", check, p.services(), timeout=60)
        assert dlq(p) == []
        assert app.count("written as NULL") == 1, app.tail()
    else:
        def stopped():
            m = re.search(r"^shiftlog_applier_tables_stopped (\S+)$", http(app, "/metrics"), re.M)
            h = json.loads(http(app, "/health"))
            ok = m is not None and float(m.group(1)) == 1 and h["status"] == "degraded"
            return ok, h
        h = wait_until("the table stopped", stopped, p.services(), timeout=60)
        assert h["status"] == "degraded" and "public.f" in h["degraded"], h
        assert "non-finite" in h["degraded"], h


def test_it_e2e_pg_unchanged_toast_missing_row(pgv):
    p = pgv
    p.sql("CREATE TABLE tt (id int PRIMARY KEY, v int, doc text)")
    p.start()
    # ~64 kB of hex digits: TOASTed out of line
    p.txn("INSERT INTO tt SELECT 1, 1, string_agg(md5(random()::text), '') "
          "FROM generate_series(1, 2000)", "INSERT INTO tt VALUES (2, 2, 'small')")
    doc = p.sql("SELECT doc FROM tt WHERE id = 1").fetchone()[0]

    def rows(t):
        if t == "pg":
            c = p.tpg.cursor()
            c.execute("SELECT id, v, doc FROM public.tt ORDER BY id")
            r = [tuple(x) for x in c.fetchall()]
            p.tpg.commit()
            return r
        if t == "mysql":
            with p.my.cursor() as c:
                c.execute(f"SELECT id, v, doc FROM `{p.my_db}`.tt ORDER BY id")
                return [tuple(x) for x in c.fetchall()]
        return [(d["_id"], d.get("v"), d.get("doc", "<absent>"))
                for d in p.mongo[p.mg_db]["tt"].find().sort("_id")]

    def all_have(want):
        def check():
            for t in p.apps:
                try:
                    got = rows(t)
                except Exception as e:
                    return False, f"{t}: {e}"
                if got != want:
                    return False, f"{t}: {first_diff(want, got)}"
            return True, None
        return check
    wait_until("row 1 everywhere", all_have([(1, 1, doc), (2, 2, "small")]), p.services(), 60)
    # the row disappears from every target (as when its INSERT was dead-lettered)
    c = p.tpg.cursor()
    c.execute("DELETE FROM public.tt WHERE id = 1")
    p.tpg.commit()
    with p.my.cursor() as c:
        c.execute(f"DELETE FROM `{p.my_db}`.tt WHERE id = 1")
    p.my.commit()
    p.mongo[p.mg_db]["tt"].delete_one({"_id": 1})
    # doc unchanged: not in the update's image
    p.txn("UPDATE tt SET v = 10 WHERE id = 1")
    p.txn("UPDATE tt SET v = 20 WHERE id = 2")
    wait_until("row 2 updated, row 1 not invented",
               all_have([(2, 20, "small")]), p.services(), 60)
    reasons = [str(m) for m in dlq(p)]
    assert len(reasons) == 3 and all("doc" in r for r in reasons), reasons
    # the next full image brings the row back exactly
    p.txn("UPDATE tt SET doc = doc || 'x', v = 11 WHERE id = 1")
    wait_until("row 1 back, whole", all_have([(1, 11, doc + "x"), (2, 20, "small")]),
               p.services(), 60)


def test_it_e2e_pg_table_life(pgv):
    p = pgv
    p.sql("CREATE TABLE a (id int PRIMARY KEY, v text)")
    p.start()
    p.txn("INSERT INTO a VALUES (1, 'one'), (2, 'two')")
    p.txn("ALTER TABLE a RENAME TO b")
    p.txn("INSERT INTO b VALUES (3, 'three')")

    def equal(table, cols, gone):
        def check():
            want = [tuple(r) for r in p.sql(f"SELECT {', '.join(cols)} FROM {table} "
                                            "ORDER BY id").fetchall()]
            for t in p.apps:
                try:
                    got, old = target_rows(p, t, table, cols), target_rows(p, t, gone, ["id"])
                except Exception as e:
                    return False, f"{t}: {e}"
                if got != want or old is not None:
                    return False, f"{t}: {got} / {gone}: {old}"
            return True, None
        return check
    wait_until("b renamed from a everywhere", equal("b", ["id", "v"], "a"), p.services(), 60)
    p.txn("DROP TABLE b")
    p.txn("CREATE TABLE b (id int PRIMARY KEY, w bigint)")
    p.txn("INSERT INTO b VALUES (10, 100)")
    wait_until("b anew everywhere", equal("b", ["id", "w"], "a"), p.services(), 60)
    assert dlq(p) == []


def test_it_e2e_pg_add_column_default(pgv):
    """ADD COLUMN ... DEFAULT fills the rows there without row changes (PostgreSQL's fast
    default): every target's rows there get the same value (they kept NULL: the default was
    not on the wire). A volatile default rewrote the table, which is not carried: logged
    naming the table and column."""
    p = pgv
    p.sql("CREATE TABLE a (id int PRIMARY KEY, v int)", "CREATE TABLE b (id int PRIMARY KEY)")
    p.start()
    p.txn("INSERT INTO a VALUES (1, 10), (2, 20)", "INSERT INTO b VALUES (1)")
    p.txn("ALTER TABLE a ADD COLUMN c int DEFAULT 5, ADD COLUMN s text DEFAULT 'it''s, {x}', "
          "ADD COLUMN f boolean DEFAULT true, ADD COLUMN n numeric(6,2) DEFAULT 1.5, "
          "ADD COLUMN d date DEFAULT '2024-01-02', ADD COLUMN t timestamptz(6) DEFAULT now()")
    # (another table: a rewrite loses the value a's rows got, if the collector reads the
    # catalog after it; then a constant default is still carried, now()'s is not)
    p.txn("ALTER TABLE b ADD COLUMN r double precision DEFAULT random()")
    p.txn("INSERT INTO a (id, v, c, s, f, n) VALUES (3, 30, 7, 'x', false, 2)",
          "INSERT INTO b VALUES (2, 0.5)")
    cols = ["id", "v", "c", "s", "f", "n"]

    def norm(rows):
        return [(i, v, c, s, None if f is None else bool(f),
                 None if n is None else decimal.Decimal(str(n))) for i, v, c, s, f, n in rows]
    want = norm(p.sql(f"SELECT {', '.join(cols)} FROM a ORDER BY id").fetchall())
    assert want[0] == (1, 10, 5, "it's, {x}", True, decimal.Decimal("1.50")), want

    def check():
        for t in p.apps:
            try:
                got = target_rows(p, t, "a", cols)
            except Exception as e:     # the new columns not there yet
                return False, f"{t}: {type(e).__name__}: {e}"
            if got is None or norm(got) != want:
                return False, f"{t}: {got}"
        return True, None
    wait_until("the defaults in the rows there", check, p.services(), 60)
    c = p.tpg.cursor()
    c.execute("SELECT d FROM public.a ORDER BY id")
    assert [r[0] for r in c.fetchall()] == [datetime.date(2024, 1, 2)] * 3
    # now() is evaluated once by ADD COLUMN: the rows there hold that instant, to the µs
    t0 = p.sql("SELECT t FROM a WHERE id = 1").fetchone()[0]
    c.execute("SELECT t FROM public.a WHERE id IN (1, 2)")
    assert [r[0] for r in c.fetchall()] == [t0, t0]
    p.tpg.commit()
    naive = t0.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    for t in ("mysql", "mongo"):
        assert [r[1] for r in target_rows(p, t, "a", ["id", "t"])[:2]] == [naive, naive], t
    assert re.search(r"table public\.b column r: its default random\(\) is an expression",
                     p.col.text())
    assert dlq(p) == []


def test_it_e2e_pg_drop_table_alone(pgv):
    """A DROP TABLE with no table created under its name afterwards: pgoutput says nothing of
    it, and every target kept the table. With the opt-in event trigger
    (deploy/sql/pg_drop_table_trigger.sql) its message ends the table's life: every target
    drops it (ddl.apply = all), the other table goes on."""
    p = pgv
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "sql",
                           "pg_drop_table_trigger.sql")) as f:
        p.sql(f.read())
    p.sql("CREATE TABLE gone (id int PRIMARY KEY, v text)", "CREATE TABLE keep (id int PRIMARY KEY)")
    p.start()
    p.txn("INSERT INTO gone VALUES (1, 'x')", "INSERT INTO keep VALUES (1)")

    def state(want_gone):
        def check():
            for t in p.apps:
                try:
                    g, k = target_rows(p, t, "gone", ["id"]), target_rows(p, t, "keep", ["id"])
                except Exception as e:
                    return False, f"{t}: {e}"
                if g != want_gone or k != [(i,) for i in range(1, len(k or []) + 1)] or \
                        len(k or []) != (1 if want_gone else 2):
                    return False, f"{t}: gone {g} keep {k}"
            return True, None
        return check
    wait_until("both tables everywhere", state([(1,)]), p.services(), 60)
    p.txn("DROP TABLE gone")
    p.txn("INSERT INTO keep VALUES (2)")
    wait_until("gone dropped everywhere", state(None), p.services(), 60)
    assert "table public.gone dropped (the event trigger's message" in p.col.text()
    assert dlq(p) == []


# ------------------------------------------------------------------ a generated migration

PG_TYPES = {
    "integer": lambda r: r.randint(-2**31, 2**31 - 1),
    "bigint": lambda r: r.randint(-2**63, 2**63 - 1),
    "varchar(40)": lambda r: r.choice(["", "x", "caf\u00e9 \U0001F600", "a'b\"c"]) + str(r.random()),
    "numeric(12,2)": lambda r: decimal.Decimal(r.randrange(-10**11, 10**11)) / 100,
    "timestamp(6)": lambda r: datetime.datetime(2020, 1, 1) + datetime.timedelta(
        microseconds=r.randrange(10**15)),
    "double precision": lambda r: r.uniform(-1e6, 1e6),
}
PG_WIDEN = {"integer": "bigint", "varchar(40)": "varchar(80)"}
PG_TYPES["varchar(80)"] = PG_TYPES["varchar(40)"]
PG_NEW = [t for t in PG_TYPES if t != "varchar(80)"]


@pytest.mark.skipif(not (os.environ.get("SHIFTLOG_LONG") or os.environ.get("SHIFTLOG_SEED")),
                    reason="make test-long (or SHIFTLOG_SEED=N): a random seed each run, so "
                           "that make test stays deterministic")
def test_it_e2e_pg_generated_migration(pgv):
    """A generated migration on a PostgreSQL source (seeded; SHIFTLOG_SEED repeats it): on four
    tables, CREATE, DROP + CREATE with other types, ADD / DROP / widen COLUMN, ALTER TABLE ...
    RENAME, TRUNCATE, with DML between, while a second connection loads another table -> the
    PostgreSQL, MariaDB and MongoDB targets equal the source. (A DROP TABLE that no CREATE of
    the same name follows is not in pgoutput at all: docs/collector-pg.md.)"""
    seed = int(os.environ.get("SHIFTLOG_SEED") or random.randrange(10**6))
    print(f"migration seed {seed} (SHIFTLOG_SEED={seed} repeats it)")
    p = pgv
    p.sql("CREATE TABLE load (id int PRIMARY KEY, n bigint)")
    p.start()
    r = random.Random(seed)
    tables, ids, ncol = {}, [1], [0]

    def newcol():
        ncol[0] += 1
        return f"c{ncol[0]}", r.choice(PG_NEW)

    def insert(name, n):
        cols = tables[name]
        for _ in range(n):
            vals = [ids[0]] + [PG_TYPES[t](r) for t in cols.values()]
            ids[0] += 1
            p.txn((f"INSERT INTO {name} (id{''.join(', ' + c for c in cols)}) VALUES "
                   f"({', '.join(['%s'] * len(vals))})", vals))

    def create(name):
        tables[name] = dict(newcol() for _ in range(r.randint(1, 4)))
        p.txn(f"CREATE TABLE {name} (id int PRIMARY KEY"
              f"{''.join(f', {c} {t}' for c, t in tables[name].items())})")
        insert(name, r.randint(1, 4))

    stop = threading.Event()

    def load():
        conn = pg_connect(p.stack, dbname=p.db)
        conn.autocommit = True
        cur, i = conn.cursor(), 0
        while not stop.is_set() and i < 20000:
            i += 1
            cur.execute("INSERT INTO load VALUES (%s, %s)", (i, i))
            time.sleep(0.002)
        conn.close()
    th = threading.Thread(target=load)
    th.start()
    try:
        for _ in range(120):
            absent = [f"m{i}" for i in range(4) if f"m{i}" not in tables]
            if absent and (not tables or r.random() < 0.3):
                create(r.choice(absent))
                continue
            name = r.choice(sorted(tables))
            cols = tables[name]
            k = r.random()
            if k < 0.25:
                insert(name, r.randint(1, 3))
            elif k < 0.40 and cols:
                c = r.choice(list(cols))
                p.txn((f"UPDATE {name} SET {c} = %s WHERE id IN (SELECT id FROM {name} "
                       "ORDER BY id LIMIT 2)", (PG_TYPES[cols[c]](r),)))
            elif k < 0.48:
                p.txn(f"DELETE FROM {name} WHERE id = (SELECT max(id) FROM {name})")
            elif k < 0.56:
                c, t = newcol()
                p.txn(f"ALTER TABLE {name} ADD COLUMN {c} {t}")
                cols[c] = t
                insert(name, 1)
            elif k < 0.62 and len(cols) > 1:
                c = r.choice(list(cols))
                p.txn(f"ALTER TABLE {name} DROP COLUMN {c}")
                del cols[c]
                insert(name, 1)
            elif k < 0.68 and any(t in PG_WIDEN for t in cols.values()):
                c = r.choice([c for c, t in cols.items() if t in PG_WIDEN])
                cols[c] = PG_WIDEN[cols[c]]
                p.txn(f"ALTER TABLE {name} ALTER COLUMN {c} TYPE {cols[c]}")
                insert(name, 1)
            elif k < 0.78 and absent:
                to = r.choice(absent)
                p.txn(f"ALTER TABLE {name} RENAME TO {to}")
                tables[to] = tables.pop(name)
                insert(to, 1)               # pgoutput shows the new name at its next change
            elif k < 0.86:
                p.txn(f"TRUNCATE {name}")
            else:                            # drop and create anew under the same name
                p.txn(f"DROP TABLE {name}")
                del tables[name]
                create(name)
    finally:
        stop.set()
        th.join()

    def check():
        for table in sorted(tables) + ["load"]:
            cols = ["id"] + list(tables.get(table, {"n": 0}))
            want = [tuple(x) for x in p.sql(f"SELECT {', '.join(cols)} FROM {table} "
                                            "ORDER BY id").fetchall()]
            for t in p.apps:
                try:
                    got = target_rows(p, t, table, cols)
                except Exception as e:
                    return False, f"{t} {table}: {type(e).__name__}: {e}"
                d = "target table missing" if got is None else first_diff(want, got)
                if d:
                    return False, f"{t} {table}: {d}"
        return True, None
    wait_until(f"every target equal to the source (seed {seed})", check, p.services(),
               timeout=120)
    for t, a in p.apps.items():
        assert a.count("stopped") == 0, (seed, t, a.tail())
    assert dlq(p) == [], seed
