"""Snapshot rows (op READ, wire format v2) through shiftlog-applier into PostgreSQL, MariaDB and
the MongoDB stand-in, read back by psycopg2, pymysql and pymongo.

The records are made by fastavro (tests/it/slavro.encode), not by shiftlog's C writer, and
produced with confluent_kafka: the applier must read what the schema says, from any writer.
One topic carries, in position order, for the same keys: a v1 INSERT (a message written
before the upgrade), READ rows of keys the target already holds with other values (replaced,
no error), READ rows mixed with INSERT/UPDATE/DELETE in one transaction, a READ after a DELETE
(the row comes back), an UPDATE after a READ, a transaction cut by a FINISH (rolled back, then
applied in full once), and a READ re-published at an old position (skipped: a replay never
moves a row back). Each target must end with exactly the rows expected; none of it may go to
the dead-letter topic. The same workload through the miner and the shared log (source.type =
mongolog) ends the same. A READ that does not carry the whole row is refused to the DLQ with a
sentence that names op read. `shiftlog cat` reads v1 and v2 and names a v1 message carrying
READ."""

import json
import time

import pymongo
import pytest
from confluent_kafka import Producer

import slavro
from conftest import mysql_connect
from test_applier_pg import Applier, read_dlq, target_db, wait_offset  # noqa: F401

SRC = "rd"                   # source database of the records
COLS = [("id", "INT", "bigint(20)", False, 1), ("v", "STRING", "text", True, 0),
        ("n", "INT", "bigint(20)", True, 0)]


class Topic:
    """Hand-made records at increasing MySQL positions, produced as a collector does (key,
    sl.* headers); value = slavro.encode(rec, version)."""

    def __init__(self, stack, topic):
        self.topic = topic
        self.p = Producer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"]})
        self.off = 1000
        self.count = 0

    def _pos(self, off=None):
        return {"kind": "MYSQL", "seq": 1, "offset": self.off if off is None else off,
                "row": 0, "file": "binlog.000001", "gtid": ""}

    def _send(self, rec, key, op, version=slavro.WRITER_VERSION, table=None):
        value = slavro.encode(rec, version)
        h = [("sl.source", b"it"), ("sl.op", op.encode()),
             ("sl.pos", str(rec["pos"]["offset"]).encode()),
             ("sl.schema", slavro.fingerprint_hex(version).encode())]
        if table:
            h.append(("sl.table", table.encode()))
        self.p.produce(self.topic, value=value, key=key.encode(), headers=h, partition=0)
        self.count += 1

    def schema(self, table):
        cols = [{"name": n, "kind": k, "sourceType": st, "nullable": nul, "precision": 0,
                 "scale": 0, "charset": None, "labels": [], "pk": pk}
                for n, k, st, nul, pk in COLS]
        rec = {"type": "SCHEMA", "source": "it", "pos": self._pos(),
               "body": {"db": SRC, "table": table, "columns": cols, "ddl": None}}
        self._send(rec, f"{SRC}.{table}", "schema", table=f"{SRC}.{table}")
        self.off += 100

    def change(self, table, op, rows, version=slavro.WRITER_VERSION, at=None):
        """rows: for READ/INSERT the after images, DELETE the before images, UPDATE
        (before, after) pairs; an image is (id, v, n) with None for NULL, or "miss" for
        a value not in the image."""
        def img(t):
            out = []
            for x in t:
                if x is None:
                    out.append(("null", None))
                elif x == "miss":
                    out.append(("missing", "NOT_IN_IMAGE"))
                elif isinstance(x, int):
                    out.append(("int", x))
                else:
                    out.append(("string", x))
            return out
        if op == "UPDATE":
            rr = [{"before": img(b), "after": img(a)} for b, a in rows]
        elif op == "DELETE":
            rr = [{"before": img(r), "after": None} for r in rows]
        else:
            rr = [{"before": None, "after": img(r)} for r in rows]
        rec = {"type": "CHANGE", "source": "it", "pos": self._pos(at),
               "body": {"db": SRC, "table": table, "op": op, "txn": None,
                        "eventTimeUs": int(time.time() * 1e6), "schemaId": 0, "serverId": 1,
                        "flags": 0, "origin": None, "columns": [c[0] for c in COLS],
                        "rows": rr}}
        self._send(rec, f"{SRC}.{table}", op.lower(), version, table=f"{SRC}.{table}")
        if at is None:
            self.off += 100

    def commit(self, at=None):
        rec = {"type": "COMMIT", "source": "it", "pos": self._pos(at),
               "body": {"txn": None, "eventTimeUs": int(time.time() * 1e6), "serverId": 1,
                        "rows": 0}}
        self._send(rec, "it", "commit")
        if at is None:
            self.off += 100

    def finish(self):
        rec = {"type": "FINISH", "source": "it", "pos": self._pos(),
               "body": {"reason": "resume", "timeUs": int(time.time() * 1e6)}}
        self._send(rec, "it", "finish")

    def flush(self):
        assert self.p.flush(60) == 0


# The rows every target must end with (id -> (v, n)), after the workload below.
EXPECTED = {1: ("a-snap", 10), 2: ("b2", None), 3: (None, None), 5: ("u5", 55),
            7: ("seven", 7), 8: ("h-snap", 8), 9: ("nine", 9)}


def workload(t, replays_differ=True):
    """Publishes the workload on table `t`; returns the last message's offset.
    replays_differ: a record sent again at a position already used (after a FINISH, or
    re-published) carries other values, to prove which one applies; False: the same values,
    as a real collector sends (the shared log keeps one document per position)."""
    t.schema("t")
    # a message written before the upgrade (wire format v1): rows 1 and 5 exist with other values
    t.change("t", "INSERT", [(1, "a", 1), (5, "old", 5)], version=1)
    t.commit()
    # snapshot rows: 1 and 5 exist in the target (replaced, never an error), 2 and 7 do not
    at_read = t.off
    t.change("t", "READ", [(1, "a-snap", 10), (2, "b", 2), (5, "snap5", 50), (7, "gone", 7)])
    t.commit()
    # streamed changes of the same keys after the chunk, READ mixed in one transaction
    t.change("t", "UPDATE", [((2, "b", 2), (2, "b2", None))])
    t.change("t", "DELETE", [(7, "gone", 7)])
    t.change("t", "INSERT", [(8, "h", 8)])
    t.change("t", "READ", [(8, "h-snap", 8), (7, "seven", 7)])     # 7 comes back
    t.commit()
    # a transaction cut by a FINISH (the collector restarted): rolled back, then sent again
    # from its start position, in full
    at_cut = t.off
    t.change("t", "READ", [(3, "partial", 3) if replays_differ else (3, None, None)])
    t.off = at_cut
    t.finish()
    t.change("t", "READ", [(3, None, None)])
    t.change("t", "UPDATE", [((5, "snap5", 50), (5, "u5", 55))])
    t.commit()
    # the first snapshot chunk published again at its old position (a collector that
    # re-publishes after a restart): already applied, skipped; rows do not move back
    t.change("t", "READ", [(1, "WRONG", 0), (5, "WRONG", 0), (7, "WRONG", 0)] if replays_differ
             else [(1, "a-snap", 10), (2, "b", 2), (5, "snap5", 50), (7, "gone", 7)], at=at_read)
    t.commit(at=at_read + 100)
    t.change("t", "INSERT", [(9, "nine", 9)])
    t.commit()
    t.flush()
    return t.count - 1


@pytest.fixture
def read_topic(stack, unique_name):
    topic = unique_name("tp")
    t = Topic(stack, topic)
    last = workload(t)
    return topic, last


def _no_dead_letters(stack, topic):
    read_dlq(stack, topic + ".dlq", 0, timeout=2)


@pytest.mark.parametrize("workers", [1, 3])
def test_it_applier_read_rows_postgresql(stack, bin_dir, unique_name, target_db, read_topic,
                                         workers):
    """worker_num = 3: the rows go through the parallel decorator (target_par.c), each
    source transaction on the worker its keys hash to."""
    db, conn = target_db
    topic, last = read_topic
    task = unique_name("task")
    app = Applier(bin_dir, stack, task, topic, db, "-X", f"worker_num={workers}",
                  logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, last, app)
    finally:
        app.stop()
    cur = conn.cursor()
    cur.execute(f"SELECT id, v, n FROM {SRC}.t ORDER BY id")
    assert {r[0]: (r[1], r[2]) for r in cur.fetchall()} == EXPECTED
    _no_dead_letters(stack, topic)


def test_it_applier_read_rows_mariadb(stack, bin_dir, unique_name, read_topic):
    from test_applier_mysql import my_applier, wait_my_offset
    topic, last = read_topic
    task, db = unique_name("task"), unique_name("my")
    conn = mysql_connect(stack)
    cur = conn.cursor()
    app = my_applier(bin_dir, stack, task, topic, db, "-X", f"map.tables={SRC}.*={db}.*").start()
    try:
        wait_my_offset(cur, db, task, last, app)
        cur.execute(f"SELECT id, v, n FROM `{db}`.t ORDER BY id")
        got = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    finally:
        app.stop()
        cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        conn.close()
    assert got == EXPECTED
    _no_dead_letters(stack, topic)


def test_it_applier_read_rows_mongodb(stack, bin_dir, unique_name, read_topic):
    topic, last = read_topic
    task, db = unique_name("task"), unique_name("mg")
    app = Applier(bin_dir, stack, task, topic, db, "-X", "target.type=mongodb",
                  "-X", "target.host=127.0.0.1",
                  "-X", f"target.port={stack['SL_MONGO_URI'].rsplit(':', 1)[1]}",
                  "-X", "target.user=", "-X", "target.password=",   # the stand-in has no auth
                  "-X", f"map.tables={SRC}.*={db}.*", logfile=f"/tmp/{task}.log").start()
    c = pymongo.MongoClient(stack["SL_MONGO_URI"], serverSelectionTimeoutMS=5000)
    try:
        ko = c[db]["kafkaoffset"]
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            d = ko.find_one({"_id.task": task})
            if d and d.get("kafka_offset", -1) >= last:
                break
            assert app.proc.poll() is None, app.log()
            time.sleep(0.1)
        else:
            raise AssertionError(app.log())
        got = {d["_id"]: (d.get("v", "<absent>"), d.get("n", "<absent>")) for d in c[db]["t"].find()}
    finally:
        app.stop()
        c.drop_database(db)
        c.close()
    assert got == EXPECTED
    _no_dead_letters(stack, topic)


def test_it_applier_read_without_whole_row_to_dlq(stack, bin_dir, unique_name, target_db):
    """A READ row replaces the target's row: one that lacks a value (not in the image) would
    invent or keep stale columns, so its transaction goes to the DLQ, named; the next
    transaction applies."""
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    t = Topic(stack, topic)
    t.schema("t")
    t.change("t", "READ", [(1, "one", 1)])
    t.commit()
    t.change("t", "READ", [(1, "miss", 2)])
    t.commit()
    t.change("t", "READ", [(2, "two", 2)])
    t.commit()
    t.flush()
    app = Applier(bin_dir, stack, task, topic, db, logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, t.count - 1, app)
    finally:
        app.stop()
    cur = conn.cursor()
    cur.execute(f"SELECT id, v, n FROM {SRC}.t ORDER BY id")
    assert cur.fetchall() == [(1, "one", 1), (2, "two", 2)]
    dl = read_dlq(stack, topic + ".dlq", 1)      # the READ message (its transaction)
    reason = dl[0].get("sl.dlq.reason", "")
    assert "read row" in reason and '"v"' in reason, reason
    assert dl[0]["sl.op"] == "read"


def test_it_applier_read_rows_through_the_shared_log(stack, bin_dir, tmp_path, unique_name,
                                                    target_db):
    """The same workload mined into the shared log (miner/doc.c: op "read", after only) and
    applied from there (source.type = mongolog) into PostgreSQL: the same rows."""
    from test_miner_util import Miner
    db, conn = target_db
    prefix, source, logdb = unique_name("pfx"), unique_name("src"), unique_name("log")
    t = Topic(stack, f"{prefix}.{source}")
    last = workload(t, replays_differ=False)
    miner = Miner(bin_dir, stack, tmp_path, source, prefix, logdb)
    task = unique_name("task")
    app = None
    try:
        miner.start()
        miner.wait_offset(stack, end=last + 1)
        reads = list(miner.coll.find({"op": "read"}).sort("_id", 1))
        assert len(reads) == 4 + 2 + 1, reads          # one document per READ row
        assert all("before" not in d and "after" in d for d in reads), reads
        assert reads[0]["after"]["v"] == "a-snap"
        app = Applier(bin_dir, stack, task, t.topic, db, "-X", "source.type=mongolog",
                      "-X", f"source.name={source}",
                      "-X", f"source.log.uri={stack['SL_MONGO_URI']}",
                      "-X", f"source.log.database={logdb}", logfile=f"/tmp/{task}.log").start()
        wait_offset(conn, task, last - 2, app)          # the last COMMIT's data is in
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            cur = conn.cursor()
            cur.execute(f"SELECT id, v, n FROM {SRC}.t ORDER BY id")
            got = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
            if got == EXPECTED:
                break
            time.sleep(0.2)
        assert got == EXPECTED, app.log()
    finally:
        if app:
            app.stop()
        miner.mongo.drop_database(logdb)
        miner.close()


def test_it_cat_reads_v1_and_v2_and_refuses_read_in_v1(stack, bin_dir, unique_name):
    """`shiftlog cat` decodes a v1 message (written before the upgrade) and a v2 READ to the
    JSON fastavro's reading gives (op "read"); a v1 message whose op index is 4 (READ, which v1
    does not have) is refused, named, and cat goes on."""
    from test_kafka import cat, strip_suboffsets
    topic = unique_name("tp")
    t = Topic(stack, topic)
    t.schema("t")
    t.change("t", "INSERT", [(1, "a", 1)], version=1)
    t.change("t", "READ", [(1, "snap", None), (2, "b", 2)])
    t.flush()
    v2_read = slavro.encode({"type": "CHANGE", "source": "it",
                             "pos": t._pos(), "body": {
                                 "db": SRC, "table": "t", "op": "READ", "txn": None,
                                 "eventTimeUs": 0, "schemaId": 0, "serverId": 0, "flags": 0,
                                 "origin": None, "columns": ["id"],
                                 "rows": [{"before": None, "after": [("int", 3)]}]}})
    v1_read = b"\xc3\x01" + slavro.fingerprint(1).to_bytes(8, "little") + v2_read[10:]
    assert slavro.version_of(v1_read) == 1
    t.p.produce(topic, value=v1_read, key=b"rd.t", partition=0)
    t.change("t", "DELETE", [(2, "b", 2)])
    t.flush()
    p, lines = cat(bin_dir, stack, topic, "--from-beginning", "--exit-at-end")
    assert p.returncode == 1, p.stderr                  # one message refused
    assert [l["kafkaOffset"] for l in lines] == [0, 1, 2, 4]
    assert f'topic "{topic}" partition 0 offset 3' in p.stderr, p.stderr
    assert "enum symbol 4 out of range" in p.stderr, p.stderr
    ops = [l["record"].get("op") for l in lines]
    assert ops == [None, "insert", "read", "delete"], ops
    # the JSON of each is what fastavro reads from the same bytes
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"], "group.id": "it-" + topic})
    c.assign([TopicPartition(topic, 0, 0)])
    values = []
    while len(values) < 5:
        m = c.poll(10)
        assert m is not None and not m.error(), m and m.error()
        values.append(m.value())
    c.close()
    w = slavro.WRITER_VERSION                            # v3 since columns carry defaults
    assert [slavro.version_of(v) for v in values] == [w, 1, w, 1, w]
    with pytest.raises(slavro.SlavroError):
        slavro.decode(values[3])
    for line in lines:
        want = slavro.to_json(values[line["kafkaOffset"]])
        assert strip_suboffsets(line["record"]) == json.loads(json.dumps(want))
