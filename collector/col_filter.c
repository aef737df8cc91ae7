/* shiftlog-collector: the table filter (tables.include / tables.exclude).
 * Each pattern is a POSIX extended regex anchored at both ends and matched
 * against "db.table" (PostgreSQL: "schema.table"), as otter's data_media
 * patterns; a name part holding '.' or '`' is backquoted in that text
 * (common/sl_name.h), so database "a.b" + table "c" is `a.b`.c and database
 * "a" + table "b.c" is a.`b.c`: one pattern never has to match both. Decisions are cached per name: a reader asks once per table map,
 * and binlogs repeat a few tables millions of times. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "sl_name.h"

#define COL_FILTER_CACHE 256

typedef struct col_filter_cache_s {
    char *name;        /* "db.table", owned; NULL = empty slot */
    int   match;
} col_filter_cache_t;

struct col_filter_s {
    regex_t *inc;
    size_t   ninc;
    regex_t *exc;
    size_t   nexc;
    col_filter_cache_t cache[COL_FILTER_CACHE];
};

/* Compiles the comma-separated list into *out / *n (anchored patterns). */
static sl_err_t compile_list(const char *list, const char *what, regex_t **out, size_t *n,
                             char *errstr, size_t errstr_size)
{
    *out = NULL;
    *n = 0;
    if (!list || !*list)
        return SL_OK;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    regex_t *re = calloc(cap, sizeof(*re));
    char *copy = strdup(list);
    if (!re || !copy) {
        free(re);
        free(copy);
        snprintf(errstr, errstr_size, "%s: out of memory", what);
        return SL_ERR_NOMEM;
    }
    size_t k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = '\0';
        if (!len)
            continue;
        size_t asz = len + 8;
        char *anchored = malloc(asz);
        if (!anchored) {
            snprintf(errstr, errstr_size, "%s: out of memory", what);
            goto fail;
        }
        snprintf(anchored, asz, "^(%s)$", tok);
        int rc = regcomp(&re[k], anchored, REG_EXTENDED | REG_NOSUB);
        free(anchored);
        if (rc) {
            char why[200];
            regerror(rc, &re[k], why, sizeof(why));
            snprintf(errstr, errstr_size, "%s: pattern \"%s\" is not a valid regex: %s",
                     what, tok, why);
            goto fail;
        }
        k++;
    }
    free(copy);
    *out = re;
    *n = k;
    return SL_OK;
fail:
    for (size_t i = 0; i < k; i++)
        regfree(&re[i]);
    free(re);
    free(copy);
    return SL_ERR_INVALID;
}

sl_err_t col_filter_new(col_filter_t **out, const char *include, const char *exclude,
                        char *errstr, size_t errstr_size)
{
    sl_err_t err;
    *out = NULL;
    col_filter_t *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(errstr, errstr_size, "table filter: out of memory");
        return SL_ERR_NOMEM;
    }
    if ((err = compile_list(include, "tables.include", &f->inc, &f->ninc, errstr,
                            errstr_size)) ||
        (err = compile_list(exclude, "tables.exclude", &f->exc, &f->nexc, errstr,
                            errstr_size))) {
        col_filter_destroy(f);
        return err;
    }
    *out = f;
    return SL_OK;
}

static int any_match(const regex_t *re, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (regexec(&re[i], name, 0, NULL, 0) == 0)
            return 1;
    return 0;
}

static unsigned long name_hash(const char *s)
{
    unsigned long h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

int col_filter_match(const col_filter_t *cf, const char *db, const char *table)
{
    col_filter_t *f = (col_filter_t *)cf;     /* the cache is not observable state */
    if (!f->ninc && !f->nexc)
        return 1;
    char stack_name[512];
    char *name = stack_name;
    const char *parts[2] = {db, table};
    size_t need = sl_name_join(parts, 2, stack_name, sizeof(stack_name));
    if (need >= sizeof(stack_name)) {
        if (!(name = malloc(need + 1)))
            return 1;                         /* out of memory: never lose data */
        sl_name_join(parts, 2, name, need + 1);
    }
    col_filter_cache_t *slot = &f->cache[name_hash(name) % COL_FILTER_CACHE];
    int match;
    if (slot->name && !strcmp(slot->name, name)) {
        match = slot->match;
    } else {
        match = (!f->ninc || any_match(f->inc, f->ninc, name)) &&
                !any_match(f->exc, f->nexc, name);
        char *copy = strdup(name);
        if (copy) {
            free(slot->name);
            slot->name = copy;
            slot->match = match;
        }
    }
    if (name != stack_name)
        free(name);
    return match;
}

void col_filter_destroy(col_filter_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->ninc; i++)
        regfree(&f->inc[i]);
    for (size_t i = 0; i < f->nexc; i++)
        regfree(&f->exc[i]);
    free(f->inc);
    free(f->exc);
    for (size_t i = 0; i < COL_FILTER_CACHE; i++)
        free(f->cache[i].name);
    free(f);
}
