/* shiftlog-applier: the no-progress watchdog (issue 18, docs/applier.md).
 *
 * A task is stalled when records wait for it — the next offset the consumer
 * hands out is more than one below the partition's high watermark (one: the
 * marker that ends the topic's last Kafka transaction) — and the highest
 * Kafka offset the task has fed
 * to the core or committed has not grown for watchdog.ms. A replay after an
 * error feeds old offsets again and is no progress.
 *
 * Then, once per stall: one ERROR line with the offsets and the time,
 * /ready 503 with the reason, the gauge shiftlog_applier_stalled = 1, and
 * app_watchdog_take() answers 1 (once) so that the task loop reconnects:
 * it closes its target and replays from the stored position. The watch runs
 * in its own thread, so a task loop blocked inside a target call is still
 * reported. Progress clears the gauge (the task loop's next state sets
 * /ready again). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applier.h"
#include "sl_kafka.h"
#include "sl_log.h"

struct app_watchdog_s {
    sl_kafka_consumer_t *cons;          /* borrowed */
    char                 topic[256];
    int32_t              partition;
    int64_t              stall_ms;
    sl_http_t           *http;          /* borrowed */
    sl_metric_t         *m_stalled, *m_behind;
    pthread_t            thread;
    int                  stop;          /* atomic */
    int64_t              max_offset;    /* atomic: highest offset fed or committed */
    int64_t              moved_ms;      /* atomic: when it last grew */
    int                  stalled;       /* atomic: declared, not yet taken */
    int                  running;       /* atomic: the task is in state running */
};

static void *watch(void *arg)
{
    app_watchdog_t *w = arg;
    int said = 0;
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        struct timespec ts = {0, 250 * 1000000L};
        nanosleep(&ts, NULL);
        int64_t next, high, now = sl_service_now_ms();
        sl_kafka_consumer_backlog(w->cons, w->topic, w->partition, &next, &high);
        int64_t behind = next >= 0 && high >= 0 && high > next ? high - next : 0;
        sl_metric_set(w->m_behind, (double)behind);
        int64_t moved = __atomic_load_n(&w->moved_ms, __ATOMIC_ACQUIRE);
        if (!__atomic_load_n(&w->running, __ATOMIC_ACQUIRE) || behind <= 1 ||
            now - moved < w->stall_ms) {
            if (said) {
                sl_info("watchdog: progress again (offset %" PRId64 ")",
                        __atomic_load_n(&w->max_offset, __ATOMIC_ACQUIRE));
                sl_metric_set(w->m_stalled, 0);
                said = 0;
            }
            continue;
        }
        if (said)
            continue;
        char why[512];
        snprintf(why, sizeof why, "no progress for %" PRId64 " s while %" PRId64 " record(s) "
                 "wait on %s [%d] (next offset %" PRId64 ", high watermark %" PRId64 ", last "
                 "offset fed or applied %" PRId64 "); reconnecting", (now - moved) / 1000,
                 behind, w->topic, w->partition, next, high,
                 __atomic_load_n(&w->max_offset, __ATOMIC_ACQUIRE));
        sl_error("watchdog: %s", why);
        sl_http_set_health(w->http, 0, why);
        sl_metric_set(w->m_stalled, 1);
        __atomic_store_n(&w->stalled, 1, __ATOMIC_RELEASE);
        said = 1;
    }
    return NULL;
}

app_watchdog_t *app_watchdog_start(sl_kafka_consumer_t *cons, const char *topic,
                                   int32_t partition, int64_t stall_ms, sl_http_t *http,
                                   sl_metrics_t *mx)
{
    if (stall_ms <= 0)
        return NULL;
    app_watchdog_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->cons = cons;
    snprintf(w->topic, sizeof w->topic, "%s", topic);
    w->partition = partition;
    w->stall_ms = stall_ms;
    w->http = http;
    w->max_offset = -1;
    w->moved_ms = sl_service_now_ms();
    w->m_stalled = sl_metrics_gauge(mx, "shiftlog_applier_stalled",
                                    "1 while records wait and the task has made no progress "
                                    "for watchdog.ms.", NULL);
    w->m_behind = sl_metrics_gauge(mx, "shiftlog_applier_records_behind",
                                   "Messages of the source partition not yet handed to the "
                                   "task (high watermark minus its next offset).", NULL);
    if (pthread_create(&w->thread, NULL, watch, w)) {
        free(w);
        return NULL;
    }
    return w;
}

void app_watchdog_progress(app_watchdog_t *w, int64_t offset)
{
    if (!w)
        return;
    if (offset <= __atomic_load_n(&w->max_offset, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&w->max_offset, offset, __ATOMIC_RELEASE);
    __atomic_store_n(&w->moved_ms, sl_service_now_ms(), __ATOMIC_RELEASE);
    __atomic_store_n(&w->stalled, 0, __ATOMIC_RELEASE);
}

void app_watchdog_kick(app_watchdog_t *w)
{
    if (!w)
        return;
    __atomic_store_n(&w->moved_ms, sl_service_now_ms(), __ATOMIC_RELEASE);
    __atomic_store_n(&w->stalled, 0, __ATOMIC_RELEASE);
}

void app_watchdog_watch(app_watchdog_t *w, int running)
{
    if (!w)
        return;
    if (running && !__atomic_load_n(&w->running, __ATOMIC_ACQUIRE))
        __atomic_store_n(&w->moved_ms, sl_service_now_ms(), __ATOMIC_RELEASE);
    __atomic_store_n(&w->running, running, __ATOMIC_RELEASE);
}

int app_watchdog_take(app_watchdog_t *w)
{
    return w && __atomic_exchange_n(&w->stalled, 0, __ATOMIC_ACQ_REL);
}

void app_watchdog_stop(app_watchdog_t *w)
{
    if (!w)
        return;
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
    pthread_join(w->thread, NULL);
    free(w);
}
