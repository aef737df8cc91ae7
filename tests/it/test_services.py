"""The three service binaries as a user meets them: --help/--version, config errors with
`path:line:` and exit 2, the skeleton run, /health and /metrics on an ephemeral port, clean exit
on SIGTERM, masked secrets, the example configs, and docs/config.md kept in step with the tables.

No server of the local stack is needed: the skeletons do not connect to anything yet, and the
collector (which does) is run with --check (validate and exit) or against a closed port.
"""

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["collector", "miner", "applier"]

# The smallest valid command line of each service (its required keys).
REQUIRED = {
    "collector": ["-X", "source.name=it_shop"],
    "miner": ["-X", "source.name=it_shop"],
    "applier": ["-X", "task.name=it_task", "-X", "source.topic=shiftlog.it_shop",
                "-X", "target.database=it_db"],
}
TASK = {"collector": "it_shop", "miner": "it_shop", "applier": "it_task"}
# Every service moves data: to only validate its configuration it takes --check.
CHECK = {"collector": ["--check"], "miner": ["--check"], "applier": ["--check"]}
# A source nobody listens on: the collector keeps retrying (and serving /health) until stopped.
NO_SOURCE = ["-X", "source.port=1", "-X", "kafka.bootstrap.servers=127.0.0.1:1"]


@pytest.fixture(scope="module")
def bins():
    """Path of each binary; SHIFTLOG_BIN (as tests/it/run sets it) or bin/."""
    d = Path(os.environ.get("SHIFTLOG_BIN", "bin"))
    if not d.is_absolute():
        d = (REPO_ROOT / d).resolve()
    paths = {s: d / f"shiftlog-{s}" for s in SERVICES}
    missing = [str(p) for p in paths.values() if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"not built: {missing} (run make)")
    return paths


def clean_env():
    """The environment without SHIFTLOG_* overrides (they would change the config)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("SHIFTLOG_") or k in ("SHIFTLOG_BIN", "SHIFTLOG_TEST_BIN")}


def run(binary, *args, env=None, timeout=10):
    e = clean_env()
    e.update(env or {})
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout,
                          env=e)


@pytest.mark.parametrize("svc", SERVICES)
def test_help_and_version_exit_0(bins, svc):
    r = run(bins[svc], "--help")
    assert r.returncode == 0, r.stderr
    assert f"usage: shiftlog-{svc}" in r.stdout
    assert "http.listen" in r.stdout and "SHIFTLOG_HTTP_LISTEN" in r.stdout
    assert "kafka.bootstrap.servers" in r.stdout
    r = run(bins[svc], "--version")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(rf"shiftlog-{svc} \d+\.\d+\.\d+\S*\n", r.stdout), r.stdout


@pytest.mark.parametrize("svc", SERVICES)
def test_unknown_key_is_path_line_exit_2(bins, svc, tmp_path):
    conf = tmp_path / f"{svc}.conf"
    conf.write_text("# comment\nlog.levle = debug\n")
    r = run(bins[svc], "-c", str(conf), *REQUIRED[svc])
    assert r.returncode == 2, r.stderr
    assert f'{conf}:2: unknown key "log.levle" (did you mean "log.level"?)' in r.stderr


@pytest.mark.parametrize("svc", SERVICES)
def test_bad_value_is_path_line_exit_2(bins, svc, tmp_path):
    conf = tmp_path / f"{svc}.conf"
    conf.write_text("\n\nhttp.listen = 127.0.0.1:0\nlog.level = loud\n")
    r = run(bins[svc], "-c", str(conf), *REQUIRED[svc])
    assert r.returncode == 2
    assert f'{conf}:4: key "log.level": "loud" is not one of debug|info|warn|error' in r.stderr


def test_bad_int_names_the_range(bins, tmp_path):
    conf = tmp_path / "collector.conf"
    conf.write_text("source.name = s\nsource.port = 70000\n")
    r = run(bins["collector"], "-c", str(conf))
    assert r.returncode == 2
    assert f'{conf}:2: key "source.port": 70000 is out of range (1..65535)' in r.stderr


def test_missing_file_and_required_key_exit_2(bins, tmp_path):
    missing = tmp_path / "nope.conf"
    r = run(bins["collector"], "-c", str(missing))
    assert r.returncode == 2
    assert f"{missing}: cannot open config file: No such file or directory" in r.stderr
    conf = tmp_path / "applier.conf"
    conf.write_text("task.name = t\ntarget.database = d\n")
    r = run(bins["applier"], "-c", str(conf))
    assert r.returncode == 2
    assert f'{conf}: missing required key "source.topic"' in r.stderr


def test_env_and_x_errors_exit_2(bins):
    r = run(bins["collector"], *REQUIRED["collector"], env={"SHIFTLOG_SOURCE_PORT": "abc"})
    assert r.returncode == 2
    assert ('SHIFTLOG_SOURCE_PORT: key "source.port": "abc" is not an integer (1..65535)'
            in r.stderr)
    r = run(bins["applier"], *REQUIRED["applier"], "-X", "on_error=skip")
    assert r.returncode == 2
    assert '-X: key "on_error": "skip" is not one of dlq|stop' in r.stderr
    r = run(bins["miner"], *REQUIRED["miner"], "-X", "http.listen=nowhere")
    assert r.returncode == 2
    assert '-X: key "http.listen": "nowhere" is not host:port' in r.stderr


@pytest.mark.parametrize("args", [["--bogus"], ["stray"], ["-c"], ["--log-format", "xml"]])
def test_usage_errors_exit_2(bins, args):
    r = run(bins["miner"], *args)
    assert r.returncode == 2
    assert "shiftlog-miner:" in r.stderr and "(see --help)" in r.stderr


@pytest.mark.parametrize("svc", SERVICES)
def test_check_validates_and_exits_0(bins, svc):
    r = run(bins[svc], *REQUIRED[svc], *CHECK[svc], "-X", "http.listen=off")
    assert r.returncode == 0, r.stderr
    assert "configuration is valid" in r.stderr and "not connecting" in r.stderr
    assert f" INFO {svc}[{TASK[svc]}] " in r.stderr


# What each service hands librdkafka: a property it does not know, a value it refuses, and
# (for the services that produce: the collector, the applier's dead-letter producer) acks
# below all, which shiftlog refuses. --check builds those configurations, connecting nowhere.
BAD_KAFKA = [("kafka.no.such.property=1", "no.such.property", SERVICES),
             ("kafka.socket.timeout.ms=soon", "socket.timeout.ms", SERVICES),
             ("kafka.acks=1", "acks=1", ["collector", "applier"])]


@pytest.mark.parametrize("svc", SERVICES)
def test_check_builds_the_kafka_configuration(bins, svc):
    for arg, named, services in BAD_KAFKA:
        if svc not in services:
            continue
        r = run(bins[svc], *REQUIRED[svc], *CHECK[svc], "-X", "http.listen=off", "-X", arg)
        assert r.returncode == 2, (arg, r.stderr)
        assert named in r.stderr and "configuration is valid" not in r.stderr, (arg, r.stderr)


@pytest.mark.parametrize("svc", SERVICES)
def test_check_binds_no_port(bins, svc):
    """--check validates http.listen but serves nothing: a port already taken is no error."""
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = run(bins[svc], *REQUIRED[svc], *CHECK[svc], "-X", f"http.listen=127.0.0.1:{port}")
    assert r.returncode == 0, r.stderr
    assert "configuration is valid" in r.stderr and "serving /health" not in r.stderr


def test_precedence_file_env_x(bins, tmp_path):
    conf = tmp_path / "collector.conf"
    conf.write_text("source.name = from_file\nsource.host = file.example\nsource.port = 1\n")
    r = run(bins["collector"], "-c", str(conf), "--check", "--log-level", "debug",
            "-X", "source.port=3",
            "-X", "http.listen=off",
            env={"SHIFTLOG_SOURCE_HOST": "env.example", "SHIFTLOG_SOURCE_PORT": "2"})
    assert r.returncode == 0, r.stderr
    assert "config: source.name = from_file" in r.stderr
    assert "config: source.host = env.example" in r.stderr
    assert "config: source.port = 3" in r.stderr


def test_secrets_are_masked_in_logs(bins, tmp_path):
    r = run(bins["miner"], *REQUIRED["miner"], "--check", "--log-level", "debug",
            "-X", "http.listen=off",
            "-X", "log.uri=mongodb://miner:uri-secret-1@127.0.0.1:27117/x",
            "-X", "kafka.sasl.password=kafka-secret-2")
    assert r.returncode == 0, r.stderr
    assert "uri-secret-1" not in r.stderr and "kafka-secret-2" not in r.stderr
    assert "mongodb://miner:****@127.0.0.1:27117/x" in r.stderr
    r = run(bins["collector"], *REQUIRED["collector"], "--check", "--log-level", "debug",
            "-X", "http.listen=off", env={"SHIFTLOG_SOURCE_PASSWORD": "pw-secret-3"})
    assert r.returncode == 0, r.stderr
    assert "pw-secret-3" not in r.stderr
    assert "source.password = ****" in r.stderr


def test_json_log_lines(bins):
    r = run(bins["applier"], *REQUIRED["applier"], "--check", "--log-format", "json",
            "-X", "http.listen=off")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines
    for line in lines:
        obj = json.loads(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["ts"])
        assert obj["level"] in ("debug", "info", "warn", "error")
        assert obj["service"] == "applier" and obj["task"] == "it_task"
        assert obj["msg"]


# --- HTTP ------------------------------------------------------------------

METRIC_LINE = re.compile(
    r'(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)\})?'
    r' (?P<value>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|NaN|Inf))(?: -?\d+)?')


def parse_prometheus(text):
    """Strict enough check of the text exposition format; returns {name: [(labels, value)]}."""
    assert text.endswith("\n")
    types, helps, samples = {}, {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, h = line[7:].partition(" ")
            assert name not in helps, f"two HELP lines for {name}"
            helps[name] = h
        elif line.startswith("# TYPE "):
            name, _, t = line[7:].partition(" ")
            assert t in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types and name not in samples, f"TYPE after samples: {line}"
            types[name] = t
        elif line.startswith("#") or not line:
            continue
        else:
            m = METRIC_LINE.fullmatch(line)
            assert m, f"not a sample line: {line!r}"
            name = m["name"]
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in types or types.get(base) == "histogram", \
                f"sample without TYPE: {line}"
            samples.setdefault(name, []).append((m["labels"] or "", m["value"]))
    return types, helps, samples


class Service:
    def __init__(self, binary, args, env=None):
        e = clean_env()
        e.update(env or {})
        self.proc = subprocess.Popen([str(binary), *args], stderr=subprocess.PIPE, text=True,
                                     env=e)
        self.log = []
        deadline = time.monotonic() + 10
        self.port = None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"http: serving /health and /metrics on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m[1])
                break
        assert self.port, f"no port in the log: {''.join(self.log)}"

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def stop(self, sig=signal.SIGTERM, within=2.0):
        self.proc.send_signal(sig)
        t0 = time.monotonic()
        rc = self.proc.wait(timeout=10)
        took = time.monotonic() - t0
        self.log.append(self.proc.stderr.read())
        self.proc.stderr.close()
        return rc, took

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.proc.stderr.closed:
            self.proc.stderr.close()


@pytest.mark.parametrize("svc", SERVICES)
def test_health_metrics_and_sigterm(bins, svc):
    extra = NO_SOURCE if svc == "collector" else ["--serve"]
    s = Service(bins[svc], [*REQUIRED[svc], *extra, "-X", "http.listen=127.0.0.1:0"])
    try:
        status, ctype, body = s.get("/health")
        if svc == "collector":
            # it cannot reach its source: /ready says so (503) once the first attempt failed,
            # /health says it is alive all the while (a restart would not bring the source)
            # (source unreachable; or, first, Kafka, where the collector takes its lease)
            def unreachable(h):
                return "cannot connect" in h.get("reason", "") or \
                    "not reachable" in h.get("reason", "")
            deadline = time.monotonic() + 5
            status, ctype, body = s.get("/ready")
            while not unreachable(json.loads(body)) and time.monotonic() < deadline:
                time.sleep(0.1)
                status, ctype, body = s.get("/ready")
            assert status == 503 and ctype.startswith("application/json"), body
            h = json.loads(body)
            assert h["status"] == "unhealthy" and h["ready"] is False and unreachable(h), h
            status, _, body = s.get("/health")
            assert status == 200 and json.loads(body)["live"] is True, body
        else:
            assert status == 200 and ctype.startswith("application/json")
            h = json.loads(body)
            assert h["status"] == "ok"
        assert h["service"] == svc and h["task"] == TASK[svc]
        assert isinstance(h["uptime_s"], int) and h["uptime_s"] >= 0

        status, ctype, body = s.get("/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
        types, helps, samples = parse_prometheus(body)
        assert types["shiftlog_build_info"] == "gauge"
        assert helps["shiftlog_build_info"]
        (labels, value), = samples["shiftlog_build_info"]
        assert f'service="{svc}"' in labels and value == "1"
        assert float(samples["process_start_time_seconds"][0][1]) > 1.7e9

        status, _, _ = s.get("/nope")
        assert status == 404

        rc, took = s.stop()
        assert rc == 0, "".join(s.log)
        assert took < 2.0, f"SIGTERM took {took:.2f}s"
        assert "stopped by SIGTERM" in "".join(s.log)
    finally:
        s.kill()


def test_target_password_masked_in_health_metrics_and_log(bins, stack):
    """A mongodb:// target address carries its password; the applier cannot reach it
    (nothing listens on port 1; Kafka is the local stack's), and /ready reports why: the
    reason text, /metrics and the log show the address with the password masked, never the
    password."""
    canary = "Canary-Pw-7f3e91"
    s = Service(bins["applier"], [*REQUIRED["applier"], "-X", "http.listen=127.0.0.1:0",
                                  "-X", f"kafka.bootstrap.servers={stack['SL_KAFKA_BROKERS']}",
                                  "-X", "target.type=mongodb",
                                  "-X", f"target.host=mongodb://shift:{canary}@127.0.0.1:1/"
                                        "?serverSelectionTimeoutMS=200&connectTimeoutMS=200"])
    try:
        deadline = time.monotonic() + 20
        status, _, body = s.get("/ready")
        while "target unavailable" not in body and time.monotonic() < deadline:
            time.sleep(0.2)
            status, _, body = s.get("/ready")
        assert status == 503, body
        assert canary not in s.get("/health")[2]
        h = json.loads(body)
        assert "target unavailable" in h["reason"] and "shift:****@127.0.0.1:1" in h["reason"], h
        assert canary not in body
        _, _, metrics = s.get("/metrics")
        assert canary not in metrics
        rc, _ = s.stop()
        log = "".join(s.log)
        assert "target unavailable" in log, log
        assert canary not in log, log
    finally:
        s.kill()


def test_sigint_also_stops(bins):
    s = Service(bins["collector"], [*REQUIRED["collector"], *NO_SOURCE])
    try:
        rc, took = s.stop(signal.SIGINT)
        assert rc == 0 and took < 2.0
    finally:
        s.kill()


def test_http_port_in_use_fails(bins):
    s = Service(bins["miner"], [*REQUIRED["miner"], "--serve"])
    try:
        r = run(bins["miner"], *REQUIRED["miner"], "-X", f"http.listen=127.0.0.1:{s.port}")
        assert r.returncode == 1
        assert f'http.listen "127.0.0.1:{s.port}": cannot listen' in r.stderr
    finally:
        s.stop()
        s.kill()


# --- examples and the reference ---------------------------------------------

EXAMPLES = sorted((REPO_ROOT / "examples/local").glob("*.conf"))


@pytest.mark.parametrize("conf", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configs_are_valid(bins, conf):
    svc = conf.stem.split("-")[0]
    r = run(bins[svc], "-c", str(conf), *CHECK[svc], "-X", "http.listen=off")
    assert r.returncode == 0, r.stderr


def test_config_reference_is_generated_from_the_tables(bins):
    doc = (REPO_ROOT / "docs/config.md").read_text()
    marker = "<!-- generated below: do not edit -->\n\n"
    assert marker in doc
    generated = "".join(run(bins[s], "--help-config-md").stdout for s in SERVICES)
    assert doc.split(marker, 1)[1] == generated, (
        "docs/config.md is out of date: regenerate the part below the marker with\n"
        "  for s in collector miner applier; do bin/shiftlog-$s --help-config-md; done")
