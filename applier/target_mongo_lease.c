/* shiftlog-applier: the MongoDB target's lease (target.h, one active copy
 * per task). MongoDB has no session lock that dies with its connection, so
 * the lease is a document in the position collection,
 *   {_id: "lease:<task>", holder, epoch, expires}
 * with an expiry (common/sl_mongo_lease.h: taken when expired or held by
 * this copy, epoch raised; renewed by its holder every lease.ttl.ms / 3, the
 * core's lease checks). A holder that dies stops renewing and a standby
 * takes over once `expires` is past.
 * On a takeover the task's position documents ("<task>", "<task>#i") get
 * the new epoch, so that a position write of the copy before stores
 * nothing any more (target_mongo.c fences it on the epoch). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_mongo_lease.h"
#include "target_mongo.h"

struct app_lease_s {
    mg_target_t      *t;       /* a connection of its own (the target's settings) */
    char              what[320];
    sl_mongo_lease_t  ml;
};

void app_mg_lease_drop(app_lease_t *l)
{
    if (!l)
        return;
    /* given up on purpose (stop, fenced): a standby need not wait for the expiry */
    sl_mongo_lease_release(&l->ml);
    if (l->t)
        app_target_mongo.close(&l->t->base);
    free(l);
}

/* Every position document of the task gets the lease's epoch (never lowered). */
static sl_err_t stamp_positions(app_lease_t *l, const char *task, char *errstr, size_t sz)
{
    bson_t *sel = bson_new(), in, arr;
    bson_append_document_begin(sel, "_id.task", -1, &in);
    bson_append_array_begin(&in, "$in", -1, &arr);
    char name[300], k[16];
    for (int i = -1; i < 64; i++) {
        if (i < 0)
            snprintf(name, sizeof name, "%s", task);
        else
            snprintf(name, sizeof name, "%s#%d", task, i);
        snprintf(k, sizeof k, "%d", i + 1);
        BSON_APPEND_UTF8(&arr, k, name);
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(sel, &in);
    sl_err_t e = sl_mongo_lease_stamp(&l->ml, l->t->ko, sel, errstr, sz);
    bson_destroy(sel);
    return e;
}

sl_err_t app_mg_lease_take(app_lease_t **out, const app_target_conf_t *c, int64_t *epoch,
                           char *errstr, size_t sz)
{
    const char *task = c->lease_task ? c->lease_task : c->task;
    char id[300];
    sl_err_t e;
    *out = NULL;
    app_lease_t *l = calloc(1, sizeof(*l));
    if (!l)
        return SL_ERR_NOMEM;
    app_target_t *at = NULL;
    e = app_target_mongo.open(&at, c, errstr, sz);
    l->t = (mg_target_t *)at;
    if (e)
        goto fail;
    snprintf(l->what, sizeof l->what, "task %s", task);
    snprintf(id, sizeof id, "lease:%s", task);
    sl_mongo_lease_init(&l->ml, l->t->ko, id, l->what,
                        c->lease_ttl_ms > 0 ? c->lease_ttl_ms : 10000, NULL);
    if ((e = sl_mongo_lease_take(&l->ml, errstr, sz)))
        goto fail;
    if ((e = stamp_positions(l, task, errstr, sz)))
        goto fail;
    *epoch = l->ml.epoch;
    *out = l;
    return SL_OK;
fail:
    app_mg_lease_drop(l);
    return e;
}

sl_err_t app_mg_lease_check(app_lease_t *l, char *errstr, size_t sz)
{
    return sl_mongo_lease_check(&l->ml, errstr, sz);
}
