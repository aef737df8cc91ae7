/* libFuzzer harness: the binlog decoder (collector/mysql_tablemap.c,
 * mysql_rows.c, mysql_types.c) driven as the collector drives it
 * (collector/mysql_source.c on_table_map / on_rows), without a server.
 *
 * Input layout (little-endian, as the binlog):
 *   u8  bits 0-5 max_rows per batch (0 = all rows of an event in one record);
 *       bit 6: also bounded by the encoded size (col_mysql_rows_next_sized, the
 *       collector's batcher), 300 bytes with bit 7, else 4096
 *   u8  hint: bits 0-1 col_mysql_hint_t, bits 2-7 the column it is set on
 *   u8  fsp set on every legacy TIME/DATETIME/TIMESTAMP column (mod 7)
 *   u16 length + a TABLE_MAP event body (after the common header, no CRC)
 *   then repeated: u8 event type (mod 6 -> WRITE/UPDATE/DELETE v1, v2),
 *                  u16 length + a rows event body.
 * The rows event's table id is patched to the table map's (the collector
 * refuses any other id before decoding). Each record decoded must also
 * round-trip through Avro (fuzz_common.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "../../collector/mysql_decode.h"

static sl_avro_codec_t *codec;
static sl_record_t *rec, *scratch;
static const int ev_types[6] = {
    COL_MYSQL_EV_WRITE_ROWS_V1, COL_MYSQL_EV_UPDATE_ROWS_V1, COL_MYSQL_EV_DELETE_ROWS_V1,
    COL_MYSQL_EV_WRITE_ROWS_V2, COL_MYSQL_EV_UPDATE_ROWS_V2, COL_MYSQL_EV_DELETE_ROWS_V2,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if (sl_avro_codec_new(&codec, err, sizeof(err)) != SL_OK)
        fuzz_die("fuzz_mysql_rows", "codec", err);
    rec = sl_record_new();
    scratch = sl_record_new();
    return 0;
}

static int take(const uint8_t **p, size_t *n, size_t k, const uint8_t **out)
{
    if (*n < k)
        return -1;
    *out = *p;
    *p += k;
    *n -= k;
    return 0;
}

static void rows_event(const col_tablemap_t *tm, int type, const uint8_t *body, size_t len,
                       uint32_t max_rows, size_t max_bytes)
{
    char err[512];
    col_rows_cursor_t cur;
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, body, len);
    for (int i = 0; i < 6 && (size_t)i < len; i++)
        copy[i] = (uint8_t)(tm->table_id >> (8 * i));
    if (col_mysql_rows_open(&cur, type, copy, len, err, sizeof(err)) != SL_OK)
        goto out;
    if (cur.table_id != tm->table_id)
        goto out;
    while (!col_mysql_rows_done(&cur)) {
        uint32_t row = cur.row;
        size_t bytes = 0;
        sl_record_reset(rec);
        if (max_bytes ? col_mysql_rows_next_sized(&cur, tm, "fz", max_rows, max_bytes, 0, rec,
                                                  &bytes, err, sizeof(err)) != SL_OK
                      : col_mysql_rows_next(&cur, tm, "fz", max_rows, 0, rec, err,
                                            sizeof(err)) != SL_OK)
            break;
        if (max_bytes) {
            size_t enc = sl_avro_record_size(rec);
            if (enc > bytes)
                fuzz_die("fuzz_mysql_rows", "the batcher under-counts the encoded size", NULL);
            if (rec->u.change.nrows > 1 && enc > max_bytes)
                fuzz_die("fuzz_mysql_rows", "a batch of several rows above max_bytes", NULL);
        }
        if (cur.row <= row)
            fuzz_die("fuzz_mysql_rows", "the rows cursor did not advance", NULL);
        if (max_rows && rec->u.change.nrows > max_rows)
            fuzz_die("fuzz_mysql_rows", "a batch holds more than max_rows rows", NULL);
        fuzz_check_record("fuzz_mysql_rows", codec, rec, scratch);
    }
out:
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *h, *body;
    size_t n = size;
    char err[512];
    if (take(&p, &n, 5, &h))
        return 0;
    uint32_t max_rows = h[0] & 0x3f;
    size_t max_bytes = !(h[0] & 0x40) ? 0 : h[0] & 0x80 ? 300 : 4096;
    size_t tm_len = (size_t)h[3] | (size_t)h[4] << 8;
    if (take(&p, &n, tm_len, &body))
        return 0;
    col_tablemap_t tm;
    memset(&tm, 0, sizeof(tm));
    if (col_mysql_tablemap_parse(body, tm_len, &tm, err, sizeof(err)) != SL_OK)
        return 0;
    if (tm.ncols) {
        col_mysql_tablemap_set_hint(&tm, (uint32_t)(h[1] >> 2) % tm.ncols,
                                    (col_mysql_hint_t)(h[1] & 3));
        for (uint32_t i = 0; i < tm.ncols; i++)
            if (tm.cols[i].type == COL_MYSQL_T_TIME || tm.cols[i].type == COL_MYSQL_T_DATETIME ||
                tm.cols[i].type == COL_MYSQL_T_TIMESTAMP)
                col_mysql_tablemap_set_fsp(&tm, i, h[2] % 7);
    }
    sl_record_reset(rec);
    if (col_mysql_schema_from_tablemap(&tm, "fz", rec, err, sizeof(err)) == SL_OK)
        fuzz_check_record("fuzz_mysql_rows", codec, rec, scratch);

    const uint8_t *eh;
    while (!take(&p, &n, 3, &eh)) {
        size_t len = (size_t)eh[1] | (size_t)eh[2] << 8;
        if (take(&p, &n, len, &body))
            break;
        rows_event(&tm, ev_types[eh[0] % 6], body, len, max_rows, max_bytes);
    }
    col_mysql_tablemap_free(&tm);
    return 0;
}
