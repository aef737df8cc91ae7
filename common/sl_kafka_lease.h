/* shiftlog: one active copy of a service through a Kafka consumer group
 * (issue 18; the collector per source, the miner per source log).
 *
 * Every copy joins the group `group` subscribed to `topic`, a topic of ONE
 * partition (created if absent). The group coordinator assigns that
 * partition to exactly one member: the holder. No message is ever read or
 * written; the group's membership is the lease:
 *   - a holder killed with -9 stops heart-beating and is dropped after
 *     session.timeout.ms (ttl_ms): a standby is assigned the partition at the
 *     rebalance that follows (takeover within ttl_ms + a rebalance);
 *   - a stopped holder (SIGTERM) leaves the group at once;
 *   - a holder that loses its session (network cut, a stall beyond ttl_ms)
 *     is told by the rebalance callback: held() turns 0 and on_lost runs.
 * The lease is no fence by itself: the two cannot both hold it, but a holder
 * that stalled may not know yet that it lost it. Fencing stays with what
 * each service writes (the collector: its transactional.id epoch).
 *
 * A background thread serves the group (heartbeats, rebalances); held() is
 * safe from any thread. */
#ifndef SL_KAFKA_LEASE_H
#define SL_KAFKA_LEASE_H

#include <stddef.h>

#include "sl_err.h"
#include "sl_kv.h"

typedef struct sl_kafka_lease_s sl_kafka_lease_t;
struct sl_http_s;

typedef struct sl_kafka_lease_conf_s {
    const sl_kvlist_t *props;      /* librdkafka properties (the kafka.* passthrough:
                                      bootstrap.servers, security.*, sasl.*, ssl.*) */
    const char        *group;      /* the lease's name, e.g. shiftlog-lease-collector-shop */
    const char        *topic;      /* one partition, created when absent */
    int                ttl_ms;     /* session.timeout.ms (>= 6000, the broker's minimum) */
    const char        *holder;     /* this copy's name in logs (host:pid) */
    /* Called from the lease thread when a held lease is lost (may be NULL). */
    void             (*on_lost)(void *arg);
    void              *arg;
} sl_kafka_lease_conf_t;

/* Joins the group; returns at once (the first assignment comes later).
 * The caller owns *out and frees it with sl_kafka_lease_stop(). */
sl_err_t sl_kafka_lease_start(sl_kafka_lease_t **out, const sl_kafka_lease_conf_t *conf,
                              char *errstr, size_t errstr_size);
/* 1 while this copy holds the lease. */
int      sl_kafka_lease_held(const sl_kafka_lease_t *l);
/* How many times this copy was given the lease (its epoch, for logs). */
int      sl_kafka_lease_epoch(const sl_kafka_lease_t *l);
/* sl_kafka_lease_start, again every 2 s while Kafka does not answer
 * (/ready 503 with the reason meanwhile, a WARN line). 0 once started
 * (healthy), 1 on a stop request. */
int      sl_kafka_lease_open(sl_kafka_lease_t **out, const sl_kafka_lease_conf_t *conf,
                             struct sl_http_s *http);
/* Waits as a standby until this copy holds l: /health answers 200 (live)
 * and /ready 503 (not ready), both with status "standby" and why, one INFO line says so; a yield while waiting is
 * cleared. 0 once held (/health back to ok), 1 on a stop request. */
int      sl_kafka_lease_wait(sl_kafka_lease_t *l, struct sl_http_s *http, const char *why);
/* Leaves the group (a standby takes over at once) and frees l; NULL is fine. */
void     sl_kafka_lease_stop(sl_kafka_lease_t *l);

#endif
