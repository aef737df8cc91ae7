#!/usr/bin/env bash
# Producer wrapper throughput vs plain librdkafka and kcat, same payloads, same run.
#   bench/kafka_produce.sh            (N=200000 records of ~SIZE=200 bytes; needs `make` and the
#                                      local stack: deploy/local/up kafka)
# Each run writes to its own new topic (1 partition, acks=all, idempotent). Prints one line per
# producer and the ratios to the raw librdkafka run. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(deploy/local/env)"
N=${N:-200000}
SIZE=${SIZE:-200}
B=${SL_KAFKA_BROKERS}
IT=${SHIFTLOG_TEST_BIN:-build/release/tests}/it_kafka
[ -x "$IT" ] || { echo "kafka_produce: $IT missing: run make" >&2; exit 1; }
kcat -b "$B" -L -m 5 >/dev/null 2>&1 || { echo "kafka_produce: no Kafka on $B: run deploy/local/up kafka" >&2; exit 1; }
tag=bench_$(date +%s)_$$
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# kcat: payloads from a file, split on a delimiter that no payload contains.
DELIM='<<SL-DELIM>>'
"$IT" payloads --records "$N" --size "$SIZE" --delim "$DELIM" >"$tmp/payloads"
t0=$(date +%s.%N)
kcat -P -b "$B" -t "${tag}_kcat" -D "$DELIM" -X enable.idempotence=true -X acks=all -l "$tmp/payloads"
t1=$(date +%s.%N)
kcat_s=$(echo "$t1 - $t0" | bc -l)
kcat_n=$(kcat -C -b "$B" -t "${tag}_kcat" -o beginning -e -q -f '.\n' | wc -l)
printf 'mode=kcat records=%s seconds=%.3f msgs_per_s=%.0f (process start included)\n' \
    "$kcat_n" "$kcat_s" "$(echo "$kcat_n / $kcat_s" | bc -l)"

run() { "$IT" bench --brokers "$B" --records "$N" --size "$SIZE" "$@"; }
raw=$(run --topic "${tag}_raw" --raw)
idem=$(run --topic "${tag}_idem")
tx1k=$(run --topic "${tag}_tx1k" --transactional --per-txn 1000 --txn-id "${tag}_tx1k")
tx10k=$(run --topic "${tag}_tx10k" --transactional --per-txn 10000 --txn-id "${tag}_tx10k")
printf '%s\n' "$raw" "$idem" "$tx1k" "$tx10k"

rate() { sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }
r_raw=$(rate "$raw")
kcat_rate=$(echo "$kcat_n / $kcat_s" | bc -l)
echo "ratios vs raw librdkafka ($r_raw msg/s) and vs kcat ($(printf %.0f "$kcat_rate") msg/s):"
for name in idem tx1k tx10k; do
    r=$(rate "${!name}")
    printf '  %-6s %8s msg/s  %.2fx raw  %.2fx kcat\n' "$name" "$r" \
        "$(echo "$r / $r_raw" | bc -l)" "$(echo "$r / $kcat_rate" | bc -l)"
done
