/* Unit tests: the miner's exact BSON values (common/sl_bson.c) — every
 * value kind to BSON and back, Decimal128 limits (34 digits; DECIMAL(65,30)
 * falls back to a tagged string), position keys sorting like sl_pos_cmp. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../miner/miner.h"
#include "sl_value_text.h"

static void roundtrip(sl_record_t *rec, const sl_value_t *v, sl_val_kind_t hint)
{
    bson_t b = BSON_INITIALIZER;
    bson_iter_t it;
    sl_value_t back;
    char err[256];
    assert_int_equal(sl_bson_append_value(&b, "c", 1, v), 0);
    assert_true(bson_iter_init_find(&it, &b, "c"));
    assert_int_equal(sl_bson_read_value(&it, hint, rec, &back, err, sizeof err), SL_OK);
    if (!sl_value_equal(v, &back)) {
        char *j = bson_as_relaxed_extended_json(&b, NULL);
        fail_msg("kind %s does not round-trip: %s", sl_val_kind_name(v->kind), j);
    }
    bson_destroy(&b);
}

static void test_every_kind(void **state)
{
    (void)state;
    sl_record_t *rec = sl_record_new();
    sl_value_t v;
    memset(&v, 0, sizeof v);
    v.kind = SL_VAL_NULL;
    roundtrip(rec, &v, SL_VAL_NULL);
    v.kind = SL_VAL_BOOL; v.u.b = 1;
    roundtrip(rec, &v, SL_VAL_BOOL);
    v.kind = SL_VAL_INT; v.u.i = INT64_MIN;
    roundtrip(rec, &v, SL_VAL_INT);
    v.kind = SL_VAL_UINT; v.u.u = UINT64_MAX;
    roundtrip(rec, &v, SL_VAL_UINT);
    v.kind = SL_VAL_UINT; v.u.u = 42;
    roundtrip(rec, &v, SL_VAL_UINT);
    v.kind = SL_VAL_FLOAT; v.u.f = 1.1f;
    roundtrip(rec, &v, SL_VAL_FLOAT);
    v.kind = SL_VAL_DOUBLE; v.u.d = -0.0;
    roundtrip(rec, &v, SL_VAL_DOUBLE);
    v.kind = SL_VAL_DOUBLE; v.u.d = NAN;
    roundtrip(rec, &v, SL_VAL_DOUBLE);
    static const char *decs[] = {
        "-12.3400", "0", "0.00", "0.000000000000000000000000000001", "NaN", "Infinity",
        "-Infinity", "1234567890123456789012345678901234",            /* 34 digits */
        "12345678901234567890123456789012345.123456789012345678901234567891", /* 65 */
        "99999999999999999999999999999999999", "100",
    };
    for (size_t i = 0; i < sizeof decs / sizeof *decs; i++) {
        sl_value_set_text(rec, &v, SL_VAL_DECIMAL, decs[i], strlen(decs[i]));
        roundtrip(rec, &v, SL_VAL_DECIMAL);
    }
    sl_value_set_text(rec, &v, SL_VAL_STRING, "a\0b", 3);
    roundtrip(rec, &v, SL_VAL_STRING);
    sl_value_set_text(rec, &v, SL_VAL_STRING, "\xff\xfe latin1", 9);   /* not UTF-8 */
    roundtrip(rec, &v, SL_VAL_STRING);
    sl_value_set_text(rec, &v, SL_VAL_BYTES, "\0\1\2", 3);
    roundtrip(rec, &v, SL_VAL_BYTES);
    sl_value_set_bit(rec, &v, 10, "\x02\xaa", 2);
    roundtrip(rec, &v, SL_VAL_BIT);
    const char *labels[] = {"x", "z"};
    sl_value_set_set(rec, &v, labels, 2);
    roundtrip(rec, &v, SL_VAL_SET);
    sl_value_set_typed(rec, &v, "json", "{\"k\": 1}", 8);
    roundtrip(rec, &v, SL_VAL_TYPED);
    sl_value_set_temporal(rec, &v, SL_T_DATETIME, "2026-01-02 03:04:05.123456", 26, 1,
                          1767323045123456LL, 6, 0, 0);
    roundtrip(rec, &v, SL_VAL_TEMPORAL);
    sl_value_set_temporal(rec, &v, SL_T_TIME, "-838:59:58.999", 14, 1, -3020398999000LL, 3, 0,
                          0);
    roundtrip(rec, &v, SL_VAL_TEMPORAL);
    sl_value_set_temporal(rec, &v, SL_T_TIMESTAMPTZ, "infinity", 8, 0, 0, 6, 1, 3600);
    roundtrip(rec, &v, SL_VAL_TEMPORAL);
    memset(&v, 0, sizeof v);
    v.kind = SL_VAL_MISSING;
    v.u.missing = SL_MISSING_UNCHANGED_TOAST;
    roundtrip(rec, &v, SL_VAL_MISSING);
    sl_record_destroy(rec);
}

static void test_decimal_forms(void **state)
{
    (void)state;
    bson_t b = BSON_INITIALIZER;
    bson_iter_t it;
    sl_value_t v;
    sl_record_t *rec = sl_record_new();
    const char *d65 = "12345678901234567890123456789012345.123456789012345678901234567891";
    sl_value_set_text(rec, &v, SL_VAL_DECIMAL, d65, strlen(d65));
    sl_bson_append_value(&b, "big", 3, &v);
    sl_value_set_text(rec, &v, SL_VAL_DECIMAL, "-12.30", 6);
    sl_bson_append_value(&b, "small", 5, &v);
    assert_true(bson_iter_init_find(&it, &b, "big"));
    assert_true(BSON_ITER_HOLDS_DOCUMENT(&it));              /* {_t: "decimal", v: ...} */
    assert_true(bson_iter_init_find(&it, &b, "small"));
    assert_true(BSON_ITER_HOLDS_DECIMAL128(&it));
    assert_int_equal(sl_decimal_digits("0.000120", 8), 3);
    bson_destroy(&b);
    sl_record_destroy(rec);
}

/* Decimal128 -> plain text is bounded: a value whose plain text does not fit
 * (1E+6000 has 6001 characters) is refused, never reported as written. */
static void test_decimal_plain_bounded(void **state)
{
    (void)state;
    static const struct {
        const char *in, *plain;          /* plain NULL: does not fit in 160 bytes */
    } cases[] = {
        {"1E+6000", NULL},
        {"-1E-6176", NULL},
        {"9.999999999999999999999999999999999E+6144", NULL},
        {"1234567890123456789012345678901234E-6176", NULL},
        {"NaN", "NaN"},
        {"Inf", "Infinity"},
        {"-Infinity", "-Infinity"},
        {"9999999999999999999999999999999999", "9999999999999999999999999999999999"},
        {"-9999999999999999999999999999999999E-34", "-0.9999999999999999999999999999999999"},
        {"1E+158", NULL},                 /* 159 characters + NUL = 160: fits */
        {"1E+159", NULL},                 /* 160 characters: does not */
    };
    char out[160];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bson_decimal128_t d;
        assert_true(bson_decimal128_from_string(cases[i].in, &d));
        memset(out, 'x', sizeof out);
        int n = sl_bson_dec128_to_plain(&d, out, sizeof out);
        assert_non_null(memchr(out, '\0', sizeof out));
        if (!strcmp(cases[i].in, "1E+158")) {
            assert_int_equal(n, 159);
            assert_int_equal(strlen(out), 159);
        } else if (cases[i].plain) {
            assert_int_equal(n, (int)strlen(cases[i].plain));
            assert_string_equal(out, cases[i].plain);
        } else if (n >= 0) {
            fail_msg("%s: %d characters reported written into %zu bytes", cases[i].in, n,
                     sizeof out);
        }
    }
    bson_decimal128_t d;
    assert_true(bson_decimal128_from_string("12345", &d));
    assert_int_equal(sl_bson_dec128_to_plain(&d, out, 6), 5);
    assert_true(sl_bson_dec128_to_plain(&d, out, 5) < 0);
    assert_true(sl_bson_dec128_to_plain(&d, out, 0) < 0);
    assert_true(bson_decimal128_from_string("NaN", &d));
    assert_true(sl_bson_dec128_to_plain(&d, out, 3) < 0);

    /* read back from a log document: a decode error, not a read past the buffer */
    sl_record_t *rec = sl_record_new();
    for (int hint = 0; hint < 2; hint++) {
        bson_t b = BSON_INITIALIZER;
        bson_iter_t it;
        sl_value_t v;
        char err[256] = "";
        assert_true(bson_decimal128_from_string("1E+6000", &d));
        assert_true(bson_append_decimal128(&b, "c", 1, &d));
        assert_true(bson_iter_init_find(&it, &b, "c"));
        assert_int_equal(sl_bson_read_value(&it, hint ? SL_VAL_UINT : SL_VAL_DECIMAL, rec, &v,
                                            err, sizeof err), SL_ERR_DECODE);
        assert_non_null(strstr(err, "1E+6000"));
        bson_destroy(&b);
    }
    sl_record_destroy(rec);
}

/* A DATE is a day count; BSON dates are int64 milliseconds: a day count past
 * +-106751991167 does not fit (days * 86400000 overflowed, signed: undefined,
 * a wrong date stored). The log keeps the exact value (s, us) without the
 * derived date field d. */
static void test_date_beyond_bson_range(void **state)
{
    (void)state;
    static const int64_t days[] = {106751991167LL, -106751991167LL, 106751991168LL,
                                   -106751991168LL, 200000000000LL, INT64_MAX, INT64_MIN};
    sl_record_t *rec = sl_record_new();
    for (size_t i = 0; i < sizeof days / sizeof *days; i++) {
        bson_t b = BSON_INITIALIZER;
        bson_iter_t it, d;
        sl_value_t v;
        int fits = days[i] >= -106751991167LL && days[i] <= 106751991167LL;
        sl_value_set_temporal(rec, &v, SL_T_DATE, "x", 1, 1, days[i], 0, 0, 0);
        assert_int_equal(sl_bson_append_value(&b, "c", 1, &v), 0);
        assert_true(bson_iter_init(&it, &b) && bson_iter_find_descendant(&it, "c.us", &d));
        assert_true(bson_iter_int64(&d) == days[i]);
        if (fits) {
            assert_true(bson_iter_init(&it, &b) && bson_iter_find_descendant(&it, "c.d", &d));
            assert_true(bson_iter_date_time(&d) == days[i] * 86400000LL);
        } else if (bson_iter_init(&it, &b) && bson_iter_find_descendant(&it, "c.d", &d)) {
            fail_msg("day %lld stored as date %lld", (long long)days[i],
                     (long long)bson_iter_date_time(&d));
        }
        int64_t ms = 0;
        assert_int_equal(sl_bson_date_ms(days[i], &ms), fits ? 0 : -1);
        if (fits)
            assert_true(ms == days[i] * 86400000LL);
        bson_destroy(&b);
        roundtrip(rec, &v, SL_VAL_TEMPORAL);
    }
    sl_record_destroy(rec);
}

/* A table schema in the shared log and back (the miner writes it, the applier's
 * log source and the miner's control read it): every column field, the
 * default (wire v3) too, and a column without one stays without. */
static void test_schema_doc_round_trip(void **state)
{
    (void)state;
    sl_record_t *a = sl_record_new(), *b = sl_record_new();
    char err[256];
    assert_int_equal(sl_record_init_schema(a, "", "shop", "t", 2), SL_OK);
    sl_column_t *c = a->u.schema.cols;
    static const char *lab[] = { "x", "y" };
    c[0].name = "id"; c[0].kind = SL_VAL_INT; c[0].source_type = "int"; c[0].pk = 1;
    c[1].name = "e"; c[1].kind = SL_VAL_STRING; c[1].source_type = "enum('x','y')";
    c[1].nullable = 1; c[1].charset = "utf8mb4"; c[1].labels = lab; c[1].nlabels = 2;
    c[1].dflt = "it's";
    a->u.schema.ddl = "ALTER TABLE t ADD e ENUM('x','y') DEFAULT 'it''s'";
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "db", "shop");
    BSON_APPEND_UTF8(&doc, "tbl", "t");
    BSON_APPEND_UTF8(&doc, "ddl", a->u.schema.ddl);
    assert_int_equal(sl_bson_schema_columns(&doc, "columns", &a->u.schema), 0);
    assert_int_equal(sl_bson_schema_from_doc(&doc, b, err, sizeof(err)), SL_OK);
    assert_int_equal(b->u.schema.ncols, 2);
    assert_null(b->u.schema.cols[0].dflt);
    assert_string_equal(b->u.schema.cols[1].dflt, "it's");
    assert_true(sl_record_equal(a, b));
    bson_destroy(&doc);
    sl_record_destroy(a);
    sl_record_destroy(b);
}

static void test_pos_keys_sort(void **state)
{
    (void)state;
    sl_pos_t a, b, back;
    char ka[SL_BSON_ID_LEN + 1], kb[SL_BSON_ID_LEN + 1];
    sl_pos_set_mysql(&a, "binlog.000009", 4000000000ULL, 7);
    sl_pos_set_mysql(&b, "binlog.000010", 4, 0);
    sl_bson_doc_id(&a, SL_BSON_T_CHANGE, ka);
    sl_bson_doc_id(&b, SL_BSON_T_SCHEMA, kb);
    assert_int_equal(strlen(ka), SL_BSON_ID_LEN);
    assert_true(strcmp(ka, kb) < 0 && sl_pos_cmp(&a, &b) < 0);
    assert_int_equal(sl_bson_pos_key_parse(ka, &back), SL_OK);
    assert_int_equal(sl_pos_cmp(&a, &back), 0);
    /* a commit sorts after the change at the same position, a gap after the commit */
    char kc[SL_BSON_ID_LEN + 1], kg[SL_BSON_ID_LEN + 1];
    sl_bson_doc_id(&a, SL_BSON_T_COMMIT, kc);
    sl_bson_doc_id(&a, SL_BSON_T_GAP, kg);
    assert_true(strcmp(ka, kc) < 0 && strcmp(kc, kg) < 0);
    assert_int_equal(sl_bson_pos_key_parse("zz", &back), SL_ERR_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind),
        cmocka_unit_test(test_decimal_forms),
        cmocka_unit_test(test_decimal_plain_bounded),
        cmocka_unit_test(test_date_beyond_bson_range),
        cmocka_unit_test(test_pos_keys_sort),
        cmocka_unit_test(test_schema_doc_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
