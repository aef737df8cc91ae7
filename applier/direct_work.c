/* shiftlog-applier: one worker of a direct task (direct_run.h) — a source
 * connection and a target connection over one key range: chunk after
 * chunk, each written in one target transaction with the worker's progress
 * row and its kafkaoffset row (topic "direct", offset = its chunk number),
 * fenced by the task's lease like every position write. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct_run.h"
#include "sl_log.h"

#define DIRECT_TOPIC "direct"

sl_err_t app_dwork_open(dwork_t *w, const app_target_conf_t *conf, int64_t run,
                        char *errstr, size_t sz)
{
    app_position_t pos;
    char *text = NULL;
    sl_err_t err = w->ops->open(&w->t, conf, errstr, sz);
    if (err || (err = w->ops->progress_load(w->t, &text, errstr, sz)))
        return err;
    err = w->ops->load_position(w->t, DIRECT_TOPIC, 0, &pos, errstr, sz);
    w->seq = err == SL_ERR_NOT_FOUND ? 0 : pos.kafka_offset;
    if (err == SL_ERR_NOT_FOUND)
        err = SL_OK;
    if (!err && text)
        err = app_dprog_parse(&w->prog, text, w->tab ? w->tab->nkey : 0, w->name, errstr, sz);
    else
        app_dprog_clear(&w->prog);
    if (!err && run >= 0 && w->prog.run != run) {
        /* a row of an earlier run: this range starts afresh */
        app_dprog_clear(&w->prog);
        w->prog.run = run;
    }
    free(text);
    return err;
}

void app_dwork_close(dwork_t *w)
{
    if (w->t)
        w->ops->close(w->t);
    w->t = NULL;
    app_dsrc_close(w->src);
    w->src = NULL;
    sl_record_destroy(w->rec);
    w->rec = NULL;
    app_dprog_clear(&w->prog);
}

sl_err_t app_dwork_write(dwork_t *w, sl_record_t *rows, const char *progress, char *errstr,
                         size_t sz)
{
    app_position_t pos = {.partition = 0, .kafka_offset = w->seq + 1, .sub_offset = -1};
    snprintf(pos.topic, sizeof pos.topic, "%s", DIRECT_TOPIC);
    sl_err_t err = w->ops->begin(w->t, errstr, sz);
    if (err)
        return err;
    if (!w->schema_done && (err = w->ops->schema(w->t, w->map, w->tab->schema, errstr, sz)))
        goto fail;
    uint32_t n = rows ? rows->u.change.nrows : 0;
    if (n && (err = w->ops->rows(w->t, w->map, rows, 0, n, &pos, errstr, sz)))
        goto fail;
    if ((err = w->ops->progress_save(w->t, progress, errstr, sz)) ||
        (err = w->ops->commit(w->t, &pos, errstr, sz)))
        goto fail;
    w->schema_done = 1;
    w->seq++;
    return SL_OK;
fail:
    {
        char e2[256];
        (void)w->ops->rollback(w->t, e2, sizeof e2);
    }
    return err;
}

/* The worker's progress as JSON: its own fields, plus the run's (w, cap)
 * when it writes the task's row itself (one worker). */
static char *work_json(const dwork_t *w)
{
    dprog_t p = w->prog;
    if (w->run) {
        p.done = 0;     /* the run's end (and next watermark) is the caller's to write */
        p.w = w->run->w;
        p.cap = w->run->cap;
        p.run = w->run->run;
        p.nsplit = 0;
    }
    return app_dprog_json(&p, w->tab->nkey);
}

sl_err_t app_dwork_copy(dwork_t *w, char *errstr, size_t sz)
{
    sl_err_t err = SL_OK;
    char *j;
    while (!w->prog.done) {
        if (sl_service_stopping())
            return SL_ERR_STATE;
        err = app_dsrc_chunk(w->src, w->tab, w->prog.has_key ? w->prog.key : NULL, w->w,
                             w->lo, w->hi, (uint32_t)w->read_batch, w->rec, w->prog.key,
                             &w->prog.max, errstr, sz);
        if (err)
            return err;
        uint32_t n = w->rec->u.change.nrows;
        w->prog.has_key |= n > 0;
        w->prog.rows += n;
        w->prog.done = n < (uint32_t)w->read_batch;
        if (!(j = work_json(w)))
            return SL_ERR_NOMEM;
        err = app_dwork_write(w, n ? w->rec : NULL, j, errstr, sz);
        free(j);
        if (err) {
            w->prog.rows -= n;
            w->prog.done = 0;
            return err;
        }
        sl_metric_add(w->m_rows, n);
        sl_metric_inc(w->m_chunks);
        sl_service_beat();
        if (w->run && w->prog.done)
            break;   /* one worker: the run's end is written by the caller */
    }
    return err;
}
