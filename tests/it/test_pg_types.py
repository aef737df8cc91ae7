"""PostgreSQL type matrix (issue 7): every type of schemas/README.md "PostgreSQL 15 types" with
edge values, published by the collector and compared with psycopg2 reading the same rows
(psycopg2's own parsing for numbers, bytes and booleans; the server's text output, under the
collector's session settings, for everything carried as text)."""

import struct

from test_pg_collector import pgsrc, rows_of, wait_records  # noqa: F401  (fixture)

COLUMNS = [
    # name, type, edge values (SQL literals)
    ("i2", "int2", ["-32768", "32767", "0"]),
    ("i4", "int4", ["-2147483648", "2147483647", "0"]),
    ("i8", "int8", ["-9223372036854775808", "9223372036854775807", "0"]),
    ("o", "oid", ["4294967295", "0", "1"]),
    ("num", "numeric", ["'NaN'", "'Infinity'", "'-Infinity'"]),
    ("num2", "numeric(40,10)", ["-123456789012345678901234567890.0123456789", "0.0000000001", "0"]),
    ("f4", "float4", ["'NaN'", "'Infinity'", "'-3.4028235e38'"]),
    ("f4b", "float4", ["'1.4e-45'", "'-0'", "0.1"]),
    ("f8", "float8", ["'NaN'", "'-Infinity'", "'1.7976931348623157e308'"]),
    ("f8b", "float8", ["'5e-324'", "'-0'", "0.1"]),
    ("bo", "bool", ["true", "false", "NULL"]),
    ("tx", "text", ["''", "'é ü 日本 😀'", "'a\\b\"c''d'"]),
    ("vc", "varchar(5)", ["'abcde'", "''", "NULL"]),
    ("ch", "char(4)", ["'ab'", "''", "'abcd'"]),
    ("ba", "bytea", ["'\\x'", "'\\x00ff10'", "decode(repeat('ab', 1000), 'hex')"]),
    ("d", "date", ["'infinity'", "'4713-01-01 BC'", "'2024-02-29'"]),
    ("d2", "date", ["'-infinity'", "'5874897-12-31'", "'1970-01-01'"]),
    ("t", "time", ["'00:00:00'", "'23:59:59.999999'", "'24:00:00'"]),
    ("t3", "time(3)", ["'12:34:56.789'", "'00:00:00.001'", "NULL"]),
    ("ttz", "timetz", ["'00:00:00+14:59'", "'23:59:59.999999-15:59'", "'12:00:00+05:30'"]),
    ("ts", "timestamp", ["'infinity'", "'4713-01-01 00:00:00 BC'", "'294276-12-31 23:59:59.999999'"]),
    ("ts0", "timestamp(0)", ["'2000-01-01 00:00:00'", "'-infinity'", "'1969-12-31 23:59:59'"]),
    ("tstz", "timestamptz", ["'infinity'", "'2024-02-29 12:00:00.123456+05:30'", "'0001-01-01 00:00:00+00 BC'"]),
    ("iv", "interval", ["'1 year 2 mons -3 days 04:05:06.789'", "'-178000000 years'", "'0'"]),
    ("u", "uuid", ["'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "'00000000-0000-0000-0000-000000000000'", "NULL"]),
    ("js", "json", ["'{\"b\": 1,  \"a\": [1, 2], \"a\": null}'", "'\"\\u0000x\"'", "'[]'"]),
    ("jb", "jsonb", ["'{\"b\": 1,  \"a\": [1, 2.50]}'", "'null'", "'\"x\"'"]),
    ("ai", "int4[]", ["'{1,NULL,3}'", "'{}'", "'{{1,2},{3,4}}'"]),
    ("at", "text[]", ["ARRAY['a b', 'c', '\"', '\\', NULL]", "'{}'", "NULL"]),
    ("en", "mood", ["'sad'", "'happy'", "'ok ok'"]),
    ("ip", "inet", ["'192.168.0.1/24'", "'::ffff:1.2.3.4'", "'2001:db8::1'"]),
    ("cidr_", "cidr", ["'10.0.0.0/8'", "'2001:db8::/32'", "NULL"]),
    ("mac", "macaddr", ["'08:00:2b:01:02:03'", "'ff:ff:ff:ff:ff:ff'", "NULL"]),
    ("mac8", "macaddr8", ["'08:00:2b:01:02:03:04:05'", "NULL", "NULL"]),
    ("mo", "money", ["'-92233720368547758.08'", "'92233720368547758.07'", "'1234.56'"]),
    ("bi", "bit(10)", ["B'1000000001'", "B'0000000000'", "B'1111111111'"]),
    ("vb", "varbit(20)", ["B''", "B'1'", "B'10101010101'"]),
    ("x", "xml", ["'<a b=\"1\">t &amp; u</a>'", "'text only'", "NULL"]),
    ("dom", "posint", ["1", "2147483647", "NULL"]),
    ("comp", "pair", ["ROW(1, 'a b')", "ROW(NULL, '')", "NULL"]),
    ("pt", "point", ["'(1.5,2)'", "'(-0,1e300)'", "NULL"]),
    ("bx", "box", ["'((0,0),(1,1))'", "NULL", "NULL"]),
    ("pg", "polygon", ["'((0,0),(1,0),(0,1))'", "NULL", "NULL"]),
    ("rng", "int4range", ["'[1,10)'", "'empty'", "NULL"]),
    ("lsn_", "pg_lsn", ["'16/B374D848'", "NULL", "NULL"]),
]

SESSION = ("SET DateStyle = ISO; SET IntervalStyle = postgres; SET TimeZone = 'UTC'; "
           "SET extra_float_digits = 3; SET bytea_output = hex; SET lc_monetary = 'C'")

TEMPORAL = {"date": "DATE", "time": "TIME", "timetz": "TIMETZ", "timestamp": "DATETIME",
            "timestamptz": "TIMESTAMPTZ", "interval": "INTERVAL"}


def _micros_sql(name, base):
    """The server's own exact number for a temporal value (numeric extract, PG 14+)."""
    if base == "date":
        return f"CASE WHEN isfinite({name}) THEN {name} - DATE '1970-01-01' END"
    if base in ("time", "timetz"):
        return f"(extract(epoch FROM {name}::time) * 1000000)::bigint"
    if base in ("timestamp", "timestamptz"):
        return f"CASE WHEN isfinite({name}) THEN extract(epoch FROM {name}) * 1000000 END"
    return "NULL::int"


def test_pg_type_matrix(stack, pgsrc):
    s = pgsrc
    s.sql("CREATE TYPE mood AS ENUM ('sad', 'ok ok', 'happy')",
          "CREATE DOMAIN posint AS int4 CHECK (VALUE > 0)",
          "CREATE TYPE pair AS (a int, b text)")
    cols = ", ".join(f"{n} {t}" for n, t, _ in COLUMNS)
    s.sql(f"CREATE TABLE types (id int PRIMARY KEY, {cols})")
    s.publish_all()
    p = s.start()
    for row in range(3):
        vals = ", ".join(v[row] for _, _, v in COLUMNS)
        s.sql(f"INSERT INTO types VALUES ({row}, {vals})")
    s.sql("INSERT INTO types (id) VALUES (3)")  # every column NULL
    recs = wait_records(stack, s.topic, lambda r: len(rows_of(r, "types")) >= 4)
    s.stop(p)
    got = {r[3]["id"][1]: r[3] for r in rows_of(recs, "types")}
    schema = [x for x in recs if x["type"] == "SCHEMA" and x["body"]["table"] == "types"][-1]["body"]
    kinds = {c["name"]: (c["kind"], c["sourceType"], c["labels"]) for c in schema["columns"]}
    assert kinds["en"][2] == ["sad", "ok ok", "happy"] and kinds["dom"][1] == "posint"
    assert kinds["f4"][0] == "FLOAT" and kinds["f8"][0] == "DOUBLE"

    cur = s.conn.cursor()
    cur.execute(SESSION)
    names = [n for n, _, _ in COLUMNS]
    exprs = []
    for n, typ, _ in COLUMNS:
        base = typ.split("(")[0].split("[")[0]
        exprs += ["NULL::int" if base in TEMPORAL or typ.endswith("[]") or base in ("pair", "posint")
                  else n, f"{n}::text", _micros_sql(n, base)]
    cur.execute("SELECT id, " + ", ".join(exprs) + " FROM types ORDER BY id")
    problems = []
    for rec in cur.fetchall():
        rid, vals = rec[0], rec[1:]
        for i, (name, typ, _) in enumerate(COLUMNS):
            value, text, micros = vals[3 * i], vals[3 * i + 1], vals[3 * i + 2]
            kind, v = got[rid][name]
            base = typ.split("(")[0].split("[")[0]
            if text is None:
                exp = ("null", None)
            elif typ.endswith("[]"):
                exp = ("typed", ({"int4[]": "int4[]", "text[]": "text[]"}[typ], text))
            elif base in ("int2", "int4", "int8", "oid", "posint"):
                exp = ("int", int(text))
            elif base == "numeric":
                exp = ("decimal", text)
            elif base == "float4":
                exp = ("real", struct.unpack("f", struct.pack("f", float(text)))[0])
            elif base == "float8":
                exp = ("real", float(text))
            elif base == "bool":
                exp = ("bool", value)
            elif base == "char":
                exp = ("string", value)  # blank-padded as stored (::text would trim)
            elif base in ("text", "varchar", "json", "jsonb", "mood"):
                exp = ("string", text)
            elif base == "bytea":
                exp = ("bytes", bytes(value))
            elif base in ("bit", "varbit"):
                nb = len(text)
                exp = ("bit", (nb, (int(text, 2) if text else 0).to_bytes((nb + 7) // 8, "big")))
            elif base in TEMPORAL:
                if micros is not None:
                    micros = int(micros)
                    if not -2**63 <= micros < 2**63:
                        micros = None  # beyond int64 µs since 1970: text only
                exp = ("temporal", {"kind": TEMPORAL[base], "text": text, "micros": micros})
                if kind == "temporal":
                    v = {"kind": v["kind"], "text": v["text"], "micros": v["micros"]}
            else:
                tname = {"cidr_": "cidr", "lsn_": "pg_lsn", "mac": "macaddr", "mac8": "macaddr8",
                         "comp": "pair", "rng": "int4range"}.get(name, base)
                # the type's output function, as psycopg2 returns it (inet::text adds /32)
                exp = ("typed", (tname, value if isinstance(value, str) else text))
            if base in ("float4", "float8") and kind == "real" and exp[0] == "real":
                same = (v != v and exp[1] != exp[1]) or (v == exp[1] and str(v) == str(exp[1]))
            else:
                same = (kind, v) == exp
            if not same:
                problems.append(f"row {rid} {name} {typ}: got {(kind, v)!r}, psycopg2 {exp!r}")
    assert not problems, "\n".join(problems)
