/* shiftlog: the keyset-range query (sl_keyset.h). */
#include "sl_keyset.h"

sl_err_t sl_keyset_ident(int dialect, sl_buf_t *q, const char *name)
{
    char quote = dialect == SL_KEYSET_PG ? '"' : '`';
    sl_err_t err = sl_buf_putc(q, quote);
    for (const char *p = name; !err && *p; p++)
        if (!(err = *p == quote ? sl_buf_putc(q, quote) : SL_OK))   /* doubled */
            err = sl_buf_putc(q, *p);
    return err ? err : sl_buf_putc(q, quote);
}

static sl_err_t put_col(const sl_keyset_t *k, sl_buf_t *q, uint32_t i)
{
    return k->names ? sl_keyset_ident(k->dialect, q, k->names[i]) : sl_buf_puts(q, k->exprs[i]);
}

static sl_err_t put_val(const sl_keyset_t *k, sl_buf_t *q, int bound, uint32_t i, uint32_t *seq)
{
    uint32_t s = (*seq)++;
    if (k->put_value)
        return k->put_value(k->ctx, q, bound, i, s);
    return sl_buf_printf(q, "$%u", k->param_base + s + 1);
}

/* PostgreSQL: (k1, k2) op (v1, v2). */
static sl_err_t put_row(const sl_keyset_t *k, sl_buf_t *q, int bound, uint32_t *seq)
{
    sl_err_t err = sl_buf_putc(q, '(');
    for (uint32_t i = 0; !err && i < k->nkey; i++)
        if (!(err = i ? sl_buf_puts(q, ", ") : SL_OK))
            err = put_col(k, q, i);
    if (!err)
        err = sl_buf_puts(q, bound == SL_KEYSET_AFTER ? ") > (" : ") <= (");
    for (uint32_t i = 0; !err && i < k->nkey; i++)
        if (!(err = i ? sl_buf_puts(q, ", ") : SL_OK))
            err = put_val(k, q, bound, i, seq);
    return err ? err : sl_buf_putc(q, ')');
}

/* MariaDB: (k1 > v1 OR (k1 = v1 AND k2 > v2) ...) for after; its
 * complement's negation for upto, key <= v:
 * (k1 < v1 OR ... OR (k1 = v1 AND ... AND kn <= vn)). */
static sl_err_t put_expanded(const sl_keyset_t *k, sl_buf_t *q, int bound, uint32_t *seq)
{
    int gt = bound == SL_KEYSET_AFTER;
    sl_err_t err = sl_buf_putc(q, '(');
    for (uint32_t i = 0; !err && i < k->nkey; i++) {
        err = sl_buf_puts(q, i ? " OR (" : "(");
        for (uint32_t j = 0; !err && j <= i; j++) {
            const char *op = j < i ? " = " : gt ? " > " : i + 1 < k->nkey ? " < " : " <= ";
            if (j)
                err = sl_buf_puts(q, " AND ");
            if (!err)
                err = put_col(k, q, j);
            if (!err)
                err = sl_buf_puts(q, op);
            if (!err)
                err = put_val(k, q, bound, j, seq);
        }
        if (!err)
            err = sl_buf_putc(q, ')');
    }
    return err ? err : sl_buf_putc(q, ')');
}

static sl_err_t put_bound(const sl_keyset_t *k, sl_buf_t *q, int bound, uint32_t *seq)
{
    if (!k->nkey || (!k->names && !k->exprs))
        return SL_ERR_INVALID;
    return k->dialect == SL_KEYSET_PG ? put_row(k, q, bound, seq)
                                      : put_expanded(k, q, bound, seq);
}

sl_err_t sl_keyset_pred(const sl_keyset_t *k, sl_buf_t *q, int after, int upto, uint32_t *seq)
{
    uint32_t s0 = 0;
    sl_err_t err = SL_OK;
    if (!seq)
        seq = &s0;
    if (after)
        err = put_bound(k, q, SL_KEYSET_AFTER, seq);
    if (!err && after && upto)
        err = sl_buf_puts(q, " AND ");
    if (!err && upto)
        err = put_bound(k, q, SL_KEYSET_UPTO, seq);
    return err;
}

sl_err_t sl_keyset_where(const sl_keyset_t *k, sl_buf_t *q, int after, int upto,
                         const char *extra)
{
    sl_err_t err = SL_OK;
    if (!after && !upto && !extra)
        return SL_OK;
    err = sl_buf_puts(q, " WHERE ");
    if (!err && extra)
        err = sl_buf_printf(q, "(%s)%s", extra, after || upto ? " AND " : "");
    return err ? err : sl_keyset_pred(k, q, after, upto, NULL);
}

sl_err_t sl_keyset_order(const sl_keyset_t *k, sl_buf_t *q)
{
    if (!k->nkey || (!k->names && !k->exprs))
        return SL_ERR_INVALID;
    sl_err_t err = sl_buf_puts(q, " ORDER BY ");
    for (uint32_t i = 0; !err && i < k->nkey; i++)
        if (!(err = i ? sl_buf_puts(q, ", ") : SL_OK))
            err = put_col(k, q, i);
    return err;
}

sl_err_t sl_keyset_range(const sl_keyset_t *k, sl_buf_t *q, int after, int upto,
                         const char *extra, uint32_t limit)
{
    sl_err_t err = sl_keyset_where(k, q, after, upto, extra);
    if (!err)
        err = sl_keyset_order(k, q);
    return err ? err : sl_buf_printf(q, " LIMIT %u", limit ? limit : 1);
}
