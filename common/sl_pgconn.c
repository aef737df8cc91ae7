/* shiftlog: the libpq connection builder (sl_pgconn.h). */
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "sl_pgconn.h"

#define PGC_MAX_KEYS 24

sl_err_t sl_pgconn_open(const sl_pgconn_t *c, PGconn **out, char *msg, size_t msg_size,
                        char *hint, size_t hint_size)
{
    const char *keys[PGC_MAX_KEYS], *vals[PGC_MAX_KEYS];
    char tmo[16];
    int n = 0;
    *out = NULL;
    if (hint && hint_size)
        hint[0] = '\0';
    /* an empty value is ignored by libpq: unset parts need no test here */
#define KV(k_, v_) (keys[n] = (k_), vals[n++] = (v_))
    if (c->uri)
        KV("dbname", c->uri);        /* expanded; later keys win */
    KV("host", c->host);
    KV("port", c->port);
    KV("user", c->user);
    KV("password", c->password);
    if (c->dbname)
        KV("dbname", c->dbname);
    KV("application_name", c->application_name);
    if (!c->uri)
        KV("client_encoding", "UTF8");   /* a URI keeps its own (or the server's) */
    KV("options", c->options);
    KV("keepalives_idle", c->keepalives_idle);
    if (c->connect_timeout) {
        snprintf(tmo, sizeof(tmo), "%u", c->connect_timeout);
        KV("connect_timeout", tmo);
    }
    if (c->tls_prefix)
        n = sl_tls_pg_params(&c->tls, keys, vals, n);
    if (c->replication)
        KV("replication", "database");
#undef KV
    keys[n] = vals[n] = NULL;
    /* only a URI is expanded: a configured database name is a name, even
     * one with '=' in it */
    PGconn *conn = PQconnectdbParams(keys, vals, c->uri != NULL);
    if (conn && PQstatus(conn) == CONNECTION_OK) {
        *out = conn;
        return SL_OK;
    }
    snprintf(msg, msg_size, "%s", conn ? PQerrorMessage(conn) : "out of memory");
    char h[300] = "";
    /* a TLS cause first: pg_hba.conf also refuses a clear connection to a
     * hostssl-only server ("no pg_hba.conf entry ... no encryption") */
    int tls_cause = conn && c->tls_prefix &&
                    sl_tls_error_hint(msg, c->tls_prefix, h, sizeof(h))[0];
    if (hint && hint_size)
        snprintf(hint, hint_size, "%s", h);
    sl_err_t err = conn && (tls_cause || sl_err_pg_denied(msg)) ? SL_ERR_DENIED : SL_ERR_DB;
    PQfinish(conn);
    return err;
}
