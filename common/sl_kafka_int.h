/* shiftlog: private to the Kafka wrappers (sl_kafka_producer.c,
 * sl_kafka_consumer.c); the helpers live in sl_kafka.c. */
#ifndef SL_KAFKA_INT_H
#define SL_KAFKA_INT_H

#include <librdkafka/rdkafka.h>

#include "sl_kafka.h"

/* rd_kafka_conf_set with the error as "kafka property k=v: why". */
sl_err_t sl_kafka_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v,
                           char *errstr, size_t errstr_size);

/* Creates the client from *conf and checks that the brokers answer a
 * metadata request within timeout_ms. *conf is taken (set to NULL) once the
 * client exists; *rk is set then too, also when the check fails, and the
 * caller destroys it. A consumer serves its callbacks from the consumer
 * queue (rd_kafka_poll_set_consumer). last_error points at the text the
 * error callback keeps (read after the check); check_hint says what to look
 * at ("check the broker list"). what names the client in messages. */
sl_err_t sl_kafka_connect(rd_kafka_type_t type, rd_kafka_conf_t **conf,
                          const char *what, const char *brokers,
                          const char *last_error, const char *check_hint,
                          int timeout_ms, rd_kafka_t **rk,
                          char *errstr, size_t errstr_size);

/* Has librdkafka check conf whole (rd_kafka_new with no brokers: nothing
 * connects) and destroys it in every case; SL_ERR_INVALID names the cause. */
sl_err_t sl_kafka_conf_check(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                             char *errstr, size_t errstr_size);

#endif
