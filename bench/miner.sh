#!/usr/bin/env bash
# Benchmark: the miner, Kafka -> shared MongoDB log, against a raw libmongoc insert_many of the
# same documents in the same run.
#   bench/miner.sh                 N=50000 changes (the local stand-in is in memory: keep <= 50k)
#   N=20000 WORKERS="1 2 4" SUPPLEMENT="false true" bench/miner.sh
#   MINER_BIN="/old/bin/shiftlog-miner bin/shiftlog-miner" bench/miner.sh
#                                  (several miners, e.g. of two commits, on the same topic and run)
#   BENCH_MONGO=private bench/miner.sh   the log in a private MongoDB stand-in started for the run
#                                  (same jars, own port, 1 GB heap): nothing else on the shared
#                                  stand-in (other runs' data, their clean-ups) weighs on the figures
# 1. N single-row INSERTs in transactions of 10 rows go through the real MariaDB collector into
#    a fresh topic (N changes + N/10 commits + schema records).
# 2. For each supplement.full.fields value and worker_num: shiftlog-miner from the topic's start
#    until its progress document reaches the end of the topic: documents/s (Kafka consume +
#    decode + BSON + journaled insert + progress), CPU-s, peak RSS. With supplement on, the
#    miner also keeps <source>__latest (one upsert per key): more work than the baseline does.
# 3. The same documents (read back from the log) inserted by a bare libmongoc loop:
#    insert_many of 1000 unordered, {w: majority, j: true} — the ceiling. Ratio = miner / raw.
# Needs the local stack (deploy/local/up) and `make`. Not part of `make test`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
eval "$(deploy/local/env)"
N=${N:-50000}
WORKERS=${WORKERS:-"1 2 4"}
SUPPLEMENT=${SUPPLEMENT:-"false true"}
BIN=${SHIFTLOG_BIN:-bin}
MINER_BIN=${MINER_BIN:-$BIN/shiftlog-miner}
TAG=bminer_$$_$RANDOM
DB=$TAG
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    my -e "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    "$SL_PYTHON" - "$SL_MONGO_URI" "$TAG" <<'PY' >/dev/null 2>&1 || true
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1])
for d in c.list_database_names():
    if d.startswith(sys.argv[2]):
        c.drop_database(d)
PY
    rm -rf "$WORK"
}
trap cleanup EXIT
my() { mariadb --defaults-file="$SL_MYSQL_DEFAULTS_FILE" -uroot "$@"; }
now() { date +%s.%N; }
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
wait_progress() {  # db end pid: waits (one client, polls every 10 ms) until the miner's
    # progress document reaches offset `end`; prints the time it did (epoch s)
    "$SL_PYTHON" - "$SL_MONGO_URI" "$1" "$TAG" "$2" "$3" <<'PY'
import os, pymongo, sys, time
coll = pymongo.MongoClient(sys.argv[1])[sys.argv[2]][sys.argv[3] + "__control"]
end, pid, deadline = int(sys.argv[4]), int(sys.argv[5]), time.time() + 900
while time.time() < deadline:
    d = coll.find_one({"_id": "progress"})
    if d and d["offset"] >= end:
        print("%.3f" % time.time())
        sys.exit(0)
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    time.sleep(0.01)
sys.exit(1)
PY
}
for MB in $MINER_BIN; do [ -x "$MB" ] || { echo "$MB: run make first" >&2; exit 1; }; done
if [ "${BENCH_MONGO:-}" = private ]; then
    MPORT=$("$SL_PYTHON" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
    java -Xmx1g -cp "$SL_MONGO_LIBS/*" deploy/local/mongo/Launcher.java --host 127.0.0.1 \
        --port "$MPORT" --store memory >"$WORK/mongo.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 300); do grep -q '^shiftlog-mongo ready' "$WORK/mongo.log" && break; sleep 0.1; done
    grep -q '^shiftlog-mongo ready' "$WORK/mongo.log" || { cat "$WORK/mongo.log"; exit 1; }
    SL_MONGO_URI=mongodb://127.0.0.1:$MPORT
    echo "== the log in a private MongoDB stand-in on port $MPORT"
fi

echo "== $N changes into the topic shiftlog_$TAG.$TAG through the MariaDB collector"
my -e "CREATE DATABASE $DB; CREATE TABLE $DB.t (id INT PRIMARY KEY, a INT, b BIGINT, c VARCHAR(32),
       d DECIMAL(12,2), e DATETIME(6), f DOUBLE, i TEXT)"
read -r F0 P0 < <(my -N -e "SHOW MASTER STATUS" | awk '{print $1, $2}')
awk -v n="$N" -v db="$DB" 'BEGIN {
    for (i = 1; i <= n; i++) {
        if (i % 10 == 1) print "BEGIN;";
        printf "INSERT INTO %s.t VALUES (%d,%d,%d,\"row %d\",%d.25,\"2026-11-25 10:00:00.%06d\",%d.5,\"text %d\");\n",
               db, i, i, i * 1000003, i, i, i % 1000000, i, i;
        if (i % 10 == 0 || i == n) print "COMMIT;";
    }
}' > "$WORK/load.sql"
my < "$WORK/load.sql"
"$BIN/shiftlog-collector" -c examples/local/collector-mysql.conf -X source.name="$TAG" \
    -X topic.prefix="shiftlog_$TAG" -X start.position="$F0:$P0" -X tables.include="$DB\\..*" \
    -X snapshot.mode=never \
    -X source.server_id=$((RANDOM * 7 + 5000)) -X log.level=warn 2>"$WORK/collector.log" &
COLPID=$!
PIDS+=($COLPID)
TOPIC="shiftlog_$TAG.$TAG"
# the collector takes only the bench's table (other runs may write into MariaDB meanwhile).
# Wait for our N rows, stop the collector, read the topic to its end.
read -r END EXPECT < <("$SL_PYTHON" - "$SL_KAFKA_BROKERS" "$TOPIC" "$N" "$DB" "$COLPID" <<'PY'
import os, signal, sys, time
sys.path.insert(0, "tests/it")
import slavro
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
brokers, topic, n, db, cpid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
ours, docs, last, deadline, killed = 0, 0, -1, time.time() + 600, False
c = Consumer({"bootstrap.servers": brokers, "group.id": "bench", "enable.partition.eof": True,
              "isolation.level": "read_committed"})
c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
while time.time() < deadline:
    m = c.poll(1.0)
    if m is None:
        if killed:
            break
        continue
    if m.error():
        if killed and m.error().code() == -191:     # partition EOF after the collector stopped
            break
        continue
    r = slavro.decode(m.value())
    last = m.offset()
    t = r["type"]
    if t == "CHANGE":
        docs += len(r["body"]["rows"])
        if r["body"]["db"] == db:
            ours += len(r["body"]["rows"])
    elif t in ("COMMIT", "SCHEMA"):
        docs += 1
        if t == "COMMIT" and ours >= n and not killed:
            os.kill(cpid, signal.SIGTERM)
            killed = True
            time.sleep(1)
print(last + 1, docs)
PY
)
wait "$COLPID" 2>/dev/null || true
echo "   topic holds offsets 0..$((END - 1)): $EXPECT log documents (changes, commits, schemas)"

cat > "$WORK/raw.c" <<'C'
/* The ceiling: the log's documents (read back) inserted by a bare insert_many loop. */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv)
{
    mongoc_init();
    mongoc_client_t *c = mongoc_client_new(argv[1]);
    mongoc_collection_t *src = mongoc_client_get_collection(c, argv[2], argv[3]);
    mongoc_collection_t *dst = mongoc_client_get_collection(c, argv[2], "raw_copy");
    bson_t *all[200000];
    size_t n = 0;
    const bson_t *d;
    bson_t *q = bson_new();
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(src, q, NULL, NULL);
    while (n < 200000 && mongoc_cursor_next(cur, &d))
        all[n++] = bson_copy(d);
    bson_error_t ce;
    if (mongoc_cursor_error(cur, &ce)) {
        fprintf(stderr, "raw: reading %s.%s back: %s\n", argv[2], argv[3], ce.message);
        return 1;
    }
    mongoc_cursor_destroy(cur);

    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    mongoc_write_concern_set_wmajority(wc, 30000);
    mongoc_write_concern_set_journal(wc, true);
    bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
    mongoc_write_concern_append(wc, opts);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bson_error_t e;
    for (size_t i = 0; i < n; i += 1000) {
        size_t m = n - i < 1000 ? n - i : 1000;
        if (!mongoc_collection_insert_many(dst, (const bson_t **)all + i, m, opts, NULL, &e)) {
            fprintf(stderr, "raw insert: %s\n", e.message);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%zu %.3f\n", n, s);
    return 0;
}
C
cc -O2 -o "$WORK/raw" "$WORK/raw.c" $(pkg-config --cflags --libs libmongoc-1.0)

printf "%-34s %7s %8s %9s %7s %7s\n" "" "docs" "wall s" "docs/s" "CPU-s" "RSS MB"
NB=0
FAILED=0
for MB in $MINER_BIN; do
NB=$((NB + 1))
[ "$MINER_BIN" = "$MB" ] || echo "-- $MB"
for S in $SUPPLEMENT; do
for W in $WORKERS; do
    MDB="${TAG}_b${NB}s${S:0:1}w$W"
    t0=$(now)
    "$MB" -c examples/local/miner.conf -X source.name="$TAG" -X log.uri="$SL_MONGO_URI" \
        -X topic.prefix="shiftlog_$TAG" -X log.database="$MDB" -X log.collection="$TAG" -X worker_num="$W" \
        -X supplement.full.fields="$S" -X kafka.group.id="$MDB" -X log.level=warn 2>"$WORK/miner$W.log" &
    MP=$!
    PIDS+=($MP)
    if ! t1=$(wait_progress "$MDB" "$END" "$MP"); then
        printf "%-34s FAILED: %s\n" "miner supplement=$S worker_num=$W" "$(tail -1 "$WORK/miner$W.log" | cut -c1-300)"
        FAILED=1
        kill $MP 2>/dev/null || true; wait $MP 2>/dev/null || true
        continue
    fi
    cpu=$(cpu_s $MP); rss=$(hwm_kb $MP)
    kill $MP; wait $MP 2>/dev/null || true
    "$WORK/raw" "$SL_MONGO_URI" "$MDB" "$TAG" > "$WORK/raw.out" || exit 1
    read -r DOCS RAW_S < "$WORK/raw.out"
    if [ "$DOCS" != "$EXPECT" ]; then
        printf "%-34s FAILED: the log holds %s documents, the topic %s\n" \
            "miner supplement=$S worker_num=$W" "$DOCS" "$EXPECT"
        FAILED=1
        continue
    fi
    wall=$(echo "$t1 - $t0" | bc -l)
    mr=$(echo "$DOCS / $wall" | bc -l); rr=$(echo "$DOCS / $RAW_S" | bc -l)
    printf "%-34s %7d %8.2f %9.0f %7.2f %7.1f\n" "miner supplement=$S worker_num=$W" "$DOCS" "$wall" \
        "$mr" "$cpu" "$(echo "$rss / 1024" | bc -l)"
    printf "%-34s %7d %8.2f %9.0f   ratio miner/raw = %.0f %%\n" "  raw insert_many (same docs)" \
        "$DOCS" "$RAW_S" "$rr" "$(echo "100 * $mr / $rr" | bc -l)"
    # the in-memory stand-in holds every run: free this one's documents
    "$SL_PYTHON" -c "import pymongo; pymongo.MongoClient('$SL_MONGO_URI').drop_database('$MDB')"
done
done
done
exit $FAILED
