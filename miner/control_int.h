/* shiftlog-miner: what control.c (table states, requests) and catchup.c
 * (the catch-up thread of a resumed table) share: the table and control
 * state. Private to those two files; what the catch-up thread and the main
 * loop both touch is read and written under ctl->mu. */
#ifndef MINE_CONTROL_INT_H
#define MINE_CONTROL_INT_H

#include <pthread.h>

#include "control.h"

#define TBUCKETS 256

typedef struct mtable_s {
    char         *name;
    mine_tstate_t state;
    int64_t       stop_offset;
    sl_pos_t      stop_pos;
    int64_t       stop_time_ms;
    int64_t       catchup_next;     /* next offset the catch-up reads */
    int64_t       handoff;          /* -1 until the catch-up hands over */
    uint64_t      mined, skipped;
    sl_pos_t      last_pos;
    int64_t       last_time_us;
    int           has_gap;
    int64_t       gap_from, gap_to;
    sl_pos_t      gap_after;
    int           dirty;
    const mine_schema_t *schema;    /* latest */
    int           schema_dirty;
    sl_metric_t  *m_rows, *m_skipped, *m_stopped;
    /* catch-up thread */
    pthread_t     th;
    int           th_running;
    volatile int  th_stop;
    mine_ctl_t   *ctl;
    struct mtable_s *next;          /* bucket chain */
    struct mtable_s *next_all;
} mtable_t;

struct mine_ctl_s {
    mine_ctl_conf_t  conf;
    pthread_mutex_t  mu;
    mtable_t        *bucket[TBUCKETS];
    mtable_t        *all;
    int              ncatchup;      /* tables in CATCHUP (main thread's view) */
    int64_t          main_next;     /* next offset main decides (under mu) */
    sl_pos_t         main_pos;
    mongoc_client_t *client;        /* main thread's */
    mine_schema_t   *schemas;       /* every version (owned) */
    int              failed;
    char             fail[2048];
    sl_metric_t     *m_stopped_tables, *m_gaps;
};

/* Fails the whole control for table t's reason (the first failure wins;
 * the miner stops with it). Any thread. */
void mine_ctl_table_fail(mtable_t *t, const char *msg);

/* catchup.c: starts the catch-up thread of t (resumed at t->catchup_next):
 * 0, or -1 when the thread could not be created. */
int  mine_catchup_start(mtable_t *t);
/* Stops it (if running) and waits for it. Main thread, without ctl->mu. */
void mine_catchup_stop(mtable_t *t);

#endif
