/* Unit tests of the name form of (db, table[, column]) (common/sl_name.c) and
 * of the collector's table filter over dotted names (collector/col_filter.c):
 * database "a.b" + table "c" and database "a" + table "b.c" stay two names.
 * No servers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sl_name.h"
#include "../../collector/collector.h"

static void test_format(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(sl_name_format("shop", "orders", out, sizeof out), "shop.orders");
    assert_string_equal(sl_name_format("a.b", "c", out, sizeof out), "`a.b`.c");
    assert_string_equal(sl_name_format("a", "b.c", out, sizeof out), "a.`b.c`");
    assert_string_equal(sl_name_format("x`y", "", out, sizeof out), "`x``y`.``");
    const char *p3[3] = {"a", "b.c", "d"};
    assert_int_equal(sl_name_join(p3, 3, out, 4), strlen("a.`b.c`.d"));
    assert_string_equal(out, "a.`");                    /* truncated, terminated */
}

static void round_trip(const char *db, const char *table)
{
    char text[128], d[64], t[64], buf[128], *parts[3];
    sl_name_format(db, table, text, sizeof text);
    assert_int_equal(sl_name_parse(text, d, sizeof d, t, sizeof t), 0);
    assert_string_equal(d, db);
    assert_string_equal(t, table);
    assert_int_equal(sl_name_split(text, parts, 3, buf, sizeof buf), 2);
    assert_string_equal(parts[0], db);
    assert_string_equal(parts[1], table);
}

static void test_parse(void **state)
{
    (void)state;
    round_trip("shop", "orders");
    round_trip("a.b", "c");
    round_trip("a", "b.c");
    round_trip("`q`", "x``.y");
    round_trip("", "t");
    char d[16], t[16], buf[64], *parts[3];
    /* written by older versions (unquoted): the first '.' separates */
    assert_int_equal(sl_name_parse("a.b.c", d, sizeof d, t, sizeof t), 0);
    assert_string_equal(d, "a");
    assert_string_equal(t, "b.c");
    assert_int_equal(sl_name_parse("nodot", d, sizeof d, t, sizeof t), -1);
    assert_int_equal(sl_name_parse("toolongdatabasename.t", d, sizeof d, t, sizeof t), -1);
    assert_int_equal(sl_name_split("`a.b", parts, 3, buf, sizeof buf), -1);
    assert_int_equal(sl_name_split("a.b.c.d", parts, 3, buf, sizeof buf), 4);
}

static void test_filter(void **state)
{
    (void)state;
    char err[256];
    col_filter_t *f;
    assert_int_equal(col_filter_new(&f, "`a\\.b`\\.c, x\\..*", "x\\.`y\\.z`", err, sizeof err),
                     SL_OK);
    assert_true(col_filter_match(f, "a.b", "c"));
    assert_false(col_filter_match(f, "a", "b.c"));
    assert_true(col_filter_match(f, "x", "y"));
    assert_true(col_filter_match(f, "x", "q.r"));
    assert_false(col_filter_match(f, "x", "y.z"));
    col_filter_destroy(f);
    assert_int_equal(col_filter_new(&f, "a\\.`b\\.c`", NULL, err, sizeof err), SL_OK);
    assert_false(col_filter_match(f, "a.b", "c"));
    assert_true(col_filter_match(f, "a", "b.c"));
    col_filter_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
