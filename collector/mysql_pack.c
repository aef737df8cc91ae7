/* shiftlog collector: the inverse of mysql_types.c for two value forms —
 * temporal text and DECIMAL digits as the server prints them, packed into
 * the bytes the binlog holds for the column (Field::pack(): my_time.c
 * *_to_binary, strings/decimal.c decimal2bin). The snapshot reader
 * (snapshot_mysql.c) reads cells in forms that lose nothing and packs them
 * so, then lets col_mysql_value_decode() make the value: one mapping, the
 * binlog's, for streamed and snapshot rows alike. */
#include <string.h>

#include "mysql_decode.h"
#include "sl_value_text.h"

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* "ddd" of at most max digits at *p; -1 when none. */
static int64_t take_num(const char **p, int max)
{
    int64_t v = 0;
    int n = 0;
    while (**p >= '0' && **p <= '9' && n < max) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n ? v : -1;
}

/* ".ffffff" -> microseconds; the text has at most 6 digits */
static int take_frac(const char **p, uint32_t *us)
{
    *us = 0;
    if (**p != '.')
        return 0;
    (*p)++;
    int n = 0;
    while (**p >= '0' && **p <= '9') {
        if (n >= 6)
            return -1;
        *us = *us * 10 + (uint32_t)(**p - '0');
        (*p)++;
        n++;
    }
    for (; n < 6; n++)
        *us *= 10;
    return 0;
}

/* Fraction bytes of TIME2/DATETIME2/TIMESTAMP2 (my_time.c *_to_binary). */
static int pack_frac(uint8_t *p, int64_t frac, unsigned fsp)
{
    switch (fsp) {
    case 1: case 2: p[0] = (uint8_t)(int8_t)(frac / 10000); return 1;
    case 3: case 4: put_be(p, (uint64_t)(uint16_t)(int16_t)(frac / 100), 2); return 2;
    case 5: case 6: put_be(p, (uint64_t)frac, 3); return 3;
    default: return 0;
    }
}

int col_mysql_pack_temporal(const col_mysql_column_t *c, const char *t, uint8_t *out, size_t *n)
{
    const char *p = t;
    unsigned fsp = c->scale;
    uint32_t us = 0;
    if (c->type == COL_MYSQL_T_TIME2) {
        int neg = *p == '-';
        if (neg)
            p++;
        int64_t h = take_num(&p, 4), mi, sec;
        if (h < 0 || *p++ != ':' || (mi = take_num(&p, 2)) < 0 || *p++ != ':' ||
            (sec = take_num(&p, 2)) < 0 || take_frac(&p, &us) || *p)
            return -1;
        int64_t packed = (int64_t)(((uint64_t)h << 12 | (uint64_t)mi << 6 | (uint64_t)sec) << 24) + us;
        if (neg)
            packed = -packed;
        if (fsp >= 5) {
            put_be(out, (uint64_t)(packed + 0x800000000000LL), 6);
            *n = 6;
            return 0;
        }
        /* the server stores floor(packed / 2^24) and the truncated remainder */
        int64_t ip = packed >= 0 ? packed >> 24 : -((-packed + (1 << 24) - 1) >> 24);
        put_be(out, (uint64_t)(ip + 0x800000), 3);
        *n = 3 + (size_t)pack_frac(out + 3, packed % (1 << 24), fsp);
        return 0;
    }
    int64_t y = take_num(&p, 4), mo, d, h = 0, mi = 0, sec = 0;
    if (y < 0 || *p++ != '-' || (mo = take_num(&p, 2)) < 0 || *p++ != '-' ||
        (d = take_num(&p, 2)) < 0)
        return -1;
    if (c->type == COL_MYSQL_T_DATE) {
        if (*p)
            return -1;
        put_le(out, (uint64_t)(d | mo << 5 | y << 9), 3);
        *n = 3;
        return 0;
    }
    if (*p++ != ' ' || (h = take_num(&p, 2)) < 0 || *p++ != ':' ||
        (mi = take_num(&p, 2)) < 0 || *p++ != ':' || (sec = take_num(&p, 2)) < 0 ||
        take_frac(&p, &us) || *p)
        return -1;
    if (c->type == COL_MYSQL_T_DATETIME2) {
        uint64_t ymd = (uint64_t)((y * 13 + mo) << 5 | d), hms = (uint64_t)(h << 12 | mi << 6 | sec);
        put_be(out, (ymd << 17 | hms) + 0x8000000000ULL, 5);
        *n = 5 + (size_t)pack_frac(out + 5, us, fsp);
        return 0;
    }
    /* TIMESTAMP2: seconds since the epoch (the text is UTC); the zero value is 0 */
    int64_t secs = 0;
    if (y || mo || d || h || mi || sec || us)
        secs = sl_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
    if (secs < 0 || secs > 0xFFFFFFFFLL)
        return -1;
    put_be(out, (uint64_t)secs, 4);
    *n = 4 + (size_t)pack_frac(out + 4, us, fsp);
    return 0;
}

static const int dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

int col_mysql_pack_decimal(const col_mysql_column_t *c, const char *t, size_t len, uint8_t *out,
                           size_t *n)
{
    unsigned intg = (unsigned)(c->precision - c->scale), scale = c->scale;
    char digits[160];
    size_t i = 0;
    int neg = len && t[0] == '-';
    if (neg)
        i++;
    size_t istart = i;
    while (i < len && t[i] >= '0' && t[i] <= '9')
        i++;
    size_t ilen = i - istart, fstart = i, flen = 0;
    if (i < len && t[i] == '.') {
        fstart = ++i;
        while (i < len && t[i] >= '0' && t[i] <= '9')
            i++;
        flen = i - fstart;
    }
    while (ilen > intg && t[istart] == '0') {    /* "0.5" in DECIMAL(1,1): no integer digit */
        istart++;
        ilen--;
    }
    if (i != len || ilen > intg || flen > scale || intg + scale > sizeof(digits))
        return -1;
    memset(digits, '0', intg + scale);
    memcpy(digits + (intg - ilen), t + istart, ilen);
    memcpy(digits + intg, t + fstart, flen);
    size_t pos = 0, d = 0;
    unsigned lead = intg % 9;
    uint32_t g;
    if (lead) {
        g = 0;
        for (unsigned k = 0; k < lead; k++)
            g = g * 10 + (uint32_t)(digits[d++] - '0');
        put_be(out + pos, g, dig2bytes[lead]);
        pos += (size_t)dig2bytes[lead];
    }
    for (unsigned grp = 0; grp < intg / 9 + scale / 9; grp++) {
        g = 0;
        for (unsigned k = 0; k < 9; k++)
            g = g * 10 + (uint32_t)(digits[d++] - '0');
        put_be(out + pos, g, 4);
        pos += 4;
    }
    if (scale % 9) {
        g = 0;
        for (unsigned k = 0; k < scale % 9; k++)
            g = g * 10 + (uint32_t)(digits[d++] - '0');
        put_be(out + pos, g, dig2bytes[scale % 9]);
        pos += (size_t)dig2bytes[scale % 9];
    }
    if (neg)
        for (size_t k = 0; k < pos; k++)
            out[k] = (uint8_t)~out[k];
    out[0] ^= 0x80;
    *n = pos;
    return 0;
}
