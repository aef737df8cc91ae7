"""PostgreSQL snapshot backend (issue 20, collector/snapshot_pg.c) against the real local
PostgreSQL 15, driven alone by it_pg_snapread:

  it_pg_snapshot_values_equal_stream   every type of the PostgreSQL type matrix: the values a
                                       chunk reads are exactly the values the collector's stream
                                       (pgoutput) publishes for the same rows, column for column
                                       (same names, same order, generated columns left out)
  it_pg_snapshot_keyset_paging         a composite primary key, a unique index on NOT NULL columns
                                       (no primary key), hostile names (quotes, dots, commas,
                                       upper case, spaces) in schema, table, columns and key
                                       values: chunks of 7 rows cover the table exactly once in
                                       key order, and a continuation given back resumes after it;
                                       a table without a usable key is refused with a sentence
  it_pg_snapshot_publication_scope     only the publication's tables that tables.include keeps,
                                       in a stable order; PostgreSQL 15 column lists and row
                                       filters are read as the stream publishes them
"""

import subprocess
import time

import pytest

import slavro
from test_pg_collector import pgsrc, rows_of, wait_records  # noqa: F401  (fixture)
from test_pg_types import COLUMNS


def snapread(stack, test_bin_dir, s, *args, check=True, include=""):
    cmd = [str(test_bin_dir / "it_pg_snapread"), f"host={stack['SL_PG_HOST']}",
           f"port={stack['SL_PG_PORT']}", f"user={stack['SL_PG_CDC_USER']}",
           f"password={stack['SL_PG_CDC_PASSWORD']}", f"database={s.db}",
           f"publication={s.pub}", f"source={s.name}", f"include={include}", *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def chunks(out):
    """[(nrows, key indexes, last, [decoded record, ...]), ...] of a read."""
    res = []
    for line in out.splitlines():
        w = line.split(" ")
        if w[0] == "chunk":
            res.append((int(w[1]), [int(x) for x in w[3].split(",") if x], w[4], []))
        elif w[0] == "rec":
            res[-1][3].append(slavro.decode(bytes.fromhex(w[1])))
    return res


def read_rows(stack, test_bin_dir, s, schema, table, limit, after="-"):
    """(chunks, [(columns, after image)]) of a whole table read."""
    cs = chunks(snapread(stack, test_bin_dir, s, "read", schema, table, limit, after).stdout)
    rows = [(r["body"]["columns"], r["body"]["rows"][0]["after"]) for c in cs for r in c[3]]
    return cs, rows


def test_it_pg_snapshot_values_equal_stream(stack, test_bin_dir, pgsrc):
    s = pgsrc
    s.sql("CREATE TYPE mood AS ENUM ('sad', 'ok ok', 'happy')",
          "CREATE DOMAIN posint AS int4 CHECK (VALUE > 0)",
          "CREATE TYPE pair AS (a int, b text)")
    cols = ", ".join(f"{n} {t}" for n, t, _ in COLUMNS)
    # a dropped column and a generated one: pgoutput leaves both out
    s.sql(f"CREATE TABLE types (id int PRIMARY KEY, gone int, {cols}, "
          "gen int8 GENERATED ALWAYS AS (i8 / 2) STORED)",
          "ALTER TABLE types DROP COLUMN gone")
    s.publish_all()
    p = s.start()
    for row in range(3):
        vals = ", ".join(v[row] for _, _, v in COLUMNS)
        s.sql(f"INSERT INTO types (id, {', '.join(n for n, _, _ in COLUMNS)}) VALUES ({row}, {vals})")
    s.sql("INSERT INTO types (id) VALUES (3)")  # every column NULL
    recs = wait_records(stack, s.topic, lambda r: len(rows_of(r, "types")) >= 4)
    s.stop(p)
    stream = {}
    names = None
    for r in recs:
        if r["type"] == "CHANGE" and r["body"]["table"] == "types":
            names = r["body"]["columns"]
            for row in r["body"]["rows"]:
                stream[row["after"][0][1]] = row["after"]
    assert sorted(stream) == [0, 1, 2, 3]

    cs, rows = read_rows(stack, test_bin_dir, s, "public", "types", 3)
    assert [c[0] for c in cs] == [3, 1]
    assert all(c[1] == [0] for c in cs)  # the key: column 0 (id)
    assert len(rows) == 4
    problems = []
    for columns, after in rows:
        assert columns == names, (columns, names)
        want = stream[after[0][1]]
        for name, w, g in zip(columns, want, after):
            if repr(w) != repr(g):  # NaN != NaN; -0.0 == 0.0
                problems.append(f"id {after[0][1]} {name}: stream {w!r} snapshot {g!r}")
    assert not problems, "\n".join(problems)


HOSTILE_SCHEMA = 'Sch."e,ma'
HOSTILE_TABLE = 'Ta ble."x"'


def qi(name):
    return '"' + name.replace('"', '""') + '"'


def test_it_pg_snapshot_keyset_paging(stack, test_bin_dir, pgsrc):
    s = pgsrc
    t = f"{qi(HOSTILE_SCHEMA)}.{qi(HOSTILE_TABLE)}"
    s.sql(f"CREATE SCHEMA {qi(HOSTILE_SCHEMA)}",
          # composite primary key over text with separators and an int, declared out of
          # column order
          f'CREATE TABLE {t} (v text, "K.2" int, "k,1" text, PRIMARY KEY ("k,1", "K.2"))',
          f"""INSERT INTO {t} SELECT 'v' || i, i / 3, (ARRAY['a', 'A', 'b,c', '%', 'é"''x',
              ' sp', ''])[1 + i % 7] FROM generate_series(0, 60) i""",
          # no primary key: a unique index on NOT NULL columns (a nullable unique one and a
          # partial one are not usable and must not be chosen)
          "CREATE TABLE uq (a int, b text NOT NULL, c int NOT NULL, d int)",
          "CREATE UNIQUE INDEX uq_nullable ON uq (a)",
          "CREATE UNIQUE INDEX uq_partial ON uq (c) WHERE c > 10",
          "CREATE UNIQUE INDEX uq_ok ON uq (b, c)",
          "INSERT INTO uq SELECT i, 'b' || (i % 4), i, i FROM generate_series(1, 30) i",
          "CREATE TABLE nokey (a int, b text)",
          "INSERT INTO nokey VALUES (1, 'x')",
          "ALTER TABLE nokey REPLICA IDENTITY FULL",
          "ALTER TABLE uq REPLICA IDENTITY FULL")
    s.publish_all()

    cs, rows = read_rows(stack, test_bin_dir, s, HOSTILE_SCHEMA, HOSTILE_TABLE, 7)
    assert [c[0] for c in cs] == [7] * 8 + [5]
    assert all(c[1] == [2, 1] for c in cs)
    assert rows[0][0] == ["v", "K.2", "k,1"]
    got = [(a[2][1], a[1][1], a[0][1]) for _, a in rows]
    cur = s.sql(f'SELECT "k,1", "K.2", v FROM {t} ORDER BY "k,1", "K.2"')
    want = [tuple(r) for r in cur.fetchall()]
    assert got == want
    # a continuation given back resumes right after its row (a restart mid-table)
    third = cs[2][2]
    _, rest = read_rows(stack, test_bin_dir, s, HOSTILE_SCHEMA, HOSTILE_TABLE, 7, third)
    assert [(a[2][1], a[1][1], a[0][1]) for _, a in rest] == want[21:]

    cs, rows = read_rows(stack, test_bin_dir, s, "public", "uq", 7)
    assert all(c[1] == [1, 2] for c in cs)  # b, c: uq_ok
    assert [(a[1][1], a[2][1]) for _, a in rows] == \
        [tuple(r) for r in s.sql("SELECT b, c FROM uq ORDER BY b, c").fetchall()]

    p = snapread(stack, test_bin_dir, s, "once", "public", "nokey", 7, check=False)
    assert p.returncode == 2, p.stderr
    assert "no primary key and no unique index on NOT NULL columns" in p.stderr
    p = snapread(stack, test_bin_dir, s, "once", "public", "absent", 7, check=False)
    assert p.returncode == 3, p.stderr
    p = snapread(stack, test_bin_dir, s, "once", "public", "uq", 7, "x,y,z", check=False)
    assert p.returncode == 1 and "does not fit its key" in p.stderr


def test_it_pg_snapshot_key_range(stack, test_bin_dir, pgsrc):
    """A key range (lo, hi] given as JSON texts reads exactly the rows the chunker's order puts
    after lo and up to hi (composite key of hostile text and an int, in chunks of 4); bounds
    that do not fit the key are refused with a sentence, never spliced into SQL."""
    import json
    s = pgsrc
    t = f"{qi(HOSTILE_SCHEMA)}.{qi(HOSTILE_TABLE)}"
    s.sql(f"CREATE SCHEMA {qi(HOSTILE_SCHEMA)}",
          f'CREATE TABLE {t} (v text, "K.2" int, "k,1" text, PRIMARY KEY ("k,1", "K.2"))',
          f"""INSERT INTO {t} SELECT 'v' || i, i / 3, (ARRAY['a', 'A', 'b,c', '%', 'é"''x',
              ' sp', ''])[1 + i % 7] FROM generate_series(0, 40) i""")
    s.publish_all()
    want = [tuple(r) for r in s.sql(f'SELECT "k,1", "K.2" FROM {t} ORDER BY "k,1", "K.2"')]
    n = len(want)

    def ranged(lo, hi):
        args = [json.dumps(list(want[lo])) if lo is not None else "-",
                json.dumps(list(want[hi])) if hi is not None else "-"]
        out = snapread(stack, test_bin_dir, s, "read", HOSTILE_SCHEMA, HOSTILE_TABLE, 4, "-",
                       *args).stdout
        cs = chunks(out)
        assert all(c[0] <= 4 for c in cs)
        return [(r["body"]["rows"][0]["after"][2][1], r["body"]["rows"][0]["after"][1][1])
                for c in cs for r in c[3]]
    for lo, hi in [(None, 9), (9, None), (2, 30), (0, 0), (12, 13), (n - 2, n - 1)]:
        assert ranged(lo, hi) == want[(lo + 1 if lo is not None else 0):
                                      (hi + 1 if hi is not None else n)], (lo, hi)
    for bad, code, words in (('[1]', 1, "bound has 1 value"), ('["a", "x"]', 1, "integer"),
                             ('["a", 1, 2]', 1, "bound has 3 value"), ('[null, 1]', 1, "null")):
        p = snapread(stack, test_bin_dir, s, "read", HOSTILE_SCHEMA, HOSTILE_TABLE, 4, "-", bad,
                     check=False)
        assert p.returncode == code and words in p.stderr, (bad, p.stderr)
        assert "invalid" in p.stderr.lower().rsplit("(", 1)[1], p.stderr  # refused, not DB


def test_it_pg_snapshot_publication_scope(stack, test_bin_dir, pgsrc):
    s = pgsrc
    s.sql("CREATE SCHEMA other",
          "CREATE TABLE b (id int PRIMARY KEY, x text, secret text)",
          "CREATE TABLE a (id int PRIMARY KEY)",
          "CREATE TABLE other.c (id int PRIMARY KEY)",
          "CREATE TABLE unpublished (id int PRIMARY KEY)",
          "CREATE TABLE noident (id int)",
          "INSERT INTO b SELECT i, 'x' || i, 's' FROM generate_series(1, 20) i",
          f'CREATE PUBLICATION "{s.pub}" FOR TABLE b (id, x) WHERE (id % 2 = 0), a, other.c, '
          "noident")
    out = snapread(stack, test_bin_dir, s, "tables").stdout.splitlines()
    # a table whose changes the stream refuses is listed as skipped, with why
    assert out[3].startswith("skipped public\tnoident\t") and "REPLICA IDENTITY" in out[3]
    assert out[:3] == ["table other\tc", "table public\ta", "table public\tb"]
    assert len(out) == 4
    out = snapread(stack, test_bin_dir, s, "tables", include=r"public\.[ab]").stdout
    assert out.splitlines() == ["table public\ta", "table public\tb"]

    # what the stream publishes for the same rows: only id and x, only even ids
    p = s.start()
    s.sql("INSERT INTO b SELECT i, 'x' || i, 's' FROM generate_series(21, 24) i")
    recs = wait_records(stack, s.topic, lambda r: len(rows_of(r, "b")) >= 2)
    s.stop(p)
    streamed = [r for r in recs if r["type"] == "CHANGE" and r["body"]["table"] == "b"]
    _, rows = read_rows(stack, test_bin_dir, s, "public", "b", 100)
    assert rows[0][0] == streamed[0]["body"]["columns"] == ["id", "x"]
    assert [a[0][1] for _, a in rows] == list(range(2, 25, 2))
    assert rows[-1][1] == streamed[-1]["body"]["rows"][-1]["after"]
    p = snapread(stack, test_bin_dir, s, "once", "public", "unpublished", 7, check=False)
    assert p.returncode == 3, p.stderr


def test_it_pg_snapshot_records_initial_only(stack, pgsrc):
    """snapshot.mode = initial_only through the collector: the collector copies every table and
    exits 0 by itself; each chunk's READ rows sit in their HIGH watermark's transaction (same
    commit LSN, rows 0..n-1, its COMMIT counts them), an empty table gets its SCHEMA (with a
    COMMIT), a table the stream never saw a change of gets a SCHEMA built from the catalog that
    is exactly the stream's: when the stream later sends its own Relation, no second SCHEMA."""
    s = pgsrc
    s.sql("CREATE TABLE quiet (id int PRIMARY KEY, gone int, v text, g int GENERATED ALWAYS AS "
          "(id * 2) STORED, ts timestamptz(3))",
          "ALTER TABLE quiet DROP COLUMN gone",
          "INSERT INTO quiet (id, v, ts) SELECT i, 'v' || i, '2026-01-01 00:00:00.123+02' FROM "
          "generate_series(1, 5) i",
          "CREATE TABLE empty (id int PRIMARY KEY)",
          'CREATE TABLE "Hostile.T" ("K ey" text PRIMARY KEY, "x""y" int)',
          """INSERT INTO "Hostile.T" VALUES ('a,b', 1), ('%', 2), ('Z', 3)""")
    s.publish_all()
    rc, log = s.run_to_exit(timeout=120, **{"snapshot.mode": "initial_only",
                                            "snapshot.chunk.rows": "2"})
    assert rc == 0, log
    assert "the snapshot is complete; stopping" in log
    recs = read_topic_all(stack, s.topic)
    schemas = [r for r in recs if r["type"] == "SCHEMA"]
    assert sorted(r["body"]["table"] for r in schemas) == ["Hostile.T", "empty", "quiet"]
    quiet = [c for c in schemas if c["body"]["table"] == "quiet"][0]["body"]
    assert [c["name"] for c in quiet["columns"]] == ["id", "v", "ts"]
    assert [c["pk"] for c in quiet["columns"]] == [1, 0, 0]
    reads = [r for r in recs if r["type"] == "CHANGE"]
    assert all(r["body"]["op"] == "READ" for r in reads)
    got = {(r["body"]["table"], row["after"][0][1]): row["after"] for r in reads
           for row in r["body"]["rows"]}
    assert sorted(k for k in got if k[0] == "quiet") == [("quiet", i) for i in range(1, 6)]
    assert sorted(k[1] for k in got if k[0] == "Hostile.T") == ["%", "Z", "a,b"]
    assert got[("quiet", 3)][1] == ("string", "v3")
    # every READ batch in a transaction closed by a COMMIT that counts its rows
    for r in reads:
        seq = r["pos"]["seq"]
        commit = [c for c in recs if c["type"] == "COMMIT" and c["pos"]["seq"] == seq]
        assert len(commit) == 1, r["pos"]
        rows = sum(len(x["body"]["rows"]) for x in reads if x["pos"]["seq"] == seq)
        assert commit[0]["body"]["rows"] == rows
        assert r["pos"]["row"] + len(r["body"]["rows"]) <= rows
    empty = [c for c in schemas if c["body"]["table"] == "empty"][0]
    assert [c for c in recs if c["type"] == "COMMIT" and c["pos"]["seq"] == empty["pos"]["seq"]]



def test_it_pg_snapshot_catalog_schema_is_the_streams(stack, pgsrc):
    """A table the stream never saw a change of gets, at its snapshot, a SCHEMA built from the
    catalog; when the stream later sends its own Relation (same session), it is the same: no
    second SCHEMA, and the INSERT carries the same schema id as the READ rows. Then a
    re-snapshot of the table requested in SQL copies it again while streaming."""
    s = pgsrc
    s.sql("CREATE TABLE quiet (id int PRIMARY KEY, gone int, v varchar(9), g int GENERATED "
          "ALWAYS AS (id * 2) STORED, n numeric(7,2), ts timestamptz(3))",
          "ALTER TABLE quiet DROP COLUMN gone",
          "INSERT INTO quiet (id, v, n) SELECT i, 'v' || i, i / 3.0 FROM generate_series(1, 5) i",
          "CREATE TABLE keyfull (a int NOT NULL, b text NOT NULL, c int)",
          "CREATE UNIQUE INDEX keyfull_ab ON keyfull (a, b)",
          "ALTER TABLE keyfull REPLICA IDENTITY USING INDEX keyfull_ab",
          "INSERT INTO keyfull VALUES (1, 'x', 1), (2, 'y', 2)")
    s.publish_all()
    p = s.start(**{"snapshot.mode": "initial", "snapshot.chunk.rows": "2"})
    deadline = time.time() + 60
    while "snapshot: finished" not in p.log.read_text():
        assert time.time() < deadline and p.poll() is None, p.log.read_text()
        time.sleep(0.1)
    s.sql("INSERT INTO quiet (id, v) VALUES (6, 'six')",
          "UPDATE keyfull SET c = 3 WHERE a = 1")
    recs = wait_records(stack, s.topic, lambda r: sum(
        x["type"] == "CHANGE" and x["body"]["op"] in ("INSERT", "UPDATE") for x in r) >= 2)
    # a re-snapshot of one table requested in SQL (docs/snapshot.md) while streaming
    s.sql(f"SELECT pg_logical_emit_message(true, 'shiftlog', '{s.name}:S:public.quiet')")

    def quiet_reads(r):
        return sum(len(x["body"]["rows"]) for x in r if x["type"] == "CHANGE" and
                   x["body"]["op"] == "READ" and x["body"]["table"] == "quiet")
    again = wait_records(stack, s.topic, lambda r: quiet_reads(r) >= 11)
    assert quiet_reads(again) == 11  # 5 at first, then 6
    s.stop(p)
    for table in ("quiet", "keyfull"):
        sch = [r for r in recs if r["type"] == "SCHEMA" and r["body"]["table"] == table]
        assert len(sch) == 1, [x["body"] for x in sch]
        ids = {r["body"]["op"]: r["body"]["schemaId"] for r in recs
               if r["type"] == "CHANGE" and r["body"]["table"] == table}
        assert len(set(ids.values())) == 1 and len(ids) == 2, ids


def read_topic_all(stack, topic):
    from test_pg_collector import read_topic
    return read_topic(stack, topic)
