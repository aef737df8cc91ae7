/* shiftlog: record values as exact BSON and back, schemas as BSON and back,
 * and the shared log's document ids (sl_bson.h, docs/miner.md "Values").
 *
 * The rule: a BSON type stands for one value kind where it can (null, bool,
 * int64, double, Decimal128, utf8, binary, array of labels); every value
 * that would lose something in a plain BSON type is an embedded document
 * {_t: "<kind>", ...} carrying all of it. A column value that is an
 * embedded document is therefore always such a wrapper. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_bson.h"
#include "sl_value_text.h"

void sl_bson_doc_id(const sl_pos_t *pos, char type, char out[SL_BSON_ID_LEN + 1])
{
    sl_pos_key(pos, out);
    out[SL_POS_KEY_LEN] = type;
    out[SL_BSON_ID_LEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

sl_err_t sl_bson_pos_key_parse(const char *text, sl_pos_t *out)
{
    size_t len = strlen(text);
    if (len != SL_POS_KEY_LEN && len != SL_BSON_ID_LEN)
        return SL_ERR_PARSE;
    uint64_t part[4] = {0, 0, 0, 0};
    static const int width[4] = {1, 16, 16, 8};
    const char *p = text;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < width[k]; i++, p++) {
            int h = hexval(*p);
            if (h < 0)
                return SL_ERR_PARSE;
            part[k] = part[k] << 4 | (uint64_t)h;
        }
    if (len == SL_BSON_ID_LEN && (*p < '1' || *p > '4'))
        return SL_ERR_PARSE;
    if (part[0] != SL_POS_MYSQL && part[0] != SL_POS_PG)
        return SL_ERR_PARSE;
    memset(out, 0, sizeof(*out));
    out->kind = (sl_pos_kind_t)part[0];
    out->seq = part[1];
    out->offset = part[2];
    out->row = (uint32_t)part[3];
    return SL_OK;
}

/* Decimal128 fields straight from its bits (libbson 1.23 only prints the
 * scientific form). Returns 1 for a finite number with coefficient digits
 * in out_digits (no leading zeros, "0" for zero), sign and exponent. */
static int dec128_parts(const bson_decimal128_t *d, int *neg, int *exp, char *digits,
                        size_t size)
{
    uint64_t high = d->high, low = d->low;
    *neg = (int)(high >> 63);
    uint32_t comb = (uint32_t)(high >> 58) & 0x1f;
    if ((comb >> 3) == 3)
        return 0;           /* infinity / NaN: handled by the caller */
    uint32_t biased;
    uint64_t sig_high;
    biased = (uint32_t)(high >> 49) & 0x3fff;
    sig_high = high & 0x1ffffffffffffULL;
    *exp = (int)biased - 6176;
    /* 113-bit coefficient -> decimal digits by repeated division by 10^9 */
    uint32_t parts[4] = {(uint32_t)(sig_high >> 32), (uint32_t)sig_high,
                         (uint32_t)(low >> 32), (uint32_t)low};
    char tmp[64];
    int n = 0;
    for (;;) {
        int zero = !parts[0] && !parts[1] && !parts[2] && !parts[3];
        if (zero)
            break;
        uint64_t rem = 0;
        for (int i = 0; i < 4; i++) {
            uint64_t cur = (rem << 32) | parts[i];
            parts[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        for (int k = 0; k < 9; k++) {
            tmp[n++] = (char)('0' + rem % 10);
            rem /= 10;
        }
    }
    while (n > 1 && tmp[n - 1] == '0')
        n--;
    if (n == 0)
        tmp[n++] = '0';
    if ((size_t)n + 1 > size)
        return 0;
    for (int i = 0; i < n; i++)
        digits[i] = tmp[n - 1 - i];
    digits[n] = '\0';
    return 1;
}

int sl_bson_dec128_to_plain(const bson_decimal128_t *d, char *out, size_t size)
{
    int neg, exp;
    char dig[64];
    if (!dec128_parts(d, &neg, &exp, dig, sizeof dig)) {
        char sci[BSON_DECIMAL128_STRING];
        bson_decimal128_to_string(d, sci);   /* NaN, Infinity, -Infinity */
        int n = snprintf(out, size, "%s", sci);
        return n >= 0 && (size_t)n < size ? n : -1;
    }
    int nd = (int)strlen(dig);
    size_t o = 0;
#define PUT(c) do { if (o + 1 < size) out[o] = (c); o++; } while (0)
    if (neg)
        PUT('-');
    if (exp >= 0) {
        for (int i = 0; i < nd; i++)
            PUT(dig[i]);
        if (!(nd == 1 && dig[0] == '0'))
            for (int i = 0; i < exp; i++)
                PUT('0');
    } else {
        int frac = -exp;
        int intd = nd - frac;
        if (intd <= 0) {
            PUT('0');
            PUT('.');
            for (int i = 0; i < -intd; i++)
                PUT('0');
            for (int i = 0; i < nd; i++)
                PUT(dig[i]);
        } else {
            for (int i = 0; i < intd; i++)
                PUT(dig[i]);
            PUT('.');
            for (int i = intd; i < nd; i++)
                PUT(dig[i]);
        }
    }
#undef PUT
    if (size)
        out[o < size ? o : size - 1] = '\0';
    /* the untruncated length would send callers past out (1E+6000: 6001) */
    return o < size ? (int)o : -1;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - ((a % b) < 0);
}

#define SL_BSON_DAY_MS   86400000LL
#define SL_BSON_DAYS_MAX (INT64_MAX / SL_BSON_DAY_MS)   /* 106751991167 */

int sl_bson_date_ms(int64_t days, int64_t *ms)
{
    if (days > SL_BSON_DAYS_MAX || days < -SL_BSON_DAYS_MAX)
        return -1;
    *ms = days * SL_BSON_DAY_MS;
    return 0;
}

static int temporal_is_instant(sl_temporal_kind_t k)
{
    return k == SL_T_DATETIME || k == SL_T_TIMESTAMP || k == SL_T_TIMESTAMPTZ;
}

int sl_bson_append_value(bson_t *b, const char *key, int klen, const sl_value_t *v)
{
    bson_t sub;
    int ok = 1;
    switch (v->kind) {
    case SL_VAL_NULL:
        return bson_append_null(b, key, klen) ? 0 : -1;
    case SL_VAL_BOOL:
        return bson_append_bool(b, key, klen, v->u.b != 0) ? 0 : -1;
    case SL_VAL_INT:
        return bson_append_int64(b, key, klen, v->u.i) ? 0 : -1;
    case SL_VAL_UINT:
        if (v->u.u <= (uint64_t)INT64_MAX)
            return bson_append_int64(b, key, klen, (int64_t)v->u.u) ? 0 : -1;
        else {
            char txt[32];
            bson_decimal128_t d;
            snprintf(txt, sizeof txt, "%" PRIu64, v->u.u);
            if (!bson_decimal128_from_string(txt, &d))
                return -1;
            return bson_append_decimal128(b, key, klen, &d) ? 0 : -1;
        }
    case SL_VAL_FLOAT:
        return bson_append_double(b, key, klen, (double)v->u.f) ? 0 : -1;
    case SL_VAL_DOUBLE:
        return bson_append_double(b, key, klen, v->u.d) ? 0 : -1;
    case SL_VAL_DECIMAL: {
        char txt[128];
        bson_decimal128_t d;
        int special = v->len && (v->data[0] == 'N' || v->data[0] == 'I' ||
                                 (v->len > 1 && v->data[0] == '-' && v->data[1] == 'I'));
        int digits = special ? 0 : sl_decimal_digits(v->data, v->len);
        if ((special || (digits > 0 && digits <= 34)) && v->len < sizeof txt) {
            memcpy(txt, v->data, v->len);
            txt[v->len] = '\0';
            if (bson_decimal128_from_string(txt, &d)) {
                /* exact only if it prints back as the same text */
                char back[160];
                const char *t = txt[0] == '+' ? txt + 1 : txt;
                if (sl_bson_dec128_to_plain(&d, back, sizeof back) >= 0 && !strcmp(back, t))
                    return bson_append_decimal128(b, key, klen, &d) ? 0 : -1;
            }
        }
        ok &= bson_append_document_begin(b, key, klen, &sub);
        ok &= BSON_APPEND_UTF8(&sub, "_t", "decimal");
        ok &= bson_append_utf8(&sub, "v", 1, v->data, (int)v->len);
        ok &= bson_append_document_end(b, &sub);
        return ok ? 0 : -1;
    }
    case SL_VAL_STRING:
        if (bson_utf8_validate(v->data, v->len, true))
            return bson_append_utf8(b, key, klen, v->data, (int)v->len) ? 0 : -1;
        ok &= bson_append_document_begin(b, key, klen, &sub);
        ok &= BSON_APPEND_UTF8(&sub, "_t", "text");
        ok &= bson_append_binary(&sub, "v", 1, BSON_SUBTYPE_BINARY, (const uint8_t *)v->data,
                                 (uint32_t)v->len);
        ok &= bson_append_document_end(b, &sub);
        return ok ? 0 : -1;
    case SL_VAL_BYTES:
        return bson_append_binary(b, key, klen, BSON_SUBTYPE_BINARY, (const uint8_t *)v->data,
                                  (uint32_t)v->len) ? 0 : -1;
    case SL_VAL_SET: {
        const char *p = v->data, *end = v->data + v->len;
        char ik[16];
        ok &= bson_append_array_begin(b, key, klen, &sub);
        for (uint32_t i = 0; i < v->n && p <= end; i++) {
            size_t l = strnlen(p, (size_t)(end - p));
            const char *ks;
            bson_uint32_to_string(i, &ks, ik, sizeof ik);
            ok &= bson_append_utf8(&sub, ks, -1, p, (int)l);
            p += l + 1;
        }
        ok &= bson_append_array_end(b, &sub);
        return ok ? 0 : -1;
    }
    case SL_VAL_TEMPORAL:
        ok &= bson_append_document_begin(b, key, klen, &sub);
        ok &= BSON_APPEND_UTF8(&sub, "_t", sl_temporal_kind_name(v->u.t.kind));
        ok &= bson_append_utf8(&sub, "s", 1, v->data, (int)v->len);
        if (v->u.t.has_micros) {
            ok &= BSON_APPEND_INT64(&sub, "us", v->u.t.micros);
            int64_t ms;
            /* d is derived (for queries); s and us keep a DATE beyond BSON's
             * range exactly, so the log stores it without d, not a wrapped date */
            if (v->u.t.kind == SL_T_DATE) {
                if (!sl_bson_date_ms(v->u.t.micros, &ms))
                    ok &= BSON_APPEND_DATE_TIME(&sub, "d", ms);
            } else if (temporal_is_instant(v->u.t.kind))
                ok &= BSON_APPEND_DATE_TIME(&sub, "d", floor_div(v->u.t.micros, 1000));
        }
        ok &= BSON_APPEND_INT32(&sub, "p", v->u.t.precision);
        if (v->u.t.has_tz)
            ok &= BSON_APPEND_INT32(&sub, "tz", v->u.t.tz_offset_s);
        ok &= bson_append_document_end(b, &sub);
        return ok ? 0 : -1;
    case SL_VAL_BIT:
        ok &= bson_append_document_begin(b, key, klen, &sub);
        ok &= BSON_APPEND_UTF8(&sub, "_t", "bit");
        ok &= BSON_APPEND_INT64(&sub, "n", v->u.bit.nbits);
        ok &= bson_append_binary(&sub, "v", 1, BSON_SUBTYPE_BINARY, (const uint8_t *)v->data,
                                 (uint32_t)v->len);
        ok &= bson_append_document_end(b, &sub);
        return ok ? 0 : -1;
    case SL_VAL_TYPED:
        ok &= bson_append_document_begin(b, key, klen, &sub);
        ok &= BSON_APPEND_UTF8(&sub, "_t", "typed");
        ok &= BSON_APPEND_UTF8(&sub, "type", v->u.typed.type ? v->u.typed.type : "");
        ok &= bson_append_utf8(&sub, "v", 1, v->data, (int)v->len);
        ok &= bson_append_document_end(b, &sub);
        return ok ? 0 : -1;
    case SL_VAL_MISSING:
        ok &= bson_append_document_begin(b, key, klen, &sub);
        ok &= BSON_APPEND_UTF8(&sub, "_t", "missing");
        ok &= BSON_APPEND_UTF8(&sub, "why", sl_missing_name(v->u.missing));
        ok &= bson_append_document_end(b, &sub);
        return ok ? 0 : -1;
    }
    return -1;
}

/* ------------------------------------------------------------------ read */

static sl_err_t derr(char *errstr, size_t errstr_size, const char *key, const char *what)
{
    snprintf(errstr, errstr_size, "log value \"%s\": %s", key, what);
    return SL_ERR_DECODE;
}

static int temporal_kind_of(const char *name, sl_temporal_kind_t *out)
{
    for (int k = SL_T_DATE; k <= SL_T_INTERVAL; k++)
        if (!strcmp(name, sl_temporal_kind_name((sl_temporal_kind_t)k))) {
            *out = (sl_temporal_kind_t)k;
            return 0;
        }
    return -1;
}

static sl_err_t read_wrapper(const bson_iter_t *it, sl_record_t *rec, sl_value_t *v,
                             char *errstr, size_t errstr_size)
{
    const char *key = bson_iter_key(it);
    bson_iter_t sub;
    const char *t = NULL, *s = NULL, *type = NULL, *why = NULL;
    uint32_t slen = 0;
    const uint8_t *bin = NULL;
    uint32_t blen = 0;
    int has_us = 0, has_tz = 0, has_n = 0;
    int64_t us = 0, n = 0;
    int32_t p = 0, tz = 0;
    if (!bson_iter_recurse(it, &sub))
        return derr(errstr, errstr_size, key, "bad embedded document");
    while (bson_iter_next(&sub)) {
        const char *k = bson_iter_key(&sub);
        if (!strcmp(k, "_t") && BSON_ITER_HOLDS_UTF8(&sub))
            t = bson_iter_utf8(&sub, NULL);
        else if ((!strcmp(k, "s") || !strcmp(k, "v")) && BSON_ITER_HOLDS_UTF8(&sub))
            s = bson_iter_utf8(&sub, &slen);
        else if (!strcmp(k, "v") && BSON_ITER_HOLDS_BINARY(&sub))
            bson_iter_binary(&sub, NULL, &blen, &bin);
        else if (!strcmp(k, "us") && BSON_ITER_HOLDS_INT64(&sub))
            has_us = 1, us = bson_iter_int64(&sub);
        else if (!strcmp(k, "p") && BSON_ITER_HOLDS_INT32(&sub))
            p = bson_iter_int32(&sub);
        else if (!strcmp(k, "tz") && BSON_ITER_HOLDS_INT32(&sub))
            has_tz = 1, tz = bson_iter_int32(&sub);
        else if (!strcmp(k, "n") && BSON_ITER_HOLDS_INT64(&sub))
            has_n = 1, n = bson_iter_int64(&sub);
        else if (!strcmp(k, "type") && BSON_ITER_HOLDS_UTF8(&sub))
            type = bson_iter_utf8(&sub, NULL);
        else if (!strcmp(k, "why") && BSON_ITER_HOLDS_UTF8(&sub))
            why = bson_iter_utf8(&sub, NULL);
    }
    if (!t)
        return derr(errstr, errstr_size, key, "embedded document without _t");
    sl_temporal_kind_t tk;
    if (!strcmp(t, "decimal") && s)
        return sl_value_set_text(rec, v, SL_VAL_DECIMAL, s, slen);
    if (!strcmp(t, "text") && bin)
        return sl_value_set_text(rec, v, SL_VAL_STRING, bin, blen);
    if (!strcmp(t, "bit") && has_n && (bin || blen == 0))
        return sl_value_set_bit(rec, v, (uint32_t)n, bin ? (const void *)bin : "", blen);
    if (!strcmp(t, "typed") && s && type)
        return sl_value_set_typed(rec, v, type, s, slen);
    if (!strcmp(t, "missing") && why) {
        memset(v, 0, sizeof(*v));
        v->kind = SL_VAL_MISSING;
        v->u.missing = !strcmp(why, "unchanged_toast") ? SL_MISSING_UNCHANGED_TOAST
                                                       : SL_MISSING_NOT_IN_IMAGE;
        return SL_OK;
    }
    if (temporal_kind_of(t, &tk) == 0 && s)
        return sl_value_set_temporal(rec, v, tk, s, slen, has_us, us, p, has_tz, tz);
    return derr(errstr, errstr_size, key, "unknown _t wrapper");
}

sl_err_t sl_bson_read_value(const bson_iter_t *it, sl_val_kind_t hint, sl_record_t *rec,
                              sl_value_t *v, char *errstr, size_t errstr_size)
{
    memset(v, 0, sizeof(*v));
    switch (bson_iter_type(it)) {
    case BSON_TYPE_NULL:
        v->kind = SL_VAL_NULL;
        return SL_OK;
    case BSON_TYPE_BOOL:
        v->kind = SL_VAL_BOOL;
        v->u.b = bson_iter_bool(it);
        return SL_OK;
    case BSON_TYPE_INT64:
        if (hint == SL_VAL_UINT) {
            v->kind = SL_VAL_UINT;
            v->u.u = (uint64_t)bson_iter_int64(it);
        } else {
            v->kind = SL_VAL_INT;
            v->u.i = bson_iter_int64(it);
        }
        return SL_OK;
    case BSON_TYPE_INT32:
        v->kind = SL_VAL_INT;
        v->u.i = bson_iter_int32(it);
        return SL_OK;
    case BSON_TYPE_DOUBLE:
        if (hint == SL_VAL_FLOAT) {
            v->kind = SL_VAL_FLOAT;
            v->u.f = (float)bson_iter_double(it);
        } else {
            v->kind = SL_VAL_DOUBLE;
            v->u.d = bson_iter_double(it);
        }
        return SL_OK;
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t d;
        char txt[160];
        bson_iter_decimal128(it, &d);
        int n = sl_bson_dec128_to_plain(&d, txt, sizeof txt);
        if (n < 0) {
            /* the log writes Decimal128 only for text that prints back in 160 bytes */
            char sci[BSON_DECIMAL128_STRING];
            bson_decimal128_to_string(&d, sci);
            snprintf(errstr, errstr_size, "Decimal128 %s: its plain text is longer than %zu "
                     "characters, a value the shared log never writes", sci, sizeof txt - 1);
            return SL_ERR_DECODE;
        }
        if (hint == SL_VAL_UINT) {
            v->kind = SL_VAL_UINT;
            v->u.u = strtoull(txt, NULL, 10);
            return SL_OK;
        }
        return sl_value_set_text(rec, v, SL_VAL_DECIMAL, txt, (size_t)n);
    }
    case BSON_TYPE_UTF8: {
        uint32_t len;
        const char *s = bson_iter_utf8(it, &len);
        return sl_value_set_text(rec, v, SL_VAL_STRING, s, len);
    }
    case BSON_TYPE_BINARY: {
        uint32_t len;
        const uint8_t *p;
        bson_iter_binary(it, NULL, &len, &p);
        return sl_value_set_text(rec, v, SL_VAL_BYTES, p, len);
    }
    case BSON_TYPE_ARRAY: {
        bson_iter_t a;
        uint32_t n = 0, i = 0;
        if (!bson_iter_recurse(it, &a))
            return derr(errstr, errstr_size, bson_iter_key(it), "bad array");
        while (bson_iter_next(&a))
            n++;
        const char **labels = sl_record_alloc(rec, (n ? n : 1) * sizeof(*labels));
        if (!labels)
            return SL_ERR_NOMEM;
        bson_iter_recurse(it, &a);
        while (bson_iter_next(&a)) {
            if (!BSON_ITER_HOLDS_UTF8(&a))
                return derr(errstr, errstr_size, bson_iter_key(it), "SET label not a string");
            labels[i++] = bson_iter_utf8(&a, NULL);
        }
        return sl_value_set_set(rec, v, labels, n);
    }
    case BSON_TYPE_DOCUMENT:
        return read_wrapper(it, rec, v, errstr, errstr_size);
    default:
        return derr(errstr, errstr_size, bson_iter_key(it), "BSON type the log never writes");
    }
}

/* ---------------------------------------------------------------- schemas */

int sl_bson_schema_columns(bson_t *parent, const char *key, const sl_schema_t *s)
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
        if (c->dflt)
            ok &= BSON_APPEND_UTF8(&col, "default", c->dflt);
        ok &= bson_append_document_end(&arr, &col);
    }
    ok &= bson_append_array_end(parent, &arr);
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

sl_err_t sl_bson_schema_from_doc(const bson_t *doc, sl_record_t *rec, char *errstr,
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
            else if (!strcmp(k, "default") && BSON_ITER_HOLDS_UTF8(&col))
                c->dflt = sl_record_strdup(rec, bson_iter_utf8(&col, NULL));
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

char *sl_bson_iter_text(const bson_iter_t *it0)
{
    bson_iter_t it = *it0;
    char num[32];
    if (BSON_ITER_HOLDS_UTF8(&it))
        return strdup(bson_iter_utf8(&it, NULL));
    if (BSON_ITER_HOLDS_NUMBER(&it) || BSON_ITER_HOLDS_BOOL(&it)) {
        snprintf(num, sizeof num, "%lld", (long long)bson_iter_as_int64(&it));
        return strdup(num);
    }
    if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
        const uint8_t *data;
        uint32_t len;
        bson_t sub;
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&sub, data, len))
            return NULL;
        char *j = bson_as_relaxed_extended_json(&sub, NULL), *r = j ? strdup(j) : NULL;
        bson_free(j);
        return r;
    }
    return NULL;
}
