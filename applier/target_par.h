/* shiftlog-applier, worker_num > 1: the parallel target's insides, shared
 * by target_par.c (workers, routing, commits) and target_par_pos.c (where
 * the workers start). Nothing outside these two files sees it. */
#ifndef APP_TARGET_PAR_H
#define APP_TARGET_PAR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sl_metrics.h"
#include "target.h"

#define PAR_QLEN     64               /* queued rows() per worker */
#define PAR_WAKE     8                /* rows() queued before a sleeping worker is woken */
#define PAR_KEYBITS  (1u << 16)       /* key hash bitmap per worker */
#define PAR_TABBITS  (1u << 10)       /* table hash bitmaps per worker */

enum { J_ROWS, J_COMMIT, J_ROLLBACK, J_STOP };

typedef struct par_target_s par_target_t;

typedef struct job_s {
    int                    kind;
    const app_table_map_t *map;      /* J_ROWS: borrowed (stable until sync) */
    sl_record_t           *rec;      /* J_ROWS: owned, back to the pool after */
    uint32_t               first, n;
    app_position_t         pos;      /* J_ROWS: row `first`; J_COMMIT: stored */
} job_t;

typedef struct worker_s {
    struct par_target_s *p;
    int            idx;
    pthread_t      th;
    int            started;
    app_target_t  *t;                /* the inner target */
    char           task[300];
    pthread_cond_t cv;               /* work queued */
    job_t          q[PAR_QLEN];
    unsigned       head, tail;       /* under p->lock */
    int            busy;             /* a job is running (under p->lock) */
    int            waiting;          /* in pthread_cond_wait (under p->lock) */
    int            open;             /* inner begin() done (worker thread, or drained) */
    sl_err_t       err;              /* first error since the last rollback */
    char           errstr[1024];
    /* coordinator only */
    sl_metric_t   *m_txns;           /* source transactions routed here */
    app_position_t stored;           /* durable: the inner kafkaoffset row */
    int            has_stored;
    app_position_t last;             /* COMMIT of the last transaction routed here */
    int            has_last;
    int            dirty;            /* rows or DDL in the open transaction */
    uint8_t        keys[PAR_KEYBITS / 8];
    uint8_t        tabs[PAR_TABBITS / 8];   /* tables written */
    uint8_t        ddl[PAR_TABBITS / 8];    /* tables with DDL / TRUNCATE */
} worker_t;

struct par_target_s {
    app_target_t            base;    /* first: the common head (target.h) */
    const app_target_ops_t *inner;
    app_target_conf_t       conf;
    int                     n;
    worker_t               *w;
    pthread_mutex_t         lock;
    pthread_cond_t          done;    /* a job finished */
    sl_record_t           **pool;    /* spare records (under lock) */
    int                     npool, cappool;
    int                     cur;     /* worker of the source transaction in progress, -1 */
    atomic_int              failed;  /* a worker has an error (cleared at rollback) */
    sl_metric_t            *m_forced;
    int64_t                 forced, exit_after_forced;   /* fault injection for the tests */
};

/* --- workers (target_par_work.c) */

/* Begins the inner transaction of w when none is open (worker thread, or
 * the coordinator while w is drained); an error is in w->errstr. */
sl_err_t app_par_worker_begin(worker_t *w);
/* Waits until w (every worker when NULL) has run everything queued. */
void     app_par_drain(par_target_t *p, worker_t *w);
/* Queues j for w (waits while w's queue is full). */
void     app_par_push(par_target_t *p, worker_t *w, const job_t *j);
/* A worker's thread (arg: its worker_t). */
void    *app_par_worker_main(void *arg);
/* ops->load_position (target_par_pos.c). */
sl_err_t app_par_load_position(app_target_t *at, const char *topic, int32_t partition,
                               app_position_t *pos, char *errstr, size_t errstr_size);

#endif
