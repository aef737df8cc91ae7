/* shiftlog validate --task: what to compare, read from an applier's config
 * (validate.h). The target is the applier's target.*; the pairs are the
 * source tables the applier's rules include (tables, tables.exclude) under
 * the names map.tables gives them, and each pair compares the columns the
 * applier writes (columns.include/exclude) under their map.columns names.
 * The rules are the applier's own code (applier/mapping.c), so the
 * validation cannot read them differently from the applier. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../applier/applier.h"
#include "sl_name.h"
#include "status.h"
#include "validate.h"

struct val_task_s {
    cli_svc_conf_t  conf;
    app_mapping_t  *map;
    char           *target;       /* URL */
    char          **pairs;        /* source, target, ... */
    int             npairs, cap;
    char            why[512];     /* a table's mapping error */
};

/* Percent-encodes v (user, password) into b: a URL's own characters in
 * them would cut it otherwise. */
static sl_err_t put_enc(sl_buf_t *b, const char *v)
{
    sl_err_t err = SL_OK;
    for (const unsigned char *p = (const unsigned char *)v; !err && *p; p++)
        err = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || strchr("-._~", *p)
            ? sl_buf_putc(b, (char)*p) : sl_buf_printf(b, "%%%02X", *p);
    return err;
}

static const char *get(const val_task_t *tk, const char *key, const char *def)
{
    const char *v = cli_svc_get(&tk->conf, key);
    return v && *v ? v : def;
}

/* target.* as the URL val_engine_open takes. */
static sl_err_t target_url(val_task_t *tk, const char *path, char *errstr, size_t errstr_size)
{
    const char *type = get(tk, "target.type", "postgresql");
    const char *scheme = !strcmp(type, "mysql") ? "mysql" : !strcmp(type, "mongodb")
                       ? "mongodb" : !strcmp(type, "postgresql") ? "postgresql" : NULL;
    if (!scheme) {
        snprintf(errstr, errstr_size, "%s: target.type \"%s\" is not postgresql, mysql or "
                 "mongodb", path, type);
        return SL_ERR_INVALID;
    }
    const char *port = get(tk, "target.port", !strcmp(scheme, "mysql") ? "3306"
                           : !strcmp(scheme, "mongodb") ? "27017" : "5432");
    const char *user = get(tk, "target.user", ""), *pass = get(tk, "target.password", "");
    sl_buf_t b = SL_BUF_INIT;
    sl_err_t err = sl_buf_printf(&b, "%s://", scheme);
    if (!err && *user) {
        err = put_enc(&b, user);
        if (!err && *pass)
            err = sl_buf_putc(&b, ':');
        if (!err && *pass)
            err = put_enc(&b, pass);
        if (!err)
            err = sl_buf_putc(&b, '@');
    }
    if (!err)
        err = sl_buf_printf(&b, "%s:%s", get(tk, "target.host", "127.0.0.1"), port);
    if (!err && !strcmp(scheme, "postgresql")) {
        const char *tls = get(tk, "target.tls.mode", "");
        err = sl_buf_puts(&b, "/");
        if (!err)
            err = put_enc(&b, get(tk, "target.database", "postgres"));
        if (!err && (!strcmp(tls, "disable") || !strcmp(tls, "require") ||
                     !strcmp(tls, "verify-ca") || !strcmp(tls, "verify-full")))
            err = sl_buf_printf(&b, "?sslmode=%s", tls);
    }
    if (err) {
        sl_buf_free(&b);
        return err;
    }
    tk->target = b.data;
    return SL_OK;
}

sl_err_t val_task_load(val_task_t **out, const char *path, const char **target, char *errstr,
                       size_t errstr_size)
{
    val_task_t *tk = calloc(1, sizeof *tk);
    sl_err_t err = SL_ERR_INVALID;
    *out = NULL;
    if (!tk)
        return SL_ERR_NOMEM;
    if (cli_svc_conf_load(&tk->conf, path, errstr, errstr_size)) {
        free(tk);
        return SL_ERR_INVALID;
    }
    if (strcmp(tk->conf.kind, "applier")) {
        snprintf(errstr, errstr_size, "%s: the config of a %s, not of an applier (task.name, "
                 "target.type)", path, tk->conf.kind);
        goto fail;
    }
    app_conf_t c;
    memset(&c, 0, sizeof c);
    c.tables = cli_svc_get(&tk->conf, "tables");
    c.tables_exclude = cli_svc_get(&tk->conf, "tables.exclude");
    c.map_tables = cli_svc_get(&tk->conf, "map.tables");
    c.map_columns = cli_svc_get(&tk->conf, "map.columns");
    c.columns_include = cli_svc_get(&tk->conf, "columns.include");
    c.columns_exclude = cli_svc_get(&tk->conf, "columns.exclude");
    if ((err = app_mapping_new(&tk->map, &c, errstr, errstr_size)) ||
        (err = target_url(tk, path, errstr, errstr_size)))
        goto fail;
    *target = tk->target;
    *out = tk;
    return SL_OK;
fail:
    if (err == SL_ERR_NOMEM)
        snprintf(errstr, errstr_size, "out of memory");
    val_task_free(tk);
    return err;
}

void val_task_free(val_task_t *tk)
{
    if (!tk)
        return;
    for (int i = 0; i < 2 * tk->npairs; i++)
        free(tk->pairs[i]);
    free(tk->pairs);
    free(tk->target);
    app_mapping_destroy(tk->map);
    cli_svc_conf_free(&tk->conf);
    free(tk);
}

/* One table of the source: a pair when the rules include it. */
static sl_err_t add_table(void *arg, const char *db, const char *table)
{
    val_task_t *tk = arg;
    if (!app_mapping_included(tk->map, db, table))
        return SL_OK;
    sl_schema_t s = {db, table, 0, NULL, NULL};
    app_table_map_t m;
    char sname[1100], tname[1100];
    sl_err_t err = app_mapping_table(tk->map, &s, &m, tk->why, sizeof tk->why);
    if (err)
        return err;
    const char *sn[2] = {db, table}, *tn[2] = {m.dst_schema, m.dst_table};
    sl_name_join(sn, 2, sname, sizeof sname);
    sl_name_join(tn, 2, tname, sizeof tname);
    if (tk->npairs == tk->cap) {
        int nc = tk->cap ? 2 * tk->cap : 16;
        char **v = realloc(tk->pairs, 2 * (size_t)nc * sizeof *v);
        if (!v)
            return SL_ERR_NOMEM;
        tk->pairs = v;
        tk->cap = nc;
    }
    char *a = strdup(sname), *b = strdup(tname);
    if (!a || !b) {
        free(a);
        free(b);
        return SL_ERR_NOMEM;
    }
    tk->pairs[2 * tk->npairs] = a;
    tk->pairs[2 * tk->npairs + 1] = b;
    tk->npairs++;
    return SL_OK;
}

sl_err_t val_task_pairs(val_task_t *tk, val_engine_t *src, char ***pairs, int *n,
                        char *errstr, size_t errstr_size)
{
    if (!src->list) {
        snprintf(errstr, errstr_size, "%s can be a target only", src->name);
        return SL_ERR_INVALID;
    }
    tk->why[0] = '\0';
    sl_err_t err = src->list(src->ctx, add_table, tk, errstr, errstr_size);
    if (err && tk->why[0])
        snprintf(errstr, errstr_size, "%s", tk->why);
    *pairs = tk->pairs;
    *n = tk->npairs;
    return err;
}

sl_err_t val_task_columns(val_task_t *tk, const char *stab, val_table_t *t, val_table_t *tt,
                          char *errstr, size_t errstr_size)
{
    char db[256], tb[256];
    memset(tt, 0, sizeof *tt);
    if (sl_name_parse(stab, db, sizeof db, tb, sizeof tb))
        return SL_ERR_INVALID;
    sl_column_t *sc = calloc(t->ncols ? t->ncols : 1, sizeof *sc);
    uint32_t *to = calloc(t->ncols ? t->ncols : 1, sizeof *to);
    sl_err_t err = SL_ERR_NOMEM;
    if (!sc || !to || !(tt->cols = calloc(t->ncols ? t->ncols : 1, sizeof *tt->cols)))
        goto out;
    for (uint32_t i = 0; i < t->ncols; i++)
        sc[i].name = t->cols[i].name;
    for (uint32_t k = 0; k < t->nkey; k++)
        sc[t->key[k]].pk = (int)k + 1;
    sl_schema_t s = {db, tb, t->ncols, sc, NULL};
    app_table_map_t m;
    if ((err = app_mapping_table(tk->map, &s, &m, errstr, errstr_size)))
        goto out;
    err = SL_ERR_NOMEM;
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (!m.dst_cols[i])          /* not written by the applier: not compared */
            continue;
        to[i] = n;
        tt->cols[n] = t->cols[i];
        if (!(tt->cols[n].name = strdup(m.dst_cols[i])))
            goto out;
        tt->ncols = ++n;
    }
    n = 0;
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (m.dst_cols[i])
            t->cols[n++] = t->cols[i];
        else
            free(t->cols[i].name);
    }
    t->ncols = n;
    for (uint32_t k = 0; k < t->nkey; k++)
        t->key[k] = tt->key[k] = to[t->key[k]];
    tt->nkey = t->nkey;
    err = SL_OK;
out:
    if (err == SL_ERR_NOMEM)
        snprintf(errstr, errstr_size, "out of memory");
    free(sc);
    free(to);
    return err;
}
