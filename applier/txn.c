/* shiftlog-applier: assembly of source transactions by the markers
 * (DESIGN invariants 2-4) and the driving of the target.
 *
 * One target transaction holds whole source transactions: CHANGE rows are
 * streamed into it as they come (bounded memory: the target flushes every
 * write_batch rows), and it is committed only right after a COMMIT marker,
 * when the group reached write_batch rows or flush.interval.ms — never in
 * the middle of a source transaction. The COMMIT's Kafka offset and source
 * position are stored by the target in the same transaction.
 *
 * FINISH: a partial source transaction in the open target transaction is
 * rolled back. If complete transactions precede it in the same target
 * transaction, everything is rolled back and the core rewinds to the stored
 * offset with commit_at = the last complete COMMIT, so that those commit on
 * their own during the replay and only the partial one is dropped.
 *
 * Skip rule (records re-published by a restarted collector): a CHANGE row
 * or COMMIT whose source position is <= the last committed source position
 * (the COMMIT position of the last applied transaction) has been applied
 * already and is skipped. Equal counts as applied: a COMMIT position is the
 * position after its transaction, and no row of a later transaction can
 * have it. Positions of another kind (or NONE) are never skipped.
 *
 * Schemas: every SCHEMA record is kept as a version of its table, tagged
 * with its Kafka offset; a rewind drops versions newer than the stored
 * offset (they come again), a commit prunes versions no rewind can reach.
 * The target's schema() sees the previous version (map.prev). A target
 * whose DDL commits implicitly (MySQL) answers SL_ERR_STATE when the DDL
 * concerns a table the open transaction wrote: the complete source
 * transactions are committed first (or replayed up to their last COMMIT
 * when one is in progress behind them); when the source transaction in
 * progress wrote the table itself, its DDL runs first and it is replayed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "applier.h"
#include "sl_log.h"
#include "sl_name.h"
#include "sl_status.h"
#include "target_common.h"
#include "txn_int.h"

void app_txn_abort(app_txn_t *x);
static void ren_forget(app_txn_t *x);

static uint32_t hash2(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (; *a; a++)
        h = (h ^ (uint8_t)*a) * 16777619u;
    h = (h ^ '.') * 16777619u;
    for (; *b; b++)
        h = (h ^ (uint8_t)*b) * 16777619u;
    return h;
}

table_t *app_txn_table_get(app_txn_t *x, const char *db, const char *name, int create)
{
    uint32_t h = hash2(db, name) & 255u;
    for (table_t *t = x->buckets[h]; t; t = t->next)
        if (!strcmp(t->db, db) && !strcmp(t->name, name))
            return t;
    if (!create)
        return NULL;
    table_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->db = strdup(db)) || !(t->name = strdup(name))) {
        if (t) {
            free(t->db);
            free(t);
        }
        return NULL;
    }
    t->included = app_mapping_included(x->c.mapping, db, name);
    if (x->c.metrics) {
        char full[512];
        sl_name_format(db, name, full, sizeof(full));   /* a label per table, even dotted */
        t->m_rows = sl_metrics_counter(x->c.metrics, "shiftlog_applier_rows_total",
                                       "Rows applied to the target, per source table (rate = rows/s).",
                                       (const char *[]){"table", full, NULL});
    }
    t->next = x->buckets[h];
    x->buckets[h] = t;
    return t;
}

static const sl_schema_t *table_schema(const table_t *t)
{
    return t->nvers ? &t->vers[t->nvers - 1].rec->u.schema : NULL;
}

void app_txn_drop_vers_after(table_t *t, int64_t offset)
{
    while (t->nvers && t->vers[t->nvers - 1].offset > offset) {
        sl_record_destroy(t->vers[t->nvers - 1].rec);
        t->nvers--;
    }
}

/* Keeps the newest version at or before offset and everything after it. */
static void table_prune(table_t *t, int64_t offset)
{
    size_t keep = 0;
    for (size_t i = 0; i < t->nvers; i++)
        if (t->vers[i].offset <= offset)
            keep = i;
    if (!keep)
        return;
    for (size_t i = 0; i < keep; i++)
        sl_record_destroy(t->vers[i].rec);
    memmove(t->vers, t->vers + keep, (t->nvers - keep) * sizeof(*t->vers));
    t->nvers -= keep;
}

static sl_err_t table_push(table_t *t, sl_record_t *rec, int64_t offset)
{
    if (t->nvers == t->capvers) {
        size_t cap = t->capvers ? t->capvers * 2 : 4;
        schema_ver_t *v = realloc(t->vers, cap * sizeof(*v));
        if (!v)
            return SL_ERR_NOMEM;
        t->vers = v;
        t->capvers = cap;
    }
    t->vers[t->nvers++] = (schema_ver_t){offset, rec};
    return SL_OK;
}

/* The map of the schema in force (rebuilt when the version changed). */
static sl_err_t table_map(app_txn_t *x, table_t *t, char *errstr, size_t errstr_size)
{
    const sl_schema_t *s = table_schema(t);
    if (!s) {
        snprintf(errstr, errstr_size,
                 "table %s.%s: no table schema record came before its changes "
                 "(the collector emits one before first use)", t->db, t->name);
        return SL_ERR_NOT_FOUND;
    }
    if (t->mapped == s)
        return SL_OK;
    sl_err_t err = app_mapping_table(x->c.mapping, s, &t->map, errstr, errstr_size);
    if (err)
        return err;
    /* a name the target cannot give a replicated table (its own position
     * table, a reserved name): the table stops before any DDL or row */
    if (x->c.ops->check_name &&
        (err = x->c.ops->check_name(x->c.target, t->map.dst_schema, t->map.dst_table, errstr,
                                    errstr_size)))
        return err;
    t->mapped = s;
    return SL_OK;
}


sl_err_t app_txn_new(app_txn_t **out, const app_txn_conf_t *conf, char *errstr,
                     size_t errstr_size)
{
    static const char *const le[TXN_BUCKETS] = {"1", "10", "100", "1000", "10000",
                                                "100000", "1000000", "+Inf"};
    app_txn_t *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(errstr, errstr_size, "applier: out of memory");
        return SL_ERR_NOMEM;
    }
    x->c = *conf;
    x->txn_first_offset = -1;
    snprintf(x->group_pos.topic, sizeof(x->group_pos.topic), "%s", conf->topic);
    x->commit_at = -1;
    x->early_ddl_at = -1;
    if (conf->metrics) {
        sl_metrics_t *m = conf->metrics;
        x->m_commits = sl_metrics_counter(m, "shiftlog_applier_target_commits_total",
                                          "Target transactions committed.", NULL);
        x->m_rollbacks = sl_metrics_counter(m, "shiftlog_applier_target_rollbacks_total",
                                            "Target transactions rolled back (FINISH, errors).",
                                            NULL);
        x->m_lag = sl_metrics_gauge(m, "shiftlog_applier_lag_seconds",
                                    "Source commit time to target commit time of the last "
                                    "committed source transaction, s.", NULL);
        x->m_stopped = sl_metrics_gauge(m, "shiftlog_applier_tables_stopped",
                                        "Tables stopped by an error their source transactions "
                                        "cannot get past (reasons in /health and the log).",
                                        NULL);
        x->m_skipped = sl_metrics_counter(m, "shiftlog_applier_skipped_total",
                                          "Records skipped: tables not included, or already "
                                          "applied (source position <= the stored one).",
                                          NULL);
        for (int i = 0; i < TXN_BUCKETS; i++)
            x->m_hist[i] = sl_metrics_histogram_bucket(m, "shiftlog_applier_txn_rows",
                                              "Source transactions by row count "
                                              "(cumulative histogram buckets).",
                                              (const char *[]){"le", le[i], NULL});
        x->m_hist_sum = sl_metrics_histogram_sum(m, "shiftlog_applier_txn_rows",
                                           "Rows of the source transactions applied.", NULL);
        x->m_hist_count = sl_metrics_histogram_count(m, "shiftlog_applier_txn_rows",
                                             "Source transactions applied.", NULL);
    }
    *out = x;
    return SL_OK;
}

void app_txn_destroy(app_txn_t *x)
{
    if (!x)
        return;
    for (int b = 0; b < 256; b++) {
        table_t *t = x->buckets[b];
        while (t) {
            table_t *n = t->next;
            app_txn_drop_vers_after(t, INT64_MIN);
            free(t->vers);
            free(t->db);
            free(t->name);
            free(t);
            t = n;
        }
    }
    ren_forget(x);
    free(x);
}

void app_txn_set_target(app_txn_t *x, app_target_t *target)
{
    x->c.target = target;
}

/* No rows() of the target may still use a map or a schema version. */
static void sync_target(app_txn_t *x)
{
    if (x->c.ops->sync && x->c.target)
        x->c.ops->sync(x->c.target);
}

static void forget_open(app_txn_t *x)
{
    x->open = 0;
    x->group_rows = x->group_txns = 0;
    x->txn_rows = 0;
    x->txn_first_offset = -1;
}

void app_txn_reset(app_txn_t *x, const app_position_t *pos, int64_t commit_at)
{
    if (x->open)
        app_txn_abort(x);
    sync_target(x);
    forget_open(x);
    ren_forget(x);                      /* its records come again */
    x->has_committed = pos != NULL;
    if (pos)
        x->committed = *pos;
    memset(&x->last_commit_pos, 0, sizeof(x->last_commit_pos));
    if (pos)
        x->last_commit_pos = pos->source;
    x->commit_at = commit_at;
    int64_t keep = pos ? pos->kafka_offset : -1;
    for (int b = 0; b < 256; b++)
        for (table_t *t = x->buckets[b]; t; t = t->next) {
            /* seeded versions carry offsets <= the start offset */
            app_txn_drop_vers_after(t, keep);
            t->mapped = NULL;
        }
    if (x->cu)
        x->cu_reset = 1;     /* at its first record: after a startup schema scan */
}

void app_txn_commit_at(app_txn_t *x, int64_t offset)
{
    if (offset > x->commit_at)
        x->commit_at = offset;
}

void app_txn_seed_schema(app_txn_t *x, sl_record_t *rec, int64_t offset)
{
    table_t *t = app_txn_table_get(x, rec->u.schema.db, rec->u.schema.table, 1);
    if (!t || table_push(t, rec, offset) != SL_OK) {
        sl_record_destroy(rec);
        return;
    }
    table_prune(t, app_txn_keep_from(x, t, offset));
    t->mapped = NULL;
}

void app_txn_abort(app_txn_t *x)
{
    char errstr[512];
    if (x->open && x->c.target) {
        if (x->c.ops->rollback(x->c.target, errstr, sizeof(errstr)))
            sl_warn("rollback: %s", errstr);
        sl_metric_inc(x->m_rollbacks);
    }
    forget_open(x);
}

app_txn_rc_t app_txn_rc_of(sl_err_t err)
{
    switch (err) {
    case SL_OK:           return APP_TXN_OK;
    case SL_ERR_IO:
    case SL_ERR_TIMEOUT:  return APP_TXN_TARGET_DOWN;
    case SL_ERR_NOMEM:
    case SL_ERR_FATAL:    return APP_TXN_FATAL;
    case SL_ERR_FENCED:   return APP_TXN_FENCED;
    default:              return APP_TXN_REJECTED;
    }
}

app_txn_rc_t app_txn_ensure_open(app_txn_t *x, char *errstr, size_t errstr_size)
{
    if (x->open)
        return APP_TXN_OK;
    sl_err_t err = x->c.ops->begin(x->c.target, errstr, errstr_size);
    if (err)
        return app_txn_rc_of(err);
    x->open = 1;
    x->group_rows = x->group_txns = 0;
    x->group_start_ms = sl_service_now_ms();
    return APP_TXN_OK;
}

static void observe_txn(app_txn_t *x, int64_t rows)
{
    static const int64_t bound[TXN_BUCKETS - 1] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    for (int i = 0; i < TXN_BUCKETS; i++)
        if (i == TXN_BUCKETS - 1 || rows <= bound[i])
            sl_metric_inc(x->m_hist[i]);
    sl_metric_add(x->m_hist_sum, (uint64_t)rows);
    sl_metric_inc(x->m_hist_count);
}

static app_txn_rc_t commit_group(app_txn_t *x, char *errstr, size_t errstr_size)
{
    if (x->cu)
        return app_txn_cu_commit(x, errstr, errstr_size);
    sl_err_t err = x->c.ops->commit(x->c.target, &x->group_pos, errstr, errstr_size);
    if (err) {
        app_txn_abort(x);
        return app_txn_rc_of(err);
    }
    x->committed = x->group_pos;
    x->has_committed = 1;
    x->open = 0;
    sl_metric_inc(x->m_commits);
    if (x->group_commit_time_us > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        sl_metric_set(x->m_lag, (double)(now_ms - x->group_commit_time_us / 1000) / 1000.0);
    }
    for (int b = 0; b < 256; b++)
        for (table_t *t = x->buckets[b]; t; t = t->next) {
            if (t->nvers > 1)
                table_prune(t, app_txn_keep_from(x, t, x->committed.kafka_offset));
            if (t->npast)
                app_txn_past_prune(t, x->committed.kafka_offset);
        }
    x->group_rows = x->group_txns = 0;
    if (x->commit_at >= 0 && x->committed.kafka_offset >= x->commit_at)
        x->commit_at = -1;
    if (x->committed.kafka_offset >= x->early_ddl_at)
        x->early_ddl_at = -1;
    char pos[160];
    sl_pos_format(&x->committed.source, pos, sizeof(pos));
    sl_log_set_position(pos);
    char applied[200];
    snprintf(applied, sizeof(applied), "offset %" PRId64 " (%s)", x->committed.kafka_offset,
             pos);
    sl_status_set_position(SL_STATUS_APPLIED, applied);
    return APP_TXN_OK;
}

/* 1 when a record at source position p has been applied already. */
static int already_applied(const app_txn_t *x, const sl_pos_t *p)
{
    if (x->in_cu)            /* the resumed table against its own progress */
        return x->cu_pos.kind != SL_POS_NONE && p->kind == x->cu_pos.kind &&
               sl_pos_cmp(p, &x->cu_pos) <= 0;
    return x->has_committed && p->kind != SL_POS_NONE &&
           p->kind == x->committed.source.kind &&
           sl_pos_cmp(p, &x->committed.source) <= 0;
}

static app_txn_rc_t feed_change(app_txn_t *x, sl_record_t **recp, const app_msg_t *m,
                                char *errstr, size_t errstr_size)
{
    const sl_record_t *rec = *recp;
    const sl_change_t *ch = &rec->u.change;
    uint32_t first = m->first_row;
    table_t *t = app_txn_table_get(x, ch->db, ch->table, 1);
    if (!t) {
        snprintf(errstr, errstr_size, "applier: out of memory");
        return APP_TXN_FATAL;
    }
    /* skip rows already applied (re-published by a restarted collector) */
    while (first < ch->nrows) {
        sl_pos_t p = rec->pos;
        p.row += first;
        if (!already_applied(x, &p))
            break;
        first++;
    }
    if (first >= ch->nrows && ch->op != SL_OP_TRUNCATE) {
        x->skipped++;
        sl_metric_inc(x->m_skipped);
        return APP_TXN_OK;
    }
    if (ch->op == SL_OP_TRUNCATE && already_applied(x, &rec->pos)) {
        x->skipped++;
        return APP_TXN_OK;
    }
    if (ch->op == SL_OP_TRUNCATE && (!table_schema(t) || sl_schema_dropped(table_schema(t)))) {
        /* a TRUNCATE of a table whose SCHEMA the collector still defers (created, then
         * truncated, before any row): nothing of this life is in the target yet */
        x->skipped++;
        sl_metric_inc(x->m_skipped);
        return APP_TXN_OK;
    }
    if (x->txn_first_offset < 0)
        x->txn_first_offset = m->offset;
    if (!t->included) {
        x->skipped++;
        sl_metric_inc(x->m_skipped);
        return APP_TXN_OK;
    }
    if (app_txn_stopped_at(t, m->offset)) {
        snprintf(errstr, errstr_size, "table %s.%s is stopped: %s", t->db, t->name,
                 t->stop.reason);
        return APP_TXN_TABLE_STOPPED;
    }
    sl_err_t err = table_map(x, t, errstr, errstr_size);
    if (err == SL_ERR_UNSUPPORTED)
        return app_txn_table_stop(x, t, errstr, x->txn_first_offset, errstr, errstr_size);
    if (err)
        return APP_TXN_REJECTED;
    /* every column of the change must be in the schema in force (usually at
     * the same index: checked there first) */
    const sl_schema_t *s = t->map.schema;
    for (uint32_t c = 0; c < ch->ncols; c++) {
        uint32_t k = c;
        if (k >= s->ncols || strcmp(s->cols[k].name, ch->columns[c]))
            for (k = 0; k < s->ncols; k++)
                if (!strcmp(s->cols[k].name, ch->columns[c]))
                    break;
        if (k == s->ncols) {
            snprintf(errstr, errstr_size,
                     "table %s.%s: column \"%s\" of the change is not in the table schema "
                     "in force", t->db, t->name, ch->columns[c]);
            return APP_TXN_REJECTED;
        }
    }
    /* a snapshot row is an upsert of the whole row in every target */
    if (ch->op == SL_OP_READ && app_read_check(ch, s, first, errstr, errstr_size))
        return APP_TXN_REJECTED;
    app_txn_rc_t rc = app_txn_ensure_open(x, errstr, errstr_size);
    if (rc)
        return rc;
    app_position_t pos = {.partition = x->c.partition, .kafka_offset = m->offset,
                          .sub_offset = first, .source = rec->pos};
    memcpy(pos.topic, x->group_pos.topic, sizeof(pos.topic));
    pos.source.row += first;
    uint32_t n = ch->op == SL_OP_TRUNCATE ? 0 : ch->nrows - first;
    if (x->c.ops->rows_take)
        err = x->c.ops->rows_take(x->c.target, &t->map, recp, first, n, &pos, errstr,
                                  errstr_size);
    else
        err = x->c.ops->rows(x->c.target, &t->map, rec, first, n, &pos, errstr, errstr_size);
    if (err == SL_ERR_UNSUPPORTED)
        return app_txn_table_stop(x, t, errstr, x->txn_first_offset, errstr, errstr_size);
    if (err) {
        app_txn_abort(x);
        return app_txn_rc_of(err);
    }
    x->txn_rows += n;
    x->group_rows += n;
    sl_metric_add(t->m_rows, n);
    return APP_TXN_OK;
}

/* The SCHEMA records of one DDL share its event (their row index differs). */
static int same_ddl(const sl_pos_t *a, const sl_pos_t *b)
{
    return a->kind == b->kind && a->seq == b->seq && a->offset == b->offset;
}

static void ren_forget(app_txn_t *x)
{
    x->ren_open = 0;
    x->ren_from = NULL;
    free(x->ren_schema);
    free(x->ren_table);
    x->ren_schema = x->ren_table = NULL;
}

/* ops->schema() with map.prev = the version before rec (rec is the newest
 * version of t; the previous one is kept until a commit moves past rec). */
static sl_err_t call_schema(app_txn_t *x, table_t *t, const sl_record_t *rec, int64_t offset,
                            char *errstr, size_t errstr_size)
{
    t->map.prev = t->nvers >= 2 ? &t->vers[t->nvers - 2].rec->u.schema : NULL;
    t->map.offset = offset;
    if (x->ren_open && !sl_schema_dropped(&rec->u.schema) && same_ddl(&rec->pos, &x->ren_pos)) {
        t->map.rename_schema = x->ren_schema;
        t->map.rename_table = x->ren_table;
        /* the target table renamed has the old name's last columns, not those of
         * an earlier life of the new name: a type changed by the rename, or by a
         * DDL deferred into it (ALTER TABLE a MODIFY c BIGINT; RENAME TABLE a TO
         * b, no row between), is altered from there */
        t->map.prev = NULL;
        const table_t *o = x->ren_from;
        for (size_t i = o ? o->nvers : 0; i-- > 0;)
            if (!sl_schema_dropped(&o->vers[i].rec->u.schema)) {
                t->map.prev = &o->vers[i].rec->u.schema;
                break;
            }
    }
    sl_err_t err = x->c.ops->schema(x->c.target, &t->map, rec, errstr, errstr_size);
    if (t->map.rename_table && err != SL_ERR_STATE)
        ren_forget(x);                  /* the pair is used (SL_ERR_STATE: called again) */
    t->map.prev = NULL;
    t->map.offset = -1;
    t->map.rename_schema = t->map.rename_table = NULL;
    return err;
}

/* 1 when a dropped-table SCHEMA comes from a rename (its DDL is not a
 * DROP): the table lives on under another name. */
static int renamed_away(const sl_schema_t *s)
{
    /* a SCHEMA the collector deferred carries the DDLs since the last one,
     * joined by ";\n": the last statement is the one that ended the table */
    const char *last = s->ddl, *p = s->ddl;
    while (p && (p = strstr(p, ";\n")))
        last = p += 2;
    size_t n = last ? strlen(last) : 0;
    return sl_ddl_is(last, n, "RENAME") || sl_ddl_is(last, n, "ALTER");
}

static app_txn_rc_t feed_schema(app_txn_t *x, sl_record_t **recp, const app_msg_t *m,
                                char *errstr, size_t errstr_size)
{
    sl_record_t *rec = *recp;
    sync_target(x);                     /* the table's map may change below */
    table_t *t = app_txn_table_get(x, rec->u.schema.db, rec->u.schema.table, 1);
    if (!t) {
        snprintf(errstr, errstr_size, "applier: out of memory");
        return APP_TXN_FATAL;
    }
    const sl_schema_t *cur = table_schema(t);
    if (cur && already_applied(x, &rec->pos) && x->has_committed) {
        /* an older or equal version re-published: keep the one in force */
        const sl_record_t *cr = t->vers[t->nvers - 1].rec;
        if (cr->pos.kind == rec->pos.kind && sl_pos_cmp(&rec->pos, &cr->pos) <= 0) {
            x->skipped++;
            return APP_TXN_OK;
        }
    }
    if (table_push(t, rec, m->offset)) {
        snprintf(errstr, errstr_size, "applier: out of memory");
        return APP_TXN_FATAL;
    }
    *recp = NULL;                       /* the table owns it now */
    t->mapped = NULL;
    if (!t->included)
        return APP_TXN_OK;
    if (t->stopped && m->offset >= t->stop.offset && sl_schema_dropped(&rec->u.schema)) {
        /* the life the stop belonged to ends here; a CREATE starts anew */
        app_txn_rc_t rc = app_txn_stop_dropped(x, t, m->offset, errstr, errstr_size);
        if (rc)
            return rc;
    }
    if (app_txn_stopped_at(t, m->offset)) {
        snprintf(errstr, errstr_size, "table %s.%s is stopped: %s", t->db, t->name,
                 t->stop.reason);
        return APP_TXN_TABLE_STOPPED;
    }
    sl_err_t err = table_map(x, t, errstr, errstr_size);
    if (err == SL_ERR_UNSUPPORTED)
        return app_txn_table_stop(x, t, errstr,
                                  x->txn_first_offset >= 0 ? x->txn_first_offset : m->offset,
                                  errstr, errstr_size);
    if (err)
        return APP_TXN_REJECTED;
    int gone_renamed = sl_schema_dropped(&rec->u.schema) && renamed_away(&rec->u.schema) &&
                       x->c.ddl_apply == APP_DDL_ALL;
    if (x->ren_open && !same_ddl(&rec->pos, &x->ren_pos)) {
        const sl_schema_t *before = t->nvers >= 2 ? &t->vers[t->nvers - 2].rec->u.schema : NULL;
        if (gone_renamed && (!before || sl_schema_dropped(before))) {
            /* renamed on before its new name had any SCHEMA (the collector
             * defers one that a later DDL changes before any row): the target
             * table of the first name follows the chain to its end */
            x->ren_pos = rec->pos;
            sl_info("table %s.%s renamed on in the source before it had a schema: the target "
                    "table %s.%s follows (%s)", t->db, t->name, x->ren_schema, x->ren_table,
                    rec->u.schema.ddl);
            return APP_TXN_OK;
        }
        ren_forget(x);                  /* renamed out of the task's tables: kept as it is */
    }
    if (gone_renamed) {
        /* the target table waits for the new name's SCHEMA, right behind */
        ren_forget(x);
        x->ren_schema = strdup(t->map.dst_schema);
        x->ren_table = strdup(t->map.dst_table);
        x->ren_pos = rec->pos;
        x->ren_from = t;
        x->ren_open = x->ren_schema && x->ren_table;
        sl_info("table %s.%s renamed away in the source (%s): its target table follows the "
                "new name", t->db, t->name, rec->u.schema.ddl);
        return APP_TXN_OK;
    }
    app_txn_rc_t rc = app_txn_ensure_open(x, errstr, errstr_size);
    if (rc)
        return rc;
    err = call_schema(x, t, rec, m->offset, errstr, errstr_size);
    if (err == SL_ERR_STATE && x->group_txns > 0) {
        /* DDL that cannot run inside the open target transaction (MySQL:
         * DDL commits implicitly and the transaction wrote to the table) */
        if (x->txn_first_offset < 0) {
            /* only complete source transactions are open: commit them,
             * then apply the schema in a new target transaction */
            sl_info("schema change of %s.%s: committing the %lld complete source "
                    "transaction(s) of the open target transaction first (%s DDL commits "
                    "implicitly)", t->db, t->name, (long long)x->group_txns, x->c.ops->name);
            if ((rc = commit_group(x, errstr, errstr_size)) ||
                (rc = app_txn_ensure_open(x, errstr, errstr_size)))
                return rc;
            err = call_schema(x, t, rec, m->offset, errstr, errstr_size);
        } else {
            /* a source transaction is in progress behind them: replay from
             * the stored position committing up to the last complete
             * COMMIT, so that the schema meets a fresh target transaction */
            int64_t at = x->group_pos.kafka_offset;
            sl_info("schema change of %s.%s inside a source transaction: replaying from the "
                    "stored position, committing up to offset %lld first (%s DDL commits "
                    "implicitly)", t->db, t->name, (long long)at, x->c.ops->name);
            app_txn_abort(x);
            app_txn_reset(x, x->has_committed ? &x->committed : NULL, at);
            return APP_TXN_REWIND;
        }
    }
    if (err == SL_ERR_STATE && m->offset == x->early_ddl_at) {
        /* its DDL ran before this source transaction (below): the target
         * table is in line already */
        err = SL_OK;
    } else if (err == SL_ERR_STATE) {
        /* the source transaction itself wrote the table before its schema
         * change (a PostgreSQL source: DDL inside a transaction). No target
         * transaction can hold both: run the DDL before the source
         * transaction, then replay it whole. Rows before the change are
         * written to the new shape (fine for added or widened columns; a
         * dropped or renamed column makes them fail: rejected as usual). */
        sl_info("schema change of %s.%s inside a source transaction that wrote the table "
                "before it: applying the DDL first, then replaying the source transaction "
                "from the stored position (%s DDL commits implicitly)", t->db, t->name,
                x->c.ops->name);
        app_txn_abort(x);
        if ((rc = app_txn_ensure_open(x, errstr, errstr_size)))
            return rc;
        err = call_schema(x, t, rec, m->offset, errstr, errstr_size);
        if (!err) {
            x->early_ddl_at = m->offset;
            int64_t at = x->commit_at;
            /* the DDL must outlive the replay: committed alone at the stored
             * position (a MySQL target committed it already; a parallel
             * target ran it in worker 0's transaction) */
            if (x->has_committed) {
                err = x->c.ops->commit(x->c.target, &x->committed, errstr, errstr_size);
                if (err) {
                    app_txn_abort(x);
                    return app_txn_rc_of(err);
                }
                x->open = 0;
            }
            app_txn_abort(x);
            app_txn_reset(x, x->has_committed ? &x->committed : NULL, at);
            return APP_TXN_REWIND;
        }
    }
    if (err == SL_ERR_UNSUPPORTED)
        return app_txn_table_stop(x, t, errstr,
                                  x->txn_first_offset >= 0 ? x->txn_first_offset : m->offset,
                                  errstr, errstr_size);
    if (err) {
        app_txn_abort(x);
        return app_txn_rc_of(err);
    }
    return APP_TXN_OK;
}

static app_txn_rc_t feed_commit(app_txn_t *x, const sl_record_t *rec, const app_msg_t *m,
                                char *errstr, size_t errstr_size)
{
    if (!x->cu)
        x->last_commit_pos = rec->pos;
    if (already_applied(x, &rec->pos)) {
        x->txn_rows = 0;
        x->txn_first_offset = -1;
        x->skipped++;
        sl_metric_inc(x->m_skipped);
        return APP_TXN_OK;
    }
    app_txn_rc_t rc = app_txn_ensure_open(x, errstr, errstr_size);
    if (rc)
        return rc;
    observe_txn(x, x->txn_rows);
    x->group_txns++;
    x->group_pos.partition = x->c.partition;
    x->group_pos.kafka_offset = m->offset;
    x->group_pos.sub_offset = -1;
    x->group_pos.source = rec->pos;
    x->group_commit_time_us = rec->u.commit.event_time_us;
    if (x->c.ops->txn_end)
        x->c.ops->txn_end(x->c.target, &x->group_pos);
    x->txn_rows = 0;
    x->txn_first_offset = -1;
    if (x->cu ||              /* catch-up: one source transaction per commit */
        (x->commit_at >= 0 && m->offset <= x->commit_at) ||
        x->group_rows >= x->c.write_batch ||
        sl_service_now_ms() - x->group_start_ms >= x->c.flush_interval_ms)
        return commit_group(x, errstr, errstr_size);
    return APP_TXN_OK;
}

static app_txn_rc_t feed_finish(app_txn_t *x, const sl_record_t *rec, const app_msg_t *m,
                                char *errstr, size_t errstr_size)
{
    sl_info("FINISH (%s) at offset %lld: %s", rec->u.finish.reason, (long long)m->offset,
            x->txn_first_offset >= 0 ? "rolling back the partial source transaction"
                                     : "no partial source transaction open");
    if (x->txn_first_offset < 0) {
        if (x->open && x->group_txns > 0)
            return commit_group(x, errstr, errstr_size);
        return APP_TXN_OK;
    }
    if (x->group_txns == 0) {
        app_txn_abort(x);
        return APP_TXN_OK;
    }
    /* complete transactions share the open target transaction with the
     * partial one: drop all, replay them alone up to their last COMMIT */
    int64_t at = x->group_pos.kafka_offset;
    app_txn_abort(x);
    app_txn_reset(x, x->has_committed ? &x->committed : NULL, at);
    return APP_TXN_REWIND;
}

/* During a catch-up (txn_stops.c): only the resumed table's records are
 * applied, with the skip rule against its own progress; the other tables'
 * records up to cu_end have been applied and are skipped. */
static app_txn_rc_t cu_feed(app_txn_t *x, sl_record_t **recp, const app_msg_t *m,
                            char *errstr, size_t errstr_size)
{
    const sl_record_t *rec = *recp;
    const table_t *t = x->cu;
    app_txn_rc_t rc;
    if (x->cu_reset)
        app_txn_cu_rewind(x);
    if (rec->type == SL_REC_CHANGE || rec->type == SL_REC_SCHEMA) {
        const char *db = rec->type == SL_REC_CHANGE ? rec->u.change.db : rec->u.schema.db;
        const char *name = rec->type == SL_REC_CHANGE ? rec->u.change.table
                                                      : rec->u.schema.table;
        if (strcmp(db, t->db) || strcmp(name, t->name)) {
            x->skipped++;
            return APP_TXN_OK;
        }
        x->in_cu = 1;
        rc = rec->type == SL_REC_CHANGE ? feed_change(x, recp, m, errstr, errstr_size)
                                        : feed_schema(x, recp, m, errstr, errstr_size);
        x->in_cu = 0;
        return rc;
    }
    if (rec->type == SL_REC_COMMIT) {
        if (x->txn_first_offset < 0)
            return APP_TXN_OK;       /* no row of the table in this transaction */
        x->in_cu = 1;
        rc = feed_commit(x, rec, m, errstr, errstr_size);
        x->in_cu = 0;
        return rc;
    }
    return feed_finish(x, rec, m, errstr, errstr_size);
}

app_txn_rc_t app_txn_feed(app_txn_t *x, sl_record_t **rec, const app_msg_t *m,
                          char *errstr, size_t errstr_size)
{
    errstr[0] = '\0';
    if (x->cu && m->offset > x->cu_end) {
        app_txn_rc_t rc = app_txn_cu_finish(x, errstr, errstr_size);
        if (rc)
            return rc;
    }
    if (x->cu) {
        app_txn_rc_t rc = cu_feed(x, rec, m, errstr, errstr_size);
        if (rc == APP_TXN_OK && x->cu && m->offset >= x->cu_end && x->txn_first_offset < 0)
            rc = app_txn_cu_finish(x, errstr, errstr_size);
        return rc;
    }
    switch ((*rec)->type) {
    case SL_REC_CHANGE: return feed_change(x, rec, m, errstr, errstr_size);
    case SL_REC_SCHEMA: return feed_schema(x, rec, m, errstr, errstr_size);
    case SL_REC_COMMIT: return feed_commit(x, *rec, m, errstr, errstr_size);
    case SL_REC_FINISH: return feed_finish(x, *rec, m, errstr, errstr_size);
    }
    snprintf(errstr, errstr_size, "unknown record type %d", (int)(*rec)->type);
    return APP_TXN_REJECTED;
}

/* The input is drained (nothing queued in the consumer): commits the group
 * of complete source transactions now rather than at write_batch rows or
 * flush.interval.ms. Under load the queue never drains and groups stay
 * large; once caught up, a change waits for one target commit, not for the
 * flush interval. Never commits part of a source transaction. */
app_txn_rc_t app_txn_idle(app_txn_t *x, char *errstr, size_t errstr_size)
{
    if (x->open && x->group_txns > 0 && x->txn_first_offset < 0)
        return commit_group(x, errstr, errstr_size);
    return APP_TXN_OK;
}

app_txn_rc_t app_txn_tick(app_txn_t *x, char *errstr, size_t errstr_size)
{
    if (x->open && x->group_txns > 0 && x->txn_first_offset < 0 &&
        sl_service_now_ms() - x->group_start_ms >= x->c.flush_interval_ms)
        return commit_group(x, errstr, errstr_size);
    return APP_TXN_OK;
}

int app_txn_next_deadline_ms(const app_txn_t *x)
{
    if (!(x->open && x->group_txns > 0 && x->txn_first_offset < 0))
        return -1;
    int64_t left = x->group_start_ms + x->c.flush_interval_ms - sl_service_now_ms();
    return left < 0 ? 0 : (int)left;
}

int app_txn_committed(const app_txn_t *x, app_position_t *pos)
{
    if (x->has_committed && pos)
        *pos = x->committed;
    return x->has_committed;
}

int64_t app_txn_open_since(const app_txn_t *x)
{
    return x->txn_first_offset;
}

int app_txn_group_txns(const app_txn_t *x)
{
    return (int)x->group_txns;
}

int64_t app_txn_group_end(const app_txn_t *x)
{
    return x->group_pos.kafka_offset;
}

uint64_t app_txn_skipped(const app_txn_t *x)
{
    return x->skipped;
}

int app_txn_stopped(const app_txn_t *x, char *buf, size_t size)
{
    size_t n = 0;
    if (size)
        buf[0] = '\0';
    for (int b = 0; b < 256 && x->nstopped; b++)
        for (const table_t *t = x->buckets[b]; t; t = t->next)
            if (t->stopped && n < size) {
                int w = snprintf(buf + n, size - n, "%stable %s.%s stopped: %s",
                                 n ? "; " : "", t->db, t->name, t->stop.reason);
                n = w < 0 ? size : n + (size_t)w;
            }
    if (x->cu && n < size)
        snprintf(buf + n, size - n, "%stable %s.%s catching up (resumed) from offset %lld to "
                 "%lld", n ? "; " : "", x->cu->db, x->cu->name,
                 (long long)x->cu->stop.offset, (long long)x->cu_end);
    return x->nstopped + (x->cu != NULL);
}
