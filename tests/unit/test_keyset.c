/* Unit tests of the keyset-range query builder (common/sl_keyset.c), the
 * one the collector's snapshot, the validator and the applier's direct
 * reader all use: composite keys, hostile identifiers, each bound alone and
 * both, no bounds. No servers: the text is compared. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sl_keyset.h"

/* literals 'a<i>' / 'u<i>', with the sequence number, to see each value's place */
static sl_err_t lit(void *ctx, sl_buf_t *q, int bound, uint32_t i, uint32_t seq)
{
    (void)ctx;
    return sl_buf_printf(q, "'%c%u#%u'", bound == SL_KEYSET_AFTER ? 'a' : 'u', i, seq);
}

static const char *range(sl_keyset_t *k, int after, int upto, const char *extra, uint32_t limit)
{
    static sl_buf_t q = SL_BUF_INIT;
    sl_buf_reset(&q);
    assert_int_equal(sl_keyset_range(k, &q, after, upto, extra, limit), SL_OK);
    return q.data;
}

static void test_mariadb_composite(void **state)
{
    (void)state;
    const char *names[] = {"a", "b"};
    sl_keyset_t k = {SL_KEYSET_MARIADB, 2, names, NULL, lit, NULL, 0};
    assert_string_equal(range(&k, 1, 0, NULL, 10),
                        " WHERE ((`a` > 'a0#0') OR (`a` = 'a0#1' AND `b` > 'a1#2'))"
                        " ORDER BY `a`, `b` LIMIT 10");
    assert_string_equal(range(&k, 0, 1, NULL, 10),
                        " WHERE ((`a` < 'u0#0') OR (`a` = 'u0#1' AND `b` <= 'u1#2'))"
                        " ORDER BY `a`, `b` LIMIT 10");
    assert_string_equal(range(&k, 1, 1, NULL, 0),
                        " WHERE ((`a` > 'a0#0') OR (`a` = 'a0#1' AND `b` > 'a1#2'))"
                        " AND ((`a` < 'u0#3') OR (`a` = 'u0#4' AND `b` <= 'u1#5'))"
                        " ORDER BY `a`, `b` LIMIT 1");
}

static void test_single_key(void **state)
{
    (void)state;
    const char *names[] = {"id"};
    sl_keyset_t k = {SL_KEYSET_MARIADB, 1, names, NULL, lit, NULL, 0};
    assert_string_equal(range(&k, 1, 1, NULL, 5),
                        " WHERE ((`id` > 'a0#0')) AND ((`id` <= 'u0#1')) ORDER BY `id` LIMIT 5");
    k.dialect = SL_KEYSET_PG;
    k.put_value = NULL;
    assert_string_equal(range(&k, 1, 1, NULL, 5),
                        " WHERE (\"id\") > ($1) AND (\"id\") <= ($2) ORDER BY \"id\" LIMIT 5");
}

static void test_pg_composite(void **state)
{
    (void)state;
    const char *names[] = {"a", "b", "c"};
    sl_keyset_t k = {SL_KEYSET_PG, 3, names, NULL, NULL, NULL, 0};
    assert_string_equal(range(&k, 1, 0, NULL, 7),
                        " WHERE (\"a\", \"b\", \"c\") > ($1, $2, $3) ORDER BY \"a\", \"b\", \"c\""
                        " LIMIT 7");
    assert_string_equal(range(&k, 0, 1, NULL, 7),
                        " WHERE (\"a\", \"b\", \"c\") <= ($1, $2, $3) ORDER BY \"a\", \"b\", \"c\""
                        " LIMIT 7");
    k.param_base = 2;                    /* $1, $2 taken by the caller */
    assert_string_equal(range(&k, 1, 1, "x > 0", 7),
                        " WHERE (x > 0) AND (\"a\", \"b\", \"c\") > ($3, $4, $5) AND "
                        "(\"a\", \"b\", \"c\") <= ($6, $7, $8) ORDER BY \"a\", \"b\", \"c\" LIMIT 7");
    k.put_value = lit;                   /* a caller's own value form */
    assert_string_equal(range(&k, 0, 1, NULL, 7),
                        " WHERE (\"a\", \"b\", \"c\") <= ('u0#0', 'u1#1', 'u2#2')"
                        " ORDER BY \"a\", \"b\", \"c\" LIMIT 7");
}

static void test_hostile_identifiers(void **state)
{
    (void)state;
    const char *names[] = {"a`b", "c\"d", "e.f"};
    sl_keyset_t k = {SL_KEYSET_MARIADB, 3, names, NULL, lit, NULL, 0};
    sl_buf_t q = SL_BUF_INIT;
    assert_int_equal(sl_keyset_order(&k, &q), SL_OK);
    assert_string_equal(q.data, " ORDER BY `a``b`, `c\"d`, `e.f`");
    sl_buf_reset(&q);
    k.dialect = SL_KEYSET_PG;
    assert_int_equal(sl_keyset_order(&k, &q), SL_OK);
    assert_string_equal(q.data, " ORDER BY \"a`b\", \"c\"\"d\", \"e.f\"");
    sl_buf_reset(&q);
    assert_int_equal(sl_keyset_ident(SL_KEYSET_MARIADB, &q, "``"), SL_OK);
    assert_int_equal(sl_keyset_ident(SL_KEYSET_PG, &q, "\""), SL_OK);
    assert_int_equal(sl_keyset_ident(SL_KEYSET_PG, &q, ""), SL_OK);
    assert_string_equal(q.data, "``````\"\"\"\"\"\"");
    sl_buf_free(&q);
}

static void test_expressions(void **state)
{
    (void)state;
    const char *exprs[] = {"CAST(`k` AS BINARY)", "`n`"};
    sl_keyset_t k = {SL_KEYSET_MARIADB, 2, NULL, exprs, lit, NULL, 0};
    assert_string_equal(range(&k, 1, 0, NULL, 3),
                        " WHERE ((CAST(`k` AS BINARY) > 'a0#0') OR (CAST(`k` AS BINARY) = 'a0#1'"
                        " AND `n` > 'a1#2')) ORDER BY CAST(`k` AS BINARY), `n` LIMIT 3");
}

/* NULL bounds: neither after nor upto -> no WHERE; only the caller's extra */
static void test_no_bounds(void **state)
{
    (void)state;
    const char *names[] = {"a", "b"};
    sl_keyset_t k = {SL_KEYSET_PG, 2, names, NULL, NULL, NULL, 0};
    assert_string_equal(range(&k, 0, 0, NULL, 4), " ORDER BY \"a\", \"b\" LIMIT 4");
    assert_string_equal(range(&k, 0, 0, "f(x)", 4), " WHERE (f(x)) ORDER BY \"a\", \"b\" LIMIT 4");
    sl_buf_t q = SL_BUF_INIT;
    uint32_t seq = 5;
    assert_int_equal(sl_keyset_pred(&k, &q, 0, 0, &seq), SL_OK);
    assert_null(q.data);                 /* nothing written */
    assert_int_equal(seq, 5);
    assert_int_equal(sl_keyset_pred(&k, &q, 1, 0, &seq), SL_OK);
    assert_string_equal(q.data, "(\"a\", \"b\") > ($6, $7)");
    assert_int_equal(seq, 7);
    /* a key of no column cannot be ranged */
    k.nkey = 0;
    assert_int_equal(sl_keyset_pred(&k, &q, 1, 0, NULL), SL_ERR_INVALID);
    assert_int_equal(sl_keyset_order(&k, &q), SL_ERR_INVALID);
    sl_buf_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mariadb_composite),
        cmocka_unit_test(test_single_key),
        cmocka_unit_test(test_pg_composite),
        cmocka_unit_test(test_hostile_identifiers),
        cmocka_unit_test(test_expressions),
        cmocka_unit_test(test_no_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
