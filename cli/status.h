/* shiftlog status: the config file of a service (status_conf.c) and the
 * Kafka backlog of a consumer. */
#ifndef CLI_STATUS_H
#define CLI_STATUS_H

#include <stddef.h>
#include <stdint.h>

#define CLI_SVC_KEYS 256

typedef struct cli_svc_conf_s {
    const char *kind;          /* "collector", "miner", "applier" */
    char        name[128];     /* task.name or source.name */
    char        url[300];      /* from http.listen; "" when none (off, port 0) */
    char        topic[256];    /* what it consumes; "" for a collector */
    int         partition;
    char        group[300];    /* its consumer group (offsets committed for monitoring) */
    int         n;
    char       *keys[CLI_SVC_KEYS], *vals[CLI_SVC_KEYS];
} cli_svc_conf_t;

typedef struct cli_backlog_s {
    int64_t committed;         /* the group's next offset; < 0: none committed */
    int64_t end;               /* the partition's high watermark */
    int64_t behind;
    double  lag_s;             /* age of the first record not done; 0 none; -1 unknown */
} cli_backlog_t;

/* Reads path; 0, or -1 with errstr. Free with cli_svc_conf_free(). */
int         cli_svc_conf_load(cli_svc_conf_t *c, const char *path, char *errstr,
                              size_t errstr_size);
void        cli_svc_conf_free(cli_svc_conf_t *c);
const char *cli_svc_get(const cli_svc_conf_t *c, const char *key);
/* The consumer's backlog from Kafka (brokers and kafka.* of its config). */
int         cli_svc_backlog(const cli_svc_conf_t *c, cli_backlog_t *b, char *errstr,
                            size_t errstr_size);

#endif
