/* Unit tests: row images and subOffset in JSON (common/sl_json.c:
 * sl_image_to_json, sl_record_to_json_ex), exact text. shiftlog cat and
 * tests/it/it_binlog_dump print rows this way. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "sl_json.h"
#include "sl_record.h"

static const char *const cols[] = { "id", "name" };

/* An INSERT of rows (1,"a") and (2,NULL) at mysql-bin.000001:4#0. */
static sl_record_t *two_rows(void)
{
    sl_record_t *r = sl_record_new();
    assert_non_null(r);
    assert_int_equal(sl_record_init_change(r, "s", "db", "t", SL_OP_INSERT, 2, cols, 2), SL_OK);
    sl_pos_set_mysql(&r->pos, "mysql-bin.000001", 4, 0);
    for (uint32_t i = 0; i < 2; i++) {
        sl_value_t *a = r->u.change.rows[i].after;
        a[0].kind = SL_VAL_INT;
        a[0].u.i = i + 1;
        if (i == 0)
            sl_value_set_text(r, &a[1], SL_VAL_STRING, "a", 1);
        else
            a[1].kind = SL_VAL_NULL;
    }
    return r;
}

static void test_image(void **state)
{
    (void)state;
    sl_record_t *r = two_rows();
    const sl_change_t *c = &r->u.change;
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_image_to_json(c, c->rows[0].after, &b), SL_OK);
    assert_string_equal(b.data, "{\"id\":1,\"name\":\"a\"}");
    sl_buf_reset(&b);
    assert_int_equal(sl_image_to_json(c, c->rows[1].before, &b), SL_OK);
    assert_string_equal(b.data, "null");
    sl_buf_free(&b);
    sl_record_destroy(r);
}

#define HEAD "{\"type\":\"change\",\"source\":\"s\",\"pos\":{\"text\":\"mysql-bin.000001:4#0\"," \
    "\"kind\":\"mysql\",\"seq\":1,\"offset\":4,\"row\":0,\"file\":\"mysql-bin.000001\"," \
    "\"gtid\":\"\"},\"db\":\"db\",\"table\":\"t\",\"op\":\"insert\",\"txn\":null," \
    "\"event_time_us\":0,\"schema_id\":\"0000000000000000\",\"server_id\":0,\"flags\":0," \
    "\"origin\":null,\"columns\":[\"id\",\"name\"],\"rows\":["

static void test_suboffset(void **state)
{
    (void)state;
    sl_record_t *r = two_rows();
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_record_to_json_ex(r, SL_JSON_SUBOFFSET, &b), SL_OK);
    assert_string_equal(b.data, HEAD
        "{\"subOffset\":0,\"before\":null,\"after\":{\"id\":1,\"name\":\"a\"}},"
        "{\"subOffset\":1,\"before\":null,\"after\":{\"id\":2,\"name\":null}}]}");
    sl_buf_reset(&b);
    assert_int_equal(sl_record_to_json_ex(r, 0, &b), SL_OK);
    assert_string_equal(b.data, HEAD
        "{\"before\":null,\"after\":{\"id\":1,\"name\":\"a\"}},"
        "{\"before\":null,\"after\":{\"id\":2,\"name\":null}}]}");
    sl_buf_reset(&b);
    assert_int_equal(sl_record_to_json(r, &b), SL_OK);   /* same as flags 0 */
    assert_string_equal(b.data, HEAD
        "{\"before\":null,\"after\":{\"id\":1,\"name\":\"a\"}},"
        "{\"before\":null,\"after\":{\"id\":2,\"name\":null}}]}");

    /* other record types: the flag changes nothing */
    sl_buf_t plain = SL_BUF_INIT;
    sl_record_reset(r);
    sl_record_init_commit(r, "s", "7", 1, 0, 2);
    sl_buf_reset(&b);
    assert_int_equal(sl_record_to_json_ex(r, SL_JSON_SUBOFFSET, &b), SL_OK);
    assert_int_equal(sl_record_to_json(r, &plain), SL_OK);
    assert_string_equal(b.data, plain.data);
    sl_buf_free(&plain);
    sl_buf_free(&b);
    sl_record_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image),
        cmocka_unit_test(test_suboffset),
    };
    return cmocka_run_group_tests_name("json_rows", tests, NULL, NULL);
}
