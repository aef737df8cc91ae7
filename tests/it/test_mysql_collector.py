"""shiftlog-collector with source.type = mysql against the local MariaDB and Kafka, run as a real
process with a config file (issue 4):

  it_mysql_collector_workload_exact_order      inserts/updates/deletes over several tables and
                                               transactions -> exactly those changes, in order,
                                               FINISH first, SCHEMA before first use, COMMIT after
                                               each transaction; slavro and `shiftlog cat` agree
  it_mysql_collector_kill9_exactly_once        kill -9 at random instants during a 100k-row
                                               transaction workload (20x; 100x with SHIFTLOG_LONG)
                                               -> deduplicated by position every row exactly
                                               once, no gap; every stored checkpoint is a
                                               COMMIT/FINISH position the topic holds
  it_mysql_collector_big_txn_bounded_memory    200k rows in one transaction, batch.max.rows=1000
                                               -> all rows, peak RSS bounded (measured)
  it_mysql_collector_preflight_*               missing grants, a start position not on the server,
                                               a bad start.position, binlog_format=STATEMENT (on a
                                               private MariaDB) -> exit 1 and the fix
  it_mysql_collector_ddl_mid_stream            ALTER TABLE ADD COLUMN -> SCHEMA with the DDL, then
                                               rows with the new column
  it_mysql_collector_table_filter              tables.include / tables.exclude
  it_mysql_collector_kafka_outage              a private broker (kafka_private.py) SIGKILLed for
                                               15 s under a workload (180 s, both producer modes,
                                               with SHIFTLOG_LONG), then restarted on the same
                                               dir/ports -> RSS flat, binlog reading paused,
                                               /ready 503 with the reason (/health 200: alive),
                                               then every change
                                               exactly once, no gap
  it_mysql_collector_metrics                   /metrics during a workload: events, lag, per-table
                                               rows, checkpoint, producer queue present and moving

Every test uses its own database, source name and topic prefix (its own <prefix>._offsets).
"""

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import slavro
from conftest import mysql_connect

LONG = bool(os.environ.get("SHIFTLOG_LONG"))


# ------------------------------------------------------------------ helpers

def master_pos(conn):
    with conn.cursor() as c:
        c.execute("SHOW MASTER STATUS")
        f, p = c.fetchone()[:2]
    return f"{f}:{p}"


class Collector:
    """bin/shiftlog-collector with a config file in tmp_path; stderr to a log file."""

    def __init__(self, bin_dir, stack, tmp_path, source, prefix, start, **extra):
        self.bin = bin_dir / "shiftlog-collector"
        self.source, self.prefix = source, prefix
        self.topic = f"{prefix}.{source}"
        self.conf = tmp_path / f"{source}.conf"
        lines = {
            "source.name": source, "source.type": "mysql",
            "source.host": stack["SL_MYSQL_HOST"], "source.port": stack["SL_MYSQL_PORT"],
            "source.user": stack["SL_MYSQL_CDC_USER"],
            "source.password": stack["SL_MYSQL_CDC_PASSWORD"],
            "source.server_id": str(random.randint(100000, 4000000000)),
            "start.position": start, "topic.prefix": prefix,
            "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"],
            "http.listen": "127.0.0.1:0",
            # the binlog reader's tests count what a binlog range holds; the default
            # (initial) would add a copy of the tables' rows (snapshot tests ask for it)
            "snapshot.mode": "never",
        }
        lines.update({k.replace("_", "."): str(v) for k, v in extra.items()})
        self.conf.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
        self.log = tmp_path / f"{source}.log"
        self.proc = None

    def start(self, wait=True):
        seen = len(re.findall(r"(started|resumed) reading the binlog", self.text())) \
            if self.log.exists() else 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTLOG_")}
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([str(self.bin), "-c", str(self.conf)], stderr=self.logf,
                                     env=env)
        if wait:
            self.wait_log(r"(started|resumed) reading the binlog", count=seen + 1)
        return self

    def text(self):
        return self.log.read_text()

    def wait_log(self, pattern, timeout=30, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.text())) >= count:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"collector exited {self.proc.returncode}:\n{self.text()}")
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in the log within {timeout}s:\n{self.text()}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.logf.close()
        return self.proc.returncode

    def peak_rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0


def read_topic(stack, topic, timeout=60):
    """Every committed message of partition 0: [(offset, key, headers, slavro record)]."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"], "group.id": "it-" + topic,
                  "enable.partition.eof": True, "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    out = [(m.offset(), m.key(), dict(m.headers() or []), m.value())
           for m in poll_to_eof(c, timeout, 1.0, name=topic)]
    c.close()
    return out


def poll_to_eof(c, timeout, poll_s, strict=True, name="the topic"):
    """The messages of a confluent_kafka consumer up to the partition's end (a topic not
    created yet counts as empty so far). strict: no end within timeout is an error."""
    from confluent_kafka import KafkaError
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = c.poll(poll_s)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                return
            if m.error().code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            raise AssertionError(m.error())
        yield m
    if strict:
        raise AssertionError(f"no EOF on {name} within {timeout} s")


def records(stack, topic):
    return [slavro.decode(v) for _, _, _, v in read_topic(stack, topic) if v is not None]


def pos_key(p, row=None):
    return (p["seq"], p["offset"], p["row"] if row is None else row)


def wait_for(stack, topic, pred, timeout=60):
    """Reads the topic until pred(records) holds; returns the records."""
    deadline = time.monotonic() + timeout
    recs = []
    while time.monotonic() < deadline:
        try:
            recs = records(stack, topic)
        except AssertionError:
            recs = []
        if pred(recs):
            return recs
        time.sleep(0.5)
    raise AssertionError(f"{topic}: condition not met in {timeout}s; {len(recs)} records, "
                         f"last: {recs[-3:]}")


def val(kv):
    return kv[1]


def image(img):
    return None if img is None else [val(v) for v in img]


def changes(recs):
    """[(db.table, op, before, after)] of every CHANGE row, in topic order."""
    out = []
    for r in recs:
        if r["type"] == "CHANGE":
            b = r["body"]
            for row in b["rows"]:
                out.append((f'{b["db"]}.{b["table"]}', b["op"], image(row["before"]),
                            image(row["after"])))
    return out


def n_commits(recs):
    return sum(r["type"] == "COMMIT" for r in recs)


@pytest.fixture
def db(mysql_conn, unique_name):
    name = unique_name("my")
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE DATABASE `{name}`")
    yield name
    with mysql_conn.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS `{name}`")


def new_collector(bin_dir, stack, tmp_path, unique_name, start, **extra):
    return Collector(bin_dir, stack, tmp_path, unique_name("src"), unique_name("it"), start,
                     **extra)


# ------------------------------------------------------------------ (a) workload

def test_it_mysql_collector_workload_exact_order(stack, bin_dir, tmp_path, unique_name,
                                                 mysql_conn, db):
    m = mysql_conn
    with m.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.a (id INT PRIMARY KEY, v VARCHAR(20))")
        c.execute(f"CREATE TABLE `{db}`.b (k BIGINT UNSIGNED PRIMARY KEY, d DECIMAL(10,2))")
        c.execute(f"CREATE TABLE `{db}`.c (id INT PRIMARY KEY, t TEXT)")
    start = master_pos(m)
    expected_txns = []
    m.autocommit(False)
    with m.cursor() as c:
        # txn 1: two tables
        c.execute(f"INSERT INTO `{db}`.a VALUES (1,'one'),(2,'two')")
        c.execute(f"INSERT INTO `{db}`.b VALUES (18446744073709551615, 12.50)")
        m.commit()
        expected_txns.append([(f"{db}.a", "INSERT", None, [1, "one"]),
                              (f"{db}.a", "INSERT", None, [2, "two"]),
                              (f"{db}.b", "INSERT", None, [18446744073709551615, "12.50"])])
        # txn 2: update + delete
        c.execute(f"UPDATE `{db}`.a SET v='uno' WHERE id=1")
        c.execute(f"DELETE FROM `{db}`.a WHERE id=2")
        m.commit()
        expected_txns.append([(f"{db}.a", "UPDATE", [1, "one"], [1, "uno"]),
                              (f"{db}.a", "DELETE", [2, "two"], None)])
        # a rolled-back transaction gives nothing
        c.execute(f"INSERT INTO `{db}`.c VALUES (99,'never')")
        m.rollback()
        # txn 3: third table, unicode, NULL
        c.execute(f"INSERT INTO `{db}`.c VALUES (1,'h\u00e9llo \u2603'),(2,NULL)")
        c.execute(f"UPDATE `{db}`.b SET d=-0.01")
        m.commit()
        expected_txns.append([(f"{db}.c", "INSERT", None, [1, "h\u00e9llo \u2603"]),
                              (f"{db}.c", "INSERT", None, [2, None]),
                              (f"{db}.b", "UPDATE", [18446744073709551615, "12.50"],
                               [18446744073709551615, "-0.01"])])
    m.autocommit(True)
    # more autocommit transactions while the collector runs
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start,
                        tables_include=re.escape(db) + r"\..*").start()
    try:
        with m.cursor() as c:
            for i in range(3, 8):
                c.execute(f"INSERT INTO `{db}`.a VALUES ({i}, 'v{i}')")
                expected_txns.append([(f"{db}.a", "INSERT", None, [i, f"v{i}"])])
        recs = wait_for(stack, col.topic, lambda rs: n_commits(rs) >= len(expected_txns))
    finally:
        assert col.stop() == 0, col.text()

    # FINISH first, at the start position
    assert recs[0]["type"] == "FINISH" and recs[0]["body"]["reason"] == "start"
    f, p = start.rsplit(":", 1)
    assert (recs[0]["pos"]["file"], recs[0]["pos"]["offset"]) == (f, int(p))
    # transactions, in order, each closed by one COMMIT with its row count
    got, cur, seen_schema = [], [], set()
    last = None
    for r in recs[1:]:
        k = pos_key(r["pos"])
        assert last is None or k >= last, f"position going backwards at {r}"
        last = k
        if r["type"] == "SCHEMA":
            seen_schema.add(f'{r["body"]["db"]}.{r["body"]["table"]}')
        elif r["type"] == "CHANGE":
            t = f'{r["body"]["db"]}.{r["body"]["table"]}'
            assert t in seen_schema, f"CHANGE of {t} before its SCHEMA"
            assert r["body"]["txn"] and r["body"]["schemaId"]
            cur += changes([r])
        elif r["type"] == "COMMIT":
            assert r["body"]["rows"] == len(cur)
            assert r["body"]["txn"] == r["pos"]["gtid"] and r["body"]["txn"]
            got.append(cur)
            cur = []
    assert cur == [], "rows after the last COMMIT"
    assert got == expected_txns

    # shiftlog cat decodes the same messages with the same positions and headers
    p = subprocess.run([str(bin_dir / "shiftlog"), "cat", "-b", stack["SL_KAFKA_BROKERS"],
                        "--from-beginning", "--exit-at-end", col.topic],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    assert len(lines) == len(recs)
    for line, r in zip(lines, recs):
        assert line["record"]["type"] == r["type"].lower()
        assert line["record"]["pos"]["offset"] == r["pos"]["offset"]
        h = line["headers"]
        assert h["sl.source"] == col.source and h["sl.pos"] == line["record"]["pos"]["text"]
        assert h["sl.schema"] == slavro.fingerprint_hex()
        if r["type"] == "CHANGE":
            assert line["key"] == h["sl.table"] == f'{r["body"]["db"]}.{r["body"]["table"]}'
            assert h["sl.op"] == r["body"]["op"].lower()
        else:
            assert h["sl.op"] == r["type"].lower()


def test_it_mysql_collector_batches_consecutive_statements(stack, bin_dir, tmp_path, unique_name,
                                                          mysql_conn, db):
    """Consecutive rows events of one table and op inside a transaction share CHANGE batches
    of at most batch.max.rows rows (a transaction of single-row statements is not one Kafka
    message per row); another table or op starts a new batch; positions stay unique and in
    order, and COMMIT counts every row."""
    m = mysql_conn
    with m.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.a (id INT PRIMARY KEY, v INT)")
        c.execute(f"CREATE TABLE `{db}`.b (id INT PRIMARY KEY)")
    start = master_pos(m)
    m.autocommit(False)
    with m.cursor() as c:
        for i in range(10):
            c.execute(f"INSERT INTO `{db}`.a VALUES ({i}, 0)")
        c.execute(f"INSERT INTO `{db}`.b VALUES (1)")
        for i in range(10, 15):
            c.execute(f"INSERT INTO `{db}`.a VALUES ({i}, 0)")
        for i in range(3):
            c.execute(f"UPDATE `{db}`.a SET v = 1 WHERE id = {i}")
        m.commit()
        c.execute(f"INSERT INTO `{db}`.a VALUES (100, 0)")   # the next transaction: its own batch
        m.commit()
    m.autocommit(True)
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start,
                        tables_include=re.escape(db) + r"\..*", batch_max_rows=4).start()
    try:
        recs = wait_for(stack, col.topic, lambda rs: n_commits(rs) >= 2)
    finally:
        assert col.stop() == 0, col.text()
    shape = [(r["body"]["table"], r["body"]["op"], len(r["body"]["rows"])) if r["type"] == "CHANGE"
             else (r["type"], r["body"]["rows"]) for r in recs if r["type"] in ("CHANGE", "COMMIT")]
    assert shape == [("a", "INSERT", 4), ("a", "INSERT", 4), ("a", "INSERT", 2), ("b", "INSERT", 1),
                     ("a", "INSERT", 4), ("a", "INSERT", 1), ("a", "UPDATE", 3), ("COMMIT", 19),
                     ("a", "INSERT", 1), ("COMMIT", 1)], shape
    ids = [row[3][0] for row in changes(recs) if row[1] == "INSERT" and row[0].endswith(".a")]
    assert ids == list(range(15)) + [100]
    keys = [pos_key(r["pos"], r["pos"]["row"] + i) for r in recs if r["type"] == "CHANGE"
            for i in range(len(r["body"]["rows"]))]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == 20


# ------------------------------------------------------------------ (b) kill -9

def checkpoints(stack, prefix, source):
    out = []
    for _, key, _, value in read_topic(stack, f"{prefix}._offsets"):
        if key == source.encode() and value:
            out.append(json.loads(value))
    return out


class TopicTail:
    """Reads partition 0 of a topic incrementally (read_committed): each more() appends the
    records that arrived since the last call, up to the end, to self.recs."""

    def __init__(self, stack, topic):
        from confluent_kafka import Consumer, TopicPartition
        self.c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"],
                           "group.id": "tail-" + topic, "enable.partition.eof": True,
                           "enable.auto.commit": False, "isolation.level": "read_committed",
                           "auto.offset.reset": "earliest"})
        self.c.assign([TopicPartition(topic, 0, 0)])
        self.recs = []

    def more(self, timeout=30):
        self.recs.extend(slavro.decode(m.value()) for m in poll_to_eof(self.c, timeout, 0.5,
                                                                       strict=False)
                         if m.value() is not None)
        return self.recs

    def close(self):
        self.c.close()


KILL9_ROWS = 100_000


@pytest.mark.parametrize("rounds", [100 if LONG else 20])
def test_it_mysql_collector_kill9_exactly_once(stack, bin_dir, tmp_path, unique_name,
                                               mysql_conn, db, rounds):
    """kill -9 of the collector `rounds` times (20; 100 with SHIFTLOG_LONG), at random
    instants 0.3-2 s apart, while a 100k-row workload (transactions of 4 INSERTs x 5 rows)
    runs, paced to last about as long as the kills: deduplicated by source position, the
    topic holds every row exactly once, in order, no gap; every stored checkpoint is a
    COMMIT/FINISH position the topic holds."""
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.k (id INT PRIMARY KEY, g INT, pad VARCHAR(64))")
    start = master_pos(mysql_conn)
    stmts, rows_per = 4, 5
    n_txn = KILL9_ROWS // (stmts * rows_per)
    total = n_txn * stmts * rows_per
    spread = rounds * 1.35                 # seconds the workload is paced over (~ the kills)
    done = threading.Event()
    errors = []
    wl = {}

    def workload():
        try:
            conn = mysql_connect(stack)
            conn.autocommit(False)
            t_wl = time.monotonic()
            with conn.cursor() as c:
                i = 0
                for t in range(n_txn):
                    for _ in range(stmts):
                        vals = ",".join(f"({i + j},{t},REPEAT('x',{(i + j) % 60}))"
                                        for j in range(rows_per))
                        c.execute(f"INSERT INTO `{db}`.k VALUES {vals}")
                        i += rows_per
                    conn.commit()
                    ahead = t_wl + spread * (t + 1) / n_txn - time.monotonic()
                    if ahead > 0.005:
                        time.sleep(ahead)
            wl["s"] = time.monotonic() - t_wl
            conn.close()
        except Exception as e:  # pragma: no cover - reported by the test
            errors.append(e)
        finally:
            done.set()

    # lease = false: a restart right after kill -9 would wait as a standby for lease.ttl.ms
    # (the lease is proven in test_collector_lease.py; exactly once here is the transactions')
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start, lease="false",
                        tables_include=re.escape(db) + r"\..*", batch_max_rows=3,
                        txn_max_ms=50)
    th = threading.Thread(target=workload)
    t0 = time.monotonic()
    th.start()
    rng = random.Random()
    tail = TopicTail(stack, col.topic)
    rows_at_kill = []
    try:
        for _ in range(rounds):
            col.start(wait=False)
            time.sleep(rng.uniform(0.3, 2.0))
            col.proc.kill()
            col.proc.wait()
            col.logf.close()
            rows_at_kill.append(None if done.is_set() else "running")
        t_kills = time.monotonic() - t0
        th.join()
        assert not errors, errors
        col.start()
        seen, deadline = set(), time.monotonic() + 120
        while len(seen) < total:
            assert time.monotonic() < deadline, f"{len(seen)} of {total} rows after 120 s"
            n = len(tail.recs)
            tail.more()
            seen.update(rows_by_pos(tail.recs[n:]))
        t_caught = time.monotonic() - t0
    finally:
        done.wait()
        col.stop()
        tail.close()
    recs = tail.recs

    # dedup by source position: every row exactly once, no gap, same content for duplicates
    by_pos = {}
    for key, row in rows_by_pos_items(recs):
        if key in by_pos:
            assert by_pos[key] == row, f"two different rows at position {key}"
        by_pos[key] = row
    ids = sorted(row[0] for row in by_pos.values())
    published = sum(1 for _ in rows_by_pos(recs))
    during = rows_at_kill.count("running")
    print(f"\nkill -9: {rounds} kills ({during} while the workload ran, over {t_kills:.1f} s), "
          f"{total} changes written in {wl.get('s', 0):.1f} s, {published} rows published "
          f"({published - len(by_pos)} duplicates before dedup), {len(recs)} records, "
          f"{sum(r['type'] == 'FINISH' for r in recs)} FINISH, caught up at "
          f"{t_caught:.1f} s, test {time.monotonic() - t0:.1f} s")
    assert ids == list(range(total)), "missing or extra rows after dedup"
    # in position order the ids are the insertion order
    in_order = [by_pos[k][0] for k in sorted(by_pos)]
    assert in_order == list(range(total))
    # the kills fell inside the workload (it is paced to last as long as they do)
    assert during >= rounds // 2, rows_at_kill
    # a FINISH opens every run that got to publish
    assert sum(r["type"] == "FINISH" for r in recs) >= 2
    # every stored checkpoint is a COMMIT or FINISH position the topic holds
    marks = {pos_key(r["pos"]) for r in recs if r["type"] in ("COMMIT", "FINISH")}
    cps = checkpoints(stack, col.prefix, col.source)
    assert cps, "no checkpoint stored"
    for cp in cps:
        m = re.fullmatch(r"(.+):(\d+)#(\d+)(?:@.*)?", cp["pos"])
        f, off, row = m[1], int(m[2]), int(m[3])
        seq = int(re.search(r"(\d+)$", f)[1])
        assert (seq, off, row) in marks, f"checkpoint {cp['pos']} is not a marker in the topic"


def rows_by_pos_items(recs):
    for r in recs:
        if r["type"] == "CHANGE":
            p = r["pos"]
            for i, row in enumerate(r["body"]["rows"]):
                yield (p["seq"], p["offset"], p["row"] + i), image(row["after"])


def rows_by_pos(recs):
    return (k for k, _ in rows_by_pos_items(recs))


# ------------------------------------------------------------------ (c) big transaction

QUEUE_KB = 8192


def test_it_mysql_collector_big_txn_bounded_memory(stack, bin_dir, tmp_path, unique_name,
                                                   mysql_conn, db):
    n = 200_000
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.big (id INT PRIMARY KEY, pad CHAR(200))")
    start = master_pos(mysql_conn)
    # the producer queue is the one buffer that can grow with a transaction; bound it tightly
    # so the check below measures the collector, not how fast the broker acknowledges
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start,
                        tables_include=re.escape(db) + r"\..*", batch_max_rows=1000,
                        kafka_queue_buffering_max_kbytes=QUEUE_KB).start()
    try:
        base = col.peak_rss_kb()
        with mysql_conn.cursor() as c:
            # one transaction, 200k rows (~44 MB of row images in the binlog)
            c.execute(f"USE `{db}`")           # the sequence engine's seq_1_to_N
            c.execute(f"INSERT INTO big SELECT seq, REPEAT('p', 200) FROM seq_1_to_{n}")
        recs = wait_for(stack, col.topic, lambda rs: n_commits(rs) >= 1, timeout=180)
        peak = col.peak_rss_kb()
    finally:
        assert col.stop() == 0, col.text()
    rows = [r for r in recs if r["type"] == "CHANGE"]
    assert sum(len(r["body"]["rows"]) for r in rows) == n
    assert max(len(r["body"]["rows"]) for r in rows) <= 1000
    commit = [r for r in recs if r["type"] == "COMMIT"]
    assert len(commit) == 1 and commit[0]["body"]["rows"] == n
    print(f"\nbig transaction: {n} rows, {len(rows)} batches, RSS before {base} kB, "
          f"peak {peak} kB")
    # holding the transaction would take > 44 MB on top of the base; what is bounded is the
    # producer queue (QUEUE_KB) plus one batch and librdkafka's request buffers
    assert peak - base < QUEUE_KB + 16_000, f"peak RSS grew by {peak - base} kB"


# ------------------------------------------------------------------ (d) preflight

def run_once(col, timeout=30):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTLOG_")}
    return subprocess.run([str(col.bin), "-c", str(col.conf), "-X", "http.listen=off"],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_it_mysql_collector_preflight_missing_grant(stack, bin_dir, tmp_path, unique_name,
                                                    mysql_conn):
    user = unique_name("u")[:32]
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'pw'")
        c.execute(f"GRANT SELECT ON *.* TO '{user}'@'127.0.0.1'")
    try:
        col = new_collector(bin_dir, stack, tmp_path, unique_name, "earliest",
                            source_user=user, source_password="pw")
        r = run_once(col)
        assert r.returncode == 1, r.stderr
        assert f"user '{user}'@'127.0.0.1' lacks REPLICATION SLAVE and BINLOG MONITOR" \
            in r.stderr
        assert (f"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{user}'@'127.0.0.1'"
                in r.stderr)
    finally:
        with mysql_conn.cursor() as c:
            c.execute(f"DROP USER '{user}'@'127.0.0.1'")


def test_it_mysql_collector_preflight_start_position(stack, bin_dir, tmp_path, unique_name,
                                                     mysql_conn):
    f = master_pos(mysql_conn).rsplit(":", 1)[0]
    gone = re.sub(r"\d+$", lambda m: "0" * len(m[0]), f)   # binlog.000000: never on the server
    col = new_collector(bin_dir, stack, tmp_path, unique_name, f"{gone}:4")
    r = run_once(col)
    assert r.returncode == 1, r.stderr
    assert f"start.position {gone}:4 is not on the server" in r.stderr
    assert "SHOW BINARY LOGS" in r.stderr
    col = new_collector(bin_dir, stack, tmp_path, unique_name, "yesterday")
    r = run_once(col)
    assert r.returncode == 1, r.stderr
    assert 'start.position "yesterday" is not earliest, latest, file:pos' in r.stderr


def purge_to_new_binlog(cursor, timeout=20):
    """FLUSH BINARY LOGS, then PURGE every older file; returns the files left (the current one
    alone, unless the timeout passed). MariaDB keeps a file a binlog dump thread still reads (a
    collector's, until it has read the rotation or the server noticed it left): purge again
    until it has moved on."""
    cursor.execute("FLUSH BINARY LOGS")
    cursor.execute("SHOW MASTER STATUS")
    current = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    while True:
        cursor.execute(f"PURGE BINARY LOGS TO '{current}'")
        cursor.execute("SHOW BINARY LOGS")
        files = [r[0] for r in cursor.fetchall()]
        if files == [current] or time.monotonic() > deadline:
            return files
        time.sleep(0.2)


@contextlib.contextmanager
def private_mariadb(*settings):
    """A private, throw-away MariaDB (mariadb-install-db into a temp dir, a free random port,
    `root`@127.0.0.1 and a `cdc`@127.0.0.1 user with the collector's grants, both with password
    "pw"), started with the given my.cnf lines and removed on exit; the shared server is not
    touched. Yields (port, password)."""
    import socket
    d = Path(tempfile.mkdtemp(prefix="mypriv", dir="/tmp"))
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port = so.getsockname()[1]
    cnf = d / "my.cnf"
    cnf.write_text(f"""[client-server]
port = {port}
socket = {d}/sock
[mariadbd]
user = root
datadir = {d}/data
pid-file = {d}/pid
log-error = {d}/err
bind-address = 127.0.0.1
skip-name-resolve
server_id = 7
log_bin = binlog
innodb_buffer_pool_size = 16M
""" + "".join(f"{x}\n" for x in settings))
    proc = None
    try:
        subprocess.run(["mariadb-install-db", f"--defaults-file={cnf}",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)
        proc = subprocess.Popen(["mariadbd", f"--defaults-file={cnf}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cli = ["mariadb", f"--defaults-file={cnf}", "--protocol=socket", "-uroot"]
        deadline = time.monotonic() + 60
        while subprocess.run(cli + ["-e", "SELECT 1"], capture_output=True).returncode:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"private MariaDB did not start:\n"
                                     f"{(d / 'err').read_text() if (d / 'err').exists() else ''}")
            time.sleep(0.2)
        subprocess.run(cli + ["-e", "CREATE USER cdc@'127.0.0.1' IDENTIFIED BY 'pw'; "
                              "GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT, RELOAD, "
                              "SHOW DATABASES ON *.* TO cdc@'127.0.0.1'; "
                              "CREATE USER root@'127.0.0.1' IDENTIFIED BY 'pw'; "
                              "GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION"],
                       check=True, capture_output=True)
        yield port, "pw"
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_it_mysql_collector_latest_under_writes(stack, bin_dir, tmp_path, unique_name, db):
    """start.position = latest while the binlog grows: the position SHOW MASTER STATUS gives is
    the server's own end, never "past the end of that binlog" because the binlog list was read
    a moment before it (seen as a refused start under load, exit 1: "wrong server, or the
    binlog was reset")."""
    stop = threading.Event()

    def writer():
        conn = mysql_connect(stack)
        with conn.cursor() as c:
            c.execute(f"CREATE TABLE IF NOT EXISTS `{db}`.w (id INT AUTO_INCREMENT PRIMARY KEY, "
                      "v VARCHAR(200))")
            while not stop.is_set():
                c.execute(f"INSERT INTO `{db}`.w (v) VALUES (REPEAT('x', 200))")
        conn.close()
    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(5):              # the unfixed code failed at the first, under load
            col = Collector(bin_dir, stack, tmp_path, f"{unique_name('src')}_{i}",
                            unique_name("it"), "latest", tables_include=rf"{db}\.none",
                            lease="false")
            col.start()
            col.stop()
            assert "past the end of that binlog" not in col.text(), col.text()
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_it_mysql_collector_preflight_statement_format(stack, bin_dir, tmp_path, unique_name):
    """binlog_format=STATEMENT on a private, throw-away MariaDB (the shared one stays ROW)."""
    with private_mariadb("binlog_format = STATEMENT") as (port, pw):
        col = new_collector(bin_dir, stack, tmp_path, unique_name, "latest",
                            source_port=port, source_user="cdc", source_password=pw)
        r = run_once(col)
    assert r.returncode == 1, r.stderr
    assert "binlog_format is STATEMENT, shiftlog needs ROW (SET GLOBAL binlog_format = ROW" \
        in r.stderr


# ------------------------------------------------------------------ (e) DDL

def test_it_mysql_collector_ddl_mid_stream(stack, bin_dir, tmp_path, unique_name, mysql_conn,
                                           db):
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.d (id INT PRIMARY KEY, a VARCHAR(10))")
    start = master_pos(mysql_conn)
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start,
                        tables_include=re.escape(db) + r"\..*").start()
    try:
        with mysql_conn.cursor() as c:
            c.execute(f"INSERT INTO `{db}`.d VALUES (1, 'before')")
            c.execute(f"ALTER TABLE `{db}`.d ADD COLUMN b INT NOT NULL DEFAULT 7, "
                      "ADD COLUMN e ENUM('x','it''s','c,d'), ADD COLUMN s SET('p','q')")
            c.execute(f"INSERT INTO `{db}`.d VALUES (2, 'after', 42, 'c,d', 'p,q')")
        recs = wait_for(stack, col.topic, lambda rs: n_commits(rs) >= 3)
    finally:
        assert col.stop() == 0, col.text()
    kinds = [(r["type"], len(r["body"].get("columns") or []) if r["type"] != "FINISH" else 0)
             for r in recs]
    schemas = [r for r in recs if r["type"] == "SCHEMA"]
    ddl = [s for s in schemas if s["body"]["ddl"]]
    assert len(ddl) == 1 and "ADD COLUMN b" in ddl[0]["body"]["ddl"], kinds
    assert [c["name"] for c in ddl[0]["body"]["columns"]] == ["id", "a", "b", "e", "s"]
    # ENUM/SET labels come with the DDL's schema (a target creates the column from them)
    labels = {c["name"]: c["labels"] for c in ddl[0]["body"]["columns"]}
    assert labels["e"] == ["x", "it's", "c,d"] and labels["s"] == ["p", "q"], labels
    i_ddl = recs.index(ddl[0])
    before = [r for r in recs[:i_ddl] if r["type"] == "CHANGE"]
    after = [r for r in recs[i_ddl:] if r["type"] == "CHANGE"]
    assert changes(before) == [(f"{db}.d", "INSERT", None, [1, "before"])]
    assert changes(after) == [(f"{db}.d", "INSERT", None, [2, "after", 42, "c,d", ["p", "q"]])]
    assert after[0]["body"]["columns"] == ["id", "a", "b", "e", "s"]
    # the binlog's own view of the new definition is published before the new rows
    i_after = recs.index(after[0])
    fresh = [r for r in recs[i_ddl + 1:i_after] if r["type"] == "SCHEMA"]
    assert fresh and [c["name"] for c in fresh[-1]["body"]["columns"]] == ["id", "a", "b", "e", "s"]
    assert after[0]["body"]["schemaId"] != before[0]["body"]["schemaId"]
    assert pos_key(ddl[0]["pos"]) < pos_key(after[0]["pos"])


# ------------------------------------------------------------------ (f) table filter

def test_it_mysql_collector_table_filter(stack, bin_dir, tmp_path, unique_name, mysql_conn, db):
    with mysql_conn.cursor() as c:
        for t in ("keep", "drop_me", "other"):
            c.execute(f"CREATE TABLE `{db}`.{t} (id INT PRIMARY KEY)")
    start = master_pos(mysql_conn)
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start,
                        tables_include=f"{re.escape(db)}\\.(keep|drop_.*)",
                        tables_exclude=f"{re.escape(db)}\\.drop_me")
    with mysql_conn.cursor() as c:
        for t in ("keep", "drop_me", "other"):
            c.execute(f"INSERT INTO `{db}`.{t} VALUES (1)")
        c.execute(f"INSERT INTO `{db}`.keep VALUES (2)")
    col.start()
    try:
        recs = wait_for(stack, col.topic, lambda rs: n_commits(rs) >= 2)
        time.sleep(1)
        recs = records(stack, col.topic)
    finally:
        assert col.stop() == 0, col.text()
    assert changes(recs) == [(f"{db}.keep", "INSERT", None, [1]),
                             (f"{db}.keep", "INSERT", None, [2])]
    assert {f'{r["body"]["db"]}.{r["body"]["table"]}' for r in recs
            if r["type"] == "SCHEMA"} == {f"{db}.keep"}
    assert n_commits(recs) == 2


def test_it_mysql_collector_crosses_binlog_files(stack, bin_dir, tmp_path, unique_name,
                                                 mysql_conn, db):
    """Started in one binlog file, the collector follows the server into the next ones.
    libmariadb 3.3 mis-parses the fake ROTATE sent at the file switch (filename "0"); the
    collector reads the ROTATE from the raw event, so positions stay (file seq, offset)."""
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    start = master_pos(mysql_conn)
    with mysql_conn.cursor() as c:
        c.execute(f"INSERT INTO `{db}`.t VALUES (1)")
        c.execute("FLUSH BINARY LOGS")
        c.execute(f"INSERT INTO `{db}`.t VALUES (2)")
        c.execute("FLUSH BINARY LOGS")
        c.execute(f"INSERT INTO `{db}`.t VALUES (3)")
    end = master_pos(mysql_conn)
    # the filter keeps other tests' changes (same server, same binlog) out of the topic
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start,
                        tables_include=re.escape(db) + r"\..*")
    col.start()
    try:
        recs = wait_for(stack, col.topic, lambda rs: n_commits(rs) >= 3, timeout=90)
    finally:
        assert col.stop() == 0, col.text()
    assert changes(recs) == [(f"{db}.t", "INSERT", None, [i]) for i in (1, 2, 3)]
    seqs = [r["pos"]["seq"] for r in recs if r["type"] == "CHANGE"]
    first = int(start.split(":")[0].rsplit(".", 1)[1])
    assert seqs == [first, first + 1, first + 2], seqs
    assert [r["pos"]["file"] for r in recs if r["type"] == "CHANGE"][-1] == end.split(":")[0]
    keys = [pos_key(r["pos"]) for r in recs]
    assert keys == sorted(keys)
    assert "backwards" not in col.text()


# ------------------------------------------------------------------ (g) Kafka down, then back

def http_port(col, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"serving /health and /metrics on [\d.]+:(\d+)", col.text())
        if m:
            return int(m[1])
        time.sleep(0.05)
    raise AssertionError(f"no http port in the log:\n{col.text()}")


def http_get(port, path, timeout=5):
    """(status, body) of GET http://127.0.0.1:port/path (an error status is not raised)."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(port):
    """/metrics as {(name, frozenset(labels.items())): value}."""
    status, body = http_get(port, "/metrics")
    assert status == 200, body
    out = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?', line)
        assert m, f"bad metrics line {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m[2] or ""))
        out[(m[1], labels)] = float(m[3])
    return out


def metric(ms, name, **labels):
    return ms.get((name, frozenset((k, str(v)) for k, v in labels.items())))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Workload(threading.Thread):
    """Autocommit-off transactions of `rows` rows into db.<table> (id, g, pad) until stopped;
    ids 0, 1, 2, ... in commit order. self.n = rows committed so far."""

    def __init__(self, stack, db, table="o", rows=4, pause=0.004):
        super().__init__(daemon=True)
        self.stack, self.db, self.table, self.rows, self.pause = stack, db, table, rows, pause
        self.n, self.txns, self.errors = 0, 0, []
        self.halt = threading.Event()

    def run(self):
        try:
            conn = mysql_connect(self.stack)
            conn.autocommit(False)
            with conn.cursor() as c:
                while not self.halt.is_set():
                    i = self.n
                    vals = ",".join(f"({i + j},{self.txns},REPEAT('y',{(i + j) % 64}))"
                                    for j in range(self.rows))
                    c.execute(f"INSERT INTO `{self.db}`.`{self.table}` VALUES {vals}")
                    conn.commit()
                    self.n += self.rows
                    self.txns += 1
                    time.sleep(self.pause)
            conn.close()
        except Exception as e:  # pragma: no cover - reported by the test
            self.errors.append(e)

    def stop(self):
        self.halt.set()
        self.join(timeout=30)
        assert not self.errors, self.errors
        return self.n


def check_exactly_once(recs, total):
    """Deduplicated by source position: ids 0..total-1 exactly once, in position order, same
    content for a position published twice. Returns (rows published, duplicates)."""
    by_pos, published = {}, 0
    for key, row in rows_by_pos_items(recs):
        published += 1
        if key in by_pos:
            assert by_pos[key] == row, f"two different rows at position {key}"
        by_pos[key] = row
    in_order = [by_pos[k][0] for k in sorted(by_pos)]
    missing = sorted(set(range(total)) - set(in_order))
    assert not missing, f"{len(missing)} rows missing after dedup, first {missing[:10]}"
    assert in_order == list(range(total)), "extra or out-of-order rows after dedup"
    return published, published - len(by_pos)


OUTAGE_S = 180 if LONG else 15


@pytest.mark.parametrize("transactional", [True, False] if LONG else [True],
                         ids=lambda t: "txn" if t else "idempotent")
def test_it_mysql_collector_kafka_outage(stack, bin_dir, tmp_path, unique_name, mysql_conn, db,
                                         transactional):
    """A private broker is SIGKILLed under a running workload for OUTAGE_S seconds (15 s;
    180 s with SHIFTLOG_LONG, longer than the 120 s Kafka transaction timeout), then started
    again on the same dir and ports: the collector's RSS stays flat, it stops reading the
    binlog (backpressure), /ready answers 503 with the reason (/health stays 200: a restart
    would not bring Kafka back), and afterwards the topic,
    deduplicated by position, holds every change exactly once with no gap."""
    from kafka_private import PrivateKafka
    t_begin = time.monotonic()
    kafka = PrivateKafka(stack, tmp_path / "kafka").start()
    kstack = dict(stack, SL_KAFKA_BROKERS=kafka.bootstrap)
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.o (id INT PRIMARY KEY, g INT, pad VARCHAR(64))")
    start = master_pos(mysql_conn)
    col = new_collector(bin_dir, kstack, tmp_path, unique_name, start,
                        tables_include=re.escape(db) + r"\..*",
                        kafka_transactional="true" if transactional else "false",
                        txn_max_ms=200)
    wl = Workload(stack, db)
    health, live, rss, reads, figures = [], [], [], [], {}
    try:
        col.start()
        port = http_port(col)
        wl.start()
        # running: rows reach the topic
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ms = scrape(port)
            if (metric(ms, "shiftlog_collector_rows_total", table=f"{db}.o") or 0) > 500 and \
                    (metric(ms, "shiftlog_collector_checkpoint_offset") or 0) > 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no progress before the outage:\n{col.text()}")
        assert http_get(port, "/health")[0] == 200
        rss_before = rss_kb(col.proc.pid)
        rows_at_kill = wl.n

        kafka.kill()
        t_kill = time.monotonic()
        while time.monotonic() - t_kill < OUTAGE_S:
            assert col.proc.poll() is None, f"collector exited:\n{col.text()}"
            rss.append(rss_kb(col.proc.pid))
            health.append(http_get(port, "/ready"))
            live.append(http_get(port, "/health")[0])
            reads.append(metric(scrape(port), "shiftlog_collector_read_offset"))
            time.sleep(0.5)
        rows_during = wl.n - rows_at_kill

        kafka.start()
        t_up = time.monotonic()
        total = wl.stop()
        recs = wait_for(kstack, col.topic,
                        lambda rs: len(set(rows_by_pos(rs))) >= total, timeout=120)
        catch_up = time.monotonic() - t_up
        assert http_get(port, "/health")[0] == 200, col.text()
    finally:
        wl.halt.set()
        col.stop()
        kafka.stop()

    published, dups = check_exactly_once(recs, total)
    unhealthy = [b for s, b in health if s == 503]
    figures = dict(outage_s=OUTAGE_S, rows_total=total, rows_during_outage=rows_during,
                   rss_before_kb=rss_before, rss_outage_min_kb=min(rss),
                   rss_outage_max_kb=max(rss), health_503=f"{len(unhealthy)}/{len(health)}",
                   kafka_restart_s=round(kafka.ready_s, 1), catch_up_s=round(catch_up, 1),
                   published=published, duplicates=dups,
                   finish=sum(r["type"] == "FINISH" for r in recs),
                   test_s=round(time.monotonic() - t_begin, 1))
    print(f"\nKafka outage ({'transactional' if transactional else 'idempotent'}): {figures}")
    print("health during the outage:", unhealthy[-1] if unhealthy else health[-1])
    # the workload went on during the outage and the collector stopped reading it
    assert rows_during > 1000, figures
    assert reads[-1] == reads[len(reads) // 2], "still reading the binlog late in the outage"
    # memory flat: bounded by the producer queue, not by what the source wrote meanwhile
    assert max(rss) - rss_before < 40_000, figures
    # /ready reported the outage, with the reason; /health said alive all along
    assert unhealthy, f"/ready never answered 503 during the outage: {health[-3:]}"
    assert set(live) == {200}, f"/health during the outage: {live}"
    assert "unhealthy" in unhealthy[-1] and "Kafka" in unhealthy[-1]
    # every resume started from the stored checkpoint (not from start.position), and a
    # transactional producer's aborted attempts stay invisible: no duplicate at all
    # (the lease may be lost during the outage too: the reader then starts again, from the
    # checkpoint, once the lease is back)
    text = col.text()
    found = len(re.findall(r"checkpoint found", text))
    reads = len(re.findall(r"(started|resumed) reading the binlog", text))
    assert reads >= 2 and found == reads - 1, text
    if transactional:
        assert dups == 0, figures


# ------------------------------------------------------------------ (h) /metrics

def test_it_mysql_collector_metrics(stack, bin_dir, tmp_path, unique_name, mysql_conn, db):
    """/metrics during a workload on two tables: events (counter, so events/s = its rate),
    lag in ms, per-table row counts, the checkpoint position and the producer queue depth
    are there and move; once the workload stops, the per-table counts equal the rows written
    and the checkpoint reaches the last COMMIT published."""
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.m1 (id INT PRIMARY KEY, g INT, pad VARCHAR(64))")
        c.execute(f"CREATE TABLE `{db}`.m2 (id INT PRIMARY KEY, g INT, pad VARCHAR(64))")
    start = master_pos(mysql_conn)
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start,
                        tables_include=re.escape(db) + r"\..*", txn_max_ms=100).start()
    w1, w2 = Workload(stack, db, "m1", rows=5), Workload(stack, db, "m2", rows=2, pause=0.01)
    t1, t2 = f"{db}.m1", f"{db}.m2"
    try:
        port = http_port(col)
        w1.start()
        w2.start()
        samples = []
        for _ in range(8):
            time.sleep(0.75)
            samples.append((time.monotonic(), scrape(port)))
        n1, n2 = w1.stop(), w2.stop()
        # caught up: every row published; the checkpoint at the last COMMIT (other tests'
        # transactions on the shared server are filtered out and move no checkpoint)
        recs = wait_for(stack, col.topic, lambda rs: n_commits(rs) >= w1.txns + w2.txns)
        end = [r["pos"] for r in recs if r["type"] == "COMMIT"][-1]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            last = scrape(port)
            if (metric(last, "shiftlog_collector_checkpoint_seq"),
                    metric(last, "shiftlog_collector_checkpoint_offset")) == \
                    (end["seq"], end["offset"]):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"checkpoint not at the last COMMIT {end}: {last}")
    finally:
        w1.halt.set()
        w2.halt.set()
        assert col.stop() == 0, col.text()

    (ta, a), (tb, b) = samples[0], samples[-1]
    names = {name for name, _ in b}
    for name in ("shiftlog_collector_events_total", "shiftlog_collector_lag_seconds",
                 "shiftlog_collector_rows_total", "shiftlog_collector_checkpoint_seq",
                 "shiftlog_collector_checkpoint_offset", "shiftlog_collector_producer_queue",
                 "shiftlog_collector_records_total", "shiftlog_collector_read_offset"):
        assert name in names, f"{name} missing from /metrics: {sorted(names)}"
    ev = "shiftlog_collector_events_total"
    events_per_s = (metric(b, ev) - metric(a, ev)) / (tb - ta)
    row_rates = {t: (metric(b, "shiftlog_collector_rows_total", table=t) -
                     (metric(a, "shiftlog_collector_rows_total", table=t) or 0)) / (tb - ta)
                 for t in (t1, t2)}
    lags = [metric(s, "shiftlog_collector_lag_seconds") for _, s in samples]
    queues = [metric(s, "shiftlog_collector_producer_queue") for _, s in samples]
    ckpts = [(metric(s, "shiftlog_collector_checkpoint_seq"),
              metric(s, "shiftlog_collector_checkpoint_offset")) for _, s in samples]
    reads = [(metric(s, "shiftlog_collector_read_seq"),
              metric(s, "shiftlog_collector_read_offset")) for _, s in samples]
    print(f"\n/metrics during the workload: events/s {events_per_s:.0f}, rows/s "
          f"{ {t: round(v) for t, v in row_rates.items()} }, lag s {lags}, producer queue "
          f"{queues}, checkpoint {ckpts[0]} -> {ckpts[-1]}, "
          f"kafka commits {metric(b, 'shiftlog_collector_kafka_commits_total')}")
    # events/s and per-table counts move
    assert events_per_s > 50, events_per_s
    assert row_rates[t1] > 0 and row_rates[t2] > 0, row_rates
    # the checkpoint moves forward and never passes what was read
    assert ckpts[-1] > ckpts[0], ckpts
    for ck, rd in zip(ckpts, reads):
        assert ck <= rd, (ck, rd)
    # lag: now - source event time, small while the collector keeps up
    assert all(x is not None and 0 <= x < 30 for x in lags), lags
    # producer queue depth: a gauge, bounded by the queue (2 x txn.max.messages, >= 10k)
    assert all(q is not None and 0 <= q <= 20_000 for q in queues), queues
    # once caught up: the per-table counts are exactly the rows written
    assert metric(last, "shiftlog_collector_rows_total", table=t1) == n1
    assert metric(last, "shiftlog_collector_rows_total", table=t2) == n2
    assert metric(last, "shiftlog_collector_records_total", type="finish") == 1
    assert metric(last, "shiftlog_collector_records_total", type="commit") == \
        w1.txns + w2.txns
