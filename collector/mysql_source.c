/* shiftlog-collector, MySQL/MariaDB reader (col_mysql_run): the binlog over
 * the replication protocol (libmariadb's mariadb_rpl for transport and
 * framing, our own row decoder, mysql_decode.h) -> records -> col_pub_put.
 *
 * A session = a source connection + a publisher, started from the durable
 * checkpoint (else start.position). It begins with a FINISH record at the
 * start position, then streams:
 *   GTID            the transaction's id ("domain-server-seq")
 *   TABLE_MAP       a SCHEMA record before the table's first rows (and after
 *                   every change of its definition), mysql_schema.c
 *   WRITE/UPDATE/DELETE_ROWS  CHANGE batches of at most batch.max.rows rows
 *                   and batch.max.bytes of Avro encoding (measured per row,
 *                   not guessed from the binlog size: a MINIMAL image can be
 *                   400x smaller than its encoding); consecutive rows events of
 *                   one table and op inside a transaction share a batch (a
 *                   transaction of single-row statements is not one Kafka
 *                   message per row); a transaction is streamed, never held
 *   XID, QUERY(COMMIT)  a COMMIT record: position = the next event's
 *                   (file:pos after the transaction) + GTID
 *   QUERY (DDL)     SCHEMA records with the DDL text, then a COMMIT
 *   ROTATE          the new binlog file; HEARTBEAT: progress when idle
 * Transactions that touch only filtered-out tables publish nothing (and
 * move no checkpoint: a restart reads them again and skips them again).
 *
 * Any failure that retrying can cure (source connection dropped, Kafka
 * unreachable, a Kafka transaction aborted) ends the session; after a
 * bounded backoff (0.5 s doubling to 30 s) the next one starts from the
 * checkpoint, exactly as a restart after kill -9 would: same positions,
 * duplicates only after the checkpoint and behind a FINISH. Configuration
 * errors on the server side (preflight) and undecodable events are fatal. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "mysql_source.h"     /* mysql.h first: mariadb_rpl.h needs it */
#include <mariadb_rpl.h>
#include "col_watch.h"
#include "snapshot.h"
#include "sl_log.h"

#define MY_BACKOFF_MIN_MS 500
#define MY_BACKOFF_MAX_MS 30000

enum { SESSION_STOP = 0, SESSION_RETRY = 1, SESSION_FATAL = 2 };

typedef struct my_reader_s {
    sl_service_t          *svc;
    const col_conf_t      *conf;
    col_filter_t          *filter;
    col_pub_t             *pub;
    MYSQL                 *meta;
    MYSQL                 *repl;
    MARIADB_RPL           *rpl;
    col_my_server_t        srv;
    col_my_schema_t       *schema;
    sl_record_t           *rec;
    sl_record_t           *ddl[COL_MY_DDL_MAX];
    /* the CHANGE batch being filled (batch_t != NULL): rows events of batch_t with
     * event type batch_type and header flags batch_flags, batch_bytes its encoded size
     * (sl_avro_record_size + rows, col_mysql_rows_next_sized).
     * Published before any other record, when full, or at the transaction's end;
     * its position is its first row's, so a replay from the checkpoint (always a
     * transaction start) batches the same way and gives the same positions. */
    sl_record_t           *batch;
    const col_my_table_t  *batch_t;
    enum mariadb_rpl_event batch_type;
    uint32_t               batch_flags;
    size_t                 batch_bytes;
    int                    sessions;       /* started so far: FINISH "start" / "resume" */
    int                    pub_failed;     /* the session ended by the publisher */

    /* where the reader is */
    char                   file[SL_POS_FILE_MAX];
    sl_pos_t               last;           /* position of the last event read */
    int                    finish_pending; /* GTID start: FINISH once the file is known */

    /* the source transaction being read */
    int                    in_txn;
    int                    standalone;     /* GTID group without COMMIT (DDL) */
    int                    gtid_txn;       /* GTID group closed by XID/COMMIT (also
                                            * CREATE ... SELECT: DDL, then its rows) */
    int                    published;      /* records put for it */
    uint64_t               rows;
    char                   gtid[SL_POS_GTID_MAX];
    uint32_t               server_id;

    int64_t                pos_logged_ms;
    sl_metric_t           *m_events, *m_read_seq, *m_read_offset, *m_lag, *m_heartbeats,
                          *m_reconnects, *m_skipped;
    int                    crc;      /* events end in a CRC32 (binlog_checksum != NONE) */

    col_watch_t           *watch;          /* Kafka stall watchdog (col_watch.h) */
    col_my_snap_t         *snap;           /* the snapshot engine of the session */
    int                    snap_putting;   /* a record of the engine's being put */
    int                    snap_rc;        /* the session outcome a put of it met */
    int                    denied;        /* the server refused us for good (exit 3) */
} my_reader_t;

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void note_position(my_reader_t *r, const sl_pos_t *pos, int force)
{
    int64_t now = sl_service_now_ms();
    if (!force && now - r->pos_logged_ms < 1000)
        return;
    char t[200];
    sl_pos_format(pos, t, sizeof(t));
    sl_log_set_position(t);
    r->pos_logged_ms = now;
}

static void set_pos(my_reader_t *r, sl_pos_t *pos, uint64_t offset, uint32_t row)
{
    if (sl_pos_set_mysql(pos, r->file, offset, row) != SL_OK) {
        /* a file name without a numeric suffix: keep it, order by offset */
        memset(pos, 0, sizeof(*pos));
        pos->kind = SL_POS_MYSQL;
        snprintf(pos->file, sizeof(pos->file), "%s", r->file);
        pos->offset = offset;
        pos->row = row;
    }
    snprintf(pos->gtid, sizeof(pos->gtid), "%s", r->gtid);
}

/* Publishes rec; maps publisher errors to session outcomes. */
static int put_one(my_reader_t *r, sl_record_t *rec, char *errstr, size_t errstr_size)
{
    if (!r->snap_putting)
        col_my_snap_observe(r->snap, rec);   /* the stream's changes win over a chunk's */
    col_watch_enter(r->watch);
    sl_err_t err = col_pub_put(r->pub, rec, errstr, errstr_size);
    col_watch_leave(r->watch, !err);
    if (!err)
        return SESSION_STOP - 1;                 /* -1: go on */
    if (err == SL_ERR_STATE && sl_service_stopping())
        return SESSION_STOP;
    if (err == SL_ERR_FATAL) {
        r->pub_failed = 1;
        return SESSION_RETRY;
    }
    return SESSION_FATAL;                        /* encode error, record too large */
}
#define GO_ON (-1)

/* Publishes the CHANGE batch being filled, if any. */
static int flush_batch(my_reader_t *r, char *errstr, size_t errstr_size)
{
    if (!r->batch_t)
        return GO_ON;
    r->batch_t = NULL;
    sl_change_t *ch = &r->batch->u.change;
    int rc = put_one(r, r->batch, errstr, errstr_size);
    if (rc != GO_ON) {
        if (rc == SESSION_FATAL) {
            char t[200];
            sl_pos_format(&r->batch->pos, t, sizeof(t));
            snprintf(errstr + strlen(errstr), errstr_size - strlen(errstr),
                     " (table %s.%s, rows at %s)", ch->db, ch->table, t);
        }
        return rc;
    }
    r->published = 1;
    r->rows += ch->nrows;
    return GO_ON;
}

/* Publishes rec after the batch being filled: records keep the source order. */
static int put(my_reader_t *r, sl_record_t *rec, char *errstr, size_t errstr_size)
{
    int rc = flush_batch(r, errstr, errstr_size);
    return rc != GO_ON ? rc : put_one(r, rec, errstr, errstr_size);
}

/* The engine's records (col_my_put_fn): in stream order, counted into the
 * watermark's transaction so its COMMIT (and the progress) follows them. */
static sl_err_t snap_put(void *reader, sl_record_t *rec, char *errstr, size_t errstr_size)
{
    my_reader_t *r = reader;
    r->snap_putting = 1;
    int rc = put(r, rec, errstr, errstr_size);
    r->snap_putting = 0;
    if (rc != GO_ON) {
        r->snap_rc = rc;
        return SL_ERR_FATAL;
    }
    r->published = 1;
    if (rec->type == SL_REC_CHANGE)
        r->rows += rec->u.change.nrows;
    return SL_OK;
}

/* The session outcome of an engine call that returned err. */
static int snap_outcome(my_reader_t *r, sl_err_t err)
{
    int rc = r->snap_rc;
    r->snap_rc = 0;
    if (rc)
        return rc;
    if (err == SL_ERR_DENIED)
        r->denied = 1;                   /* no grant on the signal table: exit 3 */
    return err == SL_ERR_DB || err == SL_ERR_IO || err == SL_ERR_TIMEOUT || err == SL_ERR_NOMEM
           ? SESSION_RETRY : SESSION_FATAL;
}

static int put_finish(my_reader_t *r, const sl_pos_t *pos, char *errstr, size_t errstr_size)
{
    sl_record_reset(r->rec);
    if (sl_record_init_finish(r->rec, r->conf->source_name,
                              r->sessions > 1 ? "resume" : "start", wall_us())) {
        snprintf(errstr, errstr_size, "out of memory");
        return SESSION_FATAL;
    }
    r->rec->pos = *pos;
    r->rec->pos.row = 0;
    char t[200];
    sl_pos_format(pos, t, sizeof(t));
    sl_info("%s reading the binlog at %s", r->sessions > 1 ? "resumed" : "started", t);
    note_position(r, pos, 1);
    return put(r, r->rec, errstr, errstr_size);
}

static void txn_reset(my_reader_t *r)
{
    r->batch_t = NULL;              /* published by now, or dropped with the session */
    r->in_txn = 0;
    r->standalone = 0;
    r->gtid_txn = 0;
    r->published = 0;
    r->rows = 0;
}

/* End of a source transaction at end_pos (the next event's position). */
static int txn_end(my_reader_t *r, uint64_t end_pos, int64_t time_us, char *errstr,
                   size_t errstr_size)
{
    int rc = flush_batch(r, errstr, errstr_size);
    if (rc != GO_ON)
        return rc;
    if (r->published) {
        sl_record_reset(r->rec);
        if (sl_record_init_commit(r->rec, r->conf->source_name, r->gtid, time_us,
                                  r->server_id, r->rows)) {
            snprintf(errstr, errstr_size, "out of memory");
            return SESSION_FATAL;
        }
        set_pos(r, &r->rec->pos, end_pos, 0);
        rc = put(r, r->rec, errstr, errstr_size);
        note_position(r, &r->rec->pos, 0);
    }
    txn_reset(r);
    return rc;
}

static int is_rows_event(int t)
{
    return (t >= COL_MYSQL_EV_WRITE_ROWS_V1 && t <= COL_MYSQL_EV_DELETE_ROWS_V1) ||
           (t >= COL_MYSQL_EV_WRITE_ROWS_V2 && t <= COL_MYSQL_EV_DELETE_ROWS_V2);
}

static int on_rows(my_reader_t *r, MARIADB_RPL_EVENT *ev, const uint8_t *body, size_t len,
                   uint64_t ev_start, char *errstr, size_t errstr_size)
{
    col_rows_cursor_t cur;
    char why[512];
    if (col_mysql_rows_open(&cur, ev->event_type, body, len, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "rows event at %s:%" PRIu64 ": %s", r->file, ev_start,
                 why);
        return SESSION_FATAL;
    }
    col_my_table_t *t = col_my_schema_find(r->schema, cur.table_id);
    if (!t) {
        snprintf(errstr, errstr_size, "rows event at %s:%" PRIu64 " for table id %" PRIu64
                 " without its TABLE_MAP", r->file, ev_start, cur.table_id);
        return SESSION_FATAL;
    }
    if (col_my_snap_is_signal(r->snap, t->tm.db, t->tm.table)) {
        sl_pos_t at;
        set_pos(r, &at, ev_start, 0);
        sl_err_t err = col_my_snap_signal_rows(r->snap, &t->tm, ev->event_type, body, len, &at,
                                               r->gtid[0] ? r->gtid : NULL,
                                               (int64_t)ev->timestamp * 1000000, errstr,
                                               errstr_size);
        return err ? snap_outcome(r, err) : GO_ON;   /* never published itself */
    }
    if (!t->included) {
        sl_metric_inc(r->m_skipped);
        return GO_ON;
    }
    const col_conf_t *c = r->conf;
    uint32_t max_rows = (uint32_t)c->batch_max_rows;
    size_t max_bytes = (size_t)c->batch_max_bytes;
    while (!col_mysql_rows_done(&cur)) {
        uint32_t first = cur.row;
        sl_record_t *b = r->batch;
        int append = r->batch_t == t && r->batch_type == ev->event_type &&
                     r->batch_flags == ev->flags && b->u.change.server_id == ev->server_id &&
                     b->u.change.schema_id == t->schema_id &&
                     b->u.change.nrows < max_rows && r->batch_bytes < max_bytes;
        uint32_t n = max_rows;
        if (append) {
            n = max_rows - b->u.change.nrows;
        } else {
            int rc = flush_batch(r, errstr, errstr_size);
            if (rc != GO_ON)
                return rc;
            sl_record_reset(b);
        }
        /* bounded by the encoded size (r->batch_bytes), not the binlog's: see
         * col_mysql_rows_next_sized */
        if (col_mysql_rows_next_sized(&cur, &t->tm, c->source_name, n, max_bytes, append, b,
                                      &r->batch_bytes, why, sizeof(why))) {
            snprintf(errstr, errstr_size, "table %s.%s, rows event at %s:%" PRIu64 ": %s",
                     t->tm.db, t->tm.table, r->file, ev_start, why);
            return SESSION_FATAL;
        }
        if (!append) {
            sl_change_t *ch = &b->u.change;
            ch->txn = r->gtid[0] ? r->gtid : NULL;
            ch->event_time_us = (int64_t)ev->timestamp * 1000000;
            ch->schema_id = t->schema_id;
            ch->server_id = ev->server_id;
            ch->flags = ev->flags;
            set_pos(r, &b->pos, ev_start, first);
            r->batch_t = t;
            r->batch_type = ev->event_type;
            r->batch_flags = ev->flags;
        }
        /* full by rows, or stopped before a row that does not fit */
        if (b->u.change.nrows >= max_rows || !col_mysql_rows_done(&cur)) {
            int rc = flush_batch(r, errstr, errstr_size);
            if (rc != GO_ON)
                return rc;
        }
    }
    return GO_ON;
}

static int on_table_map(my_reader_t *r, const uint8_t *body, size_t len, uint64_t ev_start,
                        char *errstr, size_t errstr_size)
{
    col_my_table_t *t;
    int emit;
    char why[512];
    sl_record_reset(r->rec);
    sl_err_t err = col_my_schema_table_map(r->schema, body, len, r->file, ev_start,
                                           r->conf->source_name, &t,
                                           &emit, r->rec, why, sizeof(why));
    if (err) {
        snprintf(errstr, errstr_size, "TABLE_MAP at %s:%" PRIu64 ": %s", r->file, ev_start,
                 why);
        return SESSION_FATAL;
    }
    if (col_my_snap_is_signal(r->snap, t->tm.db, t->tm.table)) {
        sl_pos_t at;
        set_pos(r, &at, ev_start, 0);
        col_my_snap_map_pos(r->snap, &at);
        return GO_ON;
    }
    if (!emit)
        return GO_ON;
    set_pos(r, &r->rec->pos, ev_start, 0);
    sl_debug("table %s.%s: schema %016" PRIx64 " published", t->tm.db, t->tm.table,
             t->schema_id);
    int rc = put(r, r->rec, errstr, errstr_size);
    if (rc == GO_ON)
        r->published = 1;
    return rc;
}

/* a statement's first word, case-insensitive */
static int stmt_is(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);
    while (len && (*s == ' ' || *s == '\n' || *s == '\t')) {
        s++;
        len--;
    }
    return len >= n && !strncasecmp(s, word, n) &&
           (len == n || s[n] == ' ' || s[n] == '\n' || s[n] == '\t' || s[n] == ';');
}

static int on_query(my_reader_t *r, MARIADB_RPL_EVENT *ev, uint64_t ev_start,
                    uint64_t ev_end, char *errstr, size_t errstr_size)
{
    const char *sql = ev->event.query.statement.str;
    size_t len = ev->event.query.statement.length;
    int64_t t_us = (int64_t)ev->timestamp * 1000000;
    if (!sql)
        return GO_ON;
    if (stmt_is(sql, len, "BEGIN")) {
        r->in_txn = 1;
        return GO_ON;
    }
    if (stmt_is(sql, len, "COMMIT") || stmt_is(sql, len, "ROLLBACK"))
        /* ROLLBACK is logged only when non-transactional tables changed:
         * those changes happened, so the group is closed like a commit */
        return txn_end(r, ev_end, t_us, errstr, errstr_size);
    if (stmt_is(sql, len, "XA") || stmt_is(sql, len, "SAVEPOINT"))
        return GO_ON;

    char dbname[256];
    snprintf(dbname, sizeof(dbname), "%.*s", (int)ev->event.query.database.length,
             ev->event.query.database.str ? ev->event.query.database.str : "");
    int n = 0, deferred = 0, is_ddl = 0;
    char why[512];
    for (int i = 0; i < COL_MY_DDL_MAX; i++)
        sl_record_reset(r->ddl[i]);
    if (col_my_schema_ddl(r->schema, dbname, sql, len, r->file, ev_start, ev_end,
                          r->conf->source_name,
                          r->ddl, COL_MY_DDL_MAX, &n, &deferred, &is_ddl, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "DDL at %s:%" PRIu64 ": %s", r->file, ev_start, why);
        return SESSION_RETRY;            /* information_schema unreachable: reconnect */
    }
    for (int i = 0; i < n; i++) {
        if (col_my_snap_is_signal(r->snap, r->ddl[i]->u.schema.db, r->ddl[i]->u.schema.table))
            continue;
        set_pos(r, &r->ddl[i]->pos, ev_start, (uint32_t)i);
        sl_info("DDL on %s.%s: %.*s", r->ddl[i]->u.schema.db, r->ddl[i]->u.schema.table,
                (int)(len > 200 ? 200 : len), sql);
        int rc = put(r, r->ddl[i], errstr, errstr_size);
        if (rc != GO_ON)
            return rc;
        r->published = 1;
    }
    col_my_ddl_target_t tt;
    int tddl = 0;
    char tdrop[8];
    if (n + deferred == 1 && n < COL_MY_DDL_MAX && sl_ddl_is(sql, len, "TRUNCATE") &&
        col_my_ddl_parse(dbname, sql, len, &tt, 1, &tddl, tdrop, sizeof tdrop) == 1 &&
        col_filter_match(r->filter, tt.db, tt.tb) && !col_my_snap_is_signal(r->snap, tt.db, tt.tb)) {
        /* TRUNCATE TABLE: a row event every target applies (as pgoutput sends
         * one), after the table's SCHEMA — also when that SCHEMA waits for a
         * later DDL (a TRUNCATE changes no column: the change names none) */
        sl_record_t *tr = r->ddl[n];
        sl_record_reset(tr);
        if (sl_record_init_change(tr, r->conf->source_name, tt.db, tt.tb, SL_OP_TRUNCATE, 0,
                                  NULL, 0)) {
            snprintf(errstr, errstr_size, "out of memory");
            return SESSION_FATAL;
        }
        set_pos(r, &tr->pos, ev_start, (uint32_t)n);
        tr->u.change.event_time_us = t_us;
        int rc = put(r, tr, errstr, errstr_size);
        if (rc != GO_ON)
            return rc;
        r->published = 1;
    }
    if (deferred)
        r->published = 1;                /* its COMMIT all the same: one per DDL */
    /* A DDL ends its group, except CREATE TABLE ... SELECT: MariaDB logs it
     * in a transactional GTID group (the CREATE, then its rows, then XID),
     * which the XID closes with one COMMIT after the rows. */
    if (r->standalone || !r->in_txn || (is_ddl && !r->gtid_txn))
        return txn_end(r, ev_end, t_us, errstr, errstr_size);
    return GO_ON;
}

/* One event. Returns GO_ON or a session outcome. */
static int on_event(my_reader_t *r, MARIADB_RPL_EVENT *ev, char *errstr, size_t errstr_size)
{
    int type = ev->event_type;
    int artificial = (ev->flags & LOG_EVENT_ARTIFICIAL_F) != 0;
    uint64_t ev_end = ev->next_event_pos;
    uint64_t ev_start = ev_end >= ev->event_length ? ev_end - ev->event_length : 0;
    sl_metric_inc(r->m_events);

    if (type == ROTATE_EVENT) {
        /* Parsed from the raw event: libmariadb 3.3 mis-parses the fake ROTATE
         * the server sends when a dump crosses into the next binlog file
         * (filename "0", garbage position), measured on MariaDB 10.11. */
        uint64_t rpos;
        if (col_my_rotate_parse(ev, r->crc, r->file, r->file, sizeof(r->file), &rpos, errstr,
                                errstr_size))
            return SESSION_FATAL;
        set_pos(r, &r->last, rpos, 0);
        if (r->finish_pending) {
            r->finish_pending = 0;
            sl_pos_t p = r->last;
            return put_finish(r, &p, errstr, errstr_size);
        }
        return GO_ON;
    }
    if (artificial || ev_end == 0)
        return GO_ON;                    /* fake events of the dump start */
    if (r->file[0]) {
        set_pos(r, &r->last, ev_start, 0);
        sl_metric_set(r->m_read_seq, (double)r->last.seq);
        sl_metric_set(r->m_read_offset, (double)ev_end);
    }

    const uint8_t *body = NULL;
    size_t blen = 0;
    if (type == TABLE_MAP_EVENT || is_rows_event(type)) {
        /* raw_data = the network packet: libmariadb 3.3 keeps the OK byte
         * (0x00) in front of the event; the event is its last event_length bytes */
        size_t trailer = r->crc ? 4 : 0;
        if (!ev->raw_data || ev->event_length < 19 + trailer ||
            ev->raw_data_size < ev->event_length) {
            snprintf(errstr, errstr_size, "event at %s:%" PRIu64 " without its bytes",
                     r->file, ev_start);
            return SESSION_FATAL;
        }
        const uint8_t *hdr = ev->raw_data + (ev->raw_data_size - ev->event_length);
        body = hdr + 19;
        blen = ev->event_length - 19 - trailer;
    }
    switch (type) {
    case GTID_EVENT: {
        int rc = flush_batch(r, errstr, errstr_size);   /* a group left without COMMIT */
        if (rc != GO_ON)
            return rc;
        txn_reset(r);
        r->in_txn = 1;
        r->standalone = (ev->event.gtid.flags & FL_STANDALONE) != 0;
        r->gtid_txn = !r->standalone;
        r->server_id = ev->server_id;
        snprintf(r->gtid, sizeof(r->gtid), "%u-%u-%" PRIu64, ev->event.gtid.domain_id,
                 ev->server_id, (uint64_t)ev->event.gtid.sequence_nr);
        col_my_schema_gc(r->schema);
        return GO_ON;
    }
    case TABLE_MAP_EVENT:
        return on_table_map(r, body, blen, ev_start, errstr, errstr_size);
    case XID_EVENT:
        return txn_end(r, ev_end, (int64_t)ev->timestamp * 1000000, errstr, errstr_size);
    case QUERY_EVENT:
        return on_query(r, ev, ev_start, ev_end, errstr, errstr_size);
    case HEARTBEAT_LOG_EVENT:
        sl_metric_inc(r->m_heartbeats);
        if (!r->in_txn)
            sl_metric_set(r->m_lag, 0);  /* idle and caught up */
        return GO_ON;
    case WRITE_ROWS_COMPRESSED_EVENT_V1:
    case UPDATE_ROWS_COMPRESSED_EVENT_V1:
    case DELETE_ROWS_COMPRESSED_EVENT_V1:
    case WRITE_ROWS_COMPRESSED_EVENT:
    case UPDATE_ROWS_COMPRESSED_EVENT:
    case DELETE_ROWS_COMPRESSED_EVENT:
    case QUERY_COMPRESSED_EVENT:
        snprintf(errstr, errstr_size, "compressed binlog event at %s:%" PRIu64 " "
                 "(log_bin_compress = ON) is not supported (SET GLOBAL log_bin_compress = OFF)",
                 r->file, ev_start);
        return SESSION_FATAL;
    default:
        if (is_rows_event(type))
            return on_rows(r, ev, body, blen, ev_start, errstr, errstr_size);
        return GO_ON;                    /* FDE, GTID_LIST, ANNOTATE_ROWS, STOP, ... */
    }
}

static void session_close(my_reader_t *r, int outcome)
{
    char errstr[1024];
    if (r->pub && !r->pub_failed && outcome != SESSION_FATAL) {
        col_watch_enter(r->watch);
        sl_err_t err = col_pub_close(r->pub, 10000, errstr, sizeof(errstr));
        col_watch_leave(r->watch, 0);
        if (err)
            sl_warn("publisher close: %s", errstr);
    }
    col_my_snap_destroy(r->snap);
    r->snap = NULL;
    r->snap_rc = 0;
    col_pub_destroy(r->pub);
    r->pub = NULL;
    if (r->rpl)
        mariadb_rpl_close(r->rpl);
    r->rpl = NULL;
    if (r->repl)
        mysql_close(r->repl);
    r->repl = NULL;
    col_my_schema_destroy(r->schema);
    r->schema = NULL;
    if (r->meta)
        mysql_close(r->meta);
    r->meta = NULL;
}

static int session(my_reader_t *r, char *errstr, size_t errstr_size)
{
    const col_conf_t *c = r->conf;
    sl_err_t err;
    int fatal, rc;
    sl_pos_t ckpt, start;

    r->pub_failed = 0;
    r->file[0] = '\0';
    r->gtid[0] = '\0';
    r->finish_pending = 0;
    txn_reset(r);
    if (!(r->meta = col_my_connect(c, errstr, errstr_size, &fatal))) {
        r->denied = fatal;
        return fatal ? SESSION_FATAL : SESSION_RETRY;
    }
    if ((err = col_my_preflight(r->meta, c, &r->srv, errstr, errstr_size)))
        return err == SL_ERR_DB ? SESSION_RETRY : SESSION_FATAL;
    if ((err = col_pub_new(&r->pub, c, &r->svc->conf.kafka, r->svc->metrics, errstr,
                           errstr_size)))
        return err == SL_ERR_INVALID ? SESSION_FATAL : SESSION_RETRY;
    err = col_pub_checkpoint_load(r->pub, &ckpt, errstr, errstr_size);
    if (err && err != SL_ERR_NOT_FOUND)
        return err == SL_ERR_STATE ? SESSION_STOP : SESSION_RETRY;
    int first_start = err == SL_ERR_NOT_FOUND;
    if (!err) {
        char t[200];
        sl_pos_format(&ckpt, t, sizeof(t));
        sl_info("checkpoint found: %s", t);
    }
    int purged = 0;
    err = col_my_start_position(r->meta, c, first_start ? NULL : &ckpt, &start, errstr,
                                errstr_size);
    if (err == SL_ERR_NOT_FOUND && !first_start && c->snapshot_mode == COL_SNAP_WHEN_NEEDED) {
        /* the changes since the checkpoint are gone from the source: follow it
         * from now on and copy every table again */
        col_conf_t latest = *c;
        latest.start_position = "latest";
        sl_warn("%s. snapshot.mode = when_needed: streaming from the binlog's end and copying "
                "every included table again", errstr);
        purged = 1;
        err = col_my_start_position(r->meta, &latest, NULL, &start, errstr, errstr_size);
    }
    if (err)
        return err == SL_ERR_DB ? SESSION_RETRY : SESSION_FATAL;
    if (col_my_schema_new(&r->schema, r->meta, c, r->filter, &r->srv)) {
        snprintf(errstr, errstr_size, "out of memory");
        return SESSION_FATAL;
    }
    if ((err = col_my_snap_new(&r->snap, c, r->filter, r->schema, r->pub, r->svc->metrics,
                               first_start, snap_put, r, errstr, errstr_size)))
        return err == SL_ERR_DB || err == SL_ERR_NOMEM ? SESSION_RETRY : SESSION_FATAL;
    if (purged && (err = col_my_snap_request_all(r->snap, errstr, errstr_size)))
        return SESSION_RETRY;
    if ((err = col_my_stream_open(c, &start, &r->repl, &r->rpl, &r->crc, &r->denied, errstr,
                                  errstr_size)))
        return err == SL_ERR_INVALID ? SESSION_FATAL : SESSION_RETRY;
    r->sessions++;
    sl_http_set_health(r->svc->http, 1, NULL);
    if (start.file[0]) {
        snprintf(r->file, sizeof(r->file), "%s", start.file);
        if ((rc = put_finish(r, &start, errstr, errstr_size)) != GO_ON)
            return rc;
    } else {
        r->finish_pending = 1;           /* the first ROTATE names the file */
    }

    MARIADB_RPL_EVENT *ev = NULL;
    unsigned turn = 0;
    for (;;) {
        if (sl_service_stopping()) {
            if (ev)
                mariadb_free_rpl_event(ev);  /* the last event fetched */
            return SESSION_STOP;
        }
        ev = mariadb_rpl_fetch(r->rpl, ev);
        if (!ev) {                       /* already freed by mariadb_rpl_fetch */
            if (sl_service_stopping())
                return SESSION_STOP;
            snprintf(errstr, errstr_size, "binlog stream from %s ended: %s",
                     r->file[0] ? r->file : "the server",
                     mysql_errno(r->repl) ? mysql_error(r->repl) : "connection closed");
            return SESSION_RETRY;
        }
        rc = on_event(r, ev, errstr, errstr_size);
        if (rc == GO_ON && !r->in_txn && !r->finish_pending && r->file[0]) {
            /* between transactions: a chunk when one is due (LOW, read, HIGH) */
            if ((err = col_my_snap_step(r->snap, errstr, errstr_size)))
                rc = snap_outcome(r, err);
            else if (col_my_snap_finished(r->snap)) {
                sl_info("snapshot.mode = initial_only: the snapshot is complete, stopping");
                rc = SESSION_STOP;
            }
        }
        if (rc == GO_ON && (++turn % 64 == 0 || ev->event_type == HEARTBEAT_LOG_EVENT ||
                            !r->in_txn)) {
            col_watch_enter(r->watch);
            err = col_pub_service(r->pub, 0, errstr, errstr_size);
            col_watch_leave(r->watch, !err);
            if (err) {
                r->pub_failed = err == SL_ERR_FATAL;
                rc = SESSION_RETRY;
            }
        }
        if (rc != GO_ON) {
            mariadb_free_rpl_event(ev);
            return rc;
        }
    }
}

int col_mysql_run(sl_service_t *svc, const col_conf_t *conf)
{
    char errstr[1024];
    my_reader_t r;
    memset(&r, 0, sizeof(r));
    r.svc = svc;
    r.conf = conf;
    int code = SL_EXIT_FAILURE;
    if (col_filter_new(&r.filter, conf->tables_include, conf->tables_exclude, errstr,
                       sizeof(errstr))) {
        sl_error("source \"%s\": %s", conf->source_name, errstr);
        return SL_EXIT_USAGE;
    }
    r.rec = sl_record_new();
    r.batch = sl_record_new();
    int nomem = !r.rec || !r.batch;
    for (int i = 0; i < COL_MY_DDL_MAX; i++)
        nomem |= !(r.ddl[i] = sl_record_new());
    if (nomem) {
        sl_error("out of memory");
        goto out;
    }
    sl_metrics_t *m = svc->metrics;
    r.m_events = sl_metrics_counter(m, "shiftlog_collector_events_total",
                                    "Binlog events read from the source.", NULL);
    r.m_read_seq = sl_metrics_gauge(m, "shiftlog_collector_read_seq",
                                    "Binlog file sequence of the last event read.", NULL);
    r.m_read_offset = sl_metrics_gauge(m, "shiftlog_collector_read_offset",
                                       "Binlog offset after the last event read.", NULL);
    r.m_lag = sl_metrics_gauge(m, "shiftlog_collector_lag_seconds",
                               "Now minus the source time of the last event read, in s.",
                               NULL);
    r.m_heartbeats = sl_metrics_counter(m, "shiftlog_collector_heartbeats_total",
                                        "Heartbeat events from an idle source.", NULL);
    r.m_reconnects = sl_metrics_counter(m, "shiftlog_collector_reconnects_total",
                                        "Sessions restarted after a recoverable failure.",
                                        NULL);
    r.m_skipped = sl_metrics_counter(m, "shiftlog_collector_filtered_events_total",
                                     "Rows events of tables left out by the table filter.",
                                     NULL);

    r.watch = col_watch_start(svc->http, "reading the binlog");
    int64_t backoff = MY_BACKOFF_MIN_MS;
    for (;;) {
        int64_t began = sl_service_now_ms();
        errstr[0] = '\0';
        int outcome = session(&r, errstr, sizeof(errstr));
        if (outcome == SESSION_FATAL) {
            if (r.last.kind)
                note_position(&r, &r.last, 1);
            sl_error("source \"%s\": %s", conf->source_name, errstr);
        }
        session_close(&r, outcome);
        if (outcome == SESSION_STOP || sl_service_stopping()) {
            code = SL_EXIT_OK;
            break;
        }
        if (outcome == SESSION_FATAL) {
            code = r.denied ? SL_EXIT_DENIED : SL_EXIT_FAILURE;
            break;
        }
        if (sl_service_now_ms() - began > 60000)
            backoff = MY_BACKOFF_MIN_MS;     /* it ran well for a while */
        sl_warn("source \"%s\": %s; retrying in %" PRId64 " ms from the checkpoint",
                conf->source_name, errstr, backoff);
        sl_http_set_health(svc->http, 0, errstr);
        sl_metric_inc(r.m_reconnects);
        if (sl_service_wait((int)backoff)) {
            code = SL_EXIT_OK;
            break;
        }
        backoff = backoff * 2 > MY_BACKOFF_MAX_MS ? MY_BACKOFF_MAX_MS : backoff * 2;
    }
    col_watch_stop(r.watch);
out:
    sl_record_destroy(r.rec);
    sl_record_destroy(r.batch);
    for (int i = 0; i < COL_MY_DDL_MAX; i++)
        sl_record_destroy(r.ddl[i]);
    col_filter_destroy(r.filter);
    return code;
}
