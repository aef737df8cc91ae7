"""shiftlog-miner per-table stop/resume through `shiftlog mining` (issue 6), and kill -9:

  it_miner_stop_table_others_go_on    `shiftlog mining stop SRC db.t1` under load: t1 stops at
                                      a recorded Kafka offset, t2 keeps being mined to the end
                                      of the topic as fast as before; status lists the stopped
                                      table and where it stopped; `resume` catches t1 up from
                                      Kafka: the log then equals the topic, nothing twice; an
                                      applier reading the log meanwhile never passes t1's stop
                                      point on the log (waits, or takes the topic over at or
                                      before it) and applies both tables to the end
  it_miner_gap_reported               stop t1, Kafka deletes the records (DeleteRecords, as
                                      retention would), resume: a gap document and
                                      `shiftlog mining status` report the lost offsets; t1 goes
                                      on after the gap, t2 lost nothing; an applier reading the
                                      log (source.type = mongolog) that applies t1 stops at the
                                      gap naming it (nothing of t1 after it applied), one that
                                      applies only t2 logs the gap as not its table and gets
                                      every t2 row
  it_miner_stopped_table_late_task_from_the_stop_point
                                      t1 stopped before any of it was mined: a task started
                                      from the log takes the topic over at the stop point and
                                      gets every row of both tables
  it_miner_kill9_no_missing_no_dup    kill -9 of the miner at random instants under load (10x;
                                      30x with SHIFTLOG_LONG; each kill after the restarted
                                      miner wrote again, while the load runs), worker_num=2:
                                      the log equals the topic — no missing and no duplicate
                                      document
"""

import json
import os
import random
import re
import signal
import threading
import time

import pytest

from conftest import mysql_connect, pg_connect
from test_mysql_collector import read_topic
from test_miner import env, wait_topic, n_changes, assert_log_equals_topic  # noqa: F401
from test_miner_util import cli, expected

LONG = bool(os.environ.get("SHIFTLOG_LONG"))


class Load(threading.Thread):
    """Transactions of one row in t1 and one in t2, as fast as MariaDB takes them (or one per
    `pace` seconds at most)."""

    def __init__(self, stack, db, n, start=0, pace=0):
        super().__init__(daemon=True)
        self.stack, self.db, self.n, self.i, self.first = stack, db, n, start, start
        self.pace = pace
        self.done = threading.Event()

    def run(self):
        conn = mysql_connect(self.stack)
        with conn.cursor() as c:
            while self.i - self.first < self.n:
                i = self.i
                c.execute("BEGIN")
                c.execute(f"INSERT INTO `{self.db}`.t2 VALUES (%s, %s)", (i, i))
                c.execute(f"INSERT INTO `{self.db}`.t1 (id, v) VALUES (%s, %s)", (i, str(i)))
                c.execute("COMMIT")
                self.i += 1
                if self.pace:
                    time.sleep(self.pace)
        conn.close()
        self.done.set()


def rows_of(m, table):
    return sorted(d["after"]["id"] for d in m.coll.find({"table": table, "op": "insert"}))


def status(bin_dir, stack, env_, source):
    p = cli(bin_dir, "mining", "status", source, "--uri", stack["SL_MONGO_URI"], "--database",
            env_["mongo_db"], "--json")
    return json.loads(p.stdout)


def mining(bin_dir, stack, env_, *args, check=True):
    return cli(bin_dir, "mining", *args, "--uri", stack["SL_MONGO_URI"], "--database",
               env_["mongo_db"], check=check)


def log_task(bin_dir, stack, env_, name, tables, logdir, admin, apps, pgs):
    """An applier into its own PostgreSQL database <db>_<name>, reading the shared log."""
    from test_applier_pg import Applier
    db, src = env_["db"], env_["col"].source
    tdb = f"{db}_{name}".lower()
    admin.cursor().execute(f'CREATE DATABASE "{tdb}"')
    pgs[name] = pg_connect(stack, dbname=tdb)
    a = Applier(bin_dir, stack, f"task_{tdb}", env_["col"].topic, tdb,
                "-X", "source.type=mongolog", "-X", f"source.name={src}",
                "-X", f"source.log.uri={stack['SL_MONGO_URI']}",
                "-X", f"source.log.database={env_['mongo_db']}",
                "-X", f"tables={tables}", logfile=logdir / f"applier-{name}.log").start()
    apps.append(a)
    return a


def pg_ids(conn, db, table):
    cur = conn.cursor()
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{db}"."{table}"',))
    if not cur.fetchone()[0]:
        return []
    cur.execute(f'SELECT id FROM "{db}"."{table}" ORDER BY id')
    return [r[0] for r in cur.fetchall()]


def drop_tasks(admin, db, apps, pgs):
    for a in apps:
        a.stop()
    for name, conn in pgs.items():
        conn.close()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{db}_{name}" WITH (FORCE)'.lower())
    admin.close()


def test_it_miner_stop_table_others_go_on(env, stack, bin_dir, tmp_path):
    col = env["col"].start()
    db, src = env["db"], col.source
    t1, t2 = f"{db}.t1", f"{db}.t2"
    m = env["miner"]().start()
    load = Load(stack, db, 1500)
    load.start()
    while load.i < 300:
        time.sleep(0.05)
    out = mining(bin_dir, stack, env, "stop", src, t1).stdout
    assert f"table {t1} of {src} stopped at Kafka offset" in out, out
    stop_off = m.table_doc(t1)["stopped_at"]["offset"]
    load.done.wait(120)
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 3000)
    t_end = time.monotonic()
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    # t2 (not stopped) is complete as soon as the miner reached the end of the topic
    assert time.monotonic() - t_end < 10
    assert rows_of(m, t2) == list(range(1500))
    # t1: exactly the rows before the stop offset
    exp_t1 = sorted(k for k, (off, r, i) in expected(msgs, {t1}).items()
                    if off < stop_off and k.endswith("2"))
    got_t1 = sorted(d["_id"] for d in m.coll.find({"table": t1, "op": "insert"}))
    assert got_t1 == exp_t1
    st = status(bin_dir, stack, env, src)
    assert st["stopped_tables"] == 1
    tab = {t["table"]: t for t in st["tables"]}
    assert tab[t1]["state"] == "stopped" and tab[t1]["stopped_at"]["offset"] == stop_off
    assert tab[t2]["state"] == "running" and tab[t2]["mined"] == 1500
    text = mining(bin_dir, stack, env, "status", src).stdout
    assert "stopped at offset" in text and "1 stopped table(s), 0 gap(s)" in text, text
    # a task reading the log meanwhile never goes past t1's stop point on the log: it waits
    # there, or takes the topic over at an offset at or before it (the topic still holds it)
    admin = pg_connect(stack)
    apps, pgs = [], {}
    try:
        app = log_task(bin_dir, stack, env, "all", f"{db}.*", tmp_path, admin, apps, pgs)
        deadline = time.monotonic() + 60
        while not re.search(rf"table {re.escape(t1)} is stopped in the miner|handing over to \S+ "
                            rf"\[0\] at offset \d+", app.log()):
            assert time.monotonic() < deadline and app.proc.poll() is None, app.log()[-3000:]
            time.sleep(0.2)
        at = re.findall(r"handing over to \S+ \[0\] at offset (\d+)", app.log())
        assert not at or int(at[0]) <= stop_off, (at, stop_off)
        # resume: caught up from Kafka, then the log equals the topic
        out = mining(bin_dir, stack, env, "resume", src, t1).stdout
        assert "resumed" in out and "GAP" not in out, out
        m.wait_table(t1, lambda d: d["state"] == "running" and d.get("mined", 0) >= 1500)
        assert rows_of(m, t1) == list(range(1500))
        # and the task goes on to the end: both tables complete
        deadline = time.monotonic() + 60
        while (pg_ids(pgs["all"], db, "t1"), pg_ids(pgs["all"], db, "t2")) != \
                (list(range(1500)), list(range(1500))):
            assert time.monotonic() < deadline and app.proc.poll() is None, app.log()[-3000:]
            time.sleep(0.2)
    finally:
        drop_tasks(admin, db, apps, pgs)
    assert_log_equals_topic(m, msgs)
    assert "caught up" in m.text()
    # more load after the resume goes to both tables
    more = Load(stack, db, 50, start=1500)
    more.run()
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 3100)
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    assert_log_equals_topic(m, msgs)


def test_it_miner_gap_reported(env, stack, bin_dir, tmp_path):
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient
    col = env["col"].start()
    db, src = env["db"], col.source
    t1, t2 = f"{db}.t1", f"{db}.t2"
    m = env["miner"]().start()
    Load(stack, db, 20).run()
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 40)
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    mining(bin_dir, stack, env, "stop", src, t1)
    Load(stack, db, 20, start=20).run()
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 80)
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    # Kafka drops everything so far (retention would do the same, later)
    cut = msgs[-1][0] + 1
    admin = AdminClient({"bootstrap.servers": stack["SL_KAFKA_BROKERS"]})
    fut = admin.delete_records([TopicPartition(col.topic, 0, cut)])
    for f in fut.values():
        f.result(30)
    Load(stack, db, 10, start=40).run()
    out = mining(bin_dir, stack, env, "resume", src, t1).stdout
    assert "resumed" in out, out
    m.wait_table(t1, lambda d: d["state"] == "running" and "gap" in d)
    gap = m.coll.find_one({"op": "gap"})
    assert gap and gap["table"] == t1 and gap["to_offset"] == cut, gap
    assert gap["from_offset"] == m.table_doc(t1)["stopped_at"]["offset"]
    st = status(bin_dir, stack, env, src)
    assert st["gaps"] == 1
    text = mining(bin_dir, stack, env, "status", src).stdout
    assert "GAP: Kafka offsets" in text, text
    assert "GAP in the shared log" in m.text()
    # t1 lost 20..39 (gone from Kafka), has the rest; t2 lost nothing
    m.wait_table(t1, lambda d: d.get("mined", 0) >= 30)
    assert rows_of(m, t1) == list(range(20)) + list(range(40, 50))
    assert rows_of(m, t2) == list(range(50))
    # the gap document sorts right after the position where t1 stopped
    ids = [d["_id"] for d in m.coll.find({}, {"_id": 1}).sort("_id", 1)]
    assert gap["_id"] in ids

    # appliers reading the log: the gap stops a task that applies t1, never silently
    admin = pg_connect(stack)
    apps, pgs = [], {}
    try:
        def task(name, tables, logdir):
            return log_task(bin_dir, stack, env, name, tables, logdir, admin, apps, pgs)

        def ids_of(name, table):
            return pg_ids(pgs[name], db, table)

        both = task("both", f"{db}.*", tmp_path)
        only2 = task("only2", f"{db}.t2", tmp_path)
        deadline = time.monotonic() + 60
        while both.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert both.proc.poll() not in (None, 0), "the task applying t1 went past the gap"
        assert f"GAP in the shared log for table {t1}" in both.log(), both.log()[-3000:]
        # everything before the gap, nothing of t1 after it
        assert ids_of("both", "t1") == list(range(20)), ids_of("both", "t1")
        deadline = time.monotonic() + 60
        while ids_of("only2", "t2") != list(range(50)) and time.monotonic() < deadline:
            assert only2.proc.poll() is None, only2.log()[-3000:]
            time.sleep(0.2)
        assert ids_of("only2", "t2") == list(range(50)), only2.log()[-3000:]
        assert "not applied by this task): ignored" in only2.log(), only2.log()[-3000:]
        assert ids_of("only2", "t1") == []
    finally:
        drop_tasks(admin, db, apps, pgs)


def test_it_miner_stopped_table_late_task_from_the_stop_point(env, stack, bin_dir, tmp_path):
    """t1 stopped before the miner saw any of it; a task started from the log then reads
    nothing before the stop point and must take the topic over there — not at the miner's
    offset, which would skip every change before it (it did)."""
    col = env["col"].start()
    db, src = env["db"], col.source
    t1 = f"{db}.t1"
    m = env["miner"]().start()
    mining(bin_dir, stack, env, "stop", src, t1)
    m.wait_table(t1, lambda d: d["state"] == "stopped")
    Load(stack, db, 20).run()
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 40)
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    admin = pg_connect(stack)
    apps, pgs = [], {}
    try:
        app = log_task(bin_dir, stack, env, "late", f"{db}.*", tmp_path, admin, apps, pgs)
        deadline = time.monotonic() + 60
        while (pg_ids(pgs["late"], db, "t1"), pg_ids(pgs["late"], db, "t2")) != \
                (list(range(20)), list(range(20))):
            assert time.monotonic() < deadline and app.proc.poll() is None, \
                (pg_ids(pgs["late"], db, "t1"), app.log()[-3000:])
            time.sleep(0.2)
        at = re.findall(r"handing over to \S+ \[0\] at offset (\d+)", app.log())
        assert at and int(at[0]) <= m.table_doc(t1)["stopped_at"]["offset"], at
    finally:
        drop_tasks(admin, db, apps, pgs)


@pytest.mark.parametrize("rounds", [30 if LONG else 10])
def test_it_miner_kill9_no_missing_no_dup(env, stack, rounds):
    col = env["col"].start()
    db = env["db"]
    # lease = false: ten restarts right after kill -9 would each wait out the lease's ttl
    # (the lease is proven by test_miner_lease.py)
    m = env["miner"](worker_num=2, read_batch=200, write_batch=50, lease="false").start()
    # the load runs until every kill is done: each kill lands while changes arrive
    load = Load(stack, db, 10 ** 9)
    load.start()
    rnd = random.Random()
    for k in range(rounds):
        # the restarted miner writes again before it is killed: a kill lands in the middle
        # of batches (consume, write, progress), not in the start-up
        docs = m.coll.estimated_document_count()
        deadline = time.monotonic() + 60
        while m.coll.estimated_document_count() <= docs:
            assert time.monotonic() < deadline, f"kill {k}: the miner wrote nothing in 60 s"
            time.sleep(0.02)
        time.sleep(rnd.uniform(0.0, 0.6))
        assert not load.done.is_set()
        m.stop(signal.SIGKILL)
        m.start()
    load.n = 0          # stop the load
    assert load.done.wait(60)
    total = load.i
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 2 * total, timeout=120)
    m.wait_offset(stack, end=msgs[-1][0] + 1, timeout=120)
    exp, docs = assert_log_equals_topic(m, msgs)
    assert m.coll.count_documents({}) == len(exp)
    assert m.text().count("mining ") == rounds + 1
    assert total > 100 * rounds, total
