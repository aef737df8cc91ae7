/* shiftlog-miner: per-table stop/resume, catch-up and gaps (control.h; the
 * catch-up thread itself is catchup.c).
 *
 * Stop: between two batches main marks the table stopped at its next Kafka
 * offset (stopped_at.offset) and the last position it handled
 * (stopped_at.pos); from then on main skips that table's rows and writes
 * everything else. Nothing else waits.
 *
 * Resume: if the topic still holds stopped_at.offset, a catch-up thread
 * (own consumer without a group, own writer) reads from there and writes
 * the table's rows, while main keeps skipping them. Hand-off, under ctl->mu:
 * at each message o the catch-up thread (having made everything before o
 * durable) checks main's next offset; when main has not reached o yet it
 * sets handoff = o and ends; main writes the table's rows from offset
 * handoff on. Every row is written by exactly one of them, in order. If the
 * topic no longer holds the start (Kafka retention), a gap document says
 * which offsets of that table are lost, the table's control document keeps
 * it (`shiftlog mining status` shows it), and catch-up starts at the first
 * offset still held. Restart-safe: the catch-up thread persists its next
 * offset after each durable write; replays are idempotent (same `_id`). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "control_int.h"
#include "sl_log.h"
#include "sl_logdoc.h"
#include "sl_service.h"

static uint64_t hs(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static mtable_t *tget(mine_ctl_t *ctl, const char *name, int create)
{
    uint64_t h = hs(name) % TBUCKETS;
    for (mtable_t *t = ctl->bucket[h]; t; t = t->next)
        if (!strcmp(t->name, name))
            return t;
    if (!create)
        return NULL;
    mtable_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->name = strdup(name);
    t->handoff = -1;
    t->stop_offset = -1;
    t->ctl = ctl;
    const char *lab[] = {"table", name, NULL};
    t->m_rows = sl_metrics_counter(ctl->conf.metrics, "shiftlog_miner_rows_total",
                                   "Change rows written to the shared log, per table.", lab);
    t->m_skipped = sl_metrics_counter(ctl->conf.metrics, "shiftlog_miner_skipped_rows_total",
                                      "Change rows not written by the main loop because the "
                                      "table was stopped or catching up.", lab);
    t->m_stopped = sl_metrics_gauge(ctl->conf.metrics, "shiftlog_miner_table_stopped",
                                    "1 while the table is stopped, 2 while it catches up.",
                                    lab);
    t->next = ctl->bucket[h];
    ctl->bucket[h] = t;
    t->next_all = ctl->all;
    ctl->all = t;
    return t;
}

sl_err_t mine_ctl_new(mine_ctl_t **out, const mine_ctl_conf_t *conf, char *errstr,
                      size_t errstr_size)
{
    mine_ctl_t *ctl = calloc(1, sizeof(*ctl));
    *out = NULL;
    if (!ctl)
        return SL_ERR_NOMEM;
    ctl->conf = *conf;
    pthread_mutex_init(&ctl->mu, NULL);
    ctl->client = mine_store_pop(conf->store);
    ctl->m_stopped_tables = sl_metrics_gauge(conf->metrics, "shiftlog_miner_stopped_tables",
                                             "Tables currently stopped (not mined).", NULL);
    ctl->m_gaps = sl_metrics_counter(conf->metrics, "shiftlog_miner_gaps_total",
                                     "Gaps recorded: changes Kafka no longer held when they "
                                     "were to be mined.", NULL);
    *out = ctl;
    (void)errstr;
    (void)errstr_size;
    return SL_OK;
}

void mine_ctl_destroy(mine_ctl_t *ctl)
{
    if (!ctl)
        return;
    for (mtable_t *t = ctl->all; t; t = t->next_all)
        mine_catchup_stop(t);
    mtable_t *t = ctl->all;
    while (t) {
        mtable_t *n = t->next_all;
        free(t->name);
        free(t);
        t = n;
    }
    mine_schema_t *s = ctl->schemas;
    while (s) {
        mine_schema_t *n = s->next_version;
        sl_record_destroy(s->rec);
        free(s->table);
        free(s->pk);
        free(s);
        s = n;
    }
    mine_store_push(ctl->conf.store, ctl->client);
    pthread_mutex_destroy(&ctl->mu);
    free(ctl);
}

/* ---------------------------------------------------------------- schemas */

const mine_schema_t *mine_ctl_schema(mine_ctl_t *ctl, const char *table)
{
    mtable_t *t = tget(ctl, table, 0);
    return t ? t->schema : NULL;
}

static mine_schema_t *schema_new(sl_record_t *rec)
{
    const sl_schema_t *s = &rec->u.schema;
    char table[512];
    mine_schema_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->rec = rec;
    m->table = strdup(sl_logdoc_table_name(s->db, s->table, table, sizeof table));
    m->pk = calloc(s->ncols ? s->ncols : 1, sizeof(*m->pk));
    /* key columns in key order (pk is the 1-based position in the key) */
    for (int k = 1; k <= (int)s->ncols; k++)
        for (uint32_t i = 0; i < s->ncols; i++)
            if (s->cols[i].pk == k)
                m->pk[m->npk++] = i;
    return m;
}

const mine_schema_t *mine_ctl_add_schema(mine_ctl_t *ctl, sl_record_t *rec)
{
    mine_schema_t *m = schema_new(rec);
    if (!m)
        return NULL;
    m->next_version = ctl->schemas;
    ctl->schemas = m;
    pthread_mutex_lock(&ctl->mu);
    mtable_t *t = tget(ctl, m->table, 1);
    if (t) {
        t->schema = m;
        t->schema_dirty = 1;
    }
    pthread_mutex_unlock(&ctl->mu);
    return m;
}

/* ------------------------------------------------------------------ gates */

/* Catch-ups that handed over at or before `offset` (the next offset main
 * decides) are done: main writes their table from now on. Under mu. */
static void handoffs(mine_ctl_t *ctl, int64_t offset)
{
    for (mtable_t *t = ctl->all; t; t = t->next_all)
        if (t->state == MINE_TS_CATCHUP && t->handoff >= 0 && offset >= t->handoff) {
            t->state = MINE_TS_RUNNING;
            t->dirty = 1;
            ctl->ncatchup--;
            sl_metric_set(t->m_stopped, 0);
            sl_info("table %s caught up: main mines it again from Kafka offset %" PRId64,
                    t->name, t->handoff);
        }
}

int mine_ctl_gate(mine_ctl_t *ctl, const char *table, int64_t offset)
{
    int write = 1;
    if (!ctl->ncatchup) {
        if (!table)
            return 1;
        mtable_t *t = tget(ctl, table, 0);
        if (t && t->state == MINE_TS_STOPPED) {
            t->skipped++;
            sl_metric_inc(t->m_skipped);
            return 0;
        }
        return 1;
    }
    pthread_mutex_lock(&ctl->mu);
    handoffs(ctl, offset);
    if (table) {
        mtable_t *t = tget(ctl, table, 0);
        if (t && t->state != MINE_TS_RUNNING) {
            t->skipped++;
            sl_metric_inc(t->m_skipped);
            write = 0;
        }
    }
    ctl->main_next = offset + 1;
    pthread_mutex_unlock(&ctl->mu);
    return write;
}

void mine_ctl_mined(mine_ctl_t *ctl, const char *table, uint64_t rows, const sl_pos_t *last,
                    int64_t time_us)
{
    pthread_mutex_lock(&ctl->mu);
    mtable_t *t = tget(ctl, table, 1);
    if (t) {
        t->mined += rows;
        t->last_pos = *last;
        t->last_time_us = time_us;
        t->dirty = 1;
        sl_metric_add(t->m_rows, rows);
    }
    pthread_mutex_unlock(&ctl->mu);
}

void mine_ctl_set_main(mine_ctl_t *ctl, int64_t next_offset, const sl_pos_t *last_pos)
{
    pthread_mutex_lock(&ctl->mu);
    if (next_offset > ctl->main_next)
        ctl->main_next = next_offset;
    if (last_pos)
        ctl->main_pos = *last_pos;
    pthread_mutex_unlock(&ctl->mu);
}

int mine_ctl_failed(mine_ctl_t *ctl, char *errstr, size_t errstr_size)
{
    int f;
    pthread_mutex_lock(&ctl->mu);
    f = ctl->failed;
    if (f)
        snprintf(errstr, errstr_size, "%s", ctl->fail);
    pthread_mutex_unlock(&ctl->mu);
    return f;
}

int mine_ctl_stopped_count(mine_ctl_t *ctl)
{
    int n = 0;
    pthread_mutex_lock(&ctl->mu);
    for (mtable_t *t = ctl->all; t; t = t->next_all)
        n += t->state == MINE_TS_STOPPED;
    pthread_mutex_unlock(&ctl->mu);
    return n;
}

/* ------------------------------------------------------------------- gaps */

sl_err_t mine_ctl_low_watermark(rd_kafka_t *rk, const char *topic, int64_t *low,
                                char *errstr, size_t errstr_size)
{
    int64_t hi = 0;
    sl_err_t err = sl_kafka_watermarks(rk, topic, 0, low, &hi, 10000, errstr, errstr_size);
    return err == SL_ERR_TIMEOUT ? SL_ERR_KAFKA : err;
}

sl_err_t mine_ctl_record_gap(mine_store_t *st, mongoc_client_t *c, const char *table,
                             const sl_pos_t *after, int64_t from_offset, int64_t to_offset,
                             char *errstr, size_t errstr_size)
{
    char reason[512], ptxt[200];
    bson_t *doc = bson_new();
    sl_pos_format(after, ptxt, sizeof ptxt);
    snprintf(reason, sizeof reason,
             "Kafka no longer holds offsets %" PRId64 "..%" PRId64 " of the topic (retention): "
             "the changes of %s after %s in them are not in the log",
             from_offset, to_offset - 1, !strcmp(table, "*") ? "every table" : table, ptxt);
    sl_error("GAP in the shared log: %s", reason);
    sl_logdoc_gap(doc, table, after, from_offset, to_offset, reason);
    sl_err_t err = mine_store_insert_docs(st, c, doc, errstr, errstr_size);
    bson_destroy(doc);
    return err;
}

/* ------------------------------------------------------- requests, state */

void mine_ctl_table_fail(mtable_t *t, const char *msg)
{
    mine_ctl_t *ctl = t->ctl;
    pthread_mutex_lock(&ctl->mu);
    if (!ctl->failed) {
        ctl->failed = 1;
        snprintf(ctl->fail, sizeof ctl->fail, "catch-up of table %s: %s", t->name, msg);
    }
    pthread_mutex_unlock(&ctl->mu);
}

static void do_stop(mine_ctl_t *ctl, mtable_t *t)
{
    int was_catchup = t->state == MINE_TS_CATCHUP;
    if (was_catchup) {
        mine_catchup_stop(t);
        ctl->ncatchup--;
    }
    pthread_mutex_lock(&ctl->mu);
    if (was_catchup && t->handoff < 0) {
        t->stop_offset = t->catchup_next;   /* the catch-up got this far */
    } else {
        t->stop_offset = ctl->main_next;
        t->stop_pos = ctl->main_pos;
    }
    t->state = MINE_TS_STOPPED;
    t->stop_time_ms = now_ms();
    t->dirty = 1;
    pthread_mutex_unlock(&ctl->mu);
    sl_metric_set(t->m_stopped, 1);
    char ptxt[200];
    sl_pos_format(&t->stop_pos, ptxt, sizeof ptxt);
    sl_info("table %s stopped at Kafka offset %" PRId64 " (after %s); the other tables go on",
            t->name, t->stop_offset, ptxt);
}

static void do_resume(mine_ctl_t *ctl, mtable_t *t)
{
    pthread_mutex_lock(&ctl->mu);
    t->state = MINE_TS_CATCHUP;
    t->catchup_next = t->stop_offset >= 0 ? t->stop_offset : ctl->main_next;
    t->handoff = -1;
    t->dirty = 1;
    pthread_mutex_unlock(&ctl->mu);
    ctl->ncatchup++;
    sl_metric_set(t->m_stopped, 2);
    sl_info("table %s resumed: catching up from Kafka offset %" PRId64, t->name,
            t->catchup_next);
    if (mine_catchup_start(t))
        mine_ctl_table_fail(t, "cannot start the catch-up thread");
}

sl_err_t mine_ctl_poll(mine_ctl_t *ctl, int *source_paused, char *errstr, size_t errstr_size)
{
    bson_error_t e;
    const bson_t *doc;
    sl_err_t err = SL_OK;
    mongoc_collection_t *coll = mine_store_coll(ctl->conf.store, ctl->client,
                                                ctl->conf.store->control_name);
    if (ctl->ncatchup) {
        pthread_mutex_lock(&ctl->mu);
        handoffs(ctl, ctl->main_next);
        pthread_mutex_unlock(&ctl->mu);
    }
    bson_t *filter = BCON_NEW(SL_LOGDOC_CTL_WANT, "{", "$exists", BCON_BOOL(true), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        const char *id = NULL, *want = NULL;
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
            id = bson_iter_utf8(&it, NULL);
        if (bson_iter_init_find(&it, doc, SL_LOGDOC_CTL_WANT) && BSON_ITER_HOLDS_UTF8(&it))
            want = bson_iter_utf8(&it, NULL);
        if (!id || !want)
            continue;
        int stop = !strcmp(want, SL_LOGDOC_CTL_WANT_STOP);
        if (!strcmp(id, "source")) {
            if (*source_paused != stop)
                sl_info("source %s by `shiftlog mining %s`", stop ? "paused" : "resumed",
                        stop ? "stop" : "resume");
            *source_paused = stop;
            continue;
        }
        if (strncmp(id, SL_LOGDOC_CTL_TABLE_PREFIX, strlen(SL_LOGDOC_CTL_TABLE_PREFIX)))
            continue;
        mtable_t *t;
        pthread_mutex_lock(&ctl->mu);
        t = tget(ctl, id + 6, 1);
        pthread_mutex_unlock(&ctl->mu);
        if (!t)
            continue;
        if (stop && t->state != MINE_TS_STOPPED)
            do_stop(ctl, t);
        else if (!stop && t->state == MINE_TS_STOPPED)
            do_resume(ctl, t);
    }
    if (mongoc_cursor_error(cur, &e)) {
        snprintf(errstr, errstr_size, "reading %s: %s", ctl->conf.store->control_name,
                 e.message);
        err = SL_ERR_DB;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    sl_metric_set(ctl->m_stopped_tables, mine_ctl_stopped_count(ctl));
    return err;
}

static const char *state_name(mine_tstate_t s)
{
    return s == MINE_TS_STOPPED ? SL_LOGDOC_CTL_STOPPED
         : s == MINE_TS_CATCHUP ? SL_LOGDOC_CTL_CATCHING_UP : SL_LOGDOC_CTL_RUNNING;
}

sl_err_t mine_ctl_flush(mine_ctl_t *ctl, char *errstr, size_t errstr_size)
{
    sl_err_t err = SL_OK;
    for (mtable_t *t = ctl->all; t && !err; t = t->next_all) {
        char id[600], ptxt[200], sp[200], gp[200];
        bson_t *set = NULL;
        const mine_schema_t *schema_to_write = NULL;
        pthread_mutex_lock(&ctl->mu);
        if (t->dirty) {
            set = bson_new();
            sl_pos_format(&t->last_pos, ptxt, sizeof ptxt);
            BSON_APPEND_UTF8(set, "table", t->name);
            BSON_APPEND_UTF8(set, SL_LOGDOC_CTL_STATE, state_name(t->state));
            BSON_APPEND_INT64(set, "mined", (int64_t)t->mined);
            BSON_APPEND_INT64(set, "skipped", (int64_t)t->skipped);
            if (t->last_pos.kind)
                BSON_APPEND_UTF8(set, "last_pos", ptxt);
            if (t->last_time_us)
                BSON_APPEND_DATE_TIME(set, "last_time", t->last_time_us / 1000);
            if (t->stop_offset >= 0) {
                bson_t s;
                sl_pos_format(&t->stop_pos, sp, sizeof sp);
                BSON_APPEND_DOCUMENT_BEGIN(set, SL_LOGDOC_CTL_STOPPED_AT, &s);
                BSON_APPEND_INT64(&s, "offset", t->stop_offset);
                BSON_APPEND_UTF8(&s, "pos", sp);
                BSON_APPEND_DATE_TIME(&s, "time", t->stop_time_ms);
                bson_append_document_end(set, &s);
            }
            if (t->state == MINE_TS_CATCHUP) {
                BSON_APPEND_INT64(set, "catchup.next", t->catchup_next);
                BSON_APPEND_INT64(set, "catchup.handoff", t->handoff);
            }
            if (t->has_gap) {
                bson_t g;
                sl_pos_format(&t->gap_after, gp, sizeof gp);
                BSON_APPEND_DOCUMENT_BEGIN(set, "gap", &g);
                BSON_APPEND_INT64(&g, "from_offset", t->gap_from);
                BSON_APPEND_INT64(&g, "to_offset", t->gap_to);
                BSON_APPEND_UTF8(&g, "after_pos", gp);
                bson_append_document_end(set, &g);
            }
            BSON_APPEND_DATE_TIME(set, "updated", now_ms());
            t->dirty = 0;
        }
        if (t->schema_dirty) {
            schema_to_write = t->schema;
            t->schema_dirty = 0;
        }
        pthread_mutex_unlock(&ctl->mu);
        snprintf(id, sizeof id, SL_LOGDOC_CTL_TABLE_PREFIX "%s", t->name);
        if (set) {
            err = mine_store_upsert_set(ctl->conf.store, ctl->client,
                                        ctl->conf.store->control_name, id, set, NULL, errstr,
                                        errstr_size);
            bson_destroy(set);
        }
        if (!err && schema_to_write) {
            bson_t *s = bson_new();
            sl_logdoc_ctx_t x = {.offset = -1};
            sl_logdoc_schema(s, schema_to_write->rec, &x);
            bson_t *wrap = bson_new();
            BSON_APPEND_DOCUMENT(wrap, "schema", s);
            snprintf(id, sizeof id, "schema:%s", t->name);
            err = mine_store_upsert_set(ctl->conf.store, ctl->client,
                                        ctl->conf.store->control_name, id, wrap, NULL, errstr,
                                        errstr_size);
            bson_destroy(wrap);
            bson_destroy(s);
        }
    }
    return err;
}

sl_err_t mine_ctl_load(mine_ctl_t *ctl, int64_t next_offset, char *errstr, size_t errstr_size)
{
    bson_error_t e;
    const bson_t *doc;
    sl_err_t err = SL_OK;
    mongoc_collection_t *coll = mine_store_coll(ctl->conf.store, ctl->client,
                                                ctl->conf.store->control_name);
    bson_t *filter = bson_new();
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    ctl->main_next = next_offset;
    while (!err && mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it, sub;
        const char *id = NULL;
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
            id = bson_iter_utf8(&it, NULL);
        if (!id)
            continue;
        if (!strncmp(id, "schema:", 7)) {
            if (!bson_iter_init_find(&it, doc, "schema") || !BSON_ITER_HOLDS_DOCUMENT(&it))
                continue;
            uint32_t len;
            const uint8_t *data;
            bson_t sd;
            bson_iter_document(&it, &len, &data);
            bson_init_static(&sd, data, len);
            sl_record_t *rec = sl_record_new();
            if (mine_schema_from_doc(&sd, rec, errstr, errstr_size) == SL_OK) {
                rec->type = SL_REC_SCHEMA;
                const mine_schema_t *m = mine_ctl_add_schema(ctl, rec);
                mtable_t *t = m ? tget(ctl, m->table, 0) : NULL;
                if (t)
                    t->schema_dirty = 0;
            } else {
                sl_record_destroy(rec);
            }
            continue;
        }
        if (strncmp(id, SL_LOGDOC_CTL_TABLE_PREFIX, strlen(SL_LOGDOC_CTL_TABLE_PREFIX)))
            continue;
        mtable_t *t = tget(ctl, id + 6, 1);
        if (!t)
            continue;
        if (bson_iter_init_find(&it, doc, SL_LOGDOC_CTL_STATE) && BSON_ITER_HOLDS_UTF8(&it)) {
            const char *s = bson_iter_utf8(&it, NULL);
            t->state = !strcmp(s, SL_LOGDOC_CTL_STOPPED) ? MINE_TS_STOPPED
                     : !strcmp(s, SL_LOGDOC_CTL_CATCHING_UP) ? MINE_TS_CATCHUP : MINE_TS_RUNNING;
        }
        if (bson_iter_init_find(&it, doc, "mined"))
            t->mined = (uint64_t)bson_iter_as_int64(&it);
        if (bson_iter_init_find(&it, doc, "skipped"))
            t->skipped = (uint64_t)bson_iter_as_int64(&it);
        if (bson_iter_init_find(&it, doc, "last_pos") && BSON_ITER_HOLDS_UTF8(&it))
            sl_pos_parse(bson_iter_utf8(&it, NULL), &t->last_pos, errstr, errstr_size);
        if (bson_iter_init_find(&it, doc, "last_time") && BSON_ITER_HOLDS_DATE_TIME(&it))
            t->last_time_us = bson_iter_date_time(&it) * 1000;
        if (bson_iter_init_find(&it, doc, SL_LOGDOC_CTL_STOPPED_AT) && bson_iter_recurse(&it, &sub)) {
            while (bson_iter_next(&sub)) {
                const char *k = bson_iter_key(&sub);
                if (!strcmp(k, "offset"))
                    t->stop_offset = bson_iter_as_int64(&sub);
                else if (!strcmp(k, "pos") && BSON_ITER_HOLDS_UTF8(&sub))
                    sl_pos_parse(bson_iter_utf8(&sub, NULL), &t->stop_pos, errstr,
                                 errstr_size);
                else if (!strcmp(k, "time") && BSON_ITER_HOLDS_DATE_TIME(&sub))
                    t->stop_time_ms = bson_iter_date_time(&sub);
            }
        }
        if (bson_iter_init_find(&it, doc, "catchup") && bson_iter_recurse(&it, &sub))
            while (bson_iter_next(&sub))
                if (!strcmp(bson_iter_key(&sub), "next"))
                    t->catchup_next = bson_iter_as_int64(&sub);
        if (bson_iter_init_find(&it, doc, "gap") && bson_iter_recurse(&it, &sub)) {
            t->has_gap = 1;
            while (bson_iter_next(&sub)) {
                const char *k = bson_iter_key(&sub);
                if (!strcmp(k, "from_offset"))
                    t->gap_from = bson_iter_as_int64(&sub);
                else if (!strcmp(k, "to_offset"))
                    t->gap_to = bson_iter_as_int64(&sub);
                else if (!strcmp(k, "after_pos") && BSON_ITER_HOLDS_UTF8(&sub))
                    sl_pos_parse(bson_iter_utf8(&sub, NULL), &t->gap_after, errstr,
                                 errstr_size);
            }
        }
        if (t->state == MINE_TS_STOPPED)
            sl_metric_set(t->m_stopped, 1);
    }
    errstr[0] = '\0';
    if (mongoc_cursor_error(cur, &e)) {
        snprintf(errstr, errstr_size, "reading %s: %s", ctl->conf.store->control_name,
                 e.message);
        err = SL_ERR_DB;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    if (err)
        return err;
    for (mtable_t *t = ctl->all; t; t = t->next_all)
        if (t->state == MINE_TS_CATCHUP) {
            ctl->ncatchup++;
            sl_metric_set(t->m_stopped, 2);
            sl_info("table %s was catching up: going on from Kafka offset %" PRId64, t->name,
                    t->catchup_next);
            if (mine_catchup_start(t))
                mine_ctl_table_fail(t, "cannot start the catch-up thread");
        }
    return SL_OK;
}
