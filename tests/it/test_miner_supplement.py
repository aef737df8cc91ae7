"""shiftlog-miner supplement.full.fields (issue 6):

  it_miner_supplement_mysql_minimal   updates written with binlog_row_image=MINIMAL (per
                                      SESSION in the writer's connection) carry only the key
                                      (before) and the changed columns (after); the log's
                                      documents have every column, filled from the latest
                                      full image, and list the filled ones in `supplemented`
"""

import time

from conftest import mysql_connect
from test_miner import env, wait_topic, n_changes  # noqa: F401


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
