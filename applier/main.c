/* shiftlog-applier: one process per task; reads a source topic, groups the
 * records into source transactions and applies them to a target database
 * exactly once (consume.c, txn.c, target_*.c). docs/applier.md describes
 * the semantics; docs/config.md every key. */
#include <stdint.h>

#include "sl_tls.h"
#include "applier.h"
#include "sl_mongoc.h"
#include "direct.h"

const char *const app_target_types[] = {"postgresql", "mysql", "mongodb", NULL};
static const char *const app_on_error[] = {"dlq", "stop", NULL};
static const char *const app_unconv[] = {"dlq", "null", "stop", NULL};
static const char *const app_ddl_apply[] = {"all", "additive", "none", NULL};
static const char *const app_source_types[] = {"kafka", "mongolog", "direct", NULL};

static const sl_conf_entry_t app_conf_table[] = {
    SL_CONF_STRING("task.name", app_conf_t, task_name, NULL, SL_CONF_REQUIRED,
                   "Name of the task; logs, /health and the position row in the target carry "
                   "it."),
    SL_CONF_ENUM("source.type", app_conf_t, source_type, "kafka", app_source_types, 0,
                 "Where the changes are read: kafka (source.topic) or mongolog (the miner's "
                 "shared log of the source, in position order, then source.topic from where "
                 "the log ends when source.handover is on; docs/applier.md); direct: a "
                 "goshift-style bulk task that copies one table from a MariaDB or PostgreSQL "
                 "source with no Kafka in between (docs/direct.md)."),
    SL_CONF_STRING("source.topic", app_conf_t, source_topic, NULL, 0,
                   "Kafka topic to apply (<topic.prefix>.<source>, e.g. shiftlog.shop); "
                   "required unless source.type = direct. With "
                   "source.type = mongolog: the topic the log was mined from (the stored "
                   "position is in its offsets; the hand-over continues on it)."),
    SL_CONF_INT("source.partition", app_conf_t, source_partition, "0", 0, 100000, 0,
                "Partition of source.topic this task applies (source topics have one)."),
    SL_CONF_STRING("source.name", app_conf_t, source_name, "", 0,
                   "mongolog: the source whose shared log is read (the miner's source.name; "
                   "its log collection unless source.log.collection says otherwise)."),
    SL_CONF_STRING("source.log.uri", app_conf_t, log_uri, "mongodb://127.0.0.1:27117", 0,
                   "mongolog: MongoDB connection URI of the shared log (the miner's log.uri)."),
    SL_CONF_STRING("source.log.database", app_conf_t, log_database, "shiftlog", 0,
                   "mongolog: database of the shared log (the miner's log.database)."),
    SL_CONF_STRING("source.log.collection", app_conf_t, log_collection, "", 0,
                   "mongolog: log collection (the miner's log.collection); empty = "
                   "source.name."),
    SL_CONF_STRING("source.start.time", app_conf_t, start_time, "", 0,
                   "mongolog, first start only (no stored position): start at the first "
                   "transaction committed at or after this ISO 8601 UTC time "
                   "(2026-01-01T00:00:00Z). Empty = the log's beginning."),
    SL_CONF_STRING("source.start.position", app_conf_t, start_position, "", 0,
                   "mongolog, first start only: start after this commit position (source "
                   "position text or log _id); wins over source.start.time."),
    SL_CONF_BOOL("source.handover", app_conf_t, handover, "true", 0,
                 "mongolog: once the log is read up to its watermark, go on from source.topic "
                 "at the next offset (if the topic still holds it); false = keep reading the "
                 "log."),
    SL_CONF_INT("source.log.window", app_conf_t, log_window, "1000", 1, 100000, 0,
                "mongolog: log documents read per query (an _id range, sorted)."),
    SL_CONF_DURATION("source.log.poll.ms", app_conf_t, log_poll_ms, "200", 10, 60000, 0,
                     "mongolog: wait between two looks at the log's watermark once caught up "
                     "(without hand-over)."),
    SL_CONF_STRING("direct.task.file", app_conf_t, direct_task_file, "", 0,
                   "direct: a JSON file holding the task (the fields of a "
                   "task_def_sync_manager row); wins over direct.tasks.uri."),
    SL_CONF_SECRET("direct.tasks.uri", app_conf_t, direct_tasks_uri, 0,
                   "direct: the database holding the task table (mysql://user:pw@host:port/db "
                   "or postgresql://...); the task is the row whose task_name is task.name."),
    SL_CONF_STRING("direct.tasks.table", app_conf_t, direct_tasks_table,
                   "task_def_sync_manager", 0,
                   "direct: the task table (goshift's task_def_sync_manager shape, "
                   "docs/direct.md), optionally schema-qualified."),
    SL_CONF_SECRET("direct.source.uri", app_conf_t, direct_source_uri, 0,
                   "direct: the source database the task's from_db.from_table is read from "
                   "(mysql://user:pw@host:port/db or postgresql://user:pw@host:port/db)."),
    SL_CONF_DURATION("direct.diff.lag.ms", app_conf_t, direct_diff_lag_ms, "5s", 0, 86400000,
                     0, "direct with diff_column: the watermark never moves past the source "
                     "clock at a run's start minus this, so a row committed late with an "
                     "older diff_column value is still read; make it longer than the longest "
                     "writing transaction (task params diff.lag.ms overrides it)."),
    SL_CONF_DURATION("direct.interval.ms", app_conf_t, direct_interval_ms, "0", 0, 86400000, 0,
                     "direct: wait this long and run the task again (diff_column: the rows "
                     "changed since); 0 = one run, then exit 0."),
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
    SL_CONF_ENUM("target.tls.mode", app_conf_t, target_tls, "prefer", sl_tls_mode_choices, 0,
                 "TLS to the target: disable, prefer (TLS when the server offers it; MongoDB: "
                 "none), require (no connection without TLS), verify-ca (and the server "
                 "certificate signed by target.tls.ca) or verify-full (and the host name in it); "
                 "disabled, preferred and required are read as the same (docs/security.md)."),
    SL_CONF_STRING("target.tls.ca", app_conf_t, target_tls_ca, NULL, 0,
                   "PEM file of the CA that signed the target's server certificate (needed by "
                   "verify-ca and verify-full; with require it is checked too)."),
    SL_CONF_STRING("target.tls.cert", app_conf_t, target_tls_cert, NULL, 0,
                   "PEM client certificate, when the target requires one (MongoDB: one PEM file "
                   "with the certificate and its key, named in both target.tls.cert and "
                   "target.tls.key)."),
    SL_CONF_STRING("target.tls.key", app_conf_t, target_tls_key, NULL, 0,
                   "PEM private key of target.tls.cert."),
    SL_CONF_BOOL("target.create_tables", app_conf_t, create_tables, "true", 0,
                 "Create missing target tables (and columns) from the table schema records "
                 "(docs/applier.md lists the type mapping)."),
    SL_CONF_ENUM("ddl.apply", app_conf_t, ddl_apply, "all", app_ddl_apply, 0,
                 "Source DDL the target follows: all (add, drop, rename and modify columns; "
                 "a table dropped in the source is dropped in the target, and one created "
                 "again starts anew), additive (add and widen only; nothing is dropped or "
                 "renamed), none (no DDL; target tables are managed by hand)."),
    SL_CONF_STRING("tables", app_conf_t, tables, "*", 0,
                   "Comma-separated source table patterns to apply (db.table, * and ? "
                   "wildcards, each part matched on its own; a part holding `.`, `,` or `=` "
                   "in backquotes: see Table names with dots)."),
    SL_CONF_STRING("tables.exclude", app_conf_t, tables_exclude, NULL, 0,
                   "Comma-separated source table patterns NOT to apply (wins over tables)."),
    SL_CONF_STRING("map.tables", app_conf_t, map_tables, NULL, 0,
                   "Target names: comma-separated db.table=schema.table rules, first match "
                   "wins; a * on the right keeps the source db / table name (shop.*=copy.*). "
                   "Default: schema = source db, table = source table."),
    SL_CONF_STRING("map.columns", app_conf_t, map_columns, NULL, 0,
                   "Column renames: comma-separated db.table.column=new_name (db and table "
                   "may be patterns)."),
    SL_CONF_STRING("columns.include", app_conf_t, columns_include, NULL, 0,
                   "Comma-separated db.table.column patterns: for a table named here only "
                   "these columns are applied (primary-key columns always are)."),
    SL_CONF_STRING("columns.exclude", app_conf_t, columns_exclude, NULL, 0,
                   "Comma-separated db.table.column patterns of columns not applied "
                   "(primary-key columns always are)."),
    SL_CONF_INT("read_batch", app_conf_t, read_batch, "500", 1, 100000, 0,
                "Records consumed from Kafka per batch."),
    SL_CONF_INT("write_batch", app_conf_t, write_batch, "500", 1, 100000, 0,
                "Rows per multi-row statement, and rows after which a group of complete "
                "source transactions is committed."),
    SL_CONF_DURATION("flush.interval.ms", app_conf_t, flush_interval_ms, "1000", 1, 3600000,
                     0, "Longest time complete source transactions wait in an open target "
                     "transaction before it is committed."),
    SL_CONF_INT("worker_num", app_conf_t, worker_num, "1", 1, 64, 0,
                "Target connections inside the task: each source transaction is applied "
                "whole on one of them (by its first row's table + key hash), the changes of "
                "a key in source order; positions stored per worker as <task>#i (see "
                "docs/applier.md, Parallel apply)."),
    SL_CONF_ENUM("on_error", app_conf_t, on_error, "dlq", app_on_error, 0,
                 "A record that cannot be applied: dlq sends it (its whole source "
                 "transaction) to the dead-letter topic with the reason; stop suspends the "
                 "task naming table, key and position."),
    SL_CONF_ENUM("on_unconvertible", app_conf_t, on_unconvertible, "dlq", app_unconv, 0,
                 "A value the target cannot store (a zero date or U+0000 in PostgreSQL, NaN "
                 "in a MariaDB float): dlq sends its source transaction to the dead-letter "
                 "topic with the reason; null writes NULL instead (logged); stop stops its "
                 "table (shown in /health and /ready, and shiftlog_applier_tables_stopped). Never the "
                 "table silently."),
    SL_CONF_DURATION("watchdog.ms", app_conf_t, watchdog_ms, "2min", 0, 86400000, 0,
                     "A task with records waiting on its partition that has fed or applied "
                     "nothing new for this long says so (ERROR line, /ready 503 with the "
                     "offsets, shiftlog_applier_stalled = 1) and reconnects; 0 = off."),
    SL_CONF_INT("max.errors", app_conf_t, max_errors, "3", 1, 1000000, 0,
                "Consecutive errors after which the task suspends itself and says why."),
    SL_CONF_INT("auto.recovery.count", app_conf_t, auto_recovery_count, "3", 0, 1000, 0,
                "How many times a suspended task resumes by itself (0 = never)."),
    SL_CONF_DURATION("suspend.ms", app_conf_t, suspend_ms, "30s", 1, 86400000, 0,
                     "How long a suspended task waits before it resumes by itself."),
    SL_CONF_DURATION("retry.max.ms", app_conf_t, retry_max_ms, "10s", 10, 3600000, 0,
                     "Longest wait between two reconnection attempts while the target is "
                     "down, or between two looks for a source topic that does not exist yet "
                     "(the wait doubles from 200 ms)."),
    SL_CONF_DURATION("lease.ttl.ms", app_conf_t, lease_ttl_ms, "10s", 300, 86400000, 0,
                     "The task's lease (one active copy per task, docs/applier.md): the holder "
                     "checks it every lease.ttl.ms / 3; MongoDB targets: a lease document not "
                     "renewed for this long expires and a standby takes over."),
    SL_CONF_DURATION("lease.retry.ms", app_conf_t, lease_retry_ms, "1000", 10, 3600000, 0,
                     "A standby copy (another copy holds the task's lease) tries to take it "
                     "this often."),
    SL_CONF_SECRET("task.table.uri", app_conf_t, task_table_uri, 0,
                   "Follow this task's row in a task table (`shiftlog tasks pause|resume`): "
                   "the database holding it, mysql://user:pw@host:port/db or "
                   "postgresql://... (libpq's URI); online_status = 0 pauses the task at a "
                   "source transaction boundary, 1 resumes it. Empty = no task table."),
    SL_CONF_STRING("task.table.name", app_conf_t, task_table_name, "task_def_sync_manager", 0,
                   "The task table (goshift's task_def_sync_manager shape), optionally "
                   "db.table or schema.table; its row task_name = task.name."),
    SL_CONF_DURATION("task.table.interval", app_conf_t, task_table_interval_ms, "5s", 100,
                     3600000, 0,
                     "How often the task reads its online_status in the task table."),
    SL_CONF_STRING("dlq.topic", app_conf_t, dlq_topic, NULL, 0,
                   "Dead-letter topic; empty = <source.topic>.dlq."),
    SL_SERVICE_CONF_KAFKA_BOOTSTRAP(app_conf_t, kafka_bootstrap),
    SL_CONF_STRING("kafka.group.id", app_conf_t, kafka_group_id, NULL, 0,
                   "Kafka consumer group (offsets committed for monitoring only; the position "
                   "is the one stored in the target); empty = shiftlog-applier-<task.name>."),
    SL_SERVICE_CONF_ENTRIES(app_conf_t, svc, "127.0.0.1:0"),
};

static const sl_service_flag_t app_flags[] = {
    {"--check", "validate the configuration (see it with --log-level debug) and exit 0 "
                "without connecting anywhere (the Kafka configuration is built and checked)",
     offsetof(app_conf_t, check_only), 1},
    {"--serve", "probe mode: serve /health and /metrics until SIGTERM without reading Kafka "
                "or writing to the target", offsetof(app_conf_t, serve), 0},
};

static const sl_status_def_t app_status = {
    .rows = "shiftlog_applier_rows_total", .lag = "shiftlog_applier_lag_seconds",
    .behind = "shiftlog_applier_records_behind", .errors = "shiftlog_applier_errors_total",
    .dlq = "shiftlog_applier_dlq_total", .state = "shiftlog_applier_state"};

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
    .status = &app_status,
};

/* --check: the consumer's and the dead-letter producer's librdkafka
 * configurations, built as a run builds them and checked by librdkafka
 * without connecting. */
static sl_err_t check_kafka(sl_service_t *svc, const app_conf_t *ac, char *errstr,
                            size_t errstr_size)
{
    sl_kvlist_t props = SL_KVLIST_INIT;
    const char *group = ac->kafka_group_id && *ac->kafka_group_id ? ac->kafka_group_id
                                                                  : "shiftlog-applier-check";
    sl_err_t err = sl_kafka_consumer_check(&svc->conf.kafka, group, errstr, errstr_size);
    if (!err && app_dlq_props(&svc->conf.kafka, &props)) {
        snprintf(errstr, errstr_size, "out of memory");
        err = SL_ERR_NOMEM;
    }
    if (!err) {
        sl_kafka_producer_conf_t pc = {.props = &props};
        err = sl_kafka_producer_check(&pc, errstr, errstr_size);
    }
    sl_kvlist_free(&props);
    return err;
}

int main(int argc, char **argv)
{
    static app_conf_t ac;
    sl_service_t svc;
    sl_mongoc_setup();
    int rc = sl_service_start(&svc, &app_service, &ac, argc, argv);
    if (rc != SL_SERVICE_CONTINUE)
        return rc;
    char errstr[512];
    sl_tls_t tls = {ac.target_tls, ac.target_tls_ca, ac.target_tls_cert, ac.target_tls_key};
    if (sl_tls_check(&tls, "target", errstr, sizeof(errstr)) ||
        app_logsrc_check_conf(&ac, errstr, sizeof(errstr))) {
        sl_error("%s", errstr);
        return sl_service_finish(&svc, SL_EXIT_USAGE);
    }
    if (ac.source_type != APP_SOURCE_DIRECT && (!ac.source_topic || !*ac.source_topic)) {
        /* worded as sl_conf_check words the keys every task needs */
        sl_error("%s: missing required key \"source.topic\" (set it in the config file, with "
                 "SHIFTLOG_SOURCE_TOPIC or -X source.topic=...; only source.type = direct "
                 "goes without)", svc.conf.path ? svc.conf.path : "config");
        return sl_service_finish(&svc, SL_EXIT_USAGE);
    }
    if (ac.source_type == APP_SOURCE_DIRECT && !ac.check_only && !ac.serve) {
        if (!ac.direct_source_uri || !*ac.direct_source_uri) {
            sl_error("source.type = direct needs direct.source.uri (the database to copy "
                     "from)");
            return sl_service_finish(&svc, SL_EXIT_USAGE);
        }
        return sl_service_finish(&svc, app_direct_run(&ac, &svc));
    }
    if (ac.check_only) {
        if (check_kafka(&svc, &ac, errstr, sizeof errstr)) {
            sl_error("%s", errstr);
            return sl_service_finish(&svc, SL_EXIT_USAGE);
        }
        sl_info("configuration is valid (target.type = %s); --check: not connecting",
                app_target_types[ac.target_type]);
        return sl_service_finish(&svc, SL_EXIT_OK);
    }
    if (ac.serve) {
        sl_info("--serve: serving /health and /metrics only; not applying %s",
                ac.source_topic);
        while (sl_service_wait(1000) == 0)
            ;
        return sl_service_finish(&svc, SL_EXIT_OK);
    }
    return sl_service_finish(&svc, app_run(&ac, &svc));
}
