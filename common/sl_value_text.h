/* shiftlog: the text forms of values that more than one service writes —
 * the collector's decoders (dates from the binlog / pgoutput), the JSON
 * writer (sl_json.c) and the applier's SQL targets (target_common.c).
 * One implementation each, so a date or a float reads the same everywhere.
 * Nothing here allocates except through the caller's sl_buf_t. */
#ifndef SL_VALUE_TEXT_H
#define SL_VALUE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (astronomical year:
 * 1 BC = 0; m 1..12, d 1..31, not checked), and back (Howard Hinnant's
 * days_from_civil / civil_from_days). */
int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d);
void    sl_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Formats µs since 1970-01-01 (UTC or wall clock) as "YYYY-MM-DD HH:MM:SS" plus
 * ".ffffff" cut to `precision` digits (0..6; digits beyond it must be zero in
 * micros, else all 6 are written so nothing is lost). Years 0001..9999.
 * Returns the length written into buf (size >= 32), or -1 out of range. */
int sl_micros_text(int64_t micros, int precision, char *buf, size_t size);

/* Appends x as "%.*g" with `digits` significant digits (9 round-trips a
 * float, 17 a double); NaN and the infinities as NaN, Infinity, -Infinity. */
sl_err_t sl_double_text(sl_buf_t *out, double x, int digits);

/* Count of significant digits of a decimal text ("-0012.3400" -> 6: leading
 * zeros dropped, trailing zeros kept; "0.000" -> 1), -1 when it is not
 * plain digits (NaN, Infinity, exponent forms). */
int sl_decimal_digits(const char *s, size_t len);

/* Parses an ISO 8601 UTC time "YYYY-MM-DD[(T| )HH:MM:SS[.ffffff]][Z]" (digits past
 * the 6th fractional one are ignored) into µs since the epoch. 0, or -1 when the
 * text is not of that form. */
int sl_parse_utc_time(const char *text, int64_t *us);

#endif
