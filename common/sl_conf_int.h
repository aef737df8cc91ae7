/* shiftlog: what sl_conf.c and sl_conf_doc.c share (private to them). */
#ifndef SL_CONF_INT_H
#define SL_CONF_INT_H

#include "sl_conf.h"

#define KAFKA_PREFIX "kafka."
#define KAFKA_PREFIX_LEN 6

/* Index of key in table, -1 when absent. */
long sl_conf_find_entry(const sl_conf_entry_t *table, size_t n, const char *key);
/* Length of an ENUM choice's documented name: "disable|disabled" -> 7
 * ("disabled" is read as the same choice, an older spelling). */
int sl_conf_choice_len(const char *c);
/* " (a..b)" text of a range, "" when unbounded. */
void sl_conf_fmt_range(sl_conf_type_t type, int64_t min, int64_t max, char *out, size_t size);

#endif
