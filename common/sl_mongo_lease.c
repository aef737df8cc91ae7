/* shiftlog: a lease document with a fencing epoch in MongoDB (see sl_mongo_lease.h). */
#include "sl_mongo_lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The lease's write options: upsert or not, the caller's write concern. */
static bson_t *write_opts(const sl_mongo_lease_t *l, int upsert)
{
    bson_t *opts = bson_new();
    if (upsert)
        BSON_APPEND_BOOL(opts, "upsert", true);
    if (l->wc)
        mongoc_write_concern_append((mongoc_write_concern_t *)l->wc, opts);
    return opts;
}

void sl_mongo_lease_init(sl_mongo_lease_t *l, mongoc_collection_t *coll, const char *id,
                         const char *what, int64_t ttl_ms, const mongoc_write_concern_t *wc)
{
    static int64_t started;
    char host[128] = "?";
    memset(l, 0, sizeof(*l));
    l->coll = coll;
    l->wc = wc;
    l->what = what;
    l->ttl_ms = ttl_ms;
    snprintf(l->id, sizeof l->id, "%s", id);
    gethostname(host, sizeof(host) - 1);
    /* a pid alone comes back after a restart (a container's pid is often 1) */
    if (!started)
        started = wall_ms();
    snprintf(l->holder, sizeof l->holder, "%s pid %ld started %" PRId64, host, (long)getpid(),
             started);
}

void sl_mongo_fence_append(bson_t *sel, int64_t epoch)
{
    BCON_APPEND(sel, "epoch", "{", "$not", "{", "$gt", BCON_INT64(epoch), "}", "}");
}

int sl_mongo_fenced(const bson_error_t *err, int64_t epoch)
{
    return epoch > 0 && err->code == 11000;
}

sl_err_t sl_mongo_lease_take(sl_mongo_lease_t *l, char *errstr, size_t sz)
{
    bson_error_t err;
    int64_t now = wall_ms();
    l->epoch = 0;
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(l->id));
    if (l->ttl_ms > 0)
        BCON_APPEND(sel, "$or", "[", "{", "expires", "{", "$lt", BCON_INT64(now), "}", "}",
                    "{", "holder", BCON_UTF8(l->holder), "}", "]");
    bson_t *upd = BCON_NEW("$set", "{", "holder", BCON_UTF8(l->holder),
                           "expires", BCON_INT64(l->ttl_ms > 0 ? now + l->ttl_ms : 0), "}",
                           "$inc", "{", "epoch", BCON_INT64(1), "}");
    bson_t *opts = write_opts(l, 1);
    bool ok = mongoc_collection_update_one(l->coll, sel, upd, opts, NULL, &err);
    bson_destroy(sel);
    bson_destroy(upd);
    bson_destroy(opts);
    if (!ok && err.code == 11000) {
        snprintf(errstr, sz, "the lease of %s is held by another copy (its document %s has "
                 "not expired)", l->what, l->id);
        return SL_ERR_STATE;
    }
    if (!ok) {
        snprintf(errstr, sz, "mongodb lease of %s: %s", l->what, err.message);
        return SL_ERR_DB;
    }
    /* read back: the epoch this takeover made, and that it is ours */
    bson_t *q = BCON_NEW("_id", BCON_UTF8(l->id));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(l->coll, q, NULL, NULL);
    const bson_t *doc;
    bson_iter_t it;
    int mine = 0;
    int64_t epoch = 0;
    if (mongoc_cursor_next(cur, &doc)) {
        mine = bson_iter_init_find(&it, doc, "holder") && BSON_ITER_HOLDS_UTF8(&it) &&
               !strcmp(bson_iter_utf8(&it, NULL), l->holder);
        if (bson_iter_init_find(&it, doc, "epoch") && BSON_ITER_HOLDS_NUMBER(&it))
            epoch = bson_iter_as_int64(&it);
    }
    ok = !mongoc_cursor_error(cur, &err);
    mongoc_cursor_destroy(cur);
    bson_destroy(q);
    if (!ok) {
        snprintf(errstr, sz, "mongodb lease of %s: %s", l->what, err.message);
        return SL_ERR_DB;
    }
    if (!mine || epoch <= 0) {
        snprintf(errstr, sz, "the lease of %s is held by another copy (taken at the same "
                 "time)", l->what);
        return SL_ERR_STATE;
    }
    l->epoch = epoch;
    l->renewed_ms = now;
    return SL_OK;
}

sl_err_t sl_mongo_lease_check(sl_mongo_lease_t *l, char *errstr, size_t sz)
{
    bson_error_t err;
    bson_t reply;
    int64_t now = wall_ms();
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(l->id), "holder", BCON_UTF8(l->holder),
                           "epoch", BCON_INT64(l->epoch));
    bson_t *opts = write_opts(l, 0);
    bool ok;
    int64_t matched = -1;
    bson_iter_t it;
    if (l->ttl_ms > 0) {
        bson_t *upd = BCON_NEW("$set", "{", "expires", BCON_INT64(now + l->ttl_ms), "}");
        ok = mongoc_collection_update_one(l->coll, sel, upd, opts, &reply, &err);
        bson_destroy(upd);
        if (ok && bson_iter_init_find(&it, &reply, "matchedCount") &&
            BSON_ITER_HOLDS_NUMBER(&it))
            matched = bson_iter_as_int64(&it);
        bson_destroy(&reply);
    } else {
        /* an epoch only: a read, as this runs before every batch of a miner */
        bson_t *fo = BCON_NEW("limit", BCON_INT64(1), "projection", "{", "_id",
                              BCON_INT32(1), "}");
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(l->coll, sel, fo, NULL);
        const bson_t *doc;
        matched = mongoc_cursor_next(cur, &doc) ? 1 : 0;
        ok = !mongoc_cursor_error(cur, &err);
        mongoc_cursor_destroy(cur);
        bson_destroy(fo);
    }
    bson_destroy(sel);
    bson_destroy(opts);
    if (ok && matched == 1) {
        l->renewed_ms = now;
        return SL_OK;
    }
    if (ok && matched == 0) {
        snprintf(errstr, sz, "the lease of %s (document %s) was taken over by another copy "
                 "(this copy held epoch %" PRId64 ")", l->what, l->id, l->epoch);
        return SL_ERR_FENCED;
    }
    if (l->ttl_ms > 0 && now - l->renewed_ms >= l->ttl_ms) {
        snprintf(errstr, sz, "the lease of %s (document %s) expired: not renewed for %" PRId64
                 " ms (%s)", l->what, l->id, now - l->renewed_ms,
                 ok ? "no matchedCount" : err.message);
        return SL_ERR_FENCED;
    }
    snprintf(errstr, sz, "checking the lease of %s (document %s): %s", l->what, l->id,
             ok ? "no matchedCount" : err.message);
    return SL_ERR_DB;
}

void sl_mongo_lease_release(sl_mongo_lease_t *l)
{
    if (!l->coll || !l->epoch)
        return;
    bson_error_t err;
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(l->id), "holder", BCON_UTF8(l->holder),
                           "epoch", BCON_INT64(l->epoch));
    bson_t *upd = BCON_NEW("$set", "{", "expires", BCON_INT64(0), "}");
    mongoc_collection_update_one(l->coll, sel, upd, NULL, NULL, &err);
    bson_destroy(sel);
    bson_destroy(upd);
    l->epoch = 0;
}

sl_err_t sl_mongo_lease_stamp(const sl_mongo_lease_t *l, mongoc_collection_t *coll, bson_t *sel,
                              char *errstr, size_t sz)
{
    bson_error_t err;
    BCON_APPEND(sel, "epoch", "{", "$not", "{", "$gte", BCON_INT64(l->epoch), "}", "}");
    bson_t *upd = BCON_NEW("$set", "{", "epoch", BCON_INT64(l->epoch), "}");
    bson_t *opts = write_opts(l, 0);
    bool ok = mongoc_collection_update_many(coll, sel, upd, opts, NULL, &err);
    bson_destroy(upd);
    bson_destroy(opts);
    if (!ok) {
        snprintf(errstr, sz, "mongodb lease of %s: stamping %s with epoch %" PRId64 ": %s",
                 l->what, mongoc_collection_get_name(coll), l->epoch, err.message);
        return SL_ERR_DB;
    }
    return SL_OK;
}
