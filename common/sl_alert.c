/* shiftlog: the alert rules and their de-duplication (see sl_alert.h); the
 * channels are in sl_alert_send.c. */
#include "sl_alert.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sl_log.h"
#include "sl_status.h"

#define ALERT_QUEUE    32   /* messages waiting per channel; the oldest goes when full */
#define ALERT_ATTEMPTS 5

enum { R_LAG, R_BEHIND, R_NOT_READY, R_ERRORS, R_DLQ, R_RETENTION, R_COUNT };
static const char *const rule_names[R_COUNT] = {"lag", "behind", "not_ready", "errors", "dlq",
                                                "retention"};

typedef struct rule_s {
    int     on;
    int     firing;
    int64_t since_ms;      /* when the condition began to hold (or to be gone); -1: not */
    double  last_count;    /* errors, dlq: the count seen at the last evaluation */
} rule_t;

typedef struct queued_s {
    sl_alert_note_t  note;
    sl_status_snap_t snap;                    /* the look that raised it (the message shows it) */
    int              attempts;
    uint64_t         seq;                     /* tells a dropped head from its successor */
} queued_t;

typedef struct channel_s {
    const char *name;                         /* "webhook", "mail", "test" */
    queued_t    q[ALERT_QUEUE];
    int         head, n;
    int64_t     retry_ms;                     /* monotonic: no attempt before */
    sl_metric_t *m_sent, *m_failed, *m_dropped;
} channel_t;

struct sl_alert_s {
    sl_alert_conf_t   c;
    char              service[64], task[128];
    rule_t            rules[R_COUNT];
    channel_t         ch[2];
    int               nch;
    sl_alert_send_fn *test_fn;
    void             *test_ctx;
    sl_metric_t      *m_firing;
    char             *strings;   /* the copied conf strings, one block */
    /* the sender thread; lock guards ch[] (queues) and seq */
    pthread_mutex_t   lock;
    pthread_cond_t    wake;
    pthread_t         sender;
    int               sender_on;
    int               stop;      /* atomic: the sender ends, a transfer is aborted */
    uint64_t          seq;
};

static void *sender_main(void *arg);

int sl_alert_configured(const sl_alert_conf_t *c)
{
    return (c->webhook_url && *c->webhook_url) || (c->mail_url && *c->mail_url);
}

/* Copies the conf's strings into one block owned by a (the service's conf may go first). */
static int copy_strings(sl_alert_t *a)
{
    const char **f[] = {&a->c.webhook_url, &a->c.mail_url, &a->c.mail_from, &a->c.mail_to,
                        &a->c.mail_user, &a->c.mail_password};
    size_t n = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        n += (*f[i] ? strlen(*f[i]) : 0) + 1;
    char *p = a->strings = malloc(n);
    if (!p)
        return -1;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        const char *s = *f[i] ? *f[i] : "";
        size_t l = strlen(s) + 1;
        memcpy(p, s, l);
        *f[i] = p;
        p += l;
    }
    return 0;
}

static void add_channel(sl_alert_t *a, const char *name, sl_metrics_t *m)
{
    channel_t *ch = &a->ch[a->nch++];
    ch->name = name;
    if (m) {
        ch->m_sent = sl_metrics_counter(m, "shiftlog_alerts_sent_total",
                                        "Alert messages delivered, per channel.",
                                        (const char *[]){"channel", name, NULL});
        ch->m_failed = sl_metrics_counter(m, "shiftlog_alerts_failed_total",
                                          "Alert deliveries that failed (each attempt), per "
                                          "channel.", (const char *[]){"channel", name, NULL});
        ch->m_dropped = sl_metrics_counter(m, "shiftlog_alerts_dropped_total",
                                           "Alert messages dropped undelivered (queue full, "
                                           "or every attempt failed), per channel.",
                                           (const char *[]){"channel", name, NULL});
    }
}

sl_alert_t *sl_alert_new(const sl_alert_conf_t *conf, const char *service, const char *task,
                         sl_metrics_t *metrics, char *errstr, size_t errstr_size)
{
    if (!sl_alert_configured(conf))
        return NULL;
    if (conf->mail_url && *conf->mail_url && !(conf->mail_to && *conf->mail_to)) {
        snprintf(errstr, errstr_size, "alert.mail.url is set but alert.mail.to is empty: "
                 "set the recipients");
        return NULL;
    }
    sl_alert_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->c = *conf;
    if (copy_strings(a)) {
        free(a);
        return NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);   /* main thread, before the status thread */
    snprintf(a->service, sizeof a->service, "%s", service ? service : "");
    snprintf(a->task, sizeof a->task, "%s", task ? task : "");
    if (*a->c.webhook_url)
        add_channel(a, "webhook", metrics);
    if (*a->c.mail_url)
        add_channel(a, "mail", metrics);
    a->rules[R_LAG].on = conf->lag_ms > 0;
    a->rules[R_BEHIND].on = conf->behind > 0;
    a->rules[R_NOT_READY].on = conf->not_ready;
    a->rules[R_ERRORS].on = conf->errors;
    a->rules[R_DLQ].on = conf->dlq;
    a->rules[R_RETENTION].on = 1;       /* holds only where the service measures it */
    for (int i = 0; i < R_COUNT; i++)
        a->rules[i].since_ms = -1;
    if (metrics)
        a->m_firing = sl_metrics_gauge(metrics, "shiftlog_alerts_firing",
                                       "Alert rules firing now.", NULL);
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&a->sender, NULL, sender_main, a)) {
        sl_alert_free(a);
        return NULL;
    }
    a->sender_on = 1;
    return a;
}

void sl_alert_free(sl_alert_t *a)
{
    if (!a)
        return;
    if (a->sender_on) {             /* a transfer in flight is aborted within ~1 s */
        pthread_mutex_lock(&a->lock);
        __atomic_store_n(&a->stop, 1, __ATOMIC_RELEASE);
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->sender, NULL);
    }
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a->strings);
    free(a);
    curl_global_cleanup();
}

void sl_alert_set_sender(sl_alert_t *a, sl_alert_send_fn *fn, void *ctx)
{
    pthread_mutex_lock(&a->lock);
    a->test_fn = fn;
    a->test_ctx = ctx;
    a->nch = 0;
    memset(a->ch, 0, sizeof a->ch);
    a->ch[a->nch++].name = "test";
    pthread_mutex_unlock(&a->lock);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int deliver(sl_alert_t *a, channel_t *ch, const sl_alert_note_t *n,
                   const sl_status_snap_t *snap, char *errstr, size_t errstr_size)
{
    if (a->test_fn)
        return a->test_fn(a->test_ctx, n, snap, errstr, errstr_size);
    if (!strcmp(ch->name, "webhook"))
        return sl_alert_send_webhook(&a->c, n, snap, a->service, a->task, &a->stop, errstr,
                                     errstr_size);
    return sl_alert_send_mail(&a->c, n, snap, a->service, a->task, &a->stop, errstr,
                              errstr_size);
}

/* Queues n on every channel (the caller holds a->lock). */
static void enqueue(sl_alert_t *a, const sl_alert_note_t *n, const sl_status_snap_t *snap)
{
    sl_info("alert %s %s: %s", n->rule, n->firing ? "firing" : "resolved", n->summary);
    for (int i = 0; i < a->nch; i++) {
        channel_t *ch = &a->ch[i];
        if (ch->n == ALERT_QUEUE) {
            sl_warn("alert %s: %d messages wait for delivery; the oldest (%s) is dropped",
                    ch->name, ALERT_QUEUE, ch->q[ch->head].note.rule);
            sl_metric_inc(ch->m_dropped);
            ch->head = (ch->head + 1) % ALERT_QUEUE;
            ch->n--;
        }
        queued_t *q = &ch->q[(ch->head + ch->n++) % ALERT_QUEUE];
        q->note = *n;
        q->snap = *snap;
        q->attempts = 0;
        q->seq = ++a->seq;
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* After an attempt at ch's head (seq): pops it when delivered or out of
 * attempts, else waits a second before the next (the caller holds a->lock).
 * The head may have been dropped meanwhile (queue full): then nothing. */
static void attempted(sl_alert_t *a, channel_t *ch, uint64_t seq, int ok, const char *errstr)
{
    queued_t *q = &ch->q[ch->head];
    if (ok)
        sl_metric_inc(ch->m_sent);
    else
        sl_metric_inc(ch->m_failed);
    if (!ch->n || q->seq != seq)
        return;
    if (!ok && ++q->attempts < ALERT_ATTEMPTS) {
        sl_warn("alert %s: %s (attempt %d of %d, retrying)", ch->name, errstr, q->attempts,
                ALERT_ATTEMPTS);
        ch->retry_ms = mono_ms() + 1000;
        return;
    }
    if (!ok) {
        sl_warn("alert %s: %s %s not delivered after %d attempts, dropped: %s", ch->name,
                q->note.rule, q->note.firing ? "firing" : "resolved", q->attempts, errstr);
        sl_metric_inc(ch->m_dropped);
    }
    ch->head = (ch->head + 1) % ALERT_QUEUE;
    ch->n--;
}

/* The sender thread: delivers each channel's queue in order, outside the
 * lock (a transfer may take the channel's whole timeout). */
static void *sender_main(void *arg)
{
    sl_alert_t *a = arg;
    queued_t *cur = malloc(sizeof(*cur));
    char errstr[512];
    pthread_mutex_lock(&a->lock);
    while (cur && !__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        int64_t now = mono_ms(), next = now + 1000;
        channel_t *ch = NULL;
        for (int i = 0; !a->test_fn && i < a->nch && !ch; i++) {
            if (a->ch[i].n && a->ch[i].retry_ms <= now)
                ch = &a->ch[i];
            else if (a->ch[i].n && a->ch[i].retry_ms < next)
                next = a->ch[i].retry_ms;
        }
        if (!ch) {
            struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
            pthread_cond_timedwait(&a->wake, &a->lock, &ts);
            continue;
        }
        *cur = ch->q[ch->head];
        pthread_mutex_unlock(&a->lock);
        errstr[0] = '\0';
        int ok = deliver(a, ch, &cur->note, &cur->snap, errstr, sizeof errstr) == 0;
        pthread_mutex_lock(&a->lock);
        if (!ok && __atomic_load_n(&a->stop, __ATOMIC_ACQUIRE))
            break;                   /* aborted by the shutdown: not a failed attempt */
        attempted(a, ch, cur->seq, ok, errstr);
    }
    pthread_mutex_unlock(&a->lock);
    free(cur);
    return NULL;
}

/* The unit tests' sender (sl_alert_set_sender): what waits is delivered
 * here, in order, a failure retried at the next evaluation (the caller
 * holds a->lock). */
static void flush_sync(sl_alert_t *a)
{
    char errstr[512];
    channel_t *ch = &a->ch[0];
    while (ch->n) {
        queued_t *q = &ch->q[ch->head];
        uint64_t seq = q->seq;
        errstr[0] = '\0';
        int ok = deliver(a, ch, &q->note, &q->snap, errstr, sizeof errstr) == 0;
        attempted(a, ch, seq, ok, errstr);
        if (!ok && ch->n && ch->q[ch->head].seq == seq)
            break;
    }
}

/* The summary: a message cut at the buffer's end is still worth sending. */
__attribute__((format(printf, 2, 3)))
static void say(sl_alert_note_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->summary, sizeof n->summary, fmt, ap);
    va_end(ap);
}

static void describe(const sl_alert_t *a, int r, const sl_status_snap_t *s, sl_alert_note_t *n)
{
    char who[200], fr[64];
    snprintf(who, sizeof who, "%s%s%s%s", a->service, a->task[0] ? "[" : "", a->task,
             a->task[0] ? "]" : "");
    snprintf(fr, sizeof fr, "%" PRId64 " s", a->c.for_ms / 1000);
    const char *end = n->firing ? "" : " (recovered)";
    switch (r) {
    case R_LAG:
        n->value = s->lag_s;
        n->threshold = (double)a->c.lag_ms / 1000.0;
        if (n->firing)
            say(n, "%s: lag %.1f s above %.1f s for %s", who,
                     s->lag_s, n->threshold, fr);
        else
            say(n, "%s: lag %.1f s, at or below %.1f s%s",
                     who, s->lag_s, n->threshold, end);
        break;
    case R_BEHIND:
        n->value = s->behind;
        n->threshold = (double)a->c.behind;
        if (n->firing)
            say(n, "%s: %.0f records behind for %s "
                     "(threshold %.0f)", who, s->behind, fr, n->threshold);
        else
            say(n, "%s: %.0f records behind, at or below "
                     "%.0f%s", who, s->behind, n->threshold, end);
        break;
    case R_RETENTION:
        n->value = s->retained_bytes;
        n->threshold = (double)a->c.retention;
        if (n->firing)
            say(n, "%s: source log retention at risk for %s: %.0f bytes retained%s%s", who, fr,
                s->retained_bytes, s->retention_at_risk ? ", the source is about to drop some "
                "the collector still needs" : "", s->retention_at_risk ? "" : " (above "
                "alert.retention)");
        else
            say(n, "%s: source log retention safe again: %.0f bytes retained%s", who,
                s->retained_bytes, end);
        break;
    case R_NOT_READY:
        n->value = s->ready;
        if (n->firing)
            say(n, "%s: not ready for %s: %s%s%s", who, fr,
                     s->state[0] ? s->state : s->status, s->reason[0] ? ": " : "", s->reason);
        else
            say(n, "%s: ready again (%s)", who, s->status);
        break;
    default: {
        int dlq = r == R_DLQ;
        n->value = dlq ? s->dlq_total : s->errors_total;
        if (n->firing)
            say(n, "%s: %s (%.0f in all)%s%s", who,
                     dlq ? "records went to the dead-letter topic" : "errors", n->value,
                     !dlq && s->last_error[0] ? "; last: " : "", dlq ? "" : s->last_error);
        else
            say(n, "%s: no new %s for %s%s", who,
                     dlq ? "dead letters" : "errors", fr, end);
    }
    }
}

/* Does rule r hold on s? (errors and dlq: did the count grow since the last look) */
static int holds(sl_alert_t *a, int r, const sl_status_snap_t *s)
{
    switch (r) {
    case R_LAG:
        return s->has_lag && s->lag_s * 1000.0 > (double)a->c.lag_ms;
    case R_BEHIND:
        return s->has_behind && s->behind > (double)a->c.behind;
    case R_NOT_READY:
        /* paused (the task table's online_status = 0) is the operator's choice */
        return !s->ready && strcmp(s->status, "paused") != 0 &&
               (a->c.standby || strcmp(s->status, "standby") != 0);
    case R_RETENTION:
        return s->has_retained && (s->retention_at_risk ||
                                   (a->c.retention > 0 &&
                                    s->retained_bytes > (double)a->c.retention));
    default: {
        double now = r == R_DLQ ? s->dlq_total : s->errors_total;
        int grew = now > a->rules[r].last_count;
        a->rules[r].last_count = now;
        return grew;
    }
    }
}

void sl_alert_eval(sl_alert_t *a, const sl_status_snap_t *s, int64_t now_ms)
{
    if (!a)
        return;
    int firing = 0;
    pthread_mutex_lock(&a->lock);
    for (int r = 0; r < R_COUNT; r++) {
        rule_t *ru = &a->rules[r];
        if (!ru->on)
            continue;
        int h = holds(a, r, s);
        int growth = r == R_ERRORS || r == R_DLQ;
        /* since_ms: when the state that would change the rule (holding while quiet,
         * quiet while firing) began; a growth rule fires at once */
        if (h != ru->firing) {
            if (ru->since_ms < 0)
                ru->since_ms = now_ms;
            if ((h && growth) || now_ms - ru->since_ms >= a->c.for_ms) {
                ru->firing = h;
                ru->since_ms = -1;
                sl_alert_note_t n = {.firing = h, .at_ms = wall_ms()};
                snprintf(n.rule, sizeof n.rule, "%s", rule_names[r]);
                describe(a, r, s, &n);
                enqueue(a, &n, s);
            }
        } else {
            ru->since_ms = -1;
        }
        firing += ru->firing;
    }
    sl_metric_set(a->m_firing, firing);
    if (a->test_fn)
        flush_sync(a);
    else
        pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
}

int sl_alert_test(sl_alert_t *a, const sl_status_snap_t *s, char *errstr, size_t errstr_size)
{
    sl_alert_note_t n = {.firing = 1, .at_ms = wall_ms()};
    snprintf(n.rule, sizeof n.rule, "test");
    snprintf(n.summary, sizeof n.summary, "%s%s%s%s: test alert (shiftlog alert --test)",
             a->service, a->task[0] ? "[" : "", a->task, a->task[0] ? "]" : "");
    int rc = 0;
    for (int i = 0; i < a->nch; i++) {
        char e[512] = "";
        if (deliver(a, &a->ch[i], &n, s, e, sizeof e)) {
            if (!rc)
                snprintf(errstr, errstr_size, "%s: %s", a->ch[i].name, e);
            rc = -1;
        }
    }
    return rc;
}
