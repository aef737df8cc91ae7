/* shiftlog-applier: the MongoDB target's lease (target.h, one active copy
 * per task). MongoDB has no session lock that dies with its connection, so
 * the lease is a document in the position collection,
 *   {_id: "lease:<task>", holder, epoch, expires}
 * taken with one conditional upsert — matched when it has expired or this
 * copy holds it, epoch raised by $inc; otherwise the upsert fails on the
 * _id (E11000) and another copy holds it — and renewed by its holder every
 * lease.ttl.ms / 3 (the core's lease checks). A holder that dies stops
 * renewing and a standby takes over once `expires` is past. Clocks: expires
 * is the holder's wall clock plus lease.ttl.ms, compared with the taker's
 * (keep the hosts' clocks synchronised well within the ttl).
 * On a takeover the task's position documents ("<task>", "<task>#i") get
 * the new epoch, so that a position write of the copy before stores
 * nothing any more (target_mongo.c fences it on the epoch). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "target_mongo.h"

struct app_lease_s {
    mg_target_t *t;            /* a connection of its own (the target's settings) */
    char        *id;           /* "lease:<task>" */
    char         holder[300];
    int64_t      epoch, ttl_ms;
    int64_t      renewed_ms;   /* wall clock of the last successful renewal */
};

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void app_mg_lease_drop(app_lease_t *l)
{
    if (!l)
        return;
    if (l->t && l->epoch) {
        /* given up on purpose (stop, fenced): a standby need not wait for the expiry */
        bson_error_t err;
        bson_t *sel = BCON_NEW("_id", BCON_UTF8(l->id), "holder", BCON_UTF8(l->holder),
                               "epoch", BCON_INT64(l->epoch));
        bson_t *upd = BCON_NEW("$set", "{", "expires", BCON_INT64(0), "}");
        mongoc_collection_update_one(l->t->ko, sel, upd, NULL, NULL, &err);
        bson_destroy(sel);
        bson_destroy(upd);
    }
    if (l->t)
        app_target_mongo.close((app_target_t *)(void *)l->t);
    free(l->id);
    free(l);
}

/* Every position document of the task gets epoch (never lowered). */
static sl_err_t stamp_positions(app_lease_t *l, const char *task, char *errstr, size_t sz)
{
    bson_error_t err;
    bson_t *sel = bson_new(), in, arr;
    bson_append_document_begin(sel, "_id.task", -1, &in);
    bson_append_array_begin(&in, "$in", -1, &arr);
    char name[300], k[16];
    for (int i = -1; i < 64; i++) {
        if (i < 0)
            snprintf(name, sizeof name, "%s", task);
        else
            snprintf(name, sizeof name, "%s#%d", task, i);
        snprintf(k, sizeof k, "%d", i + 1);
        BSON_APPEND_UTF8(&arr, k, name);
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(sel, &in);
    BCON_APPEND(sel, "epoch", "{", "$not", "{", "$gte", BCON_INT64(l->epoch), "}", "}");
    bson_t *upd = BCON_NEW("$set", "{", "epoch", BCON_INT64(l->epoch), "}");
    bool ok = mongoc_collection_update_many(l->t->ko, sel, upd, NULL, NULL, &err);
    bson_destroy(sel);
    bson_destroy(upd);
    if (!ok) {
        snprintf(errstr, sz, "mongodb lease of task %s: stamping the positions with epoch %"
                 PRId64 ": %s", task, l->epoch, err.message);
        return SL_ERR_DB;
    }
    return SL_OK;
}

sl_err_t app_mg_lease_take(app_lease_t **out, const app_target_conf_t *c, int64_t *epoch,
                           char *errstr, size_t sz)
{
    const char *task = c->lease_task ? c->lease_task : c->task;
    char host[128] = "?";
    sl_err_t e;
    bson_error_t err;
    *out = NULL;
    app_lease_t *l = calloc(1, sizeof(*l));
    if (!l)
        return SL_ERR_NOMEM;
    size_t n = strlen(task) + 7;
    if (!(l->id = malloc(n))) {
        free(l);
        return SL_ERR_NOMEM;
    }
    snprintf(l->id, n, "lease:%s", task);
    l->ttl_ms = c->lease_ttl_ms > 0 ? c->lease_ttl_ms : 10000;
    gethostname(host, sizeof(host) - 1);
    static int64_t started;
    if (!started)
        started = wall_ms();
    snprintf(l->holder, sizeof l->holder, "%s pid %ld started %" PRId64, host, (long)getpid(),
             started);
    if ((e = app_target_mongo.open((app_target_t **)(void *)&l->t, c, errstr, sz)))
        goto fail;
    int64_t now = wall_ms();
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(l->id), "$or", "[",
                           "{", "expires", "{", "$lt", BCON_INT64(now), "}", "}",
                           "{", "holder", BCON_UTF8(l->holder), "}", "]");
    bson_t *upd = BCON_NEW("$set", "{", "holder", BCON_UTF8(l->holder),
                           "expires", BCON_INT64(now + l->ttl_ms), "}",
                           "$inc", "{", "epoch", BCON_INT64(1), "}");
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    bool ok = mongoc_collection_update_one(l->t->ko, sel, upd, opts, NULL, &err);
    bson_destroy(sel); bson_destroy(upd); bson_destroy(opts);
    if (!ok && err.code == 11000) {
        snprintf(errstr, sz, "the lease of task %s is held by another copy (its document %s "
                 "has not expired)", task, l->id);
        e = SL_ERR_STATE;
        goto fail;
    }
    if (!ok) {
        snprintf(errstr, sz, "mongodb lease of task %s: %s", task, err.message);
        e = SL_ERR_DB;
        goto fail;
    }
    /* read back: the epoch this takeover made, and that it is ours */
    bson_t *q = BCON_NEW("_id", BCON_UTF8(l->id));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(l->t->ko, q, NULL, NULL);
    const bson_t *doc;
    bson_iter_t it;
    int mine = 0;
    if (mongoc_cursor_next(cur, &doc)) {
        mine = bson_iter_init_find(&it, doc, "holder") && BSON_ITER_HOLDS_UTF8(&it) &&
               !strcmp(bson_iter_utf8(&it, NULL), l->holder);
        if (bson_iter_init_find(&it, doc, "epoch") && BSON_ITER_HOLDS_NUMBER(&it))
            l->epoch = bson_iter_as_int64(&it);
    }
    ok = !mongoc_cursor_error(cur, &err);
    mongoc_cursor_destroy(cur);
    bson_destroy(q);
    if (!ok) {
        snprintf(errstr, sz, "mongodb lease of task %s: %s", task, err.message);
        e = SL_ERR_DB;
        goto fail;
    }
    if (!mine || l->epoch <= 0) {
        snprintf(errstr, sz, "the lease of task %s is held by another copy (taken at the same "
                 "time)", task);
        l->epoch = 0;
        e = SL_ERR_STATE;
        goto fail;
    }
    if ((e = stamp_positions(l, task, errstr, sz)))
        goto fail;
    l->renewed_ms = now;
    *epoch = l->epoch;
    *out = l;
    return SL_OK;
fail:
    app_mg_lease_drop(l);
    return e;
}

sl_err_t app_mg_lease_check(app_lease_t *l, char *errstr, size_t sz)
{
    bson_error_t err;
    bson_t reply;
    int64_t now = wall_ms();
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(l->id), "holder", BCON_UTF8(l->holder),
                           "epoch", BCON_INT64(l->epoch));
    bson_t *upd = BCON_NEW("$set", "{", "expires", BCON_INT64(now + l->ttl_ms), "}");
    bool ok = mongoc_collection_update_one(l->t->ko, sel, upd, NULL, &reply, &err);
    bson_destroy(sel);
    bson_destroy(upd);
    bson_iter_t it;
    int64_t matched = ok && bson_iter_init_find(&it, &reply, "matchedCount") &&
                      BSON_ITER_HOLDS_NUMBER(&it) ? bson_iter_as_int64(&it) : -1;
    bson_destroy(&reply);
    if (ok && matched == 1) {
        l->renewed_ms = now;
        return SL_OK;
    }
    if (ok && matched == 0) {
        snprintf(errstr, sz, "the lease %s was taken over by another copy (this copy held "
                 "epoch %" PRId64 ")", l->id, l->epoch);
        return SL_ERR_FENCED;
    }
    if (now - l->renewed_ms >= l->ttl_ms) {
        snprintf(errstr, sz, "the lease %s expired: not renewed for %" PRId64 " ms (%s)", l->id,
                 now - l->renewed_ms, ok ? "no matchedCount" : err.message);
        return SL_ERR_FENCED;
    }
    snprintf(errstr, sz, "renewing the lease %s: %s", l->id, ok ? "no matchedCount"
             : err.message);
    return SL_ERR_DB;
}
