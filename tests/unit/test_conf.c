/* Unit tests of the config loader: every error path with its exact message,
 * precedence file < environment < -X, kafka passthrough, masked dumps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sl_conf.h"

typedef struct t_conf_s {
    const char *name;
    int         type;
    const char *host;
    int64_t     port;
    const char *password;
    int         verbose;
    int64_t     buffer;
    int64_t     interval;
    const char *bootstrap;
} t_conf_t;

static const char *const t_types[] = {"mysql", "postgresql", NULL};

static const sl_conf_entry_t t_table[] = {
    SL_CONF_STRING("source.name", t_conf_t, name, NULL, SL_CONF_REQUIRED, "Source name."),
    SL_CONF_ENUM("source.type", t_conf_t, type, "mysql", t_types, 0, "Kind of source."),
    SL_CONF_STRING("source.host", t_conf_t, host, "127.0.0.1", 0, "Host | address."),
    SL_CONF_INT("source.port", t_conf_t, port, "3306", 1, 65535, 0, "Port."),
    SL_CONF_SECRET("source.password", t_conf_t, password, 0, "Password."),
    SL_CONF_BOOL("verbose", t_conf_t, verbose, "false", 0, "Chatty."),
    SL_CONF_SIZE("buffer.size", t_conf_t, buffer, "1MB", 1024, 1 << 30, 0, "Buffer."),
    SL_CONF_DURATION("flush.interval.ms", t_conf_t, interval, "1s", 1, 3600000, 0, "Flush."),
    SL_CONF_STRING("kafka.bootstrap.servers", t_conf_t, bootstrap, "127.0.0.1:19092", 0,
                   "Brokers."),
};

typedef struct fixture_s {
    t_conf_t  c;
    sl_conf_t conf;
    char      path[64];
    char      err[512];
    char      want[512];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(sl_conf_init(&f->conf, t_table, SL_CONF_COUNT(t_table), &f->c, f->err,
                                  sizeof(f->err)),
                     SL_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sl_conf_free(&f->conf);
    if (f->path[0])
        unlink(f->path);
    free(f);
    unsetenv("SHIFTLOG_SOURCE_HOST");
    unsetenv("SHIFTLOG_SOURCE_PORT");
    unsetenv("SHIFTLOG_KAFKA_BOOTSTRAP_SERVERS");
    unsetenv("SHIFTLOG_KAFKA_CLIENT_ID");
    return 0;
}

/* Writes text to a new temporary file; loads it; returns the result. */
static sl_err_t load(fixture_t *f, const char *text)
{
    if (f->path[0])
        unlink(f->path);
    strcpy(f->path, "/tmp/test_conf_XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return sl_conf_load_file(&f->conf, f->path, f->err, sizeof(f->err));
}

/* Expected message: "<path>" + suffix. */
static const char *at(fixture_t *f, const char *suffix)
{
    snprintf(f->want, sizeof(f->want), "%s%s", f->path, suffix);
    return f->want;
}

static void test_defaults(void **state)
{
    fixture_t *f = *state;
    assert_null(f->c.name);
    assert_int_equal(f->c.type, 0);
    assert_string_equal(f->c.host, "127.0.0.1");
    assert_int_equal(f->c.port, 3306);
    assert_int_equal(f->c.buffer, 1 << 20);
    assert_int_equal(f->c.interval, 1000);
    assert_string_equal(sl_kvlist_get(&f->conf.kafka, "bootstrap.servers"), "127.0.0.1:19092");
    assert_int_equal(sl_conf_origin(&f->conf, "source.port"), SL_CONF_FROM_DEFAULT);
}

static void test_file_syntax(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "# a comment\n"
                             "\n"
                             "   source.name   =   shop  \r\n"
                             "source.type=postgresql\n"
                             "  # indented comment\n"
                             "source.host = \"db host # not a comment\"  # trailing comment\n"
                             "source.password = 'p\"w#'\n"
                             "verbose = YES\n"
                             "buffer.size = 64 KB\n"
                             "flush.interval.ms = 2m\n"
                             "source.port = 5432\n"),
                     SL_OK);
    assert_string_equal(f->c.name, "shop");
    assert_int_equal(f->c.type, 1);
    assert_string_equal(f->c.host, "db host # not a comment");
    assert_string_equal(f->c.password, "p\"w#");
    assert_int_equal(f->c.verbose, 1);
    assert_int_equal(f->c.buffer, 64 * 1024);
    assert_int_equal(f->c.interval, 120000);
    assert_int_equal(f->c.port, 5432);
    assert_int_equal(sl_conf_origin(&f->conf, "source.port"), SL_CONF_FROM_FILE);
    assert_int_equal(sl_conf_check(&f->conf, f->err, sizeof(f->err)), SL_OK);
}

static void test_double_quote_escapes(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.host = \"a\\\"b\\\\c\"\n"), SL_OK);
    assert_string_equal(f->c.host, "a\"b\\c");
}

static void test_unknown_key_suggests(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.name = x\n\nsoruce.host = h\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":3: unknown key \"soruce.host\" (did you mean \"source.host\"?)"));
}

static void test_unknown_key_far(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "completely.different = 1\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: unknown key \"completely.different\""));
}

static void test_bad_int(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.port = abc\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"source.port\": \"abc\" is not an integer (1..65535)"));
    assert_int_equal(f->c.port, 3306);  /* unchanged on error */
}

static void test_int_trailing_garbage(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.port = 33o6\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"source.port\": \"33o6\" is not an integer (1..65535)"));
}

static void test_int_out_of_range(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.port = 70000\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"source.port\": 70000 is out of range (1..65535)"));
    assert_int_equal(load(f, "source.port = 0\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"source.port\": 0 is out of range (1..65535)"));
    assert_int_equal(load(f, "source.port = 99999999999999999999999\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"source.port\": 99999999999999999999999 is out of range (1..65535)"));
}

static void test_bad_bool(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "verbose = maybe\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"verbose\": \"maybe\" is not a boolean (true|false, yes|no, on|off, 1|0)"));
}

static void test_bad_enum(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.type = oracle\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"source.type\": \"oracle\" is not one of mysql|postgresql"));
}

static void test_bad_size_and_duration(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "buffer.size = 12 parsecs\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"buffer.size\": \"12 parsecs\" is not a size (e.g. 512KB, 64MB, 1GB; a bare number is bytes)"));
    assert_int_equal(load(f, "buffer.size = 2GB\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"buffer.size\": 2GB is out of range (1KB..1GB)"));
    assert_int_equal(load(f, "flush.interval.ms = soon\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"flush.interval.ms\": \"soon\" is not a duration (e.g. 500ms, 5s, 2m, 1h; a bare number is milliseconds)"));
    assert_int_equal(load(f, "flush.interval.ms = 2h\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"flush.interval.ms\": 2h is out of range (1ms..1h)"));
    assert_int_equal(load(f, "flush.interval.ms = -5\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":1: key \"flush.interval.ms\": \"-5\" is not a duration (e.g. 500ms, 5s, 2m, 1h; a bare number is milliseconds)"));
}

static void test_missing_required(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.host = h\n"), SL_OK);
    assert_int_equal(sl_conf_check(&f->conf, f->err, sizeof(f->err)), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ": missing required key \"source.name\" (set it in the config file, with SHIFTLOG_SOURCE_NAME or -X source.name=...)"));
}

static void test_required_empty_is_missing(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.name = \"\"\n"), SL_OK);
    assert_int_equal(sl_conf_check(&f->conf, f->err, sizeof(f->err)), SL_ERR_INVALID);
}

static void test_missing_required_no_file(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(sl_conf_check(&f->conf, f->err, sizeof(f->err)), SL_ERR_INVALID);
    assert_string_equal(f->err, "config: missing required key \"source.name\" (set it in the config file, with SHIFTLOG_SOURCE_NAME or -X source.name=...)");
}

static void test_missing_file(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(sl_conf_load_file(&f->conf, "/nonexistent/shiftlog.conf", f->err,
                                       sizeof(f->err)),
                     SL_ERR_IO);
    assert_string_equal(f->err, "/nonexistent/shiftlog.conf: cannot open config file: No such file or directory");
}

static void test_unterminated_quote(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.name = x\nsource.host = \"db\n"), SL_ERR_PARSE);
    assert_string_equal(f->err, at(f, ":2: key \"source.host\": unterminated quote (\")"));
    assert_int_equal(load(f, "source.host = 'db\n"), SL_ERR_PARSE);
    assert_string_equal(f->err, at(f, ":1: key \"source.host\": unterminated quote (')"));
}

static void test_text_after_quote(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.host = \"db\" x\n"), SL_ERR_PARSE);
    assert_string_equal(f->err, at(f, ":1: key \"source.host\": unexpected text after the closing quote"));
}

static void test_line_without_equals(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "# header\nsource.name shop\n"), SL_ERR_PARSE);
    assert_string_equal(f->err, at(f, ":2: expected \"key = value\", got \"source.name shop\""));
}

static void test_missing_key_and_bad_key(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, " = 3\n"), SL_ERR_PARSE);
    assert_string_equal(f->err, at(f, ":1: missing key before \"=\""));
    assert_int_equal(load(f, "source host = 3\n"), SL_ERR_PARSE);
    assert_string_equal(f->err, at(f, ":1: invalid key \"source host\" (letters, digits, '.', '_' and '-' only)"));
}

static void test_duplicate_key_is_error(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.port = 1\nsource.name = a\nsource.port = 2\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":3: key \"source.port\" is set twice (first on line 1)"));
    assert_int_equal(load(f, "kafka.acks = 1\nkafka.acks = all\n"), SL_ERR_INVALID);
    assert_string_equal(f->err, at(f, ":2: key \"kafka.acks\" is set twice (first on line 1)"));
}

static void test_x_args(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(sl_conf_apply_arg(&f->conf, "source.port", f->err, sizeof(f->err)), SL_ERR_PARSE);
    assert_string_equal(f->err, "-X: expected key=value, got \"source.port\"");
    assert_int_equal(sl_conf_apply_arg(&f->conf, "=3", f->err, sizeof(f->err)), SL_ERR_PARSE);
    assert_string_equal(f->err, "-X: expected key=value, got \"=3\"");
    assert_int_equal(sl_conf_apply_arg(&f->conf, "source.prot=3", f->err, sizeof(f->err)), SL_ERR_INVALID);
    assert_string_equal(f->err, "-X: unknown key \"source.prot\" (did you mean \"source.port\"?)");
    assert_int_equal(sl_conf_apply_arg(&f->conf, "source.port=x", f->err, sizeof(f->err)), SL_ERR_INVALID);
    assert_string_equal(f->err, "-X: key \"source.port\": \"x\" is not an integer (1..65535)");
    /* repeated -X: the last one wins */
    assert_int_equal(sl_conf_apply_arg(&f->conf, "source.port=1", f->err, sizeof(f->err)), SL_OK);
    assert_int_equal(sl_conf_apply_arg(&f->conf, "source.port=2", f->err, sizeof(f->err)), SL_OK);
    assert_int_equal(f->c.port, 2);
    assert_int_equal(sl_conf_origin(&f->conf, "source.port"), SL_CONF_FROM_ARG);
}

static void test_env_errors(void **state)
{
    fixture_t *f = *state;
    setenv("SHIFTLOG_SOURCE_PORT", "http", 1);
    assert_int_equal(sl_conf_apply_env(&f->conf, f->err, sizeof(f->err)), SL_ERR_INVALID);
    assert_string_equal(f->err, "SHIFTLOG_SOURCE_PORT: key \"source.port\": \"http\" is not an integer (1..65535)");
}

static void test_precedence_file_env_arg(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.name = a\nsource.host = file\nsource.port = 1\n"), SL_OK);
    setenv("SHIFTLOG_SOURCE_HOST", "env", 1);
    setenv("SHIFTLOG_SOURCE_PORT", "2", 1);
    assert_int_equal(sl_conf_apply_env(&f->conf, f->err, sizeof(f->err)), SL_OK);
    assert_int_equal(sl_conf_apply_arg(&f->conf, "source.port=3", f->err, sizeof(f->err)), SL_OK);
    assert_string_equal(f->c.name, "a");      /* file */
    assert_string_equal(f->c.host, "env");    /* env over file */
    assert_int_equal(f->c.port, 3);           /* -X over env */
    assert_int_equal(sl_conf_origin(&f->conf, "source.name"), SL_CONF_FROM_FILE);
    assert_int_equal(sl_conf_origin(&f->conf, "source.host"), SL_CONF_FROM_ENV);
    assert_string_equal(sl_conf_get(&f->conf, "source.host"), "env");
}

static void test_empty_env_is_unset(void **state)
{
    fixture_t *f = *state;
    setenv("SHIFTLOG_SOURCE_PORT", "", 1);
    assert_int_equal(sl_conf_apply_env(&f->conf, f->err, sizeof(f->err)), SL_OK);
    assert_int_equal(f->c.port, 3306);
}

static void test_kafka_passthrough(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "kafka.bootstrap.servers = b1:9092,b2:9092\n"
                             "kafka.compression.type = zstd\n"),
                     SL_OK);
    assert_string_equal(f->c.bootstrap, "b1:9092,b2:9092");
    assert_string_equal(sl_kvlist_get(&f->conf.kafka, "bootstrap.servers"), "b1:9092,b2:9092");
    assert_string_equal(sl_kvlist_get(&f->conf.kafka, "compression.type"), "zstd");
    /* declared kafka keys come from the environment, undeclared ones do not */
    setenv("SHIFTLOG_KAFKA_BOOTSTRAP_SERVERS", "env:9092", 1);
    setenv("SHIFTLOG_KAFKA_CLIENT_ID", "nope", 1);
    assert_int_equal(sl_conf_apply_env(&f->conf, f->err, sizeof(f->err)), SL_OK);
    assert_string_equal(sl_kvlist_get(&f->conf.kafka, "bootstrap.servers"), "env:9092");
    assert_null(sl_kvlist_get(&f->conf.kafka, "client.id"));
    assert_int_equal(sl_conf_apply_arg(&f->conf, "kafka.client.id=cli", f->err, sizeof(f->err)), SL_OK);
    assert_string_equal(sl_kvlist_get(&f->conf.kafka, "client.id"), "cli");
    /* "kafka." alone is not a passthrough key */
    assert_int_equal(sl_conf_apply_arg(&f->conf, "kafka.=x", f->err, sizeof(f->err)), SL_ERR_INVALID);
}

static void test_dump_masks_secrets(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, "source.name = shop\n"
                             "source.password = hunter2\n"
                             "source.host = \"a b\"\n"
                             "kafka.sasl.password = topsecret\n"
                             "kafka.sasl.username = bob\n"),
                     SL_OK);
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_conf_dump(&f->conf, &b), SL_OK);
    assert_string_equal(b.data, "source.name = shop\n"
                                "source.type = mysql\n"
                                "source.host = \"a b\"\n"
                                "source.port = 3306\n"
                                "source.password = ****\n"
                                "verbose = false\n"
                                "buffer.size = 1MB\n"
                                "flush.interval.ms = 1s\n"
                                "kafka.bootstrap.servers = 127.0.0.1:19092\n"
                                "kafka.sasl.password = ****\n"
                                "kafka.sasl.username = bob\n");
    assert_null(strstr(b.data, "hunter2"));
    assert_null(strstr(b.data, "topsecret"));
    sl_buf_free(&b);
}

static void test_bad_default_is_reported(void **state)
{
    (void)state;
    static const sl_conf_entry_t bad[] = {
        SL_CONF_INT("n", t_conf_t, port, "many", 0, 0, 0, "N."),
    };
    t_conf_t c;
    sl_conf_t conf;
    char err[256];
    assert_int_equal(sl_conf_init(&conf, bad, 1, &c, err, sizeof(err)), SL_ERR_INVALID);
    assert_string_equal(err, "default: key \"n\": \"many\" is not an integer");
    sl_conf_free(&conf);
}

static void test_help_and_markdown(void **state)
{
    (void)state;
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_conf_write_help(t_table, SL_CONF_COUNT(t_table), &b), SL_OK);
    assert_non_null(strstr(b.data, "  source.port  (int 1..65535, default 3306, env SHIFTLOG_SOURCE_PORT)\n      Port.\n"));
    assert_non_null(strstr(b.data, "  source.name  (string, required, env SHIFTLOG_SOURCE_NAME)\n"));
    sl_buf_reset(&b);
    assert_int_equal(sl_conf_write_md(t_table, SL_CONF_COUNT(t_table), "t", "Intro.", &b), SL_OK);
    assert_non_null(strstr(b.data, "## t\n\nIntro.\n\n| Key | Type | Default | Environment | Description |\n"));
    assert_non_null(strstr(b.data, "| `source.type` | one of `mysql` \\| `postgresql` | `mysql` | `SHIFTLOG_SOURCE_TYPE` | Kind of source. |\n"));
    assert_non_null(strstr(b.data, "| `source.host` | string | `127.0.0.1` | `SHIFTLOG_SOURCE_HOST` | Host \\| address. |\n"));
    assert_non_null(strstr(b.data, "| `buffer.size` | size 1KB..1GB | `1MB` |"));
    sl_buf_free(&b);
}

static void test_env_name(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(sl_conf_env_name("source.host", buf, sizeof(buf)), "SHIFTLOG_SOURCE_HOST");
    assert_string_equal(sl_conf_env_name("auto-recovery.count", buf, sizeof(buf)),
                        "SHIFTLOG_AUTO_RECOVERY_COUNT");
    assert_string_equal(sl_conf_env_name("worker_num", buf, sizeof(buf)), "SHIFTLOG_WORKER_NUM");
}
/* Writes text to a new temporary file (a secret file); returns its path in buf. */
static const char *secret_file(char *buf, const char *text)
{
    strcpy(buf, "/tmp/test_conf_secret_XXXXXX");
    int fd = mkstemp(buf);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return buf;
}

static void test_secret_from_file(void **state)
{
    fixture_t *f = *state;
    char pw[64], kpw[64], text[400];
    secret_file(pw, "canary-Pw-7731\n");
    secret_file(kpw, "kafka pw with # and spaces\r\n");
    snprintf(text, sizeof(text), "source.password.file = %s\nkafka.sasl.password.file = %s\n"
             "kafka.ssl.key.password.file = %s\n", pw, kpw, pw);
    assert_int_equal(load(f, text), SL_OK);
    assert_string_equal(f->c.password, "canary-Pw-7731");  /* one trailing newline removed */
    assert_string_equal(sl_kvlist_get(&f->conf.kafka, "sasl.password"),
                        "kafka pw with # and spaces");
    assert_int_equal(sl_conf_origin(&f->conf, "source.password"), SL_CONF_FROM_FILE);
    sl_buf_t b = SL_BUF_INIT;
    assert_int_equal(sl_conf_dump(&f->conf, &b), SL_OK);
    assert_null(strstr(b.data, "canary"));
    assert_null(strstr(b.data, "kafka pw"));
    assert_non_null(strstr(b.data, "kafka.sasl.password = ****\n"));
    assert_non_null(strstr(b.data, "kafka.ssl.key.password = ****\n"));
    assert_string_equal(sl_kvlist_get(&f->conf.kafka, "ssl.key.password"), "canary-Pw-7731");
    sl_buf_free(&b);
    /* -X takes the file form too; a later value wins as for any key */
    snprintf(text, sizeof(text), "source.password.file=%s", kpw);
    assert_int_equal(sl_conf_apply_arg(&f->conf, text, f->err, sizeof(f->err)), SL_OK);
    assert_string_equal(f->c.password, "kafka pw with # and spaces");
    unlink(pw);
    unlink(kpw);
}

static void test_secret_file_errors(void **state)
{
    fixture_t *f = *state;
    char empty[64];
    assert_int_equal(sl_conf_apply_arg(&f->conf, "source.password.file=/nonexistent/pw",
                                       f->err, sizeof(f->err)), SL_ERR_INVALID);
    assert_string_equal(f->err, "-X: key \"source.password.file\": cannot read /nonexistent/pw: "
                                "No such file or directory");
    secret_file(empty, "\n");
    char arg[128];
    snprintf(arg, sizeof(arg), "source.password.file=%s", empty);
    assert_int_equal(sl_conf_apply_arg(&f->conf, arg, f->err, sizeof(f->err)), SL_ERR_INVALID);
    assert_non_null(strstr(f->err, "is empty"));
    unlink(empty);
    /* only secrets have a file form */
    assert_int_equal(sl_conf_apply_arg(&f->conf, "source.host.file=/etc/hostname", f->err,
                                       sizeof(f->err)), SL_ERR_INVALID);
    assert_non_null(strstr(f->err, "unknown key \"source.host.file\""));
}

static void test_secret_from_env(void **state)
{
    fixture_t *f = *state;
    char pw[64];
    secret_file(pw, "from-file\n");
    setenv("SHIFTLOG_SOURCE_PASSWORD_FILE", pw, 1);
    /* kafka secrets are read from the environment though not in the table */
    setenv("SHIFTLOG_KAFKA_SASL_PASSWORD", "from-env", 1);
    assert_int_equal(sl_conf_apply_env(&f->conf, f->err, sizeof(f->err)), SL_OK);
    assert_string_equal(f->c.password, "from-file");
    assert_int_equal(sl_conf_origin(&f->conf, "source.password"), SL_CONF_FROM_ENV);
    assert_string_equal(sl_kvlist_get(&f->conf.kafka, "sasl.password"), "from-env");
    setenv("SHIFTLOG_SOURCE_PASSWORD", "x", 1);
    assert_int_equal(sl_conf_apply_env(&f->conf, f->err, sizeof(f->err)), SL_ERR_INVALID);
    assert_string_equal(f->err, "SHIFTLOG_SOURCE_PASSWORD and SHIFTLOG_SOURCE_PASSWORD_FILE "
                                "are both set: keep one");
    unsetenv("SHIFTLOG_SOURCE_PASSWORD");
    unsetenv("SHIFTLOG_SOURCE_PASSWORD_FILE");
    unsetenv("SHIFTLOG_KAFKA_SASL_PASSWORD");
    unlink(pw);
}


int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_file_syntax),
        T(test_double_quote_escapes),
        T(test_unknown_key_suggests),
        T(test_unknown_key_far),
        T(test_bad_int),
        T(test_int_trailing_garbage),
        T(test_int_out_of_range),
        T(test_bad_bool),
        T(test_bad_enum),
        T(test_bad_size_and_duration),
        T(test_missing_required),
        T(test_required_empty_is_missing),
        T(test_missing_required_no_file),
        T(test_missing_file),
        T(test_unterminated_quote),
        T(test_text_after_quote),
        T(test_line_without_equals),
        T(test_missing_key_and_bad_key),
        T(test_duplicate_key_is_error),
        T(test_x_args),
        T(test_env_errors),
        T(test_precedence_file_env_arg),
        T(test_empty_env_is_unset),
        T(test_kafka_passthrough),
        T(test_dump_masks_secrets),
        T(test_bad_default_is_reported),
        T(test_help_and_markdown),
        T(test_env_name),
        T(test_secret_from_file),
        T(test_secret_file_errors),
        T(test_secret_from_env),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
