/* shiftlog snapshot --wait: what a GET /snapshot answer says about the
 * requests made (snapshot_view.c) — a progress bar per table on a terminal,
 * plain lines otherwise — and when they have ended. */
#ifndef CLI_SNAPSHOT_VIEW_H
#define CLI_SNAPSHOT_VIEW_H

#include <stdio.h>
#include <time.h>

typedef struct cli_snap_view_s {
    int                tty;       /* redraw bars in place; else plain lines */
    const char *const *ids;       /* the requests followed (none: everything queued) */
    int                nids;
    int                drawn;     /* bar lines on the screen */
    time_t             logged;    /* the last plain lines */
    unsigned char      told[64];  /* plain: the end of ids[i] printed */
    FILE              *out;       /* where the lines go: stdout (set after init) */
} cli_snap_view_t;

void cli_snap_view_init(cli_snap_view_t *v, int tty, const char *const *ids, int nids);
/* Shows the answer json: 1 once every request followed has ended done (or,
 * without ids, nothing is queued or waiting), -1 once one of them ended
 * otherwise (refused, gone: printed on stderr), 0 while they run. */
int  cli_snap_view_update(cli_snap_view_t *v, const char *json);
/* Leaves the terminal on a fresh line. */
void cli_snap_view_finish(cli_snap_view_t *v);

/* The value of "id" in a POST /snapshot answer (the caller frees it), or
 * NULL (an older collector). */
char *cli_snap_answer_id(const char *body);

/* For collectors without request ids: tables_done of an answer (-1 when
 * absent), and the old end test (nothing left and, when tables were
 * requested, one more table done than before). */
long cli_snap_tables_done(const char *json);
int  cli_snap_old_done(const char *json, int no_tables, long done0);

#endif
