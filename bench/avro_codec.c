/* bench: Avro codec throughput (records/s) for a CHANGE batch of 10 columns
 * with 1 and with 100 rows. Run by bench/avro_codec.sh; never part of make test. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_avro.h"
#include "sl_avro_int.h"  /* the generic encoder and decoder: the baselines */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(sl_record_t *r, uint32_t nrows)
{
    static const char *const cols[] = { "id", "qty", "price", "name", "note", "created",
                                        "flag", "ratio", "blob", "uid" };
    sl_record_init_change(r, "shop", "shop", "orders", SL_OP_UPDATE, 10, cols, nrows);
    sl_pos_set_mysql(&r->pos, "mysql-bin.000003", 123456, 0);
    r->u.change.txn = "0-1-4242";
    r->u.change.event_time_us = 1700000000000000LL;
    for (uint32_t i = 0; i < nrows; i++) {
        for (int img = 0; img < 2; img++) {
            sl_value_t *v = img ? r->u.change.rows[i].after : r->u.change.rows[i].before;
            v[0].kind = SL_VAL_INT; v[0].u.i = 1000000 + i;
            v[1].kind = SL_VAL_INT; v[1].u.i = 3 + img;
            sl_value_set_text(r, &v[2], SL_VAL_DECIMAL, "12345.67", 8);
            sl_value_set_text(r, &v[3], SL_VAL_STRING, "customer name here", 18);
            v[4].kind = SL_VAL_NULL;
            sl_value_set_temporal(r, &v[5], SL_T_DATETIME, "2024-01-02 03:04:05", 19, 1,
                                  1704164645000000LL, 0, 0, 0);
            v[6].kind = SL_VAL_BOOL; v[6].u.b = 1;
            v[7].kind = SL_VAL_DOUBLE; v[7].u.d = 0.125;
            sl_value_set_text(r, &v[8], SL_VAL_BYTES, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
            v[9].kind = SL_VAL_UINT; v[9].u.u = UINT64_MAX - i;
        }
    }
}

static void run(sl_avro_codec_t *c, uint32_t nrows, double secs)
{
    char err[512];
    sl_record_t *r = sl_record_new(), *d = sl_record_new();
    const void *buf;
    size_t len = 0;
    fill(r, nrows);
    long n = 0;
    double t0 = now(), t;
    do {
        for (int k = 0; k < 100; k++, n++)
            if (sl_avro_encode(c, r, &buf, &len, err, sizeof(err)) != SL_OK) {
                fprintf(stderr, "encode: %s\n", err);
                exit(1);
            }
    } while ((t = now() - t0) < secs);
    double enc = n / t;
    n = 0;                      /* the baseline: avro-c's generic writer */
    t0 = now();
    do {
        for (int k = 0; k < 100; k++, n++)
            if (sl_avro_encode_generic(c, r, &buf, &len, err, sizeof(err)) != SL_OK) {
                fprintf(stderr, "encode (generic): %s\n", err);
                exit(1);
            }
    } while ((t = now() - t0) < secs);
    double genc = n / t;
    char *copy = malloc(len);
    memcpy(copy, buf, len);
    n = 0;
    t0 = now();
    do {
        for (int k = 0; k < 100; k++, n++)
            if (sl_avro_decode(c, copy, len, d, err, sizeof(err)) != SL_OK) {
                fprintf(stderr, "decode: %s\n", err);
                exit(1);
            }
    } while ((t = now() - t0) < secs);
    double dec = n / t;
    n = 0;                      /* the baseline: avro-c's generic reader */
    t0 = now();
    do {
        for (int k = 0; k < 100; k++, n++)
            if (sl_avro_decode_generic(c, copy, len, d, err, sizeof(err)) != SL_OK) {
                fprintf(stderr, "decode (generic): %s\n", err);
                exit(1);
            }
    } while ((t = now() - t0) < secs);
    double gen = n / t;
    if (!sl_record_equal(r, d)) {
        fprintf(stderr, "round trip differs\n");
        exit(1);
    }
    printf("avro_codec change 10 cols x %3u rows (update, %6zu bytes):\n"
           "  encode %9.0f rec/s (%9.0f rows/s), avro-c generic %9.0f rec/s: %.2fx\n"
           "  decode %9.0f rec/s (%9.0f rows/s), avro-c generic %9.0f rec/s: %.2fx\n",
           nrows, len, enc, enc * nrows, genc, enc / genc, dec, dec * nrows, gen, dec / gen);
    free(copy);
    sl_record_destroy(r);
    sl_record_destroy(d);
}

int main(int argc, char **argv)
{
    char err[512];
    sl_avro_codec_t *c;
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    if (sl_avro_codec_new(&c, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    run(c, 1, secs);
    run(c, 100, secs);
    sl_avro_codec_destroy(c);
    return 0;
}
