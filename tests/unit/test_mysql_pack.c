/* Unit tests of collector/mysql_pack.c: temporal text and DECIMAL digits as
 * the server prints them, packed into binlog bytes, come back out of the
 * binlog decoder (col_mysql_value_decode) as the same text — at every fsp,
 * negative TIME fractions (the server's floor/truncate split of TIME2),
 * zero and invalid dates, the DECIMAL edges of precision and scale — and
 * text that cannot be the column's is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sl_record.h"
#include "../../collector/mysql_decode.h"

static void roundtrip(uint8_t type, unsigned prec, unsigned scale, const char *text,
                      const char *want)
{
    col_mysql_column_t c;
    memset(&c, 0, sizeof(c));
    c.type = c.real_type = type;
    c.precision = (uint8_t)prec;
    c.scale = (uint8_t)scale;
    c.name = "c";
    uint8_t b[64];
    size_t n = 0, used = 0;
    int rc = type == COL_MYSQL_T_NEWDECIMAL
           ? col_mysql_pack_decimal(&c, text, strlen(text), b, &n)
           : col_mysql_pack_temporal(&c, text, b, &n);
    if (rc) {
        fail_msg("type %u(%u,%u) \"%s\": not packed", type, prec, scale, text);
        return;
    }
    sl_record_t *rec = sl_record_new();
    sl_value_t v;
    memset(&v, 0, sizeof(v));
    char why[256] = "";
    if (col_mysql_value_decode(&c, b, n, &used, rec, &v, why, sizeof(why)))
        fail_msg("type %u \"%s\": %s", type, text, why);
    assert_int_equal(used, n);
    if (strlen(want) != v.len || memcmp(want, v.data, v.len))
        fail_msg("type %u(%u,%u) \"%s\": decoded \"%.*s\", want \"%s\"", type, prec, scale,
                 text, (int)v.len, v.data, want);
    sl_record_destroy(rec);
}

static void refused(uint8_t type, unsigned prec, unsigned scale, const char *text)
{
    col_mysql_column_t c;
    memset(&c, 0, sizeof(c));
    c.type = c.real_type = type;
    c.precision = (uint8_t)prec;
    c.scale = (uint8_t)scale;
    uint8_t b[64];
    size_t n;
    int rc = type == COL_MYSQL_T_NEWDECIMAL
           ? col_mysql_pack_decimal(&c, text, strlen(text), b, &n)
           : col_mysql_pack_temporal(&c, text, b, &n);
    if (rc != -1)
        fail_msg("type %u(%u,%u) \"%s\" packed", type, prec, scale, text);
}

static void test_time_every_fsp(void **state)
{
    (void)state;
    static const char *const t[7][6] = {
        {"00:00:00", "-00:00:01", "838:59:59", "-838:59:59", "-12:34:56", "01:00:00"},
        {"-00:00:00.5", "00:00:00.1", "-838:59:59.9", "838:59:59.9", "-00:00:01.1", "-01:00:00.0"},
        {"-00:00:00.01", "-00:00:01.99", "838:59:59.99", "-838:59:59.00", "12:00:00.50", "-00:00:00.50"},
        {"-00:00:01.001", "-00:00:00.999", "838:59:59.999", "-01:00:00.500", "00:00:00.000", "-838:59:58.001"},
        {"-00:00:00.0001", "-00:00:01.9999", "838:59:59.9999", "-838:59:59.0000", "00:00:00.5000", "-00:59:59.9999"},
        {"-00:00:00.00001", "-00:00:01.99999", "838:59:59.99999", "-838:59:59.00000", "10:00:00.00001", "-10:00:00.50000"},
        {"-00:00:00.000001", "-838:59:58.999999", "838:59:59.000000", "-838:59:59.000000", "00:00:00.999999", "-00:00:00.500000"},
    };
    for (unsigned fsp = 0; fsp <= 6; fsp++)
        for (int i = 0; i < 6; i++)
            roundtrip(COL_MYSQL_T_TIME2, 0, fsp, t[fsp][i], t[fsp][i]);
    refused(COL_MYSQL_T_TIME2, 0, 3, "12:00");
    refused(COL_MYSQL_T_TIME2, 0, 3, "12:00:00.1234567");
    refused(COL_MYSQL_T_TIME2, 0, 3, "12:00:00x");
}

static void test_datetime_timestamp_date(void **state)
{
    (void)state;
    static const char *const dt[] = {"1000-01-01 00:00:00", "9999-12-31 23:59:59",
                                     "0000-00-00 00:00:00", "2024-02-00 10:00:00",
                                     "2024-00-15 10:00:00", "2024-02-29 13:45:00"};
    for (size_t i = 0; i < sizeof(dt) / sizeof(dt[0]); i++)
        roundtrip(COL_MYSQL_T_DATETIME2, 0, 0, dt[i], dt[i]);
    roundtrip(COL_MYSQL_T_DATETIME2, 0, 1, "2024-02-29 13:45:00.1", "2024-02-29 13:45:00.1");
    roundtrip(COL_MYSQL_T_DATETIME2, 0, 3, "9999-12-31 23:59:59.999", "9999-12-31 23:59:59.999");
    roundtrip(COL_MYSQL_T_DATETIME2, 0, 4, "2000-01-01 00:00:00.0001", "2000-01-01 00:00:00.0001");
    roundtrip(COL_MYSQL_T_DATETIME2, 0, 6, "0000-00-00 00:00:00.000000",
              "0000-00-00 00:00:00.000000");
    roundtrip(COL_MYSQL_T_TIMESTAMP2, 0, 0, "0000-00-00 00:00:00", "0000-00-00 00:00:00");
    roundtrip(COL_MYSQL_T_TIMESTAMP2, 0, 2, "0000-00-00 00:00:00.00", "0000-00-00 00:00:00.00");
    roundtrip(COL_MYSQL_T_TIMESTAMP2, 0, 0, "1970-01-01 00:00:01", "1970-01-01 00:00:01");
    roundtrip(COL_MYSQL_T_TIMESTAMP2, 0, 5, "2038-01-19 03:14:07.99999",
              "2038-01-19 03:14:07.99999");
    roundtrip(COL_MYSQL_T_TIMESTAMP2, 0, 6, "2106-02-07 06:28:15.999999",
              "2106-02-07 06:28:15.999999");
    refused(COL_MYSQL_T_TIMESTAMP2, 0, 0, "2106-02-07 06:28:16");
    roundtrip(COL_MYSQL_T_DATE, 0, 0, "0000-00-00", "0000-00-00");
    roundtrip(COL_MYSQL_T_DATE, 0, 0, "9999-12-31", "9999-12-31");
    roundtrip(COL_MYSQL_T_DATE, 0, 0, "2024-02-00", "2024-02-00");
    refused(COL_MYSQL_T_DATE, 0, 0, "2024-02-01 00:00:00");
    refused(COL_MYSQL_T_DATETIME2, 0, 0, "2024-02-01");
}

static void test_decimal_edges(void **state)
{
    (void)state;
    const char *max = "99999999999999999999999999999999999.999999999999999999999999999999";
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 65, 30, max, max);
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 65, 30,
              "-99999999999999999999999999999999999.999999999999999999999999999999",
              "-99999999999999999999999999999999999.999999999999999999999999999999");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 65, 30, "0.000000000000000000000000000001",
              "0.000000000000000000000000000001");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 65, 0, "-1", "-1");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 1, 1, "0.9", "0.9");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 1, 1, "-0.9", "-0.9");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 1, 1, "0.0", "0.0");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 30, 30, "-0.000000000000000000000000000001",
              "-0.000000000000000000000000000001");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 10, 2, "-0.01", "-0.01");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 10, 2, "99999999.99", "99999999.99");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 5, 0, "0", "0");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 20, 10, "-1234567890.0000000001",
              "-1234567890.0000000001");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 18, 9, "123456789.123456789", "123456789.123456789");
    roundtrip(COL_MYSQL_T_NEWDECIMAL, 12, 2, "1.5", "1.50");   /* fewer digits: padded */
    refused(COL_MYSQL_T_NEWDECIMAL, 10, 2, "123456789.00");    /* 9 integer digits in 8 */
    refused(COL_MYSQL_T_NEWDECIMAL, 10, 2, "1.001");
    refused(COL_MYSQL_T_NEWDECIMAL, 10, 2, "1e5");
    refused(COL_MYSQL_T_NEWDECIMAL, 10, 2, "1.0; DROP");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_every_fsp),
        cmocka_unit_test(test_datetime_timestamp_date),
        cmocka_unit_test(test_decimal_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
