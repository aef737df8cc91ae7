/* shiftlog-applier: the PostgreSQL target's private header, shared by
 * target_pg.c (the writer, the target ops), target_pg_conn.c (connection,
 * position, command helpers), target_pg_type.c (type mapping, the DDL type
 * grammar, safe MODIFY) and target_pg_ddl.c (catalog reads, CREATE / ALTER,
 * key discovery, table state). Nothing here is used outside these files
 * (and the unit test of the type grammar). */
#ifndef APP_TARGET_PG_H
#define APP_TARGET_PG_H

#include <stdint.h>
#include <libpq-fe.h>

#include "sl_buf.h"
#include "target.h"

#define PG_NAME_MAX   63

/* A written column of a table. */
typedef struct pg_wcol_s {
    uint32_t src;          /* index in the source schema */
    char    *qname;        /* quoted target column name */
    char    *cast;         /* the target column's type as "schema"."typname" (no typmod:
                            * `bit` alone would mean bit(1)), for `text::type` in batch
                            * statements; the assignment applies the column's typmod as for a
                            * plain parameter (too long → error, never truncated) */
    int      is_set;       /* SET → text[] literal */
} pg_wcol_t;

typedef struct pg_prev_col_s {
    char *name, *type, *dst;
} pg_prev_col_t;

/* Per target table: the written columns, the key, the open batch. */
typedef struct pg_tab_s {
    struct pg_tab_s   *next;
    char              *schema, *table;     /* target names */
    char              *qname;              /* "schema"."table" */
    const sl_schema_t *built_for;          /* identity of the schema version */
    int                valid;
    pg_wcol_t         *w;                  /* written columns */
    uint32_t           nw;
    uint32_t          *key;                /* indexes into w of the key columns */
    uint32_t           nkey;
    int                id;
    int                prep_upsert, prep_delete;
    /* the open batch: one slot per change added; a later change of the same
     * key supersedes its slot (last image wins), see target_pg.c */
    uint32_t           cap;                /* slots per batch (write_batch) */
    uint32_t           nslots;             /* slots used */
    uint32_t           nup, ndel;          /* live upsert / delete slots */
    uint8_t           *sop;                /* per slot: 0 superseded, 1 upsert, 2 delete */
    uint64_t          *shash;              /* per slot: key hash */
    size_t            *off;                /* cap * nw value offsets into vals */
    int               *len;                /* cap * nw lengths, -1 = NULL */
    uint32_t          *ht;                 /* key hash → slot + 1, open addressing */
    uint32_t           htmask;
    sl_buf_t           vals;               /* value texts, NUL-terminated each */
    char               first_key[256];
    /* source schema last applied (RENAME / DROP / MODIFY need it) */
    pg_prev_col_t     *prev, *pend;
    uint32_t           nprev, npend;
    int                has_prev, has_pend;
    int                unconv;             /* the target's on_unconvertible */
    /* READ rows (a snapshot's) waiting for their COPY (target_pg_copy.c): COPY
     * text lines; never at the same time as a batch of slots (either is
     * flushed before the other fills, so a key's changes stay in order) */
    sl_buf_t           copy;
    uint32_t           ncopy;
    uint32_t           direct_skip;        /* COPYs left to send through the staging
                                              table after a direct one met a key */
    int                stage_ready;        /* its temporary staging table exists */
    int                stage_dirty;        /* … and holds rows of this transaction */
} pg_tab_t;

typedef struct pg_target_s {
    app_target_t       base;               /* first: the common head (target.h) */
    PGconn            *conn;
    char              *task;
    char              *lease_task;         /* whose lease fences the position writes */
    int64_t            epoch;              /* the lease epoch held; 0 = no fence */
    int                create_tables;
    int                ddl_apply;          /* APP_DDL_* */
    int                on_unconvertible;   /* APP_UNCONV_* */
    int                write_batch;
    int                in_txn;
    pg_tab_t          *tabs;
    int                next_id;
    int                gen;                /* bumps on reconnect: prepared names */
    sl_buf_t           sql, tmp;
    sl_buf_t           arr;                /* array parameters of the batch being sent */
    const char       **pv;                 /* parameter pointer scratch */
    int               *plen;
    size_t             npv;
    uint32_t          *src_of_w, *cols;    /* per-row column scratch */
    size_t             nscratch;
    /* the batch statement sent and not yet answered (one at a time) */
    int                inflight;
    char               inflight_what[512];
    char               pos_schema[128];    /* schema of the kafkaoffset table */
    int                stops_ready;        /* shiftlog_stopped exists (target_pg_stops.c) */
} pg_target_t;

/* --- connection and helpers (target_pg_conn.c) */

/* The target ops open / close / load_position (see target.h). */
sl_err_t app_pg_open(pg_target_t **out, const app_target_conf_t *c, char *errstr,
                     size_t errstr_size);
void     app_pg_close(pg_target_t *t);
sl_err_t app_pg_load_position(app_target_t *at, const char *topic, int32_t partition,
                              app_position_t *pos, char *errstr, size_t errstr_size);

/* The target op check_name (see target.h): refuses the position table. */
sl_err_t app_pg_check_name(app_target_t *at, const char *schema, const char *table,
                           char *errstr, size_t errstr_size);
/* A connection with the target's settings (application_name appname);
 * NULL with *err SL_ERR_DENIED (refused for good: authentication, no such
 * database) or SL_ERR_DB, and errstr. The caller PQfinish()es it. */
PGconn  *app_pg_connect(const app_target_conf_t *c, const char *appname, sl_err_t *err,
                        char *errstr, size_t errstr_size);

/* --- the task's lease (target_pg_lease.c): the ops of target.h */
sl_err_t app_pg_lease_take(app_lease_t **out, const app_target_conf_t *c, int64_t *epoch,
                           char *errstr, size_t errstr_size);
sl_err_t app_pg_lease_check(app_lease_t *l, char *errstr, size_t errstr_size);
void     app_pg_lease_drop(app_lease_t *l);
/* commit(): the kafkaoffset row upserted, fenced by the lease (SL_ERR_FENCED:
 * nothing written, another copy holds a newer epoch). */
sl_err_t app_pg_store_position(pg_target_t *t, const app_position_t *pos, char *errstr,
                               size_t errstr_size);

/* The stopped tables (target_pg_stops.c; see target.h). */
/* direct tasks' progress (target_pg_stops.c; see target.h) */
sl_err_t app_pg_progress_load(app_target_t *at, char **out, char *errstr, size_t errstr_size);
sl_err_t app_pg_progress_save(app_target_t *at, const char *text, char *errstr,
                              size_t errstr_size);
sl_err_t app_pg_stops_load(app_target_t *at, app_stop_t **out, size_t *n, char *errstr,
                           size_t errstr_size);
sl_err_t app_pg_stop_save(app_target_t *at, const app_stop_t *s, char *errstr,
                          size_t errstr_size);
sl_err_t app_pg_stop_clear(app_target_t *at, const char *db, const char *table, char *errstr,
                           size_t errstr_size);

void     app_pg_one_line(char *s);
/* SL_OK, or the error classified (connection loss and SQLSTATE 08/40/53/57:
 * SL_ERR_IO; others SL_ERR_DB) with "postgresql: what: server message".
 * Clears res. */
sl_err_t app_pg_check(pg_target_t *t, PGresult *res, const char *what, char *errstr,
                      size_t errstr_size);
/* Waits for the batch statement in flight (if any): its result, classified
 * like app_pg_check. Every synchronous command calls it first. */
sl_err_t app_pg_wait(pg_target_t *t, char *errstr, size_t errstr_size);
/* app_pg_wait, then PQexec(sql) checked. */
sl_err_t app_pg_exec(pg_target_t *t, const char *sql, const char *what, char *errstr,
                     size_t errstr_size);
/* Appends name quoted by PQescapeIdentifier. */
sl_err_t app_pg_quote(pg_target_t *t, sl_buf_t *out, const char *name, char *errstr,
                      size_t errstr_size);
/* A malloc'ed quoted copy of name (NULL on error, errstr set). */
char    *app_pg_quoted_dup(pg_target_t *t, const char *name, char *errstr, size_t errstr_size);

/* --- the writer (target_pg.c), shared with the COPY path */

/* Appends the text of value v of column col as value i of b's slot arrays
 * (b->off[i], b->len[i] = -1 for NULL) into b->vals. */
sl_err_t app_pg_put_value(pg_tab_t *b, const sl_column_t *col, const sl_value_t *v, size_t i,
                          char *errstr, size_t errstr_size);
/* "(k1=v1,…)" of the key of img, for messages. */
void     app_pg_describe_key(const pg_tab_t *b, const sl_schema_t *s, const sl_value_t *img,
                             const uint32_t *src_of_w, char *out, size_t size);
/* Appends " ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c, …" over the
 * written columns cols[0..ncols) (NULL: all of them). */
void     app_pg_upsert_set(const pg_tab_t *b, sl_buf_t *q, const uint32_t *cols,
                           uint32_t ncols);

/* --- READ rows by COPY (target_pg_copy.c) */

/* Adds a whole READ row of b (the slot batch is empty) to its COPY. */
sl_err_t app_pg_copy_add(pg_target_t *t, pg_tab_t *b, const sl_schema_t *s,
                         const sl_value_t *img, const uint32_t *src_of_w, char *errstr,
                         size_t errstr_size);
/* Writes b's READ rows in the open transaction: COPY straight into the
 * table under a savepoint, else (a key already there) COPY into a
 * temporary staging table and one INSERT … SELECT … ON CONFLICT DO UPDATE. */
sl_err_t app_pg_copy_flush(pg_target_t *t, pg_tab_t *b, char *errstr, size_t errstr_size);

/* --- tables (target_pg_ddl.c) */

void     app_pg_prev_free(pg_prev_col_t *p, uint32_t n);
/* A source type name that may be repeated in PostgreSQL DDL: 1 and its text
 * rebuilt from the grammar into out, else 0 (target_pg_type.c). */
int      app_pg_type_text(const char *src, char *out, size_t size);
/* 1 when ALTER COLUMN from -> to keeps every value (both whole type texts). */
int      app_pg_safe_modify(const char *from, const char *to);
/* The type mapped column i of s is created with (docs/applier.md), through
 * the grammar; SL_ERR_UNSUPPORTED (why in errstr) when its source type starts
 * like a type name and carries more: the table stops before any DDL. */
sl_err_t app_pg_col_type(const sl_schema_t *s, uint32_t i, char *out, size_t size,
                         char *errstr, size_t errstr_size);
/* Makes the target table fit the mapped schema: create, add, and with the
 * previous source schema known (b->prev) and ddl_record set, rename / drop /
 * safe modify. SL_ERR_UNSUPPORTED: the table cannot be applied (why in errstr). */
sl_err_t app_pg_sync_table(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                           int ddl_record, char *errstr, size_t errstr_size);
/* The source table was dropped (a SCHEMA with no columns): DROP TABLE in
 * the open transaction under APP_DDL_ALL, nothing otherwise. */
sl_err_t app_pg_drop_table(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                           char *errstr, size_t errstr_size);
/* Fills b->key: the source primary key, else a unique index of the target
 * table over NOT NULL written columns; SL_ERR_UNSUPPORTED without one. */
sl_err_t app_pg_find_key(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                         char *errstr, size_t errstr_size);
/* Fills b->w[i].cast from the target catalog. */
sl_err_t app_pg_col_casts(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                          char *errstr, size_t errstr_size);
/* Remembers map's source schema as the pending previous version of b. */
void     app_pg_tab_remember(pg_tab_t *b, const app_table_map_t *map);
/* The state of schema.table (created empty on first use; NULL: no memory). */
pg_tab_t *app_pg_tab_get(pg_target_t *t, const char *schema, const char *table);
/* (Re)builds b for map->schema: syncs the target table, the written columns,
 * key, casts and batch arrays (write_batch slots); drops its statements. */
sl_err_t app_pg_tab_build(pg_target_t *t, pg_tab_t *b, const app_table_map_t *map,
                          char *errstr, size_t errstr_size);
/* Frees what app_pg_tab_build made (the batch is dropped). */
void     app_pg_tab_clear_built(pg_tab_t *b);
/* Frees the table cache (before app_pg_close). */
void     app_pg_tabs_free(pg_target_t *t);

#endif
