"""One active collector per source (issue 18): copies with the same source.name share a lease,
the Kafka consumer group shiftlog-lease-collector-<source> on <prefix>._leases (lease = true,
the default).

  it_collector_lease_standby_and_takeover   two copies started together under a paced write
                                            load: one reads, the other says "standby" in /health
                                            and never reads the binlog; the holder killed with
                                            -9: the standby takes over within lease.ttl.ms + a
                                            rebalance (measured, printed), then a SIGTERM of
                                            the new holder hands back to a third copy at once.
                                            The committed topic holds every row exactly once,
                                            in source order. With lease = false the two copies
                                            fence each other in turn instead
                                            (test_collector_two_copies.py).
"""

import json
import re
import signal
import threading
import time
import urllib.request

from conftest import mysql_connect
from test_mysql_collector import (Collector, db, master_pos, read_topic,  # noqa: F401
                                  rows_by_pos_items)

READING = r"(started|resumed) reading the binlog"


def health(c):
    port = int(re.findall(r"serving /health and /metrics on [\d.]+:(\d+)", c.text())[-1])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait(what, pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s")


def test_it_collector_lease_standby_and_takeover(stack, bin_dir, tmp_path, mysql_conn, db,
                                                 unique_name):
    import slavro
    n, ttl_ms = 900, 6000
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.k (id INT PRIMARY KEY, g INT)")
    start = master_pos(mysql_conn)
    src, prefix = unique_name("src"), unique_name("it")
    copies = []
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        copies.append(Collector(bin_dir, stack, tmp_path / name, src, prefix, start,
                                tables_include=re.escape(db) + r"\..*", txn_max_ms=50,
                                lease_ttl_ms=ttl_ms))
    a, b, c3 = copies
    done = threading.Event()
    errors = []

    def workload():
        try:
            conn = mysql_connect(stack)
            conn.autocommit(False)
            with conn.cursor() as cur:
                for t in range(n):
                    cur.execute(f"INSERT INTO `{db}`.k VALUES ({t}, {t})")
                    conn.commit()
                    time.sleep(0.02)
            conn.close()
        except Exception as e:  # pragma: no cover - reported by the test
            errors.append(e)
        done.set()
    th = threading.Thread(target=workload)
    try:
        a.start(wait=False)
        b.start(wait=False)
        th.start()
        wait("one copy reading", lambda: any(re.search(READING, x.text()) for x in (a, b)), 30)
        holder, standby = (a, b) if re.search(READING, a.text()) else (b, a)
        wait("the other one a standby", lambda: "waiting to take over" in standby.text(), 30)
        time.sleep(2)
        assert not re.search(READING, standby.text()), standby.text()
        code, h = health(standby)
        assert code == 200 and h["status"] == "standby" and src in h["reason"], h
        code, h = health(holder)
        assert code == 200 and h["status"] == "ok", h
        # the holder dies: the standby takes over
        time.sleep(1)
        holder.proc.send_signal(signal.SIGKILL)
        holder.proc.wait()
        t_kill = time.monotonic()
        wait("the standby takes over", lambda: re.search(READING, standby.text()), ttl_ms / 1000 + 30)
        takeover_kill9 = time.monotonic() - t_kill
        code, h = health(standby)
        assert h["status"] == "ok", h
        # a third copy waits; a clean stop of the holder hands over at once
        c3.start(wait=False)
        wait("the third a standby", lambda: "waiting to take over" in c3.text(), 30)
        time.sleep(1)
        t_stop = time.monotonic()
        assert standby.stop() == 0
        wait("the third takes over", lambda: re.search(READING, c3.text()), 30)
        takeover_stop = time.monotonic() - t_stop
        th.join()
        assert not errors, errors
        deadline = time.monotonic() + 60
        while True:
            recs = [slavro.decode(v) for _, _, _, v in read_topic(stack, a.topic) if v is not None]
            items = list(rows_by_pos_items(recs))
            if len({k for k, _ in items}) >= n or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        done.wait(120)
        for x in copies:
            if x.proc is not None:
                x.stop()
    keys = [k for k, _ in items]
    assert len(set(keys)) == n, f"{len(set(keys))} of {n} rows in the topic"
    assert len(keys) == n, f"{len(keys) - n} rows published twice"
    assert [row[0] for _, row in sorted(items)] == list(range(n))
    assert "_FENCED" not in c3.text()
    print(f"\ncollector lease (ttl {ttl_ms} ms): takeover after kill -9 {takeover_kill9:.1f} s, "
          f"after SIGTERM {takeover_stop:.1f} s; {n} rows once each")
    assert takeover_kill9 < ttl_ms / 1000 + 15
    assert takeover_stop < 10
