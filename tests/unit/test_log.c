/* Unit tests of logging: secret masking, the text and JSON line formats,
 * level filtering, one intact line per call from several threads. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sl_log.h"

/* --- capture of stderr -------------------------------------------------- */

static char cap_path[64];
static int  saved_fd = -1;

static void capture_start(void)
{
    strcpy(cap_path, "/tmp/test_log_XXXXXX");
    int fd = mkstemp(cap_path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_fd = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

/* Returns what was written since capture_start (caller frees). */
static char *capture_end(void)
{
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    FILE *f = fopen(cap_path, "r");
    assert_non_null(f);
    static char tmp[1 << 20];
    size_t n = fread(tmp, 1, sizeof(tmp) - 1, f);
    tmp[n] = '\0';
    fclose(f);
    unlink(cap_path);
    return strdup(tmp);
}

static int setup(void **state)
{
    (void)state;
    sl_log_init("collector", "shop");
    sl_log_set_level(SL_LOG_INFO);
    sl_log_set_json(0);
    sl_log_set_position(NULL);
    return 0;
}

/* --- masking ------------------------------------------------------------ */

static void check_mask(const char *in, const char *want)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", in);
    sl_log_mask(buf);
    if (strcmp(buf, want) != 0)
        fail_msg("mask(%s) = %s, want %s", in, buf, want);
}

static void test_mask_cases(void **state)
{
    (void)state;
    check_mask("password=hunter2 host=db", "password=**** host=db");
    check_mask("host=db user=u password=secretpw dbname=d", "host=db user=u password=**** dbname=d");
    check_mask("{\"user\":\"u\",\"password\":\"p@ss\\\"word\"}", "{\"user\":\"u\",\"password\":\"****\"}");
    check_mask("{\"password\": \"abc\", \"n\": 1}", "{\"password\": \"***\", \"n\": 1}");
    check_mask("sasl.password=xyzxyz", "sasl.password=****");
    check_mask("kafka.sasl.password = topsecret", "kafka.sasl.password = ****");
    check_mask("source.password = \"a b c d\"", "source.password = \"****\"");
    check_mask("ssl.key.password='abcdef' next", "ssl.key.password='****' next");
    check_mask("mysql://root:pw1234@127.0.0.1:3306/db", "mysql://root:****@127.0.0.1:3306/db");
    check_mask("uri mongodb://u:p%40ss@h1,h2/?replicaSet=r done", "uri mongodb://u:****@h1,h2/?replicaSet=r done");
    check_mask("postgresql://app:longpassword@db/app?sslmode=require password=x",
               "postgresql://app:****@db/app?sslmode=require password=*");
    check_mask("mongodb://user@host/db", "mongodb://user@host/db");
    check_mask("http://host:8080/path", "http://host:8080/path");
    check_mask("passwords are fine", "passwords are fine");
    check_mask("passwordless=1", "passwordless=1");
    check_mask("PASSWORD=longvalue", "PASSWORD=****");
    check_mask("password=", "password=");
    check_mask("db_secret=abcdef&x=1", "db_secret=****&x=1");
    check_mask("a=1;passwd=zzzzzz;b=2", "a=1;passwd=****;b=2");
    check_mask("source.password = ****", "source.password = ****");
    check_mask("", "");
}

static void test_mask_never_grows(void **state)
{
    (void)state;
    char buf[] = "password=a";
    sl_log_mask(buf);
    assert_string_equal(buf, "password=*");
    sl_log_mask(NULL);
}

/* --- line formats ------------------------------------------------------- */

/* "2026-11-25T16:09:09.123Z " */
static void assert_ts(const char *s)
{
    const char *pat = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == 'd')
            assert_true(s[i] >= '0' && s[i] <= '9');
        else
            assert_int_equal(s[i], pat[i]);
    }
}

static void test_text_line(void **state)
{
    (void)state;
    capture_start();
    sl_log_set_position("mysql-bin.000003:1234#0");
    sl_info("connected to %s", "db1");
    sl_log_set_position(NULL);
    sl_warn("two\nlines");
    sl_log_init("applier", NULL);
    sl_error("no task");
    char *out = capture_end();
    char *l1 = out, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    assert_ts(l1);
    assert_memory_equal(l1 + 24, " INFO collector[shop] pos=mysql-bin.000003:1234#0 connected to db1\n",
                        strlen(" INFO collector[shop] pos=mysql-bin.000003:1234#0 connected to db1\n"));
    assert_ts(l2);
    assert_memory_equal(l2 + 24, " WARN collector[shop] two lines\n", strlen(" WARN collector[shop] two lines\n"));
    assert_ts(l3);
    assert_string_equal(l3 + 24, " ERROR applier no task\n");
    free(out);
}

static void test_json_line(void **state)
{
    (void)state;
    capture_start();
    sl_log_set_json(1);
    sl_log_set_position("0/16B3748");
    int line = __LINE__ + 1;
    sl_warn("say \"hi\"\n\tpassword=hunter2 \x01");
    sl_log_set_json(0);
    char *out = capture_end();
    assert_memory_equal(out, "{\"ts\":\"", 7);
    assert_ts(out + 7);
    char want[512];
    snprintf(want, sizeof(want),
             "\",\"level\":\"warn\",\"service\":\"collector\",\"task\":\"shop\","
             "\"pos\":\"0/16B3748\",\"msg\":\"say \\\"hi\\\"\\n\\tpassword=**** \\u0001\","
             "\"src\":\"test_log.c:%d\"}\n",
             line);
    assert_string_equal(out + 7 + 24, want);
    free(out);
}

static void test_masks_in_lines(void **state)
{
    (void)state;
    capture_start();
    sl_info("connecting to %s", "postgresql://app:s3cr3tpw@db/app");
    char *out = capture_end();
    assert_null(strstr(out, "s3cr3tpw"));
    assert_non_null(strstr(out, "postgresql://app:****@db/app\n"));
    free(out);
}

static void test_level_filter(void **state)
{
    (void)state;
    capture_start();
    sl_debug("hidden");
    sl_log_set_level(SL_LOG_ERROR);
    sl_warn("hidden too");
    sl_error("shown");
    sl_log_set_level(SL_LOG_DEBUG);
    sl_debug("shown too");
    char *out = capture_end();
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, " ERROR collector[shop] shown\n"));
    assert_non_null(strstr(out, " DEBUG collector[shop] shown too\n"));
    free(out);
}

static void test_level_parse(void **state)
{
    (void)state;
    sl_log_level_t l;
    assert_int_equal(sl_log_level_parse("debug", &l), 0);
    assert_int_equal(l, SL_LOG_DEBUG);
    assert_int_equal(sl_log_level_parse("WARN", &l), 0);
    assert_int_equal(l, SL_LOG_WARN);
    assert_int_equal(sl_log_level_parse("warning", &l), 0);
    assert_int_equal(l, SL_LOG_WARN);
    assert_int_equal(sl_log_level_parse("error", &l), 0);
    assert_int_equal(l, SL_LOG_ERROR);
    assert_int_equal(sl_log_level_parse("loud", &l), -1);
    assert_int_equal(sl_log_level_parse(NULL, &l), -1);
}

#define THREADS 8
#define LINES   500

static void *writer(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < LINES; i++)
        sl_info("thread %ld line %d %s", id, i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    return NULL;
}

static void test_threads_whole_lines(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    capture_start();
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    char *out = capture_end();
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        assert_ts(l);
        assert_memory_equal(l + 24, " INFO collector[shop] thread ", 29);
        assert_non_null(strstr(l, " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
        n++;
    }
    assert_int_equal(n, THREADS * LINES);
    free(out);
}

/* /status and the alerts read the last ERROR line (masked); warnings do not count unless
 * a service says so (a dead letter). */
static void test_last_error(void **state)
{
    char buf[128];
    capture_start();
    sl_warn("just a warning");
    sl_error("connect failed password=hunter2 to db");
    free(capture_end());
    assert_true(sl_log_last_error(buf, sizeof buf) > 0);
    assert_string_equal(buf, "connect failed password=**** to db");
    sl_log_set_last_error("offset 7 sent to t.dlq: secret=abc");
    sl_log_last_error(buf, sizeof buf);
    assert_string_equal(buf, "offset 7 sent to t.dlq: secret=***");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_mask_cases, setup),
        cmocka_unit_test_setup(test_mask_never_grows, setup),
        cmocka_unit_test_setup(test_text_line, setup),
        cmocka_unit_test_setup(test_json_line, setup),
        cmocka_unit_test_setup(test_masks_in_lines, setup),
        cmocka_unit_test_setup(test_level_filter, setup),
        cmocka_unit_test_setup(test_level_parse, setup),
        cmocka_unit_test_setup(test_last_error, setup),
        cmocka_unit_test_setup(test_threads_whole_lines, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
