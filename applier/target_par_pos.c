/* shiftlog-applier, worker_num > 1: where the workers start (target_par.c
 * has the rest). Each worker w stores its own kafkaoffset row "<task>#w";
 * the task starts at the lowest of them, and a worker skips what it
 * committed after that. The rows of another worker_num layout (the single
 * row "<task>", or rows of more workers) are taken over only when they
 * agree, then retired (sub_offset APP_SUB_RETIRED). */
#include <stdio.h>
#include <string.h>

#include "sl_log.h"
#include "target_par.h"

/* ------------------------------------------------- positions, layouts */

/* The kafkaoffset row of `task`, on a connection of its own: found != NULL
 * reads it into pos (*found = 0 when there is none); found == NULL writes
 * pos (an empty target transaction). */
static sl_err_t row_io(const app_target_ops_t *in, const app_target_conf_t *conf,
                       const char *task, const char *topic, int32_t partition,
                       app_position_t *pos, int *found, char *errstr, size_t errstr_size)
{
    app_target_conf_t c = *conf;
    app_target_t *t;
    c.task = task;
    sl_err_t err = in->open(&t, &c, errstr, errstr_size);
    if (err)
        return err;
    if (found) {
        err = in->load_position(t, topic, partition, pos, errstr, errstr_size);
        *found = err == SL_OK;
        if (err == SL_ERR_NOT_FOUND)
            err = SL_OK;
    } else if (!(err = in->begin(t, errstr, errstr_size))) {
        err = in->commit(t, pos, errstr, errstr_size);
    }
    in->close(t);
    return err;
}

static int same_pos(const app_position_t *a, const app_position_t *b)
{
    return a->kafka_offset == b->kafka_offset && a->sub_offset == b->sub_offset;
}

/* The rows "<task>#k" for k >= from, up to the first missing one; retired
 * rows are skipped. Up to max of them into rows[] (their k in ks[]). */
static sl_err_t layout_rows(const app_target_ops_t *in, const app_target_conf_t *conf,
                            const char *topic, int32_t partition, int from, app_position_t *rows,
                            int *ks, int max, int *n, char *errstr, size_t errstr_size)
{
    *n = 0;
    for (int k = from; k < 1024 && *n < max; k++) {
        char task[300];
        app_position_t row;
        int found;
        snprintf(task, sizeof(task), "%s#%d", conf->task, k);
        sl_err_t err = row_io(in, conf, task, topic, partition, &row, &found, errstr,
                              errstr_size);
        if (err)
            return err;
        if (!found)
            break;
        if (row.sub_offset == APP_SUB_RETIRED)
            continue;
        rows[*n] = row;
        ks[(*n)++] = k;
    }
    return SL_OK;
}

static sl_err_t layout_mismatch(const char *task, const app_position_t *rows, const int *ks,
                                int n, char *errstr, size_t errstr_size)
{
    int len = snprintf(errstr, errstr_size, "task %s: worker_num changed, and the run before "
                       "stopped with its workers at different positions (", task);
    for (int i = 0; i < n && len > 0 && (size_t)len < errstr_size; i++)
        len += snprintf(errstr + len, errstr_size - (size_t)len, "%s%s#%d at offset %lld",
                        i ? ", " : "", task, ks[i], (long long)rows[i].kafka_offset);
    if (len > 0 && (size_t)len < errstr_size)
        snprintf(errstr + len, errstr_size - (size_t)len, "): start it once more with its "
                 "worker_num (%d) until it has caught up, so that they agree, then change "
                 "worker_num", ks[n - 1] + 1);
    return SL_ERR_FATAL;
}

sl_err_t app_par_adopt(const app_target_ops_t *in, const app_target_conf_t *conf,
                       const char *topic, int32_t partition, app_position_t *pos,
                       char *errstr, size_t errstr_size)
{
    app_position_t rows[64];
    int ks[64], n;
    sl_err_t err = layout_rows(in, conf, topic, partition, 0, rows, ks, 64, &n, errstr,
                               errstr_size);
    if (err)
        return err;
    if (n == 0)
        return SL_ERR_NOT_FOUND;
    for (int i = 1; i < n; i++)
        if (!same_pos(&rows[i], &rows[0]))
            return layout_mismatch(conf->task, rows, ks, n, errstr, errstr_size);
    if (rows[0].kafka_offset < 0)
        return SL_ERR_NOT_FOUND;      /* they applied nothing */
    if ((err = row_io(in, conf, conf->task, topic, partition, &rows[0], NULL, errstr,
                      errstr_size)))
        return err;
    sl_info("task %s: the workers of the run before (worker_num %d) agree on offset %lld: "
            "going on from there with one writer", conf->task, ks[n - 1] + 1,
            (long long)rows[0].kafka_offset);
    *pos = rows[0];
    return SL_OK;
}

/* Stores pos as worker w's row on its own connection (drained). */
static sl_err_t worker_store(par_target_t *p, worker_t *w, const app_position_t *pos,
                             char *errstr, size_t errstr_size)
{
    sl_err_t err = app_par_worker_begin(w);
    if (!err)
        err = p->inner->commit(w->t, pos, w->errstr, sizeof(w->errstr));
    w->open = 0;
    if (err) {
        snprintf(errstr, errstr_size, "%s", w->errstr);
        return err;
    }
    w->stored = w->last = *pos;
    w->has_stored = w->has_last = 1;
    return SL_OK;
}

/* The lowest stored position of the workers: everything before it is
 * durable on every worker; a worker skips what it committed after it.
 *
 * worker_num may change between runs. The single row "<task>" of a run with
 * one writer is retired (sub_offset APP_SUB_RETIRED) once every worker's
 * row holds its position; rows "<task>#k" of a run with more workers are
 * retired the same way. A layout change after a run that stopped with its
 * workers at different positions is refused (SL_ERR_FATAL): the routing
 * that made those positions exact is another one now. */
sl_err_t app_par_load_position(app_target_t *at, const char *topic, int32_t partition,
                                app_position_t *pos, char *errstr, size_t errstr_size)
{
    par_target_t *p = (par_target_t *)at;
    const app_target_ops_t *in = p->inner;
    app_position_t plain, rows[64];
    int has_plain, ks[64], nrows = 0, have = 0;
    sl_err_t err;
    app_par_drain(p, NULL);
    if ((err = row_io(in, &p->conf, p->conf.task, topic, partition, &plain, &has_plain,
                      errstr, errstr_size)))
        return err;
    for (int i = 0; i < p->n; i++) {
        worker_t *w = &p->w[i];
        w->has_stored = w->has_last = 0;
        err = in->load_position(w->t, topic, partition, &w->stored, errstr, errstr_size);
        if (err && err != SL_ERR_NOT_FOUND)
            return err;
        w->has_stored = !err && w->stored.sub_offset != APP_SUB_RETIRED;
        w->last = w->stored;
        w->has_last = w->has_stored;
        have += w->has_stored;
    }
    if ((err = layout_rows(in, &p->conf, topic, partition, p->n, rows, ks, 64, &nrows,
                           errstr, errstr_size)))
        return err;

    app_position_t start;
    int adopt = 0;
    if (has_plain && plain.sub_offset != APP_SUB_RETIRED) {
        /* the run before had one writer (or this is the first parallel
         * start): its row is where every worker starts */
        start = plain;
        adopt = 1;
    } else if (nrows || (have && have < p->n)) {
        /* the run before had more (or fewer) workers: they must agree */
        app_position_t all[128];
        int allk[128], n = 0;
        for (int i = 0; i < p->n; i++)
            if (p->w[i].has_stored) {
                all[n] = p->w[i].stored;
                allk[n++] = i;
            }
        for (int i = 0; i < nrows; i++) {
            all[n] = rows[i];
            allk[n++] = ks[i];
        }
        for (int i = 1; i < n; i++)
            if (!same_pos(&all[i], &all[0]))
                return layout_mismatch(p->conf.task, all, allk, n, errstr, errstr_size);
        start = all[0];
        adopt = 1;
    } else if (!have && has_plain) {
        start = plain;               /* retired, and no worker row: take it as it is */
        start.sub_offset = -1;
        adopt = 1;
    } else if (!have) {
        /* the task's first start: every worker's row says "nothing applied"
         * (kafka_offset -1), so that a row missing later means another
         * layout, never a first life killed before its first commit */
        memset(&start, 0, sizeof(start));
        snprintf(start.topic, sizeof(start.topic), "%s", topic);
        start.partition = partition;
        start.kafka_offset = start.sub_offset = -1;
        adopt = 1;
    }
    if (adopt) {
        for (int i = 0; i < p->n; i++)
            if ((!p->w[i].has_stored || !same_pos(&p->w[i].stored, &start)) &&
                (err = worker_store(p, &p->w[i], &start, errstr, errstr_size)))
                return err;
        app_position_t retired = start;
        retired.sub_offset = APP_SUB_RETIRED;
        for (int i = 0; i < nrows; i++) {
            char task[300];
            snprintf(task, sizeof(task), "%s#%d", p->conf.task, ks[i]);
            if ((err = row_io(in, &p->conf, task, topic, partition, &retired, NULL, errstr,
                              errstr_size)))
                return err;
        }
        if (has_plain && plain.sub_offset != APP_SUB_RETIRED &&
            (err = row_io(in, &p->conf, p->conf.task, topic, partition, &retired, NULL, errstr,
                          errstr_size)))
            return err;
        if (start.kafka_offset >= 0)
            sl_info("task %s: worker_num %d starts its workers at offset %lld (where the run "
                    "before stood)", p->conf.task, p->n, (long long)start.kafka_offset);
    }
    int lo = -1;
    for (int i = 0; i < p->n; i++) {
        if (!p->w[i].has_stored)
            return SL_ERR_NOT_FOUND;
        if (lo < 0 || p->w[i].stored.kafka_offset < p->w[lo].stored.kafka_offset)
            lo = i;
    }
    if (p->w[lo].stored.kafka_offset < 0)
        return SL_ERR_NOT_FOUND;    /* a worker has applied nothing yet */
    *pos = p->w[lo].stored;
    return SL_OK;
}
