"""The MariaDB snapshot backend (collector/snapshot_mysql.c), through it_snap_read.

  it_snapshot_mysql_values_equal_binlog   for every table of the MariaDB type matrix
                                          (test_mysql_types.FAMILIES: ints, decimals, temporal,
                                          strings, blobs, enums, bits, geometry, INET6/UUID/INET4),
                                          the rows a snapshot reads are value for value the
                                          after images the binlog decoder gives for the INSERTs
                                          of the same rows (it_binlog_dump), read 2 rows a chunk
  it_snapshot_mysql_composite_key_paging  keyset pagination over a 3-column key (int, latin1
                                          case-insensitive text, BIGINT UNSIGNED past 2^63):
                                          every row once, in key order, whatever the chunk size
  it_snapshot_mysql_unique_key            a table without a primary key is chunked by its
                                          UNIQUE key of NOT NULL columns (a nullable unique key
                                          is not used); without either: UNSUPPORTED, said
  it_snapshot_mysql_hostile_names         backquotes, dots, quotes and spaces in database, table
                                          and column names, and in string key values
  it_snapshot_mysql_tables_and_signal     the listed tables follow the filter, in a stable order,
                                          never the signal table; a watermark creates the signal
                                          table (and its database) and writes one row per source
  it_snapshot_mysql_resume_after          a continuation text read back gives the rest; a
                                          damaged one is refused, never spliced into SQL
"""

import json
import random
import subprocess

import pytest

from conftest import mysql_connect
from test_mysql_types import FAMILIES, master_status


def run_dump(test_bin_dir, stack, start_file, start_pos, stop_pos, db):
    """test_mysql_types.run_dump with a server_id of its own (two dumps with one id, from
    tests running at the same time, make the server drop one of them)."""
    cmd = [str(test_bin_dir / "it_binlog_dump"), "-h", stack["SL_MYSQL_HOST"],
           "-P", stack["SL_MYSQL_PORT"], "-u", stack["SL_MYSQL_ROOT_USER"],
           "-p", stack["SL_MYSQL_ROOT_PASSWORD"], "-f", start_file, "-o", str(start_pos),
           "--stop", str(stop_pos), "--hints", "-S", str(random.randint(100000, 4000000000))]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return [r for r in map(json.loads, p.stdout.splitlines()) if r["db"] == db]


def snap(test_bin_dir, stack, *args, check=True):
    cmd = [str(test_bin_dir / "it_snap_read"), "-h", stack["SL_MYSQL_HOST"],
           "-P", stack["SL_MYSQL_PORT"], "-u", stack["SL_MYSQL_ROOT_USER"],
           "-p", stack["SL_MYSQL_ROOT_PASSWORD"], *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def read_all(test_bin_dir, stack, name, limit, *extra):
    """(rows, chunks): row lines and chunk lines of a whole table read."""
    p = snap(test_bin_dir, stack, "--read", name, "--limit", limit, *extra)
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    return [x for x in lines if "after" in x], [x for x in lines if "rows" in x]


def qname(db, tb):
    """The db.table name form it_snap_read parses (backquoted, backquotes doubled)."""
    return "`" + db.replace("`", "``") + "`.`" + tb.replace("`", "``") + "`"


@pytest.fixture
def db(stack, unique_name):
    conn = mysql_connect(stack)
    name = unique_name("snapmy")
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield conn, name
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def test_it_snapshot_mysql_values_equal_binlog(db, stack, test_bin_dir):
    conn, name = db
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("SET sql_mode = ''")
        for fam, (cols, rows, _) in FAMILIES.items():
            cur.execute(f"CREATE TABLE `{name}`.`{fam}` (id INT PRIMARY KEY, {', '.join(cols)})")
    f0, p0, _ = master_status(conn)
    with conn.cursor() as cur:
        for fam, (cols, rows, _) in FAMILIES.items():
            for r in rows:
                cur.execute(f"INSERT INTO `{name}`.`{fam}` VALUES ({', '.join(r)})")
    f1, p1, _ = master_status(conn)
    assert f0 == f1, "binlog rotated during the workload"
    decoded = run_dump(test_bin_dir, stack, f0, p0, p1, name)
    compared = 0
    for fam, (cols, rows, _) in FAMILIES.items():
        binlog = {r["after"]["id"]: r["after"] for r in decoded
                  if r["table"] == fam and r["op"] == "insert"}
        got, chunks = read_all(test_bin_dir, stack, f"{name}.{fam}", 2)
        assert len(binlog) == len(rows)
        assert [r["after"]["id"] for r in got] == sorted(binlog), fam
        assert len(chunks) == (len(rows) + 1) // 2 + (len(rows) % 2 == 0), fam
        for r in got:
            assert r["key"] == [0]
            want = binlog[r["after"]["id"]]
            assert list(r["after"]) == list(want), fam
            for col in want:
                assert r["after"][col] == want[col], \
                    f"{fam} id={want['id']} {col}: snapshot {r['after'][col]!r} binlog {want[col]!r}"
                compared += 1
    assert compared == sum(len(rows) * (len(cols) + 1) for cols, rows, _ in FAMILIES.values())


def test_it_snapshot_mysql_composite_key_paging(db, stack, test_bin_dir):
    conn, name = db
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{name}`.t (a INT NOT NULL, b VARCHAR(20) CHARACTER SET latin1 "
                    "COLLATE latin1_swedish_ci NOT NULL, c BIGINT UNSIGNED NOT NULL, v INT, "
                    "PRIMARY KEY (b, a, c))")
        rows = []
        for a in (-2, 0, 7):
            for b in ("a", "B", "c", "é", "zz", ""):
                for c in (0, 9223372036854775807, 9223372036854775808, 18446744073709551615):
                    rows.append((a, b, c))
        cur.executemany(f"INSERT INTO `{name}`.t (a, b, c, v) VALUES (%s, %s, %s, 1)", rows)
        cur.execute(f"SELECT a, b, c FROM `{name}`.t ORDER BY b, a, c")
        order = [list(r) for r in cur.fetchall()]
    for limit in (1, 5, 7, 1000):
        got, chunks = read_all(test_bin_dir, stack, f"{name}.t", limit)
        assert [[r["after"]["a"], r["after"]["b"], r["after"]["c"]] for r in got] == order, limit
        assert all(r["key"] == [1, 0, 2] for r in got)
        assert sum(c["rows"] for c in chunks) == len(order)
        assert all(c["rows"] <= limit for c in chunks)


def test_it_snapshot_mysql_unique_key(db, stack, test_bin_dir):
    conn, name = db
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{name}`.u (x INT, y VARCHAR(10) NOT NULL, z DATETIME(3) NOT NULL, "
                    "UNIQUE KEY a_nullable (x), UNIQUE KEY b_key (z, y))")
        cur.executemany(f"INSERT INTO `{name}`.u VALUES (%s, %s, %s)",
                        [(i if i % 3 else None, f"y{i % 4}", f"2024-01-0{1 + i % 5} 00:00:00.{i:03d}")
                         for i in range(40)])
        cur.execute(f"SELECT x, y FROM `{name}`.u ORDER BY z, y")
        order = [list(r) for r in cur.fetchall()]
        cur.execute(f"CREATE TABLE `{name}`.nokey (x INT, y INT, UNIQUE KEY (x))")
        cur.execute(f"INSERT INTO `{name}`.nokey VALUES (1, 1)")
    got, _ = read_all(test_bin_dir, stack, f"{name}.u", 3)
    assert [[r["after"]["x"], r["after"]["y"]] for r in got] == order
    assert all(r["key"] == [2, 1] for r in got)
    p = snap(test_bin_dir, stack, "--read", f"{name}.nokey", check=False)
    assert p.returncode == 2
    assert "unsupported" in p.stderr.lower() and "no primary key" in p.stderr, p.stderr
    p = snap(test_bin_dir, stack, "--read", f"{name}.gone", check=False)
    assert p.returncode == 2 and "does not exist" in p.stderr, p.stderr


def test_it_snapshot_mysql_hostile_names(stack, test_bin_dir, unique_name):
    conn = mysql_connect(stack)
    dbn = unique_name("snapmy") + ".x`y"
    tbn = "t.a`b 'c\""
    try:
        with conn.cursor() as cur:
            qdb = "`" + dbn.replace("`", "``") + "`"
            qtb = "`" + tbn.replace("`", "``") + "`"
            cur.execute(f"CREATE DATABASE {qdb}")
            cur.execute(f"CREATE TABLE {qdb}.{qtb} (`k``1` VARCHAR(30) NOT NULL PRIMARY KEY, "
                        "`v.al` INT)")
            keys = ["a'b", "a`b", "a\\b", "' OR 1=1 --", "x\x00y", "😀", "é"]
            cur.executemany(f"INSERT INTO {qdb}.{qtb} VALUES (%s, %s)",
                            [(k, i) for i, k in enumerate(keys)])
            cur.execute(f"SELECT `k``1` FROM {qdb}.{qtb} ORDER BY `k``1`")
            order = [r[0] for r in cur.fetchall()]
        got, chunks = read_all(test_bin_dir, stack, qname(dbn, tbn), 2)
        assert [r["after"]["k`1"] for r in got] == order
        assert sorted(r["after"]["v.al"] for r in got) == list(range(len(keys)))
        p = snap(test_bin_dir, stack, "--tables", "--include", ".*x``y.*")  # the name form doubles `
        listed = [json.loads(x) for x in p.stdout.splitlines()]
        assert {"db": dbn, "table": tbn} in listed
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{dbn.replace('`', '``')}`")
        conn.close()


def test_it_snapshot_mysql_tables_and_signal(db, stack, test_bin_dir, unique_name):
    conn, name = db
    sigdb = unique_name("snapsig")
    with conn.cursor() as cur:
        for t in ("b", "a", "c_skip", "A2"):
            cur.execute(f"CREATE TABLE `{name}`.`{t}` (id INT PRIMARY KEY)")
    try:
        signal = f"{sigdb}.sig"
        p = snap(test_bin_dir, stack, "--tables", "--include", f"{name}\\..*,{sigdb}\\..*",
                 "--exclude", f"{name}\\.c_.*", "--signal", signal)
        listed = [(x["db"], x["table"]) for x in map(json.loads, p.stdout.splitlines())]
        assert listed == [(name, "A2"), (name, "a"), (name, "b")]
        snap(test_bin_dir, stack, "--mark", "L:c1", "--signal", signal)
        snap(test_bin_dir, stack, "--mark", "H:c1", "--signal", signal)
        snap(test_bin_dir, stack, "--mark", "H:c1", "--signal", signal)
        with conn.cursor() as cur:
            cur.execute(f"SELECT source, mark, seq FROM `{sigdb}`.sig")
            assert cur.fetchall() == ((b"it_snap", b"it_snap:H:c1", 3),)
        p = snap(test_bin_dir, stack, "--tables", "--include", f"{name}\\..*,{sigdb}\\..*",
                 "--signal", signal)
        listed = [(x["db"], x["table"]) for x in map(json.loads, p.stdout.splitlines())]
        assert (sigdb, "sig") not in listed and (name, "c_skip") in listed
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{sigdb}`")


def test_it_snapshot_mysql_resume_after(db, stack, test_bin_dir):
    conn, name = db
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{name}`.r (id BIGINT UNSIGNED PRIMARY KEY, d DOUBLE)")
        cur.executemany(f"INSERT INTO `{name}`.r VALUES (%s, %s)",
                        [(18446744073709551615 - i, i / 3) for i in range(10)])
        cur.execute(f"CREATE TABLE `{name}`.f (k DOUBLE NOT NULL PRIMARY KEY)")
        cur.executemany(f"INSERT INTO `{name}`.f VALUES (%s)", [(0.1 * i,) for i in range(-5, 6)])
    p = snap(test_bin_dir, stack, "--read", f"{name}.r", "--limit", 4, "--one")
    first = [json.loads(x) for x in p.stdout.splitlines()]
    last = first[-1]["last"]
    rest, _ = read_all(test_bin_dir, stack, f"{name}.r", 100, "--after", last)
    ids = [r["after"]["id"] for r in first if "after" in r] + [r["after"]["id"] for r in rest]
    assert ids == sorted(18446744073709551615 - i for i in range(10))
    # a DOUBLE key resumes exactly where it stopped (0.30000000000000004 is not 0.3)
    got, _ = read_all(test_bin_dir, stack, f"{name}.f", 1)
    assert len(got) == 11
    for bad in ("my1:zz", "1; DROP TABLE x", "my1:3120", "my1:27204f5220313d31"):
        p = snap(test_bin_dir, stack, "--read", f"{name}.r", "--after", bad, check=False)
        assert p.returncode == 2 and "snapshot progress" in p.stderr, (bad, p.stderr)


def test_it_snapshot_mysql_signal_without_grant(stack, test_bin_dir, unique_name):
    """A user that may not create or write the signal table: refused for good (a retry cannot
    cure it), with the GRANT that fixes it, not retried as a lost connection."""
    sigdb = unique_name("snapnogrant")
    p = subprocess.run([str(test_bin_dir / "it_snap_read"), "-h", stack["SL_MYSQL_HOST"],
                        "-P", stack["SL_MYSQL_PORT"], "-u", stack["SL_MYSQL_CDC_USER"],
                        "-p", stack["SL_MYSQL_CDC_PASSWORD"], "--signal", f"{sigdb}.sig",
                        "--mark", "L:1"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.startswith("it_snap_read: denied:"), p.stderr
    assert f"GRANT CREATE, INSERT, UPDATE ON `{sigdb}`.*" in p.stderr, p.stderr


def test_it_snapshot_mysql_key_range(db, stack, test_bin_dir):
    """A key range (lo, hi] given as JSON texts (snapshot.h col_snap_key_t) reads exactly the
    rows the chunker's order puts after lo and up to hi, over a 3-column key (latin1
    case-insensitive text given in UTF-8, BIGINT UNSIGNED past 2^63), in chunks; bounds that
    do not fit the key are refused with a sentence."""
    conn, name = db
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{name}`.t (a INT NOT NULL, b VARCHAR(20) CHARACTER SET latin1 "
                    "COLLATE latin1_swedish_ci NOT NULL, c BIGINT UNSIGNED NOT NULL, v INT, "
                    "PRIMARY KEY (b, a, c))")
        rows = [(a, b, c) for a in (-2, 0, 7) for b in ("a", "B", "c", "é", "zz")
                for c in (0, 9223372036854775808, 18446744073709551615)]
        cur.executemany(f"INSERT INTO `{name}`.t (a, b, c, v) VALUES (%s, %s, %s, 1)", rows)
        cur.execute(f"SELECT a, b, c FROM `{name}`.t ORDER BY b, a, c")
        order = [list(r) for r in cur.fetchall()]

    def bound(r):     # key order (b, a, c); numbers as JSON numbers, text as a JSON string
        return json.dumps([r[1], r[0], r[2]])
    n = len(order)
    cases = [(None, 10), (10, None), (3, 29), (0, 0), (17, 18), (n - 2, n - 1)]
    for lo, hi in cases:
        args = []
        if lo is not None:
            args += ["--lo", bound(order[lo])]
        if hi is not None:
            args += ["--hi", bound(order[hi])]
        got, chunks = read_all(test_bin_dir, stack, f"{name}.t", 4, *args)
        want = order[(lo + 1 if lo is not None else 0):(hi + 1 if hi is not None else n)]
        assert [[r["after"]["a"], r["after"]["b"], r["after"]["c"]] for r in got] == want, (lo, hi)
        assert all(c["rows"] <= 4 for c in chunks)
    # the collation compares, as ORDER BY sorts: 'A' is 'a' in latin1_swedish_ci
    got, _ = read_all(test_bin_dir, stack, f"{name}.t", 100, "--lo", '["A", 7, 18446744073709551615]',
                      "--hi", '["c", -2, 0]')
    assert [r["after"]["b"] for r in got] == ["B"] * 9 + ["c"]
    # numbers given as strings are the same values
    got, _ = read_all(test_bin_dir, stack, f"{name}.t", 100, "--hi", '["a", "0", "0"]')
    assert [[r["after"]["a"], r["after"]["b"], r["after"]["c"]] for r in got] == order[:4]
    for lo in ('[1]', '["a", 1, 2, 3]', '["a", "x", 1]', '["a", 1, "1; DROP TABLE t"]'):
        p = snap(test_bin_dir, stack, "--read", f"{name}.t", "--lo", lo, check=False)
        assert p.returncode == 2 and "invalid" in p.stderr.lower(), (lo, p.stderr)
        assert "bound" in p.stderr, p.stderr
