"""The MongoDB applier target on its own (tests/it/it_target.c drives it through
app_target_ops_t), checked with an independent client (pymongo 4.10.1) against the local
stand-in (mongo-java-server): exact BSON of every value kind, replay = no-op, a replayed older
change never overwrites a newer document, hostile names, a table without key refused, the
position document. Fixtures stay at test size: a guarded upsert is a collection scan on the
stand-in (~27 ops/s at 100k documents), on mongod an _id lookup."""
import os
import subprocess
from decimal import Decimal

import bson
import pytest
import pymongo
from bson.codec_options import CodecOptions, DatetimeConversion

from test_target_mysql import bulk_model

OPTS = CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_MS)


def run(test_bin_dir, stack, *args, task="it_target", check=True, timeout=300):
    env = dict(os.environ, IT_TASK=task, **stack)
    p = subprocess.run([str(test_bin_dir / "it_target"), "mongo", *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def client(stack):
    return pymongo.MongoClient(stack["SL_MONGO_URI"], serverSelectionTimeoutMS=5000)


def ms(d):
    return int(d)


def test_mongo_type_matrix_exact(stack, test_bin_dir, unique_name):
    db = unique_name("tgt_mg")
    run(test_bin_dir, stack, "matrix", db)
    with client(stack) as c:
        docs = {d["_id"]: d for d in c[db].get_collection("types", codec_options=OPTS).find()}
        assert sorted(docs) == [1, 2, 3, 40]
        d1, d2, d3 = docs[1], docs[2], docs[3]
        dmax = "99999999999999999999999999999999999.999999999999999999999999999999"
        assert isinstance(d1["i64"], bson.int64.Int64) and d1["i64"] == 2**63 - 1
        assert d1["u64"] == bson.decimal128.Decimal128("18446744073709551615")   # > int64 max
        assert isinstance(d2["u64"], bson.int64.Int64) and d2["u64"] == 0
        assert d1["dec"] == dmax and d1["_decimal_text"] == {"dec": True}        # 65 digits
        assert d2["dec"] == "-" + dmax
        assert d1["dsm"].to_decimal() == Decimal("12345678.90") and str(d1["dsm"]) == "12345678.90"
        assert d2["dsm"].to_decimal() == Decimal("-0.01")
        assert d1["f"] == 3.1415927410125732 and d1["dbl"] == 0.1
        assert d2["f"] == -1.1754943508222875e-38 and d2["dbl"] == -1.7976931348623157e308
        assert d1["s"] == "h\u00e9llo \U0001F600 \"q\" 'x' \\ `b`" and d1["e_s"] == ""
        assert d2["s"] is None and d2["e_s"] is None and "s" in d2 and "e_s" in d2
        assert bytes(d1["b"]) == b"\x00\x01\x00\xff" and bytes(d2["b"]) == b""
        # DATETIME/TIMESTAMP: BSON date (ms, floor) + the exact µs in _us
        assert ms(d1["dt"]) == 253402300799999 and d1["_us"]["dt"] == 253402300799999999
        assert ms(d1["ts"]) == 2147483647999 and d1["_us"]["ts"] == 2147483647999999
        assert ms(d2["dt"]) == -30610224000000 and d2["_us"]["dt"] == -30610224000000000
        assert d1["d"] == "0000-00-00"                         # zero date: its text
        assert ms(d2["d"]) == 1709164800000                    # 2024-02-29T00:00Z
        assert d1["tm"] == 3020399000000 and d2["tm"] == -3020399000000   # TIME: int64 µs
        assert bytes(d1["bt"]) == b"\xff" * 8 and bytes(d1["b5"]) == b"\x15"
        assert d1["st"] == ["a", "c"] and d2["st"] == []
        assert d1["en"] == "y" and d1["js"] == '{"k": [1, 2.5, null], "u": "\u20ac"}'
        assert d1["y"] == 2155 and d1["ip"] == "2001:db8::1"
        assert d1["uu"] == "123e4567-e89b-12d3-a456-426614174000"
        # row 3: an update whose image had only s: $set, the rest kept
        assert d3["s"] == "updated" and d3["i64"] is None
        assert d1["_pos"] < d3["_pos"]
        ko = c[db]["kafkaoffset"].find_one()
        assert ko["_id"] == {"task": "it_target", "topic": f"it.{db}", "partition": 0}
        assert ko["source_position"] == "mysql-bin.000001:1400#0" and ko["kafka_offset"] == 4


def _state(c, db):
    return sorted(((d["_id"], d["v"], d["amount"].to_decimal(), d["_pos"])
                   for d in c[db]["bulk"].find()), key=lambda x: x[0])


def test_mongo_replay_twice_is_a_noop(stack, test_bin_dir, unique_name):
    db = unique_name("tgt_mg")
    n, per = 240, 40
    first = run(test_bin_dir, stack, "load", db, n, per, 1)
    assert "loaded none" in first.stdout
    with client(stack) as c:
        s1 = _state(c, db)
        second = run(test_bin_dir, stack, "load", db, n, per, 1)
        assert "loaded mysql-bin.000001:" in second.stdout
        s2 = _state(c, db)
        assert s1 == s2
        model = bulk_model(n, per, 1)
        assert [x[0] for x in s1] == sorted(model)
        assert all(x[1] == f"row-{x[0]}-v{model[x[0]]}" for x in s1)
        assert c[db]["bulk"].count_documents({}) == len(model)


def test_mongo_older_change_never_overwrites_newer(stack, test_bin_dir, unique_name):
    db = unique_name("tgt_mg")
    p = run(test_bin_dir, stack, "older", db)
    assert "loaded mysql-bin.000001:5100#0" in p.stdout
    with client(stack) as c:
        docs = {d["_id"]: d for d in c[db]["docs"].find()}
        assert docs[1]["v"] == "new"            # the older update was skipped (E11000)
        assert docs[2]["v"] == "keep"           # the older delete did not remove it
        assert docs[3]["v"] == "three"          # a row not there before is written
        assert docs[1]["_pos"] > docs[3]["_pos"]


def test_mongo_hostile_names(stack, test_bin_dir, unique_name):
    db = unique_name("tgt_mg")
    run(test_bin_dir, stack, "hostile", db)
    with client(stack) as c:
        names = set(c[db].list_collection_names())
        assert {'a"; DROP TABLE x;--', "back`tick``", "\u00fcn\u00efc\u00f8d\u00e9_\u8868",
                "x'); DROP DATABASE y;--", "kafkaoffset"} <= names
        d = c[db]["back`tick``"].find_one({"_id": 2})
        assert d['v"; DROP TABLE kafkaoffset;--'] == "'; DROP TABLE x;-- `\"" and d["w'), ('"] == "a\\b"
        assert d["id`"] == 2


def test_mongo_table_without_key_refused(stack, test_bin_dir, unique_name):
    db = unique_name("tgt_mg")
    p = run(test_bin_dir, stack, "nopk", db, check=False)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "has no primary key" in p.stdout


def test_mongo_rollback_drops_unsent_ops(stack, test_bin_dir, unique_name):
    db = unique_name("tgt_mg")
    run(test_bin_dir, stack, "rollback", db)
    with client(stack) as c:
        assert sorted(d["_id"] for d in c[db]["rb"].find()) == list(range(11, 21))


def test_mongo_bulk_keeps_the_last_image_per_document(stack, bin_dir, test_bin_dir,
                                                      unique_name):
    """One bulk (one source transaction) changes the same documents again and again: full
    images and deletes make the pending op of their _id redundant (dropped before the bulk is
    sent), a partial update ($set of the columns present) depends on what precedes it. The
    documents end as the source's rows, through the applier."""
    from test_applier_pg import Applier, feed, msgs
    topic, task, db = unique_name("tp"), unique_name("task"), unique_name("mg")
    lines = [
        "schema m t id:int:bigint:pk=1 a:string:text:null b:int:bigint:null",
        "insert m t id,a,b i:1,s:x,i:1 i:2,s:y,i:2 i:3,s:z,i:3",
        "update m t id,a,b i:1,s:x,i:1 i:1,s:x2,i:10",
        "delete m t id,a,b i:2,s:y,i:2",
        "insert m t id,a,b i:2,s:y2,i:20",
        # partial: a unchanged and not sent (PostgreSQL TOAST), b set
        "update m t id,a,b i:1,s:x2,i:10 i:1,miss:unchanged_toast,i:11",
        "update m t id,a,b i:3,s:z,i:3 i:4,s:z4,i:4",       # the key changes: 3 -> 4
        "delete m t id,a,b i:4,s:z4,i:4",
        "insert m t id,a,b i:4,s:z5,i:5",
        "update m t id,a,b i:2,s:y2,i:20 i:2,s:y3,i:30",
        "commit",
    ]
    feed(test_bin_dir, stack, topic, lines)
    app = Applier(bin_dir, stack, task, topic, db, "-X", "target.type=mongodb",
                  "-X", "target.host=127.0.0.1",
                  "-X", f"target.port={stack['SL_MONGO_URI'].rsplit(':', 1)[1]}",
                  "-X", "target.user=", "-X", "target.password=",   # the stand-in has no auth
                  "-X", f"map.tables=m.*={db}.*", logfile=f"/tmp/{task}.log").start()
    c = client(stack)
    try:
        ko = c[db]["kafkaoffset"]
        for _ in range(300):
            d = ko.find_one({"_id.task": task})
            if d and d.get("kafka_offset", -1) >= msgs(lines) - 1:   # "high" comes first
                break
            assert app.proc.poll() is None, app.log()
            import time
            time.sleep(0.1)
        else:
            raise AssertionError(app.log())
        got = {d["_id"]: (d.get("a", "<missing>"), d.get("b")) for d in c[db]["t"].find()}
    finally:
        app.stop()
        c.drop_database(db)
    assert got == {1: ("x2", 11), 2: ("y3", 30), 4: ("z5", 5)}, got


@pytest.mark.parametrize("policy", ["dlq", "null"])
def test_mongo_date_beyond_bson_range(stack, bin_dir, test_bin_dir, unique_name, policy):
    """A DATE is a day count; a BSON date int64 ms holds +-106751991167 days. A date beyond
    that cannot be stored: on_unconvertible says what happens (dlq: the row to the
    dead-letter topic with the reason; null: written as null), never a wrapped date; the
    rows around it are applied."""
    import time
    from test_applier_pg import Applier, feed, msgs, read_dlq
    topic, task, db = unique_name("tp"), unique_name("task"), unique_name("mg")
    lines = [
        "schema m t id:int:bigint:pk=1 d:temporal:date:null",
        "insert m t id,d i:1,t:date;2024-02-29;19782;0;-",
        "commit",
        "insert m t id,d i:2,t:date;far;200000000000;0;-",
        "commit",
        "insert m t id,d i:3,t:date;-far;-106751991168;0;-",
        "commit",
        "insert m t id,d i:4,t:date;edge;106751991167;0;-",
        "commit",
    ]
    feed(test_bin_dir, stack, topic, lines)
    app = Applier(bin_dir, stack, task, topic, db, "-X", "target.type=mongodb",
                  "-X", "target.host=127.0.0.1",
                  "-X", f"target.port={stack['SL_MONGO_URI'].rsplit(':', 1)[1]}",
                  "-X", "target.user=", "-X", "target.password=",
                  "-X", "max.errors=100", "-X", f"on_unconvertible={policy}",
                  "-X", f"map.tables=m.*={db}.*", logfile=f"/tmp/{task}.log").start()
    c = pymongo.MongoClient(stack["SL_MONGO_URI"], serverSelectionTimeoutMS=5000,
                            datetime_conversion=DatetimeConversion.DATETIME_MS)
    try:
        ko = c[db]["kafkaoffset"]
        for _ in range(300):
            d = ko.find_one({"_id.task": task})
            if d and d.get("kafka_offset", -1) >= msgs(lines) - 1:
                break
            assert app.proc.poll() is None, app.log()
            time.sleep(0.1)
        else:
            raise AssertionError(app.log())
        got = {d["_id"]: None if d["d"] is None else int(d["d"]) for d in c[db]["t"].find()}
    finally:
        app.stop()
        c.drop_database(db)
    ok = {1: 19782 * 86400000, 4: 106751991167 * 86400000}
    if policy == "null":
        assert got == {**ok, 2: None, 3: None}, got
        assert "beyond what a BSON date holds" in app.log()
        return
    assert got == ok, got
    dl = read_dlq(stack, topic + ".dlq", 2)
    reasons = [h["sl.dlq.reason"] for h in dl]
    assert all("beyond what a BSON date holds" in r for r in reasons), reasons
    assert {h["sl.dlq.offset"] for h in dl} == {"3", "5"}, dl
