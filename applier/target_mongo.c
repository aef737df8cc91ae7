/* shiftlog-applier: the MongoDB target (libmongoc), see target.h and
 * docs/targets.md.
 *
 * Documents: one per row, `_id` = the primary key value (single column) or a
 *   sub-document of the key columns in key order (composite); every mapped
 *   column as a field with its exact BSON value; `_pos` = the source position
 *   of the last change written, as the fixed-width text of app_pos_key(),
 *   which sorts like sl_pos_cmp. Exact-value companions: `_us.<col>` (int64 µs
 *   of a DATETIME/TIMESTAMP with more than 3 fractional digits; the field
 *   itself is a BSON date in ms) and `_decimal_text.<col>: true` (a DECIMAL of
 *   more than 34 significant digits, stored as its exact text).
 * Writes: bulks (write_batch ops) of replace_one upserts by `_id` (an
 *   update_one $set when the row image lacks columns: MISSING), delete_one
 *   by `_id`, acknowledged (w:0 is refused). In the replay window — positions
 *   at or before max(stored position, `high`) — every op is guarded by
 *   position: filter {_id, _pos: {$lt: P}}; an upsert that finds a newer
 *   document fails with E11000 on `_id` and is skipped; a guarded delete does
 *   not remove a newer document. `high` (in the position document) is raised
 *   to a bulk's last position before the bulk is sent, so a crash after data
 *   but before commit() leaves every possibly written row inside the window.
 *   Past the window writes are plain upserts by `_id` (fast everywhere; a guard
 *   beyond `_id` is a collection scan on the local stand-in).
 *   A bulk holding one op per `_id` (a snapshot's READ rows, and most others:
 *   a later op of a key replaces the earlier one, mg_dedupe) is unordered: every
 *   op runs whatever the others do. With an `_id` twice (a $set kept beside the
 *   key's earlier op) it is ordered.
 *   An ordered bulk stops at its first error on mongod (libmongoc: at the end of
 *   the command holding it), not on the stand-in: writeErrors are read by
 *   index, and everything after the last skipped op is sent again (guarded
 *   and plain ops are all idempotent).
 * Transactions: none (no sessions on the stand-in; none without a replica
 *   set). begin() is a no-op, rollback() drops only the ops not yet sent: what
 *   was sent stays. After FINISH the core replays the whole source transaction;
 *   its rows are inside the window (≤ high), so rows already written are
 *   skipped and the rest are written: the target converges to the committed
 *   state. commit() flushes, then writes the position document. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "sl_tls.h"
#include "sl_log.h"
#include "sl_mongoc.h"
#include "sl_mongo_lease.h"
#include "target_mongo.h"

static void mg_drop_ops(mg_target_t *t)
{
    for (uint32_t i = 0; i < t->nops; i++) {
        if (t->ops[i].kind == MG_DROPPED)
            continue;
        bson_destroy(t->ops[i].filter);
        if (t->ops[i].doc)
            bson_destroy(t->ops[i].doc);
    }
    t->nops = 0;
    t->dup_ids = 0;
    t->pmax[0] = '\0';
    if (t->slots)
        memset(t->slots, 0, t->nslots * sizeof(*t->slots));
}

/* The bytes of a filter's _id element (its first). */
static const uint8_t *mg_id_bytes(const bson_t *filter, uint32_t *len)
{
    bson_iter_t it;
    const uint8_t *d = bson_get_data(filter);
    uint32_t end = filter->len - 1;
    if (bson_iter_init(&it, filter) && bson_iter_next(&it) && bson_iter_next(&it))
        end = bson_iter_offset(&it);
    *len = end - 4;
    return d + 4;
}

/* One pending op per document and image: a full image or a delete makes the
 * pending full image or delete of the same _id in this bulk redundant (the
 * last one decides the document), so that op is dropped — the same rule as
 * the SQL targets' batches (the last image per key). A partial update ($set
 * of the columns present) depends on what precedes it and drops nothing. */
static void mg_dedupe(mg_target_t *t, uint32_t idx)
{
    mg_op_t *op = &t->ops[idx];
    uint32_t len, olen;
    const uint8_t *id = mg_id_bytes(op->filter, &len);
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 1099511628211ull;
    for (uint32_t s = (uint32_t)h & (t->nslots - 1);; s = (s + 1) & (t->nslots - 1)) {
        if (!t->slots[s]) {
            t->slots[s] = idx + 1;
            return;
        }
        mg_op_t *o = &t->ops[t->slots[s] - 1];
        const uint8_t *oid = mg_id_bytes(o->filter, &olen);
        if (olen != len || memcmp(oid, id, len))
            continue;
        if (op->kind != MG_SET && o->kind != MG_SET) {
            bson_destroy(o->filter);
            if (o->doc)
                bson_destroy(o->doc);
            o->kind = MG_DROPPED;
        } else {
            t->dup_ids = 1;
        }
        t->slots[s] = idx + 1;
        return;
    }
}

static bson_t *ko_id(const mg_target_t *t)
{
    bson_t *id = bson_new(), sub;
    bson_append_document_begin(id, "_id", 3, &sub);
    BSON_APPEND_UTF8(&sub, "task", t->task);
    BSON_APPEND_UTF8(&sub, "topic", t->topic);
    BSON_APPEND_INT32(&sub, "partition", t->partition);
    bson_append_document_end(id, &sub);
    return id;
}

/* ---- sending ---- */

static sl_err_t mg_raise_high(mg_target_t *t, char *errstr, size_t sz)
{
    bson_error_t err;
    if (!t->have_tp || strcmp(t->pmax, t->high) <= 0)
        return SL_OK;
    bson_t *sel = ko_id(t);
    bson_t *upd = BCON_NEW("$set", "{", "high", BCON_UTF8(t->pmax), "}");
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    bool ok = mongoc_collection_update_one(t->ko, sel, upd, opts, NULL, &err);
    bson_destroy(sel); bson_destroy(upd); bson_destroy(opts);
    if (!ok) {
        snprintf(errstr, sz, "mongodb target: task \"%s\": storing the replay window end: %s",
                 t->task, err.message);
        return SL_ERR_DB;
    }
    memcpy(t->high, t->pmax, sizeof t->high);
    if (strcmp(t->high, t->guard) > 0)
        memcpy(t->guard, t->high, sizeof t->guard);
    return SL_OK;
}

static void mg_idtext(const bson_t *filter, char *buf, size_t sz)
{
    bson_iter_t it;
    buf[0] = '\0';
    if (bson_iter_init_find(&it, filter, "_id")) {
        bson_t one = BSON_INITIALIZER;
        bson_append_iter(&one, "_id", 3, &it);
        char *j = bson_as_relaxed_extended_json(&one, NULL);
        snprintf(buf, sz, "%s", j ? j : "?");
        bson_free(j);
        bson_destroy(&one);
    }
}

static sl_err_t mg_flush(mg_target_t *t, char *errstr, size_t sz)
{
    sl_err_t e = SL_OK;
    bson_error_t err;
    uint32_t from = 0;
    if (!t->nops)
        return SL_OK;
    uint32_t kept = 0;                 /* drop what mg_dedupe made redundant */
    for (uint32_t i = 0; i < t->nops; i++)
        if (t->ops[i].kind != MG_DROPPED)
            t->ops[kept++] = t->ops[i];
    t->nops = kept;
    if ((e = mg_raise_high(t, errstr, sz)))
        goto out;
    /* one op per _id (a snapshot's READ rows, most batches): no op depends on
     * another, so the bulk is unordered — the server may run it in any order
     * and does not stop at a skipped (guarded) op; else ordered */
    int ordered = t->dup_ids || !t->slots;
    bson_t *opts = BCON_NEW("ordered", BCON_BOOL(ordered));
    bson_t *up = BCON_NEW("upsert", BCON_BOOL(true));
    while (from < t->nops) {
        bson_t reply;
        mongoc_bulk_operation_t *bulk =
            mongoc_collection_create_bulk_operation_with_opts(t->pc->c, opts);
        for (uint32_t i = from; i < t->nops; i++) {
            mg_op_t *op = &t->ops[i];
            if (op->kind == MG_REPLACE)
                mongoc_bulk_operation_replace_one_with_opts(bulk, op->filter, op->doc, up, &err);
            else if (op->kind == MG_SET)
                mongoc_bulk_operation_update_one_with_opts(bulk, op->filter, op->doc, up, &err);
            else
                mongoc_bulk_operation_remove_one_with_opts(bulk, op->filter, NULL, &err);
        }
        uint32_t ret = mongoc_bulk_operation_execute(bulk, &reply, &err);
        bson_iter_t it, arr;
        int64_t nerr = 0, maxidx = -1;
        int bad = 0;
        char msg[256] = "";
        uint32_t badidx = 0;
        if (bson_iter_init_find(&it, &reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
            bson_iter_recurse(&it, &arr)) {
            while (bson_iter_next(&arr)) {
                bson_iter_t we, f;
                int64_t idx = -1, code = 0;
                if (!bson_iter_recurse(&arr, &we))
                    continue;
                if (bson_iter_find(&we, "index") && BSON_ITER_HOLDS_NUMBER(&we))
                    idx = bson_iter_as_int64(&we);
                bson_iter_recurse(&arr, &f);
                if (bson_iter_find(&f, "code") && BSON_ITER_HOLDS_NUMBER(&f))
                    code = bson_iter_as_int64(&f);
                nerr++;
                uint32_t gi = from + (uint32_t)(idx < 0 ? 0 : idx);
                if (code == 11000 && idx >= 0 && gi < t->nops && t->ops[gi].guarded) {
                    t->skipped++;
                } else if (!bad) {
                    bson_iter_t m;
                    bad = 1;
                    badidx = gi;
                    bson_iter_recurse(&arr, &m);
                    if (bson_iter_find(&m, "errmsg") && BSON_ITER_HOLDS_UTF8(&m))
                        snprintf(msg, sizeof msg, "%s (code %" PRId64 ")",
                                 bson_iter_utf8(&m, NULL), code);
                }
                if (idx > maxidx)
                    maxidx = idx;
            }
        }
        bson_destroy(&reply);
        mongoc_bulk_operation_destroy(bulk);
        if (bad || (!ret && nerr == 0)) {
            char id[200];
            uint32_t i = bad ? badidx : from;
            mg_idtext(t->ops[i < t->nops ? i : 0].filter, id, sizeof id);
            snprintf(errstr, sz, "mongodb target: collection %s.%s: %s of _id %s: %s",
                     t->pc->db, t->pc->name,
                     t->ops[i < t->nops ? i : 0].kind == MG_DELETE ? "delete" : "upsert", id,
                     bad ? msg : err.message);
            e = SL_ERR_DB;
            break;
        }
        /* skipped ops before the end: mongod stops an ordered bulk at the first error,
         * libmongoc stops at the end of the command (insert/update/delete run) holding it,
         * the stand-in goes on inside a command. Send everything after the last error
         * again: every op here is idempotent, so ops that did run are harmless. */
        if (ordered && nerr > 0 && maxidx >= 0 && from + (uint32_t)maxidx + 1 < t->nops)
            from += (uint32_t)maxidx + 1;
        else
            break;
    }
    bson_destroy(opts);
    bson_destroy(up);
out:
    mg_drop_ops(t);
    return e;
}

/* ---- the ops ---- */

static void mg_close(app_target_t *at)
{
    mg_target_t *t = (mg_target_t *)at;
    if (!t)
        return;
    mg_drop_ops(t);
    free(t->ops);
    free(t->slots);
    free(t->stop_ops);
    for (mg_coll_t *c = t->colls, *nx; c; c = nx) {
        nx = c->next;
        mongoc_collection_destroy(c->c);
        free(c->db); free(c->name); free(c->key);
        free(c);
    }
    if (t->ko)
        mongoc_collection_destroy(t->ko);
    if (t->client)
        mongoc_client_destroy(t->client);
    free(t->task);
    free(t->database);
    free(t);
}

static sl_err_t mg_open(mg_target_t **out, const app_target_conf_t *conf,
                        char *errstr, size_t sz)
{
    static int inited;
    bson_error_t err;
    sl_err_t e = SL_OK;
    mongoc_uri_t *uri = NULL;
    if (!inited) {
        mongoc_init();
        inited = 1;
    }
    mg_target_t *t = calloc(1, sizeof *t);
    if (t)
        t->base.ops = &app_target_mongo;
    if (!t)
        return SL_ERR_NOMEM;
    t->task = strdup(conf->task ? conf->task : "");
    t->epoch = conf->epoch;
    t->database = strdup(conf->database && *conf->database ? conf->database : "shiftlog");
    t->batch_max = conf->write_batch > 0 ? (uint32_t)conf->write_batch : 1000;
    t->ddl_apply = conf->ddl_apply;
    t->on_unconvertible = conf->on_unconvertible;
    for (t->nslots = 64; t->nslots < 2 * t->batch_max; t->nslots *= 2)
        ;
    if (!(t->slots = calloc(t->nslots, sizeof(*t->slots)))) {
        mg_close(&t->base);
        return SL_ERR_NOMEM;
    }
    const char *host = conf->host ? conf->host : "127.0.0.1";
    if (!strncmp(host, "mongodb://", 10) || !strncmp(host, "mongodb+srv://", 14)) {
        uri = mongoc_uri_new_with_error(host, &err);
    } else {
        char u[512];
        snprintf(u, sizeof u, "mongodb://%s:%d/?serverSelectionTimeoutMS=5000", host,
                 conf->port > 0 ? conf->port : 27017);
        uri = mongoc_uri_new_with_error(u, &err);
    }
    if (!uri) {
        snprintf(errstr, sz, "mongodb target: bad address: %s", err.message);
        e = SL_ERR_INVALID;
        goto err;
    }
    /* Credentials only with a password: target.user has a default for the
     * SQL targets, and a MongoDB without auth refuses a login. */
    if (conf->user && *conf->user && conf->password && *conf->password) {
        mongoc_uri_set_username(uri, conf->user);
        mongoc_uri_set_password(uri, conf->password);
    }
    /* MongoDB has no opportunistic TLS: "prefer" connects in the clear,
     * "require" and stricter turn TLS on. */
    if (conf->tls_mode >= 2) {
        mongoc_uri_set_option_as_bool(uri, MONGOC_URI_TLS, true);
        if (conf->tls_ca)
            mongoc_uri_set_option_as_utf8(uri, MONGOC_URI_TLSCAFILE, conf->tls_ca);
        if (conf->tls_cert && *conf->tls_cert)
            mongoc_uri_set_option_as_utf8(uri, MONGOC_URI_TLSCERTIFICATEKEYFILE, conf->tls_cert);
        if (conf->tls_mode < SL_TLS_VERIFY_CA)
            mongoc_uri_set_option_as_bool(uri, MONGOC_URI_TLSALLOWINVALIDCERTIFICATES, true);
        else if (conf->tls_mode == SL_TLS_VERIFY_CA)
            mongoc_uri_set_option_as_bool(uri, MONGOC_URI_TLSALLOWINVALIDHOSTNAMES, true);
    }
    const mongoc_write_concern_t *wc = mongoc_uri_get_write_concern(uri);
    if (wc && mongoc_write_concern_get_w(wc) == 0) {
        snprintf(errstr, sz, "mongodb target: w=0 (unacknowledged writes) cannot be exactly "
                 "once: remove it from the address");
        e = SL_ERR_INVALID;
        goto err;
    }
    if (!(t->client = mongoc_client_new_from_uri(uri))) {
        snprintf(errstr, sz, "mongodb target: cannot create a client for %s", host);
        e = SL_ERR_DB;
        goto err;
    }
    mongoc_client_set_error_api(t->client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(t->client, "shiftlog-applier");
    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    bool ok = false;
    for (int attempt = 0; attempt < 3 && !ok; attempt++)
        ok = mongoc_client_command_simple(t->client, "admin", ping, NULL, NULL, &err);
    bson_destroy(ping);
    if (!ok && sl_mongoc_denied(&err)) {
        snprintf(errstr, sz, "mongodb target %s: authentication failed: %s (refused by the "
                 "server: check target.user and target.password)", host, err.message);
        e = SL_ERR_DENIED;
        goto err;
    }
    if (!ok) {
        snprintf(errstr, sz, "mongodb target %s: cannot reach the server: %s", host, err.message);
        e = SL_ERR_DB;
        goto err;
    }
    t->ko = mongoc_client_get_collection(t->client, t->database, "kafkaoffset");
    mongoc_uri_destroy(uri);
    *out = t;
    return SL_OK;
err:
    if (uri)
        mongoc_uri_destroy(uri);
    mg_close(&t->base);
    return e;
}

static void set_tp(mg_target_t *t, const char *topic, int32_t partition)
{
    if (t->have_tp && !strcmp(t->topic, topic) && t->partition == partition)
        return;
    snprintf(t->topic, sizeof t->topic, "%s", topic);
    t->partition = partition;
    t->have_tp = 1;
}

static sl_err_t mg_load_position(app_target_t *at, const char *topic, int32_t partition,
                                 app_position_t *pos, char *errstr, size_t sz)
{
    mg_target_t *t = (mg_target_t *)at;
    bson_error_t err;
    const bson_t *doc;
    sl_err_t e = SL_ERR_NOT_FOUND;
    char tp[sizeof pos->topic];
    snprintf(tp, sizeof tp, "%s", topic);        /* topic may point into *pos */
    topic = tp;
    set_tp(t, topic, partition);
    memset(pos, 0, sizeof *pos);
    snprintf(pos->topic, sizeof pos->topic, "%s", topic);
    pos->partition = partition;
    bson_t *q = ko_id(t);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(t->ko, q, NULL, NULL);
    if (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "high") && BSON_ITER_HOLDS_UTF8(&it))
            snprintf(t->high, sizeof t->high, "%s", bson_iter_utf8(&it, NULL));
        if (bson_iter_init_find(&it, doc, "_pos") && BSON_ITER_HOLDS_UTF8(&it))
            snprintf(t->guard, sizeof t->guard, "%s", bson_iter_utf8(&it, NULL));
        if (strcmp(t->high, t->guard) > 0)
            memcpy(t->guard, t->high, sizeof t->guard);
        if (bson_iter_init_find(&it, doc, "source_position") && BSON_ITER_HOLDS_UTF8(&it)) {
            char msg[200];
            if (sl_pos_parse(bson_iter_utf8(&it, NULL), &pos->source, msg, sizeof msg)) {
                snprintf(errstr, sz, "mongodb target: position of task \"%s\": %s", t->task, msg);
                e = SL_ERR_PARSE;
            } else {
                e = SL_OK;
            }
            if (bson_iter_init_find(&it, doc, "kafka_offset") && BSON_ITER_HOLDS_NUMBER(&it))
                pos->kafka_offset = bson_iter_as_int64(&it);
            if (bson_iter_init_find(&it, doc, "sub_offset") && BSON_ITER_HOLDS_NUMBER(&it))
                pos->sub_offset = bson_iter_as_int64(&it);
        }
    }
    if (mongoc_cursor_error(cur, &err)) {
        snprintf(errstr, sz, "mongodb target: reading the position of task \"%s\": %s",
                 t->task, err.message);
        e = SL_ERR_DB;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(q);
    return e;
}

static sl_err_t mg_begin(app_target_t *at, char *errstr, size_t sz)
{
    mg_target_t *t = (mg_target_t *)at;
    mg_drop_ops(t);
    app_mg_stops_drop(t);
    t->in_txn = 1;
    return SL_OK;
}

/* The source table was dropped: its collection goes too under ddl.apply =
 * all, after the ops pending before the drop (in source order). A
 * collection that is not there is fine (the drop may be replayed). */
static sl_err_t mg_drop_coll(mg_target_t *t, const app_table_map_t *map, const sl_schema_t *s,
                             char *errstr, size_t sz)
{
    mg_coll_t *mc = app_mg_coll(t, map);
    if (!mc)
        return SL_ERR_NOMEM;
    mc->src = NULL;
    if (t->ddl_apply != APP_DDL_ALL) {
        sl_info("mongodb target: source table %s.%s dropped; collection %s.%s kept (ddl.apply "
                "is not all)", s->db, s->table, mc->db, mc->name);
        return SL_OK;
    }
    sl_err_t e = mg_flush(t, errstr, sz);
    if (e)
        return e;
    bson_error_t err;
    if (!mongoc_collection_drop(mc->c, &err) && err.code != 26 &&
        !strstr(err.message, "ns not found")) {
        snprintf(errstr, sz, "mongodb target: dropping collection %s.%s: %s", mc->db, mc->name,
                 err.message);
        return SL_ERR_DB;
    }
    sl_info("mongodb target: source table %s.%s dropped: collection %s.%s dropped", s->db,
            s->table, mc->db, mc->name);
    return SL_OK;
}

/* The source table was renamed to map's: the collection of the old name
 * becomes this one, after the ops pending before the rename. Nothing to
 * rename (code 26) or the new name taken already (48, a replay): go on. */
static sl_err_t mg_rename_coll(mg_target_t *t, const app_table_map_t *map, char *errstr,
                               size_t sz)
{
    app_table_map_t om = {.dst_schema = map->rename_schema, .dst_table = map->rename_table};
    mg_coll_t *oc = app_mg_coll(t, &om);
    if (!oc)
        return SL_ERR_NOMEM;
    sl_err_t e = mg_flush(t, errstr, sz);
    if (e)
        return e;
    const char *db = map->dst_schema && *map->dst_schema ? map->dst_schema : t->database;
    bson_error_t err;
    bool ok = mongoc_collection_rename(oc->c, db, map->dst_table, false, &err);
    /* the handle now names the new namespace: take a fresh one for the old */
    mongoc_collection_destroy(oc->c);
    oc->c = mongoc_client_get_collection(t->client, oc->db, oc->name);
    oc->src = NULL;
    if (!ok && err.code != 26 && err.code != 48 && !strstr(err.message, "does not exist") &&
        !strstr(err.message, "already exists")) {
        snprintf(errstr, sz, "mongodb target: renaming collection %s.%s to %s.%s: %s", oc->db,
                 oc->name, db, map->dst_table, err.message);
        return SL_ERR_DB;
    }
    if (ok)
        sl_info("mongodb target: source table renamed: collection %s.%s is now %s.%s", oc->db,
                oc->name, db, map->dst_table);
    return SL_OK;
}

/* A table's first SCHEMA (a CREATE, or the first seen): its collection is
 * made now, so that a source table that stays empty is there too (MongoDB
 * makes a collection only at its first write otherwise). One already there
 * (code 48, a replay or a table made by hand) is fine. */
static sl_err_t mg_create_coll(mg_target_t *t, mg_coll_t *mc, const sl_schema_t *s,
                               char *errstr, size_t sz)
{
    sl_err_t e = mg_flush(t, errstr, sz);   /* a drop of the same name pending goes first */
    if (e)
        return e;
    mongoc_database_t *db = mongoc_client_get_database(t->client, mc->db);
    bson_error_t err;
    mongoc_collection_t *c = mongoc_database_create_collection(db, mc->name, NULL, &err);
    mongoc_database_destroy(db);
    if (c) {
        mongoc_collection_destroy(c);
        sl_info("mongodb target: source table %s.%s: collection %s.%s created", s->db, s->table,
                mc->db, mc->name);
        return SL_OK;
    }
    if (err.code == 48 || strstr(err.message, "already exists"))
        return SL_OK;
    snprintf(errstr, sz, "mongodb target: creating collection %s.%s: %s", mc->db, mc->name,
             err.message);
    return SL_ERR_DB;
}

static sl_err_t mg_schema(app_target_t *at, const app_table_map_t *map, const sl_record_t *rec,
                          char *errstr, size_t sz)
{
    mg_target_t *t = (mg_target_t *)at;
    /* Documents need no DDL: each write carries the whole row under the new
     * column names; the documents there follow renamed, dropped and added
     * columns (target_mongo_ddl.c). A table without a primary key is refused
     * here already. */
    const sl_schema_t *s = &rec->u.schema;
    if (sl_schema_dropped(s))
        return mg_drop_coll(t, map, s, errstr, sz);
    int npk = 0;
    for (uint32_t i = 0; i < s->ncols; i++)
        npk += s->cols[i].pk > 0;
    if (!npk) {
        snprintf(errstr, sz, "mongodb target: collection %s.%s: the source table %s.%s has no "
                 "primary key, so a document _id cannot be derived and changes cannot be applied "
                 "exactly once; add a primary key to the source table",
                 map->dst_schema ? map->dst_schema : t->database, map->dst_table, s->db, s->table);
        return SL_ERR_UNSUPPORTED;
    }
    mg_coll_t *mc = app_mg_coll(t, map);
    if (!mc)
        return SL_ERR_NOMEM;
    mc->src = NULL;              /* keys resolved again at the next rows() */
    sl_err_t e;
    if (map->rename_table && t->ddl_apply == APP_DDL_ALL &&
        (e = mg_rename_coll(t, map, errstr, sz)))
        return e;
    if (t->ddl_apply == APP_DDL_NONE)
        return SL_OK;
    if (!map->prev)
        return mg_create_coll(t, mc, s, errstr, sz);
    if ((e = mg_flush(t, errstr, sz)))
        return e;
    return app_mg_columns_ddl(t, mc, map, s, errstr, sz);
}

/* An image without some columns (MISSING: unchanged TOAST, a MINIMAL row
 * image) becomes a $set, right when the document is there; an upsert of a
 * missing one would create it without those fields. So it must be there
 * (after the ops before it are sent); otherwise SL_ERR_INVALID naming the
 * columns: the source transaction goes to the DLQ, and the row's next full
 * image creates the document. One find by _id per partial row. */
static sl_err_t mg_partial_check(mg_target_t *t, mg_coll_t *mc, const app_table_map_t *map,
                                 const sl_change_t *c, const sl_value_t *vals, char *errstr,
                                 size_t sz)
{
    int missing = 0;
    for (uint32_t i = 0; i < c->ncols && !missing; i++)
        missing = vals[i].kind == SL_VAL_MISSING;
    if (!missing)
        return SL_OK;
    sl_err_t e = t->nops ? mg_flush(t, errstr, sz) : SL_OK;
    if (e)
        return e;
    bson_t *f = bson_new();
    bson_error_t err;
    if ((e = app_mg_append_id(f, mc, map, c, vals, errstr, sz))) {
        bson_destroy(f);
        return e;
    }
    int64_t n = mongoc_collection_count_documents(mc->c, f, NULL, NULL, NULL, &err);
    char id[256];
    mg_idtext(f, id, sizeof id);
    bson_destroy(f);
    if (n < 0) {
        snprintf(errstr, sz, "mongodb target: collection %s.%s: looking up %s for a partial "
                 "update: %s", mc->db, mc->name, id, err.message);
        return SL_ERR_DB;
    }
    if (n > 0)
        return SL_OK;
    size_t l = (size_t)snprintf(errstr, sz, "mongodb target: collection %s.%s %s: the change "
                                "does not carry column(s)", mc->db, mc->name, id);
    for (uint32_t i = 0; i < c->ncols && l < sz; i++)
        if (vals[i].kind == SL_VAL_MISSING)
            l += (size_t)snprintf(errstr + l, sz - l, " %s", c->columns[i]);
    if (l < sz)
        snprintf(errstr + l, sz - l, " (unchanged in the source: TOAST or a minimal row image) "
                 "and the document is not in the target: writing it would invent those "
                 "values; the next full image of the row creates it");
    return SL_ERR_INVALID;
}

static sl_err_t mg_add(mg_target_t *t, mg_coll_t *mc, int del, const app_table_map_t *map,
                       const sl_change_t *c, const sl_value_t *vals, const sl_pos_t *p,
                       char *errstr, size_t sz)
{
    sl_err_t e;
    char pk[APP_POS_KEY_LEN + 1];
    /* a value BSON cannot hold, per on_unconvertible, before any op is queued:
     * DLQ or STOP here, NULL: app_mg_value writes null */
    for (uint32_t i = 0; !del && i < c->ncols; i++)
        if (app_mg_dst(map, c, i) && app_mg_check_value(&vals[i], c->columns[i], errstr, sz) &&
            (e = app_unconvertible(t->on_unconvertible, errstr)))
            return e;
    if (t->pc != mc && t->nops && (e = mg_flush(t, errstr, sz)))
        return e;
    t->pc = mc;
    if (!del && (e = mg_partial_check(t, mc, map, c, vals, errstr, sz)))
        return e;
    if (t->nops == t->ops_cap) {
        uint32_t cap = t->ops_cap ? t->ops_cap * 2 : 256;
        mg_op_t *o = realloc(t->ops, cap * sizeof *o);
        if (!o)
            return SL_ERR_NOMEM;
        t->ops = o;
        t->ops_cap = cap;
    }
    app_pos_key(p, pk);
    mg_op_t *op = &t->ops[t->nops];
    op->guarded = t->guard[0] && strcmp(pk, t->guard) <= 0;
    op->filter = bson_new();
    op->doc = NULL;
    if ((e = app_mg_append_id(op->filter, mc, map, c, vals, errstr, sz))) {
        bson_destroy(op->filter);
        return e;
    }
    if (op->guarded) {
        bson_t lt;
        bson_append_document_begin(op->filter, "_pos", 4, &lt);
        bson_append_utf8(&lt, "$lt", 3, pk, APP_POS_KEY_LEN);
        bson_append_document_end(op->filter, &lt);
    }
    if (del) {
        op->kind = MG_DELETE;
    } else {
        int missing = 0;
        for (uint32_t i = 0; i < c->ncols; i++)
            missing |= vals[i].kind == SL_VAL_MISSING;
        op->kind = missing ? MG_SET : MG_REPLACE;
        bson_t us = BSON_INITIALIZER, dec = BSON_INITIALIZER, set, *d = bson_new(), *body = d;
        if (missing) {
            bson_append_document_begin(d, "$set", 4, &set);
            body = &set;
        } else {
            app_mg_append_id(d, mc, map, c, vals, errstr, sz);
        }
        for (uint32_t i = 0; i < c->ncols; i++) {
            const char *n = app_mg_dst(map, c, i);
            if (!n || vals[i].kind == SL_VAL_MISSING || (mc->nkey == 1 && !strcmp(n, "_id")))
                continue;
            if (app_mg_varbit(body, n, map, c, i, &vals[i]))   /* its digits, as a string */
                continue;
            app_mg_value(body, n, -1, &vals[i], &us, &dec, 0);
        }
        bson_append_utf8(body, "_pos", 4, pk, APP_POS_KEY_LEN);
        bson_iter_t it;
        if (!missing) {
            if (!bson_empty(&us))
                bson_append_document(d, "_us", 3, &us);
            int ntext = 0;
            bson_t dt;
            if (bson_iter_init(&it, &dec))
                while (bson_iter_next(&it))
                    ntext += BSON_ITER_HOLDS_BOOL(&it);
            if (ntext) {
                bson_append_document_begin(d, "_decimal_text", -1, &dt);
                bson_iter_init(&it, &dec);
                while (bson_iter_next(&it))
                    if (BSON_ITER_HOLDS_BOOL(&it))
                        bson_append_bool(&dt, bson_iter_key(&it), -1, true);
                bson_append_document_end(d, &dt);
            }
        } else {
            char k[300];
            if (bson_iter_init(&it, &us))
                while (bson_iter_next(&it)) {
                    snprintf(k, sizeof k, "_us.%s", bson_iter_key(&it));
                    bson_append_int64(body, k, -1, bson_iter_int64(&it));
                }
            if (bson_iter_init(&it, &dec))
                while (bson_iter_next(&it))
                    if (BSON_ITER_HOLDS_BOOL(&it)) {
                        snprintf(k, sizeof k, "_decimal_text.%s", bson_iter_key(&it));
                        bson_append_bool(body, k, -1, true);
                    }
            bson_append_document_end(d, &set);
            bson_t unset;
            int nun = 0;
            bson_append_document_begin(d, "$unset", 6, &unset);
            if (bson_iter_init(&it, &dec))
                while (bson_iter_next(&it))
                    if (BSON_ITER_HOLDS_NULL(&it)) {
                        snprintf(k, sizeof k, "_decimal_text.%s", bson_iter_key(&it));
                        bson_append_utf8(&unset, k, -1, "", 0);
                        nun++;
                    }
            bson_append_document_end(d, &unset);
            if (!nun) {               /* an empty $unset is an error on mongod */
                bson_t *d2 = bson_new();
                bson_iter_init_find(&it, d, "$set");
                bson_append_iter(d2, "$set", 4, &it);
                bson_destroy(d);
                d = d2;
            }
        }
        bson_destroy(&us);
        bson_destroy(&dec);
        op->doc = d;
    }
    if (t->slots)
        mg_dedupe(t, t->nops);
    t->nops++;
    if (strcmp(pk, t->pmax) > 0)
        memcpy(t->pmax, pk, sizeof pk);
    if (t->nops >= t->batch_max)
        return mg_flush(t, errstr, sz);
    return SL_OK;
}

static sl_err_t mg_rows(app_target_t *at, const app_table_map_t *map, const sl_record_t *rec,
                        uint32_t first, uint32_t n, const app_position_t *pos,
                        char *errstr, size_t sz)
{
    mg_target_t *t = (mg_target_t *)at;
    const sl_change_t *c = &rec->u.change;
    sl_err_t e;
    if (!t->in_txn) {
        snprintf(errstr, sz, "mongodb target: rows() outside begin()/commit()");
        return SL_ERR_STATE;
    }
    if (rec->type != SL_REC_CHANGE || (uint64_t)first + n > c->nrows ||
        (map->dst_cols && c->ncols != map->ncols && c->op != SL_OP_TRUNCATE)) {
        snprintf(errstr, sz, "mongodb target: collection %s: bad change batch (rows %u+%u of %u, "
                 "%u columns, mapping has %u)", map->dst_table, first, n, c->nrows, c->ncols,
                 map->ncols);
        return SL_ERR_INVALID;
    }
    set_tp(t, pos->topic, pos->partition);
    mg_coll_t *mc = app_mg_coll(t, map);
    if (!mc)
        return SL_ERR_NOMEM;
    if (c->op == SL_OP_TRUNCATE) {
        /* every document older than the TRUNCATE goes (a guard that holds everywhere) */
        char pk[APP_POS_KEY_LEN + 1];
        bson_error_t err;
        if ((e = mg_flush(t, errstr, sz)))
            return e;
        app_pos_key(&pos->source, pk);
        bson_t *sel = BCON_NEW("_pos", "{", "$lt", BCON_UTF8(pk), "}");
        bool ok = mongoc_collection_delete_many(mc->c, sel, NULL, NULL, &err);
        bson_destroy(sel);
        if (!ok) {
            snprintf(errstr, sz, "mongodb target: collection %s.%s: truncate: %s", mc->db,
                     mc->name, err.message);
            return SL_ERR_DB;
        }
        return SL_OK;
    }
    if ((!mc->nkey || mc->src != map->schema) && (e = app_mg_resolve_key(mc, map, c, errstr, sz)))
        return e;
    for (uint32_t r = first; r < first + n; r++) {
        const sl_row_t *row = &c->rows[r];
        sl_pos_t p;
        app_pos_row(&pos->source, r - first, &p);
        switch (c->op) {
        case SL_OP_INSERT:
        case SL_OP_READ:        /* a snapshot row: the same full-image upsert, position-guarded */
            e = mg_add(t, mc, 0, map, c, row->after, &p, errstr, sz);
            break;
        case SL_OP_DELETE:
            e = mg_add(t, mc, 1, map, c, row->before, &p, errstr, sz);
            break;
        case SL_OP_UPDATE: {
            int moved = 0;
            for (uint32_t k = 0; row->before && k < mc->nkey; k++)
                moved |= !sl_value_equal(&row->before[mc->key[k]], &row->after[mc->key[k]]);
            e = moved ? mg_add(t, mc, 1, map, c, row->before, &p, errstr, sz) : SL_OK;
            if (!e)
                e = mg_add(t, mc, 0, map, c, row->after, &p, errstr, sz);
            break;
        }
        default:
            snprintf(errstr, sz, "mongodb target: unknown operation %d", (int)c->op);
            e = SL_ERR_INVALID;
        }
        if (e)
            return e;
    }
    return SL_OK;
}

static sl_err_t mg_commit(app_target_t *at, const app_position_t *pos, char *errstr, size_t sz)
{
    mg_target_t *t = (mg_target_t *)at;
    sl_err_t e;
    bson_error_t err;
    char ptext[256], pk[APP_POS_KEY_LEN + 1];
    if (!t->in_txn) {
        snprintf(errstr, sz, "mongodb target: commit() without begin()");
        return SL_ERR_STATE;
    }
    if ((e = mg_flush(t, errstr, sz)))
        return e;
    if (pos) {
        set_tp(t, pos->topic, pos->partition);
        sl_pos_format(&pos->source, ptext, sizeof ptext);
        app_pos_key(&pos->source, pk);
        bson_t *sel = ko_id(t);
        /* fenced by the lease (target.h): a document holding a higher epoch
         * does not match, and the upsert then fails on its _id (E11000) */
        if (t->epoch)
            sl_mongo_fence_append(sel, t->epoch);
        bson_t *upd = BCON_NEW("$set", "{", "kafka_offset", BCON_INT64(pos->kafka_offset),
                               "sub_offset", BCON_INT64(pos->sub_offset),
                               "source_position", BCON_UTF8(ptext), "_pos", BCON_UTF8(pk),
                               "updated_at", BCON_DATE_TIME((int64_t)time(NULL) * 1000),
                               "epoch", BCON_INT64(t->epoch), "}");
        bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
        bool ok = mongoc_collection_update_one(t->ko, sel, upd, opts, NULL, &err);
        bson_destroy(sel); bson_destroy(upd); bson_destroy(opts);
        if (!ok && sl_mongo_fenced(&err, t->epoch)) {
            snprintf(errstr, sz, "mongodb target: position write of task \"%s\" fenced: epoch %"
                     PRId64 " is stale, another copy has taken the task's lease over", t->task,
                     t->epoch);
            return SL_ERR_FENCED;
        }
        if (!ok) {
            snprintf(errstr, sz, "mongodb target: storing the position of task \"%s\": %s",
                     t->task, err.message);
            return SL_ERR_DB;
        }
        if (strcmp(pk, t->guard) > 0)
            memcpy(t->guard, pk, sizeof pk);
    }
    if ((e = app_mg_stops_flush(t, errstr, sz)))
        return e;
    t->in_txn = 0;
    return SL_OK;
}

static sl_err_t mg_rollback(app_target_t *at, char *errstr, size_t sz)
{
    mg_target_t *t = (mg_target_t *)at;
    mg_drop_ops(t);          /* what was sent stays: see the header */
    app_mg_stops_drop(t);
    t->in_txn = 0;
    return SL_OK;
}

/* The ops take the common head (an mg_target_t starts with it); open hands
 * it out. */
static sl_err_t op_mg_open(app_target_t **out, const app_target_conf_t *conf, char *e, size_t n)
{
    mg_target_t *t = NULL;
    sl_err_t err = mg_open(&t, conf, e, n);
    *out = t ? &t->base : NULL;
    return err;
}

uint64_t app_target_mongo_skipped(const app_target_t *t)
{
    return ((const mg_target_t *)t)->skipped;
}

static sl_err_t op_mg_check_name(app_target_t *t, const char *schema, const char *table,
                                 char *errstr, size_t sz)
{
    return app_mg_check_name((const mg_target_t *)t, schema, table, errstr, sz);
}

const app_target_ops_t app_target_mongo = {
    .name = "mongodb",
    .open = op_mg_open,
    .close = mg_close,
    .load_position = mg_load_position,
    .lease_take = app_mg_lease_take,
    .lease_check = app_mg_lease_check,
    .lease_drop = app_mg_lease_drop,
    .begin = mg_begin,
    .schema = mg_schema,
    .rows = mg_rows,
    .commit = mg_commit,
    .rollback = mg_rollback,
    .check_name = op_mg_check_name,
    .stops_load = app_mg_stops_load,
    .stop_save = app_mg_stop_save,
    .stop_clear = app_mg_stop_clear,
};
