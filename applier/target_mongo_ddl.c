/* shiftlog-applier: the MongoDB target's column changes in existing documents.
 *
 * Documents need no DDL to take a new column: each write carries the whole
 * row. But the documents already there are the rows the source changed
 * without row events, and they must end as the source's rows did:
 *   - a column dropped (ddl.apply = all): its field is $unset, so a column
 *     added again under that name does not show the old values;
 *   - a column renamed (same position and source type, other name; ddl.apply
 *     = all): its field is $rename'd, so the values stay (a drop + add would
 *     lose them);
 *   - a column added (ddl.apply = all or additive): the documents without
 *     the field get its carried default (sl_column_t.dflt, wire v3) as the
 *     source's rows got it, else null, as a row written with the column NULL.
 * Each is one update_many filtered on the field being there / absent, so a
 * replay after a crash changes nothing twice. Needs the previous version of
 * the source schema (map->prev): without it nothing is done. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sl_bson.h"
#include "sl_log.h"
#include "sl_value_text.h"
#include "target_mongo.h"

/* The field name of column k of the previous version: the current mapping's
 * when the column is still there, else its source name (a dropped column's
 * mapping is not known any more; the default mapping keeps names). */
static const char *prev_dst(const app_table_map_t *map, const sl_schema_t *s, uint32_t k)
{
    const char *n = map->prev->cols[k].name;
    for (uint32_t i = 0; i < s->ncols; i++)
        if (!strcmp(s->cols[i].name, n))
            return i < map->ncols ? map->dst_cols[i] : NULL;
    return n;
}

static int is_dst(const app_table_map_t *map, const char *name)
{
    for (uint32_t i = 0; i < map->ncols; i++)
        if (map->dst_cols[i] && !strcmp(map->dst_cols[i], name))
            return 1;
    return 0;
}

static int prev_has(const app_table_map_t *map, const sl_schema_t *s, const char *dst)
{
    for (uint32_t k = 0; k < map->prev->ncols; k++) {
        const char *o = prev_dst(map, s, k);
        if (o && !strcmp(o, dst))
            return 1;
    }
    return 0;
}

/* Column i was renamed: same position and source type (or a type change
 * the DDL text shows folded with the rename), another name, the old name
 * mapped by no column now, the new one by none before. */
static int renamed_at(const app_table_map_t *map, const sl_schema_t *s, uint32_t i)
{
    if (i >= s->ncols || i >= map->prev->ncols || i >= map->ncols)
        return 0;
    const char *nd = map->dst_cols[i], *od = prev_dst(map, s, i);
    return nd && od && strcmp(nd, od) && !is_dst(map, od) && !prev_has(map, s, nd) &&
           (!strcmp(map->prev->cols[i].source_type, s->cols[i].source_type) ||
            app_ddl_renames(s->ddl, map->prev->cols[i].name, s->cols[i].name));
}

/* A carried default as the BSON value a row with that value would have
 * (app_mg_value's forms): numbers as numbers, a date or UTC timestamp as a
 * date (its µs under us when the column has more than ms), a SET as its
 * labels; any other text as text. */
static void default_value(bson_t *b, bson_t *us_doc, const char *key, const sl_column_t *col)
{
    int kw;
    char dbuf[64];
    const char *d = col->dflt ? app_default_sql(col, &kw, dbuf, sizeof dbuf) : NULL;
    char *end;
    if (!d) {
        bson_append_null(b, key, -1);
        return;
    }
    bson_decimal128_t dec;
    int64_t us;
    switch (col->kind) {
    case SL_VAL_BOOL:
        bson_append_bool(b, key, -1, !strcasecmp(d, "t") || !strcasecmp(d, "true") ||
                                     !strcmp(d, "1") || !strcasecmp(d, "on") ||
                                     !strcasecmp(d, "y") || !strcasecmp(d, "yes"));
        return;
    case SL_VAL_INT: {
        long long v = strtoll(d, &end, 10);
        if (*d && !*end) {
            bson_append_int64(b, key, -1, v);
            return;
        }
        break;
    }
    case SL_VAL_UINT: case SL_VAL_DECIMAL:
        if (bson_decimal128_from_string(d, &dec)) {
            bson_append_decimal128(b, key, -1, &dec);
            return;
        }
        break;
    case SL_VAL_FLOAT: case SL_VAL_DOUBLE: {
        double v = strtod(d, &end);
        if (*d && !*end) {
            bson_append_double(b, key, -1, v);
            return;
        }
        break;
    }
    case SL_VAL_TEMPORAL:
        if (!sl_parse_utc_time(d, &us)) {
            bson_append_date_time(b, key, -1, us >= 0 ? us / 1000 : -((-us + 999) / 1000));
            if (col->precision > 3) {
                char uk[320];
                snprintf(uk, sizeof uk, "_us.%s", key);
                bson_append_int64(us_doc, uk, -1, us);
            }
            return;
        }
        break;
    case SL_VAL_SET: {
        bson_t arr;
        char ik[16];
        const char *ks, *p = d;
        uint32_t i = 0;
        bson_append_array_begin(b, key, -1, &arr);
        while (*p) {
            size_t l = strcspn(p, ",");
            bson_uint32_to_string(i++, &ks, ik, sizeof ik);
            bson_append_utf8(&arr, ks, -1, p, (int)l);
            p += l + (p[l] == ',');
        }
        bson_append_array_end(b, &arr);
        return;
    }
    default:
        break;
    }
    bson_append_utf8(b, key, -1, d, -1);
}

/* One update_many: filter {field: {$exists: exists}}, update {op: {field: v}}
 * with v = to (a string: $rename) or the column's default ($set) or "" ($unset). */
static sl_err_t update_all(mg_coll_t *mc, const char *field, int exists, const char *op,
                           const char *to, const sl_column_t *col, char *errstr, size_t sz)
{
    bson_t filter = BSON_INITIALIZER, upd = BSON_INITIALIZER, f, u;
    bson_error_t err;
    bson_append_document_begin(&filter, field, -1, &f);
    bson_append_bool(&f, "$exists", -1, exists);
    bson_append_document_end(&filter, &f);
    bson_append_document_begin(&upd, op, -1, &u);
    if (col)
        default_value(&u, &u, field, col);
    else
        bson_append_utf8(&u, field, -1, to ? to : "", -1);
    bson_append_document_end(&upd, &u);
    bool ok = mongoc_collection_update_many(mc->c, &filter, &upd, NULL, NULL, &err);
    bson_destroy(&filter);
    bson_destroy(&upd);
    if (!ok) {
        snprintf(errstr, sz, "mongodb target: %s of field %s in %s.%s: %s", op, field, mc->db,
                 mc->name, err.message);
        return SL_ERR_DB;
    }
    return SL_OK;
}

sl_err_t app_mg_columns_ddl(mg_target_t *t, mg_coll_t *mc, const app_table_map_t *map,
                            const sl_schema_t *s, char *errstr, size_t sz)
{
    sl_err_t e;
    int all = t->ddl_apply == APP_DDL_ALL;
    if (!map->prev || !map->prev->ncols || t->ddl_apply == APP_DDL_NONE || !map->dst_cols)
        return SL_OK;
    /* renamed: same position, same source type, the old name gone, the new one new */
    for (uint32_t i = 0; all && i < s->ncols; i++) {
        const char *nd = map->dst_cols[i], *od = renamed_at(map, s, i) ? prev_dst(map, s, i)
                                                                      : NULL;
        if (!od)
            continue;
        if ((e = update_all(mc, od, 1, "$rename", nd, NULL, errstr, sz)))
            return e;
        sl_info("mongodb target: %s.%s: field %s renamed to %s in the existing documents",
                mc->db, mc->name, od, nd);
    }
    /* dropped: mapped before, no column maps to it now (nor was renamed to it) */
    for (uint32_t k = 0; all && k < map->prev->ncols; k++) {
        const char *od = prev_dst(map, s, k);
        if (!od || is_dst(map, od) || renamed_at(map, s, k) || app_mg_reserved(od))
            continue;
        if ((e = update_all(mc, od, 1, "$unset", "", NULL, errstr, sz)))
            return e;
        sl_info("mongodb target: %s.%s: column %s dropped: field removed from the existing "
                "documents", mc->db, mc->name, od);
    }
    /* added: the documents there get the default as the source's rows did, or
     * null (a row with the column NULL, not one without the column) */
    for (uint32_t i = 0; i < s->ncols && i < map->ncols; i++) {
        const char *nd = map->dst_cols[i];
        if (!nd || prev_has(map, s, nd) || renamed_at(map, s, i))
            continue;
        if ((e = update_all(mc, nd, 0, "$set", NULL, &s->cols[i], errstr, sz)))
            return e;
        sl_info("mongodb target: %s.%s: column %s added: %s%s in the existing documents",
                mc->db, mc->name, nd, s->cols[i].dflt ? "the default " : "null",
                s->cols[i].dflt ? s->cols[i].dflt : "");
    }
    return SL_OK;
}
