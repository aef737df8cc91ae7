/* shiftlog-applier: the MySQL / MariaDB target's lease (target.h, one
 * active copy per task). A connection of its own holds GET_LOCK on
 * "shiftlog:<task>" (names over 64 characters: "shiftlog:" + SHA1 of the
 * task); the server releases it when that connection ends (kill -9 of the
 * holder, a network cut, KILL <id>), and a standby's next try takes it.
 * The taker raises the task's epoch in `shiftlog_lease` (task, epoch,
 * holder, taken_at) in the target database; every position write reads
 * that row LOCK IN SHARE MODE in its own transaction (app_my_lease_fence),
 * so a copy that lost the lock without noticing stores nothing once
 * another copy has taken over; app_my_add_epoch gives a kafkaoffset table
 * of an earlier version its epoch column. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target_mysql.h"

struct app_lease_s {
    MYSQL  *db;
    char   *task;
    int64_t epoch;
};

#define LOCK_NAME "IF(CHAR_LENGTH(CONCAT('shiftlog:', ?)) <= 64, CONCAT('shiftlog:', ?), " \
                  "CONCAT('shiftlog:', SHA1(?)))"

static void one_value(void *ctx, char **cols, unsigned long *lens)
{
    (void)lens;
    snprintf(ctx, 256, "%s", cols[0]);
}

static void two_values(void *ctx, char **cols, unsigned long *lens)
{
    (void)lens;
    snprintf(ctx, 256, "%s", cols[0]);
    snprintf((char *)ctx + 256, 256, "%s", cols[1]);
}

void app_my_lease_drop(app_lease_t *l)
{
    if (!l)
        return;
    if (l->db)
        mysql_close(l->db);      /* the session ends: GET_LOCK is released */
    free(l->task);
    free(l);
}

sl_err_t app_my_lease_take(app_lease_t **out, const app_target_conf_t *c, int64_t *epoch,
                           char *errstr, size_t sz)
{
    static const char tab[] =
        "CREATE TABLE IF NOT EXISTS `shiftlog_lease` (`task` VARCHAR(255) NOT NULL PRIMARY KEY, "
        "`epoch` BIGINT NOT NULL, `holder` VARCHAR(255) NOT NULL, "
        "`taken_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
    const char *task = c->lease_task ? c->lease_task : c->task;
    char got[512] = "", host[128] = "?", holder[300];
    sl_buf_t q = SL_BUF_INIT;
    sl_err_t e;
    *out = NULL;
    /* the connection settings of the target (app_my_connect reads these) */
    my_target_t conn = {.host = (char *)(c->host ? c->host : "127.0.0.1"),
                        .user = (char *)c->user, .password = (char *)c->password,
                        .tls_ca = (char *)c->tls_ca, .tls_cert = (char *)c->tls_cert,
                        .tls_key = (char *)c->tls_key, .tls_mode = c->tls_mode,
                        .port = c->port > 0 ? c->port : 3306};
    const char *dbname = c->database && *c->database ? c->database : "shiftlog";
    app_lease_t *l = calloc(1, sizeof(*l));
    if (!l || !(l->task = strdup(task))) {
        free(l);
        return SL_ERR_NOMEM;
    }
    if ((e = app_my_connect(&conn, &l->db, 1, errstr, sz)))
        goto fail;
    sl_buf_puts(&q, "CREATE DATABASE IF NOT EXISTS ");
    if ((e = app_my_ident(&q, dbname, errstr, sz)) ||
        (e = app_my_exec(l->db, q.data, q.len, "create database", errstr, sz)))
        goto fail;
    if (mysql_select_db(l->db, dbname) != 0) {
        e = app_my_err(l->db, "use database", errstr, sz);
        goto fail;
    }
    if ((e = app_my_exec(l->db, tab, sizeof tab - 1, "create table shiftlog_lease", errstr,
                         sz)))
        goto fail;
    const char *pv[3] = {task, task, task};
    if ((e = app_my_select(l->db, "SELECT GET_LOCK(" LOCK_NAME ", 0)", 3, pv, 1, one_value,
                           got, errstr, sz)))
        goto fail;
    if (strcmp(got, "1")) {
        const char *p1[1] = {task};
        got[0] = got[256] = '\0';
        app_my_select(l->db, "SELECT `holder`, `taken_at` FROM `shiftlog_lease` WHERE "
                      "`task`=?", 1, p1, 2, two_values, got, errstr, sz);
        snprintf(errstr, sz, "the lease of task %s is held by another copy (%s%s%s)", task,
                 *got ? got : "taking it now", *got ? " since " : "", got + 256);
        e = SL_ERR_STATE;
        goto fail;
    }
    gethostname(host, sizeof(host) - 1);
    snprintf(holder, sizeof(holder), "%s pid %ld", host, (long)getpid());
    sl_buf_reset(&q);
    sl_buf_puts(&q, "INSERT INTO `shiftlog_lease` (`task`, `epoch`, `holder`) VALUES ('");
    char esc[2 * 300 + 1];
    mysql_real_escape_string(l->db, esc, task, (unsigned long)strlen(task) > 300 ? 300
                             : (unsigned long)strlen(task));
    sl_buf_puts(&q, esc);
    sl_buf_puts(&q, "', 1, '");
    mysql_real_escape_string(l->db, esc, holder, (unsigned long)strlen(holder));
    sl_buf_puts(&q, esc);
    /* waits for a position write in flight of the copy before (share lock) */
    sl_buf_puts(&q, "') ON DUPLICATE KEY UPDATE `epoch` = `epoch` + 1, `holder` = "
                    "VALUES(`holder`), `taken_at` = CURRENT_TIMESTAMP(6)");
    if ((e = app_my_exec(l->db, q.data, q.len, "raising the epoch in shiftlog_lease", errstr,
                         sz)))
        goto fail;
    const char *p1[1] = {task};
    got[0] = '\0';
    if ((e = app_my_select(l->db, "SELECT `epoch` FROM `shiftlog_lease` WHERE `task`=?", 1, p1,
                           1, one_value, got, errstr, sz)))
        goto fail;
    l->epoch = *epoch = strtoll(got, NULL, 10);
    sl_buf_free(&q);
    *out = l;
    return SL_OK;
fail:
    sl_buf_free(&q);
    app_my_lease_drop(l);
    return e;
}

sl_err_t app_my_lease_check(app_lease_t *l, char *errstr, size_t sz)
{
    char got[512] = "";
    const char *p1[1] = {l->task};
    sl_err_t e = app_my_select(l->db, "SELECT `epoch` FROM `shiftlog_lease` WHERE `task`=?", 1,
                               p1, 1, one_value, got, errstr, sz);
    if (e) {
        /* the lease connection is gone: so is the lock, whoever takes it next */
        return mysql_ping(l->db) != 0 ? SL_ERR_FENCED : e;
    }
    int64_t now = *got ? strtoll(got, NULL, 10) : -1;
    if (now != l->epoch) {
        snprintf(errstr, sz, "the lease of task %s was taken over (epoch %" PRId64 ", this "
                 "copy holds %" PRId64 ")", l->task, now, l->epoch);
        return SL_ERR_FENCED;
    }
    return SL_OK;
}

sl_err_t app_my_lease_fence(MYSQL *db, const char *task, int64_t epoch, char *errstr,
                            size_t sz)
{
    char got[512] = "";
    const char *p1[1] = {task};
    sl_err_t e = app_my_select(db, "SELECT `epoch` FROM `shiftlog_lease` WHERE `task`=? "
                               "LOCK IN SHARE MODE", 1, p1, 1, one_value, got, errstr, sz);
    if (e)
        return e;
    int64_t now = *got ? strtoll(got, NULL, 10) : -1;
    if (now != epoch) {
        snprintf(errstr, sz, "mysql target: position write of task %s fenced: epoch %" PRId64
                 " is stale, another copy has taken the task's lease over (epoch %" PRId64 ")",
                 task, epoch, now);
        return SL_ERR_FENCED;
    }
    return SL_OK;
}

static void count_row(void *ctx, char **cols, unsigned long *lens)
{
    (void)lens;
    *(long *)ctx = strtol(cols[0], NULL, 10);
}

/* A kafkaoffset table of a version before leases gets the epoch column
 * (looked up first: the ALTER would wait for the other workers' metadata
 * locks even when the column exists). */
sl_err_t app_my_add_epoch(MYSQL *db, char *errstr, size_t sz)
{
    static const char alter[] = "ALTER TABLE `kafkaoffset` ADD COLUMN IF NOT EXISTS "
                                "`epoch` BIGINT NOT NULL DEFAULT 0";
    long n = 0;
    sl_err_t e = app_my_select(db, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
                               "TABLE_SCHEMA=DATABASE() AND TABLE_NAME='kafkaoffset' AND "
                               "COLUMN_NAME='epoch'", 0, NULL, 1, count_row, &n, errstr, sz);
    if (!e && !n)
        e = app_my_exec(db, alter, sizeof alter - 1, "adding kafkaoffset.epoch", errstr, sz);
    return e;
}
