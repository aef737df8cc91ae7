/* shiftlog-miner: the mining loop, which consumes a source's topic into the shared log — one
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
#include <sys/time.h>

#include "loop.h"
#include "sl_status.h"
#include "sl_value_text.h"

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

sl_err_t mine_progress_read(mine_t *m, int *found, char *errstr, size_t errstr_size)
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
    /* the progress document is the position of record: a failed group
     * commit only delays monitoring */
    return sl_kafka_consumer_commit_at(m->cons, m->topic, 0, m->next_offset, errstr, errstr_size);
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
    char applied[256];
    snprintf(applied, sizeof applied, "offset %" PRId64 " (%s)", m->next_offset - 1, ptxt);
    sl_status_set_position(SL_STATUS_APPLIED, applied);
    return 0;
}

/* The pipeline: read + decode batch k+1 while the writers write batch k;
 * then wait for k, record its position, and only then dispatch k+1 (table
 * gates and control requests act between two batches, with nothing in
 * flight). A position is still recorded only after its documents are
 * journaled; a kill replays at most the two batches after the last
 * progress document (same `_id`s: E11000, skipped). */
int mine_loop_run(mine_t *m)
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
