/* shiftlog-collector, MySQL/MariaDB: the DEFAULT of a column an ALTER TABLE
 * adds, taken from the DDL text.
 *
 * Why: ADD COLUMN c ... DEFAULT v fills the rows already in the table with v,
 * without row events; the SCHEMA record carries v (wire v3) so every target's
 * ADD COLUMN fills its rows the same way. At a DDL read in time the catalog
 * has v (COLUMN_DEFAULT). A DDL read behind the server (the table changed
 * again since) gets its columns from the binlog's next TABLE_MAP, or is folded
 * into the table's next SCHEMA, and neither has defaults: the targets' rows
 * would keep NULL where the source has v. The statement itself has v, so the
 * collector keeps the defaults of the columns each ALTER adds (following the
 * renames and drops of the statements after it) until a SCHEMA that has the
 * column is published, and puts them on it (mysql_schema.c).
 *
 * Only a constant the targets read as the catalog's text is carried: an
 * integer, a decimal (made to the column's scale, rounded as the server
 * does), a float, a string, a date or datetime in their canonical form; any
 * other literal is logged and left out, as an expression default is. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql_source.h"
#include "sl_log.h"

static int all_digits(const char *s, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* "-12.3" at scale 2 -> "-12.30"; "1.555" -> "1.56" (half away from zero,
 * as the server rounds a DEFAULT). NULL when not a plain decimal. */
static char *decimal_at_scale(const char *lit, int scale)
{
    int neg = *lit == '-';
    const char *s = lit + (*lit == '-' || *lit == '+');
    const char *dot = strchr(s, '.');
    size_t ni = dot ? (size_t)(dot - s) : strlen(s);
    const char *frac = dot ? dot + 1 : "";
    size_t nf = strlen(frac);
    if ((!ni && !nf) || (ni && !all_digits(s, ni)) || (nf && !all_digits(frac, nf)))
        return NULL;
    if (scale < 0)
        scale = (int)nf;
    /* digits = integer part + scale fraction digits, then round on the next */
    size_t nd = ni + (size_t)scale;
    char *d = malloc(nd + 2);
    if (!d)
        return NULL;
    d[0] = '0';                          /* room for a carry */
    memcpy(d + 1, s, ni);
    for (int i = 0; i < scale; i++)
        d[1 + ni + (size_t)i] = (size_t)i < nf ? frac[i] : '0';
    if ((size_t)scale < nf && frac[scale] >= '5') {
        size_t i = nd;
        while (d[i] == '9')
            d[i--] = '0';
        d[i]++;
    }
    size_t lead = 0;                     /* leading zeros of the integer part, one kept */
    while (lead < ni && d[lead] == '0')
        lead++;
    size_t int_len = ni + 1 - lead;
    int zero = 1;
    for (size_t i = lead; i <= nd; i++)
        zero &= d[i] == '0';
    char *o = malloc(nd + 4);
    if (!o) {
        free(d);
        return NULL;
    }
    size_t k = 0;
    if (neg && !zero)
        o[k++] = '-';
    if (!int_len)
        o[k++] = '0';
    memcpy(o + k, d + lead, int_len);
    k += int_len;
    if (scale > 0) {
        o[k++] = '.';
        memcpy(o + k, d + 1 + ni, (size_t)scale);
        k += (size_t)scale;
    }
    o[k] = '\0';
    free(d);
    return o;
}

/* YYYY-MM-DD, and [ HH:MM:SS] when time: the lengths of the canonical forms. */
static int canonical_date(const char *s, int with_time)
{
    size_t n = strlen(s);
    if (n != 10 && !(with_time && n == 19))
        return 0;
    static const char pat[] = "dddd-dd-dd dd:dd:dd";
    for (size_t i = 0; i < n; i++)
        if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
            return 0;
    return 1;
}

char *col_my_default_text(const sl_column_t *c, const char *lit)
{
    const char *st = c->source_type ? c->source_type : "";
    char *end;
    switch (c->kind) {
    case SL_VAL_INT: {
        const char *s = lit + (*lit == '+');
        if (!all_digits(s + (*s == '-'), strlen(s + (*s == '-'))))
            return NULL;
        char b[32];
        snprintf(b, sizeof b, "%lld", strtoll(s, &end, 10));
        return strdup(b);
    }
    case SL_VAL_UINT: {
        const char *s = lit + (*lit == '+');
        if (!all_digits(s, strlen(s)))
            return NULL;
        char b[32];
        snprintf(b, sizeof b, "%llu", strtoull(s, &end, 10));
        return strdup(b);
    }
    case SL_VAL_DECIMAL:
        return decimal_at_scale(lit, c->scale);
    case SL_VAL_FLOAT: case SL_VAL_DOUBLE:
        (void)strtod(lit, &end);
        return *lit && !*end ? strdup(lit) : NULL;
    case SL_VAL_STRING:
        return strdup(lit);
    case SL_VAL_TEMPORAL:
        if (!strncasecmp(st, "datetime", 8) || !strncasecmp(st, "timestamp", 9)) {
            if (!canonical_date(lit, 1))
                return NULL;
            if (strlen(lit) == 19)
                return strdup(lit);
            char b[32];
            snprintf(b, sizeof b, "%s 00:00:00", lit);
            return strdup(b);
        }
        if (!strncasecmp(st, "date", 4))
            return canonical_date(lit, 0) ? strdup(lit) : NULL;
        return NULL;
    default:
        return NULL;
    }
}

void col_my_dflts_clear(col_my_dflts_t *d)
{
    for (int i = 0; i < d->n; i++)
        free(d->v[i].dflt);
    free(d->v);
    memset(d, 0, sizeof(*d));
}

static void forget(col_my_dflts_t *d, int i)
{
    free(d->v[i].dflt);
    d->v[i] = d->v[--d->n];
}

static int find(const col_my_dflts_t *d, const char *name)
{
    for (int i = 0; i < d->n; i++)
        if (!strcasecmp(d->v[i].name, name))
            return i;
    return -1;
}

void col_my_dflts_note(col_my_dflts_t *d, const char *sql, size_t len)
{
    char a[COL_MY_DDL_MAX][256], b[COL_MY_DDL_MAX][256];
    int n, i;
    if ((n = col_my_ddl_renamed_cols(sql, len, a, b, COL_MY_DDL_MAX)) > 0) {
        for (int r = 0; r < n; r++)
            if ((i = find(d, a[r])) >= 0)
                memcpy(d->v[i].name, b[r], sizeof(d->v[i].name));
        return;
    }
    if ((n = col_my_ddl_dropped_cols(sql, len, a, COL_MY_DDL_MAX)) > 0) {
        for (int r = 0; r < n; r++)
            if ((i = find(d, a[r])) >= 0)
                forget(d, i);
        return;
    }
    col_my_added_col_t add[COL_MY_DDL_MAX];
    if ((n = col_my_ddl_added_cols(sql, len, add, COL_MY_DDL_MAX)) <= 0)
        return;
    for (int k = 0; k < n; k++) {
        if ((i = find(d, add[k].name)) >= 0)
            forget(d, i);
        if (!add[k].dflt) {
            continue;                    /* none (NULL) or an expression */
        }
        if (d->n == d->cap) {
            int cap = d->cap ? 2 * d->cap : 4;
            col_my_added_col_t *v = realloc(d->v, (size_t)cap * sizeof(*v));
            if (!v) {
                free(add[k].dflt);       /* the catalog's view stays: no worse than before */
                continue;
            }
            d->v = v;
            d->cap = cap;
        }
        d->v[d->n++] = add[k];
    }
}

sl_err_t col_my_dflts_fill(col_my_dflts_t *d, const sl_record_t *last, sl_record_t *rec)
{
    sl_schema_t *sc = &rec->u.schema;
    for (uint32_t c = 0; c < sc->ncols && d->n; c++) {
        sl_column_t *col = &sc->cols[c];
        int i = find(d, col->name);
        if (i < 0)
            continue;
        int known = 0;
        for (uint32_t k = 0; last && k < last->u.schema.ncols; k++)
            known |= !strcasecmp(last->u.schema.cols[k].name, col->name);
        if (!known && !col->dflt) {
            char *t = col_my_default_text(col, d->v[i].dflt);
            if (t) {
                col->dflt = sl_record_strdup(rec, t);
                free(t);
                if (!col->dflt)
                    return SL_ERR_NOMEM;
            } else {
                sl_warn("table %s.%s column %s: its default '%s' (from the ALTER that added "
                        "it, read behind the server) is not in a form carried for a %s "
                        "column: rows that existed before the column was added keep NULL "
                        "there in the targets", sc->db, sc->table, col->name, d->v[i].dflt,
                        col->source_type ? col->source_type : "");
            }
        }
        forget(d, i);                    /* the column is published now */
    }
    return SL_OK;
}
