#!/usr/bin/env bash
# PostgreSQL collector: N row changes already in WAL -> all acknowledged by Kafka (the slot's
# confirmed_flush_lsn reaches the end, which the collector confirms only after Kafka's acks),
# vs pg_recvlogical with pgoutput over the same WAL range to /dev/null, same run.
#   bench/pg_collector.sh                 N=200000 changes (single-row INSERTs in transactions
#                                         of ROWS_PER_TXN=100 rows); N=1000000 for the issue's figure
#   COLLECTOR=path/to/shiftlog-collector  (default bin/shiftlog-collector)
# Prints events/s, CPU seconds and peak RSS of both, and the ratio. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(deploy/local/env)"
N=${N:-200000}
ROWS_PER_TXN=${ROWS_PER_TXN:-100}
COLLECTOR=${COLLECTOR:-${SHIFTLOG_BIN:-bin}/shiftlog-collector}
RECV=${PG_RECVLOGICAL:-/usr/lib/postgresql/15/bin/pg_recvlogical}
[ -x "$COLLECTOR" ] || { echo "pg_collector: $COLLECTOR missing: run make" >&2; exit 1; }
export PGPASSWORD=$SL_PG_PASSWORD
PSQL=(psql -h "$SL_PG_HOST" -p "$SL_PG_PORT" -U "$SL_PG_USER" -v ON_ERROR_STOP=1 -qAt)
db=bench_pg_$(date +%s)_$$
tmp=$(mktemp -d)
cleanup() {
    [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null || true
    "${PSQL[@]}" -d postgres -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('${db}_c','${db}_r') AND NOT active" >/dev/null 2>&1 || true
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

"${PSQL[@]}" -d postgres -c "CREATE DATABASE $db"
"${PSQL[@]}" -d "$db" -c "CREATE TABLE acct (id bigint PRIMARY KEY, balance bigint, note text, ts timestamptz)" \
    -c "CREATE PUBLICATION ${db}_p FOR ALL TABLES" \
    -c "SELECT pg_create_logical_replication_slot('${db}_c', 'pgoutput')" \
    -c "SELECT pg_create_logical_replication_slot('${db}_r', 'pgoutput')" >/dev/null
# the workload: N single-row INSERT changes, ROWS_PER_TXN per transaction
"${PSQL[@]}" -d "$db" -c "DO \$\$ BEGIN FOR t IN 0..$(( (N + ROWS_PER_TXN - 1) / ROWS_PER_TXN - 1 )) LOOP
  INSERT INTO acct SELECT i, i * 7, 'note ' || i, now() FROM generate_series(t * $ROWS_PER_TXN + 1, least((t + 1) * $ROWS_PER_TXN, $N)) i;
  COMMIT; END LOOP; END \$\$"
end=$("${PSQL[@]}" -d "$db" -c "SELECT pg_current_wal_insert_lsn()")
lsn_num() { "${PSQL[@]}" -d postgres -c "SELECT '$1'::pg_lsn - '0/0'::pg_lsn"; }
end_num=$(lsn_num "$end")
echo "workload: $N changes in WAL up to $end"

# shiftlog-collector
cat >"$tmp/c.conf" <<EOF
source.name = $db
source.type = postgresql
source.host = $SL_PG_HOST
source.port = $SL_PG_PORT
source.user = $SL_PG_CDC_USER
source.password = $SL_PG_CDC_PASSWORD
source.database = $db
source.slot = ${db}_c
source.publication = ${db}_p
# the WAL only: the rows loaded before are not copied again
snapshot.mode = never
topic.prefix = bench
kafka.bootstrap.servers = $SL_KAFKA_BROKERS
http.listen = off
EOF
t0=$(date +%s.%N)
/usr/bin/time -f '%U %S %M' -o "$tmp/c.time" "$COLLECTOR" -c "$tmp/c.conf" 2>"$tmp/c.log" &
cpid=$!
while :; do
    cf=$("${PSQL[@]}" -d postgres -c "SELECT COALESCE(confirmed_flush_lsn - '0/0'::pg_lsn, 0) FROM pg_replication_slots WHERE slot_name = '${db}_c'")
    [ "${cf%.*}" -ge "$end_num" ] && break
    kill -0 $cpid 2>/dev/null || { echo "collector exited:"; tail -5 "$tmp/c.log"; exit 1; }
    sleep 0.1
done
t1=$(date +%s.%N)
pkill -TERM -P $cpid 2>/dev/null || true   # the collector under /usr/bin/time, not time itself
wait $cpid || true
cpid=
read -r cu cs crss <"$tmp/c.time"
c_s=$(echo "$t1 - $t0" | bc -l)

# pg_recvlogical, same plugin, same range
t0=$(date +%s.%N)
/usr/bin/time -f '%U %S %M' -o "$tmp/r.time" "$RECV" -h "$SL_PG_HOST" -p "$SL_PG_PORT" -U "$SL_PG_USER" \
    -d "$db" --slot "${db}_r" --start -E "$end" -o proto_version=1 -o "publication_names=${db}_p" \
    -f /dev/null --no-loop -s 1
t1=$(date +%s.%N)
read -r ru rs rrss <"$tmp/r.time"
r_s=$(echo "$t1 - $t0" | bc -l)

printf 'shiftlog-collector: %d changes in %.2f s = %.0f events/s, CPU %.2f s, peak RSS %d MB (to Kafka, acknowledged)\n' \
    "$N" "$c_s" "$(echo "$N / $c_s" | bc -l)" "$(echo "$cu + $cs" | bc -l)" $((crss / 1024))
printf 'pg_recvlogical:     %d changes in %.2f s = %.0f events/s, CPU %.2f s, peak RSS %d MB (to /dev/null)\n' \
    "$N" "$r_s" "$(echo "$N / $r_s" | bc -l)" "$(echo "$ru + $rs" | bc -l)" $((rrss / 1024))
printf 'ratio collector/pg_recvlogical throughput: %.2f\n' "$(echo "$r_s / $c_s" | bc -l)"
