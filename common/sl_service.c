/* shiftlog: service bootstrap (see sl_service.h). */
#include "sl_service.h"
#include "sl_procstat.h"

#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const sl_service_log_levels[] = {"debug", "info", "warn", "error", NULL};
const char *const sl_service_log_formats[] = {"text", "json", NULL};

static volatile sig_atomic_t stop_requested;
static _Atomic int64_t beat_ms;   /* last check for a stop request (monotonic) */
static atomic_int      waiting;   /* threads inside sl_service_wait_fds */

void sl_service_beat(void)
{
    atomic_store_explicit(&beat_ms, sl_service_now_ms(), memory_order_relaxed);
}

int64_t sl_service_idle_ms(void)
{
    if (atomic_load_explicit(&waiting, memory_order_relaxed) > 0)
        return 0;
    int64_t idle = sl_service_now_ms() - atomic_load_explicit(&beat_ms, memory_order_relaxed);
    return idle > 0 ? idle : 0;
}

static void on_stop_signal(int signo)
{
    stop_requested = signo;
}

int sl_service_stopping(void)
{
    sl_service_beat();
    return stop_requested != 0;
}

void sl_service_request_stop(void)
{
    stop_requested = -1;
}

#define SL_YIELD (-2)

void sl_service_yield(void)
{
    sig_atomic_t none = 0;
    __atomic_compare_exchange_n(&stop_requested, &none, SL_YIELD, 0, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
}

int sl_service_yielded(void)
{
    return stop_requested == SL_YIELD;
}

void sl_service_resume(void)
{
    sig_atomic_t y = SL_YIELD;
    __atomic_compare_exchange_n(&stop_requested, &y, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

const volatile sig_atomic_t *sl_service_stop_flag(void)
{
    return &stop_requested;
}

int64_t sl_service_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sl_service_wait_fds(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    sl_service_beat();
    if (stop_requested) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    struct timespec ts, *tsp = NULL;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tsp = &ts;
    }
    /* The signal, if pending, is delivered inside ppoll and interrupts it. */
    atomic_fetch_add(&waiting, 1);   /* a long wait is not a hang */
    int rc = ppoll(fds, nfds, tsp, &old);
    int saved = errno;
    atomic_fetch_sub(&waiting, 1);
    sl_service_beat();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (stop_requested)
        return 1;
    if (rc < 0 && saved != EINTR) {
        errno = saved;
        return -1;
    }
    return 0;
}

int sl_service_wait(int timeout_ms)
{
    return sl_service_wait_fds(NULL, 0, timeout_ms);
}

int sl_service_wait_until(int64_t deadline_ms)
{
    int64_t left = deadline_ms - sl_service_now_ms();
    if (left < 0)
        left = 0;
    if (left > 0x7fffffff)
        left = 0x7fffffff;
    return sl_service_wait((int)left);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  /* no SA_RESTART: blocking calls return EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* --- command line ------------------------------------------------------- */

static void usage(const sl_service_def_t *def, FILE *out)
{
    fprintf(out,
            "usage: shiftlog-%s [-c FILE] [-X key=value]... [options]\n"
            "%s\n\n"
            "options:\n"
            "  -c, --config FILE        config file (key = value lines)\n"
            "  -X key=value             override a config key (repeatable; kafka.* pass\n"
            "                           through to librdkafka)\n"
            "  --log-format text|json   log line format (overrides log.format)\n"
            "  --log-level LEVEL        debug|info|warn|error (overrides log.level)\n"
            "  --help-config-md         print the Markdown config reference and exit\n"
            "  -V, --version            print the version and exit\n"
            "  -h, --help               print this help and exit\n",
            def->name, def->summary ? def->summary : "");
    for (size_t i = 0; i < def->n_flags; i++)
        fprintf(out, "  %-24s %s\n", def->flags[i].name, def->flags[i].help);
    fprintf(out, "\nendpoint (http.listen): GET /health (liveness), GET /ready (readiness),\n"
                 "GET /metrics (Prometheus); docs/operations.md\n\n%s", SL_EXIT_CODES_HELP);
}

static void print_help(const sl_service_def_t *def)
{
    sl_buf_t b = SL_BUF_INIT;
    usage(def, stdout);
    printf("\nconfiguration keys (precedence: default < file < environment < -X):\n");
    sl_conf_write_help(def->table, def->n_table, &b);
    if (b.data)
        fputs(b.data, stdout);
    printf("  kafka.*  (string)\n      Any other librdkafka property, passed through without "
           "the kafka. prefix.\n");
    sl_buf_free(&b);
}

static int usage_error(const sl_service_def_t *def, const char *fmt, const char *arg)
{
    fprintf(stderr, "shiftlog-%s: ", def->name);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see --help)\n");
    return SL_EXIT_USAGE;
}

/* Value of an option given as "--opt VALUE" or "--opt=VALUE"; NULL if argv[*i]
 * is not that option. Sets *missing when the value is absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *lng,
                             const char *shrt, int *missing)
{
    const char *a = argv[*i];
    size_t ll = strlen(lng);
    if (strcmp(a, lng) == 0 || (shrt && strcmp(a, shrt) == 0)) {
        if (*i + 1 >= argc) {
            *missing = 1;
            return NULL;
        }
        return argv[++*i];
    }
    if (strncmp(a, lng, ll) == 0 && a[ll] == '=')
        return a + ll + 1;
    if (shrt && strncmp(a, shrt, strlen(shrt)) == 0 && a[strlen(shrt)])
        return a + strlen(shrt);
    return NULL;
}

/* What the command line asked for. */
typedef struct start_args_s {
    const char  *config, *log_format, *log_level;
    const char **xargs;        /* -X key=value, in order */
    size_t       nx;
    int          validate_only;
} start_args_t;

/* The command line: options, -X pairs, the service's flags (set in
 * conf_struct). SL_SERVICE_CONTINUE, or the exit code of --help,
 * --version, --help-config-md or a usage error. */
static int parse_args(const sl_service_def_t *def, void *conf_struct, int argc, char **argv,
                      start_args_t *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        int missing = 0;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_help(def);
            return SL_EXIT_OK;
        }
        if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            printf("shiftlog-%s %s\n", def->name, SHIFTLOG_VERSION);
            return SL_EXIT_OK;
        }
        if (strcmp(arg, "--help-config-md") == 0) {
            sl_buf_t b = SL_BUF_INIT;
            char title[128];
            snprintf(title, sizeof(title), "shiftlog-%s", def->name);
            sl_conf_write_md(def->table, def->n_table, title, def->summary, &b);
            sl_buf_puts(&b, "Any other `kafka.*` key is passed to librdkafka without the "
                            "`kafka.` prefix (file and `-X` only).\n\n");
            if (b.data)
                fputs(b.data, stdout);
            sl_buf_free(&b);
            return SL_EXIT_OK;
        }
        if ((v = opt_value(argc, argv, &i, "--config", "-c", &missing))) {
            a->config = v;
            continue;
        }
        if (!missing && (v = opt_value(argc, argv, &i, "-X", NULL, &missing))) {
            a->xargs[a->nx++] = v;
            continue;
        }
        if (!missing && strncmp(arg, "-X", 2) == 0 && arg[2]) {
            a->xargs[a->nx++] = arg + 2;
            continue;
        }
        if (!missing && (v = opt_value(argc, argv, &i, "--log-format", NULL, &missing))) {
            a->log_format = v;
            continue;
        }
        if (!missing && (v = opt_value(argc, argv, &i, "--log-level", NULL, &missing))) {
            a->log_level = v;
            continue;
        }
        if (missing)
            return usage_error(def, "option %s needs a value", arg);
        size_t f;
        for (f = 0; f < def->n_flags; f++)
            if (strcmp(arg, def->flags[f].name) == 0)
                break;
        if (f < def->n_flags) {
            int one = 1;
            memcpy((char *)conf_struct + def->flags[f].offset, &one, sizeof(one));
            a->validate_only |= def->flags[f].validate_only;
            continue;
        }
        return usage_error(def, arg[0] == '-' ? "unknown option \"%s\"" : "unexpected argument "
                           "\"%s\"", arg);
    }
    return SL_SERVICE_CONTINUE;
}

/* The configuration: defaults < file < environment < -X, checked; then
 * logging as configured (the command line wins over the file) and the
 * task's name. SL_SERVICE_CONTINUE or SL_EXIT_USAGE. */
static int load_conf(sl_service_t *svc, const sl_service_def_t *def, void *conf_struct,
                     const start_args_t *a)
{
    char errstr[1024];
    sl_log_level_t lvl = SL_LOG_INFO;
    if (a->log_format && strcmp(a->log_format, "json") != 0 &&
        strcmp(a->log_format, "text") != 0)
        return usage_error(def, "--log-format: \"%s\" is not one of text|json", a->log_format);
    if (a->log_level && sl_log_level_parse(a->log_level, &lvl) != 0)
        return usage_error(def, "--log-level: \"%s\" is not one of debug|info|warn|error",
                           a->log_level);
    if (a->log_format)
        sl_log_set_json(strcmp(a->log_format, "json") == 0);

    sl_err_t err = sl_conf_init(&svc->conf, def->table, def->n_table, conf_struct, errstr,
                                sizeof(errstr));
    if (err == SL_OK && a->config)
        err = sl_conf_load_file(&svc->conf, a->config, errstr, sizeof(errstr));
    if (err == SL_OK)
        err = sl_conf_apply_env(&svc->conf, errstr, sizeof(errstr));
    for (size_t k = 0; err == SL_OK && k < a->nx; k++)
        err = sl_conf_apply_arg(&svc->conf, a->xargs[k], errstr, sizeof(errstr));
    if (err == SL_OK)
        err = sl_conf_check(&svc->conf, errstr, sizeof(errstr));
    if (err != SL_OK) {
        sl_error("%s", errstr);
        sl_conf_free(&svc->conf);
        return SL_EXIT_USAGE;
    }

    const char *cl = sl_conf_get(&svc->conf, "log.level");
    const char *cf = sl_conf_get(&svc->conf, "log.format");
    if (!a->log_level && cl)
        sl_log_level_parse(cl, &lvl);
    sl_log_set_level(lvl);
    if (!a->log_format && cf)
        sl_log_set_json(strcmp(cf, "json") == 0);
    svc->task = def->task_key ? sl_conf_get(&svc->conf, def->task_key) : NULL;
    if (svc->task && !*svc->task)
        svc->task = NULL;
    sl_log_init(def->name, svc->task);
    return SL_SERVICE_CONTINUE;
}

/* Logs the start and, at debug, every configuration value. */
static void log_start(const sl_service_t *svc, const sl_service_def_t *def, const char *config)
{
    sl_info("shiftlog-%s %s starting (config %s)", def->name, SHIFTLOG_VERSION,
            config ? config : "none: defaults, environment and -X");
    sl_buf_t dump = SL_BUF_INIT;
    if (sl_conf_dump(&svc->conf, &dump) == SL_OK && dump.data) {
        char *save = NULL;
        for (char *line = strtok_r(dump.data, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
            sl_debug("config: %s", line);
    }
    sl_buf_free(&dump);
}

/* The HTTP endpoint is up: liveness, and one line saying where. */
static void log_http(sl_service_t *svc, const sl_service_def_t *def, void *conf_struct,
                     const char *listen)
{
    if (!svc->http) {
        sl_info("http: endpoint off (http.listen = off)");
        return;
    }
    int64_t live_ms = 0;
    for (size_t k = 0; k < def->n_table; k++)
        if (!strcmp(def->table[k].name, "health.liveness.timeout"))
            memcpy(&live_ms, (char *)conf_struct + def->table[k].offset, sizeof(live_ms));
    sl_service_beat();
    sl_http_set_liveness(svc->http, sl_service_idle_ms, live_ms);
    char host[256];
    const char *colon = strrchr(listen, ':');
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    if (hl >= sizeof(host))
        hl = sizeof(host) - 1;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    sl_info("http: serving /health and /metrics on %s:%d (and /ready)", hl ? host : "0.0.0.0",
            sl_http_port(svc->http));
}

/* Metrics, alerts, then (unless only validating) the HTTP endpoint and the
 * status thread. SL_SERVICE_CONTINUE or the exit code. */
static int start_serving(sl_service_t *svc, const sl_service_def_t *def, void *conf_struct,
                         int validate_only)
{
    char errstr[1024];
    svc->metrics = sl_metrics_new();
    if (!svc->metrics) {
        sl_error("out of memory");
        return sl_service_finish(svc, SL_EXIT_FAILURE);
    }
    sl_metric_set(sl_metrics_gauge(svc->metrics, "shiftlog_build_info",
                                   "Version of the running service (always 1).",
                                   (const char *[]){"service", def->name, "version",
                                                    SHIFTLOG_VERSION, NULL}),
                  1);
    sl_procstat_register(svc->metrics);

    const char *listen = sl_conf_get(&svc->conf, "http.listen");
    /* the common keys: SL_SERVICE_CONF_ENTRIES put http.listen in an sl_service_conf_t */
    const sl_service_conf_t *sc = NULL;
    for (size_t k = 0; k < def->n_table; k++)
        if (!strcmp(def->table[k].name, "http.listen"))
            sc = (const void *)((char *)conf_struct + def->table[k].offset -
                                offsetof(sl_service_conf_t, http_listen));
    sl_alert_t *alerts = NULL;
    errstr[0] = '\0';
    if (sc && sl_alert_configured(&sc->alert) &&
        !(alerts = sl_alert_new(&sc->alert, def->name, svc->task, svc->metrics, errstr,
                                sizeof(errstr)))) {
        sl_error("%s", errstr[0] ? errstr : "alerts: out of memory");
        return sl_service_finish(svc, errstr[0] ? SL_EXIT_USAGE : SL_EXIT_FAILURE);
    }
    if (validate_only) {
        sl_alert_free(alerts);
        sl_debug("http: not serving (only validating the configuration)");
        return SL_SERVICE_CONTINUE;
    }
    if (sl_http_start(&svc->http, listen, def->name, svc->task, svc->metrics, errstr,
                      sizeof(errstr)) != SL_OK) {
        sl_error("%s", errstr);
        sl_alert_free(alerts);
        return sl_service_finish(svc, SL_EXIT_FAILURE);
    }
    if (sl_status_start(def->status, def->name, svc->task, svc->metrics, svc->http,
                        sc ? sc->progress_interval_ms : 0, alerts) != SL_OK) {
        sl_error("status: cannot start its thread (out of memory)");
        return sl_service_finish(svc, SL_EXIT_FAILURE);
    }
    if (alerts)
        sl_info("alerts: %s%s%s", sc->alert.webhook_url && *sc->alert.webhook_url ? "webhook" : "",
                sc->alert.webhook_url && *sc->alert.webhook_url && sc->alert.mail_url &&
                *sc->alert.mail_url ? " and " : "",
                sc->alert.mail_url && *sc->alert.mail_url ? "mail" : "");
    log_http(svc, def, conf_struct, listen);
    return SL_SERVICE_CONTINUE;
}

int sl_service_start(sl_service_t *svc, const sl_service_def_t *def, void *conf_struct,
                     int argc, char **argv)
{
    start_args_t a = {0};
    memset(svc, 0, sizeof(*svc));
    svc->def = def;
    sl_log_init(def->name, NULL);
    if (!(a.xargs = calloc((size_t)argc + 1, sizeof(*a.xargs))))
        return SL_EXIT_FAILURE;
    int rc = parse_args(def, conf_struct, argc, argv, &a);
    if (rc == SL_SERVICE_CONTINUE)
        rc = load_conf(svc, def, conf_struct, &a);
    if (rc == SL_SERVICE_CONTINUE) {
        install_signals();
        log_start(svc, def, a.config);
        rc = start_serving(svc, def, conf_struct, a.validate_only);
    }
    free(a.xargs);
    return rc;
}

int sl_service_finish(sl_service_t *svc, int code)
{
    sl_status_stop();
    sl_http_stop(svc->http);
    svc->http = NULL;
    sl_metrics_destroy(svc->metrics);
    svc->metrics = NULL;
    if (stop_requested > 0)
        sl_info("stopped by %s, exit %d", stop_requested == SIGTERM ? "SIGTERM" : "SIGINT", code);
    else
        sl_info("exit %d", code);
    sl_conf_free(&svc->conf);
    return code;
}
