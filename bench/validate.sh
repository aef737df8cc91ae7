#!/usr/bin/env bash
# shiftlog validate throughput (not part of make test): a MariaDB table and a PostgreSQL table
# holding the same N rows (each loaded by its own SQL), validated, against reading both tables
# whole in the same run:
#
#   bench/validate.sh                      (BENCH_ROWS=1000000)
#   BENCH_ROWS=200000 BENCH_CHUNK=20000 bench/validate.sh
#   BENCH_BEFORE=/tmp/old-bin bench/validate.sh   (also times that build's shiftlog, same tables)
#
# Table: id bigint primary key, name varchar(64), amount decimal(12,2), ts datetime(6)/timestamp(6),
# flag tinyint/boolean-ish smallint.
# Baseline "read both whole": `mariadb -B -e "SELECT * FROM t" > /dev/null` and
# `psql -c "COPY t TO STDOUT" > /dev/null`, one after the other (validate's own time covers both
# sides too). The goal (issue 21) is validate <= 0.5 x that.
# shiftlog validate: wall time, chunks, and its peak RSS (VmHWM, from --json).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
eval "$(deploy/local/env)"
N=${BENCH_ROWS:-1000000}
CHUNK=${BENCH_CHUNK:-10000}
BIN=${SHIFTLOG_BIN:-bin}
[ -x "$BIN/shiftlog" ] || { echo "validate: run make first" >&2; exit 1; }
ID=valb_$$_$RANDOM
export PGPASSWORD=$SL_PG_PASSWORD MYSQL_PWD=$SL_MYSQL_ROOT_PASSWORD
MY="mariadb -h $SL_MYSQL_HOST -P $SL_MYSQL_PORT -u root"
PSQL="psql -qAtX -h $SL_PG_HOST -p $SL_PG_PORT -U $SL_PG_USER"
cleanup() {
    $MY -e "DROP DATABASE IF EXISTS $ID" 2>/dev/null || true
    $PSQL -d postgres -c "DROP DATABASE IF EXISTS $ID WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

echo "validate: $N rows, chunk $CHUNK, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
$MY -e "CREATE DATABASE $ID; USE $ID;
        CREATE TABLE t (id bigint PRIMARY KEY, name varchar(64), amount decimal(12,2),
                        ts datetime(6), flag smallint);
        INSERT INTO t SELECT seq, concat('name ', seq), (seq % 100000) + (seq % 100) / 100,
                      '2020-01-01' + INTERVAL seq * 1000001 MICROSECOND, seq % 2 FROM seq_1_to_$N"
$PSQL -d postgres -c "CREATE DATABASE $ID"
$PSQL -d $ID -c "CREATE SCHEMA $ID;
        CREATE TABLE $ID.t (id bigint PRIMARY KEY, name varchar(64), amount numeric(12,2),
                            ts timestamp(6), flag smallint);
        INSERT INTO $ID.t SELECT i, 'name ' || i, (i % 100000) + (i % 100) / 100.0,
                          '2020-01-01'::timestamp + i * interval '1.000001 second', i % 2
                          FROM generate_series(1, $N) i"
$PSQL -d $ID -c "VACUUM ANALYZE $ID.t"
# warm both caches the same way for every contender
$MY -B -N -e "SELECT COUNT(*) FROM $ID.t" >/dev/null
$PSQL -d $ID -c "SELECT count(*) FROM $ID.t" >/dev/null

t0=$(now); $MY -B -N -e "SELECT * FROM $ID.t" >/dev/null; t1=$(now)
$PSQL -d $ID -c "COPY $ID.t TO STDOUT" >/dev/null; t2=$(now)
READ=$(secs "$t0" "$t2")
echo "  read MariaDB whole (SELECT)     $(secs "$t0" "$t1") s"
echo "  read PostgreSQL whole (COPY TO) $(secs "$t1" "$t2") s"
echo "  read both                       $READ s"

BEFORE=${BENCH_BEFORE:-}
SRC="mysql://root:$SL_MYSQL_ROOT_PASSWORD@$SL_MYSQL_HOST:$SL_MYSQL_PORT"
DST="postgresql://$SL_PG_USER:$SL_PG_PASSWORD@$SL_PG_HOST:$SL_PG_PORT/$ID"
t0=$(now)
OUT=$("$BIN/shiftlog" validate -q --json --chunk-rows "$CHUNK" --source "$SRC" --target "$DST" \
      "$ID.t" "$ID.t") || { echo "validate: exit $?: $OUT" >&2; exit 1; }
t1=$(now)
VAL=$(secs "$t0" "$t1")
RSS=$(echo "$OUT" | sed -n 's/.*"peak_rss_kb":\([0-9]*\).*/\1/p')
CH=$(echo "$OUT" | sed -n 's/.*"chunks":\([0-9]*\).*/\1/p')
echo "  shiftlog validate               $VAL s ($CH chunks, equal), peak RSS $((RSS / 1024)) MB"
echo "  validate / read both            $(echo "scale=2; $VAL / $READ" | bc)x (goal <= 0.5x)"
if [ -n "$BEFORE" ]; then
    t0=$(now)
    "$BEFORE/shiftlog" validate -q --json --chunk-rows "$CHUNK" --source "$SRC" --target "$DST" \
        "$ID.t" "$ID.t" >/dev/null || { echo "validate (before): exit $?" >&2; exit 1; }
    t1=$(now)
    B=$(secs "$t0" "$t1")
    echo "  shiftlog validate ($BEFORE)  $B s, / read both $(echo "scale=2; $B / $READ" | bc)x"
fi
