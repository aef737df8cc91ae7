"""Fixtures for the integration tests (tests/it), which run against the real local stack of
deploy/local (MariaDB :13306, PostgreSQL :15432, Kafka :19092, MongoDB stand-in :27117).

Run them with tests/it/run (it sources deploy/local/env and starts the stack when it is down).
Plain `$SL_PYTHON -m pytest tests/it` works too: the SL_* variables are read from
deploy/local/env when they are not in the environment.

Fixtures:
  stack          dict of the SL_* variables (hosts, ports, users, passwords, paths)
  repo_root      Path of the clone
  bin_dir        Path of the built programs (SHIFTLOG_BIN, default bin), absolute
  test_bin_dir   Path of the built C test programs (SHIFTLOG_TEST_BIN, default build/release/tests)
  unique_name    unique_name(prefix) -> a fresh lower-case [a-z0-9_] name (<= 63 chars) usable as
                 a MariaDB/PostgreSQL database or table, a Kafka topic or a MongoDB database
  kafka_java     kafka_java(mainclass, *args, check=True, timeout=120, input=None) runs one of
                 Kafka's tool classes from the cached jars; returns subprocess.CompletedProcess
                 (text). e.g. kafka_java("org.apache.kafka.tools.TopicCommand",
                 "--bootstrap-server", stack["SL_KAFKA_BROKERS"], "--list")
  mysql_conn     pymysql connection as root@127.0.0.1 (autocommit, utf8mb4), closed after the test
  pg_conn        psycopg2 connection as postgres to database postgres (autocommit), closed after
"""

import itertools
import os
import re
import secrets
import shlex
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_counter = itertools.count()


def _load_stack_env():
    """The SL_* variables: from the environment, else from deploy/local/env."""
    if "SL_LOCAL_DIR" not in os.environ:
        out = subprocess.run([str(REPO_ROOT / "deploy/local/env")], check=True,
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = shlex.split(line)
            if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
                k, v = parts[1].split("=", 1)
                os.environ.setdefault(k, v)
    return {k: v for k, v in os.environ.items() if k.startswith("SL_")}


@pytest.fixture(scope="session")
def stack():
    env = _load_stack_env()
    missing = [k for k in ("SL_MYSQL_PORT", "SL_PG_PORT", "SL_KAFKA_BROKERS", "SL_MONGO_URI")
               if k not in env]
    if missing:
        pytest.fail(f"deploy/local/env did not give {missing}")
    return env


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


def _abs(p):
    p = Path(p)
    return p if p.is_absolute() else (REPO_ROOT / p).resolve()


@pytest.fixture(scope="session")
def bin_dir():
    return _abs(os.environ.get("SHIFTLOG_BIN", "bin"))


@pytest.fixture(scope="session")
def test_bin_dir():
    return _abs(os.environ.get("SHIFTLOG_TEST_BIN", "build/release/tests"))


@pytest.fixture
def unique_name(request):
    """unique_name("src") -> e.g. "src_binlog_types_4f1c2a_3": prefix, a slice of the test's
    name, random hex and a counter; only [a-z0-9_], at most 63 characters."""
    test = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    test = re.sub(r"^test_", "", test)[:24].strip("_")

    def make(prefix="t"):
        prefix = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_") or "t"
        suffix = f"{secrets.token_hex(3)}_{next(_counter)}"
        room = 63 - len(prefix) - len(suffix) - 2
        mid = test[:max(room, 0)].strip("_")
        name = "_".join(p for p in (prefix, mid, suffix) if p)[:63]
        request.node.__dict__.setdefault("_sl_names", []).append(name)
        return name

    return make


@pytest.fixture(scope="session")
def kafka_java(stack):
    libs = stack["SL_KAFKA_LIBS"]
    log4j = stack.get("SL_KAFKA_TOOLS_LOG4J", str(REPO_ROOT / "deploy/local/kafka/tools-log4j2.xml"))

    def run(mainclass, *args, check=True, timeout=120, input=None):
        cmd = ["java", "-Xmx256m", f"-Dlog4j2.configurationFile={log4j}",
               "-cp", f"{libs}/*", mainclass, *map(str, args)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise AssertionError(f"{mainclass} {' '.join(map(str, args))} exited {p.returncode}\n"
                                 f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    return run


def mysql_connect(stack, user=None, password=None, **kw):
    """A pymysql connection to the local MariaDB over TCP (root unless told)."""
    import pymysql
    return pymysql.connect(host=stack["SL_MYSQL_HOST"], port=int(stack["SL_MYSQL_PORT"]),
                           user=user or stack["SL_MYSQL_ROOT_USER"],
                           password=stack["SL_MYSQL_ROOT_PASSWORD"] if password is None else password,
                           charset="utf8mb4", autocommit=True, **kw)


def pg_connect(stack, user=None, password=None, dbname="postgres", **kw):
    """A psycopg2 connection to the local PostgreSQL over TCP (postgres unless told), autocommit."""
    import psycopg2
    conn = psycopg2.connect(host=stack["SL_PG_HOST"], port=int(stack["SL_PG_PORT"]),
                            user=user or stack["SL_PG_USER"],
                            password=stack["SL_PG_PASSWORD"] if password is None else password,
                            dbname=dbname, **kw)
    if "connection_factory" not in kw:
        conn.autocommit = True
    return conn


@pytest.fixture
def mysql_conn(stack):
    conn = mysql_connect(stack)
    yield conn
    conn.close()


@pytest.fixture
def pg_conn(stack):
    conn = pg_connect(stack)
    yield conn
    conn.close()


@pytest.fixture(autouse=True)
def _drop_new_mongo_databases(request):
    """The MongoDB stand-in keeps everything in its heap (deploy/local: -Xmx2g): databases a test
    created are dropped after it, so a whole `make test` does not fill the heap (a full heap
    makes the stand-in time out sockets). Tests that need no MongoDB pay one listDatabases.
    Only databases named after a unique_name() of this test: every other new one may belong to
    a test run, bench or demo running at the same time on a shared stack (dropping those lost
    their acknowledged writes in the middle of a run)."""
    try:
        import pymongo
        client = pymongo.MongoClient(os.environ.get("SL_MONGO_URI", "mongodb://127.0.0.1:27117"),
                                     serverSelectionTimeoutMS=2000)
        before = set(client.list_database_names())
    except Exception:           # stand-in down: the test itself says so if it needs it
        yield
        return
    try:
        yield
    finally:
        try:
            made = getattr(request.node, "_sl_names", [])
            for name in set(client.list_database_names()) - before - {"admin", "local", "config"}:
                if any(name.startswith(m) for m in made):
                    client.drop_database(name)
        except Exception:
            pass
        client.close()


def drop_slot(cur, slot, timeout=10):
    """Drops a replication slot once no walsender holds it: the walsender of a closed
    replication connection exits a moment later, and until then the slot is "active for PID n"
    (seen in a CI run). A slot still held after timeout is left (its test's database drop with
    FORCE ends the walsender)."""
    import time
    deadline = time.time() + timeout
    while True:
        cur.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        row = cur.fetchone()
        if not row:
            return
        if row[0] is None:
            break
        if time.time() > deadline:
            return
        time.sleep(0.1)
    cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
