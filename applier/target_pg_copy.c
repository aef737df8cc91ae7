/* shiftlog-applier: the PostgreSQL target's bulk path for READ rows (a
 * snapshot's): COPY instead of the unnest upsert of target_pg.c.
 *
 * A READ row replaces whatever the target holds under its key, like the
 * upsert of any change. A table's READ rows are kept as COPY text lines
 * (8 MB at most, else sent) and written, in the open transaction (so with
 * the position, exactly once as every change), by:
 *   1. `SAVEPOINT; COPY s.t (c…) FROM STDIN; RELEASE` straight into the
 *      table: an initial snapshot into an empty table costs what a plain
 *      COPY costs (an upsert costs twice or more: speculative insertion);
 *   2. when a key is already there (unique_violation; the savepoint undoes
 *      the partial COPY): COPY into a temporary staging table of the
 *      written columns, then one `INSERT INTO s.t (c…) SELECT c… FROM stage
 *      ON CONFLICT (key) DO UPDATE SET …` — the same upsert, set-based. The
 *      next PG_DIRECT_SKIP COPYs of that table go straight to staging (a
 *      re-snapshot over a full table meets keys in every chunk).
 * A chunk's keys are distinct, but one flush can hold a key more than once:
 * several source transactions are grouped into one target transaction, and
 * two snapshots of a table (or a re-snapshot of a range) in one group put
 * the same key in twice. The direct COPY then meets its own row (23505) and
 * goes to staging, whose rows are numbered in COPY order (an identity
 * column) and upserted with DISTINCT ON (key) … ORDER BY key, number DESC:
 * the last image of a key wins, as in the slot batch, and ON CONFLICT never
 * sees a key twice (21000). The slot batch of the same table is flushed before READ rows are added
 * and the reverse (target_pg.c), so a key's changes are written in order.
 * The values are the same exact texts as the parameters of the upsert
 * (app_pg_put_value), read by the same input functions with the column's
 * typmod (a too long varchar is an error in both ways, never truncated). */
#include <stdio.h>
#include <string.h>
#include <libpq-fe.h>

#include "sl_buf.h"
#include "target_pg.h"

#define PG_COPY_BYTES  (8u << 20)   /* COPY text after which a table's READ rows are sent */
#define PG_DIRECT_SKIP 16           /* COPYs through staging after a direct one met a key */
/* the staging table's row number (COPY order); a name no source column has */
#define PG_STAGE_ORD   "\"sl stage ord\""

/* Appends one value to a COPY text line: \N for NULL, else the text with
 * backslash, tab, newline and carriage return escaped. */
static sl_err_t copy_value(sl_buf_t *o, const char *p, int len)
{
    if (len < 0)
        return sl_buf_append(o, "\\N", 2);
    sl_err_t err = sl_buf_reserve(o, 2 * (size_t)len + 1);
    if (err)
        return err;
    char *d = o->data + o->len;
    for (const char *end = p + len; p < end; p++) {
        char c = *p;
        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
            *d++ = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
        }
        *d++ = c;
    }
    o->len = (size_t)(d - o->data);
    o->data[o->len] = '\0';
    return SL_OK;
}

sl_err_t app_pg_copy_add(pg_target_t *t, pg_tab_t *b, const sl_schema_t *s,
                         const sl_value_t *img, const uint32_t *src_of_w, char *errstr,
                         size_t errstr_size)
{
    sl_err_t err;
    if (b->copy.len >= PG_COPY_BYTES && (err = app_pg_copy_flush(t, b, errstr, errstr_size)))
        return err;
    if (!b->ncopy)
        app_pg_describe_key(b, s, img, src_of_w, b->first_key, sizeof(b->first_key));
    /* the texts go through slot 0's arrays: the slot batch is empty meanwhile */
    sl_buf_reset(&b->vals);
    for (uint32_t w = 0; w < b->nw; w++)
        if ((err = app_pg_put_value(b, &s->cols[b->w[w].src], &img[src_of_w[w]], w, errstr,
                                    errstr_size))) {
            char key[256];
            app_pg_describe_key(b, s, img, src_of_w, key, sizeof(key));
            size_t l = strlen(errstr);
            snprintf(errstr + l, errstr_size - l, " (table %s, key %s)", b->qname, key);
            sl_buf_reset(&b->vals);
            return err;
        }
    size_t mark = b->copy.len;
    for (uint32_t w = 0; w < b->nw; w++)
        if ((err = copy_value(&b->copy, b->vals.data + b->off[w], b->len[w])) ||
            (err = sl_buf_putc(&b->copy, w + 1 < b->nw ? '\t' : '\n'))) {
            b->copy.len = mark;
            break;
        }
    sl_buf_reset(&b->vals);
    if (!err)
        b->ncopy++;
    return err;
}

/* `COPY into (written columns) FROM STDIN` of b's lines. SL_OK, or the
 * classified error with the server's SQLSTATE in state ("" if none). */
static sl_err_t copy_send(pg_target_t *t, pg_tab_t *b, const char *into, const char *what,
                          char state[6], char *errstr, size_t errstr_size)
{
    state[0] = '\0';
    sl_buf_reset(&t->sql);
    sl_buf_printf(&t->sql, "COPY %s (", into);
    for (uint32_t w = 0; w < b->nw; w++)
        sl_buf_printf(&t->sql, "%s%s", w ? ", " : "", b->w[w].qname);
    sl_buf_puts(&t->sql, ") FROM STDIN");
    PGresult *res = PQexec(t->conn, t->sql.data);
    if (PQresultStatus(res) != PGRES_COPY_IN)
        goto fail;
    PQclear(res);
    if (PQputCopyData(t->conn, b->copy.data, (int)b->copy.len) != 1 ||
        PQputCopyEnd(t->conn, NULL) != 1)
        return app_pg_check(t, NULL, what, errstr, errstr_size);
    res = PQgetResult(t->conn);
    for (PGresult *more; (more = PQgetResult(t->conn));)   /* libpq is idle after NULL */
        PQclear(more);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return SL_OK;
    }
fail: {
        const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        snprintf(state, 6, "%s", st ? st : "");
        return app_pg_check(t, res, what, errstr, errstr_size);
    }
}

/* The staging table of b (created once per connection and table shape;
 * ON COMMIT DELETE ROWS empties it at every commit), emptied of the rows
 * an earlier flush of this transaction left there. */
static sl_err_t stage_ready(pg_target_t *t, pg_tab_t *b, const char *stage, char *errstr,
                            size_t errstr_size)
{
    sl_err_t err;
    if (b->stage_ready) {
        if (!b->stage_dirty)
            return SL_OK;
        sl_buf_reset(&t->sql);
        sl_buf_printf(&t->sql, "TRUNCATE %s", stage);
        return app_pg_exec(t, t->sql.data, "emptying a staging table", errstr, errstr_size);
    }
    sl_buf_reset(&t->sql);
    sl_buf_printf(&t->sql, "DROP TABLE IF EXISTS %s", stage);
    if ((err = app_pg_exec(t, t->sql.data, "dropping an old staging table", errstr,
                           errstr_size)))
        return err;
    /* the written columns with the target's types and typmods, no constraint */
    sl_buf_reset(&t->sql);
    sl_buf_printf(&t->sql, "CREATE TEMPORARY TABLE %s ON COMMIT DELETE ROWS AS SELECT ",
                  stage);
    for (uint32_t w = 0; w < b->nw; w++)
        sl_buf_printf(&t->sql, "%s%s", w ? ", " : "", b->w[w].qname);
    sl_buf_printf(&t->sql, " FROM %s WITH NO DATA; ALTER TABLE %s ADD COLUMN "
                  PG_STAGE_ORD " bigint GENERATED ALWAYS AS IDENTITY", b->qname, stage);
    if ((err = app_pg_exec(t, t->sql.data, "creating a staging table", errstr, errstr_size)))
        return err;
    b->stage_ready = 1;
    return SL_OK;
}

sl_err_t app_pg_copy_flush(pg_target_t *t, pg_tab_t *b, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    char what[512], state[6], stage[64];
    if (!b->ncopy)
        return SL_OK;
    if ((err = app_pg_wait(t, errstr, errstr_size)))
        goto out;
    snprintf(what, sizeof(what), "copying %u read row(s) into %s (first key %s)", b->ncopy,
             b->qname, b->first_key);
    if (b->direct_skip) {
        b->direct_skip--;
    } else {
        if ((err = app_pg_exec(t, "SAVEPOINT sl_copy", "SAVEPOINT", errstr, errstr_size)))
            goto out;
        err = copy_send(t, b, b->qname, what, state, errstr, errstr_size);
        if (!err) {
            err = app_pg_exec(t, "RELEASE SAVEPOINT sl_copy", "RELEASE SAVEPOINT", errstr,
                              errstr_size);
            goto out;
        }
        if (strcmp(state, "23505"))          /* not a key already there */
            goto out;
        if ((err = app_pg_exec(t, "ROLLBACK TO SAVEPOINT sl_copy; RELEASE SAVEPOINT sl_copy",
                               "ROLLBACK TO SAVEPOINT", errstr, errstr_size)))
            goto out;
        b->direct_skip = PG_DIRECT_SKIP;
    }
    snprintf(stage, sizeof(stage), "pg_temp.sl_stage_%d", b->id);
    if ((err = stage_ready(t, b, stage, errstr, errstr_size)) ||
        (err = copy_send(t, b, stage, what, state, errstr, errstr_size)))
        goto out;
    b->stage_dirty = 1;
    sl_buf_reset(&t->sql);
    sl_buf_printf(&t->sql, "INSERT INTO %s (", b->qname);
    for (uint32_t w = 0; w < b->nw; w++)
        sl_buf_printf(&t->sql, "%s%s", w ? ", " : "", b->w[w].qname);
    sl_buf_puts(&t->sql, ") SELECT DISTINCT ON (");
    for (uint32_t k = 0; k < b->nkey; k++)
        sl_buf_printf(&t->sql, "%s%s", k ? ", " : "", b->w[b->key[k]].qname);
    sl_buf_puts(&t->sql, ") ");
    for (uint32_t w = 0; w < b->nw; w++)
        sl_buf_printf(&t->sql, "%s%s", w ? ", " : "", b->w[w].qname);
    sl_buf_printf(&t->sql, " FROM %s ORDER BY ", stage);
    for (uint32_t k = 0; k < b->nkey; k++)
        sl_buf_printf(&t->sql, "%s, ", b->w[b->key[k]].qname);
    sl_buf_puts(&t->sql, PG_STAGE_ORD " DESC");
    app_pg_upsert_set(b, &t->sql, NULL, b->nw);
    err = app_pg_exec(t, t->sql.data, what, errstr, errstr_size);
out:
    sl_buf_reset(&b->copy);
    b->ncopy = 0;
    return err;
}
