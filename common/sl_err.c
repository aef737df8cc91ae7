/* shiftlog: error names. */
#include "sl_err.h"

#include <string.h>

#include <stdarg.h>
#include <stdio.h>

const char *sl_err_name(sl_err_t err)
{
    switch (err) {
    case SL_OK:              return "ok";
    case SL_ERR_INVALID:     return "invalid";
    case SL_ERR_NOMEM:       return "out of memory";
    case SL_ERR_IO:          return "io";
    case SL_ERR_PARSE:       return "parse";
    case SL_ERR_DECODE:      return "decode";
    case SL_ERR_ENCODE:      return "encode";
    case SL_ERR_NOT_FOUND:   return "not found";
    case SL_ERR_UNSUPPORTED: return "unsupported";
    case SL_ERR_KAFKA:       return "kafka";
    case SL_ERR_DB:          return "db";
    case SL_ERR_TIMEOUT:     return "timeout";
    case SL_ERR_STATE:       return "state";
    case SL_ERR_FATAL:       return "fatal";
    case SL_ERR_FENCED:      return "fenced";
    case SL_ERR_DENIED:      return "denied";
    }
    return "unknown error";
}

void sl_err_set(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (!errstr || !errstr_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

int sl_err_pg_denied(const char *msg)
{
    static const char *const perm[] = {"password authentication failed",
                                       "authentication failed", "does not exist",
                                       "permission denied", "no pg_hba.conf entry",
                                       "password is required",
                                       "must be superuser or replication role", NULL};
    for (int i = 0; msg && perm[i]; i++)
        if (strstr(msg, perm[i]))
            return 1;
    return 0;
}
