/* shiftlog: the alert channels (see sl_alert.h): a JSON webhook and SMTP
 * mail, both through libcurl, each call bounded by a 10 s timeout. */
#include "sl_alert.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sl_buf.h"
#include "sl_log.h"
#include "sl_status.h"

#define SEND_TIMEOUT_S 10L

static void iso_time(int64_t ms, char *out, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void put_str(sl_buf_t *b, const char *key, const char *v)
{
    sl_buf_printf(b, ",\"%s\":", key);
    sl_buf_json_str(b, v, strlen(v));
}

/* The webhook's body (also the mail's last part). */
static void note_json(const sl_alert_note_t *n, const sl_status_snap_t *snap,
                      const char *service, const char *task, sl_buf_t *b)
{
    char host[256] = "", ts[32];
    gethostname(host, sizeof host - 1);
    iso_time(n->at_ms, ts, sizeof ts);
    sl_buf_puts(b, "{\"source\":\"shiftlog\"");
    put_str(b, "alert", n->rule);
    put_str(b, "state", n->firing ? "firing" : "resolved");
    put_str(b, "service", service);
    put_str(b, "task", task);
    put_str(b, "host", host);
    put_str(b, "time", ts);
    put_str(b, "summary", n->summary);
    sl_buf_printf(b, ",\"value\":%.17g,\"threshold\":%.17g,\"status\":", n->value,
                  n->threshold);
    sl_status_json(snap, service, task, b);
    while (b->len && b->data[b->len - 1] == '\n')
        b->data[--b->len] = '\0';
    sl_buf_puts(b, "}\n");
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    return size * n;
}

/* libcurl's progress callback (about once a second, also while waiting for
 * an answer): non-zero aborts the transfer when the sender is stopping. */
static int abort_if_stopping(void *clientp, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                             curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const int *stop = clientp;
    return stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE);
}

static void stoppable(CURL *h, const int *stop)
{
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_if_stopping);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)stop);
}

int sl_alert_send_webhook(void *ctx, const sl_alert_note_t *n, const sl_status_snap_t *snap,
                          const char *service, const char *task, const int *stop,
                          char *errstr, size_t errstr_size)
{
    const sl_alert_conf_t *c = ctx;
    sl_buf_t body = SL_BUF_INIT;
    struct curl_slist *hdr = NULL;
    int rc = -1;
    CURL *h = curl_easy_init();
    note_json(n, snap, service, task, &body);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    if (!h || !body.data || !hdr) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, c->webhook_url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, SEND_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    stoppable(h, stop);
    CURLcode e = curl_easy_perform(h);
    long status = 0;
    if (e != CURLE_OK) {
        snprintf(errstr, errstr_size, "webhook %s: %s", c->webhook_url, curl_easy_strerror(e));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        snprintf(errstr, errstr_size, "webhook %s answered HTTP %ld", c->webhook_url, status);
        goto out;
    }
    rc = 0;
out:
    curl_slist_free_all(hdr);
    if (h)
        curl_easy_cleanup(h);
    sl_buf_free(&body);
    if (rc)
        sl_log_mask(errstr);
    return rc;
}

typedef struct reader_s {
    const char *p;
    size_t      left;
} reader_t;

static size_t read_mail(char *buf, size_t size, size_t n, void *ctx)
{
    reader_t *r = ctx;
    size_t k = size * n < r->left ? size * n : r->left;
    memcpy(buf, r->p, k);
    r->p += k;
    r->left -= k;
    return k;
}

/* One "key: value" line of the mail; every field is shorter than SMTP's 998. */
static void mail_line(sl_buf_t *m, const char *key, const char *value)
{
    if (value && *value)
        sl_buf_printf(m, "%s: %s\r\n", key, value);
}

/* The mail: headers, the summary, then the figures one per line (not the webhook's JSON:
 * a JSON line can pass SMTP's line limit). */
static void mail_text(const sl_alert_conf_t *c, const sl_alert_note_t *n,
                      const sl_status_snap_t *s, const char *service, const char *task,
                      sl_buf_t *m)
{
    char date[64], id[128], host[128] = "localhost", v[64];
    time_t t = (time_t)(n->at_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    gethostname(host, sizeof host - 1);
    snprintf(id, sizeof id, "<shiftlog.%lld.%s.%s@%s>", (long long)n->at_ms, n->rule,
             n->firing ? "firing" : "resolved", host);
    sl_buf_printf(m, "Date: %s\r\nFrom: %s\r\nTo: %s\r\nMessage-ID: %s\r\n"
                  "Subject: [shiftlog] %s %s %s%s%s%s\r\n"
                  "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n\r\n",
                  date, c->mail_from, c->mail_to, id, n->firing ? "FIRING" : "RESOLVED",
                  n->rule, service, *task ? "[" : "", task, *task ? "]" : "");
    sl_buf_printf(m, "%s\r\n\r\n", n->summary);
    mail_line(m, "service", service);
    mail_line(m, "task", task);
    mail_line(m, "host", host);
    iso_time(n->at_ms, v, sizeof v);
    mail_line(m, "time", v);
    mail_line(m, "status", s->status);
    mail_line(m, "state", s->state);
    mail_line(m, "reason", s->reason);
    mail_line(m, "source position", s->source_pos);
    mail_line(m, "applied position", s->applied_pos);
    if (s->has_behind) {
        snprintf(v, sizeof v, "%.0f", s->behind);
        mail_line(m, "records behind", v);
    }
    if (s->has_lag) {
        snprintf(v, sizeof v, "%.1f s", s->lag_s);
        mail_line(m, "lag", v);
    }
    snprintf(v, sizeof v, "%.1f", s->rows_per_s);
    mail_line(m, "rows/s", v);
    snprintf(v, sizeof v, "%.0f", s->errors_total);
    mail_line(m, "errors", v);
    snprintf(v, sizeof v, "%.0f", s->dlq_total);
    mail_line(m, "dead letters", v);
    mail_line(m, "last error", s->last_error);
}

int sl_alert_send_mail(void *ctx, const sl_alert_note_t *n, const sl_status_snap_t *snap,
                       const char *service, const char *task, const int *stop, char *errstr,
                       size_t errstr_size)
{
    const sl_alert_conf_t *c = ctx;
    sl_buf_t msg = SL_BUF_INIT;
    struct curl_slist *rcpt = NULL;
    char from[320], one[320];
    int rc = -1;
    CURL *h = curl_easy_init();
    mail_text(c, n, snap, service, task, &msg);
    /* recipients: comma-separated, blanks trimmed, each as <addr> */
    for (const char *p = c->mail_to; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t l = strcspn(p, ",");
        while (l && p[l - 1] == ' ')
            l--;
        if (l) {
            snprintf(one, sizeof one, "<%.*s>", (int)(l < 300 ? l : 300), p);
            rcpt = curl_slist_append(rcpt, one);
        }
        p += strcspn(p, ",");
    }
    if (!h || !msg.data || !rcpt) {
        snprintf(errstr, errstr_size, rcpt ? "out of memory" : "alert.mail.to names nobody");
        goto out;
    }
    snprintf(from, sizeof from, "<%s>", c->mail_from);
    reader_t rd = {.p = msg.data, .left = msg.len};
    curl_easy_setopt(h, CURLOPT_URL, c->mail_url);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_mail);
    curl_easy_setopt(h, CURLOPT_READDATA, &rd);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, SEND_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    stoppable(h, stop);
    /* a password never goes over a plain connection: STARTTLS is required with a login */
    curl_easy_setopt(h, CURLOPT_USE_SSL,
                     *c->mail_user ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
    if (*c->mail_user) {
        curl_easy_setopt(h, CURLOPT_USERNAME, c->mail_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->mail_password);
    }
    CURLcode e = curl_easy_perform(h);
    if (e != CURLE_OK) {
        snprintf(errstr, errstr_size, "mail via %s: %s", c->mail_url, curl_easy_strerror(e));
        sl_log_mask(errstr);
        goto out;
    }
    rc = 0;
out:
    curl_slist_free_all(rcpt);
    if (h)
        curl_easy_cleanup(h);
    sl_buf_free(&msg);
    return rc;
}
