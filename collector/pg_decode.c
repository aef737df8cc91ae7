/* shiftlog collector, PostgreSQL: pgoutput messages -> records.
 * See pg_decode.h for the positions and the batching rules. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_decode.h"
#include "sl_avro.h"
#include "sl_log.h"

uint64_t pg_dec_pos_lsn(const sl_pos_t *pos)
{
    return pos->offset ? pos->offset : pos->seq;
}

/* ------------------------------------------------------------ relations */

typedef struct pg_col_s {
    char            *name;
    uint32_t         typoid;
    int32_t          typmod;
    int              key;
    const pg_type_t *type;
} pg_col_t;

typedef struct pg_rel_s {
    uint32_t         relid;
    char            *nsp;
    char            *name;
    char             replident;
    uint32_t         ncols;
    pg_col_t        *cols;
    char           **colnames;
    int              publish;
    int              refused;
    int              schema_pending;
    uint64_t         schema_id;
    /* the table this relation ends, announced before its first SCHEMA: the
     * same relation under an older name (renamed), or an older relation of
     * the same name (dropped and created again) */
    char            *gone_nsp, *gone_name, *gone_ddl;
    struct pg_rel_s *next;
} pg_rel_t;

#define PG_REL_BUCKETS 128
/* a batch's encoded size may grow past sl_avro_record_size by its row count varint */
#define PG_BATCH_SLACK 16

struct pg_dec_s {
    pg_dec_conf_t  conf;
    pg_types_t    *types;
    pg_rel_t      *rels[PG_REL_BUCKETS];
    /* transaction */
    int            in_txn;
    uint32_t       xid;
    char           xid_text[16];
    uint64_t       commit_lsn;
    int64_t        commit_time_us;
    uint32_t       row_idx;       /* ordinal of the next row change in the txn */
    uint64_t       published;     /* rows published in the txn */
    char           origin[128];
    int            has_origin;
    uint64_t       skipped_end;
    /* open batch */
    sl_record_t   *batch;
    pg_rel_t      *batch_rel;
    sl_op_t        batch_op;
    uint32_t       batch_cap;
    size_t         batch_bytes;   /* the batch's Avro size (sl_avro_record_size + rows) */
    sl_record_t   *aux;           /* SCHEMA / COMMIT / TRUNCATE records */
    pg_dec_stats_t stats;
};

static pg_rel_t *rel_find(pg_dec_t *d, uint32_t relid)
{
    for (pg_rel_t *r = d->rels[relid % PG_REL_BUCKETS]; r; r = r->next)
        if (r->relid == relid)
            return r;
    return NULL;
}

static void rel_free(pg_rel_t *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; r->cols && i < r->ncols; i++)
        free(r->cols[i].name);
    free(r->cols);
    free(r->colnames);
    free(r->nsp);
    free(r->name);
    free(r->gone_nsp);
    free(r->gone_name);
    free(r->gone_ddl);
    free(r);
}

/* Remembers on rel that the table nsp.name ends where rel's schema starts
 * (ddl: the synthetic DDL that says how, a hint for the applier). */
static sl_err_t rel_ends(pg_rel_t *rel, const char *nsp, const char *name, const char *verb)
{
    free(rel->gone_nsp);
    free(rel->gone_name);
    free(rel->gone_ddl);
    rel->gone_nsp = strdup(nsp);
    rel->gone_name = strdup(name);
    int n = !strcmp(verb, "RENAME")
          ? asprintf(&rel->gone_ddl, "ALTER TABLE \"%s\".\"%s\" RENAME TO \"%s\".\"%s\"",
                     nsp, name, rel->nsp, rel->name)
          : asprintf(&rel->gone_ddl, "DROP TABLE \"%s\".\"%s\"", nsp, name);
    if (n < 0)
        rel->gone_ddl = NULL;
    return rel->gone_nsp && rel->gone_name && rel->gone_ddl ? SL_OK : SL_ERR_NOMEM;
}

/* A cached relation other than relid with the name nsp.name (NULL: none). */
static pg_rel_t *rel_by_name(pg_dec_t *d, uint32_t relid, const char *nsp, const char *name)
{
    for (int b = 0; b < PG_REL_BUCKETS; b++)
        for (pg_rel_t *r = d->rels[b]; r; r = r->next)
            if (r->relid != relid && !strcmp(r->nsp, nsp) && !strcmp(r->name, name))
                return r;
    return NULL;
}

static void rel_unlink(pg_dec_t *d, pg_rel_t *rel)
{
    for (pg_rel_t **pp = &d->rels[rel->relid % PG_REL_BUCKETS]; *pp; pp = &(*pp)->next)
        if (*pp == rel) {
            *pp = rel->next;
            return;
        }
}

sl_err_t pg_dec_new(pg_dec_t **out, const pg_dec_conf_t *conf)
{
    pg_dec_t *d = calloc(1, sizeof(*d));
    if (!d)
        return SL_ERR_NOMEM;
    d->conf = *conf;
    if (!d->conf.batch_max_rows)
        d->conf.batch_max_rows = 1000;
    if (!d->conf.batch_max_bytes)
        d->conf.batch_max_bytes = 900 * 1024;
    if (pg_types_new(&d->types, conf->resolver, conf->resolver_ctx) != SL_OK ||
        !(d->batch = sl_record_new()) || !(d->aux = sl_record_new())) {
        pg_dec_destroy(d);
        return SL_ERR_NOMEM;
    }
    *out = d;
    return SL_OK;
}

void pg_dec_reset_session(pg_dec_t *d)
{
    for (int i = 0; i < PG_REL_BUCKETS; i++) {
        for (pg_rel_t *r = d->rels[i], *n; r; r = n) {
            n = r->next;
            rel_free(r);
        }
        d->rels[i] = NULL;
    }
    d->in_txn = 0;
    d->batch_rel = NULL;
    sl_record_reset(d->batch);
}

void pg_dec_destroy(pg_dec_t *d)
{
    if (!d)
        return;
    pg_dec_reset_session(d);
    pg_types_destroy(d->types);
    if (d->batch)
        sl_record_destroy(d->batch);
    if (d->aux)
        sl_record_destroy(d->aux);
    free(d);
}

int pg_dec_in_txn(const pg_dec_t *d)
{
    return d->in_txn;
}

uint64_t pg_dec_take_skipped_end(pg_dec_t *d)
{
    uint64_t e = d->skipped_end;
    d->skipped_end = 0;
    return e;
}

const pg_dec_stats_t *pg_dec_stats(const pg_dec_t *d)
{
    return &d->stats;
}

static sl_err_t flush_batch(pg_dec_t *d, char *errstr, size_t errstr_size);

/* Decodes a Relation message body (after the type byte and the xid). */
static sl_err_t relation(pg_dec_t *d, pg_rd_t *r, char *errstr, size_t errstr_size)
{
    pg_rel_t *rel = calloc(1, sizeof(*rel));
    if (!rel)
        return SL_ERR_NOMEM;
    rel->relid = pg_rd_u32(r);
    const char *nsp = pg_rd_str(r), *name = pg_rd_str(r);
    rel->replident = (char)pg_rd_u8(r);
    rel->ncols = pg_rd_u16(r);
    if (r->bad)
        goto bad;
    rel->nsp = strdup(nsp);
    rel->name = strdup(name);
    rel->cols = calloc(rel->ncols ? rel->ncols : 1, sizeof(*rel->cols));
    rel->colnames = calloc(rel->ncols ? rel->ncols : 1, sizeof(char *));
    if (!rel->nsp || !rel->name || !rel->cols || !rel->colnames) {
        rel_free(rel);
        return SL_ERR_NOMEM;
    }
    int haskey = 0;
    for (uint32_t i = 0; i < rel->ncols; i++) {
        pg_col_t *c = &rel->cols[i];
        c->key = pg_rd_u8(r) & 1;
        const char *cn = pg_rd_str(r);
        c->typoid = pg_rd_u32(r);
        c->typmod = (int32_t)pg_rd_u32(r);
        if (r->bad)
            goto bad;
        if (!(c->name = strdup(cn)) || !(c->type = pg_types_get(d->types, c->typoid))) {
            rel_free(rel);
            return SL_ERR_NOMEM;
        }
        rel->colnames[i] = c->name;
        haskey |= c->key;
    }
    rel->publish = d->conf.filter ? d->conf.filter(d->conf.filter_ctx, rel->nsp, rel->name) : 1;
    rel->refused = rel->replident == 'n' || (rel->replident == 'd' && !haskey);

    pg_rel_t *old = rel_find(d, rel->relid);
    int same = old && old->ncols == rel->ncols && old->replident == rel->replident &&
               !strcmp(old->nsp, rel->nsp) && !strcmp(old->name, rel->name);
    for (uint32_t i = 0; same && i < rel->ncols; i++)
        same = !strcmp(old->cols[i].name, rel->cols[i].name) &&
               old->cols[i].typoid == rel->cols[i].typoid &&
               old->cols[i].typmod == rel->cols[i].typmod && old->cols[i].key == rel->cols[i].key;
    if (same) {
        rel_free(rel);
        return SL_OK;
    }
    /* A changed Relation ends the open batch (whatever its table): flush it
     * while the old relation is still alive. */
    sl_err_t err = flush_batch(d, errstr, errstr_size);
    if (err) {
        rel_free(rel);
        return err;
    }
    if (rel->refused && rel->publish)
        sl_error("table %s.%s has REPLICA IDENTITY %s%s: its changes are refused (an applier "
                 "cannot find the rows of its updates and deletes); fix: ALTER TABLE %s.%s "
                 "REPLICA IDENTITY DEFAULT (with a primary key) or FULL",
                 rel->nsp, rel->name, rel->replident == 'n' ? "NOTHING" : "DEFAULT",
                 rel->replident == 'n' ? "" : " without a primary key", rel->nsp, rel->name);
    else if (rel->replident == 'f' && rel->publish)
        sl_info("table %s.%s has REPLICA IDENTITY FULL: old images carry every column",
                rel->nsp, rel->name);
    rel->schema_pending = rel->publish && !rel->refused;
    /* a table's life: the relation renamed (same OID, other name), or a new
     * table under the name of one this session saw (dropped and created
     * again: another OID). pgoutput says nothing of a DROP itself. */
    pg_rel_t *stale = old ? NULL : rel_by_name(d, rel->relid, rel->nsp, rel->name);
    if (old && old->publish && (strcmp(old->nsp, rel->nsp) || strcmp(old->name, rel->name)))
        err = rel_ends(rel, old->nsp, old->name, "RENAME");
    else if (stale && stale->publish)
        err = rel_ends(rel, stale->nsp, stale->name, "DROP");
    if (err) {
        rel_free(rel);
        return err;
    }
    if (stale) {
        rel_unlink(d, stale);
        rel_free(stale);
    }
    if (old) {
        rel_unlink(d, old);
        rel_free(old);
    }
    rel->next = d->rels[rel->relid % PG_REL_BUCKETS];
    d->rels[rel->relid % PG_REL_BUCKETS] = rel;
    return SL_OK;
bad:
    snprintf(errstr, errstr_size, "pgoutput Relation message truncated at byte %zu", r->off);
    rel_free(rel);
    return SL_ERR_DECODE;
}

/* A Type message: the type may have changed (ALTER TYPE ... ADD VALUE,
 * RENAME). Cached relations point into the type cache, and the Relation
 * message that follows is often identical, so the cached relation stays:
 * re-bind its columns to the new entry before the old one is gone, and
 * re-emit the SCHEMA of a table whose column type changed. */
static sl_err_t type_message(pg_dec_t *d, uint32_t oid)
{
    int changed;
    const pg_type_t *t = pg_types_refresh(d->types, oid, &changed);
    if (!t)
        return SL_ERR_NOMEM;
    for (int b = 0; b < PG_REL_BUCKETS; b++)
        for (pg_rel_t *rel = d->rels[b]; rel; rel = rel->next)
            for (uint32_t i = 0; i < rel->ncols; i++)
                if (rel->cols[i].typoid == oid) {
                    rel->cols[i].type = t;
                    if (changed && rel->publish && !rel->refused)
                        rel->schema_pending = 1;
                }
    return SL_OK;
}

/* ------------------------------------------------------------ records */

static void set_pos(sl_record_t *rec, pg_dec_t *d, uint64_t lsn, uint32_t row)
{
    sl_pos_set_pg(&rec->pos, d->commit_lsn, lsn, row);
}

static sl_err_t flush_batch(pg_dec_t *d, char *errstr, size_t errstr_size)
{
    if (!d->batch_rel)
        return SL_OK;
    sl_err_t err = d->conf.sink(d->conf.sink_ctx, d->batch, errstr, errstr_size);
    d->stats.rows += d->batch->u.change.nrows;
    d->published += d->batch->u.change.nrows;
    d->batch_rel = NULL;
    sl_record_reset(d->batch);
    return err;
}

static sl_err_t emit_schema(pg_dec_t *d, pg_rel_t *rel, uint64_t lsn, char *errstr,
                            size_t errstr_size)
{
    sl_record_t *rec = d->aux;
    pg_relextra_t ex;
    char exerr[256];
    sl_buf_t fp = SL_BUF_INIT;
    sl_err_t err;
    int have_ex = 0, pkn = 0;

    if (rel->gone_name) {
        /* the table that ends here first: a SCHEMA with no columns */
        sl_record_reset(rec);
        if ((err = sl_record_init_schema(rec, d->conf.source, rel->gone_nsp, rel->gone_name, 0)))
            return err;
        set_pos(rec, d, lsn, d->row_idx);
        if (!(rec->u.schema.ddl = sl_record_strdup(rec, rel->gone_ddl)))
            return SL_ERR_NOMEM;
        if ((err = d->conf.sink(d->conf.sink_ctx, rec, errstr, errstr_size)))
            return err;
        free(rel->gone_nsp);
        free(rel->gone_name);
        free(rel->gone_ddl);
        rel->gone_nsp = rel->gone_name = rel->gone_ddl = NULL;
    }
    memset(&ex, 0, sizeof(ex));
    uint32_t *toids = calloc(rel->ncols ? rel->ncols : 1, sizeof(*toids));
    int32_t *tmods = calloc(rel->ncols ? rel->ncols : 1, sizeof(*tmods));
    for (uint32_t i = 0; toids && tmods && i < rel->ncols; i++) {
        toids[i] = rel->cols[i].typoid;
        tmods[i] = rel->cols[i].typmod;
    }
    if (d->conf.relextra && toids && tmods &&
        d->conf.relextra(d->conf.relextra_ctx, rel->relid, rel->nsp, rel->name, rel->ncols,
                         rel->colnames, toids, tmods, &ex, exerr, sizeof(exerr)) == SL_OK)
        have_ex = 1;
    free(toids);
    free(tmods);
    sl_record_reset(rec);
    if ((err = sl_record_init_schema(rec, d->conf.source, rel->nsp, rel->name, rel->ncols)))
        goto out;
    set_pos(rec, d, lsn, d->row_idx);
    sl_buf_printf(&fp, "%s.%s", rel->nsp, rel->name);
    for (uint32_t i = 0; i < rel->ncols; i++) {
        sl_column_t *c = &rec->u.schema.cols[i];
        const pg_col_t *pc = &rel->cols[i];
        const pg_type_t *t = pc->type;
        c->name = sl_record_strdup(rec, pc->name);
        c->kind = t->kind;
        c->source_type = sl_record_strdup(rec, have_ex && ex.source_type[i] ? ex.source_type[i]
                                                                           : t->name);
        c->nullable = have_ex && ex.notnull[i] >= 0 ? !ex.notnull[i] : 1;
        if (have_ex && ex.pk[i] >= 0)
            c->pk = ex.pk[i];
        else if (pc->key && rel->replident != 'f')
            c->pk = ++pkn;
        if (t->conv == PG_CONV_DECIMAL && pc->typmod >= 4) {
            c->precision = ((pc->typmod - 4) >> 16) & 0xFFFF;
            c->scale = (pc->typmod - 4) & 0xFFFF;
        } else if (t->kind == SL_VAL_TEMPORAL && t->conv != PG_CONV_DATE) {
            c->precision = pg_temporal_precision(t, pc->typmod);
        } else if (t->conv == PG_CONV_STRING && (pc->typoid == 1042 || pc->typoid == 1043) &&
                   pc->typmod >= 4) {
            c->precision = pc->typmod - 4;
        } else if (t->conv == PG_CONV_BIT && pc->typmod > 0) {
            c->precision = pc->typmod;
        }
        if (t->conv == PG_CONV_STRING)
            c->charset = "UTF8";
        if (t->nlabels) {
            c->nlabels = t->nlabels;
            c->labels = sl_record_alloc(rec, t->nlabels * sizeof(char *));
            for (uint32_t k = 0; c->labels && k < t->nlabels; k++)
                c->labels[k] = sl_record_strdup(rec, t->labels[k]);
        }
        if (!c->name || !c->source_type) {
            err = SL_ERR_NOMEM;
            goto out;
        }
        sl_buf_printf(&fp, "|%s:%s:%d:%d:%d", c->name, c->source_type, (int)c->kind,
                      c->nullable, c->pk);
    }
    rel->schema_id = sl_avro_crc64(fp.data, fp.len);
    rel->schema_pending = 0;
    err = d->conf.sink(d->conf.sink_ctx, rec, errstr, errstr_size);
out:
    sl_buf_free(&fp);
    if (have_ex) {
        for (uint32_t i = 0; i < ex.ncols; i++)
            free(ex.source_type[i]);
        free(ex.source_type);
        free(ex.notnull);
        free(ex.pk);
    }
    if (err && !errstr[0])
        snprintf(errstr, errstr_size, "table %s.%s: cannot build its schema record: %s",
                 rel->nsp, rel->name, sl_err_name(err));
    return err;
}

/* Makes sure a batch for rel/op is open with room for one more row. */
static sl_err_t batch_room(pg_dec_t *d, pg_rel_t *rel, sl_op_t op, uint64_t lsn,
                           char *errstr, size_t errstr_size)
{
    sl_err_t err;
    if (d->batch_rel && (d->batch_rel != rel || d->batch_op != op ||
                         d->batch->u.change.nrows >= d->conf.batch_max_rows ||
                         d->batch_bytes >= d->conf.batch_max_bytes))
        if ((err = flush_batch(d, errstr, errstr_size)))
            return err;
    if (rel->schema_pending) {
        if ((err = flush_batch(d, errstr, errstr_size)) ||
            (err = emit_schema(d, rel, lsn, errstr, errstr_size)))
            return err;
    }
    if (!d->batch_rel) {
        sl_record_t *b = d->batch;
        sl_record_reset(b);
        if ((err = sl_record_init_change(b, d->conf.source, rel->nsp, rel->name, op, rel->ncols,
                                         (const char *const *)rel->colnames, 0)))
            return err;
        set_pos(b, d, lsn, d->row_idx);
        sl_change_t *c = &b->u.change;
        c->txn = d->xid_text;
        c->event_time_us = d->commit_time_us;
        c->schema_id = rel->schema_id;
        c->origin = d->has_origin ? d->origin : NULL;
        d->batch_cap = 1;
        d->batch_rel = rel;
        d->batch_op = op;
        d->batch_bytes = sl_avro_record_size(b) + PG_BATCH_SLACK;
    }
    sl_change_t *c = &d->batch->u.change;
    if (c->nrows == d->batch_cap) {
        uint32_t cap = d->batch_cap * 4;
        if (cap > d->conf.batch_max_rows)
            cap = d->conf.batch_max_rows;
        sl_row_t *rows = sl_record_alloc(d->batch, cap * sizeof(*rows));
        if (!rows)
            return SL_ERR_NOMEM;
        memcpy(rows, c->rows, c->nrows * sizeof(*rows));
        c->rows = rows;
        d->batch_cap = cap;
    }
    return SL_OK;
}

/* Reads one TupleData into vals (rel->ncols values). keyonly: an old 'K'
 * image, where non-key columns are not part of the image. */
static sl_err_t tuple(pg_dec_t *d, pg_rd_t *r, pg_rel_t *rel, sl_value_t *vals, int keyonly,
                      char *errstr, size_t errstr_size)
{
    sl_record_t *rec = d->batch;
    uint16_t n = pg_rd_u16(r);
    char verr[256];
    if (n != rel->ncols) {
        snprintf(errstr, errstr_size, "table %s.%s: tuple has %u columns, its Relation %u",
                 rel->nsp, rel->name, n, rel->ncols);
        return SL_ERR_DECODE;
    }
    for (uint32_t i = 0; i < n; i++) {
        sl_value_t *v = &vals[i];
        uint8_t kind = pg_rd_u8(r);
        memset(v, 0, sizeof(*v));
        switch (kind) {
        case 'n':
            if (keyonly && !rel->cols[i].key) {
                v->kind = SL_VAL_MISSING;
                v->u.missing = SL_MISSING_NOT_IN_IMAGE;
            } else {
                v->kind = SL_VAL_NULL;
            }
            break;
        case 'u':
            v->kind = SL_VAL_MISSING;
            v->u.missing = SL_MISSING_UNCHANGED_TOAST;
            break;
        case 't':
        case 'b': {
            uint32_t len = pg_rd_u32(r);
            const uint8_t *p = pg_rd_bytes(r, len);
            if (!p)
                break;
            if (kind == 'b') {
                if (sl_value_set_typed(rec, v, rel->cols[i].type->name, p, len))
                    return SL_ERR_NOMEM;
                break;
            }
            sl_err_t err = pg_value_from_text(rec, v, rel->cols[i].type, rel->cols[i].typmod,
                                              (const char *)p, len, verr, sizeof(verr));
            if (err == SL_ERR_DECODE) {
                if (d->stats.value_errors++ < 20)
                    sl_warn("table %s.%s column %s: %s", rel->nsp, rel->name,
                            rel->cols[i].name, verr);
            } else if (err) {
                return err;
            }
            break;
        }
        default:
            snprintf(errstr, errstr_size, "table %s.%s: unknown tuple column kind 0x%02x",
                     rel->nsp, rel->name, kind);
            return SL_ERR_DECODE;
        }
        if (r->bad)
            break;
    }
    if (r->bad) {
        snprintf(errstr, errstr_size, "table %s.%s: tuple data truncated at byte %zu",
                 rel->nsp, rel->name, r->off);
        return SL_ERR_DECODE;
    }
    return SL_OK;
}

static pg_rel_t *rel_for_change(pg_dec_t *d, uint32_t relid, char *errstr, size_t errstr_size)
{
    pg_rel_t *rel = rel_find(d, relid);
    if (!rel)
        snprintf(errstr, errstr_size,
                 "pgoutput sent a change of relation %u before its Relation message", relid);
    return rel;
}

/* Counts the row just decoded (index nrows of the batch) into the batch's
 * encoded size — measured, not guessed from the message: an old key image
 * of a wide table is a few bytes on the wire and 2 bytes per column
 * encoded. When it would take a batch that has rows past batch.max.bytes,
 * those rows are published and it becomes row 0 of the next batch (the same
 * record: its values stay in the arena until that batch is flushed). */
static sl_err_t batch_add_row(pg_dec_t *d, uint64_t lsn, char *errstr, size_t errstr_size)
{
    sl_record_t *b = d->batch;
    sl_change_t *c = &b->u.change;
    uint32_t n = c->nrows;
    c->nrows = n + 1;
    size_t rs = sl_avro_rows_size(c, n, 1);
    c->nrows = n;
    if (n > 0 && d->batch_bytes + rs > d->conf.batch_max_bytes) {
        sl_err_t err = d->conf.sink(d->conf.sink_ctx, b, errstr, errstr_size);
        d->stats.rows += n;
        d->published += n;
        if (err)
            return err;
        c->rows[0] = c->rows[n];
        c->nrows = 0;
        set_pos(b, d, lsn, d->row_idx);
        d->batch_bytes = sl_avro_record_size(b) + PG_BATCH_SLACK;
    }
    c->nrows++;
    d->batch_bytes += rs;
    return SL_OK;
}

static sl_err_t row_change(pg_dec_t *d, char type, uint64_t lsn, pg_rd_t *r,
                           char *errstr, size_t errstr_size)
{
    uint32_t relid = pg_rd_u32(r);
    pg_rel_t *rel = rel_for_change(d, relid, errstr, errstr_size);
    sl_op_t op = type == 'I' ? SL_OP_INSERT : type == 'U' ? SL_OP_UPDATE : SL_OP_DELETE;
    sl_err_t err;
    if (!rel)
        return SL_ERR_DECODE;
    if (!d->in_txn) {
        snprintf(errstr, errstr_size, "pgoutput sent a change outside a transaction");
        return SL_ERR_DECODE;
    }
    if (!rel->publish || rel->refused) {
        d->stats.skipped_rows++;
        d->row_idx++;
        return SL_OK;
    }
    if ((err = batch_room(d, rel, op, lsn, errstr, errstr_size)))
        return err;
    sl_change_t *c = &d->batch->u.change;
    sl_row_t *row = &c->rows[c->nrows];
    size_t sz = rel->ncols * sizeof(sl_value_t) + 1;
    memset(row, 0, sizeof(*row));
    uint8_t tag = pg_rd_u8(r);
    if (op != SL_OP_INSERT && !(row->before = sl_record_alloc(d->batch, sz)))
        return SL_ERR_NOMEM;
    if (op != SL_OP_DELETE && !(row->after = sl_record_alloc(d->batch, sz)))
        return SL_ERR_NOMEM;
    if (op == SL_OP_INSERT) {
        if (tag != 'N')
            goto badtag;
        err = tuple(d, r, rel, row->after, 0, errstr, errstr_size);
    } else if (op == SL_OP_DELETE) {
        if (tag != 'K' && tag != 'O')
            goto badtag;
        err = tuple(d, r, rel, row->before, tag == 'K', errstr, errstr_size);
    } else {
        int have_old = tag == 'K' || tag == 'O';
        if (have_old) {
            if ((err = tuple(d, r, rel, row->before, tag == 'K', errstr, errstr_size)))
                return err;
            tag = pg_rd_u8(r);
        }
        if (tag != 'N')
            goto badtag;
        if ((err = tuple(d, r, rel, row->after, 0, errstr, errstr_size)))
            return err;
        if (!have_old) /* key unchanged: the old key is the new one */
            for (uint32_t i = 0; i < rel->ncols; i++) {
                if (rel->cols[i].key) {
                    row->before[i] = row->after[i];
                } else {
                    memset(&row->before[i], 0, sizeof(sl_value_t));
                    row->before[i].kind = SL_VAL_MISSING;
                    row->before[i].u.missing = SL_MISSING_NOT_IN_IMAGE;
                }
            }
    }
    if (err)
        return err;
    if ((err = batch_add_row(d, lsn, errstr, errstr_size)))
        return err;
    d->row_idx++;
    return SL_OK;
badtag:
    snprintf(errstr, errstr_size, "table %s.%s: unexpected tuple tag 0x%02x in %c message",
             rel->nsp, rel->name, tag, type);
    return SL_ERR_DECODE;
}

static sl_err_t truncate_msg(pg_dec_t *d, uint64_t lsn, pg_rd_t *r, char *errstr,
                             size_t errstr_size)
{
    uint32_t n = pg_rd_u32(r);
    uint8_t options = pg_rd_u8(r);
    sl_err_t err;
    (void)options;
    if ((err = flush_batch(d, errstr, errstr_size)))
        return err;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint32_t relid = pg_rd_u32(r);
        if (r->bad)
            break;
        pg_rel_t *rel = rel_for_change(d, relid, errstr, errstr_size);
        if (!rel)
            return SL_ERR_DECODE;
        if (!rel->publish || rel->refused) {
            d->row_idx++;
            continue;
        }
        if (rel->schema_pending && (err = emit_schema(d, rel, lsn, errstr, errstr_size)))
            return err;
        sl_record_t *rec = d->aux;
        sl_record_reset(rec);
        if ((err = sl_record_init_change(rec, d->conf.source, rel->nsp, rel->name,
                                         SL_OP_TRUNCATE, rel->ncols,
                                         (const char *const *)rel->colnames, 0)))
            return err;
        set_pos(rec, d, lsn, d->row_idx++);
        rec->u.change.txn = d->xid_text;
        rec->u.change.event_time_us = d->commit_time_us;
        rec->u.change.schema_id = rel->schema_id;
        rec->u.change.origin = d->has_origin ? d->origin : NULL;
        if ((err = d->conf.sink(d->conf.sink_ctx, rec, errstr, errstr_size)))
            return err;
        d->published++;
    }
    if (r->bad) {
        snprintf(errstr, errstr_size, "pgoutput Truncate message truncated");
        return SL_ERR_DECODE;
    }
    return SL_OK;
}

/* pgoutput times (int64 µs since 2000-01-01) as Unix µs. A time past the
 * end of int64 after the shift (no server sends one; 'infinity' is
 * INT64_MAX) is held at INT64_MAX instead of overflowing. */
static int64_t pg_time_unix_us(int64_t pg)
{
    return pg > INT64_MAX - PG_EPOCH_US ? INT64_MAX : pg + PG_EPOCH_US;
}

static void begin_txn(pg_dec_t *d, uint32_t xid, uint64_t final_lsn, int64_t ts)
{
    d->in_txn = 1;
    d->xid = xid;
    snprintf(d->xid_text, sizeof(d->xid_text), "%" PRIu32, xid);
    d->commit_lsn = final_lsn;
    d->commit_time_us = pg_time_unix_us(ts);
    d->row_idx = 0;
    d->published = 0;
    d->has_origin = 0;
}

static sl_err_t commit_txn(pg_dec_t *d, uint64_t commit_lsn, uint64_t end_lsn,
                           char *errstr, size_t errstr_size)
{
    sl_err_t err;
    if (!d->in_txn) {
        snprintf(errstr, errstr_size, "pgoutput sent a Commit without a Begin");
        return SL_ERR_DECODE;
    }
    if (commit_lsn != d->commit_lsn) {
        snprintf(errstr, errstr_size, "pgoutput Commit LSN %" PRIX64 " differs from Begin's %"
                 PRIX64, commit_lsn, d->commit_lsn);
        return SL_ERR_DECODE;
    }
    if ((err = flush_batch(d, errstr, errstr_size)))
        return err;
    d->in_txn = 0;
    if (!d->published) {
        d->skipped_end = end_lsn;
        return SL_OK;
    }
    sl_record_t *rec = d->aux;
    sl_record_reset(rec);
    if ((err = sl_record_init_commit(rec, d->conf.source, d->xid_text, d->commit_time_us, 0,
                                     d->published)))
        return err;
    sl_pos_set_pg(&rec->pos, d->commit_lsn, end_lsn, d->row_idx);
    d->stats.txns++;
    return d->conf.sink(d->conf.sink_ctx, rec, errstr, errstr_size);
}

sl_err_t pg_dec_replay_begin(pg_dec_t *d, uint32_t xid, uint64_t commit_lsn,
                             int64_t commit_time_pg, char *errstr, size_t errstr_size)
{
    if (d->in_txn) {
        snprintf(errstr, errstr_size, "stream commit of xid %u inside transaction %s", xid,
                 d->xid_text);
        return SL_ERR_DECODE;
    }
    begin_txn(d, xid, commit_lsn, commit_time_pg);
    return SL_OK;
}

sl_err_t pg_dec_replay_commit(pg_dec_t *d, uint64_t commit_lsn, uint64_t end_lsn,
                              int64_t commit_time_pg, char *errstr, size_t errstr_size)
{
    d->commit_time_us = pg_time_unix_us(commit_time_pg);
    return commit_txn(d, commit_lsn, end_lsn, errstr, errstr_size);
}

sl_err_t pg_dec_message(pg_dec_t *d, uint64_t lsn, const uint8_t *msg, size_t len,
                        int streamed, char *errstr, size_t errstr_size)
{
    pg_rd_t r = {msg, len, 0, 0};
    sl_err_t err = SL_OK;
    char type = (char)pg_rd_u8(&r);
    if (errstr_size)
        errstr[0] = 0;
    if (streamed && strchr("RYIUDTM", type))
        (void)pg_rd_u32(&r); /* xid of the (sub)transaction: pg_stream.c used it */
    switch (type) {
    case 'B': {
        uint64_t final_lsn = pg_rd_u64(&r);
        int64_t ts = (int64_t)pg_rd_u64(&r);
        uint32_t xid = pg_rd_u32(&r);
        if (r.bad)
            break;
        if (d->in_txn) {
            snprintf(errstr, errstr_size, "pgoutput sent Begin of xid %u inside xid %s", xid,
                     d->xid_text);
            return SL_ERR_DECODE;
        }
        begin_txn(d, xid, final_lsn, ts);
        return SL_OK;
    }
    case 'C': {
        (void)pg_rd_u8(&r);
        uint64_t commit_lsn = pg_rd_u64(&r), end_lsn = pg_rd_u64(&r);
        int64_t ts = (int64_t)pg_rd_u64(&r);
        if (r.bad)
            break;
        d->commit_time_us = pg_time_unix_us(ts);
        return commit_txn(d, commit_lsn, end_lsn, errstr, errstr_size);
    }
    case 'O': {
        (void)pg_rd_u64(&r);
        const char *name = pg_rd_str(&r);
        if (r.bad)
            break;
        snprintf(d->origin, sizeof(d->origin), "%s", name);
        d->has_origin = 1;
        return SL_OK;
    }
    case 'R':
        return relation(d, &r, errstr, errstr_size);
    case 'Y': {
        uint32_t oid = pg_rd_u32(&r);
        if (r.bad)
            break;
        return type_message(d, oid);
    }
    case 'I': case 'U': case 'D':
        err = row_change(d, type, lsn, &r, errstr, errstr_size);
        if (!err && r.bad)
            break;
        return err;
    case 'T':
        if (!d->in_txn) {
            snprintf(errstr, errstr_size, "pgoutput sent a Truncate outside a transaction");
            return SL_ERR_DECODE;
        }
        return truncate_msg(d, lsn, &r, errstr, errstr_size);
    case 'M':
        /* Logical decoding messages (pg_logical_emit_message) have no record
         * type in wire format v1: counted, not published. */
        d->stats.messages++;
        return SL_OK;
    default:
        snprintf(errstr, errstr_size, "unknown pgoutput message type 0x%02x", (uint8_t)type);
        return SL_ERR_DECODE;
    }
    snprintf(errstr, errstr_size, "pgoutput '%c' message truncated (%zu bytes)", type, len);
    return SL_ERR_DECODE;
}
