/* Unit tests of the alert rules (sl_alert.c): a condition fires once after
 * alert.for, is never sent twice in a row, recovers once after alert.for
 * without it; standby counts only when asked; growth rules fire at once; a
 * failed delivery is retried in order. The channels themselves (libcurl to a
 * real HTTP and SMTP server) are tests/it/test_alerts.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sl_alert.h"
#include "sl_log.h"
#include "sl_status.h"

typedef struct sink_s {
    char got[32][64];       /* "rule firing" / "rule resolved" */
    char summary[32][768];
    int  n;
    int  fail_next;         /* deliveries to refuse first */
} sink_t;

static int to_sink(void *ctx, const sl_alert_note_t *note, const sl_status_snap_t *snap,
                   char *errstr, size_t errstr_size)
{
    sink_t *s = ctx;
    if (s->fail_next > 0) {
        s->fail_next--;
        snprintf(errstr, errstr_size, "refused");
        return -1;
    }
    snprintf(s->got[s->n], sizeof s->got[0], "%s %s", note->rule,
             note->firing ? "firing" : "resolved");
    snprintf(s->summary[s->n], sizeof s->summary[0], "%s", note->summary);
    s->n++;
    return 0;
}

static sl_alert_t *rules(sink_t *sink, sl_alert_conf_t c)
{
    char errstr[256];
    c.webhook_url = "http://127.0.0.1:1/unused";
    sl_alert_t *a = sl_alert_new(&c, "applier", "t1", NULL, errstr, sizeof errstr);
    assert_non_null(a);
    sl_alert_set_sender(a, to_sink, sink);
    return a;
}

static sl_status_snap_t ok_snap(void)
{
    sl_status_snap_t s;
    memset(&s, 0, sizeof s);
    strcpy(s.status, "ok");
    strcpy(s.state, "running");
    s.ready = 1;
    s.has_lag = s.has_behind = 1;
    return s;
}

static void test_lag_fires_once_after_for_and_recovers_once(void **state)
{
    sink_t k = {0};
    sl_alert_t *a = rules(&k, (sl_alert_conf_t){.lag_ms = 5000, .for_ms = 10000});
    sl_status_snap_t s = ok_snap();
    s.lag_s = 6;
    sl_alert_eval(a, &s, 0);
    sl_alert_eval(a, &s, 9999);
    assert_int_equal(k.n, 0);                    /* not yet held for alert.for */
    s.lag_s = 7;
    sl_alert_eval(a, &s, 10000);
    assert_int_equal(k.n, 1);
    assert_string_equal(k.got[0], "lag firing");
    assert_non_null(strstr(k.summary[0], "applier[t1]: lag 7.0 s above 5.0 s for 10 s"));
    for (int t = 11000; t < 20000; t += 1000)
        sl_alert_eval(a, &s, t);
    assert_int_equal(k.n, 1);                    /* de-duplicated */
    s.lag_s = 1;
    sl_alert_eval(a, &s, 20000);
    s.lag_s = 6;                                 /* back above: the quiet time starts again */
    sl_alert_eval(a, &s, 25000);
    s.lag_s = 1;
    sl_alert_eval(a, &s, 26000);
    sl_alert_eval(a, &s, 35999);
    assert_int_equal(k.n, 1);
    sl_alert_eval(a, &s, 36000);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.got[1], "lag resolved");
    sl_alert_eval(a, &s, 50000);
    assert_int_equal(k.n, 2);
    sl_alert_free(a);
}

static void test_not_ready_and_standby(void **state)
{
    sink_t k = {0};
    sl_alert_t *a = rules(&k, (sl_alert_conf_t){.not_ready = 1, .for_ms = 1000});
    sl_status_snap_t s = ok_snap();
    s.ready = 0;
    strcpy(s.status, "standby");
    strcpy(s.state, "standby");
    sl_alert_eval(a, &s, 0);
    sl_alert_eval(a, &s, 5000);
    assert_int_equal(k.n, 0);                    /* a hot standby is normal */
    strcpy(s.status, "paused");                  /* the task table paused it */
    strcpy(s.state, "paused");
    sl_alert_eval(a, &s, 5500);
    sl_alert_eval(a, &s, 5900);
    assert_int_equal(k.n, 0);                    /* the operator's choice: no alert */
    strcpy(s.status, "unhealthy");
    strcpy(s.state, "suspended");
    strcpy(s.reason, "3 errors in a row");
    sl_alert_eval(a, &s, 6000);
    sl_alert_eval(a, &s, 7000);
    assert_int_equal(k.n, 1);
    assert_string_equal(k.got[0], "not_ready firing");
    assert_non_null(strstr(k.summary[0], "not ready for 1 s: suspended: 3 errors in a row"));
    sl_alert_free(a);

    sink_t k2 = {0};
    a = rules(&k2, (sl_alert_conf_t){.not_ready = 1, .standby = 1, .for_ms = 1000});
    s.ready = 0;
    strcpy(s.status, "standby");
    sl_alert_eval(a, &s, 0);
    sl_alert_eval(a, &s, 1000);
    assert_int_equal(k2.n, 1);                   /* alert.standby = true: it counts */
    s = ok_snap();
    sl_alert_eval(a, &s, 2000);
    sl_alert_eval(a, &s, 3000);
    assert_int_equal(k2.n, 2);
    assert_string_equal(k2.got[1], "not_ready resolved");
    sl_alert_free(a);
}

/* Source log retention (collector): above alert.retention, or at risk
 * whatever the size; nothing where the service does not measure it. */
static void test_retention_above_threshold_or_at_risk(void **state)
{
    sink_t k = {0};
    sl_alert_t *a = rules(&k, (sl_alert_conf_t){.retention = 1000, .for_ms = 1000});
    sl_status_snap_t s = ok_snap();
    s.retained_bytes = 5000;                     /* not measured: has_retained = 0 */
    sl_alert_eval(a, &s, 0);
    sl_alert_eval(a, &s, 5000);
    assert_int_equal(k.n, 0);
    s.has_retained = 1;
    s.retained_bytes = 900;
    sl_alert_eval(a, &s, 6000);
    sl_alert_eval(a, &s, 8000);
    assert_int_equal(k.n, 0);                    /* below the threshold */
    s.retained_bytes = 1500;
    sl_alert_eval(a, &s, 9000);
    sl_alert_eval(a, &s, 10000);
    assert_int_equal(k.n, 1);
    assert_string_equal(k.got[0], "retention firing");
    assert_non_null(strstr(k.summary[0], "1500 bytes retained (above alert.retention)"));
    s.retained_bytes = 10;
    sl_alert_eval(a, &s, 11000);
    sl_alert_eval(a, &s, 12000);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.got[1], "retention resolved");
    sl_alert_free(a);

    sink_t k2 = {0};
    a = rules(&k2, (sl_alert_conf_t){.for_ms = 1000});   /* alert.retention = 0 */
    s.retained_bytes = 1e12;
    sl_alert_eval(a, &s, 0);
    sl_alert_eval(a, &s, 2000);
    assert_int_equal(k2.n, 0);                   /* a size alone: no threshold set */
    s.retention_at_risk = 1;
    sl_alert_eval(a, &s, 3000);
    sl_alert_eval(a, &s, 4000);
    assert_int_equal(k2.n, 1);
    assert_non_null(strstr(k2.summary[0], "about to drop some"));
    sl_alert_free(a);
}

static void test_growth_fires_at_once_and_recovers_after_quiet(void **state)
{
    sink_t k = {0};
    sl_alert_t *a = rules(&k, (sl_alert_conf_t){.errors = 1, .dlq = 1, .for_ms = 5000});
    sl_status_snap_t s = ok_snap();
    sl_alert_eval(a, &s, 0);
    assert_int_equal(k.n, 0);
    s.errors_total = 2;
    s.dlq_total = 1;
    strcpy(s.last_error, "offset 7: cannot decode");
    sl_alert_eval(a, &s, 1000);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.got[0], "errors firing");
    assert_non_null(strstr(k.summary[0], "(2 in all); last: offset 7: cannot decode"));
    assert_string_equal(k.got[1], "dlq firing");
    /* one look a second, as the status thread does; more errors at 3 s */
    for (int t = 2000; t <= 9000; t += 1000) {
        if (t == 3000)
            s.errors_total = 3;
        sl_alert_eval(a, &s, t);
        if (t < 7000)
            assert_int_equal(k.n, 2);            /* still the same alerts */
        else if (t < 9000)
            assert_int_equal(k.n, 3);            /* dlq: quiet since 2 s */
    }
    assert_int_equal(k.n, 4);                    /* errors: quiet since 4 s */
    assert_string_equal(k.got[2], "dlq resolved");
    assert_string_equal(k.got[3], "errors resolved");
    sl_alert_free(a);
}

static void test_failed_delivery_retried_in_order(void **state)
{
    sink_t k = {.fail_next = 2};
    sl_alert_t *a = rules(&k, (sl_alert_conf_t){.errors = 1, .for_ms = 1000});
    sl_status_snap_t s = ok_snap();
    s.errors_total = 1;
    sl_alert_eval(a, &s, 0);                     /* firing: refused */
    sl_alert_eval(a, &s, 1000);                  /* refused again */
    assert_int_equal(k.n, 0);
    sl_alert_eval(a, &s, 2000);                  /* resolved queued behind, both go */
    assert_int_equal(k.n, 2);
    assert_string_equal(k.got[0], "errors firing");
    assert_string_equal(k.got[1], "errors resolved");
    sl_alert_free(a);
}

static void test_config_checks(void **state)
{
    char errstr[256] = "";
    sl_alert_conf_t none = {0};
    assert_null(sl_alert_new(&none, "applier", "t", NULL, errstr, sizeof errstr));
    assert_string_equal(errstr, "");             /* no channel: no alerts, no error */
    sl_alert_conf_t mail = {.mail_url = "smtp://127.0.0.1:25"};
    assert_null(sl_alert_new(&mail, "applier", "t", NULL, errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "alert.mail.to"));
}

int main(void)
{
    sl_log_set_level(SL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lag_fires_once_after_for_and_recovers_once),
        cmocka_unit_test(test_not_ready_and_standby),
        cmocka_unit_test(test_growth_fires_at_once_and_recovers_after_quiet),
        cmocka_unit_test(test_retention_above_threshold_or_at_risk),
        cmocka_unit_test(test_failed_delivery_retried_in_order),
        cmocka_unit_test(test_config_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
