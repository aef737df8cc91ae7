/* shiftlog-collector: what the source readers (mysql_source.c, pg_source.c)
 * and their supervisor (source.h, supervisor.c) share — the configuration and
 * the publishing side (col_publish.c).
 *
 * A source reader turns its change log into sl_record_t records and hands
 * them, in source order, to col_pub_put() (through the supervisor's
 * col_sup_put). The publisher encodes each once
 * (Avro single-object encoding), produces it to <topic.prefix>.<source.name>
 * with its key and headers, and keeps the source checkpoint: the position
 * of the last COMMIT (or FINISH) record that Kafka has durably — with
 * kafka.transactional, the records and the checkpoint record (compacted
 * topic <topic.prefix>._offsets, key = source name) go in one Kafka
 * transaction, committed every txn.max.ms / txn.max.messages. A reader
 * resumes from col_pub_checkpoint_load() after any restart, and a
 * PostgreSQL reader confirms LSNs up to col_pub_checkpoint() only. */
#ifndef COL_COLLECTOR_H
#define COL_COLLECTOR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"
#include "sl_err.h"
#include "sl_kv.h"
#include "sl_metrics.h"
#include "sl_pos.h"
#include "sl_record.h"
#include "sl_service.h"

enum { COL_SOURCE_MYSQL = 0, COL_SOURCE_POSTGRESQL = 1 };

typedef struct col_conf_s {
    const char *source_name;
    int         source_type;        /* COL_SOURCE_* */
    const char *source_host;
    int64_t     source_port;
    const char *source_user;
    const char *source_password;
    const char *source_database;
    int64_t     source_server_id;
    const char *source_slot;
    const char *source_publication;
    const char *spill_dir;          /* PG: spill files of streamed transactions */
    int64_t     spill_max_bytes;    /* PG: cap of one streamed transaction's spill, 0 = none */
    int         tls_mode;           /* sl_tls_mode_t (sl_tls.h) */
    const char *tls_ca;
    const char *tls_cert;
    const char *tls_key;
    const char *tables_include;     /* comma-separated `db.table` regexes (anchored) */
    const char *tables_exclude;
    const char *start_position;     /* earliest | latest | file:pos | GTID | LSN */
    int64_t     heartbeat_ms;
    int64_t     batch_max_rows;     /* rows per CHANGE batch (a bigger rows event is split) */
    int64_t     batch_max_bytes;
    const char *topic_prefix;
    int64_t     topic_partitions;
    int64_t     topic_replication;  /* -1: broker default */
    int         kafka_transactional;
    int64_t     txn_max_ms;
    int64_t     txn_max_messages;
    const char *kafka_bootstrap;
    int         snapshot_mode;      /* COL_SNAP_* (snapshot.h) */
    int64_t     snapshot_chunk_rows;
    int64_t     snapshot_progress_ms;  /* a progress line at most this often (0: every chunk) */
    int64_t     snapshot_txn_max_ms;   /* txn.max.ms while a snapshot copies */
    const char *snapshot_signal_table; /* MariaDB: `db.table` of the watermark/signal rows */
    int         dbz_output;         /* COL_DBZ_*: the Debezium-format topics (col_dbz.c) */
    const char *dbz_name;           /* their logical server name ("" = source.name) */
    int         lease;              /* one active copy per source (Kafka group lease) */
    int64_t     lease_ttl_ms;
    int64_t     retention_interval_ms; /* col_retain.h; 0: not measured */
    sl_service_conf_t svc;
    int         serve;              /* --serve (kept for compatibility; no effect) */
    int         check_only;         /* --check: validate the configuration and exit */
} col_conf_t;

/* output.debezium */
enum { COL_DBZ_OFF = 0, COL_DBZ_JSON = 1, COL_DBZ_JSON_SCHEMA = 2 };

/* ------------------------------------------------------------ publishing */

typedef struct col_pub_s col_pub_t;

/* Creates the producer (transactional when conf->kafka_transactional, with
 * transactional.id = shiftlog-collector-<source>), makes sure the source
 * topic and <prefix>._offsets (cleanup.policy=compact) exist, registers the
 * publishing metrics. stop: the service's stop flag for blocking waits.
 * The caller owns *out (col_pub_destroy). */
sl_err_t col_pub_new(col_pub_t **out, const col_conf_t *conf, const sl_kvlist_t *kafka,
                     sl_metrics_t *metrics, char *errstr, size_t errstr_size);
void     col_pub_destroy(col_pub_t *pub);
/* The producer's librdkafka properties col_pub_new uses: the kafka.*
 * passthrough with the collector's defaults (transactional.id, timeouts).
 * -1: out of memory. col_pub_queue_max: its queue.buffering.max.messages. */
int      col_pub_props(const col_conf_t *conf, const sl_kvlist_t *kafka, sl_kvlist_t *props);
int      col_pub_queue_max(const col_conf_t *conf);

/* Reads the last checkpoint of this source from <prefix>._offsets
 * (read_committed). SL_OK: *pos is where to resume (the position after the
 * last durable source transaction; for MySQL pos->gtid holds the GTID
 * state). SL_ERR_NOT_FOUND: first start. */
sl_err_t col_pub_checkpoint_load(col_pub_t *pub, sl_pos_t *pos,
                                 char *errstr, size_t errstr_size);

/* Publishes one record (positions non-decreasing). Blocks while Kafka's
 * queue is full (backpressure: the reader stops reading). A COMMIT or
 * FINISH record is a checkpoint candidate. SL_ERR_FATAL: the producer
 * failed; the reader must stop (its checkpoint is safe). */
sl_err_t col_pub_put(col_pub_t *pub, const sl_record_t *rec,
                     char *errstr, size_t errstr_size);

/* Serves delivery reports, commits the Kafka transaction when due and
 * writes the checkpoint record. Call on every loop turn (cheap when there
 * is nothing to do); waits at most timeout_ms. */
sl_err_t col_pub_service(col_pub_t *pub, int timeout_ms,
                         char *errstr, size_t errstr_size);

/* The durable checkpoint: 1 and *out set, or 0 when none yet. */
int col_pub_checkpoint(const col_pub_t *pub, sl_pos_t *out);

/* Delivers / commits everything pending and stores the final checkpoint,
 * within timeout_ms. Call before destroy on a clean stop. */
sl_err_t col_pub_close(col_pub_t *pub, int timeout_ms,
                       char *errstr, size_t errstr_size);

/* Snapshot progress (snapshot.h): text to store with the checkpoint of the
 * next COMMIT/FINISH put (copied; "" = no snapshot left). A checkpoint
 * keeps the text of the last boundary it covers, so a restart gets the
 * progress that goes with its resume position. */
void        col_pub_set_progress(col_pub_t *pub, const char *text);
/* The progress stored with the checkpoint col_pub_checkpoint_load read, or
 * NULL (none, or the snapshot had finished). Valid until the next call of
 * col_pub_set_progress / a checkpoint write. */
const char *col_pub_checkpoint_progress(const col_pub_t *pub);
/* How long a Kafka transaction may stay open from now on (ms; 0: txn.max.ms
 * again). A snapshot lengthens it: each commit waits for every record in
 * flight, and the reader (so the copy) stands still meanwhile. */
void        col_pub_set_txn_max_ms(col_pub_t *pub, int64_t ms);

/* Producer queue depth (messages not yet acknowledged), for /metrics. */
size_t col_pub_inflight(const col_pub_t *pub);

/* ------------------------------------------------------------ table filter */

typedef struct col_filter_s col_filter_t;
/* include/exclude: comma-separated POSIX extended regexes matched against
 * "db.table" (whole string). Empty include = every table. */
sl_err_t col_filter_new(col_filter_t **out, const char *include, const char *exclude,
                        char *errstr, size_t errstr_size);
int      col_filter_match(const col_filter_t *f, const char *db, const char *table);
void     col_filter_destroy(col_filter_t *f);

/* The source readers and their supervisor: source.h. */

#endif
