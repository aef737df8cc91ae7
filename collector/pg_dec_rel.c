/* shiftlog collector, PostgreSQL: the decoder's relation cache (Relation and
 * Type messages) and the SCHEMA records made from it. See pg_decode.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_dec_int.h"
#include "sl_avro.h"
#include "sl_log.h"

pg_rel_t *pg_dec_rel_find(pg_dec_t *d, uint32_t relid)
{
    for (pg_rel_t *r = d->rels[relid % PG_REL_BUCKETS]; r; r = r->next)
        if (r->relid == relid)
            return r;
    return NULL;
}

void pg_dec_rel_free(pg_rel_t *r)
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


/* Decodes a Relation message body (after the type byte and the xid). */
sl_err_t pg_dec_relation(pg_dec_t *d, pg_rd_t *r, char *errstr, size_t errstr_size)
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
        pg_dec_rel_free(rel);
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
            pg_dec_rel_free(rel);
            return SL_ERR_NOMEM;
        }
        rel->colnames[i] = c->name;
        haskey |= c->key;
    }
    rel->publish = d->conf.filter ? d->conf.filter(d->conf.filter_ctx, rel->nsp, rel->name) : 1;
    rel->refused = rel->replident == 'n' || (rel->replident == 'd' && !haskey);

    pg_rel_t *old = pg_dec_rel_find(d, rel->relid);
    for (uint32_t i = 0; old && i < rel->ncols; i++) {
        uint32_t k = 0;
        while (k < old->ncols && strcmp(old->cols[k].name, rel->cols[i].name))
            k++;
        rel->cols[i].added = k == old->ncols;
    }
    int same = old && old->ncols == rel->ncols && old->replident == rel->replident &&
               !strcmp(old->nsp, rel->nsp) && !strcmp(old->name, rel->name);
    for (uint32_t i = 0; same && i < rel->ncols; i++)
        same = !strcmp(old->cols[i].name, rel->cols[i].name) &&
               old->cols[i].typoid == rel->cols[i].typoid &&
               old->cols[i].typmod == rel->cols[i].typmod && old->cols[i].key == rel->cols[i].key;
    if (same) {
        pg_dec_rel_free(rel);
        return SL_OK;
    }
    /* A changed Relation ends the open batch (whatever its table): flush it
     * while the old relation is still alive. */
    sl_err_t err = pg_dec_flush_batch(d, errstr, errstr_size);
    if (err) {
        pg_dec_rel_free(rel);
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
    if (d->conf.refused && rel->publish && rel->refused != (old && old->publish && old->refused))
        d->conf.refused(d->conf.refused_ctx, rel->nsp, rel->name, rel->refused);
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
        pg_dec_rel_free(rel);
        return err;
    }
    if (stale) {
        rel_unlink(d, stale);
        pg_dec_rel_free(stale);
    }
    if (old) {
        rel_unlink(d, old);
        pg_dec_rel_free(old);
    }
    rel->next = d->rels[rel->relid % PG_REL_BUCKETS];
    d->rels[rel->relid % PG_REL_BUCKETS] = rel;
    return SL_OK;
bad:
    snprintf(errstr, errstr_size, "pgoutput Relation message truncated at byte %zu", r->off);
    pg_dec_rel_free(rel);
    return SL_ERR_DECODE;
}

/* A Type message: the type may have changed (ALTER TYPE ... ADD VALUE,
 * RENAME). Cached relations point into the type cache, and the Relation
 * message that follows is often identical, so the cached relation stays:
 * re-bind its columns to the new entry before the old one is gone, and
 * re-emit the SCHEMA of a table whose column type changed. */
sl_err_t pg_dec_type_message(pg_dec_t *d, uint32_t oid)
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

sl_err_t pg_dec_emit_schema(pg_dec_t *d, pg_rel_t *rel, uint64_t lsn, char *errstr,
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
        pg_dec_set_pos(rec, d, lsn, d->row_idx);
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
    pg_dec_set_pos(rec, d, lsn, d->row_idx);
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
        if (have_ex && ex.dflt && ex.dflt[i] && !(c->dflt = sl_record_strdup(rec, ex.dflt[i]))) {
            err = SL_ERR_NOMEM;
            goto out;
        }
        if (have_ex && ex.dflt_expr && ex.dflt_expr[i] && pc->added)
            sl_warn("table %s.%s column %s: its default %s is an expression whose values "
                    "the rows there got without row changes (a volatile default rewrites "
                    "the table): a SCHEMA record does not carry them, they keep NULL there "
                    "in the targets", rel->nsp, rel->name, pc->name, ex.dflt_expr[i]);
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
            free(ex.source_type[i]), free(ex.dflt ? ex.dflt[i] : NULL),
                free(ex.dflt_expr ? ex.dflt_expr[i] : NULL);
        free(ex.source_type);
        free(ex.dflt);
        free(ex.dflt_expr);
        free(ex.notnull);
        free(ex.pk);
    }
    if (err && !errstr[0])
        snprintf(errstr, errstr_size, "table %s.%s: cannot build its schema record: %s",
                 rel->nsp, rel->name, sl_err_name(err));
    return err;
}

sl_err_t pg_dec_table_schema(pg_dec_t *d, const char *nsp, const char *name, uint64_t lsn,
                             uint64_t *schema_id, const char *const **names, uint32_t *ncols,
                             char *errstr, size_t errstr_size)
{
    pg_rel_t *rel = NULL;
    sl_err_t err;
    for (int b = 0; b < PG_REL_BUCKETS && !rel; b++)
        for (pg_rel_t *r = d->rels[b]; r && !rel; r = r->next)
            if (!strcmp(r->nsp, nsp) && !strcmp(r->name, name))
                rel = r;
    if (!rel) {
        snprintf(errstr, errstr_size, "table %s.%s: no Relation message yet", nsp, name);
        return SL_ERR_NOT_FOUND;
    }
    if (!rel->publish || rel->refused) {
        snprintf(errstr, errstr_size, "table %s.%s: its changes are %s", nsp, name,
                 rel->publish ? "refused (REPLICA IDENTITY)" : "filtered out");
        return SL_ERR_UNSUPPORTED;
    }
    if (rel->schema_pending || rel->gone_name) {
        if ((err = pg_dec_flush_batch(d, errstr, errstr_size)) ||
            (err = pg_dec_emit_schema(d, rel, lsn, errstr, errstr_size)))
            return err;
        d->added = 1; /* a SCHEMA with no row after it still ends with a COMMIT */
    }
    *schema_id = rel->schema_id;
    *names = (const char *const *)rel->colnames;
    *ncols = rel->ncols;
    return SL_OK;
}

sl_err_t pg_dec_drop_message(pg_dec_t *d, uint64_t mlsn, const uint8_t *content, uint32_t len,
                             char *errstr, size_t errstr_size)
{
    /* pgoutput says nothing of a DROP TABLE: a table dropped after its last
     * row change would stay in every target. The event trigger's message
     * says it, in the dropping transaction, at its place in the WAL. */
    char buf[1024], *nl1, *nl2, *end;
    sl_err_t err;
    if (len >= sizeof(buf) || !content)
        goto bad;
    memcpy(buf, content, len);
    buf[len] = '\0';
    if (!(nl1 = strchr(buf, '\n')) || !(nl2 = strchr(nl1 + 1, '\n')))
        goto bad;
    *nl1 = *nl2 = '\0';
    unsigned long oid = strtoul(buf, &end, 10);
    const char *nsp = nl1 + 1, *name = nl2 + 1;
    if (*end || !*nsp || !*name)
        goto bad;
    pg_rel_t *rel = pg_dec_rel_find(d, (uint32_t)oid);
    if (!rel)
        rel = rel_by_name(d, 0, nsp, name);
    int publish = rel ? rel->publish
                      : d->conf.filter ? d->conf.filter(d->conf.filter_ctx, nsp, name) : 1;
    if (rel) {
        rel_unlink(d, rel);
        pg_dec_rel_free(rel);
    }
    if (!publish)
        return SL_OK;
    if ((err = pg_dec_flush_batch(d, errstr, errstr_size)))
        return err;
    sl_record_t *rec = d->aux;
    sl_record_reset(rec);
    if ((err = sl_record_init_schema(rec, d->conf.source, nsp, name, 0)))
        return err;
    pg_dec_set_pos(rec, d, mlsn, d->row_idx);
    if (asprintf(&end, "DROP TABLE \"%s\".\"%s\"", nsp, name) < 0)
        return SL_ERR_NOMEM;
    rec->u.schema.ddl = sl_record_strdup(rec, end);
    free(end);
    if (!rec->u.schema.ddl)
        return SL_ERR_NOMEM;
    sl_info("table %s.%s dropped (the event trigger's message at %X/%X): its life ends there",
            nsp, name, (unsigned)(mlsn >> 32), (unsigned)mlsn);
    if ((err = d->conf.sink(d->conf.sink_ctx, rec, errstr, errstr_size)))
        return err;
    d->added = 1;      /* a SCHEMA with no row after it still ends with a COMMIT */
    return SL_OK;
bad:
    /* not the trigger's (someone else's message under our prefix): said, not fatal */
    sl_warn("logical message %s of %u bytes is not <oid>\\n<schema>\\n<table>: ignored",
            PG_DROP_MESSAGE, len);
    return SL_OK;
}
