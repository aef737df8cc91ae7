/* Unit tests of the binlog row-image decoder (collector/mysql_*.c) on event
 * bytes captured from MariaDB 10.11 (tests/fixtures/mysql/types.binlog,
 * workload types.sql): every type family, v1 and v2 rows events, split
 * batches, MINIMAL images, schema records, corrupt and truncated input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sl_avro.h"
#include "sl_buf.h"
#include "sl_json.h"
#include "sl_record.h"
#include "../../collector/mysql_decode.h"


#define FIXTURES "tests/fixtures/mysql/"

typedef struct ev_s {
    int            type;
    const uint8_t *body;
    size_t         len;
    size_t         off;
} ev_t;

static uint8_t *bin;
static size_t   bin_len;
static ev_t     evs[256];
static int      nevs;

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n + 1);
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    if (d)
        d[n] = 0;
    *len = (size_t)n;
    return d;
}

static int setup(void **state)
{
    bin = slurp(FIXTURES "types.binlog", &bin_len);
    if (!bin)
        return -1;
    size_t off = 4;
    int crc = 0;
    while (off + 19 <= bin_len && nevs < 256) {
        int type = bin[off + 4];
        uint32_t evlen = (uint32_t)bin[off + 9] | (uint32_t)bin[off + 10] << 8 |
                         (uint32_t)bin[off + 11] << 16 | (uint32_t)bin[off + 12] << 24;
        if (type == 15)
            crc = bin[off + evlen - 5] == 1;
        if (type == 19 || (type >= 23 && type <= 25)) {
            evs[nevs].type = type;
            evs[nevs].body = bin + off + 19;
            evs[nevs].len = evlen - 19 - (size_t)crc * 4;
            evs[nevs].off = off;
            nevs++;
        }
        off += evlen;
    }
    return nevs > 20 ? 0 : -1;
}

static int teardown(void **state)
{
    free(bin);
    return 0;
}

/* The table map in force for event i, with the hints the collector would set. */
static void tablemap_for(int i, col_tablemap_t *tm)
{
    char err[256];
    int k = i;
    while (k >= 0 && evs[k].type != 19)
        k--;
    assert_true(k >= 0);
    assert_int_equal(col_mysql_tablemap_parse(evs[k].body, evs[k].len, tm, err, sizeof(err)), SL_OK);
    if (!strcmp(tm->table, "t_fbt")) {
        assert_int_equal(col_mysql_tablemap_set_hint(tm, 1, COL_MYSQL_HINT_INET6), SL_OK);
        assert_int_equal(col_mysql_tablemap_set_hint(tm, 2, COL_MYSQL_HINT_UUID), SL_OK);
        assert_int_equal(col_mysql_tablemap_set_hint(tm, 3, COL_MYSQL_HINT_INET4), SL_OK);
        /* BINARY(16) b16 stays bytes; an INT cannot be an INET6 */
        assert_int_equal(col_mysql_tablemap_set_hint(tm, 0, COL_MYSQL_HINT_INET6), SL_ERR_INVALID);
    }
    if (!strcmp(tm->table, "t_old")) {
        assert_int_equal(col_mysql_tablemap_set_fsp(tm, 2, 3), SL_OK);  /* t3 TIME(3) */
        assert_int_equal(col_mysql_tablemap_set_fsp(tm, 4, 6), SL_OK);  /* dt6 */
        assert_int_equal(col_mysql_tablemap_set_fsp(tm, 6, 3), SL_OK);  /* ts3 */
    }
}

static void row_json(sl_buf_t *out, const sl_change_t *c, uint32_t r, const char *pos)
{
    sl_buf_puts(out, "{\"db\":");
    sl_buf_json_str(out, c->db, strlen(c->db));
    sl_buf_puts(out, ",\"table\":");
    sl_buf_json_str(out, c->table, strlen(c->table));
    sl_buf_printf(out, ",\"op\":\"%s\",\"pos\":\"%s\"", sl_op_name(c->op), pos);
    sl_buf_puts(out, ",\"before\":");
    sl_image_to_json(c, c->rows[r].before, out);
    sl_buf_puts(out, ",\"after\":");
    sl_image_to_json(c, c->rows[r].after, out);
    sl_buf_puts(out, "}\n");
}

/* Decodes rows event i (body/len/type may be altered copies) into JSON lines,
 * with the table map tm (or the one in force when tm is NULL). */
static sl_err_t decode_event_tm(int i, const col_tablemap_t *tmp, sl_record_t *reuse, int type,
                                const uint8_t *body, size_t len, uint32_t batch, sl_buf_t *out,
                                uint32_t *nrows, char *err, size_t errsz)
{
    col_tablemap_t own;
    const col_tablemap_t *tm = tmp;
    col_rows_cursor_t cur;
    sl_record_t *rec = reuse ? reuse : sl_record_new();
    sl_err_t e;
    if (!tm) {
        tablemap_for(i, &own);
        tm = &own;
    }
    *nrows = 0;
    e = col_mysql_rows_open(&cur, type, body, len, err, errsz);
    while (!e && !col_mysql_rows_done(&cur)) {
        uint32_t first = cur.row;
        sl_record_reset(rec);
        e = col_mysql_rows_next(&cur, tm, "fx", batch, 0, rec, err, errsz);
        if (e)
            break;
        assert_true(batch == 0 || rec->u.change.nrows <= batch);
        assert_true(rec->u.change.nrows > 0);
        for (uint32_t r = 0; r < rec->u.change.nrows; r++) {
            char pos[64];
            snprintf(pos, sizeof(pos), "types.binlog:%zu#%u", evs[i].off, first + r);
            if (out)
                row_json(out, &rec->u.change, r, pos);
        }
        *nrows += rec->u.change.nrows;
    }
    if (!reuse)
        sl_record_destroy(rec);
    if (!tmp)
        col_mysql_tablemap_free(&own);
    return e;
}

static sl_err_t decode_event(int i, int type, const uint8_t *body, size_t len, uint32_t batch,
                             sl_buf_t *out, uint32_t *nrows, char *err, size_t errsz)
{
    return decode_event_tm(i, NULL, NULL, type, body, len, batch, out, nrows, err, errsz);
}

static void all_rows(uint32_t batch, int v2, sl_buf_t *out)
{
    char err[512];
    for (int i = 0; i < nevs; i++) {
        uint32_t n;
        if (evs[i].type == 19)
            continue;
        if (!v2) {
            assert_int_equal(decode_event(i, evs[i].type, evs[i].body, evs[i].len, batch, out,
                                          &n, err, sizeof(err)), SL_OK);
            continue;
        }
        /* v2 = v1 + a 2-byte extra-data length after the flags (+ the extra
         * data, here 5 bytes of a made-up extra-info record) */
        size_t extra = 7;
        uint8_t *b = malloc(evs[i].len + extra);
        memcpy(b, evs[i].body, 8);
        b[8] = (uint8_t)extra;
        b[9] = 0;
        memcpy(b + 10, "\x00\x03\x01\x02\x03", 5);
        memcpy(b + 8 + extra, evs[i].body + 8, evs[i].len - 8);
        sl_err_t e = decode_event(i, evs[i].type + 7, b, evs[i].len + extra, batch, out, &n,
                                  err, sizeof(err));
        if (e)
            fail_msg("%s", err);
        free(b);
    }
}

static void test_matches_golden(void **state)
{
    size_t glen;
    char *golden = (char *)slurp(FIXTURES "types.expected.jsonl", &glen);
    assert_non_null(golden);
    sl_buf_t out = SL_BUF_INIT;
    all_rows(0, 0, &out);
    if (out.len != glen || memcmp(out.data, golden, glen) != 0) {
        size_t k = 0;
        while (k < out.len && k < glen && out.data[k] == golden[k])
            k++;
        fail_msg("decoded rows differ from types.expected.jsonl at byte %zu: ...%.120s", k,
                 out.data + (k > 40 ? k - 40 : 0));
    }
    sl_buf_free(&out);
    free(golden);
}

static void test_v2_and_batches_equal_v1(void **state)
{
    sl_buf_t v1 = SL_BUF_INIT, v2 = SL_BUF_INIT, b1 = SL_BUF_INIT, b2 = SL_BUF_INIT;
    all_rows(0, 0, &v1);
    all_rows(0, 1, &v2);
    all_rows(1, 0, &b1);
    all_rows(2, 1, &b2);
    assert_true(v1.len > 1000);
    assert_int_equal(v1.len, v2.len);
    assert_memory_equal(v1.data, v2.data, v1.len);
    assert_int_equal(v1.len, b1.len);
    assert_memory_equal(v1.data, b1.data, v1.len);
    assert_int_equal(v1.len, b2.len);
    assert_memory_equal(v1.data, b2.data, v1.len);
    sl_buf_free(&v1);
    sl_buf_free(&v2);
    sl_buf_free(&b1);
    sl_buf_free(&b2);
}

/* Finds the first rows event of a table with the given type. */
static int find_rows(const char *table, int type)
{
    for (int i = 0; i < nevs; i++) {
        if (evs[i].type != type)
            continue;
        int k = i;
        while (evs[k].type != 19)
            k--;
        /* table id 6, flags 2, db length + db + NUL, table length + table */
        uint8_t dl = evs[k].body[8];
        const uint8_t *t = evs[k].body + 10 + dl;
        if (t[0] == strlen(table) && !memcmp(t + 1, table, t[0]))
            return i;
    }
    fail_msg("no rows event type %d for %s", type, table);
    return -1;
}

/* Decodes event i whole and returns the JSON of one value. */
static const char *value_of(int i, uint32_t row, int after, const char *col, sl_val_kind_t kind)
{
    static char buf[4096];
    col_tablemap_t tm;
    sl_record_t *rec = sl_record_new();
    char err[512];
    tablemap_for(i, &tm);
    assert_int_equal(col_mysql_rows_decode(&tm, evs[i].type, evs[i].body, evs[i].len, "fx", 0, 0,
                                           rec, NULL, err, sizeof(err)), SL_OK);
    const sl_change_t *c = &rec->u.change;
    assert_true(row < c->nrows);
    const sl_value_t *img = after ? c->rows[row].after : c->rows[row].before;
    uint32_t k;
    for (k = 0; k < c->ncols && strcmp(c->columns[k], col); k++)
        ;
    assert_true(k < c->ncols);
    if (img[k].kind != kind)
        fail_msg("%s.%s row %u: kind %s, expected %s", c->table, col, row,
                 sl_val_kind_name(img[k].kind), sl_val_kind_name(kind));
    sl_buf_t out = SL_BUF_INIT;
    sl_value_to_json(&img[k], &out);
    snprintf(buf, sizeof(buf), "%s", out.data);
    sl_buf_free(&out);
    sl_record_destroy(rec);
    col_mysql_tablemap_free(&tm);
    return buf;
}

#define EXPECT(table, type, row, after, col, kind, json) \
    assert_string_equal(value_of(find_rows(table, type), row, after, col, kind), json)

/* Expected values written from types.sql, not from the decoder's output. */
static void test_values_by_family(void **state)
{
    EXPECT("t_int", 23, 0, 1, "ti", SL_VAL_INT, "-128");
    EXPECT("t_int", 23, 1, 1, "tiu", SL_VAL_INT, "255");
    EXPECT("t_int", 23, 0, 1, "mi", SL_VAL_INT, "-8388608");
    EXPECT("t_int", 23, 1, 1, "miu", SL_VAL_INT, "16777215");
    EXPECT("t_int", 23, 1, 1, "iu", SL_VAL_INT, "4294967295");
    EXPECT("t_int", 23, 0, 1, "bi", SL_VAL_INT, "-9223372036854775808");
    EXPECT("t_int", 23, 1, 1, "biu", SL_VAL_UINT, "18446744073709551615");
    EXPECT("t_int", 23, 0, 1, "biu", SL_VAL_UINT, "0");
    EXPECT("t_int", 23, 1, 1, "y", SL_VAL_INT, "2155");
    EXPECT("t_int", 23, 2, 1, "y", SL_VAL_INT, "0");
    EXPECT("t_int", 23, 4, 1, "bo", SL_VAL_INT, "-1");
    EXPECT("t_int", 23, 3, 1, "ti", SL_VAL_NULL, "null");
    EXPECT("t_int", 24, 0, 0, "ti", SL_VAL_INT, "127");
    EXPECT("t_int", 24, 0, 1, "ti", SL_VAL_INT, "126");
    EXPECT("t_int", 25, 0, 0, "id", SL_VAL_INT, "3");

    EXPECT("t_dec", 23, 0, 1, "d65", SL_VAL_DECIMAL,
           "\"99999999999999999999999999999999999.999999999999999999999999999999\"");
    EXPECT("t_dec", 23, 1, 1, "d65", SL_VAL_DECIMAL,
           "\"-99999999999999999999999999999999999.999999999999999999999999999999\"");
    EXPECT("t_dec", 23, 3, 1, "d65", SL_VAL_DECIMAL, "\"0.000000000000000000000000000001\"");
    EXPECT("t_dec", 23, 2, 1, "d10", SL_VAL_DECIMAL, "\"0.00\"");
    EXPECT("t_dec", 23, 1, 1, "d20", SL_VAL_DECIMAL, "\"-0.0000000001\"");
    EXPECT("t_dec", 23, 3, 1, "d20", SL_VAL_DECIMAL, "\"-1234567890.0000000001\"");
    EXPECT("t_dec", 23, 1, 1, "d11", SL_VAL_DECIMAL, "\"-0.9\"");
    EXPECT("t_dec", 23, 0, 1, "d5u", SL_VAL_DECIMAL, "\"99999\"");
    EXPECT("t_dec", 23, 1, 1, "d", SL_VAL_DOUBLE, "-2.2250738585072014e-308");
    EXPECT("t_dec", 23, 3, 1, "f", SL_VAL_FLOAT, "1.5");

    EXPECT("t_time", 23, 0, 1, "d", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"date\",\"text\":\"1000-01-01\",\"micros\":-354285,\"precision\":0}");
    EXPECT("t_time", 23, 2, 1, "d", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"date\",\"text\":\"0000-00-00\",\"micros\":null,\"precision\":0}");
    EXPECT("t_time", 23, 3, 1, "d", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"date\",\"text\":\"2024-02-00\",\"micros\":null,\"precision\":0}");
    EXPECT("t_time", 23, 0, 1, "t0", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"time\",\"text\":\"-838:59:59\",\"micros\":-3020399000000,\"precision\":0}");
    EXPECT("t_time", 23, 0, 1, "t6", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"time\",\"text\":\"-838:59:59.000000\",\"micros\":-3020399000000,\"precision\":6}");
    EXPECT("t_time", 23, 2, 1, "t1", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"time\",\"text\":\"-00:00:00.5\",\"micros\":-500000,\"precision\":1}");
    EXPECT("t_time", 23, 2, 1, "t3", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"time\",\"text\":\"-00:00:01.001\",\"micros\":-1001000,\"precision\":3}");
    EXPECT("t_time", 23, 2, 1, "t6", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"time\",\"text\":\"-00:00:00.000001\",\"micros\":-1,\"precision\":6}");
    EXPECT("t_time", 23, 3, 1, "t6", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"time\",\"text\":\"-838:59:58.999999\",\"micros\":-3020398999999,\"precision\":6}");
    EXPECT("t_time", 23, 1, 1, "dt6", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"datetime\",\"text\":\"9999-12-31 23:59:59.999999\",\"micros\":253402300799999999,\"precision\":6}");
    EXPECT("t_time", 23, 3, 1, "dt0", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"datetime\",\"text\":\"2024-00-15 10:00:00\",\"micros\":null,\"precision\":0}");
    EXPECT("t_time", 23, 0, 1, "ts6", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"timestamp\",\"text\":\"1970-01-01 00:00:01.000001\",\"micros\":1000001,\"precision\":6}");
    EXPECT("t_time", 23, 2, 1, "ts2", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"timestamp\",\"text\":\"0000-00-00 00:00:00.00\",\"micros\":null,\"precision\":2}");
    EXPECT("t_time", 23, 3, 1, "ts2", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"timestamp\",\"text\":\"2024-02-29 13:45:00.12\",\"micros\":1709214300120000,\"precision\":2}");

    EXPECT("t_str", 23, 0, 1, "c", SL_VAL_STRING, "\"abc\"");     /* CHAR: server strips spaces */
    EXPECT("t_str", 23, 0, 1, "vl", SL_VAL_STRING, "\"é€ÿ\"");     /* latin1 -> UTF-8 */
    EXPECT("t_str", 23, 0, 1, "b", SL_VAL_BYTES, "{\"$bytes\":\"AAEAAgAAAAA=\"}"); /* 0001000200 + 000000 */
    EXPECT("t_str", 23, 0, 1, "vb", SL_VAL_BYTES, "{\"$bytes\":\"AAEA\"}");
    EXPECT("t_str", 23, 0, 1, "tx", SL_VAL_STRING, "\"text 😀\"");
    EXPECT("t_str", 23, 0, 1, "j", SL_VAL_STRING, "\"{\\\"k\\\": \\\"ü😀\\\", \\\"n\\\": [1, 2.5, null]}\"");
    EXPECT("t_str", 23, 0, 1, "g5", SL_VAL_BYTES, "{\"$bytes\":\"1tDOxA==\"}"); /* gbk bytes kept */
    EXPECT("t_str", 23, 1, 1, "c", SL_VAL_STRING, "\"\"");
    EXPECT("t_str", 23, 1, 1, "b", SL_VAL_BYTES, "{\"$bytes\":\"AAAAAAAAAAA=\"}");
    EXPECT("t_str", 23, 2, 1, "lt", SL_VAL_NULL, "null");

    EXPECT("t_enum", 23, 0, 1, "s", SL_VAL_SET, "[]");
    EXPECT("t_enum", 23, 1, 1, "e", SL_VAL_STRING, "\"'\"");
    EXPECT("t_enum", 23, 1, 1, "s", SL_VAL_SET, "[\"x\",\"y\",\"z\"]");
    EXPECT("t_enum", 23, 1, 1, "el", SL_VAL_STRING, "\"ÿ\"");
    EXPECT("t_enum", 23, 1, 1, "s64", SL_VAL_SET, "[\"b0\",\"b63\"]");
    EXPECT("t_enum", 23, 1, 1, "e300", SL_VAL_STRING, "\"v260\"");
    EXPECT("t_enum", 23, 2, 1, "e", SL_VAL_STRING, "\"\"");       /* invalid value: index 0 */

    EXPECT("t_bit", 23, 0, 1, "b9", SL_VAL_BIT, "{\"$bit\":\"100000001\"}");
    EXPECT("t_bit", 23, 3, 1, "b64", SL_VAL_BIT,
           "{\"$bit\":\"1111111111111111111111111111111111111111111111111111111111111111\"}");
    EXPECT("t_bit", 23, 1, 1, "b1", SL_VAL_BIT, "{\"$bit\":\"0\"}");

    /* POINT(1.5 -2.25) SRID 4326: E6100000 + WKB 0101000000 000000000000F83F 00000000000002C0 */
    EXPECT("t_geo", 23, 0, 1, "p", SL_VAL_BYTES, "{\"$bytes\":\"5hAAAAEBAAAAAAAAAAAA+D8AAAAAAAACwA==\"}");

    EXPECT("t_fbt", 23, 0, 1, "i6", SL_VAL_TYPED, "{\"$typed\":\"inet6\",\"text\":\"::1\"}");
    EXPECT("t_fbt", 23, 1, 1, "i6", SL_VAL_TYPED, "{\"$typed\":\"inet6\",\"text\":\"::ffff:192.0.2.1\"}");
    EXPECT("t_fbt", 23, 2, 1, "i6", SL_VAL_TYPED, "{\"$typed\":\"inet6\",\"text\":\"::\"}");
    EXPECT("t_fbt", 23, 4, 1, "i6", SL_VAL_TYPED, "{\"$typed\":\"inet6\",\"text\":\"1::2:3:4:5:6:7\"}");
    EXPECT("t_fbt", 23, 0, 1, "u", SL_VAL_TYPED,
           "{\"$typed\":\"uuid\",\"text\":\"6ccd780c-baba-1026-9564-5b8c656024db\"}");
    EXPECT("t_fbt", 23, 0, 1, "i4", SL_VAL_TYPED, "{\"$typed\":\"inet4\",\"text\":\"0.0.0.1\"}");
    EXPECT("t_fbt", 23, 0, 1, "b16", SL_VAL_BYTES, "{\"$bytes\":\"AQIAAAAAAAAAAAAAAAAAAA==\"}");

    /* MINIMAL image: the before image has the key only, the after the changed column */
    EXPECT("t_pk", 24, 0, 0, "c", SL_VAL_MISSING, "{\"$missing\":\"not_in_image\"}");
    EXPECT("t_pk", 24, 0, 0, "b", SL_VAL_STRING, "\"one\"");
    EXPECT("t_pk", 24, 0, 1, "a", SL_VAL_MISSING, "{\"$missing\":\"not_in_image\"}");
    EXPECT("t_pk", 24, 0, 1, "c", SL_VAL_INT, "11");

    EXPECT("t_old", 23, 0, 1, "t3", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"time\",\"text\":\"-01:02:03.456\",\"micros\":-3723456000,\"precision\":3}");
    EXPECT("t_old", 23, 0, 1, "dt6", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"datetime\",\"text\":\"2024-02-29 13:45:00.123456\",\"micros\":1709214300123456,\"precision\":6}");
    EXPECT("t_old", 23, 0, 1, "ts3", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"timestamp\",\"text\":\"2024-02-29 13:45:00.123\",\"micros\":1709214300123000,\"precision\":3}");
    EXPECT("t_old", 23, 0, 1, "t0", SL_VAL_TEMPORAL,
           "{\"$temporal\":\"time\",\"text\":\"-838:59:59\",\"micros\":-3020399000000,\"precision\":0}");
}

static void test_tablemap_and_schema(void **state)
{
    col_tablemap_t tm;
    sl_record_t *rec = sl_record_new();
    char err[256];
    static const struct { const char *table, *col, *type; int pk; const char *cs; } want[] = {
        {"t_int", "biu", "bigint unsigned", 0, NULL},
        {"t_int", "id", "int", 1, NULL},
        {"t_int", "y", "year", 0, NULL},
        {"t_dec", "d65", "decimal(65,30)", 0, NULL},
        {"t_dec", "d5u", "decimal(5,0) unsigned", 0, NULL},
        {"t_time", "t6", "time(6)", 0, NULL},
        {"t_time", "ts2", "timestamp(2)", 0, NULL},
        {"t_str", "c", "char(10)", 0, "utf8mb4"},
        {"t_str", "v", "varchar(300)", 0, "utf8mb4"},
        {"t_str", "vl", "varchar(10)", 0, "latin1"},
        {"t_str", "b", "binary(8)", 0, "binary"},
        {"t_str", "mt", "mediumtext", 0, "utf8mb4"},
        {"t_str", "tb", "tinyblob", 0, "binary"},
        {"t_str", "j", "longtext", 0, "utf8mb4"},
        {"t_str", "c3", "char(3)", 0, "utf8mb3"},
        {"t_str", "g5", "varchar(5)", 0, "gbk"},
        {"t_enum", "e", "enum('a','b','c d','''')", 0, "utf8mb4"},
        {"t_enum", "s", "set('x','y','z')", 0, "utf8mb4"},
        {"t_enum", "el", "enum('é','ÿ')", 0, "latin1"},
        {"t_bit", "b9", "bit(9)", 0, NULL},
        {"t_geo", "p", "point", 0, NULL},
        {"t_geo", "poly", "polygon", 0, NULL},
        {"t_fbt", "i6", "inet6", 0, NULL},
        {"t_fbt", "u", "uuid", 0, NULL},
        {"t_fbt", "b16", "binary(16)", 0, "binary"},
        {"t_pk", "b", "varchar(50)", 1, "utf8mb4"},
        {"t_pk", "a", "int", 2, NULL},
    };
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        int found = 0;
        for (int i = 0; i < nevs && !found; i++) {
            if (evs[i].type != 19 || i + 1 >= nevs)
                continue;
            tablemap_for(i, &tm);
            if (strcmp(tm.table, want[w].table)) {
                col_mysql_tablemap_free(&tm);
                continue;
            }
            assert_true(tm.has_names && tm.has_signedness && tm.has_labels);
            assert_true(tm.has_charsets || !strcmp(tm.table, "t_int") || !strcmp(tm.table, "t_dec") ||
                        !strcmp(tm.table, "t_time") || !strcmp(tm.table, "t_bit") || !strcmp(tm.table, "t_old"));
            sl_record_reset(rec);
            assert_int_equal(col_mysql_schema_from_tablemap(&tm, "fx", rec, err, sizeof(err)), SL_OK);
            const sl_schema_t *s = &rec->u.schema;
            for (uint32_t k = 0; k < s->ncols; k++) {
                if (strcmp(s->cols[k].name, want[w].col))
                    continue;
                found = 1;
                assert_string_equal(s->cols[k].source_type, want[w].type);
                assert_int_equal(s->cols[k].pk, want[w].pk);
                if (want[w].cs)
                    assert_string_equal(s->cols[k].charset, want[w].cs);
                else
                    assert_null(s->cols[k].charset);
            }
            col_mysql_tablemap_free(&tm);
        }
        if (!found)
            fail_msg("column %s.%s not found", want[w].table, want[w].col);
    }
    sl_record_destroy(rec);
}

/* Every prefix of every event: a clean error or fewer rows, never a read
 * past the end (the prefix is copied to the END of a heap block: ASan
 * catches any over-read).
 * Events over 8 KiB: the first and last 2 KiB of lengths, a stride between. */
static void test_truncation_at_every_length(void **state)
{
    char err[512];
    long errors = 0, tried = 0;
    sl_record_t *rec = sl_record_new();
    for (int i = 0; i < nevs; i++) {
        size_t full = evs[i].len;
        uint8_t *block = malloc(full);
        uint32_t full_rows = 0;
        col_tablemap_t tm_full;
        if (evs[i].type != 19)
            tablemap_for(i, &tm_full);
        if (evs[i].type != 19)
            assert_int_equal(decode_event(i, evs[i].type, evs[i].body, full, 0, NULL, &full_rows,
                                          err, sizeof(err)), SL_OK);
        for (size_t len = 0; len < full; len++) {
            if (full > 8192 && len > 2048 && len < full - 2048 && len % 1021)
                continue;
            uint8_t *b = block + (full - len);
            memmove(b, evs[i].body, len);
            tried++;
            if (evs[i].type == 19) {
                col_tablemap_t tm;
                sl_err_t e = col_mysql_tablemap_parse(b, len, &tm, err, sizeof(err));
                if (e) {
                    errors++;
                    assert_non_null(strstr(err, "TABLE_MAP"));
                    assert_non_null(strstr(err, "byte"));
                } else {
                    col_mysql_tablemap_free(&tm);
                }
            } else {
                uint32_t n = 0;
                sl_record_reset(rec);
                sl_err_t e = decode_event_tm(i, &tm_full, rec, evs[i].type, b, len, 0, NULL, &n,
                                             err, sizeof(err));
                if (e) {
                    errors++;
                    assert_int_equal(e, SL_ERR_DECODE);
                    if (!strstr(err, "byte"))
                        fail_msg("error without a byte offset: %s", err);
                } else {
                    assert_true(n < full_rows);
                }
            }
        }
        free(block);
        if (evs[i].type != 19)
            col_mysql_tablemap_free(&tm_full);
    }
    sl_record_destroy(rec);
    assert_true(tried > 10000);   /* 10514: every length of the small events, a sample of the big */
    assert_true(errors > tried / 2);
}

static void test_errors_name_table_column_offset(void **state)
{
    char err[512];
    uint32_t n;
    int i = find_rows("t_dec", 23);
    uint8_t *b = malloc(evs[i].len);
    memcpy(b, evs[i].body, evs[i].len);
    /* row 0: flags/ids... the d65 value starts after the header (8), ncols (1),
     * bitmap (2), null bitmap (2) and id (4): make its first digit group > 10^9 */
    size_t at = 8 + 1 + 2 + 2 + 4;
    b[at] = 0x80 | 0x7f;
    memset(b + at + 1, 0xff, 4);
    assert_int_equal(decode_event(i, evs[i].type, b, evs[i].len, 0, NULL, &n, err, sizeof(err)),
                     SL_ERR_DECODE);
    assert_non_null(strstr(err, "`fx`.`t_dec`"));
    assert_non_null(strstr(err, "column 2 `d65` (decimal(65,30))"));
    assert_non_null(strstr(err, "row 0 (after image) at byte 17 of"));
    free(b);

    /* ENUM index beyond the labels */
    i = find_rows("t_enum", 23);
    b = malloc(evs[i].len);
    memcpy(b, evs[i].body, evs[i].len);
    at = 8 + 1 + 1 + 1 + 4;   /* header, ncols, bitmap, null bitmap, id */
    b[at] = 9;
    assert_int_equal(decode_event(i, evs[i].type, b, evs[i].len, 0, NULL, &n, err, sizeof(err)),
                     SL_ERR_DECODE);
    assert_non_null(strstr(err, "ENUM index 9"));
    /* SET bits beyond the labels */
    b[at] = 1;
    b[at + 1] = 0xf8;
    assert_int_equal(decode_event(i, evs[i].type, b, evs[i].len, 0, NULL, &n, err, sizeof(err)),
                     SL_ERR_DECODE);
    assert_non_null(strstr(err, "SET bitmap"));
    free(b);

    /* a rows event read with another table's map */
    col_tablemap_t tm;
    sl_record_t *rec = sl_record_new();
    tablemap_for(find_rows("t_int", 23), &tm);
    i = find_rows("t_dec", 23);
    assert_int_equal(col_mysql_rows_decode(&tm, evs[i].type, evs[i].body, evs[i].len, "fx", 0, 0,
                                           rec, NULL, err, sizeof(err)), SL_ERR_STATE);
    col_mysql_tablemap_free(&tm);
    sl_record_destroy(rec);

    /* not a rows event */
    col_rows_cursor_t cur;
    assert_int_equal(col_mysql_rows_open(&cur, 166, evs[i].body, evs[i].len, err, sizeof(err)),
                     SL_ERR_UNSUPPORTED);
}

static void test_split_decode(void **state)
{
    col_tablemap_t tm;
    sl_record_t *rec = sl_record_new();
    char err[256];
    uint32_t next = 0;
    int i = find_rows("t_int", 23);
    tablemap_for(i, &tm);
    assert_int_equal(col_mysql_rows_decode(&tm, evs[i].type, evs[i].body, evs[i].len, "fx", 1, 2,
                                           rec, &next, err, sizeof(err)), SL_OK);
    assert_int_equal(rec->u.change.nrows, 2);
    assert_int_equal(next, 3);
    assert_int_equal(rec->u.change.rows[0].after[0].u.i, 2);
    assert_null(rec->u.change.rows[0].before);
    sl_record_reset(rec);
    assert_int_equal(col_mysql_rows_decode(&tm, evs[i].type, evs[i].body, evs[i].len, "fx", 3, 10,
                                           rec, &next, err, sizeof(err)), SL_OK);
    assert_int_equal(rec->u.change.nrows, 2);
    assert_int_equal(next, UINT32_MAX);
    assert_int_equal(rec->u.change.rows[1].after[0].u.i, 5);
    col_mysql_tablemap_free(&tm);
    sl_record_destroy(rec);
}

/* Rows of a later event appended to a batch (the collector's batching of
 * consecutive single-row statements): earlier rows intact, the new ones after
 * them, max_rows counted from the append. */
static void test_append_to_batch(void **state)
{
    col_tablemap_t tm;
    col_rows_cursor_t cur;
    sl_record_t *rec = sl_record_new();
    char err[256];
    int i = find_rows("t_int", 23);
    tablemap_for(i, &tm);
    assert_int_equal(col_mysql_rows_open(&cur, evs[i].type, evs[i].body, evs[i].len, err,
                                         sizeof(err)), SL_OK);
    assert_int_equal(col_mysql_rows_next(&cur, &tm, "fx", 0, 0, rec, err, sizeof(err)), SL_OK);
    uint32_t n = rec->u.change.nrows;
    assert_true(n >= 3);
    int64_t first[16];
    for (uint32_t r = 0; r < n && r < 16; r++)
        first[r] = rec->u.change.rows[r].after[0].u.i;
    /* the same event again, appended: 2 rows, then the rest */
    assert_int_equal(col_mysql_rows_open(&cur, evs[i].type, evs[i].body, evs[i].len, err,
                                         sizeof(err)), SL_OK);
    assert_int_equal(col_mysql_rows_next(&cur, &tm, "fx", 2, 1, rec, err, sizeof(err)), SL_OK);
    assert_int_equal(rec->u.change.nrows, n + 2);
    assert_false(col_mysql_rows_done(&cur));
    assert_int_equal(col_mysql_rows_next(&cur, &tm, "fx", 0, 1, rec, err, sizeof(err)), SL_OK);
    assert_int_equal(rec->u.change.nrows, 2 * n);
    assert_true(col_mysql_rows_done(&cur));
    for (uint32_t r = 0; r < n && r < 16; r++) {
        assert_int_equal(rec->u.change.rows[r].after[0].u.i, first[r]);
        assert_int_equal(rec->u.change.rows[n + r].after[0].u.i, first[r]);
        assert_null(rec->u.change.rows[n + r].before);
    }
    assert_string_equal(rec->u.change.table, "t_int");
    col_mysql_tablemap_free(&tm);
    sl_record_destroy(rec);
}

/* Every rows event of the fixture decoded in records bounded by their
 * encoded size (col_mysql_rows_next_sized, the collector's batcher): each
 * record's Avro encoding is within the bound (or holds a single row), *bytes
 * never under-counts it, no row is lost or doubled, and appending to a full
 * record adds nothing and leaves the cursor where it was. */
static void test_sized_batches(void **state)
{
    char err[512];
    sl_avro_codec_t *codec;
    sl_record_t *rec = sl_record_new(), *all = sl_record_new();
    assert_int_equal(sl_avro_codec_new(&codec, err, sizeof(err)), SL_OK);
    const size_t max_bytes = 700;
    uint32_t records = 0, rows_total = 0;
    for (int i = 0; i < nevs; i++) {
        if (evs[i].type == 19)
            continue;
        col_tablemap_t tm;
        col_rows_cursor_t cur;
        tablemap_for(i, &tm);
        assert_int_equal(col_mysql_rows_open(&cur, evs[i].type, evs[i].body, evs[i].len, err,
                                             sizeof(err)), SL_OK);
        uint32_t got = 0;
        while (!col_mysql_rows_done(&cur)) {
            size_t bytes = 0;
            uint32_t row = cur.row;
            sl_record_reset(rec);
            assert_int_equal(col_mysql_rows_next_sized(&cur, &tm, "fx", 0, max_bytes, 0, rec,
                                                       &bytes, err, sizeof(err)), SL_OK);
            uint32_t n = rec->u.change.nrows;
            assert_true(n >= 1 && cur.row == row + n);
            const void *buf;
            size_t len;
            assert_int_equal(sl_avro_encode(codec, rec, &buf, &len, err, sizeof(err)), SL_OK);
            assert_true(len <= bytes);
            if (n > 1 && len > max_bytes)
                fail_msg("event %d: %u rows encode to %zu bytes > %zu", i, n, len, max_bytes);
            if (!col_mysql_rows_done(&cur)) {
                /* full: an append takes nothing and keeps the cursor */
                size_t at = cur.offset, was = bytes;
                assert_int_equal(col_mysql_rows_next_sized(&cur, &tm, "fx", 0, max_bytes, 1, rec,
                                                           &bytes, err, sizeof(err)), SL_OK);
                assert_int_equal(rec->u.change.nrows, n);
                assert_true(cur.offset == at && cur.row == row + n && bytes == was);
            }
            got += n;
            records++;
        }
        /* the same rows as one unbounded decode */
        sl_record_reset(all);
        assert_int_equal(col_mysql_rows_open(&cur, evs[i].type, evs[i].body, evs[i].len, err,
                                             sizeof(err)), SL_OK);
        assert_int_equal(col_mysql_rows_next(&cur, &tm, "fx", 0, 0, all, err, sizeof(err)),
                         SL_OK);
        assert_int_equal(got, all->u.change.nrows);
        rows_total += got;
        col_mysql_tablemap_free(&tm);
    }
    assert_true(records > (uint32_t)nevs / 2 && rows_total > 0);
    sl_avro_codec_destroy(codec);
    sl_record_destroy(rec);
    sl_record_destroy(all);
}

static void test_text_forms(void **state)
{
    char t[64];
    static const uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    col_mysql_inet6_text(a, t);
    assert_string_equal(t, "2001:db8::1");
    static const uint8_t z[16] = {0};
    col_mysql_inet6_text(z, t);
    assert_string_equal(t, "::");
    static const uint8_t l1[] = {0x41, 0x80, 0x81, 0x9f, 0xa0, 0xff};
    size_t n = col_mysql_latin1_to_utf8(l1, sizeof(l1), t);
    assert_int_equal(n, 1 + 3 + 2 + 2 + 2 + 2);
    assert_memory_equal(t, "A\xe2\x82\xac\xc2\x81\xc5\xb8\xc2\xa0\xc3\xbf", n);
    int mb;
    assert_string_equal(col_mysql_charset_name(45, &mb), "utf8mb4");
    assert_int_equal(mb, 4);
    assert_string_equal(col_mysql_charset_name(2304, &mb), "utf8mb4");  /* uca1400 */
    assert_string_equal(col_mysql_charset_name(8, NULL), "latin1");
    assert_null(col_mysql_charset_name(4000, NULL));
    assert_int_equal(col_mysql_charset_kind(63), SL_VAL_BYTES);
    assert_int_equal(col_mysql_charset_kind(33), SL_VAL_STRING);
}

/* The legacy (pre-5.6) DATETIME is 8 bytes YYYYMMDDhhmmss: any year up to
 * 1844674407 can be encoded; past 9999 it is refused as the high-resolution
 * forms are (it overflowed the microseconds, signed: undefined). */
static void test_legacy_datetime_year_range(void **state)
{
    (void)state;
    static const struct {
        uint64_t    u;
        const char *text;             /* NULL: refused */
        int         micros;
    } cases[] = {
        {20240102030405ULL, "2024-01-02 03:04:05", 1},
        {99991231235959ULL, "9999-12-31 23:59:59", 1},
        {0, "0000-00-00 00:00:00", 0},
        {20240200000000ULL, "2024-02-00 00:00:00", 0},
        {100000101000000ULL, NULL, 0},
        {UINT64_MAX, NULL, 0},
        {18446744073709551615ULL / 2, NULL, 0},
    };
    col_mysql_column_t c;
    memset(&c, 0, sizeof c);
    c.type = c.real_type = COL_MYSQL_T_DATETIME;
    c.name = "dt";
    sl_record_t *rec = sl_record_new();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint8_t b[8];
        for (int k = 0; k < 8; k++)
            b[k] = (uint8_t)(cases[i].u >> (8 * k));
        size_t used = 0;
        sl_value_t v;
        char why[256] = "";
        memset(&v, 0, sizeof v);
        sl_err_t e = col_mysql_value_decode(&c, b, sizeof b, &used, rec, &v, why, sizeof why);
        assert_int_equal(used, 8);
        if (!cases[i].text) {
            if (e != SL_ERR_DECODE)
                fail_msg("DATETIME %llu accepted as \"%.*s\"", (unsigned long long)cases[i].u,
                         (int)v.len, v.data ? v.data : "");
            assert_non_null(strstr(why, "out of range"));
            continue;
        }
        assert_int_equal(e, SL_OK);
        assert_int_equal(v.kind, SL_VAL_TEMPORAL);
        assert_int_equal(v.len, strlen(cases[i].text));
        assert_memory_equal(v.data, cases[i].text, v.len);
        assert_int_equal(v.u.t.has_micros, cases[i].micros);
    }
    sl_record_destroy(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_golden),
        cmocka_unit_test(test_values_by_family),
        cmocka_unit_test(test_v2_and_batches_equal_v1),
        cmocka_unit_test(test_tablemap_and_schema),
        cmocka_unit_test(test_split_decode),
        cmocka_unit_test(test_append_to_batch),
        cmocka_unit_test(test_sized_batches),
        cmocka_unit_test(test_errors_name_table_column_offset),
        cmocka_unit_test(test_text_forms),
        cmocka_unit_test(test_legacy_datetime_year_range),
        cmocka_unit_test(test_truncation_at_every_length),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
