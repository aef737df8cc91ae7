"""deploy/prometheus/ and deploy/grafana/ (issue 22, docs/operations.md): the alert rules pass
`promtool check rules` and their own `promtool test rules` cases, and every metric the rules and
the Grafana dashboard name is one the services register (a renamed metric breaks this test, not
a dashboard in production)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy/prometheus"
DASH = ROOT / "deploy/grafana/shiftlog-dashboard.json"


def registered_metrics():
    """Every metric family name the C sources register."""
    names = set()
    for src in list((ROOT).glob("common/*.c")) + [p for d in ("collector", "miner", "applier")
                                                   for p in (ROOT / d).glob("*.c")]:
        text = src.read_text(errors="replace")
        names.update(re.findall(r'"((?:shiftlog|process)_[a-z_]+)"', text))
        for prefix in re.findall(r'\.metric_prefix = "([a-z_]+)"', text):
            names.update({prefix + "_stalled", prefix + "_records_behind"})   # sl_watchdog
    return names


def named_in(text):
    """Metric names in PromQL text, with {__name__=~"a_(x|y)_b"} alternations expanded."""
    out = set()
    for pre, alts, post in re.findall(r'(shiftlog_)\(([a-z|]+)\)(_[a-z_]+)', text):
        out.update(pre + a + post for a in alts.split("|"))
    text = re.sub(r'shiftlog_\([a-z|]+\)_[a-z_]+', "", text)
    out.update(re.findall(r'\b((?:shiftlog|process)_[a-z_]+)', text))
    return out


def test_prometheus_rules_check_and_unit_tests():
    exe = shutil.which("promtool")
    assert exe, "promtool missing: deploy/local/install installs it (Debian prometheus)"
    r = subprocess.run([exe, "check", "rules", "shiftlog-rules.yml"], cwd=PROM,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([exe, "test", "rules", "shiftlog-rules.test.yml"], cwd=PROM,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_rules_and_dashboard_name_only_registered_metrics():
    have = registered_metrics()
    assert {"shiftlog_applier_lag_seconds", "shiftlog_applier_records_behind",
            "shiftlog_miner_stalled", "shiftlog_alerts_failed_total"} <= have, sorted(have)
    rules = (PROM / "shiftlog-rules.yml").read_text()
    used = named_in(rules)
    assert len(used) >= 10 and used <= have, sorted(used - have)

    dash = json.loads(DASH.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert exprs and all(exprs)
    used = set().union(*(named_in(e) for e in exprs))
    assert len(used) >= 12 and used <= have, sorted(used - have)
    # names in the docs' table of renamed metrics are gone for good
    assert not any(n.endswith("_lag_ms") for n in used | named_in(rules))
