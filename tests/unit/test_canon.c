/* Unit tests of common/sl_canon.c: the canonical text shiftlog validate
 * writes for MongoDB values must be the text MariaDB and PostgreSQL compute
 * in SQL (docs/validate.md); the expected strings below are what
 * PostgreSQL 15 prints for float8 (exponent normalized) and numeric. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sl_canon.h"

static void dbl(double d, const char *want)
{
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_canon_double(&b, d), SL_OK);
    assert_string_equal(b.data, want);
    sl_buf_free(&b);
}

static void dec(const char *in, const char *want)
{
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_canon_decimal(&b, in), SL_OK);
    assert_string_equal(b.data, want);
    sl_buf_free(&b);
}

static void test_double(void **state)
{
    (void)state;
    dbl(10.0, "10");                           /* not 1e1: the bug the IT test found */
    dbl(0, "0");
    dbl(1.5, "1.5");
    dbl(10.0 / 3, "3.3333333333333335");
    dbl(-0.0001, "-0.0001");
    dbl(1.25e-5, "1.25e-5");
    dbl(-2.5e-10, "-2.5e-10");
    dbl(1e14, "100000000000000");
    dbl(1e15, "1e15");
    dbl(123456789012345678.0, "1.2345678901234568e17");
    dbl(1.7976931348623157e308, "1.7976931348623157e308");
    dbl(4.9e-324, "5e-324");
    dbl((double)123456.7f, "123456.703125");   /* a FLOAT widened to double */
}

static void test_decimal(void **state)
{
    (void)state;
    dec("12.30", "12.30");
    dec("-0.00", "-0.00");
    dec("1.23E-7", "0.000000123");
    dec("1E-30", "0.000000000000000000000000000001");
    dec("-1230E-2", "-12.30");
    dec("1.2E+3", "1200");
    dec("5E+0", "5");
}

static void test_num_cmp(void **state)
{
    (void)state;
    assert_true(sl_canon_num_cmp("9", "10") < 0);
    assert_true(sl_canon_num_cmp("10", "9") > 0);
    assert_true(sl_canon_num_cmp("-10", "-9") < 0);
    assert_true(sl_canon_num_cmp("-1", "0") < 0);
    assert_true(sl_canon_num_cmp("0.5", "0.25") > 0);
    assert_true(sl_canon_num_cmp("1.50", "1.5") == 0);
    assert_true(sl_canon_num_cmp("007", "7") == 0);
    assert_true(sl_canon_num_cmp("-0.00", "0") == 0);
    assert_true(sl_canon_num_cmp("18446744073709551615", "9223372036854775807") > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double),
        cmocka_unit_test(test_decimal),
        cmocka_unit_test(test_num_cmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
