#!/usr/bin/env bash
# Benchmark: the MySQL/MariaDB collector, binlog -> Kafka, against baselines on the same range.
#   bench/mysql_collector.sh            N=200000 single-row changes (autocommit each)
#   N=1000000 bench/mysql_collector.sh
#   TXN=10 N=1000000 bench/mysql_collector.sh     10 single-row statements per transaction
#   ROWS=100 N=1000000 bench/mysql_collector.sh   100-row statements (autocommit)
# Every statement changes ROWS rows (default 1: one rows event each); TXN (default 1)
# statements share a transaction.
# The changes (1/2 INSERT, 1/4 UPDATE, 1/4 DELETE on a 10-column table) are written to the
# binlog first; then, over exactly that range:
#   mariadb-binlog --read-from-remote-server --base64-output=decode-rows -vv  > /dev/null
#   bench/mysql_fetch.c              a bare mariadb_rpl fetch loop (transport only, no decoding)
#   shiftlog-collector               from the range's start until every change's COMMIT is
#                                    durable in Kafka (checkpoint stored)
# and prints wall time, events/s (row changes per second), CPU-seconds and peak RSS of each.
# Needs the local stack (deploy/local/up) and `make`. Not part of `make test`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
eval "$(deploy/local/env)"
N=${N:-200000}
TXN=${TXN:-1}
ROWS=${ROWS:-1}
INS=$((N / 2)); UPD=$((N / 4)); DEL=$((N - INS - UPD))
STMTS=$(( (INS + ROWS - 1) / ROWS + (UPD + ROWS - 1) / ROWS + (DEL + ROWS - 1) / ROWS ))
NTXN=$(( (STMTS + TXN - 1) / TXN ))      # COMMIT markers the run publishes
BIN=${SHIFTLOG_BIN:-bin}
TAG=bench_$$_$RANDOM
DB=$TAG
WORK=$(mktemp -d)
COL_PID=
cleanup() {
    [ -n "$COL_PID" ] && kill "$COL_PID" 2>/dev/null || true
    my -e "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
my() { mariadb --defaults-file="$SL_MYSQL_DEFAULTS_FILE" -uroot "$@"; }
now() { date +%s.%N; }
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }   # utime + stime (CLK_TCK 100)
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

[ -x "$BIN/shiftlog-collector" ] || { echo "run make first" >&2; exit 1; }

echo "== writing $N changes to the binlog: $ROWS-row statements, $TXN per transaction (database $DB)"
my -e "CREATE DATABASE $DB; CREATE TABLE $DB.t (id INT PRIMARY KEY, a INT, b BIGINT, c VARCHAR(32),
       d DECIMAL(12,2), e DATETIME(6), f DOUBLE, g TINYINT, h CHAR(8), i TEXT)"
read -r F0 P0 < <(my -N -e "SHOW MASTER STATUS" | awk '{print $1, $2}')
awk -v n="$N" -v db="$DB" -v txn="$TXN" -v rows="$ROWS" -f bench/mysql_load.awk > "$WORK/load.sql"
t0=$(now)
my < "$WORK/load.sql"
t1=$(now)
read -r F1 P1 < <(my -N -e "SHOW MASTER STATUS" | awk '{print $1, $2}')
printf "   written in %.1f s; binlog range %s:%s .. %s:%s\n" "$(echo "$t1 - $t0" | bc)" "$F0" "$P0" "$F1" "$P1"
[ "$F0" = "$F1" ] || echo "   (the range spans binlog files; mariadb-binlog reads from $F0 on)"

report() {  # name wall cpu rss_kb
    printf "%-34s %8.2f s %10.0f ev/s %8.2f CPU-s %7.1f MB peak RSS\n" "$1" "$2" \
        "$(echo "$N / $2" | bc -l)" "$3" "$(echo "$4 / 1024" | bc -l)"
}

echo "== baseline 1: mariadb-binlog -vv (decode-rows) over the range"
t0=$(now)
/usr/bin/time -f "%U %S %M" -o "$WORK/mb.time" \
    mariadb-binlog --read-from-remote-server --host=127.0.0.1 --port="$SL_MYSQL_PORT" -uroot \
        -p"$SL_MYSQL_ROOT_PASSWORD" --base64-output=decode-rows -vv \
        --start-position="$P0" --stop-position="$P1" "$F0" $( [ "$F0" = "$F1" ] || echo "$F1" ) \
        > /dev/null
t1=$(now)
read -r u s m < "$WORK/mb.time"
MB_WALL=$(echo "$t1 - $t0" | bc); MB_CPU=$(echo "$u + $s" | bc)
report "mariadb-binlog -vv" "$MB_WALL" "$MB_CPU" "$m"

echo "== baseline 2: a bare mariadb_rpl fetch loop (bench/mysql_fetch.c: transport only)"
cc -O2 -o "$WORK/fetch" bench/mysql_fetch.c $(pkg-config --cflags --libs libmariadb)
t0=$(now)
/usr/bin/time -f "%U %S %M" -o "$WORK/fetch.time" \
    "$WORK/fetch" "$F0" "$P0" "$F1" "$P1" "$SL_MYSQL_PORT" "$SL_MYSQL_ROOT_PASSWORD" > "$WORK/fetch.out"
t1=$(now)
read -r u s m < "$WORK/fetch.time"
FETCH_WALL=$(echo "$t1 - $t0" | bc); FETCH_CPU=$(echo "$u + $s" | bc)
report "mariadb_rpl fetch loop" "$FETCH_WALL" "$FETCH_CPU" "$m"
echo "   ($(cat "$WORK/fetch.out") binlog events in the range)"

echo "== shiftlog-collector: binlog -> Kafka (transactional), until the checkpoint covers all"
cat > "$WORK/collector.conf" <<EOF
source.name = $TAG
source.host = 127.0.0.1
source.port = $SL_MYSQL_PORT
source.user = $SL_MYSQL_CDC_USER
source.password = $SL_MYSQL_CDC_PASSWORD
source.server_id = $((100000 + RANDOM))
start.position = $F0:$P0
tables.include = $DB\\..*
# the binlog range only: the rows loaded before are not copied again
snapshot.mode = never
topic.prefix = $TAG
kafka.bootstrap.servers = $SL_KAFKA_BROKERS
kafka.linger.ms = 20
txn.max.ms = ${TXN_MS:-500}
txn.max.messages = ${TXN_MSGS:-50000}
http.listen = 127.0.0.1:0
${COL_CONF:-}
EOF
${COL_WRAP:-} "$BIN/shiftlog-collector" -c "$WORK/collector.conf" 2> "$WORK/collector.log" &   # COL_WRAP: e.g. a profiler (figures are then its own)
COL_PID=$!
PORT=
for _ in $(seq 100); do
    PORT=$(sed -n 's/.*serving \/health and \/metrics on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/collector.log")
    [ -n "$PORT" ] && break; sleep 0.1
done
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
until grep -q "reading the binlog" "$WORK/collector.log"; do
    kill -0 $COL_PID 2>/dev/null || { cat "$WORK/collector.log"; exit 1; }; sleep 0.05; done
t0=$(now)
# every change's COMMIT published, then the checkpoint stored after that
while :; do
    c=$(metric 'shiftlog_collector_records_total{type="commit"}'); c=${c:-0}
    [ "${c%.*}" -ge "$NTXN" ] && break
    kill -0 $COL_PID 2>/dev/null || { cat "$WORK/collector.log"; exit 1; }
    sleep 0.05
done
tc=$(date +%s.%N)
while :; do
    ck=$(metric shiftlog_collector_checkpoint_time_seconds); q=$(metric shiftlog_collector_producer_queue)
    [ -n "$ck" ] && [ "$(echo "$ck >= $tc" | bc)" = 1 ] && [ "${q%.*}" = 0 ] && break
    sleep 0.02
done
t1=$(now)
COL_CPU=$(cpu_s $COL_PID); COL_RSS=$(hwm_kb $COL_PID)
COL_WALL=$(echo "$t1 - $t0" | bc)
kill -TERM $COL_PID; wait $COL_PID || true; COL_PID=
report "shiftlog-collector -> Kafka" "$COL_WALL" "$COL_CPU" "$COL_RSS"
echo "   (from the FINISH to the stored checkpoint; startup excluded: $(grep -c . "$WORK/collector.log") log lines)"

echo "== ratios"
printf "   collector / mariadb-binlog: %.2fx the speed, %.2fx the CPU\n" \
    "$(echo "$MB_WALL / $COL_WALL" | bc -l)" "$(echo "$COL_CPU / $MB_CPU" | bc -l)"
printf "   collector / fetch loop:     %.2fx the speed, %.2fx the CPU\n" \
    "$(echo "$FETCH_WALL / $COL_WALL" | bc -l)" "$(echo "$COL_CPU / $FETCH_CPU" | bc -l)"
printf "   collector CPU-s per million changes: %.1f\n" "$(echo "$COL_CPU * 1000000 / $N" | bc -l)"
