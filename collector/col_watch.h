/* shiftlog-collector: the Kafka stall watchdog, for both readers.
 *
 * While Kafka takes nothing, col_pub_put / col_pub_service / col_pub_close
 * block (backpressure) for up to transaction.timeout.ms, so the reader that
 * called them cannot report anything. A thread of its own watches the calls:
 * one blocked longer than COL_STALL_MS makes /ready answer 503 with the
 * reason (/health stays 200: a restart would not bring Kafka back); the
 * first call that returns successfully turns it 200 again. */
#ifndef COL_WATCH_H
#define COL_WATCH_H

#include "sl_http.h"

#define COL_STALL_MS 5000

typedef struct col_watch_s col_watch_t;

/* Starts the watchdog thread. what names the blocked step in the reason
 * ("reading the binlog", "reading the WAL"). Returns NULL (after a warning)
 * when the thread cannot be started: enter/leave/stop accept NULL. The
 * caller owns the watchdog and ends it with col_watch_stop(). */
col_watch_t *col_watch_start(sl_http_t *http, const char *what);
/* Around every publisher call: enter before, leave after (ok: it succeeded,
 * so Kafka takes records again). */
void         col_watch_enter(col_watch_t *w);
void         col_watch_leave(col_watch_t *w, int ok);
void         col_watch_stop(col_watch_t *w);

#endif
