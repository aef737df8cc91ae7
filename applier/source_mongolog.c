/* shiftlog-applier: `source.type = mongolog` — the task reads the miner's
 * shared log (docs/miner.md "Read contract") instead of the Kafka topic, and
 * hands over to the topic once caught up (consume.c).
 *
 *   order      documents in `_id` (= source position) order, in bounded
 *              windows ({_id: {$gt: last, $lte: watermark}}, sort _id,
 *              limit source.log.window): only `_id` range scans, which the
 *              MongoDB stand-in serves too;
 *   complete   never past `<collection>__control` {_id: "progress"}.watermark
 *              (the last commit such that everything before it is in the
 *              log); a table the task needs that the miner has stopped (or is
 *              catching up) bounds the read at its stop offset;
 *   records    the change documents of one Kafka message (same `offset`,
 *              consecutive `sub`) become one CHANGE record with the message's
 *              rows, so the record, its Kafka offset and its subOffsets are
 *              exactly those the applier would have read from the topic: the
 *              target's stored position (kafkaoffset) means the same on both
 *              sources, a restart resumes from it whichever source it was on,
 *              and the hand-over continues on the topic at offset + 1;
 *              commit documents become COMMIT records, schema documents
 *              SCHEMA records (the schema in force at the start = the last
 *              schema document at or before it, seeded into txn.c); values
 *              are read back with sl_bson_read_value, given each column's
 *              kind from the schema in force;
 *   gaps       a gap document for a table the task applies (or "*") stops the
 *              task with a sentence naming the table, the Kafka offsets lost
 *              and what to do — never skipped silently. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "applier.h"
#include "sl_value_text.h"
#include "sl_bson.h"
#include "sl_logdoc.h"
#include "sl_name.h"
#include "sl_log.h"

typedef struct kinds_s {
    struct kinds_s *next;
    char           *table;          /* "db.table" */
    uint32_t        n;
    char          **names;
    sl_val_kind_t  *kinds;
} kinds_t;

struct app_logsrc_s {
    const app_conf_t *c;
    app_mapping_t    *mapping;       /* borrowed */
    mongoc_client_t  *client;
    mongoc_collection_t *log, *control;
    char              coll_name[256];

    char              last_id[SL_BSON_ID_LEN + 1];  /* last document handed out ("" = none) */
    char              watermark[SL_BSON_ID_LEN + 1];
    int64_t           next_offset;   /* Kafka offset after the last document read (-1 unknown) */
    int64_t           miner_offset;  /* the miner's next Kafka offset (progress.offset) */
    int64_t           stop_offset;   /* a needed table is stopped in the miner here (-1 none) */
    char              stop_table[300];

    bson_t          **buf;           /* the current window */
    size_t            nbuf, ibuf, capbuf;
    kinds_t          *kinds;
    uint64_t          docs;
};

/* ------------------------------------------------------------- helpers */

static void buf_clear(app_logsrc_t *s)
{
    for (size_t i = 0; i < s->nbuf; i++)
        bson_destroy(s->buf[i]);
    s->nbuf = s->ibuf = 0;
}

static const char *doc_str(const bson_t *d, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, d, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static int64_t doc_int(const bson_t *d, const char *key, int64_t def)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, d, key) && BSON_ITER_HOLDS_NUMBER(&it))
        return bson_iter_as_int64(&it);
    return def;
}

/* A Kafka offset (max INT64_MAX) or a row index in a message (max
 * SL_CHANGE_MAX_ROWS) from a document: -1 when absent or out of range, so
 * that a corrupt document cannot make offset + 1 or a row count overflow. */
static int64_t doc_index(const bson_t *d, const char *key, int64_t max)
{
    int64_t v = doc_int(d, key, -1);
    return v >= 0 && v < max ? v : -1;
}

static kinds_t *kinds_find(app_logsrc_t *s, const char *table)
{
    for (kinds_t *k = s->kinds; k; k = k->next)
        if (!strcmp(k->table, table))
            return k;
    return NULL;
}

static void kinds_free_one(kinds_t *k)
{
    for (uint32_t i = 0; i < k->n; i++)
        free(k->names[i]);
    free(k->names);
    free(k->kinds);
    k->names = NULL;
    k->kinds = NULL;
    k->n = 0;
}

/* Remembers the column kinds of a schema (value hints of its table's rows). */
static sl_err_t kinds_set(app_logsrc_t *s, const sl_schema_t *sc)
{
    char table[600];
    sl_name_format(sc->db, sc->table, table, sizeof table);
    kinds_t *k = kinds_find(s, table);
    if (!k) {
        if (!(k = calloc(1, sizeof(*k))) || !(k->table = strdup(table))) {
            free(k);
            return SL_ERR_NOMEM;
        }
        k->next = s->kinds;
        s->kinds = k;
    }
    kinds_free_one(k);
    k->names = calloc(sc->ncols ? sc->ncols : 1, sizeof(*k->names));
    k->kinds = calloc(sc->ncols ? sc->ncols : 1, sizeof(*k->kinds));
    if (!k->names || !k->kinds)
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < sc->ncols; i++) {
        if (!(k->names[i] = strdup(sc->cols[i].name ? sc->cols[i].name : "")))
            return SL_ERR_NOMEM;
        k->kinds[i] = sc->cols[i].kind;
        k->n = i + 1;
    }
    return SL_OK;
}

static sl_val_kind_t kind_hint(const kinds_t *k, uint32_t idx, const char *name)
{
    if (!k)
        return SL_VAL_NULL;
    if (idx < k->n && !strcmp(k->names[idx], name))
        return k->kinds[idx];
    for (uint32_t i = 0; i < k->n; i++)
        if (!strcmp(k->names[i], name))
            return k->kinds[i];
    return SL_VAL_NULL;
}

static sl_err_t db_err(const bson_error_t *e, const char *what, char *errstr, size_t size)
{
    snprintf(errstr, size, "shared log: %s: %s", what, e->message);
    return SL_ERR_DB;
}

/* ---------------------------------------------------------- open/close */

sl_err_t app_logsrc_open_local(app_logsrc_t **out, const app_conf_t *c, app_mapping_t *mapping)
{
    app_logsrc_t *s = calloc(1, sizeof(*s));
    if (!s)
        return SL_ERR_NOMEM;
    s->c = c;
    s->mapping = mapping;
    s->next_offset = -1;
    s->stop_offset = -1;
    *out = s;
    return SL_OK;
}

sl_err_t app_logsrc_open(app_logsrc_t **out, const app_conf_t *c, app_mapping_t *mapping,
                         char *errstr, size_t errstr_size)
{
    bson_error_t e;
    app_logsrc_t *s;
    if (app_logsrc_open_local(&s, c, mapping)) {
        snprintf(errstr, errstr_size, "applier: out of memory");
        return SL_ERR_NOMEM;
    }
    mongoc_init();
    mongoc_uri_t *uri = mongoc_uri_new_with_error(c->log_uri, &e);
    if (!uri) {
        snprintf(errstr, errstr_size, "source.log.uri: %s", e.message);
        free(s);
        return SL_ERR_INVALID;
    }
    if (!mongoc_uri_get_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 0))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    s->client = mongoc_client_new_from_uri_with_error(uri, &e);
    mongoc_uri_destroy(uri);
    if (!s->client) {
        snprintf(errstr, errstr_size, "source.log.uri: %s", e.message);
        free(s);
        return SL_ERR_INVALID;
    }
    mongoc_client_set_appname(s->client, "shiftlog-applier");
    snprintf(s->coll_name, sizeof s->coll_name, "%s",
             c->log_collection && *c->log_collection ? c->log_collection : c->source_name);
    char ctl[300];
    snprintf(ctl, sizeof ctl, "%s__control", s->coll_name);
    s->log = mongoc_client_get_collection(s->client, c->log_database, s->coll_name);
    s->control = mongoc_client_get_collection(s->client, c->log_database, ctl);
    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    int ok = mongoc_client_command_simple(s->client, "admin", ping, NULL, NULL, &e);
    bson_destroy(ping);
    if (!ok) {
        snprintf(errstr, errstr_size, "shared log %s: %s", c->log_uri, e.message);
        app_logsrc_close(s);
        return SL_ERR_DB;
    }
    *out = s;
    return SL_OK;
}

void app_logsrc_close(app_logsrc_t *s)
{
    if (!s)
        return;
    buf_clear(s);
    free(s->buf);
    while (s->kinds) {
        kinds_t *k = s->kinds;
        s->kinds = k->next;
        kinds_free_one(k);
        free(k->table);
        free(k);
    }
    if (s->log)
        mongoc_collection_destroy(s->log);
    if (s->control)
        mongoc_collection_destroy(s->control);
    if (s->client)
        mongoc_client_destroy(s->client);
    free(s);
}

/* Appends a copy of doc to the window (a read of the log, or a push). */
sl_err_t app_logsrc_push(app_logsrc_t *s, const bson_t *doc)
{
    if (s->nbuf == s->capbuf) {
        size_t cap = s->capbuf ? s->capbuf * 2 : 256;
        bson_t **nb = realloc(s->buf, cap * sizeof(*nb));
        if (!nb)
            return SL_ERR_NOMEM;
        s->buf = nb;
        s->capbuf = cap;
    }
    if (!(s->buf[s->nbuf] = bson_copy(doc)))
        return SL_ERR_NOMEM;
    s->nbuf++;
    return SL_OK;
}

/* --------------------------------------------------------------- start */

sl_err_t app_logsrc_check_conf(const app_conf_t *c, char *errstr, size_t errstr_size)
{
    int64_t us;
    sl_pos_t p;
    if (c->source_type != APP_SOURCE_MONGOLOG)
        return SL_OK;
    if (!c->log_uri || !*c->log_uri) {
        snprintf(errstr, errstr_size, "source.type = mongolog needs source.log.uri");
        return SL_ERR_INVALID;
    }
    if (!(c->log_collection && *c->log_collection) && !(c->source_name && *c->source_name)) {
        snprintf(errstr, errstr_size,
                 "source.type = mongolog needs source.name (or source.log.collection)");
        return SL_ERR_INVALID;
    }
    if (c->start_time && *c->start_time && sl_parse_utc_time(c->start_time, &us)) {
        snprintf(errstr, errstr_size,
                 "source.start.time \"%s\" is not an ISO 8601 UTC time (2026-01-01T00:00:00Z)",
                 c->start_time);
        return SL_ERR_INVALID;
    }
    if (c->start_position && *c->start_position &&
        sl_bson_pos_key_parse(c->start_position, &p) &&
        sl_pos_parse(c->start_position, &p, errstr, errstr_size)) {
        snprintf(errstr, errstr_size, "source.start.position \"%s\" is neither a source "
                 "position (binlog.000003:1234#0) nor a log _id", c->start_position);
        return SL_ERR_INVALID;
    }
    return SL_OK;
}

/* The first document of a find (sorted, limit 1) into out; 0 none, -1 error. */
static int find_one(mongoc_collection_t *coll, bson_t *filter, bson_t *opts, bson_t *out,
                    bson_error_t *e)
{
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *d;
    int rc = 0;
    if (mongoc_cursor_next(cur, &d)) {
        bson_copy_to(d, out);
        rc = 1;
    } else if (mongoc_cursor_error(cur, e))
        rc = -1;
    mongoc_cursor_destroy(cur);
    return rc;
}

/* Where reading starts when the target has no position: after the last
 * commit before source.start.time, after source.start.position, or at the
 * log's beginning. */
static sl_err_t first_start_id(app_logsrc_t *s, char *id, char *errstr, size_t errstr_size)
{
    bson_error_t e;
    id[0] = '\0';
    if (s->c->start_position && *s->c->start_position) {
        sl_pos_t p;
        char perr[256];
        if (sl_bson_pos_key_parse(s->c->start_position, &p) == SL_OK &&
            strlen(s->c->start_position) == SL_BSON_ID_LEN)
            snprintf(id, SL_BSON_ID_LEN + 1, "%s", s->c->start_position);
        else if (sl_bson_pos_key_parse(s->c->start_position, &p) == SL_OK ||
                 sl_pos_parse(s->c->start_position, &p, perr, sizeof perr) == SL_OK)
            sl_bson_doc_id(&p, SL_BSON_T_COMMIT, id);
        sl_info("shared log: starting after position %s (source.start.position)", id);
        return SL_OK;
    }
    if (!s->c->start_time || !*s->c->start_time)
        return SL_OK;
    int64_t us = 0;
    sl_parse_utc_time(s->c->start_time, &us);
    bson_t *f = BCON_NEW("op", "commit", "ts_us", "{", "$gte", BCON_INT64(us), "}");
    bson_t *o = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "limit", BCON_INT64(1));
    bson_t first = BSON_INITIALIZER;
    int rc = find_one(s->log, f, o, &first, &e);
    bson_destroy(f);
    bson_destroy(o);
    if (rc < 0) {
        bson_destroy(&first);
        return db_err(&e, "finding source.start.time", errstr, errstr_size);
    }
    if (rc == 0) {
        /* nothing committed at or after it yet: start after the last commit */
        f = BCON_NEW("op", "commit");
    } else {
        const char *cid = doc_str(&first, "_id");
        f = BCON_NEW("op", "commit", "_id", "{", "$lt", BCON_UTF8(cid ? cid : ""), "}");
    }
    bson_destroy(&first);
    o = BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64(1));
    bson_t prev = BSON_INITIALIZER;
    rc = find_one(s->log, f, o, &prev, &e);
    bson_destroy(f);
    bson_destroy(o);
    if (rc < 0) {
        bson_destroy(&prev);
        return db_err(&e, "finding source.start.time", errstr, errstr_size);
    }
    if (rc == 1 && doc_str(&prev, "_id"))
        snprintf(id, SL_BSON_ID_LEN + 1, "%s", doc_str(&prev, "_id"));
    bson_destroy(&prev);
    sl_info("shared log: starting at the first transaction committed at or after %s "
            "(after %s)", s->c->start_time, *id ? id : "the log's beginning");
    return SL_OK;
}

sl_err_t app_logsrc_start(app_logsrc_t *s, app_txn_t *txn, const app_position_t *pos,
                          int seed, char *errstr, size_t errstr_size)
{
    char start[SL_BSON_ID_LEN + 1] = "";
    buf_clear(s);
    s->next_offset = -1;
    if (pos) {
        sl_bson_doc_id(&pos->source, SL_BSON_T_COMMIT, start);
        s->next_offset = pos->kafka_offset + 1;
    } else {
        sl_err_t err = first_start_id(s, start, errstr, errstr_size);
        if (err)
            return err;
    }
    snprintf(s->last_id, sizeof s->last_id, "%s", start);
    if (!seed)
        return SL_OK;
    /* the schema in force of every table at the start: every schema document
     * at or before it, in order (txn.c keeps the newest per table) */
    bson_error_t e;
    bson_t *f = *start ? BCON_NEW("op", "schema", "_id", "{", "$lte", BCON_UTF8(start), "}")
                       : NULL;
    if (!f) {
        s->docs = 0;
        return SL_OK;
    }
    bson_t *o = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(s->log, f, o, NULL);
    const bson_t *d;
    size_t n = 0;
    sl_err_t err = SL_OK;
    while (mongoc_cursor_next(cur, &d)) {
        sl_record_t *rec = sl_record_new();
        if (!rec) {
            err = SL_ERR_NOMEM;
            break;
        }
        if (sl_bson_schema_from_doc(d, rec, errstr, errstr_size) != SL_OK) {
            sl_record_destroy(rec);
            continue;
        }
        if ((err = kinds_set(s, &rec->u.schema)))
            break;
        app_txn_seed_schema(txn, rec, doc_int(d, "offset", -1));
        n++;
    }
    if (!err && mongoc_cursor_error(cur, &e))
        err = db_err(&e, "reading the schema documents", errstr, errstr_size);
    mongoc_cursor_destroy(cur);
    bson_destroy(f);
    bson_destroy(o);
    if (!err)
        sl_info("shared log %s.%s: %zu schema document(s) at or before the start", 
                s->c->log_database, s->coll_name, n);
    return err;
}

/* ------------------------------------------------------------- reading */

/* Reads the progress watermark and the stop points of needed tables. */
static sl_err_t refresh_watermark(app_logsrc_t *s, char *errstr, size_t errstr_size)
{
    bson_error_t e;
    bson_t *f = BCON_NEW("_id", "progress");
    bson_t d = BSON_INITIALIZER;
    int rc = find_one(s->control, f, NULL, &d, &e);
    bson_destroy(f);
    if (rc < 0) {
        bson_destroy(&d);
        return db_err(&e, "reading the progress document", errstr, errstr_size);
    }
    const char *w = rc ? doc_str(&d, "watermark") : NULL;
    snprintf(s->watermark, sizeof s->watermark, "%s", w ? w : "");
    s->miner_offset = rc ? doc_int(&d, "offset", -1) : -1;
    bson_destroy(&d);

    /* tables stopped (or catching up) in the miner: nothing of theirs past
     * the stop point is in the log yet (read contract 3) */
    s->stop_offset = -1;
    f = BCON_NEW("_id", "{", "$gte", SL_LOGDOC_CTL_TABLE_PREFIX, "$lt", "table;", "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(s->control, f, NULL, NULL);
    const bson_t *t;
    while (mongoc_cursor_next(cur, &t)) {
        const char *state = doc_str(t, "state");
        const char *id = doc_str(t, "_id");
        if (!state || !id || !strcmp(state, "running"))
            continue;
        const char *table = id + strlen(SL_LOGDOC_CTL_TABLE_PREFIX);
        char db[256], tbl[256];
        if (sl_name_parse(table, db, sizeof db, tbl, sizeof tbl) ||
            !app_mapping_included(s->mapping, db, tbl))
            continue;
        bson_iter_t it, sub;
        int64_t at = -1;
        if (bson_iter_init_find(&it, t, "stopped_at") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
            bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, "offset") &&
            BSON_ITER_HOLDS_NUMBER(&sub))
            at = bson_iter_as_int64(&sub);
        if (at >= 0 && (s->stop_offset < 0 || at < s->stop_offset)) {
            s->stop_offset = at;
            snprintf(s->stop_table, sizeof s->stop_table, "%s (%s)", table, state);
        }
    }
    if (mongoc_cursor_error(cur, &e)) {
        mongoc_cursor_destroy(cur);
        bson_destroy(f);
        return db_err(&e, "reading the table states", errstr, errstr_size);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(f);
    return SL_OK;
}

/* Fills the window after last_id up to the watermark. */
static sl_err_t fill(app_logsrc_t *s, char *errstr, size_t errstr_size)
{
    bson_error_t e;
    buf_clear(s);
    if (!s->watermark[0] || strcmp(s->last_id, s->watermark) >= 0)
        return SL_OK;
    bson_t *f = BCON_NEW("_id", "{", "$gt", BCON_UTF8(s->last_id), "$lte",
                         BCON_UTF8(s->watermark), "}");
    bson_t *o = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "limit",
                         BCON_INT64(s->c->log_window));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(s->log, f, o, NULL);
    const bson_t *d;
    sl_err_t err = SL_OK;
    while (!err && mongoc_cursor_next(cur, &d))
        err = app_logsrc_push(s, d);
    if (!err && mongoc_cursor_error(cur, &e))
        err = db_err(&e, "reading the log", errstr, errstr_size);
    mongoc_cursor_destroy(cur);
    bson_destroy(f);
    bson_destroy(o);
    return err;
}

/* The next document (not consumed), NULL when the window up to the
 * watermark is read (or a stopped table bounds the read). */
static const bson_t *peek(app_logsrc_t *s, int refill, sl_err_t *err, char *errstr,
                          size_t errstr_size)
{
    *err = SL_OK;
    if (s->ibuf == s->nbuf) {
        if (!refill || !s->client)      /* a local reader has only what was pushed */
            return NULL;
        if ((*err = fill(s, errstr, errstr_size)))
            return NULL;
        if (!s->nbuf)
            return NULL;
    }
    const bson_t *d = s->buf[s->ibuf];
    if (s->stop_offset >= 0 && doc_int(d, "offset", -1) >= s->stop_offset)
        return NULL;
    return d;
}

static void consume_doc(app_logsrc_t *s)
{
    const char *id = doc_str(s->buf[s->ibuf], "_id");
    if (id)
        snprintf(s->last_id, sizeof s->last_id, "%s", id);
    s->ibuf++;
    s->docs++;
}

static sl_err_t parse_pos(const bson_t *d, sl_pos_t *pos, char *errstr, size_t errstr_size)
{
    const char *p = doc_str(d, "pos"), *id = doc_str(d, "_id");
    if (p && sl_pos_parse(p, pos, errstr, errstr_size) == SL_OK)
        return SL_OK;
    if (id && sl_bson_pos_key_parse(id, pos) == SL_OK)
        return SL_OK;
    snprintf(errstr, errstr_size, "log document %s: no position", id ? id : "?");
    return SL_ERR_DECODE;
}

/* The miner writes sl_op_name() (miner/doc.c): every op, READ included. */
static int op_of(const char *name, sl_op_t *op)
{
    for (int i = SL_OP_INSERT; i <= SL_OP_READ; i++)
        if (name && !strcmp(name, sl_op_name((sl_op_t)i))) {
            *op = (sl_op_t)i;
            return 0;
        }
    return -1;
}

/* Reads one image document into vals[ncols] (columns in cols order). */
static sl_err_t read_image(app_logsrc_t *s, const bson_t *d, const char *key, const kinds_t *k,
                           sl_record_t *rec, const char *const *cols, uint32_t ncols,
                           sl_value_t *vals, char *errstr, size_t errstr_size)
{
    bson_iter_t it, img;
    if (!bson_iter_init_find(&it, d, key) || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
        !bson_iter_recurse(&it, &img)) {
        snprintf(errstr, errstr_size, "log document %s: no %s image", doc_str(d, "_id"), key);
        return SL_ERR_DECODE;
    }
    uint32_t i = 0;
    while (bson_iter_next(&img)) {
        const char *name = bson_iter_key(&img);
        if (i >= ncols || strcmp(name, cols[i])) {
            snprintf(errstr, errstr_size, "log document %s: %s image columns differ from "
                     "the message's", doc_str(d, "_id"), key);
            return SL_ERR_DECODE;
        }
        sl_err_t err = sl_bson_read_value(&img, kind_hint(k, i, name), rec, &vals[i], errstr,
                                          errstr_size);
        if (err)
            return err;
        i++;
    }
    if (i != ncols) {
        snprintf(errstr, errstr_size, "log document %s: %s image has %u of %u columns",
                 doc_str(d, "_id"), key, i, ncols);
        return SL_ERR_DECODE;
    }
    return SL_OK;
}

/* The change documents of one Kafka message, from the one at the window's
 * cursor: same `offset`, consecutive `sub`. */
static sl_err_t read_change(app_logsrc_t *s, sl_record_t *rec, app_msg_t *m, char *errstr,
                            size_t errstr_size)
{
    const bson_t *d0 = s->buf[s->ibuf];
    int64_t offset = doc_index(d0, "offset", INT64_MAX);
    int64_t sub0 = doc_int(d0, "sub", 0) ? doc_index(d0, "sub", SL_CHANGE_MAX_ROWS) : 0; /* absent: 0 */
    char op0[16];
    snprintf(op0, sizeof op0, "%s", doc_str(d0, "op") ? doc_str(d0, "op") : "");
    /* the documents of the message: copies (a refill replaces the window) */
    bson_t **docs = NULL;
    size_t n = 0, cap = 0;
    sl_err_t err = SL_OK;
    const bson_t *d = d0;
    int64_t want = sub0;
    while (d) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            bson_t **nd = realloc(docs, cap * sizeof(*nd));
            if (!nd) {
                err = SL_ERR_NOMEM;
                break;
            }
            docs = nd;
        }
        docs[n++] = bson_copy(d);
        consume_doc(s);
        want++;
        d = peek(s, 1, &err, errstr, errstr_size);
        if (err)
            break;
        const char *dop = d ? doc_str(d, "op") : NULL;
        if (!d || !dop || strcmp(dop, op0) ||
            doc_int(d, "offset", -1) != offset || doc_int(d, "sub", -1) != want)
            break;
    }
    if (err)
        goto out;
    const char *db = doc_str(docs[0], SL_LOGDOC_DB), *tbl = doc_str(docs[0], SL_LOGDOC_TBL),
               *table = doc_str(docs[0], SL_LOGDOC_TABLE);
    sl_op_t op;
    if (op_of(op0, &op) || !db || !tbl || !table || offset < 0 || sub0 < 0 ||
        sub0 >= SL_CHANGE_MAX_ROWS) {
        snprintf(errstr, errstr_size, "log document %s: not a change document the miner "
                 "writes", doc_str(docs[0], "_id"));
        err = SL_ERR_DECODE;
        goto out;
    }

    /* columns: the keys of the first image */
    const char *cols[4096];
    uint32_t ncols = 0;
    bson_iter_t it, img;
    if ((bson_iter_init_find(&it, docs[0], "after") ||
         bson_iter_init_find(&it, docs[0], "before")) &&
        BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &img))
        while (bson_iter_next(&img) && ncols < 4096)
            cols[ncols++] = bson_iter_key(&img);
    /* the rows before sub0 (not in this read: applied already; the core skips
     * them by first_row) get no images: memory follows the documents read,
     * not a row index a document names */
    sl_change_t *c = &rec->u.change;
    sl_row_t *rows = NULL;
    if ((err = sl_record_init_change(rec, s->c->source_name ? s->c->source_name : "", db, tbl,
                                     op, ncols, cols, (uint32_t)n)) ||
        (sub0 && !(rows = sl_record_alloc(rec, (size_t)(sub0 + (int64_t)n) * sizeof(*rows))))) {
        const char *id0 = doc_str(docs[0], "_id");
        snprintf(errstr, errstr_size, "log document %s: cannot build the record",
                 id0 ? id0 : "?");
        err = err ? err : SL_ERR_NOMEM;
        goto out;
    }
    if (rows) {
        memcpy(rows + sub0, c->rows, n * sizeof(*rows));
        c->rows = rows;
        c->nrows = (uint32_t)(sub0 + (int64_t)n);
    }
    if ((err = parse_pos(docs[0], &rec->pos, errstr, errstr_size)))
        goto out;
    rec->pos.row -= (uint32_t)sub0;          /* the message's row 0 */
    const char *txn = doc_str(docs[0], "txn"), *fp = doc_str(docs[0], "schema"),
               *origin = doc_str(docs[0], "origin");
    c->txn = txn && *txn ? sl_record_strdup(rec, txn) : NULL;
    c->event_time_us = doc_int(docs[0], "ts_us", 0);
    c->schema_id = fp ? strtoull(fp, NULL, 16) : 0;
    c->server_id = (uint32_t)doc_int(docs[0], "server_id", 0);
    c->flags = (uint32_t)doc_int(docs[0], "flags", 0);
    c->origin = origin ? sl_record_strdup(rec, origin) : NULL;
    char tname[600];
    const kinds_t *k = kinds_find(s, sl_name_format(db, tbl, tname, sizeof tname));
    for (size_t i = 0; i < n; i++) {
        sl_row_t *r = &c->rows[sub0 + (int64_t)i];
        if (r->before &&
            (err = read_image(s, docs[i], "before", k, rec, c->columns, ncols, r->before, errstr,
                              errstr_size)))
            goto out;
        if (r->after &&
            (err = read_image(s, docs[i], "after", k, rec, c->columns, ncols, r->after, errstr,
                              errstr_size)))
            goto out;
    }
    m->offset = offset;
    m->first_row = (uint32_t)sub0;
out:
    for (size_t i = 0; i < n; i++)
        bson_destroy(docs[i]);
    free(docs);
    return err;
}

sl_err_t app_logsrc_next(app_logsrc_t *s, sl_record_t *rec, app_msg_t *m, char *errstr,
                         size_t errstr_size)
{
    sl_err_t err;
    const bson_t *d = peek(s, 1, &err, errstr, errstr_size);
    if (err)
        return err;
    if (!d) {
        if (!s->client)
            return SL_ERR_TIMEOUT;           /* a local reader: every pushed document read */
        /* the window is read: a newer watermark? */
        if ((err = refresh_watermark(s, errstr, errstr_size)))
            return err;
        d = peek(s, 1, &err, errstr, errstr_size);
        if (err)
            return err;
        if (!d)
            return SL_ERR_TIMEOUT;           /* caught up */
    }
    memset(m, 0, sizeof(*m));
    const char *op = doc_str(d, "op"), *id = doc_str(d, "_id");
    int64_t offset = doc_index(d, "offset", INT64_MAX);
    sl_record_reset(rec);
    if (op && !strcmp(op, "commit")) {
        const char *txn = doc_str(d, "txn");
        err = sl_record_init_commit(rec, s->c->source_name ? s->c->source_name : "",
                                    txn && *txn ? txn : NULL, doc_int(d, "ts_us", 0),
                                    (uint32_t)doc_int(d, "server_id", 0),
                                    (uint64_t)doc_int(d, "rows", 0));
        if (!err)
            err = parse_pos(d, &rec->pos, errstr, errstr_size);
        m->offset = offset;
        consume_doc(s);
    } else if (op && !strcmp(op, "schema")) {
        err = sl_bson_schema_from_doc(d, rec, errstr, errstr_size);
        if (!err)
            err = parse_pos(d, &rec->pos, errstr, errstr_size);
        if (!err)
            err = kinds_set(s, &rec->u.schema);
        m->offset = offset;
        consume_doc(s);
    } else if (op && !strcmp(op, "gap")) {
        const char *table = doc_str(d, SL_LOGDOC_TABLE);
        const char *gdb = doc_str(d, SL_LOGDOC_DB), *gtbl = doc_str(d, SL_LOGDOC_TBL);
        char db[256], tbl[256];
        int named = gdb && gtbl;              /* older miners: the name form only */
        if (!named && table && strcmp(table, "*") &&
            !sl_name_parse(table, db, sizeof db, tbl, sizeof tbl)) {
            gdb = db;
            gtbl = tbl;
            named = 1;
        }
        int needed = !named || app_mapping_included(s->mapping, gdb, gtbl);
        if (needed) {
            snprintf(errstr, errstr_size,
                     "GAP in the shared log for table %s after position %s: Kafka offsets "
                     "[%" PRId64 ", %" PRId64 ") were gone when they were to be mined (%s); "
                     "this task applies that table and stops there — resynchronise the table "
                     "(or exclude it with tables.exclude) and restart the task",
                     table ? table : "?", doc_str(d, "pos") ? doc_str(d, "pos") : "?",
                     doc_int(d, "from_offset", -1), doc_int(d, "to_offset", -1),
                     doc_str(d, "reason") ? doc_str(d, "reason") : "no reason given");
            return SL_ERR_FATAL;             /* not consumed: a restart meets it again */
        }
        sl_info("shared log: gap document %s for table %s (not applied by this task): "
                "ignored", id ? id : "?", table);
        consume_doc(s);
        return app_logsrc_next(s, rec, m, errstr, errstr_size);
    } else {
        err = read_change(s, rec, m, errstr, errstr_size);
    }
    if (!err && m->offset >= 0)
        s->next_offset = m->offset + 1;
    if (err == SL_ERR_DECODE || err == SL_ERR_PARSE)
        err = SL_ERR_FATAL;
    return err;
}

int64_t app_logsrc_next_offset(const app_logsrc_t *s)
{
    return s->next_offset;
}

int64_t app_logsrc_miner_offset(const app_logsrc_t *s)
{
    return s->miner_offset;
}

int64_t app_logsrc_readable_offset(const app_logsrc_t *s)
{
    if (s->stop_offset >= 0 && (s->miner_offset < 0 || s->stop_offset < s->miner_offset))
        return s->stop_offset;
    return s->miner_offset;
}

const char *app_logsrc_stopped_table(const app_logsrc_t *s)
{
    return s->stop_offset >= 0 ? s->stop_table : NULL;
}

uint64_t app_logsrc_docs(const app_logsrc_t *s)
{
    return s->docs;
}
