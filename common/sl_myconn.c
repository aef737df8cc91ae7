/* shiftlog: the MariaDB/MySQL connection builder (sl_myconn.h). */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_myconn.h"

sl_err_t sl_myconn_open(const sl_myconn_t *c, MYSQL **out, char *msg, size_t msg_size,
                        unsigned *errnum)
{
    MYSQL *m = mysql_init(NULL);
    *out = NULL;
    *errnum = 0;
    if (!m) {
        snprintf(msg, msg_size, "out of memory");
        return SL_ERR_NOMEM;
    }
    if (c->connect_timeout)
        mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &c->connect_timeout);
    if (c->read_timeout)
        mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &c->read_timeout);
    if (c->write_timeout)
        mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &c->write_timeout);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    sl_tls_my_options(m, &c->tls);
    /* "" and not NULL for no password: NULL would let the library take one
     * from its environment */
    if (!mysql_real_connect(m, c->host, c->user, c->password ? c->password : "",
                            c->database && *c->database ? c->database : NULL, c->port, NULL,
                            c->client_flags)) {
        *errnum = mysql_errno(m);
        snprintf(msg, msg_size, "%s", mysql_error(m));
        mysql_close(m);
        return SL_ERR_DB;
    }
    if (sl_tls_my_after_connect(m, &c->tls, msg, msg_size)) {
        mysql_close(m);
        return SL_ERR_DENIED;
    }
    *out = m;
    return SL_OK;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* %XX decoding in place. */
static void pct_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

int sl_myconn_url(const char *url, sl_myconn_t *c, char *buf, size_t buf_size)
{
    const char *rest = strstr(url, "://");
    rest = rest ? rest + 3 : url;
    if ((size_t)snprintf(buf, buf_size, "%s", rest) >= buf_size)
        return -1;
    /* the last '@' ends the credentials: a password may hold '@' or '/' */
    char *host = buf, *p;
    if ((p = strrchr(buf, '@'))) {
        *p = '\0';
        host = p + 1;
        if ((p = strchr(buf, ':'))) {
            *p = '\0';
            pct_decode(p + 1);
            c->password = p + 1;
        }
        pct_decode(buf);
        c->user = buf;
    }
    if ((p = strchr(host, '?')))
        *p = '\0';
    if ((p = strchr(host, '/'))) {
        *p = '\0';
        pct_decode(p + 1);
        c->database = p + 1;
    }
    if ((p = strrchr(host, ':'))) {
        *p = '\0';
        c->port = (unsigned)strtoul(p + 1, NULL, 10);
    }
    if (*host)
        c->host = host;
    return 0;
}
