/* shiftlog: the keyset-range query, written once for every reader that pages
 * through a table in key order — the collector's snapshot, the validator's
 * ranges and the applier's direct tasks.
 *
 * A range is (after, upto]: key > after [AND key <= upto], ORDER BY the key,
 * LIMIT n; never OFFSET. Per dialect:
 *   MariaDB     the comparison expanded column by column,
 *               (k1 > a1 OR (k1 = a1 AND k2 > a2)), and for upto
 *               (k1 < u1 OR (k1 = u1 AND k2 <= u2)), which the optimizer turns
 *               into an index range (a row comparison is not used by MariaDB's
 *               range optimizer on every version);
 *   PostgreSQL  row comparisons, (k1, k2) > ($1, $2), served by the key's
 *               btree index.
 * Identifiers are quoted for the dialect (`a``b`, "a""b"); a key column may
 * instead be given as an expression written as is (CAST(k AS BINARY)).
 *
 * The values are the caller's (a literal, a parameter, decode($n, 'hex')):
 * put_value writes one where the builder needs it. MariaDB's expanded form
 * names a value more than once; `seq` counts the values written so far
 * (0-based) in the order they appear in the text, so a caller that passes
 * parameters writes $<base + seq + 1>, or appends a parameter per call. */
#ifndef SL_KEYSET_H
#define SL_KEYSET_H

#include <stdint.h>
#include "sl_buf.h"

typedef enum sl_keyset_dialect_e {
    SL_KEYSET_MARIADB = 0,
    SL_KEYSET_PG
} sl_keyset_dialect_t;

/* Which bound a value belongs to. */
enum { SL_KEYSET_AFTER = 0, SL_KEYSET_UPTO = 1 };

typedef struct sl_keyset_s {
    int                 dialect;   /* sl_keyset_dialect_t */
    uint32_t            nkey;      /* 1.. key columns */
    const char *const  *names;     /* key column names, quoted by the builder */
    const char *const  *exprs;     /* or (names NULL) expressions written as is */
    /* writes value i (0..nkey) of bound `bound`; seq as above. NULL: the
     * parameter $<param_base + seq + 1> (PostgreSQL's text parameters). */
    sl_err_t          (*put_value)(void *ctx, sl_buf_t *q, int bound, uint32_t i,
                                   uint32_t seq);
    void               *ctx;
    uint32_t            param_base;
} sl_keyset_t;

/* name quoted for the dialect: `a``b` (MariaDB), "a""b" (PostgreSQL). */
sl_err_t sl_keyset_ident(int dialect, sl_buf_t *q, const char *name);

/* The predicate alone: "<key > after>[ AND <key <= upto>]"; nothing when
 * neither bound is given. *seq (may be NULL: from 0) counts the values
 * written and is advanced. */
sl_err_t sl_keyset_pred(const sl_keyset_t *k, sl_buf_t *q, int after, int upto, uint32_t *seq);

/* " WHERE [(extra) AND ]<pred>"; " WHERE (extra)" without bounds; nothing
 * without either. extra (NULL = none) is a condition written as is. */
sl_err_t sl_keyset_where(const sl_keyset_t *k, sl_buf_t *q, int after, int upto,
                         const char *extra);

/* " ORDER BY k1, k2". */
sl_err_t sl_keyset_order(const sl_keyset_t *k, sl_buf_t *q);

/* sl_keyset_where, sl_keyset_order and " LIMIT n" (n 0 reads as 1). */
sl_err_t sl_keyset_range(const sl_keyset_t *k, sl_buf_t *q, int after, int upto,
                         const char *extra, uint32_t limit);

#endif
