/* shiftlog-applier: the PostgreSQL target (libpq), app_target_pg: the
 * connection, the writer and the target ops. CREATE / ALTER, the type map
 * and key discovery are in target_pg_ddl.c.
 *
 * Writes, per target table, in batches of up to write_batch changes:
 *   - a batch holds one slot per key: a later change of a key already in
 *     the batch supersedes its slot (the last image wins; a delete replaces
 *     an upsert and the reverse), so a key repeated inside a batch never
 *     forces an early flush. The final state of every key is independent of
 *     the others, so a batch is sent as one DELETE of the keys whose last
 *     change is a delete, then one upsert of the others in the order of
 *     their last change (deletes first: a unique value released by a deleted
 *     row is free for the upserts);
 *   - upsert: `INSERT INTO s.t (c…) SELECT u.a1::type, … FROM ROWS FROM
 *     (unnest($1::text[]), …) AS u(a1, …) ON CONFLICT (key) DO UPDATE SET
 *     c = EXCLUDED.c, …` — one text[] parameter per column holding the
 *     batch's values, a server-side prepared statement per table reused
 *     across batches and transactions (one Bind/Execute per batch, whatever
 *     its size; no 65535-parameter limit). The cast is to the column's type
 *     without typmod ("pg_catalog"."bit", not bit = bit(1)); the assignment
 *     applies the typmod exactly as for a plain parameter (a too long
 *     varchar is an error, never truncated);
 *   - delete: `DELETE FROM s.t WHERE (k…) IN (SELECT … FROM ROWS FROM
 *     (unnest($1::text[]), …) …)`, prepared the same way;
 *   - an UPDATE that changes the key: delete of the old key, upsert of the
 *     new; a row with a MISSING (unchanged TOAST) value merges into the
 *     key's upsert already in the batch, else (rare) the batch is flushed
 *     and a one-row upsert of the columns present runs;
 *   - the batch statement is sent without waiting for its result (libpq
 *     async, one in flight): the next batch is decoded and built while the
 *     server executes; every other command and commit() wait for it first,
 *     and its error is reported then (naming table and first key);
 *   - values only as parameters (exact text forms of target_common.h;
 *     bytea as \x hex text), identifiers only through PQescapeIdentifier;
 *   - commit: flush every table, upsert the kafkaoffset row (task, topic,
 *     partition, kafka_offset, sub_offset, source_position, updated_at) in
 *     the same transaction, COMMIT.
 * The batches of different tables are independent (rows of one table keep
 * their order; tables may be written in another order inside the one
 * transaction: foreign keys between target tables must be DEFERRABLE).
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
#include "target_common.h"
#include "target_pg.h"

#define PG_BATCH_BYTES (8u << 20)   /* value bytes after which a batch is sent */

enum { OP_NONE = 0, OP_UPSERT = 1, OP_DELETE = 2 };


/* 1 when a and b have the same text form (exact; used for key changes). */
static int val_eq(const sl_value_t *a, const sl_value_t *b)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case SL_VAL_NULL:
    case SL_VAL_MISSING:
        return 1;
    case SL_VAL_BOOL:
        return !a->u.b == !b->u.b;
    case SL_VAL_INT:
        return a->u.i == b->u.i;
    case SL_VAL_UINT:
        return a->u.u == b->u.u;
    case SL_VAL_FLOAT:
        return !memcmp(&a->u.f, &b->u.f, sizeof(a->u.f));
    case SL_VAL_DOUBLE:
        return !memcmp(&a->u.d, &b->u.d, sizeof(a->u.d));
    case SL_VAL_TEMPORAL:
        if (a->u.t.has_micros != b->u.t.has_micros || a->u.t.micros != b->u.t.micros ||
            a->u.t.precision != b->u.t.precision)
            return 0;
        break;
    case SL_VAL_BIT:
        if (a->u.bit.nbits != b->u.bit.nbits)
            return 0;
        break;
    case SL_VAL_SET:
        if (a->n != b->n)
            return 0;
        break;
    default:
        break;
    }
    return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

/* ------------------------------------------------------------- batches */

static uint64_t slot_hash(const pg_tab_t *b, uint32_t slot)
{
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t k = 0; k < b->nkey; k++) {
        size_t i = (size_t)slot * b->nw + b->key[k];
        int n = b->len[i];
        h = (h ^ (uint64_t)(uint32_t)n) * 1099511628211ULL;
        const unsigned char *p = (const unsigned char *)b->vals.data + b->off[i];
        for (int c = 0; c < n; c++)
            h = (h ^ p[c]) * 1099511628211ULL;
    }
    return h;
}

static int slot_key_eq(const pg_tab_t *b, uint32_t x, uint32_t y)
{
    for (uint32_t k = 0; k < b->nkey; k++) {
        size_t i = (size_t)x * b->nw + b->key[k], j = (size_t)y * b->nw + b->key[k];
        if (b->len[i] != b->len[j] ||
            (b->len[i] > 0 &&
             memcmp(b->vals.data + b->off[i], b->vals.data + b->off[j], (size_t)b->len[i])))
            return 0;
    }
    return 1;
}

/* The hash-table entry of slot's key: an entry holding an older slot of the
 * same key, or the empty entry where it goes. */
static uint32_t ht_find(const pg_tab_t *b, uint64_t h, uint32_t slot)
{
    uint32_t i = (uint32_t)h & b->htmask;
    while (b->ht[i]) {
        uint32_t s = b->ht[i] - 1;
        if (b->shash[s] == h && slot_key_eq(b, s, slot))
            return i;
        i = (i + 1) & b->htmask;
    }
    return i;
}


static sl_err_t param_room(pg_target_t *t, size_t n)
{
    if (n <= t->npv)
        return SL_OK;
    const char **pv = realloc(t->pv, n * sizeof(*pv));
    if (pv)
        t->pv = pv;
    int *pl = pv ? realloc(t->plen, n * sizeof(*pl)) : NULL;
    if (!pv || !pl)
        return SL_ERR_NOMEM;
    t->plen = pl;
    t->npv = n;
    return SL_OK;
}

/* Appends column w of the live slots of op as a text[] literal, NUL-ended;
 * returns its offset in t->arr. */
static sl_err_t put_array(pg_target_t *t, const pg_tab_t *b, int op, uint32_t w,
                          size_t *at)
{
    sl_buf_t *a = &t->arr;
    *at = a->len;
    sl_err_t err = sl_buf_putc(a, '{');
    int first = 1;
    for (uint32_t s = 0; s < b->nslots && !err; s++) {
        if (b->sop[s] != op)
            continue;
        size_t i = (size_t)s * b->nw + w;
        if (!first)
            sl_buf_putc(a, ',');
        first = 0;
        if (b->len[i] < 0) {
            err = sl_buf_puts(a, "NULL");
            continue;
        }
        const char *p = b->vals.data + b->off[i], *end = p + b->len[i];
        if ((err = sl_buf_reserve(a, 2 * (size_t)b->len[i] + 2)))
            break;
        char *o = a->data + a->len;
        *o++ = '"';
        for (; p < end; p++) {
            if (*p == '"' || *p == '\\')
                *o++ = '\\';
            *o++ = *p;
        }
        *o++ = '"';
        a->len = (size_t)(o - a->data);
        a->data[a->len] = '\0';
    }
    if (!err && !(err = sl_buf_putc(a, '}')))
        err = sl_buf_putc(a, '\0');
    return err;
}

/* `ROWS FROM (unnest($1::text[]), …) AS u(a1, …)` over the given columns. */
static void rows_from(sl_buf_t *q, uint32_t n)
{
    sl_buf_puts(q, " FROM ROWS FROM (");
    for (uint32_t i = 0; i < n; i++)
        sl_buf_printf(q, "%sunnest($%u::text[])", i ? ", " : "", i + 1);
    sl_buf_puts(q, ") AS u(");
    for (uint32_t i = 0; i < n; i++)
        sl_buf_printf(q, "%sa%u", i ? ", " : "", i + 1);
    sl_buf_putc(q, ')');
}


static void batch_sql(const pg_tab_t *b, sl_buf_t *q, int op)
{
    sl_buf_reset(q);
    if (op == OP_UPSERT) {
        sl_buf_printf(q, "INSERT INTO %s (", b->qname);
        for (uint32_t i = 0; i < b->nw; i++)
            sl_buf_printf(q, "%s%s", i ? ", " : "", b->w[i].qname);
        sl_buf_puts(q, ") SELECT ");
        for (uint32_t i = 0; i < b->nw; i++)
            sl_buf_printf(q, "%su.a%u::%s", i ? ", " : "", i + 1, b->w[i].cast);
        rows_from(q, b->nw);
        app_pg_upsert_set(b, q, NULL, b->nw);
        return;
    }
    sl_buf_printf(q, "DELETE FROM %s WHERE (", b->qname);
    for (uint32_t k = 0; k < b->nkey; k++)
        sl_buf_printf(q, "%s%s", k ? ", " : "", b->w[b->key[k]].qname);
    sl_buf_puts(q, ") IN (SELECT ");
    for (uint32_t k = 0; k < b->nkey; k++)
        sl_buf_printf(q, "%su.a%u::%s", k ? ", " : "", k + 1, b->w[b->key[k]].cast);
    rows_from(q, b->nkey);
    sl_buf_putc(q, ')');
}

/* Sends the live slots of op as one statement (prepared once per table and
 * connection). wait = 0 leaves it in flight (app_pg_wait collects it). */
static sl_err_t send_op(pg_target_t *t, pg_tab_t *b, int op, uint32_t nrows, int wait,
                        char *errstr, size_t errstr_size)
{
    uint32_t np = op == OP_UPSERT ? b->nw : b->nkey;
    size_t at[np ? np : 1];
    sl_err_t err;
    if ((err = app_pg_wait(t, errstr, errstr_size)) || (err = param_room(t, np)))
        return err;
    sl_buf_reset(&t->arr);
    for (uint32_t i = 0; i < np; i++)
        if ((err = put_array(t, b, op, op == OP_UPSERT ? i : b->key[i], &at[i])))
            return err;
    for (uint32_t i = 0; i < np; i++) {
        t->pv[i] = t->arr.data + at[i];
        t->plen[i] = 0;
    }
    char name[64], what[512];
    snprintf(what, sizeof(what), "%s %u row(s) %s %s (first key %s)",
             op == OP_UPSERT ? "upserting" : "deleting", nrows,
             op == OP_UPSERT ? "into" : "from", b->qname, b->first_key);
    int *prep = op == OP_UPSERT ? &b->prep_upsert : &b->prep_delete;
    snprintf(name, sizeof(name), "sl_%c%d_%d", op == OP_UPSERT ? 'u' : 'd', t->gen, b->id);
    if (!*prep) {
        batch_sql(b, &t->sql, op);
        PGresult *res = PQprepare(t->conn, name, t->sql.data, (int)np, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return app_pg_check(t, res, what, errstr, errstr_size);
        PQclear(res);
        *prep = 1;
    }
    if (wait)
        return app_pg_check(t, PQexecPrepared(t->conn, name, (int)np, t->pv, NULL, NULL, 0),
                            what, errstr, errstr_size);
    if (!PQsendQueryPrepared(t->conn, name, (int)np, t->pv, NULL, NULL, 0))
        return app_pg_check(t, NULL, what, errstr, errstr_size);
    t->inflight = 1;
    snprintf(t->inflight_what, sizeof(t->inflight_what), "%s", what);
    return SL_OK;
}

static void batch_clear(pg_tab_t *b)
{
    b->nslots = b->nup = b->ndel = 0;
    sl_buf_reset(&b->vals);
    if (b->ht)
        memset(b->ht, 0, ((size_t)b->htmask + 1) * sizeof(*b->ht));
}

/* Sends b's batch: its deletes, then its upserts (left in flight). */
static sl_err_t flush_tab(pg_target_t *t, pg_tab_t *b, char *errstr, size_t errstr_size)
{
    sl_err_t err = SL_OK;
    if (b->ncopy)                       /* READ rows (never with slots: see add_row) */
        return app_pg_copy_flush(t, b, errstr, errstr_size);
    if (!b->nslots)
        return SL_OK;
    if (b->ndel)
        err = send_op(t, b, OP_DELETE, b->ndel, b->nup > 0, errstr, errstr_size);
    if (!err && b->nup)
        err = send_op(t, b, OP_UPSERT, b->nup, 0, errstr, errstr_size);
    batch_clear(b);
    return err;
}

static sl_err_t flush_all(pg_target_t *t, char *errstr, size_t errstr_size)
{
    for (pg_tab_t *b = t->tabs; b; b = b->next) {
        sl_err_t err = flush_tab(t, b, errstr, errstr_size);
        if (err)
            return err;
    }
    return app_pg_wait(t, errstr, errstr_size);
}

/* Adds one image to b's batch as op; partial: img lacks columns (MISSING),
 * merged into the key's upsert in the batch — *merged = 0 when there is
 * none (nothing added). */
static sl_err_t add_row(pg_target_t *t, pg_tab_t *b, const sl_schema_t *s, int op,
                        int partial, const sl_value_t *img, const uint32_t *src_of_w,
                        int *merged, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    if (b->ncopy || b->nslots == b->cap || b->vals.len >= PG_BATCH_BYTES)
        if ((err = flush_tab(t, b, errstr, errstr_size)))
            return err;
    if (!b->nslots)
        app_pg_describe_key(b, s, img, src_of_w, b->first_key, sizeof(b->first_key));
    uint32_t slot = b->nslots, nw = b->nw;
    size_t base = (size_t)slot * nw, mark = b->vals.len;
    for (uint32_t k = 0; k < b->nkey; k++) {
        uint32_t w = b->key[k];
        if ((err = app_pg_put_value(b, &s->cols[b->w[w].src], &img[src_of_w[w]], base + w, errstr,
                             errstr_size)))
            goto bad;
    }
    uint64_t h = slot_hash(b, slot);
    uint32_t e = ht_find(b, h, slot);
    uint32_t old = b->ht[e] ? b->ht[e] - 1 : UINT32_MAX;
    if (partial) {
        if (old == UINT32_MAX || b->sop[old] != OP_UPSERT) {
            b->vals.len = mark;
            b->vals.data[mark] = '\0';
            *merged = 0;
            return SL_OK;
        }
        memcpy(&b->off[base], &b->off[(size_t)old * nw], nw * sizeof(*b->off));
        memcpy(&b->len[base], &b->len[(size_t)old * nw], nw * sizeof(*b->len));
        *merged = 1;
    }
    if (op == OP_UPSERT) {
        for (uint32_t w = 0; w < nw; w++) {
            const sl_value_t *v = src_of_w[w] == UINT32_MAX ? NULL : &img[src_of_w[w]];
            int iskey = 0;
            for (uint32_t k = 0; k < b->nkey; k++)
                iskey |= b->key[k] == w;
            if (iskey || (partial && (!v || v->kind == SL_VAL_MISSING)))
                continue;
            if ((err = app_pg_put_value(b, &s->cols[b->w[w].src], v, base + w, errstr, errstr_size)))
                goto bad;
        }
        b->nup++;
    } else {
        b->ndel++;
    }
    if (old != UINT32_MAX) {
        if (b->sop[old] == OP_UPSERT)
            b->nup--;
        else
            b->ndel--;
        b->sop[old] = OP_NONE;
    }
    b->sop[slot] = (uint8_t)op;
    b->shash[slot] = h;
    b->ht[e] = slot + 1;
    b->nslots++;
    return SL_OK;
bad: {
        char key[256];
        app_pg_describe_key(b, s, img, src_of_w, key, sizeof(key));
        size_t l = strlen(errstr);
        snprintf(errstr + l, errstr_size - l, " (table %s, key %s)", b->qname, key);
        return err;
    }
}

/* A one-row UPDATE of the columns present in img (MISSING ones, such as an
 * unchanged TOAST value, left as the target has them). The row must be in
 * the target: a missing one is not created with those columns NULL (that
 * would invent values) but refused (SL_ERR_INVALID, naming the columns), so
 * its source transaction goes to the DLQ; the next full image creates it. */
static sl_err_t partial_upsert(pg_target_t *t, pg_tab_t *b, const sl_schema_t *s,
                               const sl_value_t *img, const uint32_t *src_of_w, char *errstr,
                               size_t errstr_size)
{
    sl_err_t err;
    uint32_t *cols = t->cols, n = 0, nset = 0;
    if ((err = flush_tab(t, b, errstr, errstr_size)) ||
        (err = app_pg_wait(t, errstr, errstr_size)))
        return err;
    for (uint32_t w = 0; w < b->nw; w++) {         /* SET columns first, then the key */
        int iskey = 0;
        for (uint32_t k = 0; k < b->nkey; k++)
            iskey |= b->key[k] == w;
        if (!iskey && src_of_w[w] != UINT32_MAX && img[src_of_w[w]].kind != SL_VAL_MISSING)
            cols[n++] = w;
    }
    nset = n;
    for (uint32_t k = 0; k < b->nkey; k++)
        cols[n++] = b->key[k];
    if ((err = param_room(t, n)))
        return err;
    for (uint32_t i = 0; i < n; i++)
        if ((err = app_pg_put_value(b, &s->cols[b->w[cols[i]].src], &img[src_of_w[cols[i]]], i,
                             errstr, errstr_size)))
            goto out;
    sl_buf_reset(&t->sql);
    sl_buf_printf(&t->sql, "UPDATE %s SET ", b->qname);
    if (!nset)                          /* nothing but the key: the row must be there */
        sl_buf_printf(&t->sql, "%s = %s", b->w[b->key[0]].qname, b->w[b->key[0]].qname);
    for (uint32_t i = 0; i < nset; i++)
        sl_buf_printf(&t->sql, "%s%s = $%u", i ? ", " : "", b->w[cols[i]].qname, i + 1);
    for (uint32_t i = nset; i < n; i++)
        sl_buf_printf(&t->sql, "%s%s = $%u", i > nset ? " AND " : " WHERE ", b->w[cols[i]].qname,
                      i + 1);
    for (uint32_t i = 0; i < n; i++)
        t->pv[i] = b->len[i] < 0 ? NULL : b->vals.data + b->off[i];
    char what[512];
    app_pg_describe_key(b, s, img, src_of_w, b->first_key, sizeof(b->first_key));
    snprintf(what, sizeof(what), "updating a partial row of %s (key %s)", b->qname,
             b->first_key);
    PGresult *res = PQexecParams(t->conn, t->sql.data, (int)n, NULL, t->pv, NULL, NULL, 0);
    int found = res && PQresultStatus(res) == PGRES_COMMAND_OK && atoi(PQcmdTuples(res)) > 0;
    if ((err = app_pg_check(t, res, what, errstr, errstr_size)))
        goto out;
    if (!found) {
        size_t l = (size_t)snprintf(errstr, errstr_size, "postgresql: %s (key %s): the change "
                                    "does not carry column(s)", b->qname, b->first_key);
        for (uint32_t w = 0; w < b->nw && l < errstr_size; w++)
            if (src_of_w[w] != UINT32_MAX && img[src_of_w[w]].kind == SL_VAL_MISSING)
                l += (size_t)snprintf(errstr + l, errstr_size - l, " %s",
                                      s->cols[b->w[w].src].name);
        if (l < errstr_size)
            snprintf(errstr + l, errstr_size - l, " (unchanged in the source: TOAST or a "
                     "minimal row image) and the row is not in the target: writing it would "
                     "invent those values; the next full image of the row creates it");
        err = SL_ERR_INVALID;
    }
out:
    batch_clear(b);
    return err;
}
/* --------------------------------------------------------------- ops */

static sl_err_t pg_begin(app_target_t *at, char *errstr, size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    sl_err_t err = app_pg_exec(t, "BEGIN", "BEGIN", errstr, errstr_size);
    t->in_txn = err == SL_OK;
    return err;
}

static sl_err_t ensure_tab(pg_target_t *t, const app_table_map_t *map, pg_tab_t **out,
                           char *errstr, size_t errstr_size)
{
    pg_tab_t *b = app_pg_tab_get(t, map->dst_schema, map->dst_table);
    if (!b)
        return SL_ERR_NOMEM;
    if (!b->valid || b->built_for != map->schema) {
        sl_err_t err = flush_tab(t, b, errstr, errstr_size);
        if (err || (err = app_pg_tab_build(t, b, map, errstr, errstr_size))) {
            b->valid = 0;
            return err;
        }
        b->stage_ready = 0;             /* the staging table had the old columns */
        if (!b->has_prev && !b->has_pend)
            app_pg_tab_remember(b, map);
    }
    *out = b;
    return SL_OK;
}

static sl_err_t pg_schema(app_target_t *at, const app_table_map_t *map, const sl_record_t *rec,
                          char *errstr, size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    pg_tab_t *b = app_pg_tab_get(t, map->dst_schema, map->dst_table);
    sl_err_t err;
    if (!b)
        return SL_ERR_NOMEM;
    if ((err = flush_tab(t, b, errstr, errstr_size)))
        return err;
    if (!b->qname) {
        sl_buf_reset(&t->tmp);
        if ((err = app_pg_quote(t, &t->tmp, map->dst_schema, errstr, errstr_size)) ||
            (err = sl_buf_putc(&t->tmp, '.')) ||
            (err = app_pg_quote(t, &t->tmp, map->dst_table, errstr, errstr_size)))
            return err;
        if (!(b->qname = strdup(t->tmp.data)))
            return SL_ERR_NOMEM;
    }
    /* the previous version: pending in this transaction, else committed */
    if (b->has_pend) {
        app_pg_prev_free(b->prev, b->nprev);
        b->prev = b->pend;
        b->nprev = b->npend;
        b->has_prev = 1;
        b->pend = NULL;
        b->npend = 0;
        b->has_pend = 0;
    }
    if (map->rename_table) {
        /* rows of the old name still in its batch go there before it is renamed */
        pg_tab_t *ob = app_pg_tab_get(t, map->rename_schema, map->rename_table);
        if (!ob)
            return SL_ERR_NOMEM;
        if ((err = flush_tab(t, ob, errstr, errstr_size)))
            return err;
    }
    if (sl_schema_dropped(&rec->u.schema))
        err = app_pg_drop_table(t, b, map, errstr, errstr_size);
    else
        err = app_pg_sync_table(t, b, map, 1, errstr, errstr_size);
    if (err)
        return err;
    app_pg_tab_remember(b, map);
    b->valid = 0;     /* rebuilt (columns, statements) at the next row */
    return SL_OK;
}

static sl_err_t pg_rows(app_target_t *at, const app_table_map_t *map, const sl_record_t *rec,
                        uint32_t first, uint32_t n, const app_position_t *pos, char *errstr,
                        size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    const sl_change_t *ch = &rec->u.change;
    const sl_schema_t *s = map->schema;
    pg_tab_t *b;
    sl_err_t err = ensure_tab(t, map, &b, errstr, errstr_size);
    if (err)
        return err;
    if (ch->op == SL_OP_TRUNCATE) {
        if ((err = flush_tab(t, b, errstr, errstr_size)))
            return err;
        sl_buf_reset(&t->sql);
        sl_buf_printf(&t->sql, "TRUNCATE %s", b->qname);
        return app_pg_exec(t, t->sql.data, "truncating", errstr, errstr_size);
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
            if ((err = add_row(t, b, s, OP_DELETE, 0, row->before, src_of_w, NULL, errstr,
                               errstr_size)))
                return err;
            continue;
        }
        if (!row->after) {
            snprintf(errstr, errstr_size, "table %s: %s row %u has no after image", b->qname,
                     sl_op_name(ch->op), r);
            return SL_ERR_INVALID;
        }
        if (ch->op == SL_OP_UPDATE) {
            /* a changed key: delete the old one (unless the image lacks it) */
            int same = 1, missing_key = 0;
            for (uint32_t k = 0; k < b->nkey; k++) {
                const sl_value_t *o = &row->before[src_of_w[b->key[k]]];
                missing_key |= o->kind == SL_VAL_MISSING;
                same &= val_eq(o, &row->after[src_of_w[b->key[k]]]);
            }
            if (!same && !missing_key &&
                (err = add_row(t, b, s, OP_DELETE, 0, row->before, src_of_w, NULL, errstr,
                               errstr_size)))
                return err;
        }
        int partial = !complete, merged = 1;
        for (uint32_t w = 0; w < b->nw && !partial; w++)
            partial = row->after[src_of_w[w]].kind == SL_VAL_MISSING;
        if (partial && ch->op == SL_OP_READ) {
            /* the core refuses such a READ first (app_read_check): a snapshot row is
             * a whole row, never the partial update of a row that may be missing */
            snprintf(errstr, errstr_size, "table %s: read row %u does not carry every "
                     "column", b->qname, r);
            return SL_ERR_INVALID;
        }
        if (ch->op == SL_OP_READ) {     /* the bulk path (target_pg_copy.c) */
            if ((b->nslots && (err = flush_tab(t, b, errstr, errstr_size))) ||
                (err = app_pg_copy_add(t, b, s, row->after, src_of_w, errstr, errstr_size)))
                return err;
            continue;
        }
        err = add_row(t, b, s, OP_UPSERT, partial, row->after, src_of_w, &merged, errstr,
                      errstr_size);
        if (!err && !merged)
            err = partial_upsert(t, b, s, row->after, src_of_w, errstr, errstr_size);
        if (err)
            return err;
    }
    (void)pos;
    return SL_OK;
}

static sl_err_t pg_commit(app_target_t *at, const app_position_t *pos, char *errstr,
                          size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    sl_err_t err = flush_all(t, errstr, errstr_size);
    if (err)
        return err;
    if ((err = app_pg_store_position(t, pos, errstr, errstr_size)))
        return err;
    if ((err = app_pg_exec(t, "COMMIT", "COMMIT", errstr, errstr_size)))
        return err;
    t->in_txn = 0;
    for (pg_tab_t *b = t->tabs; b; b = b->next) {
        b->stage_dirty = 0;             /* ON COMMIT DELETE ROWS */
        if (b->has_pend) {
            app_pg_prev_free(b->prev, b->nprev);
            b->prev = b->pend;
            b->nprev = b->npend;
            b->has_prev = 1;
            b->pend = NULL;
            b->npend = 0;
            b->has_pend = 0;
        }
    }
    return SL_OK;
}

static sl_err_t pg_rollback(app_target_t *at, char *errstr, size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    if (t->inflight && PQstatus(t->conn) != CONNECTION_BAD) {
        char e[512];
        (void)app_pg_wait(t, e, sizeof(e));  /* its error, if any, is rolled back below */
    }
    t->inflight = 0;
    for (pg_tab_t *b = t->tabs; b; b = b->next) {
        batch_clear(b);
        sl_buf_reset(&b->copy);
        b->ncopy = 0;
        b->stage_ready = b->stage_dirty = 0;   /* its creation may be rolled back */
        app_pg_prev_free(b->pend, b->npend);
        b->pend = NULL;
        b->npend = 0;
        b->has_pend = 0;
        b->valid = 0;        /* DDL may have been rolled back: rebuild from the catalog */
    }
    t->in_txn = 0;
    if (PQstatus(t->conn) == CONNECTION_BAD)
        return SL_OK;
    return app_pg_exec(t, "ROLLBACK", "ROLLBACK", errstr, errstr_size);
}

/* The ops take the common head (a pg_target_t starts with it); open hands
 * it out, close frees the table cache (target_pg_ddl.c) first. */
static sl_err_t op_pg_open(app_target_t **out, const app_target_conf_t *conf, char *e, size_t n)
{
    pg_target_t *t = NULL;
    sl_err_t err = app_pg_open(&t, conf, e, n);
    if (t)
        t->base.ops = &app_target_pg;
    *out = t ? &t->base : NULL;
    return err;
}

static void op_pg_close(app_target_t *at)
{
    if (at)
        app_pg_tabs_free((pg_target_t *)at);
    app_pg_close((pg_target_t *)at);
}

const app_target_ops_t app_target_pg = {
    .name = "postgresql",
    .open = op_pg_open,
    .close = op_pg_close,
    .load_position = app_pg_load_position,
    .lease_take = app_pg_lease_take,
    .lease_check = app_pg_lease_check,
    .lease_drop = app_pg_lease_drop,
    .begin = pg_begin,
    .schema = pg_schema,
    .rows = pg_rows,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .check_name = app_pg_check_name,
    .stops_load = app_pg_stops_load,
    .stop_save = app_pg_stop_save,
    .stop_clear = app_pg_stop_clear,
    .progress_load = app_pg_progress_load,
    .progress_save = app_pg_progress_save,
};
