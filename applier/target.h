/* shiftlog-applier: the interface every target (PostgreSQL, MySQL/MariaDB,
 * MongoDB) implements. The core (txn.c) assembles source transactions from
 * the markers and drives a target through it:
 *
 *   open → load_position → { begin → (schema | rows)* → commit(pos) | rollback }* → close
 *
 * Exactly-once (DESIGN invariants 3 and 4):
 *   - SQL targets write the `kafkaoffset` row (task, topic, partition,
 *     kafka_offset, sub_offset, source_position) inside the same target
 *     transaction as the data, in commit(); load_position() reads it back and
 *     the core seeks there, skipping subOffsets already applied.
 *   - MongoDB (no multi-document transactions on the local stand-in, nor
 *     without a replica set): begin/commit carry no atomicity; every document
 *     write is an upsert keyed by `_id` from the primary key and guarded by the
 *     source position ({_id, pos: {$lt: P}}; E11000 = already newer → skip),
 *     so a replay is a no-op and a document never moves back in time; commit()
 *     stores the position document after the data writes are acknowledged.
 *     Guard cheaply: only positions at or before the stored position need the
 *     guard (the replay window); past it plain upserts by _id are safe.
 * One active copy per task (DESIGN invariant 8): before anything is applied
 * the core takes the task's lease in the target (lease_take: PostgreSQL a
 * session advisory lock, MariaDB GET_LOCK, MongoDB a lease document with an
 * expiry), each takeover raising the task's epoch in the lease row /
 * document. open() gets that epoch (conf->epoch) and every position write
 * of commit() is fenced by it: it stores nothing when the lease row holds
 * another epoch or the position row a higher one, and answers
 * SL_ERR_FENCED (rolled back); the core then stops applying and stands by.
 * epoch 0 (tools and tests that drive a target without the core): no fence.
 * A target never holds a whole source transaction in memory: rows() is
 * called with bounded batches and writes (or buffers up to write_batch)
 * as it goes. */
#ifndef APP_TARGET_H
#define APP_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "sl_err.h"
#include "sl_metrics.h"
#include "sl_pos.h"
#include "sl_record.h"

/* Where a task stands: the Kafka position of the last applied row and the
 * source position it came from. */
typedef struct app_position_s {
    char     topic[256];
    int32_t  partition;
    int64_t  kafka_offset;   /* offset of the message holding the last applied row / marker */
    int64_t  sub_offset;     /* row index in that message; -1 = the whole message */
    sl_pos_t source;         /* source position of that row / COMMIT */
} app_position_t;

/* sub_offset of a kafkaoffset row that another worker_num layout replaced
 * (target_par.c): kept for its history, never a place to start from. */
#define APP_SUB_RETIRED (-2)

/* A source table mapped onto a target table (otter's data_media_pair). */
typedef struct app_table_map_s {
    const char  *src_db, *src_table;   /* as in the records */
    const char  *dst_schema;           /* PostgreSQL schema / MySQL database / Mongo database */
    const char  *dst_table;            /* table / collection */
    uint32_t     ncols;                /* source columns (schema record order) */
    const char **dst_cols;             /* target name per source column, NULL = excluded */
    const sl_schema_t *schema;         /* the source table schema in force (borrowed) */
    const sl_schema_t *prev;           /* schema() only: the version in force before this
                                          SCHEMA record (borrowed), NULL when unknown */
    int64_t      offset;               /* schema() only: the SCHEMA record's Kafka offset */
    const char  *rename_schema;        /* schema() only, ddl.apply = all: the source table
                                          was renamed to this one by the same DDL (RENAME
                                          TABLE, ALTER TABLE ... RENAME) from the table mapped
                                          to rename_schema.rename_table: when the target
                                          table is absent and that one exists, rename it
                                          instead of creating an empty one. NULL otherwise */
    const char  *rename_table;
} app_table_map_t;

/* The common head of every target's handle: a target's own struct embeds it
 * as its first member (struct my_target_s { app_target_t base; ... }), its
 * open() sets ops, and its ops cast the handle back (the handle's address is
 * its struct's). */
typedef struct app_target_s {
    const struct app_target_ops_s *ops;
} app_target_t;
typedef struct app_lease_s app_lease_t;

/* A stopped table of a task, as kept in the target (stops_load / stop_save,
 * the `shiftlog_stopped` table or collection beside the position table):
 * it outlives a restart, so a table stopped for a reason the restart does
 * not cure stays stopped instead of resuming with a hole. */
typedef struct app_stop_s {
    char    db[256], table[256];     /* the source table */
    char    reason[1024];
    int64_t offset;                  /* Kafka offset of its first record not applied
                                        (a catch-up's progress: the next offset to read) */
    char    source_pos[160];         /* its records at or before this source position are
                                        applied ("" = none known) */
    int64_t resume_to;               /* -1 = stopped; >= 0 = resumed, catching up to this
                                        offset (the task's position when it was resumed) */
    int64_t since_ms;                /* when it stopped (Unix ms) */
} app_stop_t;

/* ddl.apply: what a SCHEMA record may do to the target (create_tables
 * still decides whether a missing table is created).
 *   ALL       add, drop, rename, modify columns; drop a table whose source
 *             table was dropped (a SCHEMA with no columns, sl_schema_dropped)
 *   ADDITIVE  add and widen only: no column or table is ever dropped or
 *             renamed (the target keeps what the source lost)
 *   NONE      no DDL at all: the target's tables are managed by hand */
#define APP_DDL_ALL      0
#define APP_DDL_ADDITIVE 1
#define APP_DDL_NONE     2

/* on_unconvertible: a value the target cannot store (a zero date or U+0000
 * in PostgreSQL, NaN in a MariaDB float): DLQ = its source transaction to
 * the dead-letter topic with the reason; NULL = written as NULL (WARN);
 * STOP = its table stops (visible: /health degraded, the stopped gauge). */
#define APP_UNCONV_DLQ   0
#define APP_UNCONV_NULL  1
#define APP_UNCONV_STOP  2

/* Connection settings common to every target. */
typedef struct app_target_conf_s {
    const char *task;            /* task.name: the kafkaoffset row's key */
    const char *lease_task;      /* the task whose lease fences the writes (task.name, also
                                    for the workers' rows "<task>#i"); NULL = task */
    int64_t     epoch;           /* the lease's epoch this copy holds; 0 = not fenced */
    int64_t     lease_ttl_ms;    /* MongoDB: how long a lease document lives unrenewed */
    const char *host;
    int         port;
    const char *user;
    const char *password;
    const char *database;
    int         tls_mode;        /* sl_tls_mode_t (sl_tls.h) */
    const char *tls_ca;          /* NULL or "" = unset, as the three below */
    const char *tls_cert;        /* client certificate */
    const char *tls_key;
    int         create_tables;   /* create missing target tables from SCHEMA records */
    int         ddl_apply;       /* APP_DDL_*: which schema changes run DDL in the target */
    int         on_unconvertible; /* APP_UNCONV_* */
    int         write_batch;     /* rows per multi-row statement / bulk */
    /* app_target_par only: worker connections of this inner target type */
    int         workers;
    const struct app_target_ops_s *inner;
    sl_metrics_t *metrics;       /* borrowed, may be NULL */
} app_target_conf_t;

typedef struct app_target_ops_s {
    const char *name;            /* "postgresql", "mysql", "mongodb" */

    /* Connects (bounded retries: an unreachable target is SL_ERR_DB with a
     * clear sentence), creates the kafkaoffset table / collection if absent.
     * The caller owns *out and frees it with close(). */
    sl_err_t (*open)(app_target_t **out, const app_target_conf_t *conf,
                     char *errstr, size_t errstr_size);
    void     (*close)(app_target_t *t);

    /* SL_OK and *pos; SL_ERR_NOT_FOUND on the task's first start. */
    sl_err_t (*load_position)(app_target_t *t, const char *topic, int32_t partition,
                              app_position_t *pos, char *errstr, size_t errstr_size);

    sl_err_t (*begin)(app_target_t *t, char *errstr, size_t errstr_size);

    /* A table schema record: create the target table when absent (if
     * allowed), apply ADD / DROP / MODIFY / RENAME COLUMN where the target
     * can, as ddl_apply allows. A dropped table (sl_schema_dropped(rec)):
     * drop the target table under APP_DDL_ALL, forget what is known of it,
     * never stop it (map->schema is then the empty version too). SL_ERR_UNSUPPORTED: the core stops this table with the message
     * while the other tables go on. SL_ERR_STATE (MySQL: DDL commits
     * implicitly): the record needs DDL on a table the open transaction
     * wrote; nothing was done. The core then commits the complete source
     * transactions first (or replays committing up to the last complete one
     * when a source transaction is in progress) and calls again in a new
     * transaction; a schema that needs no DDL must not return it. */
    sl_err_t (*schema)(app_target_t *t, const app_table_map_t *map, const sl_record_t *rec,
                       char *errstr, size_t errstr_size);

    /* Rows first..first+n-1 of a CHANGE record (n may be less than nrows
     * when the core resumes mid-message). pos: the position of row `first`
     * (its sub_offset = first). Writes with idempotent upserts / deletes by
     * key; may buffer up to write_batch rows, flushed at the latest in
     * commit(). A row the target rejects is SL_ERR_DB naming table and key. */
    sl_err_t (*rows)(app_target_t *t, const app_table_map_t *map, const sl_record_t *rec,
                     uint32_t first, uint32_t n, const app_position_t *pos,
                     char *errstr, size_t errstr_size);

    /* Flushes buffered rows, stores pos (SQL: in the same transaction) and
     * commits. After SL_OK the data and the position are durable together. */
    sl_err_t (*commit)(app_target_t *t, const app_position_t *pos,
                       char *errstr, size_t errstr_size);

    /* Drops everything since begin (FINISH, error). */
    sl_err_t (*rollback)(app_target_t *t, char *errstr, size_t errstr_size);

    /* The task's lease (conf->lease_task or task), on a connection of its
     * own that lives as long as the lease. SL_OK: taken, *epoch = the new
     * epoch (one more than the last holder's); SL_ERR_STATE: another copy
     * holds it (errstr names the holder); SL_ERR_DENIED: the server refused
     * for good (authentication, database, privilege); other errors: the
     * target is unreachable (retry). The caller owns *out (lease_drop). */
    sl_err_t (*lease_take)(app_lease_t **out, const app_target_conf_t *conf, int64_t *epoch,
                           char *errstr, size_t errstr_size);
    /* Still held? (MongoDB: renews the expiry.) SL_OK; SL_ERR_FENCED: lost
     * (its connection closed, or another copy holds a newer epoch);
     * other errors: could not tell (the target is unreachable). */
    sl_err_t (*lease_check)(app_lease_t *l, char *errstr, size_t errstr_size);
    /* Gives the lease up (NULL is fine). */
    void     (*lease_drop)(app_lease_t *l);

    /* Optional (NULL for the plain targets; app_target_par has them). */
    /* rows() that takes the record: *recp is the target's now and is
     * replaced by an empty record of the target's (never NULL on SL_OK; on
     * an error *recp is left as it was). */
    sl_err_t (*rows_take)(app_target_t *t, const app_table_map_t *map, sl_record_t **recp,
                          uint32_t first, uint32_t n, const app_position_t *pos,
                          char *errstr, size_t errstr_size);
    /* The COMMIT marker of a source transaction that was not skipped (pos:
     * its Kafka offset and source position), inside the open transaction. */
    void     (*txn_end)(app_target_t *t, const app_position_t *pos);
    /* Waits until no earlier rows() is in use: the core calls it before it
     * changes a table's mapping or drops schema versions. */
    void     (*sync)(app_target_t *t);

    /* Optional: may a replicated table be written under the target name
     * (schema, table)? SL_ERR_UNSUPPORTED with a sentence when not: the
     * target's own position table (kafkaoffset: a source table of that
     * name mapped there would overwrite positions), or a name the database
     * reserves (MongoDB: system.*, '$', admin/local/config). The core asks
     * before a table's first DDL or row and stops a refused table (its
     * records go to the DLQ with the sentence); at start it asks for every
     * fixed target of map.tables and refuses to run. Reads only what open()
     * set: callable from any thread. */
    sl_err_t (*check_name)(app_target_t *t, const char *schema, const char *table,
                           char *errstr, size_t errstr_size);

    /* Stopped tables (all three targets and app_target_par implement them;
     * NULL = the target keeps no stops: they last until the restart).
     * stops_load: the task's rows, creating their table / collection when
     * absent; *out is malloc'ed (the caller frees it), *n its count.
     * stop_save (upsert by task, db, table) and stop_clear (delete): inside
     * the open target transaction after begin() — durable with the data and
     * the position at commit() (MongoDB: written right after the position)
     * — or, outside one, durable at once. */
    sl_err_t (*stops_load)(app_target_t *t, app_stop_t **out, size_t *n,
                           char *errstr, size_t errstr_size);
    sl_err_t (*stop_save)(app_target_t *t, const app_stop_t *s, char *errstr,
                          size_t errstr_size);
    sl_err_t (*stop_clear)(app_target_t *t, const char *db, const char *table,
                           char *errstr, size_t errstr_size);

    /* Direct tasks' progress (applier/direct.h; NULL: the target runs no
     * direct task — MongoDB, whose writes are not transactional): one text
     * per task in APP_DIRECT_TABLE beside the position table. progress_load
     * creates the table when absent (outside a transaction) and sets *out
     * (malloc'd; NULL when the task has none). progress_save: inside the open
     * transaction, durable with the rows and the position at commit(). */
    sl_err_t (*progress_load)(app_target_t *t, char **out, char *errstr, size_t errstr_size);
    sl_err_t (*progress_save)(app_target_t *t, const char *text, char *errstr,
                              size_t errstr_size);
} app_target_ops_t;

/* The table (collection) of stopped tables, beside the position table. */
#define APP_STOPS_TABLE "shiftlog_stopped"
/* The table of direct tasks' progress, beside the position table. */
#define APP_DIRECT_TABLE "shiftlog_direct"

extern const app_target_ops_t app_target_pg;
extern const app_target_ops_t app_target_mysql;
extern const app_target_ops_t app_target_mongo;
/* worker_num > 1: conf->workers connections of conf->inner, each source
 * transaction on one of them (target_par.c). */
extern const app_target_ops_t app_target_par;

/* worker_num = 1 after a run with worker_num > 1 (the single row "task" is
 * absent or retired): the position the workers' rows "<task>#i" agree on,
 * written as the single row. SL_ERR_NOT_FOUND: no such rows. SL_ERR_FATAL:
 * they disagree (that run stopped mid-way: errstr says what to do). */
sl_err_t app_par_adopt(const app_target_ops_t *inner, const app_target_conf_t *conf,
                       const char *topic, int32_t partition, app_position_t *pos,
                       char *errstr, size_t errstr_size);

/* MongoDB: guarded writes skipped because the document was already newer
 * (replays recognised), for metrics and tests. */
uint64_t app_target_mongo_skipped(const app_target_t *t);

#endif
