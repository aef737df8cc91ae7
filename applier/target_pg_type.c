/* shiftlog-applier: the PostgreSQL target's column types.
 *
 *   - the type a source column is created with (table in docs/applier.md);
 *   - the grammar every type text in DDL is rebuilt from: a type name as
 *     format_type() prints it, numeric modifiers, the time zone clause of
 *     time/timestamp, []. A source type name comes from a SCHEMA record, that
 *     is from anyone who can write to the topic: it never reaches DDL as is;
 *   - which ALTER COLUMN ... TYPE keeps every value (safe MODIFY). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target_pg.h"

static int starts(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p));
}

/* The type names that may appear in PostgreSQL DDL, as format_type() prints
 * them: how many numeric modifiers each takes and whether a time zone clause
 * may follow. A type text is rebuilt from this table and the numbers parsed,
 * never copied from a SCHEMA record (anyone who can write to the topic writes
 * those): "numeric(1), evil integer" would otherwise be DDL. */
typedef struct pg_base_s {
    const char *name;
    int         mods;           /* 0, 1: (n), 2: (p) or (p,s) */
    int         tz;             /* " with time zone" / " without time zone" may follow */
} pg_base_t;

static const pg_base_t pg_bases[] = {
    {"smallint", 0, 0}, {"integer", 0, 0}, {"bigint", 0, 0}, {"boolean", 0, 0},
    {"text", 0, 0}, {"character varying", 1, 0}, {"varchar", 1, 0}, {"character", 1, 0},
    {"numeric", 2, 0}, {"real", 0, 0}, {"double precision", 0, 0}, {"date", 0, 0},
    {"uuid", 0, 0}, {"inet", 0, 0}, {"cidr", 0, 0}, {"macaddr", 0, 0}, {"macaddr8", 0, 0},
    {"xml", 0, 0}, {"json", 0, 0}, {"jsonb", 0, 0}, {"money", 0, 0}, {"point", 0, 0},
    {"line", 0, 0}, {"lseg", 0, 0}, {"box", 0, 0}, {"path", 0, 0}, {"polygon", 0, 0},
    {"circle", 0, 0}, {"tsvector", 0, 0}, {"tsquery", 0, 0}, {"pg_lsn", 0, 0},
    {"interval", 1, 0}, {"int4range", 0, 0}, {"int8range", 0, 0}, {"numrange", 0, 0},
    {"daterange", 0, 0}, {"tsrange", 0, 0}, {"tstzrange", 0, 0}, {"bytea", 0, 0},
    {"timestamp", 1, 1}, {"time", 1, 1}, {"bit", 1, 0}, {"bit varying", 1, 0},
};

#define PG_MOD_MAX  10485760    /* the largest modifier PostgreSQL takes (varchar) */
#define PG_DIMS_MAX 6

typedef struct pg_tparse_s {
    const pg_base_t *base;
    int              nmods;
    long             mod[2];
    const char      *tz;        /* "", " with time zone", " without time zone" */
    int              dims;      /* "[]" repeated */
} pg_tparse_t;

/* A modifier: 1-8 digits (the second of numeric may be negative, PG 15+). */
static const char *parse_mod(const char *p, int neg_ok, long *v)
{
    int neg = 0, n = 0;
    if (neg_ok && *p == '-') {
        neg = 1;
        p++;
    }
    *v = 0;
    while (*p >= '0' && *p <= '9' && n < 9) {
        *v = *v * 10 + (*p++ - '0');
        n++;
    }
    if (!n || n > 8 || *v > PG_MOD_MAX)
        return NULL;
    if (neg)
        *v = -*v;
    return p;
}

/* Parses s as base[(n[,m])][ with[out] time zone][[]...] and nothing else.
 * 1: parsed into r; -1: s starts with a known type name but does not fit the
 * grammar (never printed by format_type: hostile or corrupt); 0: unknown. */
static int pg_type_parse(const char *s, pg_tparse_t *r)
{
    static const char *const tzs[] = {" with time zone", " without time zone"};
    size_t best = 0;
    memset(r, 0, sizeof *r);
    r->tz = "";
    for (size_t i = 0; i < sizeof pg_bases / sizeof pg_bases[0]; i++) {
        size_t n = strlen(pg_bases[i].name);
        if (n > best && !strncmp(s, pg_bases[i].name, n) && strchr(" ([", s[n])) {
            best = n;
            r->base = &pg_bases[i];
        }
    }
    if (!r->base)
        return 0;
    const char *p = s + best;
    if (*p == '(') {
        if (!r->base->mods || !(p = parse_mod(p + 1, 0, &r->mod[0])))
            return -1;
        r->nmods = 1;
        if (*p == ',') {
            if (r->base->mods < 2 || !(p = parse_mod(p + 1, 1, &r->mod[1])))
                return -1;
            r->nmods = 2;
        }
        if (*p++ != ')')
            return -1;
    }
    for (int i = 0; r->base->tz && i < 2; i++)
        if (!strncmp(p, tzs[i], strlen(tzs[i]))) {
            r->tz = tzs[i];
            p += strlen(tzs[i]);
            break;
        }
    while (p[0] == '[' && p[1] == ']' && r->dims < PG_DIMS_MAX) {
        r->dims++;
        p += 2;
    }
    return *p ? -1 : 1;
}

int app_pg_type_text(const char *src, char *out, size_t size)
{
    pg_tparse_t r;
    char mods[48] = "";
    if (!src || pg_type_parse(src, &r) != 1)
        return 0;
    if (r.nmods == 1)
        snprintf(mods, sizeof mods, "(%ld)", r.mod[0]);
    else if (r.nmods == 2)
        snprintf(mods, sizeof mods, "(%ld,%ld)", r.mod[0], r.mod[1]);
    int n = snprintf(out, size, "%s%s%s%.*s", r.base->name, mods, r.tz, 2 * r.dims,
                     "[][][][][][]");
    return n >= 0 && (size_t)n < size;
}

/* The PostgreSQL type a source column is created with (docs/applier.md);
 * 0 when the source type must not be used at all (see pg_type_parse). */
static int pg_type_for(const sl_column_t *c, char *out, size_t size)
{
    pg_tparse_t r;
    const char *st = c->source_type ? c->source_type : "";
    int unsig = strstr(st, "unsigned") != NULL;
    int pgsrc = strstr(st, "time zone") != NULL || starts(st, "character varying") ||
                starts(st, "double precision") || !strcmp(st, "integer");
    switch (c->kind) {
    case SL_VAL_BOOL:
        snprintf(out, size, "boolean");
        return 1;
    case SL_VAL_INT:
        if (starts(st, "tinyint") || starts(st, "year") || (starts(st, "smallint") && !unsig))
            snprintf(out, size, "smallint");
        else if (starts(st, "smallint") || starts(st, "mediumint") ||
                 ((starts(st, "int") || starts(st, "integer")) && !unsig))
            snprintf(out, size, "integer");
        else
            snprintf(out, size, "bigint");
        return 1;
    case SL_VAL_UINT:
        snprintf(out, size, "numeric(20,0)");
        return 1;
    case SL_VAL_FLOAT:
        snprintf(out, size, "real");
        return 1;
    case SL_VAL_DOUBLE:
        snprintf(out, size, "double precision");
        return 1;
    case SL_VAL_DECIMAL:
        if (c->precision >= 1 && c->precision <= 1000 && c->scale >= 0 &&
            c->scale <= c->precision)
            snprintf(out, size, "numeric(%d,%d)", c->precision, c->scale);
        else
            snprintf(out, size, "numeric");
        return 1;
    case SL_VAL_STRING:
        if ((starts(st, "varchar(") || starts(st, "character varying(")) && c->precision > 0 &&
            c->precision <= 10485760)
            snprintf(out, size, "varchar(%d)", c->precision);
        else if (!strcmp(st, "json") || !strcmp(st, "jsonb"))
            snprintf(out, size, "%s", st);
        else
            snprintf(out, size, "text");
        return 1;
    case SL_VAL_BYTES:
        snprintf(out, size, "bytea");
        return 1;
    case SL_VAL_TEMPORAL: {
        int p = c->precision >= 0 && c->precision <= 6 ? c->precision : 6;
        if (starts(st, "date") && !starts(st, "datetime"))
            snprintf(out, size, "date");
        else if (starts(st, "interval"))
            snprintf(out, size, "interval");
        else if (starts(st, "timetz") || (starts(st, "time") && strstr(st, "with time zone") &&
                                          !starts(st, "timestamp")))
            snprintf(out, size, "time(%d) with time zone", p);
        else if (starts(st, "timestamptz") ||
                 (starts(st, "timestamp") && (strstr(st, "with time zone") || !pgsrc)))
            snprintf(out, size, "timestamp(%d) with time zone", p);
        else if (starts(st, "datetime") || starts(st, "timestamp"))
            snprintf(out, size, "timestamp(%d) without time zone", p);
        else if (starts(st, "time") && pgsrc)
            snprintf(out, size, "time(%d) without time zone", p);
        else if (starts(st, "time"))
            snprintf(out, size, "interval");      /* MySQL TIME: -838:59:59 .. 838:59:59 */
        else
            snprintf(out, size, "text");
        return 1;
    }
    case SL_VAL_BIT:
        if (starts(st, "bit varying") || starts(st, "varbit"))
            snprintf(out, size, "bit varying");
        else if (c->precision > 0)
            snprintf(out, size, "bit(%d)", c->precision);
        else if (starts(st, "bit(") && atoi(st + 4) > 0)
            snprintf(out, size, "bit(%d)", atoi(st + 4));
        else
            snprintf(out, size, "bit varying");
        return 1;
    case SL_VAL_SET:
        snprintf(out, size, "text[]");
        return 1;
    case SL_VAL_TYPED:
        if (!strcmp(st, "inet4") || !strcmp(st, "inet6"))
            snprintf(out, size, "inet");
        else if (app_pg_type_text(st, out, size))
            ;
        else if (pg_type_parse(st, &r) < 0)
            return 0;
        else
            snprintf(out, size, "text");
        return 1;
    default:
        snprintf(out, size, "text");
        return 1;
    }
}

/* The type of mapped column i, checked before any DDL runs: whatever made
 * the text, it goes through the grammar, so no DDL carries text from a SCHEMA
 * record. SL_ERR_UNSUPPORTED stops the table (its records go to the DLQ). */
sl_err_t app_pg_col_type(const sl_schema_t *s, uint32_t i, char *out, size_t size,
                         char *errstr, size_t errstr_size)
{
    char made[128];
    const char *st = s->cols[i].source_type ? s->cols[i].source_type : "";
    if (!pg_type_for(&s->cols[i], made, sizeof made) || !app_pg_type_text(made, out, size)) {
        snprintf(errstr, errstr_size, "postgresql: column %s of %s.%s: source type \"%.80s\" "
                 "starts like a type name but is not one (a type name, numeric modifiers and "
                 "[] only); the table stops, nothing was changed in the target", s->cols[i].name,
                 s->db, s->table, st);
        return SL_ERR_UNSUPPORTED;
    }
    return SL_OK;
}

/* --------------------------------------------------------------- modify */

static int is_varchar(const pg_tparse_t *t)
{
    return !strcmp(t->base->name, "varchar") || !strcmp(t->base->name, "character varying");
}

/* Whole integer digits a type holds: numeric(p,s) p - s, numeric unbounded. */
static long int_digits(const pg_tparse_t *t)
{
    if (t->nmods == 0)
        return PG_MOD_MAX;
    return t->mod[0] - (t->nmods == 2 ? t->mod[1] : 0);
}

/* Widening that keeps every value (ALTER COLUMN TYPE without loss). Both
 * sides are parsed whole: a prefix match let "numeric(10,2), drop column x"
 * through as a numeric. */
int app_pg_safe_modify(const char *from, const char *to)
{
    pg_tparse_t f, t;
    if (pg_type_parse(to, &t) != 1)
        return 0;
    if (!strcmp(from, to))
        return 1;
    if (pg_type_parse(from, &f) != 1 || f.dims || t.dims)
        return 0;
    const char *fb = f.base->name, *tb = t.base->name;
    int tnum = !strcmp(tb, "numeric");
    if (is_varchar(&f))
        return !strcmp(tb, "text") || (is_varchar(&t) && (t.nmods == 0 ||
                                                           (f.nmods && t.mod[0] >= f.mod[0])));
    if (!strcmp(fb, "smallint"))
        return !strcmp(tb, "integer") || !strcmp(tb, "bigint") || (tnum && int_digits(&t) >= 5);
    if (!strcmp(fb, "integer"))
        return !strcmp(tb, "bigint") || (tnum && int_digits(&t) >= 10);
    if (!strcmp(fb, "bigint"))
        return tnum && int_digits(&t) >= 19;
    if (!strcmp(fb, "real"))
        return !strcmp(tb, "double precision");
    if (!strcmp(fb, "numeric") && f.nmods && tnum) {
        long fs = f.nmods == 2 ? f.mod[1] : 0, ts = t.nmods == 2 ? t.mod[1] : 0;
        return t.nmods == 0 || (ts >= fs && int_digits(&t) >= int_digits(&f));
    }
    return 0;
}
