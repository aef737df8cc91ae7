/* shiftlog validate: the MariaDB/MySQL engine (validate.h). Every row is
 * hashed on the server: CAST(CONV(SUBSTR(MD5(CONCAT(<each column's part of
 * the row text, put_token>)), 1, 16), 16, 10) AS UNSIGNED), and a range's
 * checksum is COUNT(*) and BIT_XOR of that, so no row crosses the network to be
 * compared; only the rows of a small differing range do, as (key, hash).
 *
 * Key ranges are keyset predicates on the key columns themselves, which the
 * optimizer turns into an index range: k1 > a1 OR (k1 = a1 AND k2 > a2) ...
 * (never OFFSET). A text key is compared by its UTF-8 bytes
 * (CAST(CONVERT(k USING utf8mb4) AS BINARY), whatever its charset), the
 * order PostgreSQL (COLLATE "C") and MongoDB (_id) are asked for too, unless
 * its collation already is (binary, utf8*_nopad_bin): that predicate cannot use
 * the index, so such chunks are scanned (docs/validate.md). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "sl_keyset.h"
#include "sl_myconn.h"
#include "sl_name.h"
#include "validate.h"

typedef struct vmy_s {
    val_sqle_t         sql;                  /* first: the shared steps' part (validate_sql.c) */
    MYSQL             *m;
    char               db[256], tb[256];
    const val_table_t *t;
    char              *kexpr[VAL_MAX_KEY];   /* a key column's canonical text */
    char              *korder[VAL_MAX_KEY];  /* what the key is ordered and compared by */
    int                kbin[VAL_MAX_KEY];    /* literal as X'..' (byte-wise order) */
    MYSQL_ROW          row;                  /* the current row of a result */
} vmy_t;

/* ------------------------------------------------------------ helpers */

static sl_err_t fail(vmy_t *s, const char *what, char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "MariaDB %s.%s: %s: %s", s->db, s->tb, what,
             mysql_error(s->m));
    return SL_ERR_DB;
}

static sl_err_t put_ident(sl_buf_t *b, const char *name)
{
    sl_err_t err = sl_buf_putc(b, '`');
    for (const char *p = name; !err && *p; p++)
        err = *p == '`' ? sl_buf_puts(b, "``") : sl_buf_putc(b, *p);
    return err ? err : sl_buf_putc(b, '`');
}

static sl_err_t put_table(vmy_t *s, sl_buf_t *b)
{
    sl_err_t err = put_ident(b, s->db);
    if (!err)
        err = sl_buf_putc(b, '.');
    return err ? err : put_ident(b, s->tb);
}

static sl_err_t put_hex(sl_buf_t *b, const char *p, size_t n)
{
    sl_err_t err = SL_OK;
    for (size_t i = 0; !err && i < n; i++)
        err = sl_buf_printf(b, "%02X", (unsigned char)p[i]);
    return err;
}

/* A quoted string literal (the canonical text of a number or a date). */
static sl_err_t put_quoted(vmy_t *s, sl_buf_t *b, const char *v)
{
    size_t n = strlen(v);
    char *e = malloc(2 * n + 1);
    if (!e)
        return SL_ERR_NOMEM;
    mysql_real_escape_string(s->m, e, v, (unsigned long)n);
    sl_err_t err = sl_buf_printf(b, "'%s'", e);
    free(e);
    return err;
}

/* The literal of canonical key text v of key column i. */
static sl_err_t put_literal(vmy_t *s, sl_buf_t *b, uint32_t i, const char *v)
{
    const val_col_t *c = &s->t->cols[s->t->key[i]];
    if (c->kind == VK_BYTES) {
        /* canonical hex is the bytes already */
        for (const char *p = v; *p; p++)
            if (!isxdigit((unsigned char)*p))
                return SL_ERR_INVALID;
        return sl_buf_printf(b, "X'%s'", *v ? v : "");
    }
    if (s->kbin[i]) {
        sl_err_t err = sl_buf_puts(b, *v ? "X'" : "''");
        if (!err && *v)
            err = put_hex(b, v, strlen(v));
        return err || !*v ? err : sl_buf_putc(b, '\'');
    }
    return put_quoted(s, b, v);
}

/* The keyset builder's values (sl_keyset.h): literals of the bounds. */
typedef struct bounds_s {
    vmy_t       *s;
    char *const *v[2];   /* after, upto */
} bounds_t;

static sl_err_t put_bound(void *ctx, sl_buf_t *b, int bound, uint32_t i, uint32_t seq)
{
    bounds_t *x = ctx;
    (void)seq;
    return put_literal(x->s, b, i, x->v[bound][i]);
}

/* " WHERE " (after, upto] on the key's order expressions, expanded column
 * by column (validate_sql.c's where). */
static sl_err_t put_where(vmy_t *s, sl_buf_t *b, char *const *after, char *const *upto)
{
    bounds_t x = {s, {after, upto}};
    sl_keyset_t k = {SL_KEYSET_MARIADB, s->t->nkey, NULL, (const char *const *)s->korder,
                     put_bound, &x, 0};
    return sl_keyset_where(&k, b, after != NULL, upto != NULL, NULL);
}

/* ------------------------------------------------------------ describe */

static val_kind_t kind_of(const char *dt)
{
    static const struct { const char *t; val_kind_t k; } map[] = {
        {"tinyint", VK_INT}, {"smallint", VK_INT}, {"mediumint", VK_INT}, {"int", VK_INT},
        {"bigint", VK_INT}, {"year", VK_INT}, {"decimal", VK_DEC}, {"float", VK_FLOAT},
        {"double", VK_FLOAT}, {"date", VK_DATE}, {"datetime", VK_DATETIME},
        {"timestamp", VK_DATETIME}, {"time", VK_TIME}, {"set", VK_SET}, {"bit", VK_BIT},
        {"binary", VK_BYTES}, {"varbinary", VK_BYTES}, {"tinyblob", VK_BYTES},
        {"blob", VK_BYTES}, {"mediumblob", VK_BYTES}, {"longblob", VK_BYTES},
        {"geometry", VK_BYTES}, {"point", VK_BYTES}, {"linestring", VK_BYTES},
        {"polygon", VK_BYTES}, {"multipoint", VK_BYTES}, {"multilinestring", VK_BYTES},
        {"multipolygon", VK_BYTES}, {"geometrycollection", VK_BYTES}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(dt, map[i].t))
            return map[i].k;
    return VK_TEXT;
}

/* COLUMNS of db.tb: name, data type, precision (BIT), collation. */
static MYSQL_RES *columns(vmy_t *s, char *errstr, size_t errstr_size)
{
    char edb[520], etb[520], q[1400];
    mysql_real_escape_string(s->m, edb, s->db, (unsigned long)strlen(s->db));
    mysql_real_escape_string(s->m, etb, s->tb, (unsigned long)strlen(s->tb));
    snprintf(q, sizeof q, "SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, COLLATION_NAME "
             "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' "
             "ORDER BY ORDINAL_POSITION", edb, etb);
    if (mysql_query(s->m, q)) {
        fail(s, "reading its columns", errstr, errstr_size);
        return NULL;
    }
    MYSQL_RES *r = mysql_store_result(s->m);
    if (!r)
        fail(s, "reading its columns", errstr, errstr_size);
    else if (!mysql_num_rows(r)) {
        snprintf(errstr, errstr_size, "MariaDB table %s.%s does not exist", s->db, s->tb);
        mysql_free_result(r);
        r = NULL;
    }
    return r;
}

static sl_err_t set_table(vmy_t *s, const char *table, char *errstr, size_t errstr_size)
{
    if (sl_name_parse(table, s->db, sizeof s->db, s->tb, sizeof s->tb)) {
        snprintf(errstr, errstr_size, "MariaDB table \"%s\" is not db.table", table);
        return SL_ERR_INVALID;
    }
    return SL_OK;
}

static sl_err_t my_describe(void *ctx, const char *table, val_table_t *t, char *errstr,
                            size_t errstr_size)
{
    vmy_t *s = ctx;
    sl_err_t err = set_table(s, table, errstr, errstr_size);
    MYSQL_RES *r = NULL;
    MYSQL_ROW row;
    memset(t, 0, sizeof *t);
    if (err || !(r = columns(s, errstr, errstr_size)))
        return err ? err : SL_ERR_NOT_FOUND;
    if (!(t->cols = calloc(mysql_num_rows(r), sizeof *t->cols)))
        goto nomem;
    while ((row = mysql_fetch_row(r))) {
        val_col_t *c = &t->cols[t->ncols];
        if (!(c->name = strdup(row[0])))
            goto nomem;
        t->ncols++;
        c->kind = kind_of(row[1]);
        c->bits = row[2] ? atoi(row[2]) : 0;
    }
    mysql_free_result(r);
    /* the key: PRIMARY, else the first unique index of NOT NULL columns */
    char edb[520], etb[520], q[1400];
    mysql_real_escape_string(s->m, edb, s->db, (unsigned long)strlen(s->db));
    mysql_real_escape_string(s->m, etb, s->tb, (unsigned long)strlen(s->tb));
    snprintf(q, sizeof q, "SELECT INDEX_NAME, COLUMN_NAME, NULLABLE FROM "
             "information_schema.STATISTICS WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' "
             "AND NON_UNIQUE = 0 ORDER BY INDEX_NAME <> 'PRIMARY', BINARY INDEX_NAME, "
             "SEQ_IN_INDEX", edb, etb);
    if (mysql_query(s->m, q) || !(r = mysql_store_result(s->m)))
        return fail(s, "reading its keys", errstr, errstr_size);
    char cur[256] = "";
    int ok = 0;
    while ((row = mysql_fetch_row(r))) {
        if (strcmp(cur, row[0])) {
            if (ok && t->nkey)
                break;
            snprintf(cur, sizeof cur, "%s", row[0]);
            ok = 1;
            t->nkey = 0;
        }
        uint32_t i;
        for (i = 0; i < t->ncols && strcmp(t->cols[i].name, row[1]); i++)
            ;
        if (i == t->ncols || (row[2] && row[2][0]) || t->nkey == VAL_MAX_KEY)
            ok = 0;
        else
            t->key[t->nkey++] = i;
    }
    mysql_free_result(r);
    if (!ok || !t->nkey) {
        snprintf(errstr, errstr_size, "MariaDB table %s.%s has no primary key and no unique "
                 "key of NOT NULL columns: it cannot be compared in key ranges", s->db, s->tb);
        t->nkey = 0;
        return SL_ERR_UNSUPPORTED;
    }
    return SL_OK;
nomem:
    mysql_free_result(r);
    snprintf(errstr, errstr_size, "out of memory");
    return SL_ERR_NOMEM;
}

/* ------------------------------------------------------------ bind */

/* A FLOAT/DOUBLE's canonical text, from the value as a DOUBLE (MariaDB
 * prints a FLOAT with 6 digits; its exact value is the double's shortest
 * text, which PostgreSQL's float4::float8 and MongoDB's double give too).
 * MariaDB writes 1e-15 <= |x| < 1e-4 in fixed notation (0.0000125),
 * PostgreSQL and the canonical form in exponent notation (1.25e-5): those
 * are rewritten from the digits after the zeros. */
static sl_err_t put_float(sl_buf_t *b, const char *id)
{
    char x[400], fr[600], dg[700];
    snprintf(x, sizeof x, "CAST(CAST(%s AS DOUBLE) AS CHAR)", id);
    snprintf(fr, sizeof fr, "SUBSTR(TRIM(LEADING '-' FROM %s), 3)", x);
    snprintf(dg, sizeof dg, "TRIM(LEADING '0' FROM %s)", fr);
    return sl_buf_printf(b, "IF(TRIM(LEADING '-' FROM %1$s) LIKE '0.0000%%', CONCAT(IF(%4$s < "
                         "0, '-', ''), LEFT(%2$s, 1), IF(LENGTH(%2$s) > 1, CONCAT('.', "
                         "SUBSTR(%2$s, 2)), ''), 'e-', LENGTH(%3$s) - LENGTH(%2$s) + 1), %1$s)",
                         x, dg, fr, id);
}

/* The canonical text of column `name` of data type dt (validate.h). */
static sl_err_t put_canon(sl_buf_t *b, const char *name, const char *dt, int bits)
{
    sl_err_t err;
    sl_buf_t id = SL_BUF_INIT;
    if ((err = put_ident(&id, name)))
        return err;
    val_kind_t k = kind_of(dt);
    if (k == VK_BIT)
        err = sl_buf_printf(b, "LPAD(BIN(%s + 0), %d, '0')", id.data, bits);
    else if (k == VK_BYTES)
        err = sl_buf_printf(b, "LOWER(HEX(%s))", id.data);
    else if (k == VK_DATETIME)
        err = sl_buf_printf(b, "DATE_FORMAT(%s, '%%Y-%%m-%%d %%H:%%i:%%s.%%f')", id.data);
    else if (k == VK_FLOAT)
        err = put_float(b, id.data);
    else if (k == VK_TIME)   /* signed microseconds; TIME_TO_SEC keeps the fraction */
        err = sl_buf_printf(b, "CAST(CAST(TIME_TO_SEC(%s) * 1000000 AS SIGNED) AS CHAR)",
                            id.data);
    else
        err = sl_buf_printf(b, "CAST(%s AS CHAR)", id.data);
    sl_buf_free(&id);
    return err;
}

/* Column `name`'s part of the row text (validate.h): a text or bytes value
 * as the MD5 of its bytes, so no string longer than max_allowed_packet is
 * built (MariaDB answers NULL for one: a 9 MB blob's hex, a row's text over
 * 16 MB). An MD5 that still overflows (a latin1 text twice as long in
 * UTF-8) is NULL, and so is the row's hash: validate_sql.c reports it. */
static sl_err_t put_token(sl_buf_t *b, const char *name, const char *dt, val_kind_t k,
                          const char *canon)
{
    if (!val_kind_digested(k))
        return sl_buf_printf(b, "IFNULL(CONCAT(LENGTH(%s), ':', %s), 'N')", canon, canon);
    sl_buf_t id = SL_BUF_INIT;
    sl_err_t err = put_ident(&id, name);
    if (!err)
        err = sl_buf_printf(b, "IF(%s IS NULL, 'N', MD5(%s))", id.data,
                            kind_of(dt) == VK_BYTES ? id.data : canon);
    sl_buf_free(&id);
    return err;
}

static sl_err_t my_bind(void *ctx, const char *table, const val_table_t *t, char *errstr,
                        size_t errstr_size)
{
    vmy_t *s = ctx;
    sl_err_t err = set_table(s, table, errstr, errstr_size);
    MYSQL_RES *r = NULL;
    if (err || !(r = columns(s, errstr, errstr_size)))
        return err ? err : SL_ERR_NOT_FOUND;
    s->t = s->sql.t = t;
    uint32_t nrows = (uint32_t)mysql_num_rows(r);
    MYSQL_ROW *rows = calloc(nrows, sizeof *rows);
    sl_buf_t e = SL_BUF_INIT;
    err = SL_ERR_NOMEM;
    if (!rows)
        goto out;
    for (uint32_t i = 0; i < nrows; i++)
        rows[i] = mysql_fetch_row(r);
    sl_buf_reset(&s->sql.hash);
    if (sl_buf_puts(&s->sql.hash, "CAST(CONV(SUBSTR(MD5(CONCAT("))
        goto out;
    for (uint32_t i = 0; i < t->ncols; i++) {
        uint32_t j;
        for (j = 0; j < nrows && strcmp(rows[j][0], t->cols[i].name); j++)
            ;
        if (j == nrows)
            for (j = 0; j < nrows && strcasecmp(rows[j][0], t->cols[i].name); j++)
                ;
        if (j == nrows) {
            snprintf(errstr, errstr_size, "MariaDB table %s.%s has no column \"%s\"", s->db,
                     s->tb, t->cols[i].name);
            err = SL_ERR_NOT_FOUND;
            goto out;
        }
        sl_buf_reset(&e);
        if (put_canon(&e, rows[j][0], rows[j][1], rows[j][2] ? atoi(rows[j][2]) : 0) ||
            (i && sl_buf_puts(&s->sql.hash, ", ")) ||
            put_token(&s->sql.hash, rows[j][0], rows[j][1], t->cols[i].kind, e.data))
            goto out;
        for (uint32_t k = 0; k < t->nkey; k++) {
            if (t->key[k] != i)
                continue;
            sl_buf_t o = SL_BUF_INIT;
            const char *coll = rows[j][3];
            /* byte order of the column's own bytes is the UTF-8 order (the one
             * the bounds are written in) only for a UTF-8 charset */
            int bytewise = !coll || !strcmp(coll, "binary") ||
                           (strstr(coll, "_nopad_bin") && !strncmp(coll, "utf8", 4));
            s->kbin[k] = t->cols[i].kind == VK_TEXT && !bytewise;
            free(s->kexpr[k]);
            free(s->korder[k]);
            s->kexpr[k] = strdup(e.data);
            /* the UTF-8 bytes, as the bounds are (a latin1 'é' is E9 itself) */
            if ((s->kbin[k] && sl_buf_puts(&o, "CAST(CONVERT(")) || put_ident(&o, rows[j][0]) ||
                (s->kbin[k] && sl_buf_puts(&o, " USING utf8mb4) AS BINARY)"))) {
                sl_buf_free(&o);
                goto out;
            }
            s->korder[k] = o.data;
            if (!s->kexpr[k] || !s->korder[k])
                goto out;
        }
    }
    if (sl_buf_puts(&s->sql.hash, ")), 1, 16), 16, 10) AS UNSIGNED)"))
        goto out;
    err = SL_OK;
out:
    if (err == SL_ERR_NOMEM)
        snprintf(errstr, errstr_size, "out of memory");
    sl_buf_free(&e);
    free(rows);
    mysql_free_result(r);
    return err;
}

/* ------------------------------------------------------------ queries */

static sl_err_t sql_table(void *ctx, sl_buf_t *b)
{
    return put_table(ctx, b);
}

static sl_err_t sql_where(void *ctx, sl_buf_t *b, char *const *after, char *const *upto)
{
    return put_where(ctx, b, after, upto);
}

/* The whole result (a chunk's checksum, a key, a page of row hashes). */
static void *sql_query(void *ctx, const sl_buf_t *q, const char *what, char *errstr,
                       size_t errstr_size)
{
    vmy_t *s = ctx;
    MYSQL_RES *r = NULL;
    if (mysql_real_query(s->m, q->data, (unsigned long)q->len) ||
        !(r = mysql_store_result(s->m)))
        fail(s, what, errstr, errstr_size);
    return r;
}

static int sql_next(void *ctx, void *res)
{
    ((vmy_t *)ctx)->row = mysql_fetch_row(res);
    return ((vmy_t *)ctx)->row != NULL;
}

static const char *sql_cell(void *ctx, void *res, uint32_t i)
{
    (void)res;
    const char *v = ((vmy_t *)ctx)->row[i];
    return v ? v : "";
}

static void sql_clear(void *res)
{
    mysql_free_result(res);
}

static const val_sql_ops_t my_sql_ops = {
    "BIT_XOR(%s)",
    "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = "
    "'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', "
    "'performance_schema', 'sys') ORDER BY BINARY TABLE_SCHEMA, BINARY TABLE_NAME",
    sql_table, sql_where, sql_query, sql_next, sql_cell, sql_clear};

static void my_destroy(void *ctx)
{
    vmy_t *s = ctx;
    if (!s)
        return;
    if (s->m)
        mysql_close(s->m);
    for (int i = 0; i < VAL_MAX_KEY; i++) {
        free(s->kexpr[i]);
        free(s->korder[i]);
    }
    val_sqle_free(&s->sql);
    free(s);
}

/* ------------------------------------------------------------ open */

sl_err_t val_my_open(val_engine_t *e, const char *url, char *errstr, size_t errstr_size)
{
    char buf[4096], msg[512];
    unsigned no;
    sl_myconn_t c = {.host = "127.0.0.1", .port = 3306, .user = "root", .connect_timeout = 10};
    if (sl_myconn_url(url, &c, buf, sizeof buf)) {
        snprintf(errstr, errstr_size, "MariaDB: the URL is too long");
        return SL_ERR_INVALID;
    }
    c.database = NULL;
    vmy_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    sl_err_t err = sl_myconn_open(&c, &s->m, msg, sizeof msg, &no);
    if (err) {
        snprintf(errstr, errstr_size, "MariaDB %s:%u: %s", c.host, c.port, msg);
        my_destroy(s);
        return err == SL_ERR_NOMEM ? err : SL_ERR_DB;
    }
    /* timestamps in UTC; no sql_mode that pads CHAR */
    if (mysql_query(s->m, "SET time_zone = '+00:00', sql_mode = '', autocommit = 1")) {
        snprintf(errstr, errstr_size, "MariaDB %s:%u: %s", c.host, c.port, mysql_error(s->m));
        my_destroy(s);
        return SL_ERR_DB;
    }
    s->sql.ops = &my_sql_ops;
    s->sql.kexpr = s->kexpr;
    s->sql.korder = s->korder;
    memset(e, 0, sizeof *e);
    e->ctx = s;
    e->name = "MariaDB";
    e->describe = my_describe;
    e->bind = my_bind;
    e->boundary = val_sql_boundary;
    e->scan = val_sql_scan;
    e->checksum = val_sql_checksum;
    e->rows = val_sql_rows;
    e->list = val_sql_list;
    e->destroy = my_destroy;
    return SL_OK;
}
