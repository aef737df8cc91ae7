"""Throwaway servers with TLS for tests/it/test_tls.py: a certificate authority made with openssl
at test time, a MariaDB with require_secure_transport=ON, a PostgreSQL with hostssl-only
pg_hba.conf (wal_level=logical) and a KRaft Kafka broker with an SSL and a SASL_SSL
listener (SCRAM-SHA-512 and PLAIN, one user). Each runs from its own directory on free loopback ports, with the
binaries and jars deploy/local uses (the shared stack is never touched); start() brings all
three up in parallel, stop() ends the processes it started and removes the directory.

Nothing here talks to shiftlog's code.
"""

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

PG_BIN = "/usr/lib/postgresql/15/bin"
USER = "tlsuser"          # the account of every server (MariaDB, PostgreSQL, SCRAM)
CERT_USER = "certuser"    # PostgreSQL and MariaDB account that logs in with a client certificate
START_TIMEOUT = 60


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n"
                             f"{p.stdout}\n{p.stderr}")
    return p.stdout


def wait_for(what, pred, proc=None, log=None, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if pred():
                return
        except Exception:
            pass
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what} exited {proc.returncode} while starting:\n"
                                 f"{tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not ready within {timeout}s:\n{tail(log)}")
        time.sleep(0.2)


def tail(path, n=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except (OSError, TypeError):
        return ""


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# ------------------------------------------------------------------ certificates

def make_certs(d):
    """ca.pem (+ its key) signing server.pem/server.key for localhost and 127.0.0.1, and a
    second, unrelated CA (wrong-ca.pem) for the tests that must fail."""
    d = Path(d)
    for name in ("ca", "wrong-ca"):
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", d / f"{name}.key", "-out", d / f"{name}.pem",
             "-subj", f"/CN=shiftlog test {name}"])
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                  "basicConstraints=CA:FALSE\n"
                                  "keyUsage=digitalSignature,keyEncipherment\n"
                                  "extendedKeyUsage=serverAuth\n")
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "server.key",
         "-out", d / "server.csr", "-subj", "/CN=localhost"])
    run(["openssl", "x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.pem",
         "-CAkey", d / "ca.key", "-CAcreateserial", "-days", "2", "-out", d / "server.pem",
         "-extfile", d / "server.ext"])
    # a client certificate for CERT_USER (pg_hba.conf `cert`, MariaDB REQUIRE X509)
    (d / "client.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "client.key",
         "-out", d / "client.csr", "-subj", f"/CN={CERT_USER}"])
    run(["openssl", "x509", "-req", "-in", d / "client.csr", "-CA", d / "ca.pem",
         "-CAkey", d / "ca.key", "-CAcreateserial", "-days", "2", "-out", d / "client.pem",
         "-extfile", d / "client.ext"])
    # Kafka's PEM keystore: the PKCS#8 key and the certificate in one file
    key8 = run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", d / "server.key"])
    (d / "server-keystore.pem").write_text(key8 + (d / "server.pem").read_text())
    for f in d.iterdir():
        f.chmod(0o644)
    (d / "client.key").chmod(0o600)  # libpq refuses a key others can read
    return {"client_cert": str(d / "client.pem"), "client_key": str(d / "client.key"),
            "ca": str(d / "ca.pem"), "wrong_ca": str(d / "wrong-ca.pem"),
            "cert": str(d / "server.pem"), "key": str(d / "server.key"),
            "keystore": str(d / "server-keystore.pem")}


# ------------------------------------------------------------------ servers

class Servers:
    def __init__(self, password, kafka_libs, log4j):
        self.password = password
        self.kafka_libs = kafka_libs
        self.log4j = log4j
        # /tmp and mode 755: the postgres OS user must reach its data dir
        self.dir = Path(tempfile.mkdtemp(prefix="sl-tls-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.procs = []
        self.pg_data = None
        (self.mysql_port, self.pg_port, self.kafka_plain, self.kafka_ssl, self.kafka_sasl,
         self.kafka_ctrl) = free_ports(6)

    # -- MariaDB: require_secure_transport=ON, TLS with the test CA's certificate
    def start_mariadb(self):
        d = self.dir / "mariadb"
        (d / "data").mkdir(parents=True)
        self.my_cnf = d / "my.cnf"
        self.my_sock = d / "mariadb.sock"
        self.my_cnf.write_text(f"""[client-server]
port = {self.mysql_port}
socket = {self.my_sock}
[mariadbd]
user = root
datadir = {d}/data
pid-file = {d}/mariadb.pid
log-error = {d}/mariadb.err
bind-address = 127.0.0.1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
server_id = 1
log_bin = binlog
binlog_format = ROW
binlog_row_image = FULL
binlog_row_metadata = FULL
innodb_flush_log_at_trx_commit = 2
sync_binlog = 0
innodb_buffer_pool_size = 32M
innodb_log_file_size = 8M
ssl_ca = {self.certs['ca']}
ssl_cert = {self.certs['cert']}
ssl_key = {self.certs['key']}
require_secure_transport = ON
""")
        run(["mariadb-install-db", f"--defaults-file={self.my_cnf}",
             "--auth-root-authentication-method=socket", "--skip-test-db"])
        log = open(d / "mariadbd.out", "wb")
        p = subprocess.Popen(["mariadbd", f"--defaults-file={self.my_cnf}"], stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        wait_for("mariadbd", lambda: self.my_sql("SELECT 1") is not None, p, d / "mariadb.err")
        self.my_sql(f"""SET SESSION sql_log_bin = 0;
CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{self.password}';
GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1';
CREATE USER '{CERT_USER}'@'127.0.0.1' REQUIRE SUBJECT '/CN={CERT_USER}';
GRANT ALL PRIVILEGES ON *.* TO '{CERT_USER}'@'127.0.0.1';""")

    def my_sql(self, sql):
        """SQL as root through the socket (a socket counts as secure transport)."""
        return run(["mariadb", f"--defaults-file={self.my_cnf}", "--protocol=socket", "-uroot",
                    "-N", "-B", "-e", sql])

    # -- PostgreSQL: ssl=on, pg_hba.conf hostssl lines only (plus local trust for the test)
    def start_pg(self):
        d = self.dir / "pg"
        d.mkdir()
        shutil.chown(d, "postgres", "postgres")
        data = d / "data"
        self.pg_data = data
        self.pg_run = d / "run"
        self.pg_run.mkdir()
        shutil.chown(self.pg_run, "postgres", "postgres")
        run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/initdb", "-D", str(data), "-U",
             "postgres", "-N", "--auth-local=trust", "--auth-host=reject", "-E", "UTF8",
             "--locale=C.UTF-8"])
        shutil.copy(self.certs["ca"], data / "root.crt")
        shutil.chown(data / "root.crt", "postgres", "postgres")
        for name in ("cert", "key"):
            dst = data / f"server.{'crt' if name == 'cert' else 'key'}"
            shutil.copy(self.certs[name], dst)
            shutil.chown(dst, "postgres", "postgres")
            dst.chmod(0o600)
        with open(data / "postgresql.conf", "a") as f:
            f.write(f"""
listen_addresses = '127.0.0.1'
port = {self.pg_port}
unix_socket_directories = '{self.pg_run}'
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'root.crt'
""")
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"hostssl all {CERT_USER} 127.0.0.1/32 cert\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "hostssl replication all 127.0.0.1/32 scram-sha-256\n")
        run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", str(data), "-l",
             str(d / "pg.log"), "-w", "-t", str(START_TIMEOUT), "start"],
            cwd="/tmp")
        self.pg_sql(f"CREATE ROLE {USER} LOGIN SUPERUSER REPLICATION PASSWORD "
                    f"'{self.password}'")
        self.pg_sql(f"CREATE ROLE {CERT_USER} LOGIN SUPERUSER")

    def pg_sql(self, sql, db="postgres"):
        return run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", str(self.pg_run),
                    "-p", str(self.pg_port), "-U", "postgres", "-d", db, "-c", sql])

    # -- Kafka (KRaft): PLAINTEXT for the test's own reads, SSL, SASL_SSL with SCRAM-SHA-512
    def start_kafka(self):
        d = self.dir / "kafka"
        (d / "data").mkdir(parents=True)
        props = d / "server.properties"
        c = self.certs
        props.write_text(f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{self.kafka_ctrl}
listeners=PLAINTEXT://127.0.0.1:{self.kafka_plain},SSL://127.0.0.1:{self.kafka_ssl},SASL_SSL://127.0.0.1:{self.kafka_sasl},CONTROLLER://127.0.0.1:{self.kafka_ctrl}
advertised.listeners=PLAINTEXT://127.0.0.1:{self.kafka_plain},SSL://127.0.0.1:{self.kafka_ssl},SASL_SSL://127.0.0.1:{self.kafka_sasl}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
ssl.keystore.type=PEM
ssl.keystore.location={c['keystore']}
ssl.truststore.type=PEM
ssl.truststore.location={c['ca']}
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}="{self.password}";
log.dirs={d}/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=2
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=2
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
""")
        java = ["java", "-Xmx256m", f"-Dlog4j2.configurationFile={self.log4j}",
                "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", f"{self.kafka_libs}/*"]
        cluster = "-"
        while cluster.startswith("-"):  # StorageTool takes a leading '-' for an option
            cluster = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        run(java + ["kafka.tools.StorageTool", "format", "-t", cluster, "-c",
                    str(props), "--add-scram",
                    f"SCRAM-SHA-512=[name={USER},password=\"{self.password}\"]"])
        log = open(d / "kafka.out", "wb")
        p = subprocess.Popen(["java", "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC",
                              "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
                              f"-Dlog4j2.configurationFile={self.log4j}",
                              "-cp", f"{self.kafka_libs}/*", "kafka.Kafka", str(props)],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        wait_for("kafka", lambda: port_open(self.kafka_sasl) and self._kafka_answers(), p,
                 d / "kafka.out")

    def _kafka_answers(self):
        from confluent_kafka.admin import AdminClient
        md = AdminClient({"bootstrap.servers": f"127.0.0.1:{self.kafka_plain}"}).list_topics(
            timeout=2)
        return len(md.brokers) == 1

    def start(self):
        self.certs = make_certs(self.dir)
        errors = []

        def guarded(fn):
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(f"{fn.__name__}: {e}")

        threads = [threading.Thread(target=guarded, args=(fn,))
                   for fn in (self.start_mariadb, self.start_pg, self.start_kafka)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.stop()
            raise AssertionError("TLS test servers did not start:\n" + "\n".join(errors))
        return self

    def stop(self):
        if self.pg_data is not None and (self.pg_data / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D",
                            str(self.pg_data), "-m", "immediate", "-w", "-t", "20", "stop"],
                           capture_output=True, timeout=30, cwd="/tmp")
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if not os.environ.get("SL_TLS_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
