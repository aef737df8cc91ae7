/* shiftlog: Avro codec of the wire format (see sl_avro.h, schemas/README.md).
 *
 * The schemas (schemas/shiftlog_record_v*.avsc, compiled in as
 * sl_schema_record_v*_json) are parsed once per codec: the last version is
 * the writer's, and each version read gets its own avro-c generic value for
 * decoding (a v1 message is read with v1, where READ does not exist); all
 * are reused. The
 * services encode with sl_avro_write.c and decode with sl_avro_read.c, which
 * work on the bytes directly; this generic path (sl_avro_encode_generic,
 * sl_avro_decode_generic) is their oracle in the unit tests. Encoding
 * hands avro-c the record's own strings and bytes (wrapped buffers without a
 * free function: no copy), writes into a reused memory buffer after the
 * 10-byte single-object header, and doubles the buffer on ENOSPC. Decoding
 * reads into the reused value and copies every string into the record's arena.
 *
 * The field and branch indexes (sl_avro_int.h) follow the order of the .avsc; the
 * round-trip tests and the independent Python decoder (tests/it/slavro.py)
 * catch any drift between the two. */
#include "sl_avro.h"
#include "sl_avro_int.h"

#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sl_avro_schema_json(void)
{
    return sl_schema_record_v3_json;
}

/* Parses one version's schema and builds its decoding value. */
static sl_err_t ver_init(sl_avro_ver_t *v, const char *name, const char *json, size_t len,
                         int max_op, int has_default, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    v->name = name;
    v->max_op = max_op;
    v->has_default = has_default;
    if ((err = sl_avro_canonical(json, NULL, &v->fp, errstr, errstr_size)) != SL_OK)
        return err;
    if (avro_schema_from_json_length(json, len, &v->schema))
        ERR(SL_ERR_INVALID, "avro codec: schema %s does not parse: %s", name, avro_strerror());
    if (!(v->iface = avro_generic_class_from_schema(v->schema)) ||
        avro_generic_value_new(v->iface, &v->dec))
        ERR(SL_ERR_INVALID, "avro codec: cannot build the %s value: %s", name, avro_strerror());
    return SL_OK;
}

sl_err_t sl_avro_codec_new(sl_avro_codec_t **out, char *errstr, size_t errstr_size)
{
    sl_avro_codec_t *c = calloc(1, sizeof(*c));
    sl_err_t err = SL_ERR_NOMEM;
    *out = NULL;
    if (!c)
        ERR(SL_ERR_NOMEM, "avro codec: out of memory");
    /* v1 had no READ; v2 appended it to the Op enum; v3 appended default to
     * Column (schemas/README.md). */
    if ((err = ver_init(&c->ver[0], "shiftlog_record_v1", sl_schema_record_v1_json,
                        sl_schema_record_v1_json_len, SL_OP_TRUNCATE, 0, errstr, errstr_size)) ||
        (err = ver_init(&c->ver[1], "shiftlog_record_v2", sl_schema_record_v2_json,
                        sl_schema_record_v2_json_len, SL_OP_READ, 0, errstr, errstr_size)) ||
        (err = ver_init(&c->ver[2], "shiftlog_record_v3", sl_schema_record_v3_json,
                        sl_schema_record_v3_json_len, SL_OP_READ, 1, errstr, errstr_size)))
        goto err;
    err = SL_ERR_INVALID;
    c->schema = c->ver[SL_AVRO_NVER - 1].schema;
    c->iface = c->ver[SL_AVRO_NVER - 1].iface;
    c->fp = c->ver[SL_AVRO_NVER - 1].fp;
    if (avro_generic_value_new(c->iface, &c->enc)) {
        snprintf(errstr, errstr_size, "avro codec: cannot build the record value: %s",
                 avro_strerror());
        goto err;
    }
    c->cap = INIT_CAP;
    if (!(c->buf = malloc(c->cap)) ||
        !(c->writer = avro_writer_memory(c->buf + HDR_LEN, (int64_t)(c->cap - HDR_LEN))) ||
        !(c->reader = avro_reader_memory(c->buf, 0))) {
        snprintf(errstr, errstr_size, "avro codec: out of memory");
        err = SL_ERR_NOMEM;
        goto err;
    }
    *out = c;
    return SL_OK;
err:
    sl_avro_codec_destroy(c);
    return err;
}

void sl_avro_codec_destroy(sl_avro_codec_t *c)
{
    if (!c)
        return;
    if (c->reader)
        avro_reader_free(c->reader);
    if (c->writer)
        avro_writer_free(c->writer);
    if (c->enc.iface)
        avro_value_decref(&c->enc);
    for (int i = 0; i < SL_AVRO_NVER; i++) {
        sl_avro_ver_t *v = &c->ver[i];
        if (v->dec.iface)
            avro_value_decref(&v->dec);
        if (v->iface)
            avro_value_iface_decref(v->iface);
        if (v->schema)
            avro_schema_decref(v->schema);
    }
    free(c->buf);
    free(c);
}

uint64_t sl_avro_fingerprint(const sl_avro_codec_t *codec)
{
    return codec->fp;
}

/* ------------------------------------------------------------------ encode */

/* Where an encode failed, for the error sentence. */
typedef struct {
    const char *what;
    uint32_t    row;
    uint32_t    col;
    int         has_row;
} enc_ctx_t;

static int fld(avro_value_t *parent, size_t i, avro_value_t *out)
{
    return avro_value_get_by_index(parent, i, out, NULL);
}

/* Strings are handed over without a copy: avro-c writes size-1 bytes of a
 * string and never reads the terminator, nor frees a buffer without a free
 * function. The value is only written, before rec can change. */
static int put_str(avro_value_t *v, const char *s, size_t len)
{
    avro_wrapped_buffer_t wb;
    if (!s) {
        s = "";
        len = 0;
    }
    avro_wrapped_buffer_new(&wb, s, len + 1);
    return avro_value_give_string_len(v, &wb);
}

static int put_cstr(avro_value_t *v, const char *s)
{
    return put_str(v, s, s ? strlen(s) : 0);
}

static int put_bytes(avro_value_t *v, const void *p, size_t len)
{
    avro_wrapped_buffer_t wb;
    avro_wrapped_buffer_new(&wb, len ? p : "", len);
    return avro_value_give_bytes(v, &wb);
}

static int fld_str(avro_value_t *parent, size_t i, const char *s)
{
    avro_value_t f;
    int rc = fld(parent, i, &f);
    return rc ? rc : put_cstr(&f, s);
}

static int fld_long(avro_value_t *parent, size_t i, int64_t x)
{
    avro_value_t f;
    int rc = fld(parent, i, &f);
    return rc ? rc : avro_value_set_long(&f, x);
}

static int fld_int(avro_value_t *parent, size_t i, int32_t x)
{
    avro_value_t f;
    int rc = fld(parent, i, &f);
    return rc ? rc : avro_value_set_int(&f, x);
}

static int fld_enum(avro_value_t *parent, size_t i, int x)
{
    avro_value_t f;
    int rc = fld(parent, i, &f);
    return rc ? rc : avro_value_set_enum(&f, x);
}

/* union {null, string} */
static int fld_nstr(avro_value_t *parent, size_t i, const char *s)
{
    avro_value_t f, br;
    int rc = fld(parent, i, &f);
    if (rc)
        return rc;
    if (!s) {
        rc = avro_value_set_branch(&f, 0, &br);
        return rc ? rc : avro_value_set_null(&br);
    }
    rc = avro_value_set_branch(&f, 1, &br);
    return rc ? rc : put_cstr(&br, s);
}

/* array<string> of n strings */
static int fld_strs(avro_value_t *parent, size_t i, const char *const *s, uint32_t n)
{
    avro_value_t arr, el;
    int rc = fld(parent, i, &arr);
    if (rc || (rc = avro_value_reset(&arr)))
        return rc;
    for (uint32_t k = 0; k < n; k++)
        if ((rc = avro_value_append(&arr, &el, NULL)) || (rc = put_cstr(&el, s[k])))
            return rc;
    return 0;
}

static int enc_value(avro_value_t *slot, const sl_value_t *v, enc_ctx_t *ctx)
{
    avro_value_t br, f;
    int rc;
    if ((unsigned)v->kind > SL_VAL_MISSING) {
        ctx->what = "value kind out of range";
        return EINVAL;
    }
    if ((rc = avro_value_set_branch(slot, (int)v->kind, &br)))
        return rc;
    switch (v->kind) {
    case SL_VAL_NULL:
        return avro_value_set_null(&br);
    case SL_VAL_BOOL:
        return avro_value_set_boolean(&br, v->u.b != 0);
    case SL_VAL_INT:
        return avro_value_set_long(&br, v->u.i);
    case SL_VAL_UINT: {
        unsigned char be[8];
        for (int i = 0; i < 8; i++)
            be[i] = (unsigned char)(v->u.u >> (56 - 8 * i));
        return avro_value_set_fixed(&br, be, sizeof(be));
    }
    case SL_VAL_FLOAT:
        return avro_value_set_float(&br, v->u.f);
    case SL_VAL_DOUBLE:
        return avro_value_set_double(&br, v->u.d);
    case SL_VAL_DECIMAL:
        return (rc = fld(&br, 0, &f)) ? rc : put_str(&f, v->data, v->len);
    case SL_VAL_STRING:
        return put_str(&br, v->data, v->len);
    case SL_VAL_BYTES:
        return put_bytes(&br, v->data, v->len);
    case SL_VAL_TEMPORAL: {
        avro_value_t u, b2;
        if ((unsigned)v->u.t.kind > SL_T_INTERVAL) {
            ctx->what = "temporal kind out of range";
            return EINVAL;
        }
        if ((rc = fld_enum(&br, T_KIND, (int)v->u.t.kind)) ||
            (rc = fld(&br, T_TEXT, &f)) || (rc = put_str(&f, v->data, v->len)) ||
            (rc = fld_int(&br, T_PRECISION, v->u.t.precision)))
            return rc;
        if ((rc = fld(&br, T_MICROS, &u)) ||
            (rc = avro_value_set_branch(&u, v->u.t.has_micros ? 1 : 0, &b2)) ||
            (rc = v->u.t.has_micros ? avro_value_set_long(&b2, v->u.t.micros)
                                    : avro_value_set_null(&b2)))
            return rc;
        if ((rc = fld(&br, T_TZ, &u)) ||
            (rc = avro_value_set_branch(&u, v->u.t.has_tz ? 1 : 0, &b2)) ||
            (rc = v->u.t.has_tz ? avro_value_set_int(&b2, v->u.t.tz_offset_s)
                                : avro_value_set_null(&b2)))
            return rc;
        return 0;
    }
    case SL_VAL_BIT:
        if (v->u.bit.nbits > INT32_MAX || v->len != ((size_t)v->u.bit.nbits + 7) / 8) {
            ctx->what = "BIT value length is not ceil(bits/8) bytes";
            return EINVAL;
        }
        if ((rc = fld_int(&br, 0, (int32_t)v->u.bit.nbits)) || (rc = fld(&br, 1, &f)))
            return rc;
        return put_bytes(&f, v->data, v->len);
    case SL_VAL_SET: {
        avro_value_t el;
        size_t off = 0;
        if ((rc = fld(&br, 0, &f)) || (rc = avro_value_reset(&f)))
            return rc;
        for (uint32_t k = 0; k < v->n; k++) {
            const char *lab = v->data + off;
            const char *nul = off < v->len ? memchr(lab, '\0', v->len - off) : NULL;
            if (!nul) {
                ctx->what = "SET value has fewer NUL-terminated labels than its count n";
                return EINVAL;
            }
            if ((rc = avro_value_append(&f, &el, NULL)) ||
                (rc = put_str(&el, lab, (size_t)(nul - lab))))
                return rc;
            off += (size_t)(nul - lab) + 1;
        }
        if (off != v->len) {
            ctx->what = "SET value has bytes after its n labels";
            return EINVAL;
        }
        return 0;
    }
    case SL_VAL_TYPED:
        if ((rc = fld_str(&br, 0, v->u.typed.type)) || (rc = fld(&br, 1, &f)))
            return rc;
        return put_str(&f, v->data, v->len);
    case SL_VAL_MISSING:
        if ((unsigned)v->u.missing > SL_MISSING_NOT_IN_IMAGE) {
            ctx->what = "missing reason out of range";
            return EINVAL;
        }
        return fld_enum(&br, 0, (int)v->u.missing);
    }
    return EINVAL;
}

/* before/after: union {null, array<Value>} */
static int enc_image(avro_value_t *row, size_t idx, const sl_value_t *img, uint32_t ncols,
                     enc_ctx_t *ctx)
{
    avro_value_t u, arr, el;
    int rc = fld(row, idx, &u);
    if (rc)
        return rc;
    if (!img) {
        rc = avro_value_set_branch(&u, 0, &arr);
        return rc ? rc : avro_value_set_null(&arr);
    }
    if ((rc = avro_value_set_branch(&u, 1, &arr)) || (rc = avro_value_reset(&arr)))
        return rc;
    for (uint32_t i = 0; i < ncols; i++) {
        ctx->col = i;
        if ((rc = avro_value_append(&arr, &el, NULL)) || (rc = enc_value(&el, &img[i], ctx)))
            return rc;
    }
    return 0;
}

static int enc_change(avro_value_t *b, const sl_change_t *c, enc_ctx_t *ctx)
{
    avro_value_t rows, row;
    int rc;
    if ((unsigned)c->op > SL_OP_READ) {
        ctx->what = "op out of range";
        return EINVAL;
    }
    if ((rc = fld_str(b, C_DB, c->db)) || (rc = fld_str(b, C_TABLE, c->table)) ||
        (rc = fld_enum(b, C_OP, (int)c->op)) || (rc = fld_nstr(b, C_TXN, c->txn)) ||
        (rc = fld_long(b, C_TIME, c->event_time_us)) ||
        (rc = fld_long(b, C_SCHEMA_ID, (int64_t)c->schema_id)) ||
        (rc = fld_long(b, C_SERVER_ID, c->server_id)) ||
        (rc = fld_long(b, C_FLAGS, c->flags)) || (rc = fld_nstr(b, C_ORIGIN, c->origin)) ||
        (rc = fld_strs(b, C_COLUMNS, c->columns, c->ncols)))
        return rc;
    if ((rc = fld(b, C_ROWS, &rows)) || (rc = avro_value_reset(&rows)))
        return rc;
    ctx->has_row = 1;
    for (uint32_t r = 0; r < c->nrows; r++) {
        ctx->row = r;
        if ((rc = avro_value_append(&rows, &row, NULL)) ||
            (rc = enc_image(&row, 0, c->rows[r].before, c->ncols, ctx)) ||
            (rc = enc_image(&row, 1, c->rows[r].after, c->ncols, ctx)))
            return rc;
    }
    ctx->has_row = 0;
    return 0;
}

static int enc_schema(avro_value_t *b, const sl_schema_t *s, enc_ctx_t *ctx)
{
    avro_value_t cols, col;
    int rc;
    if ((rc = fld_str(b, S_DB, s->db)) || (rc = fld_str(b, S_TABLE, s->table)) ||
        (rc = fld_nstr(b, S_DDL, s->ddl)) ||
        (rc = fld(b, S_COLUMNS, &cols)) || (rc = avro_value_reset(&cols)))
        return rc;
    for (uint32_t i = 0; i < s->ncols; i++) {
        const sl_column_t *k = &s->cols[i];
        avro_value_t f;
        ctx->col = i;
        if ((unsigned)k->kind > SL_VAL_MISSING) {
            ctx->what = "column kind out of range";
            return EINVAL;
        }
        if ((rc = avro_value_append(&cols, &col, NULL)) ||
            (rc = fld_str(&col, K_NAME, k->name)) ||
            (rc = fld_enum(&col, K_KIND, (int)k->kind)) ||
            (rc = fld_str(&col, K_SOURCE_TYPE, k->source_type)) ||
            (rc = fld(&col, K_NULLABLE, &f)) || (rc = avro_value_set_boolean(&f, k->nullable != 0)) ||
            (rc = fld_int(&col, K_PRECISION, k->precision)) ||
            (rc = fld_int(&col, K_SCALE, k->scale)) ||
            (rc = fld_nstr(&col, K_CHARSET, k->charset)) ||
            (rc = fld_strs(&col, K_LABELS, k->labels, k->nlabels)) ||
            (rc = fld_int(&col, K_PK, k->pk)) ||
            (rc = fld_nstr(&col, K_DEFAULT, k->dflt)))
            return rc;
    }
    return 0;
}

static int enc_record(avro_value_t *top, const sl_record_t *rec, enc_ctx_t *ctx)
{
    avro_value_t pos, body, b;
    int rc;
    if ((unsigned)rec->type > SL_REC_SCHEMA) {
        ctx->what = "record type out of range";
        return EINVAL;
    }
    if ((unsigned)rec->pos.kind > SL_POS_PG) {
        ctx->what = "position kind out of range";
        return EINVAL;
    }
    if ((rc = fld_enum(top, F_TYPE, (int)rec->type)) ||
        (rc = fld_str(top, F_SOURCE, rec->source)) ||
        (rc = fld(top, F_POS, &pos)) ||
        (rc = fld_enum(&pos, P_KIND, (int)rec->pos.kind)) ||
        (rc = fld_long(&pos, P_SEQ, (int64_t)rec->pos.seq)) ||
        (rc = fld_long(&pos, P_OFFSET, (int64_t)rec->pos.offset)) ||
        (rc = fld_long(&pos, P_ROW, rec->pos.row)) ||
        (rc = fld_str(&pos, P_FILE, rec->pos.file)) ||
        (rc = fld_str(&pos, P_GTID, rec->pos.gtid)) ||
        (rc = fld(top, F_BODY, &body)) ||
        (rc = avro_value_set_branch(&body, (int)rec->type, &b)))
        return rc;
    switch (rec->type) {
    case SL_REC_CHANGE:
        return enc_change(&b, &rec->u.change, ctx);
    case SL_REC_COMMIT:
        if ((rc = fld_nstr(&b, M_TXN, rec->u.commit.txn)) ||
            (rc = fld_long(&b, M_TIME, rec->u.commit.event_time_us)) ||
            (rc = fld_long(&b, M_SERVER_ID, rec->u.commit.server_id)) ||
            (rc = fld_long(&b, M_ROWS, (int64_t)rec->u.commit.nrows)))
            return rc;
        return 0;
    case SL_REC_FINISH:
        if ((rc = fld_str(&b, FI_REASON, rec->u.finish.reason)) ||
            (rc = fld_long(&b, FI_TIME, rec->u.finish.time_us)))
            return rc;
        return 0;
    case SL_REC_SCHEMA:
        return enc_schema(&b, &rec->u.schema, ctx);
    }
    return EINVAL;
}

sl_err_t sl_avro_encode_generic(sl_avro_codec_t *c, const sl_record_t *rec,
                                const void **buf, size_t *len,
                                char *errstr, size_t errstr_size)
{
    enc_ctx_t ctx = { NULL, 0, 0, 0 };
    int rc = enc_record(&c->enc, rec, &ctx);
    if (rc) {
        char where[96] = "";
        if (ctx.has_row)
            snprintf(where, sizeof(where), " row %" PRIu32 " column %" PRIu32, ctx.row, ctx.col);
        else if (rec->type == SL_REC_SCHEMA && (unsigned)rec->type <= SL_REC_SCHEMA)
            snprintf(where, sizeof(where), " column %" PRIu32, ctx.col);
        ERR(SL_ERR_ENCODE, "avro encode of %s record from source \"%s\"%s: %s",
            sl_rec_type_name(rec->type), rec->source ? rec->source : "",
            where, ctx.what ? ctx.what : avro_strerror());
    }
    for (;;) {
        /* the buffer is shared with sl_avro_encode(), which may have moved it */
        avro_writer_memory_set_dest(c->writer, c->buf + HDR_LEN, (int64_t)(c->cap - HDR_LEN));
        avro_writer_reset(c->writer);
        rc = avro_value_write(c->writer, &c->enc);
        if (rc != ENOSPC)
            break;
        size_t ncap = c->cap * 2;
        char *nb = realloc(c->buf, ncap);
        if (!nb)
            ERR(SL_ERR_NOMEM, "avro encode: out of memory growing the buffer to %zu bytes", ncap);
        c->buf = nb;
        c->cap = ncap;
        avro_writer_memory_set_dest(c->writer, c->buf + HDR_LEN, (int64_t)(c->cap - HDR_LEN));
    }
    if (rc)
        ERR(SL_ERR_ENCODE, "avro encode of %s record from source \"%s\": %s",
            sl_rec_type_name(rec->type), rec->source ? rec->source : "", avro_strerror());
    sl_avro_put_header(c);
    *buf = c->buf;
    *len = HDR_LEN + (size_t)avro_writer_tell(c->writer);
    return SL_OK;
}
