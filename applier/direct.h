/* shiftlog-applier: `source.type = direct` — goshift-style bulk tasks
 * (docs/direct.md): one source table copied into one target table with no
 * Kafka in between, through the same target ops (target.h) as the change
 * stream, so each target keeps one bulk / upsert path and one exactly-once
 * rule.
 *
 *   task       a row of a task table shaped like goshift's
 *              task_def_sync_manager (MariaDB or PostgreSQL), or a JSON file
 *              with the same fields (direct_task.c);
 *   read       keyset chunks of read_batch rows in split.pk order (never
 *              OFFSET), each a CHANGE record with op READ (direct_chunk.c);
 *              worker_num ranges of an integer first key column in parallel,
 *              each with its own connections and progress (direct.c,
 *              direct_work.c);
 *   write      each chunk in one target transaction: the rows (upserts of
 *              the whole row), the task's progress (direct_progress: the last
 *              key read, the diff_column watermark) and the kafkaoffset row,
 *              committed together — a kill -9 resumes after the last
 *              committed chunk, never at zero and never twice;
 *   diff       with diff_column, the runs after the first read only the rows
 *              whose diff_column is at or past the watermark (>=: rows that
 *              share the boundary value are read again and upserted, not
 *              lost), and the watermark only moves to
 *              min(largest value read, source clock at the run's start -
 *              diff.lag.ms) so a row committed late with an older value is
 *              still at or past it. Deletes are not seen this way. */
#ifndef APP_DIRECT_H
#define APP_DIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "applier.h"
#include "sl_record.h"

#define APP_DIRECT_MAX_KEY 16

/* One task (goshift's task_def_sync_manager row). Strings owned by the
 * task (app_dtask_free). */
typedef struct app_dtask_s {
    char    *name;
    char    *from_type, *from_app, *from_db, *from_table;
    char    *to_type, *to_app, *to_db, *to_table;
    char    *description;
    char    *split_pk;      /* "" = the primary key */
    char    *diff_column;   /* "" = a full copy each run */
    int64_t  worker_num, read_batch, write_batch, diff_lag_ms;
    int      online;        /* online_status: 0 = the task is switched off */
} app_dtask_t;

/* The task named c->task_name from direct.task.file or the task table
 * (direct.tasks.uri, direct.tasks.table); params JSON over the config's
 * read_batch / write_batch / worker_num / direct.diff.lag.ms. */
sl_err_t app_dtask_load(app_dtask_t *t, const app_conf_t *c, char *errstr, size_t errstr_size);
/* Sets task_status (and nothing else) of the task's row when it came from a
 * task table; a file task: nothing. Errors are the caller's to log. */
sl_err_t app_dtask_status(const app_conf_t *c, const char *status, char *errstr,
                          size_t errstr_size);
void     app_dtask_free(app_dtask_t *t);

/* An online_status value: NULL, non-zero, "true", "online" are 1; else 0. */
int app_dtask_online(const char *v);

/* "mysql" (mysql, mariadb) or "postgresql" (postgresql, postgres, pg); NULL
 * when not a known type. */
const char *app_dtask_engine(const char *db_type);

/* A source (or task table) connection, from a URI:
 *   mysql://user:password@host:port/database (mariadb:// too)
 *   postgresql://user:password@host:port/database (libpq's URI)
 * The caller owns *out (app_dsrc_close). */
typedef struct app_dsrc_s app_dsrc_t;
sl_err_t app_dsrc_open(app_dsrc_t **out, const char *uri, char *errstr, size_t errstr_size);
void     app_dsrc_close(app_dsrc_t *s);
/* "mysql" or "postgresql". */
const char *app_dsrc_engine(const app_dsrc_t *s);

/* One row of table (task_name = key) as texts: vals[i] malloc'd or NULL for
 * SQL NULL (the caller frees each and the array). SL_ERR_NOT_FOUND: no row. */
sl_err_t app_dsrc_task_row(app_dsrc_t *s, const char *table, const char *const *cols,
                           uint32_t ncols, const char *key, char ***vals, char *errstr,
                           size_t errstr_size);
sl_err_t app_dsrc_task_set(app_dsrc_t *s, const char *table, const char *col,
                           const char *value, const char *key, char *errstr,
                           size_t errstr_size);

/* What a table is read by. */
typedef struct app_dtable_s {
    sl_record_t *schema;              /* a SCHEMA record (db = the source db) */
    uint32_t     key[APP_DIRECT_MAX_KEY];  /* columns of the keyset order */
    uint32_t     nkey;
    int          diff;                /* the diff_column's index, -1 none */
    int          diff_temporal;       /* 1: a date/time column (the lag applies) */
} app_dtable_t;

/* Reads the catalog of db.table (MariaDB: database; PostgreSQL: schema):
 * columns, kinds, the key (split_pk's columns then the primary key's others:
 * the order is always unique) and the diff column (integer or date/time).
 * SL_ERR_NOT_FOUND: no such table; SL_ERR_UNSUPPORTED: no key, a column
 * type not read here. Fills *out (the caller frees out->schema). */
sl_err_t app_dsrc_describe(app_dsrc_t *s, const char *db, const char *table,
                           const char *split_pk, const char *diff_column, app_dtable_t *out,
                           char *errstr, size_t errstr_size);

/* The next chunk: at most limit rows whose key is above after[0..nkey)
 * (texts as the source prints them; NULL = from the first row) and, with
 * diff_from, whose diff column is >= it, in key order, into out (a CHANGE,
 * op READ, columns of the schema). last[] gets the key of the last row read
 * and *max_diff the largest diff column value read when above *max_diff
 * (both malloc'd texts, replaced; untouched when no row). */
sl_err_t app_dsrc_chunk(app_dsrc_t *s, const app_dtable_t *d, char *const *after,
                        const char *diff_from, const char *lo, const char *hi,
                        uint32_t limit, sl_record_t *out, char **last, char **max_diff,
                        char *errstr, size_t errstr_size);

/* The smallest and largest value of the first key column (malloc'd texts;
 * both NULL for an empty table). lo / hi of app_dsrc_chunk: only rows with
 * lo <= that column < hi (NULL: unbounded). */
sl_err_t app_dsrc_bounds(app_dsrc_t *s, const app_dtable_t *d, char **min, char **max,
                         char *errstr, size_t errstr_size);

/* The source's clock minus lag_ms, as a value of the diff column's type
 * (the session time zone is UTC). */
sl_err_t app_dsrc_clock(app_dsrc_t *s, const app_dtable_t *d, int64_t lag_ms, char **out,
                        char *errstr, size_t errstr_size);

/* <0, 0, >0 for two values of the diff column (integers by value, dates and
 * times as their fixed-order texts). */
int app_direct_diff_cmp(const app_dtable_t *d, const char *a, const char *b);

/* The run (direct.c): returns the exit code. */
int app_direct_run(const app_conf_t *c, sl_service_t *svc);

#endif
