"""One active copy per applier task (DESIGN invariant 8): two shiftlog-applier processes with
the same task.name on one target, under a write load (the bank workload of
test_applier_kill9.py, produced while the copies run).

- Started together: exactly one applies, the other waits as a hot standby (/health 200 with
  status "standby", shiftlog_applier_state{state="standby"} 1, it never reads a record). Then
  the active one is killed with -9, three rounds (the killed copy comes back as the standby):
  the standby takes over, and at the end the target equals the source. A monitor polls both
  copies' /metrics all along: at no instant are both in state "running". The takeover time
  (kill -9 → first position stored by the new holder) is printed per round.
- A copy whose lease connection is killed on the server side (pg_terminate_backend / KILL)
  while another holder takes the lease cannot store a position any more: its position write is
  fenced by the epoch (the lease check is made slow so that only the fence can stop it), it
  rolls back and goes to standby; once the lease is free again it takes over and finishes.
"""

import os
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import mysql_connect, pg_connect
from e2e_util import wait_topic
from test_applier_kill9 import Feeder, bank_workload
from test_applier_pg import Applier, msgs, target_db  # noqa: F401

N_ACCT = 100


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Copy:
    """One applier process of the task, with its own /health and /metrics port."""

    def __init__(self, bin_dir, stack, task, topic, db, extra, name):
        self.port = free_port()
        self.name = name
        self.app = Applier(bin_dir, stack, task, topic, db, *extra,
                           "-X", f"http.listen=127.0.0.1:{self.port}",
                           logfile=f"/tmp/{task}.{name}.log")

    def start(self):
        self.port = free_port()
        self.app.args = [a if not a.startswith("http.listen=") else
                         f"http.listen=127.0.0.1:{self.port}" for a in self.app.args]
        self.app.start()
        return self

    def alive(self):
        return self.app.proc is not None and self.app.proc.poll() is None

    def health(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")
        except (OSError, ValueError):
            return None, {}

    def metrics(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                return r.read().decode()
        except (OSError, ValueError):
            return ""

    def state(self):
        """The state whose gauge is 1, or None (not serving yet / dead)."""
        m = re.search(r'shiftlog_applier_state\{state="(\w+)"\} 1\b', self.metrics())
        return m.group(1) if m else None

    def records(self):
        m = re.search(r"^shiftlog_applier_records_total (\d+)", self.metrics(), re.M)
        return int(m.group(1)) if m else 0


class Monitor(threading.Thread):
    """Polls the copies' states; `both` counts instants where two copies were running."""

    def __init__(self, copies):
        super().__init__(daemon=True)
        self.copies, self.stop, self.both, self.polls = copies, threading.Event(), [], 0

    def run(self):
        while not self.stop.is_set():
            states = [c.state() if c.alive() else None for c in self.copies]
            self.polls += 1
            if states.count("running") > 1:
                self.both.append((time.monotonic(), states))
            time.sleep(0.05)


# --- targets ------------------------------------------------------------------------------

class PgTarget:
    kind = "postgresql"

    def __init__(self, stack, db, conn, extra=()):
        self.stack, self.db, self.conn, self.extra = stack, db, conn, list(extra)

    def args(self):
        return self.extra

    def balances(self):
        cur = self.conn.cursor()
        try:
            cur.execute("SELECT id, bal FROM bank.acct ORDER BY id")
            return cur.fetchall()
        except Exception:
            return []

    def position(self, task):
        """(kafka_offset, epoch) of the task's row, (-1, -1) when none."""
        cur = self.conn.cursor()
        cur.execute("SELECT to_regclass('kafkaoffset') IS NOT NULL")
        if not cur.fetchone()[0]:
            return -1, -1
        cur.execute("SELECT column_name FROM information_schema.columns WHERE "
                    "table_name = 'kafkaoffset' AND column_name = 'epoch'")
        ep = "epoch" if cur.fetchone() else "-1"
        # worker_num > 1: the rows "<task>#i", the task stands at the lowest offset; the
        # highest epoch is the last holder's that stored a position
        cur.execute(f"SELECT min(kafka_offset), max({ep}) FROM kafkaoffset WHERE (task = %s OR "
                    "left(task, length(%s) + 1) = %s || '#') AND sub_offset <> -2",
                    (task, task, task))
        r = cur.fetchone()
        return (r[0], r[1]) if r and r[0] is not None else (-1, -1)


class MyTarget:
    kind = "mysql"

    def __init__(self, stack, db):
        self.stack, self.db = stack, db
        self.conn = mysql_connect(stack)

    def args(self):
        s = self.stack
        return ["-X", "target.type=mysql", "-X", f"target.host={s['SL_MYSQL_HOST']}",
                "-X", f"target.port={s['SL_MYSQL_PORT']}",
                "-X", f"target.user={s['SL_MYSQL_ROOT_USER']}",
                "-X", f"target.password={s['SL_MYSQL_ROOT_PASSWORD']}",
                "-X", f"map.tables=bank.*={self.db}.*"]

    def balances(self):
        cur = self.conn.cursor()
        try:
            cur.execute(f"SELECT id, bal FROM `{self.db}`.acct ORDER BY id")
            return [tuple(r) for r in cur.fetchall()]
        except Exception:
            return []

    def position(self, task):
        cur = self.conn.cursor()
        try:
            cur.execute(f"SELECT * FROM `{self.db}`.kafkaoffset WHERE task = %s", (task,))
        except Exception:
            return -1, -1
        r = cur.fetchone()
        if not r:
            return -1, -1
        cols = [d[0] for d in cur.description]
        row = dict(zip(cols, r))
        return row["kafka_offset"], row.get("epoch", -1)


class MgTarget:
    kind = "mongodb"

    def __init__(self, stack, db):
        import pymongo
        self.stack, self.db = stack, db
        self.client = pymongo.MongoClient(stack["SL_MONGO_URI"], serverSelectionTimeoutMS=5000)

    def args(self):
        return ["-X", "target.type=mongodb", "-X", "target.host=127.0.0.1",
                "-X", f"target.port={self.stack['SL_MONGO_URI'].rsplit(':', 1)[1]}",
                "-X", "target.user=", "-X", "target.password=",
                "-X", f"map.tables=bank.*={self.db}.*", "-X", "lease.ttl.ms=3000"]

    def balances(self):
        return sorted((d["_id"], d["bal"]) for d in self.client[self.db]["acct"].find())

    def position(self, task):
        d = self.client[self.db]["kafkaoffset"].find_one({"_id.task": task})
        return (d.get("kafka_offset", -1), d.get("epoch", -1)) if d else (-1, -1)


@pytest.fixture(params=["postgresql", "postgresql-workers4", "mysql", "mongodb"])
def target(request, stack, unique_name):
    if request.param.startswith("postgresql"):
        db, conn = request.getfixturevalue("target_db")
        t = PgTarget(stack, db, conn,
                     ["-X", "worker_num=4"] if request.param.endswith("workers4") else [])
        t.kind = request.param
        yield t
        return
    db = unique_name("ls")
    if request.param == "mysql":
        t = MyTarget(stack, db)
        yield t
        t.conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
        t.conn.close()
    else:
        t = MgTarget(stack, db)
        yield t
        t.client.drop_database(db)
        t.client.close()


def wait_until(pred, timeout, what, logs=()):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout}s\n" + "\n".join(
        f"--- {c.name}:\n{c.app.log()[-4000:]}" for c in logs))


def roles(copies):
    """(active, standby) when one copy is running and the other standing by, else None."""
    st = [c.state() if c.alive() else None for c in copies]
    if sorted(st, key=str) == ["running", "standby"]:
        return copies[st.index("running")], copies[st.index("standby")]
    return None


def test_it_applier_two_copies_one_applies_and_takeover(stack, bin_dir, test_bin_dir,
                                                        unique_name, target):
    topic, task = unique_name("tp"), unique_name("task")
    target.task = task
    head, txns, final, ledger, rows = bank_workload(20_000, 5)
    last = msgs(head + [l for t in txns for l in t]) - 1
    extra = ["-X", "write_batch=200", "-X", "lease.retry.ms=200", *target.args()]
    copies = [Copy(bin_dir, stack, task, topic, target.db, extra, n) for n in ("a", "b")]
    # the workload's span bounds the test's time; the rounds end early if it is over first
    feeder = Feeder(test_bin_dir, stack, topic, head, txns,
                    seconds=30 if os.environ.get("SHIFTLOG_LONG") else 15)
    feeder.start()
    mon = Monitor(copies)
    takeovers = []
    try:
        wait_topic(stack, topic)
        for c in copies:
            c.start()
        mon.start()
        # started together: one applies, the other stands by (healthy, never reads)
        active, standby = wait_until(lambda: roles(copies), 30,
                                     "one copy running and the other standing by", copies)
        code, body = standby.health()
        assert code == 200 and body.get("status") == "standby", (code, body)
        assert active.health()[1].get("status") == "ok"
        wait_until(lambda: target.position(task)[0] >= 0, 60, "a first stored position", copies)
        assert standby.records() == 0, "the standby read records"
        for rnd in range(3):
            off0, ep0 = target.position(task)
            # let the active apply a little, then kill it
            wait_until(lambda: target.position(task)[0] > off0 or feeder.done.is_set(), 30,
                       "progress of the active copy", copies)
            t_kill = time.monotonic()
            active.app.kill9()
            off1, ep1 = target.position(task)
            # first position stored by the new holder: a higher epoch on the position row
            # (MongoDB stamps it at the takeover: and a higher offset)
            wait_until(lambda: target.position(task)[1] > ep1 and (
                target.position(task)[0] > off1 or feeder.done.is_set()), 60,
                       f"round {rnd}: the standby takes over and stores a position", copies)
            takeovers.append(time.monotonic() - t_kill)
            assert standby.state() == "running"
            active.start()               # the killed copy comes back, as the standby
            active, standby = wait_until(lambda: roles(copies), 30,
                                         f"round {rnd}: the restarted copy stands by", copies)
            assert standby.records() == 0, "a restarted standby read records"
        feeder.join(timeout=180)
        assert feeder.proc.returncode == 0, feeder.proc.stderr.read()
        wait_until(lambda: target.position(task)[0] >= last, 180,
                   f"the stored offset reaching {last}", copies)
    finally:
        mon.stop.set()
        mon.join(timeout=10)
        for c in copies:
            c.app.stop()
        if feeder.proc.poll() is None:
            feeder.proc.kill()
    got = target.balances()
    assert [i for i, _ in got] == list(range(N_ACCT))
    diff = [(i, b, final[i]) for i, b in got if b != final[i]]
    assert not diff, f"balances differ from the source (id, got, want): {diff[:5]}"
    assert not mon.both, f"two copies running at once: {mon.both[:5]}"
    assert mon.polls > 50
    print(f"\n{target.kind}: takeover (kill -9 -> first position stored by the standby): "
          + ", ".join(f"{t:.2f}s" for t in takeovers))


# --- a lease lost on the server side: the position write is fenced ---------------------

PG_LOCK = "pg_try_advisory_lock(hashtextextended('shiftlog:' || %s, 0))"


def test_it_applier_lease_lost_cannot_store_position(stack, bin_dir, test_bin_dir, unique_name,
                                                     target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    head, txns, final, ledger, rows = bank_workload(10_000, 9)
    last = msgs(head + [l for t in txns for l in t]) - 1
    # the lease is checked only every 10 minutes: only the fence can stop this copy
    a = Copy(bin_dir, stack, task, topic, db,
             ["-X", "write_batch=50", "-X", "lease.ttl.ms=30m", "-X", "lease.retry.ms=200"], "a")
    feeder = Feeder(test_bin_dir, stack, topic, head, txns, seconds=20)
    feeder.start()
    thief = pg_connect(stack, dbname=db)
    pt = PgTarget(stack, db, conn)
    pt.task = task
    try:
        wait_topic(stack, topic)
        a.start()
        wait_until(lambda: pt.position(task)[0] >= 0, 60, "a first stored position", [a])
        off0, ep0 = pt.position(task)
        cur = conn.cursor()
        cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                    (f"shiftlog-lease/{task}",))
        pids = [r[0] for r in cur.fetchall()]
        assert len(pids) == 1, pids
        # the network to the lease connection is cut (server side), and another holder takes
        # the lease before this copy notices
        tc = thief.cursor()
        cur.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
        wait_until(lambda: (tc.execute("SELECT " + PG_LOCK, (task,)) or tc.fetchone()[0]), 10,
                   "the test taking the advisory lock", [a])
        tc.execute("UPDATE shiftlog_lease SET epoch = epoch + 1, holder = 'test' WHERE task = %s"
                   " RETURNING epoch", (task,))
        thief_epoch = tc.fetchone()[0]
        t_fenced = wait_until(lambda: "fenced" in a.app.log(), 30,
                              "the copy's position write being fenced", [a])
        assert t_fenced
        wait_until(lambda: a.state() == "standby", 10, "the fenced copy standing by", [a])
        # it stores nothing while it does not hold the lease
        frozen = pt.position(task)
        time.sleep(3)
        assert pt.position(task) == frozen, "a copy without the lease stored a position"
        assert frozen[1] < thief_epoch
        thief.close()                         # the lease is free again: the copy takes over
        feeder.join(timeout=180)
        wait_until(lambda: pt.position(task)[0] >= last, 120, f"offset {last}", [a])
        assert pt.position(task)[1] > thief_epoch
    finally:
        a.app.stop()
        if feeder.proc.poll() is None:
            feeder.proc.kill()
        if not thief.closed:
            thief.close()
    got = pt.balances()
    assert [b for _, b in got] == final


def test_it_applier_mysql_lease_lost_cannot_store_position(stack, bin_dir, test_bin_dir,
                                                           unique_name):
    topic, task, db = unique_name("tp"), unique_name("task"), unique_name("ls")
    head, txns, final, ledger, rows = bank_workload(10_000, 13)
    last = msgs(head + [l for t in txns for l in t]) - 1
    mt = MyTarget(stack, db)
    a = Copy(bin_dir, stack, task, topic, db,
             [*mt.args(), "-X", "write_batch=50", "-X", "lease.ttl.ms=30m",
              "-X", "lease.retry.ms=200"], "a")
    feeder = Feeder(test_bin_dir, stack, topic, head, txns, seconds=20)
    feeder.start()
    thief = mysql_connect(stack)
    lock = f"shiftlog:{task}"
    try:
        wait_topic(stack, topic)
        a.start()
        wait_until(lambda: mt.position(task)[0] >= 0, 60, "a first stored position", [a])
        cur = mt.conn.cursor()
        cur.execute("SELECT IS_USED_LOCK(%s)", (lock,))
        holder = cur.fetchone()[0]
        assert holder, "no connection holds the lease lock"
        tc = thief.cursor()
        cur.execute(f"KILL {int(holder)}")
        tc.execute("SELECT GET_LOCK(%s, 10)", (lock,))
        assert tc.fetchone()[0] == 1
        tc.execute(f"UPDATE `{db}`.shiftlog_lease SET epoch = epoch + 1, holder = 'test' "
                   "WHERE task = %s", (task,))
        tc.execute(f"SELECT epoch FROM `{db}`.shiftlog_lease WHERE task = %s", (task,))
        thief_epoch = tc.fetchone()[0]
        wait_until(lambda: "fenced" in a.app.log(), 30, "the position write being fenced", [a])
        wait_until(lambda: a.state() == "standby", 10, "the fenced copy standing by", [a])
        frozen = mt.position(task)
        time.sleep(3)
        assert mt.position(task) == frozen, "a copy without the lease stored a position"
        assert frozen[1] < thief_epoch
        thief.close()
        feeder.join(timeout=180)
        wait_until(lambda: mt.position(task)[0] >= last, 120, f"offset {last}", [a])
        assert mt.position(task)[1] > thief_epoch
    finally:
        a.app.stop()
        if feeder.proc.poll() is None:
            feeder.proc.kill()
        try:
            thief.close()
        except Exception:
            pass
        got = mt.balances()
        mt.conn.cursor().execute(f"DROP DATABASE IF EXISTS `{db}`")
        mt.conn.close()
    assert [b for _, b in got] == final


# --- permanent target errors: exit at once with the documented code ---------------------

EXIT_DENIED = 3     # docs/applier.md, common/sl_service.h SL_EXIT_DENIED


def run_until_exit(app, timeout=20):
    t0 = time.monotonic()
    app.start()
    try:
        app.proc.wait(timeout=timeout)
    except Exception:
        app.stop()
        raise AssertionError(f"still running after {timeout}s (retrying a permanent error?)\n"
                             + app.app_log())
    return app.proc.returncode, time.monotonic() - t0


def without(args, *keys):
    """-X pairs of args minus those setting keys."""
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args), 2)]
    return [x for k, v in pairs if v.split("=", 1)[0] not in keys for x in (k, v)]


def denied_case(stack, bin_dir, unique_name, db, extra):
    topic, task = unique_name("tp"), unique_name("task")
    app = Applier(bin_dir, stack, task, topic, db, *extra, logfile=f"/tmp/{task}.log")
    app.app_log = app.log
    code, took = run_until_exit(app)
    log = app.log()
    errors = [l for l in log.splitlines() if " ERROR " in l]
    warns = [l for l in log.splitlines() if " WARN " in l]
    assert code == EXIT_DENIED, (code, log)
    assert len(errors) == 1 and not warns, log
    assert took < 15, took
    return errors[0]


def test_it_applier_pg_permanent_errors_exit(stack, bin_dir, unique_name, target_db):
    db, conn = target_db
    line = denied_case(stack, bin_dir, unique_name, db, ["-X", "target.password=wrong-pw"])
    assert "password authentication failed" in line and "wrong-pw" not in line, line
    line = denied_case(stack, bin_dir, unique_name, db + "_missing", [])
    assert f'database "{db}_missing" does not exist' in line, line
    # a user that may connect but not create the position tables
    role = unique_name("lp")
    cur = conn.cursor()
    cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'lp-pw'")
    try:
        cur.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
        line = denied_case(stack, bin_dir, unique_name, db,
                           ["-X", f"target.user={role}", "-X", "target.password=lp-pw"])
        assert "permission denied" in line, line
    finally:
        cur.execute(f"DROP OWNED BY {role}")
        cur.execute(f"DROP ROLE {role}")


def test_it_applier_mysql_permanent_errors_exit(stack, bin_dir, unique_name):
    db = unique_name("ls")
    base = MyTarget(stack, db)
    try:
        args = without(base.args(), "target.password")
        line = denied_case(stack, bin_dir, unique_name, db,
                           args + ["-X", "target.password=wrong-pw"])
        assert "Access denied" in line and "wrong-pw" not in line, line
        # a user without the privilege to create the missing target database
        user = unique_name("lp")[:30]
        cur = base.conn.cursor()
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'lp-pw'")
        try:
            args = without(base.args(), "target.password", "target.user")
            line = denied_case(stack, bin_dir, unique_name, db,
                               args + ["-X", f"target.user={user}", "-X",
                                       "target.password=lp-pw"])
            assert "Access denied" in line and db in line, line
        finally:
            cur.execute(f"DROP USER '{user}'@'%'")
    finally:
        base.conn.close()


def test_it_applier_pg_all_connections_killed_takes_lease_again(stack, bin_dir, test_bin_dir,
                                                                  unique_name, target_db):
    """A lone copy whose every target connection is killed on the server side (as at a server
    restart) takes its lease again (a new epoch) before it applies again, and finishes."""
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    head, txns, final, ledger, rows = bank_workload(10_000, 21)
    last = msgs(head + [l for t in txns for l in t]) - 1
    # no periodic lease check: the reconnect alone must find the lease gone
    a = Copy(bin_dir, stack, task, topic, db, ["-X", "write_batch=50", "-X", "lease.ttl.ms=30m",
                                               "-X", "lease.retry.ms=200"], "a")
    feeder = Feeder(test_bin_dir, stack, topic, head, txns, seconds=15)
    feeder.start()
    pt = PgTarget(stack, db, conn)
    try:
        wait_topic(stack, topic)
        a.start()
        wait_until(lambda: pt.position(task)[0] >= 0, 60, "a first stored position", [a])
        ep0 = pt.position(task)[1]
        cur = conn.cursor()
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                    "application_name IN (%s, %s)",
                    (f"shiftlog-lease/{task}", f"shiftlog-applier/{task}"))
        assert cur.fetchone()[0] == 2
        wait_until(lambda: pt.position(task)[1] > ep0, 30, "a position stored with a new epoch",
                   [a])
        feeder.join(timeout=180)
        wait_until(lambda: pt.position(task)[0] >= last, 120, f"offset {last}", [a])
        assert a.state() == "running"
    finally:
        a.app.stop()
        if feeder.proc.poll() is None:
            feeder.proc.kill()
    assert "taken (epoch 2)" in a.app.log(), a.app.log()
    assert [b for _, b in pt.balances()] == final


def test_it_applier_lease_table_refused_as_a_target(stack, bin_dir, unique_name, target_db):
    """A replicated table mapped onto the lease table (beside kafkaoffset) is refused at start,
    as the position table is."""
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    app = Applier(bin_dir, stack, task, topic, db, "-X",
                  "map.tables=s.shiftlog_lease=public.shiftlog_lease",
                  logfile=f"/tmp/{task}.log").start()
    try:
        app.proc.wait(timeout=60)
    finally:
        app.stop()
    assert app.proc.returncode not in (0, None), app.log()
    assert re.search(r"shiftlog_lease.* lease table", app.log()), app.log()
