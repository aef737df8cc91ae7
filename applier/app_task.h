/* shiftlog-applier: a streaming task follows its row in the task table
 * (issue 22; docs/operations.md "Tasks").
 *
 * With task.table.uri set, the applier reads online_status of the row named
 * task.name in task.table.name every task.table.interval. online_status = 0
 * (`shiftlog tasks pause`) pauses the task at the next source transaction
 * boundary: the complete source transactions read so far are committed, then
 * nothing is applied; /health stays 200, /ready answers 503 with status
 * "paused", shiftlog_applier_state{state="paused"} = 1. online_status = 1
 * (`shiftlog tasks resume`) resumes it from the stored position, as a restart
 * would. A table that cannot be read, or no row for the task, keeps the last
 * state with one warning: an unreachable control database neither pauses
 * nor resumes a task. */
#ifndef APP_TASK_H
#define APP_TASK_H

#include "applier.h"
#include "sl_watchdog.h"

typedef struct app_task_s app_task_t;

/* NULL when task.table.uri is empty (nothing to follow) or on OOM. The
 * connection opens at the first look. Free with app_task_free(). */
app_task_t *app_task_new(const app_conf_t *c, sl_metrics_t *mx);
void        app_task_free(app_task_t *t);

/* Between two records of the main loop: 0 to go on (not paused, or inside a
 * source transaction, which is finished first; t NULL: always 0). When the
 * task is paused, commits the complete source transactions of txn, reports
 * "paused" on http and waits until it is resumed (1: the caller reloads its
 * position from the target and goes on) or a stop is requested (-1). */
int         app_task_hold(app_task_t *t, app_txn_t *txn, sl_http_t *http, sl_watchdog_t *wd);

#endif
