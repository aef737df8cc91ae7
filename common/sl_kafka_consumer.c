/* shiftlog: the Kafka consumer wrapper (read_committed, manual offsets).
 * See sl_kafka.h. */
#include "sl_kafka.h"
#include "sl_kafka_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_log.h"

#define SL_KAFKA_CONSUME_BATCH 256

struct sl_kafka_consumer_s {
    rd_kafka_t         *rk;
    rd_kafka_queue_t   *queue;      /* the consumer queue, for batch reads */
    rd_kafka_message_t *cur;        /* the message the last view points into */
    rd_kafka_message_t *batch[SL_KAFKA_CONSUME_BATCH];
    size_t              bn, bi;     /* messages in batch, the next one */
    int                 qtop;       /* queue length when it last grew */
    int                 qlast;      /* queue length at the last batch read */
    int                 has_group;
    char                brokers[256];
    char                last_error[256];
};

static void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason,
                              void *opaque)
{
    sl_kafka_consumer_t *c = opaque;
    snprintf(c->last_error, sizeof(c->last_error), "%s", reason);
    sl_debug("kafka consumer: %s: %s", rd_kafka_err2name(err), reason);
}

static void consumer_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                            const char *buf)
{
    sl_log(level <= 3 ? SL_LOG_ERROR : level <= 5 ? SL_LOG_WARN : SL_LOG_DEBUG,
           "librdkafka %s: %s", fac, buf);
}

/* Fills conf from props with the settings shiftlog forces (shared by _new
 * and _check). Notes the brokers and whether a group was given in c. */
static sl_err_t consumer_conf(sl_kafka_consumer_t *c, const sl_kvlist_t *props,
                              const char *group_id, rd_kafka_conf_t *conf, char *errstr,
                              size_t errstr_size)
{
    sl_err_t err;
    /* A default the user's kafka.* keys override: librdkafka >= 2.1 backs a
     * full partition off for fetch.queue.backoff.ms (1000) before it looks
     * again; 2.0 has no such key (see fetch_wake). queued.min.messages keeps
     * librdkafka's 100000: with fetch_wake, 200000 was no faster and took 60
     * MB more on the one-row-per-message feed. */
    if (rd_kafka_version() >= 0x020100ff &&
        (err = sl_kafka_conf_set(conf, "fetch.queue.backoff.ms", "20", errstr, errstr_size)))
        return err;
    for (size_t i = 0; props && i < props->n; i++) {
        const char *k = props->items[i].key, *v = props->items[i].value;
        if (!strcmp(k, "bootstrap.servers") || !strcmp(k, "metadata.broker.list"))
            snprintf(c->brokers, sizeof(c->brokers), "%s", v);
        if (!strcmp(k, "group.id"))
            c->has_group = 1;
        if ((err = sl_kafka_conf_set(conf, k, v, errstr, errstr_size)))
            return err;
    }
    if (!c->brokers[0]) {
        snprintf(errstr, errstr_size,
                 "kafka consumer: bootstrap.servers is not set");
        return SL_ERR_INVALID;
    }
    if (group_id) {
        if ((err = sl_kafka_conf_set(conf, "group.id", group_id, errstr, errstr_size)))
            return err;
        c->has_group = 1;
    } else if (!c->has_group) {
        /* librdkafka's KafkaConsumer wants a group.id even for assign();
         * nothing is committed under this one (commit is refused). */
        char g[64];
        snprintf(g, sizeof(g), "shiftlog-assign-%ld", (long)getpid());
        if ((err = sl_kafka_conf_set(conf, "group.id", g, errstr, errstr_size)))
            return err;
    }
    if ((err = sl_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, errstr_size)) ||
        (err = sl_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size)) ||
        (err = sl_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size)) ||
        (err = sl_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size)))
        return err;
    return SL_OK;
}

sl_err_t sl_kafka_consumer_new(sl_kafka_consumer_t **out,
                               const sl_kvlist_t *props, const char *group_id,
                               int connect_timeout_ms,
                               char *errstr, size_t errstr_size)
{
    sl_err_t err;
    int tmo = connect_timeout_ms > 0 ? connect_timeout_ms : 10000;

    *out = NULL;
    sl_kafka_consumer_t *c = calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!c || !conf) {
        snprintf(errstr, errstr_size, "kafka consumer: out of memory");
        err = SL_ERR_NOMEM;
        goto err;
    }
    if ((err = consumer_conf(c, props, group_id, conf, errstr, errstr_size)))
        goto err;
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    rd_kafka_conf_set_log_cb(conf, consumer_log_cb);
    rd_kafka_conf_set_opaque(conf, c);

    if ((err = sl_kafka_connect(RD_KAFKA_CONSUMER, &conf, "kafka consumer", c->brokers,
                                c->last_error, "check the broker list", tmo, &c->rk,
                                errstr, errstr_size)))
        goto err;
    if (!(c->queue = rd_kafka_queue_get_consumer(c->rk))) {
        snprintf(errstr, errstr_size, "kafka consumer: no consumer queue");
        err = SL_ERR_KAFKA;
        goto err;
    }
    *out = c;
    return SL_OK;
err:
    if (conf)
        rd_kafka_conf_destroy(conf);
    sl_kafka_consumer_destroy(c);
    return err;
}

sl_err_t sl_kafka_consumer_check(const sl_kvlist_t *props, const char *group_id,
                                 char *errstr, size_t errstr_size)
{
    sl_err_t err;
    sl_kafka_consumer_t *c = calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!c || !conf) {
        snprintf(errstr, errstr_size, "kafka consumer: out of memory");
        err = SL_ERR_NOMEM;
    } else if (!(err = consumer_conf(c, props, group_id, conf, errstr, errstr_size))) {
        err = sl_kafka_conf_check(RD_KAFKA_CONSUMER, conf, "kafka consumer", errstr,
                                  errstr_size);
        conf = NULL;
    }
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(c);
    return err;
}

static void batch_drop(sl_kafka_consumer_t *c)
{
    while (c->bi < c->bn)
        rd_kafka_message_destroy(c->batch[c->bi++]);
    c->bi = c->bn = 0;
}

void sl_kafka_consumer_destroy(sl_kafka_consumer_t *c)
{
    if (!c)
        return;
    if (c->cur)
        rd_kafka_message_destroy(c->cur);
    batch_drop(c);
    if (c->queue)
        rd_kafka_queue_destroy(c->queue);
    if (c->rk) {
        rd_kafka_consumer_close(c->rk);
        rd_kafka_destroy(c->rk);
    }
    free(c);
}

rd_kafka_t *sl_kafka_consumer_handle(sl_kafka_consumer_t *c)
{
    return c->rk;
}

sl_err_t sl_kafka_consumer_commit_at(sl_kafka_consumer_t *c, const char *topic, int32_t partition,
                                  int64_t next, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (!l) {
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = next;
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
    if (!e)
        return SL_OK;
    snprintf(errstr, errstr_size, "commit of %s [%d] at %lld: %s", topic, (int)partition,
             (long long)next, rd_kafka_err2str(e));
    return SL_ERR_KAFKA;
}

void sl_kafka_consumer_backlog(sl_kafka_consumer_t *c, const char *topic, int32_t partition,
                               int64_t *next, int64_t *high)
{
    int64_t lo = -1, hi = -1;
    *next = *high = -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (!l)
        return;
    rd_kafka_topic_partition_list_add(l, topic, partition);
    if (!rd_kafka_position(c->rk, l) && l->elems[0].offset >= 0)
        *next = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    if (!rd_kafka_get_watermark_offsets(c->rk, topic, partition, &lo, &hi) && hi >= 0)
        *high = hi;
}

sl_err_t sl_kafka_consumer_assign(sl_kafka_consumer_t *c, const char *topic,
                                  int32_t partition, int64_t offset,
                                  int timeout_ms, int *nassigned,
                                  char *errstr, size_t errstr_size)
{
    int count = 0;
    sl_err_t err = sl_kafka_partition_count(c->rk, topic, timeout_ms, &count,
                                            errstr, errstr_size);
    if (err)
        return err;
    if (partition >= count) {
        snprintf(errstr, errstr_size,
                 "topic \"%s\" has %d partition(s), no partition %d", topic,
                 count, (int)partition);
        return SL_ERR_NOT_FOUND;
    }
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(partition < 0 ? count : 1);
    for (int32_t i = 0; i < count; i++) {
        if (partition >= 0 && i != partition)
            continue;
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = offset;
    }
    batch_drop(c);                  /* taken before the new assignment */
    rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, l);
    int n = l->cnt;
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(errstr, errstr_size, "topic \"%s\": assign failed: %s",
                 topic, rd_kafka_err2str(e));
        return SL_ERR_KAFKA;
    }
    if (nassigned)
        *nassigned = n;
    return SL_OK;
}

sl_err_t sl_kafka_consumer_subscribe(sl_kafka_consumer_t *c,
                                     const char *const *topics, size_t ntopics,
                                     char *errstr, size_t errstr_size)
{
    if (!c->has_group) {
        snprintf(errstr, errstr_size,
                 "kafka consumer: subscribe needs a group id");
        return SL_ERR_INVALID;
    }
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    batch_drop(c);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(errstr, errstr_size, "kafka consumer: subscribe failed: %s",
                 rd_kafka_err2str(e));
        return SL_ERR_KAFKA;
    }
    return SL_OK;
}

/* Wakes the fetcher of a queue that drained without being refilled.
 *
 * librdkafka stops fetching a partition while its queue holds
 * queued.min.messages (or queued.max.messages.kbytes) and its broker thread
 * only looks again when it wakes up: an op, socket IO, or a fixed 1 s timer
 * (2.0; fetch.queue.backoff.ms in 2.1+). An applier that drains 100000-200000
 * queued messages in half a second then waits for the rest of that second:
 * measured on the one-row-per-message feed, the main thread waited 1.5 s of
 * 4.1 s on an empty queue, in stalls of 0.2-0.4 s once a second.
 *
 * So when the queue has halved since it last grew (a fetch would have grown
 * it), ask every assigned partition's leader for its latest offset:
 * rd_kafka_offsets_for_times with timeout 0 queues a ListOffsets request on
 * each leader's broker thread, which wakes it, and returns without waiting
 * (the reply is dropped). The woken thread sees the queue below its threshold
 * and fetches. A queue that never held SL_KAFKA_WAKE_MIN messages (a consumer
 * that keeps up) never sends one; the figure is low because the kbytes limit
 * may stop a queue of large messages at a few hundred. */
#define SL_KAFKA_WAKE_MIN 64

static void fetch_wake(sl_kafka_consumer_t *c)
{
    size_t q = rd_kafka_queue_length(c->queue);
    int len = q > INT32_MAX ? INT32_MAX : (int)q;
    if (len > c->qlast)
        c->qtop = len;
    c->qlast = len;
    if (c->qtop < SL_KAFKA_WAKE_MIN || len > c->qtop / 2)
        return;
    sl_debug("kafka consumer: queue down to %d messages from %d without a fetch: "
             "waking the fetcher", len, c->qtop);
    c->qtop = len;
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) || !l)
        return;
    for (int i = 0; i < l->cnt; i++)
        l->elems[i].offset = RD_KAFKA_OFFSET_END;   /* the timestamp: latest */
    if (l->cnt > 0)
        rd_kafka_offsets_for_times(c->rk, l, 0);   /* RD_KAFKA_RESP_ERR__TIMED_OUT */
    rd_kafka_topic_partition_list_destroy(l);
}

sl_err_t sl_kafka_consume(sl_kafka_consumer_t *c, int timeout_ms,
                          sl_kafka_msg_t *msg, char *errstr, size_t errstr_size)
{
    if (c->cur) {
        rd_kafka_message_destroy(c->cur);
        c->cur = NULL;
    }
    memset(msg, 0, sizeof(*msg));
    rd_kafka_message_t *m;
    if (c->bi == c->bn) {
        /* what is queued now, without waiting: a batch read with a timeout
         * waits for a full batch (measured: p50 latency 9 -> 52 ms at 5k/s) */
        fetch_wake(c);
        ssize_t n = rd_kafka_consume_batch_queue(c->queue, 0, c->batch,
                                                 SL_KAFKA_CONSUME_BATCH);
        c->bi = 0;
        c->bn = n > 0 ? (size_t)n : 0;
    }
    if (c->bi < c->bn)
        m = c->batch[c->bi++];
    else if (!(m = rd_kafka_consumer_poll(c->rk, timeout_ms)))  /* wait for the next one */
        return SL_ERR_TIMEOUT;
    c->cur = m;
    msg->topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    msg->partition = m->partition;
    msg->offset = m->offset;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        msg->eof = 1;
        return SL_OK;
    }
    if (m->err) {
        char buf[256];
        int fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
        if (fatal)
            rd_kafka_fatal_error(c->rk, buf, sizeof(buf));
        snprintf(errstr, errstr_size,
                 "kafka: consume error on topic \"%s\" partition %d offset "
                 "%lld: %s", msg->topic, (int)m->partition,
                 (long long)m->offset,
                 fatal ? buf : rd_kafka_message_errstr(m));
        return fatal ? SL_ERR_FATAL : SL_ERR_KAFKA;
    }
    msg->rkm = m;
    msg->key = m->key;
    msg->key_len = m->key_len;
    msg->value = m->payload;
    msg->value_len = m->len;
    rd_kafka_timestamp_type_t tt;
    msg->timestamp_ms = rd_kafka_message_timestamp(m, &tt);
    return SL_OK;
}

sl_err_t sl_kafka_msg_header(const sl_kafka_msg_t *msg, size_t idx,
                             const char **name, const void **value,
                             size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    if (!msg->rkm || rd_kafka_message_headers(msg->rkm, &h) || !h ||
        rd_kafka_header_get_all(h, idx, name, value, len))
        return SL_ERR_NOT_FOUND;
    return SL_OK;
}

sl_err_t sl_kafka_consumer_store_offset(sl_kafka_consumer_t *c,
                                        const sl_kafka_msg_t *msg,
                                        char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, msg->topic, msg->partition)->offset =
        msg->offset + 1;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(c->rk, l);
    if (!e && l->elems[0].err)
        e = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(errstr, errstr_size,
                 "kafka: cannot store offset %lld of topic \"%s\" partition "
                 "%d: %s", (long long)msg->offset + 1, msg->topic,
                 (int)msg->partition, rd_kafka_err2str(e));
        return SL_ERR_KAFKA;
    }
    return SL_OK;
}

sl_err_t sl_kafka_consumer_commit(sl_kafka_consumer_t *c, char *errstr,
                                  size_t errstr_size)
{
    if (!c->has_group) {
        snprintf(errstr, errstr_size,
                 "kafka consumer: commit needs a group id");
        return SL_ERR_STATE;
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        snprintf(errstr, errstr_size, "kafka: offset commit failed: %s",
                 rd_kafka_err2str(e));
        return SL_ERR_KAFKA;
    }
    return SL_OK;
}
