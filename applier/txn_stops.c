/* shiftlog-applier: stopped tables that outlive a restart, and their resume.
 *
 * A table stops when the target cannot apply it (an unsafe type change, a
 * value under on_unconvertible = stop, a hostile type): from the first
 * offset of the source transaction that hit it, its records go to the
 * dead-letter topic while the other tables go on. The stop is stored in
 * the target at once (ops->stop_save, outside any data transaction) before
 * the position moves past it, so a restart keeps the table stopped instead
 * of going on with a hole where its dead-lettered transactions were.
 *
 * Resume (an operator, after fixing the cause): the stop is marked resumed
 * with resume_to = the task's position P at that moment (stored at once),
 * and the task reads again from the stop's offset S. Up to P only the
 * resumed table's records are applied (the others were applied already),
 * one source transaction per target commit; each commit also stores the
 * catch-up's progress (the next offset, the COMMIT's source position) in
 * the stop row, in the same target transaction, while the task's position
 * stays at P. The skip rule compares the table's records with that
 * progress, not with P. Past P the stop row is deleted in a target
 * transaction of its own (storing P again) and everything goes on as usual.
 * A crash during the catch-up: the row says resumed, with its progress; the
 * next start goes on with the catch-up from there. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_buf.h"
#include "sl_log.h"
#include "txn_int.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_gauge(app_txn_t *x)
{
    sl_metric_set(x->m_stopped, (double)x->nstopped);
    x->stops_ver++;
}

int64_t app_txn_keep_from(const app_txn_t *x, const table_t *t, int64_t offset)
{
    /* the version in force at the stop offset is needed by a resume */
    if ((t->stopped || x->cu == t) && t->stop.offset - 1 < offset)
        return t->stop.offset - 1;
    return offset;
}

void app_txn_cu_rewind(app_txn_t *x)
{
    table_t *t = x->cu;
    char msg[200];
    x->cu_reset = 0;
    if (!t)
        return;
    app_txn_drop_vers_after(t, t->stop.offset - 1);
    t->mapped = NULL;
    memset(&x->cu_pos, 0, sizeof(x->cu_pos));
    if (t->stop.source_pos[0] &&
        sl_pos_parse(t->stop.source_pos, &x->cu_pos, msg, sizeof(msg)) != SL_OK) {
        sl_warn("table %s.%s: stored source position \"%s\": %s (its records from offset %"
                PRId64 " are all applied)", t->db, t->name, t->stop.source_pos, msg,
                t->stop.offset);
        memset(&x->cu_pos, 0, sizeof(x->cu_pos));
    }
}

static sl_err_t save(app_txn_t *x, const app_stop_t *s, char *errstr, size_t errstr_size)
{
    if (!x->c.ops->stop_save || !x->c.target)
        return SL_OK;
    return x->c.ops->stop_save(x->c.target, s, errstr, errstr_size);
}

app_txn_rc_t app_txn_table_stop(app_txn_t *x, table_t *t, const char *why, int64_t offset,
                                char *errstr, size_t errstr_size)
{
    app_stop_t s = {.offset = offset, .resume_to = -1, .since_ms = now_ms()};
    snprintf(s.db, sizeof(s.db), "%s", t->db);
    snprintf(s.table, sizeof(s.table), "%s", t->name);
    snprintf(s.reason, sizeof(s.reason), "%s", why);
    /* its records up to here are applied: the last COMMIT read before the
     * stopped transaction, or (stopped again while catching up) its progress */
    const sl_pos_t *done = x->cu == t ? &x->cu_pos : &x->last_commit_pos;
    if (done->kind != SL_POS_NONE)
        sl_pos_format(done, s.source_pos, sizeof(s.source_pos));
    app_txn_abort(x);
    char err[1024];
    sl_err_t e = save(x, &s, err, sizeof(err));
    if (e) {
        /* not stopped: the replay meets the same refusal and tries again */
        snprintf(errstr, errstr_size, "table %s.%s cannot be stopped: storing its stop in the "
                 "target failed: %s (the stop was: %s)", t->db, t->name, err, s.reason);
        return e == SL_ERR_IO || e == SL_ERR_TIMEOUT || e == SL_ERR_DB ? APP_TXN_TARGET_DOWN
                                                                       : APP_TXN_FATAL;
    }
    if (x->cu == t) {
        sl_error("table %s.%s stopped again while catching up: %s", t->db, t->name, s.reason);
        x->cu = NULL;
    }
    if (!t->stopped)
        x->nstopped++;
    t->stopped = 1;
    t->stop = s;
    set_gauge(x);
    sl_error("table %s.%s stopped from offset %" PRId64 " (the other tables go on; its changes "
             "go to the dead-letter topic until it is resumed with `shiftlog tables --resume "
             "%s.%s` or dropped in the source; the stop is stored in the target and outlives "
             "a restart): %s", t->db, t->name, offset, t->db, t->name, s.reason);
    return APP_TXN_REWIND;
}

int app_txn_stopped_at(const table_t *t, int64_t offset)
{
    if (t->stopped && offset >= t->stop.offset)
        return 1;
    for (int i = 0; i < t->npast; i++)
        if (offset >= t->past_from[i] && offset < t->past_to[i])
            return 1;
    return 0;
}

void app_txn_past_prune(table_t *t, int64_t committed)
{
    int k = 0;
    for (int i = 0; i < t->npast; i++)
        if (t->past_to[i] > committed + 1) {
            t->past_from[k] = t->past_from[i];
            t->past_to[k++] = t->past_to[i];
        }
    t->npast = k;
}

app_txn_rc_t app_txn_stop_dropped(app_txn_t *x, table_t *t, int64_t offset, char *errstr,
                                  size_t errstr_size)
{
    app_txn_rc_t rc = app_txn_ensure_open(x, errstr, errstr_size);
    if (rc)
        return rc;
    if (x->c.ops->stop_clear) {
        sl_err_t e = x->c.ops->stop_clear(x->c.target, t->db, t->name, errstr, errstr_size);
        if (e) {
            app_txn_abort(x);
            return app_txn_rc_of(e);
        }
    }
    sl_info("table %s.%s dropped in the source: it is no longer stopped (was: %s)", t->db,
            t->name, t->stop.reason);
    /* a stop of the next life rewinds to the committed position: this life's
     * records up to the DROP must meet their stop again there */
    if (t->npast == TXN_PAST) {
        memmove(t->past_from, t->past_from + 1, (TXN_PAST - 1) * sizeof(int64_t));
        memmove(t->past_to, t->past_to + 1, (TXN_PAST - 1) * sizeof(int64_t));
        t->npast--;
        sl_warn("table %s.%s: more than %d of its lives stopped since the last commit; the "
                "oldest is forgotten", t->db, t->name, TXN_PAST);
    }
    t->past_from[t->npast] = t->stop.offset;
    t->past_to[t->npast++] = offset;
    t->stopped = 0;
    x->nstopped--;
    set_gauge(x);
    return APP_TXN_OK;
}

app_txn_rc_t app_txn_cu_commit(app_txn_t *x, char *errstr, size_t errstr_size)
{
    table_t *t = x->cu;
    app_stop_t s = t->stop;
    s.offset = x->group_pos.kafka_offset + 1;
    sl_pos_format(&x->group_pos.source, s.source_pos, sizeof(s.source_pos));
    sl_err_t e = save(x, &s, errstr, errstr_size);
    if (!e)
        e = x->c.ops->commit(x->c.target, &x->committed, errstr, errstr_size);
    if (e) {
        app_txn_abort(x);
        return app_txn_rc_of(e);
    }
    x->open = 0;
    x->group_rows = x->group_txns = 0;
    t->stop = s;
    x->cu_pos = x->group_pos.source;
    sl_metric_inc(x->m_commits);
    x->stops_ver++;
    return APP_TXN_OK;
}

app_txn_rc_t app_txn_cu_finish(app_txn_t *x, char *errstr, size_t errstr_size)
{
    table_t *t = x->cu;
    if (x->open)
        app_txn_abort(x);
    app_txn_rc_t rc = app_txn_ensure_open(x, errstr, errstr_size);
    if (rc)
        return rc;
    sl_err_t e = SL_OK;
    if (x->c.ops->stop_clear)
        e = x->c.ops->stop_clear(x->c.target, t->db, t->name, errstr, errstr_size);
    if (!e)
        e = x->c.ops->commit(x->c.target, &x->committed, errstr, errstr_size);
    if (e) {
        app_txn_abort(x);
        return app_txn_rc_of(e);
    }
    x->open = 0;
    x->group_rows = x->group_txns = 0;
    x->txn_rows = 0;
    x->txn_first_offset = -1;
    sl_info("table %s.%s caught up to offset %" PRId64 " (resumed; its last source "
            "transaction read again ends at %s): applied as usual from here on, its stop is "
            "cleared", t->db, t->name, x->cu_end,
            t->stop.source_pos[0] ? t->stop.source_pos : "none");
    memset(&t->stop, 0, sizeof(t->stop));
    t->stop.resume_to = -1;
    x->cu = NULL;
    x->stops_ver++;
    return APP_TXN_OK;
}

/* Starts the catch-up of t (its stop has resume_to set). */
static void cu_begin(app_txn_t *x, table_t *t)
{
    if (t->stopped) {
        t->stopped = 0;
        x->nstopped--;
    }
    x->cu = t;
    x->cu_end = t->stop.resume_to;
    x->cu_reset = 1;
    set_gauge(x);
}

sl_err_t app_txn_load_stops(app_txn_t *x, char *errstr, size_t errstr_size)
{
    app_stop_t *s = NULL;
    size_t n = 0;
    if (!x->c.ops->stops_load || !x->c.target)
        return SL_OK;
    sl_err_t e = x->c.ops->stops_load(x->c.target, &s, &n, errstr, errstr_size);
    if (e)
        return e;
    for (size_t i = 0; i < n; i++) {
        table_t *t = app_txn_table_get(x, s[i].db, s[i].table, 1);
        if (!t) {
            free(s);
            snprintf(errstr, errstr_size, "applier: out of memory");
            return SL_ERR_NOMEM;
        }
        int known = t->stopped || x->cu == t;
        t->stop = s[i];
        if (s[i].resume_to >= 0 && (!x->cu || x->cu == t)) {
            if (!known || x->cu != t)
                sl_warn("table %s.%s was resumed and is catching up (stored in the target): "
                        "reading it again from offset %" PRId64 " to offset %" PRId64,
                        t->db, t->name, s[i].offset, s[i].resume_to);
            cu_begin(x, t);
            continue;
        }
        if (!t->stopped) {
            t->stopped = 1;
            x->nstopped++;
        }
        if (!known)
            sl_warn("table %s.%s is stopped (stored in the target) from offset %" PRId64
                    ": %s; its changes go to the dead-letter topic until it is resumed "
                    "(shiftlog tables --resume %s.%s) or dropped in the source", t->db,
                    t->name, s[i].offset, s[i].reason, t->db, t->name);
    }
    free(s);
    set_gauge(x);
    return SL_OK;
}

sl_err_t app_txn_resume(app_txn_t *x, const char *db, const char *table, char *errstr,
                        size_t errstr_size)
{
    table_t *t = app_txn_table_get(x, db, table, 0);
    if (x->cu && x->cu == t) {
        snprintf(errstr, errstr_size, "table %s.%s is catching up already", db, table);
        return SL_ERR_STATE;
    }
    if (!t || !t->stopped) {
        snprintf(errstr, errstr_size, "table %s.%s is not stopped", db, table);
        return SL_ERR_NOT_FOUND;
    }
    if (x->cu) {
        snprintf(errstr, errstr_size, "table %s.%s is catching up: resume %s.%s when it is "
                 "done (one at a time)", x->cu->db, x->cu->name, db, table);
        return SL_ERR_STATE;
    }
    app_txn_reset(x, x->has_committed ? &x->committed : NULL, -1);
    app_stop_t s = t->stop;
    /* nothing committed yet: everything is read again from the beginning */
    s.resume_to = x->has_committed ? x->committed.kafka_offset : -1;
    sl_err_t e;
    if (s.resume_to < 0)
        e = x->c.ops->stop_clear
                ? x->c.ops->stop_clear(x->c.target, db, table, errstr, errstr_size)
                : SL_OK;
    else
        e = save(x, &s, errstr, errstr_size);
    if (e)
        return e;
    if (s.resume_to < 0) {
        t->stopped = 0;
        x->nstopped--;
        set_gauge(x);
        sl_info("table %s.%s resumed: nothing is committed yet, reading from the beginning",
                db, table);
        return SL_OK;
    }
    t->stop = s;
    cu_begin(x, t);
    sl_info("table %s.%s resumed: reading its records again from offset %" PRId64 " up to "
            "offset %" PRId64 " (where the task stands), then as usual", db, table, s.offset,
            s.resume_to);
    return SL_OK;
}

int app_txn_catchup_from(const app_txn_t *x, int64_t *offset)
{
    if (!x->cu)
        return 0;
    *offset = x->cu->stop.offset;
    return 1;
}

unsigned app_txn_stops_version(const app_txn_t *x)
{
    return x->stops_ver;
}

static void json_stop(sl_buf_t *b, const table_t *t, const char *state, int64_t resume_to)
{
    char since[40] = "";
    time_t sec = (time_t)(t->stop.since_ms / 1000);
    struct tm tm;
    if (gmtime_r(&sec, &tm))
        strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    sl_buf_puts(b, "{\"db\":");
    sl_buf_json_str(b, t->db, strlen(t->db));
    sl_buf_puts(b, ",\"table\":");
    sl_buf_json_str(b, t->name, strlen(t->name));
    sl_buf_printf(b, ",\"state\":\"%s\",\"reason\":", state);
    sl_buf_json_str(b, t->stop.reason, strlen(t->stop.reason));
    sl_buf_printf(b, ",\"offset\":%" PRId64 ",\"source_position\":", t->stop.offset);
    sl_buf_json_str(b, t->stop.source_pos, strlen(t->stop.source_pos));
    if (resume_to >= 0)
        sl_buf_printf(b, ",\"resume_to\":%" PRId64, resume_to);
    sl_buf_printf(b, ",\"since\":\"%s\"}", since);
}

void app_txn_stops_json(const app_txn_t *x, sl_buf_t *out)
{
    int n = 0;
    sl_buf_puts(out, "[");
    for (int b = 0; b < 256; b++)
        for (const table_t *t = x->buckets[b]; t; t = t->next) {
            if (!t->stopped && x->cu != t)
                continue;
            if (n++)
                sl_buf_puts(out, ",");
            json_stop(out, t, x->cu == t ? "catching_up" : "stopped",
                      x->cu == t ? x->cu_end : -1);
        }
    sl_buf_puts(out, "]");
}

void app_txn_stops_names(const app_txn_t *x, sl_buf_t *out)
{
    for (int b = 0; b < 256; b++)
        for (const table_t *t = x->buckets[b]; t; t = t->next)
            if (t->stopped) {
                sl_buf_append(out, t->db, strlen(t->db) + 1);
                sl_buf_append(out, t->name, strlen(t->name) + 1);
            }
}
