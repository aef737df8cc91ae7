/* shiftlog-miner: the documents of the shared log (docs/miner.md "Document
 * format"). One document per change row, per COMMIT, per SCHEMA, and a gap
 * marker where changes could not be mined; `_id` = position key + type. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "miner.h"

char *mine_table_name(const char *db, const char *table, char *out, size_t size)
{
    if (db && *db)
        snprintf(out, size, "%s.%s", db, table ? table : "");
    else
        snprintf(out, size, "%s", table ? table : "");
    return out;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b) < 0);
}

static int put_common(bson_t *doc, const sl_pos_t *pos, char type, const char *op,
                      int64_t time_us, int retention, int64_t offset)
{
    char id[MINE_ID_LEN + 1], ptxt[200];
    int ok = 1;
    mine_doc_id(pos, type, id);
    sl_pos_format(pos, ptxt, sizeof ptxt);
    ok &= BSON_APPEND_UTF8(doc, "_id", id);
    ok &= BSON_APPEND_UTF8(doc, "op", op);
    ok &= BSON_APPEND_UTF8(doc, "pos", ptxt);
    ok &= BSON_APPEND_DATE_TIME(doc, "ts", floor_div(time_us, 1000));
    ok &= BSON_APPEND_INT64(doc, "ts_us", time_us);
    if (retention)
        ok &= BSON_APPEND_DATE_TIME(doc, "exp", floor_div(time_us, 1000));
    if (offset >= 0)
        ok &= BSON_APPEND_INT64(doc, "offset", offset);
    return ok ? 0 : -1;
}

int mine_image_bson(bson_t *out, const sl_change_t *c, const sl_value_t *img)
{
    int ok = 1;
    for (uint32_t i = 0; ok && i < c->ncols; i++)
        ok &= mine_bson_append_value(out, c->columns[i], -1, &img[i]) == 0;
    return ok ? 0 : -1;
}

int mine_doc_change(bson_t *doc, const sl_record_t *rec, uint32_t row,
                    const bson_t *before, const bson_t *after,
                    const bson_t *supp_before, const bson_t *supp_after,
                    const mine_doc_ctx_t *ctx)
{
    const sl_change_t *c = &rec->u.change;
    sl_pos_t pos = rec->pos;
    char table[512];
    int ok = 1;
    pos.row = rec->pos.row + row;
    if (put_common(doc, &pos, MINE_T_CHANGE, sl_op_name(c->op), c->event_time_us,
                   ctx->retention, ctx->offset))
        return -1;
    ok &= BSON_APPEND_INT32(doc, "sub", (int32_t)row);
    ok &= BSON_APPEND_UTF8(doc, "table", mine_table_name(c->db, c->table, table, sizeof table));
    ok &= BSON_APPEND_UTF8(doc, "db", c->db ? c->db : "");
    ok &= BSON_APPEND_UTF8(doc, "tbl", c->table ? c->table : "");
    ok &= BSON_APPEND_UTF8(doc, "txn", c->txn ? c->txn : "");
    if (c->schema_id) {
        char fp[17];
        snprintf(fp, sizeof fp, "%016" PRIx64, c->schema_id);
        ok &= BSON_APPEND_UTF8(doc, "schema", fp);
    }
    if (c->server_id)
        ok &= BSON_APPEND_INT64(doc, "server_id", c->server_id);
    if (c->flags)
        ok &= BSON_APPEND_INT64(doc, "flags", c->flags);
    if (c->origin)
        ok &= BSON_APPEND_UTF8(doc, "origin", c->origin);
    if (!ok)
        return -1;
    if (before && !BSON_APPEND_DOCUMENT(doc, "before", before))
        return -1;
    if (after && !BSON_APPEND_DOCUMENT(doc, "after", after))
        return -1;
    if (supp_before || supp_after) {
        bson_t s;
        ok &= BSON_APPEND_DOCUMENT_BEGIN(doc, "supplemented", &s);
        if (supp_before)
            ok &= BSON_APPEND_ARRAY(&s, "before", supp_before);
        if (supp_after)
            ok &= BSON_APPEND_ARRAY(&s, "after", supp_after);
        ok &= bson_append_document_end(doc, &s);
    }
    return ok ? 0 : -1;
}

int mine_doc_commit(bson_t *doc, const sl_record_t *rec, const mine_doc_ctx_t *ctx)
{
    const sl_commit_t *c = &rec->u.commit;
    int ok = 1;
    if (put_common(doc, &rec->pos, MINE_T_COMMIT, "commit", c->event_time_us, ctx->retention,
                   ctx->offset))
        return -1;
    ok &= BSON_APPEND_UTF8(doc, "txn", c->txn ? c->txn : "");
    ok &= BSON_APPEND_INT64(doc, "rows", (int64_t)c->nrows);
    if (c->server_id)
        ok &= BSON_APPEND_INT64(doc, "server_id", c->server_id);
    return ok ? 0 : -1;
}

int mine_schema_columns_bson(bson_t *parent, const char *key, const sl_schema_t *s)
{
    bson_t arr, col, labels;
    char ik[16], lk[16];
    const char *ks, *lks;
    int ok = bson_append_array_begin(parent, key, -1, &arr);
    for (uint32_t i = 0; ok && i < s->ncols; i++) {
        const sl_column_t *c = &s->cols[i];
        bson_uint32_to_string(i, &ks, ik, sizeof ik);
        ok &= bson_append_document_begin(&arr, ks, -1, &col);
        ok &= BSON_APPEND_UTF8(&col, "name", c->name ? c->name : "");
        ok &= BSON_APPEND_UTF8(&col, "kind", sl_val_kind_name(c->kind));
        ok &= BSON_APPEND_UTF8(&col, "type", c->source_type ? c->source_type : "");
        ok &= BSON_APPEND_BOOL(&col, "nullable", c->nullable != 0);
        ok &= BSON_APPEND_INT32(&col, "precision", c->precision);
        ok &= BSON_APPEND_INT32(&col, "scale", c->scale);
        if (c->charset)
            ok &= BSON_APPEND_UTF8(&col, "charset", c->charset);
        if (c->nlabels) {
            ok &= BSON_APPEND_ARRAY_BEGIN(&col, "labels", &labels);
            for (uint32_t j = 0; j < c->nlabels; j++) {
                bson_uint32_to_string(j, &lks, lk, sizeof lk);
                ok &= bson_append_utf8(&labels, lks, -1, c->labels[j], -1);
            }
            ok &= bson_append_array_end(&col, &labels);
        }
        ok &= BSON_APPEND_INT32(&col, "pk", c->pk);
        ok &= bson_append_document_end(&arr, &col);
    }
    ok &= bson_append_array_end(parent, &arr);
    return ok ? 0 : -1;
}

int mine_doc_schema(bson_t *doc, const sl_record_t *rec, const mine_doc_ctx_t *ctx)
{
    const sl_schema_t *s = &rec->u.schema;
    char table[512];
    int ok = 1;
    /* no `exp`: schema documents are kept whatever the retention, so that a
     * reader starting anywhere finds the schema in force */
    if (put_common(doc, &rec->pos, MINE_T_SCHEMA, "schema", 0, 0, ctx->offset))
        return -1;
    ok &= BSON_APPEND_UTF8(doc, "table", mine_table_name(s->db, s->table, table, sizeof table));
    ok &= BSON_APPEND_UTF8(doc, "db", s->db ? s->db : "");
    ok &= BSON_APPEND_UTF8(doc, "tbl", s->table ? s->table : "");
    if (s->ddl)
        ok &= BSON_APPEND_UTF8(doc, "ddl", s->ddl);
    if (!ok)
        return -1;
    return mine_schema_columns_bson(doc, "columns", s);
}

int mine_doc_gap(bson_t *doc, const char *table, const sl_pos_t *after, int64_t from_offset,
                 int64_t to_offset, const char *reason)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    int ok = 1;
    /* no `exp`: a gap is reported for as long as the log exists */
    if (put_common(doc, after, MINE_T_GAP, "gap", us, 0, -1))
        return -1;
    ok &= BSON_APPEND_UTF8(doc, "table", table);
    ok &= BSON_APPEND_INT64(doc, "from_offset", from_offset);
    ok &= BSON_APPEND_INT64(doc, "to_offset", to_offset);
    ok &= BSON_APPEND_UTF8(doc, "reason", reason);
    return ok ? 0 : -1;
}

static int kind_of(const char *name, sl_val_kind_t *out)
{
    for (int k = SL_VAL_NULL; k <= SL_VAL_MISSING; k++)
        if (!strcmp(name, sl_val_kind_name((sl_val_kind_t)k))) {
            *out = (sl_val_kind_t)k;
            return 0;
        }
    return -1;
}

sl_err_t mine_schema_from_doc(const bson_t *doc, sl_record_t *rec, char *errstr,
                              size_t errstr_size)
{
    bson_iter_t it, cols, col, f;
    const char *db = "", *tbl = "", *ddl = NULL, *pos = NULL;
    uint32_t n = 0;
    sl_err_t err;
    sl_record_reset(rec);
    if (bson_iter_init_find(&it, doc, "db") && BSON_ITER_HOLDS_UTF8(&it))
        db = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, doc, "tbl") && BSON_ITER_HOLDS_UTF8(&it))
        tbl = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, doc, "ddl") && BSON_ITER_HOLDS_UTF8(&it))
        ddl = bson_iter_utf8(&it, NULL);
    if (bson_iter_init_find(&it, doc, "pos") && BSON_ITER_HOLDS_UTF8(&it))
        pos = bson_iter_utf8(&it, NULL);
    if (!bson_iter_init_find(&it, doc, "columns") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &cols)) {
        snprintf(errstr, errstr_size, "schema document of %s.%s has no columns", db, tbl);
        return SL_ERR_DECODE;
    }
    while (bson_iter_next(&cols))
        n++;
    if ((err = sl_record_init_schema(rec, "", db, tbl, n)))
        return err;
    if (ddl)
        rec->u.schema.ddl = sl_record_strdup(rec, ddl);
    if (pos)
        sl_pos_parse(pos, &rec->pos, errstr, errstr_size);
    bson_iter_recurse(&it, &cols);
    for (uint32_t i = 0; i < n && bson_iter_next(&cols); i++) {
        sl_column_t *c = &rec->u.schema.cols[i];
        if (!bson_iter_recurse(&cols, &col))
            continue;
        while (bson_iter_next(&col)) {
            const char *k = bson_iter_key(&col);
            if (!strcmp(k, "name") && BSON_ITER_HOLDS_UTF8(&col))
                c->name = sl_record_strdup(rec, bson_iter_utf8(&col, NULL));
            else if (!strcmp(k, "kind") && BSON_ITER_HOLDS_UTF8(&col))
                kind_of(bson_iter_utf8(&col, NULL), &c->kind);
            else if (!strcmp(k, "type") && BSON_ITER_HOLDS_UTF8(&col))
                c->source_type = sl_record_strdup(rec, bson_iter_utf8(&col, NULL));
            else if (!strcmp(k, "nullable") && BSON_ITER_HOLDS_BOOL(&col))
                c->nullable = bson_iter_bool(&col);
            else if (!strcmp(k, "precision") && BSON_ITER_HOLDS_INT32(&col))
                c->precision = bson_iter_int32(&col);
            else if (!strcmp(k, "scale") && BSON_ITER_HOLDS_INT32(&col))
                c->scale = bson_iter_int32(&col);
            else if (!strcmp(k, "charset") && BSON_ITER_HOLDS_UTF8(&col))
                c->charset = sl_record_strdup(rec, bson_iter_utf8(&col, NULL));
            else if (!strcmp(k, "pk") && BSON_ITER_HOLDS_INT32(&col))
                c->pk = bson_iter_int32(&col);
            else if (!strcmp(k, "labels") && BSON_ITER_HOLDS_ARRAY(&col) &&
                     bson_iter_recurse(&col, &f)) {
                uint32_t m = 0, j = 0;
                while (bson_iter_next(&f))
                    m++;
                c->labels = sl_record_alloc(rec, (m ? m : 1) * sizeof(char *));
                if (!c->labels)
                    return SL_ERR_NOMEM;
                bson_iter_recurse(&col, &f);
                while (bson_iter_next(&f) && j < m)
                    if (BSON_ITER_HOLDS_UTF8(&f))
                        c->labels[j++] = sl_record_strdup(rec, bson_iter_utf8(&f, NULL));
                c->nlabels = j;
            }
        }
        if (!c->name)
            c->name = sl_record_strdup(rec, "");
    }
    return SL_OK;
}
