/* shiftlog-miner: the MongoDB side of the shared log.
 *
 * Collections (database log.database):
 *   <log.collection>           the log, one document per change/commit/schema/gap
 *   <log.collection>__latest   latest full image per key (supplement)
 *   <log.collection>__control  progress, per-table state, stop/resume requests
 * Every write is acknowledged and journaled ({w: majority|1, j: true}); a
 * position is reported durable only after its write returned. Inserts into
 * the log are unordered insert_many: a document already there (same `_id`:
 * same position) is a replay, E11000 is counted and skipped, so replaying
 * any stretch of the topic rewrites nothing and adds nothing twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "miner.h"
#include "sl_log.h"
#include "sl_mongoc.h"
#include "sl_mongo_lease.h"

static sl_err_t ensure_indexes(mine_store_t *st, mongoc_client_t *c, char *errstr,
                               size_t errstr_size)
{
    bson_error_t e;
    bson_t reply;
    mongoc_database_t *db = mongoc_client_get_database(c, st->conf.database);
    int64_t ttl = st->conf.retention_hours * 3600;
    bson_t *cmd = BCON_NEW(
        "createIndexes", BCON_UTF8(st->log_name),
        "indexes", "[",
            "{", "key", "{", "table", BCON_INT32(1), "_id", BCON_INT32(1), "}",
                 "name", BCON_UTF8("table_1__id_1"), "}",
            "{", "key", "{", "op", BCON_INT32(1), "_id", BCON_INT32(1), "}",
                 "name", BCON_UTF8("op_1__id_1"), "}",
            "{", "key", "{", "ts", BCON_INT32(1), "}", "name", BCON_UTF8("ts_1"), "}",
        "]");
    sl_err_t err = SL_OK;
    if (!mongoc_database_write_command_with_opts(db, cmd, NULL, &reply, &e)) {
        snprintf(errstr, errstr_size, "createIndexes on %s.%s: %s", st->conf.database,
                 st->log_name, e.message);
        err = SL_ERR_DB;
    }
    bson_destroy(&reply);
    bson_destroy(cmd);
    if (err)
        goto out;
    /* TTL on `exp` (only documents that carry it: changes and commits). The
     * miner deletes old documents itself too (retention.c): a server without
     * TTL (the local stand-in keeps the index and never expires) still keeps
     * the retention. */
    cmd = BCON_NEW("createIndexes", BCON_UTF8(st->log_name),
                   "indexes", "[", "{", "key", "{", "exp", BCON_INT32(1), "}",
                   "name", BCON_UTF8("exp_ttl"), "expireAfterSeconds", BCON_INT64(ttl),
                   "}", "]");
    if (!mongoc_database_write_command_with_opts(db, cmd, NULL, &reply, &e)) {
        bson_t *mod;
        bson_destroy(&reply);
        mod = BCON_NEW("collMod", BCON_UTF8(st->log_name), "index", "{", "name",
                       BCON_UTF8("exp_ttl"), "expireAfterSeconds", BCON_INT64(ttl), "}");
        if (!mongoc_database_write_command_with_opts(db, mod, NULL, &reply, &e))
            sl_warn("log %s.%s: cannot set the TTL index to %lld s (%s); the miner's own "
                    "retention deletes still apply", st->conf.database, st->log_name,
                    (long long)ttl, e.message);
        bson_destroy(mod);
    }
    bson_destroy(&reply);
    bson_destroy(cmd);
    /* the tombstones of deleted keys in __latest (supplement.c) expire the same way */
    cmd = BCON_NEW("createIndexes", BCON_UTF8(st->latest_name),
                   "indexes", "[", "{", "key", "{", "exp", BCON_INT32(1), "}",
                   "name", BCON_UTF8("exp_ttl"), "expireAfterSeconds", BCON_INT64(ttl),
                   "}", "]");
    if (!mongoc_database_write_command_with_opts(db, cmd, NULL, &reply, &e))
        sl_warn("log %s.%s: cannot create the TTL index of deleted keys' tombstones (%s); "
                "they stay", st->conf.database, st->latest_name, e.message);
    bson_destroy(&reply);
    bson_destroy(cmd);
out:
    mongoc_database_destroy(db);
    return err;
}

sl_err_t mine_store_open(mine_store_t **out, const mine_store_conf_t *conf, char *errstr,
                         size_t errstr_size)
{
    bson_error_t e;
    sl_err_t err = SL_OK;
    mongoc_client_t *c = NULL;
    mine_store_t *st = calloc(1, sizeof(*st));
    *out = NULL;
    if (!st)
        return SL_ERR_NOMEM;
    mongoc_init();                /* its log lines: sl_mongoc_setup() in main() */
    st->conf = *conf;
    snprintf(st->log_name, sizeof st->log_name, "%s", conf->collection);
    snprintf(st->latest_name, sizeof st->latest_name, "%s__latest", conf->collection);
    snprintf(st->control_name, sizeof st->control_name, "%s__control", conf->collection);
    st->uri = mongoc_uri_new_with_error(conf->uri, &e);
    if (!st->uri) {
        char masked[512];
        snprintf(masked, sizeof masked, "%s", conf->uri);
        sl_log_mask(masked);
        snprintf(errstr, errstr_size, "log.uri \"%s\": %s", masked, e.message);
        err = SL_ERR_INVALID;
        goto err;
    }
    if (!mongoc_uri_get_option_as_int32(st->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 0))
        mongoc_uri_set_option_as_int32(st->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    st->pool = mongoc_client_pool_new(st->uri);
    if (!st->pool) {
        snprintf(errstr, errstr_size, "log.uri: cannot create a client pool");
        err = SL_ERR_DB;
        goto err;
    }
    mongoc_client_pool_set_error_api(st->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(st->pool, "shiftlog-miner");
    st->wc = mongoc_write_concern_new();
    if (conf->wmajority)
        mongoc_write_concern_set_wmajority(st->wc, 30000);
    else
        mongoc_write_concern_set_w(st->wc, 1);
    mongoc_write_concern_set_journal(st->wc, true);
    c = mongoc_client_pool_pop(st->pool);
    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    bool ok = mongoc_client_command_simple(c, "admin", ping, NULL, NULL, &e);
    bson_destroy(ping);
    if (!ok) {
        char masked[512];
        snprintf(masked, sizeof masked, "%s", conf->uri);
        sl_log_mask(masked);
        if (sl_mongoc_denied(&e)) {
            snprintf(errstr, errstr_size, "shared log %s: refused by the server: %s (check the "
                     "user and password in log.uri, and its roles on log.database)", masked,
                     e.message);
            err = SL_ERR_DENIED;
        } else {
            snprintf(errstr, errstr_size, "shared log %s: %s (is MongoDB running? check "
                     "log.uri)", masked, e.message);
            err = SL_ERR_DB;
        }
        goto err;
    }
    if ((err = ensure_indexes(st, c, errstr, errstr_size)))
        goto err;
    mongoc_client_pool_push(st->pool, c);
    *out = st;
    return SL_OK;
err:
    if (c)
        mongoc_client_pool_push(st->pool, c);
    mine_store_close(st);
    return err;
}

void mine_store_close(mine_store_t *st)
{
    if (!st)
        return;
    if (st->pool)
        mongoc_client_pool_destroy(st->pool);
    if (st->uri)
        mongoc_uri_destroy(st->uri);
    if (st->wc)
        mongoc_write_concern_destroy(st->wc);
    free(st);
}

mongoc_client_t *mine_store_pop(mine_store_t *st)
{
    return mongoc_client_pool_pop(st->pool);
}

void mine_store_push(mine_store_t *st, mongoc_client_t *c)
{
    if (c)
        mongoc_client_pool_push(st->pool, c);
}

mongoc_collection_t *mine_store_coll(mine_store_t *st, mongoc_client_t *c, const char *name)
{
    return mongoc_client_get_collection(c, st->conf.database, name);
}

/* Write options: ordered as asked, the miner's write concern. `validate:
 * false` for inserts and bulks: libmongoc would re-check every key and
 * string of every document (17 % of the miner's instructions); the log's
 * documents are built here, string values are checked by sl_bson (bytes
 * that are not UTF-8 become {_t: "text"}), so the check found nothing. */
static bson_t *write_opts(mine_store_t *st, int ordered, int novalidate)
{
    bson_t *opts = bson_new();
    BSON_APPEND_BOOL(opts, "ordered", ordered);
    if (novalidate)
        BSON_APPEND_BOOL(opts, "validate", false);
    mongoc_write_concern_append(st->wc, opts);
    return opts;
}

/* Reads writeErrors / writeConcernErrors of a reply: duplicates counted,
 * anything else is an error sentence. Returns 0 when only duplicates. */
static int reply_errors(const bson_t *reply, uint64_t *dups, char *errstr, size_t errstr_size)
{
    bson_iter_t it, arr, e;
    int bad = 0;
    if (bson_iter_init_find(&it, reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &arr)) {
        while (bson_iter_next(&arr)) {
            int32_t code = 0;
            const char *msg = "";
            if (!bson_iter_recurse(&arr, &e))
                continue;
            while (bson_iter_next(&e)) {
                if (!strcmp(bson_iter_key(&e), "code"))
                    code = bson_iter_as_int64(&e);
                else if (!strcmp(bson_iter_key(&e), "errmsg") && BSON_ITER_HOLDS_UTF8(&e))
                    msg = bson_iter_utf8(&e, NULL);
            }
            if (code == 11000) {
                (*dups)++;
            } else if (!bad) {
                snprintf(errstr, errstr_size, "write error %d: %s", code, msg);
                bad = 1;
            }
        }
    }
    if (bson_iter_init_find(&it, reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &arr) && bson_iter_next(&arr) && !bad) {
        char *j = bson_as_relaxed_extended_json(reply, NULL);
        snprintf(errstr, errstr_size, "write concern not satisfied: %s", j ? j : "?");
        bson_free(j);
        bad = 1;
    }
    return bad ? -1 : 0;
}

/* A failed write whose only errors are duplicate keys (counted into *dups):
 * the server's answer to every operation (error domain SERVER), nothing
 * else refused, no write-concern error. A network error or a step-down in a
 * later command of a large bulk is a STREAM / other-domain error even when
 * earlier commands reported E11000s, and is a failure. */
static int only_dup_keys(const bson_t *reply, const bson_error_t *e, uint64_t *dups,
                         char *why, size_t why_size)
{
    uint64_t n = 0;
    int bad = reply_errors(reply, &n, why, why_size);
    *dups += n;
    return !bad && n > 0 && e->domain == MONGOC_ERROR_SERVER;
}

sl_err_t mine_store_insert(mine_store_t *st, mongoc_collection_t *coll, bson_t **docs,
                           size_t n, uint64_t *dups, char *errstr, size_t errstr_size)
{
    bson_error_t e;
    bson_t reply;
    sl_err_t err = SL_OK;
    if (!n)
        return SL_OK;
    bson_t *opts = write_opts(st, 0, 1);
    bool ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, n, opts, &reply, &e);
    if (!ok) {
        char why[512];
        why[0] = '\0';
        if (!only_dup_keys(&reply, &e, dups, why, sizeof why)) {
            snprintf(errstr, errstr_size, "insert into %s.%s: %s", st->conf.database,
                     mongoc_collection_get_name(coll), why[0] ? why : e.message);
            err = SL_ERR_DB;
        }
    }
    bson_destroy(&reply);
    bson_destroy(opts);
    return err;
}

sl_err_t mine_store_bulk_dups(mine_store_t *st, mongoc_collection_t *coll,
                              mongoc_bulk_operation_t *bulk, uint64_t *dups, char *errstr,
                              size_t errstr_size)
{
    bson_error_t e;
    bson_t reply;
    sl_err_t err = SL_OK;
    *dups = 0;
    if (!mongoc_bulk_operation_execute(bulk, &reply, &e)) {
        char why[512];
        why[0] = '\0';
        /* only duplicate keys (an unordered bulk went on past them): done */
        if (!only_dup_keys(&reply, &e, dups, why, sizeof why)) {
            snprintf(errstr, errstr_size, "bulk write to %s.%s: %s", st->conf.database,
                     mongoc_collection_get_name(coll), why[0] ? why : e.message);
            err = SL_ERR_DB;
        }
    }
    bson_destroy(&reply);
    return err;
}

mongoc_bulk_operation_t *mine_store_new_bulk(mine_store_t *st, mongoc_collection_t *coll,
                                             int ordered)
{
    bson_t *opts = write_opts(st, ordered, 0);
    mongoc_bulk_operation_t *b = mongoc_collection_create_bulk_operation_with_opts(coll, opts);
    bson_destroy(opts);
    return b;
}

sl_err_t mine_store_upsert_set(mine_store_t *st, mongoc_client_t *c, const char *collname,
                               const char *id, const bson_t *set, const bson_t *unset,
                               char *errstr, size_t errstr_size)
{
    bson_error_t e;
    bson_t reply;
    sl_err_t err = SL_OK;
    mongoc_collection_t *coll = mine_store_coll(st, c, collname);
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *upd = bson_new(), *fset = NULL;
    if (st->epoch) {
        sl_mongo_fence_append(sel, st->epoch);
        fset = set ? bson_copy(set) : bson_new();
        BSON_APPEND_INT64(fset, "epoch", st->epoch);
        set = fset;
    }
    if (set && !bson_empty(set))
        BSON_APPEND_DOCUMENT(upd, "$set", set);
    if (unset && !bson_empty(unset))
        BSON_APPEND_DOCUMENT(upd, "$unset", unset);
    bson_t *opts = write_opts(st, 1, 0);
    BSON_APPEND_BOOL(opts, "upsert", true);
    if (!mongoc_collection_update_one(coll, sel, upd, opts, &reply, &e)) {
        if (sl_mongo_fenced(&e, st->epoch)) {
            snprintf(errstr, errstr_size, "update %s.%s {_id: \"%s\"} fenced: epoch %lld is "
                     "stale, another copy holds the log's lease", st->conf.database, collname,
                     id, (long long)st->epoch);
            err = SL_ERR_FENCED;
        } else {
            snprintf(errstr, errstr_size, "update %s.%s {_id: \"%s\"}: %s",
                     st->conf.database, collname, id, e.message);
            err = SL_ERR_DB;
        }
    }
    if (fset)
        bson_destroy(fset);
    bson_destroy(&reply);
    bson_destroy(opts);
    bson_destroy(upd);
    bson_destroy(sel);
    mongoc_collection_destroy(coll);
    return err;
}

sl_err_t mine_store_insert_docs(mine_store_t *st, mongoc_client_t *c, bson_t *doc,
                                char *errstr, size_t errstr_size)
{
    uint64_t dups = 0;
    mongoc_collection_t *coll = mine_store_coll(st, c, st->log_name);
    sl_err_t err = mine_store_insert(st, coll, &doc, 1, &dups, errstr, errstr_size);
    mongoc_collection_destroy(coll);
    return err;
}
