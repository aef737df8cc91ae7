/* shiftlog: an ordered list of string key/value pairs (librdkafka
 * passthrough properties, HTTP labels, ...). The list owns copies of its
 * keys and values; free with sl_kvlist_free. */
#ifndef SL_KV_H
#define SL_KV_H

#include <stddef.h>
#include "sl_err.h"

typedef struct sl_kv_s {
    char *key;
    char *value;
} sl_kv_t;

typedef struct sl_kvlist_s {
    sl_kv_t *items;
    size_t   n;
    size_t   cap;
} sl_kvlist_t;

#define SL_KVLIST_INIT {NULL, 0, 0}

/* Sets key to value, replacing an existing entry of the same key. */
sl_err_t    sl_kvlist_set(sl_kvlist_t *l, const char *key, const char *value);
/* Borrowed pointer valid until the list changes; NULL when absent. */
const char *sl_kvlist_get(const sl_kvlist_t *l, const char *key);
void        sl_kvlist_free(sl_kvlist_t *l);

#endif
