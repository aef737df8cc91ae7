/* shiftlog: growable buffer. */
#include "sl_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sl_err_t sl_buf_reserve(sl_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return SL_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return SL_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return SL_OK;
}

sl_err_t sl_buf_append(sl_buf_t *b, const void *p, size_t n)
{
    if (sl_buf_reserve(b, n) != SL_OK)
        return SL_ERR_NOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SL_OK;
}

sl_err_t sl_buf_puts(sl_buf_t *b, const char *s)
{
    return sl_buf_append(b, s, strlen(s));
}

sl_err_t sl_buf_putc(sl_buf_t *b, char c)
{
    return sl_buf_append(b, &c, 1);
}

sl_err_t sl_buf_vprintf(sl_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return SL_ERR_INVALID;
    if (sl_buf_reserve(b, (size_t)n) != SL_OK)
        return SL_ERR_NOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return SL_OK;
}

sl_err_t sl_buf_printf(sl_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_err_t err = sl_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return err;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned int min;
    unsigned int cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) { len = 2; min = 0x80;    cp = s[0] & 0x1F; }
    else if ((s[0] & 0xF0) == 0xE0) { len = 3; min = 0x800;   cp = s[0] & 0x0F; }
    else if ((s[0] & 0xF8) == 0xF0) { len = 4; min = 0x10000; cp = s[0] & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

sl_err_t sl_buf_json_str(sl_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (sl_buf_reserve(b, n + 2) != SL_OK)
        return SL_ERR_NOMEM;
    b->data[b->len++] = '"';
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        char esc[7];
        size_t k;
        if (c == '"' || c == '\\') {
            esc[0] = '\\'; esc[1] = (char)c; k = 2;
        } else if (c == '\n') {
            esc[0] = '\\'; esc[1] = 'n'; k = 2;
        } else if (c == '\t') {
            esc[0] = '\\'; esc[1] = 't'; k = 2;
        } else if (c == '\r') {
            esc[0] = '\\'; esc[1] = 'r'; k = 2;
        } else if (c < 0x20 || c == 0x7F) {
            memcpy(esc, "\\u00", 4); esc[4] = hex[c >> 4]; esc[5] = hex[c & 15]; k = 6;
        } else if (c >= 0x80) {
            size_t l = utf8_seq_len(p + i, n - i);
            if (l) {
                if (sl_buf_append(b, p + i, l) != SL_OK)
                    return SL_ERR_NOMEM;
                i += l;
                continue;
            }
            memcpy(esc, "\\u00", 4); esc[4] = hex[c >> 4]; esc[5] = hex[c & 15]; k = 6;
        } else {
            esc[0] = (char)c; k = 1;
        }
        if (sl_buf_append(b, esc, k) != SL_OK)
            return SL_ERR_NOMEM;
        i++;
    }
    return sl_buf_putc(b, '"');
}

void sl_buf_reset(sl_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void sl_buf_free(sl_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
