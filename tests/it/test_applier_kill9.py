"""kill -9 of shiftlog-applier at random instants during a workload of multi-row transactions
(the issue's acceptance): 20 kills while >= 100k rows are changed, a concurrent reader on the
PostgreSQL target that never sees a torn transaction, and at the end 0 lost, 0 duplicated.

The workload is a bank: every source transaction moves amounts between accounts (one CHANGE
message updating 2-16 account rows) and records each transfer in a ledger (one CHANGE message
inserting 1-8 rows; in a third of the transactions the ledger message comes first); now and
then a transaction of 150 transfers (450 rows, larger than write_batch, so the target flushes
inside it and commits only at its COMMIT). It is produced by tests/it/it_feed while the applier
runs and is killed, so kills fall both on a caught-up applier and on one catching up after a
restart. An independent psycopg2 reader checks, all along:
  - every 2 ms: the number of accounts and the sum of their balances never change;
  - every ~0.1 s: each account's balance equals 1000 - its debits + its credits in the ledger
    (accounts and ledger move in the same source transaction, so they agree in every snapshot).
At the end the balances equal the model's, the ledger holds each transfer once with its amount,
and the stored position is the last COMMIT.
"""

import os
import random
import subprocess
import threading
import time

import pytest

from conftest import pg_connect
from e2e_util import wait_topic
from test_applier_pg import Applier, msgs, stored_offset, target_db, wait_offset  # noqa: F401

LONG = bool(os.environ.get("SHIFTLOG_LONG"))
N_ACCT = 100


def bank_workload(rows_goal, seed, n_acct=N_ACCT, max_transfers=8):
    """Spec lines, the model's final balances, the ledger {id: (src, dst, amt)} and the rows
    changed by the transfer transactions."""
    rnd = random.Random(seed)
    bal = [1000] * n_acct
    head = ["schema bank acct id:int:bigint:pk=1 bal:int:bigint",
            "schema bank ledger id:int:bigint:pk=1 src:int:bigint dst:int:bigint amt:int:bigint",
            "insert bank acct id,bal " + " ".join(f"i:{i},i:1000" for i in range(n_acct)),
            "commit"]
    txns, ledger, rows, lid = [], {}, 0, 0
    while rows < rows_goal:
        big = len(txns) % 400 == 199
        n = 150 if big else rnd.randint(1, max_transfers)
        ups, ins = [], []
        for _ in range(n):
            a, b = rnd.sample(range(n_acct), 2)
            amt = rnd.randint(1, 50)
            for acct, d in ((a, -amt), (b, amt)):
                ups.append(f"i:{acct},i:{bal[acct]} i:{acct},i:{bal[acct] + d}")
                bal[acct] += d
            ins.append(f"i:{lid},i:{a},i:{b},i:{amt}")
            ledger[lid] = (a, b, amt)
            lid += 1
        up = "update bank acct id,bal " + " ".join(ups)
        led = "insert bank ledger id,src,dst,amt " + " ".join(ins)
        txns.append([led, up, "commit"] if rnd.random() < 0.33 else [up, led, "commit"])
        rows += 3 * n
    return head, txns, bal, ledger, rows


class Reader(threading.Thread):
    """Reads the target while the applier works; torn = snapshots that break an invariant."""

    def __init__(self, stack, db, n_acct=N_ACCT):
        super().__init__(daemon=True)
        self.stack, self.db, self.n_acct = stack, db, n_acct
        self.stop = threading.Event()
        self.torn, self.reads, self.ledger_checks, self.max_ledger = [], 0, 0, 0

    def run(self):
        conn = pg_connect(self.stack, dbname=self.db)
        cur = conn.cursor()
        last_deep = 0.0
        while not self.stop.is_set():
            try:
                cur.execute("SELECT count(*), coalesce(sum(bal), 0) FROM bank.acct")
                n, total = cur.fetchone()
                self.reads += 1
                if n and (n != self.n_acct or total != self.n_acct * 1000):
                    self.torn.append(("total", n, total))
                if n and time.monotonic() - last_deep > 0.1:
                    last_deep = time.monotonic()
                    cur.execute(
                        "WITH m AS (SELECT src AS id, -amt AS d FROM bank.ledger UNION ALL "
                        "SELECT dst, amt FROM bank.ledger), s AS (SELECT id, sum(d) AS d FROM m "
                        "GROUP BY id) SELECT (SELECT count(*) FROM bank.ledger), "
                        "(SELECT count(*) FROM bank.acct a LEFT JOIN s USING (id) "
                        "WHERE a.bal <> 1000 + coalesce(s.d, 0))")
                    nled, bad = cur.fetchone()
                    self.ledger_checks += 1
                    self.max_ledger = max(self.max_ledger, nled)
                    if bad:
                        self.torn.append(("ledger", nled, bad))
            except Exception:
                pass       # the tables do not exist yet (or the ledger does not, yet)
            time.sleep(0.002)
        conn.close()


class Feeder(threading.Thread):
    """Pipes the workload into it_feed over `seconds`, so that it is produced while the
    applier is being killed."""

    def __init__(self, test_bin_dir, stack, topic, head, txns, seconds):
        super().__init__(daemon=True)
        self.proc = subprocess.Popen([str(test_bin_dir / "it_feed"), "--brokers",
                                      stack["SL_KAFKA_BROKERS"], "--topic", topic],
                                     stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.head, self.txns, self.seconds = head, txns, seconds
        self.done = threading.Event()

    def run(self):
        try:
            self.proc.stdin.write("\n".join(self.head) + "\n")
            self.proc.stdin.flush()
            chunks = 200
            per = (len(self.txns) + chunks - 1) // chunks
            t0 = time.monotonic()
            for i in range(chunks):
                part = self.txns[i * per:(i + 1) * per]
                self.proc.stdin.write("".join(l + "\n" for t in part for l in t))
                self.proc.stdin.flush()
                lag = t0 + (i + 1) * self.seconds / chunks - time.monotonic()
                if lag > 0:
                    time.sleep(lag)
            self.proc.stdin.close()
            self.proc.wait(timeout=120)
        finally:
            self.done.set()


@pytest.mark.parametrize("workers", [1, 4], ids=lambda v: f"workers{v}")
@pytest.mark.parametrize("rows_goal,kills", [(100_000, 20)] + ([(500_000, 100)] if LONG else []),
                         ids=lambda v: str(v))
def test_it_applier_kill9_exactly_once(stack, bin_dir, test_bin_dir, unique_name, target_db,
                                       rows_goal, kills, workers):
    t_start = time.monotonic()
    db, conn = target_db
    topic, task = unique_name("tp"), unique_name("task")
    head, txns, final, ledger, rows = bank_workload(rows_goal, 7)
    lines = head + [l for t in txns for l in t]
    last = msgs(lines) - 1
    app = Applier(bin_dir, stack, task, topic, db, "-X", "write_batch=200",
                  "-X", f"worker_num={workers}", logfile=f"/tmp/{task}.log")
    reader = Reader(stack, db)
    feeder = Feeder(test_bin_dir, stack, topic, head, txns, seconds=kills * 0.9)
    feeder.start()
    rnd = random.Random(11)
    lives = []            # (stored offset at start, at the kill, feed still running)
    try:
        wait_topic(stack, topic)
        reader.start()
        for _ in range(kills):
            before = stored_offset(conn, task)
            app.start()
            time.sleep(rnd.uniform(0.2, 1.5))
            app.kill9()
            lives.append((before, stored_offset(conn, task), not feeder.done.is_set()))
        feeder.join(timeout=180)
        assert feeder.proc.returncode == 0, feeder.proc.stderr.read()
        t_fed = time.monotonic()
        app.start()
        wait_offset(conn, task, last, app, timeout=300)
        t_done = time.monotonic()
    finally:
        reader.stop.set()
        reader.join(timeout=30)
        app.stop()
        if feeder.proc.poll() is None:
            feeder.proc.kill()
    cur = conn.cursor()
    cur.execute("SELECT id, bal FROM bank.acct ORDER BY id")
    got = cur.fetchall()
    assert [i for i, _ in got] == list(range(N_ACCT))
    lost_or_dup = [(i, b, final[i]) for i, b in got if b != final[i]]
    assert not lost_or_dup, f"balances differ from the source (id, got, want): {lost_or_dup[:5]}"
    cur.execute("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM bank.ledger")
    assert cur.fetchone() == (len(ledger), len(ledger), 0, len(ledger) - 1)
    cur.execute("SELECT id, src, dst, amt FROM bank.ledger ORDER BY id")
    assert {r[0]: tuple(r[1:]) for r in cur.fetchall()} == ledger
    rows_task = [task] if workers == 1 else [f"{task}#{i}" for i in range(workers)]
    cur.execute("SELECT task, kafka_offset, source_position FROM kafkaoffset WHERE task = "
                "ANY(%s) ORDER BY task", (rows_task,))
    stored = cur.fetchall()
    assert [r[0] for r in stored] == rows_task, stored
    assert all(o == last and p.startswith("mysql-bin.000001:") for _, o, p in stored), stored
    assert not reader.torn, f"a reader saw a torn transaction: {reader.torn[:5]}"
    assert reader.reads > 200 and reader.ledger_checks > 10, (reader.reads, reader.ledger_checks)
    # the kills fell during the workload: while it was produced or not yet applied, and most
    # lives of the applier applied something before their kill
    during = sum(1 for b, a, feeding in lives if feeding or a < last)
    progressed = sum(1 for b, a, _ in lives if a > b)
    assert during >= kills * 3 // 4, lives
    assert progressed >= kills // 4, lives
    print(f"\nkill9: {len(txns)} transactions, {rows} rows changed, {len(ledger)} transfers, "
          f"{last + 1} messages; {kills} kills ({during} during the workload, {progressed} after "
          f"progress); reader: {reader.reads} total checks, {reader.ledger_checks} ledger checks "
          f"(up to {reader.max_ledger} rows), 0 torn; fed+kills {t_fed - t_start:.1f}s, "
          f"catch-up {t_done - t_fed:.1f}s, total {time.monotonic() - t_start:.1f}s")
