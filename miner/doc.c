/* shiftlog-miner: the documents of the shared log (docs/miner.md "Document
 * format"). One document per change row, per COMMIT, per SCHEMA, and a gap
 * marker where changes could not be mined; `_id` = position key + type. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "miner.h"
#include "sl_logdoc.h"
#include "sl_name.h"

/* The name form (common/sl_name.h) of (db, table): unambiguous when a name
 * holds '.'; truncated to size. A NULL or empty db gives the table alone
 * (a table not tied to a database). */
char *mine_table_name(const char *db, const char *table, char *out, size_t size)
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
        ok &= sl_bson_append_value(out, c->columns[i], -1, &img[i]) == 0;
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
    if (put_common(doc, &pos, SL_BSON_T_CHANGE, sl_op_name(c->op), c->event_time_us,
                   ctx->retention, ctx->offset))
        return -1;
    ok &= BSON_APPEND_INT32(doc, "sub", (int32_t)row);
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TABLE,
                           mine_table_name(c->db, c->table, table, sizeof table));
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_DB, c->db ? c->db : "");
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TBL, c->table ? c->table : "");
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
    if (put_common(doc, &rec->pos, SL_BSON_T_COMMIT, "commit", c->event_time_us, ctx->retention,
                   ctx->offset))
        return -1;
    ok &= BSON_APPEND_UTF8(doc, "txn", c->txn ? c->txn : "");
    ok &= BSON_APPEND_INT64(doc, "rows", (int64_t)c->nrows);
    if (c->server_id)
        ok &= BSON_APPEND_INT64(doc, "server_id", c->server_id);
    return ok ? 0 : -1;
}

int mine_doc_schema(bson_t *doc, const sl_record_t *rec, const mine_doc_ctx_t *ctx)
{
    const sl_schema_t *s = &rec->u.schema;
    char table[512];
    int ok = 1;
    /* no `exp`: schema documents are kept whatever the retention, so that a
     * reader starting anywhere finds the schema in force */
    if (put_common(doc, &rec->pos, SL_BSON_T_SCHEMA, "schema", 0, 0, ctx->offset))
        return -1;
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TABLE,
                           mine_table_name(s->db, s->table, table, sizeof table));
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_DB, s->db ? s->db : "");
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TBL, s->table ? s->table : "");
    if (s->ddl)
        ok &= BSON_APPEND_UTF8(doc, "ddl", s->ddl);
    if (!ok)
        return -1;
    return sl_bson_schema_columns(doc, "columns", s);
}

int mine_doc_gap(bson_t *doc, const char *table, const sl_pos_t *after, int64_t from_offset,
                 int64_t to_offset, const char *reason)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    int ok = 1;
    /* no `exp`: a gap is reported for as long as the log exists */
    if (put_common(doc, after, SL_BSON_T_GAP, "gap", us, 0, -1))
        return -1;
    ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TABLE, table);
    char db[256], tbl[256];
    if (strcmp(table, "*") && !sl_name_parse(table, db, sizeof db, tbl, sizeof tbl)) {
        ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_DB, db);
        ok &= BSON_APPEND_UTF8(doc, SL_LOGDOC_TBL, tbl);
    }
    ok &= BSON_APPEND_INT64(doc, "from_offset", from_offset);
    ok &= BSON_APPEND_INT64(doc, "to_offset", to_offset);
    ok &= BSON_APPEND_UTF8(doc, "reason", reason);
    return ok ? 0 : -1;
}
