#!/usr/bin/env bash
# Decode throughput of shiftlog's binlog row decoder (collector/mysql_*.c),
# against the fetch-only rate and mariadb-binlog -vv on the same binlog range.
#
#   bench/mysql_decode.sh [statements]      (default 100 statements x 1000 rows)
#
# Needs the local stack (deploy/local/up) and build/release/tests/it_binlog_dump
# (make). Writes a fresh database bench_decode_<pid> (dropped at the end) with a
# 10-column table; every INSERT writes 1000 rows (MariaDB cuts them into ~8 KiB
# WRITE_ROWS events, binlog_row_event_max_size).
# Prints, for the same range:
#   fetch only     mariadb_rpl over TCP, no decoding
#   fetch+decode   mariadb_rpl + our decoder into CHANGE records (batches of 1000)
#   decode only    our decoder on the binlog file read from disk (CPU only, x5)
#   mariadb-binlog --read-from-remote-server --base64-output=decode-rows -vv > /dev/null
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
eval "$(deploy/local/env)"
N=${1:-100}
TOOL=${SHIFTLOG_TEST_BIN:-build/release/tests}/it_binlog_dump
[ -x "$TOOL" ] || { echo "bench/mysql_decode.sh: $TOOL missing: run make" >&2; exit 1; }
deploy/local/status -q || { echo "bench/mysql_decode.sh: the local stack is down: deploy/local/up" >&2; exit 1; }

DB=bench_decode_$$
MY=(mariadb -h "$SL_MYSQL_HOST" -P "$SL_MYSQL_PORT" -u "$SL_MYSQL_ROOT_USER" -p"$SL_MYSQL_ROOT_PASSWORD" -N --default-character-set=utf8mb4)
trap '"${MY[@]}" -e "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT

"${MY[@]}" -e "CREATE DATABASE $DB; CREATE TABLE $DB.t (id BIGINT PRIMARY KEY, a INT, b INT UNSIGNED,
  c VARCHAR(40), d DECIMAL(12,4), e DATETIME(6), f DOUBLE, g ENUM('x','y','z'), h TEXT, i TIMESTAMP(3) NULL)"
read -r FILE START < <("${MY[@]}" -e "SHOW MASTER STATUS" | cut -f1,2)
for ((s = 0; s < N; s++)); do
  echo "INSERT INTO $DB.t SELECT $s*1000+seq, CAST(seq AS SIGNED)-500, seq*7, CONCAT('row ', seq, ' é'), seq/7,
    '2024-02-29 13:45:00.123456' + INTERVAL seq SECOND, seq/3, ELT(1+seq%3,'x','y','z'),
    REPEAT('t', seq%50), FROM_UNIXTIME(1700000000+seq) FROM $DB.seq_1_to_1000;"
done | "${MY[@]}"
read -r FILE2 STOP < <("${MY[@]}" -e "SHOW MASTER STATUS" | cut -f1,2)
[ "$FILE" = "$FILE2" ] || { echo "the binlog rotated during the workload; run again" >&2; exit 1; }
ROWS=$((N * 1000))
LOCALFILE=$("${MY[@]}" -e "SELECT @@log_bin_basename")
LOCALFILE="$(dirname "$LOCALFILE")/$FILE"

echo "workload: $N INSERTs x 1000 rows (10 columns) = $ROWS rows, $FILE:$START..$STOP ($((STOP - START)) bytes)"
best() {  # best of 3 runs of a command printing "... seconds=S ..."
  local b=""
  for _ in 1 2 3; do
    local s; s=$("$@" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
    if [ -z "$b" ] || awk "BEGIN{exit !($s < $b)}"; then b=$s; fi
  done
  echo "$b"
}
F=$(best "$TOOL" -f "$FILE" -o "$START" --stop "$STOP" --no-decode --count)
D=$(best "$TOOL" -f "$FILE" -o "$START" --stop "$STOP" --count --batch 1000)
if [ -r "$LOCALFILE" ]; then
  L=$(best "$TOOL" -F "$LOCALFILE" -o "$START" --stop "$STOP" --count --batch 1000 --repeat 5)
else
  L=""
fi
T0=$(date +%s.%N)
mariadb-binlog --read-from-remote-server -h "$SL_MYSQL_HOST" -P "$SL_MYSQL_PORT" -u "$SL_MYSQL_ROOT_USER" \
  -p"$SL_MYSQL_ROOT_PASSWORD" --start-position="$START" --stop-position="$STOP" \
  --base64-output=decode-rows -vv "$FILE" > /dev/null
T1=$(date +%s.%N)
M=$(awk "BEGIN{print $T1 - $T0}")

rate() { awk "BEGIN{ if ($2 > 0) printf \"%-14s %8.3f s  %12.0f rows/s\n\", \"$1\", $2, $3 / $2 }"; }
rate "fetch only" "$F" "$ROWS"
rate "fetch+decode" "$D" "$ROWS"
[ -n "$L" ] && rate "decode only" "$(awk "BEGIN{print $L / 5}")" "$ROWS"
rate "mariadb-binlog" "$M" "$ROWS"
