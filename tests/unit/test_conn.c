/* Unit tests of the connection builders (common/sl_myconn.c,
 * common/sl_pgconn.c): the mysql:// URL reader the CLI and direct tasks
 * share, and how a refused connection is reported (a closed port on
 * loopback: a real client library, no server needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <mysql.h>

#include "sl_myconn.h"
#include "sl_pgconn.h"

static void test_url_full(void **state)
{
    (void)state;
    char buf[256];
    sl_myconn_t c = {.port = 3306};
    assert_int_equal(sl_myconn_url("mysql://u%40x:p%3Aw@@db.example:13306/shop%2Ea?ssl=1", &c,
                                   buf, sizeof buf), 0);
    /* the last '@' ends the credentials; the password keeps its raw '@' */
    assert_string_equal(c.user, "u@x");
    assert_string_equal(c.password, "p:w@");
    assert_string_equal(c.host, "db.example");
    assert_int_equal(c.port, 13306);
    assert_string_equal(c.database, "shop.a");
}

static void test_url_defaults_kept(void **state)
{
    (void)state;
    char buf[64];
    sl_myconn_t c = {.host = "127.0.0.1", .port = 3306, .user = "root"};
    assert_int_equal(sl_myconn_url("mariadb://", &c, buf, sizeof buf), 0);
    assert_string_equal(c.host, "127.0.0.1");
    assert_string_equal(c.user, "root");
    assert_null(c.password);
    assert_null(c.database);
    assert_int_equal(c.port, 3306);
    assert_int_equal(sl_myconn_url("mysql://h/", &c, buf, sizeof buf), 0);
    assert_string_equal(c.host, "h");
    assert_string_equal(c.database, "");
    /* no scheme: the whole text is the address */
    sl_myconn_t d = {0};
    assert_int_equal(sl_myconn_url("a:b@h:1", &d, buf, sizeof buf), 0);
    assert_string_equal(d.user, "a");
    assert_string_equal(d.password, "b");
    assert_string_equal(d.host, "h");
    assert_int_equal(d.port, 1);
    /* too long for buf */
    char small[8];
    assert_int_equal(sl_myconn_url("mysql://someone@somewhere", &d, small, sizeof small), -1);
}

static void test_my_refused(void **state)
{
    (void)state;
    char msg[256];
    unsigned no = 0;
    MYSQL *m = (MYSQL *)1;
    sl_myconn_t c = {.host = "127.0.0.1", .port = 1, .user = "nobody", .connect_timeout = 2};
    assert_int_equal(sl_myconn_open(&c, &m, msg, sizeof msg, &no), SL_ERR_DB);
    assert_null(m);
    assert_true(no == 2002 || no == 2003);      /* CR_CONN_HOST_ERROR family */
    assert_true(strlen(msg) > 0);
}

static void test_pg_refused(void **state)
{
    (void)state;
    char msg[512], hint[128] = "x";
    PGconn *conn = (PGconn *)1;
    sl_pgconn_t c = {.host = "127.0.0.1", .port = "1", .user = "nobody", .dbname = "x",
                     .connect_timeout = 2, .tls = {0, NULL, NULL, NULL}, .tls_prefix = "source"};
    /* a closed port is not a refusal for good: retrying can help */
    assert_int_equal(sl_pgconn_open(&c, &conn, msg, sizeof msg, hint, sizeof hint), SL_ERR_DB);
    assert_null(conn);
    assert_non_null(strstr(msg, "127.0.0.1"));
    assert_string_equal(hint, "");
    /* the same through a URI */
    sl_pgconn_t u = {.uri = "postgresql://nobody@127.0.0.1:1/x?connect_timeout=2"};
    assert_int_equal(sl_pgconn_open(&u, &conn, msg, sizeof msg, NULL, 0), SL_ERR_DB);
    assert_null(conn);
    assert_non_null(strstr(msg, "127.0.0.1"));
    /* a database name with '=' is a name, not a conninfo to expand */
    sl_pgconn_t e = {.host = "127.0.0.1", .port = "1", .dbname = "port=2 x=y",
                     .connect_timeout = 2};
    assert_int_equal(sl_pgconn_open(&e, &conn, msg, sizeof msg, NULL, 0), SL_ERR_DB);
    assert_null(strstr(msg, "invalid connection option"));
    assert_non_null(strstr(msg, "port 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_full),
        cmocka_unit_test(test_url_defaults_kept),
        cmocka_unit_test(test_my_refused),
        cmocka_unit_test(test_pg_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
