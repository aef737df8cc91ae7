"""A streaming applier follows its row in the task table (issue 22, docs/operations.md
"Tasks"): `shiftlog tasks pause` makes it stop applying at the next source transaction
boundary (a transaction in progress is finished first), /status says paused, and
`shiftlog tasks resume` makes it go on; what the target holds is read by psycopg2."""

import time

from test_alerts import free_port, wait_for
from test_applier_pg import Applier, feed, target_db  # noqa: F401
from test_retention import status_of
from test_tasks import tasks


def test_applier_pauses_at_a_transaction_boundary_and_resumes(stack, bin_dir, test_bin_dir,
                                                               unique_name, target_db):  # noqa: F811
    db, conn = target_db
    conn.autocommit = True
    cur = conn.cursor()
    topic, task = unique_name("tp"), unique_name("task")
    cur.execute("CREATE SCHEMA ops")
    cur.execute("CREATE TABLE ops.tasks (task_name text PRIMARY KEY, online_status int)")
    cur.execute("INSERT INTO ops.tasks VALUES (%s, 1)", (task,))
    uri = (f"postgresql://{stack['SL_PG_USER']}:{stack['SL_PG_PASSWORD']}@"
           f"{stack['SL_PG_HOST']}:{stack['SL_PG_PORT']}/{db}")
    src = ["--uri", uri, "--table", "ops.tasks"]
    port = free_port()
    app = Applier(bin_dir, stack, task, topic, db, "-X", f"http.listen=127.0.0.1:{port}",
                  "-X", f"task.table.uri={uri}", "-X", "task.table.name=ops.tasks",
                  "-X", "task.table.interval=200ms", logfile=f"/tmp/{task}.log")

    def ids():
        cur.execute("SELECT to_regclass('s.t') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []
        cur.execute("SELECT id FROM s.t ORDER BY id")
        return [r[0] for r in cur.fetchall()]

    state = lambda: status_of(port).get("state")   # noqa: E731
    try:
        feed(test_bin_dir, stack, topic, ["schema s t id:int:bigint:pk=1",
                                          "insert s t id i:1", "commit"])
        app.start()
        wait_for("the first transaction", lambda: ids() == [1], 60, app.log)
        # each feed starts its positions anew: later ones say where they are
        feed(test_bin_dir, stack, topic, ["at mysql-bin.000002 4", "txn 0-1-2",
                                          "insert s t id i:2"])      # no commit yet
        time.sleep(1)
        assert tasks(bin_dir, "pause", *src, task).returncode == 0
        time.sleep(1.5)                       # 7 looks at the table: inside a transaction
        assert state() == "running" and ids() == [1], (state(), ids())
        feed(test_bin_dir, stack, topic, ["at mysql-bin.000002 104", "txn 0-1-2", "commit"])
        wait_for("paused after the transaction", lambda: state() == "paused", 30, app.log)
        assert ids() == [1, 2]
        st = status_of(port)
        assert st["status"] == "paused" and st["ready"] is False and "online_status" in \
            st["reason"], st
        feed(test_bin_dir, stack, topic, ["at mysql-bin.000003 4", "txn 0-1-3",
                                          "insert s t id i:3", "commit"])
        time.sleep(1.5)
        assert ids() == [1, 2] and state() == "paused"
        assert tasks(bin_dir, "resume", *src, task).returncode == 0
        wait_for("resumed", lambda: ids() == [1, 2, 3] and state() == "running", 60, app.log)
    finally:
        app.stop()
