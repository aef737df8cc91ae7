/* shiftlog: the Kafka producer wrapper (idempotent, optionally
 * transactional) with durable-position tracking. See sl_kafka.h. */
#include "sl_kafka.h"
#include "sl_kafka_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sl_log.h"
#include "sl_service.h"

#define SL_KAFKA_MAX_HEADERS 32

struct sl_kafka_producer_s {
    rd_kafka_t                  *rk;
    sl_kafka_posring_t           ring;
    int                          transactional;
    int                          txn_ready;   /* init_transactions done */
    int                          in_txn;
    int                          discarding;  /* abort / destroy: purge reports expected */
    const volatile sig_atomic_t *stop;
    sl_err_t                     fatal;
    char                         fatal_str[512];
    char                         last_error[256]; /* latest error_cb text */
    char                         brokers[256];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Also a liveness beat: a producer waiting for the broker checks here and is
 * waiting, not hung (sl_service.h). */
static int stopped(const sl_kafka_producer_t *p)
{
    sl_service_beat();
    return p->stop && *p->stop;
}

static void set_fatal(sl_kafka_producer_t *p, sl_err_t err, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));
static void set_fatal(sl_kafka_producer_t *p, sl_err_t err, const char *fmt,
                      ...)
{
    if (p->fatal)
        return;                 /* keep the first cause */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->fatal_str, sizeof(p->fatal_str), fmt, ap);
    va_end(ap);
    p->fatal = err;
    sl_error("kafka producer failed: %s", p->fatal_str);
}

static int fail_now(const sl_kafka_producer_t *p, char *errstr,
                    size_t errstr_size)
{
    if (!p->fatal)
        return 0;
    snprintf(errstr, errstr_size, "%s", p->fatal_str);
    return 1;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    sl_kafka_producer_t *p = opaque;
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    if (!m->err) {
        sl_kafka_posring_ack(&p->ring, seq);
        return;
    }
    if (p->discarding && (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                          m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT))
        return;                 /* aborted transaction / shutdown */
    char pos[160] = "?";
    if (seq >= p->ring.head && seq < p->ring.tail)
        sl_pos_format(&p->ring.pos[seq % p->ring.cap], pos, sizeof(pos));
    set_fatal(p, SL_ERR_FATAL,
              "kafka: delivery of the message at source position %s to "
              "topic \"%s\" partition %d failed: %s",
              pos, rd_kafka_topic_name(m->rkt), (int)m->partition,
              rd_kafka_err2str(m->err));
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    sl_kafka_producer_t *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[256];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        set_fatal(p, SL_ERR_FATAL, "kafka: fatal producer error (%s): %s",
                  rd_kafka_err2name(orig), buf);
        return;
    }
    snprintf(p->last_error, sizeof(p->last_error), "%s", reason);
    sl_debug("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    sl_log_level_t l = level <= 3 ? SL_LOG_ERROR
                     : level <= 5 ? SL_LOG_WARN
                     : level == 6 ? SL_LOG_INFO : SL_LOG_DEBUG;
    sl_log(l, "librdkafka %s: %s", fac, buf);
}

/* Fills conf from c: the user's properties with shiftlog's refusals, then the
 * forced settings. Notes in p whether it is transactional and its brokers.
 * Shared by _new and _check, so --check refuses what a start would. */
static sl_err_t producer_conf(sl_kafka_producer_t *p, const sl_kafka_producer_conf_t *c,
                              rd_kafka_conf_t *conf, int qmsgs, char *errstr,
                              size_t errstr_size)
{
    sl_err_t err;
    char num[32];
    int qkb = c->queue_max_kbytes > 0 ? c->queue_max_kbytes : 65536;
    for (size_t i = 0; c->props && i < c->props->n; i++) {
        const char *k = c->props->items[i].key, *v = c->props->items[i].value;
        if ((!strcmp(k, "acks") || !strcmp(k, "request.required.acks")) &&
            strcasecmp(v, "all") && strcmp(v, "-1")) {
            snprintf(errstr, errstr_size,
                     "kafka property %s=%s refused: shiftlog needs acks=all "
                     "(a record acknowledged by fewer replicas can be lost; "
                     "remove the setting)", k, v);
            return SL_ERR_INVALID;
        }
        if (!strcmp(k, "enable.idempotence") && strcasecmp(v, "true")) {
            snprintf(errstr, errstr_size,
                     "kafka property enable.idempotence=%s refused: shiftlog "
                     "needs the idempotent producer (no duplicates, no "
                     "reordering on retry; remove the setting)", v);
            return SL_ERR_INVALID;
        }
        if (!strcmp(k, "transactional.id") && *v)
            p->transactional = 1;
        /* the queue bounds are set below. A smaller queue.buffering.max.kbytes
         * of the user's wins (a tighter memory bound); the message bound is the
         * caller's, since the ring of in-flight positions is sized for it */
        if (!strcmp(k, "queue.buffering.max.kbytes")) {
            char *end;
            long n = strtol(v, &end, 10);
            if (end == v || *end || n < 1) {
                snprintf(errstr, errstr_size, "kafka property %s=%s: expected a "
                         "positive integer (KiB)", k, v);
                return SL_ERR_INVALID;
            }
            if (n < qkb)
                qkb = (int)n;
            continue;
        }
        if (!strcmp(k, "queue.buffering.max.messages")) {
            sl_warn("kafka property %s=%s ignored: the service sets it to %d "
                    "(its in-flight position ring is sized for that)", k, v, qmsgs);
            continue;
        }
        if (!strcmp(k, "bootstrap.servers") || !strcmp(k, "metadata.broker.list"))
            snprintf(p->brokers, sizeof(p->brokers), "%s", v);
        if ((err = sl_kafka_conf_set(conf, k, v, errstr, errstr_size)))
            return err;
    }
    if (!p->brokers[0]) {
        snprintf(errstr, errstr_size,
                 "kafka producer: bootstrap.servers is not set "
                 "(kafka.bootstrap.servers = host:port)");
        return SL_ERR_INVALID;
    }
    if ((err = sl_kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size)) ||
        (err = sl_kafka_conf_set(conf, "acks", "all", errstr, errstr_size)))
        return err;
    snprintf(num, sizeof(num), "%d", qmsgs);
    if ((err = sl_kafka_conf_set(conf, "queue.buffering.max.messages", num, errstr,
                                 errstr_size)))
        return err;
    snprintf(num, sizeof(num), "%d", qkb);
    return sl_kafka_conf_set(conf, "queue.buffering.max.kbytes", num, errstr, errstr_size);
}

sl_err_t sl_kafka_producer_new(sl_kafka_producer_t **out,
                               const sl_kafka_producer_conf_t *c,
                               char *errstr, size_t errstr_size)
{
    sl_err_t err;
    int qmsgs = c->queue_max_messages > 0 ? c->queue_max_messages : 100000;
    int tmo = c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 10000;

    *out = NULL;
    sl_kafka_producer_t *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!p || !conf) {
        snprintf(errstr, errstr_size, "kafka producer: out of memory");
        err = SL_ERR_NOMEM;
        goto err;
    }
    p->stop = c->stop;
    if ((err = producer_conf(p, c, conf, qmsgs, errstr, errstr_size)))
        goto err;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_opaque(conf, p);

    if ((err = sl_kafka_posring_init(&p->ring, (size_t)qmsgs,
                                     p->transactional))) {
        snprintf(errstr, errstr_size, "kafka producer: out of memory");
        goto err;
    }
    if ((err = sl_kafka_connect(RD_KAFKA_PRODUCER, &conf, "kafka producer", p->brokers,
                                p->last_error, "check kafka.bootstrap.servers", tmo, &p->rk,
                                errstr, errstr_size)))
        goto err;
    *out = p;
    return SL_OK;
err:
    if (conf)
        rd_kafka_conf_destroy(conf);
    sl_kafka_producer_destroy(p);
    return err;
}

sl_err_t sl_kafka_producer_check(const sl_kafka_producer_conf_t *c, char *errstr,
                                 size_t errstr_size)
{
    sl_err_t err;
    int qmsgs = c->queue_max_messages > 0 ? c->queue_max_messages : 100000;
    sl_kafka_producer_t *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!p || !conf) {
        snprintf(errstr, errstr_size, "kafka producer: out of memory");
        err = SL_ERR_NOMEM;
    } else if (!(err = producer_conf(p, c, conf, qmsgs, errstr, errstr_size))) {
        err = sl_kafka_conf_check(RD_KAFKA_PRODUCER, conf, "kafka producer", errstr,
                                  errstr_size);
        conf = NULL;
    }
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(p);
    return err;
}

void sl_kafka_producer_destroy(sl_kafka_producer_t *p)
{
    if (!p)
        return;
    if (p->rk) {
        p->discarding = 1;
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0);
        rd_kafka_destroy(p->rk);
    }
    sl_kafka_posring_free(&p->ring);
    free(p);
}

rd_kafka_t *sl_kafka_producer_handle(sl_kafka_producer_t *p)
{
    return p->rk;
}

int sl_kafka_producer_is_transactional(const sl_kafka_producer_t *p)
{
    return p->transactional;
}

int sl_kafka_producer_poll(sl_kafka_producer_t *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

sl_err_t sl_kafka_producer_error(const sl_kafka_producer_t *p, char *errstr,
                                 size_t errstr_size)
{
    if (p->fatal && errstr_size)
        snprintf(errstr, errstr_size, "%s", p->fatal_str);
    return p->fatal;
}

int sl_kafka_producer_durable(const sl_kafka_producer_t *p, sl_pos_t *out)
{
    if (!p->ring.has_durable)
        return 0;
    *out = p->ring.durable;
    return 1;
}

size_t sl_kafka_producer_inflight(const sl_kafka_producer_t *p)
{
    return sl_kafka_posring_pending(&p->ring);
}

sl_err_t sl_kafka_produce(sl_kafka_producer_t *p, const char *topic,
                          int32_t partition,
                          const void *key, size_t key_len,
                          const void *value, size_t value_len,
                          const sl_kafka_header_t *headers, size_t nheaders,
                          const sl_pos_t *pos,
                          char *errstr, size_t errstr_size)
{
    rd_kafka_vu_t vu[6 + SL_KAFKA_MAX_HEADERS];
    size_t n = 0;
    uint64_t seq;

    if (fail_now(p, errstr, errstr_size))
        return SL_ERR_FATAL;
    if (p->transactional && !p->in_txn) {
        snprintf(errstr, errstr_size,
                 "kafka: produce to topic \"%s\" outside a transaction "
                 "(call sl_kafka_txn_begin first)", topic);
        return SL_ERR_STATE;
    }
    if (nheaders > SL_KAFKA_MAX_HEADERS) {
        snprintf(errstr, errstr_size, "kafka: %zu headers, at most %d",
                 nheaders, SL_KAFKA_MAX_HEADERS);
        return SL_ERR_INVALID;
    }
    /* Room in the ring of in-flight positions (same bound as the queue). */
    while (sl_kafka_posring_full(&p->ring)) {
        rd_kafka_poll(p->rk, 100);
        if (fail_now(p, errstr, errstr_size))
            return SL_ERR_FATAL;
        if (stopped(p)) {
            snprintf(errstr, errstr_size,
                     "kafka: stopped while waiting for queue space");
            return SL_ERR_STATE;
        }
    }
    sl_pos_t prev_last = p->ring.last;
    int prev_has_last = p->ring.has_last;
    sl_err_t err = sl_kafka_posring_add(&p->ring, pos, &seq);
    if (err) {
        char a[160], b[160];
        sl_pos_format(pos, a, sizeof(a));
        sl_pos_format(&p->ring.last, b, sizeof(b));
        snprintf(errstr, errstr_size,
                 "kafka: position %s produced after %s: positions must not "
                 "go backwards", a, b);
        return err;
    }

    vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;     vu[n++].u.cstr = topic;
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION; vu[n++].u.i32 =
        partition < 0 ? RD_KAFKA_PARTITION_UA : partition;
    vu[n].vtype = RD_KAFKA_VTYPE_KEY;
    vu[n].u.mem.ptr = (void *)key;          vu[n++].u.mem.size = key ? key_len : 0;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = (void *)value;        vu[n++].u.mem.size = value ? value_len : 0;
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;    vu[n++].u.ptr = (void *)(uintptr_t)seq;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;  vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    for (size_t i = 0; i < nheaders; i++, n++) {
        vu[n].vtype = RD_KAFKA_VTYPE_HEADER;
        vu[n].u.header.name = headers[i].name;
        vu[n].u.header.val = headers[i].value;
        vu[n].u.header.size = headers[i].value ? (ssize_t)headers[i].len : -1;
    }

    for (;;) {
        rd_kafka_error_t *e = rd_kafka_produceva(p->rk, vu, n);
        if (!e)
            break;
        rd_kafka_resp_err_t code = rd_kafka_error_code(e);
        if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_error_destroy(e);
            rd_kafka_poll(p->rk, 100);      /* backpressure: serve reports */
            if (!p->fatal && !stopped(p))
                continue;
            err = p->fatal ? SL_ERR_FATAL : SL_ERR_STATE;
            if (p->fatal)
                snprintf(errstr, errstr_size, "%s", p->fatal_str);
            else
                snprintf(errstr, errstr_size,
                         "kafka: stopped while waiting for queue space");
        } else {
            char ps[160] = "";
            if (pos)
                sl_pos_format(pos, ps, sizeof(ps));
            snprintf(errstr, errstr_size,
                     "kafka: cannot produce the message at source position "
                     "%s to topic \"%s\": %s", pos ? ps : "(previous)", topic,
                     rd_kafka_error_string(e));
            err = rd_kafka_error_is_fatal(e) ? SL_ERR_FATAL : SL_ERR_KAFKA;
            if (err == SL_ERR_FATAL)
                set_fatal(p, SL_ERR_FATAL, "%s", errstr);
            rd_kafka_error_destroy(e);
        }
        /* undo the ring entry: the message was not queued */
        p->ring.tail--;
        p->ring.last = prev_last;
        p->ring.has_last = prev_has_last;
        return err;
    }
    rd_kafka_poll(p->rk, 0);
    return SL_OK;
}

sl_err_t sl_kafka_producer_flush(sl_kafka_producer_t *p, int timeout_ms,
                                 char *errstr, size_t errstr_size)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (fail_now(p, errstr, errstr_size))
            return SL_ERR_FATAL;
        if (rd_kafka_outq_len(p->rk) == 0 &&
            sl_kafka_posring_pending(&p->ring) == 0)
            return SL_OK;
        if (stopped(p)) {
            snprintf(errstr, errstr_size, "kafka: stopped while flushing");
            return SL_ERR_STATE;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            snprintf(errstr, errstr_size,
                     "kafka: %zu messages still unacknowledged after %d ms "
                     "(brokers %s)", sl_kafka_posring_pending(&p->ring),
                     timeout_ms, p->brokers);
            return SL_ERR_TIMEOUT;
        }
        rd_kafka_flush(p->rk, left < 100 ? (int)left : 100);
        rd_kafka_poll(p->rk, 0);
    }
}

/* ------------------------------------------------------------ transactions */

static sl_err_t txn_error(sl_kafka_producer_t *p, const char *what,
                          rd_kafka_error_t *e, char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "kafka: %s failed (%s): %s", what,
             rd_kafka_error_name(e), rd_kafka_error_string(e));
    sl_err_t err = SL_ERR_KAFKA;
    if (rd_kafka_error_is_fatal(e)) {
        set_fatal(p, SL_ERR_FATAL, "%s", errstr);
        err = SL_ERR_FATAL;
    }
    rd_kafka_error_destroy(e);
    return err;
}

sl_err_t sl_kafka_txn_init(sl_kafka_producer_t *p, int timeout_ms,
                           char *errstr, size_t errstr_size)
{
    if (!p->transactional) {
        snprintf(errstr, errstr_size,
                 "kafka: transactions need kafka.transactional.id");
        return SL_ERR_STATE;
    }
    int64_t deadline = now_ms() + (timeout_ms < 0 ? 60000 : timeout_ms);
    for (;;) {
        if (fail_now(p, errstr, errstr_size))
            return SL_ERR_FATAL;
        int64_t left = deadline - now_ms();
        rd_kafka_error_t *e = rd_kafka_init_transactions(
            p->rk, left > 5000 ? 5000 : left > 0 ? (int)left : 1);
        if (!e) {
            p->txn_ready = 1;
            return SL_OK;
        }
        rd_kafka_resp_err_t code = rd_kafka_error_code(e);
        int again = rd_kafka_error_is_retriable(e) ||
                    code == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE ||
                    code == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
                    code == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
                    code == RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (!again || rd_kafka_error_is_fatal(e) || now_ms() >= deadline ||
            stopped(p))
            return txn_error(p, "init_transactions", e, errstr, errstr_size);
        sl_debug("kafka: init_transactions: %s, retrying",
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rd_kafka_poll(p->rk, 200);
    }
}

sl_err_t sl_kafka_txn_begin(sl_kafka_producer_t *p, char *errstr,
                            size_t errstr_size)
{
    if (fail_now(p, errstr, errstr_size))
        return SL_ERR_FATAL;
    if (!p->txn_ready) {
        snprintf(errstr, errstr_size,
                 "kafka: begin_transaction before sl_kafka_txn_init");
        return SL_ERR_STATE;
    }
    rd_kafka_error_t *e = rd_kafka_begin_transaction(p->rk);
    if (e)
        return txn_error(p, "begin_transaction", e, errstr, errstr_size);
    p->in_txn = 1;
    return SL_OK;
}

sl_err_t sl_kafka_txn_abort(sl_kafka_producer_t *p, int timeout_ms,
                            char *errstr, size_t errstr_size)
{
    if (!p->in_txn)
        return SL_OK;
    p->discarding = 1;
    rd_kafka_error_t *e = NULL;
    int64_t deadline = now_ms() + (timeout_ms < 0 ? 60000 : timeout_ms);
    for (;;) {
        e = rd_kafka_abort_transaction(p->rk, timeout_ms < 0 ? -1 : timeout_ms);
        if (!e || !rd_kafka_error_is_retriable(e) || now_ms() >= deadline ||
            stopped(p))
            break;
        rd_kafka_error_destroy(e);
    }
    rd_kafka_poll(p->rk, 0);                /* drain purge reports */
    p->discarding = 0;
    if (e)
        return txn_error(p, "abort_transaction", e, errstr, errstr_size);
    p->in_txn = 0;
    sl_kafka_posring_abort(&p->ring);
    return SL_OK;
}

sl_err_t sl_kafka_txn_commit(sl_kafka_producer_t *p, int timeout_ms,
                             char *errstr, size_t errstr_size)
{
    char why[512];
    if (fail_now(p, errstr, errstr_size))
        return SL_ERR_FATAL;
    if (!p->in_txn) {
        snprintf(errstr, errstr_size, "kafka: commit without a transaction");
        return SL_ERR_STATE;
    }
    int64_t deadline = now_ms() + (timeout_ms < 0 ? 60000 : timeout_ms);
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(p->rk, -1);
        if (!e)
            break;
        if (rd_kafka_error_txn_requires_abort(e)) {
            snprintf(why, sizeof(why), "%s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            sl_err_t aerr = sl_kafka_txn_abort(p, timeout_ms, errstr,
                                               errstr_size);
            if (aerr)
                return aerr;
            if (fail_now(p, errstr, errstr_size))
                return SL_ERR_FATAL;
            snprintf(errstr, errstr_size,
                     "kafka: commit_transaction failed and the transaction "
                     "was aborted: %s (produce again from the durable "
                     "position)", why);
            return SL_ERR_KAFKA;
        }
        if (!rd_kafka_error_is_retriable(e) || now_ms() >= deadline ||
            stopped(p))
            return txn_error(p, "commit_transaction", e, errstr, errstr_size);
        rd_kafka_error_destroy(e);
    }
    rd_kafka_poll(p->rk, 0);
    if (fail_now(p, errstr, errstr_size))
        return SL_ERR_FATAL;
    p->in_txn = 0;
    sl_kafka_posring_commit(&p->ring);
    return SL_OK;
}
