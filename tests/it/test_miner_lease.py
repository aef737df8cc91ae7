"""One active miner per source log, and a miner that makes no progress (issue 18): the Kafka
group lease decides who mines, an epoch in the log's MongoDB database fences what a copy that
lost it could still write; a watchdog says so when records wait and nothing becomes durable.

  it_miner_stale_copy_fenced          miner A mines, B waits; A paused (SIGSTOP) past its lease
                                      ttl: B takes over and mines; B paused, new changes
                                      arrive, A resumed (SIGCONT): A writes nothing — no log
                                      document of the new changes, the progress and control
                                      documents unchanged — says it stands down and exits 1;
                                      B resumed: the log equals the topic
"""

import signal
import time

from test_miner import env, wait_topic, n_changes, assert_log_equals_topic  # noqa: F401
from test_miner_control import Load
from test_miner_util import Miner, expected


def wait_for(what, pred, timeout, procs=()):
    deadline = time.monotonic() + timeout
    while not pred():
        for p in procs:
            assert p.proc.poll() is None, f"{what}: a miner exited:\n{p.text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def control_docs(m):
    return {d["_id"]: d for d in m.control.find({})}


def test_it_miner_stale_copy_fenced(env, stack, bin_dir, tmp_path):
    col = env["col"].start()
    db = env["db"]
    # A's session lives 6 s: paused longer, it loses the Kafka lease; B's lives 20 s, so that
    # B keeps the lease through its own short pause below
    a = env["miner"](**{"lease.ttl.ms": "6000"}).start()
    (tmp_path / "b").mkdir()
    b = Miner(bin_dir, stack, tmp_path / "b", col.source, col.prefix, env["mongo_db"],
              **{"lease.ttl.ms": "20000"})
    try:
        b.start(wait=False)
        wait_for("B a standby", lambda: "waiting to take over" in b.text(), 30, (a, b))
        Load(stack, db, 30).run()
        msgs = wait_topic(stack, col, lambda ms: n_changes(ms) >= 60)
        a.wait_offset(stack, end=msgs[-1][0] + 1)
        a.proc.send_signal(signal.SIGSTOP)
        wait_for("B takes over", lambda: "mining " in b.text(), 40, (b,))
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

