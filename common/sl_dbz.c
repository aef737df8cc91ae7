/* shiftlog: Debezium change events (sl_dbz.h). */
#include "sl_dbz.h"
#include "sl_json.h"
#include "sl_value_text.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#define TRY(x) do { sl_err_t e_ = (x); if (e_ != SL_OK) return e_; } while (0)

#define DBZ_VERSION "shiftlog"     /* the source block's `version` */
#define DBZ_UNAVAILABLE "__debezium_unavailable_value"

/* How one column is written: the Kafka Connect type, its logical name and
 * parameters, and how a value of it is put in the payload. */
typedef enum {
    W_INT, W_BOOL, W_FLOAT, W_DECIMAL, W_STRING, W_BYTES, W_DATE, W_TIME_US, W_TIME_MS,
    W_TS_MS, W_TS_US, W_ZONED, W_BITS, W_INTERVAL
} how_t;

/* pgjdbc's ±infinity timestamps (PGStatement.DATE_POSITIVE_INFINITY /
 * DATE_NEGATIVE_INFINITY), which Debezium's PostgreSQL connector writes as
 * µs for a MicroTimestamp (and their ms for a Timestamp), and the epoch
 * days of its ±infinity dates (+5877611-06-21, -5877611-06-22). */
#define DBZ_PG_INF_US     INT64_C(9223372036825200000)
#define DBZ_PG_NEG_INF_US INT64_C(-9223372036832400000)
#define DBZ_PG_INF_DAYS   2146033979
#define DBZ_PG_NEG_INF_DAYS (-2147472692)

typedef struct {
    /* Connect's schema type as JsonConverter names it: int16, int32, int64, float (FLOAT32),
     * double (FLOAT64), boolean, string, bytes; it refuses Schema.Type's own "float32" */
    const char *type;
    const char *name;      /* logical type, or NULL */
    how_t       how;
    int         scale;     /* W_DECIMAL */
    uint32_t    bits;      /* W_BITS: io.debezium.data.Bits length */
    int         required;  /* the schema's "optional": false (a key or NOT NULL column) */
} dbz_col_t;

static int type_is(const char *t, const char *prefix)
{
    size_t n = strlen(prefix);
    return t && !strncasecmp(t, prefix, n) && !isalnum((unsigned char)t[n]) && t[n] != '_';
}

static void col_map(const sl_column_t *c, int mysql, dbz_col_t *d)
{
    const char *t = c->source_type ? c->source_type : "";
    memset(d, 0, sizeof(*d));
    d->required = c->pk || !c->nullable;
    switch (c->kind) {
    case SL_VAL_BOOL:
        d->type = "boolean", d->how = W_BOOL;
        return;
    case SL_VAL_INT:
        d->how = W_INT;
        if (type_is(t, "year"))
            d->type = "int32", d->name = "io.debezium.time.Year";
        else if (type_is(t, "tinyint") || type_is(t, "smallint") || type_is(t, "int2"))
            d->type = strstr(t, "unsigned") && type_is(t, "smallint") ? "int32" : "int16";
        else if (type_is(t, "mediumint"))      /* 24 bits, signed or not: an int32 holds it */
            d->type = "int32";
        else if (type_is(t, "bigint") || type_is(t, "int8") || strstr(t, "unsigned"))
            d->type = "int64";
        else
            d->type = "int32";
        return;
    case SL_VAL_UINT:
        d->type = "int64", d->how = W_INT;
        return;
    case SL_VAL_FLOAT:
        d->type = "float", d->how = W_FLOAT;
        return;
    case SL_VAL_DOUBLE:
        d->type = "double", d->how = W_FLOAT;
        return;
    case SL_VAL_DECIMAL:
        if (c->scale >= 0) {
            d->type = "bytes", d->name = "org.apache.kafka.connect.data.Decimal";
            d->how = W_DECIMAL, d->scale = c->scale;
        } else {
            d->type = "string", d->how = W_STRING;   /* decimal.handling.mode=string */
        }
        return;
    case SL_VAL_BYTES:
        d->type = "bytes", d->how = W_BYTES;
        return;
    case SL_VAL_BIT:
        if (c->precision == 1)
            d->type = "boolean", d->how = W_BOOL;
        else
            d->type = "bytes", d->name = "io.debezium.data.Bits", d->how = W_BITS,
            d->bits = c->precision > 0 ? (uint32_t)c->precision : 0;
        return;
    case SL_VAL_SET:
        d->type = "string", d->name = "io.debezium.data.EnumSet", d->how = W_STRING;
        return;
    case SL_VAL_TEMPORAL:
        d->type = "int64";
        if (type_is(t, "date")) {
            d->type = "int32", d->name = "io.debezium.time.Date", d->how = W_DATE;
        } else if (type_is(t, "year")) {
            d->type = "int32", d->name = "io.debezium.time.Year", d->how = W_INT;
        } else if (type_is(t, "interval")) {
            /* interval.handling.mode numeric (the default): approximate µs */
            d->name = "io.debezium.time.MicroDuration", d->how = W_INTERVAL;
        } else if (strstr(t, "with time zone") || type_is(t, "timetz") ||
                   type_is(t, "timestamptz") || (mysql && type_is(t, "timestamp"))) {
            /* a point in time: ISO 8601 in UTC */
            d->type = "string", d->how = W_ZONED;
            d->name = type_is(t, "time") || type_is(t, "timetz") ? "io.debezium.time.ZonedTime"
                                                                  : "io.debezium.time.ZonedTimestamp";
        } else if (type_is(t, "time")) {
            /* PostgreSQL's time.precision.mode adaptive: time(0..3) in ms; MySQL's
             * default (adaptive_time_microseconds) is µs at any precision */
            if (!mysql && c->precision >= 0 && c->precision <= 3)
                d->type = "int32", d->name = "io.debezium.time.Time", d->how = W_TIME_MS;
            else
                d->name = "io.debezium.time.MicroTime", d->how = W_TIME_US;
        } else {
            /* a wall-clock date and time (MySQL DATETIME, PostgreSQL timestamp) */
            int ms = c->precision >= 0 && c->precision <= 3;
            d->how = ms ? W_TS_MS : W_TS_US;
            d->name = ms ? "io.debezium.time.Timestamp" : "io.debezium.time.MicroTimestamp";
        }
        return;
    case SL_VAL_TYPED:
    case SL_VAL_STRING:
    default:
        d->type = "string", d->how = W_STRING;
        if (type_is(t, "json") || type_is(t, "jsonb"))
            d->name = "io.debezium.data.Json";
        else if (type_is(t, "uuid"))
            d->name = "io.debezium.data.Uuid";
        else if (type_is(t, "enum"))
            d->name = "io.debezium.data.Enum";
        return;
    }
}

int sl_dbz_decimal_bytes(const char *text, size_t len, int scale, unsigned char *out,
                         size_t size, size_t *n)
{
    /* digits of the unscaled value, the fraction padded (or checked) to scale */
    size_t nd = 0, i = 0, cap = len + (size_t)(scale > 0 ? scale : 0) + 1;
    int neg = 0, frac = -1, rc = -1;
    char *dig = malloc(cap);
    unsigned char *mag = malloc(cap + 1);   /* base 256 needs fewer bytes than digits */
    if (!dig || !mag)
        goto out;
    if (i < len && (text[i] == '-' || text[i] == '+'))
        neg = text[i++] == '-';
    if (i == len)
        goto out;
    for (; i < len; i++) {
        char ch = text[i];
        if (ch == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (!isdigit((unsigned char)ch))
            goto out;                  /* NaN, Infinity, an exponent */
        if (frac >= 0 && frac >= scale) {
            if (ch != '0')
                goto out;              /* more fraction digits than the scale holds */
            continue;
        }
        dig[nd++] = ch;
        if (frac >= 0)
            frac++;
    }
    for (int f = frac < 0 ? 0 : frac; f < scale; f++)
        dig[nd++] = '0';
    /* decimal digits -> big-endian magnitude (base 256), one digit at a time:
     * mag = mag * 10 + digit, kept right-aligned in mag[cap + 1 - nm ..] */
    size_t mcap = cap + 1, nm = 0;
    for (size_t k = 0; k < nd; k++) {
        unsigned carry = (unsigned)(dig[k] - '0');
        for (size_t j = 0; j < nm; j++) {
            unsigned char *p = &mag[mcap - 1 - j];
            unsigned v = *p * 10u + carry;
            *p = (unsigned char)(v & 0xff);
            carry = v >> 8;
        }
        for (; carry; carry >>= 8)
            mag[mcap - 1 - nm++] = (unsigned char)(carry & 0xff);
    }
    unsigned char *m = mag + mcap - nm;
    if (nm == 0 || (m[0] & 0x80)) {         /* a zero, or a sign bit of room */
        *--m = 0;
        nm++;
    }
    if (neg) {
        unsigned carry = 1;
        for (size_t j = nm; j-- > 0;) {
            unsigned v = (unsigned)(unsigned char)~m[j] + carry;
            m[j] = (unsigned char)(v & 0xff);
            carry = v >> 8;
        }
    }
    /* the shortest form, as Java's BigInteger.toByteArray() (-128: 80, not ff80) */
    while (nm > 1 && ((m[0] == 0x00 && !(m[1] & 0x80)) || (m[0] == 0xff && (m[1] & 0x80)))) {
        m++;
        nm--;
    }
    if (nm <= size) {
        memcpy(out, m, nm);
        *n = nm;
        rc = 0;
    }
out:
    free(dig);
    free(mag);
    return rc;
}

static sl_err_t put_zoned(sl_buf_t *out, const sl_value_t *v, int time_only)
{
    char t[48];
    int64_t us = v->u.t.micros;
    if (time_only) {                   /* time with zone: to UTC, within a day */
        int64_t day = 86400000000LL;
        us -= (int64_t)v->u.t.tz_offset_s * 1000000;
        us = ((us % day) + day) % day;
    }
    int n = sl_micros_text(us, 6, t, sizeof t);
    if (n < 0)
        return sl_buf_puts(out, "null");
    char *sp = strchr(t, ' ');
    if (sp)
        *sp = 'T';
    TRY(sl_buf_putc(out, '"'));
    TRY(sl_buf_puts(out, time_only && sp ? sp + 1 : t));
    return sl_buf_puts(out, "Z\"");
}

/* An interval's text (IntervalStyle postgres: "1 year 2 mons -3 days
 * 04:05:06.5") as Debezium's MicroDuration: the fields summed with a month
 * of 365.25 / 12 days, in the same double arithmetic (the seconds' whole
 * part and the µs apart, as MicroDuration.durationMicros). 0 when the text
 * is not of that form. */
static int interval_micros(const char *text, size_t len, int64_t *out)
{
    char buf[160], *p = buf, *end;
    long ym = 0, days = 0, hours = 0, minutes = 0, secs = 0, micros = 0;
    if (len >= sizeof buf)
        return 0;
    memcpy(buf, text, len);
    buf[len] = '\0';
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (strchr(p, ':') && (!strchr(p, ' ') || strchr(p, ':') < strchr(p, ' '))) {
            int neg = *p == '-';            /* [+-]H:MM:SS[.ffffff], the sign on all */
            p += *p == '-' || *p == '+';
            long h = strtol(p, &end, 10);
            if (end == p || *end != ':')
                return 0;
            long m = strtol(p = end + 1, &end, 10);
            if (end == p || *end != ':')
                return 0;
            long sec = strtol(p = end + 1, &end, 10), us = 0;
            if (end == p)
                return 0;
            if (*end == '.') {
                int nd = 0;
                for (p = end + 1; isdigit((unsigned char)*p); p++, nd++)
                    if (nd < 6)
                        us = us * 10 + (*p - '0');
                for (; nd < 6; nd++)
                    us *= 10;
                end = p;
            }
            hours += neg ? -h : h, minutes += neg ? -m : m;
            secs += neg ? -sec : sec, micros += neg ? -us : us;
            p = end;
            continue;
        }
        long n = strtol(p, &end, 10);
        if (end == p || *end != ' ')
            return 0;
        p = end + 1;
        size_t ul = strcspn(p, " ");
        if (!strncmp(p, "year", 4))
            ym += 12 * n;
        else if (!strncmp(p, "mon", 3))
            ym += n;
        else if (!strncmp(p, "day", 3))
            days += n;
        else
            return 0;
        p += ul;
    }
    double nd = (double)ym * (365.25 / 12.0) + (double)days;
    double ns = ((nd * 24 + (double)hours) * 60 + (double)minutes) * 60 + (double)secs;
    *out = (int64_t)(ns * 1e6 + (double)micros);
    return 1;
}

/* A temporal value without a number (has_micros 0): PostgreSQL's ±infinity
 * or a MySQL zero date. Debezium writes pgjdbc's infinity sentinels, and a
 * zero date as null where the column may be null and as the epoch where it
 * may not (a JsonConverter with schemas refuses null in a required field). */
static sl_err_t put_no_micros(sl_buf_t *out, const dbz_col_t *d, const sl_value_t *v)
{
    int inf = 0;
    if (v->data && v->len == 8 && !memcmp(v->data, "infinity", 8))
        inf = 1;
    else if (v->data && v->len == 9 && !memcmp(v->data, "-infinity", 9))
        inf = -1;
    switch (d->how) {
    case W_DATE:
        if (inf)
            return sl_buf_printf(out, "%d", inf > 0 ? DBZ_PG_INF_DAYS : DBZ_PG_NEG_INF_DAYS);
        break;
    case W_TS_US:
        if (inf)
            return sl_buf_printf(out, "%" PRId64, inf > 0 ? DBZ_PG_INF_US : DBZ_PG_NEG_INF_US);
        break;
    case W_TS_MS:
        if (inf)
            return sl_buf_printf(out, "%" PRId64, (inf > 0 ? DBZ_PG_INF_US : DBZ_PG_NEG_INF_US)
                                                  / 1000);
        break;
    case W_ZONED:
        if (inf)
            return sl_buf_puts(out, inf > 0 ? "\"infinity\"" : "\"-infinity\"");
        if (d->required)
            return sl_buf_puts(out, !strcmp(d->name, "io.debezium.time.ZonedTime")
                                        ? "\"00:00:00Z\"" : "\"1970-01-01T00:00:00Z\"");
        return sl_buf_puts(out, "null");
    default:
        break;
    }
    return sl_buf_puts(out, d->required ? "0" : "null");
}

static sl_err_t put_value(sl_buf_t *out, const dbz_col_t *d, const sl_value_t *v)
{
    if (!v || v->kind == SL_VAL_NULL)
        return sl_buf_puts(out, "null");
    if (v->kind == SL_VAL_MISSING)
        return d->how == W_STRING && v->u.missing == SL_MISSING_UNCHANGED_TOAST
                   ? sl_buf_puts(out, "\"" DBZ_UNAVAILABLE "\"") : sl_buf_puts(out, "null");
    switch (d->how) {
    case W_INT:
        if (v->kind == SL_VAL_UINT)
            return sl_buf_printf(out, "%" PRIu64, v->u.u);
        return sl_buf_printf(out, "%" PRId64, v->kind == SL_VAL_BOOL ? (int64_t)v->u.b : v->u.i);
    case W_BOOL:
        if (v->kind == SL_VAL_BIT)
            return sl_buf_puts(out, v->len && (v->data[v->len - 1] & 1) ? "true" : "false");
        return sl_buf_puts(out, (v->kind == SL_VAL_BOOL ? v->u.b : v->u.i) ? "true" : "false");
    case W_FLOAT: {
        double x = v->kind == SL_VAL_FLOAT ? (double)v->u.f : v->u.d;
        if (!isfinite(x))   /* JSON has no NaN / Infinity: Connect's converter writes strings */
            return sl_buf_puts(out, isnan(x) ? "\"NaN\"" : x > 0 ? "\"Infinity\""
                                                                  : "\"-Infinity\"");
        return sl_double_text(out, x, v->kind == SL_VAL_FLOAT ? 9 : 17);
    }
    case W_DECIMAL: {
        size_t cap = v->len + (size_t)d->scale + 8, n;   /* bytes >= digits / 2.4 */
        unsigned char *b = malloc(cap);
        if (!b)
            return SL_ERR_NOMEM;
        /* NaN / ±Infinity: no Decimal holds them; Debezium's connector stops
         * there too (decimal.handling.mode precise), the caller says why */
        sl_err_t e = sl_dbz_decimal_bytes(v->data, v->len, d->scale, b, cap, &n)
                         ? SL_ERR_UNSUPPORTED : sl_json_base64(out, b, n);
        free(b);
        return e;
    }
    case W_BYTES:
        return sl_json_base64(out, (const unsigned char *)v->data, v->len);
    case W_BITS: {
        unsigned char *b = malloc(v->len ? v->len : 1);
        if (!b)
            return SL_ERR_NOMEM;
        for (size_t i = 0; i < v->len; i++)  /* Debezium's Bits: little-endian bytes */
            b[i] = (unsigned char)v->data[v->len - 1 - i];
        sl_err_t e = sl_json_base64(out, b, v->len);
        free(b);
        return e;
    }
    case W_DATE:
    case W_TIME_US:
    case W_TS_US:
        return v->u.t.has_micros ? sl_buf_printf(out, "%" PRId64, v->u.t.micros)
                                 : put_no_micros(out, d, v);
    case W_TIME_MS:
    case W_TS_MS: {
        int64_t us = v->u.t.micros, ms = us / 1000 - (us % 1000 < 0);
        return v->u.t.has_micros ? sl_buf_printf(out, "%" PRId64, ms)
                                 : put_no_micros(out, d, v);
    }
    case W_ZONED:
        if (v->kind != SL_VAL_TEMPORAL)
            return sl_buf_puts(out, "null");
        if (!v->u.t.has_micros)
            return put_no_micros(out, d, v);
        return put_zoned(out, v, v->u.t.kind == SL_T_TIMETZ);
    case W_INTERVAL: {
        int64_t us;
        if (!v->data || !interval_micros(v->data, v->len, &us))
            return SL_ERR_UNSUPPORTED;
        return sl_buf_printf(out, "%" PRId64, us);
    }
    case W_STRING:
    default:
        if (v->kind == SL_VAL_SET) {         /* labels NUL-separated -> "a,b" */
            sl_buf_t joined = SL_BUF_INIT;
            size_t n = v->len;
            while (n && !v->data[n - 1])
                n--;
            sl_err_t e = sl_buf_append(&joined, v->data, n);
            for (size_t i = 0; !e && i < n; i++)
                if (!joined.data[i])
                    joined.data[i] = ',';
            if (!e)
                e = sl_buf_json_str(out, joined.data ? joined.data : "", n);
            sl_buf_free(&joined);
            return e;
        }
        if (v->kind == SL_VAL_INT)
            return sl_buf_printf(out, "\"%" PRId64 "\"", v->u.i);
        if (v->kind == SL_VAL_TEMPORAL && !v->data)
            return sl_buf_puts(out, "null");
        return sl_buf_json_str(out, v->data ? v->data : "", v->data ? v->len : 0);
    }
}

/* ------------------------------------------------------------- schemas */

static sl_err_t field_schema(sl_buf_t *out, int mysql, const sl_column_t *c, int optional)
{
    dbz_col_t d;
    col_map(c, mysql, &d);
    TRY(sl_buf_printf(out, "{\"type\":\"%s\",\"optional\":%s", d.type,
                      optional ? "true" : "false"));
    if (d.name)
        TRY(sl_buf_printf(out, ",\"name\":\"%s\",\"version\":1", d.name));
    if (d.how == W_DECIMAL)
        TRY(sl_buf_printf(out, ",\"parameters\":{\"scale\":\"%d\"%s", d.scale,
                          c->precision > 0 ? "" : "}"));
    if (d.how == W_DECIMAL && c->precision > 0)
        TRY(sl_buf_printf(out, ",\"connect.decimal.precision\":\"%d\"}", c->precision));
    if (d.how == W_BITS)
        TRY(sl_buf_printf(out, ",\"parameters\":{\"length\":\"%u\"}", d.bits));
    TRY(sl_buf_puts(out, ",\"field\":"));
    TRY(sl_buf_json_str(out, c->name, strlen(c->name)));
    return sl_buf_putc(out, '}');
}

static sl_err_t struct_schema(sl_buf_t *out, const sl_dbz_conf_t *conf, const sl_schema_t *s,
                              int key_only, const char *suffix, const char *field, int optional)
{
    char name[700];
    snprintf(name, sizeof name, "%s.%s.%s.%s", conf->name, s->db ? s->db : "",
             s->table ? s->table : "", suffix);
    TRY(sl_buf_puts(out, "{\"type\":\"struct\",\"fields\":["));
    int first = 1;
    for (uint32_t i = 0; i < s->ncols; i++) {
        const sl_column_t *c = &s->cols[i];
        if (key_only && !c->pk)
            continue;
        if (!first)
            TRY(sl_buf_putc(out, ','));
        first = 0;
        TRY(field_schema(out, conf->mysql, c, !c->pk && c->nullable));
    }
    TRY(sl_buf_printf(out, "],\"optional\":%s,\"name\":", optional ? "true" : "false"));
    TRY(sl_buf_json_str(out, name, strlen(name)));
    if (field) {
        TRY(sl_buf_puts(out, ",\"field\":"));
        TRY(sl_buf_json_str(out, field, strlen(field)));
    }
    return sl_buf_putc(out, '}');
}

/* The fields every connector's source block starts with. */
#define DBZ_SOURCE_FIELDS \
    "{\"type\":\"struct\",\"fields\":[" \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"version\"}," \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"}," \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"}," \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"}," \
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1," \
    "\"parameters\":{\"allowed\":\"true,last,false,incremental\"},\"default\":\"false\"," \
    "\"field\":\"snapshot\"}," \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"

static sl_err_t source_schema(sl_buf_t *out, const sl_dbz_conf_t *conf)
{
    static const char mysql[] =
        DBZ_SOURCE_FIELDS
        "{\"type\":\"string\",\"optional\":true,\"field\":\"table\"},"
        "{\"type\":\"int64\",\"optional\":false,\"field\":\"server_id\"},"
        "{\"type\":\"string\",\"optional\":true,\"field\":\"gtid\"},"
        "{\"type\":\"string\",\"optional\":false,\"field\":\"file\"},"
        "{\"type\":\"int64\",\"optional\":false,\"field\":\"pos\"},"
        "{\"type\":\"int32\",\"optional\":false,\"field\":\"row\"}"
        "],\"optional\":false,\"name\":\"io.debezium.connector.mysql.Source\",\"field\":\"source\"}";
    static const char pg[] =
        DBZ_SOURCE_FIELDS
        "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
        "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"
        "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},"
        "{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"}"
        "],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\","
        "\"field\":\"source\"}";
    return sl_buf_puts(out, conf->mysql ? mysql : pg);
}

static sl_err_t value_schema(sl_buf_t *out, const sl_dbz_conf_t *conf, const sl_schema_t *s)
{
    char name[700];
    snprintf(name, sizeof name, "%s.%s.%s.Envelope", conf->name, s->db ? s->db : "",
             s->table ? s->table : "");
    TRY(sl_buf_puts(out, "{\"type\":\"struct\",\"fields\":["));
    TRY(struct_schema(out, conf, s, 0, "Value", "before", 1));
    TRY(sl_buf_putc(out, ','));
    TRY(struct_schema(out, conf, s, 0, "Value", "after", 1));
    TRY(sl_buf_putc(out, ','));
    TRY(source_schema(out, conf));
    TRY(sl_buf_puts(out,
        ",{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
        "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},"
        "{\"type\":\"struct\",\"fields\":["
        "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
        "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
        "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}"
        "],\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"}"
        "],\"optional\":false,\"name\":"));
    TRY(sl_buf_json_str(out, name, strlen(name)));
    return sl_buf_puts(out, ",\"version\":1}");
}

/* ------------------------------------------------------------- payloads */

/* The value of schema column i in an image of change c: by the same index
 * when the names agree (the usual case), else by name. */
static const sl_value_t *img_value(const sl_change_t *c, const sl_value_t *img, uint32_t i,
                                   const char *name)
{
    if (i < c->ncols && !strcmp(c->columns[i], name))
        return &img[i];
    for (uint32_t k = 0; k < c->ncols; k++)
        if (!strcmp(c->columns[k], name))
            return &img[k];
    return NULL;
}

static sl_err_t put_image(sl_buf_t *out, int mysql, const sl_schema_t *s,
                          const sl_change_t *c, const sl_value_t *img, int key_only)
{
    if (!img)
        return sl_buf_puts(out, "null");
    TRY(sl_buf_putc(out, '{'));
    int first = 1;
    for (uint32_t i = 0; i < s->ncols; i++) {
        const sl_column_t *col = &s->cols[i];
        if (key_only && !col->pk)
            continue;
        dbz_col_t d;
        col_map(col, mysql, &d);
        if (!first)
            TRY(sl_buf_putc(out, ','));
        first = 0;
        TRY(sl_buf_json_str(out, col->name, strlen(col->name)));
        TRY(sl_buf_putc(out, ':'));
        TRY(put_value(out, &d, img_value(c, img, i, col->name)));
    }
    return sl_buf_putc(out, '}');
}

static int has_key(const sl_schema_t *s)
{
    for (uint32_t i = 0; i < s->ncols; i++)
        if (s->cols[i].pk)
            return 1;
    return 0;
}

sl_err_t sl_dbz_key(sl_buf_t *out, const sl_dbz_conf_t *conf, const sl_schema_t *s,
                    const sl_record_t *rec, uint32_t row, int before)
{
    const sl_change_t *c = &rec->u.change;
    sl_buf_reset(out);
    if (!has_key(s))
        return SL_ERR_UNSUPPORTED;
    const sl_row_t *r = &c->rows[row];
    const sl_value_t *img = before ? r->before : r->after;
    if (!img)
        img = r->after ? r->after : r->before;
    if (conf->with_schema) {
        TRY(sl_buf_puts(out, "{\"schema\":"));
        TRY(struct_schema(out, conf, s, 1, "Key", NULL, 0));
        TRY(sl_buf_puts(out, ",\"payload\":"));
    }
    TRY(put_image(out, conf->mysql, s, c, img, 1));
    return conf->with_schema ? sl_buf_putc(out, '}') : SL_OK;
}

static sl_err_t put_source(sl_buf_t *out, const sl_dbz_conf_t *conf, const sl_record_t *rec,
                           uint32_t row)
{
    const sl_change_t *c = &rec->u.change;
    int64_t ts_ms = c->event_time_us / 1000;
    const char *snap = c->op == SL_OP_READ ? "true" : "false";
    TRY(sl_buf_puts(out, "{\"version\":\"" DBZ_VERSION "\",\"connector\":"));
    TRY(sl_buf_puts(out, conf->mysql ? "\"mysql\"" : "\"postgresql\""));
    TRY(sl_buf_puts(out, ",\"name\":"));
    TRY(sl_buf_json_str(out, conf->name, strlen(conf->name)));
    TRY(sl_buf_printf(out, ",\"ts_ms\":%" PRId64 ",\"snapshot\":\"%s\",\"db\":", ts_ms, snap));
    /* MySQL: the database; PostgreSQL: the database, then the schema (the record's db) */
    const char *db = conf->mysql ? c->db : conf->database;
    TRY(sl_buf_json_str(out, db ? db : "", db ? strlen(db) : 0));
    if (!conf->mysql) {
        TRY(sl_buf_puts(out, ",\"schema\":"));
        TRY(sl_buf_json_str(out, c->db ? c->db : "", c->db ? strlen(c->db) : 0));
    }
    TRY(sl_buf_puts(out, ",\"table\":"));
    TRY(sl_buf_json_str(out, c->table ? c->table : "", c->table ? strlen(c->table) : 0));
    const sl_pos_t *p = &rec->pos;
    if (conf->mysql) {
        TRY(sl_buf_printf(out, ",\"server_id\":%" PRIu32 ",\"gtid\":", c->server_id));
        if (p->gtid[0])
            TRY(sl_buf_json_str(out, p->gtid, strlen(p->gtid)));
        else
            TRY(sl_buf_puts(out, "null"));
        TRY(sl_buf_puts(out, ",\"file\":"));
        TRY(sl_buf_json_str(out, p->file, strlen(p->file)));
        return sl_buf_printf(out, ",\"pos\":%" PRIu64 ",\"row\":%" PRIu32 "}", p->offset,
                             p->row + row);
    }
    int64_t xid = -1;
    if (c->txn && sscanf(c->txn, "%" SCNd64, &xid) == 1)
        TRY(sl_buf_printf(out, ",\"txId\":%" PRId64, xid));
    else
        TRY(sl_buf_puts(out, ",\"txId\":null"));
    return sl_buf_printf(out, ",\"lsn\":%" PRIu64 "}", p->offset);
}

char sl_dbz_op(const sl_change_t *c)
{
    switch (c->op) {
    case SL_OP_INSERT: return 'c';
    case SL_OP_UPDATE: return 'u';
    case SL_OP_DELETE: return 'd';
    case SL_OP_READ:   return 'r';
    default:           return 't';
    }
}

sl_err_t sl_dbz_value(sl_buf_t *out, const sl_dbz_conf_t *conf, const sl_schema_t *s,
                      const sl_record_t *rec, uint32_t row, char op, const sl_dbz_txn_t *txn)
{
    const sl_change_t *c = &rec->u.change;
    const sl_row_t *r = &c->rows[row];
    sl_buf_reset(out);
    if (conf->with_schema) {
        TRY(sl_buf_puts(out, "{\"schema\":"));
        TRY(value_schema(out, conf, s));
        TRY(sl_buf_puts(out, ",\"payload\":"));
    }
    TRY(sl_buf_puts(out, "{\"before\":"));
    TRY(put_image(out, conf->mysql, s, c, op == 'c' || op == 'r' ? NULL : r->before, 0));
    TRY(sl_buf_puts(out, ",\"after\":"));
    TRY(put_image(out, conf->mysql, s, c, op == 'd' ? NULL : r->after, 0));
    TRY(sl_buf_puts(out, ",\"source\":"));
    TRY(put_source(out, conf, rec, row));
    TRY(sl_buf_printf(out, ",\"op\":\"%c\",\"ts_ms\":%" PRId64 ",\"transaction\":",
                      op, c->event_time_us / 1000));
    if (txn && txn->id) {
        TRY(sl_buf_puts(out, "{\"id\":"));
        TRY(sl_buf_json_str(out, txn->id, strlen(txn->id)));
        TRY(sl_buf_printf(out, ",\"total_order\":%" PRIu64 ",\"data_collection_order\":%" PRIu64
                          "}", txn->total_order, txn->data_collection_order));
    } else {
        TRY(sl_buf_puts(out, "null"));
    }
    TRY(sl_buf_putc(out, '}'));
    return conf->with_schema ? sl_buf_putc(out, '}') : SL_OK;
}

sl_err_t sl_dbz_txn_marker(sl_buf_t *out, const sl_dbz_conf_t *conf, const char *status,
                           const char *id, int64_t ts_ms, uint64_t events,
                           const char *const *tables, const uint64_t *counts, size_t ntables)
{
    int end = !strcmp(status, "END");
    sl_buf_reset(out);
    if (conf->with_schema)
        TRY(sl_buf_puts(out,
            "{\"schema\":{\"type\":\"struct\",\"fields\":["
            "{\"type\":\"string\",\"optional\":false,\"field\":\"status\"},"
            "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
            "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
            "{\"type\":\"int64\",\"optional\":true,\"field\":\"event_count\"},"
            "{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":["
            "{\"type\":\"string\",\"optional\":false,\"field\":\"data_collection\"},"
            "{\"type\":\"int64\",\"optional\":false,\"field\":\"event_count\"}],"
            "\"optional\":false},\"optional\":true,\"field\":\"data_collections\"}],"
            "\"optional\":false,\"name\":"
            "\"io.debezium.connector.common.TransactionMetadataValue\"},\"payload\":"));
    TRY(sl_buf_printf(out, "{\"status\":\"%s\",\"id\":", status));
    TRY(sl_buf_json_str(out, id ? id : "", id ? strlen(id) : 0));
    TRY(sl_buf_printf(out, ",\"ts_ms\":%" PRId64 ",\"event_count\":", ts_ms));
    if (!end) {
        TRY(sl_buf_puts(out, "null,\"data_collections\":null}"));
    } else {
        TRY(sl_buf_printf(out, "%" PRIu64 ",\"data_collections\":[", events));
        for (size_t i = 0; i < ntables; i++) {
            TRY(sl_buf_puts(out, i ? ",{\"data_collection\":" : "{\"data_collection\":"));
            TRY(sl_buf_json_str(out, tables[i], strlen(tables[i])));
            TRY(sl_buf_printf(out, ",\"event_count\":%" PRIu64 "}", counts[i]));
        }
        TRY(sl_buf_puts(out, "]}"));
    }
    return conf->with_schema ? sl_buf_putc(out, '}') : SL_OK;
}

sl_err_t sl_dbz_txn_key(sl_buf_t *out, const sl_dbz_conf_t *conf, const char *id)
{
    sl_buf_reset(out);
    if (conf->with_schema)
        TRY(sl_buf_puts(out, "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":"
                        "\"string\",\"optional\":false,\"field\":\"id\"}],\"optional\":"
                        "false,\"name\":\"io.debezium.connector.common.TransactionMetadataKey"
                        "\"},\"payload\":"));
    TRY(sl_buf_puts(out, "{\"id\":"));
    TRY(sl_buf_json_str(out, id ? id : "", id ? strlen(id) : 0));
    TRY(sl_buf_putc(out, '}'));
    return conf->with_schema ? sl_buf_putc(out, '}') : SL_OK;
}

sl_err_t sl_dbz_topic(char *out, size_t size, const sl_dbz_conf_t *conf, const char *db,
                      const char *table)
{
    /* Kafka topic names: [a-zA-Z0-9._-], at most 249 characters; other
     * characters become '_' as Debezium's topic naming does */
    int n = snprintf(out, size, "%s.%s.%s", conf->name, db ? db : "", table ? table : "");
    if (n < 0 || (size_t)n >= size || n > 249)
        return SL_ERR_INVALID;
    for (int i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)out[i];
        if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
            out[i] = '_';
    }
    return SL_OK;
}
