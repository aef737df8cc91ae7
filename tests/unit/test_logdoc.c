/* Unit tests of the shared log's document contract (common/sl_logdoc.c):
 * a record written as the miner writes it and read back as the applier's
 * log source reads it is the same record, like the Avro codec's round
 * trip; a document the miner does not write is refused by its `_id`. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sl_logdoc.h"

#define NCOLS 6
static const char *const cols[NCOLS] = {"id", "name", "price", "amount", "blob", "note"};
static const sl_val_kind_t kinds[NCOLS] = {SL_VAL_INT, SL_VAL_STRING, SL_VAL_DOUBLE,
                                           SL_VAL_DECIMAL, SL_VAL_BYTES, SL_VAL_NULL};

static sl_val_kind_t hint(void *ctx, uint32_t idx, const char *name)
{
    (void)ctx;
    return idx < NCOLS && !strcmp(name, cols[idx]) ? kinds[idx] : SL_VAL_NULL;
}

static void image(sl_record_t *rec, sl_value_t *v, int64_t id)
{
    char name[32], amount[32];
    snprintf(name, sizeof name, "row \xf0\x9f\x98\x80 %lld", (long long)id);
    snprintf(amount, sizeof amount, "%lld.0100", (long long)id * 3);
    v[0].kind = SL_VAL_INT;
    v[0].u.i = id;
    assert_int_equal(sl_value_set_text(rec, &v[1], SL_VAL_STRING, name, strlen(name)), SL_OK);
    v[2].kind = SL_VAL_DOUBLE;
    v[2].u.d = 0.1 * (double)id;
    assert_int_equal(sl_value_set_text(rec, &v[3], SL_VAL_DECIMAL, amount, strlen(amount)), SL_OK);
    assert_int_equal(sl_value_set_text(rec, &v[4], SL_VAL_BYTES, "\0\1\2", 3), SL_OK);
    v[5].kind = SL_VAL_NULL;
}

/* An UPDATE of nrows rows at Kafka offset 42, every field the record carries. */
static sl_record_t *update(uint32_t nrows)
{
    sl_record_t *rec = sl_record_new();
    assert_non_null(rec);
    assert_int_equal(sl_record_init_change(rec, "src", "shop", "t.x", SL_OP_UPDATE, NCOLS, cols,
                                           nrows), SL_OK);
    sl_change_t *c = &rec->u.change;
    char err[256];
    assert_int_equal(sl_pos_parse("binlog.000007:4096#0", &rec->pos, err, sizeof err), SL_OK);
    c->txn = sl_record_strdup(rec, "0-1-77");
    c->event_time_us = 1700000000123456;
    c->schema_id = 0x41af3c4831b3014dULL;
    c->server_id = 9;
    c->flags = 2;
    c->origin = sl_record_strdup(rec, "other");
    for (uint32_t r = 0; r < nrows; r++) {
        image(rec, c->rows[r].before, r + 1);
        image(rec, c->rows[r].after, 100 + r);
    }
    return rec;
}

/* The documents of rows [from, nrows) of rec. */
static size_t write_docs(const sl_record_t *rec, uint32_t from, bson_t **docs)
{
    const sl_change_t *c = &rec->u.change;
    sl_logdoc_ctx_t ctx = {.offset = 42, .retention = 1};
    size_t n = 0;
    for (uint32_t r = from; r < c->nrows; r++) {
        bson_t b, a;
        bson_init(&b);
        bson_init(&a);
        assert_int_equal(sl_logdoc_image(&b, c, c->rows[r].before), 0);
        assert_int_equal(sl_logdoc_image(&a, c, c->rows[r].after), 0);
        docs[n] = bson_new();
        assert_int_equal(sl_logdoc_change(docs[n], rec, r, &b, &a, NULL, NULL, &ctx), 0);
        n++;
        bson_destroy(&b);
        bson_destroy(&a);
    }
    return n;
}

static void test_change_round_trip(void **state)
{
    (void)state;
    sl_record_t *in = update(3), *out = sl_record_new();
    bson_t *docs[3];
    size_t n = write_docs(in, 0, docs);
    int64_t offset = -1;
    uint32_t first = 99;
    char err[256] = "";
    if (sl_logdoc_read_change((const bson_t *const *)docs, n, "src", hint, NULL, out, &offset,
                              &first, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    assert_int_equal(offset, 42);
    assert_int_equal(first, 0);
    assert_true(sl_record_equal(in, out));
    /* each document names its row and the name form of a dotted table */
    assert_int_equal(sl_logdoc_int(docs[2], SL_LOGDOC_SUB, -1), 2);
    assert_string_equal(sl_logdoc_str(docs[0], SL_LOGDOC_TABLE), "shop.`t.x`");
    assert_non_null(sl_logdoc_str(docs[0], SL_LOGDOC_ID));
    for (size_t i = 0; i < n; i++)
        bson_destroy(docs[i]);
    sl_record_destroy(in);
    sl_record_destroy(out);
}

/* A read that starts inside a message (rows before it applied already):
 * the same rows at the same indexes, the earlier ones without images. */
static void test_change_from_a_later_row(void **state)
{
    (void)state;
    sl_record_t *in = update(4), *out = sl_record_new();
    bson_t *docs[4];
    size_t n = write_docs(in, 2, docs);
    int64_t offset = -1;
    uint32_t first = 0;
    char err[256] = "";
    if (sl_logdoc_read_change((const bson_t *const *)docs, n, "src", hint, NULL, out, &offset,
                              &first, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    assert_int_equal(first, 2);
    assert_int_equal(out->u.change.nrows, 4);
    assert_true(sl_pos_cmp(&in->pos, &out->pos) == 0);
    for (uint32_t r = 2; r < 4; r++)
        for (uint32_t i = 0; i < NCOLS; i++) {
            assert_true(sl_value_equal(&in->u.change.rows[r].before[i],
                                       &out->u.change.rows[r].before[i]));
            assert_true(sl_value_equal(&in->u.change.rows[r].after[i],
                                       &out->u.change.rows[r].after[i]));
        }
    assert_null(out->u.change.rows[0].after);
    for (size_t i = 0; i < n; i++)
        bson_destroy(docs[i]);
    sl_record_destroy(in);
    sl_record_destroy(out);
}

static void test_commit_round_trip(void **state)
{
    (void)state;
    sl_record_t *in = sl_record_new(), *out = sl_record_new();
    char err[256] = "";
    assert_int_equal(sl_record_init_commit(in, "src", "0-1-77", 1700000000123456, 9, 12345),
                     SL_OK);
    assert_int_equal(sl_pos_parse("binlog.000007:8192#0", &in->pos, err, sizeof err), SL_OK);
    sl_logdoc_ctx_t ctx = {.offset = 43, .retention = 0};
    bson_t *d = bson_new();
    assert_int_equal(sl_logdoc_commit(d, in, &ctx), 0);
    assert_string_equal(sl_logdoc_str(d, SL_LOGDOC_OP), SL_LOGDOC_OP_COMMIT);
    assert_int_equal(sl_logdoc_int(d, SL_LOGDOC_OFFSET, -1), 43);
    if (sl_logdoc_read_commit(d, "src", out, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    assert_true(sl_record_equal(in, out));
    bson_destroy(d);
    sl_record_destroy(in);
    sl_record_destroy(out);
}

/* A change document without its table, or with a row index past the
 * bound, is refused by name, never read as something else. */
static void test_foreign_documents_refused(void **state)
{
    (void)state;
    sl_record_t *in = update(1), *out = sl_record_new();
    bson_t *docs[1];
    write_docs(in, 0, docs);
    bson_t *bad = bson_new();
    bson_copy_to_excluding_noinit(docs[0], bad, SL_LOGDOC_DB, NULL);
    int64_t offset;
    uint32_t first;
    char err[256] = "";
    const bson_t *one[1] = {bad};
    assert_int_equal(sl_logdoc_read_change(one, 1, "src", hint, NULL, out, &offset, &first, err,
                                           sizeof err), SL_ERR_DECODE);
    assert_non_null(strstr(err, sl_logdoc_str(docs[0], SL_LOGDOC_ID)));
    bson_destroy(bad);
    bad = bson_new();
    bson_copy_to_excluding_noinit(docs[0], bad, SL_LOGDOC_SUB, NULL);
    BSON_APPEND_INT64(bad, SL_LOGDOC_SUB, SL_CHANGE_MAX_ROWS);
    one[0] = bad;
    sl_record_reset(out);
    assert_int_equal(sl_logdoc_read_change(one, 1, "src", hint, NULL, out, &offset, &first, err,
                                           sizeof err), SL_ERR_DECODE);
    bson_destroy(bad);
    bson_destroy(docs[0]);
    sl_record_destroy(in);
    sl_record_destroy(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_round_trip),
        cmocka_unit_test(test_change_from_a_later_row),
        cmocka_unit_test(test_commit_round_trip),
        cmocka_unit_test(test_foreign_documents_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
