/* shiftlog: Kafka — the durable-position ring, the admin helpers and the
 * client setup both wrappers share (sl_kafka_int.h). The producer is in
 * sl_kafka_producer.c, the consumer in sl_kafka_consumer.c. */
#include "sl_kafka.h"
#include "sl_kafka_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sl_log.h"

/* ------------------------------------------------- durable-position ring */

sl_err_t sl_kafka_posring_init(sl_kafka_posring_t *r, size_t cap, int txn)
{
    memset(r, 0, sizeof(*r));
    if (cap == 0)
        return SL_ERR_INVALID;
    r->pos = calloc(cap, sizeof(*r->pos));
    r->acked = calloc(cap, 1);
    if (!r->pos || !r->acked) {
        sl_kafka_posring_free(r);
        return SL_ERR_NOMEM;
    }
    r->cap = cap;
    r->txn = txn;
    return SL_OK;
}

void sl_kafka_posring_free(sl_kafka_posring_t *r)
{
    free(r->pos);
    free(r->acked);
    r->pos = NULL;
    r->acked = NULL;
    r->cap = 0;
}

size_t sl_kafka_posring_pending(const sl_kafka_posring_t *r)
{
    return (size_t)(r->tail - r->head);
}

int sl_kafka_posring_full(const sl_kafka_posring_t *r)
{
    return sl_kafka_posring_pending(r) >= r->cap;
}

sl_err_t sl_kafka_posring_add(sl_kafka_posring_t *r, const sl_pos_t *pos,
                              uint64_t *seq)
{
    if (sl_kafka_posring_full(r))
        return SL_ERR_STATE;
    if (pos) {
        if (r->has_last && sl_pos_cmp(pos, &r->last) < 0)
            return SL_ERR_INVALID;
        r->last = *pos;
        r->has_last = 1;
    } else if (!r->has_last) {
        /* no position yet: the entry still has to be acknowledged before
         * any later position becomes durable; it carries an empty one. */
        memset(&r->last, 0, sizeof(r->last));
        r->has_last = 1;
    }
    size_t i = (size_t)(r->tail % r->cap);
    r->pos[i] = r->last;
    r->acked[i] = 0;
    *seq = r->tail++;
    return SL_OK;
}

void sl_kafka_posring_ack(sl_kafka_posring_t *r, uint64_t seq)
{
    if (seq < r->head || seq >= r->tail)
        return;                     /* stale (aborted) or unknown */
    r->acked[seq % r->cap] = 1;
    while (r->head < r->tail && r->acked[r->head % r->cap]) {
        size_t i = (size_t)(r->head % r->cap);
        r->head++;
        /* A position is covered only when no pending entry shares it. */
        if (r->head < r->tail &&
            sl_pos_cmp(&r->pos[r->head % r->cap], &r->pos[i]) == 0)
            continue;
        r->acked_upto = r->pos[i];
        r->has_acked = 1;
        if (!r->txn) {
            r->durable = r->pos[i];
            r->has_durable = 1;
        }
    }
}

void sl_kafka_posring_commit(sl_kafka_posring_t *r)
{
    r->head = r->tail;
    if (r->has_last) {
        r->acked_upto = r->last;
        r->has_acked = 1;
        r->durable = r->last;
        r->has_durable = 1;
    }
}

void sl_kafka_posring_abort(sl_kafka_posring_t *r)
{
    r->head = r->tail;
    r->has_last = r->has_durable;
    r->has_acked = r->has_durable;
    if (r->has_durable) {
        r->last = r->durable;
        r->acked_upto = r->durable;
    }
}

/* ----------------------------------------------------------- client setup */

sl_err_t sl_kafka_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v,
                           char *errstr, size_t errstr_size)
{
    char rderr[256];
    if (rd_kafka_conf_set(conf, k, v, rderr, sizeof(rderr)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka property %s=%s: %s", k, v, rderr);
        return SL_ERR_INVALID;
    }
    return SL_OK;
}

static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk; (void)level; (void)fac; (void)buf;   /* "no bootstrap.servers": on purpose */
}

sl_err_t sl_kafka_conf_check(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                             char *errstr, size_t errstr_size)
{
    char rderr[512];
    /* rd_kafka_new checks what rd_kafka_conf_set cannot (properties that
     * contradict each other); without brokers it connects nowhere */
    if (rd_kafka_conf_set(conf, "bootstrap.servers", "", rderr, sizeof rderr) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "%s: %s", what, rderr);
        return SL_ERR_INVALID;
    }
    rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
    rd_kafka_t *rk = rd_kafka_new(type, conf, rderr, sizeof rderr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "%s: %s", what, rderr);
        return SL_ERR_INVALID;
    }
    rd_kafka_destroy(rk);
    return SL_OK;
}

/* librdkafka before 2.6.1 repeats the client nonce in its SCRAM
 * client-final-message; Kafka 4.0 and later compare the nonce strictly and
 * answer "invalid credentials", as for a wrong password (librdkafka#4895).
 * Non-empty when conf asks for SCRAM from such a librdkafka. */
static const char *old_scram(rd_kafka_conf_t *conf)
{
    char mech[64];
    size_t n = sizeof(mech);
    if (rd_kafka_version() >= 0x020601ff ||
        rd_kafka_conf_get(conf, "sasl.mechanisms", mech, &n) != RD_KAFKA_CONF_OK ||
        strncasecmp(mech, "SCRAM", 5) != 0)
        return "";
    return "; SCRAM with this librdkafka (older than 2.6.1) fails against Kafka 4.0 and "
           "later with \"invalid credentials\" whatever the password (librdkafka#4895): "
           "build shiftlog with librdkafka 2.6.1 or later";
}

sl_err_t sl_kafka_connect(rd_kafka_type_t type, rd_kafka_conf_t **conf,
                          const char *what, const char *brokers,
                          const char *last_error, const char *check_hint,
                          int timeout_ms, rd_kafka_t **rk,
                          char *errstr, size_t errstr_size)
{
    char rderr[512];
    const struct rd_kafka_metadata *md = NULL;
    const char *scram = old_scram(*conf);
    if (*scram)
        sl_warn("%s: librdkafka %s%s", what, rd_kafka_version_str(), scram);

    *rk = rd_kafka_new(type, *conf, rderr, sizeof(rderr));
    if (!*rk) {
        snprintf(errstr, errstr_size, "%s: %s", what, rderr);
        return SL_ERR_KAFKA;
    }
    *conf = NULL;                           /* owned by rk now */
    if (type == RD_KAFKA_CONSUMER)
        rd_kafka_poll_set_consumer(*rk);

    rd_kafka_resp_err_t e = rd_kafka_metadata(*rk, 0, NULL, &md, timeout_ms);
    if (e) {
        if (type == RD_KAFKA_PRODUCER)
            rd_kafka_poll(*rk, 0);          /* collect error_cb reasons */
        snprintf(errstr, errstr_size,
                 "kafka brokers %s not reachable within %d ms (%s%s%s); "
                 "%s and that Kafka is up%s",
                 brokers, timeout_ms, rd_kafka_err2str(e),
                 last_error[0] ? ": " : "", last_error, check_hint,
                 strstr(last_error, "SASL authentication") ? scram : "");
        return SL_ERR_KAFKA;
    }
    rd_kafka_metadata_destroy(md);
    return SL_OK;
}

/* ------------------------------------------------------------------ admin */

sl_err_t sl_kafka_ensure_topic(rd_kafka_t *rk, const char *name,
                               int partitions, int replication,
                               const sl_kvlist_t *config, int timeout_ms,
                               char *errstr, size_t errstr_size)
{
    sl_err_t err = SL_ERR_KAFKA;
    char rderr[512];
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;

    nt = rd_kafka_NewTopic_new(name, partitions, replication, rderr,
                               sizeof(rderr));
    if (!nt) {
        snprintf(errstr, errstr_size, "topic \"%s\": %s", name, rderr);
        return SL_ERR_INVALID;
    }
    for (size_t i = 0; config && i < config->n; i++) {
        if (rd_kafka_NewTopic_set_config(nt, config->items[i].key,
                                         config->items[i].value)) {
            snprintf(errstr, errstr_size, "topic \"%s\": bad config %s=%s",
                     name, config->items[i].key, config->items[i].value);
            err = SL_ERR_INVALID;
            goto out;
        }
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (!opts ||
        rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, rderr,
                                                  sizeof(rderr)) ||
        rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, rderr,
                                                    sizeof(rderr))) {
        snprintf(errstr, errstr_size, "topic \"%s\": admin options: %s", name,
                 opts ? rderr : "out of memory");
        goto out;
    }
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        snprintf(errstr, errstr_size,
                 "topic \"%s\": no answer to CreateTopics within %d ms",
                 name, timeout_ms + 2000);
        err = SL_ERR_TIMEOUT;
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "topic \"%s\": CreateTopics failed: %s",
                 name, rd_kafka_event_error_string(ev));
        goto out;
    }
    const rd_kafka_CreateTopics_result_t *res =
        rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **tr =
        res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
    if (n != 1) {
        snprintf(errstr, errstr_size,
                 "topic \"%s\": CreateTopics returned %zu results", name, n);
        goto out;
    }
    rd_kafka_resp_err_t terr = rd_kafka_topic_result_error(tr[0]);
    if (terr && terr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char *s = rd_kafka_topic_result_error_string(tr[0]);
        snprintf(errstr, errstr_size, "topic \"%s\": cannot create it: %s",
                 name, s && *s ? s : rd_kafka_err2str(terr));
        goto out;
    }
    err = SL_OK;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    return err;
}

_Static_assert(SL_KAFKA_OFFSET_BEGINNING == RD_KAFKA_OFFSET_BEGINNING &&
               SL_KAFKA_OFFSET_END == RD_KAFKA_OFFSET_END &&
               SL_KAFKA_OFFSET_STORED == RD_KAFKA_OFFSET_STORED,
               "sl_kafka.h's offsets are librdkafka's");

sl_err_t sl_kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition,
                             int64_t *low, int64_t *high, int timeout_ms,
                             char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, partition, low, high,
                                                             timeout_ms);
    if (!e)
        return SL_OK;
    snprintf(errstr, errstr_size, "watermarks of %s [%d]: %s", topic, (int)partition,
             rd_kafka_err2str(e));
    return e == RD_KAFKA_RESP_ERR__TIMED_OUT ? SL_ERR_TIMEOUT : SL_ERR_KAFKA;
}

sl_err_t sl_kafka_partition_count(rd_kafka_t *rk, const char *topic,
                                  int timeout_ms, int *count,
                                  char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(errstr, errstr_size, "topic \"%s\": %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return SL_ERR_INVALID;
    }
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e) {
        snprintf(errstr, errstr_size,
                 "topic \"%s\": metadata request failed: %s", topic,
                 rd_kafka_err2str(e));
        return e == RD_KAFKA_RESP_ERR__TIMED_OUT ? SL_ERR_TIMEOUT
                                                 : SL_ERR_KAFKA;
    }
    sl_err_t err = SL_OK;
    if (md->topic_cnt != 1 || md->topics[0].err ||
        md->topics[0].partition_cnt == 0) {
        rd_kafka_resp_err_t te =
            md->topic_cnt == 1 ? md->topics[0].err
                               : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        snprintf(errstr, errstr_size, "topic \"%s\": %s", topic,
                 te ? rd_kafka_err2str(te) : "no partitions");
        err = (te == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || !te)
                  ? SL_ERR_NOT_FOUND : SL_ERR_KAFKA;
    } else {
        *count = md->topics[0].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return err;
}
