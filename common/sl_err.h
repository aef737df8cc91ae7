/* shiftlog: one error enum for every module (0 = OK, negative = local error).
 * Functions that can fail return sl_err_t and take a caller-owned
 * `char *errstr, size_t errstr_size` that receives one human sentence naming
 * the object, the cause and, where we know it, what to do. */
#ifndef SL_ERR_H
#define SL_ERR_H

#include <stddef.h>

typedef enum sl_err_e {
    SL_OK             = 0,
    SL_ERR_INVALID    = -1,  /* bad argument, bad config value */
    SL_ERR_NOMEM      = -2,
    SL_ERR_IO         = -3,  /* file / socket I/O */
    SL_ERR_PARSE      = -4,  /* config syntax, position text, JSON */
    SL_ERR_DECODE     = -5,  /* a record or event that cannot be decoded */
    SL_ERR_ENCODE     = -6,
    SL_ERR_NOT_FOUND  = -7,
    SL_ERR_UNSUPPORTED= -8,
    SL_ERR_KAFKA      = -9,  /* librdkafka reported an error */
    SL_ERR_DB         = -10, /* a database client reported an error */
    SL_ERR_TIMEOUT    = -11,
    SL_ERR_STATE      = -12, /* call not valid in the current state */
    SL_ERR_FATAL      = -13, /* cannot continue: the service must stop */
    SL_ERR_FENCED     = -14, /* a newer holder of the task's lease fenced this write */
    SL_ERR_DENIED     = -15  /* refused for good by a server: authentication, missing
                                database, missing privilege (retrying cannot help) */
} sl_err_t;

/* Returns a static, never-NULL name for the error ("invalid", "kafka", ...). */
const char *sl_err_name(sl_err_t err);

/* 1 when a PostgreSQL server's connection error says retrying cannot help
 * (authentication, a missing database or role, no pg_hba.conf entry, a missing
 * privilege): SL_ERR_DENIED. libpq gives no SQLSTATE for a failed connection,
 * so this reads the message (our servers speak English). Shared by the
 * collector's source and the applier's target. */
int sl_err_pg_denied(const char *server_message);

/* Formats the sentence into errstr (truncated to errstr_size); does nothing
 * when errstr is NULL or errstr_size is 0. */
void sl_err_set(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
