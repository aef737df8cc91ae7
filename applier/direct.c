/* shiftlog-applier: the run of a direct task (direct.h, docs/direct.md).
 *
 * One run reads the source table in keyset chunks and writes each chunk in
 * one target transaction with the task's progress and the kafkaoffset row
 * (topic "direct", offset = the chunk's sequence number), so a kill -9
 * leaves the target at a chunk boundary that the progress names: the next
 * start goes on after it (rows are upserts of whole rows, so a chunk read
 * again after a failed commit is written again, never twice).
 *
 * The progress text (JSON): {"done": bool, "w": the diff watermark this run
 * reads from (null: all rows), "max": the largest diff value read so far,
 * "cap": the source clock at the run's start - diff.lag.ms, "key": the last
 * key read (texts, hex-encoded), "rows": rows written by this run}. A run
 * that ends stores done = true and w = the next run's watermark:
 * min(max, cap) — `>=` re-reads the rows that share the boundary value, and
 * the cap keeps a row whose transaction committed after the run read past
 * its key (with an older diff value than rows read later) at or past the
 * next watermark, as long as diff.lag.ms exceeds the longest writing
 * transaction. An integer diff column has no clock: w = max. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "direct.h"
#include "sl_log.h"

#define DIRECT_TOPIC "direct"

typedef struct drun_s {
    const app_conf_t       *c;
    sl_service_t           *svc;
    app_dtask_t             task;
    const app_target_ops_t *ops;
    app_target_conf_t       tconf;
    app_target_t           *t;
    app_dsrc_t             *src;
    app_dtable_t            tab;
    app_table_map_t         map;
    sl_record_t            *rec;
    int64_t                 seq;          /* the last chunk's sequence number */
    /* progress */
    int                     done;
    char                   *w, *max, *cap;
    char                   *key[APP_DIRECT_MAX_KEY];
    int                     has_key;
    int64_t                 rows;
    sl_metric_t            *m_rows, *m_chunks;
} drun_t;

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? strdup(v) : NULL;
}

static void progress_clear(drun_t *r)
{
    set_str(&r->w, NULL);
    set_str(&r->max, NULL);
    set_str(&r->cap, NULL);
    for (int i = 0; i < APP_DIRECT_MAX_KEY; i++)
        set_str(&r->key[i], NULL);
    r->has_key = 0;
    r->done = 0;
    r->rows = 0;
}

static void put_hex(bson_t *b, const char *k, const char *v)
{
    static const char hx[] = "0123456789abcdef";
    size_t n = strlen(v);
    char *h = malloc(2 * n + 1);
    if (!h)
        return;
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = hx[(unsigned char)v[i] >> 4];
        h[2 * i + 1] = hx[(unsigned char)v[i] & 15];
    }
    h[2 * n] = '\0';
    BSON_APPEND_UTF8(b, k, h);
    free(h);
}

static char *unhex(const char *h)
{
    size_t n = strlen(h) / 2;
    char *v = malloc(n + 1);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned x = 0;
        sscanf(h + 2 * i, "%2x", &x);
        v[i] = (char)x;
    }
    v[n] = '\0';
    return v;
}

static void put_opt(bson_t *b, const char *k, const char *v)
{
    if (v)
        BSON_APPEND_UTF8(b, k, v);
    else
        BSON_APPEND_NULL(b, k);
}

/* The progress as JSON (malloc'd, the caller frees with bson_free). */
static char *progress_json(const drun_t *r)
{
    bson_t b = BSON_INITIALIZER, arr;
    BSON_APPEND_BOOL(&b, "done", r->done);
    put_opt(&b, "w", r->w);
    put_opt(&b, "max", r->max);
    put_opt(&b, "cap", r->cap);
    if (r->has_key) {
        char k[16];
        BSON_APPEND_ARRAY_BEGIN(&b, "key", &arr);
        for (uint32_t i = 0; i < r->tab.nkey; i++) {
            snprintf(k, sizeof k, "%u", i);
            put_hex(&arr, k, r->key[i] ? r->key[i] : "");
        }
        bson_append_array_end(&b, &arr);
    }
    BSON_APPEND_INT64(&b, "rows", r->rows);
    char *j = bson_as_relaxed_extended_json(&b, NULL);
    bson_destroy(&b);
    return j;
}

static const char *opt_utf8(const bson_t *b, const char *k)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, b, k) && BSON_ITER_HOLDS_UTF8(&it)
           ? bson_iter_utf8(&it, NULL) : NULL;
}

static sl_err_t progress_parse(drun_t *r, const char *text, char *errstr, size_t sz)
{
    bson_t b;
    bson_error_t e;
    bson_iter_t it, ai;
    progress_clear(r);
    if (!bson_init_from_json(&b, text, -1, &e)) {
        snprintf(errstr, sz, "direct task %s: its progress in %s is not JSON (%s)",
                 r->task.name, APP_DIRECT_TABLE, e.message);
        return SL_ERR_FATAL;
    }
    r->done = bson_iter_init_find(&it, &b, "done") && bson_iter_as_bool(&it);
    set_str(&r->w, opt_utf8(&b, "w"));
    set_str(&r->max, opt_utf8(&b, "max"));
    set_str(&r->cap, opt_utf8(&b, "cap"));
    r->rows = bson_iter_init_find(&it, &b, "rows") ? bson_iter_as_int64(&it) : 0;
    if (bson_iter_init_find(&it, &b, "key") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &ai)) {
        uint32_t i = 0;
        while (bson_iter_next(&ai) && i < APP_DIRECT_MAX_KEY)
            if (BSON_ITER_HOLDS_UTF8(&ai))
                r->key[i++] = unhex(bson_iter_utf8(&ai, NULL));
        r->has_key = i == r->tab.nkey;
        if (!r->has_key && i) {
            snprintf(errstr, sz, "direct task %s: its progress holds a key of %u columns, "
                     "the table's keyset has %u (split.pk changed mid-copy: delete its row "
                     "in %s to start over)", r->task.name, i, r->tab.nkey, APP_DIRECT_TABLE);
            bson_destroy(&b);
            return SL_ERR_FATAL;
        }
    }
    bson_destroy(&b);
    return SL_OK;
}

/* One target transaction: the chunk in r->rec (NULL: none), the progress,
 * the position. */
static sl_err_t write_chunk(drun_t *r, int with_schema, char *errstr, size_t sz)
{
    app_position_t pos = {.partition = 0, .kafka_offset = r->seq + 1, .sub_offset = -1};
    snprintf(pos.topic, sizeof pos.topic, "%s", DIRECT_TOPIC);
    sl_err_t err = r->ops->begin(r->t, errstr, sz);
    char *j = NULL;
    if (err)
        return err;
    if (with_schema && (err = r->ops->schema(r->t, &r->map, r->tab.schema, errstr, sz)))
        goto fail;
    uint32_t n = r->rec ? r->rec->u.change.nrows : 0;
    if (n && (err = r->ops->rows(r->t, &r->map, r->rec, 0, n, &pos, errstr, sz)))
        goto fail;
    if (!(j = progress_json(r))) {
        err = SL_ERR_NOMEM;
        goto fail;
    }
    if ((err = r->ops->progress_save(r->t, j, errstr, sz)) ||
        (err = r->ops->commit(r->t, &pos, errstr, sz)))
        goto fail;
    bson_free(j);
    r->seq++;
    return SL_OK;
fail:
    bson_free(j);
    {
        char e2[256];
        (void)r->ops->rollback(r->t, e2, sizeof e2);
    }
    return err;
}

/* One run (or the rest of one after a restart). */
static sl_err_t run_once(drun_t *r, char *errstr, size_t sz)
{
    sl_err_t err;
    char *j = NULL;
    int schema_done = 0;
    if (r->done) {
        if (r->tab.diff < 0) {
            sl_info("direct task %s: the copy of %s.%s is complete (delete the task's row in "
                    "%s to copy again)", r->task.name, r->task.from_db, r->task.from_table,
                    APP_DIRECT_TABLE);
            return SL_OK;
        }
        /* a new diff run from the stored watermark */
        char *w = r->w;
        r->w = NULL;
        progress_clear(r);
        r->w = w;
    }
    if (r->tab.diff >= 0 && r->tab.diff_temporal && !r->cap &&
        (err = app_dsrc_clock(r->src, &r->tab, r->task.diff_lag_ms, &r->cap, errstr, sz)))
        return err;
    sl_info("direct task %s: %s %s.%s -> %s %s.%s %s%s%s", r->task.name,
            app_dsrc_engine(r->src), r->task.from_db, r->task.from_table, r->ops->name,
            r->task.to_db, r->task.to_table, r->has_key ? "resuming after the last chunk"
            : r->w ? "rows with " : "full copy", r->w ? r->task.diff_column : "",
            r->w ? " >= watermark" : "");
    for (;;) {
        if (sl_service_stopping())
            return SL_ERR_STATE;
        err = app_dsrc_chunk(r->src, &r->tab, r->has_key ? r->key : NULL, r->w,
                             (uint32_t)r->task.read_batch, r->rec, r->key, &r->max, errstr,
                             sz);
        if (err)
            return err;
        uint32_t n = r->rec->u.change.nrows;
        if (n == 0)
            break;
        r->has_key = 1;
        r->rows += n;
        if ((err = write_chunk(r, !schema_done, errstr, sz)))
            return err;
        schema_done = 1;
        sl_metric_add(r->m_rows, n);
        sl_metric_inc(r->m_chunks);
        sl_service_beat();
        if (n < (uint32_t)r->task.read_batch)
            break;
    }
    /* the run is complete: the next one reads from min(max, cap) */
    const char *next = r->w;
    if (r->max)
        next = r->cap && app_direct_diff_cmp(&r->tab, r->max, r->cap) > 0 ? r->cap : r->max;
    char *nw = next ? strdup(next) : NULL;
    int64_t rows = r->rows;
    progress_clear(r);
    r->w = nw;
    r->done = 1;
    r->rows = rows;
    sl_record_reset(r->rec);
    r->rec->u.change.nrows = 0;
    sl_record_t *keep = r->rec;
    r->rec = NULL;
    err = write_chunk(r, !schema_done, errstr, sz);
    r->rec = keep;
    if (!err)
        sl_info("direct task %s: run complete, %" PRId64 " rows written%s%s", r->task.name,
                rows, r->w ? "; next watermark " : "", r->w ? r->w : "");
    bson_free(j);
    return err;
}

/* Opens the target and the source, reads the table and the progress. */
static sl_err_t session(drun_t *r, char *errstr, size_t sz)
{
    app_position_t pos;
    char *prog = NULL;
    sl_err_t err = r->ops->open(&r->t, &r->tconf, errstr, sz);
    if (err)
        return err;
    if ((err = r->ops->progress_load(r->t, &prog, errstr, sz)))
        return err;
    err = r->ops->load_position(r->t, DIRECT_TOPIC, 0, &pos, errstr, sz);
    if (err == SL_ERR_NOT_FOUND)
        r->seq = 0;
    else if (err)
        goto out;
    else
        r->seq = pos.kafka_offset;
    if ((err = app_dsrc_open(&r->src, r->c->direct_source_uri, errstr, sz)))
        goto out;
    if (strcmp(app_dsrc_engine(r->src), app_dtask_engine(r->task.from_type))) {
        snprintf(errstr, sz, "direct task %s: from_db_type is %s but direct.source.uri is a "
                 "%s URI", r->task.name, r->task.from_type, app_dsrc_engine(r->src));
        err = SL_ERR_INVALID;
        goto out;
    }
    if ((err = app_dsrc_describe(r->src, r->task.from_db, r->task.from_table,
                                 r->task.split_pk, r->task.diff_column, &r->tab, errstr, sz)))
        goto out;
    const sl_schema_t *sc = &r->tab.schema->u.schema;
    r->map = (app_table_map_t){.src_db = sc->db, .src_table = sc->table,
                               .dst_schema = r->task.to_db, .dst_table = r->task.to_table,
                               .ncols = sc->ncols, .schema = sc, .offset = -1};
    r->map.dst_cols = malloc((sc->ncols ? sc->ncols : 1) * sizeof(char *));
    if (!r->map.dst_cols) {
        err = SL_ERR_NOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < sc->ncols; i++)
        r->map.dst_cols[i] = sc->cols[i].name;
    if (prog)
        err = progress_parse(r, prog, errstr, sz);
    else
        progress_clear(r);
    if (!err)
        err = run_once(r, errstr, sz);
out:
    free(prog);
    return err;
}

static void session_end(drun_t *r)
{
    if (r->t)
        r->ops->close(r->t);
    r->t = NULL;
    app_dsrc_close(r->src);
    r->src = NULL;
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
    if (r.task.worker_num > 1)
        sl_warn("direct task %s: worker_num = %" PRId64 ": this version reads a direct task "
                "with one reader and one target connection", r.task.name, r.task.worker_num);
    r.tconf = (app_target_conf_t){
        .task = c->task_name, .host = c->target_host, .port = (int)c->target_port,
        .user = c->target_user, .password = c->target_password,
        .database = c->target_database, .tls_mode = c->target_tls, .tls_ca = c->target_tls_ca,
        .tls_cert = c->target_tls_cert, .tls_key = c->target_tls_key,
        .create_tables = c->create_tables, .ddl_apply = APP_DDL_ADDITIVE,
        .on_unconvertible = c->on_unconvertible, .write_batch = (int)r.task.write_batch};
    const char *lab[] = {"task", c->task_name, NULL};
    r.m_rows = sl_metrics_counter(svc->metrics, "shiftlog_direct_rows_total",
                                  "Rows a direct task wrote to the target.", lab);
    r.m_chunks = sl_metrics_counter(svc->metrics, "shiftlog_direct_chunks_total",
                                    "Chunks (target transactions) a direct task committed.",
                                    lab);
    if (!(r.rec = sl_record_new()) ||
        !(leaser = app_leaser_new(r.ops, &r.tconf, c, svc->metrics, on_state, &r))) {
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
            fails = r.seq == seq_before ? fails + 1 : 1;
            seq_before = r.seq;
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
    progress_clear(&r);
    sl_record_destroy(r.rec);
    app_dtask_free(&r.task);
    return code;
}
