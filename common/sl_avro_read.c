/* shiftlog: sl_avro_decode() — one message value read straight from its
 * bytes into a record, following schemas/shiftlog_record_v3.avsc (or v1, v2) field by
 * field (sl_avro_int.h gives the order). One pass, no generic value, no
 * allocation outside the record's arena: the applier and the miner decode
 * every message, and avro-c's generic reader (validation pass + value walk +
 * malloc/free per value) was more than half of the applier's CPU.
 *
 * Every length, count, enum symbol and union branch is checked against the
 * bytes left before it is used, so a corrupt message can neither read
 * outside the buffer nor make us allocate more than a small multiple of its
 * size. Errors read as the generic decoder's (sl_avro_decode.c), which stays
 * as this reader's oracle in the unit tests. */
#include "sl_avro.h"
#include "sl_avro_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RD_FRAME = 1, RD_SEMANTIC, RD_NOMEM };

typedef struct {
    frame_t      f;
    sl_record_t *rec;
    int          max_op;     /* the message's version's last Op symbol */
    int          has_default; /* the message's Column has default (v3) */
    int          fail;       /* RD_* of the first failure */
    char         what[160];  /* RD_SEMANTIC: the finding */
} rd_t;

#define SEMFAIL(r, ...) do { \
        snprintf((r)->what, sizeof((r)->what), __VA_ARGS__); \
        (r)->fail = RD_SEMANTIC; \
        return -1; \
    } while (0)

static int framefail(rd_t *r, const char *fmt, long long x)
{
    frame_fail(&r->f, fmt, x);
    r->fail = RD_FRAME;
    return -1;
}

static size_t left(const rd_t *r)
{
    return (size_t)(r->f.end - r->f.at);
}

static int rd_long(rd_t *r, int64_t *v)
{
    if (frame_long(&r->f, v)) {
        r->fail = RD_FRAME;
        return -1;
    }
    return 0;
}

static int rd_int(rd_t *r, int32_t *v)
{
    int64_t x;
    if (rd_long(r, &x))
        return -1;
    if (x < INT32_MIN || x > INT32_MAX)
        return framefail(r, "int %lld out of range", (long long)x);
    *v = (int32_t)x;
    return 0;
}

/* An index in [0, n): an enum symbol or a union branch (what says which). */
static int rd_index(rd_t *r, int n, int *v, const char *what)
{
    int64_t x;
    if (rd_long(r, &x))
        return -1;
    if (x < 0 || x >= n)
        return framefail(r, what, (long long)x);
    *v = (int)x;
    return 0;
}
#define rd_enum(r, nsym, v)  rd_index(r, nsym, v, "enum symbol %lld out of range")
#define rd_branch(r, nbr, v) rd_index(r, nbr, v, "union branch %lld out of range")

static int rd_raw(rd_t *r, size_t n, const unsigned char **p)
{
    if (n > left(r))
        return framefail(r, "needs %lld more bytes", (long long)(n - left(r)));
    *p = r->f.at;
    r->f.at += n;
    return 0;
}

/* A string or bytes: the length, then the bytes (borrowed from the message). */
static int rd_span(rd_t *r, const unsigned char **p, size_t *n, int bytes)
{
    int64_t x;
    if (rd_long(r, &x))
        return -1;
    if (x < 0)
        return framefail(r, bytes ? "bytes length %lld" : "string length %lld", (long long)x);
    *n = (size_t)x;
    return rd_raw(r, *n, p);
}

/* A string or bytes copied into the arena (NUL-terminated). */
static int rd_str(rd_t *r, const char **out, size_t *len)
{
    const unsigned char *p;
    size_t n;
    if (rd_span(r, &p, &n, 0))
        return -1;
    char *d = sl_record_memdup(r->rec, p, n);
    if (!d) {
        r->fail = RD_NOMEM;
        return -1;
    }
    *out = d;
    if (len)
        *len = n;
    return 0;
}

/* union {null, string}: NULL for null */
static int rd_nstr(rd_t *r, const char **out)
{
    int b;
    *out = NULL;
    if (rd_branch(r, 2, &b))
        return -1;
    return b ? rd_str(r, out, NULL) : 0;
}

static int rd_bool(rd_t *r, int *v)
{
    if (!left(r))
        return framefail(r, "ends inside a boolean%.0lld", 0);
    if (*r->f.at > 1)
        return framefail(r, "boolean byte %lld", *r->f.at);
    *v = *r->f.at++;
    return 0;
}

/* The next block of an array: *n items (0 = the end). Every item of this
 * schema takes at least one byte, so a count above the bytes left is refused. */
static int rd_block(rd_t *r, size_t *n)
{
    int64_t x, size;
    if (rd_long(r, &x))
        return -1;
    if (x < 0) {
        if (x == INT64_MIN || rd_long(r, &size))
            return framefail(r, "bad block count %lld", (long long)x);
        x = -x;
    }
    if ((uint64_t)x > left(r))
        return framefail(r, "block of %lld items, more than the bytes left", (long long)x);
    *n = (size_t)x;
    return 0;
}

/* Room for have + add elements in an arena array of *cap (grown by doubling). */
static void *rd_grow(rd_t *r, void *arr, size_t have, size_t *cap, size_t add, size_t el)
{
    if (have + add <= *cap)
        return arr;
    size_t ncap = *cap * 2 > have + add ? *cap * 2 : have + add;
    void *a = sl_record_alloc(r->rec, (ncap ? ncap : 1) * el);
    if (!a) {
        r->fail = RD_NOMEM;
        return NULL;
    }
    if (have)
        memcpy(a, arr, have * el);
    *cap = ncap;
    return a;
}

/* The next block of an array whose elements (el bytes each) go into *arr,
 * grown in the arena past the have already read: *n items (0 = the end).
 * what names the elements for a count above 2^32-1. */
static int rd_items(rd_t *r, void *arr, size_t have, size_t *cap, size_t el, size_t *n,
                    const char *what)
{
    void **a = arr;
    if (rd_block(r, n))
        return -1;
    if (!*n)
        return 0;
    if (have + *n > UINT32_MAX)
        SEMFAIL(r, "%zu %s", have + *n, what);
    return (*a = rd_grow(r, *a, have, cap, *n, el)) ? 0 : -1;
}

/* array<string> into an arena array of strings */
static int rd_strs(rd_t *r, const char ***out, uint32_t *count)
{
    const char **a = NULL;
    size_t have = 0, cap = 0, n;
    for (;;) {
        if (rd_items(r, &a, have, &cap, sizeof(*a), &n, "strings in one array"))
            return -1;
        if (!n)
            break;
        for (size_t k = 0; k < n; k++)
            if (rd_str(r, &a[have++], NULL))
                return -1;
    }
    if (!a && !(a = sl_record_alloc(r->rec, sizeof(*a)))) {
        r->fail = RD_NOMEM;
        return -1;
    }
    *out = a;
    *count = (uint32_t)have;
    return 0;
}

/* Set labels: NUL-terminated, back to back (sl_value_t SL_VAL_SET). Two
 * passes over the bytes: the size, then the copy. */
static int rd_set(rd_t *r, sl_value_t *v)
{
    frame_t start = r->f;
    size_t total = 0, count = 0, n, len;
    const unsigned char *p;
    for (;;) {
        if (rd_block(r, &n))
            return -1;
        if (!n)
            break;
        for (size_t k = 0; k < n; k++, count++) {
            if (rd_span(r, &p, &len, 0))
                return -1;
            if (memchr(p, '\0', len))
                SEMFAIL(r, "Set label %zu contains a NUL character", count);
            total += len + 1;
        }
    }
    if (count > UINT32_MAX)
        SEMFAIL(r, "Set of %zu labels", count);
    char *d = sl_record_alloc(r->rec, total + 1);
    if (!d) {
        r->fail = RD_NOMEM;
        return -1;
    }
    frame_t end = r->f;
    r->f = start;
    size_t off = 0;
    while (!rd_block(r, &n) && n)
        for (size_t k = 0; k < n; k++) {
            rd_span(r, &p, &len, 0);          /* read once already: cannot fail */
            memcpy(d + off, p, len);
            d[off + len] = '\0';
            off += len + 1;
        }
    r->f = end;
    v->data = d;
    v->len = off;
    v->n = (uint32_t)count;
    return 0;
}

static int rd_value(rd_t *r, sl_value_t *v)
{
    const unsigned char *p;
    int k;
    if (rd_branch(r, SL_VAL_MISSING + 1, &k))
        return -1;
    memset(v, 0, sizeof(*v));
    v->kind = (sl_val_kind_t)k;
    switch (v->kind) {
    case SL_VAL_NULL:
        return 0;
    case SL_VAL_BOOL:
        return rd_bool(r, &v->u.b);
    case SL_VAL_INT:
        return rd_long(r, &v->u.i);
    case SL_VAL_UINT:                      /* fixed(8), big-endian */
        if (rd_raw(r, 8, &p))
            return -1;
        for (int i = 0; i < 8; i++)
            v->u.u = v->u.u << 8 | p[i];
        return 0;
    case SL_VAL_FLOAT: {                   /* 4 bytes, little-endian */
        uint32_t bits = 0;
        if (rd_raw(r, 4, &p))
            return -1;
        for (int i = 3; i >= 0; i--)
            bits = bits << 8 | p[i];
        memcpy(&v->u.f, &bits, sizeof(bits));
        return 0;
    }
    case SL_VAL_DOUBLE: {                  /* 8 bytes, little-endian */
        uint64_t bits = 0;
        if (rd_raw(r, 8, &p))
            return -1;
        for (int i = 7; i >= 0; i--)
            bits = bits << 8 | p[i];
        memcpy(&v->u.d, &bits, sizeof(bits));
        return 0;
    }
    case SL_VAL_DECIMAL:                   /* Decimal { digits } */
    case SL_VAL_STRING:
    case SL_VAL_BYTES:
        return rd_str(r, &v->data, &v->len);
    case SL_VAL_TEMPORAL: {                /* kind, text, micros?, precision, tz? */
        int kind, has;
        int32_t prec;
        if (rd_enum(r, SL_T_INTERVAL + 1, &kind) || rd_str(r, &v->data, &v->len) ||
            rd_branch(r, 2, &has) || (has && rd_long(r, &v->u.t.micros)))
            return -1;
        v->u.t.has_micros = has;
        if (rd_int(r, &prec) || rd_branch(r, 2, &has) ||
            (has && rd_int(r, &v->u.t.tz_offset_s)))
            return -1;
        v->u.t.kind = (sl_temporal_kind_t)kind;
        v->u.t.precision = prec;
        v->u.t.has_tz = has;
        return 0;
    }
    case SL_VAL_BIT: {                     /* bits, value */
        int32_t nbits;
        if (rd_int(r, &nbits) || rd_str(r, &v->data, &v->len))
            return -1;
        if (nbits < 0 || v->len != ((size_t)nbits + 7) / 8)
            SEMFAIL(r, "Bit of %" PRId32 " bits carries %zu bytes", nbits, v->len);
        v->u.bit.nbits = (uint32_t)nbits;
        return 0;
    }
    case SL_VAL_SET:
        return rd_set(r, v);
    case SL_VAL_TYPED:                     /* type, text */
        return rd_str(r, &v->u.typed.type, NULL) || rd_str(r, &v->data, &v->len) ? -1 : 0;
    case SL_VAL_MISSING: {
        int reason;
        if (rd_enum(r, SL_MISSING_NOT_IN_IMAGE + 1, &reason))
            return -1;
        v->u.missing = (sl_missing_t)reason;
        return 0;
    }
    }
    return framefail(r, "value kind %lld", k);
}

/* union {null, array<Value>} of exactly ncols values */
static int rd_image(rd_t *r, uint32_t ncols, uint32_t row, int after, sl_value_t **out)
{
    int has;
    size_t n, have = 0;
    *out = NULL;
    if (rd_branch(r, 2, &has))
        return -1;
    if (!has)
        return 0;
    sl_value_t *img = NULL;
    for (;;) {
        if (rd_block(r, &n))
            return -1;
        if (!n)
            break;
        if (have + n > ncols)
            SEMFAIL(r, "row %" PRIu32 " %s image has %zu values for %" PRIu32 " columns",
                    row, after ? "after" : "before", have + n, ncols);
        if (!img && !(img = sl_record_alloc(r->rec, (ncols ? ncols : 1) * sizeof(*img)))) {
            r->fail = RD_NOMEM;
            return -1;
        }
        for (size_t k = 0; k < n; k++)
            if (rd_value(r, &img[have++]))
                return -1;
    }
    if (have != ncols)
        SEMFAIL(r, "row %" PRIu32 " %s image has %zu values for %" PRIu32 " columns",
                row, after ? "after" : "before", have, ncols);
    if (!img && !(img = sl_record_alloc(r->rec, sizeof(*img)))) {
        r->fail = RD_NOMEM;
        return -1;
    }
    *out = img;
    return 0;
}

static int rd_change(rd_t *r)
{
    sl_change_t *c = &r->rec->u.change;
    int64_t t, sid, srv, flags;
    int op;
    if (rd_str(r, &c->db, NULL) || rd_str(r, &c->table, NULL) ||
        rd_enum(r, r->max_op + 1, &op) || rd_nstr(r, &c->txn) ||
        rd_long(r, &t) || rd_long(r, &sid) || rd_long(r, &srv) || rd_long(r, &flags))
        return -1;
    if (srv < 0 || srv > UINT32_MAX || flags < 0 || flags > UINT32_MAX)
        SEMFAIL(r, "serverId %" PRId64 " or flags %" PRId64 " outside 0..2^32-1", srv, flags);
    c->op = (sl_op_t)op;
    c->event_time_us = t;
    c->schema_id = (uint64_t)sid;
    c->server_id = (uint32_t)srv;
    c->flags = (uint32_t)flags;
    if (rd_nstr(r, &c->origin) || rd_strs(r, &c->columns, &c->ncols))
        return -1;
    size_t have = 0, cap = 0, n;
    sl_row_t *rows = NULL;
    for (;;) {
        if (rd_items(r, &rows, have, &cap, sizeof(*rows), &n, "rows"))
            return -1;
        if (!n)
            break;
        for (size_t k = 0; k < n; k++, have++)
            if (rd_image(r, c->ncols, (uint32_t)have, 0, &rows[have].before) ||
                rd_image(r, c->ncols, (uint32_t)have, 1, &rows[have].after))
                return -1;
    }
    if (!rows && !(rows = sl_record_alloc(r->rec, sizeof(*rows)))) {
        r->fail = RD_NOMEM;
        return -1;
    }
    c->rows = rows;
    c->nrows = (uint32_t)have;
    return 0;
}

static int rd_schema(rd_t *r)
{
    sl_schema_t *s = &r->rec->u.schema;
    size_t have = 0, cap = 0, n;
    sl_column_t *cols = NULL;
    if (rd_str(r, &s->db, NULL) || rd_str(r, &s->table, NULL))
        return -1;
    for (;;) {
        if (rd_items(r, &cols, have, &cap, sizeof(*cols), &n, "columns"))
            return -1;
        if (!n)
            break;
        for (size_t i = 0; i < n; i++) {
            sl_column_t *k = &cols[have++];
            int kind, nullable;
            memset(k, 0, sizeof(*k));
            if (rd_str(r, &k->name, NULL) || rd_enum(r, SL_VAL_MISSING + 1, &kind) ||
                rd_str(r, &k->source_type, NULL) || rd_bool(r, &nullable) ||
                rd_int(r, &k->precision) || rd_int(r, &k->scale) ||
                rd_nstr(r, &k->charset) || rd_strs(r, &k->labels, &k->nlabels) ||
                rd_int(r, &k->pk) || (r->has_default && rd_nstr(r, &k->dflt)))
                return -1;
            k->kind = (sl_val_kind_t)kind;
            k->nullable = nullable != 0;
        }
    }
    if (!cols && !(cols = sl_record_alloc(r->rec, sizeof(*cols)))) {
        r->fail = RD_NOMEM;
        return -1;
    }
    s->cols = cols;
    s->ncols = (uint32_t)have;
    return rd_nstr(r, &s->ddl);
}

/* A string field of the position, into its fixed char array. */
static int rd_pos_str(rd_t *r, char *dst, size_t dst_size, const char *name)
{
    const unsigned char *p;
    size_t n;
    if (rd_span(r, &p, &n, 0))
        return -1;
    if (n >= dst_size || memchr(p, '\0', n))
        SEMFAIL(r, "position %s of %zu bytes (at most %zu, no NUL)", name, n, dst_size - 1);
    memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

static int rd_record(rd_t *r)
{
    sl_record_t *rec = r->rec;
    int type, kind, body;
    int64_t seq, off, row;
    if (rd_enum(r, SL_REC_SCHEMA + 1, &type) || rd_str(r, &rec->source, NULL) ||
        rd_enum(r, SL_POS_PG + 1, &kind) || rd_long(r, &seq) || rd_long(r, &off) ||
        rd_long(r, &row) || rd_pos_str(r, rec->pos.file, sizeof(rec->pos.file), "file") ||
        rd_pos_str(r, rec->pos.gtid, sizeof(rec->pos.gtid), "gtid"))
        return -1;
    if (row < 0 || row > UINT32_MAX)
        SEMFAIL(r, "position row %" PRId64 " outside 0..2^32-1", row);
    rec->type = (sl_rec_type_t)type;
    rec->pos.kind = (sl_pos_kind_t)kind;
    rec->pos.seq = (uint64_t)seq;
    rec->pos.offset = (uint64_t)off;
    rec->pos.row = (uint32_t)row;
    if (rd_branch(r, SL_REC_SCHEMA + 1, &body))
        return -1;
    if (body != type)
        SEMFAIL(r, "type %s but body branch %d", sl_rec_type_name(rec->type), body);
    switch (rec->type) {
    case SL_REC_CHANGE:
        return rd_change(r);
    case SL_REC_COMMIT: {
        int64_t srv, nrows;
        if (rd_nstr(r, &rec->u.commit.txn) || rd_long(r, &rec->u.commit.event_time_us) ||
            rd_long(r, &srv) || rd_long(r, &nrows))
            return -1;
        if (srv < 0 || srv > UINT32_MAX)
            SEMFAIL(r, "serverId %" PRId64 " outside 0..2^32-1", srv);
        rec->u.commit.server_id = (uint32_t)srv;
        rec->u.commit.nrows = (uint64_t)nrows;
        return 0;
    }
    case SL_REC_FINISH:
        return rd_str(r, &rec->u.finish.reason, NULL) || rd_long(r, &rec->u.finish.time_us)
               ? -1 : 0;
    case SL_REC_SCHEMA:
        return rd_schema(r);
    }
    return framefail(r, "record type %lld", type);
}

sl_err_t sl_avro_decode(sl_avro_codec_t *c, const void *buf, size_t len,
                        sl_record_t *rec, char *errstr, size_t errstr_size)
{
    const unsigned char *p = buf;
    sl_err_t err;

    const sl_avro_ver_t *ver;

    sl_record_reset(rec);
    if ((err = sl_avro_check_header(c, buf, len, &ver, errstr, errstr_size)))
        return err;
    /* v1 and v2 differ only in READ (sl_avro_int.h): a v1 message with op 4
     * is refused as the generic reader refuses it, an enum symbol out of range;
     * v3 adds a Column's default, absent (NULL) in v1 and v2 messages. */
    rd_t r = { .f = { p + HDR_LEN, p + len, p, "" }, .rec = rec, .max_op = ver->max_op,
              .has_default = ver->has_default };
    if (!rd_record(&r) && r.f.at != r.f.end) {
        snprintf(r.f.why, sizeof(r.f.why), "%zu bytes after the record",
                 (size_t)(r.f.end - r.f.at));
        r.fail = RD_FRAME;
    }
    if (!r.fail)
        return SL_OK;
    sl_record_reset(rec);
    if (r.fail == RD_FRAME)
        ERR(SL_ERR_DECODE, "shiftlog message of %zu bytes is truncated or malformed at byte "
            "%zu: %s", len, (size_t)(r.f.at - p), r.f.why);
    ERR(SL_ERR_DECODE, "shiftlog message of %zu bytes: %s", len,
        r.fail == RD_NOMEM ? "out of memory" : r.what);
}
