"""snapshot.mode = when_needed (docs/snapshot.md): when the collector's checkpoint is no longer
on the source (its binlog purged while the collector was stopped), the collector does not stop
(as snapshot.mode = initial does, naming the cause) but streams from the binlog's end and copies
every included table again, so the topic still leads to the source's rows.

A private, throw-away MariaDB (the shared server's binlogs are never purged: other tests read
them)."""
import json
import re
import subprocess
import time

from conftest import mysql_connect
from test_mysql_collector import Collector, master_pos, private_mariadb, purge_to_new_binlog
from test_pg_collector import pgsrc, rows_of, wait_records  # noqa: F401  (fixture)

SETTINGS = ("binlog_format = ROW", "binlog_row_image = FULL", "binlog_row_metadata = FULL",
            "binlog_checksum = CRC32", "character-set-server = utf8mb4")


def cat_records(bin_dir, topic):
    p = subprocess.run([str(bin_dir / "shiftlog"), "cat", "--from-beginning", "--exit-at-end",
                        topic], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return [json.loads(line)["record"] for line in p.stdout.splitlines()]


def read_ids(recs, table):
    return sorted(row["after"]["id"] for r in recs if r["type"] == "change" and r["op"] == "read"
                  and r["table"] == table for row in r["rows"])


def test_it_snapshot_when_needed_after_purge(stack, bin_dir, tmp_path, unique_name):
    db = unique_name("snwn")
    with private_mariadb(*SETTINGS) as (port, pw):
        pstack = dict(stack, SL_MYSQL_PORT=str(port), SL_MYSQL_CDC_USER="cdc",
                      SL_MYSQL_CDC_PASSWORD=pw)
        src = mysql_connect(pstack, user="root", password=pw)
        with src.cursor() as c:
            c.execute(f"CREATE DATABASE `{db}`")
            c.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
            c.execute(f"INSERT INTO `{db}`.t SELECT seq, CONCAT('v', seq) "
                      f"FROM `{db}`.seq_1_to_20")
            c.execute("GRANT CREATE, INSERT, UPDATE ON shiftlog.* TO cdc@'127.0.0.1'")
        source, prefix = unique_name("src"), unique_name("it")
        include = re.escape(db) + r"\..*"
        col = Collector(bin_dir, pstack, tmp_path, source, prefix, master_pos(src),
                        tables_include=include, snapshot_mode="when_needed", lease="false")
        col.start()
        col.wait_log(r"snapshot: finished")
        time.sleep(1.0)                  # the checkpoint after the snapshot's last chunk
        assert col.stop() == 0
        assert read_ids(cat_records(bin_dir, col.topic), "t") == list(range(1, 21))

        # while it is stopped: more rows, and the binlog that held them is purged
        with src.cursor() as c:
            c.execute(f"INSERT INTO `{db}`.t SELECT seq, CONCAT('w', seq) "
                      f"FROM `{db}`.seq_21_to_30")
            c.execute(f"UPDATE `{db}`.t SET v = 'changed' WHERE id = 3")
            files = purge_to_new_binlog(c)
            assert len(files) == 1, files

        # snapshot.mode = initial: the collector stops and names the cause
        strict = Collector(bin_dir, pstack, tmp_path, source, prefix, "earliest",
                           tables_include=include, snapshot_mode="initial", lease="false")
        strict.start(wait=False)
        try:
            rc = strict.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rc = None
        strict.stop()
        assert rc == 1 and "is no longer on the server" in strict.text(), strict.text()[-3000:]

        # when_needed: it follows the binlog's end and copies every table again
        col = Collector(bin_dir, pstack, tmp_path, source, prefix, "earliest",
                        tables_include=include, snapshot_mode="when_needed", lease="false")
        col.start()
        col.wait_log(r"is no longer on the server.*when_needed")
        col.wait_log(r"snapshot: finished")
        time.sleep(1.0)
        col.stop()
        recs = cat_records(bin_dir, col.topic)
        ids = read_ids(recs, "t")
        assert ids == sorted(list(range(1, 21)) + list(range(1, 31))), ids
        last = {}
        for rec in recs:
            if rec["type"] == "change" and rec["table"] == "t" and rec["op"] == "read":
                for row in rec["rows"]:
                    a = row["after"]
                    last[a["id"]] = a["v"]
        assert last[3] == "changed" and last[30] == "w30", last
        src.close()


def _pg_reads(recs, table):
    """{id: v} of the table's READ rows, the last one of each id winning; and their count."""
    last, n = {}, 0
    for _, op, _, after in rows_of(recs, table):
        if op == "READ":
            last[after["id"][1]] = after["v"][1]
            n += 1
    return last, n


def test_it_snapshot_when_needed_pg_slot_dropped(stack, pgsrc):
    """PostgreSQL: the collector's slot is dropped while it is stopped (the changes made
    meanwhile are in no slot). Under the default snapshot.mode (initial) the collector stops
    naming the cause and leaves the slot alone; under when_needed it creates the slot again,
    says so, streams from there and copies the publication's tables again, so the topic leads
    to the source's rows; a restart after that resumes from the checkpoint and copies nothing."""
    s = pgsrc
    s.sql("CREATE TABLE t (id int PRIMARY KEY, v text)",
          "INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 20) i")
    s.publish_all()
    p = s.start(**{"snapshot.mode": "when_needed"})
    wait_records(stack, s.topic, lambda r: _pg_reads(r, "t")[1] >= 20)
    time.sleep(1.0)                   # the checkpoint after the snapshot's last chunk
    assert s.stop(p) == 0
    for _ in range(100):              # the walsender lets the slot go a moment after
        if not s.sql(f"SELECT 1 FROM pg_replication_slots WHERE slot_name = '{s.slot}' "
                     "AND active").fetchone():
            break
        time.sleep(0.1)
    s.sql("INSERT INTO t SELECT i, 'w' || i FROM generate_series(21, 30) i",
          "UPDATE t SET v = 'changed' WHERE id = 3",
          f"SELECT pg_drop_replication_slot('{s.slot}')")

    # the default mode: exit 1 naming the cause; no slot made behind the user's back
    rc, log = s.run_to_exit(timeout=60)
    assert rc == 1, log[-3000:]
    assert f'replication slot "{s.slot}" does not exist but this source has a checkpoint' in log
    assert not s.sql(f"SELECT 1 FROM pg_replication_slots WHERE slot_name = '{s.slot}'").fetchone()

    # when_needed: the slot again, and every table copied again
    p = s.start(**{"snapshot.mode": "when_needed"})
    log = p.log.read_text()
    assert "snapshot.mode = when_needed: streaming from the WAL's end" in log, log[-3000:]
    assert f'created replication slot "{s.slot}"' in log, log[-3000:]
    deadline = time.time() + 60
    while not re.search(r"snapshot: \S+ done, .* 0 left", p.log.read_text()):
        assert time.time() < deadline and p.poll() is None, p.log.read_text()[-3000:]
        time.sleep(0.1)
    s.sql("INSERT INTO t VALUES (31, 'streamed')")     # after the copy: streamed only
    recs = wait_records(stack, s.topic, lambda r: _pg_reads(r, "t")[1] >= 50 and any(
        op == "INSERT" and a["id"][1] == 31 for _, op, _, a in rows_of(r, "t")))
    time.sleep(1.0)
    assert s.stop(p) == 0
    last, n = _pg_reads(recs, "t")
    assert n == 50 and sorted(last) == list(range(1, 31)), (n, sorted(last))
    assert last[3] == "changed" and last[30] == "w30", last

    # a restart with the checkpoint: no copy again
    p = s.start(**{"snapshot.mode": "when_needed"})
    s.sql("INSERT INTO t VALUES (32, 'after restart')")
    recs = wait_records(stack, s.topic, lambda r: any(
        op == "INSERT" and a["id"][1] == 32 for _, op, _, a in rows_of(r, "t")))
    assert s.stop(p) == 0
    assert _pg_reads(recs, "t")[1] == 50
    assert "resume from the checkpoint" in p.log.read_text()
    assert "snapshot: every included table queued" not in p.log.read_text()


def test_it_snapshot_when_needed_pg_slot_lost(stack, bin_dir, tmp_path, unique_name):
    """PostgreSQL: the server invalidates the collector's slot while it is stopped (its WAL
    passed max_slot_wal_keep_size: wal_status = lost) on a private, throw-away PostgreSQL (the
    shared one's settings stay as they are). Under the default mode the collector stops naming
    the cause; under when_needed it drops the lost slot, creates it again, and copies the
    publication's tables again."""
    from test_pg_collector import _private_conf, lose_slot, lossy_pg
    source, prefix = unique_name("lostwn"), unique_name("it")
    with lossy_pg() as (port, cur):
        cur.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        cur.execute("CREATE TABLE filler (id int PRIMARY KEY, pad text)")   # not published
        cur.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 20) i")
        cur.execute("CREATE PUBLICATION p_lost FOR TABLE t")

        def run(mode, wait_for=None):
            extra = {"source.slot": "s_lost", "source.publication": "p_lost",
                     "topic.prefix": prefix, "lease": "false"}
            if mode:
                extra["snapshot.mode"] = mode
            conf = _private_conf(stack, tmp_path, port, source, **extra)
            log = tmp_path / f"{source}-{mode}.log"
            p = subprocess.Popen([str(bin_dir / "shiftlog-collector"), "-c", str(conf)],
                                 stdout=subprocess.DEVNULL, stderr=open(log, "w"))
            deadline = time.time() + 60
            while wait_for and not re.search(wait_for, log.read_text()):
                assert p.poll() is None and time.time() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            if wait_for:
                time.sleep(1.0)           # the checkpoint after the last chunk
                p.terminate()
            assert p.wait(timeout=60) == (0 if wait_for else 1), log.read_text()[-3000:]
            return log.read_text()

        run("when_needed", r"snapshot: \S+ done, .* 0 left")
        cur.execute("UPDATE t SET v = 'changed' WHERE id = 3")
        status = lose_slot(cur, "s_lost", "filler")
        assert status == "lost", f"could not get the slot lost (wal_status {status})"

        log = run(None)                   # the default mode: stop, naming the cause
        assert 'replication slot "s_lost" is lost (wal_status = lost' in log, log[-3000:]
        assert "set snapshot.mode = when_needed" in log, log[-3000:]

        log = run("when_needed", r"snapshot: \S+ done, .* 0 left")
        assert 'replication slot "s_lost" was lost (wal_status = lost): dropped it' in log, log
        assert 'created replication slot "s_lost"' in log, log
        cur.execute("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 's_lost'")
        assert cur.fetchone()[0] != "lost"
    recs = cat_records(bin_dir, f"{prefix}.{source}")
    assert read_ids(recs, "t") == sorted(list(range(1, 21)) * 2)
    last = {row["after"]["id"]: row["after"]["v"] for r in recs
            if r["type"] == "change" and r["op"] == "read" and r["table"] == "t"
            for row in r["rows"]}
    assert last[3] == "changed", last
