/* Unit tests of the applier's table/column mapping (applier/mapping.c):
 * include/exclude patterns, map.tables with '*', map.columns, columns.include/exclude
 * (primary keys always kept), bad rules. No servers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../applier/mapping.c"

static sl_schema_t schema(sl_column_t *cols, uint32_t n)
{
    return (sl_schema_t){.db = "shop", .table = "users", .ncols = n, .cols = cols};
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(app_glob("*", "shop.users"));
    assert_true(app_glob("shop.*", "shop.users"));
    assert_true(app_glob("shop.us?rs", "shop.users"));
    assert_false(app_glob("shop.*", "crm.users"));
    assert_false(app_glob("shop.u", "shop.users"));
    assert_true(app_glob("*.*.pass*", "a.b.password"));
}

static void test_include_exclude(void **state)
{
    (void)state;
    char err[256];
    app_mapping_t *m;
    app_conf_t c = {.tables = "shop.*, crm.customers", .tables_exclude = "shop.tmp_*"};
    assert_int_equal(app_mapping_new(&m, &c, err, sizeof(err)), SL_OK);
    assert_true(app_mapping_included(m, "shop", "users"));
    assert_true(app_mapping_included(m, "crm", "customers"));
    assert_false(app_mapping_included(m, "crm", "leads"));
    assert_false(app_mapping_included(m, "shop", "tmp_x"));
    app_mapping_destroy(m);
}

static void test_names_and_columns(void **state)
{
    (void)state;
    char err[256];
    app_mapping_t *m;
    app_conf_t c = {.tables = "*", .map_tables = "crm.*=x.y, shop.*=copy.*",
                    .map_columns = "shop.users.name=full_name",
                    .columns_exclude = "*.*.pass*, shop.users.id"};
    sl_column_t cols[3] = {{.name = "id", .pk = 1}, {.name = "name"}, {.name = "password"}};
    sl_schema_t s = schema(cols, 3);
    app_table_map_t map;
    assert_int_equal(app_mapping_new(&m, &c, err, sizeof(err)), SL_OK);
    assert_int_equal(app_mapping_table(m, &s, &map, err, sizeof(err)), SL_OK);
    assert_string_equal(map.dst_schema, "copy");
    assert_string_equal(map.dst_table, "users");
    assert_string_equal(map.dst_cols[0], "id");          /* key kept despite exclude */
    assert_string_equal(map.dst_cols[1], "full_name");
    assert_null(map.dst_cols[2]);
    assert_ptr_equal(map.schema, &s);
    app_mapping_destroy(m);
}

static void test_columns_include(void **state)
{
    (void)state;
    char err[256];
    app_mapping_t *m;
    app_conf_t c = {.tables = "*", .columns_include = "shop.users.name"};
    sl_column_t cols[3] = {{.name = "id", .pk = 1}, {.name = "name"}, {.name = "note"}};
    sl_schema_t s = schema(cols, 3);
    app_table_map_t map;
    assert_int_equal(app_mapping_new(&m, &c, err, sizeof(err)), SL_OK);
    assert_int_equal(app_mapping_table(m, &s, &map, err, sizeof(err)), SL_OK);
    assert_string_equal(map.dst_schema, "shop");
    assert_non_null(map.dst_cols[0]);
    assert_non_null(map.dst_cols[1]);
    assert_null(map.dst_cols[2]);
    app_mapping_destroy(m);
}

static void test_bad_rules(void **state)
{
    (void)state;
    char err[256];
    app_mapping_t *m;
    app_conf_t c = {.tables = "*", .map_tables = "shop.users"};
    assert_int_equal(app_mapping_new(&m, &c, err, sizeof(err)), SL_ERR_INVALID);
    assert_non_null(strstr(err, "map.tables: bad rule"));
    app_conf_t c2 = {.tables = "*", .map_columns = "shop.users=x"};
    assert_int_equal(app_mapping_new(&m, &c2, err, sizeof(err)), SL_ERR_INVALID);
    assert_non_null(strstr(err, "map.columns"));
}

/* Database "a.b" + table "c" and database "a" + table "b.c" are two tables:
 * mapping the second must not reuse (and free) the first's cached names. */
static void test_dotted_names_collide(void **state)
{
    (void)state;
    char err[256];
    app_mapping_t *m;
    app_conf_t c = {.tables = "*"};
    sl_column_t cols[1] = {{.name = "id", .pk = 1}};
    sl_schema_t s1 = {.db = "a.b", .table = "c", .ncols = 1, .cols = cols};
    sl_schema_t s2 = {.db = "a", .table = "b.c", .ncols = 1, .cols = cols};
    app_table_map_t m1, m2;
    assert_int_equal(app_mapping_new(&m, &c, err, sizeof(err)), SL_OK);
    assert_int_equal(app_mapping_table(m, &s1, &m1, err, sizeof(err)), SL_OK);
    assert_int_equal(app_mapping_table(m, &s2, &m2, err, sizeof(err)), SL_OK);
    /* m1 must still be valid: the names of another table were mapped since */
    assert_string_equal(m1.dst_schema, "a.b");
    assert_string_equal(m1.dst_table, "c");
    assert_string_equal(m1.dst_cols[0], "id");
    assert_string_equal(m2.dst_schema, "a");
    assert_string_equal(m2.dst_table, "b.c");
    app_mapping_destroy(m);
}

/* Patterns name db and table separately: a backquoted part may hold dots. */
static void test_dotted_patterns(void **state)
{
    (void)state;
    char err[256];
    app_mapping_t *m;
    app_conf_t c = {.tables = "`a.b`.c, x.*", .tables_exclude = "x.`y.z`",
                    .map_tables = "`a.b`.c=`t.s`.`t.t`, a.*=plain.*",
                    .columns_exclude = "`a.b`.c.secret"};
    assert_int_equal(app_mapping_new(&m, &c, err, sizeof(err)), SL_OK);
    assert_true(app_mapping_included(m, "a.b", "c"));
    assert_false(app_mapping_included(m, "a", "b.c"));
    assert_true(app_mapping_included(m, "x", "y"));
    assert_false(app_mapping_included(m, "x", "y.z"));
    sl_column_t cols[2] = {{.name = "id", .pk = 1}, {.name = "secret"}};
    sl_schema_t s1 = {.db = "a.b", .table = "c", .ncols = 2, .cols = cols};
    sl_schema_t s2 = {.db = "a", .table = "b.c", .ncols = 2, .cols = cols};
    app_table_map_t m1, m2;
    assert_int_equal(app_mapping_table(m, &s1, &m1, err, sizeof(err)), SL_OK);
    assert_string_equal(m1.dst_schema, "t.s");
    assert_string_equal(m1.dst_table, "t.t");
    assert_null(m1.dst_cols[1]);
    assert_int_equal(app_mapping_table(m, &s2, &m2, err, sizeof(err)), SL_OK);
    assert_string_equal(m2.dst_schema, "plain");
    assert_string_equal(m2.dst_table, "b.c");
    assert_string_equal(m2.dst_cols[1], "secret");
    app_mapping_destroy(m);
}

static int nchecked;

static sl_err_t refuse_ko(void *ctx, const char *schema, const char *table, char *errstr,
                          size_t errstr_size)
{
    (void)ctx;
    nchecked++;
    if (strcmp(schema, "copy") || strcmp(table, "kafkaoffset"))
        return SL_OK;
    snprintf(errstr, errstr_size, "the position table");
    return SL_ERR_UNSUPPORTED;
}

/* Only rules with a fixed target are judged at start; '*' ones per table. */
static void test_check_targets(void **state)
{
    (void)state;
    char err[256];
    app_mapping_t *m;
    app_conf_t ok = {.tables = "*", .map_tables = "shop.*=copy.*, x.y=copy.other"};
    assert_int_equal(app_mapping_new(&m, &ok, err, sizeof(err)), SL_OK);
    nchecked = 0;
    assert_int_equal(app_mapping_check_targets(m, refuse_ko, NULL, err, sizeof(err)), SL_OK);
    assert_int_equal(nchecked, 1);
    app_mapping_destroy(m);
    app_conf_t bad = {.tables = "*", .map_tables = "shop.kafkaoffset=copy.kafkaoffset"};
    assert_int_equal(app_mapping_new(&m, &bad, err, sizeof(err)), SL_OK);
    assert_int_equal(app_mapping_check_targets(m, refuse_ko, NULL, err, sizeof(err)),
                     SL_ERR_UNSUPPORTED);
    assert_string_equal(err, "map.tables: rule shop.kafkaoffset=copy.kafkaoffset: "
                             "the position table");
    app_mapping_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob), cmocka_unit_test(test_include_exclude),
        cmocka_unit_test(test_names_and_columns), cmocka_unit_test(test_columns_include),
        cmocka_unit_test(test_bad_rules), cmocka_unit_test(test_dotted_names_collide),
        cmocka_unit_test(test_dotted_patterns), cmocka_unit_test(test_check_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
