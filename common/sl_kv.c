/* shiftlog: ordered key/value list. */
#include "sl_kv.h"

#include <stdlib.h>
#include <string.h>

sl_err_t sl_kvlist_set(sl_kvlist_t *l, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return SL_ERR_NOMEM;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->items[i].key, key) == 0) {
            free(l->items[i].value);
            l->items[i].value = v;
            return SL_OK;
        }
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        sl_kv_t *p = realloc(l->items, cap * sizeof(*p));
        if (!p)
            goto nomem;
        l->items = p;
        l->cap = cap;
    }
    char *k = strdup(key);
    if (!k)
        goto nomem;
    l->items[l->n].key = k;
    l->items[l->n].value = v;
    l->n++;
    return SL_OK;
nomem:
    free(v);
    return SL_ERR_NOMEM;
}

const char *sl_kvlist_get(const sl_kvlist_t *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].key, key) == 0)
            return l->items[i].value;
    return NULL;
}

void sl_kvlist_free(sl_kvlist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}
