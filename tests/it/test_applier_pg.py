"""shiftlog-applier → PostgreSQL on the real local stack.

Records are built by tests/it/it_feed (common/'s record model + Avro codec + Kafka producer),
applied by bin/shiftlog-applier, and read back by psycopg2 (an independent client).
Proves: rows and every value kind arrive exactly (type matrix); FINISH in the middle of a
transaction rolls back and the full transaction applies once; records re-published by a
restarted collector are skipped by source position; poison input goes to the dead-letter
topic with reasons and nothing hostile is executed; the target going away is waited out.
kill -9 of the applier: test_applier_kill9.py.
"""

import os
import random
import signal
import subprocess
import threading
import time
from decimal import Decimal
from urllib.parse import quote

import pytest

from conftest import pg_connect


def q(s):
    return quote(s, safe="")


def S(s):
    return "s:" + q(s)


def msgs(lines):
    """Kafka messages a spec produces (directives produce none)."""
    return sum(1 for l in lines if l and l.split()[0] not in ("at", "txn", "source", "badfp", "#"))


def feed(test_bin_dir, stack, topic, lines):
    p = subprocess.run([str(test_bin_dir / "it_feed"), "--brokers", stack["SL_KAFKA_BROKERS"],
                        "--topic", topic], input="\n".join(lines) + "\n", capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stderr


class Applier:
    def __init__(self, bin_dir, stack, task, topic, db, *extra, logfile=None):
        self.args = [str(bin_dir / "shiftlog-applier"), "-X", f"task.name={task}",
                     "-X", f"source.topic={topic}", "-X", f"target.database={db}",
                     "-X", f"target.host={stack['SL_PG_HOST']}",
                     "-X", f"target.port={stack['SL_PG_PORT']}",
                     "-X", f"target.user={stack['SL_PG_USER']}",
                     "-X", f"target.password={stack['SL_PG_PASSWORD']}",
                     "-X", f"kafka.bootstrap.servers={stack['SL_KAFKA_BROKERS']}",
                     "-X", "flush.interval.ms=100",
                     *(["-X", "http.listen=off"] if not any("http.listen" in e for e in extra) else []), *extra]
        self.logfile = logfile
        self.proc = None
        self.logs = []
        self.env = {}           # extra environment (e.g. fault injection), per start

    def start(self):
        self.out = open(self.logfile, "ab") if self.logfile else subprocess.PIPE
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTLOG_")}
        env.update(self.env)
        self.proc = subprocess.Popen(self.args, stderr=self.out if self.logfile else
                                     subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        if self.logfile:
            return open(self.logfile, encoding="utf-8", errors="replace").read()
        return ""


@pytest.fixture
def target_db(stack, unique_name):
    name = unique_name("app")
    admin = pg_connect(stack)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    conn = pg_connect(stack, dbname=name)
    yield name, conn
    conn.close()
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def stored_offset(conn, task):
    cur = conn.cursor()
    cur.execute("SELECT to_regclass('kafkaoffset') IS NOT NULL")
    if not cur.fetchone()[0]:
        return -1
    # worker_num > 1: one row per worker ("<task>#<i>"); the task stands at the lowest.
    # Rows of a worker_num layout replaced since are retired (sub_offset -2).
    cur.execute("SELECT min(kafka_offset) FROM kafkaoffset WHERE (task = %s OR "
                "left(task, length(%s) + 1) = %s || '#') AND sub_offset <> -2", (task, task, task))
    r = cur.fetchone()
    return r[0] if r and r[0] is not None else -1


def wait_offset(conn, task, offset, app=None, timeout=60):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if stored_offset(conn, task) >= offset:
            return
        if app is not None and app.proc.poll() is not None:
            raise AssertionError(f"applier exited {app.proc.returncode}\n{app.log()}")
        time.sleep(0.1)
    raise AssertionError(f"stored offset {stored_offset(conn, task)} never reached {offset}\n"
                         + (app.log() if app else ""))


# --- type matrix ------------------------------------------------------------------------

# (column, kind, source type, extra, value token, expected python value)
MATRIX = [
    ("c_tinyint", "int", "tinyint(4)", "", "i:-128", -128),
    ("c_int_u", "int", "int(10) unsigned", "", "i:4294967295", 4294967295),
    ("c_bigint", "int", "bigint(20)", "", "i:-9223372036854775808", -9223372036854775808),
    ("c_ubigint", "uint", "bigint(20) unsigned", "", "u:18446744073709551615",
     Decimal("18446744073709551615")),
    ("c_dec", "decimal", "decimal(65,30)", ":p=65:s=30",
     "dec:-12345678901234567890123456789012345.123456789012345678901234567890",
     Decimal("-12345678901234567890123456789012345.123456789012345678901234567890")),
    ("c_float", "float", "float", "", "f:" + q(float.fromhex("0x1.99999ap-4").hex()),
     float.fromhex("0x1.99999ap-4")),
    ("c_double", "double", "double", "", "d:" + q((0.1).hex()), 0.1),
    ("c_nan", "double", "double", "", "d:nan", "nan"),
    ("c_bool", "bool", "boolean", "", "b:1", True),
    ("c_varchar", "string", "varchar(20)", ":p=20", S("caf\u00e9 \U0001F600 ',\";"),
     "caf\u00e9 \U0001F600 ',\";"),
    ("c_text", "string", "longtext", "", S("line1\nline2\t\\"), "line1\nline2\t\\"),
    ("c_empty", "string", "varchar(5)", ":p=5", "s:", ""),
    ("c_null", "string", "varchar(5)", ":p=5:null", "n", None),
    ("c_blob", "bytes", "blob", "", "x:00ff610062", b"\x00\xffa\x00b"),
    ("c_date", "temporal", "date", "", "t:date;2024-02-29;19782;0;-",
     __import__("datetime").date(2024, 2, 29)),
    ("c_time", "temporal", "time(6)", ":p=6", "t:time;" + q("-838:59:59.000000") +
     ";-3020399000000;6;-", -__import__("datetime").timedelta(hours=838, minutes=59, seconds=59)),
    ("c_datetime", "temporal", "datetime(6)", ":p=6",
     "t:datetime;" + q("2024-01-02 03:04:05.123456") + ";1704164645123456;6;-",
     __import__("datetime").datetime(2024, 1, 2, 3, 4, 5, 123456)),
    ("c_ts", "temporal", "timestamp(3)", ":p=3",
     "t:timestamp;" + q("2024-01-02 03:04:05.123") + ";1704164645123000;3;-",
     "2024-01-02 03:04:05.123+00"),
    ("c_bit", "bit", "bit(10)", ":p=10", "bit:10;02a5", "1010100101"),
    ("c_set", "set", "set('a','b','c,d')", "", "set:a;" + q("c,d"), ["a", "c,d"]),
    ("c_json", "string", "json", "", S('{"b": 1,  "a": [1, 2]}'), '{"b": 1,  "a": [1, 2]}'),
    ("c_uuid", "typed", "uuid", "", "typed:uuid;0e9e2a3c-1d2b-4c5d-8e6f-7a8b9c0d1e2f",
     "0e9e2a3c-1d2b-4c5d-8e6f-7a8b9c0d1e2f"),
    ("c_inet", "typed", "inet6", "", "typed:inet6;" + q("2001:db8::1"), "2001:db8::1/128"),
]


def test_it_applier_pg_type_matrix(stack, bin_dir, test_bin_dir, unique_name, target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    cols = ["id:int:bigint:pk=1"] + [f"{c}:{k}:{q(t)}{x}:null" for c, k, t, x, _, _ in MATRIX]
    names = ",".join(["id"] + [c for c, *_ in MATRIX])
    row = ",".join(["i:1"] + [v for *_, v, _ in MATRIX])
    nulls = ",".join(["i:2"] + ["n"] * len(MATRIX))
    out = feed(test_bin_dir, stack, topic, [
        "schema shop types " + " ".join(cols),
        f"insert shop types {names} {row} {nulls}",
        "commit"])
    assert "produced=3" in out
    app = Applier(bin_dir, stack, task, topic, db, logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, 2, app)
    finally:
        app.stop()
    cur = conn.cursor()
    casts = {"c_ts": "::text", "c_bit": "::text", "c_uuid": "::text", "c_inet": "::text",
             "c_nan": "::text", "c_json": "::text", "c_float": "::float8"}
    cur.execute("SELECT " + ", ".join(f'"{c}"' + casts.get(c, "") for c, *_ in MATRIX) +
                " FROM shop.types ORDER BY id")
    got, got_null = cur.fetchall()
    results = []
    for (c, k, t, x, v, want), g in zip(MATRIX, got):
        if isinstance(g, memoryview):
            g = bytes(g)
        ok = (g == want) or (want == "nan" and str(g).lower() == "nan")
        results.append((c, t, ok, g, want))
    bad = [r for r in results if not r[2]]
    assert not bad, "\n".join(f"{c} ({t}): got {g!r} want {w!r}" for c, t, _, g, w in bad)
    assert all(v is None for v in got_null)
    # the types the table was created with (docs/applier.md)
    cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                "attrelid = 'shop.types'::regclass AND attnum > 0 ORDER BY attnum")
    types = dict(cur.fetchall())
    assert types["c_ubigint"] == "numeric(20,0)" and types["c_time"] == "interval"
    assert types["c_set"] == "text[]" and types["c_bit"] == "bit(10)"
    assert types["c_ts"] == "timestamp(3) with time zone"


def test_it_applier_pg_nul_and_zero_date_rejected_to_dlq(stack, bin_dir, test_bin_dir,
                                                          unique_name, target_db):
    """Values PostgreSQL cannot hold: the whole source transaction goes to the DLQ."""
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    feed(test_bin_dir, stack, topic, [
        "schema s t id:int:bigint:pk=1 v:string:text:null d:temporal:date:null",
        "insert s t id,v,d i:1,s:ok,n", "commit",
        "insert s t id,v,d i:2,s:fine,n i:3,s:a%00b,n", "commit",
        "insert s t id,v,d i:4,s:x,t:date;0000-00-00;-;0;-", "commit",
        "insert s t id,v,d i:5,s:last,n", "commit"])
    app = Applier(bin_dir, stack, task, topic, db, logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, 8, app)
    finally:
        app.stop()
    cur = conn.cursor()
    cur.execute("SELECT id FROM s.t ORDER BY id")
    assert [r[0] for r in cur.fetchall()] == [1, 5]       # 2 went with 3: one transaction
    dl = read_dlq(stack, topic + ".dlq", 2)
    reasons = [h["sl.dlq.reason"] for h in dl]
    assert any("NUL" in r for r in reasons) and any("zero date" in r for r in reasons), reasons
    assert {h["sl.dlq.offset"] for h in dl} == {"3", "5"}


def test_it_applier_pg_row_rejected_at_commit_to_dlq(stack, bin_dir, test_bin_dir, unique_name,
                                                     target_db):
    """A row the server refuses (too long for varchar(5)) whose batch is only sent at the
    group's commit (caught up): the group is replayed one source transaction per commit and
    only the refused one goes to the DLQ (it used to be taken for a lost target: an endless
    reconnect-and-replay loop)."""
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    lines = [f"schema s t id:int:bigint:pk=1 v:string:{q('varchar(5)')}:p=5:null",
             "insert s t id,v i:1,s:ok", "commit",
             "insert s t id,v i:2,s:toolong i:3,s:fine", "commit",
             "insert s t id,v i:4,s:last", "commit"]
    feed(test_bin_dir, stack, topic, lines)
    app = Applier(bin_dir, stack, task, topic, db, "-X", "flush.interval.ms=1h",
                  logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, msgs(lines) - 1, app, timeout=30)
    finally:
        app.stop()
    cur = conn.cursor()
    cur.execute("SELECT id, v FROM s.t ORDER BY id")
    assert cur.fetchall() == [(1, "ok"), (4, "last")]
    dl = read_dlq(stack, topic + ".dlq", 1)
    assert "value too long" in dl[0]["sl.dlq.reason"] and dl[0]["sl.dlq.offset"] == "3", dl
    assert "reconnecting" not in app.log()


def read_dlq(stack, topic, n, timeout=20):
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"], "group.id": "t" + topic,
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    out, t0 = [], time.monotonic()
    while len(out) < n and time.monotonic() - t0 < timeout:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        h = {k: (v.decode("utf-8", "replace") if v is not None else None)
             for k, v in (m.headers() or [])}
        h["_value"] = m.value()
        out.append(h)
    time.sleep(1.0)
    while True:                       # nothing more than expected
        m = c.poll(0.5)
        if m is None:
            break
        if not m.error():
            out.append({"_extra": True})
    c.close()
    assert len(out) == n, f"dead letters: {len(out)}, expected {n}: {out}"
    return out


# --- transactions -------------------------------------------------------------------------

def test_it_applier_finish_mid_transaction_applies_once(stack, bin_dir, test_bin_dir,
                                                        unique_name, target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    lines = ["schema b acct id:int:bigint:pk=1 bal:int:bigint",
             "schema b ledger id:int:bigint:pk=1 amt:int:bigint",
             "insert b acct id,bal i:1,i:100 i:2,i:100", "commit",
             # complete txn then a partial one cut by FINISH, then the partial one in full
             "update b acct id,bal i:1,i:100 i:1,i:90", "update b acct id,bal i:2,i:100 i:2,i:110",
             "insert b ledger id,amt i:1,i:10", "commit",
             "at mysql-bin.000001 2000",
             "update b acct id,bal i:1,i:90 i:1,i:80", "insert b ledger id,amt i:2,i:10",
             "finish"]
    again = ["at mysql-bin.000001 2000",
             "update b acct id,bal i:1,i:90 i:1,i:80", "update b acct id,bal i:2,i:110 i:2,i:120",
             "insert b ledger id,amt i:2,i:10", "commit"]
    feed(test_bin_dir, stack, topic, lines)    # positions may go back only in a new producer
    feed(test_bin_dir, stack, topic, again)
    lines += again
    app = Applier(bin_dir, stack, task, topic, db, "-X", "flush.interval.ms=10s",
                  logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, msgs(lines) - 1, app)
    finally:
        app.stop()
    cur = conn.cursor()
    cur.execute("SELECT id, bal FROM b.acct ORDER BY id")
    assert cur.fetchall() == [(1, 80), (2, 120)]
    cur.execute("SELECT count(*) FROM b.ledger")
    assert cur.fetchone()[0] == 2
    assert "rolling back the partial source transaction" in app.log()


def test_it_applier_republished_records_skipped(stack, bin_dir, test_bin_dir, unique_name,
                                                target_db):
    """A restarted collector re-publishes from its checkpoint: positions <= the applied one are
    skipped, so an old image never overwrites a newer one."""
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    first = ["schema s k id:int:bigint:pk=1 v:string:text",
             "at mysql-bin.000001 100", "insert s k id,v i:1,s:one", "commit",
             "at mysql-bin.000001 300", "update s k id,v i:1,s:one i:1,s:two", "commit"]
    feed(test_bin_dir, stack, topic, first)
    app = Applier(bin_dir, stack, task, topic, db, logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, 4, app)
        # the collector restarts from an older checkpoint: FINISH + the same records again
        feed(test_bin_dir, stack, topic, [
            "finish", "at mysql-bin.000001 100", "insert s k id,v i:1,s:one", "commit",
            "at mysql-bin.000001 300", "update s k id,v i:1,s:one i:1,s:two", "commit",
            "at mysql-bin.000001 500", "update s k id,v i:1,s:two i:1,s:three", "commit"])
        wait_offset(conn, task, 11, app)
        cur = conn.cursor()
        cur.execute("SELECT v FROM s.k")
        assert cur.fetchall() == [("three",)]
    finally:
        app.stop()


def test_it_applier_restart_resumes_from_target_position(stack, bin_dir, test_bin_dir,
                                                         unique_name, target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    feed(test_bin_dir, stack, topic, ["schema s c id:int:bigint:pk=1 n:int:bigint",
                                      "insert s c id,n i:1,i:1", "commit"])
    app = Applier(bin_dir, stack, task, topic, db, logfile=f"/tmp/{task}.log").start()
    wait_offset(conn, task, 2, app)
    app.stop()
    conn.cursor().execute("UPDATE s.c SET n = 100")    # a mark a replay would undo
    feed(test_bin_dir, stack, topic, ["at mysql-bin.000002 4", "insert s c id,n i:2,i:2",
                                      "commit"])
    app.start()
    try:
        wait_offset(conn, task, 4, app)
    finally:
        app.stop()
    cur = conn.cursor()
    cur.execute("SELECT id, n FROM s.c ORDER BY id")
    assert cur.fetchall() == [(1, 100), (2, 2)]
    assert "offset stored" in app.log()


# --- bank workload ------------------------------------------------------------------------------

def bank_spec(n_acct, n_txn, seed):
    rnd = random.Random(seed)
    bal = [1000] * n_acct
    lines = ["schema bank acct id:int:bigint:pk=1 bal:int:bigint",
             "schema bank ledger id:int:bigint:pk=1 src:int:bigint dst:int:bigint amt:int:bigint",
             "insert bank acct id,bal " + " ".join(f"i:{i},i:1000" for i in range(n_acct)),
             "commit"]
    for t in range(n_txn):
        a, b = rnd.sample(range(n_acct), 2)
        amt = rnd.randint(1, 50)
        lines.append(f"update bank acct id,bal i:{a},i:{bal[a]} i:{a},i:{bal[a] - amt}")
        bal[a] -= amt
        lines.append(f"update bank acct id,bal i:{b},i:{bal[b]} i:{b},i:{bal[b] + amt}")
        bal[b] += amt
        lines.append(f"insert bank ledger id,src,dst,amt i:{t},i:{a},i:{b},i:{amt}")
        lines.append("commit")
    return lines, bal


# the kill -9 acceptance test (20 kills, >= 100k rows) is tests/it/test_applier_kill9.py


# --- poison ---------------------------------------------------------------------------------

def test_it_applier_poison_to_dlq_nothing_executed(stack, bin_dir, test_bin_dir, unique_name,
                                                   target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    conn.cursor().execute("CREATE TABLE x (id int)")
    hostile_t = 'a"; DROP TABLE x;--'
    hostile_c = "c`; DROP TABLE x; `\u00e9\U0001F600"
    feed(test_bin_dir, stack, topic, [
        "raw 7b2267617262616765223a747275657d",            # JSON, not Avro
        "raw c301deadbeef",                                 # truncated single-object header
        "badfp",
        "insert s ok id i:1",
        f"schema s {q(hostile_t)} id:int:bigint:pk=1 {q(hostile_c)}:string:text",
        f"insert s {q(hostile_t)} id,{q(hostile_c)} i:1,{S(hostile_t)}",
        "commit",
        f"schema s {q('t' * 70)} id:int:bigint:pk=1",         # longer than NAMEDATALEN
        f"insert s {q('t' * 70)} id i:1",
        "commit",
        "schema s fine id:int:bigint:pk=1", "insert s fine id i:42", "commit"])
    app = Applier(bin_dir, stack, task, topic, db, "-X", "max.errors=100",
                  logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, 11, app)
        assert app.proc.poll() is None, "the applier died"
    finally:
        app.stop()
    cur = conn.cursor()
    cur.execute("SELECT to_regclass('public.x') IS NOT NULL")
    assert cur.fetchone()[0], "table x was dropped"
    cur.execute(f'SELECT id, "{hostile_c.replace(chr(34), chr(34) * 2)}" FROM '
                f's."{hostile_t.replace(chr(34), chr(34) * 2)}"')
    assert cur.fetchall() == [(1, hostile_t)]            # quoted, applied as data
    cur.execute("SELECT id FROM s.fine")
    assert cur.fetchall() == [(42,)]
    dl = read_dlq(stack, topic + ".dlq", 5)
    reasons = sorted(h["sl.dlq.reason"] for h in dl)
    assert sum("cannot decode" in r for r in reasons) == 3, reasons
    assert sum("longer than 63 bytes" in r for r in reasons) == 2, reasons
    assert all(h["sl.dlq.topic"] == topic and h["sl.dlq.offset"] for h in dl)
    garbage = [h for h in dl if h.get("_value") == bytes.fromhex("7b2267617262616765223a747275657d")]
    assert garbage and garbage[0]["sl.dlq.offset"] == "0"


def test_it_applier_pg_hostile_type_name_stops_table_no_ddl(stack, bin_dir, test_bin_dir,
                                                            unique_name, target_db):
    """A SCHEMA record's source type is pasted into CREATE / ALTER only when it is a type
    name of the grammar (base + numeric modifiers + []): these start like a known type and
    carry more SQL. Each such table stops (records to the DLQ with the reason), no DDL of
    theirs runs, the other tables go on."""
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    conn.cursor().execute("CREATE TABLE public.victim (id int PRIMARY KEY)")
    hostile = ["numeric(1), evil integer", "integer[] check (pg_sleep(1) is null)",
               "point(1) references public.victim(id) on delete cascade"]
    lines = []
    for i, h in enumerate(hostile):
        lines += [f"schema s h{i} id:int:bigint:pk=1 c:typed:{q(h)}", f"insert s h{i} id,c i:1,n",
                  "commit"]
    lines += [
        # a legitimate typed column, then a MODIFY to a "type" that drops another column
        f"schema s m id:int:bigint:pk=1 c:typed:{q('numeric(10,2)')} x:int:bigint",
        "insert s m id,c,x i:1,n,i:5", "commit",
        f"schema s m id:int:bigint:pk=1 c:typed:{q('numeric(10,2), drop column x')} x:int:bigint",
        "insert s m id,c,x i:2,n,i:6", "commit",
        "schema s fine id:int:bigint:pk=1", "insert s fine id i:42", "commit"]
    feed(test_bin_dir, stack, topic, lines)
    # write_batch=1: each source transaction commits alone, so s.m exists before its MODIFY
    app = Applier(bin_dir, stack, task, topic, db, "-X", "max.errors=100", "-X", "write_batch=1",
                  logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, msgs(lines) - 1, app)
        assert app.proc.poll() is None, "the applier died"
    finally:
        app.stop()
    cur = conn.cursor()
    for i in range(len(hostile)):
        cur.execute(f"SELECT to_regclass('s.h{i}') IS NULL")
        assert cur.fetchone()[0], f"table s.h{i} was created from a hostile type"
    cur.execute("SELECT table_name, column_name FROM information_schema.columns "
                "WHERE column_name = 'evil'")
    assert cur.fetchall() == []
    cur.execute("SELECT conname, contype FROM pg_constraint WHERE contype IN ('c', 'f') "
                "AND connamespace IN ('s'::regnamespace, 'public'::regnamespace)")
    assert cur.fetchall() == []
    cur.execute("SELECT column_name, format_type(a.atttypid, a.atttypmod) FROM "
                "information_schema.columns c JOIN pg_attribute a ON a.attrelid = 's.m'::regclass "
                "AND a.attname = c.column_name WHERE table_schema = 's' AND table_name = 'm' "
                "ORDER BY ordinal_position")
    assert cur.fetchall() == [("id", "bigint"), ("c", "numeric(10,2)"), ("x", "bigint")]
    cur.execute("SELECT id, c, x FROM s.m")
    assert cur.fetchall() == [(1, None, 5)]
    cur.execute("SELECT id FROM s.fine")
    assert cur.fetchall() == [(42,)]
    dl = read_dlq(stack, topic + ".dlq", 8)
    reasons = [h["sl.dlq.reason"] for h in dl]
    assert all("starts like a type name" in r for r in reasons), reasons
    for h in hostile + ["numeric(10,2), drop column x"]:
        assert any(h in r for r in reasons), (h, reasons)


def test_it_applier_on_error_stop_suspends_naming_the_cause(stack, bin_dir, test_bin_dir,
                                                            unique_name, target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    feed(test_bin_dir, stack, topic, [
        "schema s t id:int:bigint:pk=1 v:string:text", "insert s t id,v i:7,s:a%00b", "commit"])
    app = Applier(bin_dir, stack, task, topic, db, "-X", "on_error=stop",
                  "-X", "auto.recovery.count=1", "-X", "suspend.ms=300",
                  logfile=f"/tmp/{task}.log").start()
    try:
        t0 = time.monotonic()
        while "suspended for good" not in app.log() and time.monotonic() - t0 < 20:
            time.sleep(0.2)
        log = app.log()
        assert "suspended for good" in log, log
        assert "key (id=7)" in log and "mysql-bin.000001:" in log and '"s"."t"' in log, log
        assert app.proc.poll() is None
    finally:
        app.stop()
    assert stored_offset(conn, task) == -1


# --- target down ----------------------------------------------------------------------------

def test_it_applier_target_down_waits_and_loses_nothing(stack, bin_dir, test_bin_dir,
                                                        unique_name, target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    lines, final = bank_spec(20, 1500, 3)
    app = Applier(bin_dir, stack, task, topic, db, "-X", "write_batch=50",
                  "-X", "retry.max.ms=500", logfile=f"/tmp/{task}.log").start()
    done = threading.Event()

    def killer():
        admin = pg_connect(stack)
        cur = admin.cursor()
        while not done.is_set():
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                        "application_name = %s", (f"shiftlog-applier/{task}",))
            time.sleep(0.25)
        admin.close()

    th = threading.Thread(target=killer)
    th.start()
    try:
        feed(test_bin_dir, stack, topic, lines)
        time.sleep(3)
        done.set()
        th.join()
        wait_offset(conn, task, msgs(lines) - 1, app, timeout=120)
    finally:
        done.set()
        app.stop()
    cur = conn.cursor()
    cur.execute("SELECT bal FROM bank.acct ORDER BY id")
    assert [r[0] for r in cur.fetchall()] == final
    cur.execute("SELECT count(*) FROM bank.ledger")
    assert cur.fetchone()[0] == 1500
    assert "reconnecting and replaying" in app.log()


def test_it_applier_target_unreachable_at_start_waits(stack, bin_dir, test_bin_dir,
                                                      unique_name, target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    feed(test_bin_dir, stack, topic, ["schema s c id:int:bigint:pk=1", "insert s c id i:1",
                                      "commit"])
    cur = conn.cursor()
    role = unique_name("r")
    cur.execute(f"CREATE ROLE {role} PASSWORD 'pw' NOLOGIN")
    cur.execute(f'GRANT ALL ON DATABASE "{db}" TO {role}; GRANT CREATE ON SCHEMA public TO {role}')
    app = Applier(bin_dir, stack, task, topic, db, f"-X", f"target.user={role}",
                  "-X", "target.password=pw", "-X", "retry.max.ms=300",
                  logfile=f"/tmp/{task}.log").start()
    try:
        time.sleep(2)
        assert app.proc.poll() is None and "target unavailable, retrying" in app.log()
        cur.execute(f"ALTER ROLE {role} LOGIN")            # the target comes back
        wait_offset(conn, task, 2, app, timeout=30)
        cur.execute("SELECT id FROM s.c")
        assert cur.fetchall() == [(1,)]
    finally:
        app.stop()
        cur.execute(f'DROP OWNED BY {role}')
