/* Unit tests of the retry wait (common/sl_backoff.c): doubling from the
 * minimum, capped at the maximum (also when the maximum is not a power-of-two
 * multiple of the minimum, and when it is the minimum), and a reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sl_backoff.h"

static void test_doubles_then_caps(void **state)
{
    (void)state;
    sl_backoff_t b = SL_BACKOFF_INIT(500, 30000);
    const int64_t want[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(sl_backoff_next(&b), want[i]);
}

static void test_cap_not_a_multiple(void **state)
{
    (void)state;
    sl_backoff_t b = SL_BACKOFF_INIT(200, 1000);
    assert_int_equal(sl_backoff_next(&b), 200);
    assert_int_equal(sl_backoff_next(&b), 400);
    assert_int_equal(sl_backoff_next(&b), 800);
    assert_int_equal(sl_backoff_next(&b), 1000);
    assert_int_equal(sl_backoff_next(&b), 1000);
    sl_backoff_t same = SL_BACKOFF_INIT(300, 300);
    assert_int_equal(sl_backoff_next(&same), 300);
    assert_int_equal(sl_backoff_next(&same), 300);
    sl_backoff_t low = SL_BACKOFF_INIT(500, 100);    /* retry.max.ms below the start */
    assert_int_equal(sl_backoff_next(&low), 100);
    assert_int_equal(sl_backoff_next(&low), 100);
}

static void test_reset(void **state)
{
    (void)state;
    sl_backoff_t b = SL_BACKOFF_INIT(500, 30000);
    for (int i = 0; i < 20; i++)
        sl_backoff_next(&b);
    assert_int_equal(sl_backoff_next(&b), 30000);
    sl_backoff_reset(&b);
    assert_int_equal(sl_backoff_next(&b), 500);
    assert_int_equal(sl_backoff_next(&b), 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_then_caps),
        cmocka_unit_test(test_cap_not_a_multiple),
        cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
