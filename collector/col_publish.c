/* shiftlog-collector: the publishing side shared by every source reader
 * (collector.h): records -> Avro -> <prefix>.<source>, and the source
 * checkpoint in the compacted <prefix>._offsets topic.
 *
 * Checkpoint = the position of the last COMMIT or FINISH record whose
 * records Kafka holds durably. It is never a position inside a source
 * transaction: resuming there would lose the rows of the transaction that
 * precede it (the binlog cannot be entered in the middle of a transaction,
 * and a TABLE_MAP would be missing).
 *
 * Transactional mode (kafka.transactional = true, the default). One Kafka
 * transaction holds many source transactions (a commit costs ~20 ms). It is
 * begun by the first put and committed:
 *   - when it is due (txn.max.ms since it began, or txn.max.messages) AND the
 *     last record put closed a source transaction (COMMIT / FINISH), so that a
 *     source transaction normally never straddles two Kafka transactions;
 *   - or, when a single source transaction keeps it open past 4 x txn.max.ms
 *     (at least 10 s) or 4 x txn.max.messages, in the middle of that source
 *     transaction: Kafka's transaction timeout and the broker's memory are
 *     bounded, a source transaction is not. That is allowed: readers group
 *     records by the COMMIT marker, and the checkpoint stays at the last
 *     COMMIT before it, so after a crash the whole source transaction is
 *     published again, after a FINISH, with the same source positions.
 * Before each Kafka commit the checkpoint record (the last COMMIT/FINISH
 * position put so far) is produced into the same transaction: the topic and
 * the checkpoint move together or not at all; read_committed readers never
 * see records of an aborted attempt.
 *
 * Idempotent mode (kafka.transactional = false). Records are acknowledged
 * one by one; the checkpoint record is written (at most every txn.max.ms)
 * for the highest COMMIT/FINISH position at or below the producer's durable
 * position (every record up to it acknowledged). A crash may leave records
 * after the checkpoint in the topic: they come again after a FINISH with
 * the same positions (at-least-once on the topic, exactly-once by position).
 *
 * Checkpoint record: key = source name, value = JSON
 *   {"source":"shop","pos":"mysql-bin.000003:1234#0@0-1-42","gtid":"0-1-42",
 *    "time":"2026-11-25T16:09:09.123Z","time_us":1795...}
 * (pos in sl_pos text form; time = when it was written). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "col_dbz.h"
#include "collector.h"
#include "sl_avro.h"
#include "sl_kafka.h"
#include "sl_log.h"
#include "sl_name.h"
#include "sl_status.h"

#define PUB_CAND_CAP      4096   /* COMMIT/FINISH positions awaiting acks (idempotent mode) */
#define PUB_TABLE_CACHE   128    /* per-table row counters looked up without the registry */
#define PUB_LOAD_TIMEOUT  30000  /* reading <prefix>._offsets to its end */
#define PUB_TXN_TIMEOUT   60000  /* one commit / abort */
#define PUB_MAX_PARTS     64     /* partitions of <prefix>._offsets read at load */

typedef struct pub_table_metric_s {
    char        *name;
    sl_metric_t *rows;
} pub_table_metric_t;

/* A snapshot progress text and the boundary it belongs to. */
typedef struct pub_prog_s {
    sl_pos_t           pos;
    char              *text;
    struct pub_prog_s *next;
} pub_prog_t;

struct col_pub_s {
    const col_conf_t    *conf;
    sl_metrics_t        *metrics;
    sl_kvlist_t          props;         /* librdkafka properties used */
    sl_kafka_producer_t *prod;
    sl_avro_codec_t     *codec;
    char                 topic[512];
    char                 offsets_topic[512];
    char                 fp_hex[17];
    int                  txn;
    int                  failed;        /* a fatal error was returned: only destroy */
    int                  queue_max;     /* producer queue (and in-flight ring) bound */

    /* transactional mode */
    int                  in_txn;
    int64_t              txn_start_ms;
    uint64_t             txn_msgs;
    int                  mid_source_txn; /* last record put is inside a source txn */
    int64_t              txn_max_ms;     /* txn.max.ms, or what a snapshot set */

    /* the last COMMIT/FINISH put, and the last one written as a checkpoint */
    sl_pos_t             boundary;
    int                  has_boundary;
    sl_pos_t             written;
    int                  has_written;
    int64_t              written_ms;

    /* idempotent mode: boundaries not yet known durable, in put order */
    sl_pos_t            *cand;
    size_t               cand_head, cand_n;

    /* the durable checkpoint */
    sl_pos_t             ckpt;
    int                  has_ckpt;

    /* snapshot progress (col_pub_set_progress): the text set since the last
     * boundary, the texts of boundaries put but not yet in a checkpoint (in
     * put order), and the one stored with the last checkpoint written */
    char                *prog_next;
    pub_prog_t          *prog_head, *prog_tail;
    char                *prog_ckpt;

    sl_buf_t             key, val, posbuf;
    col_dbz_t           *dbz;           /* output.debezium (NULL: off) */

    /* metrics */
    sl_metric_t         *m_records[4];
    sl_metric_t         *m_queue;
    sl_metric_t         *m_ckpt_seq, *m_ckpt_offset, *m_ckpt_time;
    sl_metric_t         *m_lag;
    sl_metric_t         *m_commits;
    sl_metric_t         *m_bytes;
    pub_table_metric_t   tables[PUB_TABLE_CACHE];
};

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int pos_gt(const sl_pos_t *a, const sl_pos_t *b)
{
    return sl_pos_cmp(a, b) > 0;
}

/* ------------------------------------------------------------ metrics */

static void register_metrics(col_pub_t *pub)
{
    static const char *const types[4] = {"change", "commit", "finish", "schema"};
    sl_metrics_t *m = pub->metrics;
    if (!m)
        return;
    for (int i = 0; i < 4; i++)
        pub->m_records[i] = sl_metrics_counter(
            m, "shiftlog_collector_records_total",
            "Records published to the source topic, by record type.",
            (const char *[]){"type", types[i], NULL});
    pub->m_queue = sl_metrics_gauge(m, "shiftlog_collector_producer_queue",
                                    "Messages produced and not yet acknowledged by Kafka.",
                                    NULL);
    pub->m_ckpt_seq = sl_metrics_gauge(
        m, "shiftlog_collector_checkpoint_seq",
        "Durable checkpoint: binlog file sequence (MySQL) or commit LSN (PostgreSQL).", NULL);
    pub->m_ckpt_offset = sl_metrics_gauge(
        m, "shiftlog_collector_checkpoint_offset",
        "Durable checkpoint: offset in the binlog file (MySQL) or change LSN (PostgreSQL).",
        NULL);
    pub->m_ckpt_time = sl_metrics_gauge(m, "shiftlog_collector_checkpoint_time_seconds",
                                        "When the checkpoint last moved (Unix time).", NULL);
    pub->m_lag = sl_metrics_gauge(m, "shiftlog_collector_lag_seconds",
                                  "Now minus the source time of the last event read, in s.",
                                  NULL);
    pub->m_commits = sl_metrics_counter(m, "shiftlog_collector_kafka_commits_total",
                                        "Kafka transactions committed.", NULL);
    pub->m_bytes = sl_metrics_counter(m, "shiftlog_collector_bytes_total",
                                      "Bytes of encoded record values published.", NULL);
}

static unsigned long str_hash(const char *a, const char *b)
{
    unsigned long h = 5381;
    for (; *a; a++)
        h = h * 33 + (unsigned char)*a;
    h = h * 33 + '.';
    for (; *b; b++)
        h = h * 33 + (unsigned char)*b;
    return h;
}

static void count_rows(col_pub_t *pub, const char *db, const char *table, uint32_t n)
{
    if (!pub->metrics)
        return;
    char name[512];
    sl_name_format(db, table, name, sizeof(name));   /* one label per (db, table) */
    pub_table_metric_t *slot = &pub->tables[str_hash(db, table) % PUB_TABLE_CACHE];
    if (!slot->name || strcmp(slot->name, name)) {
        sl_metric_t *mt = sl_metrics_counter(pub->metrics, "shiftlog_collector_rows_total",
                                             "Row changes published, by table.",
                                             (const char *[]){"table", name, NULL});
        char *copy = strdup(name);
        if (!copy) {
            sl_metric_add(mt, n);
            return;
        }
        free(slot->name);
        slot->name = copy;
        slot->rows = mt;
    }
    sl_metric_add(slot->rows, n);
}

static void set_ckpt(col_pub_t *pub, const sl_pos_t *pos)
{
    pub->ckpt = *pos;
    pub->has_ckpt = 1;
    sl_metric_set(pub->m_ckpt_seq, (double)pos->seq);
    sl_metric_set(pub->m_ckpt_offset, (double)pos->offset);
    sl_metric_set(pub->m_ckpt_time, (double)wall_us() / 1e6);
    char txt[160];
    sl_pos_format(pos, txt, sizeof txt);
    sl_status_set_position(SL_STATUS_APPLIED, txt);   /* durable in Kafka */
}

/* ------------------------------------------------------------ setup */

/* Adds k = v unless props has k (the user's kafka.* setting wins). */
static int set_default(sl_kvlist_t *props, const char *k, const char *v)
{
    return !sl_kvlist_get(props, k) && sl_kvlist_set(props, k, v);
}

int col_pub_props(const col_conf_t *conf, const sl_kvlist_t *kafka, sl_kvlist_t *props)
{
    char tid[400];
    /* the kafka.* passthrough minus our own key (and a transactional.id when
     * the producer is not transactional) */
    for (size_t i = 0; kafka && i < kafka->n; i++) {
        const char *k = kafka->items[i].key;
        if (!strcmp(k, "transactional") ||
            (!conf->kafka_transactional && !strcmp(k, "transactional.id")))
            continue;
        if (sl_kvlist_set(props, k, kafka->items[i].value))
            return -1;
    }
    if (set_default(props, "bootstrap.servers", conf->kafka_bootstrap))
        return -1;
    if (!conf->kafka_transactional)
        /* never give up on a message: while Kafka is down the queue fills
         * and put() blocks (backpressure) instead of failing */
        return set_default(props, "message.timeout.ms", "0") ? -1 : 0;
    snprintf(tid, sizeof(tid), "shiftlog-collector-%s", conf->source_name);
    /* Kafka down for a while: the open transaction waits this long before it
     * is aborted (then the reader resumes from the checkpoint) */
    return set_default(props, "transactional.id", tid) ||
           set_default(props, "transaction.timeout.ms", "120000") ? -1 : 0;
}

int col_pub_queue_max(const col_conf_t *conf)
{
    /* in transactional mode messages stay in flight until the commit */
    int64_t qmax = conf->txn_max_messages * 2;
    return (int)(qmax < 10000 ? 10000 : qmax > 100000 ? 100000 : qmax);
}

sl_err_t col_pub_new(col_pub_t **out, const col_conf_t *conf, const sl_kvlist_t *kafka,
                     sl_metrics_t *metrics, char *errstr, size_t errstr_size)
{
    sl_err_t err = SL_ERR_NOMEM;
    *out = NULL;
    col_pub_t *pub = calloc(1, sizeof(*pub));
    if (!pub) {
        snprintf(errstr, errstr_size, "publisher: out of memory");
        return SL_ERR_NOMEM;
    }
    pub->conf = conf;
    pub->metrics = metrics;
    pub->txn = conf->kafka_transactional;
    pub->txn_max_ms = conf->txn_max_ms;
    snprintf(pub->topic, sizeof(pub->topic), "%s.%s", conf->topic_prefix, conf->source_name);
    snprintf(pub->offsets_topic, sizeof(pub->offsets_topic), "%s._offsets",
             conf->topic_prefix);

    if (col_pub_props(conf, kafka, &pub->props))
        goto nomem;
    if (!(pub->cand = calloc(PUB_CAND_CAP, sizeof(*pub->cand))))
        goto nomem;

    if ((err = sl_avro_codec_new(&pub->codec, errstr, errstr_size)))
        goto err;
    snprintf(pub->fp_hex, sizeof(pub->fp_hex), "%016" PRIx64,
             sl_avro_fingerprint(pub->codec));

    pub->queue_max = col_pub_queue_max(conf);
    sl_kafka_producer_conf_t pc = {
        .props = &pub->props,
        .queue_max_messages = pub->queue_max,
        .queue_max_kbytes = 65536,
        .connect_timeout_ms = 10000,
        .stop = sl_service_stop_flag(),
    };
    if ((err = sl_kafka_producer_new(&pub->prod, &pc, errstr, errstr_size)))
        goto err;

    rd_kafka_t *rk = sl_kafka_producer_handle(pub->prod);
    sl_kvlist_t compact = SL_KVLIST_INIT;
    if (sl_kvlist_set(&compact, "cleanup.policy", "compact")) {
        sl_kvlist_free(&compact);
        goto nomem;
    }
    err = sl_kafka_ensure_topic(rk, pub->topic, (int)conf->topic_partitions,
                                (int)conf->topic_replication, NULL, 30000, errstr,
                                errstr_size);
    if (!err)
        err = sl_kafka_ensure_topic(rk, pub->offsets_topic, 1, (int)conf->topic_replication,
                                    &compact, 30000, errstr, errstr_size);
    sl_kvlist_free(&compact);
    if (err)
        goto err;
    if (pub->txn && (err = sl_kafka_txn_init(pub->prod, -1, errstr, errstr_size)))
        goto err;
    register_metrics(pub);
    if ((err = col_dbz_new(&pub->dbz, conf, pub->prod, pub->metrics)))
        goto nomem;
    sl_info("publishing to topic %s (%s producer), checkpoints in %s", pub->topic,
            pub->txn ? "transactional" : "idempotent", pub->offsets_topic);
    *out = pub;
    return SL_OK;
nomem:
    snprintf(errstr, errstr_size, "publisher: out of memory");
    err = SL_ERR_NOMEM;
err:
    col_pub_destroy(pub);
    return err;
}

void col_pub_destroy(col_pub_t *pub)
{
    if (!pub)
        return;
    col_dbz_destroy(pub->dbz);
    sl_kafka_producer_destroy(pub->prod);   /* an open Kafka transaction is aborted by
                                               the broker (or fenced by the next start) */
    sl_avro_codec_destroy(pub->codec);
    sl_kvlist_free(&pub->props);
    sl_buf_free(&pub->key);
    sl_buf_free(&pub->val);
    sl_buf_free(&pub->posbuf);
    for (size_t i = 0; i < PUB_TABLE_CACHE; i++)
        free(pub->tables[i].name);
    free(pub->cand);
    free(pub->prog_next);
    free(pub->prog_ckpt);
    while (pub->prog_head) {
        pub_prog_t *p = pub->prog_head;
        pub->prog_head = p->next;
        free(p->text);
        free(p);
    }
    free(pub);
}

/* ------------------------------------------------------------ checkpoint load */

/* The string value of "field" in our own flat JSON object (no nesting, the
 * escapes sl_buf_json_str writes). Returns 0 when absent. */
static int json_field(const char *js, size_t len, const char *field, char *out, size_t outsz)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", field);
    const char *end = js + len;
    const char *p = memmem(js, len, pat, strlen(pat));
    if (!p)
        return 0;
    p += strlen(pat);
    size_t n = 0;
    for (; p < end && *p != '"'; p++) {
        char c = *p;
        if (c == '\\' && p + 1 < end) {
            c = *++p;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
        }
        if (n + 1 < outsz)
            out[n++] = c;
    }
    if (outsz)
        out[n] = '\0';
    return p < end;
}

/* json_field into a new string (NULL when absent or out of memory). */
static char *json_field_dup(const char *js, size_t len, const char *field)
{
    char *out = malloc(len + 1);
    if (out && !json_field(js, len, field, out, len + 1)) {
        free(out);
        out = NULL;
    }
    return out;
}

sl_err_t col_pub_checkpoint_load(col_pub_t *pub, sl_pos_t *pos, char *errstr,
                                 size_t errstr_size)
{
    sl_err_t err;
    sl_kafka_consumer_t *c = NULL;
    sl_kvlist_t props = SL_KVLIST_INIT;
    int nparts = 0, neof = 0, found = 0;
    int64_t hw[PUB_MAX_PARTS], eof_at[PUB_MAX_PARTS];
    char last[512] = "";
    const char *src = pub->conf->source_name;
    size_t srclen = strlen(src);

    /* connection and security properties apply to the consumer too;
     * producer-only ones are left out (librdkafka would warn about them) */
    static const char *const skip[] = {
        "transactional.id", "transaction.timeout.ms", "message.timeout.ms", "linger.ms",
        "compression.type", "compression.codec", "batch.num.messages", "batch.size",
        "queue.buffering.max.ms", "queue.buffering.max.messages",
        "queue.buffering.max.kbytes", "enable.idempotence", "acks",
        "request.required.acks", "retries", "message.send.max.retries",
        "max.in.flight.requests.per.connection", "max.in.flight", "partitioner", NULL};
    for (size_t i = 0; i < pub->props.n; i++) {
        int s = 0;
        for (size_t j = 0; skip[j]; j++)
            s |= !strcmp(pub->props.items[i].key, skip[j]);
        if (!s && sl_kvlist_set(&props, pub->props.items[i].key, pub->props.items[i].value)) {
            snprintf(errstr, errstr_size, "checkpoint: out of memory");
            err = SL_ERR_NOMEM;
            goto out;
        }
    }
    if ((err = sl_kafka_consumer_new(&c, &props, NULL, 10000, errstr, errstr_size)) ||
        (err = sl_kafka_consumer_assign(c, pub->offsets_topic, -1, SL_KAFKA_OFFSET_BEGINNING,
                                        10000, &nparts, errstr, errstr_size)))
        goto out;
    /* The end to read to: each partition's high watermark now. A read_committed
     * reader reaches "EOF" at the last stable offset, which stays below it while
     * a Kafka transaction is unfinished — e.g. for a while after the broker
     * restarted, a commit it had acknowledged but not yet marked. Taking that
     * early EOF for the end read "no checkpoint" and restarted from
     * start.position (duplicates, or a loss with start.position = latest). */
    rd_kafka_t *crk = sl_kafka_consumer_handle(c);
    for (int i = 0; i < nparts && i < PUB_MAX_PARTS; i++) {
        int64_t lo = 0;
        eof_at[i] = -1;
        char why[256];
        if (sl_kafka_watermarks(crk, pub->offsets_topic, i, &lo, &hw[i], 10000, why,
                                sizeof why))
            hw[i] = 0;                    /* unknown: the first EOF will do */
    }
    int64_t deadline = sl_service_now_ms() + PUB_LOAD_TIMEOUT;
    while (neof < nparts) {
        if (sl_service_stopping()) {
            snprintf(errstr, errstr_size, "checkpoint: stopped while reading %s",
                     pub->offsets_topic);
            err = SL_ERR_STATE;
            goto out;
        }
        if (sl_service_now_ms() > deadline) {
            int64_t st = -1, end = -1;
            for (int i = 0; i < nparts && i < PUB_MAX_PARTS; i++)
                if (eof_at[i] >= 0 && eof_at[i] < hw[i]) {
                    st = eof_at[i];
                    end = hw[i];
                }
            if (st >= 0)
                snprintf(errstr, errstr_size,
                         "checkpoint: topic %s holds an unfinished Kafka transaction "
                         "(committed records end at offset %" PRId64 ", the log at %" PRId64
                         ") after %d ms: waiting for it before reading the checkpoint",
                         pub->offsets_topic, st, end, PUB_LOAD_TIMEOUT);
            else
                snprintf(errstr, errstr_size,
                         "checkpoint: could not read topic %s to its end within %d ms "
                         "(%d of %d partitions done); is Kafka healthy?",
                         pub->offsets_topic, PUB_LOAD_TIMEOUT, neof, nparts);
            err = SL_ERR_TIMEOUT;
            goto out;
        }
        sl_kafka_msg_t m;
        err = sl_kafka_consume(c, 500, &m, errstr, errstr_size);
        if (err == SL_ERR_TIMEOUT || err == SL_ERR_KAFKA) {
            if (err == SL_ERR_KAFKA)
                sl_warn("checkpoint: %s", errstr);
            continue;
        }
        if (err)
            goto out;
        if (m.eof) {
            int i = m.partition;
            if (i >= 0 && i < PUB_MAX_PARTS) {
                if (eof_at[i] < hw[i] && m.offset >= hw[i])
                    neof++;               /* at (or past) the end seen at the start */
                eof_at[i] = m.offset;
            } else {
                neof++;
            }
            continue;
        }
        if (m.key && m.key_len == srclen && !memcmp(m.key, src, srclen) && m.value) {
            if (json_field(m.value, m.value_len, "pos", last, sizeof(last))) {
                found = 1;
                free(pub->prog_ckpt);
                pub->prog_ckpt = json_field_dup(m.value, m.value_len, "snapshot");
            }
        } else if (m.key && m.key_len == srclen && !memcmp(m.key, src, srclen)) {
            found = 0;                  /* a tombstone: the checkpoint was deleted */
        }
    }
    if (!found) {
        err = SL_ERR_NOT_FOUND;
        snprintf(errstr, errstr_size, "no checkpoint of source \"%s\" in %s", src,
                 pub->offsets_topic);
        goto out;
    }
    if ((err = sl_pos_parse(last, pos, errstr, errstr_size)))
        goto out;
    set_ckpt(pub, pos);
    pub->written = *pos;
    pub->has_written = 1;
    err = SL_OK;
out:
    sl_kafka_consumer_destroy(c);
    sl_kvlist_free(&props);
    return err;
}

/* ------------------------------------------------------------ producing */

static sl_err_t fail(col_pub_t *pub, sl_err_t err)
{
    if (err == SL_ERR_FATAL)
        pub->failed = 1;
    return err;
}

/* Produces the checkpoint record for pub->boundary (pos NULL: it rides on
 * the position of the message before it). */
static sl_err_t write_checkpoint(col_pub_t *pub, const sl_pos_t *pos, char *errstr,
                                 size_t errstr_size)
{
    char pt[256], ts[40];
    int64_t now = wall_us();
    time_t secs = (time_t)(now / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03dZ", (int)(now / 1000 % 1000));
    sl_pos_format(pos, pt, sizeof(pt));
    sl_buf_t *v = &pub->val;
    sl_buf_reset(v);
    sl_buf_puts(v, "{\"source\":");
    sl_buf_json_str(v, pub->conf->source_name, strlen(pub->conf->source_name));
    sl_buf_puts(v, ",\"pos\":");
    sl_buf_json_str(v, pt, strlen(pt));
    sl_buf_puts(v, ",\"gtid\":");
    sl_buf_json_str(v, pos->gtid, strlen(pos->gtid));
    /* the snapshot progress of the last boundary at or before pos */
    while (pub->prog_head && sl_pos_cmp(&pub->prog_head->pos, pos) <= 0) {
        pub_prog_t *p = pub->prog_head;
        pub->prog_head = p->next;
        if (!pub->prog_head)
            pub->prog_tail = NULL;
        free(pub->prog_ckpt);
        pub->prog_ckpt = p->text;
        free(p);
    }
    if (pub->prog_ckpt) {
        sl_buf_puts(v, ",\"snapshot\":");
        sl_buf_json_str(v, pub->prog_ckpt, strlen(pub->prog_ckpt));
    }
    sl_buf_printf(v, ",\"time\":\"%s\",\"time_us\":%" PRId64 "}", ts, now);
    sl_kafka_header_t h[1] = {{SL_KAFKA_H_SOURCE, pub->conf->source_name,
                               strlen(pub->conf->source_name)}};
    sl_err_t err = sl_kafka_produce(pub->prod, pub->offsets_topic, 0, pub->conf->source_name,
                                    strlen(pub->conf->source_name), v->data, v->len, h, 1,
                                    NULL, errstr, errstr_size);
    if (err)
        return fail(pub, err == SL_ERR_STATE ? SL_ERR_STATE : SL_ERR_FATAL);
    pub->written = *pos;
    pub->has_written = 1;
    pub->written_ms = sl_service_now_ms();
    return SL_OK;
}

static sl_err_t txn_commit(col_pub_t *pub, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    if (!pub->in_txn)
        return SL_OK;
    int ck = pub->has_boundary && (!pub->has_written || pos_gt(&pub->boundary, &pub->written));
    sl_pos_t b = pub->boundary;
    if (ck && (err = write_checkpoint(pub, &b, errstr, errstr_size)))
        return err;
    int64_t t0 = sl_service_now_ms();
    err = sl_kafka_txn_commit(pub->prod, PUB_TXN_TIMEOUT, errstr, errstr_size);
    sl_debug("kafka transaction of %" PRIu64 " records committed in %" PRId64 " ms",
             pub->txn_msgs, sl_service_now_ms() - t0);
    pub->in_txn = 0;
    if (err) {
        /* aborted or failed: the records after the checkpoint are gone from
         * what read_committed readers see; the reader starts again from the
         * checkpoint with a new publisher */
        return fail(pub, SL_ERR_FATAL);
    }
    sl_metric_inc(pub->m_commits);
    if (pub->has_written)
        set_ckpt(pub, &pub->written);
    return SL_OK;
}

static int txn_due(const col_pub_t *pub, int64_t now, int force)
{
    const col_conf_t *c = pub->conf;
    int64_t age = now - pub->txn_start_ms, max_ms = pub->txn_max_ms;
    uint64_t msgs = pub->txn_msgs;
    if (!force)
        return age >= max_ms || msgs >= (uint64_t)c->txn_max_messages;
    int64_t hard_ms = max_ms * 4 > 10000 ? max_ms * 4 : 10000;
    return age >= hard_ms || msgs >= (uint64_t)c->txn_max_messages * 4;
}

static sl_err_t maybe_commit(col_pub_t *pub, char *errstr, size_t errstr_size)
{
    if (!pub->in_txn)
        return SL_OK;
    int64_t now = sl_service_now_ms();
    if (pub->mid_source_txn ? txn_due(pub, now, 1) : txn_due(pub, now, 0))
        return txn_commit(pub, errstr, errstr_size);
    return SL_OK;
}

/* Idempotent mode: moves the checkpoint to the highest boundary that is
 * durable and writes it when due (or when force). */
static sl_err_t idem_advance(col_pub_t *pub, int force, char *errstr, size_t errstr_size)
{
    sl_pos_t durable;
    if (!sl_kafka_producer_durable(pub->prod, &durable))
        return SL_OK;
    int moved = 0;
    sl_pos_t best;
    while (pub->cand_n) {
        const sl_pos_t *c = &pub->cand[pub->cand_head];
        if (sl_pos_cmp(c, &durable) > 0)
            break;
        best = *c;
        moved = 1;
        pub->cand_head = (pub->cand_head + 1) % PUB_CAND_CAP;
        pub->cand_n--;
    }
    if (moved)
        set_ckpt(pub, &best);
    if (pub->has_ckpt && (!pub->has_written || pos_gt(&pub->ckpt, &pub->written)) &&
        (force || sl_service_now_ms() - pub->written_ms >= pub->conf->txn_max_ms)) {
        sl_pos_t ck = pub->ckpt;
        return write_checkpoint(pub, &ck, errstr, errstr_size);
    }
    return SL_OK;
}

sl_err_t col_pub_put(col_pub_t *pub, const sl_record_t *rec, char *errstr,
                     size_t errstr_size)
{
    sl_err_t err;
    const void *buf;
    size_t len;
    char fph[17];
    if (pub->failed) {
        snprintf(errstr, errstr_size, "publisher failed earlier");
        return SL_ERR_FATAL;
    }
    if (pub->txn && pub->in_txn &&
        sl_kafka_producer_inflight(pub->prod) + 16 >= (size_t)pub->queue_max &&
        (err = txn_commit(pub, errstr, errstr_size)))
        return err;                    /* the in-flight ring is full: only a commit frees it */
    if (pub->txn && !pub->in_txn) {
        if ((err = sl_kafka_txn_begin(pub->prod, errstr, errstr_size)))
            return fail(pub, SL_ERR_FATAL);
        pub->in_txn = 1;
        pub->txn_start_ms = sl_service_now_ms();
        pub->txn_msgs = 0;
    }
    if (!pub->txn && pub->cand_n == PUB_CAND_CAP &&
        (rec->type == SL_REC_COMMIT || rec->type == SL_REC_FINISH)) {
        /* many small transactions in flight: wait for acks to free a slot */
        while (pub->cand_n == PUB_CAND_CAP) {
            sl_kafka_producer_poll(pub->prod, 100);
            if ((err = idem_advance(pub, 0, errstr, errstr_size)))
                return err;
            if (sl_kafka_producer_error(pub->prod, errstr, errstr_size))
                return fail(pub, SL_ERR_FATAL);
            if (sl_service_stopping()) {
                snprintf(errstr, errstr_size, "stopped while waiting for Kafka");
                return SL_ERR_STATE;
            }
        }
    }
    if ((err = sl_avro_encode(pub->codec, rec, &buf, &len, errstr, errstr_size)))
        return err;

    /* key and headers */
    const char *db = NULL, *table = NULL, *txn = NULL, *op;
    sl_buf_t *k = &pub->key;
    sl_buf_reset(k);
    if (rec->type == SL_REC_CHANGE || rec->type == SL_REC_SCHEMA) {
        db = rec->type == SL_REC_CHANGE ? rec->u.change.db : rec->u.schema.db;
        table = rec->type == SL_REC_CHANGE ? rec->u.change.table : rec->u.schema.table;
        char name[600];                  /* the key and sl.table: the name form */
        sl_buf_puts(k, sl_name_format(db, table, name, sizeof(name)));
    } else {
        sl_buf_puts(k, rec->source);
    }
    op = rec->type == SL_REC_CHANGE ? sl_op_name(rec->u.change.op) : sl_rec_type_name(rec->type);
    if (rec->type == SL_REC_CHANGE)
        txn = rec->u.change.txn;
    else if (rec->type == SL_REC_COMMIT)
        txn = rec->u.commit.txn;
    sl_buf_reset(&pub->posbuf);
    sl_buf_reserve(&pub->posbuf, 200);
    int pl = sl_pos_format(&rec->pos, pub->posbuf.data, pub->posbuf.cap);
    memcpy(fph, pub->fp_hex, sizeof(fph));
    sl_kafka_header_t h[6];
    size_t n = 0;
    h[n++] = (sl_kafka_header_t){SL_KAFKA_H_SOURCE, rec->source, strlen(rec->source)};
    if (db)
        h[n++] = (sl_kafka_header_t){SL_KAFKA_H_TABLE, k->data, k->len};
    h[n++] = (sl_kafka_header_t){SL_KAFKA_H_OP, op, strlen(op)};
    h[n++] = (sl_kafka_header_t){SL_KAFKA_H_POS, pub->posbuf.data,
                                 (size_t)pl < pub->posbuf.cap ? (size_t)pl : pub->posbuf.cap - 1};
    if (txn && *txn)
        h[n++] = (sl_kafka_header_t){SL_KAFKA_H_TXN, txn, strlen(txn)};
    h[n++] = (sl_kafka_header_t){SL_KAFKA_H_SCHEMA, fph, 16};

    err = sl_kafka_produce(pub->prod, pub->topic, -1, k->data, k->len, buf, len, h, n,
                           &rec->pos, errstr, errstr_size);
    if (err == SL_ERR_KAFKA && len > (size_t)pub->conf->batch_max_bytes)
        return err;                    /* too large a single row: the reader says which */
    if (!err && (err = col_dbz_put(pub->dbz, rec, errstr, errstr_size)) == SL_ERR_KAFKA)
        return err;                    /* a Debezium message the broker refuses: named, no retry */
    if (err)
        return fail(pub, err == SL_ERR_STATE || err == SL_ERR_INVALID ? err : SL_ERR_FATAL);

    /* bookkeeping */
    sl_metric_inc(pub->m_records[rec->type]);
    sl_metric_add(pub->m_bytes, len);
    int64_t ev_us = 0;
    switch (rec->type) {
    case SL_REC_CHANGE:
        count_rows(pub, db, table, rec->u.change.nrows);
        ev_us = rec->u.change.event_time_us;
        pub->mid_source_txn = 1;
        break;
    case SL_REC_SCHEMA:
        break;
    case SL_REC_COMMIT:
    case SL_REC_FINISH:
        ev_us = rec->type == SL_REC_COMMIT ? rec->u.commit.event_time_us : 0;
        pub->boundary = rec->pos;
        pub->has_boundary = 1;
        pub->mid_source_txn = 0;
        if (pub->prog_next) {
            pub_prog_t *p = malloc(sizeof(*p));
            if (!p) {
                snprintf(errstr, errstr_size, "out of memory");
                return fail(pub, SL_ERR_FATAL);
            }
            p->pos = rec->pos;
            p->text = pub->prog_next;
            p->next = NULL;
            pub->prog_next = NULL;
            if (pub->prog_tail)
                pub->prog_tail->next = p;
            else
                pub->prog_head = p;
            pub->prog_tail = p;
        }
        if (!pub->txn) {
            pub->cand[(pub->cand_head + pub->cand_n) % PUB_CAND_CAP] = rec->pos;
            pub->cand_n++;
        }
        break;
    }
    if (ev_us > 0) {
        int64_t lag = (wall_us() - ev_us) / 1000;
        sl_metric_set(pub->m_lag, lag > 0 ? (double)lag / 1000.0 : 0.0);
    }
    pub->txn_msgs++;
    if (pub->txn)
        return maybe_commit(pub, errstr, errstr_size);
    if ((pub->txn_msgs & 255) == 0)
        return idem_advance(pub, 0, errstr, errstr_size);
    return SL_OK;
}

sl_err_t col_pub_service(col_pub_t *pub, int timeout_ms, char *errstr, size_t errstr_size)
{
    if (pub->failed) {
        snprintf(errstr, errstr_size, "publisher failed earlier");
        return SL_ERR_FATAL;
    }
    sl_kafka_producer_poll(pub->prod, timeout_ms);
    sl_metric_set(pub->m_queue, (double)sl_kafka_producer_inflight(pub->prod));
    if (sl_kafka_producer_error(pub->prod, errstr, errstr_size))
        return fail(pub, SL_ERR_FATAL);
    if (pub->txn)
        return maybe_commit(pub, errstr, errstr_size);
    return idem_advance(pub, 0, errstr, errstr_size);
}

int col_pub_checkpoint(const col_pub_t *pub, sl_pos_t *out)
{
    if (!pub->has_ckpt)
        return 0;
    *out = pub->ckpt;
    return 1;
}

sl_err_t col_pub_close(col_pub_t *pub, int timeout_ms, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    if (pub->failed) {
        snprintf(errstr, errstr_size, "publisher failed earlier");
        return SL_ERR_FATAL;
    }
    if (pub->txn) {
        /* a source transaction cut here is published again after the FINISH of
         * the next start (the checkpoint is its COMMIT's predecessor) */
        if ((err = txn_commit(pub, errstr, errstr_size)))
            return err;
    } else {
        if ((err = sl_kafka_producer_flush(pub->prod, timeout_ms, errstr, errstr_size)))
            return fail(pub, err);
        if ((err = idem_advance(pub, 1, errstr, errstr_size)))
            return err;
        if ((err = sl_kafka_producer_flush(pub->prod, timeout_ms, errstr, errstr_size)))
            return fail(pub, err);
    }
    sl_metric_set(pub->m_queue, (double)sl_kafka_producer_inflight(pub->prod));
    if (pub->has_ckpt) {
        char pt[256];
        sl_pos_format(&pub->ckpt, pt, sizeof(pt));
        sl_info("checkpoint stored: %s", pt);
    }
    return SL_OK;
}

size_t col_pub_inflight(const col_pub_t *pub)
{
    return sl_kafka_producer_inflight(pub->prod);
}

void col_pub_set_progress(col_pub_t *pub, const char *text)
{
    char *t = strdup(text ? text : "");
    if (!t)
        return;               /* the older progress stays: a chunk is read again */
    free(pub->prog_next);
    pub->prog_next = t;
}

void col_pub_set_txn_max_ms(col_pub_t *pub, int64_t ms)
{
    pub->txn_max_ms = ms > 0 ? ms : pub->conf->txn_max_ms;
}

const char *col_pub_checkpoint_progress(const col_pub_t *pub)
{
    return pub->prog_ckpt && *pub->prog_ckpt ? pub->prog_ckpt : NULL;
}
