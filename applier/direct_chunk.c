/* shiftlog-applier: direct tasks' source tables (direct.h) — the catalog
 * (columns, kinds, the keyset order, the diff column) and the keyset
 * chunks read into CHANGE records with op READ (direct_read.c holds the
 * connections and the query helpers). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct_int.h"
#include "sl_keyset.h"

/* ----------------------------------------------------------- catalog */

/* The value kind of a source type: MariaDB DATA_TYPE / PostgreSQL typname.
 * *temporal gets the temporal kind (or -1). SL_VAL_MISSING: not read here. */
static sl_val_kind_t kind_of(int pg, const char *t, const char *full, int *temporal)
{
    static const struct { const char *name; int pg; sl_val_kind_t k; int tk; } map[] = {
        {"tinyint", 0, SL_VAL_INT, -1}, {"smallint", 0, SL_VAL_INT, -1},
        {"mediumint", 0, SL_VAL_INT, -1}, {"int", 0, SL_VAL_INT, -1},
        {"bigint", 0, SL_VAL_INT, -1}, {"year", 0, SL_VAL_INT, -1},
        {"float", 0, SL_VAL_FLOAT, -1}, {"double", 0, SL_VAL_DOUBLE, -1},
        {"decimal", 0, SL_VAL_DECIMAL, -1}, {"char", 0, SL_VAL_STRING, -1},
        {"varchar", 0, SL_VAL_STRING, -1}, {"tinytext", 0, SL_VAL_STRING, -1},
        {"text", 0, SL_VAL_STRING, -1}, {"mediumtext", 0, SL_VAL_STRING, -1},
        {"longtext", 0, SL_VAL_STRING, -1}, {"enum", 0, SL_VAL_STRING, -1},
        {"json", 0, SL_VAL_STRING, -1}, {"set", 0, SL_VAL_SET, -1},
        {"binary", 0, SL_VAL_BYTES, -1}, {"varbinary", 0, SL_VAL_BYTES, -1},
        {"tinyblob", 0, SL_VAL_BYTES, -1}, {"blob", 0, SL_VAL_BYTES, -1},
        {"mediumblob", 0, SL_VAL_BYTES, -1}, {"longblob", 0, SL_VAL_BYTES, -1},
        {"bit", 0, SL_VAL_BIT, -1}, {"date", 0, SL_VAL_TEMPORAL, SL_T_DATE},
        {"datetime", 0, SL_VAL_TEMPORAL, SL_T_DATETIME},
        {"timestamp", 0, SL_VAL_TEMPORAL, SL_T_TIMESTAMP},
        {"time", 0, SL_VAL_TEMPORAL, SL_T_TIME},
        {"inet4", 0, SL_VAL_TYPED, -1}, {"inet6", 0, SL_VAL_TYPED, -1},
        {"uuid", 0, SL_VAL_TYPED, -1},
        {"int2", 1, SL_VAL_INT, -1}, {"int4", 1, SL_VAL_INT, -1}, {"int8", 1, SL_VAL_INT, -1},
        {"bool", 1, SL_VAL_BOOL, -1}, {"float4", 1, SL_VAL_FLOAT, -1},
        {"float8", 1, SL_VAL_DOUBLE, -1}, {"numeric", 1, SL_VAL_DECIMAL, -1},
        {"text", 1, SL_VAL_STRING, -1}, {"varchar", 1, SL_VAL_STRING, -1},
        {"bpchar", 1, SL_VAL_STRING, -1}, {"json", 1, SL_VAL_STRING, -1},
        {"jsonb", 1, SL_VAL_STRING, -1}, {"bytea", 1, SL_VAL_BYTES, -1},
        {"bit", 1, SL_VAL_BIT, -1}, {"varbit", 1, SL_VAL_BIT, -1},
        {"date", 1, SL_VAL_TEMPORAL, SL_T_DATE},
        {"timestamp", 1, SL_VAL_TEMPORAL, SL_T_DATETIME},
        {"timestamptz", 1, SL_VAL_TEMPORAL, SL_T_TIMESTAMPTZ},
        {"time", 1, SL_VAL_TEMPORAL, SL_T_TIME}, {"interval", 1, SL_VAL_TEMPORAL, SL_T_INTERVAL},
    };
    *temporal = -1;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].pg == pg && !strcmp(map[i].name, t)) {
            *temporal = map[i].tk;
            if (!pg && map[i].k == SL_VAL_INT && strstr(full, "unsigned") &&
                !strcmp(t, "bigint"))
                return SL_VAL_UINT;
            return map[i].k;
        }
    /* PostgreSQL's other types (uuid, inet, arrays, ...) keep their text */
    return pg && strcmp(t, "timetz") ? SL_VAL_TYPED : SL_VAL_MISSING;
}

static const char my_catalog[] =
    "SELECT c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.IS_NULLABLE = 'YES', "
    "COALESCE(c.NUMERIC_PRECISION, c.DATETIME_PRECISION, c.CHARACTER_MAXIMUM_LENGTH, -1), "
    "COALESCE(c.NUMERIC_SCALE, -1), c.CHARACTER_SET_NAME, "
    "COALESCE((SELECT s.SEQ_IN_INDEX FROM information_schema.STATISTICS s WHERE "
    "s.TABLE_SCHEMA = c.TABLE_SCHEMA AND s.TABLE_NAME = c.TABLE_NAME AND "
    "s.INDEX_NAME = 'PRIMARY' AND s.COLUMN_NAME = c.COLUMN_NAME), 0) "
    "FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = %s AND c.TABLE_NAME = %s "
    "ORDER BY c.ORDINAL_POSITION";

static const char pg_catalog[] =
    "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
    "CASE WHEN t.typname = 'numeric' AND a.atttypmod > 0 THEN ((a.atttypmod - 4) >> 16) "
    "WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 0 THEN a.atttypmod - 4 "
    "WHEN t.typname IN ('timestamp', 'timestamptz', 'time') THEN "
    "CASE WHEN a.atttypmod >= 0 THEN a.atttypmod ELSE 6 END "
    "WHEN t.typname IN ('bit', 'varbit') THEN a.atttypmod ELSE -1 END, "
    "CASE WHEN t.typname = 'numeric' AND a.atttypmod > 0 THEN ((a.atttypmod - 4) & 65535) "
    "ELSE -1 END, NULL, "
    "COALESCE((SELECT k.n FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY "
    "k(att, n) WHERE i.indrelid = c.oid AND i.indisprimary AND k.att = a.attnum), 0) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') ORDER BY a.attnum";

/* Column i of the schema named `name` (exact), -1 none. */
static int col_index(const sl_schema_t *sc, const char *name, size_t n)
{
    for (uint32_t i = 0; i < sc->ncols; i++)
        if (strlen(sc->cols[i].name) == n && !memcmp(sc->cols[i].name, name, n))
            return (int)i;
    return -1;
}

/* The keyset order: split_pk's columns (comma separated), then the primary
 * key's columns not among them. */
static sl_err_t pick_key(const sl_schema_t *sc, const char *split_pk, app_dtable_t *d,
                         const char *what, char *errstr, size_t sz)
{
    const char *p = split_pk ? split_pk : "";
    d->nkey = 0;
    while (*p) {
        size_t n = strcspn(p, ",");
        while (n && p[0] == ' ') { p++; n--; }
        size_t m = n;
        while (m && p[m - 1] == ' ') m--;
        int i = col_index(sc, p, m);
        if (m && i < 0) {
            snprintf(errstr, sz, "direct: %s has no column \"%.*s\" (split.pk)", what, (int)m, p);
            return SL_ERR_INVALID;
        }
        if (m && d->nkey < APP_DIRECT_MAX_KEY)
            d->key[d->nkey++] = (uint32_t)i;
        p += n + (p[n] == ',');
    }
    int havepk = 0;
    for (int k = 1; k <= APP_DIRECT_MAX_KEY; k++)
        for (uint32_t i = 0; i < sc->ncols; i++) {
            if (sc->cols[i].pk != k)
                continue;
            havepk = 1;
            int dup = 0;
            for (uint32_t j = 0; j < d->nkey; j++)
                dup |= d->key[j] == i;
            if (!dup && d->nkey < APP_DIRECT_MAX_KEY)
                d->key[d->nkey++] = i;
        }
    if (!havepk) {
        /* the targets upsert by the primary key, and a keyset over a
         * non-unique order could skip rows: both need one */
        snprintf(errstr, sz, "direct: %s has no primary key (a direct task copies tables "
                 "with one)", what);
        return SL_ERR_UNSUPPORTED;
    }
    return SL_OK;
}

sl_err_t app_dsrc_describe(app_dsrc_t *s, const char *db, const char *table,
                           const char *split_pk, const char *diff_column, app_dtable_t *out,
                           char *errstr, size_t errstr_size)
{
    sl_buf_t q = SL_BUF_INIT, lit1 = SL_BUF_INIT, lit2 = SL_BUF_INIT;
    res_t r = {0};
    sl_err_t err;
    char what[600];
    const char *params[2] = {db, table};
    snprintf(what, sizeof what, "table %s.%s", db, table);
    memset(out, 0, sizeof(*out));
    out->diff = -1;
    if (s->pg) {
        sl_buf_puts(&q, pg_catalog);
    } else {
        app_dsrc_my_literal(s, &lit1, db, strlen(db));
        app_dsrc_my_literal(s, &lit2, table, strlen(table));
        sl_buf_printf(&q, my_catalog, lit1.data, lit2.data);
    }
    if ((err = app_dsrc_run(s, &q, params, 2, &r, "reading the catalog", errstr, errstr_size)))
        goto out;
    if (r.nrows == 0) {
        snprintf(errstr, errstr_size, "direct: source %s %s does not exist", app_dsrc_engine(s),
                 what);
        err = SL_ERR_NOT_FOUND;
        goto out;
    }
    if (!(out->schema = sl_record_new()) ||
        (err = sl_record_init_schema(out->schema, "direct", db, table, (uint32_t)r.nrows))) {
        err = SL_ERR_NOMEM;
        goto out;
    }
    sl_schema_t *sc = &out->schema->u.schema;
    for (int i = 0; app_dsrc_res_row(&r, i); i++) {
        sl_column_t *col = &sc->cols[i];
        size_t n;
        const char *name = app_dsrc_res_cell(&r, 0, &n), *dt = app_dsrc_res_cell(&r, 1, &n);
        const char *full = app_dsrc_res_cell(&r, 2, &n), *cs = app_dsrc_res_cell(&r, 6, &n);
        int tk;
        col->name = sl_record_strdup(out->schema, name);
        col->source_type = sl_record_strdup(out->schema, full);
        col->nullable = atoi(app_dsrc_res_cell(&r, 3, &n)) || !strcmp(app_dsrc_res_cell(&r, 3, &n), "t");
        col->precision = atoi(app_dsrc_res_cell(&r, 4, &n));
        col->scale = atoi(app_dsrc_res_cell(&r, 5, &n));
        col->charset = cs ? sl_record_strdup(out->schema, cs) : NULL;
        col->pk = atoi(app_dsrc_res_cell(&r, 7, &n));
        col->kind = kind_of(s->pg, dt, full, &tk);
        if (!col->name || !col->source_type) {
            err = SL_ERR_NOMEM;
            goto out;
        }
        if (col->kind == SL_VAL_MISSING) {
            snprintf(errstr, errstr_size, "direct: %s column %s: type %s is not read by "
                     "direct tasks (replicate the table through the collector instead)",
                     what, name, full);
            err = SL_ERR_UNSUPPORTED;
            goto out;
        }
        if (!s->pg && col->kind == SL_VAL_SET) {
            /* the labels, for the targets' DDL: set('a','b') */
            uint32_t nl = 0;
            for (const char *p = full; *p; p++)
                nl += *p == '\'' ;
            nl /= 2;
            col->labels = sl_record_alloc(out->schema, (nl ? nl : 1) * sizeof(char *));
            for (const char *p = strchr(full, '\''); p && col->labels && col->nlabels < nl;) {
                const char *e = strchr(p + 1, '\'');
                if (!e)
                    break;
                col->labels[col->nlabels++] = sl_record_memdup(out->schema, p + 1,
                                                               (size_t)(e - p - 1));
                p = strchr(e + 1, '\'');
            }
        }
        if (diff_column && *diff_column && !strcmp(name, diff_column)) {
            if (col->kind != SL_VAL_INT && col->kind != SL_VAL_UINT &&
                (col->kind != SL_VAL_TEMPORAL || tk == SL_T_TIME || tk == SL_T_INTERVAL)) {
                snprintf(errstr, errstr_size, "direct: %s diff_column %s is %s: it must be "
                         "an integer or a date / datetime / timestamp column", what, name,
                         full);
                err = SL_ERR_INVALID;
                goto out;
            }
            out->diff = i;
            out->diff_temporal = col->kind == SL_VAL_TEMPORAL;
        }
    }
    if (diff_column && *diff_column && out->diff < 0) {
        snprintf(errstr, errstr_size, "direct: %s has no column \"%s\" (diff_column)", what,
                 diff_column);
        err = SL_ERR_INVALID;
        goto out;
    }
    err = pick_key(sc, split_pk, out, what, errstr, errstr_size);
out:
    app_dsrc_res_free(&r);
    sl_buf_free(&q);
    sl_buf_free(&lit1);
    sl_buf_free(&lit2);
    if (err && out->schema) {
        sl_record_destroy(out->schema);
        out->schema = NULL;
    }
    return err;
}

/* -------------------------------------------------------------- chunks */

/* The select list item of a column: PostgreSQL timestamptz as its UTC
 * wall-clock text (no "+00" suffix the MariaDB target would refuse). */
static void put_select(app_dsrc_t *s, sl_buf_t *q, const sl_column_t *c)
{
    app_dsrc_ident(s, q, c->name);
    if (s->pg && c->kind == SL_VAL_TEMPORAL && c->source_type &&
        strstr(c->source_type, "timestamp") && strstr(c->source_type, "with time zone"))
        sl_buf_puts(q, " AT TIME ZONE 'UTC'");
}

/* A literal / parameter for a value of column c (text v). */
static sl_err_t put_value(app_dsrc_t *s, sl_buf_t *q, const sl_column_t *c, const char *v,
                          const char **params, int *np)
{
    if (!s->pg)
        return app_dsrc_my_literal(s, q, v, strlen(v));
    params[*np] = v;
    (*np)++;
    /* timestamptz values are kept as UTC texts: read them back in UTC */
    return sl_buf_printf(q, "$%d", *np);
    (void)c;
}

/* The keyset builder's values (sl_keyset.h): the continuation's texts as
 * put_value writes them. */
typedef struct key_values_s {
    app_dsrc_t         *s;
    const sl_schema_t  *sc;
    const app_dtable_t *d;
    char *const        *after;
    const char        **params;
    int                *np;
} key_values_t;

static sl_err_t put_key_value(void *ctx, sl_buf_t *q, int bound, uint32_t i, uint32_t seq)
{
    key_values_t *k = ctx;
    (void)bound;
    (void)seq;
    return put_value(k->s, q, &k->sc->cols[k->d->key[i]], k->after[i], k->params, k->np);
}

static sl_err_t set_value(sl_record_t *rec, sl_value_t *v, const sl_column_t *c, int pg,
                          const char *x, size_t n, char *errstr, size_t sz)
{
    char tmp[64];
    if (!x) {
        v->kind = SL_VAL_NULL;
        return SL_OK;
    }
    switch (c->kind) {
    case SL_VAL_INT:
    case SL_VAL_UINT:
    case SL_VAL_FLOAT:
    case SL_VAL_DOUBLE:
        if (n >= sizeof tmp)
            break;
        memcpy(tmp, x, n);
        tmp[n] = '\0';
        v->kind = c->kind;
        errno = 0;
        if (c->kind == SL_VAL_INT)
            v->u.i = strtoll(tmp, NULL, 10);
        else if (c->kind == SL_VAL_UINT)
            v->u.u = strtoull(tmp, NULL, 10);
        else if (c->kind == SL_VAL_FLOAT)
            v->u.f = strtof(tmp, NULL);
        else
            v->u.d = strtod(tmp, NULL);
        if (errno == ERANGE && c->kind != SL_VAL_FLOAT && c->kind != SL_VAL_DOUBLE)
            break;
        return SL_OK;
    case SL_VAL_BOOL:
        v->kind = SL_VAL_BOOL;
        v->u.b = n && (x[0] == 't' || x[0] == '1');
        return SL_OK;
    case SL_VAL_BYTES:
        if (pg && n >= 2 && x[0] == '\\' && x[1] == 'x') {
            /* bytea's hex output */
            size_t m = (n - 2) / 2;
            char *b = sl_record_alloc(rec, m + 1);
            if (!b)
                return SL_ERR_NOMEM;
            for (size_t i = 0; i < m; i++)
                b[i] = (char)(app_dsrc_hexval(x[2 + 2 * i]) * 16 + app_dsrc_hexval(x[3 + 2 * i]));
            v->kind = SL_VAL_BYTES;
            v->data = b;
            v->len = m;
            return SL_OK;
        }
        return sl_value_set_text(rec, v, SL_VAL_BYTES, x, n);
    case SL_VAL_BIT:
        if (pg) {
            /* '0101...' → big-endian bytes, nbits = the digits */
            uint8_t *b = sl_record_alloc(rec, (n + 7) / 8 + 1);
            if (!b)
                return SL_ERR_NOMEM;
            size_t pad = (8 - n % 8) % 8;
            for (size_t i = 0; i < n; i++)
                if (x[i] == '1')
                    b[(i + pad) / 8] |= (uint8_t)(0x80 >> ((i + pad) % 8));
            return sl_value_set_bit(rec, v, (uint32_t)n, b, (n + 7) / 8);
        } else {
            uint32_t nbits = c->precision > 0 ? (uint32_t)c->precision : (uint32_t)n * 8;
            if ((nbits + 7) / 8 != n)
                break;
            return sl_value_set_bit(rec, v, nbits, x, n);
        }
    case SL_VAL_SET: {
        /* "a,b" → labels back to back, each NUL-terminated */
        char *b = sl_record_alloc(rec, n + 1);
        uint32_t k = n ? 1 : 0;
        if (!b)
            return SL_ERR_NOMEM;
        for (size_t i = 0; i < n; i++) {
            b[i] = x[i] == ',' ? '\0' : x[i];
            k += x[i] == ',';
        }
        v->kind = SL_VAL_SET;
        v->data = b;
        v->len = n ? n + 1 : 0;
        v->n = k;
        return SL_OK;
    }
    case SL_VAL_TEMPORAL: {
        const char *st = c->source_type ? c->source_type : "";
        sl_temporal_kind_t k = !strncmp(st, "date", 4) && strncmp(st, "datetime", 8) ? SL_T_DATE
            : !strncmp(st, "datetime", 8) ? SL_T_DATETIME
            : strstr(st, "timestamp") && (strstr(st, "with time zone") || !pg)
                ? (pg ? SL_T_TIMESTAMPTZ : SL_T_TIMESTAMP)
            : !strncmp(st, "timestamp", 9) ? SL_T_DATETIME
            : !strncmp(st, "interval", 8) ? SL_T_INTERVAL : SL_T_TIME;
        return sl_value_set_temporal(rec, v, k, x, n, 0, 0,
                                     c->precision >= 0 && c->precision <= 6 ? c->precision : 6,
                                     0, 0);
    }
    case SL_VAL_TYPED:
        return sl_value_set_typed(rec, v, c->source_type, x, n);
    default:
        return sl_value_set_text(rec, v, c->kind, x, n);
    }
    snprintf(errstr, sz, "direct: column %s: value \"%.*s\" does not fit %s", c->name,
             (int)(n > 40 ? 40 : n), x, c->source_type ? c->source_type : "?");
    return SL_ERR_INVALID;
}

sl_err_t app_dsrc_chunk(app_dsrc_t *s, const app_dtable_t *d, char *const *after,
                        const char *diff_from, const char *lo, const char *hi,
                        uint32_t limit, sl_record_t *out, char **last, char **max_diff,
                        char *errstr, size_t errstr_size)
{
    const sl_schema_t *sc = &d->schema->u.schema;
    sl_buf_t q = SL_BUF_INIT;
    const char *params[2 * APP_DIRECT_MAX_KEY * APP_DIRECT_MAX_KEY + 3];
    const char **names = NULL;
    int np = 0;
    res_t r = {0};
    sl_err_t err = SL_OK;

    sl_buf_puts(&q, "SELECT ");
    for (uint32_t i = 0; i < sc->ncols; i++) {
        if (i)
            sl_buf_puts(&q, ", ");
        put_select(s, &q, &sc->cols[i]);
    }
    sl_buf_puts(&q, " FROM ");
    app_dsrc_ident(s, &q, sc->db);
    sl_buf_putc(&q, '.');
    app_dsrc_ident(s, &q, sc->table);
    sl_buf_puts(&q, " WHERE 1 = 1");
    const char *knames[APP_DIRECT_MAX_KEY];
    for (uint32_t i = 0; i < d->nkey && i < APP_DIRECT_MAX_KEY; i++)
        knames[i] = sc->cols[d->key[i]].name;
    key_values_t kv = {s, sc, d, after, params, &np};
    sl_keyset_t ks = {s->pg ? SL_KEYSET_PG : SL_KEYSET_MARIADB, d->nkey, knames, NULL,
                      put_key_value, &kv, 0};
    if (after) {
        sl_buf_puts(&q, " AND ");
        if ((err = sl_keyset_pred(&ks, &q, 1, 0, NULL)))
            goto out;
    }
    for (int b = 0; b < 2; b++) {
        const char *v = b ? hi : lo;
        if (!v)
            continue;
        sl_buf_puts(&q, " AND ");
        app_dsrc_ident(s, &q, sc->cols[d->key[0]].name);
        sl_buf_puts(&q, b ? " < " : " >= ");
        if ((err = put_value(s, &q, &sc->cols[d->key[0]], v, params, &np)))
            goto out;
    }
    if (diff_from && d->diff >= 0) {
        sl_buf_puts(&q, " AND ");
        app_dsrc_ident(s, &q, sc->cols[d->diff].name);
        sl_buf_puts(&q, " >= ");
        if ((err = put_value(s, &q, &sc->cols[d->diff], diff_from, params, &np)))
            goto out;
    }
    if ((err = sl_keyset_order(&ks, &q)))
        goto out;
    sl_buf_printf(&q, " LIMIT %u", limit);
    if ((err = app_dsrc_run(s, &q, params, np, &r, "reading a chunk", errstr, errstr_size)))
        goto out;

    if (!(names = malloc((sc->ncols ? sc->ncols : 1) * sizeof(*names)))) {
        err = SL_ERR_NOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < sc->ncols; i++)
        names[i] = sc->cols[i].name;
    sl_record_reset(out);
    if ((err = sl_record_init_change(out, "direct", sc->db, sc->table, SL_OP_READ, sc->ncols,
                                     names, (uint32_t)r.nrows)))
        goto out;
    for (int i = 0; app_dsrc_res_row(&r, i); i++) {
        sl_value_t *img = out->u.change.rows[i].after;
        for (uint32_t c = 0; c < sc->ncols; c++) {
            size_t n;
            const char *x = app_dsrc_res_cell(&r, (int)c, &n);
            if ((err = set_value(out, &img[c], &sc->cols[c], s->pg, x, n, errstr,
                                 errstr_size)))
                goto out;
        }
        if (d->diff >= 0) {
            size_t n;
            const char *x = app_dsrc_res_cell(&r, d->diff, &n);
            char *t;
            if (x && (!*max_diff || app_direct_diff_cmp(d, x, *max_diff) > 0)) {
                if (!(t = strndup(x, n))) {
                    err = SL_ERR_NOMEM;
                    goto out;
                }
                free(*max_diff);
                *max_diff = t;
            }
        }
        if (i == r.nrows - 1)
            for (uint32_t k = 0; k < d->nkey; k++) {
                size_t n;
                const char *x = app_dsrc_res_cell(&r, (int)d->key[k], &n);
                char *t = strndup(x ? x : "", n);
                if (!t) {
                    err = SL_ERR_NOMEM;
                    goto out;
                }
                free(last[k]);
                last[k] = t;
            }
    }
out:
    free(names);
    app_dsrc_res_free(&r);
    sl_buf_free(&q);
    return err;
}

sl_err_t app_dsrc_clock(app_dsrc_t *s, const app_dtable_t *d, int64_t lag_ms, char **out,
                        char *errstr, size_t errstr_size)
{
    sl_buf_t q = SL_BUF_INIT;
    res_t r;
    const sl_column_t *c = &d->schema->u.schema.cols[d->diff];
    int date = !strcmp(c->source_type, "date");
    sl_err_t err;
    *out = NULL;
    if (s->pg)
        sl_buf_printf(&q, "SELECT (clock_timestamp() AT TIME ZONE 'UTC' - interval '%lld "
                      "milliseconds')::%s", (long long)lag_ms, date ? "date" : "timestamp");
    else
        sl_buf_printf(&q, "SELECT %s(NOW(6) - INTERVAL %lld MICROSECOND)",
                      date ? "DATE" : "", (long long)lag_ms * 1000);
    if ((err = app_dsrc_run(s, &q, NULL, 0, &r, "reading the clock", errstr, errstr_size)))
        goto out;
    size_t n;
    const char *v = app_dsrc_res_row(&r, 0) ? app_dsrc_res_cell(&r, 0, &n) : NULL;
    if (!v || !(*out = strndup(v, n)))
        err = SL_ERR_NOMEM;
    app_dsrc_res_free(&r);
out:
    sl_buf_free(&q);
    return err;
}

int app_direct_diff_cmp(const app_dtable_t *d, const char *a, const char *b)
{
    if (!d->diff_temporal) {
        /* integers: by sign, then length, then digits */
        int na = a[0] == '-', nb = b[0] == '-';
        if (na != nb)
            return na ? -1 : 1;
        size_t la = strlen(a), lb = strlen(b);
        int c = la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
        return na ? -c : c;
    }
    /* "YYYY-MM-DD HH:MM:SS[.f...]": fixed-width fields, fraction digits in
     * place: byte order is time order (a shorter fraction is a prefix) */
    return strcmp(a, b);
}

sl_err_t app_dsrc_bounds(app_dsrc_t *s, const app_dtable_t *d, char **min, char **max,
                         char *errstr, size_t errstr_size)
{
    const sl_schema_t *sc = &d->schema->u.schema;
    sl_buf_t q = SL_BUF_INIT;
    res_t r;
    sl_err_t err;
    *min = *max = NULL;
    sl_buf_puts(&q, "SELECT MIN(");
    app_dsrc_ident(s, &q, sc->cols[d->key[0]].name);
    sl_buf_puts(&q, "), MAX(");
    app_dsrc_ident(s, &q, sc->cols[d->key[0]].name);
    sl_buf_puts(&q, ") FROM ");
    app_dsrc_ident(s, &q, sc->db);
    sl_buf_putc(&q, '.');
    app_dsrc_ident(s, &q, sc->table);
    if ((err = app_dsrc_run(s, &q, NULL, 0, &r, "reading the key's bounds", errstr,
                            errstr_size)))
        goto out;
    size_t n1, n2;
    const char *a = app_dsrc_res_row(&r, 0) ? app_dsrc_res_cell(&r, 0, &n1) : NULL;
    const char *b = a ? app_dsrc_res_cell(&r, 1, &n2) : NULL;
    if (a && b && (!(*min = strndup(a, n1)) || !(*max = strndup(b, n2))))
        err = SL_ERR_NOMEM;
    app_dsrc_res_free(&r);
out:
    sl_buf_free(&q);
    return err;
}
