/* shiftlog: the Avro codec of the wire format (schemas/shiftlog_record_v3.avsc;
 * v1 and v2 messages are read too).
 *
 * A Kafka message value is Avro single-object encoding:
 *   C3 01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer
 *   schema's Parsing Canonical Form | Avro binary of one `Record`.
 * The schema is compiled into the binary from schemas/ at build time (so an
 * installed service needs no schema directory) and parsed once per codec;
 * the avro-c value and the output buffer are reused across calls. A codec
 * is not thread-safe: use one per thread. */
#ifndef SL_AVRO_H
#define SL_AVRO_H

#include <stddef.h>
#include <stdint.h>
#include "sl_err.h"
#include "sl_record.h"

typedef struct sl_avro_codec_s sl_avro_codec_t;

/* Returns a new codec in *out; the caller frees it with sl_avro_codec_destroy. */
sl_err_t sl_avro_codec_new(sl_avro_codec_t **out, char *errstr, size_t errstr_size);
void     sl_avro_codec_destroy(sl_avro_codec_t *codec);

/* CRC-64-AVRO fingerprint of the writer schema (also in the sl.schema header, hex). */
uint64_t sl_avro_fingerprint(const sl_avro_codec_t *codec);
/* The schema JSON compiled in (static). */
const char *sl_avro_schema_json(void);
/* Parsing Canonical Form of a schema JSON text and its CRC-64-AVRO. The
 * caller frees *canonical with free(). */
sl_err_t sl_avro_canonical(const char *schema_json, char **canonical,
                           uint64_t *fingerprint, char *errstr, size_t errstr_size);
/* CRC-64-AVRO (Rabin) of a byte string, as the Avro spec defines it. */
uint64_t sl_avro_crc64(const void *data, size_t len);

/* Encodes rec; *buf points into the codec and is valid until the next call. */
sl_err_t sl_avro_encode(sl_avro_codec_t *codec, const sl_record_t *rec,
                        const void **buf, size_t *len,
                        char *errstr, size_t errstr_size);

/* What sl_avro_encode would write, without writing it: the whole message
 * (header included), and the before/after images of rows [first, first + n)
 * of a CHANGE — how a batcher keeps a message under batch.max.bytes (a
 * MISSING value is 2 bytes: 1000 columns absent from a MINIMAL image weigh
 * 2 KB per row whatever the binlog's size). A value the encoder would refuse
 * counts the bytes before it. */
size_t sl_avro_record_size(const sl_record_t *rec);
size_t sl_avro_rows_size(const sl_change_t *c, uint32_t first, uint32_t n);

/* Decodes one message value into rec (reset first; strings copied into
 * rec's arena). An unknown magic or fingerprint, or truncated data, is
 * SL_ERR_DECODE with a sentence saying which. */
sl_err_t sl_avro_decode(sl_avro_codec_t *codec, const void *buf, size_t len,
                        sl_record_t *rec, char *errstr, size_t errstr_size);

#endif
