"""Table names that hold '.' (issue 19): MariaDB and PostgreSQL allow '.' in database and table
names, so database "a.b" + table "c" and database "a" + table "b.c" are two tables that the text
"a.b.c" cannot tell apart. A real MariaDB source with both (different columns, different rows)
-> shiftlog-collector -> Kafka -> shiftlog-applier -> PostgreSQL, and -> shiftlog-miner -> the
shared log -> a second applier (source.type = mongolog) -> another PostgreSQL database:

  it_names_dotted_tables_stay_apart
      each target holds the two tables apart, each exactly its source rows (psycopg2 against
      pymysql); the shared log's documents name each table by db and tbl.

  it_names_mongo_hostile_names_refused
      MongoDB target names that are a system collection, hold '$' or fall in a reserved
      database: those tables are stopped with the reason, nothing is written there (pymongo).
"""

import re
import time

from conftest import pg_connect
from e2e_util import (applier, count_messages, first_diff, mongo_client, read_messages, stop_all,
                      wait_until)
from test_miner_util import Miner
from test_mysql_collector import Collector, master_pos

# database, table and columns of the two colliding tables (the database names get a prefix)
T1 = ("{u}.b", "c", "id INT PRIMARY KEY, amt DECIMAL(12,3), note VARCHAR(20)")
T2 = ("{u}", "b.c", "id INT PRIMARY KEY, note VARCHAR(20), at DATETIME(3)")


def my_rows(conn, db, table):
    with conn.cursor() as c:
        c.execute(f"SELECT * FROM `{db}`.`{table}` ORDER BY id")
        return [tuple(str(v) for v in r) for r in c.fetchall()]


def pg_rows(conn, db, table):
    cur = conn.cursor()
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{db}"."{table}"',))
    if not cur.fetchone()[0]:
        return None
    cur.execute(f'SELECT * FROM "{db}"."{table}" ORDER BY id')
    rows = []
    for r in cur.fetchall():
        # DATETIME(3) arrives as timestamp: print it the way MariaDB does
        rows.append(tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if hasattr(v, "strftime")
                          else str(v) for v in r))
    return rows


def test_it_names_dotted_tables_stay_apart(stack, bin_dir, tmp_path, unique_name, mysql_conn):
    u = unique_name("dn")
    tables = [(db.format(u=u), t, cols) for db, t, cols in (T1, T2)]
    admin = pg_connect(stack)
    pg_dbs = [unique_name("dnk"), unique_name("dnl")]        # from Kafka, from the log
    for d in pg_dbs:
        admin.cursor().execute(f'CREATE DATABASE "{d}"')
    with mysql_conn.cursor() as c:
        for db, t, cols in tables:
            c.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
            c.execute(f"CREATE TABLE `{db}`.`{t}` ({cols})")
    start = master_pos(mysql_conn)
    # the collector's filter: both tables (the dotted name is backquoted in the matched text)
    col = Collector(bin_dir, stack, tmp_path, unique_name("src"), unique_name("it"), start,
                    tables_include=r"`?" + re.escape(u) + r"[.`].*")
    mongo_db = unique_name("dnlog")
    miner = Miner(bin_dir, stack, tmp_path, col.source, col.prefix, mongo_db)
    common = {"source.topic": col.topic, "tables": "*", "tables.exclude": "",
              "columns.exclude": "", "map.tables": "*.*=*.*",
              "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"], "http.listen": "off",
              "flush.interval.ms": "100ms"}
    kapp = applier(bin_dir, "mysql-to-pg", tmp_path, "applier-kafka", {
        **common, "task.name": unique_name("dnk"), "target.database": pg_dbs[0]})
    lapp = applier(bin_dir, "mysql-to-pg", tmp_path, "applier-log", {
        **common, "task.name": unique_name("dnl"), "target.database": pg_dbs[1],
        "source.type": "mongolog", "source.name": col.source,
        "source.log.uri": stack["SL_MONGO_URI"], "source.log.database": mongo_db})
    pgs = []
    try:
        col.start()
        miner.start()
        with mysql_conn.cursor() as c:
            for i in range(1, 6):
                c.execute(f"INSERT INTO `{tables[0][0]}`.`c` VALUES (%s, %s, %s)",
                          (i, f"{i}123.45{i}", f"one-{i}"))
                c.execute(f"INSERT INTO `{tables[1][0]}`.`b.c` VALUES (%s, %s, %s)",
                          (i * 10, f"two-{i}", f"2026-01-0{i} 10:11:12.{i}00"))
            c.execute(f"UPDATE `{tables[0][0]}`.`c` SET note = 'changed' WHERE id = 2")
            c.execute(f"DELETE FROM `{tables[1][0]}`.`b.c` WHERE id = 30")
        kapp.start()
        miner.wait_offset(stack, timeout=60)
        lapp.start()
        pgs = [pg_connect(stack, dbname=d) for d in pg_dbs]

        def check():
            for pg, name in zip(pgs, ("kafka", "log")):
                for db, t, _ in tables:
                    want, got = my_rows(mysql_conn, db, t), pg_rows(pg, db, t)
                    d = first_diff(want, got)
                    if d:
                        return False, f"{name} target {db}.{t}: {d}"
            return True, None
        wait_until("both targets hold both tables exactly", check, [kapp, lapp],
                   timeout=90)
        # the shared log names each table by its two parts (and an unambiguous `table`)
        mg = mongo_client(stack)
        coll = mg[mongo_db][col.source]
        assert coll.count_documents({"op": "insert", "db": tables[0][0], "tbl": "c"}) == 5
        assert coll.count_documents({"op": "insert", "db": tables[1][0], "tbl": "b.c"}) == 5
        assert coll.count_documents({"table": f"`{u}.b`.c", "op": "insert"}) == 5
        assert coll.count_documents({"table": f"{u}.`b.c`", "op": "insert"}) == 5
        mg.close()
        assert "shared log read up to its watermark" in lapp.text(), lapp.tail()
        # Kafka keys and sl.table headers name the tables apart too
        heads = {(k, h.get("sl.table")) for k, h in read_messages(stack, col.topic)}
        assert {(f"`{u}.b`.c",) * 2, (f"{u}.`b.c`",) * 2} <= heads, heads
        for a in (kapp, lapp):
            assert "stopped" not in a.text(), a.tail()
    finally:
        stop_all(kapp, lapp)
        miner.close()
        col.stop()
        for pg in pgs:
            pg.close()
        for d in pg_dbs:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{d}" WITH (FORCE)')
        admin.close()
        with mysql_conn.cursor() as c:
            for db, _, _ in tables:
                c.execute(f"DROP DATABASE IF EXISTS `{db}`")


def test_it_names_mongo_hostile_names_refused(stack, bin_dir, tmp_path, unique_name,
                                              mysql_conn):
    """Source tables whose MongoDB names would be a system collection (`system.evil`), hold a
    '$' (`a$b`), or land in a reserved database (map.tables r_* -> local.*) are stopped with a
    visible reason (log, dead-letter topic) and nothing is written there; the other table
    arrives. A fixed map.tables rule onto `admin` refuses to start."""
    src = unique_name("dnm")
    mg_db = unique_name("dnmg")
    evil = ["system.evil", "a$b", "r_one"]
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE DATABASE `{src}`")
        for t in ["ok", *evil]:
            c.execute(f"CREATE TABLE `{src}`.`{t}` (id INT PRIMARY KEY, v VARCHAR(20))")
    col = Collector(bin_dir, stack, tmp_path, unique_name("src"), unique_name("it"),
                    master_pos(mysql_conn), tables_include=re.escape(src) + r"\..*")
    conf = {"source.topic": col.topic, "task.name": unique_name("dnmt"),
            "target.port": stack["SL_MONGO_URI"].rsplit(":", 1)[1], "target.database": mg_db,
            "tables": f"{src}.*", "tables.exclude": "",
            "map.tables": f"{src}.r_*=local.*, {src}.*={mg_db}.*",
            "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"], "http.listen": "off",
            "flush.interval.ms": "100ms"}
    app = applier(bin_dir, "mysql-to-mongo", tmp_path, "applier-mongo", conf)
    bad = applier(bin_dir, "mysql-to-mongo", tmp_path, "applier-admin", {
        **conf, "task.name": unique_name("dnmb"), "map.tables": f"{src}.ok=admin.ok"})
    mg = mongo_client(stack)
    try:
        col.start()
        app.start()
        with mysql_conn.cursor() as c:
            for i in range(1, 4):
                for t in ["ok", *evil]:
                    c.execute(f"INSERT INTO `{src}`.`{t}` VALUES (%s, %s)", (i, f"{t}-{i}"))

        def arrived():
            got = sorted((d["id"], d["v"]) for d in mg[mg_db]["ok"].find())
            return got == [(i, f"ok-{i}") for i in range(1, 4)], got
        wait_until("the plain table in MongoDB", arrived, [app], timeout=60)
        time.sleep(1)
        names = mg[mg_db].list_collection_names()
        assert "system.evil" not in names and "a$b" not in names, names
        assert mg["local"]["r_one"].count_documents({}) == 0
        text = app.text()
        for t, why in (("system.evil", "system collection"), ("a$b", "'\\$'"),
                       ("r_one", "reserves \\(admin, local, config\\)")):
            assert re.search(rf"table {re.escape(src)}\.{re.escape(t)} stopped.*{why}", text), \
                (t, app.tail())
        assert count_messages(stack, col.topic + ".dlq") >= 3
        bad.start(wait=False)
        bad.proc.wait(timeout=60)
        assert bad.proc.returncode != 0, bad.tail()
        assert re.search(r"map\.tables: rule .*admin\.ok.*reserves", bad.text()), bad.tail()
    finally:
        stop_all(app, bad)
        col.stop()
        mg.drop_database(mg_db)
        mg.close()
        with mysql_conn.cursor() as c:
            c.execute(f"DROP DATABASE IF EXISTS `{src}`")
