/* shiftlog-applier: value conversions shared by the SQL targets (MySQL/
 * MariaDB, PostgreSQL) and the position helpers every target uses.
 *
 * A SQL target sends values only as statement parameters. Each value has a
 * parameter class (how it is bound) and, for the text classes, an exact text
 * form the server parses back into the column type without loss:
 *
 *   kind       class          text (app_conv_text)
 *   NULL       NULL           -
 *   BOOL       INT64          "1" / "0"  (the INT64 class's value is 1 / 0)
 *   INT        INT64          "%lld"
 *   UINT       UINT64         "%llu"
 *   FLOAT      FLOAT          "%.9g" (shortest exact text is not needed: 9 digits round-trip);
 *                             "NaN", "Infinity", "-Infinity"
 *   DOUBLE     DOUBLE         "%.17g"; same non-finite texts
 *   DECIMAL    TEXT           the digits as carried
 *   STRING     TEXT           the UTF-8 bytes (may hold U+0000)
 *   BYTES      BINARY         the bytes
 *   TEMPORAL   TEXT           the exact text carried, except TIMESTAMP / TIMESTAMPTZ with a
 *                             number: "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC from micros
 *                             (a session at time zone +00:00 reads it back exactly)
 *   BIT        BINARY         the big-endian bytes (APP_CONV_BIT_DIGITS: TEXT "0101…", nbits long)
 *   SET        TEXT           labels joined by ',' (MySQL SET literal)
 *   TYPED      TEXT           the source's text
 *   MISSING    MISSING        - (not written: the column keeps its target value)
 *
 * Nothing here allocates except through the caller's sl_buf_t. */
#ifndef APP_TARGET_COMMON_H
#define APP_TARGET_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"
#include "sl_err.h"
#include "sl_pos.h"
#include "sl_record.h"

typedef enum app_conv_class_e {
    APP_CONV_NULL    = 0,
    APP_CONV_INT64   = 1,
    APP_CONV_UINT64  = 2,
    APP_CONV_FLOAT   = 3,
    APP_CONV_DOUBLE  = 4,
    APP_CONV_TEXT    = 5,   /* text in the connection's character set (utf8mb4 / UTF8) */
    APP_CONV_BINARY  = 6,   /* bytes, no character set */
    APP_CONV_MISSING = 7
} app_conv_class_t;

/* Flags of app_conv_class / app_conv_text. */
#define APP_CONV_BIT_DIGITS 0x1   /* BIT as TEXT "0101…" (PostgreSQL bit(n)), not BINARY bytes */

/* 1 when col is a varying bit string (PostgreSQL `bit varying(n)` / varbit):
 * each value's bit count is part of it (B'101' is not B'00000101'), so a
 * target without such a type keeps it as the '0'/'1' digits
 * (APP_CONV_BIT_DIGITS) rather than as bytes. */
int app_conv_is_varbit(const sl_column_t *col);

/* The parameter class of v (see the table above). */
app_conv_class_t app_conv_class(const sl_value_t *v, int flags);

/* Appends the text form of v to out (not NUL-counted; out stays NUL-terminated).
 * For BINARY values it appends the raw bytes. SL_ERR_INVALID (errstr says why)
 * for NULL / MISSING values and malformed ones (a BIT shorter than its nbits). */
sl_err_t app_conv_text(const sl_value_t *v, int flags, sl_buf_t *out,
                       char *errstr, size_t errstr_size);

/* Formats µs since 1970-01-01 (UTC or wall clock) as "YYYY-MM-DD HH:MM:SS" plus
 * ".ffffff" cut to `precision` digits (0..6; digits beyond it must be zero in
 * micros, else all 6 are written so nothing is lost). Years 0001..9999.
 * Returns the length written into buf (size >= 32), or -1 out of range. */
int app_conv_micros_text(int64_t micros, int precision, char *buf, size_t size);

/* Appends name quoted with `quote` (` for MySQL, " for PostgreSQL), the quote
 * character doubled inside: `a``b`. SL_ERR_INVALID on an empty name or one
 * holding a NUL (len counts the bytes; pass strlen(name)). */
sl_err_t app_conv_quote_ident(sl_buf_t *out, const char *name, size_t len, char quote);

/* Appends s as a single-quoted SQL string literal for DDL (ENUM/SET labels,
 * comments), doubling ' and \\ (safe under MySQL's default sql_mode and with
 * NO_BACKSLASH_ESCAPES). Values never go through this: they are parameters. */
sl_err_t app_conv_quote_literal(sl_buf_t *out, const char *s, size_t len);

/* sl_pos_key (sl_pos.h): the fixed-width text of a position that sorts like
 * sl_pos_cmp. Used as the MongoDB `_pos` field and to compare stored positions. */
#define APP_POS_KEY_LEN SL_POS_KEY_LEN
void app_pos_key(const sl_pos_t *pos, char out[APP_POS_KEY_LEN + 1]);

/* The position of row i of a CHANGE batch whose row `first` is at *pos0
 * (the core passes pos of row `first`; row indexes simply add). */
void app_pos_row(const sl_pos_t *pos0, uint32_t delta, sl_pos_t *out);

/* Count of significant digits of a decimal text ("-0012.3400" -> 6: leading
 * zeros dropped, trailing zeros kept), -1 when it is not plain digits
 * (NaN, Infinity, exponent forms). */
int app_conv_decimal_digits(const char *s, size_t len);

/* A value the target cannot store, policy APP_UNCONV_* (target.h), why in
 * errstr: SL_ERR_INVALID (DLQ) or SL_ERR_UNSUPPORTED (STOP); SL_OK for NULL
 * (the caller writes NULL; logged at WARN, the first 10 and then every
 * 1000th, with errstr). */
sl_err_t app_unconvertible(int policy, const char *errstr);

/* A READ change (a snapshot row) is applied by every target as an upsert of
 * its after image: the whole row replaces whatever the target holds under
 * its key. So each row from `first` on must carry every column of the
 * table schema in force `s` (the change's columns are known to be among
 * them), as a value: a row lacking one would keep a stale column or invent
 * one, and a missing row would take the partial-update path. SL_OK, or
 * SL_ERR_INVALID with the table, row and column named. */
sl_err_t app_read_check(const sl_change_t *ch, const sl_schema_t *s, uint32_t first,
                        char *errstr, size_t errstr_size);

/* The carried default of a column added (sl_column_t.dflt, wire v3) as the
 * SQL an ADD COLUMN ... DEFAULT takes: a boolean column's TRUE / FALSE (the
 * source prints t, true, 1, ...; a quoted 't' is no MariaDB integer), else
 * the text for the caller to quote as a string literal, which both SQL
 * targets convert to the column's type; a temporal one without the UTC
 * offset PostgreSQL prints (+00: the collector reads in UTC, the targets'
 * sessions are UTC, and MariaDB refuses an offset), copied into buf.
 * *keyword says which. */
const char *app_default_sql(const sl_column_t *c, int *keyword, char *buf, size_t size);

/* 1 when the DDL text of a SCHEMA record (statements joined by ";\n") renames
 * column `from` to `to`, through any chain of RENAME COLUMN a TO b / CHANGE
 * [COLUMN] a b clauses in order (names compared without case, as MariaDB
 * does); target_ddl_text.c. A rename the schema comparison cannot see when
 * the type changed in the same step. */
int app_ddl_renames(const char *ddl, const char *from, const char *to);

#endif
