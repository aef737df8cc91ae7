/* shiftlog: records as JSON lines (shiftlog cat, logs, tests).
 * Exact: 64-bit integers as JSON numbers written in full, DECIMAL as a
 * string of its digits, bytes as base64 with a "$bytes" wrapper, temporal
 * values with their canonical text and micros, NULL as null, a missing value
 * as {"$missing": "unchanged_toast"}. schemas/README.md shows each form. */
#ifndef SL_JSON_H
#define SL_JSON_H

#include "sl_buf.h"
#include "sl_record.h"

/* Flags of sl_record_to_json_ex. */
#define SL_JSON_SUBOFFSET 0x1   /* each CHANGE row starts with "subOffset": its index
                                 * in the batch (the row's Kafka subOffset) */

/* Appends the record as one JSON object (no newline) to out. */
sl_err_t sl_record_to_json(const sl_record_t *rec, sl_buf_t *out);
sl_err_t sl_record_to_json_ex(const sl_record_t *rec, int flags, sl_buf_t *out);
sl_err_t sl_value_to_json(const sl_value_t *v, sl_buf_t *out);
/* n bytes as a JSON string of their base64 (RFC 4648, padded). */
sl_err_t sl_json_base64(sl_buf_t *out, const unsigned char *p, size_t n);

/* Appends one row image of c as an object keyed by column name, in column
 * order; img NULL (no image) is written as null. */
sl_err_t sl_image_to_json(const sl_change_t *c, const sl_value_t *img, sl_buf_t *out);

#endif
