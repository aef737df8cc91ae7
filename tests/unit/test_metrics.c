/* Unit tests of the metrics registry: the exact Prometheus text (HELP/TYPE,
 * order, label escaping), handle reuse, type clashes, concurrent updates. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sl_http.h"
#include "sl_metrics.h"
#include "sl_procstat.h"

static char *render(sl_metrics_t *m)
{
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_metrics_render(m, &b), SL_OK);
    return b.data;  /* caller frees */
}

static void test_empty(void **state)
{
    (void)state;
    sl_metrics_t *m = sl_metrics_new();
    char *t = render(m);
    assert_string_equal(t, "");
    free(t);
    sl_metrics_destroy(m);
}

static void test_exposition_text(void **state)
{
    (void)state;
    sl_metrics_t *m = sl_metrics_new();
    sl_metric_t *orders = sl_metrics_counter(m, "shiftlog_rows_total", "Rows applied, per table.",
                                             (const char *[]){"table", "shop.orders", NULL});
    sl_metric_t *items = sl_metrics_counter(m, "shiftlog_rows_total", "ignored second help",
                                            (const char *[]){"table", "shop.items", NULL});
    sl_metric_t *lag = sl_metrics_gauge(m, "shiftlog_lag_seconds", "Lag from source commit\\n, in s.\nsecond line", NULL);
    sl_metric_t *odd = sl_metrics_gauge(m, "shiftlog_odd", "Escapes.",
                                        (const char *[]){"b", "q\"uote", "a", "back\\slash\nnl", NULL});
    sl_metric_t *errs = sl_metrics_counter(m, "shiftlog_errors_total", "Errors.", NULL);
    assert_non_null(orders);
    assert_non_null(items);
    assert_non_null(lag);
    assert_non_null(odd);
    sl_metric_add(orders, 41);
    sl_metric_inc(orders);
    sl_metric_inc(items);
    sl_metric_set(lag, 1.5);
    sl_metric_set(odd, 0.25);
    (void)errs;
    char *t = render(m);
    assert_string_equal(t,
        "# HELP shiftlog_errors_total Errors.\n"
        "# TYPE shiftlog_errors_total counter\n"
        "shiftlog_errors_total 0\n"
        "# HELP shiftlog_lag_seconds Lag from source commit\\\\n, in s.\\nsecond line\n"
        "# TYPE shiftlog_lag_seconds gauge\n"
        "shiftlog_lag_seconds 1.5\n"
        "# HELP shiftlog_odd Escapes.\n"
        "# TYPE shiftlog_odd gauge\n"
        "shiftlog_odd{b=\"q\\\"uote\",a=\"back\\\\slash\\nnl\"} 0.25\n"
        "# HELP shiftlog_rows_total Rows applied, per table.\n"
        "# TYPE shiftlog_rows_total counter\n"
        "shiftlog_rows_total{table=\"shop.items\"} 1\n"
        "shiftlog_rows_total{table=\"shop.orders\"} 42\n");
    free(t);
    sl_metrics_destroy(m);
}

/* /status reads families whole: the sum of every table's rows, the state at 1. */
static void test_family_sum_and_state_label(void **state)
{
    sl_metrics_t *m = sl_metrics_new();
    double sum = -1;
    assert_int_equal(sl_metrics_sum(m, "rows_total", &sum), 0);
    assert_true(sum == 0.0);
    sl_metric_add(sl_metrics_counter(m, "rows_total", "h", (const char *[]){"table", "a", NULL}), 3);
    sl_metric_add(sl_metrics_counter(m, "rows_total", "h", (const char *[]){"table", "b", NULL}), 4);
    sl_metric_add(sl_metrics_counter(m, "rows_totalx", "h", NULL), 100);
    assert_int_equal(sl_metrics_sum(m, "rows_total", &sum), 2);
    assert_true(sum == 7.0);
    char st[32] = "";
    sl_metric_t *run = sl_metrics_gauge(m, "app_state", "h", (const char *[]){"state", "running", NULL});
    sl_metric_t *sus = sl_metrics_gauge(m, "app_state", "h", (const char *[]){"state", "suspended", NULL});
    assert_int_equal(sl_metrics_label_set(m, "app_state", "state", st, sizeof st), 0);
    sl_metric_set(sus, 1);
    assert_int_equal(sl_metrics_label_set(m, "app_state", "state", st, sizeof st), 1);
    assert_string_equal(st, "suspended");
    sl_metric_set(sus, 0);
    sl_metric_set(run, 1);
    sl_metrics_label_set(m, "app_state", "state", st, sizeof st);
    assert_string_equal(st, "running");
    sl_metrics_destroy(m);
}

static void test_same_series_same_handle(void **state)
{
    (void)state;
    sl_metrics_t *m = sl_metrics_new();
    const char *l[] = {"table", "t", NULL};
    sl_metric_t *a = sl_metrics_counter(m, "x_total", "X.", l);
    sl_metric_t *b = sl_metrics_counter(m, "x_total", "X.", (const char *[]){"table", "t", NULL});
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, sl_metrics_counter(m, "x_total", "X.", NULL));
    sl_metrics_destroy(m);
}

static void test_invalid_registrations(void **state)
{
    (void)state;
    sl_metrics_t *m = sl_metrics_new();
    assert_non_null(sl_metrics_counter(m, "a_total", "A.", NULL));
    assert_null(sl_metrics_gauge(m, "a_total", "type clash", NULL));
    assert_null(sl_metrics_counter(m, "9starts_with_digit", "", NULL));
    assert_null(sl_metrics_counter(m, "has-dash", "", NULL));
    assert_null(sl_metrics_counter(m, "", "", NULL));
    assert_null(sl_metrics_counter(m, "ok", "", (const char *[]){"bad-label", "v", NULL}));
    assert_null(sl_metrics_counter(m, "ok", "", (const char *[]){"no_value", NULL}));
    assert_non_null(sl_metrics_gauge(m, "ns:sub_ok", "colons allowed in names", NULL));
    /* NULL handles are ignored */
    sl_metric_inc(NULL);
    sl_metric_set(NULL, 1);
    assert_true(sl_metric_value(NULL) == 0.0);
    sl_metrics_destroy(m);
}

static void test_gauge_values(void **state)
{
    (void)state;
    sl_metrics_t *m = sl_metrics_new();
    sl_metric_t *g = sl_metrics_gauge(m, "g", "G.", NULL);
    sl_metric_gauge_add(g, 2.5);
    sl_metric_gauge_add(g, -1);
    assert_true(sl_metric_value(g) == 1.5);
    sl_metric_set(g, -3);
    char *t = render(m);
    assert_string_equal(t, "# HELP g G.\n# TYPE g gauge\ng -3\n");
    free(t);
    sl_metric_set(g, NAN);
    t = render(m);
    assert_string_equal(t, "# HELP g G.\n# TYPE g gauge\ng NaN\n");
    free(t);
    sl_metric_set(g, -INFINITY);
    t = render(m);
    assert_string_equal(t, "# HELP g G.\n# TYPE g gauge\ng -Inf\n");
    free(t);
    sl_metrics_destroy(m);
}

static sl_metrics_t *shared;

static void *bump(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        /* lookups and updates race with each other and with rendering */
        sl_metric_inc(sl_metrics_counter(shared, "c_total", "C.", (const char *[]){"k", i % 2 ? "odd" : "even", NULL}));
        sl_metric_gauge_add(sl_metrics_gauge(shared, "g", "G.", NULL), 1);
        if (i % 1000 == 0) {
            sl_buf_t b = SL_BUF_INIT;
            sl_metrics_render(shared, &b);
            sl_buf_free(&b);
        }
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    shared = sl_metrics_new();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, bump, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *txt = render(shared);
    assert_string_equal(txt,
        "# HELP c_total C.\n# TYPE c_total counter\n"
        "c_total{k=\"even\"} 20000\nc_total{k=\"odd\"} 20000\n"
        "# HELP g G.\n# TYPE g gauge\ng 40000\n");
    free(txt);
    sl_metrics_destroy(shared);
}

/* --- the HTTP endpoint that serves the registry (loopback only) ---------- */

/* One request on 127.0.0.1:port (body NULL = none); returns the whole
 * response (caller frees). */
static char *http_req(int port, const char *method, const char *path, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[512];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, body ? strlen(body) : 0, body ? body : "");
    assert_int_equal(write(fd, req, (size_t)n), n);
    sl_buf_t b = SL_BUF_INIT;
    char tmp[4096];
    ssize_t r;
    while ((r = read(fd, tmp, sizeof(tmp))) > 0)
        sl_buf_append(&b, tmp, (size_t)r);
    close(fd);
    return b.data;
}

static char *http_get(int port, const char *path)
{
    return http_req(port, "GET", path, NULL);
}

/* A route handler as a service would write one: it reads an argument and
 * leaves a request; the test plays the main loop. */
static unsigned route_resume(void *ctx, sl_http_req_t *req, sl_buf_t *body)
{
    char *last = ctx;
    const char *t = sl_http_req_arg(req, "table");
    if (!t) {
        sl_buf_puts(body, "{\"error\":\"no table\"}");
        return 400;
    }
    snprintf(last, 64, "%s", t);
    sl_buf_printf(body, "{\"resuming\":\"%s\"}", t);
    return 202;
}

static unsigned route_list(void *ctx, sl_http_req_t *req, sl_buf_t *body)
{
    sl_buf_printf(body, "{\"last\":\"%s\"}", (const char *)ctx);
    return 200;
}

static void test_http_routes(void **state)
{
    (void)state;
    char err[256], last[64] = "";
    sl_http_t *h = NULL;
    assert_int_equal(sl_http_start(&h, "127.0.0.1:0", "applier", "t1", NULL, err, sizeof(err)),
                     SL_OK);
    assert_int_equal(sl_http_route(h, "POST", "/tables/resume", route_resume, last), SL_OK);
    assert_int_equal(sl_http_route(h, "GET", "/tables", route_list, last), SL_OK);
    assert_int_equal(sl_http_route(NULL, "GET", "/x", route_list, last), SL_OK);
    int port = sl_http_port(h);

    char *r = http_req(port, "POST", "/tables/resume?table=shop.orders", NULL);
    assert_non_null(strstr(r, "HTTP/1.1 202"));
    assert_non_null(strstr(r, "\r\n\r\n{\"resuming\":\"shop.orders\"}"));
    assert_string_equal(last, "shop.orders");
    free(r);
    /* a body is read and ignored; the argument is decoded */
    r = http_req(port, "POST", "/tables/resume?table=a%2Eb", "ignored=1");
    assert_non_null(strstr(r, "HTTP/1.1 202"));
    assert_string_equal(last, "a.b");
    free(r);
    r = http_req(port, "POST", "/tables/resume", NULL);
    assert_non_null(strstr(r, "HTTP/1.1 400"));
    free(r);
    r = http_get(port, "/tables");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "Content-Type: application/json"));
    assert_non_null(strstr(r, "{\"last\":\"a.b\"}"));
    free(r);
    /* no route: other methods stay refused, other paths unknown */
    r = http_req(port, "POST", "/health", NULL);
    assert_non_null(strstr(r, "HTTP/1.1 405"));
    free(r);
    r = http_get(port, "/tables/resume");
    assert_non_null(strstr(r, "HTTP/1.1 404"));
    free(r);
    /* a route removed is gone (and its ctx no longer used) */
    assert_int_equal(sl_http_route(h, "GET", "/tables", NULL, NULL), SL_OK);
    r = http_get(port, "/tables");
    assert_non_null(strstr(r, "HTTP/1.1 404"));
    free(r);
    r = http_get(port, "/health");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    free(r);
    sl_http_stop(h);
}

static void test_http_endpoint(void **state)
{
    (void)state;
    char err[256];
    sl_metrics_t *m = sl_metrics_new();
    sl_metric_inc(sl_metrics_counter(m, "shiftlog_rows_total", "Rows.",
                                     (const char *[]){"table", "a\"b", NULL}));
    sl_http_t *h = NULL;
    assert_int_equal(sl_http_start(&h, "127.0.0.1:0", "applier", "t1", m, err, sizeof(err)), SL_OK);
    assert_non_null(h);
    int port = sl_http_port(h);
    assert_true(port > 0);

    char *r = http_get(port, "/health");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "\r\n\r\n{\"status\":\"ok\",\"live\":true,\"ready\":true,"
                              "\"service\":\"applier\",\"task\":\"t1\",\"uptime_s\":0}\n"));
    free(r);

    /* not healthy: not ready (503 on /ready), still alive (200 on /health) */
    sl_http_set_health(h, 0, "target \"pg\" unreachable");
    r = http_get(port, "/ready");
    assert_non_null(strstr(r, "HTTP/1.1 503"));
    assert_non_null(strstr(r, "{\"status\":\"unhealthy\",\"live\":true,\"ready\":false,"
                              "\"reason\":\"target \\\"pg\\\" unreachable\",\"service\":\"applier\""));
    free(r);
    r = http_get(port, "/health");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    free(r);
    sl_http_set_health(h, 1, NULL);
    r = http_get(port, "/ready");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    free(r);

    r = http_get(port, "/metrics");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(r, "\r\n\r\n# HELP shiftlog_rows_total Rows.\n# TYPE shiftlog_rows_total counter\n"
                              "shiftlog_rows_total{table=\"a\\\"b\"} 1\n"));
    free(r);
    r = http_get(port, "/other");
    assert_non_null(strstr(r, "HTTP/1.1 404"));
    free(r);
    sl_http_stop(h);
    sl_metrics_destroy(m);
}

static int64_t idle_for;
static int64_t fake_idle_ms(void)
{
    return idle_for;
}

/* Liveness and readiness: standby, degraded and unhealthy are alive but not
 * ready; only a hang (no turn for the liveness timeout) fails /health. */
static void test_http_live_vs_ready(void **state)
{
    (void)state;
    char err[256];
    sl_http_t *h = NULL;
    assert_int_equal(sl_http_start(&h, "127.0.0.1:0", "collector", "s", NULL, err, sizeof(err)),
                     SL_OK);
    int port = sl_http_port(h);
    static const struct { const char *what; int live, ready; } cases[] = {
        {"ok", 1, 1}, {"standby", 1, 0}, {"degraded", 1, 0}, {"unhealthy", 1, 0},
        {"hung", 0, 0},
    };
    idle_for = 0;
    sl_http_set_liveness(h, fake_idle_ms, 60000);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *w = cases[i].what;
        sl_http_set_health(h, 1, NULL);
        sl_http_set_degraded(h, NULL);
        idle_for = 0;
        if (!strcmp(w, "standby"))
            sl_http_set_status(h, "standby", "lease held by vm:1");
        else if (!strcmp(w, "degraded"))
            sl_http_set_degraded(h, "table s.t stopped");
        else if (!strcmp(w, "unhealthy"))
            sl_http_set_health(h, 0, "source unreachable");
        else if (!strcmp(w, "hung"))
            idle_for = 60000;
        char *live = http_get(port, "/health"), *ready = http_get(port, "/ready");
        char status[64];
        snprintf(status, sizeof status, "{\"status\":\"%s\"", w);
        assert_non_null(strstr(live, cases[i].live ? "HTTP/1.1 200" : "HTTP/1.1 503"));
        assert_non_null(strstr(ready, cases[i].ready ? "HTTP/1.1 200" : "HTTP/1.1 503"));
        assert_non_null(strstr(live, status));
        assert_non_null(strstr(ready, cases[i].ready ? "\"ready\":true" : "\"ready\":false"));
        free(live);
        free(ready);
    }
    /* a liveness timeout of 0 never fails /health */
    sl_http_set_liveness(h, fake_idle_ms, 0);
    char *r = http_get(port, "/health");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    free(r);
    sl_http_stop(h);
}

/* A histogram: one TYPE line, buckets by ascending le whatever the order of
 * registration, +Inf last, then _sum and _count; other labels kept. */
static void test_histogram(void **state)
{
    (void)state;
    sl_metrics_t *m = sl_metrics_new();
    static const char *const le[] = {"+Inf", "100", "1", "10"};
    sl_metric_t *b[4];
    for (int i = 0; i < 4; i++)
        b[i] = sl_metrics_histogram_bucket(m, "x_rows", "Rows per txn.",
                                           (const char *[]){"le", le[i], NULL});
    sl_metric_t *sum = sl_metrics_histogram_sum(m, "x_rows", NULL, NULL);
    sl_metric_t *cnt = sl_metrics_histogram_count(m, "x_rows", NULL, NULL);
    for (int i = 0; i < 4; i++)
        assert_non_null(b[i]);
    /* observe 5: buckets 10, 100, +Inf */
    sl_metric_inc(b[0]);
    sl_metric_inc(b[1]);
    sl_metric_inc(b[3]);
    sl_metric_add(sum, 5);
    sl_metric_inc(cnt);
    assert_ptr_equal(b[2], sl_metrics_histogram_bucket(m, "x_rows", "",
                                                       (const char *[]){"le", "1", NULL}));
    sl_metric_t *lab = sl_metrics_histogram_bucket(m, "y", "Y.",
                                                   (const char *[]){"t", "a", "le", "2", NULL});
    sl_metric_inc(lab);
    char *t = render(m);
    assert_string_equal(t,
        "# HELP x_rows Rows per txn.\n"
        "# TYPE x_rows histogram\n"
        "x_rows_bucket{le=\"1\"} 0\n"
        "x_rows_bucket{le=\"10\"} 1\n"
        "x_rows_bucket{le=\"100\"} 1\n"
        "x_rows_bucket{le=\"+Inf\"} 1\n"
        "x_rows_sum 5\n"
        "x_rows_count 1\n"
        "# HELP y Y.\n"
        "# TYPE y histogram\n"
        "y_bucket{t=\"a\",le=\"2\"} 1\n");
    free(t);
    /* no numeric le, or a type clash: NULL */
    assert_null(sl_metrics_histogram_bucket(m, "z", "", NULL));
    assert_null(sl_metrics_histogram_bucket(m, "z", "", (const char *[]){"le", "ten", NULL}));
    assert_null(sl_metrics_counter(m, "x_rows", "", NULL));
    assert_null(sl_metrics_gauge(m, "y", "", NULL));
    sl_metrics_destroy(m);
}

static int hook_calls;
static void hook(void *ctx, sl_metrics_t *m)
{
    hook_calls++;
    sl_metric_set(ctx, 2.5 * hook_calls);
    (void)m;
}

/* A counter whose total is set (CPU seconds), and the render hook that sets it. */
static void test_counter_total_and_hook(void **state)
{
    (void)state;
    sl_metrics_t *m = sl_metrics_new();
    sl_metric_t *c = sl_metrics_counter_total(m, "cpu_seconds_total", "CPU.", NULL);
    assert_non_null(c);
    sl_metric_inc(c);                     /* not an integer counter: ignored */
    sl_metrics_on_render(m, hook, c);
    hook_calls = 0;
    char *t = render(m);
    assert_string_equal(t, "# HELP cpu_seconds_total CPU.\n# TYPE cpu_seconds_total counter\n"
                           "cpu_seconds_total 2.5\n");
    free(t);
    assert_int_equal(hook_calls, 1);
    assert_null(sl_metrics_counter(m, "cpu_seconds_total", "", NULL));  /* other kind */
    sl_metrics_destroy(m);
}

static double sample(const char *text, const char *name)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s ", name);
    const char *p = strstr(text, pat);
    return p ? strtod(p + strlen(pat), NULL) : -1;
}

/* process_* from /proc: present, typed, and plausible for this process. */
static void test_procstat(void **state)
{
    (void)state;
    sl_metrics_t *m = sl_metrics_new();
    sl_procstat_register(m);
    volatile double x = 0;                /* some CPU time */
    for (long i = 0; i < 20000000; i++)
        x += (double)i;
    char *t = render(m);
    assert_non_null(strstr(t, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(t, "# TYPE process_resident_memory_bytes gauge\n"));
    assert_non_null(strstr(t, "# TYPE process_start_time_seconds gauge\n"));
    assert_non_null(strstr(t, "# TYPE process_open_fds gauge\n"));
    assert_true(sample(t, "process_cpu_seconds_total") > 0);
    assert_true(sample(t, "process_resident_memory_bytes") > 1e5);
    double start = sample(t, "process_start_time_seconds");
    assert_true(start > 1.7e9 && start <= (double)time(NULL) + 1);
    assert_true(sample(t, "process_open_fds") >= 3);
    assert_true(sample(t, "process_max_fds") >= sample(t, "process_open_fds"));
    free(t);
    sl_metrics_destroy(m);
}

/* Every /health text is masked as log lines are: a reason or a degraded
 * detail can carry a target address with its password (through errstr). */
static void test_http_health_texts_masked(void **state)
{
    (void)state;
    char err[256];
    sl_http_t *h = NULL;
    assert_int_equal(sl_http_start(&h, "127.0.0.1:0", "applier", "t1", NULL, err, sizeof(err)),
                     SL_OK);
    int port = sl_http_port(h);
    sl_http_set_degraded(h, "table s.t stopped: mongodb target mongodb://u:Canary-D1@h:1/x: "
                            "cannot reach the server");
    char *r = http_get(port, "/health");
    assert_null(strstr(r, "Canary-D1"));
    assert_non_null(strstr(r, "mongodb://u:****@h:1/x"));
    free(r);
    sl_http_set_health(h, 0, "target unavailable: password=Canary-R2 host=h");
    r = http_get(port, "/health");
    assert_null(strstr(r, "Canary-R2"));
    assert_non_null(strstr(r, "password=****"));
    free(r);
    sl_http_stop(h);
}

static void test_http_listen_values(void **state)
{
    (void)state;
    char err[256];
    sl_http_t *h = (sl_http_t *)1;
    assert_int_equal(sl_http_start(&h, "off", "s", NULL, NULL, err, sizeof(err)), SL_OK);
    assert_null(h);
    assert_int_equal(sl_http_port(NULL), 0);
    assert_int_equal(sl_http_listen_check("127.0.0.1:9100", err, sizeof(err)), 0);
    assert_int_equal(sl_http_listen_check(":9100", err, sizeof(err)), 0);
    assert_int_equal(sl_http_listen_check("[::1]:0", err, sizeof(err)), 0);
    assert_int_equal(sl_http_listen_check("localhost:80", err, sizeof(err)), 0);
    assert_int_equal(sl_http_listen_check("127.0.0.1", err, sizeof(err)), -1);
    assert_string_equal(err, "\"127.0.0.1\" is not host:port, [ipv6]:port, :port or off (e.g. 127.0.0.1:9100)");
    assert_int_equal(sl_http_listen_check("h:70000", err, sizeof(err)), -1);
    assert_int_equal(sl_http_listen_check("::1:80", err, sizeof(err)), -1);
    assert_int_equal(sl_http_listen_check("h:", err, sizeof(err)), -1);
    assert_int_equal(sl_http_start(&h, "1.2.3.4", "s", NULL, NULL, err, sizeof(err)), SL_ERR_INVALID);
    assert_string_equal(err, "http.listen: \"1.2.3.4\" is not host:port, [ipv6]:port, :port or off (e.g. 127.0.0.1:9100)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_exposition_text),
        cmocka_unit_test(test_same_series_same_handle),
        cmocka_unit_test(test_invalid_registrations),
        cmocka_unit_test(test_gauge_values),
        cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_http_endpoint),
        cmocka_unit_test(test_http_live_vs_ready),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_counter_total_and_hook),
        cmocka_unit_test(test_procstat),
        cmocka_unit_test(test_http_health_texts_masked),
        cmocka_unit_test(test_http_routes),
        cmocka_unit_test(test_family_sum_and_state_label),
        cmocka_unit_test(test_http_listen_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
