/* Unit tests: value conversions shared by the SQL targets and the position
 * key (applier/target_common.c). No servers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

/* applier/ objects are not in libshiftlog.a: compile the module in. */
#include "../../applier/target_common.h"

static char es[256];

static const char *text(const sl_value_t *v, int flags, sl_buf_t *b)
{
    sl_buf_reset(b);
    assert_int_equal(app_conv_text(v, flags, b, es, sizeof es), SL_OK);
    return b->data;
}

static void test_numbers(void **state)
{
    (void)state;
    sl_buf_t b = SL_BUF_INIT;
    sl_value_t v = {0};
    v.kind = SL_VAL_INT; v.u.i = INT64_MIN;
    assert_string_equal(text(&v, 0, &b), "-9223372036854775808");
    assert_int_equal(app_conv_class(&v, 0), APP_CONV_INT64);
    v.kind = SL_VAL_UINT; v.u.u = UINT64_MAX;
    assert_string_equal(text(&v, 0, &b), "18446744073709551615");
    assert_int_equal(app_conv_class(&v, 0), APP_CONV_UINT64);
    v.kind = SL_VAL_DOUBLE; v.u.d = 0.1;
    assert_string_equal(text(&v, 0, &b), "0.10000000000000001");
    v.u.d = -1.0 / 0.0;
    assert_string_equal(text(&v, 0, &b), "-Infinity");
    v.kind = SL_VAL_FLOAT; v.u.f = 3.14159274f;
    assert_string_equal(text(&v, 0, &b), "3.14159274");
    v.kind = SL_VAL_BOOL; v.u.b = 1;
    assert_string_equal(text(&v, 0, &b), "1");
    v.kind = SL_VAL_NULL;
    assert_int_equal(app_conv_text(&v, 0, &b, es, sizeof es), SL_ERR_INVALID);
    assert_int_equal(app_conv_class(&v, 0), APP_CONV_NULL);
    sl_buf_free(&b);
}

static void test_bit_set_temporal(void **state)
{
    (void)state;
    sl_buf_t b = SL_BUF_INIT;
    sl_record_t *r = sl_record_new();
    sl_value_t v = {0};
    const uint8_t bits[2] = {0x02, 0x01};                /* BIT(10) = 1000000001 */
    assert_int_equal(sl_value_set_bit(r, &v, 10, bits, 2), SL_OK);
    assert_string_equal(text(&v, APP_CONV_BIT_DIGITS, &b), "1000000001");
    assert_int_equal(app_conv_class(&v, 0), APP_CONV_BINARY);
    assert_int_equal(app_conv_class(&v, APP_CONV_BIT_DIGITS), APP_CONV_TEXT);
    text(&v, 0, &b);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, bits, 2);
    const char *labels[] = {"a", "b c"};
    assert_int_equal(sl_value_set_set(r, &v, labels, 2), SL_OK);
    assert_string_equal(text(&v, 0, &b), "a,b c");
    assert_int_equal(sl_value_set_set(r, &v, labels, 0), SL_OK);
    assert_string_equal(text(&v, 0, &b), "");
    /* TIMESTAMP from micros, in UTC, at the value's precision */
    assert_int_equal(sl_value_set_temporal(r, &v, SL_T_TIMESTAMP, "x", 1, 1, 1500000, 6, 0, 0), SL_OK);
    assert_string_equal(text(&v, 0, &b), "1970-01-01 00:00:01.500000");
    v.u.t.precision = 1;
    assert_string_equal(text(&v, 0, &b), "1970-01-01 00:00:01.5");
    v.u.t.precision = 0;             /* digits beyond the precision are kept, not cut */
    assert_string_equal(text(&v, 0, &b), "1970-01-01 00:00:01.500000");
    v.u.t.micros = -1;
    v.u.t.precision = 6;
    assert_string_equal(text(&v, 0, &b), "1969-12-31 23:59:59.999999");
    /* zero date: the text as carried */
    assert_int_equal(sl_value_set_temporal(r, &v, SL_T_DATE, "0000-00-00", 10, 0, 0, 0, 0, 0), SL_OK);
    assert_string_equal(text(&v, 0, &b), "0000-00-00");
    char buf[48];
    assert_int_equal(app_conv_micros_text(253402300799999999LL, 6, buf, sizeof buf), 26);
    assert_string_equal(buf, "9999-12-31 23:59:59.999999");
    assert_int_equal(app_conv_micros_text(253402300800000000LL, 6, buf, sizeof buf), -1);
    sl_record_destroy(r);
    sl_buf_free(&b);
}

static void test_quote(void **state)
{
    (void)state;
    sl_buf_t b = SL_BUF_INIT;
    const char *n = "a`b``c";
    assert_int_equal(app_conv_quote_ident(&b, n, strlen(n), '`'), SL_OK);
    assert_string_equal(b.data, "`a``b````c`");
    sl_buf_reset(&b);
    assert_int_equal(app_conv_quote_ident(&b, "a\"; DROP", 8, '"'), SL_OK);
    assert_string_equal(b.data, "\"a\"\"; DROP\"");
    sl_buf_reset(&b);
    assert_int_equal(app_conv_quote_ident(&b, "", 0, '`'), SL_ERR_INVALID);
    assert_int_equal(app_conv_quote_ident(&b, "a\0b", 3, '`'), SL_ERR_INVALID);
    assert_int_equal(app_conv_quote_literal(&b, "it's a\\b", 8), SL_OK);
    assert_string_equal(b.data, "'it''s a\\\\b'");
    sl_buf_free(&b);
}

static void test_pos_key_order(void **state)
{
    (void)state;
    sl_pos_t a, b, c;
    char ka[APP_POS_KEY_LEN + 1], kb[APP_POS_KEY_LEN + 1], kc[APP_POS_KEY_LEN + 1];
    sl_pos_set_mysql(&a, "mysql-bin.000009", 4294967296ULL, 7);
    sl_pos_set_mysql(&b, "mysql-bin.000010", 4, 0);
    sl_pos_set_mysql(&c, "mysql-bin.000010", 4, 1);
    app_pos_key(&a, ka);
    app_pos_key(&b, kb);
    app_pos_key(&c, kc);
    assert_int_equal(strlen(ka), APP_POS_KEY_LEN);
    assert_true(strcmp(ka, kb) < 0 && sl_pos_cmp(&a, &b) < 0);
    assert_true(strcmp(kb, kc) < 0 && sl_pos_cmp(&b, &c) < 0);
    sl_pos_t p;
    app_pos_row(&b, 5, &p);
    assert_int_equal(p.row, 5);
    sl_pos_set_pg(&p, UINT64_MAX, 1, 0);
    char kp[APP_POS_KEY_LEN + 1];
    app_pos_key(&p, kp);
    assert_true(strcmp(kc, kp) < 0);          /* kind orders first: MYSQL < PG */
}

static void test_decimal_digits(void **state)
{
    (void)state;
    assert_int_equal(app_conv_decimal_digits("-0012.3400", 10), 6);
    assert_int_equal(app_conv_decimal_digits("0.000", 5), 1);
    assert_int_equal(app_conv_decimal_digits("1234567890123456789012345678901234", 34), 34);
    assert_int_equal(app_conv_decimal_digits("NaN", 3), -1);
    assert_int_equal(app_conv_decimal_digits("1e5", 3), -1);
    assert_int_equal(app_conv_decimal_digits("-", 1), -1);
}

/* Renames named by a SCHEMA record's DDL text (target_ddl_text.c): chains,
 * CHANGE, quoting, and what is not a column rename. */
static void test_ddl_renames(void **state)
{
    (void)state;
    const char *folded = "ALTER TABLE `db`.`t3` MODIFY COLUMN `c10` BIGINT;\n"
                         "ALTER TABLE `db`.`t3` RENAME COLUMN `c10` TO `c11`;\n"
                         "ALTER TABLE t3 rename column if exists c11 to `c``12`";
    assert_int_equal(app_ddl_renames(folded, "c10", "c11"), 0);   /* renamed on since */
    assert_int_equal(app_ddl_renames(folded, "c10", "c`12"), 1);
    assert_int_equal(app_ddl_renames(folded, "C10", "C`12"), 1);   /* no case, as MariaDB */
    assert_int_equal(app_ddl_renames(folded, "c9", "c`12"), 0);
    assert_int_equal(app_ddl_renames("ALTER TABLE t CHANGE a b BIGINT", "a", "b"), 1);
    assert_int_equal(app_ddl_renames("ALTER TABLE t CHANGE COLUMN IF EXISTS `a` `b` INT",
                                     "a", "b"), 1);
    assert_int_equal(app_ddl_renames("ALTER TABLE a RENAME TO b", "a", "b"), 0);
    assert_int_equal(app_ddl_renames("ALTER TABLE t RENAME INDEX a TO b", "a", "b"), 0);
    assert_int_equal(app_ddl_renames("ALTER TABLE t ADD c INT COMMENT 'RENAME COLUMN a TO b'",
                                     "a", "b"), 0);
    assert_int_equal(app_ddl_renames("ALTER TABLE t DROP a, ADD b BIGINT", "a", "b"), 0);
    assert_int_equal(app_ddl_renames(NULL, "a", "b"), 0);
    assert_int_equal(app_ddl_renames("ALTER TABLE t RENAME COLUMN a TO a", "a", "a"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_bit_set_temporal),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_pos_key_order),
        cmocka_unit_test(test_decimal_digits),
        cmocka_unit_test(test_ddl_renames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
