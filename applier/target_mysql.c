/* shiftlog-applier: the MySQL / MariaDB target (libmariadb), see target.h.
 *
 * Writes:  INSERT INTO `db`.`t` (cols) VALUES (?,…) ON DUPLICATE KEY UPDATE c=VALUES(c)
 *          and DELETE FROM `db`.`t` WHERE k1=? AND …, each a server-side prepared
 *          statement executed once per batch with libmariadb's array binding
 *          (STMT_ATTR_ARRAY_SIZE: MariaDB's COM_STMT_BULK_EXECUTE, one round trip
 *          for the whole batch, column-wise arrays). A server without bulk
 *          support (MySQL) gets the same statement executed row by row.
 *          Values are parameters only (classes in target_common.h); every
 *          identifier goes through app_conv_quote_ident with backticks.
 * Batches: consecutive rows of one table, one operation and one column set (a
 *          row with MISSING columns leaves them out) form a batch of up to
 *          write_batch rows / 4 MB; a change of table, operation or column set
 *          flushes, so the source order is kept. Values are copied into the
 *          target's buffer: the core may reuse its records after rows().
 * Exactly-once: the data connection runs with autocommit off; commit() flushes,
 *          upserts the `kafkaoffset` row in the same transaction and commits.
 *          DDL (CREATE / ALTER, which commit implicitly in MySQL) runs on a
 *          second, autocommit connection so it never commits data early.
 * Session: utf8mb4, time_zone '+00:00' (TIMESTAMP text is UTC), sql_mode
 *          STRICT_ALL_TABLES + NO_AUTO_VALUE_ON_ZERO without NO_ZERO_DATE /
 *          NO_ZERO_IN_DATE (zero dates pass as they came), foreign_key_checks=0
 *          (a replica applies what the source already checked).
 *          Bidirectional sync (later): the hook is my_session_tag(), which will
 *          run SET SESSION skip_replication=1 when the task asks for it. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mysql.h>

#include "sl_buf.h"
#include "target.h"
#include "target_common.h"

#define MY_STMT_CACHE   64
#define MY_BATCH_BYTES  (4u << 20)
#define MY_RETRIES      3

typedef struct my_param_s {
    app_conv_class_t cls;
    size_t off, len;                  /* TEXT / BINARY: bytes in t->data */
    union { int64_t i; uint64_t u; double d; float f; } n;
} my_param_t;

typedef struct my_stmt_s {
    char       *sql;
    MYSQL_STMT *stmt;
    uint64_t    used;
} my_stmt_t;

typedef struct my_table_s {
    char     *schema, *table;
    const sl_schema_t *src;            /* schema the key was resolved from */
    uint32_t  nkey;
    uint32_t *key;                     /* source column indexes, key order */
    int       touched;                 /* written in the open transaction */
    struct my_table_s *next;
} my_table_t;

enum { MY_NONE = 0, MY_UPSERT = 1, MY_DELETE = 2 };

typedef struct my_target_s my_target_t;

struct my_target_s {
    MYSQL   *db, *ddl;
    char    *task, *host, *user, *password, *database, *tls_ca;
    int      port, tls_mode, create_tables;
    uint32_t batch_max;
    int      bulk;
    int      in_txn;
    my_table_t *tables;
    my_stmt_t cache[MY_STMT_CACHE];
    uint64_t  tick;
    /* the pending batch */
    int          kind;
    my_table_t  *tb;
    uint32_t     ncols;                /* source columns of the batch */
    uint8_t     *mask;                 /* 1 = column bound, per source column */
    size_t       mask_cap;
    uint32_t     nparams, nrows;
    app_conv_class_t *pcls;            /* class per parameter, NULL = not set yet */
    size_t       pcls_cap;
    my_param_t  *params;
    size_t       params_cap;
    sl_buf_t     sql, data, tmp, keytext, scratch;
    MYSQL_BIND  *bind;
    size_t       bind_cap;
};

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static sl_err_t my_err(MYSQL *db, const char *what, char *errstr, size_t sz)
{
    snprintf(errstr, sz, "mysql target: %s: %s (%u)", what, mysql_error(db), mysql_errno(db));
    return SL_ERR_DB;
}

/* Runs one statement that returns no rows; SL_ERR_DB names `what`. */
static sl_err_t my_exec(MYSQL *db, const char *sql, size_t len, const char *what,
                        char *errstr, size_t sz)
{
    if (mysql_real_query(db, sql, len) != 0)
        return my_err(db, what, errstr, sz);
    MYSQL_RES *r = mysql_store_result(db);
    if (r)
        mysql_free_result(r);
    return SL_OK;
}

/* Bidirectional-sync hook: tag our writes so a collector on this server can
 * drop them. Not enabled yet (no task setting asks for it). */
static sl_err_t my_session_tag(MYSQL *db, int tag, char *errstr, size_t sz)
{
    static const char q[] = "SET SESSION skip_replication=1";
    return tag ? my_exec(db, q, sizeof q - 1, "skip_replication", errstr, sz) : SL_OK;
}

static sl_err_t my_connect(my_target_t *t, MYSQL **out, int autocommit, char *errstr, size_t sz)
{
    static const char session[] =
        "SET NAMES utf8mb4, time_zone='+00:00', foreign_key_checks=0, "
        "sql_mode='STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'";
    MYSQL *db = NULL;
    for (int attempt = 0; attempt < MY_RETRIES; attempt++) {
        unsigned int tmo = 5, rw = 600;
        my_bool yes = 1;
        if (!(db = mysql_init(NULL)))
            return SL_ERR_NOMEM;
        mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &tmo);
        mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &rw);
        mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &rw);
        mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        if (t->tls_mode >= 1) {
            if (t->tls_ca)
                mysql_options(db, MYSQL_OPT_SSL_CA, t->tls_ca);
            if (t->tls_mode >= 2)
                mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &yes);
            if (t->tls_mode >= 3)
                mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
        }
        if (mysql_real_connect(db, t->host, t->user, t->password, NULL, (unsigned)t->port,
                               NULL, CLIENT_FOUND_ROWS))
            break;
        snprintf(errstr, sz, "mysql target %s:%d as %s: cannot connect: %s (attempt %d of %d)",
                 t->host, t->port, t->user ? t->user : "", mysql_error(db), attempt + 1,
                 MY_RETRIES);
        mysql_close(db);
        db = NULL;
        if (attempt + 1 < MY_RETRIES) {
            struct timespec ts = {0, 500000000};
            nanosleep(&ts, NULL);
        }
    }
    if (!db)
        return SL_ERR_DB;
    sl_err_t e = my_exec(db, session, sizeof session - 1, "session settings", errstr, sz);
    if (!e)
        e = my_session_tag(db, 0, errstr, sz);
    if (!e && mysql_autocommit(db, autocommit ? 1 : 0) != 0)
        e = my_err(db, "autocommit", errstr, sz);
    if (e) {
        mysql_close(db);
        return e;
    }
    *out = db;
    return SL_OK;
}

/* Prepared statement with text parameters and up to 4 text result columns;
 * calls row(ctx, cols, lens) per result row. For metadata and the position. */
typedef void (*my_row_fn)(void *ctx, char **cols, unsigned long *lens);

static sl_err_t my_select(MYSQL *db, const char *sql, uint32_t np, const char *const *pv,
                          uint32_t nc, my_row_fn row, void *ctx, char *errstr, size_t sz)
{
    MYSQL_BIND pb[8], rb[4];
    unsigned long plen[8], rlen[4];
    my_bool rnull[4];
    char *rbuf[4] = {0};
    sl_err_t e = SL_OK;
    MYSQL_STMT *st = mysql_stmt_init(db);
    if (!st)
        return SL_ERR_NOMEM;
    if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0)
        goto dberr;
    memset(pb, 0, sizeof pb);
    for (uint32_t i = 0; i < np && i < 8; i++) {
        plen[i] = strlen(pv[i]);
        pb[i].buffer_type = MYSQL_TYPE_STRING;
        pb[i].buffer = (void *)pv[i];
        pb[i].length = &plen[i];
    }
    if ((np && mysql_stmt_bind_param(st, pb) != 0) || mysql_stmt_execute(st) != 0)
        goto dberr;
    memset(rb, 0, sizeof rb);
    for (uint32_t i = 0; i < nc && i < 4; i++) {
        if (!(rbuf[i] = malloc(1024))) {
            e = SL_ERR_NOMEM;
            goto out;
        }
        rb[i].buffer_type = MYSQL_TYPE_STRING;
        rb[i].buffer = rbuf[i];
        rb[i].buffer_length = 1023;
        rb[i].length = &rlen[i];
        rb[i].is_null = &rnull[i];
    }
    if (mysql_stmt_bind_result(st, rb) != 0 || mysql_stmt_store_result(st) != 0)
        goto dberr;
    int rc;
    while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
        for (uint32_t i = 0; i < nc; i++) {
            if (rlen[i] > 1023)
                rlen[i] = 1023;
            rbuf[i][rnull[i] ? 0 : rlen[i]] = '\0';
        }
        row(ctx, rbuf, rlen);
    }
    if (rc != MYSQL_NO_DATA)
        goto dberr;
    goto out;
dberr:
    snprintf(errstr, sz, "mysql target: %.200s: %s (%u)", sql, mysql_stmt_error(st),
             mysql_stmt_errno(st));
    e = SL_ERR_DB;
out:
    for (int i = 0; i < 4; i++)
        free(rbuf[i]);
    mysql_stmt_close(st);
    return e;
}

static sl_err_t my_ident(sl_buf_t *b, const char *name, char *errstr, size_t sz)
{
    if (!name || app_conv_quote_ident(b, name, strlen(name), '`') != SL_OK) {
        snprintf(errstr, sz, "mysql target: invalid identifier %s", name ? "(empty)" : "(null)");
        return SL_ERR_INVALID;
    }
    return SL_OK;
}

static sl_err_t my_qname(sl_buf_t *b, const char *schema, const char *table,
                         char *errstr, size_t sz)
{
    sl_err_t e;
    if (schema && *schema) {
        if ((e = my_ident(b, schema, errstr, sz)))
            return e;
        sl_buf_putc(b, '.');
    }
    return my_ident(b, table, errstr, sz);
}

/* ---- statements ---- */

static void my_stmt_forget_all(my_target_t *t)
{
    for (int i = 0; i < MY_STMT_CACHE; i++) {
        if (t->cache[i].stmt)
            mysql_stmt_close(t->cache[i].stmt);
        free(t->cache[i].sql);
        t->cache[i] = (my_stmt_t){0};
    }
}

/* The prepared statement for sql (cached, least recently used evicted). */
static MYSQL_STMT *my_stmt_get(my_target_t *t, const char *sql, size_t len,
                               char *errstr, size_t sz)
{
    int victim = 0;
    for (int i = 0; i < MY_STMT_CACHE; i++) {
        if (t->cache[i].sql && strcmp(t->cache[i].sql, sql) == 0) {
            t->cache[i].used = ++t->tick;
            return t->cache[i].stmt;
        }
        if (t->cache[i].used < t->cache[victim].used)
            victim = i;
    }
    my_stmt_t *c = &t->cache[victim];
    if (c->stmt)
        mysql_stmt_close(c->stmt);
    free(c->sql);
    *c = (my_stmt_t){0};
    MYSQL_STMT *st = mysql_stmt_init(t->db);
    if (!st || mysql_stmt_prepare(st, sql, len) != 0) {
        snprintf(errstr, sz, "mysql target: prepare %.300s: %s", sql,
                 st ? mysql_stmt_error(st) : "out of memory");
        if (st)
            mysql_stmt_close(st);
        return NULL;
    }
    c->sql = strdup(sql);
    c->stmt = st;
    c->used = ++t->tick;
    return st;
}

/* ---- tables and keys ---- */

static const char *dst_col(const app_table_map_t *map, const sl_change_t *c, uint32_t i)
{
    if (map->dst_cols)
        return i < map->ncols ? map->dst_cols[i] : NULL;
    return c ? c->columns[i] : map->schema->cols[i].name;
}

typedef struct my_ukey_s {
    char     index[256];
    char     cols[16][256];
    uint32_t n;
    int      done;              /* the first complete unique key has been read */
} my_ukey_t;

static void ukey_row(void *ctx, char **cols, unsigned long *lens)
{
    my_ukey_t *k = ctx;
    if (k->done)
        return;
    if (k->n && strcmp(k->index, cols[0]) != 0) {
        k->done = 1;
        return;
    }
    snprintf(k->index, sizeof k->index, "%s", cols[0]);
    if (k->n < 16)
        snprintf(k->cols[k->n++], sizeof k->cols[0], "%s", cols[1]);
}

/* Key of the target table: the source primary key, else the target's own
 * primary / unique key if all its columns are mapped; else refused. */
static sl_err_t my_resolve_key(my_target_t *t, my_table_t *tb, const app_table_map_t *map,
                               const sl_change_t *c, char *errstr, size_t sz)
{
    const sl_schema_t *s = map->schema;
    uint32_t ncols = c ? c->ncols : (s ? s->ncols : 0);
    free(tb->key);
    tb->key = NULL;
    tb->nkey = 0;
    if (!(tb->key = calloc(ncols ? ncols : 1, sizeof *tb->key)))
        return SL_ERR_NOMEM;
    if (s) {
        for (uint32_t k = 1; k <= s->ncols; k++)
            for (uint32_t i = 0; i < s->ncols && i < ncols; i++)
                if (s->cols[i].pk == (int)k) {
                    if (!dst_col(map, c, i)) {
                        snprintf(errstr, sz, "mysql target: table `%s`.`%s`: primary key column "
                                 "\"%s\" is excluded by the mapping; include it", map->dst_schema,
                                 map->dst_table, s->cols[i].name);
                        return SL_ERR_UNSUPPORTED;
                    }
                    tb->key[tb->nkey++] = i;
                }
    }
    if (tb->nkey)
        goto ok;
    my_ukey_t uk;
    memset(&uk, 0, sizeof uk);
    const char *pv[2] = {map->dst_schema, map->dst_table};
    sl_err_t e = my_select(t->db,
        "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA=? AND TABLE_NAME=? AND NON_UNIQUE=0 "
        "ORDER BY INDEX_NAME<>'PRIMARY', INDEX_NAME, SEQ_IN_INDEX", 2, pv, 2, ukey_row, &uk,
        errstr, sz);
    if (e)
        return e;
    for (uint32_t j = 0; j < uk.n; j++) {
        uint32_t i;
        for (i = 0; i < ncols; i++) {
            const char *d = dst_col(map, c, i);
            if (d && strcmp(d, uk.cols[j]) == 0)
                break;
        }
        if (i == ncols) {
            tb->nkey = 0;
            break;
        }
        tb->key[tb->nkey++] = i;
    }
    if (!tb->nkey) {
        snprintf(errstr, sz, "mysql target: table `%s`.`%s` has no primary key in the source "
                 "schema and no unique key over mapped columns in the target: changes cannot "
                 "be applied exactly once; add a primary key to the source table (or a unique "
                 "key to the target table)", map->dst_schema, map->dst_table);
        return SL_ERR_UNSUPPORTED;
    }
ok:
    tb->src = s;
    return SL_OK;
}

static my_table_t *my_table_find(my_target_t *t, const char *schema, const char *table)
{
    for (my_table_t *tb = t->tables; tb; tb = tb->next)
        if (strcmp(tb->schema, schema ? schema : "") == 0 && strcmp(tb->table, table) == 0)
            return tb;
    return NULL;
}

static my_table_t *my_table_add(my_target_t *t, const char *schema, const char *table)
{
    my_table_t *tb = calloc(1, sizeof *tb);
    if (!tb || !(tb->schema = strdup(schema ? schema : "")) || !(tb->table = strdup(table))) {
        if (tb)
            free(tb->schema);
        free(tb);
        return NULL;
    }
    tb->next = t->tables;
    t->tables = tb;
    return tb;
}

/* ---- the batch ---- */

static sl_err_t grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return SL_OK;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return SL_ERR_NOMEM;
    *p = q;
    *cap = n;
    return SL_OK;
}

static enum enum_field_types my_type(app_conv_class_t c)
{
    switch (c) {
    case APP_CONV_INT64:
    case APP_CONV_UINT64: return MYSQL_TYPE_LONGLONG;
    case APP_CONV_FLOAT:  return MYSQL_TYPE_FLOAT;
    case APP_CONV_DOUBLE: return MYSQL_TYPE_DOUBLE;
    case APP_CONV_BINARY: return MYSQL_TYPE_BLOB;
    default:              return MYSQL_TYPE_STRING;
    }
}

/* Sends the pending batch: one bulk execution (or one execution per row). */
static sl_err_t my_flush(my_target_t *t, char *errstr, size_t sz)
{
    sl_err_t e = SL_OK;
    if (t->kind == MY_NONE || t->nrows == 0)
        goto out;
    uint32_t np = t->nparams, nr = t->nrows;
    MYSQL_STMT *st = my_stmt_get(t, t->sql.data, t->sql.len, errstr, sz);
    if (!st) {
        e = SL_ERR_DB;
        goto out;
    }
    if ((e = grow((void **)&t->bind, &t->bind_cap, np ? np : 1, sizeof *t->bind)))
        goto out;
    /* scratch per parameter: nr values of 8 bytes, nr lengths, nr indicators */
    size_t per = (size_t)nr * (8 + sizeof(unsigned long) + 1);
    sl_buf_reset(&t->scratch);
    if ((e = sl_buf_reserve(&t->scratch, per * np + 16)))
        goto out;
    char *base = t->scratch.data;
    memset(t->bind, 0, np * sizeof *t->bind);
    for (uint32_t j = 0; j < np; j++) {
        char *vals = base + per * j;
        unsigned long *lens = (unsigned long *)(vals + (size_t)nr * 8);
        char *ind = (char *)(lens + nr);
        app_conv_class_t cls = t->pcls[j] ? t->pcls[j] : APP_CONV_TEXT;
        for (uint32_t r = 0; r < nr; r++) {
            const my_param_t *p = &t->params[(size_t)r * np + j];
            ind[r] = p->cls == APP_CONV_NULL ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
            lens[r] = (unsigned long)p->len;
            switch (cls) {
            case APP_CONV_INT64:  ((int64_t *)vals)[r] = p->n.i; break;
            case APP_CONV_UINT64: ((uint64_t *)vals)[r] = p->n.u; break;
            case APP_CONV_DOUBLE: ((double *)vals)[r] = p->n.d; break;
            case APP_CONV_FLOAT:  ((float *)vals)[r] = p->n.f; break;
            default:              ((char **)vals)[r] = t->data.data + p->off; break;
            }
        }
        MYSQL_BIND *b = &t->bind[j];
        b->buffer_type = my_type(cls);
        b->is_unsigned = cls == APP_CONV_UINT64;
        b->buffer = vals;
        b->length = lens;
        b->u.indicator = ind;
    }
    if (t->bulk) {
        unsigned int n = nr;
        if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &n) != 0 ||
            mysql_stmt_bind_param(st, t->bind) != 0 || mysql_stmt_execute(st) != 0)
            goto dberr;
    } else {
        /* row by row: point each bind at element r */
        MYSQL_BIND one[np ? np : 1];
        my_bool nul[np ? np : 1];
        for (uint32_t r = 0; r < nr; r++) {
            for (uint32_t j = 0; j < np; j++) {
                one[j] = t->bind[j];
                char *vals = t->bind[j].buffer;
                int fixed = one[j].buffer_type != MYSQL_TYPE_STRING &&
                            one[j].buffer_type != MYSQL_TYPE_BLOB;
                one[j].buffer = fixed ? vals + (size_t)r * (one[j].buffer_type == MYSQL_TYPE_FLOAT ? 4 : 8)
                                      : ((char **)vals)[r];
                one[j].length = &t->bind[j].length[r];
                nul[j] = t->bind[j].u.indicator[r] == STMT_INDICATOR_NULL;
                one[j].is_null = &nul[j];
                one[j].u.indicator = NULL;
            }
            if (mysql_stmt_bind_param(st, one) != 0 || mysql_stmt_execute(st) != 0)
                goto dberr;
        }
    }
    goto out;
dberr:
    snprintf(errstr, sz, "mysql target: table `%s`.`%s`: %s of %u row(s) from key %s: %s (%u)",
             t->tb->schema, t->tb->table, t->kind == MY_DELETE ? "delete" : "upsert", nr,
             t->keytext.data ? t->keytext.data : "?", mysql_stmt_error(st), mysql_stmt_errno(st));
    e = SL_ERR_DB;
out:
    t->kind = MY_NONE;
    t->nrows = 0;
    sl_buf_reset(&t->data);
    return e;
}

/* Starts a batch of `kind` on tb with the columns of mask (upsert) or the key. */
static sl_err_t my_batch_start(my_target_t *t, my_table_t *tb, int kind, const app_table_map_t *map,
                               const sl_change_t *c, char *errstr, size_t sz)
{
    sl_err_t e;
    sl_buf_reset(&t->sql);
    t->nparams = 0;
    if (kind == MY_UPSERT) {
        sl_buf_puts(&t->sql, "INSERT INTO ");
        if ((e = my_qname(&t->sql, tb->schema, tb->table, errstr, sz)))
            return e;
        sl_buf_puts(&t->sql, " (");
        for (uint32_t i = 0; i < c->ncols; i++) {
            if (!t->mask[i])
                continue;
            if (t->nparams++)
                sl_buf_putc(&t->sql, ',');
            if ((e = my_ident(&t->sql, dst_col(map, c, i), errstr, sz)))
                return e;
        }
        sl_buf_puts(&t->sql, ") VALUES (");
        for (uint32_t j = 0; j < t->nparams; j++)
            sl_buf_puts(&t->sql, j ? ",?" : "?");
        sl_buf_puts(&t->sql, ") ON DUPLICATE KEY UPDATE ");
        int first = 1;
        for (uint32_t i = 0; i < c->ncols; i++) {
            int iskey = 0;
            for (uint32_t k = 0; k < tb->nkey; k++)
                iskey |= tb->key[k] == i;
            if (!t->mask[i] || (iskey && tb->nkey < t->nparams))
                continue;
            if (!first)
                sl_buf_putc(&t->sql, ',');
            first = 0;
            my_ident(&t->sql, dst_col(map, c, i), errstr, sz);
            sl_buf_puts(&t->sql, "=VALUES(");
            my_ident(&t->sql, dst_col(map, c, i), errstr, sz);
            sl_buf_putc(&t->sql, ')');
        }
    } else {
        sl_buf_puts(&t->sql, "DELETE FROM ");
        if ((e = my_qname(&t->sql, tb->schema, tb->table, errstr, sz)))
            return e;
        sl_buf_puts(&t->sql, " WHERE ");
        for (uint32_t k = 0; k < tb->nkey; k++) {
            if (k)
                sl_buf_puts(&t->sql, " AND ");
            if ((e = my_ident(&t->sql, dst_col(map, c, tb->key[k]), errstr, sz)))
                return e;
            sl_buf_puts(&t->sql, "=?");
        }
        t->nparams = tb->nkey;
    }
    if ((e = grow((void **)&t->pcls, &t->pcls_cap, t->nparams + 1, sizeof *t->pcls)))
        return e;
    memset(t->pcls, 0, (t->nparams + 1) * sizeof *t->pcls);
    t->kind = kind;
    t->tb = tb;
    t->ncols = c->ncols;
    t->nrows = 0;
    return SL_OK;
}

static void my_keytext(my_target_t *t, const my_table_t *tb, const sl_value_t *vals)
{
    char es[64];
    sl_buf_reset(&t->keytext);
    sl_buf_putc(&t->keytext, '(');
    for (uint32_t k = 0; k < tb->nkey; k++) {
        const sl_value_t *v = &vals[tb->key[k]];
        if (k)
            sl_buf_putc(&t->keytext, ',');
        size_t before = t->keytext.len;
        if (v->kind == SL_VAL_NULL || v->kind == SL_VAL_MISSING ||
            app_conv_text(v, 0, &t->keytext, es, sizeof es) != SL_OK)
            sl_buf_puts(&t->keytext, sl_val_kind_name(v->kind));
        if (t->keytext.len - before > 64)
            t->keytext.len = before + 64, t->keytext.data[t->keytext.len] = '\0';
    }
    sl_buf_putc(&t->keytext, ')');
}

/* Adds one row (its values `vals`) to the batch of `kind`, flushing first when
 * the table, operation, column set or a parameter's class changes. */
static sl_err_t my_add(my_target_t *t, my_table_t *tb, int kind, const app_table_map_t *map,
                       const sl_change_t *c, const sl_value_t *vals, char *errstr, size_t sz)
{
    sl_err_t e;
    if ((e = grow((void **)&t->mask, &t->mask_cap, c->ncols + 1, 1)))
        return e;
    int same = t->kind == kind && t->tb == tb && t->ncols == c->ncols;
    for (uint32_t k = 0; k < tb->nkey; k++) {
        const sl_value_t *v = &vals[tb->key[k]];
        if (v->kind == SL_VAL_NULL || v->kind == SL_VAL_MISSING) {
            my_keytext(t, tb, vals);
            snprintf(errstr, sz, "mysql target: table `%s`.`%s`: key column \"%s\" is %s in "
                     "a %s row %s", tb->schema, tb->table, c->columns[tb->key[k]],
                     sl_val_kind_name(v->kind), sl_op_name(c->op), t->keytext.data);
            return SL_ERR_INVALID;
        }
    }
    if (kind == MY_UPSERT) {
        for (uint32_t i = 0; i < c->ncols; i++) {
            uint8_t m = dst_col(map, c, i) && vals[i].kind != SL_VAL_MISSING;
            if (same && t->mask[i] != m)
                same = 0;
            if (!same)
                t->mask[i] = m;
        }
    }
    /* class compatibility per parameter */
    if (same) {
        uint32_t j = 0;
        for (uint32_t i = 0; i < c->ncols && same; i++) {
            int bound = kind == MY_UPSERT ? t->mask[i] : 0;
            if (kind == MY_DELETE)
                for (uint32_t k = 0; k < tb->nkey; k++)
                    bound |= tb->key[k] == i;
            if (!bound)
                continue;
            /* DELETE parameters follow key order, not column order: checked below */
            if (kind == MY_UPSERT) {
                app_conv_class_t cl = app_conv_class(&vals[i], 0);
                if (cl != APP_CONV_NULL && t->pcls[j] && t->pcls[j] != cl)
                    same = 0;
            }
            j++;
        }
        if (kind == MY_DELETE)
            for (uint32_t k = 0; k < tb->nkey && same; k++) {
                app_conv_class_t cl = app_conv_class(&vals[tb->key[k]], 0);
                if (t->pcls[k] && t->pcls[k] != cl)
                    same = 0;
            }
    }
    if (!same) {
        if ((e = my_flush(t, errstr, sz)))
            return e;
        if (kind == MY_UPSERT && (e = grow((void **)&t->mask, &t->mask_cap, c->ncols + 1, 1)))
            return e;
        if ((e = my_batch_start(t, tb, kind, map, c, errstr, sz)))
            return e;
    }
    if (t->nrows == 0)
        my_keytext(t, tb, vals);
    if ((e = grow((void **)&t->params, &t->params_cap, (size_t)(t->nrows + 1) * t->nparams + 1,
                  sizeof *t->params)))
        return e;
    my_param_t *row = &t->params[(size_t)t->nrows * t->nparams];
    uint32_t j = 0;
    for (uint32_t x = 0; x < (kind == MY_UPSERT ? c->ncols : tb->nkey); x++) {
        uint32_t i = kind == MY_UPSERT ? x : tb->key[x];
        if (kind == MY_UPSERT && !t->mask[i])
            continue;
        const sl_value_t *v = &vals[i];
        my_param_t *p = &row[j];
        p->cls = app_conv_class(v, 0);
        p->len = 0;
        switch (p->cls) {
        case APP_CONV_NULL: break;
        case APP_CONV_INT64:  p->n.i = v->kind == SL_VAL_BOOL ? (v->u.b != 0) : v->u.i; break;
        case APP_CONV_UINT64: p->n.u = v->u.u; break;
        case APP_CONV_DOUBLE: p->n.d = v->u.d; break;
        case APP_CONV_FLOAT:  p->n.f = v->u.f; break;
        default:
            p->off = t->data.len;
            if ((e = app_conv_text(v, 0, &t->data, errstr, sz)))
                return e;
            p->len = t->data.len - p->off;
            break;
        }
        if ((p->cls == APP_CONV_DOUBLE || p->cls == APP_CONV_FLOAT) &&
            !(p->cls == APP_CONV_DOUBLE ? isfinite(p->n.d) : isfinite(p->n.f))) {
            snprintf(errstr, sz, "mysql target: table `%s`.`%s`: column \"%s\" holds a "
                     "non-finite float (NaN/Infinity), which MySQL/MariaDB cannot store",
                     tb->schema, tb->table, c->columns[i]);
            return SL_ERR_UNSUPPORTED;
        }
        if (p->cls != APP_CONV_NULL && !t->pcls[j])
            t->pcls[j] = p->cls;
        j++;
    }
    t->nrows++;
    if (t->nrows >= t->batch_max || t->data.len >= MY_BATCH_BYTES)
        return my_flush(t, errstr, sz);
    return SL_OK;
}


/* ---- DDL: type mapping, CREATE, ALTER ---- */

static const char *const my_base_types[] = {
    "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
    "float", "double", "bit", "date", "time", "datetime", "timestamp", "year", "char",
    "varchar", "binary", "varbinary", "tinytext", "text", "mediumtext", "longtext",
    "tinyblob", "blob", "mediumblob", "longblob", "json", "geometry", "point", "linestring",
    "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection",
    "inet4", "inet6", "uuid", "bool", "boolean", NULL};

static int is_text_base(const char *b)
{
    return !strcmp(b, "char") || !strcmp(b, "varchar") || strstr(b, "text") != NULL;
}

/* A MariaDB COLUMN_TYPE we can repeat verbatim: base[(d[,d])][ unsigned| zerofill| signed]*.
 * Writes the base name into base (lower case). 1 if safe. */
static int my_safe_type(const char *st, char *base, size_t bsz)
{
    size_t i = 0, n = 0;
    if (!st)
        return 0;
    while (st[i] && ((st[i] >= 'a' && st[i] <= 'z') || (st[i] >= 'A' && st[i] <= 'Z') ||
                     (st[i] >= '0' && st[i] <= '9'))) {
        if (n + 1 < bsz)
            base[n++] = (char)(st[i] | 0x20);
        i++;
    }
    base[n] = '\0';
    int known = 0;
    for (int k = 0; my_base_types[k]; k++)
        known |= strcmp(base, my_base_types[k]) == 0;
    if (!known)
        return 0;
    if (st[i] == '(') {
        i++;
        if (!(st[i] >= '0' && st[i] <= '9'))
            return 0;
        while (st[i] >= '0' && st[i] <= '9')
            i++;
        if (st[i] == ',') {
            i++;
            if (!(st[i] >= '0' && st[i] <= '9'))
                return 0;
            while (st[i] >= '0' && st[i] <= '9')
                i++;
        }
        if (st[i++] != ')')
            return 0;
    }
    while (st[i]) {
        if (!strncasecmp(st + i, " unsigned", 9))
            i += 9;
        else if (!strncasecmp(st + i, " zerofill", 9))
            i += 9;
        else if (!strncasecmp(st + i, " signed", 7))
            i += 7;
        else
            return 0;
    }
    return 1;
}

static sl_err_t my_labels(sl_buf_t *b, const char *what, const sl_column_t *col)
{
    sl_buf_puts(b, what);
    sl_buf_putc(b, '(');
    for (uint32_t i = 0; i < col->nlabels; i++) {
        if (i)
            sl_buf_putc(b, ',');
        if (app_conv_quote_literal(b, col->labels[i], strlen(col->labels[i])))
            return SL_ERR_INVALID;
    }
    return sl_buf_putc(b, ')');
}

static const char my_text_cs[] = " CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin";

/* Appends the MariaDB type for a source column (see docs/targets.md). */
static sl_err_t my_coltype(sl_buf_t *b, const sl_column_t *col, int src_mysql)
{
    char base[32];
    const char *st = col->source_type ? col->source_type : "";
    int key = col->pk > 0;
    if (col->nlabels && (col->kind == SL_VAL_STRING || col->kind == SL_VAL_SET)) {
        sl_err_t e = my_labels(b, col->kind == SL_VAL_SET ? "SET" : "ENUM", col);
        return e ? e : sl_buf_puts(b, my_text_cs);
    }
    if (src_mysql && my_safe_type(st, base, sizeof base) &&
        !(key && (strstr(base, "text") || strstr(base, "blob") || !strcmp(base, "json")))) {
        sl_buf_puts(b, st);
        return is_text_base(base) ? sl_buf_puts(b, my_text_cs) : SL_OK;
    }
    int p = col->precision, s = col->scale;
    switch (col->kind) {
    case SL_VAL_BOOL:   return sl_buf_puts(b, "BOOLEAN");
    case SL_VAL_INT:
        if (strstr(st, "smallint") || strstr(st, "int2"))
            return sl_buf_puts(b, "SMALLINT");
        if (!strcmp(st, "integer") || strstr(st, "int4"))
            return sl_buf_puts(b, "INT");
        return sl_buf_puts(b, "BIGINT");
    case SL_VAL_UINT:   return sl_buf_puts(b, "BIGINT UNSIGNED");
    case SL_VAL_FLOAT:  return sl_buf_puts(b, "FLOAT");
    case SL_VAL_DOUBLE: return sl_buf_puts(b, "DOUBLE");
    case SL_VAL_DECIMAL:
        if (p >= 1 && p <= 65 && s >= 0 && s <= 30 && s <= p)
            return sl_buf_printf(b, "DECIMAL(%d,%d)", p, s);
        return sl_buf_puts(b, "DECIMAL(65,30)");
    case SL_VAL_STRING:
        /* a key keeps a declared length that fits (a composite key of VARCHAR(768)
         * utf8mb4 columns is over InnoDB's 3072-byte key limit) */
        if (key && !(p >= 1 && p <= 768 && strstr(st, "char")))
            sl_buf_puts(b, "VARCHAR(768)");
        else if (p >= 1 && p <= 16383 && strstr(st, "char"))
            sl_buf_printf(b, "VARCHAR(%d)", p);
        else
            sl_buf_puts(b, "LONGTEXT");
        return sl_buf_puts(b, my_text_cs);
    case SL_VAL_BYTES:  return sl_buf_puts(b, key ? "VARBINARY(3072)" : "LONGBLOB");
    case SL_VAL_TEMPORAL: {
        int fsp = p >= 0 && p <= 6 ? p : 6;
        if (strstr(st, "interval") || strstr(st, "time with time zone") || !strcmp(st, "timetz"))
            return sl_buf_puts(b, "VARCHAR(255) CHARACTER SET utf8mb4");
        if (strstr(st, "timestamp") || strstr(st, "datetime"))
            return sl_buf_printf(b, "DATETIME(%d)", fsp);
        if (strstr(st, "time"))
            return sl_buf_printf(b, "TIME(%d)", fsp);
        if (strstr(st, "date"))
            return sl_buf_puts(b, "DATE");
        return sl_buf_puts(b, "VARCHAR(255) CHARACTER SET utf8mb4");
    }
    case SL_VAL_BIT:
        if (p >= 1 && p <= 64)
            return sl_buf_printf(b, "BIT(%d)", p);
        return sl_buf_puts(b, key ? "VARBINARY(3072)" : "LONGBLOB");
    case SL_VAL_SET:
    case SL_VAL_TYPED:
    default:
        sl_buf_puts(b, key ? "VARCHAR(768)" : "LONGTEXT");
        return sl_buf_puts(b, my_text_cs);
    }
}

/* Target name of column i of the schema record ns: looked up by source name in
 * the mapping's schema (the version in force), else the source name. NULL =
 * excluded by the mapping. */
static const char *my_sch_dst(const app_table_map_t *map, const sl_schema_t *ns, uint32_t i)
{
    const char *name = ns->cols[i].name;
    if (!map->dst_cols)
        return name;
    if (!map->schema || map->schema == ns)
        return i < map->ncols ? map->dst_cols[i] : name;
    for (uint32_t j = 0; j < map->schema->ncols && j < map->ncols; j++)
        if (strcmp(map->schema->cols[j].name, name) == 0)
            return map->dst_cols[j];
    return name;
}

typedef struct my_cols_s {
    char   **name;
    uint32_t n, cap;
} my_cols_t;

static void cols_row(void *ctx, char **cols, unsigned long *lens)
{
    my_cols_t *c = ctx;
    if (c->n == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 16;
        char **p = realloc(c->name, cap * sizeof *p);
        if (!p)
            return;
        c->name = p;
        c->cap = cap;
    }
    if ((c->name[c->n] = strdup(cols[0])))
        c->n++;
}

static int cols_has(const my_cols_t *c, const char *name)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (strcasecmp(c->name[i], name) == 0)
            return 1;
    return 0;
}

static int sch_find(const sl_schema_t *s, const char *name)
{
    for (uint32_t i = 0; i < s->ncols; i++)
        if (strcmp(s->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int col_same_type(const sl_column_t *a, const sl_column_t *b)
{
    if (a->kind != b->kind || a->precision != b->precision || a->scale != b->scale ||
        a->nlabels != b->nlabels || strcmp(a->source_type ? a->source_type : "",
                                           b->source_type ? b->source_type : ""))
        return 0;
    for (uint32_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i], b->labels[i]))
            return 0;
    return 1;
}

static sl_err_t my_coldef(sl_buf_t *b, const char *dst, const sl_column_t *col, int src_mysql,
                          char *errstr, size_t sz)
{
    sl_err_t e = my_ident(b, dst, errstr, sz);
    if (e)
        return e;
    sl_buf_putc(b, ' ');
    if ((e = my_coltype(b, col, src_mysql))) {
        snprintf(errstr, sz, "mysql target: column \"%s\": cannot map type %s", col->name,
                 col->source_type ? col->source_type : "?");
        return e;
    }
    return sl_buf_puts(b, col->nullable && !col->pk ? " NULL" : " NOT NULL");
}

static sl_err_t my_schema(my_target_t *t, const app_table_map_t *map, const sl_record_t *rec,
                          char *errstr, size_t sz)
{
    const sl_schema_t *ns = &rec->u.schema;
    const sl_schema_t *old = map->schema && map->schema != ns ? map->schema : NULL;
    int src_mysql = rec->pos.kind == SL_POS_MYSQL;
    my_cols_t have = {0};
    sl_buf_t q = SL_BUF_INIT;
    sl_err_t e;
    int nalter = 0;
    if (rec->type != SL_REC_SCHEMA) {
        snprintf(errstr, sz, "mysql target: schema() got a %s record", sl_rec_type_name(rec->type));
        return SL_ERR_INVALID;
    }
    my_table_t *tb = my_table_find(t, map->dst_schema, map->dst_table);
    if (tb && tb->touched && t->in_txn) {
        /* its ALTER would wait for our own open transaction's metadata lock */
        snprintf(errstr, sz, "mysql target: table `%s`.`%s`: schema change inside a target "
                 "transaction that already wrote to the table: commit before the SCHEMA record",
                 map->dst_schema, map->dst_table);
        return SL_ERR_STATE;
    }
    if (!t->ddl && (e = my_connect(t, &t->ddl, 1, errstr, sz)))
        return e;
    static const char lwt[] = "SET SESSION lock_wait_timeout=30";
    if ((e = my_exec(t->ddl, lwt, sizeof lwt - 1, "lock_wait_timeout", errstr, sz)))
        return e;
    const char *pv[2] = {map->dst_schema, map->dst_table};
    if ((e = my_select(t->ddl, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                       "TABLE_SCHEMA=? AND TABLE_NAME=? ORDER BY ORDINAL_POSITION", 2, pv, 1,
                       cols_row, &have, errstr, sz)))
        goto out;
    if (have.n == 0) {
        int npk = 0;
        if (!t->create_tables) {
            snprintf(errstr, sz, "mysql target: table `%s`.`%s` does not exist and "
                     "target.create_tables is off: create it, or turn create_tables on",
                     map->dst_schema, map->dst_table);
            e = SL_ERR_UNSUPPORTED;
            goto out;
        }
        for (uint32_t i = 0; i < ns->ncols; i++)
            npk += ns->cols[i].pk > 0 && my_sch_dst(map, ns, i);
        if (npk == 0) {
            snprintf(errstr, sz, "mysql target: table `%s`.`%s`: the source table %s.%s has no "
                     "primary key, so changes cannot be applied exactly once; add a primary key "
                     "to the source, or create the target table with a unique key",
                     map->dst_schema, map->dst_table, ns->db, ns->table);
            e = SL_ERR_UNSUPPORTED;
            goto out;
        }
        sl_buf_puts(&q, "CREATE DATABASE IF NOT EXISTS ");
        if ((e = my_ident(&q, map->dst_schema, errstr, sz)) ||
            (e = my_exec(t->ddl, q.data, q.len, "create database", errstr, sz)))
            goto out;
        sl_buf_reset(&q);
        sl_buf_puts(&q, "CREATE TABLE IF NOT EXISTS ");
        if ((e = my_qname(&q, map->dst_schema, map->dst_table, errstr, sz)))
            goto out;
        sl_buf_puts(&q, " (");
        int n = 0;
        for (uint32_t i = 0; i < ns->ncols; i++) {
            const char *d = my_sch_dst(map, ns, i);
            if (!d)
                continue;
            if (n++)
                sl_buf_puts(&q, ", ");
            if ((e = my_coldef(&q, d, &ns->cols[i], src_mysql, errstr, sz)))
                goto out;
        }
        sl_buf_puts(&q, ", PRIMARY KEY (");
        n = 0;
        for (int k = 1; k <= (int)ns->ncols; k++)
            for (uint32_t i = 0; i < ns->ncols; i++)
                if (ns->cols[i].pk == k && my_sch_dst(map, ns, i)) {
                    if (n++)
                        sl_buf_putc(&q, ',');
                    my_ident(&q, my_sch_dst(map, ns, i), errstr, sz);
                }
        sl_buf_puts(&q, ")) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin");
        e = my_exec(t->ddl, q.data, q.len, "create table", errstr, sz);
        goto out;
    }
    /* the table exists: bring its columns in line with ns */
    sl_buf_puts(&q, "ALTER TABLE ");
    if ((e = my_qname(&q, map->dst_schema, map->dst_table, errstr, sz)))
        goto out;
    if (old) {
        uint32_t m = old->ncols < ns->ncols ? old->ncols : ns->ncols;
        for (uint32_t i = 0; i < m; i++) {
            const char *on = old->cols[i].name, *nn = ns->cols[i].name;
            /* a rename: same place, same type, the old name gone, the new one new */
            if (strcmp(on, nn) == 0 || sch_find(ns, on) >= 0 || sch_find(old, nn) >= 0 ||
                !col_same_type(&old->cols[i], &ns->cols[i]))
                continue;
            const char *od = my_sch_dst(map, old, i);
            if (!od || !cols_has(&have, od) || cols_has(&have, nn))
                continue;
            sl_buf_puts(&q, nalter++ ? ", RENAME COLUMN " : " RENAME COLUMN ");
            my_ident(&q, od, errstr, sz);
            sl_buf_puts(&q, " TO ");
            my_ident(&q, nn, errstr, sz);
            /* the renamed column now exists under its new name */
            cols_row(&have, (char *[]){(char *)nn}, NULL);
        }
        for (uint32_t i = 0; i < old->ncols; i++) {
            const char *od = my_sch_dst(map, old, i);
            int renamed = i < ns->ncols && sch_find(ns, old->cols[i].name) < 0 &&
                          sch_find(old, ns->cols[i].name) < 0 &&
                          col_same_type(&old->cols[i], &ns->cols[i]);
            if (!od || sch_find(ns, old->cols[i].name) >= 0 || renamed || !cols_has(&have, od))
                continue;
            sl_buf_puts(&q, nalter++ ? ", DROP COLUMN " : " DROP COLUMN ");
            my_ident(&q, od, errstr, sz);
        }
    }
    for (uint32_t i = 0; i < ns->ncols; i++) {
        const char *d = my_sch_dst(map, ns, i);
        if (!d)
            continue;
        int oi = old ? sch_find(old, ns->cols[i].name) : -1;
        if (!cols_has(&have, d)) {
            sl_buf_puts(&q, nalter++ ? ", ADD COLUMN " : " ADD COLUMN ");
        } else if (oi >= 0 && !col_same_type(&old->cols[oi], &ns->cols[i])) {
            sl_buf_puts(&q, nalter++ ? ", MODIFY COLUMN " : " MODIFY COLUMN ");
        } else {
            continue;
        }
        if ((e = my_coldef(&q, d, &ns->cols[i], src_mysql, errstr, sz)))
            goto out;
    }
    if (nalter)
        e = my_exec(t->ddl, q.data, q.len, "alter table", errstr, sz);
    if (e) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", errstr);
        snprintf(errstr, sz, "%s; the table `%s`.`%s` stops, the others go on", tmp,
                 map->dst_schema, map->dst_table);
        e = SL_ERR_UNSUPPORTED;
    }
out:
    if (!e) {
        my_stmt_forget_all(t);       /* column sets may have changed */
        if (tb)
            tb->src = NULL, tb->nkey = 0;
    }
    for (uint32_t i = 0; i < have.n; i++)
        free(have.name[i]);
    free(have.name);
    sl_buf_free(&q);
    return e;
}

/* ---- the ops ---- */

static void my_close(my_target_t *t)
{
    if (!t)
        return;
    my_stmt_forget_all(t);
    if (t->db)
        mysql_close(t->db);
    if (t->ddl)
        mysql_close(t->ddl);
    for (my_table_t *tb = t->tables, *nx; tb; tb = nx) {
        nx = tb->next;
        free(tb->schema);
        free(tb->table);
        free(tb->key);
        free(tb);
    }
    free(t->task); free(t->host); free(t->user); free(t->password);
    free(t->database); free(t->tls_ca);
    free(t->mask); free(t->pcls); free(t->params); free(t->bind);
    sl_buf_free(&t->sql); sl_buf_free(&t->data); sl_buf_free(&t->tmp);
    sl_buf_free(&t->keytext); sl_buf_free(&t->scratch);
    free(t);
}

static sl_err_t my_open(my_target_t **out, const app_target_conf_t *conf,
                        char *errstr, size_t sz)
{
    static const char ko[] =
        "CREATE TABLE IF NOT EXISTS `kafkaoffset` ("
        "`task` VARCHAR(255) NOT NULL, `topic` VARCHAR(255) NOT NULL, `partition` INT NOT NULL, "
        "`kafka_offset` BIGINT NOT NULL, `sub_offset` BIGINT NOT NULL, "
        "`source_position` VARCHAR(255) NOT NULL, "
        "`updated_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
        "PRIMARY KEY (`task`, `topic`, `partition`)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
    sl_err_t e;
    sl_buf_t q = SL_BUF_INIT;
    my_target_t *t = calloc(1, sizeof *t);
    if (!t)
        return SL_ERR_NOMEM;
    t->task = xstrdup(conf->task ? conf->task : "");
    t->host = xstrdup(conf->host ? conf->host : "127.0.0.1");
    t->user = xstrdup(conf->user);
    t->password = xstrdup(conf->password);
    t->database = xstrdup(conf->database && *conf->database ? conf->database : "shiftlog");
    t->tls_ca = xstrdup(conf->tls_ca);
    t->port = conf->port > 0 ? conf->port : 3306;
    t->tls_mode = conf->tls_mode;
    t->create_tables = conf->create_tables;
    t->batch_max = conf->write_batch > 0 ? (uint32_t)conf->write_batch : 1000;
    if (!t->task || !t->host || !t->database) {
        e = SL_ERR_NOMEM;
        goto err;
    }
    if ((e = my_connect(t, &t->db, 0, errstr, sz)))
        goto err;
    sl_buf_puts(&q, "CREATE DATABASE IF NOT EXISTS ");
    if ((e = my_ident(&q, t->database, errstr, sz)) ||
        (e = my_exec(t->db, q.data, q.len, "create database", errstr, sz)))
        goto err;
    if (mysql_select_db(t->db, t->database) != 0) {
        e = my_err(t->db, "use database", errstr, sz);
        goto err;
    }
    if ((e = my_exec(t->db, ko, sizeof ko - 1, "create table kafkaoffset", errstr, sz)))
        goto err;
    if (mysql_commit(t->db) != 0) {
        e = my_err(t->db, "commit", errstr, sz);
        goto err;
    }
    unsigned long caps = 0;
    if (mariadb_get_infov(t->db, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &caps) == 0)
        t->bulk = (caps & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0;
    if (getenv("SHIFTLOG_MYSQL_NO_BULK"))     /* bench / tests: the row-by-row path */
        t->bulk = 0;
    sl_buf_free(&q);
    *out = t;
    return SL_OK;
err:
    sl_buf_free(&q);
    my_close(t);
    return e;
}

typedef struct my_posrow_s {
    app_position_t *pos;
    int found;
    sl_err_t err;
    char msg[256];
} my_posrow_t;

static void pos_row(void *ctx, char **cols, unsigned long *lens)
{
    my_posrow_t *p = ctx;
    p->found = 1;
    p->pos->kafka_offset = strtoll(cols[0], NULL, 10);
    p->pos->sub_offset = strtoll(cols[1], NULL, 10);
    if (sl_pos_parse(cols[2], &p->pos->source, p->msg, sizeof p->msg) != SL_OK)
        p->err = SL_ERR_PARSE;
}

static sl_err_t my_load_position(my_target_t *t, const char *topic, int32_t partition,
                                 app_position_t *pos, char *errstr, size_t sz)
{
    char part[16];
    snprintf(part, sizeof part, "%d", (int)partition);
    const char *pv[3] = {t->task, topic, part};
    my_posrow_t pr = {.pos = pos};
    char tp[sizeof pos->topic];
    snprintf(tp, sizeof tp, "%s", topic);        /* topic may point into *pos */
    topic = tp;
    memset(pos, 0, sizeof *pos);
    snprintf(pos->topic, sizeof pos->topic, "%s", topic);
    pos->partition = partition;
    sl_err_t e = my_select(t->db, "SELECT `kafka_offset`, `sub_offset`, `source_position` "
                           "FROM `kafkaoffset` WHERE `task`=? AND `topic`=? AND `partition`=?",
                           3, pv, 3, pos_row, &pr, errstr, sz);
    mysql_commit(t->db);       /* end the read snapshot */
    if (e)
        return e;
    if (pr.err) {
        snprintf(errstr, sz, "mysql target: kafkaoffset row of task \"%s\": %s", t->task, pr.msg);
        return pr.err;
    }
    return pr.found ? SL_OK : SL_ERR_NOT_FOUND;
}

static void my_discard(my_target_t *t)
{
    for (my_table_t *tb = t->tables; tb; tb = tb->next)
        tb->touched = 0;
    t->kind = MY_NONE;
    t->nrows = 0;
    sl_buf_reset(&t->data);
}

static sl_err_t my_begin(my_target_t *t, char *errstr, size_t sz)
{
    my_discard(t);
    t->in_txn = 1;
    return SL_OK;
}

static sl_err_t my_rows(my_target_t *t, const app_table_map_t *map, const sl_record_t *rec,
                        uint32_t first, uint32_t n, const app_position_t *pos,
                        char *errstr, size_t sz)
{
    const sl_change_t *c = &rec->u.change;
    sl_err_t e;
    if (!t->in_txn) {
        snprintf(errstr, sz, "mysql target: rows() outside begin()/commit()");
        return SL_ERR_STATE;
    }
    if (rec->type != SL_REC_CHANGE || (uint64_t)first + n > c->nrows ||
        (map->dst_cols && c->ncols != map->ncols)) {
        snprintf(errstr, sz, "mysql target: table `%s`.`%s`: bad change batch (%s, rows %u+%u "
                 "of %u, %u columns, mapping has %u)", map->dst_schema, map->dst_table,
                 sl_rec_type_name(rec->type), first, n, c->nrows, c->ncols, map->ncols);
        return SL_ERR_INVALID;
    }
    my_table_t *tb = my_table_find(t, map->dst_schema, map->dst_table);
    if (!tb && !(tb = my_table_add(t, map->dst_schema, map->dst_table)))
        return SL_ERR_NOMEM;
    if ((!tb->nkey || tb->src != map->schema) && c->op != SL_OP_TRUNCATE &&
        (e = my_resolve_key(t, tb, map, c, errstr, sz)))
        return e;
    tb->touched = 1;
    if (c->op == SL_OP_TRUNCATE) {
        sl_buf_t q = SL_BUF_INIT;
        if ((e = my_flush(t, errstr, sz)))
            return e;
        sl_buf_puts(&q, "DELETE FROM ");    /* TRUNCATE would commit implicitly */
        if (!(e = my_qname(&q, map->dst_schema, map->dst_table, errstr, sz)))
            e = my_exec(t->db, q.data, q.len, "truncate (delete all rows)", errstr, sz);
        sl_buf_free(&q);
        return e;
    }
    for (uint32_t r = first; r < first + n; r++) {
        const sl_row_t *row = &c->rows[r];
        switch (c->op) {
        case SL_OP_INSERT:
            e = my_add(t, tb, MY_UPSERT, map, c, row->after, errstr, sz);
            break;
        case SL_OP_DELETE:
            e = my_add(t, tb, MY_DELETE, map, c, row->before, errstr, sz);
            break;
        case SL_OP_UPDATE: {
            int moved = 0;
            for (uint32_t k = 0; row->before && k < tb->nkey; k++)
                moved |= !sl_value_equal(&row->before[tb->key[k]], &row->after[tb->key[k]]);
            e = moved ? my_add(t, tb, MY_DELETE, map, c, row->before, errstr, sz) : SL_OK;
            if (!e)
                e = my_add(t, tb, MY_UPSERT, map, c, row->after, errstr, sz);
            break;
        }
        default:
            snprintf(errstr, sz, "mysql target: unknown operation %d", (int)c->op);
            e = SL_ERR_INVALID;
        }
        if (e)
            return e;
    }
    return SL_OK;
}

static sl_err_t my_commit(my_target_t *t, const app_position_t *pos, char *errstr, size_t sz)
{
    static const char up[] =
        "INSERT INTO `kafkaoffset` (`task`,`topic`,`partition`,`kafka_offset`,`sub_offset`,"
        "`source_position`,`updated_at`) VALUES (?,?,?,?,?,?,NOW(6)) ON DUPLICATE KEY UPDATE "
        "`kafka_offset`=VALUES(`kafka_offset`),`sub_offset`=VALUES(`sub_offset`),"
        "`source_position`=VALUES(`source_position`),`updated_at`=VALUES(`updated_at`)";
    sl_err_t e;
    char ptext[256];
    if (!t->in_txn) {
        snprintf(errstr, sz, "mysql target: commit() without begin()");
        return SL_ERR_STATE;
    }
    if ((e = my_flush(t, errstr, sz)))
        return e;
    if (pos) {
        MYSQL_STMT *st = my_stmt_get(t, up, sizeof up - 1, errstr, sz);
        if (!st)
            return SL_ERR_DB;
        sl_pos_format(&pos->source, ptext, sizeof ptext);
        MYSQL_BIND b[6];
        unsigned long l[3] = {strlen(t->task), strlen(pos->topic), strlen(ptext)};
        int32_t part = pos->partition;
        int64_t ko = pos->kafka_offset, so = pos->sub_offset;
        unsigned int zero = 0;
        memset(b, 0, sizeof b);
        b[0].buffer_type = MYSQL_TYPE_STRING; b[0].buffer = t->task; b[0].length = &l[0];
        b[1].buffer_type = MYSQL_TYPE_STRING; b[1].buffer = (void *)pos->topic; b[1].length = &l[1];
        b[2].buffer_type = MYSQL_TYPE_LONG; b[2].buffer = &part;
        b[3].buffer_type = MYSQL_TYPE_LONGLONG; b[3].buffer = &ko;
        b[4].buffer_type = MYSQL_TYPE_LONGLONG; b[4].buffer = &so;
        b[5].buffer_type = MYSQL_TYPE_STRING; b[5].buffer = ptext; b[5].length = &l[2];
        if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &zero) != 0 ||
            mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0) {
            snprintf(errstr, sz, "mysql target: storing the position of task \"%s\": %s",
                     t->task, mysql_stmt_error(st));
            return SL_ERR_DB;
        }
    }
    if (mysql_commit(t->db) != 0)
        return my_err(t->db, "commit", errstr, sz);
    my_discard(t);
    t->in_txn = 0;
    return SL_OK;
}

static sl_err_t my_rollback(my_target_t *t, char *errstr, size_t sz)
{
    my_discard(t);
    t->in_txn = 0;
    if (mysql_rollback(t->db) != 0)
        return my_err(t->db, "rollback", errstr, sz);
    return SL_OK;
}

/* The ops: app_target_t is this file's my_target_t (one struct per target, so
 * that several targets can share a translation unit, as tests/it/it_target.c does). */
#define T_(x) ((my_target_t *)(void *)(x))
static sl_err_t op_my_open(app_target_t **out, const app_target_conf_t *conf, char *e, size_t n)
{ return my_open((my_target_t **)(void *)out, conf, e, n); }
static void op_my_close(app_target_t *t) { my_close(T_(t)); }
static sl_err_t op_my_load_position(app_target_t *t, const char *topic, int32_t part,
                                   app_position_t *pos, char *e, size_t n)
{ return my_load_position(T_(t), topic, part, pos, e, n); }
static sl_err_t op_my_begin(app_target_t *t, char *e, size_t n) { return my_begin(T_(t), e, n); }
static sl_err_t op_my_schema(app_target_t *t, const app_table_map_t *m, const sl_record_t *r,
                            char *e, size_t n)
{ return my_schema(T_(t), m, r, e, n); }
static sl_err_t op_my_rows(app_target_t *t, const app_table_map_t *m, const sl_record_t *r,
                          uint32_t first, uint32_t cnt, const app_position_t *pos, char *e, size_t n)
{ return my_rows(T_(t), m, r, first, cnt, pos, e, n); }
static sl_err_t op_my_commit(app_target_t *t, const app_position_t *pos, char *e, size_t n)
{ return my_commit(T_(t), pos, e, n); }
static sl_err_t op_my_rollback(app_target_t *t, char *e, size_t n) { return my_rollback(T_(t), e, n); }
#undef T_

const app_target_ops_t app_target_mysql = {
    .name = "mysql",
    .open = op_my_open,
    .close = op_my_close,
    .load_position = op_my_load_position,
    .begin = op_my_begin,
    .schema = op_my_schema,
    .rows = op_my_rows,
    .commit = op_my_commit,
    .rollback = op_my_rollback,
};
