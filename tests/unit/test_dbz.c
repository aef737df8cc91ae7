/* Unit tests of the Debezium change-event format (common/sl_dbz.c): the
 * unscaled two's-complement bytes of Kafka Connect's Decimal, and the key
 * and envelope of a row as Debezium's MySQL connector writes them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sl_dbz.h"

static void dec(const char *text, int scale, const char *want_hex)
{
    unsigned char b[80];
    size_t n = 0;
    char hex[200] = "";
    if (sl_dbz_decimal_bytes(text, strlen(text), scale, b, sizeof b, &n) != 0)
        fail_msg("%s refused", text);
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, sizeof hex - 2 * i, "%02x", b[i]);
    if (strcmp(hex, want_hex))
        fail_msg("%s scale %d: %s, want %s", text, scale, hex, want_hex);
}

static void test_decimal_bytes(void **state)
{
    (void)state;
    dec("0", 0, "00");
    dec("1.23", 2, "7b");
    dec("127", 0, "7f");
    dec("128", 0, "0080");
    dec("-1", 0, "ff");
    dec("-128", 0, "80");
    dec("-129", 0, "ff7f");
    dec("12.5", 3, "30d4");            /* 12500, the scale padded */
    dec("-0.01", 2, "ff");
    dec("99999999999999999999", 0, "056bc75e2d630fffff");  /* 10^20 - 1 */
    /* 300 digits (PostgreSQL numeric(1000,0) holds them): 10^300 - 1, 125 bytes */
    char many[301];
    memset(many, '9', 300);
    many[300] = '\0';
    unsigned char big[200];
    size_t nb = 0;
    assert_int_equal(sl_dbz_decimal_bytes(many, 300, 0, big, sizeof big, &nb), 0);
    assert_int_equal(nb, 125);
    assert_int_equal(big[0], 0x17);          /* as Python's (10**300-1).to_bytes(125, 'big') */
    assert_int_equal(big[124], 0xff);
    unsigned char b[80];
    size_t n;
    assert_int_equal(sl_dbz_decimal_bytes("NaN", 3, 0, b, sizeof b, &n), -1);
    assert_int_equal(sl_dbz_decimal_bytes("1.234", 5, 2, b, sizeof b, &n), -1); /* 3 > scale */
    assert_int_equal(sl_dbz_decimal_bytes("1.230", 5, 2, b, sizeof b, &n), 0);  /* zeros: fine */
}

/* shop.t (id int PK, name varchar, amount decimal(10,2), at datetime(6)) */
static sl_schema_t schema(sl_column_t cols[4])
{
    memset(cols, 0, 4 * sizeof(*cols));
    cols[0] = (sl_column_t){.name = "id", .kind = SL_VAL_INT, .source_type = "int", .pk = 1,
                            .precision = -1, .scale = -1};
    cols[1] = (sl_column_t){.name = "name", .kind = SL_VAL_STRING,
                            .source_type = "varchar(20)", .nullable = 1, .precision = 20,
                            .scale = -1};
    cols[2] = (sl_column_t){.name = "amount", .kind = SL_VAL_DECIMAL,
                            .source_type = "decimal(10,2)", .nullable = 1, .precision = 10,
                            .scale = 2};
    cols[3] = (sl_column_t){.name = "at", .kind = SL_VAL_TEMPORAL,
                            .source_type = "datetime(6)", .nullable = 1, .precision = 6,
                            .scale = -1};
    return (sl_schema_t){.db = "shop", .table = "t", .ncols = 4, .cols = cols};
}

static sl_record_t *delete_row(void)
{
    static const char *const names[] = {"id", "name", "amount", "at"};
    sl_record_t *rec = sl_record_new();
    char err[128];
    assert_int_equal(sl_record_init_change(rec, "src", "shop", "t", SL_OP_DELETE, 4, names, 1),
                     SL_OK);
    assert_int_equal(sl_pos_parse("mysql-bin.000003:1234#0@0-1-42", &rec->pos, err,
                                  sizeof err), SL_OK);
    sl_change_t *c = &rec->u.change;
    c->event_time_us = 1700000000123456;
    c->server_id = 1;
    sl_value_t *v = c->rows[0].before;
    v[0].kind = SL_VAL_INT;
    v[0].u.i = 7;
    assert_int_equal(sl_value_set_text(rec, &v[1], SL_VAL_STRING, "a\"b", 3), SL_OK);
    assert_int_equal(sl_value_set_text(rec, &v[2], SL_VAL_DECIMAL, "-1.50", 5), SL_OK);
    assert_int_equal(sl_value_set_temporal(rec, &v[3], SL_T_DATETIME,
                                           "2023-11-14 22:13:20.123456", 26, 1,
                                           1700000000123456, 6, 0, 0), SL_OK);
    return rec;
}

static void test_delete_event(void **state)
{
    (void)state;
    sl_column_t cols[4];
    sl_schema_t s = schema(cols);
    sl_record_t *rec = delete_row();
    sl_dbz_conf_t conf = {.name = "srv", .mysql = 1, .with_schema = 0};
    sl_buf_t out = SL_BUF_INIT;
    assert_int_equal(sl_dbz_key(&out, &conf, &s, rec, 0, 1), SL_OK);
    assert_string_equal(out.data, "{\"id\":7}");
    sl_dbz_txn_t tx = {.id = "0-1-42", .total_order = 1, .data_collection_order = 1};
    assert_int_equal(sl_dbz_value(&out, &conf, &s, rec, 0, 'd', &tx), SL_OK);
    /* -1.50 at scale 2 = -150 = 0xff6a = "/2o=" */
    assert_string_equal(out.data,
        "{\"before\":{\"id\":7,\"name\":\"a\\\"b\",\"amount\":\"/2o=\","
        "\"at\":1700000000123456},\"after\":null,"
        "\"source\":{\"version\":\"shiftlog\",\"connector\":\"mysql\",\"name\":\"srv\","
        "\"ts_ms\":1700000000123,\"snapshot\":\"false\",\"db\":\"shop\",\"table\":\"t\","
        "\"server_id\":1,\"gtid\":\"0-1-42\",\"file\":\"mysql-bin.000003\",\"pos\":1234,"
        "\"row\":0},\"op\":\"d\",\"ts_ms\":1700000000123,"
        "\"transaction\":{\"id\":\"0-1-42\",\"total_order\":1,\"data_collection_order\":1}}");
    conf.with_schema = 1;
    assert_int_equal(sl_dbz_key(&out, &conf, &s, rec, 0, 1), SL_OK);
    assert_string_equal(out.data,
        "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,"
        "\"field\":\"id\"}],\"optional\":false,\"name\":\"srv.shop.t.Key\"},"
        "\"payload\":{\"id\":7}}");
    assert_int_equal(sl_dbz_value(&out, &conf, &s, rec, 0, 'd', NULL), SL_OK);
    assert_non_null(strstr(out.data, "{\"type\":\"bytes\",\"optional\":true,\"name\":"
                           "\"org.apache.kafka.connect.data.Decimal\",\"version\":1,"
                           "\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":"
                           "\"10\"},\"field\":\"amount\"}"));
    assert_non_null(strstr(out.data, "\"name\":\"io.debezium.time.MicroTimestamp\""));
    assert_non_null(strstr(out.data, "\"name\":\"srv.shop.t.Envelope\""));
    assert_non_null(strstr(out.data, ",\"payload\":{\"before\":{\"id\":7,"));
    sl_buf_free(&out);
    sl_record_destroy(rec);
}

static void test_transaction_marker(void **state)
{
    (void)state;
    sl_dbz_conf_t conf = {.name = "srv", .mysql = 1};
    sl_buf_t out = SL_BUF_INIT;
    const char *tables[] = {"shop.t", "shop.u"};
    const uint64_t counts[] = {2, 1};
    assert_int_equal(sl_dbz_txn_marker(&out, &conf, "END", "0-1-42", 5, 3, tables, counts, 2),
                     SL_OK);
    assert_string_equal(out.data, "{\"status\":\"END\",\"id\":\"0-1-42\",\"ts_ms\":5,"
                        "\"event_count\":3,\"data_collections\":[{\"data_collection\":"
                        "\"shop.t\",\"event_count\":2},{\"data_collection\":\"shop.u\","
                        "\"event_count\":1}]}");
    char topic[300], big[300];
    assert_int_equal(sl_dbz_topic(topic, sizeof topic, &conf, "my db", "t$1"), SL_OK);
    assert_string_equal(topic, "srv.my_db.t_1");
    memset(big, 'x', 250);
    big[250] = '\0';                      /* over Kafka's 249, and over a small buffer */
    assert_int_equal(sl_dbz_topic(topic, sizeof topic, &conf, "db", big), SL_ERR_INVALID);
    assert_int_equal(sl_dbz_topic(topic, 16, &conf, "db", "a_long_table_name"),
                     SL_ERR_INVALID);
    assert_int_equal(strlen(topic), 15);    /* still a string */
    sl_buf_free(&out);
}

/* One INSERT row of table db.t whose columns are cols (values vals) under
 * conf, as the envelope's after image; the value's payload and schema. */
typedef struct {
    const char *name, *type;
    sl_val_kind_t kind;
    int nullable, precision, scale;
    sl_temporal_kind_t tk;
    const char *text;       /* NULL: SQL NULL */
    int has_micros;
    int64_t micros;
} col_case_t;

static sl_err_t one_row(const sl_dbz_conf_t *conf, const col_case_t *cc, size_t n,
                        sl_buf_t *out)
{
    sl_column_t cols[8];
    const char *names[8];
    memset(cols, 0, sizeof cols);
    cols[0] = (sl_column_t){.name = "id", .kind = SL_VAL_INT, .source_type = "int", .pk = 1,
                            .precision = -1, .scale = -1};
    names[0] = "id";
    for (size_t i = 0; i < n; i++) {
        cols[i + 1] = (sl_column_t){.name = cc[i].name, .kind = cc[i].kind,
                                    .source_type = cc[i].type, .nullable = cc[i].nullable,
                                    .precision = cc[i].precision, .scale = cc[i].scale};
        names[i + 1] = cc[i].name;
    }
    sl_schema_t s = {.db = "db", .table = "t", .ncols = (uint32_t)n + 1, .cols = cols};
    sl_record_t *rec = sl_record_new();
    char err[128];
    assert_int_equal(sl_record_init_change(rec, "src", "db", "t", SL_OP_INSERT,
                                           (uint32_t)n + 1, names, 1), SL_OK);
    assert_int_equal(sl_pos_parse(conf->mysql ? "mysql-bin.000003:1234#0@0-1-42"
                                              : "0/16B3748:1/0#0", &rec->pos, err,
                                  sizeof err), SL_OK);
    sl_value_t *v = rec->u.change.rows[0].after;
    v[0].kind = SL_VAL_INT;
    v[0].u.i = 1;
    for (size_t i = 0; i < n; i++) {
        sl_value_t *x = &v[i + 1];
        if (!cc[i].text) {
            x->kind = SL_VAL_NULL;
        } else if (cc[i].kind == SL_VAL_TEMPORAL) {
            assert_int_equal(sl_value_set_temporal(rec, x, cc[i].tk, cc[i].text,
                                                   strlen(cc[i].text), cc[i].has_micros,
                                                   cc[i].micros, cc[i].precision > 0
                                                   ? cc[i].precision : 0, 0, 0), SL_OK);
        } else if (cc[i].kind == SL_VAL_INT) {
            x->kind = SL_VAL_INT;
            x->u.i = cc[i].micros;
        } else {
            assert_int_equal(sl_value_set_text(rec, x, cc[i].kind, cc[i].text,
                                               strlen(cc[i].text)), SL_OK);
        }
    }
    sl_err_t e = sl_dbz_value(out, conf, &s, rec, 0, 'c', NULL);
    sl_record_destroy(rec);
    return e;
}

/* The text between "after":{ and the next }, for short assertions. */
static const char *after_of(const sl_buf_t *b, char *buf, size_t size)
{
    const char *p = strstr(b->data, "\"after\":{");
    assert_non_null(p);
    p += 9;
    const char *e = strchr(p, '}');
    assert_non_null(e);
    snprintf(buf, size, "%.*s", (int)(e - p), p);
    return buf;
}

/* Debezium's MySQL connector: a zero date in a NOT NULL column is the epoch
 * (a JsonConverter with schemas refuses null in a required field); in a
 * nullable column null. */
static void test_mysql_zero_date(void **state)
{
    (void)state;
    const col_case_t cc[] = {
        {"d", "date", SL_VAL_TEMPORAL, 0, -1, -1, SL_T_DATE, "0000-00-00", 0, 0},
        {"dt", "datetime", SL_VAL_TEMPORAL, 0, 0, -1, SL_T_DATETIME, "0000-00-00 00:00:00", 0, 0},
        {"dt6", "datetime(6)", SL_VAL_TEMPORAL, 0, 6, -1, SL_T_DATETIME,
         "0000-00-00 00:00:00.000000", 0, 0},
        {"ts", "timestamp", SL_VAL_TEMPORAL, 0, 0, -1, SL_T_TIMESTAMP, "0000-00-00 00:00:00", 0, 0},
        {"dn", "date", SL_VAL_TEMPORAL, 1, -1, -1, SL_T_DATE, "0000-00-00", 0, 0},
    };
    sl_dbz_conf_t conf = {.name = "srv", .mysql = 1, .with_schema = 1};
    sl_buf_t out = SL_BUF_INIT;
    char a[512];
    assert_int_equal(one_row(&conf, cc, 5, &out), SL_OK);
    assert_string_equal(after_of(&out, a, sizeof a),
                        "\"id\":1,\"d\":0,\"dt\":0,\"dt6\":0,\"ts\":\"1970-01-01T00:00:00Z\","
                        "\"dn\":null");
    /* MEDIUMINT UNSIGNED fits an int32, as Debezium types it */
    const col_case_t m[] = {{"m", "mediumint(8) unsigned", SL_VAL_INT, 0, -1, -1, 0, "", 0,
                             16777215}};
    assert_int_equal(one_row(&conf, m, 1, &out), SL_OK);
    assert_non_null(strstr(out.data, "{\"type\":\"int32\",\"optional\":false,\"field\":\"m\"}"));
    sl_buf_free(&out);
}

/* Debezium's PostgreSQL connector: ±infinity as pgjdbc's sentinels
 * (9223372036825200000 / -9223372036832400000 µs, their ms for a
 * Timestamp), "infinity" for a ZonedTimestamp, the sentinel dates'
 * epoch days for a Date. */
static void test_pg_infinity(void **state)
{
    (void)state;
    const col_case_t cc[] = {
        {"a", "timestamp without time zone", SL_VAL_TEMPORAL, 0, -1, -1, SL_T_DATETIME,
         "infinity", 0, 0},
        {"b", "timestamp(6) without time zone", SL_VAL_TEMPORAL, 1, 6, -1, SL_T_DATETIME,
         "-infinity", 0, 0},
        {"c", "timestamp(3) without time zone", SL_VAL_TEMPORAL, 0, 3, -1, SL_T_DATETIME,
         "infinity", 0, 0},
        {"d", "timestamp(0) without time zone", SL_VAL_TEMPORAL, 0, 0, -1, SL_T_DATETIME,
         "-infinity", 0, 0},
        {"e", "timestamp with time zone", SL_VAL_TEMPORAL, 0, -1, -1, SL_T_TIMESTAMPTZ,
         "infinity", 0, 0},
        {"f", "timestamp with time zone", SL_VAL_TEMPORAL, 0, -1, -1, SL_T_TIMESTAMPTZ,
         "-infinity", 0, 0},
        {"g", "date", SL_VAL_TEMPORAL, 0, -1, -1, SL_T_DATE, "infinity", 0, 0},
    };
    sl_dbz_conf_t conf = {.name = "srv", .mysql = 0, .with_schema = 1, .database = "pg"};
    sl_buf_t out = SL_BUF_INIT;
    char a[512];
    assert_int_equal(one_row(&conf, cc, 7, &out), SL_OK);
    assert_string_equal(after_of(&out, a, sizeof a),
                        "\"id\":1,\"a\":9223372036825200000,\"b\":-9223372036832400000,"
                        "\"c\":9223372036825200,\"d\":-9223372036832400,\"e\":\"infinity\","
                        "\"f\":\"-infinity\",\"g\":2146033979");
    const col_case_t g[] = {{"g", "date", SL_VAL_TEMPORAL, 0, -1, -1, SL_T_DATE, "-infinity",
                             0, 0}};
    assert_int_equal(one_row(&conf, g, 1, &out), SL_OK);
    assert_string_equal(after_of(&out, a, sizeof a), "\"id\":1,\"g\":-2147472692");
    sl_buf_free(&out);
}

/* NaN / ±Infinity in a numeric: a Decimal (decimal.handling.mode=precise,
 * Debezium's default) cannot hold it, and Debezium's connector stops there
 * ("Got a special value (NaN/Infinity) for Decimal type"). No null in its
 * place: a refusal the caller reports. */
static void test_pg_numeric_nan(void **state)
{
    (void)state;
    sl_dbz_conf_t conf = {.name = "srv", .mysql = 0, .with_schema = 1, .database = "pg"};
    sl_buf_t out = SL_BUF_INIT;
    const col_case_t ok[] = {{"n", "numeric(10,2)", SL_VAL_DECIMAL, 0, 10, 2, 0, "1.50", 0, 0}};
    assert_int_equal(one_row(&conf, ok, 1, &out), SL_OK);
    const char *bad[] = {"NaN", "Infinity", "-Infinity"};
    for (int i = 0; i < 3; i++) {
        const col_case_t cc[] = {{"n", "numeric(10,2)", SL_VAL_DECIMAL, i == 2, 10, 2, 0,
                                  bad[i], 0, 0}};
        assert_int_equal(one_row(&conf, cc, 1, &out), SL_ERR_UNSUPPORTED);
    }
    sl_buf_free(&out);
}

/* interval: int64 io.debezium.time.MicroDuration (interval.handling.mode
 * numeric, the default; a month 365.25 / 12 days); time(0..3): int32
 * io.debezium.time.Time in ms (time.precision.mode adaptive). */
static void test_pg_interval_and_time(void **state)
{
    (void)state;
    const col_case_t cc[] = {
        {"i", "interval", SL_VAL_TEMPORAL, 0, -1, -1, SL_T_INTERVAL,
         "1 year 2 mons 3 days 04:05:06.5", 0, 0},
        {"j", "interval", SL_VAL_TEMPORAL, 0, -1, -1, SL_T_INTERVAL, "-1 days +02:03:00", 0, 0},
        {"k", "interval", SL_VAL_TEMPORAL, 0, -1, -1, SL_T_INTERVAL, "-00:00:01.25", 0, 0},
        {"t", "time(3) without time zone", SL_VAL_TEMPORAL, 0, 3, -1, SL_T_TIME,
         "12:00:00.123", 1, 43200123000},
        {"u", "time without time zone", SL_VAL_TEMPORAL, 0, -1, -1, SL_T_TIME, "12:00:00", 1,
         43200000000},
    };
    sl_dbz_conf_t conf = {.name = "srv", .mysql = 0, .with_schema = 1, .database = "pg"};
    sl_buf_t out = SL_BUF_INIT;
    char a[512];
    assert_int_equal(one_row(&conf, cc, 5, &out), SL_OK);
    assert_string_equal(after_of(&out, a, sizeof a),
                        "\"id\":1,\"i\":37091106500000,\"j\":-79020000000,\"k\":-1250000,"
                        "\"t\":43200123,\"u\":43200000000");
    assert_non_null(strstr(out.data, "{\"type\":\"int64\",\"optional\":false,\"name\":"
                           "\"io.debezium.time.MicroDuration\",\"version\":1,\"field\":\"i\"}"));
    assert_non_null(strstr(out.data, "{\"type\":\"int32\",\"optional\":false,\"name\":"
                           "\"io.debezium.time.Time\",\"version\":1,\"field\":\"t\"}"));
    assert_non_null(strstr(out.data, "\"name\":\"io.debezium.time.MicroTime\",\"version\":1,"
                           "\"field\":\"u\"}"));
    sl_buf_free(&out);
}

/* The schema part's "type"s are the names Kafka Connect's JsonConverter reads (JsonSchema:
 * int8..int64, float, double, boolean, string, bytes, array, map, struct): it refuses any other
 * ("Unknown schema type: float32" from Debezium's JDBC sink before). One column of each kind. */
static void test_schema_type_names(void **state)
{
    (void)state;
    static const struct { const char *name; sl_val_kind_t kind; const char *type; int prec; }
    k[] = {
        {"id", SL_VAL_INT, "int", -1},          {"b", SL_VAL_BOOL, "boolean", -1},
        {"u", SL_VAL_UINT, "bigint unsigned", -1}, {"f", SL_VAL_FLOAT, "float", -1},
        {"d", SL_VAL_DOUBLE, "double", -1},     {"n", SL_VAL_DECIMAL, "decimal(5,2)", 5},
        {"s", SL_VAL_STRING, "varchar(5)", 5},  {"y", SL_VAL_BYTES, "blob", -1},
        {"t", SL_VAL_TEMPORAL, "datetime(6)", 6}, {"e", SL_VAL_TEMPORAL, "date", -1},
        {"z", SL_VAL_TEMPORAL, "timestamp(3)", 3}, {"h", SL_VAL_TEMPORAL, "time", 0},
        {"x", SL_VAL_BIT, "bit(9)", 9},         {"m", SL_VAL_SET, "set('a')", -1},
        {"j", SL_VAL_TYPED, "json", -1},        {"yr", SL_VAL_INT, "year", -1},
    };
    enum { N = sizeof k / sizeof k[0] };
    sl_column_t cols[N];
    const char *names[N];
    memset(cols, 0, sizeof cols);
    for (size_t i = 0; i < N; i++) {
        names[i] = k[i].name;
        cols[i] = (sl_column_t){.name = k[i].name, .kind = k[i].kind, .source_type = k[i].type,
                                .pk = i == 0, .nullable = i != 0, .precision = k[i].prec,
                                .scale = k[i].kind == SL_VAL_DECIMAL ? 2 : -1};
    }
    sl_schema_t s = {.db = "shop", .table = "t", .ncols = N, .cols = cols};
    sl_record_t *rec = sl_record_new();
    assert_int_equal(sl_record_init_change(rec, "src", "shop", "t", SL_OP_INSERT, N, names, 1),
                     SL_OK);
    char err[128];
    assert_int_equal(sl_pos_parse("mysql-bin.000003:1234#0@0-1-42", &rec->pos, err,
                                  sizeof err), SL_OK);
    sl_value_t *v = rec->u.change.rows[0].after;
    v[0].kind = SL_VAL_INT;                                   /* the rest NULL */
    sl_dbz_conf_t conf = {.name = "srv", .mysql = 1, .with_schema = 1};
    sl_buf_t out = SL_BUF_INIT;
    assert_int_equal(sl_dbz_value(&out, &conf, &s, rec, 0, 'c', NULL), SL_OK);
    static const char *const known[] = {"int8", "int16", "int32", "int64", "float", "double",
                                        "boolean", "string", "bytes", "array", "map", "struct"};
    size_t seen = 0;
    for (const char *p = out.data; (p = strstr(p, "\"type\":\"")) != NULL; seen++) {
        p += 8;
        size_t len = strcspn(p, "\""), ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= strlen(known[i]) == len && !strncmp(p, known[i], len);
        if (!ok)
            fail_msg("schema type %.*s is not one of JsonConverter's", (int)len, p);
    }
    assert_true(seen > 2 * N);            /* before and after, the source block's fields */
    assert_non_null(strstr(out.data, "{\"type\":\"float\",\"optional\":true,\"field\":\"f\"}"));
    assert_non_null(strstr(out.data, "{\"type\":\"double\",\"optional\":true,\"field\":\"d\"}"));
    sl_buf_free(&out);
    sl_record_destroy(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_bytes),
        cmocka_unit_test(test_delete_event),
        cmocka_unit_test(test_transaction_marker),
        cmocka_unit_test(test_mysql_zero_date),
        cmocka_unit_test(test_pg_infinity),
        cmocka_unit_test(test_pg_numeric_nan),
        cmocka_unit_test(test_pg_interval_and_time),
        cmocka_unit_test(test_schema_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
