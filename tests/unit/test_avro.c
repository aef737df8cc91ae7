/* Unit tests: Avro codec (common/sl_avro*.c) — round trips of every value
 * kind and record type, decode errors, canonical form, CRC-64-AVRO, buffer
 * reuse. Set SL_AVRO_DUMP=DIR to write the encoded messages to DIR/NAME.bin so
 * that tests/it/slavro.py (fastavro) can decode them independently. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_avro.h"
#include "sl_avro_int.h"
#include "sl_json.h"
#include "sl_record.h"

/* Fingerprints of schemas/shiftlog_record_v1.avsc and _v2.avsc as computed
 * by fastavro (fastavro.schema.fingerprint(to_parsing_canonical_form(s),
 * "CRC-64-AVRO") prints the little-endian bytes b1e8ff4052773971 and
 * 4d01b331483caf41). Changing a schema changes its number: that is a new
 * wire format version, and messages of the old one are still on Kafka. */
#define RECORD_V1_FP 0x7139775240ffe8b1ULL
#define RECORD_V2_FP 0x41af3c4831b3014dULL
#define RECORD_V3_FP 0x39b108bfd61d4993ULL   /* fastavro: 93491dd6bf08b139 */

static sl_avro_codec_t *codec;
static char errstr[512];

static int setup(void **state)
{
    (void)state;
    return sl_avro_codec_new(&codec, errstr, sizeof(errstr)) == SL_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sl_avro_codec_destroy(codec);
    return 0;
}

static void dump(const char *name, const void *buf, size_t len)
{
    const char *dir = getenv("SL_AVRO_DUMP");
    if (!dir)
        return;
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(buf, 1, len, f);
        fclose(f);
    }
    sl_buf_t js = SL_BUF_INIT;
    sl_record_t *rec = sl_record_new();
    if (sl_avro_decode(codec, buf, len, rec, errstr, sizeof(errstr)) == SL_OK &&
        sl_record_to_json(rec, &js) == SL_OK) {
        snprintf(path, sizeof(path), "%s/%s.json", dir, name);
        if ((f = fopen(path, "w"))) {
            fwrite(js.data, 1, js.len, f);
            fclose(f);
        }
    }
    sl_record_destroy(rec);
    sl_buf_free(&js);
}

/* The direct reader (sl_avro_decode) against the generic avro-c path
 * (sl_avro_decode_generic) on a message and on single-byte mutations (5 xor
 * masks) and truncations of it at every byte of the first 1 KiB and every
 * 61st after: both accept or both refuse, and what both accept decodes to
 * equal records. */
static void readers_agree(const unsigned char *m, size_t len, const char *name)
{
    static const unsigned char masks[] = { 0x01, 0x02, 0x08, 0x80, 0xff };
    unsigned char *x = malloc(len ? len : 1);
    sl_record_t *a = sl_record_new(), *b = sl_record_new();
    char e2[512];
    memcpy(x, m, len);
    for (size_t i = 0; i <= len; i += i < 1024 ? 1 : 61)
        for (size_t k = 0; k < (i < len ? sizeof(masks) : 1) + 1; k++) {
            size_t n = len;
            if (k == 0)
                n = i;                          /* truncated at i */
            else if (i < len)
                x[i] ^= masks[k - 1];           /* byte i flipped */
            else
                continue;
            sl_err_t ea = sl_avro_decode(codec, x, n, a, errstr, sizeof(errstr));
            sl_err_t eb = sl_avro_decode_generic(codec, x, n, b, e2, sizeof(e2));
            if ((ea == SL_OK) != (eb == SL_OK))
                fail_msg("%s: byte %zu mask %zu len %zu: direct %s, generic %s", name, i, k, n,
                         ea ? errstr : "ok", eb ? e2 : "ok");
            if (ea == SL_OK && !sl_record_equal(a, b))
                fail_msg("%s: byte %zu mask %zu: the readers decode different records", name,
                         i, k);
            if (k)
                x[i] = m[i];
        }
    free(x);
    sl_record_destroy(a);
    sl_record_destroy(b);
}

/* Encodes a, decodes into a fresh record, asserts deep equality (and that the
 * direct and generic readers agree on it and its mutations); returns the
 * decoded record (caller destroys). */
static sl_record_t *round_trip(const sl_record_t *a, const char *name)
{
    const void *buf;
    size_t len;
    sl_err_t err = sl_avro_encode_generic(codec, a, &buf, &len, errstr, sizeof(errstr));
    if (err != SL_OK)
        fail_msg("generic encode %s: %s", name, errstr);
    unsigned char *gen = malloc(len);
    size_t glen = len;
    memcpy(gen, buf, len);
    err = sl_avro_encode(codec, a, &buf, &len, errstr, sizeof(errstr));
    if (err != SL_OK)
        fail_msg("encode %s: %s", name, errstr);
    /* the direct writer produces avro-c's bytes exactly */
    if (len != glen || memcmp(buf, gen, len)) {
        size_t k = 0;
        while (k < len && k < glen && ((const unsigned char *)buf)[k] == gen[k])
            k++;
        fail_msg("encode %s: %zu bytes, avro-c %zu; first difference at byte %zu", name, len,
                 glen, k);
    }
    free(gen);
    /* the sizes a batcher measures are the bytes the encoder writes */
    assert_int_equal(sl_avro_record_size(a), len);
    if (a->type == SL_REC_CHANGE && a->u.change.nrows) {
        const sl_change_t *c = &a->u.change;
        size_t rows = sl_avro_rows_size(c, 0, c->nrows), parts = 0;
        for (uint32_t r = 0; r < c->nrows; r++)
            parts += sl_avro_rows_size(c, r, 1);
        assert_int_equal(parts, rows);
        assert_true(rows < len);
        assert_int_equal(sl_avro_rows_size(c, c->nrows, 5), 0);
    }
    dump(name, buf, len);
    sl_record_t *b = sl_record_new();
    err = sl_avro_decode(codec, buf, len, b, errstr, sizeof(errstr));
    if (err != SL_OK)
        fail_msg("decode %s: %s", name, errstr);
    assert_true(sl_record_equal(a, b));
    assert_true(sl_record_equal(b, a));
    readers_agree(buf, len, name);
    return b;
}

static void set_mysql_pos(sl_record_t *r)
{
    assert_int_equal(sl_pos_set_mysql(&r->pos, "mysql-bin.000003", 1234, 5), SL_OK);
    strcpy(r->pos.gtid, "0-1-42");
}

/* ------------------------------------------------------------------ CRC / PCF */

static void test_crc64_known_vectors(void **state)
{
    (void)state;
    assert_true(sl_avro_crc64("", 0) == 0xc15d213aa4d7a795ULL);
    /* primitive schemas, values from the Avro spec's algorithm (cross-checked with fastavro) */
    assert_true(sl_avro_crc64("\"null\"", 6) == 0x63dd24e7cc258f8aULL);
    assert_true(sl_avro_crc64("\"int\"", 5) == 0x7275d51a3f395c8fULL);      /*  8247732601305521295 */
    assert_true(sl_avro_crc64("\"long\"", 6) == 0xd054e14493f41db7ULL);
    assert_true(sl_avro_crc64("\"string\"", 8) == 0x8f014872634503c7ULL);   /* -8142146995180207161 */
    const char *fx = "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}";
    assert_true(sl_avro_crc64(fx, strlen(fx)) == 0x18602ec3ed31a504ULL);
}

static void check_canon(const char *in, const char *want)
{
    char *out = NULL;
    uint64_t fp;
    sl_err_t err = sl_avro_canonical(in, &out, &fp, errstr, sizeof(errstr));
    if (err != SL_OK)
        fail_msg("canonical of %s: %s", in, errstr);
    assert_string_equal(out, want);
    assert_true(fp == sl_avro_crc64(want, strlen(want)));
    free(out);
}

static void test_canonical_form(void **state)
{
    (void)state;
    check_canon(" \"int\" ", "\"int\"");
    check_canon("{\"type\": \"int\", \"logicalType\": \"date\"}", "\"int\"");
    check_canon("{\"type\":\"fixed\",\"name\":\"foo\",\"size\":0015,\"doc\":\"x\"}",
                "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}");
    /* STRIP (doc, aliases, default, namespace), ORDER, FULLNAMES incl. nested
     * short references and an explicit full name, STRINGS (escapes decoded) */
    check_canon(
        "{\"doc\":\"d\",\"fields\":[\n"
        "  {\"type\":{\"type\":\"enum\",\"symbols\":[\"A\",\"B\"],\"name\":\"E\",\"aliases\":[\"x\"]},"
        "   \"name\":\"e\",\"default\":\"A\"},\n"
        "  {\"name\":\"f\",\"type\":[\"null\",\"E\",{\"type\":\"array\",\"items\":\"long\"}]},\n"
        "  {\"name\":\"g\",\"type\":{\"type\":\"record\",\"name\":\"other.R\",\"fields\":["
        "     {\"name\":\"h\",\"type\":{\"type\":\"map\",\"values\":\"\\u0053\"}}]}}\n"
        " ],\"namespace\":\"n.s\",\"type\":\"record\",\"name\":\"Top\"}",
        "{\"name\":\"n.s.Top\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"e\",\"type\":{\"name\":\"n.s.E\",\"type\":\"enum\",\"symbols\":[\"A\",\"B\"]}},"
        "{\"name\":\"f\",\"type\":[\"null\",\"n.s.E\",{\"type\":\"array\",\"items\":\"long\"}]},"
        "{\"name\":\"g\",\"type\":{\"name\":\"other.R\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"h\",\"type\":{\"type\":\"map\",\"values\":\"other.S\"}}]}}]}");
}

static void test_canonical_errors(void **state)
{
    (void)state;
    char *out = NULL;
    uint64_t fp;
    assert_int_equal(sl_avro_canonical("{\"type\":", &out, &fp, errstr, sizeof(errstr)), SL_ERR_PARSE);
    assert_non_null(strstr(errstr, "byte"));
    assert_int_equal(sl_avro_canonical("{\"name\":\"x\"}", &out, &fp, errstr, sizeof(errstr)),
                     SL_ERR_PARSE);
    assert_int_equal(sl_avro_canonical("\"int\" x", &out, &fp, errstr, sizeof(errstr)), SL_ERR_PARSE);
}

static void test_record_schema_fingerprint(void **state)
{
    (void)state;
    assert_true(sl_avro_fingerprint(codec) == RECORD_V3_FP);     /* the writer's */
    uint64_t fp = 0;
    char *canon = NULL;
    assert_int_equal(sl_avro_canonical(sl_schema_record_v2_json, &canon, &fp, errstr,
                                       sizeof(errstr)), SL_OK);
    assert_true(fp == RECORD_V2_FP);                               /* v2 unchanged */
    assert_null(strstr(canon, "\"name\":\"default\""));
    free(canon);
    assert_int_equal(sl_avro_canonical(sl_schema_record_v1_json, &canon, &fp, errstr,
                                       sizeof(errstr)), SL_OK);
    assert_true(fp == RECORD_V1_FP);                               /* v1 unchanged */
    assert_null(strstr(canon, "READ"));
    free(canon);
    assert_int_equal(sl_avro_canonical(sl_avro_schema_json(), &canon, &fp, errstr, sizeof(errstr)),
                     SL_OK);
    assert_true(fp == RECORD_V3_FP);
    assert_non_null(strstr(canon, "\"symbols\":[\"INSERT\",\"UPDATE\",\"DELETE\",\"TRUNCATE\",\"READ\"]"));
    assert_non_null(strstr(canon, "{\"name\":\"default\",\"type\":[\"null\",\"string\"]}"));
    assert_non_null(strstr(canon, "{\"name\":\"io.shiftlog.v1.Record\",\"type\":\"record\""));
    assert_null(strstr(canon, "doc"));
    assert_null(strchr(canon, ' '));
    free(canon);
}

/* ------------------------------------------------------------------ values */

static const char *const kind_cols[] = {
    "n", "b_true", "b_false", "i_min", "i_max", "i_zero", "u_max", "u_zero", "u_big",
    "f_pi", "f_nan", "f_pinf", "f_ninf", "f_negzero", "d_e", "d_nan", "d_pinf", "d_ninf", "d_min",
    "dec65", "dec_nan", "dec_inf", "s_empty", "s_nul", "s_utf8", "by_empty", "by_bin",
    "t_date", "t_zero_date", "t_time_neg", "t_datetime", "t_ts", "t_timetz", "t_tstz", "t_interval",
    "bit64", "bit1", "bit10", "set_empty", "set_many", "typed_inet", "typed_arr", "miss_toast",
    "miss_image", "s_bigutf8"
};
#define NKC (sizeof(kind_cols) / sizeof(kind_cols[0]))

static void fill_all_kinds(sl_record_t *r, sl_value_t *v)
{
    size_t i = 0;
    v[i++].kind = SL_VAL_NULL;
    v[i].kind = SL_VAL_BOOL; v[i++].u.b = 1;
    v[i].kind = SL_VAL_BOOL; v[i++].u.b = 0;
    v[i].kind = SL_VAL_INT; v[i++].u.i = INT64_MIN;
    v[i].kind = SL_VAL_INT; v[i++].u.i = INT64_MAX;
    v[i].kind = SL_VAL_INT; v[i++].u.i = 0;
    v[i].kind = SL_VAL_UINT; v[i++].u.u = UINT64_MAX;
    v[i].kind = SL_VAL_UINT; v[i++].u.u = 0;
    v[i].kind = SL_VAL_UINT; v[i++].u.u = 0x8000000000000001ULL;
    v[i].kind = SL_VAL_FLOAT; v[i++].u.f = 3.14159274f;
    v[i].kind = SL_VAL_FLOAT; v[i++].u.f = NAN;
    v[i].kind = SL_VAL_FLOAT; v[i++].u.f = INFINITY;
    v[i].kind = SL_VAL_FLOAT; v[i++].u.f = -INFINITY;
    v[i].kind = SL_VAL_FLOAT; v[i++].u.f = -0.0f;
    v[i].kind = SL_VAL_DOUBLE; v[i++].u.d = 2.718281828459045;
    v[i].kind = SL_VAL_DOUBLE; v[i++].u.d = NAN;
    v[i].kind = SL_VAL_DOUBLE; v[i++].u.d = INFINITY;
    v[i].kind = SL_VAL_DOUBLE; v[i++].u.d = -INFINITY;
    v[i].kind = SL_VAL_DOUBLE; v[i++].u.d = 4.9406564584124654e-324;
    const char *dec = "-99999999999999999999999999999999999.999999999999999999999999999999";
    assert_int_equal(sl_value_set_text(r, &v[i++], SL_VAL_DECIMAL, dec, strlen(dec)), SL_OK);
    assert_int_equal(sl_value_set_text(r, &v[i++], SL_VAL_DECIMAL, "NaN", 3), SL_OK);
    assert_int_equal(sl_value_set_text(r, &v[i++], SL_VAL_DECIMAL, "-Infinity", 9), SL_OK);
    assert_int_equal(sl_value_set_text(r, &v[i++], SL_VAL_STRING, "", 0), SL_OK);
    assert_int_equal(sl_value_set_text(r, &v[i++], SL_VAL_STRING, "a\0b", 3), SL_OK);
    const char *u8 = "h\xc3\xa9llo \xe4\xb8\xad \xf0\x9f\x98\x80 \xf0\x90\x8d\x88";  /* é 中 😀 𐍈 */
    assert_int_equal(sl_value_set_text(r, &v[i++], SL_VAL_STRING, u8, strlen(u8)), SL_OK);
    assert_int_equal(sl_value_set_text(r, &v[i++], SL_VAL_BYTES, "", 0), SL_OK);
    assert_int_equal(sl_value_set_text(r, &v[i++], SL_VAL_BYTES, "\0\xff\x00\x80\n", 5), SL_OK);
    assert_int_equal(sl_value_set_temporal(r, &v[i++], SL_T_DATE, "2024-02-29", 10, 1, 19782, 0, 0, 0), SL_OK);
    assert_int_equal(sl_value_set_temporal(r, &v[i++], SL_T_DATE, "0000-00-00", 10, 0, 0, 0, 0, 0), SL_OK);
    assert_int_equal(sl_value_set_temporal(r, &v[i++], SL_T_TIME, "-838:59:59.000000", 17, 1,
                                           -3020399000000LL, 6, 0, 0), SL_OK);
    assert_int_equal(sl_value_set_temporal(r, &v[i++], SL_T_DATETIME, "9999-12-31 23:59:59.999999", 26, 1,
                                           253402300799999999LL, 6, 0, 0), SL_OK);
    assert_int_equal(sl_value_set_temporal(r, &v[i++], SL_T_TIMESTAMP, "1970-01-01 00:00:01", 19, 1,
                                           1000000, 0, 0, 0), SL_OK);
    assert_int_equal(sl_value_set_temporal(r, &v[i++], SL_T_TIMETZ, "13:45:00.5-03:30", 16, 1,
                                           49500500000LL, 1, 1, -12600), SL_OK);
    assert_int_equal(sl_value_set_temporal(r, &v[i++], SL_T_TIMESTAMPTZ, "infinity", 8, 0, 0, 6, 1, 0), SL_OK);
    assert_int_equal(sl_value_set_temporal(r, &v[i++], SL_T_INTERVAL, "1 year 2 mons -3 days 04:05:06.789", 34,
                                           0, 0, 6, 0, 0), SL_OK);
    assert_int_equal(sl_value_set_bit(r, &v[i++], 64, "\xff\x00\x01\x80\xaa\x55\x00\xff", 8), SL_OK);
    assert_int_equal(sl_value_set_bit(r, &v[i++], 1, "\x01", 1), SL_OK);
    assert_int_equal(sl_value_set_bit(r, &v[i++], 10, "\x02\x01", 2), SL_OK);
    assert_int_equal(sl_value_set_set(r, &v[i++], NULL, 0), SL_OK);
    const char *labels[64];
    char lab[64][8];
    for (int k = 0; k < 64; k++) {
        snprintf(lab[k], sizeof(lab[k]), "l%d", k);
        labels[k] = lab[k];
    }
    labels[5] = "";                   /* an empty label is a label */
    assert_int_equal(sl_value_set_set(r, &v[i++], labels, 64), SL_OK);
    assert_int_equal(sl_value_set_typed(r, &v[i++], "inet", "192.168.0.1/24", 14), SL_OK);
    assert_int_equal(sl_value_set_typed(r, &v[i++], "int4[]", "{1,NULL,3}", 10), SL_OK);
    v[i].kind = SL_VAL_MISSING; v[i++].u.missing = SL_MISSING_UNCHANGED_TOAST;
    v[i].kind = SL_VAL_MISSING; v[i++].u.missing = SL_MISSING_NOT_IN_IMAGE;
    /* a 100 KB string of 4-byte characters: makes the buffer grow */
    size_t big = 100 * 1024;
    char *s = malloc(big);
    for (size_t k = 0; k < big; k += 4)
        memcpy(s + k, "\xf0\x9f\x98\x80", 4);
    assert_int_equal(sl_value_set_text(r, &v[i++], SL_VAL_STRING, s, big), SL_OK);
    free(s);
    assert_int_equal(i, NKC);
}

static void test_round_trip_every_value_kind(void **state)
{
    (void)state;
    sl_record_t *a = sl_record_new();
    assert_int_equal(sl_record_init_change(a, "shop", "db", "t", SL_OP_INSERT, NKC, kind_cols, 1), SL_OK);
    set_mysql_pos(a);
    a->u.change.txn = "0-1-42";
    a->u.change.event_time_us = 1700000000123456LL;
    a->u.change.schema_id = 0xfedcba9876543210ULL;
    a->u.change.server_id = UINT32_MAX;
    a->u.change.flags = 0x8000;
    fill_all_kinds(a, a->u.change.rows[0].after);
    sl_record_t *b = round_trip(a, "all_kinds");

    const sl_value_t *v = b->u.change.rows[0].after;
    assert_null(b->u.change.rows[0].before);
    assert_null(b->u.change.origin);
    assert_string_equal(b->u.change.txn, "0-1-42");
    assert_true(b->u.change.schema_id == 0xfedcba9876543210ULL);
    assert_true(b->u.change.server_id == UINT32_MAX);
    assert_int_equal(v[0].kind, SL_VAL_NULL);
    assert_true(v[3].u.i == INT64_MIN && v[4].u.i == INT64_MAX);
    assert_true(v[6].kind == SL_VAL_UINT && v[6].u.u == UINT64_MAX);
    assert_true(v[8].u.u == 0x8000000000000001ULL);
    assert_true(isnan(v[10].u.f) && isinf(v[11].u.f) && v[11].u.f > 0 && v[12].u.f < 0);
    assert_true(signbit(v[13].u.f) && v[13].u.f == 0.0f);
    assert_true(isnan(v[15].u.d) && v[17].u.d < 0 && isinf(v[17].u.d));
    assert_true(v[18].u.d == 4.9406564584124654e-324);
    assert_int_equal(v[19].len, 67);
    assert_memory_equal(v[19].data, "-99999999999999999999999999999999999.999999999999999999999999999999", 67);
    /* NULL, empty string and empty bytes stay three different things */
    assert_int_equal(v[22].kind, SL_VAL_STRING);
    assert_int_equal(v[22].len, 0);
    assert_int_equal(v[25].kind, SL_VAL_BYTES);
    assert_int_equal(v[25].len, 0);
    assert_int_equal(v[23].len, 3);
    assert_memory_equal(v[23].data, "a\0b", 3);
    assert_int_equal(v[26].len, 5);
    assert_memory_equal(v[26].data, "\0\xff\x00\x80\n", 5);
    assert_false(v[28].u.t.has_micros);                       /* zero date */
    assert_true(v[29].u.t.micros == -3020399000000LL);        /* negative TIME */
    assert_true(v[32].u.t.has_tz && v[32].u.t.tz_offset_s == -12600);
    assert_int_equal(v[35].u.bit.nbits, 64);
    assert_int_equal(v[38].n, 0);
    assert_int_equal(v[39].n, 64);
    assert_string_equal(v[40].u.typed.type, "inet");
    assert_int_equal(v[42].u.missing, SL_MISSING_UNCHANGED_TOAST);
    assert_int_equal(v[43].u.missing, SL_MISSING_NOT_IN_IMAGE);
    assert_int_equal(v[44].len, 100 * 1024);

    /* equality sees a one-bit difference (so the round trips above mean something) */
    sl_value_t *av = a->u.change.rows[0].after;
    av[6].u.u = UINT64_MAX - 1;
    assert_false(sl_record_equal(a, b));
    av[6].u.u = UINT64_MAX;
    av[13].u.f = 0.0f;                                        /* -0 is not 0 */
    assert_false(sl_record_equal(a, b));
    av[13].u.f = -0.0f;
    av[22].kind = SL_VAL_NULL;                                /* '' is not NULL */
    assert_false(sl_record_equal(a, b));
    av[22].kind = SL_VAL_STRING;
    assert_true(sl_record_equal(a, b));
    sl_record_destroy(a);
    sl_record_destroy(b);
}

static void fill_row(sl_record_t *r, sl_value_t *img, int64_t id, const char *name)
{
    img[0].kind = SL_VAL_INT;
    img[0].u.i = id;
    if (name)
        assert_int_equal(sl_value_set_text(r, &img[1], SL_VAL_STRING, name, strlen(name)), SL_OK);
    else
        img[1].kind = SL_VAL_NULL;
}

static void test_round_trip_change_ops(void **state)
{
    (void)state;
    static const char *const cols[] = { "id", "name" };
    static const sl_op_t ops[] = { SL_OP_INSERT, SL_OP_UPDATE, SL_OP_DELETE, SL_OP_TRUNCATE,
                                   SL_OP_READ };
    static const char *const names[] = { "insert", "update", "delete", "truncate", "read" };
    for (int k = 0; k < 5; k++) {
        sl_record_t *a = sl_record_new();
        uint32_t nrows = ops[k] == SL_OP_TRUNCATE ? 0 : 3;
        assert_int_equal(sl_record_init_change(a, "pg1", "public", "items", ops[k], 2, cols, nrows), SL_OK);
        sl_pos_set_pg(&a->pos, 0x16B3748, 0x16B3700, 7);
        a->u.change.origin = "shiftlog_applier";
        for (uint32_t r = 0; r < nrows; r++) {
            if (a->u.change.rows[r].before)
                fill_row(a, a->u.change.rows[r].before, r, r == 1 ? NULL : "old");
            if (a->u.change.rows[r].after)
                fill_row(a, a->u.change.rows[r].after, r, r == 2 ? "" : "new");
        }
        if (ops[k] == SL_OP_UPDATE) {
            /* PostgreSQL unchanged TOAST in the new image */
            a->u.change.rows[0].after[1].kind = SL_VAL_MISSING;
            a->u.change.rows[0].after[1].u.missing = SL_MISSING_UNCHANGED_TOAST;
        }
        sl_record_t *b = round_trip(a, names[k]);
        assert_int_equal(b->u.change.op, ops[k]);
        assert_int_equal(b->u.change.nrows, nrows);
        assert_int_equal(b->pos.kind, SL_POS_PG);
        assert_true(b->pos.seq == 0x16B3748 && b->pos.offset == 0x16B3700 && b->pos.row == 7);
        assert_string_equal(b->u.change.origin, "shiftlog_applier");
        if (nrows) {
            assert_true((b->u.change.rows[0].before != NULL) ==
                        (ops[k] == SL_OP_UPDATE || ops[k] == SL_OP_DELETE));
            assert_true((b->u.change.rows[0].after != NULL) == (ops[k] != SL_OP_DELETE));
        }
        sl_record_destroy(a);
        sl_record_destroy(b);
    }
}

static void test_round_trip_markers_and_schema(void **state)
{
    (void)state;
    sl_record_t *a = sl_record_new();
    assert_int_equal(sl_record_init_commit(a, "shop", "0-1-42", 1700000000000000LL, 1, 12345678901ULL), SL_OK);
    set_mysql_pos(a);
    sl_record_t *b = round_trip(a, "commit");
    assert_int_equal(b->type, SL_REC_COMMIT);
    assert_true(b->u.commit.nrows == 12345678901ULL);
    sl_record_destroy(b);

    sl_record_reset(a);
    assert_int_equal(sl_record_init_commit(a, "shop", NULL, 0, 0, 0), SL_OK);   /* txn unknown */
    b = round_trip(a, "commit_no_txn");
    assert_null(b->u.commit.txn);
    sl_record_destroy(b);

    sl_record_reset(a);
    assert_int_equal(sl_record_init_finish(a, "shop", "snapshot_end", -1), SL_OK);
    b = round_trip(a, "finish");
    assert_int_equal(b->type, SL_REC_FINISH);
    assert_string_equal(b->u.finish.reason, "snapshot_end");
    assert_int_equal(b->pos.kind, SL_POS_NONE);
    sl_record_destroy(b);

    sl_record_reset(a);
    assert_int_equal(sl_record_init_schema(a, "shop", "db", "t", 3), SL_OK);
    set_mysql_pos(a);
    sl_column_t *c = a->u.schema.cols;
    c[0].name = "id"; c[0].kind = SL_VAL_UINT; c[0].source_type = "bigint unsigned"; c[0].pk = 1;
    c[1].name = "price"; c[1].kind = SL_VAL_DECIMAL; c[1].source_type = "decimal(65,30)";
    c[1].nullable = 1; c[1].precision = 65; c[1].scale = 30; c[1].dflt = "1.50";
    static const char *lab[] = { "a", "b,c", "" };
    c[2].name = "tags"; c[2].kind = SL_VAL_SET; c[2].source_type = "set('a','b,c','')";
    c[2].charset = "utf8mb4"; c[2].labels = lab; c[2].nlabels = 3; c[2].nullable = 1;
    a->u.schema.ddl = "ALTER TABLE t ADD tags SET('a','b,c','')";
    b = round_trip(a, "schema");
    assert_int_equal(b->u.schema.ncols, 3);
    assert_int_equal(b->u.schema.cols[1].precision, 65);
    assert_int_equal(b->u.schema.cols[0].precision, -1);
    assert_null(b->u.schema.cols[0].charset);
    assert_string_equal(b->u.schema.cols[2].labels[1], "b,c");
    assert_string_equal(b->u.schema.cols[1].dflt, "1.50");
    assert_null(b->u.schema.cols[0].dflt);
    sl_record_destroy(b);
    sl_record_destroy(a);
}

/* ------------------------------------------------------------------ errors */

static sl_record_t *small_change(void)
{
    static const char *const cols[] = { "id", "name" };
    sl_record_t *a = sl_record_new();
    assert_int_equal(sl_record_init_change(a, "shop", "db", "t", SL_OP_UPDATE, 2, cols, 2), SL_OK);
    set_mysql_pos(a);
    for (int r = 0; r < 2; r++) {
        fill_row(a, a->u.change.rows[r].before, r, "before");
        fill_row(a, a->u.change.rows[r].after, r, "after");
    }
    return a;
}

static void test_decode_errors(void **state)
{
    (void)state;
    sl_record_t *a = small_change(), *b = sl_record_new();
    const void *buf;
    size_t len;
    assert_int_equal(sl_avro_encode(codec, a, &buf, &len, errstr, sizeof(errstr)), SL_OK);
    unsigned char *m = malloc(len + 1);
    memcpy(m, buf, len);
    assert_int_equal(m[0], 0xC3);
    assert_int_equal(m[1], 0x01);

    m[0] = 0x7b;                      /* '{': e.g. a JSON message on the topic */
    assert_int_equal(sl_avro_decode(codec, m, len, b, errstr, sizeof(errstr)), SL_ERR_DECODE);
    assert_non_null(strstr(errstr, "bad magic 7b 01"));
    m[0] = 0xC3;

    m[5] ^= 0xff;
    assert_int_equal(sl_avro_decode(codec, m, len, b, errstr, sizeof(errstr)), SL_ERR_DECODE);
    assert_non_null(strstr(errstr, "unknown schema fingerprint"));
    char want[32];
    uint64_t fp = 0;
    for (int i = 7; i >= 0; i--)
        fp = fp << 8 | m[2 + i];
    snprintf(want, sizeof(want), "%016llx", (unsigned long long)fp);
    assert_non_null(strstr(errstr, want));
    m[5] ^= 0xff;

    /* every truncation fails cleanly, none decodes */
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(sl_avro_decode(codec, m, n, b, errstr, sizeof(errstr)), SL_ERR_DECODE);
        if (n < 10)
            assert_non_null(strstr(errstr, "truncated at byte"));
        else
            assert_non_null(strstr(errstr, "truncated or malformed"));
    }
    m[len] = 0;
    assert_int_equal(sl_avro_decode(codec, m, len + 1, b, errstr, sizeof(errstr)), SL_ERR_DECODE);
    assert_non_null(strstr(errstr, "bytes after the record"));

    /* a corrupt length (source string of +-2^33 bytes) is refused, not allocated */
    static const char *const lens[] = { "\xfe\xff\xff\xff\x7f", "\xff\xff\xff\xff\x7f" };
    for (int k = 0; k < 2; k++) {
        unsigned char *h = malloc(len);
        memcpy(h, m, len);
        memcpy(h + 11, lens[k], 5);
        assert_int_equal(sl_avro_decode(codec, h, len, b, errstr, sizeof(errstr)), SL_ERR_DECODE);
        if (!strstr(errstr, "malformed"))
            fail_msg("%s", errstr);
        free(h);
    }

    /* type CHANGE with a COMMIT body: byte 10 is the type enum, 0 = CHANGE;
     * a message that says COMMIT (2) but carries a ChangeBatch */
    m[10] = 2;
    assert_int_equal(sl_avro_decode(codec, m, len, b, errstr, sizeof(errstr)), SL_ERR_DECODE);

    /* and the intact message still decodes */
    assert_int_equal(sl_avro_decode(codec, m, len, b, errstr, sizeof(errstr)) == SL_OK, 0);
    m[10] = 0;
    assert_int_equal(sl_avro_decode(codec, m, len, b, errstr, sizeof(errstr)), SL_OK);
    assert_true(sl_record_equal(a, b));
    free(m);
    sl_record_destroy(a);
    sl_record_destroy(b);
}

/* A v1 message as fastavro writes it from schemas/shiftlog_record_v1.avsc
 * (tests/it/slavro.encode(rec, 1)): an INSERT of two rows into shop.items
 * (id 7 "seven" 12.30; id -1 NULL 2^64-1) at mysql-bin.000003:1234#5@0-1-42.
 * Such messages stay on Kafka after an upgrade: this build must still read
 * them, and only them: the same bytes under the v1 fingerprint with op 4
 * (READ, which v1 does not have) are refused. */
static const char v1_insert_hex[] =
    "c301b1e8ff4052773971000873686f700206a4130a206d7973716c2d62696e2e3030303030330c302d31"
    "2d3432000873686f700a6974656d7300020c302d312d34328080f28183898506fdffffffffffffffff01"
    "02000006046964086e616d650a70726963650004000206040e0e0a736576656e0c0a31322e3330000002"
    "0604010006ffffffffffffffff0000";
#define V1_OP_BYTE 57

static size_t from_hex(const char *h, unsigned char *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned x;
        assert_int_equal(sscanf(h, "%2x", &x), 1);
        out[n++] = (unsigned char)x;
    }
    return n;
}

/* Both readers decode m to the same record, or both refuse it; *errstr says why. */
static sl_err_t decode_both(const unsigned char *m, size_t len, sl_record_t *a)
{
    sl_record_t *b = sl_record_new();
    char e2[512];
    sl_err_t ea = sl_avro_decode(codec, m, len, a, errstr, sizeof(errstr));
    sl_err_t eb = sl_avro_decode_generic(codec, m, len, b, e2, sizeof(e2));
    assert_int_equal(ea, eb);
    if (ea == SL_OK)
        assert_true(sl_record_equal(a, b));
    else
        assert_string_equal(errstr, e2);
    sl_record_destroy(b);
    return ea;
}

static void test_v1_message_still_decodes(void **state)
{
    (void)state;
    unsigned char m[256];
    size_t len = from_hex(v1_insert_hex, m);
    sl_record_t *a = sl_record_new();
    assert_int_equal(m[V1_OP_BYTE], 0);
    assert_int_equal(decode_both(m, len, a), SL_OK);
    const sl_change_t *c = &a->u.change;
    assert_int_equal(a->type, SL_REC_CHANGE);
    assert_string_equal(a->pos.file, "mysql-bin.000003");
    assert_true(a->pos.offset == 1234 && a->pos.row == 5);
    assert_string_equal(c->table, "items");
    assert_int_equal(c->op, SL_OP_INSERT);
    assert_true(c->schema_id == 0x8000000000000001ULL);
    assert_int_equal(c->nrows, 2);
    assert_null(c->rows[0].before);
    assert_true(c->rows[0].after[0].kind == SL_VAL_INT && c->rows[0].after[0].u.i == 7);
    assert_memory_equal(c->rows[0].after[1].data, "seven", 5);
    assert_memory_equal(c->rows[0].after[2].data, "12.30", 5);
    assert_true(c->rows[1].after[2].kind == SL_VAL_UINT && c->rows[1].after[2].u.u == UINT64_MAX);
    /* the v1 ops other than INSERT too (their images need not match the op here) */
    for (unsigned char op = 1; op <= SL_OP_TRUNCATE; op++) {
        m[V1_OP_BYTE] = (unsigned char)(op * 2);                  /* zigzag */
        assert_int_equal(decode_both(m, len, a), SL_OK);
        assert_int_equal(a->u.change.op, op);
    }
    m[V1_OP_BYTE] = 0;
    dump("v1_insert", m, len);                                    /* a fuzzing seed */
    readers_agree(m, len, "v1_insert");
    /* re-encoded, it is the v3 message of the same record: only the fingerprint differs */
    const void *buf;
    size_t n;
    assert_int_equal(decode_both(m, len, a), SL_OK);
    assert_int_equal(sl_avro_encode(codec, a, &buf, &n, errstr, sizeof(errstr)), SL_OK);
    assert_int_equal(n, len);
    assert_memory_equal((const unsigned char *)buf + 10, m + 10, len - 10);
    assert_int_equal(((const unsigned char *)buf)[2], RECORD_V3_FP & 0xff);
    sl_record_destroy(a);
}

static void test_v1_message_with_read_refused(void **state)
{
    (void)state;
    unsigned char m[256];
    size_t len = from_hex(v1_insert_hex, m);
    sl_record_t *a = sl_record_new();
    m[V1_OP_BYTE] = SL_OP_READ * 2;                                /* zigzag 4 */
    assert_int_equal(decode_both(m, len, a), SL_ERR_DECODE);
    assert_non_null(strstr(errstr, "malformed at byte 58"));
    assert_non_null(strstr(errstr, "enum symbol 4 out of range"));
    assert_int_equal(a->type, SL_REC_CHANGE);                      /* reset, not half-read */
    assert_null(a->source);
    dump("v1_read", m, len);
    readers_agree(m, len, "v1_read");
    /* the same body under the v2 fingerprint is a READ */
    for (int i = 0; i < 8; i++)
        m[2 + i] = (unsigned char)(RECORD_V2_FP >> (8 * i));
    assert_int_equal(decode_both(m, len, a), SL_OK);
    assert_int_equal(a->u.change.op, SL_OP_READ);
    assert_int_equal(a->u.change.nrows, 2);
    assert_non_null(a->u.change.rows[1].after);
    /* and op 5 is refused by v2 as 4 is by v1 */
    m[V1_OP_BYTE] = 10;
    assert_int_equal(decode_both(m, len, a), SL_ERR_DECODE);
    assert_non_null(strstr(errstr, "enum symbol 5 out of range"));
    sl_record_destroy(a);
}

/* The same SCHEMA record as fastavro writes it in v2 and in v3
 * (slavro.encode(rec, 2 / 3)): shop.items (id int pk, qty int NOT NULL with
 * the default 5). v2 has no Column default: read, the column has none; the
 * v3 message carries it, and this build writes v3 byte for byte. */
static const char v2_schema_hex[] =
    "c3014d01b331483caf41060873686f700206a4130a206d7973716c2d62696e2e3030303030330c302d31"
    "2d3432060873686f700a6974656d73040469640406696e74000101000002067174790406696e7400010100"
    "0000000260414c544552205441424c45206974656d73204144442071747920494e54204e4f54204e554c4c"
    "2044454641554c542035";
static const char v3_schema_hex[] =
    "c30193491dd6bf08b139060873686f700206a4130a206d7973716c2d62696e2e3030303030330c302d31"
    "2d3432060873686f700a6974656d73040469640406696e7400010100000200067174790406696e740001"
    "01000000020235000260414c544552205441424c45206974656d73204144442071747920494e54204e4f"
    "54204e554c4c2044454641554c542035";

static void test_column_default_v2_v3(void **state)
{
    (void)state;
    unsigned char m[512];
    size_t len = from_hex(v2_schema_hex, m);
    sl_record_t *a = sl_record_new();
    assert_int_equal(decode_both(m, len, a), SL_OK);
    assert_int_equal(a->type, SL_REC_SCHEMA);
    assert_int_equal(a->u.schema.ncols, 2);
    assert_null(a->u.schema.cols[1].dflt);
    readers_agree(m, len, "v2_schema");
    len = from_hex(v3_schema_hex, m);
    assert_int_equal(decode_both(m, len, a), SL_OK);
    assert_null(a->u.schema.cols[0].dflt);
    assert_string_equal(a->u.schema.cols[1].dflt, "5");
    readers_agree(m, len, "v3_schema");
    const void *buf;
    size_t n;
    assert_int_equal(sl_avro_encode(codec, a, &buf, &n, errstr, sizeof(errstr)), SL_OK);
    assert_int_equal(n, len);
    assert_memory_equal(buf, m, len);
    /* a v3 message under the v2 fingerprint has bytes v2 does not read */
    for (int i = 0; i < 8; i++)
        m[2 + i] = (unsigned char)(RECORD_V2_FP >> (8 * i));
    assert_int_equal(decode_both(m, len, a), SL_ERR_DECODE);
    sl_record_destroy(a);
}

static void test_encode_errors(void **state)
{
    (void)state;
    sl_record_t *a = small_change();
    const void *buf;
    size_t len;
    sl_value_t *v = &a->u.change.rows[1].after[1];
    v->kind = SL_VAL_BIT;
    v->u.bit.nbits = 9;
    v->data = "\x01";
    v->len = 1;                       /* BIT(9) needs 2 bytes */
    assert_int_equal(sl_avro_encode(codec, a, &buf, &len, errstr, sizeof(errstr)), SL_ERR_ENCODE);
    assert_non_null(strstr(errstr, "row 1 column 1"));
    assert_non_null(strstr(errstr, "BIT"));
    v->kind = SL_VAL_SET;
    v->n = 2;
    v->data = "a";
    v->len = 2;                       /* one label, says two */
    assert_int_equal(sl_avro_encode(codec, a, &buf, &len, errstr, sizeof(errstr)), SL_ERR_ENCODE);
    assert_non_null(strstr(errstr, "SET"));
    v->kind = (sl_val_kind_t)99;
    assert_int_equal(sl_avro_encode(codec, a, &buf, &len, errstr, sizeof(errstr)), SL_ERR_ENCODE);
    /* the codec is still usable after a failed encode */
    v->kind = SL_VAL_NULL;
    assert_int_equal(sl_avro_encode(codec, a, &buf, &len, errstr, sizeof(errstr)), SL_OK);
    sl_record_destroy(a);
}

/* ------------------------------------------------------------------ reuse */

static void test_encode_reuses_buffer(void **state)
{
    (void)state;
    sl_record_t *a = small_change(), *b = sl_record_new();
    const void *buf, *first = NULL;
    size_t len, first_len = 0;
    for (int i = 0; i < 100000; i++) {
        a->u.change.rows[0].after[0].u.i = i % 64;     /* same size */
        assert_int_equal(sl_avro_encode(codec, a, &buf, &len, errstr, sizeof(errstr)), SL_OK);
        if (!first) {
            first = buf;
            first_len = len;
        }
        if (buf != first || len != first_len)
            fail_msg("encode %d moved or resized the buffer", i);
        if (i % 1000 == 0) {
            assert_int_equal(sl_avro_decode(codec, buf, len, b, errstr, sizeof(errstr)), SL_OK);
            assert_true(sl_record_equal(a, b));
        }
    }
    sl_record_destroy(a);
    sl_record_destroy(b);
}

static void test_record_arena_reuse(void **state)
{
    (void)state;
    /* decoding the same message again and again into one record reuses its
     * arena: the pointers handed out are the same each time */
    sl_record_t *a = small_change(), *b = sl_record_new();
    const void *buf;
    size_t len;
    assert_int_equal(sl_avro_encode(codec, a, &buf, &len, errstr, sizeof(errstr)), SL_OK);
    assert_int_equal(sl_avro_decode(codec, buf, len, b, errstr, sizeof(errstr)), SL_OK);
    const char *p0 = b->u.change.rows[1].after[1].data;
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(sl_avro_decode(codec, buf, len, b, errstr, sizeof(errstr)), SL_OK);
        if (b->u.change.rows[1].after[1].data != p0)
            fail_msg("decode %d allocated a new arena block", i);
    }
    sl_record_destroy(a);
    sl_record_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc64_known_vectors),
        cmocka_unit_test(test_canonical_form),
        cmocka_unit_test(test_canonical_errors),
        cmocka_unit_test(test_record_schema_fingerprint),
        cmocka_unit_test(test_round_trip_every_value_kind),
        cmocka_unit_test(test_round_trip_change_ops),
        cmocka_unit_test(test_round_trip_markers_and_schema),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_v1_message_still_decodes),
        cmocka_unit_test(test_v1_message_with_read_refused),
        cmocka_unit_test(test_column_default_v2_v3),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_encode_reuses_buffer),
        cmocka_unit_test(test_record_arena_reuse),
    };
    return cmocka_run_group_tests_name("avro", tests, setup, teardown);
}
