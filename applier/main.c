/* shiftlog-applier: one process per task; reads a source topic, groups the
 * records into source transactions and applies them to a target database
 * exactly once.
 *
 * Skeleton: it parses and validates its configuration, serves /health and
 * /metrics, and says that it does not move data yet. */
#include <stdint.h>

#include "sl_service.h"

typedef struct app_conf_s {
    const char       *task_name;
    const char       *source_topic;
    int               target_type;       /* index in app_target_types */
    const char       *target_host;
    int64_t           target_port;
    const char       *target_user;
    const char       *target_password;
    const char       *target_database;
    const char       *tables;
    int64_t           read_batch;
    int64_t           write_batch;
    int64_t           flush_interval_ms;
    int64_t           worker_num;
    int               on_error;          /* index in app_on_error */
    int64_t           max_errors;
    int64_t           auto_recovery_count;
    const char       *kafka_bootstrap;
    const char       *kafka_group_id;
    sl_service_conf_t svc;
    int               serve;             /* --serve */
} app_conf_t;

static const char *const app_target_types[] = {"postgresql", "mysql", "mongodb", NULL};
static const char *const app_on_error[] = {"dlq", "stop", NULL};

static const sl_conf_entry_t app_conf_table[] = {
    SL_CONF_STRING("task.name", app_conf_t, task_name, NULL, SL_CONF_REQUIRED,
                   "Name of the task; logs, /health and the position row in the target carry "
                   "it."),
    SL_CONF_STRING("source.topic", app_conf_t, source_topic, NULL, SL_CONF_REQUIRED,
                   "Kafka topic to apply (<topic.prefix>.<source>, e.g. shiftlog.shop)."),
    SL_CONF_ENUM("target.type", app_conf_t, target_type, "postgresql", app_target_types, 0,
                 "Kind of target database."),
    SL_CONF_STRING("target.host", app_conf_t, target_host, "127.0.0.1", 0,
                   "Host name or address of the target database."),
    SL_CONF_INT("target.port", app_conf_t, target_port, "5432", 1, 65535, 0,
                "TCP port of the target (MySQL usually 3306, MongoDB 27017)."),
    SL_CONF_STRING("target.user", app_conf_t, target_user, "shiftlog", 0,
                   "User the applier writes as."),
    SL_CONF_SECRET("target.password", app_conf_t, target_password, 0,
                   "Password of target.user (never logged)."),
    SL_CONF_STRING("target.database", app_conf_t, target_database, NULL, SL_CONF_REQUIRED,
                   "Database the changes are applied to (and where the task's position is "
                   "stored)."),
    SL_CONF_STRING("tables", app_conf_t, tables, "*", 0,
                   "Comma-separated table patterns to apply (schema.table, * wildcards)."),
    SL_CONF_INT("read_batch", app_conf_t, read_batch, "500", 1, 100000, 0,
                "Records consumed from Kafka per batch."),
    SL_CONF_INT("write_batch", app_conf_t, write_batch, "500", 1, 100000, 0,
                "Rows written to the target per statement batch."),
    SL_CONF_DURATION("flush.interval.ms", app_conf_t, flush_interval_ms, "1000", 1, 3600000,
                     0, "Longest time a partial batch waits before it is written."),
    SL_CONF_INT("worker_num", app_conf_t, worker_num, "1", 1, 64, 0,
                "Writer threads inside the task (rows of one key always go to the same "
                "worker)."),
    SL_CONF_ENUM("on_error", app_conf_t, on_error, "dlq", app_on_error, 0,
                 "A record that cannot be applied: dlq sends it to <topic>.dlq with the "
                 "reason; stop suspends the task."),
    SL_CONF_INT("max.errors", app_conf_t, max_errors, "3", 1, 1000000, 0,
                "Consecutive errors after which the task suspends itself and says why."),
    SL_CONF_INT("auto.recovery.count", app_conf_t, auto_recovery_count, "3", 0, 1000, 0,
                "How many times a suspended task resumes by itself (0 = never)."),
    SL_CONF_STRING("kafka.bootstrap.servers", app_conf_t, kafka_bootstrap, "127.0.0.1:19092",
                   0, "Kafka brokers (host:port,...); passed to librdkafka as bootstrap.servers."),
    SL_CONF_STRING("kafka.group.id", app_conf_t, kafka_group_id, NULL, 0,
                   "Kafka consumer group; empty = shiftlog-applier-<task.name>."),
    SL_SERVICE_CONF_ENTRIES(app_conf_t, svc, "127.0.0.1:0"),
};

static const sl_service_flag_t app_flags[] = {
    {"--serve", "keep serving /health and /metrics until SIGTERM (skeleton)",
     offsetof(app_conf_t, serve)},
};

static const sl_service_def_t app_service = {
    .name = "applier",
    .summary = "Applies one task: reads a source topic, groups records into source "
               "transactions and writes them exactly once to a PostgreSQL, MySQL/MariaDB or "
               "MongoDB target.",
    .table = app_conf_table,
    .n_table = SL_CONF_COUNT(app_conf_table),
    .task_key = "task.name",
    .flags = app_flags,
    .n_flags = SL_CONF_COUNT(app_flags),
};

int main(int argc, char **argv)
{
    static app_conf_t ac;
    sl_service_t svc;
    int rc = sl_service_start(&svc, &app_service, &ac, argc, argv);
    if (rc != SL_SERVICE_CONTINUE)
        return rc;
    sl_info("applier is a skeleton: it validated its config and serves /health and /metrics, "
            "but it does not read %s or write to %s yet", ac.source_topic,
            app_target_types[ac.target_type]);
    while (ac.serve && sl_service_wait(1000) == 0)
        ;
    return sl_service_finish(&svc, SL_EXIT_OK);
}
