#!/usr/bin/env bash
# Direct task throughput (not part of make test): a MariaDB table copied by a direct task
# (applier source.type = direct, no Kafka) into PostgreSQL and into MariaDB, and a PostgreSQL
# table into PostgreSQL, against the raw paths measured in the same run on the same rows:
#
#   bench/direct.sh                          (BENCH_ROWS=1000000 narrow rows)
#   BENCH_ROWS=200000 BENCH_READ=20000 BENCH_WRITE=5000 BENCH_WORKERS="1 2 4" bench/direct.sh
#
# MariaDB -> PostgreSQL and MariaDB -> MariaDB run once per worker_num of BENCH_WORKERS (into a
# fresh target table each time).
# Table: id bigint primary key, name varchar(64), amount decimal(12,2), ts bigint.
# Baselines: psql \copy of a TSV file (written first, not timed) into PostgreSQL;
# mariadb-dump | mariadb into a fresh database; pg_dump --data-only | psql.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
eval "$(deploy/local/env)"
N=${BENCH_ROWS:-1000000}
READ=${BENCH_READ:-10000}
WRITE=${BENCH_WRITE:-2000}
WORKERS=${BENCH_WORKERS:-1 2 4}
BIN=${SHIFTLOG_BIN:-bin}
[ -x "$BIN/shiftlog-applier" ] || { echo "direct: run make first" >&2; exit 1; }
ID=dirb_$$_$RANDOM
TMP=$(mktemp -d /tmp/direct_bench.XXXXXX)
export PGPASSWORD=$SL_PG_PASSWORD MYSQL_PWD=$SL_MYSQL_ROOT_PASSWORD
MY="mariadb -h $SL_MYSQL_HOST -P $SL_MYSQL_PORT -u root"
PSQL="psql -qAtX -h $SL_PG_HOST -p $SL_PG_PORT -U $SL_PG_USER"
MYURI="mysql://root:$SL_MYSQL_ROOT_PASSWORD@$SL_MYSQL_HOST:$SL_MYSQL_PORT/$ID"
cleanup() {
    $MY -e "DROP DATABASE IF EXISTS $ID; DROP DATABASE IF EXISTS ${ID}_dump; DROP DATABASE IF EXISTS ${ID}_dst" 2>/dev/null || true
    for d in ${ID}_raw ${ID}_pg ${ID}_pgsrc ${ID}_pgdump; do
        $PSQL -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }
rate() { echo "$N / ($2 - $1)" | bc; }

echo "direct: $N rows (bigint pk, varchar, decimal, bigint), read_batch $READ, write_batch $WRITE, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
DDL="CREATE TABLE t (id bigint PRIMARY KEY, name varchar(64), amount decimal(12,2), ts bigint)"
$MY -e "CREATE DATABASE $ID; USE $ID; $DDL;
        INSERT INTO t SELECT seq, concat('name ', seq), (seq % 100000) + (seq % 100) / 100, seq * 7 FROM seq_1_to_$N"
$MY -B -N -e "SELECT id, name, amount, ts FROM $ID.t" > "$TMP/t.tsv"

# --- baselines
$PSQL -d postgres -c "CREATE DATABASE ${ID}_raw"
$PSQL -d ${ID}_raw -c "$DDL"
t0=$(now); $PSQL -d ${ID}_raw -c "\\copy t FROM '$TMP/t.tsv'"; t1=$(now)
COPY=$(rate "$t0" "$t1"); echo "  COPY into PostgreSQL           $(secs "$t0" "$t1") s  $COPY rows/s"
$MY -e "CREATE DATABASE ${ID}_dump"
t0=$(now)
mariadb-dump -h "$SL_MYSQL_HOST" -P "$SL_MYSQL_PORT" -u root --single-transaction "$ID" t | $MY "${ID}_dump"
t1=$(now)
DUMP=$(rate "$t0" "$t1"); echo "  mariadb-dump | mariadb         $(secs "$t0" "$t1") s  $DUMP rows/s"
$PSQL -d postgres -c "CREATE DATABASE ${ID}_pgdump"
$PSQL -d ${ID}_pgdump -c "$DDL"
t0=$(now)
pg_dump -h "$SL_PG_HOST" -p "$SL_PG_PORT" -U "$SL_PG_USER" --data-only -t t "${ID}_raw" | $PSQL -d ${ID}_pgdump >/dev/null
t1=$(now)
PGD=$(rate "$t0" "$t1"); echo "  pg_dump --data-only | psql     $(secs "$t0" "$t1") s  $PGD rows/s"

# --- direct tasks
direct() {   # direct NAME WORKERS FROM_TYPE FROM_DB SOURCE_URI TO_TYPE TO_DB TO_TABLE TARGET_ARGS...
    local name=$1 wn=$2 ft=$3 fdb=$4 uri=$5 tt=$6 tdb=$7 tt2=$8 t0 t1 rss
    shift 8
    name="$name w$wn"
    local f=$TMP/${name//[^a-z0-9]/_}
    printf '{"from_db_type":"%s","from_db":"%s","from_table":"t","to_db_type":"%s","to_db":"%s","to_table":"%s","params":{"read_batch":%s,"write_batch":%s,"worker_num":%s}}' \
        "$ft" "$fdb" "$tt" "$tdb" "$tt2" "$READ" "$WRITE" "$wn" > "$f.json"
    t0=$(now)
    /usr/bin/time -f "%M" -o "$f.rss" "$BIN/shiftlog-applier" -X task.name="${ID}_${tt2}" \
        -X source.type=direct -X direct.task.file="$f.json" -X direct.source.uri="$uri" \
        -X http.listen=off -X log.level=warn "$@" 2>"$f.log" || { cat "$f.log" >&2; exit 1; }
    t1=$(now)
    rss=$(( $(cat "$f.rss") / 1024 ))
    R=$(rate "$t0" "$t1")
    echo "  direct $name $(secs "$t0" "$t1") s  $R rows/s  peak RSS ${rss} MB"
}
PGT=(-X target.type=postgresql -X target.host="$SL_PG_HOST" -X target.port="$SL_PG_PORT"
     -X target.user="$SL_PG_USER" -X target.password="$SL_PG_PASSWORD")
MYT=(-X target.type=mysql -X target.host="$SL_MYSQL_HOST" -X target.port="$SL_MYSQL_PORT"
     -X target.user=root -X target.password="$SL_MYSQL_ROOT_PASSWORD")
$PSQL -d postgres -c "CREATE DATABASE ${ID}_pg"
$MY -e "CREATE DATABASE ${ID}_dst"
for wn in $WORKERS; do
    direct "mariadb->postgresql " "$wn" mysql "$ID" "$MYURI" postgresql public "t$wn" "${PGT[@]}" -X target.database="${ID}_pg"
    echo "    ratio to COPY:                  $(echo "scale=2; $R / $COPY" | bc)"
    n=$($PSQL -d ${ID}_pg -c "SELECT count(*) FROM public.t$wn"); [ "$n" = "$N" ] || { echo "direct: PostgreSQL holds $n rows, not $N" >&2; exit 1; }
    direct "mariadb->mariadb    " "$wn" mysql "$ID" "$MYURI" mysql "${ID}_dst" "t$wn" "${MYT[@]}" -X target.database="${ID}_dst"
    echo "    ratio to mariadb-dump|mariadb:  $(echo "scale=2; $R / $DUMP" | bc)"
    n=$($MY -N -B -e "SELECT count(*) FROM ${ID}_dst.t$wn"); [ "$n" = "$N" ] || { echo "direct: MariaDB holds $n rows, not $N" >&2; exit 1; }
done
$PSQL -d postgres -c "CREATE DATABASE ${ID}_pgsrc"
PGURI="postgresql://$SL_PG_USER:$SL_PG_PASSWORD@$SL_PG_HOST:$SL_PG_PORT/${ID}_raw"
direct "postgresql->postgresql" 1 postgresql public "$PGURI" postgresql public t "${PGT[@]}" -X target.database="${ID}_pgsrc"
echo "    ratio to pg_dump|psql:          $(echo "scale=2; $R / $PGD" | bc)"
