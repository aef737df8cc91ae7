/* shiftlog: record values as exact BSON and back, table schemas as BSON and
 * back, and the shared log's document ids — what the miner writes and the
 * applier's `source.type = mongolog` reads (docs/miner.md "Document format",
 * "Values", "Read contract"). One implementation, used by both.
 *
 * Document id: the position key (sl_pos_key, SL_POS_KEY_LEN hex digits:
 * kind(1) seq(16) offset(16) row(8)) followed by one document-type digit
 * (SL_BSON_T_*), so that `_id` order is source position order and a schema,
 * a change, a commit and a gap marker at one position never collide. */
#ifndef SL_BSON_H
#define SL_BSON_H

#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sl_err.h"
#include "sl_pos.h"
#include "sl_record.h"

#define SL_BSON_ID_LEN (SL_POS_KEY_LEN + 1)

#define SL_BSON_T_SCHEMA '1'
#define SL_BSON_T_CHANGE '2'
#define SL_BSON_T_COMMIT '3'
#define SL_BSON_T_GAP    '4'

/* The `_id` of the document of type `type` at pos (SL_BSON_ID_LEN chars + NUL). */
void     sl_bson_doc_id(const sl_pos_t *pos, char type, char out[SL_BSON_ID_LEN + 1]);
/* Parses a position key or document id (41 or 42 hex digits) back into a
 * position (file/gtid empty). SL_ERR_PARSE when it is not one. */
sl_err_t sl_bson_pos_key_parse(const char *text, sl_pos_t *out);

/* Appends v under key as exact BSON (docs/miner.md "Values"):
 *   NULL null · BOOL bool · INT int64 · UINT int64 (<= 2^63-1) or Decimal128 ·
 *   FLOAT/DOUBLE double · DECIMAL Decimal128 (<= 34 significant digits, and
 *   NaN/±Infinity) else {_t:"decimal", v:"digits"} · STRING utf8 (not valid
 *   UTF-8: {_t:"text", v:binary}) · BYTES binary · SET array of labels ·
 *   TEMPORAL {_t:"<kind>", s:text, us, p, tz, d:date (absent for a DATE beyond
 *   BSON dates, ±106751991167 days)} · BIT {_t:"bit", n, v} ·
 *   TYPED {_t:"typed", type, v} · MISSING {_t:"missing", why}.
 * Returns 0, or -1 when libbson refuses (document too large). */
int      sl_bson_append_value(bson_t *b, const char *key, int klen, const sl_value_t *v);

/* The inverse: reads the value at it into *v (strings copied into rec's
 * arena). hint is the column's kind from its SCHEMA (SL_VAL_UINT and
 * SL_VAL_FLOAT are not told apart from INT/DOUBLE by the BSON type alone);
 * pass SL_VAL_NULL when unknown. SL_ERR_DECODE on a BSON form the log never
 * writes. */
sl_err_t sl_bson_read_value(const bson_iter_t *it, sl_val_kind_t hint, sl_record_t *rec,
                            sl_value_t *v, char *errstr, size_t errstr_size);

/* A DATE's day count as BSON milliseconds into *ms: 0, or -1 when it is
 * beyond +-106751991167 days (int64 milliseconds cannot hold it). */
int      sl_bson_date_ms(int64_t days, int64_t *ms);

/* Decimal128 -> plain decimal text without exponent ("0.0000001", "-12.3400",
 * "NaN", "Infinity"); returns the length written, or -1 when the text and its
 * NUL do not fit in size (out then holds a truncated, NUL-terminated prefix:
 * 1E+6000 is 6001 characters plain). */
int      sl_bson_dec128_to_plain(const bson_decimal128_t *d, char *out, size_t size);

/* The columns of a table schema as a BSON array under key:
 * [{name, kind, type, nullable, precision, scale, charset, labels, pk, default}]
 * (default only when the column has one). */
int      sl_bson_schema_columns(bson_t *parent, const char *key, const sl_schema_t *s);
/* A SCHEMA record (reset first) from a schema document (db, tbl, ddl, pos,
 * columns). SL_ERR_DECODE when it has no columns. */
sl_err_t sl_bson_schema_from_doc(const bson_t *doc, sl_record_t *rec, char *errstr,
                                 size_t errstr_size);

/* The value at it as malloc'd text, for fields a person writes in a task
 * file or table: a string as it is, a number or boolean printed (true = 1),
 * a document as its relaxed extended JSON; NULL for other types (or out of
 * memory). */
char *sl_bson_iter_text(const bson_iter_t *it);

#endif
