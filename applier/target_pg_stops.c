/* shiftlog-applier: the PostgreSQL target's stopped tables (target.h,
 * stops_load / stop_save / stop_clear): the table shiftlog_stopped beside
 * kafkaoffset (unqualified: the session's search_path puts both in the
 * same schema). Inside an open transaction a statement joins it; outside,
 * PostgreSQL commits it at once (autocommit). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target_pg.h"

static sl_err_t ensure_table(pg_target_t *t, char *errstr, size_t errstr_size)
{
    sl_err_t err = SL_OK;
    if (t->stops_ready)
        return SL_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        err = app_pg_exec(t, "CREATE TABLE IF NOT EXISTS " APP_STOPS_TABLE " ("
                          "task text NOT NULL, source_db text NOT NULL, "
                          "source_table text NOT NULL, reason text NOT NULL, "
                          "kafka_offset bigint NOT NULL, source_position text NOT NULL, "
                          "resume_to bigint NOT NULL DEFAULT -1, "
                          "since timestamptz NOT NULL, "
                          "PRIMARY KEY (task, source_db, source_table))",
                          "creating the " APP_STOPS_TABLE " table", errstr, errstr_size);
        if (!err || err == SL_ERR_IO || t->in_txn)
            break;          /* a concurrent creation may collide once */
    }
    t->stops_ready = !err && !t->in_txn;   /* in a transaction: until it commits */
    return err;
}

sl_err_t app_pg_stops_load(app_target_t *at, app_stop_t **out, size_t *n, char *errstr,
                           size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    *out = NULL;
    *n = 0;
    sl_err_t err = ensure_table(t, errstr, errstr_size);
    if (err)
        return err;
    const char *p[1] = {t->task};
    PGresult *res = PQexecParams(t->conn,
                                 "SELECT source_db, source_table, reason, kafka_offset, "
                                 "source_position, resume_to, "
                                 "(extract(epoch FROM since) * 1000)::bigint FROM "
                                 APP_STOPS_TABLE " WHERE task = $1 ORDER BY since",
                                 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return app_pg_check(t, res, "reading the stopped tables", errstr, errstr_size);
    int rows = PQntuples(res);
    app_stop_t *s = rows ? calloc((size_t)rows, sizeof(*s)) : NULL;
    if (rows && !s) {
        PQclear(res);
        return SL_ERR_NOMEM;
    }
    for (int i = 0; i < rows; i++) {
        snprintf(s[i].db, sizeof(s[i].db), "%s", PQgetvalue(res, i, 0));
        snprintf(s[i].table, sizeof(s[i].table), "%s", PQgetvalue(res, i, 1));
        snprintf(s[i].reason, sizeof(s[i].reason), "%s", PQgetvalue(res, i, 2));
        s[i].offset = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        snprintf(s[i].source_pos, sizeof(s[i].source_pos), "%s", PQgetvalue(res, i, 4));
        s[i].resume_to = strtoll(PQgetvalue(res, i, 5), NULL, 10);
        s[i].since_ms = strtoll(PQgetvalue(res, i, 6), NULL, 10);
    }
    PQclear(res);
    *out = s;
    *n = (size_t)rows;
    return SL_OK;
}

sl_err_t app_pg_stop_save(app_target_t *at, const app_stop_t *s, char *errstr,
                          size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    char off[24], to[24], since[24];
    snprintf(off, sizeof(off), "%" PRId64, s->offset);
    snprintf(to, sizeof(to), "%" PRId64, s->resume_to);
    snprintf(since, sizeof(since), "%" PRId64, s->since_ms);
    const char *p[8] = {t->task, s->db, s->table, s->reason, off, s->source_pos, to, since};
    sl_err_t err = ensure_table(t, errstr, errstr_size);
    if (err)
        return err;
    return app_pg_check(t, PQexecParams(t->conn,
                        "INSERT INTO " APP_STOPS_TABLE " (task, source_db, source_table, "
                        "reason, kafka_offset, source_position, resume_to, since) VALUES "
                        "($1, $2, $3, $4, $5, $6, $7, to_timestamp($8::bigint / 1000.0)) "
                        "ON CONFLICT (task, source_db, source_table) DO UPDATE SET "
                        "reason = EXCLUDED.reason, kafka_offset = EXCLUDED.kafka_offset, "
                        "source_position = EXCLUDED.source_position, "
                        "resume_to = EXCLUDED.resume_to, since = EXCLUDED.since",
                        8, NULL, p, NULL, NULL, 0),
                        "storing the stop of a table", errstr, errstr_size);
}

sl_err_t app_pg_stop_clear(app_target_t *at, const char *db, const char *table, char *errstr,
                           size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    const char *p[3] = {t->task, db, table};
    sl_err_t err = ensure_table(t, errstr, errstr_size);
    if (err)
        return err;
    return app_pg_check(t, PQexecParams(t->conn,
                        "DELETE FROM " APP_STOPS_TABLE " WHERE task = $1 AND source_db = $2 "
                        "AND source_table = $3", 3, NULL, p, NULL, NULL, 0),
                        "clearing the stop of a table", errstr, errstr_size);
}

/* ------------------------------------------- direct tasks' progress */

sl_err_t app_pg_progress_load(app_target_t *at, char **out, char *errstr, size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    const char *p[1] = {t->task};
    sl_err_t err = app_pg_exec(t, "CREATE TABLE IF NOT EXISTS " APP_DIRECT_TABLE " ("
                               "task text PRIMARY KEY, progress text NOT NULL, "
                               "updated_at timestamptz NOT NULL DEFAULT now())",
                               "creating the " APP_DIRECT_TABLE " table", errstr, errstr_size);
    *out = NULL;
    if (err)
        return err;
    PGresult *res = PQexecParams(t->conn, "SELECT progress FROM " APP_DIRECT_TABLE
                                 " WHERE task = $1", 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return app_pg_check(t, res, "reading the direct task's progress", errstr, errstr_size);
    if (PQntuples(res) && !(*out = strdup(PQgetvalue(res, 0, 0))))
        err = SL_ERR_NOMEM;
    PQclear(res);
    return err;
}

sl_err_t app_pg_progress_save(app_target_t *at, const char *text, char *errstr,
                              size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    const char *p[2] = {t->task, text};
    /* the last batch of rows may still be in flight: collect its result first */
    sl_err_t err = app_pg_wait(t, errstr, errstr_size);
    if (err)
        return err;
    return app_pg_check(t, PQexecParams(t->conn,
                        "INSERT INTO " APP_DIRECT_TABLE " (task, progress) VALUES ($1, $2) "
                        "ON CONFLICT (task) DO UPDATE SET progress = EXCLUDED.progress, "
                        "updated_at = now()", 2, NULL, p, NULL, NULL, 0),
                        "storing the direct task's progress", errstr, errstr_size);
}
