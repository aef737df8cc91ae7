/* shiftlog: retry waits that double up to a cap (sl_backoff.h). */
#include "sl_backoff.h"

int64_t sl_backoff_next(sl_backoff_t *b)
{
    int64_t wait = b->next_ms;
    b->next_ms = wait > b->max_ms / 2 ? b->max_ms : wait * 2;
    if (wait > b->max_ms)
        wait = b->max_ms;        /* a min above the max: the max */
    return wait;
}

void sl_backoff_reset(sl_backoff_t *b)
{
    b->next_ms = b->min_ms;
}
