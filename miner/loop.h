/* shiftlog-miner: what main.c (configuration, start-up) and loop.c (the
 * mining loop) share. Private to the miner's main thread. */
#ifndef MINE_LOOP_H
#define MINE_LOOP_H

#include "control.h"
#include "miner.h"
#include "sl_avro.h"
#include "sl_kafka.h"
#include "sl_service.h"
#include "sl_watchdog.h"

typedef struct mine_conf_s {
    const char       *source_name;
    const char       *topic_prefix;
    const char       *log_uri;
    const char       *log_database;
    const char       *log_collection;
    int               log_write_concern;
    int64_t           log_retention_hours;
    int64_t           retention_interval_ms;
    int64_t           retention_batch;
    const char       *mining_start_time;
    int               supplement_full_fields;
    int64_t           worker_num;
    int64_t           read_batch;
    int64_t           write_batch;
    int64_t           flush_interval_ms;
    int64_t           control_interval_ms;
    int64_t           watchdog_ms;       /* no progress with records waiting: 0 = off */
    const char       *kafka_bootstrap;
    const char       *kafka_group_id;
    int               lease;             /* one active miner per source log */
    int64_t           lease_ttl_ms;
    sl_service_conf_t svc;
    int               check_only;        /* --check */
    int               serve;             /* --serve (kept for compatibility) */
} mine_conf_t;

/* A batch of decoded records: while the writers write one, the main thread
 * consumes and decodes the next into the other. */
typedef struct mine_batch_s {
    sl_record_t **recs;
    int64_t      *offsets;
    size_t        n;
    sl_pos_t      last_pos;     /* of the last record (set by dispatch) */
} mine_batch_t;

typedef struct mine_s {
    mine_conf_t         *c;
    sl_service_t        *svc;
    mine_store_t        *store;
    mongoc_client_t     *client;
    mine_writers_t      *writers;
    mine_ctl_t          *ctl;
    sl_kafka_consumer_t *cons;
    sl_avro_codec_t     *codec;
    char                 topic[512];
    sl_kvlist_t          props;
    mine_batch_t         b[2];          /* one read while the other is written */
    int64_t              next_offset;   /* next offset to mine (after the durable batches) */
    int64_t              read_offset;   /* next offset to read (may be one batch ahead) */
    sl_pos_t             last_pos;      /* last record handled */
    char                 watermark[MINE_ID_LEN + 1];  /* last COMMIT durable */
    int64_t              last_commit_us;
    int64_t              start_us;      /* mining.start.time, 0 = none */
    int                  started;       /* start time reached (or none) */
    int                  at_boundary;
    int                  retention_on;
    uint64_t             docs_total;
    mine_lease_t        *lease;         /* NULL with lease = false */
    sl_watchdog_t       *wd;            /* NULL with watchdog.ms = 0 */
    int                  fenced;        /* another copy took the log over: stood down */
    sl_metric_t         *m_docs, *m_dups, *m_supp, *m_lag, *m_offset, *m_batches;
    sl_metric_t         *m_retained;
} mine_t;

/* The progress document: where the last run got to (found: 0 = none). */
sl_err_t mine_progress_read(mine_t *m, int *found, char *errstr, size_t errstr_size);

/* Mines until the service stops or fails: the exit code. */
int mine_loop_run(mine_t *m);

#endif
