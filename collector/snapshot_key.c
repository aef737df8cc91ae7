/* shiftlog-collector: the key bounds of a range re-snapshot (snapshot.h,
 * col_snap_key_*) — a JSON array of the key's values in key order, e.g.
 * [17] or ["a",3] — and their encoding inside an 'S' request mark.
 *
 * Each element is the value's text: a JSON string's characters (UTF-8), a
 * number as written, true/false as those words. The backends turn the texts
 * into typed parameters or literals of the key's columns, so the range is
 * compared in the same keyset order the chunker pages by. null, nested
 * arrays and objects are refused: a chunking key is NOT NULL and scalar. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

static void put_utf8(sl_buf_t *b, unsigned cp)
{
    if (cp < 0x80) {
        sl_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        sl_buf_putc(b, (char)(0xC0 | cp >> 6));
        sl_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        sl_buf_putc(b, (char)(0xE0 | cp >> 12));
        sl_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sl_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        sl_buf_putc(b, (char)(0xF0 | cp >> 18));
        sl_buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        sl_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sl_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* A JSON string at p (after its opening quote) into b; the end after its
 * closing quote, or NULL. */
static const char *json_string(const char *p, sl_buf_t *b, const char **why)
{
    for (;;) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"')
            return p;
        if (c < 0x20) {
            *why = c ? "a control character in a string" : "an unterminated string";
            return NULL;
        }
        if (c != '\\') {
            sl_buf_putc(b, (char)c);
            continue;
        }
        c = (unsigned char)*p++;
        const char *simple = strchr("\"\\/bfnrt", c);
        if (c && simple) {
            sl_buf_putc(b, "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"]);
            continue;
        }
        unsigned cp, lo;
        if (c != 'u' || hex4(p, &cp)) {
            *why = "a bad escape in a string";
            return NULL;
        }
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00) {
            if (p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                *why = "a lone UTF-16 surrogate in a string";
                return NULL;
            }
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp < 0xE000) {
            *why = "a lone UTF-16 surrogate in a string";
            return NULL;
        }
        if (cp == 0) {
            *why = "a NUL character (\\u0000) in a string";
            return NULL;
        }
        put_utf8(b, cp);
    }
}

/* A JSON number at p: its end, or NULL. */
static const char *json_number(const char *p)
{
    const char *q = p;
    if (*q == '-')
        q++;
    if (*q == '0')
        q++;
    else if (*q >= '1' && *q <= '9')
        while (*q >= '0' && *q <= '9')
            q++;
    else
        return NULL;
    if (*q == '.') {
        if (!(*++q >= '0' && *q <= '9'))
            return NULL;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-')
            q++;
        if (!(*q >= '0' && *q <= '9'))
            return NULL;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    return q;
}

int col_snap_key_parse(const char *json, col_snap_key_t *out, char *errstr,
                       size_t errstr_size)
{
    const char *p = skip_ws(json), *why = "not a JSON array";
    sl_buf_t b = SL_BUF_INIT;
    memset(out, 0, sizeof(*out));
    if (*p++ != '[')
        goto bad;
    p = skip_ws(p);
    if (*p == ']') {
        why = "an empty array (give one value per key column)";
        goto bad;
    }
    for (;;) {
        sl_buf_reset(&b);
        const char *e = NULL;
        if (*p == '"') {
            e = json_string(p + 1, &b, &why);
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            if ((e = json_number(p)))
                sl_buf_append(&b, p, (size_t)(e - p));
            else
                why = "a malformed number";
        } else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
            e = p + (*p == 't' ? 4 : 5);
            sl_buf_append(&b, p, (size_t)(e - p));
        } else {
            why = !strncmp(p, "null", 4) ? "null (a key column is NOT NULL)"
                : "a value that is not a string, a number or a boolean";
        }
        if (!e)
            goto bad;
        if (out->n == COL_SNAP_MAX_KEY) {
            why = "more values than a key has columns (32 at most)";
            goto bad;
        }
        sl_buf_putc(&b, '\0');
        if (!b.data || !(out->vals[out->n] = malloc(b.len))) {
            why = "out of memory";
            goto bad;
        }
        memcpy(out->vals[out->n++], b.data, b.len);
        p = skip_ws(e);
        if (*p == ']')
            break;
        if (*p++ != ',') {
            why = "a missing ',' or ']'";
            goto bad;
        }
        p = skip_ws(p);
    }
    if (*skip_ws(p + 1)) {
        why = "text after the array";
        goto bad;
    }
    sl_buf_free(&b);
    return 0;
bad:
    snprintf(errstr, errstr_size, "key bound %.80s%s: %s", json, strlen(json) > 80 ? "..." : "",
             why);
    sl_buf_free(&b);
    col_snap_key_free(out);
    return -1;
}

void col_snap_key_free(col_snap_key_t *k)
{
    for (uint32_t i = 0; i < k->n; i++)
        free(k->vals[i]);
    memset(k, 0, sizeof(*k));
}

/* ------------------------------------------------------------ in a mark */

/* Bytes a request id carries as they are: everything but '%', '+', space
 * and controls (the id ends at the first space; '+' separates the bounds). */
static int plain(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '%' && c != '+';
}

void col_snap_mark_put(sl_buf_t *b, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; p && *p; p++) {
        if (plain(*p))
            sl_buf_putc(b, (char)*p);
        else
            sl_buf_printf(b, "%%%02X", *p);
    }
}

char *col_snap_mark_get(const char *p, size_t n)
{
    char *o = malloc(n + 1), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        char h[5] = {'0', '0', 0, 0, 0};
        if (p[i] == '%' && i + 2 < n) {
            h[2] = p[i + 1];
            h[3] = p[i + 2];
            if (!hex4(h, &v) && v) {
                *w++ = (char)v;
                i += 2;
                continue;
            }
        }
        *w++ = p[i];
    }
    *w = '\0';
    return o;
}
