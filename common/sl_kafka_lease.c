/* shiftlog: one active copy through a Kafka consumer group (see sl_kafka_lease.h). */
#include "sl_kafka_lease.h"
#include "sl_kafka_int.h"
#include "sl_http.h"
#include "sl_log.h"
#include "sl_service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sl_kafka_lease_s {
    rd_kafka_t   *rk;
    pthread_t     thread;
    int           running;        /* the thread was started */
    int           stop;           /* atomic: the thread ends */
    int           held;           /* atomic */
    int           epoch;          /* atomic: assignments received */
    char         *topic;
    char         *group;
    char          holder[128];
    char          last_error[512];
    void        (*on_lost)(void *arg);
    void         *arg;
};

static void lease_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    sl_kafka_lease_t *l = opaque;
    snprintf(l->last_error, sizeof(l->last_error), "%s", reason);
    sl_debug("kafka lease %s: %s: %s", l->group, rd_kafka_err2name(err), reason);
}

static void lease_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    sl_log(level <= 3 ? SL_LOG_ERROR : level <= 5 ? SL_LOG_WARN : SL_LOG_DEBUG,
           "librdkafka %s: %s", fac, buf);
}

/* 1 when parts holds partition 0 of the lease topic. */
static int has_lease(const sl_kafka_lease_t *l, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; parts && i < parts->cnt; i++)
        if (!strcmp(parts->elems[i].topic, l->topic) && parts->elems[i].partition == 0)
            return 1;
    return 0;
}

/* cooperative-sticky: a copy that joins never takes the partition from the
 * holder (an eager assignor may hand it to the newcomer at any rebalance);
 * ASSIGN / REVOKE carry only what changes. */
static void lease_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    sl_kafka_lease_t *l = opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_error_t *e = coop ? rd_kafka_incremental_assign(rk, parts) : NULL;
        if (e)
            rd_kafka_error_destroy(e);
        if (!coop)
            rd_kafka_assign(rk, parts);
        if (has_lease(l, parts) && !__atomic_load_n(&l->held, __ATOMIC_ACQUIRE)) {
            int n = __atomic_add_fetch(&l->epoch, 1, __ATOMIC_ACQ_REL);
            __atomic_store_n(&l->held, 1, __ATOMIC_RELEASE);
            sl_info("lease %s: held by this copy (%s, assignment %d)", l->group, l->holder, n);
        }
        return;
    }
    /* revoked (or lost: the session expired, an error) */
    int mine = has_lease(l, parts) || err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS;
    int lost = rd_kafka_assignment_lost(rk);
    if (coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e)
            rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
    if (mine && __atomic_exchange_n(&l->held, 0, __ATOMIC_ACQ_REL)) {
        if (__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE))
            return;
        sl_warn("lease %s: lost by this copy (%s): %s", l->group, l->holder,
                lost ? "its group session expired" :
                err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? "revoked at a rebalance"
                                                            : rd_kafka_err2str(err));
        if (l->on_lost)
            l->on_lost(l->arg);
    }
}

static void *lease_thread(void *arg)
{
    sl_kafka_lease_t *l = arg;
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(l->rk, 200);
        if (!m)
            continue;
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            sl_debug("lease %s: %s", l->group, rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

sl_err_t sl_kafka_lease_start(sl_kafka_lease_t **out, const sl_kafka_lease_conf_t *c,
                              char *errstr, size_t errstr_size)
{
    sl_err_t err;
    char num[32], hb[32];
    rd_kafka_topic_partition_list_t *sub = NULL;
    *out = NULL;
    sl_kafka_lease_t *l = calloc(1, sizeof(*l));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!l || !conf || !(l->topic = strdup(c->topic)) || !(l->group = strdup(c->group))) {
        snprintf(errstr, errstr_size, "kafka lease: out of memory");
        err = SL_ERR_NOMEM;
        goto err;
    }
    snprintf(l->holder, sizeof(l->holder), "%s", c->holder ? c->holder : "?");
    l->on_lost = c->on_lost;
    l->arg = c->arg;
    const char *brokers = "";
    for (size_t i = 0; c->props && i < c->props->n; i++) {
        const char *k = c->props->items[i].key;
        /* only what reaches the cluster: the client's own tuning is not ours */
        if (strcmp(k, "bootstrap.servers") && strcmp(k, "client.id") &&
            strncmp(k, "security.", 9) && strncmp(k, "ssl.", 4) && strncmp(k, "sasl.", 5) &&
            strncmp(k, "socket.", 7))
            continue;
        if (!strcmp(k, "bootstrap.servers"))
            brokers = c->props->items[i].value;
        if ((err = sl_kafka_conf_set(conf, k, c->props->items[i].value, errstr, errstr_size)))
            goto err;
    }
    int ttl = c->ttl_ms < 6000 ? 6000 : c->ttl_ms;
    snprintf(num, sizeof(num), "%d", ttl);
    snprintf(hb, sizeof(hb), "%d", ttl / 6 < 500 ? 500 : ttl / 6);
    if ((err = sl_kafka_conf_set(conf, "group.id", c->group, errstr, errstr_size)) ||
        (err = sl_kafka_conf_set(conf, "session.timeout.ms", num, errstr, errstr_size)) ||
        (err = sl_kafka_conf_set(conf, "heartbeat.interval.ms", hb, errstr, errstr_size)) ||
        (err = sl_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size)) ||
        (err = sl_kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "10000", errstr,
                                 errstr_size)) ||
        (err = sl_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky",
                                 errstr, errstr_size)))
        goto err;
    rd_kafka_conf_set_error_cb(conf, lease_error_cb);
    rd_kafka_conf_set_log_cb(conf, lease_log_cb);
    rd_kafka_conf_set_rebalance_cb(conf, lease_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, l);
    /* short: a stop request is seen between two tries (sl_kafka_lease_open) */
    if ((err = sl_kafka_connect(RD_KAFKA_CONSUMER, &conf, "kafka lease", brokers, l->last_error,
                                "check the broker list", 1000, &l->rk, errstr, errstr_size)))
        goto err;
    if ((err = sl_kafka_ensure_topic(l->rk, l->topic, 1, -1, NULL, 10000, errstr,
                                     errstr_size)))
        goto err;
    /* a topic just created may not be in the metadata yet: librdkafka would look
     * for it again only at its next periodic refresh (minutes), and no member
     * would be assigned anything until then */
    for (int tries = 0, n = 0;; tries++) {
        err = sl_kafka_partition_count(l->rk, l->topic, 2000, &n, errstr, errstr_size);
        if (!err && n > 0)
            break;
        if (tries >= 20)
            goto err;
        struct timespec ts = {0, 250 * 1000000L};
        nanosleep(&ts, NULL);
    }
    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, l->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(l->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        snprintf(errstr, errstr_size, "kafka lease %s: subscribing to %s: %s", c->group,
                 c->topic, rd_kafka_err2str(e));
        err = SL_ERR_KAFKA;
        goto err;
    }
    if (pthread_create(&l->thread, NULL, lease_thread, l)) {
        snprintf(errstr, errstr_size, "kafka lease: cannot start its thread");
        err = SL_ERR_FATAL;
        goto err;
    }
    l->running = 1;
    *out = l;
    return SL_OK;
err:
    if (conf)
        rd_kafka_conf_destroy(conf);
    sl_kafka_lease_stop(l);
    return err;
}

int sl_kafka_lease_held(const sl_kafka_lease_t *l)
{
    return l && __atomic_load_n(&l->held, __ATOMIC_ACQUIRE);
}

int sl_kafka_lease_epoch(const sl_kafka_lease_t *l)
{
    return l ? __atomic_load_n(&l->epoch, __ATOMIC_ACQUIRE) : 0;
}

void sl_kafka_lease_stop(sl_kafka_lease_t *l)
{
    if (!l)
        return;
    __atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
    if (l->running)
        pthread_join(l->thread, NULL);
    if (l->rk) {
        rd_kafka_consumer_close(l->rk);     /* leaves the group: a standby takes over now */
        rd_kafka_destroy(l->rk);
    }
    free(l->topic);
    free(l->group);
    free(l);
}

int sl_kafka_lease_wait(sl_kafka_lease_t *l, struct sl_http_s *http, const char *why)
{
    if (sl_kafka_lease_held(l))
        return 0;
    sl_http_set_status(http, "standby", why);
    sl_info("%s; waiting to take over", why);
    while (!sl_kafka_lease_held(l)) {
        if (sl_service_wait(200) && !sl_service_yielded())
            return 1;                        /* SIGTERM while waiting */
        sl_service_resume();                 /* a late loss while waiting: nothing ran */
    }
    sl_http_set_status(http, NULL, NULL);
    return 0;
}

int sl_kafka_lease_open(sl_kafka_lease_t **out, const sl_kafka_lease_conf_t *conf,
                        struct sl_http_s *http)
{
    char errstr[1024];
    for (int said = 0;; said++) {
        if (sl_kafka_lease_start(out, conf, errstr, sizeof errstr) == SL_OK)
            break;
        sl_http_set_health(http, 0, errstr);
        if (!said || said % 30 == 0)
            sl_warn("%s; trying again every 2 s", errstr);
        if (sl_service_wait(2000))
            return 1;
    }
    sl_http_set_health(http, 1, NULL);
    return 0;
}
