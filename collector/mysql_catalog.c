/* shiftlog-collector, MySQL/MariaDB: a table's definition from
 * information_schema, described as the binlog's TABLE_MAP describes it.
 *
 * Why: a SCHEMA record is built two ways — at a DDL from the catalog, at a
 * TABLE_MAP from the binlog metadata — and an applier creates its target
 * columns from whichever comes first. Both must say the same thing (issue
 * 17: POINT read as `int`, `year(4)` vs `year`, the binary charset missing,
 * the key order lost). So the catalog is not given its own SCHEMA builder:
 * each catalog column becomes the col_mysql_column_t a TABLE_MAP with
 * binlog_row_metadata = FULL would carry (type code, byte length, collation
 * id, key position, labels), and col_mysql_schema_from_tablemap() makes the
 * record from it, as from a real TABLE_MAP. The same catalog view gives the
 * TABLE_MAP path what the binlog cannot tell (INET6/INET4/UUID, MariaDB's
 * JSON, BOOL's tinyint(1), ZEROFILL widths, legacy fsp) as hints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql_source.h"

static const struct {
    const char *name;      /* information_schema.COLUMNS.DATA_TYPE */
    uint8_t     type;      /* binlog type code */
    uint8_t     real_type; /* STRING's real type (CHAR, ENUM, SET); 0 = type */
    uint8_t     arg;       /* BLOB/TEXT pack length; GEOMETRY_TYPE code */
    uint8_t     hint;      /* col_mysql_hint_t */
} cat_types[] = {
    {"tinyint", COL_MYSQL_T_TINY, 0, 0, 0},      {"smallint", COL_MYSQL_T_SHORT, 0, 0, 0},
    {"mediumint", COL_MYSQL_T_INT24, 0, 0, 0},   {"int", COL_MYSQL_T_LONG, 0, 0, 0},
    {"integer", COL_MYSQL_T_LONG, 0, 0, 0},      {"bigint", COL_MYSQL_T_LONGLONG, 0, 0, 0},
    {"decimal", COL_MYSQL_T_NEWDECIMAL, 0, 0, 0}, {"numeric", COL_MYSQL_T_NEWDECIMAL, 0, 0, 0},
    {"float", COL_MYSQL_T_FLOAT, 0, 4, 0},       {"double", COL_MYSQL_T_DOUBLE, 0, 8, 0},
    {"bit", COL_MYSQL_T_BIT, 0, 0, 0},           {"year", COL_MYSQL_T_YEAR, 0, 0, 0},
    {"date", COL_MYSQL_T_DATE, 0, 0, 0},         {"time", COL_MYSQL_T_TIME2, 0, 0, 0},
    {"datetime", COL_MYSQL_T_DATETIME2, 0, 0, 0}, {"timestamp", COL_MYSQL_T_TIMESTAMP2, 0, 0, 0},
    {"char", COL_MYSQL_T_STRING, COL_MYSQL_T_STRING, 0, 0},
    {"binary", COL_MYSQL_T_STRING, COL_MYSQL_T_STRING, 0, 0},
    {"varchar", COL_MYSQL_T_VARCHAR, 0, 0, 0},   {"varbinary", COL_MYSQL_T_VARCHAR, 0, 0, 0},
    {"tinytext", COL_MYSQL_T_BLOB, 0, 1, 0},     {"tinyblob", COL_MYSQL_T_BLOB, 0, 1, 0},
    {"text", COL_MYSQL_T_BLOB, 0, 2, 0},         {"blob", COL_MYSQL_T_BLOB, 0, 2, 0},
    {"mediumtext", COL_MYSQL_T_BLOB, 0, 3, 0},   {"mediumblob", COL_MYSQL_T_BLOB, 0, 3, 0},
    {"longtext", COL_MYSQL_T_BLOB, 0, 4, 0},     {"longblob", COL_MYSQL_T_BLOB, 0, 4, 0},
    {"json", COL_MYSQL_T_JSON, 0, 4, 0},         /* MySQL's binary JSON */
    {"enum", COL_MYSQL_T_STRING, COL_MYSQL_T_ENUM, 0, 0},
    {"set", COL_MYSQL_T_STRING, COL_MYSQL_T_SET, 0, 0},
    {"geometry", COL_MYSQL_T_GEOMETRY, 0, 0, 0}, {"point", COL_MYSQL_T_GEOMETRY, 0, 1, 0},
    {"linestring", COL_MYSQL_T_GEOMETRY, 0, 2, 0}, {"polygon", COL_MYSQL_T_GEOMETRY, 0, 3, 0},
    {"multipoint", COL_MYSQL_T_GEOMETRY, 0, 4, 0},
    {"multilinestring", COL_MYSQL_T_GEOMETRY, 0, 5, 0},
    {"multipolygon", COL_MYSQL_T_GEOMETRY, 0, 6, 0},
    {"geometrycollection", COL_MYSQL_T_GEOMETRY, 0, 7, 0},
    {"geomcollection", COL_MYSQL_T_GEOMETRY, 0, 7, 0},  /* MySQL 8's name */
    {"inet6", COL_MYSQL_T_STRING, COL_MYSQL_T_STRING, 16, COL_MYSQL_HINT_INET6},
    {"inet4", COL_MYSQL_T_STRING, COL_MYSQL_T_STRING, 4, COL_MYSQL_HINT_INET4},
    {"uuid", COL_MYSQL_T_STRING, COL_MYSQL_T_STRING, 16, COL_MYSQL_HINT_UUID},
};

/* ENUM/SET labels of a COLUMN_TYPE such as enum('a','it''s','c,d'): quoted,
 * a quote inside doubled. 0, or -2 when out of memory. */
static int parse_labels(col_tablemap_t *tm, col_mysql_column_t *c, const char *ct)
{
    const char *p = strchr(ct, '(');
    if (!p)
        return 0;
    uint32_t cap = 1;
    for (const char *q = p; *q; q++)
        cap += *q == ',';
    char *buf = col_mysql_tablemap_alloc(tm, strlen(ct) + 1);
    c->labels = col_mysql_tablemap_alloc(tm, cap * sizeof(*c->labels));
    c->label_lens = col_mysql_tablemap_alloc(tm, cap * sizeof(*c->label_lens));
    if (!buf || !c->labels || !c->label_lens)
        return -2;
    p++;
    while (*p == '\'' && c->nlabels < cap) {
        char *out = buf;
        p++;
        for (;;) {
            if (!*p)
                return 0;                /* malformed: keep what was read */
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
        c->label_lens[c->nlabels] = (uint32_t)(out - buf);
        *out++ = '\0';
        c->labels[c->nlabels++] = buf;
        buf = out;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* COLUMN_DEFAULT (MariaDB 10.2.7+ prints it as SQL: 'it''s', 5, 1.50, NULL,
 * current_timestamp(), b'101', (1 + 2)) into c->dflt, the text of a constant
 * value: a quoted literal unquoted ('' and the backslash escapes undone) or a
 * plain number. Anything else but NULL is an expression (c->dflt_expr): a
 * value per row or per statement that no SCHEMA can carry. 0, or -2 when out
 * of memory. */
static int catalog_default(col_tablemap_t *tm, col_mysql_column_t *c, const char *d)
{
    if (!d || !strcmp(d, "NULL"))
        return 0;
    size_t n = strlen(d);
    if (n >= 2 && d[0] == '\'' && d[n - 1] == '\'') {
        char *o = col_mysql_tablemap_alloc(tm, n);
        size_t k = 0;
        if (!o)
            return -2;
        for (size_t i = 1; i + 1 < n; i++) {
            char ch = d[i];
            if (ch == '\'' && d[i + 1] == '\'' && i + 2 < n)
                i++;
            else if (ch == '\\' && i + 2 < n) {
                ch = d[++i];
                ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == 'r' ? '\r' :
                     ch == '0' ? '\0' : ch == 'Z' ? '\032' : ch;
            }
            o[k++] = ch;
        }
        o[k] = '\0';
        c->dflt = o;
        return 0;
    }
    char *end;
    if (n && strchr("-+.0123456789", d[0])) {
        (void)strtod(d, &end);
        if (!*end)
            return (c->dflt = col_mysql_tablemap_strdup(tm, d, n)) ? 0 : -2;
    }
    c->dflt_expr = 1;                     /* dflt keeps its text for the log only */
    return (c->dflt = col_mysql_tablemap_strdup(tm, d, n)) ? 0 : -2;
}

sl_err_t col_my_catalog_column(col_tablemap_t *tm, uint32_t i, const col_my_catalog_row_t *r,
                               char *why, size_t why_size)
{
    const char *dt = r->data_type ? r->data_type : "";
    const char *ct = r->column_type ? r->column_type : "";
    size_t k, n = sizeof(cat_types) / sizeof(cat_types[0]);
    if (i >= tm->ncols)
        return SL_ERR_INVALID;
    col_mysql_column_t *c = &tm->cols[i];
    memset(c, 0, sizeof(*c));
    if (!(c->name = col_mysql_tablemap_strdup(tm, r->name ? r->name : "",
                                              strlen(r->name ? r->name : ""))))
        return SL_ERR_NOMEM;
    tm->names[i] = c->name;
    c->nullable = r->nullable != 0;
    c->pk = r->pk;
    if (catalog_default(tm, c, r->column_default))
        return SL_ERR_NOMEM;
    for (k = 0; k < n && strcmp(dt, cat_types[k].name); k++)
        ;
    if (k == n) {
        /* a type this collector does not know (MariaDB 11.7's VECTOR, a plug-in type):
         * the binlog's own TABLE_MAP must describe it */
        snprintf(why, why_size, "column %s has type %s, unknown to the collector", c->name, ct);
        c->type = c->real_type = COL_MYSQL_T_NULL;
        return SL_ERR_UNSUPPORTED;
    }
    c->type = cat_types[k].type;
    c->real_type = cat_types[k].real_type ? cat_types[k].real_type : c->type;
    c->is_unsigned = strstr(ct, " unsigned") != NULL;
    /* the binary charset (BINARY, VARBINARY, BLOB, CHAR ... CHARACTER SET binary)
     * has no collation name in the catalog; the binlog says 63 */
    c->charset = r->collation_id ? r->collation_id : 63;
    switch (c->type) {
    case COL_MYSQL_T_TINY: case COL_MYSQL_T_SHORT: case COL_MYSQL_T_INT24:
    case COL_MYSQL_T_LONG: case COL_MYSQL_T_LONGLONG:
    {
        /* display widths are not in the binlog and mean nothing, except in
         * BOOL's tinyint(1) and with ZEROFILL */
        const char *w = strchr(ct, '(');
        c->zerofill = strstr(ct, "zerofill") != NULL;
        if (w && (c->zerofill || !strcmp(ct, "tinyint(1)")))
            c->display_width = (uint8_t)atoi(w + 1);
        c->charset = 0;
        break;
    }
    case COL_MYSQL_T_YEAR:
        c->is_unsigned = 1;             /* MariaDB's SIGNEDNESS counts YEAR as unsigned */
        c->charset = 0;
        break;
    case COL_MYSQL_T_FLOAT: case COL_MYSQL_T_DOUBLE:
        c->length = c->meta = cat_types[k].arg;
        c->charset = 0;
        break;
    case COL_MYSQL_T_NEWDECIMAL:
        if (r->numeric_precision < 1 || r->numeric_precision > 65 || r->numeric_scale < 0 ||
            r->numeric_scale > r->numeric_precision) {
            snprintf(why, why_size, "column %s: %s has no valid precision", c->name, ct);
            return SL_ERR_UNSUPPORTED;
        }
        c->precision = (uint8_t)r->numeric_precision;
        c->scale = (uint8_t)r->numeric_scale;
        c->charset = 0;
        break;
    case COL_MYSQL_T_BIT:
        c->length = r->numeric_precision > 0 ? (uint32_t)r->numeric_precision : 1;
        c->charset = 0;
        break;
    case COL_MYSQL_T_DATE:
        c->charset = 0;
        break;
    case COL_MYSQL_T_TIME2: case COL_MYSQL_T_DATETIME2: case COL_MYSQL_T_TIMESTAMP2:
        c->scale = (uint8_t)(r->datetime_precision > 0 && r->datetime_precision <= 6
                             ? r->datetime_precision : 0);
        c->charset = 0;
        break;
    case COL_MYSQL_T_VARCHAR:
        c->length = (uint32_t)r->octet_length;
        break;
    case COL_MYSQL_T_BLOB: case COL_MYSQL_T_JSON:
        c->length = cat_types[k].arg;
        if (r->json && c->type == COL_MYSQL_T_BLOB && c->length == 4 && c->charset != 63)
            c->hint = COL_MYSQL_HINT_JSON;
        break;
    case COL_MYSQL_T_GEOMETRY:
        c->length = 4;
        c->geometry_type = cat_types[k].arg;
        c->charset = 63;
        break;
    case COL_MYSQL_T_STRING:
        if (c->real_type == COL_MYSQL_T_ENUM || c->real_type == COL_MYSQL_T_SET) {
            if (parse_labels(tm, c, ct))
                return SL_ERR_NOMEM;
            uint32_t sz = (c->nlabels + 7) / 8;
            c->length = c->real_type == COL_MYSQL_T_ENUM ? (c->nlabels < 256 ? 1 : 2)
                                                         : (sz > 4 ? 8 : sz ? sz : 1);
        } else if (cat_types[k].hint) {
            c->length = cat_types[k].arg;
            c->hint = cat_types[k].hint;
            c->charset = 63;
        } else {
            c->length = (uint32_t)r->octet_length;
        }
        break;
    default:
        break;
    }
    return SL_OK;
}

/* Collation name -> id, read once from information_schema.COLLATIONS (a
 * join with it made every column read 4x slower, and the catalog is read
 * at every DDL). Collation ids do not change while a server runs. */
typedef struct { char name[64]; uint32_t id; } coll_id_t;
static coll_id_t *coll_ids;
static size_t     ncoll_ids;

static int coll_cmp(const void *a, const void *b)
{
    return strcmp(((const coll_id_t *)a)->name, ((const coll_id_t *)b)->name);
}

static sl_err_t coll_load(MYSQL *m, char *errstr, size_t errstr_size)
{
    if (coll_ids)
        return SL_OK;
    MYSQL_RES *r = col_my_query(m, "SELECT COLLATION_NAME, ID FROM information_schema.COLLATIONS",
                                errstr, errstr_size);
    if (!r)
        return SL_ERR_DB;
    size_t n = (size_t)mysql_num_rows(r), k = 0;
    coll_id_t *c = calloc(n ? n : 1, sizeof(*c));
    MYSQL_ROW row;
    if (!c) {
        mysql_free_result(r);
        return SL_ERR_NOMEM;
    }
    while ((row = mysql_fetch_row(r)) && k < n)
        if (row[0] && row[1] && strlen(row[0]) < sizeof(c[k].name)) {
            snprintf(c[k].name, sizeof(c[k].name), "%s", row[0]);
            c[k++].id = (uint32_t)strtoul(row[1], NULL, 10);
        }
    mysql_free_result(r);
    qsort(c, k, sizeof(*c), coll_cmp);
    coll_ids = c;
    ncoll_ids = k;
    return SL_OK;
}

static uint32_t coll_id(const char *name)
{
    coll_id_t key;
    if (!name || strlen(name) >= sizeof(key.name))
        return 0;
    snprintf(key.name, sizeof(key.name), "%s", name);
    const coll_id_t *f = bsearch(&key, coll_ids, ncoll_ids, sizeof(key), coll_cmp);
    return f ? f->id : 0;
}

/* "json_valid(`name`)" for a column name (backquotes doubled). */
static void json_check_clause(const char *name, char *out, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(out, size, "json_valid(`");
    for (const char *p = name; *p && n + 4 < size; p++) {
        if (*p == '`')
            out[n++] = '`';
        out[n++] = *p;
    }
    snprintf(out + n, size - n, "`)");
}

/* Key positions: the unique index whose columns are the ones the catalog
 * marks PRI (PRIMARY, or the UNIQUE NOT NULL key the server promotes to
 * primary, as the binlog's SIMPLE_PRIMARY_KEY does), in index order. */
static sl_err_t key_order(MYSQL *m, const char *edb, const char *etb, col_tablemap_t *tm,
                          char *errstr, size_t errstr_size)
{
    char q[1400];
    uint32_t npri = 0;
    for (uint32_t i = 0; i < tm->ncols; i++)
        npri += tm->cols[i].pk != 0;
    if (npri <= 1) {                     /* none or one key column: its position is 1 */
        for (uint32_t i = 0; i < tm->ncols; i++)
            tm->cols[i].pk = tm->cols[i].pk != 0;
        return SL_OK;
    }
    snprintf(q, sizeof(q),
             "SELECT INDEX_NAME, COLUMN_NAME, SEQ_IN_INDEX FROM information_schema.STATISTICS "
             "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' AND NON_UNIQUE = 0 "
             "ORDER BY INDEX_NAME <> 'PRIMARY', INDEX_NAME, SEQ_IN_INDEX", edb, etb);
    MYSQL_RES *r = col_my_query(m, q, errstr, errstr_size);
    if (!r)
        return SL_ERR_DB;
    uint32_t *seq = calloc(tm->ncols, sizeof(*seq)), got = 0;
    char cur[200] = "";
    int ok = 1;
    MYSQL_ROW row;
    if (!seq) {
        mysql_free_result(r);
        return SL_ERR_NOMEM;
    }
    /* rows come index by index: the first index whose columns are all PRI
     * ones, npri of them, is the key */
    while ((row = mysql_fetch_row(r))) {
        if (!row[0] || !row[1] || !row[2])
            continue;
        if (strcmp(cur, row[0])) {
            if (cur[0] && ok && got == npri)
                break;
            snprintf(cur, sizeof(cur), "%s", row[0]);
            memset(seq, 0, tm->ncols * sizeof(*seq));
            ok = 1;
            got = 0;
        }
        uint32_t i;
        for (i = 0; i < tm->ncols && strcmp(tm->cols[i].name, row[1]); i++)
            ;
        if (i == tm->ncols || !tm->cols[i].pk) {
            ok = 0;
        } else {
            seq[i] = (uint32_t)strtoul(row[2], NULL, 10);
            got++;
        }
    }
    int done = cur[0] && ok && got == npri;
    mysql_free_result(r);
    if (done) {
        tm->npk = 0;
        for (uint32_t i = 0; i < tm->ncols; i++)
            if ((tm->cols[i].pk = seq[i]))
                tm->npk++;
    }
    free(seq);
    return SL_OK;
}

sl_err_t col_my_catalog_table(MYSQL *m, int is_mariadb, int key_order_too, const char *db,
                              const char *tb, col_tablemap_t *tm, char *errstr,
                              size_t errstr_size)
{
    char q[1600], edb[520], etb[520];
    sl_err_t err = SL_OK, unknown = SL_OK;
    MYSQL_ROW row;
    memset(tm, 0, sizeof(*tm));
    mysql_real_escape_string(m, edb, db, (unsigned long)strnlen(db, 256));
    mysql_real_escape_string(m, etb, tb, (unsigned long)strnlen(tb, 256));
    if ((err = coll_load(m, errstr, errstr_size)))
        return err;
    snprintf(q, sizeof(q),
             "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, "
             "IFNULL(CHARACTER_OCTET_LENGTH, 0), IFNULL(NUMERIC_PRECISION, -1), "
             "IFNULL(NUMERIC_SCALE, -1), IFNULL(DATETIME_PRECISION, -1), COLLATION_NAME, "
             "COLUMN_KEY, COLUMN_DEFAULT FROM information_schema.COLUMNS "
             "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' ORDER BY ORDINAL_POSITION",
             edb, etb);
    MYSQL_RES *r = col_my_query(m, q, errstr, errstr_size);
    if (!r)
        return SL_ERR_DB;
    if (col_mysql_tablemap_init(tm, db, tb, (uint32_t)mysql_num_rows(r))) {
        mysql_free_result(r);
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    tm->has_names = tm->has_signedness = tm->has_charsets = tm->has_labels = 1;
    for (uint32_t i = 0; (row = mysql_fetch_row(r)) && i < tm->ncols; i++) {
        col_my_catalog_row_t cr = {
            .name = row[0], .data_type = row[1], .column_type = row[2],
            .nullable = row[3] && !strcmp(row[3], "YES"),
            .octet_length = row[4] ? strtoull(row[4], NULL, 10) : 0,
            .numeric_precision = row[5] ? atoi(row[5]) : -1,
            .numeric_scale = row[6] ? atoi(row[6]) : -1,
            .datetime_precision = row[7] ? atoi(row[7]) : -1,
            .collation_id = coll_id(row[8]),
            .pk = row[9] && !strcmp(row[9], "PRI") ? i + 1 : 0,
            .column_default = row[10],
        };
        err = col_my_catalog_column(tm, i, &cr, errstr, errstr_size);
        if (err == SL_ERR_UNSUPPORTED && !unknown) {
            unknown = err;
            continue;
        }
        if (err == SL_ERR_UNSUPPORTED)
            continue;
        if (err)
            goto out;
        tm->npk += cr.pk != 0;
    }
    mysql_free_result(r);
    r = NULL;
    if (key_order_too && (err = key_order(m, edb, etb, tm, errstr, errstr_size)))
        goto out;
    /* MariaDB's JSON: a LONGTEXT with CHECK (json_valid(`col`)) at column level */
    int json_cand = 0;
    for (uint32_t i = 0; i < tm->ncols; i++)
        json_cand |= tm->cols[i].type == COL_MYSQL_T_BLOB && tm->cols[i].length == 4 &&
                     tm->cols[i].charset != 63;
    if (is_mariadb && json_cand) {
        snprintf(q, sizeof(q),
                 "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE "
                 "CONSTRAINT_SCHEMA = '%s' AND TABLE_NAME = '%s' AND LEVEL = 'Column'", edb, etb);
        if (!(r = col_my_query(m, q, errstr, errstr_size))) {
            err = SL_ERR_DB;
            goto out;
        }
        while ((row = mysql_fetch_row(r))) {
            char want[600];
            for (uint32_t i = 0; row[0] && i < tm->ncols; i++) {
                col_mysql_column_t *c = &tm->cols[i];
                if (c->type != COL_MYSQL_T_BLOB || c->length != 4 || c->charset == 63)
                    continue;
                json_check_clause(c->name, want, sizeof(want));
                if (!strcmp(row[0], want))
                    c->hint = COL_MYSQL_HINT_JSON;
            }
        }
    }
    err = unknown;
out:
    if (r)
        mysql_free_result(r);
    if (err && err != SL_ERR_UNSUPPORTED)
        col_mysql_tablemap_free(tm);
    return err;
}
