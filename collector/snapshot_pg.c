/* shiftlog collector, PostgreSQL: the snapshot backend (snapshot.h) — the
 * published tables, chunks read by keyset pagination, and watermarks as
 * transactional logical decoding messages — on a libpq connection of its
 * own (never the walsender, never the decoder's catalog connection: the
 * engine runs between stream messages and must not disturb either).
 *
 * A chunk's values must be exactly what pgoutput gives for the same row,
 * since the engine matches snapshot keys against streamed keys and the
 * appliers store both: the columns are the ones a Relation message lists
 * (attnum order, no dropped or generated column, the publication's column
 * list), each value is the type's text output under the same session
 * settings (pg_connect: PG_SESSION_OPTIONS), converted by the stream's own
 * pg_value_from_text with the type resolved by the same pg_types cache and
 * the attribute's typmod. The publication's row filter applies too (the
 * stream only sends rows that pass it).
 *
 * Continuation ("last"): the text of the last row's key values, each
 * percent-encoded, joined by ','; parsed back into PQexecParams text
 * parameters, so any key type that has a text form pages exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_source.h"
#include "snapshot.h"
#include "sl_keyset.h"
#include "sl_log.h"

typedef struct snap_col_s {
    char            *name;
    uint32_t         typoid;
    int32_t          typmod;
    const pg_type_t *type;
} snap_col_t;

typedef struct snap_pg_s {
    const col_conf_t   *conf;
    const col_filter_t *filter;
    PGconn             *c;
    pg_types_t         *types;
    int                 version;       /* server_version_num */
    /* the table described last (read_chunk describes it on every call:
     * a DDL between two chunks must not go unseen) */
    uint32_t            ncols;
    snap_col_t         *cols;
    char              **names;
    uint32_t            nkey;
    uint32_t            key[COL_SNAP_MAX_KEY];
    char               *rowfilter;
    int                 only;          /* relkind 'r': SELECT FROM ONLY (no inheritance children) */
    char                sqlstate[6];   /* of the last failed query */
} snap_pg_t;

/* ------------------------------------------------------------ connection */

static sl_err_t type_resolver(void *ctx, uint32_t oid, pg_typdesc_t *out, char *errstr,
                              size_t errstr_size)
{
    snap_pg_t *s = ctx;
    if (!s->c) {
        snprintf(errstr, errstr_size, "no connection");
        return SL_ERR_DB;
    }
    return pg_catalog_type(s->c, oid, out, errstr, errstr_size);
}

static void drop_conn(snap_pg_t *s)
{
    if (s->c)
        PQfinish(s->c);
    s->c = NULL;
}

/* The connection, made on first use and again after a failure. */
static sl_err_t conn(snap_pg_t *s, char *errstr, size_t errstr_size)
{
    if (s->c && PQstatus(s->c) == CONNECTION_OK)
        return SL_OK;
    drop_conn(s);
    sl_err_t err = pg_connect(s->conf, 0, &s->c, errstr, errstr_size);
    if (err)
        return err;
    s->version = PQserverVersion(s->c);
    /* the watermarks' commits flush the WAL at once: the walsender streams only
     * flushed WAL, and under synchronous_commit = off a watermark (so its chunk)
     * waited for the WAL writer (wal_writer_delay, 200 ms by default) — most of a
     * snapshot's time. `local`: no wait for synchronous standbys */
    PGresult *r = PQexec(s->c, "SET synchronous_commit = local");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        snprintf(errstr, errstr_size, "source \"%s\": snapshot: SET synchronous_commit: %s",
                 s->conf->source_name, PQerrorMessage(s->c));
        drop_conn(s);
        return SL_ERR_DB;
    }
    return SL_OK;
}

/* Runs sql with text parameters; SL_OK with *res (caller PQclear). A failed
 * query says what it was doing; a lost connection is dropped (the next call
 * reconnects) and is SL_ERR_DB like any other failure. */
static sl_err_t run(snap_pg_t *s, PGresult **res, const char *what, const char *sql,
                    int n, const char *const *params, char *errstr, size_t errstr_size)
{
    PGresult *r = PQexecParams(s->c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *res = r;
        return SL_OK;
    }
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(s->c);
    const char *st5 = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", st5 ? st5 : "");
    snprintf(errstr, errstr_size, "source \"%s\": snapshot: %s: %.*s", s->conf->source_name,
             what, (int)strcspn(m, "\n"), m);
    PQclear(r);
    if (PQstatus(s->c) != CONNECTION_OK)
        drop_conn(s);
    *res = NULL;
    return SL_ERR_DB;
}

/* ------------------------------------------------------------ tables */

static sl_err_t op_tables(void *ctx,
                          sl_err_t (*add)(void *arg, const char *db, const char *table,
                                          const char *why),
                          void *arg, char *errstr, size_t errstr_size)
{
    snap_pg_t *s = ctx;
    PGresult *r;
    const char *p[1] = {s->conf->source_publication};
    sl_err_t err = conn(s, errstr, errstr_size);
    if (err)
        return err;
    /* the tables whose changes the stream publishes: a table the decoder
     * refuses (REPLICA IDENTITY NOTHING, DEFAULT without a primary key) has
     * no changes to follow its copy, so it is not copied either */
    if ((err = run(s, &r, "listing the publication's tables",
                   "SELECT t.schemaname, t.tablename, c.relreplident = 'n' OR (c.relreplident "
                   "= 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND "
                   "i.indisprimary)) FROM pg_publication_tables t JOIN pg_namespace n ON "
                   "n.nspname = t.schemaname JOIN pg_class c ON c.relnamespace = n.oid AND "
                   "c.relname = t.tablename WHERE t.pubname = $1 ORDER BY 1, 2",
                   1, p, errstr, errstr_size)))
        return err;
    for (int i = 0; i < PQntuples(r) && !err; i++) {
        const char *nsp = PQgetvalue(r, i, 0), *rel = PQgetvalue(r, i, 1);
        if (!col_filter_match(s->filter, nsp, rel))
            continue;
        err = add(arg, nsp, rel, PQgetvalue(r, i, 2)[0] != 't' ? NULL :
                  "the stream refuses its changes (REPLICA IDENTITY NOTHING, or DEFAULT "
                  "without a primary key)");
    }
    PQclear(r);
    return err;
}

/* ------------------------------------------------------------ describe */

static void forget_table(snap_pg_t *s)
{
    for (uint32_t i = 0; s->cols && i < s->ncols; i++)
        free(s->cols[i].name);
    free(s->cols);
    free(s->names);
    free(s->rowfilter);
    s->cols = NULL;
    s->names = NULL;
    s->rowfilter = NULL;
    s->ncols = s->nkey = 0;
}

/* Columns as pgoutput's Relation message lists them, the row filter, and
 * the key: the primary key, else the first unique, immediate, non-partial
 * index on plain NOT NULL columns (fewest columns first). */
static sl_err_t describe(snap_pg_t *s, const char *nsp, const char *rel, char *errstr,
                         size_t errstr_size)
{
    PGresult *r = NULL;
    sl_err_t err;
    const char *p[3] = {s->conf->source_publication, nsp, rel};
    int pg15 = s->version >= 150000;
    forget_table(s);
    /* PostgreSQL 15: a publication may list columns and filter rows */
    err = run(s, &r, "reading the table's columns", pg15 ?
              "SELECT c.oid, c.relkind, a.attname, a.atttypid, a.atttypmod, t.rowfilter "
              "FROM pg_publication_tables t JOIN pg_namespace n ON n.nspname = t.schemaname "
              "JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename "
              "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT "
              "a.attisdropped AND a.attgenerated = '' AND a.attname = ANY (t.attnames) "
              "WHERE t.pubname = $1 AND t.schemaname = $2 AND t.tablename = $3 ORDER BY a.attnum" :
              "SELECT c.oid, c.relkind, a.attname, a.atttypid, a.atttypmod, NULL "
              "FROM pg_publication_tables t JOIN pg_namespace n ON n.nspname = t.schemaname "
              "JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename "
              "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT "
              "a.attisdropped AND a.attgenerated = '' "
              "WHERE t.pubname = $1 AND t.schemaname = $2 AND t.tablename = $3 ORDER BY a.attnum",
              3, p, errstr, errstr_size);
    if (err)
        return err;
    int n = PQntuples(r);
    if (n == 0) {
        snprintf(errstr, errstr_size, "table %s.%s is not in publication \"%s\" (dropped?)",
                 nsp, rel, s->conf->source_publication);
        PQclear(r);
        return SL_ERR_NOT_FOUND;
    }
    char relid[16];
    snprintf(relid, sizeof(relid), "%s", PQgetvalue(r, 0, 0));
    s->only = PQgetvalue(r, 0, 1)[0] == 'r';
    s->cols = calloc((size_t)n, sizeof(*s->cols));
    s->names = calloc((size_t)n, sizeof(char *));
    if (!s->cols || !s->names)
        goto nomem;
    if (!PQgetisnull(r, 0, 5) && !(s->rowfilter = strdup(PQgetvalue(r, 0, 5))))
        goto nomem;
    for (int i = 0; i < n; i++) {
        snap_col_t *c = &s->cols[i];
        if (!(c->name = strdup(PQgetvalue(r, i, 2))))
            goto nomem;
        s->ncols++;
        s->names[i] = c->name;
        c->typoid = (uint32_t)strtoul(PQgetvalue(r, i, 3), NULL, 10);
        c->typmod = atoi(PQgetvalue(r, i, 4));
    }
    PQclear(r);
    r = NULL;
    /* resolving a type may query the catalog: after the result is freed */
    for (uint32_t i = 0; i < s->ncols; i++)
        if (!(s->cols[i].type = pg_types_get(s->types, s->cols[i].typoid)))
            goto nomem;
    const char *kp[1] = {relid};
    if ((err = run(s, &r, "reading the table's keys",
                   "WITH ix AS (SELECT i.indrelid, i.indkey, i.indnkeyatts FROM pg_index i "
                   "WHERE i.indrelid = $1::oid AND i.indisvalid AND i.indimmediate AND "
                   "(i.indisprimary OR (i.indisunique AND i.indpred IS NULL AND i.indexprs IS "
                   "NULL AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey) WITH ORDINALITY k(att, n) "
                   "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att WHERE "
                   "k.n <= i.indnkeyatts AND NOT a.attnotnull))) ORDER BY i.indisprimary DESC, "
                   "i.indnkeyatts, i.indexrelid LIMIT 1) "
                   "SELECT a.attname FROM ix CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY "
                   "k(att, n) JOIN "
                   "pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.att "
                   "WHERE k.n <= ix.indnkeyatts ORDER BY k.n", 1, kp, errstr, errstr_size)))
        return err;
    n = PQntuples(r);
    if (n == 0 || n > COL_SNAP_MAX_KEY) {
        snprintf(errstr, errstr_size, "table %s.%s has %s: a snapshot reads a table in key "
                 "order (add a primary key, or a unique index on NOT NULL columns)", nsp, rel,
                 n ? "a key of more than 32 columns" : "no primary key and no unique index on "
                 "NOT NULL columns");
        PQclear(r);
        return SL_ERR_UNSUPPORTED;
    }
    for (int k = 0; k < n; k++) {
        uint32_t i;
        for (i = 0; i < s->ncols && strcmp(s->cols[i].name, PQgetvalue(r, k, 0)); i++)
            ;
        if (i == s->ncols) {
            snprintf(errstr, errstr_size, "table %s.%s: key column %s is not published "
                     "(publication \"%s\" lists columns without it)", nsp, rel,
                     PQgetvalue(r, k, 0), s->conf->source_publication);
            PQclear(r);
            return SL_ERR_UNSUPPORTED;
        }
        s->key[k] = i;
    }
    s->nkey = (uint32_t)n;
    PQclear(r);
    return SL_OK;
nomem:
    PQclear(r);
    return SL_ERR_NOMEM;
}

/* ------------------------------------------------------------ continuation */

static int unreserved(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

static int hexval(int ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
         : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Splits "v1,v2,..." into nkey decoded NUL-terminated values in vals (the
 * caller frees vals[0], which holds them all). 0: malformed. */
static int parse_after(const char *after, uint32_t nkey, char **vals)
{
    size_t len = strlen(after);
    char *buf = malloc(len + 1), *o = buf;
    uint32_t k = 0;
    if (!buf)
        return 0;
    vals[k++] = o;
    for (const char *p = after; *p; p++) {
        if (*p == ',') {
            *o++ = 0;
            if (k == nkey)
                goto bad;
            vals[k++] = o;
        } else if (*p == '%') {
            int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
            if (l < 0)
                goto bad;
            *o++ = (char)(h << 4 | l);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    if (k != nkey)
        goto bad;
    return 1;
bad:
    free(buf);
    vals[0] = NULL;
    return 0;
}

static char *format_after(PGresult *r, int row, const snap_pg_t *s)
{
    sl_buf_t b = SL_BUF_INIT;
    for (uint32_t k = 0; k < s->nkey; k++) {
        const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, (int)s->key[k]);
        if (k)
            sl_buf_putc(&b, ',');
        for (; *v; v++) {
            if (unreserved(*v))
                sl_buf_putc(&b, (char)*v);
            else
                sl_buf_printf(&b, "%%%02X", *v);
        }
    }
    sl_buf_putc(&b, 0);
    return b.data; /* NULL: out of memory */
}

/* ------------------------------------------------------------ read_chunk */

static void put_ident(sl_buf_t *b, PGconn *c, const char *name)
{
    char *q = PQescapeIdentifier(c, name, strlen(name));
    sl_buf_printf(b, "%s", q ? q : "\"\"");
    PQfreemem(q);
}

/* A range bound's value v for key column k: as it is, except a bytea's
 * hex without bytea's "\\x" prefix, which gets it (*keep owns the copy;
 * NULL when out of memory). A value that is not hex is refused by the
 * server (class 22: the request is refused). */
static const char *bytea_bound(const snap_pg_t *s, uint32_t k, const char *v, char **keep)
{
    const snap_col_t *c = &s->cols[s->key[k]];
    if (!c->type || c->type->conv != PG_CONV_BYTEA || (v[0] == '\\' && v[1] == 'x'))
        return v;
    size_t n = strlen(v);
    if (!(*keep = malloc(n + 3)))
        return NULL;
    memcpy(*keep, "\\x", 2);
    memcpy(*keep + 2, v, n + 1);
    return *keep;
}

static sl_err_t op_read_chunk(void *ctx, const char *db, const char *table, const char *after,
                              const col_snap_key_t *lo, const col_snap_key_t *hi, uint32_t limit, sl_record_t *out, uint32_t key[COL_SNAP_MAX_KEY],
                              uint32_t *nkey, char **last, char *errstr, size_t errstr_size)
{
    snap_pg_t *s = ctx;
    sl_buf_t sql = SL_BUF_INIT;
    PGresult *r = NULL;
    char *vals[COL_SNAP_MAX_KEY] = {NULL};
    const char *params[2 * COL_SNAP_MAX_KEY];
    char *hexed[2 * COL_SNAP_MAX_KEY] = {NULL};
    int np = 0;
    char verr[256];
    sl_err_t err;

    *last = NULL;
    *nkey = 0;
    if ((err = conn(s, errstr, errstr_size)) ||
        (err = describe(s, db, table, errstr, errstr_size)))
        return err;
    if (after && !parse_after(after, s->nkey, vals)) {
        snprintf(errstr, errstr_size, "table %s.%s: snapshot progress \"%.100s\" does not fit "
                 "its key of %u column(s) (did the key change?)", db, table, after, s->nkey);
        return SL_ERR_INVALID;
    }
    const col_snap_key_t *bad = !after && lo && lo->n != s->nkey ? lo
                              : hi && hi->n != s->nkey ? hi : NULL;
    if (bad) {
        snprintf(errstr, errstr_size, "table %s.%s: the range's %s bound has %u value(s), its "
                 "key has %u column(s)", db, table, bad == lo ? "lower" : "upper", bad->n,
                 s->nkey);
        free(vals[0]);
        return SL_ERR_INVALID;
    }
    /* text parameters: the server reads each as the key column's type; a
     * range's bytea value is hex ("0aff", what `shiftlog validate --repair`
     * sends, or bytea's own "\\x0aff"), given to bytea's input as \\x… */
    const char *const *from = after ? (const char *const *)vals
                            : lo ? (const char *const *)lo->vals : NULL;
    for (uint32_t k = 0; from && k < s->nkey; k++, np++)
        params[np] = after ? from[k] : bytea_bound(s, k, from[k], &hexed[np]);
    for (uint32_t k = 0; hi && k < s->nkey; k++, np++)
        params[np] = bytea_bound(s, k, hi->vals[k], &hexed[np]);
    for (int i = 0; i < np; i++)
        if (!params[i]) {
            err = SL_ERR_NOMEM;
            goto out;
        }
    sl_buf_printf(&sql, "SELECT ");
    for (uint32_t i = 0; i < s->ncols; i++) {
        if (i)
            sl_buf_printf(&sql, ", ");
        put_ident(&sql, s->c, s->cols[i].name);
    }
    sl_buf_printf(&sql, " FROM %s", s->only ? "ONLY " : "");
    put_ident(&sql, s->c, db);
    sl_buf_putc(&sql, '.');
    put_ident(&sql, s->c, table);
    /* the key compared as a row, (k1, k2) > ($1, $2): the values are the
     * text parameters above, in the same order */
    const char *knames[COL_SNAP_MAX_KEY];
    for (uint32_t k = 0; k < s->nkey && k < COL_SNAP_MAX_KEY; k++)
        knames[k] = s->cols[s->key[k]].name;
    sl_keyset_t ks = {SL_KEYSET_PG, s->nkey, knames, NULL, NULL, NULL, 0};
    if (sl_keyset_range(&ks, &sql, from != NULL, hi != NULL, s->rowfilter, limit))
        sl_buf_free(&sql);
    if (!sql.data) {
        err = SL_ERR_NOMEM;
        goto out;
    }
    if ((err = run(s, &r, "reading a chunk", sql.data, np, params, errstr, errstr_size))) {
        char m[512];
        snprintf(m, sizeof(m), "%s", errstr);
        snprintf(errstr, errstr_size, "table %s.%s: %s", db, table, m);
        /* a data exception (class 22) from a range's bound: the bound does not fit the
         * key's type — the request is refused, the session need not retry */
        if ((lo || hi) && !strncmp(s->sqlstate, "22", 2))
            err = SL_ERR_INVALID;
        goto out;
    }
    uint32_t nrows = (uint32_t)PQntuples(r);
    if ((err = sl_record_init_change(out, s->conf->source_name, db, table, SL_OP_READ, s->ncols,
                                     (const char *const *)s->names, nrows)))
        goto out;
    for (uint32_t row = 0; row < nrows; row++) {
        sl_value_t *v = out->u.change.rows[row].after;
        for (uint32_t i = 0; i < s->ncols; i++) {
            if (PQgetisnull(r, (int)row, (int)i)) {
                memset(&v[i], 0, sizeof(v[i]));
                v[i].kind = SL_VAL_NULL;
                continue;
            }
            err = pg_value_from_text(out, &v[i], s->cols[i].type, s->cols[i].typmod,
                                     PQgetvalue(r, (int)row, (int)i),
                                     (size_t)PQgetlength(r, (int)row, (int)i), verr, sizeof(verr));
            if (err == SL_ERR_DECODE) /* kept as text, as the stream does */
                sl_warn("table %s.%s column %s: %s", db, table, s->cols[i].name, verr);
            else if (err)
                goto out;
            err = SL_OK;
        }
    }
    out->u.change.nrows = nrows;
    memcpy(key, s->key, s->nkey * sizeof(key[0]));
    *nkey = s->nkey;
    if (nrows && !(*last = format_after(r, (int)nrows - 1, s)))
        err = SL_ERR_NOMEM;
out:
    free(vals[0]);
    for (int i = 0; i < 2 * COL_SNAP_MAX_KEY; i++)
        free(hexed[i]);
    PQclear(r);
    sl_buf_free(&sql);
    return err;
}

/* ------------------------------------------------------------ watermark */

static sl_err_t op_watermark(void *ctx, char kind, const char *id, char *errstr,
                             size_t errstr_size)
{
    snap_pg_t *s = ctx;
    PGresult *r;
    char mark[1200];            /* a request's mark: up to ~900 bytes of id */
    sl_err_t err = conn(s, errstr, errstr_size);
    if (err)
        return err;
    col_snap_format_mark(mark, sizeof(mark), s->conf->source_name, kind, id);
    const char *p[1] = {mark};
    /* transactional: decoded at its commit, in commit order with the
     * changes around it (autocommit: this statement is its transaction) */
    if ((err = run(s, &r, "writing a watermark (pg_logical_emit_message)",
                   "SELECT pg_logical_emit_message(true, 'shiftlog', $1)", 1, p, errstr,
                   errstr_size)))
        return err;
    PQclear(r);
    return SL_OK;
}

/* The statistics' row count: reltuples once analyzed (-1 before, PostgreSQL
 * 14), else the live tuples the statistics collector counted. */
static sl_err_t op_estimate(void *ctx, const char *db, const char *table, int64_t *rows,
                            char *errstr, size_t errstr_size)
{
    snap_pg_t *s = ctx;
    PGresult *r;
    const char *p[2] = {db, table};
    sl_err_t err = conn(s, errstr, errstr_size);
    *rows = -1;
    if (err || (err = run(s, &r, "reading the table's row estimate",
                          "SELECT CASE WHEN c.reltuples > 0 THEN c.reltuples::bigint "
                          "ELSE coalesce(t.n_live_tup, -1) END FROM pg_class c JOIN pg_namespace n "
                          "ON n.oid = c.relnamespace LEFT JOIN pg_stat_all_tables t ON t.relid = "
                          "c.oid WHERE n.nspname = $1 AND c.relname = $2", 2, p, errstr,
                          errstr_size)))
        return err;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        *rows = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return SL_OK;
}

static void op_destroy(void *ctx)
{
    snap_pg_t *s = ctx;
    if (!s)
        return;
    forget_table(s);
    pg_types_destroy(s->types);
    drop_conn(s);
    free(s);
}

sl_err_t col_snap_pg_src(col_snap_src_t *out, const col_conf_t *conf,
                         const col_filter_t *filter, char *errstr, size_t errstr_size)
{
    snap_pg_t *s = calloc(1, sizeof(*s));
    if (!s || pg_types_new(&s->types, type_resolver, s) != SL_OK) {
        free(s);
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    s->conf = conf;
    s->filter = filter;
    memset(out, 0, sizeof(*out));
    out->ctx = s;
    out->tables = op_tables;
    out->read_chunk = op_read_chunk;
    out->watermark = op_watermark;
    out->estimate = op_estimate;
    out->destroy = op_destroy;
    return SL_OK;
}
