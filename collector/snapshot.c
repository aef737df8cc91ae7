/* shiftlog-collector: the snapshot engine (snapshot.h) — the chunk loop,
 * the window's key set, READ records at HIGH. What is queued and its
 * progress (text, status, log lines, metrics): snapshot_queue.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "snapshot_int.h"
#include "sl_avro.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_name.h"
#include "sl_service.h"

#define SNAP_SET_MIN 64
#define SNAP_RETRY_MAX 5        /* a chunk whose columns never match the stream's */

static int64_t snap_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ------------------------------------------------------------ key set */

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;        /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

static void set_clear(col_snap_t *s)
{
    for (size_t i = 0; i < s->set_cap; i++) {
        free(s->set[i]);
        s->set[i] = NULL;
    }
    s->set_n = 0;
}

static int set_has(const col_snap_t *s, const char *k, size_t n)
{
    if (!s->set_n)
        return 0;
    for (size_t i = hash_str(k, n) & (s->set_cap - 1);; i = (i + 1) & (s->set_cap - 1)) {
        if (!s->set[i])
            return 0;
        if (!strcmp(s->set[i], k))
            return 1;
    }
}

static sl_err_t set_add(col_snap_t *s, const char *k, size_t n)
{
    if ((s->set_n + 1) * 2 > s->set_cap) {
        size_t cap = s->set_cap ? s->set_cap * 2 : SNAP_SET_MIN;
        char **old = s->set, **nw = calloc(cap, sizeof(*nw));
        size_t oldcap = s->set_cap;
        if (!nw)
            return SL_ERR_NOMEM;
        s->set = nw;
        s->set_cap = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i]) {
                size_t j = hash_str(old[i], strlen(old[i])) & (cap - 1);
                while (nw[j])
                    j = (j + 1) & (cap - 1);
                nw[j] = old[i];
            }
        free(old);
    }
    size_t i = hash_str(k, n) & (s->set_cap - 1);
    for (; s->set[i]; i = (i + 1) & (s->set_cap - 1))
        if (!strcmp(s->set[i], k))
            return SL_OK;
    if (!(s->set[i] = strndup(k, n)))
        return SL_ERR_NOMEM;
    s->set_n++;
    return SL_OK;
}

/* The key of one row image as text: each key value's JSON form, US-separated.
 * cols[i]: the index of key column i in the image. 0, or -1 when a key value
 * is absent from the image (a MINIMAL before image). */
static int key_text(col_snap_t *s, const sl_value_t *img, const uint32_t *cols, uint32_t n)
{
    sl_buf_reset(&s->kb);
    for (uint32_t i = 0; i < n; i++) {
        const sl_value_t *v = &img[cols[i]];
        if (v->kind == SL_VAL_MISSING)
            return -1;
        if (sl_value_to_json(v, &s->kb) || sl_buf_putc(&s->kb, '\x1f'))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ lifecycle */

sl_err_t col_snap_new(col_snap_t **out, const col_conf_t *conf, const col_snap_src_t *src,
                      const col_snap_sink_t *sink, col_pub_t *pub, sl_metrics_t *metrics,
                      const char *progress, int first_start, char *errstr,
                      size_t errstr_size)
{
    sl_err_t err;
    col_snap_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->chunk = sl_record_new())) {
        free(s);
        if (src->destroy)
            src->destroy(src->ctx);
        snprintf(errstr, errstr_size, "snapshot: out of memory");
        return SL_ERR_NOMEM;
    }
    s->conf = conf;
    s->src = *src;
    s->sink = *sink;
    s->pub = pub;
    s->metrics = metrics;
    s->started_ms = sl_service_now_ms();
    s->seq = (uint64_t)snap_now_us();
    if (metrics) {
        s->m_rows = sl_metrics_counter(metrics, "shiftlog_collector_snapshot_rows_total",
                                       "Snapshot rows published (op READ).", NULL);
        s->m_chunks = sl_metrics_counter(metrics, "shiftlog_collector_snapshot_chunks_total",
                                         "Snapshot chunks published.", NULL);
        s->m_dropped = sl_metrics_counter(
            metrics, "shiftlog_collector_snapshot_chunks_reread_total",
            "Snapshot chunks read again (a DDL or TRUNCATE of the table during the chunk's "
            "window).", NULL);
        s->m_pending = sl_metrics_gauge(metrics, "shiftlog_collector_snapshot_tables_pending",
                                        "Tables whose snapshot is not finished.", NULL);
        s->m_skipped = sl_metrics_counter(
            metrics, "shiftlog_collector_snapshot_tables_skipped_total",
            "Tables left out of a snapshot (no primary key and no unique key of NOT NULL "
            "columns, or changes the stream refuses); the log names each and why.", NULL);
    }
    if (progress && *progress) {
        if ((err = col_snapq_progress_parse(s, progress, errstr, errstr_size)))
            goto fail;
        s->initial = 1;               /* a snapshot under way: done (initial_only) when it ends */
        sl_info("snapshot: resuming, %zu table(s) left, %s.%s from %s", s->qn,
                s->q[0].db, s->q[0].table, s->after ? "its last chunk read" : "its first row");
    } else if (first_start && conf->snapshot_mode != COL_SNAP_NEVER) {
        if (!src->tables) {
            snprintf(errstr, errstr_size, "snapshot: this source kind cannot list its tables");
            err = SL_ERR_UNSUPPORTED;
            goto fail;
        }
        if ((err = src->tables(src->ctx, col_snapq_add_table, s, errstr, errstr_size)))
            goto fail;
        s->initial = 1;
        sl_info("snapshot: initial snapshot of %zu table(s), %" PRId64 " rows per chunk",
                s->qn, conf->snapshot_chunk_rows);
    }
    sl_metric_set(s->m_pending, (double)s->qn);
    col_snapq_publish(s);
    *out = s;
    return SL_OK;
fail:
    col_snap_destroy(s);
    return err;
}

void col_snap_destroy(col_snap_t *s)
{
    if (!s)
        return;
    if (s->src.destroy)
        s->src.destroy(s->src.ctx);
    col_snapq_clear(s);
    free(s->last);
    set_clear(s);
    free(s->set);
    sl_buf_free(&s->kb);
    sl_buf_free(&s->progress);
    sl_record_destroy(s->chunk);
    free(s);
}

sl_err_t col_snap_request(col_snap_t *s, const char *db, const char *table)
{
    return col_snap_request_range(s, NULL, db, table, NULL, NULL);
}

sl_err_t col_snap_request_range(col_snap_t *s, const char *id, const char *db,
                                const char *table, const char *lo, const char *hi)
{
    size_t before = s->qn;
    sl_err_t err = col_snapq_add(s, id, db, table, lo, hi, 1);
    if (err || s->qn == before)
        return err;
    if (lo || hi)
        sl_info("snapshot: %s.%s key range after %s upto %s queued (%zu before it)", db,
                table, lo ? lo : "the first", hi ? hi : "the last", before);
    else
        sl_info("snapshot: %s.%s queued (%zu table(s) before it)", db, table, before);
    return SL_OK;
}

sl_err_t col_snap_request_all(col_snap_t *s, char *errstr, size_t errstr_size)
{
    size_t before = s->qn;
    sl_err_t err = s->src.tables(s->src.ctx, col_snapq_add_table, s, errstr, errstr_size);
    if (!err)
        sl_info("snapshot: every included table queued (%zu new, %zu in all)", s->qn - before,
                s->qn);
    return err;
}

const char *col_snap_progress(col_snap_t *s)
{
    return col_snapq_progress_text(s);
}

int col_snap_waiting(const col_snap_t *s)
{
    return s->waiting;
}

int col_snap_busy(const col_snap_t *s)
{
    return s->waiting || s->qn;
}

int col_snap_done(const col_snap_t *s)
{
    return s->initial && !s->qn && !s->waiting;
}

/* ------------------------------------------------------------ the chunk loop */

static void drop_chunk(col_snap_t *s)
{
    s->waiting = 0;
    s->window = 0;
    s->spoiled = 0;
    free(s->last);
    s->last = NULL;
    set_clear(s);
    sl_record_reset(s->chunk);
}

/* Requests from the HTTP endpoint: each as an 'S' mark in the source's log
 * (col_snap_req_mark). The stream queues the copy when it meets it. */
static sl_err_t take_requests(col_snap_t *s, char *errstr, size_t errstr_size)
{
    col_snap_req_t req;
    sl_buf_t b = SL_BUF_INIT;
    sl_err_t err = SL_OK;
    while (!err && col_snap_http_take(&req)) {
        sl_buf_reset(&b);
        if (col_snap_req_mark(&b, &req) || !b.data)
            err = SL_ERR_NOMEM;
        else
            err = s->src.watermark(s->src.ctx, 'S', b.data, errstr, errstr_size);
        if (err) {
            col_snap_http_untake(&req);   /* written at the next try, not lost */
            break;
        }
        sl_info("snapshot: request %s for %s%s written to the source's log", req.id,
                req.name, req.after || req.upto ? " (a key range)" : "");
        col_snapq_written(s, req.id, 0);
        col_snapq_publish(s);
        col_snap_req_free(&req);
    }
    sl_buf_free(&b);
    return err;
}

sl_err_t col_snap_step(col_snap_t *s, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    char why[512];
    if ((err = take_requests(s, errstr, errstr_size)))
        return err;
    while (!s->waiting && s->qn) {
        const snap_table_t *t = &s->q[0];
        col_snap_key_t lo = {0}, hi = {0};
        col_snapq_start(s);
        snprintf(s->id, sizeof(s->id), "%d-%" PRIu64, (int)getpid(), ++s->seq);
        int64_t t0 = snap_now_us();
        if ((err = s->src.watermark(s->src.ctx, 'L', s->id, errstr, errstr_size)))
            return err;
        int64_t t1 = snap_now_us();
        sl_record_reset(s->chunk);
        free(s->last);
        s->last = NULL;
        s->nkey = 0;
        /* the bounds were checked when queued: parsed again per chunk */
        if ((t->lo && col_snap_key_parse(t->lo, &lo, why, sizeof(why))) ||
            (t->hi && col_snap_key_parse(t->hi, &hi, why, sizeof(why))))
            err = SL_ERR_INVALID;
        else
            err = s->src.read_chunk(s->src.ctx, t->db, t->table, s->after,
                                    t->lo ? &lo : NULL, t->hi ? &hi : NULL,
                                    (uint32_t)s->conf->snapshot_chunk_rows, s->chunk, s->key,
                                    &s->nkey, &s->last, why, sizeof(why));
        col_snap_key_free(&lo);
        col_snap_key_free(&hi);
        if (err == SL_ERR_NOT_FOUND || err == SL_ERR_UNSUPPORTED ||
            (err == SL_ERR_INVALID && !s->after && (t->lo || t->hi))) {
            /* gone, no key, or a range that does not fit the key: this entry ends */
            if (err == SL_ERR_UNSUPPORTED)
                col_snapq_skip(s, t->db, t->table, why);
            else
                sl_warn("snapshot: %s.%s %s: %s", t->db, t->table,
                        err == SL_ERR_INVALID ? "key range refused" : "left out", why);
            s->id[0] = '\0';          /* its LOW is nobody's now */
            col_snapq_pop(s, err == SL_ERR_NOT_FOUND ? "gone" : "refused", why);
            if (s->pub)
                col_pub_set_progress(s->pub, col_snapq_progress_text(s));
            col_snapq_publish(s);
            continue;
        }
        if (err) {
            snprintf(errstr, errstr_size, "snapshot of %s.%s: %s", t->db, t->table, why);
            return err;
        }
        if (s->chunk->type != SL_REC_CHANGE || s->chunk->u.change.op != SL_OP_READ ||
            !s->nkey || s->nkey > COL_SNAP_MAX_KEY) {
            snprintf(errstr, errstr_size, "snapshot of %s.%s: the source read no READ chunk "
                     "with a key (a bug)", t->db, t->table);
            return SL_ERR_FATAL;
        }
        s->table_end = s->chunk->u.change.nrows < (uint32_t)s->conf->snapshot_chunk_rows;
        int64_t t2 = snap_now_us();
        if ((err = s->src.watermark(s->src.ctx, 'H', s->id, errstr, errstr_size)))
            return err;
        s->high_us = snap_now_us();
        sl_debug("snapshot: chunk %s: LOW %.1f ms, read %.1f ms, HIGH %.1f ms", s->id,
                 (double)(t1 - t0) / 1e3, (double)(t2 - t1) / 1e3,
                 (double)(s->high_us - t2) / 1e3);
        s->waiting = 1;
        s->window = 0;
        s->spoiled = 0;
        set_clear(s);
    }
    return SL_OK;
}

/* The index of column `name` in c, or -1. */
static int col_index(const sl_change_t *c, const char *name)
{
    for (uint32_t i = 0; i < c->ncols; i++)
        if (!strcmp(c->columns[i], name))
            return (int)i;
    return -1;
}

void col_snap_observe(col_snap_t *s, const sl_record_t *rec)
{
    if (!s || !s->window || s->spoiled)
        return;
    const snap_table_t *t = &s->q[0];
    const char *db = rec->type == SL_REC_CHANGE ? rec->u.change.db
                   : rec->type == SL_REC_SCHEMA ? rec->u.schema.db : NULL;
    const char *table = rec->type == SL_REC_CHANGE ? rec->u.change.table
                      : rec->type == SL_REC_SCHEMA ? rec->u.schema.table : NULL;
    if (!db || strcmp(db, t->db) || strcmp(table, t->table))
        return;
    if (rec->type == SL_REC_SCHEMA || rec->u.change.op == SL_OP_TRUNCATE) {
        s->spoiled = 1;               /* every row may differ: read the chunk again */
        return;
    }
    const sl_change_t *c = &rec->u.change, *k = &s->chunk->u.change;
    uint32_t cols[COL_SNAP_MAX_KEY];
    for (uint32_t i = 0; i < s->nkey; i++) {
        int j = col_index(c, k->columns[s->key[i]]);
        if (j < 0) {
            s->spoiled = 1;
            return;
        }
        cols[i] = (uint32_t)j;
    }
    for (uint32_t r = 0; r < c->nrows; r++) {
        const sl_value_t *img[2] = {c->rows[r].before, c->rows[r].after};
        for (int m = 0; m < 2; m++) {
            if (!img[m])
                continue;
            if (key_text(s, img[m], cols, s->nkey) ||
                set_add(s, s->kb.data, s->kb.len)) {
                s->spoiled = 1;       /* no key to go by (or no memory): read again */
                return;
            }
        }
    }
}

/* Publishes the chunk's rows left (not changed in the window) at pos,
 * pos.row = 0, 1, ... in batches of batch.max.rows / batch.max.bytes. */
static sl_err_t emit(col_snap_t *s, const sl_pos_t *pos, const char *txn, int64_t time_us,
                     uint64_t schema_id, uint64_t *nout, char *errstr, size_t errstr_size)
{
    sl_change_t *c = &s->chunk->u.change;
    uint32_t kept = 0;
    for (uint32_t r = 0; r < c->nrows; r++) {
        if (s->set_n &&               /* most windows see no change of the table */
            key_text(s, c->rows[r].after, s->key, s->nkey) == 0 &&
            set_has(s, s->kb.data, s->kb.len))
            continue;                 /* the stream's change of this key wins */
        c->rows[kept++] = c->rows[r];
    }
    c->nrows = kept;
    c->txn = txn;
    c->event_time_us = time_us;
    c->schema_id = schema_id;
    s->chunk->source = s->conf->source_name;
    size_t head = sl_avro_rows_size(c, 0, 0);
    sl_record_t b = *s->chunk;
    uint32_t first = 0;
    while (first < kept) {
        uint32_t n = 0;
        size_t bytes = head + 128;
        while (first + n < kept && n < (uint32_t)s->conf->batch_max_rows) {
            size_t rb = sl_avro_rows_size(c, first + n, 1);
            if (n && bytes + rb > (size_t)s->conf->batch_max_bytes)
                break;
            bytes += rb;
            n++;
        }
        b.u.change.rows = c->rows + first;
        b.u.change.nrows = n;
        b.pos = *pos;
        b.pos.row = first;
        sl_err_t err = s->sink.put(s->sink.ctx, &b, errstr, errstr_size);
        if (err)
            return err;
        first += n;
    }
    *nout = kept;
    return SL_OK;
}

static int same_columns(const sl_change_t *c, const char *const *names, uint32_t n)
{
    if (c->ncols != n)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(c->columns[i], names[i]))
            return 0;
    return 1;
}

/* An 'S' mark met in the stream: "[<id>[+<after>+<upto>] ]<db.table>". */
static sl_err_t on_request(col_snap_t *s, const char *text)
{
    char db[256], table[256], why[512];
    const char *sp = strchr(text, ' '), *name = sp ? sp + 1 : text;
    char *id = NULL, *lo = NULL, *hi = NULL;
    col_snap_key_t k;
    sl_err_t err = SL_ERR_NOMEM;
    if (sp) {
        const char *p1 = memchr(text, '+', (size_t)(sp - text));
        const char *p2 = p1 ? memchr(p1 + 1, '+', (size_t)(sp - p1 - 1)) : NULL;
        if (!(id = strndup(text, (size_t)((p1 ? p1 : sp) - text))))
            goto out;
        if (p2 && p2 > p1 + 1 && !(lo = col_snap_mark_get(p1 + 1, (size_t)(p2 - p1 - 1))))
            goto out;
        if (p2 && sp > p2 + 1 && !(hi = col_snap_mark_get(p2 + 1, (size_t)(sp - p2 - 1))))
            goto out;
        col_snapq_written(s, id, 1);
    }
    err = SL_OK;
    if (sl_name_parse(name, db, sizeof(db), table, sizeof(table))) {
        sl_warn("snapshot: a request for \"%s\" ignored: not a db.table name", name);
        col_snapq_end(s, id, name, NULL, NULL, "refused", "not a db.table name", 0);
        goto out;
    }
    for (int b = 0; b < 2; b++) {
        const char *json = b ? hi : lo;
        if (json && col_snap_key_parse(json, &k, why, sizeof(why))) {
            sl_warn("snapshot: a request for %s ignored: %s", name, why);
            col_snapq_end(s, id, name, lo, hi, "refused", why, 0);
            goto out;
        }
        if (json)
            col_snap_key_free(&k);
    }
    if ((err = col_snap_request_range(s, id, db, table, lo, hi)))
        goto out;
    if (s->pub)
        col_pub_set_progress(s->pub, col_snapq_progress_text(s));
out:
    col_snapq_publish(s);
    free(id);
    free(lo);
    free(hi);
    return err;
}

/* HIGH of the chunk in flight: publish what is left of it, move on. */
static sl_err_t on_high(col_snap_t *s, const sl_pos_t *pos, const char *txn, int64_t time_us,
                        char *errstr, size_t errstr_size)
{
    sl_err_t err;
    const snap_table_t *t = &s->q[0];
    uint64_t schema_id = 0, n = 0;
    const char *const *names = NULL;
    uint32_t ncols = 0;
    char why[512];
    if (!s->window || s->spoiled) {
        sl_debug("snapshot: chunk %s of %s.%s read again (%s)", s->id, t->db, t->table,
                 s->window ? "the table changed shape in its window" : "no LOW watermark");
        sl_metric_inc(s->m_dropped);
        drop_chunk(s);
        return SL_OK;
    }
    err = s->sink.schema(s->sink.ctx, t->db, t->table, &schema_id, &names, &ncols, why,
                         sizeof(why));
    if (err == SL_ERR_NOT_FOUND) {
        sl_warn("snapshot: %s.%s is gone; its snapshot ends", t->db, t->table);
        drop_chunk(s);
        col_snapq_pop(s, "gone", "the table is gone");
        if (s->pub)
            col_pub_set_progress(s->pub, col_snapq_progress_text(s));
        col_snapq_publish(s);
        return SL_OK;
    }
    if (err) {
        snprintf(errstr, errstr_size, "snapshot of %s.%s: %s", t->db, t->table, why);
        return err;
    }
    if (!same_columns(&s->chunk->u.change, names, ncols)) {
        if (++s->retries > SNAP_RETRY_MAX) {
            snprintf(errstr, errstr_size, "snapshot of %s.%s: the columns read (%u) are not "
                     "the stream's schema (%u columns) after %d tries", t->db, t->table,
                     s->chunk->u.change.ncols, ncols, SNAP_RETRY_MAX);
            return SL_ERR_FATAL;
        }
        sl_metric_inc(s->m_dropped);
        drop_chunk(s);
        return SL_OK;
    }
    s->retries = 0;
    int64_t t0 = snap_now_us();
    if ((err = emit(s, pos, txn, time_us, schema_id, &n, errstr, errstr_size)))
        return err;
    sl_debug("snapshot: chunk %s: HIGH met %.1f ms after written, published in %.1f ms", s->id,
             (double)(t0 - s->high_us) / 1e3, (double)(snap_now_us() - t0) / 1e3);
    col_snapq_chunk(s, n);
    /* the continuation moves only now: a chunk read but not published is read again */
    if (s->table_end) {
        s->tables_done++;
        col_snapq_log(s, 1);
        col_snapq_pop(s, "done", NULL);
    } else {
        free(s->after);
        s->after = s->last;
        s->last = NULL;
        col_snapq_log(s, 0);
    }
    if (s->pub)
        col_pub_set_progress(s->pub, col_snapq_progress_text(s));
    col_snapq_publish(s);
    if (!s->qn && s->initial)
        sl_info("snapshot: finished, %" PRIu64 " rows of %" PRIu64 " table(s) in %.1f s",
                s->rows_total, s->tables_done,
                (double)(sl_service_now_ms() - s->started_ms) / 1000.0);
    drop_chunk(s);
    return SL_OK;
}

sl_err_t col_snap_watermark(col_snap_t *s, char kind, const char *id, const sl_pos_t *pos,
                            const char *txn, int64_t time_us, char *errstr,
                            size_t errstr_size)
{
    if (kind == 'S')
        return on_request(s, id);
    if (!s->waiting || strcmp(id, s->id))
        return SL_OK;                  /* an earlier session's chunk */
    if (kind == 'L') {
        s->window = 1;
        set_clear(s);
        return SL_OK;
    }
    if (kind == 'H')
        return on_high(s, pos, txn, time_us, errstr, errstr_size);
    return SL_OK;
}

/* ------------------------------------------------------------ marks */

void col_snap_format_mark(char *buf, size_t size, const char *source, char kind,
                          const char *id)
{
    snprintf(buf, size, "%s:%c:%s", source, kind, id);
}

int col_snap_parse_mark(const char *text, size_t len, const char *source, char *kind,
                        char *id, size_t id_size)
{
    size_t sl = strlen(source);
    if (len < sl + 3 || memcmp(text, source, sl) || text[sl] != ':' || text[sl + 2] != ':')
        return 0;
    char k = text[sl + 1];
    if (k != 'L' && k != 'H' && k != 'S')
        return 0;
    size_t n = len - sl - 3;
    if (n >= id_size)
        return 0;
    memcpy(id, text + sl + 3, n);
    id[n] = '\0';
    *kind = k;
    return 1;
}
