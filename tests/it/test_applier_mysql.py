"""shiftlog-applier → MySQL/MariaDB through the core (bin/shiftlog-applier fed by tests/it/it_feed,
read back by pymysql): a table schema change that arrives while the open target transaction
already holds rows of that table. MySQL DDL commits implicitly, so the core commits the
complete source transactions first (or, when a source transaction is in progress behind them,
replays committing up to the last complete one) and only then applies the DDL: no error, no
dead letter, the position exact. The target gets the previous schema version from the core, so
RENAME / DROP / MODIFY COLUMN apply on MySQL too."""

import re

from conftest import mysql_connect
from test_applier_pg import Applier, feed, msgs, read_dlq, q  # noqa: F401


def my_applier(bin_dir, stack, task, topic, db, *extra):
    return Applier(bin_dir, stack, task, topic, db, "-X", "target.type=mysql",
                   "-X", f"target.host={stack['SL_MYSQL_HOST']}",
                   "-X", f"target.port={stack['SL_MYSQL_PORT']}",
                   "-X", f"target.user={stack['SL_MYSQL_ROOT_USER']}",
                   "-X", f"target.password={stack['SL_MYSQL_ROOT_PASSWORD']}", *extra,
                   logfile=f"/tmp/{task}.log")


def my_offset(cur, db, task):
    cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND "
                "TABLE_NAME='kafkaoffset'", (db,))
    if not cur.fetchone()[0]:
        return -1
    cur.execute(f"SELECT kafka_offset FROM `{db}`.kafkaoffset WHERE task=%s", (task,))
    r = cur.fetchone()
    return r[0] if r else -1


def wait_my_offset(cur, db, task, offset, app, timeout=60):
    import time
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if my_offset(cur, db, task) >= offset:
            return
        assert app.proc.poll() is None, f"applier exited {app.proc.returncode}\n{app.log()}"
        time.sleep(0.1)
    raise AssertionError(f"offset {my_offset(cur, db, task)} never reached {offset}\n{app.log()}")


def test_it_applier_mysql_schema_change_after_rows_in_open_transaction(
        stack, bin_dir, test_bin_dir, unique_name):
    topic, task, db = unique_name("tp"), unique_name("task"), unique_name("my")
    sch = "s" + db[-10:]          # the source db = the target database of the tables
    conn = mysql_connect(stack)
    cur = conn.cursor()
    ev = f"schema {sch} evolve id:int:bigint:pk=1 a:string:{q('varchar(10)')}:p=10:null"
    lines = [
        ev, f"schema {sch} other id:int:bigint:pk=1",
        f"insert {sch} evolve id,a i:1,s:one i:2,s:two", "commit",
        f"insert {sch} other id i:1", f"update {sch} evolve id,a i:1,s:one i:1,s:uno", "commit",
        # (1) ALTER ADD COLUMN b behind two complete source transactions that wrote `evolve`
        ev + " b:int:bigint:null",
        f"insert {sch} evolve id,a,b i:3,s:three,i:30", "commit",
        # (2) ALTER ADD COLUMN c while a source transaction (that wrote `other`) is in
        # progress, behind a complete one that wrote `evolve`
        f"insert {sch} other id i:2",
        ev + " b:int:bigint:null c:string:text:null",
        f"insert {sch} evolve id,a,b,c i:4,s:four,i:40,s:cc", "commit",
        f"update {sch} evolve id,a,b,c i:2,s:two,n,n i:2,s:dos,i:20,s:c2", "commit",
        # (3) RENAME COLUMN a TO aa and DROP COLUMN c (the core hands the target the previous
        # version), behind a complete transaction that wrote `evolve`
        f"insert {sch} evolve id,a,b,c i:5,s:five,i:50,s:c5", "commit",
        f"schema {sch} evolve id:int:bigint:pk=1 aa:string:{q('varchar(10)')}:p=10:null "
        "b:int:bigint:null",
        f"update {sch} evolve id,aa,b i:5,s:five,i:50 i:5,s:cinq,i:55", "commit"]
    feed(test_bin_dir, stack, topic, lines)
    last = msgs(lines) - 1
    # everything in one target transaction unless the core commits on its own
    app = my_applier(bin_dir, stack, task, topic, db, "-X", "flush.interval.ms=1h",
                     "-X", "write_batch=100000").start()
    try:
        wait_my_offset(cur, db, task, last, app)
    finally:
        app.stop()
    log = app.log()
    assert not re.search(r" (ERROR|WARN) ", log), log
    assert "committing the 2 complete source transaction(s) of the open target transaction " \
           "first" in log, log
    assert "inside a source transaction: replaying from the stored position" in log, log
    assert log.count("committing the 3 complete source transaction(s)") == 1, log
    cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND "
                "TABLE_NAME='evolve' ORDER BY ORDINAL_POSITION", (sch,))
    assert [r[0] for r in cur.fetchall()] == ["id", "aa", "b"]
    cur.execute(f"SELECT id, aa, b FROM `{sch}`.evolve ORDER BY id")
    assert cur.fetchall() == ((1, "uno", None), (2, "dos", 20), (3, "three", 30),
                              (4, "four", 40), (5, "cinq", 55))
    cur.execute(f"SELECT id FROM `{sch}`.other ORDER BY id")
    assert cur.fetchall() == ((1,), (2,))
    assert read_dlq(stack, topic + ".dlq", 0, timeout=2) == []

    # the stored position is exact: a restart applies only what comes after it (a mark
    # written into the target survives; a replay of the earlier transactions would undo it)
    cur.execute(f"UPDATE `{sch}`.evolve SET aa = 'mark' WHERE id = 1")
    more = ["at mysql-bin.000002 4", f"insert {sch} evolve id,aa,b i:6,s:six,i:60", "commit"]
    feed(test_bin_dir, stack, topic, more)
    app.start()
    try:
        wait_my_offset(cur, db, task, last + msgs(more), app)
    finally:
        app.stop()
    cur.execute(f"SELECT id, aa FROM `{sch}`.evolve ORDER BY id")
    assert cur.fetchall() == ((1, "mark"), (2, "dos"), (3, "three"), (4, "four"), (5, "cinq"),
                              (6, "six"))
    cur.execute(f"DROP DATABASE IF EXISTS `{sch}`")
    cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    conn.close()


def test_it_applier_mysql_schema_change_inside_the_source_transaction(
        stack, bin_dir, test_bin_dir, unique_name):
    """A source transaction that writes a table, changes its schema and writes it again (a
    PostgreSQL source: DDL is transactional there): the DDL runs before the source
    transaction, which is then replayed whole in one target transaction."""
    topic, task, db = unique_name("tp"), unique_name("task"), unique_name("my")
    sch = "s" + db[-10:]
    conn = mysql_connect(stack)
    cur = conn.cursor()
    ev = f"schema {sch} evolve id:int:bigint:pk=1"
    a10, a20 = f"a:string:{q('varchar(10)')}:p=10:null", f"a:string:{q('varchar(20)')}:p=20:null"
    lines = [
        f"{ev} {a10}", f"schema {sch} other id:int:bigint:pk=1",
        f"insert {sch} evolve id,a i:1,s:one", "commit",
        # one source transaction: rows of `other` and `evolve`, then ADD COLUMN b and a wider
        # a (MODIFY), then rows that need both
        f"insert {sch} other id i:1", f"insert {sch} evolve id,a i:2,s:two",
        f"{ev} {a20} b:int:bigint:null",
        f"insert {sch} evolve id,a,b i:3,s:three-is-long,i:30",
        f"update {sch} evolve id,a,b i:1,s:one,n i:1,s:one-is-long-too,i:10", "commit",
        f"insert {sch} evolve id,a,b i:4,s:four,i:40", "commit"]
    feed(test_bin_dir, stack, topic, lines)
    last = msgs(lines) - 1
    app = my_applier(bin_dir, stack, task, topic, db, "-X", "flush.interval.ms=1h",
                     "-X", "write_batch=100000").start()
    try:
        wait_my_offset(cur, db, task, last, app)
    finally:
        app.stop()
    log = app.log()
    assert not re.search(r" (ERROR|WARN) ", log), log
    assert "applying the DDL first, then replaying the source transaction" in log, log
    cur.execute("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE "
                "TABLE_SCHEMA=%s AND TABLE_NAME='evolve' ORDER BY ORDINAL_POSITION", (sch,))
    assert cur.fetchall() == (("id", "bigint(20)"), ("a", "varchar(20)"), ("b", "bigint(20)"))
    cur.execute(f"SELECT id, a, b FROM `{sch}`.evolve ORDER BY id")
    assert cur.fetchall() == ((1, "one-is-long-too", 10), (2, "two", None),
                              (3, "three-is-long", 30), (4, "four", 40))
    cur.execute(f"SELECT id FROM `{sch}`.other")
    assert cur.fetchall() == ((1,),)
    assert read_dlq(stack, topic + ".dlq", 0, timeout=2) == []
    cur.execute(f"DROP DATABASE IF EXISTS `{sch}`")
    cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    conn.close()


def test_it_applier_mysql_column_dropped_inside_the_source_transaction(
        stack, bin_dir, test_bin_dir, unique_name):
    """Rows written before a DROP COLUMN inside their own source transaction no longer fit
    the table once the DDL ran first: that transaction's rows go to the DLQ with the server's
    reason, its schema change stays in force, and the later transactions apply."""
    topic, task, db = unique_name("tp"), unique_name("task"), unique_name("my")
    sch = "s" + db[-10:]
    conn = mysql_connect(stack)
    cur = conn.cursor()
    lines = [f"schema {sch} e id:int:bigint:pk=1 a:int:bigint:null b:int:bigint:null",
             f"insert {sch} e id,a,b i:1,i:1,i:1", "commit",
             f"insert {sch} e id,a,b i:2,i:2,i:2",
             f"schema {sch} e id:int:bigint:pk=1 a:int:bigint:null",
             f"insert {sch} e id,a i:3,i:3", "commit",
             f"insert {sch} e id,a i:4,i:4", "commit"]
    feed(test_bin_dir, stack, topic, lines)
    app = my_applier(bin_dir, stack, task, topic, db, "-X", "flush.interval.ms=1h").start()
    try:
        wait_my_offset(cur, db, task, msgs(lines) - 1, app)
    finally:
        app.stop()
    cur.execute(f"SELECT * FROM `{sch}`.e ORDER BY id")
    assert cur.fetchall() == ((1, 1), (4, 4))
    dl = read_dlq(stack, topic + ".dlq", 2)
    assert [h["sl.dlq.offset"] for h in dl] == ["3", "5"], dl
    assert all("Unknown column" in h["sl.dlq.reason"] for h in dl), dl
    cur.execute(f"DROP DATABASE IF EXISTS `{sch}`")
    cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    conn.close()
