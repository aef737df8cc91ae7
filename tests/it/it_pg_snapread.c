/* it_pg_snapread: drives the PostgreSQL snapshot backend (collector/
 * snapshot_pg.c) alone against a real server, for tests/it/test_pg_snapshot.py.
 *
 *   it_pg_snapread KEY=VALUE... CMD [ARGS]
 *     keys: host port user password database publication source include
 *     tables                  prints "table <db>\t<table>" per table, in order
 *     read DB TABLE LIMIT [AFTER|- [LO|- [HI]]]   (LO, HI: a key range, JSON arrays)
 *                             reads chunks of LIMIT rows until the table ends
 *                             (from AFTER when given; "-": from the start),
 *                             one "chunk <nrows> <nkey> <k0,k1,..> <last>" line
 *                             per chunk then one "rec <hex>" line per row: the
 *                             row as a one-row CHANGE encoded by sl_avro (with
 *                             op INSERT while the wire format cannot carry
 *                             READ: the values are what is compared)
 *     once DB TABLE LIMIT [AFTER]   the same, one chunk only
 *     mark KIND ID            writes a watermark
 * Exit 0, or 1 naming the error on stderr (2: SL_ERR_UNSUPPORTED, 3:
 * SL_ERR_NOT_FOUND, so a test can tell them apart). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../collector/collector.h"
#include "../../collector/snapshot.h"
#include "sl_avro.h"

static sl_err_t print_table(void *arg, const char *db, const char *table, const char *why)
{
    (void)arg;
    if (why)
        printf("skipped %s\t%s\t%s\n", db, table, why);
    else
        printf("table %s\t%s\n", db, table);
    return SL_OK;
}

static int fail(sl_err_t err, const char *what, const char *errstr)
{
    fprintf(stderr, "it_pg_snapread: %s: %s (%s)\n", what, errstr, sl_err_name(err));
    return err == SL_ERR_UNSUPPORTED ? 2 : err == SL_ERR_NOT_FOUND ? 3 : 1;
}

static int print_chunk(sl_avro_codec_t *codec, sl_record_t *rec, const uint32_t *key,
                       uint32_t nkey, const char *last)
{
    sl_change_t *c = &rec->u.change;
    char errstr[512];
    printf("chunk %u %u ", c->nrows, nkey);
    for (uint32_t k = 0; k < nkey; k++)
        printf("%s%u", k ? "," : "", key[k]);
    printf(" %s\n", last ? last : "-");
    if (c->op != SL_OP_READ) {
        fprintf(stderr, "it_pg_snapread: the chunk's op is %s, not read\n", sl_op_name(c->op));
        return 1;
    }
    sl_row_t *rows = c->rows;
    uint32_t nrows = c->nrows;
    for (uint32_t i = 0; i < nrows; i++) {
        const void *buf;
        size_t len;
        c->rows = &rows[i];
        c->nrows = 1;
        sl_err_t err = sl_avro_encode(codec, rec, &buf, &len, errstr, sizeof(errstr));
        if (err) { /* wire format v1: no op READ */
            c->op = SL_OP_INSERT;
            err = sl_avro_encode(codec, rec, &buf, &len, errstr, sizeof(errstr));
            c->op = SL_OP_READ;
        }
        if (err)
            return fail(err, "encoding a row", errstr);
        printf("rec ");
        for (size_t b = 0; b < len; b++)
            printf("%02x", ((const unsigned char *)buf)[b]);
        printf("\n");
    }
    c->rows = rows;
    c->nrows = nrows;
    return 0;
}

int main(int argc, char **argv)
{
    col_conf_t conf;
    memset(&conf, 0, sizeof(conf));
    conf.source_name = "it";
    conf.source_host = "127.0.0.1";
    conf.source_port = 15432;
    conf.source_database = "postgres";
    conf.source_publication = "p";
    const char *include = "";
    int a = 1;
    for (; a < argc && strchr(argv[a], '='); a++) {
        char *k = argv[a], *v = strchr(k, '=');
        *v++ = 0;
        if (!strcmp(k, "host")) conf.source_host = v;
        else if (!strcmp(k, "port")) conf.source_port = atoi(v);
        else if (!strcmp(k, "user")) conf.source_user = v;
        else if (!strcmp(k, "password")) conf.source_password = v;
        else if (!strcmp(k, "database")) conf.source_database = v;
        else if (!strcmp(k, "publication")) conf.source_publication = v;
        else if (!strcmp(k, "source")) conf.source_name = v;
        else if (!strcmp(k, "include")) include = v;
        else {
            fprintf(stderr, "it_pg_snapread: unknown key %s\n", k);
            return 1;
        }
    }
    if (a >= argc) {
        fprintf(stderr, "usage: it_pg_snapread KEY=VALUE... tables|read|once|mark ...\n");
        return 1;
    }
    char errstr[1024] = "";
    col_filter_t *filter;
    col_snap_src_t src;
    sl_avro_codec_t *codec;
    sl_err_t err;
    if ((err = col_filter_new(&filter, include, "", errstr, sizeof(errstr))))
        return fail(err, "filter", errstr);
    if ((err = sl_avro_codec_new(&codec, errstr, sizeof(errstr))))
        return fail(err, "codec", errstr);
    if ((err = col_snap_pg_src(&src, &conf, filter, errstr, sizeof(errstr))))
        return fail(err, "col_snap_pg_src", errstr);
    const char *cmd = argv[a++];
    int rc = 0;
    if (!strcmp(cmd, "tables")) {
        if ((err = src.tables(src.ctx, print_table, NULL, errstr, sizeof(errstr))))
            rc = fail(err, "tables", errstr);
    } else if ((!strcmp(cmd, "read") || !strcmp(cmd, "once")) && argc - a >= 3) {
        const char *db = argv[a], *table = argv[a + 1];
        uint32_t limit = (uint32_t)atoi(argv[a + 2]);
        char *after = argc - a >= 4 && strcmp(argv[a + 3], "-") ? strdup(argv[a + 3]) : NULL;
        /* a key range: LO and HI as JSON arrays, "-" for none */
        const char *lo_json = argc - a >= 5 && strcmp(argv[a + 4], "-") ? argv[a + 4] : NULL;
        const char *hi_json = argc - a >= 6 && strcmp(argv[a + 5], "-") ? argv[a + 5] : NULL;
        col_snap_key_t lo = {0}, hi = {0};
        sl_record_t *rec = sl_record_new();
        if ((lo_json && col_snap_key_parse(lo_json, &lo, errstr, sizeof(errstr))) ||
            (hi_json && col_snap_key_parse(hi_json, &hi, errstr, sizeof(errstr))))
            rc = fail(SL_ERR_INVALID, "bound", errstr);
        for (; !rc;) {
            uint32_t key[COL_SNAP_MAX_KEY], nkey = 0;
            char *last = NULL;
            sl_record_reset(rec);
            if ((err = src.read_chunk(src.ctx, db, table, after, lo_json ? &lo : NULL,
                                      hi_json ? &hi : NULL, limit, rec, key, &nkey, &last,
                                      errstr, sizeof(errstr)))) {
                rc = fail(err, "read_chunk", errstr);
                break;
            }
            if ((rc = print_chunk(codec, rec, key, nkey, last)))
                break;
            free(after);
            after = last;
            if (!last || rec->u.change.nrows < limit || !strcmp(cmd, "once"))
                break;
        }
        free(after);
        sl_record_destroy(rec);
        col_snap_key_free(&lo);
        col_snap_key_free(&hi);
    } else if (!strcmp(cmd, "mark") && argc - a >= 2) {
        if ((err = src.watermark(src.ctx, argv[a][0], argv[a + 1], errstr, sizeof(errstr))))
            rc = fail(err, "watermark", errstr);
    } else {
        fprintf(stderr, "it_pg_snapread: bad command %s\n", cmd);
        rc = 1;
    }
    src.destroy(src.ctx);
    sl_avro_codec_destroy(codec);
    col_filter_destroy(filter);
    return rc;
}
