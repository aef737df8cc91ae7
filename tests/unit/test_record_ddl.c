/* Unit tests: what a SCHEMA record says of a table's life (common/sl_record.h):
 * no columns = dropped, and the DDL verb hint sl_ddl_is. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "sl_record.h"

static int is(const char *ddl, const char *kw)
{
    return sl_ddl_is(ddl, ddl ? strlen(ddl) : 0, kw);
}

static void test_ddl_verb(void **state)
{
    (void)state;
    assert_true(is("TRUNCATE TABLE `a`.`b`", "TRUNCATE"));
    assert_true(is("truncate t", "TRUNCATE"));
    assert_true(is("  \n\t/* by a tool */ RENAME TABLE a TO b", "RENAME"));
    assert_true(is("-- migration 7\nALTER TABLE a RENAME TO b", "ALTER"));
    assert_true(is("# x\n/*!40101 y */DROP TABLE a", "DROP"));
    assert_true(is("RENAME", "RENAME"));
    assert_false(is("RENAMEX TABLE a", "RENAME"));
    assert_false(is("DROP TABLE a", "RENAME"));
    assert_false(is("/* unterminated RENAME", "RENAME"));
    assert_false(is("", "DROP"));
    assert_false(is(NULL, "DROP"));
    /* only len bytes count */
    assert_false(sl_ddl_is("TRUNC", 5, "TRUNCATE"));
    assert_true(sl_ddl_is("DROPPED", 4, "DROP"));
}

static void test_dropped_schema(void **state)
{
    (void)state;
    sl_record_t *rec = sl_record_new();
    assert_non_null(rec);
    assert_int_equal(sl_record_init_schema(rec, "src", "db", "t", 0), SL_OK);
    assert_true(sl_schema_dropped(&rec->u.schema));
    sl_record_reset(rec);
    assert_int_equal(sl_record_init_schema(rec, "src", "db", "t", 2), SL_OK);
    assert_false(sl_schema_dropped(&rec->u.schema));
    sl_record_destroy(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ddl_verb),
        cmocka_unit_test(test_dropped_schema),
    };
    return cmocka_run_group_tests_name("record_ddl", tests, NULL, NULL);
}
