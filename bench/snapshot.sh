#!/usr/bin/env bash
# Snapshot throughput (not part of make test): the rows that already exist in a MariaDB table,
# copied by shiftlog (collector snapshot.mode = initial_only -> Kafka -> applier) into
# PostgreSQL and into MariaDB, against the raw paths measured in the same run on the same rows:
#
#   bench/snapshot.sh                        (BENCH_ROWS=1000000 narrow rows)
#   BENCH_ROWS=200000 BENCH_CHUNK=16384 bench/snapshot.sh
#   BENCH_WIDE=1 bench/snapshot.sh           (the 30-column table)
#   BENCH_PG=0 bench/snapshot.sh             (without PostgreSQL -> PostgreSQL)
#   BENCH_PERF=/tmp/p bench/snapshot.sh      (perf record of every service into /tmp/p)
#   BENCH_10M=1 bench/snapshot.sh            (10M rows: RSS bounded whatever the size)
#   BENCH_COMPARE="-X snapshot.txn.max.ms=100ms" bench/snapshot.sh
#                                            (each shiftlog run also with these collector
#                                             settings, on the same rows: before/after;
#                                             BENCH_COMPARE_FIRST=1 runs those first)
#
# Table: id bigint primary key, name varchar(64), amount decimal(12,2), ts bigint; with
# BENCH_WIDE=1 the same plus 26 more columns (varchar, int, decimal, double, datetime(6),
# date, text), 30 in all.
# Baselines (same server, same rows, same run):
#   COPY          psql \copy of the rows from a TSV file into PostgreSQL (file written first,
#                 not timed) — the issue's "raw COPY FROM a file";
#   LOAD DATA     LOAD DATA LOCAL INFILE of the same file into MariaDB;
#   dump|load     mariadb-dump --no-create-info | mariadb into a fresh database;
#   pg_dump|psql  pg_dump --data-only | psql from a PostgreSQL copy of the rows (loaded from
#                 the file, not timed) into a fresh database: the baseline of PostgreSQL ->
#                 PostgreSQL, whose source is that copy (a publication, a slot of its own).
# shiftlog: time from the collector's start until the target holds N rows (the collector and
# the applier run at the same time, as in production), plus the collector alone (until
# initial_only stops it) and each process's peak RSS (VmHWM).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
eval "$(deploy/local/env)"
N=${BENCH_ROWS:-1000000}
[ "${BENCH_10M:-0}" = 1 ] && N=10000000
read -r -a COMPARE <<< "${BENCH_COMPARE:-}"
CHUNK=${BENCH_CHUNK:-4096}
WIDE=${BENCH_WIDE:-0}
WITH_PG=${BENCH_PG:-1}
BIN=${SHIFTLOG_BIN:-bin}
PERF=${BENCH_PERF:-}             # a directory: perf record of each service into it
[ -x "$BIN/shiftlog-collector" ] && [ -x "$BIN/shiftlog-applier" ] || { echo "snapshot: run make first" >&2; exit 1; }
ID=snapb_$$_$RANDOM
TMP=$(mktemp -d /tmp/snapshot_bench.XXXXXX)
export PGPASSWORD=$SL_PG_PASSWORD MYSQL_PWD=$SL_MYSQL_ROOT_PASSWORD
MY="mariadb -h $SL_MYSQL_HOST -P $SL_MYSQL_PORT -u root --local-infile=1"
PSQL="psql -qAtX -h $SL_PG_HOST -p $SL_PG_PORT -U $SL_PG_USER"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    $MY -e "DROP DATABASE IF EXISTS $ID; DROP DATABASE IF EXISTS ${ID}_dump; DROP DATABASE IF EXISTS ${ID}_load; DROP DATABASE IF EXISTS ${ID}_copy" 2>/dev/null || true
    $PSQL -d postgres -c "SELECT pg_drop_replication_slot('${ID}_slot') FROM pg_replication_slots WHERE slot_name = '${ID}_slot' AND NOT active" >/dev/null 2>&1 || true
    for d in ${ID}_copy ${ID}_raw ${ID}_src ${ID}_pgdump ${ID}_pgcopy; do $PSQL -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
[ -n "${BENCH_KEEP:-}" ] && trap 'cp "$TMP"/*.log "$BENCH_KEEP"/ 2>/dev/null; cleanup' EXIT
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
rate() { echo "$N / ($2 - $1)" | bc; }
hwm() { local k; k=$(awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null); echo $(( ${k:-0} / 1024 )); }

DDL="CREATE TABLE t (id bigint PRIMARY KEY, name varchar(64), amount decimal(12,2), ts bigint"
SEL="seq, concat('name ', seq), (seq % 100000) + (seq % 100) / 100, seq * 7"
if [ "$WIDE" = 1 ]; then
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do       # 13 groups of 2 = 26 more columns
        case $((i % 4)) in
        0) DDL+=", s$i varchar(40), i$i int";       SEL+=", concat('s', seq % 977, '-', $i), cast(seq % 100003 as signed) - 50000" ;;
        1) DDL+=", d$i decimal(14,4), f$i double";  SEL+=", (seq % 99991) / 7, seq / 3.0" ;;
        2) DDL+=", t$i datetime(6), dt$i date";     SEL+=", from_unixtime(1700000000 + seq + $i) + interval (seq % 1000000) microsecond, date '2020-01-01' + interval (seq % 2000) day" ;;
        3) DDL+=", x$i text, b$i bigint";           SEL+=", repeat(char(97 + seq % 26), 10 + seq % 30), seq * 1000003" ;;
        esac
    done
fi
DDL+=")"
PGDDL=$(echo "$DDL" | sed 's/datetime(6)/timestamp(6)/g; s/ double/ double precision/g')
echo "snapshot: $N rows ($([ "$WIDE" = 1 ] && echo "30 columns" || echo "bigint pk, varchar, decimal, bigint")), chunk $CHUNK, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
$MY -e "CREATE DATABASE $ID; USE $ID; $DDL;
        INSERT INTO t SELECT $SEL FROM seq_1_to_$N"
$MY -B -N -e "SELECT * FROM $ID.t" > "$TMP/t.tsv"

# --- baselines
$PSQL -d postgres -c "CREATE DATABASE ${ID}_raw"
$PSQL -d ${ID}_raw -c "$PGDDL"
t0=$(now); $PSQL -d ${ID}_raw -c "\\copy t FROM '$TMP/t.tsv'"; t1=$(now)
COPY=$(rate "$t0" "$t1"); echo "  COPY into PostgreSQL        $(secs "$t0" "$t1") s"
$MY -e "CREATE DATABASE ${ID}_load; USE ${ID}_load; $DDL"
t0=$(now); $MY ${ID}_load -e "LOAD DATA LOCAL INFILE '$TMP/t.tsv' INTO TABLE t"; t1=$(now)
LOAD=$(rate "$t0" "$t1"); echo "  LOAD DATA into MariaDB      $(secs "$t0" "$t1") s"
$MY -e "CREATE DATABASE ${ID}_dump; USE ${ID}_dump; $DDL"
t0=$(now)
mariadb-dump -h "$SL_MYSQL_HOST" -P "$SL_MYSQL_PORT" -u root --no-create-info --single-transaction "$ID" t | $MY "${ID}_dump"
t1=$(now)
DUMP=$(rate "$t0" "$t1"); echo "  mariadb-dump | mariadb      $(secs "$t0" "$t1") s"
if [ "$WITH_PG" = 1 ]; then
    $PSQL -d postgres -c "CREATE DATABASE ${ID}_src" -c "CREATE DATABASE ${ID}_pgdump"
    $PSQL -d ${ID}_src -c "$PGDDL" -c "\\copy t FROM '$TMP/t.tsv'" -c "CREATE PUBLICATION ${ID}_pub FOR TABLE t"
    $PSQL -d ${ID}_pgdump -c "$PGDDL"
    t0=$(now)
    pg_dump -h "$SL_PG_HOST" -p "$SL_PG_PORT" -U "$SL_PG_USER" --data-only -t t ${ID}_src | $PSQL -d ${ID}_pgdump >/dev/null
    t1=$(now)
    PGDUMP=$(rate "$t0" "$t1"); echo "  pg_dump | psql              $(secs "$t0" "$t1") s"
fi

# --- shiftlog: collector (initial_only) and an applier together, per target
# the MariaDB source (the PostgreSQL one sets its own before its run)
SRCDB=$ID
COLARGS=(-c examples/mysql-to-pg/collector.conf -X source.user=root
         -X source.password="$SL_MYSQL_ROOT_PASSWORD" -X source.port="$SL_MYSQL_PORT"
         -X tables.include="$ID\\.t" -X source.server_id=$((5000 + RANDOM % 1000)))
run() {   # run NAME TARGET_CONF_OVERRIDES... ; sets R[NAME], CRSS, ARSS, CSECS
    local name=$1 ts te cpid apid n r
    shift
    [ -n "$VARIANT" ] && fresh_"$name"
    ts=$(now)
    "$BIN/shiftlog-collector" "${COLARGS[@]}" -X source.name="${ID}_$name$VARIANT" \
        -X kafka.bootstrap.servers="$SL_KAFKA_BROKERS" \
        -X tables.exclude= -X start.position=latest \
        -X snapshot.mode=initial_only -X snapshot.chunk.rows="$CHUNK" -X topic.prefix="$ID" \
        -X http.listen=off -X log.level="${BENCH_LOG:-warn}" \
        -X lease=false ${VARIANT:+"${COMPARE[@]}"} 2>"$TMP/collector-$name$VARIANT.log" &
    cpid=$!; PIDS+=("$cpid")
    "$BIN/shiftlog-applier" -c examples/mysql-to-pg/applier.conf -X task.name="bench_$name$VARIANT" \
        -X source.topic="$ID.${ID}_$name$VARIANT" -X tables="$SRCDB.*" -X tables.exclude= \
        -X map.tables="$SRCDB.*=$SRCDB.*" -X columns.exclude= -X write_batch=2000 \
        -X kafka.bootstrap.servers="$SL_KAFKA_BROKERS" -X http.listen=off -X log.level=warn \
        "$@" 2>"$TMP/applier-$name$VARIANT.log" &
    apid=$!; PIDS+=("$apid")
    if [ -n "$PERF" ]; then      # where the time goes: perf report -i $PERF/<name>-<service>.data
        perf record -g -q -o "$PERF/$name-collector.data" -p "$cpid" 2>/dev/null & PIDS+=($!)
        perf record -g -q -o "$PERF/$name-applier.data" -p "$apid" 2>/dev/null & PIDS+=($!)
    fi
    CSECS=""
    while :; do
        if [ -z "$CSECS" ] && ! kill -0 "$cpid" 2>/dev/null; then
            wait "$cpid" || { echo "collector failed:"; tail -5 "$TMP/collector-$name.log"; exit 1; }
            CSECS=$(secs "$ts" "$(now)")
        fi
        if [ -z "$CSECS" ]; then r=$(hwm "$cpid"); [ "$r" -gt 0 ] && CRSS=$r; fi
        kill -0 "$apid" 2>/dev/null || { echo "applier died:"; tail -5 "$TMP/applier-$name.log"; exit 1; }
        n=$(count_"$name")
        [ "${n:-0}" -ge "$N" ] && break
        sleep 0.2
    done
    te=$(now)
    ARSS=$(hwm "$apid")
    kill -TERM "$apid"; wait "$apid" || true
    R[$name$VARIANT]=$(rate "$ts" "$te")
    printf "  shiftlog -> %-16s %6.1f s (collector alone %s s, RSS collector %s MB, applier %s MB)\n" \
        "$name$VARIANT" "$(secs "$ts" "$te")" "$CSECS" "$CRSS" "$ARSS"
}
VARIANT=""
runs() {  # run, and again with BENCH_COMPARE's settings into a fresh copy (first with
          # BENCH_COMPARE_FIRST=1: the first run of a target pays for new topics)
    if [ ${#COMPARE[@]} -gt 0 ] && [ "${BENCH_COMPARE_FIRST:-0}" = 1 ]; then
        VARIANT="_compare"; run "$@"; VARIANT=""; fresh_"$1"; run "$@"; return
    fi
    VARIANT=""; run "$@"
    if [ ${#COMPARE[@]} -gt 0 ]; then VARIANT="_compare"; run "$@"; VARIANT=""; fi
}
fresh_pg() { $PSQL -d postgres -c "DROP DATABASE ${ID}_copy WITH (FORCE)" -c "CREATE DATABASE ${ID}_copy"; }
fresh_mariadb() { $MY -e "DROP DATABASE ${ID}_copy; CREATE DATABASE ${ID}_copy"; }
fresh_pgpg() { $PSQL -d postgres -c "DROP DATABASE ${ID}_pgcopy WITH (FORCE)" -c "CREATE DATABASE ${ID}_pgcopy"; }
count_pg() { $PSQL -d ${ID}_copy -c "SELECT count(*) FROM \"$ID\".t" 2>/dev/null || echo 0; }
count_mariadb() { $MY -B -N -e "SELECT count(*) FROM ${ID}_copy.t" 2>/dev/null || echo 0; }
count_pgpg() { $PSQL -d ${ID}_pgcopy -c "SELECT count(*) FROM public.t" 2>/dev/null || echo 0; }
declare -A R
$PSQL -d postgres -c "CREATE DATABASE ${ID}_copy"
runs pg -X target.database="${ID}_copy" -X target.port="$SL_PG_PORT"
$MY -e "CREATE DATABASE ${ID}_copy"
runs mariadb -X target.type=mysql -X target.port="$SL_MYSQL_PORT" -X target.user=root \
    -X target.password="$SL_MYSQL_ROOT_PASSWORD" -X target.database="${ID}_copy" \
    -X map.tables="$ID.*=${ID}_copy.*"
if [ "$WITH_PG" = 1 ]; then
    SRCDB=public
    COLARGS=(-c examples/pg-to-mysql/collector.conf -X source.user="$SL_PG_USER"
             -X source.password="$SL_PG_PASSWORD" -X source.port="$SL_PG_PORT"
             -X source.database="${ID}_src" -X source.slot="${ID}_slot"
             -X source.publication="${ID}_pub" -X tables.include='public\.t')
    $PSQL -d postgres -c "CREATE DATABASE ${ID}_pgcopy"
    runs pgpg -X target.database="${ID}_pgcopy" -X target.port="$SL_PG_PORT"
fi

echo
echo "rows/s: COPY $COPY, LOAD DATA $LOAD, dump|load $DUMP, shiftlog->pg ${R[pg]}, shiftlog->mariadb ${R[mariadb]}"
printf "ratios: MariaDB->PostgreSQL / COPY = %.2f (goal >= 0.6); MariaDB->MariaDB / dump|load = %.2f (goal >= 1.0); / LOAD DATA = %.2f\n" \
    "$(echo "${R[pg]} / $COPY" | bc -l)" "$(echo "${R[mariadb]} / $DUMP" | bc -l)" "$(echo "${R[mariadb]} / $LOAD" | bc -l)"
if [ ${#COMPARE[@]} -gt 0 ]; then
    echo "with ${COMPARE[*]}: rows/s shiftlog->pg ${R[pg_compare]}, shiftlog->mariadb ${R[mariadb_compare]}${R[pgpg_compare]:+, pg->pg ${R[pgpg_compare]}}"
    printf "ratios with it: MariaDB->PostgreSQL / COPY = %.2f; MariaDB->MariaDB / dump|load = %.2f\n" \
        "$(echo "${R[pg_compare]} / $COPY" | bc -l)" "$(echo "${R[mariadb_compare]} / $DUMP" | bc -l)"
    [ "$WITH_PG" = 1 ] && printf "ratios with it: PostgreSQL->PostgreSQL / pg_dump|psql = %.2f\n" \
        "$(echo "${R[pgpg_compare]} / $PGDUMP" | bc -l)"
fi
if [ "$WITH_PG" = 1 ]; then
    echo "rows/s: pg_dump|psql $PGDUMP, shiftlog pg->pg ${R[pgpg]}"
    printf "ratios: PostgreSQL->PostgreSQL / pg_dump|psql = %.2f (goal >= 1.0)\n" \
        "$(echo "${R[pgpg]} / $PGDUMP" | bc -l)"
fi
