/* shiftlog-collector, MySQL/MariaDB: the SCHEMA records of a DDL statement
 * (mysql_schema.c says when a DDL has one and what it holds). A statement's
 * tables are taken one by one: dropped or renamed away (no columns), or
 * changed: its definition at the DDL (the catalog's, or the binlog's next
 * TABLE_MAP of it), else a rename's new name takes the old name's last
 * columns, an ALTER that only drops or renames columns the last ones without
 * them or renamed, and anything else is deferred to the table's next SCHEMA. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql_schema_int.h"
#include "sl_log.h"

/* One DDL SCHEMA record: the table's definition in the catalog now, made
 * into a table map and from there into a SCHEMA exactly as at a TABLE_MAP
 * (mysql_catalog.c), so the two agree. SL_ERR_UNSUPPORTED when a column's
 * type is unknown here: the binlog's TABLE_MAP must describe the table. */
static sl_err_t ddl_schema(col_my_schema_t *s, const char *db, const char *tb,
                           const char *source, sl_record_t *rec, char *errstr,
                           size_t errstr_size)
{
    col_tablemap_t cat;
    sl_err_t err = col_my_schema_catalog(s, db, tb, &cat, errstr, errstr_size);
    if (err)
        return err;
    err = col_mysql_schema_from_tablemap(&cat, source, rec, errstr, errstr_size);
    sig_entry_t *sg = err ? NULL : col_my_sig_get(s, db, tb, 1);
    if (!sg) {
        col_mysql_tablemap_free(&cat);
        return err ? err : SL_ERR_NOMEM;
    }
    /* A column added to a table with rows: the source fills them with its
     * default, without row events. A constant travels on the SCHEMA; an
     * expression cannot, so the targets' existing rows stay NULL there. */
    for (uint32_t i = 0; sg->last && i < cat.ncols; i++) {
        const col_mysql_column_t *c = &cat.cols[i];
        const sl_schema_t *ls = &sg->last->u.schema;
        uint32_t k = 0;
        while (k < ls->ncols && strcmp(ls->cols[k].name, c->name))
            k++;
        if (c->dflt_expr && k == ls->ncols)
            sl_warn("table %s.%s column %s: its default %s is an expression, which a SCHEMA "
                    "record does not carry: rows that existed before the column was added "
                    "keep NULL there in the targets", db, tb, c->name, c->dflt);
    }
    if (sg->has_cat)
        col_mysql_tablemap_free(&sg->cat);
    sg->cat = cat;                       /* for the hints of the table's next TABLE_MAP */
    sg->has_cat = 1;
    return SL_OK;
}

/* Table maps of db.tb are parsed again at their next TABLE_MAP, even when
 * the server keeps the table id and the bytes (CREATE INDEX): the SCHEMA
 * decision (and a deferred DDL text) is taken there. */
static void tm_forget(col_my_schema_t *s, const char *db, const char *tb)
{
    for (size_t b = 0; b < TM_BUCKETS; b++)
        for (tm_entry_t *e = s->tm[b]; e; e = e->next)
            if (!strcmp(e->t.tm.db, db) && !strcmp(e->t.tm.table, tb))
                e->rawlen = 0;
}

/* rec = the SCHEMA of the TABLE_MAP at file:pos (read again from the server). */
static sl_err_t schema_from_past_map(col_my_schema_t *s, const char *file, uint64_t pos,
                                     const char *source, sl_record_t *rec, char *errstr,
                                     size_t errstr_size)
{
    uint8_t *body;
    size_t len;
    sl_err_t err;
    if (!s->conf)
        return SL_ERR_STATE;
    if ((err = col_my_fetch_event(s->conf, file, pos, COL_MYSQL_EV_TABLE_MAP, &body, &len,
                                  errstr, errstr_size)))
        return err;
    tm_entry_t *e = calloc(1, sizeof(*e));
    if (!e) {
        free(body);
        return SL_ERR_NOMEM;
    }
    e->raw = body;
    e->rawlen = len;
    if (!(err = col_mysql_tablemap_parse(body, len, &e->t.tm, errstr, errstr_size))) {
        col_my_apply_information_schema(s, e);
        err = col_mysql_schema_from_tablemap(&e->t.tm, source, rec, errstr, errstr_size);
    } else {
        memset(&e->t.tm, 0, sizeof(e->t.tm));
    }
    col_my_tm_entry_free(e);
    return err;
}

/* rec's DDL text: the deferred ones of the table first. */
static sl_err_t put_ddl_text(col_my_schema_t *s, sig_entry_t *sg, const char *sql, size_t len,
                             sl_record_t *rec, char *errstr, size_t errstr_size)
{
    if (!sg || !sg->pending) {
        rec->u.schema.ddl = sl_record_memdup(rec, sql, len);
    } else {
        sl_buf_reset(&s->buf);
        sl_buf_puts(&s->buf, sg->pending);
        sl_buf_puts(&s->buf, ";\n");
        sl_buf_append(&s->buf, sql, len);
        free(sg->pending);
        sg->pending = NULL;
        rec->u.schema.ddl = sl_record_memdup(rec, s->buf.data, s->buf.len);
    }
    if (rec->u.schema.ddl)
        return SL_OK;
    snprintf(errstr, errstr_size, "out of memory");
    return SL_ERR_NOMEM;
}

/* The DDL statement col_my_schema_ddl handles, for its steps. */
typedef struct ddl_stmt_s {
    const char *sql, *file, *source;
    size_t      len;
    uint64_t    start_pos, end_pos;
    const col_my_ddl_target_t *t;       /* its tables */
    int         nt;
} ddl_stmt_t;

/* What one table of the statement ends as. */
enum { DDL_PUBLISH, DDL_DONE, DDL_DEFERRED };

/* A table the statement drops or renames away: exact whatever the catalog
 * says now, no columns; a later table of that name is another one. */
static sl_err_t ddl_gone(col_my_schema_t *s, const ddl_stmt_t *st, int i, sl_record_t *rec,
                         char *errstr, size_t errstr_size)
{
    sig_entry_t *gs = col_my_sig_get(s, st->t[i].db, st->t[i].tb, 0);
    if (gs && gs->has_cat) {
        col_mysql_tablemap_free(&gs->cat);
        gs->has_cat = 0;
    }
    if (gs && gs->dflts.n) {
        /* renamed away: the defaults not published yet go with the new name */
        sig_entry_t *ns = NULL;
        for (int j = i + 1; j < st->nt && !ns; j++)
            if (st->t[j].from == i + 1 && !(ns = col_my_sig_get(s, st->t[j].db, st->t[j].tb, 1)))
                return SL_ERR_NOMEM;
        if (ns) {
            col_my_dflts_clear(&ns->dflts);
            ns->dflts = gs->dflts;
            memset(&gs->dflts, 0, sizeof(gs->dflts));
        }
        col_my_dflts_clear(&gs->dflts);
    }
    sl_err_t err = sl_record_init_schema(rec, st->source, st->t[i].db, st->t[i].tb, 0);
    if (err)
        snprintf(errstr, errstr_size, "out of memory");
    return err;
}

/* The table's definition at the DDL into rec: the catalog's when no later
 * DDL on it is in the binlog yet (the catalog shows the table as of now);
 * else the binlog's own, its first TABLE_MAP after that DDL. *later: not
 * known here (why in *why). */
static sl_err_t ddl_at(col_my_schema_t *s, const ddl_stmt_t *st, int i, sl_record_t *rec,
                       int *later, const char **why, char *errstr, size_t errstr_size)
{
    const col_my_ddl_target_t *ti = &st->t[i];
    char mfile[512], past[512];
    uint64_t mpos = 0;
    sl_err_t err = ddl_schema(s, ti->db, ti->tb, st->source, rec, errstr, errstr_size);
    if (err == SL_ERR_UNSUPPORTED) {
        /* the catalog has a type we cannot describe as the binlog does:
         * the table's next TABLE_MAP gives the definition */
        sl_info("DDL on %s.%s at %s:%" PRIu64 ": %s", ti->db, ti->tb, st->file, st->start_pos,
                errstr);
        *later = 1;
        *why = "a column type unknown to information_schema mapping";
        return SL_OK;
    }
    if (err || (err = col_my_ddl_ahead(s->meta, st->file, st->end_pos, ti->db, ti->tb, later,
                                       mfile, sizeof(mfile), &mpos, errstr, errstr_size)))
        return err;
    if (!*later || !mpos)
        return SL_OK;
    sl_record_reset(rec);
    err = schema_from_past_map(s, mfile, mpos, st->source, rec, past, sizeof(past));
    if (err == SL_ERR_DB) {
        snprintf(errstr, errstr_size, "%s", past);
        return err;
    }
    if (err) {
        sl_warn("DDL on %s.%s at %s:%" PRIu64 ": the table's next TABLE_MAP at %s:%" PRIu64
                " could not be read (%s): its SCHEMA comes with that TABLE_MAP", ti->db, ti->tb,
                st->file, st->end_pos, mfile, mpos, past);
        sl_record_reset(rec);
    } else {
        sl_debug("DDL on %s.%s at %s:%" PRIu64 ": a later DDL changed it again; columns from "
                 "its TABLE_MAP at %s:%" PRIu64, ti->db, ti->tb, st->file, st->end_pos, mfile,
                 mpos);
        *later = 0;
    }
    return SL_OK;
}

/* The new name of a rename whose definition at the rename is not known
 * (changed again before any row of it; or, in a chain like a TO tmp, b TO
 * a, tmp TO b, never in the catalog at all). The appliers rename their
 * table only at the pair "renamed away" + the new name's SCHEMA at the same
 * position: a deferred one would leave the rows under the old name, and a
 * table created again under it would inherit them. The new name gets the
 * columns last published for the old one, exact for a plain rename; where
 * they are not (ALTER TABLE a ADD c, RENAME TO b; the old name's own last
 * DDL deferred) the new name's next SCHEMA, which comes before any row of
 * it, carries the exact ones. Failing those, the catalog's (now) columns,
 * likewise put right before any row. *done: published. */
static sl_err_t ddl_renamed_to(col_my_schema_t *s, const ddl_stmt_t *st, int i,
                               sig_entry_t *sg, sl_record_t *rec, int later, int *done,
                               char *errstr, size_t errstr_size)
{
    const col_my_ddl_target_t *ti = &st->t[i], *from = &st->t[ti->from - 1];
    const sig_entry_t *fs = col_my_sig_get(s, from->db, from->tb, 0);
    int have_last = fs && fs->last && fs->last->u.schema.ncols;
    sl_err_t err;
    if (have_last) {
        if ((err = col_my_schema_copy(rec, fs->last, ti->db, ti->tb))) {
            snprintf(errstr, errstr_size, "out of memory");
            return err;
        }
    } else if (later && !(rec->type == SL_REC_SCHEMA && rec->u.schema.ncols)) {
        return SL_OK;
    }
    sl_info("DDL on %s.%s at %s:%" PRIu64 ": renamed from %s.%s, its definition at the rename "
            "never reached the binlog: its SCHEMA has the columns %s", ti->db, ti->tb, st->file,
            st->start_pos, from->db, from->tb,
            have_last ? "last published for the old name" : "of the catalog now");
    if (sg)
        sl_buf_reset(&sg->ddl_cols);      /* no disagreement to report */
    *done = 1;
    return put_ddl_text(s, sg, st->sql, st->len, rec, errstr, errstr_size);
}

/* An ALTER that only drops or only renames columns, changed again before
 * any row: its definition is the last one without them / with the new
 * names. Folded into the next SCHEMA, a column dropped and added again
 * under the same name (DROP COLUMN c; ADD COLUMN c) would look unchanged, a
 * column renamed and one added under the old name (RENAME COLUMN a TO b;
 * ADD COLUMN a) would read as b added, and the targets would keep the old
 * values under the wrong column. (Its text folds the deferred ones before
 * it; their columns come with the next SCHEMA, before any row.) *done:
 * published. */
static sl_err_t ddl_drops_renames(col_my_schema_t *s, const ddl_stmt_t *st, int i,
                                  sig_entry_t *sg, sl_record_t *rec, int *done, char *errstr,
                                  size_t errstr_size)
{
    const col_my_ddl_target_t *ti = &st->t[i];
    char drops[COL_MY_DDL_MAX][256], tos[COL_MY_DDL_MAX][256];
    const char *what = NULL;
    int nd, nr;
    if ((nd = col_my_ddl_dropped_cols(st->sql, st->len, drops, COL_MY_DDL_MAX)) > 0 &&
        col_my_schema_without(sg->last, drops, nd, ti->db, ti->tb, rec) == SL_OK)
        what = "drops columns: its SCHEMA is the last one without them";
    else if ((nr = col_my_ddl_renamed_cols(st->sql, st->len, drops, tos, COL_MY_DDL_MAX)) > 0 &&
             col_my_schema_renamed(sg->last, drops, tos, nr, ti->db, ti->tb, rec) == SL_OK)
        what = "renames columns: its SCHEMA is the last one with the new names";
    if (!what)
        return SL_OK;
    sl_info("DDL on %s.%s at %s:%" PRIu64 ": changed again by a later DDL before any row; it "
            "only %s", ti->db, ti->tb, st->file, st->start_pos, what);
    sl_buf_reset(&sg->ddl_cols);
    *done = 1;
    return put_ddl_text(s, sg, st->sql, st->len, rec, errstr, errstr_size);
}

/* Its text goes with the table's next SCHEMA. */
static sl_err_t ddl_defer(col_my_schema_t *s, const ddl_stmt_t *st, int i, sig_entry_t *sg,
                          sl_record_t *rec, const char *why)
{
    const col_my_ddl_target_t *ti = &st->t[i];
    if (!sg && !(sg = col_my_sig_get(s, ti->db, ti->tb, 1)))
        return SL_ERR_NOMEM;
    sl_buf_reset(&s->buf);
    if (sg->pending) {
        sl_buf_puts(&s->buf, sg->pending);
        sl_buf_puts(&s->buf, ";\n");
    }
    sl_buf_append(&s->buf, st->sql, st->len);
    free(sg->pending);
    if (!(sg->pending = strdup(s->buf.data)))
        return SL_ERR_NOMEM;
    sl_info("DDL on %s.%s at %s:%" PRIu64 ": %s: its text goes with the table's next SCHEMA",
            ti->db, ti->tb, st->file, st->start_pos, why);
    sl_record_reset(rec);
    return SL_OK;
}

/* A table the statement changes (not gone): DDL_PUBLISH (rec is its SCHEMA
 * as of the DDL), DDL_DONE (published already) or DDL_DEFERRED. */
static sl_err_t ddl_changed(col_my_schema_t *s, const ddl_stmt_t *st, int i, sig_entry_t *sg,
                            sl_record_t *rec, int *out, char *errstr, size_t errstr_size)
{
    const col_my_ddl_target_t *ti = &st->t[i];
    int later = 0, done = 0;
    const char *why = "changed again by a later DDL before any row";
    sl_err_t err = ddl_at(s, st, i, rec, &later, &why, errstr, errstr_size);
    if (!err && ti->from && (later || !rec->u.schema.ncols))
        err = ddl_renamed_to(s, st, i, sg, rec, later, &done, errstr, errstr_size);
    if (!err && !done && later && !ti->from && sg && sg->last && sg->last->u.schema.ncols)
        err = ddl_drops_renames(s, st, i, sg, rec, &done, errstr, errstr_size);
    if (err || done) {
        *out = DDL_DONE;
        return err;
    }
    *out = later ? DDL_DEFERRED : DDL_PUBLISH;
    return later ? ddl_defer(s, st, i, sg, rec, why) : SL_OK;
}

sl_err_t col_my_schema_ddl(col_my_schema_t *s, const char *default_db, const char *sql,
                           size_t len, const char *file, uint64_t start_pos, uint64_t end_pos,
                           const char *source,
                           sl_record_t **recs, int max, int *n, int *deferred, int *is_ddl,
                           char *errstr, size_t errstr_size)
{
    col_my_ddl_target_t t[COL_MY_DDL_MAX];
    ddl_stmt_t st = {.sql = sql, .len = len, .file = file, .source = source,
                     .start_pos = start_pos, .end_pos = end_pos, .t = t};
    char dropdb[256];
    *n = 0;
    *deferred = 0;
    int nt = col_my_ddl_parse(default_db, sql, len, t, COL_MY_DDL_MAX, is_ddl, dropdb,
                              sizeof(dropdb));
    st.nt = nt;
    for (int i = 0; i < nt && *n < max; i++) {
        sig_entry_t *sg = col_my_sig_get(s, t[i].db, t[i].tb, 0);
        if (sg)
            sg->schema_id = 0;           /* the next table map publishes again */
        tm_forget(s, t[i].db, t[i].tb);
        if (!col_filter_match(s->filter, t[i].db, t[i].tb))
            continue;
        sl_record_t *rec = recs[*n];
        int out = DDL_PUBLISH;
        if (!t[i].gone && nt == 1) {
            /* the defaults of the columns an ALTER adds, from its own text */
            if (!sg && !(sg = col_my_sig_get(s, t[i].db, t[i].tb, 1)))
                return SL_ERR_NOMEM;
            col_my_dflts_note(&sg->dflts, sql, len);
        }
        sl_err_t err = t[i].gone ? ddl_gone(s, &st, i, rec, errstr, errstr_size)
                                 : ddl_changed(s, &st, i, sg, rec, &out, errstr, errstr_size);
        if (err)
            return err;
        if (out == DDL_DEFERRED) {
            (*deferred)++;
            continue;
        }
        if (out == DDL_PUBLISH &&
            ((err = put_ddl_text(s, sg, sql, len, rec, errstr, errstr_size)) ||
             (!t[i].gone && (err = col_my_ddl_keep(s, &rec->u.schema, file, start_pos)))))
            return err;
        (*n)++;
    }
    /* after the loop: a new name above took the old name's columns as they
     * were before this statement */
    for (int k = 0; k < *n; k++) {
        sig_entry_t *sg = col_my_sig_get(s, recs[k]->u.schema.db, recs[k]->u.schema.table, 1);
        if (!sg || col_my_dflts_fill(&sg->dflts, sg->last, recs[k]) ||
            col_my_keep_last(sg, recs[k])) {
            snprintf(errstr, errstr_size, "out of memory");
            return SL_ERR_NOMEM;
        }
    }
    return SL_OK;
}
