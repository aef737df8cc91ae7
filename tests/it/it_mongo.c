/* it_mongo: a libmongoc round trip through the MongoDB server at $SL_MONGO_URI
 * (the stand-in of deploy/local, or a real mongod) of the BSON types the
 * miner and the applier rely on: Decimal128 (incl. NaN/±Inf and 34 digits),
 * int64 min/max, binary with NUL bytes, dates, strings with NUL and 4-byte
 * UTF-8. It writes one document, reads it back by _id and compares every
 * field exactly (cmocka). The pytest side reads the same document with an
 * independent client (pymongo). Usage: it_mongo DB COLLECTION */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <mongoc/mongoc.h>

static const char *g_db;
static const char *g_coll;

static const char *decimals[] = {
    "1234567890123456789012345678901234",      /* 34 digits: Decimal128's limit */
    "-0.000000000000000000000000000000001",
    "9.999999999999999999999999999999999E+6144",
    "NaN", "Infinity", "-Infinity", "0", "-0"
};
static const uint8_t blob[] = {0x00, 0x01, 0x00, 0xff, 0xfe, 0x00};
static const char text_nul[] = "a\0b\xf0\x9f\x98\x80z";   /* NUL and U+1F600 */

static void build(bson_t *doc)
{
    bson_t arr;
    bson_decimal128_t d;
    char key[16];
    BSON_APPEND_UTF8(doc, "_id", "roundtrip-1");
    BSON_APPEND_INT64(doc, "i64min", INT64_MIN);
    BSON_APPEND_INT64(doc, "i64max", INT64_MAX);
    BSON_APPEND_INT64(doc, "i64big", (int64_t)9007199254740993LL);   /* 2^53 + 1 */
    bson_append_array_begin(doc, "dec", -1, &arr);
    for (size_t i = 0; i < sizeof(decimals) / sizeof(decimals[0]); i++) {
        assert_true(bson_decimal128_from_string(decimals[i], &d));
        snprintf(key, sizeof key, "%zu", i);
        bson_append_decimal128(&arr, key, -1, &d);
    }
    bson_append_array_end(doc, &arr);
    bson_append_binary(doc, "bin", -1, BSON_SUBTYPE_BINARY, blob, sizeof blob);
    bson_append_binary(doc, "empty_bin", -1, BSON_SUBTYPE_BINARY, (const uint8_t *)"", 0);
    bson_append_utf8(doc, "empty_str", -1, "", 0);
    BSON_APPEND_NULL(doc, "nul");
    bson_append_utf8(doc, "text", -1, text_nul, (int)(sizeof text_nul - 1));
    bson_append_date_time(doc, "date", -1, (int64_t)-62135596800000LL);     /* 0001-01-01 */
    bson_append_date_time(doc, "date2", -1, (int64_t)253402300799999LL);    /* 9999-12-31T23:59:59.999 */
    bson_append_double(doc, "dbl", -1, 0.1);
}

static void test_roundtrip(void **state)
{
    (void)state;
    const char *uri_s = getenv("SL_MONGO_URI");
    assert_non_null(uri_s);
    bson_error_t err;
    mongoc_client_t *client = mongoc_client_new(uri_s);
    assert_non_null(client);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, g_db, g_coll);

    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    bool ok = mongoc_client_command_simple(client, "admin", ping, NULL, NULL, &err);
    bson_destroy(ping);
    if (!ok)
        fail_msg("mongo at %s: ping failed: %s", uri_s, err.message);

    bson_t doc = BSON_INITIALIZER;
    build(&doc);
    bson_t *sel = BCON_NEW("_id", BCON_UTF8("roundtrip-1"));
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    if (!mongoc_collection_replace_one(coll, sel, &doc, opts, NULL, &err))
        fail_msg("replace_one: %s", err.message);

    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, sel, NULL, NULL);
    const bson_t *got;
    assert_true(mongoc_cursor_next(cur, &got));

    /* Exact byte equality of the whole document is the strongest check:
     * every type and every value came back unchanged. */
    if (got->len != doc.len || memcmp(bson_get_data(got), bson_get_data(&doc), doc.len) != 0) {
        char *a = bson_as_canonical_extended_json(&doc, NULL);
        char *b = bson_as_canonical_extended_json(got, NULL);
        fail_msg("document changed in the round trip:\n sent %s\n got  %s", a, b);
    }
    /* And field by field for the types most at risk. */
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, got, "i64min"));
    assert_int_equal(bson_iter_type(&it), BSON_TYPE_INT64);
    assert_true(bson_iter_int64(&it) == INT64_MIN);
    assert_true(bson_iter_init_find(&it, got, "dec"));
    bson_iter_t ai;
    assert_true(bson_iter_recurse(&it, &ai));
    size_t n = 0;
    while (bson_iter_next(&ai)) {
        bson_decimal128_t d;
        char s[BSON_DECIMAL128_STRING];
        assert_int_equal(bson_iter_type(&ai), BSON_TYPE_DECIMAL128);
        assert_true(bson_iter_decimal128(&ai, &d));
        bson_decimal128_to_string(&d, s);
        bson_decimal128_t want;
        bson_decimal128_from_string(decimals[n], &want);
        assert_memory_equal(&d, &want, sizeof d);
        n++;
    }
    assert_int_equal(n, sizeof(decimals) / sizeof(decimals[0]));
    assert_false(mongoc_cursor_next(cur, &got));
    if (mongoc_cursor_error(cur, &err))
        fail_msg("cursor: %s", err.message);

    /* Print what we stored, for the independent client to compare with. */
    char *json = bson_as_canonical_extended_json(&doc, NULL);
    fprintf(stdout, "DOC %s\n", json);
    bson_free(json);

    mongoc_cursor_destroy(cur);
    bson_destroy(sel);
    bson_destroy(opts);
    bson_destroy(&doc);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: it_mongo DB COLLECTION  (server from $SL_MONGO_URI)\n");
        return 2;
    }
    g_db = argv[1];
    g_coll = argv[2];
    mongoc_init();
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_roundtrip) };
    int rc = cmocka_run_group_tests_name("it_mongo", tests, NULL, NULL);
    mongoc_cleanup();
    return rc;
}
