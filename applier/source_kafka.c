/* shiftlog-applier: the Kafka source (source.h) — source.topic's partition
 * read with read_committed, assigned AT THE TARGET'S STORED OFFSET (not the
 * consumer group's), the subOffsets already applied inside that message
 * skipped, each message decoded into one record.
 *
 *   prepare  waits until the topic has the partition (an applier may start
 *            before the collector created its topic), and on the task's
 *            first start seeds the table schemas from the SCHEMA records at
 *            or before the stored offset;
 *   next     one message (read_committed) decoded; a message that does not
 *            decode is handed back for the dead-letter topic. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_backoff.h"
#include "sl_log.h"
#include "source.h"

typedef struct ksrc_s {
    app_source_t         base;
    sl_kafka_consumer_t *cons;
    sl_avro_codec_t     *codec;
    sl_kafka_msg_t       msg;          /* the last message (valid until the next call) */
    int64_t              next_offset;  /* after the last message read, -1 none */
    int64_t              skip_offset;  /* the stored message: rows <= skip_sub applied */
    int64_t              skip_sub;
} ksrc_t;

static void ksrc_close(app_source_t *base)
{
    ksrc_t *s = (ksrc_t *)base;
    if (!s)
        return;
    sl_kafka_consumer_destroy(s->cons);
    sl_avro_codec_destroy(s->codec);
    free(s);
}

static sl_err_t ksrc_open(app_source_t **out, const app_source_conf_t *conf, char *errstr,
                          size_t errstr_size)
{
    const app_conf_t *c = conf->c;
    char group[300];
    if (c->kafka_group_id && *c->kafka_group_id)
        snprintf(group, sizeof(group), "%s", c->kafka_group_id);
    else
        snprintf(group, sizeof(group), "shiftlog-applier-%s", c->task_name);
    ksrc_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    s->base.ops = &app_source_kafka;
    s->base.conf = conf;
    s->next_offset = -1;
    s->skip_offset = -1;
    sl_err_t err = sl_avro_codec_new(&s->codec, errstr, errstr_size);
    if (err) {
        char why[512];
        snprintf(why, sizeof(why), "%s", errstr);
        snprintf(errstr, errstr_size, "avro codec: %s", why);
        goto err;
    }
    err = sl_kafka_consumer_new(&s->cons, &conf->svc->conf.kafka, group, 10000, errstr,
                                errstr_size);
    if (err)
        goto err;
    *out = &s->base;
    return SL_OK;
err:
    ksrc_close(&s->base);
    return err;
}

/* Waits until source.topic has source.partition. Says so once (warning, with
 * the topic's name), keeps /ready at 503 with the reason meanwhile (alive:
 * /health 200) and looks again with a backoff from 200 ms doubling to
 * retry.max.ms. Other metadata errors are left to the assignment that
 * follows. -1 on stop. */
static int wait_topic(ksrc_t *s)
{
    const app_source_conf_t *k = s->base.conf;
    const app_conf_t *c = k->c;
    char errstr[512], reason[800];
    sl_backoff_t backoff = SL_BACKOFF_INIT(200, c->retry_max_ms);
    int64_t t0 = sl_service_now_ms();
    int waited = 0;
    for (;;) {
        int count = 0;
        sl_err_t err = sl_kafka_partition_count(sl_kafka_consumer_handle(s->cons),
                                                c->source_topic, 10000, &count, errstr,
                                                sizeof(errstr));
        if (!err && count <= c->source_partition) {
            snprintf(errstr, sizeof(errstr), "topic \"%s\" has %d partition(s), no partition %"
                     PRId64, c->source_topic, count, c->source_partition);
            err = SL_ERR_NOT_FOUND;
        }
        if (err != SL_ERR_NOT_FOUND) {
            if (waited) {
                sl_info("source topic %s [%" PRId64 "] exists now (waited %" PRId64 " ms): "
                        "starting", c->source_topic, c->source_partition,
                        sl_service_now_ms() - t0);
                k->state(k->arg, "running", NULL);
            }
            return 0;
        }
        snprintf(reason, sizeof(reason), "waiting for source topic %s [%" PRId64 "]: it does "
                 "not exist yet (%s); the collector creates it", c->source_topic,
                 c->source_partition, errstr);
        k->state(k->arg, "waiting_topic", reason);
        if (!waited++)
            sl_warn("source topic %s [%" PRId64 "] does not exist yet (%s): waiting for the "
                    "collector to create it, looking again every %" PRId64 " ms at most",
                    c->source_topic, c->source_partition, errstr, c->retry_max_ms);
        if (sl_service_wait((int)sl_backoff_next(&backoff)))
            return -1;
    }
}

static int is_schema_msg(const sl_kafka_msg_t *m)
{
    const char *name;
    const void *val;
    size_t len;
    for (size_t i = 0; sl_kafka_msg_header(m, i, &name, &val, &len) == SL_OK; i++)
        if (!strcmp(name, SL_KAFKA_H_OP) && len == 6 && !memcmp(val, "schema", 6))
            return 1;
    return 0;
}

/* The SCHEMA records at or before offset upto into txn. Only messages whose
 * sl.op header says "schema" are decoded. SL_ERR_TIMEOUT: stopping. */
static sl_err_t seed_schemas(ksrc_t *s, app_txn_t *txn, int64_t upto, char *errstr,
                             size_t errstr_size)
{
    const app_conf_t *c = s->base.conf->c;
    char why[512];
    if (upto < 0)
        return SL_OK;
    if (sl_kafka_consumer_assign(s->cons, c->source_topic, (int32_t)c->source_partition,
                                 SL_KAFKA_OFFSET_BEGINNING, 10000, NULL, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "cannot assign %s: %s", c->source_topic, why);
        return SL_ERR_KAFKA;
    }
    sl_record_t *rec = sl_record_new();
    size_t n = 0;
    sl_err_t rc = SL_OK;
    for (;;) {
        if (!rec) {
            snprintf(errstr, errstr_size, "out of memory");
            return SL_ERR_NOMEM;
        }
        sl_kafka_msg_t m;
        sl_err_t err = sl_kafka_consume(s->cons, 1000, &m, why, sizeof(why));
        if (sl_service_stopping()) {
            rc = SL_ERR_TIMEOUT;
            goto out;
        }
        if (err == SL_ERR_TIMEOUT || err == SL_ERR_KAFKA)
            continue;
        if (err) {
            snprintf(errstr, errstr_size, "schema scan of %s: %s", c->source_topic, why);
            rc = err;
            goto out;
        }
        if (m.eof || m.offset > upto)
            break;
        if (is_schema_msg(&m) &&
            sl_avro_decode(s->codec, m.value, m.value_len, rec, why, sizeof(why)) == SL_OK &&
            rec->type == SL_REC_SCHEMA) {
            app_txn_seed_schema(txn, rec, m.offset);
            n++;
            rec = sl_record_new();
        }
        if (m.offset == upto)
            break;
    }
    sl_info("schema scan: %zu table schema record(s) before offset %" PRId64, n, upto);
out:
    sl_record_destroy(rec);
    return rc;
}

static sl_err_t ksrc_prepare(app_source_t *base, app_txn_t *txn, const app_position_t *pos,
                             int seed, char *errstr, size_t errstr_size)
{
    ksrc_t *s = (ksrc_t *)base;
    if (wait_topic(s))
        return SL_ERR_TIMEOUT;
    return seed ? seed_schemas(s, txn, pos ? pos->kafka_offset : -1, errstr, errstr_size)
                : SL_OK;
}

static sl_err_t ksrc_seek(app_source_t *base, app_txn_t *txn, const app_position_t *pos,
                          int64_t from, char *errstr, size_t errstr_size)
{
    ksrc_t *s = (ksrc_t *)base;
    const app_conf_t *c = base->conf->c;
    int64_t at = SL_KAFKA_OFFSET_BEGINNING;
    char why[512];
    s->skip_offset = -1;
    if (from >= 0) {
        at = from;
    } else if (pos) {
        at = pos->kafka_offset;
        s->skip_offset = pos->kafka_offset;
        s->skip_sub = pos->sub_offset;
        if (base->conf->after_log && pos->sub_offset < 0)
            at = pos->kafka_offset + 1;  /* the whole message is applied, and the topic's
                                            early part may be gone (deleted, retention) */
    }
    if (sl_kafka_consumer_assign(s->cons, c->source_topic, (int32_t)c->source_partition, at,
                                 10000, NULL, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "cannot assign %s [%" PRId64 "]: %s", c->source_topic,
                 c->source_partition, why);
        return SL_ERR_KAFKA;
    }
    return SL_OK;
}

static sl_err_t ksrc_next(app_source_t *base, sl_record_t *rec, app_msg_t *am, int wait_ms,
                          char *errstr, size_t errstr_size)
{
    ksrc_t *s = (ksrc_t *)base;
    char why[1024];
    for (;;) {
        sl_err_t err = sl_kafka_consume(s->cons, wait_ms, &s->msg, why, sizeof(why));
        if (err == SL_OK && s->msg.eof)
            return SL_ERR_TIMEOUT;
        if (err == SL_ERR_TIMEOUT)
            return err;
        if (err) {
            snprintf(errstr, errstr_size, "kafka consumer: %s", why);
            return err;
        }
        const sl_kafka_msg_t *m = &s->msg;
        sl_metric_inc(base->conf->m_records);
        s->next_offset = m->offset + 1;
        *am = (app_msg_t){.kmsg = m, .offset = m->offset, .first_row = 0};
        if (s->skip_offset >= 0 && m->offset <= s->skip_offset) {
            if (m->offset < s->skip_offset || s->skip_sub < 0)
                continue;          /* applied before the stored position */
            am->first_row = (uint32_t)(s->skip_sub + 1);
        }
        err = sl_avro_decode(s->codec, m->value, m->value_len, rec, errstr, errstr_size);
        return err ? SL_ERR_DECODE : SL_OK;
    }
}

static app_src_end_t ksrc_classify(const app_source_t *base, sl_err_t err)
{
    return err == SL_ERR_KAFKA ? APP_SRC_TRANSIENT : APP_SRC_FATAL;
}

static int64_t ksrc_position(const app_source_t *base)
{
    return ((const ksrc_t *)base)->next_offset;
}

sl_kafka_consumer_t *app_source_kafka_consumer(app_source_t *base)
{
    return ((ksrc_t *)base)->cons;
}

const app_source_ops_t app_source_kafka = {
    .kind = "kafka",
    .retry_ms = 0,                 /* the consumer's own poll waited */
    .open = ksrc_open,
    .prepare = ksrc_prepare,
    .seek = ksrc_seek,
    .next = ksrc_next,
    .classify = ksrc_classify,
    .position = ksrc_position,
    .close = ksrc_close,
};
