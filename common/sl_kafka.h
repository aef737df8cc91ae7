/* shiftlog: Kafka wrappers over librdkafka — an idempotent / transactional
 * producer that tracks the durable source position, topic creation, and a
 * read_committed consumer with manual offset storage.
 *
 * Producer contract (DESIGN invariant 4):
 *   - every message carries the source position (sl_pos_t) of the record it
 *     holds; positions must be non-decreasing in produce order;
 *   - sl_kafka_producer_durable() returns the highest position P such that
 *     every message produced with a position <= P has been acknowledged by
 *     Kafka (acks=all, idempotent) — and, in transactional mode, such that
 *     the Kafka transaction holding it has been committed. A checkpoint may
 *     move to P and no further;
 *   - a delivery failure (after librdkafka's own retries) or a fatal
 *     librdkafka error makes the producer failed: every later produce /
 *     commit returns SL_ERR_FATAL and sl_kafka_producer_error() says why.
 *     Nothing is silently skipped.
 *   - memory is bounded: queue.buffering.max.messages / kbytes, and a ring
 *     of as many in-flight positions; a full queue blocks the caller (it
 *     polls and retries) until room frees up or *stop becomes non-zero.
 * Threading: a producer or consumer is used from one thread; delivery
 * reports are served inside the calls on that thread. */
#ifndef SL_KAFKA_H
#define SL_KAFKA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "sl_err.h"
#include "sl_kv.h"
#include "sl_pos.h"

/* librdkafka stays behind these wrappers: its header is included only by
 * common/sl_kafka*.c (sl_kafka_int.h). The handles are opaque here. */
typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;

/* Header names on every shiftlog message (DESIGN "Wire format"). */
#define SL_KAFKA_H_SOURCE "sl.source"
#define SL_KAFKA_H_TABLE  "sl.table"
#define SL_KAFKA_H_OP     "sl.op"
#define SL_KAFKA_H_POS    "sl.pos"
#define SL_KAFKA_H_TXN    "sl.txn"
#define SL_KAFKA_H_SCHEMA "sl.schema"

typedef struct sl_kafka_header_s {
    const char *name;
    const void *value;   /* NULL = header without a value */
    size_t      len;
} sl_kafka_header_t;

/* ---------------------------------------------------------------- producer */

typedef struct sl_kafka_producer_conf_s {
    /* librdkafka properties passed through as they are (the `kafka.` prefix
     * of the config file already stripped), e.g. bootstrap.servers,
     * transactional.id, linger.ms. Borrowed for the duration of _new(). */
    const sl_kvlist_t *props;
    int queue_max_messages;    /* queue.buffering.max.messages; 0 = 100000 */
    int queue_max_kbytes;      /* queue.buffering.max.kbytes;   0 = 65536; a
                                * smaller value in props wins */
    int connect_timeout_ms;    /* first metadata request bound; 0 = 10000 */
    /* Optional: while non-zero, blocking waits (full queue, flush, txn
     * init) give up with SL_ERR_STATE. Borrowed, must outlive the producer. */
    const volatile sig_atomic_t *stop;
} sl_kafka_producer_conf_t;

typedef struct sl_kafka_producer_s sl_kafka_producer_t;

/* Creates a producer with enable.idempotence=true and acks=all forced (a
 * user acks other than all/-1 is refused with SL_ERR_INVALID), connects and
 * fetches metadata within connect_timeout_ms: an unreachable cluster is
 * SL_ERR_KAFKA naming the brokers. With transactional.id set the producer
 * is transactional: call sl_kafka_txn_init() before anything else.
 * The caller owns *out and frees it with sl_kafka_producer_destroy(). */
sl_err_t sl_kafka_producer_new(sl_kafka_producer_t **out,
                               const sl_kafka_producer_conf_t *conf,
                               char *errstr, size_t errstr_size);
/* Builds the configuration sl_kafka_producer_new would (the same refusals and
 * forced settings) and has librdkafka check it whole, connecting nowhere and
 * opening no port (--check). SL_ERR_INVALID names the property. */
sl_err_t sl_kafka_producer_check(const sl_kafka_producer_conf_t *conf,
                                 char *errstr, size_t errstr_size);
/* Does not flush: call sl_kafka_producer_flush() first to deliver what is
 * queued. Undelivered messages are dropped (they are after the durable
 * position, so a restart from the checkpoint produces them again). */
void sl_kafka_producer_destroy(sl_kafka_producer_t *p);

/* The librdkafka handle, for sl_kafka_ensure_topic() etc. Borrowed. */
rd_kafka_t *sl_kafka_producer_handle(sl_kafka_producer_t *p);
int         sl_kafka_producer_is_transactional(const sl_kafka_producer_t *p);

/* Produces one message (key/value/headers are copied). partition -1 = the
 * partitioner's choice (by key). pos NULL = same position as the previous
 * message (e.g. a checkpoint record). Blocks while the queue is full.
 * Errors: SL_ERR_FATAL (producer failed, see sl_kafka_producer_error),
 * SL_ERR_INVALID (position going backwards, bad topic), SL_ERR_STATE
 * (stopped while waiting, or no transaction begun in transactional mode),
 * SL_ERR_KAFKA (message refused, e.g. too large). */
sl_err_t sl_kafka_produce(sl_kafka_producer_t *p, const char *topic,
                          int32_t partition,
                          const void *key, size_t key_len,
                          const void *value, size_t value_len,
                          const sl_kafka_header_t *headers, size_t nheaders,
                          const sl_pos_t *pos,
                          char *errstr, size_t errstr_size);

/* Serves delivery reports for up to timeout_ms. Returns the number served. */
int sl_kafka_producer_poll(sl_kafka_producer_t *p, int timeout_ms);

/* Waits until every queued message is acknowledged (or failed). SL_OK when
 * all are delivered; SL_ERR_TIMEOUT, SL_ERR_FATAL or SL_ERR_STATE (stop). */
sl_err_t sl_kafka_producer_flush(sl_kafka_producer_t *p, int timeout_ms,
                                 char *errstr, size_t errstr_size);

/* SL_OK while healthy; otherwise the error that failed the producer, with
 * its sentence copied into errstr (topic, partition, position, cause). */
sl_err_t sl_kafka_producer_error(const sl_kafka_producer_t *p,
                                 char *errstr, size_t errstr_size);

/* Copies the durable position into *out and returns 1; returns 0 (and
 * leaves *out alone) while nothing is durable yet. */
int sl_kafka_producer_durable(const sl_kafka_producer_t *p, sl_pos_t *out);
/* Messages produced and not yet acknowledged. */
size_t sl_kafka_producer_inflight(const sl_kafka_producer_t *p);

/* Transactions (transactional.id set). The caller groups many source
 * transactions per Kafka transaction: a commit costs ~20 ms.
 * init retries while the coordinator / __transaction_state is not ready,
 * up to timeout_ms (-1 = 60 s). commit moves the durable position to the
 * last position produced in the transaction only once Kafka confirms the
 * commit. A failed commit that requires abort is aborted here and returns
 * SL_ERR_KAFKA: the caller produces again from the durable position.
 * abort discards the transaction's messages (the durable position stays). */
sl_err_t sl_kafka_txn_init(sl_kafka_producer_t *p, int timeout_ms,
                           char *errstr, size_t errstr_size);
sl_err_t sl_kafka_txn_begin(sl_kafka_producer_t *p,
                            char *errstr, size_t errstr_size);
sl_err_t sl_kafka_txn_commit(sl_kafka_producer_t *p, int timeout_ms,
                             char *errstr, size_t errstr_size);
sl_err_t sl_kafka_txn_abort(sl_kafka_producer_t *p, int timeout_ms,
                            char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------- admin */

/* Creates topic `name` unless it exists (TOPIC_ALREADY_EXISTS is SL_OK).
 * config: topic configs such as cleanup.policy=compact (may be NULL).
 * replication -1 = broker default. Works on any handle (producer or
 * consumer). */
sl_err_t sl_kafka_ensure_topic(rd_kafka_t *rk, const char *name,
                               int partitions, int replication,
                               const sl_kvlist_t *config, int timeout_ms,
                               char *errstr, size_t errstr_size);

/* Number of partitions of a topic from a metadata request; SL_ERR_NOT_FOUND
 * when the topic does not exist. */
sl_err_t sl_kafka_partition_count(rd_kafka_t *rk, const char *topic,
                                  int timeout_ms, int *count,
                                  char *errstr, size_t errstr_size);

/* The low and high watermarks of topic [partition] asked of the broker (a
 * ListOffsets request, up to timeout_ms). Works on any handle. */
sl_err_t sl_kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition,
                             int64_t *low, int64_t *high, int timeout_ms,
                             char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- consumer */

/* Start offsets for sl_kafka_consumer_assign (or an explicit offset >= 0). */
#define SL_KAFKA_OFFSET_BEGINNING (-2)     /* RD_KAFKA_OFFSET_BEGINNING (checked in sl_kafka.c) */
#define SL_KAFKA_OFFSET_END       (-1)     /* RD_KAFKA_OFFSET_END */
#define SL_KAFKA_OFFSET_STORED    (-1000)  /* RD_KAFKA_OFFSET_STORED */

typedef struct sl_kafka_consumer_s sl_kafka_consumer_t;

/* One consumed message. A view: every pointer is borrowed from the consumer
 * and valid until the next sl_kafka_consume() or destroy. */
typedef struct sl_kafka_msg_s {
    int         eof;           /* 1: partition EOF notice, no message */
    const char *topic;
    int32_t     partition;
    int64_t     offset;
    const void *key;           /* NULL when the message has no key */
    size_t      key_len;
    const void *value;         /* NULL when the message has no value */
    size_t      value_len;
    int64_t     timestamp_ms;  /* -1 when not available */
    rd_kafka_message_t *rkm;   /* the underlying message (NULL for EOF); its headers
                                * are parsed only when sl_kafka_msg_header() asks */
} sl_kafka_msg_t;

/* Creates a consumer: isolation.level=read_committed,
 * enable.auto.commit=false, enable.auto.offset.store=false,
 * enable.partition.eof=true; props pass through (borrowed). group_id may be
 * NULL for assign-only use (no commits then). The caller owns *out. */
sl_err_t sl_kafka_consumer_new(sl_kafka_consumer_t **out,
                               const sl_kvlist_t *props, const char *group_id,
                               int connect_timeout_ms,
                               char *errstr, size_t errstr_size);
/* The configuration sl_kafka_consumer_new would build, checked whole by
 * librdkafka without connecting (--check). SL_ERR_INVALID names the property. */
sl_err_t sl_kafka_consumer_check(const sl_kvlist_t *props, const char *group_id,
                                 char *errstr, size_t errstr_size);
void     sl_kafka_consumer_destroy(sl_kafka_consumer_t *c);
rd_kafka_t *sl_kafka_consumer_handle(sl_kafka_consumer_t *c);
/* Commits `next` (the offset of the next message to read) as the consumer
 * group's offset of topic [partition], asynchronously (an error here is a
 * local one; the broker's answer is not waited for). Informative only for
 * shiftlog (positions live in the targets / the checkpoint): it lets Kafka
 * tools show the lag. */
sl_err_t sl_kafka_consumer_commit_at(sl_kafka_consumer_t *c, const char *topic, int32_t partition,
                                  int64_t next, char *errstr, size_t errstr_size);
/* What is waiting for the application on one assigned partition, from what
 * librdkafka already knows (no request): *next = the offset of the next
 * message the application gets (-1 unknown), *high = the partition's high
 * watermark as last fetched (-1 unknown). Callable from any thread. */
void     sl_kafka_consumer_backlog(sl_kafka_consumer_t *c, const char *topic,
                                   int32_t partition, int64_t *next, int64_t *high);

/* Assigns partition `partition` of topic (or every partition when -1) at
 * `offset` (SL_KAFKA_OFFSET_* or an explicit offset). Replaces any previous
 * assignment. *nassigned (may be NULL) receives the partition count. */
sl_err_t sl_kafka_consumer_assign(sl_kafka_consumer_t *c, const char *topic,
                                  int32_t partition, int64_t offset,
                                  int timeout_ms, int *nassigned,
                                  char *errstr, size_t errstr_size);
/* Subscribes by group (group_id required); offsets resume from the group's
 * committed ones (auto.offset.reset decides otherwise). */
sl_err_t sl_kafka_consumer_subscribe(sl_kafka_consumer_t *c,
                                     const char *const *topics, size_t ntopics,
                                     char *errstr, size_t errstr_size);

/* Waits up to timeout_ms for a message or a partition EOF notice. Messages
 * are taken from librdkafka's queue in batches of up to SL_KAFKA_CONSUME_BATCH
 * (one queue round trip for many messages); an assign drops the rest of a
 * batch taken before it.
 * SL_OK: *msg filled (msg->eof says which). SL_ERR_TIMEOUT: nothing came.
 * SL_ERR_KAFKA: a consume error naming topic/partition/offset (the consumer
 * goes on; call again). SL_ERR_FATAL: the consumer cannot continue. */
sl_err_t sl_kafka_consume(sl_kafka_consumer_t *c, int timeout_ms,
                          sl_kafka_msg_t *msg,
                          char *errstr, size_t errstr_size);

/* Header idx of a message (0, 1, ...): name and value are borrowed like the
 * message. Returns SL_ERR_NOT_FOUND past the end. */
sl_err_t sl_kafka_msg_header(const sl_kafka_msg_t *msg, size_t idx,
                             const char **name, const void **value,
                             size_t *len);

/* Marks msg processed: its offset + 1 is what the next commit records. */
sl_err_t sl_kafka_consumer_store_offset(sl_kafka_consumer_t *c,
                                        const sl_kafka_msg_t *msg,
                                        char *errstr, size_t errstr_size);
/* Commits the stored offsets synchronously. */
sl_err_t sl_kafka_consumer_commit(sl_kafka_consumer_t *c,
                                  char *errstr, size_t errstr_size);

/* -------------------------------------------------- durable-position ring */

/* The in-flight tracker inside the producer, public for unit tests.
 * Entries are added in produce order with non-decreasing positions; acks
 * may arrive in any order. durable = the position of the longest fully
 * acknowledged prefix, moved only where the next pending entry has a
 * strictly greater position. In txn mode durability is granted by
 * sl_kafka_posring_commit() instead of by acks alone. */
typedef struct sl_kafka_posring_s {
    sl_pos_t *pos;         /* cap entries */
    uint8_t  *acked;
    size_t    cap;
    uint64_t  head;        /* sequence of the oldest pending entry */
    uint64_t  tail;        /* sequence the next add gets */
    int       txn;         /* 1: durability comes from commit */
    sl_pos_t  last;        /* last position added */
    int       has_last;
    sl_pos_t  acked_upto;  /* longest acknowledged prefix */
    int       has_acked;
    sl_pos_t  durable;
    int       has_durable;
} sl_kafka_posring_t;

sl_err_t sl_kafka_posring_init(sl_kafka_posring_t *r, size_t cap, int txn);
void     sl_kafka_posring_free(sl_kafka_posring_t *r);
int      sl_kafka_posring_full(const sl_kafka_posring_t *r);
/* Adds an entry (pos NULL = same as the last one); *seq receives its
 * sequence. SL_ERR_INVALID when pos < last, SL_ERR_STATE when full. */
sl_err_t sl_kafka_posring_add(sl_kafka_posring_t *r, const sl_pos_t *pos,
                              uint64_t *seq);
/* Acknowledges entry seq; advances acked_upto (and durable unless txn). */
void     sl_kafka_posring_ack(sl_kafka_posring_t *r, uint64_t seq);
/* Txn committed: every entry is acked; durable = last added. */
void     sl_kafka_posring_commit(sl_kafka_posring_t *r);
/* Txn aborted: drop pending entries; last/acked go back to durable. */
void     sl_kafka_posring_abort(sl_kafka_posring_t *r);
size_t   sl_kafka_posring_pending(const sl_kafka_posring_t *r);

#endif
