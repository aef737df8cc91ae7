"""slavro: the independent oracle for shiftlog's wire format.

Decodes a shiftlog Kafka message value with fastavro alone (no shiftlog C
code): checks the single-object header (C3 01 + 8-byte little-endian
CRC-64-AVRO fingerprint of one of schemas/shiftlog_record_v1.avsc,
_v2.avsc and _v3.avsc, computed here by fastavro from the schema files)
and decodes the Avro body with that version's schema (v2 = v1 + op READ,
v3 = v2 + a Column's default).

    import slavro
    rec = slavro.decode(msg.value())        # dict, see below
    slavro.fingerprint_hex()                # the writer's (v3), as in the sl.schema header
    slavro.fingerprint_hex(1)               # v1's
    slavro.to_json(rec)                     # the shape `shiftlog cat` prints
    slavro.encode(rec, version=2)           # a message value from decode()'s dict shape

decode() returns the record with the schema's field names:
    {"type": "CHANGE"|"COMMIT"|"FINISH"|"SCHEMA", "source": str,
     "pos": {"kind": "NONE"|"MYSQL"|"POSTGRESQL", "seq": int, "offset": int,
             "row": int, "file": str, "gtid": str},      # seq/offset unsigned
     "body": {...}}                                      # ChangeBatch/Commit/...
ChangeBatch.schemaId is made unsigned too. Every column value (items of a
row's "before"/"after") becomes a (kind, value) pair, kind as shiftlog names
it (sl_val_kind_name):
    ("null", None) ("bool", bool) ("int", int) ("uint", int)
    ("real", float)   float and double: fastavro returns both as a Python float
                      (exact: a float32 is widened exactly); the column's kind
                      in the TableSchema says which it was
    ("decimal", "-12.30") ("string", str) ("bytes", bytes)
    ("temporal", {"kind": "DATE", "text": ..., "micros": int|None,
                  "precision": int, "tzOffsetSec": int|None})
    ("bit", (nbits, bytes)) ("set", [labels]) ("typed", (type, text))
    ("missing", "UNCHANGED_TOAST"|"NOT_IN_IMAGE")
Errors raise SlavroError with the cause (bad magic, unknown fingerprint,
truncated or trailing data).
"""

import base64
import io
import json
import math
import os

import fastavro
from fastavro.schema import fingerprint as _fingerprint
from fastavro.schema import parse_schema, to_parsing_canonical_form

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas")
VERSIONS = (1, 2, 3)
WRITER_VERSION = VERSIONS[-1]


def _load(version):
    with open(os.path.join(SCHEMA_DIR, "shiftlog_record_v%d.avsc" % version), encoding="utf-8") as f:
        js = json.load(f)
    canonical = to_parsing_canonical_form(js)
    # fastavro prints the fingerprint as the 8 bytes in wire order (little-endian)
    return {"parsed": parse_schema(js), "canonical": canonical,
            "fp": bytes.fromhex(_fingerprint(canonical, "CRC-64-AVRO"))}


_SCHEMAS = {v: _load(v) for v in VERSIONS}
_BY_FP = {s["fp"]: v for v, s in _SCHEMAS.items()}
_NS = "io.shiftlog.v1."    # v2 kept v1's names (Avro resolution matches names)
_U64 = (1 << 64) - 1


class SlavroError(ValueError):
    pass


def canonical_form(version=WRITER_VERSION):
    """Parsing Canonical Form of the schema, as fastavro computes it."""
    return _SCHEMAS[version]["canonical"]


def fingerprint(version=WRITER_VERSION):
    """CRC-64-AVRO fingerprint of a schema version as an unsigned int."""
    return int.from_bytes(_SCHEMAS[version]["fp"], "little")


def fingerprint_hex(version=WRITER_VERSION):
    """16 lower-case hex digits of fingerprint() (the sl.schema header)."""
    return "%016x" % fingerprint(version)


def version_of(value):
    """The schema version a message value was written with (None: unknown)."""
    return _BY_FP.get(bytes(value[2:10]))


def _value(v):
    if isinstance(v, tuple):
        name, x = v
        name = name[len(_NS):] if name.startswith(_NS) else name
        if name == "UInt64":
            return ("uint", int.from_bytes(x, "big"))
        if name == "Decimal":
            return ("decimal", x["digits"])
        if name == "Temporal":
            return ("temporal", x)
        if name == "Bit":
            return ("bit", (x["bits"], x["value"]))
        if name == "Set":
            return ("set", list(x["labels"]))
        if name == "Typed":
            return ("typed", (x["type"], x["text"]))
        if name == "Missing":
            return ("missing", x["reason"])
        raise SlavroError("unexpected value branch %s" % name)
    if v is None:
        return ("null", None)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("real", v)
    if isinstance(v, str):
        return ("string", v)
    if isinstance(v, (bytes, bytearray)):
        return ("bytes", bytes(v))
    raise SlavroError("unexpected value %r" % (v,))


def _strip(v):
    """Named records/enums in non-Value unions come back as (name, value)."""
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) and v[0].startswith(_NS):
        return v[0][len(_NS):], v[1]
    return None, v


def decode(value):
    """Decodes one message value (bytes) into a dict (see the module doc)."""
    value = bytes(value)
    if len(value) < 10:
        if value[:2] and value[:2] != b"\xc3\x01"[:len(value[:2])]:
            raise SlavroError("bad magic %s" % value[:2].hex())
        raise SlavroError("truncated at byte %d: header is 10 bytes" % len(value))
    if value[:2] != b"\xc3\x01":
        raise SlavroError("bad magic %s (expected c301)" % value[:2].hex())
    version = version_of(value)
    if version is None:
        raise SlavroError("unknown schema fingerprint %016x (expected one of %s)"
                          % (int.from_bytes(value[2:10], "little"),
                             ", ".join(fingerprint_hex(v) for v in VERSIONS)))
    bio = io.BytesIO(value[10:])
    try:
        rec = fastavro.schemaless_reader(bio, _SCHEMAS[version]["parsed"], None,
                                         return_named_type=True)
    except Exception as e:  # fastavro raises EOFError, ValueError, IndexError...
        raise SlavroError("truncated or malformed body: %s: %s" % (type(e).__name__, e)) from e
    if bio.tell() != len(value) - 10:
        raise SlavroError("%d bytes after the record" % (len(value) - 10 - bio.tell()))
    return _normalize(rec)


def _normalize(rec):
    _, rtype = _strip(rec["type"])
    rec["type"] = rtype
    pos = rec["pos"]
    _, pos["kind"] = _strip(pos["kind"])
    pos["seq"] &= _U64
    pos["offset"] &= _U64
    bname, body = _strip(rec["body"])
    want = {"CHANGE": "ChangeBatch", "COMMIT": "Commit", "FINISH": "Finish",
            "SCHEMA": "TableSchema"}[rtype]
    if bname != want:
        raise SlavroError("type %s with a %s body" % (rtype, bname))
    for k, v in list(body.items()):
        body[k] = _strip(v)[1]
    if rtype == "CHANGE":
        body["schemaId"] &= _U64
        for row in body["rows"]:
            for img in ("before", "after"):
                if row[img] is not None:
                    row[img] = [_value(v) for v in row[img]]
    elif rtype == "SCHEMA":
        for col in body["columns"]:
            for k, v in list(col.items()):
                col[k] = _strip(v)[1]
            col.setdefault("default", None)     # v3 field: none in v1 / v2
    rec["body"] = body
    return rec


def _avro_value(kv):
    """A (kind, value) pair of decode() back to fastavro's datum for the Value union."""
    kind, v = kv
    named = {"uint": lambda: ("UInt64", v.to_bytes(8, "big")),
             "decimal": lambda: ("Decimal", {"digits": v}),
             "temporal": lambda: ("Temporal", v),
             "bit": lambda: ("Bit", {"bits": v[0], "value": v[1]}),
             "set": lambda: ("Set", {"labels": list(v)}),
             "typed": lambda: ("Typed", {"type": v[0], "text": v[1]}),
             "missing": lambda: ("Missing", {"reason": v})}
    if kind in named:
        name, datum = named[kind]()
        return (_NS + name, datum)
    if kind == "real":
        return ("double", v)
    if kind == "int":
        return ("long", v)
    return v


def _signed(x):
    return x - (1 << 64) if x >= 1 << 63 else x


def encode(rec, version=WRITER_VERSION):
    """One message value (header + body) of decode()'s dict shape, written by fastavro
    with the schema of that version: hand-made records for tests, independent of the C
    writer. Unsigned fields are given unsigned; real values are written as double."""
    pos = dict(rec["pos"], seq=_signed(rec["pos"]["seq"]), offset=_signed(rec["pos"]["offset"]))
    body = dict(rec["body"])
    name = {"CHANGE": "ChangeBatch", "COMMIT": "Commit", "FINISH": "Finish",
            "SCHEMA": "TableSchema"}[rec["type"]]
    if rec["type"] == "CHANGE":
        body["schemaId"] = _signed(body["schemaId"])
        body["rows"] = [{img: (None if r[img] is None else [_avro_value(v) for v in r[img]])
                         for img in ("before", "after")} for r in body["rows"]]
    datum = {"type": rec["type"], "source": rec["source"], "pos": pos,
             "body": (_NS + name, body)}
    bio = io.BytesIO()
    fastavro.schemaless_writer(bio, _SCHEMAS[version]["parsed"], datum)
    return b"\xc3\x01" + _SCHEMAS[version]["fp"] + bio.getvalue()


def _pos_text(pos):
    if pos["kind"] == "MYSQL":
        t = "%s:%d#%d" % (pos["file"], pos["offset"], pos["row"])
        return t + ("@" + pos["gtid"] if pos["gtid"] else "")
    if pos["kind"] == "POSTGRESQL":
        return "%X/%X:%X/%X#%d" % (pos["seq"] >> 32, pos["seq"] & 0xffffffff,
                                   pos["offset"] >> 32, pos["offset"] & 0xffffffff, pos["row"])
    return "none"


def _json_value(kv):
    kind, v = kv
    if kind == "real":
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if kind == "bytes":
        return {"$bytes": base64.b64encode(v).decode()}
    if kind == "temporal":
        o = {"$temporal": v["kind"].lower() if isinstance(v["kind"], str) else _strip(v["kind"])[1].lower(),
             "text": v["text"], "micros": v["micros"], "precision": v["precision"]}
        if v["tzOffsetSec"] is not None:
            o["tz_offset_s"] = v["tzOffsetSec"]
        return o
    if kind == "bit":
        n, b = v
        bits = bin(int.from_bytes(b, "big"))[2:].zfill(len(b) * 8) if b else ""
        return {"$bit": bits[len(bits) - n:] if n else ""}
    if kind == "typed":
        return {"$typed": v[0], "text": v[1]}
    if kind == "missing":
        return {"$missing": v.lower()}
    return v


def to_json(rec):
    """The record (decode()'s dict, or message bytes) in the JSON shape of
    sl_record_to_json / `shiftlog cat`, as Python objects (compare with
    json.loads of shiftlog's line; floats compare as numbers)."""
    if isinstance(rec, (bytes, bytearray)):
        rec = decode(rec)
    pos = dict(rec["pos"])
    out = {"type": rec["type"].lower(), "source": rec["source"],
           "pos": {"text": _pos_text(pos), "kind": pos["kind"].lower(), "seq": pos["seq"],
                   "offset": pos["offset"], "row": pos["row"], "file": pos["file"],
                   "gtid": pos["gtid"]}}
    b = rec["body"]
    t = rec["type"]
    if t == "CHANGE":
        cols = b["columns"]
        out.update(db=b["db"], table=b["table"], op=b["op"].lower(), txn=b["txn"],
                   event_time_us=b["eventTimeUs"], schema_id="%016x" % b["schemaId"],
                   server_id=b["serverId"], flags=b["flags"], origin=b["origin"],
                   columns=list(cols),
                   rows=[{img: (None if r[img] is None else
                                {c: _json_value(v) for c, v in zip(cols, r[img])})
                          for img in ("before", "after")} for r in b["rows"]])
    elif t == "COMMIT":
        out.update(txn=b["txn"], event_time_us=b["eventTimeUs"], server_id=b["serverId"],
                   rows=b["rows"])
    elif t == "FINISH":
        out.update(reason=b["reason"], time_us=b["timeUs"])
    else:
        out.update(db=b["db"], table=b["table"], columns=[
            {"name": c["name"], "kind": c["kind"].lower(), "source_type": c["sourceType"],
             "nullable": c["nullable"], "precision": c["precision"], "scale": c["scale"],
             "charset": c["charset"], "labels": c["labels"], "pk": c["pk"],
             # as sl_json.c: the key only when the column has a carried default
             **({"default": c["default"]} if c.get("default") is not None else {})}
            for c in b["columns"]], ddl=b["ddl"])
    return out


if __name__ == "__main__":
    # python3 tests/it/slavro.py FILE...: decode message files, print JSON lines
    import sys
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            print(json.dumps(to_json(f.read()), ensure_ascii=False))
