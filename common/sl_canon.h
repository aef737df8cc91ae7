/* shiftlog: canonical value text for shiftlog validate (docs/validate.md,
 * "The canonical text"): what MariaDB and PostgreSQL compute in SQL, for
 * the values a client has to write itself. */
#ifndef SL_CANON_H
#define SL_CANON_H

#include "sl_buf.h"

/* Appends a Decimal128's text ("1.23E-7", "1230E-2", "-0") as plain digits
 * with the same scale, as a SQL DECIMAL prints ("0.000000123", "12.30"). */
sl_err_t sl_canon_decimal(sl_buf_t *b, const char *s);
/* Appends the shortest digits that read back as d, as PostgreSQL prints a
 * float8: fixed notation for exponents -4..14, else d.ddde<exp> without '+'
 * or leading zeros ("10", "0.0001", "1.25e-5", "1e15"). */
sl_err_t sl_canon_double(sl_buf_t *b, double d);
/* Orders two decimal texts ("-1.5", "10", "007") by value: <0, 0, >0. */
int sl_canon_num_cmp(const char *a, const char *b);

#endif
