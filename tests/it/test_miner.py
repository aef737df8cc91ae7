"""shiftlog-miner against the real local stack (issue 6): a real MariaDB collector fills a
topic, a real miner process writes the shared log in the MongoDB stand-in, and an independent
pymongo client reads it.

  it_miner_log_equals_topic            every CHANGE row, COMMIT and SCHEMA of the topic is one
                                       log document (_id from the source position, in position
                                       order), with exact typed values (DECIMAL(65,30) beyond
                                       Decimal128's 34 digits as a tagged string, unsigned
                                       64-bit, DATETIME(6) micros, BIT, SET, ENUM, BLOB, NULL);
                                       nothing else; indexes created; a restart replays nothing
                                       twice
  it_miner_worker_num_4                same with 4 writers: same documents
  it_miner_retention                   documents of transactions committed before the retention
                                       are deleted by the miner; newer ones and schemas stay
  it_miner_start_time                  transactions committed before mining.start.time are not
                                       mined, later ones are
  it_miner_log_query                   `shiftlog log query` prints the log as JSON lines, with
                                       --table, --from-position, --since and --limit
"""

import json
import re
import time
import datetime

import pytest

from conftest import mysql_connect
from test_mysql_collector import Collector, master_pos, read_topic
from test_miner_util import Miner, expected, check_doc, topic_end, cli, doc_id


@pytest.fixture
def env(mysql_conn, unique_name, bin_dir, stack, tmp_path):
    """A database with two tables, a collector on it and a miner config (not started)."""
    name = unique_name("mn")
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE DATABASE `{name}`")
        c.execute(f"""CREATE TABLE `{name}`.t1 (
            id INT PRIMARY KEY, v VARCHAR(64), d DECIMAL(65,30), small DECIMAL(10,2),
            u BIGINT UNSIGNED, f FLOAT, dbl DOUBLE, ts DATETIME(6), dt DATE, tm TIME(3),
            b BLOB, bt BIT(10), e ENUM('a','b','c'), s SET('x','y','z'), j JSON)""")
        c.execute(f"CREATE TABLE `{name}`.t2 (id INT PRIMARY KEY, n INT)")
    start = master_pos(mysql_conn)
    # only this test's tables: other tests (other runs on a shared box) write into MariaDB too
    col = Collector(bin_dir, stack, tmp_path, unique_name("src"), unique_name("it"), start,
                    tables_include=re.escape(name) + r"\..*")
    mongo_db = unique_name("mlog")
    miners = []

    def miner(**extra):
        m = Miner(bin_dir, stack, tmp_path, col.source, col.prefix, mongo_db, **extra)
        miners.append(m)
        return m

    yield {"db": name, "col": col, "miner": miner, "mongo_db": mongo_db}
    if miners:
        miners[0].mongo.drop_database(mongo_db)
    for m in miners:
        m.close()
    col.stop()
    with mysql_conn.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS `{name}`")


def workload(conn, db, n=50):
    with conn.cursor() as c:
        for i in range(n):
            c.execute("BEGIN")
            c.execute(f"""INSERT INTO `{db}`.t1 VALUES (%s, %s,
                '12345678901234567890123456789012345.123456789012345678901234567891',
                -12.30, 18446744073709551615, 1.5, -2.25e-300, '2026-01-02 03:04:05.123456',
                '2026-01-02', '-838:59:58.999', X'00ff10', b'1010101010', 'b', 'x,z',
                '{{"k": [1, 2]}}')""", (i, f"row {i}"))
            c.execute(f"INSERT INTO `{db}`.t2 VALUES (%s, %s)", (i, i))
            c.execute("COMMIT")
        c.execute(f"UPDATE `{db}`.t1 SET v = NULL, d = 0.000000000000000000000000000001 "
                  f"WHERE id < 5")
        c.execute(f"DELETE FROM `{db}`.t2 WHERE id >= {n - 5}")


def wait_topic(stack, col, pred, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = read_topic(stack, col.topic)
        if pred(msgs):
            return msgs
        time.sleep(0.3)
    raise AssertionError("topic condition not met")


def n_changes(msgs):
    return len([1 for k, v in expected(msgs).items() if k.endswith("2")])


def assert_log_equals_topic(m, msgs, tables=None):
    exp = expected(msgs, tables)
    docs = {d["_id"]: d for d in m.coll.find({"op": {"$ne": "gap"}})}
    missing = sorted(set(exp) - set(docs))
    extra = sorted(set(docs) - set(exp))
    assert not missing, f"{len(missing)} documents missing, e.g. {missing[:3]}"
    assert not extra, f"{len(extra)} unexpected documents, e.g. {extra[:3]}"
    for k, (off, rec, row) in exp.items():
        check_doc(docs[k], off, rec, row)
    return exp, docs


def test_it_miner_log_equals_topic(env, mysql_conn, stack):
    col = env["col"].start()
    workload(mysql_conn, env["db"])
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 50 * 2 + 5 + 5)
    m = env["miner"]().start()
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    exp, docs = assert_log_equals_topic(m, msgs)
    # position order = _id order, and commit docs close each transaction
    ids = [d["_id"] for d in m.coll.find({}, {"_id": 1}).sort("_id", 1)]
    assert ids == sorted(exp)
    # DECIMAL(65,30) with 65 digits: lossless tagged string; 30-digit fraction: Decimal128
    d = m.coll.find_one({"op": "insert", "table": f'{env["db"]}.t1'})
    assert d["after"]["d"] == {"_t": "decimal",
                               "v": "12345678901234567890123456789012345.123456789012345678901234567891"}
    assert str(d["after"]["small"]) == "-12.30"
    assert str(d["after"]["u"]) == "18446744073709551615"
    assert d["after"]["ts"]["us"] % 1000000 == 123456
    names = {i["name"] for i in m.coll.list_indexes()}
    assert {"table_1__id_1", "ts_1", "exp_ttl"} <= names, names
    prog = m.progress()
    assert prog["watermark"] == max(k for k in exp if k.endswith("3"))
    # status per table
    m.wait_table(f'{env["db"]}.t1', lambda d: d.get("mined") == 55 and d["state"] == "running")
    # a restart from an older offset replays: same documents, nothing twice
    m.stop()
    m.control.update_one({"_id": "progress"}, {"$set": {"offset": 0}})
    m.start()
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    time.sleep(0.5)
    assert m.coll.count_documents({}) == len(exp)
    assert_log_equals_topic(m, msgs)


def test_it_miner_worker_num_4(env, mysql_conn, stack):
    col = env["col"].start()
    workload(mysql_conn, env["db"], n=200)
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 200 * 2 + 10)
    m = env["miner"](worker_num=4, read_batch=64, write_batch=16).start()
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    assert_log_equals_topic(m, msgs)


def test_it_miner_retention(env, mysql_conn, stack):
    col = env["col"].start()
    db = env["db"]
    with mysql_conn.cursor() as c:
        # commit times 3 hours ago (the binlog events carry the session timestamp)
        c.execute("SET timestamp = UNIX_TIMESTAMP() - 3 * 3600")
        for i in range(20):
            c.execute(f"INSERT INTO `{db}`.t2 VALUES ({i}, {i})")
        c.execute("SET timestamp = DEFAULT")
        for i in range(20, 30):
            c.execute(f"INSERT INTO `{db}`.t2 VALUES ({i}, {i})")
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 30)
    m = env["miner"](**{"log.retention.hours": 2, "log.retention.interval": "1s",
                        "log.retention.batch": 7}).start()
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    deadline = time.monotonic() + 20
    while m.coll.count_documents({"op": "insert"}) > 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    rows = sorted(d["after"]["id"] for d in m.coll.find({"op": "insert"}))
    assert rows == list(range(20, 30)), rows
    cutoff = datetime.datetime.utcnow() - datetime.timedelta(hours=2)
    assert m.coll.count_documents({"exp": {"$lt": cutoff}}) == 0
    assert m.coll.count_documents({"op": "commit"}) == 10
    assert m.coll.count_documents({"op": "schema"}) >= 1     # kept whatever their time
    assert "retention: deleted" in m.text()


def test_it_miner_start_time(env, mysql_conn, stack):
    col = env["col"].start()
    db = env["db"]
    with mysql_conn.cursor() as c:
        c.execute("SET timestamp = UNIX_TIMESTAMP() - 3600")
        for i in range(10):
            c.execute(f"INSERT INTO `{db}`.t2 VALUES ({i}, {i})")
        c.execute("SET timestamp = DEFAULT")
        for i in range(10, 15):
            c.execute(f"INSERT INTO `{db}`.t2 VALUES ({i}, {i})")
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 15)
    start = (datetime.datetime.utcnow() - datetime.timedelta(minutes=30)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    m = env["miner"](**{"mining.start.time": start}).start()
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    rows = sorted(d["after"]["id"] for d in m.coll.find({"op": "insert"}))
    assert rows == list(range(10, 15)), rows
    assert m.coll.count_documents({"op": "commit"}) == 5
    # later changes are mined whatever their time after the start was reached
    with mysql_conn.cursor() as c:
        c.execute(f"INSERT INTO `{db}`.t2 VALUES (100, 100)")
    wait_topic(stack, col, lambda ms: n_changes(ms) >= 16)
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    assert m.coll.count_documents({"op": "insert"}) == 6


def test_it_miner_log_query(env, mysql_conn, stack, bin_dir):
    col = env["col"].start()
    workload(mysql_conn, env["db"], n=10)
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 10 * 2 + 5 + 5)
    m = env["miner"]().start()
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    base = ["log", "query", col.source, "--uri", stack["SL_MONGO_URI"], "--database",
            env["mongo_db"]]
    lines = [json.loads(l) for l in cli(bin_dir, *base, "--limit", "100000").stdout.splitlines()]
    assert [l["_id"] for l in lines] == [d["_id"] for d in m.coll.find().sort("_id", 1)]
    t2 = [json.loads(l) for l in cli(bin_dir, *base, "--table", f'{env["db"]}.t2').stdout.splitlines()]
    assert t2 and all(l["table"] == f'{env["db"]}.t2' for l in t2)
    assert len([l for l in t2 if l["op"] in ("insert", "delete")]) == 15
    mid = lines[len(lines) // 2]
    frm = [json.loads(l) for l in cli(bin_dir, *base, "--from-position", mid["pos"],
                                     "--limit", "3").stdout.splitlines()]
    assert [l["_id"] for l in frm] == [l["_id"] for l in lines if l["_id"] >= mid["_id"][:41]][:3]
    assert cli(bin_dir, *base, "--since", "2999-01-01T00:00:00Z").stdout == ""
    bad = cli(bin_dir, *base, "--from-position", "nonsense", check=False)
    assert bad.returncode == 2 and "position" in bad.stderr
