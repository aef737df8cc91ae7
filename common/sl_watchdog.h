/* shiftlog: the no-progress watchdog of a service that consumes one Kafka
 * partition (issue 18): the applier per task, the miner per source log.
 *
 * A service is stalled when records wait for it — more than one (one: the
 * marker that ends the topic's last Kafka transaction) between its next
 * offset and the partition's high watermark — and the highest offset it
 * reported done (sl_watchdog_progress) has not grown for stall_ms while
 * they waited (the time counts from the later of the last progress and the
 * moment records began to wait). Its
 * "next offset" is, per service (conf.next_from_progress):
 *   0  the consumer's position (applier: what was handed to the task; the
 *      task feeds every record it is handed, so feeding is progress);
 *   1  the highest offset reported + 1 (miner: what is durable in the log;
 *      the miner reads one batch ahead of its writers, so what it consumed
 *      says nothing of what it wrote).
 * A replay after an error reports old offsets again and is no progress.
 *
 * Then, once per stall: one ERROR line with the offsets and the time,
 * /ready 503 with the reason, the gauge <prefix>_stalled = 1, and
 * sl_watchdog_take() answers 1 (once) so that the service can reconnect.
 * The watch runs in its own thread, so a service blocked inside a database
 * call is still reported. Progress again: one INFO line, the gauge 0, and
 * with conf.clear_health /ready back to healthy (a service whose own loop
 * sets /ready on its next state change leaves it 0). /health (liveness) is
 * not the watchdog's: it turns 503 only when the loop itself hangs past
 * health.liveness.timeout (sl_service).
 *
 * Every call takes NULL (the watchdog off). Thread-safe. */
#ifndef SL_WATCHDOG_H
#define SL_WATCHDOG_H

#include <stdint.h>

#include "sl_http.h"
#include "sl_kafka.h"
#include "sl_metrics.h"

typedef struct sl_watchdog_s sl_watchdog_t;

typedef struct sl_watchdog_conf_s {
    sl_kafka_consumer_t *cons;               /* borrowed: its watermarks (and position) */
    const char          *topic;
    int32_t              partition;
    int64_t              stall_ms;           /* <= 0: off (start returns NULL) */
    sl_http_t           *http;               /* borrowed */
    sl_metrics_t        *metrics;            /* borrowed */
    const char          *metric_prefix;      /* "shiftlog_applier": <prefix>_stalled, ..._records_behind */
    const char          *what;               /* "the task", "the miner": in the help texts */
    const char          *action;             /* the log line's end: "reconnecting" */
    int                  next_from_progress; /* see above */
    int                  clear_health;       /* see above */
} sl_watchdog_conf_t;

/* Starts the watching thread; NULL when off or out of memory. Free with
 * sl_watchdog_stop(). */
sl_watchdog_t *sl_watchdog_start(const sl_watchdog_conf_t *conf);
/* Offset `offset` is done (fed, committed, durable); only growth counts. */
void           sl_watchdog_progress(sl_watchdog_t *w, int64_t offset);
/* Progress below the highest offset (a catch-up that reads old offsets again
 * on purpose, unlike a replay after an error): the time counts from now. */
void           sl_watchdog_kick(sl_watchdog_t *w);
/* Only a service that runs is watched (not a standby, a suspended task, one
 * whose target is down, a paused source); the time counts from here. */
void           sl_watchdog_watch(sl_watchdog_t *w, int running);
/* 1 once per declared stall that no progress has ended yet. */
int            sl_watchdog_take(sl_watchdog_t *w);
void           sl_watchdog_stop(sl_watchdog_t *w);

#endif
