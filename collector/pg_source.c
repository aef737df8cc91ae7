/* shiftlog collector, PostgreSQL source: logical replication with pgoutput.
 *
 * One session = publisher + checkpoint, a catalog connection (preflight,
 * type lookups), a walsender connection streaming
 *   START_REPLICATION SLOT s LOGICAL lsn (proto_version '2',
 *       publication_names '"p"', streaming 'on')
 * and the decoder (pg_decode.c, pg_stream.c). XLogData ('w') payloads go to
 * the decoder, keepalives ('k') are answered, and standby status updates
 * ('r') report:
 *   write = the highest WAL position received,
 *   flush = apply = the durable checkpoint (col_pub_checkpoint: the end LSN
 *           of the last COMMIT Kafka holds) — or, when nothing is pending
 *           (no open transaction, every record put acknowledged), the WAL
 *           position of the last keepalive, so that an idle or filtered-out
 *           source does not hold WAL back.
 * They go out when the server asks, when the flush position moves (at most
 * every 100 ms) and at least every heartbeat.interval.
 *
 * A lost connection to PostgreSQL (server restart, network) ends the
 * session: what was put is delivered, and a new session starts from the
 * checkpoint after a back-off, with a FINISH marker first. Configuration
 * and preflight failures stop the collector with the cause. */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pg_source.h"
#include "col_watch.h"
#include "sl_log.h"
#include "sl_name.h"

#define PG_FEEDBACK_MIN_MS 100
#define PG_CLOSE_TIMEOUT   30000

typedef struct pg_src_s {
    const col_conf_t *conf;
    sl_service_t     *svc;
    col_filter_t     *filter;
    col_pub_t        *pub;
    PGconn           *qc;        /* catalog */
    PGconn           *rc;        /* walsender */
    pg_dec_t         *dec;
    pg_stream_t      *stream;
    uint64_t          recv_lsn;
    uint64_t          idle_lsn;
    uint64_t          floor_lsn; /* the slot's confirmed position at start */
    uint64_t          sent_flush;
    int64_t           last_fb_ms;
    sl_pos_t          boundary;  /* last COMMIT/FINISH put */
    int               has_boundary;
    int               dirty;     /* records put after the last boundary */
    sl_metric_t      *m_recv, *m_flush, *m_spill, *m_streamed, *m_refused;
    col_watch_t      *watch;     /* Kafka stall watchdog (col_watch.h) */
    col_snap_t       *snap;      /* the snapshot engine (snapshot.h) */
    pg_snapsink_t     snapsink;  /* its sink over the decoder */
} pg_src_t;

static int64_t pg_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec - PG_EPOCH_US;
}

static int filter_cb(void *ctx, const char *nsp, const char *rel)
{
    return col_filter_match(ctx, nsp, rel);
}

static sl_err_t sink_cb(void *ctx, const sl_record_t *rec, char *errstr, size_t errstr_size)
{
    pg_src_t *s = ctx;
    /* a streamed change inside a chunk's window wins over the chunk's row
     * (the engine's own records, put through its sink, are not the stream's) */
    if (s->snap && !s->snapsink.inside)
        col_snap_observe(s->snap, rec);
    col_watch_enter(s->watch);
    sl_err_t err = col_pub_put(s->pub, rec, errstr, errstr_size);
    col_watch_leave(s->watch, !err);
    if (err)
        return err;
    if (rec->type == SL_REC_COMMIT || rec->type == SL_REC_FINISH) {
        s->boundary = rec->pos;
        s->has_boundary = 1;
        s->dirty = 0;
    } else {
        s->dirty = 1;
    }
    return SL_OK;
}

/* Nothing published waits for Kafka and no transaction is open. */
static int nothing_pending(pg_src_t *s)
{
    sl_pos_t ck;
    if (s->dirty || pg_dec_in_txn(s->dec) || pg_stream_in_block(s->stream))
        return 0;
    if (!s->has_boundary)
        return 1;
    return col_pub_checkpoint(s->pub, &ck) && sl_pos_cmp(&ck, &s->boundary) >= 0;
}

static uint64_t flush_lsn(pg_src_t *s)
{
    sl_pos_t ck;
    uint64_t f = s->floor_lsn;
    if (col_pub_checkpoint(s->pub, &ck) && pg_dec_pos_lsn(&ck) > f)
        f = pg_dec_pos_lsn(&ck);
    if (s->idle_lsn > f)
        f = s->idle_lsn;
    return f;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static sl_err_t feedback(pg_src_t *s, int force, char *errstr, size_t errstr_size)
{
    int64_t now = sl_service_now_ms();
    uint64_t f = flush_lsn(s);
    if (!force && !(f > s->sent_flush && now - s->last_fb_ms >= PG_FEEDBACK_MIN_MS) &&
        now - s->last_fb_ms < s->conf->heartbeat_ms)
        return SL_OK;
    uint8_t m[34];
    m[0] = 'r';
    put64(m + 1, s->recv_lsn > f ? s->recv_lsn : f);
    put64(m + 9, f);
    put64(m + 17, f);
    put64(m + 25, (uint64_t)pg_now_us());
    m[33] = 0;
    if (PQputCopyData(s->rc, (const char *)m, sizeof(m)) != 1 || PQflush(s->rc) != 0) {
        snprintf(errstr, errstr_size, "sending feedback to PostgreSQL: %s",
                 PQerrorMessage(s->rc));
        return SL_ERR_IO;
    }
    if (f != s->sent_flush) {
        char t[32];
        pg_lsn_format(f, t, sizeof(t));
        sl_debug("confirmed flush LSN %s", t);
    }
    s->sent_flush = f;
    s->last_fb_ms = now;
    sl_metric_set(s->m_flush, (double)f);
    sl_metric_set(s->m_recv, (double)s->recv_lsn);
    sl_metric_set(s->m_spill, (double)pg_stream_stats(s->stream)->bytes);
    return SL_OK;
}

/* One CopyData message from the walsender. */
static sl_err_t handle(pg_src_t *s, const uint8_t *buf, size_t len, char *errstr,
                       size_t errstr_size)
{
    pg_rd_t r = {buf, len, 0, 0};
    char kind = (char)pg_rd_u8(&r);
    sl_err_t err;
    if (kind == 'w') {
        uint64_t start = pg_rd_u64(&r);
        (void)pg_rd_u64(&r); /* walEnd */
        (void)pg_rd_u64(&r); /* sendTime */
        if (r.bad || r.off >= len) {
            snprintf(errstr, errstr_size, "XLogData message truncated (%zu bytes)", len);
            return SL_ERR_DECODE;
        }
        const uint8_t *msg = buf + r.off;
        size_t mlen = len - r.off;
        int handled = 0;
        if (start > s->recv_lsn)
            s->recv_lsn = start;
        if ((err = pg_stream_message(s->stream, s->dec, start, msg, mlen, &handled, errstr,
                                     errstr_size)))
            return err;
        if (!handled && (err = pg_dec_message(s->dec, start, msg, mlen, 0, errstr, errstr_size)))
            return err;
        if (msg[0] == 'c')
            sl_metric_inc(s->m_streamed);
        uint64_t skipped = pg_dec_take_skipped_end(s->dec);
        if (skipped && nothing_pending(s) && skipped > s->idle_lsn)
            s->idle_lsn = skipped;
        return SL_OK;
    }
    if (kind == 'k') {
        uint64_t end = pg_rd_u64(&r);
        (void)pg_rd_u64(&r);
        int reply = pg_rd_u8(&r);
        if (r.bad) {
            snprintf(errstr, errstr_size, "keepalive message truncated (%zu bytes)", len);
            return SL_ERR_DECODE;
        }
        if (end > s->recv_lsn)
            s->recv_lsn = end;
        if (nothing_pending(s) && end > s->idle_lsn)
            s->idle_lsn = end;
        return reply ? feedback(s, 1, errstr, errstr_size) : SL_OK;
    }
    snprintf(errstr, errstr_size, "unknown replication message 0x%02x", (uint8_t)kind);
    return SL_ERR_DECODE;
}

static int retriable(const char *m)
{
    static const char *const pats[] = {
        "could not connect", "Connection refused", "server closed the connection",
        "terminating connection", "starting up", "shutting down", "no connection",
        "could not receive data", "could not send data", "timeout expired", "SSL SYSCALL",
        "is active for PID", "Connection reset", "connection to server", NULL};
    for (int i = 0; pats[i]; i++)
        if (strstr(m, pats[i]))
            return 1;
    return 0;
}

static sl_err_t start_replication(pg_src_t *s, uint64_t lsn, char *errstr, size_t errstr_size)
{
    const col_conf_t *conf = s->conf;
    char lsntxt[32];
    sl_buf_t cmd = SL_BUF_INIT;
    sl_err_t err = SL_OK;
    char *pubid = PQescapeIdentifier(s->rc, conf->source_publication,
                                     strlen(conf->source_publication));
    char *publit = pubid ? PQescapeLiteral(s->rc, pubid, strlen(pubid)) : NULL;
    pg_lsn_format(lsn, lsntxt, sizeof(lsntxt));
    /* messages: the snapshot's watermarks (pg_snapsink.c) */
    sl_buf_printf(&cmd, "START_REPLICATION SLOT \"%s\" LOGICAL %s (proto_version '2', "
                  "publication_names %s, streaming 'on', messages 'true')", conf->source_slot,
                  lsntxt, publit ? publit : "''");
    /* After a kill -9 the old walsender may hold the slot for a moment. */
    for (int attempt = 0;; attempt++) {
        PGresult *r = PQexec(s->rc, cmd.data);
        if (PQresultStatus(r) == PGRES_COPY_BOTH) {
            PQclear(r);
            break;
        }
        const char *m = PQresultErrorMessage(r);
        if (strstr(m, "is active for PID") && attempt < 60 && !sl_service_stopping()) {
            PQclear(r);
            sl_service_wait(500);
            continue;
        }
        snprintf(errstr, errstr_size, "source \"%s\": START_REPLICATION on slot \"%s\" at %s: "
                 "%.*s", conf->source_name, conf->source_slot, lsntxt, (int)strcspn(m, "\n"), m);
        err = retriable(m) ? SL_ERR_IO : SL_ERR_FATAL;
        PQclear(r);
        break;
    }
    PQfreemem(pubid);
    PQfreemem(publit);
    sl_buf_free(&cmd);
    return err;
}

/* The publisher's housekeeping (deliveries, due Kafka commits), watched. */
static sl_err_t service(pg_src_t *s, char *errstr, size_t errstr_size)
{
    col_watch_enter(s->watch);
    sl_err_t err = col_pub_service(s->pub, 0, errstr, errstr_size);
    col_watch_leave(s->watch, !err);
    return err;
}

/* Between source transactions: the snapshot engine reads its next chunk
 * when one is due (its HIGH watermark then comes through the stream).
 * *done: snapshot.mode = initial_only and the snapshot is complete. */
static sl_err_t snap_step(pg_src_t *s, int *done, char *errstr, size_t errstr_size)
{
    if (!s->snap || pg_dec_in_txn(s->dec) || pg_stream_in_block(s->stream))
        return SL_OK;
    if (s->conf->snapshot_mode == COL_SNAP_INITIAL_ONLY && col_snap_done(s->snap)) {
        *done = 1;
        return SL_OK;
    }
    sl_err_t err = col_snap_step(s->snap, errstr, errstr_size);
    if (err == SL_ERR_DB && retriable(errstr))
        return SL_ERR_IO;
    return err;
}

/* Streams until a stop (SL_OK), a lost connection (SL_ERR_IO) or a fatal error. */
static sl_err_t stream_loop(pg_src_t *s, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    unsigned turns = 0;
    int done = 0;
    while (!sl_service_stopping()) {
        char *buf = NULL;
        if ((err = snap_step(s, &done, errstr, errstr_size)))
            return err == SL_ERR_IO ? err : SL_ERR_FATAL;
        if (done) {
            sl_info("snapshot.mode = initial_only: the snapshot is complete; stopping");
            return SL_OK;
        }
        int len = PQgetCopyData(s->rc, &buf, 1);
        if (len > 0) {
            err = handle(s, (const uint8_t *)buf, (size_t)len, errstr, errstr_size);
            PQfreemem(buf);
            if (err)
                return err == SL_ERR_IO ? err : SL_ERR_FATAL;
            if ((++turns & 255) == 0 &&
                ((err = service(s, errstr, errstr_size)) ||
                 (err = feedback(s, 0, errstr, errstr_size))))
                return err == SL_ERR_IO ? err : SL_ERR_FATAL;
            continue;
        }
        if (len == 0) {
            if ((err = service(s, errstr, errstr_size)))
                return SL_ERR_FATAL;
            if ((err = feedback(s, 0, errstr, errstr_size)))
                return err;
            struct pollfd pfd = {.fd = PQsocket(s->rc), .events = POLLIN};
            int timeout = col_pub_inflight(s->pub) ? 5 : 100;
            if (sl_service_wait_fds(&pfd, 1, timeout) == 1)
                break;
            if (!PQconsumeInput(s->rc)) {
                snprintf(errstr, errstr_size, "reading from PostgreSQL: %.*s",
                         (int)strcspn(PQerrorMessage(s->rc), "\n"), PQerrorMessage(s->rc));
                return SL_ERR_IO;
            }
            continue;
        }
        PGresult *r = PQgetResult(s->rc);
        const char *m = r ? PQresultErrorMessage(r) : "";
        snprintf(errstr, errstr_size, "replication stream ended: %.*s",
                 (int)strcspn(*m ? m : PQerrorMessage(s->rc), "\n"),
                 *m ? m : PQerrorMessage(s->rc));
        PQclear(r);
        return SL_ERR_IO;
    }
    return SL_OK;
}

/* Tables whose changes the decoder refuses (pg_refused_fn), for the life of
 * the process: /health and /ready say "degraded" and name them, and the
 * gauge counts them. A table that gets a key again is copied by a snapshot
 * (its rows of the refused time never reached Kafka), and leaves the list. */
#define PG_REFUSED_MAX 64
static char  *refused_names[PG_REFUSED_MAX];
static size_t nrefused;

static void refused_publish(pg_src_t *s)
{
    sl_buf_t b = SL_BUF_INIT;
    for (size_t i = 0; i < nrefused; i++) {
        sl_buf_puts(&b, i ? ", " : "changes refused (no key to apply them by; docs/collector-pg.md): ");
        sl_buf_puts(&b, refused_names[i]);
    }
    sl_http_set_degraded(s->svc->http, nrefused ? b.data : NULL);
    sl_metric_set(s->m_refused, (double)nrefused);
    sl_buf_free(&b);
}

static void refused_cb(void *ctx, const char *nsp, const char *rel, int refused)
{
    pg_src_t *s = ctx;
    char name[600];
    size_t i = 0;
    sl_name_format(nsp, rel, name, sizeof(name));
    while (i < nrefused && strcmp(refused_names[i], name))
        i++;
    if (refused && i == nrefused && nrefused < PG_REFUSED_MAX) {
        if ((refused_names[nrefused] = strdup(name)))
            nrefused++;
    } else if (!refused) {
        if (i < nrefused) {
            free(refused_names[i]);
            refused_names[i] = refused_names[--nrefused];
        }
        sl_info("table %s has a key now: the rows it changed without one are copied again "
                "by a snapshot", name);
        if (s->snap && col_snap_request(s->snap, nsp, rel))
            sl_error("snapshot of %s: out of memory", name);
    }
    refused_publish(s);
}

/* The snapshot engine of a session: its backend on a connection of its own,
 * its sink over the decoder, its progress from the checkpoint. */
static sl_err_t snap_new(pg_src_t *s, int have_ck, char *errstr, size_t errstr_size)
{
    col_snap_src_t src;
    col_snap_sink_t sink;
    sl_err_t err;
    memset(&s->snapsink, 0, sizeof(s->snapsink));
    s->snapsink.conf = s->conf;
    s->snapsink.dec = s->dec;
    s->snapsink.qc = s->qc;
    pg_snapsink_ops(&s->snapsink, &sink);
    if ((err = col_snap_pg_src(&src, s->conf, s->filter, errstr, errstr_size)))
        return SL_ERR_FATAL;
    err = col_snap_new(&s->snap, s->conf, &src, &sink, s->pub, s->svc->metrics,
                       col_pub_checkpoint_progress(s->pub), !have_ck, errstr, errstr_size);
    if (err)
        return err == SL_ERR_DB && retriable(errstr) ? SL_ERR_IO : SL_ERR_FATAL;
    s->snapsink.snap = s->snap;
    return SL_OK;
}

/* One session; returns SL_OK on a requested stop, SL_ERR_IO when a new
 * session may succeed, another error when the collector must stop. */
static sl_err_t session(pg_src_t *s, char *errstr, size_t errstr_size)
{
    const col_conf_t *conf = s->conf;
    sl_err_t err, cerr;
    sl_pos_t ck;
    pg_slotinfo_t slot;
    int have_ck = 0;
    uint64_t start = 0;
    char cerrstr[512];

    if ((err = col_pub_new(&s->pub, conf, &s->svc->conf.kafka, s->svc->metrics, errstr,
                           errstr_size)))
        return SL_ERR_FATAL;
    err = col_pub_checkpoint_load(s->pub, &ck, errstr, errstr_size);
    if (err == SL_OK)
        have_ck = 1;
    else if (err != SL_ERR_NOT_FOUND)
        return SL_ERR_FATAL;
    if (have_ck && ck.kind != SL_POS_PG) {
        snprintf(errstr, errstr_size, "source \"%s\": the checkpoint in Kafka is not a "
                 "PostgreSQL position: is source.name shared with another source?",
                 conf->source_name);
        return SL_ERR_FATAL;
    }
    if ((err = pg_connect(conf, 0, &s->qc, errstr, errstr_size)))
        return err == SL_ERR_DENIED ? err : retriable(errstr) ? SL_ERR_IO : SL_ERR_FATAL;
    if ((err = pg_preflight(s->qc, conf, s->filter, have_ck, &slot, errstr, errstr_size)))
        return err == SL_ERR_DB && retriable(errstr) ? SL_ERR_IO : SL_ERR_FATAL;
    if (have_ck) {
        start = pg_dec_pos_lsn(&ck);
    } else if (!strcmp(conf->start_position, "earliest") || !*conf->start_position) {
        start = slot.confirmed_flush;
    } else if (!strcmp(conf->start_position, "latest")) {
        if ((err = pg_query_lsn(s->qc, "SELECT pg_current_wal_lsn()", &start, errstr,
                                errstr_size)))
            return SL_ERR_FATAL;
    } else if (!pg_lsn_parse(conf->start_position, &start)) {
        snprintf(errstr, errstr_size, "start.position \"%s\": a PostgreSQL source takes "
                 "earliest, latest or an LSN such as 0/16B3748", conf->start_position);
        return SL_ERR_FATAL;
    }
    s->floor_lsn = slot.confirmed_flush;
    if (start < slot.confirmed_flush)
        start = slot.confirmed_flush;
    s->idle_lsn = 0;
    s->sent_flush = 0;
    s->recv_lsn = start;
    s->has_boundary = 0;
    s->dirty = 0;

    pg_dec_conf_t dc = {
        .source = conf->source_name,
        .batch_max_rows = (uint32_t)conf->batch_max_rows,
        .batch_max_bytes = (size_t)conf->batch_max_bytes,
        .sink = sink_cb, .sink_ctx = s,
        .filter = filter_cb, .filter_ctx = s->filter,
        .relextra = pg_catalog_relextra, .relextra_ctx = s->qc,
        .resolver = pg_catalog_type, .resolver_ctx = s->qc,
        .message = pg_snapsink_message, .message_ctx = &s->snapsink,
        .refused = refused_cb, .refused_ctx = s,
    };
    const char *spill = conf->spill_dir && *conf->spill_dir ? conf->spill_dir : getenv("TMPDIR");
    if ((err = pg_dec_new(&s->dec, &dc)) ||
        (err = pg_stream_new(&s->stream, spill, (uint64_t)conf->spill_max_bytes))) {
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_FATAL;
    }
    if ((err = snap_new(s, have_ck, errstr, errstr_size)))
        return err;
    if ((err = pg_connect(conf, 1, &s->rc, errstr, errstr_size)))
        return err == SL_ERR_DENIED ? err : retriable(errstr) ? SL_ERR_IO : SL_ERR_FATAL;
    if ((err = start_replication(s, start, errstr, errstr_size)))
        return err;

    sl_record_t *fin = sl_record_new();
    char pt[128];
    if (!fin || sl_record_init_finish(fin, conf->source_name, have_ck ? "resume" : "start",
                                      pg_now_us() + PG_EPOCH_US)) {
        sl_record_destroy(fin);
        return SL_ERR_FATAL;
    }
    sl_pos_set_pg(&fin->pos, start, 0, 0);
    err = sink_cb(s, fin, errstr, errstr_size);
    sl_record_destroy(fin);
    if (err)
        return SL_ERR_FATAL;
    pg_lsn_format(start, pt, sizeof(pt));
    sl_log_set_position(pt);
    sl_info("streaming from slot \"%s\" publication \"%s\" at %s (%s)", conf->source_slot,
            conf->source_publication, pt, have_ck ? "resume from the checkpoint" : "first start");

    sl_http_set_health(s->svc->http, 1, NULL);
    err = stream_loop(s, errstr, errstr_size);

    /* Deliver what was put (a source transaction cut here comes again after
     * the next FINISH) and tell the server the final durable position. */
    {
        col_watch_enter(s->watch);
        cerr = col_pub_close(s->pub, PG_CLOSE_TIMEOUT, cerrstr, sizeof(cerrstr));
        col_watch_leave(s->watch, 0);
        if (cerr) {
            sl_error("closing the publisher: %s", cerrstr);
        } else if (PQstatus(s->rc) == CONNECTION_OK) {
            char fe[256];
            if (feedback(s, 1, fe, sizeof(fe)) == SL_OK) {
                pg_lsn_format(s->sent_flush, pt, sizeof(pt));
                sl_info("confirmed flush LSN %s to slot \"%s\"", pt, conf->source_slot);
            }
        }
    }
    const pg_dec_stats_t *st = pg_dec_stats(s->dec);
    sl_info("session: %" PRIu64 " transactions, %" PRIu64 " rows published, %" PRIu64
            " rows of filtered or refused tables, %" PRIu64 " streamed transactions",
            st->txns, st->rows, st->skipped_rows, pg_stream_stats(s->stream)->committed);
    return err;
}

static void session_end(pg_src_t *s)
{
    if (s->rc) {
        if (PQstatus(s->rc) == CONNECTION_OK)
            PQputCopyEnd(s->rc, NULL);
        PQfinish(s->rc);
    }
    if (s->qc)
        PQfinish(s->qc);
    col_snap_destroy(s->snap);
    s->snap = NULL;
    s->snapsink.snap = NULL;
    pg_dec_destroy(s->dec);
    pg_stream_destroy(s->stream);
    if (s->pub)
        col_pub_destroy(s->pub);
    s->rc = s->qc = NULL;
    s->dec = NULL;
    s->stream = NULL;
    s->pub = NULL;
}

int col_pg_run(sl_service_t *svc, const col_conf_t *conf)
{
    pg_src_t s;
    char errstr[1024] = "";
    int64_t backoff = 500;
    memset(&s, 0, sizeof(s));
    s.conf = conf;
    s.svc = svc;
    if (col_filter_new(&s.filter, conf->tables_include, conf->tables_exclude, errstr,
                       sizeof(errstr))) {
        sl_error("%s", errstr);
        return SL_EXIT_USAGE;
    }
    s.m_recv = sl_metrics_gauge(svc->metrics, "shiftlog_collector_pg_received_lsn",
                                "Highest WAL position received from the walsender.", NULL);
    s.m_flush = sl_metrics_gauge(svc->metrics, "shiftlog_collector_pg_confirmed_lsn",
                                 "Flush LSN last confirmed to the replication slot.", NULL);
    s.m_spill = sl_metrics_gauge(svc->metrics, "shiftlog_collector_pg_spill_bytes",
                                 "Bytes of open streamed transactions spilled to disk.", NULL);
    s.m_streamed = sl_metrics_counter(svc->metrics, "shiftlog_collector_pg_streamed_txns_total",
                                      "Streamed (large) transactions committed and replayed.",
                                      NULL);
    s.m_refused = sl_metrics_gauge(svc->metrics, "shiftlog_collector_tables_refused",
                                   "Published tables whose changes are refused (no key to "
                                   "apply them by: REPLICA IDENTITY NOTHING, or DEFAULT without "
                                   "a primary key); /health names them.", NULL);
    int rc = SL_EXIT_OK;
    s.watch = col_watch_start(svc->http, "reading the WAL");
    for (;;) {
        int64_t began = sl_service_now_ms();
        errstr[0] = 0;
        sl_err_t err = session(&s, errstr, sizeof(errstr));
        session_end(&s);
        if (err == SL_OK || sl_service_stopping())
            break;
        if (err != SL_ERR_IO) {
            sl_error("%s", errstr);
            rc = err == SL_ERR_DENIED ? SL_EXIT_DENIED : SL_EXIT_FAILURE;
            break;
        }
        if (sl_service_now_ms() - began > 60000)
            backoff = 500; /* it ran well for a while: back-off is for failures in a row */
        sl_warn("%s; reconnecting in %" PRId64 " ms", errstr, backoff);
        sl_http_set_health(svc->http, 0, errstr);
        if (sl_service_wait((int)backoff) == 1)
            break;
        backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
    }
    col_watch_stop(s.watch);
    col_filter_destroy(s.filter);
    return rc;
}
