/* shiftlog: records — the arena, builders, names and deep equality. */
#include "sl_record.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

/* Arena: a list of blocks. Allocation bumps inside the current block and
 * moves on to the next one (allocating it only at the end of the list).
 * sl_record_reset() rewinds to the first block, so a record reused for
 * similar content allocates nothing in steady state. Blocks beyond
 * ARENA_KEEP bytes are freed on reset so that one huge record does not pin
 * its memory forever (DESIGN invariant 7). */
#define ARENA_ALIGN      16
#define ARENA_MIN_BLOCK  4096
#define ARENA_KEEP       (16u << 20)

typedef struct arena_block_s {
    struct arena_block_s *next;
    size_t size;   /* usable bytes in data */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} arena_block_t;

struct sl_arena_s {
    arena_block_t *first;
    arena_block_t *cur;
    size_t         total;   /* bytes held in all blocks */
};

static void *arena_alloc(sl_arena_t *a, size_t size)
{
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0)
        size = ARENA_ALIGN;
    arena_block_t *b = a->cur;
    while (b && b->size - b->used < size) {
        b = b->next;
        if (b)
            b->used = 0;    /* blocks after cur are free since the last reset */
    }
    if (!b) {
        size_t bsize = a->total ? a->total : ARENA_MIN_BLOCK;  /* doubling */
        if (bsize < size)
            bsize = size;
        b = malloc(sizeof(*b) + bsize);
        if (!b)
            return NULL;
        b->next = NULL;
        b->size = bsize;
        b->used = 0;
        a->total += bsize;
        if (a->cur) {
            /* append after the last block */
            arena_block_t *last = a->cur;
            while (last->next)
                last = last->next;
            last->next = b;
        } else {
            a->first = b;
        }
    }
    a->cur = b;
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

static void arena_reset(sl_arena_t *a)
{
    size_t kept = 0;
    arena_block_t **link = &a->first;
    while (*link) {
        arena_block_t *b = *link;
        if (kept + b->size > ARENA_KEEP && kept > 0) {
            *link = b->next;
            a->total -= b->size;
            free(b);
            continue;
        }
        kept += b->size;
        b->used = 0;
        link = &b->next;
    }
    a->cur = a->first;
}

static void arena_free(sl_arena_t *a)
{
    arena_block_t *b = a->first;
    while (b) {
        arena_block_t *n = b->next;
        free(b);
        b = n;
    }
    a->first = a->cur = NULL;
    a->total = 0;
}

sl_record_t *sl_record_new(void)
{
    sl_record_t *rec = calloc(1, sizeof(*rec));
    if (!rec)
        return NULL;
    rec->arena = calloc(1, sizeof(*rec->arena));
    if (!rec->arena) {
        free(rec);
        return NULL;
    }
    return rec;
}

void sl_record_reset(sl_record_t *rec)
{
    sl_arena_t *a = rec->arena;
    arena_reset(a);
    memset(rec, 0, sizeof(*rec));
    rec->arena = a;
}

void sl_record_destroy(sl_record_t *rec)
{
    if (!rec)
        return;
    arena_free(rec->arena);
    free(rec->arena);
    free(rec);
}

void *sl_record_alloc(sl_record_t *rec, size_t size)
{
    void *p = arena_alloc(rec->arena, size);
    if (p)
        memset(p, 0, size);
    return p;
}

char *sl_record_memdup(sl_record_t *rec, const void *p, size_t len)
{
    char *d = arena_alloc(rec->arena, len + 1);
    if (!d)
        return NULL;
    if (len)
        memcpy(d, p, len);
    d[len] = '\0';
    return d;
}

char *sl_record_strdup(sl_record_t *rec, const char *s)
{
    if (!s)
        return NULL;
    return sl_record_memdup(rec, s, strlen(s));
}

#define DUP_OR_FAIL(dst, s) do { \
        if ((s) && !((dst) = sl_record_strdup(rec, (s)))) return SL_ERR_NOMEM; \
    } while (0)

sl_err_t sl_record_init_change(sl_record_t *rec, const char *source,
                               const char *db, const char *table, sl_op_t op,
                               uint32_t ncols, const char *const *columns,
                               uint32_t nrows)
{
    sl_change_t *c = &rec->u.change;
    if ((unsigned)op > SL_OP_READ || (ncols && !columns))
        return SL_ERR_INVALID;
    rec->type = SL_REC_CHANGE;
    memset(c, 0, sizeof(*c));
    DUP_OR_FAIL(rec->source, source);
    DUP_OR_FAIL(c->db, db);
    DUP_OR_FAIL(c->table, table);
    c->op = op;
    c->ncols = ncols;
    c->nrows = nrows;
    c->columns = sl_record_alloc(rec, (ncols ? ncols : 1) * sizeof(*c->columns));
    c->rows = sl_record_alloc(rec, (nrows ? nrows : 1) * sizeof(*c->rows));
    if (!c->columns || !c->rows)
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < ncols; i++)
        DUP_OR_FAIL(c->columns[i], columns[i] ? columns[i] : "");
    for (uint32_t r = 0; r < nrows; r++) {
        sl_row_t *row = &c->rows[r];
        size_t sz = (ncols ? ncols : 1) * sizeof(sl_value_t);
        if (op == SL_OP_UPDATE || op == SL_OP_DELETE)
            if (!(row->before = sl_record_alloc(rec, sz)))
                return SL_ERR_NOMEM;
        if (op == SL_OP_UPDATE || op == SL_OP_INSERT || op == SL_OP_READ)
            if (!(row->after = sl_record_alloc(rec, sz)))
                return SL_ERR_NOMEM;
    }
    return SL_OK;
}

sl_err_t sl_record_init_commit(sl_record_t *rec, const char *source, const char *txn,
                               int64_t event_time_us, uint32_t server_id, uint64_t nrows)
{
    rec->type = SL_REC_COMMIT;
    memset(&rec->u.commit, 0, sizeof(rec->u.commit));
    DUP_OR_FAIL(rec->source, source);
    DUP_OR_FAIL(rec->u.commit.txn, txn);
    rec->u.commit.event_time_us = event_time_us;
    rec->u.commit.server_id = server_id;
    rec->u.commit.nrows = nrows;
    return SL_OK;
}

sl_err_t sl_record_init_finish(sl_record_t *rec, const char *source, const char *reason,
                               int64_t time_us)
{
    rec->type = SL_REC_FINISH;
    memset(&rec->u.finish, 0, sizeof(rec->u.finish));
    DUP_OR_FAIL(rec->source, source);
    DUP_OR_FAIL(rec->u.finish.reason, reason);
    rec->u.finish.time_us = time_us;
    return SL_OK;
}

sl_err_t sl_record_init_schema(sl_record_t *rec, const char *source, const char *db,
                               const char *table, uint32_t ncols)
{
    sl_schema_t *s = &rec->u.schema;
    rec->type = SL_REC_SCHEMA;
    memset(s, 0, sizeof(*s));
    DUP_OR_FAIL(rec->source, source);
    DUP_OR_FAIL(s->db, db);
    DUP_OR_FAIL(s->table, table);
    s->ncols = ncols;
    if (!(s->cols = sl_record_alloc(rec, (ncols ? ncols : 1) * sizeof(*s->cols))))
        return SL_ERR_NOMEM;
    for (uint32_t i = 0; i < ncols; i++) {
        s->cols[i].precision = -1;
        s->cols[i].scale = -1;
    }
    return SL_OK;
}

sl_err_t sl_value_set_text(sl_record_t *rec, sl_value_t *v, sl_val_kind_t kind,
                           const void *data, size_t len)
{
    char *d = sl_record_memdup(rec, data, len);
    if (!d)
        return SL_ERR_NOMEM;
    v->kind = kind;
    v->data = d;
    v->len = len;
    if (kind == SL_VAL_SET) {
        uint32_t n = 0;
        for (size_t i = 0; i < len; i++)
            n += d[i] == '\0';
        v->n = n;
    }
    return SL_OK;
}

sl_err_t sl_value_set_set(sl_record_t *rec, sl_value_t *v,
                          const char *const *labels, uint32_t n)
{
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++)
        len += strlen(labels[i]) + 1;
    char *d = sl_record_alloc(rec, len + 1);
    if (!d)
        return SL_ERR_NOMEM;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t l = strlen(labels[i]) + 1;
        memcpy(d + off, labels[i], l);
        off += l;
    }
    v->kind = SL_VAL_SET;
    v->data = d;
    v->len = len;
    v->n = n;
    return SL_OK;
}

sl_err_t sl_value_set_bit(sl_record_t *rec, sl_value_t *v, uint32_t nbits,
                          const void *bytes, size_t len)
{
    if (len != ((size_t)nbits + 7) / 8)
        return SL_ERR_INVALID;
    sl_err_t err = sl_value_set_text(rec, v, SL_VAL_BIT, bytes, len);
    if (err == SL_OK)
        v->u.bit.nbits = nbits;
    return err;
}

sl_err_t sl_value_set_typed(sl_record_t *rec, sl_value_t *v, const char *type,
                            const void *text, size_t len)
{
    const char *t = sl_record_strdup(rec, type ? type : "");
    if (!t)
        return SL_ERR_NOMEM;
    sl_err_t err = sl_value_set_text(rec, v, SL_VAL_TYPED, text, len);
    if (err == SL_OK)
        v->u.typed.type = t;
    return err;
}

sl_err_t sl_value_set_temporal(sl_record_t *rec, sl_value_t *v, sl_temporal_kind_t kind,
                               const char *text, size_t len, int has_micros,
                               int64_t micros, int precision, int has_tz,
                               int32_t tz_offset_s)
{
    sl_err_t err = sl_value_set_text(rec, v, SL_VAL_TEMPORAL, text, len);
    if (err != SL_OK)
        return err;
    v->u.t.kind = kind;
    v->u.t.has_micros = has_micros != 0;
    v->u.t.micros = has_micros ? micros : 0;
    v->u.t.precision = precision;
    v->u.t.has_tz = has_tz != 0;
    v->u.t.tz_offset_s = has_tz ? tz_offset_s : 0;
    return SL_OK;
}

const char *sl_op_name(sl_op_t op)
{
    switch (op) {
    case SL_OP_INSERT:   return "insert";
    case SL_OP_UPDATE:   return "update";
    case SL_OP_DELETE:   return "delete";
    case SL_OP_TRUNCATE: return "truncate";
    case SL_OP_READ:     return "read";
    }
    return "?";
}

const char *sl_rec_type_name(sl_rec_type_t t)
{
    switch (t) {
    case SL_REC_CHANGE: return "change";
    case SL_REC_COMMIT: return "commit";
    case SL_REC_FINISH: return "finish";
    case SL_REC_SCHEMA: return "schema";
    }
    return "?";
}

const char *sl_val_kind_name(sl_val_kind_t k)
{
    static const char *const names[] = {
        "null", "bool", "int", "uint", "float", "double", "decimal", "string",
        "bytes", "temporal", "bit", "set", "typed", "missing"
    };
    if ((unsigned)k < sizeof(names) / sizeof(names[0]))
        return names[k];
    return "?";
}

const char *sl_temporal_kind_name(sl_temporal_kind_t k)
{
    static const char *const names[] = {
        "date", "time", "datetime", "timestamp", "timetz", "timestamptz", "interval"
    };
    if ((unsigned)k < sizeof(names) / sizeof(names[0]))
        return names[k];
    return "?";
}

const char *sl_missing_name(sl_missing_t m)
{
    switch (m) {
    case SL_MISSING_UNCHANGED_TOAST: return "unchanged_toast";
    case SL_MISSING_NOT_IN_IMAGE:    return "not_in_image";
    }
    return "?";
}

/* ---- equality ---- */

/* Required strings: NULL and "" are the same (the wire has no NULL there). */
static int str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Nullable strings: NULL differs from "". */
static int nstr_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int mem_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

int sl_value_equal(const sl_value_t *a, const sl_value_t *b)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case SL_VAL_NULL:   return 1;
    case SL_VAL_BOOL:   return !a->u.b == !b->u.b;
    case SL_VAL_INT:    return a->u.i == b->u.i;
    case SL_VAL_UINT:   return a->u.u == b->u.u;
    case SL_VAL_FLOAT:  return memcmp(&a->u.f, &b->u.f, sizeof(float)) == 0;   /* NaN == NaN, -0 != 0 */
    case SL_VAL_DOUBLE: return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
    case SL_VAL_DECIMAL:
    case SL_VAL_STRING:
    case SL_VAL_BYTES:
        return mem_eq(a->data, a->len, b->data, b->len);
    case SL_VAL_TEMPORAL:
        return a->u.t.kind == b->u.t.kind &&
               !a->u.t.has_micros == !b->u.t.has_micros &&
               (!a->u.t.has_micros || a->u.t.micros == b->u.t.micros) &&
               a->u.t.precision == b->u.t.precision &&
               !a->u.t.has_tz == !b->u.t.has_tz &&
               (!a->u.t.has_tz || a->u.t.tz_offset_s == b->u.t.tz_offset_s) &&
               mem_eq(a->data, a->len, b->data, b->len);
    case SL_VAL_BIT:
        return a->u.bit.nbits == b->u.bit.nbits && mem_eq(a->data, a->len, b->data, b->len);
    case SL_VAL_SET:
        return a->n == b->n && mem_eq(a->data, a->len, b->data, b->len);
    case SL_VAL_TYPED:
        return str_eq(a->u.typed.type, b->u.typed.type) &&
               mem_eq(a->data, a->len, b->data, b->len);
    case SL_VAL_MISSING:
        return a->u.missing == b->u.missing;
    }
    return 0;
}

static int image_eq(const sl_value_t *a, const sl_value_t *b, uint32_t n)
{
    if (!a || !b)
        return a == b;
    for (uint32_t i = 0; i < n; i++)
        if (!sl_value_equal(&a[i], &b[i]))
            return 0;
    return 1;
}

static int change_eq(const sl_change_t *a, const sl_change_t *b)
{
    if (!str_eq(a->db, b->db) || !str_eq(a->table, b->table) || a->op != b->op ||
        !nstr_eq(a->txn, b->txn) || a->event_time_us != b->event_time_us ||
        a->schema_id != b->schema_id || a->server_id != b->server_id ||
        a->flags != b->flags || !nstr_eq(a->origin, b->origin) ||
        a->ncols != b->ncols || a->nrows != b->nrows)
        return 0;
    for (uint32_t i = 0; i < a->ncols; i++)
        if (!str_eq(a->columns[i], b->columns[i]))
            return 0;
    for (uint32_t r = 0; r < a->nrows; r++)
        if (!image_eq(a->rows[r].before, b->rows[r].before, a->ncols) ||
            !image_eq(a->rows[r].after, b->rows[r].after, a->ncols))
            return 0;
    return 1;
}

static int schema_eq(const sl_schema_t *a, const sl_schema_t *b)
{
    if (!str_eq(a->db, b->db) || !str_eq(a->table, b->table) ||
        a->ncols != b->ncols || !nstr_eq(a->ddl, b->ddl))
        return 0;
    for (uint32_t i = 0; i < a->ncols; i++) {
        const sl_column_t *x = &a->cols[i], *y = &b->cols[i];
        if (!str_eq(x->name, y->name) || x->kind != y->kind ||
            !str_eq(x->source_type, y->source_type) || !x->nullable != !y->nullable ||
            x->precision != y->precision || x->scale != y->scale ||
            !nstr_eq(x->charset, y->charset) || x->nlabels != y->nlabels || x->pk != y->pk ||
            !nstr_eq(x->dflt, y->dflt))
            return 0;
        for (uint32_t l = 0; l < x->nlabels; l++)
            if (!str_eq(x->labels[l], y->labels[l]))
                return 0;
    }
    return 1;
}

int sl_record_equal(const sl_record_t *a, const sl_record_t *b)
{
    if (a->type != b->type || !str_eq(a->source, b->source) ||
        sl_pos_cmp(&a->pos, &b->pos) != 0 ||
        strcmp(a->pos.file, b->pos.file) != 0 || strcmp(a->pos.gtid, b->pos.gtid) != 0)
        return 0;
    switch (a->type) {
    case SL_REC_CHANGE:
        return change_eq(&a->u.change, &b->u.change);
    case SL_REC_COMMIT:
        return nstr_eq(a->u.commit.txn, b->u.commit.txn) &&
               a->u.commit.event_time_us == b->u.commit.event_time_us &&
               a->u.commit.server_id == b->u.commit.server_id &&
               a->u.commit.nrows == b->u.commit.nrows;
    case SL_REC_FINISH:
        return str_eq(a->u.finish.reason, b->u.finish.reason) &&
               a->u.finish.time_us == b->u.finish.time_us;
    case SL_REC_SCHEMA:
        return schema_eq(&a->u.schema, &b->u.schema);
    }
    return 0;
}

int sl_ddl_is(const char *ddl, size_t len, const char *keyword)
{
    const char *p = ddl, *end = ddl ? ddl + len : NULL;
    if (!p)
        return 0;
    for (;;) {                          /* blanks, / * comments * /, -- and # comments */
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
            const char *e = memmem(p + 2, (size_t)(end - p - 2), "*/", 2);
            if (!e)
                return 0;
            p = e + 2;
        } else if ((end - p >= 2 && p[0] == '-' && p[1] == '-') || (p < end && *p == '#')) {
            while (p < end && *p != '\n')
                p++;
        } else {
            break;
        }
    }
    size_t k = strlen(keyword);
    if ((size_t)(end - p) < k || strncasecmp(p, keyword, k))
        return 0;
    return (size_t)(end - p) == k || !(isalnum((unsigned char)p[k]) || p[k] == '_');
}
