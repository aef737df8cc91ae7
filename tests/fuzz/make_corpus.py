#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer harnesses into tests/fuzz/corpus/<harness>/.

Seeds come from the unit tests' inputs, so that fuzzing starts from valid messages:
  avro        the messages test_avro encodes (SL_AVRO_DUMP; pass the test binary: --test-avro)
  mysql_rows  TABLE_MAP + rows events of tests/fixtures/mysql/types.binlog (test_mysql_decode)
  pgoutput    the protocol 2 message sequences of tests/unit/test_pg_decode.c
  mongolog    shared-log documents as common/sl_logdoc.c writes them (docs/miner.md), one kind each
  conf        examples/*/*.conf and the syntax cases of tests/unit/test_conf.c
Run with the test venv's python (pymongo's bson; deploy/local/install makes it):
`make fuzz-corpus` does. Seeds are small (the committed corpus stays well under 1 MB)."""
import argparse
import glob
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests/fuzz/corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------------ avro
def avro(test_bin):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SL_AVRO_DUMP=tmp)
        subprocess.run([test_bin], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        for p in sorted(glob.glob(os.path.join(tmp, "*.bin"))):
            data = open(p, "rb").read()
            if len(data) <= 16384:
                put("avro", os.path.basename(p)[:-4], data)


# ------------------------------------------------------------------ mysql
def mysql():
    b = open(os.path.join(ROOT, "tests/fixtures/mysql/types.binlog"), "rb").read()
    off, crc, evs = 4, 0, []
    while off + 19 <= len(b):
        typ = b[off + 4]
        evlen = struct.unpack_from("<I", b, off + 9)[0]
        if typ == 15:
            crc = b[off + evlen - 5] == 1
        if typ == 19 or 23 <= typ <= 25:
            evs.append((typ, b[off + 19:off + evlen - (4 if crc else 0)]))
        off += evlen
    v1 = {23: 0, 24: 1, 25: 2}
    i = n = 0
    while i < len(evs):
        typ, tm = evs[i]
        i += 1
        if typ != 19:
            continue
        rows = []
        while i < len(evs) and evs[i][0] != 19 and len(rows) < 3:
            rows.append(evs[i])
            i += 1
        hint, fsp = 0, 0
        if b"t_fbt" in tm:
            hint = (1 << 2) | 1          # column 1 INET6
        if b"t_old" in tm:
            fsp = 3
        for max_rows in (0, 2, 0x40 | 0x80):
            data = bytes([max_rows, hint, fsp]) + struct.pack("<H", len(tm)) + tm
            for rt, body in rows:
                if len(data) + len(body) > 8192:
                    break
                data += bytes([v1[rt]]) + struct.pack("<H", len(body)) + body
            put("mysql_rows", "tm%03d_r%d" % (n, max_rows), data)
        n += 1


# ------------------------------------------------------------------ pgoutput
def u8(v): return struct.pack(">B", v)
def u16(v): return struct.pack(">H", v)
def u32(v): return struct.pack(">I", v & 0xFFFFFFFF)
def u64(v): return struct.pack(">Q", v)
def cstr(s): return s.encode() + b"\0"


def txt(v):
    if v is None:
        return b"n"
    if v is TOAST:
        return b"u"
    v = v.encode()
    return b"t" + u32(len(v)) + v


TOAST = object()


def relation(xid=0, relid=16384, cols=(("id", 23, -1, 1), ("v", 25, -1, 0), ("ts", 1184, 3, 0))):
    m = b"R" + (u32(xid) if xid else b"") + u32(relid) + cstr("public") + cstr("t") + b"d"
    m += u16(len(cols))
    for name, oid, typmod, key in cols:
        m += u8(key) + cstr(name) + u32(oid) + u32(typmod)
    return m


def insert(vals, xid=0, relid=16384):
    return b"I" + (u32(xid) if xid else b"") + u32(relid) + b"N" + u16(len(vals)) + \
        b"".join(txt(v) for v in vals)


def begin(final, xid): return b"B" + u64(final) + u64(0) + u32(xid)
def commit(c, end): return b"C" + u8(0) + u64(c) + u64(end) + u64(0)


def pg_seed(name, mode, msgs):
    put("pgoutput", name, bytes([mode]) + b"".join(u16(len(m)) + m for m in msgs))


def pgoutput():
    ts = "2000-01-01 00:00:00+00"
    txn = [begin(0x1000, 7), relation(),
           insert(["1", "x", ts]), insert(["2", None, ts]), insert(["3", "x", ts]),
           b"U" + u32(16384) + b"N" + u16(3) + txt("1") + txt(TOAST) + txt(None),
           b"D" + u32(16384) + b"K" + u16(3) + txt("2") + txt(None) + txt(None),
           b"T" + u32(1) + u8(0) + u32(16384),
           commit(0x1000, 0x1050)]
    pg_seed("txn_toast", 0x10, txn)
    pg_seed("txn_extras", 0x16, txn)
    types = (("i2", 21, -1, 1), ("i8", 20, -1, 0), ("n", 1700, 0x000a0006, 0), ("f4", 700, -1, 0),
             ("f8", 701, -1, 0), ("b", 16, -1, 0), ("by", 17, -1, 0), ("d", 1082, -1, 0),
             ("t", 1083, 6, 0), ("tz", 1266, -1, 0), ("ts", 1114, 3, 0), ("iv", 1186, -1, 0),
             ("bi", 1560, 10, 0), ("vb", 1562, -1, 0), ("js", 3802, -1, 0), ("in", 869, -1, 0),
             ("vc", 1043, 14, 0), ("e", 50000, -1, 0), ("dm", 50001, -1, 0), ("ar", 50002, -1, 0))
    vals = ["-32768", "-9223372036854775808", "-12.3400", "1e-45", "-Infinity", "t", "\\x00ff",
            "0001-01-01 BC", "23:59:59.999999", "23:59:59.999999-15:59",
            "294276-12-31 23:59:59.999999", "1 year 2 mons -3 days 04:05:06.789", "1000000001",
            "101", "{\"k\": [1, 2]}", "::1", "héllo", "a", "42", "{1,2}"]
    pg_seed("types", 0x02, [begin(0x2000, 8), relation(cols=types), insert(vals),
                            commit(0x2000, 0x2010)])
    # a Type message then the same Relation again (pgoutput re-sends both after an
    # invalidation; issue 19's use-after-free, regress/pgoutput/uaf_type_then_relation)
    pg_seed("type_then_relation", 0x02,
            [begin(0x3000, 9), relation(cols=(("id", 50000, -1, 1),)), insert(["a"]),
             b"Y" + u32(50000) + cstr("public") + cstr("mood"),
             relation(cols=(("id", 50000, -1, 1),)), insert(["b"]), commit(0x3000, 0x3010)])
    # protocol 2 streaming: two chunks, a subtransaction abort, a whole abort, a commit
    st = [b"S" + u32(10) + u8(1), relation(10), insert(["1", "a", None], 10),
          insert(["2", "sub", None], 11), b"E",
          b"S" + u32(20) + u8(1), relation(20), insert(["9", "aborted", None], 20), b"E",
          b"A" + u32(20) + u32(20),
          b"S" + u32(10) + u8(0), insert(["3", "c", None], 10), b"E",
          b"A" + u32(10) + u32(11),
          b"c" + u32(10) + u8(0) + u64(0x400) + u64(0x410) + u64(0)]
    pg_seed("streamed", 0x11, st)
    pg_seed("origin_message", 0x00,
            [begin(0x5000, 12), b"O" + u64(0x4ff0) + cstr("node_b"),
             b"M" + u8(1) + u64(0x5000) + cstr("prefix") + u32(3) + b"abc",
             relation(), insert(["7", "o", ts]), commit(0x5000, 0x5010)])

    # snapshot HIGH watermarks (content "public.t": the harness adds that table's SCHEMA and a
    # READ row to the transaction): alone in a transaction, after a row, and in a streamed one
    def mark(content, xid=0):
        return b"M" + (u32(xid) if xid else b"") + u8(1) + u64(0x6000) + cstr("shiftlog") + \
            u32(len(content)) + content
    pg_seed("snapshot_message", 0x00,
            [begin(0x6100, 13), relation(), mark(b"public.t"), commit(0x6100, 0x6110),
             begin(0x6200, 14), insert(["8", "m", ts]), mark(b"public.t"), mark(b"public.none"),
             commit(0x6200, 0x6210)])
    pg_seed("snapshot_message_streamed", 0x11,
            [b"S" + u32(15) + u8(1), relation(15), insert(["9", "s", None], 15),
             mark(b"public.t", 15), b"E",
             b"c" + u32(15) + u8(0) + u64(0x6300) + u64(0x6310) + u64(0)])


# ------------------------------------------------------------------ mongolog
def mongolog():
    import bson
    from bson.binary import Binary
    from bson.decimal128 import Decimal128
    from bson.int64 import Int64

    def common(pos, idhex, op, offset, ts_us=1767323045123456):
        return {"_id": idhex, "op": op, "pos": pos, "ts_us": Int64(ts_us), "offset": Int64(offset)}

    cols = [("id", "int", "int"), ("d", "decimal", "decimal(10,2)"),
            ("big", "decimal", "decimal(65,30)"), ("s", "string", "varchar(10)"),
            ("raw", "string", "varchar(10)"), ("b", "bytes", "blob"),
            ("dt", "temporal", "datetime(6)"), ("day", "temporal", "date"),
            ("bit", "bit", "bit(10)"), ("set", "set", "set('x','z')"),
            ("j", "typed", "json"), ("u", "uint", "bigint unsigned"),
            ("f", "float", "float"), ("g", "double", "double"), ("ok", "bool", "tinyint(1)"),
            ("n", "null", "int")]
    schema = common("binlog.000001:100#0", "1" + "0" * 40 + "1", "schema", 0)
    schema.update({"table": "shop.t", "db": "shop", "tbl": "t", "ddl": "CREATE TABLE t (...)",
                   "columns": [{"name": n, "kind": k, "type": t, "nullable": n != "id",
                                "precision": 10 if n == "d" else -1,
                                "scale": 2 if n == "d" else -1, "pk": 1 if n == "id" else 0}
                               for n, k, t in cols]})
    row = {"id": Int64(1), "d": Decimal128("-12.30"),
           "big": {"_t": "decimal", "v": "12345678901234567890123456789012345.123456789012345678901234567891"},
           "s": "héllo", "raw": {"_t": "text", "v": Binary(b"\xff\xfe latin1")},
           "b": Binary(b"\0\1\2"),
           "dt": {"_t": "datetime", "s": "2026-01-02 03:04:05.123456", "us": Int64(1767323045123456),
                  "p": 6},
           "day": {"_t": "date", "s": "2026-01-02", "us": Int64(20455), "p": 0},
           "bit": {"_t": "bit", "n": Int64(10), "v": Binary(b"\x02\xaa")},
           "set": ["x", "z"], "j": {"_t": "typed", "type": "json", "v": "{\"k\": 1}"},
           "u": Decimal128("18446744073709551615"), "f": 1.5, "g": -0.0, "ok": True, "n": None}
    ch = []
    for sub in range(2):
        d = common("binlog.000001:200#%d" % sub, "1" + "0" * 39 + "%d2" % sub, "update", 1)
        d.update({"sub": sub, "table": "shop.t", "db": "shop", "tbl": "t", "txn": "0-1-42",
                  "schema": "00000000deadbeef", "server_id": Int64(1), "before": row,
                  "after": dict(row, s="x%d" % sub,
                                m={"_t": "missing", "why": "unchanged_toast"})})
        d["after"].pop("m")
        ch.append(d)
    cm = common("binlog.000001:300#2", "1" + "0" * 38 + "023", "commit", 2)
    cm.update({"txn": "0-1-42", "rows": Int64(2), "server_id": Int64(1)})
    gap = common("binlog.000001:300#2", "1" + "0" * 38 + "024", "gap", -1)
    gap.update({"table": "skip.t", "from_offset": Int64(3), "to_offset": Int64(5),
                "reason": "retention"})
    pgpos = common("0/16B3748:0/16B3700#0", "2" + "0" * 40 + "2", "insert", 7)
    pgpos.update({"sub": 0, "table": "public.t", "db": "public", "tbl": "t", "txn": "",
                  "after": {"id": Int64(5), "tz": {"_t": "timestamptz", "s": "infinity", "p": 6,
                                                    "tz": 3600}}})
    # a snapshot row (op read, wire format v2): after image only
    rd = common("binlog.000001:400#0", "1" + "0" * 38 + "042", "read", 4)
    rd.update({"sub": 0, "table": "shop.t", "db": "shop", "tbl": "t", "txn": "",
               "after": dict(row, s="snap")})
    enc = bson.encode
    put("mongolog", "read_commit", enc(rd) + enc(cm))
    put("mongolog", "schema_change_commit", b"".join(enc(x) for x in [schema] + ch + [cm]))
    put("mongolog", "change_only", enc(ch[0]))
    put("mongolog", "gap_skipped_then_commit", enc(gap) + enc(cm))
    put("mongolog", "pg_change", enc(pgpos))


# ------------------------------------------------------------------ conf
def conf():
    for p in sorted(glob.glob(os.path.join(ROOT, "examples/*/*.conf"))):
        put("conf", os.path.basename(os.path.dirname(p)) + "_" + os.path.basename(p),
            open(p, "rb").read())
    put("conf", "every_type", b"""# every entry type of the harness's table
source.name = shop
source.type = postgresql
source.host = "db.example # not a comment"
source.port = 5432
source.password = 's3cr\\et "quoted"'
verbose = yes
buffer.size = 16MiB
flush.interval.ms = 250ms
http.listen = 0.0.0.0:8080
kafka.bootstrap.servers = 127.0.0.1:19092
kafka.client.id = "tab\\there"
\x00source.port=6543\nkafka.acks=all\nsource.password=x\n""")
    put("conf", "errors", b"source.name = a\nsource.nme = b\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test-avro", help="path of the built test_avro (for the avro seeds)")
    a = ap.parse_args()
    for h in ("avro", "mysql_rows", "pgoutput", "mongolog", "conf"):
        if h != "avro" or a.test_avro:
            shutil.rmtree(os.path.join(OUT, h), ignore_errors=True)
    if a.test_avro:
        avro(a.test_avro)
    mysql()
    pgoutput()
    mongolog()
    conf()


if __name__ == "__main__":
    sys.exit(main())
