/* shiftlog: the canonical text of values that shiftlog validate hashes
 * (cli/validate.h says the whole form): the pieces a client computes itself
 * because a server prints them otherwise — MongoDB's Decimal128 and double
 * — and the order of numeric key texts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_canon.h"

/* Decimal128 text ("1.23E-7", "-0", "12.30") as plain digits with the
 * same scale, as the SQL engines print a DECIMAL. */
sl_err_t sl_canon_decimal(sl_buf_t *b, const char *s)
{
    const char *e = strchr(s, 'E');
    if (!e)
        return sl_buf_puts(b, s);
    char digits[80];
    size_t nd = 0;
    int neg = s[0] == '-', point = -1;
    for (const char *p = s + neg; p < e && nd + 1 < sizeof digits; p++) {
        if (*p == '.')
            point = (int)nd;
        else
            digits[nd++] = *p;
    }
    /* value = digits * 10^(exp - decimals after the point) */
    int exp = atoi(e + 1) - (point < 0 ? 0 : (int)nd - point);
    sl_err_t err = neg ? sl_buf_putc(b, '-') : SL_OK;
    if (exp >= 0) {
        if (!err)
            err = sl_buf_append(b, digits, nd);
        for (int i = 0; !err && i < exp; i++)
            err = sl_buf_putc(b, '0');
        return err;
    }
    int scale = -exp, ip = (int)nd - scale;
    if (ip > 0) {
        if (!err)
            err = sl_buf_append(b, digits, (size_t)ip);
        if (!err)
            err = sl_buf_putc(b, '.');
        return err ? err : sl_buf_append(b, digits + ip, nd - (size_t)ip);
    }
    if (!err)
        err = sl_buf_puts(b, "0.");
    for (int i = 0; !err && i < -ip; i++)
        err = sl_buf_putc(b, '0');
    return err ? err : sl_buf_append(b, digits, nd);
}

/* The shortest digits that read back as d, written as PostgreSQL prints a
 * float8 (and MariaDB, but for magnitudes below 1e-4): fixed notation for
 * exponents -4..14, else d.ddde<exp> with no '+' or leading zeros. */
sl_err_t sl_canon_double(sl_buf_t *b, double d)
{
    char t[40], dig[24];
    if (d == 0)
        return sl_buf_putc(b, '0');
    for (int p = 1; p <= 17; p++) {
        snprintf(t, sizeof t, "%.*e", p - 1, d);
        if (strtod(t, NULL) == d)
            break;
    }
    const char *p = t, *e = strchr(t, 'e');
    int neg = *p == '-', nd = 0, exp = e ? atoi(e + 1) : 0;
    for (p += neg; p < e && nd + 1 < (int)sizeof dig; p++)
        if (*p != '.')
            dig[nd++] = *p;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    dig[nd] = '\0';
    sl_err_t err = neg ? sl_buf_putc(b, '-') : SL_OK;
    if (exp < -4 || exp >= 15) {
        if (!err)
            err = sl_buf_putc(b, dig[0]);
        if (!err && nd > 1)
            err = sl_buf_printf(b, ".%s", dig + 1);
        return err ? err : sl_buf_printf(b, "e%d", exp);
    }
    if (exp < 0) {
        if (!err)
            err = sl_buf_puts(b, "0.");
        for (int i = 0; !err && i < -exp - 1; i++)
            err = sl_buf_putc(b, '0');
        return err ? err : sl_buf_puts(b, dig);
    }
    for (int i = 0; !err && i <= exp; i++)
        err = sl_buf_putc(b, i < nd ? dig[i] : '0');
    if (!err && nd > exp + 1)
        err = sl_buf_printf(b, ".%s", dig + exp + 1);
    return err;
}

/* Decimal texts by value: sign, then integer digits, then the rest. */
int sl_canon_num_cmp(const char *a, const char *b)
{
    int na = *a == '-', nb = *b == '-';
    a += na || *a == '+';
    b += nb || *b == '+';
    while (*a == '0' && a[1] && a[1] != '.')
        a++;
    while (*b == '0' && b[1] && b[1] != '.')
        b++;
    size_t ia = strcspn(a, "."), ib = strcspn(b, ".");
    int mag;
    if (ia != ib) {
        mag = ia < ib ? -1 : 1;
    } else {
        int c = strncmp(a, b, ia);
        mag = c;
        if (!c) {
            const char *fa = a[ia] ? a + ia + 1 : "", *fb = b[ib] ? b + ib + 1 : "";
            for (; (*fa || *fb) && !mag; fa += !!*fa, fb += !!*fb)
                mag = (*fa ? *fa : '0') - (*fb ? *fb : '0');
        }
        mag = mag < 0 ? -1 : mag > 0;
    }
    if (na != nb)        /* -0 and 0 are one value */
        return !a[strspn(a, "0.")] && !b[strspn(b, "0.")] ? 0 : na ? -1 : 1;
    return na ? -mag : mag;
}

