/* shiftlog: the `main` plumbing every service shares.
 *
 *   int main(int argc, char **argv)
 *   {
 *       static col_conf_t cc;
 *       sl_service_t svc;
 *       int rc = sl_service_start(&svc, &col_service, &cc, argc, argv);
 *       if (rc != SL_SERVICE_CONTINUE)
 *           return rc;                       // --help, --version, bad config
 *       while (sl_service_wait(next_deadline_ms) == 0)
 *           ...work...;
 *       return sl_service_finish(&svc, 0);
 *   }
 *
 * sl_service_start parses the command line (-c FILE, -X key=value
 * (repeatable), --help, --version, --log-format text|json, --log-level,
 * --help-config-md, plus the service's own flags), loads the config
 * (defaults < file < SHIFTLOG_* environment < -X), sets up logging, signal
 * handling (SIGINT/SIGTERM set a flag; SIGPIPE ignored), the metrics registry
 * (with the process_* metrics) and the /health, /ready and /metrics endpoint
 * (key http.listen), and the status thread (sl_status.h: GET /status, the
 * progress line every progress.interval, the alert.* rules).
 *
 * Liveness (/health): the service is alive while some thread of it checks for
 * a stop request (sl_service_stopping, sl_service_wait*, a Kafka producer's
 * wait) at least every health.liveness.timeout; a call that hangs past that
 * turns /health 503 so that a supervisor restarts the process. Everything else
 * (connecting, standby, a server down, a stall, a stopped table) is readiness
 * (/ready), docs/operations.md.
 *
 * Exit codes: 0 done, 1 runtime failure, 2 usage or configuration error. */
#ifndef SL_SERVICE_H
#define SL_SERVICE_H

#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include "sl_alert.h"
#include "sl_conf.h"
#include "sl_http.h"
#include "sl_log.h"
#include "sl_metrics.h"
#include "sl_status.h"
#include "sl_version.h"


#define SL_EXIT_OK      0
#define SL_EXIT_FAILURE 1
#define SL_EXIT_USAGE   2   /* usage or configuration error */
#define SL_EXIT_DENIED  3   /* a server refused for good: authentication, missing database,
                               missing privilege (SL_ERR_DENIED); docs/applier.md */

#define SL_SERVICE_CONTINUE (-1)

/* The keys every service has; embed as a member of the service's config
 * struct and list SL_SERVICE_CONF_ENTRIES(type, member) in its table. */
typedef struct sl_service_conf_s {
    const char *http_listen;
    int64_t     liveness_timeout_ms;
    int         log_level;   /* sl_log_level_t */
    int         log_format;  /* 0 text, 1 json */
    int64_t     progress_interval_ms;   /* 0: no progress line */
    sl_alert_conf_t alert;
} sl_service_conf_t;

extern const char *const sl_service_log_levels[];   /* debug info warn error */
extern const char *const sl_service_log_formats[];  /* text json */

#define SL_SERVICE_CONF_ENTRIES(type_, member_, listen_default_)                              \
    { .name = "http.listen", .type = SL_CONF_T_STRING, .def = (listen_default_),            \
      .offset = offsetof(type_, member_.http_listen), .check = sl_http_listen_check,         \
      .help = "Address of the /health, /ready and /metrics endpoint: host:port, [ipv6]:port, "\
              ":port (all interfaces) or off. Port 0 picks a free port and logs it." },     \
    SL_CONF_ENUM("log.level", type_, member_.log_level, "info", sl_service_log_levels, 0,     \
                 "Lowest level written to the log (--log-level overrides)."),                 \
    SL_CONF_ENUM("log.format", type_, member_.log_format, "text", sl_service_log_formats, 0,  \
                 "text: one line per event; json: one JSON object per line (--log-format "    \
                 "overrides)."),                                                               \
    SL_CONF_DURATION("health.liveness.timeout", type_, member_.liveness_timeout_ms, "5m", 0,  \
                     86400000, 0,                                                             \
                     "/health answers 503 (not alive) when no thread of the service has "   \
                     "checked for a stop request for this long (a hung call); 0 = never. "   \
                     "Waiting (standby, a server down) is not hanging."),                  \
    SL_CONF_DURATION("progress.interval", type_, member_.progress_interval_ms, "30s", 0,      \
                     86400000, 0,                                                             \
                     "A progress line (state, rows/s, positions, lag, records behind) is "   \
                     "logged at info level this often; 0 = never."),                          \
    SL_ALERT_CONF_ENTRIES(type_, member_.alert)

/* kafka.bootstrap.servers, the same in every service (its value also lands
 * in the librdkafka passthrough list). */
#define SL_SERVICE_CONF_KAFKA_BOOTSTRAP(type_, member_)                                       \
    SL_CONF_STRING("kafka.bootstrap.servers", type_, member_, "127.0.0.1:19092", 0,         \
                   "Kafka brokers (host:port,...); passed to librdkafka as bootstrap.servers.")

/* A service-specific boolean command-line flag such as "--serve". */
typedef struct sl_service_flag_s {
    const char *name;
    const char *help;
    size_t      offset;      /* int field in the service's config struct, set to 1 */
    int         validate_only; /* --check: the run only validates, so no /health
                                  endpoint is started (no port is bound) */
} sl_service_flag_t;

typedef struct sl_service_def_s {
    const char              *name;       /* "collector": binary shiftlog-collector */
    const char              *summary;    /* one sentence for --help and the docs */
    const sl_conf_entry_t   *table;
    size_t                   n_table;
    const char              *task_key;   /* key naming the task in logs and /health */
    const sl_service_flag_t *flags;
    size_t                   n_flags;
    const sl_status_def_t   *status;     /* where /status finds its figures (NULL: none) */
} sl_service_def_t;

typedef struct sl_service_s {
    const sl_service_def_t *def;
    sl_conf_t               conf;     /* conf.kafka: librdkafka passthrough */
    sl_metrics_t           *metrics;  /* owned; register the service's metrics here */
    sl_http_t              *http;     /* NULL when http.listen = off */
    const char             *task;     /* borrowed from conf; may be NULL */
} sl_service_t;

/* Returns SL_SERVICE_CONTINUE when the service should run, otherwise the exit
 * code (0 after --help/--version/--help-config-md, 2 on a usage or config
 * error, 1 when the HTTP endpoint cannot start); the error has been printed.
 * conf_struct is the struct the table's offsets point into. On CONTINUE the
 * caller ends with sl_service_finish(); otherwise nothing is left to free. */
int sl_service_start(sl_service_t *svc, const sl_service_def_t *def, void *conf_struct,
                     int argc, char **argv);
/* Stops HTTP, frees everything, logs the exit; returns code. */
int sl_service_finish(sl_service_t *svc, int code);

/* Stop requested (SIGINT/SIGTERM or sl_service_request_stop). */
int  sl_service_stopping(void);
void sl_service_request_stop(void);
/* The current run stops as for a stop request, but the process goes on
 * (a lease lost: back to standby). Thread-safe. sl_service_yielded() tells
 * such a stop from a real one; sl_service_resume() clears it (a real stop
 * requested meanwhile stays). */
void sl_service_yield(void);
int  sl_service_yielded(void);
void sl_service_resume(void);
/* The stop flag itself (non-zero once a stop is requested), for blocking
 * waits in other modules (sl_kafka_producer_conf_t.stop). */
const volatile sig_atomic_t *sl_service_stop_flag(void);

/* Marks the process as responsive (liveness, see above); called by
 * sl_service_stopping() and the waits, so loops rarely need it themselves. */
void    sl_service_beat(void);
/* Milliseconds since the last beat (0 while a thread waits in sl_service_wait*). */
int64_t sl_service_idle_ms(void);

/* Monotonic clock in milliseconds, for deadlines. */
int64_t sl_service_now_ms(void);
/* Waits until timeout_ms passes (-1 = forever), one of fds is ready, or a
 * stop is requested, without a race against the signal (ppoll with the
 * signals unblocked only while waiting). Returns 1 when a stop is requested,
 * 0 on timeout or ready fds (see revents), -1 on a poll error. */
int sl_service_wait_fds(struct pollfd *fds, nfds_t nfds, int timeout_ms);
int sl_service_wait(int timeout_ms);
int sl_service_wait_until(int64_t deadline_ms);

#endif
