/* shiftlog: TLS to the databases, one definition for every service.
 *
 * The modes and their names are libpq's sslmode (disable, prefer, require,
 * verify-ca, verify-full); the collector's older spellings (disabled,
 * preferred, required) are accepted as the same modes. A config table uses
 * sl_tls_mode_choices with SL_CONF_ENUM; the field then holds an
 * sl_tls_mode_t.
 *
 *   prefer       TLS when the server offers it, no certificate check
 *   require      TLS or no connection; the certificate is checked only when a
 *                CA file is given (as libpq does)
 *   verify-ca    TLS, the server certificate signed by <prefix>.tls.ca
 *   verify-full  verify-ca and the host name in the certificate
 *
 * The connection builders below (libpq keywords, MariaDB options) are what
 * the collector's sources and the applier's targets call: a mode means the
 * same on every database. MongoDB takes TLS from its URI (tls=true,
 * tlsCAFile=...); libmongoc does the rest. */
#ifndef SL_TLS_H
#define SL_TLS_H

#include <stddef.h>
#include "sl_err.h"

typedef enum sl_tls_mode_e {
    SL_TLS_DISABLE = 0,
    SL_TLS_PREFER,
    SL_TLS_REQUIRE,
    SL_TLS_VERIFY_CA,
    SL_TLS_VERIFY_FULL
} sl_tls_mode_t;

/* SL_CONF_ENUM choices, indexed by sl_tls_mode_t; "a|b" = b is read as a. */
extern const char *const sl_tls_mode_choices[];

/* libpq's name of a mode ("prefer"); "disable" for an out-of-range value. */
const char *sl_tls_mode_name(int mode);
/* Either spelling -> mode; -1 when s names none. */
int sl_tls_mode_parse(const char *s);

/* The TLS settings of one connection (borrowed strings; NULL or "" = unset). */
typedef struct sl_tls_s {
    int         mode;   /* sl_tls_mode_t */
    const char *ca;     /* PEM CA file the server certificate must chain to */
    const char *cert;   /* PEM client certificate */
    const char *key;    /* PEM private key of cert */
} sl_tls_t;

/* Settings that cannot work together: verify-ca / verify-full without a CA
 * file, a certificate without its key (or the reverse), a file that cannot be
 * read. prefix names the keys in the message ("source" -> source.tls.ca). */
sl_err_t sl_tls_check(const sl_tls_t *t, const char *prefix, char *errstr,
                      size_t errstr_size);

/* libpq: appends sslmode, sslrootcert, sslcert, sslkey to the keyword/value
 * arrays at index n (room for 4 more); returns the new n. */
int sl_tls_pg_params(const sl_tls_t *t, const char **keys, const char **vals, int n);

/* MariaDB: sets the TLS options of a handle from mysql_init() before
 * mysql_real_connect(). libmariadb 3.3 uses TLS when the server offers it
 * once any TLS option is set, checks the chain when a CA is given and the
 * host name with MYSQL_OPT_SSL_VERIFY_SERVER_CERT; it does not refuse a
 * server without TLS unless the certificate is to be verified, so require
 * is checked after the connection by sl_tls_my_after_connect(). */
struct st_mysql;
void sl_tls_my_options(struct st_mysql *m, const sl_tls_t *t);
/* After a successful mysql_real_connect(): SL_ERR_DB with "the server does
 * not offer TLS" when the mode asks for TLS and the connection is clear. */
sl_err_t sl_tls_my_after_connect(struct st_mysql *m, const sl_tls_t *t, char *errstr,
                                 size_t errstr_size);

/* MariaDB answers a clear connection to a server with
 * require_secure_transport=ON with "Access denied", as for a wrong password:
 * with mode disable, a hint that says so ("" otherwise). */
const char *sl_tls_my_denied_hint(int mode, const char *prefix, char *buf, size_t size);

/* A hint for a connection error text from libpq or libmariadb that comes
 * from TLS ("" when it is not): which key to look at. */
const char *sl_tls_error_hint(const char *message, const char *prefix, char *buf,
                              size_t size);

#endif
