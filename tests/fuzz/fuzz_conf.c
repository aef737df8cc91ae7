/* libFuzzer harness: the config parser (common/sl_conf.c) on a table with
 * every entry type (STRING, SECRET, INT, BOOL, ENUM, SIZE, DURATION, a check
 * function, a declared kafka.* key), as a service loads its file.
 *
 * Input layout: the config file's text; after the first NUL byte (if any),
 * -X arguments, one per line. The file is read through a memfd (the real
 * fopen/getline path, no disk). Then the required-keys check, the masked
 * dump and every getter run on whatever was accepted. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sl_conf.h"

typedef struct fz_conf_s {
    const char *name;
    int         type;
    const char *host;
    int64_t     port;
    const char *password;
    int         verbose;
    int64_t     buffer;
    int64_t     interval;
    const char *bootstrap;
    const char *listen;
} fz_conf_t;

static const char *const fz_types[] = {"mysql", "postgresql", NULL};

static int check_hostport(const char *v, char *errstr, size_t errstr_size)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || !colon[1]) {
        snprintf(errstr, errstr_size, "is not host:port");
        return -1;
    }
    return 0;
}

static const sl_conf_entry_t fz_table[] = {
    SL_CONF_STRING("source.name", fz_conf_t, name, NULL, SL_CONF_REQUIRED, "Source name."),
    SL_CONF_ENUM("source.type", fz_conf_t, type, "mysql", fz_types, 0, "Kind of source."),
    SL_CONF_STRING("source.host", fz_conf_t, host, "127.0.0.1", 0, "Host | address."),
    SL_CONF_INT("source.port", fz_conf_t, port, "3306", 1, 65535, 0, "Port."),
    SL_CONF_SECRET("source.password", fz_conf_t, password, 0, "Password."),
    SL_CONF_BOOL("verbose", fz_conf_t, verbose, "false", 0, "Chatty."),
    SL_CONF_SIZE("buffer.size", fz_conf_t, buffer, "1MB", 1024, 1 << 30, 0, "Buffer."),
    SL_CONF_DURATION("flush.interval.ms", fz_conf_t, interval, "1s", 1, 3600000, 0, "Flush."),
    SL_CONF_STRING("kafka.bootstrap.servers", fz_conf_t, bootstrap, "127.0.0.1:19092", 0,
                   "Brokers."),
    {.name = "http.listen", .type = SL_CONF_T_STRING, .def = "127.0.0.1:0",
     .offset = offsetof(fz_conf_t, listen), .check = check_hostport, .help = "Listen on."},
};

static int memfd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    memfd = memfd_create("fuzz_conf", 0);
    if (memfd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t flen = nul ? (size_t)(nul - data) : size;
    if (ftruncate(memfd, 0) || pwrite(memfd, data, flen, 0) != (ssize_t)flen)
        abort();

    fz_conf_t c;
    sl_conf_t conf;
    char err[512];
    memset(&c, 0, sizeof(c));
    if (sl_conf_init(&conf, fz_table, SL_CONF_COUNT(fz_table), &c, err, sizeof(err)) != SL_OK)
        abort();                        /* the table's defaults are valid */
    sl_err_t e = sl_conf_load_file(&conf, path, err, sizeof(err));
    if (!e && nul) {
        char *args = strndup((const char *)nul + 1, size - flen - 1);
        char *save = NULL;
        for (char *a = strtok_r(args, "\n", &save); a && !e; a = strtok_r(NULL, "\n", &save))
            e = sl_conf_apply_arg(&conf, a, err, sizeof(err));
        free(args);
    }
    if (!e)
        e = sl_conf_check(&conf, err, sizeof(err));
    sl_buf_t out = SL_BUF_INIT;
    sl_conf_dump(&conf, &out);
    /* a secret is never shown: its dump line must not hold its value */
    if (c.password && *c.password && out.len) {
        sl_buf_putc(&out, '\0');
        const char *line = !strncmp(out.data, "source.password = ", 18)
                               ? out.data : strstr(out.data, "\nsource.password = ");
        if (line)
            line += strlen(line[0] == '\n' ? "\nsource.password = " : "source.password = ");
        const char *eol = line ? strchr(line, '\n') : NULL;
        if (line && memmem(line, eol ? (size_t)(eol - line) : strlen(line), c.password,
                           strlen(c.password)) && strcmp(c.password, "*") &&
            strcmp(c.password, "**") && strcmp(c.password, "***") &&
            strcmp(c.password, "****")) {
            fprintf(stderr, "fuzz_conf: the dump shows the secret \"%s\"\n", c.password);
            abort();
        }
    }
    sl_buf_free(&out);
    for (size_t i = 0; i < SL_CONF_COUNT(fz_table); i++) {
        sl_conf_get(&conf, fz_table[i].name);
        sl_conf_origin(&conf, fz_table[i].name);
    }
    sl_conf_free(&conf);
    return 0;
}
