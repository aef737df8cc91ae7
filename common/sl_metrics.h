/* shiftlog: a small registry of counters, gauges and histograms, rendered in the
 * Prometheus text exposition format (version 0.0.4) for /metrics.
 *
 *   sl_metrics_t *m = sl_metrics_new();
 *   sl_metric_t *rows = sl_metrics_counter(m, "shiftlog_rows_total",
 *       "Rows applied.", (const char *[]){"table", "shop.orders", NULL});
 *   sl_metric_inc(rows);              // hot path: one atomic add
 *
 * A series is a (name, labels) pair; registering the same pair again returns
 * the same handle, so a module can look its series up once and keep the
 * handle. Handles are owned by the registry and stay valid until
 * sl_metrics_destroy(). Every function is thread-safe: registration and
 * rendering take a mutex, updates are lock-free atomics.
 *
 * Rendering is deterministic: families sorted by name, series by their label
 * text; label values are escaped (\\, \", \n) and so is HELP text.
 *
 * Naming (Prometheus conventions, checked by tests/it/test_ops.py with a real
 * parser): counters end in _total, durations are in seconds (_seconds), sizes
 * in bytes (_bytes); a rate is not a metric (Prometheus computes it from a
 * counter). */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stdint.h>
#include "sl_buf.h"
#include "sl_err.h"

typedef struct sl_metrics_s sl_metrics_t;
typedef struct sl_metric_s  sl_metric_t;

/* Returns a new empty registry; free with sl_metrics_destroy(). NULL on OOM. */
sl_metrics_t *sl_metrics_new(void);
void          sl_metrics_destroy(sl_metrics_t *m);

/* labels: NULL or a NULL-terminated list of name, value, name, value, ...
 * Returns the series handle, or NULL when the name or a label name is not a
 * valid Prometheus name, the name is already registered with another type,
 * or memory ran out (all are bugs in the caller, not runtime conditions).
 * The help text of the first registration of a name is kept. */
sl_metric_t *sl_metrics_counter(sl_metrics_t *m, const char *name, const char *help,
                                const char *const *labels);
sl_metric_t *sl_metrics_gauge(sl_metrics_t *m, const char *name, const char *help,
                              const char *const *labels);
/* A counter whose total is kept elsewhere and copied in with sl_metric_set()
 * (a double: process_cpu_seconds_total from /proc). */
sl_metric_t *sl_metrics_counter_total(sl_metrics_t *m, const char *name, const char *help,
                                      const char *const *labels);

/* A histogram of integer observations, one series per part: a bucket per
 * upper bound, given as the label le ("10", "+Inf"; the caller increments
 * every bucket whose bound is >= the value, +Inf always), the sum and the
 * count. name is the family's (rendered as name_bucket{...,le="10"} in
 * ascending le, +Inf last, then name_sum, name_count, under one
 * "# TYPE name histogram"). NULL without a numeric le, as for the other
 * registrations' bad input. */
sl_metric_t *sl_metrics_histogram_bucket(sl_metrics_t *m, const char *name, const char *help,
                                         const char *const *labels);
sl_metric_t *sl_metrics_histogram_sum(sl_metrics_t *m, const char *name, const char *help,
                                      const char *const *labels);
sl_metric_t *sl_metrics_histogram_count(sl_metrics_t *m, const char *name, const char *help,
                                        const char *const *labels);

/* fn(ctx, m) runs at the start of every sl_metrics_render(), in the renderer's
 * thread, without the registry's lock: it refreshes values read on demand
 * (the process_* metrics from /proc). NULL fn removes it. */
typedef void sl_metrics_render_fn(void *ctx, sl_metrics_t *m);
void sl_metrics_on_render(sl_metrics_t *m, sl_metrics_render_fn *fn, void *ctx);

/* Counters and histogram parts only go up; a NULL handle is ignored so optional metrics cost
 * nothing to skip. */
void   sl_metric_inc(sl_metric_t *c);
void   sl_metric_add(sl_metric_t *c, uint64_t n);
/* Gauges (and sl_metrics_counter_total series: set only). */
void   sl_metric_set(sl_metric_t *g, double v);
void   sl_metric_gauge_add(sl_metric_t *g, double delta);
/* Current value (counter as double). */
double sl_metric_value(const sl_metric_t *s);

/* The sum of every series of the counter or gauge family name (all its
 * label values: the rows of every table) into *sum; returns how many series
 * there are (0: the family is not registered, *sum = 0). For /status. */
int    sl_metrics_sum(sl_metrics_t *m, const char *name, double *sum);

/* The value of label in the first series of family name that is set (>= 1),
 * into out: the current state of a one-hot state gauge
 * (shiftlog_applier_state{state="running"} 1). 1 when found, else 0. */
int    sl_metrics_label_set(sl_metrics_t *m, const char *name, const char *label, char *out,
                            size_t size);

/* Appends the exposition text of every metric to out. */
sl_err_t sl_metrics_render(sl_metrics_t *m, sl_buf_t *out);

#endif
