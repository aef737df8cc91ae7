/* shiftlog-miner: log.retention.hours.
 *
 * Change and commit documents carry `exp` (their source commit time); the
 * TTL index on it (store.c) lets a real mongod expire them. The miner does
 * not rely on it (the local stand-in keeps TTL indexes and never expires;
 * other MongoDB-compatible servers may lack them): it deletes documents
 * whose `exp` is older than the retention itself, in bounded batches of
 * log.retention.batch `_id`s (find the oldest by `exp`, delete by `_id`),
 * so that no single request holds the server for long. Schema and gap
 * documents have no `exp` and are never removed. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "miner.h"
#include "sl_log.h"
#include "sl_service.h"

sl_err_t mine_retention_run(mine_store_t *st, mongoc_client_t *c, int64_t hours, int64_t batch,
                            uint64_t *deleted, char *errstr, size_t errstr_size)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t cutoff_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 - hours * 3600 * 1000;
    mongoc_collection_t *coll = mine_store_coll(st, c, st->log_name);
    sl_err_t err = SL_OK;
    *deleted = 0;
    for (int round = 0; round < 1000 && !sl_service_stopping(); round++) {
        bson_error_t e;
        const bson_t *doc;
        bson_t ids;
        uint32_t n = 0;
        bson_t *filter = BCON_NEW("exp", "{", "$lt", BCON_DATE_TIME(cutoff_ms), "}");
        bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}",
                                "limit", BCON_INT64(batch));
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
        bson_init(&ids);
        while (mongoc_cursor_next(cur, &doc)) {
            bson_iter_t it;
            char ik[16];
            const char *ks;
            if (bson_iter_init_find(&it, doc, "_id")) {
                bson_uint32_to_string(n++, &ks, ik, sizeof ik);
                bson_append_iter(&ids, ks, -1, &it);
            }
        }
        if (mongoc_cursor_error(cur, &e)) {
            snprintf(errstr, errstr_size, "finding documents past the retention in %s.%s: %s",
                     st->conf.database, st->log_name, e.message);
            err = SL_ERR_DB;
        }
        mongoc_cursor_destroy(cur);
        bson_destroy(filter);
        bson_destroy(opts);
        if (!err && n) {
            bson_t reply, in;
            bson_t *sel = bson_new();
            BSON_APPEND_DOCUMENT_BEGIN(sel, "_id", &in);
            BSON_APPEND_ARRAY(&in, "$in", &ids);
            bson_append_document_end(sel, &in);
            bson_t *wo = bson_new();
            mongoc_write_concern_append(st->wc, wo);
            if (!mongoc_collection_delete_many(coll, sel, wo, &reply, &e)) {
                snprintf(errstr, errstr_size, "deleting documents past the retention: %s",
                         e.message);
                err = SL_ERR_DB;
            } else {
                bson_iter_t it;
                if (bson_iter_init_find(&it, &reply, "deletedCount"))
                    *deleted += (uint64_t)bson_iter_as_int64(&it);
            }
            bson_destroy(&reply);
            bson_destroy(wo);
            bson_destroy(sel);
        }
        bson_destroy(&ids);
        if (err || n < (uint32_t)batch)
            break;
    }
    mongoc_collection_destroy(coll);
    if (*deleted)
        sl_info("retention: deleted %" PRIu64 " documents committed before %" PRId64
                " h ago", *deleted, hours);
    return err;
}
