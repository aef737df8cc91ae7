/* shiftlog-applier: the PostgreSQL target's DDL side and table state.
 *
 *   - CREATE SCHEMA / TABLE for a missing table, ADD COLUMN for a missing
 *     column, and with the previous version of the source schema known
 *     RENAME / DROP / safe MODIFY COLUMN; anything else SL_ERR_UNSUPPORTED
 *     (the core stops that table, the others go on). DDL runs inside the
 *     target transaction (PostgreSQL DDL is transactional);
 *   - the key of a table (source primary key, else a unique index of NOT
 *     NULL written columns of the target table), the target column types
 *     the writer casts its array parameters to, and the per-table state
 *     (written columns, batch arrays) the writer in target_pg.c fills.
 * Identifiers only through PQescapeIdentifier; types only as
 * target_pg_type.c rebuilds them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "sl_buf.h"
#include "sl_log.h"
#include "target_common.h"
#include "target_pg.h"

/* ------------------------------------------------------------- tables */

/* ADD COLUMN name type, with the source's carried default when there is one
 * (the rows there get it, as the source's did). A default the target type
 * refuses (another type's text) must not stop the table: the column is
 * added without it (WARN), inside a savepoint of the target transaction. */
static sl_err_t add_column(pg_target_t *t, pg_tab_t *b, sl_buf_t *q, const char *name,
                           const char *type, const sl_column_t *col, char *errstr,
                           size_t errstr_size)
{
    sl_err_t err;
    int kw;
    char dbuf[64];
    const char *d = col->dflt ? app_default_sql(col, &kw, dbuf, sizeof dbuf) : NULL;
    char *lit = d && !kw ? PQescapeLiteral(t->conn, d, strlen(d)) : NULL;
    sl_buf_reset(q);
    sl_buf_printf(q, "ALTER TABLE %s ADD COLUMN ", b->qname);
    app_pg_quote(t, q, name, errstr, errstr_size);
    sl_buf_printf(q, " %s", type);
    size_t plain = q->len;
    if (d && (kw || lit)) {
        sl_buf_printf(q, " DEFAULT %s", kw ? d : lit);
        if ((err = app_pg_exec(t, "SAVEPOINT sl_add_default", "adding a column", errstr,
                               errstr_size)))
            goto out;
        if (!(err = app_pg_exec(t, q->data, "adding a column", errstr, errstr_size))) {
            err = app_pg_exec(t, "RELEASE SAVEPOINT sl_add_default", "adding a column",
                              errstr, errstr_size);
            if (!err)
                sl_info("postgresql: %s: column %s %s added with the default %s", b->qname,
                        name, type, d);
            goto out;
        }
        sl_warn("postgresql: %s: column %s %s: the source's default %s does not fit: added "
                "without it, the rows there keep NULL (%s)", b->qname, name, type, d, errstr);
        if ((err = app_pg_exec(t, "ROLLBACK TO SAVEPOINT sl_add_default", "adding a column",
                               errstr, errstr_size)))
            goto out;
        q->len = plain;
        q->data[plain] = '\0';
    }
    if (!(err = app_pg_exec(t, q->data, "adding a column", errstr, errstr_size)))
        sl_info("postgresql: %s: column %s %s added", b->qname, name, type);
out:
    PQfreemem(lit);
    return err;
}

void app_pg_prev_free(pg_prev_col_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].type);
        free(p[i].dst);
    }
    free(p);
}

/* Target columns of schema.table: names and format_type; n = 0 when absent. */
static sl_err_t catalog_cols(pg_target_t *t, const char *schema, const char *table,
                             PGresult **out, char *errstr, size_t errstr_size)
{
    const char *p[2] = {schema, table};
    sl_err_t err = app_pg_wait(t, errstr, errstr_size);
    if (err)
        return err;
    PGresult *res = PQexecParams(
        t->conn,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p') "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return app_pg_check(t, res, "reading the target table's columns", errstr, errstr_size);
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
/* ALTER TABLE "schema"."table" <clause> "name" (SET SCHEMA / RENAME TO). */
static sl_err_t alter_renamed(pg_target_t *t, const char *schema, const char *table,
                              const char *clause, const char *name, const char *what,
                              char *errstr, size_t errstr_size)
{
    sl_buf_t *q = &t->sql;
    sl_err_t err;
    sl_buf_reset(q);
    sl_buf_puts(q, "ALTER TABLE ");
    if ((err = app_pg_quote(t, q, schema, errstr, errstr_size)) ||
        (err = sl_buf_putc(q, '.')) ||
        (err = app_pg_quote(t, q, table, errstr, errstr_size)))
        return err;
    sl_buf_puts(q, clause);
    if ((err = app_pg_quote(t, q, name, errstr, errstr_size)))
        return err;
    return app_pg_exec(t, q->data, what, errstr, errstr_size);
}

/* The source table was renamed to map's (map->rename_*): the target table of
 * the old name becomes this one (b) when it exists. *cols is read again. */
static sl_err_t rename_from(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                            PGresult **cols, char *errstr, size_t errstr_size)
{
    PGresult *old = NULL;
    sl_buf_t *q = &t->sql;
    sl_err_t err = catalog_cols(t, map->rename_schema, map->rename_table, &old, errstr,
                                errstr_size);
    if (err)
        return err;
    int there = PQntuples(old) > 0;
    PQclear(old);
    if (!there)
        return SL_OK;
    if (!name_ok(map->rename_schema, errstr, errstr_size, "schema") ||
        !name_ok(map->rename_table, errstr, errstr_size, "table"))
        return SL_ERR_UNSUPPORTED;
    const char *at = map->rename_schema;
    if (strcmp(map->rename_schema, map->dst_schema)) {
        sl_buf_reset(q);
        sl_buf_puts(q, "CREATE SCHEMA IF NOT EXISTS ");
        if ((err = app_pg_quote(t, q, map->dst_schema, errstr, errstr_size)) ||
            (err = app_pg_exec(t, q->data, "creating the target schema", errstr, errstr_size)))
            return err;
        if ((err = alter_renamed(t, map->rename_schema, map->rename_table, " SET SCHEMA ",
                                 map->dst_schema, "moving the renamed table", errstr,
                                 errstr_size)))
            return err;
        at = map->dst_schema;
    }
    if (strcmp(map->rename_table, map->dst_table)) {
        if ((err = alter_renamed(t, at, map->rename_table, " RENAME TO ", map->dst_table,
                                 "renaming the table", errstr, errstr_size)))
            return err;
    }
    pg_tab_t *ob = app_pg_tab_get(t, map->rename_schema, map->rename_table);
    if (ob && (ob->has_pend || ob->has_prev)) {
        /* the table's previous source version is the old name's (not an earlier
         * life of the new name): a type the rename changes, or a DDL deferred
         * into it changed, is altered below from there */
        app_pg_prev_free(b->prev, b->nprev);
        b->prev = ob->has_pend ? ob->pend : ob->prev;
        b->nprev = ob->has_pend ? ob->npend : ob->nprev;
        b->has_prev = 1;
        if (ob->has_pend)
            ob->pend = NULL, ob->npend = 0;
        else
            ob->prev = NULL, ob->nprev = 0;
    }
    if (ob) {                            /* the old name starts from nothing */
        ob->valid = 0;
        app_pg_prev_free(ob->prev, ob->nprev);
        app_pg_prev_free(ob->pend, ob->npend);
        ob->prev = ob->pend = NULL;
        ob->nprev = ob->npend = 0;
        ob->has_prev = ob->has_pend = 0;
    }
    sl_info("postgresql: source table renamed: %s.%s is now %s.%s", map->rename_schema,
            map->rename_table, map->dst_schema, map->dst_table);
    PQclear(*cols);
    *cols = NULL;
    return catalog_cols(t, map->dst_schema, map->dst_table, cols, errstr, errstr_size);
}

/* Column i renamed by the record's DDL text (a rename folded with a type
 * change: target_ddl_text.c). */
static int ddl_renamed(const pg_tab_t *b, const sl_schema_t *s, uint32_t i)
{
    return i < b->nprev && i < s->ncols && b->prev[i].name &&
           app_ddl_renames(s->ddl, b->prev[i].name, s->cols[i].name);
}

/* The target table is absent: CREATE SCHEMA / TABLE with the mapped
 * columns and the source's primary key, when ddl.apply and create_tables
 * allow it. */
static sl_err_t create_table(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                             char *errstr, size_t errstr_size)
{
    const sl_schema_t *s = map->schema;
    sl_buf_t *q = &t->sql;
    char type[128];
    sl_err_t err;
    if (t->ddl_apply == APP_DDL_NONE) {
        snprintf(errstr, errstr_size, "postgresql: table %s.%s does not exist and "
                 "ddl.apply is none: create it by hand, then resume the table",
                 map->dst_schema, map->dst_table);
        return SL_ERR_UNSUPPORTED;
    }
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
    if ((err = app_pg_quote(t, q, map->dst_schema, errstr, errstr_size)) ||
        (err = app_pg_exec(t, q->data, "creating the target schema", errstr, errstr_size)))
        return err;
    sl_buf_reset(q);
    sl_buf_printf(q, "CREATE TABLE %s (", b->qname);
    int first = 1;
    for (uint32_t i = 0; i < s->ncols; i++) {
        if (!map->dst_cols[i])
            continue;
        if ((err = app_pg_col_type(s, i, type, sizeof(type), errstr, errstr_size)))
            return err;
        if (!first)
            sl_buf_puts(q, ", ");
        first = 0;
        if ((err = app_pg_quote(t, q, map->dst_cols[i], errstr, errstr_size)))
            return err;
        sl_buf_printf(q, " %s%s", type, s->cols[i].pk ? " NOT NULL" : "");
    }
    sl_buf_puts(q, ", PRIMARY KEY (");
    for (int k = 1, n = 0; k <= (int)s->ncols; k++)
        for (uint32_t i = 0; i < s->ncols; i++)
            if (s->cols[i].pk == k) {
                if (n++)
                    sl_buf_puts(q, ", ");
                app_pg_quote(t, q, map->dst_cols[i], errstr, errstr_size);
            }
    sl_buf_puts(q, "))");
    if ((err = app_pg_exec(t, q->data, "creating the target table", errstr, errstr_size)))
        return err;
    sl_info("postgresql: created table %s from the schema of %s.%s", b->qname, s->db,
            s->table);
    return SL_OK;
}

/* Is dst a target column of the current mapping? */
static int still_mapped(const app_table_map_t *map, const char *dst)
{
    int still = 0;
    for (uint32_t k = 0; k < map->schema->ncols; k++)
        still |= map->dst_cols[k] && !strcmp(map->dst_cols[k], dst);
    return still;
}

/* ddl.apply = all, a DDL record with a known previous version: a column at
 * the same position with the same source type (or a type change the DDL
 * text shows folded with the rename) under another name is renamed (*cols
 * read again after each). */
static sl_err_t rename_cols(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                            PGresult **cols, char *errstr, size_t errstr_size)
{
    const sl_schema_t *s = map->schema;
    sl_buf_t *q = &t->sql;
    sl_err_t err;
    for (uint32_t i = 0; i < s->ncols && i < b->nprev; i++) {
        const char *nd = map->dst_cols[i], *od = b->prev[i].dst;
        if (!nd || !od || !strcmp(nd, od) ||
            (strcmp(b->prev[i].type, s->cols[i].source_type) && !ddl_renamed(b, s, i)))
            continue;
        if (col_index(*cols, od) < 0 || col_index(*cols, nd) >= 0 || still_mapped(map, od))
            continue;
        sl_buf_reset(q);
        sl_buf_printf(q, "ALTER TABLE %s RENAME COLUMN ", b->qname);
        app_pg_quote(t, q, od, errstr, errstr_size);
        sl_buf_puts(q, " TO ");
        app_pg_quote(t, q, nd, errstr, errstr_size);
        if ((err = app_pg_exec(t, q->data, "renaming a column", errstr, errstr_size)))
            return err;
        sl_info("postgresql: %s: column %s renamed to %s", b->qname, od, nd);
        PQclear(*cols);
        *cols = NULL;
        if ((err = catalog_cols(t, map->dst_schema, map->dst_table, cols, errstr, errstr_size)))
            return err;
    }
    return SL_OK;
}

/* Adds the mapped columns the table lacks; modifies a column whose source
 * type changed since the previous version (ddl_record), when the change
 * cannot lose or reject values. */
static sl_err_t add_modify_cols(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                                PGresult *cols, int ddl_record, char *errstr,
                                size_t errstr_size)
{
    const sl_schema_t *s = map->schema;
    sl_buf_t *q = &t->sql;
    char type[128];
    sl_err_t err;
    for (uint32_t i = 0; i < s->ncols; i++) {
        if (!map->dst_cols[i])
            continue;
        if ((err = app_pg_col_type(s, i, type, sizeof(type), errstr, errstr_size)))
            return err;
        int ci = col_index(cols, map->dst_cols[i]);
        sl_buf_reset(q);
        if (ci < 0) {
            if ((err = add_column(t, b, q, map->dst_cols[i], type, &s->cols[i], errstr,
                                  errstr_size)))
                return err;
            continue;
        }
        const char *have = PQgetvalue(cols, ci, 1);
        int changed = 0;
        for (uint32_t k = 0; b->has_prev && ddl_record && k < b->nprev; k++)
            if (b->prev[k].dst && !strcmp(b->prev[k].dst, map->dst_cols[i]))
                changed = strcmp(b->prev[k].type, s->cols[i].source_type) != 0;
        if (b->has_prev && ddl_record && ddl_renamed(b, s, i))   /* renamed above */
            changed = strcmp(b->prev[i].type, s->cols[i].source_type) != 0;
        if (!changed || !strcmp(have, type))
            continue;
        if (!app_pg_safe_modify(have, type)) {
            snprintf(errstr, errstr_size, "postgresql: %s: column %s changes from %s to %s, "
                     "which could lose or reject values; alter it by hand, then resume",
                     b->qname, map->dst_cols[i], have, type);
            return SL_ERR_UNSUPPORTED;
        }
        sl_buf_printf(q, "ALTER TABLE %s ALTER COLUMN ", b->qname);
        app_pg_quote(t, q, map->dst_cols[i], errstr, errstr_size);
        sl_buf_printf(q, " TYPE %s", type);
        if ((err = app_pg_exec(t, q->data, "modifying a column", errstr, errstr_size)))
            return err;
        sl_info("postgresql: %s: column %s now %s", b->qname, map->dst_cols[i], type);
    }
    return SL_OK;
}

/* ddl.apply = all, a DDL record with a known previous version: a column
 * mapped before and gone from the source now is dropped. */
static sl_err_t drop_cols(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                          PGresult *cols, char *errstr, size_t errstr_size)
{
    sl_buf_t *q = &t->sql;
    sl_err_t err;
    for (uint32_t k = 0; k < b->nprev; k++) {
        const char *od = b->prev[k].dst;
        if (!od || col_index(cols, od) < 0 || still_mapped(map, od))
            continue;
        sl_buf_reset(q);
        sl_buf_printf(q, "ALTER TABLE %s DROP COLUMN ", b->qname);
        app_pg_quote(t, q, od, errstr, errstr_size);
        if ((err = app_pg_exec(t, q->data, "dropping a column", errstr, errstr_size)))
            return err;
        sl_info("postgresql: %s: column %s dropped", b->qname, od);
    }
    return SL_OK;
}

/* In steps: names checked, the table's columns read, a source rename
 * followed, then the table created, or its columns renamed, added,
 * modified and dropped as ddl.apply allows. */
sl_err_t app_pg_sync_table(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                           int ddl_record, char *errstr, size_t errstr_size)
{
    const sl_schema_t *s = map->schema;
    PGresult *cols = NULL;
    char type[128];
    sl_err_t err;
    if (!name_ok(map->dst_schema, errstr, errstr_size, "schema") ||
        !name_ok(map->dst_table, errstr, errstr_size, "table"))
        return SL_ERR_UNSUPPORTED;
    for (uint32_t i = 0; i < s->ncols; i++) {
        if (map->dst_cols[i] && !name_ok(map->dst_cols[i], errstr, errstr_size, "column"))
            return SL_ERR_UNSUPPORTED;
        if (map->dst_cols[i] && (err = app_pg_col_type(s, i, type, sizeof(type), errstr, errstr_size)))
            return err;
    }
    if ((err = catalog_cols(t, map->dst_schema, map->dst_table, &cols, errstr, errstr_size)))
        return err;
    if (PQntuples(cols) == 0 && map->rename_table && t->ddl_apply == APP_DDL_ALL &&
        (err = rename_from(t, b, map, &cols, errstr, errstr_size))) {
        PQclear(cols);
        return err;
    }
    if (PQntuples(cols) == 0) {
        PQclear(cols);
        return create_table(t, b, map, errstr, errstr_size);
    }
    /* renames and drops need the previous version, known from a DDL record */
    int all = t->ddl_apply == APP_DDL_ALL && b->has_prev && ddl_record;
    if (t->ddl_apply == APP_DDL_NONE)
        goto out;
    if (all && (err = rename_cols(t, b, map, &cols, errstr, errstr_size)))
        goto out;
    if ((err = add_modify_cols(t, b, map, cols, ddl_record, errstr, errstr_size)))
        goto out;
    if (all)
        err = drop_cols(t, b, map, cols, errstr, errstr_size);
out:
    PQclear(cols);
    return err;
}

sl_err_t app_pg_drop_table(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                           char *errstr, size_t errstr_size)
{
    const sl_schema_t *s = map->schema;
    if (t->ddl_apply != APP_DDL_ALL) {
        sl_info("postgresql: source table %s.%s dropped; %s kept (ddl.apply is not all)",
                s->db, s->table, b->qname);
        return SL_OK;
    }
    if (!name_ok(map->dst_schema, errstr, errstr_size, "schema") ||
        !name_ok(map->dst_table, errstr, errstr_size, "table"))
        return SL_ERR_UNSUPPORTED;
    sl_buf_reset(&t->sql);
    sl_buf_printf(&t->sql, "DROP TABLE IF EXISTS %s", b->qname);
    sl_err_t err = app_pg_exec(t, t->sql.data, "dropping the table", errstr, errstr_size);
    if (err)
        return err;
    sl_info("postgresql: source table %s.%s dropped: %s dropped", s->db, s->table, b->qname);
    return SL_OK;
}

/* Key columns: the source primary key, else a unique index of the target
 * table whose columns are all NOT NULL and written. */
sl_err_t app_pg_find_key(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
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
    sl_err_t err = app_pg_wait(t, errstr, errstr_size);
    if (err)
        return err;
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
        return app_pg_check(t, res, "reading the target table's keys", errstr, errstr_size);
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

sl_err_t app_pg_col_casts(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                          char *errstr, size_t errstr_size)
{
    const char *p[2] = {map->dst_schema, map->dst_table};
    sl_err_t err = app_pg_wait(t, errstr, errstr_size);
    if (err)
        return err;
    PGresult *res = PQexecParams(
        t->conn,
        "SELECT a.attname, quote_ident(tn.nspname) || '.' || quote_ident(ty.typname) "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_type ty ON ty.oid = a.atttypid "
        "JOIN pg_namespace tn ON tn.oid = ty.typnamespace "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p') "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return app_pg_check(t, res, "reading the target table's column types", errstr,
                            errstr_size);
    for (uint32_t w = 0; w < b->nw; w++) {
        int i = col_index(res, map->dst_cols[b->w[w].src]);
        free(b->w[w].cast);
        b->w[w].cast = NULL;
        if (i < 0) {
            snprintf(errstr, errstr_size, "postgresql: table %s has no column %s", b->qname,
                     map->dst_cols[b->w[w].src]);
            PQclear(res);
            return SL_ERR_UNSUPPORTED;
        }
        if (!(b->w[w].cast = strdup(PQgetvalue(res, i, 1)))) {
            PQclear(res);
            return SL_ERR_NOMEM;
        }
    }
    PQclear(res);
    return SL_OK;
}

void app_pg_tab_remember(pg_tab_t *b, const app_table_map_t *map)
{
    const sl_schema_t *s = map->schema;
    app_pg_prev_free(b->pend, b->npend);
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

/* ------------------------------------------------------------- tables */

void app_pg_tab_clear_built(pg_tab_t *b)
{
    for (uint32_t i = 0; i < b->nw; i++) {
        free(b->w[i].qname);
        free(b->w[i].cast);
    }
    free(b->w);
    free(b->key);
    free(b->sop);
    free(b->shash);
    free(b->off);
    free(b->len);
    free(b->ht);
    b->w = NULL;
    b->key = NULL;
    b->sop = NULL;
    b->shash = NULL;
    b->off = NULL;
    b->len = NULL;
    b->ht = NULL;
    b->nw = b->nkey = 0;
    b->valid = 0;
    b->built_for = NULL;
    b->nslots = b->nup = b->ndel = 0;
    sl_buf_reset(&b->vals);
}

pg_tab_t *app_pg_tab_get(pg_target_t *t, const char *schema, const char *table)
{
    for (pg_tab_t *b = t->tabs; b; b = b->next)
        if (!strcmp(b->schema, schema) && !strcmp(b->table, table))
            return b;
    pg_tab_t *b = calloc(1, sizeof(*b));
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

/* Builds the table state for map->schema (syncing the target table). */
sl_err_t app_pg_tab_build(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                         char *errstr, size_t errstr_size)
{
    sl_err_t err;
    char name[64];
    if ((err = app_pg_wait(t, errstr, errstr_size)))
        return err;
    for (int op = 0; op < 2; op++)
        if (op ? b->prep_delete : b->prep_upsert) {
            snprintf(name, sizeof(name), "DEALLOCATE sl_%c%d_%d", op ? 'd' : 'u', t->gen, b->id);
            PQclear(PQexec(t->conn, name));
        }
    b->prep_upsert = b->prep_delete = 0;
    app_pg_tab_clear_built(b);
    free(b->qname);
    b->qname = NULL;
    sl_buf_reset(&t->tmp);
    if ((err = app_pg_quote(t, &t->tmp, map->dst_schema, errstr, errstr_size)) ||
        (err = sl_buf_putc(&t->tmp, '.')) ||
        (err = app_pg_quote(t, &t->tmp, map->dst_table, errstr, errstr_size)))
        return err;
    if (!(b->qname = strdup(t->tmp.data)))
        return SL_ERR_NOMEM;
    if ((err = app_pg_sync_table(t, b, map, 0, errstr, errstr_size)))
        return err;
    const sl_schema_t *s = map->schema;
    b->w = calloc(s->ncols ? s->ncols : 1, sizeof(*b->w));
    b->key = calloc(s->ncols ? s->ncols : 1, sizeof(*b->key));
    if (!b->w || !b->key)
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < s->ncols; i++) {
        if (!map->dst_cols[i])
            continue;
        pg_wcol_t *w = &b->w[b->nw];
        w->src = i;
        w->is_set = s->cols[i].kind == SL_VAL_SET;
        if (!(w->qname = app_pg_quoted_dup(t, map->dst_cols[i], errstr, errstr_size)))
            return SL_ERR_INVALID;
        b->nw++;
    }
    if (!b->nw) {
        snprintf(errstr, errstr_size, "postgresql: table %s: no column is mapped", b->qname);
        return SL_ERR_UNSUPPORTED;
    }
    if ((err = app_pg_find_key(t, b, map, errstr, errstr_size)) ||
        (err = app_pg_col_casts(t, b, map, errstr, errstr_size)))
        return err;
    b->cap = (uint32_t)(t->write_batch > 0 ? t->write_batch : 500);
    b->unconv = t->on_unconvertible;
    uint32_t hts = 16;
    while (hts < 2 * b->cap)
        hts *= 2;
    b->htmask = hts - 1;
    b->sop = calloc(b->cap, sizeof(*b->sop));
    b->shash = calloc(b->cap, sizeof(*b->shash));
    b->off = calloc((size_t)b->cap * b->nw, sizeof(*b->off));
    b->len = calloc((size_t)b->cap * b->nw, sizeof(*b->len));
    b->ht = calloc(hts, sizeof(*b->ht));
    if (!b->sop || !b->shash || !b->off || !b->len || !b->ht)
        return SL_ERR_NOMEM;
    b->prep_upsert = b->prep_delete = 0;
    b->id = ++t->next_id;          /* new prepared statement names */
    b->built_for = s;
    b->valid = 1;
    return SL_OK;
}

void app_pg_tabs_free(pg_target_t *t)
{
    while (t->tabs) {
        pg_tab_t *n = t->tabs->next;
        app_pg_tab_clear_built(t->tabs);
        sl_buf_free(&t->tabs->vals);
        sl_buf_free(&t->tabs->copy);
        app_pg_prev_free(t->tabs->prev, t->tabs->nprev);
        app_pg_prev_free(t->tabs->pend, t->tabs->npend);
        free(t->tabs->qname);
        free(t->tabs->schema);
        free(t->tabs->table);
        free(t->tabs);
        t->tabs = n;
    }
}
