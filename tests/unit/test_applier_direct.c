/* Unit tests of direct tasks' pieces that need no server (applier/direct*.c): the order of
 * diff_column values the watermark is moved by, and a task read from a JSON file (goshift's
 * params over the config's defaults, bad params refused with the key named). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../applier/direct.h"

static void test_diff_cmp_integers(void **state)
{
    (void)state;
    app_dtable_t d = {.diff = 0, .diff_temporal = 0};
    assert_true(app_direct_diff_cmp(&d, "9", "10") < 0);        /* not byte order */
    assert_true(app_direct_diff_cmp(&d, "10", "9") > 0);
    assert_true(app_direct_diff_cmp(&d, "-10", "-9") < 0);
    assert_true(app_direct_diff_cmp(&d, "-1", "0") < 0);
    assert_int_equal(app_direct_diff_cmp(&d, "42", "42"), 0);
    assert_true(app_direct_diff_cmp(&d, "18446744073709551615", "9223372036854775807") > 0);
}

static void test_diff_cmp_times(void **state)
{
    (void)state;
    app_dtable_t d = {.diff = 0, .diff_temporal = 1};
    assert_true(app_direct_diff_cmp(&d, "2026-05-05 10:00:00", "2026-05-05 10:00:00.5") < 0);
    assert_true(app_direct_diff_cmp(&d, "2026-05-05 10:00:00.25", "2026-05-05 10:00:00.5") < 0);
    assert_true(app_direct_diff_cmp(&d, "2026-05-05", "2026-05-05 00:00:01") < 0);
    assert_int_equal(app_direct_diff_cmp(&d, "2026-05-05 10:00:00.000001",
                                         "2026-05-05 10:00:00.000001"), 0);
}

static char *write_task(const char *json)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_direct_%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    return path;
}

static void test_task_file(void **state)
{
    (void)state;
    app_conf_t c = {.task_name = "copy1", .read_batch = 500, .write_batch = 500,
                    .worker_num = 1, .direct_diff_lag_ms = 5000};
    app_dtask_t t;
    char err[512] = "";
    c.direct_task_file = write_task(
        "{\"from_db_type\": \"MariaDB\", \"from_app\": \"shop\", \"from_db\": \"s\", "
        "\"from_table\": \"orders\", \"to_db_type\": \"postgresql\", \"to_db\": \"public\", "
        "\"to_table\": \"orders_copy\", \"online_status\": 1, "
        "\"params\": {\"split.pk\": \"id\", \"read_batch\": 2000, \"diff_column\": "
        "\"update_time\", \"diff.lag.ms\": 0}}");
    assert_int_equal(app_dtask_load(&t, &c, err, sizeof err), SL_OK);
    assert_string_equal(app_dtask_engine(t.from_type), "mysql");
    assert_string_equal(app_dtask_engine(t.to_type), "postgresql");
    assert_string_equal(t.from_table, "orders");
    assert_string_equal(t.split_pk, "id");
    assert_string_equal(t.diff_column, "update_time");
    assert_int_equal(t.read_batch, 2000);
    assert_int_equal(t.write_batch, 500);      /* the config's, params did not say */
    assert_int_equal(t.diff_lag_ms, 0);
    assert_true(t.online);
    app_dtask_free(&t);

    /* params as goshift stores them: a JSON text */
    c.direct_task_file = write_task(
        "{\"from_db_type\": \"pg\", \"from_db\": \"public\", \"from_table\": \"a\", "
        "\"to_db_type\": \"mysql\", \"to_db\": \"d\", \"to_table\": \"b\", "
        "\"online_status\": 0, \"params\": \"{\\\"worker_num\\\": 4}\"}");
    assert_int_equal(app_dtask_load(&t, &c, err, sizeof err), SL_OK);
    assert_int_equal(t.worker_num, 4);
    assert_false(t.online);
    app_dtask_free(&t);

    c.direct_task_file = write_task(
        "{\"from_db_type\": \"mysql\", \"from_db\": \"s\", \"from_table\": \"a\", "
        "\"to_db_type\": \"mysql\", \"to_db\": \"d\", \"to_table\": \"b\", "
        "\"params\": {\"read_batch\": 0}}");
    assert_int_equal(app_dtask_load(&t, &c, err, sizeof err), SL_ERR_INVALID);
    assert_non_null(strstr(err, "read_batch"));

    c.direct_task_file = write_task(
        "{\"from_db_type\": \"oracle\", \"from_db\": \"s\", \"from_table\": \"a\", "
        "\"to_db_type\": \"mysql\", \"to_db\": \"d\", \"to_table\": \"b\"}");
    assert_int_equal(app_dtask_load(&t, &c, err, sizeof err), SL_ERR_INVALID);
    assert_non_null(strstr(err, "oracle"));

    c.direct_task_file = write_task("{\"from_db_type\": \"mysql\"}");
    assert_int_equal(app_dtask_load(&t, &c, err, sizeof err), SL_ERR_INVALID);
    assert_non_null(strstr(err, "from_db"));
    unlink(c.direct_task_file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_cmp_integers),
        cmocka_unit_test(test_diff_cmp_times),
        cmocka_unit_test(test_task_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
