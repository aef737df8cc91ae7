/* shiftlog: the operations HTTP endpoint of a service (libmicrohttpd, one
 * internal polling thread).
 *
 *   GET /health   liveness: 200 while the process is alive, even when it waits
 *                 (standby, a server down, a stall); 503 only when it hung
 *                 (sl_http_set_liveness). A restart is the cure for a 503 here.
 *   GET /ready    readiness: 200 when it does its work: healthy (not
 *                 sl_http_set_health(h, 0, reason)), no status other than ok
 *                 (sl_http_set_status: standby) and nothing degraded
 *                 (sl_http_set_degraded: a stopped table); else 503.
 *                 Both answer the same JSON:
 *                 {"status":"ok|standby|degraded|unhealthy|hung","live":true,
 *                  "ready":true,"reason":"...","degraded":"...","service":"applier",
 *                  "task":"shop","uptime_s":12}
 *   GET /metrics  Prometheus text of the registry (text/plain; version=0.0.4)
 *   routes added with sl_http_route (GET /status of every service,
 *                 sl_status.h; the applier's GET /tables and POST /tables/resume)
 *   anything else 404; methods other than GET/HEAD 405.
 *
 * listen: "host:port", "[v6addr]:port", ":port" (all IPv4 interfaces), port 0
 * = ephemeral (see sl_http_port), or "off" (no endpoint). */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "sl_buf.h"
#include "sl_err.h"
#include "sl_metrics.h"

typedef struct sl_http_s sl_http_t;

/* Syntax check of a listen value (usable as an sl_conf check function):
 * 0 if fine, else -1 with the reason in errstr. */
int sl_http_listen_check(const char *listen, char *errstr, size_t errstr_size);

/* Starts the endpoint. *out is NULL (and SL_OK returned) for "off". service
 * and task are copied; metrics is borrowed and must outlive the endpoint
 * (NULL serves an empty /metrics). Stop and free with sl_http_stop(). */
sl_err_t sl_http_start(sl_http_t **out, const char *listen, const char *service,
                       const char *task, sl_metrics_t *metrics, char *errstr,
                       size_t errstr_size);
/* The bound port (the real one when 0 was asked for); 0 for NULL. */
int      sl_http_port(const sl_http_t *h);
/* Liveness: /health answers 503 once idle_ms() >= timeout_ms (0: never).
 * idle_ms is called from the endpoint's thread. */
void     sl_http_set_liveness(sl_http_t *h, int64_t (*idle_ms)(void), int64_t timeout_ms);
/* healthy = 0 makes /ready answer 503 with reason (copied, secrets masked
 * with sl_log_mask). Thread-safe. */
void     sl_http_set_health(sl_http_t *h, int healthy, const char *reason);
/* detail != NULL: the service runs, but part of it stopped (copied, secrets
 * masked; shown as "degraded" in /health, also beside an unhealthy reason).
 * NULL clears it. Thread-safe. */
void     sl_http_set_degraded(sl_http_t *h, const char *detail);
/* Healthy (200) with another status than "ok" and a reason, both copied:
 * {"status":"standby","reason":"lease held by ..."}. Thread-safe. */
void     sl_http_set_status(sl_http_t *h, const char *status, const char *reason);
/* What /health and /ready say now: status ("ok", "standby", "degraded",
 * "unhealthy", "hung"), the reason ("" when none; the degraded detail when
 * only degraded) and whether it is ready. NULL h (http.listen = off): "ok",
 * ready. Thread-safe. */
void     sl_http_get_state(sl_http_t *h, char *status, size_t status_size, char *reason,
                           size_t reason_size, int *ready);
/* A request to a route: its query arguments. */
typedef struct sl_http_req_s sl_http_req_t;
/* The query argument name (?name=value, decoded), NULL when absent; valid
 * during the handler only. */
const char *sl_http_req_arg(sl_http_req_t *req, const char *name);
/* A route's handler: fills body (JSON) and returns the HTTP status. It runs
 * in the endpoint's thread: it must only read state published under its own
 * lock and leave requests for the service's main loop to pick up (the
 * signal-flag pattern), never call into the service's connections. */
typedef unsigned (*sl_http_fn)(void *ctx, sl_http_req_t *req, sl_buf_t *body);
/* Serves method ("GET" or "POST") on path with fn(ctx, ...) (replacing a
 * route of the same method and path). Up to 8 routes; ctx is borrowed until
 * the route is removed: fn NULL removes it, and returns once no call of it
 * runs (handlers run under the routes' lock: they must not call sl_http_route).
 * NULL h is fine (SL_OK). */
sl_err_t sl_http_route(sl_http_t *h, const char *method, const char *path, sl_http_fn fn,
                       void *ctx);
/* Stops the thread and frees h; NULL is fine. */
void     sl_http_stop(sl_http_t *h);

#endif
