"""Snapshots from MariaDB end to end: rows that exist before the collector's first start reach
the target through snapshot.mode = initial, while a writer keeps changing the same tables.

  it_e2e_snapshot_mysql_under_writes_to_pg    20k (SHIFTLOG_LONG: 200k) + 3k existing rows (a
                                              single-column and a composite key), a writer updating, deleting and
                                              inserting in both tables during the whole
                                              snapshot, collector (examples/mysql-to-pg, chunks
                                              of 500 rows) -> applier -> PostgreSQL: the target
                                              equals the source row for row; the signal table is
                                              never published
  it_e2e_snapshot_mysql_under_writes_to_mongo the same to the MongoDB stand-in
                                              (examples/mysql-to-mongo): each collection's
                                              checksum equals its table's at the end
  it_e2e_snapshot_mysql_kill9_resumes_at_chunk  kill -9 of the collector once ~40% of the rows
                                              are published, under the same writer: the restart
                                              says it resumes at its last chunk, the READ rows
                                              published over both runs are far fewer than a
                                              restart at zero would give, and replaying the
                                              topic in order (READ/INSERT/UPDATE upsert, DELETE
                                              delete; an independent decoder: `shiftlog cat`
                                              JSON) gives exactly the source's rows
  it_e2e_snapshot_mysql_resnapshot_while_streaming  snapshot.mode = never: a POST /snapshot, then a
                                              signal row written by SQL, each copy exactly the
                                              table asked for (READ rows = its rows) while the
                                              other table streams; the topic replayed equals it

Each test has its own databases, signal table, source name and topic prefix.
"""

import json
import os
import random
import re
import subprocess
import threading
import time
import urllib.request

import pytest

from e2e_util import (applier, collector, digest, first_diff, master_pos, mongo_client,
                      mongo_rows, my_exec, my_rows, mysql_connect, pg_connect, pg_rows,
                      snapshot_rows_published, stop_all, wait_topic, wait_until)

# 200k rows (issue 20's size) under SHIFTLOG_LONG (make test-long); CI runs a tenth of it
LONG = bool(os.environ.get("SHIFTLOG_LONG"))
N_BIG = 200000 if LONG else 20000
N_COMP = 3000
# the last table's line: "snapshot: db.t done, N rows; in all M rows in ..., K table(s) done, 0 left"
SNAP_END = r"snapshot: \S+ done, \d+ rows; in all \d+ rows .* 0 left"


class Source:
    """A source database with two tables filled before the collector starts, a signal table
    the CDC user may create, and a writer thread."""

    def __init__(self, stack, unique_name):
        self.stack = stack
        self.db = unique_name("snsrc")
        self.sigdb = unique_name("snsig")
        self.my = mysql_connect(stack)
        my_exec(self.my, f"CREATE DATABASE `{self.db}`",
                f"CREATE TABLE `{self.db}`.big (id INT PRIMARY KEY, k INT NOT NULL, "
                "v VARCHAR(40), d DECIMAL(12,2))",
                f"CREATE TABLE `{self.db}`.comp (a INT NOT NULL, b VARCHAR(10) NOT NULL, "
                "c BIGINT UNSIGNED, PRIMARY KEY (b, a))",
                f"INSERT INTO `{self.db}`.big SELECT seq, seq % 97, CONCAT('v', seq), seq / 7 "
                f"FROM `{self.db}`.seq_1_to_{N_BIG}",
                f"INSERT INTO `{self.db}`.comp SELECT seq % 1000, CONCAT('b', seq DIV 1000), "
                f"seq * 1000003 FROM `{self.db}`.seq_1_to_{N_COMP}",
                f"GRANT CREATE, INSERT, UPDATE ON `{self.sigdb}`.* TO '{stack['SL_MYSQL_CDC_USER']}'@'127.0.0.1'")
        self.stop = threading.Event()
        self.ops = 0
        self.error = None

    def writer(self):
        conn = mysql_connect(self.stack)
        rnd = random.Random(20)
        nid = N_BIG
        try:
            while not self.stop.is_set():
                with conn.cursor() as c:
                    r = rnd.random()
                    i = rnd.randint(1, nid)
                    if r < 0.45:
                        c.execute(f"UPDATE `{self.db}`.big SET k = k + 1, v = CONCAT('u', %s) "
                                  "WHERE id = %s", (self.ops, i))
                    elif r < 0.6:
                        c.execute(f"DELETE FROM `{self.db}`.big WHERE id = %s", (i,))
                    elif r < 0.75:
                        nid += 1
                        c.execute(f"INSERT INTO `{self.db}`.big VALUES (%s, 0, 'new', 1.5)",
                                  (nid,))
                    elif r < 0.9:
                        c.execute(f"UPDATE `{self.db}`.comp SET c = c + 1 WHERE b = %s AND a = %s",
                                  (f"b{rnd.randint(0, 3)}", rnd.randint(0, 999)))
                    else:
                        c.execute(f"DELETE FROM `{self.db}`.comp WHERE b = %s AND a = %s",
                                  (f"b{rnd.randint(0, 3)}", rnd.randint(0, 999)))
                        c.execute(f"INSERT IGNORE INTO `{self.db}`.comp VALUES (%s, 'bnew', 7)",
                                  (rnd.randint(0, 10**6),))
                self.ops += 1
                time.sleep(0.001)
        except Exception as e:      # reported by the test
            self.error = e
        finally:
            conn.close()

    def rows(self, table):
        cols, key = (["id", "k", "v", "d"], ["id"]) if table == "big" else (["a", "b", "c"], ["b", "a"])
        return cols, key, my_rows(self.my, self.db, table, cols, key)

    def close(self):
        my_exec(self.my, f"DROP DATABASE IF EXISTS `{self.db}`",
                f"DROP DATABASE IF EXISTS `{self.sigdb}`")
        self.my.close()


def new_collector(bin_dir, tmp, src, prefix, chunk, **extra):
    return collector(bin_dir, "mysql-to-pg", tmp, "collector", {**extra,
        "source.name": src.db, "topic.prefix": prefix, "tables.include": src.db + r"\..*",
        "source.server_id": str(random.randint(100000, 4000000000)),
        "start.position": master_pos(src.my), "snapshot.mode": "initial",
        "snapshot.chunk.rows": str(chunk), "snapshot.signal.table": f"{src.sigdb}.sig",
        "lease": "false"})


def cat_records(bin_dir, topic):
    """The topic's records, decoded by `shiftlog cat` (JSON lines), in order."""
    p = subprocess.run([str(bin_dir / "shiftlog"), "cat", "--from-beginning", "--exit-at-end",
                        "--strict", topic], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return [json.loads(line)["record"] for line in p.stdout.splitlines()]


def read_rows(recs, table=None):
    return sum(len(r["rows"]) for r in recs
               if r["type"] == "change" and r["op"] == "read" and (table is None or r["table"] == table))


def replay(recs, db, table, cols, key):
    """The table's rows after applying the records in topic order (as an applier would)."""
    state = {}
    for r in recs:
        if r["type"] != "change" or r["db"] != db or r["table"] != table:
            continue
        names = [c if isinstance(c, str) else c["name"] for c in r["columns"]]
        for row in r["rows"]:
            def img(which):
                v = row.get(which)
                return None if v is None else dict(zip(names, v)) if isinstance(v, list) else v
            before, after = img("before"), img("after")
            if r["op"] == "truncate":
                state.clear()
            elif r["op"] == "delete":
                state.pop(tuple(before[k] for k in key), None)
            else:
                if r["op"] == "update" and before:
                    state.pop(tuple(before[k] for k in key), None)
                state[tuple(after[k] for k in key)] = tuple(after[c] for c in cols)
    return [state[k] for k in sorted(state)]


def norm(rows):
    """Source rows in the JSON forms of `shiftlog cat` (DECIMAL as its digits)."""
    return [tuple(str(v) if hasattr(v, "as_tuple") else v for v in r) for r in rows]


@pytest.fixture
def source(stack, unique_name):
    s = Source(stack, unique_name)
    yield s
    s.stop.set()
    s.close()


def test_it_e2e_snapshot_mysql_under_writes_to_pg(stack, bin_dir, tmp_path, unique_name, source):
    prefix = unique_name("snp")
    topic = f"{prefix}.{source.db}"
    pg_db = unique_name("snpg")
    pg_connect(stack).cursor().execute(f'CREATE DATABASE "{pg_db}"')
    pg = pg_connect(stack, dbname=pg_db)
    col = new_collector(bin_dir, tmp_path, source, prefix, 200)
    app = applier(bin_dir, "mysql-to-pg", tmp_path, "applier-pg", {
        "source.topic": topic, "tables": f"{source.db}.*", "task.name": source.db + "_pg",
        "target.database": pg_db, "map.tables": f"{source.db}.*={source.db}.*"})
    w = threading.Thread(target=source.writer)
    try:
        w.start()
        col.start()
        wait_topic(stack, topic)
        app.start()
        col.wait_log(SNAP_END, timeout=300)
        source.stop.set()
        w.join()
        assert source.error is None, source.error
        assert source.ops > 50, "the writer did not run during the snapshot"

        def equal():
            for table in ("big", "comp"):
                cols, key, want = source.rows(table)
                d = first_diff(want, pg_rows(pg, source.db, table, cols, key))
                if d:
                    return False, f"{table}: {d}"
            return True, None
        wait_until("PostgreSQL equal to MariaDB", equal, (col, app), timeout=180)
        recs = cat_records(bin_dir, topic)
        assert read_rows(recs, "big") >= N_BIG * 0.8 and read_rows(recs, "comp") >= N_COMP * 0.8
        assert not [r for r in recs if r.get("db") == source.sigdb], "the signal table was published"
    finally:
        source.stop.set()
        stop_all(col, app)
        pg.close()


def test_it_e2e_snapshot_mysql_under_writes_to_mongo(stack, bin_dir, tmp_path, unique_name,
                                                     source):
    """The same snapshot under writes, to the MongoDB stand-in (examples/mysql-to-mongo's
    applier: one document per row, position-guarded upserts): each collection's checksum
    equals its table's at the end."""
    prefix = unique_name("snm")
    topic = f"{prefix}.{source.db}"
    mdb = unique_name("snmo")
    mongo = mongo_client(stack)
    col = new_collector(bin_dir, tmp_path, source, prefix, 1000)
    app = applier(bin_dir, "mysql-to-mongo", tmp_path, "applier-mongo", {
        "source.topic": topic, "tables": f"{source.db}.*", "task.name": source.db + "_mongo",
        "target.database": mdb, "map.tables": f"{source.db}.*={mdb}.*"})
    w = threading.Thread(target=source.writer)
    try:
        w.start()
        col.start()
        wait_topic(stack, topic)
        app.start()
        col.wait_log(SNAP_END, timeout=300)
        source.stop.set()
        w.join()
        assert source.error is None, source.error
        assert source.ops > 50, "the writer did not run during the snapshot"

        def equal():
            sums = {}
            for table in ("big", "comp"):
                cols, key, want = source.rows(table)
                got, _ = mongo_rows(mongo, mdb, table, cols, key)
                if digest(want) != digest(got):
                    return False, f"{table}: {first_diff(want, got)}"
                sums[table] = (len(want), digest(want))
            return True, sums
        sums = wait_until("MongoDB equal to MariaDB", equal, (col, app), timeout=240)
        print(f"\nMariaDB -> MongoDB snapshot under {source.ops} writes: {sums}")
        recs = cat_records(bin_dir, topic)
        assert read_rows(recs, "big") >= N_BIG * 0.8 and read_rows(recs, "comp") >= N_COMP * 0.8
    finally:
        source.stop.set()
        stop_all(col, app)
        mongo.drop_database(mdb)
        mongo.close()


def test_it_e2e_snapshot_mysql_kill9_resumes_at_chunk(stack, bin_dir, tmp_path, unique_name,
                                                      source):
    prefix = unique_name("snk")
    topic = f"{prefix}.{source.db}"
    # Kafka commits every 100 ms as outside a snapshot (its default, 1 s, can hold 40% of
    # the copy in one open transaction: nothing committed at the kill to resume from)
    col = new_collector(bin_dir, tmp_path, source, prefix, 100,
                        **{"snapshot.txn.max.ms": "100ms"})
    w = threading.Thread(target=source.writer)
    try:
        w.start()
        col.start()

        def enough():
            n = snapshot_rows_published(col)
            return n is not None and n >= 0.4 * (N_BIG + N_COMP), n
        wait_until("40% of the rows published", enough, (col,), timeout=300, interval=0.02)
        col.kill9()
        before = read_rows(cat_records(bin_dir, topic))   # committed before the kill
        assert before >= 0.2 * (N_BIG + N_COMP), before
        col.start()
        col.wait_log(r"snapshot: resuming, \d+ table\(s\) left, .* from its last chunk read")
        col.wait_log(SNAP_END, timeout=300)
        source.stop.set()
        w.join()
        assert source.error is None, source.error
        # the stream past the writer's last change
        my_exec(source.my, f"INSERT INTO `{source.db}`.big VALUES (0, 0, 'end', 0)")

        def replayed():
            recs = cat_records(bin_dir, topic)
            for table in ("big", "comp"):
                cols, key, want = source.rows(table)
                d = first_diff(norm(want), replay(recs, source.db, table, cols, key))
                if d:
                    return False, f"{table}: {d}"
            return True, recs
        recs = wait_until("the topic replayed equals the source", replayed, (col,), timeout=120)
        total = read_rows(recs)
        # a restart at zero would publish `before` + every row again
        assert total < before + 0.8 * (N_BIG + N_COMP), (total, before)
        assert not [r for r in recs if r.get("db") == source.sigdb]
    finally:
        source.stop.set()
        stop_all(col)


def test_it_e2e_snapshot_mysql_resnapshot_while_streaming(stack, bin_dir, tmp_path, unique_name,
                                                          source):
    """snapshot.mode = never: nothing is copied at the start; a request (POST /snapshot, then a
    row written into the signal table by SQL, as docs/snapshot.md shows) copies exactly the
    table asked for, while the other table's changes keep streaming."""
    prefix = unique_name("snr")
    topic = f"{prefix}.{source.db}"
    col = new_collector(bin_dir, tmp_path, source, prefix, 1000)
    col.argv[col.argv.index("snapshot.mode=initial")] = "snapshot.mode=never"
    try:
        col.start()
        port = re.search(r"/metrics on 127.0.0.1:(\d+)", col.text()).group(1)
        my_exec(source.my, f"UPDATE `{source.db}`.big SET k = -1 WHERE id <= 10",
                f"INSERT INTO `{source.db}`.comp VALUES (5, 'zz', 5)")
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/snapshot?table={source.db}.comp", method="POST")
        assert urllib.request.urlopen(req, timeout=10).status == 202
        col.wait_log(SNAP_END, timeout=120)

        def copied():       # the log line comes before the Kafka transaction commits
            recs = cat_records(bin_dir, topic)
            return read_rows(recs, "comp") == N_COMP + 1, recs
        recs = wait_until("comp copied", copied, (col,), timeout=60)
        assert read_rows(recs, "big") == 0
        # the same by SQL, for the other table
        my_exec(source.my, (f"INSERT INTO `{source.sigdb}`.sig (source, mark) VALUES (%s, %s) "
                            "ON DUPLICATE KEY UPDATE mark = VALUES(mark)",
                            (source.db, f"{source.db}:S:7 {source.db}.big")))
        col.wait_log(SNAP_END, count=2, timeout=120)
        my_exec(source.my, f"DELETE FROM `{source.db}`.big WHERE id = 11")

        def replayed():
            recs = cat_records(bin_dir, topic)
            cols, key, want = source.rows("big")
            d = first_diff(norm(want), replay(recs, source.db, "big", cols, key))
            return not d, d
        wait_until("big replayed equals the source", replayed, (col,), timeout=60)
        recs = cat_records(bin_dir, topic)
        assert read_rows(recs, "big") == N_BIG and read_rows(recs, "comp") == N_COMP + 1
        assert not [r for r in recs if r.get("db") == source.sigdb]
    finally:
        stop_all(col)
