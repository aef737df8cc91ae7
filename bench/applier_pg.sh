#!/usr/bin/env bash
# Applier → PostgreSQL throughput (not part of make test). Prints figures, all measured in this
# run on this machine, so that the ratios compare like with like:
#
#   bench/applier_pg.sh                    (BENCH_ROWS=500000 row changes, ~1 min here)
#   BENCH_ROWS=1000000 bench/applier_pg.sh (the issue's figure)
#   BENCH_FEEDS=multi BENCH_WRITE_BATCH=2000 bench/applier_pg.sh
#   BENCH_WORKERS="1 2 4" bench/applier_pg.sh   (worker_num values, each on the same feeds)
#   BENCH_BASELINE_BIN=/tmp/old/bin bench/applier_pg.sh   (also runs that build's applier on the
#                                          same feeds: before/after in one run)
#
# The change stream (the same logical changes in every feed): change i inserts key i
# (70 %, and the first 100), or updates key i/3 (30 %: an existing key; consecutive updates
# often hit the same key, as hot rows do). Feeds:
#   multi   a collector's view of multi-row statements: source transactions of 100 changes,
#           each one CHANGE message of its 70 inserts + one of its 30 updates, then COMMIT;
#   single  one CHANGE message per row, source transactions of 10 rows (the worst case).
# For each feed: shiftlog-applier from offset 0 until the target's kafkaoffset reaches the
# last COMMIT (process start included), into a fresh database: changes/s and peak RSS (VmHWM);
# the two feeds must leave identical tables (md5 of the rows, checked).
# Then the raw limits on the same final rows, same server, same run:
#   upsert  psql -1 -f of text INSERT … VALUES (1000 rows) ON CONFLICT (id) DO UPDATE;
#   COPY    \copy of the rows.
# Ratio = applier changes/s ÷ raw rows/s (the applier's count includes the updates it applied;
# the raw paths write the final rows only, which is what a target can be asked to do at best).
BENCH_DEFAULT_ROWS=500000
. "$(dirname "$0")/applier_common.sh"
[ -x "$BIN/shiftlog-applier" ] && [ -x "$TB/it_feed" ] || { echo "applier_pg: run make first" >&2; exit 1; }
export PGPASSWORD=$SL_PG_PASSWORD SL_PG_HOST SL_PG_PORT SL_PG_USER SL_PG_PASSWORD
PSQL="psql -qAtX -h $SL_PG_HOST -p $SL_PG_PORT -U $SL_PG_USER"
ID=bench_$$_$RANDOM
TMP=$(mktemp -d /tmp/applier_pg.XXXXXX)
MAIN=$BASHPID
DBS=()
cleanup() {
    [ "$BASHPID" = "$MAIN" ] || return 0
    for d in "${DBS[@]}"; do $PSQL -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT


# waits until kafkaoffset in DB reaches LAST or PID dies; prints seconds since it started
wait_applied() {
    "$SL_PYTHON" - "$@" <<'EOF'
import os, sys, time, psycopg2
db, last, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = None
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("applier died")
    try:
        if conn is None:
            conn = psycopg2.connect(host=os.environ["SL_PG_HOST"], port=os.environ["SL_PG_PORT"],
                                    user=os.environ["SL_PG_USER"],
                                    password=os.environ["SL_PG_PASSWORD"], dbname=db)
            conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT min(kafka_offset) FROM kafkaoffset WHERE sub_offset <> -2")
        r = cur.fetchone()
        if r and r[0] is not None and r[0] >= last:
            break
    except psycopg2.Error:
        conn = None
    time.sleep(0.01)
EOF
}


echo "applier_pg: $N row changes (70 % inserts, 30 % updates of existing keys), write_batch $WB, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A A RSS MSGS
RUNS=()
for f in $FEEDS; do
    topic=${ID}_$f
    spec "$f" > "$TMP/$f.spec"
    MSGS[$f]=$(grep -vc '^at ' "$TMP/$f.spec")
    last=$(( ${MSGS[$f]} - 1 ))
    t0=$(now)
    "$TB/it_feed" --brokers "$SL_KAFKA_BROKERS" --topic "$topic" < "$TMP/$f.spec" 2>"$TMP/$f.feed" ||
        { cat "$TMP/$f.feed"; exit 1; }
    t1=$(now)
    printf "  fed %-6s %8d messages in %5.1f s\n" "$f" "${MSGS[$f]}" "$(echo "$t1 - $t0" | bc)"
  for which in new ${BENCH_BASELINE_BIN:+base}; do
    bin=$BIN; ws=$WORKERS
    [ "$which" = base ] && bin=$BENCH_BASELINE_BIN && ws=1
   for w in $ws; do
    run=$f.$which.w$w db=${ID}_${f}_${which}_w$w
    RUNS+=("$run")
    DBS+=("$db")
    $PSQL -d postgres -c "CREATE DATABASE $db"
    run_applier "$run" "$topic" "$db" "$last" "$bin" "$w" \
      -X target.host="$SL_PG_HOST" -X target.port="$SL_PG_PORT" \
      -X target.user="$SL_PG_USER" -X target.password="$SL_PG_PASSWORD"
    MSGS[$run]=${MSGS[$f]}
    $PSQL -d "$db" -c "SELECT md5(string_agg(t::text, chr(10) ORDER BY id)) FROM bench.t t" > "$TMP/$run.md5"
   done
  done
done
first=${RUNS[0]}
for r in "${RUNS[@]}"; do
    cmp -s "$TMP/$first.md5" "$TMP/$r.md5" || { echo "applier_pg: runs $first and $r leave different tables" >&2; exit 1; }
done

# the same final rows, raw: multi-row upserts of 1000 rows, then COPY
db=${ID}_${first//./_}
$PSQL -d "$db" -c "CREATE TABLE raw_u (LIKE bench.t INCLUDING ALL); CREATE TABLE raw_c (LIKE bench.t INCLUDING ALL)"
$PSQL -d "$db" -c "COPY bench.t TO STDOUT" > "$TMP/rows"
ROWS=$(wc -l < "$TMP/rows")
awk -F'\t' 'BEGIN { u = " ON CONFLICT (id) DO UPDATE SET name=EXCLUDED.name, amount=EXCLUDED.amount, ts=EXCLUDED.ts;" }
  { v = v (n ? "," : "") "(" $1 ",'"'"'" $2 "'"'"'," $3 "," $4 ")"; n++;
    if (n == 1000) { print "INSERT INTO raw_u VALUES " v u; v = ""; n = 0 } }
  END { if (n) print "INSERT INTO raw_u VALUES " v u }' "$TMP/rows" > "$TMP/upsert.sql"
ts=$(now); $PSQL -d "$db" -1 -f "$TMP/upsert.sql" >/dev/null; te=$(now)
U=$(rate "$ROWS" "$ts" "$te")
ts=$(now); $PSQL -d "$db" -c "\\copy raw_c FROM '$TMP/rows'"; te=$(now)
C=$(rate "$ROWS" "$ts" "$te")

printf "%-44s %10s %8s %9s %9s\n" "path" "rows/s" "RSS MB" "÷upsert" "÷COPY"
printf "%-44s %10d %8s %9s %9s\n" "raw INSERT…ON CONFLICT, 1000 rows/stmt" "$U" "" "1.00" "$(echo "scale=2; $U / $C" | bc)"
printf "%-44s %10d %8s %9s %9s\n" "raw COPY" "$C" "" "" "1.00"
for r in "${RUNS[@]}"; do
    f=${r%%.*} w=${r##*.w}
    label="shiftlog-applier, $f feed, worker_num $w"
    [ "${r#*.}" = "base.w1" ] && label="baseline applier, $f feed"
    printf "%-44s %10d %8d %9s %9s\n" "$label" "${A[$r]}" "${RSS[$r]}" \
        "$(echo "scale=2; ${A[$r]} / $U" | bc)" "$(echo "scale=2; ${A[$r]} / $C" | bc)"
done
echo "applier rows/s = $N changes (updates included) ÷ time from process start to the last COMMIT"
echo "applied; raw rows/s = the $ROWS final rows ÷ their time. Goal (issue 5): ≥ 0.70 ÷upsert, RSS ≤ 256 MB."
