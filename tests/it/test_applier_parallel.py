"""worker_num > 1 (applier/target_par.c): several connections to the target, each source
transaction whole on one of them, the changes of each key in source order, one stored position
per worker ("<task>#<i>").

The kill -9 acceptance runs with worker_num = 4 too (test_applier_kill9.py). Here the state a
kill -9 leaves only by chance is made on purpose: the applier exits (as a kill -9 would, no
cleanup) right after its N-th *forced* commit: the commit a worker makes early because another
worker is about to change a key it changed. The workers then stand at different positions:
some source transactions after the lowest position are durable, others are not. The next start
must apply each of them exactly once: it starts at the lowest position and skips, per worker,
what that worker had committed. The bank workload (test_applier_kill9.py) shows a transaction
applied twice or lost as balances that differ from the model or disagree with the ledger.
"""

import re
import time
import urllib.request

from test_applier_kill9 import Reader, bank_workload
from test_applier_pg import Applier, feed, msgs, stored_offset, target_db, wait_offset  # noqa: F401


N_ACCT = 3000       # conflicts are sparse: workers hold many transactions when one must commit


def check_bank(conn, final=None, ledger=None):
    """Every committed state: totals kept, balances agree with the ledger; at the end, equal to
    the model."""
    cur = conn.cursor()
    cur.execute("SELECT count(*), coalesce(sum(bal), 0) FROM bank.acct")
    assert cur.fetchone() == (N_ACCT, N_ACCT * 1000)
    cur.execute("SELECT to_regclass('bank.ledger') IS NULL")
    if cur.fetchone()[0]:       # not created yet: no transfer applied either
        cur.execute("SELECT count(*) FROM bank.acct WHERE bal <> 1000")
        assert cur.fetchone()[0] == 0
        return
    cur.execute("WITH m AS (SELECT src AS id, -amt AS d FROM bank.ledger UNION ALL "
                "SELECT dst, amt FROM bank.ledger), s AS (SELECT id, sum(d) AS d FROM m "
                "GROUP BY id) SELECT count(*) FROM bank.acct a LEFT JOIN s USING (id) "
                "WHERE a.bal <> 1000 + coalesce(s.d, 0)")
    assert cur.fetchone()[0] == 0, "balances disagree with the ledger"
    if final is not None:
        cur.execute("SELECT bal FROM bank.acct ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == final
        cur.execute("SELECT id, src, dst, amt FROM bank.ledger ORDER BY id")
        assert {r[0]: tuple(r[1:]) for r in cur.fetchall()} == ledger


def apply_all(bin_dir, stack, task, topic, db, conn, last, *extra):
    """Runs an applier with worker_num etc. (extra) until it stored offset `last`; returns the
    source transactions each worker applied {worker: n}, from /metrics."""
    app = Applier(bin_dir, stack, task, topic, db, "-X", "http.listen=127.0.0.1:0", *extra,
                  logfile=f"/tmp/{task}.log").start()
    try:
        wait_offset(conn, task, last, app, timeout=60)
        m = metrics(app)
    finally:
        app.stop()
    return worker_txns(m), app


def worker_txns(m):
    return {int(w): float(v) for w, v in
            re.findall(r'shiftlog_applier_worker_txns_total\{worker="(\d+)"\} (\S+)', m)}


def metrics(app):
    # the log file holds every life of the process: the last one serves
    port = int(re.findall(r"serving /health and /metrics on [\d.]+:(\d+)", app.log())[-1])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def test_it_applier_parallel_exit_between_worker_commits(stack, bin_dir, test_bin_dir,
                                                         unique_name, target_db):
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    head, txns, final, ledger, rows = bank_workload(30_000, 5, n_acct=N_ACCT, max_transfers=3)
    lines = head + [l for t in txns for l in t]
    last = msgs(lines) - 1
    feed(test_bin_dir, stack, topic, lines)          # a backlog: large groups, many conflicts
    app = Applier(bin_dir, stack, task, topic, db, "-X", "worker_num=4", "-X", "write_batch=1000",
                  "-X", "http.listen=127.0.0.1:0", logfile=f"/tmp/{task}.log")
    spread, exits = [], []
    reader = Reader(stack, db, N_ACCT)       # a replay must never move a key back in time
    reader.start()
    try:
        for n in (1, 3, 17, 60, 150):
            before = stored_offset(conn, task)
            app.env = {"SHIFTLOG_TEST_EXIT_AFTER_FORCED": str(n)}
            app.start()
            t0 = time.monotonic()
            while app.proc.poll() is None and time.monotonic() - t0 < 60:
                if stored_offset(conn, task) >= last:     # applied everything before its n-th
                    break
                time.sleep(0.05)
            app.stop()
            exits.append(app.proc.returncode)
            cur = conn.cursor()
            cur.execute("SELECT task, kafka_offset FROM kafkaoffset WHERE task LIKE %s "
                        "ORDER BY task", (task + "#%",))
            spread.append([o for _, o in cur.fetchall()])
            check_bank(conn)
            assert stored_offset(conn, task) >= before
        # the exits left workers at different positions (the state this test is about)
        assert exits == [137] * len(exits), exits
        assert sum(1 for at in spread if len(set(at)) > 1) >= 3, spread
        app.env = {}
        app.start()
        wait_offset(conn, task, last, app, timeout=120)
        m = metrics(app)
    finally:
        app.stop()
        reader.stop.set()
        reader.join(timeout=30)
    assert not reader.torn, f"a reader saw a torn transaction: {reader.torn[:5]}"
    assert reader.reads > 100, reader.reads
    check_bank(conn, final, ledger)
    # the work was spread: every worker applied transactions, and forced commits happened
    per = worker_txns(m)
    assert sorted(per) == [0, 1, 2, 3] and min(per.values()) > 0, per
    forced = float(re.search(r"^shiftlog_applier_worker_forced_commits_total (\S+)", m, re.M).group(1))
    assert forced > 0, m
    print(f"\nparallel exit: {len(txns)} transactions, {rows} rows, {last + 1} messages; "
          f"worker positions after each exit: {spread}; last life: {per} transactions per "
          f"worker, {forced:.0f} forced commits")


def test_it_applier_parallel_key_order_and_independent_keys(stack, bin_dir, test_bin_dir,
                                                            unique_name, target_db):
    """Single-row transactions on 50 keys, each key updated 40 times in a row of source
    transactions that the key hash spreads over 3 workers: the final value of every key is its
    last one, and the inserts / deletes / key changes in between land as in the source."""
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    lines = ["schema par kv id:int:bigint:pk=1 v:int:bigint"]
    want = {}
    for r in range(40):
        for k in range(50):
            if r == 0:
                lines += [f"insert par kv id,v i:{k},i:0", "commit"]
            elif k % 10 == 3 and r % 7 == 0:          # delete and insert again
                lines += [f"delete par kv id,v i:{k},i:{want[k]}", "commit",
                          f"insert par kv id,v i:{k},i:{r}", "commit"]
            elif k % 10 == 5 and r == 20:             # the key changes: 1000 + k
                lines += [f"update par kv id,v i:{k},i:{want[k]} i:{1000 + k},i:{r}", "commit"]
                want[1000 + k] = r
                del want[k]
                continue
            else:
                kk = k if k in want else 1000 + k
                lines += [f"update par kv id,v i:{kk},i:{want[kk]} i:{kk},i:{r}", "commit"]
                want[kk] = r
                continue
            want[k] = r
    last = msgs(lines) - 1
    feed(test_bin_dir, stack, topic, lines)
    per, _ = apply_all(bin_dir, stack, task, topic, db, conn, last, "-X", "worker_num=3",
                       "-X", "write_batch=500")
    cur = conn.cursor()
    cur.execute("SELECT id, v FROM par.kv ORDER BY id")
    assert dict(cur.fetchall()) == want
    assert len(per) == 3 and min(per.values()) > 100, per


def test_it_applier_parallel_worker_num_changes(stack, bin_dir, test_bin_dir, unique_name,
                                                target_db):
    """worker_num changed between runs (1 → 3 → 2 → 1), also right after runs that stopped
    with their workers at different positions: a change then is refused with what to do, and
    once the layout before agrees, the next one goes on from there: exactly once throughout."""
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    head, txns, final, ledger, rows = bank_workload(32_000, 9, n_acct=N_ACCT, max_transfers=3)
    q = len(txns) // 4
    parts = [txns[:q], txns[q:2 * q], txns[2 * q:3 * q], txns[3 * q:]]
    sent = []

    def feed_part(i):
        lines = (head if i == 0 else []) + [l for t in parts[i] for l in t]
        # each it_feed run numbers source positions from the start: go on after the last
        feed(test_bin_dir, stack, topic, [f"at mysql-bin.000001 {4 + 10_000_000 * i}"] + lines)
        sent.extend(lines)
        return msgs(sent) - 1

    started = []

    def applier(workers, exit_after=None, log=""):
        a = Applier(bin_dir, stack, task, topic, db, "-X", f"worker_num={workers}",
                    "-X", "write_batch=1000", logfile=f"/tmp/{task}{log}.log")
        a.env = {"SHIFTLOG_TEST_EXIT_AFTER_FORCED": str(exit_after)} if exit_after else {}
        started.append(a)
        return a.start()

    def rows_now():
        cur = conn.cursor()
        cur.execute("SELECT task, kafka_offset, sub_offset FROM kafkaoffset WHERE task = %s OR "
                    "task LIKE %s ORDER BY task", (task, task + "#%"))
        return cur.fetchall()

    def refused(workers):
        a = applier(workers, log=f".refused{workers}")
        a.proc.wait(timeout=30)
        assert a.proc.returncode not in (0, None), a.log()[-2000:]
        assert "start it once more with its worker_num (3)" in a.log(), a.log()[-3000:]

    reader = Reader(stack, db, N_ACCT)
    reader.start()
    try:
        last = feed_part(0)
        # one writer
        a = applier(1)
        wait_offset(conn, task, last, a, timeout=60)
        a.stop()
        one = rows_now()
        assert [r[0] for r in one] == [task], one
        last = feed_part(1)
        # three workers take over from its row, then stop with their rows apart
        a = applier(3, exit_after=2)
        a.proc.wait(timeout=60)
        assert a.proc.returncode == 137, a.log()[-2000:]
        apart = rows_now()
        assert dict((t, s) for t, _, s in apart)[task] == -2, apart        # the single row retired
        assert len({o for t, o, _ in apart if t != task}) > 1, apart      # the workers apart
        check_bank(conn)
        # a change now would lose or repeat changes: refused, naming what to do
        refused(1)
        refused(2)
        assert rows_now() == apart
        # the same layout goes on, and catches up
        a = applier(3)
        wait_offset(conn, task, last, a, timeout=60)
        a.stop()
        last = feed_part(2)
        # two workers: agree with the three, the third row retired; stop them apart again
        a = applier(2, exit_after=1)
        a.proc.wait(timeout=60)
        assert a.proc.returncode == 137, a.log()[-2000:]
        r2 = dict((t, (o, s)) for t, o, s in rows_now())
        assert r2[f"{task}#2"][1] == -2, r2
        check_bank(conn)
        a = applier(2)
        wait_offset(conn, task, last, a, timeout=60)
        a.stop()
        last = feed_part(3)
        # back to one writer: adopts the workers' common position
        a = applier(1)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            cur = conn.cursor()
            cur.execute("SELECT kafka_offset FROM kafkaoffset WHERE task = %s", (task,))
            r = cur.fetchone()
            if r and r[0] >= last:
                break
            assert a.proc.poll() is None, a.log()[-2000:]
            time.sleep(0.1)
        a.stop()
        assert "agree on offset" in a.log(), a.log()[-2000:]
    finally:
        for a in started:
            a.stop()
        reader.stop.set()
        reader.join(timeout=30)
    assert not reader.torn, f"a reader saw a torn transaction: {reader.torn[:5]}"
    check_bank(conn, final, ledger)
    assert msgs(sent) - 1 == last


def test_it_applier_parallel_schema_change_inside_a_transaction(stack, bin_dir, test_bin_dir,
                                                                unique_name, target_db):
    """A source transaction that writes rows (on whichever worker its first key picks) and then
    changes a table's schema, as a PostgreSQL source sends DDL inside a transaction: the DDL runs
    on worker 0 first, the transaction is replayed whole, and the new column is there for its
    rows and for the transactions after it. Twelve such transactions, so that some start on
    every worker."""
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    cols = ["id:int:bigint:pk=1"]
    lines = ["schema par a " + " ".join(cols), "schema par b id:int:bigint:pk=1 v:int:bigint"]
    want_a, want_b = {}, {}
    for i in range(12):
        cols.append(f"c{i}:int:bigint:null")
        names = ["id"] + [f"c{j}" for j in range(i + 1)]
        lines += [f"insert par b id,v i:{i},i:{i}",
                  "schema par a " + " ".join(cols),
                  f"insert par a {','.join(names)} i:{i}," + ",".join(f"i:{100 * i + j}"
                                                                   for j in range(i + 1)),
                  "commit"]
        want_b[i] = i
        want_a[i] = tuple(100 * i + j for j in range(i + 1)) + (None,) * (11 - i)
    last = msgs(lines) - 1
    feed(test_bin_dir, stack, topic, lines)
    per, app = apply_all(bin_dir, stack, task, topic, db, conn, last, "-X", "worker_num=3")
    cur = conn.cursor()
    cur.execute("SELECT * FROM par.a ORDER BY id")
    assert {r[0]: tuple(r[1:]) for r in cur.fetchall()} == want_a
    cur.execute("SELECT id, v FROM par.b ORDER BY id")
    assert dict(cur.fetchall()) == want_b
    assert "rejected" not in app.log(), app.log()[-3000:]
    assert len(per) == 3, per
