"""Key-range re-snapshots end to end (issue 20 item 4, the repair path of issue 21's
`shiftlog validate --repair`): a copied table whose target rows were then damaged by hand,
inside and outside a key range; `shiftlog snapshot --after K --upto K --wait` copies exactly
that range again, through the topic:

  it_e2e_snapshot_range_mysql_to_pg   MariaDB (composite key: text, int) -> PostgreSQL: the
                                      damaged rows inside (after, upto] are repaired (updated
                                      ones restored, deleted ones back; the upper bound is
                                      inclusive), those outside (the lower bound itself, before,
                                      after) stay damaged; the READ rows published after the
                                      initial copy are exactly the range's, in key order; GET
                                      /snapshot reports the request ended "done" with its rows;
                                      a range that does not fit the key is refused (exit 1); a
                                      range written in SQL into the signal table while the
                                      collector is stopped is carried out after its restart
  it_e2e_snapshot_range_pg_to_mysql   the same from PostgreSQL (integer key) -> MariaDB, two
                                      ranges of the table queued by one request each
  it_e2e_snapshot_range_pg_bytea_hex  a bytea key's bounds in hex, as `validate --repair` sends
                                      them ("0a"; "\\x0f" works too): exactly the rows of the
                                      range are published again

Each test has its own databases, topic and source name; tables of a few hundred rows.
"""

import json
import random
import re
import subprocess
import urllib.request

import pytest

from e2e_util import (applier, collector, master_pos, my_exec, mysql_connect, pg_connect,
                      pg_rows, my_rows, stop_all, wait_topic, wait_until)
from test_e2e_pg_snapshot import SnapPipeline
from test_e2e_snapshot_mysql import cat_records


def snapshot_cli(bin_dir, port, *args, timeout=120):
    return subprocess.run([str(bin_dir / "shiftlog"), "snapshot", "--collector",
                           f"http://127.0.0.1:{port}", *args],
                          capture_output=True, text=True, timeout=timeout)


def status(port):
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/snapshot",
                                             timeout=5).read())


def read_keys(recs, table, key):
    """The keys of the READ rows of table, in topic order."""
    out = []
    for r in recs:
        if r["type"] == "change" and r["op"] == "read" and r["table"] == table:
            names = [c if isinstance(c, str) else c["name"] for c in r["columns"]]
            for row in r["rows"]:
                a = row["after"]
                a = dict(zip(names, a)) if isinstance(a, list) else a
                out.append(tuple(a[k] for k in key))
    return out


def port_of(col):
    return re.search(r"/metrics on 127.0.0.1:(\d+)", col.text()).group(1)


@pytest.fixture
def mysrc(stack, unique_name):
    db, sigdb = unique_name("rgsrc"), unique_name("rgsig")
    my = mysql_connect(stack)
    my_exec(my, f"CREATE DATABASE `{db}`",
            f"CREATE TABLE `{db}`.t (g VARCHAR(8) NOT NULL, n INT NOT NULL, v VARCHAR(20), "
            "PRIMARY KEY (g, n))",
            f"INSERT INTO `{db}`.t SELECT g, seq, CONCAT('v', seq) FROM "
            f"(SELECT 'a' g UNION SELECT 'b' UNION SELECT 'c') x, `{db}`.seq_1_to_100",
            f"GRANT CREATE, INSERT, UPDATE ON `{sigdb}`.* TO "
            f"'{stack['SL_MYSQL_CDC_USER']}'@'127.0.0.1'")
    yield my, db, sigdb
    my_exec(my, f"DROP DATABASE IF EXISTS `{db}`", f"DROP DATABASE IF EXISTS `{sigdb}`")
    my.close()


def test_it_e2e_snapshot_range_mysql_to_pg(stack, bin_dir, tmp_path, unique_name, mysrc):
    my, db, sigdb = mysrc
    prefix = unique_name("rgp")
    topic = f"{prefix}.{db}"
    pg_db = unique_name("rgpg")
    pg_connect(stack).cursor().execute(f'CREATE DATABASE "{pg_db}"')
    pg = pg_connect(stack, dbname=pg_db)
    pg.autocommit = True
    col = collector(bin_dir, "mysql-to-pg", tmp_path, "collector", {
        "source.name": db, "topic.prefix": prefix, "tables.include": db + r"\..*",
        "source.server_id": str(random.randint(100000, 4000000000)),
        "start.position": master_pos(my), "snapshot.mode": "initial",
        "snapshot.chunk.rows": "40", "snapshot.signal.table": f"{sigdb}.sig", "lease": "false"})
    app = applier(bin_dir, "mysql-to-pg", tmp_path, "applier-pg", {
        "source.topic": topic, "tables": f"{db}.*", "task.name": db + "_pg",
        "target.database": pg_db, "map.tables": f"{db}.*={db}.*"})
    cols, key = ["g", "n", "v"], ["g", "n"]
    try:
        col.start()
        wait_topic(stack, topic)
        app.start()
        want = my_rows(my, db, "t", cols, key)
        wait_until("the initial copy applied",
                   lambda: (pg_rows(pg, db, "t", cols, key) == want, None), (col, app), 120)
        port = port_of(col)
        # damage the target: inside (a,50) < k <= (b,70) and outside it
        inside_upd, inside_del = [("a", 60), ("b", 70)], [("b", 10)]
        outside_upd, outside_del = [("a", 50), ("b", 71)], [("a", 10), ("c", 5)]
        cur = pg.cursor()
        for g, n in inside_upd + outside_upd:
            cur.execute(f'UPDATE "{db}".t SET v = %s WHERE g = %s AND n = %s', ("bad", g, n))
        for g, n in inside_del + outside_del:
            cur.execute(f'DELETE FROM "{db}".t WHERE g = %s AND n = %s', (g, n))
        before = len(read_keys(cat_records(bin_dir, topic), "t", key))
        assert before == 300

        p = snapshot_cli(bin_dir, port, f"{db}.t", "--after", '["a", 50]', "--upto",
                         '["b",70]', "--wait")
        assert p.returncode == 0, p.stdout + p.stderr
        m = re.search(r"request (\d+)", p.stdout)
        assert m, p.stdout
        ended = [e for e in status(port)["ended"] if e["id"] == m.group(1)]
        assert ended and ended[0]["state"] == "done" and ended[0]["rows"] == 120, ended
        assert ended[0]["after"] == ["a", 50] and ended[0]["upto"] == ["b", 70]

        def repaired():
            got = {(g, n): v for g, n, v in pg_rows(pg, db, "t", cols, key)}
            ok = all(got.get(k) == f"v{k[1]}" for k in inside_upd + inside_del)
            return ok, got
        got = wait_until("the range repaired", repaired, (col, app), 60)
        for k in outside_upd:
            assert got[k] == "bad", k
        for k in outside_del:
            assert k not in got, k
        assert len(got) == 300 - len(outside_del)

        keys = read_keys(cat_records(bin_dir, topic), "t", key)
        assert keys[before:] == [("a", n) for n in range(51, 101)] + [("b", n) for n in range(1, 71)]

        # a range that does not fit the key: refused when its turn comes, said, exit 1
        p = snapshot_cli(bin_dir, port, f"{db}.t", "--after", "[1]", "--wait")
        assert p.returncode == 1 and "refused" in p.stderr and "2 column" in p.stderr, \
            p.stdout + p.stderr
        # not JSON: refused at once (HTTP 400)
        p = snapshot_cli(bin_dir, port, f"{db}.t", "--upto", "a,3")
        assert p.returncode == 1 and "400" in p.stderr, p.stderr

        # a range asked in SQL while the collector is stopped: met in the log at its restart
        col.stop()
        cur.execute(f'UPDATE "{db}".t SET v = %s WHERE g = %s AND n IN (1, 2, 3)', ("bad", "c"))
        my_exec(my, (f"INSERT INTO `{sigdb}`.sig (source, mark) VALUES (%s, %s) "
                     "ON DUPLICATE KEY UPDATE mark = VALUES(mark)",
                     (db, f'{db}:S:sql9+["c",0]+["c",2] {db}.t')))
        col.start()
        wait_until("(c,0) < k <= (c,2) repaired",
                   lambda: ([r for r in pg_rows(pg, db, "t", cols, key) if r[0] == "c" and
                             r[1] <= 3] == [("c", 1, "v1"), ("c", 2, "v2"), ("c", 3, "bad")],
                            None), (col, app), 60)
    finally:
        stop_all(col, app)
        pg.close()


@pytest.fixture
def pgp(stack, bin_dir, tmp_path, unique_name):
    p = SnapPipeline(stack, bin_dir, tmp_path, unique_name, **{"snapshot.chunk.rows": "50"})
    yield p
    p.close()


def test_it_e2e_snapshot_range_pg_to_mysql(stack, bin_dir, pgp):
    p = pgp
    p.sql("CREATE TABLE items (id integer PRIMARY KEY, v text)",
          "INSERT INTO items SELECT i, 'v' || i FROM generate_series(1, 400) i",
          f'CREATE PUBLICATION "{p.pub}" FOR ALL TABLES', "ANALYZE items")
    cols = ["id", "v"]
    p.start()
    want = p.source_rows("items", cols)
    wait_until("the initial copy applied", lambda: (p.target_rows("items", cols) == want, None),
               (p.col, p.app), 120)
    port = port_of(p.col)
    # the progress estimate comes from the table's statistics (reltuples after ANALYZE)
    m = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'shiftlog_collector_snapshot_table_rows_estimate{table="public.items"} 400' in m
    damaged_in, gone_in = [101, 150, 300], [120, 280]
    damaged_out, gone_out = [100, 200, 301], [5, 250]
    my_exec(p.my, *[f"UPDATE `{p.my_db}`.items SET v = 'bad' WHERE id = {i}"
                    for i in damaged_in + damaged_out],
            *[f"DELETE FROM `{p.my_db}`.items WHERE id = {i}" for i in gone_in + gone_out])
    before = len(read_keys(read_all(bin_dir, p.topic), "items", ["id"]))
    assert before == 400
    # two ranges of the one table, queued one after the other: (100, 150] and (260, 300]
    r1 = snapshot_cli(bin_dir, port, "public.items", "--after", "[100]", "--upto", "[150]")
    r2 = snapshot_cli(bin_dir, port, "public.items", "--after", "[260]", "--upto", "[300]",
                      "--wait")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stdout + r2.stderr

    def repaired():
        got = dict(p.target_rows("items", cols))
        return all(got.get(i) == f"v{i}" for i in damaged_in + gone_in), got
    got = wait_until("the ranges repaired", repaired, (p.col, p.app), 60)
    assert all(got[i] == "bad" for i in damaged_out)
    assert all(i not in got for i in gone_out)
    wait_until("both ranges ended", lambda: (len([e for e in status(port)["ended"]
                                                  if e["state"] == "done" and e["after"]]) == 2,
                                             status(port)), (p.col,), 30)
    keys = [k for (k,) in read_keys(read_all(bin_dir, p.topic), "items", ["id"])]
    assert keys[before:] == list(range(101, 151)) + list(range(261, 301))


def read_all(bin_dir, topic):
    return cat_records(bin_dir, topic)


def test_it_e2e_snapshot_range_pg_bytea_hex(stack, bin_dir, pgp):
    p = pgp
    p.sql("CREATE TABLE bk (k bytea PRIMARY KEY, v integer)",
          "INSERT INTO bk SELECT decode(lpad(to_hex(i), 2, '0'), 'hex'), i "
          "FROM generate_series(0, 39) i",
          f'CREATE PUBLICATION "{p.pub}" FOR ALL TABLES')
    p.col.start()
    wait_topic(stack, p.topic)
    port = port_of(p.col)
    wait_until("the initial copy published", lambda: (
        len(read_keys(cat_records(bin_dir, p.topic), "bk", ["v"])) == 40, None), (p.col,), 60)
    r = snapshot_cli(bin_dir, port, "public.bk", "--after", '["0a"]', "--upto", '["\\\\x0f"]',
                     "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    keys = [v for (v,) in read_keys(cat_records(bin_dir, p.topic), "bk", ["v"])]
    assert keys[40:] == [11, 12, 13, 14, 15], keys[40:]
