"""`shiftlog status` against a running pipeline (issue 22, docs/operations.md).

MariaDB -> collector -> Kafka -> applier -> PostgreSQL, each service named by its config file.
While the applier is stopped (SIGSTOP: alive but frozen, its endpoint silent) the records
behind and the lag that `shiftlog status` reads from Kafka grow; once it resumes they shrink
back to nothing. The services' own /status and their periodic progress line say the same.
"""

import json
import re
import signal
import socket
import subprocess
import time

from test_applier_pg import target_db  # noqa: F401
from test_mysql_collector import Collector, db, master_pos  # noqa: F401


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(bin_dir, *targets):
    r = subprocess.run([str(bin_dir / "shiftlog"), "status", "--json", *map(str, targets)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode in (0, 1), r.stderr
    return {row["service"]: row for row in json.loads(r.stdout)}, r


def wait_for(what, pred, timeout, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout}s\n{log()[-4000:]}")


def insert(mysql_conn, db, first, n):
    with mysql_conn.cursor() as c:
        for i in range(first, first + n):
            c.execute(f"INSERT INTO `{db}`.k VALUES ({i}, {i})")
            mysql_conn.commit()


def test_status_lag_grows_while_the_applier_is_stopped_and_shrinks_after(
        stack, bin_dir, tmp_path, mysql_conn, db, target_db, unique_name):  # noqa: F811
    tdb, _ = target_db
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.k (id INT PRIMARY KEY, g INT)")
    start = master_pos(mysql_conn)
    src, prefix = unique_name("src"), unique_name("it")
    col = Collector(bin_dir, stack, tmp_path, src, prefix, start,
                    tables_include=re.escape(db) + r"\..*", txn_max_ms=50,
                    http_listen=f"127.0.0.1:{free_port()}", progress_interval="1s")
    task = unique_name("task")
    app_conf = tmp_path / "applier.conf"
    app_conf.write_text("".join(f"{k} = {v}\n" for k, v in {
        "task.name": task, "source.topic": col.topic, "target.type": "postgresql",
        "target.host": stack["SL_PG_HOST"], "target.port": stack["SL_PG_PORT"],
        "target.user": stack["SL_PG_USER"], "target.password": stack["SL_PG_PASSWORD"],
        "target.database": tdb, "target.create_tables": "true", "flush.interval.ms": "100ms",
        "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"],
        "http.listen": f"127.0.0.1:{free_port()}", "progress.interval": "1s",
    }.items()))
    app_log = tmp_path / "applier.log"
    app = None
    try:
        col.start()
        app = subprocess.Popen([str(bin_dir / "shiftlog-applier"), "-c", str(app_conf)],
                               stderr=open(app_log, "w"), stdout=subprocess.DEVNULL)
        logs = lambda: col.text() + app_log.read_text()  # noqa: E731
        insert(mysql_conn, db, 0, 20)

        def caught_up():
            rows, _ = status(bin_dir, col.conf, app_conf)
            a = rows["applier"]
            # the service's own positions come with its first look at the topic (< 1 s)
            return (a["answered"] and a["state"] == "running" and a["records_behind"] == 0
                    and a["status"]["rows_total"] >= 20 and a["source_position"]
                    and a["applied_position"] and rows)
        rows = wait_for("the applier caught up", caught_up, 90, logs)
        c, a = rows["collector"], rows["applier"]
        assert c["answered"] and c["ready"] and c["state"] == "ok", c
        assert c["source_position"] and c["applied_position"], c
        assert c["status"]["rows_total"] >= 20, c
        assert a["kafka"]["committed"] > 0 and a["lag_s"] == 0, a
        assert (a["applied_position"] or "").startswith("offset "), a
        assert (a["source_position"] or "").startswith(col.topic + "[0] end offset"), a

        # frozen: its endpoint does not answer, Kafka still tells how far behind it falls
        app.send_signal(signal.SIGSTOP)
        insert(mysql_conn, db, 100, 10)
        first = wait_for("records behind while stopped",
                         lambda: (lambda r: r["records_behind"] and r["records_behind"] >= 10
                                  and r)(status(bin_dir, app_conf)[0]["applier"]), 60, logs)
        assert not first["answered"] and first["state"] == "no answer", first
        assert first["lag_s"] > 0, first
        time.sleep(2)
        insert(mysql_conn, db, 200, 5)
        second = wait_for("more records behind",
                          lambda: (lambda r: r["records_behind"] >= first["records_behind"] + 5
                                   and r)(status(bin_dir, app_conf)[0]["applier"]), 60, logs)
        assert second["lag_s"] >= first["lag_s"] + 1.5, (first, second)
        out = subprocess.run([str(bin_dir / "shiftlog"), "status", str(col.conf),
                              str(app_conf)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 1, out       # one service does not answer
        assert re.search(r"applier\[" + task + r"\]\s+no answer", out.stdout), out.stdout

        app.send_signal(signal.SIGCONT)
        rows = wait_for("caught up again", caught_up, 90, logs)
        a = rows["applier"]
        assert a["records_behind"] == 0 and a["lag_s"] == 0, a
        assert a["status"]["rows_total"] >= 35, a

        # the progress line of both services, once a second here
        assert re.search(r"INFO applier\[" + task + r"\].* progress: running, [\d.]+ rows/s "
                         r"\(\d+ in all\), source \S+\[0\] end offset \d+, applied offset \d+",
                         app_log.read_text()), app_log.read_text()[-3000:]
        assert re.search(r"INFO collector\[" + src + r"\].* progress: ok, [\d.]+ rows/s",
                         col.text()), col.text()[-3000:]
        # --watch with --count: bounded refreshes
        w = subprocess.run([str(bin_dir / "shiftlog"), "status", "--watch", "1", "--count", "2",
                            str(app_conf)], capture_output=True, text=True, timeout=60)
        assert w.returncode == 0 and w.stdout.count("SERVICE") == 2, w
    finally:
        if app and app.poll() is None:
            app.send_signal(signal.SIGCONT)
            app.terminate()
            app.wait(timeout=20)
        if col.proc:
            col.stop()
