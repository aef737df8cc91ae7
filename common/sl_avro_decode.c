/* shiftlog: the generic Avro decoding of one message value into a record:
 * a framing pass over the bytes, then avro-c reads the body into the codec's
 * reused generic value and every string and byte buffer is copied into the
 * record's arena. sl_avro_decode() (sl_avro_read.c) reads the bytes directly
 * and is ~3x faster; this path stays as its independent oracle in the unit
 * tests (sl_avro_decode_generic) and holds the header check both share. */
#include "sl_avro.h"
#include "sl_avro_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a decode failed, for the error sentence. */
typedef struct {
    const char *what;     /* our own finding; NULL: avro-c's error */
    char        detail[128];
    int         max_op;   /* the message's version's last Op symbol */
    int         has_default; /* Column has default (v3) */
} dec_ctx_t;

#define DFAIL(ctx, ...) do { \
        snprintf((ctx)->detail, sizeof((ctx)->detail), __VA_ARGS__); \
        (ctx)->what = (ctx)->detail; \
        return -1; \
    } while (0)

static int fld(const avro_value_t *parent, size_t i, avro_value_t *out)
{
    return avro_value_get_by_index(parent, i, out, NULL);
}

/* Copies a string value into the arena; *out is NUL-terminated. */
static int get_str(sl_record_t *rec, const avro_value_t *v, const char **out, size_t *len)
{
    const char *s;
    size_t size;
    int rc = avro_value_get_string(v, &s, &size);
    if (rc)
        return rc;
    size = size ? size - 1 : 0;      /* avro-c counts the terminator */
    char *d = sl_record_memdup(rec, s, size);
    if (!d)
        return ENOMEM;
    *out = d;
    if (len)
        *len = size;
    return 0;
}

static int fld_str(sl_record_t *rec, const avro_value_t *parent, size_t i, const char **out)
{
    avro_value_t f;
    int rc = fld(parent, i, &f);
    return rc ? rc : get_str(rec, &f, out, NULL);
}

static int fld_long(const avro_value_t *parent, size_t i, int64_t *out)
{
    avro_value_t f;
    int rc = fld(parent, i, &f);
    return rc ? rc : avro_value_get_long(&f, out);
}

static int fld_int(const avro_value_t *parent, size_t i, int32_t *out)
{
    avro_value_t f;
    int rc = fld(parent, i, &f);
    return rc ? rc : avro_value_get_int(&f, out);
}

/* Enum field with its symbol checked against [0, max]. */
static int fld_enum(const avro_value_t *parent, size_t i, int max, int *out, dec_ctx_t *ctx,
                    const char *name)
{
    avro_value_t f;
    int rc = fld(parent, i, &f);
    if (rc || (rc = avro_value_get_enum(&f, out)))
        return rc;
    if (*out < 0 || *out > max)
        DFAIL(ctx, "%s symbol %d out of range 0..%d", name, *out, max);
    return 0;
}

/* union {null, T} field: *has = 0 for null, else 1 and *br = the T value. */
static int fld_opt(const avro_value_t *parent, size_t i, avro_value_t *br, int *has)
{
    avro_value_t u;
    int disc;
    int rc = fld(parent, i, &u);
    if (rc || (rc = avro_value_get_discriminant(&u, &disc)))
        return rc;
    *has = disc != 0;
    return *has ? avro_value_get_current_branch(&u, br) : 0;
}

/* union {null, string}: NULL for null */
static int fld_nstr(sl_record_t *rec, const avro_value_t *parent, size_t i, const char **out)
{
    avro_value_t br;
    int has;
    int rc = fld_opt(parent, i, &br, &has);
    *out = NULL;
    return rc || !has ? rc : get_str(rec, &br, out, NULL);
}

/* array<string> into an arena array of n strings */
static int fld_strs(sl_record_t *rec, const avro_value_t *parent, size_t i,
                    const char ***out, uint32_t *n)
{
    avro_value_t arr, el;
    size_t size;
    int rc = fld(parent, i, &arr);
    if (rc || (rc = avro_value_get_size(&arr, &size)))
        return rc;
    if (size > UINT32_MAX)
        return EINVAL;
    const char **a = sl_record_alloc(rec, (size ? size : 1) * sizeof(*a));
    if (!a)
        return ENOMEM;
    for (size_t k = 0; k < size; k++)
        if ((rc = avro_value_get_by_index(&arr, k, &el, NULL)) ||
            (rc = get_str(rec, &el, &a[k], NULL)))
            return rc;
    *out = a;
    *n = (uint32_t)size;
    return 0;
}

static int get_bytes(sl_record_t *rec, const avro_value_t *v, sl_value_t *out)
{
    const void *p;
    size_t size;
    int rc = avro_value_get_bytes(v, &p, &size);
    if (rc)
        return rc;
    if (!(out->data = sl_record_memdup(rec, p, size)))
        return ENOMEM;
    out->len = size;
    return 0;
}

static int dec_value(sl_record_t *rec, const avro_value_t *slot, sl_value_t *v, dec_ctx_t *ctx)
{
    avro_value_t br, f, b2;
    int disc, rc;
    if ((rc = avro_value_get_discriminant(slot, &disc)) ||
        (rc = avro_value_get_current_branch(slot, &br)))
        return rc;
    if (disc < 0 || disc > SL_VAL_MISSING)
        DFAIL(ctx, "value branch %d out of range", disc);
    v->kind = (sl_val_kind_t)disc;
    switch (v->kind) {
    case SL_VAL_NULL:
        return 0;
    case SL_VAL_BOOL: {
        int b = 0;                      /* avro-c's macro may fail before setting it */
        rc = avro_value_get_boolean(&br, &b);
        v->u.b = b != 0;
        return rc;
    }
    case SL_VAL_INT:
        return avro_value_get_long(&br, &v->u.i);
    case SL_VAL_UINT: {
        const void *p;
        size_t size;
        if ((rc = avro_value_get_fixed(&br, &p, &size)))
            return rc;
        if (size != 8)
            DFAIL(ctx, "UInt64 of %zu bytes", size);
        const unsigned char *be = p;
        v->u.u = 0;
        for (int i = 0; i < 8; i++)
            v->u.u = v->u.u << 8 | be[i];
        return 0;
    }
    case SL_VAL_FLOAT:
        return avro_value_get_float(&br, &v->u.f);
    case SL_VAL_DOUBLE:
        return avro_value_get_double(&br, &v->u.d);
    case SL_VAL_DECIMAL:
        return (rc = fld(&br, 0, &f)) ? rc : get_str(rec, &f, &v->data, &v->len);
    case SL_VAL_STRING:
        return get_str(rec, &br, &v->data, &v->len);
    case SL_VAL_BYTES:
        return get_bytes(rec, &br, v);
    case SL_VAL_TEMPORAL: {
        int kind;
        int32_t prec;
        if ((rc = fld_enum(&br, T_KIND, SL_T_INTERVAL, &kind, ctx, "temporal kind")) ||
            (rc = fld(&br, T_TEXT, &f)) || (rc = get_str(rec, &f, &v->data, &v->len)) ||
            (rc = fld_int(&br, T_PRECISION, &prec)))
            return rc;
        v->u.t.kind = (sl_temporal_kind_t)kind;
        v->u.t.precision = prec;
        int has;
        if ((rc = fld_opt(&br, T_MICROS, &b2, &has)) ||
            (has && (rc = avro_value_get_long(&b2, &v->u.t.micros))))
            return rc;
        v->u.t.has_micros = has;
        if ((rc = fld_opt(&br, T_TZ, &b2, &has)) ||
            (has && (rc = avro_value_get_int(&b2, &v->u.t.tz_offset_s))))
            return rc;
        v->u.t.has_tz = has;
        return 0;
    }
    case SL_VAL_BIT: {
        int32_t nbits;
        if ((rc = fld_int(&br, 0, &nbits)) || (rc = fld(&br, 1, &f)) ||
            (rc = get_bytes(rec, &f, v)))
            return rc;
        if (nbits < 0 || v->len != ((size_t)nbits + 7) / 8)
            DFAIL(ctx, "Bit of %" PRId32 " bits carries %zu bytes", nbits, v->len);
        v->u.bit.nbits = (uint32_t)nbits;
        return 0;
    }
    case SL_VAL_SET: {
        avro_value_t el;
        size_t n, total = 0;
        if ((rc = fld(&br, 0, &f)) || (rc = avro_value_get_size(&f, &n)))
            return rc;
        if (n > UINT32_MAX)
            DFAIL(ctx, "Set of %zu labels", n);
        for (size_t k = 0; k < n; k++) {
            const char *s;
            size_t size;
            if ((rc = avro_value_get_by_index(&f, k, &el, NULL)) ||
                (rc = avro_value_get_string(&el, &s, &size)))
                return rc;
            total += size ? size : 1;    /* label + its NUL */
        }
        char *d = sl_record_alloc(rec, total + 1);
        if (!d)
            return ENOMEM;
        size_t off = 0;
        for (size_t k = 0; k < n; k++) {
            const char *s;
            size_t size;
            if ((rc = avro_value_get_by_index(&f, k, &el, NULL)) ||
                (rc = avro_value_get_string(&el, &s, &size)))
                return rc;
            size = size ? size - 1 : 0;
            if (memchr(s, '\0', size))
                DFAIL(ctx, "Set label %zu contains a NUL character", k);
            memcpy(d + off, s, size);
            d[off + size] = '\0';
            off += size + 1;
        }
        v->data = d;
        v->len = off;
        v->n = (uint32_t)n;
        return 0;
    }
    case SL_VAL_TYPED:
        if ((rc = fld_str(rec, &br, 0, &v->u.typed.type)) || (rc = fld(&br, 1, &f)))
            return rc;
        return get_str(rec, &f, &v->data, &v->len);
    case SL_VAL_MISSING: {
        int reason;
        if ((rc = fld_enum(&br, 0, SL_MISSING_NOT_IN_IMAGE, &reason, ctx, "missing reason")))
            return rc;
        v->u.missing = (sl_missing_t)reason;
        return 0;
    }
    }
    return EINVAL;
}

static int dec_image(sl_record_t *rec, const avro_value_t *row, size_t idx, uint32_t ncols,
                     uint32_t r, sl_value_t **out, dec_ctx_t *ctx)
{
    avro_value_t arr, el;
    size_t n;
    int has;
    int rc = fld_opt(row, idx, &arr, &has);
    *out = NULL;
    if (rc || !has)
        return rc;
    if ((rc = avro_value_get_size(&arr, &n)))
        return rc;
    if (n != ncols)
        DFAIL(ctx, "row %" PRIu32 " %s image has %zu values for %" PRIu32 " columns",
              r, idx ? "after" : "before", n, ncols);
    sl_value_t *img = sl_record_alloc(rec, (n ? n : 1) * sizeof(*img));
    if (!img)
        return ENOMEM;
    for (size_t i = 0; i < n; i++)
        if ((rc = avro_value_get_by_index(&arr, i, &el, NULL)) ||
            (rc = dec_value(rec, &el, &img[i], ctx)))
            return rc;
    *out = img;
    return 0;
}

static int dec_change(sl_record_t *rec, const avro_value_t *b, dec_ctx_t *ctx)
{
    sl_change_t *c = &rec->u.change;
    avro_value_t rows, row;
    int64_t t, sid, srv, flags;
    int op;
    size_t n;
    int rc;
    if ((rc = fld_str(rec, b, C_DB, &c->db)) || (rc = fld_str(rec, b, C_TABLE, &c->table)) ||
        (rc = fld_enum(b, C_OP, ctx->max_op, &op, ctx, "op")) ||
        (rc = fld_nstr(rec, b, C_TXN, &c->txn)) ||
        (rc = fld_long(b, C_TIME, &t)) || (rc = fld_long(b, C_SCHEMA_ID, &sid)) ||
        (rc = fld_long(b, C_SERVER_ID, &srv)) || (rc = fld_long(b, C_FLAGS, &flags)) ||
        (rc = fld_nstr(rec, b, C_ORIGIN, &c->origin)) ||
        (rc = fld_strs(rec, b, C_COLUMNS, &c->columns, &c->ncols)))
        return rc;
    if (srv < 0 || srv > UINT32_MAX || flags < 0 || flags > UINT32_MAX)
        DFAIL(ctx, "serverId %" PRId64 " or flags %" PRId64 " outside 0..2^32-1", srv, flags);
    c->op = (sl_op_t)op;
    c->event_time_us = t;
    c->schema_id = (uint64_t)sid;
    c->server_id = (uint32_t)srv;
    c->flags = (uint32_t)flags;
    if ((rc = fld(b, C_ROWS, &rows)) || (rc = avro_value_get_size(&rows, &n)))
        return rc;
    if (n > UINT32_MAX)
        DFAIL(ctx, "%zu rows", n);
    c->nrows = (uint32_t)n;
    if (!(c->rows = sl_record_alloc(rec, (n ? n : 1) * sizeof(*c->rows))))
        return ENOMEM;
    for (uint32_t r = 0; r < c->nrows; r++)
        if ((rc = avro_value_get_by_index(&rows, r, &row, NULL)) ||
            (rc = dec_image(rec, &row, 0, c->ncols, r, &c->rows[r].before, ctx)) ||
            (rc = dec_image(rec, &row, 1, c->ncols, r, &c->rows[r].after, ctx)))
            return rc;
    return 0;
}

static int dec_schema(sl_record_t *rec, const avro_value_t *b, dec_ctx_t *ctx)
{
    sl_schema_t *s = &rec->u.schema;
    avro_value_t cols, col, f;
    size_t n;
    int rc;
    if ((rc = fld_str(rec, b, S_DB, &s->db)) || (rc = fld_str(rec, b, S_TABLE, &s->table)) ||
        (rc = fld_nstr(rec, b, S_DDL, &s->ddl)) ||
        (rc = fld(b, S_COLUMNS, &cols)) || (rc = avro_value_get_size(&cols, &n)))
        return rc;
    if (n > UINT32_MAX)
        DFAIL(ctx, "%zu columns", n);
    s->ncols = (uint32_t)n;
    if (!(s->cols = sl_record_alloc(rec, (n ? n : 1) * sizeof(*s->cols))))
        return ENOMEM;
    for (uint32_t i = 0; i < s->ncols; i++) {
        sl_column_t *k = &s->cols[i];
        int kind, nullable;
        int32_t prec, scale, pk;
        if ((rc = avro_value_get_by_index(&cols, i, &col, NULL)) ||
            (rc = fld_str(rec, &col, K_NAME, &k->name)) ||
            (rc = fld_enum(&col, K_KIND, SL_VAL_MISSING, &kind, ctx, "column kind")) ||
            (rc = fld_str(rec, &col, K_SOURCE_TYPE, &k->source_type)) ||
            (rc = fld(&col, K_NULLABLE, &f)) || (rc = avro_value_get_boolean(&f, &nullable)) ||
            (rc = fld_int(&col, K_PRECISION, &prec)) || (rc = fld_int(&col, K_SCALE, &scale)) ||
            (rc = fld_nstr(rec, &col, K_CHARSET, &k->charset)) ||
            (rc = fld_strs(rec, &col, K_LABELS, &k->labels, &k->nlabels)) ||
            (rc = fld_int(&col, K_PK, &pk)) ||
            (ctx->has_default && (rc = fld_nstr(rec, &col, K_DEFAULT, &k->dflt))))
            return rc;
        k->kind = (sl_val_kind_t)kind;
        k->nullable = nullable != 0;
        k->precision = prec;
        k->scale = scale;
        k->pk = pk;
    }
    return 0;
}

/* Copies a string field into a fixed char array of a position. */
static int fld_fixed_str(const avro_value_t *pos, size_t i, char *dst, size_t dst_size,
                         dec_ctx_t *ctx, const char *name)
{
    avro_value_t f;
    const char *s;
    size_t size;
    int rc = fld(pos, i, &f);
    if (rc || (rc = avro_value_get_string(&f, &s, &size)))
        return rc;
    size = size ? size - 1 : 0;
    if (size >= dst_size || memchr(s, '\0', size))
        DFAIL(ctx, "position %s of %zu bytes (at most %zu, no NUL)", name, size, dst_size - 1);
    memcpy(dst, s, size);
    dst[size] = '\0';
    return 0;
}

static int dec_record(sl_record_t *rec, const avro_value_t *top, dec_ctx_t *ctx)
{
    avro_value_t pos, body, b;
    int type, kind, disc;
    int64_t seq, off, row;
    int rc;
    if ((rc = fld_enum(top, F_TYPE, SL_REC_SCHEMA, &type, ctx, "record type")) ||
        (rc = fld_str(rec, top, F_SOURCE, &rec->source)) ||
        (rc = fld(top, F_POS, &pos)) ||
        (rc = fld_enum(&pos, P_KIND, SL_POS_PG, &kind, ctx, "position kind")) ||
        (rc = fld_long(&pos, P_SEQ, &seq)) || (rc = fld_long(&pos, P_OFFSET, &off)) ||
        (rc = fld_long(&pos, P_ROW, &row)) ||
        (rc = fld_fixed_str(&pos, P_FILE, rec->pos.file, sizeof(rec->pos.file), ctx, "file")) ||
        (rc = fld_fixed_str(&pos, P_GTID, rec->pos.gtid, sizeof(rec->pos.gtid), ctx, "gtid")))
        return rc;
    if (row < 0 || row > UINT32_MAX)
        DFAIL(ctx, "position row %" PRId64 " outside 0..2^32-1", row);
    rec->type = (sl_rec_type_t)type;
    rec->pos.kind = (sl_pos_kind_t)kind;
    rec->pos.seq = (uint64_t)seq;
    rec->pos.offset = (uint64_t)off;
    rec->pos.row = (uint32_t)row;
    if ((rc = fld(top, F_BODY, &body)) || (rc = avro_value_get_discriminant(&body, &disc)) ||
        (rc = avro_value_get_current_branch(&body, &b)))
        return rc;
    if (disc != type)
        DFAIL(ctx, "type %s but body branch %d", sl_rec_type_name(rec->type), disc);
    switch (rec->type) {
    case SL_REC_CHANGE:
        return dec_change(rec, &b, ctx);
    case SL_REC_COMMIT: {
        int64_t srv, nrows;
        if ((rc = fld_nstr(rec, &b, M_TXN, &rec->u.commit.txn)) ||
            (rc = fld_long(&b, M_TIME, &rec->u.commit.event_time_us)) ||
            (rc = fld_long(&b, M_SERVER_ID, &srv)) || (rc = fld_long(&b, M_ROWS, &nrows)))
            return rc;
        if (srv < 0 || srv > UINT32_MAX)
            DFAIL(ctx, "serverId %" PRId64 " outside 0..2^32-1", srv);
        rec->u.commit.server_id = (uint32_t)srv;
        rec->u.commit.nrows = (uint64_t)nrows;
        return 0;
    }
    case SL_REC_FINISH:
        if ((rc = fld_str(rec, &b, FI_REASON, &rec->u.finish.reason)) ||
            (rc = fld_long(&b, FI_TIME, &rec->u.finish.time_us)))
            return rc;
        return 0;
    case SL_REC_SCHEMA:
        return dec_schema(rec, &b, ctx);
    }
    return EINVAL;
}

/* ------------------------------------------------------------ framing */

static int frame_skip(frame_t *f, int64_t n, const char *what)
{
    if (n < 0)
        return frame_fail(f, what[0] == 's' ? "string length %lld" : "bytes length %lld", n);
    if (n > f->end - f->at)
        return frame_fail(f, "needs %lld more bytes", n - (f->end - f->at));
    f->at += n;
    return 0;
}

/* Walks one value of schema s over the bytes: every length, count, enum
 * symbol and union branch must fit. Every array item of this schema takes
 * at least one byte, so a count above the bytes left is refused early. */
static int frame_check(frame_t *f, avro_schema_t s, int depth)
{
    int64_t n;
    if (depth > 32)
        return frame_fail(f, "nesting deeper than %lld", 32);
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        if (f->at >= f->end)
            return frame_fail(f, "ends inside a boolean%.0lld", 0);
        if (*f->at > 1)
            return frame_fail(f, "boolean byte %lld", *f->at);
        f->at++;
        return 0;
    case AVRO_INT32:
    case AVRO_INT64:
        return frame_long(f, &n);
    case AVRO_FLOAT:
        return frame_skip(f, 4, "float");
    case AVRO_DOUBLE:
        return frame_skip(f, 8, "double");
    case AVRO_STRING:
    case AVRO_BYTES:
        return frame_long(f, &n) ? -1
             : frame_skip(f, n, avro_typeof(s) == AVRO_STRING ? "string" : "bytes");
    case AVRO_FIXED:
        return frame_skip(f, avro_schema_fixed_size(s), "fixed");
    case AVRO_ENUM:
        if (frame_long(f, &n))
            return -1;
        if (n < 0 || n >= avro_schema_enum_number_of_symbols(s))
            return frame_fail(f, "enum symbol %lld out of range", n);
        return 0;
    case AVRO_UNION:
        if (frame_long(f, &n))
            return -1;
        if (n < 0 || (uint64_t)n >= avro_schema_union_size(s))
            return frame_fail(f, "union branch %lld out of range", n);
        return frame_check(f, avro_schema_union_branch(s, (int)n), depth + 1);
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s); i++)
            if (frame_check(f, avro_schema_record_field_get_by_index(s, (int)i), depth + 1))
                return -1;
        return 0;
    case AVRO_ARRAY:
    case AVRO_MAP:
        for (;;) {
            int64_t size;
            if (frame_long(f, &n))
                return -1;
            if (n == 0)
                return 0;
            if (n < 0) {
                if (n == INT64_MIN || frame_long(f, &size))
                    return frame_fail(f, "bad block count %lld", n);
                n = -n;
            }
            if (n > f->end - f->at)
                return frame_fail(f, "block of %lld items, more than the bytes left", n);
            for (int64_t i = 0; i < n; i++) {
                if (avro_typeof(s) == AVRO_MAP && (frame_long(f, &size) || frame_skip(f, size, "string")))
                    return -1;
                if (frame_check(f, avro_typeof(s) == AVRO_ARRAY ? avro_schema_array_items(s)
                                                               : avro_schema_map_values(s), depth + 1))
                    return -1;
            }
        }
    case AVRO_LINK:
        return frame_check(f, avro_schema_link_target(s), depth + 1);
    default:
        return frame_fail(f, "unknown schema type %lld", avro_typeof(s));
    }
}

sl_err_t sl_avro_check_header(const sl_avro_codec_t *c, const void *buf, size_t len,
                              const sl_avro_ver_t **ver, char *errstr, size_t errstr_size)
{
    const unsigned char *p = buf;
    uint64_t fp = 0;
    if (len < HDR_LEN) {
        if (len >= 1 && p[0] != 0xC3)
            goto bad_magic;
        if (len >= 2 && p[1] != 0x01)
            goto bad_magic;
        ERR(SL_ERR_DECODE, "shiftlog message truncated at byte %zu: the header is %d bytes "
            "(C3 01 + 8-byte schema fingerprint)", len, HDR_LEN);
    }
    if (p[0] != 0xC3 || p[1] != 0x01)
        goto bad_magic;
    for (int i = 7; i >= 0; i--)
        fp = fp << 8 | p[2 + i];
    for (int i = 0; i < SL_AVRO_NVER; i++)
        if (fp == c->ver[i].fp) {
            *ver = &c->ver[i];
            return SL_OK;
        }
    ERR(SL_ERR_DECODE, "unknown schema fingerprint %016" PRIx64 " (this build reads "
        "shiftlog_record_v1 %016" PRIx64 ", shiftlog_record_v2 %016" PRIx64 " and "
        "shiftlog_record_v3 %016" PRIx64 "; a newer writer needs a newer reader)", fp,
        c->ver[0].fp, c->ver[1].fp, c->ver[2].fp);
bad_magic:
    ERR(SL_ERR_DECODE, "bad magic %02x %02x: a shiftlog message starts with c3 01 "
        "(Avro single-object encoding)", p[0], len > 1 ? p[1] : 0);
}

sl_err_t sl_avro_decode_generic(sl_avro_codec_t *c, const void *buf, size_t len,
                                sl_record_t *rec, char *errstr, size_t errstr_size)
{
    const unsigned char *p = buf;
    dec_ctx_t ctx = { NULL, "", SL_OP_READ, 1 };
    const sl_avro_ver_t *ver;
    sl_err_t err;
    int rc;

    sl_record_reset(rec);
    if ((err = sl_avro_check_header(c, buf, len, &ver, errstr, errstr_size)))
        return err;
    ctx.max_op = ver->max_op;
    ctx.has_default = ver->has_default;
    /* First our own framing pass (no allocation): avro-c 1.11's reader leaks
     * the buffer of a string cut short, and allocates whatever length a
     * corrupt message claims (even a negative one). After this pass neither
     * can happen, and the error can say at which byte the message breaks. */
    frame_t fr = { p + HDR_LEN, p + len, p, "" };
    if (frame_check(&fr, ver->schema, 0) || fr.at != fr.end) {
        if (!fr.why[0])
            snprintf(fr.why, sizeof(fr.why), "%zu bytes after the record",
                     (size_t)(fr.end - fr.at));
        ERR(SL_ERR_DECODE, "shiftlog message of %zu bytes is truncated or malformed at byte %zu: %s",
            len, (size_t)(fr.at - p), fr.why);
    }
    avro_set_error("%s", "");
    avro_reader_memory_set_source(c->reader, (const char *)buf + HDR_LEN,
                                  (int64_t)(len - HDR_LEN));
    if (avro_value_read(c->reader, (avro_value_t *)&ver->dec))
        ERR(SL_ERR_DECODE, "shiftlog message of %zu bytes is malformed: %s",
            len, avro_strerror());
    rc = dec_record(rec, &ver->dec, &ctx);
    if (rc) {
        sl_record_reset(rec);
        ERR(SL_ERR_DECODE, "shiftlog message of %zu bytes: %s", len,
            ctx.what ? ctx.what : rc == ENOMEM ? "out of memory" : avro_strerror());
    }
    return SL_OK;
}
