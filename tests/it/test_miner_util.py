"""Helpers of the miner tests (no test here) (test_miner*.py): a real shiftlog-miner process, the expected
log `_id`s of a topic, and value comparison between a log document (read by pymongo) and the
topic's records (decoded by slavro)."""

import decimal
import os
import re
import signal
import subprocess
import time

import bson
import pymongo

from test_mysql_collector import read_topic
import slavro

KIND_DIGIT = {"MYSQL": 1, "POSTGRESQL": 2}
T_SCHEMA, T_CHANGE, T_COMMIT, T_GAP = "1", "2", "3", "4"


def doc_id(pos, row=None, t=T_CHANGE):
    return "%01x%016x%016x%08x%s" % (KIND_DIGIT[pos["kind"]], pos["seq"], pos["offset"],
                                     pos["row"] if row is None else row, t)


def expected(msgs, tables=None):
    """{_id: (offset, record, row index)} the log must hold for the topic's messages
    [(offset, key, headers, value)] — changes (of `tables` when given), commits, schemas."""
    out = {}
    for off, _, _, v in msgs:
        if v is None:
            continue
        r = slavro.decode(v)
        if r["type"] == "CHANGE":
            b = r["body"]
            if tables is not None and f'{b["db"]}.{b["table"]}' not in tables:
                continue
            for i, _ in enumerate(b["rows"]):
                out[doc_id(r["pos"], r["pos"]["row"] + i)] = (off, r, i)
        elif r["type"] == "COMMIT":
            out[doc_id(r["pos"], t=T_COMMIT)] = (off, r, None)
        elif r["type"] == "SCHEMA":
            out[doc_id(r["pos"], t=T_SCHEMA)] = (off, r, None)
    return out


def data_end(stack, topic):
    """Offset after the last committed data message of partition 0. Not the high watermark: a
    transactional producer's commit marker takes the last offset and is never delivered, so
    a consumer's position stops one short of it."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    lo, hi = topic_end(stack, topic)
    c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"], "group.id": "it-data-end",
                  "enable.partition.eof": True, "isolation.level": "read_committed",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, max(lo, hi - 50))])
    end, deadline = lo, time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    return end
                continue
            end = m.offset() + 1
    finally:
        c.close()
    raise AssertionError(f"{topic}: no end of partition 0 within 30 s")


def topic_end(stack, topic):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": stack["SL_KAFKA_BROKERS"], "group.id": "it-end"})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    c.close()
    return lo, hi


class Miner:
    """bin/shiftlog-miner with a config file in tmp_path; stderr to a log file."""

    def __init__(self, bin_dir, stack, tmp_path, source, prefix, db, **extra):
        self.bin = bin_dir / "shiftlog-miner"
        self.source, self.prefix, self.db = source, prefix, db
        self.topic = f"{prefix}.{source}"
        self.conf = tmp_path / f"miner-{source}.conf"
        lines = {
            "source.name": source, "topic.prefix": prefix,
            "log.uri": stack["SL_MONGO_URI"], "log.database": db,
            "kafka.bootstrap.servers": stack["SL_KAFKA_BROKERS"],
            "kafka.group.id": f"miner-{source}", "http.listen": "127.0.0.1:0",
            "control.interval": "200ms",
        }
        lines.update({k: str(v) for k, v in extra.items()})
        self.conf.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
        self.log = tmp_path / f"miner-{source}.log"
        self.proc = None
        self.mongo = pymongo.MongoClient(stack["SL_MONGO_URI"])
        self.coll = self.mongo[db][source]
        self.control = self.mongo[db][source + "__control"]
        self.latest = self.mongo[db][source + "__latest"]

    def start(self, wait=True):
        seen = self.text().count("mining ") if self.log.exists() else 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTLOG_")}
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen([str(self.bin), "-c", str(self.conf)], stderr=self.logf,
                                     env=env)
        if wait:
            deadline = time.monotonic() + 30
            while self.text().count("mining ") <= seen:
                if self.proc.poll() is not None:
                    raise AssertionError(f"miner exited {self.proc.returncode}:\n{self.text()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"miner did not start:\n{self.text()}")
                time.sleep(0.05)
        return self

    def text(self):
        return self.log.read_text() if self.log.exists() else ""

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        if self.proc:
            self.logf.close()
        return self.proc.returncode if self.proc else None

    def progress(self):
        return self.control.find_one({"_id": "progress"}) or {}

    def wait_offset(self, stack, timeout=60, end=None):
        """Until the progress document reaches the topic's end (or `end`)."""
        if end is None:
            end = data_end(stack, self.topic)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.progress().get("offset", -1) >= end:
                return end
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"miner exited {self.proc.returncode}:\n{self.text()}")
            time.sleep(0.1)
        raise AssertionError(f"miner at {self.progress()} not at offset {end} in {timeout}s:\n"
                             f"{self.text()[-3000:]}")

    def table_doc(self, table):
        return self.control.find_one({"_id": "table:" + table}) or {}

    def wait_table(self, table, pred, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = self.table_doc(table)
            if d and pred(d):
                return d
            time.sleep(0.1)
        raise AssertionError(f"table {table}: {self.table_doc(table)}\n{self.text()[-3000:]}")

    def close(self):
        self.stop(signal.SIGKILL)
        self.mongo.close()

    def wait_topic_end(self, stack, timeout=60):
        """Until the miner is past the last message of the topic."""
        msgs = read_topic(stack, self.topic)
        return self.wait_offset(stack, timeout, end=msgs[-1][0] + 1 if msgs else 0)


# ------------------------------------------------------------- value comparison

def plain_decimal(d):
    return format(d.to_decimal(), "f") if isinstance(d, bson.decimal128.Decimal128) else None


def same_value(kv, v):
    """Is the log's BSON value v the exact value of slavro's (kind, value)?"""
    kind, x = kv
    if kind == "null":
        return v is None
    if kind == "bool":
        return v is x
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool) and v == x
    if kind == "uint":
        if isinstance(v, bson.decimal128.Decimal128):
            return x > (1 << 63) - 1 and int(v.to_decimal()) == x
        return v == x
    if kind == "real":
        return isinstance(v, float) and (v == x or (v != v and x != x))
    if kind == "decimal":
        if isinstance(v, dict):
            return v.get("_t") == "decimal" and v["v"] == x
        if isinstance(v, bson.decimal128.Decimal128):
            t = v.to_decimal()
            if t.is_nan() or t.is_infinite():
                return str(t).replace("Infinity", "Infinity") == x
            return format(t, "f") == x.lstrip("+")
        return False
    if kind == "string":
        return v == x
    if kind == "bytes":
        return bytes(v) == x
    if kind == "set":
        return v == list(x)
    if kind == "temporal":
        return (isinstance(v, dict) and v["s"] == x["text"] and v.get("us") == x["micros"]
                and v["p"] == x["precision"] and v.get("tz") == x["tzOffsetSec"])
    if kind == "bit":
        return isinstance(v, dict) and v["_t"] == "bit" and v["n"] == x[0] and bytes(v["v"]) == x[1]
    if kind == "typed":
        return isinstance(v, dict) and v["_t"] == "typed" and v["type"] == x[0] and v["v"] == x[1]
    if kind == "missing":
        return isinstance(v, dict) and v["_t"] == "missing" and v["why"] == x.lower()
    raise AssertionError(f"unknown kind {kind}")


def check_doc(doc, off, rec, row):
    """Asserts that a log document says what its topic record says."""
    pos = rec["pos"]
    assert doc["offset"] == off, (doc["_id"], doc["offset"], off)
    if rec["type"] == "COMMIT":
        assert doc["op"] == "commit" and doc["txn"] == rec["body"]["txn"], doc
        assert doc["rows"] == rec["body"]["rows"], (doc, rec["body"])
        return
    if rec["type"] == "SCHEMA":
        b = rec["body"]
        assert doc["op"] == "schema" and doc["table"] == f'{b["db"]}.{b["table"]}', doc
        assert [c["name"] for c in doc["columns"]] == [c["name"] for c in b["columns"]]
        return
    b = rec["body"]
    assert doc["op"] == b["op"].lower(), (doc["op"], b["op"])
    assert doc["table"] == f'{b["db"]}.{b["table"]}'
    assert doc["txn"] == (b["txn"] or "")
    assert doc["sub"] == row
    assert doc["ts_us"] == b["eventTimeUs"]
    r = b["rows"][row]
    for img in ("before", "after"):
        if r[img] is None:
            assert img not in doc, (img, doc)
            continue
        got = doc[img]
        assert list(got.keys()) == b["columns"], (list(got.keys()), b["columns"])
        for name, kv in zip(b["columns"], r[img]):
            assert same_value(kv, got[name]), (doc["_id"], img, name, kv, got[name])


def cli(bin_dir, *args, check=True, timeout=60):
    p = subprocess.run([str(bin_dir / "shiftlog"), *map(str, args)], capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"shiftlog {' '.join(map(str, args))} exited {p.returncode}:\n"
                             f"{p.stdout}\n{p.stderr}")
    return p
