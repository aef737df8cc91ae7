/* shiftlog: the one MariaDB/MySQL connection builder — the collector's
 * source, the applier's targets and direct source, and the CLI's validator
 * and task table all open their connections here, so a TLS mode, a timeout
 * and the character set mean the same everywhere.
 *
 * Every connection: utf8mb4, TLS per sl_tls.h (sl_tls_my_options before the
 * connect, sl_tls_my_after_connect after it), the timeouts asked for. What a
 * failure means (retry, refuse for good) and how it is worded stays the
 * caller's: the builder hands back the server's message and error number.
 * mysql:// and mariadb:// URLs (CLI and direct tasks) are read by
 * sl_myconn_url. */
#ifndef SL_MYCONN_H
#define SL_MYCONN_H

#include <stddef.h>
#include "sl_err.h"
#include "sl_tls.h"

struct st_mysql;

/* One connection's settings; all borrowed. NULL strings / 0 numbers: the
 * client library's defaults (host localhost, port 3306, no database). */
typedef struct sl_myconn_s {
    const char   *host;
    unsigned      port;
    const char   *user;
    const char   *password;         /* NULL or "": none */
    const char   *database;
    sl_tls_t      tls;              /* mode SL_TLS_DISABLE: no TLS option set */
    unsigned      connect_timeout;  /* s; 0: the library's */
    unsigned      read_timeout;     /* s; 0: the library's */
    unsigned      write_timeout;    /* s; 0: the library's */
    unsigned long client_flags;     /* mysql_real_connect's (CLIENT_FOUND_ROWS) */
} sl_myconn_t;

/* Opens a connection; *out owned by the caller (mysql_close). On failure
 * *out is NULL, msg (msg_size) holds the reason and *errnum the server's
 * error number (0 when there is none) and the result is
 *   SL_ERR_NOMEM   no handle could be made ("out of memory");
 *   SL_ERR_DB      the connect failed: msg is mysql_error();
 *   SL_ERR_DENIED  connected, but the TLS mode asks for TLS and the server
 *                  does not offer it: msg is sl_tls_my_after_connect's
 *                  sentence. */
sl_err_t sl_myconn_open(const sl_myconn_t *c, struct st_mysql **out, char *msg,
                        size_t msg_size, unsigned *errnum);

/* Reads [mysql://]user:password@host:port/database?... (any scheme) into c's
 * host, port, user, password and database (percent-decoded; a part not in
 * the URL is left as c had it; '?...' is ignored). The strings point into
 * buf (buf_size bytes), which must outlive c. -1 when the URL does not fit
 * buf. */
int sl_myconn_url(const char *url, sl_myconn_t *c, char *buf, size_t buf_size);

#endif
