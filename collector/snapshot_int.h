/* shiftlog-collector: the snapshot engine's state, shared by its two files:
 * snapshot.c (the chunk loop, the window, READ records at HIGH) and
 * snapshot_queue.c (what is queued and its progress: the progress text kept
 * with the checkpoint, GET /snapshot, the progress lines and metrics).
 * Nothing outside those two files includes this. */
#ifndef COL_SNAPSHOT_INT_H
#define COL_SNAPSHOT_INT_H

#include "snapshot.h"

#define SNAP_ENDS 64            /* requests ended, kept for GET /snapshot */
#define SNAP_SKIPPED_MAX 256    /* tables left out, kept for GET /snapshot */
#define SNAP_WRITTEN_MAX 256    /* requests written to the log, not met yet */

/* One queued copy: a whole table, or a key range (lo, hi] of it. */
typedef struct snap_table_s {
    char    *db;
    char    *table;
    char    *id;                /* the request's id, NULL: none (initial, when_needed) */
    char    *lo, *hi;           /* JSON key bounds, NULL: unbounded */
    uint64_t rows;              /* published for this entry (kept across restarts) */
    uint64_t chunks;
    int64_t  estimate;          /* rows the statistics expect, -1: unknown */
    int64_t  started_ms;        /* its first chunk in this process, 0: not yet */
    uint64_t rows_at_start;     /* rows at started_ms (the rate of this process) */
} snap_table_t;

/* A request that ended (done, refused, the table gone). */
typedef struct snap_end_s {
    char       *id, *name, *lo, *hi, *why;
    const char *state;          /* "done", "refused", "gone" */
    uint64_t    rows;
} snap_end_t;

typedef struct snap_skip_s {
    char *name, *why;
} snap_skip_t;

struct col_snap_s {
    const col_conf_t *conf;
    col_snap_src_t    src;
    col_snap_sink_t   sink;
    col_pub_t        *pub;
    sl_metrics_t     *metrics;
    int               initial;        /* the mode asked for a snapshot at this start */

    /* what is still to read; q[0] is the current entry, after its continuation */
    snap_table_t     *q;
    size_t            qn, qcap;
    char             *after;

    /* the chunk in flight (waiting: read, its HIGH not met yet) */
    int               waiting;
    int               window;         /* its LOW met */
    int               spoiled;        /* a DDL / TRUNCATE of the table in the window */
    int               retries;
    char              id[64];
    uint64_t          seq;
    sl_record_t      *chunk;
    uint32_t          key[COL_SNAP_MAX_KEY];
    uint32_t          nkey;
    char             *last;           /* continuation after the chunk */
    int               table_end;      /* the chunk was the entry's last */
    int64_t           high_us;        /* when its HIGH was written (debug timings) */

    /* keys the stream changed in the window: open addressing of owned strings */
    char            **set;
    size_t            set_n, set_cap;
    sl_buf_t          kb;

    /* what GET /snapshot reports beside the queue */
    snap_end_t        ends[SNAP_ENDS];
    size_t            nends;          /* ends ever recorded (ring: the last SNAP_ENDS) */
    snap_skip_t       skipped[SNAP_SKIPPED_MAX];
    size_t            nskipped;
    char             *written[SNAP_WRITTEN_MAX];
    size_t            nwritten;

    sl_buf_t          progress;
    int64_t           started_ms;
    uint64_t          rows_total, tables_done;
    int64_t           logged_ms;

    sl_metric_t      *m_rows, *m_chunks, *m_pending, *m_skipped, *m_dropped;
};

/* snapshot_queue.c */

/* Appends an entry (copies of the strings). dedup: not when an equal entry
 * is queued and not started. */
sl_err_t col_snapq_add(col_snap_t *s, const char *id, const char *db, const char *table,
                       const char *lo, const char *hi, int dedup);
/* The tables() callback: queues db.table, or notes it skipped (why). */
sl_err_t col_snapq_add_table(void *arg, const char *db, const char *table, const char *why);
/* Ends the current entry (state "done", "refused", "gone"; why may be NULL):
 * recorded for GET /snapshot, the next one becomes current. */
void     col_snapq_pop(col_snap_t *s, const char *state, const char *why);
/* Records a request's end for GET /snapshot (copies the strings). */
void     col_snapq_end(col_snap_t *s, const char *id, const char *name, const char *lo,
                       const char *hi, const char *state, const char *why, uint64_t rows);
/* A table that cannot be copied: logged (WARNING), counted, listed. */
void     col_snapq_skip(col_snap_t *s, const char *db, const char *table, const char *why);
/* A request written into the source's log, until the stream meets it. */
void     col_snapq_written(col_snap_t *s, const char *id, int met);
/* The current entry starts (or resumes) in this process: its estimate. */
void     col_snapq_start(col_snap_t *s);
/* A chunk of n rows of the current entry was published. */
void     col_snapq_chunk(col_snap_t *s, uint64_t n);
/* The progress line of the current entry, when snapshot.progress.interval
 * passed, or its end line (force). */
void     col_snapq_log(col_snap_t *s, int force);

const char *col_snapq_progress_text(col_snap_t *s);
sl_err_t col_snapq_progress_parse(col_snap_t *s, const char *text, char *errstr,
                                  size_t errstr_size);
void     col_snapq_publish(col_snap_t *s);
void     col_snapq_clear(col_snap_t *s);

#endif
