"""Source log retention at risk (issue 22, docs/operations.md "Source log retention"): the
collector measures, on a connection of its own, how much change log the source keeps for it
and exposes it in /metrics, /status and the "retention" alert.

PostgreSQL: a collector whose Kafka is unreachable cannot move its slot, so while the source
writes, the slot's retained WAL grows, /status shows it growing and the alert (above
alert.retention) reaches a loopback webhook. MariaDB: a running collector measures the binlog
bytes from its checkpoint to the end and says its file is safe."""

import json
import time
import urllib.request

from conftest import mysql_connect  # noqa: F401
from test_alerts import Receiver, free_port, wait_for
from test_mysql_collector import db, master_pos, new_collector  # noqa: F401
from test_pg_collector import PgSource


def status_of(port):
    """GET /status; {} while the endpoint is not up yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
            return json.loads(r.read())
    except OSError:
        return {}


def metric(port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def test_pg_slot_wal_grows_while_kafka_is_down_and_the_retention_alert_fires(
        stack, bin_dir, unique_name, tmp_path):
    src = PgSource(stack, bin_dir, unique_name("ret"), tmp_path)
    hook = Receiver()
    try:
        src.sql("CREATE TABLE t (id int PRIMARY KEY, pad text)")
        src.publish_all()
        src.stop(src.start())                      # the slot exists from here on
        port = free_port()
        p = src.start(wait=False, **{
            "kafka.bootstrap.servers": f"127.0.0.1:{free_port()}",   # nothing listens
            "lease": "false", "http.listen": f"127.0.0.1:{port}",
            "retention.interval": "1s", "alert.webhook.url": hook.url,
            "alert.retention": "4MB", "alert.for": "1s"})
        log = lambda: p.log.read_text()           # noqa: E731
        first = wait_for("a first measurement",
                         lambda: (status_of(port).get("source_log_retained_bytes")
                                  if p.poll() is None else None) is not None, 60, log)
        r0 = status_of(port)["source_log_retained_bytes"]
        assert status_of(port)["source_log_at_risk"] is False and first
        for i in range(3):                          # ~3 x 3 MB of WAL
            src.sql(f"INSERT INTO t SELECT g, repeat('x', 300) FROM "
                    f"generate_series({i * 8000 + 1}, {(i + 1) * 8000}) g")
        wait_for("retained WAL grown by the writes",
                 lambda: status_of(port)["source_log_retained_bytes"] > r0 + 4 * 2**20, 30,
                 log)
        assert metric(port, "shiftlog_collector_source_log_retained_bytes") > 4 * 2**20
        assert metric(port, "shiftlog_collector_source_log_at_risk") == 0
        sent = lambda: [b for _, b in hook.got if b["alert"] == "retention"]  # noqa: E731
        wait_for("retention firing", lambda: sent(), 30, log)
        b = sent()[0]
        assert b["state"] == "firing" and b["value"] > 4 * 2**20, b
        assert b["threshold"] == 4 * 2**20 and "retained" in b["summary"], b
        assert b["status"]["source_log_retained_bytes"] > 4 * 2**20, b
    finally:
        hook.close()
        src.close()


def test_mysql_binlog_bytes_behind_the_checkpoint(stack, bin_dir, tmp_path, unique_name,
                                                  mysql_conn, db):  # noqa: F811
    port = free_port()
    col = new_collector(bin_dir, stack, tmp_path, unique_name, master_pos(mysql_conn),
                        http_listen=f"127.0.0.1:{port}", retention_interval="1s")
    try:
        col.start()
        with mysql_conn.cursor() as c:
            c.execute(f"CREATE TABLE `{db}`.t (id int PRIMARY KEY)")
            c.execute(f"INSERT INTO `{db}`.t VALUES (1)")
        mysql_conn.commit()
        st = wait_for("a measurement from the checkpoint",
                      lambda: (lambda s: s if s.get("source_log_retained_bytes") is not None
                               else None)(status_of(port)), 30, col.text)
        # caught up: what is left is at most the tail of the file being written
        assert 0 <= st["source_log_retained_bytes"] < 64 * 2**20, st
        assert st["source_log_at_risk"] is False, st
        assert metric(port, "shiftlog_collector_source_log_expire_seconds") is not None
    finally:
        col.stop()
