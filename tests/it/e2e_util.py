"""Helpers of the end-to-end tests (test_e2e_mysql.py, test_e2e_pg.py): run a collector and its
appliers as real processes from the ready configs under examples/ (only names overridden with
-X), read every side with an independent client (pymysql, psycopg2, pymongo), normalise values
per target as docs/targets.md and docs/applier.md define them, and wait for convergence.

Nothing here talks to shiftlog's own code: what a test asserts is what the clients read.
"""

import datetime
import decimal
import hashlib
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from conftest import REPO_ROOT, drop_slot, mysql_connect, pg_connect

EXAMPLES = REPO_ROOT / "examples"
EPOCH = datetime.datetime(1970, 1, 1)


# ------------------------------------------------------------------ processes

class Service:
    """One shiftlog service: `<bin> -c <example config> -X k=v ...`, stderr appended to a log
    file, environment without SHIFTLOG_* (the test's overrides are all on the command line)
    but for the env dict given."""

    def __init__(self, binary, conf, overrides, log, ready=None, env=None):
        self.argv = [str(binary), "-c", str(conf)]
        self.env = env or {}        # SHIFTLOG_* the test sets on purpose (secrets)
        for k, v in overrides.items():
            self.argv += ["-X", f"{k}={v}"]
        self.log = Path(log)
        self.ready = ready          # regex of the log line that says "running"
        self.proc = None
        self.starts = 0

    def start(self, wait=True, timeout=60):
        seen = self.count(self.ready) if self.ready else 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTLOG_")}
        env.update(self.env)
        with open(self.log, "ab") as f:
            f.write(f"---- start {self.starts + 1}: {' '.join(self.argv)}\n".encode())
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=f, env=env)
        self.starts += 1
        if wait and self.ready:
            self.wait_log(self.ready, count=seen + 1, timeout=timeout)
        return self

    def text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def count(self, pattern):
        return len(re.findall(pattern, self.text()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_log(self, pattern, count=1, timeout=60):
        deadline = time.monotonic() + timeout
        while self.count(pattern) < count:
            if not self.alive():
                raise AssertionError(f"{self.argv[0]} exited {self.proc.returncode} before "
                                     f"{pattern!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.tail()}")
            time.sleep(0.05)

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def stop(self, timeout=20):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def tail(self, n=40):
        return "\n".join(self.text().splitlines()[-n:])


def collector(bin_dir, example, tmp, name, overrides):
    """shiftlog-collector from examples/<example>/collector.conf, -X overrides (a dict)."""
    conf = EXAMPLES / example / "collector.conf"
    ready = r"(started|resumed) reading the binlog|streaming from slot"
    return Service(bin_dir / "shiftlog-collector", conf, overrides, Path(tmp) / f"{name}.log",
                   ready)


def applier(bin_dir, example, tmp, name, overrides, conf="applier.conf"):
    """shiftlog-applier from examples/<example>/<conf>, -X overrides (a dict)."""
    return Service(bin_dir / "shiftlog-applier", EXAMPLES / example / conf, overrides,
                   Path(tmp) / f"{name}.log", r"starting at .* offset")


def collector_metric(col, name):
    """The value of metric `name` (its first series) in the collector's current life (its
    /metrics, the port from its last start's log line), or None when it cannot be read."""
    ports = re.findall(r"/metrics on 127.0.0.1:(\d+)", col.text())
    if not ports:
        return None
    try:
        m = urllib.request.urlopen(f"http://127.0.0.1:{ports[-1]}/metrics", timeout=2).read()
    except OSError:
        return None
    n = re.search(rb"^" + re.escape(name.encode()) + rb"(?:\{[^}]*\})? (\d+)", m, re.M)
    return int(n.group(1)) if n else None


def snapshot_rows_published(col):
    """shiftlog_collector_snapshot_rows_total of the collector's current life, or None."""
    return collector_metric(col, "shiftlog_collector_snapshot_rows_total")


def stop_all(*services):
    for s in services:
        if s is not None:
            s.stop()


def made_and_closed(make):
    """The body of a fixture that hands a test a factory: every object make(**kw) built is
    closed after the test, in the order made."""
    made = []

    def build(**kw):
        obj = make(**kw)
        made.append(obj)
        return obj
    yield build
    for obj in made:
        obj.close()


def pg_drop(stack, *dbs, slot=None):
    """Drops the PostgreSQL databases named (None: skipped), and first the replication slot
    `slot` of a test's PostgreSQL collector."""
    admin = pg_connect(stack)
    cur = admin.cursor()
    if slot:
        drop_slot(cur, slot)
    for db in dbs:
        if db:
            cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    admin.close()


# ------------------------------------------------------------------ Kafka

def topic_exists(stack, topic):
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": stack["SL_KAFKA_BROKERS"]}).list_topics(timeout=10)
    t = md.topics.get(topic)
    return t is not None and t.error is None and len(t.partitions) > 0


def wait_topic(stack, topic, timeout=30):
    deadline = time.monotonic() + timeout
    while not topic_exists(stack, topic):
        assert time.monotonic() < deadline, f"topic {topic} not created within {timeout}s"
        time.sleep(0.2)


def count_messages(stack, topic):
    """Committed messages in partition 0 of topic (0 when it does not exist)."""
    return len(read_messages(stack, topic))


def committed_messages(stack, topic, timeout=30):
    """The committed messages in partition 0 of topic, in order, until its end (a generator;
    nothing when the topic does not exist)."""
    if not topic_exists(stack, topic):
        return
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"], "group.id": "e2e-count",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0)])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:   # _PARTITION_EOF
                    break
                continue
            yield m
    finally:
        c.close()


def read_messages(stack, topic):
    """[(key, {header: value})] of the committed messages in partition 0 of topic."""
    return [((m.key() or b"").decode(errors="replace"),
             {k: (v or b"").decode(errors="replace") for k, v in (m.headers() or [])})
            for m in committed_messages(stack, topic)]


# ------------------------------------------------------------------ sources and targets

def master_pos(conn):
    with conn.cursor() as c:
        c.execute("SHOW MASTER STATUS")
        f, p = c.fetchone()[:2]
    return f"{f}:{p}"


def my_exec(conn, *stmts, txn=False):
    with conn.cursor() as c:
        if txn:
            c.execute("START TRANSACTION")
        for s in stmts:
            if isinstance(s, tuple):
                c.execute(*s)
            else:
                c.execute(s)
        if txn:
            c.execute("COMMIT")


def my_rows(conn, db, table, cols, key):
    with conn.cursor() as c:
        c.execute(f"SELECT {', '.join(f'`{x}`' for x in cols)} FROM `{db}`.`{table}` "
                  f"ORDER BY {', '.join(f'`{k}`' for k in key)}")
        return [tuple(r) for r in c.fetchall()]


def pg_rows(conn, schema, table, cols, key, casts=None):
    casts = casts or {}
    cur = conn.cursor()
    cur.execute(f"SELECT to_regclass('\"{schema}\".\"{table}\"') IS NOT NULL")
    if not cur.fetchone()[0]:
        return None
    cur.execute("SELECT " + ", ".join(f'"{x}"{casts.get(x, "")}' for x in cols) +
                f' FROM "{schema}"."{table}" ORDER BY ' + ", ".join(f'"{k}"' for k in key))
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
            for r in cur.fetchall()]


def mongo_client(stack):
    import pymongo
    return pymongo.MongoClient(stack["SL_MONGO_URI"], serverSelectionTimeoutMS=5000)


def mongo_value(doc, col):
    """A document field as the source's Python value, per docs/targets.md: Decimal128 ->
    Decimal, date + _us.<col> -> datetime with µs, binary -> bytes, _decimal_text -> Decimal."""
    from bson.decimal128 import Decimal128
    from bson.binary import Binary
    if col not in doc:
        return "<missing>"
    v = doc[col]
    us = doc.get("_us", {}).get(col)
    if us is not None:
        return EPOCH + datetime.timedelta(microseconds=us)
    if isinstance(v, Decimal128):
        return v.to_decimal()
    if doc.get("_decimal_text", {}).get(col):
        return decimal.Decimal(v)
    if isinstance(v, Binary):
        return bytes(v)
    return v


def mongo_rows(client, db, coll, cols, key):
    docs = list(client[db][coll].find())
    rows = [tuple(mongo_value(d, c) for c in cols) for d in docs]
    ki = [cols.index(k) for k in key]
    return sorted(rows, key=lambda r: tuple(r[i] for i in ki)), docs


def digest(rows):
    """A checksum of normalised rows (sha256 of their repr, in key order)."""
    h = hashlib.sha256()
    for r in rows:
        h.update(repr(r).encode())
        h.update(b"\n")
    return h.hexdigest()


def wait_until(what, pred, services=(), timeout=60, interval=0.3):
    """Polls pred() (-> (ok, detail)) until ok; fails early when a service died, and at the
    deadline with the last detail and the services' log tails."""
    deadline = time.monotonic() + timeout
    detail = None
    while True:
        ok, detail = pred()
        if ok:
            return detail
        dead = [s for s in services if s is not None and s.proc is not None and not s.alive()]
        if dead or time.monotonic() > deadline:
            logs = "\n\n".join(f"== {s.log.name} (exit {s.proc.returncode if s.proc else '-'})\n"
                               f"{s.tail()}" for s in services if s is not None)
            why = f"{len(dead)} service(s) exited" if dead else f"not within {timeout}s"
            raise AssertionError(f"{what}: {why}; last difference: {detail}\n{logs}")
        time.sleep(interval)


def first_diff(want, got, limit=3):
    """A short description of how two row lists differ (None when equal)."""
    if got is None:
        return "target table missing"
    if want == got:
        return None
    out = [f"{len(want)} rows vs {len(got)}"]
    for a, b in zip(want, got):
        if a != b:
            out.append(f"want {a!r} got {b!r}")
            if len(out) > limit:
                break
    return "; ".join(out)


__all__ = ["Service", "collector", "applier", "stop_all", "topic_exists", "wait_topic",
           "count_messages", "committed_messages", "collector_metric", "snapshot_rows_published", "read_messages", "master_pos", "my_exec", "my_rows", "pg_rows", "mongo_client",
           "mongo_value", "mongo_rows", "digest", "wait_until", "first_diff", "mysql_connect",
           "pg_connect", "EXAMPLES"]
