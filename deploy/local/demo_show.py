"""Compact views for make demo (deploy/local/demo), run with $SL_PYTHON:

  shiftlog cat TOPIC ... | demo_show.py cat      one line per record, one per row change
  demo_show.py mongo URI DB COLL...              the documents of each collection, one a line
  demo_show.py mongo-sig URI DB COLL:F1,F2 ...   a signature of the documents (for the wait)
  demo_show.py log-has URI DB COLL TABLE F=V     "yes" once the shared log holds an update of
                                                 TABLE setting F to V, below the watermark
  shiftlog log query ... | demo_show.py log      one line per log document
"""
import json
import sys


def short(v):
    """A value of `shiftlog cat` JSON as short text: temporal/typed objects by their text."""
    if isinstance(v, dict):
        for k in ("text", "$value", "value"):
            if k in v:
                return short(v[k])
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, str):
        return json.dumps(v if len(v) <= 40 else v[:37] + "...", ensure_ascii=False)
    return json.dumps(v, ensure_ascii=False)


def show_cat():
    for line in sys.stdin:
        msg = json.loads(line)
        rec = msg["record"]
        pos = rec["pos"]["text"]
        typ = rec["type"].upper()
        extra = ""
        if rec["type"] == "change":
            extra = f" {rec.get('op', '').upper()} {len(rec.get('rows', []))} row(s)"
        elif rec["type"] == "schema":
            extra = " " + ", ".join(f"{c['name']} {c['source_type']}" for c in rec["columns"])
        print(f"  @{msg['kafkaOffset']:<3} {typ:<7} {msg['key'] or '':<16} {pos}{extra}"[:160])
        if rec["type"] == "change":
            for row in rec.get("rows", []):
                b, a = row.get("before"), row.get("after")
                img = a if a is not None else b
                cols = ", ".join(f"{c}={short(v)}" for c, v in (img or {}).items())
                if b is not None and a is not None:
                    if set(b) >= set(a):
                        changed = [c for c in a if b.get(c) != a.get(c)]
                        cols += "   (changed: " + ", ".join(changed) + ")"
                    else:
                        cols += "   (before image: key only)"
                print(f"        {cols}"[:160])


def show_mongo(uri, db, colls):
    import pymongo
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    for coll in colls:
        docs = list(client[db][coll].find().sort("_id", 1))
        print(f"  {db}.{coll}: {len(docs)} document(s)")
        for d in docs:
            d.pop("_pos", None)
            print("    " + ", ".join(f"{k}: {v}" for k, v in d.items())[:150])


def mongo_sig(uri, db, specs):
    """One line per collection: the named fields of every document, sorted by _id."""
    import pymongo
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    for spec in specs:
        coll, fields = spec.split(":")
        rows = []
        for d in client[db][coll].find().sort("_id", 1):
            rows.append("|".join(str(d.get(f, "")) for f in fields.split(",")))
        print(f"{coll}:" + ";".join(rows))


def log_has(uri, db, coll, table, fv):
    """The miner wrote the update and everything before it (the progress watermark)."""
    import pymongo
    f, v = fv.split("=", 1)
    c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)[db]
    doc = c[coll].find_one({"table": table, "op": "update", f"after.{f}": v})
    prog = c[coll + "__control"].find_one({"_id": "progress"}) or {}
    print("yes" if doc and prog.get("watermark", "") >= doc["_id"] else "no")


def show_log():
    for line in sys.stdin:
        d = json.loads(line)
        img = d.get("after") or d.get("before") or {}
        what = ", ".join(f"{k}={short(v)}" for k, v in img.items()) if d["op"] not in (
            "commit", "schema") else (f"txn {d.get('txn', '')}, {d.get('rows', '')} row(s)"
                                      if d["op"] == "commit" else d.get("table", ""))
        print(f"  {d['_id'][-12:]} {d['op']:<7} {d.get('table', ''):<16} {what}"[:150])


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "cat"
    if cmd == "cat":
        show_cat()
    elif cmd == "mongo":
        show_mongo(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "mongo-sig":
        mongo_sig(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "log-has":
        log_has(*sys.argv[2:7])
    elif cmd == "log":
        show_log()
    else:
        sys.exit(f"demo_show.py: unknown command {cmd}")
