"""Workloads nobody on the team designed, driven from the outside (STYLE.md, Tests): the stock
sysbench and pgbench scripts against a fresh source database, the whole pipeline as real
processes from examples/ (collector -> Kafka -> appliers to PostgreSQL, MariaDB and MongoDB),
then every target compared with the source table by table: row count and a checksum of every
column of every row, read by independent clients (pymysql, psycopg2, pymongo).

make test (about 4 min on a loaded box):
  it_outside_sysbench_kill9_schedule     MariaDB: sysbench prepare (streamed: the collector
                                         starts before it) + oltp_write_only while a seeded
                                         random schedule kills -9 and restarts the collector
                                         and the three appliers (seed and schedule printed;
                                         SHIFTLOG_SEED=<seed> replays one)
  it_outside_pgbench_three_targets       PostgreSQL: pgbench -i (keys first, -I dtpg) then
                                         pgbench -c 4 (TPC-B-like); pgbench_history has no key:
                                         the collector refuses it (docs/collector-pg.md)
  it_outside_pg_rows_before_primary_key  pgbench -i's default order (rows loaded before ADD
                                         PRIMARY KEY): the key's arrival starts a snapshot
  it_outside_pg_refused_table_visible    a refused (keyless) table is on /health, degraded
  it_outside_sysbench_snapshot_kill9_schedule  sysbench prepare BEFORE the collector first
                                         starts: snapshot.mode = initial copies the rows while
                                         oltp_write_only changes them under a kill -9 schedule
  it_outside_pgbench_snapshot_under_load pgbench -i before the collector, copied by the
                                         initial snapshot while pgbench -c 4 runs
SHIFTLOG_LONG (longer runs, more kills) adds:
  it_outside_sysbench_three_targets      MariaDB: oltp_write_only, oltp_read_write, then
                                         cleanup + bulk_insert (tables dropped and made again
                                         with other columns), worker_num 1 and 4, no kills
  it_outside_sysbench_pg_source          PostgreSQL: sysbench's pgsql driver, oltp_write_only
  it_outside_pg_sysbench_kill9_schedule  the same under a seeded kill -9 schedule
  it_outside_pgbench_kill9_schedule      pgbench -i + run under a seeded kill -9 schedule
  it_outside_sysbench_keyless_tables_visible  sysbench --secondary=on (no primary key): each
                                         applier's /health names every table, the DLQ holds them

Figures (rows, tps, time to converge) are printed (pytest -s shows them).
"""

import datetime
import decimal
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
import urllib.request

import pytest

from e2e_util import (made_and_closed, pg_drop, applier, collector, master_pos, mongo_client, my_exec, mysql_connect,
                      pg_connect, read_messages, stop_all, wait_topic, wait_until)

LONG = bool(os.environ.get("SHIFTLOG_LONG"))
RUN_S = 20 if LONG else 5           # seconds of each benchmark run
TABLES, TABLE_SIZE = 4, 2000


def need(tool):
    path = shutil.which(tool)
    if not path and tool == "pgbench":
        cands = sorted(p for p in (f"/usr/lib/postgresql/{v}/bin/pgbench" for v in range(14, 20))
                       if os.path.exists(p))
        path = cands[-1] if cands else None
    if not path:
        pytest.fail(f"{tool} is not installed: deploy/local/install brings it")
    return path


# ------------------------------------------------------------------ comparing

def norm(v):
    """One text form per value, the same whichever client read it: numbers as their digits,
    text as is (CHAR values without the blank padding PostgreSQL's char(n) keeps and
    MariaDB's CHAR drops), datetimes in ISO form."""
    if v is None:
        return None
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (int, decimal.Decimal)):
        return str(v)
    if type(v).__name__ in ("Int64", "Decimal128"):
        return str(v.to_decimal() if hasattr(v, "to_decimal") else int(v))
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, datetime.datetime):
        return v.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(v, (bytes, memoryview)):
        return bytes(v).hex()
    return str(v).rstrip(" ")


def table_sig(rows):
    """(row count, sha256 over every row's normalised columns in key order)."""
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([norm(v) for v in r]).encode())
    return len(rows), h.hexdigest()[:16]


def my_table(conn, db, table, cols, key):
    with conn.cursor() as c:
        c.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                  "AND TABLE_NAME=%s", (db, table))
        if not c.fetchone()[0]:
            return None
        c.execute(f"SELECT {', '.join(f'`{x}`' for x in cols)} FROM `{db}`.`{table}`")
        return sorted((tuple(r) for r in c.fetchall()),
                      key=lambda r: tuple(r[cols.index(k)] for k in key))


def pg_table(conn, schema, table, cols, key):
    cur = conn.cursor()
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}"."{table}"',))
    if not cur.fetchone()[0]:
        return None
    cur.execute("SELECT " + ", ".join(f'"{x}"' for x in cols) + f' FROM "{schema}"."{table}" '
                "ORDER BY " + ", ".join(f'"{k}"' for k in key))
    return [tuple(r) for r in cur.fetchall()]


def mongo_table(client, db, coll, cols, key):
    if coll not in client[db].list_collection_names():
        return None
    rows = [tuple(d.get(c, "<missing>") for c in cols) for d in client[db][coll].find()]
    return sorted(rows, key=lambda r: tuple(int(str(r[cols.index(k)])) for k in key))


def compare(source, targets, tables):
    """(ok, detail): every target's signature of every table equals the source's.
    source(table) and each targets[name](table) return rows or None (no table)."""
    for table in tables:
        want = table_sig(source(table))
        for name, read in targets.items():
            try:
                rows = read(table)
            except Exception as e:          # noqa: BLE001 - a table being made, reported
                return False, f"{name} {table}: {type(e).__name__}: {e}"
            if rows is None:
                return False, f"{name} {table}: missing"
            got = table_sig(rows)
            if got != want:
                return False, (f"{name} {table}: {got[0]} rows {got[1]} vs source "
                               f"{want[0]} {want[1]}")
    return True, None


def converge(what, source, targets, tables, services, timeout):
    """Waits until every target equals the source, which no longer changes (the workload has
    ended): the source's signatures are taken once and a (target, table) that matched is not
    read again, so the polling does not slow the services down on a small machine. Returns
    {target: seconds until it matched}."""
    t0 = time.monotonic()
    want = {t: table_sig(source(t)) for t in tables}
    pending = {(name, t) for name in targets for t in tables}
    done = {}

    def poll():
        t_poll = time.monotonic()
        for name, t in sorted(pending):
            try:
                rows = targets[name](t)
            except Exception as e:          # noqa: BLE001 - a table being made, reported
                return False, f"{name} {t}: {type(e).__name__}: {e}"
            got = None if rows is None else table_sig(rows)
            if got != want[t]:
                time.sleep(min(5.0, time.monotonic() - t_poll))   # at most half the time
                return False, (f"{name} {t}: " + ("missing" if got is None else
                               f"{got[0]} rows {got[1]} vs source {want[t][0]} {want[t][1]}"))
            pending.discard((name, t))
            if not any(n == name for n, _ in pending):
                done[name] = round(time.monotonic() - t0, 1)
        return True, None
    wait_until(what, poll, services, timeout=timeout, interval=0.5)
    return done


def first_row_diffs(want, got, cols, limit=3):
    """The first rows (by key, the first column) whose normalised values differ."""
    w = {norm(r[0]): [norm(v) for v in r] for r in want}
    g = {norm(r[0]): [norm(v) for v in r] for r in (got or [])}
    out = []
    for k in sorted(set(w) | set(g), key=lambda x: int(x) if x and x.lstrip("-").isdigit() else 0):
        if w.get(k) != g.get(k):
            out.append(f"key {k}: source {w.get(k)} target {g.get(k)}")
            if len(out) >= limit:
                break
    return out


def health(service):
    """The service's /health JSON (its listen address is in its log)."""
    m = re.findall(r"serving /health and /metrics on ([\d.]+:\d+)", service.text())
    if not m:
        return None
    try:
        with urllib.request.urlopen(f"http://{m[-1]}/health", timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


# ------------------------------------------------------------------ the MariaDB pipeline

class SysbenchPipeline:
    """A fresh MariaDB database for sysbench, the collector from examples/mysql-to-pg started
    at the binlog position before anything was made in it, appliers to PostgreSQL, MariaDB and
    MongoDB (examples/mysql-to-*)."""

    def __init__(self, stack, bin_dir, tmp, unique_name, applier_extra=None):
        self.stack, self.tmp = stack, tmp
        self.src = unique_name("sb")
        self.prefix = unique_name("sbp")
        self.topic = f"{self.prefix}.{self.src}"
        self.my = mysql_connect(stack)
        self.start_pos = master_pos(self.my)
        my_exec(self.my, f"CREATE DATABASE `{self.src}`")
        self.pg_db, self.my_db, self.mg_db = (unique_name("sbpg"), unique_name("sbmy"),
                                              unique_name("sbmg"))
        pg_connect(stack).cursor().execute(f'CREATE DATABASE "{self.pg_db}"')
        self.pg = pg_connect(stack, dbname=self.pg_db)
        self.mongo = mongo_client(stack)
        self.col = collector(bin_dir, "mysql-to-pg", tmp, "collector", {
            "source.name": self.src, "topic.prefix": self.prefix,
            "tables.include": self.src + r"\..*",
            "source.server_id": str(random.randint(100000, 4000000000)),
            "start.position": self.start_pos})
        common = {"source.topic": self.topic, "tables": f"{self.src}.*", **(applier_extra or {})}
        self.apps = {
            "pg": applier(bin_dir, "mysql-to-pg", tmp, "applier-pg", {
                **common, "task.name": self.src + "_pg", "target.database": self.pg_db,
                "map.tables": f"{self.src}.*={self.src}.*"}),
            "mysql": applier(bin_dir, "mysql-to-mysql", tmp, "applier-mysql", {
                **common, "task.name": self.src + "_my", "target.database": self.my_db,
                "map.tables": f"{self.src}.*={self.my_db}.*"}),
            "mongo": applier(bin_dir, "mysql-to-mongo", tmp, "applier-mongo", {
                **common, "task.name": self.src + "_mg", "target.database": self.mg_db,
                "map.tables": f"{self.src}.*={self.mg_db}.*"})}

    def services(self):
        return [self.col, *self.apps.values()]

    def start(self):
        self.col.start()
        wait_topic(self.stack, self.topic)
        for a in self.apps.values():
            a.start()

    def sysbench(self, *args, check=True, timeout=300, table_size=TABLE_SIZE):
        s = self.stack
        cmd = [need("sysbench"), *args, "--db-driver=mysql", f"--mysql-host={s['SL_MYSQL_HOST']}",
               f"--mysql-port={s['SL_MYSQL_PORT']}", f"--mysql-user={s['SL_MYSQL_ROOT_USER']}",
               f"--mysql-password={s['SL_MYSQL_ROOT_PASSWORD']}", f"--mysql-db={self.src}",
               f"--tables={TABLES}", f"--table-size={table_size}"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-1500:]}\n"
                                 f"{p.stderr[-1500:]}")
        return p.stdout

    def tables(self):
        with self.my.cursor() as c:
            c.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s "
                      "ORDER BY 1", (self.src,))
            return [r[0] for r in c.fetchall()]

    def cols(self, table):
        with self.my.cursor() as c:
            c.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s "
                      "AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION", (self.src, table))
            return [r[0] for r in c.fetchall()]

    def readers(self):
        key = ["id"]
        source = lambda t: my_table(self.my, self.src, t, self.cols(t), key)      # noqa: E731
        targets = {
            "pg": lambda t: pg_table(self.pg, self.src, t, self.cols(t), key),
            "mysql": lambda t: my_table(self.my, self.my_db, t, self.cols(t), key),
            "mongo": lambda t: mongo_table(self.mongo, self.mg_db, t, self.cols(t), key)}
        return source, targets

    def converge(self, timeout):
        """Waits until every target equals the source; returns the seconds it took."""
        t0 = time.monotonic()
        source, targets = self.readers()
        try:
            self.per_target = converge("every target equal to the sysbench source", source,
                                       targets, self.tables(), self.services(), timeout)
        except AssertionError as e:
            diffs = []
            for t in self.tables():
                want = source(t)
                for name, read in targets.items():
                    try:
                        d = first_row_diffs(want, read(t), self.cols(t))
                    except Exception as x:   # noqa: BLE001
                        d = [repr(x)]
                    if d:
                        diffs.append(f"{name} {t}: " + " | ".join(d))
            raise AssertionError(f"{e}\nfirst differing rows:\n" + "\n".join(diffs)) from None
        return time.monotonic() - t0

    def close(self):
        stop_all(*self.services())
        my_exec(self.my, f"DROP DATABASE IF EXISTS `{self.src}`",
                f"DROP DATABASE IF EXISTS `{self.my_db}`")
        self.my.close()
        self.pg.close()
        pg_drop(self.stack, self.pg_db)
        self.mongo.drop_database(self.mg_db)
        self.mongo.close()


@pytest.fixture
def sysbench_pipeline(stack, bin_dir, tmp_path, unique_name):
    yield from made_and_closed(
        lambda **kw: SysbenchPipeline(stack, bin_dir, tmp_path, unique_name, **kw))


def sb_figures(out):
    """(transactions, tps) from a sysbench run's report."""
    m = re.search(r"transactions:\s+(\d+)\s+\(([\d.]+) per sec", out)
    return (int(m.group(1)), float(m.group(2))) if m else (0, 0.0)


def assert_no_dlq(stack, topic):
    dlq = read_messages(stack, topic + ".dlq")
    assert dlq == [], f"{len(dlq)} dead-lettered: {dlq[:3]}"


@pytest.mark.skipif(not LONG, reason="SHIFTLOG_LONG: make test runs the same workload in "
                    "test_it_outside_sysbench_kill9_schedule (the 90 s share)")
@pytest.mark.parametrize("workers", [1, 4])
def test_it_outside_sysbench_three_targets(sysbench_pipeline, workers):
    """workers: the appliers' worker_num (4: parallel apply, docs/applier.md)."""
    t0 = time.monotonic()
    p = sysbench_pipeline(applier_extra={"worker_num": str(workers)})
    p.start()
    p.sysbench("oltp_write_only", "prepare")
    figures = []
    scripts = ["oltp_write_only"] + (["oltp_read_write", "bulk_insert"] if LONG else [])
    for script in scripts:
        if script == "bulk_insert":
            # its tables have other columns: the oltp ones are dropped (cleanup) and made
            # again under the same names, a table's new life the targets must follow
            p.sysbench("oltp_write_only", "cleanup")
            p.sysbench("bulk_insert", "prepare", "--threads=4")   # a table per thread
        # bulk_insert's event is one row of a multi-row INSERT: bounded by rows, not time
        bound = ["--events=40000", "--time=0"] if script == "bulk_insert" else [f"--time={RUN_S}"]
        out = p.sysbench(script, "run", *bound, "--threads=4", "--report-interval=0")
        figures.append((script, *sb_figures(out)))
    t_conv = p.converge(timeout=180 if LONG else 120)
    rows = {t: len(p.readers()[0](t)) for t in p.tables()}
    assert_no_dlq(p.stack, p.topic)
    print(f"sysbench, worker_num {workers}: {figures}, rows {rows}, targets equal {t_conv:.1f}s "
          f"after the run {p.per_target}, "
          f"total {time.monotonic() - t0:.1f}s")


# ------------------------------------------------------------------ the PostgreSQL pipeline

PGBENCH_TABLES = {"pgbench_accounts": ["aid"], "pgbench_branches": ["bid"],
                  "pgbench_tellers": ["tid"]}


class PgbenchPipeline:
    """A fresh PostgreSQL database published FOR ALL TABLES before pgbench -i, the collector
    from examples/pg-to-mysql, appliers to PostgreSQL (examples/local/applier-pg.conf), MariaDB
    and MongoDB (examples/pg-to-*)."""

    def __init__(self, stack, bin_dir, tmp, unique_name):
        self.stack = stack
        self.db = unique_name("pgb")
        self.slot, self.pub = f"s_{self.db}"[:63], f"p_{self.db}"[:63]
        self.prefix = unique_name("pgbp")
        self.topic = f"{self.prefix}.{self.db}"
        self.pg_db, self.my_db, self.mg_db = (unique_name("pgbpg"), unique_name("pgbmy"),
                                              unique_name("pgbmg"))
        admin = pg_connect(stack)
        admin.cursor().execute(f'CREATE DATABASE "{self.db}"')
        admin.cursor().execute(f'CREATE DATABASE "{self.pg_db}"')
        admin.close()
        self.src = pg_connect(stack, dbname=self.db)
        self.pg = pg_connect(stack, dbname=self.pg_db)
        self.my = mysql_connect(stack)
        self.mongo = mongo_client(stack)
        self.col = collector(bin_dir, "pg-to-mysql", tmp, "collector", {
            "source.name": self.db, "topic.prefix": self.prefix, "source.database": self.db,
            "source.slot": self.slot, "source.publication": self.pub})
        common = {"source.topic": self.topic, "tables": "public.*"}
        self.apps = {
            "pg": applier(bin_dir, "local", tmp, "applier-pg", {
                **common, "task.name": self.db + "_pg", "target.database": self.pg_db},
                conf="applier-pg.conf"),
            "mysql": applier(bin_dir, "pg-to-mysql", tmp, "applier-mysql", {
                **common, "task.name": self.db + "_my", "target.database": self.my_db,
                "map.tables": f"public.*={self.my_db}.*"}),
            "mongo": applier(bin_dir, "pg-to-mongo", tmp, "applier-mongo", {
                **common, "task.name": self.db + "_mg", "target.database": self.mg_db,
                "map.tables": f"public.*={self.mg_db}.*"})}

    def services(self):
        return [self.col, *self.apps.values()]

    def start(self):
        self.src.cursor().execute(f'CREATE PUBLICATION "{self.pub}" FOR ALL TABLES')
        self.col.start()
        wait_topic(self.stack, self.topic)
        for a in self.apps.values():
            a.start()

    def pgbench(self, *args, timeout=300):
        s = self.stack
        cmd = [need("pgbench"), "-h", s["SL_PG_HOST"], "-p", s["SL_PG_PORT"], "-U", s["SL_PG_USER"],
               *args, self.db]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "PGPASSWORD": s["SL_PG_PASSWORD"]})
        if p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        return p.stdout + p.stderr

    def cols(self, table):
        cur = self.src.cursor()
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "'public' AND table_name = %s ORDER BY ordinal_position", (table,))
        return [r[0] for r in cur.fetchall()]

    def readers(self, keys=PGBENCH_TABLES):
        k = keys
        source = lambda t: pg_table(self.src, "public", t, self.cols(t), k[t])    # noqa: E731
        targets = {
            "pg": lambda t: pg_table(self.pg, "public", t, self.cols(t), k[t]),
            "mysql": lambda t: my_table(self.my, self.my_db, t, self.cols(t), k[t]),
            "mongo": lambda t: mongo_table(self.mongo, self.mg_db, t, self.cols(t), k[t])}
        return source, targets

    def close(self):
        stop_all(*self.services())
        self.src.close()
        self.pg.close()
        pg_drop(self.stack, self.db, self.pg_db, slot=self.slot)
        my_exec(self.my, f"DROP DATABASE IF EXISTS `{self.my_db}`")
        self.my.close()
        self.mongo.drop_database(self.mg_db)
        self.mongo.close()


@pytest.fixture
def pgbench_pipeline(stack, bin_dir, tmp_path, unique_name):
    p = PgbenchPipeline(stack, bin_dir, tmp_path, unique_name)
    yield p
    p.close()


def test_it_outside_pgbench_three_targets(pgbench_pipeline):
    t0 = time.monotonic()
    p = pgbench_pipeline
    p.start()
    # -I dtpg: the primary keys before the data (the default order dtgvp loads the rows into
    # keyless tables, which the collector refuses: see test_it_outside_pg_rows_before_primary_key)
    p.pgbench("-i", "-I", "dtpg", "-s", "1", "-q")
    t_init = time.monotonic() - t0
    out = p.pgbench("-c", "4", "-j", "2", "-T", str(RUN_S), "-n")
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    tps = re.search(r"tps = ([\d.]+)", out)
    t1 = time.monotonic()
    source, targets = p.readers()
    per_target = converge("every target equal to the pgbench source", source, targets,
                          list(PGBENCH_TABLES), p.services(), 240 if LONG else 150)
    t_conv = time.monotonic() - t1
    rows = {t: len(source(t)) for t in PGBENCH_TABLES}
    # pgbench_history has no key: the collector refuses it (docs/collector-pg.md) and says so
    assert "table public.pgbench_history has REPLICA IDENTITY DEFAULT without a primary key" \
        in p.col.text()
    for a in p.apps.values():
        assert "pgbench_history" not in a.text()
    assert_no_dlq(p.stack, p.topic)
    print(f"pgbench: init {t_init:.1f}s, {m and m.group(1)} transactions, "
          f"tps {tps and tps.group(1)}, "
          f"rows {rows}, targets equal {t_conv:.1f}s after the run {per_target}, "
          f"total {time.monotonic() - t0:.1f}s")


# ------------------------------------------------------------------ kill -9 schedule

def kill_schedule(rng, names, run_s, n):
    """n (at second, victim, seconds down) sorted by time, within the first run_s - 1 s."""
    return sorted((round(rng.uniform(0.2, run_s - 1.0), 2), rng.choice(names),
                   round(rng.uniform(0.0, 1.0), 2)) for _ in range(n))


def run_kill_schedule(victims, plan, bench):
    """Runs bench() in a thread while plan's kills happen (kill -9, the pause, a restart that
    does not wait for the service to be ready); returns bench's output."""
    result = {}
    th = threading.Thread(target=lambda: result.update(out=bench()))
    start = time.monotonic()
    th.start()
    try:
        for at, name, down in plan:
            time.sleep(max(0.0, start + at - time.monotonic()))
            v = victims[name]
            v.kill9()
            time.sleep(down)
            v.start(wait=False)
    finally:
        th.join()
    return result.get("out", "")


def test_it_outside_sysbench_kill9_schedule(sysbench_pipeline):
    """oltp_write_only while a seeded random schedule kills -9 and restarts the collector and
    the three appliers; then every target must equal the source. The seed and the schedule
    are printed; SHIFTLOG_SEED=<seed> replays the same schedule."""
    t0 = time.monotonic()
    seed = int(os.environ.get("SHIFTLOG_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    # lease = false for the collector: a restart right after kill -9 would wait as a standby
    # for lease.ttl.ms (the lease itself is proven in test_collector_lease.py); the appliers'
    # MongoDB lease document expires after lease.ttl.ms, kept short here for the same reason.
    p = sysbench_pipeline(applier_extra={"lease.ttl.ms": "1s"})
    p.col.argv += ["-X", "lease=false"]
    victims = {"collector": p.col, **{f"applier-{k}": a for k, a in p.apps.items()}}
    run_s = 20 if LONG else 8
    plan = kill_schedule(rng, sorted(victims), run_s, 12 if LONG else 4)
    print(f"kill -9 schedule (seed {seed}): {plan}")
    p.start()
    # the schedule starts with the prepare: a kill can fall in its 2000-row INSERT statements
    out = run_kill_schedule(victims, plan, lambda: (p.sysbench(
        "oltp_write_only", "prepare"), p.sysbench(
        "oltp_write_only", "run", f"--time={run_s}", "--threads=4", "--report-interval=0"))[1])
    n_txn, tps = sb_figures(out)
    t_conv = p.converge(timeout=240 if LONG else 150)
    assert_no_dlq(p.stack, p.topic)
    print(f"kill -9 schedule (seed {seed}): {len(plan)} kills, oltp_write_only {n_txn} "
          f"transactions ({tps} tps), targets equal {t_conv:.1f}s after the run {p.per_target}, "
          f"total "
          f"{time.monotonic() - t0:.1f}s")


# ------------------------------------------------------------------ existing rows: snapshots

def snapshot_done_tables(col):
    """The tables the collector's log says it finished copying (over all its lives)."""
    return set(re.findall(r"snapshot: (\S+) done,", col.text()))


def test_it_outside_sysbench_snapshot_kill9_schedule(sysbench_pipeline):
    """Rows that exist before the collector ever started: sysbench prepare loads them, the
    collector starts with snapshot.mode = initial at the binlog's end and copies them in small
    chunks while oltp_write_only changes the same rows and a seeded schedule kills -9 and
    restarts the collector and the three appliers; then every target equals the source."""
    t0 = time.monotonic()
    seed = int(os.environ.get("SHIFTLOG_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    size = 50_000 if LONG else 10_000
    p = sysbench_pipeline(applier_extra={"lease.ttl.ms": "1s"})
    p.col.argv += ["-X", "lease=false", "-X", "snapshot.mode=initial",
                   "-X", "start.position=latest", "-X", "snapshot.chunk.rows=500"]
    p.sysbench("oltp_write_only", "prepare", table_size=size)
    victims = {"collector": p.col, **{f"applier-{k}": a for k, a in p.apps.items()}}
    run_s = 20 if LONG else 8
    plan = kill_schedule(rng, sorted(victims), run_s, 12 if LONG else 4)
    print(f"kill -9 schedule (seed {seed}): {plan}")
    p.start()
    out = run_kill_schedule(victims, plan, lambda: p.sysbench(
        "oltp_write_only", "run", f"--time={run_s}", "--threads=4", "--report-interval=0",
        table_size=size))
    n_txn, tps = sb_figures(out)
    t_conv = p.converge(timeout=240 if LONG else 150)
    assert_no_dlq(p.stack, p.topic)
    # the rows came by the snapshot: the stream alone holds only the run's changes
    want = {f"{p.src}.sbtest{i}" for i in range(1, TABLES + 1)}
    assert snapshot_done_tables(p.col) >= want, p.col.text()[-3000:]
    print(f"snapshot under oltp_write_only and kill -9 (seed {seed}): {TABLES}x{size} rows, "
          f"{len(plan)} kills, {n_txn} transactions ({tps} tps), targets equal {t_conv:.1f}s "
          f"after the run {p.per_target}, total {time.monotonic() - t0:.1f}s")


def test_it_outside_pgbench_snapshot_under_load(pgbench_pipeline):
    """pgbench -i (scale 1: 100k accounts, keys added after the rows, its default order) made
    before the collector first starts; the collector copies them with snapshot.mode = initial
    while pgbench's TPC-B-like run changes them; every target equals the source after."""
    t0 = time.monotonic()
    p = pgbench_pipeline
    p.col.argv += ["-X", "snapshot.mode=initial", "-X", "snapshot.chunk.rows=2000"]
    p.pgbench("-i", "-s", "1", "-q")
    p.start()
    out = p.pgbench("-c", "4", "-j", "2", "-T", str(RUN_S), "-n")
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    source, targets = p.readers()
    per_target = converge("every target equal to the pgbench source", source, targets,
                          list(PGBENCH_TABLES), p.services(), 240 if LONG else 150)
    assert snapshot_done_tables(p.col) >= {f"public.{t}" for t in PGBENCH_TABLES}, \
        p.col.text()[-3000:]
    assert_no_dlq(p.stack, p.topic)
    print(f"pgbench snapshot under load: {m and m.group(1)} transactions during it, "
          f"targets equal {per_target}, total {time.monotonic() - t0:.1f}s")


# ------------------------------------------------------------------ found by pgbench -i

def test_it_outside_pg_rows_before_primary_key(pgbench_pipeline):
    """What `pgbench -i` does (steps dtgvp): CREATE TABLE without a key, load the rows, then
    ALTER TABLE ... ADD PRIMARY KEY, then the benchmark updates some rows. PostgreSQL refuses
    UPDATE/DELETE of a published keyless table at the source, so its stream holds only
    INSERTs and TRUNCATEs until the key exists: every row can be applied exactly once. Each
    target must end with every source row."""
    p = pgbench_pipeline
    p.start()
    cur = p.src.cursor()
    cur.execute("CREATE TABLE acct (id integer NOT NULL, balance integer NOT NULL, note char(10))")
    cur.execute("INSERT INTO acct SELECT g, 0, 'n' || g FROM generate_series(1, 50) g")
    cur.execute("ALTER TABLE acct ADD PRIMARY KEY (id)")
    cur.execute("UPDATE acct SET balance = balance + 5 WHERE id IN (7, 8)")
    cur.execute("INSERT INTO acct VALUES (51, 1, 'after')")
    source, targets = p.readers({"acct": ["id"]})

    def caught_up():    # every target holds the last row written: it has read everything
        for name, read in targets.items():
            try:
                rows = read("acct") or []
            except Exception as e:       # noqa: BLE001 - the table being made
                return False, f"{name}: {e}"
            if not any(norm(r[0]) == "51" for r in rows):
                return False, f"{name}: row 51 not there yet"
        return True, None
    wait_until("every target past the last change", caught_up, p.services(), timeout=60)
    # the rows of the keyless time come by the snapshot the key's arrival starts
    p.col.wait_log("table public.acct has a key now")
    wait_until("every target equal to the source",
               lambda: compare(source, targets, ["acct"]), p.services(), timeout=60)
    ok, detail = compare(source, targets, ["acct"])
    assert ok, detail


def test_it_outside_pg_refused_table_visible(pgbench_pipeline):
    """A published table the collector refuses (pgbench_history: no primary key) loses every
    change: DESIGN invariant 9 wants that visible on /health (degraded, naming the table),
    not only in the log."""
    p = pgbench_pipeline
    p.start()
    cur = p.src.cursor()
    cur.execute("CREATE TABLE history (tid integer, delta integer, mtime timestamp)")
    cur.execute("INSERT INTO history VALUES (1, 5, now())")
    p.col.wait_log("table public.history has REPLICA IDENTITY DEFAULT without a primary key")
    h = health(p.col)
    assert h and h.get("status") == "degraded" and "public.history" in h.get("degraded", ""), h


def pg_sysbench(p, *a, timeout=300):
    """sysbench oltp_write_only with its PostgreSQL driver against p's source database."""
    s = p.stack
    args = ["--db-driver=pgsql", f"--pgsql-host={s['SL_PG_HOST']}",
            f"--pgsql-port={s['SL_PG_PORT']}",
            f"--pgsql-user={s['SL_PG_USER']}", f"--pgsql-password={s['SL_PG_PASSWORD']}",
            f"--pgsql-db={p.db}", f"--tables={TABLES}", f"--table-size={TABLE_SIZE}"]
    r = subprocess.run([need("sysbench"), "oltp_write_only", *a, *args], capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, f"sysbench {a}: {r.stdout[-1500:]}\n{r.stderr[-1500:]}"
    return r.stdout


SB_KEYS = {f"sbtest{i}": ["id"] for i in range(1, TABLES + 1)}


@pytest.mark.skipif(not LONG, reason="SHIFTLOG_LONG (make test runs pgbench for this source)")
def test_it_outside_sysbench_pg_source(pgbench_pipeline):
    """sysbench's own PostgreSQL driver as the source workload (prepare streamed, then
    oltp_write_only: index and non-index updates, DELETE + INSERT of one id in a transaction)
    to the PostgreSQL, MariaDB and MongoDB targets."""
    t0 = time.monotonic()
    p = pgbench_pipeline
    p.start()
    pg_sysbench(p, "prepare")
    n_txn, tps = sb_figures(pg_sysbench(p, "run", f"--time={RUN_S}", "--threads=4",
                                        "--report-interval=0"))
    t1 = time.monotonic()
    source, targets = p.readers(SB_KEYS)
    converge("every target equal to the sysbench PostgreSQL source", source, targets,
             list(SB_KEYS), p.services(), 180 if LONG else 120)
    assert_no_dlq(p.stack, p.topic)
    print(f"sysbench pgsql oltp_write_only: {n_txn} transactions ({tps} tps), rows "
          f"{ {t: len(source(t)) for t in SB_KEYS} }, targets equal {time.monotonic() - t1:.1f}s "
          f"after the run, total {time.monotonic() - t0:.1f}s")


@pytest.mark.skipif(not LONG, reason="SHIFTLOG_LONG (make test kills on the MariaDB pipeline)")
def test_it_outside_pg_sysbench_kill9_schedule(pgbench_pipeline):
    """The PostgreSQL source under sysbench pgsql oltp_write_only while a seeded schedule kills
    -9 and restarts the collector (the slot resumed from the checkpoint) and the appliers;
    every target must equal the source (SHIFTLOG_SEED replays a schedule)."""
    t0 = time.monotonic()
    seed = int(os.environ.get("SHIFTLOG_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    p = pgbench_pipeline
    p.col.argv += ["-X", "lease=false"]
    for a in p.apps.values():
        a.argv += ["-X", "lease.ttl.ms=1s"]
    victims = {"collector": p.col, **{f"applier-{k}": a for k, a in p.apps.items()}}
    run_s = 20 if LONG else 10
    plan = kill_schedule(rng, sorted(victims), run_s, 12 if LONG else 5)
    print(f"kill -9 schedule (seed {seed}): {plan}")
    p.start()
    pg_sysbench(p, "prepare")
    out = run_kill_schedule(victims, plan, lambda: pg_sysbench(
        p, "run", f"--time={run_s}", "--threads=4", "--report-interval=0"))
    n_txn, tps = sb_figures(out)
    t1 = time.monotonic()
    source, targets = p.readers(SB_KEYS)
    converge("every target equal to the sysbench PostgreSQL source after the kills", source,
             targets, list(SB_KEYS), p.services(), 240 if LONG else 150)
    assert_no_dlq(p.stack, p.topic)
    print(f"pg kill -9 schedule (seed {seed}): {len(plan)} kills, {n_txn} transactions ({tps} "
          f"tps), targets equal {time.monotonic() - t1:.1f}s after the run, total "
          f"{time.monotonic() - t0:.1f}s")


@pytest.mark.skipif(not LONG, reason="SHIFTLOG_LONG (the applier's refusal has its own test in "
                    "test_e2e_lifecycle.py)")
def test_it_outside_sysbench_keyless_tables_visible(sysbench_pipeline):
    """sysbench --secondary=on makes its tables with a plain index on id instead of a primary
    key: no target can apply them exactly once. Each applier must say so where an operator
    looks (DESIGN invariant 9): /health degraded naming every table, the records in the DLQ."""
    p = sysbench_pipeline()
    p.start()
    p.sysbench("oltp_write_only", "prepare", "--secondary=on", "--table-size=100")
    p.sysbench("oltp_write_only", "run", "--secondary=on", "--table-size=100", "--events=200",
               "--time=0", "--threads=2")

    def visible():
        out = {}
        for name, a in p.apps.items():
            h = health(a) or {}
            missing = [f"sbtest{i}" for i in range(1, TABLES + 1)
                       if f"{p.src}.sbtest{i}" not in h.get("degraded", "")]
            if h.get("status") != "degraded" or missing:
                out[name] = h
        return not out, out
    wait_until("every applier degraded, naming the keyless tables", visible, p.services(),
               timeout=60)
    assert read_messages(p.stack, p.topic + ".dlq"), "nothing dead-lettered"


@pytest.mark.skipif(not LONG, reason="SHIFTLOG_LONG (100k rows under kills: minutes)")
def test_it_outside_pgbench_kill9_schedule(pgbench_pipeline):
    """pgbench -i (keys first: its 100k-row load is one source transaction) and pgbench -c 4
    while a seeded schedule kills -9 and restarts the collector and the appliers, so kills
    land inside the big transaction's publishing and applying; every target must equal the
    source (SHIFTLOG_SEED replays a schedule)."""
    t0 = time.monotonic()
    seed = int(os.environ.get("SHIFTLOG_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    p = pgbench_pipeline
    p.col.argv += ["-X", "lease=false"]
    for a in p.apps.values():
        a.argv += ["-X", "lease.ttl.ms=1s"]
    # Not the MongoDB applier: a restart inside the 100k-row transaction replays it with
    # position-guarded upserts ({_id, _pos: {$lt: P}}), which the local stand-in answers with a
    # collection scan each (37 ms per op at 30k documents, against 0.3 ms unguarded): the
    # replay takes an hour there (real MongoDB uses the _id index). See docs/targets.md.
    victims = {"collector": p.col, "applier-pg": p.apps["pg"], "applier-mysql": p.apps["mysql"]}
    run_s = 15
    plan = kill_schedule(rng, sorted(victims), run_s, 10)
    print(f"kill -9 schedule (seed {seed}): {plan}")
    p.start()
    out = run_kill_schedule(victims, plan, lambda: (
        p.pgbench("-i", "-I", "dtpg", "-s", "1", "-q"),
        p.pgbench("-c", "4", "-j", "2", "-T", str(run_s - 3), "-n"))[1])
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    t1 = time.monotonic()
    source, targets = p.readers()
    per_target = converge("every target equal to the pgbench source after the kills", source,
                          targets, list(PGBENCH_TABLES), p.services(), 300)
    assert_no_dlq(p.stack, p.topic)
    print(f"pgbench kill -9 schedule (seed {seed}): {len(plan)} kills, {m and m.group(1)} "
          f"transactions, targets equal {time.monotonic() - t1:.1f}s after the run "
          f"{per_target}, total {time.monotonic() - t0:.1f}s")
