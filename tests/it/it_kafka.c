/* it_kafka: test and bench tool for the Kafka wrappers (not a service).
 *
 *   it_kafka produce --brokers B --topic T --records N [--first I]
 *            [--partitions P] [--transactional [--per-txn K] [--abort]
 *            [--txn-id ID]]
 *       Builds N deterministic records (record i = template i % 6: SCHEMA,
 *       CHANGE insert/update/delete with edge values, COMMIT, FINISH),
 *       produces them with sl_kafka_produce + sl.* headers, and prints one
 *       JSON line per record: {"key":..,"headers":{..},"record":<json>}.
 *       On stderr at the end: "it_kafka: produced=N last=POS durable=POS".
 *       --abort aborts every Kafka transaction instead of committing it.
 *   it_kafka bench --brokers B --topic T --records N --size S
 *            [--transactional --per-txn K | --raw]
 *       Produces N pre-encoded ~S-byte records with our wrapper (or with
 *       plain librdkafka: --raw) and prints one line of figures.
 *   it_kafka payloads --records N --size S --delim D
 *       Writes the bench payloads separated by D (for kcat -P -D D).
 *   --prop K=V (produce, bench) passes a librdkafka property through. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>   /* the raw producer baseline (--raw) */

#include "sl_avro.h"
#include "sl_buf.h"
#include "sl_json.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_record.h"

#define SOURCE "it"
#define NCOLS 16

static const char *const COLS[NCOLS] = {
    "id", "c_i64", "c_u64", "c_dec", "c_str", "c_bytes", "c_dbl", "c_flt",
    "c_bool", "c_date", "c_time", "c_ts", "c_bit", "c_set", "c_json",
    "c_missing"
};

typedef struct opts_s {
    const char *brokers, *topic, *txn_id, *delim;
    sl_kvlist_t props;          /* --prop k=v: librdkafka passthrough */
    long records, first, per_txn, size;
    int partitions, transactional, abort_txn, raw;
} opts_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *errstr)
{
    fprintf(stderr, "it_kafka: %s: %s\n", what, errstr);
    exit(1);
}

#define CHECK(expr) do { if ((expr) != SL_OK) die(#expr, "failed"); } while (0)

/* One image of the CHANGE templates: variant 0 = maxima / empty values,
 * variant 1 = minima / NULLs, i makes every record distinct. */
static void fill_image(sl_record_t *rec, sl_value_t *v, long i, int variant)
{
    static const char dec65[] =
        "-12345678901234567890123456789012345.123456789012345678901234567890";
    static const uint8_t bytes_nul[] = {'a', 0, 'b', 0, 0xff};
    static const uint8_t bits[] = {0x02, 0xa5};   /* BIT(10) 1010100101 */
    static const char *const set_labels[] = {"a", "c,d"};
    static const char utf8[] = "\xf0\x9f\x98\x80 \xf0\x9d\x84\x9e caf\xc3\xa9";
    char txt[64];

    v[0].kind = SL_VAL_INT;
    v[0].u.i = i;
    v[1].kind = SL_VAL_INT;
    v[1].u.i = variant ? INT64_MIN : INT64_MAX;
    v[2].kind = SL_VAL_UINT;
    v[2].u.u = variant ? 0 : UINT64_MAX;
    if (variant)
        CHECK(sl_value_set_text(rec, &v[3], SL_VAL_DECIMAL,
                                "0.000000000000000000000000000001", 32));
    else
        CHECK(sl_value_set_text(rec, &v[3], SL_VAL_DECIMAL, dec65, strlen(dec65)));
    if (variant) {
        v[4].kind = SL_VAL_NULL;                       /* NULL ... */
        CHECK(sl_value_set_text(rec, &v[5], SL_VAL_BYTES, "", 0)); /* vs empty */
    } else {
        snprintf(txt, sizeof(txt), "%s #%ld", utf8, i);
        CHECK(sl_value_set_text(rec, &v[4], SL_VAL_STRING, txt, strlen(txt)));
        CHECK(sl_value_set_text(rec, &v[5], SL_VAL_BYTES, bytes_nul,
                                sizeof(bytes_nul)));
    }
    v[6].kind = SL_VAL_DOUBLE;
    v[6].u.d = variant ? NAN : -1.5e308;
    v[7].kind = SL_VAL_FLOAT;
    v[7].u.f = variant ? 3.25f : -0.5f;
    v[8].kind = SL_VAL_BOOL;
    v[8].u.b = !variant;
    if (variant)
        CHECK(sl_value_set_temporal(rec, &v[9], SL_T_DATE, "0000-00-00", 10,
                                    0, 0, 0, 0, 0));
    else
        CHECK(sl_value_set_temporal(rec, &v[9], SL_T_DATE, "2024-02-29", 10,
                                    1, 19782, 0, 0, 0));
    if (variant)
        CHECK(sl_value_set_temporal(rec, &v[10], SL_T_TIME, "-838:59:59.000000",
                                    17, 1, -3020399000000LL, 6, 0, 0));
    else
        CHECK(sl_value_set_temporal(rec, &v[10], SL_T_TIME, "00:00:00.000001",
                                    15, 1, 1, 6, 0, 0));
    CHECK(sl_value_set_temporal(rec, &v[11], SL_T_TIMESTAMPTZ,
                                "2024-02-29 13:45:00.123456+02", 29, 1,
                                1709207100123456LL, 6, 1, 7200));
    CHECK(sl_value_set_bit(rec, &v[12], 10, bits, sizeof(bits)));
    if (variant)
        CHECK(sl_value_set_set(rec, &v[13], NULL, 0));   /* empty SET */
    else
        CHECK(sl_value_set_set(rec, &v[13], set_labels, 2));
    CHECK(sl_value_set_typed(rec, &v[14], "json", "{\"k\": [1, null]}", 16));
    v[15].kind = SL_VAL_MISSING;
    v[15].u.missing = variant ? SL_MISSING_UNCHANGED_TOAST : SL_MISSING_NOT_IN_IMAGE;
}

static void build_schema(sl_record_t *rec)
{
    static const struct { sl_val_kind_t kind; const char *type; int prec, scale; }
    t[NCOLS] = {
        {SL_VAL_INT, "bigint", -1, -1}, {SL_VAL_INT, "bigint", -1, -1},
        {SL_VAL_UINT, "bigint unsigned", -1, -1},
        {SL_VAL_DECIMAL, "decimal(65,30)", 65, 30},
        {SL_VAL_STRING, "varchar(64)", 64, -1}, {SL_VAL_BYTES, "blob", -1, -1},
        {SL_VAL_DOUBLE, "double", -1, -1}, {SL_VAL_FLOAT, "float", -1, -1},
        {SL_VAL_BOOL, "boolean", -1, -1}, {SL_VAL_TEMPORAL, "date", 0, -1},
        {SL_VAL_TEMPORAL, "time(6)", 6, -1},
        {SL_VAL_TEMPORAL, "timestamptz(6)", 6, -1},
        {SL_VAL_BIT, "bit(10)", 10, -1}, {SL_VAL_SET, "set('a','b','c,d')", -1, -1},
        {SL_VAL_TYPED, "json", -1, -1}, {SL_VAL_STRING, "longtext", -1, -1},
    };
    static const char *const labels[] = {"a", "b", "c,d"};
    CHECK(sl_record_init_schema(rec, SOURCE, "db", "t", NCOLS));
    rec->u.schema.ddl = sl_record_strdup(rec, "CREATE TABLE t (...)");
    for (int c = 0; c < NCOLS; c++) {
        sl_column_t *col = &rec->u.schema.cols[c];
        col->name = sl_record_strdup(rec, COLS[c]);
        col->kind = t[c].kind;
        col->source_type = sl_record_strdup(rec, t[c].type);
        col->nullable = c != 0;
        col->precision = t[c].prec;
        col->scale = t[c].scale;
        col->pk = c == 0;
        if (c == 4 || c == 15)
            col->charset = sl_record_strdup(rec, "utf8mb4");
        if (c == 13) {
            col->nlabels = 3;
            col->labels = sl_record_alloc(rec, sizeof(char *) * 3);
            for (int l = 0; l < 3; l++)
                col->labels[l] = sl_record_strdup(rec, labels[l]);
        }
    }
}

/* Record i (deterministic). */
static void build_record(sl_record_t *rec, long i)
{
    char gtid[64];
    long txn = i / 6;
    sl_record_reset(rec);
    snprintf(gtid, sizeof(gtid), "0-1-%ld", txn + 1);
    switch (i % 6) {
    case 0:
        build_schema(rec);
        break;
    case 1: case 2: case 3: {
        sl_op_t op = i % 6 == 1 ? SL_OP_INSERT : i % 6 == 2 ? SL_OP_UPDATE
                                                           : SL_OP_DELETE;
        CHECK(sl_record_init_change(rec, SOURCE, "db", "t", op, NCOLS, COLS, 2));
        sl_change_t *ch = &rec->u.change;
        ch->txn = sl_record_strdup(rec, gtid);
        ch->event_time_us = 1700000000000000LL + i;
        ch->schema_id = 0xfedcba9876543210ULL;
        ch->server_id = 1;
        ch->flags = i % 2 ? 0x8000 : 0;
        for (uint32_t r = 0; r < 2; r++) {
            if (ch->rows[r].before)
                fill_image(rec, ch->rows[r].before, i * 10 + r, (int)r);
            if (ch->rows[r].after)
                fill_image(rec, ch->rows[r].after, i * 10 + r, (int)!r);
        }
        break;
    }
    case 4:
        CHECK(sl_record_init_commit(rec, SOURCE, gtid, 1700000000000000LL + i, 1, 6));
        break;
    default:
        CHECK(sl_record_init_finish(rec, SOURCE, txn % 2 ? "resume" : "start",
                                    1700000000000000LL + i));
        break;
    }
    char file[32];
    snprintf(file, sizeof(file), "mysql-bin.%06ld", 1 + i / 1000);
    CHECK(sl_pos_set_mysql(&rec->pos, file, 4 + (uint64_t)(i % 1000) * 100, 0));
    snprintf(rec->pos.gtid, sizeof(rec->pos.gtid), "%s", gtid);
}

/* Key and headers of a record; text lives in the caller's buffers. */
static size_t record_headers(const sl_record_t *rec, uint64_t fp,
                             sl_kafka_header_t *h, char *pos, size_t possz,
                             char *fph, char *key, size_t keysz)
{
    size_t n = 0;
    const char *txn = NULL, *op;
    sl_pos_format(&rec->pos, pos, possz);
    snprintf(fph, 17, "%016" PRIx64, fp);
    if (rec->type == SL_REC_CHANGE || rec->type == SL_REC_SCHEMA) {
        const char *db = rec->type == SL_REC_CHANGE ? rec->u.change.db : rec->u.schema.db;
        const char *tb = rec->type == SL_REC_CHANGE ? rec->u.change.table : rec->u.schema.table;
        snprintf(key, keysz, "%s.%s", db, tb);
    } else {
        snprintf(key, keysz, "%s", rec->source);
    }
    op = rec->type == SL_REC_CHANGE ? sl_op_name(rec->u.change.op)
                                    : sl_rec_type_name(rec->type);
    if (rec->type == SL_REC_CHANGE)
        txn = rec->u.change.txn;
    else if (rec->type == SL_REC_COMMIT)
        txn = rec->u.commit.txn;
    h[n++] = (sl_kafka_header_t){SL_KAFKA_H_SOURCE, rec->source, strlen(rec->source)};
    if (rec->type == SL_REC_CHANGE || rec->type == SL_REC_SCHEMA)
        h[n++] = (sl_kafka_header_t){SL_KAFKA_H_TABLE, key, strlen(key)};
    h[n++] = (sl_kafka_header_t){SL_KAFKA_H_OP, op, strlen(op)};
    h[n++] = (sl_kafka_header_t){SL_KAFKA_H_POS, pos, strlen(pos)};
    if (txn)
        h[n++] = (sl_kafka_header_t){SL_KAFKA_H_TXN, txn, strlen(txn)};
    h[n++] = (sl_kafka_header_t){SL_KAFKA_H_SCHEMA, fph, 16};
    return n;
}

static sl_kafka_producer_t *make_producer(const opts_t *o, sl_kvlist_t *props)
{
    char errstr[1024];
    sl_kafka_producer_t *p;
    sl_kvlist_set(props, "bootstrap.servers", o->brokers);
    for (size_t i = 0; i < o->props.n; i++)
        sl_kvlist_set(props, o->props.items[i].key, o->props.items[i].value);
    if (o->transactional)
        sl_kvlist_set(props, "transactional.id", o->txn_id ? o->txn_id : o->topic);
    sl_kafka_producer_conf_t conf = {.props = props};
    double t0 = now_s();
    if (sl_kafka_producer_new(&p, &conf, errstr, sizeof(errstr))) {
        fprintf(stderr, "it_kafka: %s (after %.1f s)\n", errstr, now_s() - t0);
        exit(1);
    }
    if (o->partitions > 0 &&
        sl_kafka_ensure_topic(sl_kafka_producer_handle(p), o->topic,
                              o->partitions, -1, NULL, 10000, errstr,
                              sizeof(errstr)))
        die("ensure_topic", errstr);
    if (o->transactional && sl_kafka_txn_init(p, 30000, errstr, sizeof(errstr)))
        die("txn_init", errstr);
    return p;
}

/* Commits, or with --abort delivers the records first (so they really are
 * in the log, where only read_uncommitted readers can see them) and aborts. */
static void end_txn(const opts_t *o, sl_kafka_producer_t *p)
{
    char errstr[1024];
    if (o->abort_txn) {
        if (sl_kafka_producer_flush(p, 30000, errstr, sizeof(errstr)) ||
            sl_kafka_txn_abort(p, 30000, errstr, sizeof(errstr)))
            die("txn abort", errstr);
    } else if (sl_kafka_txn_commit(p, 30000, errstr, sizeof(errstr))) {
        die("txn commit", errstr);
    }
}

static int cmd_produce(const opts_t *o)
{
    char errstr[1024], pos[160], fph[20], key[128];
    sl_kafka_header_t h[8];
    sl_avro_codec_t *codec;
    sl_kvlist_t props = SL_KVLIST_INIT;
    sl_buf_t line = SL_BUF_INIT;
    sl_record_t *rec = sl_record_new();
    if (!rec || sl_avro_codec_new(&codec, errstr, sizeof(errstr)))
        die("codec", errstr);
    uint64_t fp = sl_avro_fingerprint(codec);
    sl_kafka_producer_t *p = make_producer(o, &props);
    long in_txn = 0;

    for (long i = o->first; i < o->first + o->records; i++) {
        const void *val;
        size_t len;
        build_record(rec, i);
        if (sl_avro_encode(codec, rec, &val, &len, errstr, sizeof(errstr)))
            die("encode", errstr);
        size_t nh = record_headers(rec, fp, h, pos, sizeof(pos), fph, key, sizeof(key));
        if (o->transactional && in_txn == 0 &&
            sl_kafka_txn_begin(p, errstr, sizeof(errstr)))
            die("txn_begin", errstr);
        if (sl_kafka_produce(p, o->topic, -1, key, strlen(key), val, len, h,
                             nh, &rec->pos, errstr, sizeof(errstr)))
            die("produce", errstr);
        sl_buf_reset(&line);
        sl_buf_puts(&line, "{\"key\":");
        sl_buf_json_str(&line, key, strlen(key));
        sl_buf_puts(&line, ",\"headers\":{");
        for (size_t k = 0; k < nh; k++) {
            sl_buf_printf(&line, "%s\"%s\":", k ? "," : "", h[k].name);
            sl_buf_json_str(&line, h[k].value, h[k].len);
        }
        sl_buf_puts(&line, "},\"record\":");
        if (sl_record_to_json(rec, &line))
            die("to_json", "failed");
        sl_buf_putc(&line, '}');
        puts(line.data);
        if (o->transactional && ++in_txn == o->per_txn) {
            end_txn(o, p);
            in_txn = 0;
        }
    }
    if (o->transactional && in_txn)
        end_txn(o, p);
    if (sl_kafka_producer_flush(p, 30000, errstr, sizeof(errstr)))
        die("flush", errstr);
    char last[160] = "none", durable[160] = "none";
    sl_pos_t d;
    if (o->records > 0)
        sl_pos_format(&rec->pos, last, sizeof(last));
    if (sl_kafka_producer_durable(p, &d))
        sl_pos_format(&d, durable, sizeof(durable));
    fflush(stdout);
    fprintf(stderr, "it_kafka: produced=%ld last=%s durable=%s inflight=%zu\n",
            o->records, last, durable, sl_kafka_producer_inflight(p));
    sl_kafka_producer_destroy(p);
    sl_avro_codec_destroy(codec);
    sl_record_destroy(rec);
    sl_buf_free(&line);
    sl_kvlist_free(&props);
    return 0;
}

/* Bench payloads: CHANGE inserts of one row padded to ~size bytes. */
typedef struct payloads_s { char *data; size_t *off; size_t *len; long n; } payloads_t;

static void make_payloads(const opts_t *o, payloads_t *pl)
{
    char errstr[512], pad[4096];
    static const char *const cols[3] = {"id", "name", "note"};
    sl_avro_codec_t *codec;
    sl_record_t *rec = sl_record_new();
    sl_buf_t all = SL_BUF_INIT;
    if (!rec || sl_avro_codec_new(&codec, errstr, sizeof(errstr)))
        die("codec", errstr);
    pl->n = o->records;
    pl->off = calloc((size_t)pl->n, sizeof(size_t));
    pl->len = calloc((size_t)pl->n, sizeof(size_t));
    size_t padlen = 1;
    for (long i = 0; i < pl->n; i++) {
        for (int attempt = 0; attempt < 2; attempt++) {
            sl_record_reset(rec);
            CHECK(sl_record_init_change(rec, "bench", "db", "t", SL_OP_INSERT, 3, cols, 1));
            sl_value_t *v = rec->u.change.rows[0].after;
            v[0].kind = SL_VAL_INT;
            v[0].u.i = i;
            CHECK(sl_value_set_text(rec, &v[1], SL_VAL_STRING, "name", 4));
            memset(pad, 'a' + (int)(i % 26), padlen);
            CHECK(sl_value_set_text(rec, &v[2], SL_VAL_STRING, pad, padlen));
            rec->u.change.txn = "0-1-1";
            sl_pos_set_mysql(&rec->pos, "mysql-bin.000001", 4 + (uint64_t)i * 200, 0);
            const void *val;
            size_t len;
            if (sl_avro_encode(codec, rec, &val, &len, errstr, sizeof(errstr)))
                die("encode", errstr);
            if (attempt == 0 && (long)len != o->size && i == 0) {
                long want = (long)padlen + o->size - (long)len;
                padlen = want > 1 ? (size_t)want : 1;
                continue;
            }
            pl->off[i] = all.len;
            pl->len[i] = len;
            sl_buf_append(&all, val, len);
            break;
        }
    }
    pl->data = all.data;
    sl_record_destroy(rec);
    sl_avro_codec_destroy(codec);
}

static void raw_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    long *st = opaque;
    st[m->err ? 1 : 0]++;
}

static int cmd_bench(const opts_t *o)
{
    payloads_t pl;
    char errstr[1024];
    make_payloads(o, &pl);
    double t0 = now_s();
    if (o->raw) {
        long st[2] = {0, 0};
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "100000", errstr, sizeof(errstr));
        rd_kafka_conf_set_dr_msg_cb(conf, raw_dr);
        rd_kafka_conf_set_opaque(conf, st);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk)
            die("rd_kafka_new", errstr);
        t0 = now_s();
        for (long i = 0; i < pl.n; i++) {
            rd_kafka_resp_err_t e;
            while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o->topic),
                        RD_KAFKA_V_VALUE(pl.data + pl.off[i], pl.len[i]),
                        RD_KAFKA_V_KEY("db.t", 4),
                        RD_KAFKA_V_HEADER(SL_KAFKA_H_SOURCE, "bench", 5),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
                   RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk, 10);
            if (e)
                die("producev", rd_kafka_err2str(e));
            rd_kafka_poll(rk, 0);
        }
        rd_kafka_flush(rk, 60000);
        double dt = now_s() - t0;
        printf("mode=raw records=%ld delivered=%ld failed=%ld bytes=%zu seconds=%.3f msgs_per_s=%.0f\n",
               pl.n, st[0], st[1], pl.len[0], dt, pl.n / dt);
        rd_kafka_destroy(rk);
    } else {
        opts_t oo = *o;
        oo.partitions = 0;
        sl_kvlist_t props = SL_KVLIST_INIT;
        sl_kafka_producer_t *p = make_producer(&oo, &props);
        sl_kafka_header_t h[1] = {{SL_KAFKA_H_SOURCE, "bench", 5}};
        sl_pos_t pos;
        long in_txn = 0;
        t0 = now_s();
        for (long i = 0; i < pl.n; i++) {
            sl_pos_set_mysql(&pos, "mysql-bin.000001", 4 + (uint64_t)i * 200, 0);
            if (o->transactional && in_txn == 0 &&
                sl_kafka_txn_begin(p, errstr, sizeof(errstr)))
                die("txn_begin", errstr);
            if (sl_kafka_produce(p, o->topic, -1, "db.t", 4, pl.data + pl.off[i],
                                 pl.len[i], h, 1, &pos, errstr, sizeof(errstr)))
                die("produce", errstr);
            if (o->transactional && ++in_txn == o->per_txn) {
                if (sl_kafka_txn_commit(p, 30000, errstr, sizeof(errstr)))
                    die("commit", errstr);
                in_txn = 0;
            }
        }
        if (o->transactional && in_txn &&
            sl_kafka_txn_commit(p, 30000, errstr, sizeof(errstr)))
            die("commit", errstr);
        if (sl_kafka_producer_flush(p, 60000, errstr, sizeof(errstr)))
            die("flush", errstr);
        double dt = now_s() - t0;
        sl_pos_t d;
        char ds[160] = "none";
        if (sl_kafka_producer_durable(p, &d))
            sl_pos_format(&d, ds, sizeof(ds));
        printf("mode=%s records=%ld bytes=%zu seconds=%.3f msgs_per_s=%.0f durable=%s\n",
               o->transactional ? "transactional" : "idempotent", pl.n,
               pl.len[0], dt, pl.n / dt, ds);
        sl_kafka_producer_destroy(p);
        sl_kvlist_free(&props);
    }
    free(pl.data);
    free(pl.off);
    free(pl.len);
    return 0;
}

static int cmd_payloads(const opts_t *o)
{
    payloads_t pl;
    size_t dl = strlen(o->delim);
    make_payloads(o, &pl);
    for (long i = 0; i < pl.n; i++) {
        if (memmem(pl.data + pl.off[i], pl.len[i], o->delim, dl))
            die("payloads", "a payload contains the delimiter");
        fwrite(pl.data + pl.off[i], 1, pl.len[i], stdout);
        fwrite(o->delim, 1, dl, stdout);
    }
    free(pl.data);
    free(pl.off);
    free(pl.len);
    return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"records", required_argument, NULL, 'n'},
        {"first", required_argument, NULL, 'f'},
        {"partitions", required_argument, NULL, 'p'},
        {"transactional", no_argument, NULL, 'T'},
        {"per-txn", required_argument, NULL, 'k'},
        {"abort", no_argument, NULL, 'A'},
        {"txn-id", required_argument, NULL, 'i'},
        {"size", required_argument, NULL, 's'},
        {"raw", no_argument, NULL, 'r'},
        {"delim", required_argument, NULL, 'd'},
        {"prop", required_argument, NULL, 'X'},
        {NULL, 0, NULL, 0}
    };
    opts_t o = {.brokers = "127.0.0.1:19092", .records = 12, .per_txn = 1000,
                .size = 200, .delim = "\n"};
    int c;
    if (argc < 2) {
        fprintf(stderr, "usage: it_kafka produce|bench|payloads [options] (see the source)\n");
        return 2;
    }
    const char *cmd = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'b': o.brokers = optarg; break;
        case 't': o.topic = optarg; break;
        case 'n': o.records = atol(optarg); break;
        case 'f': o.first = atol(optarg); break;
        case 'p': o.partitions = atoi(optarg); break;
        case 'T': o.transactional = 1; break;
        case 'k': o.per_txn = atol(optarg); break;
        case 'A': o.abort_txn = 1; break;
        case 'i': o.txn_id = optarg; break;
        case 's': o.size = atol(optarg); break;
        case 'r': o.raw = 1; break;
        case 'd': o.delim = optarg; break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq)
                return 2;
            *eq = '\0';
            sl_kvlist_set(&o.props, optarg, eq + 1);
            break;
        }
        default: return 2;
        }
    }
    sl_log_init("it_kafka", NULL);
    sl_log_set_level(SL_LOG_WARN);
    if (!strcmp(cmd, "payloads"))
        return cmd_payloads(&o);
    if (!o.topic) {
        fprintf(stderr, "it_kafka: --topic is required\n");
        return 2;
    }
    if (o.per_txn < 1)
        o.per_txn = 1;
    if (!strcmp(cmd, "produce"))
        return cmd_produce(&o);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(&o);
    fprintf(stderr, "it_kafka: unknown mode \"%s\"\n", cmd);
    return 2;
}
