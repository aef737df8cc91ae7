/* shiftlog: process-wide libmongoc setup for the programs that link libmongoc
 * (applier, miner, the shiftlog CLI). */
#ifndef SL_MONGOC_H
#define SL_MONGOC_H

/* Call first thing in main():
 *  - Removes this process's libmongoc performance-counter file
 *    (/dev/shm/mongoc-<pid>). libmongoc's automatic init creates it before
 *    main() runs and removes it at a clean exit; a process killed with -9
 *    leaves it, and a later process given the same pid (pid_max is 32768 on
 *    many boxes) finds it, falls back to malloc and prints a plain-text
 *    warning on stderr before main() (which broke --log-format json). The
 *    counters keep working on the unlinked mapping; shiftlog never reads them.
 *  - Routes libmongoc's own log lines (warnings and errors) through sl_log, so
 *    they carry the service's format (text or JSON) and task. */
void sl_mongoc_setup(void);

#include <bson/bson.h>

/* 1 when a failed command's error is a refusal for good that retrying
 * cannot cure: authentication failed (server code 18, or libmongoc's
 * client-side authentication error), or not authorized (code 13). The
 * caller exits SL_EXIT_DENIED then, instead of retrying a wrong password. */
int sl_mongoc_denied(const bson_error_t *err);

#endif
