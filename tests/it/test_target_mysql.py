"""The MySQL/MariaDB applier target on its own (tests/it/it_target.c drives it through
app_target_ops_t), checked with an independent client (pymysql): exact values of every value
kind, the kafkaoffset row in the same transaction as the data (kill -9 before commit: neither
visible), replay = no-op, hostile identifiers, a table without key refused, DDL."""
import os
import signal
import subprocess
import time
from decimal import Decimal

import pytest

from conftest import mysql_connect


def run(test_bin_dir, stack, *args, task="it_target", check=True, timeout=300):
    env = dict(os.environ, IT_TASK=task, **{k: v for k, v in stack.items()})
    p = subprocess.run([str(test_bin_dir / "it_target"), "mysql", *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def bulk_model(n, per, mixed):
    """What `it_target load` leaves: {id: version} (see sc_load / bulk_row)."""
    state = {}
    for base in range(0, n, per):
        cnt = min(per, n - base)
        for i in range(cnt):
            state[base + i] = 0
        if mixed and base > 0:
            nu, nd = max(cnt // 10, 1), max(cnt // 20, 1)
            for i in range(nu):
                if base - per + i * 3 in state:
                    state[base - per + i * 3] = base
                else:   # an update of a deleted row re-creates it (upsert)
                    state[base - per + i * 3] = base
            for i in range(nd):
                state.pop(base - per + 1 + i * 3, None)
    return state


def test_mysql_type_matrix_exact(stack, test_bin_dir, unique_name, mysql_conn):
    db = unique_name("tgt_my")
    run(test_bin_dir, stack, "matrix", db)
    cur = mysql_conn.cursor()
    cur.execute(f"SELECT id, i64, u64, `dec`, dsm, CAST(f AS DOUBLE), dbl, s, e_s, b, "
                f"CAST(dt AS CHAR), CAST(d AS CHAR), CAST(tm AS CHAR), CAST(ts AS CHAR), HEX(bt), "
                f"HEX(b5), st, en, js, y, CAST(ip AS CHAR), CAST(uu AS CHAR) FROM `{db}`.types "
                f"ORDER BY id")
    rows = cur.fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 40]          # 5 deleted, 4 moved to 40
    dmax = Decimal("99999999999999999999999999999999999.999999999999999999999999999999")
    ndmax = Decimal("-99999999999999999999999999999999999.999999999999999999999999999999")
    r1, r2, r3, r40 = rows
    assert r1[1:] == (2**63 - 1, 2**64 - 1, dmax, Decimal("12345678.90"), 3.1415927410125732, 0.1,
                      "h\u00e9llo \U0001F600 \"q\" 'x' \\ `b`", "", b"\x00\x01\x00\xff",
                      "9999-12-31 23:59:59.999999", "0000-00-00", "838:59:59.000000",
                      "2038-01-19 03:14:07.999999", "FFFFFFFFFFFFFFFF", "15", "a,c", "y",
                      '{"k": [1, 2.5, null], "u": "\u20ac"}', 2155, "2001:db8::1",
                      "123e4567-e89b-12d3-a456-426614174000")
    assert r2[1:] == (-2**63, 0, ndmax, Decimal("-0.01"), -1.1754943508222875e-38,
                      -1.7976931348623157e308, None, None, b"", "1000-01-01 00:00:00.000000",
                      "2024-02-29", "-838:59:59.000000", "1970-01-01 00:00:01.000000", "0", "0",
                      "", "x", "[]", 1901, "::ffff:1.2.3.4", "00000000-0000-0000-0000-000000000000")
    # row 3: only s came in the update's image; the other columns kept their NULLs
    assert r3[7] == "updated" and all(v is None for i, v in enumerate(r3[1:], 1) if i != 7)
    assert all(v is None for v in r40[1:])
    # NULL and empty are different things
    cur.execute(f"SELECT COUNT(*) FROM `{db}`.types WHERE e_s = ''")
    assert cur.fetchone()[0] == 1
    cur.execute(f"SELECT task, topic, `partition`, kafka_offset, sub_offset, source_position "
                f"FROM `{db}`.kafkaoffset")
    assert cur.fetchall() == (("it_target", f"it.{db}", 0, 4, 0, "mysql-bin.000001:1400#0"),)


def test_mysql_position_and_data_in_one_transaction_kill9(stack, test_bin_dir, unique_name,
                                                          mysql_conn):
    db = unique_name("tgt_my")
    env = dict(os.environ, IT_TASK="killer", **stack)
    p = subprocess.Popen([str(test_bin_dir / "it_target"), "mysql", "kill", db], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.strip() == "WRITTEN", line + p.stderr.read()
        cur = mysql_conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM `{db}`.killed")      # uncommitted: invisible
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB=%s", (db,))
        assert cur.fetchone()[0] >= 1                            # the writer is still there
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    time.sleep(0.5)
    cur = mysql_conn.cursor()
    cur.execute(f"SELECT COUNT(*) FROM `{db}`.killed")
    assert cur.fetchone()[0] == 0
    cur.execute(f"SELECT COUNT(*) FROM `{db}`.kafkaoffset WHERE task='killer'")
    assert cur.fetchone()[0] == 0


def _table_state(conn, db, table="bulk"):
    cur = conn.cursor()
    cur.execute(f"SELECT id, v, amount, CAST(`at` AS CHAR), n FROM `{db}`.`{table}` ORDER BY id")
    rows = cur.fetchall()
    cur.execute(f"CHECKSUM TABLE `{db}`.`{table}` EXTENDED")
    return rows, cur.fetchone()[1]


def test_mysql_replay_twice_is_a_noop(stack, test_bin_dir, unique_name, mysql_conn):
    db = unique_name("tgt_my")
    n, per = 3000, 200
    first = run(test_bin_dir, stack, "load", db, n, per, 1)
    assert "loaded none" in first.stdout
    rows1, sum1 = _table_state(mysql_conn, db)
    second = run(test_bin_dir, stack, "load", db, n, per, 1)     # the same transactions again
    assert "loaded mysql-bin.000001:" in second.stdout              # the position was stored
    rows2, sum2 = _table_state(mysql_conn, db)
    assert rows1 == rows2 and sum1 == sum2
    model = bulk_model(n, per, 1)
    assert [r[0] for r in rows1] == sorted(model)
    assert all(r[1] == f"row-{r[0]}-v{model[r[0]]}" for r in rows1)


def test_mysql_rollback_leaves_nothing(stack, test_bin_dir, unique_name, mysql_conn):
    db = unique_name("tgt_my")
    run(test_bin_dir, stack, "rollback", db)
    cur = mysql_conn.cursor()
    cur.execute(f"SELECT id FROM `{db}`.rb ORDER BY id")
    assert [r[0] for r in cur.fetchall()] == list(range(11, 21))


def test_mysql_hostile_identifiers_quoted(stack, test_bin_dir, unique_name, mysql_conn):
    db = unique_name("tgt_my")
    run(test_bin_dir, stack, "hostile", db)
    cur = mysql_conn.cursor()
    cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s", (db,))
    names = {r[0] for r in cur.fetchall()}
    assert names == {'a"; DROP TABLE x;--', "back`tick``", "\u00fcn\u00efc\u00f8d\u00e9_\u8868",
                     "x'); DROP DATABASE y;--", "kafkaoffset"}
    cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND "
                "TABLE_NAME='back`tick``' ORDER BY ORDINAL_POSITION", (db,))
    assert [r[0] for r in cur.fetchall()] == ["id`", 'v"; DROP TABLE kafkaoffset;--', "w'), ('"]
    cur.execute(f"SELECT * FROM `{db}`.`back``tick````` ORDER BY 1")
    assert cur.fetchall() == ((1, "'; DROP TABLE x;-- `\"", "it's"), (2, "'; DROP TABLE x;-- `\"", "a\\b"))
    cur.execute(f"SELECT COUNT(*) FROM `{db}`.kafkaoffset")
    assert cur.fetchone()[0] == 1


def test_mysql_table_without_key_refused(stack, test_bin_dir, unique_name, mysql_conn):
    db = unique_name("tgt_my")
    p = run(test_bin_dir, stack, "nopk", db, check=False)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "has no primary key" in p.stdout and "nopk" in p.stdout
    cur = mysql_conn.cursor()
    cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND "
                "TABLE_NAME='nopk'", (db,))
    assert cur.fetchone()[0] == 0


def test_mysql_schema_changes_applied(stack, test_bin_dir, unique_name, mysql_conn):
    db = unique_name("tgt_my")
    run(test_bin_dir, stack, "ddl", db)
    cur = mysql_conn.cursor()
    cur.execute("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE "
                "TABLE_SCHEMA=%s AND TABLE_NAME='evolve' ORDER BY ORDINAL_POSITION", (db,))
    assert cur.fetchall() == (("id", "int(11)"), ("a", "bigint(20)"), ("bb", "varchar(10)"),
                              ("c", "decimal(12,3)"))
    cur.execute(f"SELECT * FROM `{db}`.evolve ORDER BY id")
    assert cur.fetchall() == ((1, 7, "one", None), (2, 2**63 - 1, "two", Decimal("-123456789.125")))
