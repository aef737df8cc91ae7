/* shiftlog: secrets kept out of config files and process titles.
 *
 * Every secret key (a SECRET entry of a config table, and the kafka.* keys
 * sl_secret_kafka_key() names) can also be given as `<key>.file`: the value
 * is then the content of that file, one trailing newline removed (what
 * `echo pw > f` and Kubernetes/Docker secret files hold). In the environment:
 * SHIFTLOG_<KEY> for the value, SHIFTLOG_<KEY>_FILE for the file. */
#ifndef SL_SECRET_H
#define SL_SECRET_H

#include <stddef.h>
#include "sl_err.h"

#define SL_SECRET_FILE_SUFFIX ".file"

/* librdkafka's secret properties, with the kafka. prefix, NULL-terminated:
 * read from the environment and masked in dumps like SECRET entries. */
extern const char *const sl_secret_kafka_keys[];
/* Is key (with its kafka. prefix) one of them? */
int sl_secret_kafka_key(const char *key);

/* Reads the secret file at path into *out (caller frees; one trailing "\n"
 * or "\r\n" removed). SL_ERR_IO "cannot read PATH: ..." (the content never
 * appears in a message); SL_ERR_INVALID for an empty or oversized file. */
sl_err_t sl_secret_read_file(const char *path, char **out, char *errstr, size_t errstr_size);

#endif
