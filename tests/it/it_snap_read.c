/* it_snap_read: drives the MySQL/MariaDB snapshot backend
 * (collector/snapshot_mysql.c, col_snap_mysql_src) against a real server and
 * prints what it gives, for tests/it/test_snapshot_mysql.py.
 *
 *   it_snap_read -h host -P port -u user -p password [--signal db.table]
 *                [--include REGEX] [--exclude REGEX]
 *                (--tables | --read db.table [--limit N] [--after TEXT] [--one]
 *                 [--lo JSON] [--hi JSON] | --mark KIND:ID)
 *
 * --tables: one line per table the backend lists: {"db":..,"table":..}
 *   (with "skipped":why for a table it lists as not copyable)
 * --lo / --hi: a key range's bounds (JSON arrays, snapshot.h col_snap_key_t)
 * --read: every chunk of the table, read by keyset pagination, N rows each
 *   (default 1000; from --after when given; only the first chunk with --one):
 *   one line per row {"chunk":k,"key":[column indexes],"after":{values as
 *   sl_value_to_json writes them, the form it_binlog_dump prints}}, then per
 *   chunk {"chunk":k,"rows":n,"last":continuation}. An error goes to stderr
 *   as "it_snap_read: <sl_err name>: <errstr>" and exits 2.
 * --mark: writes one watermark (kind L, H) and exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_buf.h"
#include "sl_json.h"
#include "sl_name.h"
#include "sl_record.h"
#include "../../collector/snapshot.h"

static sl_err_t add_table(void *arg, const char *db, const char *table, const char *why)
{
    sl_buf_t b = {0};
    sl_buf_puts(&b, "{\"db\":");
    sl_buf_json_str(&b, db, strlen(db));
    sl_buf_puts(&b, ",\"table\":");
    sl_buf_json_str(&b, table, strlen(table));
    if (why) {
        sl_buf_puts(&b, ",\"skipped\":");
        sl_buf_json_str(&b, why, strlen(why));
    }
    sl_buf_puts(&b, "}");
    printf("%s\n", b.data);
    sl_buf_free(&b);
    (void)arg;
    return SL_OK;
}

static int fail(sl_err_t err, const char *errstr)
{
    fprintf(stderr, "it_snap_read: %s: %s\n", sl_err_name(err), errstr);
    return 2;
}

int main(int argc, char **argv)
{
    col_conf_t conf;
    memset(&conf, 0, sizeof(conf));
    conf.source_name = "it_snap";
    conf.source_host = "127.0.0.1";
    conf.source_port = 3306;
    conf.source_user = "root";
    conf.tls_mode = 0;
    const char *include = NULL, *exclude = NULL, *read = NULL, *after = NULL, *mark = NULL,
               *lo_json = NULL, *hi_json = NULL;
    int tables = 0, one = 0;
    unsigned limit = 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tables")) { tables = 1; continue; }
        if (!strcmp(a, "--one")) { one = 1; continue; }
        if (!v) {
            fprintf(stderr, "it_snap_read: %s needs a value\n", a);
            return 1;
        }
        i++;
        if (!strcmp(a, "-h")) conf.source_host = v;
        else if (!strcmp(a, "-P")) conf.source_port = atoi(v);
        else if (!strcmp(a, "-u")) conf.source_user = v;
        else if (!strcmp(a, "-p")) conf.source_password = v;
        else if (!strcmp(a, "--signal")) conf.snapshot_signal_table = v;
        else if (!strcmp(a, "--include")) include = v;
        else if (!strcmp(a, "--exclude")) exclude = v;
        else if (!strcmp(a, "--read")) read = v;
        else if (!strcmp(a, "--after")) after = v;
        else if (!strcmp(a, "--lo")) lo_json = v;
        else if (!strcmp(a, "--hi")) hi_json = v;
        else if (!strcmp(a, "--limit")) limit = (unsigned)atoi(v);
        else if (!strcmp(a, "--mark")) mark = v;
        else {
            fprintf(stderr, "it_snap_read: unknown option %s\n", a);
            return 1;
        }
    }
    char errstr[1024] = "";
    col_filter_t *filter = NULL;
    col_snap_src_t src;
    sl_err_t err;
    if ((err = col_filter_new(&filter, include, exclude, errstr, sizeof(errstr))))
        return fail(err, errstr);
    if ((err = col_snap_mysql_src(&src, &conf, filter, errstr, sizeof(errstr))))
        return fail(err, errstr);
    int rc = 0;
    if (tables) {
        if ((err = src.tables(src.ctx, add_table, NULL, errstr, sizeof(errstr))))
            rc = fail(err, errstr);
    } else if (mark) {
        if (strlen(mark) < 3 || mark[1] != ':')
            rc = fail(SL_ERR_INVALID, "--mark KIND:ID");
        else if ((err = src.watermark(src.ctx, mark[0], mark + 2, errstr, sizeof(errstr))))
            rc = fail(err, errstr);
    } else if (read) {
        char db[256], tb[256];
        if (sl_name_parse(read, db, sizeof(db), tb, sizeof(tb))) {
            rc = fail(SL_ERR_INVALID, "--read db.table");
            goto out;
        }
        col_snap_key_t lo = {0}, hi = {0};
        if ((lo_json && col_snap_key_parse(lo_json, &lo, errstr, sizeof(errstr))) ||
            (hi_json && col_snap_key_parse(hi_json, &hi, errstr, sizeof(errstr)))) {
            rc = fail(SL_ERR_INVALID, errstr);
            goto out;
        }
        sl_record_t *rec = sl_record_new();
        char *cont = after ? strdup(after) : NULL;
        sl_buf_t b = {0};
        for (int chunk = 0; rec; chunk++) {
            uint32_t key[COL_SNAP_MAX_KEY], nkey = 0;
            char *last = NULL;
            if ((err = src.read_chunk(src.ctx, db, tb, cont, lo_json ? &lo : NULL,
                                      hi_json ? &hi : NULL, limit, rec, key, &nkey, &last,
                                      errstr, sizeof(errstr)))) {
                rc = fail(err, errstr);
                break;
            }
            const sl_change_t *c = &rec->u.change;
            if (rec->type != SL_REC_CHANGE || c->op != SL_OP_READ || c->nrows > limit) {
                rc = fail(SL_ERR_STATE, "not a READ change of at most limit rows");
                free(last);
                break;
            }
            for (uint32_t r = 0; r < c->nrows; r++) {
                sl_buf_reset(&b);
                sl_buf_printf(&b, "{\"chunk\":%d,\"key\":[", chunk);
                for (uint32_t k = 0; k < nkey; k++)
                    sl_buf_printf(&b, "%s%u", k ? "," : "", key[k]);
                sl_buf_puts(&b, "],\"after\":");
                sl_image_to_json(c, c->rows[r].after, &b);
                sl_buf_puts(&b, "}");
                printf("%s\n", b.data);
            }
            sl_buf_reset(&b);
            sl_buf_printf(&b, "{\"chunk\":%d,\"rows\":%u,\"last\":", chunk, c->nrows);
            if (last)
                sl_buf_json_str(&b, last, strlen(last));
            else
                sl_buf_puts(&b, "null");
            sl_buf_puts(&b, "}");
            printf("%s\n", b.data);
            free(cont);
            cont = last;
            if (!last || one || c->nrows < limit)
                break;
        }
        free(cont);
        sl_buf_free(&b);
        sl_record_destroy(rec);
        col_snap_key_free(&lo);
        col_snap_key_free(&hi);
    }
out:
    src.destroy(src.ctx);
    col_filter_destroy(filter);
    return rc;
}
