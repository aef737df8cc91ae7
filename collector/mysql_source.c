/* shiftlog-collector, MySQL/MariaDB reader (col_mysql_source, source.h): the
 * binlog over the replication protocol (libmariadb's mariadb_rpl for
 * transport and framing, our own row decoder, mysql_decode.h) -> records ->
 * col_sup_put.
 *
 * A session (run by the supervisor, supervisor.c) = a source connection,
 * started from the durable checkpoint (else start.position). It begins with
 * a FINISH record at the start position, then streams:
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
 * unreachable, a Kafka transaction aborted) ends the session as TRANSIENT;
 * the supervisor starts the next one from the checkpoint after its backoff,
 * exactly as a restart after kill -9 would: same positions, duplicates only
 * after the checkpoint and behind a FINISH. Configuration errors on the
 * server side (preflight) and undecodable events are PERMANENT. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "mysql_source.h"     /* mysql.h first: mariadb_rpl.h needs it */
#include <mariadb_rpl.h>
#include "source.h"
#include "sl_log.h"

typedef struct my_reader_s {
    col_source_t           base;           /* first: the supervisor's handle */
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
    sl_pos_t               start;          /* where the session reads from */

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
                          *m_skipped;
    int                    crc;      /* events end in a CRC32 (binlog_checksum != NONE) */

    col_my_snap_t         *snap;           /* the snapshot engine's sink and signal table */
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

/* Publishes the CHANGE batch being filled, if any. Like every step below,
 * returns COL_GO_ON or how the session ends (col_end_t). */
static int flush_batch(my_reader_t *r, char *errstr, size_t errstr_size)
{
    if (!r->batch_t)
        return COL_GO_ON;
    r->batch_t = NULL;
    sl_change_t *ch = &r->batch->u.change;
    int rc = col_sup_put(r->base.sup, r->batch, errstr, errstr_size);
    if (rc != COL_GO_ON) {
        if (rc == COL_END_PERMANENT) {
            char t[200];
            sl_pos_format(&r->batch->pos, t, sizeof(t));
            snprintf(errstr + strlen(errstr), errstr_size - strlen(errstr),
                     " (table %s.%s, rows at %s)", ch->db, ch->table, t);
        }
        return rc;
    }
    r->published = 1;
    r->rows += ch->nrows;
    return COL_GO_ON;
}

/* Publishes rec after the batch being filled: records keep the source order. */
static int put(my_reader_t *r, sl_record_t *rec, char *errstr, size_t errstr_size)
{
    int rc = flush_batch(r, errstr, errstr_size);
    return rc != COL_GO_ON ? rc : col_sup_put(r->base.sup, rec, errstr, errstr_size);
}

/* The engine's records (col_my_put_fn): in stream order, counted into the
 * watermark's transaction so its COMMIT (and the progress) follows them. A
 * failed put's outcome stays with the supervisor (col_sup_end). */
static sl_err_t snap_put(void *reader, sl_record_t *rec, char *errstr, size_t errstr_size)
{
    my_reader_t *r = reader;
    if (put(r, rec, errstr, errstr_size) != COL_GO_ON)
        return SL_ERR_FATAL;
    r->published = 1;
    if (rec->type == SL_REC_CHANGE)
        r->rows += rec->u.change.nrows;
    return SL_OK;
}

static int put_finish(my_reader_t *r, const sl_pos_t *pos, char *errstr, size_t errstr_size)
{
    sl_record_reset(r->rec);
    if (sl_record_init_finish(r->rec, r->base.conf->source_name,
                              r->sessions > 1 ? "resume" : "start", wall_us())) {
        snprintf(errstr, errstr_size, "out of memory");
        return COL_END_PERMANENT;
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
    if (rc != COL_GO_ON)
        return rc;
    if (r->published) {
        sl_record_reset(r->rec);
        if (sl_record_init_commit(r->rec, r->base.conf->source_name, r->gtid, time_us,
                                  r->server_id, r->rows)) {
            snprintf(errstr, errstr_size, "out of memory");
            return COL_END_PERMANENT;
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
        return COL_END_PERMANENT;
    }
    col_my_table_t *t = col_my_schema_find(r->schema, cur.table_id);
    if (!t) {
        snprintf(errstr, errstr_size, "rows event at %s:%" PRIu64 " for table id %" PRIu64
                 " without its TABLE_MAP", r->file, ev_start, cur.table_id);
        return COL_END_PERMANENT;
    }
    if (col_my_snap_is_signal(r->snap, t->tm.db, t->tm.table)) {
        sl_pos_t at;
        set_pos(r, &at, ev_start, 0);
        sl_err_t err = col_my_snap_signal_rows(r->snap, &t->tm, ev->event_type, body, len, &at,
                                               r->gtid[0] ? r->gtid : NULL,
                                               (int64_t)ev->timestamp * 1000000, errstr,
                                               errstr_size);
        /* never published itself */
        return err ? col_sup_end(r->base.sup, err, errstr) : COL_GO_ON;
    }
    if (!t->included) {
        sl_metric_inc(r->m_skipped);
        return COL_GO_ON;
    }
    const col_conf_t *c = r->base.conf;
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
            if (rc != COL_GO_ON)
                return rc;
            sl_record_reset(b);
        }
        /* bounded by the encoded size (r->batch_bytes), not the binlog's: see
         * col_mysql_rows_next_sized */
        if (col_mysql_rows_next_sized(&cur, &t->tm, c->source_name, n, max_bytes, append, b,
                                      &r->batch_bytes, why, sizeof(why))) {
            snprintf(errstr, errstr_size, "table %s.%s, rows event at %s:%" PRIu64 ": %s",
                     t->tm.db, t->tm.table, r->file, ev_start, why);
            return COL_END_PERMANENT;
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
            if (rc != COL_GO_ON)
                return rc;
        }
    }
    return COL_GO_ON;
}

static int on_table_map(my_reader_t *r, const uint8_t *body, size_t len, uint64_t ev_start,
                        char *errstr, size_t errstr_size)
{
    col_my_table_t *t;
    int emit;
    char why[512];
    sl_record_reset(r->rec);
    sl_err_t err = col_my_schema_table_map(r->schema, body, len, r->file, ev_start,
                                           r->base.conf->source_name, &t,
                                           &emit, r->rec, why, sizeof(why));
    if (err) {
        snprintf(errstr, errstr_size, "TABLE_MAP at %s:%" PRIu64 ": %s", r->file, ev_start,
                 why);
        return COL_END_PERMANENT;
    }
    if (col_my_snap_is_signal(r->snap, t->tm.db, t->tm.table)) {
        sl_pos_t at;
        set_pos(r, &at, ev_start, 0);
        col_my_snap_map_pos(r->snap, &at);
        return COL_GO_ON;
    }
    if (!emit)
        return COL_GO_ON;
    set_pos(r, &r->rec->pos, ev_start, 0);
    sl_debug("table %s.%s: schema %016" PRIx64 " published", t->tm.db, t->tm.table,
             t->schema_id);
    int rc = put(r, r->rec, errstr, errstr_size);
    if (rc == COL_GO_ON)
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
        return COL_GO_ON;
    if (stmt_is(sql, len, "BEGIN")) {
        r->in_txn = 1;
        return COL_GO_ON;
    }
    if (stmt_is(sql, len, "COMMIT") || stmt_is(sql, len, "ROLLBACK"))
        /* ROLLBACK is logged only when non-transactional tables changed:
         * those changes happened, so the group is closed like a commit */
        return txn_end(r, ev_end, t_us, errstr, errstr_size);
    if (stmt_is(sql, len, "XA") || stmt_is(sql, len, "SAVEPOINT"))
        return COL_GO_ON;

    char dbname[256];
    snprintf(dbname, sizeof(dbname), "%.*s", (int)ev->event.query.database.length,
             ev->event.query.database.str ? ev->event.query.database.str : "");
    int n = 0, deferred = 0, is_ddl = 0;
    char why[512];
    for (int i = 0; i < COL_MY_DDL_MAX; i++)
        sl_record_reset(r->ddl[i]);
    if (col_my_schema_ddl(r->schema, dbname, sql, len, r->file, ev_start, ev_end,
                          r->base.conf->source_name,
                          r->ddl, COL_MY_DDL_MAX, &n, &deferred, &is_ddl, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "DDL at %s:%" PRIu64 ": %s", r->file, ev_start, why);
        return COL_END_TRANSIENT;            /* information_schema unreachable: reconnect */
    }
    for (int i = 0; i < n; i++) {
        if (col_my_snap_is_signal(r->snap, r->ddl[i]->u.schema.db, r->ddl[i]->u.schema.table))
            continue;
        set_pos(r, &r->ddl[i]->pos, ev_start, (uint32_t)i);
        sl_info("DDL on %s.%s: %.*s", r->ddl[i]->u.schema.db, r->ddl[i]->u.schema.table,
                (int)(len > 200 ? 200 : len), sql);
        int rc = put(r, r->ddl[i], errstr, errstr_size);
        if (rc != COL_GO_ON)
            return rc;
        r->published = 1;
    }
    col_my_ddl_target_t tt;
    int tddl = 0;
    char tdrop[8];
    if (n + deferred == 1 && n < COL_MY_DDL_MAX && sl_ddl_is(sql, len, "TRUNCATE") &&
        col_my_ddl_parse(dbname, sql, len, &tt, 1, &tddl, tdrop, sizeof tdrop) == 1 &&
        col_filter_match(r->base.filter, tt.db, tt.tb) &&
        !col_my_snap_is_signal(r->snap, tt.db, tt.tb)) {
        /* TRUNCATE TABLE: a row event every target applies (as pgoutput sends
         * one), after the table's SCHEMA — also when that SCHEMA waits for a
         * later DDL (a TRUNCATE changes no column: the change names none) */
        sl_record_t *tr = r->ddl[n];
        sl_record_reset(tr);
        if (sl_record_init_change(tr, r->base.conf->source_name, tt.db, tt.tb, SL_OP_TRUNCATE, 0,
                                  NULL, 0)) {
            snprintf(errstr, errstr_size, "out of memory");
            return COL_END_PERMANENT;
        }
        set_pos(r, &tr->pos, ev_start, (uint32_t)n);
        tr->u.change.event_time_us = t_us;
        int rc = put(r, tr, errstr, errstr_size);
        if (rc != COL_GO_ON)
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
    return COL_GO_ON;
}

/* One event. Returns COL_GO_ON or a session outcome. */
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
            return COL_END_PERMANENT;
        set_pos(r, &r->last, rpos, 0);
        if (r->finish_pending) {
            r->finish_pending = 0;
            sl_pos_t p = r->last;
            return put_finish(r, &p, errstr, errstr_size);
        }
        return COL_GO_ON;
    }
    if (artificial || ev_end == 0)
        return COL_GO_ON;                    /* fake events of the dump start */
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
            return COL_END_PERMANENT;
        }
        const uint8_t *hdr = ev->raw_data + (ev->raw_data_size - ev->event_length);
        body = hdr + 19;
        blen = ev->event_length - 19 - trailer;
    }
    switch (type) {
    case GTID_EVENT: {
        int rc = flush_batch(r, errstr, errstr_size);   /* a group left without COMMIT */
        if (rc != COL_GO_ON)
            return rc;
        txn_reset(r);
        r->in_txn = 1;
        r->standalone = (ev->event.gtid.flags & FL_STANDALONE) != 0;
        r->gtid_txn = !r->standalone;
        r->server_id = ev->server_id;
        snprintf(r->gtid, sizeof(r->gtid), "%u-%u-%" PRIu64, ev->event.gtid.domain_id,
                 ev->server_id, (uint64_t)ev->event.gtid.sequence_nr);
        col_my_schema_gc(r->schema);
        return COL_GO_ON;
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
        return COL_GO_ON;
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
        return COL_END_PERMANENT;
    default:
        if (is_rows_event(type))
            return on_rows(r, ev, body, blen, ev_start, errstr, errstr_size);
        return COL_GO_ON;                    /* FDE, GTID_LIST, ANNOTATE_ROWS, STOP, ... */
    }
}

/* ------------------------------------------------------------ the session (source.h) */

static col_end_t my_connect(col_source_t *src, char *errstr, size_t errstr_size)
{
    my_reader_t *r = (my_reader_t *)src;
    sl_err_t err;
    int fatal;
    r->file[0] = '\0';
    r->gtid[0] = '\0';
    r->finish_pending = 0;
    txn_reset(r);
    if (!(r->meta = col_my_connect(r->base.conf, errstr, errstr_size, &fatal)))
        return fatal ? COL_END_DENIED : COL_END_TRANSIENT;
    if ((err = col_my_preflight(r->meta, r->base.conf, &r->srv, errstr, errstr_size)))
        return err == SL_ERR_DB ? COL_END_TRANSIENT : COL_END_PERMANENT;
    return COL_GO_ON;
}

static col_end_t my_start(col_source_t *src, const sl_pos_t *ckpt, int from_end,
                          col_snap_src_t *backend, col_snap_sink_t *sink, char *errstr,
                          size_t errstr_size)
{
    my_reader_t *r = (my_reader_t *)src;
    const col_conf_t *c = r->base.conf;
    col_conf_t latest;
    sl_err_t err;
    if (from_end) {
        latest = *c;
        latest.start_position = "latest";
    }
    err = col_my_start_position(r->meta, from_end ? &latest : c, ckpt, &r->start, errstr,
                                errstr_size);
    if (err == SL_ERR_NOT_FOUND && ckpt)
        return COL_END_PURGED;
    if (err)
        return err == SL_ERR_DB ? COL_END_TRANSIENT : COL_END_PERMANENT;
    if (col_my_schema_new(&r->schema, r->meta, c, r->base.filter, &r->srv)) {
        snprintf(errstr, errstr_size, "out of memory");
        return COL_END_PERMANENT;
    }
    if ((err = col_my_snap_new(&r->snap, c, r->schema, r->base.sup, snap_put, r, sink, errstr,
                               errstr_size)) ||
        (err = col_snap_mysql_src(backend, c, r->base.filter, errstr, errstr_size)))
        return col_sup_end(r->base.sup, err, errstr);
    return COL_GO_ON;
}

static col_end_t my_stream(col_source_t *src, char *errstr, size_t errstr_size)
{
    my_reader_t *r = (my_reader_t *)src;
    int denied = 0;
    sl_err_t err = col_my_stream_open(r->base.conf, &r->start, &r->repl, &r->rpl, &r->crc,
                                      &denied, errstr, errstr_size);
    if (err)
        return err != SL_ERR_INVALID ? COL_END_TRANSIENT
             : denied ? COL_END_DENIED : COL_END_PERMANENT;
    r->sessions++;
    if (!r->start.file[0]) {
        r->finish_pending = 1;           /* the first ROTATE names the file */
        return COL_GO_ON;
    }
    snprintf(r->file, sizeof(r->file), "%s", r->start.file);
    return put_finish(r, &r->start, errstr, errstr_size);
}

/* The binlog until a stop or the session's end. */
static col_end_t my_run(col_source_t *src, char *errstr, size_t errstr_size)
{
    my_reader_t *r = (my_reader_t *)src;
    col_sup_t *sup = r->base.sup;
    MARIADB_RPL_EVENT *ev = NULL;
    unsigned turn = 0;
    int rc;
    for (;;) {
        if (sl_service_stopping()) {
            if (ev)
                mariadb_free_rpl_event(ev);  /* the last event fetched */
            return COL_END_STOP;
        }
        ev = mariadb_rpl_fetch(r->rpl, ev);
        if (!ev) {                       /* already freed by mariadb_rpl_fetch */
            if (sl_service_stopping())
                return COL_END_STOP;
            snprintf(errstr, errstr_size, "binlog stream from %s ended: %s",
                     r->file[0] ? r->file : "the server",
                     mysql_errno(r->repl) ? mysql_error(r->repl) : "connection closed");
            return COL_END_TRANSIENT;
        }
        rc = on_event(r, ev, errstr, errstr_size);
        if (rc == COL_GO_ON && !r->in_txn && !r->finish_pending && r->file[0])
            rc = col_sup_idle(sup, errstr, errstr_size);  /* between transactions */
        if (rc == COL_GO_ON && (++turn % 64 == 0 || ev->event_type == HEARTBEAT_LOG_EVENT ||
                                !r->in_txn))
            rc = col_sup_service(sup, errstr, errstr_size);
        if (rc != COL_GO_ON) {
            mariadb_free_rpl_event(ev);
            if (rc != COL_END_STOP && rc != COL_END_TRANSIENT && r->last.kind)
                note_position(r, &r->last, 1);   /* the error line names it */
            return rc;
        }
    }
}

static void my_close(col_source_t *src, int delivered)
{
    my_reader_t *r = (my_reader_t *)src;
    col_my_snap_destroy(r->snap);
    r->snap = NULL;
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

/* Errors of the snapshot engine and the catalog: the server or the
 * connection (retry), or anything else (stop); the grants (e.g. none on the
 * signal table: SL_ERR_DENIED) are the supervisor's (exit 3). */
static col_end_t my_classify(const col_source_t *src, sl_err_t err, const char *errstr)
{
    return err == SL_ERR_DB || err == SL_ERR_IO || err == SL_ERR_TIMEOUT || err == SL_ERR_NOMEM
           ? COL_END_TRANSIENT : COL_END_PERMANENT;
}

static void my_destroy(col_source_t *src)
{
    my_reader_t *r = (my_reader_t *)src;
    if (!r)
        return;
    sl_record_destroy(r->rec);
    sl_record_destroy(r->batch);
    for (int i = 0; i < COL_MY_DDL_MAX; i++)
        sl_record_destroy(r->ddl[i]);
    free(r);
}

static sl_err_t my_create(col_source_t **out, const col_source_t *base, char *errstr,
                          size_t errstr_size)
{
    my_reader_t *r = calloc(1, sizeof(*r));
    int nomem = !r;
    if (r) {
        r->base = *base;
        nomem |= !(r->rec = sl_record_new()) || !(r->batch = sl_record_new());
        for (int i = 0; i < COL_MY_DDL_MAX; i++)
            nomem |= !(r->ddl[i] = sl_record_new());
    }
    if (nomem) {
        my_destroy((col_source_t *)r);
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    sl_metrics_t *m = base->metrics;
    r->m_events = sl_metrics_counter(m, "shiftlog_collector_events_total",
                                     "Binlog events read from the source.", NULL);
    r->m_read_seq = sl_metrics_gauge(m, "shiftlog_collector_read_seq",
                                     "Binlog file sequence of the last event read.", NULL);
    r->m_read_offset = sl_metrics_gauge(m, "shiftlog_collector_read_offset",
                                        "Binlog offset after the last event read.", NULL);
    r->m_lag = sl_metrics_gauge(m, "shiftlog_collector_lag_seconds",
                                "Now minus the source time of the last event read, in s.",
                                NULL);
    r->m_heartbeats = sl_metrics_counter(m, "shiftlog_collector_heartbeats_total",
                                         "Heartbeat events from an idle source.", NULL);
    r->m_skipped = sl_metrics_counter(m, "shiftlog_collector_filtered_events_total",
                                      "Rows events of tables left out by the table filter.",
                                      NULL);
    *out = &r->base;
    return SL_OK;
}

const col_source_ops_t col_mysql_source = {
    .kind = "mysql",
    .log_name = "binlog",
    .activity = "reading the binlog",
    .close_ms = 10000,
    .create = my_create,
    .destroy = my_destroy,
    .connect = my_connect,
    .start = my_start,
    .stream = my_stream,
    .run = my_run,
    .close = my_close,
    .classify = my_classify,
};
