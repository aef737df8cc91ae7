/* shiftlog-applier: the MySQL / MariaDB target's private header, shared by
 * target_mysql.c (the batch writer, the statement cache, the target ops)
 * and target_mysql_ddl.c (connection and query helpers, table keys, type
 * mapping, CREATE / ALTER). Nothing here is used outside these two files. */
#ifndef APP_TARGET_MYSQL_H
#define APP_TARGET_MYSQL_H

#include <stdint.h>
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
    app_target_t base;       /* first: the common head (target.h) */
    MYSQL   *db, *ddl;
    char    *task, *host, *user, *password, *database, *tls_ca, *tls_cert, *tls_key;
    char    *lease_task;      /* whose lease fences the position writes */
    int64_t  epoch;           /* the lease epoch held; 0 = no fence */
    int      port, tls_mode, create_tables;
    int      ddl_apply;               /* APP_DDL_* */
    int      on_unconvertible;        /* APP_UNCONV_* */
    int      parallel;        /* one of worker_num > 1 connections (target_par.c) */
    uint32_t batch_max;
    int      bulk;
    int      in_txn;
    int      stops_ready;     /* shiftlog_stopped exists (target_mysql_stops.c) */
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

/* --- helpers (target_mysql_ddl.c) */

char    *app_my_strdup(const char *s);           /* NULL for NULL */
/* SL_ERR_DB with "mysql target: what: server message (errno)". */
sl_err_t app_my_err(MYSQL *db, const char *what, char *errstr, size_t sz);
/* Runs one statement that returns no rows; SL_ERR_DB names `what`. */
sl_err_t app_my_exec(MYSQL *db, const char *sql, size_t len, const char *what,
                     char *errstr, size_t sz);
/* Connects with the target's settings and session (autocommit on or off).
 * SL_ERR_DENIED: the server refused for good (access denied, no such
 * database): not retried. */
sl_err_t app_my_connect(my_target_t *t, MYSQL **out, int autocommit, char *errstr, size_t sz);
typedef void (*app_my_row_fn)(void *ctx, char **cols, unsigned long *lens);
/* Prepared statement with text parameters and up to 4 text result columns;
 * calls row(ctx, cols, lens) per result row. For metadata and the position. */
sl_err_t app_my_select(MYSQL *db, const char *sql, uint32_t np, const char *const *pv,
                       uint32_t nc, app_my_row_fn row, void *ctx, char *errstr, size_t sz);
/* Appends name quoted with backticks (a backtick doubled). */
sl_err_t app_my_ident(sl_buf_t *b, const char *name, char *errstr, size_t sz);
/* Appends `schema`.`table`. */
sl_err_t app_my_qname(sl_buf_t *b, const char *schema, const char *table,
                      char *errstr, size_t sz);

/* --- tables and keys (target_mysql_ddl.c) */

/* The target column of source column i of change c (NULL = not written). */
const char *app_my_dst_col(const app_table_map_t *map, const sl_change_t *c, uint32_t i);
/* Key of the target table: the source primary key, else the target's own
 * primary / unique key if all its columns are mapped; else refused. */
sl_err_t app_my_resolve_key(my_target_t *t, my_table_t *tb, const app_table_map_t *map,
                            const sl_change_t *c, char *errstr, size_t sz);
my_table_t *app_my_table_find(my_target_t *t, const char *schema, const char *table);
my_table_t *app_my_table_add(my_target_t *t, const char *schema, const char *table);
/* The target ops' schema(): CREATE / ALTER on the DDL connection. After
 * SL_OK the caller (target_mysql.c) forgets the prepared statements and the
 * table's key: column sets may have changed. */
sl_err_t app_my_schema(my_target_t *t, const app_table_map_t *map, const sl_record_t *rec,
                       char *errstr, size_t sz);

/* --- the task's lease (target_mysql_lease.c): the ops of target.h */
sl_err_t app_my_lease_take(app_lease_t **out, const app_target_conf_t *c, int64_t *epoch,
                           char *errstr, size_t sz);
sl_err_t app_my_lease_check(app_lease_t *l, char *errstr, size_t sz);
void     app_my_lease_drop(app_lease_t *l);
/* SL_OK when the open transaction of db sees shiftlog_lease holding epoch
 * for task (read LOCK IN SHARE MODE); SL_ERR_FENCED when another. */
sl_err_t app_my_lease_fence(MYSQL *db, const char *task, int64_t epoch, char *errstr,
                            size_t sz);

/* open(): a kafkaoffset table of a version before leases gets the epoch column. */
sl_err_t app_my_add_epoch(MYSQL *db, char *errstr, size_t sz);

/* --- stopped tables (target_mysql_stops.c; see target.h) */

sl_err_t app_my_progress_load(app_target_t *at, char **out, char *errstr, size_t sz);
sl_err_t app_my_progress_save(app_target_t *at, const char *text, char *errstr, size_t sz);
sl_err_t app_my_stops_load(app_target_t *at, app_stop_t **out, size_t *n, char *errstr,
                           size_t sz);
sl_err_t app_my_stop_save(app_target_t *at, const app_stop_t *s, char *errstr, size_t sz);
sl_err_t app_my_stop_clear(app_target_t *at, const char *db, const char *table, char *errstr,
                           size_t sz);

/* --- statements (target_mysql.c) */


#endif
