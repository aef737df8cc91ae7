"""Permanent errors are told apart from transient ones the same way in every service (issue 18,
docs/applier.md "Exit codes"): a server that refuses for good — a wrong password, a missing
database — makes the collector exit 3 (SL_EXIT_DENIED) with one ERROR line within seconds,
as the applier does (test_applier_lease.py), instead of retrying forever (the PostgreSQL
collector did) or exiting 1 (the MariaDB collector did)."""

import os
import subprocess
import time

import pytest

from e2e_util import EXAMPLES


@pytest.mark.parametrize("source,override", [
    ("mysql", {"source.password": "wrong-pw"}),
    ("pg", {"source.password": "wrong-pw"}),
    ("pg", {"source.database": "no_such_database_here"}),
], ids=["mysql-password", "pg-password", "pg-database"])
def test_it_collector_denied_exits_3(bin_dir, tmp_path, unique_name, source, override):
    conf = EXAMPLES / ("mysql-to-pg" if source == "mysql" else "pg-to-mysql") / "collector.conf"
    argv = [str(bin_dir / "shiftlog-collector"), "-c", str(conf),
            "-X", f"source.name={unique_name('denied')}", "-X", "lease=false"]
    for k, v in override.items():
        argv += ["-X", f"{k}={v}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTLOG_")}
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    took = time.monotonic() - t0
    errors = [line for line in p.stderr.splitlines() if " ERROR " in line]
    assert p.returncode == 3, p.stderr
    assert len(errors) == 1, p.stderr
    assert took < 20, took
    assert "wrong-pw" not in p.stderr
