/* shiftlog-applier: a direct task's progress text (direct_run.h) — JSON
 * through libbson, key values hex-encoded (a key may hold any byte). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "direct_run.h"

void app_dprog_set(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? strdup(v) : NULL;
}

void app_dprog_clear(dprog_t *p)
{
    app_dprog_set(&p->w, NULL);
    app_dprog_set(&p->max, NULL);
    app_dprog_set(&p->cap, NULL);
    for (int i = 0; i < APP_DIRECT_MAX_KEY; i++)
        app_dprog_set(&p->key[i], NULL);
    for (int i = 0; i < APP_DIRECT_MAX_WORKERS; i++)
        app_dprog_set(&p->split[i], NULL);
    p->has_key = p->done = 0;
    p->nsplit = 0;
    p->rows = 0;
    p->run = 0;
}

static void put_hex(bson_t *b, const char *k, const char *v)
{
    static const char hx[] = "0123456789abcdef";
    size_t n = strlen(v);
    char *h = malloc(2 * n + 1);
    if (!h)
        return;
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = hx[(unsigned char)v[i] >> 4];
        h[2 * i + 1] = hx[(unsigned char)v[i] & 15];
    }
    h[2 * n] = '\0';
    BSON_APPEND_UTF8(b, k, h);
    free(h);
}

static char *unhex(const char *h)
{
    size_t n = strlen(h) / 2;
    char *v = malloc(n + 1);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned x = 0;
        sscanf(h + 2 * i, "%2x", &x);
        v[i] = (char)x;
    }
    v[n] = '\0';
    return v;
}

static void put_opt(bson_t *b, const char *k, const char *v)
{
    if (v)
        BSON_APPEND_UTF8(b, k, v);
    else
        BSON_APPEND_NULL(b, k);
}

static void put_array(bson_t *b, const char *name, char *const *v, uint32_t n, int hex)
{
    bson_t arr;
    char k[16];
    BSON_APPEND_ARRAY_BEGIN(b, name, &arr);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "%u", i);
        if (hex)
            put_hex(&arr, k, v[i] ? v[i] : "");
        else
            BSON_APPEND_UTF8(&arr, k, v[i] ? v[i] : "");
    }
    bson_append_array_end(b, &arr);
}

char *app_dprog_json(const dprog_t *p, uint32_t nkey)
{
    bson_t b = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&b, "done", p->done);
    BSON_APPEND_INT64(&b, "run", p->run);
    put_opt(&b, "w", p->w);
    put_opt(&b, "max", p->max);
    put_opt(&b, "cap", p->cap);
    if (p->has_key)
        put_array(&b, "key", p->key, nkey, 1);
    if (p->nsplit)
        put_array(&b, "split", p->split, p->nsplit, 0);
    BSON_APPEND_INT64(&b, "rows", p->rows);
    char *j = bson_as_relaxed_extended_json(&b, NULL), *out = j ? strdup(j) : NULL;
    bson_free(j);
    bson_destroy(&b);
    return out;
}

static const char *opt_utf8(const bson_t *b, const char *k)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, b, k) && BSON_ITER_HOLDS_UTF8(&it)
           ? bson_iter_utf8(&it, NULL) : NULL;
}

/* The texts of array `name` into v (at most max); the count. */
static uint32_t get_array(const bson_t *b, const char *name, char **v, uint32_t max, int hex)
{
    bson_iter_t it, ai;
    uint32_t i = 0;
    if (bson_iter_init_find(&it, b, name) && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &ai))
        while (bson_iter_next(&ai) && i < max)
            if (BSON_ITER_HOLDS_UTF8(&ai)) {
                const char *s = bson_iter_utf8(&ai, NULL);
                v[i++] = hex ? unhex(s) : strdup(s);
            }
    return i;
}

sl_err_t app_dprog_parse(dprog_t *p, const char *text, uint32_t nkey, const char *task,
                         char *errstr, size_t sz)
{
    bson_t b;
    bson_error_t e;
    bson_iter_t it;
    app_dprog_clear(p);
    if (!bson_init_from_json(&b, text, -1, &e)) {
        snprintf(errstr, sz, "direct task %s: its progress in %s is not JSON (%s)", task,
                 APP_DIRECT_TABLE, e.message);
        return SL_ERR_FATAL;
    }
    p->done = bson_iter_init_find(&it, &b, "done") && bson_iter_as_bool(&it);
    p->run = bson_iter_init_find(&it, &b, "run") ? bson_iter_as_int64(&it) : 0;
    app_dprog_set(&p->w, opt_utf8(&b, "w"));
    app_dprog_set(&p->max, opt_utf8(&b, "max"));
    app_dprog_set(&p->cap, opt_utf8(&b, "cap"));
    p->rows = bson_iter_init_find(&it, &b, "rows") ? bson_iter_as_int64(&it) : 0;
    uint32_t i = get_array(&b, "key", p->key, APP_DIRECT_MAX_KEY, 1);
    p->nsplit = get_array(&b, "split", p->split, APP_DIRECT_MAX_WORKERS - 1, 0);
    bson_destroy(&b);
    p->has_key = i && i == nkey;
    if (i && i != nkey) {
        snprintf(errstr, sz, "direct task %s: its progress holds a key of %u columns, the "
                 "table's keyset has %u (split.pk changed mid-copy: delete its rows in %s to "
                 "start over)", task, i, nkey, APP_DIRECT_TABLE);
        return SL_ERR_FATAL;
    }
    return SL_OK;
}
