"""docker-compose.yml is valid and matches deploy/local (no Docker engine here:
`docker-compose config` parses, resolves and validates the file)."""
import shutil
import subprocess
from pathlib import Path

import yaml  # PyYAML, a dependency of docker-compose's Python and of our venv

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_validates_and_matches_local_ports():
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose missing: deploy/local/install installs it"
    run = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), "config"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    cfg = yaml.safe_load(run.stdout)
    services = cfg["services"]
    for name in ("mariadb", "postgres", "kafka", "mongo", "collector", "miner", "applier"):
        assert name in services, name

    def host_ports(svc):
        out = set()
        for p in services[svc].get("ports", []):
            out.add(int(p["published"]) if isinstance(p, dict) else int(str(p).split(":")[-2]))
        return out

    # Same host ports as deploy/local (DESIGN.md "Real parts").
    assert 13306 in host_ports("mariadb")
    assert 15432 in host_ports("postgres")
    assert 19092 in host_ports("kafka")
    assert 27117 in host_ports("mongo")
    cmd = " ".join(services["mariadb"]["command"])
    for flag in ("--binlog-format=ROW", "--binlog-row-image=FULL", "--binlog-row-metadata=FULL",
                 "--binlog-checksum=CRC32", "--character-set-server=utf8mb4"):
        assert flag in cmd, flag
    assert "wal_level=logical" in " ".join(services["postgres"]["command"])
    assert services["mongo"]["image"].startswith("mongo:")  # the real MongoDB, not the stand-in
    for svc in ("collector", "miner", "applier"):
        env = services[svc]["environment"]
        assert all(k.startswith("SHIFTLOG_") for k in env), env
        assert services[svc]["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        conf = services[svc]["command"][-1]
        assert (ROOT / "examples/docker" / Path(conf).name).is_file(), conf


def test_compose_healthchecks_dependencies_and_scalable_applier():
    """Every container has a health check; the services wait for healthy servers; the
    applier's host port is not fixed (--scale applier=2); its target database is created."""
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose missing: deploy/local/install installs it"
    run = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), "config"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    services = yaml.safe_load(run.stdout)["services"]
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), name
    for svc in ("collector", "miner", "applier"):
        test = services[svc]["healthcheck"]["test"]
        assert test[1:4] == ["shiftlog", "health", "--quiet"], test   # liveness, not --ready
    need = {"collector": {"mariadb", "kafka"}, "miner": {"kafka", "mongo", "collector"},
            "applier": {"postgres", "kafka", "collector"}}
    for svc, deps in need.items():
        got = services[svc]["depends_on"]
        assert set(got) == deps, (svc, got)
        assert all(d["condition"] == "service_healthy" for d in got.values()), got
    for p in services["applier"].get("ports", []):
        published = p.get("published") if isinstance(p, dict) else str(p).split(":")[-2]
        assert not published, p          # a fixed host port would refuse a second copy
    conf = (ROOT / "examples/docker/applier.conf").read_text()
    target = next(line.split("=", 1)[1].strip() for line in conf.splitlines()
                  if line.startswith("target.database"))
    assert f"CREATE DATABASE {target};" in (ROOT / "deploy/docker/postgres-init.sql").read_text()
