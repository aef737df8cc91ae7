/* shiftlog-applier: worker_num > 1 — parallel apply on several connections
 * of one target type, with every source transaction inside one target
 * commit (DESIGN invariant 3) and the order of changes kept per key.
 *
 * It is a target like the others (target.h), wrapping worker_num "inner"
 * targets, each with its own connection, thread and job queue:
 *
 *   - A source transaction goes whole to one worker: the worker of its first
 *     row's table + key hash (or, when it starts with a SCHEMA record, the
 *     DDL worker, 0). The choice depends on the records only, so a
 *     replay routes every transaction as before.
 *   - Per-key order: each worker keeps a bitmap of the key hashes (and
 *     tables) its open target transaction wrote. A row whose key another
 *     worker's open transaction wrote first makes that worker commit before
 *     the row is queued (it holds only complete source transactions: one
 *     source transaction is in progress at a time, and it is on the row's
 *     worker). A hash collision only commits early.
 *   - Positions: worker w stores its own kafkaoffset row (task "<task>#w")
 *     in its own commits: the COMMIT of the last source transaction it
 *     applied, or at a group commit of the core (all workers commit, empty
 *     or not) the group's last COMMIT. load_position() gives the core the
 *     lowest of them (everything before it is durable everywhere); a
 *     transaction routed to worker w whose rows come before w's stored
 *     COMMIT offset has been applied and is skipped. So a kill -9 between
 *     the commits of two workers loses nothing and applies nothing twice.
 *   - Schema changes: every DDL runs on worker 0 (so it knows each table's
 *     previous version, and two workers never wait for each other's
 *     uncommitted catalog rows), after every other worker that wrote the
 *     table committed; a later row of the table on another worker makes
 *     worker 0 commit first. A source transaction already on another worker
 *     gets SL_ERR_STATE: the core runs the DDL first and replays the
 *     transaction (as for MySQL's implicit commits).
 *
 * What a concurrent reader sees: every source transaction whole, and the
 * changes of each key in source order; two transactions with no key in
 * common may become visible in either order (one commit per worker).
 *
 * Errors of a queued rows() surface at the next call (or at the commit):
 * the core then rolls back and isolates the source transaction as it does
 * for a row the server refuses at the group commit. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_log.h"
#include "target_par.h"

/* ------------------------------------------------------------ hashing */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t table_hash(const app_table_map_t *map)
{
    uint64_t h = fnv(1469598103934665603ull, map->dst_schema, strlen(map->dst_schema) + 1);
    return fnv(h, map->dst_table, strlen(map->dst_table));
}

static uint64_t value_hash(uint64_t h, const sl_value_t *v)
{
    h = fnv(h, &v->kind, sizeof(v->kind));
    switch (v->kind) {
    case SL_VAL_NULL:
    case SL_VAL_MISSING:
        return h;
    case SL_VAL_BOOL:   return fnv(h, &v->u.b, sizeof(v->u.b));
    case SL_VAL_INT:    return fnv(h, &v->u.i, sizeof(v->u.i));
    case SL_VAL_UINT:   return fnv(h, &v->u.u, sizeof(v->u.u));
    case SL_VAL_FLOAT:  return fnv(h, &v->u.f, sizeof(v->u.f));
    case SL_VAL_DOUBLE: return fnv(h, &v->u.d, sizeof(v->u.d));
    default:            return v->data ? fnv(h, v->data, v->len) : h;
    }
}

static int bit_get(const uint8_t *m, uint64_t h, uint32_t nbits)
{
    uint32_t b = (uint32_t)(h ^ (h >> 32)) & (nbits - 1);
    return m[b >> 3] >> (b & 7) & 1;
}

static void bit_set(uint8_t *m, uint64_t h, uint32_t nbits)
{
    uint32_t b = (uint32_t)(h ^ (h >> 32)) & (nbits - 1);
    m[b >> 3] |= (uint8_t)(1u << (b & 7));
}

/* The change columns of the key (primary key of the schema in force); 0
 * when the table has none or a key column is not in the change: then the
 * whole table counts as the key. */
static uint32_t key_cols(const app_table_map_t *map, const sl_change_t *ch, uint32_t *out,
                         uint32_t max)
{
    const sl_schema_t *s = map->schema;
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->ncols; i++) {
        if (!s->cols[i].pk)
            continue;
        uint32_t k = i;
        if (k >= ch->ncols || strcmp(ch->columns[k], s->cols[i].name))
            for (k = 0; k < ch->ncols; k++)
                if (!strcmp(ch->columns[k], s->cols[i].name))
                    break;
        if (k == ch->ncols || n == max)
            return 0;
        out[n++] = k;
    }
    return n;
}

static uint64_t row_key_hash(uint64_t th, const sl_value_t *img, const uint32_t *kc,
                             uint32_t nk)
{
    uint64_t h = th;
    for (uint32_t i = 0; i < nk; i++)
        h = value_hash(h, &img[kc[i]]);
    return h;
}

/* The first error of a worker (w, or any when NULL), copied out. Called
 * for every message: without an error since the last rollback (the
 * workers' flag) it takes no lock. */
static sl_err_t take_err(par_target_t *p, worker_t *w, char *errstr, size_t errstr_size)
{
    if (!atomic_load_explicit(&p->failed, memory_order_acquire))
        return SL_OK;
    for (int i = 0; i < p->n; i++) {
        worker_t *x = w ? w : &p->w[i];
        pthread_mutex_lock(&p->lock);
        sl_err_t err = x->err;
        if (err)
            snprintf(errstr, errstr_size, "%s", x->errstr);
        pthread_mutex_unlock(&p->lock);
        if (err)
            return err;
        if (w)
            break;
    }
    return SL_OK;
}

static void clear_marks(worker_t *w)
{
    if (!w->dirty)
        return;
    memset(w->keys, 0, sizeof(w->keys));
    memset(w->tabs, 0, sizeof(w->tabs));
    memset(w->ddl, 0, sizeof(w->ddl));
    w->dirty = 0;
}

/* Commits w's open transaction (complete source transactions only) at the
 * last COMMIT routed to it, and waits. */
static sl_err_t commit_worker(par_target_t *p, worker_t *w, char *errstr, size_t errstr_size)
{
    job_t j = {.kind = J_COMMIT, .pos = w->last};
    if (!w->has_last)
        return SL_OK;                 /* nothing of a complete transaction here */
    app_par_push(p, w, &j);
    app_par_drain(p, w);
    sl_err_t err = take_err(p, w, errstr, errstr_size);
    if (err)
        return err;
    w->stored = w->last;
    w->has_stored = 1;
    clear_marks(w);
    sl_metric_inc(p->m_forced);
    /* SHIFTLOG_TEST_EXIT_AFTER_FORCED=N: exit like a kill -9 right after the
     * N-th forced commit (workers then stand at different positions) */
    if (++p->forced == p->exit_after_forced)
        _exit(137);
    return SL_OK;
}

/* ---------------------------------------------------------------- ops */

static void par_close(app_target_t *at);

static sl_err_t par_open(par_target_t **out, const app_target_conf_t *conf, char *errstr,
                         size_t errstr_size)
{
    if (!conf->inner || conf->workers < 2) {
        snprintf(errstr, errstr_size, "parallel target: needs an inner target and 2+ workers");
        return SL_ERR_INVALID;
    }
    par_target_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->w = calloc((size_t)conf->workers, sizeof(*p->w))) ||
        !(p->pool = calloc((size_t)conf->workers * (PAR_QLEN + 1), sizeof(*p->pool)))) {
        if (p)
            free(p->w);
        free(p);
        snprintf(errstr, errstr_size, "applier: out of memory");
        return SL_ERR_NOMEM;
    }
    p->base.ops = &app_target_par;
    p->inner = conf->inner;
    p->conf = *conf;
    p->n = conf->workers;
    p->cappool = conf->workers * (PAR_QLEN + 1);
    p->cur = -1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->done, NULL);
    sl_err_t err = SL_OK;
    const char *fault = getenv("SHIFTLOG_TEST_EXIT_AFTER_FORCED");
    p->exit_after_forced = fault ? atoll(fault) : 0;
    if (conf->metrics)
        p->m_forced = sl_metrics_counter(conf->metrics,
                                         "shiftlog_applier_worker_forced_commits_total",
                                         "Worker commits made early so that a key changed by "
                                         "another worker keeps its order.", NULL);
    for (int i = 0; i < p->n; i++) {
        worker_t *w = &p->w[i];
        char idx[16];
        w->p = p;
        w->idx = i;
        pthread_cond_init(&w->cv, NULL);
        snprintf(idx, sizeof(idx), "%d", i);
        if (conf->metrics)
            w->m_txns = sl_metrics_counter(conf->metrics, "shiftlog_applier_worker_txns_total",
                                           "Source transactions applied per worker "
                                           "(worker_num > 1).",
                                           (const char *[]){"worker", idx, NULL});
    }
    for (int i = 0; i < p->n && !err; i++) {
        worker_t *w = &p->w[i];
        app_target_conf_t c = *conf;
        snprintf(w->task, sizeof(w->task), "%s#%d", conf->task, i);
        c.task = w->task;
        if ((err = p->inner->open(&w->t, &c, errstr, errstr_size)))
            break;
        if (pthread_create(&w->th, NULL, app_par_worker_main, w)) {
            snprintf(errstr, errstr_size, "parallel target: cannot start worker %d", i);
            err = SL_ERR_FATAL;
            break;
        }
        w->started = 1;
    }
    if (err) {
        par_close(&p->base);
        return err;
    }
    *out = p;
    return SL_OK;
}

static void par_close(app_target_t *at)
{
    par_target_t *p = (par_target_t *)at;
    if (!p)
        return;
    for (int i = 0; i < p->n; i++) {
        worker_t *w = &p->w[i];
        if (w->started) {
            job_t j = {.kind = J_STOP};
            app_par_push(p, w, &j);
            pthread_join(w->th, NULL);
        }
        if (w->t)
            p->inner->close(w->t);
        pthread_cond_destroy(&w->cv);
    }
    for (int i = 0; i < p->npool; i++)
        sl_record_destroy(p->pool[i]);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->pool);
    free(p->w);
    free(p);
}

static sl_err_t par_begin(app_target_t *at, char *errstr, size_t errstr_size)
{
    par_target_t *p = (par_target_t *)at;
    return take_err(p, NULL, errstr, errstr_size);
}

/* Every DDL runs on worker 0: two workers creating tables of one new schema
 * (CREATE SCHEMA) or altering related tables would wait for each other's
 * uncommitted catalog rows, and one connection knows every table's previous
 * version. */
#define DDL_WORKER 0

static void par_sync(app_target_t *at)
{
    par_target_t *p = (par_target_t *)at;
    app_par_drain(p, NULL);
}

static sl_err_t par_schema(app_target_t *at, const app_table_map_t *map, const sl_record_t *rec,
                           char *errstr, size_t errstr_size)
{
    par_target_t *p = (par_target_t *)at;
    app_par_drain(p, NULL);
    sl_err_t err = take_err(p, NULL, errstr, errstr_size);
    if (err)
        return err;
    int d = DDL_WORKER;
    if (p->cur >= 0 && p->cur != d) {
        snprintf(errstr, errstr_size, "table %s.%s: its schema change comes inside a source "
                 "transaction applied by worker %d, and its DDL runs on worker %d",
                 map->dst_schema, map->dst_table, p->cur, d);
        return SL_ERR_STATE;
    }
    uint64_t th = table_hash(map);
    for (int i = 0; i < p->n; i++) {
        worker_t *w = &p->w[i];
        if (i != d && w->dirty && (bit_get(w->tabs, th, PAR_TABBITS) ||
                                   bit_get(w->ddl, th, PAR_TABBITS)) &&
            (err = commit_worker(p, w, errstr, errstr_size)))
            return err;
    }
    worker_t *w = &p->w[d];
    p->cur = d;
    /* applied already (worker 0 committed past it before a replay): its DDL
     * is not run again, for it would take the table back to that version */
    if (w->has_stored && map->offset >= 0 && map->offset < w->stored.kafka_offset)
        return SL_OK;
    if ((err = app_par_worker_begin(w))) {
        snprintf(errstr, errstr_size, "%s", w->errstr);
        return err;
    }
    if ((err = p->inner->schema(w->t, map, rec, errstr, errstr_size)))
        return err;
    w->dirty = 1;
    bit_set(w->ddl, th, PAR_TABBITS);
    bit_set(w->tabs, th, PAR_TABBITS);
    return SL_OK;
}

/* Makes every other worker whose open transaction conflicts with a row
 * commit first: one that ran DDL or TRUNCATE on the table, or that wrote
 * key kh (table_wide: that wrote the table at all). */
static sl_err_t resolve(par_target_t *p, int me, uint64_t th, uint64_t kh, int table_wide,
                        char *errstr, size_t errstr_size)
{
    for (int i = 0; i < p->n; i++) {
        worker_t *w = &p->w[i];
        if (i == me || !w->dirty)
            continue;
        int hit = bit_get(w->ddl, th, PAR_TABBITS) ||
                  (table_wide ? bit_get(w->tabs, th, PAR_TABBITS)
                              : bit_get(w->keys, kh, PAR_KEYBITS));
        if (hit) {
            sl_err_t err = commit_worker(p, w, errstr, errstr_size);
            if (err)
                return err;
        }
    }
    return SL_OK;
}

static sl_err_t par_rows_take(app_target_t *at, const app_table_map_t *map, sl_record_t **recp,
                              uint32_t first, uint32_t n, const app_position_t *pos,
                              char *errstr, size_t errstr_size)
{
    par_target_t *p = (par_target_t *)at;
    const sl_change_t *ch = &(*recp)->u.change;
    sl_err_t err = take_err(p, NULL, errstr, errstr_size);
    if (err)
        return err;
    uint64_t th = table_hash(map);
    uint32_t kc[32];
    uint32_t nk = key_cols(map, ch, kc, 32);
    int table_wide = ch->op == SL_OP_TRUNCATE || nk == 0;
    if (p->cur < 0) {
        uint64_t h = th;
        if (!table_wide && first < ch->nrows) {
            const sl_row_t *r = &ch->rows[first];
            h = row_key_hash(th, r->after ? r->after : r->before, kc, nk);
        }
        p->cur = (int)((h ^ (h >> 29)) % (uint64_t)p->n);
    }
    worker_t *w = &p->w[p->cur];
    /* applied already: its worker's stored COMMIT comes after these rows */
    if (w->has_stored && pos->kafka_offset < w->stored.kafka_offset)
        return SL_OK;
    if (table_wide) {
        if ((err = resolve(p, p->cur, th, 0, 1, errstr, errstr_size)))
            return err;
        bit_set(ch->op == SL_OP_TRUNCATE ? w->ddl : w->tabs, th, PAR_TABBITS);
    } else {
        /* both images: an update that changes the key is two keys */
        for (uint32_t i = first; i < first + n; i++)
            for (int img = 0; img < 2; img++) {
                const sl_value_t *v = img ? ch->rows[i].before : ch->rows[i].after;
                if (!v)
                    continue;
                uint64_t kh = row_key_hash(th, v, kc, nk);
                if ((err = resolve(p, p->cur, th, kh, 0, errstr, errstr_size)))
                    return err;
                bit_set(w->keys, kh, PAR_KEYBITS);
            }
        bit_set(w->tabs, th, PAR_TABBITS);
    }
    w->dirty = 1;

    sl_record_t *spare = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->npool)
        spare = p->pool[--p->npool];
    pthread_mutex_unlock(&p->lock);
    if (!spare && !(spare = sl_record_new())) {
        snprintf(errstr, errstr_size, "applier: out of memory");
        return SL_ERR_NOMEM;
    }
    job_t j = {.kind = J_ROWS, .map = map, .rec = *recp, .first = first, .n = n, .pos = *pos};
    app_par_push(p, w, &j);
    *recp = spare;
    return SL_OK;
}

static sl_err_t par_rows(app_target_t *at, const app_table_map_t *map, const sl_record_t *rec,
                         uint32_t first, uint32_t n, const app_position_t *pos, char *errstr,
                         size_t errstr_size)
{
    snprintf(errstr, errstr_size, "parallel target: rows() needs the record (rows_take)");
    return SL_ERR_STATE;
}

static void par_txn_end(app_target_t *at, const app_position_t *pos)
{
    par_target_t *p = (par_target_t *)at;
    if (p->cur < 0)
        return;
    worker_t *w = &p->w[p->cur];
    /* a transaction skipped as applied never moves last back */
    if (!w->has_last || pos->kafka_offset > w->last.kafka_offset) {
        w->last = *pos;
        w->has_last = 1;
        sl_metric_inc(w->m_txns);
    }
    p->cur = -1;
}

/* The core's group commit: every worker commits, in parallel, at pos (at
 * its own stored position when that is later: a replay skipped what it had
 * applied, and its row never moves back). */
static sl_err_t par_commit(app_target_t *at, const app_position_t *pos, char *errstr,
                           size_t errstr_size)
{
    par_target_t *p = (par_target_t *)at;
    for (int i = 0; i < p->n; i++) {
        worker_t *w = &p->w[i];
        job_t j = {.kind = J_COMMIT, .pos = *pos};
        if (w->has_stored && w->stored.kafka_offset > pos->kafka_offset)
            j.pos = w->stored;
        w->last = j.pos;
        app_par_push(p, w, &j);
    }
    app_par_drain(p, NULL);
    sl_err_t first = SL_OK;
    for (int i = 0; i < p->n; i++) {
        worker_t *w = &p->w[i];
        if (w->err) {
            if (!first) {
                first = w->err;
                snprintf(errstr, errstr_size, "%s", w->errstr);
            }
            continue;
        }
        w->stored = w->last;
        w->has_stored = w->has_last = 1;
        clear_marks(w);
    }
    p->cur = -1;
    return first;
}

static sl_err_t par_rollback(app_target_t *at, char *errstr, size_t errstr_size)
{
    par_target_t *p = (par_target_t *)at;
    job_t j = {.kind = J_ROLLBACK};
    for (int i = 0; i < p->n; i++)
        app_par_push(p, &p->w[i], &j);
    app_par_drain(p, NULL);
    for (int i = 0; i < p->n; i++) {
        worker_t *w = &p->w[i];
        w->err = SL_OK;
        w->last = w->stored;
        w->has_last = w->has_stored;
        clear_marks(w);
    }
    atomic_store_explicit(&p->failed, 0, memory_order_release);
    p->cur = -1;
    return SL_OK;
}

/* Names are the inner target's to judge; worker 0's settings stand for all. */
static sl_err_t par_check_name(app_target_t *at, const char *schema, const char *table,
                               char *errstr, size_t errstr_size)
{
    par_target_t *p = (par_target_t *)at;
    if (!p->inner->check_name)
        return SL_OK;
    return p->inner->check_name(p->w[0].t, schema, table, errstr, errstr_size);
}

/* Stopped tables live with worker 0 (the DDL worker): every worker is
 * drained first, then the coordinator calls worker 0's inner target — inside
 * its open transaction when it has one (committed with the next group
 * commit), else at once. */
static sl_err_t par_stops_load(app_target_t *at, app_stop_t **out, size_t *n, char *errstr,
                               size_t errstr_size)
{
    par_target_t *p = (par_target_t *)at;
    app_par_drain(p, NULL);
    *out = NULL;
    *n = 0;
    if (!p->inner->stops_load)
        return SL_OK;
    return p->inner->stops_load(p->w[DDL_WORKER].t, out, n, errstr, errstr_size);
}

static sl_err_t par_stop_save(app_target_t *at, const app_stop_t *s, char *errstr,
                              size_t errstr_size)
{
    par_target_t *p = (par_target_t *)at;
    app_par_drain(p, NULL);
    if (!p->inner->stop_save)
        return SL_OK;
    return p->inner->stop_save(p->w[DDL_WORKER].t, s, errstr, errstr_size);
}

static sl_err_t par_stop_clear(app_target_t *at, const char *db, const char *table,
                               char *errstr, size_t errstr_size)
{
    par_target_t *p = (par_target_t *)at;
    app_par_drain(p, NULL);
    if (!p->inner->stop_clear)
        return SL_OK;
    return p->inner->stop_clear(p->w[DDL_WORKER].t, db, table, errstr, errstr_size);
}

/* The ops take the common head (a par_target_t starts with it); open
 * hands it out. */
static sl_err_t op_par_open(app_target_t **out, const app_target_conf_t *conf, char *e, size_t n)
{
    par_target_t *p = NULL;
    sl_err_t err = par_open(&p, conf, e, n);
    *out = p ? &p->base : NULL;
    return err;
}

const app_target_ops_t app_target_par = {
    .name = "parallel",
    .open = op_par_open,
    .close = par_close,
    .load_position = app_par_load_position,
    .begin = par_begin,
    .schema = par_schema,
    .rows = par_rows,
    .commit = par_commit,
    .rollback = par_rollback,
    .rows_take = par_rows_take,
    .txn_end = par_txn_end,
    .sync = par_sync,
    .check_name = par_check_name,
    .stops_load = par_stops_load,
    .stop_save = par_stop_save,
    .stop_clear = par_stop_clear,
};
