/* shiftlog-applier: the run of a direct task (direct.h, docs/direct.md).
 *
 * A run reads the source table in keyset chunks and writes each chunk in
 * one target transaction with the progress of its reader and the reader's
 * kafkaoffset row (direct_work.c), so a kill -9 leaves the target at a
 * chunk boundary that the progress names: the next start goes on after it
 * (rows are upserts of whole rows: a chunk read again after a failed commit
 * is written again, never twice).
 *
 * The task's own row of shiftlog_direct holds the run (direct_run.h):
 * run number, done, w (the diff watermark this run reads from; null = all
 * rows), cap (the source clock at the run's start - diff.lag.ms) and, with
 * worker_num > 1, the ranges of the first key column; each worker's row
 * "<task>#i" holds its last key, the largest diff value it read and its
 * rows (with one worker those sit in the task's row). A run that ends
 * stores done and w = the next run's watermark: min(largest value read,
 * cap) — `>=` re-reads the rows that share the boundary value, and the cap
 * keeps a row whose transaction committed after the run read past its key
 * (with an older diff value than rows read later) at or past the next
 * watermark, as long as diff.lag.ms exceeds the longest writing
 * transaction. An integer diff column has no clock: w = the largest read. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct_run.h"
#include "sl_log.h"

typedef struct drun_s {
    const app_conf_t       *c;
    sl_service_t           *svc;
    app_dtask_t             task;
    const app_target_ops_t *ops;
    app_target_conf_t       tconf;
    app_dtable_t            tab;
    app_table_map_t         map;
    dwork_t                 coord;        /* the task's own row (and its one worker) */
    dprog_t                 run;          /* the run's fields of that row */
    int64_t                 committed;    /* chunks committed, all workers (progress) */
    sl_metric_t            *m_rows, *m_chunks;
} drun_t;

/* worker_num ranges of the first key column (an integer): worker i reads
 * [split[i-1], split[i]), the first and the last open-ended (rows inserted
 * past the bounds during the run are read too). 0 bounds: one worker. */
static sl_err_t make_split(drun_t *r, char *errstr, size_t sz)
{
    const sl_column_t *k = &r->tab.schema->u.schema.cols[r->tab.key[0]];
    int64_t n = r->task.worker_num;
    char *lo = NULL, *hi = NULL;
    if (n <= 1)
        return SL_OK;
    if (k->kind != SL_VAL_INT && k->kind != SL_VAL_UINT) {
        sl_warn("direct task %s: worker_num = %" PRId64 " needs an integer first key column "
                "(split.pk); %s is %s: one worker reads the table", r->task.name, n, k->name,
                k->source_type);
        return SL_OK;
    }
    sl_err_t err = app_dsrc_bounds(r->coord.src, &r->tab, &lo, &hi, errstr, sz);
    if (err || !lo)
        goto out;
    __int128 a = k->kind == SL_VAL_INT ? (__int128)strtoll(lo, NULL, 10)
                                       : (__int128)strtoull(lo, NULL, 10);
    __int128 b = k->kind == SL_VAL_INT ? (__int128)strtoll(hi, NULL, 10)
                                       : (__int128)strtoull(hi, NULL, 10);
    __int128 step = (b - a + 1) / n;
    for (int64_t i = 1; step > 0 && i < n; i++) {
        __int128 v = a + step * i;
        char t[48];
        if (v < 0)
            snprintf(t, sizeof t, "-%llu", (unsigned long long)-v);
        else
            snprintf(t, sizeof t, "%llu", (unsigned long long)v);
        app_dprog_set(&r->run.split[r->run.nsplit++], t);
    }
out:
    free(lo);
    free(hi);
    return err;
}

/* A worker thread: its connections, its progress, its range. */
static void *work_main(void *arg)
{
    dwork_t *w = arg;
    drun_t *r = w->th_run;
    app_target_conf_t conf = r->tconf;
    conf.task = w->name;
    conf.lease_task = r->tconf.task;
    w->err = app_dsrc_open(&w->src, r->c->direct_source_uri, w->errstr, sizeof w->errstr);
    if (!w->err)
        w->err = app_dwork_open(w, &conf, r->run.run, w->errstr, sizeof w->errstr);
    if (!w->err && !(w->rec = sl_record_new()))
        w->err = SL_ERR_NOMEM;
    if (!w->err)
        w->err = app_dwork_copy(w, w->errstr, sizeof w->errstr);
    return NULL;
}

/* worker_num > 1: the ranges in parallel; *max gets the largest diff value
 * any of them read, *rows the rows they wrote. */
static sl_err_t run_workers(drun_t *r, char **max, int64_t *rows, char *errstr, size_t sz)
{
    uint32_t n = r->run.nsplit + 1;
    dwork_t *ws = calloc(n, sizeof(*ws));
    char (*names)[300] = calloc(n, sizeof(*names));
    sl_err_t err = SL_OK;
    if (!ws || !names) {
        free(ws);
        free(names);
        return SL_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        dwork_t *w = &ws[i];
        snprintf(names[i], sizeof names[i], "%s#%u", r->task.name, i);
        *w = (dwork_t){.ops = r->ops, .tab = &r->tab, .map = &r->map, .name = names[i],
                       .w = r->run.w, .lo = i ? r->run.split[i - 1] : NULL,
                       .hi = i + 1 < n ? r->run.split[i] : NULL,
                       .read_batch = r->task.read_batch, .m_rows = r->m_rows,
                       .m_chunks = r->m_chunks, .th_run = r};
        w->started = pthread_create(&w->th, NULL, work_main, w) == 0;
        if (!w->started) {
            w->err = SL_ERR_NOMEM;
            snprintf(w->errstr, sizeof w->errstr, "direct task %s: cannot start worker %u",
                     r->task.name, i);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        dwork_t *w = &ws[i];
        if (w->started)
            pthread_join(w->th, NULL);
        r->committed += w->seq;
        if (w->err && !err) {
            err = w->err;
            snprintf(errstr, sz, "%s", w->errstr);
        }
        if (w->prog.max && (!*max || app_direct_diff_cmp(&r->tab, w->prog.max, *max) > 0))
            app_dprog_set(max, w->prog.max);
        *rows += w->prog.rows;
        app_dwork_close(w);
    }
    free(ws);
    free(names);
    return err;
}

/* One run (or the rest of one after a restart). */
static sl_err_t run_once(drun_t *r, int fresh, char *errstr, size_t sz)
{
    dwork_t *co = &r->coord;
    char *max = NULL, *j = NULL;
    int64_t rows = 0;
    sl_err_t err = SL_OK;
    if (fresh) {
        if (r->tab.diff >= 0 && r->tab.diff_temporal &&
            (err = app_dsrc_clock(co->src, &r->tab, r->task.diff_lag_ms, &r->run.cap, errstr,
                                  sz)))
            return err;
        if ((err = make_split(r, errstr, sz)))
            return err;
        if (r->run.nsplit) {
            /* the run's ranges first (and the target table), then the workers */
            if (!(j = app_dprog_json(&r->run, r->tab.nkey)))
                return SL_ERR_NOMEM;
            err = app_dwork_write(co, NULL, j, errstr, sz);
            free(j);
            if (err)
                return err;
        }
    }
    sl_info("direct task %s: %s %s.%s -> %s %s.%s %s%s%s (%u worker%s)", r->task.name,
            app_dsrc_engine(co->src), r->task.from_db, r->task.from_table, r->ops->name,
            r->task.to_db, r->task.to_table, !fresh ? "resuming after the last chunk"
            : r->run.w ? "rows with " : "full copy", r->run.w ? r->task.diff_column : "",
            r->run.w ? " >= watermark" : "", r->run.nsplit + 1, r->run.nsplit ? "s" : "");
    if (r->run.nsplit) {
        err = run_workers(r, &max, &rows, errstr, sz);
    } else {
        co->run = &r->run;
        co->w = r->run.w;
        co->read_batch = r->task.read_batch;
        int64_t seq0 = co->seq;
        if (!(co->rec = sl_record_new()))
            return SL_ERR_NOMEM;
        err = app_dwork_copy(co, errstr, sz);
        r->committed += co->seq - seq0;
        app_dprog_set(&max, co->prog.max);
        rows = co->prog.rows;
    }
    if (err)
        goto out;
    /* the run is complete: the next one reads from min(max, cap) */
    const char *next = r->run.w;
    if (max)
        next = r->run.cap && app_direct_diff_cmp(&r->tab, max, r->run.cap) > 0 ? r->run.cap
                                                                                 : max;
    dprog_t fin = {.done = 1, .run = r->run.run, .rows = rows};
    app_dprog_set(&fin.w, next);
    if (!(j = app_dprog_json(&fin, r->tab.nkey)))
        err = SL_ERR_NOMEM;
    else
        err = app_dwork_write(co, NULL, j, errstr, sz);
    if (!err)
        sl_info("direct task %s: run complete, %" PRId64 " rows written%s%s", r->task.name,
                rows, fin.w ? "; next watermark " : "", fin.w ? fin.w : "");
    app_dprog_clear(&fin);
out:
    free(j);
    free(max);
    return err;
}

/* Opens the target and the source, reads the table and the progress. */
static sl_err_t session(drun_t *r, char *errstr, size_t sz)
{
    dwork_t *co = &r->coord;
    *co = (dwork_t){.ops = r->ops, .tab = NULL, .map = &r->map, .name = r->task.name,
                    .m_rows = r->m_rows, .m_chunks = r->m_chunks};
    app_dprog_clear(&r->run);
    sl_err_t err = app_dsrc_open(&co->src, r->c->direct_source_uri, errstr, sz);
    if (err)
        return err;
    if (strcmp(app_dsrc_engine(co->src), app_dtask_engine(r->task.from_type))) {
        snprintf(errstr, sz, "direct task %s: from_db_type is %s but direct.source.uri is a "
                 "%s URI", r->task.name, r->task.from_type, app_dsrc_engine(co->src));
        return SL_ERR_INVALID;
    }
    if ((err = app_dsrc_describe(co->src, r->task.from_db, r->task.from_table,
                                 r->task.split_pk, r->task.diff_column, &r->tab, errstr, sz)))
        return err;
    co->tab = &r->tab;
    const sl_schema_t *sc = &r->tab.schema->u.schema;
    r->map = (app_table_map_t){.src_db = sc->db, .src_table = sc->table,
                               .dst_schema = r->task.to_db, .dst_table = r->task.to_table,
                               .ncols = sc->ncols, .schema = sc, .offset = -1};
    if (!(r->map.dst_cols = malloc((sc->ncols ? sc->ncols : 1) * sizeof(char *))))
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < sc->ncols; i++)
        r->map.dst_cols[i] = sc->cols[i].name;
    if ((err = app_dwork_open(co, &r->tconf, -1, errstr, sz)))
        return err;
    /* the run's fields move from the row to r->run; the worker's stay */
    dprog_t *p = &co->prog;
    int fresh = !p->run;
    r->run.done = p->done;
    r->run.run = p->run;
    r->run.w = p->w;
    r->run.cap = p->cap;
    r->run.nsplit = p->nsplit;
    memcpy(r->run.split, p->split, sizeof p->split);
    p->w = p->cap = NULL;
    memset(p->split, 0, sizeof p->split);
    p->nsplit = 0;
    if (r->run.done) {
        if (r->tab.diff < 0) {
            sl_info("direct task %s: the copy of %s.%s is complete (delete the task's rows in "
                    "%s to copy again)", r->task.name, r->task.from_db, r->task.from_table,
                    APP_DIRECT_TABLE);
            return SL_OK;
        }
        fresh = 1;      /* a new diff run from the stored watermark */
    }
    if (fresh) {
        char *w = r->run.w;
        int64_t run = r->run.run;
        r->run.w = NULL;
        app_dprog_clear(&r->run);
        app_dprog_clear(p);
        r->run.w = w;
        r->run.run = run + 1;
    }
    return run_once(r, fresh, errstr, sz);
}

static void session_end(drun_t *r)
{
    app_dwork_close(&r->coord);
    app_dprog_clear(&r->run);
    free(r->map.dst_cols);
    r->map.dst_cols = NULL;
    sl_record_destroy(r->tab.schema);
    r->tab.schema = NULL;
}

/* The leaser's state changes: /health says standby / target_down. */
static void on_state(void *arg, const char *state, const char *reason)
{
    drun_t *r = arg;
    sl_http_set_status(r->svc->http, state, reason);
}

static int exit_code(sl_err_t err)
{
    return err == SL_ERR_DENIED ? SL_EXIT_DENIED
         : err == SL_ERR_INVALID || err == SL_ERR_UNSUPPORTED || err == SL_ERR_NOT_FOUND
           ? SL_EXIT_USAGE : SL_EXIT_FAILURE;
}

int app_direct_run(const app_conf_t *c, sl_service_t *svc)
{
    char errstr[1024], e2[512];
    drun_t r = {.c = c, .svc = svc};
    int code = SL_EXIT_FAILURE;
    app_leaser_t *leaser = NULL;
    sl_err_t err = app_dtask_load(&r.task, c, errstr, sizeof errstr);
    if (err) {
        sl_error("%s", errstr);
        return exit_code(err);
    }
    if (!r.task.online) {
        sl_info("direct task %s is offline (online_status = 0): nothing to do", r.task.name);
        app_dtask_free(&r.task);
        return SL_EXIT_OK;
    }
    const char *to = app_dtask_engine(r.task.to_type);
    r.ops = !strcmp(to, "postgresql") ? &app_target_pg : &app_target_mysql;
    if (strcmp(app_target_types[c->target_type], to)) {
        sl_error("direct task %s: to_db_type is %s but target.type is %s", r.task.name,
                 r.task.to_type, app_target_types[c->target_type]);
        app_dtask_free(&r.task);
        return SL_EXIT_USAGE;
    }
    r.tconf = app_target_conf_of(c);
    r.tconf.ddl_apply = APP_DDL_ADDITIVE;   /* a copy never drops what the target holds */
    r.tconf.write_batch = (int)r.task.write_batch;
    const char *lab[] = {"task", c->task_name, NULL};
    r.m_rows = sl_metrics_counter(svc->metrics, "shiftlog_direct_rows_total",
                                  "Rows a direct task wrote to the target.", lab);
    r.m_chunks = sl_metrics_counter(svc->metrics, "shiftlog_direct_chunks_total",
                                    "Chunks (target transactions) a direct task committed.",
                                    lab);
    if (!(leaser = app_leaser_new(r.ops, &r.tconf, c, svc->metrics, on_state, &r))) {
        sl_error("out of memory");
        goto out;
    }
    (void)app_dtask_status(c, "running", e2, sizeof e2);
    int64_t wait_ms = 200, seq_before = -1;
    int fails = 0;
    for (;;) {
        int lc = app_leaser_acquire(leaser);
        if (lc) {
            code = lc < 0 ? SL_EXIT_OK : lc;
            break;
        }
        err = session(&r, errstr, sizeof errstr);
        session_end(&r);
        if (err == SL_ERR_STATE && sl_service_stopping()) {
            code = SL_EXIT_OK;
            break;
        }
        if (err == SL_ERR_FENCED) {
            app_leaser_fenced(leaser, errstr);
            continue;
        }
        if (err == SL_ERR_DB || err == SL_ERR_IO || err == SL_ERR_TIMEOUT) {
            /* a server that refuses the same statement again and again (a key too
             * long for the target, say) is no outage: stop after max.errors tries
             * without a chunk committed in between */
            fails = r.committed == seq_before ? fails + 1 : 1;
            seq_before = r.committed;
            if (fails > c->max_errors) {
                sl_error("direct task %s: %s (%d tries in a row without progress; stopping)",
                         r.task.name, errstr, fails);
                (void)app_dtask_status(c, "failed", e2, sizeof e2);
                code = SL_EXIT_FAILURE;
                break;
            }
            sl_warn("direct task %s: %s; retrying in %" PRId64 " ms", r.task.name, errstr,
                    wait_ms);
            if (sl_service_wait((int)wait_ms) || sl_service_stopping()) {
                code = SL_EXIT_OK;
                break;
            }
            wait_ms = wait_ms * 2 > c->retry_max_ms ? c->retry_max_ms : wait_ms * 2;
            continue;
        }
        if (err) {
            sl_error("%s", errstr);
            (void)app_dtask_status(c, "failed", e2, sizeof e2);
            code = exit_code(err);
            break;
        }
        wait_ms = 200;
        fails = 0;
        if (c->direct_interval_ms <= 0) {
            (void)app_dtask_status(c, "done", e2, sizeof e2);
            code = SL_EXIT_OK;
            break;
        }
        /* diff sync: the next run after direct.interval.ms */
        if (sl_service_wait((int)c->direct_interval_ms) || sl_service_stopping()) {
            code = SL_EXIT_OK;
            break;
        }
    }
out:
    app_leaser_destroy(leaser);
    app_dtask_free(&r.task);
    return code;
}
