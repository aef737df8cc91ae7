/* Unit tests of the status loop (common/sl_status.c) beside its alerts: a
 * webhook that accepts the connection and never answers (a listening socket
 * nobody reads, in this process) must not hold the loop — /status keeps
 * counting rows_per_s from what happened, and stopping does not wait for
 * the webhook's timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sl_alert.h"
#include "sl_http.h"
#include "sl_metrics.h"
#include "sl_status.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A socket that listens on 127.0.0.1 (port into *port) and is never read:
 * the kernel completes the TCP handshake, the HTTP request is never answered. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* GET /status from the endpoint on port; rows_per_s from its JSON. */
static double rows_per_s(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char req[] = "GET /status HTTP/1.0\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    char buf[8192];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
    const char *p = strstr(buf, "\"rows_per_s\":");
    if (!p)
        fail_msg("no rows_per_s in %s", buf);
    return strtod(p + 13, NULL);
}

static void test_silent_webhook_holds_nothing(void **state)
{
    (void)state;
    int wport, silent = silent_listener(&wport);
    char url[64], errstr[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", wport);
    sl_metrics_t *m = sl_metrics_new();
    sl_metric_t *rows = sl_metrics_counter(m, "t_rows_total", "rows", NULL);
    sl_metric_t *errs = sl_metrics_counter(m, "t_errors_total", "errors", NULL);
    sl_http_t *http = NULL;
    assert_int_equal(sl_http_start(&http, "127.0.0.1:0", "applier", "t", m, errstr,
                                   sizeof errstr), SL_OK);
    sl_alert_conf_t ac = {.webhook_url = url, .errors = 1, .for_ms = 1000};
    sl_alert_t *alerts = sl_alert_new(&ac, "applier", "t", m, errstr, sizeof errstr);
    assert_non_null(alerts);
    static const sl_status_def_t def = {.rows = "t_rows_total", .errors = "t_errors_total"};
    sl_metric_inc(errs);           /* the errors rule fires at the loop's first look */
    assert_int_equal(sl_status_start(&def, "applier", "t", m, http, 0, alerts), SL_OK);
    sleep_ms(500);
    /* 1000 rows a second for 4 s, while the alert waits on the silent webhook */
    double t0 = now_s();
    for (int i = 1; i <= 80; i++) {
        sl_metric_add(rows, 50);
        double due = t0 + i * 0.05, now = now_s();
        if (due > now)
            sleep_ms((long)((due - now) * 1000));
    }
    double rate = rows_per_s(sl_http_port(http));
    double t1 = now_s();
    sl_status_stop();
    double stop_s = now_s() - t1;
    sl_http_stop(http);
    sl_metrics_destroy(m);
    close(silent);
    if (rate < 600 || rate > 1400)
        fail_msg("rows_per_s %.1f while 1000 rows/s were counted", rate);
    if (stop_s > 2.0)
        fail_msg("stopping took %.1f s (the webhook's timeout held it)", stop_s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silent_webhook_holds_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
