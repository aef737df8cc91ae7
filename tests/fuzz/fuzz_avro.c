/* libFuzzer harness: a Kafka message value (Avro single-object encoding)
 * through the reader every consumer uses (common/sl_avro_read.c,
 * sl_avro_decode.c), then what the miner does with the record it gets
 * (common/sl_logdoc.c: exact BSON values, change/commit/schema documents)
 * and what the collector's Debezium output makes of it (common/sl_dbz.c:
 * keys and envelopes under a schema taken from the values' kinds).
 *
 * Input: the message value, as it comes from the topic.
 * Checks beyond "no crash": an accepted record encodes, and its encoding
 * decodes back to an equal record. (avro-c's generic reader, the unit
 * tests' oracle, is left out: it is not on any service's path, and it leaks
 * on some refused input.) */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sl_avro.h"
#include "sl_buf.h"
#include "sl_dbz.h"
#include "sl_json.h"
#include "sl_record.h"
#include "../../miner/miner.h"

static sl_avro_codec_t *codec;
static sl_record_t *rec, *rec3;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_avro: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if (sl_avro_codec_new(&codec, err, sizeof(err)) != SL_OK)
        die(err);
    rec = sl_record_new();
    rec3 = sl_record_new();
    return 0;
}

/* The miner's documents of the record (common/sl_logdoc.c), built and dropped. */
static void miner_docs(const sl_record_t *r)
{
    sl_logdoc_ctx_t ctx = {.offset = 42, .retention = 1};
    bson_t doc;
    if (r->type == SL_REC_CHANGE) {
        const sl_change_t *c = &r->u.change;
        for (uint32_t i = 0; i < c->nrows; i++) {
            bson_t before, after;
            bson_init(&before);
            bson_init(&after);
            if (c->rows[i].before)
                sl_logdoc_image(&before, c, c->rows[i].before);
            if (c->rows[i].after)
                sl_logdoc_image(&after, c, c->rows[i].after);
            bson_init(&doc);
            sl_logdoc_change(&doc, r, i, c->rows[i].before ? &before : NULL,
                            c->rows[i].after ? &after : NULL, NULL, NULL, &ctx);
            bson_destroy(&doc);
            bson_destroy(&before);
            bson_destroy(&after);
        }
    } else if (r->type == SL_REC_COMMIT) {
        bson_init(&doc);
        sl_logdoc_commit(&doc, r, &ctx);
        bson_destroy(&doc);
    } else if (r->type == SL_REC_SCHEMA) {
        bson_init(&doc);
        sl_logdoc_schema(&doc, r, &ctx);
        bson_destroy(&doc);
    }
}

/* The Debezium events of a CHANGE's rows, as MySQL and PostgreSQL
 * connectors, with and without the schema part, built and dropped. */
static void dbz_events(const sl_record_t *r)
{
    static const char *const types[] = {
        [SL_VAL_NULL] = "text", [SL_VAL_BOOL] = "boolean", [SL_VAL_INT] = "int",
        [SL_VAL_UINT] = "bigint unsigned", [SL_VAL_FLOAT] = "float", [SL_VAL_DOUBLE] = "double",
        [SL_VAL_DECIMAL] = "decimal(30,4)", [SL_VAL_STRING] = "varchar(255)",
        [SL_VAL_BYTES] = "blob", [SL_VAL_TEMPORAL] = "datetime(6)", [SL_VAL_BIT] = "bit(9)",
        [SL_VAL_SET] = "set", [SL_VAL_TYPED] = "json", [SL_VAL_MISSING] = "text"};
    if (r->type != SL_REC_CHANGE || !r->u.change.nrows)
        return;
    const sl_change_t *c = &r->u.change;
    sl_column_t cols[64];
    uint32_t n = c->ncols < 64 ? c->ncols : 64;
    const sl_row_t *row0 = &c->rows[0];
    const sl_value_t *img = row0->after ? row0->after : row0->before;
    for (uint32_t i = 0; i < n; i++) {
        sl_val_kind_t k = img ? img[i].kind : SL_VAL_NULL;
        cols[i] = (sl_column_t){.name = c->columns[i], .kind = k, .pk = i == 0,
                                .source_type = k <= SL_VAL_MISSING ? types[k] : "text",
                                .nullable = 1, .precision = k == SL_VAL_BIT ? 9 : 6,
                                .scale = k == SL_VAL_DECIMAL ? 4 : -1};
    }
    sl_schema_t s = {.db = c->db, .table = c->table, .ncols = n, .cols = cols};
    sl_buf_t out = SL_BUF_INIT;
    for (int mode = 0; mode < 4; mode++) {
        sl_dbz_conf_t conf = {.name = "fz", .mysql = mode & 1, .with_schema = mode >> 1,
                              .database = "d"};
        for (uint32_t i = 0; i < c->nrows; i++) {
            sl_dbz_txn_t tx = {.id = c->txn, .total_order = i + 1, .data_collection_order = 1};
            sl_dbz_key(&out, &conf, &s, r, i, 0);
            sl_dbz_key(&out, &conf, &s, r, i, 1);
            sl_dbz_value(&out, &conf, &s, r, i, sl_dbz_op(c), &tx);
        }
    }
    sl_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char e1[512];
    if (sl_avro_decode(codec, data, size, rec, e1, sizeof(e1)) != SL_OK)
        return 0;

    const void *buf;
    size_t len;
    if (sl_avro_encode(codec, rec, &buf, &len, e1, sizeof(e1)) != SL_OK) {
        fprintf(stderr, "%s\n", e1);
        die("a decoded record does not encode");
    }
    if (sl_avro_decode(codec, buf, len, rec3, e1, sizeof(e1)) != SL_OK) {
        fprintf(stderr, "%s\n", e1);
        die("the encoding of a decoded record does not decode");
    }
    if (!sl_record_equal(rec, rec3))
        die("a decoded record does not survive encode + decode");

    sl_buf_t js = SL_BUF_INIT;
    sl_record_to_json(rec, &js);
    sl_buf_free(&js);
    miner_docs(rec);
    dbz_events(rec);
    return 0;
}
