/* shiftlog-applier: the interface every change source of a task implements.
 *
 * A source hands the consume loop (consume.c) the records of one Kafka
 * partition's messages in offset order, each with the Kafka offset of its
 * message and its first row in that message (app_msg_t), so that a target's
 * stored position (kafkaoffset, subOffset) means the same whichever source
 * the records came from:
 *   Kafka     source_kafka.c (app_source_kafka): the topic itself;
 *   mongolog  source_mongolog.c (app_source_mongolog): the miner's shared
 *             log, in position order, the same records rebuilt from its
 *             documents.
 * The consume loop keeps the policy: grouping into target transactions
 * (txn.c), dead letters, suspend / recovery, the lease, reconnecting the
 * target, and the hand-over from the shared log to the topic, which is a
 * switch from one source to the other at the offset the log was read up to.
 * A source never sees the loop's state: it gets the task's configuration,
 * the transaction assembler for seeding schemas, and a state callback.
 *
 * source.type = direct (direct.h) is not behind this interface: it copies
 * tables by keyset chunks on worker threads with a progress row of its own
 * and no Kafka offsets, so it has its own run (app_direct_run) over the same
 * target ops; what it shares with the change sources is the target.
 *
 * Lifecycle (one thread, the service's main thread):
 *
 *   open → { prepare → seek → next* }* → close
 *
 *   open     the reader's connections (a mongolog source: SL_ERR_DB while the
 *            log cannot be reached, the caller retries)
 *   prepare  on every (re)start from the target's stored position pos
 *            (NULL: none): wait for what must exist first (the topic), and
 *            with seed (the task's first start, whichever source), seed txn
 *            with the table schemas in force at pos. SL_ERR_DB: transient, the caller retries the restart;
 *            SL_ERR_TIMEOUT: stopping; anything else stops the task
 *   seek     read next after pos (NULL: from the start: source.start.* or
 *            the topic's beginning), or from Kafka offset `from` when >= 0
 *            (a resumed table's catch-up, the hand-over)
 *   next     the next record into rec (reset first) and m. wait_ms > 0 is a
 *            call right after SL_ERR_TIMEOUT, when the loop has nothing else
 *            to do: Kafka waits up to wait_ms for a message; a source that
 *            cannot be woken (the log) sleeps its own poll interval and
 *            returns SL_ERR_TIMEOUT, and the loop asks again with 0.
 *              SL_OK           a record
 *              SL_ERR_TIMEOUT  none now (drained / caught up with the log)
 *              SL_ERR_DECODE   m->kmsg is a message that cannot be decoded
 *                              (errstr says why): dead-lettered by the loop
 *              other           ask classify
 *   classify what an error of next means: APP_SRC_TRANSIENT (logged as a
 *            warning, retried after retry_ms) or APP_SRC_FATAL (the complete
 *            transactions read are committed, then the task stops)
 *   close    frees everything (NULL: nothing).
 *
 * Counting: a source increments conf->m_records for every message (Kafka) or
 * record (log) it reads, including messages skipped below the stored
 * subOffset. */
#ifndef APP_SOURCE_H
#define APP_SOURCE_H

#include "applier.h"

typedef enum app_src_end_e {
    APP_SRC_TRANSIENT = 0,
    APP_SRC_FATAL
} app_src_end_t;

typedef struct app_source_ops_s app_source_ops_t;

/* What a source is given; borrowed, valid until close. */
typedef struct app_source_conf_s {
    const app_conf_t *c;
    sl_service_t     *svc;
    app_mapping_t    *mapping;      /* the tables the task needs */
    sl_metric_t      *m_records;
    int               after_log;    /* Kafka: the task read the shared log before (the
                                       topic's early part may be gone) */
    app_state_fn     *state;        /* "waiting_topic" with a reason, "running" */
    void             *arg;
} app_source_conf_t;

/* The common head of every source: a source's struct embeds it first. */
typedef struct app_source_s {
    const app_source_ops_t  *ops;
    const app_source_conf_t *conf;
} app_source_t;

struct app_source_ops_s {
    const char *kind;               /* source.type: "kafka", "mongolog" */
    int         retry_ms;           /* the wait after a transient error of next */

    /* *out: a new source (conf copied by reference); freed by close. */
    sl_err_t      (*open)(app_source_t **out, const app_source_conf_t *conf, char *errstr,
                          size_t errstr_size);
    sl_err_t      (*prepare)(app_source_t *s, app_txn_t *txn, const app_position_t *pos,
                             int seed, char *errstr, size_t errstr_size);
    sl_err_t      (*seek)(app_source_t *s, app_txn_t *txn, const app_position_t *pos,
                          int64_t from, char *errstr, size_t errstr_size);
    sl_err_t      (*next)(app_source_t *s, sl_record_t *rec, app_msg_t *m, int wait_ms,
                          char *errstr, size_t errstr_size);
    app_src_end_t (*classify)(const app_source_t *s, sl_err_t err);
    /* The Kafka offset after the last record read (-1: none yet). */
    int64_t       (*position)(const app_source_t *s);
    void          (*close)(app_source_t *s);
};

extern const app_source_ops_t app_source_kafka;
extern const app_source_ops_t app_source_mongolog;

/* The Kafka source's consumer: the watchdog watches its lag, the consume
 * loop commits the consumer group's offset (monitoring) and checks the
 * watermarks before a hand-over with it, whichever source is read. */
sl_kafka_consumer_t *app_source_kafka_consumer(app_source_t *s);

/* The shared-log source's reader (source_mongolog.c): where a hand-over may
 * start, what bounds the read, documents read. */
app_logsrc_t *app_source_mongolog_reader(app_source_t *s);

#endif
