/* shiftlog collector, PostgreSQL: the bounded big-endian reader of the
 * protocol parsers (pg_decode.c, pg_stream.c) and LSN text (pg_decode.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pg_decode.h"

uint8_t pg_rd_u8(pg_rd_t *r)
{
    if (r->off + 1 > r->len) {
        r->bad = 1;
        return 0;
    }
    return r->p[r->off++];
}

uint16_t pg_rd_u16(pg_rd_t *r)
{
    uint16_t hi = pg_rd_u8(r);
    return (uint16_t)(hi << 8 | pg_rd_u8(r));
}

uint32_t pg_rd_u32(pg_rd_t *r)
{
    uint32_t hi = pg_rd_u16(r);
    return hi << 16 | pg_rd_u16(r);
}

uint64_t pg_rd_u64(pg_rd_t *r)
{
    uint64_t hi = pg_rd_u32(r);
    return hi << 32 | pg_rd_u32(r);
}

const char *pg_rd_str(pg_rd_t *r)
{
    const uint8_t *nul = r->off < r->len ? memchr(r->p + r->off, 0, r->len - r->off) : NULL;
    if (!nul) {
        r->bad = 1;
        return NULL;
    }
    const char *s = (const char *)r->p + r->off;
    r->off = (size_t)(nul - r->p) + 1;
    return s;
}

const uint8_t *pg_rd_bytes(pg_rd_t *r, size_t n)
{
    if (r->bad || r->off > r->len || n > r->len - r->off) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

int pg_lsn_parse(const char *text, uint64_t *out)
{
    unsigned hi, lo;
    int n = 0;
    if (sscanf(text, "%X/%X%n", &hi, &lo, &n) != 2 || text[n])
        return 0;
    *out = (uint64_t)hi << 32 | lo;
    return 1;
}

void pg_lsn_format(uint64_t lsn, char *buf, size_t size)
{
    snprintf(buf, size, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}
