/* Unit tests of sl_tls: both spellings of a mode through a config table,
 * libpq's names in docs, the libpq keywords, the settings refused up front
 * and the hints added to TLS errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sl_conf.h"
#include "sl_tls.h"

typedef struct t_conf_s {
    int mode;
} t_conf_t;

static const sl_conf_entry_t t_table[] = {
    SL_CONF_ENUM("source.tls.mode", t_conf_t, mode, "prefer", sl_tls_mode_choices, 0, "TLS."),
};

static int set_mode(t_conf_t *c, sl_conf_t *conf, const char *v, char *err, size_t size)
{
    char arg[64];
    snprintf(arg, sizeof(arg), "source.tls.mode=%s", v);
    return sl_conf_apply_arg(conf, arg, err, size) == SL_OK ? c->mode : -1;
}

static void test_both_spellings(void **state)
{
    t_conf_t c;
    sl_conf_t conf;
    char err[256];
    assert_int_equal(sl_conf_init(&conf, t_table, 1, &c, err, sizeof(err)), SL_OK);
    assert_int_equal(c.mode, SL_TLS_PREFER);
    assert_int_equal(set_mode(&c, &conf, "disabled", err, sizeof(err)), SL_TLS_DISABLE);
    assert_int_equal(set_mode(&c, &conf, "disable", err, sizeof(err)), SL_TLS_DISABLE);
    assert_int_equal(set_mode(&c, &conf, "preferred", err, sizeof(err)), SL_TLS_PREFER);
    assert_int_equal(set_mode(&c, &conf, "required", err, sizeof(err)), SL_TLS_REQUIRE);
    assert_int_equal(set_mode(&c, &conf, "require", err, sizeof(err)), SL_TLS_REQUIRE);
    assert_int_equal(set_mode(&c, &conf, "verify-ca", err, sizeof(err)), SL_TLS_VERIFY_CA);
    assert_int_equal(set_mode(&c, &conf, "verify-full", err, sizeof(err)), SL_TLS_VERIFY_FULL);
    /* a prefix of a spelling is no spelling; the message lists libpq's names */
    assert_int_equal(set_mode(&c, &conf, "disab", err, sizeof(err)), -1);
    assert_string_equal(err, "-X: key \"source.tls.mode\": \"disab\" is not one of "
                             "disable|prefer|require|verify-ca|verify-full");
    assert_int_equal(set_mode(&c, &conf, "disable|disabled", err, sizeof(err)), -1);
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_conf_write_md(t_table, 1, "t", "", &b), SL_OK);
    assert_non_null(strstr(b.data, "one of `disable` \\| `prefer` \\| `require` \\| "
                                   "`verify-ca` \\| `verify-full`"));
    assert_null(strstr(b.data, "disabled"));
    sl_buf_free(&b);
    sl_conf_free(&conf);
    assert_int_equal(sl_tls_mode_parse("preferred"), SL_TLS_PREFER);
    assert_int_equal(sl_tls_mode_parse("verify-ca"), SL_TLS_VERIFY_CA);
    assert_int_equal(sl_tls_mode_parse("allow"), -1);
    assert_string_equal(sl_tls_mode_name(SL_TLS_REQUIRE), "require");
}

static void test_pg_params(void **state)
{
    const char *k[8], *v[8];
    sl_tls_t t = {SL_TLS_VERIFY_FULL, "/ca.pem", "/c.pem", "/k.pem"};
    int n = sl_tls_pg_params(&t, k, v, 0);
    assert_int_equal(n, 4);
    assert_string_equal(k[0], "sslmode");
    assert_string_equal(v[0], "verify-full");
    assert_string_equal(k[1], "sslrootcert");
    assert_string_equal(v[1], "/ca.pem");
    assert_string_equal(k[3], "sslkey");
    /* disable passes sslmode=disable and nothing else (a PGSSLMODE in the
     * environment must not turn it back on) */
    t = (sl_tls_t){SL_TLS_DISABLE, "/ca.pem", NULL, NULL};
    assert_int_equal(sl_tls_pg_params(&t, k, v, 0), 1);
    assert_string_equal(v[0], "disable");
    t = (sl_tls_t){SL_TLS_PREFER, "", NULL, ""};
    assert_int_equal(sl_tls_pg_params(&t, k, v, 2), 3);
    assert_string_equal(v[2], "prefer");
}

static void test_check(void **state)
{
    char err[300];
    sl_tls_t t = {SL_TLS_VERIFY_CA, NULL, NULL, NULL};
    assert_int_equal(sl_tls_check(&t, "source", err, sizeof(err)), SL_ERR_INVALID);
    assert_string_equal(err, "source.tls.mode verify-ca checks the server certificate against "
                             "a CA: set source.tls.ca to the CA's PEM file");
    t = (sl_tls_t){SL_TLS_REQUIRE, NULL, "/etc/hostname", NULL};
    assert_int_equal(sl_tls_check(&t, "target", err, sizeof(err)), SL_ERR_INVALID);
    assert_non_null(strstr(err, "target.tls.cert and target.tls.key go together"));
    t = (sl_tls_t){SL_TLS_VERIFY_FULL, "/nonexistent/ca.pem", NULL, NULL};
    assert_int_equal(sl_tls_check(&t, "target", err, sizeof(err)), SL_ERR_INVALID);
    assert_string_equal(err, "target.tls.ca: cannot read /nonexistent/ca.pem: "
                             "No such file or directory");
    t = (sl_tls_t){SL_TLS_PREFER, NULL, NULL, NULL};
    assert_int_equal(sl_tls_check(&t, "target", err, sizeof(err)), SL_OK);
}

static void test_error_hints(void **state)
{
    char h[300];
    assert_non_null(strstr(sl_tls_error_hint("SSL error: certificate verify failed", "source",
                                             h, sizeof(h)), "not signed by the CA in source.tls.ca"));
    assert_non_null(strstr(sl_tls_error_hint("FATAL:  no pg_hba.conf entry for host "
                                             "\"127.0.0.1\", user \"u\", database \"d\", no "
                                             "encryption", "target", h, sizeof(h)),
                           "accepts TLS connections only: set target.tls.mode"));
    assert_non_null(strstr(sl_tls_error_hint("Connections using insecure transport are "
                                             "prohibited while --require_secure_transport=ON.",
                                             "source", h, sizeof(h)), "TLS connections only"));
    assert_non_null(strstr(sl_tls_error_hint("FATAL:  connection requires a valid client "
                                             "certificate", "target", h, sizeof(h)),
                           "set target.tls.cert and target.tls.key"));
    assert_string_equal(sl_tls_error_hint("Access denied for user", "source", h, sizeof(h)), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_spellings),
        cmocka_unit_test(test_pg_params),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_error_hints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
