/* shiftlog-collector: the source's log retention, measured on a thread of
 * its own (col_retain.h). */
#include "col_retain.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <mysql.h>

#include "mysql_source.h"
#include "pg_source.h"
#include "sl_log.h"

struct col_retain_s {
    const col_conf_t *conf;
    sl_metrics_t     *metrics;
    pthread_t         thread;
    pthread_mutex_t   lock;
    pthread_cond_t    cond;
    int               stop;
    int               have_ckpt;
    sl_pos_t          ckpt;          /* under lock */
    /* the thread's own */
    PGconn           *pg;
    MYSQL            *my;
    int               warned, was_at_risk;
    sl_metric_t      *m_retained, *m_at_risk, *m_safe, *m_expire;
};

/* One look's result. */
typedef struct look_s {
    double retained;
    int    at_risk;
    int    has_safe;
    double safe;
    int    has_expire;
    double expire_s;
    char   why[300];          /* what puts it at risk, for the log */
} look_t;

void col_retain_checkpoint(col_retain_t *r, const sl_pos_t *ckpt)
{
    if (!r || !ckpt)
        return;
    pthread_mutex_lock(&r->lock);
    r->ckpt = *ckpt;
    r->have_ckpt = 1;
    pthread_mutex_unlock(&r->lock);
}

/* PostgreSQL: the slot's retained WAL. SL_ERR_NOT_FOUND while there is no
 * slot yet (the collector creates it at its first start). */
static sl_err_t look_pg(col_retain_t *r, look_t *l, char *errstr, size_t errstr_size)
{
    if (!r->pg || PQstatus(r->pg) != CONNECTION_OK) {
        PQfinish(r->pg);
        r->pg = NULL;
        sl_err_t err = pg_connect(r->conf, 0, &r->pg, errstr, errstr_size);
        if (err)
            return err;
    }
    const char *p[1] = {r->conf->source_slot};
    PGresult *res = PQexecParams(r->pg,
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, wal_status, "
        "safe_wal_size FROM pg_replication_slots WHERE slot_name = $1", 1, NULL, p, NULL,
        NULL, 0);
    sl_err_t err = SL_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *m = PQresultErrorMessage(res);
        snprintf(errstr, errstr_size, "pg_replication_slots: %.*s", (int)strcspn(m, "\n"), m);
        err = SL_ERR_DB;
        goto out;
    }
    if (PQntuples(res) != 1) {
        err = SL_ERR_NOT_FOUND;
        goto out;
    }
    const char *st = PQgetvalue(res, 0, 1);
    /* restart_lsn is NULL once the slot is lost: everything is at risk then */
    l->retained = PQgetisnull(res, 0, 0) ? 0.0 : strtod(PQgetvalue(res, 0, 0), NULL);
    l->at_risk = !strcmp(st, "unreserved") || !strcmp(st, "lost");
    if ((l->has_safe = !PQgetisnull(res, 0, 2)))
        l->safe = strtod(PQgetvalue(res, 0, 2), NULL);
    snprintf(l->why, sizeof l->why, "slot \"%s\" has wal_status %s (past "
             "max_slot_wal_keep_size: the next checkpoint removes WAL it needs)",
             r->conf->source_slot, st);
out:
    PQclear(res);
    return err;
}

/* MariaDB/MySQL: the binlog expiry in seconds (0: none). */
static double my_expire_s(MYSQL *m)
{
    double s = 0.0;
    const char *qs[] = {"SELECT @@GLOBAL.binlog_expire_logs_seconds",
                        "SELECT @@GLOBAL.expire_logs_days * 86400"};
    for (size_t i = 0; i < 2 && s <= 0.0; i++) {
        if (mysql_query(m, qs[i]))
            continue;                    /* the server does not have this one */
        MYSQL_RES *res = mysql_store_result(m);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (row && row[0])
            s = strtod(row[0], NULL);
        mysql_free_result(res);
    }
    return s;
}

/* MariaDB/MySQL: the binlog bytes from the checkpoint on. SL_ERR_NOT_FOUND
 * while this process has no checkpoint (it reads it from Kafka). */
static sl_err_t look_my(col_retain_t *r, look_t *l, char *errstr, size_t errstr_size)
{
    sl_pos_t ck;
    pthread_mutex_lock(&r->lock);
    int have = r->have_ckpt && r->ckpt.file[0];
    ck = r->ckpt;
    pthread_mutex_unlock(&r->lock);
    if (!have)
        return SL_ERR_NOT_FOUND;
    if (!r->my) {
        int fatal;
        if (!(r->my = col_my_connect(r->conf, errstr, errstr_size, &fatal)))
            return SL_ERR_DB;
    }
    MYSQL_RES *res = col_my_query(r->my, "SHOW BINARY LOGS", errstr, errstr_size);
    if (!res) {
        mysql_close(r->my);              /* reconnect at the next look */
        r->my = NULL;
        return SL_ERR_DB;
    }
    char oldest[SL_POS_FILE_MAX] = "", newest[SL_POS_FILE_MAX] = "";
    int found = 0;
    double bytes = 0.0;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        if (!row[0])
            continue;
        if (!oldest[0])
            snprintf(oldest, sizeof oldest, "%s", row[0]);
        snprintf(newest, sizeof newest, "%s", row[0]);
        /* the names of one server sort like their sequence (zero-padded) */
        if (strcmp(row[0], ck.file) >= 0)
            bytes += row[1] ? strtod(row[1], NULL) : 0.0;
        found |= !strcmp(row[0], ck.file);
    }
    mysql_free_result(res);
    l->has_expire = 1;
    l->expire_s = my_expire_s(r->my);
    l->retained = bytes > (double)ck.offset ? bytes - (double)ck.offset : 0.0;
    if (!found) {
        l->at_risk = 1;
        snprintf(l->why, sizeof l->why, "the checkpoint's binlog %s is no longer on the server "
                 "(oldest: %s)", ck.file, oldest[0] ? oldest : "none");
    } else if (l->expire_s > 0 && !strcmp(ck.file, oldest) && strcmp(ck.file, newest)) {
        l->at_risk = 1;
        snprintf(l->why, sizeof l->why, "the checkpoint's binlog %s is the oldest on the "
                 "server and no longer written: the next expiry purge (%.0f s) removes it",
                 ck.file, l->expire_s);
    }
    return SL_OK;
}

static void publish(col_retain_t *r, const look_t *l)
{
    if (!r->m_retained) {
        r->m_retained = sl_metrics_gauge(r->metrics,
            "shiftlog_collector_source_log_retained_bytes",
            "Bytes of change log (binlog, WAL) the source keeps for this collector.", NULL);
        r->m_at_risk = sl_metrics_gauge(r->metrics, "shiftlog_collector_source_log_at_risk",
            "1 when the source is about to drop (or dropped) change log the collector still "
            "needs.", NULL);
    }
    if (l->has_safe && !r->m_safe)
        r->m_safe = sl_metrics_gauge(r->metrics, "shiftlog_collector_source_log_safe_bytes",
            "PostgreSQL: WAL that can still be written before the slot loses some "
            "(safe_wal_size; max_slot_wal_keep_size set).", NULL);
    if (l->has_expire && !r->m_expire)
        r->m_expire = sl_metrics_gauge(r->metrics,
            "shiftlog_collector_source_log_expire_seconds",
            "MariaDB/MySQL: the binlog expiry (binlog_expire_logs_seconds), 0 = none.", NULL);
    sl_metric_set(r->m_retained, l->retained);
    sl_metric_set(r->m_at_risk, l->at_risk);
    if (l->has_safe)
        sl_metric_set(r->m_safe, l->safe);
    if (l->has_expire)
        sl_metric_set(r->m_expire, l->expire_s);
    if (l->at_risk && !r->was_at_risk)
        sl_warn("source \"%s\": change log retention at risk: %s (%.0f bytes retained)",
                r->conf->source_name, l->why, l->retained);
    else if (!l->at_risk && r->was_at_risk)
        sl_info("source \"%s\": change log retention no longer at risk", r->conf->source_name);
    r->was_at_risk = l->at_risk;
}

static void look(col_retain_t *r)
{
    char errstr[600] = "";
    look_t l;
    memset(&l, 0, sizeof l);
    sl_err_t err = r->conf->source_type == COL_SOURCE_POSTGRESQL
                       ? look_pg(r, &l, errstr, sizeof errstr)
                       : look_my(r, &l, errstr, sizeof errstr);
    if (err == SL_ERR_NOT_FOUND)
        return;                          /* nothing to measure yet */
    if (err) {
        if (!r->warned)
            sl_warn("source \"%s\": cannot measure the change log's retention: %s",
                    r->conf->source_name, errstr);
        r->warned = 1;
        return;
    }
    r->warned = 0;
    publish(r, &l);
}

static void *run(void *arg)
{
    col_retain_t *r = arg;
    mysql_thread_init();
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        pthread_mutex_unlock(&r->lock);
        look(r);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (r->conf->retention_interval_ms % 1000) * 1000000;
        until.tv_sec += r->conf->retention_interval_ms / 1000 + ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        pthread_mutex_lock(&r->lock);
        while (!r->stop && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&r->lock);
    PQfinish(r->pg);
    if (r->my)
        mysql_close(r->my);
    mysql_thread_end();
    return NULL;
}

col_retain_t *col_retain_start(const col_conf_t *conf, sl_metrics_t *metrics)
{
    if (conf->retention_interval_ms <= 0)
        return NULL;
    col_retain_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->conf = conf;
    r->metrics = metrics;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (pthread_create(&r->thread, NULL, run, r)) {
        sl_warn("source \"%s\": cannot start the retention thread; no retention metrics",
                conf->source_name);
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
    }
    return r;
}

void col_retain_stop(col_retain_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
