/* shiftlog-applier: one active copy per task (DESIGN invariant 8). Before
 * anything is applied the task's lease is taken in the target (target.h:
 * lease_take); a copy that finds it held waits as a hot standby — /health
 * 200 with status "standby", shiftlog_applier_state{state="standby"} 1, no
 * record read — and tries again every lease.retry.ms, so that it takes over
 * within about lease.retry.ms of the holder's death (PostgreSQL, MariaDB:
 * the server releases a dead session's lock at once) or of the lease
 * document's expiry (MongoDB: lease.ttl.ms). The holder checks (MongoDB:
 * renews) its lease every lease.ttl.ms / 3; a lost lease, or a position
 * write the target fenced (a newer epoch), makes the core roll back, close
 * the target and come back here. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applier.h"
#include "sl_backoff.h"
#include "sl_log.h"

struct app_leaser_s {
    const app_target_ops_t *ops;
    app_target_conf_t      *tconf;
    const app_conf_t       *c;
    app_state_fn           *state;
    void                   *arg;
    app_lease_t            *lease;
    int64_t                 epoch;
    int64_t                 next_check_ms;
    sl_metric_t            *m_epoch, *m_takeovers, *m_lost;
};

app_leaser_t *app_leaser_new(const app_target_ops_t *ops, app_target_conf_t *tconf,
                             const app_conf_t *c, sl_metrics_t *mx, app_state_fn *state,
                             void *arg)
{
    app_leaser_t *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    *l = (app_leaser_t){.ops = ops, .tconf = tconf, .c = c, .state = state, .arg = arg};
    l->m_epoch = sl_metrics_gauge(mx, "shiftlog_applier_lease_epoch",
                                  "Epoch of the task's lease this copy holds (0 = none: "
                                  "standby).", NULL);
    l->m_takeovers = sl_metrics_counter(mx, "shiftlog_applier_lease_taken_total",
                                        "Times this copy took the task's lease.", NULL);
    l->m_lost = sl_metrics_counter(mx, "shiftlog_applier_lease_lost_total",
                                   "Times this copy lost the task's lease (taken over, "
                                   "connection lost, a fenced write).", NULL);
    return l;
}

static void give_up(app_leaser_t *l)
{
    l->ops->lease_drop(l->lease);
    l->lease = NULL;
    l->epoch = 0;
    l->tconf->epoch = 0;
    sl_metric_set(l->m_epoch, 0);
}

void app_leaser_destroy(app_leaser_t *l)
{
    if (!l)
        return;
    give_up(l);
    free(l);
}

int app_leaser_acquire(app_leaser_t *l)
{
    char errstr[1024], reason[1200];
    int64_t t0 = sl_service_now_ms();
    sl_backoff_t backoff = SL_BACKOFF_INIT(200, l->c->retry_max_ms);
    int said = 0, warned = 0;
    if (l->lease) {
        /* a restart (the target went away, a rejected group): the lease's own
         * connection may have gone with it, and its lock with it */
        sl_err_t err = l->ops->lease_check(l->lease, errstr, sizeof(errstr));
        if (!err)
            return 0;
        sl_warn("lease of task %s: %s; taking it again", l->c->task_name, errstr);
        sl_metric_inc(l->m_lost);
        give_up(l);
    }
    for (;;) {
        if (sl_service_stopping())
            return -1;
        int64_t epoch = 0;
        sl_err_t err = l->ops->lease_take(&l->lease, l->tconf, &epoch, errstr, sizeof(errstr));
        if (!err) {
            l->epoch = l->tconf->epoch = epoch;
            l->next_check_ms = sl_service_now_ms() + l->c->lease_ttl_ms / 3;
            sl_metric_set(l->m_epoch, (double)epoch);
            sl_metric_inc(l->m_takeovers);
            if (said)
                sl_info("lease of task %s taken (epoch %" PRId64 ") after %" PRId64 " ms as "
                        "standby: this copy applies now", l->c->task_name, epoch,
                        sl_service_now_ms() - t0);
            else
                sl_info("lease of task %s taken (epoch %" PRId64 "): this copy applies",
                        l->c->task_name, epoch);
            return 0;
        }
        if (err == SL_ERR_DENIED) {
            sl_error("%s", errstr);
            return SL_EXIT_DENIED;
        }
        int64_t wait = l->c->lease_retry_ms;
        if (err == SL_ERR_STATE) {
            snprintf(reason, sizeof(reason), "standby: %s; trying again every %" PRId64 " ms",
                     errstr, l->c->lease_retry_ms);
            l->state(l->arg, "standby", reason);
            if (!said++)
                sl_info("%s", reason);
            sl_backoff_reset(&backoff);
        } else {
            snprintf(reason, sizeof(reason), "target unavailable, retrying: %s", errstr);
            l->state(l->arg, "target_down", reason);
            wait = sl_backoff_next(&backoff);
            if (!warned++ || wait >= l->c->retry_max_ms)   /* as connect_target */
                sl_warn("%s (next try in %" PRId64 " ms)", reason, wait);
        }
        if (sl_service_wait((int)wait))
            return -1;
    }
}

int app_leaser_keep(app_leaser_t *l)
{
    char errstr[1024];
    if (!l->lease)
        return -1;
    int64_t now = sl_service_now_ms();
    if (now < l->next_check_ms)
        return 0;
    l->next_check_ms = now + l->c->lease_ttl_ms / 3;
    sl_err_t err = l->ops->lease_check(l->lease, errstr, sizeof(errstr));
    if (!err)
        return 0;
    if (err != SL_ERR_FENCED) {
        /* could not tell (the target is unreachable): the apply connection will
         * say so too; MongoDB answers FENCED once the lease has expired */
        sl_warn("lease of task %s: %s", l->c->task_name, errstr);
        l->next_check_ms = now + 1000;
        return 0;
    }
    sl_warn("lease of task %s lost: %s; rolling back and standing by", l->c->task_name, errstr);
    sl_metric_inc(l->m_lost);
    give_up(l);
    return -1;
}

void app_leaser_fenced(app_leaser_t *l, const char *errstr)
{
    sl_warn("%s; rolling back and standing by", errstr);
    sl_metric_inc(l->m_lost);
    give_up(l);
}
