"""libmongoc round trip through the MongoDB stand-in, checked by an independent client.

it_mongo (C, libmongoc) writes one document with Decimal128 (34 digits, NaN, +-Inf),
int64 min/max and 2^53+1, binary with NUL bytes, dates at both ends of the range and
a string with NUL and 4-byte UTF-8, and asserts the bytes it reads back equal what it
sent. Here pymongo reads the same document and checks the same values independently.
"""
import os
import subprocess
from decimal import Decimal

import bson
import pymongo


def test_libmongoc_roundtrip_exact(stack, test_bin_dir, unique_name):
    db = unique_name("it_mongo")
    env = dict(os.environ, SL_MONGO_URI=stack["SL_MONGO_URI"])
    run = subprocess.run([str(test_bin_dir / "it_mongo"), db, "rt"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr

    client = pymongo.MongoClient(stack["SL_MONGO_URI"], serverSelectionTimeoutMS=5000)
    opts = bson.codec_options.CodecOptions(datetime_conversion=bson.codec_options.DatetimeConversion.DATETIME_MS)
    doc = client[db].get_collection("rt", codec_options=opts).find_one({"_id": "roundtrip-1"})
    assert doc is not None
    assert doc["i64min"] == -2**63 and isinstance(doc["i64min"], bson.int64.Int64)
    assert doc["i64max"] == 2**63 - 1
    assert doc["i64big"] == 2**53 + 1
    decs = [d.to_decimal() for d in doc["dec"]]
    assert decs[0] == Decimal("1234567890123456789012345678901234")
    assert decs[1] == Decimal("-0.000000000000000000000000000000001")
    assert decs[2] == Decimal("9.999999999999999999999999999999999E+6144")
    assert decs[3].is_nan() and decs[4] == Decimal("Infinity") and decs[5] == Decimal("-Infinity")
    assert str(decs[7]) == "-0"
    assert bytes(doc["bin"]) == b"\x00\x01\x00\xff\xfe\x00"
    assert bytes(doc["empty_bin"]) == b"" and doc["empty_str"] == "" and doc["nul"] is None
    assert doc["text"] == "a\x00b\U0001F600z"
    assert int(doc["date"]) == -62135596800000
    assert int(doc["date2"]) == 253402300799999
    assert doc["dbl"] == 0.1
    client.drop_database(db)
