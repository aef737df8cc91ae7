/* shiftlog-collector: the interface every source reader implements, and the
 * services the one supervisor (supervisor.c) gives it.
 *
 * A reader turns one database's change log into records, in source order:
 * the MariaDB/MySQL binlog (mysql_source.c, col_mysql_source) and PostgreSQL's
 * pgoutput (pg_source.c, col_pg_source). The supervisor runs it in sessions
 * and owns everything that is the same for every reader: the retry backoff,
 * /health and /ready, the Kafka stall watchdog (col_watch.h), the reconnect
 * metric, the publisher (col_publish.c) and its checkpoint, and the snapshot
 * engine (snapshot.h). Its steps are in [brackets]:
 *
 *   create → { connect → [publisher, checkpoint] → start → [snapshot engine]
 *              → stream → [/ready 200] → run → [publisher closed, engine gone]
 *              → close }* → destroy
 *
 *   create   once per process: the reader's own records, metrics
 *   connect  the source connection and the checks that need no checkpoint
 *            (preflight): a misconfigured source stops before Kafka is touched
 *   start    where to read from: the checkpoint (NULL on a first start: then
 *            start.position; from_end: the log's end, see PURGED), the
 *            reader's decoding state, and the snapshot engine's backend
 *            (queries on connections of their own) and sink (how its rows
 *            enter the stream), which the supervisor hands to col_snap_new
 *   stream   opens the replication stream at that position and publishes a
 *            FINISH record there first
 *   run      reads until a stop is asked or the session fails
 *   close    ends the session whatever step it reached (delivered: the
 *            publisher took everything put before it was closed — a reader
 *            may confirm its position to the source then)
 *   classify the outcome of an sl_err_t that a step met (see col_sup_end);
 *            SL_ERR_DENIED never reaches it: the supervisor ends with DENIED
 *
 * How a step ends (col_end_t): COL_GO_ON = carry on; otherwise the session
 * ends and the supervisor
 *   STOP       stops (exit 0): SIGTERM, a lost lease, initial_only complete;
 *   TRANSIENT  starts a new session from the checkpoint after a backoff
 *              (0.5 s doubling to 30 s for failures in a row; a session that
 *              ran over 60 s resets it): a connection lost, Kafka failing;
 *              /ready says 503 with the reason meanwhile, /health stays 200;
 *   PERMANENT  stops (exit 1) with one ERROR line naming the cause: retrying
 *              cannot help (configuration, an undecodable event);
 *   DENIED     stops (exit 3, SL_EXIT_DENIED): the server refused these
 *              credentials or grants for good;
 *   PURGED     (start only) the checkpoint is no longer on the source: with
 *              snapshot.mode = when_needed the supervisor calls start again
 *              with from_end and queues every table for a snapshot; else
 *              PERMANENT with the reader's errstr.
 *
 * Rules every reader keeps (DESIGN invariants 1, 4, 7):
 *   - every record goes out through col_sup_put, in source order, positions
 *     non-decreasing; a source transaction ends with its COMMIT record,
 *     whose position is where a restart resumes; a reader never holds a
 *     whole transaction (records of at most batch.max.rows/bytes);
 *   - a session resumes exactly as a restart after kill -9 would: same
 *     positions, duplicates only after the checkpoint and behind the FINISH;
 *   - between source transactions (nothing of one put and not committed) it
 *     calls col_sup_idle: the snapshot engine reads chunks only there;
 *   - watermarks of this source met in the log go to col_sup_watermark,
 *     which publishes a chunk at its HIGH through the sink;
 *   - col_sup_service at least every few hundred messages and when idle;
 *   - blocking waits use sl_service_wait*, loops check sl_service_stopping().
 * Threading: everything runs on the service's main thread (the watchdog's
 * thread only reads a timestamp). */
#ifndef COL_SOURCE_H
#define COL_SOURCE_H

#include "collector.h"
#include "snapshot.h"

typedef enum col_end_e {
    COL_GO_ON = -1,
    COL_END_STOP = 0,
    COL_END_TRANSIENT,
    COL_END_PERMANENT,
    COL_END_DENIED,
    COL_END_PURGED
} col_end_t;

typedef struct col_sup_s col_sup_t;
typedef struct col_source_ops_s col_source_ops_t;

/* The common head of every reader's state: a reader's struct embeds it as
 * its first member (struct my_reader_s { col_source_t base; ... }) and
 * casts. All borrowed, valid until destroy. */
typedef struct col_source_s {
    const col_source_ops_t *ops;
    col_sup_t              *sup;
    const col_conf_t       *conf;
    const col_filter_t     *filter;    /* tables.include / tables.exclude */
    sl_metrics_t           *metrics;
} col_source_t;

struct col_source_ops_s {
    const char *kind;          /* source.type: "mysql", "postgresql" */
    const char *log_name;      /* its change log in messages: "binlog", "WAL" */
    const char *activity;      /* what Kafka backpressure pauses: "reading the binlog" */
    int         close_ms;      /* how long a session's end waits for Kafka to take
                                  what was put */

    /* *out: a new reader whose first member is a copy of *base; freed by destroy. */
    sl_err_t  (*create)(col_source_t **out, const col_source_t *base, char *errstr,
                        size_t errstr_size);
    void      (*destroy)(col_source_t *src);
    col_end_t (*connect)(col_source_t *src, char *errstr, size_t errstr_size);
    /* backend and sink are zeroed by the caller; filled on COL_GO_ON (the
     * supervisor then owns the backend: col_snap_new destroys it). */
    col_end_t (*start)(col_source_t *src, const sl_pos_t *ckpt, int from_end,
                       col_snap_src_t *backend, col_snap_sink_t *sink, char *errstr,
                       size_t errstr_size);
    col_end_t (*stream)(col_source_t *src, char *errstr, size_t errstr_size);
    col_end_t (*run)(col_source_t *src, char *errstr, size_t errstr_size);
    void      (*close)(col_source_t *src, int delivered);
    col_end_t (*classify)(const col_source_t *src, sl_err_t err, const char *errstr);
};

/* The readers, by source.type (main.c). */
extern const col_source_ops_t col_mysql_source;
extern const col_source_ops_t col_pg_source;

/* Runs ops' reader until a stop (SL_EXIT_OK) or an error that retrying
 * cannot cure (logged with the cause; SL_EXIT_FAILURE, SL_EXIT_DENIED);
 * SL_EXIT_USAGE for a table filter that does not compile. */
int col_supervise(sl_service_t *svc, const col_conf_t *conf, const col_source_ops_t *ops);

/* ------------------------------------------------------------ for readers */

/* Publishes rec (col_pub_put, watched by the stall watchdog). Outside a
 * chunk's publication the engine sees it first (col_snap_observe: a change
 * in a chunk's window wins over the chunk's row). COL_GO_ON, or how the
 * session ends: TRANSIENT when the producer failed (the checkpoint is
 * safe), STOP when it refused because of a stop, PERMANENT for a record
 * it cannot take (too large, not encodable). */
col_end_t col_sup_put(col_sup_t *sup, const sl_record_t *rec, char *errstr,
                      size_t errstr_size);
/* The publisher's housekeeping (deliveries, due Kafka commits), watched. */
col_end_t col_sup_service(col_sup_t *sup, char *errstr, size_t errstr_size);
/* Between source transactions: the snapshot engine's next chunk when one is
 * due; STOP once snapshot.mode = initial_only is complete. */
col_end_t col_sup_idle(col_sup_t *sup, char *errstr, size_t errstr_size);
/* A watermark of this source's engine met in the log (col_snap_watermark);
 * the records put meanwhile are the engine's. SL_OK when there is no engine. */
sl_err_t  col_sup_watermark(col_sup_t *sup, char kind, const char *id, const sl_pos_t *pos,
                            const char *txn, int64_t time_us, char *errstr,
                            size_t errstr_size);
/* How a step that met err ends the session: the outcome of the publisher
 * call that failed in it, if one did (a reader's own callbacks turn that
 * into an sl_err_t), else the reader's classify. */
col_end_t col_sup_end(col_sup_t *sup, sl_err_t err, const char *errstr);
/* /health and /ready say "degraded" with why (NULL: not any more), e.g.
 * tables whose changes the reader refuses. */
void        col_sup_degraded(col_sup_t *sup, const char *why);
/* The session's snapshot engine (re-snapshot requests), or NULL. */
col_snap_t *col_sup_snap(col_sup_t *sup);
/* The session's publisher (its durable checkpoint, its queue depth). */
col_pub_t  *col_sup_pub(col_sup_t *sup);

#endif
