"""Stopped tables outlive a restart and can be resumed (issue 17, "every stopped table visible";
docs/applier.md, "Stopped tables").

PostgreSQL source -> collector -> Kafka -> applier -> MariaDB, table f stopped by a NaN in a real
column under on_unconvertible = stop, table g going on beside it. Everything asserted is read
with independent clients (psycopg2, pymysql) or from the applier's HTTP endpoint and log; the
target tables carry audit triggers, so that a row written twice shows as two audit rows.

  it_e2e_stop_survives_kill9      the applier killed with -9 and restarted: f stays stopped
                                  (/health degraded, gauge 1, one WARN naming it), g goes on
  it_e2e_stop_resume              cause fixed (restart with on_unconvertible = null), then
                                  `shiftlog tables --resume`: f equals the source, every row
                                  written once, g never written again; later changes flow
  it_e2e_stop_resume_kill9        kill -9 in the middle of a long catch-up: the restarted
                                  applier finishes it by itself, every row written once
"""

import json
import re
import subprocess

import pytest

from e2e_util import my_exec, wait_until
from test_e2e_pg import PgPipeline


@pytest.fixture
def sp(stack, bin_dir, tmp_path, unique_name):
    p = PgPipeline(stack, bin_dir, tmp_path, unique_name)
    del p.apps["mongo"]
    p.app = p.apps["mysql"]
    p.base_argv = list(p.app.argv)
    p.app.argv += ["-X", "on_unconvertible=stop", "-X", "http.listen=127.0.0.1:0"]
    p.bin_dir = bin_dir
    yield p
    p.close()


def port(app):
    return int(re.findall(r"serving /health and /metrics on [\d.]+:(\d+)", app.text())[-1])


def http(app, path):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port(app)}{path}", timeout=5) as r:
        return r.read().decode()


def gauge(app):
    m = re.search(r"^shiftlog_applier_tables_stopped (\S+)$", http(app, "/metrics"), re.M)
    return float(m.group(1)) if m else None


def target(p, table):
    with p.my.cursor() as c:
        try:
            c.execute(f"SELECT id, r FROM `{p.my_db}`.`{table}` ORDER BY id")
        except Exception:
            return None
        rows = [(int(a), None if b is None else float(b)) for a, b in c.fetchall()]
    p.my.commit()
    return rows


def source(p, table, nan_as=None):
    rows = p.sql(f"SELECT id, r FROM {table} ORDER BY id").fetchall()
    return [(a, nan_as if b is not None and b != b else b) for a, b in rows]


def audit(p):
    with p.my.cursor() as c:
        c.execute(f"SELECT tbl, id, op, COUNT(*) FROM `{p.my_db}`.audit GROUP BY tbl, id, op "
                  "ORDER BY tbl, id, op")
        rows = [tuple(r) for r in c.fetchall()]
    p.my.commit()
    return rows


def setup_tables(p):
    """f and g in the source, applied once; audit triggers on the target tables."""
    p.sql("CREATE TABLE f (id int PRIMARY KEY, r real)", "CREATE TABLE g (id int PRIMARY KEY, "
          "r real)")
    p.start()
    p.txn("INSERT INTO f VALUES (1, 1)", "INSERT INTO g VALUES (1, 1)")
    wait_until("f and g applied", lambda: (target(p, "f") == [(1, 1.0)] and
                                           target(p, "g") == [(1, 1.0)], None),
               p.services(), timeout=60)
    stmts = [f"CREATE TABLE `{p.my_db}`.audit (n INT AUTO_INCREMENT PRIMARY KEY, "
             "tbl CHAR(1), id INT, op CHAR(1))"]
    for t in ("f", "g"):
        for ev, op in (("INSERT", "i"), ("UPDATE", "u")):
            stmts.append(f"CREATE TRIGGER `{p.my_db}`.{t}_{op} AFTER {ev} ON `{p.my_db}`.{t} "
                         f"FOR EACH ROW INSERT INTO `{p.my_db}`.audit (tbl, id, op) "
                         f"VALUES ('{t}', NEW.id, '{op}')")
    my_exec(p.my, *stmts)


def stop_f(p):
    """A NaN in f stops it; g goes on."""
    p.txn("INSERT INTO f VALUES (2, 'NaN')")
    p.txn("INSERT INTO f VALUES (3, 3)", "INSERT INTO g VALUES (2, 2)")

    def stopped():
        h = json.loads(http(p.app, "/health"))
        return (h["status"] == "degraded" and gauge(p.app) == 1 and
                target(p, "g") == [(1, 1.0), (2, 2.0)]), h
    h = wait_until("f stopped, g applied", stopped, p.services(), timeout=60)
    assert "public.f" in h["degraded"] and "non-finite" in h["degraded"], h
    assert target(p, "f") == [(1, 1.0)]


def restart(p, policy):
    p.app.argv = p.base_argv + ["-X", f"on_unconvertible={policy}",
                                "-X", "http.listen=127.0.0.1:0"]
    p.app.start()


def cli(p, *args):
    return subprocess.run([str(p.bin_dir / "shiftlog"), "tables", "--applier",
                           f"http://127.0.0.1:{port(p.app)}", *args],
                          capture_output=True, text=True, timeout=120)


def assert_still_stopped(p, g_rows):
    wait_until("g applied after the restart", lambda: (target(p, "g") == g_rows, target(p, "g")),
               p.services(), timeout=60)
    # f's later rows came in the same source transactions as g's: applied by now if ever
    assert target(p, "f") == [(1, 1.0)], \
        f"f went on after the restart with a hole: {target(p, 'f')} (source {source(p, 'f')})"
    h = json.loads(http(p.app, "/health"))
    assert h["status"] == "degraded" and "public.f" in h["degraded"], h
    assert gauge(p.app) == 1
    assert p.app.count(r"WARN.*\] table public\.f is stopped \(stored in the target\)") >= 1


def test_it_e2e_stop_survives_kill9(sp):
    p = sp
    setup_tables(p)
    stop_f(p)
    p.app.kill9()
    p.txn("INSERT INTO f VALUES (4, 4)", "INSERT INTO g VALUES (3, 3)")
    restart(p, "stop")
    assert_still_stopped(p, [(1, 1.0), (2, 2.0), (3, 3.0)])
    assert p.app.count(r"WARN.*\] table public\.f is stopped \(stored") == 1, p.app.tail()
    tables = json.loads(http(p.app, "/tables"))["tables"]
    assert [(t["db"], t["table"], t["state"]) for t in tables] == [("public", "f", "stopped")]
    assert "non-finite" in tables[0]["reason"] and tables[0]["offset"] > 0, tables


def test_it_e2e_stop_resume(sp):
    p = sp
    setup_tables(p)
    stop_f(p)
    p.txn("INSERT INTO f VALUES (4, 4)", "INSERT INTO g VALUES (3, 3)")
    p.txn("UPDATE f SET r = 33 WHERE id = 3")
    wait_until("g row 3", lambda: (target(p, "g") == [(1, 1.0), (2, 2.0), (3, 3.0)], None),
               p.services(), timeout=60)
    # the cause is fixed: NaN becomes NULL from now on; the stop stays until resumed
    p.app.stop()
    restart(p, "null")
    assert_still_stopped(p, [(1, 1.0), (2, 2.0), (3, 3.0)])
    out = cli(p)
    assert out.returncode == 0 and re.search(r"^public\.f\tstopped\t", out.stdout, re.M), out
    refused = cli(p, "--resume", "public.nope")
    assert refused.returncode == 1 and "not a stopped table" in refused.stderr, refused
    res = cli(p, "--resume", "public.f", "--wait", "--timeout", "120")
    assert res.returncode == 0 and "caught up" in res.stdout, (res, p.app.tail())
    want = source(p, "f")
    assert want == [(1, 1.0), (2, None), (3, 33.0), (4, 4.0)]
    wait_until("f equals the source", lambda: (target(p, "f") == want, target(p, "f")),
               p.services(), timeout=60)
    # every source change written once: f 2, 3, 4 inserted once, 3 updated once; g's rows
    # (applied while f was stopped) never written again by the catch-up
    assert audit(p) == [("f", 2, "i", 1), ("f", 3, "i", 1), ("f", 3, "u", 1),
                        ("f", 4, "i", 1), ("g", 2, "i", 1), ("g", 3, "i", 1)], audit(p)
    assert json.loads(http(p.app, "/tables"))["tables"] == []
    assert json.loads(http(p.app, "/health"))["status"] == "ok" and gauge(p.app) == 0
    with p.my.cursor() as c:
        c.execute(f"SELECT COUNT(*) FROM `{p.my_db}`.shiftlog_stopped")
        assert c.fetchone()[0] == 0
    p.my.commit()
    # and on as usual
    p.txn("INSERT INTO f VALUES (5, 5)", "INSERT INTO g VALUES (4, 4)")
    wait_until("f and g go on", lambda: (target(p, "f") == source(p, "f") and
                                         target(p, "g") == source(p, "g"), None),
               p.services(), timeout=60)
    assert ("f", 5, "i", 1) in audit(p) and ("g", 4, "i", 1) in audit(p), audit(p)
    assert len(audit(p)) == 8, audit(p)


def test_it_e2e_stop_resume_kill9(sp):
    p = sp
    setup_tables(p)
    stop_f(p)
    n = 400
    for i in range(10, 10 + n):
        p.txn(f"INSERT INTO f VALUES ({i}, {i})")
    p.txn("INSERT INTO g VALUES (3, 3)")
    wait_until("g row 3", lambda: (len(target(p, "g")) == 3, None), p.services(), timeout=120)
    p.app.stop()
    restart(p, "null")
    assert_still_stopped(p, [(1, 1.0), (2, 2.0), (3, 3.0)])
    res = cli(p, "--resume", "public.f")
    assert res.returncode == 0, res
    wait_until("the catch-up under way", lambda: (len(audit(p)) >= 30, len(audit(p))),
               p.services(), timeout=120, interval=0.05)
    p.app.kill9()
    with p.my.cursor() as c:
        c.execute(f"SELECT resume_to, kafka_offset FROM `{p.my_db}`.shiftlog_stopped")
        row = c.fetchone()
    p.my.commit()
    done = len(audit(p))
    assert row is not None and row[0] >= 0 and done < n, \
        f"the catch-up ended before the kill ({done} rows): make it longer"
    restart(p, "null")
    want = source(p, "f")
    wait_until("the restarted applier finishes the catch-up",
               lambda: (target(p, "f") == want, len(target(p, "f") or [])),
               p.services(), timeout=180)
    assert p.app.count(r"WARN.*table public\.f was resumed and is catching up") == 1
    wait_until("caught up", lambda: (json.loads(http(p.app, "/tables"))["tables"] == [], None),
               p.services(), timeout=60)
    counts = audit(p)
    assert all(c == 1 and op == "i" for _, _, op, c in counts), \
        [r for r in counts if r[3] != 1 or r[2] != "i"]
    assert len(counts) == n + 4, len(counts)   # f 2, 3, 10..; g 2, 3 (applied before)
    assert json.loads(http(p.app, "/health"))["status"] == "ok" and gauge(p.app) == 0
