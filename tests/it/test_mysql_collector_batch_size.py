"""shiftlog-collector (MariaDB) cuts CHANGE batches by their encoded size (issue 19):

  it_mysql_collector_minimal_image_batches_by_encoded_size
      a table of 1000 INT columns, 1000 rows deleted in one statement with
      binlog_row_image=MINIMAL: a ~5 KB rows event (only the key of each row) whose rows
      encode to ~2 MB (every other column is a MISSING value). Sized from the binlog bytes
      it became one message above batch.max.bytes and librdkafka's message.max.bytes; the
      publish error was fatal, so the collector stopped on that event on every restart.
      Now: every deleted row arrives, in CHANGE messages no larger than batch.max.bytes,
      positions unique and in order, one COMMIT counting them all, the collector still up.
"""
import re
import time

from test_mysql_collector import (db, master_pos, new_collector, n_commits, pos_key,  # noqa: F401
                                  read_topic)
import slavro

NCOLS = 1000
NROWS = 1000
MAX_BYTES = 900 * 1024            # batch.max.bytes default (900KB)


def test_it_mysql_collector_minimal_image_batches_by_encoded_size(stack, bin_dir, tmp_path,
                                                                  unique_name, mysql_conn, db):
    m = mysql_conn
    cols = ", ".join(f"c{i} INT" for i in range(1, NCOLS))
    with m.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.wide (id INT PRIMARY KEY, {cols}) ENGINE=InnoDB")
        c.execute(f"USE `{db}`")
        c.execute(f"INSERT INTO wide (id) SELECT seq FROM seq_1_to_{NROWS}")
    start = master_pos(m)
    with m.cursor() as c:
        c.execute("SET SESSION binlog_row_image = 'MINIMAL'")
        c.execute(f"DELETE FROM `{db}`.wide")
        c.execute("SET SESSION binlog_row_image = 'FULL'")
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start,
                        tables_include=re.escape(db) + r"\..*").start()
    try:
        deadline = time.monotonic() + 90
        while True:
            msgs = [v for _, _, _, v in read_topic(stack, col.topic) if v is not None]
            recs = [slavro.decode(v) for v in msgs]
            if n_commits(recs) >= 1:
                break
            assert col.proc.poll() is None, f"the collector stopped:\n{col.text()[-3000:]}"
            assert time.monotonic() < deadline, f"no COMMIT in 90 s:\n{col.text()[-3000:]}"
            time.sleep(1)
        assert col.proc.poll() is None, col.text()
    finally:
        col.stop()
    sizes = [len(v) for v, r in zip(msgs, recs) if r["type"] == "CHANGE"]
    rows = [r for r in recs if r["type"] == "CHANGE"]
    assert all(r["body"]["op"] == "DELETE" for r in rows)
    ids = [row["before"][0][1] for r in rows for row in r["body"]["rows"]]
    assert sorted(ids) == list(range(1, NROWS + 1)), f"{len(ids)} rows of {NROWS}"
    assert len(sizes) == len(rows) >= 2, (len(sizes), len(rows))
    assert max(sizes) <= MAX_BYTES, f"a CHANGE message of {max(sizes)} bytes"
    keys = [pos_key(r["pos"], r["pos"]["row"] + i) for r in rows
            for i in range(len(r["body"]["rows"]))]
    assert keys == sorted(keys) and len(set(keys)) == NROWS
    commit = [r for r in recs if r["type"] == "COMMIT"]
    assert len(commit) == 1 and commit[0]["body"]["rows"] == NROWS
    print(f"\n{NROWS} MINIMAL-image deletes of {NCOLS} columns: {len(rows)} messages, "
          f"largest {max(sizes)} bytes")
