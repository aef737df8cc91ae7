"""PostgreSQL collector (issue 7) against the real local PostgreSQL 15 and Kafka:
transaction boundaries, TRUNCATE, unchanged TOAST, replica identities, a large streamed
transaction with bounded memory, kill -9 at random instants (exactly once by position, no gap,
the slot never confirmed past Kafka), reconnection after the walsender is terminated, and the
clear errors of the preflight (a lost slot and wal_level=replica on a private PostgreSQL).

Each test makes its own database, publication, slot and topic prefix; helpers here are shared
with test_pg_types.py."""

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

import slavro
from conftest import drop_slot, pg_connect

LONG = bool(os.environ.get("SHIFTLOG_LONG"))


# ------------------------------------------------------------------ helpers

class PgSource:
    """A database + publication + slot name + topic prefix for one test, and the collector."""

    def __init__(self, stack, bin_dir, name, tmp):
        self.stack, self.bin_dir, self.name, self.tmp = stack, bin_dir, name, Path(tmp)
        self.db = name
        self.slot = f"s_{name}"[:63]
        self.pub = f"p_{name}"[:63]
        self.prefix = f"pgit{uuid.uuid4().hex[:6]}"
        self.topic = f"{self.prefix}.{name}"
        self.procs = []
        admin = pg_connect(stack)
        admin.cursor().execute(f'CREATE DATABASE "{self.db}"')
        admin.close()
        self.conn = pg_connect(stack, dbname=self.db)

    def sql(self, *stmts, conn=None):
        cur = (conn or self.conn).cursor()
        for s in stmts:
            cur.execute(s)
        return cur

    def publish_all(self):
        self.sql(f'CREATE PUBLICATION "{self.pub}" FOR ALL TABLES')

    def conf(self, **extra):
        lines = {
            "source.name": self.name, "source.type": "postgresql",
            "source.host": self.stack["SL_PG_HOST"], "source.port": self.stack["SL_PG_PORT"],
            "source.user": self.stack["SL_PG_CDC_USER"],
            "source.password": self.stack["SL_PG_CDC_PASSWORD"],
            "source.database": self.db, "source.slot": self.slot,
            "source.publication": self.pub, "topic.prefix": self.prefix,
            "kafka.bootstrap.servers": self.stack["SL_KAFKA_BROKERS"],
            "http.listen": "off", "heartbeat.interval": "1s",
            # the pgoutput reader's tests count what the WAL holds; the default (initial)
            # would add a copy of the tables' rows (snapshot tests ask for it)
            "snapshot.mode": "never",
        }
        lines.update(extra)
        path = self.tmp / f"collector-{len(self.procs)}.conf"
        path.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
        return path

    def start(self, env=None, wait=True, **extra):
        log = self.tmp / f"collector-{len(self.procs)}.log"
        p = subprocess.Popen([str(self.bin_dir / "shiftlog-collector"), "-c", str(self.conf(**extra))],
                             stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                             env={**os.environ, **(env or {})})
        p.log = log
        self.procs.append(p)
        if wait:
            deadline = time.time() + 60
            while "streaming from slot" not in log.read_text():
                if p.poll() is not None:
                    raise AssertionError(f"collector exited {p.returncode}:\n{log.read_text()}")
                assert time.time() < deadline, log.read_text()
                time.sleep(0.05)
        return p

    def run_to_exit(self, timeout=60, env=None, **extra):
        p = self.start(env=env, wait=False, **extra)
        p.wait(timeout=timeout)
        return p.returncode, p.log.read_text()

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            p.wait(timeout=60)
        return p.returncode

    def confirmed_flush(self):
        cur = self.sql(f"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{self.slot}'")
        row = cur.fetchone()
        return lsn(row[0]) if row and row[0] else 0

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.conn.close()
        admin = pg_connect(self.stack)
        cur = admin.cursor()
        drop_slot(cur, self.slot)
        cur.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        admin.close()


def lsn(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


def read_topic(stack, topic, timeout=30):
    """Every record of the topic (read_committed, from the beginning to the end)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"], "group.id": f"t{uuid.uuid4().hex}",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "auto.offset.reset": "earliest"})
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    except Exception:
        c.close()
        return []
    c.assign([TopicPartition(topic, 0, 0)])
    out, deadline = [], time.time() + timeout
    pos = 0
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            # the last stable offset may stop short of hi (aborted/open txns, markers)
            if c.position([TopicPartition(topic, 0)])[0].offset >= hi or pos >= hi:
                break
            lo2, hi2 = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
            if c.position([TopicPartition(topic, 0)])[0].offset >= hi2 - 1:
                break
            continue
        if m.error():
            continue
        pos = m.offset() + 1
        rec = slavro.decode(m.value())
        rec["_offset"] = m.offset()
        rec["_size"] = len(m.value())
        out.append(rec)
        if pos >= hi:
            break
    c.close()
    return out


class TopicTail:
    """Reads a topic incrementally (read_committed): each catch_up() returns the records added
    since the last one, up to the last stable offset."""

    def __init__(self, stack, topic):
        from confluent_kafka import Consumer, TopicPartition
        self.tp = TopicPartition(topic, 0)
        self.c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"],
                           "group.id": f"t{uuid.uuid4().hex}", "enable.auto.commit": False,
                           "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
        self.c.assign([TopicPartition(topic, 0, 0)])

    def catch_up(self, timeout=30):
        out, deadline = [], time.time() + timeout
        while time.time() < deadline:
            m = self.c.poll(0.2)
            if m is None:
                try:
                    _, hi = self.c.get_watermark_offsets(self.tp, timeout=10, cached=False)
                except Exception:
                    continue
                if self.c.position([self.tp])[0].offset >= hi - 1:
                    break
                continue
            if not m.error():
                out.append(slavro.decode(m.value()))
        return out

    def close(self):
        self.c.close()


def wait_records(stack, topic, pred, timeout=60, read_timeout=30):
    deadline = time.time() + timeout
    while True:
        recs = read_topic(stack, topic, timeout=read_timeout)
        if pred(recs):
            return recs
        assert time.time() < deadline, f"timeout; {len(recs)} records, last: {recs[-3:]}"
        time.sleep(0.5)


def commits(recs):
    return [r for r in recs if r["type"] == "COMMIT"]


def rows_of(recs, table=None):
    """(pos tuple, op, before, after) for every row, by position."""
    out = []
    for r in recs:
        if r["type"] != "CHANGE":
            continue
        b = r["body"]
        if table and b["table"] != table:
            continue
        p = r["pos"]
        cols = b["columns"]
        for i, row in enumerate(b["rows"]):
            img = lambda vals: None if vals is None else dict(zip(cols, vals))
            out.append(((p["seq"], p["offset"], p["row"] + i), b["op"], img(row["before"]),
                        img(row["after"])))
    return out


@pytest.fixture
def pgsrc(stack, bin_dir, unique_name):
    tmp = tempfile.mkdtemp(prefix="pgit")
    src = PgSource(stack, bin_dir, unique_name("pg"), tmp)
    yield src
    src.close()
    shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ tests

def test_pg_txn_boundaries_truncate_toast(stack, pgsrc):
    s = pgsrc
    s.sql("CREATE TABLE a (id int PRIMARY KEY, v text, big text)",
          "CREATE TABLE b (id int PRIMARY KEY, n numeric)")
    s.publish_all()
    p = s.start()
    big = "".join(f"{i:08x}" for i in range(40000))  # 320 kB, TOASTed (compressible but external)
    s.sql("ALTER TABLE a ALTER COLUMN big SET STORAGE EXTERNAL")
    conn = s.conn
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("INSERT INTO a VALUES (1, 'one', %s), (2, 'two', NULL)", (big,))
    cur.execute("INSERT INTO b VALUES (1, 1.5)")
    cur.execute("INSERT INTO a VALUES (3, 'three', '')")
    conn.commit()
    cur.execute("INSERT INTO a VALUES (99, 'rolled back', NULL)")
    conn.rollback()
    cur.execute("UPDATE a SET v = 'uno' WHERE id = 1")          # big unchanged -> MISSING
    cur.execute("UPDATE a SET big = NULL WHERE id = 2")           # an explicit NULL stays NULL
    conn.commit()
    cur.execute("DELETE FROM b WHERE id = 1")
    conn.commit()
    cur.execute("TRUNCATE a, b")
    conn.commit()
    conn.autocommit = True

    recs = wait_records(stack, s.topic, lambda r: len(commits(r)) >= 4)
    s.stop(p)
    assert recs[0]["type"] == "FINISH" and recs[0]["body"]["reason"] == "start"
    # records of one source transaction are contiguous and closed by its COMMIT
    txns, cur_txn = [], []
    for r in recs[1:]:
        if r["type"] == "COMMIT":
            txns.append((r, cur_txn))
            cur_txn = []
        elif r["type"] == "CHANGE":
            cur_txn.append(r)
    assert cur_txn == []
    assert [c["body"]["rows"] for c, _ in txns] == [4, 2, 1, 2]
    for c, changes in txns:
        assert {ch["body"]["txn"] for ch in changes} == {c["body"]["txn"]}
        assert all(ch["pos"]["seq"] == c["pos"]["seq"] for ch in changes)
    # first transaction: a, b, a -> three batches, positions (commit, lsn, 0..3)
    t1 = [(ch["body"]["table"], ch["body"]["op"], len(ch["body"]["rows"]), ch["pos"]["row"]) for ch in txns[0][1]]
    assert t1 == [("a", "INSERT", 2, 0), ("b", "INSERT", 1, 2), ("a", "INSERT", 1, 3)]
    rows = rows_of(recs)
    positions = [r[0] for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(r[3]["id"] != ("int", 99) for r in rows if r[3])
    a1 = [r for r in rows if r[1] == "INSERT" and r[3]["id"] == ("int", 1)][0]
    assert a1[3]["big"] == ("string", big)
    # the unchanged TOAST column is flagged, never NULL; the explicit NULL is NULL
    u1, u2 = [r for r in rows if r[1] == "UPDATE"]
    assert u1[3]["big"] == ("missing", "UNCHANGED_TOAST") and u1[3]["v"] == ("string", "uno")
    assert u1[2]["id"] == ("int", 1) and u1[2]["v"] == ("missing", "NOT_IN_IMAGE")
    assert u2[3]["big"] == ("null", None)
    d = [r for r in rows if r[1] == "DELETE"][0]
    assert d[2]["id"] == ("int", 1) and d[2]["n"] == ("missing", "NOT_IN_IMAGE")
    trunc = [r for r in recs if r["type"] == "CHANGE" and r["body"]["op"] == "TRUNCATE"]
    assert sorted(t["body"]["table"] for t in trunc) == ["a", "b"]
    assert all(t["body"]["rows"] == [] for t in trunc)
    schemas = [r for r in recs if r["type"] == "SCHEMA"]
    sa = [x for x in schemas if x["body"]["table"] == "a"][0]["body"]["columns"]
    assert [(c["name"], c["sourceType"], c["pk"], c["nullable"]) for c in sa] == [
        ("id", "integer", 1, False), ("v", "text", 0, True), ("big", "text", 0, True)]
    # the slot confirmed the last COMMIT's end LSN (or further, when idle)
    assert s.confirmed_flush() >= txns[-1][0]["pos"]["offset"]


def test_pg_replica_identity(stack, pgsrc):
    s = pgsrc
    s.sql("CREATE TABLE full_t (id int PRIMARY KEY, v text, w int)",
          "ALTER TABLE full_t REPLICA IDENTITY FULL",
          "CREATE TABLE def_t (id int PRIMARY KEY, v text, w int)",
          "CREATE TABLE none_t (id int, v text)",
          "ALTER TABLE none_t REPLICA IDENTITY NOTHING",
          "CREATE TABLE nopk_t (id int, v text)")
    s.publish_all()
    p = s.start()
    for t in ("full_t", "def_t"):
        s.sql(f"INSERT INTO {t} VALUES (1, 'a', 10)", f"UPDATE {t} SET v = 'b' WHERE id = 1",
              f"UPDATE {t} SET id = 2 WHERE id = 1", f"DELETE FROM {t} WHERE id = 2")
    s.sql("INSERT INTO none_t VALUES (1, 'x')", "INSERT INTO nopk_t VALUES (1, 'y')",
          "INSERT INTO def_t VALUES (7, 'last', 0)")
    recs = wait_records(stack, s.topic, lambda r: any(
        x[3] and x[3].get("id") == ("int", 7) for x in rows_of(r, "def_t")))
    s.stop(p)
    log = p.log.read_text()
    assert "table public.none_t: REPLICA IDENTITY NOTHING: refused" in log
    assert "ALTER TABLE public.none_t REPLICA IDENTITY FULL" in log
    assert "table public.nopk_t: REPLICA IDENTITY DEFAULT without a primary key: refused" in log
    assert "table public.full_t: REPLICA IDENTITY FULL" in log
    assert not rows_of(recs, "none_t") and not rows_of(recs, "nopk_t")
    full = rows_of(recs, "full_t")
    assert [r[1] for r in full] == ["INSERT", "UPDATE", "UPDATE", "DELETE"]
    assert full[1][2] == {"id": ("int", 1), "v": ("string", "a"), "w": ("int", 10)}
    assert full[2][2] == {"id": ("int", 1), "v": ("string", "b"), "w": ("int", 10)}
    assert full[3][2] == {"id": ("int", 2), "v": ("string", "b"), "w": ("int", 10)}
    dflt = rows_of(recs, "def_t")
    miss = ("missing", "NOT_IN_IMAGE")
    assert dflt[1][2] == {"id": ("int", 1), "v": miss, "w": miss}     # key unchanged
    assert dflt[2][2] == {"id": ("int", 1), "v": miss, "w": miss}     # old key 'K'
    assert dflt[2][3]["id"] == ("int", 2)
    assert dflt[3][2] == {"id": ("int", 2), "v": miss, "w": miss}


def _vm_hwm_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def test_pg_streamed_large_transaction(stack, pgsrc):
    """A 200k-row transaction arrives as stream chunks (logical_decoding_work_mem = 64kB for
    the collector's walsender via PGOPTIONS), interleaved with small transactions; an aborted
    streamed transaction and a rolled-back savepoint inside a streamed one never reach the
    topic; memory stays bounded."""
    s = pgsrc
    n = 200000
    s.sql("CREATE TABLE big (id int PRIMARY KEY, pad text)", "CREATE TABLE small (id int PRIMARY KEY)")
    s.publish_all()
    p = s.start(env={"PGOPTIONS": "-c logical_decoding_work_mem=64kB"})
    base = _vm_hwm_kb(p.pid)
    c1 = pg_connect(stack, dbname=s.db)
    c1.autocommit = False
    k = c1.cursor()
    k.execute("INSERT INTO big SELECT i, repeat('x', 20) FROM generate_series(1, %s) i", (n // 2,))
    s.sql("INSERT INTO small VALUES (1)")           # commits while the big one is open
    k.execute("INSERT INTO big SELECT i, 'y' FROM generate_series(%s, %s) i", (n // 2 + 1, n))
    c1.commit()
    k.execute("INSERT INTO big SELECT i, 'aborted' FROM generate_series(%s, %s) i", (n + 1, n + 50000))
    c1.rollback()
    k.execute("INSERT INTO big SELECT i, 'kept' FROM generate_series(%s, %s) i", (n + 1, n + 20000))
    k.execute("SAVEPOINT sp")
    k.execute("INSERT INTO big SELECT i, 'undone' FROM generate_series(%s, %s) i", (n + 20001, n + 60000))
    k.execute("ROLLBACK TO SAVEPOINT sp")
    k.execute("INSERT INTO big VALUES (%s, 'after')", (n + 60001,))
    c1.commit()
    c1.close()
    s.sql("INSERT INTO small VALUES (2)")
    recs = wait_records(stack, s.topic, lambda r: any(
        x[3]["id"] == ("int", 2) for x in rows_of(r, "small")), timeout=180)
    peak = _vm_hwm_kb(p.pid)
    s.stop(p)
    log = p.log.read_text()
    m = re.search(r"(\d+) streamed transactions", log)
    assert m and int(m.group(1)) >= 2, log
    rows = rows_of(recs, "big")
    ids = [r[3]["id"][1] for r in rows]
    assert ids == list(range(1, n + 20001)) + [n + 60001]
    assert not any(r[3]["pad"] in (("string", "aborted"), ("string", "undone")) for r in rows)
    # transactions stay contiguous on the topic: small(1) comes whole before or after big
    order = [(r["body"]["table"] if r["type"] == "CHANGE" else r["type"]) for r in recs
             if r["type"] in ("CHANGE", "COMMIT")]
    collapsed = [x for i, x in enumerate(order) if i == 0 or order[i - 1] != x]
    assert collapsed == ["small", "COMMIT", "big", "COMMIT", "big", "COMMIT", "small", "COMMIT"]
    positions = [r[0] for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    # memory is bounded by batch sizes, not by the 200k-row transaction
    assert peak - base < 60 * 1024, f"RSS grew by {peak - base} kB"


class BankWorkload:
    """pgbench-style workload: 2 writers, each transaction one account update + one history
    insert; `done` holds the history ids of committed transactions."""

    def __init__(self, stack, s):
        self.stack, self.s = stack, s
        s.sql("CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL)",
              "INSERT INTO accounts SELECT i, 0 FROM generate_series(1, 100) i",
              "CREATE TABLE history (id bigserial PRIMARY KEY, account int, delta int)")
        s.publish_all()
        self.stop_ev = threading.Event()
        self.done = []
        self.threads = [threading.Thread(target=self._writer, args=(i,)) for i in range(2)]

    def _writer(self, seed):
        rnd = random.Random(seed)
        c = pg_connect(self.stack, dbname=self.s.db)
        c.autocommit = False
        cur = c.cursor()
        while not self.stop_ev.is_set():
            a, d = rnd.randint(1, 100), rnd.randint(-50, 50)
            cur.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s", (d, a))
            cur.execute("INSERT INTO history (account, delta) VALUES (%s, %s) RETURNING id", (a, d))
            hid = cur.fetchone()[0]
            c.commit()
            self.done.append(hid)
            # paced: unpaced, the writers' rate follows the box (113k transactions in one
            # run, 489k in a CI run whose incremental reads fell behind and stretched the
            # kill loop, then the final read of 1.44M records missed its deadline); paced,
            # every kill still lands mid-stream and the topic stays readable at the end
            time.sleep(0.004 if LONG else 0.001)
        c.close()

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join()

    def finish(self):
        """Stop the writers, write an end marker and read the topic up to it."""
        self.stop()
        assert len(self.done) > 100
        self.s.sql("INSERT INTO accounts VALUES (1000, 0)")
        return wait_records(self.stack, self.s.topic, lambda r: any(
            x[3] and x[3]["id"] == ("int", 1000) for x in rows_of(r, "accounts")),
            timeout=900 if LONG else 120, read_timeout=600 if LONG else 30)

    def check_exactly_once(self, recs):
        """Dedup by position: the same position always carries the same row; every committed
        transaction's two changes are there once, no gap. Returns (by_pos, rows on the topic)."""
        by_pos = {}
        raw = 0
        for table in ("history", "accounts"):
            for pos, op, before, after in rows_of(recs, table):
                raw += 1
                key = (table, op, before, after)
                assert by_pos.setdefault(pos, key) == key, f"position {pos} reused"
        hist = sorted(k[3]["id"][1] for k in by_pos.values() if k[0] == "history")
        assert hist == sorted(self.done), "history rows missing or duplicated after dedup"
        assert len(set(hist)) == len(hist)
        upd = [k for k in by_pos.values() if k[0] == "accounts" and k[1] == "UPDATE"]
        assert len(upd) == len(self.done)
        return by_pos, raw


def test_pg_kill9_exactly_once(stack, pgsrc):
    """pgbench-style workload (history inserts + account updates, 2 writers) while the
    collector is killed with SIGKILL at random instants. Dedup by position: every change once,
    no gap; at every kill the slot's confirmed_flush_lsn had not passed what Kafka held."""
    s = pgsrc
    kills = random.randint(20, 100) if LONG else 5
    w = BankWorkload(stack, s)
    t0 = time.time()
    p = s.start(lease="false")
    w.start()
    snapshots = []       # confirmed flush LSN at each kill
    seen_at = {}         # history id -> index of the first kill at which Kafka held it
    tail = TopicTail(stack, s.topic)
    try:
        for k in range(kills):
            time.sleep(random.uniform(0.3, 2.0))
            p.kill()
            p.wait()
            snapshots.append(s.confirmed_flush())
            for x in rows_of(tail.catch_up(), "history"):
                seen_at.setdefault(x[3]["id"][1], k)
            p = s.start(lease="false")
    finally:
        w.stop()
        tail.close()
    recs = w.finish()
    s.stop(p)
    finishes = [r for r in recs if r["type"] == "FINISH"]
    # one FINISH per session whose first Kafka transaction committed: a kill that lands before
    # that commit leaves no FINISH of its session (nothing of it is visible), so at most kills + 1
    assert 1 <= len(finishes) <= kills + 1 and finishes[0]["body"]["reason"] == "start"
    assert all(f["body"]["reason"] == "resume" for f in finishes[1:])
    by_pos, raw = w.check_exactly_once(recs)
    print(f"\nkill9: {kills} kills, {len(w.done)} transactions, {len(by_pos)} changes, "
          f"{raw} rows on the topic, {raw - len(by_pos)} duplicates before dedup, "
          f"{time.time() - t0:.1f} s")
    # commit LSN of every history row (from the final topic); at each kill, every row whose
    # transaction committed before the confirmed flush LSN was already in Kafka
    commit_of = {}
    for pos, op, before, after in rows_of(recs, "history"):
        commit_of[after["id"][1]] = pos[0]
    for k, cf in enumerate(snapshots):
        lost = [h for h, c in commit_of.items() if c < cf and seen_at.get(h, kills) > k]
        assert not lost, f"slot confirmed {cf:X} past rows not in Kafka: {lost[:5]}"


def test_pg_reconnect_after_lost_connection(stack, pgsrc):
    """The collector's walsender is terminated (pg_terminate_backend) 3 times during the
    workload: the collector stays up, reconnects after a back-off, emits FINISH (resume) each
    time; deduplicated by position the topic holds every change once, no gap."""
    s = pgsrc
    w = BankWorkload(stack, s)
    p = s.start()
    w.start()
    admin = pg_connect(stack)
    cur = admin.cursor()
    pids = []
    try:
        for i in range(3):
            time.sleep(random.uniform(0.5, 1.5))
            deadline = time.time() + 30
            while True:   # the slot's walsender of the current session
                cur.execute("SELECT r.pid FROM pg_stat_replication r JOIN pg_replication_slots s "
                            "ON s.active_pid = r.pid WHERE s.slot_name = %s AND "
                            "r.application_name = %s", (s.slot, f"shiftlog-collector-{s.name}"))
                row = cur.fetchone()
                if row and row[0] not in pids:
                    break
                assert p.poll() is None, p.log.read_text()
                assert time.time() < deadline, f"no new walsender after {pids}:\n{p.log.read_text()}"
                time.sleep(0.1)
            pids.append(row[0])
            cur.execute("SELECT pg_terminate_backend(%s)", (row[0],))
            assert cur.fetchone()[0]
    finally:
        w.stop()
        admin.close()
    recs = w.finish()
    assert p.poll() is None, p.log.read_text()
    assert s.stop(p) == 0
    log = p.log.read_text()
    # a walsender is found by its slot, which START_REPLICATION makes active: the termination
    # may end the stream, or come before the collector has read START_REPLICATION's answer
    reconnects = re.findall(r"replication stream ended: .*terminating connection due to "
                            r"administrator command.*; reconnecting in (\d+) ms|"
                            r"reading from PostgreSQL: .*; reconnecting in (\d+) ms|"
                            r"START_REPLICATION on slot .*; reconnecting in (\d+) ms", log)
    assert len(reconnects) == 3, log
    early = len(re.findall(r"START_REPLICATION on slot .*; reconnecting in", log))
    assert len(re.findall(r"streaming from slot .*resume from the checkpoint", log)) == \
        3 - early, log
    finishes = [r for r in recs if r["type"] == "FINISH"]
    assert [f["body"]["reason"] for f in finishes] == ["start", "resume", "resume", "resume"]
    by_pos, raw = w.check_exactly_once(recs)
    print(f"\nreconnect: 3 terminations, {len(w.done)} transactions, {len(by_pos)} changes, "
          f"{raw - len(by_pos)} duplicates before dedup; back-offs "
          f"{[int(a or b or c) for a, b, c in reconnects]} ms\n"
          + "\n".join(x for x in log.splitlines() if "reconnecting in" in x))


def test_pg_kafka_outage_health(stack, pgsrc, tmp_path):
    """A private broker is SIGKILLed while the source keeps writing: the collector's publish
    blocks, and a watchdog makes /ready answer 503 naming Kafka and the paused WAL reading
    (the blocked reader cannot; /health stays 200: alive); with the broker back it turns 200
    again and every change is on
    the topic once by position (the slot never confirmed past Kafka)."""
    from kafka_private import PrivateKafka
    from test_mysql_collector import http_get
    kafka = PrivateKafka(stack, tmp_path / "kafka").start()
    kstack = dict(stack, SL_KAFKA_BROKERS=kafka.bootstrap)
    s = pgsrc
    s.stack = kstack
    s.sql("CREATE TABLE t (id int PRIMARY KEY, v text)")
    s.publish_all()
    p = s.start(**{"http.listen": "127.0.0.1:0", "txn.max.ms": "200"})
    try:
        m = None
        deadline = time.time() + 30
        while not m and time.time() < deadline:
            m = re.search(r"serving /health and /metrics on [\d.]+:(\d+)", p.log.read_text())
            time.sleep(0.05)
        assert m, p.log.read_text()
        port = int(m[1])
        s.sql("INSERT INTO t SELECT g, 'before' FROM generate_series(1, 100) g")
        wait_records(kstack, s.topic, lambda rs: len(commits(rs)) >= 1)
        assert http_get(port, "/health")[0] == 200

        kafka.kill()
        n, health = 100, []
        t_kill = time.time()
        while time.time() - t_kill < 9:
            s.sql(f"INSERT INTO t SELECT g, 'during' FROM generate_series({n + 1}, {n + 50}) g")
            n += 50
            assert p.poll() is None, p.log.read_text()
            health.append(http_get(port, "/ready"))
            assert http_get(port, "/health")[0] == 200, "not live during a Kafka outage"
            time.sleep(0.3)
        unhealthy = [b for st, b in health if st == 503]
        assert unhealthy, f"/ready never answered 503 during the outage: {health[-3:]}"
        assert "Kafka has taken no record" in unhealthy[-1] and "reading the WAL" in unhealthy[-1], \
            unhealthy[-1]

        kafka.start()
        recs = wait_records(kstack, s.topic,
                            lambda rs: len({r[0] for r in rows_of(rs, "t")}) >= n, timeout=120)
        deadline = time.time() + 30
        while http_get(port, "/ready")[0] != 200 and time.time() < deadline:
            time.sleep(0.2)
        assert http_get(port, "/ready")[0] == 200, p.log.read_text()
    finally:
        s.stop(p)
        kafka.stop()
    ids = sorted({r[3]["id"][1] for r in rows_of(recs, "t")})
    assert ids == list(range(1, n + 1))
    print(f"\nPG collector, Kafka down 9 s: {n} rows, /ready 503 in "
          f"{len(unhealthy)}/{len(health)} probes: {unhealthy[-1]}")


def test_pg_errors(stack, pgsrc, unique_name):
    s = pgsrc
    s.sql("CREATE TABLE t (id int PRIMARY KEY)")
    s.publish_all()
    # 1. a role without REPLICATION
    role = unique_name("norepl")
    s.sql(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    try:
        rc, log = s.run_to_exit(**{"source.user": role, "source.password": "pw"})
        assert rc != 0
        assert f"role {role} lacks the REPLICATION privilege (ALTER ROLE {role} REPLICATION)" in log
    finally:
        s.sql(f"DROP ROLE {role}")
    # 2. a slot of another plugin
    s.sql(f"SELECT pg_create_logical_replication_slot('{s.slot}', 'test_decoding')")
    rc, log = s.run_to_exit()
    assert rc != 0 and f'replication slot "{s.slot}" uses plugin "test_decoding"' in log
    s.sql(f"SELECT pg_drop_replication_slot('{s.slot}')")
    # 3. a dropped slot after a checkpoint
    p = s.start()
    s.sql("INSERT INTO t VALUES (1)")
    wait_records(stack, s.topic, lambda r: len(commits(r)) >= 1)
    s.stop(p)
    for _ in range(50):
        if s.sql(f"SELECT count(*) FROM pg_replication_slots WHERE slot_name='{s.slot}' AND active").fetchone()[0] == 0:
            break
        time.sleep(0.1)
    s.sql(f"SELECT pg_drop_replication_slot('{s.slot}')")
    rc, log = s.run_to_exit()
    assert rc != 0 and f'replication slot "{s.slot}" does not exist but this source has a checkpoint' in log


PGBIN = Path("/usr/lib/postgresql/15/bin")


def _free_port():
    import socket
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


@contextlib.contextmanager
def private_pg(*settings):
    """A private, throw-away PostgreSQL 15 (initdb as the postgres OS user under /tmp, a free
    random port, superuser postgres/pw), started with the given `-c` settings and removed on
    exit; the shared server is not touched. Yields (port, log path)."""
    if not (PGBIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 binaries not found")
    d = Path(tempfile.mkdtemp(prefix="pgpriv", dir="/tmp"))
    os.chmod(d, 0o755)
    data = d / "data"
    pw = d / "pw"
    pw.write_text("pw\n")
    subprocess.run(["chown", "-R", "postgres", str(d)], check=True)
    run = ["runuser", "-u", "postgres", "--"]
    try:
        subprocess.run(run + [str(PGBIN / "initdb"), "-D", str(data), "-U", "postgres",
                              f"--pwfile={pw}", "--auth-host=scram-sha-256", "--auth-local=trust",
                              "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
        opts = " ".join(f"-c {x}" for x in settings)
        for attempt in range(3):
            port = _free_port()
            r = subprocess.run(run + [str(PGBIN / "pg_ctl"), "-D", str(data), "-w", "-l",
                                      str(d / "log"), "-o", f"-p {port} -c listen_addresses=127.0.0.1 "
                                      f"-c unix_socket_directories={d} {opts}", "start"],
                               capture_output=True)
            if r.returncode == 0:
                break
        else:
            raise AssertionError((d / "log").read_text())
        yield port, d / "log"
    finally:
        subprocess.run(run + [str(PGBIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def _private_conf(stack, tmp_path, port, name, **extra):
    lines = {"source.name": name, "source.type": "postgresql", "source.host": "127.0.0.1",
             "source.port": port, "source.user": "postgres", "source.password": "pw",
             "source.database": "postgres", "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"],
             "topic.prefix": f"pgit{uuid.uuid4().hex[:6]}", "http.listen": "off"}
    lines.update(extra)
    conf = tmp_path / f"{name}.conf"
    conf.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
    return conf


def test_pg_wal_level_replica(stack, bin_dir, tmp_path):
    """wal_level=replica on a private, throw-away PostgreSQL (the shared one stays as it is)."""
    with private_pg("wal_level=replica") as (port, _):
        conf = _private_conf(stack, tmp_path, port, "walrep")
        p = subprocess.run([str(bin_dir / "shiftlog-collector"), "-c", str(conf)], capture_output=True,
                           text=True, timeout=60)
        assert p.returncode != 0
        assert "wal_level is replica, shiftlog needs logical (ALTER SYSTEM SET wal_level = logical" in p.stderr


@contextlib.contextmanager
def lossy_pg():
    """A private_pg that invalidates a slot past 1 MB of its WAL (max_slot_wal_keep_size), and
    an autocommit cursor on it as postgres: yields (port, cursor)."""
    import psycopg2
    with private_pg("wal_level=logical", "max_slot_wal_keep_size=1MB", "max_wal_size=32MB",
                    "min_wal_size=32MB") as (port, _):
        c = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password="pw",
                             dbname="postgres")
        c.autocommit = True
        try:
            yield port, c.cursor()
        finally:
            c.close()


def lose_slot(cur, slot, table):
    """Writes WAL (rows into table, WAL switches, checkpoints) until the server invalidates
    the slot (a private_pg with max_slot_wal_keep_size=1MB); its last wal_status."""
    status = None
    for i in range(20):
        cur.execute(f"INSERT INTO {table} SELECT g, repeat('x', 100) FROM "
                    "generate_series(%s, %s) g", (i * 20000 + 1, (i + 1) * 20000))
        cur.execute("SELECT pg_switch_wal()")
        cur.execute("CHECKPOINT")
        cur.execute("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        status = cur.fetchone()[0]
        if status == "lost":
            break
    return status


def test_pg_lost_slot(stack, bin_dir, tmp_path):
    """A slot the server invalidated (max_slot_wal_keep_size exceeded: wal_status = lost) on a
    private PostgreSQL -> the collector stops (exit 1) and names the cause and the fix."""
    with lossy_pg() as (port, cur):
        cur.execute("CREATE TABLE t (id int PRIMARY KEY, pad text)")
        cur.execute("CREATE PUBLICATION p_lost FOR ALL TABLES")
        cur.execute("SELECT pg_create_logical_replication_slot('s_lost', 'pgoutput')")
        status = lose_slot(cur, "s_lost", "t")
        assert status == "lost", f"could not get the slot lost (wal_status {status})"
        conf = _private_conf(stack, tmp_path, port, "lostslot", **{
            "source.slot": "s_lost", "source.publication": "p_lost"})
        p = subprocess.run([str(bin_dir / "shiftlog-collector"), "-c", str(conf)], capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 1, p.stderr
        assert ('replication slot "s_lost" is lost (wal_status = lost: the server removed WAL it '
                'still needed, max_slot_wal_keep_size): changes are gone; drop the slot '
                "(SELECT pg_drop_replication_slot('s_lost'))") in p.stderr, p.stderr
        assert "streaming from slot" not in p.stderr
