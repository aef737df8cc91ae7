/* shiftlog-miner: consumes a source's topic into the shared log — one
 * MongoDB collection per source, one document per change, `_id` derived
 * from the source position (docs/miner.md). This file: the configuration
 * and the start-up (shared log, lease, topic, control, writers); the loop
 * itself is loop.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include <time.h>

#include "loop.h"
#include "sl_value_text.h"
#include "sl_avro.h"
#include "sl_kafka.h"
#include "sl_mongoc.h"
#include "sl_service.h"
#include "sl_watchdog.h"

static const char *const wc_choices[] = {"majority", "1", NULL};

static int check_time(const char *v, char *errstr, size_t errstr_size);

static const sl_conf_entry_t mine_conf_table[] = {
    SL_CONF_STRING("source.name", mine_conf_t, source_name, NULL, SL_CONF_REQUIRED,
                   "Source whose topic (<topic.prefix>.<source.name>) is mined into the shared "
                   "log."),
    SL_CONF_STRING("topic.prefix", mine_conf_t, topic_prefix, "shiftlog", 0,
                   "Prefix of the Kafka topic names, as in the collector."),
    SL_CONF_STRING("log.uri", mine_conf_t, log_uri, "mongodb://127.0.0.1:27117", 0,
                   "MongoDB connection URI of the shared log (credentials in it are masked in "
                   "logs)."),
    SL_CONF_STRING("log.database", mine_conf_t, log_database, "shiftlog", 0,
                   "MongoDB database of the shared log; one collection per source."),
    SL_CONF_STRING("log.collection", mine_conf_t, log_collection, "", 0,
                   "Collection of this source's log (empty = the source name); the miner also "
                   "uses <collection>__latest (supplement) and <collection>__control (progress, "
                   "stop/resume, status)."),
    SL_CONF_ENUM("log.write.concern", mine_conf_t, log_write_concern, "majority", wc_choices, 0,
                 "Write concern of every log write, always journaled (j: true): majority or "
                 "1. A position is recorded only after its documents are acknowledged."),
    SL_CONF_INT("log.retention.hours", mine_conf_t, log_retention_hours, "168", 1, 87600, 0,
                "How long changes are kept in the shared log (by source commit time). The "
                "miner deletes older documents itself and also sets a TTL index where the "
                "server has one. Schema and gap documents are kept."),
    SL_CONF_DURATION("log.retention.interval", mine_conf_t, retention_interval_ms, "1m", 1000,
                     86400000, 0, "How often the miner deletes documents past the retention."),
    SL_CONF_INT("log.retention.batch", mine_conf_t, retention_batch, "1000", 1, 100000, 0,
                "Documents deleted per retention request (bounded batches)."),
    SL_CONF_STRING("mining.start.time", mine_conf_t, mining_start_time, "", 0,
                   "On first start, skip the transactions committed before this time (ISO 8601 "
                   "UTC, e.g. 2026-01-01T00:00:00Z); empty = from the start of the topic. "
                   "Schemas are kept whatever their time."),
    SL_CONF_BOOL("supplement.full.fields", mine_conf_t, supplement_full_fields, "false", 0,
                 "Fill the columns an update did not carry (MINIMAL row images, unchanged "
                 "TOAST) from the latest full image of that key, kept in "
                 "<collection>__latest; the document lists the filled columns."),
    SL_CONF_INT("worker_num", mine_conf_t, worker_num, "1", 1, 64, 0,
                "Writer threads (changes of one key always go to the same worker)."),
    SL_CONF_INT("read_batch", mine_conf_t, read_batch, "2000", 1, 100000, 0,
                "Records consumed from Kafka per batch (the memory bound: one batch is "
                "written while the next one is read)."),
    SL_CONF_INT("write_batch", mine_conf_t, write_batch, "1000", 1, 100000, 0,
                "Documents per insert_many request of a writer."),
    SL_CONF_DURATION("flush.interval", mine_conf_t, flush_interval_ms, "100ms", 1, 60000, 0,
                     "Longest wait for more records before a partial batch is written."),
    SL_CONF_DURATION("control.interval", mine_conf_t, control_interval_ms, "500ms", 50,
                     60000, 0,
                     "How often stop/resume requests are read and table status is written."),
    SL_CONF_DURATION("watchdog.ms", mine_conf_t, watchdog_ms, "2min", 0, 86400000, 0,
                     "A miner with records waiting on its topic that has made nothing new "
                     "durable in the log for this long says so (ERROR line, /ready 503 with "
                     "the offsets, shiftlog_miner_stalled = 1) and re-assigns its Kafka "
                     "consumer; /ready and the gauge clear with the next progress. A paused "
                     "source is not watched. 0 = off."),
    SL_SERVICE_CONF_KAFKA_BOOTSTRAP(mine_conf_t, kafka_bootstrap),
    SL_CONF_BOOL("lease", mine_conf_t, lease, "true", 0,
                 "One active miner per source log: copies with the same source.name share a "
                 "lease (the Kafka consumer group shiftlog-lease-miner-<source.name> on "
                 "<topic.prefix>._leases); the holder mines, the others wait as hot standbys "
                 "(/health status standby). Each holder takes the next epoch in "
                 "<collection>__control and every position write is fenced by it: a holder "
                 "that lost the lease (or was paused past lease.ttl.ms) writes nothing more "
                 "and exits 1, so that a restart waits as a standby."),
    SL_CONF_DURATION("lease.ttl.ms", mine_conf_t, lease_ttl_ms, "10s", 6000, 300000, 0,
                     "How long a holder that stopped answering (kill -9, a network cut) keeps "
                     "the lease before a standby takes over (a clean stop hands over at "
                     "once)."),
    SL_CONF_STRING("kafka.group.id", mine_conf_t, kafka_group_id, "shiftlog-miner", 0,
                   "Kafka consumer group of the miner (offsets committed for monitoring; the "
                   "position of record is the progress document in the log database)."),
    SL_SERVICE_CONF_ENTRIES(mine_conf_t, svc, "127.0.0.1:0"),
};

static const sl_service_flag_t mine_flags[] = {
    {"--check", "validate the configuration (see it with --log-level debug) and exit without "
     "connecting anywhere (the Kafka configuration is built and checked)",
     offsetof(mine_conf_t, check_only), 1},
    {"--serve", "accepted for compatibility: the miner always serves /health and /metrics "
     "while it runs (also while it waits for its topic)", offsetof(mine_conf_t, serve), 0},
};

static const sl_status_def_t mine_status = {
    .rows = "shiftlog_miner_docs_total", .lag = "shiftlog_miner_lag_seconds",
    .behind = "shiftlog_miner_records_behind"};

static const sl_service_def_t mine_service = {
    .name = "miner",
    .summary = "Consumes a source's topic into the shared MongoDB log (one document per "
               "change, idempotent, with retention, per-table stop/resume and full-field "
               "supplement) for late or replaying tasks.",
    .table = mine_conf_table,
    .n_table = SL_CONF_COUNT(mine_conf_table),
    .task_key = "source.name",
    .flags = mine_flags,
    .n_flags = SL_CONF_COUNT(mine_flags),
    .status = &mine_status,
};

static int check_time(const char *v, char *errstr, size_t errstr_size)
{
    int64_t us;
    if (!*v || sl_parse_utc_time(v, &us) == 0)
        return 0;
    snprintf(errstr, errstr_size, "\"%s\" is not an ISO 8601 UTC time (2026-01-01T00:00:00Z)",
             v);
    return -1;
}

/* --check: the consumer's librdkafka configuration as the run builds it,
 * checked without connecting. */
static int check_only(const mine_conf_t *mc, const sl_service_t *svc)
{
    char errstr[1024];
    sl_kvlist_t props = SL_KVLIST_INIT;
    sl_err_t err = SL_OK;
    for (size_t i = 0; !err && i < svc->conf.kafka.n; i++)
        err = sl_kvlist_set(&props, svc->conf.kafka.items[i].key, svc->conf.kafka.items[i].value);
    if (!err)
        err = sl_kvlist_set(&props, "auto.offset.reset", "earliest");
    if (err)
        snprintf(errstr, sizeof errstr, "out of memory");
    else
        err = sl_kafka_consumer_check(&props, mc->kafka_group_id, errstr, sizeof errstr);
    sl_kvlist_free(&props);
    if (err) {
        sl_error("%s", errstr);
        return SL_EXIT_USAGE;
    }
    sl_info("configuration is valid; --check: not connecting");
    return SL_EXIT_OK;
}

static void register_metrics(mine_t *m)
{
    sl_metrics_t *mt = m->svc->metrics;
    m->m_docs = sl_metrics_counter(mt, "shiftlog_miner_docs_total",
                                   "Documents written to the shared log (replays excluded).",
                                   NULL);
    m->m_dups = sl_metrics_counter_total(mt, "shiftlog_miner_replayed_docs_total",
                                "Documents found already in the log (replay after a restart).",
                                NULL);
    m->m_supp = sl_metrics_counter_total(mt, "shiftlog_miner_supplemented_rows_total",
                                "Change rows whose missing columns were supplemented.", NULL);
    m->m_lag = sl_metrics_gauge(mt, "shiftlog_miner_lag_seconds",
                                "Now minus the source commit time of the last mined "
                                "transaction, in s.", NULL);
    m->m_offset = sl_metrics_gauge(mt, "shiftlog_miner_next_offset",
                                   "Next Kafka offset of the topic the miner reads.", NULL);
    m->m_batches = sl_metrics_counter(mt, "shiftlog_miner_batches_total",
                                      "Batches made durable.", NULL);
    m->m_retained = sl_metrics_counter(mt, "shiftlog_miner_retention_deleted_total",
                                       "Documents deleted past log.retention.hours.", NULL);
}

/* The shared log: opened, the copy before this one fenced, and where it got
 * to read (*found: a progress document exists). An exit code, or -1 to go on. */
static int open_log(mine_t *m, int *found)
{
    const mine_conf_t *mc = m->c;
    char errstr[1024];
    mine_store_conf_t sc = {
        .uri = mc->log_uri, .database = mc->log_database,
        .collection = *mc->log_collection ? mc->log_collection : mc->source_name,
        .wmajority = mc->log_write_concern == 0, .retention_hours = mc->log_retention_hours,
    };
    sl_err_t err = mine_store_open(&m->store, &sc, errstr, sizeof errstr);
    if (err) {
        sl_error("%s", errstr);
        /* a wrong password does not heal by a restart */
        return err == SL_ERR_DENIED ? SL_EXIT_DENIED : SL_EXIT_FAILURE;
    }
    m->client = mine_store_pop(m->store);
    m->retention_on = 1;
    /* fence the copy before this one, then read where it got to */
    if (m->lease && mine_lease_fence(m->lease, m->store, m->client, errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        return SL_EXIT_FAILURE;
    }
    register_metrics(m);
    m->next_offset = -1;
    m->started = m->start_us == 0;      /* or as the progress document says */
    if (mine_progress_read(m, found, errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        return SL_EXIT_FAILURE;
    }
    if (!*found)
        m->next_offset = -1;
    if (m->start_us == 0)
        m->started = 1;                 /* no start time (any more): mine everything */
    return -1;
}

/* The consumer and the source topic, waited for (the collector creates it:
 * a miner deployed before its collector must not crash-loop), and where to
 * start: a progress past what the topic still holds records a gap for every
 * table. An exit code, or -1 to go on. */
static int open_topic(mine_t *m, int found)
{
    const mine_conf_t *mc = m->c;
    sl_service_t *svc = m->svc;
    char errstr[1024];
    for (size_t i = 0; i < svc->conf.kafka.n; i++)
        if (sl_kvlist_set(&m->props, svc->conf.kafka.items[i].key,
                          svc->conf.kafka.items[i].value) != SL_OK) {
            sl_error("out of memory");
            return SL_EXIT_FAILURE;
        }
    sl_kvlist_set(&m->props, "auto.offset.reset", "earliest");
    if (sl_kafka_consumer_new(&m->cons, &m->props, mc->kafka_group_id, 10000, errstr,
                              sizeof errstr) ||
        sl_avro_codec_new(&m->codec, errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        return SL_EXIT_FAILURE;
    }
    int nparts = 0, said = 0;
    sl_err_t pe;
    while ((pe = sl_kafka_partition_count(sl_kafka_consumer_handle(m->cons), m->topic, 10000,
                                          &nparts, errstr, sizeof errstr)) != SL_OK) {
        if (!said++) {
            sl_warn("topic %s: %s; waiting for it (start the collector of source \"%s\", or "
                    "check topic.prefix / source.name and kafka.bootstrap.servers)",
                    m->topic, pe == SL_ERR_NOT_FOUND ? "does not exist" : errstr,
                    mc->source_name);
            char why[600];
            snprintf(why, sizeof why, "waiting for topic %s", m->topic);
            sl_http_set_health(svc->http, 0, why);
        }
        if (sl_service_wait(2000))
            return SL_EXIT_OK;
    }
    if (nparts != 1) {
        sl_error("topic %s has %d partitions; a source topic has one (total order of the "
                 "source); the miner reads partition 0 only", m->topic, nparts);
        return SL_EXIT_FAILURE;
    }
    int64_t low = 0;
    if (mine_ctl_low_watermark(sl_kafka_consumer_handle(m->cons), m->topic, &low, errstr,
                               sizeof errstr)) {
        sl_error("%s", errstr);
        return SL_EXIT_FAILURE;
    }
    if (found && m->next_offset < low) {
        if (mine_ctl_record_gap(m->store, m->client, "*", &m->last_pos, m->next_offset, low,
                                errstr, sizeof errstr)) {
            sl_error("%s", errstr);
            return SL_EXIT_FAILURE;
        }
        m->next_offset = low;
    }
    if (m->next_offset < 0)
        m->next_offset = low;
    return -1;
}

/* The table control, the writers and the two batches; the consumer
 * assigned at the next offset. 0, or -1 (logged). */
static int start_mining(mine_t *m)
{
    const mine_conf_t *mc = m->c;
    char errstr[1024];
    mine_ctl_conf_t cc = {.store = m->store, .metrics = m->svc->metrics, .topic = m->topic,
                          .kafka_props = &m->props, .supplement = mc->supplement_full_fields,
                          .retention = 1};
    if (mine_ctl_new(&m->ctl, &cc, errstr, sizeof errstr) ||
        mine_ctl_load(m->ctl, m->next_offset, errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        return -1;
    }
    mine_ctl_set_main(m->ctl, m->next_offset, &m->last_pos);
    mine_writers_conf_t wc = {.store = m->store, .nworkers = (int)mc->worker_num,
                              .supplement = mc->supplement_full_fields, .retention = 1,
                              .batch_max = (size_t)mc->write_batch, .metrics = m->svc->metrics};
    if (mine_writers_start(&m->writers, &wc, errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        mine_batch_t *b = &m->b[k];
        b->recs = calloc((size_t)mc->read_batch, sizeof(*b->recs));
        b->offsets = calloc((size_t)mc->read_batch, sizeof(*b->offsets));
        if (!b->recs || !b->offsets) {
            sl_error("out of memory");
            return -1;
        }
        for (int64_t i = 0; i < mc->read_batch; i++)
            if (!(b->recs[i] = sl_record_new())) {
                sl_error("out of memory");
                return -1;
            }
    }
    m->read_offset = m->next_offset;
    if (sl_kafka_consumer_assign(m->cons, m->topic, 0, m->next_offset, 10000, NULL, errstr,
                                 sizeof errstr)) {
        sl_error("%s", errstr);
        return -1;
    }
    sl_info("mining %s from offset %" PRId64 " into %s.%s (worker_num=%" PRId64
            ", supplement=%s, retention %" PRId64 " h%s%s)",
            m->topic, m->next_offset, mc->log_database, m->store->log_name, mc->worker_num,
            mc->supplement_full_fields ? "on" : "off", mc->log_retention_hours,
            m->started ? "" : ", start time ", m->started ? "" : mc->mining_start_time);
    return 0;
}

static void watch(mine_t *m)
{
    sl_watchdog_conf_t wdc = {.cons = m->cons, .topic = m->topic, .partition = 0,
                              .stall_ms = m->c->watchdog_ms, .http = m->svc->http,
                              .metrics = m->svc->metrics, .metric_prefix = "shiftlog_miner",
                              .what = "the miner", .action = "re-assigning the Kafka consumer",
                              .next_from_progress = 1, .clear_health = 1};
    m->wd = sl_watchdog_start(&wdc);
    sl_watchdog_progress(m->wd, m->next_offset - 1);
    sl_watchdog_watch(m->wd, 1);
}

static void mine_close(mine_t *m)
{
    sl_watchdog_stop(m->wd);
    mine_lease_stop(m->lease);
    if (m->writers)
        mine_writers_stop(m->writers);
    mine_ctl_destroy(m->ctl);
    for (int k = 0; k < 2; k++) {
        if (m->b[k].recs)
            for (int64_t i = 0; i < m->c->read_batch; i++)
                if (m->b[k].recs[i])
                    sl_record_destroy(m->b[k].recs[i]);
        free(m->b[k].recs);
        free(m->b[k].offsets);
    }
    sl_avro_codec_destroy(m->codec);
    sl_kafka_consumer_destroy(m->cons);
    sl_kvlist_free(&m->props);
    if (m->store) {
        mine_store_push(m->store, m->client);
        mine_store_close(m->store);
    }
}

int main(int argc, char **argv)
{
    static mine_conf_t mc;
    sl_service_t svc;
    char errstr[1024];
    mine_t m;
    sl_mongoc_setup();
    int rc = sl_service_start(&svc, &mine_service, &mc, argc, argv);
    if (rc != SL_SERVICE_CONTINUE)
        return rc;
    memset(&m, 0, sizeof m);
    m.c = &mc;
    m.svc = &svc;
    m.at_boundary = 1;
    if (check_time(mc.mining_start_time, errstr, sizeof errstr)) {
        sl_error("mining.start.time: %s", errstr);
        rc = SL_EXIT_USAGE;
        goto out;
    }
    if (*mc.mining_start_time)
        sl_parse_utc_time(mc.mining_start_time, &m.start_us);
    if (mc.check_only) {
        rc = check_only(&mc, &svc);
        goto out;
    }
    if (mc.lease) {
        int r = mine_lease_acquire(&m.lease, &svc, mc.source_name, mc.topic_prefix,
                                   mc.kafka_bootstrap, mc.lease_ttl_ms);
        if (r) {
            rc = r > 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;   /* stopped while waiting */
            goto out;
        }
    }
    /* ready (/ready) only once it mines: docs/operations.md */
    sl_http_set_health(svc.http, 0, "starting: opening the shared log and the source topic");
    snprintf(m.topic, sizeof m.topic, "%s.%s", mc.topic_prefix, mc.source_name);
    int found = 0;
    if ((rc = open_log(&m, &found)) >= 0 || (rc = open_topic(&m, found)) >= 0)
        goto out;
    rc = SL_EXIT_FAILURE;
    if (start_mining(&m))
        goto out;
    sl_http_set_health(svc.http, 1, NULL);
    watch(&m);
    rc = mine_loop_run(&m);
    if (rc == SL_EXIT_OK && mine_ctl_flush(m.ctl, errstr, sizeof errstr))
        sl_warn("control collection: %s", errstr);
    if (sl_service_yielded() && !m.fenced) {
        sl_error("source \"%s\": the lease was lost (another copy mines now); standing down: "
                 "the batch in flight was recorded only if this copy still held the epoch; "
                 "exiting so that a restart waits as a standby", mc.source_name);
        rc = SL_EXIT_FAILURE;
    }
out:
    mine_close(&m);
    return sl_service_finish(&svc, rc);
}
