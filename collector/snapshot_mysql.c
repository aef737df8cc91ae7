/* shiftlog-collector, MySQL/MariaDB snapshot backend (col_snap_mysql_src):
 * the included tables, a table's chunks by keyset pagination, and the
 * watermark rows of the signal table, on a connection of its own.
 *
 * Values: a snapshot row must carry exactly the sl_value_t the binlog
 * decoder gives for the same row (appliers store both; the engine compares
 * the keys of snapshot rows with those of streamed changes). So no second
 * value mapping is written here: each cell is read in a form that loses
 * nothing (binary protocol: FLOAT/DOUBLE bits, integers; text the server
 * prints exactly: DECIMAL digits, temporal text in UTC; raw bytes in the
 * column's own charset, character_set_results = binary; ENUM/SET/BIT as
 * their numbers; INET6/UUID/INET4 as their 16/4 bytes), re-packed into the
 * bytes the binlog holds for that column (Field::pack format), and handed
 * to col_mysql_value_decode() with the column the catalog describes as a
 * TABLE_MAP with binlog_row_metadata = FULL would (mysql_catalog.c). The
 * charset conversion, zero dates, BINARY padding, SET labels, type hints
 * are then the decoder's, by construction.
 *
 * Keyset pagination: ORDER BY the key, WHERE key > the last one read
 * (expanded as k1 > v1 OR (k1 = v1 AND k2 > v2) ..., which the optimizer
 * turns into an index range), never OFFSET; a range request adds its
 * bounds the same way (snapshot_my_key.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_my.h"
#include "sl_keyset.h"
#include "sl_name.h"

typedef struct snap_my_s {
    const col_conf_t   *conf;
    const col_filter_t *filter;
    MYSQL              *m;
    int                 is_mariadb;
    int                 signal_ready;   /* the signal table exists */
    char                sig_db[256];
    char                sig_tb[256];
    sl_buf_t            sql;
    sl_buf_t            cell;           /* one value in binlog form */
} snap_my_t;

/* ------------------------------------------------------------ connection */

static void snap_disconnect(snap_my_t *s)
{
    if (s->m)
        mysql_close(s->m);
    s->m = NULL;
}

/* A failed query may have left the connection broken: the next call makes a
 * new one. */
static sl_err_t db_fail(snap_my_t *s)
{
    snap_disconnect(s);
    return SL_ERR_DB;
}

static sl_err_t snap_connect(snap_my_t *s, char *errstr, size_t errstr_size)
{
    int fatal;
    if (s->m)
        return SL_OK;
    if (!(s->m = col_my_connect(s->conf, errstr, errstr_size, &fatal)))
        return fatal ? SL_ERR_DENIED : SL_ERR_DB;
    const char *info = mysql_get_server_info(s->m);
    s->is_mariadb = info && strstr(info, "MariaDB") != NULL;
    /* UTC temporal text (TIMESTAMP as the binlog has it); no sql_mode that
     * pads CHAR or refuses zero dates in literals; cells in the column's own
     * charset, converted by the decoder as the binlog's are; autocommit:
     * every chunk is its own consistent read, every watermark committed */
    if (col_my_exec(s->m, "SET time_zone = '+00:00', sql_mode = '', "
                    "character_set_results = binary, autocommit = 1", errstr, errstr_size))
        return db_fail(s);
    return SL_OK;
}

/* ------------------------------------------------------------ tables */

static int is_signal(const snap_my_t *s, const char *db, const char *tb)
{
    return !strcmp(db, s->sig_db) && !strcmp(tb, s->sig_tb);
}

static sl_err_t my_tables(void *ctx,
                          sl_err_t (*add)(void *arg, const char *db, const char *tb,
                                          const char *why),
                          void *arg, char *errstr, size_t errstr_size)
{
    snap_my_t *s = ctx;
    sl_err_t err;
    if ((err = snap_connect(s, errstr, errstr_size)))
        return err;
    /* BINARY: a stable order whatever the collations of the names */
    MYSQL_RES *r = col_my_query(s->m,
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
        "WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN "
        "('mysql', 'information_schema', 'performance_schema', 'sys') "
        "ORDER BY BINARY TABLE_SCHEMA, BINARY TABLE_NAME", errstr, errstr_size);
    if (!r)
        return db_fail(s);
    MYSQL_ROW row;
    while (!err && (row = mysql_fetch_row(r)))
        if (row[0] && row[1] && !is_signal(s, row[0], row[1]) &&
            col_filter_match(s->filter, row[0], row[1]))
            err = add(arg, row[0], row[1], NULL);
    mysql_free_result(r);
    return err;
}

/* ------------------------------------------------------------ watermarks */

/* A statement on the signal table failed (errstr says which). Missing
 * privileges do not cure themselves: refused for good, with the GRANT;
 * anything else may (a new connection next time). */
static sl_err_t sig_fail(snap_my_t *s, char *errstr, size_t errstr_size)
{
    unsigned e = s->m ? mysql_errno(s->m) : 0;
    if (e == 1044 || e == 1142 || e == 1227) {   /* DB / table access denied, no SUPER */
        size_t n = strlen(errstr);
        snprintf(errstr + n, errstr_size - n, " (the collector's user needs GRANT CREATE, "
                 "INSERT, UPDATE ON `%s`.* for its watermarks, or another "
                 "snapshot.signal.table it may write)", s->sig_db);
        snap_disconnect(s);
        return SL_ERR_DENIED;
    }
    return db_fail(s);
}

static sl_err_t signal_create(snap_my_t *s, char *errstr, size_t errstr_size)
{
    sl_buf_t *q = &s->sql;
    sl_buf_reset(q);
    if (sl_buf_puts(q, "CREATE DATABASE IF NOT EXISTS ") || col_snap_my_ident(q, s->sig_db))
        return SL_ERR_NOMEM;
    if (col_my_exec(s->m, q->data, errstr, errstr_size))
        return sig_fail(s, errstr, errstr_size);
    /* one row per source; seq changes on every write, so that a mark
     * written twice (the same chunk after a restart) is still a row event */
    sl_buf_reset(q);
    if (sl_buf_puts(q, "CREATE TABLE IF NOT EXISTS ") || col_snap_my_ident(q, s->sig_db) ||
        sl_buf_putc(q, '.') || col_snap_my_ident(q, s->sig_tb) ||
        sl_buf_puts(q, " (source VARBINARY(255) NOT NULL PRIMARY KEY, "
                    "mark VARBINARY(1024) NOT NULL, seq BIGINT UNSIGNED NOT NULL DEFAULT 1, "
                    "written TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB"))
        return SL_ERR_NOMEM;
    if (col_my_exec(s->m, q->data, errstr, errstr_size))
        return sig_fail(s, errstr, errstr_size);
    s->signal_ready = 1;
    return SL_OK;
}

static sl_err_t my_watermark(void *ctx, char kind, const char *id, char *errstr,
                             size_t errstr_size)
{
    snap_my_t *s = ctx;
    char mark[1024], esrc[520], emark[2050];
    sl_err_t err;
    if ((err = snap_connect(s, errstr, errstr_size)))
        return err;
    if (!s->signal_ready && (err = signal_create(s, errstr, errstr_size)))
        return err;
    col_snap_format_mark(mark, sizeof(mark), s->conf->source_name, kind, id);
    mysql_real_escape_string(s->m, esrc, s->conf->source_name,
                             (unsigned long)strnlen(s->conf->source_name, 255));
    mysql_real_escape_string(s->m, emark, mark, (unsigned long)strlen(mark));
    sl_buf_t *q = &s->sql;
    sl_buf_reset(q);
    if (sl_buf_puts(q, "INSERT INTO ") || col_snap_my_ident(q, s->sig_db) || sl_buf_putc(q, '.') ||
        col_snap_my_ident(q, s->sig_tb) ||
        sl_buf_printf(q, " (source, mark) VALUES ('%s', '%s') ON DUPLICATE KEY UPDATE "
                      "mark = VALUES(mark), seq = seq + 1, written = CURRENT_TIMESTAMP(6)",
                      esrc, emark))
        return SL_ERR_NOMEM;
    if (mysql_query(s->m, q->data)) {
        snprintf(errstr, errstr_size, "writing the %s into %s.%s: %s",
                 kind == 'L' ? "low watermark" : kind == 'H' ? "high watermark"
                 : "snapshot request", s->sig_db, s->sig_tb, mysql_error(s->m));
        if (mysql_errno(s->m) == 1146)   /* dropped meanwhile: create it again */
            s->signal_ready = 0;
        return sig_fail(s, errstr, errstr_size);
    }
    return SL_OK;
}

/* ------------------------------------------------------------ keys */

/* The chunking key: the primary key (catalog key positions), else the
 * first unique index (by name) whose columns are all NOT NULL. key[] gets
 * column indexes in key order. */
static sl_err_t find_key(snap_my_t *s, const col_tablemap_t *tm, uint32_t key[COL_SNAP_MAX_KEY],
                         uint32_t *nkey, char *errstr, size_t errstr_size)
{
    *nkey = 0;
    if (tm->npk && tm->npk <= COL_SNAP_MAX_KEY) {
        for (uint32_t i = 0; i < tm->ncols; i++)
            if (tm->cols[i].pk && tm->cols[i].pk <= tm->npk)
                key[tm->cols[i].pk - 1] = i;
        *nkey = tm->npk;
        return SL_OK;
    }
    char edb[520], etb[520], q[1400];
    mysql_real_escape_string(s->m, edb, tm->db, (unsigned long)strnlen(tm->db, 256));
    mysql_real_escape_string(s->m, etb, tm->table, (unsigned long)strnlen(tm->table, 256));
    snprintf(q, sizeof(q),
             "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
             "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' AND NON_UNIQUE = 0 "
             "ORDER BY BINARY INDEX_NAME, SEQ_IN_INDEX", edb, etb);
    MYSQL_RES *r = col_my_query(s->m, q, errstr, errstr_size);
    if (!r)
        return db_fail(s);
    char cur[256] = "";
    uint32_t n = 0;
    int ok = 0, found = 0;
    MYSQL_ROW row;
    while (!found && (row = mysql_fetch_row(r))) {
        if (!row[0] || !row[1])
            continue;
        if (strcmp(cur, row[0])) {
            if (cur[0] && ok && n)
                found = 1;
            else {
                snprintf(cur, sizeof(cur), "%s", row[0]);
                n = 0;
                ok = 1;
            }
        }
        if (found)
            break;
        uint32_t i;
        for (i = 0; i < tm->ncols && strcmp(tm->cols[i].name, row[1]); i++)
            ;
        if (i == tm->ncols || tm->cols[i].nullable || n >= COL_SNAP_MAX_KEY)
            ok = 0;
        else
            key[n++] = i;
    }
    if (!found && cur[0] && ok && n)
        found = 1;
    mysql_free_result(r);
    if (!found) {
        snprintf(errstr, errstr_size, "table %s.%s has no primary key and no unique key of "
                 "NOT NULL columns: it cannot be read in key-range chunks (add a primary key)",
                 tm->db, tm->table);
        return SL_ERR_UNSUPPORTED;
    }
    *nkey = n;
    return SL_OK;
}

/* ------------------------------------------------------------ reading */

/* The select-list expression of column c. */
static sl_err_t put_expr(sl_buf_t *q, const col_mysql_column_t *c)
{
    sl_err_t err;
    if (c->type == COL_MYSQL_T_BIT || c->real_type == COL_MYSQL_T_ENUM ||
        c->real_type == COL_MYSQL_T_SET) {
        /* the index / bitmap the binlog holds */
        if ((err = col_snap_my_ident(q, c->name)))
            return err;
        return sl_buf_puts(q, " + 0");
    }
    if (col_snap_my_is_temporal(c->type)) {
        /* the server's text with exactly fsp digits; TIMESTAMP in UTC */
        if ((err = sl_buf_puts(q, "CAST(")) || (err = col_snap_my_ident(q, c->name)))
            return err;
        return sl_buf_puts(q, " AS CHAR)");
    }
    if (c->hint == COL_MYSQL_HINT_INET6 || c->hint == COL_MYSQL_HINT_INET4 ||
        c->hint == COL_MYSQL_HINT_UUID) {
        /* their binary form, which the binlog carries (the text form is the server's
         * printing, not the stored bytes) */
        if ((err = sl_buf_puts(q, "CAST(")) || (err = col_snap_my_ident(q, c->name)))
            return err;
        return sl_buf_printf(q, " AS BINARY(%u))", c->hint == COL_MYSQL_HINT_INET4 ? 4 : 16);
    }
    return col_snap_my_ident(q, c->name);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* One fetched cell -> the column's binlog bytes in s->cell. */
static sl_err_t pack_cell(snap_my_t *s, const col_mysql_column_t *c, cell_kind_t k,
                          const MYSQL_BIND *b, char *why, size_t why_size)
{
    sl_buf_t *o = &s->cell;
    uint8_t tmp[64];
    size_t n = 0;
    sl_buf_reset(o);
    if (k == CELL_INT) {
        uint64_t u = *(const uint64_t *)b->buffer;
        if (c->type == COL_MYSQL_T_BIT) {
            n = (c->length + 7) / 8;
            put_be(tmp, u, (int)n);
        } else if (c->type == COL_MYSQL_T_YEAR) {
            tmp[0] = (uint8_t)(u ? u - 1900 : 0);
            n = 1;
        } else if (c->real_type == COL_MYSQL_T_ENUM || c->real_type == COL_MYSQL_T_SET) {
            n = c->length;
            put_le(tmp, u, (int)n);
        } else {
            static const int size[] = {0, 1, 2, 4, 0, 0, 0, 0, 8, 3};
            n = (size_t)size[c->type];
            put_le(tmp, u, (int)n);
        }
        return sl_buf_append(o, tmp, n);
    }
    if (k == CELL_FLOAT) {
        uint32_t w;
        memcpy(&w, b->buffer, 4);
        put_le(tmp, w, 4);
        return sl_buf_append(o, tmp, 4);
    }
    if (k == CELL_DOUBLE) {
        uint64_t w;
        memcpy(&w, b->buffer, 8);
        put_le(tmp, w, 8);
        return sl_buf_append(o, tmp, 8);
    }
    size_t len = *b->length;
    const char *t = b->buffer;
    if (k == CELL_TEXT) {
        char txt[128];
        int bad;
        if (len >= sizeof(txt))
            bad = 1;
        else if (c->type == COL_MYSQL_T_NEWDECIMAL)
            bad = col_mysql_pack_decimal(c, t, len, tmp, &n);
        else {
            memcpy(txt, t, len);
            txt[len] = '\0';
            bad = col_mysql_pack_temporal(c, txt, tmp, &n);
        }
        if (bad) {
            snprintf(why, why_size, "column %s: value \"%.*s\" not understood", c->name,
                     (int)(len > 60 ? 60 : len), t);
            return SL_ERR_DECODE;
        }
        return sl_buf_append(o, tmp, n);
    }
    /* bytes with the binlog's length prefix */
    int lb;
    switch (c->type) {
    case COL_MYSQL_T_BLOB: case COL_MYSQL_T_TINY_BLOB: case COL_MYSQL_T_MEDIUM_BLOB:
    case COL_MYSQL_T_LONG_BLOB: case COL_MYSQL_T_GEOMETRY:
        lb = (int)c->length;
        break;
    case COL_MYSQL_T_VARCHAR: case COL_MYSQL_T_VAR_STRING: case COL_MYSQL_T_STRING:
        lb = c->length > 255 ? 2 : 1;
        break;
    default:
        snprintf(why, why_size, "column %s: type %u cannot be read by a snapshot", c->name,
                 c->type);
        return SL_ERR_UNSUPPORTED;
    }
    if (lb < 1 || lb > 4 || (lb < 4 && len >> (8 * lb))) {
        snprintf(why, why_size, "column %s: %zu bytes do not fit the column", c->name, len);
        return SL_ERR_DECODE;
    }
    put_le(tmp, len, lb);
    sl_err_t err = sl_buf_append(o, tmp, (size_t)lb);
    return err ? err : sl_buf_append(o, t, len);
}

/* Fetches the chunk's rows into out. */
static sl_err_t fetch_rows(snap_my_t *s, MYSQL_STMT *st, const col_tablemap_t *tm,
                           const uint32_t *key, uint32_t nkey, sl_record_t *out, char **last,
                           char *errstr, size_t errstr_size)
{
    uint32_t nc = tm->ncols;
    MYSQL_BIND *bind = calloc(nc, sizeof(*bind));
    unsigned long *lens = calloc(nc, sizeof(*lens));
    my_bool *nulls = calloc(nc, sizeof(*nulls));
    cell_kind_t *kinds = calloc(nc, sizeof(*kinds));
    void **bufs = calloc(nc, sizeof(*bufs));
    MYSQL_RES *meta = NULL;
    sl_err_t err = SL_ERR_NOMEM;
    char why[512];
    if (!bind || !lens || !nulls || !kinds || !bufs)
        goto out;
    if (!(meta = mysql_stmt_result_metadata(st)) || mysql_num_fields(meta) != nc) {
        snprintf(errstr, errstr_size, "table %s.%s: no result metadata", tm->db, tm->table);
        err = SL_ERR_DB;
        goto out;
    }
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    for (uint32_t i = 0; i < nc; i++) {
        const col_mysql_column_t *c = &tm->cols[i];
        kinds[i] = col_snap_my_cell_kind(c);
        size_t sz = kinds[i] == CELL_TEXT || kinds[i] == CELL_BYTES ? f[i].max_length + 1 : 8;
        if (!(bufs[i] = malloc(sz)))
            goto out;
        bind[i].buffer = bufs[i];
        bind[i].buffer_length = (unsigned long)sz;
        bind[i].length = &lens[i];
        bind[i].is_null = &nulls[i];
        bind[i].buffer_type = kinds[i] == CELL_INT ? MYSQL_TYPE_LONGLONG
                            : kinds[i] == CELL_FLOAT ? MYSQL_TYPE_FLOAT
                            : kinds[i] == CELL_DOUBLE ? MYSQL_TYPE_DOUBLE : MYSQL_TYPE_BLOB;
        /* as the server types the expression: SET + 0 is signed (bit 63 reads as a
         * negative number; the 64 bits are the same) */
        bind[i].is_unsigned = (my_bool)((f[i].flags & UNSIGNED_FLAG) != 0);
    }
    if (mysql_stmt_bind_result(st, bind)) {
        snprintf(errstr, errstr_size, "table %s.%s: %s", tm->db, tm->table,
                 mysql_stmt_error(st));
        err = SL_ERR_DB;
        goto out;
    }
    uint32_t nrows = (uint32_t)mysql_stmt_num_rows(st);
    sl_record_reset(out);
    if ((err = sl_record_init_change(out, s->conf->source_name, tm->db, tm->table, SL_OP_READ,
                                     nc, tm->names, nrows)))
        goto out;
    for (uint32_t r = 0; r < nrows; r++) {
        int fr = mysql_stmt_fetch(st);
        if (fr == 1 || fr == MYSQL_NO_DATA || fr == MYSQL_DATA_TRUNCATED) {
            snprintf(errstr, errstr_size, "table %s.%s: fetching row %u: %s", tm->db,
                     tm->table, r, fr == 1 ? mysql_stmt_error(st) : "short result");
            err = SL_ERR_DB;
            goto out;
        }
        sl_value_t *img = out->u.change.rows[r].after;
        for (uint32_t i = 0; i < nc; i++) {
            const col_mysql_column_t *c = &tm->cols[i];
            size_t used;
            if (nulls[i]) {
                img[i].kind = SL_VAL_NULL;
                continue;
            }
            if ((err = pack_cell(s, c, kinds[i], &bind[i], why, sizeof(why))) ||
                (err = col_mysql_value_decode(c, (const uint8_t *)s->cell.data, s->cell.len,
                                              &used, out, &img[i], why, sizeof(why)))) {
                if (err != SL_ERR_NOMEM)
                    snprintf(errstr, errstr_size, "table %s.%s, row %u: %s", tm->db,
                             tm->table, r, why);
                goto out;
            }
        }
        if (r + 1 == nrows) {
            sl_buf_t t = {0};
            err = sl_buf_puts(&t, "my1:");
            for (uint32_t j = 0; !err && j < nkey; j++) {
                if (j)
                    err = sl_buf_putc(&t, ',');
                if (!err)
                    err = col_snap_my_key_raw(&tm->cols[key[j]], kinds[key[j]], &bind[key[j]], &t);
            }
            if (err) {
                sl_buf_free(&t);
                goto out;
            }
            *last = t.data;          /* the caller frees it */
        }
    }
    err = SL_OK;
out:
    if (err == SL_ERR_NOMEM)
        snprintf(errstr, errstr_size, "table %s.%s: out of memory", tm->db, tm->table);
    if (meta)
        mysql_free_result(meta);
    for (uint32_t i = 0; bufs && i < nc; i++)
        free(bufs[i]);
    free(bufs);
    free(kinds);
    free(nulls);
    free(lens);
    free(bind);
    return err;
}

static sl_err_t my_read_chunk(void *ctx, const char *db, const char *table, const char *after,
                              const col_snap_key_t *lo, const col_snap_key_t *hi, uint32_t limit, sl_record_t *out, uint32_t key[COL_SNAP_MAX_KEY],
                              uint32_t *nkey, char **last, char *errstr, size_t errstr_size)
{
    snap_my_t *s = ctx;
    col_tablemap_t tm;
    MYSQL_STMT *st = NULL;
    sl_err_t err;
    *last = NULL;
    *nkey = 0;
    memset(&tm, 0, sizeof(tm));
    if ((err = snap_connect(s, errstr, errstr_size)))
        return err;
    /* the definition now (a DDL may have come between two chunks); the same
     * view of the columns as the stream's TABLE_MAP with its hints */
    err = col_my_catalog_table(s->m, s->is_mariadb, 1, db, table, &tm, errstr, errstr_size);
    if (err == SL_ERR_DB)
        return db_fail(s);
    if (err == SL_ERR_UNSUPPORTED) {
        char why[600];
        snprintf(why, sizeof(why), "%s", errstr);
        snprintf(errstr, errstr_size, "table %s.%s: %s", db, table, why);
        goto out;
    }
    if (err)
        goto out;
    if (!tm.ncols) {
        snprintf(errstr, errstr_size, "table %s.%s does not exist", db, table);
        err = SL_ERR_NOT_FOUND;
        goto out;
    }
    if ((err = find_key(s, &tm, key, nkey, errstr, errstr_size)))
        goto out;
    sl_buf_t *q = &s->sql;
    sl_buf_reset(q);
    err = SL_ERR_NOMEM;
    if (sl_buf_puts(q, "SELECT "))
        goto out;
    for (uint32_t i = 0; i < tm.ncols; i++)
        if ((i && sl_buf_puts(q, ", ")) || put_expr(q, &tm.cols[i]))
            goto out;
    if (sl_buf_puts(q, " FROM ") || col_snap_my_ident(q, db) || sl_buf_putc(q, '.') ||
        col_snap_my_ident(q, table))
        goto out;
    char why[300];
    if (col_snap_my_put_where(q, &tm, key, *nkey, after, lo, hi, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "table %s.%s: %s", db, table, why);
        err = SL_ERR_INVALID;
        goto out;
    }
    const char *knames[COL_SNAP_MAX_KEY];
    for (uint32_t i = 0; i < *nkey && i < COL_SNAP_MAX_KEY; i++)
        knames[i] = tm.cols[key[i]].name;
    sl_keyset_t ks = {SL_KEYSET_MARIADB, *nkey, knames, NULL, NULL, NULL, 0};
    if (sl_keyset_order(&ks, q) || sl_buf_printf(q, " LIMIT %u", limit ? limit : 1))
        goto out;
    my_bool upd = 1;
    if (!(st = mysql_stmt_init(s->m)))
        goto out;
    if (mysql_stmt_prepare(st, q->data, (unsigned long)q->len) ||
        mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &upd) ||
        mysql_stmt_execute(st) || mysql_stmt_store_result(st)) {
        snprintf(errstr, errstr_size, "reading table %s.%s: %s", db, table,
                 mysql_stmt_error(st));
        unsigned e = mysql_stmt_errno(st);
        mysql_stmt_close(st);
        st = NULL;
        if (e == 1146) {                 /* dropped since the catalog read */
            err = SL_ERR_NOT_FOUND;
            goto out;
        }
        err = db_fail(s);
        goto out;
    }
    err = fetch_rows(s, st, &tm, key, *nkey, out, last, errstr, errstr_size);
    if (err == SL_ERR_DB)
        db_fail(s);
out:
    if (st)
        mysql_stmt_close(st);
    col_mysql_tablemap_free(&tm);
    if (err == SL_ERR_NOMEM)
        snprintf(errstr, errstr_size, "table %s.%s: out of memory", db, table);
    if (err) {
        free(*last);
        *last = NULL;
    }
    return err;
}

/* The statistics' row count (InnoDB: an estimate; never a COUNT). */
static sl_err_t my_estimate(void *ctx, const char *db, const char *table, int64_t *rows,
                            char *errstr, size_t errstr_size)
{
    snap_my_t *s = ctx;
    char edb[520], etb[520], q[1200];
    sl_err_t err;
    *rows = -1;
    if ((err = snap_connect(s, errstr, errstr_size)))
        return err;
    mysql_real_escape_string(s->m, edb, db, (unsigned long)strnlen(db, 256));
    mysql_real_escape_string(s->m, etb, table, (unsigned long)strnlen(table, 256));
    snprintf(q, sizeof(q), "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE "
             "TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'", edb, etb);
    MYSQL_RES *r = col_my_query(s->m, q, errstr, errstr_size);
    if (!r)
        return db_fail(s);
    MYSQL_ROW row = mysql_fetch_row(r);
    if (row && row[0])
        *rows = strtoll(row[0], NULL, 10);
    mysql_free_result(r);
    return SL_OK;
}

static void my_destroy(void *ctx)
{
    snap_my_t *s = ctx;
    if (!s)
        return;
    snap_disconnect(s);
    sl_buf_free(&s->sql);
    sl_buf_free(&s->cell);
    free(s);
}

sl_err_t col_snap_mysql_src(col_snap_src_t *out, const col_conf_t *conf,
                            const col_filter_t *filter, char *errstr, size_t errstr_size)
{
    snap_my_t *s = calloc(1, sizeof(*s));
    const char *sig = conf->snapshot_signal_table && conf->snapshot_signal_table[0]
                    ? conf->snapshot_signal_table : "shiftlog.shiftlog_signal";
    memset(out, 0, sizeof(*out));
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    if (sl_name_parse(sig, s->sig_db, sizeof(s->sig_db), s->sig_tb, sizeof(s->sig_tb)) ||
        !s->sig_db[0] || !s->sig_tb[0]) {
        snprintf(errstr, errstr_size, "snapshot.signal.table \"%s\" is not `db.table`", sig);
        free(s);
        return SL_ERR_INVALID;
    }
    s->conf = conf;
    s->filter = filter;
    out->ctx = s;
    out->tables = my_tables;
    out->read_chunk = my_read_chunk;
    out->watermark = my_watermark;
    out->estimate = my_estimate;
    out->destroy = my_destroy;
    return SL_OK;
}
