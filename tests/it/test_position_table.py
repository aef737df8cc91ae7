"""The applier's own position table `kafkaoffset` and the replicated tables share the target's
namespace (issue 19). A source table named kafkaoffset, mapped where the task keeps its
positions (the shipped examples: shop.* -> shop_copy.* into shop_copy), must never write there:

  it_position_table_source_kafkaoffset_refused[pg|mysql]
      a real MariaDB source with tables orders and kafkaoffset (the shape of the position table)
      -> collector -> Kafka -> applier from examples/mysql-to-<target> into the schema/database
      holding the position table; the source writes a row naming another task's position
      (a row that task stored there before). The other task's position stays as it was, the
      source kafkaoffset table is stopped with a reason that names the position table (its
      records go to the dead-letter topic), orders arrive exactly, and after a restart the task
      resumes from its own position. With an explicit rule onto the position table the applier
      refuses to start and says why.
"""

import re
import time

import pytest

from conftest import pg_connect
from e2e_util import (applier, count_messages, first_diff, my_exec, stop_all, wait_until)
from test_mysql_collector import Collector, master_pos

KO_COLS = ("task VARCHAR(255) NOT NULL, topic VARCHAR(255) NOT NULL, `partition` INT NOT NULL, "
           "kafka_offset BIGINT NOT NULL, sub_offset BIGINT NOT NULL, "
           "source_position VARCHAR(255) NOT NULL, PRIMARY KEY (task, topic, `partition`)")


class Target:
    """The target database of one test: where the position table is, how to read it."""

    def __init__(self, kind, stack, unique_name, mysql_conn):
        self.kind, self.stack, self.my = kind, stack, mysql_conn
        self.db = unique_name("ptt")
        if kind == "pg":
            self.admin = pg_connect(stack)
            self.admin.cursor().execute(f'CREATE DATABASE "{self.db}"')
            self.conn = pg_connect(stack, dbname=self.db)
            self.schema = "public"                 # where an unqualified kafkaoffset lives
            self.example = "mysql-to-pg"
        else:
            my_exec(mysql_conn, f"CREATE DATABASE `{self.db}`")
            self.schema = self.db                  # target.database holds the position table
            self.example = "mysql-to-mysql"

    def query(self, sql, args=()):
        if self.kind == "pg":
            cur = self.conn.cursor()
            cur.execute(sql.replace("`", '"'), args)
            return cur.fetchall() if cur.description else []
        with self.my.cursor() as c:
            c.execute(f"USE `{self.db}`")
            c.execute(sql, args)
            return c.fetchall()

    def position(self, task, topic):
        r = self.query("SELECT kafka_offset, sub_offset, source_position FROM kafkaoffset "
                       "WHERE task = %s AND topic = %s AND `partition` = 0", (task, topic))
        return tuple(r[0]) if r else None

    def orders(self):
        try:
            sch = f'"{self.schema}".' if self.kind == "pg" else f"`{self.db}`."
            return [tuple(r) for r in self.query(
                f"SELECT id, note FROM {sch}orders ORDER BY id".replace("`", '"')
                if self.kind == "pg" else f"SELECT id, note FROM {sch}orders ORDER BY id")]
        except Exception:
            if self.kind == "pg":
                self.conn.rollback()
            return None

    def close(self):
        if self.kind == "pg":
            self.conn.close()
            self.admin.cursor().execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            self.admin.close()
        else:
            my_exec(self.my, f"DROP DATABASE IF EXISTS `{self.db}`")


@pytest.mark.parametrize("kind", ["pg", "mysql"])
def test_it_position_table_source_kafkaoffset_refused(kind, stack, bin_dir, tmp_path,
                                                      unique_name, mysql_conn):
    src = unique_name("pts")
    my_exec(mysql_conn, f"CREATE DATABASE `{src}`",
            f"CREATE TABLE `{src}`.orders (id INT PRIMARY KEY, note VARCHAR(20))",
            f"CREATE TABLE `{src}`.kafkaoffset ({KO_COLS})")
    tgt = Target(kind, stack, unique_name, mysql_conn)
    if kind == "pg":
        tgt.conn.autocommit = True
    col = Collector(bin_dir, stack, tmp_path, unique_name("src"), unique_name("it"),
                    master_pos(mysql_conn), tables_include=re.escape(src) + r"\..*")
    task = unique_name("ptask")
    conf = {"task.name": task, "source.topic": col.topic, "target.database": tgt.db,
            "tables": f"{src}.*", "tables.exclude": "", "columns.exclude": "",
            "map.tables": f"{src}.*={tgt.schema}.*", "http.listen": "off",
            "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"], "flush.interval.ms": "100ms"}
    app = applier(bin_dir, tgt.example, tmp_path, "applier", conf)
    bad = applier(bin_dir, tgt.example, tmp_path, "applier-explicit", {
        **conf, "task.name": unique_name("pbad"),
        "map.tables": f"{src}.kafkaoffset={tgt.schema}.kafkaoffset, {src}.*={tgt.schema}.*"})
    try:
        col.start()
        app.start()
        # another task's position, stored in the same target before
        victim = ("victim_task", col.topic, 0, 42, -1, "binlog.000001:4#0")
        tgt.query("INSERT INTO kafkaoffset (task, topic, `partition`, kafka_offset, sub_offset, "
                  "source_position) VALUES (%s, %s, %s, %s, %s, %s)", victim)
        with mysql_conn.cursor() as c:
            for i in range(1, 4):
                c.execute(f"INSERT INTO `{src}`.orders VALUES (%s, %s)", (i, f"n{i}"))
            c.execute("BEGIN")
            c.execute(f"INSERT INTO `{src}`.kafkaoffset VALUES (%s, %s, 0, 999999, 0, 'evil')",
                      ("victim_task", col.topic))
            c.execute(f"INSERT INTO `{src}`.orders VALUES (4, 'with ko')")
            c.execute("COMMIT")
            for i in range(5, 8):
                c.execute(f"INSERT INTO `{src}`.orders VALUES (%s, %s)", (i, f"n{i}"))

        def src_orders():
            with mysql_conn.cursor() as c:
                c.execute(f"SELECT id, note FROM `{src}`.orders ORDER BY id")
                return [tuple(r) for r in c.fetchall()]

        def orders_equal():
            d = first_diff(src_orders(), tgt.orders())
            return d is None, d
        wait_until("orders in the target", orders_equal, [app], timeout=60)
        time.sleep(1)                              # any write to kafkaoffset has landed
        assert tgt.position("victim_task", col.topic) == victim[3:], \
            f"another task's position was overwritten:\n{app.tail()}"
        assert re.search(r"table \S*kafkaoffset stopped.*position", app.text()), app.tail()
        # the stopped table's records went to the dead-letter topic, not into the target
        assert count_messages(stack, col.topic + ".dlq") >= 1
        # restart: the task resumes from its own position (nothing skipped, nothing missing)
        app.stop()
        own = tgt.position(task, col.topic)
        assert own is not None and own[0] < 999999, own
        with mysql_conn.cursor() as c:
            for i in range(8, 11):
                c.execute(f"INSERT INTO `{src}`.orders VALUES (%s, %s)", (i, f"n{i}"))
        app.start()
        wait_until("orders after the restart", orders_equal, [app], timeout=60)
        assert tgt.position("victim_task", col.topic) == victim[3:]
        # an explicit rule onto the position table: refused at start, with the reason
        bad.start(wait=False)
        bad.proc.wait(timeout=60)
        assert bad.proc.returncode != 0, bad.tail()
        assert re.search(r"map\.tables.*kafkaoffset.*position", bad.text()), bad.tail()
    finally:
        stop_all(app, bad)
        col.stop()
        tgt.close()
        my_exec(mysql_conn, f"DROP DATABASE IF EXISTS `{src}`")


@pytest.mark.parametrize("kind", ["pg", "mysql"])
def test_it_position_table_source_shiftlog_stopped_refused(kind, stack, bin_dir, tmp_path,
                                                           unique_name, mysql_conn):
    """The stopped-tables table beside kafkaoffset is reserved the same way: a source table
    of that name mapped there is stopped (its stop stored, its rows never written there)."""
    src = unique_name("pss")
    my_exec(mysql_conn, f"CREATE DATABASE `{src}`",
            f"CREATE TABLE `{src}`.orders (id INT PRIMARY KEY, note VARCHAR(20))",
            f"CREATE TABLE `{src}`.shiftlog_stopped (task VARCHAR(255) PRIMARY KEY, "
            "source_db VARCHAR(255), source_table VARCHAR(255))")
    tgt = Target(kind, stack, unique_name, mysql_conn)
    if kind == "pg":
        tgt.conn.autocommit = True
    col = Collector(bin_dir, stack, tmp_path, unique_name("src"), unique_name("it"),
                    master_pos(mysql_conn), tables_include=re.escape(src) + r"\..*")
    task = unique_name("pstask")
    app = applier(bin_dir, tgt.example, tmp_path, "applier", {
        "task.name": task, "source.topic": col.topic, "target.database": tgt.db,
        "tables": f"{src}.*", "tables.exclude": "", "columns.exclude": "",
        "map.tables": f"{src}.*={tgt.schema}.*", "http.listen": "off",
        "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"], "flush.interval.ms": "100ms"})
    try:
        col.start()
        app.start()
        with mysql_conn.cursor() as c:
            c.execute(f"INSERT INTO `{src}`.orders VALUES (1, 'a')")
            c.execute(f"INSERT INTO `{src}`.shiftlog_stopped VALUES ('evil', 'x', 'y')")
            c.execute(f"INSERT INTO `{src}`.orders VALUES (2, 'b')")
        wait_until("orders in the target", lambda: (tgt.orders() == [(1, "a"), (2, "b")],
                                                    tgt.orders()), [app], timeout=60)
        assert re.search(r"table \S*shiftlog_stopped stopped.*stopped-tables", app.text()), \
            app.tail()
        rows = tgt.query("SELECT task, source_db, source_table FROM shiftlog_stopped")
        assert [tuple(r) for r in rows] == [(task, src, "shiftlog_stopped")], rows
    finally:
        stop_all(app)
        col.stop()
        tgt.close()
        my_exec(mysql_conn, f"DROP DATABASE IF EXISTS `{src}`")
