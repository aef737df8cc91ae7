"""shiftlog against Debezium on the same data, one after the other (run it through bench/compare,
which installs Kafka Connect and Debezium first; bench/README.md says what is measured and how).

Each workload writes N row changes into the source first (MariaDB binlog / PostgreSQL WAL), then
runs shiftlog-collector and then a Kafka Connect standalone worker with Debezium's connector over
exactly that range, each into fresh topics, and measures of each process, the same way from /proc:
  wall      from the go (the collector's exec / the connector's POST to a running worker) until all
            N changes are durable in Kafka (shiftlog: its rows counter reached N and a checkpoint
            stored after that with nothing queued; Debezium: its topic's end offset reached N);
  CPU-s     utime + stime of the process over that interval (/proc/PID/stat);
  peak RSS  VmHWM at the end (/proc/PID/status), the process's whole life.
"""

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "it"))
from kafka_connect import ConnectWorker  # noqa: E402
from kafka_private import PrivateKafka  # noqa: E402

ENV = os.environ
CLK_TCK = os.sysconf("SC_CLK_TCK")
MARIADB_SHAPES = {  # name: (rows per statement, statements per transaction)
    "mariadb-autocommit": (1, 1),
    "mariadb-txn10": (1, 10),
    "mariadb-rows100": (100, 1),
}
WORKLOADS = [*MARIADB_SHAPES, "pg", "pg-sink"]   # pg-sink: the topics pg wrote
MY_DDL = ("CREATE TABLE {db}.t (id INT PRIMARY KEY, a INT, b BIGINT, c VARCHAR(32), d DECIMAL(12,2),"
          " e DATETIME(6), f DOUBLE, g TINYINT, h CHAR(8), i TEXT)")
PG_DDL = ("CREATE TABLE t (id int PRIMARY KEY, a int, b bigint, c varchar(32), d numeric(12,2),"
          " e timestamp(6), f double precision, g smallint, h char(8), i text)")
# the worker's JVM as Kafka's connect-standalone.sh starts it (heap and kafka-run-class.sh flags)
CONNECT_JVM = ["-Xms256M", "-Xmx2G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
               "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"]


def say(*a):
    print(*a, flush=True)


# ------------------------------------------------------------------ processes, measured alike

class Measured:
    """A process whose CPU and peak RSS are read from /proc, the same way for both sides."""

    def __init__(self, proc):
        self.proc = proc
        self.pid = proc.pid

    def cpu_s(self):
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK     # utime + stime, all threads

    def hwm_mb(self):
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tail(path, n=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class Topics:
    """Counts the messages in the topics whose names start with a prefix (end offsets)."""

    def __init__(self, bootstrap):
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-compare-count",
                           "enable.auto.commit": False})

    def count(self, prefix):
        """The sum of the end offsets; the last count when the broker does not answer now."""
        try:
            return self._count(prefix)
        except KafkaException as e:
            say(f"   (counting {prefix}*: {e}; trying again)")
            return 0

    def _count(self, prefix):
        total = 0
        md = self.c.list_topics(timeout=10)
        for name, t in md.topics.items():
            if not name.startswith(prefix) or t.error is not None:
                continue
            for p in t.partitions:
                lo, hi = self.c.get_watermark_offsets(TopicPartition(name, p), timeout=10,
                                                      cached=False)
                total += hi
        return total

    def drop(self, bootstrap, marks):
        """Deletes the topics whose names hold one of the marks (the run's tags)."""
        names = [t for t in self.c.list_topics(timeout=10).topics if any(m in t for m in marks)]
        if names:
            admin = AdminClient({"bootstrap.servers": bootstrap})   # alive until all are done
            for f in admin.delete_topics(names).values():
                try:
                    f.result(30)
                except KafkaException as e:
                    say(f"   (could not delete a topic: {e})")

    def close(self):
        self.c.close()


def result(side, n, t_go, first, t_end, cpu0, m, extra=None):
    """first: (time, CPU-s) when the first change showed up, or None."""
    wall = t_end - t_go
    t_first, cpu_first = first or (None, None)
    cpu = m.cpu_s()
    r = {"side": side, "events": n, "wall_s": round(wall, 3), "events_per_s": round(n / wall),
         "startup_s": round(t_first - t_go, 3) if t_first else None,
         "events_per_s_after_first": round(n / (t_end - t_first)) if t_first and t_end > t_first
         else None,
         "cpu_s": round(cpu - cpu0, 2), "cpu_s_total": round(cpu, 2),
         "cpu_s_after_first": round(cpu - cpu_first, 2) if first else None,
         "peak_rss_mb": round(m.hwm_mb(), 1)}
    r.update(extra or {})
    say(f"   {side:9} {n} events in {wall:7.2f} s = {r['events_per_s']:8d} ev/s, "
        f"{r['cpu_s']:6.2f} CPU-s, {r['peak_rss_mb']:7.1f} MB peak RSS "
        f"(startup to first event {r['startup_s']} s)")
    return r


# ------------------------------------------------------------------ shiftlog

def run_collector(conf_lines, work, n, topics, prefix, timeout):
    conf = work / "collector.conf"
    conf.write_text("\n".join(conf_lines + ["http.listen = 127.0.0.1:0", "lease = false"]) + "\n")
    log = work / "collector.log"
    binary = Path(ENV.get("SHIFTLOG_BIN", ROOT / "bin")) / "shiftlog-collector"
    t_go = time.monotonic()
    with open(log, "w") as err:
        m = Measured(subprocess.Popen([str(binary), "-c", str(conf)], stderr=err,
                                      stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL))
    cpu0 = m.cpu_s()
    try:
        port = None
        deadline = t_go + timeout
        while port is None:
            hit = re.search(r"serving /health and /metrics on 127\.0\.0\.1:(\d+)", log.read_text())
            port = hit and int(hit.group(1))
            check(m.alive(), "collector exited", log)
            check(time.monotonic() < deadline, "collector: no /metrics port", log)
            time.sleep(0.02)

        def metrics():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                text = r.read().decode()
            rows = sum(float(l.split()[-1]) for l in text.splitlines()
                       if l.startswith("shiftlog_collector_rows_total{"))
            val = {l.split()[0]: float(l.split()[1]) for l in text.splitlines()
                   if l and not l.startswith("#") and "{" not in l.split()[0]}
            return rows, val.get("shiftlog_collector_checkpoint_time_seconds", 0.0), \
                val.get("shiftlog_collector_producer_queue", 0.0)

        t_first = None
        while True:                     # every row handed to Kafka ...
            rows, _, _ = metrics()
            if rows and t_first is None:
                t_first = (time.monotonic(), m.cpu_s())
            if rows >= n:
                break
            check(m.alive(), "collector exited", log)
            check(time.monotonic() < deadline, f"collector: {rows:.0f}/{n} rows after {timeout} s",
                  log)
            time.sleep(0.05)
        t_rows = time.time()
        while True:                     # ... then a checkpoint stored after that, nothing queued
            _, ckpt, queue = metrics()
            if ckpt >= t_rows and queue == 0:
                break
            check(m.alive(), "collector exited", log)
            check(time.monotonic() < deadline, "collector: no checkpoint after the last row", log)
            time.sleep(0.02)
        t_end = time.monotonic()
        r = result("shiftlog", n, t_go, t_first, t_end, cpu0, m,
                   {"kafka_messages": topics.count(prefix)})
    finally:
        m.stop()
    return r


def check(ok, what, log):
    if not ok:
        raise RuntimeError(f"{what}:\n{tail(log)}")


# ------------------------------------------------------------------ Debezium on Kafka Connect

class Connect:
    """The Kafka Connect standalone worker (tests/it/kafka_connect.py), measured."""

    def __init__(self, work, bootstrap, offsets=None):
        # the producer's batch.size and linger.ms are librdkafka's defaults, which shiftlog's
        # collector runs with: with Java's 16 KB batches, one request in flight (Connect's
        # setting) and ~3 KB JSON events, the worker's producer, not Debezium, was the limit
        self.w = ConnectWorker(work, bootstrap, ENV["CONNECT_LIBS"], ENV["PLUGIN_PATH"],
                               CONNECT_JVM, "producer.batch.size=1000000\nproducer.linger.ms=5\n",
                               offsets)
        self.m, self.log, self.props = Measured(self.w.proc), self.w.log, self.w.props
        self.w.wait_rest(180)
        self.rest, self.start_connector, self.failed = (self.w.rest, self.w.start_connector,
                                                        self.w.failed)


def run_debezium(work, bootstrap, name, config, offsets, n, topics, prefix, timeout):
    c = Connect(work, bootstrap, offsets)
    try:
        cpu0 = c.m.cpu_s()
        t_go = time.monotonic()
        c.start_connector(name, config)
        t_first, got, deadline, last_check = None, 0, t_go + timeout, t_go
        while got < n:
            got = topics.count(prefix)
            now = time.monotonic()
            if got and t_first is None:
                t_first = (now, c.m.cpu_s())
            if now - last_check > 2:
                last_check = now
                trace = c.failed(name)
                check(trace is None, f"Debezium failed: {trace}", c.log)
            check(c.m.alive(), "Kafka Connect exited", c.log)
            check(now < deadline, f"Debezium: {got}/{n} events after {timeout} s", c.log)
            time.sleep(0.1)
        t_end = time.monotonic()
        r = result("debezium", n, t_go, t_first, t_end, cpu0, c.m, {
            "kafka_messages": got, "worker": c.props.read_text().splitlines(),
            "connector": {k: v for k, v in config.items() if "password" not in k}})
        check(got == n, f"Debezium wrote {got} events for {n} changes", c.log)
    finally:
        c.m.stop()
    return r


# ------------------------------------------------------------------ sources and workloads

def my(*args, stdin=None):
    return subprocess.run(["mariadb", f"--defaults-file={ENV['SL_MYSQL_DEFAULTS_FILE']}", "-uroot",
                           "-N", *args], stdin=stdin, check=True, capture_output=True,
                          text=True).stdout


def psql(db, *cmds):
    args = ["psql", "-h", ENV["SL_PG_HOST"], "-p", ENV["SL_PG_PORT"], "-U", ENV["SL_PG_USER"],
            "-d", db, "-v", "ON_ERROR_STOP=1", "-qAtX"]
    for c in cmds:
        args += ["-c", c]
    return subprocess.run(args, check=True, capture_output=True, text=True,
                          env={**ENV, "PGPASSWORD": ENV["SL_PG_PASSWORD"]}).stdout.strip()


def mariadb_workload(shape, n, tag, work, bootstrap, topics, timeout):
    rows, txn = MARIADB_SHAPES[shape]
    db = tag
    my("-e", f"CREATE DATABASE {db}; " + MY_DDL.format(db=db))
    try:
        f0, p0 = my("-e", "SHOW MASTER STATUS").split()[:2]
        # Debezium's MariaDB binlog client starts from a GTID position, not from file:pos alone
        gtid0 = my("-e", f"SELECT BINLOG_GTID_POS('{f0}', {p0})").strip()
        sql = work / "load.sql"
        with open(sql, "w") as out:
            subprocess.run(["awk", "-v", f"n={n}", "-v", f"db={db}", "-v", f"txn={txn}", "-v",
                            f"rows={rows}", "-f", str(ROOT / "bench/mysql_load.awk")],
                           stdout=out, check=True)
        t0 = time.monotonic()
        with open(sql) as inp:
            my(stdin=inp)
        say(f"   {n} changes ({rows}-row statements, {txn} per transaction) written to the binlog "
            f"in {time.monotonic() - t0:.1f} s from {f0}:{p0}")
        out = {"workload": shape, "source": "mariadb", "events": n, "rows_per_statement": rows,
               "statements_per_txn": txn}
        out["shiftlog"] = run_collector([
            f"source.name = {tag}", "source.host = 127.0.0.1", f"source.port = {ENV['SL_MYSQL_PORT']}",
            f"source.user = {ENV['SL_MYSQL_CDC_USER']}",
            f"source.password = {ENV['SL_MYSQL_CDC_PASSWORD']}",
            f"source.server_id = {random.randint(100000, 900000)}", f"start.position = {f0}:{p0}",
            f"tables.include = {db}\\..*", f"topic.prefix = sl_{tag}", "snapshot.mode = never",
            f"kafka.bootstrap.servers = {bootstrap}"],
            mk(work / "shiftlog"), n, topics, f"sl_{tag}.", timeout)
        name = f"dbz-{tag}"
        prefix = f"dbz_{tag}"
        config = {
            "connector.class": "io.debezium.connector.mariadb.MariaDbConnector", "tasks.max": "1",
            "database.hostname": "127.0.0.1", "database.port": ENV["SL_MYSQL_PORT"],
            "database.user": "root", "database.password": ENV["SL_MYSQL_ROOT_PASSWORD"],
            "database.server.id": str(random.randint(100000, 900000)),
            "database.ssl.mode": "disable",
            "topic.prefix": prefix, "database.include.list": db, "table.include.list": f"{db}.t",
            # the offsets file starts the stream at the workload's first change; "recovery" then
            # reads the table's schema (unchanged since) into the empty schema history (no_data
            # refuses to start on an offset without one), without a lock on the shared server
            "snapshot.mode": "recovery", "snapshot.locking.mode": "none",
            "schema.history.internal.store.only.captured.tables.ddl": "true",
            "schema.history.internal.store.only.captured.databases.ddl": "true",
            # the shared server's binlog carries other databases' DDL (e.g. inet6/uuid columns)
            # that Debezium's parser refuses even though it captures nothing there
            "schema.history.internal.skip.unparseable.ddl": "true",
            "include.schema.changes": "false", "tombstones.on.delete": "false",
            "schema.history.internal": "io.debezium.storage.file.history.FileSchemaHistory",
            "schema.history.internal.file.filename": str(work / "debezium" / "schema-history.dat"),
        }
        offsets = (json.dumps([name, {"server": prefix}], separators=(",", ":")),
                   json.dumps({"file": f0, "pos": int(p0), "gtids": gtid0}, separators=(",", ":")))
        out["debezium"] = run_debezium(mk(work / "debezium"), bootstrap, name, config, offsets, n,
                                       topics, f"{prefix}.", timeout)
        return out
    finally:
        my("-e", f"DROP DATABASE IF EXISTS {db}")


def pg_workload(n, tag, work, bootstrap, topics, timeout):
    db = tag
    psql("postgres", f"CREATE DATABASE {db}")
    try:
        psql(db, PG_DDL, f"CREATE PUBLICATION {db}_p FOR ALL TABLES",
             f"SELECT pg_create_logical_replication_slot('{db}_s', 'pgoutput')",
             f"SELECT pg_create_logical_replication_slot('{db}_d', 'pgoutput')")
        ins, upd = n // 2, n // 4
        dele = n - ins - upd
        t0 = time.monotonic()
        # the same mix as the MariaDB workloads, 100 single-row changes per transaction
        psql(db, f"""DO $$ BEGIN
  FOR k IN 0..{(ins + 99) // 100 - 1} LOOP
    INSERT INTO t SELECT i, i, i::bigint * 1000003, 'row ' || i, i + 0.25,
        '2026-11-25 10:00:00'::timestamp + (i % 1000000) * interval '1 microsecond', i + 0.5,
        i % 100, 'ch' || (i % 1000), 'text ' || i
      FROM generate_series(k * 100 + 1, least(k * 100 + 100, {ins})) i;
    COMMIT;
  END LOOP;
  FOR k IN 0..{(upd + 99) // 100 - 1} LOOP
    FOR r IN k * 100 + 1 .. least(k * 100 + 100, {upd}) LOOP
      UPDATE t SET a = a + 1, c = 'upd ' || id WHERE id = r;
    END LOOP;
    COMMIT;
  END LOOP;
  FOR k IN 0..{(dele + 99) // 100 - 1} LOOP
    FOR r IN k * 100 + 1 .. least(k * 100 + 100, {dele}) LOOP
      DELETE FROM t WHERE id = {ins} - r + 1;
    END LOOP;
    COMMIT;
  END LOOP;
END $$""")
        say(f"   {n} changes (100 per transaction) written to the WAL in "
            f"{time.monotonic() - t0:.1f} s")
        out = {"workload": "pg", "source": "postgresql", "events": n, "rows_per_statement": 1,
               "statements_per_txn": 100}
        out["shiftlog"] = run_collector([
            f"source.name = {tag}", "source.type = postgresql", f"source.host = {ENV['SL_PG_HOST']}",
            f"source.port = {ENV['SL_PG_PORT']}", f"source.user = {ENV['SL_PG_CDC_USER']}",
            f"source.password = {ENV['SL_PG_CDC_PASSWORD']}", f"source.database = {db}",
            f"source.slot = {db}_s", f"source.publication = {db}_p", f"topic.prefix = sl_{tag}",
            "snapshot.mode = never", f"kafka.bootstrap.servers = {bootstrap}"],
            mk(work / "shiftlog"), n, topics, f"sl_{tag}.", timeout)
        prefix = f"dbz_{tag}"
        config = {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max": "1", "database.hostname": ENV["SL_PG_HOST"],
            "database.port": ENV["SL_PG_PORT"], "database.user": ENV["SL_PG_USER"],
            "database.password": ENV["SL_PG_PASSWORD"], "database.dbname": db,
            "topic.prefix": prefix, "plugin.name": "pgoutput", "slot.name": f"{db}_d",
            "publication.name": f"{db}_p", "publication.autocreate.mode": "disabled",
            "snapshot.mode": "no_data", "tombstones.on.delete": "false",
        }
        # no offsets: the slot, made before the workload, starts the stream at the first change
        out["debezium"] = run_debezium(mk(work / "debezium"), bootstrap, f"dbz-{tag}", config,
                                       None, n, topics, f"{prefix}.", timeout)
        out["topics"] = {"shiftlog": f"sl_{tag}.{tag}", "debezium": f"{prefix}.public.t"}
        return out
    finally:
        # the slots first: a database that holds one cannot be dropped
        try:
            psql("postgres", "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                 f" WHERE slot_name IN ('{db}_s', '{db}_d') AND NOT active")
        finally:
            psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def wait_applied(db, n, alive, m, log, timeout):
    """Until table t of db holds the workload's end state. Changes are applied in order, so the
    row count is ins - del with row `upd` updated only after the last delete (the inserts pass
    through that count before any update)."""
    ins, upd = n // 2, n // 4
    want = ins - (n - ins - upd)
    deadline = time.monotonic() + timeout
    t_first = None
    while True:
        try:
            got = psql(db, "SELECT count(*), max(c) FILTER (WHERE id = %d) FROM "
                       "(SELECT 1) one LEFT JOIN t ON true" % upd).split("|")
        except subprocess.CalledProcessError:
            got = ["0", ""]       # no table yet
        if int(got[0]) and t_first is None:
            t_first = (time.monotonic(), m.cpu_s())
        if int(got[0]) == want and got[1].startswith("upd "):
            return t_first
        check(alive(), "the sink exited", log)
        check(time.monotonic() < deadline, f"sink: {got} after {timeout} s", log)
        time.sleep(0.1)


def sink_workload(src, tag, work, bootstrap, timeout):
    """Kafka -> PostgreSQL: shiftlog-applier on shiftlog's topic of the pg workload, then
    Debezium's JDBC sink on Debezium's topic of it, each into a fresh database."""
    n = src["events"]
    out = {"workload": "pg-sink", "source": "kafka", "events": n, "target": "postgresql"}
    dbs = [f"{tag}_s", f"{tag}_d"]
    for db in dbs:
        psql("postgres", f"CREATE DATABASE {db}")
    try:
        w = mk(work / "shiftlog")
        log = w / "applier.log"
        binary = Path(ENV.get("SHIFTLOG_BIN", ROOT / "bin")) / "shiftlog-applier"
        t_go = time.monotonic()
        with open(log, "w") as err:
            m = Measured(subprocess.Popen(
                [str(binary), "-X", f"task.name={tag}", "-X", f"source.topic={src['topics']['shiftlog']}",
                 "-X", f"kafka.bootstrap.servers={bootstrap}", "-X", f"target.host={ENV['SL_PG_HOST']}",
                 "-X", f"target.port={ENV['SL_PG_PORT']}", "-X", f"target.user={ENV['SL_PG_USER']}",
                 "-X", f"target.password={ENV['SL_PG_PASSWORD']}", "-X", f"target.database={dbs[0]}",
                 "-X", "map.tables=*.t=public.t", "-X", "http.listen=off"],
                stderr=err, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL))
        cpu0 = m.cpu_s()
        try:
            t_first = wait_applied(dbs[0], n, m.alive, m, log, timeout)
            out["shiftlog"] = result("shiftlog", n, t_go, t_first, time.monotonic(), cpu0, m)
        finally:
            m.stop()
        c = Connect(mk(work / "debezium"), bootstrap)
        try:
            name = f"dbz-sink-{tag}"
            cpu0 = c.m.cpu_s()
            t_go = time.monotonic()
            c.start_connector(name, {
                "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "tasks.max": "1",
                "topics": src["topics"]["debezium"],
                "connection.url": f"jdbc:postgresql://{ENV['SL_PG_HOST']}:{ENV['SL_PG_PORT']}/{dbs[1]}",
                "connection.username": ENV["SL_PG_USER"], "connection.password": ENV["SL_PG_PASSWORD"],
                "insert.mode": "upsert", "delete.enabled": "true", "primary.key.mode": "record_key",
                "schema.evolution": "basic", "collection.name.format": "t",
                "consumer.override.auto.offset.reset": "earliest"})

            def alive():
                trace = c.failed(name)
                check(trace is None, f"Debezium JDBC sink failed: {trace}", c.log)
                return c.m.alive()
            t_first = wait_applied(dbs[1], n, alive, c.m, c.log, timeout)
            out["debezium"] = result("debezium", n, t_go, t_first, time.monotonic(), cpu0, c.m)
        finally:
            c.m.stop()
        a = psql(dbs[0], "SELECT md5(string_agg(concat_ws(',', id, a, b, c, d, e, f, g, h, i), ';' "
                 "ORDER BY id)) FROM t")
        b = psql(dbs[1], "SELECT md5(string_agg(concat_ws(',', id, a, b, c, d, e, f, g, h, i), ';' "
                 "ORDER BY id)) FROM t")
        out["same_tables"] = a == b
        say(f"   the two targets' tables are {'the same' if a == b else 'DIFFERENT'}")
        return out
    finally:
        for db in dbs:
            psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def mk(p):
    p.mkdir(parents=True, exist_ok=True)
    return p


# ------------------------------------------------------------------ machine, report

def cmd_out(*args):
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=30)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
               if l.startswith("MemTotal"))
    return {"host": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(),
            "mem_gb": round(mem / 1024 / 1024, 1), "kernel": platform.release(),
            "loadavg_start": Path("/proc/loadavg").read_text().split()[:3]}


def versions():
    return {
        "shiftlog": cmd_out("git", "-C", str(ROOT), "describe", "--always", "--dirty"),
        "kafka_connect": ENV["CONNECT_VERSION"], "debezium": ENV["DEBEZIUM_VERSION"],
        "java": cmd_out("java", "-version").splitlines()[0],
        "mariadb": my("-e", "SELECT VERSION()").strip(),
        "postgresql": psql("postgres", "SHOW server_version"),
        "kafka_broker": Path(ENV["SL_KAFKA_LIBS"]).parent.name,
    }


def ratio(a, b):
    return round(a / b, 4) if b else None


def times(q):
    """A ratio as people read it: 3.2x, or 1/40 when shiftlog needs less."""
    if q is None:
        return "n/a"
    return f"{q:.1f}x" if q >= 1 else f"1/{1 / q:.0f}" if q > 0 else "~0"


def markdown(run):
    m, v = run["machine"], run["versions"]
    out = [f"# shiftlog vs Debezium ({run['date']})", "",
           f"{m['cores']} cores ({m['cpu']}), {m['mem_gb']} GB, load average "
           f"{' '.join(m['loadavg_start'])} at the start and {' '.join(m['loadavg_end'])} at the end "
           f"(a shared machine: the figures move with its load). Kafka: {run['kafka']}.", "",
           f"shiftlog {v['shiftlog']}; Kafka Connect {v['kafka_connect']} standalone with Debezium "
           f"{v['debezium']} (JSON converter with schemas, Connect's default, which the JDBC sink needs; tombstones off; JVM as "
           f"connect-standalone.sh starts it); {v['mariadb']}; PostgreSQL {v['postgresql']}; "
           f"{v['java']}.", "",
           "| workload | side | events | wall s | startup s | events/s | events/s after startup "
           "| CPU-s | CPU-s after startup | peak RSS MB |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for w in run["workloads"]:
        for side in ("shiftlog", "debezium"):
            r = w.get(side)
            if r:
                out.append(f"| {w['workload']} | {side} | {r['events']} | {r['wall_s']:.2f} | "
                           f"{r['startup_s']:.2f} | {r['events_per_s']} | "
                           f"{r['events_per_s_after_first']} | {r['cpu_s']:.2f} | "
                           f"{r['cpu_s_after_first']} | "
                           f"{r['peak_rss_mb']:.0f} |")
        if w.get("ratio"):
            q = w["ratio"]
            out.append(f"| {w['workload']} | **shiftlog/Debezium** | | | | "
                       f"**{times(q['events_per_s'])}** | {times(q['events_per_s_after_first'])} | "
                       f"**{times(q['cpu_s'])}** | {times(q['cpu_s_after_first'])} | "
                       f"**{times(q['peak_rss_mb'])}** |")
        if w.get("error"):
            out.append(f"| {w['workload']} | failed: {w['error'].splitlines()[0][:120]} | | | | | | | | |")
    out += ["", "Workloads: mariadb-* and pg write the changes into the source first, then each side "
            "reads exactly that binlog/WAL range into Kafka; pg-sink applies the topics pg wrote "
            "(each side its own) to PostgreSQL, until the target table holds the end state. "
            "Wall time: from the go (the service's start / the connector's POST to a running "
            "worker) until all the changes are durable in Kafka (pg-sink: in the target); startup: "
            "from the go to the first change seen there; 'after startup': from then on (at small "
            "N, the JVM's warm-up weighs on Debezium's totals). CPU-s: utime+stime of the process "
            "(/proc/PID/stat) over that time. Peak RSS: VmHWM (/proc/PID/status). Both sides "
            "measured the same way; the broker's own cost is in neither."]
    return "\n".join(out) + "\n"


def write(run, out):
    run["machine"]["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    run["machine"]["uptime"] = cmd_out("uptime")
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(run, indent=2) + "\n")
    md = markdown(run)
    (out / "latest.md").write_text(md)
    return md


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000000, help="row changes per workload")
    ap.add_argument("--only", default=",".join(WORKLOADS),
                    help=f"comma-separated workloads ({','.join(WORKLOADS)})")
    ap.add_argument("--kafka", choices=("private", "shared"), default="private",
                    help="private: a throw-away broker for the run (default; the shared one on "
                    "SL_KAFKA_BROKERS is neither loaded nor measured); shared: SL_KAFKA_BROKERS")
    ap.add_argument("--out", default=str(ROOT / "bench/results"),
                    help="directory of latest.md, latest.json, latest.png")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per side and workload")
    a = ap.parse_args()
    chosen = a.only.split(",")
    for w in chosen:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w} (known: {', '.join(WORKLOADS)})")
    out = Path(a.out)
    work = Path(tempfile.mkdtemp(prefix="compare_"))
    kafka = topics = bootstrap = None
    # SIGTERM unwinds like ^C: the finally blocks stop what the run started and drop its databases
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
           "versions": versions(), "n": a.n, "workloads": []}
    try:
        if a.kafka == "private":
            kafka = PrivateKafka(ENV, work / "kafka", heap="512m").start()
            bootstrap = kafka.bootstrap
            # a new broker creates its transaction log on the first transactional producer's
            # call: not a cost of the first workload's collector
            Producer({"bootstrap.servers": bootstrap, "transactional.id": "bench-compare-warmup",
                      "log_level": 3}).init_transactions(120)
            run["kafka"] = f"a private broker ({run['versions']['kafka_broker']}) for this run"
        else:
            bootstrap = ENV["SL_KAFKA_BROKERS"]
            run["kafka"] = f"the shared broker {bootstrap}"
        topics = Topics(bootstrap)
        pg_src = None
        for w in chosen:
            tag = f"cmp{os.getpid()}_{w.replace('-', '_')}_{random.randint(0, 9999)}"
            say(f"== {w}: {a.n} changes ({tag})")
            try:
                if w == "pg":
                    res = pg_src = pg_workload(a.n, tag, mk(work / tag), bootstrap, topics,
                                               a.timeout)
                elif w == "pg-sink":
                    if not pg_src:
                        raise RuntimeError("pg-sink reads the topics of the pg workload: run both")
                    res = sink_workload(pg_src, tag, mk(work / tag), bootstrap, a.timeout)
                else:
                    res = mariadb_workload(w, a.n, tag, mk(work / tag), bootstrap, topics,
                                           a.timeout)
                s, d = res["shiftlog"], res["debezium"]
                res["ratio"] = {"events_per_s": ratio(s["events_per_s"], d["events_per_s"]),
                                "events_per_s_after_first": ratio(s["events_per_s_after_first"] or 0,
                                                                  d["events_per_s_after_first"] or 0),
                                "cpu_s_after_first": ratio(s["cpu_s_after_first"] or 0,
                                                           d["cpu_s_after_first"] or 0),
                                "cpu_s": ratio(s["cpu_s"], d["cpu_s"]),
                                "peak_rss_mb": ratio(s["peak_rss_mb"], d["peak_rss_mb"])}
                say(f"   shiftlog/Debezium: {times(res['ratio']['events_per_s'])} events/s, "
                    f"{times(res['ratio']['cpu_s'])} CPU-s, {times(res['ratio']['peak_rss_mb'])} "
                    "peak RSS")
            except (RuntimeError, subprocess.CalledProcessError, KafkaException, OSError) as e:
                detail = getattr(e, "stderr", None) or str(e)
                if kafka and not kafka.running():
                    detail += f"\nthe private Kafka exited:\n{kafka.tail()}"
                say(f"   FAILED: {detail}")
                res = {"workload": w, "events": a.n, "error": str(detail)}
            run["workloads"].append(res)
            write(run, out)     # what is done so far, should the run be cut short
    finally:
        if topics and not kafka:      # the shared broker keeps nothing of the run
            topics.drop(bootstrap, [f"cmp{os.getpid()}_"])
        if topics:
            topics.close()
        if kafka:
            kafka.stop()
    md = write(run, out)
    say("\n" + md)
    say(f"written: {out / 'latest.md'}, {out / 'latest.json'}")
    if not os.environ.get("COMPARE_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    else:
        say(f"work directory kept: {work}")
    return 1 if any("error" in w for w in run["workloads"]) else 0


if __name__ == "__main__":
    sys.exit(main())
