"""Operating shiftlog (issue 22): liveness vs readiness, one version string, Prometheus
conventions, `make install` (docs/operations.md).

- /health is liveness: a copy waiting for its lease (standby) or for its topic is alive (200);
  /ready is readiness: only the copy that does the work answers 200. `shiftlog health URL
  [--ready]` exits 0/1 on the same answers (a container HEALTHCHECK).
- Every service's /metrics is read by prometheus_client's parser (the reference Python
  implementation): no error, the expected TYPEs, counters' samples named *_total, the
  transaction-size histogram a real histogram (ascending le, +Inf last, _sum, _count), lags in
  seconds, the process_* metrics.
- Every binary prints the same version for --version and -V, and lists its exit codes in --help.
- `make install PREFIX=/usr/local DESTDIR=tmp` gives runnable binaries and the docs/examples.
"""

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e_util import wait_topic
from test_applier_kill9 import Feeder, bank_workload
from test_applier_pg import Applier, target_db  # noqa: F401
from test_mysql_collector import Collector, db, master_pos  # noqa: F401
from test_miner_util import Miner

REPO_ROOT = Path(__file__).resolve().parents[2]
READING = r"(started|resumed) reading the binlog"
PORT_RE = r"serving /health and /metrics on [\d.]+:(\d+)"


def get(port, path):
    """(status, body text) of GET http://127.0.0.1:port/path; (None, "") when unreachable."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (OSError, ValueError):
        return None, ""


def probe(port, path):
    code, body = get(port, path)
    return code, (json.loads(body) if body.startswith("{") else {})


def port_in(text):
    ports = re.findall(PORT_RE, text)
    return int(ports[-1]) if ports else None


def cli_health(bin_dir, port, ready=False):
    args = [str(bin_dir / "shiftlog"), "health", *(["--ready"] if ready else []),
            f"http://127.0.0.1:{port}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=30).returncode


def wait_for(what, pred, timeout, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s\n{log()[-4000:]}")


def assert_live_not_ready(bin_dir, port, status):
    code, h = probe(port, "/health")
    assert code == 200 and h["live"] is True and h["status"] == status, (code, h)
    code, r = probe(port, "/ready")
    assert code == 503 and r["ready"] is False and r["status"] == status, (code, r)
    assert cli_health(bin_dir, port) == 0
    assert cli_health(bin_dir, port, ready=True) == 1


def assert_live_and_ready(bin_dir, port):
    code, h = probe(port, "/health")
    assert code == 200 and h["status"] == "ok" and h["live"] is True, (code, h)
    code, r = probe(port, "/ready")
    assert code == 200 and r["ready"] is True, (code, r)
    assert cli_health(bin_dir, port) == 0
    assert cli_health(bin_dir, port, ready=True) == 0


# --- Prometheus text, read by the reference parser --------------------------------------------

def families(text):
    """{family name: Metric} as prometheus_client reads the text; any error fails the test."""
    out = {}
    for f in text_string_to_metric_families(text):
        assert f.name not in out, f"family {f.name} twice"
        out[f.name] = f
    return out


def check_conventions(text, expect):
    """The conventions every service keeps, and expect {family: type} (a counter's family is
    named without _total, as the parser names it)."""
    fams = families(text)
    for name, typ in expect.items():
        assert name in fams, f"no family {name}: {sorted(fams)}"
        assert fams[name].type == typ, f"{name}: {fams[name].type}, expected {typ}"
    for f in fams.values():
        assert not re.search(r"_(ms|millis|milliseconds)$", f.name), f"{f.name}: not in seconds"
        if f.type == "counter":
            for s in f.samples:
                assert s.name.endswith("_total"), f"counter sample {s.name} without _total"
        if f.type == "gauge":
            assert not f.name.endswith("_total"), f"gauge {f.name} named like a counter"
        if f.type == "histogram":
            check_histogram(f)
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            assert len(line.split()) == 4, line
    for name in ("process_cpu_seconds", "process_resident_memory_bytes",
                 "process_start_time_seconds", "process_open_fds"):
        assert name in fams, f"no {name}"
    assert fams["process_cpu_seconds"].type == "counter"
    value = {f.name: f.samples[0].value for f in fams.values() if f.samples}
    assert value["process_resident_memory_bytes"] > 1e6
    assert abs(value["process_start_time_seconds"] - time.time()) < 3600
    assert value["process_open_fds"] >= 3
    return fams


def check_histogram(f):
    by_labels = {}
    for s in f.samples:
        base = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        by_labels.setdefault(base, []).append(s)
    for base, samples in by_labels.items():
        buckets = [s for s in samples if s.name == f.name + "_bucket"]
        les = [s.labels["le"] for s in buckets]
        assert les and les[-1] == "+Inf", f"{f.name}{base}: le {les}, +Inf not last"
        bounds = [float(x) for x in les]
        assert bounds == sorted(bounds), f"{f.name}{base}: le not ascending: {les}"
        counts = [s.value for s in buckets]
        assert counts == sorted(counts), f"{f.name}{base}: buckets not cumulative: {counts}"
        total = [s.value for s in samples if s.name == f.name + "_count"]
        assert len(total) == 1 and total[0] == counts[-1], (f.name, total, counts)
        assert len([s for s in samples if s.name == f.name + "_sum"]) == 1


# --- liveness and readiness -----------------------------------------------------------------

def test_it_collector_standby_live_not_ready_and_metrics(stack, bin_dir, tmp_path, mysql_conn,
                                                         db, unique_name):
    """Two collectors of one source: the one holding the lease is live and ready, the standby
    live but not ready; the holder's /metrics follows the conventions."""
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.k (id INT PRIMARY KEY, g INT)")
    start = master_pos(mysql_conn)
    src, prefix = unique_name("src"), unique_name("it")
    copies = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        copies.append(Collector(bin_dir, stack, tmp_path / name, src, prefix, start,
                                tables_include=re.escape(db) + r"\..*", txn_max_ms=50))
    try:
        for c in copies:
            c.start(wait=False)
        logs = lambda: "\n".join(c.text() for c in copies)  # noqa: E731
        holder = wait_for("one copy reading",
                          lambda: next((c for c in copies if re.search(READING, c.text())), None),
                          60, logs)
        standby = copies[1 - copies.index(holder)]
        wait_for("the other a standby", lambda: "waiting to take over" in standby.text(), 30,
                 logs)
        wait_for("both serving", lambda: port_in(holder.text()) and port_in(standby.text()), 10,
                 logs)
        assert_live_not_ready(bin_dir, port_in(standby.text()), "standby")
        assert_live_and_ready(bin_dir, port_in(holder.text()))

        with mysql_conn.cursor() as c:
            for i in range(20):
                c.execute(f"INSERT INTO `{db}`.k VALUES ({i}, {i})")
        mysql_conn.commit()
        port = port_in(holder.text())
        wait_for("rows published",
                 lambda: re.search(r"^shiftlog_collector_rows_total\{[^}]*\} [1-9]",
                                   get(port, "/metrics")[1], re.M), 30, logs)
        fams = check_conventions(get(port, "/metrics")[1], {
            "shiftlog_collector_lag_seconds": "gauge",
            "shiftlog_collector_events": "counter",
            "shiftlog_collector_rows": "counter",
            "shiftlog_collector_producer_queue": "gauge",
            "shiftlog_build_info": "gauge",
        })
        lag = fams["shiftlog_collector_lag_seconds"].samples[0].value
        assert 0 <= lag < 600, f"lag {lag}: not in seconds"
        assert "shiftlog_collector_lag_ms" not in fams
    finally:
        for c in copies:
            if c.proc:
                c.stop()


def test_it_applier_waiting_and_standby_live_not_ready_and_metrics(stack, bin_dir,
                                                                   test_bin_dir, unique_name,
                                                                   target_db):
    """An applier started before its topic exists is alive (a liveness probe must not restart
    it) but not ready; two copies of the task: the active one is ready, the standby is not;
    the active one's /metrics has the transaction-size histogram as a real histogram."""
    db, _ = target_db
    topic, task = unique_name("tp"), unique_name("task")
    copies = [Applier(bin_dir, stack, task, topic, db, "-X", "http.listen=127.0.0.1:0",
                      "-X", "lease.retry.ms=200", logfile=str(Path("/tmp") / f"{task}.{n}.log"))
              for n in ("a", "b")]
    a, b = copies
    logs = lambda: "\n".join(c.log() for c in copies if c.proc)  # noqa: E731
    feeder = None
    try:
        a.start()
        pa = wait_for("a serving", lambda: port_in(a.log()), 20, logs)
        wait_for("a waiting for its topic",
                 lambda: probe(pa, "/ready")[1].get("reason", "").find(topic) >= 0, 30, logs)
        code, h = probe(pa, "/health")
        assert code == 200 and h["live"] is True, (code, h)
        assert probe(pa, "/ready")[0] == 503
        assert cli_health(bin_dir, pa) == 0 and cli_health(bin_dir, pa, ready=True) == 1

        head, txns, _, _, _ = bank_workload(600, 7)
        feeder = Feeder(test_bin_dir, stack, topic, head, txns, seconds=3)
        feeder.start()
        wait_topic(stack, topic)
        wait_for("a ready", lambda: probe(pa, "/ready")[0] == 200, 60, logs)
        b.start()
        pb = wait_for("b serving", lambda: port_in(b.log()), 20, logs)
        wait_for("b a standby", lambda: probe(pb, "/health")[1].get("status") == "standby", 30,
                 logs)
        assert_live_not_ready(bin_dir, pb, "standby")
        assert_live_and_ready(bin_dir, pa)

        feeder.join(60)
        wait_for("transactions applied",
                 lambda: re.search(r"^shiftlog_applier_txn_rows_count [1-9]",
                                   get(pa, "/metrics")[1], re.M), 60, logs)
        fams = check_conventions(get(pa, "/metrics")[1], {
            "shiftlog_applier_txn_rows": "histogram",
            "shiftlog_applier_lag_seconds": "gauge",
            "shiftlog_applier_records": "counter",
            "shiftlog_applier_target_commits": "counter",
            "shiftlog_applier_records_behind": "gauge",
            "shiftlog_applier_state": "gauge",
        })
        lag = fams["shiftlog_applier_lag_seconds"].samples[0].value
        assert 0 <= lag < 600, f"lag {lag}: not in seconds"
        check_conventions(get(pb, "/metrics")[1], {"shiftlog_applier_state": "gauge"})
    finally:
        if feeder:
            feeder.proc.kill()
        for c in copies:
            c.stop()


def test_it_miner_waiting_live_not_ready_and_metrics(stack, bin_dir, tmp_path, mysql_conn, db,
                                                     unique_name):
    """A miner whose topic does not exist yet is alive but not ready; once it mines it is
    ready, and its /metrics counts are counters (no rate gauge)."""
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.k (id INT PRIMARY KEY, g INT)")
    start = master_pos(mysql_conn)
    col = Collector(bin_dir, stack, tmp_path, unique_name("src"), unique_name("it"), start,
                    tables_include=re.escape(db) + r"\..*")
    mongo_db = unique_name("mlog")
    m = Miner(bin_dir, stack, tmp_path, col.source, col.prefix, mongo_db)
    try:
        m.start(wait=False)
        port = wait_for("miner serving", lambda: port_in(m.text()), 20, m.text)
        wait_for("miner waiting for its topic",
                 lambda: "waiting for topic" in probe(port, "/ready")[1].get("reason", ""), 30,
                 m.text)
        code, h = probe(port, "/health")
        assert code == 200 and h["live"] is True, (code, h)
        assert cli_health(bin_dir, port) == 0 and cli_health(bin_dir, port, ready=True) == 1

        col.start()
        with mysql_conn.cursor() as c:
            for i in range(20):
                c.execute(f"INSERT INTO `{db}`.k VALUES ({i}, {i})")
        mysql_conn.commit()
        wait_for("documents mined",
                 lambda: re.search(r"^shiftlog_miner_docs_total [1-9]", get(port, "/metrics")[1],
                                   re.M), 60, m.text)
        assert_live_and_ready(bin_dir, port)
        fams = check_conventions(get(port, "/metrics")[1], {
            "shiftlog_miner_docs": "counter",
            "shiftlog_miner_replayed_docs": "counter",
            "shiftlog_miner_supplemented_rows": "counter",
            "shiftlog_miner_lag_seconds": "gauge",
            "shiftlog_miner_batches": "counter",
        })
        assert "shiftlog_miner_qps" not in fams
    finally:
        m.stop()
        m.mongo.drop_database(mongo_db)
        m.mongo.close()
        if col.proc:
            col.stop()


# --- versions, flags, exit codes -------------------------------------------------------------

def test_one_version_and_flags_everywhere(bin_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTLOG_")}
    versions = set()
    for b in ("shiftlog", "shiftlog-collector", "shiftlog-miner", "shiftlog-applier"):
        outs = []
        for flag in ("--version", "-V"):
            r = subprocess.run([str(bin_dir / b), flag], capture_output=True, text=True,
                               timeout=10, env=env)
            assert r.returncode == 0, (b, flag, r.stderr)
            m = re.fullmatch(rf"{b} (\d+\.\d+\.\d+\S*)\n", r.stdout)
            assert m, (b, flag, r.stdout)
            outs.append(m.group(1))
        assert outs[0] == outs[1], (b, outs)
        versions.add(outs[0])
        r = subprocess.run([str(bin_dir / b), "--help"], capture_output=True, text=True,
                           timeout=10, env=env)
        assert r.returncode == 0, (b, r.stderr)
        codes = r.stdout[r.stdout.find("exit codes:"):]
        assert "exit codes:" in r.stdout and all(f"  {n}  " in codes for n in (0, 1, 2, 3)), \
            (b, r.stdout[-600:])
    assert len(versions) == 1, versions


# --- make install --------------------------------------------------------------------------

def test_make_install_destdir_gives_runnable_binaries(tmp_path, bin_dir):
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr/local",
                        ], cwd=REPO_ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    prefix = dest / "usr" / "local"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTLOG_")}
    for b in ("shiftlog", "shiftlog-collector", "shiftlog-miner", "shiftlog-applier"):
        p = prefix / "bin" / b
        assert p.is_file() and os.access(p, os.X_OK), f"{p} not installed"
        v = subprocess.run([str(p), "--version"], capture_output=True, text=True, timeout=10,
                           env=env)
        assert v.returncode == 0 and v.stdout.startswith(b + " "), (b, v.stdout, v.stderr)
    assert (prefix / "share" / "doc" / "shiftlog" / "operations.md").is_file()
    examples = list((prefix / "share" / "shiftlog" / "examples").iterdir())
    assert examples, "no example configs installed"
    # nothing outside DESTDIR: the installed tree is all under the prefix
    assert {p.name for p in dest.iterdir()} == {"usr"}


def test_systemd_units_verify(tmp_path):
    """deploy/systemd/ (installed by make install under share/shiftlog/systemd): each template
    unit, instantiated, passes `systemd-analyze verify` without a single warning, with its
    ExecStart pointing at the binaries make install put under DESTDIR."""
    import shutil
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr/local"],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    units = dest / "usr" / "local" / "share" / "shiftlog" / "systemd"
    found = sorted(p.name for p in units.iterdir())
    assert found == [f"shiftlog-{s}@.service" for s in ("applier", "collector", "miner")], found
    work = tmp_path / "units"
    work.mkdir()
    for name in found:
        text = (units / name).read_text()
        svc = name.split("@")[0]
        assert f"ExecStart=/usr/local/bin/{svc} -c /etc/shiftlog/" in text, text
        assert "RestartPreventExitStatus=2 3" in text, text
        inst = work / name.replace("@", "@shop")
        inst.write_text(text.replace("/usr/local/bin/", f"{dest}/usr/local/bin/"))
        v = subprocess.run(["systemd-analyze", "verify", str(inst)], capture_output=True,
                           text=True, timeout=60, cwd=work)
        assert v.returncode == 0 and not (v.stdout + v.stderr).strip(), \
            f"{name}: {v.stdout}{v.stderr}"
