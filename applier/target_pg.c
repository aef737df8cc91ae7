/* shiftlog-applier: the PostgreSQL target (libpq), app_target_pg.
 *
 * Writes:
 *   - upserts: prepared multi-row `INSERT INTO s.t (c…) VALUES ($1,…),(…)
 *     ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c, …`, one batch per
 *     table of up to write_batch rows (and at most 65535 parameters); a
 *     full batch uses a prepared statement, the tail of a batch a one-off;
 *     a row whose key is already in the open batch flushes it first (ON
 *     CONFLICT cannot touch a row twice), so per-key order is kept;
 *   - deletes: `DELETE FROM s.t WHERE (k1,k2) IN (($1,$2),…)` batches;
 *   - an UPDATE that changes the key: delete of the old key, upsert of the
 *     new; rows with a MISSING (unchanged TOAST) value: a one-row upsert of
 *     the columns present;
 *   - values only as parameters (text format, exact forms of
 *     target_common.h; bytea in binary format), identifiers only through
 *     PQescapeIdentifier;
 *   - commit: flush every table, upsert the kafkaoffset row (task, topic,
 *     partition, kafka_offset, sub_offset, source_position, updated_at) in
 *     the same transaction, COMMIT.
 * The batches of different tables are independent (rows of one table keep
 * their order; tables may be written in another order inside the one
 * transaction: foreign keys between target tables must be DEFERRABLE).
 * Schema: missing tables are created from the SCHEMA record (type table in
 * docs/applier.md), missing columns added; with the previous version of
 * the source schema known, RENAME / DROP / safe MODIFY COLUMN are applied;
 * anything else is SL_ERR_UNSUPPORTED (the core stops that table).
 * Errors: connection loss and SQLSTATE classes 08, 40, 53, 57 are SL_ERR_IO
 * (the core reconnects and replays); other server errors SL_ERR_DB with the
 * table and the first key of the batch; values PostgreSQL cannot hold (a
 * NUL in text, a zero date) SL_ERR_INVALID. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "sl_buf.h"
#include "sl_log.h"
#include "target.h"
#include "target_common.h"

#define PG_MAX_PARAMS 65535
#define PG_NAME_MAX   63

enum { OP_NONE = 0, OP_UPSERT = 1, OP_DELETE = 2 };

typedef struct wcol_s {
    uint32_t src;          /* index in the source schema */
    char    *qname;        /* quoted target column name */
    int      is_set;       /* SET → text[] literal */
} wcol_t;

typedef struct prev_col_s {
    char *name, *type, *dst;
} prev_col_t;

typedef struct pgtab_s {
    struct pgtab_s    *next;
    char              *schema, *table;     /* target names */
    char              *qname;              /* "schema"."table" */
    const sl_schema_t *built_for;          /* identity of the schema version */
    int                valid;
    wcol_t            *w;                  /* written columns */
    uint32_t           nw;
    uint32_t          *key;                /* indexes into w of the key columns */
    uint32_t           nkey;
    int                id;
    uint32_t           cap;                /* rows per statement */
    int                prep_upsert, prep_delete;
    /* the open batch */
    int                op;
    uint32_t           nrows;
    sl_buf_t           vals;               /* value bytes */
    size_t            *off;                /* cap * nw (or nkey) offsets */
    int               *len;                /* -1 = NULL */
    int               *fmt;
    uint64_t          *hashes;             /* open-addressing set, 4 * cap */
    char               first_key[256];
    /* source schema last applied (RENAME / DROP / MODIFY need it) */
    prev_col_t        *prev, *pend;
    uint32_t           nprev, npend;
    int                has_prev, has_pend;
} pgtab_t;

struct app_target_s {
    PGconn            *conn;
    char              *task;
    int                create_tables;
    int                write_batch;
    int                in_txn;
    pgtab_t           *tabs;
    int                next_id;
    int                gen;                /* bumps on reconnect: prepared names */
    sl_buf_t           sql, tmp;
    const char       **pv;                 /* parameter pointer scratch */
    size_t             npv;
    uint32_t          *src_of_w, *cols;    /* per-row column scratch */
    size_t             nscratch;
};

/* ------------------------------------------------------------- helpers */

static sl_err_t classify(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) == CONNECTION_BAD)
        return SL_ERR_IO;
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!st)
        return SL_ERR_IO;
    if (!strncmp(st, "08", 2) || !strncmp(st, "40", 2) || !strncmp(st, "53", 2) ||
        !strncmp(st, "57", 2))
        return SL_ERR_IO;
    return SL_ERR_DB;
}

static void notice(void *arg, const char *msg)
{
    sl_debug("postgresql: %s", msg);
}

static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
}

/* Runs a command; SL_OK or the classified error with "what: server message". */
static sl_err_t check(app_target_t *t, PGresult *res, const char *what, char *errstr,
                      size_t errstr_size)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return SL_OK;
    }
    sl_err_t err = classify(t->conn, res);
    snprintf(errstr, errstr_size, "postgresql: %s: %s%s", what,
             res ? PQresultErrorMessage(res) : PQerrorMessage(t->conn),
             err == SL_ERR_IO ? " (connection lost or transient)" : "");
    one_line(errstr);
    PQclear(res);
    return err;
}

static sl_err_t exec(app_target_t *t, const char *sql, const char *what, char *errstr,
                     size_t errstr_size)
{
    return check(t, PQexec(t->conn, sql), what, errstr, errstr_size);
}

static sl_err_t quote(app_target_t *t, sl_buf_t *out, const char *name, char *errstr,
                      size_t errstr_size)
{
    char *q = PQescapeIdentifier(t->conn, name, strlen(name));
    if (!q) {
        snprintf(errstr, errstr_size, "postgresql: cannot quote identifier: %s",
                 PQerrorMessage(t->conn));
        one_line(errstr);
        return SL_ERR_INVALID;
    }
    sl_err_t e = sl_buf_puts(out, q);
    PQfreemem(q);
    return e;
}

static char *quoted_dup(app_target_t *t, const char *name, char *errstr, size_t errstr_size)
{
    char *q = PQescapeIdentifier(t->conn, name, strlen(name));
    if (!q) {
        snprintf(errstr, errstr_size, "postgresql: cannot quote identifier");
        return NULL;
    }
    char *d = strdup(q);
    PQfreemem(q);
    return d;
}

/* ----------------------------------------------------------- type map */

static int starts(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p));
}

/* A source type name safe and meaningful to reuse verbatim in PostgreSQL DDL. */
static int pg_known_type(const char *s)
{
    static const char *const ok[] = {
        "smallint", "integer", "bigint", "boolean", "text", "character varying", "numeric",
        "real", "double precision", "date", "uuid", "inet", "cidr", "macaddr", "macaddr8",
        "xml", "json", "jsonb", "money", "point", "line", "lseg", "box", "path", "polygon",
        "circle", "tsvector", "tsquery", "pg_lsn", "interval", "int4range", "int8range",
        "numrange", "daterange", "tsrange", "tstzrange", "bytea", "character",
        "timestamp without time zone", "timestamp with time zone", "time without time zone",
        "time with time zone", "bit", "bit varying", NULL};
    char base[64];
    size_t n = strcspn(s, "([");
    if (n >= sizeof(base))
        return 0;
    memcpy(base, s, n);
    base[n] = '\0';
    while (n && base[n - 1] == ' ')
        base[--n] = '\0';
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr(" _(),[]", *c)))
            return 0;
    for (int i = 0; ok[i]; i++)
        if (!strcmp(base, ok[i]))
            return 1;
    return 0;
}

/* The PostgreSQL type a source column is created with (docs/applier.md). */
static void pg_type_for(const sl_column_t *c, char *out, size_t size)
{
    const char *st = c->source_type ? c->source_type : "";
    int unsig = strstr(st, "unsigned") != NULL;
    int pgsrc = strstr(st, "time zone") != NULL || starts(st, "character varying") ||
                starts(st, "double precision") || !strcmp(st, "integer");
    switch (c->kind) {
    case SL_VAL_BOOL:
        snprintf(out, size, "boolean");
        return;
    case SL_VAL_INT:
        if (starts(st, "tinyint") || starts(st, "year") || (starts(st, "smallint") && !unsig))
            snprintf(out, size, "smallint");
        else if (starts(st, "smallint") || starts(st, "mediumint") ||
                 ((starts(st, "int") || starts(st, "integer")) && !unsig))
            snprintf(out, size, "integer");
        else
            snprintf(out, size, "bigint");
        return;
    case SL_VAL_UINT:
        snprintf(out, size, "numeric(20,0)");
        return;
    case SL_VAL_FLOAT:
        snprintf(out, size, "real");
        return;
    case SL_VAL_DOUBLE:
        snprintf(out, size, "double precision");
        return;
    case SL_VAL_DECIMAL:
        if (c->precision >= 1 && c->precision <= 1000 && c->scale >= 0 &&
            c->scale <= c->precision)
            snprintf(out, size, "numeric(%d,%d)", c->precision, c->scale);
        else
            snprintf(out, size, "numeric");
        return;
    case SL_VAL_STRING:
        if ((starts(st, "varchar(") || starts(st, "character varying(")) && c->precision > 0 &&
            c->precision <= 10485760)
            snprintf(out, size, "varchar(%d)", c->precision);
        else if (!strcmp(st, "json") || !strcmp(st, "jsonb"))
            snprintf(out, size, "%s", st);
        else
            snprintf(out, size, "text");
        return;
    case SL_VAL_BYTES:
        snprintf(out, size, "bytea");
        return;
    case SL_VAL_TEMPORAL: {
        int p = c->precision >= 0 && c->precision <= 6 ? c->precision : 6;
        if (starts(st, "date") && !starts(st, "datetime"))
            snprintf(out, size, "date");
        else if (starts(st, "interval"))
            snprintf(out, size, "interval");
        else if (starts(st, "timetz") || (starts(st, "time") && strstr(st, "with time zone") &&
                                          !starts(st, "timestamp")))
            snprintf(out, size, "time(%d) with time zone", p);
        else if (starts(st, "timestamptz") || strstr(st, "timestamp with time zone") ||
                 (starts(st, "timestamp") && !pgsrc))
            snprintf(out, size, "timestamp(%d) with time zone", p);
        else if (starts(st, "datetime") || starts(st, "timestamp"))
            snprintf(out, size, "timestamp(%d) without time zone", p);
        else if (starts(st, "time") && pgsrc)
            snprintf(out, size, "time(%d) without time zone", p);
        else if (starts(st, "time"))
            snprintf(out, size, "interval");      /* MySQL TIME: -838:59:59 .. 838:59:59 */
        else
            snprintf(out, size, "text");
        return;
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
        return;
    case SL_VAL_SET:
        snprintf(out, size, "text[]");
        return;
    case SL_VAL_TYPED:
        if (!strcmp(st, "inet4") || !strcmp(st, "inet6"))
            snprintf(out, size, "inet");
        else if (pg_known_type(st))
            snprintf(out, size, "%s", st);
        else
            snprintf(out, size, "text");
        return;
    default:
        snprintf(out, size, "text");
        return;
    }
}

/* ------------------------------------------------------------- tables */

static void prev_free(prev_col_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].type);
        free(p[i].dst);
    }
    free(p);
}

static void tab_clear_built(pgtab_t *b)
{
    for (uint32_t i = 0; i < b->nw; i++)
        free(b->w[i].qname);
    free(b->w);
    free(b->key);
    free(b->off);
    free(b->len);
    free(b->fmt);
    free(b->hashes);
    b->w = NULL;
    b->key = NULL;
    b->off = NULL;
    b->len = b->fmt = NULL;
    b->hashes = NULL;
    b->nw = b->nkey = 0;
    b->valid = 0;
    b->built_for = NULL;
    b->op = OP_NONE;
    b->nrows = 0;
    sl_buf_reset(&b->vals);
}

static pgtab_t *tab_get(app_target_t *t, const char *schema, const char *table)
{
    for (pgtab_t *b = t->tabs; b; b = b->next)
        if (!strcmp(b->schema, schema) && !strcmp(b->table, table))
            return b;
    pgtab_t *b = calloc(1, sizeof(*b));
    if (!b || !(b->schema = strdup(schema)) || !(b->table = strdup(table))) {
        if (b)
            free(b->schema);
        free(b);
        return NULL;
    }
    b->id = ++t->next_id;
    b->next = t->tabs;
    t->tabs = b;
    return b;
}

/* Target columns of schema.table: names and format_type; n = 0 when absent. */
static sl_err_t catalog_cols(app_target_t *t, const char *schema, const char *table,
                             PGresult **out, char *errstr, size_t errstr_size)
{
    const char *p[2] = {schema, table};
    PGresult *res = PQexecParams(
        t->conn,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p') "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return check(t, res, "reading the target table's columns", errstr, errstr_size);
    *out = res;
    return SL_OK;
}

static int col_index(const PGresult *res, const char *name)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (!strcmp(PQgetvalue(res, i, 0), name))
            return i;
    return -1;
}

/* Widening that keeps every value (ALTER COLUMN TYPE without loss). */
static int safe_modify(const char *from, const char *to)
{
    int a, b, c, d;
    if (!strcmp(from, to))
        return 1;
    if (!strcmp(to, "text") && (starts(from, "character varying") || starts(from, "varchar")))
        return 1;
    if ((sscanf(from, "character varying(%d)", &a) == 1 || sscanf(from, "varchar(%d)", &a) == 1) &&
        sscanf(to, "varchar(%d)", &b) == 1)
        return b >= a;
    if (!strcmp(from, "smallint"))
        return !strcmp(to, "integer") || !strcmp(to, "bigint") || starts(to, "numeric");
    if (!strcmp(from, "integer"))
        return !strcmp(to, "bigint") || starts(to, "numeric");
    if (!strcmp(from, "bigint"))
        return starts(to, "numeric(20") || !strcmp(to, "numeric");
    if (!strcmp(from, "real"))
        return !strcmp(to, "double precision");
    if (sscanf(from, "numeric(%d,%d)", &a, &b) == 2) {
        if (!strcmp(to, "numeric"))
            return 1;
        if (sscanf(to, "numeric(%d,%d)", &c, &d) == 2)
            return d >= b && c - d >= a - b;
    }
    return 0;
}

static int name_ok(const char *n, char *errstr, size_t errstr_size, const char *what)
{
    if (strlen(n) > PG_NAME_MAX) {
        snprintf(errstr, errstr_size,
                 "postgresql: %s name \"%.80s...\" is longer than %d bytes (PostgreSQL would "
                 "truncate it); map it to a shorter name (map.tables / map.columns)", what, n,
                 PG_NAME_MAX);
        return 0;
    }
    return 1;
}

/* Makes the target table fit the mapped schema: create, add, and with the
 * previous source schema known (prev) rename / drop / modify. */
static sl_err_t sync_table(app_target_t *t, pgtab_t *b, const app_table_map_t *map,
                           int ddl_record, char *errstr, size_t errstr_size)
{
    const sl_schema_t *s = map->schema;
    PGresult *cols = NULL;
    sl_buf_t *q = &t->sql;
    char type[128];
    sl_err_t err;
    if (!name_ok(map->dst_schema, errstr, errstr_size, "schema") ||
        !name_ok(map->dst_table, errstr, errstr_size, "table"))
        return SL_ERR_UNSUPPORTED;
    for (uint32_t i = 0; i < s->ncols; i++)
        if (map->dst_cols[i] && !name_ok(map->dst_cols[i], errstr, errstr_size, "column"))
            return SL_ERR_UNSUPPORTED;
    if ((err = catalog_cols(t, map->dst_schema, map->dst_table, &cols, errstr, errstr_size)))
        return err;
    if (PQntuples(cols) == 0) {
        PQclear(cols);
        if (!t->create_tables) {
            snprintf(errstr, errstr_size, "postgresql: table %s.%s does not exist and "
                     "target.create_tables is false", map->dst_schema, map->dst_table);
            return SL_ERR_UNSUPPORTED;
        }
        int npk = 0;
        for (uint32_t i = 0; i < s->ncols; i++)
            npk += s->cols[i].pk > 0;
        if (!npk) {
            snprintf(errstr, errstr_size, "postgresql: source table %s.%s has no primary key "
                     "and the target table does not exist: create %s.%s with a primary key or "
                     "a unique key of NOT NULL columns", s->db, s->table, map->dst_schema,
                     map->dst_table);
            return SL_ERR_UNSUPPORTED;
        }
        sl_buf_reset(q);
        sl_buf_puts(q, "CREATE SCHEMA IF NOT EXISTS ");
        if ((err = quote(t, q, map->dst_schema, errstr, errstr_size)) ||
            (err = exec(t, q->data, "creating the target schema", errstr, errstr_size)))
            return err;
        sl_buf_reset(q);
        sl_buf_printf(q, "CREATE TABLE %s (", b->qname);
        int first = 1;
        for (uint32_t i = 0; i < s->ncols; i++) {
            if (!map->dst_cols[i])
                continue;
            pg_type_for(&s->cols[i], type, sizeof(type));
            if (!first)
                sl_buf_puts(q, ", ");
            first = 0;
            if ((err = quote(t, q, map->dst_cols[i], errstr, errstr_size)))
                return err;
            sl_buf_printf(q, " %s%s", type, s->cols[i].pk ? " NOT NULL" : "");
        }
        sl_buf_puts(q, ", PRIMARY KEY (");
        for (int k = 1, n = 0; k <= (int)s->ncols; k++)
            for (uint32_t i = 0; i < s->ncols; i++)
                if (s->cols[i].pk == k) {
                    if (n++)
                        sl_buf_puts(q, ", ");
                    quote(t, q, map->dst_cols[i], errstr, errstr_size);
                }
        sl_buf_puts(q, "))");
        if ((err = exec(t, q->data, "creating the target table", errstr, errstr_size)))
            return err;
        sl_info("postgresql: created table %s from the schema of %s.%s", b->qname, s->db,
                s->table);
        return SL_OK;
    }
    /* rename: same position, same source type, other name (known previous) */
    for (uint32_t i = 0; b->has_prev && ddl_record && i < s->ncols && i < b->nprev; i++) {
        const char *nd = map->dst_cols[i], *od = b->prev[i].dst;
        if (!nd || !od || !strcmp(nd, od) || strcmp(b->prev[i].type, s->cols[i].source_type))
            continue;
        if (col_index(cols, od) < 0 || col_index(cols, nd) >= 0)
            continue;
        int still = 0;
        for (uint32_t k = 0; k < s->ncols; k++)
            still |= map->dst_cols[k] && !strcmp(map->dst_cols[k], od);
        if (still)
            continue;
        sl_buf_reset(q);
        sl_buf_printf(q, "ALTER TABLE %s RENAME COLUMN ", b->qname);
        quote(t, q, od, errstr, errstr_size);
        sl_buf_puts(q, " TO ");
        quote(t, q, nd, errstr, errstr_size);
        if ((err = exec(t, q->data, "renaming a column", errstr, errstr_size)))
            goto out;
        sl_info("postgresql: %s: column %s renamed to %s", b->qname, od, nd);
        PQclear(cols);
        cols = NULL;
        if ((err = catalog_cols(t, map->dst_schema, map->dst_table, &cols, errstr, errstr_size)))
            return err;
    }
    for (uint32_t i = 0; i < s->ncols; i++) {
        if (!map->dst_cols[i])
            continue;
        pg_type_for(&s->cols[i], type, sizeof(type));
        int ci = col_index(cols, map->dst_cols[i]);
        sl_buf_reset(q);
        if (ci < 0) {
            sl_buf_printf(q, "ALTER TABLE %s ADD COLUMN ", b->qname);
            quote(t, q, map->dst_cols[i], errstr, errstr_size);
            sl_buf_printf(q, " %s", type);
            if ((err = exec(t, q->data, "adding a column", errstr, errstr_size)))
                goto out;
            sl_info("postgresql: %s: column %s %s added", b->qname, map->dst_cols[i], type);
            continue;
        }
        /* modify only when the source type changed since the previous version */
        const char *have = PQgetvalue(cols, ci, 1);
        int changed = 0;
        for (uint32_t k = 0; b->has_prev && ddl_record && k < b->nprev; k++)
            if (b->prev[k].dst && !strcmp(b->prev[k].dst, map->dst_cols[i]))
                changed = strcmp(b->prev[k].type, s->cols[i].source_type) != 0;
        if (!changed || !strcmp(have, type))
            continue;
        if (!safe_modify(have, type)) {
            snprintf(errstr, errstr_size, "postgresql: %s: column %s changes from %s to %s, "
                     "which could lose or reject values; alter it by hand, then resume",
                     b->qname, map->dst_cols[i], have, type);
            err = SL_ERR_UNSUPPORTED;
            goto out;
        }
        sl_buf_printf(q, "ALTER TABLE %s ALTER COLUMN ", b->qname);
        quote(t, q, map->dst_cols[i], errstr, errstr_size);
        sl_buf_printf(q, " TYPE %s", type);
        if ((err = exec(t, q->data, "modifying a column", errstr, errstr_size)))
            goto out;
        sl_info("postgresql: %s: column %s now %s", b->qname, map->dst_cols[i], type);
    }
    /* drop: mapped before, gone from the source now */
    for (uint32_t k = 0; b->has_prev && ddl_record && k < b->nprev; k++) {
        const char *od = b->prev[k].dst;
        int still = 0;
        if (!od || col_index(cols, od) < 0)
            continue;
        for (uint32_t i = 0; i < s->ncols; i++)
            still |= map->dst_cols[i] && !strcmp(map->dst_cols[i], od);
        if (still)
            continue;
        sl_buf_reset(q);
        sl_buf_printf(q, "ALTER TABLE %s DROP COLUMN ", b->qname);
        quote(t, q, od, errstr, errstr_size);
        if ((err = exec(t, q->data, "dropping a column", errstr, errstr_size)))
            goto out;
        sl_info("postgresql: %s: column %s dropped", b->qname, od);
    }
    err = SL_OK;
out:
    PQclear(cols);
    return err;
}

/* Key columns: the source primary key, else a unique index of the target
 * table whose columns are all NOT NULL and written. */
static sl_err_t find_key(app_target_t *t, pgtab_t *b, const app_table_map_t *map,
                         char *errstr, size_t errstr_size)
{
    const sl_schema_t *s = map->schema;
    b->nkey = 0;
    for (int k = 1; k <= (int)s->ncols; k++)
        for (uint32_t w = 0; w < b->nw; w++)
            if (s->cols[b->w[w].src].pk == k)
                b->key[b->nkey++] = w;
    if (b->nkey)
        return SL_OK;
    const char *p[2] = {map->dst_schema, map->dst_table};
    PGresult *res = PQexecParams(
        t->conn,
        "SELECT i.indexrelid, a.attname FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
        "WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique AND i.indpred IS NULL "
        "AND i.indexprs IS NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute z WHERE "
        "z.attrelid = c.oid AND z.attnum = ANY(i.indkey) AND NOT z.attnotnull) "
        "ORDER BY i.indisprimary DESC, i.indexrelid, array_position(i.indkey, a.attnum)",
        2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return check(t, res, "reading the target table's keys", errstr, errstr_size);
    const char *idx = PQntuples(res) ? PQgetvalue(res, 0, 0) : NULL;
    for (int r = 0; idx && r < PQntuples(res) && !strcmp(PQgetvalue(res, r, 0), idx); r++) {
        uint32_t w;
        for (w = 0; w < b->nw; w++)
            if (!strcmp(map->dst_cols[b->w[w].src], PQgetvalue(res, r, 1)))
                break;
        if (w == b->nw) {
            b->nkey = 0;
            break;
        }
        b->key[b->nkey++] = w;
    }
    PQclear(res);
    if (b->nkey)
        return SL_OK;
    snprintf(errstr, errstr_size, "postgresql: table %s (from %s.%s) has no primary key and "
             "no unique key of NOT NULL written columns: shiftlog needs one to apply changes "
             "exactly once", b->qname, s->db, s->table);
    return SL_ERR_UNSUPPORTED;
}

/* Builds the table state for map->schema (syncing the target table). */
static sl_err_t tab_build(app_target_t *t, pgtab_t *b, const app_table_map_t *map,
                          char *errstr, size_t errstr_size)
{
    sl_err_t err;
    char name[64];
    for (int op = 0; op < 2; op++)
        if (op ? b->prep_delete : b->prep_upsert) {
            snprintf(name, sizeof(name), "DEALLOCATE sl_%c%d_%d", op ? 'd' : 'u', t->gen, b->id);
            PQclear(PQexec(t->conn, name));
        }
    b->prep_upsert = b->prep_delete = 0;
    tab_clear_built(b);
    free(b->qname);
    b->qname = NULL;
    sl_buf_reset(&t->tmp);
    if ((err = quote(t, &t->tmp, map->dst_schema, errstr, errstr_size)) ||
        (err = sl_buf_putc(&t->tmp, '.')) ||
        (err = quote(t, &t->tmp, map->dst_table, errstr, errstr_size)))
        return err;
    if (!(b->qname = strdup(t->tmp.data)))
        return SL_ERR_NOMEM;
    if ((err = sync_table(t, b, map, 0, errstr, errstr_size)))
        return err;
    const sl_schema_t *s = map->schema;
    b->w = calloc(s->ncols ? s->ncols : 1, sizeof(*b->w));
    b->key = calloc(s->ncols ? s->ncols : 1, sizeof(*b->key));
    if (!b->w || !b->key)
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < s->ncols; i++) {
        if (!map->dst_cols[i])
            continue;
        wcol_t *w = &b->w[b->nw];
        w->src = i;
        w->is_set = s->cols[i].kind == SL_VAL_SET;
        if (!(w->qname = quoted_dup(t, map->dst_cols[i], errstr, errstr_size)))
            return SL_ERR_INVALID;
        b->nw++;
    }
    if ((err = find_key(t, b, map, errstr, errstr_size)))
        return err;
    uint32_t cap = (uint32_t)(t->write_batch > 0 ? t->write_batch : 500);
    if (cap > PG_MAX_PARAMS / b->nw)
        cap = PG_MAX_PARAMS / b->nw;
    b->cap = cap ? cap : 1;
    b->off = calloc((size_t)b->cap * b->nw, sizeof(*b->off));
    b->len = calloc((size_t)b->cap * b->nw, sizeof(*b->len));
    b->fmt = calloc((size_t)b->cap * b->nw, sizeof(*b->fmt));
    b->hashes = calloc((size_t)b->cap * 4, sizeof(*b->hashes));
    if (!b->off || !b->len || !b->fmt || !b->hashes)
        return SL_ERR_NOMEM;
    b->prep_upsert = b->prep_delete = 0;
    b->id = ++t->next_id;          /* new prepared statement names */
    b->built_for = s;
    b->valid = 1;
    return SL_OK;
}

static void tab_remember(pgtab_t *b, const app_table_map_t *map)
{
    const sl_schema_t *s = map->schema;
    prev_free(b->pend, b->npend);
    b->pend = calloc(s->ncols ? s->ncols : 1, sizeof(*b->pend));
    b->npend = 0;
    b->has_pend = 0;
    if (!b->pend)
        return;
    for (uint32_t i = 0; i < s->ncols; i++) {
        b->pend[i].name = strdup(s->cols[i].name);
        b->pend[i].type = strdup(s->cols[i].source_type ? s->cols[i].source_type : "");
        b->pend[i].dst = map->dst_cols[i] ? strdup(map->dst_cols[i]) : NULL;
    }
    b->npend = s->ncols;
    b->has_pend = 1;
}

/* ------------------------------------------------------------- batches */

static sl_err_t exec_batch_sql(app_target_t *t, pgtab_t *b, int op, uint32_t nrows,
                               uint32_t per_row, const char *what, char *errstr,
                               size_t errstr_size)
{
    size_t np = (size_t)nrows * per_row;
    if (np > t->npv) {
        const char **pv = realloc(t->pv, np * sizeof(*pv));
        if (!pv)
            return SL_ERR_NOMEM;
        t->pv = pv;
        t->npv = np;
    }
    for (size_t i = 0; i < np; i++)
        t->pv[i] = b->len[i] < 0 ? NULL : b->vals.data + b->off[i];
    char name[64];
    int full = nrows == b->cap;
    int *prep = op == OP_UPSERT ? &b->prep_upsert : &b->prep_delete;
    snprintf(name, sizeof(name), "sl_%c%d_%d", op == OP_UPSERT ? 'u' : 'd', t->gen, b->id);
    PGresult *res;
    if (full && *prep)
        res = PQexecPrepared(t->conn, name, (int)np, t->pv, b->len, b->fmt, 0);
    else if (full) {
        res = PQprepare(t->conn, name, t->sql.data, (int)np, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return check(t, res, what, errstr, errstr_size);
        PQclear(res);
        *prep = 1;
        res = PQexecPrepared(t->conn, name, (int)np, t->pv, b->len, b->fmt, 0);
    } else
        res = PQexecParams(t->conn, t->sql.data, (int)np, NULL, t->pv, b->len, b->fmt, 0);
    return check(t, res, what, errstr, errstr_size);
}

/* SQL text of an upsert of nrows rows of the columns in cols (indexes into
 * b->w; NULL = all). */
static void upsert_sql(pgtab_t *b, sl_buf_t *q, uint32_t nrows, const uint32_t *cols,
                       uint32_t ncols)
{
    sl_buf_reset(q);
    sl_buf_printf(q, "INSERT INTO %s (", b->qname);
    for (uint32_t i = 0; i < ncols; i++)
        sl_buf_printf(q, "%s%s", i ? ", " : "", b->w[cols ? cols[i] : i].qname);
    sl_buf_puts(q, ") VALUES ");
    uint32_t p = 1;
    for (uint32_t r = 0; r < nrows; r++) {
        sl_buf_puts(q, r ? ", (" : "(");
        for (uint32_t i = 0; i < ncols; i++)
            sl_buf_printf(q, "%s$%u", i ? ", " : "", p++);
        sl_buf_putc(q, ')');
    }
    sl_buf_puts(q, " ON CONFLICT (");
    for (uint32_t k = 0; k < b->nkey; k++)
        sl_buf_printf(q, "%s%s", k ? ", " : "", b->w[b->key[k]].qname);
    sl_buf_puts(q, ") DO ");
    int n = 0;
    for (uint32_t i = 0; i < ncols; i++) {
        uint32_t w = cols ? cols[i] : i, iskey = 0;
        for (uint32_t k = 0; k < b->nkey; k++)
            iskey |= b->key[k] == w;
        if (iskey)
            continue;
        sl_buf_printf(q, "%s%s = EXCLUDED.%s", n++ ? ", " : "UPDATE SET ", b->w[w].qname,
                      b->w[w].qname);
    }
    if (!n)
        sl_buf_puts(q, "NOTHING");
}

static void delete_sql(pgtab_t *b, sl_buf_t *q, uint32_t nrows)
{
    sl_buf_reset(q);
    sl_buf_printf(q, "DELETE FROM %s WHERE (", b->qname);
    for (uint32_t k = 0; k < b->nkey; k++)
        sl_buf_printf(q, "%s%s", k ? ", " : "", b->w[b->key[k]].qname);
    sl_buf_puts(q, ") IN (");
    uint32_t p = 1;
    for (uint32_t r = 0; r < nrows; r++) {
        sl_buf_puts(q, r ? ", (" : "(");
        for (uint32_t k = 0; k < b->nkey; k++)
            sl_buf_printf(q, "%s$%u", k ? ", " : "", p++);
        sl_buf_putc(q, ')');
    }
    sl_buf_putc(q, ')');
}

static sl_err_t flush_tab(app_target_t *t, pgtab_t *b, char *errstr, size_t errstr_size)
{
    if (!b->nrows)
        return SL_OK;
    char what[512];
    sl_err_t err;
    snprintf(what, sizeof(what), "%s %u row(s) into %s (first key %s)",
             b->op == OP_UPSERT ? "upserting" : "deleting", b->nrows, b->qname, b->first_key);
    if (b->op == OP_UPSERT) {
        upsert_sql(b, &t->sql, b->nrows, NULL, b->nw);
        err = exec_batch_sql(t, b, OP_UPSERT, b->nrows, b->nw, what, errstr, errstr_size);
    } else {
        delete_sql(b, &t->sql, b->nrows);
        err = exec_batch_sql(t, b, OP_DELETE, b->nrows, b->nkey, what, errstr, errstr_size);
    }
    b->nrows = 0;
    b->op = OP_NONE;
    sl_buf_reset(&b->vals);
    memset(b->hashes, 0, (size_t)b->cap * 4 * sizeof(*b->hashes));
    return err;
}

static sl_err_t flush_all(app_target_t *t, char *errstr, size_t errstr_size)
{
    for (pgtab_t *b = t->tabs; b; b = b->next) {
        sl_err_t err = flush_tab(t, b, errstr, errstr_size);
        if (err)
            return err;
    }
    return SL_OK;
}

/* Appends the parameter for value v of written column w at slot i. */
static sl_err_t put_value(app_target_t *t, pgtab_t *b, const sl_column_t *col,
                          const sl_value_t *v, size_t i, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    size_t start = b->vals.len;
    b->off[i] = start;
    b->fmt[i] = 0;
    if (v->kind == SL_VAL_NULL) {
        b->len[i] = -1;
        return SL_OK;
    }
    if (v->kind == SL_VAL_BYTES) {
        b->fmt[i] = 1;
        if ((err = sl_buf_append(&b->vals, v->data, v->len)))
            return err;
        b->len[i] = (int)v->len;
        return sl_buf_putc(&b->vals, '\0');
    }
    if (v->kind == SL_VAL_TEMPORAL && !v->u.t.has_micros &&
        v->u.t.kind != SL_T_INTERVAL && v->u.t.kind != SL_T_TIME &&
        !(v->len >= 8 && (!strncmp(v->data, "infinity", 8) || !strncmp(v->data, "-infinity", 9)))) {
        snprintf(errstr, errstr_size, "column %s: %s value \"%.*s\" has no PostgreSQL "
                 "equivalent (zero date)", col->name, sl_temporal_kind_name(v->u.t.kind),
                 (int)(v->len > 40 ? 40 : v->len), v->data);
        return SL_ERR_INVALID;
    }
    if (v->kind == SL_VAL_SET) {
        const char *p = v->data, *end = v->data + v->len;
        sl_buf_putc(&b->vals, '{');
        for (uint32_t k = 0; k < v->n && p < end; k++) {
            size_t l = strnlen(p, (size_t)(end - p));
            sl_buf_puts(&b->vals, k ? ",\"" : "\"");
            for (size_t c = 0; c < l; c++) {
                if (p[c] == '"' || p[c] == '\\')
                    sl_buf_putc(&b->vals, '\\');
                sl_buf_putc(&b->vals, p[c]);
            }
            sl_buf_putc(&b->vals, '"');
            p += l + 1;
        }
        sl_buf_putc(&b->vals, '}');
    } else if (v->kind == SL_VAL_BOOL && col->kind == SL_VAL_BOOL) {
        sl_buf_puts(&b->vals, v->u.b ? "true" : "false");
    } else if ((err = app_conv_text(v, APP_CONV_BIT_DIGITS, &b->vals, errstr, errstr_size))) {
        return err;
    }
    size_t n = b->vals.len - start;
    if (memchr(b->vals.data + start, '\0', n)) {
        snprintf(errstr, errstr_size, "column %s: the %s value holds a NUL byte (U+0000), "
                 "which PostgreSQL text cannot store", col->name, sl_val_kind_name(v->kind));
        return SL_ERR_INVALID;
    }
    b->len[i] = (int)n;
    return sl_buf_putc(&b->vals, '\0');
}

static uint64_t key_hash(const pgtab_t *b, const sl_value_t *img, const uint32_t *src_of_w)
{
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t k = 0; k < b->nkey; k++) {
        const sl_value_t *v = &img[src_of_w[b->key[k]]];
        h = (h ^ (uint64_t)v->kind) * 1099511628211ULL;
        const unsigned char *p = v->data ? (const unsigned char *)v->data
                                         : (const unsigned char *)&v->u;
        size_t n = v->data ? v->len : sizeof(v->u);
        for (size_t i = 0; i < n; i++)
            h = (h ^ p[i]) * 1099511628211ULL;
    }
    return h ? h : 1;
}

/* 1 if h was already in the batch's set (then nothing is added). */
static int hash_seen(pgtab_t *b, uint64_t h)
{
    size_t n = (size_t)b->cap * 4, i = h % n;
    while (b->hashes[i]) {
        if (b->hashes[i] == h)
            return 1;
        i = (i + 1) % n;
    }
    b->hashes[i] = h;
    return 0;
}

static void describe_key(const pgtab_t *b, const sl_schema_t *s, const sl_value_t *img,
                         const uint32_t *src_of_w, char *out, size_t size)
{
    sl_buf_t kb = SL_BUF_INIT;
    char e[64];
    for (uint32_t k = 0; k < b->nkey; k++) {
        const sl_value_t *v = &img[src_of_w[b->key[k]]];
        sl_buf_printf(&kb, "%s%s=", k ? "," : "", s->cols[b->w[b->key[k]].src].name);
        if (v->kind == SL_VAL_NULL || v->kind == SL_VAL_MISSING || v->kind == SL_VAL_BYTES ||
            app_conv_text(v, APP_CONV_BIT_DIGITS, &kb, e, sizeof(e)))
            sl_buf_puts(&kb, sl_val_kind_name(v->kind));
    }
    snprintf(out, size, "(%s)", kb.data ? kb.data : "");
    sl_buf_free(&kb);
}

/* Adds one image to b's batch as op (flushing first when needed). */
static sl_err_t add_row(app_target_t *t, pgtab_t *b, const sl_schema_t *s, int op,
                        const sl_value_t *img, const uint32_t *src_of_w, char *errstr,
                        size_t errstr_size)
{
    sl_err_t err;
    uint64_t h = key_hash(b, img, src_of_w);
    if (b->nrows && (b->op != op || b->nrows == b->cap || hash_seen(b, h))) {
        if ((err = flush_tab(t, b, errstr, errstr_size)))
            return err;
    }
    if (!b->nrows) {
        b->op = op;
        hash_seen(b, h);
        describe_key(b, s, img, src_of_w, b->first_key, sizeof(b->first_key));
    }
    uint32_t per = op == OP_UPSERT ? b->nw : b->nkey;
    size_t base = (size_t)b->nrows * per;
    for (uint32_t i = 0; i < per; i++) {
        uint32_t w = op == OP_UPSERT ? i : b->key[i];
        if ((err = put_value(t, b, &s->cols[b->w[w].src], &img[src_of_w[w]], base + i, errstr,
                             errstr_size))) {
            char key[256];
            describe_key(b, s, img, src_of_w, key, sizeof(key));
            size_t l = strlen(errstr);
            snprintf(errstr + l, errstr_size - l, " (table %s, key %s)", b->qname, key);
            return err;
        }
    }
    b->nrows++;
    return SL_OK;
}

/* A one-row upsert of the columns present in img (MISSING ones left alone). */
static sl_err_t partial_upsert(app_target_t *t, pgtab_t *b, const sl_schema_t *s,
                               const sl_value_t *img, const uint32_t *src_of_w, char *errstr,
                               size_t errstr_size)
{
    sl_err_t err;
    uint32_t *cols = t->cols, n = 0;
    if ((err = flush_tab(t, b, errstr, errstr_size)))
        return err;
    for (uint32_t w = 0; w < b->nw; w++)
        if (src_of_w[w] != UINT32_MAX && img[src_of_w[w]].kind != SL_VAL_MISSING)
            cols[n++] = w;
    sl_buf_reset(&b->vals);
    for (uint32_t i = 0; i < n; i++)
        if ((err = put_value(t, b, &s->cols[b->w[cols[i]].src], &img[src_of_w[cols[i]]], i,
                             errstr, errstr_size)))
            return err;
    upsert_sql(b, &t->sql, 1, cols, n);
    if (n > t->npv) {
        const char **pv = realloc(t->pv, n * sizeof(*pv));
        if (!pv)
            return SL_ERR_NOMEM;
        t->pv = pv;
        t->npv = n;
    }
    for (uint32_t i = 0; i < n; i++)
        t->pv[i] = b->len[i] < 0 ? NULL : b->vals.data + b->off[i];
    char what[512];
    describe_key(b, s, img, src_of_w, b->first_key, sizeof(b->first_key));
    snprintf(what, sizeof(what), "upserting a partial row into %s (key %s)", b->qname,
             b->first_key);
    err = check(t, PQexecParams(t->conn, t->sql.data, (int)n, NULL, t->pv, b->len, b->fmt, 0),
                what, errstr, errstr_size);
    sl_buf_reset(&b->vals);
    return err;
}

/* --------------------------------------------------------------- ops */

static void pg_close(app_target_t *t)
{
    if (!t)
        return;
    while (t->tabs) {
        pgtab_t *n = t->tabs->next;
        tab_clear_built(t->tabs);
        sl_buf_free(&t->tabs->vals);
        prev_free(t->tabs->prev, t->tabs->nprev);
        prev_free(t->tabs->pend, t->tabs->npend);
        free(t->tabs->qname);
        free(t->tabs->schema);
        free(t->tabs->table);
        free(t->tabs);
        t->tabs = n;
    }
    if (t->conn)
        PQfinish(t->conn);
    sl_buf_free(&t->sql);
    sl_buf_free(&t->tmp);
    free(t->pv);
    free(t->src_of_w);
    free(t->cols);
    free(t->task);
    free(t);
}

static sl_err_t pg_open(app_target_t **out, const app_target_conf_t *c, char *errstr,
                        size_t errstr_size)
{
    static const char *const modes[] = {"disable", "prefer", "require", "verify-ca",
                                        "verify-full"};
    char port[16], app[128];
    sl_err_t err;
    *out = NULL;
    app_target_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->task = strdup(c->task))) {
        free(t);
        return SL_ERR_NOMEM;
    }
    static int gen;
    t->gen = ++gen;
    t->create_tables = c->create_tables;
    t->write_batch = c->write_batch;
    snprintf(port, sizeof(port), "%d", c->port);
    snprintf(app, sizeof(app), "shiftlog-applier/%.100s", c->task);
    const char *kw[16], *val[16];
    int n = 0;
#define KV(k_, v_) (kw[n] = (k_), val[n++] = (v_))
    KV("host", c->host);
    KV("port", port);
    KV("user", c->user);
    KV("password", c->password ? c->password : "");
    KV("dbname", c->database);
    KV("sslmode", modes[c->tls_mode >= 0 && c->tls_mode <= 4 ? c->tls_mode : 1]);
    if (c->tls_ca && *c->tls_ca)
        KV("sslrootcert", c->tls_ca);
    KV("connect_timeout", "5");
    KV("application_name", app);
    KV("client_encoding", "UTF8");
    KV("keepalives_idle", "10");
#undef KV
    kw[n] = val[n] = NULL;
    t->conn = PQconnectdbParams(kw, val, 0);
    if (!t->conn || PQstatus(t->conn) != CONNECTION_OK) {
        snprintf(errstr, errstr_size, "postgresql %s:%d database \"%s\" as %s: %s", c->host,
                 c->port, c->database, c->user, t->conn ? PQerrorMessage(t->conn) : "no memory");
        one_line(errstr);
        pg_close(t);
        return SL_ERR_DB;
    }
    PQsetNoticeProcessor(t->conn, notice, NULL);
    if ((err = exec(t, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
                       "SET IntervalStyle = 'postgres'; SET extra_float_digits = 3",
                    "session settings", errstr, errstr_size)))
        goto fail;
    for (int attempt = 0;; attempt++) {
        err = exec(t, "CREATE TABLE IF NOT EXISTS kafkaoffset ("
                      "task text NOT NULL, topic text NOT NULL, \"partition\" integer NOT NULL, "
                      "kafka_offset bigint NOT NULL, sub_offset bigint NOT NULL, "
                      "source_position text, updated_at timestamptz NOT NULL DEFAULT now(), "
                      "PRIMARY KEY (task, topic, \"partition\"))",
                   "creating the kafkaoffset table", errstr, errstr_size);
        if (!err || attempt > 2 || err == SL_ERR_IO)
            break;     /* a concurrent creation may collide once */
    }
    if (err)
        goto fail;
    *out = t;
    return SL_OK;
fail:
    pg_close(t);
    return err == SL_ERR_IO ? SL_ERR_DB : err;
}

static sl_err_t pg_load_position(app_target_t *t, const char *topic, int32_t partition,
                                 app_position_t *pos, char *errstr, size_t errstr_size)
{
    char part[16];
    snprintf(part, sizeof(part), "%" PRId32, partition);
    const char *p[3] = {t->task, topic, part};
    PGresult *res = PQexecParams(t->conn,
                                 "SELECT kafka_offset, sub_offset, source_position FROM "
                                 "kafkaoffset WHERE task = $1 AND topic = $2 AND "
                                 "\"partition\" = $3",
                                 3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return check(t, res, "reading the stored position", errstr, errstr_size);
    if (PQntuples(res) == 0) {
        PQclear(res);
        snprintf(errstr, errstr_size, "no stored position for task %s on %s [%d]", t->task,
                 topic, partition);
        return SL_ERR_NOT_FOUND;
    }
    memset(pos, 0, sizeof(*pos));
    snprintf(pos->topic, sizeof(pos->topic), "%s", topic);
    pos->partition = partition;
    pos->kafka_offset = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    pos->sub_offset = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    sl_err_t err = SL_OK;
    if (!PQgetisnull(res, 0, 2) && *PQgetvalue(res, 0, 2))
        err = sl_pos_parse(PQgetvalue(res, 0, 2), &pos->source, errstr, errstr_size);
    PQclear(res);
    return err ? SL_ERR_DB : SL_OK;
}

static sl_err_t pg_begin(app_target_t *t, char *errstr, size_t errstr_size)
{
    sl_err_t err = exec(t, "BEGIN", "BEGIN", errstr, errstr_size);
    t->in_txn = err == SL_OK;
    return err;
}

static sl_err_t ensure_tab(app_target_t *t, const app_table_map_t *map, pgtab_t **out,
                           char *errstr, size_t errstr_size)
{
    pgtab_t *b = tab_get(t, map->dst_schema, map->dst_table);
    if (!b)
        return SL_ERR_NOMEM;
    if (!b->valid || b->built_for != map->schema) {
        sl_err_t err = flush_tab(t, b, errstr, errstr_size);
        if (err || (err = tab_build(t, b, map, errstr, errstr_size))) {
            b->valid = 0;
            return err;
        }
        if (!b->has_prev && !b->has_pend)
            tab_remember(b, map);
    }
    *out = b;
    return SL_OK;
}

static sl_err_t pg_schema(app_target_t *t, const app_table_map_t *map, const sl_record_t *rec,
                          char *errstr, size_t errstr_size)
{
    pgtab_t *b = tab_get(t, map->dst_schema, map->dst_table);
    sl_err_t err;
    if (!b)
        return SL_ERR_NOMEM;
    if ((err = flush_tab(t, b, errstr, errstr_size)))
        return err;
    if (!b->qname) {
        sl_buf_reset(&t->tmp);
        if ((err = quote(t, &t->tmp, map->dst_schema, errstr, errstr_size)) ||
            (err = sl_buf_putc(&t->tmp, '.')) ||
            (err = quote(t, &t->tmp, map->dst_table, errstr, errstr_size)))
            return err;
        if (!(b->qname = strdup(t->tmp.data)))
            return SL_ERR_NOMEM;
    }
    /* the previous version: pending in this transaction, else committed */
    if (b->has_pend) {
        prev_free(b->prev, b->nprev);
        b->prev = b->pend;
        b->nprev = b->npend;
        b->has_prev = 1;
        b->pend = NULL;
        b->npend = 0;
        b->has_pend = 0;
    }
    if ((err = sync_table(t, b, map, 1, errstr, errstr_size)))
        return err;
    tab_remember(b, map);
    b->valid = 0;     /* rebuilt (columns, statements) at the next row */
    return SL_OK;
}

static sl_err_t pg_rows(app_target_t *t, const app_table_map_t *map, const sl_record_t *rec,
                        uint32_t first, uint32_t n, const app_position_t *pos, char *errstr,
                        size_t errstr_size)
{
    const sl_change_t *ch = &rec->u.change;
    const sl_schema_t *s = map->schema;
    pgtab_t *b;
    sl_err_t err = ensure_tab(t, map, &b, errstr, errstr_size);
    if (err)
        return err;
    if (ch->op == SL_OP_TRUNCATE) {
        if ((err = flush_tab(t, b, errstr, errstr_size)))
            return err;
        sl_buf_reset(&t->sql);
        sl_buf_printf(&t->sql, "TRUNCATE %s", b->qname);
        return exec(t, t->sql.data, "truncating", errstr, errstr_size);
    }
    /* the change's column of each written column (UINT32_MAX = absent) */
    if (b->nw > t->nscratch) {
        uint32_t *a = realloc(t->src_of_w, b->nw * sizeof(*a));
        if (a)
            t->src_of_w = a;
        uint32_t *c2 = a ? realloc(t->cols, b->nw * sizeof(*c2)) : NULL;
        if (!a || !c2)
            return SL_ERR_NOMEM;
        t->cols = c2;
        t->nscratch = b->nw;
    }
    uint32_t *src_of_w = t->src_of_w;
    int complete = 1;
    for (uint32_t w = 0; w < b->nw; w++) {
        const char *name = s->cols[b->w[w].src].name;
        uint32_t c = b->w[w].src < ch->ncols && !strcmp(ch->columns[b->w[w].src], name)
                         ? b->w[w].src : UINT32_MAX;
        for (uint32_t k = 0; c == UINT32_MAX && k < ch->ncols; k++)
            if (!strcmp(ch->columns[k], name))
                c = k;
        src_of_w[w] = c;
        if (c == UINT32_MAX)
            complete = 0;
    }
    for (uint32_t k = 0; k < b->nkey; k++)
        if (src_of_w[b->key[k]] == UINT32_MAX) {
            snprintf(errstr, errstr_size, "table %s: key column %s is not in the change",
                     b->qname, s->cols[b->w[b->key[k]].src].name);
            return SL_ERR_INVALID;
        }
    for (uint32_t r = first; r < first + n && r < ch->nrows; r++) {
        const sl_row_t *row = &ch->rows[r];
        if (ch->op == SL_OP_DELETE || ch->op == SL_OP_UPDATE) {
            if (!row->before) {
                snprintf(errstr, errstr_size, "table %s: %s row %u has no before image",
                         b->qname, sl_op_name(ch->op), r);
                return SL_ERR_INVALID;
            }
        }
        if (ch->op == SL_OP_DELETE) {
            if ((err = add_row(t, b, s, OP_DELETE, row->before, src_of_w, errstr, errstr_size)))
                return err;
            continue;
        }
        if (!row->after) {
            snprintf(errstr, errstr_size, "table %s: %s row %u has no after image", b->qname,
                     sl_op_name(ch->op), r);
            return SL_ERR_INVALID;
        }
        if (ch->op == SL_OP_UPDATE &&
            key_hash(b, row->before, src_of_w) != key_hash(b, row->after, src_of_w)) {
            int missing_key = 0;
            for (uint32_t k = 0; k < b->nkey; k++)
                missing_key |= row->before[src_of_w[b->key[k]]].kind == SL_VAL_MISSING;
            if (!missing_key &&
                (err = add_row(t, b, s, OP_DELETE, row->before, src_of_w, errstr, errstr_size)))
                return err;
        }
        int partial = !complete;
        for (uint32_t w = 0; w < b->nw && !partial; w++)
            partial = row->after[src_of_w[w]].kind == SL_VAL_MISSING;
        if (partial)
            err = partial_upsert(t, b, s, row->after, src_of_w, errstr, errstr_size);
        else
            err = add_row(t, b, s, OP_UPSERT, row->after, src_of_w, errstr, errstr_size);
        if (err)
            return err;
    }
    (void)pos;
    return SL_OK;
}

static sl_err_t pg_commit(app_target_t *t, const app_position_t *pos, char *errstr,
                          size_t errstr_size)
{
    char part[16], ko[32], so[32], sp[160];
    sl_err_t err = flush_all(t, errstr, errstr_size);
    if (err)
        return err;
    snprintf(part, sizeof(part), "%" PRId32, pos->partition);
    snprintf(ko, sizeof(ko), "%" PRId64, pos->kafka_offset);
    snprintf(so, sizeof(so), "%" PRId64, pos->sub_offset);
    sl_pos_format(&pos->source, sp, sizeof(sp));
    const char *p[6] = {t->task, pos->topic, part, ko, so, sp};
    err = check(t, PQexecParams(t->conn,
                                "INSERT INTO kafkaoffset (task, topic, \"partition\", "
                                "kafka_offset, sub_offset, source_position, updated_at) "
                                "VALUES ($1, $2, $3, $4, $5, $6, now()) "
                                "ON CONFLICT (task, topic, \"partition\") DO UPDATE SET "
                                "kafka_offset = EXCLUDED.kafka_offset, "
                                "sub_offset = EXCLUDED.sub_offset, "
                                "source_position = EXCLUDED.source_position, "
                                "updated_at = EXCLUDED.updated_at",
                                6, NULL, p, NULL, NULL, 0),
                "storing the position in kafkaoffset", errstr, errstr_size);
    if (err)
        return err;
    if ((err = exec(t, "COMMIT", "COMMIT", errstr, errstr_size)))
        return err;
    t->in_txn = 0;
    for (pgtab_t *b = t->tabs; b; b = b->next)
        if (b->has_pend) {
            prev_free(b->prev, b->nprev);
            b->prev = b->pend;
            b->nprev = b->npend;
            b->has_prev = 1;
            b->pend = NULL;
            b->npend = 0;
            b->has_pend = 0;
        }
    return SL_OK;
}

static sl_err_t pg_rollback(app_target_t *t, char *errstr, size_t errstr_size)
{
    for (pgtab_t *b = t->tabs; b; b = b->next) {
        b->nrows = 0;
        b->op = OP_NONE;
        sl_buf_reset(&b->vals);
        prev_free(b->pend, b->npend);
        b->pend = NULL;
        b->npend = 0;
        b->has_pend = 0;
        b->valid = 0;        /* DDL may have been rolled back: rebuild from the catalog */
    }
    t->in_txn = 0;
    if (PQstatus(t->conn) == CONNECTION_BAD)
        return SL_OK;
    return exec(t, "ROLLBACK", "ROLLBACK", errstr, errstr_size);
}

const app_target_ops_t app_target_pg = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .load_position = pg_load_position,
    .begin = pg_begin,
    .schema = pg_schema,
    .rows = pg_rows,
    .commit = pg_commit,
    .rollback = pg_rollback,
};
