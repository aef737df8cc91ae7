/* shiftlog collector, PostgreSQL: column text -> lossless typed values.
 *
 * pgoutput sends every value in its type's text output. The collector's
 * replication session sets DateStyle=ISO, IntervalStyle=postgres,
 * TimeZone=UTC, extra_float_digits=3, bytea_output=hex, lc_monetary=C and
 * client_encoding=UTF8 (pg_source.c), so the text is exact and has one
 * form; this file turns it into the branch schemas/README.md names for the
 * type, and keeps the text as Typed when a type has no binary branch. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_decode.h"
#include "sl_value_text.h"

typedef struct pg_builtin_s {
    uint32_t    oid;
    pg_conv_t   conv;
    const char *name;
} pg_builtin_t;

/* Built-in type OIDs are fixed (pg_type.dat); the rest come from the catalog. */
static const pg_builtin_t pg_builtins[] = {
    {16, PG_CONV_BOOL, "bool"},           {17, PG_CONV_BYTEA, "bytea"},
    {18, PG_CONV_STRING, "char"},         {19, PG_CONV_STRING, "name"},
    {20, PG_CONV_INT, "int8"},            {21, PG_CONV_INT, "int2"},
    {23, PG_CONV_INT, "int4"},            {25, PG_CONV_STRING, "text"},
    {26, PG_CONV_INT, "oid"},             {114, PG_CONV_STRING, "json"},
    {142, PG_CONV_TYPED, "xml"},          {600, PG_CONV_TYPED, "point"},
    {601, PG_CONV_TYPED, "lseg"},         {602, PG_CONV_TYPED, "path"},
    {603, PG_CONV_TYPED, "box"},          {604, PG_CONV_TYPED, "polygon"},
    {628, PG_CONV_TYPED, "line"},         {650, PG_CONV_TYPED, "cidr"},
    {700, PG_CONV_FLOAT4, "float4"},      {701, PG_CONV_FLOAT8, "float8"},
    {718, PG_CONV_TYPED, "circle"},       {774, PG_CONV_TYPED, "macaddr8"},
    {790, PG_CONV_TYPED, "money"},        {829, PG_CONV_TYPED, "macaddr"},
    {869, PG_CONV_TYPED, "inet"},         {1042, PG_CONV_STRING, "bpchar"},
    {1043, PG_CONV_STRING, "varchar"},    {1082, PG_CONV_DATE, "date"},
    {1083, PG_CONV_TIME, "time"},         {1114, PG_CONV_TIMESTAMP, "timestamp"},
    {1184, PG_CONV_TIMESTAMPTZ, "timestamptz"}, {1186, PG_CONV_INTERVAL, "interval"},
    {1266, PG_CONV_TIMETZ, "timetz"},     {1560, PG_CONV_BIT, "bit"},
    {1562, PG_CONV_BIT, "varbit"},        {1700, PG_CONV_DECIMAL, "numeric"},
    {2950, PG_CONV_TYPED, "uuid"},        {3220, PG_CONV_TYPED, "pg_lsn"},
    {3614, PG_CONV_TYPED, "tsvector"},    {3615, PG_CONV_TYPED, "tsquery"},
    {3802, PG_CONV_STRING, "jsonb"},
};

#define PG_TYPES_BUCKETS 256

typedef struct pg_tentry_s {
    pg_type_t           t;
    char               *name_own;
    int                 builtin;
    struct pg_tentry_s *next;
} pg_tentry_t;

struct pg_types_s {
    pg_tentry_t        *b[PG_TYPES_BUCKETS];
    pg_type_resolver_fn resolver;
    void               *ctx;
    int                 depth;
};

static void conv_kind(pg_type_t *t)
{
    t->tkind = SL_T_DATE;
    switch (t->conv) {
    case PG_CONV_INT: t->kind = SL_VAL_INT; break;
    case PG_CONV_DECIMAL: t->kind = SL_VAL_DECIMAL; break;
    case PG_CONV_FLOAT4: t->kind = SL_VAL_FLOAT; break;
    case PG_CONV_FLOAT8: t->kind = SL_VAL_DOUBLE; break;
    case PG_CONV_BOOL: t->kind = SL_VAL_BOOL; break;
    case PG_CONV_STRING: t->kind = SL_VAL_STRING; break;
    case PG_CONV_BYTEA: t->kind = SL_VAL_BYTES; break;
    case PG_CONV_BIT: t->kind = SL_VAL_BIT; break;
    case PG_CONV_DATE: t->kind = SL_VAL_TEMPORAL; t->tkind = SL_T_DATE; break;
    case PG_CONV_TIME: t->kind = SL_VAL_TEMPORAL; t->tkind = SL_T_TIME; break;
    case PG_CONV_TIMETZ: t->kind = SL_VAL_TEMPORAL; t->tkind = SL_T_TIMETZ; break;
    case PG_CONV_TIMESTAMP: t->kind = SL_VAL_TEMPORAL; t->tkind = SL_T_DATETIME; break;
    case PG_CONV_TIMESTAMPTZ: t->kind = SL_VAL_TEMPORAL; t->tkind = SL_T_TIMESTAMPTZ; break;
    case PG_CONV_INTERVAL: t->kind = SL_VAL_TEMPORAL; t->tkind = SL_T_INTERVAL; break;
    default: t->kind = SL_VAL_TYPED; break;
    }
}

sl_err_t pg_types_new(pg_types_t **out, pg_type_resolver_fn resolver, void *ctx)
{
    pg_types_t *t = calloc(1, sizeof(*t));
    if (!t)
        return SL_ERR_NOMEM;
    t->resolver = resolver;
    t->ctx = ctx;
    *out = t;
    return SL_OK;
}

static void entry_free(pg_tentry_t *e)
{
    for (uint32_t i = 0; i < e->t.nlabels; i++)
        free(e->t.labels[i]);
    free(e->t.labels);
    free(e->name_own);
    free(e);
}

void pg_types_destroy(pg_types_t *t)
{
    if (!t)
        return;
    for (int i = 0; i < PG_TYPES_BUCKETS; i++)
        for (pg_tentry_t *e = t->b[i], *n; e; e = n) {
            n = e->next;
            entry_free(e);
        }
    free(t);
}

static int same_type(const pg_type_t *a, const pg_type_t *b)
{
    if (a->conv != b->conv || strcmp(a->name, b->name) || a->nlabels != b->nlabels)
        return 0;
    for (uint32_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i], b->labels[i]))
            return 0;
    return 1;
}

const pg_type_t *pg_types_refresh(pg_types_t *t, uint32_t oid, int *changed)
{
    pg_tentry_t **pp = &t->b[oid % PG_TYPES_BUCKETS], *old = NULL;
    *changed = 0;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->t.oid == oid) {
            old = *pp;
            break;
        }
    if (old && old->builtin)
        return &old->t;
    if (old)
        *pp = old->next;              /* out of the cache, so pg_types_get describes anew */
    const pg_type_t *fresh = pg_types_get(t, oid);
    if (!fresh) {
        if (old) {                    /* out of memory: keep what the relations point to */
            old->next = t->b[oid % PG_TYPES_BUCKETS];
            t->b[oid % PG_TYPES_BUCKETS] = old;
        }
        return NULL;
    }
    if (old) {
        *changed = !same_type(&old->t, fresh);
        entry_free(old);
    }
    return fresh;
}

/* Fills e from the catalog description (or the fallback when unknown). */
static void describe(pg_types_t *t, pg_tentry_t *e, uint32_t oid)
{
    pg_typdesc_t d;
    char err[256];
    memset(&d, 0, sizeof(d));
    e->t.conv = PG_CONV_TYPED;
    if (t->depth > 8 || !t->resolver || t->resolver(t->ctx, oid, &d, err, sizeof(err)) != SL_OK) {
        char buf[32];
        snprintf(buf, sizeof(buf), "oid%u", oid);
        e->name_own = strdup(buf);
        return;
    }
    t->depth++;
    if (d.typtype == 'd' && d.basetype) {
        const pg_type_t *base = pg_types_get(t, d.basetype);
        if (base) {
            e->t.conv = base->conv;
            e->name_own = strdup(base->name);
        }
    } else if (d.typtype == 'e') {
        e->t.conv = PG_CONV_STRING;
        e->t.labels = d.labels;
        e->t.nlabels = d.nlabels;
        d.labels = NULL;
        d.nlabels = 0;
    } else if (d.category == 'A' && d.elemtype) {
        const pg_type_t *el = pg_types_get(t, d.elemtype);
        if (el) {
            size_t n = strlen(el->name) + 3;
            if ((e->name_own = malloc(n)))
                snprintf(e->name_own, n, "%s[]", el->name);
        }
    } else if (!strcmp(d.name, "citext")) {
        e->t.conv = PG_CONV_STRING;
    }
    t->depth--;
    for (uint32_t i = 0; i < d.nlabels; i++)
        free(d.labels[i]);
    free(d.labels);
    if (!e->name_own)
        e->name_own = strdup(d.name[0] ? d.name : "unknown");
}

const pg_type_t *pg_types_get(pg_types_t *t, uint32_t oid)
{
    unsigned h = oid % PG_TYPES_BUCKETS;
    for (pg_tentry_t *e = t->b[h]; e; e = e->next)
        if (e->t.oid == oid)
            return &e->t;
    pg_tentry_t *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->t.oid = oid;
    for (size_t i = 0; i < sizeof(pg_builtins) / sizeof(pg_builtins[0]); i++)
        if (pg_builtins[i].oid == oid) {
            e->t.conv = pg_builtins[i].conv;
            e->t.name = pg_builtins[i].name;
            e->builtin = 1;
            break;
        }
    if (!e->builtin) {
        describe(t, e, oid);
        if (!e->name_own) {
            free(e);
            return NULL;
        }
        e->t.name = e->name_own;
    }
    conv_kind(&e->t);
    e->next = t->b[h];
    t->b[h] = e;
    return &e->t;
}

int pg_temporal_precision(const pg_type_t *type, int32_t typmod)
{
    switch (type->conv) {
    case PG_CONV_TIME: case PG_CONV_TIMETZ: case PG_CONV_TIMESTAMP: case PG_CONV_TIMESTAMPTZ:
        return typmod >= 0 && typmod <= 6 ? typmod : 6;
    case PG_CONV_INTERVAL:
        return typmod >= 0 && (typmod & 0xFFFF) <= 6 ? (typmod & 0xFFFF) : 6;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------ parsers */

static int digits(const char **p, const char *end, int min, int max, int64_t *out)
{
    int n = 0;
    int64_t v = 0;
    while (*p < end && **p >= '0' && **p <= '9' && n < max) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *out = v;
    return n >= min;
}

static int parse_date(const char **p, const char *end, int bc, int64_t *days)
{
    int64_t y, m, d;
    if (!digits(p, end, 4, 9, &y) || *p >= end || **p != '-')
        return 0;
    (*p)++;
    if (!digits(p, end, 2, 2, &m) || *p >= end || **p != '-')
        return 0;
    (*p)++;
    if (!digits(p, end, 2, 2, &d) || m < 1 || m > 12 || d < 1 || d > 31)
        return 0;
    if (bc)
        y = 1 - y;
    *days = sl_days_from_civil(y, (unsigned)m, (unsigned)d);
    return 1;
}

/* HH:MM:SS[.ffffff] -> µs of day */
static int parse_time(const char **p, const char *end, int64_t *us)
{
    int64_t h, mi, s, f = 0;
    if (!digits(p, end, 2, 2, &h) || *p >= end || **p != ':')
        return 0;
    (*p)++;
    if (!digits(p, end, 2, 2, &mi) || *p >= end || **p != ':')
        return 0;
    (*p)++;
    if (!digits(p, end, 2, 2, &s))
        return 0;
    if (*p < end && **p == '.') {
        (*p)++;
        const char *st = *p;
        if (!digits(p, end, 1, 6, &f))
            return 0;
        for (int n = (int)(*p - st); n < 6; n++)
            f *= 10;
    }
    if (h > 24 || mi > 59 || s > 60)
        return 0;
    *us = ((h * 60 + mi) * 60 + s) * 1000000 + f;
    return 1;
}

/* [+-]hh[:mm[:ss]] -> seconds east of UTC */
static int parse_tz(const char **p, const char *end, int32_t *off)
{
    int sign;
    int64_t h, m = 0, s = 0;
    if (*p >= end || (**p != '+' && **p != '-'))
        return 0;
    sign = **p == '-' ? -1 : 1;
    (*p)++;
    if (!digits(p, end, 2, 2, &h))
        return 0;
    if (*p < end && **p == ':') {
        (*p)++;
        if (!digits(p, end, 2, 2, &m))
            return 0;
        if (*p < end && **p == ':') {
            (*p)++;
            if (!digits(p, end, 2, 2, &s))
                return 0;
        }
    }
    *off = (int32_t)(sign * (h * 3600 + m * 60 + s));
    return 1;
}

static int ends_with_bc(const char *s, size_t len)
{
    return len > 3 && !memcmp(s + len - 3, " BC", 3);
}

static sl_err_t temporal(sl_record_t *rec, sl_value_t *v, const pg_type_t *type, int prec,
                         const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    int bc = ends_with_bc(s, len);
    int64_t days = 0, us = 0;
    int32_t off = 0;
    int has_tz = 0;
    if (bc)
        end -= 3;
    if ((len == 8 && !memcmp(s, "infinity", 8)) || (len == 9 && !memcmp(s, "-infinity", 9)))
        return sl_value_set_temporal(rec, v, type->tkind, s, len, 0, 0, prec, 0, 0);
    switch (type->conv) {
    case PG_CONV_DATE:
        if (!parse_date(&p, end, bc, &days) || p != end)
            return SL_ERR_DECODE;
        return sl_value_set_temporal(rec, v, SL_T_DATE, s, len, 1, days, 0, 0, 0);
    case PG_CONV_TIME:
        if (!parse_time(&p, end, &us) || p != end)
            return SL_ERR_DECODE;
        return sl_value_set_temporal(rec, v, SL_T_TIME, s, len, 1, us, prec, 0, 0);
    case PG_CONV_TIMETZ:
        if (!parse_time(&p, end, &us) || !parse_tz(&p, end, &off) || p != end)
            return SL_ERR_DECODE;
        return sl_value_set_temporal(rec, v, SL_T_TIMETZ, s, len, 1, us, prec, 1, off);
    case PG_CONV_TIMESTAMP:
    case PG_CONV_TIMESTAMPTZ:
        if (!parse_date(&p, end, bc, &days) || p >= end || *p != ' ')
            return SL_ERR_DECODE;
        p++;
        if (!parse_time(&p, end, &us))
            return SL_ERR_DECODE;
        if (type->conv == PG_CONV_TIMESTAMPTZ) {
            if (!parse_tz(&p, end, &off))
                return SL_ERR_DECODE;
            has_tz = 1;
        }
        if (p != end)
            return SL_ERR_DECODE;
        {
            /* the far end of PostgreSQL's range (year 294276) does not fit in
             * int64 µs since 1970: the text alone carries it then */
            int64_t day_us, t;
            int fits = !__builtin_mul_overflow(days, 86400000000LL, &day_us) &&
                       !__builtin_add_overflow(day_us, us, &t) &&
                       !__builtin_sub_overflow(t, (int64_t)off * 1000000, &t);
            return sl_value_set_temporal(rec, v, type->tkind, s, len, fits, fits ? t : 0, prec,
                                         has_tz, off);
        }
    default: /* interval: text only */
        return sl_value_set_temporal(rec, v, SL_T_INTERVAL, s, len, 0, 0, prec, 0, 0);
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static sl_err_t bytea(sl_record_t *rec, sl_value_t *v, const char *s, size_t len)
{
    if (len < 2 || s[0] != '\\' || s[1] != 'x' || (len & 1))
        return SL_ERR_DECODE;
    size_t n = (len - 2) / 2;
    uint8_t *out = sl_record_alloc(rec, n ? n : 1);
    if (!out)
        return SL_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval((unsigned char)s[2 + 2 * i]), lo = hexval((unsigned char)s[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            return SL_ERR_DECODE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    v->kind = SL_VAL_BYTES;
    v->data = (const char *)out;
    v->len = n;
    return SL_OK;
}

static sl_err_t bits(sl_record_t *rec, sl_value_t *v, const char *s, size_t len)
{
    size_t nbytes = (len + 7) / 8, pad = nbytes * 8 - len;
    uint8_t stackbuf[256], *buf = nbytes <= sizeof(stackbuf) ? stackbuf : malloc(nbytes);
    sl_err_t err;
    if (!buf)
        return SL_ERR_NOMEM;
    memset(buf, 0, nbytes);
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '0' && s[i] != '1') {
            if (buf != stackbuf)
                free(buf);
            return SL_ERR_DECODE;
        }
        size_t at = pad + i;
        if (s[i] == '1')
            buf[at / 8] |= (uint8_t)(0x80 >> (at % 8));
    }
    err = sl_value_set_bit(rec, v, (uint32_t)len, buf, nbytes);
    if (buf != stackbuf)
        free(buf);
    return err;
}

/* Parses a number with strto* on a NUL-terminated copy of the text. */
static int numtext(const char *s, size_t len, char *buf, size_t size)
{
    if (len == 0 || len >= size)
        return 0;
    memcpy(buf, s, len);
    buf[len] = 0;
    return 1;
}

static sl_err_t convert(sl_record_t *rec, sl_value_t *v, const pg_type_t *type, int32_t typmod,
                        const char *s, size_t len)
{
    char nb[400], *end;
    switch (type->conv) {
    case PG_CONV_INT: {
        if (!numtext(s, len, nb, sizeof(nb)))
            return SL_ERR_DECODE;
        errno = 0;
        long long x = strtoll(nb, &end, 10);
        if (errno || *end)
            return SL_ERR_DECODE;
        v->kind = SL_VAL_INT;
        v->u.i = x;
        return SL_OK;
    }
    case PG_CONV_FLOAT4:
    case PG_CONV_FLOAT8:
        if (!numtext(s, len, nb, sizeof(nb)))
            return SL_ERR_DECODE;
        errno = 0;
        if (type->conv == PG_CONV_FLOAT4) {
            float f = strtof(nb, &end);
            if (*end) /* ERANGE on a subnormal is fine: the text is exact */
                return SL_ERR_DECODE;
            v->kind = SL_VAL_FLOAT;
            v->u.f = f;
        } else {
            double d = strtod(nb, &end);
            if (*end)
                return SL_ERR_DECODE;
            v->kind = SL_VAL_DOUBLE;
            v->u.d = d;
        }
        return SL_OK;
    case PG_CONV_BOOL:
        if (len != 1 || (s[0] != 't' && s[0] != 'f'))
            return SL_ERR_DECODE;
        v->kind = SL_VAL_BOOL;
        v->u.b = s[0] == 't';
        return SL_OK;
    case PG_CONV_DECIMAL:
        for (size_t i = 0; i < len; i++)
            if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-'))
                if (!(len == 3 && !memcmp(s, "NaN", 3)) && !(len == 8 && !memcmp(s, "Infinity", 8)) &&
                    !(len == 9 && !memcmp(s, "-Infinity", 9)))
                    return SL_ERR_DECODE;
        return sl_value_set_text(rec, v, SL_VAL_DECIMAL, s, len);
    case PG_CONV_STRING:
        return sl_value_set_text(rec, v, SL_VAL_STRING, s, len);
    case PG_CONV_BYTEA:
        return bytea(rec, v, s, len);
    case PG_CONV_BIT:
        return bits(rec, v, s, len);
    case PG_CONV_DATE: case PG_CONV_TIME: case PG_CONV_TIMETZ: case PG_CONV_TIMESTAMP:
    case PG_CONV_TIMESTAMPTZ: case PG_CONV_INTERVAL:
        return temporal(rec, v, type, pg_temporal_precision(type, typmod), s, len);
    default:
        return sl_value_set_typed(rec, v, type->name, s, len);
    }
}

sl_err_t pg_value_from_text(sl_record_t *rec, sl_value_t *v, const pg_type_t *type,
                            int32_t typmod, const char *text, size_t len,
                            char *errstr, size_t errstr_size)
{
    sl_err_t err = convert(rec, v, type, typmod, text, len);
    if (err == SL_ERR_DECODE) {
        snprintf(errstr, errstr_size, "value \"%.*s\" of type %s does not parse; kept as text",
                 (int)(len > 64 ? 64 : len), text, type->name);
        if (sl_value_set_typed(rec, v, type->name, text, len) != SL_OK)
            return SL_ERR_NOMEM;
        return SL_ERR_DECODE;
    }
    return err;
}
