"""Prints `shiftlog cat` JSON lines (stdin) in a compact, readable form for make demo."""
import json
import sys

for line in sys.stdin:
    msg = json.loads(line)
    rec = msg["record"]
    pos = rec["pos"]["text"]
    head = f"kafkaOffset {msg['kafkaOffset']:>3}  {rec['type']:<7} {msg['key'] or '':<12} pos {pos}"
    print(head)
    if rec["type"] == "change":
        for row in rec.get("rows", []):
            for side in ("before", "after"):
                img = row.get(side)
                if img is not None:
                    shown = ", ".join(f"{c}={json.dumps(v, ensure_ascii=False)}"
                                      for c, v in img.items())
                    print(f"      subOffset {row.get('subOffset', '?')} {rec.get('op')} {side}: {shown[:300]}")
    elif rec["type"] == "schema":
        print("      columns: " + ", ".join(f"{c['name']} {c['source_type']}" for c in rec["columns"]))
