/* shiftlog-collector, MySQL/MariaDB: table maps and SCHEMA records.
 *
 * Schema history. A SCHEMA record is published at a table's TABLE_MAP
 * position before its first rows since the start, and again whenever the
 * table's column list (names, types, charsets, labels, key) differs from
 * the last one published — i.e. after every DDL, at the exact binlog
 * position where the new definition takes effect. With
 * binlog_row_metadata = FULL the binlog itself carries the definition, so
 * the history is exact and rebuilds itself on every restart from the
 * checkpoint. A DDL statement also gets its own SCHEMA record right at the
 * DDL (with the DDL text) with the definition right after it: none for a
 * dropped table; information_schema when no later DDL on the table is in
 * the binlog yet (col_my_ddl_ahead); else the table's first TABLE_MAP after
 * the DDL, read again from the server. A definition that never reached the
 * binlog (two DDLs, no row between) has no record: its DDL text goes with
 * the table's next SCHEMA — except for a rename's new name, which always has
 * one at the rename (the appliers rename at that pair): the columns last
 * published for the old name (sig_entry_t.last) stand in for it; and for an
 * ALTER that only drops columns: the last published ones without them.
 *
 * schema_id (in every CHANGE record) = CRC-64-AVRO of the column list text
 * "db.table\0name\0source_type\0kind,nullable,pk\0..." of the SCHEMA in force. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql_source.h"
#include "sl_avro.h"
#include "sl_log.h"
#include "sl_name.h"

#include "mysql_schema_int.h"

static unsigned long hash_str(const char *s)
{
    unsigned long h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

sl_err_t col_my_schema_new(col_my_schema_t **out, MYSQL *meta, const col_conf_t *conf,
                           const col_filter_t *filter, const col_my_server_t *srv)
{
    col_my_schema_t *s = calloc(1, sizeof(*s));
    if (!s)
        return SL_ERR_NOMEM;
    s->meta = meta;
    s->conf = conf;
    s->filter = filter;
    s->srv = srv;
    *out = s;
    return SL_OK;
}

void col_my_tm_entry_free(tm_entry_t *e)
{
    col_mysql_tablemap_free(&e->t.tm);
    if (e->names) {
        for (uint32_t i = 0; i < e->t.tm.ncols; i++)
            free(e->names[i]);
        free(e->names);
    }
    free(e->raw);
    free(e);
}

static void tm_clear(col_my_schema_t *s)
{
    for (size_t b = 0; b < TM_BUCKETS; b++) {
        tm_entry_t *e = s->tm[b];
        while (e) {
            tm_entry_t *n = e->next;
            col_my_tm_entry_free(e);
            e = n;
        }
        s->tm[b] = NULL;
    }
    s->ntm = 0;
}

void col_my_schema_gc(col_my_schema_t *s)
{
    if (s->ntm > TM_MAX)
        tm_clear(s);
}

void col_my_schema_destroy(col_my_schema_t *s)
{
    if (!s)
        return;
    tm_clear(s);
    for (size_t b = 0; b < SIG_BUCKETS; b++) {
        sig_entry_t *e = s->sig[b];
        while (e) {
            sig_entry_t *n = e->next;
            free(e->name);
            free(e->pending);
            sl_buf_free(&e->ddl_cols);
            col_my_dflts_clear(&e->dflts);
            if (e->has_cat)
                col_mysql_tablemap_free(&e->cat);
            sl_record_destroy(e->last);
            free(e);
            e = n;
        }
    }
    sl_buf_free(&s->buf);
    free(s);
}

col_my_table_t *col_my_schema_find(col_my_schema_t *s, uint64_t table_id)
{
    for (tm_entry_t *e = s->tm[table_id % TM_BUCKETS]; e; e = e->next)
        if (e->t.tm.table_id == table_id)
            return &e->t;
    return NULL;
}

sig_entry_t *col_my_sig_get(col_my_schema_t *s, const char *db, const char *table, int create)
{
    char name[600];
    sl_name_format(db, table, name, sizeof(name));   /* a.`b.c` is not `a.b`.c */
    unsigned long b = hash_str(name) % SIG_BUCKETS;
    for (sig_entry_t *e = s->sig[b]; e; e = e->next)
        if (!strcmp(e->name, name))
            return e;
    if (!create)
        return NULL;
    sig_entry_t *e = calloc(1, sizeof(*e));
    if (!e || !(e->name = strdup(name))) {
        free(e);
        return NULL;
    }
    e->next = s->sig[b];
    s->sig[b] = e;
    return e;
}

/* CRC-64 of the SCHEMA record's column list (see the top comment). */
static uint64_t schema_fingerprint(sl_buf_t *b, const sl_schema_t *sc)
{
    char name[600];
    sl_buf_reset(b);
    sl_buf_puts(b, sl_name_format(sc->db, sc->table, name, sizeof(name)));
    sl_buf_putc(b, '\0');
    for (uint32_t i = 0; i < sc->ncols; i++) {
        const sl_column_t *c = &sc->cols[i];
        sl_buf_printf(b, "%s%c%s%c%d,%d,%d,%s", c->name ? c->name : "", 0,
                      c->source_type ? c->source_type : "", 0, (int)c->kind, c->nullable,
                      c->pk, c->charset ? c->charset : "");
        for (uint32_t l = 0; l < c->nlabels; l++)
            sl_buf_printf(b, ",%s", c->labels[l]);
        sl_buf_putc(b, '\0');
    }
    return sl_avro_crc64(b->data, b->len);
}

/* rec (a SCHEMA about to be published) becomes sg's last one. */
sl_err_t col_my_keep_last(sig_entry_t *sg, const sl_record_t *rec)
{
    if (!sg->last && !(sg->last = sl_record_new()))
        return SL_ERR_NOMEM;
    return col_my_schema_copy(sg->last, rec, rec->u.schema.db, rec->u.schema.table);
}

/* A column as the disagreement warning shows it: "int (INT, NULL, key 0, -)". */
static void col_desc(sl_buf_t *b, const sl_column_t *c)
{
    sl_buf_printf(b, "%s (%s, %s, key %d, %s", c->source_type ? c->source_type : "",
                  sl_val_kind_name(c->kind), c->nullable ? "NULL" : "NOT NULL", c->pk,
                  c->charset ? c->charset : "-");
    for (uint32_t l = 0; l < c->nlabels; l++)
        sl_buf_printf(b, "%s'%s'", l ? "," : ", labels ", c->labels[l]);
    sl_buf_putc(b, ')');
}

/* Keeps the columns of a DDL SCHEMA just built, to check them against the
 * table's next TABLE_MAP (ddl_check). */
sl_err_t col_my_ddl_keep(col_my_schema_t *s, const sl_schema_t *sc, const char *file,
                         uint64_t pos)
{
    sig_entry_t *sg = col_my_sig_get(s, sc->db, sc->table, 1);
    if (!sg)
        return SL_ERR_NOMEM;
    sl_buf_reset(&sg->ddl_cols);
    for (uint32_t i = 0; i < sc->ncols; i++) {
        sl_buf_puts(&sg->ddl_cols, sc->cols[i].name ? sc->cols[i].name : "");
        sl_buf_putc(&sg->ddl_cols, '\0');
        col_desc(&sg->ddl_cols, &sc->cols[i]);
        if (sl_buf_putc(&sg->ddl_cols, '\0'))
            return SL_ERR_NOMEM;
    }
    if (!sc->ncols && sl_buf_putc(&sg->ddl_cols, '\0'))
        return SL_ERR_NOMEM;
    snprintf(sg->ddl_pos, sizeof(sg->ddl_pos), "%s:%" PRIu64, file ? file : "", pos);
    return SL_OK;
}

/* The binlog's TABLE_MAP at file:pos against the DDL SCHEMA published before
 * it: one WARN per column that differs (or is only on one side). The binlog
 * wins: its SCHEMA is the one published next (every TABLE_MAP after a DDL
 * publishes one). */
static void ddl_check(col_my_schema_t *s, sig_entry_t *sg, const sl_schema_t *sc,
                      const char *file, uint64_t pos)
{
    sl_buf_t d = SL_BUF_INIT;
    const char *p = sg->ddl_cols.data, *end = p + sg->ddl_cols.len;
    int ncat = 0;
    for (const char *q = p; q < end && *q; q += strlen(q) + 1, q += strlen(q) + 1)
        ncat++;
    for (uint32_t i = 0; i < sc->ncols; i++) {
        const char *cat = NULL;
        for (const char *q = p; q < end && *q; q += strlen(q) + 1, q += strlen(q) + 1)
            if (!strcmp(q, sc->cols[i].name)) {
                cat = q + strlen(q) + 1;
                break;
            }
        sl_buf_reset(&d);
        col_desc(&d, &sc->cols[i]);
        if (!d.data)
            break;
        if (cat && !strcmp(cat, d.data)) {
            ncat--;
            continue;
        }
        ncat -= cat != NULL;
        sl_warn("table %s.%s column %s: the DDL's SCHEMA at %s (information_schema) and the "
                "TABLE_MAP at %s:%" PRIu64 " (binlog metadata) disagree: %s vs %s; the "
                "binlog's definition is published next", sc->db, sc->table, sc->cols[i].name,
                sg->ddl_pos, file, pos, cat ? cat : "no such column", d.data);
    }
    if (ncat > 0)
        sl_warn("table %s.%s: the DDL's SCHEMA at %s (information_schema) has %d column(s) "
                "the TABLE_MAP at %s:%" PRIu64 " (binlog metadata) has not: they disagree; the "
                "binlog's definition is published next", sc->db, sc->table, sg->ddl_pos, ncat,
                file, pos);
    sl_buf_free(&d);
    sl_buf_reset(&sg->ddl_cols);
}

static int is_int_type(uint8_t t)
{
    return t == COL_MYSQL_T_TINY || t == COL_MYSQL_T_SHORT || t == COL_MYSQL_T_INT24 ||
           t == COL_MYSQL_T_LONG || t == COL_MYSQL_T_LONGLONG;
}

/* What the binlog cannot say, from the catalog's view of the table
 * (mysql_catalog.c): INET6/INET4/UUID, MariaDB's JSON, the display width of
 * tinyint(1) and ZEROFILL, legacy fsp, and (without binlog_row_metadata =
 * FULL) names and signedness. Each hint is taken only where the binlog's
 * column can hold it (col_mysql_tablemap_set_*), since the catalog is
 * today's definition and the TABLE_MAP may be an older one. */
void col_my_apply_information_schema(col_my_schema_t *s, tm_entry_t *e)
{
    col_tablemap_t *tm = &e->t.tm, cat;
    int need = !tm->has_names || !tm->has_signedness;
    for (uint32_t i = 0; i < tm->ncols && !need; i++) {
        const col_mysql_column_t *c = &tm->cols[i];
        if ((s->srv->is_mariadb && c->real_type == COL_MYSQL_T_STRING &&
             (c->length == 16 || c->length == 4)) ||
            (s->srv->is_mariadb && c->type == COL_MYSQL_T_BLOB && c->length == 4 &&
             c->charset != 63) ||
            is_int_type(c->type) ||
            c->type == COL_MYSQL_T_TIME || c->type == COL_MYSQL_T_DATETIME ||
            c->type == COL_MYSQL_T_TIMESTAMP)
            need = 1;
    }
    if (!need || !s->meta)
        return;
    char err[600];
    sig_entry_t *sg = col_my_sig_get(s, tm->db, tm->table, 0);
    const col_tablemap_t *k_tm = &cat;
    if (sg && sg->has_cat) {
        k_tm = &sg->cat;                 /* read at the DDL this TABLE_MAP follows */
    } else {
        sl_err_t rc = col_my_catalog_table(s->meta, s->srv->is_mariadb, 0, tm->db, tm->table,
                                           &cat, err, sizeof(err));
        if (rc && rc != SL_ERR_UNSUPPORTED) {
            sl_warn("table %s.%s: information_schema look-up failed: %s", tm->db, tm->table,
                    err);
            return;
        }
    }
    if (!tm->has_names && !e->names)
        e->names = calloc(tm->ncols ? tm->ncols : 1, sizeof(char *));
    for (uint32_t i = 0; i < tm->ncols; i++) {
        col_mysql_column_t *c = &tm->cols[i];
        /* by name when the binlog has names: an older TABLE_MAP read after a
         * later ADD COLUMN ... AFTER has other ordinals than the catalog */
        uint32_t j = i;
        if (tm->has_names)
            for (j = 0; j < k_tm->ncols && strcmp(k_tm->cols[j].name, c->name); j++)
                ;
        if (j >= k_tm->ncols)
            continue;
        const col_mysql_column_t *k = &k_tm->cols[j];
        if (k->hint != COL_MYSQL_HINT_NONE)
            col_mysql_tablemap_set_hint(tm, i, k->hint);
        else if (k->display_width && k->type == c->type)
            col_mysql_tablemap_set_width(tm, i, k->display_width, k->zerofill);
        else if (c->type == COL_MYSQL_T_TIME || c->type == COL_MYSQL_T_DATETIME ||
                 c->type == COL_MYSQL_T_TIMESTAMP)
            col_mysql_tablemap_set_fsp(tm, i, k->scale);
        if (!tm->has_signedness && k->is_unsigned)
            c->is_unsigned = 1;
        if (!tm->has_names && e->names && !e->names[i] && (e->names[i] = strdup(k->name))) {
            c->name = e->names[i];
            tm->names[i] = e->names[i];
        }
    }
    if (k_tm == &cat)
        col_mysql_tablemap_free(&cat);
}

sl_err_t col_my_schema_table_map(col_my_schema_t *s, const uint8_t *body, size_t len,
                                 const char *file, uint64_t pos, const char *source,
                                 col_my_table_t **out, int *emit,
                                 sl_record_t *rec, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    *emit = 0;
    *out = NULL;
    if (len < 6) {
        snprintf(errstr, errstr_size, "TABLE_MAP event of %zu bytes is truncated", len);
        return SL_ERR_DECODE;
    }
    /* table id: 6 bytes little-endian at the start of the post-header */
    uint64_t id = 0;
    for (int i = 5; i >= 0; i--)
        id = id << 8 | body[i];
    tm_entry_t **pp = &s->tm[id % TM_BUCKETS];
    for (tm_entry_t *e = *pp; e; e = e->next) {
        if (e->t.tm.table_id != id)
            continue;
        if (e->rawlen == len && !memcmp(e->raw, body, len)) {
            *out = &e->t;                 /* the same map again: nothing to do */
            return SL_OK;
        }
        break;
    }
    tm_entry_t *e = calloc(1, sizeof(*e));
    if (!e || !(e->raw = malloc(len ? len : 1))) {
        free(e);
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    memcpy(e->raw, body, len);
    e->rawlen = len;
    if ((err = col_mysql_tablemap_parse(body, len, &e->t.tm, errstr, errstr_size))) {
        free(e->raw);
        free(e);
        return err;
    }
    e->t.included = col_filter_match(s->filter, e->t.tm.db, e->t.tm.table);
    if (e->t.included) {
        col_my_apply_information_schema(s, e);
        if (!e->t.tm.has_labels && !s->warned_labels) {
            s->warned_labels = 1;
            sl_warn("table %s.%s: ENUM/SET labels are not in the binlog "
                    "(binlog_row_metadata = FULL gives them): values arrive as indexes",
                    e->t.tm.db, e->t.tm.table);
        }
        if ((err = col_mysql_schema_from_tablemap(&e->t.tm, source, rec, errstr,
                                                  errstr_size))) {
            col_my_tm_entry_free(e);
            return err;
        }
        e->t.schema_id = schema_fingerprint(&s->buf, &rec->u.schema);
        sig_entry_t *sg = col_my_sig_get(s, e->t.tm.db, e->t.tm.table, 1);
        if (sg && sg->ddl_cols.len)
            ddl_check(s, sg, &rec->u.schema, file, pos);
        if (!sg || sg->schema_id != e->t.schema_id) {
            *emit = 1;
            if (sg)
                sg->schema_id = e->t.schema_id;
        }
        if (sg && sg->pending) {
            /* a DDL whose SCHEMA was deferred: this is its definition */
            *emit = 1;
            rec->u.schema.ddl = sl_record_strdup(rec, sg->pending);
            free(sg->pending);
            sg->pending = NULL;
            if (!rec->u.schema.ddl) {
                col_my_tm_entry_free(e);
                snprintf(errstr, errstr_size, "out of memory");
                return SL_ERR_NOMEM;
            }
        }
        if (*emit && sg && (col_my_dflts_fill(&sg->dflts, sg->last, rec) ||
                            col_my_keep_last(sg, rec))) {
            col_my_tm_entry_free(e);
            snprintf(errstr, errstr_size, "out of memory");
            return SL_ERR_NOMEM;
        }
    }
    /* replace an older map of the same id */
    for (tm_entry_t **q = pp; *q; q = &(*q)->next) {
        if ((*q)->t.tm.table_id == id) {
            tm_entry_t *old = *q;
            *q = old->next;
            col_my_tm_entry_free(old);
            s->ntm--;
            break;
        }
    }
    e->next = *pp;
    *pp = e;
    s->ntm++;
    *out = &e->t;
    return SL_OK;
}

/* ------------------------------------------------------------ DDL */

sl_err_t col_my_schema_catalog(col_my_schema_t *s, const char *db, const char *tb,
                               col_tablemap_t *cat, char *errstr, size_t errstr_size)
{
    sl_err_t err = col_my_catalog_table(s->meta, s->srv->is_mariadb, 1, db, tb, cat, errstr,
                                        errstr_size);
    if (err == SL_ERR_UNSUPPORTED)
        col_mysql_tablemap_free(cat);
    return err;
}

sl_err_t col_my_schema_snapshot(col_my_schema_t *s, const char *db, const char *tb,
                                const char *source, sl_record_t *rec, int *emit,
                                uint64_t *schema_id, char *errstr, size_t errstr_size)
{
    col_tablemap_t cat;
    *emit = 0;
    /* the catalog, as a DDL's SCHEMA is built: the same view as a TABLE_MAP's,
     * so the fingerprint matches the one the stream published for the same
     * definition and nothing is published twice */
    sl_err_t err = col_my_schema_catalog(s, db, tb, &cat, errstr, errstr_size);
    if (err)
        return err;
    if (!cat.ncols) {
        col_mysql_tablemap_free(&cat);
        snprintf(errstr, errstr_size, "table %s.%s does not exist", db, tb);
        return SL_ERR_NOT_FOUND;
    }
    err = col_mysql_schema_from_tablemap(&cat, source, rec, errstr, errstr_size);
    col_mysql_tablemap_free(&cat);
    if (err)
        return err;
    *schema_id = schema_fingerprint(&s->buf, &rec->u.schema);
    sig_entry_t *sg = col_my_sig_get(s, db, tb, 1);
    if (!sg) {
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    if (sg->schema_id != *schema_id) {
        *emit = 1;
        sg->schema_id = *schema_id;
    }
    return SL_OK;
}
