/* shiftlog-collector: the supervisor of a source reader (source.h) — its
 * sessions, their backoff, /health, the stall watchdog, the reconnect metric,
 * the publisher and the snapshot engine, the same for every reader. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "source.h"
#include "col_retain.h"
#include "col_watch.h"
#include "sl_backoff.h"
#include "sl_log.h"

#define SUP_BACKOFF_MIN_MS 500
#define SUP_BACKOFF_MAX_MS 30000
#define SUP_SESSION_OK_MS  60000    /* a session that ran this long resets the backoff */

struct col_sup_s {
    sl_service_t           *svc;
    const col_conf_t       *conf;
    const col_source_ops_t *ops;
    col_source_t           *src;
    col_filter_t           *filter;
    col_watch_t            *watch;
    col_retain_t           *retain;
    sl_metric_t            *m_reconnects;

    /* the session */
    col_pub_t              *pub;
    col_snap_t             *snap;
    int                     pub_failed;  /* the producer failed: nothing to close */
    col_end_t               pub_end;     /* how a publisher call failed, else COL_GO_ON */
    int                     inside;      /* in col_sup_watermark: puts are the engine's */
};

/* ------------------------------------------------------------ for readers */

col_end_t col_sup_put(col_sup_t *sup, const sl_record_t *rec, char *errstr,
                      size_t errstr_size)
{
    if (sup->snap && !sup->inside)
        col_snap_observe(sup->snap, rec);
    col_watch_enter(sup->watch);
    sl_err_t err = col_pub_put(sup->pub, rec, errstr, errstr_size);
    col_watch_leave(sup->watch, !err);
    if (!err)
        return COL_GO_ON;
    if (err == SL_ERR_STATE && sl_service_stopping())
        sup->pub_end = COL_END_STOP;
    else if (err == SL_ERR_FATAL)
        sup->pub_end = COL_END_TRANSIENT;
    else
        sup->pub_end = COL_END_PERMANENT;       /* encode error, record too large */
    sup->pub_failed |= err == SL_ERR_FATAL;
    return sup->pub_end;
}

col_end_t col_sup_service(col_sup_t *sup, char *errstr, size_t errstr_size)
{
    col_watch_enter(sup->watch);
    sl_err_t err = col_pub_service(sup->pub, 0, errstr, errstr_size);
    col_watch_leave(sup->watch, !err);
    sl_pos_t ckpt;
    if (sup->retain && col_pub_checkpoint(sup->pub, &ckpt))
        col_retain_checkpoint(sup->retain, &ckpt);
    if (!err)
        return COL_GO_ON;
    sup->pub_failed |= err == SL_ERR_FATAL;
    return sup->pub_end = COL_END_TRANSIENT;
}

/* A refusal for good (credentials, grants, TLS) stops every reader with
 * exit 3; the reader's classify tells the rest. */
static col_end_t classify(const col_sup_t *sup, sl_err_t err, const char *errstr)
{
    if (err == SL_ERR_DENIED)
        return COL_END_DENIED;
    return sup->ops->classify(sup->src, err, errstr);
}

col_end_t col_sup_end(col_sup_t *sup, sl_err_t err, const char *errstr)
{
    col_end_t end = sup->pub_end;
    sup->pub_end = COL_GO_ON;
    return end != COL_GO_ON ? end : classify(sup, err, errstr);
}

col_end_t col_sup_idle(col_sup_t *sup, char *errstr, size_t errstr_size)
{
    if (!sup->snap)
        return COL_GO_ON;
    sl_err_t err = col_snap_step(sup->snap, errstr, errstr_size);
    if (err)
        return col_sup_end(sup, err, errstr);
    col_pub_set_txn_max_ms(sup->pub, col_snap_busy(sup->snap) ? sup->conf->snapshot_txn_max_ms
                                                              : 0);
    /* done, or nothing to do at this start (a restart after the snapshot ended) */
    if (sup->conf->snapshot_mode == COL_SNAP_INITIAL_ONLY &&
        (col_snap_done(sup->snap) ||
         (!col_snap_waiting(sup->snap) && !col_snap_progress(sup->snap)[0]))) {
        sl_info("snapshot.mode = initial_only: the snapshot is complete; stopping");
        return COL_END_STOP;
    }
    return COL_GO_ON;
}

sl_err_t col_sup_watermark(col_sup_t *sup, char kind, const char *id, const sl_pos_t *pos,
                           const char *txn, int64_t time_us, char *errstr,
                           size_t errstr_size)
{
    if (!sup->snap)
        return SL_OK;
    sup->inside = 1;
    sl_err_t err = col_snap_watermark(sup->snap, kind, id, pos, txn, time_us, errstr,
                                      errstr_size);
    sup->inside = 0;
    return err;
}

void col_sup_degraded(col_sup_t *sup, const char *why)
{
    sl_http_set_degraded(sup->svc->http, why);
}

col_snap_t *col_sup_snap(col_sup_t *sup)
{
    return sup->snap;
}

col_pub_t *col_sup_pub(col_sup_t *sup)
{
    return sup->pub;
}

/* ------------------------------------------------------------ a session */

/* The publisher and the checkpoint to resume from (*have = 0: first start). */
static col_end_t open_publisher(col_sup_t *sup, sl_pos_t *ckpt, int *have, char *errstr,
                                size_t errstr_size)
{
    sl_err_t err = col_pub_new(&sup->pub, sup->conf, &sup->svc->conf.kafka, sup->svc->metrics,
                               errstr, errstr_size);
    if (err)
        return err == SL_ERR_INVALID ? COL_END_PERMANENT : COL_END_TRANSIENT;
    err = col_pub_checkpoint_load(sup->pub, ckpt, errstr, errstr_size);
    *have = !err;
    if (err == SL_ERR_NOT_FOUND)
        return COL_GO_ON;
    if (err)
        return err == SL_ERR_STATE ? COL_END_STOP : COL_END_TRANSIENT;
    col_retain_checkpoint(sup->retain, ckpt);
    char t[200];
    sl_pos_format(ckpt, t, sizeof(t));
    sl_info("checkpoint found: %s", t);
    return COL_GO_ON;
}

/* The snapshot engine of the session, over the reader's backend and sink,
 * with the progress stored beside the checkpoint. purged: every table again. */
static col_end_t open_snapshot(col_sup_t *sup, const col_snap_src_t *backend,
                               const col_snap_sink_t *sink, int first_start, int purged,
                               char *errstr, size_t errstr_size)
{
    sl_err_t err = col_snap_new(&sup->snap, sup->conf, backend, sink, sup->pub,
                                sup->svc->metrics, col_pub_checkpoint_progress(sup->pub),
                                first_start, errstr, errstr_size);
    if (err)
        return classify(sup, err, errstr);
    if (purged && col_snap_request_all(sup->snap, errstr, errstr_size))
        return COL_END_TRANSIENT;
    return COL_GO_ON;
}

static col_end_t session(col_sup_t *sup, char *errstr, size_t errstr_size)
{
    const col_source_ops_t *ops = sup->ops;
    col_source_t *src = sup->src;
    col_snap_src_t backend;
    col_snap_sink_t sink;
    sl_pos_t ckpt;
    int have = 0, purged = 0;
    col_end_t end;

    sup->pub_failed = 0;
    sup->pub_end = COL_GO_ON;
    if ((end = ops->connect(src, errstr, errstr_size)) != COL_GO_ON ||
        (end = open_publisher(sup, &ckpt, &have, errstr, errstr_size)) != COL_GO_ON)
        return end;
    memset(&backend, 0, sizeof(backend));
    memset(&sink, 0, sizeof(sink));
    end = ops->start(src, have ? &ckpt : NULL, 0, &backend, &sink, errstr, errstr_size);
    if (end == COL_END_PURGED) {
        if (sup->conf->snapshot_mode != COL_SNAP_WHEN_NEEDED)
            return COL_END_PERMANENT;
        /* the changes since the checkpoint are gone from the source: follow it
         * from now on and copy every table again */
        sl_warn("%s. snapshot.mode = when_needed: streaming from the %s's end and copying "
                "every included table again", errstr, ops->log_name);
        purged = 1;
        end = ops->start(src, NULL, 1, &backend, &sink, errstr, errstr_size);
    }
    if (end != COL_GO_ON ||
        (end = open_snapshot(sup, &backend, &sink, !have, purged, errstr, errstr_size)) !=
        COL_GO_ON ||
        (end = ops->stream(src, errstr, errstr_size)) != COL_GO_ON)
        return end;
    sl_http_set_health(sup->svc->http, 1, NULL);
    return ops->run(src, errstr, errstr_size);
}

/* Delivers what was put (unless the producer failed: its checkpoint is
 * safe), then ends the engine, the reader's session and the publisher. */
static void session_close(col_sup_t *sup)
{
    char errstr[1024];
    int delivered = 0;
    if (sup->pub && !sup->pub_failed) {
        col_watch_enter(sup->watch);
        sl_err_t err = col_pub_close(sup->pub, sup->ops->close_ms, errstr, sizeof(errstr));
        col_watch_leave(sup->watch, 0);
        if (err)
            sl_warn("publisher close: %s", errstr);
        delivered = !err;
    }
    col_snap_destroy(sup->snap);
    sup->snap = NULL;
    sup->ops->close(sup->src, delivered);
    col_pub_destroy(sup->pub);
    sup->pub = NULL;
}

/* The error line of a session that cannot go on; the reader's message may
 * name the source already. */
static void log_end(const col_sup_t *sup, const char *errstr)
{
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "source \"%s\": ", sup->conf->source_name);
    if (!strncmp(errstr, prefix, strlen(prefix)))
        sl_error("%s", errstr);
    else
        sl_error("%s%s", prefix, errstr);
}

/* Sessions until a stop or an end retrying cannot cure. */
static int supervise(col_sup_t *sup)
{
    char errstr[1024];
    sl_backoff_t backoff = SL_BACKOFF_INIT(SUP_BACKOFF_MIN_MS, SUP_BACKOFF_MAX_MS);
    for (;;) {
        int64_t began = sl_service_now_ms();
        errstr[0] = '\0';
        col_end_t end = session(sup, errstr, sizeof(errstr));
        if (end != COL_END_STOP && end != COL_END_TRANSIENT) {
            if (sl_service_stopping())
                sl_info("stopping (%s)", errstr);    /* cut short by the stop itself */
            else
                log_end(sup, errstr);
        }
        session_close(sup);
        if (end == COL_END_STOP || sl_service_stopping())
            return SL_EXIT_OK;
        if (end != COL_END_TRANSIENT)
            return end == COL_END_DENIED ? SL_EXIT_DENIED : SL_EXIT_FAILURE;
        if (sl_service_now_ms() - began > SUP_SESSION_OK_MS)
            sl_backoff_reset(&backoff);          /* it ran well for a while */
        int64_t wait = sl_backoff_next(&backoff);
        sl_warn("source \"%s\": %s; reconnecting in %" PRId64 " ms from the checkpoint",
                sup->conf->source_name, errstr, wait);
        sl_http_set_health(sup->svc->http, 0, errstr);
        sl_metric_inc(sup->m_reconnects);
        if (sl_service_wait((int)wait))
            return SL_EXIT_OK;
    }
}

int col_supervise(sl_service_t *svc, const col_conf_t *conf, const col_source_ops_t *ops)
{
    char errstr[1024];
    col_sup_t sup;
    memset(&sup, 0, sizeof(sup));
    sup.svc = svc;
    sup.conf = conf;
    sup.ops = ops;
    sup.pub_end = COL_GO_ON;
    if (col_filter_new(&sup.filter, conf->tables_include, conf->tables_exclude, errstr,
                       sizeof(errstr))) {
        sl_error("source \"%s\": %s", conf->source_name, errstr);
        return SL_EXIT_USAGE;
    }
    col_source_t base = {.ops = ops, .sup = &sup, .conf = conf, .filter = sup.filter,
                         .metrics = svc->metrics};
    int code = SL_EXIT_FAILURE;
    if (ops->create(&sup.src, &base, errstr, sizeof(errstr))) {
        sl_error("source \"%s\": %s", conf->source_name, errstr);
        goto out;
    }
    sup.m_reconnects = sl_metrics_counter(svc->metrics, "shiftlog_collector_reconnects_total",
                                          "Sessions restarted after a recoverable failure.",
                                          NULL);
    sup.watch = col_watch_start(svc->http, ops->activity);
    sup.retain = col_retain_start(conf, svc->metrics);
    code = supervise(&sup);
    col_retain_stop(sup.retain);
    col_watch_stop(sup.watch);
out:
    if (sup.src)
        ops->destroy(sup.src);
    col_filter_destroy(sup.filter);
    return code;
}
