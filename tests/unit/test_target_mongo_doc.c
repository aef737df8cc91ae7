/* Unit tests: the MongoDB target's values (applier/target_mongo_doc.c).
 * No servers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../applier/target_mongo.h"

/* A DATE is a day count, a BSON date int64 milliseconds: past +-106751991167
 * days, days * 86400000 overflowed (signed: undefined; a wrong date stored).
 * Such a value is refused with the reason (the record goes to the DLQ). */
static void test_date_beyond_bson_range_refused(void **state)
{
    (void)state;
    static const int64_t days[] = {0, 19782, -719528, 106751991167LL, -106751991167LL,
                                   106751991168LL, -106751991168LL, 200000000000LL,
                                   INT64_MAX, INT64_MIN};
    sl_record_t *rec = sl_record_new();
    for (size_t i = 0; i < sizeof days / sizeof *days; i++) {
        sl_value_t v;
        char err[256] = "";
        int fits = days[i] >= -106751991167LL && days[i] <= 106751991167LL;
        sl_value_set_temporal(rec, &v, SL_T_DATE, "d", 1, 1, days[i], 0, 0, 0);
        sl_err_t e = app_mg_check_value(&v, "born", err, sizeof err);
        if (fits) {
            bson_t b = BSON_INITIALIZER;
            bson_iter_t it;
            assert_int_equal(e, SL_OK);
            app_mg_value(&b, "born", -1, &v, NULL, NULL, 0);
            assert_true(bson_iter_init_find(&it, &b, "born") && BSON_ITER_HOLDS_DATE_TIME(&it));
            assert_true(bson_iter_date_time(&it) == days[i] * 86400000LL);
            bson_destroy(&b);
        } else {
            if (e != SL_ERR_INVALID)
                fail_msg("day %lld accepted", (long long)days[i]);
            assert_non_null(strstr(err, "born"));
            assert_non_null(strstr(err, "BSON"));
        }
    }
    sl_record_destroy(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_beyond_bson_range_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
