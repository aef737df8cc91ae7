/* STAND-IN until the engine (snapshot.c, the lead's) lands on main: only the
 * watermark payload helpers of snapshot.h, so that snapshot_pg.c and its
 * tests link. Deleted at the rebase onto the engine. */
#include <stdio.h>
#include <string.h>

#include "snapshot.h"

void col_snap_format_mark(char *buf, size_t size, const char *source, char kind,
                          const char *id)
{
    snprintf(buf, size, "%s:%c:%s", source, kind, id);
}

int col_snap_parse_mark(const char *text, size_t len, const char *source, char *kind,
                        char *id, size_t id_size)
{
    size_t sl = strlen(source);
    if (len < sl + 3 || memcmp(text, source, sl) || text[sl] != ':' || text[sl + 2] != ':')
        return 0;
    size_t n = len - sl - 3;
    if (n >= id_size)
        return 0;
    *kind = text[sl + 1];
    memcpy(id, text + sl + 3, n);
    id[n] = 0;
    return 1;
}
