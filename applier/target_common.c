/* shiftlog-applier: value conversions shared by the SQL targets and the
 * position key (see target_common.h). */
#include "target_common.h"
#include "sl_value_text.h"
#include "sl_log.h"
#include "target.h"
#include "applier.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int app_conv_is_varbit(const sl_column_t *col)
{
    const char *st = col && col->source_type ? col->source_type : "";
    return col && col->kind == SL_VAL_BIT &&
           (!strncmp(st, "bit varying", 11) || !strncmp(st, "varbit", 6));
}

app_conv_class_t app_conv_class(const sl_value_t *v, int flags)
{
    switch (v->kind) {
    case SL_VAL_NULL:     return APP_CONV_NULL;
    case SL_VAL_BOOL:
    case SL_VAL_INT:      return APP_CONV_INT64;
    case SL_VAL_UINT:     return APP_CONV_UINT64;
    case SL_VAL_FLOAT:    return APP_CONV_FLOAT;
    case SL_VAL_DOUBLE:   return APP_CONV_DOUBLE;
    case SL_VAL_BYTES:    return APP_CONV_BINARY;
    case SL_VAL_BIT:      return (flags & APP_CONV_BIT_DIGITS) ? APP_CONV_TEXT : APP_CONV_BINARY;
    case SL_VAL_MISSING:  return APP_CONV_MISSING;
    case SL_VAL_DECIMAL:
    case SL_VAL_STRING:
    case SL_VAL_TEMPORAL:
    case SL_VAL_SET:
    case SL_VAL_TYPED:
    default:              return APP_CONV_TEXT;
    }
}

int app_conv_micros_text(int64_t micros, int precision, char *buf, size_t size)
{
    return sl_micros_text(micros, precision, buf, size);
}

sl_err_t app_conv_text(const sl_value_t *v, int flags, sl_buf_t *out,
                       char *errstr, size_t errstr_size)
{
    switch (v->kind) {
    case SL_VAL_BOOL:
        return sl_buf_puts(out, v->u.b ? "1" : "0");
    case SL_VAL_INT:
        return sl_buf_printf(out, "%" PRId64, v->u.i);
    case SL_VAL_UINT:
        return sl_buf_printf(out, "%" PRIu64, v->u.u);
    case SL_VAL_FLOAT:
        return sl_double_text(out, (double)v->u.f, 9);
    case SL_VAL_DOUBLE:
        return sl_double_text(out, v->u.d, 17);
    case SL_VAL_TEMPORAL:
        if (v->u.t.has_micros &&
            (v->u.t.kind == SL_T_TIMESTAMP || v->u.t.kind == SL_T_TIMESTAMPTZ)) {
            char tmp[48];
            int n = app_conv_micros_text(v->u.t.micros, v->u.t.precision, tmp, sizeof tmp);
            if (n > 0)
                return sl_buf_append(out, tmp, (size_t)n);
        }
        return sl_buf_append(out, v->data, v->len);
    case SL_VAL_BIT:
        if (v->len != (v->u.bit.nbits + 7) / 8) {
            snprintf(errstr, errstr_size, "BIT(%u) value has %zu bytes, expected %u",
                     v->u.bit.nbits, v->len, (v->u.bit.nbits + 7) / 8);
            return SL_ERR_INVALID;
        }
        if (flags & APP_CONV_BIT_DIGITS) {
            sl_err_t e = sl_buf_reserve(out, v->u.bit.nbits);
            if (e)
                return e;
            for (uint32_t i = 0; i < v->u.bit.nbits; i++) {
                uint32_t bit = v->u.bit.nbits - 1 - i;   /* from the most significant */
                unsigned char byte = (unsigned char)v->data[v->len - 1 - bit / 8];
                sl_buf_putc(out, (byte >> (bit % 8)) & 1 ? '1' : '0');
            }
            return SL_OK;
        }
        return sl_buf_append(out, v->data, v->len);
    case SL_VAL_SET: {
        const char *p = v->data, *end = v->data + v->len;
        for (uint32_t i = 0; i < v->n && p < end; i++) {
            size_t l = strnlen(p, (size_t)(end - p));
            sl_err_t e;
            if ((i && (e = sl_buf_putc(out, ','))) || (e = sl_buf_append(out, p, l)))
                return e;
            p += l + 1;
        }
        return SL_OK;
    }
    case SL_VAL_DECIMAL:
    case SL_VAL_STRING:
    case SL_VAL_BYTES:
    case SL_VAL_TYPED:
        return sl_buf_append(out, v->data, v->len);
    case SL_VAL_NULL:
    case SL_VAL_MISSING:
    default:
        snprintf(errstr, errstr_size, "a %s value has no text form", sl_val_kind_name(v->kind));
        return SL_ERR_INVALID;
    }
}

sl_err_t app_conv_quote_ident(sl_buf_t *out, const char *name, size_t len, char quote)
{
    sl_err_t e;
    if (!name || len == 0 || memchr(name, '\0', len))
        return SL_ERR_INVALID;
    if ((e = sl_buf_reserve(out, len * 2 + 2)))
        return e;
    sl_buf_putc(out, quote);
    for (size_t i = 0; i < len; i++) {
        if (name[i] == quote)
            sl_buf_putc(out, quote);
        sl_buf_putc(out, name[i]);
    }
    return sl_buf_putc(out, quote);
}

sl_err_t app_conv_quote_literal(sl_buf_t *out, const char *s, size_t len)
{
    sl_err_t e;
    if (memchr(s, '\0', len))
        return SL_ERR_INVALID;
    if ((e = sl_buf_reserve(out, len * 2 + 2)))
        return e;
    sl_buf_putc(out, '\'');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\'' || s[i] == '\\')
            sl_buf_putc(out, s[i]);
        sl_buf_putc(out, s[i]);
    }
    return sl_buf_putc(out, '\'');
}

void app_pos_key(const sl_pos_t *pos, char out[APP_POS_KEY_LEN + 1])
{
    sl_pos_key(pos, out);
}

void app_pos_row(const sl_pos_t *pos0, uint32_t delta, sl_pos_t *out)
{
    *out = *pos0;
    out->row = pos0->row + delta;
}

int app_conv_decimal_digits(const char *s, size_t len)
{
    return sl_decimal_digits(s, len);
}

sl_err_t app_unconvertible(int policy, const char *errstr)
{
    static uint64_t nulled;              /* one writer per target connection; a count */
    if (policy == APP_UNCONV_STOP)
        return SL_ERR_UNSUPPORTED;
    if (policy != APP_UNCONV_NULL)
        return SL_ERR_INVALID;
    uint64_t n = __atomic_add_fetch(&nulled, 1, __ATOMIC_RELAXED);
    if (n <= 10 || n % 1000 == 0)
        sl_warn("on_unconvertible = null: written as NULL (%" PRIu64 " so far): %s", n, errstr);
    return SL_OK;
}

sl_err_t app_read_check(const sl_change_t *ch, const sl_schema_t *s, uint32_t first,
                        char *errstr, size_t errstr_size)
{
    if (ch->ncols < s->ncols) {
        snprintf(errstr, errstr_size, "table %s.%s: a read row replaces the whole row, and the "
                 "change carries %u of the table's %u columns", ch->db, ch->table, ch->ncols,
                 s->ncols);
        return SL_ERR_INVALID;
    }
    for (uint32_t r = first; r < ch->nrows; r++) {
        const sl_value_t *img = ch->rows[r].after;
        if (!img) {
            snprintf(errstr, errstr_size, "table %s.%s: read row %u has no after image",
                     ch->db, ch->table, r);
            return SL_ERR_INVALID;
        }
        for (uint32_t c = 0; c < ch->ncols; c++)
            if (img[c].kind == SL_VAL_MISSING) {
                snprintf(errstr, errstr_size, "table %s.%s: read row %u: column \"%s\" is not "
                         "in the image (%s); a read row replaces the whole row", ch->db,
                         ch->table, r, ch->columns[c], sl_missing_name(img[c].u.missing));
                return SL_ERR_INVALID;
            }
    }
    return SL_OK;
}

app_target_conf_t app_target_conf_of(const app_conf_t *c)
{
    return (app_target_conf_t){
        .task = c->task_name, .host = c->target_host, .port = (int)c->target_port,
        .user = c->target_user, .password = c->target_password,
        .database = c->target_database, .tls_mode = c->target_tls, .tls_ca = c->target_tls_ca,
        .tls_cert = c->target_tls_cert, .tls_key = c->target_tls_key,
        .create_tables = c->create_tables, .ddl_apply = c->ddl_apply,
        .on_unconvertible = c->on_unconvertible, .write_batch = (int)c->write_batch};
}

const char *app_default_sql(const sl_column_t *c, int *keyword, char *buf, size_t size)
{
    *keyword = c->kind == SL_VAL_BOOL;
    size_t n = strlen(c->dflt);
    if (c->kind == SL_VAL_TEMPORAL && n < size) {
        size_t cut = n > 6 && !strcmp(c->dflt + n - 6, "+00:00") ? 6
                   : n > 3 && !strcmp(c->dflt + n - 3, "+00") ? 3 : 0;
        if (cut) {
            memcpy(buf, c->dflt, n - cut);
            buf[n - cut] = '\0';
            return buf;
        }
    }
    if (!*keyword)
        return c->dflt;
    const char *d = c->dflt;
    return !strcasecmp(d, "t") || !strcasecmp(d, "true") || !strcmp(d, "1") ||
           !strcasecmp(d, "on") || !strcasecmp(d, "y") || !strcasecmp(d, "yes") ? "TRUE"
                                                                                : "FALSE";
}
