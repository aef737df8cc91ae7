/* shiftlog: the operations HTTP endpoint of a service (libmicrohttpd, one
 * internal polling thread).
 *
 *   GET /health   200 {"status":"ok","service":"collector","task":"shop","uptime_s":12}
 *                 503 {"status":"unhealthy","reason":"...",...} after
 *                 sl_http_set_health(h, 0, "reason")
 *                 200 {"status":"degraded","degraded":"...",...} while healthy
 *                 but sl_http_set_degraded(h, "what") names a part that stopped
 *                 (e.g. a table): restarting the process would not help, so it
 *                 stays 200 for liveness probes; monitors read "status".
 *   GET /metrics  Prometheus text of the registry (text/plain; version=0.0.4)
 *   routes added with sl_http_route (e.g. the applier's GET /tables and
 *                 POST /tables/resume)
 *   anything else 404; methods other than GET/HEAD 405.
 *
 * listen: "host:port", "[v6addr]:port", ":port" (all IPv4 interfaces), port 0
 * = ephemeral (see sl_http_port), or "off" (no endpoint). */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <stddef.h>
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
/* healthy = 0 makes /health answer 503 with reason (copied, secrets masked
 * with sl_log_mask). Thread-safe. */
void     sl_http_set_health(sl_http_t *h, int healthy, const char *reason);
/* detail != NULL: the service runs, but part of it stopped (copied, secrets
 * masked; shown as "degraded" in /health, also beside an unhealthy reason).
 * NULL clears it. Thread-safe. */
void     sl_http_set_degraded(sl_http_t *h, const char *detail);
/* Healthy (200) with another status than "ok" and a reason, both copied:
 * {"status":"standby","reason":"lease held by ..."}. Thread-safe. */
void     sl_http_set_status(sl_http_t *h, const char *status, const char *reason);
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
