/* shiftlog-applier: the task loop — a source in (source.h), the target out,
 * errors handled. This file is the policy; reading is the source's.
 *
 *   start    open the target (retry with backoff while it is down), read its
 *            stored position, let the source prepare (the topic exists, the
 *            schemas in force are seeded) and seek after that position;
 *   loop     the source's next record → txn.c; when the source is drained,
 *            the complete source transactions in the open target transaction
 *            are committed at once (latency); otherwise by write_batch /
 *            flush.interval.ms;
 *   errors   undecodable message → dead letter (alone); a source transaction
 *            the target rejects or that cannot be converted → the whole
 *            source transaction goes to the dead-letter topic (never a part
 *            of it to the target), found by replaying from the stored
 *            position with one source transaction per target commit;
 *            on_error=stop instead suspends naming table, key and position;
 *            target down → reconnect with backoff, reload the position from
 *            the target, replay; max.errors consecutive errors → suspended
 *            (/ready 503 + reason), resumed up to auto.recovery.count times.
 * Consumer group offsets are committed (for monitoring only) after the
 * target commit that made them durable.
 *
 * source.type = mongolog: the records come from the shared log
 * (source_mongolog.c) with the Kafka offsets and subOffsets of their
 * messages, into the same txn.c and error handling; once caught up with the
 * log's watermark the task hands over to the topic at the stored offset + 1
 * (source.handover): the Kafka source takes the shared-log source's place. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applier.h"
#include "app_task.h"
#include "sl_backoff.h"
#include "sl_log.h"
#include "sl_watchdog.h"
#include "source.h"

typedef struct run_s {
    const app_conf_t       *c;
    sl_service_t           *svc;
    const app_target_ops_t *ops;
    app_target_ops_t        par_ops;       /* worker_num > 1: app_target_par, named as the inner */
    app_target_t           *target;
    app_target_conf_t       tconf;
    app_source_conf_t       sconf;
    app_source_t           *kafka;     /* always open: its consumer serves the watchdog, the
                                          group commits and the hand-over */
    app_source_t           *log;       /* source.type = mongolog */
    app_source_t           *src;       /* the one read: log until handed over, else kafka */
    app_dlq_t              *dlq;
    app_mapping_t          *mapping;
    app_txn_t              *txn;
    sl_record_t            *rec;
    char                    dlq_topic[300];
    int64_t                 handover_at; /* Kafka offset to start at without a position */
    int                     said_stay;
    sl_watchdog_t          *wd;        /* no-progress watchdog (NULL: off) */
    int                     names_checked; /* map.tables targets judged by the target */
    app_stops_http_t       *stops;     /* GET /tables, POST /tables/resume */
    app_task_t             *task;      /* task.table.uri: pause / resume (NULL: none) */
    int                     stop_ok;   /* stopped while paused: exit 0 */

    int64_t  dlq_from;         /* dead-letter the source txn starting here (-1 none) */
    int64_t  dlq_upto;         /* highest offset already dead-lettered (replays skip it) */
    char     dlq_reason[1400];
    int64_t  errors;           /* consecutive */
    int64_t  recoveries;
    int      seeded;
    int64_t  group_committed;  /* last offset committed to the consumer group */
    int64_t  group_commit_ms;

    sl_metric_t *m_state_running, *m_state_suspended, *m_state_down, *m_state_topic, *m_dlq,
                *m_errors, *m_records, *m_state_standby;
    app_leaser_t *lease;       /* one active copy per task (lease.c) */
    int          exit_code;    /* a cause that sets its own exit code (SL_EXIT_DENIED) */
} run_t;

static const app_target_ops_t *pick_target(int type)
{
    switch (type) {
    case 0:  return &app_target_pg;
    case 1:  return &app_target_mysql;
    default: return &app_target_mongo;
    }
}

static void set_state(run_t *r, const char *state, const char *reason)
{
    sl_metric_set(r->m_state_running, !strcmp(state, "running"));
    sl_metric_set(r->m_state_suspended, !strcmp(state, "suspended"));
    sl_metric_set(r->m_state_down, !strcmp(state, "target_down"));
    sl_metric_set(r->m_state_topic, !strcmp(state, "waiting_topic"));
    sl_metric_set(r->m_state_standby, !strcmp(state, "standby"));
    sl_watchdog_watch(r->wd, !strcmp(state, "running"));
    if (!strcmp(state, "standby"))      /* healthy, not active: 200 with the holder */
        sl_http_set_status(r->svc->http, "standby", reason);
    else
        sl_http_set_health(r->svc->http, reason == NULL, reason);
}

static void lease_state(void *arg, const char *state, const char *reason)
{
    set_state(arg, state, reason);
}

/* The exit code of a task that stops: its own cause's, else 0 when asked to
 * stop, else 1. */
static int stop_code(const run_t *r)
{
    return r->exit_code ? r->exit_code
         : r->stop_ok || sl_service_stopping() ? SL_EXIT_OK : SL_EXIT_FAILURE;
}

static sl_err_t check_target_name(void *ctx, const char *schema, const char *table,
                                  char *errstr, size_t errstr_size)
{
    run_t *r = ctx;
    return r->ops->check_name(r->target, schema, table, errstr, errstr_size);
}

/* Opens the target, retrying with backoff until it answers or stop. On the
 * first connection, a map.tables rule onto a name the target refuses (its
 * position table, a reserved name) stops the service: -1 as for stop. */
static int connect_target(run_t *r)
{
    char errstr[1024], reason[1200];
    sl_backoff_t backoff = SL_BACKOFF_INIT(200, r->c->retry_max_ms);
    int logged = 0;
    for (;;) {
        if (sl_service_stopping())
            return -1;
        sl_err_t err = r->ops->open(&r->target, &r->tconf, errstr, sizeof(errstr));
        if (!err && !r->names_checked && r->ops->check_name) {
            if (app_mapping_check_targets(r->mapping, check_target_name, r, errstr,
                                          sizeof(errstr))) {
                sl_error("%s", errstr);
                set_state(r, "stopped", errstr);
                r->ops->close(r->target);
                r->target = NULL;
                return -1;
            }
            r->names_checked = 1;
        }
        if (!err) {
            if (logged)
                sl_info("target %s is back", r->ops->name);
            set_state(r, "running", NULL);
            app_txn_set_target(r->txn, r->target);
            return 0;
        }
        if (err == SL_ERR_DENIED) {
            sl_error("%s", errstr);
            r->exit_code = SL_EXIT_DENIED;
            return -1;
        }
        snprintf(reason, sizeof(reason), "target unavailable, retrying: %s", errstr);
        set_state(r, "target_down", reason);
        int64_t wait = sl_backoff_next(&backoff);
        if (!logged++ || wait >= r->c->retry_max_ms)
            sl_warn("%s (next try in %" PRId64 " ms)", reason, wait);
        if (sl_service_wait((int)wait))
            return -1;
    }
}

static void close_target(run_t *r)
{
    if (r->target) {
        app_txn_abort(r->txn);
        r->ops->close(r->target);
        r->target = NULL;
        app_txn_set_target(r->txn, NULL);
    }
}

/* Positions the source after the txn's committed position, or where a
 * resumed table's catch-up (txn_stops.c) or the hand-over starts. */
static int seek(run_t *r)
{
    char errstr[1024];
    app_position_t pos;
    int64_t from = -1, cu_from;
    int has = app_txn_committed(r->txn, &pos);
    if (app_txn_catchup_from(r->txn, &cu_from))
        from = cu_from;
    else if (!has)
        from = r->handover_at;
    if (r->src->ops->seek(r->src, r->txn, has ? &pos : NULL, from, errstr, sizeof(errstr))) {
        sl_error("%s", errstr);
        return -1;
    }
    return 0;
}

/* (Re)connects, reloads the position from the target and seeks there. */
static int restart_from_target(run_t *r, int64_t commit_at)
{
    char errstr[1024];
    for (;;) {
        close_target(r);
        /* nothing is applied without the task's lease (hot standby until then) */
        int lrc = app_leaser_acquire(r->lease);
        if (lrc) {
            r->exit_code = lrc > 0 ? lrc : 0;
            return -1;
        }
        if (connect_target(r))
            return -1;
        app_position_t pos;
        sl_err_t err = r->ops->load_position(r->target, r->c->source_topic,
                                             (int32_t)r->c->source_partition, &pos, errstr,
                                             sizeof(errstr));
        if (r->c->worker_num == 1 &&
            (err == SL_ERR_NOT_FOUND || (err == SL_OK && pos.sub_offset == APP_SUB_RETIRED))) {
            /* the run before may have had worker_num > 1: its workers' rows */
            sl_err_t e2 = app_par_adopt(r->ops, &r->tconf, r->c->source_topic,
                                        (int32_t)r->c->source_partition, &pos, errstr,
                                        sizeof(errstr));
            if (e2 == SL_ERR_NOT_FOUND && err == SL_OK)
                pos.sub_offset = -1;      /* retired, and no worker row: as it is */
            else
                err = e2;
        }
        if (err == SL_ERR_FATAL) {
            sl_error("%s", errstr);
            set_state(r, "suspended", errstr);
            return -1;
        }
        if (err && err != SL_ERR_NOT_FOUND) {
            sl_warn("reading the stored position: %s", errstr);
            if (sl_service_wait(500))
                return -1;
            continue;
        }
        char serr[1024];
        if (app_txn_load_stops(r->txn, serr, sizeof(serr))) {
            sl_warn("reading the stopped tables: %s", serr);
            if (sl_service_wait(500))
                return -1;
            continue;
        }
        app_stops_note(r->stops, r->txn, r->svc->http);
        app_txn_reset(r->txn, err ? NULL : &pos, commit_at);
        char perr[1024];
        sl_err_t pe = r->src->ops->prepare(r->src, r->txn, err ? NULL : &pos, !r->seeded,
                                           perr, sizeof(perr));
        if (pe == SL_ERR_DB) {
            sl_warn("%s; retrying", perr);
            if (sl_service_wait(1000))
                return -1;
            continue;
        }
        if (pe == SL_ERR_TIMEOUT)      /* stopping */
            return -1;
        if (pe) {
            sl_error("%s", perr);
            return -1;
        }
        r->seeded = 1;
        char ptext[160] = "none";
        if (!err)
            sl_pos_format(&pos.source, ptext, sizeof(ptext));
        sl_info("starting at %s%s [%" PRId64 "] offset %s (stored position: kafka_offset %" PRId64
                " sub_offset %" PRId64 ", source %s)", r->src == r->log ? "the shared log of " : "",
                r->c->source_topic,
                r->c->source_partition, err ? "beginning" : "stored", err ? -1 : pos.kafka_offset,
                err ? -1 : pos.sub_offset, ptext);
        return seek(r);
    }
}

/* Suspends the task (health 503) for suspend.ms, then resumes if recoveries
 * are left; otherwise stays suspended until stopped. Returns -1 on stop. */
static int suspend(run_t *r, const char *why)
{
    char reason[1400];
    snprintf(reason, sizeof(reason), "suspended after %" PRId64 " consecutive error(s): %s",
             r->errors, why);
    sl_error("%s", reason);
    set_state(r, "suspended", reason);
    if (r->recoveries >= r->c->auto_recovery_count) {
        sl_error("task suspended for good (auto.recovery.count = %" PRId64 " used up): fix the "
                 "cause and restart the task", r->c->auto_recovery_count);
        while (!sl_service_wait(1000))
            ;
        return -1;
    }
    if (sl_service_wait((int)r->c->suspend_ms))
        return -1;
    r->recoveries++;
    r->errors = 0;
    sl_info("resuming (automatic recovery %" PRId64 " of %" PRId64 ")", r->recoveries,
            r->c->auto_recovery_count);
    set_state(r, "running", NULL);
    return 0;
}

static int to_dlq(run_t *r, const sl_kafka_msg_t *m, const char *pos, const char *reason)
{
    char errstr[512];
    if (m->offset <= r->dlq_upto)
        return 0;                  /* sent before a rewind: not twice */
    r->dlq_upto = m->offset;
    if (app_dlq_send(r->dlq, r->c->task_name, m, pos, reason, errstr, sizeof(errstr)) ||
        app_dlq_flush(r->dlq, errstr, sizeof(errstr))) {
        sl_error("dead-letter topic %s: %s", r->dlq_topic, errstr);
        return -1;
    }
    sl_metric_inc(r->m_dlq);
    char line[1400];
    snprintf(line, sizeof(line), "offset %" PRId64 " (%s) sent to %s: %s", m->offset,
             pos && *pos ? pos : "no position", r->dlq_topic, reason);
    sl_warn("%s", line);
    sl_log_set_last_error(line);        /* a warning here, but the task's last error */
    return 0;
}

/* Counts an error; suspends when max.errors is reached (or at once with
 * on_error=stop). Returns -1 on stop. */
static int count_error(run_t *r, const char *what)
{
    r->errors++;
    sl_metric_inc(r->m_errors);
    if (r->c->on_error == APP_ON_ERROR_STOP || r->errors >= r->c->max_errors)
        return suspend(r, what);
    return 0;
}

static void commit_group_offset(run_t *r)
{
    app_position_t pos;
    if (!app_txn_committed(r->txn, &pos) || pos.kafka_offset <= r->group_committed)
        return;
    int64_t now = sl_service_now_ms();
    if (now - r->group_commit_ms < 1000)
        return;
    char err[256];
    if (sl_kafka_consumer_commit_at(app_source_kafka_consumer(r->kafka), r->c->source_topic,
                                    (int32_t)r->c->source_partition, pos.kafka_offset + 1, err,
                                    sizeof err))
        sl_debug("consumer group commit: %s", err);
    r->group_committed = pos.kafka_offset;
    r->group_commit_ms = now;
}

/* The source position text of rec, formatted on first use into buf (only
 * errors and dead letters need it: not done per message). */
static const char *pos_text(const sl_record_t *rec, char *buf, size_t size)
{
    if (!buf[0] && rec)
        sl_pos_format(&rec->pos, buf, size);
    return buf;
}

/* A message the source could not decode (errstr says why): dead-lettered
 * alone, or with on_error=stop counted and replayed. 0 to go on, -1 to stop. */
static int undecodable(run_t *r, const sl_kafka_msg_t *m, const char *errstr)
{
    char reason[1200];
    snprintf(reason, sizeof(reason), "cannot decode: %.1150s", errstr);
    if (r->c->on_error == APP_ON_ERROR_STOP) {
        sl_error("offset %" PRId64 ": %s", m->offset, reason);
        if (count_error(r, reason))
            return -1;
        return restart_from_target(r, -1);
    }
    int again = m->offset <= r->dlq_upto;
    if (to_dlq(r, m, "", reason))
        return -1;
    return again ? 0 : count_error(r, reason);
}

/* /health shows every stopped table (degraded: the task runs, the table
 * does not), updated when their number changes. */
static void note_stopped(run_t *r)
{
    app_stops_note(r->stops, r->txn, r->svc->http);
}

static int feed_one(run_t *r, const sl_kafka_msg_t *m, const app_msg_t *amp);

/* One decoded record (r->rec) of message m (from Kafka, or rebuilt from the
 * shared log: then m has the message's topic, partition and offset only).
 * Returns 0 to go on, -1 to stop the task. */
static int feed(run_t *r, const sl_kafka_msg_t *m, const app_msg_t *amp)
{
    int64_t cu_from;
    if (app_txn_catchup_from(r->txn, &cu_from))
        sl_watchdog_kick(r->wd);        /* a catch-up's old offsets are progress */
    else
        sl_watchdog_progress(r->wd, m->offset);
    int rc = feed_one(r, m, amp);
    note_stopped(r);
    return rc;
}

static int feed_one(run_t *r, const sl_kafka_msg_t *m, const app_msg_t *amp)
{
    char errstr[1024], pos[160] = "";
    app_msg_t am = *amp;
    if (r->rec->type == SL_REC_SCHEMA)
        pos_text(r->rec, pos, sizeof(pos));      /* app_txn_feed takes the record */

    /* replay that dead-letters a rejected source transaction */
    if (r->dlq_from >= 0 && m->offset >= r->dlq_from) {
        if (r->rec->type == SL_REC_CHANGE)
            return to_dlq(r, m, pos_text(r->rec, pos, sizeof(pos)), r->dlq_reason);
        if (r->rec->type == SL_REC_SCHEMA) {
            /* a schema change is not dead-lettered with the rows of its
             * transaction: the table's later changes need it in force.
             * Only a schema the core or the target refuses goes too. */
            app_txn_rc_t rc = app_txn_feed(r->txn, &r->rec, &am, errstr, sizeof(errstr));
            switch (rc) {
            case APP_TXN_OK:
                return 0;
            case APP_TXN_TARGET_DOWN:
                sl_warn("target %s: %s; reconnecting and replaying from the stored position",
                        r->ops->name, errstr);
                return restart_from_target(r, -1);
            case APP_TXN_FATAL:
                sl_error("offset %" PRId64 " (%s): %s", m->offset, pos, errstr);
                return -1;
            case APP_TXN_REWIND:        /* the table stopped: its records go too */
                return to_dlq(r, m, pos, errstr) ? -1 : seek(r);
            default:
                return to_dlq(r, m, pos, errstr);
            }
        }
        r->dlq_from = -1;          /* its COMMIT (or a FINISH) ends it: commit there */
        app_txn_commit_at(r->txn, m->offset);
    }

    int64_t since = app_txn_open_since(r->txn);
    int group = app_txn_group_txns(r->txn);
    app_position_t before;
    int had = app_txn_committed(r->txn, &before);
    app_txn_rc_t rc = app_txn_feed(r->txn, &r->rec, &am, errstr, sizeof(errstr));
    switch (rc) {
    case APP_TXN_OK: {
        app_position_t now;
        if (app_txn_committed(r->txn, &now) && (!had || now.kafka_offset != before.kafka_offset)) {
            if (r->errors && r->dlq_from < 0)
                r->errors = 0;
            commit_group_offset(r);
        }
        return 0;
    }
    case APP_TXN_REWIND:
        return seek(r);
    case APP_TXN_TARGET_DOWN:
        sl_warn("target %s: %s; reconnecting and replaying from the stored position",
                r->ops->name, errstr);
        return restart_from_target(r, -1);
    case APP_TXN_TABLE_STOPPED:
        return to_dlq(r, m, pos_text(r->rec, pos, sizeof(pos)), errstr);
    case APP_TXN_FENCED:
        app_leaser_fenced(r->lease, errstr);
        return restart_from_target(r, -1);
    case APP_TXN_FATAL:
        sl_error("offset %" PRId64 " (%s): %s", m->offset, pos_text(r->rec, pos, sizeof(pos)),
                 errstr);
        return -1;
    case APP_TXN_REJECTED:
        break;
    }
    /* rejected: errstr names table and key */
    char what[1400];
    pos_text(r->rec, pos, sizeof(pos));
    int64_t first = since >= 0 ? since : m->offset;
    snprintf(what, sizeof(what), "%s (offset %" PRId64 ", position %s)", errstr, m->offset, pos);
    sl_error("source transaction from offset %" PRId64 " rejected: %s", first, what);
    if (r->c->on_error == APP_ON_ERROR_STOP) {
        if (count_error(r, what))
            return -1;
        return restart_from_target(r, -1);
    }
    if (group > 0) {
        /* other complete transactions were in the same target transaction:
         * replay committing one source transaction at a time up to here */
        sl_info("replaying one source transaction per commit up to offset %" PRId64
                " to isolate the rejected one", m->offset);
        app_position_t p;
        int has = app_txn_committed(r->txn, &p);
        app_txn_reset(r->txn, has ? &p : NULL, m->offset);
        return seek(r);
    }
    r->dlq_from = first;
    snprintf(r->dlq_reason, sizeof(r->dlq_reason), "%s", what);
    if (count_error(r, what))
        return -1;
    app_position_t p;
    int has = app_txn_committed(r->txn, &p);
    app_txn_reset(r->txn, has ? &p : NULL, -1);
    return seek(r);
}

/* A group commit outside feed() failed (input drained, flush interval).
 * REJECTED: the target refused a row only at commit (PostgreSQL's upsert is
 * asynchronous, and a batch is flushed at the latest there): replay from the
 * stored position committing one source transaction at a time up to the
 * group's last COMMIT, so that feed() finds the rejected one and handles it
 * as any rejection (dead letter / stop). Anything else: reconnect, replay.
 * Returns 0 to go on, -1 to stop. */
static int commit_failed(run_t *r, app_txn_rc_t rc, const char *errstr)
{
    if (rc == APP_TXN_FATAL) {
        sl_error("target %s: %s", r->ops->name, errstr);
        return -1;
    }
    if (rc == APP_TXN_FENCED) {
        app_leaser_fenced(r->lease, errstr);
        return restart_from_target(r, -1);
    }
    if (rc == APP_TXN_REJECTED) {
        int64_t upto = app_txn_group_end(r->txn);
        sl_error("target %s rejected the commit of the source transactions up to offset %"
                 PRId64 ": %s; replaying one source transaction per commit to isolate the "
                 "rejected one", r->ops->name, upto, errstr);
        app_position_t p;
        int has = app_txn_committed(r->txn, &p);
        app_txn_reset(r->txn, has ? &p : NULL, upto);
        return seek(r);
    }
    sl_warn("target %s: %s; reconnecting and replaying from the stored position",
            r->ops->name, errstr);
    return restart_from_target(r, -1);
}

/* Caught up with the shared log (what is complete is committed): hand over
 * to the topic at the stored offset + 1 when it still holds it — the Kafka
 * source takes the log's place. 1: handed over; 0: read the log on; -1:
 * stop. */
static int handover(run_t *r)
{
    app_logsrc_t *lr = app_source_mongolog_reader(r->log);
    const char *stopped = app_logsrc_stopped_table(lr);
    if (r->c->handover) {
        app_position_t pos;
        int has = app_txn_committed(r->txn, &pos);
        int64_t next = has ? pos.kafka_offset + 1 : r->log->ops->position(r->log);
        if (next < 0)          /* nothing read: not past a needed table's stop point */
            next = app_logsrc_readable_offset(lr);
        int64_t lo = -1, hi = -1;
        char why[256] = "";
        sl_err_t e = SL_OK;
        if (next >= 0)
            e = sl_kafka_watermarks(sl_kafka_consumer_handle(app_source_kafka_consumer(r->kafka)),
                                    r->c->source_topic, (int32_t)r->c->source_partition, &lo,
                                    &hi, 5000, why, sizeof why);
        if (next >= 0 && !e && lo <= next) {
            sl_info("shared log read up to its watermark (%" PRIu64 " document(s)%s%s): "
                    "handing over to %s [%" PRId64 "] at offset %" PRId64,
                    app_logsrc_docs(lr), stopped ? "; bounded by stopped table " : "",
                    stopped ? stopped : "", r->c->source_topic, r->c->source_partition, next);
            app_txn_abort(r->txn);         /* nothing complete is left open */
            r->src = r->kafka;
            r->handover_at = has ? -1 : next;
            return seek(r) ? -1 : 1;
        }
        if (!r->said_stay++)
            sl_warn("cannot hand over to %s yet: %s; reading the shared log on",
                    r->c->source_topic,
                    next < 0 ? "no Kafka offset known yet"
                    : e ? why : "the topic no longer holds the next offset");
    }
    if (stopped && !r->said_stay++)
        sl_warn("shared log: table %s is stopped in the miner; reading waits at its stop "
                "point", stopped);
    return 0;
}

/* The source failed (not a record, not drained): a transient error is
 * retried after the source's wait; anything else stops the task, after
 * committing what is complete before it (so that the target holds
 * everything up to, say, a gap the task cannot go past). -1: stop. */
static int source_failed(run_t *r, sl_err_t err, const char *errstr)
{
    if (r->src->ops->classify(r->src, err) == APP_SRC_TRANSIENT) {
        sl_warn("%s", errstr);
        if (r->src->ops->retry_ms)
            sl_service_wait(r->src->ops->retry_ms);
        return 0;
    }
    char why[1024];
    if (app_txn_idle(r->txn, why, sizeof(why)) != APP_TXN_OK)
        sl_warn("target %s: %s (the complete transactions before the stop are applied "
                "again at the next start)", r->ops->name, why);
    sl_error("%s", errstr);
    set_state(r, "suspended", errstr);
    return -1;
}

/* Drained: commit the complete source transactions now (latency), on the
 * shared log try the hand-over, then wait for more (up to the next flush
 * deadline, 200 ms at most). 1: the source changed, read again. */
static int drained(run_t *r, sl_err_t *err, app_msg_t *am, char *errstr, size_t errstr_size)
{
    app_txn_rc_t rc = app_txn_idle(r->txn, errstr, errstr_size);
    if (rc != APP_TXN_OK)
        return commit_failed(r, rc, errstr) ? -1 : 1;
    commit_group_offset(r);
    if (r->src == r->log) {
        int h = handover(r);
        if (h)
            return h;
    }
    int wait = app_txn_next_deadline_ms(r->txn);
    if (wait < 0 || wait > 200)
        wait = 200;
    *err = r->src->ops->next(r->src, r->rec, am, wait, errstr, errstr_size);
    return 0;
}

/* One record from the source (or none), then the due group commit. 0 to
 * go on, -1 to stop. */
static int read_one(run_t *r)
{
    char errstr[1400];
    app_msg_t am;
    if (!r->rec && !(r->rec = sl_record_new()))
        return -1;
    sl_err_t err = r->src->ops->next(r->src, r->rec, &am, 0, errstr, sizeof(errstr));
    if (err == SL_ERR_TIMEOUT) {
        int d = drained(r, &err, &am, errstr, sizeof(errstr));
        if (d)
            return d < 0 ? -1 : 0;
    }
    if (sl_service_stopping())
        return -1;
    if (err == SL_OK || err == SL_ERR_DECODE) {
        if (err == SL_OK ? feed(r, am.kmsg, &am) : undecodable(r, am.kmsg, errstr))
            return -1;
        if (app_txn_next_deadline_ms(r->txn) != 0)
            return 0;
    } else if (err != SL_ERR_TIMEOUT && source_failed(r, err, errstr)) {
        return -1;
    }
    app_txn_rc_t rc = app_txn_tick(r->txn, errstr, sizeof(errstr));
    if (rc != APP_TXN_OK)
        return commit_failed(r, rc, errstr);
    commit_group_offset(r);
    return 0;
}

/* One turn of the task's loop: what the watchdog, the lease and
 * POST /tables/resume ask first, then the source. 0 to go on, -1 to stop. */
static int turn(run_t *r)
{
    if (sl_watchdog_take(r->wd))       /* no progress with records waiting (it said why) */
        return restart_from_target(r, -1);
    if (app_leaser_keep(r->lease))
        /* lost: roll back what is open, stand by, and go on from the stored
         * position once this copy holds the lease again */
        return restart_from_target(r, -1);
    /* the task table says pause: at a source transaction boundary, then
     * from the stored position once resumed */
    int held = r->dlq_from < 0 ? app_task_hold(r->task, r->txn, r->svc->http, r->wd) : 0;
    if (held < 0) {
        r->stop_ok = 1;
        return -1;
    }
    if (held > 0)
        return restart_from_target(r, -1);
    /* POST /tables/resume, taken between messages and never while a rejected
     * transaction is being dead-lettered (its replay owns the read position) */
    if (r->dlq_from < 0 && app_stops_poll(r->stops, r->txn)) {
        note_stopped(r);
        if (seek(r))
            return -1;
    }
    if (sl_service_stopping())
        return -1;
    return read_one(r);
}

static void run_metrics(run_t *r, sl_metrics_t *mx)
{
    r->m_state_running = sl_metrics_gauge(mx, "shiftlog_applier_state",
                                          "1 for the task's current state.",
                                          (const char *[]){"state", "running", NULL});
    r->m_state_suspended = sl_metrics_gauge(mx, "shiftlog_applier_state", NULL,
                                            (const char *[]){"state", "suspended", NULL});
    r->m_state_down = sl_metrics_gauge(mx, "shiftlog_applier_state", NULL,
                                       (const char *[]){"state", "target_down", NULL});
    r->m_state_topic = sl_metrics_gauge(mx, "shiftlog_applier_state", NULL,
                                        (const char *[]){"state", "waiting_topic", NULL});
    r->m_state_standby = sl_metrics_gauge(mx, "shiftlog_applier_state", NULL,
                                          (const char *[]){"state", "standby", NULL});
    r->m_dlq = sl_metrics_counter(mx, "shiftlog_applier_dlq_total",
                                  "Messages sent to the dead-letter topic.", NULL);
    r->m_errors = sl_metrics_counter(mx, "shiftlog_applier_errors_total",
                                     "Records or source transactions that could not be "
                                     "applied.", NULL);
    r->m_records = sl_metrics_counter(mx, "shiftlog_applier_records_total",
                                      "Kafka messages read from the source topic.", NULL);
}

/* The target ops (worker_num > 1: the parallel decorator over them).
 * SL_EXIT_USAGE when the type is not built in, else -1. */
static int run_target(run_t *r)
{
    const app_conf_t *c = r->c;
    r->ops = pick_target(c->target_type);
    if (!r->ops) {
        sl_error("target.type %s is not built into this binary", app_target_types[c->target_type]);
        return SL_EXIT_USAGE;
    }
    r->tconf = app_target_conf_of(c);
    if (c->worker_num > 1) {
        /* worker_num connections, each source transaction on one of them */
        r->tconf.workers = (int)c->worker_num;
        r->tconf.inner = r->ops;
        r->tconf.metrics = r->svc->metrics;
        r->par_ops = app_target_par;
        r->par_ops.name = r->ops->name;
        r->ops = &r->par_ops;
        sl_info("worker_num = %" PRId64 ": %s target with %" PRId64 " connections (positions "
                "stored as task %s#0..%" PRId64 ")", c->worker_num, r->par_ops.name,
                c->worker_num, c->task_name, c->worker_num - 1);
    }
    return -1;
}

/* The shared log's source, retried while the log cannot be reached.
 * -1: open; else the exit code. */
static int open_log(run_t *r)
{
    char errstr[1024];
    for (;;) {
        sl_err_t le = app_source_mongolog.open(&r->log, &r->sconf, errstr, sizeof(errstr));
        if (!le)
            return -1;
        if (le != SL_ERR_DB) {
            sl_error("%s", errstr);
            return SL_EXIT_FAILURE;
        }
        sl_warn("%s; retrying", errstr);
        if (sl_service_wait(2000))
            return SL_EXIT_OK;
    }
}

/* Everything the loop needs, in the order a failure should be met.
 * -1: ready; else the exit code. */
static int run_open(run_t *r)
{
    const app_conf_t *c = r->c;
    sl_service_t *svc = r->svc;
    char errstr[1024];
    int code = run_target(r);
    if (code >= 0)
        return code;
    run_metrics(r, svc->metrics);
    set_state(r, "standby", "starting: the task's lease is not taken yet");
    r->tconf.lease_task = c->task_name;
    r->tconf.lease_ttl_ms = c->lease_ttl_ms;
    if (!(r->lease = app_leaser_new(pick_target(c->target_type), &r->tconf, c, svc->metrics,
                                    lease_state, r))) {
        sl_error("out of memory");
        return SL_EXIT_FAILURE;
    }
    r->stops = app_stops_http_new(
        svc->http, c->task_name,
        c->worker_num > 1 ? "resume needs worker_num = 1: restart the task with worker_num = 1, "
                            "resume, then go back to more workers once it has caught up"
        : c->source_type == APP_SOURCE_MONGOLOG
            ? "resume needs source.type = kafka (the catch-up reads the topic again)"
            : NULL);
    if (c->dlq_topic && *c->dlq_topic)
        snprintf(r->dlq_topic, sizeof(r->dlq_topic), "%s", c->dlq_topic);
    else
        snprintf(r->dlq_topic, sizeof(r->dlq_topic), "%s.dlq", c->source_topic);
    if (app_mapping_new(&r->mapping, c, errstr, sizeof(errstr))) {
        sl_error("%s", errstr);
        return SL_EXIT_USAGE;
    }
    r->sconf = (app_source_conf_t){.c = c, .svc = svc, .mapping = r->mapping,
                                   .m_records = r->m_records,
                                   .after_log = c->source_type == APP_SOURCE_MONGOLOG,
                                   .state = lease_state, .arg = r};
    if (!(r->rec = sl_record_new()) ||
        app_source_kafka.open(&r->kafka, &r->sconf, errstr, sizeof(errstr))) {
        sl_error("%s", r->rec ? errstr : "out of memory");
        return SL_EXIT_FAILURE;
    }
    r->src = r->kafka;
    if (app_dlq_new(&r->dlq, &svc->conf.kafka, r->dlq_topic, errstr, sizeof(errstr))) {
        sl_error("dead-letter topic %s: %s", r->dlq_topic, errstr);
        return SL_EXIT_FAILURE;
    }
    sl_watchdog_conf_t wdc = {.cons = app_source_kafka_consumer(r->kafka),
                              .topic = c->source_topic,
                              .partition = (int32_t)c->source_partition,
                              .stall_ms = c->watchdog_ms, .http = svc->http,
                              .metrics = svc->metrics, .metric_prefix = "shiftlog_applier",
                              .what = "the task", .action = "reconnecting"};
    r->wd = sl_watchdog_start(&wdc);
    r->task = app_task_new(c, svc->metrics);
    if (c->source_type == APP_SOURCE_MONGOLOG) {
        if ((code = open_log(r)) >= 0)
            return code;
        r->src = r->log;
    }
    app_txn_conf_t tc = {.ops = r->ops, .mapping = r->mapping, .topic = c->source_topic,
                         .partition = (int32_t)c->source_partition,
                         .write_batch = c->write_batch,
                         .flush_interval_ms = c->flush_interval_ms,
                         .ddl_apply = c->ddl_apply, .metrics = svc->metrics};
    if (app_txn_new(&r->txn, &tc, errstr, sizeof(errstr))) {
        sl_error("%s", errstr);
        return SL_EXIT_FAILURE;
    }
    return -1;
}

static void run_close(run_t *r)
{
    sl_watchdog_stop(r->wd);
    if (r->txn)
        app_txn_abort(r->txn);
    if (r->target)
        r->ops->close(r->target);
    app_txn_destroy(r->txn);
    if (r->log)
        r->log->ops->close(r->log);
    app_dlq_destroy(r->dlq);
    if (r->kafka)
        r->kafka->ops->close(r->kafka);
    sl_record_destroy(r->rec);
    app_mapping_destroy(r->mapping);
    app_leaser_destroy(r->lease);
    app_stops_http_free(r->stops);
    app_task_free(r->task);
}

int app_run(const app_conf_t *c, sl_service_t *svc)
{
    run_t r = {.c = c, .svc = svc, .dlq_from = -1, .dlq_upto = -1, .group_committed = -1,
               .handover_at = -1};
    int code = run_open(&r);
    if (code < 0 && restart_from_target(&r, -1))
        code = stop_code(&r);
    while (code < 0)
        if (turn(&r))
            code = stop_code(&r);
    run_close(&r);
    return code;
}
