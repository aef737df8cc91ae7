/* shiftlog: the name form of (db, table[, column]) — see sl_name.h. */
#include <string.h>

#include "sl_name.h"

static int needs_quotes(const char *p)
{
    return !*p || strchr(p, '.') || strchr(p, '`');
}

size_t sl_name_join(const char *const *parts, int n, char *out, size_t size)
{
    size_t o = 0;
#define PUT(c)                                                                                \
    do {                                                                                      \
        if (o + 1 < size)                                                                     \
            out[o] = (c);                                                                     \
        o++;                                                                                  \
    } while (0)
    for (int i = 0; i < n; i++) {
        const char *p = parts[i] ? parts[i] : "";
        int q = needs_quotes(p);
        if (i)
            PUT('.');
        if (q)
            PUT('`');
        for (; *p; p++) {
            if (*p == '`')
                PUT('`');
            PUT(*p);
        }
        if (q)
            PUT('`');
    }
#undef PUT
    if (size)
        out[o < size ? o : size - 1] = '\0';
    return o;
}

char *sl_name_format(const char *db, const char *table, char *out, size_t size)
{
    const char *parts[2] = {db, table};
    sl_name_join(parts, 2, out, size);
    return out;
}

int sl_name_split(const char *text, char **parts, int max, char *buf, size_t bufsize)
{
    size_t o = 0;
    int n = 0, quoted = 0;
    const char *p = text;
    for (;;) {
        if (o >= bufsize)
            return -1;
        if (n < max)
            parts[n] = buf + o;
        for (;; p++) {
            char c = *p;
            if (quoted && c == '`' && p[1] == '`') {
                p++;
            } else if (c == '`') {
                quoted = !quoted;
                continue;
            } else if (!c || (c == '.' && !quoted)) {
                break;
            }
            if (n < max) {
                if (o + 1 >= bufsize)
                    return -1;
                buf[o++] = c;
            }
        }
        if (quoted)
            return -1;
        if (n < max)
            buf[o++] = '\0';
        n++;
        if (!*p)
            return n;
        p++;
    }
}

static int copy_part(char *dst, size_t size, const char *src, size_t n)
{
    if (n >= size)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

int sl_name_parse(const char *text, char *db, size_t dbsize, char *table, size_t tsize)
{
    char buf[1024], *parts[2];
    int n = strchr(text, '`') ? sl_name_split(text, parts, 2, buf, sizeof buf) : -1;
    if (n == 2)
        return copy_part(db, dbsize, parts[0], strlen(parts[0])) ||
               copy_part(table, tsize, parts[1], strlen(parts[1])) ? -1 : 0;
    /* unquoted (or malformed): the first '.' separates, as older versions did */
    const char *dot = strchr(text, '.');
    if (!dot)
        return -1;
    return copy_part(db, dbsize, text, (size_t)(dot - text)) ||
           copy_part(table, tsize, dot + 1, strlen(dot + 1)) ? -1 : 0;
}
