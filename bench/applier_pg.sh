#!/usr/bin/env bash
# Applier → PostgreSQL throughput (not part of make test). Prints figures:
#   N row changes (default 200000, BENCH_ROWS=1000000 for the issue's figure) in Kafka as
#   transactions of 10 inserts/updates; then in the same run on the same rows:
#   1) shiftlog-applier from offset 0 to the last COMMIT: rows/s and peak RSS;
#   2) raw multi-row INSERT ... ON CONFLICT DO UPDATE, 1000 rows/statement (psql, text SQL);
#   3) COPY of the same rows.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
eval "$(deploy/local/env)"
N=${BENCH_ROWS:-200000}
BIN=${SHIFTLOG_BIN:-bin}
TB=${SHIFTLOG_TEST_BIN:-build/release/tests}
export PGPASSWORD=$SL_PG_PASSWORD
PSQL="psql -qAt -h $SL_PG_HOST -p $SL_PG_PORT -U $SL_PG_USER"
ID=bench_$$_$RANDOM
TOPIC=$ID
$PSQL -d postgres -c "CREATE DATABASE $ID"
MAIN=$BASHPID
cleanup() { [ "$BASHPID" = "$MAIN" ] && $PSQL -d postgres -c "DROP DATABASE IF EXISTS $ID WITH (FORCE)" >/dev/null 2>&1; true; }
trap cleanup EXIT

spec() {   # 70% inserts of new keys, 30% updates, 10 rows per source transaction
  awk -v n="$N" 'BEGIN {
    print "schema bench t id:int:bigint:pk=1 name:string:varchar(64):p=64 amount:decimal:decimal(12,2):p=12:s=2 ts:int:bigint";
    for (i = 0; i < n; i++) {
      if (i % 10 < 7 || i < 100) { k = i; printf "insert bench t id,name,amount,ts i:%d,s:name%%20%d,dec:%d.%02d,i:%d\n", k, k, k % 100000, k % 100, i }
      else { k = int(i / 3); printf "update bench t id,name,amount,ts i:%d,s:x,dec:0.00,i:0 i:%d,s:upd%%20%d,dec:%d.50,i:%d\n", k, k, k, k % 1000, i }
      if (i % 10 == 9) print "commit"
    }
    print "commit"
  }'
}
t0=$(date +%s.%N)
spec | "$TB/it_feed" --brokers "$SL_KAFKA_BROKERS" --topic "$TOPIC" 2>/tmp/$ID.feed
LAST=$(( $(spec | grep -vc '^at ') - 1 ))
t1=$(date +%s.%N)
echo "fed $N row changes ($((LAST + 1)) messages) to Kafka in $(echo "$t1 - $t0" | bc) s"

"$BIN/shiftlog-applier" -X task.name=bench -X source.topic="$TOPIC" \
  -X target.database="$ID" -X target.host="$SL_PG_HOST" -X target.port="$SL_PG_PORT" \
  -X target.user="$SL_PG_USER" -X target.password="$SL_PG_PASSWORD" \
  -X kafka.bootstrap.servers="$SL_KAFKA_BROKERS" -X write_batch=${BENCH_WRITE_BATCH:-1000} \
  -X http.listen=off -X log.level=warn 2>/tmp/$ID.log &
APID=$!
ts=$(date +%s.%N)
while :; do
  off=$($PSQL -d "$ID" -c "SELECT kafka_offset FROM kafkaoffset" 2>/dev/null || true)
  [ -n "$off" ] && [ "$off" -ge "$LAST" ] && break
  kill -0 $APID 2>/dev/null || { echo "applier died"; cat /tmp/$ID.log; exit 1; }
  sleep 0.05
done
te=$(date +%s.%N)
RSS=$(( $(awk '/^VmHWM/ {print $2}' /proc/$APID/status) / 1024 ))
kill -TERM $APID; wait $APID || true
A=$(echo "$N / ($te - $ts)" | bc)
echo "applier:            $A rows/s  (peak RSS ${RSS} MB, write_batch ${BENCH_WRITE_BATCH:-1000})"

# the same final rows, raw: multi-row upserts of 1000 rows, then COPY
$PSQL -d "$ID" -c "CREATE TABLE raw_u (LIKE bench.t INCLUDING ALL); CREATE TABLE raw_c (LIKE bench.t INCLUDING ALL)"
$PSQL -d "$ID" -c "COPY bench.t TO STDOUT" > /tmp/$ID.rows
awk -F'\t' 'BEGIN { OFS="" } { v = v (n ? "," : "") "(" $1 ",'"'"'" $2 "'"'"'," $3 "," $4 ")"; n++;
  if (n == 1000) { print "INSERT INTO raw_u VALUES " v " ON CONFLICT (id) DO UPDATE SET name=EXCLUDED.name, amount=EXCLUDED.amount, ts=EXCLUDED.ts;"; v = ""; n = 0 } }
  END { if (n) print "INSERT INTO raw_u VALUES " v " ON CONFLICT (id) DO UPDATE SET name=EXCLUDED.name, amount=EXCLUDED.amount, ts=EXCLUDED.ts;" }' /tmp/$ID.rows > /tmp/$ID.sql
ROWS=$(wc -l < /tmp/$ID.rows)
ts=$(date +%s.%N); $PSQL -d "$ID" -1 -f /tmp/$ID.sql >/dev/null; te=$(date +%s.%N)
U=$(echo "$ROWS / ($te - $ts)" | bc)
echo "raw INSERT..ON CONFLICT (1000/stmt): $U rows/s ($ROWS rows)"
ts=$(date +%s.%N); $PSQL -d "$ID" -c "\\copy raw_c FROM '/tmp/$ID.rows'"; te=$(date +%s.%N)
C=$(echo "$ROWS / ($te - $ts)" | bc)
echo "raw COPY:           $C rows/s"
echo "ratio applier/upsert: $(echo "scale=2; $A / $U" | bc)   applier/COPY: $(echo "scale=2; $A / $C" | bc)"
echo "note: the applier's figure counts every row change ($N, updates included); the raw ones the $ROWS final rows"
rm -f /tmp/$ID.*
