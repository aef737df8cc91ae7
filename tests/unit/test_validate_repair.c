/* Unit tests of shiftlog validate --repair's requests (cli/validate_repair.c)
 * that need no collector: more differing ranges than validate keeps
 * (VAL_MAX_RANGES, ranges_overflow) must become one whole-table copy, even
 * when none of the kept ranges needs one, and never read past the ranges
 * kept. The collector's port is closed: a request that was sent is seen as
 * "did not answer". The requests to a real collector are tested in
 * tests/it/test_validate.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../cli/validate.h"

#define CLOSED "http://127.0.0.1:1"

static val_col_t cols[1] = {{.name = "id", .kind = VK_INT}};
static const val_table_t table = {.cols = cols, .ncols = 1, .key = {0}, .nkey = 1};

/* VAL_MAX_RANGES kept ranges, none holding a changed or missing key (extra
 * rows only), and more were found: the unknown ones may need a copy. */
static void test_overflow_copies_the_whole_table(void **state)
{
    (void)state;
    val_range_t *r = calloc(VAL_MAX_RANGES, sizeof *r);
    assert_non_null(r);
    char errstr[512] = "";
    sl_err_t err = val_repair_request(CLOSED, "db.t", &table, r, VAL_MAX_RANGES, 1, 5, errstr,
                                      sizeof errstr);
    assert_int_not_equal(err, SL_OK);
    assert_non_null(strstr(errstr, "did not answer"));
    free(r);
}

/* Ranges that need no copy, and no overflow: nothing is asked. */
static void test_nothing_to_repair(void **state)
{
    (void)state;
    val_range_t r[3];
    memset(r, 0, sizeof r);
    char errstr[512] = "";
    assert_int_equal(val_repair_request(CLOSED, "db.t", &table, r, 3, 0, 5, errstr,
                                        sizeof errstr), SL_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overflow_copies_the_whole_table),
        cmocka_unit_test(test_nothing_to_repair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
