/* shiftlog: logging (see sl_log.h).
 *
 * Every line is built in one buffer and written with one write(2) on
 * stderr, so lines from several threads never interleave. The service and
 * task names are set once at start; the position can change at any time
 * and is guarded by a mutex. Secrets are masked after formatting, so a
 * password that reaches a message through a %s is masked too. */
#include "sl_log.h"
#include "sl_buf.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int      log_level = SL_LOG_INFO;
static atomic_int      log_json;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char            log_service[64] = "shiftlog";
static char            log_task[128];
static char            log_pos[256];
static char            log_last_error[512];   /* the last ERROR line's message (masked) */
static int64_t         log_last_error_ms;     /* its wall-clock time; 0: none yet */

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const level_upper[] = {"DEBUG", "INFO", "WARN", "ERROR"};

static void copy_str(char *dst, size_t size, const char *src)
{
    if (!src)
        src = "";
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void sl_log_init(const char *service, const char *task)
{
    pthread_mutex_lock(&log_lock);
    copy_str(log_service, sizeof(log_service), service ? service : "shiftlog");
    copy_str(log_task, sizeof(log_task), task);
    pthread_mutex_unlock(&log_lock);
}

void sl_log_set_level(sl_log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

int sl_log_level_parse(const char *name, sl_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (name && strcasecmp(name, level_names[i]) == 0) {
            *out = (sl_log_level_t)i;
            return 0;
        }
    }
    if (name && strcasecmp(name, "warning") == 0) {
        *out = SL_LOG_WARN;
        return 0;
    }
    return -1;
}

void sl_log_set_json(int json)
{
    atomic_store(&log_json, json ? 1 : 0);
}

void sl_log_set_position(const char *pos_text)
{
    pthread_mutex_lock(&log_lock);
    copy_str(log_pos, sizeof(log_pos), pos_text);
    pthread_mutex_unlock(&log_lock);
}

void sl_log_get_position(char *buf, size_t size)
{
    pthread_mutex_lock(&log_lock);
    copy_str(buf, size, log_pos);
    pthread_mutex_unlock(&log_lock);
}

void sl_log_set_last_error(const char *text)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    pthread_mutex_lock(&log_lock);
    copy_str(log_last_error, sizeof(log_last_error), text);
    sl_log_mask(log_last_error);
    log_last_error_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    pthread_mutex_unlock(&log_lock);
}

int64_t sl_log_last_error(char *buf, size_t size)
{
    pthread_mutex_lock(&log_lock);
    copy_str(buf, size, log_last_error);
    int64_t at = log_last_error_ms;
    pthread_mutex_unlock(&log_lock);
    return at;
}

/* --- masking ------------------------------------------------------------ */

static int is_key_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '.' || c == '-';
}

/* Does the key text[start, end) name a secret? (…password, …passwd,
 * …secret, case-insensitive: password, sasl.password, ssl.key.password) */
static int is_secret_key(const char *start, const char *end)
{
    static const char *const suffixes[] = {"password", "passwd", "secret"};
    size_t len = (size_t)(end - start);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t sl = strlen(suffixes[i]);
        if (len >= sl && strncasecmp(end - sl, suffixes[i], sl) == 0)
            return 1;
    }
    return 0;
}

/* Replaces text[from, to) by "****" (or by as many '*' when shorter) and
 * closes the gap. Returns the index just after the mask. */
static size_t mask_span(char *text, size_t from, size_t to)
{
    size_t len = to - from;
    size_t m = len < 4 ? len : 4;
    memset(text + from, '*', m);
    if (len > m)
        memmove(text + from + m, text + to, strlen(text + to) + 1);
    return from + m;
}

/* user:pass@ in a URI: text at i is "://". Returns where to continue. */
static size_t mask_uri(char *text, size_t i)
{
    size_t s = i + 3;
    size_t j = s;
    size_t colon = 0;
    while (text[j] && text[j] != '@' && text[j] != '/' && text[j] != '?' &&
           text[j] != '#' && !isspace((unsigned char)text[j]) && text[j] != '"') {
        if (text[j] == ':' && !colon)
            colon = j;
        j++;
    }
    if (text[j] == '@' && colon && colon + 1 < j)
        return mask_span(text, colon + 1, j);
    return s;
}

void sl_log_mask(char *text)
{
    if (!text)
        return;
    size_t i = 0;
    while (text[i]) {
        if (text[i] == ':' && text[i + 1] == '/' && text[i + 2] == '/') {
            i = mask_uri(text, i);
            continue;
        }
        if (!is_key_char((unsigned char)text[i]) ||
            (i > 0 && is_key_char((unsigned char)text[i - 1]))) {
            i++;
            continue;
        }
        /* A key starts at i: either bare (key=) or the inside of "key". */
        size_t ks = i, ke = i;
        while (is_key_char((unsigned char)text[ke]))
            ke++;
        size_t p = ke;
        int quoted_key = ks > 0 && text[ks - 1] == '"' && text[p] == '"';
        if (quoted_key)
            p++;
        while (text[p] == ' ' || text[p] == '\t')
            p++;
        char sep = text[p];
        if (!is_secret_key(text + ks, text + ke) ||
            !(sep == '=' || (sep == ':' && quoted_key))) {
            i = ke;
            continue;
        }
        p++;
        while (text[p] == ' ' || text[p] == '\t')
            p++;
        size_t vs, ve;
        if (text[p] == '"' || text[p] == '\'') {
            char q = text[p];
            vs = ve = p + 1;
            while (text[ve] && text[ve] != q) {
                if (text[ve] == '\\' && q == '"' && text[ve + 1])
                    ve++;
                ve++;
            }
        } else {
            vs = ve = p;
            while (text[ve] && !isspace((unsigned char)text[ve]) && text[ve] != '&' &&
                   text[ve] != ';' && text[ve] != ',' && text[ve] != '}' &&
                   text[ve] != '"')
                ve++;
        }
        if (ve > vs)
            i = mask_span(text, vs, ve);
        else
            i = ve;
    }
}

/* --- writing ------------------------------------------------------------ */

static void format_ts(char *out, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int ms = (int)((ts.tv_nsec / 1000000) % 1000);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%03dZ", ms);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void sl_log_write(sl_log_level_t level, const char *file, int line, const char *fmt, ...)
{
    if ((int)level < atomic_load(&log_level))
        return;
    if ((int)level < 0 || (int)level > 3)
        level = SL_LOG_ERROR;

    int saved_errno = errno;
    sl_buf_t msg = SL_BUF_INIT, out = SL_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    sl_err_t err = sl_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    if (err != SL_OK || !msg.data)
        goto out;
    while (msg.len > 0 && msg.data[msg.len - 1] == '\n')
        msg.data[--msg.len] = '\0';
    sl_log_mask(msg.data);
    msg.len = strlen(msg.data);

    char ts[64];
    char service[sizeof(log_service)], task[sizeof(log_task)], pos[sizeof(log_pos)];
    format_ts(ts, sizeof(ts));
    pthread_mutex_lock(&log_lock);
    if (level == SL_LOG_ERROR) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        copy_str(log_last_error, sizeof(log_last_error), msg.data);
        log_last_error_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    }
    memcpy(service, log_service, sizeof(service));
    memcpy(task, log_task, sizeof(task));
    memcpy(pos, log_pos, sizeof(pos));
    pthread_mutex_unlock(&log_lock);

    if (atomic_load(&log_json)) {
        sl_buf_printf(&out, "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":", ts,
                      level_names[level]);
        sl_buf_json_str(&out, service, strlen(service));
        if (task[0]) {
            sl_buf_puts(&out, ",\"task\":");
            sl_buf_json_str(&out, task, strlen(task));
        }
        if (pos[0]) {
            sl_buf_puts(&out, ",\"pos\":");
            sl_buf_json_str(&out, pos, strlen(pos));
        }
        sl_buf_puts(&out, ",\"msg\":");
        sl_buf_json_str(&out, msg.data, msg.len);
        if (file) {
            const char *base = strrchr(file, '/');
            sl_buf_printf(&out, ",\"src\":\"%s:%d\"", base ? base + 1 : file, line);
        }
        sl_buf_puts(&out, "}\n");
    } else {
        /* Newlines inside a message would break one-event-per-line. */
        for (size_t k = 0; k < msg.len; k++)
            if (msg.data[k] == '\n' || msg.data[k] == '\r')
                msg.data[k] = ' ';
        sl_buf_printf(&out, "%s %s %s", ts, level_upper[level], service);
        if (task[0])
            sl_buf_printf(&out, "[%s]", task);
        if (pos[0])
            sl_buf_printf(&out, " pos=%s", pos);
        sl_buf_printf(&out, " %s\n", msg.data);
    }
    if (out.data)
        write_all(STDERR_FILENO, out.data, out.len);
out:
    sl_buf_free(&msg);
    sl_buf_free(&out);
    errno = saved_errno;
}
