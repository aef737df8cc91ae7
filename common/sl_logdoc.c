/* shiftlog: the shared log's documents, written and read (sl_logdoc.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_bson.h"
#include "sl_logdoc.h"
#include "sl_name.h"

/* ------------------------------------------------------------- writing */

char *sl_logdoc_table_name(const char *db, const char *table, char *out, size_t size)
{
    if (!db || !*db) {
        const char *p[1] = {table ? table : ""};
        sl_name_join(p, 1, out, size);
        return out;
    }
    return sl_name_format(db, table, out, size);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b) < 0);
}

static int put_common(bson_t *doc, const sl_pos_t *pos, char type, const char *op,
                      int64_t time_us, int retention, int64_t offset)
{
    char id[SL_BSON_ID_LEN + 1], ptxt[200];
    int ok = 1;
    sl_bson_doc_id(pos, type, id);
    sl_pos_format(pos, ptxt, sizeof ptxt);
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_ID, id);
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_OP, op);
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_POS, ptxt);
    ok &= BSON_APPEND_DATE_TIME(doc, SL_LOGDOC_TS, floor_div(time_us, 1000));
    ok &= BSON_APPEND_INT64(doc, SL_LOGDOC_TS_US, time_us);
    if (retention)
        ok &= BSON_APPEND_DATE_TIME(doc, SL_LOGDOC_EXP, floor_div(time_us, 1000));
    if (offset >= 0)
        ok &= BSON_APPEND_INT64(doc, SL_LOGDOC_OFFSET, offset);
    return ok ? 0 : -1;
}

static int put_table(bson_t *doc, const char *db, const char *table)
{
    char name[512];
    int ok = BSON_APPEND_UTF8(doc, SL_LOGDOC_TABLE,
                              sl_logdoc_table_name(db, table, name, sizeof name));
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_DB, db ? db : "");
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TBL, table ? table : "");
    return ok;
}

int sl_logdoc_image(bson_t *out, const sl_change_t *c, const sl_value_t *img)
{
    int ok = 1;
    for (uint32_t i = 0; ok && i < c->ncols; i++)
        ok &= sl_bson_append_value(out, c->columns[i], -1, &img[i]) == 0;
    return ok ? 0 : -1;
}

int sl_logdoc_change(bson_t *doc, const sl_record_t *rec, uint32_t row, const bson_t *before,
                     const bson_t *after, const bson_t *supp_before, const bson_t *supp_after,
                     const sl_logdoc_ctx_t *ctx)
{
    const sl_change_t *c = &rec->u.change;
    sl_pos_t pos = rec->pos;
    int ok = 1;
    pos.row = rec->pos.row + row;
    if (put_common(doc, &pos, SL_BSON_T_CHANGE, sl_op_name(c->op), c->event_time_us,
                   ctx->retention, ctx->offset))
        return -1;
    ok &= BSON_APPEND_INT32(doc, SL_LOGDOC_SUB, (int32_t)row);
    ok &= put_table(doc, c->db, c->table);
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TXN, c->txn ? c->txn : "");
    if (c->schema_id) {
        char fp[17];
        snprintf(fp, sizeof fp, "%016" PRIx64, c->schema_id);
        ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_SCHEMA, fp);
    }
    if (c->server_id)
        ok &= BSON_APPEND_INT64(doc, SL_LOGDOC_SERVER_ID, c->server_id);
    if (c->flags)
        ok &= BSON_APPEND_INT64(doc, SL_LOGDOC_FLAGS, c->flags);
    if (c->origin)
        ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_ORIGIN, c->origin);
    if (!ok)
        return -1;
    if (before && !BSON_APPEND_DOCUMENT(doc, SL_LOGDOC_BEFORE, before))
        return -1;
    if (after && !BSON_APPEND_DOCUMENT(doc, SL_LOGDOC_AFTER, after))
        return -1;
    if (supp_before || supp_after) {
        bson_t s;
        ok &= BSON_APPEND_DOCUMENT_BEGIN(doc, SL_LOGDOC_SUPP, &s);
        if (supp_before)
            ok &= BSON_APPEND_ARRAY(&s, SL_LOGDOC_BEFORE, supp_before);
        if (supp_after)
            ok &= BSON_APPEND_ARRAY(&s, SL_LOGDOC_AFTER, supp_after);
        ok &= bson_append_document_end(doc, &s);
    }
    return ok ? 0 : -1;
}

int sl_logdoc_commit(bson_t *doc, const sl_record_t *rec, const sl_logdoc_ctx_t *ctx)
{
    const sl_commit_t *c = &rec->u.commit;
    int ok = 1;
    if (put_common(doc, &rec->pos, SL_BSON_T_COMMIT, SL_LOGDOC_OP_COMMIT, c->event_time_us,
                   ctx->retention, ctx->offset))
        return -1;
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TXN, c->txn ? c->txn : "");
    ok &= BSON_APPEND_INT64(doc, SL_LOGDOC_ROWS, (int64_t)c->nrows);
    if (c->server_id)
        ok &= BSON_APPEND_INT64(doc, SL_LOGDOC_SERVER_ID, c->server_id);
    return ok ? 0 : -1;
}

int sl_logdoc_schema(bson_t *doc, const sl_record_t *rec, const sl_logdoc_ctx_t *ctx)
{
    const sl_schema_t *s = &rec->u.schema;
    int ok = 1;
    if (put_common(doc, &rec->pos, SL_BSON_T_SCHEMA, SL_LOGDOC_OP_SCHEMA, 0, 0, ctx->offset))
        return -1;
    ok &= put_table(doc, s->db, s->table);
    if (s->ddl)
        ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_DDL, s->ddl);
    if (!ok)
        return -1;
    return sl_bson_schema_columns(doc, SL_LOGDOC_COLUMNS, s);
}

int sl_logdoc_gap(bson_t *doc, const char *table, const sl_pos_t *after, int64_t from_offset,
                  int64_t to_offset, const char *reason)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    int ok = 1;
    if (put_common(doc, after, SL_BSON_T_GAP, SL_LOGDOC_OP_GAP, us, 0, -1))
        return -1;
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TABLE, table);
    char db[256], tbl[256];
    if (strcmp(table, "*") && !sl_name_parse(table, db, sizeof db, tbl, sizeof tbl)) {
        ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_DB, db);
        ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TBL, tbl);
    }
    ok &= BSON_APPEND_INT64(doc, SL_LOGDOC_FROM_OFFSET, from_offset);
    ok &= BSON_APPEND_INT64(doc, SL_LOGDOC_TO_OFFSET, to_offset);
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_REASON, reason);
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------- reading */

const char *sl_logdoc_str(const bson_t *d, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, d, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

int64_t sl_logdoc_int(const bson_t *d, const char *key, int64_t def)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, d, key) && BSON_ITER_HOLDS_NUMBER(&it))
        return bson_iter_as_int64(&it);
    return def;
}

int64_t sl_logdoc_index(const bson_t *d, const char *key, int64_t max)
{
    int64_t v = sl_logdoc_int(d, key, -1);
    return v >= 0 && v < max ? v : -1;
}

sl_err_t sl_logdoc_pos(const bson_t *d, sl_pos_t *pos, char *errstr, size_t errstr_size)
{
    const char *p = sl_logdoc_str(d, SL_LOGDOC_POS), *id = sl_logdoc_str(d, SL_LOGDOC_ID);
    if (p && sl_pos_parse(p, pos, errstr, errstr_size) == SL_OK)
        return SL_OK;
    if (id && sl_bson_pos_key_parse(id, pos) == SL_OK)
        return SL_OK;
    snprintf(errstr, errstr_size, "log document %s: no position", id ? id : "?");
    return SL_ERR_DECODE;
}

static const char *doc_id(const bson_t *d)
{
    const char *id = sl_logdoc_str(d, SL_LOGDOC_ID);
    return id ? id : "?";
}

sl_err_t sl_logdoc_read_commit(const bson_t *d, const char *source, sl_record_t *rec,
                               char *errstr, size_t errstr_size)
{
    const char *txn = sl_logdoc_str(d, SL_LOGDOC_TXN);
    sl_err_t err = sl_record_init_commit(rec, source, txn && *txn ? txn : NULL,
                                         sl_logdoc_int(d, SL_LOGDOC_TS_US, 0),
                                         (uint32_t)sl_logdoc_int(d, SL_LOGDOC_SERVER_ID, 0),
                                         (uint64_t)sl_logdoc_int(d, SL_LOGDOC_ROWS, 0));
    if (err) {
        snprintf(errstr, errstr_size, "log document %s: cannot build the record", doc_id(d));
        return err;
    }
    return sl_logdoc_pos(d, &rec->pos, errstr, errstr_size);
}

/* The miner writes sl_op_name(): every op, READ included. */
static int op_of(const char *name, sl_op_t *op)
{
    for (int i = SL_OP_INSERT; i <= SL_OP_READ; i++)
        if (name && !strcmp(name, sl_op_name((sl_op_t)i))) {
            *op = (sl_op_t)i;
            return 0;
        }
    return -1;
}

/* One image document of d into vals[ncols] (columns in cols order). */
static sl_err_t read_image(const bson_t *d, const char *key, sl_logdoc_hint_fn *hint,
                           void *hint_ctx, sl_record_t *rec, const char *const *cols,
                           uint32_t ncols, sl_value_t *vals, char *errstr, size_t errstr_size)
{
    bson_iter_t it, img;
    if (!bson_iter_init_find(&it, d, key) || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
        !bson_iter_recurse(&it, &img)) {
        snprintf(errstr, errstr_size, "log document %s: no %s image", doc_id(d), key);
        return SL_ERR_DECODE;
    }
    uint32_t i = 0;
    while (bson_iter_next(&img)) {
        const char *name = bson_iter_key(&img);
        if (i >= ncols || strcmp(name, cols[i])) {
            snprintf(errstr, errstr_size, "log document %s: %s image columns differ from "
                     "the message's", doc_id(d), key);
            return SL_ERR_DECODE;
        }
        sl_val_kind_t k = hint ? hint(hint_ctx, i, name) : SL_VAL_NULL;
        sl_err_t err = sl_bson_read_value(&img, k, rec, &vals[i], errstr, errstr_size);
        if (err)
            return err;
        i++;
    }
    if (i != ncols) {
        snprintf(errstr, errstr_size, "log document %s: %s image has %u of %u columns",
                 doc_id(d), key, i, ncols);
        return SL_ERR_DECODE;
    }
    return SL_OK;
}

/* The change fields of docs[0] that the record keeps once per message. */
static void read_change_head(const bson_t *d0, sl_record_t *rec)
{
    sl_change_t *c = &rec->u.change;
    const char *txn = sl_logdoc_str(d0, SL_LOGDOC_TXN), *fp = sl_logdoc_str(d0, SL_LOGDOC_SCHEMA),
               *origin = sl_logdoc_str(d0, SL_LOGDOC_ORIGIN);
    c->txn = txn && *txn ? sl_record_strdup(rec, txn) : NULL;
    c->event_time_us = sl_logdoc_int(d0, SL_LOGDOC_TS_US, 0);
    c->schema_id = fp ? strtoull(fp, NULL, 16) : 0;
    c->server_id = (uint32_t)sl_logdoc_int(d0, SL_LOGDOC_SERVER_ID, 0);
    c->flags = (uint32_t)sl_logdoc_int(d0, SL_LOGDOC_FLAGS, 0);
    c->origin = origin ? sl_record_strdup(rec, origin) : NULL;
}

sl_err_t sl_logdoc_read_change(const bson_t *const *docs, size_t n, const char *source,
                               sl_logdoc_hint_fn *hint, void *hint_ctx, sl_record_t *rec,
                               int64_t *offset, uint32_t *first_row, char *errstr,
                               size_t errstr_size)
{
    const bson_t *d0 = docs[0];
    int64_t off = sl_logdoc_index(d0, SL_LOGDOC_OFFSET, INT64_MAX);
    int64_t sub0 = sl_logdoc_int(d0, SL_LOGDOC_SUB, 0)
                       ? sl_logdoc_index(d0, SL_LOGDOC_SUB, SL_CHANGE_MAX_ROWS) : 0;
    const char *db = sl_logdoc_str(d0, SL_LOGDOC_DB), *tbl = sl_logdoc_str(d0, SL_LOGDOC_TBL),
               *table = sl_logdoc_str(d0, SL_LOGDOC_TABLE);
    sl_op_t op;
    if (op_of(sl_logdoc_str(d0, SL_LOGDOC_OP), &op) || !db || !tbl || !table || off < 0 ||
        sub0 < 0 || sub0 >= SL_CHANGE_MAX_ROWS || (uint64_t)sub0 + n > SL_CHANGE_MAX_ROWS) {
        snprintf(errstr, errstr_size, "log document %s: not a change document the miner "
                 "writes", doc_id(d0));
        return SL_ERR_DECODE;
    }

    /* columns: the keys of the first image */
    const char *cols[4096];
    uint32_t ncols = 0;
    bson_iter_t it, img;
    if ((bson_iter_init_find(&it, d0, SL_LOGDOC_AFTER) ||
         bson_iter_init_find(&it, d0, SL_LOGDOC_BEFORE)) &&
        BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &img))
        while (bson_iter_next(&img) && ncols < 4096)
            cols[ncols++] = bson_iter_key(&img);
    /* the rows before sub0 (applied already; the reader skips them by
     * first_row) get no images: memory follows the documents read, not a
     * row index a document names */
    sl_change_t *c = &rec->u.change;
    sl_row_t *rows = NULL;
    sl_err_t err = sl_record_init_change(rec, source, db, tbl, op, ncols, cols, (uint32_t)n);
    if (err || (sub0 && !(rows = sl_record_alloc(rec, (size_t)(sub0 + (int64_t)n) *
                                                          sizeof(*rows))))) {
        snprintf(errstr, errstr_size, "log document %s: cannot build the record", doc_id(d0));
        return err ? err : SL_ERR_NOMEM;
    }
    if (rows) {
        memcpy(rows + sub0, c->rows, n * sizeof(*rows));
        c->rows = rows;
        c->nrows = (uint32_t)(sub0 + (int64_t)n);
    }
    if ((err = sl_logdoc_pos(d0, &rec->pos, errstr, errstr_size)))
        return err;
    rec->pos.row -= (uint32_t)sub0;          /* the message's row 0 */
    read_change_head(d0, rec);
    for (size_t i = 0; i < n; i++) {
        sl_row_t *r = &c->rows[sub0 + (int64_t)i];
        if (r->before &&
            (err = read_image(docs[i], SL_LOGDOC_BEFORE, hint, hint_ctx, rec, c->columns, ncols,
                              r->before, errstr, errstr_size)))
            return err;
        if (r->after &&
            (err = read_image(docs[i], SL_LOGDOC_AFTER, hint, hint_ctx, rec, c->columns, ncols,
                              r->after, errstr, errstr_size)))
            return err;
    }
    *offset = off;
    *first_row = (uint32_t)sub0;
    return SL_OK;
}
