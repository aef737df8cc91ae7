/* shiftlog-applier: the MongoDB target's stopped tables (target.h,
 * stops_load / stop_save / stop_clear): the collection shiftlog_stopped
 * beside the position collection, one document per (task, source_db,
 * source_table). MongoDB has no transaction here (target.h): inside an open
 * one, a save or clear waits for commit() and is written right after the
 * position — never before the data it speaks for (a catch-up's progress);
 * a crash between the two leaves the older document, and the guarded
 * replay makes reading again from there a no-op. Outside one it is written
 * at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target_mongo.h"

static mongoc_collection_t *coll(mg_target_t *t)
{
    return mongoc_client_get_collection(t->client, t->database, APP_STOPS_TABLE);
}

static bson_t *sel(mg_target_t *t, const char *db, const char *table)
{
    return BCON_NEW("task", BCON_UTF8(t->task), "source_db", BCON_UTF8(db),
                    "source_table", BCON_UTF8(table));
}

static sl_err_t write_one(mg_target_t *t, const mg_stop_op_t *op, char *errstr, size_t sz)
{
    bson_error_t err;
    mongoc_collection_t *c = coll(t);
    bson_t *q = sel(t, op->s.db, op->s.table);
    bool ok;
    if (op->clear) {
        ok = mongoc_collection_delete_one(c, q, NULL, NULL, &err);
    } else {
        bson_t *upd = BCON_NEW("$set", "{", "reason", BCON_UTF8(op->s.reason),
                               "kafka_offset", BCON_INT64(op->s.offset),
                               "source_position", BCON_UTF8(op->s.source_pos),
                               "resume_to", BCON_INT64(op->s.resume_to),
                               "since", BCON_DATE_TIME(op->s.since_ms), "}");
        bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
        ok = mongoc_collection_update_one(c, q, upd, opts, NULL, &err);
        bson_destroy(upd);
        bson_destroy(opts);
    }
    bson_destroy(q);
    mongoc_collection_destroy(c);
    if (!ok) {
        snprintf(errstr, sz, "mongodb target: %s the stop of %s.%s (task \"%s\"): %s",
                 op->clear ? "clearing" : "storing", op->s.db, op->s.table, t->task,
                 err.message);
        return SL_ERR_DB;
    }
    return SL_OK;
}

static sl_err_t put(mg_target_t *t, const mg_stop_op_t *op, char *errstr, size_t sz)
{
    if (!t->in_txn)
        return write_one(t, op, errstr, sz);
    if (t->nstop_ops == t->capstop_ops) {
        size_t cap = t->capstop_ops ? t->capstop_ops * 2 : 4;
        mg_stop_op_t *n = realloc(t->stop_ops, cap * sizeof(*n));
        if (!n)
            return SL_ERR_NOMEM;
        t->stop_ops = n;
        t->capstop_ops = cap;
    }
    t->stop_ops[t->nstop_ops++] = *op;
    return SL_OK;
}

sl_err_t app_mg_stop_save(app_target_t *at, const app_stop_t *s, char *errstr, size_t sz)
{
    mg_target_t *t = (mg_target_t *)at;
    mg_stop_op_t op = {.clear = 0, .s = *s};
    return put(t, &op, errstr, sz);
}

sl_err_t app_mg_stop_clear(app_target_t *at, const char *db, const char *table, char *errstr,
                           size_t sz)
{
    mg_target_t *t = (mg_target_t *)at;
    mg_stop_op_t op = {.clear = 1};
    snprintf(op.s.db, sizeof(op.s.db), "%s", db);
    snprintf(op.s.table, sizeof(op.s.table), "%s", table);
    return put(t, &op, errstr, sz);
}

sl_err_t app_mg_stops_flush(mg_target_t *t, char *errstr, size_t sz)
{
    sl_err_t e = SL_OK;
    for (size_t i = 0; i < t->nstop_ops && !e; i++)
        e = write_one(t, &t->stop_ops[i], errstr, sz);
    t->nstop_ops = 0;
    return e;
}

void app_mg_stops_drop(mg_target_t *t)
{
    t->nstop_ops = 0;
}

static void str_field(const bson_t *doc, const char *key, char *out, size_t size)
{
    bson_iter_t it;
    out[0] = '\0';
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        snprintf(out, size, "%s", bson_iter_utf8(&it, NULL));
}

static int64_t int_field(const bson_t *doc, const char *key, int64_t dflt)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key)) {
        if (BSON_ITER_HOLDS_NUMBER(&it))
            return bson_iter_as_int64(&it);
        if (BSON_ITER_HOLDS_DATE_TIME(&it))
            return bson_iter_date_time(&it);
    }
    return dflt;
}

sl_err_t app_mg_stops_load(app_target_t *at, app_stop_t **out, size_t *n, char *errstr,
                           size_t sz)
{
    mg_target_t *t = (mg_target_t *)at;
    bson_error_t err;
    const bson_t *doc;
    sl_err_t e = SL_OK;
    size_t cnt = 0, cap = 0;
    app_stop_t *s = NULL;
    *out = NULL;
    *n = 0;
    mongoc_collection_t *c = coll(t);
    bson_t *q = BCON_NEW("task", BCON_UTF8(t->task));
    bson_t *opts = BCON_NEW("sort", "{", "since", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, q, opts, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 4;
            app_stop_t *ns = realloc(s, nc * sizeof(*ns));
            if (!ns) {
                e = SL_ERR_NOMEM;
                break;
            }
            s = ns;
            cap = nc;
        }
        app_stop_t *x = &s[cnt++];
        memset(x, 0, sizeof(*x));
        str_field(doc, "source_db", x->db, sizeof(x->db));
        str_field(doc, "source_table", x->table, sizeof(x->table));
        str_field(doc, "reason", x->reason, sizeof(x->reason));
        str_field(doc, "source_position", x->source_pos, sizeof(x->source_pos));
        x->offset = int_field(doc, "kafka_offset", 0);
        x->resume_to = int_field(doc, "resume_to", -1);
        x->since_ms = int_field(doc, "since", 0);
    }
    if (!e && mongoc_cursor_error(cur, &err)) {
        snprintf(errstr, sz, "mongodb target: reading the stopped tables of task \"%s\": %s",
                 t->task, err.message);
        e = SL_ERR_DB;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(q);
    bson_destroy(opts);
    mongoc_collection_destroy(c);
    if (e) {
        free(s);
        return e;
    }
    *out = s;
    *n = cnt;
    return SL_OK;
}
