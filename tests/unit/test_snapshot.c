/* Unit tests of the snapshot engine (collector/snapshot.c) over a source
 * kept in memory: the DBLog window (a key the stream changes between LOW
 * and HIGH is dropped from the chunk; a SCHEMA or TRUNCATE of the table
 * spoils the chunk, read again), READ records at HIGH's position, the
 * progress text and a resume from it, the watermark payload. The real
 * backends are tested against real servers in tests/it/. No servers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../collector/snapshot.h"

#define NROWS 10

typedef struct mem_src_s {
    int64_t ids[NROWS];
    int     n;
    char    marks[64][80];   /* watermarks written, in order */
    int     nmarks;
    int     reads;
} mem_src_t;

typedef struct sink_s {
    int64_t  ids[64];        /* READ rows published, in order */
    uint32_t rows_at[64];    /* their pos.row */
    int      n;
    int      schemas;
} sink_t;

static const char *cols[2] = {"id", "val"};

static sl_err_t mem_tables(void *ctx,
                           sl_err_t (*add)(void *, const char *, const char *, const char *),
                           void *arg, char *errstr, size_t errstr_size)
{
    sl_err_t err = add(arg, "db", "t", NULL);
    return err ? err : add(arg, "db", "nokey", "no primary key");
}

/* A key range of the one-column key: > lo (unless after), <= hi. */
static sl_err_t mem_read(void *ctx, const char *db, const char *table, const char *after,
                         const col_snap_key_t *lo, const col_snap_key_t *hi,
                         uint32_t limit, sl_record_t *out, uint32_t *key, uint32_t *nkey,
                         char **last, char *errstr, size_t errstr_size)
{
    mem_src_t *m = ctx;
    if ((!after && lo && lo->n != 1) || (hi && hi->n != 1)) {
        snprintf(errstr, errstr_size, "the key has 1 column");
        return SL_ERR_INVALID;
    }
    int64_t from = after ? strtoll(after, NULL, 10) : lo ? strtoll(lo->vals[0], NULL, 10)
                 : INT64_MIN;
    int64_t upto = hi ? strtoll(hi->vals[0], NULL, 10) : INT64_MAX;
    int64_t sel[NROWS];
    uint32_t n = 0;
    m->reads++;
    for (int i = 0; i < m->n && n < limit; i++)
        if (m->ids[i] > from && m->ids[i] <= upto)
            sel[n++] = m->ids[i];
    if (sl_record_init_change(out, "src", db, table, SL_OP_READ, 2, cols, n))
        return SL_ERR_NOMEM;
    for (uint32_t r = 0; r < n; r++) {
        sl_value_t *v = out->u.change.rows[r].after;
        v[0].kind = SL_VAL_INT;
        v[0].u.i = sel[r];
        v[1].kind = SL_VAL_NULL;
    }
    key[0] = 0;
    *nkey = 1;
    if (n) {
        char t[32];
        snprintf(t, sizeof t, "%lld", (long long)sel[n - 1]);
        *last = strdup(t);
    }
    return SL_OK;
}

static sl_err_t mem_mark(void *ctx, char kind, const char *id, char *errstr,
                         size_t errstr_size)
{
    mem_src_t *m = ctx;
    col_snap_format_mark(m->marks[m->nmarks++], sizeof m->marks[0], "src", kind, id);
    return SL_OK;
}

static sl_err_t sink_schema(void *ctx, const char *db, const char *table, uint64_t *id,
                            const char *const **names, uint32_t *ncols, char *errstr,
                            size_t errstr_size)
{
    ((sink_t *)ctx)->schemas++;
    *id = 42;
    *names = cols;
    *ncols = 2;
    return SL_OK;
}

static sl_err_t sink_put(void *ctx, sl_record_t *rec, char *errstr, size_t errstr_size)
{
    sink_t *k = ctx;
    assert_int_equal(rec->type, SL_REC_CHANGE);
    assert_int_equal(rec->u.change.op, SL_OP_READ);
    assert_int_equal(rec->u.change.schema_id, 42);
    for (uint32_t r = 0; r < rec->u.change.nrows; r++) {
        k->ids[k->n] = rec->u.change.rows[r].after[0].u.i;
        k->rows_at[k->n++] = rec->pos.row + r;
    }
    return SL_OK;
}

static col_conf_t conf_for(uint32_t chunk)
{
    col_conf_t c;
    memset(&c, 0, sizeof c);
    c.source_name = "src";
    c.snapshot_mode = COL_SNAP_INITIAL;
    c.snapshot_chunk_rows = chunk;
    c.batch_max_rows = 2;                 /* several READ batches per chunk */
    c.batch_max_bytes = 1 << 20;
    return c;
}

static col_snap_t *engine(const col_conf_t *c, mem_src_t *m, sink_t *k, const char *progress)
{
    col_snap_src_t src = {.ctx = m, .tables = mem_tables, .read_chunk = mem_read,
                          .watermark = mem_mark};
    col_snap_sink_t sink = {.ctx = k, .schema = sink_schema, .put = sink_put};
    col_snap_t *s = NULL;
    char err[256];
    assert_int_equal(col_snap_new(&s, c, &src, &sink, NULL, NULL, progress, 1, err,
                                  sizeof err), SL_OK);
    return s;
}

/* A stream UPDATE of id in db.t (before and after image). */
static void stream_update(col_snap_t *s, const char *table, int64_t id)
{
    sl_record_t *r = sl_record_new();
    assert_int_equal(sl_record_init_change(r, "src", "db", table, SL_OP_UPDATE, 2, cols, 1),
                     SL_OK);
    for (int m = 0; m < 2; m++) {
        sl_value_t *v = m ? r->u.change.rows[0].after : r->u.change.rows[0].before;
        v[0].kind = SL_VAL_INT;
        v[0].u.i = id;
        v[1].kind = SL_VAL_NULL;
    }
    col_snap_observe(s, r);
    sl_record_destroy(r);
}

/* Delivers the last two marks written (LOW, HIGH) as the stream would, with
 * `between` run in the window. */
static void deliver(col_snap_t *s, mem_src_t *m, void (*between)(col_snap_t *, void *),
                    void *arg)
{
    char kind, id[64], err[256];
    sl_pos_t pos;
    sl_pos_set_mysql(&pos, "mysql-bin.000001", 1000 + (uint64_t)m->nmarks, 0);
    for (int i = m->nmarks - 2; i < m->nmarks; i++) {
        assert_true(col_snap_parse_mark(m->marks[i], strlen(m->marks[i]), "src", &kind, id,
                                        sizeof id));
        if (kind == 'H' && between)
            between(s, arg);
        assert_int_equal(col_snap_watermark(s, kind, id, &pos, "0-1-1", 1, err, sizeof err),
                         SL_OK);
    }
}

static void update_3(col_snap_t *s, void *arg)
{
    stream_update(s, "t", 3);
    stream_update(s, "other", 4);         /* another table: no effect */
}

static void schema_change(col_snap_t *s, void *arg)
{
    sl_record_t *r = sl_record_new();
    assert_int_equal(sl_record_init_schema(r, "src", "db", "t", 2), SL_OK);
    col_snap_observe(s, r);
    sl_record_destroy(r);
}

static void test_window(void **state)
{
    (void)state;
    mem_src_t m = {.ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, .n = NROWS};
    sink_t k = {0};
    col_conf_t c = conf_for(4);
    col_snap_t *s = engine(&c, &m, &k, NULL);
    char err[256];

    /* busy (the publisher's long transactions) from the queue on, not only with a chunk */
    assert_true(col_snap_busy(s));
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    assert_true(col_snap_waiting(s));
    assert_true(col_snap_busy(s));
    assert_int_equal(m.nmarks, 2);
    stream_update(s, "t", 1);             /* before LOW: not in the window */
    deliver(s, &m, update_3, NULL);
    assert_false(col_snap_waiting(s));
    /* 1, 2, 4 published (3 changed in the window: the stream's change wins) */
    assert_int_equal(k.n, 3);
    assert_int_equal(k.ids[0], 1);
    assert_int_equal(k.ids[1], 2);
    assert_int_equal(k.ids[2], 4);
    assert_int_equal(k.rows_at[2], 2);    /* pos.row 0, 1, 2 across two batches */
    assert_string_equal(col_snap_progress(s),
                        "shiftlog-snapshot 2\ndb\tt\tc=4\tr=3\n");

    /* a SCHEMA of the table in the window: the chunk is read again */
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    deliver(s, &m, schema_change, NULL);
    assert_int_equal(k.n, 3);
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    deliver(s, &m, NULL, NULL);
    assert_int_equal(k.n, 7);             /* 5..8 */
    assert_int_equal(k.ids[3], 5);
    assert_int_equal(k.ids[6], 8);

    /* a HIGH of another chunk id (an earlier session's) is ignored */
    sl_pos_t pos;
    sl_pos_set_mysql(&pos, "mysql-bin.000001", 5000, 0);
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    assert_int_equal(col_snap_watermark(s, 'H', "1-1", &pos, NULL, 0, err, sizeof err), SL_OK);
    assert_true(col_snap_waiting(s));
    deliver(s, &m, NULL, NULL);
    assert_int_equal(k.n, 9);             /* 9, 10: fewer than a chunk, the table ends */
    assert_true(col_snap_done(s));
    assert_false(col_snap_busy(s));       /* txn.max.ms again */
    assert_string_equal(col_snap_progress(s), "");
    int reads = m.reads;
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    assert_int_equal(m.reads, reads);     /* nothing left to read */
    col_snap_destroy(s);
}

static void test_resume(void **state)
{
    (void)state;
    mem_src_t m = {.ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, .n = NROWS};
    sink_t k = {0};
    col_conf_t c = conf_for(4);
    char err[256];
    /* what a checkpoint holds after the chunk up to 8, the next table queued */
    col_snap_t *s = engine(&c, &m, &k, "shiftlog-snapshot 1\ndb\tt\t8\ndb\tu\\tv\n");
    assert_string_equal(col_snap_progress(s), "shiftlog-snapshot 2\ndb\tt\tc=8\ndb\tu\\tv\n");
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    deliver(s, &m, NULL, NULL);
    assert_int_equal(k.n, 2);
    assert_int_equal(k.ids[0], 9);
    assert_string_equal(col_snap_progress(s), "shiftlog-snapshot 2\ndb\tu\\tv\n");
    assert_false(col_snap_done(s));
    col_snap_destroy(s);

    /* a resumed snapshot is done when its last table ends (initial_only stops then) */
    k.n = 0;
    s = engine(&c, &m, &k, "shiftlog-snapshot 1\ndb\tt\t8\n");
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    deliver(s, &m, NULL, NULL);
    assert_int_equal(k.n, 2);
    assert_true(col_snap_done(s));
    col_snap_destroy(s);

    /* a progress of another version is refused with a sentence */
    col_snap_src_t src = {.ctx = &m, .tables = mem_tables, .read_chunk = mem_read,
                          .watermark = mem_mark};
    col_snap_sink_t sink = {.ctx = &k, .schema = sink_schema, .put = sink_put};
    assert_int_equal(col_snap_new(&s, &c, &src, &sink, NULL, NULL, "v0\n", 0, err, sizeof err),
                     SL_ERR_PARSE);
    assert_non_null(strstr(err, "not of this version"));
}

static void test_request_and_marks(void **state)
{
    (void)state;
    mem_src_t m = {.ids = {1, 2}, .n = 2};
    sink_t k = {0};
    col_conf_t c = conf_for(4);
    c.snapshot_mode = COL_SNAP_NEVER;
    char err[256], kind, id[64];
    col_snap_t *s = engine(&c, &m, &k, NULL);
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    assert_int_equal(m.nmarks, 0);        /* never: nothing on a first start */
    sl_pos_t pos;
    sl_pos_set_mysql(&pos, "mysql-bin.000001", 10, 0);
    assert_int_equal(col_snap_watermark(s, 'S', "db.t", &pos, NULL, 0, err, sizeof err), SL_OK);
    assert_int_equal(col_snap_watermark(s, 'S', "db.t", &pos, NULL, 0, err, sizeof err), SL_OK);
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    deliver(s, &m, NULL, NULL);
    assert_int_equal(k.n, 2);             /* queued once, read once */
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    assert_int_equal(m.nmarks, 2);
    col_snap_destroy(s);

    assert_false(col_snap_parse_mark("srcx:L:1", 8, "src", &kind, id, sizeof id));
    assert_false(col_snap_parse_mark("src:X:1", 7, "src", &kind, id, sizeof id));
    assert_false(col_snap_parse_mark("src:L", 5, "src", &kind, id, sizeof id));
    assert_true(col_snap_parse_mark("a:b:H:7-9", 9, "a:b", &kind, id, sizeof id));
    assert_int_equal(kind, 'H');
    assert_string_equal(id, "7-9");
}

/* Key-range requests: 'S' marks "<id>+<after>+<upto> <name>" queue the
 * rows above after and at most upto, several ranges of one table each
 * their own entry, kept in the progress text; a range that does not fit
 * the key is refused under its id, nothing read. */
static void test_ranges(void **state)
{
    (void)state;
    mem_src_t m = {.ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, .n = NROWS};
    sink_t k = {0};
    col_conf_t c = conf_for(4);
    c.snapshot_mode = COL_SNAP_NEVER;
    char err[256];
    col_snap_t *s = engine(&c, &m, &k, NULL);
    sl_pos_t pos;
    sl_pos_set_mysql(&pos, "mysql-bin.000001", 10, 0);
    assert_int_equal(col_snap_watermark(s, 'S', "71+[2]+[7] db.t", &pos, NULL, 0, err,
                                        sizeof err), SL_OK);
    assert_int_equal(col_snap_watermark(s, 'S', "72+%5B8%5D+ db.t", &pos, NULL, 0, err,
                                        sizeof err), SL_OK);
    assert_int_equal(col_snap_watermark(s, 'S', "73++[1] db.t", &pos, NULL, 0, err,
                                        sizeof err), SL_OK);
    assert_int_equal(col_snap_watermark(s, 'S', "74+[1,2]+ db.t", &pos, NULL, 0, err,
                                        sizeof err), SL_OK);
    assert_int_equal(col_snap_watermark(s, 'S', "75+[null]+ db.t", &pos, NULL, 0, err,
                                        sizeof err), SL_OK);
    assert_string_equal(col_snap_progress(s),
                        "shiftlog-snapshot 2\ndb\tt\ti=71\ta=[2]\tu=[7]\n"
                        "db\tt\ti=72\ta=[8]\ndb\tt\ti=73\tu=[1]\ndb\tt\ti=74\ta=[1,2]\n");
    for (int i = 0; i < 8 && !col_snap_done(s); i++) {
        assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
        if (col_snap_waiting(s))
            deliver(s, &m, NULL, NULL);
    }
    /* (2, 7]: 3..6 then 7; (8, end]: 9, 10; (start, 1]: 1; [1,2] refused */
    int64_t want[] = {3, 4, 5, 6, 7, 9, 10, 1};
    assert_int_equal(k.n, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(k.ids[i], want[i]);
    assert_string_equal(col_snap_progress(s), "");

    /* a restart in the middle of a range resumes it, bounds and all */
    col_snap_destroy(s);
    k.n = 0;
    s = engine(&c, &m, &k, "shiftlog-snapshot 2\ndb\tt\tc=4\ti=71\ta=[2]\tu=[7]\tr=2\n");
    assert_int_equal(col_snap_step(s, err, sizeof err), SL_OK);
    deliver(s, &m, NULL, NULL);
    assert_int_equal(k.n, 3);             /* 5, 6, 7 */
    assert_int_equal(k.ids[0], 5);
    assert_int_equal(k.ids[2], 7);
    assert_string_equal(col_snap_progress(s), "");
    col_snap_destroy(s);
}

static void test_key_parse(void **state)
{
    (void)state;
    col_snap_key_t k;
    char err[256];
    assert_int_equal(col_snap_key_parse(" [17, \"a\\\"b\", -1.5e3, true ] ", &k, err,
                                        sizeof err), 0);
    assert_int_equal(k.n, 4);
    assert_string_equal(k.vals[0], "17");
    assert_string_equal(k.vals[1], "a\"b");
    assert_string_equal(k.vals[2], "-1.5e3");
    assert_string_equal(k.vals[3], "true");
    col_snap_key_free(&k);
    assert_int_equal(col_snap_key_parse("[\"\\u00e9\\ud83d\\ude00\"]", &k, err, sizeof err), 0);
    assert_string_equal(k.vals[0], "\xc3\xa9\xf0\x9f\x98\x80");
    col_snap_key_free(&k);
    const char *bad[] = {"17", "[]", "[null]", "[[1]]", "[{}]", "[1,]", "[1] x", "[01]",
                         "[\"\\u0000\"]", "[\"\\ud800\"]", "[\"a]", "[1 2]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(col_snap_key_parse(bad[i], &k, err, sizeof err), -1);
        assert_int_equal(k.n, 0);
    }
    assert_non_null(strstr(err, "[1 2]"));

    /* a bound in a mark's first word and back */
    sl_buf_t b = SL_BUF_INIT;
    col_snap_mark_put(&b, "[\"a b+c%\"]");
    assert_string_equal(b.data, "[\"a%20b%2Bc%25\"]");
    char *t = col_snap_mark_get(b.data, b.len);
    assert_string_equal(t, "[\"a b+c%\"]");
    free(t);
    sl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_request_and_marks),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_key_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
