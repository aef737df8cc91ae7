/* shiftlog collector, PostgreSQL: pgoutput messages -> records.
 * See pg_decode.h for the positions and the batching rules. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_dec_int.h"
#include "sl_avro.h"
#include "sl_log.h"

uint64_t pg_dec_pos_lsn(const sl_pos_t *pos)
{
    return pos->offset ? pos->offset : pos->seq;
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
            pg_dec_rel_free(r);
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

/* ------------------------------------------------------------ records */

sl_err_t pg_dec_flush_batch(pg_dec_t *d, char *errstr, size_t errstr_size)
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

/* Makes sure a batch for rel/op is open with room for one more row. */
static sl_err_t batch_room(pg_dec_t *d, pg_rel_t *rel, sl_op_t op, uint64_t lsn,
                           char *errstr, size_t errstr_size)
{
    sl_err_t err;
    if (d->batch_rel && (d->batch_rel != rel || d->batch_op != op ||
                         d->batch->u.change.nrows >= d->conf.batch_max_rows ||
                         d->batch_bytes >= d->conf.batch_max_bytes))
        if ((err = pg_dec_flush_batch(d, errstr, errstr_size)))
            return err;
    if (rel->schema_pending) {
        if ((err = pg_dec_flush_batch(d, errstr, errstr_size)) ||
            (err = pg_dec_emit_schema(d, rel, lsn, errstr, errstr_size)))
            return err;
    }
    if (!d->batch_rel) {
        sl_record_t *b = d->batch;
        sl_record_reset(b);
        if ((err = sl_record_init_change(b, d->conf.source, rel->nsp, rel->name, op, rel->ncols,
                                         (const char *const *)rel->colnames, 0)))
            return err;
        pg_dec_set_pos(b, d, lsn, d->row_idx);
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
    pg_rel_t *rel = pg_dec_rel_find(d, relid);
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
        pg_dec_set_pos(b, d, lsn, d->row_idx);
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
    if ((err = pg_dec_flush_batch(d, errstr, errstr_size)))
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
        if (rel->schema_pending && (err = pg_dec_emit_schema(d, rel, lsn, errstr, errstr_size)))
            return err;
        sl_record_t *rec = d->aux;
        sl_record_reset(rec);
        if ((err = sl_record_init_change(rec, d->conf.source, rel->nsp, rel->name,
                                         SL_OP_TRUNCATE, rel->ncols,
                                         (const char *const *)rel->colnames, 0)))
            return err;
        pg_dec_set_pos(rec, d, lsn, d->row_idx++);
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
    d->added = 0;
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
    if ((err = pg_dec_flush_batch(d, errstr, errstr_size)))
        return err;
    d->in_txn = 0;
    if (!d->published && !d->added) {
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

sl_err_t pg_dec_put(pg_dec_t *d, const sl_record_t *rec, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    if (!d->in_txn) {
        snprintf(errstr, errstr_size, "a record added outside a source transaction");
        return SL_ERR_INVALID;
    }
    if ((err = pg_dec_flush_batch(d, errstr, errstr_size)))
        return err;
    if ((err = d->conf.sink(d->conf.sink_ctx, rec, errstr, errstr_size)))
        return err;
    if (rec->type == SL_REC_CHANGE) {
        d->row_idx += rec->u.change.nrows;
        d->published += rec->u.change.nrows;
        d->stats.rows += rec->u.change.nrows;
    }
    return SL_OK;
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
        return pg_dec_relation(d, &r, errstr, errstr_size);
    case 'Y': {
        uint32_t oid = pg_rd_u32(&r);
        if (r.bad)
            break;
        return pg_dec_type_message(d, oid);
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
    case 'M': {
        uint8_t flags = pg_rd_u8(&r);
        uint64_t mlsn = pg_rd_u64(&r);
        const char *prefix = pg_rd_str(&r);
        uint32_t mlen = pg_rd_u32(&r);
        const uint8_t *content = pg_rd_bytes(&r, mlen);
        if (r.bad || !prefix || (mlen && !content))
            break;
        d->stats.messages++;
        if ((flags & 1) && d->in_txn && !strcmp(prefix, PG_DROP_MESSAGE))
            return pg_dec_drop_message(d, mlsn ? mlsn : lsn, content, mlen, errstr,
                                       errstr_size);
        if (!(flags & 1) || !d->in_txn || !d->conf.message)
            return SL_OK;
        sl_pos_t pos;
        /* what the callee adds comes after the rows before the message */
        if ((err = pg_dec_flush_batch(d, errstr, errstr_size)))
            return err;
        sl_pos_set_pg(&pos, d->commit_lsn, mlsn ? mlsn : lsn, d->row_idx);
        return d->conf.message(d->conf.message_ctx, prefix, content, mlen, &pos, d->xid_text,
                               d->commit_time_us, errstr, errstr_size);
    }
    default:
        snprintf(errstr, errstr_size, "unknown pgoutput message type 0x%02x", (uint8_t)type);
        return SL_ERR_DECODE;
    }
    snprintf(errstr, errstr_size, "pgoutput '%c' message truncated (%zu bytes)", type, len);
    return SL_ERR_DECODE;
}

