/* shiftlog validate: the MongoDB engine (validate.h), a target only.
 *
 * The documents of a range are fetched and hashed here, not on the server:
 * the canonical text needs $toString of Decimal128 with its scale, dates
 * with microseconds from _us.<col>, binary as hex and MD5, and the local
 * stand-in (mongo-java-server) has neither $function nor a hash operator,
 * nor $toString for every type (real MongoDB has no MD5 either). So the
 * checksum streams the range's documents through one cursor (memory: one
 * document at a time) and hashes each exactly as the SQL engines hash a row
 * (sl_md5), from the value kinds of the source's columns: a document only
 * says "date" or "binary", the source says DATE or DATETIME, BIT(n) or
 * bytes. docs/targets.md says how each value is stored. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "sl_canon.h"
#include "sl_md5.h"
#include "sl_name.h"
#include "validate.h"

typedef struct vmg_s {
    mongoc_client_t     *client;
    mongoc_collection_t *coll;
    char                 db[256], cn[256];
    const val_table_t   *t;
    sl_buf_t             text;           /* one value's canonical text */
} vmg_t;

/* ------------------------------------------------------------ values */

static sl_err_t put_date(sl_buf_t *b, int64_t us, int with_time)
{
    int64_t s = us / 1000000, f = us % 1000000;
    if (f < 0) {
        f += 1000000;
        s--;
    }
    time_t tt = (time_t)s;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (!with_time)
        return sl_buf_printf(b, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return sl_buf_printf(b, "%04d-%02d-%02d %02d:%02d:%02d.%06d", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)f);
}

/* The microseconds of a date field: _us.<name> when the document has it. */
static int64_t date_us(const bson_t *doc, const char *name, const bson_iter_t *it)
{
    bson_iter_t u, f;
    char path[300];
    snprintf(path, sizeof path, "_us.%s", name);
    if (bson_iter_init(&u, doc) && bson_iter_find_descendant(&u, path, &f) &&
        (BSON_ITER_HOLDS_INT64(&f) || BSON_ITER_HOLDS_INT32(&f)))
        return bson_iter_as_int64(&f);
    return bson_iter_date_time(it) * 1000;
}

/* The canonical text of the value at it (column c) into b; 1 when NULL. */
static int canon(sl_buf_t *b, const bson_t *doc, const val_col_t *c, bson_iter_t *it)
{
    switch (bson_iter_type(it)) {
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
        return 1;
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
        sl_buf_printf(b, "%" PRId64, bson_iter_as_int64(it));
        return 0;
    case BSON_TYPE_BOOL:
        sl_buf_putc(b, bson_iter_bool(it) ? '1' : '0');
        return 0;
    case BSON_TYPE_DOUBLE:
        sl_canon_double(b, bson_iter_double(it));
        return 0;
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t d;
        char s[BSON_DECIMAL128_STRING];
        bson_iter_decimal128(it, &d);
        bson_decimal128_to_string(&d, s);
        sl_canon_decimal(b, s);
        return 0;
    }
    case BSON_TYPE_DATE_TIME:
        put_date(b, date_us(doc, c->name, it), c->kind != VK_DATE);
        return 0;
    case BSON_TYPE_UTF8: {
        uint32_t n;
        const char *s = bson_iter_utf8(it, &n);
        sl_buf_append(b, s, n);
        return 0;
    }
    case BSON_TYPE_BINARY: {
        bson_subtype_t st;
        uint32_t n;
        const uint8_t *p;
        bson_iter_binary(it, &st, &n, &p);
        if (c->kind == VK_BIT) {           /* n bits, big-endian, as BIT(n) prints */
            for (int i = c->bits - 1; i >= 0; i--) {
                uint32_t byte = n - 1 - (uint32_t)i / 8;
                sl_buf_putc(b, byte < n && (p[byte] >> (i % 8) & 1) ? '1' : '0');
            }
        } else {
            for (uint32_t i = 0; i < n; i++)
                sl_buf_printf(b, "%02x", p[i]);
        }
        return 0;
    }
    case BSON_TYPE_ARRAY: {                /* SET: the labels joined by ',' */
        bson_iter_t a;
        int first = 1;
        if (bson_iter_recurse(it, &a))
            while (bson_iter_next(&a)) {
                if (!first)
                    sl_buf_putc(b, ',');
                first = 0;
                if (BSON_ITER_HOLDS_UTF8(&a)) {
                    uint32_t n;
                    const char *s = bson_iter_utf8(&a, &n);
                    sl_buf_append(b, s, n);
                }
            }
        return 0;
    }
    default: {
        bson_t sub;
        uint32_t n;
        const uint8_t *p;
        if (BSON_ITER_HOLDS_DOCUMENT(it)) {
            bson_iter_document(it, &n, &p);
            if (bson_init_static(&sub, p, n)) {
                char *j = bson_as_relaxed_extended_json(&sub, NULL);
                sl_buf_puts(b, j ? j : "");
                bson_free(j);
            }
        }
        return 0;
    }
    }
}

/* A binary value's own bytes into b (a bytes column's MD5 is of them). */
static int raw(sl_buf_t *b, bson_iter_t *it)
{
    bson_subtype_t st;
    uint32_t n;
    const uint8_t *p;
    bson_iter_binary(it, &st, &n, &p);
    sl_buf_append(b, p, n);
    return 0;
}

/* The key's canonical texts of a document (from _id) into key[]. */
static sl_err_t doc_key(vmg_t *s, const bson_t *doc, char **key)
{
    const val_table_t *t = s->t;
    bson_iter_t it, sub;
    if (!bson_iter_init_find(&it, doc, "_id"))
        return SL_ERR_DECODE;
    for (uint32_t k = 0; k < t->nkey; k++) {
        const val_col_t *c = &t->cols[t->key[k]];
        bson_iter_t *v = &it;
        if (t->nkey > 1) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &sub) ||
                !bson_iter_find(&sub, c->name))
                return SL_ERR_DECODE;
            v = &sub;
        }
        sl_buf_reset(&s->text);
        canon(&s->text, doc, c, v);
        if (!(key[k] = strdup(s->text.data ? s->text.data : "")))
            return SL_ERR_NOMEM;
    }
    return SL_OK;
}

/* The row hash of a document (validate.h). */
static uint64_t doc_hash(vmg_t *s, const bson_t *doc)
{
    sl_md5_t m;
    uint8_t d[16];
    sl_md5_init(&m);
    for (uint32_t i = 0; i < s->t->ncols; i++) {
        const val_col_t *c = &s->t->cols[i];
        bson_iter_t it;
        sl_buf_reset(&s->text);
        if (!bson_iter_init_find(&it, doc, c->name) ||
            (c->kind == VK_BYTES && BSON_ITER_HOLDS_BINARY(&it) ? raw(&s->text, &it)
                                                                  : canon(&s->text, doc, c, &it))) {
            sl_md5_update(&m, "N", 1);     /* absent (a column added later) or null */
            continue;
        }
        if (val_kind_digested(c->kind)) {  /* text and bytes as their MD5 (validate.h) */
            uint8_t v[16];
            char hex[33];
            sl_md5_t mv;
            sl_md5_init(&mv);
            sl_md5_update(&mv, s->text.data ? s->text.data : "", s->text.len);
            sl_md5_final(&mv, v);
            for (int k = 0; k < 16; k++)
                snprintf(hex + 2 * k, 3, "%02x", v[k]);
            sl_md5_update(&m, hex, 32);
            continue;
        }
        char len[24];
        int ln = snprintf(len, sizeof len, "%zu:", s->text.len);
        sl_md5_update(&m, len, (size_t)ln);
        sl_md5_update(&m, s->text.data ? s->text.data : "", s->text.len);
    }
    sl_md5_final(&m, d);
    return val_hash64(d);
}

/* ------------------------------------------------------------ queries */

/* A key value's BSON from its canonical text. */
static int append_key(bson_t *b, const char *name, const val_col_t *c, const char *v)
{
    if (c->kind == VK_INT || c->kind == VK_BOOL) {
        char *end;
        long long x = strtoll(v, &end, 10);
        if (*end)
            return 0;
        return bson_append_int64(b, name, -1, x);
    }
    if (c->kind == VK_DEC) {
        bson_decimal128_t d;
        return bson_decimal128_from_string(v, &d) && bson_append_decimal128(b, name, -1, &d);
    }
    return bson_append_utf8(b, name, -1, v, -1);
}

static int append_keyval(bson_t *b, const char *op, const val_table_t *t, char *const *v)
{
    if (t->nkey == 1)
        return append_key(b, op, &t->cols[t->key[0]], v[0]);
    bson_t sub;
    int okk = bson_append_document_begin(b, op, -1, &sub);
    for (uint32_t k = 0; okk && k < t->nkey; k++)
        okk = append_key(&sub, t->cols[t->key[k]].name, &t->cols[t->key[k]], v[k]);
    return bson_append_document_end(b, &sub) && okk;
}

static bson_t *range_filter(vmg_t *s, char *const *after, char *const *upto)
{
    bson_t *f = bson_new(), r;
    if (!after && !upto)
        return f;
    bson_append_document_begin(f, "_id", 3, &r);
    if ((after && !append_keyval(&r, "$gt", s->t, after)) ||
        (upto && !append_keyval(&r, "$lte", s->t, upto))) {
        bson_append_document_end(f, &r);
        bson_destroy(f);
        return NULL;
    }
    bson_append_document_end(f, &r);
    return f;
}

static sl_err_t cursor_fail(vmg_t *s, mongoc_cursor_t *cur, char *errstr, size_t errstr_size)
{
    bson_error_t e;
    if (!mongoc_cursor_error(cur, &e))
        return SL_OK;
    snprintf(errstr, errstr_size, "MongoDB %s.%s: %s", s->db, s->cn, e.message);
    return SL_ERR_DB;
}

static sl_err_t mg_checksum(void *ctx, char *const *after, char *const *upto, uint64_t *count,
                            uint64_t *hash, char *errstr, size_t errstr_size)
{
    vmg_t *s = ctx;
    bson_t *f = range_filter(s, after, upto);
    const bson_t *doc;
    *count = *hash = 0;
    if (!f) {
        snprintf(errstr, errstr_size, "MongoDB %s.%s: a key value does not fit its column",
                 s->db, s->cn);
        return SL_ERR_INVALID;
    }
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(s->coll, f, NULL, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        (*count)++;
        *hash ^= doc_hash(s, doc);
    }
    sl_err_t err = cursor_fail(s, cur, errstr, errstr_size);
    mongoc_cursor_destroy(cur);
    bson_destroy(f);
    return err;
}

static sl_err_t mg_rows(void *ctx, char *const *after, char *const *upto, uint32_t limit,
                        val_row_t *rows, uint32_t *n, char *errstr, size_t errstr_size)
{
    vmg_t *s = ctx;
    bson_t *f = range_filter(s, after, upto);
    const bson_t *doc;
    sl_err_t err = SL_OK;
    *n = 0;
    if (!f) {
        snprintf(errstr, errstr_size, "MongoDB %s.%s: a key value does not fit its column",
                 s->db, s->cn);
        return SL_ERR_INVALID;
    }
    bson_t *o = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "limit",
                         BCON_INT64((int64_t)limit));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(s->coll, f, o, NULL);
    while (!err && *n < limit && mongoc_cursor_next(cur, &doc)) {
        val_row_t *r = &rows[*n];
        memset(r, 0, sizeof *r);
        (*n)++;
        if ((err = doc_key(s, doc, r->key)))
            snprintf(errstr, errstr_size, "MongoDB %s.%s: a document's _id does not hold the "
                     "key columns", s->db, s->cn);
        r->hash = doc_hash(s, doc);
    }
    if (!err)
        err = cursor_fail(s, cur, errstr, errstr_size);
    mongoc_cursor_destroy(cur);
    bson_destroy(o);
    bson_destroy(f);
    return err;
}

static sl_err_t mg_bind(void *ctx, const char *table, const val_table_t *t, char *errstr,
                        size_t errstr_size)
{
    vmg_t *s = ctx;
    if (sl_name_parse(table, s->db, sizeof s->db, s->cn, sizeof s->cn)) {
        snprintf(errstr, errstr_size, "MongoDB collection \"%s\" is not db.collection", table);
        return SL_ERR_INVALID;
    }
    for (uint32_t k = 0; k < t->nkey; k++) {
        val_kind_t kk = t->cols[t->key[k]].kind;
        if (kk != VK_INT && kk != VK_TEXT && kk != VK_DEC) {
            snprintf(errstr, errstr_size, "MongoDB %s.%s: key column %s: only integer, "
                     "DECIMAL and text keys can be compared with a MongoDB _id", s->db, s->cn,
                     t->cols[t->key[k]].name);
            return SL_ERR_UNSUPPORTED;
        }
    }
    if (s->coll)
        mongoc_collection_destroy(s->coll);
    s->coll = mongoc_client_get_collection(s->client, s->db, s->cn);
    s->t = t;
    return SL_OK;
}

static void mg_destroy(void *ctx)
{
    vmg_t *s = ctx;
    if (!s)
        return;
    if (s->coll)
        mongoc_collection_destroy(s->coll);
    if (s->client)
        mongoc_client_destroy(s->client);
    sl_buf_free(&s->text);
    free(s);
}

sl_err_t val_mongo_open(val_engine_t *e, const char *url, char *errstr, size_t errstr_size)
{
    bson_error_t be;
    mongoc_uri_t *u = mongoc_uri_new_with_error(url, &be);
    if (!u) {
        snprintf(errstr, errstr_size, "MongoDB URI: %s", be.message);
        return SL_ERR_INVALID;
    }
    if (!mongoc_uri_get_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 0))
        mongoc_uri_set_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    vmg_t *s = calloc(1, sizeof *s);
    if (!s || !(s->client = mongoc_client_new_from_uri(u))) {
        snprintf(errstr, errstr_size, "MongoDB: cannot make a client for the URI");
        mongoc_uri_destroy(u);
        free(s);
        return SL_ERR_INVALID;
    }
    mongoc_uri_destroy(u);
    mongoc_client_set_error_api(s->client, MONGOC_ERROR_API_VERSION_2);
    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    int okk = mongoc_client_command_simple(s->client, "admin", ping, NULL, NULL, &be);
    bson_destroy(ping);
    if (!okk) {
        snprintf(errstr, errstr_size, "MongoDB: %s", be.message);
        mg_destroy(s);
        return SL_ERR_DB;
    }
    memset(e, 0, sizeof *e);
    e->ctx = s;
    e->name = "MongoDB";
    e->bind = mg_bind;
    e->checksum = mg_checksum;
    e->rows = mg_rows;
    e->destroy = mg_destroy;
    return SL_OK;
}
