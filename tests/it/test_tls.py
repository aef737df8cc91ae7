"""TLS and secrets end to end (docs/security.md), against servers of this module's own
(tls_servers.py: certificates made with openssl now; a MariaDB with require_secure_transport=ON,
a PostgreSQL that accepts hostssl only, a Kafka broker with an SSL and a SASL_SSL SCRAM-SHA-512
listener), started once for the module and stopped at its end. The shared stack is not used.

Every secret is one canary password, given through files or the environment only; the tests
read every log line, /metrics, /health and the process titles for it.
"""

import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from e2e_util import Service, wait_until
from tls_servers import CERT_USER, USER, Servers

CANARY = "canary-Pw-7731"
COLLECTOR_READY = r"(started|resumed) reading the binlog|streaming from slot"
APPLIER_READY = r"starting at .* offset"


@pytest.fixture(scope="module")
def srv(stack, tmp_path_factory):
    s = Servers(CANARY, stack["SL_KAFKA_LIBS"], stack["SL_KAFKA_TOOLS_LOG4J"])
    s.start()
    s.secret = tmp_path_factory.mktemp("secret") / "pw"
    s.secret.write_text(CANARY + "\n")
    s.secret.chmod(0o600)
    yield s
    s.stop()


def kafka_ssl(srv):
    return {"kafka.bootstrap.servers": f"127.0.0.1:{srv.kafka_ssl}",
            "kafka.security.protocol": "SSL", "kafka.ssl.ca.location": srv.certs["ca"]}


def kafka_sasl(srv, mechanism="PLAIN"):
    return {"kafka.bootstrap.servers": f"127.0.0.1:{srv.kafka_sasl}",
            "kafka.security.protocol": "SASL_SSL", "kafka.ssl.ca.location": srv.certs["ca"],
            "kafka.sasl.mechanisms": mechanism, "kafka.sasl.username": USER,
            "kafka.sasl.password.file": str(srv.secret)}


def linked_librdkafka(binary):
    """(major, minor, patch) of the librdkafka the binary loads."""
    import ctypes
    m = re.search(r"librdkafka\.so\S* => (\S+)", subprocess.run(
        ["ldd", str(binary)], capture_output=True, text=True).stdout)
    lib = ctypes.CDLL(m.group(1))
    lib.rd_kafka_version.restype = ctypes.c_int
    v = lib.rd_kafka_version()
    return (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff


def service(bin_dir, tmp_path, kind, name, keys, env=None):
    """A collector or applier from a config file written here (no -X: the process title
    shows exactly argv)."""
    conf = tmp_path / f"{name}.conf"
    keys = {"http.listen": "127.0.0.1:0", "log.level": "debug", **keys}
    conf.write_text("".join(f"{k} = {v}\n" for k, v in keys.items()))
    ready = COLLECTOR_READY if kind == "collector" else APPLIER_READY
    return Service(bin_dir / f"shiftlog-{kind}", conf, {}, tmp_path / f"{name}.log", ready,
                   env=env)


def mysql_collector(bin_dir, tmp_path, srv, name, **extra):
    keys = {"source.name": name, "source.type": "mysql", "source.host": "127.0.0.1",
            "source.port": srv.mysql_port, "source.user": USER,
            "source.password.file": srv.secret, "source.server_id": 777,
            "tables.include": rf"{name}\..*", "start.position": "earliest",
            "topic.prefix": "tls", "kafka.transactional": "true", **kafka_ssl(srv)}
    keys.update(extra)
    return service(bin_dir, tmp_path, "collector", f"collector_{name}", keys)


def pg_collector(bin_dir, tmp_path, srv, name, **extra):
    keys = {"source.name": name, "source.type": "postgresql", "source.host": "127.0.0.1",
            "source.port": srv.pg_port, "source.user": USER, "source.database": name,
            "source.slot": f"slot_{name}", "source.publication": f"pub_{name}",
            "tables.include": r"public\..*", "start.position": "earliest",
            "topic.prefix": "tls", "kafka.transactional": "true", **kafka_sasl(srv)}
    keys.update(extra)
    # the password from the environment's _FILE form (the other services use <key>.file)
    return service(bin_dir, tmp_path, "collector", f"collector_{name}", keys,
                   env={"SHIFTLOG_SOURCE_PASSWORD_FILE": str(srv.secret)})


def exits_with(svc, timeout=40):
    """Starts svc, expects it to stop by itself with exit 3 (a source that refuses for good:
    a TLS refusal needs a configuration change, another try cannot help); its log."""
    svc.start(wait=False)
    try:
        svc.proc.wait(timeout=timeout)
    except Exception:
        svc.stop()
        raise AssertionError(f"{svc.argv[0]} still runs after {timeout}s:\n{svc.tail()}")
    assert svc.proc.returncode == 3, svc.tail()
    return svc.text()


def http_texts(svc):
    m = re.search(r"serving /health and /metrics on [\d.]+:(\d+)", svc.text())
    assert m, svc.tail()
    out = []
    for path in ("/health", "/metrics"):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}{path}", timeout=5) as r:
                out.append(r.read().decode(errors="replace"))
        except urllib.error.HTTPError as e:  # 503 still has a body
            out.append(e.read().decode(errors="replace"))
    return out


def assert_no_canary(*services):
    """The canary in no log line, /health, /metrics or process title of a running service."""
    for svc in services:
        assert svc.alive(), svc.tail()
        cmdline = Path(f"/proc/{svc.proc.pid}/cmdline").read_bytes().decode(errors="replace")
        texts = {"log": svc.text(), "cmdline": cmdline}
        texts["/health"], texts["/metrics"] = http_texts(svc)
        assert "****" in svc.text(), "the config dump (log.level debug) is missing"
        for where, text in texts.items():
            assert CANARY not in text, f"{svc.argv[0]}: the password is in its {where}"
        assert "# TYPE" in texts["/metrics"], texts["/metrics"][:500]


def test_mariadb_tls_required_source_and_target(srv, bin_dir, tmp_path, unique_name):
    """A MariaDB that refuses clear connections, as the collector's source (no TLS keys: the
    default prefer uses TLS since the server offers it) and as the applier's target
    (verify-full against the test CA); Kafka through the SSL listener both ways."""
    name = unique_name("my")
    srv.my_sql(f"CREATE DATABASE {name}; CREATE TABLE {name}.items (id INT PRIMARY KEY, "
               f"note VARCHAR(40)); INSERT INTO {name}.items VALUES (1, 'one'), (2, 'two');")
    col = mysql_collector(bin_dir, tmp_path, srv, name)
    app = service(bin_dir, tmp_path, "applier", f"applier_{name}", {
        "task.name": name, "source.topic": f"tls.{name}", "target.type": "mysql",
        "target.host": "127.0.0.1", "target.port": srv.mysql_port, "target.user": USER,
        "target.password.file": srv.secret, "target.database": f"{name}_pos",
        "target.tls.mode": "verify-full", "target.tls.ca": srv.certs["ca"],
        "tables": f"{name}.*", "map.tables": f"{name}.*={name}_copy.*",
        "kafka.group.id": f"g_{name}", **kafka_ssl(srv)})
    try:
        col.start()
        app.start()
        srv.my_sql(f"INSERT INTO {name}.items VALUES (3, 'three')")
        def copied():
            n = srv.my_sql(f"SELECT COUNT(*) FROM information_schema.tables WHERE "
                           f"table_schema = '{name}_copy' AND table_name = 'items'")
            n = srv.my_sql(f"SELECT COUNT(*) FROM {name}_copy.items") if n.strip() == "1" else ""
            return n.strip() == "3", f"rows: {n.strip() or 'no table'}"
        wait_until("rows in the TLS target", copied, services=(col, app), timeout=60)
        assert srv.my_sql(f"SELECT id, note FROM {name}_copy.items ORDER BY id") == \
            "1\tone\n2\ttwo\n3\tthree\n"
        assert_no_canary(col, app)
    finally:
        col.stop()
        app.stop()


def test_pg_hostssl_source_and_target(srv, bin_dir, tmp_path, unique_name):
    """A PostgreSQL with hostssl lines only, as the collector's source (logical slot; default
    prefer) and the applier's target (require); Kafka through SASL_SSL (PLAIN) both ways,
    kafka.sasl.password from a file. The database passwords come from the environment:
    SHIFTLOG_SOURCE_PASSWORD_FILE (collector), SHIFTLOG_TARGET_PASSWORD (applier)."""
    name = unique_name("pg")
    srv.pg_sql(f"CREATE DATABASE {name}")
    srv.pg_sql(f"CREATE DATABASE {name}_dst")
    srv.pg_sql("CREATE TABLE items (id int PRIMARY KEY, note text)", db=name)
    col = pg_collector(bin_dir, tmp_path, srv, name)
    app = service(bin_dir, tmp_path, "applier", f"applier_{name}", {
        "task.name": name, "source.topic": f"tls.{name}", "target.type": "postgresql",
        "target.host": "127.0.0.1", "target.port": srv.pg_port, "target.user": USER,
        "target.database": f"{name}_dst", "target.tls.mode": "require",
        "tables": "public.*", "kafka.group.id": f"g_{name}", **kafka_sasl(srv)},
        env={"SHIFTLOG_TARGET_PASSWORD": CANARY})
    try:
        col.start()
        app.start()
        # the slot starts now (no snapshot): rows written from here on are replicated
        srv.pg_sql("INSERT INTO items VALUES (1, 'one'), (2, 'two')", db=name)
        srv.pg_sql("INSERT INTO items VALUES (3, 'three')", db=name)

        def copied():
            n = srv.pg_sql("SELECT count(*) FROM pg_tables WHERE tablename = 'items'",
                           db=f"{name}_dst").strip()
            n = srv.pg_sql("SELECT count(*) FROM items", db=f"{name}_dst").strip() \
                if n == "1" else "no table"
            return n == "3", f"rows: {n}"
        wait_until("rows in the hostssl target", copied, services=(col, app), timeout=60)
        assert srv.pg_sql("SELECT id, note FROM items ORDER BY id", db=f"{name}_dst") == \
            "1|one\n2|two\n3|three\n"
        # both connections of the server side are TLS ones
        ssl = srv.pg_sql("SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s "
                         f"JOIN pg_stat_activity a USING (pid) WHERE a.usename = '{USER}'")
        n_ssl, n_all = map(int, ssl.strip().split("|"))
        assert n_all >= 2 and n_ssl == n_all, ssl
        assert_no_canary(col, app)
    finally:
        col.stop()
        app.stop()
        srv.pg_sql(f"SELECT pg_drop_replication_slot('slot_{name}') FROM pg_replication_slots "
                   f"WHERE slot_name = 'slot_{name}' AND NOT active", db=name)


def test_verify_ca_with_the_test_ca_and_with_a_wrong_one(srv, bin_dir, tmp_path, unique_name):
    """verify-ca against each database: the test CA connects, another CA is refused with an
    error that names the certificate check and source.tls.ca."""
    for make in (mysql_collector, pg_collector):
        name = unique_name("ca")  # one source per name: its checkpoint says which kind
        srv.pg_sql(f"CREATE DATABASE {name}")
        srv.pg_sql("CREATE TABLE t (id int PRIMARY KEY)", db=name)
        ok = make(bin_dir, tmp_path, srv, name, **{"source.tls.mode": "verify-ca",
                                                  "source.tls.ca": srv.certs["ca"]})
        try:
            ok.start()
        finally:
            ok.stop()
        bad = make(bin_dir, tmp_path, srv, name, **{"source.tls.mode": "verify-ca",
                                                   "source.tls.ca": srv.certs["wrong_ca"]})
        bad.log = tmp_path / f"bad_{make.__name__}.log"
        log = exits_with(bad)
        assert re.search(r"certificate verify failed|self-signed certificate", log), log[-3000:]
        assert "not signed by the CA in source.tls.ca" in log, log[-3000:]
        if make is pg_collector:
            srv.pg_sql(f"SELECT pg_drop_replication_slot('slot_{name}')", db=name)


def test_clear_connections_are_refused(srv, bin_dir, tmp_path, unique_name):
    """The servers really require TLS (so the tests above prove it is used): a collector with
    source.tls.mode=disable (or the old spelling disabled) is refused by both, with the cause
    in its error."""
    name = unique_name("clear")
    srv.pg_sql(f"CREATE DATABASE {name}")
    log = exits_with(pg_collector(bin_dir, tmp_path, srv, name,
                                  **{"source.tls.mode": "disable"}))
    assert "no encryption" in log and "accepts TLS connections only" in log, log[-3000:]
    log = exits_with(mysql_collector(bin_dir, tmp_path, srv, name,
                                     **{"source.tls.mode": "disabled"}))
    # MariaDB answers a clear connection under require_secure_transport as a bad password
    assert "Access denied" in log and "require_secure_transport=ON" in log, log[-3000:]


def test_kafka_wrong_sasl_password_is_refused(srv, bin_dir, tmp_path, unique_name):
    """The SASL listener checks the password: the applier with another one in its file
    never gets a partition and says why."""
    name = unique_name("scram")
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    keys = {**kafka_sasl(srv), "kafka.sasl.password.file": wrong}
    app = service(bin_dir, tmp_path, "applier", f"applier_{name}", {
        "task.name": name, "source.topic": f"tls.{name}", "target.type": "postgresql",
        "target.host": "127.0.0.1", "target.port": srv.pg_port, "target.user": USER,
        "target.password.file": srv.secret, "target.database": "postgres",
        "kafka.group.id": f"g_{name}", **keys})
    try:
        app.start(wait=False)
        wait_until("the authentication failure in the log",
                   lambda: (re.search(r"[Aa]uthentication failed", app.text()), app.tail(5)),
                   timeout=40)
        assert app.count(APPLIER_READY) == 0
    finally:
        app.stop()


def test_kafka_scram_sha512(srv, bin_dir, tmp_path, unique_name):
    """SASL_SSL with SCRAM-SHA-512, the password from a file: the collector publishes and the
    applier consumes. librdkafka before 2.6.1 sends a SCRAM nonce Kafka 4.0+ refuses as
    invalid credentials whatever the password (librdkafka#4895; the broker's SCRAM user is
    checked with the venv's newer librdkafka first): with such a library the collector must
    stop and say so, with a newer one the rows must arrive."""
    from confluent_kafka.admin import AdminClient
    conf = {k[len("kafka."):]: v for k, v in kafka_sasl(srv, "SCRAM-SHA-512").items()
            if not k.endswith(".file")}
    md = AdminClient({**conf, "sasl.password": CANARY}).list_topics(timeout=20)
    assert len(md.brokers) == 1  # the broker side of SCRAM is right

    name = unique_name("scram")
    srv.my_sql(f"CREATE DATABASE {name}; CREATE TABLE {name}.t (id INT PRIMARY KEY); "
               f"INSERT INTO {name}.t VALUES (1), (2)")
    col = mysql_collector(bin_dir, tmp_path, srv, name, **kafka_sasl(srv, "SCRAM-SHA-512"),
                          **{"source.server_id": 778})
    if linked_librdkafka(bin_dir / "shiftlog-collector") < (2, 6, 1):
        col.start(wait=False)
        try:
            wait_until("the collector naming the librdkafka bug", lambda: (
                "invalid credentials" in col.text() and
                re.search(r"WARN .*librdkafka 2\.\d\.\d.*librdkafka#4895", col.text()),
                col.tail(3)), services=(col,), timeout=40)
        finally:
            col.stop()
        return
    app = service(bin_dir, tmp_path, "applier", f"applier_{name}", {
        "task.name": name, "source.topic": f"tls.{name}", "target.type": "mysql",
        "target.host": "127.0.0.1", "target.port": srv.mysql_port, "target.user": USER,
        "target.password.file": srv.secret, "target.database": f"{name}_pos",
        "tables": f"{name}.*", "map.tables": f"{name}.*={name}_copy.*",
        "kafka.group.id": f"g_{name}", **kafka_sasl(srv, "SCRAM-SHA-512")})
    try:
        col.start()
        app.start()

        def copied():
            n = srv.my_sql(f"SELECT COUNT(*) FROM information_schema.tables WHERE "
                           f"table_schema = '{name}_copy'").strip()
            n = srv.my_sql(f"SELECT COUNT(*) FROM {name}_copy.t").strip() if n == "1" else "-"
            return n == "2", f"rows: {n}"
        wait_until("rows through SCRAM", copied, services=(col, app), timeout=60)
        assert_no_canary(col, app)
    finally:
        col.stop()
        app.stop()


def test_require_refuses_a_server_without_tls(stack, bin_dir, tmp_path, unique_name):
    """require means no connection without TLS: the shared stack's MariaDB and PostgreSQL
    have no TLS (only a login is tried there); libmariadb would fall back to a clear
    connection, so the collector checks the session after the handshake."""
    name = unique_name("req")
    common = {"source.name": name, "source.host": "127.0.0.1", "topic.prefix": "tls",
              "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"]}
    my = service(bin_dir, tmp_path, "collector", f"my_{name}", {
        **common, "source.type": "mysql", "source.port": stack["SL_MYSQL_PORT"],
        "source.user": stack["SL_MYSQL_CDC_USER"], "source.tls.mode": "required",
        "source.server_id": 779},
        env={"SHIFTLOG_SOURCE_PASSWORD": stack["SL_MYSQL_CDC_PASSWORD"]})
    log = exits_with(my)
    assert "source.tls.mode require: the server does not offer TLS" in log, log[-3000:]
    pg = service(bin_dir, tmp_path, "collector", f"pg_{name}", {
        **common, "source.type": "postgresql", "source.port": stack["SL_PG_PORT"],
        "source.user": stack["SL_PG_CDC_USER"], "source.database": "postgres",
        "source.tls.mode": "require"},
        env={"SHIFTLOG_SOURCE_PASSWORD": stack["SL_PG_CDC_PASSWORD"]})
    log = exits_with(pg)
    assert "server does not support SSL" in log and "the server has no TLS" in log, log[-3000:]



@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_target_client_certificate(srv, bin_dir, tmp_path, unique_name, kind):
    """target.tls.cert / target.tls.key: a PostgreSQL target (pg_hba.conf `cert` for the user)
    or a MariaDB one (REQUIRE SUBJECT) that takes a client certificate instead of a password;
    without the certificate the target refuses the applier."""
    name = unique_name("cc")
    srv.my_sql(f"CREATE DATABASE {name}; CREATE TABLE {name}.t (id INT PRIMARY KEY); "
               f"INSERT INTO {name}.t VALUES (1), (2), (3)")
    srv.pg_sql(f"CREATE DATABASE {name}_dst")
    col = mysql_collector(bin_dir, tmp_path, srv, name,
                          **{"source.server_id": 780 if kind == "mysql" else 781})
    cert = {"target.tls.mode": "verify-full", "target.tls.ca": srv.certs["ca"],
            "target.tls.cert": srv.certs["client_cert"],
            "target.tls.key": srv.certs["client_key"]}
    target = {
        "postgresql": {"target.type": "postgresql", "target.port": srv.pg_port,
                       "target.database": f"{name}_dst", "map.tables": f"{name}.*=public.*"},
        "mysql": {"target.type": "mysql", "target.port": srv.mysql_port,
                  "target.database": f"{name}_pos", "map.tables": f"{name}.*={name}_copy.*"},
    }[kind]

    def applier(with_cert):
        keys = {"task.name": name, "source.topic": f"tls.{name}", "target.host": "127.0.0.1",
                "target.user": CERT_USER, "tables": f"{name}.*", "kafka.group.id": f"g_{name}",
                **target, **kafka_ssl(srv)}
        keys.update(cert if with_cert else {"target.tls.mode": "require"})
        return service(bin_dir, tmp_path, "applier",
                       f"applier_{name}_{'cert' if with_cert else 'none'}", keys)

    def count():
        if kind == "postgresql":
            n = srv.pg_sql("SELECT count(*) FROM pg_tables WHERE tablename = 't'",
                           db=f"{name}_dst").strip()
            return srv.pg_sql("SELECT count(*) FROM t", db=f"{name}_dst").strip() \
                if n == "1" else "-"
        n = srv.my_sql(f"SELECT COUNT(*) FROM information_schema.tables WHERE "
                       f"table_schema = '{name}_copy'").strip()
        return srv.my_sql(f"SELECT COUNT(*) FROM {name}_copy.t").strip() if n == "1" else "-"

    bad, good = applier(False), applier(True)
    try:
        col.start()
        log = exits_with(bad)  # refused for good: exit 3
        assert re.search(r"set target.tls.cert and target.tls.key|Access denied", log), \
            log[-2000:]
        good.start()
        wait_until(f"rows in the {kind} target", lambda: (count() == "3", count()),
                   services=(col, good), timeout=60)
    finally:
        col.stop()
        bad.stop()
        good.stop()
