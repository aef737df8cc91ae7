/* it_target: drives one applier target (MySQL/MariaDB or MongoDB) through
 * app_target_ops_t on its own, without the applier core, with deterministic
 * transactions of records built with common/ (begin / schema / rows /
 * commit / rollback). The pytest side (tests/it/test_target_*.py) reads what
 * it wrote with independent clients (pymysql, pymongo) and checks it.
 *
 *   it_target mysql|mongo SCENARIO DB [ARGS]
 *     matrix DB          table `types`: every value kind at its edges (3 txns)
 *     load DB N T MIXED  table `bulk`: N inserted rows in transactions of T rows; MIXED=1
 *                        adds updates and deletes of earlier rows. Replays from the start
 *                        whatever the stored position says (= Kafka redelivery). Prints
 *                        "applied rows=… seconds=… rows_per_s=…".
 *     raw DB N           the same rows as `load DB N 1000 0` through the raw path:
 *                        MariaDB text INSERT … ON DUPLICATE KEY UPDATE 1000 rows/statement,
 *                        MongoDB a libmongoc ordered bulk of replace_one upserts by _id
 *     kill DB            writes 500 rows to `killed` inside a transaction, prints WRITTEN and
 *                        sleeps: the test kills it with SIGKILL before commit
 *     rollback DB        txn 1 (ids 1..10) rolled back, txn 2 (ids 11..20) committed
 *     hostile DB         tables and columns with hostile names
 *     nopk DB            a table without primary key: prints the refusal, exits 3
 *     ddl DB             (mysql) schema v1, rows, schema v2 (ADD, RENAME, MODIFY, DROP), rows
 *     older DB           (mongo) newer documents, then a restart and replayed older changes
 * Connection: SL_MYSQL_HOST/PORT/ROOT_USER/ROOT_PASSWORD, SL_MONGO_URI.
 * Exit: 0 ok, 1 usage, 2 target error (message on stderr), 3 expected refusal. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mongoc/mongoc.h>
#include <mysql.h>

#include "sl_buf.h"
#include "sl_pos.h"
#include "sl_record.h"

/* The targets are compiled in here (the Makefile links tests/it programs with
 * libshiftlog.a only; the applier's objects are not a library). */
#include "../../applier/target.h"
#include "../../applier/target_common.h"

static const app_target_ops_t *ops;
static app_target_t *tgt;
static char err[2048];
static const char *g_db;
static const char *g_kind;
static int64_t g_koff;            /* a fake Kafka offset, one per record */

#define CHECK(call) do { sl_err_t e_ = (call); if (e_ != SL_OK) { \
    fprintf(stderr, "it_target: %s: %s (%s)\n", #call, err, sl_err_name(e_)); exit(2); } } while (0)

typedef struct coldef_s {
    const char   *name;
    sl_val_kind_t kind;
    const char   *stype;
    int           prec, scale, pk;
    const char   *labels[4];
} coldef_t;

typedef struct table_s {
    sl_record_t    *schema;       /* SCHEMA record kept alive: map.schema points into it */
    app_table_map_t map;
    const char    **cols;
    uint32_t        ncols;
} table_t;

static void open_target(int write_batch)
{
    app_target_conf_t c;
    memset(&c, 0, sizeof c);
    c.task = getenv("IT_TASK") ? getenv("IT_TASK") : "it_target";
    c.database = g_db;
    c.create_tables = 1;
    c.write_batch = write_batch;
    if (!strcmp(g_kind, "mysql")) {
        ops = &app_target_mysql;
        c.host = getenv("SL_MYSQL_HOST") ? getenv("SL_MYSQL_HOST") : "127.0.0.1";
        c.port = getenv("SL_MYSQL_PORT") ? atoi(getenv("SL_MYSQL_PORT")) : 13306;
        c.user = getenv("SL_MYSQL_ROOT_USER") ? getenv("SL_MYSQL_ROOT_USER") : "root";
        c.password = getenv("SL_MYSQL_ROOT_PASSWORD") ? getenv("SL_MYSQL_ROOT_PASSWORD") : "";
    } else {
        ops = &app_target_mongo;
        c.host = getenv("SL_MONGO_URI") ? getenv("SL_MONGO_URI") : "mongodb://127.0.0.1:27117";
    }
    CHECK(ops->open(&tgt, &c, err, sizeof err));
}

static app_position_t mkpos(uint64_t offset, uint32_t row)
{
    app_position_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.topic, sizeof p.topic, "it.%s", g_db);
    p.partition = 0;
    p.kafka_offset = g_koff++;
    p.sub_offset = row;
    sl_pos_set_mysql(&p.source, "mysql-bin.000001", offset, row);
    return p;
}

static void load_pos(void)
{
    app_position_t p;
    char txt[256];
    snprintf(p.topic, sizeof p.topic, "it.%s", g_db);
    sl_err_t e = ops->load_position(tgt, p.topic, 0, &p, err, sizeof err);
    if (e == SL_ERR_NOT_FOUND) {
        printf("loaded none\n");
        return;
    }
    CHECK(e);
    sl_pos_format(&p.source, txt, sizeof txt);
    printf("loaded %s kafka_offset=%" PRId64 "\n", txt, p.kafka_offset);
}

static table_t *g_tables[16];
static int g_ntables;

static void free_tables(void)
{
    for (int i = 0; i < g_ntables; i++) {
        sl_record_destroy(g_tables[i]->schema);
        free(g_tables[i]->cols);
        free(g_tables[i]);
    }
    g_ntables = 0;
}

static table_t *mktable(const char *name, const coldef_t *defs, uint32_t n, uint64_t at)
{
    table_t *t = calloc(1, sizeof *t);
    if (g_ntables < 16)
        g_tables[g_ntables++] = t;
    t->schema = sl_record_new();
    sl_record_init_schema(t->schema, "it", "src", name, n);
    sl_pos_set_mysql(&t->schema->pos, "mysql-bin.000001", at, 0);
    t->cols = calloc(n, sizeof *t->cols);
    for (uint32_t i = 0; i < n; i++) {
        sl_column_t *c = &t->schema->u.schema.cols[i];
        c->name = sl_record_strdup(t->schema, defs[i].name);
        c->kind = defs[i].kind;
        c->source_type = sl_record_strdup(t->schema, defs[i].stype);
        c->nullable = !defs[i].pk;
        c->precision = defs[i].prec;
        c->scale = defs[i].scale;
        c->pk = defs[i].pk;
        while (c->nlabels < 4 && defs[i].labels[c->nlabels])
            c->nlabels++;
        if (c->nlabels) {
            c->labels = sl_record_alloc(t->schema, c->nlabels * sizeof *c->labels);
            for (uint32_t k = 0; k < c->nlabels; k++)
                c->labels[k] = sl_record_strdup(t->schema, defs[i].labels[k]);
        }
        t->cols[i] = defs[i].name;
    }
    t->ncols = n;
    t->map.src_db = "src";
    t->map.src_table = name;
    t->map.dst_schema = g_db;
    t->map.dst_table = name;
    t->map.ncols = n;
    t->map.dst_cols = NULL;
    t->map.schema = &t->schema->u.schema;
    return t;
}

static sl_err_t apply_schema(table_t *t)
{
    return ops->schema(tgt, &t->map, t->schema, err, sizeof err);
}

static sl_record_t *change(table_t *t, sl_op_t op, uint32_t nrows)
{
    sl_record_t *r = sl_record_new();
    sl_record_init_change(r, "it", "src", t->map.src_table, op, t->ncols, t->cols, nrows);
    return r;
}

static void apply_rows(table_t *t, sl_record_t *r, uint64_t offset)
{
    app_position_t p = mkpos(offset, 0);
    sl_pos_set_mysql(&r->pos, "mysql-bin.000001", offset, 0);
    CHECK(ops->rows(tgt, &t->map, r, 0, r->u.change.nrows, &p, err, sizeof err));
}

static void commit_at(uint64_t offset)
{
    app_position_t p = mkpos(offset, 0);
    CHECK(ops->commit(tgt, &p, err, sizeof err));
}

/* ---- value setters ---- */

static void v_int(sl_value_t *v, int64_t x) { v->kind = SL_VAL_INT; v->u.i = x; }
static void v_null(sl_value_t *v) { v->kind = SL_VAL_NULL; }
static void v_txt(sl_record_t *r, sl_value_t *v, sl_val_kind_t k, const char *s, size_t n)
{
    sl_value_set_text(r, v, k, s, n);
}
static void v_str(sl_record_t *r, sl_value_t *v, const char *s)
{
    v_txt(r, v, SL_VAL_STRING, s, strlen(s));
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void v_tm(sl_record_t *r, sl_value_t *v, sl_temporal_kind_t k, const char *text,
                 int has, int64_t micros, int prec)
{
    sl_value_set_temporal(r, v, k, text, strlen(text), has, micros, prec, 0, 0);
}

/* ---- matrix ---- */

static const coldef_t matrix_cols[] = {
    {"id", SL_VAL_INT, "bigint(20)", -1, -1, 1, {0}},
    {"i64", SL_VAL_INT, "bigint(20)", -1, -1, 0, {0}},
    {"u64", SL_VAL_UINT, "bigint(20) unsigned", -1, -1, 0, {0}},
    {"dec", SL_VAL_DECIMAL, "decimal(65,30)", 65, 30, 0, {0}},
    {"dsm", SL_VAL_DECIMAL, "decimal(10,2)", 10, 2, 0, {0}},
    {"f", SL_VAL_FLOAT, "float", -1, -1, 0, {0}},
    {"dbl", SL_VAL_DOUBLE, "double", -1, -1, 0, {0}},
    {"s", SL_VAL_STRING, "varchar(100)", 100, -1, 0, {0}},
    {"e_s", SL_VAL_STRING, "varchar(10)", 10, -1, 0, {0}},
    {"b", SL_VAL_BYTES, "varbinary(16)", 16, -1, 0, {0}},
    {"dt", SL_VAL_TEMPORAL, "datetime(6)", 6, -1, 0, {0}},
    {"d", SL_VAL_TEMPORAL, "date", 0, -1, 0, {0}},
    {"tm", SL_VAL_TEMPORAL, "time(6)", 6, -1, 0, {0}},
    {"ts", SL_VAL_TEMPORAL, "timestamp(6)", 6, -1, 0, {0}},
    {"bt", SL_VAL_BIT, "bit(64)", 64, -1, 0, {0}},
    {"b5", SL_VAL_BIT, "bit(5)", 5, -1, 0, {0}},
    {"st", SL_VAL_SET, "set('a','b','c')", -1, -1, 0, {"a", "b", "c", NULL}},
    {"en", SL_VAL_STRING, "enum('x','y')", -1, -1, 0, {"x", "y", NULL}},
    {"js", SL_VAL_STRING, "longtext", -1, -1, 0, {0}},
    {"y", SL_VAL_INT, "year(4)", -1, -1, 0, {0}},
    {"ip", SL_VAL_TYPED, "inet6", -1, -1, 0, {0}},
    {"uu", SL_VAL_TYPED, "uuid", -1, -1, 0, {0}},
};
#define NMATRIX (sizeof matrix_cols / sizeof matrix_cols[0])

static void matrix_row(sl_record_t *r, sl_value_t *v, int which)
{
    static const char s1[] = "h\xc3\xa9llo \xf0\x9f\x98\x80 \"q\" 'x' \\ `b`";
    static const char dmax[] = "99999999999999999999999999999999999.999999999999999999999999999999";
    static const uint8_t ff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t zero8[8] = {0};
    uint8_t b5;
    const char *set1[] = {"a", "c"};
    if (which == 1) {
        v_int(&v[0], 1);
        v_int(&v[1], INT64_MAX);
        v[2].kind = SL_VAL_UINT; v[2].u.u = UINT64_MAX;
        v_txt(r, &v[3], SL_VAL_DECIMAL, dmax, strlen(dmax));
        v_txt(r, &v[4], SL_VAL_DECIMAL, "12345678.90", 11);
        v[5].kind = SL_VAL_FLOAT; v[5].u.f = 3.14159274f;
        v[6].kind = SL_VAL_DOUBLE; v[6].u.d = 0.1;
        v_str(r, &v[7], s1);
        v_str(r, &v[8], "");
        v_txt(r, &v[9], SL_VAL_BYTES, "\0\x01\0\xff", 4);
        v_tm(r, &v[10], SL_T_DATETIME, "9999-12-31 23:59:59.999999", 1,
             days_from_civil(9999, 12, 31) * 86400000000LL + 86399999999LL, 6);
        v_tm(r, &v[11], SL_T_DATE, "0000-00-00", 0, 0, 0);
        v_tm(r, &v[12], SL_T_TIME, "838:59:59.000000", 1, (838LL * 3600 + 59 * 60 + 59) * 1000000, 6);
        v_tm(r, &v[13], SL_T_TIMESTAMP, "2038-01-19 03:14:07.999999", 1,
             days_from_civil(2038, 1, 19) * 86400000000LL + (3LL * 3600 + 14 * 60 + 7) * 1000000 + 999999, 6);
        sl_value_set_bit(r, &v[14], 64, ff, 8);
        b5 = 0x15;
        sl_value_set_bit(r, &v[15], 5, &b5, 1);
        sl_value_set_set(r, &v[16], set1, 2);
        v_str(r, &v[17], "y");
        v_str(r, &v[18], "{\"k\": [1, 2.5, null], \"u\": \"\xe2\x82\xac\"}");
        v_int(&v[19], 2155);
        sl_value_set_typed(r, &v[20], "inet6", "2001:db8::1", 11);
        sl_value_set_typed(r, &v[21], "uuid", "123e4567-e89b-12d3-a456-426614174000", 36);
    } else if (which == 2) {
        v_int(&v[0], 2);
        v_int(&v[1], INT64_MIN);
        v[2].kind = SL_VAL_UINT; v[2].u.u = 0;
        char neg[80];
        snprintf(neg, sizeof neg, "-%s", dmax);
        v_txt(r, &v[3], SL_VAL_DECIMAL, neg, strlen(neg));
        v_txt(r, &v[4], SL_VAL_DECIMAL, "-0.01", 5);
        v[5].kind = SL_VAL_FLOAT; v[5].u.f = -1.17549435e-38f;
        v[6].kind = SL_VAL_DOUBLE; v[6].u.d = -1.7976931348623157e308;
        v_null(&v[7]);
        v_null(&v[8]);
        v_txt(r, &v[9], SL_VAL_BYTES, "", 0);
        v_tm(r, &v[10], SL_T_DATETIME, "1000-01-01 00:00:00.000000", 1,
             days_from_civil(1000, 1, 1) * 86400000000LL, 6);
        v_tm(r, &v[11], SL_T_DATE, "2024-02-29", 1, days_from_civil(2024, 2, 29), 0);
        v_tm(r, &v[12], SL_T_TIME, "-838:59:59.000000", 1, -(838LL * 3600 + 59 * 60 + 59) * 1000000, 6);
        v_tm(r, &v[13], SL_T_TIMESTAMP, "1970-01-01 00:00:01.000000", 1, 1000000, 6);
        sl_value_set_bit(r, &v[14], 64, zero8, 8);
        b5 = 0;
        sl_value_set_bit(r, &v[15], 5, &b5, 1);
        sl_value_set_set(r, &v[16], set1, 0);
        v_str(r, &v[17], "x");
        v_str(r, &v[18], "[]");
        v_int(&v[19], 1901);
        sl_value_set_typed(r, &v[20], "inet6", "::ffff:1.2.3.4", 14);
        sl_value_set_typed(r, &v[21], "uuid", "00000000-0000-0000-0000-000000000000", 36);
    } else {             /* id only, the rest NULL */
        v_int(&v[0], which);
        for (uint32_t i = 1; i < NMATRIX; i++)
            v_null(&v[i]);
    }
}

static int sc_matrix(void)
{
    table_t *t = mktable("types", matrix_cols, NMATRIX, 100);
    load_pos();
    CHECK(apply_schema(t));
    /* txn 1: rows 1, 2, 3, 4, 5 */
    CHECK(ops->begin(tgt, err, sizeof err));
    sl_record_t *r = change(t, SL_OP_INSERT, 5);
    for (int i = 0; i < 5; i++)
        matrix_row(r, r->u.change.rows[i].after, i + 1);
    apply_rows(t, r, 1000);
    commit_at(1100);
    sl_record_destroy(r);
    /* txn 2: row 3 gets s (other columns not in the image), 4 becomes 40, 5 goes */
    CHECK(ops->begin(tgt, err, sizeof err));
    r = change(t, SL_OP_UPDATE, 2);
    for (int i = 0; i < 2; i++)
        matrix_row(r, r->u.change.rows[i].before, i ? 4 : 3);
    sl_value_t *a = r->u.change.rows[0].after;
    v_int(&a[0], 3);
    for (uint32_t i = 1; i < NMATRIX; i++)
        a[i].kind = SL_VAL_MISSING, a[i].u.missing = SL_MISSING_NOT_IN_IMAGE;
    v_str(r, &a[7], "updated");
    a = r->u.change.rows[1].after;
    matrix_row(r, a, 4);
    v_int(&a[0], 40);
    apply_rows(t, r, 1200);
    sl_record_destroy(r);
    r = change(t, SL_OP_DELETE, 1);
    matrix_row(r, r->u.change.rows[0].before, 5);
    apply_rows(t, r, 1300);
    commit_at(1400);
    sl_record_destroy(r);
    printf("matrix ok\n");
    return 0;
}

/* ---- load (replay, bench) ---- */

static const coldef_t bulk_cols[] = {
    {"id", SL_VAL_INT, "bigint(20)", -1, -1, 1, {0}},
    {"v", SL_VAL_STRING, "varchar(64)", 64, -1, 0, {0}},
    {"amount", SL_VAL_DECIMAL, "decimal(18,4)", 18, 4, 0, {0}},
    {"at", SL_VAL_TEMPORAL, "datetime(6)", 6, -1, 0, {0}},
    {"n", SL_VAL_INT, "int(11)", -1, -1, 0, {0}},
};

static void bulk_row(sl_record_t *r, sl_value_t *v, int64_t id, int64_t version)
{
    char s[64], d[64], ts[64];
    int64_t micros = 1700000000000000LL + id * 1000001LL + version;
    v_int(&v[0], id);
    snprintf(s, sizeof s, "row-%" PRId64 "-v%" PRId64, id, version);
    v_str(r, &v[1], s);
    snprintf(d, sizeof d, "%" PRId64 ".%04" PRId64, id * 3 + version, (id * 7) % 10000);
    v_txt(r, &v[2], SL_VAL_DECIMAL, d, strlen(d));
    app_conv_micros_text(micros, 6, ts, sizeof ts);
    v_tm(r, &v[3], SL_T_DATETIME, ts, 1, micros, 6);
    v_int(&v[4], (int)(id % 1000) - 500);
}

static int sc_load(int64_t n, int64_t per, int mixed)
{
    table_t *t = mktable("bulk", bulk_cols, 5, 10);
    load_pos();
    CHECK(apply_schema(t));
    sl_record_t *r = sl_record_new();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t off = 1000;
    int64_t rows = 0;
    for (int64_t base = 0; base < n; base += per) {
        int64_t cnt = base + per <= n ? per : n - base;
        CHECK(ops->begin(tgt, err, sizeof err));
        sl_record_reset(r);
        sl_record_init_change(r, "it", "src", "bulk", SL_OP_INSERT, 5, t->cols, (uint32_t)cnt);
        for (int64_t i = 0; i < cnt; i++)
            bulk_row(r, r->u.change.rows[i].after, base + i, 0);
        apply_rows(t, r, off);
        off += 100;
        rows += cnt;
        if (mixed && base > 0) {
            int64_t nu = cnt / 10 ? cnt / 10 : 1, nd = cnt / 20 ? cnt / 20 : 1;
            sl_record_reset(r);
            sl_record_init_change(r, "it", "src", "bulk", SL_OP_UPDATE, 5, t->cols, (uint32_t)nu);
            for (int64_t i = 0; i < nu; i++) {     /* rows of the previous transaction */
                int64_t id = base - per + i * 3;
                bulk_row(r, r->u.change.rows[i].before, id, 0);
                bulk_row(r, r->u.change.rows[i].after, id, base);
            }
            apply_rows(t, r, off);
            off += 100;
            sl_record_reset(r);
            sl_record_init_change(r, "it", "src", "bulk", SL_OP_DELETE, 5, t->cols, (uint32_t)nd);
            for (int64_t i = 0; i < nd; i++)
                bulk_row(r, r->u.change.rows[i].before, base - per + 1 + i * 3, 0);
            apply_rows(t, r, off);
            off += 100;
            rows += nu + nd;
        }
        commit_at(off);
        off += 100;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("applied rows=%" PRId64 " seconds=%.3f rows_per_s=%.0f\n", rows, secs, rows / secs);
    sl_record_destroy(r);
    return 0;
}

/* The raw limit on the same rows: no target code, the server's bulk path. */
static int sc_raw(int64_t n)
{
    struct timespec t0, t1;
    sl_record_t *r = sl_record_new();
    const char *cols[5] = {"id", "v", "amount", "at", "n"};
    sl_buf_t q = SL_BUF_INIT, txt = SL_BUF_INIT;
    char es[256];
    if (!strcmp(g_kind, "mysql")) {
        MYSQL *db = mysql_init(NULL);
        if (!mysql_real_connect(db, getenv("SL_MYSQL_HOST"), getenv("SL_MYSQL_ROOT_USER"),
                                getenv("SL_MYSQL_ROOT_PASSWORD"), NULL,
                                (unsigned)atoi(getenv("SL_MYSQL_PORT")), NULL, 0)) {
            fprintf(stderr, "raw: %s\n", mysql_error(db));
            return 2;
        }
        sl_buf_printf(&q, "CREATE DATABASE IF NOT EXISTS `%s`", g_db);
        mysql_real_query(db, q.data, q.len);
        mysql_select_db(db, g_db);
        mysql_query(db, "SET NAMES utf8mb4");
        mysql_query(db, "CREATE TABLE IF NOT EXISTS raw_bulk (id BIGINT PRIMARY KEY, v VARCHAR(64), "
                        "amount DECIMAL(18,4), at DATETIME(6), n INT) ENGINE=InnoDB");
        mysql_autocommit(db, 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int64_t base = 0; base < n; base += 1000) {
            int64_t cnt = base + 1000 <= n ? 1000 : n - base;
            sl_record_reset(r);
            sl_record_init_change(r, "it", "src", "bulk", SL_OP_INSERT, 5, cols, (uint32_t)cnt);
            sl_buf_reset(&q);
            sl_buf_puts(&q, "INSERT INTO raw_bulk (id,v,amount,at,n) VALUES ");
            for (int64_t i = 0; i < cnt; i++) {
                sl_value_t *v = r->u.change.rows[i].after;
                bulk_row(r, v, base + i, 0);
                sl_buf_puts(&q, i ? ",(" : "(");
                for (int c = 0; c < 5; c++) {
                    sl_buf_reset(&txt);
                    app_conv_text(&v[c], 0, &txt, es, sizeof es);
                    if (c)
                        sl_buf_putc(&q, ',');
                    sl_buf_reserve(&q, txt.len * 2 + 3);
                    q.data[q.len++] = '\'';
                    q.len += mysql_real_escape_string(db, q.data + q.len, txt.data, txt.len);
                    q.data[q.len++] = '\'';
                    q.data[q.len] = '\0';
                }
                sl_buf_putc(&q, ')');
            }
            sl_buf_puts(&q, " ON DUPLICATE KEY UPDATE v=VALUES(v),amount=VALUES(amount),"
                            "at=VALUES(at),n=VALUES(n)");
            if (mysql_real_query(db, q.data, q.len) || mysql_commit(db)) {
                fprintf(stderr, "raw: %s\n", mysql_error(db));
                return 2;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        mysql_close(db);
    } else {
        bson_error_t be;
        mongoc_client_t *cl = mongoc_client_new(getenv("SL_MONGO_URI"));
        mongoc_collection_t *coll = mongoc_client_get_collection(cl, g_db, "raw_bulk");
        bson_t *up = BCON_NEW("upsert", BCON_BOOL(true));
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int64_t base = 0; base < n; base += 1000) {
            int64_t cnt = base + 1000 <= n ? 1000 : n - base;
            mongoc_bulk_operation_t *bulk =
                mongoc_collection_create_bulk_operation_with_opts(coll, NULL);
            sl_record_reset(r);
            sl_record_init_change(r, "it", "src", "bulk", SL_OP_INSERT, 5, cols, (uint32_t)cnt);
            for (int64_t i = 0; i < cnt; i++) {
                sl_value_t *v = r->u.change.rows[i].after;
                bson_decimal128_t d;
                char ds[64];
                bulk_row(r, v, base + i, 0);
                snprintf(ds, sizeof ds, "%.*s", (int)v[2].len, v[2].data);
                bson_decimal128_from_string(ds, &d);
                bson_t *sel = BCON_NEW("_id", BCON_INT64(v[0].u.i));
                bson_t *doc = BCON_NEW("_id", BCON_INT64(v[0].u.i), "v", BCON_UTF8(v[1].data),
                                       "amount", BCON_DECIMAL128(&d),
                                       "at", BCON_DATE_TIME(v[3].u.t.micros / 1000),
                                       "n", BCON_INT64(v[4].u.i));
                mongoc_bulk_operation_replace_one_with_opts(bulk, sel, doc, up, &be);
                bson_destroy(sel);
                bson_destroy(doc);
            }
            if (!mongoc_bulk_operation_execute(bulk, NULL, &be)) {
                fprintf(stderr, "raw: %s\n", be.message);
                return 2;
            }
            mongoc_bulk_operation_destroy(bulk);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        bson_destroy(up);
        mongoc_collection_destroy(coll);
        mongoc_client_destroy(cl);
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("raw rows=%" PRId64 " seconds=%.3f rows_per_s=%.0f\n", n, secs, n / secs);
    sl_buf_free(&q);
    sl_buf_free(&txt);
    sl_record_destroy(r);
    return 0;
}

/* ---- the small scenarios ---- */

static const coldef_t kv_cols[] = {
    {"id", SL_VAL_INT, "int(11)", -1, -1, 1, {0}},
    {"v", SL_VAL_STRING, "varchar(32)", 32, -1, 0, {0}},
};

static void kv_txn(table_t *t, int64_t from, int64_t to, uint64_t off, int commit)
{
    CHECK(ops->begin(tgt, err, sizeof err));
    sl_record_t *r = change(t, SL_OP_INSERT, (uint32_t)(to - from + 1));
    for (int64_t i = from; i <= to; i++) {
        char s[32];
        snprintf(s, sizeof s, "v%" PRId64, i);
        v_int(&r->u.change.rows[i - from].after[0], i);
        v_str(r, &r->u.change.rows[i - from].after[1], s);
    }
    apply_rows(t, r, off);
    sl_record_destroy(r);
    if (commit)
        commit_at(off + 50);
}

static int sc_kill(void)
{
    table_t *t = mktable("killed", kv_cols, 2, 10);
    CHECK(apply_schema(t));
    kv_txn(t, 1, 500, 1000, 0);      /* write_batch 100: 500 rows are on the server */
    printf("WRITTEN\n");
    fflush(stdout);
    sleep(120);
    return 0;
}

static int sc_rollback(void)
{
    table_t *t = mktable("rb", kv_cols, 2, 10);
    CHECK(apply_schema(t));
    kv_txn(t, 1, 10, 1000, 0);
    CHECK(ops->rollback(tgt, err, sizeof err));
    kv_txn(t, 11, 20, 2000, 1);
    printf("rollback ok\n");
    return 0;
}

static int sc_hostile(void)
{
    static const char *names[] = {"a\"; DROP TABLE x;--", "back`tick``", "\xc3\xbcn\xc3\xaf" "c\xc3\xb8"
                                  "d\xc3\xa9_\xe8\xa1\xa8", "x'); DROP DATABASE y;--"};
    const coldef_t cols[] = {
        {"id`", SL_VAL_INT, "int(11)", -1, -1, 1, {0}},
        {"v\"; DROP TABLE kafkaoffset;--", SL_VAL_STRING, "varchar(32)", 32, -1, 0, {0}},
        {"w'), ('", SL_VAL_STRING, "enum('it''s','a\\\\b')", -1, -1, 0, {"it's", "a\\b", NULL}},
    };
    for (int k = 0; k < 4; k++) {
        table_t *t = mktable(names[k], cols, 3, 10);
        CHECK(apply_schema(t));
        CHECK(ops->begin(tgt, err, sizeof err));
        sl_record_t *r = change(t, SL_OP_INSERT, 2);
        for (int i = 0; i < 2; i++) {
            v_int(&r->u.change.rows[i].after[0], i + 1);
            v_str(r, &r->u.change.rows[i].after[1], "'; DROP TABLE x;-- `\"");
            v_str(r, &r->u.change.rows[i].after[2], i ? "a\\b" : "it's");
        }
        apply_rows(t, r, 1000 + (uint64_t)k * 100);
        commit_at(1050 + (uint64_t)k * 100);
        sl_record_destroy(r);
    }
    printf("hostile ok\n");
    return 0;
}

static int sc_nopk(void)
{
    const coldef_t cols[] = {
        {"a", SL_VAL_INT, "int(11)", -1, -1, 0, {0}},
        {"b", SL_VAL_STRING, "varchar(8)", 8, -1, 0, {0}},
    };
    table_t *t = mktable("nopk", cols, 2, 10);
    sl_err_t e = apply_schema(t);
    if (e == SL_OK) {
        /* a target may accept the schema and refuse at the first row instead */
        CHECK(ops->begin(tgt, err, sizeof err));
        sl_record_t *r = change(t, SL_OP_INSERT, 1);
        v_int(&r->u.change.rows[0].after[0], 1);
        v_str(r, &r->u.change.rows[0].after[1], "x");
        app_position_t p = mkpos(1000, 0);
        e = ops->rows(tgt, &t->map, r, 0, 1, &p, err, sizeof err);
        if (e == SL_OK) {
            fprintf(stderr, "it_target: a table without a key was accepted\n");
            return 2;
        }
    }
    printf("refused (%s): %s\n", sl_err_name(e), err);
    return e == SL_ERR_UNSUPPORTED ? 3 : 2;
}

static int sc_ddl(void)
{
    const coldef_t v1[] = {
        {"id", SL_VAL_INT, "int(11)", -1, -1, 1, {0}},
        {"a", SL_VAL_INT, "int(11)", -1, -1, 0, {0}},
        {"b", SL_VAL_STRING, "varchar(10)", 10, -1, 0, {0}},
        {"gone", SL_VAL_STRING, "varchar(10)", 10, -1, 0, {0}},
    };
    const coldef_t v2[] = {
        {"id", SL_VAL_INT, "int(11)", -1, -1, 1, {0}},
        {"a", SL_VAL_INT, "bigint(20)", -1, -1, 0, {0}},
        {"bb", SL_VAL_STRING, "varchar(10)", 10, -1, 0, {0}},
        {"c", SL_VAL_DECIMAL, "decimal(12,3)", 12, 3, 0, {0}},
    };
    table_t *t = mktable("evolve", v1, 4, 10);
    CHECK(apply_schema(t));
    CHECK(ops->begin(tgt, err, sizeof err));
    sl_record_t *r = change(t, SL_OP_INSERT, 1);
    v_int(&r->u.change.rows[0].after[0], 1);
    v_int(&r->u.change.rows[0].after[1], 7);
    v_str(r, &r->u.change.rows[0].after[2], "one");
    v_str(r, &r->u.change.rows[0].after[3], "bye");
    apply_rows(t, r, 1000);
    commit_at(1050);
    sl_record_destroy(r);
    table_t *t2 = mktable("evolve", v2, 4, 2000);
    t2->map.schema = t->map.schema;            /* the version in force before the DDL */
    CHECK(apply_schema(t2));
    t2->map.schema = &t2->schema->u.schema;
    CHECK(ops->begin(tgt, err, sizeof err));
    r = change(t2, SL_OP_INSERT, 1);
    v_int(&r->u.change.rows[0].after[0], 2);
    v_int(&r->u.change.rows[0].after[1], INT64_MAX);
    v_str(r, &r->u.change.rows[0].after[2], "two");
    v_txt(r, &r->u.change.rows[0].after[3], SL_VAL_DECIMAL, "-123456789.125", 14);
    apply_rows(t2, r, 3000);
    commit_at(3050);
    sl_record_destroy(r);
    printf("ddl ok\n");
    return 0;
}

static int sc_older(void)
{
    table_t *t = mktable("docs", kv_cols, 2, 10);
    CHECK(apply_schema(t));
    /* newer state: k1 = "new" written at 5000, k2 at 5001; position 5100 */
    CHECK(ops->begin(tgt, err, sizeof err));
    sl_record_t *r = change(t, SL_OP_INSERT, 2);
    v_int(&r->u.change.rows[0].after[0], 1);
    v_str(r, &r->u.change.rows[0].after[1], "new");
    v_int(&r->u.change.rows[1].after[0], 2);
    v_str(r, &r->u.change.rows[1].after[1], "keep");
    apply_rows(t, r, 5000);
    commit_at(5100);
    sl_record_destroy(r);
    ops->close(tgt);
    /* restart: replayed older changes must not win */
    open_target(1000);
    load_pos();
    CHECK(apply_schema(t));
    CHECK(ops->begin(tgt, err, sizeof err));
    r = change(t, SL_OP_UPDATE, 1);
    v_int(&r->u.change.rows[0].before[0], 1);
    v_str(r, &r->u.change.rows[0].before[1], "older");
    v_int(&r->u.change.rows[0].after[0], 1);
    v_str(r, &r->u.change.rows[0].after[1], "old");
    apply_rows(t, r, 3000);
    sl_record_destroy(r);
    r = change(t, SL_OP_DELETE, 1);
    v_int(&r->u.change.rows[0].before[0], 2);
    v_str(r, &r->u.change.rows[0].before[1], "keep");
    apply_rows(t, r, 3100);
    sl_record_destroy(r);
    r = change(t, SL_OP_INSERT, 1);          /* a row never written before: applied */
    v_int(&r->u.change.rows[0].after[0], 3);
    v_str(r, &r->u.change.rows[0].after[1], "three");
    apply_rows(t, r, 3200);
    sl_record_destroy(r);
    commit_at(5100);
    printf("older ok skipped=%" PRIu64 "\n", app_target_mongo_skipped(tgt));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: it_target mysql|mongo SCENARIO DB [ARGS]\n");
        return 1;
    }
    g_kind = argv[1];
    g_db = argv[3];
    const char *sc = argv[2];
    int rc = 1;
    if (!strcmp(sc, "raw"))
        return sc_raw(argc > 4 ? atoll(argv[4]) : 100000);
    open_target(!strcmp(sc, "kill") ? 100 : argc > 7 ? atoi(argv[7]) : 1000);
    if (!strcmp(sc, "matrix"))
        rc = sc_matrix();
    else if (!strcmp(sc, "load") && argc > 6)
        rc = sc_load(atoll(argv[4]), atoll(argv[5]), atoi(argv[6]));
    else if (!strcmp(sc, "kill"))
        rc = sc_kill();
    else if (!strcmp(sc, "rollback"))
        rc = sc_rollback();
    else if (!strcmp(sc, "hostile"))
        rc = sc_hostile();
    else if (!strcmp(sc, "nopk"))
        rc = sc_nopk();
    else if (!strcmp(sc, "ddl"))
        rc = sc_ddl();
    else if (!strcmp(sc, "older"))
        rc = sc_older();
    else
        fprintf(stderr, "it_target: unknown scenario %s\n", sc);
    ops->close(tgt);
    free_tables();
    return rc;
}
