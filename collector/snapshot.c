/* shiftlog-collector: the snapshot engine (snapshot.h) — the chunk loop,
 * the window's key set, READ records at HIGH, and the progress text.
 *
 * Progress text (kept with the checkpoint, parsed back at a restart):
 *   line 1  "shiftlog-snapshot 1"
 *   then    one line per table still to read, the current one first:
 *           db TAB table [TAB continuation]
 * with TAB, LF and backslash in a field written as \t, \n, \\. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "snapshot.h"
#include "sl_avro.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_name.h"
#include "sl_service.h"

#define SNAP_MAGIC "shiftlog-snapshot 1"
#define SNAP_SET_MIN 64
#define SNAP_RETRY_MAX 5        /* a chunk whose columns never match the stream's */

typedef struct snap_table_s {
    char *db;
    char *table;
} snap_table_t;

struct col_snap_s {
    const col_conf_t *conf;
    col_snap_src_t    src;
    col_snap_sink_t   sink;
    col_pub_t        *pub;
    int               initial;        /* the mode asked for a snapshot at this start */

    /* what is still to read; q[0] is the current table, after its continuation */
    snap_table_t     *q;
    size_t            qn, qcap;
    char             *after;

    /* the chunk in flight (waiting: read, its HIGH not met yet) */
    int               waiting;
    int               window;         /* its LOW met */
    int               spoiled;        /* a DDL / TRUNCATE of the table in the window */
    int               retries;
    char              id[64];
    uint64_t          seq;
    sl_record_t      *chunk;
    uint32_t          key[COL_SNAP_MAX_KEY];
    uint32_t          nkey;
    char             *last;           /* continuation after the chunk */
    int               table_end;      /* the chunk was the table's last */

    /* keys the stream changed in the window: open addressing of owned strings */
    char            **set;
    size_t            set_n, set_cap;
    sl_buf_t          kb;

    sl_buf_t          progress;
    int64_t           started_ms;
    uint64_t          rows_total, tables_done;
    uint64_t          table_rows;     /* published of the current table */
    int64_t           logged_ms;

    sl_metric_t      *m_rows, *m_chunks, *m_pending, *m_skipped, *m_dropped;
};

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

/* ------------------------------------------------------------ the queue */

static int queued(const col_snap_t *s, const char *db, const char *table)
{
    for (size_t i = 0; i < s->qn; i++)
        if (!strcmp(s->q[i].db, db) && !strcmp(s->q[i].table, table))
            return 1;
    return 0;
}

static sl_err_t enqueue(void *arg, const char *db, const char *table)
{
    col_snap_t *s = arg;
    if (queued(s, db, table))
        return SL_OK;
    if (s->qn == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 16;
        snap_table_t *q = realloc(s->q, cap * sizeof(*q));
        if (!q)
            return SL_ERR_NOMEM;
        s->q = q;
        s->qcap = cap;
    }
    snap_table_t *t = &s->q[s->qn];
    t->db = strdup(db);
    t->table = strdup(table);
    if (!t->db || !t->table) {
        free(t->db);
        free(t->table);
        return SL_ERR_NOMEM;
    }
    s->qn++;
    sl_metric_set(s->m_pending, (double)s->qn);
    return SL_OK;
}

/* Ends the current table: the next one becomes current, from its first row. */
static void pop_table(col_snap_t *s)
{
    if (!s->qn)
        return;
    free(s->q[0].db);
    free(s->q[0].table);
    memmove(&s->q[0], &s->q[1], (s->qn - 1) * sizeof(*s->q));
    s->qn--;
    free(s->after);
    s->after = NULL;
    s->table_rows = 0;
    sl_metric_set(s->m_pending, (double)s->qn);
}

/* ------------------------------------------------------------ progress text */

static void put_field(sl_buf_t *b, const char *f)
{
    for (; *f; f++) {
        if (*f == '\t')
            sl_buf_puts(b, "\\t");
        else if (*f == '\n')
            sl_buf_puts(b, "\\n");
        else if (*f == '\\')
            sl_buf_puts(b, "\\\\");
        else
            sl_buf_putc(b, *f);
    }
}

/* The text of the queue (after the chunk just published: s->after). "" when
 * nothing is left (a finished snapshot stores an empty progress). */
static const char *progress_text(col_snap_t *s)
{
    sl_buf_t *b = &s->progress;
    sl_buf_reset(b);
    if (!s->qn)
        return "";
    sl_buf_puts(b, SNAP_MAGIC "\n");
    for (size_t i = 0; i < s->qn; i++) {
        put_field(b, s->q[i].db);
        sl_buf_putc(b, '\t');
        put_field(b, s->q[i].table);
        if (i == 0 && s->after) {
            sl_buf_putc(b, '\t');
            put_field(b, s->after);
        }
        sl_buf_putc(b, '\n');
    }
    return b->data;
}

/* Unescapes the field [p, end) into a new string. */
static char *get_field(const char *p, const char *end)
{
    char *o = malloc((size_t)(end - p) + 1), *w = o;
    if (!o)
        return NULL;
    for (; p < end; p++) {
        if (*p == '\\' && p + 1 < end) {
            p++;
            *w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return o;
}

static sl_err_t progress_parse(col_snap_t *s, const char *text, char *errstr,
                               size_t errstr_size)
{
    size_t ml = strlen(SNAP_MAGIC);
    if (strncmp(text, SNAP_MAGIC, ml) || text[ml] != '\n') {
        snprintf(errstr, errstr_size, "snapshot progress in the checkpoint is not of this "
                 "version (it starts \"%.30s\")", text);
        return SL_ERR_PARSE;
    }
    for (const char *p = text + ml + 1; *p;) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        const char *t1 = memchr(p, '\t', (size_t)(eol - p));
        const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(eol - t1 - 1)) : NULL;
        if (!t1) {
            snprintf(errstr, errstr_size, "snapshot progress in the checkpoint: a line "
                     "without a table (\"%.*s\")", (int)(eol - p > 60 ? 60 : eol - p), p);
            return SL_ERR_PARSE;
        }
        char *db = get_field(p, t1), *table = get_field(t1 + 1, t2 ? t2 : eol);
        sl_err_t err = db && table ? enqueue(s, db, table) : SL_ERR_NOMEM;
        if (!err && t2 && s->qn == 1 && !(s->after = get_field(t2 + 1, eol)))
            err = SL_ERR_NOMEM;
        free(db);
        free(table);
        if (err) {
            snprintf(errstr, errstr_size, "snapshot progress: out of memory");
            return err;
        }
        p = *eol ? eol + 1 : eol;
    }
    return SL_OK;
}

const char *col_snap_progress(col_snap_t *s)
{
    return progress_text(s);
}

static void publish_status(col_snap_t *s);

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
            "Tables left out of a snapshot (no primary or unique NOT NULL key); the log "
            "names each.", NULL);
    }
    if (progress && *progress) {
        if ((err = progress_parse(s, progress, errstr, errstr_size)))
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
        if ((err = src->tables(src->ctx, enqueue, s, errstr, errstr_size)))
            goto fail;
        s->initial = 1;
        sl_info("snapshot: initial snapshot of %zu table(s), %" PRId64 " rows per chunk",
                s->qn, conf->snapshot_chunk_rows);
    }
    sl_metric_set(s->m_pending, (double)s->qn);
    publish_status(s);
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
    while (s->qn)
        pop_table(s);
    free(s->q);
    free(s->after);
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
    if (queued(s, db, table))
        return SL_OK;
    sl_info("snapshot: %s.%s queued (%zu table(s) before it)", db, table, s->qn);
    return enqueue(s, db, table);
}

sl_err_t col_snap_request_all(col_snap_t *s, char *errstr, size_t errstr_size)
{
    size_t before = s->qn;
    sl_err_t err = s->src.tables(s->src.ctx, enqueue, s, errstr, errstr_size);
    if (!err)
        sl_info("snapshot: every included table queued (%zu new, %zu in all)", s->qn - before,
                s->qn);
    return err;
}

int col_snap_waiting(const col_snap_t *s)
{
    return s->waiting;
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
 * ("<nonce> <name>": a mark never repeats the row it replaces, which
 * MariaDB would not log). The stream queues the table when it meets it. */
static sl_err_t take_requests(col_snap_t *s, char *errstr, size_t errstr_size)
{
    char *name;
    while ((name = col_snap_http_take())) {
        char id[600];
        snprintf(id, sizeof(id), "%" PRIu64 " %s", ++s->seq, name);
        sl_err_t err = s->src.watermark(s->src.ctx, 'S', id, errstr, errstr_size);
        if (!err)
            sl_info("snapshot: request for %s written to the source's log", name);
        free(name);
        if (err)
            return err;
    }
    return SL_OK;
}

/* The status GET /snapshot shows. */
static void publish_status(col_snap_t *s)
{
    sl_buf_t b = {0};
    sl_buf_puts(&b, "{\"source\":");
    sl_buf_json_str(&b, s->conf->source_name, strlen(s->conf->source_name));
    sl_buf_puts(&b, ",\"tables\":[");
    for (size_t i = 0; i < s->qn; i++) {
        char name[600];
        sl_name_format(s->q[i].db, s->q[i].table, name, sizeof(name));
        if (i)
            sl_buf_putc(&b, ',');
        sl_buf_json_str(&b, name, strlen(name));
    }
    sl_buf_printf(&b, "],\"rows\":%" PRIu64 ",\"tables_done\":%" PRIu64 "}\n",
                  s->rows_total, s->tables_done);
    if (b.data)
        col_snap_http_publish(b.data);
    sl_buf_free(&b);
}

sl_err_t col_snap_step(col_snap_t *s, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    char why[512];
    if ((err = take_requests(s, errstr, errstr_size)))
        return err;
    while (!s->waiting && s->qn) {
        const snap_table_t *t = &s->q[0];
        snprintf(s->id, sizeof(s->id), "%d-%" PRIu64, (int)getpid(), ++s->seq);
        if ((err = s->src.watermark(s->src.ctx, 'L', s->id, errstr, errstr_size)))
            return err;
        sl_record_reset(s->chunk);
        free(s->last);
        s->last = NULL;
        s->nkey = 0;
        err = s->src.read_chunk(s->src.ctx, t->db, t->table, s->after,
                                (uint32_t)s->conf->snapshot_chunk_rows, s->chunk, s->key,
                                &s->nkey, &s->last, why, sizeof(why));
        if (err == SL_ERR_NOT_FOUND || err == SL_ERR_UNSUPPORTED) {
            if (err == SL_ERR_UNSUPPORTED)
                sl_metric_inc(s->m_skipped);
            sl_warn("snapshot: %s.%s left out: %s", t->db, t->table, why);
            s->id[0] = '\0';          /* its LOW is nobody's now */
            pop_table(s);
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
        if ((err = s->src.watermark(s->src.ctx, 'H', s->id, errstr, errstr_size)))
            return err;
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
        if (key_text(s, c->rows[r].after, s->key, s->nkey) == 0 &&
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

static void log_progress(col_snap_t *s, const snap_table_t *t, uint64_t rows, int force)
{
    int64_t now = sl_service_now_ms();
    if (!force && now - s->logged_ms < 10000)
        return;
    s->logged_ms = now;
    double secs = (double)(now - s->started_ms) / 1000.0;
    sl_info("snapshot: %s.%s %s, %" PRIu64 " rows; in all %" PRIu64 " rows in %.1f s "
            "(%.0f rows/s), %" PRIu64 " table(s) done, %zu left",
            t->db, t->table, force ? "done" : "in progress", s->table_rows, rows, secs,
            secs > 0 ? (double)rows / secs : 0.0, s->tables_done, s->qn - (force ? 1 : 0));
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
        pop_table(s);
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
    if ((err = emit(s, pos, txn, time_us, schema_id, &n, errstr, errstr_size)))
        return err;
    s->rows_total += n;
    s->table_rows += n;
    sl_metric_add(s->m_rows, n);
    sl_metric_inc(s->m_chunks);
    /* the continuation moves only now: a chunk read but not published is read again */
    if (s->table_end) {
        s->tables_done++;
        log_progress(s, t, s->rows_total, 1);
        pop_table(s);
    } else {
        free(s->after);
        s->after = s->last;
        s->last = NULL;
        log_progress(s, t, s->rows_total, 0);
    }
    if (s->pub)
        col_pub_set_progress(s->pub, progress_text(s));
    publish_status(s);
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
    if (kind == 'S') {                 /* a re-snapshot request: [nonce SP] table name */
        char db[256], table[256];
        const char *sp = strchr(id, ' ');
        if (sp)
            id = sp + 1;
        if (sl_name_parse(id, db, sizeof(db), table, sizeof(table))) {
            sl_warn("snapshot: a request for \"%s\" ignored: not a db.table name", id);
            return SL_OK;
        }
        if (col_snap_request(s, db, table))
            return SL_ERR_NOMEM;
        if (s->pub)
            col_pub_set_progress(s->pub, progress_text(s));
        publish_status(s);
        return SL_OK;
    }
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
