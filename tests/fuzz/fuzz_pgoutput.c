/* libFuzzer harness: the pgoutput decoder (collector/pg_decode.c,
 * pg_types.c, and pg_stream.c for protocol 2 streamed transactions) driven
 * as pg_source.c drives it, without a server.
 *
 * Input layout: a mode byte, then repeated [u16 big-endian length][message]
 * (each message = the payload of one XLogData, as pgoutput sends it; its
 * WAL position is 16 x its index). Mode bits:
 *   0  messages go through pg_stream_message first (protocol 2 streaming)
 *   1  a type resolver answers for OIDs >= 16384 (enum, domain, array,
 *      citext, composite by OID mod 5), as pg_source.c's catalog query does
 *   2  a relextra callback answers (NOT NULL, key, source type), as the
 *      catalog query does
 *   3  batch.max.bytes = 256 (else 1 MiB)
 *   4-7 batch.max.rows - 1
 * A transactional logical message whose content is "nsp.name" adds, as the
 * snapshot does at a HIGH watermark (pg_snapsink.c), that table's SCHEMA
 * and one READ row to its transaction.
 * Each record handed to the sink must round-trip through Avro. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "../../collector/pg_decode.h"

static sl_avro_codec_t *codec;
static sl_record_t *scratch;
static const char *spill_dir = "/tmp";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if (sl_avro_codec_new(&codec, err, sizeof(err)) != SL_OK)
        fuzz_die("fuzz_pgoutput", "codec", err);
    scratch = sl_record_new();
    FILE *f = fopen("/dev/shm/.fuzz_pgoutput_probe", "w");
    if (f) {
        fclose(f);
        remove("/dev/shm/.fuzz_pgoutput_probe");
        spill_dir = "/dev/shm";
    }
    return 0;
}

static sl_err_t sink(void *ctx, const sl_record_t *rec, char *errstr, size_t errstr_size)
{
    fuzz_check_record("fuzz_pgoutput", codec, rec, scratch);
    return SL_OK;
}

static sl_err_t resolver(void *ctx, uint32_t oid, pg_typdesc_t *out, char *errstr,
                         size_t errstr_size)
{
    if (oid < 16384) {
        snprintf(errstr, errstr_size, "no type %u", oid);
        return SL_ERR_NOT_FOUND;
    }
    out->typtype = 'b';
    snprintf(out->name, sizeof(out->name), "t%u", oid);
    switch (oid % 5) {
    case 0:
        out->typtype = 'e';
        out->nlabels = 2;
        out->labels = calloc(2, sizeof(char *));
        out->labels[0] = strdup("a");
        out->labels[1] = strdup("b");
        break;
    case 1:
        out->typtype = 'd';
        out->basetype = (oid / 5) % 2 ? 23 : oid - 1;
        break;
    case 2:
        out->category = 'A';
        out->elemtype = (oid / 5) % 2 ? 1700 : oid + 1;
        break;
    case 3:
        snprintf(out->name, sizeof(out->name), "citext");
        break;
    default:
        out->typtype = 'c';
        break;
    }
    return SL_OK;
}

static sl_err_t relextra(void *ctx, uint32_t relid, const char *nsp, const char *rel,
                         uint32_t ncols, char *const *colnames, const uint32_t *typoids,
                         const int32_t *typmods, pg_relextra_t *out, char *errstr,
                         size_t errstr_size)
{
    if (relid % 3 == 0) {
        snprintf(errstr, errstr_size, "relation %u is gone", relid);
        return SL_ERR_NOT_FOUND;
    }
    out->ncols = ncols;
    out->notnull = calloc(ncols ? ncols : 1, sizeof(int));
    out->pk = calloc(ncols ? ncols : 1, sizeof(int));
    out->source_type = calloc(ncols ? ncols : 1, sizeof(char *));
    out->dflt = calloc(ncols ? ncols : 1, sizeof(char *));
    out->dflt_expr = calloc(ncols ? ncols : 1, sizeof(char *));
    for (uint32_t i = 0; i < ncols; i++) {
        if (i % 3 == 1)                 /* a carried default, or an expression one */
            out->dflt[i] = strdup("5");
        else if (i % 3 == 2)
            out->dflt_expr[i] = strdup("random()");
        /* known, or -1 where the table's attributes no longer match */
        out->notnull[i] = (relid >> (i % 32)) & 2 ? -1 : (int)((relid >> (i % 32)) & 1);
        out->pk[i] = (relid & 4) ? -1 : i == 0 ? 1 : 0;
        if (i % 2) {
            char t[64];
            snprintf(t, sizeof(t), "t%u(%d)", typoids[i], typmods[i]);
            out->source_type[i] = strdup(t);
        }
    }
    return SL_OK;
}

static pg_dec_t *cur_dec;

static sl_err_t on_message(void *ctx, const char *prefix, const uint8_t *content, size_t len,
                           const sl_pos_t *pos, const char *txn, int64_t time_us, char *errstr,
                           size_t errstr_size)
{
    char name[256];
    uint64_t id;
    const char *const *names;
    uint32_t ncols;
    if (len >= sizeof(name))
        return SL_OK;
    memcpy(name, content, len);
    name[len] = 0;
    char *dot = strchr(name, '.');
    if (!dot)
        return SL_OK;
    *dot = 0;
    if (pg_dec_table_schema(cur_dec, name, dot + 1, pos->offset, &id, &names, &ncols, errstr,
                            errstr_size) != SL_OK)
        return SL_OK;
    sl_record_t *r = sl_record_new();
    if (!r || sl_record_init_change(r, "fz", name, dot + 1, SL_OP_READ, ncols, names, 1)) {
        sl_record_destroy(r);
        return SL_ERR_NOMEM;
    }
    r->pos = *pos;
    r->u.change.txn = txn;
    r->u.change.event_time_us = time_us;
    r->u.change.schema_id = id;
    for (uint32_t i = 0; i < ncols; i++)
        r->u.change.rows[0].after[i].kind = SL_VAL_NULL;
    sl_err_t err = pg_dec_put(cur_dec, r, errstr, errstr_size);
    sl_record_destroy(r);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    pg_dec_conf_t dc = {
        .source = "fz",
        .batch_max_rows = (uint32_t)(mode >> 4) + 1,
        .batch_max_bytes = mode & 8 ? 256 : 1 << 20,
        .sink = sink,
        .relextra = mode & 4 ? relextra : NULL,
        .resolver = mode & 2 ? resolver : NULL,
        .message = on_message,
    };
    pg_dec_t *d = NULL;
    pg_stream_t *s = NULL;
    char err[512];
    if (pg_dec_new(&d, &dc) != SL_OK)
        fuzz_die("fuzz_pgoutput", "pg_dec_new", NULL);
    cur_dec = d;
    if ((mode & 1) && pg_stream_new(&s, spill_dir, 1 << 20) != SL_OK)
        fuzz_die("fuzz_pgoutput", "pg_stream_new", NULL);
    size_t off = 1;
    uint64_t lsn = 0;
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len > size - off)
            break;
        /* a copy of exactly len bytes, so that ASan sees a read past the message */
        uint8_t *msg = malloc(len ? len : 1);
        memcpy(msg, data + off, len);
        off += len;
        lsn += 16;
        int handled = 0;
        sl_err_t e = SL_OK;
        if (s)
            e = pg_stream_message(s, d, lsn, msg, len, &handled, err, sizeof(err));
        if (!e && !handled)
            e = pg_dec_message(d, lsn, msg, len, 0, err, sizeof(err));
        free(msg);
        if (e)
            break;                      /* pg_source.c stops the session here */
    }
    pg_stream_destroy(s);
    pg_dec_destroy(d);
    return 0;
}
