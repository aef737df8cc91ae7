/* Unit tests of the MariaDB/MySQL snapshot's key predicates
 * (collector/snapshot_my_key.c): a key range's bound for a binary column
 * (BINARY, VARBINARY, BLOB) is hex, as docs/snapshot.md says and `shiftlog
 * validate --repair` sends it — the bytes, not the hex text's characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../collector/snapshot_my.h"

/* t (b VARBINARY(16), n INT, PRIMARY KEY (b, n)) */
static col_tablemap_t table(col_mysql_column_t cols[2])
{
    memset(cols, 0, 2 * sizeof(*cols));
    cols[0] = (col_mysql_column_t){.type = COL_MYSQL_T_VARCHAR, .real_type = COL_MYSQL_T_VARCHAR,
                                   .length = 16, .charset = 63, .pk = 1, .name = "b"};
    cols[1] = (col_mysql_column_t){.type = COL_MYSQL_T_LONG, .real_type = COL_MYSQL_T_LONG,
                                   .pk = 2, .name = "n"};
    return (col_tablemap_t){.db = "db", .table = "t", .ncols = 2, .cols = cols, .npk = 2};
}

static void test_binary_bound_is_hex(void **state)
{
    (void)state;
    col_mysql_column_t cols[2];
    col_tablemap_t tm = table(cols);
    const uint32_t key[2] = {0, 1};
    col_snap_key_t lo = {.n = 2, .vals = {"00ff", "7"}};
    col_snap_key_t hi = {.n = 2, .vals = {"\\x0AfF", "9"}};   /* PostgreSQL's form too */
    sl_buf_t q = SL_BUF_INIT;
    char why[256] = "";
    assert_int_equal(col_snap_my_put_where(&q, &tm, key, 2, NULL, &lo, &hi, why, sizeof why), 0);
    if (!strstr(q.data, "`b` > X'00FF'") || !strstr(q.data, "`b` = X'00FF' AND `n` > 7") ||
        !strstr(q.data, "`b` < X'0AFF'") || !strstr(q.data, "`b` = X'0AFF' AND `n` <= 9"))
        fail_msg("%s", q.data);
    /* an empty binary string is an empty hex */
    col_snap_key_t empty = {.n = 2, .vals = {"", "1"}};
    sl_buf_reset(&q);
    assert_int_equal(col_snap_my_put_where(&q, &tm, key, 2, NULL, &empty, NULL, why,
                                           sizeof why), 0);
    assert_non_null(strstr(q.data, "`b` > X''"));
    /* not hex: refused, saying so */
    const char *bad[] = {"0g", "abc", "\\x1"};
    for (int i = 0; i < 3; i++) {
        col_snap_key_t b = {.n = 2, .vals = {(char *)bad[i], "1"}};
        sl_buf_reset(&q);
        why[0] = '\0';
        assert_int_equal(col_snap_my_put_where(&q, &tm, key, 2, NULL, NULL, &b, why,
                                               sizeof why), -1);
        if (!strstr(why, "hex"))
            fail_msg("%s: %s", bad[i], why);
    }
    sl_buf_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_bound_is_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
