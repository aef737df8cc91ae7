/* shiftlog-applier: the MongoDB target's documents: exact BSON values and
 * their companions, target collections, and `_id` from the key columns (see
 * target_mongo.c for the write path and docs/targets.md for the mapping). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sl_bson.h"
#include "target_mongo.h"

/* ---- values ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b) < 0);
}

/* Appends v under key (klen bytes). us / dec collect the companions (may be
 * NULL for key values, which take the exact text for temporal values). */
int app_mg_varbit(bson_t *b, const char *key, const app_table_map_t *map,
                  const sl_change_t *c, uint32_t i, const sl_value_t *v)
{
    const sl_schema_t *s = map->schema;
    char es[128];
    if (v->kind != SL_VAL_BIT || !s || i >= s->ncols || !s->cols[i].name ||
        strcmp(s->cols[i].name, c->columns[i]) || !app_conv_is_varbit(&s->cols[i]))
        return 0;
    sl_buf_t digits = SL_BUF_INIT;
    /* a BIT of fewer bytes than its bit count is malformed: bytes, as before */
    int ok = app_conv_text(v, APP_CONV_BIT_DIGITS, &digits, es, sizeof es) == SL_OK;
    if (ok)
        bson_append_utf8(b, key, -1, digits.data ? digits.data : "", (int)digits.len);
    sl_buf_free(&digits);
    return ok;
}

void app_mg_value(bson_t *b, const char *key, int klen, const sl_value_t *v,
                  bson_t *us, bson_t *dec, int for_key)
{
    switch (v->kind) {
    case SL_VAL_BOOL:   bson_append_bool(b, key, klen, v->u.b != 0); return;
    case SL_VAL_INT:    bson_append_int64(b, key, klen, v->u.i); return;
    case SL_VAL_UINT:
        if (v->u.u <= (uint64_t)INT64_MAX) {
            bson_append_int64(b, key, klen, (int64_t)v->u.u);
        } else {
            char txt[32];
            bson_decimal128_t d;
            snprintf(txt, sizeof txt, "%" PRIu64, v->u.u);
            bson_decimal128_from_string(txt, &d);
            bson_append_decimal128(b, key, klen, &d);
        }
        return;
    case SL_VAL_FLOAT:  bson_append_double(b, key, klen, (double)v->u.f); return;
    case SL_VAL_DOUBLE: bson_append_double(b, key, klen, v->u.d); return;
    case SL_VAL_DECIMAL: {
        char txt[128];
        bson_decimal128_t d;
        int digits = app_conv_decimal_digits(v->data, v->len);
        int special = v->len && (v->data[0] == 'N' || v->data[0] == 'I' ||
                                 (v->len > 1 && v->data[1] == 'I'));
        if ((special || (digits > 0 && digits <= 34)) && v->len < sizeof txt) {
            memcpy(txt, v->data, v->len);
            txt[v->len] = '\0';
            if (bson_decimal128_from_string(txt, &d)) {
                bson_append_decimal128(b, key, klen, &d);
                if (dec && !for_key)
                    bson_append_null(dec, key, klen);   /* marker: not text (for $unset) */
                return;
            }
        }
        bson_append_utf8(b, key, klen, v->data, (int)v->len);
        if (dec && !for_key)
            bson_append_bool(dec, key, klen, true);
        return;
    }
    case SL_VAL_STRING:
    case SL_VAL_TYPED:
        bson_append_utf8(b, key, klen, v->data, (int)v->len);
        return;
    case SL_VAL_BYTES:
    case SL_VAL_BIT:
        bson_append_binary(b, key, klen, BSON_SUBTYPE_BINARY, (const uint8_t *)v->data,
                           (uint32_t)v->len);
        return;
    case SL_VAL_SET: {
        bson_t arr;
        char ik[16];
        const char *p = v->data, *end = v->data + v->len;
        bson_append_array_begin(b, key, klen, &arr);
        for (uint32_t i = 0; i < v->n && p < end; i++) {
            size_t l = strnlen(p, (size_t)(end - p));
            const char *ks;
            bson_uint32_to_string(i, &ks, ik, sizeof ik);
            bson_append_utf8(&arr, ks, -1, p, (int)l);
            p += l + 1;
        }
        bson_append_array_end(b, &arr);
        return;
    }
    case SL_VAL_TEMPORAL:
        if (v->u.t.has_micros && !for_key) {
            switch (v->u.t.kind) {
            case SL_T_DATE: {
                int64_t ms;     /* beyond BSON dates: on_unconvertible = null let it here */
                if (sl_bson_date_ms(v->u.t.micros, &ms))
                    bson_append_null(b, key, klen);
                else
                    bson_append_date_time(b, key, klen, ms);
                return;
            }
            case SL_T_TIME:
                bson_append_int64(b, key, klen, v->u.t.micros);
                return;
            case SL_T_DATETIME:
            case SL_T_TIMESTAMP:
            case SL_T_TIMESTAMPTZ:
                bson_append_date_time(b, key, klen, floor_div(v->u.t.micros, 1000));
                if (us && v->u.t.precision > 3)
                    bson_append_int64(us, key, klen, v->u.t.micros);
                return;
            default:
                break;
            }
        }
        bson_append_utf8(b, key, klen, v->data, (int)v->len);
        return;
    case SL_VAL_NULL:
    case SL_VAL_MISSING:
    default:
        bson_append_null(b, key, klen);
        return;
    }
}

sl_err_t app_mg_check_value(const sl_value_t *v, const char *col, char *errstr, size_t sz)
{
    int64_t ms;
    if (v->kind == SL_VAL_TEMPORAL && v->u.t.kind == SL_T_DATE && v->u.t.has_micros &&
        sl_bson_date_ms(v->u.t.micros, &ms)) {
        snprintf(errstr, sz, "mongodb target: column %s: DATE %.*s (day %lld) is beyond what a "
                 "BSON date holds (+-106751991167 days from 1970-01-01)", col,
                 (int)(v->len < 64 ? v->len : 64), v->data ? v->data : "",
                 (long long)v->u.t.micros);
        return SL_ERR_INVALID;
    }
    return SL_OK;
}

const char *app_mg_dst(const app_table_map_t *map, const sl_change_t *c, uint32_t i)
{
    if (map->dst_cols)
        return i < map->ncols ? map->dst_cols[i] : NULL;
    return c->columns[i];
}

int app_mg_reserved(const char *n)
{
    return !strcmp(n, "_pos") || !strcmp(n, "_us") || !strcmp(n, "_decimal_text");
}

/* ---- collections and keys ---- */

sl_err_t app_mg_check_name(const mg_target_t *t, const char *schema, const char *table,
                           char *errstr, size_t sz)
{
    const char *db = schema && *schema ? schema : t->database;
    const char *why = NULL;
    if (!strcasecmp(db, "admin") || !strcasecmp(db, "local") || !strcasecmp(db, "config"))
        why = "is a database MongoDB reserves (admin, local, config)";
    else if (!*db || strlen(db) >= 64 || strpbrk(db, "/\\. \"$*<>:|?"))
        why = "is not a MongoDB database name (1-63 bytes, none of /\\. \"$*<>:|?)";
    else if (!*table || table[0] == '.')
        why = "has an empty or '.'-leading collection name";
    else if (!strncmp(table, "system.", 7))
        why = "is a system collection (system.*) of MongoDB";
    else if (strchr(table, '$'))
        why = "has a '$' in its collection name, which MongoDB reserves";
    else if (strlen(db) + 1 + strlen(table) > 255)
        why = "is longer than MongoDB's 255-byte namespace limit";
    else if (!strcmp(db, t->database) && !strcmp(table, "kafkaoffset"))
        why = "is this target's position collection, where the tasks store their positions";
    else if (!strcmp(db, t->database) && !strcmp(table, APP_STOPS_TABLE))
        why = "is this target's stopped-tables collection, where the tasks store their stops";
    if (!why)
        return SL_OK;
    snprintf(errstr, sz, "mongodb target: %s.%s %s: a replicated table cannot be written "
             "there; map it to another name with map.tables", db, table, why);
    return SL_ERR_UNSUPPORTED;
}

mg_coll_t *app_mg_coll(mg_target_t *t, const app_table_map_t *map)
{
    const char *db = map->dst_schema && *map->dst_schema ? map->dst_schema : t->database;
    for (mg_coll_t *c = t->colls; c; c = c->next)
        if (!strcmp(c->db, db) && !strcmp(c->name, map->dst_table))
            return c;
    mg_coll_t *c = calloc(1, sizeof *c);
    if (!c || !(c->db = strdup(db)) || !(c->name = strdup(map->dst_table))) {
        if (c)
            free(c->db);
        free(c);
        return NULL;
    }
    c->c = mongoc_client_get_collection(t->client, c->db, c->name);
    c->next = t->colls;
    t->colls = c;
    return c;
}

sl_err_t app_mg_resolve_key(mg_coll_t *mc, const app_table_map_t *map, const sl_change_t *c,
                            char *errstr, size_t sz)
{
    const sl_schema_t *s = map->schema;
    uint32_t ncols = c->ncols;
    free(mc->key);
    mc->nkey = 0;
    if (!(mc->key = calloc(ncols ? ncols : 1, sizeof *mc->key)))
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < ncols; i++) {
        const char *d = app_mg_dst(map, c, i);
        if (d && (app_mg_reserved(d) || strchr(d, '.') || d[0] == '$' ||
                  (!strcmp(d, "_id") && !(s && i < s->ncols && s->cols[i].pk)))) {
            snprintf(errstr, sz, "mongodb target: collection %s.%s: column \"%s\" clashes with a "
                     "field shiftlog writes or cannot be a field name (_pos, _us, _decimal_text, "
                     "a non-key _id, '.', leading '$'): rename it in the mapping", mc->db,
                     mc->name, d);
            return SL_ERR_UNSUPPORTED;
        }
    }
    for (uint32_t k = 1; s && k <= s->ncols; k++)
        for (uint32_t i = 0; i < s->ncols && i < ncols; i++)
            if (s->cols[i].pk == (int)k) {
                if (!app_mg_dst(map, c, i)) {
                    snprintf(errstr, sz, "mongodb target: collection %s.%s: primary key column "
                             "\"%s\" is excluded by the mapping; include it", mc->db, mc->name,
                             s->cols[i].name);
                    return SL_ERR_UNSUPPORTED;
                }
                mc->key[mc->nkey++] = i;
            }
    if (!mc->nkey) {
        snprintf(errstr, sz, "mongodb target: collection %s.%s: the source table %s.%s has no "
                 "primary key, so a document _id cannot be derived and changes cannot be applied "
                 "exactly once; add a primary key to the source table", mc->db, mc->name,
                 c->db, c->table);
        return SL_ERR_UNSUPPORTED;
    }
    if (mc->nkey > 1)
        for (uint32_t k = 0; k < mc->nkey; k++)
            if (!strcmp(app_mg_dst(map, c, mc->key[k]), "_id")) {
                snprintf(errstr, sz, "mongodb target: collection %s.%s: column \"_id\" is part "
                         "of a composite key: rename it in the mapping", mc->db, mc->name);
                return SL_ERR_UNSUPPORTED;
            }
    mc->src = s;
    return SL_OK;
}

sl_err_t app_mg_append_id(bson_t *b, const mg_coll_t *mc, const app_table_map_t *map,
                          const sl_change_t *c, const sl_value_t *vals, char *errstr, size_t sz)
{
    for (uint32_t k = 0; k < mc->nkey; k++) {
        const sl_value_t *v = &vals[mc->key[k]];
        if (v->kind == SL_VAL_NULL || v->kind == SL_VAL_MISSING) {
            snprintf(errstr, sz, "mongodb target: collection %s.%s: key column \"%s\" is %s in a "
                     "%s row", mc->db, mc->name, c->columns[mc->key[k]], sl_val_kind_name(v->kind),
                     sl_op_name(c->op));
            return SL_ERR_INVALID;
        }
    }
    if (mc->nkey == 1) {
        app_mg_value(b, "_id", 3, &vals[mc->key[0]], NULL, NULL, 1);
        return SL_OK;
    }
    bson_t sub;
    bson_append_document_begin(b, "_id", 3, &sub);
    for (uint32_t k = 0; k < mc->nkey; k++) {
        const char *d = app_mg_dst(map, c, mc->key[k]);
        app_mg_value(&sub, d, -1, &vals[mc->key[k]], NULL, NULL, 1);
    }
    bson_append_document_end(b, &sub);
    return SL_OK;
}
