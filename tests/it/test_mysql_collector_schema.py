"""shiftlog-collector (source.type = mysql): DDL mid-stream and transaction boundaries, against
the local MariaDB and Kafka (issue 4). Helpers come from test_mysql_collector.py.

  it_mysql_collector_ddl_columns         DROP / MODIFY (INT -> BIGINT, VARCHAR(10) -> (50)) /
                                         RENAME COLUMN, CREATE TABLE, DROP TABLE, a table
                                         re-created with other columns, CREATE ... SELECT:
                                         every CHANGE before a DDL carries the old columns and
                                         the schemaId of the SCHEMA in force, every CHANGE
                                         after it the new ones; a SCHEMA with the DDL text at
                                         the DDL's position, each DDL closed by one COMMIT
  it_mysql_collector_ddl_reread          the same binlog re-read from an earlier checkpoint
                                         after the DDLs ran (and the table was dropped): the
                                         same CHANGE records (positions, values, columns,
                                         schemaId) and the same binlog-made SCHEMA records
  it_mysql_collector_txn_rollback        BEGIN; INSERT ...; ROLLBACK (InnoDB) -> nothing
  it_mysql_collector_txn_myisam          MyISAM statements (QUERY BEGIN ... QUERY COMMIT, no
                                         XID), a failed multi-row MyISAM INSERT, InnoDB and
                                         MyISAM mixed in one transaction or one statement ->
                                         each binlog group closed by exactly one COMMIT
"""

import json
import re
import time

from test_mysql_collector import (changes, db, master_pos, n_commits, new_collector,  # noqa: F401
                                  pos_key, read_topic, records, wait_for)

KINDS = ["NULL", "BOOL", "INT", "UINT", "FLOAT", "DOUBLE", "DECIMAL", "STRING", "BYTES",
         "TEMPORAL", "BIT", "SET", "TYPED", "MISSING"]

_CRC_EMPTY = 0xc15d213aa4d7a795
_CRC_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_CRC_EMPTY & -(_fp & 1))
    _CRC_TABLE.append(_fp)


def crc64_avro(data):
    fp = _CRC_EMPTY
    for b in data:
        fp = (fp >> 8) ^ _CRC_TABLE[(fp ^ b) & 0xff]
    return fp


def schema_id(body):
    """The schemaId a CHANGE carries under this SCHEMA record (collector/mysql_schema.c:
    CRC-64-AVRO of "db.table\\0" + per column "name\\0type\\0kind,nullable,pk,charset[,label]\\0"),
    computed independently from the record's fields."""
    s = f'{body["db"]}.{body["table"]}\0'
    for c in body["columns"]:
        s += (f'{c["name"]}\0{c["sourceType"]}\0{KINDS.index(c["kind"])},{int(c["nullable"])},'
              f'{c["pk"]},{c["charset"] or ""}' + "".join("," + x for x in c["labels"]) + "\0")
    return crc64_avro(s.encode())


def u64(x):
    return x & (2 ** 64 - 1)


def tname(r):
    return f'{r["body"]["db"]}.{r["body"]["table"]}'


def check_schema_in_force(recs):
    """Walks the topic in order: every CHANGE's schemaId is the fingerprint of the last
    SCHEMA of its table (after a DDL the next TABLE_MAP always publishes one), and its
    columns are that SCHEMA's names. Returns [(table, op, columns, values)] of each row."""
    in_force, out = {}, []
    for r in recs:
        if r["type"] == "SCHEMA":
            in_force[tname(r)] = r["body"]
        elif r["type"] == "CHANGE":
            sc = in_force.get(tname(r))
            assert sc is not None, f"CHANGE of {tname(r)} before any SCHEMA of it"
            assert u64(r["body"]["schemaId"]) == schema_id(sc), \
                f"CHANGE at {r['pos']} has schemaId {u64(r['body']['schemaId']):x}, the " \
                f"SCHEMA in force hashes to {schema_id(sc):x}"
            assert r["body"]["columns"] == [c["name"] for c in sc["columns"]]
            for row in r["body"]["rows"]:
                img = row["after"] if row["after"] is not None else row["before"]
                out.append((tname(r), r["body"]["op"], r["body"]["columns"],
                            [plain(v) for v in img]))
    return out


def plain(v):
    """A decoded Value as a plain Python value (a temporal as its text)."""
    x = v[1]
    return x["text"] if isinstance(x, dict) and "text" in x else x


def ddl_records(recs):
    return [r for r in recs if r["type"] == "SCHEMA" and r["body"]["ddl"] is not None]


def pos_of(text):
    f, p = text.rsplit(":", 1)
    return int(re.search(r"(\d+)$", f)[1]), int(p)


# ------------------------------------------------------------------ DDL, live

DDL_STEPS = [
    # (statement, table it changes, its columns afterwards (None: dropped), rows after it)
    ("ALTER TABLE d DROP COLUMN x", "d", ["id", "a", "n"],
     ["INSERT INTO d VALUES (2, 'a2', 2)"]),
    ("ALTER TABLE d MODIFY n BIGINT, MODIFY a VARCHAR(50)", "d", ["id", "a", "n"],
     ["INSERT INTO d VALUES (3, REPEAT('z', 50), 1099511627776)"]),
    ("ALTER TABLE d RENAME COLUMN a TO b", "d", ["id", "b", "n"],
     ["INSERT INTO d VALUES (4, 'b4', 4)", "UPDATE d SET b = 'b1' WHERE id = 1"]),
    # two DDLs with no row in between: re-read, the first has no definition in the binlog
    ("ALTER TABLE d ADD COLUMN tmp INT", "d", ["id", "b", "n", "tmp"], []),
    ("ALTER TABLE d DROP COLUMN tmp", "d", ["id", "b", "n"], ["INSERT INTO d VALUES (5, 'b5', 5)"]),
    ("CREATE TABLE t2 (k INT PRIMARY KEY, v TEXT)", "t2", ["k", "v"],
     ["INSERT INTO t2 VALUES (1, 't2a')"]),
    ("DROP TABLE t2", "t2", None, []),
    ("CREATE TABLE t2 (k BIGINT PRIMARY KEY, w DATE, z INT)", "t2", ["k", "w", "z"],
     ["INSERT INTO t2 VALUES (1, '2026-01-02', 3)"]),
    ("CREATE TABLE t3 AS SELECT id, n FROM d WHERE id <= 2", "t3", ["id", "n"], []),
    ("DROP TABLE d, t2, t3", "d", None, []),
]

EXPECTED_ROWS = [
    ("d", "INSERT", ["id", "a", "n", "x"], [1, "a1", 1, 1]),
    ("d", "INSERT", ["id", "a", "n"], [2, "a2", 2]),
    ("d", "INSERT", ["id", "a", "n"], [3, "z" * 50, 1099511627776]),
    ("d", "INSERT", ["id", "b", "n"], [4, "b4", 4]),
    ("d", "UPDATE", ["id", "b", "n"], [1, "b1", 1]),
    ("d", "INSERT", ["id", "b", "n"], [5, "b5", 5]),
    ("t2", "INSERT", ["k", "v"], [1, "t2a"]),
    ("t2", "INSERT", ["k", "w", "z"], [1, "2026-01-02", 3]),
    ("t3", "INSERT", ["id", "n"], [1, 1]),       # CREATE ... SELECT: its rows, same group
    ("t3", "INSERT", ["id", "n"], [2, 2]),
]


def run_ddl_workload(conn, db, col=None, stack=None):
    """Runs DDL_STEPS in db (table d created first, one row in it); with col, waits after each
    DDL until a SCHEMA at or after its position is on the topic (the collector has then read
    it while it was the table's current definition). Returns [(statement, pos before, after)]."""
    steps = []
    with conn.cursor() as c:
        c.execute(f"USE `{db}`")
        for stmt, _, _, rows in DDL_STEPS:
            before = master_pos(conn)
            c.execute(stmt)
            steps.append((stmt, before, master_pos(conn)))
            if col is not None:
                wait_for(stack, col.topic, lambda rs: any(
                    (r["pos"]["seq"], r["pos"]["offset"]) >= pos_of(before)
                    for r in ddl_records(rs)), timeout=60)
            for q in rows:
                c.execute(q)
    return steps


def last_commit(recs, steps):
    """How many COMMITs of the last DDL step the topic holds (other sessions write to the
    same binlog: positions after a statement are bounds, not the statement's own end)."""
    return sum(r["type"] == "COMMIT" and pos_key(r["pos"])[:2] > pos_of(steps[-1][1])
               for r in recs)


def create_d(conn, db):
    with conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.d (id INT PRIMARY KEY, a VARCHAR(10), n INT, x INT)")
        c.execute(f"INSERT INTO `{db}`.d VALUES (1, 'a1', 1, 1)")


def step_ddl(ddl, before, after):
    return [r for r in ddl if pos_of(before) <= (r["pos"]["seq"], r["pos"]["offset"]) <
            pos_of(after)]


def check_ddl_topic(recs, steps, expected_rows):
    """Rows in order with the schema in force; for each DDL one SCHEMA (with its text) per
    table it names, at its position, with the columns of DDL_STEPS; one COMMIT per DDL.
    Returns (rows, DDL SCHEMA records)."""
    rows = check_schema_in_force(recs)
    assert [(t.split(".", 1)[1], op, cols, vals) for t, op, cols, vals in rows] == \
        expected_rows
    ddl = ddl_records(recs)
    for (stmt, before, after), (_, table, cols, _) in zip(steps, DDL_STEPS):
        mine = step_ddl(ddl, before, after)
        tables = [r["body"]["table"] for r in mine]
        want = ["d", "t2", "t3"] if stmt.startswith("DROP TABLE d") else [table]
        assert tables == want, (stmt, tables)
        r = mine[0]
        assert [c["name"] for c in r["body"]["columns"]] == (cols or []), \
            (stmt, r["body"]["columns"])
        assert r["body"]["ddl"].split("(")[0].split()[:2] == stmt.split()[:2], r["body"]["ddl"]
        # its COMMIT comes next: exactly one (CREATE ... SELECT: after its rows)
        i = recs.index(mine[-1])
        nxt = [x for x in recs[i + 1:] if x["type"] in ("COMMIT", "CHANGE", "SCHEMA")]
        k = 0
        while nxt[k]["type"] != "COMMIT":
            assert nxt[k]["type"] == "CHANGE" or nxt[k]["body"]["ddl"] is None, (stmt, nxt[k])
            k += 1
        n_rows = sum(len(x["body"]["rows"]) for x in nxt[:k] if x["type"] == "CHANGE")
        assert nxt[k]["body"]["rows"] == n_rows
        assert n_rows == (2 if " AS SELECT " in stmt else 0), (stmt, n_rows)
        assert pos_of(before) < (nxt[k]["pos"]["seq"], nxt[k]["pos"]["offset"]) <= \
            pos_of(after), stmt
    mod = step_ddl(ddl, *steps[1][1:])[0]
    types = {c["name"]: c["sourceType"] for c in mod["body"]["columns"]}
    assert types["n"] == "bigint" and types["a"] == "varchar(50)", types
    return rows, ddl


def test_it_mysql_collector_ddl_columns(stack, bin_dir, tmp_path, unique_name, mysql_conn, db):
    """Live: the collector reads each DDL right after it ran (the test waits for its SCHEMA
    before going on), so information_schema is the definition at the DDL."""
    start = master_pos(mysql_conn)
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start, txn_max_ms=50,
                        tables_include=re.escape(db) + r"\..*").start()
    t0 = time.monotonic()
    try:
        create_d(mysql_conn, db)
        steps = run_ddl_workload(mysql_conn, db, col, stack)
        recs = wait_for(stack, col.topic, lambda rs: last_commit(rs, steps))
    finally:
        assert col.stop() == 0, col.text()
    rows, ddl = check_ddl_topic(recs, steps, EXPECTED_ROWS)
    print(f"\nDDL live: {len(recs)} records, {len(ddl)} DDL SCHEMA records, "
          f"{len(rows)} rows, {n_commits(recs)} COMMITs, {time.monotonic() - t0:.1f} s")
    # the DDL's SCHEMA agrees with the binlog's own (TABLE_MAP) SCHEMA before the next rows
    agree = 0
    for r in ddl:
        i = recs.index(r)
        nxt = [x for x in recs[i + 1:] if x["type"] == "SCHEMA" and tname(x) == tname(r)]
        if r["body"]["columns"] and nxt and nxt[0]["body"]["ddl"] is None:
            assert [(c["name"], c["sourceType"], c["kind"], c["nullable"], c["pk"])
                    for c in r["body"]["columns"]] == \
                [(c["name"], c["sourceType"], c["kind"], c["nullable"], c["pk"])
                 for c in nxt[0]["body"]["columns"]], (r["body"]["ddl"], nxt[0])
            agree += 1
    assert agree >= 5, agree
    # the schemaId changes with every change of d's definition
    ids = [u64(r["body"]["schemaId"]) for r in recs if r["type"] == "CHANGE" and
           r["body"]["table"] == "d"]
    assert len(set(ids[:4])) == 4 and ids[3] == ids[4] == ids[5], ids


# ------------------------------------------------------------------ DDL, re-read

def checkpoints(stack, col):
    return [json.loads(v) for _, k, _, v in read_topic(stack, f"{col.prefix}._offsets")
            if k == col.source.encode() and v]


def test_it_mysql_collector_ddl_reread(stack, bin_dir, tmp_path, unique_name, mysql_conn, db):
    """The collector reads the DDL workload live, is stopped, and is sent back to an earlier
    checkpoint of its own (stored after the first row, before every DDL) once all the DDLs
    have run and the tables are gone. Re-read, the binlog gives the same records, position
    for position: CHANGE (values, columns, schemaId), COMMIT, the binlog-made SCHEMA records
    and the DDL SCHEMA records with the columns each DDL gave, not the catalog's of now."""
    from confluent_kafka import Producer
    start = master_pos(mysql_conn)
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start, txn_max_ms=50,
                        tables_include=re.escape(db) + r"\..*").start()
    try:
        create_d(mysql_conn, db)
        first = wait_for(stack, col.topic, lambda rs: n_commits(rs) >= 2)
        mark = (first[-1]["pos"]["seq"], first[-1]["pos"]["offset"])
        deadline = time.monotonic() + 30
        while not [c for c in checkpoints(stack, col) if pos_of(c["pos"].split("#")[0]) >= mark]:
            assert time.monotonic() < deadline, checkpoints(stack, col)
            time.sleep(0.2)
        early = checkpoints(stack, col)[-1]
        steps = run_ddl_workload(mysql_conn, db, col, stack)
        live = wait_for(stack, col.topic, lambda rs: last_commit(rs, steps))
    finally:
        assert col.stop() == 0, col.text()
    check_ddl_topic(live, steps, EXPECTED_ROWS)

    # back to the early checkpoint, as an operator rewinds a source
    p = Producer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"]})
    p.produce(f"{col.prefix}._offsets", key=col.source,
              value=json.dumps(early, separators=(",", ":")))
    assert p.flush(30) == 0
    t0 = time.monotonic()
    col.start()
    try:
        assert f"checkpoint found: {early['pos']}" in col.text(), col.text()
        recs = wait_for(stack, col.topic, lambda rs: last_commit(rs, steps) >= 2)
    finally:
        assert col.stop() == 0, col.text()

    i_resume = [i for i, r in enumerate(recs) if r["type"] == "FINISH"][-1]
    assert recs[i_resume]["body"]["reason"] == "start"     # a new process
    reread = recs[i_resume + 1:]
    cut = pos_of(early["pos"].split("#")[0])
    live_after = [r for r in live if r["type"] != "FINISH" and
                  (r["pos"]["seq"], r["pos"]["offset"]) > cut]

    def key(r):
        return (r["type"], pos_key(r["pos"]), json.dumps(r["body"], sort_keys=True, default=str))

    assert [key(r) for r in reread if r["type"] == "CHANGE"] == \
        [key(r) for r in live_after if r["type"] == "CHANGE"]
    assert [key(r) for r in reread if r["type"] == "COMMIT"] == \
        [key(r) for r in live_after if r["type"] == "COMMIT"]
    # SCHEMA records made from the binlog: the same, position for position
    def binlog_schemas(rs):
        return [key(r) for r in rs if r["type"] == "SCHEMA" and r["body"]["ddl"] is None]

    assert binlog_schemas(reread) == binlog_schemas(live_after), \
        ([(k[1], k[2][-40:]) for k in binlog_schemas(reread)],
         [(k[1], k[2][-40:]) for k in binlog_schemas(live_after)])
    # DDL SCHEMA records: at the same positions with the columns the live run read from the
    # catalog while each DDL was current — now taken from the binlog (the table's next
    # TABLE_MAP), not from the catalog of now, where every table is gone. The one DDL whose
    # definition never reached the binlog (ADD COLUMN tmp, dropped again before any row)
    # has its text in the next DDL's record.
    def cols(r):
        return [(c["name"], c["sourceType"], c["kind"], c["nullable"], c["pk"], c["labels"])
                for c in r["body"]["columns"]]

    ddl_live = {(pos_key(r["pos"]), tname(r)): r for r in ddl_records(live_after)}
    ddl_again = {(pos_key(r["pos"]), tname(r)): r for r in ddl_records(reread)}
    merged = [k for k, r in ddl_live.items() if r["body"]["ddl"].startswith(
        "ALTER TABLE d ADD COLUMN tmp")]
    assert len(merged) == 1 and merged[0] not in ddl_again
    assert sorted(ddl_again) == sorted(k for k in ddl_live if k != merged[0])
    for k, r in ddl_again.items():
        assert cols(r) == cols(ddl_live[k]), (k, r["body"], ddl_live[k]["body"])
        want = ddl_live[k]["body"]["ddl"]
        if want.startswith("ALTER TABLE d DROP COLUMN tmp"):
            want = ddl_live[merged[0]]["body"]["ddl"] + ";\n" + want
        assert r["body"]["ddl"] == want
    rows = check_schema_in_force(recs[i_resume:])
    assert [(t.split(".", 1)[1], op, cols, vals) for t, op, cols, vals in rows] == \
        EXPECTED_ROWS[1:]
    print(f"\nDDL re-read from {early['pos']}: {len(reread)} records again in "
          f"{time.monotonic() - t0:.1f} s, {len(rows)} rows, {len(ddl_again)} DDL SCHEMA "
          f"records at the live positions with the live columns, 1 merged into the next")


# ------------------------------------------------------------------ transactions

def groups(recs):
    """[(rows of the group as (table, op, after or before image), its COMMIT)] in order;
    asserts each COMMIT's row count and that nothing is left open after the last one."""
    out, cur = [], []
    for r in recs:
        if r["type"] == "CHANGE":
            for row in r["body"]["rows"]:
                img = row["after"] if row["after"] is not None else row["before"]
                cur.append((r["body"]["table"], r["body"]["op"], [v[1] for v in img]))
        elif r["type"] == "COMMIT":
            assert r["body"]["rows"] == len(cur), (r, cur)
            out.append((cur, r))
            cur = []
    assert cur == [], f"rows after the last COMMIT: {cur}"
    return out


def test_it_mysql_collector_txn_rollback(stack, bin_dir, tmp_path, unique_name, mysql_conn,
                                         db):
    """InnoDB: BEGIN; INSERT ...; ROLLBACK is not in the binlog and gives nothing on the
    topic — no CHANGE, no COMMIT, no SCHEMA — between the transactions around it."""
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.i (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB")
        c.execute(f"CREATE TABLE `{db}`.never (id INT PRIMARY KEY) ENGINE=InnoDB")
    start = master_pos(mysql_conn)
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start, txn_max_ms=50,
                        tables_include=re.escape(db) + r"\..*").start()
    try:
        with mysql_conn.cursor() as c:
            c.execute(f"USE `{db}`")
            c.execute("INSERT INTO i VALUES (1, 'before')")
            for k in range(3):
                c.execute("BEGIN")
                c.execute(f"INSERT INTO i VALUES ({10 + k}, 'rolled')")
                c.execute(f"INSERT INTO never VALUES ({k})")
                c.execute("UPDATE i SET v = 'rolled' WHERE id = 1")
                c.execute("ROLLBACK")
            c.execute("BEGIN")
            c.execute("INSERT INTO i VALUES (2, 'sp')")
            c.execute("SAVEPOINT s1")
            c.execute("INSERT INTO i VALUES (3, 'undone')")
            c.execute("ROLLBACK TO SAVEPOINT s1")
            c.execute("COMMIT")
            c.execute("INSERT INTO i VALUES (4, 'after')")
        recs = wait_for(stack, col.topic, lambda rs: [
            x[0] for x in changes(rs)] == [f"{db}.i"] * 3 and n_commits(rs) >= 3)
        time.sleep(1)                     # anything late would be here now
        recs = records(stack, col.topic)
    finally:
        assert col.stop() == 0, col.text()
    g = groups(recs)
    print(f"\nrollback: {len(recs)} records, groups {[[x[2] for x in rows] for rows, _ in g]}")
    assert [rows for rows, _ in g] == [[("i", "INSERT", [1, "before"])],
                                       [("i", "INSERT", [2, "sp"])],
                                       [("i", "INSERT", [4, "after"])]]
    assert not [r for r in recs if r["type"] == "SCHEMA" and r["body"]["table"] == "never"]
    assert [r["type"] for r in recs].count("FINISH") == 1


def test_it_mysql_collector_txn_myisam(stack, bin_dir, tmp_path, unique_name, mysql_conn, db):
    """MyISAM changes are logged as QUERY BEGIN, rows, QUERY COMMIT (no XID), one group per
    statement, right away, even inside a transaction (MariaDB 10.11, ROW format, as
    `mariadb-binlog -vv` shows). Each group is closed by exactly one COMMIT carrying its row
    count, at a position after its statements; a rolled-back mixed transaction leaves its
    MyISAM rows (they happened) and none of its InnoDB rows; one statement on both engines in
    autocommit is one XID group with both tables' rows."""
    with mysql_conn.cursor() as c:
        c.execute(f"CREATE TABLE `{db}`.i (id INT PRIMARY KEY) ENGINE=InnoDB")
        c.execute(f"CREATE TABLE `{db}`.m (id INT PRIMARY KEY) ENGINE=MyISAM")
    start = master_pos(mysql_conn)
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start, txn_max_ms=50,
                        tables_include=re.escape(db) + r"\..*").start()
    ends = []
    try:
        m = mysql_conn
        with m.cursor() as c:
            c.execute(f"USE `{db}`")

            def run(*stmts, fail=False):
                for s in stmts:
                    try:
                        c.execute(s)
                    except Exception:
                        assert fail, s
                ends.append(master_pos(m))

            run("INSERT INTO m VALUES (1)")                       # autocommit, 1 row
            run("INSERT INTO m VALUES (2), (3)")                  # autocommit, 2 rows
            run("BEGIN", "INSERT INTO m VALUES (4)", "INSERT INTO m VALUES (5)", "COMMIT")
            run("INSERT INTO m VALUES (6), (7), (1)", fail=True)  # dup key: 6, 7 stay
            run("BEGIN", "INSERT INTO i VALUES (1)", "INSERT INTO m VALUES (8)",
                "INSERT INTO i VALUES (2)", "COMMIT")
            run("BEGIN", "INSERT INTO i VALUES (3)", "INSERT INTO m VALUES (9)", "ROLLBACK")
            run("UPDATE i, m SET i.id = i.id + 100, m.id = m.id + 100 "
                "WHERE i.id = 1 AND m.id = 1")
        recs = wait_for(stack, col.topic, lambda rs: n_commits(rs) >= 9)
        time.sleep(1)                     # anything late would be here now
        recs = records(stack, col.topic)
    finally:
        assert col.stop() == 0, col.text()
    g = groups(recs)
    got = [rows for rows, _ in g]
    print(f"\nMyISAM: {len(recs)} records, {len(g)} COMMITs, groups "
          f"{[[(t, x[0]) for t, _, x in rows] for rows in got]}")
    assert got == [
        [("m", "INSERT", [1])],
        [("m", "INSERT", [2]), ("m", "INSERT", [3])],
        [("m", "INSERT", [4])],                          # a MyISAM statement = its own group
        [("m", "INSERT", [5])],
        [("m", "INSERT", [6]), ("m", "INSERT", [7])],    # the rows before the error
        [("m", "INSERT", [8])],                          # logged at once, before the InnoDB
        [("i", "INSERT", [1]), ("i", "INSERT", [2])],    # part, which is one XID group
        [("m", "INSERT", [9])],                          # ROLLBACK: MyISAM row stays, i: none
        [("m", "UPDATE", [101]), ("i", "UPDATE", [101])],  # one statement, both engines
    ], got
    # each COMMIT lies after the statements before its own and at most at their end
    # (other sessions write to the same binlog: a master position is a bound)
    run_of = [0, 1, 2, 2, 3, 4, 4, 5, 6]
    for (_, c), k in zip(g, run_of):
        p = (c["pos"]["seq"], c["pos"]["offset"])
        assert (k == 0 or pos_of(ends[k - 1]) < p) and p <= pos_of(ends[k]), (k, p, ends)
    assert all(c["body"]["txn"] == c["pos"]["gtid"] for _, c in g)
    assert len({c["body"]["txn"] for _, c in g}) == len(g)


# ------------------------------------------------------------------ one truth (issue 17, case 2)

ODD_CREATE = (
    "CREATE TABLE odd (id INT(11) NOT NULL, p POINT, g GEOMETRY, ls LINESTRING, pg POLYGON, "
    "mp MULTIPOINT, ml MULTILINESTRING, mpg MULTIPOLYGON, gc GEOMETRYCOLLECTION, y YEAR, "
    "y4 YEAR(4), ti TINYINT(1), bu BIGINT(20) UNSIGNED NOT NULL, b16 BINARY(16), "
    "vb VARBINARY(20), bl BLOB, j JSON, bt BIT(5), cb CHAR(10) CHARACTER SET binary, "
    "cbin CHAR(5) BINARY, d DECIMAL(10,2), e ENUM('a','it''s','b,c'), s SET('x','y'), "
    "tm TIME(3), dt DATETIME(6), zf INT(5) UNSIGNED ZEROFILL, si SMALLINT(3), "
    "vc VARCHAR(10) CHARACTER SET latin1, tt TINYTEXT, tb TEXT CHARACTER SET binary, "
    "u UUID, i6 INET6, PRIMARY KEY (bu, id))")
ODD_ROW = ("INSERT INTO odd (id, p, g, ls, pg, mp, ml, mpg, gc, y, y4, ti, bu, b16, vb, bl, j, "
           "bt, cb, cbin, d, e, s, tm, dt, zf, si, vc, tt, tb, u, i6) VALUES ({k}, POINT(1, 2), "
           "ST_GeomFromText('POINT(3 4)'), ST_GeomFromText('LINESTRING(0 0,1 1)'), "
           "ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'), ST_GeomFromText('MULTIPOINT(1 1,2 2)'), "
           "ST_GeomFromText('MULTILINESTRING((0 0,1 1),(2 2,3 3))'), "
           "ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)))'), "
           "ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1))'), 2001, 2155, 1, "
           "18446744073709551615, x'00112233445566778899aabbccddeeff', x'00ff', x'0001', "
           "'{{\"a\": 1}}', b'10101', 'bin', 'Ab', 12.34, 'it''s', 'x,y', '-12:34:56.789', "
           "'2024-02-29 12:34:56.123456', 42, -7, 'caf\u00e9', 'tiny', x'ff00', "
           "'0e9e2a3c-1d2b-4c5d-8e6f-7a8b9c0d1e2f', '2001:db8::1')")
ODD_ALTER = ("ALTER TABLE odd ADD COLUMN p2 POINT AFTER id, ADD COLUMN j2 JSON, "
             "ADD COLUMN mi MEDIUMINT(4) UNSIGNED, ADD COLUMN fl FLOAT, ADD COLUMN fu FLOAT UNSIGNED, "
             "ADD COLUMN db DOUBLE, ADD COLUMN ts TIMESTAMP(2) NULL, ADD COLUMN da DATE, "
             "ADD COLUMN lt LONGTEXT, ADD COLUMN mb MEDIUMBLOB, ADD COLUMN mls MULTILINESTRING, "
             "ADD COLUMN bo BOOL, ADD COLUMN i4 INET4, "
             "MODIFY vc VARCHAR(30) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '', "
             "MODIFY y YEAR(4) DEFAULT 2000")


def cols_full(r):
    return [(c["name"], c["kind"], c["sourceType"], c["nullable"], c["pk"], c["charset"],
             c["labels"], c["precision"], c["scale"]) for c in r["body"]["columns"]]


def test_it_mysql_collector_ddl_schema_equals_tablemap(stack, bin_dir, tmp_path, unique_name,
                                                       mysql_conn, db):
    """Issue 17, case 2: a table with every odd MariaDB type (the GEOMETRY family, YEAR and
    YEAR(4), display widths, BINARY / CHARACTER SET binary, JSON, BIT, ENUM/SET, fsp) created,
    rows, ALTERed, rows. The SCHEMA each DDL gets (from the catalog, at the DDL) equals,
    column by column (name, kind, source type, nullability, key position, charset, labels,
    precision, scale), the SCHEMA of the table's next TABLE_MAP (from the binlog metadata)."""
    start = master_pos(mysql_conn)
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start, txn_max_ms=50,
                        tables_include=re.escape(db) + r"\..*").start()
    try:
        with mysql_conn.cursor() as c:
            c.execute(f"USE `{db}`")
            for stmt, rows in ((ODD_CREATE, (1, 2)), (ODD_ALTER, (3, 4))):
                before = master_pos(mysql_conn)
                c.execute(stmt)
                # the collector reads the DDL while it is the table's current definition
                wait_for(stack, col.topic, lambda rs: any(
                    (r["pos"]["seq"], r["pos"]["offset"]) >= pos_of(before)
                    for r in ddl_records(rs)), timeout=60)
                for k in rows:
                    c.execute(ODD_ROW.format(k=k))
        recs = wait_for(stack, col.topic, lambda rs: sum(
            len(r["body"]["rows"]) for r in rs if r["type"] == "CHANGE") >= 4)
    finally:
        assert col.stop() == 0, col.text()
    ddl = ddl_records(recs)
    assert [r["body"]["ddl"].split()[0] for r in ddl] == ["CREATE", "ALTER"], ddl
    tried, differ = 0, []
    for r in ddl:
        i = recs.index(r)
        nxt = [x for x in recs[i + 1:] if x["type"] == "SCHEMA" and tname(x) == tname(r)]
        assert nxt and nxt[0]["body"]["ddl"] is None, nxt[:1]
        a, b = cols_full(r), cols_full(nxt[0])
        assert [c[0] for c in a] == [c[0] for c in b]
        for ca, cb in zip(a, b):
            tried += 1
            if ca != cb:
                differ.append(f"{r['body']['ddl'].split()[0]} {ca[0]}: DDL {ca[1:]} "
                              f"TABLE_MAP {cb[1:]}")
    print(f"\none truth: {tried} columns compared over 2 DDLs, {len(differ)} differ")
    assert not differ, "\n".join(differ)
    # and the binlog's view is the right one (kinds the appliers create columns from)
    first = {c["name"]: c for c in ddl[0]["body"]["columns"]}
    assert first["j"]["sourceType"] == "json", first["j"]
    last = {c["name"]: c for c in ddl[-1]["body"]["columns"]}
    for g in ("p", "p2", "g", "ls", "pg", "mp", "ml", "mpg", "gc", "mls"):
        assert last[g]["kind"] == "BYTES", last[g]
    assert last["j"]["sourceType"] == "json" and last["j"]["kind"] == "STRING", last["j"]
    assert [(c["name"], c["pk"]) for c in ddl[-1]["body"]["columns"] if c["pk"]] == \
        [("id", 2), ("bu", 1)]
    assert "disagree" not in col.text(), col.text()


def test_it_mysql_collector_ddl_schema_disagreement_logged(stack, bin_dir, tmp_path,
                                                           unique_name, mysql_conn, db):
    """When the catalog read at a DDL and the binlog's TABLE_MAP after it do disagree (here a
    MODIFY run with sql_log_bin = 0: the catalog has it, the binlog's row before it does not),
    the binlog's SCHEMA follows and the log says so at WARN, naming the table, the column,
    both types and both positions."""
    start = master_pos(mysql_conn)
    with mysql_conn.cursor() as c:
        c.execute(f"USE `{db}`")
        c.execute("CREATE TABLE w (id INT PRIMARY KEY, c INT)")
        c.execute("INSERT INTO w VALUES (1, 1)")
        c.execute("SET SESSION sql_log_bin = 0")
        try:
            c.execute("ALTER TABLE w MODIFY c BIGINT")
        finally:
            c.execute("SET SESSION sql_log_bin = 1")
        c.execute("INSERT INTO w VALUES (2, 1099511627776)")
    col = new_collector(bin_dir, stack, tmp_path, unique_name, start, txn_max_ms=50,
                        tables_include=re.escape(db) + r"\..*").start()
    try:
        recs = wait_for(stack, col.topic, lambda rs: sum(
            len(r["body"]["rows"]) for r in rs if r["type"] == "CHANGE") >= 2)
    finally:
        assert col.stop() == 0, col.text()
    sch = [r for r in recs if r["type"] == "SCHEMA"]
    assert [(r["body"]["ddl"] is not None, {c["name"]: c["sourceType"]
                                            for c in r["body"]["columns"]}["c"])
            for r in sch] == [(True, "bigint"), (False, "int"), (False, "bigint")], sch
    tm = sch[1]["pos"]
    warn = [ln for ln in col.text().splitlines() if "disagree" in ln]
    assert len(warn) == 1, col.text()
    w = warn[0]
    assert "WARN" in w.upper() and f"{db}.w" in w and "column c" in w and "bigint" in w and \
        " int" in w and f":{tm['offset']}" in w and f":{sch[0]['pos']['offset']}" in w, w
