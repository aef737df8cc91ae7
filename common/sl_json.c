/* shiftlog: records as JSON (sl_json.h). Every form is lossless; the
 * "$"-keyed wrapper objects mark values that JSON has no type for. */
#include "sl_json.h"
#include "sl_value_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define TRY(x) do { sl_err_t e_ = (x); if (e_ != SL_OK) return e_; } while (0)

sl_err_t sl_json_base64(sl_buf_t *out, const unsigned char *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    TRY(sl_buf_reserve(out, (n + 2) / 3 * 4 + 2));
    char *d = out->data + out->len;
    *d++ = '"';
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *d++ = tab[v >> 18];
        *d++ = tab[(v >> 12) & 63];
        *d++ = tab[(v >> 6) & 63];
        *d++ = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        *d++ = tab[v >> 18];
        *d++ = tab[(v >> 12) & 63];
        *d++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *d++ = '=';
    }
    *d++ = '"';
    out->len = (size_t)(d - out->data);
    out->data[out->len] = '\0';
    return SL_OK;
}

static sl_err_t put_str(sl_buf_t *out, const char *s, size_t n)
{
    return sl_buf_json_str(out, s ? s : "", s ? n : 0);
}

static sl_err_t put_cstr(sl_buf_t *out, const char *s)
{
    return put_str(out, s, s ? strlen(s) : 0);
}

/* JSON null for NULL */
static sl_err_t put_nstr(sl_buf_t *out, const char *s)
{
    return s ? put_cstr(out, s) : sl_buf_puts(out, "null");
}

/* NaN and the infinities are not JSON numbers: they are written as strings. */
static sl_err_t put_float(sl_buf_t *out, double d, int digits)
{
    if (isfinite(d))
        return sl_double_text(out, d, digits);
    TRY(sl_buf_putc(out, '"'));
    TRY(sl_double_text(out, d, digits));
    return sl_buf_putc(out, '"');
}

sl_err_t sl_value_to_json(const sl_value_t *v, sl_buf_t *out)
{
    switch (v->kind) {
    case SL_VAL_NULL:
        return sl_buf_puts(out, "null");
    case SL_VAL_BOOL:
        return sl_buf_puts(out, v->u.b ? "true" : "false");
    case SL_VAL_INT:
        return sl_buf_printf(out, "%" PRId64, v->u.i);
    case SL_VAL_UINT:
        return sl_buf_printf(out, "%" PRIu64, v->u.u);
    case SL_VAL_FLOAT:
        return put_float(out, v->u.f, 9);
    case SL_VAL_DOUBLE:
        return put_float(out, v->u.d, 17);
    case SL_VAL_DECIMAL:
    case SL_VAL_STRING:
        return put_str(out, v->data, v->len);
    case SL_VAL_BYTES:
        TRY(sl_buf_puts(out, "{\"$bytes\":"));
        TRY(sl_json_base64(out, (const unsigned char *)v->data, v->len));
        return sl_buf_putc(out, '}');
    case SL_VAL_TEMPORAL:
        TRY(sl_buf_printf(out, "{\"$temporal\":\"%s\",\"text\":",
                          sl_temporal_kind_name(v->u.t.kind)));
        TRY(put_str(out, v->data, v->len));
        if (v->u.t.has_micros)
            TRY(sl_buf_printf(out, ",\"micros\":%" PRId64, v->u.t.micros));
        else
            TRY(sl_buf_puts(out, ",\"micros\":null"));
        TRY(sl_buf_printf(out, ",\"precision\":%d", v->u.t.precision));
        if (v->u.t.has_tz)
            TRY(sl_buf_printf(out, ",\"tz_offset_s\":%" PRId32, v->u.t.tz_offset_s));
        return sl_buf_putc(out, '}');
    case SL_VAL_BIT: {
        /* {"$bit":"0101", ...}: the bits as 0/1 text, first bit first */
        const unsigned char *p = (const unsigned char *)v->data;
        uint32_t nbits = v->u.bit.nbits;
        size_t pad = v->len * 8 - nbits;      /* unused high bits of byte 0 */
        TRY(sl_buf_reserve(out, nbits + 16));
        TRY(sl_buf_puts(out, "{\"$bit\":\""));
        for (uint32_t i = 0; i < nbits; i++) {
            size_t bit = pad + i;
            TRY(sl_buf_putc(out, (p[bit / 8] >> (7 - bit % 8)) & 1 ? '1' : '0'));
        }
        return sl_buf_puts(out, "\"}");
    }
    case SL_VAL_SET: {
        size_t off = 0;
        TRY(sl_buf_putc(out, '['));
        for (uint32_t i = 0; i < v->n && off < v->len; i++) {
            size_t l = strnlen(v->data + off, v->len - off);
            if (i)
                TRY(sl_buf_putc(out, ','));
            TRY(put_str(out, v->data + off, l));
            off += l + 1;
        }
        return sl_buf_putc(out, ']');
    }
    case SL_VAL_TYPED:
        TRY(sl_buf_puts(out, "{\"$typed\":"));
        TRY(put_cstr(out, v->u.typed.type));
        TRY(sl_buf_puts(out, ",\"text\":"));
        TRY(put_str(out, v->data, v->len));
        return sl_buf_putc(out, '}');
    case SL_VAL_MISSING:
        return sl_buf_printf(out, "{\"$missing\":\"%s\"}", sl_missing_name(v->u.missing));
    }
    return SL_ERR_INVALID;
}

static sl_err_t put_pos(const sl_pos_t *pos, sl_buf_t *out)
{
    static const char *const kinds[] = { "none", "mysql", "postgresql" };
    char text[SL_POS_FILE_MAX + SL_POS_GTID_MAX + 64];
    sl_pos_format(pos, text, sizeof(text));
    TRY(sl_buf_puts(out, "{\"text\":"));
    TRY(put_cstr(out, text));
    TRY(sl_buf_printf(out, ",\"kind\":\"%s\",\"seq\":%" PRIu64 ",\"offset\":%" PRIu64
                      ",\"row\":%" PRIu32 ",\"file\":",
                      (unsigned)pos->kind <= SL_POS_PG ? kinds[pos->kind] : "?",
                      pos->seq, pos->offset, pos->row));
    TRY(put_cstr(out, pos->file));
    TRY(sl_buf_puts(out, ",\"gtid\":"));
    TRY(put_cstr(out, pos->gtid));
    return sl_buf_putc(out, '}');
}

sl_err_t sl_image_to_json(const sl_change_t *c, const sl_value_t *img, sl_buf_t *out)
{
    if (!img)
        return sl_buf_puts(out, "null");
    TRY(sl_buf_putc(out, '{'));
    for (uint32_t i = 0; i < c->ncols; i++) {
        if (i)
            TRY(sl_buf_putc(out, ','));
        TRY(put_cstr(out, c->columns[i]));
        TRY(sl_buf_putc(out, ':'));
        TRY(sl_value_to_json(&img[i], out));
    }
    return sl_buf_putc(out, '}');
}

static sl_err_t put_change(const sl_change_t *c, int flags, sl_buf_t *out)
{
    TRY(sl_buf_puts(out, ",\"db\":"));
    TRY(put_cstr(out, c->db));
    TRY(sl_buf_puts(out, ",\"table\":"));
    TRY(put_cstr(out, c->table));
    TRY(sl_buf_printf(out, ",\"op\":\"%s\",\"txn\":", sl_op_name(c->op)));
    TRY(put_nstr(out, c->txn));
    TRY(sl_buf_printf(out, ",\"event_time_us\":%" PRId64 ",\"schema_id\":\"%016" PRIx64
                      "\",\"server_id\":%" PRIu32 ",\"flags\":%" PRIu32 ",\"origin\":",
                      c->event_time_us, c->schema_id, c->server_id, c->flags));
    TRY(put_nstr(out, c->origin));
    TRY(sl_buf_puts(out, ",\"columns\":["));
    for (uint32_t i = 0; i < c->ncols; i++) {
        if (i)
            TRY(sl_buf_putc(out, ','));
        TRY(put_cstr(out, c->columns[i]));
    }
    TRY(sl_buf_puts(out, "],\"rows\":["));
    for (uint32_t r = 0; r < c->nrows; r++) {
        TRY(sl_buf_puts(out, r ? ",{" : "{"));
        if (flags & SL_JSON_SUBOFFSET)
            TRY(sl_buf_printf(out, "\"subOffset\":%" PRIu32 ",", r));
        TRY(sl_buf_puts(out, "\"before\":"));
        TRY(sl_image_to_json(c, c->rows[r].before, out));
        TRY(sl_buf_puts(out, ",\"after\":"));
        TRY(sl_image_to_json(c, c->rows[r].after, out));
        TRY(sl_buf_putc(out, '}'));
    }
    return sl_buf_putc(out, ']');
}

static sl_err_t put_schema(const sl_schema_t *s, sl_buf_t *out)
{
    TRY(sl_buf_puts(out, ",\"db\":"));
    TRY(put_cstr(out, s->db));
    TRY(sl_buf_puts(out, ",\"table\":"));
    TRY(put_cstr(out, s->table));
    TRY(sl_buf_puts(out, ",\"columns\":["));
    for (uint32_t i = 0; i < s->ncols; i++) {
        const sl_column_t *k = &s->cols[i];
        TRY(sl_buf_puts(out, i ? ",{\"name\":" : "{\"name\":"));
        TRY(put_cstr(out, k->name));
        TRY(sl_buf_printf(out, ",\"kind\":\"%s\",\"source_type\":", sl_val_kind_name(k->kind)));
        TRY(put_cstr(out, k->source_type));
        TRY(sl_buf_printf(out, ",\"nullable\":%s,\"precision\":%d,\"scale\":%d,\"charset\":",
                          k->nullable ? "true" : "false", k->precision, k->scale));
        TRY(put_nstr(out, k->charset));
        TRY(sl_buf_puts(out, ",\"labels\":["));
        for (uint32_t l = 0; l < k->nlabels; l++) {
            if (l)
                TRY(sl_buf_putc(out, ','));
            TRY(put_cstr(out, k->labels[l]));
        }
        TRY(sl_buf_printf(out, "],\"pk\":%d", k->pk));
        if (k->dflt) {                 /* wire v3; absent rather than null before */
            TRY(sl_buf_puts(out, ",\"default\":"));
            TRY(put_cstr(out, k->dflt));
        }
        TRY(sl_buf_putc(out, '}'));
    }
    TRY(sl_buf_puts(out, "],\"ddl\":"));
    return put_nstr(out, s->ddl);
}

sl_err_t sl_record_to_json(const sl_record_t *rec, sl_buf_t *out)
{
    return sl_record_to_json_ex(rec, 0, out);
}

sl_err_t sl_record_to_json_ex(const sl_record_t *rec, int flags, sl_buf_t *out)
{
    TRY(sl_buf_printf(out, "{\"type\":\"%s\",\"source\":", sl_rec_type_name(rec->type)));
    TRY(put_cstr(out, rec->source));
    TRY(sl_buf_puts(out, ",\"pos\":"));
    TRY(put_pos(&rec->pos, out));
    switch (rec->type) {
    case SL_REC_CHANGE:
        TRY(put_change(&rec->u.change, flags, out));
        break;
    case SL_REC_COMMIT:
        TRY(sl_buf_puts(out, ",\"txn\":"));
        TRY(put_nstr(out, rec->u.commit.txn));
        TRY(sl_buf_printf(out, ",\"event_time_us\":%" PRId64 ",\"server_id\":%" PRIu32
                          ",\"rows\":%" PRIu64, rec->u.commit.event_time_us,
                          rec->u.commit.server_id, rec->u.commit.nrows));
        break;
    case SL_REC_FINISH:
        TRY(sl_buf_puts(out, ",\"reason\":"));
        TRY(put_cstr(out, rec->u.finish.reason));
        TRY(sl_buf_printf(out, ",\"time_us\":%" PRId64, rec->u.finish.time_us));
        break;
    case SL_REC_SCHEMA:
        TRY(put_schema(&rec->u.schema, out));
        break;
    }
    return sl_buf_putc(out, '}');
}
