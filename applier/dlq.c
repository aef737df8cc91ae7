/* shiftlog-applier: the dead-letter topic (<topic>.dlq by default).
 * A record that cannot be applied is produced there unchanged (key, value,
 * headers) with the reason and where it came from in sl.dlq.* headers.
 * Delivery is waited for (app_dlq_flush) before the target position moves
 * past the record, so a dead letter is never lost; after a crash it may be
 * sent twice (the DLQ is at-least-once; sl.dlq.offset identifies it). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applier.h"
#include "sl_log.h"

struct app_dlq_s {
    sl_kafka_producer_t *p;
    char                 topic[300];
    uint64_t             seq;       /* synthetic increasing position for the producer */
    sl_metric_t         *m_count;
};

int app_dlq_props(const sl_kvlist_t *kafka_props, sl_kvlist_t *props)
{
    /* consumer-only properties would make the producer refuse to start */
    for (size_t i = 0; kafka_props && i < kafka_props->n; i++) {
        const char *k = kafka_props->items[i].key;
        if (!strcmp(k, "group.id") || !strncmp(k, "auto.", 5) ||
            !strcmp(k, "isolation.level") || !strncmp(k, "enable.auto", 11) ||
            !strcmp(k, "enable.partition.eof"))
            continue;
        if (sl_kvlist_set(props, k, kafka_props->items[i].value))
            return -1;
    }
    return 0;
}

sl_err_t app_dlq_new(app_dlq_t **out, const sl_kvlist_t *kafka_props, const char *topic,
                     char *errstr, size_t errstr_size)
{
    sl_err_t err;
    app_dlq_t *d = calloc(1, sizeof(*d));
    sl_kvlist_t props = SL_KVLIST_INIT;
    *out = NULL;
    if (!d)
        return SL_ERR_NOMEM;
    snprintf(d->topic, sizeof(d->topic), "%s", topic);
    if (app_dlq_props(kafka_props, &props)) {
        err = SL_ERR_NOMEM;
        goto err;
    }
    sl_kafka_producer_conf_t pc = {.props = &props};
    if ((err = sl_kafka_producer_new(&d->p, &pc, errstr, errstr_size)))
        goto err;
    if ((err = sl_kafka_ensure_topic(sl_kafka_producer_handle(d->p), topic, 1, -1, NULL,
                                     10000, errstr, errstr_size)))
        goto err;
    sl_kvlist_free(&props);
    *out = d;
    return SL_OK;
err:
    sl_kvlist_free(&props);
    app_dlq_destroy(d);
    return err;
}

void app_dlq_destroy(app_dlq_t *d)
{
    if (!d)
        return;
    if (d->p) {
        char errstr[256];
        if (sl_kafka_producer_flush(d->p, 10000, errstr, sizeof(errstr)))
            sl_warn("dead-letter topic %s: %s", d->topic, errstr);
        sl_kafka_producer_destroy(d->p);
    }
    free(d);
}

const char *app_dlq_topic(const app_dlq_t *d)
{
    return d->topic;
}

sl_err_t app_dlq_send(app_dlq_t *d, const char *task, const sl_kafka_msg_t *msg,
                      const char *pos_text, const char *reason,
                      char *errstr, size_t errstr_size)
{
    sl_kafka_header_t h[40];
    size_t n = 0;
    char part[16], off[32];
    const char *name;
    const void *val;
    size_t len;
    for (size_t i = 0; n < 32 && sl_kafka_msg_header(msg, i, &name, &val, &len) == SL_OK; i++)
        if (strncmp(name, "sl.dlq.", 7))
            h[n++] = (sl_kafka_header_t){name, val, len};
    snprintf(part, sizeof(part), "%" PRId32, msg->partition);
    snprintf(off, sizeof(off), "%" PRId64, msg->offset);
    h[n++] = (sl_kafka_header_t){"sl.dlq.reason", reason, strlen(reason)};
    h[n++] = (sl_kafka_header_t){"sl.dlq.task", task, strlen(task)};
    h[n++] = (sl_kafka_header_t){"sl.dlq.topic", msg->topic, strlen(msg->topic)};
    h[n++] = (sl_kafka_header_t){"sl.dlq.partition", part, strlen(part)};
    h[n++] = (sl_kafka_header_t){"sl.dlq.offset", off, strlen(off)};
    h[n++] = (sl_kafka_header_t){"sl.dlq.pos", pos_text ? pos_text : "",
                                 pos_text ? strlen(pos_text) : 0};
    sl_pos_t p = {.kind = SL_POS_NONE, .seq = ++d->seq};
    return sl_kafka_produce(d->p, d->topic, 0, msg->key, msg->key_len, msg->value,
                            msg->value_len, h, n, &p, errstr, errstr_size);
}

sl_err_t app_dlq_flush(app_dlq_t *d, char *errstr, size_t errstr_size)
{
    if (!d || sl_kafka_producer_inflight(d->p) == 0)
        return SL_OK;
    return sl_kafka_producer_flush(d->p, 30000, errstr, errstr_size);
}
