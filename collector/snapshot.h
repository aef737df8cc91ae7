/* shiftlog-collector: snapshots — the rows that already exist, read in
 * key-range chunks beside the stream, with no lock and no gap (the DBLog
 * method, Netflix 2019; Debezium's incremental snapshots use it too).
 *
 * For each chunk the engine (snapshot.c), on a connection of its own:
 *   1. writes a LOW watermark into the source's log (MariaDB: a row of the
 *      signal table; PostgreSQL: a transactional logical message),
 *   2. reads the chunk: at most snapshot.chunk.rows rows with a key above the
 *      last one read, in key order (keyset pagination, never OFFSET), and
 *      keeps them in memory,
 *   3. writes a HIGH watermark.
 * The stream reader meets LOW and HIGH in log order. Every change of the
 * table that the stream shows between them may or may not be in the rows
 * read, so the engine drops those keys from the chunk; at HIGH the rows
 * left are exactly the table's state there, and they are published at
 * HIGH's position as CHANGE records with op READ (row i of the chunk at
 * pos.row = i), inside HIGH's source transaction (its COMMIT follows).
 * Changes after HIGH come after them, so every key's history stays ordered
 * and nothing is lost or doubled, while writes go on.
 *
 * Progress (the tables still to read and the last key read of the current
 * one) is a text kept with the collector's checkpoint (col_pub_set_progress):
 * a restart resumes at the chunk after the last one published, never at
 * zero. A chunk read but not published is simply read again.
 *
 * Memory: one chunk (snapshot.chunk.rows rows) and the keys the stream
 * changed during its window. */
#ifndef COL_SNAPSHOT_H
#define COL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "collector.h"
#include "sl_buf.h"
#include "sl_http.h"

enum {
    COL_SNAP_NEVER = 0,         /* snapshot.mode = never */
    COL_SNAP_INITIAL = 1,       /* initial: every included table on the first start */
    COL_SNAP_INITIAL_ONLY = 2,  /* initial_only: the same, then stop (no streaming) */
    COL_SNAP_WHEN_NEEDED = 3    /* when_needed: initial, and again when the checkpoint
                                 * is no longer on the source */
};

/* The most key columns a table is chunked by. */
#define COL_SNAP_MAX_KEY 32

/* A key bound of a range request (snapshot_key.c): the values of a JSON
 * array given in key order ([17], ["a",3]) as text — a string's characters,
 * a number as written — which the backends turn into values of the key's
 * columns. */
typedef struct col_snap_key_s {
    uint32_t n;
    char    *vals[COL_SNAP_MAX_KEY];   /* owned, NUL-terminated */
} col_snap_key_t;

/* 0 and out filled (free with col_snap_key_free), or -1 with errstr saying
 * what is wrong (not an array, null, a nested value, ...). */
int  col_snap_key_parse(const char *json, col_snap_key_t *out, char *errstr,
                        size_t errstr_size);
void col_snap_key_free(col_snap_key_t *k);
/* A bound's JSON inside a request mark's first word: '%', '+', space and
 * controls as %XX (put); back into a malloc'd text (get, NULL: no memory). */
void  col_snap_mark_put(sl_buf_t *b, const char *text);
char *col_snap_mark_get(const char *p, size_t n);

/* What a source kind gives the engine: queries on a connection of their
 * own (never the replication connection). errstr names the table. */
typedef struct col_snap_src_s {
    void *ctx;
    /* Calls add(arg, db, table, NULL) for every table to snapshot (the
     * included tables, in a stable order), and add(arg, db, table, why) for
     * an included table that cannot be copied (why says so; the engine logs
     * it and lists it as skipped). */
    sl_err_t (*tables)(void *ctx, sl_err_t (*add)(void *arg, const char *db, const char *table,
                                                  const char *why),
                       void *arg, char *errstr, size_t errstr_size);
    /* Reads the next chunk of db.table: at most limit rows whose key is
     * above `after` (NULL: from the first row), in key order, into out as a
     * CHANGE with op SL_OP_READ (db, table, column names in the table's
     * order, after images; the engine sets source, pos, txn, schema_id,
     * event time). Sets key[0 .. *nkey) to the indexes in out of the key
     * columns (the primary key, else a unique key of NOT NULL columns) and
     * *last to the continuation after the last row read (malloc'd text the
     * engine stores in its progress and gives back as `after`; NULL when no
     * row was read). A range: when after is NULL and lo is not, only rows
     * whose key is above lo; with hi, only rows whose key is at most hi —
     * compared in the order the chunks page by (lo/hi NULL: unbounded).
     * SL_ERR_NOT_FOUND: the table is gone. SL_ERR_UNSUPPORTED: the table has
     * no usable key (errstr says so). SL_ERR_INVALID: `after`, lo or hi do
     * not fit the key (count of values, a value the column cannot hold). */
    sl_err_t (*read_chunk)(void *ctx, const char *db, const char *table, const char *after,
                           const col_snap_key_t *lo, const col_snap_key_t *hi,
                           uint32_t limit, sl_record_t *out, uint32_t key[COL_SNAP_MAX_KEY],
                           uint32_t *nkey, char **last, char *errstr, size_t errstr_size);
    /* Optional: the table's row count as its statistics estimate it (for
     * progress: percent, ETA); -1 when unknown. Never an exact COUNT(*). */
    sl_err_t (*estimate)(void *ctx, const char *db, const char *table, int64_t *rows,
                         char *errstr, size_t errstr_size);
    /* Writes a watermark into the source's log and commits it: kind 'L'
     * (low) or 'H' (high), id unique per chunk. */
    sl_err_t (*watermark)(void *ctx, char kind, const char *id, char *errstr,
                          size_t errstr_size);
    void (*destroy)(void *ctx);
} col_snap_src_t;

/* What the stream reader gives the engine: both are called only from
 * inside col_snap_watermark (in stream order). */
typedef struct col_snap_sink_s {
    void *ctx;
    /* Makes sure a SCHEMA record of db.table is published (publishing one
     * now, at the current position, if the stream has not) and gives its
     * schema id and its column names (valid until the next call).
     * SL_ERR_NOT_FOUND: the table does not exist at this point. */
    sl_err_t (*schema)(void *ctx, const char *db, const char *table, uint64_t *schema_id,
                       const char *const **names, uint32_t *ncols, char *errstr,
                       size_t errstr_size);
    /* Publishes rec in stream order (the reader counts its rows into the
     * current source transaction). */
    sl_err_t (*put)(void *ctx, sl_record_t *rec, char *errstr, size_t errstr_size);
} col_snap_sink_t;

typedef struct col_snap_s col_snap_t;

/* A new engine for conf->source_name with mode conf->snapshot_mode. It
 * owns src (src->destroy at col_snap_destroy) but not the sink. progress:
 * the text stored with the checkpoint (col_pub_checkpoint_progress), or
 * NULL. pub may be NULL (no progress kept: tests). first_start: there was
 * no checkpoint (an initial snapshot is due when the mode asks for one).
 * The caller owns *out. */
sl_err_t col_snap_new(col_snap_t **out, const col_conf_t *conf, const col_snap_src_t *src,
                      const col_snap_sink_t *sink, col_pub_t *pub, sl_metrics_t *metrics,
                      const char *progress, int first_start, char *errstr,
                      size_t errstr_size);
void     col_snap_destroy(col_snap_t *s);

/* Queues db.table for a (re-)snapshot (a signal, `shiftlog snapshot`, a
 * purged position). A request equal to one queued and not started yet is
 * not queued twice. */
sl_err_t col_snap_request(col_snap_t *s, const char *db, const char *table);
/* The same for the key range (lo, hi] of db.table (lo/hi: JSON arrays as
 * col_snap_key_parse reads them, NULL: unbounded), under request id (NULL:
 * none; GET /snapshot reports the request's end under it). Several ranges
 * of one table may be queued. A range whose bounds do not fit the table's
 * key is refused when its turn comes (logged, reported under its id). */
sl_err_t col_snap_request_range(col_snap_t *s, const char *id, const char *db,
                                const char *table, const char *lo, const char *hi);

/* Queues every table the source lists (snapshot.mode = when_needed after
 * the checkpoint was purged from the source). */
sl_err_t col_snap_request_all(col_snap_t *s, char *errstr, size_t errstr_size);

/* The reader is between source transactions with nothing pending: reads
 * the next chunk when one is due (LOW, read, HIGH) and returns. Cheap when
 * nothing is due. SL_ERR_DB etc.: the source connection failed (the
 * session may retry). */
sl_err_t col_snap_step(col_snap_t *s, char *errstr, size_t errstr_size);

/* The progress text as it stands (what col_pub_set_progress was last
 * given, or would be): "" when nothing is left. Valid until the next call. */
const char *col_snap_progress(col_snap_t *s);

/* 1 while a chunk has been read and its HIGH watermark not yet met. */
int col_snap_waiting(const col_snap_t *s);
/* 1 while something is to copy: a chunk in flight or an entry queued. */
int col_snap_busy(const col_snap_t *s);
/* 1 once the snapshot the mode asked for is complete (initial_only: the
 * collector stops then) and nothing is queued. */
int col_snap_done(const col_snap_t *s);

/* The reader calls this for every record it publishes, before publishing
 * it: inside a chunk's window, the keys it changes are dropped from the
 * chunk (a DDL or TRUNCATE of the table drops the whole chunk). */
void col_snap_observe(col_snap_t *s, const sl_record_t *rec);

/* The reader met a watermark written by this source's engine: kind, id,
 * the watermark event's position (row 0), its transaction id and time.
 * At the chunk's HIGH the rows left are published through sink->put. A
 * watermark of another chunk (an earlier session's) is ignored. */
sl_err_t col_snap_watermark(col_snap_t *s, char kind, const char *id, const sl_pos_t *pos,
                            const char *txn, int64_t time_us, char *errstr,
                            size_t errstr_size);

/* Parses a watermark payload "<source>:<kind>:<id>" (what the backends
 * write): 1 and kind/id set when it is one of `source`'s, else 0. */
int col_snap_parse_mark(const char *text, size_t len, const char *source, char *kind,
                        char *id, size_t id_size);
/* Formats the payload for source/kind/id into buf. */
void col_snap_format_mark(char *buf, size_t size, const char *source, char kind,
                          const char *id);

/* snapshot_http.c: POST /snapshot?table=db.t[&after=K][&upto=K] and GET
 * /snapshot on the service's endpoint (h NULL: nothing). The engine takes
 * the requests in col_snap_step (written as 'S' marks into the source's
 * log, so a request is ordered with the stream and survives a restart) and
 * publishes its status there. */
typedef struct col_snap_req_s {
    char *id;          /* unique per request, the mark's first word */
    char *name;        /* db.table in the name form (sl_name.h) */
    char *after, *upto;/* JSON key bounds, NULL: unbounded */
} col_snap_req_t;

sl_err_t col_snap_http_start(sl_http_t *h, const char *source);
void     col_snap_http_stop(sl_http_t *h);
/* The oldest request not taken into *out (the caller frees it with
 * col_snap_req_free): 1, or 0 when there is none. */
int      col_snap_http_take(col_snap_req_t *out);
/* Gives back a request taken whose mark could not be written: first again,
 * owned by the endpoint (*req is emptied). */
void     col_snap_http_untake(col_snap_req_t *req);
void     col_snap_req_free(col_snap_req_t *r);
/* The engine's status (a JSON object without its closing brace: the
 * endpoint adds the requests not taken yet). */
void     col_snap_http_publish(const char *json);

/* The text of an 'S' mark's id for req: "<id>[+<after>+<upto>] <name>"
 * (bounds as col_snap_mark_put writes them), into b. Parsed back by
 * col_snap_watermark. */
sl_err_t col_snap_req_mark(sl_buf_t *b, const col_snap_req_t *req);

/* The backends (snapshot_mysql.c, snapshot_pg.c): a col_snap_src_t on new
 * connections made from conf. The caller gives it to col_snap_new. */
sl_err_t col_snap_mysql_src(col_snap_src_t *out, const col_conf_t *conf,
                            const col_filter_t *filter, char *errstr, size_t errstr_size);
sl_err_t col_snap_pg_src(col_snap_src_t *out, const col_conf_t *conf,
                         const col_filter_t *filter, char *errstr, size_t errstr_size);

#endif
