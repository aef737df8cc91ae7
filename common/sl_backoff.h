/* shiftlog: the wait between retries of something that keeps failing —
 * "double the wait, capped", written once for every service.
 *
 * Usage (the caller waits, so that it can log the wait first):
 *     sl_backoff_t b = SL_BACKOFF_INIT(500, 30000);
 *     for (;;) {
 *         if (try() == OK) break;
 *         int64_t wait = sl_backoff_next(&b);    -- 500, 1000, 2000, ... 30000, 30000
 *         sl_warn("...; retrying in %" PRId64 " ms", wait);
 *         if (sl_service_wait((int)wait)) break;
 *     }
 * sl_backoff_reset() starts again from the minimum (after a success that
 * lasted: a backoff is for failures in a row). Plain data, no allocation;
 * not thread-safe (one owner). */
#ifndef SL_BACKOFF_H
#define SL_BACKOFF_H

#include <stdint.h>

typedef struct sl_backoff_s {
    int64_t min_ms;
    int64_t max_ms;
    int64_t next_ms;     /* what sl_backoff_next returns next */
} sl_backoff_t;

#define SL_BACKOFF_INIT(min_ms, max_ms) {(min_ms), (max_ms), (min_ms)}

/* The wait to use now; the one after doubles, capped at max_ms. */
int64_t sl_backoff_next(sl_backoff_t *b);
/* The next wait is min_ms again. */
void    sl_backoff_reset(sl_backoff_t *b);

#endif
