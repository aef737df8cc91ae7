/* shiftlog: value text forms shared by the services (see sl_value_text.h). */
#include "sl_value_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void sl_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

int sl_micros_text(int64_t micros, int precision, char *buf, size_t size)
{
    int64_t days = micros / 86400000000LL, rem = micros % 86400000000LL;
    if (rem < 0) {
        rem += 86400000000LL;
        days--;
    }
    int64_t y;
    unsigned m, d;
    sl_civil_from_days(days, &y, &m, &d);
    if (y < 1 || y > 9999 || size < 32)
        return -1;
    int64_t secs = rem / 1000000, frac = rem % 1000000;
    int n = snprintf(buf, size, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d", y, m, d,
                     (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    if (precision < 0 || precision > 6)
        precision = 6;
    int64_t scale = 1;
    for (int i = precision; i < 6; i++)
        scale *= 10;
    if (frac % scale != 0)      /* more digits than the column says: keep them all */
        precision = 6, scale = 1;
    if (precision > 0)
        n += snprintf(buf + n, size - (size_t)n, ".%0*" PRId64, precision, frac / scale);
    return n;
}

sl_err_t sl_double_text(sl_buf_t *out, double x, int digits)
{
    if (isnan(x))
        return sl_buf_puts(out, "NaN");
    if (isinf(x))
        return sl_buf_puts(out, x > 0 ? "Infinity" : "-Infinity");
    return sl_buf_printf(out, "%.*g", digits, x);
}

int sl_decimal_digits(const char *s, size_t len)
{
    size_t i = 0;
    int digits = 0, seen = 0, any = 0, dot = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    for (; i < len; i++) {
        char c = s[i];
        if (c == '.' && !dot) {
            dot = 1;
            continue;
        }
        if (c < '0' || c > '9')
            return -1;
        any = 1;
        if (c != '0')
            seen = 1;
        if (seen)
            digits++;
    }
    if (!any)
        return -1;
    return digits ? digits : 1;
}

int sl_parse_utc_time(const char *v, int64_t *us)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, m = 0, fd = 0;
    long frac = 0;
    memset(&tm, 0, sizeof tm);
    if (sscanf(v, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
        return -1;
    const char *p = v + n;
    if (*p == 'T' || *p == ' ') {
        if (sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &m) != 3)
            return -1;
        p += 1 + m;
        if (*p == '.') {
            for (p++; *p >= '0' && *p <= '9'; p++)
                if (fd < 6) {
                    frac = frac * 10 + (*p - '0');
                    fd++;
                }
            for (; fd && fd < 6; fd++)
                frac *= 10;
        }
    }
    if (*p == 'Z')
        p++;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *us = (int64_t)timegm(&tm) * 1000000 + frac;
    return 0;
}
