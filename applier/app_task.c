/* shiftlog-applier: a streaming task that follows its row in the task table
 * (app_task.h). */
#include "app_task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct.h"
#include "sl_log.h"

struct app_task_s {
    const app_conf_t *c;
    app_dsrc_t       *db;          /* the task table's connection; NULL: opened at the next look */
    int               online;      /* the last online_status read (1 until one is) */
    int64_t           next_ms;     /* the next look */
    int               warned;
    sl_metric_t      *m_paused, *m_running;
};

app_task_t *app_task_new(const app_conf_t *c, sl_metrics_t *mx)
{
    if (!c->task_table_uri || !*c->task_table_uri)
        return NULL;
    app_task_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->c = c;
    t->online = 1;
    t->m_paused = sl_metrics_gauge(mx, "shiftlog_applier_state", NULL,
                                   (const char *[]){"state", "paused", NULL});
    /* the same series consume.c sets: not running while paused */
    t->m_running = sl_metrics_gauge(mx, "shiftlog_applier_state", NULL,
                                    (const char *[]){"state", "running", NULL});
    sl_info("task %s follows its row in task table %s (online_status, read every %lld ms)",
            c->task_name, c->task_table_name, (long long)c->task_table_interval_ms);
    return t;
}

void app_task_free(app_task_t *t)
{
    if (!t)
        return;
    app_dsrc_close(t->db);
    free(t);
}

/* Reads online_status when task.table.interval has passed; keeps the last
 * value when the row cannot be read. */
static void look(app_task_t *t)
{
    int64_t now = sl_service_now_ms();
    if (now < t->next_ms)
        return;
    t->next_ms = now + t->c->task_table_interval_ms;
    static const char *const cols[] = {"online_status"};
    char errstr[1024], **row = NULL;
    sl_err_t err = t->db ? SL_OK
                         : app_dsrc_open(&t->db, t->c->task_table_uri, errstr, sizeof errstr);
    if (!err)
        err = app_dsrc_task_row(t->db, t->c->task_table_name, cols, 1, t->c->task_name, &row,
                                errstr, sizeof errstr);
    if (err == SL_ERR_NOT_FOUND)
        snprintf(errstr, sizeof errstr, "no row for task %s", t->c->task_name);
    if (err) {
        if (err != SL_ERR_NOT_FOUND) {
            app_dsrc_close(t->db);            /* reopened at the next look */
            t->db = NULL;
        }
        if (!t->warned++)
            sl_warn("task table %s: %s; the task stays %s until it can be read",
                    t->c->task_table_name, errstr, t->online ? "online" : "paused");
        return;
    }
    t->warned = 0;
    t->online = app_dtask_online(row[0]);
    free(row[0]);
    free(row);
}

int app_task_hold(app_task_t *t, app_txn_t *txn, sl_http_t *http, sl_watchdog_t *wd)
{
    if (!t)
        return 0;
    look(t);
    if (t->online || app_txn_open_since(txn) >= 0)
        return 0;                 /* a source transaction in progress is finished first */
    char errstr[1024], reason[400];
    if (app_txn_idle(txn, errstr, sizeof errstr) != APP_TXN_OK)
        sl_warn("pausing: %s (the complete transactions read are applied again on resume)",
                errstr);
    app_txn_abort(txn);
    snprintf(reason, sizeof reason, "paused: online_status = 0 in task table %s (shiftlog "
             "tasks resume ... %s)", t->c->task_table_name, t->c->task_name);
    sl_info("task %s paused at a transaction boundary (online_status = 0 in %s)",
            t->c->task_name, t->c->task_table_name);
    sl_watchdog_watch(wd, 0);
    sl_metric_set(t->m_running, 0);
    sl_metric_set(t->m_paused, 1);
    sl_http_set_status(http, "paused", reason);
    int rc = 1;
    while (!t->online) {
        if (sl_service_wait((int)t->c->task_table_interval_ms)) {
            rc = -1;
            break;
        }
        look(t);
    }
    sl_metric_set(t->m_paused, 0);
    if (rc > 0)
        sl_info("task %s resumed (online_status = 1): going on from the stored position",
                t->c->task_name);
    return rc;
}
