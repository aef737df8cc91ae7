"""What a snapshot shows while it runs (issue 20 item 7) and the tables it cannot copy
(item 3), on a real MariaDB source and collector:

  it_snapshot_progress_lines_metrics_skipped  an initial snapshot of a 3000-row table (analyzed:
                                              its statistics give the estimate) and a table with
                                              no key: progress lines with rows, estimate, rows/s,
                                              percent and ETA (snapshot.progress.interval = 0:
                                              one per chunk); per-table series on /metrics (rows,
                                              chunks, estimate, done); the keyless table named at
                                              WARNING with why, counted, gauged and listed by
                                              GET /snapshot under "skipped"
  it_snapshot_progress_cli_bar_and_lines      `shiftlog snapshot --wait` on a terminal (a pty)
                                              draws a bar per table ending at 100%; not on a
                                              terminal it prints plain lines
"""

import json
import os
import pty
import random
import re
import subprocess
import urllib.request

import pytest

from e2e_util import collector, master_pos, my_exec, mysql_connect, stop_all


@pytest.fixture
def col(stack, bin_dir, tmp_path, unique_name):
    db, sigdb = unique_name("prg"), unique_name("prgsig")
    my = mysql_connect(stack)
    my_exec(my, f"CREATE DATABASE `{db}`",
            f"CREATE TABLE `{db}`.big (id INT PRIMARY KEY, v VARCHAR(20))",
            f"INSERT INTO `{db}`.big SELECT seq, CONCAT('v', seq) FROM `{db}`.seq_1_to_3000",
            f"ANALYZE TABLE `{db}`.big",
            f"CREATE TABLE `{db}`.nokey (x INT, y INT)",
            f"INSERT INTO `{db}`.nokey VALUES (1, 1), (1, 1)",
            f"GRANT CREATE, INSERT, UPDATE ON `{sigdb}`.* TO "
            f"'{stack['SL_MYSQL_CDC_USER']}'@'127.0.0.1'")
    c = collector(bin_dir, "mysql-to-pg", tmp_path, "collector", {
        "source.name": db, "topic.prefix": unique_name("prgp"), "tables.include": db + r"\..*",
        "source.server_id": str(random.randint(100000, 4000000000)),
        "start.position": master_pos(my), "snapshot.mode": "initial",
        "snapshot.chunk.rows": "200", "snapshot.progress.interval": "0",
        "snapshot.signal.table": f"{sigdb}.sig", "lease": "false"})
    c.db = db
    try:
        c.start()
        c.wait_log(rf"snapshot: {db}\.big done, 3000 rows", timeout=120)
        # the key-less table is refused after big is done: wait for that state too, the
        # tests read the log once
        c.wait_log(rf"snapshot: table {db}\.nokey is not copied", timeout=60)
        c.port = re.search(r"/metrics on 127.0.0.1:(\d+)", c.text()).group(1)
        yield c
    finally:
        stop_all(c)
        my_exec(my, f"DROP DATABASE IF EXISTS `{db}`", f"DROP DATABASE IF EXISTS `{sigdb}`")
        my.close()


def get(port, path):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read().decode()


def metric(text, name, table):
    m = re.search(rf'^{name}\{{table="{re.escape(table)}"\}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def test_it_snapshot_progress_lines_metrics_skipped(col):
    db, log = col.db, col.text()
    lines = re.findall(rf"snapshot: {db}\.big (\d+) of ~(\d+) rows, (\d+) rows/s, (\d+)%, "
                       rf"ETA (\d+) s; \d+ table\(s\) left", log)
    assert len(lines) >= 10, log[-3000:]      # 15 chunks, the last one logs "done"
    rows = [int(r) for r, *_ in lines]
    assert rows == sorted(rows) and rows[0] == 200 and int(lines[0][1]) > 1000
    assert all(int(p) <= 99 for *_, p, _ in lines)
    assert re.search(rf"WARN.*snapshot: table {db}\.nokey is not copied: .*no primary key", log)

    m = get(col.port, "/metrics")
    assert metric(m, "shiftlog_collector_snapshot_table_rows_total", f"{db}.big") == 3000
    # 15 full chunks, then an empty one that ends the table
    assert metric(m, "shiftlog_collector_snapshot_table_chunks_total", f"{db}.big") == 16
    assert metric(m, "shiftlog_collector_snapshot_table_rows_estimate", f"{db}.big") > 1000
    assert metric(m, "shiftlog_collector_snapshot_table_done", f"{db}.big") == 1
    assert metric(m, "shiftlog_collector_snapshot_table_skipped", f"{db}.nokey") == 1
    assert re.search(r"^shiftlog_collector_snapshot_tables_skipped_total 1$", m, re.M)
    assert re.search(r"^# TYPE shiftlog_collector_snapshot_table_rows_total counter$", m, re.M)

    st = json.loads(get(col.port, "/snapshot"))
    assert st["tables"] == [] and st["queue"] == [] and st["waiting"] == []
    assert [s["table"] for s in st["skipped"]] == [f"{db}.nokey"]
    assert "no primary key" in st["skipped"][0]["reason"]
    assert st["rows"] == 3000 and st["tables_done"] == 1
    # an initial snapshot's tables are not requests: "ended" keeps only what failed
    assert [(e["table"], e["state"]) for e in st["ended"]] == [(f"{db}.nokey", "refused")]


def test_it_snapshot_progress_cli_bar_and_lines(col, bin_dir):
    db = col.db
    cmd = [str(bin_dir / "shiftlog"), "snapshot", "--collector", f"http://127.0.0.1:{col.port}",
           f"{db}.big", "--wait", "--timeout", "120"]
    # on a terminal: bars redrawn in place
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(cmd[0], cmd)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "\x1b[2K" in text, text
    assert re.search(r"\.big +\[#{24}\] 100% 3000 rows", text), text
    # not on a terminal: plain lines, no escape sequences
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=150)
    assert p.returncode == 0, p.stderr
    assert "\x1b" not in p.stdout
    assert re.search(rf"^{db}\.big: done, 100% 3000 rows$", p.stdout, re.M), p.stdout
    assert "snapshot finished" in p.stdout
