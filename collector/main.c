/* shiftlog-collector: reads one source database's change log and publishes
 * every row change to Kafka (topic <topic.prefix>.<source.name>).
 *
 * Skeleton: it parses and validates its configuration, serves /health and
 * /metrics, and says that it does not move data yet. The MySQL/MariaDB
 * binlog and PostgreSQL pgoutput readers land in their own files. */
#include <stdint.h>

#include "sl_service.h"

typedef struct col_conf_s {
    const char       *source_name;
    int               source_type;       /* index in col_source_types */
    const char       *source_host;
    int64_t           source_port;
    const char       *source_user;
    const char       *source_password;
    const char       *source_database;
    int64_t           source_server_id;
    const char       *source_slot;
    const char       *source_publication;
    const char       *topic_prefix;
    const char       *kafka_bootstrap;
    sl_service_conf_t svc;
    int               serve;             /* --serve */
} col_conf_t;

static const char *const col_source_types[] = {"mysql", "postgresql", NULL};

static const sl_conf_entry_t col_conf_table[] = {
    SL_CONF_STRING("source.name", col_conf_t, source_name, NULL, SL_CONF_REQUIRED,
                   "Name of the source; the topic is <topic.prefix>.<source.name> and logs "
                   "and /health carry it."),
    SL_CONF_ENUM("source.type", col_conf_t, source_type, "mysql", col_source_types, 0,
                 "Kind of source database: mysql (also MariaDB; binlog in ROW format) or "
                 "postgresql (logical replication with pgoutput)."),
    SL_CONF_STRING("source.host", col_conf_t, source_host, "127.0.0.1", 0,
                   "Host name or address of the source database."),
    SL_CONF_INT("source.port", col_conf_t, source_port, "3306", 1, 65535, 0,
                "TCP port of the source database (PostgreSQL usually 5432)."),
    SL_CONF_STRING("source.user", col_conf_t, source_user, "shiftlog", 0,
                   "User with replication rights on the source."),
    SL_CONF_SECRET("source.password", col_conf_t, source_password, 0,
                   "Password of source.user (never logged)."),
    SL_CONF_STRING("source.database", col_conf_t, source_database, "", 0,
                   "PostgreSQL: database to replicate. MySQL: empty (the binlog covers the "
                   "server)."),
    SL_CONF_INT("source.server_id", col_conf_t, source_server_id, "4242", 1, 4294967295LL, 0,
                "MySQL/MariaDB: replica server_id this collector registers with; unique per "
                "server."),
    SL_CONF_STRING("source.slot", col_conf_t, source_slot, "shiftlog", 0,
                   "PostgreSQL: logical replication slot name."),
    SL_CONF_STRING("source.publication", col_conf_t, source_publication, "shiftlog", 0,
                   "PostgreSQL: publication the slot streams."),
    SL_CONF_STRING("topic.prefix", col_conf_t, topic_prefix, "shiftlog", 0,
                   "Prefix of the Kafka topic names (<prefix>.<source>, <prefix>.<source>.dlq)."),
    SL_CONF_STRING("kafka.bootstrap.servers", col_conf_t, kafka_bootstrap, "127.0.0.1:19092",
                   0, "Kafka brokers (host:port,...); passed to librdkafka as bootstrap.servers."),
    SL_SERVICE_CONF_ENTRIES(col_conf_t, svc, "127.0.0.1:0"),
};

static const sl_service_flag_t col_flags[] = {
    {"--serve", "keep serving /health and /metrics until SIGTERM (skeleton)",
     offsetof(col_conf_t, serve)},
};

static const sl_service_def_t col_service = {
    .name = "collector",
    .summary = "Reads the change log of one source database (MySQL/MariaDB binlog or "
               "PostgreSQL pgoutput) and publishes every row change to Kafka.",
    .table = col_conf_table,
    .n_table = SL_CONF_COUNT(col_conf_table),
    .task_key = "source.name",
    .flags = col_flags,
    .n_flags = SL_CONF_COUNT(col_flags),
};

int main(int argc, char **argv)
{
    static col_conf_t cc;
    sl_service_t svc;
    int rc = sl_service_start(&svc, &col_service, &cc, argc, argv);
    if (rc != SL_SERVICE_CONTINUE)
        return rc;
    sl_info("collector is a skeleton: it validated its config and serves /health and "
            "/metrics, but it does not read %s or publish to Kafka yet",
            col_source_types[cc.source_type]);
    while (cc.serve && sl_service_wait(1000) == 0)
        ;
    return sl_service_finish(&svc, SL_EXIT_OK);
}
