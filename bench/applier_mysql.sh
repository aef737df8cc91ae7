#!/usr/bin/env bash
# Applier → MariaDB throughput (not part of make test): the change stream of bench/applier_common.sh and
# feeds (multi: 100-change source transactions, 70 inserts + 30 updates per CHANGE message;
# single: one row per message), applied by shiftlog-applier (target.type=mysql), then the raw
# limits on the same final rows in the same run: text INSERT … VALUES (1000 rows)
# ON DUPLICATE KEY UPDATE through the mariadb client, and LOAD DATA LOCAL INFILE.
#   bench/applier_mysql.sh       (BENCH_ROWS=200000; BENCH_FEEDS, BENCH_WRITE_BATCH, BENCH_WORKERS,
#                                 BENCH_BASELINE_BIN as in applier_pg.sh)
BENCH_DEFAULT_ROWS=200000
. "$(dirname "$0")/applier_common.sh"
[ -x "$BIN/shiftlog-applier" ] && [ -x "$TB/it_feed" ] || { echo "applier_mysql: run make first" >&2; exit 1; }
export SL_MYSQL_HOST SL_MYSQL_PORT SL_MYSQL_ROOT_USER SL_MYSQL_ROOT_PASSWORD
MY="mariadb --defaults-file=$SL_MYSQL_DEFAULTS_FILE -h $SL_MYSQL_HOST -P $SL_MYSQL_PORT -u $SL_MYSQL_ROOT_USER -p$SL_MYSQL_ROOT_PASSWORD"
ID=benchmy_$$_$RANDOM
TMP=$(mktemp -d /tmp/applier_mysql.XXXXXX)
MAIN=$BASHPID
DBS=()
cleanup() {
    [ "$BASHPID" = "$MAIN" ] || return 0
    for d in "${DBS[@]}"; do $MY -e "DROP DATABASE IF EXISTS \`$d\`" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT


wait_applied() {
    "$SL_PYTHON" - "$@" <<'EOF'
import os, sys, time, pymysql
db, last, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = None
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("applier died")
    try:
        if conn is None:
            conn = pymysql.connect(host=os.environ["SL_MYSQL_HOST"],
                                   port=int(os.environ["SL_MYSQL_PORT"]),
                                   user=os.environ["SL_MYSQL_ROOT_USER"],
                                   password=os.environ["SL_MYSQL_ROOT_PASSWORD"],
                                   database=db, autocommit=True)
        cur = conn.cursor()
        cur.execute("SELECT min(kafka_offset) FROM kafkaoffset WHERE sub_offset <> -2")
        r = cur.fetchone()
        if r and r[0] is not None and r[0] >= last:
            break
    except pymysql.Error:
        conn = None
    time.sleep(0.01)
EOF
}


echo "applier_mysql: $N row changes (70 % inserts, 30 % updates of existing keys), write_batch $WB, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A A RSS MSGS
RUNS=()
for f in $FEEDS; do
    topic=${ID}_$f
    spec "$f" > "$TMP/$f.spec"
    MSGS[$f]=$(grep -vc '^at ' "$TMP/$f.spec")
    last=$(( ${MSGS[$f]} - 1 ))
    "$TB/it_feed" --brokers "$SL_KAFKA_BROKERS" --topic "$topic" < "$TMP/$f.spec" 2>"$TMP/$f.feed" ||
        { cat "$TMP/$f.feed"; exit 1; }
  for which in new ${BENCH_BASELINE_BIN:+base}; do
    bin=$BIN; ws=$WORKERS
    [ "$which" = base ] && bin=$BENCH_BASELINE_BIN && ws=1
   for w in $ws; do
    run=$f.$which.w$w db=${ID}_${f}_${which}_w$w
    RUNS+=("$run")
    DBS+=("$db")
    $MY -e "CREATE DATABASE \`$db\`"
    run_applier "$run" "$topic" "$db" "$last" "$bin" "$w" -X target.type=mysql \
      -X target.host="$SL_MYSQL_HOST" -X target.port="$SL_MYSQL_PORT" \
      -X target.user="$SL_MYSQL_ROOT_USER" -X target.password="$SL_MYSQL_ROOT_PASSWORD" \
      -X map.tables="bench.*=$db.*"
    MSGS[$run]=${MSGS[$f]}
    $MY -N -B -e "SELECT id, name, amount, ts FROM \`$db\`.t ORDER BY id" | md5sum > "$TMP/$run.md5"
   done
  done
done
first=${RUNS[0]}
for r in "${RUNS[@]}"; do
    cmp -s "$TMP/$first.md5" "$TMP/$r.md5" || { echo "applier_mysql: runs $first and $r leave different tables" >&2; exit 1; }
done

db=${ID}_${first//./_}
$MY -e "CREATE TABLE \`$db\`.raw_u LIKE \`$db\`.t; CREATE TABLE \`$db\`.raw_c LIKE \`$db\`.t"
$MY -N -B -e "SELECT id, name, amount, ts FROM \`$db\`.t" > "$TMP/rows"
ROWS=$(wc -l < "$TMP/rows")
awk -F'\t' 'BEGIN { u = " ON DUPLICATE KEY UPDATE name=VALUES(name), amount=VALUES(amount), ts=VALUES(ts);" }
  { v = v (n ? "," : "") "(" $1 ",'"'"'" $2 "'"'"'," $3 "," $4 ")"; n++;
    if (n == 1000) { print "INSERT INTO raw_u VALUES " v u; v = ""; n = 0 } }
  END { if (n) print "INSERT INTO raw_u VALUES " v u }' "$TMP/rows" > "$TMP/upsert.sql"
ts=$(now); { echo "START TRANSACTION;"; cat "$TMP/upsert.sql"; echo "COMMIT;"; } | $MY "$db"; te=$(now)
U=$(rate "$ROWS" "$ts" "$te")
ts=$(now); $MY --local-infile=1 "$db" -e "LOAD DATA LOCAL INFILE '$TMP/rows' INTO TABLE raw_c"; te=$(now)
C=$(rate "$ROWS" "$ts" "$te")

printf "%-46s %10s %8s %9s %9s\n" "path" "rows/s" "RSS MB" "÷upsert" "÷LOAD"
printf "%-46s %10d %8s %9s %9s\n" "raw INSERT…ON DUPLICATE KEY UPDATE, 1000/stmt" "$U" "" "1.00" "$(echo "scale=2; $U / $C" | bc)"
printf "%-46s %10d %8s %9s %9s\n" "raw LOAD DATA LOCAL INFILE" "$C" "" "" "1.00"
for r in "${RUNS[@]}"; do
    f=${r%%.*} w=${r##*.w}
    label="shiftlog-applier, $f feed, worker_num $w"
    [ "${r#*.}" = "base.w1" ] && label="baseline applier, $f feed"
    printf "%-46s %10d %8d %9s %9s\n" "$label" "${A[$r]}" "${RSS[$r]}" \
        "$(echo "scale=2; ${A[$r]} / $U" | bc)" "$(echo "scale=2; ${A[$r]} / $C" | bc)"
done
echo "applier rows/s = $N changes (updates included) ÷ time from process start to the last COMMIT"
echo "applied; raw rows/s = the $ROWS final rows ÷ their time. Goal (issue 5): ≥ 0.70 ÷upsert, RSS ≤ 256 MB."
