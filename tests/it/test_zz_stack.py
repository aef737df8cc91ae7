"""The local stack itself (deploy/local): each server is configured the way shiftlog needs,
the CDC accounts can do what a collector does, and data survives `down` + `up`.

Named zz so that it runs last: the restart test stops and starts every server (and switches
the MongoDB stand-in to its H2 store for the duration, then puts it back as it was).
"""

import os
import subprocess
import time
import uuid

import pytest

from conftest import REPO_ROOT, drop_slot, mysql_connect, pg_connect

DEPLOY = REPO_ROOT / "deploy" / "local"


def _script(name, *args, env=None, timeout=300):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([str(DEPLOY / name), *args], capture_output=True, text=True,
                       env=e, timeout=timeout)
    if p.returncode not in (0, 3) or (name != "status" and p.returncode != 0):
        raise AssertionError(f"deploy/local/{name} {' '.join(args)} exited {p.returncode}\n"
                             f"{p.stdout}\n{p.stderr}")
    return p


def _status(stack):
    """{server: (state, pid)} from deploy/local/status."""
    out = _script("status").stdout
    res = {}
    for line in out.splitlines():
        f = line.split()
        res[f[0]] = (f[1], f[4])
    return res


def _port_open(port):
    import socket
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", int(port))) == 0


# --- MariaDB -------------------------------------------------------------------------------

def test_mariadb_binlog_settings(mysql_conn):
    names = ("log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata",
             "binlog_checksum", "server_id", "character_set_server", "gtid_binlog_pos")
    with mysql_conn.cursor() as c:
        c.execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN (%s)" % ",".join(["%s"] * len(names)),
                  names)
        v = dict(c.fetchall())
    assert v["log_bin"] == "ON"
    assert v["binlog_format"] == "ROW"
    assert v["binlog_row_image"] == "FULL"
    assert v["binlog_row_metadata"] == "FULL"
    assert v["binlog_checksum"] == "CRC32"
    assert v["server_id"] == "1"
    assert v["character_set_server"] == "utf8mb4"


def test_mariadb_cdc_user_reads_binlog(stack, mysql_conn, unique_name):
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.row_event import WriteRowsEvent

    cdc = mysql_connect(stack, user=stack["SL_MYSQL_CDC_USER"], password=stack["SL_MYSQL_CDC_PASSWORD"])
    try:
        with cdc.cursor() as c:
            c.execute("SHOW GRANTS")
            grants = " ".join(r[0] for r in c.fetchall())
            assert "REPLICATION SLAVE" in grants and "BINLOG MONITOR" in grants, grants
            assert "ALL PRIVILEGES" not in grants, grants
            c.execute("SHOW MASTER STATUS")
            log_file, log_pos = c.fetchone()[:2]
            assert log_file.startswith("binlog.") and log_pos > 0
            c.execute("SHOW BINARY LOGS")
            assert log_file in [r[0] for r in c.fetchall()]
            c.execute("SELECT @@server_id, @@gtid_binlog_pos")
            assert c.fetchone()[0] == 1
    finally:
        cdc.close()

    db = unique_name("it_stack")
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE DATABASE `{db}`")
        try:
            c.execute(f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, name VARCHAR(20))")
            c.execute(f"INSERT INTO `{db}`.t VALUES (7, 'seven')")

            settings = {"host": stack["SL_MYSQL_HOST"], "port": int(stack["SL_MYSQL_PORT"]),
                        "user": stack["SL_MYSQL_CDC_USER"], "password": stack["SL_MYSQL_CDC_PASSWORD"]}
            reader = BinLogStreamReader(connection_settings=settings, server_id=4242,
                                        log_file=log_file, log_pos=log_pos, resume_stream=True,
                                        blocking=False, only_events=[WriteRowsEvent],
                                        only_schemas=[db])
            rows = []
            try:
                for ev in reader:
                    rows.extend(r["values"] for r in ev.rows)
            finally:
                reader.close()
            # Column names come from binlog_row_metadata=FULL, not from a catalogue query.
            assert rows == [{"id": 7, "name": "seven"}]
        finally:
            c.execute(f"DROP DATABASE `{db}`")


# --- PostgreSQL ----------------------------------------------------------------------------

def test_pg_settings(pg_conn):
    with pg_conn.cursor() as c:
        c.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                  "('wal_level', 'max_replication_slots', 'max_wal_senders', 'server_encoding')")
        v = dict(c.fetchall())
    assert v["wal_level"] == "logical"
    assert int(v["max_replication_slots"]) >= 10
    assert int(v["max_wal_senders"]) >= 10
    assert v["server_encoding"] == "UTF8"


def test_pg_cdc_role_streams_pgoutput(stack, pg_conn, unique_name):
    import psycopg2.extras

    db = unique_name("it_stack")
    slot = unique_name("slot")
    with pg_conn.cursor() as c:
        c.execute(f'CREATE DATABASE "{db}"')
    try:
        admin = pg_connect(stack, dbname=db)
        with admin.cursor() as c:
            c.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
            c.execute("CREATE PUBLICATION pub FOR ALL TABLES")
        cdc = pg_connect(stack, user=stack["SL_PG_CDC_USER"], password=stack["SL_PG_CDC_PASSWORD"],
                         dbname=db, connection_factory=psycopg2.extras.LogicalReplicationConnection)
        try:
            cur = cdc.cursor()
            cur.create_replication_slot(slot, output_plugin="pgoutput")
            with admin.cursor() as c:
                c.execute("INSERT INTO t VALUES (7, 'seven')")
            cur.start_replication(slot_name=slot, decode=False,
                                  options={"proto_version": "1", "publication_names": "pub"})
            kinds = []
            deadline = time.time() + 20
            while time.time() < deadline and b"C" not in kinds:
                msg = cur.read_message()
                if msg is None:
                    time.sleep(0.05)
                    continue
                kinds.append(msg.payload[:1])
                if msg.payload[:1] == b"I":
                    assert b"seven" in msg.payload
            # Begin, Relation, Insert, Commit
            assert kinds == [b"B", b"R", b"I", b"C"], kinds
        finally:
            cdc.close()
            with admin.cursor() as c:
                drop_slot(c, slot)
            admin.close()
    finally:
        with pg_conn.cursor() as c:
            c.execute(f'DROP DATABASE "{db}" WITH (FORCE)')


# --- Kafka ---------------------------------------------------------------------------------

def test_kafka_metadata(stack):
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": stack["SL_KAFKA_BROKERS"]}).list_topics(timeout=15)
    assert [(b.id, b.host, b.port) for b in md.brokers.values()] == [(1, "127.0.0.1", 19092)]


def test_kafka_tools_from_cached_jars(stack, kafka_java):
    p = kafka_java("org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                   stack["SL_KAFKA_BROKERS"], "--list")
    assert p.returncode == 0


# --- MongoDB stand-in ----------------------------------------------------------------------

def test_mongo_ping(stack):
    import pymongo
    client = pymongo.MongoClient(stack["SL_MONGO_URI"], serverSelectionTimeoutMS=5000)
    try:
        assert client.admin.command("ping")["ok"] == 1.0
    finally:
        client.close()


# --- down + up keeps the data --------------------------------------------------------------

def _kafka_read_all(brokers, topic, want, timeout=60):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": brokers, "group.id": "it-stack-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = []
        deadline = time.time() + timeout
        while len(got) < want and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got.append((m.key(), m.value(), m.headers()))
        return got
    finally:
        c.close()


def test_down_up_keeps_data(stack, unique_name):
    import pymongo
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    store_file = os.path.join(stack["SL_LOCAL_DIR"], "mongo", "store")
    with open(store_file) as f:
        mongo_store_before = f.read().strip()
    h2 = {"SHIFTLOG_MONGO_STORE": "h2"}

    name = unique_name("it_keep")
    msgs = [(f"k{i}".encode(), f"v{i}".encode(), [("sl.op", b"c")]) for i in range(5)]
    try:
        # The stand-in in its persistent (H2) store for this test.
        _script("down", "mongo")
        _script("up", "mongo", env=h2)

        my = mysql_connect(stack)
        with my.cursor() as c:
            c.execute(f"CREATE DATABASE `{name}`")
            c.execute(f"CREATE TABLE `{name}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
            c.execute(f"INSERT INTO `{name}`.t VALUES (1, 'maria')")
        my.close()

        pg = pg_connect(stack)
        with pg.cursor() as c:
            c.execute(f'CREATE TABLE "{name}" (id int PRIMARY KEY, v text)')
            c.execute(f"INSERT INTO \"{name}\" VALUES (1, 'postgres')")
        pg.close()

        admin = AdminClient({"bootstrap.servers": stack["SL_KAFKA_BROKERS"]})
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
        prod = Producer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"], "acks": "all"})
        for k, v, h in msgs:
            prod.produce(name, key=k, value=v, headers=h)
        assert prod.flush(30) == 0

        mc = pymongo.MongoClient(stack["SL_MONGO_URI"], serverSelectionTimeoutMS=5000)
        mc[name].c.insert_one({"_id": 1, "v": "mongo"})
        mc.close()

        before = _status(stack)
        assert all(st == "running" for st, _ in before.values()), before

        _script("down")
        stopped = _status(stack)
        assert all(st == "stopped" for st, _ in stopped.values()), stopped
        for port in (stack["SL_MYSQL_PORT"], stack["SL_PG_PORT"], 19092, 27117):
            assert not _port_open(port), f"port {port} still open after down"

        _script("up", env=h2)
        after = _status(stack)
        assert all(st == "running" for st, _ in after.values()), after
        for s in before:  # really new processes
            assert after[s][1] != before[s][1], (s, before[s], after[s])

        my = mysql_connect(stack)
        with my.cursor() as c:
            c.execute(f"SELECT id, v FROM `{name}`.t")
            assert c.fetchall() == ((1, "maria"),)
        my.close()

        pg = pg_connect(stack)
        with pg.cursor() as c:
            c.execute(f'SELECT id, v FROM "{name}"')
            assert c.fetchall() == [(1, "postgres")]
        pg.close()

        got = _kafka_read_all(stack["SL_KAFKA_BROKERS"], name, len(msgs))
        assert got == msgs

        mc = pymongo.MongoClient(stack["SL_MONGO_URI"], serverSelectionTimeoutMS=5000)
        assert list(mc[name].c.find()) == [{"_id": 1, "v": "mongo"}]
        mc.close()
    finally:
        # Clean up what this test made, and put the stand-in back in the store it had.
        try:
            my = mysql_connect(stack)
            with my.cursor() as c:
                c.execute(f"DROP DATABASE IF EXISTS `{name}`")
            my.close()
            pg = pg_connect(stack)
            with pg.cursor() as c:
                c.execute(f'DROP TABLE IF EXISTS "{name}"')
            pg.close()
            from confluent_kafka.admin import AdminClient
            AdminClient({"bootstrap.servers": stack["SL_KAFKA_BROKERS"]}).delete_topics([name])[name].result(30)
            mc = pymongo.MongoClient(stack["SL_MONGO_URI"], serverSelectionTimeoutMS=5000)
            mc.drop_database(name)
            mc.close()
        except Exception as e:  # cleanup must not hide the test's own failure
            print(f"cleanup: {e!r}")
        _script("up")  # whatever a failure above left stopped
        _script("down", "mongo")
        _script("up", "mongo", env={"SHIFTLOG_MONGO_STORE": mongo_store_before})
