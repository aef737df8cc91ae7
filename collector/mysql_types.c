/* shiftlog collector: one binlog column value -> sl_value_t, exactly.
 *
 * Storage formats are the server's Field::pack() output (sql/field.cc,
 * sql-common/my_time.c, strings/decimal.c); every read is bounded by
 * `avail`. See mysql_decode.h for the value mapping and
 * docs/mysql-types.md for the reasons. */
#include "mysql_decode.h"
#include "sl_value_text.h"

#include <stdio.h>
#include <string.h>

#define NEED(n) do { \
        if (avail < (size_t)(n)) { \
            snprintf(why, why_size, "value needs %zu bytes, %zu left", (size_t)(n), avail); \
            return SL_ERR_DECODE; \
        } \
    } while (0)

static uint64_t ty_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t ty_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* ---- calendar ---- */

static int valid_date(unsigned y, unsigned m, unsigned d)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return 0;
    unsigned lim = mdays[m - 1];
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        lim = 29;
    return d <= lim;
}

static const uint32_t pow10u[] = {1, 10, 100, 1000, 10000, 100000, 1000000,
                                  10000000, 100000000, 1000000000};

/* ".ffffff" cut to fsp digits (the server prints exactly fsp digits). */
static int put_frac(char *p, uint32_t us, unsigned fsp)
{
    if (!fsp || fsp > 6)
        return 0;
    uint32_t f = us / pow10u[6 - fsp];
    p[0] = '.';
    for (unsigned i = fsp; i > 0; i--) {
        p[i] = (char)('0' + f % 10);
        f /= 10;
    }
    p[fsp + 1] = '\0';
    return (int)fsp + 1;
}

/* Writes g as exactly w decimal digits (zero-padded; g < 10^w) at d: the
 * digit groups of DECIMAL and the fields of a date, without printf's cost
 * per cell (a snapshot formats millions). */
static size_t put_group(char *d, unsigned g, int w)
{
    for (int k = w - 1; k >= 0; k--, g /= 10)
        d[k] = (char)('0' + g % 10);
    return (size_t)w;
}

/* Every DATETIME / TIMESTAMP form ends here: a year past 9999 (the server's
 * range; the legacy 8-byte form can carry 1844674407) is refused, so the
 * microseconds below cannot overflow. */
static sl_err_t put_datetime(sl_record_t *rec, sl_value_t *v, sl_temporal_kind_t kind,
                             unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi,
                             unsigned s, uint32_t us, unsigned fsp, char *why, size_t why_size)
{
    char t[48];
    if (y > 9999) {
        snprintf(why, why_size, "%s value out of range (year %u)",
                 kind == SL_T_TIMESTAMP ? "TIMESTAMP" : "DATETIME", y);
        return SL_ERR_DECODE;
    }
    /* y <= 9999, and the binlog's bit fields keep the others below 100 */
    size_t n = put_group(t, y, 4);
    t[n++] = '-';
    n += put_group(t + n, mo, 2);
    t[n++] = '-';
    n += put_group(t + n, d, 2);
    t[n++] = ' ';
    n += put_group(t + n, h, 2);
    t[n++] = ':';
    n += put_group(t + n, mi, 2);
    t[n++] = ':';
    n += put_group(t + n, s, 2);
    n += (size_t)put_frac(t + n, us, fsp);
    int ok = valid_date(y, mo, d) && h < 24 && mi < 60 && s < 60;
    int64_t micros = 0;
    if (ok)
        micros = ((sl_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s)) * 1000000 + us;
    return sl_value_set_temporal(rec, v, kind, t, n, ok, micros, (int)fsp, 0, 0);
}

static sl_err_t put_time(sl_record_t *rec, sl_value_t *v, int neg, unsigned h, unsigned mi,
                         unsigned s, uint32_t us, unsigned fsp)
{
    char t[48];
    int n = sprintf(t, "%s%02u:%02u:%02u", neg ? "-" : "", h, mi, s);
    n += put_frac(t + n, us, fsp);
    int64_t micros = ((int64_t)h * 3600 + mi * 60 + s) * 1000000 + us;
    return sl_value_set_temporal(rec, v, SL_T_TIME, t, (size_t)n, 1, neg ? -micros : micros,
                                 (int)fsp, 0, 0);
}

/* Fractional part of TIME2/DATETIME2/TIMESTAMP2: (fsp + 1) / 2 bytes. */
static int frac_bytes(unsigned fsp)
{
    return (int)(fsp + 1) / 2;
}

/* ---- DECIMAL (strings/decimal.c binary format) ---- */

static const int dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

static size_t decimal_size(unsigned prec, unsigned scale)
{
    unsigned intg = prec - scale;
    return (intg / 9) * 4 + (size_t)dig2bytes[intg % 9] + (scale / 9) * 4 +
           (size_t)dig2bytes[scale % 9];
}

static sl_err_t decode_decimal(const col_mysql_column_t *c, const uint8_t *p,
                               sl_record_t *rec, sl_value_t *v, char *why, size_t why_size)
{
    unsigned intg = (unsigned)(c->precision - c->scale), scale = c->scale;
    size_t size = decimal_size(c->precision, c->scale), pos = 0;
    uint8_t b[40];
    char digits[96], out[100];
    size_t nd = 0;
    memcpy(b, p, size);
    int neg = !(b[0] & 0x80);
    b[0] ^= 0x80;
    if (neg)
        for (size_t i = 0; i < size; i++)
            b[i] ^= 0xFF;

    /* integer part: leading partial group, then groups of 9 digits */
    unsigned groups[2 + 8];
    int widths[2 + 8], ng = 0;
    if (intg % 9) {
        int nb = dig2bytes[intg % 9];
        groups[ng] = (unsigned)ty_be(b + pos, nb);
        widths[ng++] = (int)(intg % 9);
        pos += (size_t)nb;
    }
    for (unsigned i = 0; i < intg / 9; i++) {
        groups[ng] = (unsigned)ty_be(b + pos, 4);
        widths[ng++] = 9;
        pos += 4;
    }
    for (int i = 0; i < ng; i++) {
        if (groups[i] >= pow10u[widths[i]])
            goto bad;
        nd += put_group(digits + nd, groups[i], widths[i]);
    }
    /* fraction: groups of 9, then a trailing partial group */
    size_t fstart = nd;
    for (unsigned i = 0; i < scale / 9; i++) {
        unsigned g = (unsigned)ty_be(b + pos, 4);
        pos += 4;
        if (g >= pow10u[9])
            goto bad;
        nd += put_group(digits + nd, g, 9);
    }
    if (scale % 9) {
        int nb = dig2bytes[scale % 9];
        unsigned g = (unsigned)ty_be(b + pos, nb);
        if (g >= pow10u[scale % 9])
            goto bad;
        nd += put_group(digits + nd, g, (int)(scale % 9));
    }

    size_t i = 0, n = 0;
    while (i < fstart && digits[i] == '0')
        i++;
    int zero = 1;
    for (size_t k = i; k < nd; k++)
        if (digits[k] != '0')
            zero = 0;
    if (neg && !zero)      /* the server never prints -0 */
        out[n++] = '-';
    if (i == fstart)
        out[n++] = '0';
    memcpy(out + n, digits + i, fstart - i);
    n += fstart - i;
    if (scale) {
        out[n++] = '.';
        memcpy(out + n, digits + fstart, nd - fstart);
        n += nd - fstart;
    }
    if (sl_value_set_text(rec, v, SL_VAL_DECIMAL, out, n))
        return SL_ERR_NOMEM;
    return SL_OK;
bad:
    snprintf(why, why_size, "DECIMAL(%u,%u) digit group out of range", c->precision, c->scale);
    return SL_ERR_DECODE;
}

/* ---- strings ---- */

static sl_err_t put_text(const col_mysql_column_t *c, const uint8_t *s, size_t n,
                         sl_record_t *rec, sl_value_t *v)
{
    sl_val_kind_t kind = col_mysql_charset_kind(c->charset);
    const char *cs = col_mysql_charset_name(c->charset, NULL);
    char *d;
    if (kind == SL_VAL_STRING && cs && strcmp(cs, "latin1") == 0) {
        if (!(d = sl_record_alloc(rec, n * 3 + 1)))
            return SL_ERR_NOMEM;
        v->len = col_mysql_latin1_to_utf8(s, n, d);
    } else if (kind == SL_VAL_BYTES && c->real_type == COL_MYSQL_T_STRING &&
               n < c->length && (c->charset == 63 || c->charset == 0)) {
        /* BINARY(n): the binlog drops trailing 0x00 bytes, the column has them */
        if (!(d = sl_record_alloc(rec, c->length + 1)))
            return SL_ERR_NOMEM;
        memcpy(d, s, n);
        v->len = c->length;
    } else {
        if (!(d = sl_record_memdup(rec, s, n)))
            return SL_ERR_NOMEM;
        v->len = n;
    }
    v->kind = kind;
    v->data = d;
    return SL_OK;
}

static sl_err_t put_hinted(const col_mysql_column_t *c, const uint8_t *s, size_t n,
                           sl_record_t *rec, sl_value_t *v)
{
    uint8_t b[16] = {0};
    char t[64];
    size_t tl;
    const char *type;
    memcpy(b, s, n < sizeof(b) ? n : sizeof(b));
    switch (c->hint) {
    case COL_MYSQL_HINT_INET6:
        tl = col_mysql_inet6_text(b, t);
        type = "inet6";
        break;
    case COL_MYSQL_HINT_UUID:
        tl = col_mysql_uuid_text(b, t);
        type = "uuid";
        break;
    default:
        tl = (size_t)sprintf(t, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
        type = "inet4";
        break;
    }
    if (sl_value_set_text(rec, v, SL_VAL_TYPED, t, tl))
        return SL_ERR_NOMEM;
    v->u.typed.type = type;   /* static string: valid for the record's life */
    return SL_OK;
}

static sl_err_t put_set(const col_mysql_column_t *c, uint64_t bits, sl_record_t *rec,
                        sl_value_t *v, char *why, size_t why_size)
{
    size_t len = 0;
    uint32_t n = 0;
    if (c->nlabels < 64 && (bits >> c->nlabels)) {
        snprintf(why, why_size, "SET bitmap %#llx has bits beyond its %u labels",
                 (unsigned long long)bits, c->nlabels);
        return SL_ERR_DECODE;
    }
    for (uint32_t k = 0; k < c->nlabels && k < 64; k++)
        if (bits >> k & 1)
            len += c->label_lens[k] + 1;
    char *d = sl_record_alloc(rec, len + 1);
    if (!d)
        return SL_ERR_NOMEM;
    len = 0;
    for (uint32_t k = 0; k < c->nlabels && k < 64; k++)
        if (bits >> k & 1) {
            memcpy(d + len, c->labels[k], c->label_lens[k]);
            len += c->label_lens[k] + 1;
            n++;
        }
    v->kind = SL_VAL_SET;
    v->data = d;
    v->len = len;
    v->n = n;
    return SL_OK;
}

/* MariaDB 5.3's high-resolution TIME/DATETIME (tables created with
 * mysql56_temporal_format=OFF): the binlog says TIME/DATETIME with no
 * metadata, the fsp comes from a hint (col_mysql_tablemap_set_fsp).
 * Big-endian numbers of 10^-fsp seconds (sql/field.cc Field_*_hires). */
static sl_err_t legacy_hires(const col_mysql_column_t *c, const uint8_t *p, size_t avail,
                             size_t *used, sl_record_t *rec, sl_value_t *v,
                             char *why, size_t why_size)
{
    static const int time_bytes[] = {3, 4, 4, 5, 5, 5, 6};
    static const int datetime_bytes[] = {5, 6, 6, 7, 7, 7, 8};
    unsigned fsp = c->scale;
    int nb = c->type == COL_MYSQL_T_TIME ? time_bytes[fsp] : datetime_bytes[fsp];
    NEED(nb);
    *used = (size_t)nb;
    if (!rec)
        return SL_OK;
    uint64_t raw = ty_be(p, nb), scale = pow10u[6 - fsp];
    if (c->type == COL_MYSQL_T_TIME) {
        /* zero point: (TIME_MAX_VALUE_SECONDS + 1) s in 10^-fsp units */
        int64_t zero = (int64_t)(3020400ULL * 1000000ULL / scale);
        int64_t val = (int64_t)raw - zero;
        int neg = val < 0;
        uint64_t a = (uint64_t)(neg ? -val : val) * scale;   /* microseconds */
        uint64_t secs = a / 1000000;
        return put_time(rec, v, neg, (unsigned)(secs / 3600), secs / 60 % 60, secs % 60,
                        (uint32_t)(a % 1000000), fsp);
    }
    /* ((((((y*13+m)*32+d)*24+h)*60+mi)*60+s)*10^6+us) / 10^(6-fsp) */
    uint64_t a = raw * scale;
    uint32_t us = (uint32_t)(a % 1000000);
    uint64_t t = a / 1000000;
    unsigned s = (unsigned)(t % 60), mi = (unsigned)(t / 60 % 60), h = (unsigned)(t / 3600 % 24);
    t /= 86400;
    unsigned d = (unsigned)(t % 32), m = (unsigned)(t / 32 % 13), y = (unsigned)(t / 32 / 13);
    return put_datetime(rec, v, SL_T_DATETIME, y, m, d, h, mi, s, us, fsp, why, why_size);
}

/* ---- the dispatcher ---- */

/* One switch over the binlog's type codes, long on purpose (~300 lines):
 * each case is the wire layout of one type — its size, then its value —
 * read top to bottom next to its neighbours, as the server's own
 * Field::unpack / log_event_print_value are. The work that is more than a
 * layout is already in named helpers (decode_decimal, legacy_hires,
 * put_datetime, put_time, put_set, put_hinted, put_text); splitting the
 * cases further would only scatter the table of layouts. */
sl_err_t col_mysql_value_decode(const col_mysql_column_t *c, const uint8_t *p, size_t avail,
                                size_t *used, sl_record_t *rec, sl_value_t *v,
                                char *why, size_t why_size)
{
    size_t n = 0;
    uint64_t u;
    switch (c->type) {
    case COL_MYSQL_T_TINY: case COL_MYSQL_T_SHORT: case COL_MYSQL_T_INT24:
    case COL_MYSQL_T_LONG: case COL_MYSQL_T_LONGLONG:
    {
        static const int size[] = {0, 1, 2, 4, 0, 0, 0, 0, 8, 3};  /* by type code */
        int sz = size[c->type];
        NEED(sz);
        *used = (size_t)sz;
        if (!rec)
            return SL_OK;
        u = ty_le(p, sz);
        if (c->is_unsigned) {
            v->kind = c->type == COL_MYSQL_T_LONGLONG ? SL_VAL_UINT : SL_VAL_INT;
            if (v->kind == SL_VAL_UINT)
                v->u.u = u;
            else
                v->u.i = (int64_t)u;
        } else {
            v->kind = SL_VAL_INT;
            if (sz < 8 && (u >> (sz * 8 - 1)) & 1)  /* sign-extend */
                u |= ~(uint64_t)0 << (sz * 8);
            v->u.i = (int64_t)u;
        }
        return SL_OK;
    }
    case COL_MYSQL_T_YEAR:
        NEED(1);
        *used = 1;
        if (rec) {
            v->kind = SL_VAL_INT;
            v->u.i = p[0] ? 1900 + p[0] : 0;
        }
        return SL_OK;
    case COL_MYSQL_T_FLOAT:
    {
        NEED(4);
        *used = 4;
        if (rec) {
            uint32_t w = (uint32_t)ty_le(p, 4);
            v->kind = SL_VAL_FLOAT;
            memcpy(&v->u.f, &w, 4);
        }
        return SL_OK;
    }
    case COL_MYSQL_T_DOUBLE:
        NEED(8);
        *used = 8;
        if (rec) {
            u = ty_le(p, 8);
            v->kind = SL_VAL_DOUBLE;
            memcpy(&v->u.d, &u, 8);
        }
        return SL_OK;
    case COL_MYSQL_T_NEWDECIMAL:
        n = decimal_size(c->precision, c->scale);
        NEED(n);
        *used = n;
        return rec ? decode_decimal(c, p, rec, v, why, why_size) : SL_OK;
    case COL_MYSQL_T_BIT:
        n = (c->length + 7) / 8;
        NEED(n);
        *used = n;
        if (!rec)
            return SL_OK;
        if (sl_value_set_text(rec, v, SL_VAL_BIT, p, n))
            return SL_ERR_NOMEM;
        v->u.bit.nbits = c->length;
        return SL_OK;
    case COL_MYSQL_T_NULL:
        *used = 0;
        if (rec)
            v->kind = SL_VAL_NULL;
        return SL_OK;

    /* ---- temporal ---- */
    case COL_MYSQL_T_DATE: case COL_MYSQL_T_NEWDATE:
    {
        NEED(3);
        *used = 3;
        if (!rec)
            return SL_OK;
        uint32_t w = (uint32_t)ty_le(p, 3);
        unsigned d = w & 31, m = (w >> 5) & 15, y = w >> 9;
        char t[16];
        int tl = 10;                /* y: 15 bits, past 9999 printed as the server does */
        if (y <= 9999) {
            put_group(t, y, 4);
            t[4] = '-';
            put_group(t + 5, m, 2);
            t[7] = '-';
            put_group(t + 8, d, 2);
        } else {
            tl = sprintf(t, "%04u-%02u-%02u", y, m, d);
        }
        int ok = valid_date(y, m, d);
        return sl_value_set_temporal(rec, v, SL_T_DATE, t, (size_t)tl, ok,
                                     ok ? sl_days_from_civil(y, m, d) : 0, 0, 0, 0);
    }
    case COL_MYSQL_T_TIME:      /* pre-5.6: 3 bytes, signed HHMMSS */
        if (c->scale)
            return legacy_hires(c, p, avail, used, rec, v, why, why_size);
    {
        NEED(3);
        *used = 3;
        if (!rec)
            return SL_OK;
        int32_t w = (int32_t)ty_le(p, 3);
        if (w & 0x800000)
            w -= 0x1000000;
        int neg = w < 0;
        uint32_t a = (uint32_t)(neg ? -w : w);
        return put_time(rec, v, neg, a / 10000, a / 100 % 100, a % 100, 0, 0);
    }
    case COL_MYSQL_T_DATETIME:  /* pre-5.6: 8 bytes, YYYYMMDDhhmmss */
        if (c->scale)
            return legacy_hires(c, p, avail, used, rec, v, why, why_size);
    {
        NEED(8);
        *used = 8;
        if (!rec)
            return SL_OK;
        u = ty_le(p, 8);
        uint64_t dt = u / 1000000, tm = u % 1000000;
        return put_datetime(rec, v, SL_T_DATETIME, (unsigned)(dt / 10000), dt / 100 % 100,
                            dt % 100, (unsigned)(tm / 10000), tm / 100 % 100, tm % 100, 0, 0,
                            why, why_size);
    }
    case COL_MYSQL_T_TIMESTAMP:   /* pre-5.6: 4 bytes, seconds */
    case COL_MYSQL_T_TIMESTAMP2:  /* 4 bytes big-endian seconds + fraction */
    {
        /* MariaDB's hires TIMESTAMP (legacy type with fsp > 0) is big-endian
         * seconds + fsp digits in (fsp + 1) / 2 bytes; TIMESTAMP2 keeps
         * hundredths for fsp 1..2 and 1/10000 s for 3..4. */
        unsigned fsp = c->scale;
        int legacy = c->type == COL_MYSQL_T_TIMESTAMP;
        n = 4 + (size_t)frac_bytes(fsp);
        NEED(n);
        *used = n;
        if (!rec)
            return SL_OK;
        uint64_t secs = legacy && !fsp ? ty_le(p, 4) : ty_be(p, 4);
        uint32_t us = (uint32_t)ty_be(p + 4, frac_bytes(fsp));
        if (legacy)
            us *= pow10u[6 - fsp];
        else
            us *= fsp <= 2 ? 10000 : fsp <= 4 ? 100 : 1;
        if (us > 999999) {
            snprintf(why, why_size, "TIMESTAMP fraction %u out of range", us);
            return SL_ERR_DECODE;
        }
        if (secs == 0 && us == 0) {
            char t[40];
            int tl = sprintf(t, "0000-00-00 00:00:00");
            tl += put_frac(t + tl, 0, fsp);
            return sl_value_set_temporal(rec, v, SL_T_TIMESTAMP, t, (size_t)tl, 0, 0, (int)fsp,
                                         0, 0);
        }
        int64_t y;
        unsigned mo, d;
        sl_civil_from_days((int64_t)(secs / 86400), &y, &mo, &d);
        unsigned sod = (unsigned)(secs % 86400);
        return put_datetime(rec, v, SL_T_TIMESTAMP, (unsigned)y, mo, d, sod / 3600, sod / 60 % 60,
                            sod % 60, us, fsp, why, why_size);
    }
    case COL_MYSQL_T_DATETIME2:
    {
        unsigned fsp = c->scale;
        n = 5 + (size_t)frac_bytes(fsp);
        NEED(n);
        *used = n;
        if (!rec)
            return SL_OK;
        int64_t ip = (int64_t)ty_be(p, 5) - 0x8000000000LL;
        uint32_t us = (uint32_t)ty_be(p + 5, frac_bytes(fsp));
        us *= fsp <= 2 ? 10000 : fsp <= 4 ? 100 : 1;
        if (ip < 0 || us > 999999) {
            snprintf(why, why_size, "DATETIME value out of range");
            return SL_ERR_DECODE;
        }
        uint64_t ymd = (uint64_t)ip >> 17, ym = ymd >> 5, hms = (uint64_t)ip % (1 << 17);
        return put_datetime(rec, v, SL_T_DATETIME, (unsigned)(ym / 13), ym % 13, ymd % 32,
                            (unsigned)(hms >> 12), (hms >> 6) % 64, hms % 64, us, fsp, why,
                            why_size);
    }
    case COL_MYSQL_T_TIME2:
    {
        unsigned fsp = c->scale;
        n = 3 + (size_t)frac_bytes(fsp);
        NEED(n);
        *used = n;
        if (!rec)
            return SL_OK;
        /* the server's my_time_packed_from_binary(): intpart << 24 | frac */
        int64_t ip = (int64_t)ty_be(p, 3) - 0x800000, packed;
        switch (fsp) {
        case 0:
            packed = ip * (1 << 24);
            break;
        case 1: case 2:
        {
            int64_t fr = p[3];
            if (ip < 0 && fr) {
                ip++;
                fr -= 0x100;
            }
            packed = ip * (1 << 24) + fr * 10000;
            break;
        }
        case 3: case 4:
        {
            int64_t fr = (int64_t)ty_be(p + 3, 2);
            if (ip < 0 && fr) {
                ip++;
                fr -= 0x10000;
            }
            packed = ip * (1 << 24) + fr * 100;
            break;
        }
        default:
            packed = (int64_t)ty_be(p, 6) - 0x800000000000LL;
            break;
        }
        int neg = packed < 0;
        uint64_t a = (uint64_t)(neg ? -packed : packed);
        uint64_t hms = a >> 24, us = a % (1 << 24);
        if (us > 999999) {
            snprintf(why, why_size, "TIME fraction out of range");
            return SL_ERR_DECODE;
        }
        return put_time(rec, v, neg, (unsigned)((hms >> 12) % (1 << 10)), (hms >> 6) % 64,
                        hms % 64, (uint32_t)us, fsp);
    }

    /* ---- strings ---- */
    case COL_MYSQL_T_VARCHAR: case COL_MYSQL_T_VAR_STRING: case COL_MYSQL_T_STRING:
    case COL_MYSQL_T_ENUM: case COL_MYSQL_T_SET:
    {
        if (c->real_type == COL_MYSQL_T_ENUM || c->real_type == COL_MYSQL_T_SET) {
            n = c->length;
            NEED(n);
            *used = n;
            if (!rec)
                return SL_OK;
            u = ty_le(p, (int)n);
            if (!c->labels) {        /* binlog_row_metadata=MINIMAL: no labels */
                v->kind = c->real_type == COL_MYSQL_T_ENUM ? SL_VAL_INT : SL_VAL_UINT;
                v->u.u = u;
                return SL_OK;
            }
            if (c->real_type == COL_MYSQL_T_SET)
                return put_set(c, u, rec, v, why, why_size);
            if (u > c->nlabels) {
                snprintf(why, why_size, "ENUM index %llu beyond its %u labels",
                         (unsigned long long)u, c->nlabels);
                return SL_ERR_DECODE;
            }
            if (u == 0)  /* the invalid value '' */
                return sl_value_set_text(rec, v, SL_VAL_STRING, "", 0) ? SL_ERR_NOMEM : SL_OK;
            return sl_value_set_text(rec, v, SL_VAL_STRING, c->labels[u - 1],
                                     c->label_lens[u - 1]) ? SL_ERR_NOMEM : SL_OK;
        }
        int lb = c->length > 255 ? 2 : 1;
        NEED(lb);
        n = (size_t)ty_le(p, lb);
        if (n > c->length) {
            snprintf(why, why_size, "string length %zu exceeds the column's %u bytes",
                     n, c->length);
            return SL_ERR_DECODE;
        }
        NEED((size_t)lb + n);
        *used = (size_t)lb + n;
        if (!rec)
            return SL_OK;
        if (c->hint != COL_MYSQL_HINT_NONE)
            return put_hinted(c, p + lb, n, rec, v);
        return put_text(c, p + lb, n, rec, v);
    }
    case COL_MYSQL_T_BLOB: case COL_MYSQL_T_TINY_BLOB: case COL_MYSQL_T_MEDIUM_BLOB:
    case COL_MYSQL_T_LONG_BLOB: case COL_MYSQL_T_GEOMETRY:
    {
        int lb = (int)c->length;
        NEED(lb);
        n = (size_t)ty_le(p, lb);
        NEED((size_t)lb + n);
        *used = (size_t)lb + n;
        if (!rec)
            return SL_OK;
        if (c->type == COL_MYSQL_T_GEOMETRY) {   /* SRID (4 bytes LE) + WKB, kept whole */
            if (sl_value_set_text(rec, v, SL_VAL_BYTES, p + lb, n))
                return SL_ERR_NOMEM;
            return SL_OK;
        }
        return put_text(c, p + lb, n, rec, v);
    }
    case COL_MYSQL_T_JSON:
        snprintf(why, why_size, "MySQL binary JSON is not supported yet (MariaDB writes "
                 "JSON as LONGTEXT)");
        return SL_ERR_UNSUPPORTED;
    case COL_MYSQL_T_VARCHAR_COMPRESSED: case COL_MYSQL_T_BLOB_COMPRESSED:
        snprintf(why, why_size, "MariaDB COMPRESSED columns are not supported");
        return SL_ERR_UNSUPPORTED;
    default:
        snprintf(why, why_size, "column type %u is not supported", c->type);
        return SL_ERR_UNSUPPORTED;
    }
}

/* ---- names and kinds ---- */

sl_val_kind_t col_mysql_column_kind(const col_mysql_column_t *c)
{
    switch (c->type) {
    case COL_MYSQL_T_TINY: case COL_MYSQL_T_SHORT: case COL_MYSQL_T_INT24:
    case COL_MYSQL_T_LONG: case COL_MYSQL_T_YEAR:
        return SL_VAL_INT;
    case COL_MYSQL_T_LONGLONG:
        return c->is_unsigned ? SL_VAL_UINT : SL_VAL_INT;
    case COL_MYSQL_T_FLOAT:      return SL_VAL_FLOAT;
    case COL_MYSQL_T_DOUBLE:     return SL_VAL_DOUBLE;
    case COL_MYSQL_T_NEWDECIMAL: return SL_VAL_DECIMAL;
    case COL_MYSQL_T_BIT:        return SL_VAL_BIT;
    case COL_MYSQL_T_NULL:       return SL_VAL_NULL;
    case COL_MYSQL_T_DATE: case COL_MYSQL_T_NEWDATE: case COL_MYSQL_T_TIME:
    case COL_MYSQL_T_DATETIME: case COL_MYSQL_T_TIMESTAMP: case COL_MYSQL_T_TIMESTAMP2:
    case COL_MYSQL_T_DATETIME2: case COL_MYSQL_T_TIME2:
        return SL_VAL_TEMPORAL;
    case COL_MYSQL_T_GEOMETRY:   return SL_VAL_BYTES;
    case COL_MYSQL_T_JSON:       return SL_VAL_STRING;
    default:
        break;
    }
    if (c->real_type == COL_MYSQL_T_ENUM)
        return c->labels ? SL_VAL_STRING : SL_VAL_INT;
    if (c->real_type == COL_MYSQL_T_SET)
        return c->labels ? SL_VAL_SET : SL_VAL_UINT;
    if (c->hint == COL_MYSQL_HINT_JSON)
        return SL_VAL_STRING;
    if (c->hint != COL_MYSQL_HINT_NONE)
        return SL_VAL_TYPED;
    return col_mysql_charset_kind(c->charset);
}

static sl_err_t put_labels(const col_mysql_column_t *c, const char *kw, sl_buf_t *out)
{
    sl_err_t err = sl_buf_puts(out, kw);
    for (uint32_t k = 0; !err && k < c->nlabels; k++) {
        err = sl_buf_puts(out, k ? ",'" : "('");
        for (uint32_t i = 0; !err && i < c->label_lens[k]; i++)
            err = c->labels[k][i] == '\'' ? sl_buf_puts(out, "''")
                                           : sl_buf_putc(out, c->labels[k][i]);
        if (!err)
            err = sl_buf_putc(out, '\'');
    }
    if (!err && c->labels)
        err = sl_buf_putc(out, ')');
    return err;
}

sl_err_t col_mysql_source_type(const col_mysql_column_t *c, sl_buf_t *out)
{
    static const char *const geom[] = {"geometry", "point", "linestring", "polygon",
                                       "multipoint", "multilinestring", "multipolygon",
                                       "geometrycollection"};
    const char *uns = c->is_unsigned ? " unsigned" : "";
    int mb = 1;
    int binary = c->charset == 63 || c->charset == 0;
    col_mysql_charset_name(c->charset, &mb);
    switch (c->type) {
    case COL_MYSQL_T_TINY: case COL_MYSQL_T_SHORT: case COL_MYSQL_T_INT24:
    case COL_MYSQL_T_LONG: case COL_MYSQL_T_LONGLONG:
    {
        const char *nm = c->type == COL_MYSQL_T_TINY ? "tinyint" :
                         c->type == COL_MYSQL_T_SHORT ? "smallint" :
                         c->type == COL_MYSQL_T_INT24 ? "mediumint" :
                         c->type == COL_MYSQL_T_LONG ? "int" : "bigint";
        if (c->display_width)   /* as the server spells it: "int(5) unsigned zerofill" */
            return sl_buf_printf(out, "%s(%u)%s%s", nm, c->display_width, uns,
                                 c->zerofill ? " zerofill" : "");
        return sl_buf_printf(out, "%s%s", nm, uns);
    }
    case COL_MYSQL_T_FLOAT:    return sl_buf_printf(out, "float%s", uns);
    case COL_MYSQL_T_DOUBLE:   return sl_buf_printf(out, "double%s", uns);
    case COL_MYSQL_T_NEWDECIMAL:
        return sl_buf_printf(out, "decimal(%u,%u)%s", c->precision, c->scale, uns);
    case COL_MYSQL_T_YEAR:     return sl_buf_puts(out, "year");
    case COL_MYSQL_T_NULL:     return sl_buf_puts(out, "null");
    case COL_MYSQL_T_BIT:      return sl_buf_printf(out, "bit(%u)", c->length);
    case COL_MYSQL_T_DATE: case COL_MYSQL_T_NEWDATE: return sl_buf_puts(out, "date");
    case COL_MYSQL_T_TIME:      return sl_buf_puts(out, "time");
    case COL_MYSQL_T_DATETIME:  return sl_buf_puts(out, "datetime");
    case COL_MYSQL_T_TIMESTAMP: return sl_buf_puts(out, "timestamp");
    case COL_MYSQL_T_TIME2: case COL_MYSQL_T_DATETIME2: case COL_MYSQL_T_TIMESTAMP2:
    {
        const char *nm = c->type == COL_MYSQL_T_TIME2 ? "time" :
                         c->type == COL_MYSQL_T_DATETIME2 ? "datetime" : "timestamp";
        return c->scale ? sl_buf_printf(out, "%s(%u)", nm, c->scale) : sl_buf_puts(out, nm);
    }
    case COL_MYSQL_T_JSON:     return sl_buf_puts(out, "json");
    case COL_MYSQL_T_GEOMETRY:
        return sl_buf_puts(out, c->geometry_type < 8 ? geom[c->geometry_type] : "geometry");
    case COL_MYSQL_T_BLOB: case COL_MYSQL_T_TINY_BLOB: case COL_MYSQL_T_MEDIUM_BLOB:
    case COL_MYSQL_T_LONG_BLOB:
    {
        static const char *const sz[] = {"", "tiny", "", "medium", "long"};
        if (c->hint == COL_MYSQL_HINT_JSON)
            return sl_buf_puts(out, "json");
        return sl_buf_printf(out, "%s%s", sz[c->length <= 4 ? c->length : 0],
                             binary ? "blob" : "text");
    }
    case COL_MYSQL_T_VARCHAR: case COL_MYSQL_T_VAR_STRING:
        return sl_buf_printf(out, "%s(%u)", binary ? "varbinary" : "varchar",
                             c->length / (uint32_t)mb);
    default:
        break;
    }
    if (c->real_type == COL_MYSQL_T_ENUM)
        return put_labels(c, "enum", out);
    if (c->real_type == COL_MYSQL_T_SET)
        return put_labels(c, "set", out);
    if (c->real_type == COL_MYSQL_T_STRING) {
        if (c->hint == COL_MYSQL_HINT_INET6) return sl_buf_puts(out, "inet6");
        if (c->hint == COL_MYSQL_HINT_INET4) return sl_buf_puts(out, "inet4");
        if (c->hint == COL_MYSQL_HINT_UUID)  return sl_buf_puts(out, "uuid");
        return sl_buf_printf(out, "%s(%u)", binary ? "binary" : "char",
                             c->length / (uint32_t)mb);
    }
    return sl_buf_printf(out, "type#%u", c->type);
}
