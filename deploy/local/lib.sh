# shellcheck shell=bash
# Shared code of deploy/local/{install,up,down,status,env}. Sourced, never run.
#
# Layout of the data dir ($SL_DIR, see sl_resolve_dir):
#   mariadb/ my.cnf data/ mariadb.sock mariadb.pid mariadb.err
#   pg/      data/ (owner postgres, 0700; postmaster.pid is the PID file) run/ (socket) pg.log
#   kafka/   server.properties data/ (log.dirs) logs/ (log4j2) kafka.pid kafka.out
#   mongo/   mongo.pid mongo.log store (memory|h2 of the running instance) mongo.h2

umask 022

SL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
SL_DEPLOY=$SL_ROOT/deploy/local

KAFKA_VERSION=4.4.0
MJS_VERSION=1.46.0
# Kafka Connect's worker and Debezium's JDBC sink (tests/it/test_debezium_jdbc_sink.py,
# bench/compare). Connect 4.3.0, not 4.4.0: Debezium 3.5's connectors fail on the 4.4.0 worker
# (NoClassDefFoundError ...Sanitizer); the worker talks to the 4.4.0 broker as any client does.
CONNECT_VERSION=4.3.0
DEBEZIUM_VERSION=3.5.0.Final

SL_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/shiftlog
KAFKA_LIBS=$SL_CACHE/kafka-$KAFKA_VERSION/libs
MONGO_LIBS=$SL_CACHE/mongo-java-server-$MJS_VERSION/libs
CONNECT_LIBS=$SL_CACHE/connect-$CONNECT_VERSION/libs
DBZ_JDBC_PLUGIN=$SL_CACHE/debezium-jdbc-$DEBEZIUM_VERSION

MYSQL_PORT=13306
PG_PORT=15432
KAFKA_PORT=19092
KAFKA_CONTROLLER_PORT=19093
MONGO_PORT=27117

MYSQL_ROOT_PASSWORD=shiftlog
MYSQL_CDC_USER=shiftlog_cdc
MYSQL_CDC_PASSWORD=shiftlog_cdc
PG_PASSWORD=shiftlog
PG_CDC_USER=shiftlog_cdc
PG_CDC_PASSWORD=shiftlog_cdc

PG_BIN=/usr/lib/postgresql/15/bin

SL_SERVERS=(mariadb pg kafka mongo)

sl_say() { printf '%s\n' "$*"; }
sl_err() { printf '%s\n' "$*" >&2; }
sl_die() { sl_err "$*"; exit 1; }
# A progress line "<tag>: <what> <how>", and the seconds since a `date +%s.%N` stamp.
sl_step() { printf '%s: %-34s %s\n' "$1" "$2" "$3"; }
sl_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1fs", b-a}'; }

# Copies the jars a pom.xml depends on from Maven Central (mvn dependency:copy-dependencies) into
# a cache directory, once. $1 name, $2 pom dir, $3 libs dir. Messages are tagged $SL_STEP_TAG. The stamp holds the pom's hash: a changed pom re-copies.
sl_jars() {
    local name=$1 pomdir=$2 libs=$3 stamp want tmp t
    stamp=$(dirname "$libs")/installed
    want=$(sha256sum "$pomdir/pom.xml" | cut -c1-64)
    if [ -d "$libs" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        sl_step "${SL_STEP_TAG:-install}" "$name jars" "present ($(ls "$libs" | wc -l) jars in $libs)"
        return
    fi
    t=$(date +%s.%N)
    mkdir -p "$(dirname "$libs")"
    tmp=$(mktemp -d "$(dirname "$libs")/libs.tmp.XXXXXX")
    # shellcheck disable=SC2086
    if ! (cd "$pomdir" && mvn -q -B ${SL_MVN_ARGS:-} dependency:copy-dependencies \
        -DoutputDirectory="$tmp") >"$tmp.log" 2>&1; then
        tail -n 30 "$tmp.log" >&2
        rm -rf "$tmp"
        sl_die "install: mvn failed for $pomdir/pom.xml (log: $tmp.log)"
    fi
    rm -f "$tmp.log"
    rm -rf "$pomdir/target"
    rm -rf "$libs"
    mv "$tmp" "$libs"
    echo "$want" >"$stamp"
    sl_step "${SL_STEP_TAG:-install}" "$name jars" "$(ls "$libs" | wc -l) jars, $(du -sh "$libs" | cut -f1) in $(sl_since "$t")"
}

# Short, stable hash of a string (for cache and fallback directory names).
sl_hash() { printf '%s' "$1" | sha256sum | cut -c1-12; }

# The venv directory: keyed by the requirements file's content.
sl_venv_dir() { echo "$SL_CACHE/venv-$(sha256sum "$SL_DEPLOY/requirements.txt" | cut -c1-12)"; }

# True when the postgres OS user can reach (search) directory $1, or the deepest existing
# ancestor of it. Directories we create ourselves are 0755, so that is the whole question.
sl_pg_can_reach() {
    local d=$1
    while [ ! -e "$d" ]; do d=$(dirname "$d"); done
    runuser -u postgres -- test -x "$d" 2>/dev/null
}

# Sets SL_DIR (the data dir) and SL_DIR_NOTE (why it is not the asked one, or empty).
# Asked: ${SHIFTLOG_LOCAL_DIR:-<clone>/.local}. Falls back to /tmp/shiftlog-local-<hash of the
# asked path> when the postgres OS user cannot traverse its parents (e.g. a clone under /root,
# mode 0700) or when a unix socket path inside it would be too long (limit 107 bytes).
# Deterministic, so env/status/down find what up made.
sl_resolve_dir() {
    local want=${SHIFTLOG_LOCAL_DIR:-$SL_ROOT/.local}
    case $want in /*) ;; *) want=$PWD/$want ;; esac
    SL_DIR=$want
    SL_DIR_NOTE=
    if [ ${#want} -gt 80 ]; then
        SL_DIR_NOTE="data dir $want is too long for unix socket paths (max 107 bytes)"
    elif id postgres >/dev/null 2>&1 && ! sl_pg_can_reach "$want"; then
        SL_DIR_NOTE="the postgres OS user cannot traverse the parents of $want"
    fi
    if [ -n "$SL_DIR_NOTE" ]; then
        SL_DIR=/tmp/shiftlog-local-$(sl_hash "$want")
    fi
}

# --- PID files ---------------------------------------------------------------------------

sl_pidfile() {
    case $1 in
    mariadb) echo "$SL_DIR/mariadb/mariadb.pid" ;;
    pg) echo "$SL_DIR/pg/data/postmaster.pid" ;;
    kafka) echo "$SL_DIR/kafka/kafka.pid" ;;
    mongo) echo "$SL_DIR/mongo/mongo.pid" ;;
    esac
}

# What the process' command line must contain (guards against a reused PID after a crash or
# a machine restart: a stale PID file may name an unrelated process).
sl_cmd_marker() {
    case $1 in
    mariadb) echo "$SL_DIR/mariadb/my.cnf" ;;
    pg) echo "$SL_DIR/pg/data" ;;
    kafka) echo "$SL_DIR/kafka/server.properties" ;;
    mongo) echo "Launcher" ;;
    esac
}

sl_port() {
    case $1 in
    mariadb) echo $MYSQL_PORT ;; pg) echo $PG_PORT ;; kafka) echo $KAFKA_PORT ;; mongo) echo $MONGO_PORT ;;
    esac
}

sl_log() {
    case $1 in
    mariadb) echo "$SL_DIR/mariadb/mariadb.err" ;;
    pg) echo "$SL_DIR/pg/pg.log" ;;
    kafka) echo "$SL_DIR/kafka/kafka.out (and $SL_DIR/kafka/logs/server.log)" ;;
    mongo) echo "$SL_DIR/mongo/mongo.log" ;;
    esac
}

# Prints the PID of server $1 when it runs (per its PID file), else nothing; returns 1 then.
sl_pid() {
    local f pid
    f=$(sl_pidfile "$1")
    [ -r "$f" ] || return 1
    pid=$(head -n1 "$f" 2>/dev/null | tr -dc 0-9)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(sl_cmd_marker "$1")" || return 1
    echo "$pid"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
sl_port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Who listens on a port (for error messages).
sl_port_owner() { ss -Hltnp "sport = :$1" 2>/dev/null | sed 's/.*users:/users:/' | head -n1; }

# Prints the last lines of each log file named in $@ (that exists) to stderr.
sl_tail_logs() {
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        sl_err "---- last lines of $f ----"
        tail -n 25 "$f" >&2
    done
}

# Stops a process: signal $2 (default TERM), wait up to $3 s (default 20), then signal $4
# (default KILL) and wait up to 5 s more. Returns 0 when the process is gone.
sl_stop_pid() {
    local pid=$1 sig=${2:-TERM} wait=${3:-20} then=${4:-KILL} i
    kill -"$sig" "$pid" 2>/dev/null || return 0
    for ((i = 0; i < wait * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    sl_err "pid $pid did not stop within ${wait}s after SIG$sig: sending SIG$then"
    kill -"$then" "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# mariadb client as root through the socket (unix_socket auth for root@localhost).
sl_mariadb_root() { mariadb --defaults-file="$SL_DIR/mariadb/my.cnf" --protocol=socket -uroot "$@"; }

# psql as the postgres superuser through the socket (local auth is trust).
sl_psql() { psql -X -q -v ON_ERROR_STOP=1 -h "$SL_DIR/pg/run" -p $PG_PORT -U postgres -d postgres "$@"; }
