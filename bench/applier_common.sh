# Sourced by bench/applier_{pg,mysql,mongo}.sh (not run on its own): strict mode, the repo
# root, the local stack's environment, the knobs they share (BENCH_ROWS defaults to the
# caller's BENCH_DEFAULT_ROWS), the change stream both feeds are made of, and two helpers.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
eval "$(deploy/local/env)"
N=${BENCH_ROWS:-$BENCH_DEFAULT_ROWS}
FEEDS=${BENCH_FEEDS:-multi single}
WORKERS=${BENCH_WORKERS:-1}        # worker_num values to run, e.g. "1 2 4"
WB=${BENCH_WRITE_BATCH:-1000}
BIN=${SHIFTLOG_BIN:-bin}
TB=${SHIFTLOG_TEST_BIN:-build/release/tests}

# spec FEED: the it_feed lines of the change stream
spec() {
  awk -v n="$N" -v feed="$1" '
  function ins(i) { return sprintf("i:%d,s:name%%20%d,dec:%d.%02d,i:%d", i, i, i % 100000, i % 100, i) }
  function upd(i, k) { return sprintf("i:%d,s:x,dec:0.00,i:0 i:%d,s:upd%%20%d,dec:%d.50,i:%d", k, k, k, k % 1000, i) }
  BEGIN {
    print "schema bench t id:int:bigint:pk=1 name:string:varchar(64):p=64 amount:decimal:decimal(12,2):p=12:s=2 ts:int:bigint";
    cols = "id,name,amount,ts"
    for (i = 0; i < n; i++) {
      isins = (i % 10 < 7 || i < 100)
      if (feed == "single") {
        if (isins) print "insert bench t " cols " " ins(i)
        else print "update bench t " cols " " upd(i, int(i / 3))
        if (i % 10 == 9) print "commit"
        continue
      }
      if (isins) I = I " " ins(i); else U = U " " upd(i, int(i / 3))
      if (i % 100 == 99 || i == n - 1) {
        if (I != "") print "insert bench t " cols I
        if (U != "") print "update bench t " cols U
        print "commit"; I = ""; U = ""
      }
    }
    if (feed == "single") print "commit"
  }'
}

now() { date +%s.%N; }
rate() { echo "$1 / ($3 - $2)" | bc; }

# run_applier RUN TOPIC DB LAST BIN W [-X target options…]: BIN/shiftlog-applier from TOPIC's
# start into DB with the shared options, until the caller's `wait_applied DB LAST PID` returns;
# then A[RUN] = changes/s (process start included), RSS[RUN] = peak RSS in MB, and it is stopped.
# BENCH_WRAP prefixes the command (e.g. a profiler).
run_applier() {
    local run=$1 topic=$2 db=$3 last=$4 bin=$5 w=$6 ts te apid
    shift 6
    ts=$(now)
    ${BENCH_WRAP:-} "$bin/shiftlog-applier" -X task.name=bench -X source.topic="$topic" \
      -X target.database="$db" "$@" \
      -X kafka.bootstrap.servers="$SL_KAFKA_BROKERS" -X write_batch="$WB" -X worker_num="$w" \
      -X http.listen=off -X log.level=warn 2>"$TMP/$run.log" &
    apid=$!
    wait_applied "$db" "$last" "$apid" || { cat "$TMP/$run.log"; kill $apid 2>/dev/null; exit 1; }
    te=$(now)
    RSS[$run]=$(( $(awk '/^VmHWM/ {print $2}' /proc/$apid/status) / 1024 ))
    kill -TERM $apid; wait $apid || true
    A[$run]=$(rate "$N" "$ts" "$te")
    printf "  applied %-11s in %5.1f s\n" "$run" "$(echo "$te - $ts" | bc)"
}
