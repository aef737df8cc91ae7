/* shiftlog-applier: the PostgreSQL target's lease (target.h, one active copy
 * per task). A connection of its own holds a session advisory lock on the
 * task (pg_try_advisory_lock on a 64-bit hash of "shiftlog:<task>"): the
 * server releases it when that connection ends — a kill -9 of the holder, a
 * network cut, pg_terminate_backend — and a standby's next try takes it.
 * The taker then raises the task's epoch in the `shiftlog_lease` row
 * (task, epoch, holder, taken_at); every position write checks that row
 * under FOR SHARE (app_pg_store_position, below), so a copy that lost the
 * lock without noticing stores nothing once another copy has taken over:
 * the raise waits for a position write in flight, and every later one sees
 * the new epoch. The lock is never on the apply connection, which the core closes
 * and reopens on errors (a reconnected connection would have lost it). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "sl_pos.h"
#include "target_pg.h"

struct app_lease_s {
    PGconn *conn;
    char   *task;
    int64_t epoch;
};

#define LEASE_KEY "hashtextextended('shiftlog:' || $1, 0)"

static sl_err_t lease_err(PGconn *conn, PGresult *res, const char *what, char *errstr,
                          size_t errstr_size)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    sl_err_t err = PQstatus(conn) == CONNECTION_BAD || !st ? SL_ERR_IO
                   : !strcmp(st, "42501") || !strncmp(st, "28", 2) ? SL_ERR_DENIED
                   : SL_ERR_DB;
    snprintf(errstr, errstr_size, "postgresql lease: %s: %s", what,
             res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    app_pg_one_line(errstr);
    PQclear(res);
    return err;
}

void app_pg_lease_drop(app_lease_t *l)
{
    if (!l)
        return;
    if (l->conn)
        PQfinish(l->conn);       /* the session ends: the lock is released */
    free(l->task);
    free(l);
}

sl_err_t app_pg_lease_take(app_lease_t **out, const app_target_conf_t *c, int64_t *epoch,
                           char *errstr, size_t errstr_size)
{
    char app[128], holder[300], host[128] = "?";
    const char *task = c->lease_task ? c->lease_task : c->task;
    PGresult *res = NULL;
    sl_err_t err;
    *out = NULL;
    app_lease_t *l = calloc(1, sizeof(*l));
    if (!l || !(l->task = strdup(task))) {
        free(l);
        return SL_ERR_NOMEM;
    }
    snprintf(app, sizeof(app), "shiftlog-lease/%.100s", task);
    if (!(l->conn = app_pg_connect(c, app, &err, errstr, errstr_size)))
        goto fail;
    res = PQexec(l->conn, "CREATE TABLE IF NOT EXISTS shiftlog_lease (task text PRIMARY KEY, "
                 "epoch bigint NOT NULL, holder text NOT NULL, "
                 "taken_at timestamptz NOT NULL DEFAULT now())");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        /* two copies creating it at once: one fails on the catalog's key, the next try
         * finds it */
        err = lease_err(l->conn, res, "creating the shiftlog_lease table", errstr, errstr_size);
        goto fail;
    }
    PQclear(res);
    const char *p1[1] = {task};
    res = PQexecParams(l->conn, "SELECT pg_try_advisory_lock(" LEASE_KEY "), (SELECT holder "
                       "|| ' since ' || taken_at FROM shiftlog_lease WHERE task = $1)",
                       1, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        err = lease_err(l->conn, res, "pg_try_advisory_lock", errstr, errstr_size);
        goto fail;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t")) {
        snprintf(errstr, errstr_size, "the lease of task %s is held by another copy (%s)", task,
                 PQgetisnull(res, 0, 1) ? "taking it now" : PQgetvalue(res, 0, 1));
        PQclear(res);
        err = SL_ERR_STATE;
        goto fail;
    }
    PQclear(res);
    gethostname(host, sizeof(host) - 1);
    snprintf(holder, sizeof(holder), "%s pid %ld", host, (long)getpid());
    const char *p2[2] = {task, holder};
    /* waits for a position write in flight of the copy before (FOR SHARE) */
    res = PQexecParams(l->conn, "INSERT INTO shiftlog_lease (task, epoch, holder) VALUES "
                       "($1, 1, $2) ON CONFLICT (task) DO UPDATE SET epoch = "
                       "shiftlog_lease.epoch + 1, holder = EXCLUDED.holder, taken_at = now() "
                       "RETURNING epoch", 2, NULL, p2, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        err = lease_err(l->conn, res, "raising the epoch in shiftlog_lease", errstr,
                        errstr_size);
        goto fail;
    }
    l->epoch = *epoch = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    *out = l;
    return SL_OK;
fail:
    app_pg_lease_drop(l);
    return err;
}

sl_err_t app_pg_lease_check(app_lease_t *l, char *errstr, size_t errstr_size)
{
    const char *p[1] = {l->task};
    PGresult *res = PQexecParams(l->conn, "SELECT epoch FROM shiftlog_lease WHERE task = $1",
                                 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* the lease connection is gone: so is the lock, whoever takes it next */
        sl_err_t err = lease_err(l->conn, res, "checking the lease", errstr, errstr_size);
        return err == SL_ERR_IO ? SL_ERR_FENCED : err;
    }
    int64_t now = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    if (now != l->epoch) {
        snprintf(errstr, errstr_size, "the lease of task %s was taken over (epoch %" PRId64
                 ", this copy holds %" PRId64 ")", l->task, now, l->epoch);
        return SL_ERR_FENCED;
    }
    return SL_OK;
}

/* Upserts the kafkaoffset row, fenced by the lease (target.h): the row is
 * written only while shiftlog_lease holds this copy's epoch (read FOR SHARE:
 * a takeover's raise waits for this transaction, and this write waits for
 * a raise in flight) and the row's epoch is not higher. Nothing written:
 * SL_ERR_FENCED. */
sl_err_t app_pg_store_position(pg_target_t *t, const app_position_t *pos, char *errstr,
                               size_t errstr_size)
{
    char part[16], ko[32], so[32], sp[160], ep[32];
    snprintf(part, sizeof(part), "%" PRId32, pos->partition);
    snprintf(ko, sizeof(ko), "%" PRId64, pos->kafka_offset);
    snprintf(so, sizeof(so), "%" PRId64, pos->sub_offset);
    snprintf(ep, sizeof(ep), "%" PRId64, t->epoch);
    sl_pos_format(&pos->source, sp, sizeof(sp));
    const char *p[8] = {t->task, pos->topic, part, ko, so, sp, ep, t->lease_task};
    static const char upd[] =
        " ON CONFLICT (task, topic, \"partition\") DO UPDATE SET "
        "kafka_offset = EXCLUDED.kafka_offset, sub_offset = EXCLUDED.sub_offset, "
        "source_position = EXCLUDED.source_position, updated_at = EXCLUDED.updated_at, "
        "epoch = EXCLUDED.epoch WHERE kafkaoffset.epoch <= EXCLUDED.epoch";
    char sql[1024];
    if (t->epoch == 0)      /* no lease (tools, tests): unfenced */
        snprintf(sql, sizeof(sql), "INSERT INTO kafkaoffset (task, topic, \"partition\", "
                 "kafka_offset, sub_offset, source_position, updated_at, epoch) VALUES ($1, $2, "
                 "$3, $4, $5, $6, now(), $7)%s", upd);
    else
        snprintf(sql, sizeof(sql), "INSERT INTO kafkaoffset (task, topic, \"partition\", "
                 "kafka_offset, sub_offset, source_position, updated_at, epoch) SELECT $1, $2, "
                 "$3::integer, $4::bigint, $5::bigint, $6, now(), $7::bigint FROM shiftlog_lease "
                 "WHERE task = $8 AND epoch = $7::bigint FOR SHARE%s", upd);
    PGresult *res = PQexecParams(t->conn, sql, t->epoch ? 8 : 7, NULL, p, NULL, NULL, 0);
    int stored = PQresultStatus(res) == PGRES_COMMAND_OK && !strcmp(PQcmdTuples(res), "1");
    sl_err_t err = app_pg_check(t, res, "storing the position in kafkaoffset", errstr,
                                errstr_size);
    if (err || stored)
        return err;
    snprintf(errstr, errstr_size, "postgresql: position write of task %s fenced: epoch %" PRId64
             " is stale, another copy has taken the task's lease over", t->task, t->epoch);
    return SL_ERR_FENCED;      /* the core rolls back and stands by */
}
