/* shiftlog: secret files (sl_secret.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_secret.h"

/* a password, a key passphrase or a client secret, not a file of data */
#define SECRET_MAX 65536

const char *const sl_secret_kafka_keys[] = {
    "kafka.sasl.password", "kafka.ssl.key.password", "kafka.ssl.keystore.password",
    "kafka.sasl.oauthbearer.client.secret", NULL};

int sl_secret_kafka_key(const char *key)
{
    for (int i = 0; sl_secret_kafka_keys[i]; i++)
        if (!strcmp(key, sl_secret_kafka_keys[i]))
            return 1;
    return 0;
}

sl_err_t sl_secret_read_file(const char *path, char **out, char *errstr, size_t errstr_size)
{
    sl_err_t err = SL_OK;
    char *buf = NULL;
    size_t n = 0;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        sl_err_set(errstr, errstr_size, "cannot read %s: %s", path, strerror(errno));
        return SL_ERR_IO;
    }
    if (!(buf = malloc(SECRET_MAX + 1))) {
        err = SL_ERR_NOMEM;
        goto out;
    }
    n = fread(buf, 1, SECRET_MAX + 1, f);
    if (ferror(f)) {
        sl_err_set(errstr, errstr_size, "cannot read %s: %s", path, strerror(errno));
        err = SL_ERR_IO;
        goto out;
    }
    if (n > SECRET_MAX) {
        sl_err_set(errstr, errstr_size, "%s is larger than %d bytes: not a secret file", path,
                   SECRET_MAX);
        err = SL_ERR_INVALID;
        goto out;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\0', n)) {
        sl_err_set(errstr, errstr_size, "%s %s", path, n ? "holds a NUL byte" : "is empty");
        err = SL_ERR_INVALID;
        goto out;
    }
    *out = buf;
    buf = NULL;
out:
    if (buf)
        memset(buf, 0, SECRET_MAX + 1);
    free(buf);
    fclose(f);
    return err;
}
