/* shiftlog: /status, the progress line and the alert loop (see sl_status.h). */
#include "sl_status.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_log.h"

#define RATE_WINDOW 10      /* seconds of rows that rows_per_s averages */

static struct {
    pthread_mutex_t  lock;           /* guards pos[], rate, samples */
    char             pos[2][256];
    const sl_status_def_t *def;
    char             service[64], task[128];
    sl_metrics_t    *metrics;
    sl_http_t       *http;
    int64_t          progress_ms;
    sl_alert_t      *alerts;
    int64_t          started_ms;
    double           rows_at[RATE_WINDOW + 1];   /* rows_total, about one a second */
    int64_t          ms_at[RATE_WINDOW + 1];     /* … and when (monotonic) */
    int              nsamples, next_sample;
    double           rate;
    pthread_t        thread;
    int              running;
    int              stop;           /* atomic */
} st = {.lock = PTHREAD_MUTEX_INITIALIZER};

void sl_status_set_position(sl_status_side_t side, const char *text)
{
    pthread_mutex_lock(&st.lock);
    snprintf(st.pos[side ? 1 : 0], sizeof st.pos[0], "%s", text ? text : "");
    pthread_mutex_unlock(&st.lock);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double sum_of(const char *name, int *found)
{
    double v = 0.0;
    *found = name && st.metrics && sl_metrics_sum(st.metrics, name, &v) > 0;
    return v;
}

static void take_snap(sl_status_snap_t *s)
{
    const sl_status_def_t *d = st.def;
    int f;
    memset(s, 0, sizeof(*s));
    sl_http_get_state(st.http, s->status, sizeof s->status, s->reason, sizeof s->reason,
                      &s->ready);
    if (!(d->state && st.metrics &&
          sl_metrics_label_set(st.metrics, d->state, "state", s->state, sizeof s->state)))
        snprintf(s->state, sizeof s->state, "%s", s->status);
    char logpos[256];
    sl_log_get_position(logpos, sizeof logpos);
    pthread_mutex_lock(&st.lock);
    /* a side set by the service wins; else the log position stands for its side */
    int own = d->log_pos_is_source ? 0 : 1;
    snprintf(s->source_pos, sizeof s->source_pos, "%s",
             st.pos[0][0] || own != 0 ? st.pos[0] : logpos);
    snprintf(s->applied_pos, sizeof s->applied_pos, "%s",
             st.pos[1][0] || own != 1 ? st.pos[1] : logpos);
    s->rows_per_s = st.rate;
    pthread_mutex_unlock(&st.lock);
    s->behind = sum_of(d->behind, &s->has_behind);
    s->lag_s = sum_of(d->lag, &s->has_lag);
    s->rows_total = sum_of(d->rows, &f);
    s->errors_total = sum_of(d->errors, &f);
    s->dlq_total = sum_of(d->dlq, &f);
    s->retained_bytes = sum_of(d->retained, &s->has_retained);
    s->retention_at_risk = sum_of(d->at_risk, &f) > 0.0;
    s->last_error_ms = sl_log_last_error(s->last_error, sizeof s->last_error);
    s->uptime_s = (mono_ms() - st.started_ms) / 1000;
}

static void put_str(sl_buf_t *b, const char *key, const char *v)
{
    sl_buf_printf(b, ",\"%s\":", key);
    if (v && *v)
        sl_buf_json_str(b, v, strlen(v));
    else
        sl_buf_puts(b, "null");
}

void sl_status_json(const sl_status_snap_t *s, const char *service, const char *task,
                    sl_buf_t *b)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    sl_buf_puts(b, "{\"service\":");
    sl_buf_json_str(b, service ? service : "", service ? strlen(service) : 0);
    put_str(b, "task", task);
    put_str(b, "status", s->status);
    sl_buf_printf(b, ",\"ready\":%s", s->ready ? "true" : "false");
    put_str(b, "state", s->state);
    put_str(b, "reason", s->reason);
    put_str(b, "source_position", s->source_pos);
    put_str(b, "applied_position", s->applied_pos);
    if (s->has_behind)
        sl_buf_printf(b, ",\"records_behind\":%.0f", s->behind);
    else
        sl_buf_puts(b, ",\"records_behind\":null");
    if (s->has_lag)
        sl_buf_printf(b, ",\"lag_s\":%.3f", s->lag_s);
    else
        sl_buf_puts(b, ",\"lag_s\":null");
    sl_buf_printf(b, ",\"rows_total\":%.0f,\"rows_per_s\":%.1f,\"errors_total\":%.0f,"
                  "\"dlq_total\":%.0f", s->rows_total, s->rows_per_s, s->errors_total,
                  s->dlq_total);
    put_str(b, "last_error", s->last_error);
    if (s->last_error_ms)
        sl_buf_printf(b, ",\"last_error_age_s\":%" PRId64, (now_ms - s->last_error_ms) / 1000);
    else
        sl_buf_puts(b, ",\"last_error_age_s\":null");
    sl_buf_printf(b, ",\"uptime_s\":%" PRId64, s->uptime_s);
    if (s->has_retained)
        sl_buf_printf(b, ",\"source_log_retained_bytes\":%.0f,\"source_log_at_risk\":%s}\n",
                      s->retained_bytes, s->retention_at_risk ? "true" : "false");
    else
        sl_buf_puts(b, ",\"source_log_retained_bytes\":null,\"source_log_at_risk\":null}\n");
}

void sl_status_progress_text(const sl_status_snap_t *s, char *out, size_t size)
{
    char lag[32] = "-", behind[32] = "-";
    if (s->has_lag)
        snprintf(lag, sizeof lag, "%.1f s", s->lag_s);
    if (s->has_behind)
        snprintf(behind, sizeof behind, "%.0f", s->behind);
    snprintf(out, size, "progress: %s, %.1f rows/s (%.0f in all), source %s, applied %s, "
             "lag %s, records behind %s, errors %.0f, dead letters %.0f", s->state,
             s->rows_per_s, s->rows_total, s->source_pos[0] ? s->source_pos : "-",
             s->applied_pos[0] ? s->applied_pos : "-", lag, behind, s->errors_total,
             s->dlq_total);
}

static unsigned serve_status(void *ctx, sl_http_req_t *req, sl_buf_t *body)
{
    sl_status_snap_t s;
    take_snap(&s);
    sl_status_json(&s, st.service, st.task, body);
    return 200;
}

/* rows_per_s: the rows of the last RATE_WINDOW samples over the time they
 * really span (a late tick — a stopped process, a loaded machine — is not
 * taken for one second). */
static void sample_rows(double rows, int64_t now_ms)
{
    pthread_mutex_lock(&st.lock);
    st.rows_at[st.next_sample] = rows;
    st.ms_at[st.next_sample] = now_ms;
    st.next_sample = (st.next_sample + 1) % (RATE_WINDOW + 1);
    if (st.nsamples < RATE_WINDOW + 1)
        st.nsamples++;
    int oldest = st.nsamples <= RATE_WINDOW ? 0 : st.next_sample;
    double d = rows - st.rows_at[oldest];
    int64_t span = now_ms - st.ms_at[oldest];
    st.rate = st.nsamples > 1 && d > 0 && span > 0 ? d * 1000.0 / (double)span : 0.0;
    pthread_mutex_unlock(&st.lock);
}

static void *loop(void *arg)
{
    int64_t next = mono_ms(), next_progress = next + st.progress_ms;
    while (!__atomic_load_n(&st.stop, __ATOMIC_ACQUIRE)) {
        int64_t now = mono_ms();
        if (now < next) {
            struct timespec ts = {0, (now + 100 < next ? 100 : next - now) * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        next += 1000;
        if (next < now)
            next = now + 1000;        /* the process was stopped (SIGSTOP): no burst */
        sl_status_snap_t s;
        int f;
        sample_rows(sum_of(st.def->rows, &f), now);
        take_snap(&s);
        if (st.progress_ms > 0 && now >= next_progress) {
            char line[1024];
            sl_status_progress_text(&s, line, sizeof line);
            sl_info("%s", line);
            next_progress = now + st.progress_ms;
        }
        sl_alert_eval(st.alerts, &s, now);
    }
    return NULL;
}

sl_err_t sl_status_start(const sl_status_def_t *def, const char *service, const char *task,
                         sl_metrics_t *metrics, sl_http_t *http, int64_t progress_ms,
                         sl_alert_t *alerts)
{
    static const sl_status_def_t none;
    st.def = def ? def : &none;
    snprintf(st.service, sizeof st.service, "%s", service ? service : "");
    snprintf(st.task, sizeof st.task, "%s", task ? task : "");
    st.metrics = metrics;
    st.http = http;
    st.progress_ms = progress_ms;
    st.alerts = alerts;
    st.started_ms = mono_ms();
    st.nsamples = st.next_sample = 0;
    st.rate = 0;
    __atomic_store_n(&st.stop, 0, __ATOMIC_RELEASE);
    if (sl_http_route(http, "GET", "/status", serve_status, NULL) != SL_OK)
        return SL_ERR_NOMEM;
    if (pthread_create(&st.thread, NULL, loop, NULL)) {
        sl_http_route(http, "GET", "/status", NULL, NULL);
        return SL_ERR_NOMEM;
    }
    st.running = 1;
    return SL_OK;
}

void sl_status_stop(void)
{
    if (st.running) {
        __atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
        pthread_join(st.thread, NULL);
        st.running = 0;
    }
    if (st.http)
        sl_http_route(st.http, "GET", "/status", NULL, NULL);
    st.http = NULL;
    sl_alert_free(st.alerts);
    st.alerts = NULL;
}
