"""shiftlog-miner supplement.full.fields (issue 6):

  it_miner_supplement_mysql_minimal   updates written with binlog_row_image=MINIMAL (per
                                      SESSION in the writer's connection) carry only the key
                                      (before) and the changed columns (after); the log's
                                      documents have every column, filled from the latest
                                      full image, and list the filled ones in `supplemented`
  it_miner_supplement_pg_toast_replica_identity_default
                                      PostgreSQL with REPLICA IDENTITY DEFAULT (old image = the
                                      key) and an unchanged TOASTed text left out of the new
                                      image: every column back from the latest full image,
                                      marked; chained updates; a key never seen in full keeps
                                      {_t: "missing"}
  it_miner_supplement_older_image_never_replaces_a_newer
                                      a write of a key's latest image from an older position
                                      (a copy paused past its lease that wakes up, a replay)
                                      leaves a newer image in place: __latest only moves forward
"""

import time

from conftest import mysql_connect
from test_miner import env, wait_topic, n_changes  # noqa: F401
from test_miner_util import Miner
from test_pg_collector import pgsrc, wait_records, commits, rows_of  # noqa: F401


def test_it_miner_supplement_mysql_minimal(env, stack):
    col = env["col"].start()
    db = env["db"]
    m = env["miner"](**{"supplement.full.fields": "true", "worker_num": 2}).start()
    conn = mysql_connect(stack)
    with conn.cursor() as c:
        for i in range(5):
            c.execute(f"INSERT INTO `{db}`.t1 (id, v, small, u) VALUES ({i}, 'v{i}', 1.50, {i})")
        c.execute("SET SESSION binlog_row_image = 'MINIMAL'")
        c.execute(f"UPDATE `{db}`.t1 SET small = 2.25 WHERE id = 1")
        c.execute(f"UPDATE `{db}`.t1 SET v = 'second' WHERE id = 1")
        c.execute(f"UPDATE `{db}`.t1 SET u = 99 WHERE id = 3")
    conn.close()
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 8)
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    ups = list(m.coll.find({"op": "update"}).sort("_id", 1))
    assert len(ups) == 3
    first, second, third = ups
    # the topic's image lacks the unchanged columns: the log has them back
    assert first["after"]["v"] == "v1" and str(first["after"]["small"]) == "2.25"
    assert first["before"]["v"] == "v1" and str(first["before"]["small"]) == "1.50"
    assert "v" in first["supplemented"]["after"] and "small" not in first["supplemented"]["after"]
    assert "small" in first["supplemented"]["before"]
    # the second update is filled from the image the first one left
    assert second["after"]["v"] == "second" and str(second["after"]["small"]) == "2.25"
    assert second["before"]["v"] == "v1"
    assert third["after"]["u"] == 99 and third["after"]["v"] == "v3"
    for d in ups:
        for img in ("before", "after"):
            assert not any(isinstance(v, dict) and v.get("_t") == "missing"
                           for v in d[img].values()), d
    latest = m.latest.find_one({"_id": f'{db}.t1|[1]'})
    assert latest["img"]["v"] == "second" and str(latest["img"]["small"]) == "2.25"
    # mined again from the start with __latest kept (a log rebuilt, a replay): the inserts find
    # their keys' images there already (replaced), the log is the same
    m.stop()
    m.coll.drop()
    m.control.delete_many({})
    m.start()
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    again = list(m.coll.find({"op": "update"}).sort("_id", 1))
    assert [d["after"] for d in again] == [d["after"] for d in ups]
    assert m.latest.find_one({"_id": f'{db}.t1|[1]'})["img"] == latest["img"]
    assert m.latest.count_documents({}) == 5


def test_it_miner_supplement_older_image_never_replaces_a_newer(env, stack):
    """The image of a key in __latest is written after its batch is durable; a miner copy that
    was paused past its lease (or a replay) may write images of positions the new holder has
    gone past. Such a write must not replace the newer image: here a newer image is put in place
    by hand (its position above every position of the topic) and the topic is mined again from
    the start with __latest kept: the newer image stays, and keys without one still converge."""
    col = env["col"].start()
    db = env["db"]
    m = env["miner"](**{"supplement.full.fields": "true"}).start()
    conn = mysql_connect(stack)
    with conn.cursor() as c:
        for i in range(3):
            c.execute(f"INSERT INTO `{db}`.t1 (id, v, small, u) VALUES ({i}, 'v{i}', 1.50, {i})")
        c.execute(f"UPDATE `{db}`.t1 SET v = 'updated' WHERE id = 1")
        c.execute(f"DELETE FROM `{db}`.t1 WHERE id = 0")
    conn.close()
    msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 5)
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    # a deleted key keeps a tombstone with the delete's position (and no image), so that an
    # older image written late cannot bring it back
    gone = m.latest.find_one({"_id": f"{db}.t1|[0]"})
    assert gone and gone.get("deleted") is True and "img" not in gone, gone
    key = f"{db}.t1|[1]"
    mined = m.latest.find_one({"_id": key})
    assert mined["img"]["v"] == "updated"
    newer = dict(mined, pos="f" * len(mined["pos"]), img=dict(mined["img"], v="newer"))
    m.stop()
    m.latest.replace_one({"_id": key}, newer)
    m.coll.drop()
    m.control.delete_many({})
    m.start()
    m.wait_offset(stack, end=msgs[-1][0] + 1)
    kept = m.latest.find_one({"_id": key})
    assert kept["img"]["v"] == "newer" and kept["pos"] == newer["pos"], kept
    assert m.latest.find_one({"_id": f"{db}.t1|[2]"})["img"]["v"] == "v2"
    assert m.latest.find_one({"_id": f"{db}.t1|[0]"})["pos"] == gone["pos"]
    assert m.latest.count_documents({}) == 3


def test_it_miner_supplement_pg_toast_replica_identity_default(stack, pgsrc, bin_dir, tmp_path,
                                                               unique_name):
    """PostgreSQL, REPLICA IDENTITY DEFAULT: an update's old image holds the key only, and an
    unchanged TOASTed value is left out of the new image. The log's update documents have every
    column back, filled from the latest full image, and say which ones were filled; a key the
    miner never saw in full keeps its gaps as {_t: "missing"}."""
    s = pgsrc
    s.sql("CREATE TABLE a (id int PRIMARY KEY, v text, n int, big text)",
          "ALTER TABLE a ALTER COLUMN big SET STORAGE EXTERNAL")
    assert s.sql("SELECT relreplident FROM pg_class WHERE relname = 'a'").fetchone()[0] == "d"
    s.publish_all()
    big0 = "".join(f"{i:08x}" for i in range(30000))        # 240 kB, stored out of line
    big1 = "".join(f"{i:08X}" for i in range(40000))        # 320 kB
    # row 0 before the collector: the miner never sees its full image
    s.conn.cursor().execute("INSERT INTO a VALUES (0, 'zero', 0, %s)", (big0,))
    s.start()
    mdb = unique_name("mlogpg")
    m = Miner(bin_dir, stack, tmp_path, s.name, s.prefix, mdb,
              **{"supplement.full.fields": "true", "worker_num": 2}).start()
    try:
        cur = s.conn.cursor()
        cur.execute("INSERT INTO a VALUES (1, 'one', 1, %s), (2, 'two', 2, NULL)", (big1,))
        cur.execute("UPDATE a SET v = 'uno' WHERE id = 1")       # big: unchanged TOAST
        cur.execute("UPDATE a SET n = 11 WHERE id = 1")          # filled from the previous update
        cur.execute("UPDATE a SET v = 'cero' WHERE id = 0")      # never seen in full
        cur.execute("UPDATE a SET big = 'small' WHERE id = 1")   # big changed: not filled
        cur.execute("UPDATE a SET v = 'dos' WHERE id = 2")       # NULL is a value, sent
        recs = wait_records(stack, s.topic, lambda r: len(commits(r)) >= 6)
        # the topic lacks the columns (the collector's images), so the log's are the miner's
        ups = [r for r in rows_of(recs) if r[1] == "UPDATE"]
        assert ups[0][3]["big"] == ("missing", "UNCHANGED_TOAST")
        assert ups[0][2]["id"] == ("int", 1) and ups[0][2]["v"] == ("missing", "NOT_IN_IMAGE")
        m.wait_offset(stack)
        docs = list(m.coll.find({"op": "update"}).sort("_id", 1))
        assert len(docs) == 5
        u1, u2, u0, u3, u4 = docs
        table = u1["table"]
        assert table.endswith(".a")

        assert u1["after"] == {"id": 1, "v": "uno", "n": 1, "big": big1}
        assert u1["before"] == {"id": 1, "v": "one", "n": 1, "big": big1}
        assert u1["supplemented"]["after"] == ["big"]
        assert sorted(u1["supplemented"]["before"]) == ["big", "n", "v"]

        assert u2["after"] == {"id": 1, "v": "uno", "n": 11, "big": big1}
        assert u2["before"] == {"id": 1, "v": "uno", "n": 1, "big": big1}
        assert u2["supplemented"]["after"] == ["big"]

        missing_toast = {"_t": "missing", "why": "unchanged_toast"}
        missing_old = {"_t": "missing", "why": "not_in_image"}
        assert u0["after"] == {"id": 0, "v": "cero", "n": 0, "big": missing_toast}
        assert u0["before"] == {"id": 0, "v": missing_old, "n": missing_old,
                                "big": missing_old}
        assert "supplemented" not in u0

        assert u3["after"] == {"id": 1, "v": "uno", "n": 11, "big": "small"}
        assert u3["before"]["big"] == big1 and "big" in u3["supplemented"]["before"]
        assert "after" not in u3["supplemented"]

        assert u4["after"] == {"id": 2, "v": "dos", "n": 2, "big": None}
        assert u4["before"] == {"id": 2, "v": "two", "n": 2, "big": None}
        assert "after" not in u4["supplemented"]

        latest = m.latest.find_one({"_id": f"{table}|[1]"})
        assert latest["img"] == {"id": 1, "v": "uno", "n": 11, "big": "small"}
        assert m.latest.find_one({"_id": f"{table}|[0]"})["img"]["big"] == missing_toast
    finally:
        m.mongo.drop_database(mdb)
        m.close()
