"""Kafka wrappers (common/sl_kafka*.c) and `shiftlog cat`, against the real local Kafka.

it_kafka (C) builds deterministic records of every type and value kind (int64 min/max, uint64
max, DECIMAL(65,30), NULL vs empty, bytes with NUL, 4-byte UTF-8, NaN, zero date, negative
TIME, BIT, SET, MISSING, COMMIT, FINISH, SCHEMA), produces them with our producer and prints the
JSON of what it produced. Independent readers then check the topic:
  (a) bin/shiftlog cat (our consumer + Avro decoder),
  (b) kcat and Kafka's own ConsoleConsumer (offsets, keys, headers),
  (c) confluent-kafka + slavro (fastavro), compared field by field with (a).
"""
import base64
import json
import math
import os
import struct
import subprocess
import time

import pytest

N = 24  # 4 cycles of the 6 record templates


# ---------------------------------------------------------------- helpers

def it_kafka(test_bin_dir, stack, topic, *args, records=N, check=True, timeout=120):
    cmd = [str(test_bin_dir / "it_kafka"), "produce", "--brokers", stack["SL_KAFKA_BROKERS"],
           "--topic", topic, "--records", str(records), *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    summary = {}
    for line in p.stderr.splitlines():
        if line.startswith("it_kafka: produced="):
            summary = dict(kv.split("=", 1) for kv in line.split(": ", 1)[1].split())
    return p, lines, summary


def cat(bin_dir, stack, topic, *args, timeout=60):
    cmd = [str(bin_dir / "shiftlog"), "cat", "-b", stack["SL_KAFKA_BROKERS"], *map(str, args), topic]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p, [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def read_confluent(stack, topic, isolation="read_committed", partition=0):
    from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"], "group.id": "it-" + topic,
                  "enable.partition.eof": True, "enable.auto.commit": False,
                  "isolation.level": isolation})
    c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    out, deadline = [], time.time() + 30
    while time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                break
            raise AssertionError(m.error())
        out.append(m)
    else:
        raise AssertionError(f"no EOF on {topic} within 30 s")
    c.close()
    return out


def strip_suboffsets(record):
    """cat adds subOffset to each CHANGE row; check it is the row index and drop it."""
    rec = json.loads(json.dumps(record))
    for i, row in enumerate(rec["rows"] if rec["type"] == "change" else []):
        assert row.pop("subOffset") == i
    return rec


# --------------------------------------------- (c) fastavro dict -> cat JSON

def _b64(b):
    return {"$bytes": base64.b64encode(b).decode()}


def _bits(nbits, value):
    s = "".join(f"{byte:08b}" for byte in value)
    return {"$bit": s[len(s) - nbits:]}


def _enum(e):
    return (e[1] if isinstance(e, tuple) else e).lower()


def _value(kv):
    """One column value as slavro.decode gives it, a (kind, value) pair, mapped to cat's
    JSON form here (not with slavro.to_json, to keep the two paths apart)."""
    kind, v = kv
    if kind in ("null", "bool", "int", "uint", "decimal", "string"):
        return v
    if kind == "real":
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if kind == "bytes":
        return _b64(v)
    if kind == "temporal":
        out = {"$temporal": _enum(v["kind"]), "text": v["text"], "micros": v["micros"],
               "precision": v["precision"]}
        if v["tzOffsetSec"] is not None:
            out["tz_offset_s"] = v["tzOffsetSec"]
        return out
    if kind == "bit":
        return _bits(*v)
    if kind == "set":
        return list(v)
    if kind == "typed":
        return {"$typed": v[0], "text": v[1]}
    if kind == "missing":
        return {"$missing": _enum(v)}
    raise AssertionError(f"unknown value kind {kind!r}: {v!r}")


# slavro's value kind for each column kind of the TableSchema
KIND_OF_COLUMN = {"int": "int", "uint": "uint", "float": "real", "double": "real",
                  "decimal": "decimal", "string": "string", "bytes": "bytes", "bool": "bool",
                  "temporal": "temporal", "bit": "bit", "set": "set", "typed": "typed"}


def _float_eq(a, b):
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return a == b or struct.pack("<f", a) == struct.pack("<f", b)
    return a == b


def compare_avro_to_cat(dec, cat_rec, where, col_kinds=None):
    """dec: slavro.decode() of the value; cat_rec: the "record" of a cat line (subOffsets
    off); col_kinds: column name -> kind from the table's SCHEMA record, to check the Avro
    branch of every non-NULL value against its column's kind."""
    def body_of(d):
        b = d["body"]
        return b[1] if isinstance(b, tuple) else b
    body = body_of(dec)
    assert dec["type"].lower() == cat_rec["type"], where
    assert dec["source"] == cat_rec["source"], where
    pos, cpos = dec["pos"], cat_rec["pos"]
    assert pos["kind"].lower() == cpos["kind"], where
    assert (pos["seq"], pos["offset"], pos["row"], pos["file"], pos["gtid"]) == \
        (cpos["seq"], cpos["offset"], cpos["row"], cpos["file"], cpos["gtid"]), where
    t = cat_rec["type"]
    if t == "change":
        assert (body["db"], body["table"], body["op"].lower(), body["txn"]) == \
            (cat_rec["db"], cat_rec["table"], cat_rec["op"], cat_rec["txn"]), where
        assert body["eventTimeUs"] == cat_rec["event_time_us"], where
        assert f"{body['schemaId'] & (2**64 - 1):016x}" == cat_rec["schema_id"], where
        assert (body["serverId"], body["flags"], body["origin"]) == \
            (cat_rec["server_id"], cat_rec["flags"], cat_rec["origin"]), where
        assert body["columns"] == cat_rec["columns"], where
        assert len(body["rows"]) == len(cat_rec["rows"]), where
        for r, (row, crow) in enumerate(zip(body["rows"], cat_rec["rows"])):
            for img in ("before", "after"):
                if row[img] is None:
                    assert crow[img] is None, (where, r, img)
                    continue
                got = [_value(v) for v in row[img]]
                want = [crow[img][c] for c in cat_rec["columns"]]
                assert len(got) == len(want)
                for c, (kind, _) in zip(cat_rec["columns"], row[img]):
                    if col_kinds and kind not in ("null", "missing"):
                        assert kind == KIND_OF_COLUMN[col_kinds[c]], (where, r, img, c, kind)
                for c, g, w in zip(cat_rec["columns"], got, want):
                    assert _float_eq(g, w), (where, r, img, c, g, w)
    elif t == "commit":
        assert (body["txn"], body["eventTimeUs"], body["serverId"], body["rows"]) == \
            (cat_rec["txn"], cat_rec["event_time_us"], cat_rec["server_id"], cat_rec["rows"]), where
    elif t == "finish":
        assert (body["reason"], body["timeUs"]) == (cat_rec["reason"], cat_rec["time_us"]), where
    elif t == "schema":
        assert (body["db"], body["table"], body["ddl"]) == \
            (cat_rec["db"], cat_rec["table"], cat_rec["ddl"]), where
        assert len(body["columns"]) == len(cat_rec["columns"])
        for col, ccol in zip(body["columns"], cat_rec["columns"]):
            assert (col["name"], col["kind"].lower(), col["sourceType"], col["nullable"],
                    col["precision"], col["scale"], col["charset"], list(col["labels"]), col["pk"]) == \
                (ccol["name"], ccol["kind"], ccol["source_type"], ccol["nullable"],
                 ccol["precision"], ccol["scale"], ccol["charset"], ccol["labels"], ccol["pk"]), where
    else:
        raise AssertionError(f"unknown type {t}")


# ------------------------------------------------------------------ tests

def test_kafka_roundtrip_three_readers_agree(stack, bin_dir, test_bin_dir, unique_name, kafka_java):
    topic = unique_name("kt")
    _, produced, summary = it_kafka(test_bin_dir, stack, topic, "--partitions", 1)
    assert len(produced) == N
    kinds = {p["record"]["type"] for p in produced}
    assert kinds == {"change", "commit", "finish", "schema"}
    assert {p["record"]["op"] for p in produced if p["record"]["type"] == "change"} == \
        {"insert", "update", "delete"}

    # (a) shiftlog cat: exactly what was produced, in order, with offsets and subOffsets
    p, lines = cat(bin_dir, stack, topic, "--from-beginning", "--exit-at-end")
    assert p.returncode == 0, p.stderr
    assert len(lines) == N
    for i, (line, want) in enumerate(zip(lines, produced)):
        assert (line["topic"], line["partition"], line["kafkaOffset"]) == (topic, 0, i)
        assert line["key"] == want["key"]
        assert line["headers"] == want["headers"]
        assert strip_suboffsets(line["record"]) == want["record"], f"offset {i}"
        assert line["headers"]["sl.pos"] == want["record"]["pos"]["text"]

    # the edge values really are on the wire (as cat decoded them)
    rows = [r for l in lines if l["record"]["type"] == "change"
            for r in l["record"]["rows"]]
    images = [img for r in rows for img in (r["before"], r["after"]) if img]
    vals = {c: [img[c] for img in images] for c in images[0]}
    assert -2**63 in vals["c_i64"] and 2**63 - 1 in vals["c_i64"]
    assert 2**64 - 1 in vals["c_u64"]
    assert "-12345678901234567890123456789012345.123456789012345678901234567890" in vals["c_dec"]
    assert None in vals["c_str"] and {"$bytes": ""} in vals["c_bytes"]
    assert any(isinstance(s, str) and "\U0001F600" in s for s in vals["c_str"])
    assert {"$bytes": base64.b64encode(b"a\0b\0\xff").decode()} in vals["c_bytes"]
    assert "NaN" in vals["c_dbl"]
    assert any(t["text"] == "0000-00-00" and t["micros"] is None for t in vals["c_date"])
    assert any(t["micros"] == -3020399000000 for t in vals["c_time"])
    assert {"$bit": "1010100101"} in vals["c_bit"]
    assert ["a", "c,d"] in vals["c_set"] and [] in vals["c_set"]
    assert {"$missing": "not_in_image"} in vals["c_missing"]

    # (b) kcat: offsets, keys and headers
    k = subprocess.run(["kcat", "-C", "-b", stack["SL_KAFKA_BROKERS"], "-t", topic, "-o", "beginning",
                        "-e", "-q", "-f", "%o\t%k\t%h\n"], capture_output=True, text=True, timeout=60)
    assert k.returncode == 0, k.stderr
    krows = [l.split("\t") for l in k.stdout.splitlines()]
    assert len(krows) == N
    for i, (off, key, hdrs) in enumerate(krows):
        assert int(off) == i and key == produced[i]["key"]
        assert dict(h.split("=", 1) for h in hdrs.split(",")) == produced[i]["headers"]

    # (b) Kafka's own ConsoleConsumer
    cc = kafka_java("org.apache.kafka.tools.consumer.ConsoleConsumer",
                    "--bootstrap-server", stack["SL_KAFKA_BROKERS"], "--topic", topic,
                    "--from-beginning", "--max-messages", N,
                    "--consumer-property", "isolation.level=read_committed",
                    "--formatter-property", "print.headers=true",
                    "--formatter-property", "print.key=true",
                    "--formatter-property", "print.value=false",
                    "--formatter-property", "print.offset=true")
    crows = [l for l in cc.stdout.splitlines() if l.startswith("Offset:")]
    assert len(crows) == N, cc.stdout + cc.stderr
    for i, l in enumerate(crows):
        off, hdrs, key = l.split("\t")[:3]
        assert off == f"Offset:{i}"
        assert key == produced[i]["key"]
        assert dict(h.split(":", 1) for h in hdrs.split(",")) == produced[i]["headers"]

    # (c) confluent-kafka + slavro, field by field against (a)
    import slavro
    msgs = read_confluent(stack, topic)
    assert len(msgs) == N
    col_kinds = None
    for i, (m, line) in enumerate(zip(msgs, lines)):
        assert m.offset() == i and m.key().decode() == line["key"]
        assert {k: v.decode() for k, v in m.headers()} == line["headers"]
        assert line["headers"]["sl.schema"] == slavro.fingerprint_hex()
        dec = slavro.decode(m.value())
        if dec["type"] == "SCHEMA":
            col_kinds = {c["name"]: _enum(c["kind"]) for c in dec["body"]["columns"]}
        compare_avro_to_cat(dec, strip_suboffsets(line["record"]), f"offset {i}", col_kinds)
    assert col_kinds is not None


def test_kafka_durable_position_after_flush(stack, test_bin_dir, unique_name):
    topic = unique_name("kd")
    _, produced, s = it_kafka(test_bin_dir, stack, topic, records=500)
    assert s["last"] == produced[-1]["record"]["pos"]["text"]
    assert s["durable"] == s["last"] and s["inflight"] == "0"
    # transactional: durable only through commits, equal to the last after the final commit
    _, produced, s = it_kafka(test_bin_dir, stack, unique_name("kdt"), "--transactional",
                              "--per-txn", 7, records=50)
    assert s["durable"] == s["last"] == produced[-1]["record"]["pos"]["text"]
    # aborted: nothing is durable
    _, _, s = it_kafka(test_bin_dir, stack, unique_name("kda"), "--transactional", "--abort",
                       records=10)
    assert s["durable"] == "none" and s["last"] != "none"


def test_kafka_aborted_transaction_invisible(stack, bin_dir, test_bin_dir, unique_name):
    topic = unique_name("ktx")
    txid = unique_name("txid")
    _, first, _ = it_kafka(test_bin_dir, stack, topic, "--partitions", 1, "--transactional",
                           "--per-txn", 3, "--txn-id", txid, records=6)
    _, aborted, _ = it_kafka(test_bin_dir, stack, topic, "--transactional", "--abort",
                             "--per-txn", 3, "--txn-id", txid, "--first", 6, records=6)
    _, last, _ = it_kafka(test_bin_dir, stack, topic, "--transactional", "--per-txn", 6,
                          "--txn-id", txid, "--first", 12, records=6)
    p, lines = cat(bin_dir, stack, topic, "--from-beginning", "--exit-at-end")
    assert p.returncode == 0, p.stderr
    got = [l["record"]["pos"]["text"] for l in lines]
    assert got == [x["record"]["pos"]["text"] for x in first + last]
    # the aborted records did reach the log: a read_uncommitted reader sees them
    raw = read_confluent(stack, topic, isolation="read_uncommitted")
    seen = {dict(m.headers())["sl.pos"].decode() for m in raw}
    assert {x["record"]["pos"]["text"] for x in aborted} <= seen
    # kcat (librdkafka, read_committed by default) agrees with cat
    k = subprocess.run(["kcat", "-C", "-b", stack["SL_KAFKA_BROKERS"], "-t", topic, "-o", "beginning",
                        "-e", "-q", "-f", "%h\n"], capture_output=True, text=True, timeout=60)
    kpos = [dict(h.split("=", 1) for h in l.split(","))["sl.pos"] for l in k.stdout.splitlines()]
    assert kpos == got


def test_kafka_unreachable_broker_fails_fast(stack, bin_dir, test_bin_dir, unique_name):
    t0 = time.time()
    p, _, _ = it_kafka(test_bin_dir, {"SL_KAFKA_BROKERS": "127.0.0.1:1"}, unique_name("ku"),
                       check=False, timeout=60)
    took = time.time() - t0
    assert p.returncode != 0
    assert took < 20, took
    assert "127.0.0.1:1" in p.stderr and "not reachable" in p.stderr, p.stderr
    t0 = time.time()
    p, lines = cat(bin_dir, {"SL_KAFKA_BROKERS": "127.0.0.1:1"}, "anything", "--exit-at-end")
    assert p.returncode == 1 and not lines
    assert time.time() - t0 < 20
    assert "127.0.0.1:1" in p.stderr and "not reachable" in p.stderr, p.stderr


def test_kafka_acks_other_than_all_refused(stack, test_bin_dir, unique_name):
    p, lines, _ = it_kafka(test_bin_dir, stack, unique_name("kack"), "--prop", "acks=1",
                           check=False)
    assert p.returncode != 0 and not lines
    assert "acks=1 refused" in p.stderr and "acks=all" in p.stderr, p.stderr
    p, _, _ = it_kafka(test_bin_dir, stack, unique_name("kack"), "--prop", "acks=all", records=1)
    assert p.returncode == 0


def test_kafka_corrupt_message_named_by_cat(stack, bin_dir, test_bin_dir, unique_name):
    topic = unique_name("kbad")
    it_kafka(test_bin_dir, stack, topic, "--partitions", 1, records=2)
    k = subprocess.run(["kcat", "-P", "-b", stack["SL_KAFKA_BROKERS"], "-t", topic, "-k", "junk"],
                       input=b"\xc3\x01garbage\x00bytes", capture_output=True, timeout=60)
    assert k.returncode == 0, k.stderr
    it_kafka(test_bin_dir, stack, topic, "--first", 2, records=2)
    p, lines = cat(bin_dir, stack, topic, "--from-beginning", "--exit-at-end")
    assert p.returncode == 1
    assert [l["kafkaOffset"] for l in lines] == [0, 1, 3, 4]  # goes on after the bad one
    assert f'topic "{topic}" partition 0 offset 2' in p.stderr, p.stderr
    p, lines = cat(bin_dir, stack, topic, "--from-beginning", "--exit-at-end", "--strict")
    assert p.returncode == 1 and [l["kafkaOffset"] for l in lines] == [0, 1]
    assert "offset 2" in p.stderr


def test_kafka_cat_options(stack, bin_dir, test_bin_dir, unique_name):
    topic = unique_name("kopt")
    _, produced, _ = it_kafka(test_bin_dir, stack, topic, "--partitions", 3, records=12)
    # ensure_topic on an existing topic is fine (TOPIC_ALREADY_EXISTS)
    _, more, _ = it_kafka(test_bin_dir, stack, topic, "--partitions", 3, "--first", 12, records=6)
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": stack["SL_KAFKA_BROKERS"]}).list_topics(topic, timeout=10)
    assert len(md.topics[topic].partitions) == 3
    p, lines = cat(bin_dir, stack, topic, "--from-beginning", "--exit-at-end")
    assert p.returncode == 0, p.stderr
    assert sorted(l["record"]["pos"]["text"] for l in lines) == \
        sorted(x["record"]["pos"]["text"] for x in produced + more)
    # keys choose partitions; per partition the order is the produce order
    for part in {l["partition"] for l in lines}:
        offs = [l["kafkaOffset"] for l in lines if l["partition"] == part]
        assert offs == list(range(len(offs)))
    part = lines[0]["partition"]
    mine = [l for l in lines if l["partition"] == part]
    p, only = cat(bin_dir, stack, topic, "--from-beginning", "--exit-at-end", "--partition", part)
    assert [l["kafkaOffset"] for l in only] == [l["kafkaOffset"] for l in mine]
    p, off = cat(bin_dir, stack, topic, "--offset", 2, "--partition", part, "--exit-at-end")
    assert [l["kafkaOffset"] for l in off] == [l["kafkaOffset"] for l in mine][2:]
    p, cnt = cat(bin_dir, stack, topic, "--from-beginning", "--count", 5)
    assert p.returncode == 0 and len(cnt) == 5
    p, end = cat(bin_dir, stack, topic, "--exit-at-end")  # default: from the end
    assert p.returncode == 0 and end == []
    p, _ = cat(bin_dir, stack, topic, "--partition", 7, "--exit-at-end")
    assert p.returncode == 1 and "no partition 7" in p.stderr
    p, _ = cat(bin_dir, stack, unique_name("kmissing"), "--exit-at-end", "-X",
               "kafka.allow.auto.create.topics=false")
    assert p.returncode == 1 and "topic" in p.stderr


def test_kafka_consumer_wakes_its_stopped_fetcher(stack, bin_dir, test_bin_dir, unique_name):
    """librdkafka 2.0 stops fetching at queued.min.messages and looks again only
    when its broker thread wakes (an op, IO or a 1 s timer): a consumer faster
    than that timer waited up to a second per queue-full. The wrapper wakes the
    fetcher when the queue halves without a fetch (fetch_wake). 200000 messages
    through a 3000-message queue are ~67 refills: ~0.5 s measured with the
    wake-up, 26 s without it."""
    topic = unique_name("kwake")
    n = 200000
    p = subprocess.run([str(test_bin_dir / "it_kafka"), "bench", "--brokers", stack["SL_KAFKA_BROKERS"],
                        "--topic", topic, "--records", str(n), "--size", "100", "--raw"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and f"delivered={n} " in p.stdout, p.stdout + p.stderr
    t0 = time.monotonic()
    c = subprocess.run([str(bin_dir / "shiftlog"), "cat", "-b", stack["SL_KAFKA_BROKERS"], "--from-beginning",
                        "--count", str(n), "-X", "queued.min.messages=3000", topic],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    took = time.monotonic() - t0
    assert c.returncode == 0, c.stderr
    assert c.stdout.count(b"\n") == n
    assert took < 8, f"{n} messages took {took:.1f} s: the fetcher slept while the queue was empty"


def test_shiftlog_later_subcommands_say_so(bin_dir):
    # status, tasks (issue 22) and validate (issue 21) have come: without their arguments
    # each is a usage error (exit 2) that says what it needs, never "not available"
    for sub in ("status", "tasks", "validate"):
        p = subprocess.run([str(bin_dir / "shiftlog"), sub], capture_output=True, text=True)
        assert p.returncode == 2 and "not available" not in p.stderr + p.stdout, (sub, p.stderr)
        assert "usage" in p.stderr + p.stdout or "--help" in p.stderr, (sub, p.stderr)
    p = subprocess.run([str(bin_dir / "shiftlog"), "cat", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--from-beginning" in p.stdout
    p = subprocess.run([str(bin_dir / "shiftlog"), "produce-test", "x"], capture_output=True, text=True)
    assert p.returncode == 2
