/* shiftlog-collector: the Kafka stall watchdog (col_watch.h). */
#include "col_watch.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sl_log.h"
#include "sl_service.h"

struct col_watch_s {
    sl_http_t      *http;
    const char     *what;
    pthread_t       thread;
    _Atomic int64_t since_ms;   /* inside a publisher call since (0: not) */
    atomic_int      stalled;    /* the watchdog made /ready 503 */
    atomic_int      quit;
};

static void *watch(void *arg)
{
    col_watch_t *w = arg;
    int64_t shown = -1;
    while (!atomic_load(&w->quit)) {
        struct timespec ts = {0, 250 * 1000000L};
        nanosleep(&ts, NULL);
        int64_t since = atomic_load(&w->since_ms);
        int64_t blocked = since ? sl_service_now_ms() - since : 0;
        if (blocked < COL_STALL_MS) {
            shown = -1;
            continue;
        }
        if (blocked / 1000 == shown)
            continue;
        shown = blocked / 1000;
        char why[256];
        snprintf(why, sizeof(why),
                 "Kafka has taken no record for %" PRId64 " s (broker down or unreachable?): "
                 "%s is paused until it does", shown, w->what);
        if (!atomic_exchange(&w->stalled, 1))
            sl_warn("%s", why);
        sl_http_set_health(w->http, 0, why);
    }
    return NULL;
}

col_watch_t *col_watch_start(sl_http_t *http, const char *what)
{
    col_watch_t *w = calloc(1, sizeof(*w));
    if (w) {
        w->http = http;
        w->what = what;
        if (!pthread_create(&w->thread, NULL, watch, w))
            return w;
        free(w);
    }
    sl_warn("no Kafka stall watchdog (out of threads): /ready will not report a blocked "
            "Kafka");
    return NULL;
}

void col_watch_enter(col_watch_t *w)
{
    if (w)
        atomic_store(&w->since_ms, sl_service_now_ms());
}

void col_watch_leave(col_watch_t *w, int ok)
{
    if (!w)
        return;
    atomic_store(&w->since_ms, 0);
    if (atomic_exchange(&w->stalled, 0) && ok) {
        sl_info("Kafka takes records again");
        sl_http_set_health(w->http, 1, NULL);
    }
}

void col_watch_stop(col_watch_t *w)
{
    if (!w)
        return;
    atomic_store(&w->quit, 1);
    pthread_join(w->thread, NULL);
    free(w);
}
