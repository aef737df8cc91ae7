/* Unit tests: the type text the PostgreSQL target puts into DDL
 * (applier/target_pg_ddl.c). A source type name comes from a SCHEMA record,
 * that is from anyone who can write to the topic: only a type name of the
 * fixed grammar may reach CREATE / ADD / ALTER COLUMN. No servers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../applier/target_pg.h"

static void test_hostile_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "numeric(1), evil integer",
        "integer[] check (pg_sleep(1) is null)",
        "point(1) references x(id) on delete cascade",
        "numeric(10,2), drop column x",
        "numeric(10,2) default 1",
        "text collate \"C\"",
        "text,",
        "text;",
        "integer not null",
        "integer[](1)",
        "integer[1]",
        "numeric()",
        "numeric(1,2,3)",
        "numeric(-1)",
        "numeric( 1)",
        "numeric(99999999999999999999)",
        "character varying(10) primary key",
        "timestamp(6) with time zone, b int",
        "timestamp with time zone generated always as (now()) stored",
        "bit varying(3)[] unique",
        "double",
        "integer ",
        " integer",
        "Integer",
        "uuid\n",
        "",
        NULL};
    char out[128];
    for (int i = 0; bad[i]; i++) {
        memset(out, 0, sizeof out);
        if (app_pg_type_text(bad[i], out, sizeof out))
            fail_msg("accepted \"%s\" as \"%s\"", bad[i], out);
    }
}

static void test_legitimate_accepted(void **state)
{
    (void)state;
    /* what format_type() prints for the types the project maps (docs/applier.md,
     * docs/type-matrix.md, tests/it/test_pg_types.py) and what pg_type_for makes */
    static const char *const good[] = {
        "smallint", "integer", "bigint", "boolean", "text", "text[]", "integer[]",
        "character varying", "character varying(10)", "character varying(10)[]", "varchar(20)",
        "character", "character(3)", "numeric", "numeric(10)", "numeric(10,2)",
        "numeric(20,0)", "numeric(1000,1000)", "real", "double precision", "date", "uuid",
        "uuid[]", "inet", "cidr", "macaddr", "macaddr8", "xml", "json", "jsonb", "money",
        "point", "line", "lseg", "box", "path", "polygon", "circle", "tsvector", "tsquery",
        "pg_lsn", "interval", "interval(3)", "int4range", "int8range", "numrange", "daterange",
        "tsrange", "tstzrange", "bytea", "timestamp without time zone",
        "timestamp with time zone", "timestamp(6) with time zone",
        "timestamp(0) without time zone", "time without time zone", "time with time zone",
        "time(3) without time zone", "time(6) with time zone", "bit", "bit(10)", "bit varying",
        "bit varying(5)", "timestamp(3) with time zone[]", NULL};
    char out[128];
    for (int i = 0; good[i]; i++) {
        memset(out, 0, sizeof out);
        if (!app_pg_type_text(good[i], out, sizeof out))
            fail_msg("refused \"%s\"", good[i]);
        assert_string_equal(out, good[i]);
    }
}

static void test_out_too_small(void **state)
{
    (void)state;
    char out[8];
    assert_false(app_pg_type_text("timestamp(6) with time zone", out, sizeof out));
}

static void test_modify_whole_types_only(void **state)
{
    (void)state;
    assert_true(app_pg_safe_modify("numeric(10,2)", "numeric(12,2)"));
    assert_true(app_pg_safe_modify("character varying(10)", "varchar(20)"));
    assert_true(app_pg_safe_modify("integer", "bigint"));
    assert_true(app_pg_safe_modify("bigint", "numeric(20,0)"));
    assert_false(app_pg_safe_modify("numeric(10,2)", "numeric(10,2), drop column x"));
    assert_false(app_pg_safe_modify("numeric(10,2)", "numeric(12,2) default 0"));
    assert_false(app_pg_safe_modify("character varying(10)", "varchar(20), drop column x"));
    assert_false(app_pg_safe_modify("integer", "numeric; drop table x"));
    assert_false(app_pg_safe_modify("bigint", "numeric(20, drop column x"));
    assert_false(app_pg_safe_modify("varchar(10)", "text, drop column x"));
    assert_false(app_pg_safe_modify("numeric(10,2)", "numeric(8,2)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_refused),
        cmocka_unit_test(test_legitimate_accepted),
        cmocka_unit_test(test_out_too_small),
        cmocka_unit_test(test_modify_whole_types_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
