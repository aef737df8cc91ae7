/* shiftlog-collector: is the source about to drop the log the collector
 * still needs? (issue 22, docs/operations.md "Source log retention")
 *
 * A thread of its own, on a connection of its own, looks every
 * retention.interval — also while the reader is down, waits for Kafka or
 * backs off, which is when the source's log piles up — and sets:
 *
 *   shiftlog_collector_source_log_retained_bytes  the log the source keeps
 *       for this collector: PostgreSQL pg_current_wal_lsn() - the slot's
 *       restart_lsn; MariaDB/MySQL the binlog bytes from the checkpoint to
 *       the end of the newest file (SHOW BINARY LOGS)
 *   shiftlog_collector_source_log_at_risk  1 when the source will drop (or
 *       dropped) some of it: PostgreSQL wal_status unreserved or lost (past
 *       max_slot_wal_keep_size); MariaDB the checkpoint's file is gone, or is
 *       the oldest binlog and no longer written while an expiry is set, so
 *       the next purge takes it
 *   shiftlog_collector_source_log_safe_bytes  PostgreSQL safe_wal_size (only
 *       when max_slot_wal_keep_size is set)
 *   shiftlog_collector_source_log_expire_seconds  MariaDB: the binlog expiry
 *       (binlog_expire_logs_seconds, else expire_logs_days), 0 = none
 *
 * The families appear at the first measurement (before it, /status says
 * null). A failed look keeps the last values and logs a warning once. */
#ifndef COL_RETAIN_H
#define COL_RETAIN_H

#include "collector.h"
#include "sl_metrics.h"
#include "sl_pos.h"

typedef struct col_retain_s col_retain_t;

/* Starts the thread (NULL when retention.interval = 0 or on OOM); conf and
 * metrics are borrowed until col_retain_stop. */
col_retain_t *col_retain_start(const col_conf_t *conf, sl_metrics_t *metrics);
/* The durable checkpoint (copied; MariaDB measures from it). Cheap; any thread. */
void          col_retain_checkpoint(col_retain_t *r, const sl_pos_t *ckpt);
/* Stops and frees; fine with NULL. */
void          col_retain_stop(col_retain_t *r);

#endif
