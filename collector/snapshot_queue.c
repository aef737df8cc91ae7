/* shiftlog-collector: what the snapshot engine has queued and how far it is
 * (snapshot_int.h): the queue of whole tables and key ranges, the progress
 * text kept with the checkpoint, the status GET /snapshot shows, the
 * periodic progress line and the per-table metrics.
 *
 * Progress text (kept with the checkpoint, parsed back at a restart):
 *   line 1  "shiftlog-snapshot 2"
 *   then    one line per entry still to read, the current one first:
 *           db TAB table {TAB tag=value}
 *           tags: c the continuation (current entry only), i the request id,
 *           a / u the range's lower / upper key bound (JSON), r rows published
 * with TAB, LF and backslash in a field written as \t, \n, \\. Version 1
 * (db TAB table [TAB continuation]) is still read. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_int.h"
#include "sl_log.h"
#include "sl_name.h"
#include "sl_service.h"

#define SNAP_MAGIC_V1 "shiftlog-snapshot 1"
#define SNAP_MAGIC "shiftlog-snapshot 2"

static int same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static char *dup_or_null(const char *t, int *oom)
{
    char *d = t ? strdup(t) : NULL;
    if (t && !d)
        *oom = 1;
    return d;
}

static void entry_free(snap_table_t *t)
{
    free(t->db);
    free(t->table);
    free(t->id);
    free(t->lo);
    free(t->hi);
}

/* ------------------------------------------------------------ metrics */

static sl_metric_t *table_metric(col_snap_t *s, const char *db, const char *table, int gauge,
                                 const char *name, const char *help)
{
    char label[600];
    if (!s->metrics)
        return NULL;
    sl_name_format(db, table, label, sizeof(label));
    const char *labels[] = {"table", label, NULL};
    return gauge ? sl_metrics_gauge(s->metrics, name, help, labels)
                 : sl_metrics_counter(s->metrics, name, help, labels);
}

static void table_done_gauge(col_snap_t *s, const char *db, const char *table, double v)
{
    sl_metric_set(table_metric(s, db, table, 1, "shiftlog_collector_snapshot_table_done",
                               "1 when nothing of the table is left to copy, 0 while a copy "
                               "of it (or of a key range of it) is queued or under way."), v);
}

/* ------------------------------------------------------------ the queue */

sl_err_t col_snapq_add(col_snap_t *s, const char *id, const char *db, const char *table,
                       const char *lo, const char *hi, int dedup)
{
    /* a request with an id gets its own entry: it ends under that id */
    for (size_t i = 0; dedup && i < s->qn; i++) {
        const snap_table_t *t = &s->q[i];
        int started = i == 0 && (t->started_ms || s->after || s->waiting);
        if (!started && !strcmp(t->db, db) && !strcmp(t->table, table) && same(t->lo, lo) &&
            same(t->hi, hi) && !id)
            return SL_OK;
    }
    if (s->qn == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 16;
        snap_table_t *q = realloc(s->q, cap * sizeof(*q));
        if (!q)
            return SL_ERR_NOMEM;
        s->q = q;
        s->qcap = cap;
    }
    snap_table_t *t = &s->q[s->qn];
    int oom = 0;
    memset(t, 0, sizeof(*t));
    t->db = dup_or_null(db, &oom);
    t->table = dup_or_null(table, &oom);
    t->id = dup_or_null(id, &oom);
    t->lo = dup_or_null(lo, &oom);
    t->hi = dup_or_null(hi, &oom);
    t->estimate = -1;
    if (oom) {
        entry_free(t);
        return SL_ERR_NOMEM;
    }
    s->qn++;
    sl_metric_set(s->m_pending, (double)s->qn);
    table_done_gauge(s, db, table, 0);
    return SL_OK;
}

sl_err_t col_snapq_add_table(void *arg, const char *db, const char *table, const char *why)
{
    col_snap_t *s = arg;
    if (why) {
        col_snapq_skip(s, db, table, why);
        return SL_OK;
    }
    return col_snapq_add(s, NULL, db, table, NULL, NULL, 1);
}

void col_snapq_skip(col_snap_t *s, const char *db, const char *table, const char *why)
{
    char name[600];
    sl_name_format(db, table, name, sizeof(name));
    sl_warn("snapshot: table %s is not copied: %s", name, why);
    sl_metric_inc(s->m_skipped);
    sl_metric_set(table_metric(s, db, table, 1, "shiftlog_collector_snapshot_table_skipped",
                               "1 for a table a snapshot left out (no primary key and no "
                               "unique key of NOT NULL columns, or changes the stream "
                               "refuses); the log names each and why."), 1);
    for (size_t i = 0; i < s->nskipped; i++)
        if (!strcmp(s->skipped[i].name, name))
            return;
    if (s->nskipped == SNAP_SKIPPED_MAX)
        return;
    snap_skip_t *k = &s->skipped[s->nskipped];
    k->name = strdup(name);
    k->why = strdup(why);
    if (k->name && k->why)
        s->nskipped++;
    else {
        free(k->name);
        free(k->why);
    }
}

void col_snapq_end(col_snap_t *s, const char *id, const char *name, const char *lo,
                   const char *hi, const char *state, const char *why, uint64_t rows)
{
    snap_end_t *e = &s->ends[s->nends++ % SNAP_ENDS];
    free(e->id);
    free(e->name);
    free(e->lo);
    free(e->hi);
    free(e->why);
    e->id = id ? strdup(id) : NULL;
    e->name = strdup(name);
    e->lo = lo ? strdup(lo) : NULL;
    e->hi = hi ? strdup(hi) : NULL;
    e->why = why ? strdup(why) : NULL;
    e->state = state;
    e->rows = rows;
}

void col_snapq_pop(col_snap_t *s, const char *state, const char *why)
{
    if (!s->qn)
        return;
    snap_table_t *t = &s->q[0];
    char name[600];
    sl_name_format(t->db, t->table, name, sizeof(name));
    /* the ring keeps what a client may wait for: requests (with an id) and copies that
     * did not end done; the tables of an initial snapshot would crowd them out */
    if (t->id || strcmp(state, "done"))
        col_snapq_end(s, t->id, name, t->lo, t->hi, state, why, t->rows);
    int more = 0;
    for (size_t i = 1; i < s->qn; i++)
        more |= !strcmp(s->q[i].db, t->db) && !strcmp(s->q[i].table, t->table);
    if (!more)
        table_done_gauge(s, t->db, t->table, 1);
    entry_free(t);
    memmove(&s->q[0], &s->q[1], (s->qn - 1) * sizeof(*s->q));
    s->qn--;
    free(s->after);
    s->after = NULL;
    sl_metric_set(s->m_pending, (double)s->qn);
}

void col_snapq_written(col_snap_t *s, const char *id, int met)
{
    for (size_t i = 0; i < s->nwritten; i++)
        if (!strcmp(s->written[i], id)) {
            if (!met)
                return;
            free(s->written[i]);
            s->written[i] = s->written[--s->nwritten];
            return;
        }
    if (!met && s->nwritten < SNAP_WRITTEN_MAX && (s->written[s->nwritten] = strdup(id)))
        s->nwritten++;
}

void col_snapq_clear(col_snap_t *s)
{
    for (size_t i = 0; i < s->qn; i++)
        entry_free(&s->q[i]);
    free(s->q);
    free(s->after);
    for (size_t i = 0; i < SNAP_ENDS; i++) {
        free(s->ends[i].id);
        free(s->ends[i].name);
        free(s->ends[i].lo);
        free(s->ends[i].hi);
        free(s->ends[i].why);
    }
    for (size_t i = 0; i < s->nskipped; i++) {
        free(s->skipped[i].name);
        free(s->skipped[i].why);
    }
    for (size_t i = 0; i < s->nwritten; i++)
        free(s->written[i]);
}

/* ------------------------------------------------------------ progress */

void col_snapq_start(col_snap_t *s)
{
    snap_table_t *t = &s->q[0];
    char why[512];
    if (t->started_ms)
        return;
    t->started_ms = sl_service_now_ms();
    t->rows_at_start = t->rows;
    s->logged_ms = t->started_ms;
    /* a range's share of the table is unknown: no estimate, no percent */
    if (!t->lo && !t->hi && s->src.estimate &&
        s->src.estimate(s->src.ctx, t->db, t->table, &t->estimate, why, sizeof(why))) {
        sl_debug("snapshot: %s.%s: no row estimate: %s", t->db, t->table, why);
        t->estimate = -1;
    }
    if (t->estimate >= 0)
        sl_metric_set(table_metric(s, t->db, t->table, 1,
                                   "shiftlog_collector_snapshot_table_rows_estimate",
                                   "Rows of the table as its statistics estimate them, when "
                                   "its snapshot started (progress: percent, ETA)."),
                      (double)t->estimate);
}

void col_snapq_chunk(col_snap_t *s, uint64_t n)
{
    snap_table_t *t = &s->q[0];
    t->rows += n;
    t->chunks++;
    s->rows_total += n;
    sl_metric_add(s->m_rows, n);
    sl_metric_inc(s->m_chunks);
    sl_metric_add(table_metric(s, t->db, t->table, 0,
                               "shiftlog_collector_snapshot_table_rows_total",
                               "Snapshot rows of the table published (op READ)."), n);
    sl_metric_inc(table_metric(s, t->db, t->table, 0,
                               "shiftlog_collector_snapshot_table_chunks_total",
                               "Snapshot chunks of the table published."));
}

/* The current entry's rate in this process, its percent and ETA (-1: unknown). */
static void entry_pace(const snap_table_t *t, int64_t now, double *rate, double *pct,
                       double *eta)
{
    double secs = t->started_ms ? (double)(now - t->started_ms) / 1000.0 : 0;
    *rate = secs > 0 ? (double)(t->rows - t->rows_at_start) / secs : 0;
    *pct = *eta = -1;
    if (t->estimate > 0) {
        /* statistics are estimates: never 100% before the end */
        *pct = 100.0 * (double)t->rows / (double)t->estimate;
        if (*pct > 99)
            *pct = 99;
        if (*rate > 0)
            *eta = (double)t->rows < (double)t->estimate
                 ? ((double)t->estimate - (double)t->rows) / *rate : 0;
    }
}

void col_snapq_log(col_snap_t *s, int force)
{
    int64_t now = sl_service_now_ms();
    const snap_table_t *t = &s->q[0];
    if (!force && now - s->logged_ms < s->conf->snapshot_progress_ms)
        return;
    s->logged_ms = now;
    char range[600] = "";
    if (t->lo || t->hi)
        snprintf(range, sizeof(range), " (key range after %.250s upto %.250s)",
                 t->lo ? t->lo : "the first", t->hi ? t->hi : "the last");
    if (force) {
        double secs = (double)(now - s->started_ms) / 1000.0;
        sl_info("snapshot: %s.%s done, %" PRIu64 " rows; in all %" PRIu64 " rows in %.1f s "
                "(%.0f rows/s), %" PRIu64 " table(s) done, %zu left%s",
                t->db, t->table, t->rows, s->rows_total, secs,
                secs > 0 ? (double)s->rows_total / secs : 0.0, s->tables_done, s->qn - 1,
                range);
        return;
    }
    double rate, pct, eta;
    char of[64] = "", tail[96] = "";
    entry_pace(t, now, &rate, &pct, &eta);
    if (pct >= 0) {
        snprintf(of, sizeof(of), " of ~%" PRId64, t->estimate);
        snprintf(tail, sizeof(tail), ", %.0f%%, ETA %.0f s", pct, eta < 0 ? 0 : eta);
    }
    sl_info("snapshot: %s.%s %" PRIu64 "%s rows, %.0f rows/s%s; %zu table(s) left%s",
            t->db, t->table, t->rows, of, rate, pct >= 0 ? tail : ", no row estimate",
            s->qn, range);
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

static void put_tag(sl_buf_t *b, char tag, const char *v)
{
    if (!v)
        return;
    sl_buf_putc(b, '\t');
    sl_buf_putc(b, tag);
    sl_buf_putc(b, '=');
    put_field(b, v);
}

/* The text of the queue (after the chunk just published: s->after). "" when
 * nothing is left (a finished snapshot stores an empty progress). */
const char *col_snapq_progress_text(col_snap_t *s)
{
    sl_buf_t *b = &s->progress;
    sl_buf_reset(b);
    if (!s->qn)
        return "";
    sl_buf_puts(b, SNAP_MAGIC "\n");
    for (size_t i = 0; i < s->qn; i++) {
        const snap_table_t *t = &s->q[i];
        char rows[32];
        put_field(b, t->db);
        sl_buf_putc(b, '\t');
        put_field(b, t->table);
        if (i == 0)
            put_tag(b, 'c', s->after);
        put_tag(b, 'i', t->id);
        put_tag(b, 'a', t->lo);
        put_tag(b, 'u', t->hi);
        snprintf(rows, sizeof(rows), "%" PRIu64, t->rows);
        put_tag(b, 'r', t->rows ? rows : NULL);
        sl_buf_putc(b, '\n');
    }
    return b->data ? b->data : "";
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

/* One line's fields (at most 8) split at TAB into f[]: their count. */
static int split_line(const char *p, const char *eol, char **f, int max)
{
    int n = 0;
    while (n < max) {
        const char *t = memchr(p, '\t', (size_t)(eol - p));
        if (!(f[n++] = get_field(p, t ? t : eol)))
            return -1;
        if (!t)
            break;
        p = t + 1;
    }
    return n;
}

static sl_err_t parse_line(col_snap_t *s, char **f, int n, int v1)
{
    const char *id = NULL, *lo = NULL, *hi = NULL, *cont = NULL, *rows = NULL;
    if (v1) {
        cont = n > 2 ? f[2] : NULL;
    } else {
        for (int i = 2; i < n; i++) {
            const char **slot = f[i][0] && f[i][1] == '=' ?
                (f[i][0] == 'c' ? &cont : f[i][0] == 'i' ? &id : f[i][0] == 'a' ? &lo
                 : f[i][0] == 'u' ? &hi : f[i][0] == 'r' ? &rows : NULL) : NULL;
            if (slot)
                *slot = f[i] + 2;     /* an unknown tag (a newer version's) is left */
        }
    }
    sl_err_t err = col_snapq_add(s, id, f[0], f[1], lo, hi, 0);
    if (err)
        return err;
    s->q[s->qn - 1].rows = rows ? strtoull(rows, NULL, 10) : 0;
    if (cont && s->qn == 1 && !(s->after = strdup(cont)))
        return SL_ERR_NOMEM;
    return SL_OK;
}

sl_err_t col_snapq_progress_parse(col_snap_t *s, const char *text, char *errstr,
                                  size_t errstr_size)
{
    size_t ml = strlen(SNAP_MAGIC);
    int v1 = !strncmp(text, SNAP_MAGIC_V1, ml) && text[ml] == '\n';
    if (!v1 && (strncmp(text, SNAP_MAGIC, ml) || text[ml] != '\n')) {
        snprintf(errstr, errstr_size, "snapshot progress in the checkpoint is not of this "
                 "version (it starts \"%.30s\")", text);
        return SL_ERR_PARSE;
    }
    for (const char *p = text + ml + 1; *p;) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        char *f[8] = {0};
        int n = split_line(p, eol, f, 8);
        sl_err_t err = n < 0 ? SL_ERR_NOMEM : n < 2 ? SL_ERR_PARSE : parse_line(s, f, n, v1);
        for (int i = 0; i < 8; i++)
            free(f[i]);
        if (err == SL_ERR_PARSE)
            snprintf(errstr, errstr_size, "snapshot progress in the checkpoint: a line "
                     "without a table (\"%.*s\")", (int)(eol - p > 60 ? 60 : eol - p), p);
        else if (err)
            snprintf(errstr, errstr_size, "snapshot progress: out of memory");
        if (err)
            return err;
        p = *eol ? eol + 1 : eol;
    }
    return SL_OK;
}

/* ------------------------------------------------------------ status */

static void json_name(sl_buf_t *b, const char *db, const char *table)
{
    char name[600];
    sl_name_format(db, table, name, sizeof(name));
    sl_buf_json_str(b, name, strlen(name));
}

static void json_opt(sl_buf_t *b, const char *key, const char *v, int raw)
{
    sl_buf_printf(b, ",\"%s\":", key);
    if (!v)
        sl_buf_puts(b, "null");
    else if (raw)
        sl_buf_puts(b, v);            /* a key bound: JSON checked when it was queued */
    else
        sl_buf_json_str(b, v, strlen(v));
}

/* The status GET /snapshot shows (the endpoint closes the object). */
void col_snapq_publish(col_snap_t *s)
{
    sl_buf_t b = SL_BUF_INIT;
    int64_t now = sl_service_now_ms();
    sl_buf_puts(&b, "{\"source\":");
    sl_buf_json_str(&b, s->conf->source_name, strlen(s->conf->source_name));
    sl_buf_puts(&b, ",\"tables\":[");
    for (size_t i = 0; i < s->qn; i++) {
        if (i)
            sl_buf_putc(&b, ',');
        json_name(&b, s->q[i].db, s->q[i].table);
    }
    sl_buf_printf(&b, "],\"rows\":%" PRIu64 ",\"tables_done\":%" PRIu64 ",\"queue\":[",
                  s->rows_total, s->tables_done);
    for (size_t i = 0; i < s->qn; i++) {
        const snap_table_t *t = &s->q[i];
        double rate, pct, eta;
        entry_pace(t, now, &rate, &pct, &eta);
        sl_buf_puts(&b, i ? ",{\"table\":" : "{\"table\":");
        json_name(&b, t->db, t->table);
        json_opt(&b, "id", t->id, 0);
        json_opt(&b, "after", t->lo, 1);
        json_opt(&b, "upto", t->hi, 1);
        sl_buf_printf(&b, ",\"state\":\"%s\",\"rows\":%" PRIu64 ",\"chunks\":%" PRIu64,
                      i == 0 && t->started_ms ? "reading" : "queued", t->rows, t->chunks);
        if (t->estimate >= 0)
            sl_buf_printf(&b, ",\"rows_estimate\":%" PRId64, t->estimate);
        if (i == 0 && t->started_ms)
            sl_buf_printf(&b, ",\"rows_per_s\":%.1f", rate);
        if (pct >= 0)
            sl_buf_printf(&b, ",\"percent\":%.1f,\"eta_s\":%.0f", pct, eta < 0 ? 0 : eta);
        sl_buf_putc(&b, '}');
    }
    sl_buf_puts(&b, "],\"written\":[");
    for (size_t i = 0; i < s->nwritten; i++) {
        if (i)
            sl_buf_putc(&b, ',');
        sl_buf_json_str(&b, s->written[i], strlen(s->written[i]));
    }
    sl_buf_puts(&b, "],\"ended\":[");
    size_t first = s->nends > SNAP_ENDS ? s->nends - SNAP_ENDS : 0;
    for (size_t i = first; i < s->nends; i++) {
        const snap_end_t *e = &s->ends[i % SNAP_ENDS];
        sl_buf_puts(&b, i > first ? ",{\"table\":" : "{\"table\":");
        sl_buf_json_str(&b, e->name ? e->name : "", e->name ? strlen(e->name) : 0);
        json_opt(&b, "id", e->id, 0);
        json_opt(&b, "after", e->lo, 1);
        json_opt(&b, "upto", e->hi, 1);
        sl_buf_printf(&b, ",\"state\":\"%s\",\"rows\":%" PRIu64, e->state, e->rows);
        if (e->why)
            json_opt(&b, "reason", e->why, 0);
        sl_buf_putc(&b, '}');
    }
    sl_buf_puts(&b, "],\"skipped\":[");
    for (size_t i = 0; i < s->nskipped; i++) {
        sl_buf_puts(&b, i ? ",{\"table\":" : "{\"table\":");
        sl_buf_json_str(&b, s->skipped[i].name, strlen(s->skipped[i].name));
        json_opt(&b, "reason", s->skipped[i].why, 0);
        sl_buf_putc(&b, '}');
    }
    sl_buf_putc(&b, ']');
    if (b.data)
        col_snap_http_publish(b.data);
    sl_buf_free(&b);
}
