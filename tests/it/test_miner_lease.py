"""One active miner per source log, and a miner that makes no progress (issue 18): the Kafka
group lease decides who mines, an epoch in the log's MongoDB database fences what a copy that
lost it could still write; a watchdog says so when records wait and nothing becomes durable.

  it_miner_stale_copy_fenced          miner A mines, B waits; A paused (SIGSTOP) past its lease
                                      ttl: B takes over and mines; B paused, new changes
                                      arrive, A resumed (SIGCONT): A writes nothing — no log
                                      document of the new changes, the progress and control
                                      documents unchanged — says it stands down and exits 1;
                                      B resumed: the log equals the topic
  it_miner_lease_standby_kill9_rounds two miners under a write load: one mines, the other
                                      answers /health "standby" and writes nothing; the holder
                                      killed with -9 three times (ten with SHIFTLOG_LONG), each
                                      time restarted as the new standby: the standby takes over
                                      within lease.ttl.ms + a rebalance (measured, printed) and
                                      the log ends equal to the topic, every row of the source
                                      once
  it_miner_watchdog_no_progress       the miner reaches MongoDB through a TCP proxy that the
                                      test freezes while changes arrive: after watchdog.ms one
                                      ERROR line names the offsets, /ready answers 503 with
                                      the reason, shiftlog_miner_stalled is 1; the proxy thawed,
                                      the miner goes on: gauge 0, /ready 200, log = topic
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from test_miner import env, wait_topic, n_changes, assert_log_equals_topic  # noqa: F401
from test_miner_control import Load
from test_miner_util import Miner, expected


LONG = bool(os.environ.get("SHIFTLOG_LONG"))


def wait_for(what, pred, timeout, procs=()):
    deadline = time.monotonic() + timeout
    while not pred():
        for p in procs:
            assert p.proc.poll() is None, f"{what}: a miner exited:\n{p.text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


class FreezableProxy:
    """A TCP proxy to host:port whose forwarding the test can stop and start again (the
    connections stay open, the bytes wait): a server that stops answering without an error."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.go = threading.Event()
        self.go.set()
        self.closed = False
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.create_connection(self.target)
            self.socks += [c, s]
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                self.go.wait()
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.go.set()
        self.lsock.close()
        for x in self.socks:
            x.close()


def http_get(m, path):
    port = int(re.findall(r"serving /health and /metrics on [\d.]+:(\d+)", m.text())[-1])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def gauge(m, name):
    _, text = http_get(m, "/metrics")
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def control_docs(m):
    return {d["_id"]: d for d in m.control.find({})}


def test_it_miner_stale_copy_fenced(env, stack, bin_dir, tmp_path):
    col = env["col"].start()
    db = env["db"]
    # A's session lives 6 s: paused longer, it loses the Kafka lease; B's lives 60 s, so that
    # B keeps the lease through its own pause below however slow the box
    a = env["miner"](**{"lease.ttl.ms": "6000"}).start()
    (tmp_path / "b").mkdir()
    b = Miner(bin_dir, stack, tmp_path / "b", col.source, col.prefix, env["mongo_db"],
              **{"lease.ttl.ms": "60000"})
    try:
        b.start(wait=False)
        wait_for("B a standby", lambda: "waiting to take over" in b.text(), 30, (a, b))
        Load(stack, db, 30).run()
        msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 60)
        a.wait_offset(stack, end=msgs[-1][0] + 1)
        a.proc.send_signal(signal.SIGSTOP)
        wait_for("B takes over", lambda: "mining " in b.text(), 60, (b,))
        Load(stack, db, 30, start=30).run()
        msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 120)
        b.wait_offset(stack, end=msgs[-1][0] + 1)
        # B paused: whatever the log gets now, only A can have written it
        b.proc.send_signal(signal.SIGSTOP)
        try:
            ctl_before = control_docs(b)
            Load(stack, db, 30, start=60).run()
            msgs3 = wait_topic(stack, col, lambda ms: n_changes(ms) >= 180)
            fresh = sorted(set(expected(msgs3)) - set(expected(msgs)))
            assert fresh
            a.proc.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 4
            while a.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            written = b.coll.count_documents({"_id": {"$in": fresh}})
            ctl_after = control_docs(b)
        finally:
            b.proc.send_signal(signal.SIGCONT)
        assert written == 0, f"the stale copy wrote {written} of {len(fresh)} new documents " \
                             f"after the takeover:\n{a.text()[-2000:]}"
        changed = sorted(k for k in set(ctl_before) | set(ctl_after)
                         if ctl_before.get(k) != ctl_after.get(k))
        assert not changed, f"the stale copy wrote {changed}: {ctl_before.get(changed[0])} " \
                            f"-> {ctl_after.get(changed[0])}"
        assert a.proc.wait(timeout=20) == 1, a.text()[-2000:]
        assert "standing down" in a.text(), a.text()[-2000:]
        b.wait_offset(stack, end=msgs3[-1][0] + 1)
        exp, docs = assert_log_equals_topic(b, msgs3)
        assert b.coll.count_documents({}) == len(exp)
    finally:
        a.proc.send_signal(signal.SIGCONT)
        b.close()


def test_it_miner_watchdog_no_progress(env, stack, bin_dir, tmp_path):
    col = env["col"].start()
    db = env["db"]
    host, port = re.match(r"mongodb://([^:/]+):(\d+)", stack["SL_MONGO_URI"]).groups()
    proxy = FreezableProxy(host, int(port))
    # a slow box must not fail the start through the proxy (the miner's default is 5 s)
    uri = f"mongodb://127.0.0.1:{proxy.port}/?serverSelectionTimeoutMS=30000"
    m = env["miner"](**{"watchdog.ms": "2000", "lease": "false", "log.uri": uri})
    try:
        m.start()
        Load(stack, db, 20).run()
        msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 40)
        m.wait_offset(stack, end=msgs[-1][0] + 1)
        time.sleep(3)       # idle and caught up for longer than watchdog.ms: no stall
        assert "watchdog:" not in m.text(), m.text()[-2000:]
        assert gauge(m, "shiftlog_miner_stalled") == 0
        proxy.go.clear()    # MongoDB stops answering
        t0 = time.monotonic()
        Load(stack, db, 20, start=20).run()
        msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 80)
        wait_for("the watchdog", lambda: "watchdog: no progress" in m.text(), 20, (m,))
        said = time.monotonic() - t0
        # the time counts from when records wait, not from the last progress before the idle
        assert said >= 1.9, f"stall reported {said:.1f} s after records began to wait"
        code, body = http_get(m, "/ready")
        assert code == 503 and "no progress for" in json.loads(body)["reason"], body
        code, body = http_get(m, "/health")
        assert code == 200, body            # alive: a stall is not cured by a restart
        assert gauge(m, "shiftlog_miner_stalled") == 1
        assert gauge(m, "shiftlog_miner_records_behind") > 1
        line = [x for x in m.text().splitlines() if "watchdog: no progress" in x]
        assert len(line) == 1 and " ERROR " in line[0] and m.topic in line[0], line
        proxy.go.set()      # back
        m.wait_offset(stack, end=msgs[-1][0] + 1, timeout=60)
        wait_for("the gauge back to 0", lambda: gauge(m, "shiftlog_miner_stalled") == 0, 10)
        code, body = http_get(m, "/ready")
        assert code == 200 and json.loads(body)["status"] == "ok", body
        assert "watchdog: progress again" in m.text()
        assert_log_equals_topic(m, msgs)
        print(f"\nminer watchdog (watchdog.ms 2 s): stall reported {said:.1f} s after MongoDB "
              f"stopped answering")
    finally:
        proxy.close()


@pytest.mark.parametrize("rounds", [10 if LONG else 3])
def test_it_miner_lease_standby_kill9_rounds(env, stack, bin_dir, tmp_path, rounds):
    col = env["col"].start()
    db = env["db"]
    ttl = {"lease.ttl.ms": "6000"}
    a = env["miner"](**ttl).start()
    (tmp_path / "b").mkdir()
    b = Miner(bin_dir, stack, tmp_path / "b", col.source, col.prefix, env["mongo_db"], **ttl)
    load = Load(stack, db, 10 ** 9, pace=0.01)     # paced: the log stays small to compare
    takeovers = []
    try:
        b.start(wait=False)
        wait_for("B a standby", lambda: "waiting to take over" in b.text(), 30, (a, b))
        code, body = http_get(b, "/health")
        h = json.loads(body)
        assert code == 200 and h["status"] == "standby" and col.source in h["reason"], h
        load.start()
        holder, standby = a, b
        for k in range(rounds):
            # the holder writes before it dies; the standby has not mined meanwhile
            n0 = holder.coll.estimated_document_count()
            wait_for(f"round {k}: the holder writes",
                     lambda: holder.coll.estimated_document_count() > n0 + 30, 60, (holder,))
            mined = standby.text().count("mining ")
            assert not load.done.is_set()
            holder.stop(signal.SIGKILL)
            t0 = time.monotonic()
            wait_for(f"round {k}: the standby takes over",
                     lambda: standby.text().count("mining ") > mined, 60, (standby,))
            takeovers.append(time.monotonic() - t0)
            waiting = holder.text().count("waiting to take over")
            holder.start(wait=False)
            wait_for(f"round {k}: the killed copy back as a standby",
                     lambda: holder.text().count("waiting to take over") > waiting, 60,
                     (holder, standby))
            holder, standby = standby, holder
        load.n = 0
        assert load.done.wait(60)
        msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 2 * load.i, timeout=120)
        holder.wait_offset(stack, end=msgs[-1][0] + 1, timeout=120)
        exp, docs = assert_log_equals_topic(holder, msgs)
        assert holder.coll.count_documents({}) == len(exp)
        ids = sorted(d["after"]["id"] for d in holder.coll.find({"table": f"{db}.t1",
                                                                 "op": "insert"}))
        assert ids == list(range(load.i)), f"{len(ids)} of {load.i} source rows in the log"
        print(f"\nminer lease (ttl 6 s): {rounds} kill -9 rounds, takeovers "
              f"{', '.join(f'{t:.1f}' for t in takeovers)} s; {len(exp)} log documents")
        assert max(takeovers) < 3 * 6 + 25     # session timeout(s) + rebalance, loaded box
    finally:
        load.n = 0
        b.close()


def test_it_miner_credentials_refused_exit_3(stack, bin_dir, tmp_path, unique_name):
    """A shared log that refuses the miner's credentials is a refusal for good: the miner
    exits 3 (SL_EXIT_DENIED, like the collector and the applier) with the cause, the password
    masked, instead of exiting 1 as for a server that is down (which a restart may cure). The
    MongoDB stand-in refuses any authentication (it has no saslStart); a real MongoDB refuses a
    wrong password with code 18: both are the same refusal to libmongoc."""
    uri = stack["SL_MONGO_URI"].replace("mongodb://", "mongodb://nobody:s3cret@", 1)
    uri += ("&" if "?" in uri else ("?" if uri.rstrip("/").count("/") > 2 else "/?"))
    uri += "authMechanism=SCRAM-SHA-256"
    m = Miner(bin_dir, stack, tmp_path, unique_name("src"), unique_name("it"),
              unique_name("mlog"), **{"log.uri": uri, "lease": "false"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTLOG_")}
    p = subprocess.run([str(m.bin), "-c", str(m.conf)], capture_output=True, text=True,
                       timeout=60, env=env)
    m.close()
    assert p.returncode == 3, (p.returncode, p.stderr[-2000:])
    assert "refused by the server" in p.stderr and "s3cret" not in p.stderr, p.stderr[-2000:]
