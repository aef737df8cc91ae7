/* shiftlog: source positions (see sl_pos.h for the forms). */
#include "sl_pos.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

int sl_pos_cmp(const sl_pos_t *a, const sl_pos_t *b)
{
    int c;
    if ((c = cmp_u64((uint64_t)a->kind, (uint64_t)b->kind)) != 0)
        return c;
    if ((c = cmp_u64(a->seq, b->seq)) != 0)
        return c;
    if ((c = cmp_u64(a->offset, b->offset)) != 0)
        return c;
    return cmp_u64(a->row, b->row);
}

/* Hot paths (the miner builds an `_id` and a position text per document)
 * format by hand: snprintf cost ~12% of the miner's instructions. */
static char *put_hex(char *o, uint64_t v, int width)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = width - 1; i >= 0; i--, v >>= 4)
        o[i] = hex[v & 0xf];
    return o + width;
}

void sl_pos_key(const sl_pos_t *pos, char out[SL_POS_KEY_LEN + 1])
{
    char *o = put_hex(out, (uint64_t)pos->kind & 0xf, 1);
    o = put_hex(o, pos->seq, 16);
    o = put_hex(o, pos->offset, 16);
    o = put_hex(o, pos->row, 8);
    *o = '\0';
}

/* Appends to buf[*o..size) like snprintf would (counting what does not fit). */
static void put_str(char *buf, size_t size, size_t *o, const char *s)
{
    for (; *s; s++, (*o)++)
        if (*o + 1 < size)
            buf[*o] = *s;
}

static void put_dec(char *buf, size_t size, size_t *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        if (*o + 1 < size)
            buf[*o] = tmp[n - 1];
        (*o)++;
        n--;
    }
}

int sl_pos_format(const sl_pos_t *pos, char *buf, size_t size)
{
    size_t o = 0;
    switch (pos->kind) {
    case SL_POS_MYSQL:
        put_str(buf, size, &o, pos->file);
        put_str(buf, size, &o, ":");
        put_dec(buf, size, &o, pos->offset);
        put_str(buf, size, &o, "#");
        put_dec(buf, size, &o, pos->row);
        if (pos->gtid[0]) {
            put_str(buf, size, &o, "@");
            put_str(buf, size, &o, pos->gtid);
        }
        if (size)
            buf[o < size ? o : size - 1] = '\0';
        return (int)o;
    case SL_POS_PG:
        return snprintf(buf, size, "%" PRIX64 "/%" PRIX64 ":%" PRIX64 "/%" PRIX64 "#%" PRIu32,
                        pos->seq >> 32, pos->seq & 0xffffffffu,
                        pos->offset >> 32, pos->offset & 0xffffffffu, pos->row);
    case SL_POS_NONE:
    default:
        return snprintf(buf, size, "none");
    }
}

/* Parses an unsigned number of digits in [s, end) in base; 0 on success. */
static int parse_u64(const char *s, const char *end, int base, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s == end)
        return -1;
    for (const char *p = s; p < end; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            return -1;
        if (v > (max - (uint64_t)d) / (uint64_t)base)
            return -1;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* PostgreSQL LSN text "X/X" (each half at most 32 bits) in [s, end). */
static int parse_lsn(const char *s, const char *end, uint64_t *out)
{
    const char *slash = memchr(s, '/', (size_t)(end - s));
    uint64_t hi, lo;
    if (!slash || parse_u64(s, slash, 16, 0xffffffffu, &hi) ||
        parse_u64(slash + 1, end, 16, 0xffffffffu, &lo))
        return -1;
    *out = hi << 32 | lo;
    return 0;
}

/* Sequence number of a binlog file name: the digits after the last '.'. */
static int file_seq(const char *file, size_t len, uint64_t *seq)
{
    const char *dot = NULL;
    for (size_t i = 0; i < len; i++)
        if (file[i] == '.')
            dot = file + i;
    if (!dot)
        return -1;
    return parse_u64(dot + 1, file + len, 10, UINT64_MAX, seq);
}

#define PARSE_FAIL(...) do { \
        if (errstr_size) snprintf(errstr, errstr_size, __VA_ARGS__); \
        return SL_ERR_PARSE; \
    } while (0)

sl_err_t sl_pos_parse(const char *text, sl_pos_t *out,
                      char *errstr, size_t errstr_size)
{
    sl_pos_t p;
    memset(&p, 0, sizeof(p));
    if (!text)
        PARSE_FAIL("position: no text given");
    if (strcmp(text, "none") == 0) {
        *out = p;
        return SL_OK;
    }
    size_t n = strlen(text);
    const char *at = strchr(text, '@');
    const char *end = at ? at : text + n;
    const char *hash = NULL, *colon = NULL;
    for (const char *q = text; q < end; q++)
        if (*q == '#')
            hash = q;
    if (!hash)
        PARSE_FAIL("position \"%s\": no \"#row\" (expected file:offset#row or lsn:lsn#row)", text);
    for (const char *q = text; q < hash; q++)
        if (*q == ':')
            colon = q;
    if (!colon)
        PARSE_FAIL("position \"%s\": no ':' (expected file:offset#row or lsn:lsn#row)", text);
    uint64_t row;
    if (parse_u64(hash + 1, end, 10, UINT32_MAX, &row))
        PARSE_FAIL("position \"%s\": row index \"%.*s\" is not a number below 2^32",
                   text, (int)(end - hash - 1), hash + 1);
    p.row = (uint32_t)row;

    if (memchr(text, '/', (size_t)(colon - text))) {
        if (at)
            PARSE_FAIL("position \"%s\": a PostgreSQL position has no \"@gtid\"", text);
        if (parse_lsn(text, colon, &p.seq))
            PARSE_FAIL("position \"%s\": commit LSN \"%.*s\" is not X/X hex",
                       text, (int)(colon - text), text);
        if (parse_lsn(colon + 1, hash, &p.offset))
            PARSE_FAIL("position \"%s\": change LSN \"%.*s\" is not X/X hex",
                       text, (int)(hash - colon - 1), colon + 1);
        p.kind = SL_POS_PG;
        *out = p;
        return SL_OK;
    }

    size_t flen = (size_t)(colon - text);
    if (flen == 0 || flen >= SL_POS_FILE_MAX)
        PARSE_FAIL("position \"%s\": binlog file name must be 1..%d characters",
                   text, SL_POS_FILE_MAX - 1);
    if (file_seq(text, flen, &p.seq))
        PARSE_FAIL("position \"%s\": binlog file \"%.*s\" has no numeric suffix (like mysql-bin.000003)",
                   text, (int)flen, text);
    if (parse_u64(colon + 1, hash, 10, UINT64_MAX, &p.offset))
        PARSE_FAIL("position \"%s\": offset \"%.*s\" is not a number",
                   text, (int)(hash - colon - 1), colon + 1);
    memcpy(p.file, text, flen);
    p.file[flen] = '\0';
    if (at) {
        size_t glen = strlen(at + 1);
        if (glen == 0 || glen >= SL_POS_GTID_MAX)
            PARSE_FAIL("position \"%s\": gtid must be 1..%d characters", text, SL_POS_GTID_MAX - 1);
        memcpy(p.gtid, at + 1, glen + 1);
    }
    p.kind = SL_POS_MYSQL;
    *out = p;
    return SL_OK;
}

sl_err_t sl_pos_set_mysql(sl_pos_t *pos, const char *file, uint64_t offset,
                          uint32_t row)
{
    size_t len = strlen(file);
    uint64_t seq;
    if (len == 0 || len >= SL_POS_FILE_MAX || file_seq(file, len, &seq))
        return SL_ERR_INVALID;
    memset(pos, 0, sizeof(*pos));
    pos->kind = SL_POS_MYSQL;
    pos->seq = seq;
    pos->offset = offset;
    pos->row = row;
    memcpy(pos->file, file, len + 1);
    return SL_OK;
}

void sl_pos_set_pg(sl_pos_t *pos, uint64_t commit_lsn, uint64_t lsn, uint32_t row)
{
    memset(pos, 0, sizeof(*pos));
    pos->kind = SL_POS_PG;
    pos->seq = commit_lsn;
    pos->offset = lsn;
    pos->row = row;
}
