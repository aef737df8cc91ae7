/* Unit tests: value text forms shared by the services (common/sl_value_text.c)
 * and the errstr formatter (common/sl_err.c), exact text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "sl_err.h"
#include "sl_value_text.h"

static void test_calendar(void **state)
{
    (void)state;
    assert_int_equal(sl_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(sl_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(sl_days_from_civil(2024, 2, 29), 19782);
    assert_int_equal(sl_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(sl_days_from_civil(0, 12, 31), -719163);    /* 1 BC */
    assert_int_equal(sl_days_from_civil(9999, 12, 31), 2932896);
    /* every day from 1 BC to 9999 goes there and back */
    for (int64_t z = -719528; z <= 2932896; z += 7) {
        int64_t y;
        unsigned m, d;
        sl_civil_from_days(z, &y, &m, &d);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
        assert_int_equal(sl_days_from_civil(y, m, d), z);
    }
    int64_t y;
    unsigned m, d;
    sl_civil_from_days(-1, &y, &m, &d);
    assert_true(y == 1969 && m == 12 && d == 31);
}

static void want_micros(int64_t micros, int precision, const char *want)
{
    char buf[48];
    int n = sl_micros_text(micros, precision, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_micros_text(void **state)
{
    (void)state;
    want_micros(0, 0, "1970-01-01 00:00:00");
    want_micros(1500000, 3, "1970-01-01 00:00:01.500");
    want_micros(1500001, 3, "1970-01-01 00:00:01.500001");      /* more digits: kept */
    want_micros(-1, 6, "1969-12-31 23:59:59.999999");
    want_micros(253402300799999999LL, 6, "9999-12-31 23:59:59.999999");
    want_micros(0, 9, "1970-01-01 00:00:00.000000");             /* bad precision = 6 */
    char buf[48];
    assert_int_equal(sl_micros_text(253402300800000000LL, 6, buf, sizeof buf), -1);
    assert_int_equal(sl_micros_text(-62135596800000001LL, 6, buf, sizeof buf), -1);
    assert_int_equal(sl_micros_text(0, 0, buf, 31), -1);
}

static void want_double(double x, int digits, const char *want)
{
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_double_text(&b, x, digits), SL_OK);
    assert_string_equal(b.data, want);
    sl_buf_free(&b);
}

static void test_double_text(void **state)
{
    (void)state;
    want_double((double)0.1f, 9, "0.100000001");
    want_double(0.1, 17, "0.10000000000000001");
    want_double(-0.0, 17, "-0");
    want_double(NAN, 17, "NaN");
    want_double(INFINITY, 9, "Infinity");
    want_double(-INFINITY, 17, "-Infinity");
}

static void test_decimal_digits(void **state)
{
    (void)state;
    static const struct { const char *text; int digits; } cases[] = {
        {"-0012.3400", 6}, {"0.000", 1}, {"+7", 1}, {".5", 1}, {"100", 3},
        {"99999999999999999999999999999999999.999999999999999999999999999999", 65},
        {"NaN", -1}, {"-Infinity", -1}, {"1e5", -1}, {"1.2.3", -1}, {"-", -1}, {"", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (sl_decimal_digits(cases[i].text, strlen(cases[i].text)) != cases[i].digits)
            fail_msg("\"%s\": got %d digits, want %d", cases[i].text,
                     sl_decimal_digits(cases[i].text, strlen(cases[i].text)), cases[i].digits);
}

static void test_parse_utc_time(void **state)
{
    (void)state;
    int64_t us = 0;
    assert_int_equal(sl_parse_utc_time("1970-01-01T00:00:00Z", &us), 0);
    assert_true(us == 0);
    assert_int_equal(sl_parse_utc_time("2026-01-01T00:00:00Z", &us), 0);
    assert_true(us == INT64_C(1767225600000000));
    assert_int_equal(sl_parse_utc_time("2026-01-01 00:00:01.5", &us), 0);
    assert_true(us == INT64_C(1767225601500000));
    assert_int_equal(sl_parse_utc_time("2026-01-01T00:00:01.1234567Z", &us), 0);
    assert_true(us == INT64_C(1767225601123456));          /* past µs: ignored */
    assert_int_equal(sl_parse_utc_time("2026-03-04", &us), 0);
    assert_true(us == INT64_C(1772582400000000));
    assert_int_equal(sl_parse_utc_time("1969-12-31T23:59:59Z", &us), 0);
    assert_true(us == -1000000);
    assert_int_equal(sl_parse_utc_time("", &us), -1);
    assert_int_equal(sl_parse_utc_time("2026-01-01T00:00", &us), -1);
    assert_int_equal(sl_parse_utc_time("2026-13-01", &us), -1);
    assert_int_equal(sl_parse_utc_time("2026-01-01T00:00:00+02", &us), -1);
    assert_int_equal(sl_parse_utc_time("yesterday", &us), -1);
}

static void test_err_set(void **state)
{
    (void)state;
    char e[8];
    sl_err_set(e, sizeof e, "key \"%s\": %d", "x", 42);
    assert_string_equal(e, "key \"x\"");                        /* truncated, terminated */
    sl_err_set(NULL, 8, "ignored %d", 1);
    memcpy(e, "keep", 5);
    sl_err_set(e, 0, "ignored %d", 1);
    assert_string_equal(e, "keep");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_micros_text),
        cmocka_unit_test(test_double_text),
        cmocka_unit_test(test_decimal_digits),
        cmocka_unit_test(test_parse_utc_time),
        cmocka_unit_test(test_err_set),
    };
    return cmocka_run_group_tests_name("value_text", tests, NULL, NULL);
}
