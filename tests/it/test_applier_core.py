"""The applier core on the real stack (PostgreSQL as the target): table and column mapping
keys, /health and /metrics of a running task."""

import json
import os
import re
import time
import urllib.error
import urllib.request

from test_applier_pg import Applier, feed, msgs, target_db, wait_offset  # noqa: F401


def test_it_applier_mapping_keys(stack, bin_dir, test_bin_dir, unique_name, target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    lines = ["schema shop users id:int:bigint:pk=1 name:string:text password:string:text",
             "schema shop tmp_x id:int:bigint:pk=1",
             "schema crm leads id:int:bigint:pk=1",
             "insert shop users id,name,password i:1,s:ann,s:secret",
             "insert shop tmp_x id i:1", "insert crm leads id i:1", "commit"]
    feed(test_bin_dir, stack, topic, lines)
    app = Applier(bin_dir, stack, task, topic, db, "-X", "tables=shop.*",
                  "-X", "tables.exclude=shop.tmp_*", "-X", "map.tables=shop.*=copy.*",
                  "-X", "map.columns=shop.users.name=full_name",
                  "-X", "columns.exclude=*.*.password", logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, msgs(lines) - 1, app)
    finally:
        app.stop()
    cur = conn.cursor()
    cur.execute("SELECT * FROM copy.users")
    assert cur.fetchall() == [(1, "ann")]
    assert [d.name for d in cur.description] == ["id", "full_name"]
    cur.execute("SELECT count(*) FROM pg_tables WHERE tablename IN ('tmp_x', 'leads')")
    assert cur.fetchone()[0] == 0


def test_it_applier_health_and_metrics(stack, bin_dir, test_bin_dir, unique_name, target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    lines = ["schema s t id:int:bigint:pk=1", "insert s t id i:1 i:2 i:3", "commit"]
    feed(test_bin_dir, stack, topic, lines)
    app = Applier(bin_dir, stack, task, topic, db, "-X", "http.listen=127.0.0.1:0",
                  logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, 2, app)
        port = int(re.search(r"serving /health and /metrics on [\d.]+:(\d+)", app.log()).group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            assert json.loads(r.read())["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            body = r.read().decode()
        assert 'shiftlog_applier_rows_total{table="s.t"} 3' in body
        assert 'shiftlog_applier_state{state="running"} 1' in body
        assert "shiftlog_applier_lag_seconds" in body and "shiftlog_applier_dlq_total 0" in body
        assert 'shiftlog_applier_txn_rows_bucket{le="10"} 1' in body
    finally:
        app.stop()


def test_it_applier_waits_for_its_topic(stack, bin_dir, test_bin_dir, unique_name, target_db):
    """Started before the collector created its topic, the applier waits (says so once, with
    the topic's name; /ready says why, /health says it is alive; it does not create the topic),
    then applies."""
    from e2e_util import topic_exists
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    app = Applier(bin_dir, stack, task, topic, db, "-X", "http.listen=127.0.0.1:0",
                  "-X", "retry.max.ms=300", logfile=f"/tmp/{task}.log").start()
    try:
        t0 = time.monotonic()
        while "does not exist yet" not in app.log() and time.monotonic() - t0 < 20:
            assert app.proc.poll() is None, app.log()
            time.sleep(0.1)
        time.sleep(2.5)                   # several looks at 300 ms
        log = app.log()
        assert app.proc.poll() is None, log
        assert log.count("does not exist yet") == 1, log
        assert f"source topic {topic} [0] does not exist yet" in log, log
        # libmongoc's automatic init made /dev/shm/mongoc-<pid>; sl_mongoc_setup removed it,
        # so a kill -9 cannot leave it for a later process with the same pid
        assert not os.path.exists(f"/dev/shm/mongoc-{app.proc.pid}")
        port = int(re.search(r"serving /health and /metrics on [\d.]+:(\d+)", log).group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            assert json.loads(r.read())["live"] is True   # waiting is not dead: no restart
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5)
            raise AssertionError("/ready answered 200 while the topic is missing")
        except urllib.error.HTTPError as e:
            assert e.code == 503
            body = e.read().decode()
            assert topic in body and "does not exist yet" in body, body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert 'shiftlog_applier_state{state="waiting_topic"} 1' in r.read().decode()
        assert not topic_exists(stack, topic), "the applier created the topic"
        lines = ["schema s w id:int:bigint:pk=1 v:string:text",
                 "insert s w id,v i:1,s:a i:2,s:b", "commit",
                 "insert s w id,v i:3,s:c", "commit"]
        feed(test_bin_dir, stack, topic, lines)      # creates the topic, as a collector does
        wait_offset(conn, task, msgs(lines) - 1, app, timeout=60)
        cur = conn.cursor()
        cur.execute("SELECT id, v FROM s.w ORDER BY id")
        assert cur.fetchall() == [(1, "a"), (2, "b"), (3, "c")]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            assert json.loads(r.read())["status"] == "ok"
        assert f"source topic {topic} [0] exists now" in app.log()
    finally:
        app.stop()
