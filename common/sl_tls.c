/* shiftlog: TLS modes and the TLS part of the libpq / MariaDB connections
 * (sl_tls.h). */
#include <errno.h>
#include <mysql.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sl_tls.h"

const char *const sl_tls_mode_choices[] = {"disable|disabled", "prefer|preferred",
                                           "require|required", "verify-ca", "verify-full",
                                           NULL};

static const char *const names[] = {"disable", "prefer", "require", "verify-ca",
                                    "verify-full"};

const char *sl_tls_mode_name(int mode)
{
    return mode >= 0 && mode <= SL_TLS_VERIFY_FULL ? names[mode] : names[0];
}

int sl_tls_mode_parse(const char *s)
{
    static const char *const old[] = {"disabled", "preferred", "required"};
    for (int i = 0; s && i <= SL_TLS_VERIFY_FULL; i++)
        if (!strcmp(s, names[i]) || (i < 3 && !strcmp(s, old[i])))
            return i;
    return -1;
}

static int set(const char *s)
{
    return s && *s;
}

/* A file named by a TLS key must be readable: libpq and libmariadb report a
 * missing one late and vaguely ("SSL connection error: error:80000002"). */
static sl_err_t readable(const char *path, const char *prefix, const char *what,
                         char *errstr, size_t errstr_size)
{
    if (!set(path) || access(path, R_OK) == 0)
        return SL_OK;
    sl_err_set(errstr, errstr_size, "%s.tls.%s: cannot read %s: %s", prefix, what, path,
               strerror(errno));
    return SL_ERR_INVALID;
}

sl_err_t sl_tls_check(const sl_tls_t *t, const char *prefix, char *errstr, size_t errstr_size)
{
    sl_err_t err;
    if (t->mode >= SL_TLS_VERIFY_CA && !set(t->ca)) {
        sl_err_set(errstr, errstr_size, "%s.tls.mode %s checks the server certificate "
                   "against a CA: set %s.tls.ca to the CA's PEM file", prefix,
                   sl_tls_mode_name(t->mode), prefix);
        return SL_ERR_INVALID;
    }
    if (set(t->cert) != set(t->key)) {
        sl_err_set(errstr, errstr_size, "%s.tls.cert and %s.tls.key go together: set both "
                   "(the client certificate and its private key) or neither", prefix, prefix);
        return SL_ERR_INVALID;
    }
    if ((err = readable(t->ca, prefix, "ca", errstr, errstr_size)) ||
        (err = readable(t->cert, prefix, "cert", errstr, errstr_size)) ||
        (err = readable(t->key, prefix, "key", errstr, errstr_size)))
        return err;
    return SL_OK;
}

int sl_tls_pg_params(const sl_tls_t *t, const char **keys, const char **vals, int n)
{
#define KV(k_, v_) (keys[n] = (k_), vals[n++] = (v_))
    KV("sslmode", sl_tls_mode_name(t->mode));
    if (t->mode != SL_TLS_DISABLE) {
        if (set(t->ca))
            KV("sslrootcert", t->ca);
        if (set(t->cert))
            KV("sslcert", t->cert);
        if (set(t->key))
            KV("sslkey", t->key);
    }
#undef KV
    return n;
}

void sl_tls_my_options(MYSQL *m, const sl_tls_t *t)
{
    my_bool on = 1;
    if (t->mode == SL_TLS_DISABLE)
        return;
    /* use_ssl: TLS whenever the server offers it */
    mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
    /* the chain is checked whenever a CA is set: only from require on,
     * so prefer connects to any server that offers TLS */
    if (t->mode >= SL_TLS_REQUIRE && set(t->ca))
        mysql_optionsv(m, MYSQL_OPT_SSL_CA, t->ca);
    if (set(t->cert))
        mysql_optionsv(m, MYSQL_OPT_SSL_CERT, t->cert);
    if (set(t->key))
        mysql_optionsv(m, MYSQL_OPT_SSL_KEY, t->key);
    if (t->mode == SL_TLS_VERIFY_FULL)
        mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
}

sl_err_t sl_tls_my_after_connect(MYSQL *m, const sl_tls_t *t, char *errstr, size_t errstr_size)
{
    if (t->mode < SL_TLS_REQUIRE || mysql_get_ssl_cipher(m))
        return SL_OK;
    sl_err_set(errstr, errstr_size, "tls.mode %s: the server does not offer TLS (its have_ssl "
               "is not YES: give it ssl_cert and ssl_key, or lower tls.mode)",
               sl_tls_mode_name(t->mode));
    return SL_ERR_DB;
}

const char *sl_tls_my_denied_hint(int mode, const char *prefix, char *buf, size_t size)
{
    buf[0] = '\0';
    if (mode == SL_TLS_DISABLE)
        snprintf(buf, size, "; a server with require_secure_transport=ON answers a connection "
                 "without TLS the same way, and %s.tls.mode is disable", prefix);
    return buf;
}

const char *sl_tls_error_hint(const char *message, const char *prefix, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!message)
        return buf;
    if (strstr(message, "certificate verify failed") ||
        strstr(message, "Certificate verification failure") ||
        strstr(message, "unable to get local issuer") ||
        strstr(message, "self-signed certificate") || strstr(message, "self signed certificate"))
        snprintf(buf, size, " (the server's certificate is not signed by the CA in %s.tls.ca: "
                 "check that file, or lower %s.tls.mode to require)", prefix, prefix);
    else if (strstr(message, "does not match host name") ||
             strstr(message, "Validation of SSL server certificate failed") ||
             strstr(message, "hostname mismatch"))
        snprintf(buf, size, " (the host name is not in the server's certificate: connect "
                 "with a name it lists, or use %s.tls.mode verify-ca)", prefix);
    else if (strstr(message, "no encryption") ||
             strstr(message, "insecure transport"))
        snprintf(buf, size, " (the server accepts TLS connections only: set %s.tls.mode to "
                 "prefer or stricter)", prefix);
    else if (strstr(message, "requires a valid client certificate") ||
             strstr(message, "certificate required"))
        snprintf(buf, size, " (the server asks for a client certificate: set %s.tls.cert and "
                 "%s.tls.key)", prefix, prefix);
    else if (strstr(message, "server does not support SSL"))
        snprintf(buf, size, " (the server has no TLS: enable it there or lower %s.tls.mode)",
                 prefix);
    return buf;
}
