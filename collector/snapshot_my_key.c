/* shiftlog-collector, MySQL/MariaDB snapshot backend: how key values are
 * compared in SQL (snapshot_my.h) — the chunk's WHERE clause from the
 * continuation of the last chunk ("my1:<hex>,<hex>", the key cells as
 * fetched) or from a range request's bounds (UTF-8 texts), and the cell
 * kinds they depend on. Literals are rebuilt per column kind and checked,
 * so neither a stored progress nor a request can be spliced into SQL as
 * text: numbers unquoted (BIGINT UNSIGNED compares exactly), strings as
 * _charset X'..' (the column's collation applies, as ORDER BY sorts),
 * binary as X'..'. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_keyset.h"
#include "snapshot_my.h"

/* `name` with backquotes doubled. */
sl_err_t col_snap_my_ident(sl_buf_t *b, const char *name)
{
    return sl_keyset_ident(SL_KEYSET_MARIADB, b, name);
}

sl_err_t col_snap_my_hex(sl_buf_t *b, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789ABCDEF";
    sl_err_t err = sl_buf_reserve(b, n * 2);
    for (size_t i = 0; !err && i < n; i++) {
        b->data[b->len++] = hx[p[i] >> 4];
        b->data[b->len++] = hx[p[i] & 15];
    }
    if (!err)
        b->data[b->len] = '\0';
    return err;
}

static int is_int_type(uint8_t t)
{
    return t == COL_MYSQL_T_TINY || t == COL_MYSQL_T_SHORT || t == COL_MYSQL_T_INT24 ||
           t == COL_MYSQL_T_LONG || t == COL_MYSQL_T_LONGLONG || t == COL_MYSQL_T_YEAR;
}

int col_snap_my_is_temporal(uint8_t t)
{
    return t == COL_MYSQL_T_DATE || t == COL_MYSQL_T_TIME2 || t == COL_MYSQL_T_DATETIME2 ||
           t == COL_MYSQL_T_TIMESTAMP2;
}

cell_kind_t col_snap_my_cell_kind(const col_mysql_column_t *c)
{
    if (is_int_type(c->type) || c->type == COL_MYSQL_T_BIT ||
        c->real_type == COL_MYSQL_T_ENUM || c->real_type == COL_MYSQL_T_SET)
        return CELL_INT;
    if (c->type == COL_MYSQL_T_FLOAT)
        return CELL_FLOAT;
    if (c->type == COL_MYSQL_T_DOUBLE)
        return CELL_DOUBLE;
    if (c->type == COL_MYSQL_T_NEWDECIMAL || col_snap_my_is_temporal(c->type))
        return CELL_TEXT;
    return CELL_BYTES;
}

/* The key cell as continuation bytes: numbers as decimal text (FLOAT/DOUBLE
 * in full, as %.17e), everything else as fetched. */
sl_err_t col_snap_my_key_raw(const col_mysql_column_t *c, cell_kind_t k, const MYSQL_BIND *b,
                        sl_buf_t *out)
{
    char t[64];
    if (k == CELL_INT) {
        uint64_t u = *(const uint64_t *)b->buffer;
        if (b->is_unsigned)
            snprintf(t, sizeof(t), "%" PRIu64, u);
        else
            snprintf(t, sizeof(t), "%" PRId64, (int64_t)u);
    } else if (k == CELL_FLOAT) {
        snprintf(t, sizeof(t), "%.17e", (double)*(const float *)b->buffer);
    } else if (k == CELL_DOUBLE) {
        snprintf(t, sizeof(t), "%.17e", *(const double *)b->buffer);
    } else {
        return col_snap_my_hex(out, (const uint8_t *)b->buffer, *b->length);
    }
    return col_snap_my_hex(out, (const uint8_t *)t, strlen(t));
}

static int all_in(const char *s, size_t n, const char *set)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(set, s[i]))
            return 0;
    return 1;
}

/* The SQL literal of a key value from its continuation bytes (utf8 0: a
 * cell as fetched, in the column's charset) or from a range bound's text
 * (utf8 1: UTF-8); -1 when the value cannot be the column's (a damaged
 * progress text, a bound that does not fit the key). */
static int put_literal(sl_buf_t *q, const col_mysql_column_t *c, const uint8_t *v, size_t n,
                       int utf8)
{
    cell_kind_t k = col_snap_my_cell_kind(c);
    const char *t = (const char *)v;
    if (k == CELL_INT)
        return all_in(t, n, "-0123456789") ? (sl_buf_append(q, t, n) ? -1 : 0) : -1;
    if (k == CELL_FLOAT || k == CELL_DOUBLE)
        return all_in(t, n, "-+.0123456789eE") ? (sl_buf_append(q, t, n) ? -1 : 0) : -1;
    if (c->type == COL_MYSQL_T_NEWDECIMAL)
        return all_in(t, n, "-.0123456789") ? (sl_buf_append(q, t, n) ? -1 : 0) : -1;
    if (k == CELL_TEXT) {
        if (!all_in(t, n, "-.: 0123456789"))
            return -1;
        return sl_buf_putc(q, '\'') || sl_buf_append(q, t, n) || sl_buf_putc(q, '\'') ? -1 : 0;
    }
    if (c->hint == COL_MYSQL_HINT_INET6 || c->hint == COL_MYSQL_HINT_INET4 ||
        c->hint == COL_MYSQL_HINT_UUID) {
        const char *ty = c->hint == COL_MYSQL_HINT_INET6 ? "INET6"
                       : c->hint == COL_MYSQL_HINT_INET4 ? "INET4" : "UUID";
        /* the stored bytes, or the text form a range bound gives */
        return sl_buf_puts(q, utf8 ? "CAST(_utf8mb4 X'" : "CAST(X'") || col_snap_my_hex(q, v, n) ||
               sl_buf_printf(q, "' AS %s)", ty) ? -1 : 0;
    }
    const char *cs = c->charset == 63 ? NULL : utf8 ? "utf8mb4"
                   : col_mysql_charset_name(c->charset, NULL);
    if (c->charset != 63 && (!cs || !all_in(cs, strlen(cs), "abcdefghijklmnopqrstuvwxyz0123456789_")))
        return -1;
    /* an introducer, not COLLATE: the literal is coercible, the column's
     * collation compares (as ORDER BY sorts) */
    if (cs && sl_buf_printf(q, "_%s ", cs))
        return -1;
    return sl_buf_puts(q, "X'") || col_snap_my_hex(q, v, n) || sl_buf_putc(q, '\'') ? -1 : 0;
}

static int unhex(int ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
         : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* A key's values: bytes and lengths, owned. */
typedef struct key_vals_s {
    uint8_t *v[COL_SNAP_MAX_KEY];
    size_t   n[COL_SNAP_MAX_KEY];
    uint32_t count;
} key_vals_t;

static void vals_free(key_vals_t *k)
{
    for (uint32_t i = 0; i < k->count; i++)
        free(k->v[i]);
    k->count = 0;
}

/* The continuation "my1:<hex>,<hex>..." into nkey values; -1: malformed. */
static int vals_from_after(key_vals_t *k, const char *after, uint32_t nkey)
{
    if (strncmp(after, "my1:", 4))
        return -1;
    const char *p = after + 4;
    for (uint32_t i = 0; i < nkey; i++) {
        const char *e = strchr(p, ',');
        size_t hl = e ? (size_t)(e - p) : strlen(p);
        if (hl % 2 || (i + 1 < nkey) != (e != NULL) || !(k->v[i] = malloc(hl / 2 + 1)))
            return -1;
        k->count++;
        for (size_t j = 0; j < hl / 2; j++) {
            int a = unhex(p[2 * j]), b = unhex(p[2 * j + 1]);
            if (a < 0 || b < 0)
                return -1;
            k->v[i][j] = (uint8_t)(a << 4 | b);
        }
        k->n[i] = hl / 2;
        p = e ? e + 1 : p + hl;
    }
    return 0;
}

/* A binary string column (BINARY, VARBINARY, BLOB: the binary charset, no
 * INET/UUID meaning): a range bound gives its bytes in hex. */
static int bound_is_hex(const col_mysql_column_t *c)
{
    return col_snap_my_cell_kind(c) == CELL_BYTES && c->charset == 63 &&
           c->hint != COL_MYSQL_HINT_INET6 && c->hint != COL_MYSQL_HINT_INET4 &&
           c->hint != COL_MYSQL_HINT_UUID;
}

/* A range bound's values (col_snap_key_t texts) as the key's bytes: a
 * binary column's value is hex ("0aff", or PostgreSQL's "\x0aff": what
 * `shiftlog validate --repair` sends, and any byte can be written), every
 * other the text itself. -1 out of memory; -2 a binary value not hex (*bad:
 * which). */
static int vals_from_bound(key_vals_t *k, const col_snap_key_t *b,
                           const col_tablemap_t *tm, const uint32_t *key, uint32_t *bad)
{
    for (uint32_t i = 0; i < b->n; i++) {
        const char *t = b->vals[i];
        size_t l = strlen(t);
        if (!bound_is_hex(&tm->cols[key[i]])) {
            k->n[i] = l;
            if (!(k->v[i] = (uint8_t *)strdup(t)))
                return -1;
            k->count++;
            continue;
        }
        if (t[0] == '\\' && (t[1] == 'x' || t[1] == 'X'))
            t += 2, l -= 2;
        if (!(k->v[i] = malloc(l / 2 + 1)))
            return -1;
        k->count++;
        k->n[i] = l / 2;
        for (size_t j = 0; j < l / 2 && !(l % 2); j++) {
            int hi = unhex(t[2 * j]), lo = unhex(t[2 * j + 1]);
            if (hi < 0 || lo < 0)
                l = 1;                      /* not hex: refused below */
            else
                k->v[i][j] = (uint8_t)(hi << 4 | lo);
        }
        if (l % 2) {
            *bad = i;
            return -2;
        }
    }
    return 0;
}

/* why for a bound that vals_from_bound refused (rc), or that has n values
 * for a key of nkey columns. */
static void bound_why(char *why, size_t why_size, const char *side, int rc, uint32_t n,
                      uint32_t nkey, const col_tablemap_t *tm, const uint32_t *key,
                      uint32_t bad)
{
    if (rc == -2)
        snprintf(why, why_size, "the range's %s bound: column %s is binary, its value must "
                 "be hex (\"0aff\" or \"\\\\x0aff\")", side, tm->cols[key[bad]].name);
    else if (rc == -1)
        snprintf(why, why_size, "out of memory");
    else
        snprintf(why, why_size, "the range's %s bound has %u value(s), the key has %u "
                 "column(s)", side, n, nkey);
}

/* The keyset builder's view of a chunk's bounds (sl_keyset.h). */
typedef struct range_s {
    const col_tablemap_t *tm;
    const uint32_t       *key;
    key_vals_t            lower, upper;
    int                   lower_utf8;   /* lower is a range bound's text, not a continuation */
    int                   bad;          /* SL_KEYSET_AFTER / _UPTO + 1: a value did not fit */
} range_t;

static sl_err_t put_bound_value(void *ctx, sl_buf_t *q, int bound, uint32_t i, uint32_t seq)
{
    range_t *r = ctx;
    const key_vals_t *k = bound == SL_KEYSET_AFTER ? &r->lower : &r->upper;
    int utf8 = bound == SL_KEYSET_AFTER ? r->lower_utf8 : 1;
    (void)seq;
    if (put_literal(q, &r->tm->cols[r->key[i]], k->v[i], k->n[i], utf8)) {
        r->bad = bound + 1;
        return SL_ERR_INVALID;
    }
    return SL_OK;
}

int col_snap_my_put_where(sl_buf_t *q, const col_tablemap_t *tm, const uint32_t *key,
                          uint32_t nkey, const char *after, const col_snap_key_t *lo,
                          const col_snap_key_t *hi, char *why, size_t why_size)
{
    range_t r;
    const char *names[COL_SNAP_MAX_KEY];
    int rc = -1, vr = 0;
    uint32_t bad = 0;
    memset(&r, 0, sizeof(r));
    r.tm = tm;
    r.key = key;
    r.lower_utf8 = !after;
    if (after || lo) {
        if (after ? vals_from_after(&r.lower, after, nkey)
                  : lo->n != nkey || (vr = vals_from_bound(&r.lower, lo, tm, key, &bad))) {
            if (after)
                snprintf(why, why_size, "the snapshot progress \"%.80s\" does not fit its key "
                         "(columns changed?)", after);
            else
                bound_why(why, why_size, "lower", vr, lo->n, nkey, tm, key, bad);
            goto out;
        }
    }
    if (hi && (hi->n != nkey || (vr = vals_from_bound(&r.upper, hi, tm, key, &bad)))) {
        bound_why(why, why_size, "upper", vr, hi->n, nkey, tm, key, bad);
        goto out;
    }
    for (uint32_t i = 0; i < nkey && i < COL_SNAP_MAX_KEY; i++)
        names[i] = tm->cols[key[i]].name;
    sl_keyset_t ks = {SL_KEYSET_MARIADB, nkey, names, NULL, put_bound_value, &r, 0};
    if (sl_keyset_where(&ks, q, after || lo, hi != NULL, NULL)) {
        if (!r.bad)
            snprintf(why, why_size, "out of memory");
        else if (r.bad == SL_KEYSET_UPTO + 1)
            snprintf(why, why_size, "a value of the range's upper bound does not fit the "
                     "key's columns");
        else
            snprintf(why, why_size, "a value of %s does not fit the key's columns",
                     after ? "the snapshot progress" : "the range's lower bound");
        goto out;
    }
    rc = 0;
out:
    vals_free(&r.lower);
    vals_free(&r.upper);
    return rc;
}
