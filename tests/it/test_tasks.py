"""`shiftlog tasks list|show|pause|resume` (issue 22, docs/operations.md) over task definitions
shaped like goshift's task_def_sync_manager: in a PostgreSQL table, a MariaDB table and a JSON
file. What pause and resume change is read back by an independent client (psycopg2, pymysql,
json)."""

import json
import subprocess

from test_applier_pg import target_db  # noqa: F401
from test_mysql_collector import db  # noqa: F401

COLS = ["task_name", "from_db_type", "from_app", "from_db", "from_table", "to_db_type",
        "to_app", "to_db", "to_table", "params", "online_status", "task_status", "description"]
TASKS = [
    ["shop_orders", "mysql", "shop", "shop", "orders", "postgresql", "dw", "dw", "orders",
     '{"worker_num": 2, "split.pk": "id"}', 1, "running", "orders to the warehouse"],
    ["crm_users", "postgresql", "crm", "crm", "users", "mysql", "legacy", "legacy", "users",
     None, 0, "paused", "users, \"quoted\" é"],
]


def tasks(bin_dir, *args):
    return subprocess.run([str(bin_dir / "shiftlog"), "tasks", *args], capture_output=True,
                          text=True, timeout=60)


def check_list_show(bin_dir, src):
    r = tasks(bin_dir, "list", "--json", *src)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert [t["task_name"] for t in got] == ["crm_users", "shop_orders"]      # by name
    crm = got[0]
    assert crm["description"] == 'users, "quoted" é' and crm["params"] is None
    assert crm["online_status"] == "0" and crm["from_db_type"] == "postgresql"
    assert json.loads(got[1]["params"]) == {"worker_num": 2, "split.pk": "id"}
    r = tasks(bin_dir, "list", *src)
    assert r.returncode == 0 and "NAME" in r.stdout, r
    assert "mysql:shop/shop.orders" in r.stdout and "postgresql:dw/dw.orders" in r.stdout
    r = tasks(bin_dir, "show", *src, "shop_orders")
    assert r.returncode == 0 and "online_status  1" in r.stdout, r.stdout
    r = tasks(bin_dir, "show", *src, "nope")
    assert r.returncode == 1 and "no task nope" in r.stderr


def pause_resume(bin_dir, src, read_online):
    r = tasks(bin_dir, "pause", *src, "shop_orders")
    assert r.returncode == 0, r.stderr
    assert read_online("shop_orders") == 0 and read_online("crm_users") == 0
    r = tasks(bin_dir, "resume", *src, "crm_users")
    assert r.returncode == 0, r.stderr
    assert read_online("crm_users") == 1 and read_online("shop_orders") == 0
    r = tasks(bin_dir, "resume", *src, "crm_users")      # already: still fine
    assert r.returncode == 0, r.stderr
    r = tasks(bin_dir, "pause", *src, "nope")
    assert r.returncode == 1 and "no task nope" in r.stderr, r


def test_tasks_in_a_postgresql_table(stack, bin_dir, target_db):  # noqa: F811
    name, conn = target_db
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE SCHEMA ops")
    cur.execute("CREATE TABLE ops.task_def_sync_manager (id serial PRIMARY KEY, "
                "task_name text UNIQUE, from_db_type text, from_app text, from_db text, "
                "from_table text, to_db_type text, to_app text, to_db text, to_table text, "
                "params text, online_status int, task_status text, description text)")
    for t in TASKS:
        cur.execute(f"INSERT INTO ops.task_def_sync_manager ({', '.join(COLS)}) VALUES "
                    f"({', '.join(['%s'] * len(COLS))})", t)
    uri = (f"postgresql://{stack['SL_PG_USER']}:{stack['SL_PG_PASSWORD']}@"
           f"{stack['SL_PG_HOST']}:{stack['SL_PG_PORT']}/{name}")
    src = ["--uri", uri, "--table", "ops.task_def_sync_manager"]
    check_list_show(bin_dir, src)

    def online(task):
        cur.execute("SELECT online_status FROM ops.task_def_sync_manager WHERE task_name = %s",
                    (task,))
        return cur.fetchone()[0]
    pause_resume(bin_dir, src, online)
    r = tasks(bin_dir, "list", "--uri", uri)             # the default table is not there
    assert r.returncode == 1 and "task_def_sync_manager" in r.stderr, r


def test_tasks_in_a_mariadb_table(stack, bin_dir, mysql_conn, db):  # noqa: F811
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.task_def_sync_manager (id int AUTO_INCREMENT PRIMARY "
                  "KEY, task_name varchar(64) UNIQUE, from_db_type varchar(16), from_app "
                  "varchar(64), from_db varchar(64), from_table varchar(64), to_db_type "
                  "varchar(16), to_app varchar(64), to_db varchar(64), to_table varchar(64), "
                  "params text, online_status tinyint, task_status varchar(16), description "
                  "text) DEFAULT CHARSET utf8mb4")
        for t in TASKS:
            c.execute(f"INSERT INTO `{db}`.task_def_sync_manager ({', '.join(COLS)}) VALUES "
                      f"({', '.join(['%s'] * len(COLS))})", t)
    mysql_conn.commit()
    uri = (f"mysql://{stack['SL_MYSQL_ROOT_USER']}:{stack['SL_MYSQL_ROOT_PASSWORD']}@"
           f"{stack['SL_MYSQL_HOST']}:{stack['SL_MYSQL_PORT']}/{db}")
    src = ["--uri", uri]                                 # default table, in the URI's db
    check_list_show(bin_dir, src)

    def online(task):
        mysql_conn.commit()                              # a fresh snapshot
        with mysql_conn.cursor() as c:
            c.execute(f"SELECT online_status FROM `{db}`.task_def_sync_manager WHERE "
                      "task_name = %s", (task,))
            return c.fetchone()[0]
    pause_resume(bin_dir, src, online)


def test_tasks_in_a_json_file(bin_dir, tmp_path):
    f = tmp_path / "tasks.json"
    objs = []
    for t in TASKS:
        o = {k: v for k, v in zip(COLS, t) if v is not None}
        if o.get("params"):
            o["params"] = json.loads(o["params"])        # an object in a file
        objs.append(o)
    f.write_text(json.dumps(objs, indent=2, ensure_ascii=False))
    src = ["--file", str(f)]
    check_list_show(bin_dir, src)

    def online(task):
        return int(next(t for t in json.loads(f.read_text()) if t["task_name"] == task)
                   ["online_status"])
    pause_resume(bin_dir, src, online)
    after = {t["task_name"]: t for t in json.loads(f.read_text())}
    assert after["crm_users"]["description"] == 'users, "quoted" é'
    assert json.loads(after["shop_orders"]["params"]) == {"worker_num": 2, "split.pk": "id"}
