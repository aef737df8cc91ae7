"""Two shiftlog-collector processes on one MariaDB source with the same source.name (issue 18:
"two collectors on one source must not both publish — Kafka's transactional.id fencing may
already give this; prove it").

Both use the transactional.id shiftlog-collector-<source.name>: each start of a producer
(init_transactions) fences the other's epoch, so the other's open transaction is aborted
(never visible to read_committed consumers) and it restarts from the checkpoint stored in the
same Kafka transactions as the records. Proven here under a paced write load: the committed
topic holds every row exactly once, in source order — the two never both publish. What it
does not give: a quiet standby. The copies fence each other in turn (each restart fences the
one that runs), which the test counts and prints. That is the fallback with lease = false,
tested here; the default lease = true makes the second copy a quiet standby
(test_collector_lease.py)."""

import re
import threading
import time

from conftest import mysql_connect
from test_mysql_collector import (Collector, db, master_pos, read_topic,  # noqa: F401
                                  rows_by_pos_items)


def test_it_collector_two_copies_never_both_publish(stack, bin_dir, tmp_path, unique_name,
                                                     mysql_conn, db):
    import slavro
    n = 600
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.k (id INT PRIMARY KEY, g INT)")
    start = master_pos(mysql_conn)
    src, prefix = unique_name("src"), unique_name("it")
    copies = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        copies.append(Collector(bin_dir, stack, tmp_path / name, src, prefix, start,
                                tables_include=re.escape(db) + r"\..*", txn_max_ms=50,
                                lease="false"))
    errors = []

    def workload():
        try:
            conn = mysql_connect(stack)
            conn.autocommit(False)
            with conn.cursor() as c:
                for t in range(n):
                    c.execute(f"INSERT INTO `{db}`.k VALUES ({t}, {t})")
                    conn.commit()
                    time.sleep(0.015)
            conn.close()
        except Exception as e:  # pragma: no cover - reported by the test
            errors.append(e)

    th = threading.Thread(target=workload)
    try:
        for c in copies:
            c.start(wait=False)
        th.start()
        th.join()
        assert not errors, errors
        deadline = time.monotonic() + 60
        while True:
            recs = [slavro.decode(v) for _, _, _, v in read_topic(stack, copies[0].topic)
                    if v is not None]
            items = list(rows_by_pos_items(recs))
            if len({k for k, _ in items}) >= n or time.monotonic() > deadline:
                break
            time.sleep(1)
        alive = [c.proc.poll() is None for c in copies]
    finally:
        for c in copies:
            c.stop()
    keys = [k for k, _ in items]
    assert len(set(keys)) == n, f"{len(set(keys))} of {n} rows in the topic"
    assert len(keys) == n, f"{len(keys) - n} rows published twice (both copies published)"
    assert [row[0] for _, row in sorted(items)] == list(range(n))
    assert all(alive), "a copy exited instead of going on"
    fenced = [len(re.findall(r"_FENCED", c.text())) for c in copies]
    resumed = [len(re.findall(r"(started|resumed) reading the binlog", c.text()))
               for c in copies]
    assert sum(fenced) > 0, "the copies did not meet (no fencing seen)"
    print(f"\ntwo collectors, {n} transactions: every row once in the topic; fenced errors "
          f"a={fenced[0]} b={fenced[1]}, binlog (re)starts a={resumed[0]} b={resumed[1]}")
