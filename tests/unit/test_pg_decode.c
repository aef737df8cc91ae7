/* Unit tests of the pgoutput decoder (collector/pg_decode.c, pg_stream.c,
 * pg_types.c) on hand-built protocol 2 messages: text -> typed values
 * (edges the server can produce), positions and batching, NULL vs unchanged
 * TOAST vs old key images, TRUNCATE, streamed transactions with a whole and
 * a subtransaction abort, malformed input. No server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sl_avro.h"
#include "sl_record.h"
#include "../../collector/pg_decode.h"


/* ------------------------------------------------------------ message builder */

typedef struct mb_s { uint8_t b[4096]; size_t n; } mb_t;

static void u8(mb_t *m, uint8_t v) { m->b[m->n++] = v; }
static void u16(mb_t *m, uint16_t v) { u8(m, v >> 8); u8(m, v & 255); }
static void u32(mb_t *m, uint32_t v) { u16(m, v >> 16); u16(m, v & 0xFFFF); }
static void u64(mb_t *m, uint64_t v) { u32(m, v >> 32); u32(m, (uint32_t)v); }
static void str(mb_t *m, const char *s) { memcpy(m->b + m->n, s, strlen(s) + 1); m->n += strlen(s) + 1; }
static void txt(mb_t *m, const char *s)
{
    if (!s) { u8(m, 'n'); return; }
    if (s == (const char *)1) { u8(m, 'u'); return; }
    u8(m, 't'); u32(m, (uint32_t)strlen(s)); memcpy(m->b + m->n, s, strlen(s)); m->n += strlen(s);
}
#define TOAST ((const char *)1)

/* captured records; of the last SCHEMA: its first column's type and labels */
static sl_record_t *got[64];
static int ngot;
static char schema_type[64];
static uint32_t schema_nlabels;

static sl_err_t sink(void *ctx, const sl_record_t *rec, char *e, size_t n)
{
    /* deep copy through JSON-free path: keep type, pos and a few fields */
    sl_record_t *c = sl_record_new();
    c->type = rec->type;
    c->pos = rec->pos;
    if (rec->type == SL_REC_CHANGE) {
        const sl_change_t *ch = &rec->u.change;
        sl_record_init_change(c, rec->source, ch->db, ch->table, ch->op, ch->ncols, ch->columns,
                              ch->nrows);
        for (uint32_t r = 0; r < ch->nrows; r++)
            for (uint32_t i = 0; i < ch->ncols; i++) {
                if (ch->rows[r].before) {
                    c->u.change.rows[r].before[i] = ch->rows[r].before[i];
                    c->u.change.rows[r].before[i].data =
                        sl_record_memdup(c, ch->rows[r].before[i].data, ch->rows[r].before[i].len);
                }
                if (ch->rows[r].after) {
                    c->u.change.rows[r].after[i] = ch->rows[r].after[i];
                    c->u.change.rows[r].after[i].data =
                        sl_record_memdup(c, ch->rows[r].after[i].data, ch->rows[r].after[i].len);
                }
            }
    } else if (rec->type == SL_REC_COMMIT) {
        c->u.commit.nrows = rec->u.commit.nrows;
        c->u.commit.event_time_us = rec->u.commit.event_time_us;
    } else if (rec->type == SL_REC_SCHEMA) {
        const sl_schema_t *sc = &rec->u.schema;
        sl_record_init_schema(c, rec->source, sc->db, sc->table, sc->ncols);
        c->type = SL_REC_SCHEMA;
        c->pos = rec->pos;
        c->u.schema.ddl = sc->ddl ? sl_record_strdup(c, sc->ddl) : NULL;
        if (sc->ncols) {
            snprintf(schema_type, sizeof schema_type, "%s", sc->cols[0].source_type);
            schema_nlabels = sc->cols[0].nlabels;
        }
    }
    if (rec->type == SL_REC_CHANGE)
        c->u.change.event_time_us = rec->u.change.event_time_us;
    got[ngot++] = c;
    return SL_OK;
}

static void clear_got(void)
{
    for (int i = 0; i < ngot; i++)
        sl_record_destroy(got[i]);
    ngot = 0;
}

static pg_dec_t *mkdec(void)
{
    pg_dec_conf_t dc = {.source = "src", .batch_max_rows = 2, .sink = sink};
    pg_dec_t *d = NULL;
    assert_int_equal(pg_dec_new(&d, &dc), SL_OK);
    return d;
}

static void feed(pg_dec_t *d, uint64_t lsn, mb_t *m)
{
    char e[256];
    sl_err_t err = pg_dec_message(d, lsn, m->b, m->n, 0, e, sizeof(e));
    if (err)
        fail_msg("decode: %s", e);
}

static void mk_relation(mb_t *m, int streamed_xid)
{
    m->n = 0;
    u8(m, 'R');
    if (streamed_xid)
        u32(m, (uint32_t)streamed_xid);
    u32(m, 16384); str(m, "public"); str(m, "t"); u8(m, 'd'); u16(m, 3);
    u8(m, 1); str(m, "id"); u32(m, 23); u32(m, (uint32_t)-1);
    u8(m, 0); str(m, "v"); u32(m, 25); u32(m, (uint32_t)-1);
    u8(m, 0); str(m, "ts"); u32(m, 1184); u32(m, 3);
}

/* Relation relid named public.<name>: one key column id int4, v text. */
static void mk_rel(mb_t *m, uint32_t relid, const char *name)
{
    m->n = 0;
    u8(m, 'R');
    u32(m, relid); str(m, "public"); str(m, name); u8(m, 'd'); u16(m, 2);
    u8(m, 1); str(m, "id"); u32(m, 23); u32(m, (uint32_t)-1);
    u8(m, 0); str(m, "v"); u32(m, 25); u32(m, (uint32_t)-1);
}

static void mk_ins2(mb_t *m, uint32_t relid, const char *id)
{
    m->n = 0; u8(m, 'I'); u32(m, relid); u8(m, 'N'); u16(m, 2); txt(m, id); txt(m, "x");
}

static void mk_begin(mb_t *m, uint64_t final, uint32_t xid)
{
    m->n = 0; u8(m, 'B'); u64(m, final); u64(m, 0); u32(m, xid);
}

static void mk_commit(mb_t *m, uint64_t c, uint64_t end)
{
    m->n = 0; u8(m, 'C'); u8(m, 0); u64(m, c); u64(m, end); u64(m, 0);
}

static void mk_insert(mb_t *m, int streamed_xid, const char *id, const char *v, const char *ts)
{
    m->n = 0; u8(m, 'I');
    if (streamed_xid)
        u32(m, (uint32_t)streamed_xid);
    u32(m, 16384); u8(m, 'N'); u16(m, 3); txt(m, id); txt(m, v); txt(m, ts);
}

/* ------------------------------------------------------------ tests */

static void value_of(const char *typname, uint32_t oid, int32_t typmod, const char *text,
                     sl_value_t *out, sl_record_t *rec)
{
    pg_types_t *t = NULL;
    char e[256];
    assert_int_equal(pg_types_new(&t, NULL, NULL), SL_OK);
    const pg_type_t *ty = pg_types_get(t, oid);
    assert_string_equal(ty->name, typname);
    sl_err_t err = pg_value_from_text(rec, out, ty, typmod, text, strlen(text), e, sizeof(e));
    if (err)
        fail_msg("%s %s: %s", typname, text, e);
    pg_types_destroy(t);
}

static void test_types(void **state)
{
    sl_record_t *r = sl_record_new();
    sl_value_t v;
    value_of("int8", 20, -1, "-9223372036854775808", &v, r);
    assert_int_equal(v.kind, SL_VAL_INT);
    assert_true(v.u.i == INT64_MIN);
    value_of("float4", 700, -1, "1e-45", &v, r);
    assert_int_equal(v.kind, SL_VAL_FLOAT);
    assert_true(v.u.f > 0);
    value_of("float8", 701, -1, "-Infinity", &v, r);
    assert_true(v.u.d < 0 && v.u.d * 0 != 0);
    value_of("numeric", 1700, -1, "NaN", &v, r);
    assert_int_equal(v.kind, SL_VAL_DECIMAL);
    value_of("bytea", 17, -1, "\\x00ff", &v, r);
    assert_int_equal(v.kind, SL_VAL_BYTES);
    assert_int_equal(v.len, 2);
    assert_int_equal((uint8_t)v.data[1], 0xff);
    value_of("bit", 1560, 10, "1000000001", &v, r);
    assert_int_equal(v.kind, SL_VAL_BIT);
    assert_int_equal(v.u.bit.nbits, 10);
    assert_int_equal((uint8_t)v.data[0], 0x02);
    assert_int_equal((uint8_t)v.data[1], 0x01);
    value_of("date", 1082, -1, "0001-01-01 BC", &v, r);
    assert_int_equal(v.u.t.has_micros, 1);
    assert_true(v.u.t.micros == -719528);  /* 1 BC Jan 1 = astronomical year 0 */
    value_of("timestamptz", 1184, 3, "2024-02-29 10:00:00.123+05:30", &v, r);
    assert_true(v.u.t.micros == 1709181000123000LL);
    assert_int_equal(v.u.t.tz_offset_s, 19800);
    assert_int_equal(v.u.t.precision, 3);
    value_of("timestamp", 1114, -1, "294276-12-31 23:59:59.999999", &v, r);
    assert_int_equal(v.u.t.has_micros, 0);  /* beyond int64 µs since 1970: text only */
    value_of("timestamp", 1114, -1, "infinity", &v, r);
    assert_int_equal(v.u.t.has_micros, 0);
    value_of("timetz", 1266, -1, "23:59:59.999999-15:59", &v, r);
    assert_int_equal(v.u.t.tz_offset_s, -(15 * 3600 + 59 * 60));
    value_of("inet", 869, -1, "::1", &v, r);
    assert_int_equal(v.kind, SL_VAL_TYPED);
    assert_string_equal(v.u.typed.type, "inet");
    /* a value that does not parse is kept as text, with an error */
    pg_types_t *t = NULL;
    char e[256];
    pg_types_new(&t, NULL, NULL);
    assert_int_equal(pg_value_from_text(r, &v, pg_types_get(t, 23), -1, "12x", 3, e, sizeof(e)),
                     SL_ERR_DECODE);
    assert_int_equal(v.kind, SL_VAL_TYPED);
    /* unknown OIDs without a resolver: Typed "oid<N>" */
    assert_string_equal(pg_types_get(t, 99999)->name, "oid99999");
    pg_types_destroy(t);
    sl_record_destroy(r);
}

static void test_txn_positions_toast(void **state)
{
    pg_dec_t *d = mkdec();
    mb_t m;
    mk_begin(&m, 0x1000, 7); feed(d, 0x900, &m);
    mk_relation(&m, 0); feed(d, 0x910, &m);
    for (int i = 0; i < 3; i++) {
        mk_insert(&m, 0, i == 0 ? "1" : i == 1 ? "2" : "3", i == 1 ? NULL : "x", "2000-01-01 00:00:00+00");
        feed(d, 0x910, &m); /* same LSN (multi-insert): distinct by index */
    }
    /* update keeping the key, TOASTed v unchanged */
    m.n = 0; u8(&m, 'U'); u32(&m, 16384); u8(&m, 'N'); u16(&m, 3);
    txt(&m, "1"); txt(&m, TOAST); txt(&m, NULL);
    feed(d, 0x920, &m);
    /* delete with an old key image */
    m.n = 0; u8(&m, 'D'); u32(&m, 16384); u8(&m, 'K'); u16(&m, 3);
    txt(&m, "2"); txt(&m, NULL); txt(&m, NULL);
    feed(d, 0x930, &m);
    m.n = 0; u8(&m, 'T'); u32(&m, 1); u8(&m, 0); u32(&m, 16384);
    feed(d, 0x940, &m);
    mk_commit(&m, 0x1000, 0x1050); feed(d, 0x1000, &m);

    /* SCHEMA, INSERT x2, INSERT x1, UPDATE, DELETE, TRUNCATE, COMMIT */
    assert_int_equal(ngot, 7);
    assert_int_equal(got[0]->type, SL_REC_SCHEMA);
    assert_int_equal(got[1]->u.change.nrows, 2);
    assert_true(got[1]->pos.seq == 0x1000 && got[1]->pos.offset == 0x910 && got[1]->pos.row == 0);
    assert_true(got[2]->pos.row == 2);
    assert_int_equal(got[1]->u.change.rows[1].after[1].kind, SL_VAL_NULL);
    const sl_row_t *u = &got[3]->u.change.rows[0];
    assert_int_equal(got[3]->u.change.op, SL_OP_UPDATE);
    assert_int_equal(u->after[1].kind, SL_VAL_MISSING);
    assert_int_equal(u->after[1].u.missing, SL_MISSING_UNCHANGED_TOAST);
    assert_int_equal(u->after[2].kind, SL_VAL_NULL);
    assert_int_equal(u->before[0].kind, SL_VAL_INT);
    assert_int_equal(u->before[1].u.missing, SL_MISSING_NOT_IN_IMAGE);
    const sl_row_t *dl = &got[4]->u.change.rows[0];
    assert_int_equal(dl->before[0].u.i, 2);
    assert_int_equal(dl->before[1].kind, SL_VAL_MISSING);
    assert_int_equal(got[5]->u.change.op, SL_OP_TRUNCATE);
    assert_true(got[5]->pos.row == 5);
    assert_int_equal(got[6]->type, SL_REC_COMMIT);
    assert_true(got[6]->pos.seq == 0x1000 && got[6]->pos.offset == 0x1050 && got[6]->pos.row == 6);
    assert_true(pg_dec_pos_lsn(&got[6]->pos) == 0x1050);
    for (int i = 1; i < ngot; i++)
        assert_true(sl_pos_cmp(&got[i - 1]->pos, &got[i]->pos) <= 0);
    clear_got();
    pg_dec_destroy(d);
}

static void stream_msg(pg_stream_t *s, pg_dec_t *d, uint64_t lsn, mb_t *m, int expect_handled)
{
    char e[256];
    int handled = -1;
    if (pg_stream_message(s, d, lsn, m->b, m->n, &handled, e, sizeof(e)))
        fail_msg("stream: %s", e);
    assert_int_equal(handled, expect_handled);
}

static void test_streamed(void **state)
{
    pg_dec_t *d = mkdec();
    pg_stream_t *s = NULL;
    mb_t m;
    assert_int_equal(pg_stream_new(&s, "/tmp", 0), SL_OK);
    /* xid 10: chunk 1 */
    m.n = 0; u8(&m, 'S'); u32(&m, 10); u8(&m, 1); stream_msg(s, d, 0, &m, 1);
    mk_relation(&m, 10); stream_msg(s, d, 0x100, &m, 1);
    mk_insert(&m, 10, "1", "a", NULL); stream_msg(s, d, 0x110, &m, 1);
    mk_insert(&m, 11, "2", "sub", NULL); stream_msg(s, d, 0x120, &m, 1);  /* subxact 11 */
    m.n = 0; u8(&m, 'E'); stream_msg(s, d, 0, &m, 1);
    /* xid 20 streams and aborts */
    m.n = 0; u8(&m, 'S'); u32(&m, 20); u8(&m, 1); stream_msg(s, d, 0, &m, 1);
    mk_relation(&m, 20); stream_msg(s, d, 0x130, &m, 1);
    mk_insert(&m, 20, "9", "aborted", NULL); stream_msg(s, d, 0x140, &m, 1);
    m.n = 0; u8(&m, 'E'); stream_msg(s, d, 0, &m, 1);
    m.n = 0; u8(&m, 'A'); u32(&m, 20); u32(&m, 20); stream_msg(s, d, 0, &m, 1);
    /* a plain transaction in between is not the stream's */
    mk_begin(&m, 0x200, 30); stream_msg(s, d, 0x150, &m, 0);
    assert_int_equal(ngot, 0);
    feed(d, 0x150, &m);
    mk_relation(&m, 0); feed(d, 0x160, &m);
    mk_insert(&m, 0, "5", "plain", NULL); feed(d, 0x160, &m);
    mk_commit(&m, 0x200, 0x210); feed(d, 0x200, &m);
    assert_int_equal(ngot, 3);  /* schema, insert, commit */
    clear_got();
    /* xid 10: chunk 2, subxact 11 rolled back, then commit */
    m.n = 0; u8(&m, 'S'); u32(&m, 10); u8(&m, 0); stream_msg(s, d, 0, &m, 1);
    mk_insert(&m, 10, "3", "c", NULL); stream_msg(s, d, 0x300, &m, 1);
    m.n = 0; u8(&m, 'E'); stream_msg(s, d, 0, &m, 1);
    m.n = 0; u8(&m, 'A'); u32(&m, 10); u32(&m, 11); stream_msg(s, d, 0, &m, 1);
    assert_int_equal(pg_stream_stats(s)->open, 1);
    m.n = 0; u8(&m, 'c'); u32(&m, 10); u8(&m, 0); u64(&m, 0x400); u64(&m, 0x410); u64(&m, 0);
    stream_msg(s, d, 0x400, &m, 1);
    /* the insert batch holds rows 1 and 3 (2 was in the aborted subxact) */
    assert_int_equal(ngot, 2);
    assert_int_equal(got[0]->type, SL_REC_CHANGE);
    assert_int_equal(got[0]->u.change.nrows, 2);
    assert_int_equal(got[0]->u.change.rows[0].after[0].u.i, 1);
    assert_int_equal(got[0]->u.change.rows[1].after[0].u.i, 3);
    assert_true(got[0]->pos.seq == 0x400 && got[0]->pos.offset == 0x110 && got[0]->pos.row == 0);
    assert_int_equal(got[1]->type, SL_REC_COMMIT);
    assert_int_equal(pg_stream_stats(s)->open, 0);
    assert_int_equal(pg_stream_stats(s)->aborted, 1);
    clear_got();
    pg_stream_destroy(s);
    pg_dec_destroy(d);
}

/* A commit time near the end of int64 (pgoutput sends int64 µs since 2000;
 * PostgreSQL's own 'infinity' is INT64_MAX) overflowed adding the 1970-2000
 * offset (signed overflow, found by tests/fuzz/fuzz_pgoutput): such times are
 * held at INT64_MAX, the earliest ones stay exact. */
static void test_commit_time_bounds(void **state)
{
    pg_dec_t *d = mkdec();
    mb_t m;
    char e[256];
    m.n = 0; u8(&m, 'B'); u64(&m, 0x1000); u64(&m, (uint64_t)INT64_MAX - 5); u32(&m, 7);
    feed(d, 0x900, &m);
    mk_relation(&m, 0); feed(d, 0x910, &m);
    mk_insert(&m, 0, "1", "x", NULL); feed(d, 0x910, &m);
    m.n = 0; u8(&m, 'C'); u8(&m, 0); u64(&m, 0x1000); u64(&m, 0x1050);
    u64(&m, (uint64_t)INT64_MAX - 5);
    feed(d, 0x1000, &m);
    assert_int_equal(ngot, 3);
    assert_true(got[1]->u.change.event_time_us == INT64_MAX);
    assert_true(got[2]->u.commit.event_time_us == INT64_MAX);
    clear_got();
    /* a streamed transaction's commit time goes through the same conversion */
    assert_int_equal(pg_dec_replay_begin(d, 8, 0x2000, INT64_MAX, e, sizeof(e)), SL_OK);
    mk_insert(&m, 0, "2", "y", NULL); feed(d, 0x1100, &m);
    assert_int_equal(pg_dec_replay_commit(d, 0x2000, 0x2050, INT64_MAX, e, sizeof(e)), SL_OK);
    assert_true(got[ngot - 1]->u.commit.event_time_us == INT64_MAX);
    clear_got();
    /* the smallest time stays exact */
    m.n = 0; u8(&m, 'B'); u64(&m, 0x3000); u64(&m, (uint64_t)INT64_MIN); u32(&m, 9);
    feed(d, 0x2900, &m);
    mk_insert(&m, 0, "3", "z", NULL); feed(d, 0x2910, &m);
    m.n = 0; u8(&m, 'C'); u8(&m, 0); u64(&m, 0x3000); u64(&m, 0x3050); u64(&m, (uint64_t)INT64_MIN);
    feed(d, 0x3000, &m);
    assert_true(got[ngot - 1]->u.commit.event_time_us == INT64_MIN + PG_EPOCH_US);
    clear_got();
    pg_dec_destroy(d);
}

/* Batches cut by their encoded size (batch.max.bytes), measured: a Delete
 * of a 50-column table carries its old key only ('K': a few bytes), while
 * its row encodes 49 MISSING values (~100 bytes); counted from the message
 * text, 40 of them made one ~4 KB batch above a 400-byte bound. Each CHANGE
 * now encodes to at most the bound (or holds one row), the row that did not
 * fit opens the next batch with its own position, no row lost or doubled. */
static void test_batches_by_encoded_size(void **state)
{
    pg_dec_conf_t dc = {.source = "src", .batch_max_rows = 1000, .batch_max_bytes = 400,
                        .sink = sink};
    pg_dec_t *d = NULL;
    sl_avro_codec_t *codec;
    char e[256];
    mb_t m;
    assert_int_equal(pg_dec_new(&d, &dc), SL_OK);
    assert_int_equal(sl_avro_codec_new(&codec, e, sizeof(e)), SL_OK);
    mk_begin(&m, 0x1000, 7); feed(d, 0x900, &m);
    m.n = 0; u8(&m, 'R'); u32(&m, 16385); str(&m, "public"); str(&m, "w"); u8(&m, 'd');
    u16(&m, 50);
    for (int i = 0; i < 50; i++) {
        char name[8];
        snprintf(name, sizeof(name), "c%d", i);
        u8(&m, i == 0); str(&m, name); u32(&m, 23); u32(&m, (uint32_t)-1);
    }
    feed(d, 0x910, &m);
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", i);
        m.n = 0; u8(&m, 'D'); u32(&m, 16385); u8(&m, 'K'); u16(&m, 50); txt(&m, id);
        for (int k = 1; k < 50; k++)
            txt(&m, NULL);
        feed(d, 0x1000 + (uint64_t)i, &m);
    }
    mk_commit(&m, 0x1000, 0x1050); feed(d, 0x2000, &m);
    int batches = 0, next = 0;
    for (int k = 0; k < ngot; k++) {
        if (got[k]->type != SL_REC_CHANGE)
            continue;
        const sl_change_t *c = &got[k]->u.change;
        const void *buf;
        size_t len;
        assert_int_equal(sl_avro_encode(codec, got[k], &buf, &len, e, sizeof(e)), SL_OK);
        if (c->nrows > 1 && len > dc.batch_max_bytes)
            fail_msg("batch %d: %u rows encode to %zu bytes > %zu", batches, c->nrows, len,
                     dc.batch_max_bytes);
        assert_true(got[k]->pos.row == (uint32_t)next);        /* its first row's position */
        assert_true(got[k]->pos.offset == 0x1000 + (uint64_t)next);
        for (uint32_t r = 0; r < c->nrows; r++, next++) {
            assert_int_equal(c->rows[r].before[0].u.i, next);
            assert_int_equal(c->rows[r].before[49].kind, SL_VAL_MISSING);
        }
        batches++;
    }
    assert_int_equal(next, 40);
    assert_true(batches >= 10);
    assert_int_equal(got[ngot - 1]->u.commit.nrows, 40);
    clear_got();
    sl_avro_codec_destroy(codec);
    pg_dec_destroy(d);
}

/* Stream Commit / Stream Abort come only between Stream Stop and the next
 * Stream Start (pgoutput asserts it). Inside a block they freed the spill
 * file the block was writing to, and the block's next change was written
 * through the freed pointer (heap use-after-free, found by fuzz_pgoutput):
 * now they are a protocol error, and the stream state stays usable. */
static void test_stream_end_inside_block(void **state)
{
    pg_dec_t *d = mkdec();
    pg_stream_t *s = NULL;
    mb_t m;
    char e[256];
    int handled;
    assert_int_equal(pg_stream_new(&s, "/tmp", 0), SL_OK);
    for (int k = 0; k < 2; k++) {
        m.n = 0; u8(&m, 'S'); u32(&m, 10); u8(&m, 1); stream_msg(s, d, 0, &m, 1);
        mk_relation(&m, 10); stream_msg(s, d, 0x100, &m, 1);
        m.n = 0;
        if (k == 0) {                               /* whole-transaction abort */
            u8(&m, 'A'); u32(&m, 10); u32(&m, 10);
        } else {                                    /* commit */
            u8(&m, 'c'); u32(&m, 10); u8(&m, 0); u64(&m, 0x400); u64(&m, 0x410); u64(&m, 0);
        }
        assert_int_equal(pg_stream_message(s, d, 0x110, m.b, m.n, &handled, e, sizeof(e)),
                         SL_ERR_DECODE);
        assert_non_null(strstr(e, "inside"));
        /* the block goes on into the spill file that is still open */
        mk_insert(&m, 10, "1", "a", NULL); stream_msg(s, d, 0x120, &m, 1);
        m.n = 0; u8(&m, 'E'); stream_msg(s, d, 0, &m, 1);
        assert_int_equal(pg_stream_stats(s)->open, 1);
        m.n = 0; u8(&m, 'A'); u32(&m, 10); u32(&m, 10); stream_msg(s, d, 0, &m, 1);
        assert_int_equal(pg_stream_stats(s)->open, 0);
    }
    clear_got();
    pg_stream_destroy(s);
    pg_dec_destroy(d);
}

static void test_malformed(void **state)
{
    pg_dec_t *d = mkdec();
    mb_t m;
    char e[256];
    /* a change before its Relation */
    mk_begin(&m, 0x10, 1); feed(d, 0x1, &m);
    mk_insert(&m, 0, "1", "a", NULL);
    assert_int_equal(pg_dec_message(d, 2, m.b, m.n, 0, e, sizeof(e)), SL_ERR_DECODE);
    assert_non_null(strstr(e, "before its Relation"));
    /* every truncation of a Relation message is an error, never a crash */
    mk_relation(&m, 0);
    for (size_t n = 1; n < m.n; n++)
        assert_int_equal(pg_dec_message(d, 3, m.b, n, 0, e, sizeof(e)), SL_ERR_DECODE);
    feed(d, 3, &m);
    mk_insert(&m, 0, "1", "a", "2000-01-01 00:00:00+00");
    for (size_t n = 1; n < m.n; n++)
        assert_int_equal(pg_dec_message(d, 4, m.b, n, 0, e, sizeof(e)), SL_ERR_DECODE);
    uint8_t bad = 'Z';
    assert_int_equal(pg_dec_message(d, 4, &bad, 1, 0, e, sizeof(e)), SL_ERR_DECODE);
    clear_got();
    pg_dec_destroy(d);
}

/* A table's life as pgoutput shows it: a Relation of the same OID under
 * another name is a rename, a Relation of another OID under a name seen
 * before is a new table (the old one was dropped): the table that ends gets
 * a SCHEMA with no columns (DDL hint RENAME / DROP) right before the new
 * SCHEMA, at the same position. An unchanged Relation sends nothing. */
static void test_table_life(void **state)
{
    pg_dec_t *d = mkdec();
    mb_t m;
    mk_begin(&m, 0x2000, 9); feed(d, 0x1900, &m);
    mk_rel(&m, 16384, "a"); feed(d, 0x1910, &m);
    mk_ins2(&m, 16384, "1"); feed(d, 0x1910, &m);
    mk_rel(&m, 16384, "a"); feed(d, 0x1920, &m);          /* the same again: nothing */
    mk_rel(&m, 16384, "b"); feed(d, 0x1930, &m);          /* ALTER TABLE a RENAME TO b */
    mk_ins2(&m, 16384, "2"); feed(d, 0x1930, &m);
    mk_rel(&m, 16500, "b"); feed(d, 0x1940, &m);          /* DROP b; CREATE b */
    mk_ins2(&m, 16500, "3"); feed(d, 0x1940, &m);
    mk_commit(&m, 0x2000, 0x2050); feed(d, 0x2000, &m);
    /* SCHEMA a, INSERT, SCHEMA a (gone), SCHEMA b, INSERT, SCHEMA b (gone), SCHEMA b, INSERT,
     * COMMIT */
    assert_int_equal(ngot, 9);
    const char *want[][3] = {{"a", "2", NULL}, {"a", "0", "ALTER TABLE \"public\".\"a\" RENAME TO"},
                             {"b", "2", NULL}, {"b", "0", "DROP TABLE \"public\".\"b\""},
                             {"b", "2", NULL}};
    int at[] = {0, 2, 3, 5, 6};
    for (int i = 0; i < 5; i++) {
        const sl_record_t *r = got[at[i]];
        assert_int_equal(r->type, SL_REC_SCHEMA);
        assert_string_equal(r->u.schema.table, want[i][0]);
        assert_int_equal(r->u.schema.ncols, atoi(want[i][1]));
        assert_int_equal(sl_schema_dropped(&r->u.schema), want[i][1][0] == '0');
        if (want[i][2])
            assert_true(r->u.schema.ddl && !strncmp(r->u.schema.ddl, want[i][2],
                                                    strlen(want[i][2])));
    }
    /* the pair of a rename / re-create shares its position (the applier pairs them) */
    assert_true(got[2]->pos.offset == got[3]->pos.offset && got[5]->pos.offset == got[6]->pos.offset);
    assert_int_equal(got[7]->type, SL_REC_CHANGE);
    assert_string_equal(got[7]->u.change.table, "b");
    clear_got();
    pg_dec_destroy(d);
}

/* An enum type 50000 "mood"; ALTER TYPE ... ADD VALUE is mood_labels++. */
static uint32_t mood_labels = 2;

static sl_err_t mood_resolver(void *ctx, uint32_t oid, pg_typdesc_t *out, char *e, size_t n)
{
    static const char *const labels[] = {"sad", "ok", "happy", "elated"};
    (void)ctx;
    if (oid != 50000) {
        snprintf(e, n, "unknown oid %u", oid);
        return SL_ERR_NOT_FOUND;
    }
    out->typtype = 'e';
    out->category = 'E';
    snprintf(out->name, sizeof out->name, "mood");
    out->nlabels = mood_labels;
    out->labels = calloc(mood_labels, sizeof(char *));
    for (uint32_t i = 0; i < mood_labels; i++)
        out->labels[i] = strdup(labels[i]);
    return SL_OK;
}

static void mk_mood_relation(mb_t *m)
{
    m->n = 0; u8(m, 'R');
    u32(m, 1); str(m, "public"); str(m, "feel"); u8(m, 'd'); u16(m, 1);
    u8(m, 1); str(m, "m"); u32(m, 50000); u32(m, (uint32_t)-1);
}

static void mk_type(mb_t *m, uint32_t oid)
{
    m->n = 0; u8(m, 'Y'); u32(m, oid); str(m, "public"); str(m, "mood");
}

static void mk_insert1(mb_t *m, const char *v)
{
    m->n = 0; u8(m, 'I'); u32(m, 1); u8(m, 'N'); u16(m, 1); txt(m, v);
}

/* pgoutput sends Type before Relation for every non-built-in column type each
 * time it re-sends a table's schema (relcache invalidation; protocol 2: every
 * streamed transaction). The Type message replaced the cached type while the
 * cached relation still pointed to it (heap use-after-free under ASan, read in
 * emit_schema): relations are re-bound, and a changed type re-emits the
 * table's SCHEMA. */
static void test_type_message_rebinds_relations(void **state)
{
    pg_dec_conf_t dc = {.source = "src", .batch_max_rows = 2, .sink = sink,
                        .resolver = mood_resolver};
    pg_dec_t *d = NULL;
    mb_t m;
    mood_labels = 2;
    assert_int_equal(pg_dec_new(&d, &dc), SL_OK);
    /* the fuzzer's minimal input: R (one key column of type 50000), Y, Begin, Insert NULL */
    mk_mood_relation(&m); feed(d, 0x10, &m);
    mk_type(&m, 50000); feed(d, 0x11, &m);
    mk_begin(&m, 0x30, 7); feed(d, 0x12, &m);
    mk_insert1(&m, NULL); feed(d, 0x20, &m);
    mk_commit(&m, 0x30, 0x31); feed(d, 0x30, &m);
    assert_int_equal(ngot, 3);
    assert_int_equal(got[0]->type, SL_REC_SCHEMA);
    assert_string_equal(schema_type, "mood");
    assert_int_equal(schema_nlabels, 2);
    clear_got();

    /* ALTER TYPE mood ADD VALUE: Y, the identical R, a row of the new label */
    mood_labels = 3;
    mk_type(&m, 50000); feed(d, 0x40, &m);
    mk_mood_relation(&m); feed(d, 0x41, &m);
    mk_begin(&m, 0x60, 8); feed(d, 0x42, &m);
    mk_insert1(&m, "happy"); feed(d, 0x50, &m);
    mk_commit(&m, 0x60, 0x61); feed(d, 0x60, &m);
    assert_int_equal(ngot, 3);
    assert_int_equal(got[0]->type, SL_REC_SCHEMA);
    assert_int_equal(schema_nlabels, 3);
    assert_int_equal(got[1]->type, SL_REC_CHANGE);
    assert_int_equal(got[1]->u.change.rows[0].after[0].kind, SL_VAL_STRING);
    assert_memory_equal(got[1]->u.change.rows[0].after[0].data, "happy", 5);
    clear_got();

    /* the same type sent again: no new SCHEMA */
    mk_type(&m, 50000); feed(d, 0x70, &m);
    mk_mood_relation(&m); feed(d, 0x71, &m);
    mk_begin(&m, 0x90, 9); feed(d, 0x72, &m);
    mk_insert1(&m, "ok"); feed(d, 0x80, &m);
    mk_commit(&m, 0x90, 0x91); feed(d, 0x90, &m);
    assert_int_equal(ngot, 2);
    assert_int_equal(got[0]->type, SL_REC_CHANGE);
    clear_got();
    pg_dec_destroy(d);
}

/* ------------------------------------------------------------ messages (snapshot watermarks) */

/* What the message callback saw, and what it does: like pg_snapsink.c, it
 * asks for the table's schema and adds one READ row (id 42) to the
 * transaction. */
static struct {
    pg_dec_t *d;
    int       calls;
    char      prefix[32], content[64];
    sl_pos_t  pos;
    char      txn[16];
    sl_err_t  schema_err;
    uint32_t  ncols;
} mc;

static sl_err_t on_message(void *ctx, const char *prefix, const uint8_t *content, size_t len,
                           const sl_pos_t *pos, const char *txn, int64_t time_us, char *e,
                           size_t n)
{
    uint64_t id;
    const char *const *names;
    mc.calls++;
    snprintf(mc.prefix, sizeof mc.prefix, "%s", prefix);
    snprintf(mc.content, sizeof mc.content, "%.*s", (int)len, (const char *)content);
    mc.pos = *pos;
    snprintf(mc.txn, sizeof mc.txn, "%s", txn);
    mc.schema_err = pg_dec_table_schema(mc.d, "public", "t", pos->offset, &id, &names, &mc.ncols,
                                        e, n);
    if (mc.schema_err || strstr(mc.content, "empty"))
        return SL_OK;
    sl_record_t *r = sl_record_new();
    assert_int_equal(sl_record_init_change(r, "src", "public", "t", SL_OP_READ, mc.ncols, names,
                                           1), SL_OK);
    r->pos = *pos;
    r->u.change.schema_id = id;
    for (uint32_t i = 0; i < mc.ncols; i++)
        r->u.change.rows[0].after[i].kind = SL_VAL_NULL;
    r->u.change.rows[0].after[0].kind = SL_VAL_INT;
    r->u.change.rows[0].after[0].u.i = 42;
    sl_err_t err = pg_dec_put(mc.d, r, e, n);
    sl_record_destroy(r);
    return err;
}

static void mk_message(mb_t *m, int streamed_xid, int transactional, uint64_t lsn,
                       const char *prefix, const char *content)
{
    m->n = 0; u8(m, 'M');
    if (streamed_xid)
        u32(m, (uint32_t)streamed_xid);
    u8(m, transactional ? 1 : 0); u64(m, lsn); str(m, prefix);
    u32(m, (uint32_t)strlen(content)); memcpy(m->b + m->n, content, strlen(content));
    m->n += strlen(content);
}

/* A transactional message reaches the callback in its transaction, after
 * the rows before it are published; rows the callback adds are counted into
 * the transaction (positions go on after them, its COMMIT is published even
 * when the message was all it had); a non-transactional message and a
 * table the stream has not described do not. The same inside a streamed
 * transaction, at its replay. */
static void test_messages(void **state)
{
    pg_dec_conf_t dc = {.source = "src", .batch_max_rows = 100, .sink = sink,
                        .message = on_message};
    pg_dec_t *d = NULL;
    pg_stream_t *s = NULL;
    mb_t m;
    assert_int_equal(pg_dec_new(&d, &dc), SL_OK);
    memset(&mc, 0, sizeof mc);
    mc.d = d;

    /* a table not described yet: NOT_FOUND, nothing added, no COMMIT */
    mk_begin(&m, 0x100, 7); feed(d, 0x50, &m);
    mk_message(&m, 0, 1, 0x60, "shiftlog", "src:H:1"); feed(d, 0x60, &m);
    assert_int_equal(mc.calls, 1);
    assert_int_equal(mc.schema_err, SL_ERR_NOT_FOUND);
    mk_commit(&m, 0x100, 0x110); feed(d, 0x100, &m);
    assert_int_equal(ngot, 0);

    /* the Relation, then a message alone in its transaction */
    mk_begin(&m, 0x200, 8); feed(d, 0x150, &m);
    mk_relation(&m, 0); feed(d, 0x160, &m);
    mk_message(&m, 0, 1, 0x170, "shiftlog", "src:H:2"); feed(d, 0x170, &m);
    mk_message(&m, 0, 0, 0x171, "shiftlog", "src:H:x"); feed(d, 0x171, &m);  /* not transactional */
    mk_commit(&m, 0x200, 0x210); feed(d, 0x200, &m);
    assert_int_equal(mc.calls, 2);
    assert_string_equal(mc.prefix, "shiftlog");
    assert_string_equal(mc.content, "src:H:2");
    assert_string_equal(mc.txn, "8");
    assert_true(mc.pos.seq == 0x200 && mc.pos.offset == 0x170 && mc.pos.row == 0);
    assert_int_equal(ngot, 3);  /* SCHEMA, READ, COMMIT */
    assert_int_equal(got[0]->type, SL_REC_SCHEMA);
    assert_int_equal(got[1]->type, SL_REC_CHANGE);
    assert_int_equal(got[1]->u.change.op, SL_OP_READ);
    assert_int_equal(got[2]->type, SL_REC_COMMIT);
    assert_int_equal(got[2]->u.commit.nrows, 1);
    assert_int_equal(got[2]->pos.row, 1);
    clear_got();

    /* rows before the message are published before what it adds; the
     * ordinals go on after the added row */
    mk_begin(&m, 0x300, 9); feed(d, 0x250, &m);
    mk_insert(&m, 0, "1", "a", NULL); feed(d, 0x260, &m);
    mk_message(&m, 0, 1, 0x270, "shiftlog", "src:H:3"); feed(d, 0x270, &m);
    mk_insert(&m, 0, "2", "b", NULL); feed(d, 0x280, &m);
    mk_commit(&m, 0x300, 0x310); feed(d, 0x300, &m);
    assert_int_equal(ngot, 4);  /* INSERT 1, READ, INSERT 2, COMMIT */
    assert_int_equal(got[0]->u.change.op, SL_OP_INSERT);
    assert_int_equal(got[1]->u.change.op, SL_OP_READ);
    assert_int_equal(mc.pos.row, 1);
    assert_int_equal(got[2]->u.change.op, SL_OP_INSERT);
    assert_int_equal(got[2]->pos.row, 2);
    assert_int_equal(got[3]->u.commit.nrows, 3);
    clear_got();

    /* an empty chunk: its SCHEMA alone still gets its transaction's COMMIT */
    pg_dec_reset_session(d);
    mk_begin(&m, 0x350, 11); feed(d, 0x320, &m);
    mk_relation(&m, 0); feed(d, 0x330, &m);
    mk_message(&m, 0, 1, 0x340, "shiftlog", "src:H:empty"); feed(d, 0x340, &m);
    mk_commit(&m, 0x350, 0x360); feed(d, 0x350, &m);
    assert_int_equal(ngot, 2);
    assert_int_equal(got[0]->type, SL_REC_SCHEMA);
    assert_int_equal(got[1]->type, SL_REC_COMMIT);
    assert_int_equal(got[1]->u.commit.nrows, 0);
    clear_got();

    /* inside a streamed transaction: at its replay, in its order */
    assert_int_equal(pg_stream_new(&s, "/tmp", 0), SL_OK);
    m.n = 0; u8(&m, 'S'); u32(&m, 10); u8(&m, 1); stream_msg(s, d, 0, &m, 1);
    mk_insert(&m, 10, "3", "c", NULL); stream_msg(s, d, 0x400, &m, 1);
    mk_message(&m, 10, 1, 0x410, "shiftlog", "src:H:4"); stream_msg(s, d, 0x410, &m, 1);
    m.n = 0; u8(&m, 'E'); stream_msg(s, d, 0, &m, 1);
    assert_int_equal(mc.calls, 4);
    m.n = 0; u8(&m, 'c'); u32(&m, 10); u8(&m, 0); u64(&m, 0x500); u64(&m, 0x510); u64(&m, 0);
    stream_msg(s, d, 0x500, &m, 1);
    assert_int_equal(mc.calls, 5);
    assert_string_equal(mc.content, "src:H:4");
    assert_string_equal(mc.txn, "10");
    assert_true(mc.pos.seq == 0x500 && mc.pos.offset == 0x410 && mc.pos.row == 1);
    assert_int_equal(ngot, 3);  /* INSERT 3, READ, COMMIT */
    assert_int_equal(got[1]->u.change.op, SL_OP_READ);
    assert_int_equal(got[2]->u.commit.nrows, 2);
    clear_got();
    pg_stream_destroy(s);
    pg_dec_destroy(d);
}

/* The opt-in event trigger's message at a DROP TABLE (pg_dec_drop_message): a
 * SCHEMA with no columns at the message's place, then the COMMIT; the cached
 * relation is forgotten (a table created again under the name is no second
 * drop); a table not seen in this session is still ended; a malformed
 * content is ignored, never fatal. */
static void test_drop_table_message(void **state)
{
    (void)state;
    pg_dec_t *d = mkdec();
    mb_t m;
    clear_got();
    mk_begin(&m, 0x200, 8); feed(d, 0x150, &m);
    mk_rel(&m, 16390, "a"); feed(d, 0x160, &m);
    mk_ins2(&m, 16390, "1"); feed(d, 0x170, &m);
    mk_commit(&m, 0x200, 0x210); feed(d, 0x200, &m);
    assert_int_equal(ngot, 3);                      /* SCHEMA, INSERT, COMMIT */
    clear_got();
    mk_begin(&m, 0x300, 9); feed(d, 0x250, &m);
    mk_message(&m, 0, 1, 0x260, "shiftlog.drop_table", "16390\npublic\na"); feed(d, 0x260, &m);
    mk_commit(&m, 0x300, 0x310); feed(d, 0x300, &m);
    assert_int_equal(ngot, 2);
    assert_int_equal(got[0]->type, SL_REC_SCHEMA);
    assert_int_equal(got[0]->u.schema.ncols, 0);
    assert_string_equal(got[0]->u.schema.table, "a");
    assert_string_equal(got[0]->u.schema.ddl, "DROP TABLE \"public\".\"a\"");
    assert_true(got[0]->pos.seq == 0x300 && got[0]->pos.offset == 0x260);
    assert_int_equal(got[1]->type, SL_REC_COMMIT);
    clear_got();
    /* created again under the name: its SCHEMA only, no second end of the old one */
    mk_begin(&m, 0x400, 10); feed(d, 0x350, &m);
    mk_rel(&m, 16400, "a"); feed(d, 0x360, &m);
    mk_ins2(&m, 16400, "1"); feed(d, 0x370, &m);
    /* a table this session never saw, and a content that is not the trigger's */
    mk_message(&m, 0, 1, 0x380, "shiftlog.drop_table", "17000\npublic\nold"); feed(d, 0x380, &m);
    mk_message(&m, 0, 1, 0x390, "shiftlog.drop_table", "junk"); feed(d, 0x390, &m);
    mk_commit(&m, 0x400, 0x410); feed(d, 0x400, &m);
    assert_int_equal(ngot, 4);                      /* SCHEMA a, INSERT, SCHEMA old (0), COMMIT */
    assert_int_equal(got[0]->u.schema.ncols, 2);
    assert_string_equal(got[2]->u.schema.table, "old");
    assert_int_equal(got[2]->u.schema.ncols, 0);
    clear_got();
    pg_dec_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_txn_positions_toast),
        cmocka_unit_test(test_streamed),
        cmocka_unit_test(test_commit_time_bounds),
        cmocka_unit_test(test_batches_by_encoded_size),
        cmocka_unit_test(test_stream_end_inside_block),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_table_life),
        cmocka_unit_test(test_type_message_rebinds_relations),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_drop_table_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
