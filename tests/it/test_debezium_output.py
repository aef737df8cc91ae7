"""output.debezium (issue 23, docs/debezium.md): the collector writes every row change also in
Debezium's change-event format, as Kafka Connect's JsonConverter would, beside its native topic.

  it_debezium_output_mysql    a MariaDB source: per-row messages keyed by the primary key on
                              <name>.<db>.<table> with op c / u / d, a tombstone after a delete,
                              before/after images, the source block (file, pos, row, gtid),
                              typed values (Decimal bytes, MicroTimestamp, Date, base64 bytes),
                              the transaction block, and BEGIN / END markers with per-table counts
                              on <name>.transaction; the native topic unchanged beside it
  it_debezium_output_topic_refused_reconnects
                              the broker refuses to create a table's Debezium topic (a topic
                              whose name collides with it, '.' vs '_', exists): the collector
                              stays up and reconnects from its checkpoint with backoff; once the
                              colliding topic is gone the rows arrive, none lost
"""

import base64
import datetime
import decimal
import json
import random
import time

from e2e_util import collector, master_pos, my_exec, mysql_connect, read_messages, wait_topic

EPOCH = datetime.datetime(1970, 1, 1)


def read_kv(stack, topic, want, timeout=30):
    """[(key, value)] (decoded JSON, None for a tombstone) of topic's committed messages, once
    there are at least `want` of them."""
    from confluent_kafka import Consumer, TopicPartition
    wait_topic(stack, topic, timeout)
    deadline = time.monotonic() + timeout
    while True:
        c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"], "group.id": "dbz-test",
                      "enable.auto.commit": False, "isolation.level": "read_committed",
                      "enable.partition.eof": True})
        c.assign([TopicPartition(topic, 0, 0)])
        out, eof = [], False
        while not eof:
            m = c.poll(1.0)
            if m is None:
                break
            if m.error():
                eof = m.error().code() == -191
                continue
            out.append((json.loads(m.key()) if m.key() else None,
                        json.loads(m.value()) if m.value() is not None else None))
        c.close()
        if len(out) >= want or time.monotonic() > deadline:
            return out
        time.sleep(0.3)


def unscaled(b64, scale):
    return decimal.Decimal(int.from_bytes(base64.b64decode(b64), "big", signed=True)).scaleb(
        -scale)


def test_it_debezium_output_mysql(stack, bin_dir, tmp_path, unique_name):
    src, prefix, name = unique_name("dbz"), unique_name("dbzp"), unique_name("dbzs")
    my = mysql_connect(stack)
    my_exec(my, "SET time_zone = '+00:00'")
    start = master_pos(my)
    my_exec(my, f"CREATE DATABASE `{src}`",
            f"CREATE TABLE `{src}`.t (id INT PRIMARY KEY, name VARCHAR(20), "
            "amount DECIMAL(10,2), at DATETIME(6), d DATE, b VARBINARY(8), big BIGINT UNSIGNED)",
            f"CREATE TABLE `{src}`.u (k VARCHAR(10) PRIMARY KEY, v INT)")
    col = collector(bin_dir, "mysql-to-pg", tmp_path, "collector", {
        "source.name": src, "topic.prefix": prefix, "tables.include": src + r"\..*",
        "source.server_id": str(random.randint(100000, 4000000000)), "start.position": start,
        "output.debezium": "json-schema", "output.debezium.name": name,
        "snapshot.mode": "never"})     # the streamed events only, no snapshot 'r' events
    try:
        col.start()
        my_exec(my, (f"INSERT INTO `{src}`.t VALUES (1, 'one', -12.30, '2024-02-29 10:11:12.123456',"
                     " '2024-02-29', x'00ff', 18446744073709551615)",),
                (f"INSERT INTO `{src}`.u VALUES ('a', 1), ('b', 2)",), txn=True)
        my_exec(my, f"UPDATE `{src}`.t SET name = 'uno', amount = 7 WHERE id = 1")
        my_exec(my, f"DELETE FROM `{src}`.u WHERE k = 'a'")
        my_exec(my, f"UPDATE `{src}`.u SET k = 'z' WHERE k = 'b'")     # a key change

        t = read_kv(stack, f"{name}.{src}.t", 2)
        assert len(t) == 2, t
        (k1, ins), (k2, upd) = t
        assert k1["payload"] == {"id": 1} and k2["payload"] == {"id": 1}
        assert k1["schema"]["name"] == f"{name}.{src}.t.Key"
        p = ins["payload"]
        assert p["op"] == "c" and p["before"] is None
        a = p["after"]
        assert a["id"] == 1 and a["name"] == "one"
        assert unscaled(a["amount"], 2) == decimal.Decimal("-12.30")
        assert a["at"] == int((datetime.datetime(2024, 2, 29, 10, 11, 12, 123456) - EPOCH)
                              / datetime.timedelta(microseconds=1))
        assert a["d"] == (datetime.date(2024, 2, 29) - EPOCH.date()).days
        assert base64.b64decode(a["b"]) == b"\x00\xff"
        assert a["big"] == 18446744073709551615
        s = p["source"]
        assert s["connector"] == "mysql" and s["name"] == name and s["db"] == src
        assert s["table"] == "t" and s["file"].startswith(start.split(":")[0][:-6])
        assert s["pos"] > 0 and s["row"] == 0 and s["snapshot"] == "false"
        assert p["transaction"]["total_order"] == 1
        fields = {f["field"]: f for f in ins["schema"]["fields"]}
        after = {f["field"]: f for f in fields["after"]["fields"]}
        assert after["amount"]["name"] == "org.apache.kafka.connect.data.Decimal"
        assert after["amount"]["parameters"]["scale"] == "2"
        assert after["at"]["name"] == "io.debezium.time.MicroTimestamp"
        assert after["d"]["name"] == "io.debezium.time.Date" and after["id"]["type"] == "int32"
        q = upd["payload"]
        assert q["op"] == "u" and q["before"]["name"] == "one" and q["after"]["name"] == "uno"
        assert unscaled(q["after"]["amount"], 2) == 7

        u = read_kv(stack, f"{name}.{src}.u", 7)
        # a tombstone after each d; a key change is the old key's d + tombstone, then the new c
        assert [(k["payload"]["k"], v and v["payload"]["op"]) for k, v in u] == [
            ("a", "c"), ("b", "c"), ("a", "d"), ("a", None), ("b", "d"), ("b", None),
            ("z", "c")], u
        assert u[6][1]["payload"]["after"] == {"k": "z", "v": 2}
        assert u[2][1]["payload"]["before"] == {"k": "a", "v": 1}
        assert u[1][1]["payload"]["transaction"] == {
            "id": p["transaction"]["id"], "total_order": 3, "data_collection_order": 2}

        marks = [v["payload"] for _, v in read_kv(stack, f"{name}.transaction", 8)]
        assert [m["status"] for m in marks] == ["BEGIN", "END"] * 4, marks
        end = marks[1]
        assert end["id"] == p["transaction"]["id"] and end["event_count"] == 3
        assert read_kv(stack, f"{name}.transaction", 8)[1][0]["payload"]["id"] == end["id"]
        assert sorted((d["data_collection"], d["event_count"]) for d in end["data_collections"]) \
            == [(f"{src}.t", 1), (f"{src}.u", 2)]
        # the native topic is there as without the option: its 5 change batches
        native = read_messages(stack, f"{prefix}.{src}")
        assert [h["sl.op"] for _, h in native if h.get("sl.op") in ("insert", "update",
                                                                   "delete")] == [
            "insert", "insert", "update", "delete", "update"]
    finally:
        col.stop()
        my_exec(my, f"DROP DATABASE IF EXISTS `{src}`")
        my.close()


def test_it_debezium_output_pg(stack, bin_dir, tmp_path, unique_name):
    """A PostgreSQL source: topics <name>.<schema>.<table>, the source block's db (the database),
    schema, txId and lsn, numeric(p,s) as Decimal bytes, timestamptz as ZonedTimestamp in UTC,
    an UPDATE's before image under REPLICA IDENTITY FULL."""
    from e2e_util import pg_connect, pg_drop
    db, prefix, name = unique_name("dbzpg"), unique_name("dbzpgp"), unique_name("dbzpgs")
    slot, pub = f"s_{db}"[:63], f"p_{db}"[:63]
    admin = pg_connect(stack)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{db}"')
    admin.close()
    pg = pg_connect(stack, dbname=db)
    pg.autocommit = True
    cur = pg.cursor()
    cur.execute("CREATE TABLE acct (id bigint PRIMARY KEY, owner text, bal numeric(12,3), "
                "at timestamptz)")
    cur.execute("ALTER TABLE acct REPLICA IDENTITY FULL")
    cur.execute(f'CREATE PUBLICATION "{pub}" FOR ALL TABLES')
    col = collector(bin_dir, "pg-to-mysql", tmp_path, "collector", {
        "source.name": db, "topic.prefix": prefix, "source.database": db, "source.slot": slot,
        "source.publication": pub, "output.debezium": "json", "output.debezium.name": name,
        "snapshot.mode": "never"})     # the streamed events only, no snapshot 'r' events
    try:
        col.start()
        cur.execute("INSERT INTO acct VALUES (5, 'ann', 10.125, '2024-05-01 12:00:00+02')")
        cur.execute("UPDATE acct SET bal = -0.5 WHERE id = 5")
        got = read_kv(stack, f"{name}.public.acct", 2)
        assert len(got) == 2, got
        (k, ins), (_, upd) = got
        assert k == {"id": 5}                        # json: the payload alone
        a = ins["after"]
        assert unscaled(a["bal"], 3) == decimal.Decimal("10.125")
        assert a["at"] == "2024-05-01T10:00:00.000000Z"
        s = ins["source"]
        assert s["connector"] == "postgresql" and s["db"] == db and s["schema"] == "public"
        assert s["table"] == "acct" and s["lsn"] > 0 and s["txId"] > 0
        assert upd["op"] == "u" and unscaled(upd["before"]["bal"], 3) == decimal.Decimal("10.125")
        assert unscaled(upd["after"]["bal"], 3) == decimal.Decimal("-0.5")
    finally:
        col.stop()
        pg.close()
        pg_drop(stack, db, slot=slot)


def test_it_debezium_output_topic_refused_reconnects(stack, bin_dir, tmp_path, unique_name):
    from confluent_kafka.admin import AdminClient, NewTopic
    src, prefix, name = unique_name("dbr"), unique_name("dbrp"), unique_name("dbrs")
    admin = AdminClient({"bootstrap.servers": stack["SL_KAFKA_BROKERS"]})
    clash = f"{name}_{src}_t"           # Kafka: collides with {name}.{src}.t
    admin.create_topics([NewTopic(clash, 1, 1)])[clash].result(30)
    my = mysql_connect(stack)
    start = master_pos(my)
    my_exec(my, f"CREATE DATABASE `{src}`", f"CREATE TABLE `{src}`.t (id INT PRIMARY KEY)")
    col = collector(bin_dir, "mysql-to-pg", tmp_path, "collector", {
        "source.name": src, "topic.prefix": prefix, "tables.include": src + r"\..*",
        "source.server_id": str(random.randint(100000, 4000000000)), "start.position": start,
        "output.debezium": "json", "output.debezium.name": name})
    try:
        col.start()
        my_exec(my, f"INSERT INTO `{src}`.t VALUES (1), (2)")
        deadline = time.monotonic() + 30
        while col.count(r"collides|reconnecting in .* from the checkpoint") < 2:
            assert col.alive(), col.tail()
            assert time.monotonic() < deadline, col.tail()
            time.sleep(0.3)
        my_exec(my, f"INSERT INTO `{src}`.t VALUES (3)")
        admin.delete_topics([clash])[clash].result(30)
        t = read_kv(stack, f"{name}.{src}.t", 3, timeout=60)
        assert col.alive(), col.tail()
        assert sorted({k["id"] for k, _ in t}) == [1, 2, 3], t
    finally:
        col.stop()
        my_exec(my, f"DROP DATABASE IF EXISTS `{src}`")
        my.close()
