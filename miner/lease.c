/* shiftlog-miner: one active miner per source log (DESIGN invariant 8).
 *
 * Who mines: the Kafka group lease (common/sl_kafka_lease.h, group
 * shiftlog-lease-miner-<source> on <prefix>._leases); the other copies wait
 * as hot standbys. The group lease is no fence by itself: a holder paused
 * past lease.ttl.ms (SIGSTOP, a VM freeze, a long GC-like stall of the host)
 * goes on from where it was and learns of the loss only at its next
 * heartbeat, after it may already have read and written a batch.
 *
 * What a stale copy may write: nothing. Once it holds the group lease a copy
 * takes an epoch in the log's MongoDB database (common/sl_mongo_lease.h: the
 * document {_id: "lease", holder, epoch} of <collection>__control, raised by
 * one at every takeover) and stamps every control document with it, before
 * it reads the progress document. Then
 *   - every control write (progress, table states, catch-up points, schemas)
 *     is fenced on the epoch (store.c: mine_store_upsert_set), and
 *   - before each batch is handed to the writers the lease document must
 *     still name this copy's epoch (mine_lease_check): one indexed read per
 *     batch, so a copy that was paused writes no log document of a batch it
 *     read after the takeover.
 * What is left: a copy paused between that check and its inserts writes the
 * documents of that one batch — the same documents at the same `_id`s as the
 * new holder writes (E11000 for whichever comes second) — and its progress
 * write is then fenced. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "miner.h"
#include "sl_kafka_lease.h"
#include "sl_log.h"
#include "sl_mongo_lease.h"

struct mine_lease_s {
    sl_kafka_lease_t    *kl;
    mongoc_collection_t *ctl;         /* the control collection (the main thread's client) */
    sl_mongo_lease_t     ml;
    char                 what[300], source[256];
};

static void lease_lost(void *arg)
{
    (void)arg;
    sl_service_yield();                  /* run() ends after the batch in flight */
}

int mine_lease_acquire(mine_lease_t **out, sl_service_t *svc, const char *source,
                       const char *prefix, const char *bootstrap, int64_t ttl_ms)
{
    char group[400], topic[300], holder[128], host[64] = "?", why[600];
    sl_kvlist_t props = SL_KVLIST_INIT;
    mine_lease_t *l = calloc(1, sizeof(*l));
    *out = l;
    if (!l) {
        sl_error("out of memory");
        return -1;
    }
    snprintf(l->what, sizeof l->what, "source \"%s\"", source);
    snprintf(l->source, sizeof l->source, "%s", source);
    gethostname(host, sizeof host - 1);
    snprintf(group, sizeof group, "shiftlog-lease-miner-%s", source);
    snprintf(topic, sizeof topic, "%s._leases", prefix);
    snprintf(holder, sizeof holder, "%s:%d", host, (int)getpid());
    for (size_t i = 0; i < svc->conf.kafka.n; i++)
        sl_kvlist_set(&props, svc->conf.kafka.items[i].key, svc->conf.kafka.items[i].value);
    if (!sl_kvlist_get(&props, "bootstrap.servers"))
        sl_kvlist_set(&props, "bootstrap.servers", bootstrap);
    sl_kafka_lease_conf_t lc = {.props = &props, .group = group, .topic = topic,
                                .ttl_ms = (int)ttl_ms, .holder = holder,
                                .on_lost = lease_lost};
    int stopped = sl_kafka_lease_open(&l->kl, &lc, svc->http);
    sl_kvlist_free(&props);
    if (stopped)
        return 1;
    snprintf(why, sizeof why, "standby: waiting for the lease of source \"%s\" (%s; another "
             "copy holds it, or the group is assigning it)", source, group);
    if (sl_kafka_lease_wait(l->kl, svc->http, why))
        return 1;
    sl_info("source \"%s\": this copy holds the lease (%s): mining", source, holder);
    return 0;
}

sl_err_t mine_lease_fence(mine_lease_t *l, mine_store_t *st, mongoc_client_t *c, char *errstr,
                          size_t errstr_size)
{
    sl_err_t err;
    l->ctl = mine_store_coll(st, c, st->control_name);
    sl_mongo_lease_init(&l->ml, l->ctl, "lease", l->what, 0, st->wc);
    if ((err = sl_mongo_lease_take(&l->ml, errstr, errstr_size)))
        return err;
    /* the copy before, if it still runs, can write no control document from now on */
    bson_t *all = bson_new();
    err = sl_mongo_lease_stamp(&l->ml, l->ctl, all, errstr, errstr_size);
    bson_destroy(all);
    if (err)
        return err;
    st->epoch = l->ml.epoch;
    sl_info("source \"%s\": fencing epoch %lld in %s.%s (a copy before this one can write "
            "nothing more)", l->source, (long long)l->ml.epoch, st->conf.database,
            st->control_name);
    return SL_OK;
}

sl_err_t mine_lease_check(mine_lease_t *l, char *errstr, size_t errstr_size)
{
    if (!l || !l->ml.epoch)
        return SL_OK;
    return sl_mongo_lease_check(&l->ml, errstr, errstr_size);
}

void mine_lease_stop(mine_lease_t *l)
{
    if (!l)
        return;
    sl_kafka_lease_stop(l->kl);
    if (l->ctl)
        mongoc_collection_destroy(l->ctl);
    free(l);
}
