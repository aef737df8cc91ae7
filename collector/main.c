/* shiftlog-collector: reads one source database's change log and publishes
 * every row change to Kafka (topic <topic.prefix>.<source.name>).
 *
 * main() parses and validates the configuration (sl_service_start), then
 * hands the reader of source.type (source.h: col_mysql_source in
 * mysql_source.c, col_pg_source in pg_source.c) to the supervisor
 * (supervisor.c). It runs until SIGTERM/SIGINT (exit 0) or a fatal error
 * (exit 1, one line naming the cause and the position).
 * --check stops after the validation (exit 0) without connecting anywhere. */
#include <stdint.h>

#include <unistd.h>

#include "collector.h"
#include "source.h"
#include "sl_kafka.h"
#include "sl_kafka_lease.h"
#include "sl_tls.h"

/* source.type, indexed by COL_SOURCE_* (collector.h) */
static const char *const col_source_types[] = {"mysql", "postgresql", NULL};
static const col_source_ops_t *const col_sources[] = {&col_mysql_source, &col_pg_source};

/* snapshot.mode, indexed by COL_SNAP_* (snapshot.h) */
static const char *const col_snap_mode_choices[] = {"never", "initial", "initial_only",
                                                    "when_needed", NULL};

static const char *const col_dbz_choices[] = {"off", "json", "json-schema", NULL};

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
    SL_CONF_STRING("source.spill.dir", col_conf_t, spill_dir, "", 0,
                   "PostgreSQL: directory for the spill files of streamed (large, in-progress) "
                   "transactions, published at their commit; empty = $TMPDIR or /tmp."),
    SL_CONF_SIZE("source.spill.max.bytes", col_conf_t, spill_max_bytes, "0", 0,
                 INT64_MAX, 0,
                 "PostgreSQL: largest spill file of one streamed transaction; beyond it the "
                 "collector stops with a clear error. 0 = only the disk limits it."),
    SL_CONF_ENUM("source.tls.mode", col_conf_t, tls_mode, "prefer", sl_tls_mode_choices, 0,
                 "TLS to the source: disable, prefer (TLS when the server offers it), require "
                 "(no connection without TLS), verify-ca (and the server certificate signed by "
                 "source.tls.ca) or verify-full (and the host name in it); disabled, preferred "
                 "and required are read as disable, prefer and require (docs/security.md)."),
    SL_CONF_STRING("source.tls.ca", col_conf_t, tls_ca, "", 0,
                   "PEM file of the CA that signed the source's server certificate."),
    SL_CONF_STRING("source.tls.cert", col_conf_t, tls_cert, "", 0,
                   "PEM client certificate, when the source requires one."),
    SL_CONF_STRING("source.tls.key", col_conf_t, tls_key, "", 0,
                   "PEM private key of source.tls.cert."),
    SL_CONF_STRING("tables.include", col_conf_t, tables_include, "", 0,
                   "Comma-separated regexes matched against the whole `db.table` "
                   "(PostgreSQL: `schema.table`), a name part holding `.` backquoted "
                   "(see Table names with dots); empty = every table."),
    SL_CONF_STRING("tables.exclude", col_conf_t, tables_exclude, "", 0,
                   "Comma-separated `db.table` regexes left out even when included."),
    SL_CONF_STRING("start.position", col_conf_t, start_position, "earliest", 0,
                   "Where a first start begins (later starts resume from the checkpoint): "
                   "earliest, latest, a binlog file:pos (mysql-bin.000003:4), a GTID state "
                   "(0-1-42) or an LSN (0/16B3748)."),
    SL_CONF_DURATION("heartbeat.interval", col_conf_t, heartbeat_ms, "5s", 100, 3600000, 0,
                     "How often an idle source still reports progress (heartbeat events, "
                     "keepalives)."),
    SL_CONF_INT("batch.max.rows", col_conf_t, batch_max_rows, "1000", 1, SL_CHANGE_MAX_ROWS,
                0,
                "Rows per change batch; a bigger rows event is split into several batches, "
                "consecutive rows events of one table and op in a transaction share one."),
    SL_CONF_SIZE("batch.max.bytes", col_conf_t, batch_max_bytes, "900KB", 1024, 100000000, 0,
                 "Upper bound of one encoded change batch (keep under the broker's "
                 "message.max.bytes)."),
    SL_CONF_STRING("topic.prefix", col_conf_t, topic_prefix, "shiftlog", 0,
                   "Prefix of the Kafka topic names (<prefix>.<source>, <prefix>.<source>.dlq)."),
    SL_CONF_INT("topic.partitions", col_conf_t, topic_partitions, "1", 1, 10000, 0,
                "Partitions of a topic the collector creates (1 keeps a source in total order)."),
    SL_CONF_INT("topic.replication", col_conf_t, topic_replication, "-1", -1, 32767, 0,
                "Replication factor of created topics; -1 = the broker's default."),
    SL_CONF_BOOL("kafka.transactional", col_conf_t, kafka_transactional, "true", 0,
                 "Write records and the checkpoint in one Kafka transaction (read_committed "
                 "consumers never see a partial one). false: idempotent producer, checkpoint "
                 "after delivery."),
    SL_CONF_DURATION("txn.max.ms", col_conf_t, txn_max_ms, "100ms", 1, 600000, 0,
                     "Commit the Kafka transaction (and the checkpoint) at least this often."),
    SL_CONF_INT("txn.max.messages", col_conf_t, txn_max_messages, "10000", 1, 10000000, 0,
                "Commit the Kafka transaction after this many messages (a commit costs ~20 ms)."),
    SL_CONF_ENUM("snapshot.mode", col_conf_t, snapshot_mode, "initial", col_snap_mode_choices,
                 0,
                 "Copying the rows that already exist (docs/snapshot.md): never, initial (on "
                 "the first start, every included table, while streaming; a restart with a "
                 "checkpoint copies nothing new), initial_only "
                 "(the same, then stop), when_needed (initial, and again for every table when "
                 "the checkpoint is no longer on the source: a purged binlog, a dropped or "
                 "lost PostgreSQL slot, which it creates again)."),
    SL_CONF_INT("snapshot.chunk.rows", col_conf_t, snapshot_chunk_rows, "4096", 1, 1000000, 0,
                "Rows per snapshot chunk (one keyset query; a chunk is held in memory until "
                "its high watermark comes back through the log)."),
    SL_CONF_DURATION("snapshot.txn.max.ms", col_conf_t, snapshot_txn_max_ms, "1s", 1, 600000,
                     0,
                     "txn.max.ms while a snapshot copies: a Kafka commit waits for every "
                     "record in flight and the copy stands still meanwhile, so short "
                     "transactions slow it down (about half the speed at 100ms); streamed "
                     "changes reach read_committed consumers up to this late during it."),
    SL_CONF_DURATION("snapshot.progress.interval", col_conf_t, snapshot_progress_ms, "10s", 0,
                     3600000, 0,
                     "How often a snapshot logs a progress line per table (rows, rows/s, "
                     "percent and ETA from the table's statistics); 0: after every chunk."),
    SL_CONF_STRING("snapshot.signal.table", col_conf_t, snapshot_signal_table,
                   "shiftlog.shiftlog_signal", 0,
                   "MariaDB/MySQL: the table the collector writes its chunk watermarks to "
                   "(created if missing; the collector's user needs CREATE, INSERT, UPDATE on "
                   "it); never published. PostgreSQL uses logical messages instead."),
    SL_CONF_ENUM("output.debezium", col_conf_t, dbz_output, "off", col_dbz_choices, 0,
                 "Also publish every row change in Debezium's change-event format "
                 "(docs/debezium.md), for Kafka Connect sinks, Flink, ksqlDB: one message per "
                 "row on <output.debezium.name>.<db>.<table>, keyed by the primary key, and "
                 "transaction markers on <output.debezium.name>.transaction. off, json "
                 "(payload only), json-schema (JsonConverter with schemas.enable=true). The "
                 "native topic stays as it is (appliers and miners read it)."),
    SL_CONF_STRING("output.debezium.name", col_conf_t, dbz_name, "", 0,
                   "Logical server name of the Debezium-format topics (Debezium's "
                   "topic.prefix); empty = source.name."),
    SL_CONF_BOOL("lease", col_conf_t, lease, "true", 0,
                 "One active copy per source: copies with the same source.name share a lease "
                 "(the Kafka consumer group shiftlog-lease-collector-<source.name> on "
                 "<topic.prefix>._leases); the holder reads and publishes, the others wait as "
                 "hot standbys (/health status standby) and one takes over when the holder "
                 "stops or dies. false: every copy publishes, the Kafka transactional.id "
                 "epoch fencing them in turn (no record twice, but no quiet standby)."),
    SL_CONF_DURATION("lease.ttl.ms", col_conf_t, lease_ttl_ms, "10s", 6000, 300000, 0,
                     "How long a holder that stopped answering (kill -9, a network cut) keeps "
                     "the lease before a standby takes over (the group's session timeout; a "
                     "clean stop hands over at once)."),
    SL_CONF_DURATION("retention.interval", col_conf_t, retention_interval_ms, "30s", 0,
                     86400000, 0,
                     "How often the collector measures, on a connection of its own, how much "
                     "change log the source keeps for it and whether the source is about to "
                     "drop some (shiftlog_collector_source_log_* metrics, /status, the "
                     "retention alert; docs/operations.md); 0 = never."),
    SL_SERVICE_CONF_KAFKA_BOOTSTRAP(col_conf_t, kafka_bootstrap),
    SL_SERVICE_CONF_ENTRIES(col_conf_t, svc, "127.0.0.1:0"),
};

static const sl_service_flag_t col_flags[] = {
    {"--check", "validate the configuration (see it with --log-level debug) and exit "
                "without connecting to the source or Kafka (the Kafka configuration is "
                "built and checked)",
     offsetof(col_conf_t, check_only), 1},
    {"--serve", "accepted for compatibility: the collector always serves /health and "
                "/metrics while it runs", offsetof(col_conf_t, serve), 0},
};

static const sl_status_def_t col_status = {
    .rows = "shiftlog_collector_rows_total", .lag = "shiftlog_collector_lag_seconds",
    .retained = "shiftlog_collector_source_log_retained_bytes",
    .at_risk = "shiftlog_collector_source_log_at_risk", .log_pos_is_source = 1};

static const sl_service_def_t col_service = {
    .name = "collector",
    .summary = "Reads the change log of one source database (MySQL/MariaDB binlog or "
               "PostgreSQL pgoutput) and publishes every row change to Kafka.",
    .table = col_conf_table,
    .n_table = SL_CONF_COUNT(col_conf_table),
    .task_key = "source.name",
    .flags = col_flags,
    .n_flags = SL_CONF_COUNT(col_flags),
    .status = &col_status,
};

/* --check: the producer's librdkafka configuration, built as col_pub_new
 * builds it and checked by librdkafka without connecting. */
static sl_err_t check_kafka(sl_service_t *svc, const col_conf_t *cc, char *errstr,
                            size_t errstr_size)
{
    sl_kvlist_t props = SL_KVLIST_INIT;
    sl_err_t err;
    if (col_pub_props(cc, &svc->conf.kafka, &props)) {
        snprintf(errstr, errstr_size, "out of memory");
        err = SL_ERR_NOMEM;
    } else {
        sl_kafka_producer_conf_t pc = {.props = &props,
                                       .queue_max_messages = col_pub_queue_max(cc),
                                       .queue_max_kbytes = 65536};
        err = sl_kafka_producer_check(&pc, errstr, errstr_size);
    }
    sl_kvlist_free(&props);
    return err;
}

static int run_source(sl_service_t *svc, const col_conf_t *cc)
{
    int rc;
    /* ready (/ready) once the reader streams: it says so when connected */
    sl_http_set_health(svc->http, 0, "starting: connecting to the source");
    if (col_snap_http_start(svc->http, cc->source_name))
        sl_warn("snapshot: could not serve /snapshot on the HTTP endpoint");
    if (cc->source_type >= 0 &&
        cc->source_type < (int)(sizeof(col_sources) / sizeof(col_sources[0]))) {
        rc = col_supervise(svc, cc, col_sources[cc->source_type]);
    } else {
        sl_error("source.type %d is not known", cc->source_type);
        rc = SL_EXIT_USAGE;
    }
    col_snap_http_stop(svc->http);
    return rc;
}

static void lease_lost(void *arg)
{
    (void)arg;
    sl_service_yield();                  /* the run ends; main goes back to standby */
}

/* One active copy per source (lease = true): waits as a standby until this
 * copy holds the lease, runs the reader, and when the lease is lost (the
 * reader then stops as on SIGTERM) goes back to waiting. The other copy's
 * first transaction fences whatever this one still had open. */
static int run_leased(sl_service_t *svc, const col_conf_t *cc)
{
    char group[400], topic[300], holder[128], host[64] = "?";
    sl_kvlist_t props = SL_KVLIST_INIT;
    sl_kafka_lease_t *lease = NULL;
    int rc = SL_EXIT_FAILURE;
    gethostname(host, sizeof host - 1);
    snprintf(group, sizeof group, "shiftlog-lease-collector-%s", cc->source_name);
    snprintf(topic, sizeof topic, "%s._leases", cc->topic_prefix);
    snprintf(holder, sizeof holder, "%s:%d", host, (int)getpid());
    if (col_pub_props(cc, &svc->conf.kafka, &props)) {
        sl_error("kafka: out of memory");
        goto out;
    }
    sl_kafka_lease_conf_t lc = {.props = &props, .group = group, .topic = topic,
                                .ttl_ms = (int)cc->lease_ttl_ms, .holder = holder,
                                .on_lost = lease_lost};
    if (sl_kafka_lease_open(&lease, &lc, svc->http)) {
        rc = SL_EXIT_OK;
        goto out;
    }
    for (;;) {
        char why[600];
        snprintf(why, sizeof why, "standby: waiting for the lease of source \"%s\" (%s; "
                 "another copy holds it, or the group is assigning it)", cc->source_name, group);
        if (sl_kafka_lease_wait(lease, svc->http, why)) {
            rc = SL_EXIT_OK;
            goto out;
        }
        sl_service_resume();
        sl_info("source \"%s\": this copy holds the lease (%s, assignment %d): reading",
                cc->source_name, holder, sl_kafka_lease_epoch(lease));
        rc = run_source(svc, cc);
        if (!sl_service_yielded())
            break;                       /* a real stop or an error */
        sl_warn("source \"%s\": the lease was lost; this copy stopped reading and waits as a "
                "standby", cc->source_name);
    }
out:
    sl_kafka_lease_stop(lease);
    sl_kvlist_free(&props);
    return rc;
}

int main(int argc, char **argv)
{
    static col_conf_t cc;
    sl_service_t svc;
    int rc = sl_service_start(&svc, &col_service, &cc, argc, argv);
    if (rc != SL_SERVICE_CONTINUE)
        return rc;
    char errstr[1024];
    sl_tls_t tls = {cc.tls_mode, cc.tls_ca, cc.tls_cert, cc.tls_key};
    if (sl_tls_check(&tls, "source", errstr, sizeof errstr)) {
        sl_error("%s", errstr);
        return sl_service_finish(&svc, SL_EXIT_USAGE);
    }
    if (cc.check_only) {
        if (check_kafka(&svc, &cc, errstr, sizeof errstr)) {
            sl_error("%s", errstr);
            return sl_service_finish(&svc, SL_EXIT_USAGE);
        }
        sl_info("configuration is valid (source.type = %s); --check: not connecting",
                col_source_types[cc.source_type]);
        return sl_service_finish(&svc, SL_EXIT_OK);
    }
    rc = cc.lease ? run_leased(&svc, &cc) : run_source(&svc, &cc);
    return sl_service_finish(&svc, rc);
}
