"""Shared mining end to end (issue 6, "Appliers read the shared log"): a real MariaDB workload →
one collector → Kafka → one miner → the shared log in the MongoDB stand-in, feeding two
appliers: one into MongoDB from the live topic from the start, and one into PostgreSQL with
`source.type = mongolog` started late — after the topic's early part was deleted
(DeleteRecordsCommand, as Kafka retention would: the changes are then only in the log, as after
the source purged its binlog; the shared stack's binlogs are not purged, other runs read them).

  it_shared_mining_late_applier_from_log_then_topic
      the MongoDB target equals the source all along; the PostgreSQL target equals the source
      from the log alone; more changes arrive through the hand-over to the live topic (at the
      stored offset + 1); a kill -9 of the late applier in the middle of more changes and a
      restart (it resumes from the target's stored position, on the log, then hands over
      again) → both targets still exactly the source's rows.

  it_shared_mining_late_task_after_binlog_purge
      the same with the source's binlog really purged: a private, throw-away MariaDB (so the
      shared stack's binlogs stay) → collector → miner; then PURGE BINARY LOGS (a collector
      asked for the early positions now fails: they are gone from the source) and the topic's
      early part deleted; a PostgreSQL task started late from the log equals the source, and
      goes on with the live topic after more changes.
"""

import json
import random
import re
import time

import pytest

from conftest import pg_connect
from e2e_util import applier as example_applier, mongo_client, mongo_rows
from conftest import mysql_connect
from test_mysql_collector import (Collector, master_pos, private_mariadb, purge_to_new_binlog,
                                  run_once)
from test_miner_util import Miner, topic_end
from test_applier_pg import Applier, stored_offset


def src_rows(conn, db):
    with conn.cursor() as c:
        c.execute(f"SELECT id, bal, note, CAST(amt AS CHAR) FROM `{db}`.acct ORDER BY id")
        return [tuple(r) for r in c.fetchall()]


def dst_rows(conn, db):
    cur = conn.cursor()
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{db}".acct',))
    if not cur.fetchone()[0]:
        return []
    cur.execute(f'SELECT id, bal, note, amt::text FROM "{db}".acct ORDER BY id')
    return [tuple(r) for r in cur.fetchall()]


def txns(conn, db, rng, n, ids):
    """n source transactions of 1-4 statements on acct: inserts, updates, deletes."""
    with conn.cursor() as c:
        for _ in range(n):
            c.execute("BEGIN")
            for _ in range(rng.randint(1, 4)):
                k = rng.random()
                if k < 0.5 or not ids:
                    i = max(ids, default=0) + 1
                    ids.add(i)
                    c.execute(f"INSERT INTO `{db}`.acct VALUES (%s, %s, %s, %s)",
                              (i, rng.randint(-10**12, 10**12), f"n{i}",
                               f"{rng.randint(0, 10**8)}.{rng.randint(0, 9999):04d}"))
                elif k < 0.85:
                    i = rng.choice(sorted(ids))
                    c.execute(f"UPDATE `{db}`.acct SET bal = bal + %s, note = %s WHERE id = %s",
                              (rng.randint(1, 1000), f"u{rng.randint(0, 99)}", i))
                else:
                    i = rng.choice(sorted(ids))
                    ids.discard(i)
                    c.execute(f"DELETE FROM `{db}`.acct WHERE id = %s", (i,))
            c.execute("COMMIT")


def mg_rows(client, db):
    rows, _ = mongo_rows(client, db, "acct", ["id", "bal", "note", "amt"], ["id"])
    return [(i, b, n, str(a)) for i, b, n, a in rows]


def wait_equal_mongo(mysql_conn, client, db, mg_db, app, timeout=40):
    deadline = time.monotonic() + timeout
    want = got = None
    while time.monotonic() < deadline:
        want, got = src_rows(mysql_conn, db), mg_rows(client, mg_db)
        if want == got:
            return want
        assert app.alive(), f"MongoDB applier exited:\n{app.text()[-4000:]}"
        time.sleep(0.2)
    missing = sorted(set(want) - set(got))[:3]
    extra = sorted(set(got) - set(want))[:3]
    raise AssertionError(f"MongoDB target != source after {timeout}s ({len(want)} vs {len(got)} "
                         f"rows; missing {missing}, unexpected {extra}):\n{app.text()[-4000:]}")


def wait_log(app, pattern, count=1, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(re.findall(pattern, app.log())) >= count:
            return re.findall(pattern, app.log())
        time.sleep(0.2)
    raise AssertionError(f"no {count} x {pattern!r} in the applier's log:\n{app.log()[-4000:]}")


def wait_equal(mysql_conn, pg, db, app, timeout=40):
    deadline = time.monotonic() + timeout
    want = got = None
    while time.monotonic() < deadline:
        want, got = src_rows(mysql_conn, db), dst_rows(pg, db)
        if want == got:
            return want
        if app.proc.poll() is not None:
            raise AssertionError(f"applier exited {app.proc.returncode}:\n{app.log()[-4000:]}")
        time.sleep(0.2)
    missing = sorted(set(want) - set(got))[:3]
    extra = sorted(set(got) - set(want))[:3]
    raise AssertionError(f"target != source after {timeout}s ({len(want)} vs {len(got)} rows; "
                         f"missing {missing}, unexpected {extra}):\n{app.log()[-4000:]}")


@pytest.fixture
def target_pg(stack, unique_name):
    name = unique_name("shm")
    admin = pg_connect(stack)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    conn = pg_connect(stack, dbname=name)
    yield name, conn
    conn.close()
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_it_shared_mining_late_applier_from_log_then_topic(stack, bin_dir, tmp_path, unique_name,
                                                           mysql_conn, kafka_java, target_pg):
    rng = random.Random(6)
    db = unique_name("shm")
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE DATABASE `{db}`")
        c.execute(f"CREATE TABLE `{db}`.acct (id INT PRIMARY KEY, bal BIGINT, "
                  f"note VARCHAR(40), amt DECIMAL(20,4))")
    col = Collector(bin_dir, stack, tmp_path, unique_name("src"), unique_name("it"),
                    master_pos(mysql_conn), tables_include=re.escape(db) + r"\..*")
    mongo_db = unique_name("mlog")
    miner = Miner(bin_dir, stack, tmp_path, col.source, col.prefix, mongo_db)
    tdb, pg = target_pg
    mg_db = unique_name("shmg")
    mg = mongo_client(stack)
    # the first task: MongoDB, from the live topic, from the start
    mga = example_applier(bin_dir, "mysql-to-mongo", tmp_path, "applier-mongo", {
        "task.name": unique_name("mgtask"), "source.topic": col.topic,
        "target.host": "127.0.0.1", "target.port": stack["SL_MONGO_URI"].rsplit(":", 1)[1],
        "target.database": mg_db, "tables": f"{db}.*", "map.tables": f"{db}.*={mg_db}.*",
        "tables.exclude": "", "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"],
        "http.listen": "off", "flush.interval.ms": "100ms"})
    app = None
    try:
        col.start()
        miner.start()
        ids = set()
        txns(mysql_conn, db, rng, 60, ids)
        mga.start()
        wait_equal_mongo(mysql_conn, mg, db, mg_db, mga)
        # the early part: mined, then deleted from the topic
        deadline = time.monotonic() + 30
        while topic_end(stack, col.topic)[1] < 60 * 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        end = miner.wait_offset(stack, timeout=30)
        spec = tmp_path / "delete.json"
        spec.write_text(json.dumps({"version": 1, "partitions": [
            {"topic": col.topic, "partition": 0, "offset": end}]}))
        kafka_java("org.apache.kafka.tools.DeleteRecordsCommand", "--bootstrap-server",
                   stack["SL_KAFKA_BROKERS"], "--offset-json-file", spec, timeout=60)
        assert topic_end(stack, col.topic)[0] == end, "the topic's early part is still there"
        assert miner.coll.count_documents({"op": "commit"}) >= 60

        task = unique_name("task")
        log = tmp_path / "applier.log"
        extra = ["-X", "source.type=mongolog", "-X", f"source.name={col.source}",
                 "-X", f"source.log.uri={stack['SL_MONGO_URI']}",
                 "-X", f"source.log.database={mongo_db}", "-X", "source.log.window=50",
                 "-X", "write_batch=20"]
        app = Applier(bin_dir, stack, task, col.topic, tdb, *extra, logfile=log).start()
        # 1. only the log has these changes
        wait_equal(mysql_conn, pg, db, app)
        # 2. more changes: the hand-over to the live topic; the first task goes on
        txns(mysql_conn, db, rng, 40, ids)
        wait_equal(mysql_conn, pg, db, app)
        wait_equal_mongo(mysql_conn, mg, db, mg_db, mga)
        at = wait_log(app, r"handing over to \S+ \[0\] at offset (\d+)")
        assert int(at[0]) >= end, (at, end)
        assert stored_offset(pg, task) >= end

        # 3. kill -9 in the middle of more changes, restart: still exact
        import threading
        t = threading.Thread(target=txns, args=(mysql_conn, db, rng, 120, ids))
        t.start()
        time.sleep(0.5)
        app.kill9()
        killed_at = stored_offset(pg, task)
        app.start()
        t.join(timeout=40)
        assert not t.is_alive()
        # changes after the restart too, so the stored position must move past the kill point
        # even when the workload above was applied whole before the kill
        txns(mysql_conn, db, rng, 20, ids)
        rows = wait_equal(mysql_conn, pg, db, app)
        assert len(rows) > 20
        assert wait_equal_mongo(mysql_conn, mg, db, mg_db, mga) == rows
        text = app.log()
        wait_log(app, r"handing over to", count=2)
        text = app.log()
        assert "GAP" not in text and "Offset out of range" not in text, text
        assert stored_offset(pg, task) > killed_at
    finally:
        if app:
            app.stop()
        mga.stop()
        mg.close()
        miner.close()
        col.stop()
        with mysql_conn.cursor() as c:
            c.execute(f"DROP DATABASE IF EXISTS `{db}`")


def test_it_shared_mining_late_task_after_binlog_purge(stack, bin_dir, tmp_path, unique_name,
                                                       kafka_java, target_pg):
    rng = random.Random(7)
    db = unique_name("shp")
    settings = ("binlog_format = ROW", "binlog_row_image = FULL", "binlog_row_metadata = FULL",
                "binlog_checksum = CRC32", "character-set-server = utf8mb4")
    with private_mariadb(*settings) as (port, pw):
        pstack = dict(stack, SL_MYSQL_PORT=str(port), SL_MYSQL_CDC_USER="cdc",
                      SL_MYSQL_CDC_PASSWORD=pw)
        src = mysql_connect(pstack, user="root", password=pw)
        with src.cursor() as c:
            c.execute(f"CREATE DATABASE `{db}`")
            c.execute(f"CREATE TABLE `{db}`.acct (id INT PRIMARY KEY, bal BIGINT, "
                      f"note VARCHAR(40), amt DECIMAL(20,4))")
        start = master_pos(src)
        col = Collector(bin_dir, pstack, tmp_path, unique_name("src"), unique_name("it"), start,
                        tables_include=re.escape(db) + r"\..*")
        miner = Miner(bin_dir, stack, tmp_path, col.source, col.prefix, unique_name("mlog"))
        tdb, pg = target_pg
        app = None
        try:
            col.start()
            miner.start()
            ids = set()
            txns(src, db, rng, 50, ids)
            deadline = time.monotonic() + 30
            while topic_end(stack, col.topic)[1] < 50 * 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)
            end = miner.wait_offset(stack, timeout=30)
            # the source forgets: a new binlog file, every older one purged
            with src.cursor() as c:
                files = purge_to_new_binlog(c)
            assert len(files) == 1 and start.split(":")[0] not in files, files
            probe = Collector(bin_dir, pstack, tmp_path, unique_name("probe"), unique_name("it"),
                              start, tables_include=re.escape(db) + r"\..*")
            r = run_once(probe)
            assert r.returncode == 1 and "is not on the server" in r.stderr, r.stderr
            # and so does the topic, as its retention would
            spec = tmp_path / "delete.json"
            spec.write_text(json.dumps({"version": 1, "partitions": [
                {"topic": col.topic, "partition": 0, "offset": end}]}))
            kafka_java("org.apache.kafka.tools.DeleteRecordsCommand", "--bootstrap-server",
                       stack["SL_KAFKA_BROKERS"], "--offset-json-file", spec, timeout=60)
            assert topic_end(stack, col.topic)[0] == end

            task = unique_name("task")
            extra = ["-X", "source.type=mongolog", "-X", f"source.name={col.source}",
                     "-X", f"source.log.uri={stack['SL_MONGO_URI']}",
                     "-X", f"source.log.database={miner.db}", "-X", "write_batch=20"]
            app = Applier(bin_dir, stack, task, col.topic, tdb, *extra,
                          logfile=tmp_path / "applier.log").start()
            rows = wait_equal(src, pg, db, app)          # from the log alone
            assert len(rows) > 10
            txns(src, db, rng, 30, ids)                   # then the live topic
            wait_equal(src, pg, db, app)
            wait_log(app, r"handing over to")
            assert stored_offset(pg, task) >= end
        finally:
            if app:
                app.stop()
            miner.close()
            col.stop()
            src.close()
