"""shiftlog validate (issue 21) against targets the real pipeline filled: collector (snapshot.mode
= initial) -> Kafka -> applier, every service a real process from examples/, a writer changing
the source the whole time.

  it_validate_mysql_to_pg_and_mongo     one MariaDB table of many types (FLOAT and DOUBLE down to
                                        1e-7, which MariaDB and PostgreSQL print differently, too)
                                        copied to PostgreSQL and
                                        to MongoDB: equal (exit 0) while the writer runs; then six
                                        corruptions of the PostgreSQL copy (a changed value, a
                                        missing row, an extra row, a DECIMAL with another scale,
                                        NULL turned into '', a 4-byte UTF-8 character changed) and
                                        two of the MongoDB copy: each found and named by key, and
                                        nothing else; --repair asks the collector for the copy
                                        again (key ranges: POST /snapshot with after/upto): every
                                        one fixed in both targets but the extra row (a snapshot
                                        copies rows, it does not delete them)
  it_validate_pg_to_mysql               a PostgreSQL table (composite key, boolean, numeric,
                                        timestamptz, 4-byte UTF-8 text) copied to MariaDB: equal
                                        under writes; a changed and a missing row found by key
  it_validate_large_bounded_memory      200k rows (1M with SHIFTLOG_LONG) loaded into MariaDB and
                                        PostgreSQL by each one's own SQL: equal at each chunk's
                                        first read (no re-check), and the process's peak RSS stays
                                        small; one changed row found
  it_validate_task                      --task: an applier's config (checked by the applier's
                                        --check) gives the target and the pairs: the tables its
                                        tables/tables.exclude take, named by map.tables, each
                                        compared over the columns the applier writes, under their
                                        map.columns names; a change in an excluded column is not a
                                        difference, one in a compared column is
  it_validate_cannot_validate           exit 2 (a table without a key, an unreachable server),
                                        and the exit codes in --help
  it_validate_mysql_big_values          9 MB values (MariaDB's NULL past max_allowed_packet)
  it_validate_pg_infinity_bc            ±infinity and BC timestamps differ from NULL and AD
  it_validate_latin1_key                a latin1 text key, one row per chunk (no endless loop)
  it_validate_mysql_unhashable          a row MariaDB cannot hash: exit 2 naming the key

The corruptions are written by independent clients (psycopg2, pymongo); what validate reports is
compared with the keys the test changed.
"""

import json
import os
import random
import re
import subprocess
import threading
import time

import pytest

from conftest import drop_slot
from e2e_util import (applier, collector, master_pos, mongo_client, my_exec, mysql_connect,
                      pg_connect, stop_all, wait_topic, wait_until)

N = 3000
SNAP_END = r"snapshot: \S+ done, \d+ rows; in all \d+ rows .* 0 left"


def my_url(stack):
    return (f"mysql://{stack['SL_MYSQL_ROOT_USER']}:{stack['SL_MYSQL_ROOT_PASSWORD']}@"
            f"127.0.0.1:{stack['SL_MYSQL_PORT']}")


def pg_url(stack, db):
    return (f"postgresql://{stack['SL_PG_USER']}:{stack['SL_PG_PASSWORD']}@127.0.0.1:"
            f"{stack['SL_PG_PORT']}/{db}")


def validate(bin_dir, src, dst, pairs, *extra, timeout=600):
    """Runs shiftlog validate --json; (exit status, parsed JSON or None, stderr, None)."""
    argv = [str(bin_dir / "shiftlog"), "validate", "--source", src, "--target", dst, "--json",
            "--retry-delay", "1000", *extra, *pairs]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=timeout)
    doc = json.loads(out) if out.strip() else None
    return p.returncode, doc, err, None


def keys_of(pair, part=None):
    r = pair if part is None else pair[part]
    return sorted((k["kind"], tuple(k["key"])) for k in r["keys"])


def wait_equal(bin_dir, src, dst, pairs, services, timeout=120):
    def equal():
        rc, doc, err, _ = validate(bin_dir, src, dst, pairs, "--retries", "1", "-q")
        return rc == 0, (rc, doc, err[-500:])
    wait_until("validate says equal", equal, services, timeout=timeout, interval=1)


# ------------------------------------------------------------------ MariaDB source

class MySource:
    def __init__(self, stack, unique_name):
        self.stack = stack
        self.db, self.sigdb = unique_name("vsrc"), unique_name("vsig")
        self.my = mysql_connect(stack)
        my_exec(self.my, f"CREATE DATABASE `{self.db}`",
                f"CREATE TABLE `{self.db}`.t (id INT PRIMARY KEY, d DECIMAL(12,2), "
                "s VARCHAR(40) CHARACTER SET utf8mb4, n VARCHAR(10), ts DATETIME(6), dd DATE, "
                "flag TINYINT(1), b VARBINARY(8), f DOUBLE, bits BIT(10), tm TIME(6), "
                "st SET('x','y','z'), e ENUM('a','b,c'), small DOUBLE, ff FLOAT)",
                f"INSERT INTO `{self.db}`.t SELECT seq, seq / 8, CONCAT('s😀', seq), "
                "IF(seq % 4 = 0, NULL, IF(seq % 4 = 1, '', 'n')), "
                "TIMESTAMPADD(MICROSECOND, seq * 1000003, '2024-02-29 23:59:59.000001'), "
                "DATE_ADD('1999-12-31', INTERVAL seq DAY), seq % 2, UNHEX(HEX(seq)), seq / 3e0, "
                "seq % 1024, SEC_TO_TIME(seq * 37.000001 - 50000), IF(seq % 3, 'x,z', ''), "
                f"IF(seq % 2, 'a', 'b,c'), seq * -1.25e-7, seq / 7 FROM `{self.db}`.seq_1_to_{N}",
                f"GRANT CREATE, INSERT, UPDATE ON `{self.sigdb}`.* TO "
                f"'{stack['SL_MYSQL_CDC_USER']}'@'127.0.0.1'")
        self.stop, self.ops, self.error = threading.Event(), 0, None

    def writer(self):
        conn = mysql_connect(self.stack)
        rnd = random.Random(21)
        try:
            while not self.stop.is_set():
                i = rnd.randint(100, N + 400)      # never the keys the test corrupts
                with conn.cursor() as c:
                    r = rnd.random()
                    if r < 0.6:
                        c.execute(f"UPDATE `{self.db}`.t SET d = d + 0.01, s = CONCAT(s, '🎉'), "
                                  "f = f * 1.5, ts = ts + INTERVAL 1 SECOND WHERE id = %s", (i,))
                    elif r < 0.8:
                        c.execute(f"DELETE FROM `{self.db}`.t WHERE id = %s", (i,))
                    else:
                        c.execute(f"INSERT IGNORE INTO `{self.db}`.t (id, d, s, n) VALUES "
                                  "(%s, 1.5, 'new', NULL)", (i,))
                self.ops += 1
                time.sleep(0.03)
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            conn.close()

    def close(self):
        my_exec(self.my, f"DROP DATABASE IF EXISTS `{self.db}`",
                f"DROP DATABASE IF EXISTS `{self.sigdb}`")
        self.my.close()


@pytest.fixture
def mysrc(stack, unique_name):
    s = MySource(stack, unique_name)
    yield s
    s.stop.set()
    s.close()


def test_it_validate_mysql_to_pg_and_mongo(stack, bin_dir, tmp_path, unique_name, mysrc):
    prefix = unique_name("vp")
    topic = f"{prefix}.{mysrc.db}"
    pg_db, mg_db = unique_name("vpg"), unique_name("vmg")
    pg_connect(stack).cursor().execute(f'CREATE DATABASE "{pg_db}"')
    pg = pg_connect(stack, dbname=pg_db)
    mc = mongo_client(stack)
    col = collector(bin_dir, "mysql-to-pg", tmp_path, "collector", {
        "source.name": mysrc.db, "topic.prefix": prefix, "tables.include": mysrc.db + r"\..*",
        "source.server_id": str(random.randint(100000, 4000000000)),
        "start.position": master_pos(mysrc.my), "snapshot.mode": "initial",
        "snapshot.chunk.rows": "500", "snapshot.signal.table": f"{mysrc.sigdb}.sig",
        "lease": "false"})
    app_pg = applier(bin_dir, "mysql-to-pg", tmp_path, "applier-pg", {
        "source.topic": topic, "tables": f"{mysrc.db}.*", "task.name": mysrc.db + "_pg",
        "target.database": pg_db, "map.tables": f"{mysrc.db}.*={mysrc.db}.*"})
    app_mg = applier(bin_dir, "mysql-to-mongo", tmp_path, "applier-mongo", {
        "source.topic": topic, "tables": f"{mysrc.db}.*", "tables.exclude": "",
        "task.name": mysrc.db + "_mg", "target.database": mg_db,
        "map.tables": f"{mysrc.db}.*={mg_db}.*"})
    services = (col, app_pg, app_mg)
    src, to_pg, to_mg = my_url(stack), pg_url(stack, pg_db), stack["SL_MONGO_URI"]
    pg_pair, mg_pair = [f"{mysrc.db}.t", f"{mysrc.db}.t"], [f"{mysrc.db}.t", f"{mg_db}.t"]
    w = threading.Thread(target=mysrc.writer)
    try:
        col.start()
        wait_topic(stack, topic)
        app_pg.start()
        app_mg.start()
        col.wait_log(SNAP_END, timeout=180)
        wait_equal(bin_dir, src, to_pg, pg_pair, services)
        w.start()
        time.sleep(1)
        # online: the writer goes on; validation must not call its changes differences
        ops0 = mysrc.ops
        for dst, pair in ((to_pg, pg_pair), (to_mg, mg_pair)):
            rc, doc, err, _ = validate(bin_dir, src, dst, pair, "--chunk-rows", "400",
                                       "--retries", "4")
            assert rc == 0, (dst, doc, err)
            assert doc["pairs"][0]["chunks"] >= 7 and doc["pairs"][0]["source_rows"] > N / 2
        assert mysrc.ops > ops0 + 20, "the writer did not run during the validation"
        mysrc.stop.set()
        w.join()
        assert mysrc.error is None, mysrc.error
        wait_equal(bin_dir, src, to_mg, mg_pair, services)

        cur = pg.cursor()
        cur.execute(f'UPDATE "{mysrc.db}".t SET f = f + 1 WHERE id = 11')
        cur.execute(f'DELETE FROM "{mysrc.db}".t WHERE id = 22')
        cur.execute(f'INSERT INTO "{mysrc.db}".t (id, s) VALUES ({N + 1000}, \'extra\')')
        cur.execute(f'ALTER TABLE "{mysrc.db}".t ALTER d TYPE numeric')   # keeps each scale
        cur.execute(f'UPDATE "{mysrc.db}".t SET d = round(d, 3) WHERE id = 33')  # 4.13 -> 4.130
        cur.execute(f'UPDATE "{mysrc.db}".t SET n = \'\' WHERE id = 44 AND n IS NULL')
        assert cur.rowcount == 1
        cur.execute(f'UPDATE "{mysrc.db}".t SET s = replace(s, \'😀\', \'😁\') WHERE id = 55')
        coll = mc[mg_db]["t"]
        assert coll.update_one({"_id": 11}, {"$set": {"s": "s😁11"}}).modified_count == 1
        assert coll.delete_one({"_id": 66}).deleted_count == 1

        rc, doc, err, _ = validate(bin_dir, src, to_pg, pg_pair, "--chunk-rows", "400",
                                   "--retries", "1")
        assert rc == 1, (doc, err)
        assert keys_of(doc["pairs"][0]) == [("changed", (11,)), ("changed", (33,)),
                                            ("changed", (44,)), ("changed", (55,)),
                                            ("extra", (N + 1000,)), ("missing", (22,))]
        rc, doc, err, _ = validate(bin_dir, src, to_mg, mg_pair, "--retries", "1")
        assert rc == 1 and keys_of(doc["pairs"][0]) == [("changed", (11,)), ("missing", (66,))]
        p = subprocess.run([str(bin_dir / "shiftlog"), "validate", "--source", src, "--target",
                            to_pg, "--retries", "1", "--retry-delay", "200", *pg_pair],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 1 and "missing  id=22" in p.stdout and "DIFFERENT" in p.stdout

        # --repair: the collector copies the ranges again (through the topic: both targets)
        port = re.search(r"/metrics on 127.0.0.1:(\d+)", col.text()).group(1)
        rc, doc, err, _ = validate(bin_dir, src, to_pg, pg_pair, "--retries", "1", "--repair",
                                   "--collector", f"http://127.0.0.1:{port}")
        pair = doc["pairs"][0]
        assert rc == 1, (doc, err)        # the extra row stays: a copy does not delete
        assert f"re-snapshot of {mysrc.db}.t after " in err
        assert re.search(r"key range after \S+ upto \S+ queued", col.text()), col.tail(20)
        assert keys_of(pair["repair"]) == [("extra", (N + 1000,))], (pair, err)
        cur.execute(f'SELECT d::text FROM "{mysrc.db}".t WHERE id = 33')
        assert cur.fetchone()[0] == "4.13"
        wait_equal(bin_dir, src, to_mg, mg_pair, services, timeout=60)
    finally:
        mysrc.stop.set()
        stop_all(*services)
        pg.close()
        pg_connect(stack).cursor().execute(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
        mc.drop_database(mg_db)
        mc.close()


# ------------------------------------------------------------------ PostgreSQL source

def test_it_validate_pg_to_mysql(stack, bin_dir, tmp_path, unique_name):
    db = unique_name("vpgsrc")
    slot, pub, prefix, my_db = f"s_{db}"[:63], f"p_{db}"[:63], unique_name("vq"), unique_name("vmy")
    admin = pg_connect(stack)
    admin.cursor().execute(f'CREATE DATABASE "{db}"')
    pg = pg_connect(stack, dbname=db)
    my = mysql_connect(stack)
    cur = pg.cursor()
    cur.execute("CREATE TABLE items (a integer, b varchar(20), ok boolean, amount numeric(12,3), "
                "at timestamptz, name text, PRIMARY KEY (b, a))")
    cur.execute("INSERT INTO items SELECT i % 300, 'k' || (i / 300), i % 3 = 0, i / 7.0, "
                "'2024-01-01 00:00:00+02'::timestamptz + i * interval '1.000001 second', "
                "'ü😀' || i FROM generate_series(0, 2999) i")
    cur.execute(f'CREATE PUBLICATION "{pub}" FOR ALL TABLES')
    col = collector(bin_dir, "pg-to-mysql", tmp_path, "collector", {
        "source.name": db, "topic.prefix": prefix, "source.database": db,
        "source.slot": slot, "source.publication": pub, "snapshot.mode": "initial",
        "snapshot.chunk.rows": "500"})
    app = applier(bin_dir, "pg-to-mysql", tmp_path, "applier-mysql", {
        "source.topic": f"{prefix}.{db}", "tables": "public.*", "task.name": db + "_my",
        "target.database": my_db, "map.tables": f"public.*={my_db}.*"})
    stop = threading.Event()
    errors = []

    def writer():
        conn = pg_connect(stack, dbname=db)
        c = conn.cursor()
        rnd = random.Random(3)
        try:
            while not stop.is_set():
                a, b = rnd.randrange(10, 300), f"k{rnd.randrange(1, 12)}"
                r = rnd.random()
                if r < 0.6:
                    c.execute("UPDATE items SET ok = NOT ok, amount = amount + 0.001, name = "
                              "name || '🎉' WHERE a = %s AND b = %s", (a, b))
                elif r < 0.8:
                    c.execute("DELETE FROM items WHERE a = %s AND b = %s", (a, b))
                else:
                    c.execute("INSERT INTO items VALUES (%s, %s, true, 1.5, now(), 'new') ON "
                              "CONFLICT DO NOTHING", (a, b))
                time.sleep(0.03)
        except Exception as e:  # reported by the test
            errors.append(e)
        finally:
            conn.close()
    w = threading.Thread(target=writer)
    src, dst, pair = pg_url(stack, db), my_url(stack), ["public.items", f"{my_db}.items"]
    try:
        col.start()
        wait_topic(stack, f"{prefix}.{db}")
        app.start()
        col.wait_log(r"snapshot: public\.items done", timeout=180)
        wait_equal(bin_dir, src, dst, pair, (col, app))
        w.start()
        time.sleep(1)
        rc, doc, err, _ = validate(bin_dir, src, dst, pair, "--chunk-rows", "300", "--retries", "4")
        assert rc == 0, (doc, err)
        assert doc["pairs"][0]["chunks"] >= 8 and doc["pairs"][0]["key_columns"] == ["b", "a"]
        stop.set()
        w.join()
        assert not errors, errors
        wait_equal(bin_dir, src, dst, pair, (col, app))
        my_exec(my, f"UPDATE `{my_db}`.items SET ok = 1 - ok WHERE a = 5 AND b = 'k3'",
                f"DELETE FROM `{my_db}`.items WHERE a = 7 AND b = 'k0'")
        rc, doc, err, _ = validate(bin_dir, src, dst, pair, "--retries", "1")
        assert rc == 1, (doc, err)
        assert keys_of(doc["pairs"][0]) == [("changed", ("k3", 5)), ("missing", ("k0", 7))]
    finally:
        stop.set()
        stop_all(col, app)
        pg.close()
        c = admin.cursor()
        drop_slot(c, slot)
        c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()
        my_exec(my, f"DROP DATABASE IF EXISTS `{my_db}`")
        my.close()


# ------------------------------------------------------------------ size, errors

def test_it_validate_large_bounded_memory(stack, bin_dir, unique_name):
    n = 1000000 if os.environ.get("SHIFTLOG_LONG") else 200000
    db = unique_name("vbig")
    my = mysql_connect(stack)
    pg_connect(stack).cursor().execute(f'CREATE DATABASE "{db}"')
    pg = pg_connect(stack, dbname=db)
    try:
        my_exec(my, f"CREATE DATABASE `{db}`",
                f"CREATE TABLE `{db}`.t (id BIGINT PRIMARY KEY, v VARCHAR(40), d DECIMAL(14,4), "
                "ts DATETIME(6))",
                f"INSERT INTO `{db}`.t SELECT seq, CONCAT('value ', seq), seq / 16, "
                f"'2020-01-01' + INTERVAL seq SECOND FROM `{db}`.seq_1_to_{n}")
        cur = pg.cursor()
        cur.execute(f'CREATE SCHEMA "{db}"')
        cur.execute(f'CREATE TABLE "{db}".t (id bigint PRIMARY KEY, v text, d numeric(14,4), '
                    "ts timestamp(6))")
        cur.execute(f'INSERT INTO "{db}".t SELECT i, \'value \' || i, i / 16.0, '
                    f"'2020-01-01'::timestamp + i * interval '1 second' FROM "
                    f"generate_series(1, {n}) i")
        rc, doc, err, _ = validate(bin_dir, my_url(stack), pg_url(stack, db), [f"{db}.t", f"{db}.t"],
                                   "-q")
        assert rc == 0, (doc, err)
        assert doc["pairs"][0]["source_rows"] == n == doc["pairs"][0]["target_rows"]
        # tables that do not change are proven equal by each chunk's first read (the source's
        # end key and checksum come from one query: its XOR must be the one the target's
        # checksum gives), never by a re-check
        assert doc["pairs"][0]["chunks_rechecked"] == 0, doc
        rss_mb = doc["peak_rss_kb"] / 1024        # VmHWM of the validate process itself
        print(f"validate: {n} rows in {doc['pairs'][0]['seconds']:.1f} s, peak RSS {rss_mb:.1f} MB")
        assert 0 < rss_mb < 40, f"peak RSS {rss_mb:.1f} MB"
        cur.execute(f'UPDATE "{db}".t SET v = \'value X\' WHERE id = {n // 2}')
        rc, doc, err, _ = validate(bin_dir, my_url(stack), pg_url(stack, db), [f"{db}.t", f"{db}.t"],
                                   "--retries", "0", "-q")
        assert rc == 1 and keys_of(doc["pairs"][0]) == [("changed", (n // 2,))], (doc, err)
    finally:
        my_exec(my, f"DROP DATABASE IF EXISTS `{db}`")
        my.close()
        pg.close()
        pg_connect(stack).cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_it_validate_cannot_validate(stack, bin_dir, unique_name):
    db = unique_name("vnokey")
    my = mysql_connect(stack)
    try:
        my_exec(my, f"CREATE DATABASE `{db}`", f"CREATE TABLE `{db}`.t (v INT)")
        rc, doc, err, _ = validate(bin_dir, my_url(stack), my_url(stack), [f"{db}.t", f"{db}.t"])
        assert rc == 2 and doc["pairs"][0]["result"] == "error"
        assert "no primary key" in doc["pairs"][0]["error"]
        rc, doc, err, _ = validate(bin_dir, my_url(stack), "postgresql://x@127.0.0.1:1/x",
                                   [f"{db}.t", f"{db}.t"])
        assert rc == 2 and doc is None and "PostgreSQL" in err
    finally:
        my_exec(my, f"DROP DATABASE IF EXISTS `{db}`")
        my.close()
    h = subprocess.run([str(bin_dir / "shiftlog"), "validate", "--help"], capture_output=True,
                       text=True)
    assert h.returncode == 0 and "0 every pair equal, 1 differences found" in h.stdout
    assert "2 could not validate" in h.stdout


def test_it_validate_task(stack, bin_dir, tmp_path, unique_name):
    db, pgdb = unique_name("vtask"), unique_name("vtaskpg")
    my, admin = mysql_connect(stack), pg_connect(stack)
    admin.cursor().execute(f'CREATE DATABASE "{pgdb}"')
    pg = pg_connect(stack, dbname=pgdb)
    conf = tmp_path / "applier.conf"
    conf.write_text(f"""task.name = {db}
source.topic = shiftlog.{db}
target.type = postgresql
target.host = 127.0.0.1
target.port = {stack['SL_PG_PORT']}
target.user = {stack['SL_PG_USER']}
target.password = {stack['SL_PG_PASSWORD']}
target.database = {pgdb}
target.tls.mode = disable
tables = {db}.*
tables.exclude = {db}.skip_*
map.tables = {db}.*=copy.*
map.columns = {db}.orders.note=remark
columns.exclude = {db}.orders.secret
kafka.bootstrap.servers = {stack['SL_KAFKA_BROKERS']}
""")
    try:
        chk = subprocess.run([str(bin_dir / "shiftlog-applier"), "-c", str(conf), "--check"],
                             capture_output=True, text=True)
        assert chk.returncode == 0, chk.stderr
        my_exec(my, f"CREATE DATABASE `{db}`",
                f"CREATE TABLE `{db}`.orders (id INT PRIMARY KEY, note VARCHAR(20), "
                "secret VARCHAR(20), amount DECIMAL(8,2))",
                f"CREATE TABLE `{db}`.items (k VARCHAR(8) PRIMARY KEY, n INT)",
                f"CREATE TABLE `{db}`.skip_tmp (id INT PRIMARY KEY)",
                f"INSERT INTO `{db}`.orders SELECT seq, CONCAT('n', seq), 's', seq / 4 "
                f"FROM `{db}`.seq_1_to_500",
                f"INSERT INTO `{db}`.items SELECT CONCAT('k', seq), seq FROM `{db}`.seq_1_to_50",
                f"INSERT INTO `{db}`.skip_tmp VALUES (1)")
        cur = pg.cursor()
        cur.execute("CREATE SCHEMA copy")
        cur.execute("CREATE TABLE copy.orders (id int PRIMARY KEY, remark varchar(20), "
                    "amount numeric(8,2))")
        cur.execute("INSERT INTO copy.orders SELECT i, 'n' || i, i / 4.0 "
                    "FROM generate_series(1, 500) i")
        cur.execute("CREATE TABLE copy.items (k varchar(8) PRIMARY KEY, n int)")
        cur.execute("INSERT INTO copy.items SELECT 'k' || i, i FROM generate_series(1, 50) i")

        def run():
            p = subprocess.run([str(bin_dir / "shiftlog"), "validate", "--json", "-q",
                                "--retries", "0", "--source", my_url(stack), "--task",
                                str(conf)], capture_output=True, text=True, timeout=120)
            return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr

        rc, doc, err = run()
        assert rc == 0, (doc, err)
        assert [(x["source"], x["target"]) for x in doc["pairs"]] == [
            (f"{db}.items", "copy.items"), (f"{db}.orders", "copy.orders")]
        assert doc["pairs"][1]["source_rows"] == 500
        assert doc["pairs"][0]["chunks_rechecked"] == doc["pairs"][1]["chunks_rechecked"] == 0, doc
        # the other way round, PostgreSQL as the source (its end key and checksum read at once)
        rc, doc, err, _ = validate(bin_dir, pg_url(stack, pgdb), my_url(stack),
                                   ["copy.items", f"{db}.items"], "--chunk-rows", "10", "-q")
        assert rc == 0 and doc["pairs"][0]["chunks"] == 6, (doc, err)
        assert doc["pairs"][0]["chunks_rechecked"] == 0, doc
        my_exec(my, f"UPDATE `{db}`.orders SET secret = 'changed' WHERE id = 7")
        rc, doc, err = run()
        assert rc == 0, (doc, err)
        cur.execute("UPDATE copy.orders SET remark = 'x' WHERE id = 9")
        rc, doc, err = run()
        assert rc == 1, (doc, err)
        assert keys_of(doc["pairs"][1]) == [("changed", (9,))]
        assert doc["pairs"][0]["result"] == "equal"
    finally:
        pg.close()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{pgdb}" WITH (FORCE)')
        admin.close()
        my_exec(my, f"DROP DATABASE IF EXISTS `{db}`")
        my.close()


# ------------------------------------------------------------------ edge values (direct SQL)

def run_validate(bin_dir, src, dst, pair, *extra, timeout=60):
    """validate --json with a hard timeout that kills it (a spinning chunk loop must fail)."""
    p = subprocess.run([str(bin_dir / "shiftlog"), "validate", "--source", src, "--target", dst,
                        "--json", "-q", "--retries", "0", *extra, *pair],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


@pytest.fixture
def dbs(stack, unique_name):
    """Two MariaDB databases a and b and a PostgreSQL database a, dropped after the test."""
    a, b = unique_name("va"), unique_name("vb")
    my, admin = mysql_connect(stack), pg_connect(stack)
    admin.cursor().execute(f'CREATE DATABASE "{a}"')
    pg = pg_connect(stack, dbname=a)
    try:
        yield a, b, my, pg
    finally:
        my_exec(my, f"DROP DATABASE IF EXISTS `{a}`", f"DROP DATABASE IF EXISTS `{b}`")
        my.close()
        pg.close()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{a}" WITH (FORCE)')
        admin.close()


def test_it_validate_mysql_big_values(stack, bin_dir, dbs):
    """MariaDB answers NULL, not an error, for a string over max_allowed_packet (16 MB here):
    a 9 MB blob's hex (row 1), a row's text of 18 MB (row 2). Each must still be hashed (no
    NULL hash skipped by BIT_XOR, no overflow hashed like SQL NULL), and the same on
    PostgreSQL."""
    a, b, my, pg = dbs
    for db, v1, v2 in ((a, "REPEAT('x', 9000000)", "REPEAT('y', 9000000)"),
                       (b, "NULL", "CONCAT(REPEAT('y', 8999999), 'z')")):
        my_exec(my, f"CREATE DATABASE `{db}`",
                f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, b LONGBLOB, s LONGTEXT, "
                "s2 LONGTEXT)",
                f"INSERT INTO `{db}`.t VALUES (1, {v1}, NULL, NULL), (2, NULL, "
                f"REPEAT('w', 9000000), {v2}), (3, 'ab', 'c', '')")
    rc, doc, err = run_validate(bin_dir, my_url(stack), my_url(stack), [f"{a}.t", f"{b}.t"])
    assert rc == 1, (doc, err)
    assert keys_of(doc["pairs"][0]) == [("changed", (1,)), ("changed", (2,))], doc
    cur = pg.cursor()
    cur.execute(f'CREATE SCHEMA "{a}"')
    cur.execute(f'CREATE TABLE "{a}".t (id int PRIMARY KEY, b bytea, s text, s2 text)')
    cur.execute(f"INSERT INTO \"{a}\".t VALUES (1, repeat('x', 9000000)::bytea, NULL, NULL), "
                "(2, NULL, repeat('w', 9000000), repeat('y', 9000000)), (3, 'ab', 'c', '')")
    rc, doc, err = run_validate(bin_dir, my_url(stack), pg_url(stack, a),
                                [f"{a}.t", f"{a}.t"])
    assert rc == 0 and doc["pairs"][0]["source_rows"] == 3, (doc, err)


def test_it_validate_pg_infinity_bc(stack, bin_dir, dbs):
    """to_char() gives NULL for ±infinity and drops the era: infinity, -infinity and a BC
    timestamp must differ from NULL, infinity and the AD one."""
    db, _, _, pg = dbs
    cur = pg.cursor()
    for sch, v in (("a", ["'infinity'", "'-infinity'", "'2020-05-01 10:00 BC'"]),
                   ("b", ["NULL", "'infinity'", "'2020-05-01 10:00'"])):
        cur.execute(f"CREATE SCHEMA {sch}")
        cur.execute(f"CREATE TABLE {sch}.t (id int PRIMARY KEY, ts timestamp, tz timestamptz)")
        cur.execute(f"INSERT INTO {sch}.t VALUES (1, {v[0]}, now()), (2, {v[1]}, NULL), "
                    f"(3, {v[2]}, NULL), (4, NULL, {v[0]}), (5, NULL, {v[1]}), "
                    f"(6, NULL, {v[2]}), (7, '2020-05-01 10:00', '2020-05-01 10:00Z')")
    cur.execute("UPDATE b.t SET tz = (SELECT tz FROM a.t WHERE id = 1) WHERE id = 1")
    rc, doc, err = run_validate(bin_dir, pg_url(stack, db), pg_url(stack, db), ["a.t", "b.t"])
    assert rc == 1, (doc, err)
    assert keys_of(doc["pairs"][0]) == [("changed", (k,)) for k in range(1, 7)], doc


def test_it_validate_latin1_key(stack, bin_dir, dbs):
    """A MariaDB text key in latin1: its bound (UTF-8 text) must be compared with the key in
    the same encoding, else the chunk loop never advances; PostgreSQL orders it alike."""
    a, b, my, pg = dbs
    keys = ["éa", "éb", "éc", "z", "ÿ"]
    for db in (a, b):
        my_exec(my, f"CREATE DATABASE `{db}`",
                f"CREATE TABLE `{db}`.t (k VARCHAR(8) CHARACTER SET latin1 "
                "COLLATE latin1_swedish_ci PRIMARY KEY, v INT)",
                *[(f"INSERT INTO `{db}`.t VALUES (%s, %s)", (k, i)) for i, k in enumerate(keys)])
    my_exec(my, f"UPDATE `{b}`.t SET v = 99 WHERE k = 'éb'")
    rc, doc, err = run_validate(bin_dir, my_url(stack), my_url(stack), [f"{a}.t", f"{b}.t"],
                                "--chunk-rows", "1", timeout=20)
    assert rc == 1 and doc["pairs"][0]["source_rows"] == 5, (doc, err)
    assert keys_of(doc["pairs"][0]) == [("changed", ("éb",))], doc
    cur = pg.cursor()
    cur.execute(f'CREATE SCHEMA "{a}"')
    cur.execute(f'CREATE TABLE "{a}".t (k varchar(8) PRIMARY KEY, v int)')
    for i, k in enumerate(keys):
        cur.execute(f'INSERT INTO "{a}".t VALUES (%s, %s)', (k, i))
    for src, dst in ((my_url(stack), pg_url(stack, a)), (pg_url(stack, a), my_url(stack))):
        rc, doc, err = run_validate(bin_dir, src, dst, [f"{a}.t", f"{a}.t"],
                                    "--chunk-rows", "1", timeout=20)
        assert rc == 0 and doc["pairs"][0]["source_rows"] == 5, (src, doc, err)


def test_it_validate_mysql_unhashable(stack, bin_dir, dbs):
    """A latin1 text of 9 MB is 18 MB in UTF-8: MariaDB gives NULL for its text (past
    max_allowed_packet), so the row has no hash and BIT_XOR would skip it. Not comparable:
    exit 2 naming the key, never "equal"."""
    a, b, my, _ = dbs
    for db, ch in ((a, "é"), (b, "è")):
        my_exec(my, f"CREATE DATABASE `{db}`",
                f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, s LONGTEXT CHARACTER SET latin1)",
                f"INSERT INTO `{db}`.t VALUES (1, 'a'), (2, REPEAT(CONVERT(_utf8mb4'{ch}' "
                "USING latin1), 9000000)), (3, 'c')")
    rc, doc, err = run_validate(bin_dir, my_url(stack), my_url(stack), [f"{a}.t", f"{b}.t"])
    assert rc == 2 and doc["pairs"][0]["result"] == "error", (doc, err)
    assert "key (2)" in doc["pairs"][0]["error"], doc
