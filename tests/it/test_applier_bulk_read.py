"""The applier's bulk path for snapshot rows (op READ) into PostgreSQL (target_pg_copy.c: COPY
straight into the table, or through a staging table and one INSERT … ON CONFLICT when a key is
already there), exact and exactly once under kill -9.

  it_applier_bulk_read_pg_kill9_exactly_once
      A MariaDB table of 24k rows whose texts hold what COPY's text format must escape (tab,
      newline, carriage return, backslash, the "\\N" text, empty strings) beside NULLs and
      non-ASCII, copied by a collector (snapshot.mode = initial_only, 400-row chunks) to its
      topic first. The PostgreSQL target table exists already with 300 of those keys holding
      other values (their chunks take the staging path, the others the direct COPY), and an
      audit trigger that records every row written. The applier is killed with -9 several
      times while it applies, and restarted. At the end: the target equals the source value
      for value; every key was written exactly once (one audit row per key: a chunk applied
      again after a kill would write its keys twice, one committed without its position
      would never be written again); the stored position is the topic's last COMMIT.

  it_applier_bulk_read_pg_key_twice_in_one_group
      A 20-row MariaDB table copied three times (snapshot.mode = initial, then two
      `shiftlog snapshot t --wait`) before the applier starts with flush.interval.ms = 5s:
      the three copies are grouped into one target transaction, so one COPY flush holds
      every key three times. The applier writes them without an error (the last image of
      each key wins) and the target equals the source.
"""

import random
import time

from e2e_util import (applier, wait_topic, collector, committed_messages, first_diff, master_pos, my_exec,
                      my_rows, mysql_connect, pg_connect, pg_drop, pg_rows, stop_all,
                      wait_until)

N = 24000
STALE = range(9001, 9301)          # keys the target holds already, with other values
NASTY = ["a\tb", "line\nbreak", "cr\rhere", "back\\slash", "\\N", "", "\\\\t", "é€😀",
         "trailing\\", "\t\n\r\\"]


def last_commit_offset(stack, topic):
    """The offset of the topic's last record (the collector's last COMMIT)."""
    return max((m.offset() for m in committed_messages(stack, topic, timeout=60)), default=-1)


def test_it_applier_bulk_read_pg_kill9_exactly_once(stack, bin_dir, tmp_path, unique_name):
    db, sigdb, pgdb = unique_name("bksrc"), unique_name("bksig"), unique_name("bkpg")
    prefix = unique_name("bkp")
    topic = f"{prefix}.{db}"
    my = mysql_connect(stack)
    rnd = random.Random(7)
    rows = []
    for i in range(1, N + 1):
        v = None if i % 13 == 0 else NASTY[i % len(NASTY)] + str(i) if i % 3 else f"v{i}"
        t = None if i % 17 == 0 else NASTY[(i * 7) % len(NASTY)] * (1 + i % 3)
        rows.append((i, v, f"{rnd.randint(-10**9, 10**9)}.{rnd.randint(0, 99):02d}", t))
    my_exec(my, f"CREATE DATABASE `{db}`",
            f"CREATE TABLE `{db}`.b (id INT PRIMARY KEY, v VARCHAR(60), d DECIMAL(12,2), "
            "t TEXT) DEFAULT CHARSET utf8mb4",
            f"GRANT CREATE, INSERT, UPDATE ON `{sigdb}`.* TO "
            f"'{stack['SL_MYSQL_CDC_USER']}'@'127.0.0.1'")
    with my.cursor() as c:
        for k in range(0, N, 2000):
            c.executemany(f"INSERT INTO `{db}`.b VALUES (%s, %s, %s, %s)", rows[k:k + 2000])
    pg_connect(stack).cursor().execute(f'CREATE DATABASE "{pgdb}"')
    pg = pg_connect(stack, dbname=pgdb)
    cur = pg.cursor()
    cur.execute(f'CREATE SCHEMA "{db}"')
    cur.execute(f'CREATE TABLE "{db}".b (id integer PRIMARY KEY, v varchar(60), '
                "d numeric(12,2), t text)")
    cur.executemany(f'INSERT INTO "{db}".b VALUES (%s, %s, %s, %s)',
                    [(i, "stale", 1, "stale") for i in STALE])
    cur.execute("CREATE TABLE audit (id integer NOT NULL)")
    cur.execute("CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NULL; END$$")
    cur.execute(f'CREATE TRIGGER audit AFTER INSERT OR UPDATE ON "{db}".b '
                "FOR EACH ROW EXECUTE FUNCTION audit_row()")
    col = collector(bin_dir, "mysql-to-pg", tmp_path, "collector", {
        "source.name": db, "topic.prefix": prefix, "tables.include": db + r"\.b",
        "source.server_id": str(random.randint(100000, 4000000000)),
        "start.position": master_pos(my), "snapshot.mode": "initial_only",
        "snapshot.chunk.rows": "400", "snapshot.signal.table": f"{sigdb}.sig",
        "lease": "false"})
    task = unique_name("task")
    app = applier(bin_dir, "mysql-to-pg", tmp_path, "applier", {
        "source.topic": topic, "tables": f"{db}.*", "task.name": task,
        "target.database": pgdb, "map.tables": f"{db}.*={db}.*", "write_batch": "300"})
    try:
        col.start()
        deadline = time.monotonic() + 120
        while col.alive():                 # initial_only: it stops once the copy is published
            assert time.monotonic() < deadline, col.tail()
            time.sleep(0.2)
        assert col.proc.returncode == 0, col.tail()
        last = last_commit_offset(stack, topic)
        assert last > N // 400, last

        def stored():
            cur.execute("SELECT kafka_offset, sub_offset FROM kafkaoffset WHERE task = %s", (task,))
            r = cur.fetchone()
            return r if r else (-1, -1)

        def applied():
            cur.execute(f'SELECT count(*) FROM "{db}".b')
            return cur.fetchone()[0]
        kills, mid = 0, 0
        for _ in range(6):
            app.start()
            seen = applied()
            t0 = time.monotonic()
            while applied() == seen and stored()[0] < last and time.monotonic() - t0 < 30:
                time.sleep(0.01)             # it applies something in this life
            time.sleep(rnd.uniform(0.0, 0.15))
            app.kill9()
            kills += 1
            mid += stored()[0] < last
            if stored()[0] >= last:
                break
        app.start()
        wait_until("the applier at the topic's end", lambda: (stored()[0] >= last, stored()),
                   (app,), timeout=120)
        assert mid >= 2, f"only {mid} of {kills} kills fell while the copy was applied"
        assert stored() == (last, -1)
        want = my_rows(my, db, "b", ["id", "v", "d", "t"], ["id"])
        got = pg_rows(pg, db, "b", ["id", "v", "d", "t"], ["id"])
        want = [(i, v, str(d), t) for i, v, d, t in want]
        got = [(i, v, str(d), t) for i, v, d, t in got]
        assert first_diff(want, got) is None, first_diff(want, got)
        cur.execute("SELECT count(*), count(DISTINCT id), "
                    "(SELECT count(*) FROM (SELECT id FROM audit GROUP BY id HAVING count(*) > 1) x) "
                    "FROM audit")
        assert cur.fetchone() == (N, N, 0)
    finally:
        stop_all(col, app)
        pg.close()
        pg_drop(stack, pgdb)
        my_exec(my, f"DROP DATABASE IF EXISTS `{db}`", f"DROP DATABASE IF EXISTS `{sigdb}`")
        my.close()


def test_it_applier_bulk_read_pg_key_twice_in_one_group(stack, bin_dir, tmp_path, unique_name):
    from test_e2e_snapshot_range import port_of, snapshot_cli
    db, sigdb, pgdb = unique_name("bk2src"), unique_name("bk2sig"), unique_name("bk2pg")
    prefix = unique_name("bk2p")
    topic = f"{prefix}.{db}"
    my = mysql_connect(stack)
    my_exec(my, f"CREATE DATABASE `{db}`",
            f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(20))",
            f"INSERT INTO `{db}`.t SELECT seq, CONCAT('v', seq) FROM `{db}`.seq_1_to_20",
            f"GRANT CREATE, INSERT, UPDATE ON `{sigdb}`.* TO "
            f"'{stack['SL_MYSQL_CDC_USER']}'@'127.0.0.1'")
    pg_connect(stack).cursor().execute(f'CREATE DATABASE "{pgdb}"')
    pg = pg_connect(stack, dbname=pgdb)
    pg.autocommit = True
    col = collector(bin_dir, "mysql-to-pg", tmp_path, "collector", {
        "source.name": db, "topic.prefix": prefix, "tables.include": db + r"\.t",
        "source.server_id": str(random.randint(100000, 4000000000)),
        "start.position": master_pos(my), "snapshot.mode": "initial",
        "snapshot.signal.table": f"{sigdb}.sig", "lease": "false"})
    app = applier(bin_dir, "mysql-to-pg", tmp_path, "applier", {
        "source.topic": topic, "tables": f"{db}.*", "task.name": unique_name("task"),
        "target.database": pgdb, "map.tables": f"{db}.*={db}.*",
        "flush.interval.ms": "5000", "write_batch": "100000"})
    try:
        col.start()
        wait_topic(stack, topic)
        port = port_of(col)
        for _ in range(2):
            p = snapshot_cli(bin_dir, port, f"{db}.t", "--wait")
            assert p.returncode == 0, p.stdout + p.stderr
        # the last image of each key must win: change the source before the last copy
        my_exec(my, f"UPDATE `{db}`.t SET v = CONCAT('w', id)")
        p = snapshot_cli(bin_dir, port, f"{db}.t", "--wait")
        assert p.returncode == 0, p.stdout + p.stderr
        app.start()
        want = my_rows(my, db, "t", ["id", "v"], ["id"])
        wait_until("the copies applied", lambda: (
            pg_rows(pg, db, "t", ["id", "v"], ["id"]) == want, app.tail(5)), (col, app), 60)
        assert "ERROR" not in app.text(), app.tail()
    finally:
        stop_all(col, app)
        pg.close()
        pg_drop(stack, pgdb)
        my_exec(my, f"DROP DATABASE IF EXISTS `{db}`", f"DROP DATABASE IF EXISTS `{sigdb}`")
        my.close()
