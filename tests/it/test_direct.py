"""Direct tasks (source.type = direct, docs/direct.md): goshift-style table copies with no Kafka
in between, on the real local stack.

Proves: a task row in a task table (task_def_sync_manager shape, in PostgreSQL and in MariaDB)
runs a full copy MariaDB -> PostgreSQL and PostgreSQL -> MariaDB, equal at the end as read by
independent clients; diff_column sync keeps rows that share the boundary value and arrive in a
later sync; kill -9 in the middle of a copy resumes after the last committed chunk with nothing
lost or doubled.
"""

import json
import signal
import subprocess
import time
from decimal import Decimal

import pytest

from conftest import mysql_connect, pg_connect


def my_uri(stack, db=""):
    return (f"mysql://{stack['SL_MYSQL_ROOT_USER']}:{stack['SL_MYSQL_ROOT_PASSWORD']}@"
            f"{stack['SL_MYSQL_HOST']}:{stack['SL_MYSQL_PORT']}/{db}")


def pg_uri(stack, db):
    return (f"postgresql://{stack['SL_PG_USER']}:{stack['SL_PG_PASSWORD']}@"
            f"{stack['SL_PG_HOST']}:{stack['SL_PG_PORT']}/{db}")


TASK_COLS = ("task_name", "from_db_type", "from_app", "from_db", "from_table", "to_db_type",
             "to_app", "to_db", "to_table", "params", "online_status", "task_status",
             "description")


def task_table_pg(cur, table, row):
    cur.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, task_name text UNIQUE, "
                "from_db_type text, from_app text, from_db text, from_table text, "
                "to_db_type text, to_app text, to_db text, to_table text, params text, "
                "online_status int, task_status text, description text)")
    cur.execute(f"INSERT INTO {table} ({', '.join(TASK_COLS)}) VALUES "
                f"({', '.join(['%s'] * len(TASK_COLS))})", [row[c] for c in TASK_COLS])


def task_table_my(cur, table, row):
    cur.execute(f"CREATE TABLE {table} (id int AUTO_INCREMENT PRIMARY KEY, "
                "task_name varchar(64) UNIQUE, from_db_type varchar(16), from_app varchar(64), "
                "from_db varchar(64), from_table varchar(64), to_db_type varchar(16), "
                "to_app varchar(64), to_db varchar(64), to_table varchar(64), params text, "
                "online_status tinyint, task_status varchar(16), description text)")
    cur.execute(f"INSERT INTO {table} ({', '.join(TASK_COLS)}) VALUES "
                f"({', '.join(['%s'] * len(TASK_COLS))})", [row[c] for c in TASK_COLS])


def applier(bin_dir, stack, task, target, tdb, *extra):
    if target == "postgresql":
        t = ["-X", "target.type=postgresql", "-X", f"target.port={stack['SL_PG_PORT']}",
             "-X", f"target.user={stack['SL_PG_USER']}",
             "-X", f"target.password={stack['SL_PG_PASSWORD']}"]
    else:
        t = ["-X", "target.type=mysql", "-X", f"target.port={stack['SL_MYSQL_PORT']}",
             "-X", f"target.user={stack['SL_MYSQL_ROOT_USER']}",
             "-X", f"target.password={stack['SL_MYSQL_ROOT_PASSWORD']}"]
    return [str(bin_dir / "shiftlog-applier"), "-X", f"task.name={task}",
            "-X", "source.type=direct", "-X", "target.host=127.0.0.1",
            "-X", f"target.database={tdb}", "-X", "http.listen=off", *t, *extra]


def run(cmd, timeout=40):
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        raise AssertionError("direct task did not end in time:\n" + err[-3000:])
    assert p.returncode == 0, err[-3000:]
    return err


def rows_my(stack, db, table, cols):
    c = mysql_connect(stack, database=db)
    try:
        with c.cursor() as cur:
            cur.execute(f"SELECT {', '.join(cols)} FROM `{table}` ORDER BY id")
            return [tuple(r) for r in cur.fetchall()]
    finally:
        c.close()


def rows_pg(stack, db, schema, table, cols):
    c = pg_connect(stack, dbname=db)
    try:
        with c.cursor() as cur:
            cur.execute(f'SELECT {", ".join(cols)} FROM "{schema}"."{table}" ORDER BY id')
            return [tuple(r) for r in cur.fetchall()]
    finally:
        c.close()


def norm(rows):
    """Values as both engines' Python drivers agree on them (bytes, Decimal, naive datetime)."""
    out = []
    for r in rows:
        out.append(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r))
    return out


@pytest.fixture
def dbs(stack, unique_name):
    """A MariaDB database and a PostgreSQL database of this test's own, dropped after it."""
    name = unique_name("dir")
    my = mysql_connect(stack)
    pg = pg_connect(stack)
    with my.cursor() as c:
        c.execute(f"CREATE DATABASE `{name}`")
    with pg.cursor() as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield name
    with my.cursor() as c:
        c.execute(f"DROP DATABASE IF EXISTS `{name}`")
    with pg.cursor() as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    my.close()
    pg.close()


COLS = ("id", "name", "amount", "ts", "raw", "f", "big")


def fill_my(stack, db, n, start=0):
    c = mysql_connect(stack, database=db)
    with c.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS src (id int PRIMARY KEY, name varchar(40), "
                    "amount decimal(12,3), ts datetime(6), raw varbinary(16), f double, "
                    "big bigint unsigned)")
        batch = [(i, f"n'{i}\"é", Decimal(i) / 7 if i % 5 else None,
                  f"2026-01-02 03:04:05.{i % 1000000:06d}", bytes([i % 256, 0, 255]),
                  i / 3.0, 2 ** 63 + i) for i in range(start, start + n)]
        cur.executemany("INSERT INTO src VALUES (%s, %s, ROUND(%s, 3), %s, %s, %s, %s)", batch)
    c.close()


def test_direct_task_row_mysql_to_pg(stack, bin_dir, dbs):
    """A task row in a PostgreSQL task table copies a MariaDB table into PostgreSQL in chunks."""
    fill_my(stack, dbs, 2345)
    pg = pg_connect(stack, dbname=dbs)
    with pg.cursor() as cur:
        task_table_pg(cur, "task_def_sync_manager", {
            "task_name": dbs, "from_db_type": "mariadb", "from_app": "shop", "from_db": dbs,
            "from_table": "src", "to_db_type": "postgresql", "to_app": "dw", "to_db": "public",
            "to_table": "dst", "params": json.dumps({"split.pk": "id", "read_batch": 500,
                                                     "write_batch": 200, "worker_num": 1}),
            "online_status": 1, "task_status": "new", "description": "full copy"})
    run(applier(bin_dir, stack, dbs, "postgresql", dbs,
                "-X", f"direct.tasks.uri={pg_uri(stack, dbs)}",
                "-X", f"direct.source.uri={my_uri(stack, dbs)}"))
    src = norm(rows_my(stack, dbs, "src", COLS))
    dst = norm(rows_pg(stack, dbs, "public", "dst", COLS))
    assert len(dst) == 2345
    assert dst == src
    with pg.cursor() as cur:
        cur.execute("SELECT task_status FROM task_def_sync_manager WHERE task_name = %s", (dbs,))
        assert cur.fetchone()[0] == "done"
    pg.close()


def test_direct_task_row_pg_to_mysql(stack, bin_dir, dbs):
    """A task row in a MariaDB task table copies a PostgreSQL table (composite key) into
    MariaDB."""
    pg = pg_connect(stack, dbname=dbs)
    with pg.cursor() as cur:
        cur.execute("CREATE TABLE src (id int, k2 varchar(20), name varchar(40), amount numeric(12,3), "
                    "ts timestamp(6), tz timestamptz, raw bytea, f float8, ok boolean, "
                    "PRIMARY KEY (id, k2))")
        cur.execute("INSERT INTO src SELECT i % 300, 'k' || (i / 300), 'n''' || i, "
                    "round(i / 7.0, 3), timestamp '2026-01-02 03:04:05' + i * interval '1 ms', "
                    "timestamptz '2026-03-01 00:00:00+02' + i * interval '1 s', "
                    "decode(lpad(to_hex(i), 8, '0'), 'hex'), i / 3.0, i % 2 = 0 "
                    "FROM generate_series(0, 1999) i")
    my = mysql_connect(stack, database=dbs)
    with my.cursor() as cur:
        task_table_my(cur, "task_def_sync_manager", {
            "task_name": dbs, "from_db_type": "postgresql", "from_app": "dw", "from_db": "public",
            "from_table": "src", "to_db_type": "mysql", "to_app": "shop", "to_db": dbs,
            "to_table": "dst", "params": json.dumps({"read_batch": 333, "write_batch": 100}),
            "online_status": 1, "task_status": "new", "description": "back"})
    run(applier(bin_dir, stack, dbs, "mysql", dbs,
                "-X", f"direct.tasks.uri={my_uri(stack, dbs)}",
                "-X", f"direct.source.uri={pg_uri(stack, dbs)}"))
    cols = ("id", "k2", "name", "amount", "ts", "raw", "f")
    with pg.cursor() as cur:
        cur.execute(f"SELECT {', '.join(cols)}, to_char(tz AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD HH24:MI:SS'), ok::int FROM src ORDER BY id, k2")
        src = norm(cur.fetchall())
    with my.cursor() as cur:
        cur.execute(f"SELECT {', '.join(cols)}, DATE_FORMAT(CONVERT_TZ(tz, @@session.time_zone, "
                    "'+00:00'), '%Y-%m-%d %H:%i:%s'), ok + 0 FROM dst ORDER BY id, k2")
        dst = norm(cur.fetchall())
    assert len(dst) == 2000
    assert dst == src
    pg.close()
    my.close()


def test_direct_diff_column_boundary_ties(stack, bin_dir, dbs, tmp_path):
    """diff_column sync: rows that share the watermark's value and arrive after a sync are
    read by the next one (`>=` plus upserts); a row changed to a later value is too."""
    my = mysql_connect(stack, database=dbs)
    X = "2026-05-05 10:00:00.000000"
    with my.cursor() as cur:
        cur.execute("CREATE TABLE src (id int PRIMARY KEY, v varchar(20), "
                    "update_time datetime(6) NOT NULL, KEY (update_time))")
        cur.executemany("INSERT INTO src VALUES (%s, %s, %s)",
                        [(i, f"a{i}", "2026-05-05 09:00:00" if i < 5 else X)
                         for i in range(10)])
    task = tmp_path / "task.json"
    task.write_text(json.dumps({
        "from_db_type": "mysql", "from_db": dbs, "from_table": "src",
        "to_db_type": "postgresql", "to_db": "public", "to_table": "dst",
        "params": {"diff_column": "update_time", "read_batch": 3}, "online_status": 1}))
    cmd = applier(bin_dir, stack, dbs, "postgresql", dbs, "-X", f"direct.task.file={task}",
                  "-X", f"direct.source.uri={my_uri(stack, dbs)}")
    run(cmd)
    assert len(rows_pg(stack, dbs, "public", "dst", ("id",))) == 10
    with my.cursor() as cur:
        # rows committed after the first sync with the boundary value itself
        cur.executemany("INSERT INTO src VALUES (%s, %s, %s)",
                        [(i, f"b{i}", X) for i in range(10, 14)])
        cur.execute("UPDATE src SET v = 'changed', update_time = %s WHERE id = 7", (X,))
        cur.execute("UPDATE src SET v = 'later', update_time = '2026-05-05 11:00:00' "
                    "WHERE id = 2")
    err = run(cmd)
    assert ">= watermark" in err
    src = rows_my(stack, dbs, "src", ("id", "v", "update_time"))
    dst = rows_pg(stack, dbs, "public", "dst", ("id", "v", "update_time"))
    assert dst == src
    assert len(dst) == 14
    # the second sync read only the rows at or past the watermark, not the table again
    pg = pg_connect(stack, dbname=dbs)
    with pg.cursor() as cur:
        cur.execute("SELECT progress FROM shiftlog_direct WHERE task = %s", (dbs,))
        prog = json.loads(cur.fetchone()[0])
    pg.close()
    assert prog["done"] and prog["rows"] == 10   # ids 5..13 at X, plus id 2 at 11:00
    assert prog["w"].startswith("2026-05-05 11:00:00")
    my.close()


def test_direct_kill9_resumes(stack, bin_dir, dbs):
    """kill -9 in the middle of a copy: the restart resumes after the last committed chunk;
    the target ends equal to the source, no row lost or written twice."""
    fill_my(stack, dbs, 40000)
    pg = pg_connect(stack, dbname=dbs)
    with pg.cursor() as cur:
        task_table_pg(cur, "tasks", {
            "task_name": dbs, "from_db_type": "mysql", "from_app": "a", "from_db": dbs,
            "from_table": "src", "to_db_type": "postgresql", "to_app": "b", "to_db": "public",
            "to_table": "dst", "params": json.dumps({"read_batch": 1000}),
            "online_status": 1, "task_status": "new", "description": ""})
    cmd = applier(bin_dir, stack, dbs, "postgresql", dbs,
                  "-X", f"direct.tasks.uri={pg_uri(stack, dbs)}", "-X", "direct.tasks.table=tasks",
                  "-X", f"direct.source.uri={my_uri(stack, dbs)}")
    kills = 0
    for _ in range(3):
        p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        seen = 0
        while time.time() < deadline and p.poll() is None:
            with pg.cursor() as cur:
                cur.execute("SELECT to_regclass('shiftlog_direct') IS NOT NULL")
                if cur.fetchone()[0]:
                    cur.execute("SELECT progress FROM shiftlog_direct WHERE task = %s", (dbs,))
                    r = cur.fetchone()
                    if r and not json.loads(r[0])["done"] and json.loads(r[0])["rows"] > seen:
                        break
            time.sleep(0.05)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
        p.stderr.close()
        with pg.cursor() as cur:
            cur.execute("SELECT progress FROM shiftlog_direct WHERE task = %s", (dbs,))
            prog = json.loads(cur.fetchone()[0])
        if prog["done"]:
            break
        # what the progress says is committed is exactly what the target holds
        with pg.cursor() as cur:
            cur.execute("SELECT count(*), max(id) FROM dst")
            cnt, mx = cur.fetchone()
        assert cnt == prog["rows"] and str(mx) == bytes.fromhex(prog["key"][0]).decode()
    assert kills >= 1
    err = run(cmd, timeout=300)
    assert "resuming" in err or "complete" in err
    src = norm(rows_my(stack, dbs, "src", COLS))
    dst = norm(rows_pg(stack, dbs, "public", "dst", COLS))
    assert len(dst) == 40000 and dst == src
    pg.close()


def test_direct_diff_column_late_commit_older_value(stack, bin_dir, dbs, tmp_path):
    """A row committed after a sync with a diff_column value older than the largest one that
    sync read (a long transaction) is still read by the next sync: the watermark never passes
    the source clock at the sync's start minus diff.lag.ms."""
    my = mysql_connect(stack, database=dbs)
    with my.cursor() as cur:
        cur.execute("CREATE TABLE src (id int PRIMARY KEY, update_time datetime(6) NOT NULL)")
        # one row stamped in the future (a clock ahead, a scheduled row): the largest value
        cur.execute("INSERT INTO src VALUES (1, UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE), "
                    "(2, UTC_TIMESTAMP(6) + INTERVAL 1 HOUR)")
    task = tmp_path / "task.json"
    task.write_text(json.dumps({
        "from_db_type": "mysql", "from_db": dbs, "from_table": "src",
        "to_db_type": "postgresql", "to_db": "public", "to_table": "dst",
        "params": {"diff_column": "update_time", "diff.lag.ms": 30000}}))
    cmd = applier(bin_dir, stack, dbs, "postgresql", dbs, "-X", f"direct.task.file={task}",
                  "-X", f"direct.source.uri={my_uri(stack, dbs)}")
    run(cmd)
    with my.cursor() as cur:
        # committed now, stamped 10 s ago (its transaction began then): older than row 2
        cur.execute("INSERT INTO src VALUES (3, UTC_TIMESTAMP(6) - INTERVAL 10 SECOND)")
    run(cmd)
    assert [r[0] for r in rows_pg(stack, dbs, "public", "dst", ("id",))] == [1, 2, 3]
    my.close()


def test_direct_refused_table_stops(stack, bin_dir, dbs, tmp_path):
    """A target that refuses the table for good (a text key MariaDB cannot index) stops the
    task after max.errors tries with the server's reason, instead of retrying forever."""
    pg = pg_connect(stack, dbname=dbs)
    with pg.cursor() as cur:
        cur.execute("CREATE TABLE src (id int, k text, v int, PRIMARY KEY (id, k))")
        cur.execute("INSERT INTO src VALUES (1, 'a', 1)")
    pg.close()
    task = tmp_path / "task.json"
    task.write_text(json.dumps({
        "from_db_type": "postgresql", "from_db": "public", "from_table": "src",
        "to_db_type": "mysql", "to_db": dbs, "to_table": "dst"}))
    p = subprocess.run(applier(bin_dir, stack, dbs, "mysql", dbs, "-X", "max.errors=2",
                               "-X", f"direct.task.file={task}",
                               "-X", f"direct.source.uri={pg_uri(stack, dbs)}"),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stderr[-2000:]
    assert "key was too long" in p.stderr and "stopping" in p.stderr


def test_direct_workers_kill9(stack, bin_dir, dbs):
    """worker_num = 3: three key ranges copied by three workers (each with its own progress row),
    kill -9 in the middle, the restart resumes each range; the target ends equal to the source."""
    fill_my(stack, dbs, 30000)
    pg = pg_connect(stack, dbname=dbs)
    with pg.cursor() as cur:
        task_table_pg(cur, "task_def_sync_manager", {
            "task_name": dbs, "from_db_type": "mysql", "from_app": "a", "from_db": dbs,
            "from_table": "src", "to_db_type": "postgresql", "to_app": "b", "to_db": "public",
            "to_table": "dst", "params": json.dumps({"worker_num": 3, "read_batch": 500,
                                                     "split.pk": "id"}),
            "online_status": 1, "task_status": "new", "description": ""})
    cmd = applier(bin_dir, stack, dbs, "postgresql", dbs,
                  "-X", f"direct.tasks.uri={pg_uri(stack, dbs)}",
                  "-X", f"direct.source.uri={my_uri(stack, dbs)}")
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None:
        with pg.cursor() as cur:
            cur.execute("SELECT to_regclass('shiftlog_direct') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute("SELECT count(*) FROM shiftlog_direct WHERE task LIKE %s "
                            "AND progress LIKE '%%\"key\"%%'", (dbs + "#%",))
                if cur.fetchone()[0] >= 2:
                    break
        time.sleep(0.05)
    killed = p.poll() is None
    if killed:
        p.send_signal(signal.SIGKILL)
    _, err1 = p.communicate()
    assert "(3 workers)" in err1, err1[-2000:]
    err = run(cmd, timeout=120)
    if killed:
        assert "resuming" in err
    src = norm(rows_my(stack, dbs, "src", COLS))
    dst = norm(rows_pg(stack, dbs, "public", "dst", COLS))
    assert len(dst) == 30000 and dst == src
    with pg.cursor() as cur:
        cur.execute("SELECT progress FROM shiftlog_direct WHERE task = %s", (dbs,))
        prog = json.loads(cur.fetchone()[0])
        cur.execute("SELECT count(*) FROM shiftlog_direct WHERE task LIKE %s", (dbs + "#%",))
        assert cur.fetchone()[0] == 3
    assert prog["done"]
    pg.close()
