/* shiftlog: the one libpq connection builder — the collector's source and
 * snapshot, the applier's target, lease and direct source, and the CLI's
 * validator and task table open their PostgreSQL connections here, so the
 * keywords (TLS per sl_tls.h, UTF8, timeouts) are written once.
 *
 * Either the parts (host, port, ...) or a connection URI / conninfo string
 * (postgresql://..., as the CLI and direct tasks are given), or both: the
 * parts set after the URI win. What a failure means and how it is worded
 * stays the caller's; the builder classifies it the way every caller does
 * (a refusal for good — credentials, grants, TLS — or not). */
#ifndef SL_PGCONN_H
#define SL_PGCONN_H

#include <stddef.h>
#include "sl_err.h"
#include "sl_tls.h"

struct pg_conn;

/* One connection's settings; all borrowed; NULL / "" / 0: not set (libpq's
 * default or the URI's). */
typedef struct sl_pgconn_s {
    const char *uri;                /* a URI or conninfo, read first */
    const char *host;
    const char *port;               /* text, as libpq takes it */
    const char *user;
    const char *password;
    const char *dbname;
    const char *application_name;
    const char *options;            /* server options (-c name=value ...) */
    const char *keepalives_idle;    /* s */
    unsigned    connect_timeout;    /* s */
    int         replication;        /* a walsender connection (replication=database) */
    sl_tls_t    tls;                /* used when tls_prefix is set */
    const char *tls_prefix;         /* names the TLS keys in a hint ("source"); NULL: no
                                       TLS keyword (a URI's sslmode holds) */
} sl_pgconn_t;

/* Opens a connection; *out owned by the caller (PQfinish). client_encoding
 * is UTF8 unless a URI is given (it keeps the URI's or the server's). On failure *out is NULL, msg (msg_size) holds libpq's message
 * (all its lines, "out of memory" without a handle), hint (hint_size; NULL:
 * none) what to look at when TLS is the cause ("" otherwise), and the
 * result is SL_ERR_DENIED when retrying cannot help (TLS, or
 * sl_err_pg_denied), else SL_ERR_DB. */
sl_err_t sl_pgconn_open(const sl_pgconn_t *c, struct pg_conn **out, char *msg,
                        size_t msg_size, char *hint, size_t hint_size);

#endif
