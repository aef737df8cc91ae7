/* shiftlog-miner: consumes per-source topics into the shared log (one
 * MongoDB collection per source, one document per change).
 *
 * Skeleton: it parses and validates its configuration, serves /health and
 * /metrics, and says that it does not move data yet. */
#include <stdint.h>

#include "sl_service.h"

typedef struct mine_conf_s {
    const char       *source_name;
    const char       *topic_prefix;
    const char       *log_uri;
    const char       *log_database;
    int64_t           log_retention_hours;
    const char       *mining_start_time;
    int               supplement_full_fields;
    int64_t           worker_num;
    int64_t           read_batch;
    const char       *kafka_bootstrap;
    const char       *kafka_group_id;
    sl_service_conf_t svc;
    int               serve;             /* --serve */
} mine_conf_t;

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
    SL_CONF_INT("log.retention.hours", mine_conf_t, log_retention_hours, "168", 1, 87600, 0,
                "How long changes are kept in the shared log."),
    SL_CONF_STRING("mining.start.time", mine_conf_t, mining_start_time, "", 0,
                   "Skip changes committed before this time (ISO 8601 UTC, e.g. "
                   "2026-01-01T00:00:00Z); empty = from the start of the topic."),
    SL_CONF_BOOL("supplement.full.fields", mine_conf_t, supplement_full_fields, "false", 0,
                 "Fill the columns an update did not carry from the latest full image of "
                 "that key."),
    SL_CONF_INT("worker_num", mine_conf_t, worker_num, "1", 1, 64, 0,
                "Writer threads (changes of one key always go to the same worker)."),
    SL_CONF_INT("read_batch", mine_conf_t, read_batch, "500", 1, 100000, 0,
                "Records consumed from Kafka per batch."),
    SL_CONF_STRING("kafka.bootstrap.servers", mine_conf_t, kafka_bootstrap, "127.0.0.1:19092",
                   0, "Kafka brokers (host:port,...); passed to librdkafka as bootstrap.servers."),
    SL_CONF_STRING("kafka.group.id", mine_conf_t, kafka_group_id, "shiftlog-miner", 0,
                   "Kafka consumer group of the miner."),
    SL_SERVICE_CONF_ENTRIES(mine_conf_t, svc, "127.0.0.1:0"),
};

static const sl_service_flag_t mine_flags[] = {
    {"--serve", "keep serving /health and /metrics until SIGTERM (skeleton)",
     offsetof(mine_conf_t, serve)},
};

static const sl_service_def_t mine_service = {
    .name = "miner",
    .summary = "Consumes a source's topic into the shared MongoDB log (one document per "
               "change, idempotent, with retention) for late or replaying tasks.",
    .table = mine_conf_table,
    .n_table = SL_CONF_COUNT(mine_conf_table),
    .task_key = "source.name",
    .flags = mine_flags,
    .n_flags = SL_CONF_COUNT(mine_flags),
};

int main(int argc, char **argv)
{
    static mine_conf_t mc;
    sl_service_t svc;
    int rc = sl_service_start(&svc, &mine_service, &mc, argc, argv);
    if (rc != SL_SERVICE_CONTINUE)
        return rc;
    sl_info("miner is a skeleton: it validated its config and serves /health and /metrics, "
            "but it does not consume Kafka or write the shared log yet");
    while (mc.serve && sl_service_wait(1000) == 0)
        ;
    return sl_service_finish(&svc, SL_EXIT_OK);
}
