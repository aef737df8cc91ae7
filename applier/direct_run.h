/* shiftlog-applier: what the direct task's run files share (direct.c: the
 * run and its coordinator; direct_work.c: a worker's chunk loop;
 * direct_prog.c: the progress text). Not for other modules. */
#ifndef APP_DIRECT_RUN_H
#define APP_DIRECT_RUN_H

#include <pthread.h>

#include "direct.h"

#define APP_DIRECT_MAX_WORKERS 64

/* A progress row of shiftlog_direct (JSON). The task's own row ("task")
 * holds the run: done, run, w, cap, split (and with one worker that
 * worker's key, max and rows too); with worker_num > 1 each worker's row
 * ("task#i") holds run, done, key, max, rows of its key range. */
typedef struct dprog_s {
    int      done;
    int64_t  run;                     /* the run this row belongs to */
    char    *w, *max, *cap;           /* diff watermark read from, largest read, clock cap */
    char    *key[APP_DIRECT_MAX_KEY]; /* the last key read (texts) */
    int      has_key;
    int64_t  rows;                    /* rows written by this run */
    uint32_t nsplit;                  /* worker_num > 1: the key ranges' inner bounds */
    char    *split[APP_DIRECT_MAX_WORKERS];
} dprog_t;

void     app_dprog_clear(dprog_t *p);
/* JSON text (malloc'd; free()). NULL: no memory. */
char    *app_dprog_json(const dprog_t *p, uint32_t nkey);
/* Parses text into *p (cleared first). A key of another length than nkey
 * is SL_ERR_FATAL (split.pk changed mid-copy). */
sl_err_t app_dprog_parse(dprog_t *p, const char *text, uint32_t nkey, const char *task,
                         char *errstr, size_t errstr_size);
void     app_dprog_set(char **dst, const char *v);

/* One reader + one target connection over one key range. */
typedef struct dwork_s {
    const app_target_ops_t *ops;
    app_target_t    *t;
    app_dsrc_t      *src;
    sl_record_t     *rec;
    const app_dtable_t *tab;          /* borrowed (the run's) */
    const app_table_map_t *map;       /* borrowed */
    const char      *name;            /* its progress / position row: task or task#i */
    const char      *w;               /* the run's diff watermark (borrowed), NULL = all */
    const char      *lo, *hi;         /* its range of the first key column (borrowed) */
    int64_t          read_batch;
    int64_t          seq;             /* its last chunk's sequence number */
    dprog_t          prog;            /* its own progress */
    const dprog_t   *run;             /* one worker: the run's fields it writes along */
    int              schema_done;
    sl_metric_t     *m_rows, *m_chunks;
    /* a thread's outcome */
    void            *th_run;          /* direct.c's run (worker threads) */
    pthread_t        th;
    int              started;
    sl_err_t         err;
    char             errstr[1024];
} dwork_t;

/* Opens w->t (conf, progress row w->name) and reads its progress and
 * position; with run >= 0 a row of another run starts afresh. */
sl_err_t app_dwork_open(dwork_t *w, const app_target_conf_t *conf, int64_t run,
                        char *errstr, size_t errstr_size);
/* Reads and writes chunks until its range is done (w->prog.done). */
sl_err_t app_dwork_copy(dwork_t *w, char *errstr, size_t errstr_size);
/* One target transaction: rows (NULL: none) + progress + position. */
sl_err_t app_dwork_write(dwork_t *w, sl_record_t *rows, const char *progress, char *errstr,
                         size_t errstr_size);
void     app_dwork_close(dwork_t *w);

#endif
