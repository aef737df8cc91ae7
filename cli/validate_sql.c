/* shiftlog validate: the queries both SQL engines run, written once; each
 * engine (validate_my.c, validate_pg.c) gives its dialect: the canonical
 * key texts, what the key is ordered by, the row hash, its XOR aggregate,
 * and how the table and a key range are written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

/* The last of the next `limit` keys after `after` in key order, and how many
 * there were: keyset (a derived table), never OFFSET. Columns: k0..kn-1,
 * o0..on-1, the count. */
sl_err_t val_sql_boundary(const val_sql_t *d, sl_buf_t *q, char *const *after, uint32_t limit)
{
    uint32_t n = d->t->nkey;
    sl_err_t err = sl_buf_puts(q, "SELECT x.*, COUNT(*) OVER () FROM (SELECT ");
    for (uint32_t i = 0; !err && i < n; i++)
        err = sl_buf_printf(q, "%s%s AS k%u", i ? ", " : "", d->kexpr[i], i);
    for (uint32_t i = 0; !err && i < n; i++)
        err = sl_buf_printf(q, ", %s AS o%u", d->korder[i], i);
    if (!err)
        err = sl_buf_puts(q, " FROM ");
    if (!err)
        err = d->table(d->ctx, q);
    if (!err)
        err = d->where(d->ctx, q, after, NULL);
    if (!err)
        err = val_sql_order(d, q);
    if (!err)
        err = sl_buf_printf(q, " LIMIT %u) x ORDER BY ", limit);
    for (uint32_t i = 0; !err && i < n; i++)
        err = sl_buf_printf(q, "%so%u DESC", i ? ", " : "", i);
    return err ? err : sl_buf_puts(q, " LIMIT 1");
}

sl_err_t val_sql_checksum(const val_sql_t *d, sl_buf_t *q, char *const *after,
                          char *const *upto)
{
    sl_err_t err = sl_buf_puts(q, "SELECT COUNT(*), ");
    if (!err)
        err = sl_buf_printf(q, d->xor_fmt, d->hash);
    if (!err)
        err = sl_buf_puts(q, " FROM ");
    if (!err)
        err = d->table(d->ctx, q);
    return err ? err : d->where(d->ctx, q, after, upto);
}

/* Columns: the key's canonical texts, the row hash. */
sl_err_t val_sql_rows(const val_sql_t *d, sl_buf_t *q, char *const *after, char *const *upto,
                      uint32_t limit)
{
    sl_err_t err = sl_buf_puts(q, "SELECT ");
    for (uint32_t i = 0; !err && i < d->t->nkey; i++)
        err = sl_buf_printf(q, "%s, ", d->kexpr[i]);
    if (!err)
        err = sl_buf_printf(q, "%s FROM ", d->hash);
    if (!err)
        err = d->table(d->ctx, q);
    if (!err)
        err = d->where(d->ctx, q, after, upto);
    if (!err)
        err = val_sql_order(d, q);
    return err ? err : sl_buf_printf(q, " LIMIT %u", limit);
}

sl_err_t val_sql_order(const val_sql_t *d, sl_buf_t *q)
{
    sl_err_t err = sl_buf_puts(q, " ORDER BY ");
    for (uint32_t i = 0; !err && i < d->t->nkey; i++)
        err = sl_buf_printf(q, "%s%s", i ? ", " : "", d->korder[i]);
    return err;
}

sl_err_t val_sql_key(val_row_t *r, uint32_t nkey, const char *(*cell)(void *res, uint32_t i),
                     void *res)
{
    for (uint32_t i = 0; i < nkey; i++)
        if (!(r->key[i] = strdup(cell(res, i))))
            return SL_ERR_NOMEM;
    return SL_OK;
}
