/* shiftlog status: every collector, miner and applier the user names (their
 * endpoints or their config files) in one table: state, positions, records
 * behind, lag, rows/s, last error (docs/operations.md). A service answers
 * from its GET /status; for a miner or an applier named by its config file
 * the records behind and the lag come from Kafka itself (its consumer
 * group's committed offset against the partition's end), so a service that
 * is stopped or hung still shows how far behind it falls. */
#include <bson/bson.h>
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sl_buf.h"
#include "status.h"

typedef struct row_s {
    char   target[300], service[32], name[128], state[40], source[400], applied[400];
    char   last_error[520], why[700];
    int    answered, ready, has_behind, has_lag;
    double behind, lag_s, rows_per_s;
    sl_buf_t raw;             /* the service's /status JSON */
    int    has_backlog;
    cli_backlog_t backlog;
} row_t;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: shiftlog status [--json] [--watch SECONDS] [--count N] TARGET...\n"
        "\n"
        "Shows every collector, miner and applier named: state, source position, applied\n"
        "position, records behind, lag, rows/s and last error. A TARGET is a service's\n"
        "endpoint (http://127.0.0.1:9102, its http.listen) or its config file: then the\n"
        "endpoint is its http.listen (a fixed port), and for a miner or an applier the\n"
        "records behind and the lag are read from Kafka (its consumer group's offset\n"
        "against the topic's end), so they stay known while the service is stopped.\n"
        "\n"
        "  --json           one JSON array (per target: the figures and the service's\n"
        "                   own /status answer)\n"
        "  --watch SECONDS  show it again every SECONDS (1..3600) until interrupted\n"
        "  --count N        with --watch: stop after N refreshes\n"
        "\n"
        "exit status: 0 every service answered and is ready, 1 otherwise, 2 usage\n");
}

/* Reads the /status JSON into r. */
static void parse_status(row_t *r)
{
    bson_error_t be;
    bson_t *doc = bson_new_from_json((const uint8_t *)r->raw.data, (ssize_t)r->raw.len, &be);
    bson_iter_t it;
    if (!doc || !bson_iter_init(&it, doc)) {
        snprintf(r->why, sizeof r->why, "not a /status answer: %s", doc ? "" : be.message);
        r->answered = 0;
        if (doc)
            bson_destroy(doc);
        return;
    }
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        bson_type_t t = bson_iter_type(&it);
        double num = t == BSON_TYPE_DOUBLE ? bson_iter_double(&it)
                     : t == BSON_TYPE_INT32 ? bson_iter_int32(&it)
                     : t == BSON_TYPE_INT64 ? (double)bson_iter_int64(&it) : 0;
        int isnum = t == BSON_TYPE_DOUBLE || t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64;
        const char *s = t == BSON_TYPE_UTF8 ? bson_iter_utf8(&it, NULL) : NULL;
        if (!strcmp(k, "service") && s)
            snprintf(r->service, sizeof r->service, "%s", s);
        else if (!strcmp(k, "task") && s)
            snprintf(r->name, sizeof r->name, "%s", s);
        else if (!strcmp(k, "state") && s)
            snprintf(r->state, sizeof r->state, "%s", s);
        else if (!strcmp(k, "ready") && t == BSON_TYPE_BOOL)
            r->ready = bson_iter_bool(&it);
        else if (!strcmp(k, "source_position") && s)
            snprintf(r->source, sizeof r->source, "%s", s);
        else if (!strcmp(k, "applied_position") && s)
            snprintf(r->applied, sizeof r->applied, "%s", s);
        else if (!strcmp(k, "records_behind") && isnum) {
            r->behind = num;
            r->has_behind = 1;
        } else if (!strcmp(k, "lag_s") && isnum) {
            r->lag_s = num;
            r->has_lag = 1;
        } else if (!strcmp(k, "rows_per_s") && isnum)
            r->rows_per_s = num;
        else if (!strcmp(k, "last_error") && s)
            snprintf(r->last_error, sizeof r->last_error, "%s", s);
    }
    bson_destroy(doc);
}

static void ask(row_t *r, const char *url)
{
    char full[400];
    long status = 0;
    snprintf(full, sizeof full, "%.*s/status", cli_base_len(url), url);
    if (cli_http_request_quiet(full, &r->raw, &status, r->why, sizeof r->why) != 0)
        return;
    if (status != 200) {
        snprintf(r->why, sizeof r->why, "%s answered HTTP %ld (a service older than "
                 "/status?)", full, status);
        return;
    }
    r->answered = 1;
    parse_status(r);
}

static void look(row_t *r, const char *target)
{
    char errstr[600];
    memset(r, 0, sizeof(*r));
    snprintf(r->target, sizeof r->target, "%s", target);
    if (strstr(target, "://")) {
        ask(r, target);
        return;
    }
    cli_svc_conf_t c;
    if (cli_svc_conf_load(&c, target, errstr, sizeof errstr)) {
        snprintf(r->why, sizeof r->why, "%s", errstr);
        return;
    }
    snprintf(r->service, sizeof r->service, "%s", c.kind);
    snprintf(r->name, sizeof r->name, "%s", c.name);
    if (c.url[0])
        ask(r, c.url);
    else
        snprintf(r->why, sizeof r->why, "no fixed http.listen port in %s", target);
    if (c.topic[0]) {
        if (cli_svc_backlog(&c, &r->backlog, errstr, sizeof errstr) == 0) {
            /* Kafka's view wins: it holds while the service does not answer */
            r->has_backlog = 1;
            r->behind = (double)r->backlog.behind;
            r->has_behind = 1;
            r->has_lag = r->backlog.lag_s >= 0;
            r->lag_s = r->backlog.lag_s;
            if (!r->answered)
                snprintf(r->applied, sizeof r->applied, "offset %lld (group %s)",
                         (long long)(r->backlog.committed >= 0 ? r->backlog.committed - 1 : -1),
                         c.group);
            if (!r->answered)
                snprintf(r->source, sizeof r->source, "%s[%d] end offset %lld", c.topic,
                         c.partition, (long long)r->backlog.end);
        } else if (!r->why[0]) {
            snprintf(r->why, sizeof r->why, "%s", errstr);
        }
    }
    cli_svc_conf_free(&c);
}

static void put_json_str(sl_buf_t *b, const char *k, const char *v)
{
    sl_buf_printf(b, ",\"%s\":", k);
    if (v && *v)
        sl_buf_json_str(b, v, strlen(v));
    else
        sl_buf_puts(b, "null");
}

static void print_json(row_t *rows, int n)
{
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, "[");
    for (int i = 0; i < n; i++) {
        row_t *r = &rows[i];
        sl_buf_puts(&b, i ? ",\n {\"target\":" : "{\"target\":");
        sl_buf_json_str(&b, r->target, strlen(r->target));
        put_json_str(&b, "service", r->service);
        put_json_str(&b, "name", r->name);
        sl_buf_printf(&b, ",\"answered\":%s,\"ready\":%s", r->answered ? "true" : "false",
                      r->answered && r->ready ? "true" : "false");
        put_json_str(&b, "state", r->answered ? r->state : "no answer");
        put_json_str(&b, "source_position", r->source);
        put_json_str(&b, "applied_position", r->applied);
        if (r->has_behind)
            sl_buf_printf(&b, ",\"records_behind\":%.0f", r->behind);
        else
            sl_buf_puts(&b, ",\"records_behind\":null");
        if (r->has_lag)
            sl_buf_printf(&b, ",\"lag_s\":%.3f", r->lag_s);
        else
            sl_buf_puts(&b, ",\"lag_s\":null");
        sl_buf_printf(&b, ",\"rows_per_s\":%.1f", r->rows_per_s);
        put_json_str(&b, "last_error", r->last_error);
        put_json_str(&b, "error", r->why);
        if (r->has_backlog)
            sl_buf_printf(&b, ",\"kafka\":{\"committed\":%lld,\"end\":%lld}",
                          (long long)r->backlog.committed, (long long)r->backlog.end);
        else
            sl_buf_puts(&b, ",\"kafka\":null");
        sl_buf_puts(&b, ",\"status\":");
        if (r->answered && r->raw.data) {
            while (r->raw.len && r->raw.data[r->raw.len - 1] == '\n')
                r->raw.data[--r->raw.len] = '\0';
            sl_buf_append(&b, r->raw.data, r->raw.len);
        } else {
            sl_buf_puts(&b, "null");
        }
        sl_buf_puts(&b, "}");
    }
    sl_buf_puts(&b, "]\n");
    fputs(b.data, stdout);
    sl_buf_free(&b);
}

static void print_table(row_t *rows, int n)
{
    printf("%-26s %-12s %-28s %-34s %8s %9s %8s  %s\n", "SERVICE", "STATE", "SOURCE POSITION",
           "APPLIED POSITION", "BEHIND", "LAG", "ROWS/S", "LAST ERROR");
    for (int i = 0; i < n; i++) {
        row_t *r = &rows[i];
        char who[200], behind[32] = "-", lag[32] = "-";
        if (r->service[0])
            snprintf(who, sizeof who, "%s%s%s%s", r->service, r->name[0] ? "[" : "", r->name,
                     r->name[0] ? "]" : "");
        else
            snprintf(who, sizeof who, "%s", r->target);
        if (r->has_behind)
            snprintf(behind, sizeof behind, "%.0f", r->behind);
        if (r->has_lag)
            snprintf(lag, sizeof lag, "%.1fs", r->lag_s);
        printf("%-26s %-12s %-28s %-34s %8s %9s %8.1f  %s\n", who,
               r->answered ? r->state : "no answer", r->source[0] ? r->source : "-",
               r->applied[0] ? r->applied : "-", behind, lag, r->rows_per_s,
               r->answered ? (r->last_error[0] ? r->last_error : "-") : r->why);
    }
}

int cli_status_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},   {"watch", required_argument, NULL, 'w'},
        {"count", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json = 0, watch = 0, count = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "jw:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'w': watch = atoi(optarg); break;
        case 'n': count = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc || (watch && (watch < 1 || watch > 3600)) || count < 0) {
        usage(stderr);
        return 2;
    }
    int n = argc - optind, rc = 0;
    row_t *rows = calloc((size_t)n, sizeof(row_t));
    if (!rows)
        return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int round = 1;; round++) {
        rc = 0;
        for (int i = 0; i < n; i++) {
            sl_buf_free(&rows[i].raw);
            look(&rows[i], argv[optind + i]);
            if (!rows[i].answered || !rows[i].ready)
                rc = 1;
        }
        if (watch && !json && isatty(STDOUT_FILENO))
            fputs("\033[H\033[2J", stdout);
        if (json)
            print_json(rows, n);
        else
            print_table(rows, n);
        fflush(stdout);
        if (!watch || (count && round >= count))
            break;
        if (!json)
            printf("\n");
        sleep((unsigned)watch);
    }
    for (int i = 0; i < n; i++)
        sl_buf_free(&rows[i].raw);
    free(rows);
    curl_global_cleanup();
    return rc;
}
