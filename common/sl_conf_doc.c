/* shiftlog: configuration dumps, --help and the Markdown reference (the
 * output side of sl_conf.h; parsing is in sl_conf.c). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "sl_conf.h"
#include "sl_conf_int.h"
#include "sl_log.h"
#include "sl_secret.h"

/* --- dumps, help and docs ----------------------------------------------- */

static void put_value(sl_buf_t *out, const char *v)
{
    int quote = !*v;
    for (const char *p = v; *p; p++)
        if (isspace((unsigned char)*p) || *p == '"' || *p == '\'' || *p == '#' || *p == '\\')
            quote = 1;
    if (!quote) {
        sl_buf_puts(out, v);
        return;
    }
    sl_buf_putc(out, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            sl_buf_putc(out, '\\');
        if (*p == '\n')
            sl_buf_puts(out, "\\n");
        else if (*p == '\t')
            sl_buf_puts(out, "\\t");
        else
            sl_buf_putc(out, *p);
    }
    sl_buf_putc(out, '"');
}

static sl_err_t dump_line(sl_buf_t *out, const char *key, const char *value, int secret)
{
    sl_buf_t line = SL_BUF_INIT;
    sl_buf_printf(&line, "%s = ", key);
    if (secret && *value)
        sl_buf_puts(&line, "****");
    else
        put_value(&line, value);
    if (!line.data)
        return SL_ERR_NOMEM;
    sl_log_mask(line.data);
    sl_err_t err = sl_buf_puts(out, line.data);
    if (err == SL_OK)
        err = sl_buf_putc(out, '\n');
    sl_buf_free(&line);
    return err;
}

sl_err_t sl_conf_dump(const sl_conf_t *conf, sl_buf_t *out)
{
    for (size_t i = 0; i < conf->n; i++) {
        if (!conf->text[i])
            continue;
        sl_err_t err = dump_line(out, conf->table[i].name, conf->text[i],
                                 conf->table[i].type == SL_CONF_T_SECRET);
        if (err != SL_OK)
            return err;
    }
    for (size_t i = 0; i < conf->kafka.n; i++) {
        char key[512];
        snprintf(key, sizeof(key), KAFKA_PREFIX "%s", conf->kafka.items[i].key);
        if (sl_conf_find_entry(conf->table, conf->n, key) >= 0)
            continue;  /* declared: already dumped above */
        sl_err_t err = dump_line(out, key, conf->kafka.items[i].value,
                                 sl_secret_kafka_key(key));
        if (err != SL_OK)
            return err;
    }
    return SL_OK;
}

static void type_text(const sl_conf_entry_t *e, int md, sl_buf_t *out)
{
    char r[80];
    switch (e->type) {
    case SL_CONF_T_STRING: sl_buf_puts(out, "string"); break;
    case SL_CONF_T_SECRET: sl_buf_puts(out, "secret string"); break;
    case SL_CONF_T_BOOL:   sl_buf_puts(out, "bool"); break;
    case SL_CONF_T_INT:    sl_buf_puts(out, "int"); break;
    case SL_CONF_T_SIZE:   sl_buf_puts(out, "size"); break;
    case SL_CONF_T_DURATION: sl_buf_puts(out, "duration"); break;
    case SL_CONF_T_ENUM:
        sl_buf_puts(out, "one of ");
        for (int i = 0; e->choices && e->choices[i]; i++)
            sl_buf_printf(out, "%s%s%.*s%s", i ? (md ? " \\| " : "|") : "", md ? "`" : "",
                          sl_conf_choice_len(e->choices[i]), e->choices[i], md ? "`" : "");
        break;
    }
    if (e->type == SL_CONF_T_INT || e->type == SL_CONF_T_SIZE || e->type == SL_CONF_T_DURATION) {
        sl_conf_fmt_range(e->type, e->min, e->max, r, sizeof(r));
        if (r[0]) {  /* " (a..b)" -> " a..b" */
            r[strlen(r) - 1] = '\0';
            sl_buf_printf(out, " %s", r + 2);
        }
    }
    if (e->flags & SL_CONF_REQUIRED)
        sl_buf_puts(out, md ? ", **required**" : ", required");
}

sl_err_t sl_conf_write_help(const sl_conf_entry_t *table, size_t n, sl_buf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        const sl_conf_entry_t *e = &table[i];
        char env[256];
        sl_buf_printf(out, "  %s  (", e->name);
        type_text(e, 0, out);
        if (e->def && *e->def)
            sl_buf_printf(out, ", default %s", e->def);
        sl_buf_printf(out, ", env %s)\n      %s\n", sl_conf_env_name(e->name, env, sizeof(env)),
                      e->help ? e->help : "");
    }
    return out->data ? SL_OK : SL_ERR_NOMEM;
}

static void md_cell(sl_buf_t *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            sl_buf_puts(out, "\\|");
        else if (*s == '<')
            sl_buf_puts(out, "&lt;");
        else if (*s == '>')
            sl_buf_puts(out, "&gt;");
        else if (*s == '\n')
            sl_buf_putc(out, ' ');
        else
            sl_buf_putc(out, *s);
    }
}

sl_err_t sl_conf_write_md(const sl_conf_entry_t *table, size_t n, const char *title,
                          const char *intro, sl_buf_t *out)
{
    sl_buf_printf(out, "## %s\n\n", title);
    if (intro && *intro)
        sl_buf_printf(out, "%s\n\n", intro);
    sl_buf_puts(out, "| Key | Type | Default | Environment | Description |\n"
                     "|-----|------|---------|-------------|-------------|\n");
    for (size_t i = 0; i < n; i++) {
        const sl_conf_entry_t *e = &table[i];
        char env[256];
        sl_buf_printf(out, "| `%s` | ", e->name);
        type_text(e, 1, out);
        sl_buf_puts(out, " | ");
        if (e->def && *e->def) {
            sl_buf_putc(out, '`');
            md_cell(out, e->def);
            sl_buf_putc(out, '`');
        }
        sl_buf_printf(out, " | `%s` | ", sl_conf_env_name(e->name, env, sizeof(env)));
        md_cell(out, e->help);
        sl_buf_puts(out, " |\n");
    }
    sl_buf_putc(out, '\n');
    return out->data ? SL_OK : SL_ERR_NOMEM;
}
