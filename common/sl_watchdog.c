/* shiftlog: the no-progress watchdog (see sl_watchdog.h). */
#include "sl_watchdog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_log.h"
#include "sl_service.h"
#include "sl_status.h"

struct sl_watchdog_s {
    sl_watchdog_conf_t   c;
    char                 topic[256], action[128];
    sl_metric_t         *m_stalled, *m_behind;
    pthread_t            thread;
    int                  stop;          /* atomic */
    int64_t              max_offset;    /* atomic: highest offset reported done */
    int64_t              moved_ms;      /* atomic: when it last grew */
    int                  stalled;       /* atomic: declared, not yet taken */
    int                  running;       /* atomic: the service runs */
};

static void *watch(void *arg)
{
    sl_watchdog_t *w = arg;
    int said = 0;
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 250 * 1000000L};
        nanosleep(&ts, NULL);
        int64_t next, high, now = sl_service_now_ms();
        int64_t done = __atomic_load_n(&w->max_offset, __ATOMIC_ACQUIRE);
        sl_kafka_consumer_backlog(w->c.cons, w->topic, w->c.partition, &next, &high);
        if (w->c.next_from_progress)
            next = done + 1;
        int64_t behind = next >= 0 && high >= 0 && high > next ? high - next : 0;
        sl_metric_set(w->m_behind, (double)behind);
        if (high >= 0) {
            char src[320];
            snprintf(src, sizeof src, "%s[%d] end offset %" PRId64, w->topic,
                     (int)w->c.partition, high);
            sl_status_set_position(SL_STATUS_SOURCE, src);
        }
        /* nothing waiting is no stall: the time counts from when records wait (a
         * service idle for an hour is not stalled by the first record after it) */
        if (behind <= 1)
            __atomic_store_n(&w->moved_ms, now, __ATOMIC_RELEASE);
        int64_t moved = __atomic_load_n(&w->moved_ms, __ATOMIC_ACQUIRE);
        if (!__atomic_load_n(&w->running, __ATOMIC_ACQUIRE) || behind <= 1 ||
            now - moved < w->c.stall_ms) {
            if (said) {
                sl_info("watchdog: progress again (offset %" PRId64 ")", done);
                sl_metric_set(w->m_stalled, 0);
                if (w->c.clear_health)
                    sl_http_set_health(w->c.http, 1, NULL);
                said = 0;
            }
            continue;
        }
        if (said)
            continue;
        char why[640];
        snprintf(why, sizeof why, "no progress for %" PRId64 " s while %" PRId64 " record(s) "
                 "wait on %s [%d] (next offset %" PRId64 ", high watermark %" PRId64 ", last "
                 "offset %s %" PRId64 ")%s%s", (now - moved) / 1000, behind, w->topic,
                 (int)w->c.partition, next, high,
                 w->c.next_from_progress ? "done" : "fed or applied", done,
                 w->action[0] ? "; " : "", w->action);
        sl_error("watchdog: %s", why);
        sl_http_set_health(w->c.http, 0, why);
        sl_metric_set(w->m_stalled, 1);
        __atomic_store_n(&w->stalled, 1, __ATOMIC_RELEASE);
        said = 1;
    }
    return NULL;
}

sl_watchdog_t *sl_watchdog_start(const sl_watchdog_conf_t *conf)
{
    char name[128], help[256];
    if (conf->stall_ms <= 0)
        return NULL;
    sl_watchdog_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->c = *conf;
    snprintf(w->topic, sizeof w->topic, "%s", conf->topic);
    snprintf(w->action, sizeof w->action, "%s", conf->action ? conf->action : "");
    w->c.topic = w->topic;
    w->max_offset = -1;
    w->moved_ms = sl_service_now_ms();
    snprintf(name, sizeof name, "%s_stalled", conf->metric_prefix);
    snprintf(help, sizeof help, "1 while records wait and %s has made no progress for "
             "watchdog.ms.", conf->what);
    w->m_stalled = sl_metrics_gauge(conf->metrics, name, help, NULL);
    snprintf(name, sizeof name, "%s_records_behind", conf->metric_prefix);
    snprintf(help, sizeof help, "Messages of the source partition %s has not yet done (high "
             "watermark minus its next offset).", conf->what);
    w->m_behind = sl_metrics_gauge(conf->metrics, name, help, NULL);
    if (pthread_create(&w->thread, NULL, watch, w)) {
        free(w);
        return NULL;
    }
    return w;
}

void sl_watchdog_progress(sl_watchdog_t *w, int64_t offset)
{
    if (!w)
        return;
    if (offset <= __atomic_load_n(&w->max_offset, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&w->max_offset, offset, __ATOMIC_RELEASE);
    __atomic_store_n(&w->moved_ms, sl_service_now_ms(), __ATOMIC_RELEASE);
    __atomic_store_n(&w->stalled, 0, __ATOMIC_RELEASE);
}

void sl_watchdog_kick(sl_watchdog_t *w)
{
    if (!w)
        return;
    __atomic_store_n(&w->moved_ms, sl_service_now_ms(), __ATOMIC_RELEASE);
    __atomic_store_n(&w->stalled, 0, __ATOMIC_RELEASE);
}

void sl_watchdog_watch(sl_watchdog_t *w, int running)
{
    if (!w)
        return;
    if (running && !__atomic_load_n(&w->running, __ATOMIC_ACQUIRE))
        __atomic_store_n(&w->moved_ms, sl_service_now_ms(), __ATOMIC_RELEASE);
    __atomic_store_n(&w->running, running, __ATOMIC_RELEASE);
}

int sl_watchdog_take(sl_watchdog_t *w)
{
    return w && __atomic_exchange_n(&w->stalled, 0, __ATOMIC_ACQ_REL);
}

void sl_watchdog_stop(sl_watchdog_t *w)
{
    if (!w)
        return;
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
    pthread_join(w->thread, NULL);
    free(w);
}
