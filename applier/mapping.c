/* shiftlog-applier: which tables are applied and under which names
 * (otter's data_media_pair). Keys (docs/applier.md "Mapping"):
 *
 *   tables          = shop.*, crm.customers      include patterns on db.table
 *   tables.exclude  = shop.tmp_*                 exclude patterns (win over tables)
 *   map.tables      = shop.orders=sales.orders, shop.*=shop_copy.*
 *                     first matching rule wins; in the target name a '*'
 *                     stands for the source db (schema part) / table (table
 *                     part); no rule: target schema = db, table = table
 *   map.columns     = shop.users.name=full_name, *.*.ts=changed_at
 *   columns.include = shop.users.id, shop.users.name   (per table: only these)
 *   columns.exclude = *.*.password
 *
 * Patterns use '*' and '?'. Names containing ',' or '=' cannot be written in
 * these lists (a table or column of that name is applied under its own name). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applier.h"

typedef struct rule_s {
    char *src;     /* pattern: db.table or db.table.col */
    char *dst;     /* target name (may be NULL) */
} rule_t;

typedef struct rules_s {
    rule_t *v;
    size_t  n;
} rules_t;

typedef struct mtable_s {
    struct mtable_s *next;
    char            *key;           /* db.table */
    char            *schema, *table;
    char           **cols;
    uint32_t         ncols;
} mtable_t;

struct app_mapping_s {
    rules_t   include, exclude, tables, columns, col_include, col_exclude;
    mtable_t *tabs;
};

int app_glob(const char *p, const char *t)
{
    const char *star = NULL, *back = NULL;
    while (*t) {
        if (*p == '*') {
            star = p++;
            back = t;
        } else if (*p == '?' || *p == *t) {
            p++;
            t++;
        } else if (star) {
            p = star + 1;
            t = ++back;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static void rules_free(rules_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].src);
        free(r->v[i].dst);
    }
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* Parses "a, b=c, ..." ; want_dst: 1 = every item needs "=dst", 0 = none may
 * have one. dots: how many '.'-separated parts the source pattern has. */
static sl_err_t rules_parse(rules_t *r, const char *key, const char *text, int want_dst,
                            int dots, char *errstr, size_t errstr_size)
{
    if (!text)
        return SL_OK;
    char *copy = strdup(text), *save = NULL;
    if (!copy)
        return SL_ERR_NOMEM;
    sl_err_t err = SL_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *item = trim(tok), *eq = strchr(item, '=');
        if (!*item)
            continue;
        if (eq)
            *eq = '\0';
        char *src = trim(item), *dst = eq ? trim(eq + 1) : NULL;
        int ndots = 0;
        for (const char *c = src; *c; c++)
            ndots += *c == '.';
        if ((want_dst && (!dst || !*dst)) || (!want_dst && eq) || ndots > dots ||
            (ndots < dots && !strchr(src, '*')) ||
            (want_dst == 1 && dots == 1 && !strchr(dst, '.'))) {
            snprintf(errstr, errstr_size,
                     "%s: bad rule \"%s%s%s\" (expected %s)", key, src, eq ? "=" : "",
                     dst ? dst : "",
                     dots == 1 ? (want_dst ? "db.table=schema.table, '*' allowed"
                                           : "db.table, '*' allowed")
                               : (want_dst ? "db.table.column=new_name"
                                           : "db.table.column, '*' allowed"));
            err = SL_ERR_INVALID;
            break;
        }
        rule_t *v = realloc(r->v, (r->n + 1) * sizeof(*v));
        if (!v) {
            err = SL_ERR_NOMEM;
            break;
        }
        r->v = v;
        r->v[r->n].src = strdup(src);
        r->v[r->n].dst = dst ? strdup(dst) : NULL;
        r->n++;
    }
    free(copy);
    return err;
}

sl_err_t app_mapping_new(app_mapping_t **out, const app_conf_t *c, char *errstr,
                         size_t errstr_size)
{
    app_mapping_t *m = calloc(1, sizeof(*m));
    sl_err_t err;
    *out = NULL;
    if (!m)
        return SL_ERR_NOMEM;
    if ((err = rules_parse(&m->include, "tables", c->tables ? c->tables : "*", 0, 1,
                           errstr, errstr_size)) ||
        (err = rules_parse(&m->exclude, "tables.exclude", c->tables_exclude, 0, 1, errstr,
                           errstr_size)) ||
        (err = rules_parse(&m->tables, "map.tables", c->map_tables, 1, 1, errstr,
                           errstr_size)) ||
        (err = rules_parse(&m->columns, "map.columns", c->map_columns, 2, 2, errstr,
                           errstr_size)) ||
        (err = rules_parse(&m->col_include, "columns.include", c->columns_include, 0, 2,
                           errstr, errstr_size)) ||
        (err = rules_parse(&m->col_exclude, "columns.exclude", c->columns_exclude, 0, 2,
                           errstr, errstr_size))) {
        app_mapping_destroy(m);
        return err;
    }
    *out = m;
    return SL_OK;
}

static void mtable_clear(mtable_t *t)
{
    free(t->schema);
    free(t->table);
    for (uint32_t i = 0; i < t->ncols; i++)
        free(t->cols[i]);
    free(t->cols);
    t->schema = t->table = NULL;
    t->cols = NULL;
    t->ncols = 0;
}

void app_mapping_destroy(app_mapping_t *m)
{
    if (!m)
        return;
    rules_free(&m->include);
    rules_free(&m->exclude);
    rules_free(&m->tables);
    rules_free(&m->columns);
    rules_free(&m->col_include);
    rules_free(&m->col_exclude);
    while (m->tabs) {
        mtable_t *n = m->tabs->next;
        mtable_clear(m->tabs);
        free(m->tabs->key);
        free(m->tabs);
        m->tabs = n;
    }
    free(m);
}

static int any_match(const rules_t *r, const char *text)
{
    for (size_t i = 0; i < r->n; i++)
        if (app_glob(r->v[i].src, text))
            return 1;
    return 0;
}

int app_mapping_included(app_mapping_t *m, const char *db, const char *table)
{
    char full[512];
    snprintf(full, sizeof(full), "%s.%s", db, table);
    return any_match(&m->include, full) && !any_match(&m->exclude, full);
}

/* The table part "db.table" of a "db.table.col" pattern matches full? */
static int table_part_matches(const char *pattern, const char *full)
{
    char buf[512];
    const char *dot = strrchr(pattern, '.');
    size_t n = dot ? (size_t)(dot - pattern) : 0;
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, pattern, n);
    buf[n] = '\0';
    return app_glob(buf, full);
}

/* "*" in one part of a target name stands for the source name. */
static char *subst(const char *dst, size_t n, const char *src)
{
    if (n == 1 && dst[0] == '*')
        return strdup(src);
    return strndup(dst, n);
}

sl_err_t app_mapping_table(app_mapping_t *m, const sl_schema_t *s, app_table_map_t *map,
                           char *errstr, size_t errstr_size)
{
    char full[512], colfull[1024];
    snprintf(full, sizeof(full), "%s.%s", s->db, s->table);
    mtable_t *t;
    for (t = m->tabs; t; t = t->next)
        if (!strcmp(t->key, full))
            break;
    if (!t) {
        if (!(t = calloc(1, sizeof(*t))) || !(t->key = strdup(full))) {
            free(t);
            return SL_ERR_NOMEM;
        }
        t->next = m->tabs;
        m->tabs = t;
    }
    mtable_clear(t);
    const rule_t *r = NULL;
    for (size_t i = 0; i < m->tables.n && !r; i++)
        if (app_glob(m->tables.v[i].src, full))
            r = &m->tables.v[i];
    if (r) {
        const char *dot = strchr(r->dst, '.');
        t->schema = subst(r->dst, (size_t)(dot - r->dst), s->db);
        t->table = subst(dot + 1, strlen(dot + 1), s->table);
    } else {
        t->schema = strdup(s->db);
        t->table = strdup(s->table);
    }
    t->cols = calloc(s->ncols ? s->ncols : 1, sizeof(char *));
    if (!t->schema || !t->table || !t->cols)
        return SL_ERR_NOMEM;
    t->ncols = s->ncols;
    int has_include = 0;
    for (size_t i = 0; i < m->col_include.n; i++)
        has_include |= table_part_matches(m->col_include.v[i].src, full);
    for (uint32_t c = 0; c < s->ncols; c++) {
        const sl_column_t *col = &s->cols[c];
        snprintf(colfull, sizeof(colfull), "%s.%s", full, col->name);
        int keep = col->pk || ((!has_include || any_match(&m->col_include, colfull)) &&
                               !any_match(&m->col_exclude, colfull));
        if (!keep)
            continue;
        const char *name = col->name;
        for (size_t i = 0; i < m->columns.n; i++)
            if (app_glob(m->columns.v[i].src, colfull)) {
                name = m->columns.v[i].dst;
                break;
            }
        if (!(t->cols[c] = strdup(name)))
            return SL_ERR_NOMEM;
    }
    if (!t->schema[0] || !t->table[0]) {
        snprintf(errstr, errstr_size, "map.tables: %s maps to an empty target name", full);
        return SL_ERR_INVALID;
    }
    map->src_db = s->db;
    map->src_table = s->table;
    map->dst_schema = t->schema;
    map->dst_table = t->table;
    map->ncols = s->ncols;
    map->dst_cols = (const char **)t->cols;
    map->schema = s;
    return SL_OK;
}
