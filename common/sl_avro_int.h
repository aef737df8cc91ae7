/* shiftlog: private to the Avro codec (sl_avro.c encodes, sl_avro_decode.c
 * decodes). Field and branch indexes follow schemas/shiftlog_record_v1.avsc. */
#ifndef SL_AVRO_INT_H
#define SL_AVRO_INT_H

#include <avro.h>
#include <stdio.h>

#include "sl_avro.h"

/* The schema text, generated at build time from the .avsc (Makefile). */
extern const char sl_schema_record_v1_json[];
extern const unsigned long sl_schema_record_v1_json_len;

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
       K_LABELS, K_PK };
/* Temporal */
enum { T_KIND, T_TEXT, T_MICROS, T_PRECISION, T_TZ };

struct sl_avro_codec_s {
    avro_schema_t       schema;
    avro_value_iface_t *iface;
    avro_value_t        enc;
    avro_value_t        dec;
    avro_writer_t       writer;
    avro_reader_t       reader;
    char               *buf;
    size_t              cap;
    uint64_t            fp;
};

#define ERR(code, ...) do { \
        if (errstr_size) snprintf(errstr, errstr_size, __VA_ARGS__); \
        return (code); \
    } while (0)

#endif
