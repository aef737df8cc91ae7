#!/usr/bin/env bash
# Applier → MongoDB throughput (not part of make test): the change stream of bench/applier_common.sh and
# feeds (multi: 100-change source transactions, 70 inserts + 30 updates per CHANGE message;
# single: one row per message), applied by shiftlog-applier (target.type=mongodb) from offset 0
# until every worker's position document reaches the last COMMIT (process start included), then
# the raw limit in the same run: a libmongoc ordered bulk of 1000 replace_one upserts by _id
# (tests/it/it_target mongo raw) on as many documents of the same shape (bigint key, varchar,
# decimal, two more columns) as the feeds leave.
#   bench/applier_mongo.sh       (BENCH_ROWS=150000; up to ~500000 fit the stand-in's 2 GB
#                                 heap; BENCH_FEEDS, BENCH_WRITE_BATCH, BENCH_WORKERS)
BENCH_DEFAULT_ROWS=150000
. "$(dirname "$0")/applier_common.sh"
[ -x "$BIN/shiftlog-applier" ] && [ -x "$TB/it_feed" ] && [ -x "$TB/it_target" ] ||
    { echo "applier_mongo: run make first" >&2; exit 1; }
export SL_MONGO_URI
ID=benchmg_$$_$RANDOM
TMP=$(mktemp -d /tmp/applier_mongo.XXXXXX)
MAIN=$BASHPID
DBS=()
mongo_py() { "$SL_PYTHON" -c "import pymongo, os, sys; c = pymongo.MongoClient(os.environ['SL_MONGO_URI']); $1" "${@:2}"; }
cleanup() {
    [ "$BASHPID" = "$MAIN" ] || return 0
    for d in "${DBS[@]}"; do mongo_py "c.drop_database(sys.argv[1])" "$d" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT


wait_applied() {
    "$SL_PYTHON" - "$@" <<'PY'
import os, sys, time, pymongo
db, last, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ko = pymongo.MongoClient(os.environ["SL_MONGO_URI"])[db]["kafkaoffset"]
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("applier died")
    # a document may hold only "high" (the replay window) before its first commit
    offs = [d.get("kafka_offset", -1) for d in ko.find({"sub_offset": {"$ne": -2}})]
    if offs and min(offs) >= last:
        break
    time.sleep(0.01)
PY
}


echo "applier_mongo: $N row changes (70 % inserts, 30 % updates of existing keys), write_batch $WB, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A A RSS
RUNS=()
# the stand-in is a JVM: a freshly started one ran the first (applier) run at 0.61-0.65 of a
# raw bulk timed after it and 0.83-0.93 once warm, so warm it with an untimed raw bulk first
wdb=${ID}_warm DBS+=("$wdb")
"$TB/it_target" mongo raw "$wdb" "$(( N < 200000 ? N : 200000 ))" >/dev/null
mongo_py "c.drop_database(sys.argv[1])" "$wdb"
for f in $FEEDS; do
    topic=${ID}_$f
    spec "$f" > "$TMP/$f.spec"
    last=$(( $(grep -vc '^at ' "$TMP/$f.spec") - 1 ))
    "$TB/it_feed" --brokers "$SL_KAFKA_BROKERS" --topic "$topic" < "$TMP/$f.spec" 2>"$TMP/$f.feed" ||
        { cat "$TMP/$f.feed"; exit 1; }
    for w in $WORKERS; do
        run=$f.w$w db=${ID}_${f}_w$w
        RUNS+=("$run")
        DBS+=("$db")
        run_applier "$run" "$topic" "$db" "$last" "$BIN" "$w" -X target.type=mongodb \
          -X target.host=127.0.0.1 -X target.port="${SL_MONGO_URI##*:}" -X map.tables="bench.*=$db.*"
        # the data fields (not _pos: the source position differs between the feeds)
        mongo_py "import hashlib; print(hashlib.md5(repr([sorted(d.items()) for d in c[sys.argv[1]]['t'].find({}, {'_pos': 0}).sort('_id', 1)]).encode()).hexdigest())" "$db" > "$TMP/$run.md5"
        # the stand-in keeps every document in its heap: keep only the first run's
        [ "$run" = "${RUNS[0]}" ] || mongo_py "c.drop_database(sys.argv[1])" "$db"
    done
done
first=${RUNS[0]}
for r in "${RUNS[@]}"; do
    cmp -s "$TMP/$first.md5" "$TMP/$r.md5" || { echo "applier_mongo: runs $first and $r leave different collections" >&2; exit 1; }
done
ROWS=$(mongo_py "print(c[sys.argv[1]]['t'].count_documents({}))" "${ID}_${first//./_}")
db=${ID}_raw DBS+=("$db")
U=$("$TB/it_target" mongo raw "$db" "$ROWS" | sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p')

printf "%-50s %10s %8s %9s\n" "path" "rows/s" "RSS MB" "÷bulk"
printf "%-50s %10d %8s %9s\n" "raw libmongoc bulk replace_one upsert x1000" "$U" "" "1.00"
for r in "${RUNS[@]}"; do
    printf "%-50s %10d %8d %9s\n" "shiftlog-applier, ${r%%.*} feed, worker_num ${r##*.w}" "${A[$r]}" \
        "${RSS[$r]}" "$(echo "scale=2; ${A[$r]} / $U" | bc)"
done
echo "applier rows/s = $N changes (updates included) ÷ time from process start to the last COMMIT"
echo "applied; raw rows/s = $ROWS documents of the same shape ÷ their time. Goal (issue 5): ≥ 0.70 ÷bulk."
