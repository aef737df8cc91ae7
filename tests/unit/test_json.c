/* Unit tests: JSON forms of values and records (common/sl_json.c), exact text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "sl_json.h"
#include "sl_record.h"

static void want_value(const sl_value_t *v, const char *want)
{
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_value_to_json(v, &b), SL_OK);
    if (strcmp(b.data, want) != 0)
        fail_msg("got %s, want %s", b.data, want);
    sl_buf_free(&b);
}

static void test_scalars(void **state)
{
    (void)state;
    sl_value_t v;
    memset(&v, 0, sizeof(v));
    want_value(&v, "null");
    v.kind = SL_VAL_BOOL; v.u.b = 1;                 want_value(&v, "true");
    v.u.b = 0;                                       want_value(&v, "false");
    v.kind = SL_VAL_INT; v.u.i = INT64_MIN;          want_value(&v, "-9223372036854775808");
    v.u.i = INT64_MAX;                               want_value(&v, "9223372036854775807");
    v.kind = SL_VAL_UINT; v.u.u = UINT64_MAX;        want_value(&v, "18446744073709551615");
    v.kind = SL_VAL_FLOAT; v.u.f = 3.14159274f;      want_value(&v, "3.14159274");
    v.u.f = 0.1f;                                    want_value(&v, "0.100000001");
    v.u.f = NAN;                                     want_value(&v, "\"NaN\"");
    v.u.f = -INFINITY;                               want_value(&v, "\"-Infinity\"");
    v.kind = SL_VAL_DOUBLE; v.u.d = 0.1;             want_value(&v, "0.10000000000000001");
    v.u.d = 1e300;                                   want_value(&v, "1.0000000000000001e+300");
    v.u.d = -0.0;                                    want_value(&v, "-0");
    v.u.d = INFINITY;                                want_value(&v, "\"Infinity\"");
    v.u.d = 5;                                       want_value(&v, "5");
}

static void test_texts_and_wrappers(void **state)
{
    (void)state;
    sl_record_t *r = sl_record_new();
    sl_value_t v;
    memset(&v, 0, sizeof(v));
    const char *dec = "-99999999999999999999999999999999999.999999999999999999999999999999";
    sl_value_set_text(r, &v, SL_VAL_DECIMAL, dec, strlen(dec));
    want_value(&v, "\"-99999999999999999999999999999999999.999999999999999999999999999999\"");
    sl_value_set_text(r, &v, SL_VAL_STRING, "", 0);
    want_value(&v, "\"\"");
    sl_value_set_text(r, &v, SL_VAL_STRING, "a\"b\\c\n\0\x01 \xf0\x9f\x98\x80 \xff", 15);
    want_value(&v, "\"a\\\"b\\\\c\\n\\u0000\\u0001 \xf0\x9f\x98\x80 \\u00ff\"");
    sl_value_set_text(r, &v, SL_VAL_BYTES, "", 0);
    want_value(&v, "{\"$bytes\":\"\"}");
    sl_value_set_text(r, &v, SL_VAL_BYTES, "\0\xff", 2);
    want_value(&v, "{\"$bytes\":\"AP8=\"}");
    sl_value_set_text(r, &v, SL_VAL_BYTES, "foob", 4);
    want_value(&v, "{\"$bytes\":\"Zm9vYg==\"}");
    sl_value_set_text(r, &v, SL_VAL_BYTES, "foobar", 6);
    want_value(&v, "{\"$bytes\":\"Zm9vYmFy\"}");
    sl_value_set_temporal(r, &v, SL_T_DATE, "0000-00-00", 10, 0, 0, 0, 0, 0);
    want_value(&v, "{\"$temporal\":\"date\",\"text\":\"0000-00-00\",\"micros\":null,\"precision\":0}");
    sl_value_set_temporal(r, &v, SL_T_TIME, "-838:59:59.000000", 17, 1, -3020399000000LL, 6, 0, 0);
    want_value(&v, "{\"$temporal\":\"time\",\"text\":\"-838:59:59.000000\",\"micros\":-3020399000000,\"precision\":6}");
    sl_value_set_temporal(r, &v, SL_T_TIMESTAMPTZ, "2024-01-01 12:00:00+05:30", 25, 1,
                          1704090600000000LL, 0, 1, 19800);
    want_value(&v, "{\"$temporal\":\"timestamptz\",\"text\":\"2024-01-01 12:00:00+05:30\","
                     "\"micros\":1704090600000000,\"precision\":0,\"tz_offset_s\":19800}");
    sl_value_set_bit(r, &v, 10, "\x02\x01", 2);
    want_value(&v, "{\"$bit\":\"1000000001\"}");
    sl_value_set_bit(r, &v, 64, "\x80\x00\x00\x00\x00\x00\x00\x01", 8);
    want_value(&v, "{\"$bit\":\"1000000000000000000000000000000000000000000000000000000000000001\"}");
    sl_value_set_bit(r, &v, 0, "", 0);
    want_value(&v, "{\"$bit\":\"\"}");
    sl_value_set_set(r, &v, NULL, 0);
    want_value(&v, "[]");
    static const char *const labels[] = { "a", "", "b,c" };
    sl_value_set_set(r, &v, labels, 3);
    want_value(&v, "[\"a\",\"\",\"b,c\"]");
    sl_value_set_typed(r, &v, "inet", "10.0.0.1/8", 10);
    want_value(&v, "{\"$typed\":\"inet\",\"text\":\"10.0.0.1/8\"}");
    memset(&v, 0, sizeof(v));
    v.kind = SL_VAL_MISSING;
    v.u.missing = SL_MISSING_UNCHANGED_TOAST;
    want_value(&v, "{\"$missing\":\"unchanged_toast\"}");
    v.u.missing = SL_MISSING_NOT_IN_IMAGE;
    want_value(&v, "{\"$missing\":\"not_in_image\"}");
    sl_record_destroy(r);
}

static void expect_record(const sl_record_t *r, const char *want)
{
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_record_to_json(r, &b), SL_OK);
    if (strcmp(b.data, want) != 0)
        fail_msg("got  %s\nwant %s", b.data, want);
    sl_buf_free(&b);
}

static void test_records(void **state)
{
    (void)state;
    static const char *const cols[] = { "id", "name" };
    sl_record_t *r = sl_record_new();
    assert_int_equal(sl_record_init_change(r, "shop", "db", "t", SL_OP_UPDATE, 2, cols, 1), SL_OK);
    sl_pos_set_mysql(&r->pos, "mysql-bin.000003", 1234, 5);
    strcpy(r->pos.gtid, "0-1-42");
    r->u.change.txn = "0-1-42";
    r->u.change.event_time_us = 1700000000000000LL;
    r->u.change.schema_id = 0x7139775240ffe8b1ULL;
    r->u.change.server_id = 1;
    sl_row_t *row = &r->u.change.rows[0];
    row->before[0].kind = SL_VAL_UINT;
    row->before[0].u.u = 18446744073709551615ULL;
    row->before[1].kind = SL_VAL_NULL;
    row->after[0] = row->before[0];
    sl_value_set_text(r, &row->after[1], SL_VAL_STRING, "x", 1);
    expect_record(r,
        "{\"type\":\"change\",\"source\":\"shop\",\"pos\":{\"text\":\"mysql-bin.000003:1234#5@0-1-42\","
        "\"kind\":\"mysql\",\"seq\":3,\"offset\":1234,\"row\":5,\"file\":\"mysql-bin.000003\",\"gtid\":\"0-1-42\"},"
        "\"db\":\"db\",\"table\":\"t\",\"op\":\"update\",\"txn\":\"0-1-42\",\"event_time_us\":1700000000000000,"
        "\"schema_id\":\"7139775240ffe8b1\",\"server_id\":1,\"flags\":0,\"origin\":null,\"columns\":[\"id\",\"name\"],"
        "\"rows\":[{\"before\":{\"id\":18446744073709551615,\"name\":null},"
        "\"after\":{\"id\":18446744073709551615,\"name\":\"x\"}}]}");

    sl_record_reset(r);
    sl_record_init_commit(r, "pg1", "731", 1, 0, 3);
    sl_pos_set_pg(&r->pos, 0x16B3748, 0x16B3748, 0);
    expect_record(r,
        "{\"type\":\"commit\",\"source\":\"pg1\",\"pos\":{\"text\":\"0/16B3748:0/16B3748#0\","
        "\"kind\":\"postgresql\",\"seq\":23803720,\"offset\":23803720,\"row\":0,\"file\":\"\",\"gtid\":\"\"},"
        "\"txn\":\"731\",\"event_time_us\":1,\"server_id\":0,\"rows\":3}");

    sl_record_reset(r);
    sl_record_init_finish(r, "pg1", "resume", 2);
    expect_record(r,
        "{\"type\":\"finish\",\"source\":\"pg1\",\"pos\":{\"text\":\"none\",\"kind\":\"none\",\"seq\":0,"
        "\"offset\":0,\"row\":0,\"file\":\"\",\"gtid\":\"\"},\"reason\":\"resume\",\"time_us\":2}");

    sl_record_reset(r);
    sl_record_init_schema(r, "shop", "db", "t", 1);
    sl_column_t *c = &r->u.schema.cols[0];
    static const char *lab[] = { "a", "b" };
    c->name = "e"; c->kind = SL_VAL_STRING; c->source_type = "enum('a','b')"; c->nullable = 1;
    c->charset = "utf8mb4"; c->labels = lab; c->nlabels = 2;
    expect_record(r,
        "{\"type\":\"schema\",\"source\":\"shop\",\"pos\":{\"text\":\"none\",\"kind\":\"none\",\"seq\":0,"
        "\"offset\":0,\"row\":0,\"file\":\"\",\"gtid\":\"\"},\"db\":\"db\",\"table\":\"t\",\"columns\":["
        "{\"name\":\"e\",\"kind\":\"string\",\"source_type\":\"enum('a','b')\",\"nullable\":true,"
        "\"precision\":-1,\"scale\":-1,\"charset\":\"utf8mb4\",\"labels\":[\"a\",\"b\"],\"pk\":0}],\"ddl\":null}");
    sl_record_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_texts_and_wrappers),
        cmocka_unit_test(test_records),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
