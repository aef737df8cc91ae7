/* shiftlog-applier: the MySQL / MariaDB target's DDL side and shared
 * helpers (see target_mysql.c for the writer and the ops):
 *   - connection (session settings), statement and metadata query helpers,
 *     identifier quoting (backticks, a backtick doubled);
 *   - the key of a table: the source primary key, else the target's own
 *     PRIMARY / UNIQUE key when all its columns are mapped, else refused;
 *   - schema(): type mapping, CREATE DATABASE / TABLE, and ALTER TABLE
 *     (RENAME / ADD / DROP / MODIFY COLUMN) on the second, autocommit
 *     connection (DDL commits implicitly in MySQL). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mysql.h>

#include "sl_myconn.h"
#include "sl_tls.h"
#include "sl_buf.h"
#include "sl_log.h"
#include "target_mysql.h"

char *app_my_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

sl_err_t app_my_err(MYSQL *db, const char *what, char *errstr, size_t sz)
{
    unsigned no = mysql_errno(db);
    snprintf(errstr, sz, "mysql target: %s: %s (%u)", what, mysql_error(db), no);
    /* lock wait timeout, deadlock: transient (the core replays from the
     * stored position); with worker_num > 1 a wait on another worker's lock
     * (a unique key other than the primary key) ends this way. Access
     * denied (database, table, command), no such database: for good. */
    if (no == 1044 || no == 1045 || no == 1049 || no == 1142 || no == 1227)
        return SL_ERR_DENIED;
    return no == 1205 || no == 1213 ? SL_ERR_IO : SL_ERR_DB;
}

/* Runs one statement that returns no rows; SL_ERR_DB names `what`. */
sl_err_t app_my_exec(MYSQL *db, const char *sql, size_t len, const char *what,
                     char *errstr, size_t sz)
{
    if (mysql_real_query(db, sql, len) != 0)
        return app_my_err(db, what, errstr, sz);
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
    return tag ? app_my_exec(db, q, sizeof q - 1, "skip_replication", errstr, sz) : SL_OK;
}

sl_err_t app_my_connect(my_target_t *t, MYSQL **out, int autocommit, char *errstr, size_t sz)
{
    static const char session[] =
        "SET NAMES utf8mb4, time_zone='+00:00', foreign_key_checks=0, "
        "sql_mode='STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO'";
    MYSQL *db = NULL;
    sl_myconn_t c = {t->host, (unsigned)t->port, t->user, t->password, NULL,
                     {t->tls_mode, t->tls_ca, t->tls_cert, t->tls_key}, 5, 600, 600,
                     CLIENT_FOUND_ROWS};
    char hint[300], msg[512];
    for (int attempt = 0; attempt < MY_RETRIES; attempt++) {
        unsigned no;
        sl_err_t ce = sl_myconn_open(&c, &db, msg, sizeof msg, &no);
        if (ce == SL_ERR_NOMEM)
            return SL_ERR_NOMEM;
        if (!ce)
            break;
        if (ce == SL_ERR_DENIED) {
            snprintf(errstr, sz, "mysql target %s:%d as %s: target.%s", t->host, t->port,
                     t->user ? t->user : "", msg);
            return SL_ERR_DENIED;  /* the server's setting: another try cannot help */
        }
        if (no == 1045 || no == 1044 || no == 1049 || no == 1698) {
            /* access denied, no such database: the same next time */
            snprintf(errstr, sz, "mysql target %s:%d as %s: %s (%u; refused by the server: "
                     "check target.user, target.password, target.database and the user's "
                     "privileges%s)", t->host, t->port, t->user ? t->user : "", msg,
                     no, no == 1045 ? sl_tls_my_denied_hint(t->tls_mode, "target", hint,
                                                          sizeof hint) : "");
            return SL_ERR_DENIED;
        }
        if (sl_tls_error_hint(msg, "target", hint, sizeof hint)[0]) {
            /* a certificate the CA does not sign: the same next time */
            snprintf(errstr, sz, "mysql target %s:%d as %s: %s%s", t->host, t->port,
                     t->user ? t->user : "", msg, hint);
            return SL_ERR_DENIED;
        }
        snprintf(errstr, sz, "mysql target %s:%d as %s: cannot connect: %s (attempt %d of %d)",
                 t->host, t->port, t->user ? t->user : "", msg, attempt + 1,
                 MY_RETRIES);
        if (attempt + 1 < MY_RETRIES) {
            struct timespec ts = {0, 500000000};
            nanosleep(&ts, NULL);
        }
    }
    if (!db)
        return SL_ERR_DB;
    sl_err_t e = app_my_exec(db, session, sizeof session - 1, "session settings", errstr, sz);
    /* parallel workers: no gap locks between workers' keys (READ COMMITTED
     * locks index records only), and a bounded wait on another's lock */
    static const char iso[] = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
    static const char lwt[] = "SET SESSION innodb_lock_wait_timeout=5";
    if (!e && t->parallel && !(e = app_my_exec(db, iso, sizeof iso - 1, "isolation", errstr, sz)))
        e = app_my_exec(db, lwt, sizeof lwt - 1, "innodb_lock_wait_timeout", errstr, sz);
    if (!e)
        e = my_session_tag(db, 0, errstr, sz);
    if (!e && mysql_autocommit(db, autocommit ? 1 : 0) != 0)
        e = app_my_err(db, "autocommit", errstr, sz);
    if (e) {
        mysql_close(db);
        return e;
    }
    *out = db;
    return SL_OK;
}

/* Prepared statement with text parameters and up to 4 text result columns;
 * calls row(ctx, cols, lens) per result row. For metadata and the position. */

sl_err_t app_my_select(MYSQL *db, const char *sql, uint32_t np, const char *const *pv,
                       uint32_t nc, app_my_row_fn row, void *ctx, char *errstr, size_t sz)
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

sl_err_t app_my_ident(sl_buf_t *b, const char *name, char *errstr, size_t sz)
{
    if (!name || app_conv_quote_ident(b, name, strlen(name), '`') != SL_OK) {
        snprintf(errstr, sz, "mysql target: invalid identifier %s", name ? "(empty)" : "(null)");
        return SL_ERR_INVALID;
    }
    return SL_OK;
}

sl_err_t app_my_qname(sl_buf_t *b, const char *schema, const char *table,
                      char *errstr, size_t sz)
{
    sl_err_t e;
    if (schema && *schema) {
        if ((e = app_my_ident(b, schema, errstr, sz)))
            return e;
        sl_buf_putc(b, '.');
    }
    return app_my_ident(b, table, errstr, sz);
}

/* ---- tables and keys ---- */

const char *app_my_dst_col(const app_table_map_t *map, const sl_change_t *c, uint32_t i)
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
sl_err_t app_my_resolve_key(my_target_t *t, my_table_t *tb, const app_table_map_t *map,
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
                    if (!app_my_dst_col(map, c, i)) {
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
    sl_err_t e = app_my_select(t->db,
        "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA=? AND TABLE_NAME=? AND NON_UNIQUE=0 "
        "ORDER BY INDEX_NAME<>'PRIMARY', INDEX_NAME, SEQ_IN_INDEX", 2, pv, 2, ukey_row, &uk,
        errstr, sz);
    if (e)
        return e;
    for (uint32_t j = 0; j < uk.n; j++) {
        uint32_t i;
        for (i = 0; i < ncols; i++) {
            const char *d = app_my_dst_col(map, c, i);
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

my_table_t *app_my_table_find(my_target_t *t, const char *schema, const char *table)
{
    for (my_table_t *tb = t->tables; tb; tb = tb->next)
        if (strcmp(tb->schema, schema ? schema : "") == 0 && strcmp(tb->table, table) == 0)
            return tb;
    return NULL;
}

my_table_t *app_my_table_add(my_target_t *t, const char *schema, const char *table)
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
        if (app_conv_is_varbit(col)) {   /* the digits: MariaDB's BIT has no varying length */
            if (p >= 1 && p <= (key ? 3072 : 16383))
                return sl_buf_printf(b, "VARCHAR(%d) CHARACTER SET ascii COLLATE ascii_bin", p);
            return sl_buf_puts(b, key ? "VARCHAR(3072) CHARACTER SET ascii COLLATE ascii_bin"
                                      : "LONGTEXT CHARACTER SET ascii COLLATE ascii_bin");
        }
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

/* t without the display width of an integer type ("tinyint(1) unsigned" →
 * "tinyint unsigned") into out; 0 when t has none. */
static int int_width_strip(const char *t, char *out, size_t n)
{
    static const char *const ints[] = {"tinyint", "smallint", "mediumint", "int", "integer",
                                       "bigint", NULL};
    for (int i = 0; ints[i]; i++) {
        size_t l = strlen(ints[i]);
        if (strncmp(t, ints[i], l) || t[l] != '(')
            continue;
        const char *p = t + l + 1;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == t + l + 1 || *p != ')')
            return 0;
        snprintf(out, n, "%.*s%s", (int)l, t, p + 1);
        return 1;
    }
    return 0;
}

/* Source types are the same; an integer display width known on one side
 * only (a SCHEMA from binlog metadata has none, one from the DDL has it)
 * is no change. */
static int same_source_type(const char *a, const char *b)
{
    char s[128];
    a = a ? a : "";
    b = b ? b : "";
    if (!strcmp(a, b))
        return 1;
    return (int_width_strip(a, s, sizeof s) && !strcmp(s, b)) ||
           (int_width_strip(b, s, sizeof s) && !strcmp(s, a));
}

/* Equal, or unknown (-1) on one side. */
static int same_or_unknown(int32_t a, int32_t b)
{
    return a == b || a < 0 || b < 0;
}

/* 1 when nothing that the target column depends on changed between two
 * versions of a column. What one version leaves unknown (the schema of a
 * table's first use comes from binlog metadata: no display width, no
 * precision of integers) is no change. */
static int col_same_type(const sl_column_t *a, const sl_column_t *b)
{
    if (a->kind != b->kind || !same_or_unknown(a->precision, b->precision) ||
        !same_or_unknown(a->scale, b->scale) || a->nlabels != b->nlabels ||
        !same_source_type(a->source_type, b->source_type))
        return 0;
    for (uint32_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i], b->labels[i]))
            return 0;
    return 1;
}

static sl_err_t my_coldef(sl_buf_t *b, const char *dst, const sl_column_t *col, int src_mysql,
                          char *errstr, size_t sz)
{
    sl_err_t e = app_my_ident(b, dst, errstr, sz);
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

#define MY_MAX_DFLT 64 /* defaults of columns added by one SCHEMA (more: added without) */

/* " DEFAULT <the carried default>" for an ADD COLUMN (the rows there get it,
 * as the source's did): TRUE / FALSE for a boolean, else a string literal
 * escaped for the connection, which MariaDB converts to the column's type. */
static sl_err_t my_default(MYSQL *db, sl_buf_t *b, const sl_column_t *col)
{
    int kw;
    char dbuf[64];
    const char *d = app_default_sql(col, &kw, dbuf, sizeof dbuf);
    if (kw)
        return sl_buf_printf(b, " DEFAULT %s", d);
    size_t n = strlen(d);
    char *esc = malloc(2 * n + 1);
    if (!esc)
        return SL_ERR_NOMEM;
    mysql_real_escape_string(db, esc, d, (unsigned long)n);
    sl_err_t e = sl_buf_printf(b, " DEFAULT '%s'", esc);
    free(esc);
    return e;
}

static sl_err_t my_busy(const app_table_map_t *map, char *errstr, size_t sz)
{
    snprintf(errstr, sz, "mysql target: table `%s`.`%s`: its schema change needs DDL, which "
             "commits implicitly, and the open target transaction already wrote to the table: "
             "commit before the SCHEMA record", map->dst_schema, map->dst_table);
    return SL_ERR_STATE;
}

/* One schema() call's state, shared by its steps. */
typedef struct my_ddl_s {
    my_target_t           *t;
    const app_table_map_t *map;
    const sl_schema_t     *ns;      /* the new version */
    const sl_schema_t     *old;     /* the one in force before it, NULL unknown */
    int                    src_mysql;
    int                    busy;    /* the open transaction wrote the table */
    my_cols_t              have;    /* the target table's columns now */
    sl_buf_t               q;
} my_ddl_t;

static sl_err_t ddl_read_cols(my_ddl_t *d, char *errstr, size_t sz)
{
    const char *pv[2] = {d->map->dst_schema, d->map->dst_table};
    return app_my_select(d->t->ddl, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                         "TABLE_SCHEMA=? AND TABLE_NAME=? ORDER BY ORDINAL_POSITION", 2, pv, 1,
                         cols_row, &d->have, errstr, sz);
}

static sl_err_t ddl_create_db(my_ddl_t *d, char *errstr, size_t sz)
{
    sl_err_t e;
    sl_buf_reset(&d->q);
    sl_buf_puts(&d->q, "CREATE DATABASE IF NOT EXISTS ");
    if ((e = app_my_ident(&d->q, d->map->dst_schema, errstr, sz)) ||
        (e = app_my_exec(d->t->ddl, d->q.data, d->q.len, "create database", errstr, sz)))
        return e;
    sl_buf_reset(&d->q);
    return SL_OK;
}

/* The source table was dropped: so is the target's under ddl.apply = all. */
static sl_err_t ddl_drop_table(my_ddl_t *d, char *errstr, size_t sz)
{
    const app_table_map_t *map = d->map;
    sl_err_t e;
    if (d->t->ddl_apply != APP_DDL_ALL) {
        sl_info("mysql target: source table %s.%s dropped; `%s`.`%s` kept (ddl.apply is "
                "not all)", d->ns->db, d->ns->table, map->dst_schema, map->dst_table);
        return SL_OK;
    }
    if (d->busy)
        return my_busy(map, errstr, sz);
    sl_buf_puts(&d->q, "DROP TABLE IF EXISTS ");
    if ((e = app_my_qname(&d->q, map->dst_schema, map->dst_table, errstr, sz)) ||
        (e = app_my_exec(d->t->ddl, d->q.data, d->q.len, "drop table", errstr, sz)))
        return e;
    sl_info("mysql target: source table %s.%s dropped: `%s`.`%s` dropped", d->ns->db,
            d->ns->table, map->dst_schema, map->dst_table);
    return SL_OK;
}

/* Renamed in the source (ddl.apply = all) and absent here: the target table
 * of the old name becomes this one, when it exists. */
static sl_err_t ddl_follow_rename(my_ddl_t *d, char *errstr, size_t sz)
{
    my_target_t *t = d->t;
    const app_table_map_t *map = d->map;
    const char *ov[2] = {map->rename_schema, map->rename_table};
    my_cols_t was = {0};
    sl_err_t e = app_my_select(t->ddl, "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                               "WHERE TABLE_SCHEMA=? AND TABLE_NAME=? LIMIT 1", 2, ov, 1,
                               cols_row, &was, errstr, sz);
    int there = was.n > 0;
    for (uint32_t i = 0; i < was.n; i++)
        free(was.name[i]);
    free(was.name);
    if (e || !there)
        return e;
    my_table_t *otb = app_my_table_find(t, map->rename_schema, map->rename_table);
    if (d->busy || (otb && otb->touched && t->in_txn))
        return my_busy(map, errstr, sz);
    if ((e = ddl_create_db(d, errstr, sz)))
        return e;
    sl_buf_puts(&d->q, "RENAME TABLE ");
    if ((e = app_my_qname(&d->q, map->rename_schema, map->rename_table, errstr, sz)))
        return e;
    sl_buf_puts(&d->q, " TO ");
    if ((e = app_my_qname(&d->q, map->dst_schema, map->dst_table, errstr, sz)) ||
        (e = app_my_exec(t->ddl, d->q.data, d->q.len, "rename table", errstr, sz)))
        return e;
    sl_buf_reset(&d->q);
    if (otb)
        otb->src = NULL, otb->nkey = 0;
    sl_info("mysql target: source table renamed: `%s`.`%s` is now `%s`.`%s`",
            map->rename_schema, map->rename_table, map->dst_schema, map->dst_table);
    return ddl_read_cols(d, errstr, sz);
}

/* The table is absent: CREATE TABLE with the mapped columns and the source's
 * primary key, when ddl.apply and create_tables allow it. */
static sl_err_t ddl_create_table(my_ddl_t *d, char *errstr, size_t sz)
{
    const app_table_map_t *map = d->map;
    const sl_schema_t *ns = d->ns;
    sl_buf_t *q = &d->q;
    sl_err_t e;
    int npk = 0;
    if (d->t->ddl_apply == APP_DDL_NONE) {
        snprintf(errstr, sz, "mysql target: table `%s`.`%s` does not exist and ddl.apply "
                 "is none: create it by hand, then resume the table", map->dst_schema,
                 map->dst_table);
        return SL_ERR_UNSUPPORTED;
    }
    if (!d->t->create_tables) {
        snprintf(errstr, sz, "mysql target: table `%s`.`%s` does not exist and "
                 "target.create_tables is off: create it, or turn create_tables on",
                 map->dst_schema, map->dst_table);
        return SL_ERR_UNSUPPORTED;
    }
    for (uint32_t i = 0; i < ns->ncols; i++)
        npk += ns->cols[i].pk > 0 && my_sch_dst(map, ns, i);
    if (npk == 0) {
        snprintf(errstr, sz, "mysql target: table `%s`.`%s`: the source table %s.%s has no "
                 "primary key, so changes cannot be applied exactly once; add a primary key "
                 "to the source, or create the target table with a unique key",
                 map->dst_schema, map->dst_table, ns->db, ns->table);
        return SL_ERR_UNSUPPORTED;
    }
    if (d->busy)
        return my_busy(map, errstr, sz);
    if ((e = ddl_create_db(d, errstr, sz)))
        return e;
    sl_buf_puts(q, "CREATE TABLE IF NOT EXISTS ");
    if ((e = app_my_qname(q, map->dst_schema, map->dst_table, errstr, sz)))
        return e;
    sl_buf_puts(q, " (");
    int n = 0;
    for (uint32_t i = 0; i < ns->ncols; i++) {
        const char *dst = my_sch_dst(map, ns, i);
        if (!dst)
            continue;
        if (n++)
            sl_buf_puts(q, ", ");
        if ((e = my_coldef(q, dst, &ns->cols[i], d->src_mysql, errstr, sz)))
            return e;
    }
    sl_buf_puts(q, ", PRIMARY KEY (");
    n = 0;
    for (int k = 1; k <= (int)ns->ncols; k++)
        for (uint32_t i = 0; i < ns->ncols; i++)
            if (ns->cols[i].pk == k && my_sch_dst(map, ns, i)) {
                if (n++)
                    sl_buf_putc(q, ',');
                app_my_ident(q, my_sch_dst(map, ns, i), errstr, sz);
            }
    sl_buf_puts(q, ")) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin");
    return app_my_exec(d->t->ddl, q->data, q->len, "create table", errstr, sz);
}

/* ddl.apply = all: RENAME COLUMN (same place, same type, the old name gone,
 * the new one new; or a type change the DDL text shows folded with the
 * rename: CHANGE COLUMN) and DROP COLUMN clauses into q; *nalter counts
 * them. */
static sl_err_t ddl_renames_drops(my_ddl_t *d, int *nalter, char *errstr, size_t sz)
{
    sl_err_t e;
    const sl_schema_t *old = d->old, *ns = d->ns;
    uint32_t m = old->ncols < ns->ncols ? old->ncols : ns->ncols;
    for (uint32_t i = 0; i < m; i++) {
        const char *on = old->cols[i].name, *nn = ns->cols[i].name;
        int same = col_same_type(&old->cols[i], &ns->cols[i]);
        if (strcmp(on, nn) == 0 || sch_find(ns, on) >= 0 || sch_find(old, nn) >= 0 ||
            (!same && !app_ddl_renames(ns->ddl, on, nn)))
            continue;
        const char *od = my_sch_dst(d->map, old, i);
        if (!od || !cols_has(&d->have, od) || cols_has(&d->have, nn))
            continue;
        if (same) {
            sl_buf_puts(&d->q, (*nalter)++ ? ", RENAME COLUMN " : " RENAME COLUMN ");
            app_my_ident(&d->q, od, errstr, sz);
            sl_buf_puts(&d->q, " TO ");
            app_my_ident(&d->q, nn, errstr, sz);
        } else {
            sl_buf_puts(&d->q, (*nalter)++ ? ", CHANGE COLUMN " : " CHANGE COLUMN ");
            app_my_ident(&d->q, od, errstr, sz);
            sl_buf_putc(&d->q, ' ');
            if ((e = my_coldef(&d->q, nn, &ns->cols[i], d->src_mysql, errstr, sz)))
                return e;
        }
        /* the renamed column now exists under its new name */
        cols_row(&d->have, (char *[]){(char *)nn}, NULL);
    }
    for (uint32_t i = 0; i < old->ncols; i++) {
        const char *od = my_sch_dst(d->map, old, i);
        int renamed = i < ns->ncols && sch_find(ns, old->cols[i].name) < 0 &&
                      sch_find(old, ns->cols[i].name) < 0 &&
                      (col_same_type(&old->cols[i], &ns->cols[i]) ||
                       app_ddl_renames(ns->ddl, old->cols[i].name, ns->cols[i].name));
        if (!od || sch_find(ns, old->cols[i].name) >= 0 || renamed || !cols_has(&d->have, od))
            continue;
        sl_buf_puts(&d->q, (*nalter)++ ? ", DROP COLUMN " : " DROP COLUMN ");
        app_my_ident(&d->q, od, errstr, sz);
    }
    return SL_OK;
}

/* The table exists: bring its columns in line with ns (ddl.apply
 * permitting; additive: no rename, no drop). A refused ALTER stops the
 * table (SL_ERR_UNSUPPORTED), not the task. */
static sl_err_t ddl_alter(my_ddl_t *d, char *errstr, size_t sz)
{
    const app_table_map_t *map = d->map;
    const sl_schema_t *old = d->old, *ns = d->ns;
    sl_buf_t *q = &d->q;
    size_t dflt_at[MY_MAX_DFLT][2];     /* [start, end) of each " DEFAULT ..." in q */
    int ndflt = 0, nalter = 0;
    sl_err_t e = SL_OK;
    if (d->t->ddl_apply == APP_DDL_NONE)
        return SL_OK;
    sl_buf_puts(q, "ALTER TABLE ");
    if ((e = app_my_qname(q, map->dst_schema, map->dst_table, errstr, sz)))
        return e;
    if (old && d->t->ddl_apply == APP_DDL_ALL && (e = ddl_renames_drops(d, &nalter, errstr, sz)))
        return e;
    for (uint32_t i = 0; i < ns->ncols; i++) {
        const char *dst = my_sch_dst(map, ns, i);
        if (!dst)
            continue;
        int oi = old ? sch_find(old, ns->cols[i].name) : -1;
        if (!cols_has(&d->have, dst)) {
            sl_buf_puts(q, nalter++ ? ", ADD COLUMN " : " ADD COLUMN ");
        } else if (oi >= 0 && !col_same_type(&old->cols[oi], &ns->cols[i])) {
            sl_buf_puts(q, nalter++ ? ", MODIFY COLUMN " : " MODIFY COLUMN ");
        } else {
            continue;
        }
        if ((e = my_coldef(q, dst, &ns->cols[i], d->src_mysql, errstr, sz)))
            return e;
        if (!cols_has(&d->have, dst) && ns->cols[i].dflt && ndflt < MY_MAX_DFLT) {
            dflt_at[ndflt][0] = q->len;
            if ((e = my_default(d->t->ddl, q, &ns->cols[i])))
                return e;
            dflt_at[ndflt++][1] = q->len;
        }
    }
    if (nalter && d->busy)
        return my_busy(map, errstr, sz);
    if (nalter)
        e = app_my_exec(d->t->ddl, q->data, q->len, "alter table", errstr, sz);
    if (e == SL_ERR_DB && ndflt) {
        /* a default the target type refuses must not stop the table: the
         * same ALTER without the defaults (the rows there keep NULL) */
        sl_buf_t q2 = SL_BUF_INIT;
        size_t from = 0;
        for (int k = 0; k < ndflt; k++) {
            sl_buf_append(&q2, q->data + from, dflt_at[k][0] - from);
            from = dflt_at[k][1];
        }
        sl_buf_append(&q2, q->data + from, q->len - from);
        sl_warn("mysql target: `%s`.`%s`: the source's column defaults do not fit (%s): the "
                "columns are added without them, the rows there keep NULL", map->dst_schema,
                map->dst_table, errstr);
        e = q2.data ? app_my_exec(d->t->ddl, q2.data, q2.len, "alter table", errstr, sz)
                    : SL_ERR_NOMEM;
        sl_buf_free(&q2);
    }
    if (e) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", errstr);
        snprintf(errstr, sz, "%s; the table `%s`.`%s` stops, the others go on", tmp,
                 map->dst_schema, map->dst_table);
        e = SL_ERR_UNSUPPORTED;
    }
    return e;
}

/* The target ops' schema(), in steps: drop (a dropped source table), else
 * read the target's columns, follow a source rename, then create the table
 * or alter its columns. */
sl_err_t app_my_schema(my_target_t *t, const app_table_map_t *map, const sl_record_t *rec,
                       char *errstr, size_t sz)
{
    const sl_schema_t *ns = &rec->u.schema;
    /* the previous version: from the core (map->prev), or a caller that
     * hands the version in force before the record as map->schema */
    my_ddl_t d = {.t = t, .map = map, .ns = ns,
                  .old = map->prev && map->prev != ns ? map->prev
                         : map->schema && map->schema != ns ? map->schema : NULL,
                  .src_mysql = rec->pos.kind == SL_POS_MYSQL, .q = SL_BUF_INIT};
    sl_err_t e;
    if (rec->type != SL_REC_SCHEMA) {
        snprintf(errstr, sz, "mysql target: schema() got a %s record", sl_rec_type_name(rec->type));
        return SL_ERR_INVALID;
    }
    my_table_t *tb = app_my_table_find(t, map->dst_schema, map->dst_table);
    /* DDL on a table the open transaction wrote would wait for our own
     * metadata lock (and on the data connection it would commit half a
     * transaction): SL_ERR_STATE before anything runs, so that the core
     * commits first. A schema that needs no DDL is fine at any time. */
    d.busy = tb && tb->touched && t->in_txn;
    if (!t->ddl && (e = app_my_connect(t, &t->ddl, 1, errstr, sz)))
        return e;
    static const char lwt[] = "SET SESSION lock_wait_timeout=30";
    if ((e = app_my_exec(t->ddl, lwt, sizeof lwt - 1, "lock_wait_timeout", errstr, sz)))
        return e;
    if (sl_schema_dropped(ns))
        e = ddl_drop_table(&d, errstr, sz);
    else if (!(e = ddl_read_cols(&d, errstr, sz)) && d.have.n == 0 && map->rename_table &&
             t->ddl_apply == APP_DDL_ALL)
        e = ddl_follow_rename(&d, errstr, sz);
    if (!e && !sl_schema_dropped(ns))
        e = d.have.n == 0 ? ddl_create_table(&d, errstr, sz) : ddl_alter(&d, errstr, sz);
    for (uint32_t i = 0; i < d.have.n; i++)
        free(d.have.name[i]);
    free(d.have.name);
    sl_buf_free(&d.q);
    return e;
}
