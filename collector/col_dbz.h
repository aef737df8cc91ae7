/* shiftlog-collector: the Debezium-format output beside the native topic
 * (output.debezium; col_dbz.c says what is written where). Used by the
 * publisher's thread only. */
#ifndef COL_DBZ_H
#define COL_DBZ_H

#include "collector.h"
#include "sl_kafka.h"
#include "sl_metrics.h"

typedef struct col_dbz_s col_dbz_t;

/* *out = NULL when output.debezium is off (col_dbz_put then does nothing).
 * prod is borrowed: the publisher's producer, so that the messages are in
 * the native records' Kafka transaction. */
sl_err_t col_dbz_new(col_dbz_t **out, const col_conf_t *conf, sl_kafka_producer_t *prod,
                     sl_metrics_t *metrics);
void     col_dbz_destroy(col_dbz_t *d);
/* Writes what rec means in Debezium's format (after rec's native message).
 * SL_ERR_KAFKA: a message the broker refuses for good (the collector stops,
 * naming it); a topic that cannot be created now is another error (the
 * session ends and the collector reconnects from its checkpoint). */
sl_err_t col_dbz_put(col_dbz_t *d, const sl_record_t *rec, char *errstr, size_t errstr_size);

#endif
