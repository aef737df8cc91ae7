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
#include "source.h"
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

/* sl_logdoc_hint_fn over the kinds of a table (ctx; NULL: none known). */
static sl_val_kind_t kind_hint(void *ctx, uint32_t idx, const char *name)
{
    const kinds_t *k = ctx;
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
        const char *cid = sl_logdoc_str(&first, SL_LOGDOC_ID);
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
    if (rc == 1 && sl_logdoc_str(&prev, SL_LOGDOC_ID))
        snprintf(id, SL_BSON_ID_LEN + 1, "%s", sl_logdoc_str(&prev, SL_LOGDOC_ID));
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
        app_txn_seed_schema(txn, rec, sl_logdoc_int(d, SL_LOGDOC_OFFSET, -1));
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
    bson_t *f = BCON_NEW(SL_LOGDOC_ID, SL_LOGDOC_CTL_PROGRESS);
    bson_t d = BSON_INITIALIZER;
    int rc = find_one(s->control, f, NULL, &d, &e);
    bson_destroy(f);
    if (rc < 0) {
        bson_destroy(&d);
        return db_err(&e, "reading the progress document", errstr, errstr_size);
    }
    const char *w = rc ? sl_logdoc_str(&d, SL_LOGDOC_CTL_WATERMARK) : NULL;
    snprintf(s->watermark, sizeof s->watermark, "%s", w ? w : "");
    s->miner_offset = rc ? sl_logdoc_int(&d, SL_LOGDOC_OFFSET, -1) : -1;
    bson_destroy(&d);

    /* tables stopped (or catching up) in the miner: nothing of theirs past
     * the stop point is in the log yet (read contract 3) */
    s->stop_offset = -1;
    f = BCON_NEW("_id", "{", "$gte", SL_LOGDOC_CTL_TABLE_PREFIX, "$lt", "table;", "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(s->control, f, NULL, NULL);
    const bson_t *t;
    while (mongoc_cursor_next(cur, &t)) {
        const char *state = sl_logdoc_str(t, SL_LOGDOC_CTL_STATE);
        const char *id = sl_logdoc_str(t, SL_LOGDOC_ID);
        if (!state || !id || !strcmp(state, "running"))
            continue;
        const char *table = id + strlen(SL_LOGDOC_CTL_TABLE_PREFIX);
        char db[256], tbl[256];
        if (sl_name_parse(table, db, sizeof db, tbl, sizeof tbl) ||
            !app_mapping_included(s->mapping, db, tbl))
            continue;
        bson_iter_t it, sub;
        int64_t at = -1;
        if (bson_iter_init_find(&it, t, SL_LOGDOC_CTL_STOPPED_AT) &&
            BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, SL_LOGDOC_OFFSET) &&
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
    if (s->stop_offset >= 0 && sl_logdoc_int(d, SL_LOGDOC_OFFSET, -1) >= s->stop_offset)
        return NULL;
    return d;
}

static void consume_doc(app_logsrc_t *s)
{
    const char *id = sl_logdoc_str(s->buf[s->ibuf], SL_LOGDOC_ID);
    if (id)
        snprintf(s->last_id, sizeof s->last_id, "%s", id);
    s->ibuf++;
    s->docs++;
}

/* The change documents of one Kafka message, from the one at the window's
 * cursor: same `offset`, consecutive `sub`. */
static sl_err_t read_change(app_logsrc_t *s, sl_record_t *rec, app_msg_t *m, char *errstr,
                            size_t errstr_size)
{
    const bson_t *d0 = s->buf[s->ibuf];
    int64_t offset = sl_logdoc_index(d0, SL_LOGDOC_OFFSET, INT64_MAX);
    /* the row index bounded (absent: 0), so that a hostile `sub` cannot overflow want++ */
    int64_t want = sl_logdoc_int(d0, SL_LOGDOC_SUB, 0)
                       ? sl_logdoc_index(d0, SL_LOGDOC_SUB, SL_CHANGE_MAX_ROWS) : 0;
    char op0[16];
    snprintf(op0, sizeof op0, "%s", sl_logdoc_str(d0, SL_LOGDOC_OP) ?
             sl_logdoc_str(d0, SL_LOGDOC_OP) : "");
    /* the documents of the message: copies (a refill replaces the window) */
    bson_t **docs = NULL;
    size_t n = 0, cap = 0;
    sl_err_t err = SL_OK;
    const bson_t *d = d0;
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
        const char *dop = d ? sl_logdoc_str(d, SL_LOGDOC_OP) : NULL;
        if (!d || !dop || strcmp(dop, op0) ||
            sl_logdoc_int(d, SL_LOGDOC_OFFSET, -1) != offset ||
            sl_logdoc_int(d, SL_LOGDOC_SUB, -1) != want)
            break;
    }
    if (!err) {
        const char *db = sl_logdoc_str(docs[0], SL_LOGDOC_DB),
                   *tbl = sl_logdoc_str(docs[0], SL_LOGDOC_TBL);
        char tname[600];
        const kinds_t *k = db && tbl ? kinds_find(s, sl_name_format(db, tbl, tname,
                                                                    sizeof tname)) : NULL;
        err = sl_logdoc_read_change((const bson_t *const *)docs, n,
                                    s->c->source_name ? s->c->source_name : "", kind_hint,
                                    (void *)k, rec, &m->offset, &m->first_row, errstr,
                                    errstr_size);
    }
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
    const char *op = sl_logdoc_str(d, SL_LOGDOC_OP), *id = sl_logdoc_str(d, SL_LOGDOC_ID);
    int64_t offset = sl_logdoc_index(d, SL_LOGDOC_OFFSET, INT64_MAX);
    sl_record_reset(rec);
    if (op && !strcmp(op, SL_LOGDOC_OP_COMMIT)) {
        err = sl_logdoc_read_commit(d, s->c->source_name ? s->c->source_name : "", rec, errstr,
                                    errstr_size);
        m->offset = offset;
        consume_doc(s);
    } else if (op && !strcmp(op, SL_LOGDOC_OP_SCHEMA)) {
        err = sl_bson_schema_from_doc(d, rec, errstr, errstr_size);
        if (!err)
            err = sl_logdoc_pos(d, &rec->pos, errstr, errstr_size);
        if (!err)
            err = kinds_set(s, &rec->u.schema);
        m->offset = offset;
        consume_doc(s);
    } else if (op && !strcmp(op, SL_LOGDOC_OP_GAP)) {
        const char *table = sl_logdoc_str(d, SL_LOGDOC_TABLE);
        const char *gdb = sl_logdoc_str(d, SL_LOGDOC_DB),
                   *gtbl = sl_logdoc_str(d, SL_LOGDOC_TBL);
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
            const char *pos = sl_logdoc_str(d, SL_LOGDOC_POS),
                       *why = sl_logdoc_str(d, SL_LOGDOC_REASON);
            snprintf(errstr, errstr_size,
                     "GAP in the shared log for table %s after position %s: Kafka offsets "
                     "[%" PRId64 ", %" PRId64 ") were gone when they were to be mined (%s); "
                     "this task applies that table and stops there — resynchronise the table "
                     "(or exclude it with tables.exclude) and restart the task",
                     table ? table : "?", pos ? pos : "?",
                     sl_logdoc_int(d, SL_LOGDOC_FROM_OFFSET, -1),
                     sl_logdoc_int(d, SL_LOGDOC_TO_OFFSET, -1), why ? why : "no reason given");
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

/* ------------------------------------------------- the source (source.h) */

typedef struct lsrc_s {
    app_source_t   base;
    app_logsrc_t  *log;
    sl_kafka_msg_t km;            /* the message a record came from: topic, partition and
                                     offset only (for dead letters) */
} lsrc_t;

static void lsrc_close(app_source_t *base)
{
    lsrc_t *s = (lsrc_t *)base;
    if (!s)
        return;
    app_logsrc_close(s->log);
    free(s);
}

static sl_err_t lsrc_open(app_source_t **out, const app_source_conf_t *conf, char *errstr,
                          size_t errstr_size)
{
    lsrc_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "applier: out of memory");
        return SL_ERR_NOMEM;
    }
    s->base.ops = &app_source_mongolog;
    s->base.conf = conf;
    sl_err_t err = app_logsrc_open(&s->log, conf->c, conf->mapping, errstr, errstr_size);
    if (err) {
        free(s);
        return err;
    }
    *out = &s->base;
    return SL_OK;
}

/* The schemas in force come from the log (the topic may have lost its early
 * part): never scanned on the topic. */
static sl_err_t lsrc_prepare(app_source_t *base, app_txn_t *txn, const app_position_t *pos,
                             int seed, char *errstr, size_t errstr_size)
{
    lsrc_t *s = (lsrc_t *)base;
    return seed ? app_logsrc_start(s->log, txn, pos, 1, errstr, errstr_size) : SL_OK;
}

/* A resumed table's catch-up (from) needs the topic: refused on the log
 * (app_stops_http_new's refusal), so only pos counts here. */
static sl_err_t lsrc_seek(app_source_t *base, app_txn_t *txn, const app_position_t *pos,
                          int64_t from, char *errstr, size_t errstr_size)
{
    lsrc_t *s = (lsrc_t *)base;
    return app_logsrc_start(s->log, txn, pos, 0, errstr, errstr_size);
}

static sl_err_t lsrc_next(app_source_t *base, sl_record_t *rec, app_msg_t *m, int wait_ms,
                          char *errstr, size_t errstr_size)
{
    lsrc_t *s = (lsrc_t *)base;
    const app_conf_t *c = base->conf->c;
    if (wait_ms > 0) {
        /* caught up, nothing else to do: the log cannot wake us */
        sl_service_wait((int)c->log_poll_ms);
        return SL_ERR_TIMEOUT;
    }
    sl_err_t err = app_logsrc_next(s->log, rec, m, errstr, errstr_size);
    if (err == SL_ERR_DB) {
        size_t n = strlen(errstr);
        snprintf(errstr + n, errstr_size - n, "; retrying");
    }
    if (err)
        return err;
    s->km = (sl_kafka_msg_t){.topic = c->source_topic, .partition = (int32_t)c->source_partition,
                             .offset = m->offset, .timestamp_ms = -1};
    m->kmsg = &s->km;
    sl_metric_inc(base->conf->m_records);
    return SL_OK;
}

static app_src_end_t lsrc_classify(const app_source_t *base, sl_err_t err)
{
    return err == SL_ERR_DB ? APP_SRC_TRANSIENT : APP_SRC_FATAL;
}

static int64_t lsrc_position(const app_source_t *base)
{
    return app_logsrc_next_offset(((const lsrc_t *)base)->log);
}

app_logsrc_t *app_source_mongolog_reader(app_source_t *base)
{
    return ((lsrc_t *)base)->log;
}

const app_source_ops_t app_source_mongolog = {
    .kind = "mongolog",
    .retry_ms = 1000,
    .open = lsrc_open,
    .prepare = lsrc_prepare,
    .seek = lsrc_seek,
    .next = lsrc_next,
    .classify = lsrc_classify,
    .position = lsrc_position,
    .close = lsrc_close,
};
