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
 * Patterns use '*' and '?' and match each part of the name separately. A
 * part that holds '.', ',' or '=' is written in backquotes (`a.b`.c is
 * database "a.b", table "c"; a '`' inside is doubled): the name form of
 * common/sl_name.h. The mapping cache keys on (db, table), never on the
 * joined text, which two tables can share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applier.h"
#include "sl_name.h"

typedef struct rule_s {
    char *src;        /* the pattern as written: db.table or db.table.col */
    char *part[3];    /* its parts (sl_name_split), each a glob */
    int   nparts;
    char *dst[2];     /* map.tables: target schema, table; map.columns: column */
    char  buf[];      /* holds part[] and dst[] */
} rule_t;

typedef struct rules_s {
    rule_t **v;
    size_t   n;
} rules_t;

typedef struct mtable_s {
    struct mtable_s *next;
    char            *db, *tbl;      /* the source table: the cache key (two strings,
                                     * never "db.table", which two tables can share) */
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

/* The first c outside backquotes in s, or NULL. */
static char *find_unquoted(char *s, char c)
{
    int quoted = 0;
    for (; *s; s++) {
        if (*s == '`')
            quoted = !quoted;
        else if (*s == c && !quoted)
            return s;
    }
    return NULL;
}

static void rules_free(rules_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i]->src);
        free(r->v[i]);
    }
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* A new rule from pattern src (and dst), split into parts; NULL if a
 * backquote is not closed or memory is short. *nparts / *ndst get the
 * counts found (may exceed what the key allows: the caller checks). */
static rule_t *rule_new(const char *src, const char *dst, int *nparts, int *ndst)
{
    size_t bsz = 2 * (strlen(src) + (dst ? strlen(dst) : 0)) + 8;
    rule_t *r = calloc(1, sizeof(*r) + bsz);
    if (!r)
        return NULL;
    *nparts = sl_name_split(src, r->part, 3, r->buf, bsz / 2);
    *ndst = dst ? sl_name_split(dst, r->dst, 2, r->buf + bsz / 2, bsz / 2) : 0;
    if (*nparts < 0 || *ndst < 0 || !(r->src = strdup(src))) {
        free(r);
        return NULL;
    }
    r->nparts = *nparts;
    return r;
}

/* Parses "a, b=c, ..." ; want_dst: 1 = every item needs "=schema.table",
 * 2 = every item needs "=column", 0 = none may have one. dots: how many
 * '.'-separated parts the source pattern has, less one. ',' '=' and '.'
 * inside backquotes belong to the name. */
static sl_err_t rules_parse(rules_t *r, const char *key, const char *text, int want_dst,
                            int dots, char *errstr, size_t errstr_size)
{
    if (!text)
        return SL_OK;
    char *copy = strdup(text);
    if (!copy)
        return SL_ERR_NOMEM;
    sl_err_t err = SL_OK;
    for (char *tok = copy, *next; tok; tok = next) {
        char *comma = find_unquoted(tok, ',');
        next = comma ? comma + 1 : NULL;
        if (comma)
            *comma = '\0';
        char *item = trim(tok), *eq = find_unquoted(item, '=');
        if (!*item)
            continue;
        if (eq)
            *eq = '\0';
        char *src = trim(item), *dst = eq ? trim(eq + 1) : NULL;
        int nparts = 0, ndst = 0;
        rule_t *rule = rule_new(src, dst, &nparts, &ndst);
        int want_ndst = want_dst == 1 ? 2 : want_dst == 2 ? 1 : 0;
        if (!rule || (want_dst && (!dst || !*dst)) || (!want_dst && eq) ||
            nparts > dots + 1 || (nparts < dots + 1 && !strchr(src, '*')) ||
            (want_dst && ndst != want_ndst)) {
            snprintf(errstr, errstr_size,
                     "%s: bad rule \"%s%s%s\" (expected %s; a name with '.', ',' or '=' "
                     "in backquotes)", key, src, eq ? "=" : "", dst ? dst : "",
                     dots == 1 ? (want_dst ? "db.table=schema.table, '*' allowed"
                                           : "db.table, '*' allowed")
                               : (want_dst ? "db.table.column=new_name"
                                           : "db.table.column, '*' allowed"));
            if (rule)
                free(rule->src);
            free(rule);
            err = SL_ERR_INVALID;
            break;
        }
        rule_t **v = realloc(r->v, (r->n + 1) * sizeof(*v));
        if (!v) {
            free(rule->src);
            free(rule);
            err = SL_ERR_NOMEM;
            break;
        }
        r->v = v;
        r->v[r->n++] = rule;
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
        free(m->tabs->db);
        free(m->tabs->tbl);
        free(m->tabs);
        m->tabs = n;
    }
    free(m);
}

/* Does rule r match the name names[0..n)? A pattern with every part matches
 * part by part; a shorter one (only allowed with a '*': "*", "*.password")
 * is a glob over the whole name form `full` (sl_name.h). */
static int rule_match(const rule_t *r, const char *const *names, int n, const char *full)
{
    if (r->nparts != n)
        return app_glob(r->src, full);
    for (int i = 0; i < n; i++)
        if (!app_glob(r->part[i], names[i]))
            return 0;
    return 1;
}

static const rule_t *first_match(const rules_t *r, const char *const *names, int n,
                                 const char *full)
{
    for (size_t i = 0; i < r->n; i++)
        if (rule_match(r->v[i], names, n, full))
            return r->v[i];
    return NULL;
}

int app_mapping_included(app_mapping_t *m, const char *db, const char *table)
{
    const char *names[2] = {db, table};
    char full[1024];
    sl_name_join(names, 2, full, sizeof(full));
    return first_match(&m->include, names, 2, full) && !first_match(&m->exclude, names, 2, full);
}

/* Does the table part of a db.table.col pattern match the table names[0..2)? */
static int table_part_matches(const rule_t *r, const char *const *names, const char *full)
{
    if (r->nparts == 3)
        return app_glob(r->part[0], names[0]) && app_glob(r->part[1], names[1]);
    char buf[1024];
    const char *dot = strrchr(r->src, '.');
    size_t n = dot ? (size_t)(dot - r->src) : 0;
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, r->src, n);
    buf[n] = '\0';
    return app_glob(buf, full);
}

/* "*" as one part of a target name stands for the source name. */
static char *subst(const char *dst, const char *src)
{
    return strdup(strcmp(dst, "*") ? dst : src);
}

static mtable_t *mtable_get(app_mapping_t *m, const char *db, const char *table)
{
    mtable_t *t;
    for (t = m->tabs; t; t = t->next)
        if (!strcmp(t->db, db) && !strcmp(t->tbl, table))
            return t;
    if (!(t = calloc(1, sizeof(*t))) || !(t->db = strdup(db)) || !(t->tbl = strdup(table))) {
        if (t)
            free(t->db);
        free(t);
        return NULL;
    }
    t->next = m->tabs;
    m->tabs = t;
    return t;
}

sl_err_t app_mapping_table(app_mapping_t *m, const sl_schema_t *s, app_table_map_t *map,
                           char *errstr, size_t errstr_size)
{
    const char *names[3] = {s->db ? s->db : "", s->table ? s->table : "", NULL};
    char full[1024], colfull[1536];
    sl_name_join(names, 2, full, sizeof(full));
    mtable_t *t = mtable_get(m, names[0], names[1]);
    if (!t)
        return SL_ERR_NOMEM;
    mtable_clear(t);
    const rule_t *r = first_match(&m->tables, names, 2, full);
    if (r) {
        t->schema = subst(r->dst[0], names[0]);
        t->table = subst(r->dst[1], names[1]);
    } else {
        t->schema = strdup(names[0]);
        t->table = strdup(names[1]);
    }
    t->cols = calloc(s->ncols ? s->ncols : 1, sizeof(char *));
    if (!t->schema || !t->table || !t->cols)
        return SL_ERR_NOMEM;
    t->ncols = s->ncols;
    int has_include = 0;
    for (size_t i = 0; i < m->col_include.n; i++)
        has_include |= table_part_matches(m->col_include.v[i], names, full);
    for (uint32_t c = 0; c < s->ncols; c++) {
        const sl_column_t *col = &s->cols[c];
        names[2] = col->name ? col->name : "";
        sl_name_join(names, 3, colfull, sizeof(colfull));
        int keep = col->pk || ((!has_include || first_match(&m->col_include, names, 3, colfull)) &&
                               !first_match(&m->col_exclude, names, 3, colfull));
        if (!keep)
            continue;
        const rule_t *cr = first_match(&m->columns, names, 3, colfull);
        if (!(t->cols[c] = strdup(cr ? cr->dst[0] : names[2])))
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

sl_err_t app_mapping_check_targets(app_mapping_t *m,
                                   sl_err_t (*check)(void *ctx, const char *schema,
                                                     const char *table, char *errstr,
                                                     size_t errstr_size),
                                   void *ctx, char *errstr, size_t errstr_size)
{
    char why[768], dst[512];
    for (size_t i = 0; i < m->tables.n; i++) {
        const rule_t *r = m->tables.v[i];
        if (strpbrk(r->dst[0], "*?") || strpbrk(r->dst[1], "*?"))
            continue;
        sl_err_t err = check(ctx, r->dst[0], r->dst[1], why, sizeof(why));
        if (err) {
            snprintf(errstr, errstr_size, "map.tables: rule %s=%s: %s", r->src,
                     sl_name_format(r->dst[0], r->dst[1], dst, sizeof(dst)), why);
            return err;
        }
    }
    return SL_OK;
}
