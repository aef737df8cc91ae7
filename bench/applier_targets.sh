#!/usr/bin/env bash
# Applier targets on their own vs the raw bulk path of each server, same rows, same run.
#   bench/applier_targets.sh [ROWS]        (default 200000, MongoDB MONGO_ROWS=100000; needs `make`
#                                          and the local stack)
# MariaDB: app_target_mysql (prepared INSERT … ON DUPLICATE KEY UPDATE, array-bound bulk of
#          write_batch=1000 rows, kafkaoffset row in each transaction of 1000 rows) vs a text
#          multi-row INSERT … ON DUPLICATE KEY UPDATE of 1000 rows per statement; plus the same
#          target without bulk binding (one execute per row), on ROWS/10 rows.
# MongoDB: app_target_mongo (ordered bulks of 1000 replace_one upserts by _id, position document
#          per transaction) vs a libmongoc ordered bulk of 1000 replace_one upserts by _id.
# Rows: id BIGINT, v VARCHAR(64), amount DECIMAL(18,4), at DATETIME(6), n INT (it_target's
# `bulk` rows). Each figure is the best of 2 runs into a fresh database. Prints rows/s and ratios.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
ROWS=${1:-${ROWS:-200000}}
MONGO_ROWS=${MONGO_ROWS:-100000}     # the stand-in holds every document in a 1 GB heap
BIN=${SHIFTLOG_TEST_BIN:-build/release/tests}/it_target
[ -x "$BIN" ] || { echo "applier_targets: $BIN missing: run make" >&2; exit 1; }
eval "$(deploy/local/env)"
export SL_MYSQL_HOST SL_MYSQL_PORT SL_MYSQL_ROOT_USER SL_MYSQL_ROOT_PASSWORD SL_MONGO_URI
deploy/local/status -q || { echo "applier_targets: the local stack is not running (deploy/local/up)" >&2; exit 1; }

# Each run's database is dropped right after it: the stand-in keeps everything in its heap.
drop() {
    if [ "$1" = mysql ]; then
        mariadb --defaults-file="$SL_MYSQL_DEFAULTS_FILE" -h "$SL_MYSQL_HOST" -P "$SL_MYSQL_PORT" \
            -u "$SL_MYSQL_ROOT_USER" -p"$SL_MYSQL_ROOT_PASSWORD" -e "DROP DATABASE IF EXISTS \`$2\`" || true
    else
        "$SL_PYTHON" -c "import pymongo,sys; pymongo.MongoClient(sys.argv[1]).drop_database(sys.argv[2])" \
            "$SL_MONGO_URI" "$2" || true
    fi
}

# rate KIND MODE ROWS [env...]: best rows/s of 2 runs, each into a fresh database
rate() {
    local kind=$1 mode=$2 n=$3 best=0 r db
    shift 3
    for i in 1 2; do
        db="bench_tgt_$$_${kind}_${mode}_$i"
        if [ "$mode" = raw ]; then
            r=$(env "$@" "$BIN" "$kind" raw "$db" "$n" | sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p') || true
        else
            r=$(env "$@" "$BIN" "$kind" load "$db" "$n" 1000 0 | sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p') || true
        fi
        drop "$kind" "$db" >&2
        [ "${r:-0}" -gt "$best" ] && best=$r
    done
    echo "$best"
}

echo "applier targets, $ROWS rows (MongoDB $MONGO_ROWS) (id, varchar, decimal, datetime(6), int), write_batch 1000, $(nproc) cores"
my_raw=$(rate mysql raw "$ROWS")
my_tgt=$(rate mysql target "$ROWS")
my_row=$(rate mysql rowwise $((ROWS / 10)) SHIFTLOG_MYSQL_NO_BULK=1)
mg_raw=$(rate mongo raw "$MONGO_ROWS")
mg_tgt=$(rate mongo target "$MONGO_ROWS")
awk -v a="$my_raw" -v b="$my_tgt" -v c="$my_row" -v d="$mg_raw" -v e="$mg_tgt" 'BEGIN {
    printf "%-58s %10s %8s\n", "path", "rows/s", "ratio"
    printf "%-58s %10d %8s\n", "MariaDB raw text INSERT..ON DUPLICATE KEY UPDATE x1000", a, "1.00"
    printf "%-58s %10d %7.2fx\n", "MariaDB app_target_mysql (bulk array binding)", b, b / a
    printf "%-58s %10d %7.2fx\n", "MariaDB app_target_mysql (one execute per row)", c, c / a
    printf "%-58s %10d %8s\n", "Mongo stand-in raw libmongoc bulk replace_one upsert x1000", d, "1.00"
    printf "%-58s %10d %7.2fx\n", "Mongo stand-in app_target_mongo (plain upserts by _id)", e, e / d
}'
