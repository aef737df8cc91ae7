"""shiftlog-collector (PostgreSQL) cuts CHANGE batches by their encoded size (issue 19):

  test_pg_key_image_batches_by_encoded_size
      a table of 1500 int columns (REPLICA IDENTITY DEFAULT, a primary key), 1000 rows
      deleted in one statement: each Delete message carries the old key only ('K'), a few
      bytes, while its row encodes every other column as a MISSING value (~3 KB). Counted
      from the text of the values, 1000 such rows made one ~3 MB message, above
      batch.max.bytes and the broker's message.max.bytes: the publish error stopped the
      collector on that transaction at every restart. Now: every row arrives, in CHANGE
      messages no larger than batch.max.bytes, one COMMIT counting them all.
"""
import time

from test_pg_collector import commits, pgsrc, read_topic, rows_of  # noqa: F401

NCOLS = 1500
NROWS = 1000
MAX_BYTES = 900 * 1024            # batch.max.bytes default (900KB)


def test_pg_key_image_batches_by_encoded_size(stack, pgsrc):
    s = pgsrc
    cols = ", ".join(f"c{i} int" for i in range(1, NCOLS))
    s.sql(f"CREATE TABLE wide (id int PRIMARY KEY, {cols})",
          f"INSERT INTO wide (id) SELECT g FROM generate_series(1, {NROWS}) g")
    s.publish_all()
    p = s.start()
    s.sql("DELETE FROM wide")
    deadline = time.time() + 90
    while True:
        recs = read_topic(stack, s.topic)
        if commits(recs):
            break
        assert p.poll() is None, f"the collector stopped:\n{p.log.read_text()[-3000:]}"
        assert time.time() < deadline, f"no COMMIT in 90 s:\n{p.log.read_text()[-3000:]}"
        time.sleep(1)
    assert p.poll() is None, p.log.read_text()
    s.stop(p)
    sizes = [r["_size"] for r in recs if r["type"] == "CHANGE"]
    rows = rows_of(recs, "wide")
    assert [r[1] for r in rows] == ["DELETE"] * NROWS
    assert sorted(r[2]["id"][1] for r in rows) == list(range(1, NROWS + 1))
    assert len(sizes) >= 2 and max(sizes) <= MAX_BYTES, sizes
    positions = [r[0] for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == NROWS
    assert [c["body"]["rows"] for c in commits(recs)] == [NROWS]
    print(f"\n{NROWS} key-image deletes of {NCOLS} columns: {len(sizes)} messages, "
          f"largest {max(sizes)} bytes")
