/* shiftlog-miner: consumes a source's topic into the shared log — one
 * MongoDB collection per source, one document per change, `_id` derived
 * from the source position (docs/miner.md).
 *
 * Loop: consume up to read_batch messages (or what came within
 * flush.interval) -> decode -> gate each row by its table's state
 * (control.c) and the mining start time -> hand rows to the writers by
 * table/key hash (writer.c) -> wait until every document is journaled ->
 * write the progress document -> store + commit the Kafka offset. A kill at
 * any instant replays at most the batches after the last progress document;
 * the replay rewrites the same `_id`s (E11000, skipped): no duplicate, no
 * gap. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include <time.h>

#include "control.h"
#include "miner.h"
#include "sl_value_text.h"
#include "sl_avro.h"
#include "sl_kafka.h"
#include "sl_mongoc.h"
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

static const char *const wc_choices[] = {"majority", "1", NULL};

static int check_time(const char *v, char *errstr, size_t errstr_size);

static const sl_conf_entry_t mine_conf_table[] = {
    SL_CONF_STRING("source.name", mine_conf_t, source_name, NULL, SL_CONF_REQUIRED,
                   "Source whose topic (<topic.prefix>.<source.name>) is mined into the shared "
                   "log."),
    SL_CONF_STRING("topic.prefix", mine_conf_t, topic_prefix, "shiftlog", 0,
                   "Prefix of the Kafka topic names, as in the collector."),
    SL_CONF_STRING("log.uri", mine_conf_t, log_uri, "mongodb://127.0.0.1:27117", 0,
                   "MongoDB connection URI of the shared log (credentials in it are masked in "
                   "logs)."),
    SL_CONF_STRING("log.database", mine_conf_t, log_database, "shiftlog", 0,
                   "MongoDB database of the shared log; one collection per source."),
    SL_CONF_STRING("log.collection", mine_conf_t, log_collection, "", 0,
                   "Collection of this source's log (empty = the source name); the miner also "
                   "uses <collection>__latest (supplement) and <collection>__control (progress, "
                   "stop/resume, status)."),
    SL_CONF_ENUM("log.write.concern", mine_conf_t, log_write_concern, "majority", wc_choices, 0,
                 "Write concern of every log write, always journaled (j: true): majority or "
                 "1. A position is recorded only after its documents are acknowledged."),
    SL_CONF_INT("log.retention.hours", mine_conf_t, log_retention_hours, "168", 1, 87600, 0,
                "How long changes are kept in the shared log (by source commit time). The "
                "miner deletes older documents itself and also sets a TTL index where the "
                "server has one. Schema and gap documents are kept."),
    SL_CONF_DURATION("log.retention.interval", mine_conf_t, retention_interval_ms, "1m", 1000,
                     86400000, 0, "How often the miner deletes documents past the retention."),
    SL_CONF_INT("log.retention.batch", mine_conf_t, retention_batch, "1000", 1, 100000, 0,
                "Documents deleted per retention request (bounded batches)."),
    SL_CONF_STRING("mining.start.time", mine_conf_t, mining_start_time, "", 0,
                   "On first start, skip the transactions committed before this time (ISO 8601 "
                   "UTC, e.g. 2026-01-01T00:00:00Z); empty = from the start of the topic. "
                   "Schemas are kept whatever their time."),
    SL_CONF_BOOL("supplement.full.fields", mine_conf_t, supplement_full_fields, "false", 0,
                 "Fill the columns an update did not carry (MINIMAL row images, unchanged "
                 "TOAST) from the latest full image of that key, kept in "
                 "<collection>__latest; the document lists the filled columns."),
    SL_CONF_INT("worker_num", mine_conf_t, worker_num, "1", 1, 64, 0,
                "Writer threads (changes of one key always go to the same worker)."),
    SL_CONF_INT("read_batch", mine_conf_t, read_batch, "2000", 1, 100000, 0,
                "Records consumed from Kafka per batch (the memory bound: one batch is "
                "written while the next one is read)."),
    SL_CONF_INT("write_batch", mine_conf_t, write_batch, "1000", 1, 100000, 0,
                "Documents per insert_many request of a writer."),
    SL_CONF_DURATION("flush.interval", mine_conf_t, flush_interval_ms, "100ms", 1, 60000, 0,
                     "Longest wait for more records before a partial batch is written."),
    SL_CONF_DURATION("control.interval", mine_conf_t, control_interval_ms, "500ms", 50,
                     60000, 0,
                     "How often stop/resume requests are read and table status is written."),
    SL_CONF_DURATION("watchdog.ms", mine_conf_t, watchdog_ms, "2min", 0, 86400000, 0,
                     "A miner with records waiting on its topic that has made nothing new "
                     "durable in the log for this long says so (ERROR line, /ready 503 with "
                     "the offsets, shiftlog_miner_stalled = 1) and re-assigns its Kafka "
                     "consumer; /ready and the gauge clear with the next progress. A paused "
                     "source is not watched. 0 = off."),
    SL_SERVICE_CONF_KAFKA_BOOTSTRAP(mine_conf_t, kafka_bootstrap),
    SL_CONF_BOOL("lease", mine_conf_t, lease, "true", 0,
                 "One active miner per source log: copies with the same source.name share a "
                 "lease (the Kafka consumer group shiftlog-lease-miner-<source.name> on "
                 "<topic.prefix>._leases); the holder mines, the others wait as hot standbys "
                 "(/health status standby). Each holder takes the next epoch in "
                 "<collection>__control and every position write is fenced by it: a holder "
                 "that lost the lease (or was paused past lease.ttl.ms) writes nothing more "
                 "and exits 1, so that a restart waits as a standby."),
    SL_CONF_DURATION("lease.ttl.ms", mine_conf_t, lease_ttl_ms, "10s", 6000, 300000, 0,
                     "How long a holder that stopped answering (kill -9, a network cut) keeps "
                     "the lease before a standby takes over (a clean stop hands over at "
                     "once)."),
    SL_CONF_STRING("kafka.group.id", mine_conf_t, kafka_group_id, "shiftlog-miner", 0,
                   "Kafka consumer group of the miner (offsets committed for monitoring; the "
                   "position of record is the progress document in the log database)."),
    SL_SERVICE_CONF_ENTRIES(mine_conf_t, svc, "127.0.0.1:0"),
};

static const sl_service_flag_t mine_flags[] = {
    {"--check", "validate the configuration (see it with --log-level debug) and exit without "
     "connecting anywhere (the Kafka configuration is built and checked)",
     offsetof(mine_conf_t, check_only), 1},
    {"--serve", "accepted for compatibility: the miner always serves /health and /metrics "
     "while it runs (also while it waits for its topic)", offsetof(mine_conf_t, serve), 0},
};

static const sl_service_def_t mine_service = {
    .name = "miner",
    .summary = "Consumes a source's topic into the shared MongoDB log (one document per "
               "change, idempotent, with retention, per-table stop/resume and full-field "
               "supplement) for late or replaying tasks.",
    .table = mine_conf_table,
    .n_table = SL_CONF_COUNT(mine_conf_table),
    .task_key = "source.name",
    .flags = mine_flags,
    .n_flags = SL_CONF_COUNT(mine_flags),
};

static int check_time(const char *v, char *errstr, size_t errstr_size)
{
    int64_t us;
    if (!*v || sl_parse_utc_time(v, &us) == 0)
        return 0;
    snprintf(errstr, errstr_size, "\"%s\" is not an ISO 8601 UTC time (2026-01-01T00:00:00Z)",
             v);
    return -1;
}

/* ------------------------------------------------------------------ state */

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

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The progress document: where main is, written after each durable batch. */
static sl_err_t write_progress(mine_t *m, char *errstr, size_t errstr_size)
{
    char ptxt[200];
    bson_t *set = bson_new();
    BSON_APPEND_UTF8(set, "source", m->c->source_name);
    BSON_APPEND_UTF8(set, "topic", m->topic);
    BSON_APPEND_INT32(set, "partition", 0);
    BSON_APPEND_INT64(set, "offset", m->next_offset);
    if (m->last_pos.kind) {
        sl_pos_format(&m->last_pos, ptxt, sizeof ptxt);
        BSON_APPEND_UTF8(set, "pos", ptxt);
    }
    if (m->watermark[0])
        BSON_APPEND_UTF8(set, SL_LOGDOC_CTL_WATERMARK, m->watermark);
    if (m->last_commit_us)
        BSON_APPEND_DATE_TIME(set, "commit_time", m->last_commit_us / 1000);
    BSON_APPEND_BOOL(set, "started", m->started);
    BSON_APPEND_DATE_TIME(set, "updated", wall_us() / 1000);
    sl_err_t err = mine_store_upsert_set(m->store, m->client, m->store->control_name,
                                         SL_LOGDOC_CTL_PROGRESS, set, NULL, errstr, errstr_size);
    bson_destroy(set);
    return err;
}

static sl_err_t read_progress(mine_t *m, int *found, char *errstr, size_t errstr_size)
{
    bson_error_t e;
    const bson_t *doc;
    mongoc_collection_t *coll = mine_store_coll(m->store, m->client, m->store->control_name);
    bson_t *f = BCON_NEW(SL_LOGDOC_ID, BCON_UTF8(SL_LOGDOC_CTL_PROGRESS));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, f, NULL, NULL);
    sl_err_t err = SL_OK;
    *found = 0;
    if (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        *found = 1;
        if (bson_iter_init_find(&it, doc, "offset"))
            m->next_offset = bson_iter_as_int64(&it);
        if (bson_iter_init_find(&it, doc, "pos") && BSON_ITER_HOLDS_UTF8(&it))
            sl_pos_parse(bson_iter_utf8(&it, NULL), &m->last_pos, errstr, errstr_size);
        if (bson_iter_init_find(&it, doc, SL_LOGDOC_CTL_WATERMARK) && BSON_ITER_HOLDS_UTF8(&it))
            snprintf(m->watermark, sizeof m->watermark, "%s", bson_iter_utf8(&it, NULL));
        if (bson_iter_init_find(&it, doc, "started") && BSON_ITER_HOLDS_BOOL(&it))
            m->started = bson_iter_bool(&it);
    }
    if (mongoc_cursor_error(cur, &e)) {
        snprintf(errstr, errstr_size, "reading the progress document: %s", e.message);
        err = SL_ERR_DB;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(f);
    mongoc_collection_destroy(coll);
    return err;
}


/* Decides and dispatches one decoded record. */
static sl_err_t dispatch(mine_t *m, mine_batch_t *b, size_t i)
{
    sl_record_t *rec = b->recs[i];
    int64_t off = b->offsets[i];
    char table[512];
    mine_item_t item = {.rec = rec, .offset = off};
    switch (rec->type) {
    case SL_REC_SCHEMA: {
        mine_ctl_gate(m->ctl, NULL, off);
        /* the schema record now belongs to the schema map; the batch slot
         * gets a fresh record */
        const mine_schema_t *sc = mine_ctl_add_schema(m->ctl, rec);
        b->recs[i] = sl_record_new();
        if (!sc || !b->recs[i])
            return SL_ERR_NOMEM;
        item.schema = sc;
        return mine_writers_add(m->writers, mine_row_hash(NULL, rec, 0) ^ 0, &item);
    }
    case SL_REC_FINISH:
        mine_ctl_gate(m->ctl, NULL, off);
        m->at_boundary = 1;
        return SL_OK;
    case SL_REC_COMMIT:
        mine_ctl_gate(m->ctl, NULL, off);
        m->at_boundary = 1;
        if (!m->started)
            return SL_OK;
        mine_doc_id(&rec->pos, MINE_T_COMMIT, m->watermark);
        m->last_commit_us = rec->u.commit.event_time_us;
        return mine_writers_add(m->writers, 0, &item);
    case SL_REC_CHANGE:
        break;
    }
    const sl_change_t *ch = &rec->u.change;
    sl_logdoc_table_name(ch->db, ch->table, table, sizeof table);
    if (!m->started) {
        if (m->at_boundary && ch->event_time_us >= m->start_us) {
            m->started = 1;
            sl_info("mining starts at %s (first transaction at or after mining.start.time)",
                    table);
        } else {
            m->at_boundary = 0;
            mine_ctl_gate(m->ctl, NULL, off);
            return SL_OK;
        }
    }
    m->at_boundary = 0;
    if (!mine_ctl_gate(m->ctl, table, off))
        return SL_OK;
    item.schema = mine_ctl_schema(m->ctl, table);
    for (uint32_t r = 0; r < ch->nrows; r++) {
        item.row = r;
        sl_err_t err = mine_writers_add(m->writers, mine_row_hash(item.schema, rec, r), &item);
        if (err)
            return err;
    }
    if (ch->nrows) {
        sl_pos_t last = rec->pos;
        last.row += ch->nrows - 1;
        mine_ctl_mined(m->ctl, table, ch->nrows, &last, ch->event_time_us);
    }
    return SL_OK;
}

static sl_err_t commit_kafka(mine_t *m, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, m->topic, 0)->offset = m->next_offset;
    rd_kafka_resp_err_t e = rd_kafka_commit(sl_kafka_consumer_handle(m->cons), l, 1);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        /* the progress document is the position of record: a failed group
         * commit only delays monitoring */
        snprintf(errstr, errstr_size, "commit of offset %" PRId64 ": %s", m->next_offset,
                 rd_kafka_err2str(e));
        return SL_ERR_KAFKA;
    }
    return SL_OK;
}

/* Consumes up to read_batch records into b (decoded): until the batch is
 * full, flush.interval after its first record, the end of the partition,
 * or the next control deadline while it is empty. With a batch in flight
 * (`flying`) an empty read returns as soon as the writers are done, so the
 * durable batch's progress is not held back. Returns 0, or -1 (logged). */
static int read_batch(mine_t *m, mine_batch_t *b, int flying, int64_t next_control)
{
    char errstr[1024];
    size_t max = (size_t)m->c->read_batch;
    int64_t deadline = -1;
    b->n = 0;
    while (b->n < max && !sl_service_stopping()) {
        sl_kafka_msg_t msg;
        int64_t t = sl_service_now_ms();
        int wait = deadline < 0 ? (int)(next_control - t) : (int)(deadline - t);
        if (flying && !b->n) {
            if (!mine_writers_busy(m->writers))
                break;
            wait = wait > 2 ? 2 : wait;
        }
        if (wait <= 0)
            break;
        if (wait > 500)
            wait = 500;
        sl_err_t e = sl_kafka_consume(m->cons, wait, &msg, errstr, sizeof errstr);
        if (e == SL_ERR_TIMEOUT)
            continue;
        if (e == SL_ERR_KAFKA) {
            sl_warn("%s", errstr);
            continue;
        }
        if (e) {
            sl_error("consuming %s: %s", m->topic, errstr);
            return -1;
        }
        if (msg.eof) {
            if (b->n)
                break;
            /* nothing read, nothing in flight: everything before the end is done
             * (also what read_committed never delivers: markers, aborted records) */
            if (!flying && msg.offset > 0 && msg.offset >= m->read_offset)
                sl_watchdog_progress(m->wd, msg.offset - 1);
            continue;
        }
        if (msg.offset < m->read_offset)
            continue;
        sl_record_t *rec = b->recs[b->n];
        sl_record_reset(rec);
        if (sl_avro_decode(m->codec, msg.value, msg.value_len, rec, errstr, sizeof errstr)) {
            sl_error("%s offset %" PRId64 ": cannot decode the record (%s); the miner "
                     "stops here rather than leave a silent hole in the log",
                     m->topic, msg.offset, errstr);
            return -1;
        }
        b->offsets[b->n++] = msg.offset;
        m->read_offset = msg.offset + 1;
        if (deadline < 0)
            deadline = sl_service_now_ms() + m->c->flush_interval_ms;
    }
    return 0;
}

/* A write or the lease check said another copy holds the log now: nothing
 * more is written; main() exits 1 so that a restart waits as a standby. */
static int stand_down(mine_t *m, const char *why)
{
    sl_error("source \"%s\": %s; standing down: this copy writes nothing more (another copy "
             "mines the log now)", m->c->source_name, why);
    m->fenced = 1;
    return -1;
}

/* Waits for the batch in flight to be journaled, then records its position:
 * progress document, then the Kafka group offset. Returns 0, or -1 (logged). */
static int finish_batch(mine_t *m, const mine_batch_t *b)
{
    char errstr[1024];
    if (mine_writers_wait(m->writers, errstr, sizeof errstr)) {
        sl_error("writing the shared log: %s; the Kafka offset was not moved, a restart "
                 "writes this batch again", errstr);
        return -1;
    }
    m->next_offset = b->offsets[b->n - 1] + 1;
    m->last_pos = b->last_pos;
    sl_err_t err = write_progress(m, errstr, sizeof errstr);
    if (err == SL_ERR_FENCED)
        return stand_down(m, errstr);
    if (err) {
        sl_error("%s", errstr);
        return -1;
    }
    mine_ctl_set_main(m->ctl, m->next_offset, &m->last_pos);
    sl_watchdog_progress(m->wd, m->next_offset - 1);
    if (commit_kafka(m, errstr, sizeof errstr))
        sl_debug("%s", errstr);
    uint64_t w, d, s;
    mine_writers_stats(m->writers, &w, &d, &s);
    sl_metric_set(m->m_offset, (double)m->next_offset);
    sl_metric_add(m->m_docs, w - m->docs_total);
    m->docs_total = w;
    sl_metric_set(m->m_dups, (double)d);
    sl_metric_set(m->m_supp, (double)s);
    sl_metric_inc(m->m_batches);
    char ptxt[200];
    sl_pos_format(&m->last_pos, ptxt, sizeof ptxt);
    sl_log_set_position(ptxt);
    return 0;
}

/* The pipeline: read + decode batch k+1 while the writers write batch k;
 * then wait for k, record its position, and only then dispatch k+1 (table
 * gates and control requests act between two batches, with nothing in
 * flight). A position is still recorded only after its documents are
 * journaled; a kill replays at most the two batches after the last
 * progress document (same `_id`s: E11000, skipped). */
static int run(mine_t *m)
{
    char errstr[1024];
    mine_conf_t *c = m->c;
    int64_t next_control = 0, next_retention = 0;
    int source_paused = 0;
    mine_batch_t *cur = &m->b[0], *fly = NULL;

    while (!sl_service_stopping()) {
        cur->n = 0;
        if (sl_watchdog_take(m->wd)) {
            /* no progress with records waiting (the watchdog said why): the Kafka
             * side starts again where reading stopped; a MongoDB write that hangs
             * ends by itself (socketTimeoutMS) and fails the miner */
            if (sl_kafka_consumer_assign(m->cons, m->topic, 0, m->read_offset, 10000, NULL,
                                         errstr, sizeof errstr))
                sl_warn("watchdog: re-assigning %s at offset %" PRId64 ": %s", m->topic,
                        m->read_offset, errstr);
            else
                sl_warn("watchdog: %s re-assigned at offset %" PRId64, m->topic,
                        m->read_offset);
        }
        if (!source_paused && read_batch(m, cur, fly != NULL, next_control))
            return SL_EXIT_FAILURE;
        if (fly) {
            if (finish_batch(m, fly))
                return SL_EXIT_FAILURE;
            fly = NULL;
        }
        /* nothing in flight: control requests, retention */
        int64_t now = sl_service_now_ms();
        if (now >= next_control) {
            sl_err_t err = mine_ctl_poll(m->ctl, &source_paused, errstr, sizeof errstr);
            if (!err)
                err = mine_ctl_flush(m->ctl, errstr, sizeof errstr);
            if (err == SL_ERR_FENCED) {
                stand_down(m, errstr);
                return SL_EXIT_FAILURE;
            }
            if (err) {
                sl_error("control collection: %s", errstr);
                return SL_EXIT_FAILURE;
            }
            sl_watchdog_watch(m->wd, !source_paused);   /* a paused source is no stall */
            if (mine_ctl_failed(m->ctl, errstr, sizeof errstr)) {
                sl_error("%s", errstr);
                return SL_EXIT_FAILURE;
            }
            /* documents per second: rate(shiftlog_miner_docs_total[1m]) in Prometheus */
            if (m->last_commit_us)
                sl_metric_set(m->m_lag, (double)(wall_us() - m->last_commit_us) / 1e6);
            next_control = now + c->control_interval_ms;
        }
        if (m->retention_on && now >= next_retention) {
            uint64_t del = 0;
            if (mine_retention_run(m->store, m->client, c->log_retention_hours,
                                   c->retention_batch, &del, errstr, sizeof errstr))
                sl_warn("retention: %s (tried again in %" PRId64 " ms)", errstr,
                        c->retention_interval_ms);
            sl_metric_add(m->m_retained, del);
            next_retention = now + c->retention_interval_ms;
        }
        if (!cur->n) {
            /* a batch read before a source pause took effect is still
             * written (the pause acts between batches) */
            if (source_paused)
                sl_service_wait((int)c->control_interval_ms);
            continue;
        }
        /* a copy paused past its lease (SIGSTOP, a frozen VM) learns it here, before
         * it writes anything of a batch it read after another copy took over */
        sl_err_t lerr = mine_lease_check(m->lease, errstr, sizeof errstr);
        if (lerr == SL_ERR_FENCED) {
            stand_down(m, errstr);
            return SL_EXIT_FAILURE;
        }
        if (lerr) {
            sl_error("%s; the batch is not written, a restart mines it", errstr);
            return SL_EXIT_FAILURE;
        }
        cur->last_pos = cur->recs[cur->n - 1]->pos;  /* before dispatch takes a schema */
        for (size_t i = 0; i < cur->n; i++)
            if (dispatch(m, cur, i)) {
                sl_error("dispatch: out of memory");
                return SL_EXIT_FAILURE;
            }
        mine_writers_kick(m->writers);
        fly = cur;
        cur = cur == &m->b[0] ? &m->b[1] : &m->b[0];
    }
    /* stopping: the batch in flight is made durable and recorded */
    if (fly && finish_batch(m, fly))
        return SL_EXIT_FAILURE;
    return SL_EXIT_OK;
}

int main(int argc, char **argv)
{
    static mine_conf_t mc;
    sl_service_t svc;
    char errstr[1024];
    mine_t m;
    sl_mongoc_setup();
    int rc = sl_service_start(&svc, &mine_service, &mc, argc, argv);
    if (rc != SL_SERVICE_CONTINUE)
        return rc;
    memset(&m, 0, sizeof m);
    m.c = &mc;
    m.svc = &svc;
    m.at_boundary = 1;
    rc = SL_EXIT_FAILURE;
    if (check_time(mc.mining_start_time, errstr, sizeof errstr)) {
        sl_error("mining.start.time: %s", errstr);
        rc = SL_EXIT_USAGE;
        goto out;
    }
    if (*mc.mining_start_time)
        sl_parse_utc_time(mc.mining_start_time, &m.start_us);
    if (mc.check_only) {
        /* the consumer's librdkafka configuration as the run builds it below */
        sl_kvlist_t props = SL_KVLIST_INIT;
        sl_err_t err = SL_OK;
        for (size_t i = 0; !err && i < svc.conf.kafka.n; i++)
            err = sl_kvlist_set(&props, svc.conf.kafka.items[i].key,
                                svc.conf.kafka.items[i].value);
        if (!err)
            err = sl_kvlist_set(&props, "auto.offset.reset", "earliest");
        if (err)
            snprintf(errstr, sizeof errstr, "out of memory");
        else
            err = sl_kafka_consumer_check(&props, mc.kafka_group_id, errstr, sizeof errstr);
        sl_kvlist_free(&props);
        if (err) {
            sl_error("%s", errstr);
            rc = SL_EXIT_USAGE;
            goto out;
        }
        sl_info("configuration is valid; --check: not connecting");
        rc = SL_EXIT_OK;
        goto out;
    }
    if (mc.lease) {
        int r = mine_lease_acquire(&m.lease, &svc, mc.source_name, mc.topic_prefix,
                                   mc.kafka_bootstrap, mc.lease_ttl_ms);
        if (r) {
            rc = r > 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;   /* stopped while waiting */
            goto out;
        }
    }
    /* ready (/ready) only once it mines: docs/operations.md */
    sl_http_set_health(svc.http, 0, "starting: opening the shared log and the source topic");
    snprintf(m.topic, sizeof m.topic, "%s.%s", mc.topic_prefix, mc.source_name);
    mine_store_conf_t sc = {
        .uri = mc.log_uri, .database = mc.log_database,
        .collection = *mc.log_collection ? mc.log_collection : mc.source_name,
        .wmajority = mc.log_write_concern == 0, .retention_hours = mc.log_retention_hours,
    };
    sl_err_t err;
    if ((err = mine_store_open(&m.store, &sc, errstr, sizeof errstr))) {
        sl_error("%s", errstr);
        if (err == SL_ERR_DENIED)
            rc = SL_EXIT_DENIED;     /* a wrong password does not heal by a restart */
        goto out;
    }
    m.client = mine_store_pop(m.store);
    m.retention_on = 1;
    /* fence the copy before this one, then read where it got to */
    if (m.lease && mine_lease_fence(m.lease, m.store, m.client, errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        goto out;
    }
    sl_metrics_t *mt = svc.metrics;
    m.m_docs = sl_metrics_counter(mt, "shiftlog_miner_docs_total",
                                  "Documents written to the shared log (replays excluded).", NULL);
    m.m_dups = sl_metrics_counter_total(mt, "shiftlog_miner_replayed_docs_total",
                                "Documents found already in the log (replay after a restart).",
                                NULL);
    m.m_supp = sl_metrics_counter_total(mt, "shiftlog_miner_supplemented_rows_total",
                                "Change rows whose missing columns were supplemented.", NULL);
    m.m_lag = sl_metrics_gauge(mt, "shiftlog_miner_lag_seconds",
                               "Now minus the source commit time of the last mined "
                               "transaction, in s.", NULL);
    m.m_offset = sl_metrics_gauge(mt, "shiftlog_miner_next_offset",
                                  "Next Kafka offset of the topic the miner reads.", NULL);
    m.m_batches = sl_metrics_counter(mt, "shiftlog_miner_batches_total",
                                     "Batches made durable.", NULL);
    m.m_retained = sl_metrics_counter(mt, "shiftlog_miner_retention_deleted_total",
                                      "Documents deleted past log.retention.hours.", NULL);

    int found = 0;
    m.next_offset = -1;
    m.started = m.start_us == 0;
    if (read_progress(&m, &found, errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        goto out;
    }
    if (!found)
        m.next_offset = -1;
    if (m.start_us == 0)
        m.started = 1;

    for (size_t i = 0; i < svc.conf.kafka.n; i++)
        if (sl_kvlist_set(&m.props, svc.conf.kafka.items[i].key,
                          svc.conf.kafka.items[i].value) != SL_OK) {
            sl_error("out of memory");
            goto out;
        }
    sl_kvlist_set(&m.props, "auto.offset.reset", "earliest");
    if (sl_kafka_consumer_new(&m.cons, &m.props, mc.kafka_group_id, 10000, errstr,
                              sizeof errstr) ||
        sl_avro_codec_new(&m.codec, errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        goto out;
    }
    int nparts = 0, said = 0;
    sl_err_t pe;
    /* the collector creates the topic: wait for it (serving /health), as a
     * miner deployed before its collector must not crash-loop */
    while ((pe = sl_kafka_partition_count(sl_kafka_consumer_handle(m.cons), m.topic, 10000,
                                          &nparts, errstr, sizeof errstr)) != SL_OK) {
        if (!said++) {
            sl_warn("topic %s: %s; waiting for it (start the collector of source \"%s\", or "
                    "check topic.prefix / source.name and kafka.bootstrap.servers)",
                    m.topic, pe == SL_ERR_NOT_FOUND ? "does not exist" : errstr,
                    mc.source_name);
            char why[600];
            snprintf(why, sizeof why, "waiting for topic %s", m.topic);
            sl_http_set_health(svc.http, 0, why);
        }
        if (sl_service_wait(2000)) {
            rc = SL_EXIT_OK;
            goto out;
        }
    }
    if (nparts != 1) {
        sl_error("topic %s has %d partitions; a source topic has one (total order of the "
                 "source); the miner reads partition 0 only", m.topic, nparts);
        goto out;
    }
    int64_t low = 0;
    if (mine_ctl_low_watermark(sl_kafka_consumer_handle(m.cons), m.topic, &low, errstr,
                               sizeof errstr)) {
        sl_error("%s", errstr);
        goto out;
    }
    if (found && m.next_offset < low) {
        if (mine_ctl_record_gap(m.store, m.client, "*", &m.last_pos, m.next_offset, low,
                                errstr, sizeof errstr)) {
            sl_error("%s", errstr);
            goto out;
        }
        m.next_offset = low;
    }
    if (m.next_offset < 0)
        m.next_offset = low;

    mine_ctl_conf_t cc = {.store = m.store, .metrics = mt, .topic = m.topic,
                          .kafka_props = &m.props, .supplement = mc.supplement_full_fields,
                          .retention = 1};
    if (mine_ctl_new(&m.ctl, &cc, errstr, sizeof errstr) ||
        mine_ctl_load(m.ctl, m.next_offset, errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        goto out;
    }
    mine_ctl_set_main(m.ctl, m.next_offset, &m.last_pos);
    mine_writers_conf_t wc = {.store = m.store, .nworkers = (int)mc.worker_num,
                              .supplement = mc.supplement_full_fields, .retention = 1,
                              .batch_max = (size_t)mc.write_batch, .metrics = mt};
    if (mine_writers_start(&m.writers, &wc, errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        goto out;
    }
    for (int k = 0; k < 2; k++) {
        mine_batch_t *b = &m.b[k];
        b->recs = calloc((size_t)mc.read_batch, sizeof(*b->recs));
        b->offsets = calloc((size_t)mc.read_batch, sizeof(*b->offsets));
        if (!b->recs || !b->offsets) {
            sl_error("out of memory");
            goto out;
        }
        for (int64_t i = 0; i < mc.read_batch; i++)
            if (!(b->recs[i] = sl_record_new())) {
                sl_error("out of memory");
                goto out;
            }
    }
    m.read_offset = m.next_offset;
    if (sl_kafka_consumer_assign(m.cons, m.topic, 0, m.next_offset, 10000, NULL, errstr,
                                 sizeof errstr)) {
        sl_error("%s", errstr);
        goto out;
    }
    sl_info("mining %s from offset %" PRId64 " into %s.%s (worker_num=%" PRId64
            ", supplement=%s, retention %" PRId64 " h%s%s)",
            m.topic, m.next_offset, mc.log_database, m.store->log_name, mc.worker_num,
            mc.supplement_full_fields ? "on" : "off", mc.log_retention_hours,
            m.started ? "" : ", start time ", m.started ? "" : mc.mining_start_time);
    sl_http_set_health(svc.http, 1, NULL);
    sl_watchdog_conf_t wdc = {.cons = m.cons, .topic = m.topic, .partition = 0,
                              .stall_ms = mc.watchdog_ms, .http = svc.http, .metrics = mt,
                              .metric_prefix = "shiftlog_miner", .what = "the miner",
                              .action = "re-assigning the Kafka consumer",
                              .next_from_progress = 1, .clear_health = 1};
    m.wd = sl_watchdog_start(&wdc);
    sl_watchdog_progress(m.wd, m.next_offset - 1);
    sl_watchdog_watch(m.wd, 1);
    rc = run(&m);
    if (rc == SL_EXIT_OK && mine_ctl_flush(m.ctl, errstr, sizeof errstr))
        sl_warn("control collection: %s", errstr);
    if (sl_service_yielded() && !m.fenced) {
        sl_error("source \"%s\": the lease was lost (another copy mines now); standing down: "
                 "the batch in flight was recorded only if this copy still held the epoch; "
                 "exiting so that a restart waits as a standby", mc.source_name);
        rc = SL_EXIT_FAILURE;
    }
out:
    sl_watchdog_stop(m.wd);
    mine_lease_stop(m.lease);
    if (m.writers)
        mine_writers_stop(m.writers);
    mine_ctl_destroy(m.ctl);
    for (int k = 0; k < 2; k++) {
        if (m.b[k].recs)
            for (int64_t i = 0; i < mc.read_batch; i++)
                if (m.b[k].recs[i])
                    sl_record_destroy(m.b[k].recs[i]);
        free(m.b[k].recs);
        free(m.b[k].offsets);
    }
    sl_avro_codec_destroy(m.codec);
    sl_kafka_consumer_destroy(m.cons);
    sl_kvlist_free(&m.props);
    if (m.store) {
        mine_store_push(m.store, m.client);
        mine_store_close(m.store);
    }
    return sl_service_finish(&svc, rc);
}
