#!/usr/bin/env bash
# Applier → PostgreSQL end-to-end latency at a steady rate (not part of make test):
#
#   bench/applier_latency.sh                         (5000 changes/s for 30 s)
#   LAT_RATE=5000 LAT_SECONDS=30 LAT_TXN_ROWS=10 LAT_MSG_ROWS=10 bench/applier_latency.sh
#
# The applier runs first (caught up, empty topic); a paced producer then feeds LAT_RATE row
# changes/s through it_feed (librdkafka, linger.ms=5): source transactions of LAT_TXN_ROWS
# inserts, LAT_MSG_ROWS rows per CHANGE message, then COMMIT. Every row carries src_us, the
# wall clock in µs when the producer emitted it (≤ the record's event_time_us, which it_feed
# stamps when it reads the line: the figure includes the producer's pipe and linger).
# An observer on its own connection polls the target every 2 ms for rows it has not seen yet;
# a row's latency = the time it first saw the row (committed and visible) − src_us. So the
# figure is source commit → target commit as a reader sees it, plus ≤ 2 ms of polling.
# Prints the achieved rate, p50 / p90 / p99 / max latency and the applier's peak RSS.
# Goal (issue 5): p99 < 100 ms at 5k changes/s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
eval "$(deploy/local/env)"
RATE=${LAT_RATE:-5000}
SECS=${LAT_SECONDS:-30}
TXN_ROWS=${LAT_TXN_ROWS:-10}
MSG_ROWS=${LAT_MSG_ROWS:-10}
WB=${BENCH_WRITE_BATCH:-1000}
BIN=${SHIFTLOG_BIN:-bin}
TB=${SHIFTLOG_TEST_BIN:-build/release/tests}
[ -x "$BIN/shiftlog-applier" ] && [ -x "$TB/it_feed" ] || { echo "applier_latency: run make first" >&2; exit 1; }
export PGPASSWORD=$SL_PG_PASSWORD SL_PG_HOST SL_PG_PORT SL_PG_USER SL_PG_PASSWORD
PSQL="psql -qAtX -h $SL_PG_HOST -p $SL_PG_PORT -U $SL_PG_USER"
ID=benchlat_$$_$RANDOM
TMP=$(mktemp -d /tmp/applier_latency.XXXXXX)
MAIN=$BASHPID
APID=
cleanup() {
    [ "$BASHPID" = "$MAIN" ] || return 0
    [ -n "$APID" ] && kill -TERM "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
    $PSQL -d postgres -c "DROP DATABASE IF EXISTS $ID WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

$PSQL -d postgres -c "CREATE DATABASE $ID"
# the schema and one row first, so that the table exists before the clock starts
printf '%s\n' "schema lat t id:int:bigint:pk=1 src_us:int:bigint v:string:varchar(64):p=64" \
    "insert lat t id,src_us,v i:-1,i:0,s:warm" commit |
    "$TB/it_feed" --brokers "$SL_KAFKA_BROKERS" --topic "$ID" 2>"$TMP/feed0"
"$BIN/shiftlog-applier" -X task.name=lat -X source.topic="$ID" \
  -X target.database="$ID" -X target.host="$SL_PG_HOST" -X target.port="$SL_PG_PORT" \
  -X target.user="$SL_PG_USER" -X target.password="$SL_PG_PASSWORD" \
  -X kafka.bootstrap.servers="$SL_KAFKA_BROKERS" -X write_batch="$WB" \
  -X http.listen=off -X log.level=warn ${LAT_APPLIER_ARGS:-} 2>"$TMP/applier.log" &
APID=$!

"$SL_PYTHON" - "$ID" "$RATE" "$SECS" "$TXN_ROWS" "$MSG_ROWS" "$TB/it_feed" "$SL_KAFKA_BROKERS" "$APID" <<'EOF'
import os, subprocess, sys, time, psycopg2
db, rate, secs, txn_rows, msg_rows, feed, brokers, apid = sys.argv[1:9]
rate, secs, txn_rows, msg_rows, apid = int(rate), float(secs), int(txn_rows), int(msg_rows), int(apid)
conn = psycopg2.connect(host=os.environ["SL_PG_HOST"], port=os.environ["SL_PG_PORT"],
                        user=os.environ["SL_PG_USER"], password=os.environ["SL_PG_PASSWORD"],
                        dbname=db)
conn.autocommit = True
cur = conn.cursor()
t0 = time.time()
while True:        # the applier created lat.t from the schema record
    cur.execute("SELECT to_regclass('lat.t') IS NOT NULL")
    if cur.fetchone()[0]:
        break
    if time.time() - t0 > 30:
        sys.exit("applier_latency: lat.t never appeared")
    time.sleep(0.05)

# the paced producer: a child process writing it_feed lines on schedule
pid = os.fork()
if pid == 0:
    p = subprocess.Popen([feed, "--brokers", brokers, "--topic", db], stdin=subprocess.PIPE,
                         stderr=open(os.devnull, "w"), text=True)
    p.stdin.write("at mysql-bin.000002 4\n")  # positions after the warm-up's (skip rule)
    start, sent, tick = time.time(), 0, 0.005
    total = int(rate * secs)
    while sent < total:
        due = min(total, int((time.time() - start) * rate))
        buf = []
        while sent < due:
            n = min(txn_rows, total - sent)
            done = 0
            while done < n:
                m = min(msg_rows, n - done)
                now = int(time.time() * 1e6)
                buf.append("insert lat t id,src_us,v " + " ".join(
                    "i:%d,i:%d,s:row%%20%d" % (sent + done + j, now, sent + done + j)
                    for j in range(m)))
                done += m
            buf.append("commit")
            sent += n
        if buf:
            p.stdin.write("\n".join(buf) + "\n")
            p.stdin.flush()
        time.sleep(tick)
    p.stdin.close()
    p.wait()
    os._exit(0)

# the observer
total = int(rate * secs)
# With worker_num > 1, transactions without a common key may become visible out of order:
# poll from the highest id below which every row was seen, and count each row once.
lat, low, seen, seen_first, seen_last = [], -1, set(), None, None
deadline = time.time() + secs + 60
while len(lat) < total and time.time() < deadline:
    cur.execute("SELECT id, src_us FROM lat.t WHERE id > %s ORDER BY id", (low,))
    rows = cur.fetchall()
    now = time.time() * 1e6
    new = [(i, src) for i, src in rows if i not in seen]
    for i, src in new:
        lat.append((now - src) / 1000.0)
        seen.add(i)
    while low + 1 in seen:
        seen.discard(low + 1)
        low += 1
    if new:
        seen_first = seen_first or now
        seen_last = now
    try:
        os.kill(apid, 0)
    except OSError:
        sys.exit("applier_latency: the applier died")
    time.sleep(0.002)
os.waitpid(pid, 0)
if len(lat) < total:
    cur.execute("SELECT count(*), min(id), max(id) FROM lat.t WHERE id >= 0")
    sys.exit("applier_latency: only %d of %d rows arrived (target: %s)" % (len(lat), total, cur.fetchone()))
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
span = (seen_last - seen_first) / 1e6 if seen_last > seen_first else secs
print("rows %d in %.1f s (%.0f changes/s applied), transactions of %d rows, %d rows/message"
      % (len(lat), span, len(lat) / span, txn_rows, msg_rows))
print("latency ms (source emit -> visible in the target): p50 %.1f  p90 %.1f  p99 %.1f  "
      "max %.1f" % (q(0.50), q(0.90), q(0.99), lat[-1]))
print("goal (issue 5): p99 < 100 ms at 5000 changes/s: %s" % ("met" if q(0.99) < 100 else "NOT met"))
EOF
echo "applier peak RSS: $(( $(awk '/^VmHWM/ {print $2}' /proc/$APID/status) / 1024 )) MB (write_batch $WB)"
