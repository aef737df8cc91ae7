/* shiftlog status: what a service's config file says about where to find it
 * (http.listen) and what it consumes (topic, partition, consumer group), and
 * that consumer's backlog read from Kafka itself: the records behind and the
 * lag stay known while the service is stopped, hung or unreachable. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "status.h"

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

const char *cli_svc_get(const cli_svc_conf_t *c, const char *key)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->keys[i], key))
            return c->vals[i];
    return NULL;
}

static const char *get_or(const cli_svc_conf_t *c, const char *key, const char *def)
{
    const char *v = cli_svc_get(c, key);
    return v && *v ? v : def;
}

/* http.listen -> a URL this machine can ask; "" when it has none (off, port 0). */
static void listen_url(const char *listen, char *url, size_t size)
{
    url[0] = '\0';
    const char *colon = strrchr(listen, ':');
    if (!strcmp(listen, "off") || !colon || atoi(colon + 1) <= 0)
        return;
    int hl = (int)(colon - listen);
    if (hl == 0 || (hl == 7 && !strncmp(listen, "0.0.0.0", 7)))
        snprintf(url, size, "http://127.0.0.1:%s", colon + 1);
    else if (hl == 4 && !strncmp(listen, "[::]", 4))
        snprintf(url, size, "http://[::1]:%s", colon + 1);
    else
        snprintf(url, size, "http://%s", listen);
}

int cli_svc_conf_load(cli_svc_conf_t *c, const char *path, char *errstr, size_t errstr_size)
{
    memset(c, 0, sizeof(*c));
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: cannot open: %m", path);
        return -1;
    }
    char line[2048];
    while (fgets(line, sizeof line, f) && c->n < CLI_SVC_KEYS) {
        char *l = trim(line), *eq = strchr(l, '=');
        if (!*l || *l == '#' || !eq)
            continue;
        *eq = '\0';
        c->keys[c->n] = strdup(trim(l));
        c->vals[c->n] = strdup(trim(eq + 1));
        if (c->keys[c->n] && c->vals[c->n])
            c->n++;
    }
    fclose(f);
    const char *name;
    if (cli_svc_get(c, "log.uri")) {
        c->kind = "miner";
        name = get_or(c, "source.name", "");
        snprintf(c->topic, sizeof c->topic, "%s.%s", get_or(c, "topic.prefix", "shiftlog"),
                 name);
        snprintf(c->group, sizeof c->group, "%s", get_or(c, "kafka.group.id", "shiftlog-miner"));
    } else if (cli_svc_get(c, "task.name") || cli_svc_get(c, "target.type")) {
        c->kind = "applier";
        name = get_or(c, "task.name", "");
        if (strcmp(get_or(c, "source.type", "kafka"), "kafka") == 0)
            snprintf(c->topic, sizeof c->topic, "%s", get_or(c, "source.topic", ""));
        c->partition = atoi(get_or(c, "source.partition", "0"));
        const char *g = cli_svc_get(c, "kafka.group.id");
        if (g && *g)
            snprintf(c->group, sizeof c->group, "%s", g);
        else
            snprintf(c->group, sizeof c->group, "shiftlog-applier-%s", name);
    } else if (cli_svc_get(c, "source.type") || cli_svc_get(c, "source.host")) {
        c->kind = "collector";
        name = get_or(c, "source.name", "");
    } else {
        snprintf(errstr, errstr_size, "%s: not the config of a collector (source.type), a "
                 "miner (log.uri) or an applier (task.name)", path);
        cli_svc_conf_free(c);
        return -1;
    }
    snprintf(c->name, sizeof c->name, "%s", name);
    listen_url(get_or(c, "http.listen", "127.0.0.1:0"), c->url, sizeof c->url);
    return 0;
}

void cli_svc_conf_free(cli_svc_conf_t *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->keys[i]);
        free(c->vals[i]);
    }
    c->n = 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_svc_backlog(const cli_svc_conf_t *c, cli_backlog_t *b, char *errstr,
                    size_t errstr_size)
{
    char es[512];
    int rc = -1;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    memset(b, 0, sizeof(*b));
    b->committed = b->end = -1;
    if (!c->topic[0]) {
        snprintf(errstr, errstr_size, "no Kafka topic (source.type is not kafka)");
        return -1;
    }
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    /* the service's own kafka.* settings (security, brokers), then what this needs */
    for (int i = 0; i < c->n; i++)
        if (!strncmp(c->keys[i], "kafka.", 6) &&
            rd_kafka_conf_set(kc, c->keys[i] + 6, c->vals[i], es, sizeof es) != RD_KAFKA_CONF_OK)
            continue;   /* a service-only key (kafka.transactional): not librdkafka's */
    if (!cli_svc_get(c, "kafka.bootstrap.servers"))
        rd_kafka_conf_set(kc, "bootstrap.servers", "127.0.0.1:19092", es, sizeof es);
    if (rd_kafka_conf_set(kc, "group.id", c->group, es, sizeof es) ||
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", es, sizeof es) ||
        rd_kafka_conf_set(kc, "isolation.level", "read_committed", es, sizeof es) ||
        rd_kafka_conf_set(kc, "enable.partition.eof", "true", es, sizeof es) ||
        !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, es, sizeof es))) {
        snprintf(errstr, errstr_size, "kafka: %s", es);
        rd_kafka_conf_destroy(kc);
        return -1;
    }
    int64_t lo = -1, hi = -1;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, c->topic, c->partition, &lo,
                                                             &hi, 5000);
    if (e) {
        snprintf(errstr, errstr_size, "topic %s [%d]: %s", c->topic, c->partition,
                 rd_kafka_err2str(e));
        goto out;
    }
    b->end = hi;
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, c->topic, c->partition);
    if ((e = rd_kafka_committed(rk, l, 5000)) || l->elems[0].err) {
        snprintf(errstr, errstr_size, "group %s: %s", c->group,
                 rd_kafka_err2str(e ? e : l->elems[0].err));
        goto out;
    }
    b->committed = l->elems[0].offset;             /* < 0: nothing committed yet */
    int64_t from = b->committed >= 0 ? b->committed : lo;
    b->behind = hi > from ? hi - from : 0;
    b->lag_s = 0;
    if (b->behind > 0) {
        /* the first record not yet done: its age is the lag; none (only the marker
         * that ends the last Kafka transaction) means nothing waits */
        l->elems[0].offset = from;
        if ((e = rd_kafka_assign(rk, l))) {
            snprintf(errstr, errstr_size, "assign %s: %s", c->topic, rd_kafka_err2str(e));
            goto out;
        }
        int64_t deadline = now_ms() + 5000;
        for (;;) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
            if (!m) {
                if (now_ms() > deadline) {
                    b->lag_s = -1;               /* unknown */
                    break;
                }
                continue;
            }
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                b->behind = 0;
                rd_kafka_message_destroy(m);
                break;
            }
            if (!m->err) {
                int64_t ts = rd_kafka_message_timestamp(m, NULL);
                b->lag_s = ts > 0 ? (double)(now_ms() - ts) / 1000.0 : -1;
                rd_kafka_message_destroy(m);
                break;
            }
            rd_kafka_message_destroy(m);
        }
    }
    rc = 0;
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return rc;
}
