/* shiftlog: what a running service says about its progress (issue 22), one
 * per process, started by sl_service_start():
 *
 *   GET /status  {"service":"applier","task":"shop_to_pg","status":"ok","ready":true,
 *                 "state":"running","reason":"...","source_position":"...",
 *                 "applied_position":"...","records_behind":0,"lag_s":0.4,
 *                 "rows_total":1200,"rows_per_s":35.2,"errors_total":0,"dlq_total":0,
 *                 "last_error":"...","last_error_age_s":12,"uptime_s":300,
 *                 "source_log_retained_bytes":1048576,"source_log_at_risk":false}
 *                (a field the service does not know is null; docs/operations.md)
 *   a progress line at INFO every progress.interval (0 = none)
 *   the alert rules of sl_alert.h, evaluated every second
 *
 * Most of it is read from what the service already publishes: its metrics
 * (the families named in sl_status_def_t, summed over their labels), the
 * /ready state (sl_http), the log position (sl_log_set_position) and the last
 * ERROR line. A service only sets what has no other home: the position on
 * the other side (sl_status_set_position). The work runs in a thread of its
 * own, so a service blocked in a database call still reports and alerts. */
#ifndef SL_STATUS_H
#define SL_STATUS_H

#include <stdint.h>

#include "sl_alert.h"
#include "sl_buf.h"
#include "sl_http.h"
#include "sl_metrics.h"

/* Where a service's figures come from; every name may be NULL (unknown). */
typedef struct sl_status_def_s {
    const char *rows;        /* counter family: rows done (rows_total, rows_per_s) */
    const char *lag;         /* gauge, seconds behind the source's commit time */
    const char *behind;      /* gauge: records waiting for the service */
    const char *errors;      /* counter family */
    const char *dlq;         /* counter family */
    const char *state;       /* gauge family with a label "state": the one at 1 */
    const char *retained;    /* gauge: bytes of change log the source keeps for the service */
    const char *at_risk;     /* gauge: 1 when the source is about to drop some of it */
    int         log_pos_is_source; /* the log position is what was read (collector);
                                      else what was done (applier, miner) */
} sl_status_def_t;

/* One look at the service, as /status, the progress line and the alerts see it. */
typedef struct sl_status_snap_s {
    char    status[32];        /* ok, standby, degraded, unhealthy, hung (as /health) */
    char    state[32];         /* the service's own state (applier: running, suspended, ...) */
    int     ready;
    char    reason[512];
    char    source_pos[256];
    char    applied_pos[256];
    int     has_behind, has_lag, has_retained;
    double  behind, lag_s;
    double  rows_total, rows_per_s, errors_total, dlq_total;
    double  retained_bytes;    /* with has_retained */
    int     retention_at_risk;
    char    last_error[512];
    int64_t last_error_ms;     /* wall clock; 0: none */
    int64_t uptime_s;
} sl_status_snap_t;

typedef enum { SL_STATUS_SOURCE = 0, SL_STATUS_APPLIED = 1 } sl_status_side_t;

/* The position of one side as text (copied; NULL clears it). It wins over
 * the log position for the side that stands for (log_pos_is_source), which
 * needs no call otherwise. Thread-safe, cheap. */
void sl_status_set_position(sl_status_side_t side, const char *text);

/* Starts the status thread (and the /status route on http, which may be
 * NULL): progress_ms = 0 writes no progress line; alerts may be NULL (none).
 * Takes ownership of alerts (freed by sl_status_stop, also after a failed
 * start). SL_ERR_NOMEM when the thread cannot start. */
sl_err_t sl_status_start(const sl_status_def_t *def, const char *service, const char *task,
                         sl_metrics_t *metrics, sl_http_t *http, int64_t progress_ms,
                         sl_alert_t *alerts);
/* Stops the thread (sends nothing more) and removes the route; fine when not started. */
void     sl_status_stop(void);

/* The JSON of /status for snap (appended to out). */
void     sl_status_json(const sl_status_snap_t *snap, const char *service, const char *task,
                        sl_buf_t *out);
/* The progress line's text for snap (into out). */
void     sl_status_progress_text(const sl_status_snap_t *snap, char *out, size_t size);

#endif
