/* shiftlog collector: WRITE/UPDATE/DELETE_ROWS events -> CHANGE records.
 *
 * Rows event body (after the 19-byte header, CRC excluded):
 *   table_id 6 bytes LE, flags 2 bytes LE,
 *   v2 only: extra-data length 2 bytes LE (counting itself) + extra data,
 *   column count (packed integer), columns-present bitmap,
 *   UPDATE only: columns-present bitmap of the after image,
 *   rows: for each image a null bitmap over the present columns, then the
 *   values of the present non-NULL columns (UPDATE: before, after, ...). */
#include "mysql_decode.h"
#include "sl_avro.h"

#include <stdio.h>
#include <string.h>

static uint64_t rw_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int rw_bit(const uint8_t *map, uint32_t i)
{
    return (map[i / 8] >> (i % 8)) & 1;
}

static uint32_t popcount_map(const uint8_t *map, uint32_t n)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++)
        c += (uint32_t)rw_bit(map, i);
    return c;
}

sl_err_t col_mysql_rows_open(col_rows_cursor_t *cur, int event_type,
                             const uint8_t *body, size_t len,
                             char *errstr, size_t errstr_size)
{
    size_t off = 0;
    const char *what = "post-header";
    memset(cur, 0, sizeof(*cur));
    cur->body = body;
    cur->len = len;
    cur->event_type = event_type;
    switch (event_type) {
    case COL_MYSQL_EV_WRITE_ROWS_V1:  cur->version = 1; cur->op = SL_OP_INSERT; break;
    case COL_MYSQL_EV_UPDATE_ROWS_V1: cur->version = 1; cur->op = SL_OP_UPDATE; break;
    case COL_MYSQL_EV_DELETE_ROWS_V1: cur->version = 1; cur->op = SL_OP_DELETE; break;
    case COL_MYSQL_EV_WRITE_ROWS_V2:  cur->version = 2; cur->op = SL_OP_INSERT; break;
    case COL_MYSQL_EV_UPDATE_ROWS_V2: cur->version = 2; cur->op = SL_OP_UPDATE; break;
    case COL_MYSQL_EV_DELETE_ROWS_V2: cur->version = 2; cur->op = SL_OP_DELETE; break;
    default:
        snprintf(errstr, errstr_size, "event type %d is not a rows event this decoder reads "
                 "(compressed rows events need log_bin_compress=OFF)", event_type);
        return SL_ERR_UNSUPPORTED;
    }
    if (len < 8)
        goto bad;
    cur->table_id = rw_le(body, 6);
    cur->flags = (uint16_t)rw_le(body + 6, 2);
    off = 8;
    if (cur->version == 2) {
        what = "extra data";
        if (len - off < 2)
            goto bad;
        size_t extra = (size_t)rw_le(body + off, 2);
        if (extra < 2 || len - off < extra)
            goto bad;
        off += extra;
    }
    what = "column count";
    if (off >= len)
        goto bad;
    uint64_t ncols = body[off];
    if (ncols >= 251) {
        int nb = ncols == 252 ? 2 : ncols == 253 ? 3 : ncols == 254 ? 8 : 0;
        if (!nb || len - off - 1 < (size_t)nb)
            goto bad;
        ncols = rw_le(body + off + 1, nb);
        off += (size_t)nb;
    }
    off++;
    if (ncols == 0 || ncols > 8 * (len - off))
        goto bad;
    cur->ncols = (uint32_t)ncols;
    what = "columns-present bitmap";
    size_t nb = (ncols + 7) / 8;
    if (len - off < nb)
        goto bad;
    cur->present = cur->present_after = body + off;
    off += nb;
    if (cur->op == SL_OP_UPDATE) {
        if (len - off < nb)
            goto bad;
        cur->present_after = body + off;
        off += nb;
    }
    cur->rows_start = cur->offset = off;
    return SL_OK;
bad:
    snprintf(errstr, errstr_size, "rows event (type %d, table id %llu): %s at byte %zu of %zu "
             "is truncated or malformed", event_type, (unsigned long long)cur->table_id,
             what, off, len);
    return SL_ERR_DECODE;
}

int col_mysql_rows_done(const col_rows_cursor_t *cur)
{
    return cur->offset >= cur->len;
}

/* Decodes (rec != NULL) or skips one row image at cur->offset. */
static sl_err_t image(col_rows_cursor_t *cur, const col_tablemap_t *tm,
                      const uint8_t *present, uint32_t npresent, sl_record_t *rec,
                      sl_value_t *vals, const char *which, char *errstr, size_t errstr_size)
{
    const uint8_t *p = cur->body;
    size_t off = cur->offset, nb = (npresent + 7) / 8;
    char why[200];
    uint32_t i = 0;
    sl_err_t err;
    if (cur->len - off < nb) {
        snprintf(why, sizeof(why), "null bitmap needs %zu bytes, %zu left", nb, cur->len - off);
        err = SL_ERR_DECODE;
        goto fail;
    }
    const uint8_t *nulls = p + off;
    off += nb;
    uint32_t k = 0;
    for (i = 0; i < tm->ncols; i++) {
        const col_mysql_column_t *c = &tm->cols[i];
        if (!rw_bit(present, i)) {
            if (vals) {
                vals[i].kind = SL_VAL_MISSING;
                vals[i].u.missing = SL_MISSING_NOT_IN_IMAGE;
            }
            continue;
        }
        if (rw_bit(nulls, k++)) {
            if (vals)
                vals[i].kind = SL_VAL_NULL;
            continue;
        }
        size_t used = 0;
        err = col_mysql_value_decode(c, p + off, cur->len - off, &used, rec,
                                     vals ? &vals[i] : NULL, why, sizeof(why));
        if (err)
            goto fail;
        off += used;
    }
    cur->offset = off;
    return SL_OK;
fail:
    if (err == SL_ERR_NOMEM) {
        snprintf(errstr, errstr_size, "rows of `%s`.`%s`: out of memory", tm->db, tm->table);
        return err;
    }
    {
        sl_buf_t st = SL_BUF_INIT;
        if (i < tm->ncols)
            col_mysql_source_type(&tm->cols[i], &st);
        snprintf(errstr, errstr_size,
                 "rows event of `%s`.`%s` (table id %llu): row %u (%s image) at byte %zu of %zu, "
                 "column %u `%s` (%.80s%s): %s",
                 tm->db, tm->table, (unsigned long long)tm->table_id, cur->row, which, off,
                 cur->len, i + 1, i < tm->ncols ? tm->cols[i].name : "?",
                 st.data ? st.data : "?", st.len > 80 ? "..." : "", why);
        sl_buf_free(&st);
    }
    return err;
}

/* One row: its image(s). vals_* NULL (and rec NULL) to skip. */
static sl_err_t one_row(col_rows_cursor_t *cur, const col_tablemap_t *tm, sl_record_t *rec,
                        sl_row_t *row, uint32_t np, uint32_t np_after,
                        char *errstr, size_t errstr_size)
{
    size_t start = cur->offset;
    sl_err_t err;
    switch (cur->op) {
    case SL_OP_INSERT:
        err = image(cur, tm, cur->present, np, rec, row ? row->after : NULL, "after",
                    errstr, errstr_size);
        break;
    case SL_OP_DELETE:
        err = image(cur, tm, cur->present, np, rec, row ? row->before : NULL, "before",
                    errstr, errstr_size);
        break;
    default:
        err = image(cur, tm, cur->present, np, rec, row ? row->before : NULL, "before",
                    errstr, errstr_size);
        if (!err)
            err = image(cur, tm, cur->present_after, np_after, rec, row ? row->after : NULL,
                        "after", errstr, errstr_size);
        break;
    }
    if (err) {
        cur->offset = start;
        return err;
    }
    if (cur->offset == start) {   /* cannot happen with a real event; never loop on it */
        snprintf(errstr, errstr_size, "rows event of `%s`.`%s`: row %u at byte %zu is empty",
                 tm->db, tm->table, cur->row, start);
        return SL_ERR_DECODE;
    }
    cur->row++;
    return SL_OK;
}

static sl_err_t check_tm(const col_rows_cursor_t *cur, const col_tablemap_t *tm,
                         char *errstr, size_t errstr_size)
{
    if (tm->table_id != cur->table_id) {
        snprintf(errstr, errstr_size, "rows event for table id %llu decoded with the table map "
                 "of `%s`.`%s` (table id %llu)", (unsigned long long)cur->table_id, tm->db,
                 tm->table, (unsigned long long)tm->table_id);
        return SL_ERR_STATE;
    }
    if (tm->ncols != cur->ncols) {
        snprintf(errstr, errstr_size, "rows event of `%s`.`%s` has %u columns, its table map %u",
                 tm->db, tm->table, cur->ncols, tm->ncols);
        return SL_ERR_DECODE;
    }
    return SL_OK;
}

sl_err_t col_mysql_rows_next(col_rows_cursor_t *cur, const col_tablemap_t *tm,
                             const char *source, uint32_t max_rows, int append,
                             sl_record_t *rec, char *errstr, size_t errstr_size)
{
    return col_mysql_rows_next_sized(cur, tm, source, max_rows, 0, append, rec, NULL, errstr,
                                     errstr_size);
}

sl_err_t col_mysql_rows_next_sized(col_rows_cursor_t *cur, const col_tablemap_t *tm,
                                   const char *source, uint32_t max_rows, size_t max_bytes,
                                   int append, sl_record_t *rec, size_t *bytes,
                                   char *errstr, size_t errstr_size)
{
    sl_err_t err = check_tm(cur, tm, errstr, errstr_size);
    if (err)
        return err;
    uint32_t np = popcount_map(cur->present, cur->ncols);
    uint32_t np_after = popcount_map(cur->present_after, cur->ncols);
    uint32_t limit = max_rows ? max_rows : UINT32_MAX;

    /* The row count is known only after decoding: start with no rows and
     * grow the row array by doubling in the record's arena, so memory
     * follows the data (a small event never pays for max_rows). */
    if (!append &&
        (err = sl_record_init_change(rec, source, tm->db, tm->table, cur->op, tm->ncols,
                                     tm->names, 0)))
        goto nomem;
    sl_change_t *c = &rec->u.change;
    size_t img = (size_t)tm->ncols * sizeof(sl_value_t);
    if (bytes && !append)
        *bytes = sl_avro_record_size(rec) + COL_MYSQL_BATCH_SLACK;
    /* appending: the array is full (its capacity is not kept), the next row doubles it */
    uint32_t n = append ? c->nrows : 0, cap = n;
    limit = limit > UINT32_MAX - n ? UINT32_MAX : n + limit;
    while (n < limit && !col_mysql_rows_done(cur)) {
        if (n == cap) {
            uint32_t ncap = cap ? cap * 2 : 8;
            sl_row_t *rows = sl_record_alloc(rec, (size_t)ncap * sizeof(*rows));
            if (!rows)
                goto nomem;
            if (n)
                memcpy(rows, c->rows, (size_t)n * sizeof(*rows));
            c->rows = rows;
            cap = ncap;
        }
        sl_row_t *row = &c->rows[n];
        row->before = row->after = NULL;
        if ((cur->op != SL_OP_INSERT && !(row->before = sl_record_alloc(rec, img))) ||
            (cur->op != SL_OP_DELETE && !(row->after = sl_record_alloc(rec, img))))
            goto nomem;
        c->nrows = n;   /* rows before n are complete if we stop on an error */
        size_t at = cur->offset;
        uint32_t at_row = cur->row;
        err = one_row(cur, tm, rec, row, np, np_after, errstr, errstr_size);
        if (err)
            return err;
        if (bytes) {
            /* the row's encoded size, not its binlog size: a MINIMAL image of one key
             * column in a wide table is 5 binlog bytes and 2 bytes per column encoded */
            c->nrows = n + 1;
            size_t rs = sl_avro_rows_size(c, n, 1);
            if (max_bytes && n > 0 && *bytes + rs > max_bytes) {
                cur->offset = at;               /* the row goes to the next record */
                cur->row = at_row;
                break;
            }
            *bytes += rs;
        }
        n++;
    }
    c->nrows = n;
    return SL_OK;
nomem:
    snprintf(errstr, errstr_size, "rows of `%s`.`%s`: out of memory", tm->db, tm->table);
    return SL_ERR_NOMEM;
}

sl_err_t col_mysql_rows_decode(const col_tablemap_t *tm, int event_type,
                               const uint8_t *body, size_t len, const char *source,
                               uint32_t first_row, uint32_t max_rows, sl_record_t *rec,
                               uint32_t *next_row, char *errstr, size_t errstr_size)
{
    col_rows_cursor_t cur;
    sl_err_t err = col_mysql_rows_open(&cur, event_type, body, len, errstr, errstr_size);
    if (!err)
        err = check_tm(&cur, tm, errstr, errstr_size);
    if (err)
        return err;
    uint32_t np = popcount_map(cur.present, cur.ncols);
    uint32_t np_after = popcount_map(cur.present_after, cur.ncols);
    while (cur.row < first_row && !col_mysql_rows_done(&cur))
        if ((err = one_row(&cur, tm, NULL, NULL, np, np_after, errstr, errstr_size)))
            return err;
    err = col_mysql_rows_next(&cur, tm, source, max_rows, 0, rec, errstr, errstr_size);
    if (err)
        return err;
    if (next_row)
        *next_row = col_mysql_rows_done(&cur) ? UINT32_MAX : cur.row;
    return SL_OK;
}
