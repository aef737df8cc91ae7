/* shiftlog-applier: the texts the PostgreSQL target sends — a value as
 * PostgreSQL reads it back (text format parameters, COPY), the upsert's
 * ON CONFLICT clause, and a row's key for messages. Used by the batch
 * writer (target_pg.c) and COPY (target_pg_copy.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target_common.h"
#include "target_pg.h"

static char *put_u64(char *end, uint64_t u)
{
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return end;
}

/* 1 for a MySQL zero date ("0000-00-00", "2026-00-01", "2026-01-00" …): a
 * year, month or day of 0, which no PostgreSQL date holds. A value beyond
 * the microseconds a temporal can carry (PostgreSQL's own 294276-12-31, a
 * BC date, ±infinity) is not one: PostgreSQL reads its text back. */
static int zero_date(const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    if (p < end && *p == '-')
        p++;
    for (int part = 0; part < 3; part++) {
        uint64_t n = 0;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9' && p - d < 10)
            n = n * 10 + (uint64_t)(*p++ - '0');
        if (p == d)
            return 0;                   /* not a Y-M-D text (infinity, …) */
        if (n == 0)
            return 1;
        if (part < 2 && (p >= end || *p++ != '-'))
            return 0;
    }
    return 0;
}

sl_err_t app_pg_put_value(pg_tab_t *b, const sl_column_t *col, const sl_value_t *v, size_t i,
                          char *errstr, size_t errstr_size)
{
    static const char hex[] = "0123456789abcdef";
    sl_err_t err;
    size_t start = b->vals.len;
    b->off[i] = start;
    switch (v->kind) {
    case SL_VAL_NULL:
        b->len[i] = -1;
        return SL_OK;
    case SL_VAL_INT:
    case SL_VAL_UINT: {
        char num[24], *e = num + sizeof(num);
        uint64_t u = v->kind == SL_VAL_UINT ? v->u.u
                   : v->u.i < 0 ? (uint64_t)0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
        char *p = put_u64(e, u);
        if (v->kind == SL_VAL_INT && v->u.i < 0)
            *--p = '-';
        if ((err = sl_buf_append(&b->vals, p, (size_t)(e - p))))
            return err;
        b->len[i] = (int)(e - p);
        return sl_buf_putc(&b->vals, '\0');
    }
    case SL_VAL_BYTES:                      /* bytea hex text */
        if ((err = sl_buf_reserve(&b->vals, 2 + 2 * v->len + 1)))
            return err;
        sl_buf_puts(&b->vals, "\\x");
        for (size_t k = 0; k < v->len; k++) {
            unsigned char c = (unsigned char)v->data[k];
            b->vals.data[b->vals.len++] = hex[c >> 4];
            b->vals.data[b->vals.len++] = hex[c & 15];
        }
        b->vals.data[b->vals.len] = '\0';
        b->len[i] = (int)(b->vals.len - start);
        return sl_buf_putc(&b->vals, '\0');
    default:
        break;
    }
    if (v->kind == SL_VAL_TEMPORAL && !v->u.t.has_micros &&
        v->u.t.kind != SL_T_INTERVAL && v->u.t.kind != SL_T_TIME && zero_date(v->data, v->len)) {
        snprintf(errstr, errstr_size, "column %s: %s value \"%.*s\" has no PostgreSQL "
                 "equivalent (zero date)", col->name, sl_temporal_kind_name(v->u.t.kind),
                 (int)(v->len > 40 ? 40 : v->len), v->data);
        if ((err = app_unconvertible(b->unconv, errstr)))
            return err;
        b->len[i] = -1;
        return SL_OK;
    }
    if (v->kind == SL_VAL_SET) {
        const char *p = v->data, *end = v->data + v->len;
        sl_buf_putc(&b->vals, '{');
        for (uint32_t k = 0; k < v->n && p < end; k++) {
            size_t l = strnlen(p, (size_t)(end - p));
            sl_buf_puts(&b->vals, k ? ",\"" : "\"");
            for (size_t c = 0; c < l; c++) {
                if (p[c] == '"' || p[c] == '\\')
                    sl_buf_putc(&b->vals, '\\');
                sl_buf_putc(&b->vals, p[c]);
            }
            sl_buf_putc(&b->vals, '"');
            p += l + 1;
        }
        sl_buf_putc(&b->vals, '}');
    } else if (v->kind == SL_VAL_BOOL && col->kind == SL_VAL_BOOL) {
        sl_buf_puts(&b->vals, v->u.b ? "true" : "false");
    } else if ((err = app_conv_text(v, APP_CONV_BIT_DIGITS, &b->vals, errstr, errstr_size))) {
        return err;
    }
    size_t n = b->vals.len - start;
    if (memchr(b->vals.data + start, '\0', n)) {
        snprintf(errstr, errstr_size, "column %s: the %s value holds a NUL byte (U+0000), "
                 "which PostgreSQL text cannot store", col->name, sl_val_kind_name(v->kind));
        if ((err = app_unconvertible(b->unconv, errstr)))
            return err;
        b->vals.len = start;
        b->len[i] = -1;
        return SL_OK;
    }
    b->len[i] = (int)n;
    return sl_buf_putc(&b->vals, '\0');
}

void app_pg_describe_key(const pg_tab_t *b, const sl_schema_t *s, const sl_value_t *img,
                         const uint32_t *src_of_w, char *out, size_t size)
{
    sl_buf_t kb = SL_BUF_INIT;
    char e[64];
    for (uint32_t k = 0; k < b->nkey; k++) {
        const sl_value_t *v = &img[src_of_w[b->key[k]]];
        sl_buf_printf(&kb, "%s%s=", k ? "," : "", s->cols[b->w[b->key[k]].src].name);
        if (v->kind == SL_VAL_NULL || v->kind == SL_VAL_MISSING || v->kind == SL_VAL_BYTES ||
            app_conv_text(v, APP_CONV_BIT_DIGITS, &kb, e, sizeof(e)))
            sl_buf_puts(&kb, sl_val_kind_name(v->kind));
    }
    snprintf(out, size, "(%s)", kb.data ? kb.data : "");
    sl_buf_free(&kb);
}

void app_pg_upsert_set(const pg_tab_t *b, sl_buf_t *q, const uint32_t *cols, uint32_t ncols)
{
    sl_buf_puts(q, " ON CONFLICT (");
    for (uint32_t k = 0; k < b->nkey; k++)
        sl_buf_printf(q, "%s%s", k ? ", " : "", b->w[b->key[k]].qname);
    sl_buf_puts(q, ") DO ");
    int n = 0;
    for (uint32_t i = 0; i < ncols; i++) {
        uint32_t w = cols ? cols[i] : i, iskey = 0;
        for (uint32_t k = 0; k < b->nkey; k++)
            iskey |= b->key[k] == w;
        if (iskey)
            continue;
        sl_buf_printf(q, "%s%s = EXCLUDED.%s", n++ ? ", " : "UPDATE SET ", b->w[w].qname,
                      b->w[w].qname);
    }
    if (!n)
        sl_buf_puts(q, "NOTHING");
}
