/* Unit tests of the applier's shared-log document reader
 * (applier/source_mongolog.c) through a local reader (app_logsrc_open_local:
 * documents pushed, no MongoDB): what a change document may ask for. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../applier/applier.h"
#include "../../miner/miner.h"

static app_conf_t conf = {.source_name = "src", .tables = "*", .log_window = 100};

/* A change document as common/sl_logdoc.c writes it: row `sub` of the message at
 * Kafka offset 7, a DELETE of table shop.t with ncols int columns. */
static void change_doc(bson_t *d, int64_t sub, int ncols)
{
    bson_t img;
    char pos[64];
    snprintf(pos, sizeof pos, "binlog.000001:400#%lld", (long long)sub);  /* row 0 at #0 */
    bson_init(d);
    BSON_APPEND_UTF8(d, "_id", "100000000000000000000000000000000000000002");
    BSON_APPEND_UTF8(d, "op", "delete");
    BSON_APPEND_UTF8(d, "pos", pos);
    BSON_APPEND_INT64(d, "offset", 7);
    BSON_APPEND_INT64(d, "sub", sub);
    BSON_APPEND_UTF8(d, "table", "shop.t");
    BSON_APPEND_UTF8(d, "db", "shop");
    BSON_APPEND_UTF8(d, "tbl", "t");
    BSON_APPEND_DOCUMENT_BEGIN(d, "before", &img);
    for (int i = 0; i < ncols; i++) {
        char k[16];
        snprintf(k, sizeof k, "c%d", i);
        BSON_APPEND_INT64(&img, k, i);
    }
    bson_append_document_end(d, &img);
}

static sl_err_t read_one(int64_t sub, int ncols, sl_record_t *rec, app_msg_t *m, char *err,
                         size_t errsz)
{
    app_mapping_t *map;
    app_logsrc_t *s;
    bson_t d;
    assert_int_equal(app_mapping_new(&map, &conf, err, errsz), SL_OK);
    assert_int_equal(app_logsrc_open_local(&s, &conf, map), SL_OK);
    change_doc(&d, sub, ncols);
    assert_int_equal(app_logsrc_push(s, &d), SL_OK);
    bson_destroy(&d);
    sl_err_t e = app_logsrc_next(s, rec, m, err, errsz);
    if (e == SL_OK)
        assert_int_equal(app_logsrc_next(s, rec, m, err, errsz), SL_ERR_TIMEOUT);
    app_logsrc_close(s);
    app_mapping_destroy(map);
    return e;
}

/* Row `sub` of a message read alone (the rows before it applied already):
 * the record keeps the message's row numbering, and memory follows the
 * documents read, not the row index a document names (found by
 * tests/fuzz/fuzz_mongolog: `sub` = 2^31 allocated images for two billion
 * rows; 900 rows of 300 columns allocated 17 MB for one row read). */
static void test_sub_offset_rows(void **state)
{
    (void)state;
    sl_record_t *rec = sl_record_new();
    app_msg_t m;
    char err[512];
    assert_int_equal(read_one(900, 300, rec, &m, err, sizeof err), SL_OK);
    const sl_change_t *c = &rec->u.change;
    assert_int_equal(c->nrows, 901);
    assert_int_equal(m.first_row, 900);
    assert_int_equal(m.offset, 7);
    assert_true(rec->pos.row == 0);                  /* the message's row 0 */
    assert_null(c->rows[0].before);
    assert_null(c->rows[899].before);
    assert_non_null(c->rows[900].before);
    assert_int_equal(c->rows[900].before[299].u.i, 299);
    /* a row index no collector writes (batch.max.rows <= SL_CHANGE_MAX_ROWS) */
    sl_record_reset(rec);
    assert_int_equal(read_one(SL_CHANGE_MAX_ROWS, 1, rec, &m, err, sizeof err), SL_ERR_FATAL);
    assert_non_null(strstr(err, "not a change document the miner writes"));
    sl_record_reset(rec);
    assert_int_equal(read_one(INT64_C(1) << 31, 1, rec, &m, err, sizeof err), SL_ERR_FATAL);
    sl_record_destroy(rec);
}

/* A commit document whose Kafka offset is INT64_MAX (no topic has one: a
 * corrupt document) made `offset + 1` overflow (signed, found by
 * fuzz_mongolog): such an offset counts as unknown, like a missing one. */
static void test_offset_out_of_range(void **state)
{
    (void)state;
    app_mapping_t *map;
    app_logsrc_t *s;
    sl_record_t *rec = sl_record_new();
    app_msg_t m;
    char err[512];
    bson_t d;
    assert_int_equal(app_mapping_new(&map, &conf, err, sizeof err), SL_OK);
    assert_int_equal(app_logsrc_open_local(&s, &conf, map), SL_OK);
    bson_init(&d);
    BSON_APPEND_UTF8(&d, "_id", "100000000000000000000000000000000000000003");
    BSON_APPEND_UTF8(&d, "op", "commit");
    BSON_APPEND_UTF8(&d, "pos", "binlog.000001:500#1");
    BSON_APPEND_INT64(&d, "offset", INT64_MAX);
    assert_int_equal(app_logsrc_push(s, &d), SL_OK);
    bson_destroy(&d);
    assert_int_equal(app_logsrc_next(s, rec, &m, err, sizeof err), SL_OK);
    assert_int_equal(rec->type, SL_REC_COMMIT);
    assert_true(m.offset == -1);
    assert_true(app_logsrc_next_offset(s) == -1);
    app_logsrc_close(s);
    app_mapping_destroy(map);
    /* a change document's row index past int64's end is no row */
    sl_record_reset(rec);
    assert_int_equal(read_one(INT64_MAX, 1, rec, &m, err, sizeof err), SL_ERR_FATAL);
    sl_record_destroy(rec);
}

/* A snapshot row (op READ) goes through the shared log as it came: the
 * miner's documents (common/sl_logdoc.c) of a READ message read back as a READ
 * record with the same after images and positions (the reader knew only
 * the four streaming ops and refused "read" as not a miner document). */
static void test_read_op_round_trip(void **state)
{
    (void)state;
    static const char *const cols[] = { "id", "name" };
    sl_record_t *a = sl_record_new(), *rec = sl_record_new();
    app_mapping_t *map;
    app_logsrc_t *s;
    app_msg_t m;
    char err[512];
    assert_int_equal(sl_record_init_change(a, "src", "shop", "t", SL_OP_READ, 2, cols, 2), SL_OK);
    assert_int_equal(sl_pos_set_mysql(&a->pos, "binlog.000001", 400, 0), SL_OK);
    for (uint32_t r = 0; r < 2; r++) {
        a->u.change.rows[r].after[0].kind = SL_VAL_INT;
        a->u.change.rows[r].after[0].u.i = 10 + r;
        assert_int_equal(sl_value_set_text(a, &a->u.change.rows[r].after[1], SL_VAL_STRING,
                                           r ? "b" : "a", 1), SL_OK);
    }
    assert_int_equal(app_mapping_new(&map, &conf, err, sizeof err), SL_OK);
    assert_int_equal(app_logsrc_open_local(&s, &conf, map), SL_OK);
    sl_logdoc_ctx_t ctx = { .offset = 7, .retention = 0 };
    for (uint32_t r = 0; r < 2; r++) {
        bson_t d, after;
        bson_init(&d);
        bson_init(&after);
        assert_int_equal(sl_logdoc_image(&after, &a->u.change, a->u.change.rows[r].after), 0);
        assert_int_equal(sl_logdoc_change(&d, a, r, NULL, &after, NULL, NULL, &ctx), 0);
        assert_int_equal(app_logsrc_push(s, &d), SL_OK);
        bson_destroy(&after);
        bson_destroy(&d);
    }
    if (app_logsrc_next(s, rec, &m, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    const sl_change_t *c = &rec->u.change;
    assert_int_equal(rec->type, SL_REC_CHANGE);
    assert_int_equal(c->op, SL_OP_READ);
    assert_int_equal(c->nrows, 2);
    assert_int_equal(m.offset, 7);
    assert_true(rec->pos.offset == 400 && rec->pos.row == 0);
    for (uint32_t r = 0; r < 2; r++) {
        assert_null(c->rows[r].before);
        assert_non_null(c->rows[r].after);
        assert_int_equal(c->rows[r].after[0].u.i, 10 + r);
        assert_memory_equal(c->rows[r].after[1].data, r ? "b" : "a", 1);
    }
    app_logsrc_close(s);
    app_mapping_destroy(map);
    sl_record_destroy(a);
    sl_record_destroy(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sub_offset_rows),
        cmocka_unit_test(test_offset_out_of_range),
        cmocka_unit_test(test_read_op_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
