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
 * the table's next SCHEMA.
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

/* Type hints, legacy fsp, and (without binlog_row_metadata = FULL) names and
 * signedness, from information_schema.COLUMNS. */
static void apply_information_schema(col_my_schema_t *s, tm_entry_t *e)
{
    col_tablemap_t *tm = &e->t.tm;
    int need = !tm->has_names || !tm->has_signedness;
    for (uint32_t i = 0; i < tm->ncols && !need; i++) {
        const col_mysql_column_t *c = &tm->cols[i];
        if ((s->srv->is_mariadb && c->real_type == COL_MYSQL_T_STRING &&
             (c->length == 16 || c->length == 4)) ||
            c->type == COL_MYSQL_T_TIME || c->type == COL_MYSQL_T_DATETIME ||
            c->type == COL_MYSQL_T_TIMESTAMP)
            need = 1;
    }
    if (!need || !s->meta)
        return;
    char q[1400], db[520], tb[520], err[600];
    mysql_real_escape_string(s->meta, db, tm->db, (unsigned long)strnlen(tm->db, 256));
    mysql_real_escape_string(s->meta, tb, tm->table, (unsigned long)strnlen(tm->table, 256));
    snprintf(q, sizeof(q),
             "SELECT ORDINAL_POSITION, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, "
             "IFNULL(DATETIME_PRECISION, 0) FROM information_schema.COLUMNS "
             "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'", db, tb);
    MYSQL_RES *r = col_my_query(s->meta, q, err, sizeof(err));
    if (!r) {
        sl_warn("table %s.%s: information_schema look-up failed: %s", tm->db, tm->table, err);
        return;
    }
    if (!tm->has_names && !e->names)
        e->names = calloc(tm->ncols ? tm->ncols : 1, sizeof(char *));
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r))) {
        if (!row[0] || !row[1] || !row[2] || !row[3])
            continue;
        uint32_t i = (uint32_t)strtoul(row[0], NULL, 10) - 1;
        if (i >= tm->ncols)
            continue;
        col_mysql_column_t *c = &tm->cols[i];
        if (!strcmp(row[2], "inet6"))
            col_mysql_tablemap_set_hint(tm, i, COL_MYSQL_HINT_INET6);
        else if (!strcmp(row[2], "inet4"))
            col_mysql_tablemap_set_hint(tm, i, COL_MYSQL_HINT_INET4);
        else if (!strcmp(row[2], "uuid"))
            col_mysql_tablemap_set_hint(tm, i, COL_MYSQL_HINT_UUID);
        else if (c->type == COL_MYSQL_T_TIME || c->type == COL_MYSQL_T_DATETIME ||
                 c->type == COL_MYSQL_T_TIMESTAMP)
            col_mysql_tablemap_set_fsp(tm, i, (unsigned)atoi(row[4] ? row[4] : "0"));
        if (!tm->has_signedness && strstr(row[3], "unsigned"))
            c->is_unsigned = 1;
        if (e->names && !e->names[i] && (e->names[i] = strdup(row[1]))) {
            c->name = e->names[i];
            tm->names[i] = e->names[i];
        }
    }
    mysql_free_result(r);
}

sl_err_t col_my_schema_table_map(col_my_schema_t *s, const uint8_t *body, size_t len,
                                 const char *source, col_my_table_t **out, int *emit,
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

/* ENUM/SET labels from an information_schema COLUMN_TYPE such as
 * enum('a','it''s','c,d'): quoted, a quote inside doubled. */
static sl_err_t column_type_labels(sl_record_t *rec, sl_column_t *c, const char *ct)
{
    const char *p = strchr(ct, '(');
    if (!p || (strncmp(ct, "enum", 4) && strncmp(ct, "set", 3)))
        return SL_OK;
    uint32_t cap = 0;
    for (const char *q = p; *q; q++)
        cap += *q == ',';
    cap++;
    c->labels = sl_record_alloc(rec, cap * sizeof(*c->labels));
    char *buf = sl_record_alloc(rec, strlen(ct) + 1);
    if (!c->labels || !buf)
        return SL_ERR_NOMEM;
    p++;
    while (*p == '\'' && c->nlabels < cap) {
        char *out = buf;
        p++;
        for (;;) {
            if (!*p)
                return SL_OK;            /* malformed: keep what was read */
            if (*p == '\'' && p[1] == '\'') {
                *out++ = '\'';
                p += 2;
            } else if (*p == '\'') {
                p++;
                break;
            } else {
                *out++ = *p++;
            }
        }
        *out++ = '\0';
        c->labels[c->nlabels++] = buf;
        buf = out;
        if (*p == ',')
            p++;
    }
    return SL_OK;
}

/* One DDL SCHEMA record: columns from information_schema now. */
static sl_err_t ddl_schema(col_my_schema_t *s, const char *db, const char *tb,
                           const char *source, sl_record_t *rec, char *errstr,
                           size_t errstr_size)
{
    char q[1400], edb[520], etb[520];
    mysql_real_escape_string(s->meta, edb, db, (unsigned long)strnlen(db, 256));
    mysql_real_escape_string(s->meta, etb, tb, (unsigned long)strnlen(tb, 256));
    snprintf(q, sizeof(q),
             "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, "
             "IFNULL(NUMERIC_PRECISION, IFNULL(DATETIME_PRECISION, "
             "IFNULL(CHARACTER_MAXIMUM_LENGTH, -1))), IFNULL(NUMERIC_SCALE, -1), "
             "CHARACTER_SET_NAME, COLUMN_KEY FROM information_schema.COLUMNS "
             "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' ORDER BY ORDINAL_POSITION",
             edb, etb);
    MYSQL_RES *r = col_my_query(s->meta, q, errstr, errstr_size);
    if (!r)
        return SL_ERR_DB;
    uint32_t n = (uint32_t)mysql_num_rows(r);
    sl_err_t err = sl_record_init_schema(rec, source, db, tb, n);
    if (err) {
        mysql_free_result(r);
        snprintf(errstr, errstr_size, "out of memory");
        return err;
    }
    MYSQL_ROW row;
    uint32_t i = 0, pk = 0;
    while ((row = mysql_fetch_row(r)) && i < n) {
        sl_column_t *c = &rec->u.schema.cols[i++];
        const char *dt = row[1] ? row[1] : "", *ct = row[2] ? row[2] : "";
        c->name = sl_record_strdup(rec, row[0] ? row[0] : "");
        c->source_type = sl_record_strdup(rec, ct);
        /* integer display widths ("int(11)") are not in the binlog: drop them, so the
         * type reads as in the SCHEMA of the table's next TABLE_MAP ("int unsigned");
         * except where they mean something: tinyint(1) (BOOL) and ZEROFILL */
        char *w = c->source_type && strstr(dt, "int") && !strstr(ct, "zerofill") &&
                  strcmp(ct, "tinyint(1)") ? strchr(c->source_type, '(') : NULL;
        if (w && w[strspn(w + 1, "0123456789") + 1] == ')')
            memmove(w, w + strspn(w + 1, "0123456789") + 2,
                    strlen(w + strspn(w + 1, "0123456789") + 2) + 1);
        c->nullable = row[3] && !strcmp(row[3], "YES");
        c->precision = row[4] ? atoi(row[4]) : -1;
        c->scale = row[5] ? atoi(row[5]) : -1;
        c->charset = row[6] ? sl_record_strdup(rec, row[6]) : NULL;
        c->pk = row[7] && !strcmp(row[7], "PRI") ? (int)++pk : 0;
        if ((err = column_type_labels(rec, c, ct))) {
            mysql_free_result(r);
            snprintf(errstr, errstr_size, "out of memory");
            return err;
        }
        int uns = strstr(ct, "unsigned") != NULL;
        if (strstr(dt, "int") || !strcmp(dt, "year"))
            c->kind = !strcmp(dt, "bigint") && uns ? SL_VAL_UINT : SL_VAL_INT;
        else if (!strcmp(dt, "decimal"))
            c->kind = SL_VAL_DECIMAL;
        else if (!strcmp(dt, "float"))
            c->kind = SL_VAL_FLOAT;
        else if (!strcmp(dt, "double"))
            c->kind = SL_VAL_DOUBLE;
        else if (!strcmp(dt, "date") || !strcmp(dt, "time") || !strcmp(dt, "datetime") ||
                 !strcmp(dt, "timestamp"))
            c->kind = SL_VAL_TEMPORAL;
        else if (!strcmp(dt, "bit"))
            c->kind = SL_VAL_BIT;
        else if (!strcmp(dt, "set"))
            c->kind = SL_VAL_SET;
        else if (!strcmp(dt, "inet6") || !strcmp(dt, "inet4") || !strcmp(dt, "uuid"))
            c->kind = SL_VAL_TYPED;
        else if (strstr(dt, "binary") || strstr(dt, "blob") || !strcmp(dt, "geometry") ||
                 (row[6] && !strcmp(row[6], "binary")))
            c->kind = SL_VAL_BYTES;
        else
            c->kind = SL_VAL_STRING;     /* char, varchar, text, enum, json */
    }
    mysql_free_result(r);
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
                           size_t len, const char *file, uint64_t end_pos, const char *source,
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
            /* exact whatever the catalog says now: no columns */
            if ((err = sl_record_init_schema(rec, source, t[i].db, t[i].tb, 0))) {
                snprintf(errstr, errstr_size, "out of memory");
                return err;
            }
        } else {
            if ((err = ddl_schema(s, t[i].db, t[i].tb, source, rec, errstr, errstr_size)))
                return err;
            /* The catalog shows the table as of now: the definition at this
             * DDL only if no later DDL on it is in the binlog yet. Else the
             * binlog's own: the table's first TABLE_MAP before that DDL. */
            int later = 0;
            char mfile[512];
            uint64_t mpos = 0;
            if ((err = col_my_ddl_ahead(s->meta, file, end_pos, t[i].db, t[i].tb, &later,
                                        mfile, sizeof(mfile), &mpos, errstr, errstr_size)))
                return err;
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
                sl_info("DDL on %s.%s at %s:%" PRIu64 ": changed again by a later DDL before "
                        "any row: its text goes with the table's next SCHEMA", t[i].db,
                        t[i].tb, file, end_pos);
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
        (*n)++;
    }
    return SL_OK;
}
