/* shiftlog collector, PostgreSQL reader (col_pg_source, source.h): logical
 * replication with pgoutput.
 *
 * One session (run by the supervisor, supervisor.c, which owns the publisher
 * and its checkpoint) = a catalog connection (preflight, type lookups), a
 * walsender connection streaming
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
 * session (TRANSIENT): what was put is delivered, and the supervisor starts
 * a new session from the checkpoint after its backoff, with a FINISH marker
 * first. Configuration and preflight failures are PERMANENT. */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pg_source.h"
#include "source.h"
#include "sl_log.h"
#include "sl_name.h"

#define PG_FEEDBACK_MIN_MS 100

typedef struct pg_src_s {
    col_source_t      base;      /* first: the supervisor's handle */
    const col_conf_t *conf;      /* base.conf */
    uint64_t          start;     /* the session's start LSN */
    int               have_ck;   /* it resumes from a checkpoint */
    int               streamed;  /* the session reached the stream */
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
    pg_snapsink_t     snapsink;  /* the snapshot engine's sink over the decoder */
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
    /* a failure's outcome stays with the supervisor (col_sup_end) */
    if (col_sup_put(s->base.sup, rec, errstr, errstr_size) != COL_GO_ON)
        return SL_ERR_FATAL;
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
    return col_pub_checkpoint(col_sup_pub(s->base.sup), &ck) && sl_pos_cmp(&ck, &s->boundary) >= 0;
}

static uint64_t flush_lsn(pg_src_t *s)
{
    sl_pos_t ck;
    uint64_t f = s->floor_lsn;
    if (col_pub_checkpoint(col_sup_pub(s->base.sup), &ck) && pg_dec_pos_lsn(&ck) > f)
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

/* An error of the stream: a lost connection (IO) or, unless a publisher
 * call failed in it, a session that cannot go on. */
static col_end_t stream_end(pg_src_t *s, sl_err_t err, const char *errstr)
{
    return col_sup_end(s->base.sup, err == SL_ERR_IO ? err : SL_ERR_FATAL, errstr);
}

/* Streams until a stop, a lost connection or an error retrying cannot cure. */
static col_end_t stream_loop(pg_src_t *s, char *errstr, size_t errstr_size)
{
    col_sup_t *sup = s->base.sup;
    col_end_t end;
    sl_err_t err;
    unsigned turns = 0;
    while (!sl_service_stopping()) {
        char *buf = NULL;
        /* between source transactions: the snapshot engine's next chunk
         * when one is due (its HIGH watermark then comes through the stream) */
        if (!pg_dec_in_txn(s->dec) && !pg_stream_in_block(s->stream) &&
            (end = col_sup_idle(sup, errstr, errstr_size)) != COL_GO_ON)
            return end;
        int len = PQgetCopyData(s->rc, &buf, 1);
        if (len > 0) {
            err = handle(s, (const uint8_t *)buf, (size_t)len, errstr, errstr_size);
            PQfreemem(buf);
            if (err)
                return stream_end(s, err, errstr);
            if ((++turns & 255) == 0) {
                if ((end = col_sup_service(sup, errstr, errstr_size)) != COL_GO_ON)
                    return end;
                if ((err = feedback(s, 0, errstr, errstr_size)))
                    return stream_end(s, err, errstr);
            }
            continue;
        }
        if (len == 0) {
            if ((end = col_sup_service(sup, errstr, errstr_size)) != COL_GO_ON)
                return end;
            if ((err = feedback(s, 0, errstr, errstr_size)))
                return stream_end(s, err, errstr);
            struct pollfd pfd = {.fd = PQsocket(s->rc), .events = POLLIN};
            int timeout = col_pub_inflight(col_sup_pub(sup)) ? 5 : 100;
            if (sl_service_wait_fds(&pfd, 1, timeout) == 1)
                break;
            if (!PQconsumeInput(s->rc)) {
                snprintf(errstr, errstr_size, "reading from PostgreSQL: %.*s",
                         (int)strcspn(PQerrorMessage(s->rc), "\n"), PQerrorMessage(s->rc));
                return COL_END_TRANSIENT;
            }
            continue;
        }
        PGresult *r = PQgetResult(s->rc);
        const char *m = r ? PQresultErrorMessage(r) : "";
        snprintf(errstr, errstr_size, "replication stream ended: %.*s",
                 (int)strcspn(*m ? m : PQerrorMessage(s->rc), "\n"),
                 *m ? m : PQerrorMessage(s->rc));
        PQclear(r);
        return COL_END_TRANSIENT;
    }
    return COL_END_STOP;
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
    col_sup_degraded(s->base.sup, nrefused ? b.data : NULL);
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
        col_snap_t *snap = col_sup_snap(s->base.sup);
        if (snap && col_snap_request(snap, nsp, rel))
            sl_error("snapshot of %s: out of memory", name);
    }
    refused_publish(s);
}

/* ------------------------------------------------------------ the session (source.h) */

/* A failed connection: refused for good, or worth another try. */
static col_end_t connect_end(sl_err_t err, const char *errstr)
{
    return err == SL_ERR_DENIED ? COL_END_DENIED
         : retriable(errstr) ? COL_END_TRANSIENT : COL_END_PERMANENT;
}

static col_end_t pg_connect_step(col_source_t *src, char *errstr, size_t errstr_size)
{
    pg_src_t *s = (pg_src_t *)src;
    sl_err_t err = pg_connect(s->conf, 0, &s->qc, errstr, errstr_size);
    return err ? connect_end(err, errstr) : COL_GO_ON;
}

/* The start LSN: the checkpoint, else start.position (from_end: latest),
 * never before the slot's confirmed position. */
static col_end_t start_lsn(pg_src_t *s, const pg_slotinfo_t *slot, int from_end,
                           char *errstr, size_t errstr_size)
{
    const char *at = from_end ? "latest" : s->conf->start_position;
    if (s->have_ck) {
        /* s->start holds the checkpoint's LSN already */
    } else if (!strcmp(at, "earliest") || !*at) {
        s->start = slot->confirmed_flush;
    } else if (!strcmp(at, "latest")) {
        if (pg_query_lsn(s->qc, "SELECT pg_current_wal_lsn()", &s->start, errstr, errstr_size))
            return COL_END_PERMANENT;
    } else if (!pg_lsn_parse(at, &s->start)) {
        snprintf(errstr, errstr_size, "start.position \"%s\": a PostgreSQL source takes "
                 "earliest, latest or an LSN such as 0/16B3748", at);
        return COL_END_PERMANENT;
    }
    s->floor_lsn = slot->confirmed_flush;
    if (s->start < slot->confirmed_flush)
        s->start = slot->confirmed_flush;
    return COL_GO_ON;
}

/* The decoder and the streamed-transaction spill of a session. */
static sl_err_t decoder_new(pg_src_t *s)
{
    const col_conf_t *conf = s->conf;
    pg_dec_conf_t dc = {
        .source = conf->source_name,
        .batch_max_rows = (uint32_t)conf->batch_max_rows,
        .batch_max_bytes = (size_t)conf->batch_max_bytes,
        .sink = sink_cb, .sink_ctx = s,
        .filter = filter_cb, .filter_ctx = (void *)s->base.filter,
        .relextra = pg_catalog_relextra, .relextra_ctx = s->qc,
        .resolver = pg_catalog_type, .resolver_ctx = s->qc,
        .message = pg_snapsink_message, .message_ctx = &s->snapsink,
        .refused = refused_cb, .refused_ctx = s,
    };
    const char *spill = conf->spill_dir && *conf->spill_dir ? conf->spill_dir : getenv("TMPDIR");
    sl_err_t err = pg_dec_new(&s->dec, &dc);
    return err ? err : pg_stream_new(&s->stream, spill, (uint64_t)conf->spill_max_bytes);
}

static col_end_t pg_start(col_source_t *src, const sl_pos_t *ckpt, int from_end,
                          col_snap_src_t *backend, col_snap_sink_t *sink, char *errstr,
                          size_t errstr_size)
{
    pg_src_t *s = (pg_src_t *)src;
    const col_conf_t *conf = s->conf;
    pg_slotinfo_t slot;
    sl_err_t err;
    col_end_t end;
    if (ckpt && ckpt->kind != SL_POS_PG) {
        snprintf(errstr, errstr_size, "source \"%s\": the checkpoint in Kafka is not a "
                 "PostgreSQL position: is source.name shared with another source?",
                 conf->source_name);
        return COL_END_PERMANENT;
    }
    s->have_ck = ckpt != NULL;
    s->start = ckpt ? pg_dec_pos_lsn(ckpt) : 0;
    if ((err = pg_preflight(s->qc, conf, s->base.filter, s->have_ck, from_end, &slot, errstr,
                            errstr_size)))
        return err == SL_ERR_NOT_FOUND ? COL_END_PURGED
             : err == SL_ERR_DB && retriable(errstr) ? COL_END_TRANSIENT : COL_END_PERMANENT;
    if ((end = start_lsn(s, &slot, from_end, errstr, errstr_size)) != COL_GO_ON)
        return end;
    s->idle_lsn = 0;
    s->sent_flush = 0;
    s->recv_lsn = s->start;
    s->has_boundary = 0;
    s->dirty = 0;
    if (decoder_new(s)) {
        snprintf(errstr, errstr_size, "out of memory");
        return COL_END_PERMANENT;
    }
    /* the snapshot engine's sink over the decoder; its backend on a
     * connection of its own */
    memset(&s->snapsink, 0, sizeof(s->snapsink));
    s->snapsink.conf = conf;
    s->snapsink.dec = s->dec;
    s->snapsink.qc = s->qc;
    s->snapsink.sup = s->base.sup;
    pg_snapsink_ops(&s->snapsink, sink);
    if (col_snap_pg_src(backend, conf, s->base.filter, errstr, errstr_size))
        return COL_END_PERMANENT;
    return COL_GO_ON;
}

static col_end_t pg_stream_step(col_source_t *src, char *errstr, size_t errstr_size)
{
    pg_src_t *s = (pg_src_t *)src;
    const col_conf_t *conf = s->conf;
    sl_err_t err;
    char pt[128];
    if ((err = pg_connect(conf, 1, &s->rc, errstr, errstr_size)))
        return connect_end(err, errstr);
    if ((err = start_replication(s, s->start, errstr, errstr_size)))
        return err == SL_ERR_IO ? COL_END_TRANSIENT : COL_END_PERMANENT;
    s->streamed = 1;
    sl_record_t *fin = sl_record_new();
    if (!fin || sl_record_init_finish(fin, conf->source_name, s->have_ck ? "resume" : "start",
                                      pg_now_us() + PG_EPOCH_US)) {
        sl_record_destroy(fin);
        snprintf(errstr, errstr_size, "out of memory");
        return COL_END_PERMANENT;
    }
    sl_pos_set_pg(&fin->pos, s->start, 0, 0);
    err = sink_cb(s, fin, errstr, errstr_size);
    sl_record_destroy(fin);
    if (err)
        return col_sup_end(s->base.sup, err, errstr);
    pg_lsn_format(s->start, pt, sizeof(pt));
    sl_log_set_position(pt);
    sl_info("streaming from slot \"%s\" publication \"%s\" at %s (%s)", conf->source_slot,
            conf->source_publication, pt,
            s->have_ck ? "resume from the checkpoint" : "first start");
    return COL_GO_ON;
}

static col_end_t pg_run(col_source_t *src, char *errstr, size_t errstr_size)
{
    return stream_loop((pg_src_t *)src, errstr, errstr_size);
}

/* The end of a session: when Kafka took everything (a source transaction
 * cut here comes again after the next FINISH), the server hears the final
 * durable position. */
static void pg_close(col_source_t *src, int delivered)
{
    pg_src_t *s = (pg_src_t *)src;
    if (delivered && s->streamed && PQstatus(s->rc) == CONNECTION_OK) {
        char fe[256], pt[32];
        if (feedback(s, 1, fe, sizeof(fe)) == SL_OK) {
            pg_lsn_format(s->sent_flush, pt, sizeof(pt));
            sl_info("confirmed flush LSN %s to slot \"%s\"", pt, s->conf->source_slot);
        }
    }
    if (s->streamed) {
        const pg_dec_stats_t *st = pg_dec_stats(s->dec);
        sl_info("session: %" PRIu64 " transactions, %" PRIu64 " rows published, %" PRIu64
                " rows of filtered or refused tables, %" PRIu64 " streamed transactions",
                st->txns, st->rows, st->skipped_rows, pg_stream_stats(s->stream)->committed);
    }
    if (s->rc) {
        if (PQstatus(s->rc) == CONNECTION_OK)
            PQputCopyEnd(s->rc, NULL);
        PQfinish(s->rc);
    }
    if (s->qc)
        PQfinish(s->qc);
    s->snapsink.sup = NULL;
    pg_dec_destroy(s->dec);
    pg_stream_destroy(s->stream);
    s->rc = s->qc = NULL;
    s->dec = NULL;
    s->stream = NULL;
    s->streamed = 0;
}

/* Errors of the catalog, the snapshot engine and the stream: a lost
 * connection (retry), else a stop (a refusal for good, SL_ERR_DENIED, is
 * the supervisor's: exit 3). */
static col_end_t pg_classify(const col_source_t *src, sl_err_t err, const char *errstr)
{
    if (err == SL_ERR_IO || (err == SL_ERR_DB && retriable(errstr)))
        return COL_END_TRANSIENT;
    return COL_END_PERMANENT;
}

static void pg_destroy(col_source_t *src)
{
    free(src);
}

static sl_err_t pg_create(col_source_t **out, const col_source_t *base, char *errstr,
                          size_t errstr_size)
{
    pg_src_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    s->base = *base;
    s->conf = base->conf;
    sl_metrics_t *m = base->metrics;
    s->m_recv = sl_metrics_gauge(m, "shiftlog_collector_pg_received_lsn",
                                 "Highest WAL position received from the walsender.", NULL);
    s->m_flush = sl_metrics_gauge(m, "shiftlog_collector_pg_confirmed_lsn",
                                  "Flush LSN last confirmed to the replication slot.", NULL);
    s->m_spill = sl_metrics_gauge(m, "shiftlog_collector_pg_spill_bytes",
                                  "Bytes of open streamed transactions spilled to disk.", NULL);
    s->m_streamed = sl_metrics_counter(m, "shiftlog_collector_pg_streamed_txns_total",
                                       "Streamed (large) transactions committed and replayed.",
                                       NULL);
    s->m_refused = sl_metrics_gauge(m, "shiftlog_collector_tables_refused",
                                    "Published tables whose changes are refused (no key to "
                                    "apply them by: REPLICA IDENTITY NOTHING, or DEFAULT without "
                                    "a primary key); /health names them.", NULL);
    *out = &s->base;
    return SL_OK;
}

const col_source_ops_t col_pg_source = {
    .kind = "postgresql",
    .log_name = "WAL",
    .activity = "reading the WAL",
    .close_ms = 30000,
    .create = pg_create,
    .destroy = pg_destroy,
    .connect = pg_connect_step,
    .start = pg_start,
    .stream = pg_stream_step,
    .run = pg_run,
    .close = pg_close,
    .classify = pg_classify,
};
