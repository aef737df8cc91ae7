/* shiftlog-applier: the core's internal header (config, mapping, dead
 * letters, transaction assembly, the consume loop). The targets only see
 * target.h.
 *
 * Data flow (one thread):
 *   consume.c  the policy: a source's records (source.h) → txn.c; dead
 *              letters, suspend / recovery, the lease, the hand-over
 *   txn.c      assembles source transactions by the markers and drives the
 *              target: begin / schema / rows / commit(pos) / rollback
 *   mapping.c  tables include/exclude, db.table → schema.table, columns
 *   dlq.c      <topic>.dlq with the reason and the original position
 *   source.h   the sources behind one interface: source_kafka.c (the
 *              topic) and source_mongolog.c (source.type = mongolog: the
 *              miner's shared log in position order, then the hand-over to
 *              the topic, the same records, offsets and subOffsets) */
#ifndef APP_APPLIER_H
#define APP_APPLIER_H

#include <stdint.h>

#include <bson/bson.h>

#include "sl_avro.h"
#include "sl_buf.h"
#include "sl_kafka.h"
#include "sl_service.h"
#include "target.h"

/* ------------------------------------------------------------------ config */

typedef struct app_conf_s {
    const char       *task_name;
    int               source_type;       /* APP_SOURCE_* */
    const char       *source_topic;
    int64_t           source_partition;
    const char       *source_name;       /* mongolog: the source (log collection) */
    const char       *log_uri;
    const char       *log_database;
    const char       *log_collection;    /* "" = source_name */
    const char       *start_time;        /* mongolog first start: ISO time, "" = none */
    const char       *start_position;    /* mongolog first start: position / _id */
    int               handover;          /* mongolog: go on from the topic once caught up */
    int64_t           log_window;        /* documents per read */
    int64_t           log_poll_ms;       /* wait when caught up (no hand-over) */
    int               target_type;       /* index in app_target_types */
    const char       *target_host;
    int64_t           target_port;
    const char       *target_user;
    const char       *target_password;
    const char       *target_database;
    int               target_tls;        /* sl_tls_mode_t (sl_tls.h) */
    const char       *target_tls_ca;
    const char       *target_tls_cert;
    const char       *target_tls_key;
    int               create_tables;
    int               ddl_apply;         /* APP_DDL_* (target.h) */
    int               on_unconvertible;  /* APP_UNCONV_* (target.h) */
    int64_t           watchdog_ms;       /* no progress with records waiting: 0 = off */
    const char       *tables;
    const char       *tables_exclude;
    const char       *map_tables;
    const char       *map_columns;
    const char       *columns_include;
    const char       *columns_exclude;
    int64_t           read_batch;
    int64_t           write_batch;
    int64_t           flush_interval_ms;
    int64_t           worker_num;
    int               on_error;          /* APP_ON_ERROR_* */
    int64_t           max_errors;
    int64_t           auto_recovery_count;
    int64_t           suspend_ms;
    int64_t           retry_max_ms;
    int64_t           lease_ttl_ms;
    int64_t           lease_retry_ms;
    const char       *dlq_topic;
    const char       *kafka_bootstrap;
    const char       *kafka_group_id;
    const char       *direct_task_file;  /* source.type = direct (direct.h) */
    const char       *direct_tasks_uri;
    const char       *direct_tasks_table;
    const char       *direct_source_uri;
    int64_t           direct_diff_lag_ms;
    int64_t           direct_interval_ms;
    const char       *task_table_uri;    /* app_task.h: follow online_status there */
    const char       *task_table_name;
    int64_t           task_table_interval_ms;
    sl_service_conf_t svc;
    int               serve;             /* --serve: only /health and /metrics, no apply */
    int               check_only;        /* --check: validate the config and exit */
} app_conf_t;

#define APP_SOURCE_KAFKA    0
#define APP_SOURCE_MONGOLOG 1
#define APP_SOURCE_DIRECT   2

#define APP_ON_ERROR_DLQ  0
#define APP_ON_ERROR_STOP 1

/* ----------------------------------------------------------------- mapping */

typedef struct app_mapping_s app_mapping_t;

/* Parses tables / tables.exclude / map.tables / map.columns /
 * columns.include / columns.exclude. A bad rule is SL_ERR_INVALID naming the
 * key and the rule. The caller owns *out (app_mapping_destroy). */
sl_err_t app_mapping_new(app_mapping_t **out, const app_conf_t *conf,
                         char *errstr, size_t errstr_size);
void     app_mapping_destroy(app_mapping_t *m);

/* 1 when db.table is to be applied (tables matches, tables.exclude not). */
int      app_mapping_included(app_mapping_t *m, const char *db, const char *table);

/* The mapping of db.table under `schema` (a SCHEMA record's body, borrowed:
 * it must stay alive while the map is in use). Fills *map (strings owned by
 * the mapping, valid until the next call for the same table or destroy).
 * A primary-key column that columns.include/exclude would drop is kept.
 * SL_ERR_INVALID: a mapped name is empty or longer than 63 bytes. */
sl_err_t app_mapping_table(app_mapping_t *m, const sl_schema_t *schema,
                           app_table_map_t *map, char *errstr, size_t errstr_size);

/* Glob match with '*' (any run) and '?' (one byte); exported for unit tests. */
int      app_glob(const char *pattern, const char *text);
/* Calls check(ctx, schema, table, ...) for the target of every map.tables
 * rule that names one fixed table (no '*' or '?' on the right) and returns
 * the first error, errstr naming the rule and check's reason. Targets that
 * depend on the source name are judged per table when it appears. */
sl_err_t app_mapping_check_targets(app_mapping_t *m,
                                   sl_err_t (*check)(void *ctx, const char *schema,
                                                     const char *table, char *errstr,
                                                     size_t errstr_size),
                                   void *ctx, char *errstr, size_t errstr_size);

/* --------------------------------------------------------- dead letters */

typedef struct app_dlq_s app_dlq_t;

/* A producer for topic (created if absent). The caller owns *out. */
/* The dead-letter producer's librdkafka properties: kafka_props without the
 * consumer-only ones. -1: out of memory. */
int      app_dlq_props(const sl_kvlist_t *kafka_props, sl_kvlist_t *props);
sl_err_t app_dlq_new(app_dlq_t **out, const sl_kvlist_t *kafka_props, const char *topic,
                     char *errstr, size_t errstr_size);
void     app_dlq_destroy(app_dlq_t *d);

/* Sends the message as it came (key, value, headers) plus sl.dlq.reason,
 * sl.dlq.task, sl.dlq.topic, sl.dlq.partition, sl.dlq.offset and sl.dlq.pos
 * (source position text, "" when unknown). Queued: app_dlq_flush() before
 * the target position moves past it. */
sl_err_t app_dlq_send(app_dlq_t *d, const char *task, const sl_kafka_msg_t *msg,
                      const char *pos_text, const char *reason,
                      char *errstr, size_t errstr_size);
sl_err_t app_dlq_flush(app_dlq_t *d, char *errstr, size_t errstr_size);
const char *app_dlq_topic(const app_dlq_t *d);

/* ------------------------------------------------- transaction assembly */

/* What the core knows about the message a record came from. */
typedef struct app_msg_s {
    const sl_kafka_msg_t *kmsg;        /* borrowed */
    int64_t               offset;
    uint32_t              first_row;   /* CHANGE rows before it are skipped */
} app_msg_t;

typedef struct app_txn_s app_txn_t;

/* Outcome of app_txn_feed / app_txn_tick. */
typedef enum app_txn_rc_e {
    APP_TXN_OK = 0,
    APP_TXN_REWIND,      /* roll back done; seek back to the stored position */
    APP_TXN_TARGET_DOWN, /* connection lost or transient: reconnect, rewind, retry */
    APP_TXN_REJECTED,    /* the target refused a row or DDL (errstr says which) */
    APP_TXN_TABLE_STOPPED, /* the record's table is stopped: dead-letter this message */
    APP_TXN_FENCED,      /* another copy took the task's lease over: stand by */
    APP_TXN_FATAL
} app_txn_rc_t;

typedef struct app_txn_conf_s {
    const app_target_ops_t *ops;
    app_target_t           *target;    /* borrowed */
    app_mapping_t          *mapping;   /* borrowed */
    const char             *topic;
    int32_t                 partition;
    int64_t                 write_batch;
    int64_t                 flush_interval_ms;
    int                     ddl_apply; /* APP_DDL_* (renames are followed under ALL) */
    sl_metrics_t           *metrics;   /* borrowed, may be NULL */
} app_txn_conf_t;

sl_err_t app_txn_new(app_txn_t **out, const app_txn_conf_t *conf,
                     char *errstr, size_t errstr_size);
void     app_txn_destroy(app_txn_t *x);
/* Sets the target handle after a reconnect. */
void     app_txn_set_target(app_txn_t *x, app_target_t *target);

/* Start (or restart) from the target's stored position: pos NULL = first
 * start. Forgets everything uncommitted; schema versions newer than the
 * stored offset are dropped. commit_at >= 0: commit the target transaction
 * right after every COMMIT up to that offset (replay after a FINISH that
 * came behind complete transactions; isolation of a rejected transaction). */
void     app_txn_reset(app_txn_t *x, const app_position_t *pos, int64_t commit_at);

/* Commit right after every COMMIT up to offset (see app_txn_reset). */
void     app_txn_commit_at(app_txn_t *x, int64_t offset);

/* A table schema seen before the start offset (startup scan): takes rec
 * (the txn owns it now). */
void     app_txn_seed_schema(app_txn_t *x, sl_record_t *rec, int64_t offset);

/* Feeds one decoded record. *rec may be taken (schemas are kept): then *rec
 * is set to NULL and the caller allocates a new one. */
app_txn_rc_t app_txn_feed(app_txn_t *x, sl_record_t **rec, const app_msg_t *m,
                          char *errstr, size_t errstr_size);
/* Nothing to read right now: commits a group of complete transactions whose
 * flush interval has passed. */
app_txn_rc_t app_txn_tick(app_txn_t *x, char *errstr, size_t errstr_size);
/* The consumer has nothing queued: commit the complete source transactions
 * now instead of waiting for write_batch / flush.interval.ms. */
app_txn_rc_t app_txn_idle(app_txn_t *x, char *errstr, size_t errstr_size);
/* Milliseconds until app_txn_tick has something to do (-1 = nothing). */
int          app_txn_next_deadline_ms(const app_txn_t *x);
/* Rolls back whatever is open (shutdown, errors). */
void         app_txn_abort(app_txn_t *x);

/* The last position made durable in the target (valid when has = 1). */
int          app_txn_committed(const app_txn_t *x, app_position_t *pos);
/* Kafka offset of the first message of the source transaction in progress
 * (-1 when none), and of the message being fed. */
int64_t      app_txn_open_since(const app_txn_t *x);
/* Complete source transactions in the open target transaction. */
int          app_txn_group_txns(const app_txn_t *x);
/* Kafka offset of the last COMMIT of the current (or last failed) group of
 * complete source transactions. */
int64_t      app_txn_group_end(const app_txn_t *x);
/* Counts a skipped (excluded / duplicate) record, for tests and metrics. */
uint64_t     app_txn_skipped(const app_txn_t *x);
/* ------------------------------------------------------------ watchdog */

/* The no-progress watchdog is common/sl_watchdog.h (the miner has one too):
 * consume.c reports what the task fed and reconnects on a declared stall. */

/* Tables stopped now (the count), and "table db.t stopped: reason; ..."
 * in buf (truncated to size). */
int          app_txn_stopped(const app_txn_t *x, char *buf, size_t size);

/* Stopped tables kept in the target (txn_stops.c). */
/* Loads the task's stops from the target (after every open, before the
 * position is used): stopped tables stay stopped (one WARN each the first
 * time), a resumed one goes on catching up. */
sl_err_t     app_txn_load_stops(app_txn_t *x, char *errstr, size_t errstr_size);
/* Resumes stopped db.table: rolls back what is open, stores the resume and
 * starts its catch-up; the caller then seeks (app_txn_catchup_from).
 * SL_ERR_NOT_FOUND: not stopped; SL_ERR_STATE: a catch-up runs already. */
sl_err_t     app_txn_resume(app_txn_t *x, const char *db, const char *table, char *errstr,
                            size_t errstr_size);
/* 1 and *offset while a catch-up runs: where reading starts again (instead
 * of after the committed position). */
int          app_txn_catchup_from(const app_txn_t *x, int64_t *offset);
/* Changes whenever a table stops, resumes, catches up or is cleared. */
unsigned     app_txn_stops_version(const app_txn_t *x);
/* A JSON array of the stopped and catching-up tables: db, table, state
 * (stopped | catching_up), reason, offset, source_position, resume_to,
 * since. */
void         app_txn_stops_json(const app_txn_t *x, sl_buf_t *out);
/* "db\0table\0" per stopped table (those a resume can take). */
void         app_txn_stops_names(const app_txn_t *x, sl_buf_t *out);

/* /tables on the HTTP endpoint (stops_http.c). The handlers run in the
 * endpoint's thread and only see what the main loop published. */
typedef struct app_stops_http_s app_stops_http_t;
/* Adds GET /tables and POST /tables/resume to h (NULL: no endpoint, the
 * object still works). refuse != NULL: every resume is refused with it. The
 * caller owns the result; app_stops_http_free removes the routes first (h
 * must still be there). */
app_stops_http_t *app_stops_http_new(sl_http_t *h, const char *task, const char *refuse);
void     app_stops_http_free(app_stops_http_t *s);
/* The main loop publishes the JSON array and the names (app_txn_stops_*). */
void     app_stops_http_publish(app_stops_http_t *s, const char *json, const char *names,
                                size_t names_len);
/* A resume request left by POST /tables/resume (taken once): 1 and db,
 * table; 0 when none. */
int      app_stops_http_take(app_stops_http_t *s, char *db, size_t db_size, char *table,
                             size_t table_size);
/* Main loop: when the stops changed, /health's degraded detail and the
 * /tables list are published again. */
void     app_stops_note(app_stops_http_t *s, const app_txn_t *x, sl_http_t *h);
/* Main loop: takes a waiting resume request and resumes the table (logged;
 * an error is logged too). 1 = resumed: the caller seeks. */
int      app_stops_poll(app_stops_http_t *s, app_txn_t *x);

/* ------------------------------------------- source.type = mongolog */

typedef struct app_logsrc_s app_logsrc_t;

/* source.log.* / source.start.* checks (no connection). */
sl_err_t app_logsrc_check_conf(const app_conf_t *c, char *errstr, size_t errstr_size);
/* Connects to the shared log (ping). mapping is borrowed (which tables the
 * task needs: gaps, stopped tables). The caller owns *out. */
sl_err_t app_logsrc_open(app_logsrc_t **out, const app_conf_t *c, app_mapping_t *mapping,
                         char *errstr, size_t errstr_size);
void     app_logsrc_close(app_logsrc_t *s);
/* A reader with no shared log behind it: the caller hands it the documents
 * (app_logsrc_push, copied) that a window read would have returned, and
 * app_logsrc_next reads them as it reads the log's (SL_ERR_TIMEOUT once
 * they are read). For tests and tests/fuzz/fuzz_mongolog.c: the document
 * reader without a server. The caller owns *out (app_logsrc_close). */
sl_err_t app_logsrc_open_local(app_logsrc_t **out, const app_conf_t *c, app_mapping_t *mapping);
sl_err_t app_logsrc_push(app_logsrc_t *s, const bson_t *doc);
/* Positions the reader after pos (the target's stored position, a COMMIT),
 * or when NULL after source.start.position / before the first transaction
 * committed at or after source.start.time / at the log's beginning. seed:
 * also seeds txn with the schema in force of every table at that point. */
sl_err_t app_logsrc_start(app_logsrc_t *s, app_txn_t *txn, const app_position_t *pos,
                          int seed, char *errstr, size_t errstr_size);
/* The next record into rec (reset first) and m (offset = the Kafka offset of
 * its message, first_row = its first row in that message; kmsg NULL).
 * SL_ERR_TIMEOUT: caught up (nothing more up to the watermark); SL_ERR_DB:
 * the log is unreachable (retry); SL_ERR_FATAL: a gap of a needed table or
 * a document the miner never writes (errstr says which). */
sl_err_t app_logsrc_next(app_logsrc_t *s, sl_record_t *rec, app_msg_t *m, char *errstr,
                         size_t errstr_size);
/* The Kafka offset after the last record read (-1 none): where the topic
 * takes over. */
int64_t  app_logsrc_next_offset(const app_logsrc_t *s);
/* The miner's next Kafka offset (its progress), -1 unknown. */
int64_t  app_logsrc_miner_offset(const app_logsrc_t *s);
/* Where the log can be read to: the miner's offset, or the stop offset of a
 * needed table the miner has stopped when that is lower; -1 unknown. A task
 * that read nothing from the log takes the topic over here. */
int64_t  app_logsrc_readable_offset(const app_logsrc_t *s);
/* A needed table the miner has stopped, bounding the read ("db.t (state)"),
 * or NULL. */
const char *app_logsrc_stopped_table(const app_logsrc_t *s);
uint64_t app_logsrc_docs(const app_logsrc_t *s);

/* ------------------------------------------- one active copy (lease.c) */

typedef struct app_leaser_s app_leaser_t;

/* Called on every change of the task's state: "standby" while another copy
 * holds the lease (reason names it), "target_down" while the target cannot
 * be reached for the lease. */
typedef void (app_state_fn)(void *arg, const char *state, const char *reason);

/* ops: the plain target (leases are per task, not per worker); tconf is
 * borrowed and gets the epoch; state(arg, ...) reports standby. The caller
 * owns the result (app_leaser_destroy); NULL: no memory. */
app_leaser_t *app_leaser_new(const app_target_ops_t *ops, app_target_conf_t *tconf,
                             const app_conf_t *c, sl_metrics_t *mx, app_state_fn *state,
                             void *arg);
void          app_leaser_destroy(app_leaser_t *l);
/* Returns once this copy holds the task's lease (tconf->epoch set): at
 * once when it still does (checked), else after waiting as a hot standby, trying
 * again every lease.retry.ms. 0: held; -1: stopping; SL_EXIT_DENIED: the
 * target refused for good (logged). */
int           app_leaser_acquire(app_leaser_t *l);
/* The periodic check (every lease.ttl.ms / 3; MongoDB: the renewal):
 * 0 held, -1 lost (logged; the caller stops applying and acquires again). */
int           app_leaser_keep(app_leaser_t *l);
/* The target fenced a write (errstr says which): the lease is given up. */
void          app_leaser_fenced(app_leaser_t *l, const char *errstr);

/* ------------------------------------------------------------ the loop */

/* The target settings of the config (target.*, create_tables, ddl.apply,
 * on_unconvertible, write_batch) for task.name; strings borrowed from c. */
app_target_conf_t app_target_conf_of(const app_conf_t *c);

/* Runs the task until stop; returns the exit code. */
int app_run(const app_conf_t *conf, sl_service_t *svc);

extern const char *const app_target_types[];

#endif
