/* shiftlog: a growable byte/string buffer, reused on hot paths.
 * The buffer owns its memory (free with sl_buf_free). data is always
 * NUL-terminated after len (when cap > 0), so text can be used directly. */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include "sl_err.h"

typedef struct sl_buf_s {
    char  *data;
    size_t len;
    size_t cap;
} sl_buf_t;

#define SL_BUF_INIT {NULL, 0, 0}

sl_err_t sl_buf_reserve(sl_buf_t *b, size_t extra);   /* room for extra more bytes + NUL */
sl_err_t sl_buf_append(sl_buf_t *b, const void *p, size_t n);
sl_err_t sl_buf_puts(sl_buf_t *b, const char *s);
sl_err_t sl_buf_putc(sl_buf_t *b, char c);
sl_err_t sl_buf_printf(sl_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
sl_err_t sl_buf_vprintf(sl_buf_t *b, const char *fmt, va_list ap);
/* Appends s (n bytes) as a JSON string literal with quotes; invalid UTF-8
 * bytes are written as \u00XX escapes of the byte so nothing is lost. */
sl_err_t sl_buf_json_str(sl_buf_t *b, const char *s, size_t n);
void     sl_buf_reset(sl_buf_t *b);                   /* len = 0, keeps memory */
void     sl_buf_free(sl_buf_t *b);

#endif
