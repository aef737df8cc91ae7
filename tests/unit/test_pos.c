/* Unit tests: source positions (common/sl_pos.c) — total order, text round
 * trip, parse errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sl_pos.h"

static sl_pos_t my(const char *file, uint64_t off, uint32_t row)
{
    sl_pos_t p;
    assert_int_equal(sl_pos_set_mysql(&p, file, off, row), SL_OK);
    return p;
}

static sl_pos_t pg(uint64_t c, uint64_t l, uint32_t row)
{
    sl_pos_t p;
    sl_pos_set_pg(&p, c, l, row);
    return p;
}

static void test_order_mysql(void **state)
{
    (void)state;
    /* ascending: rows inside an event, events inside a file, files (by number,
     * not by name: 000010 after 000009, 1000000 after 999999) */
    sl_pos_t seq[] = {
        my("mysql-bin.000003", 4, 0),
        my("mysql-bin.000003", 4, 1),
        my("mysql-bin.000003", 4, 4294967295u),
        my("mysql-bin.000003", 1234, 0),
        my("mysql-bin.000003", 1234, 5),
        my("mysql-bin.000009", 4, 0),
        my("mysql-bin.000010", 4, 0),
        my("mysql-bin.999999", 4, 0),
        my("mysql-bin.1000000", 4, 0),
        my("mysql-bin.1000000", UINT64_MAX, 0),
    };
    size_t n = sizeof(seq) / sizeof(seq[0]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c = sl_pos_cmp(&seq[i], &seq[j]);
            if ((i < j && c >= 0) || (i == j && c != 0) || (i > j && c <= 0))
                fail_msg("cmp(%zu, %zu) = %d", i, j, c);
        }
    /* the gtid does not take part in the order */
    sl_pos_t a = my("mysql-bin.000003", 1234, 5), b = a;
    strcpy(b.gtid, "0-1-99");
    assert_int_equal(sl_pos_cmp(&a, &b), 0);
}

static void test_order_pg_and_kinds(void **state)
{
    (void)state;
    sl_pos_t seq[] = {
        pg(0x16B3748, 0x16B3700, 0),
        pg(0x16B3748, 0x16B3700, 1),
        pg(0x16B3748, 0x16B3748, 0),
        pg(0x100000000ULL, 0, 0),           /* 1/0 after 0/FFFFFFFF */
        pg(UINT64_MAX, UINT64_MAX, 0),      /* unsigned, not negative */
    };
    for (size_t i = 0; i + 1 < sizeof(seq) / sizeof(seq[0]); i++) {
        assert_true(sl_pos_cmp(&seq[i], &seq[i + 1]) < 0);
        assert_true(sl_pos_cmp(&seq[i + 1], &seq[i]) > 0);
    }
    sl_pos_t none;
    memset(&none, 0, sizeof(none));
    sl_pos_t m = my("b.000001", 4, 0);
    assert_true(sl_pos_cmp(&none, &m) < 0);
    assert_true(sl_pos_cmp(&m, &seq[0]) < 0);
}

static void round_trip(const char *text, sl_pos_kind_t kind)
{
    char err[256], out[256];
    sl_pos_t p, q;
    if (sl_pos_parse(text, &p, err, sizeof(err)) != SL_OK)
        fail_msg("parse \"%s\": %s", text, err);
    assert_int_equal(p.kind, kind);
    int n = sl_pos_format(&p, out, sizeof(out));
    assert_int_equal(n, (int)strlen(text));
    assert_string_equal(out, text);
    assert_int_equal(sl_pos_parse(out, &q, err, sizeof(err)), SL_OK);
    assert_int_equal(sl_pos_cmp(&p, &q), 0);
    assert_string_equal(p.file, q.file);
    assert_string_equal(p.gtid, q.gtid);
}

static void test_format_parse(void **state)
{
    (void)state;
    char err[256], out[256];
    sl_pos_t p;
    round_trip("mysql-bin.000003:1234#5", SL_POS_MYSQL);
    round_trip("mysql-bin.000003:1234#5@0-1-42", SL_POS_MYSQL);
    round_trip("binlog.000001:4#0@3E11FA47-71CA-11E1-9E33-C80AA9429562:23", SL_POS_MYSQL);
    round_trip("my.host-bin.000012:18446744073709551615#4294967295", SL_POS_MYSQL);
    round_trip("0/16B3748:0/16B3700#5", SL_POS_PG);
    round_trip("FFFFFFFF/FFFFFFFF:FFFFFFFF/FFFFFFFF#0", SL_POS_PG);
    round_trip("none", SL_POS_NONE);

    assert_int_equal(sl_pos_parse("mysql-bin.000003:1234#5@0-1-42", &p, err, sizeof(err)), SL_OK);
    assert_true(p.seq == 3 && p.offset == 1234 && p.row == 5);
    assert_string_equal(p.file, "mysql-bin.000003");
    assert_string_equal(p.gtid, "0-1-42");
    assert_int_equal(sl_pos_parse("0/16b3748:1/0#7", &p, err, sizeof(err)), SL_OK);  /* lower case */
    assert_true(p.seq == 0x16B3748 && p.offset == 0x100000000ULL && p.row == 7);
    sl_pos_format(&p, out, sizeof(out));
    assert_string_equal(out, "0/16B3748:1/0#7");

    /* truncation: always NUL-terminated, returns the full length */
    p = my("mysql-bin.000003", 1234, 5);
    assert_int_equal(sl_pos_format(&p, out, 8), 23);
    assert_string_equal(out, "mysql-b");

    /* the hand-written MySQL formatter = snprintf at every buffer size */
    p = my("mysql-bin.000003", 18446744073709551615ULL, 4294967295U);
    snprintf(p.gtid, sizeof(p.gtid), "0-1-42");
    char ref[256];
    int full = snprintf(ref, sizeof(ref), "%s:%llu#%u@%s", p.file, 18446744073709551615ULL,
                        4294967295U, p.gtid);
    for (int size = 0; size <= full + 1; size++) {
        char a[256], b[256];
        memset(a, 'x', sizeof(a));
        memset(b, 'x', sizeof(b));
        assert_int_equal(sl_pos_format(&p, a, (size_t)size), full);
        snprintf(b, (size_t)size, "%s", ref);
        assert_memory_equal(a, b, (size_t)size + 1);
    }
}

static void expect_error(const char *text, const char *needle)
{
    char err[256] = "";
    sl_pos_t p;
    if (sl_pos_parse(text, &p, err, sizeof(err)) != SL_ERR_PARSE)
        fail_msg("\"%s\" parsed", text ? text : "(null)");
    if (!strstr(err, needle))
        fail_msg("\"%s\": error \"%s\" does not say \"%s\"", text ? text : "(null)", err, needle);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error(NULL, "no text");
    expect_error("", "#row");
    expect_error("mysql-bin.000003:1234", "#row");
    expect_error("mysql-bin.000003#5", "':'");
    expect_error("mysql-bin.000003:12x4#5", "offset");
    expect_error("mysql-bin.000003:1234#", "row index");
    expect_error("mysql-bin.000003:1234#4294967296", "row index");
    expect_error("mysql-bin.000003:18446744073709551616#0", "offset");
    expect_error("mysql-bin:1234#5", "numeric suffix");
    expect_error(":1234#5", "file name");
    expect_error("mysql-bin.000003:1234#5@", "gtid");
    expect_error("0/16B3748:0/16B37G0#5", "change LSN");
    expect_error("0/1FFFFFFFF:0/0#5", "commit LSN");
    expect_error("0/16B3748:0/16B3700#5@0-1-2", "no \"@gtid\"");
    char longname[100];
    memset(longname, 'a', 80);
    strcpy(longname + 80, ".000001:4#0");
    expect_error(longname, "file name");
    sl_pos_t p;
    assert_int_equal(sl_pos_set_mysql(&p, "nodigits", 4, 0), SL_ERR_INVALID);
    assert_int_equal(sl_pos_set_mysql(&p, longname, 4, 0), SL_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_mysql),
        cmocka_unit_test(test_order_pg_and_kinds),
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests_name("pos", tests, NULL, NULL);
}
