/* shiftlog: alerts (issue 22). Every service evaluates the same rules on
 * what its /status says (sl_status.h), once a second, in the status thread:
 *
 *   lag        lag above alert.lag for alert.for
 *   behind     records behind above alert.behind for alert.for
 *   not_ready  not ready (suspended, target or source down, stalled, a
 *              stopped table, hung) for alert.for; standby counts only with
 *              alert.standby = true (a hot standby is normal); paused (the
 *              task table says so) never
 *   errors     the error count grew (fires at once)
 *   dlq        the dead-letter count grew (fires at once)
 *   retention  (collector) the source is about to drop change log the
 *              collector still needs, or keeps more than alert.retention
 *              bytes of it, for alert.for (collector/col_retain.h)
 *
 * A rule sends one "firing" message when it starts to hold and one
 * "resolved" message once it has not held for alert.for: never the same
 * state twice in a row (de-duplicated). Messages go to a JSON webhook (HTTP
 * POST) and/or by mail (SMTP), both through libcurl, from a sender thread of
 * their own: a webhook or mail server that hangs (up to the 10 s timeout per
 * attempt) never holds the status loop, its rates or the shutdown. Each
 * channel queues up to 32 messages (the oldest dropped when full, counted in
 * shiftlog_alerts_dropped_total); a delivery that fails is retried every
 * second, up to 5 times per message. docs/operations.md shows both message
 * formats. */
#ifndef SL_ALERT_H
#define SL_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "sl_conf.h"
#include "sl_metrics.h"

struct sl_status_snap_s;

typedef struct sl_alert_conf_s {
    const char *webhook_url;
    const char *mail_url;      /* smtp://host:port or smtps://host:port */
    const char *mail_from;
    const char *mail_to;       /* comma-separated */
    const char *mail_user;
    const char *mail_password;
    int64_t     lag_ms;        /* 0: off */
    int64_t     behind;        /* 0: off */
    int64_t     for_ms;
    int64_t     retention;     /* bytes; 0: only when the source is about to drop some */
    int         not_ready, standby, errors, dlq;   /* booleans */
} sl_alert_conf_t;

#define SL_ALERT_CONF_ENTRIES(type_, m_)                                                      \
    SL_CONF_STRING("alert.webhook.url", type_, m_.webhook_url, NULL, 0,                       \
                   "Alerts are POSTed as JSON to this http(s) URL; empty: no webhook."),      \
    SL_CONF_STRING("alert.mail.url", type_, m_.mail_url, NULL, 0,                            \
                   "Alerts are mailed through this SMTP server: smtp://host:port (STARTTLS "  \
                   "when offered; required when alert.mail.user is set) or smtps://host:port;"\
                   " empty: no mail."),                                                        \
    SL_CONF_STRING("alert.mail.from", type_, m_.mail_from, "shiftlog@localhost", 0,          \
                   "Sender address of alert mails."),                                          \
    SL_CONF_STRING("alert.mail.to", type_, m_.mail_to, NULL, 0,                              \
                   "Recipients of alert mails, comma-separated (needed with alert.mail.url)."),\
    SL_CONF_STRING("alert.mail.user", type_, m_.mail_user, NULL, 0,                          \
                   "SMTP login; empty: none."),                                                \
    SL_CONF_SECRET("alert.mail.password", type_, m_.mail_password, 0, "SMTP password."),     \
    SL_CONF_DURATION("alert.lag", type_, m_.lag_ms, "0", 0, INT64_C(864000000), 0,           \
                     "Alert when the lag stays above this for alert.for; 0 = no lag alert."), \
    SL_CONF_INT("alert.behind", type_, m_.behind, "0", 0, INT64_MAX, 0,                      \
                "Alert when the records behind stay above this for alert.for; 0 = none."),    \
    SL_CONF_DURATION("alert.for", type_, m_.for_ms, "1m", 0, INT64_C(86400000), 0,           \
                     "How long a condition (lag, behind, not ready) must hold before its "   \
                     "alert fires, and be gone before the recovery message is sent."),        \
    SL_CONF_SIZE("alert.retention", type_, m_.retention, "0", 0, INT64_MAX, 0,                \
                 "Collector: alert when the source keeps more than this much change log "    \
                 "(binlog, WAL) for it for alert.for; it alerts anyway when the source is "  \
                 "about to drop some it still needs. 0 = only then."),                       \
    SL_CONF_BOOL("alert.not_ready", type_, m_.not_ready, "true", 0,                          \
                 "Alert when the service is not ready (suspended, a server down, stalled, " \
                 "a stopped table) for alert.for."),                                          \
    SL_CONF_BOOL("alert.standby", type_, m_.standby, "false", 0,                             \
                 "Count standby as not ready (for a copy that must be the active one)."),    \
    SL_CONF_BOOL("alert.errors", type_, m_.errors, "true", 0,                                \
                 "Alert when the error count grows (recovered after alert.for without)."),   \
    SL_CONF_BOOL("alert.dlq", type_, m_.dlq, "true", 0,                                      \
                 "Alert when records go to the dead-letter topic (recovered after "          \
                 "alert.for without).")

typedef struct sl_alert_s sl_alert_t;

/* One message: a rule that starts (firing) or stops (resolved) holding. */
typedef struct sl_alert_note_s {
    char    rule[16];
    int     firing;
    double  value, threshold;
    char    summary[768];
    int64_t at_ms;              /* wall clock */
} sl_alert_note_t;

/* Delivers note on one channel; 0 when delivered, else -1 with errstr. */
typedef int sl_alert_send_fn(void *ctx, const sl_alert_note_t *note,
                             const struct sl_status_snap_s *snap, char *errstr,
                             size_t errstr_size);

/* Returns the rules of conf for service/task (copied), or NULL when no
 * channel is configured (no alerts) or on OOM. *errstr is set (and NULL
 * returned) when the configuration cannot work (mail without recipients).
 * metrics (borrowed, may be NULL) gets shiftlog_alerts_{sent,failed}_total
 * and shiftlog_alerts_firing. Free with sl_alert_free(). */
sl_alert_t *sl_alert_new(const sl_alert_conf_t *conf, const char *service, const char *task,
                         sl_metrics_t *metrics, char *errstr, size_t errstr_size);
void        sl_alert_free(sl_alert_t *a);
/* 1 when conf names a channel. */
int         sl_alert_configured(const sl_alert_conf_t *conf);
/* Replaces the channels (webhook, mail) by one sender (the unit tests),
 * called synchronously by sl_alert_eval instead of the sender thread. */
void        sl_alert_set_sender(sl_alert_t *a, sl_alert_send_fn *fn, void *ctx);
/* Evaluates every rule on snap at now_ms (monotonic) and queues the
 * messages of the rules that changed for the sender thread; never blocks on
 * a channel. */
void        sl_alert_eval(sl_alert_t *a, const struct sl_status_snap_s *snap, int64_t now_ms);
/* Sends one test message (rule "test") on every channel now; 0 when every
 * channel took it, else -1 with the first failure in errstr. */
int         sl_alert_test(sl_alert_t *a, const struct sl_status_snap_s *snap, char *errstr,
                          size_t errstr_size);

/* The channels themselves (sl_alert_send.c); ctx is the sl_alert_conf_t.
 * stop (may be NULL) is polled during the transfer: non-zero aborts it. */
int sl_alert_send_webhook(void *ctx, const sl_alert_note_t *note,
                          const struct sl_status_snap_s *snap, const char *service,
                          const char *task, const int *stop, char *errstr,
                          size_t errstr_size);
int sl_alert_send_mail(void *ctx, const sl_alert_note_t *note,
                       const struct sl_status_snap_s *snap, const char *service,
                       const char *task, const int *stop, char *errstr, size_t errstr_size);

#endif
