/* shiftlog-applier: the PostgreSQL target's connection: open (session
 * settings, the kafkaoffset table), close, the stored position, and the
 * command helpers every PostgreSQL file uses — errors classified (connection
 * loss and SQLSTATE 08/40/53/57: SL_ERR_IO, the core reconnects and
 * replays; others SL_ERR_DB), and the wait for the one batch statement that
 * may be in flight (every synchronous command waits for it first). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "sl_pgconn.h"
#include "sl_tls.h"
#include "sl_buf.h"
#include "sl_log.h"
#include "target_pg.h"

/* ------------------------------------------------------------- helpers */

static sl_err_t classify(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) == CONNECTION_BAD)
        return SL_ERR_IO;
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!st)
        return SL_ERR_IO;
    /* refused for good: 28 invalid authorization, 3D000 no such database,
     * 42501 insufficient privilege */
    if (!strncmp(st, "28", 2) || !strcmp(st, "3D000") || !strcmp(st, "42501"))
        return SL_ERR_DENIED;
    /* 55P03 lock_not_available: lock_timeout of a parallel worker */
    if (!strncmp(st, "08", 2) || !strncmp(st, "40", 2) || !strncmp(st, "53", 2) ||
        !strncmp(st, "57", 2) || !strcmp(st, "55P03"))
        return SL_ERR_IO;
    return SL_ERR_DB;
}

void app_pg_one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
}

/* Runs a command; SL_OK or the classified error with "what: server message". */
sl_err_t app_pg_check(pg_target_t *t, PGresult *res, const char *what, char *errstr,
                      size_t errstr_size)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return SL_OK;
    }
    sl_err_t err = classify(t->conn, res);
    snprintf(errstr, errstr_size, "postgresql: %s: %s%s", what,
             res ? PQresultErrorMessage(res) : PQerrorMessage(t->conn),
             err == SL_ERR_IO ? " (connection lost or transient)" : "");
    app_pg_one_line(errstr);
    PQclear(res);
    return err;
}

sl_err_t app_pg_wait(pg_target_t *t, char *errstr, size_t errstr_size)
{
    if (!t->inflight)
        return SL_OK;
    t->inflight = 0;
    PGresult *res = PQgetResult(t->conn), *more;
    while ((more = PQgetResult(t->conn)))     /* drain: libpq is idle after NULL */
        PQclear(more);
    return app_pg_check(t, res, t->inflight_what, errstr, errstr_size);
}

sl_err_t app_pg_exec(pg_target_t *t, const char *sql, const char *what, char *errstr,
                     size_t errstr_size)
{
    sl_err_t err = app_pg_wait(t, errstr, errstr_size);
    if (err)
        return err;
    return app_pg_check(t, PQexec(t->conn, sql), what, errstr, errstr_size);
}

sl_err_t app_pg_quote(pg_target_t *t, sl_buf_t *out, const char *name, char *errstr,
                      size_t errstr_size)
{
    char *q = PQescapeIdentifier(t->conn, name, strlen(name));
    if (!q) {
        snprintf(errstr, errstr_size, "postgresql: cannot quote identifier: %s",
                 PQerrorMessage(t->conn));
        app_pg_one_line(errstr);
        return SL_ERR_INVALID;
    }
    sl_err_t e = sl_buf_puts(out, q);
    PQfreemem(q);
    return e;
}

char *app_pg_quoted_dup(pg_target_t *t, const char *name, char *errstr, size_t errstr_size)
{
    char *q = PQescapeIdentifier(t->conn, name, strlen(name));
    if (!q) {
        snprintf(errstr, errstr_size, "postgresql: cannot quote identifier");
        return NULL;
    }
    char *d = strdup(q);
    PQfreemem(q);
    return d;
}

static void notice(void *arg, const char *msg)
{
    sl_debug("postgresql: %s", msg);
}

/* ------------------------------------------------------------- ops */

/* The table cache is not this file's: target_pg.c frees it first
 * (app_pg_tabs_free), and open() has none yet. */
void app_pg_close(pg_target_t *t)
{
    if (!t)
        return;
    if (t->conn)
        PQfinish(t->conn);
    sl_buf_free(&t->sql);
    sl_buf_free(&t->tmp);
    sl_buf_free(&t->arr);
    free(t->pv);
    free(t->plen);
    free(t->src_of_w);
    free(t->cols);
    free(t->task);
    free(t->lease_task);
    free(t);
}

/* Where the unqualified kafkaoffset of this session lives (search_path:
 * usually public): a replicated table mapped there is refused. */
static sl_err_t position_schema(pg_target_t *t, char *errstr, size_t errstr_size)
{
    sl_err_t err = app_pg_wait(t, errstr, errstr_size);
    if (err)
        return err;
    PGresult *res = PQexec(t->conn, "SELECT n.nspname FROM pg_catalog.pg_class c "
                                    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                                    "WHERE c.oid = 'kafkaoffset'::regclass");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return app_pg_check(t, res, "finding the kafkaoffset table", errstr, errstr_size);
    if (PQntuples(res) != 1) {
        PQclear(res);
        snprintf(errstr, errstr_size, "postgresql: the kafkaoffset table just created is "
                 "not found");
        return SL_ERR_DB;
    }
    snprintf(t->pos_schema, sizeof(t->pos_schema), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return SL_OK;
}

sl_err_t app_pg_check_name(app_target_t *at, const char *schema, const char *table,
                           char *errstr, size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    /* shiftlog_lease (target_pg_lease.c) and shiftlog_stopped (target_pg_stops.c) are
     * created beside kafkaoffset */
    const char *what = !strcmp(table, "kafkaoffset") ? "position"
                       : !strcmp(table, "shiftlog_lease") ? "lease"
                       : !strcmp(table, APP_STOPS_TABLE) ? "stopped-tables" : NULL;
    if (!what || strcmp(schema, t->pos_schema))
        return SL_OK;
    snprintf(errstr, errstr_size,
             "postgresql target: \"%s\".\"%s\" is this target's %s table, where the tasks "
             "store their %s: a replicated table cannot be written there; map it to another "
             "name with map.tables", schema, table, what,
             *what == 'p' ? "positions" : *what == 'l' ? "leases" : "stopped tables");
    return SL_ERR_UNSUPPORTED;
}

PGconn *app_pg_connect(const app_target_conf_t *c, const char *appname, sl_err_t *err,
                       char *errstr, size_t errstr_size)
{
    char port[16], hint[300], msg[1024];
    snprintf(port, sizeof(port), "%d", c->port);
    sl_pgconn_t pc = {.host = c->host, .port = port, .user = c->user, .password = c->password,
                      .dbname = c->database, .application_name = appname,
                      .keepalives_idle = "10", .connect_timeout = 5,
                      .tls = {c->tls_mode, c->tls_ca, c->tls_cert, c->tls_key},
                      .tls_prefix = "target"};
    PGconn *conn;
    if (!(*err = sl_pgconn_open(&pc, &conn, msg, sizeof msg, hint, sizeof hint))) {
        PQsetNoticeProcessor(conn, notice, NULL);
        return conn;
    }
    /* a TLS refusal (certificate, hostssl only) is for good too, and says which key */
    snprintf(errstr, errstr_size, "postgresql %s:%d database \"%s\" as %s: %s%s", c->host,
             c->port, c->database, c->user, msg,
             hint[0] ? hint : *err == SL_ERR_DENIED ? " (refused by the server: check "
             "target.user, target.password, target.database and the user's privileges)" : "");
    app_pg_one_line(errstr);
    return NULL;
}

sl_err_t app_pg_open(pg_target_t **out, const app_target_conf_t *c, char *errstr,
                     size_t errstr_size)
{
    char app[128];
    sl_err_t err;
    *out = NULL;
    pg_target_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->task = strdup(c->task))) {
        free(t);
        return SL_ERR_NOMEM;
    }
    static int gen;
    t->gen = ++gen;
    t->create_tables = c->create_tables;
    t->ddl_apply = c->ddl_apply;
    t->on_unconvertible = c->on_unconvertible;
    t->write_batch = c->write_batch;
    t->epoch = c->epoch;
    if (!(t->lease_task = strdup(c->lease_task ? c->lease_task : c->task))) {
        app_pg_close(t);
        return SL_ERR_NOMEM;
    }
    snprintf(app, sizeof(app), "shiftlog-applier/%.100s", c->task);
    if (!(t->conn = app_pg_connect(c, app, &err, errstr, errstr_size))) {
        app_pg_close(t);
        return err;
    }
    if ((err = app_pg_exec(t, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
                       "SET IntervalStyle = 'postgres'; SET extra_float_digits = 3",
                    "session settings", errstr, errstr_size)))
        goto fail;
    /* parallel workers (worker_num > 1): a wait on another worker's lock (a
     * unique key other than the primary key, a foreign key) ends in 5 s and
     * the core replays, instead of waiting for a commit that waits for it */
    if (c->workers > 1 && (err = app_pg_exec(t, "SET lock_timeout = '5s'", "lock_timeout",
                                             errstr, errstr_size)))
        goto fail;
    for (int attempt = 0;; attempt++) {
        err = app_pg_exec(t, "CREATE TABLE IF NOT EXISTS kafkaoffset ("
                      "task text NOT NULL, topic text NOT NULL, \"partition\" integer NOT NULL, "
                      "kafka_offset bigint NOT NULL, sub_offset bigint NOT NULL, "
                      "source_position text, updated_at timestamptz NOT NULL DEFAULT now(), "
                      "epoch bigint NOT NULL DEFAULT 0, "
                      "PRIMARY KEY (task, topic, \"partition\"))",
                   "creating the kafkaoffset table", errstr, errstr_size);
        if (!err || attempt > 2 || err == SL_ERR_IO || err == SL_ERR_DENIED)
            break;     /* a concurrent creation may collide once */
    }
    if (err || (err = position_schema(t, errstr, errstr_size)))
        goto fail;
    /* a kafkaoffset table of a version before leases: its rows get the
     * epoch column (checked first: ALTER TABLE locks the table even when
     * the column exists, and the other workers may be committing) */
    PGresult *res = PQexec(t->conn, "SELECT 1 FROM pg_attribute WHERE attrelid = "
                           "'kafkaoffset'::regclass AND attname = 'epoch' AND NOT attisdropped");
    int has_epoch = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if ((err = app_pg_check(t, res, "looking for kafkaoffset.epoch", errstr, errstr_size)))
        goto fail;
    if (!has_epoch &&
        (err = app_pg_exec(t, "ALTER TABLE kafkaoffset ADD COLUMN IF NOT EXISTS epoch bigint "
                           "NOT NULL DEFAULT 0", "adding kafkaoffset.epoch", errstr,
                           errstr_size)))
        goto fail;
    *out = t;
    return SL_OK;
fail:
    app_pg_close(t);
    return err == SL_ERR_IO ? SL_ERR_DB : err;
}

sl_err_t app_pg_load_position(app_target_t *at, const char *topic, int32_t partition,
                              app_position_t *pos, char *errstr, size_t errstr_size)
{
    pg_target_t *t = (pg_target_t *)at;
    char part[16];
    snprintf(part, sizeof(part), "%" PRId32, partition);
    const char *p[3] = {t->task, topic, part};
    sl_err_t err = app_pg_wait(t, errstr, errstr_size);
    if (err)
        return err;
    PGresult *res = PQexecParams(t->conn,
                                 "SELECT kafka_offset, sub_offset, source_position FROM "
                                 "kafkaoffset WHERE task = $1 AND topic = $2 AND "
                                 "\"partition\" = $3",
                                 3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return app_pg_check(t, res, "reading the stored position", errstr, errstr_size);
    if (PQntuples(res) == 0) {
        PQclear(res);
        snprintf(errstr, errstr_size, "no stored position for task %s on %s [%d]", t->task,
                 topic, partition);
        return SL_ERR_NOT_FOUND;
    }
    memset(pos, 0, sizeof(*pos));
    snprintf(pos->topic, sizeof(pos->topic), "%s", topic);
    pos->partition = partition;
    pos->kafka_offset = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    pos->sub_offset = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    if (!PQgetisnull(res, 0, 2) && *PQgetvalue(res, 0, 2))
        err = sl_pos_parse(PQgetvalue(res, 0, 2), &pos->source, errstr, errstr_size);
    PQclear(res);
    return err ? SL_ERR_DB : SL_OK;
}
