/* shiftlog-applier: the parallel target's workers (target_par.c) — one
 * thread per inner connection running its queue of jobs (rows, commit,
 * rollback) in order; the coordinator queues (app_par_push) and waits for
 * them (app_par_drain). Shared by target_par.c and target_par_pos.c, which
 * is why it is a file of its own: neither calls the other back. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_log.h"
#include "target_par.h"

sl_err_t app_par_worker_begin(worker_t *w)
{
    if (w->open)
        return SL_OK;
    sl_err_t err = w->p->inner->begin(w->t, w->errstr, sizeof(w->errstr));
    if (!err)
        w->open = 1;
    return err;
}

static void run_job(worker_t *w, job_t *j)
{
    const app_target_ops_t *in = w->p->inner;
    char errstr[1024];
    sl_err_t err = SL_OK;
    switch (j->kind) {
    case J_ROWS:
        if (w->err)
            return;                   /* the transaction is lost already */
        if (!(err = app_par_worker_begin(w)))
            err = in->rows(w->t, j->map, j->rec, j->first, j->n, &j->pos, w->errstr,
                           sizeof(w->errstr));
        break;
    case J_COMMIT:
        if (w->err) {
            if (w->open && in->rollback(w->t, errstr, sizeof(errstr)))
                sl_warn("worker %d: rollback: %s", w->idx, errstr);
            w->open = 0;
            return;
        }
        if (!(err = app_par_worker_begin(w))) {
            err = in->commit(w->t, &j->pos, w->errstr, sizeof(w->errstr));
            w->open = 0;
        }
        break;
    case J_ROLLBACK:
        if (w->open && in->rollback(w->t, errstr, sizeof(errstr)))
            sl_warn("worker %d: rollback: %s", w->idx, errstr);
        w->open = 0;
        break;
    }
    if (err) {
        w->err = err;
        atomic_store_explicit(&w->p->failed, 1, memory_order_release);
    }
}

void *app_par_worker_main(void *arg)
{
    worker_t *w = arg;
    par_target_t *p = w->p;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (w->head == w->tail) {
            w->waiting = 1;
            pthread_cond_wait(&w->cv, &p->lock);
            w->waiting = 0;
        }
        job_t j = w->q[w->head % PAR_QLEN];
        if (j.kind == J_STOP)
            break;
        w->busy = 1;
        pthread_mutex_unlock(&p->lock);
        run_job(w, &j);
        if (j.rec)
            sl_record_reset(j.rec);
        pthread_mutex_lock(&p->lock);
        if (j.rec) {
            if (p->npool < p->cappool)
                p->pool[p->npool++] = j.rec;
            else
                sl_record_destroy(j.rec);
        }
        w->head++;
        w->busy = 0;
        pthread_cond_broadcast(&p->done);
    }
    w->head++;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void app_par_push(par_target_t *p, worker_t *w, const job_t *j)
{
    pthread_mutex_lock(&p->lock);
    while (w->tail - w->head >= PAR_QLEN) {
        pthread_cond_signal(&w->cv);
        pthread_cond_wait(&p->done, &p->lock);
    }
    w->q[w->tail++ % PAR_QLEN] = *j;
    /* rows wake a sleeping worker in batches (one wake-up per message costs
     * more than the message); anything else, and every wait below, at once */
    if (w->waiting && (j->kind != J_ROWS || w->tail - w->head >= PAR_WAKE))
        pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&p->lock);
}

/* Waits until w (every worker when NULL) has run everything queued. */
void app_par_drain(par_target_t *p, worker_t *w)
{
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n; i++) {
        worker_t *x = w ? w : &p->w[i];
        if (x->head != x->tail)
            pthread_cond_signal(&x->cv);
        while (x->head != x->tail)
            pthread_cond_wait(&p->done, &p->lock);
        if (w)
            break;
    }
    pthread_mutex_unlock(&p->lock);
}
