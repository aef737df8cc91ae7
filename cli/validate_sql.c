/* shiftlog validate: the steps both SQL engines run (finding a chunk's end,
 * checksumming a range, listing a range's row hashes), written once; each
 * engine (validate_my.c, validate_pg.c) gives its ops table (validate.h):
 * the XOR aggregate, how the table and a key range are written, how a
 * query is run and its cells read, and, from its bind, the canonical key
 * texts, what the key is ordered by and the row hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_keyset.h"
#include "validate.h"

/* The last of the next `limit` keys after `after` in key order, and how many
 * there were: keyset (a derived table), never OFFSET. Columns: k0..kn-1, the
 * count[, the XOR of the row hashes' high and low halves when hashed: the
 * chunk's checksum from the same read]. */
static sl_err_t q_boundary(val_sqle_t *d, sl_buf_t *q, char *const *after, uint32_t limit,
                           int hashed)
{
    uint32_t n = d->t->nkey;
    sl_err_t err = sl_buf_puts(q, "SELECT ");
    for (uint32_t i = 0; !err && i < n; i++)
        err = sl_buf_printf(q, "x.k%u, ", i);
    /* Both engines spell the window aggregates alike. The XOR is taken in two
     * 32-bit halves: MariaDB's BIT_XOR() OVER () keeps only 32 bits (10.11). */
    if (!err)
        err = sl_buf_puts(q, hashed ? "COUNT(*) OVER (), BIT_XOR(x.h >> 32) OVER (), "
                                      "BIT_XOR(x.h & 4294967295) OVER (), COUNT(x.h) OVER () "
                                      "FROM (SELECT "
                                    : "COUNT(*) OVER () FROM (SELECT ");
    for (uint32_t i = 0; !err && i < n; i++)
        err = sl_buf_printf(q, "%s%s AS k%u", i ? ", " : "", d->kexpr[i], i);
    for (uint32_t i = 0; !err && i < n; i++)
        err = sl_buf_printf(q, ", %s AS o%u", d->korder[i], i);
    if (!err && hashed)
        err = sl_buf_printf(q, ", %s AS h", d->hash.data);
    if (!err)
        err = sl_buf_puts(q, " FROM ");
    if (!err)
        err = d->ops->table(d, q);
    if (!err)
        err = d->ops->where(d, q, after, NULL);
    if (!err)
        err = val_sql_order(d, q);
    if (!err)
        err = sl_buf_printf(q, " LIMIT %u) x ORDER BY ", limit);
    for (uint32_t i = 0; !err && i < n; i++)
        err = sl_buf_printf(q, "%so%u DESC", i ? ", " : "", i);
    return err ? err : sl_buf_puts(q, " LIMIT 1");
}

/* Columns: the count, the XOR, the count of rows hashed (not NULL). */
static sl_err_t q_checksum(val_sqle_t *d, sl_buf_t *q, char *const *after, char *const *upto)
{
    sl_err_t err = sl_buf_puts(q, "SELECT COUNT(*), ");
    if (!err)
        err = sl_buf_printf(q, d->ops->xor_fmt, "x.h");
    if (!err)
        err = sl_buf_printf(q, ", COUNT(x.h) FROM (SELECT %s AS h FROM ", d->hash.data);
    if (!err)
        err = d->ops->table(d, q);
    if (!err)
        err = d->ops->where(d, q, after, upto);
    return err ? err : sl_buf_puts(q, ") x");
}

/* The first key in (after, upto] whose row hash is NULL. */
static sl_err_t q_unhashed(val_sqle_t *d, sl_buf_t *q, char *const *after, char *const *upto)
{
    sl_err_t err = sl_buf_puts(q, "SELECT ");
    for (uint32_t i = 0; !err && i < d->t->nkey; i++)
        err = sl_buf_printf(q, "%s%s", i ? ", " : "", d->kexpr[i]);
    if (!err)
        err = sl_buf_puts(q, " FROM ");
    if (!err)
        err = d->ops->table(d, q);
    if (!err)
        err = d->ops->where(d, q, after, upto);
    if (!err)
        err = sl_buf_printf(q, "%s(%s) IS NULL", after || upto ? " AND " : " WHERE ",
                            d->hash.data);
    if (!err)
        err = val_sql_order(d, q);
    return err ? err : sl_buf_puts(q, " LIMIT 1");
}

/* Columns: the key's canonical texts, the row hash. */
static sl_err_t q_rows(val_sqle_t *d, sl_buf_t *q, char *const *after, char *const *upto,
                       uint32_t limit)
{
    sl_err_t err = sl_buf_puts(q, "SELECT ");
    for (uint32_t i = 0; !err && i < d->t->nkey; i++)
        err = sl_buf_printf(q, "%s, ", d->kexpr[i]);
    if (!err)
        err = sl_buf_printf(q, "%s FROM ", d->hash.data);
    if (!err)
        err = d->ops->table(d, q);
    if (!err)
        err = d->ops->where(d, q, after, upto);
    if (!err)
        err = val_sql_order(d, q);
    return err ? err : sl_buf_printf(q, " LIMIT %u", limit);
}

sl_err_t val_sql_order(const val_sqle_t *d, sl_buf_t *q)
{
    /* the order expressions are the engine's, written as is: the dialect
     * does not matter here */
    sl_keyset_t k = {SL_KEYSET_MARIADB, d->t->nkey, NULL, (const char *const *)d->korder,
                     NULL, NULL, 0};
    return sl_keyset_order(&k, q);
}

/* r's key from the first nkey cells of the current row. */
static sl_err_t read_key(val_sqle_t *d, void *res, val_row_t *r)
{
    for (uint32_t i = 0; i < d->t->nkey; i++)
        if (!(r->key[i] = strdup(d->ops->cell(d, res, i))))
            return SL_ERR_NOMEM;
    return SL_OK;
}

/* A 64-bit hash as either engine prints it: MariaDB unsigned, PostgreSQL a
 * signed bigint (strtoull reads "-n" as 2^64 - n: the same 64 bits). */
static uint64_t read_u64(const char *v)
{
    return strtoull(v, NULL, 10);
}

static void *run(val_sqle_t *d, sl_err_t build, const char *what, char *errstr,
                 size_t errstr_size);

/* A range in which `hashed` of `count` rows got a hash: MariaDB gives a NULL
 * MD5, not an error, for a value whose text is longer than
 * max_allowed_packet (a latin1 text twice as long in UTF-8), and BIT_XOR
 * would skip that row. Such a range cannot be compared: the error names
 * the first such key. */
static sl_err_t check_hashed(val_sqle_t *d, char *const *after, char *const *upto,
                             uint64_t count, uint64_t hashed, char *errstr, size_t errstr_size)
{
    if (hashed == count)
        return SL_OK;
    sl_buf_t key = SL_BUF_INIT;
    sl_buf_reset(&d->q);
    void *r = run(d, q_unhashed(d, &d->q, after, upto), "finding a row without a hash",
                  errstr, errstr_size);
    if (!r)
        return SL_ERR_DB;
    for (uint32_t i = 0; d->ops->next(d, r) && i < d->t->nkey; i++)
        sl_buf_printf(&key, "%s%s", i ? ", " : "", d->ops->cell(d, r, i));
    d->ops->clear(r);
    snprintf(errstr, errstr_size, "the row with key (%s) hashes to NULL: a value too long for "
             "the server to turn into text (MariaDB: max_allowed_packet); not compared",
             key.data ? key.data : "?");
    sl_buf_free(&key);
    return SL_ERR_UNSUPPORTED;
}

/* Runs the query build wrote into d->q (build: its status). */
static void *run(val_sqle_t *d, sl_err_t build, const char *what, char *errstr,
                 size_t errstr_size)
{
    if (build) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    return d->ops->query(d, &d->q, what, errstr, errstr_size);
}

sl_err_t val_sql_scan(void *ctx, char *const *after, uint32_t limit, val_row_t *upto,
                      int *found, uint64_t *count, uint64_t *hash, char *errstr,
                      size_t errstr_size)
{
    val_sqle_t *d = ctx;
    uint32_t n = d->t->nkey;
    *found = 0;
    sl_buf_reset(&d->q);
    void *r = run(d, q_boundary(d, &d->q, after, limit, hash != NULL),
                  "finding a chunk's last key", errstr, errstr_size);
    if (!r)
        return SL_ERR_DB;
    sl_err_t err = SL_OK;
    int any = d->ops->next(d, r);
    uint64_t c = any ? read_u64(d->ops->cell(d, r, n)) : 0;
    if (count)
        *count = c;
    uint64_t hashed = hash && any ? read_u64(d->ops->cell(d, r, n + 3)) : c;
    if (hash)   /* the halves' low 32 bits (PostgreSQL's >> keeps the sign) */
        *hash = any ? (read_u64(d->ops->cell(d, r, n + 1)) & 0xffffffffu) << 32 |
                      (read_u64(d->ops->cell(d, r, n + 2)) & 0xffffffffu) : 0;
    if (c >= limit)
        *found = !(err = read_key(d, r, upto));
    d->ops->clear(r);
    if (err)
        snprintf(errstr, errstr_size, "out of memory");
    else
        err = check_hashed(d, after, *found ? upto->key : NULL, c, hashed, errstr, errstr_size);
    return err;
}

sl_err_t val_sql_boundary(void *ctx, char *const *after, uint32_t limit, val_row_t *upto,
                          int *found, char *errstr, size_t errstr_size)
{
    return val_sql_scan(ctx, after, limit, upto, found, NULL, NULL, errstr, errstr_size);
}

sl_err_t val_sql_checksum(void *ctx, char *const *after, char *const *upto, uint64_t *count,
                          uint64_t *hash, char *errstr, size_t errstr_size)
{
    val_sqle_t *d = ctx;
    sl_buf_reset(&d->q);
    void *r = run(d, q_checksum(d, &d->q, after, upto), "checksumming a chunk", errstr,
                  errstr_size);
    if (!r)
        return SL_ERR_DB;
    int any = d->ops->next(d, r);
    *count = any ? read_u64(d->ops->cell(d, r, 0)) : 0;
    *hash = any ? read_u64(d->ops->cell(d, r, 1)) : 0;
    uint64_t hashed = any ? read_u64(d->ops->cell(d, r, 2)) : 0;
    d->ops->clear(r);
    return check_hashed(d, after, upto, *count, hashed, errstr, errstr_size);
}

sl_err_t val_sql_rows(void *ctx, char *const *after, char *const *upto, uint32_t limit,
                      val_row_t *rows, uint32_t *n, char *errstr, size_t errstr_size)
{
    val_sqle_t *d = ctx;
    uint32_t nk = d->t->nkey;
    *n = 0;
    sl_buf_reset(&d->q);
    void *r = run(d, q_rows(d, &d->q, after, upto, limit), "reading a range's row hashes",
                  errstr, errstr_size);
    if (!r)
        return SL_ERR_DB;
    sl_err_t err = SL_OK;
    while (!err && *n < limit && d->ops->next(d, r)) {
        val_row_t *o = &rows[(*n)++];
        memset(o, 0, sizeof *o);
        err = read_key(d, r, o);
        o->hash = read_u64(d->ops->cell(d, r, nk));
    }
    d->ops->clear(r);
    if (err)
        snprintf(errstr, errstr_size, "out of memory");
    return err;
}

sl_err_t val_sql_list(void *ctx, sl_err_t (*each)(void *arg, const char *db, const char *table),
                      void *arg, char *errstr, size_t errstr_size)
{
    val_sqle_t *d = ctx;
    sl_buf_reset(&d->q);
    void *r = run(d, sl_buf_puts(&d->q, d->ops->list_sql), "listing the tables", errstr,
                  errstr_size);
    if (!r)
        return SL_ERR_DB;
    sl_err_t err = SL_OK;
    while (!err && d->ops->next(d, r))
        err = each(arg, d->ops->cell(d, r, 0), d->ops->cell(d, r, 1));
    d->ops->clear(r);
    if (err == SL_ERR_NOMEM)
        snprintf(errstr, errstr_size, "out of memory");
    return err;
}

void val_sqle_free(val_sqle_t *d)
{
    sl_buf_free(&d->hash);
    sl_buf_free(&d->q);
}
