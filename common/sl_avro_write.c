/* shiftlog: sl_avro_encode() — one record written straight into the codec's
 * reused buffer as Avro binary, field by field in the order of
 * schemas/shiftlog_record_v3.avsc (sl_avro_int.h), after the 10-byte
 * single-object header. No generic value is filled and walked: the
 * collector encodes every record, and avro-c's value setters + writer were
 * its largest cost after the producer itself.
 *
 * Byte for byte what avro-c's writer produces for the same record (arrays as
 * one block of n items then 0, an empty array as 0): the unit tests compare
 * both on every test record, and tests/it/slavro.py and fastavro read it.
 * The generic encoder (sl_avro.c, sl_avro_encode_generic) stays as that
 * oracle. Validation and error sentences are the generic encoder's. */
#include "sl_avro.h"
#include "sl_avro_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sl_avro_codec_t *c;        /* NULL when measuring */
    int              measure;  /* count the bytes, write nothing (sl_avro_*_size) */
    size_t           len;      /* bytes written, header included */
    int              nomem;
    const char      *what;     /* a validation failure */
    uint32_t         row, col;
    int              has_row;
} wr_t;

/* Room for n more bytes; 0 or -1 (out of memory). */
static int room(wr_t *w, size_t n)
{
    if (w->len + n <= w->c->cap)
        return 0;
    size_t ncap = w->c->cap ? w->c->cap : INIT_CAP;
    while (ncap < w->len + n)
        ncap *= 2;
    char *nb = realloc(w->c->buf, ncap);
    if (!nb) {
        w->nomem = 1;
        return -1;
    }
    w->c->buf = nb;
    w->c->cap = ncap;
    return 0;
}

static int w_long(wr_t *w, int64_t x)
{
    uint64_t v = ((uint64_t)x << 1) ^ (uint64_t)(x >> 63);      /* zigzag */
    if (w->measure) {
        do {
            w->len++;
            v >>= 7;
        } while (v);
        return 0;
    }
    if (room(w, 10))
        return -1;
    unsigned char *p = (unsigned char *)w->c->buf + w->len;
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    w->len += n;
    return 0;
}

static int w_raw(wr_t *w, const void *p, size_t n)
{
    if (w->measure) {
        w->len += n;
        return 0;
    }
    if (room(w, n))
        return -1;
    if (n)
        memcpy(w->c->buf + w->len, p, n);
    w->len += n;
    return 0;
}

static int w_bytes(wr_t *w, const void *p, size_t n)
{
    return w_long(w, (int64_t)n) || w_raw(w, p, n) ? -1 : 0;
}

static int w_str(wr_t *w, const char *s)
{
    return w_bytes(w, s ? s : "", s ? strlen(s) : 0);
}

/* union {null, string} */
static int w_nstr(wr_t *w, const char *s)
{
    return s ? (w_long(w, 1) || w_str(w, s) ? -1 : 0) : w_long(w, 0);
}

/* array<string>: one block of n, then the end */
static int w_strs(wr_t *w, const char *const *s, uint32_t n)
{
    if (n && w_long(w, n))
        return -1;
    for (uint32_t k = 0; k < n; k++)
        if (w_str(w, s[k]))
            return -1;
    return w_long(w, 0);
}

static int bad(wr_t *w, const char *what)
{
    w->what = what;
    return -1;
}

static int w_value(wr_t *w, const sl_value_t *v)
{
    unsigned char b[8];
    if ((unsigned)v->kind > SL_VAL_MISSING)
        return bad(w, "value kind out of range");
    if (w_long(w, (int64_t)v->kind))
        return -1;
    switch (v->kind) {
    case SL_VAL_NULL:
        return 0;
    case SL_VAL_BOOL:
        b[0] = v->u.b != 0;
        return w_raw(w, b, 1);
    case SL_VAL_INT:
        return w_long(w, v->u.i);
    case SL_VAL_UINT:                      /* fixed(8), big-endian */
        for (int i = 0; i < 8; i++)
            b[i] = (unsigned char)(v->u.u >> (56 - 8 * i));
        return w_raw(w, b, 8);
    case SL_VAL_FLOAT: {                   /* little-endian IEEE 754 */
        uint32_t bits;
        memcpy(&bits, &v->u.f, sizeof(bits));
        for (int i = 0; i < 4; i++)
            b[i] = (unsigned char)(bits >> (8 * i));
        return w_raw(w, b, 4);
    }
    case SL_VAL_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, sizeof(bits));
        for (int i = 0; i < 8; i++)
            b[i] = (unsigned char)(bits >> (8 * i));
        return w_raw(w, b, 8);
    }
    case SL_VAL_DECIMAL:                   /* Decimal { digits } */
    case SL_VAL_STRING:
    case SL_VAL_BYTES:
        return w_bytes(w, v->data ? v->data : "", v->data ? v->len : 0);
    case SL_VAL_TEMPORAL:                  /* kind, text, micros?, precision, tz? */
        if ((unsigned)v->u.t.kind > SL_T_INTERVAL)
            return bad(w, "temporal kind out of range");
        if (w_long(w, (int64_t)v->u.t.kind) ||
            w_bytes(w, v->data ? v->data : "", v->data ? v->len : 0) ||
            w_long(w, v->u.t.has_micros ? 1 : 0) ||
            (v->u.t.has_micros && w_long(w, v->u.t.micros)) ||
            w_long(w, (int32_t)v->u.t.precision) ||
            w_long(w, v->u.t.has_tz ? 1 : 0) ||
            (v->u.t.has_tz && w_long(w, v->u.t.tz_offset_s)))
            return -1;
        return 0;
    case SL_VAL_BIT:                       /* bits, value */
        if (v->u.bit.nbits > INT32_MAX || v->len != ((size_t)v->u.bit.nbits + 7) / 8)
            return bad(w, "BIT value length is not ceil(bits/8) bytes");
        return w_long(w, (int64_t)v->u.bit.nbits) ||
               w_bytes(w, v->len ? v->data : "", v->len) ? -1 : 0;
    case SL_VAL_SET: {                     /* labels: array<string> */
        size_t off = 0;
        if (v->n && w_long(w, v->n))
            return -1;
        for (uint32_t k = 0; k < v->n; k++) {
            const char *lab = v->data + off;
            const char *nul = off < v->len ? memchr(lab, '\0', v->len - off) : NULL;
            if (!nul)
                return bad(w, "SET value has fewer NUL-terminated labels than its count n");
            if (w_bytes(w, lab, (size_t)(nul - lab)))
                return -1;
            off += (size_t)(nul - lab) + 1;
        }
        if (off != v->len)
            return bad(w, "SET value has bytes after its n labels");
        return w_long(w, 0);
    }
    case SL_VAL_TYPED:                     /* type, text */
        return w_str(w, v->u.typed.type) ||
               w_bytes(w, v->data ? v->data : "", v->data ? v->len : 0) ? -1 : 0;
    case SL_VAL_MISSING:
        if ((unsigned)v->u.missing > SL_MISSING_NOT_IN_IMAGE)
            return bad(w, "missing reason out of range");
        return w_long(w, (int64_t)v->u.missing);
    }
    return bad(w, "value kind out of range");
}

/* before/after: union {null, array<Value>} */
static int w_image(wr_t *w, const sl_value_t *img, uint32_t ncols)
{
    if (!img)
        return w_long(w, 0);
    if (w_long(w, 1) || (ncols && w_long(w, ncols)))
        return -1;
    for (uint32_t i = 0; i < ncols; i++) {
        w->col = i;
        if (w_value(w, &img[i]))
            return -1;
    }
    return w_long(w, 0);
}

static int w_change(wr_t *w, const sl_change_t *c)
{
    if ((unsigned)c->op > SL_OP_READ)
        return bad(w, "op out of range");
    if (w_str(w, c->db) || w_str(w, c->table) || w_long(w, (int64_t)c->op) ||
        w_nstr(w, c->txn) || w_long(w, c->event_time_us) || w_long(w, (int64_t)c->schema_id) ||
        w_long(w, c->server_id) || w_long(w, c->flags) || w_nstr(w, c->origin) ||
        w_strs(w, c->columns, c->ncols))
        return -1;
    w->has_row = 1;
    if (c->nrows && w_long(w, c->nrows))
        return -1;
    for (uint32_t r = 0; r < c->nrows; r++) {
        w->row = r;
        if (w_image(w, c->rows[r].before, c->ncols) || w_image(w, c->rows[r].after, c->ncols))
            return -1;
    }
    w->has_row = 0;
    return w_long(w, 0);
}

static int w_schema(wr_t *w, const sl_schema_t *s)
{
    if (w_str(w, s->db) || w_str(w, s->table) || (s->ncols && w_long(w, s->ncols)))
        return -1;
    for (uint32_t i = 0; i < s->ncols; i++) {
        const sl_column_t *k = &s->cols[i];
        unsigned char nullable = k->nullable != 0;
        w->col = i;
        if ((unsigned)k->kind > SL_VAL_MISSING)
            return bad(w, "column kind out of range");
        if (w_str(w, k->name) || w_long(w, (int64_t)k->kind) || w_str(w, k->source_type) ||
            w_raw(w, &nullable, 1) || w_long(w, (int32_t)k->precision) ||
            w_long(w, (int32_t)k->scale) || w_nstr(w, k->charset) ||
            w_strs(w, k->labels, k->nlabels) || w_long(w, (int32_t)k->pk) ||
            w_nstr(w, k->dflt))
            return -1;
    }
    return w_long(w, 0) || w_nstr(w, s->ddl) ? -1 : 0;
}

static int w_record(wr_t *w, const sl_record_t *rec)
{
    if ((unsigned)rec->type > SL_REC_SCHEMA)
        return bad(w, "record type out of range");
    if ((unsigned)rec->pos.kind > SL_POS_PG)
        return bad(w, "position kind out of range");
    if (w_long(w, (int64_t)rec->type) || w_str(w, rec->source) ||
        w_long(w, (int64_t)rec->pos.kind) || w_long(w, (int64_t)rec->pos.seq) ||
        w_long(w, (int64_t)rec->pos.offset) || w_long(w, rec->pos.row) ||
        w_str(w, rec->pos.file) || w_str(w, rec->pos.gtid) || w_long(w, (int64_t)rec->type))
        return -1;
    switch (rec->type) {
    case SL_REC_CHANGE:
        return w_change(w, &rec->u.change);
    case SL_REC_COMMIT:
        return w_nstr(w, rec->u.commit.txn) || w_long(w, rec->u.commit.event_time_us) ||
               w_long(w, rec->u.commit.server_id) || w_long(w, (int64_t)rec->u.commit.nrows)
               ? -1 : 0;
    case SL_REC_FINISH:
        return w_str(w, rec->u.finish.reason) || w_long(w, rec->u.finish.time_us) ? -1 : 0;
    case SL_REC_SCHEMA:
        return w_schema(w, &rec->u.schema);
    }
    return bad(w, "record type out of range");
}

sl_err_t sl_avro_encode(sl_avro_codec_t *c, const sl_record_t *rec,
                        const void **buf, size_t *len,
                        char *errstr, size_t errstr_size)
{
    wr_t w = { .c = c, .len = HDR_LEN };
    if (room(&w, HDR_LEN))
        ERR(SL_ERR_NOMEM, "avro encode: out of memory");
    if (w_record(&w, rec)) {
        if (w.nomem)
            ERR(SL_ERR_NOMEM, "avro encode: out of memory growing the buffer past %zu bytes",
                c->cap);
        char where[96] = "";
        if (w.has_row)
            snprintf(where, sizeof(where), " row %" PRIu32 " column %" PRIu32, w.row, w.col);
        else if (rec->type == SL_REC_SCHEMA)
            snprintf(where, sizeof(where), " column %" PRIu32, w.col);
        ERR(SL_ERR_ENCODE, "avro encode of %s record from source \"%s\"%s: %s",
            sl_rec_type_name(rec->type), rec->source ? rec->source : "", where, w.what);
    }
    sl_avro_put_header(c);
    *buf = c->buf;
    *len = w.len;
    return SL_OK;
}

size_t sl_avro_record_size(const sl_record_t *rec)
{
    wr_t w = { .measure = 1, .len = HDR_LEN };
    w_record(&w, rec);
    return w.len;
}

size_t sl_avro_rows_size(const sl_change_t *c, uint32_t first, uint32_t n)
{
    wr_t w = { .measure = 1 };
    for (uint32_t r = first; r < c->nrows && r - first < n; r++)
        if (w_image(&w, c->rows[r].before, c->ncols) || w_image(&w, c->rows[r].after, c->ncols))
            break;
    return w.len;
}
