/* shiftlog validate: the PostgreSQL engine (validate.h). Every row is
 * hashed on the server: ('x' || substr(md5(<canonical text of each
 * column>), 1, 16))::bit(64)::bigint, a range's checksum is count(*) and
 * bit_xor (PostgreSQL 14+) of it. The 64 bits are those MariaDB's CONV()
 * gives; the sign is only how bigint reads them.
 *
 * Key ranges are row comparisons, (k1, k2) > ($1, $2), served by the key's
 * btree index; key values are text parameters the server casts to the
 * column's type. A text key is compared byte-wise (COLLATE "C"), as the
 * other engines are asked to, unless its collation already sorts so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "sl_keyset.h"
#include "sl_name.h"
#include "sl_pgconn.h"
#include "validate.h"

typedef struct vpg_s {
    val_sqle_t         sql;                  /* first: the shared steps' part (validate_sql.c) */
    PGconn            *c;
    char               nsp[256], rel[256];
    int                c_db;                 /* the database's collation sorts byte-wise */
    const val_table_t *t;
    char              *kexpr[VAL_MAX_KEY];
    char              *korder[VAL_MAX_KEY];
    int                kbytea[VAL_MAX_KEY];
    const char        *params[2 * VAL_MAX_KEY];   /* the range's values ($1...) */
    int                np;
    int                row;                  /* the current row of a result */
} vpg_t;

static sl_err_t fail(vpg_t *s, PGresult *r, const char *what, char *errstr, size_t errstr_size)
{
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(s->c);
    snprintf(errstr, errstr_size, "PostgreSQL %s.%s: %s: %.*s", s->nsp, s->rel, what,
             (int)strcspn(m, "\n"), m);
    PQclear(r);
    return SL_ERR_DB;
}

static PGresult *run(vpg_t *s, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(s->c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
        return r;
    return r ? r : NULL;
}

static int ok(PGresult *r)
{
    return r && (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK);
}

static sl_err_t put_ident(vpg_t *s, sl_buf_t *b, const char *name)
{
    char *q = PQescapeIdentifier(s->c, name, strlen(name));
    sl_err_t err = q ? sl_buf_puts(b, q) : SL_ERR_NOMEM;
    PQfreemem(q);
    return err;
}

/* The table, aliased _v: key columns are named _v.k in ORDER BY, where a
 * bare k would name the output column of the same name (its text). */
static sl_err_t put_table(vpg_t *s, sl_buf_t *b)
{
    sl_err_t err = put_ident(s, b, s->nsp);
    if (!err)
        err = sl_buf_putc(b, '.');
    if (!err)
        err = put_ident(s, b, s->rel);
    return err ? err : sl_buf_puts(b, " AS _v");
}

static sl_err_t set_table(vpg_t *s, const char *table, char *errstr, size_t errstr_size)
{
    if (sl_name_parse(table, s->nsp, sizeof s->nsp, s->rel, sizeof s->rel)) {
        snprintf(errstr, errstr_size, "PostgreSQL table \"%s\" is not schema.table", table);
        return SL_ERR_INVALID;
    }
    return SL_OK;
}

/* name, type name, typmod, collation, type category, format_type */
static PGresult *columns(vpg_t *s, char *errstr, size_t errstr_size)
{
    const char *p[2] = {s->nsp, s->rel};
    PGresult *r = run(s,
        "SELECT a.attname, t.typname, a.atttypmod, coalesce(co.collname, ''), t.typcategory "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON "
        "n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_collation co "
        "ON co.oid = a.attcollation WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum", 2, p);
    if (!ok(r)) {
        fail(s, r, "reading its columns", errstr, errstr_size);
        return NULL;
    }
    if (!PQntuples(r)) {
        snprintf(errstr, errstr_size, "PostgreSQL table %s.%s does not exist", s->nsp, s->rel);
        PQclear(r);
        return NULL;
    }
    return r;
}

static val_kind_t kind_of(const char *typ)
{
    static const struct { const char *t; val_kind_t k; } map[] = {
        {"int2", VK_INT}, {"int4", VK_INT}, {"int8", VK_INT}, {"oid", VK_INT},
        {"numeric", VK_DEC}, {"float4", VK_FLOAT}, {"float8", VK_FLOAT}, {"bool", VK_BOOL},
        {"date", VK_DATE}, {"timestamp", VK_DATETIME}, {"timestamptz", VK_DATETIME},
        {"bytea", VK_BYTES}, {"bit", VK_BIT}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(typ, map[i].t))
            return map[i].k;
    return VK_TEXT;
}

static sl_err_t pg_describe(void *ctx, const char *table, val_table_t *t, char *errstr,
                            size_t errstr_size)
{
    vpg_t *s = ctx;
    PGresult *r = NULL;
    sl_err_t err = set_table(s, table, errstr, errstr_size);
    memset(t, 0, sizeof *t);
    if (err || !(r = columns(s, errstr, errstr_size)))
        return err ? err : SL_ERR_NOT_FOUND;
    int n = PQntuples(r);
    if (!(t->cols = calloc((size_t)n, sizeof *t->cols)))
        goto nomem;
    for (int i = 0; i < n; i++) {
        val_col_t *c = &t->cols[i];
        if (!(c->name = strdup(PQgetvalue(r, i, 0))))
            goto nomem;
        t->ncols++;
        c->kind = kind_of(PQgetvalue(r, i, 1));
        c->bits = atoi(PQgetvalue(r, i, 2));
    }
    PQclear(r);
    const char *p[2] = {s->nsp, s->rel};
    r = run(s, "WITH ix AS (SELECT i.indrelid, i.indkey, i.indnkeyatts FROM pg_index i JOIN "
            "pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relname = $2 AND i.indisvalid AND (i.indisprimary OR "
            "(i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM unnest(i.indkey) WITH ORDINALITY k(att, n) JOIN pg_attribute a ON "
            "a.attrelid = i.indrelid AND a.attnum = k.att WHERE k.n <= i.indnkeyatts AND NOT "
            "a.attnotnull))) ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid LIMIT 1) "
            "SELECT a.attname FROM ix CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY "
            "k(att, n) JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.att "
            "WHERE k.n <= ix.indnkeyatts ORDER BY k.n", 2, p);
    if (!ok(r))
        return fail(s, r, "reading its keys", errstr, errstr_size);
    n = PQntuples(r);
    if (!n || n > VAL_MAX_KEY) {
        snprintf(errstr, errstr_size, "PostgreSQL table %s.%s has no primary key and no unique "
                 "index of NOT NULL columns (of at most %d): it cannot be compared in key "
                 "ranges", s->nsp, s->rel, VAL_MAX_KEY);
        PQclear(r);
        return SL_ERR_UNSUPPORTED;
    }
    for (int k = 0; k < n; k++) {
        uint32_t i;
        for (i = 0; i < t->ncols && strcmp(t->cols[i].name, PQgetvalue(r, k, 0)); i++)
            ;
        t->key[t->nkey++] = i;
    }
    PQclear(r);
    return SL_OK;
nomem:
    PQclear(r);
    snprintf(errstr, errstr_size, "out of memory");
    return SL_ERR_NOMEM;
}

/* The canonical text (validate.h) of column id of type typ (category cat)
 * holding values of family k. */
static sl_err_t put_canon(sl_buf_t *b, const char *id, const char *typ, char cat, val_kind_t k)
{
    if (!strcmp(typ, "bool"))
        return sl_buf_printf(b, "CASE WHEN %s THEN '1' ELSE '0' END", id);
    if (!strcmp(typ, "float4") || !strcmp(typ, "float8"))   /* a float4 by its exact value */
        return sl_buf_printf(b, "regexp_replace(%s::float8::text, 'e\\+?(-?)0*([0-9])', "
                             "'e\\1\\2')", id);
    /* to_char() gives NULL for ±infinity and no era: those keep their own text
     * ('infinity' is what the collector publishes and a MongoDB target holds;
     * MariaDB has neither), a BC one gets " BC" as ::text writes it */
    if (!strcmp(typ, "timestamp") || !strcmp(typ, "timestamptz"))
        return sl_buf_printf(b, "CASE WHEN NOT isfinite(%1$s) THEN %1$s::text WHEN "
                             "to_char(%1$s, 'BC') = 'BC' THEN to_char(%1$s, 'YYYY-MM-DD "
                             "HH24:MI:SS.US BC') ELSE to_char(%1$s, 'YYYY-MM-DD HH24:MI:SS.US') "
                             "END", id);
    if (!strcmp(typ, "interval") && k == VK_TIME)
        return sl_buf_printf(b, "(extract(epoch FROM %s) * 1000000)::bigint::text", id);
    if (!strcmp(typ, "bytea"))
        return sl_buf_printf(b, "encode(%s, 'hex')", id);
    if (cat == 'A' && k == VK_SET)
        return sl_buf_printf(b, "array_to_string(%s, ',')", id);
    return sl_buf_printf(b, "%s::text", id);
}

static int bytewise_coll(const char *c)
{
    return !strcmp(c, "C") || !strcmp(c, "POSIX") || !strcmp(c, "ucs_basic");
}

static sl_err_t pg_bind(void *ctx, const char *table, const val_table_t *t, char *errstr,
                        size_t errstr_size)
{
    vpg_t *s = ctx;
    PGresult *r = NULL;
    sl_err_t err = set_table(s, table, errstr, errstr_size);
    if (err || !(r = columns(s, errstr, errstr_size)))
        return err ? err : SL_ERR_NOT_FOUND;
    s->t = s->sql.t = t;
    int nrows = PQntuples(r);
    sl_buf_t e = SL_BUF_INIT, id = SL_BUF_INIT;
    err = SL_ERR_NOMEM;
    sl_buf_reset(&s->sql.hash);
    if (sl_buf_puts(&s->sql.hash, "('x' || substr(md5("))
        goto out;
    for (uint32_t i = 0; i < t->ncols; i++) {
        int j;
        for (j = 0; j < nrows && strcmp(PQgetvalue(r, j, 0), t->cols[i].name); j++)
            ;
        if (j == nrows)
            for (j = 0; j < nrows && strcasecmp(PQgetvalue(r, j, 0), t->cols[i].name); j++)
                ;
        if (j == nrows) {
            snprintf(errstr, errstr_size, "PostgreSQL table %s.%s has no column \"%s\"",
                     s->nsp, s->rel, t->cols[i].name);
            err = SL_ERR_NOT_FOUND;
            goto out;
        }
        const char *typ = PQgetvalue(r, j, 1), *coll = PQgetvalue(r, j, 3);
        sl_buf_reset(&e);
        sl_buf_reset(&id);
        if (put_ident(s, &id, PQgetvalue(r, j, 0)) ||
            put_canon(&e, id.data, typ, PQgetvalue(r, j, 4)[0], t->cols[i].kind) ||
            (i && sl_buf_puts(&s->sql.hash, " || ")) ||
            (val_kind_digested(t->cols[i].kind)   /* its MD5 (validate.h): bytea's own bytes */
                 ? sl_buf_printf(&s->sql.hash, "coalesce(md5(%s), 'N')",
                                 !strcmp(typ, "bytea") ? id.data : e.data)
                 : sl_buf_printf(&s->sql.hash, "coalesce(octet_length(%s)::text || ':' || %s, "
                                 "'N')", e.data, e.data)))
            goto out;
        for (uint32_t k = 0; k < t->nkey; k++) {
            if (t->key[k] != i)
                continue;
            int text = t->cols[i].kind == VK_TEXT && coll[0] &&
                       !bytewise_coll(coll) && !(!strcmp(coll, "default") && s->c_db);
            s->kbytea[k] = !strcmp(typ, "bytea");
            free(s->kexpr[k]);
            free(s->korder[k]);
            s->kexpr[k] = strdup(e.data);
            sl_buf_t o = SL_BUF_INIT;
            if (sl_buf_puts(&o, "_v.") || sl_buf_puts(&o, id.data) || (text && sl_buf_puts(&o, " COLLATE \"C\""))) {
                sl_buf_free(&o);
                goto out;
            }
            s->korder[k] = o.data;
            if (!s->kexpr[k] || !s->korder[k])
                goto out;
        }
    }
    if (nrows && sl_buf_puts(&s->sql.hash, "), 1, 16))::bit(64)::bigint"))
        goto out;
    err = SL_OK;
out:
    if (err == SL_ERR_NOMEM)
        snprintf(errstr, errstr_size, "out of memory");
    sl_buf_free(&e);
    sl_buf_free(&id);
    PQclear(r);
    return err;
}

/* ------------------------------------------------------------ queries */

/* A bound's value i: the parameter $<seq + 1>, hex-decoded for bytea. */
static sl_err_t put_param(void *ctx, sl_buf_t *b, int bound, uint32_t i, uint32_t seq)
{
    vpg_t *s = ctx;
    (void)bound;
    return sl_buf_printf(b, s->kbytea[i] ? "decode($%u, 'hex')" : "$%u", (unsigned)seq + 1);
}

/* WHERE of (after, upto] as row comparisons, (k1, k2) > ($1, $2); s->params
 * gets the values in order, s->np how many (validate_sql.c's where). */
static sl_err_t sql_where(void *ctx, sl_buf_t *b, char *const *after, char *const *upto)
{
    vpg_t *s = ctx;
    uint32_t n = s->t->nkey;
    sl_keyset_t k = {SL_KEYSET_PG, n, NULL, (const char *const *)s->korder, put_param, s, 0};
    s->np = 0;
    for (uint32_t i = 0; after && i < n; i++)
        s->params[s->np++] = after[i];
    for (uint32_t i = 0; upto && i < n; i++)
        s->params[s->np++] = upto[i];
    return sl_keyset_where(&k, b, after != NULL, upto != NULL, NULL);
}

static sl_err_t sql_table(void *ctx, sl_buf_t *b)
{
    return put_table(ctx, b);
}

/* Runs q with the values sql_where bound (then forgotten: a query without
 * a range binds none). */
static void *sql_query(void *ctx, const sl_buf_t *q, const char *what, char *errstr,
                       size_t errstr_size)
{
    vpg_t *s = ctx;
    PGresult *r = run(s, q->data, s->np, s->params);
    s->np = 0;
    s->row = -1;
    if (ok(r))
        return r;
    fail(s, r, what, errstr, errstr_size);
    return NULL;
}

static int sql_next(void *ctx, void *res)
{
    vpg_t *s = ctx;
    return ++s->row < PQntuples(res);
}

static const char *sql_cell(void *ctx, void *res, uint32_t i)
{
    return PQgetvalue(res, ((vpg_t *)ctx)->row, (int)i);
}

static void sql_clear(void *res)
{
    PQclear(res);
}

static const val_sql_ops_t pg_sql_ops = {
    "coalesce(bit_xor(%s), 0)",
    "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
    "'information_schema') ORDER BY schemaname COLLATE \"C\", tablename COLLATE \"C\"",
    sql_table, sql_where, sql_query, sql_next, sql_cell, sql_clear};

static void pg_destroy(void *ctx)
{
    vpg_t *s = ctx;
    if (!s)
        return;
    PQfinish(s->c);
    for (int i = 0; i < VAL_MAX_KEY; i++) {
        free(s->kexpr[i]);
        free(s->korder[i]);
    }
    val_sqle_free(&s->sql);
    free(s);
}

sl_err_t val_pg_open(val_engine_t *e, const char *url, char *errstr, size_t errstr_size)
{
    vpg_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    char msg[1024];
    sl_pgconn_t pc = {.uri = url};
    PGresult *r = NULL;
    if (sl_pgconn_open(&pc, &s->c, msg, sizeof msg, NULL, 0)) {
        snprintf(errstr, errstr_size, "PostgreSQL: %.*s", (int)strcspn(msg, "\n"), msg);
        goto fail;
    }
    /* the canonical forms are written for these settings (UTC timestamps,
     * ISO dates, shortest exact floats, hex bytea) */
    r = PQexec(s->c, "SET DateStyle = ISO; SET TimeZone = 'UTC'; SET extra_float_digits = 1; "
            "SET IntervalStyle = postgres; SET bytea_output = hex");
    if (!ok(r)) {
        snprintf(errstr, errstr_size, "PostgreSQL: %s", PQresultErrorMessage(r));
        goto fail;
    }
    PQclear(r);
    r = run(s, "SELECT datcollate FROM pg_database WHERE datname = current_database()", 0, NULL);
    if (ok(r) && PQntuples(r)) {
        const char *c = PQgetvalue(r, 0, 0);
        s->c_db = bytewise_coll(c) || !strcmp(c, "C.UTF-8") || !strcmp(c, "C.utf8");
    }
    PQclear(r);
    s->sql.ops = &pg_sql_ops;
    s->sql.kexpr = s->kexpr;
    s->sql.korder = s->korder;
    memset(e, 0, sizeof *e);
    e->ctx = s;
    e->name = "PostgreSQL";
    e->describe = pg_describe;
    e->bind = pg_bind;
    e->boundary = val_sql_boundary;
    e->scan = val_sql_scan;
    e->checksum = val_sql_checksum;
    e->rows = val_sql_rows;
    e->list = val_sql_list;
    e->destroy = pg_destroy;
    return SL_OK;
fail:
    PQclear(r);
    pg_destroy(s);
    return SL_ERR_DB;
}
