/* Unit tests: the sortable position key (common/sl_pos.c: sl_pos_key). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "sl_pos.h"

static void test_key_text(void **state)
{
    (void)state;
    sl_pos_t p;
    char k[SL_POS_KEY_LEN + 1];
    memset(&p, 0, sizeof(p));
    sl_pos_set_mysql(&p, "mysql-bin.000003", 1234, 5);
    sl_pos_key(&p, k);
    assert_string_equal(k, "1" "0000000000000003" "00000000000004d2" "00000005");
    assert_int_equal(strlen(k), SL_POS_KEY_LEN);
    sl_pos_set_pg(&p, UINT64_MAX, UINT64_MAX, UINT32_MAX);
    sl_pos_key(&p, k);
    assert_string_equal(k, "2" "ffffffffffffffff" "ffffffffffffffff" "ffffffff");
}

/* byte-wise order of the keys = sl_pos_cmp order */
static void test_key_order(void **state)
{
    (void)state;
    static const struct { uint64_t seq, off; uint32_t row; } v[] = {
        {0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {1, 0, 0}, {1, 0xffff, 7}, {1, 0x10000, 0},
        {0x100000000ULL, 0, 0},
    };
    size_t n = sizeof(v) / sizeof(v[0]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            sl_pos_t a, b;
            char ka[SL_POS_KEY_LEN + 1], kb[SL_POS_KEY_LEN + 1];
            sl_pos_set_pg(&a, v[i].seq, v[i].off, v[i].row);
            sl_pos_set_pg(&b, v[j].seq, v[j].off, v[j].row);
            sl_pos_key(&a, ka);
            sl_pos_key(&b, kb);
            int c = strcmp(ka, kb), want = sl_pos_cmp(&a, &b);
            assert_int_equal(c < 0 ? -1 : c > 0, want < 0 ? -1 : want > 0);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_text),
        cmocka_unit_test(test_key_order),
    };
    return cmocka_run_group_tests_name("pos_key", tests, NULL, NULL);
}
