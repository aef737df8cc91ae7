/* shiftlog-applier: the PostgreSQL target's lease (target.h, one active copy
 * per task). A connection of its own holds a session advisory lock on the
 * task (pg_try_advisory_lock on a 64-bit hash of "shiftlog:<task>"): the
 * server releases it when that connection ends — a kill -9 of the holder, a
 * network cut, pg_terminate_backend — and a standby's next try takes it.
 * The taker then raises the task's epoch in the `shiftlog_lease` row
 * (task, epoch, holder, taken_at); every position write checks that row
 * under FOR SHARE (target_pg.c), so a copy that lost the lock without
 * noticing stores nothing once another copy has taken over: the raise
 * waits for a position write in flight, and every later one sees the new
 * epoch. The lock is never on the apply connection, which the core closes
 * and reopens on errors (a reconnected connection would have lost it). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>

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
