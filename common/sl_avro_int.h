/* shiftlog: private to the Avro codec (sl_avro.c encodes, sl_avro_decode.c
 * decodes). Field and branch indexes follow schemas/shiftlog_record_v3.avsc:
 * v2 is v1 with the Op symbol READ appended, v3 is v2 with the field default
 * appended to Column (K_DEFAULT, read only from v3 messages); the other
 * indexes are the same in all three, and a reader tells them apart by the
 * fingerprint only. */
#ifndef SL_AVRO_INT_H
#define SL_AVRO_INT_H

#include <avro.h>
#include <stdint.h>
#include <stdio.h>

#include "sl_avro.h"

/* The schema texts, generated at build time from the .avsc files (Makefile). */
extern const char sl_schema_record_v1_json[];
extern const unsigned long sl_schema_record_v1_json_len;
extern const char sl_schema_record_v2_json[];
extern const unsigned long sl_schema_record_v2_json_len;
extern const char sl_schema_record_v3_json[];
extern const unsigned long sl_schema_record_v3_json_len;

#define HDR_LEN    10
#define INIT_CAP   (64 * 1024)

/* Record */
enum { F_TYPE, F_SOURCE, F_POS, F_BODY };
/* SourcePosition */
enum { P_KIND, P_SEQ, P_OFFSET, P_ROW, P_FILE, P_GTID };
/* body union branches = sl_rec_type_t; ChangeBatch fields */
enum { C_DB, C_TABLE, C_OP, C_TXN, C_TIME, C_SCHEMA_ID, C_SERVER_ID, C_FLAGS,
       C_ORIGIN, C_COLUMNS, C_ROWS };
/* Commit, Finish, TableSchema, Column */
enum { M_TXN, M_TIME, M_SERVER_ID, M_ROWS };
enum { FI_REASON, FI_TIME };
enum { S_DB, S_TABLE, S_COLUMNS, S_DDL };
enum { K_NAME, K_KIND, K_SOURCE_TYPE, K_NULLABLE, K_PRECISION, K_SCALE, K_CHARSET,
       K_LABELS, K_PK, K_DEFAULT /* v3 */ };
/* Temporal */
enum { T_KIND, T_TEXT, T_MICROS, T_PRECISION, T_TZ };

/* One wire format version a codec reads: its parsed schema, the generic
 * value the oracle decoder reads into, and what the version can carry. */
typedef struct {
    const char         *name;      /* "shiftlog_record_v1" */
    avro_schema_t       schema;
    avro_value_iface_t *iface;
    avro_value_t        dec;
    uint64_t            fp;
    int                 max_op;    /* the last sl_op_t symbol of its Op enum */
    int                 has_default; /* Column has its field default (v3) */
} sl_avro_ver_t;

#define SL_AVRO_NVER 3             /* v1, v2, v3; the last one is the writer's */

struct sl_avro_codec_s {
    sl_avro_ver_t       ver[SL_AVRO_NVER];
    avro_schema_t       schema;    /* = ver[SL_AVRO_NVER - 1]: the writer's */
    avro_value_iface_t *iface;
    avro_value_t        enc;
    avro_writer_t       writer;
    avro_reader_t       reader;
    char               *buf;
    size_t              cap;
    uint64_t            fp;
};

/* A cursor over a message's bytes, with the reason of the first failure. */
typedef struct {
    const unsigned char *at, *end, *start;
    char why[128];
} frame_t;

static inline int frame_fail(frame_t *f, const char *fmt, long long x)
{
    snprintf(f->why, sizeof(f->why), fmt, x);
    return -1;
}

/* A zigzag varint (Avro int and long). */
static inline int frame_long(frame_t *f, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (f->at >= f->end)
            return frame_fail(f, "ends inside a number%.0lld", 0);
        unsigned char b = *f->at++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return frame_fail(f, "a number longer than 10 bytes%.0lld", 0);
}

/* Writes the 10-byte single-object header (C3 01 + fingerprint, little-endian)
 * at the start of the codec's buffer. */
static inline void sl_avro_put_header(sl_avro_codec_t *c)
{
    unsigned char *h = (unsigned char *)c->buf;
    h[0] = 0xC3;
    h[1] = 0x01;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)(c->fp >> (8 * i));
}

/* The C3 01 magic and the schema fingerprint (sl_avro_decode.c): *ver is
 * the version the message was written with. */
sl_err_t sl_avro_check_header(const sl_avro_codec_t *c, const void *buf, size_t len,
                              const sl_avro_ver_t **ver, char *errstr, size_t errstr_size);
/* The generic encoder: avro-c's value setters and writer (sl_avro.c). Same
 * contract and bytes as sl_avro_encode(); the unit tests' oracle. */
sl_err_t sl_avro_encode_generic(sl_avro_codec_t *c, const sl_record_t *rec,
                                const void **buf, size_t *len,
                                char *errstr, size_t errstr_size);
/* The generic decoder: a framing pass, then avro-c's reader (sl_avro_decode.c).
 * Same contract and results as sl_avro_decode(); the unit tests' oracle. */
sl_err_t sl_avro_decode_generic(sl_avro_codec_t *c, const void *buf, size_t len,
                                sl_record_t *rec, char *errstr, size_t errstr_size);

#define ERR(code, ...) do { \
        if (errstr_size) snprintf(errstr, errstr_size, __VA_ARGS__); \
        return (code); \
    } while (0)

#endif
