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

#define TM_BUCKETS 1024
#define TM_MAX     4096
#define SIG_BUCKETS 1024

typedef struct tm_entry_s {
    col_my_table_t     t;            /* first: handed out as col_my_table_t* */
    uint8_t           *raw;          /* the TABLE_MAP body, to recognise repeats */
    size_t             rawlen;
    char             **names;        /* information_schema names (fallback), owned */
    struct tm_entry_s *next;
} tm_entry_t;

typedef struct sig_entry_s {
    char               *name;        /* "db.table" */
    uint64_t            schema_id;   /* last published, 0 = none */
    char               *pending;     /* DDL text deferred to the next SCHEMA, owned */
    sl_buf_t            ddl_cols;    /* columns of the last DDL SCHEMA published, until the
                                        table's next TABLE_MAP checks them (col_desc) */
    char                ddl_pos[560]; /* its position, file:pos */
    col_tablemap_t      cat;         /* the catalog as read at the table's last DDL, owned:
                                        the next TABLE_MAP's hints come from it, not from
                                        one more information_schema read */
    int                 has_cat;
    col_my_dflts_t      dflts;       /* defaults of added columns not published yet */
    sl_record_t        *last;        /* a copy of the SCHEMA last published for the name,
                                        owned (NULL: none since the start): what a table
                                        renamed away takes to its new name (rename_schema) */
    struct sig_entry_s *next;
} sig_entry_t;

struct col_my_schema_s {
    MYSQL                  *meta;
    const col_conf_t       *conf;
    const col_filter_t     *filter;
    const col_my_server_t  *srv;
    tm_entry_t             *tm[TM_BUCKETS];
    size_t                  ntm;
    sig_entry_t            *sig[SIG_BUCKETS];
    sl_buf_t                buf;
    int                     warned_labels;
};

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

static void tm_entry_free(tm_entry_t *e)
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
            tm_entry_free(e);
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

static sig_entry_t *sig_get(col_my_schema_t *s, const char *db, const char *table, int create)
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
static sl_err_t keep_last(sig_entry_t *sg, const sl_record_t *rec)
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
static sl_err_t ddl_keep(col_my_schema_t *s, const sl_schema_t *sc, const char *file,
                         uint64_t pos)
{
    sig_entry_t *sg = sig_get(s, sc->db, sc->table, 1);
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
static void apply_information_schema(col_my_schema_t *s, tm_entry_t *e)
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
    sig_entry_t *sg = sig_get(s, tm->db, tm->table, 0);
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
        apply_information_schema(s, e);
        if (!e->t.tm.has_labels && !s->warned_labels) {
            s->warned_labels = 1;
            sl_warn("table %s.%s: ENUM/SET labels are not in the binlog "
                    "(binlog_row_metadata = FULL gives them): values arrive as indexes",
                    e->t.tm.db, e->t.tm.table);
        }
        if ((err = col_mysql_schema_from_tablemap(&e->t.tm, source, rec, errstr,
                                                  errstr_size))) {
            tm_entry_free(e);
            return err;
        }
        e->t.schema_id = schema_fingerprint(&s->buf, &rec->u.schema);
        sig_entry_t *sg = sig_get(s, e->t.tm.db, e->t.tm.table, 1);
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
                tm_entry_free(e);
                snprintf(errstr, errstr_size, "out of memory");
                return SL_ERR_NOMEM;
            }
        }
        if (*emit && sg && (col_my_dflts_fill(&sg->dflts, sg->last, rec) ||
                            keep_last(sg, rec))) {
            tm_entry_free(e);
            snprintf(errstr, errstr_size, "out of memory");
            return SL_ERR_NOMEM;
        }
    }
    /* replace an older map of the same id */
    for (tm_entry_t **q = pp; *q; q = &(*q)->next) {
        if ((*q)->t.tm.table_id == id) {
            tm_entry_t *old = *q;
            *q = old->next;
            tm_entry_free(old);
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

/* One DDL SCHEMA record: the table's definition in the catalog now, made
 * into a table map and from there into a SCHEMA exactly as at a TABLE_MAP
 * (mysql_catalog.c), so the two agree. SL_ERR_UNSUPPORTED when a column's
 * type is unknown here: the binlog's TABLE_MAP must describe the table. */
static sl_err_t ddl_schema(col_my_schema_t *s, const char *db, const char *tb,
                           const char *source, sl_record_t *rec, char *errstr,
                           size_t errstr_size)
{
    col_tablemap_t cat;
    sl_err_t err = col_my_catalog_table(s->meta, s->srv->is_mariadb, 1, db, tb, &cat, errstr,
                                        errstr_size);
    if (err == SL_ERR_UNSUPPORTED)
        col_mysql_tablemap_free(&cat);
    if (err)
        return err;
    err = col_mysql_schema_from_tablemap(&cat, source, rec, errstr, errstr_size);
    sig_entry_t *sg = err ? NULL : sig_get(s, db, tb, 1);
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
        apply_information_schema(s, e);
        err = col_mysql_schema_from_tablemap(&e->t.tm, source, rec, errstr, errstr_size);
    } else {
        memset(&e->t.tm, 0, sizeof(e->t.tm));
    }
    tm_entry_free(e);
    return err;
}

/* DDL text for a SCHEMA record: the deferred ones of the table first. */
static char *ddl_text(col_my_schema_t *s, sig_entry_t *sg, const char *sql, size_t len,
                      sl_record_t *rec)
{
    if (!sg || !sg->pending)
        return sl_record_memdup(rec, sql, len);
    sl_buf_reset(&s->buf);
    sl_buf_puts(&s->buf, sg->pending);
    sl_buf_puts(&s->buf, ";\n");
    sl_buf_append(&s->buf, sql, len);
    free(sg->pending);
    sg->pending = NULL;
    return sl_record_memdup(rec, s->buf.data, s->buf.len);
}

sl_err_t col_my_schema_ddl(col_my_schema_t *s, const char *default_db, const char *sql,
                           size_t len, const char *file, uint64_t start_pos, uint64_t end_pos,
                           const char *source,
                           sl_record_t **recs, int max, int *n, int *deferred, int *is_ddl,
                           char *errstr, size_t errstr_size)
{
    col_my_ddl_target_t t[COL_MY_DDL_MAX];
    char dropdb[256];
    *n = 0;
    *deferred = 0;
    int nt = col_my_ddl_parse(default_db, sql, len, t, COL_MY_DDL_MAX, is_ddl, dropdb,
                              sizeof(dropdb));
    for (int i = 0; i < nt && *n < max; i++) {
        sig_entry_t *sg = sig_get(s, t[i].db, t[i].tb, 0);
        if (sg)
            sg->schema_id = 0;           /* the next table map publishes again */
        tm_forget(s, t[i].db, t[i].tb);
        if (!col_filter_match(s->filter, t[i].db, t[i].tb))
            continue;
        sl_record_t *rec = recs[*n];
        sl_err_t err;
        if (t[i].gone) {
            sig_entry_t *gs = sig_get(s, t[i].db, t[i].tb, 0);
            if (gs && gs->has_cat) {     /* a later table of that name is another one */
                col_mysql_tablemap_free(&gs->cat);
                gs->has_cat = 0;
            }
            if (gs && gs->dflts.n) {
                /* renamed away: the defaults not published yet go with the new name */
                sig_entry_t *ns = NULL;
                for (int j = i + 1; j < nt && !ns; j++)
                    if (t[j].from == i + 1 && !(ns = sig_get(s, t[j].db, t[j].tb, 1)))
                        return SL_ERR_NOMEM;
                if (ns) {
                    col_my_dflts_clear(&ns->dflts);
                    ns->dflts = gs->dflts;
                    memset(&gs->dflts, 0, sizeof(gs->dflts));
                }
                col_my_dflts_clear(&gs->dflts);
            }
            /* exact whatever the catalog says now: no columns */
            if ((err = sl_record_init_schema(rec, source, t[i].db, t[i].tb, 0))) {
                snprintf(errstr, errstr_size, "out of memory");
                return err;
            }
        } else {
            int later = 0;
            const char *why_later = "changed again by a later DDL before any row";
            if (nt == 1) {
                if (!sg && !(sg = sig_get(s, t[i].db, t[i].tb, 1)))
                    return SL_ERR_NOMEM;
                col_my_dflts_note(&sg->dflts, sql, len);
            }
            char mfile[512];
            uint64_t mpos = 0;
            err = ddl_schema(s, t[i].db, t[i].tb, source, rec, errstr, errstr_size);
            if (err == SL_ERR_UNSUPPORTED) {
                /* the catalog has a type we cannot describe as the binlog does:
                 * the table's next TABLE_MAP gives the definition */
                sl_info("DDL on %s.%s at %s:%" PRIu64 ": %s", t[i].db, t[i].tb, file,
                        start_pos, errstr);
                later = 1;
                why_later = "a column type unknown to information_schema mapping";
            } else if (err) {
                return err;
            } else if ((err = col_my_ddl_ahead(s->meta, file, end_pos, t[i].db, t[i].tb,
                                               &later, mfile, sizeof(mfile), &mpos, errstr,
                                               errstr_size))) {
                /* The catalog shows the table as of now: the definition at this
                 * DDL only if no later DDL on it is in the binlog yet. Else the
                 * binlog's own: the table's first TABLE_MAP before that DDL. */
                return err;
            }
            if (later && mpos) {
                char why[512];
                sl_record_reset(rec);
                err = schema_from_past_map(s, mfile, mpos, source, rec, why, sizeof(why));
                if (err == SL_ERR_DB) {
                    snprintf(errstr, errstr_size, "%s", why);
                    return err;
                }
                if (err) {
                    sl_warn("DDL on %s.%s at %s:%" PRIu64 ": the table's next TABLE_MAP at "
                            "%s:%" PRIu64 " could not be read (%s): its SCHEMA comes with "
                            "that TABLE_MAP", t[i].db, t[i].tb, file, end_pos, mfile, mpos,
                            why);
                    sl_record_reset(rec);
                } else {
                    sl_debug("DDL on %s.%s at %s:%" PRIu64 ": a later DDL changed it again; "
                             "columns from its TABLE_MAP at %s:%" PRIu64, t[i].db, t[i].tb,
                             file, end_pos, mfile, mpos);
                    later = 0;
                }
            }
            if (t[i].from && (later || !rec->u.schema.ncols)) {
                /* The new name of a rename whose definition at the rename is not
                 * known (changed again before any row of it; or, in a chain like
                 * a TO tmp, b TO a, tmp TO b, never in the catalog at all). The
                 * appliers rename their table only at the pair "renamed away" +
                 * the new name's SCHEMA at the same position: a deferred one would
                 * leave the rows under the old name, and a table created again
                 * under it would inherit them. The new name gets the columns last
                 * published for the old one, exact for a plain rename; where they
                 * are not (ALTER TABLE a ADD c, RENAME TO b; the old name's own
                 * last DDL deferred) the new name's next SCHEMA, which comes
                 * before any row of it, carries the exact ones. Failing those,
                 * the catalog's (now) columns, likewise put right before any row. */
                const sig_entry_t *fs = sig_get(s, t[t[i].from - 1].db, t[t[i].from - 1].tb, 0);
                if (fs && fs->last && fs->last->u.schema.ncols) {
                    if ((err = col_my_schema_copy(rec, fs->last, t[i].db, t[i].tb))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return err;
                    }
                    later = 0;
                } else if (rec->type == SL_REC_SCHEMA && rec->u.schema.ncols) {
                    later = 0;
                }
                if (!later) {
                    sl_info("DDL on %s.%s at %s:%" PRIu64 ": renamed from %s.%s, its "
                            "definition at the rename never reached the binlog: its SCHEMA "
                            "has the columns %s", t[i].db, t[i].tb, file, start_pos,
                            t[t[i].from - 1].db, t[t[i].from - 1].tb,
                            fs && fs->last && fs->last->u.schema.ncols
                                ? "last published for the old name"
                                : "of the catalog now");
                    if (sg)
                        sl_buf_reset(&sg->ddl_cols);  /* no disagreement to report */
                    rec->u.schema.ddl = ddl_text(s, sg, sql, len, rec);
                    if (!rec->u.schema.ddl) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return SL_ERR_NOMEM;
                    }
                    (*n)++;
                    continue;
                }
            }
            char drops[COL_MY_DDL_MAX][256], tos[COL_MY_DDL_MAX][256];
            int nd, nr = -1;
            const char *what = NULL;
            if (later && !t[i].from && sg && sg->last && sg->last->u.schema.ncols) {
                if ((nd = col_my_ddl_dropped_cols(sql, len, drops, COL_MY_DDL_MAX)) > 0 &&
                    col_my_schema_without(sg->last, drops, nd, t[i].db, t[i].tb, rec) == SL_OK)
                    what = "drops columns: its SCHEMA is the last one without them";
                else if ((nr = col_my_ddl_renamed_cols(sql, len, drops, tos,
                                                       COL_MY_DDL_MAX)) > 0 &&
                         col_my_schema_renamed(sg->last, drops, tos, nr, t[i].db, t[i].tb,
                                        rec) == SL_OK)
                    what = "renames columns: its SCHEMA is the last one with the new names";
            }
            if (what) {
                /* An ALTER that only drops or only renames columns, changed again
                 * before any row: its definition is the last one without them /
                 * with the new names. Folded into the next SCHEMA, a column
                 * dropped and added again under the same name (DROP COLUMN c;
                 * ADD COLUMN c) would look unchanged, a column renamed and one
                 * added under the old name (RENAME COLUMN a TO b; ADD COLUMN a)
                 * would read as b added, and the targets would keep the old
                 * values under the wrong column. (Its text folds the deferred
                 * ones before it; their columns come with the next SCHEMA,
                 * before any row.) */
                sl_info("DDL on %s.%s at %s:%" PRIu64 ": changed again by a later DDL before "
                        "any row; it only %s", t[i].db, t[i].tb, file, start_pos, what);
                sl_buf_reset(&sg->ddl_cols);
                rec->u.schema.ddl = ddl_text(s, sg, sql, len, rec);
                if (!rec->u.schema.ddl) {
                    snprintf(errstr, errstr_size, "out of memory");
                    return SL_ERR_NOMEM;
                }
                (*n)++;
                continue;
            }
            if (later) {
                if (!sg && !(sg = sig_get(s, t[i].db, t[i].tb, 1)))
                    return SL_ERR_NOMEM;
                sl_buf_reset(&s->buf);
                if (sg->pending) {
                    sl_buf_puts(&s->buf, sg->pending);
                    sl_buf_puts(&s->buf, ";\n");
                }
                sl_buf_append(&s->buf, sql, len);
                free(sg->pending);
                if (!(sg->pending = strdup(s->buf.data)))
                    return SL_ERR_NOMEM;
                sl_info("DDL on %s.%s at %s:%" PRIu64 ": %s: its text goes with the table's "
                        "next SCHEMA", t[i].db, t[i].tb, file, start_pos, why_later);
                sl_record_reset(rec);
                (*deferred)++;
                continue;
            }
        }
        rec->u.schema.ddl = ddl_text(s, sg, sql, len, rec);
        if (!rec->u.schema.ddl) {
            snprintf(errstr, errstr_size, "out of memory");
            return SL_ERR_NOMEM;
        }
        if (!t[i].gone && (err = ddl_keep(s, &rec->u.schema, file, start_pos)))
            return err;
        (*n)++;
    }
    /* after the loop: a new name above took the old name's columns as they
     * were before this statement */
    for (int k = 0; k < *n; k++) {
        sig_entry_t *sg = sig_get(s, recs[k]->u.schema.db, recs[k]->u.schema.table, 1);
        if (!sg || col_my_dflts_fill(&sg->dflts, sg->last, recs[k]) || keep_last(sg, recs[k])) {
            snprintf(errstr, errstr_size, "out of memory");
            return SL_ERR_NOMEM;
        }
    }
    return SL_OK;
}

/* ------------------------------------------------------------ snapshots */

sl_err_t col_my_schema_snapshot(col_my_schema_t *s, const char *db, const char *tb,
                                const char *source, sl_record_t *rec, int *emit,
                                uint64_t *schema_id, char *errstr, size_t errstr_size)
{
    col_tablemap_t cat;
    *emit = 0;
    /* the catalog, as a DDL's SCHEMA is built: the same view as a TABLE_MAP's,
     * so the fingerprint matches the one the stream published for the same
     * definition and nothing is published twice */
    sl_err_t err = col_my_catalog_table(s->meta, s->srv->is_mariadb, 1, db, tb, &cat, errstr,
                                        errstr_size);
    if (err == SL_ERR_UNSUPPORTED)
        col_mysql_tablemap_free(&cat);
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
    sig_entry_t *sg = sig_get(s, db, tb, 1);
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
