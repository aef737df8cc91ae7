/* shiftlog: /health and /metrics over libmicrohttpd (see sl_http.h). */
#include "sl_http.h"
#include "sl_buf.h"
#include "sl_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define HTTP_ROUTES 8

typedef struct route_s {
    char       method[8];
    char       path[64];
    sl_http_fn fn;
    void      *ctx;
} route_t;

struct sl_http_req_s {
    struct MHD_Connection *conn;
};

struct sl_http_s {
    struct MHD_Daemon *daemon;
    sl_metrics_t      *metrics;
    char              *service;
    char              *task;
    struct timespec    started;
    int                port;
    pthread_mutex_t    lock;       /* guards healthy/reason */
    int                healthy;
    char              *reason;
    char              *degraded;   /* guarded by lock too */
    char              *status;     /* healthy with a status other than "ok" (standby) */
    int64_t          (*idle_ms)(void);   /* liveness: ms since the service last turned */
    int64_t            live_timeout_ms;  /* 0: always alive */
    pthread_mutex_t    route_lock; /* guards routes, held while a handler runs (so that
                                      a route removed is never called after) */
    route_t            routes[HTTP_ROUTES];
    int                nroutes;
};

const char *sl_http_req_arg(sl_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

sl_err_t sl_http_route(sl_http_t *h, const char *method, const char *path, sl_http_fn fn,
                       void *ctx)
{
    if (!h)
        return SL_OK;
    if (strlen(method) >= sizeof(h->routes[0].method) ||
        strlen(path) >= sizeof(h->routes[0].path))
        return SL_ERR_INVALID;
    sl_err_t err = SL_OK;
    pthread_mutex_lock(&h->route_lock);
    int i = 0;
    while (i < h->nroutes &&
           (strcmp(h->routes[i].method, method) || strcmp(h->routes[i].path, path)))
        i++;
    if (!fn) {                      /* removed: waits for a handler running now */
        if (i < h->nroutes)
            h->routes[i] = h->routes[--h->nroutes];
    } else if (i == HTTP_ROUTES) {
        err = SL_ERR_NOMEM;
    } else {
        route_t *r = &h->routes[i];
        if (i == h->nroutes)
            h->nroutes++;
        snprintf(r->method, sizeof(r->method), "%s", method);
        snprintf(r->path, sizeof(r->path), "%s", path);
        r->fn = fn;
        r->ctx = ctx;
    }
    pthread_mutex_unlock(&h->route_lock);
    return err;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
                             const char *type, const char *body, size_t len);

/* Serves a route for method and url: 0 when there is none; 1 with *rc. A
 * request with a body is answered once the body is read (and ignored). */
static int serve_route(sl_http_t *h, struct MHD_Connection *conn, const char *method,
                       const char *url, size_t *upload_data_size, void **con_cls,
                       enum MHD_Result *rc)
{
    static int started;
    int found = 0;
    pthread_mutex_lock(&h->route_lock);
    for (int i = 0; i < h->nroutes && !found; i++) {
        route_t *r = &h->routes[i];
        if (strcmp(r->method, method) || strcmp(r->path, url))
            continue;
        found = 1;
        int body = strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD);
        if (body && !*con_cls) {
            *con_cls = &started;
            *rc = MHD_YES;
        } else if (body && *upload_data_size) {
            *upload_data_size = 0;
            *rc = MHD_YES;
        } else {
            sl_buf_t out = SL_BUF_INIT;
            sl_http_req_t req = {.conn = conn};
            unsigned status = r->fn(r->ctx, &req, &out);
            *rc = out.data ? reply(conn, status, "application/json", out.data, out.len)
                           : MHD_NO;
            sl_buf_free(&out);
        }
    }
    pthread_mutex_unlock(&h->route_lock);
    return found;
}

/* Splits listen into host (copied into host, "" = any) and port. */
static int split_listen(const char *listen, char *host, size_t host_size, int *port,
                        char *errstr, size_t size)
{
    const char *colon;
    const char *hs = listen, *he;
    if (listen[0] == '[') {
        he = strchr(listen, ']');
        if (!he || he[1] != ':')
            goto bad;
        hs = listen + 1;
        colon = he + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            goto bad;
        he = colon;
        if (memchr(listen, ':', (size_t)(colon - listen)))
            goto bad;  /* bare IPv6 needs brackets */
    }
    if ((size_t)(he - hs) >= host_size)
        goto bad;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    const char *ps = colon + 1;
    char *end;
    if (!*ps)
        goto bad;
    errno = 0;
    long p = strtol(ps, &end, 10);
    if (*end || errno || p < 0 || p > 65535)
        goto bad;
    *port = (int)p;
    return 0;
bad:
    sl_err_set(errstr, size,
               "\"%s\" is not host:port, [ipv6]:port, :port or off (e.g. 127.0.0.1:9100)", listen);
    return -1;
}

int sl_http_listen_check(const char *listen, char *errstr, size_t errstr_size)
{
    char host[256];
    int port;
    if (strcmp(listen, "off") == 0)
        return 0;
    return split_listen(listen, host, sizeof(host), &port, errstr, errstr_size);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    sl_warn("http: %s", msg);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
                             const char *type, const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* The "status" of /health; h->lock held. */
static const char *status_word(const sl_http_t *h, int live)
{
    return !live ? "hung" : !h->healthy ? "unhealthy" : h->status ? h->status
           : h->degraded ? "degraded" : "ok";
}

void sl_http_get_state(sl_http_t *h, char *status, size_t status_size, char *reason,
                       size_t reason_size, int *ready)
{
    if (!h) {
        snprintf(status, status_size, "ok");
        snprintf(reason, reason_size, "%s", "");
        *ready = 1;
        return;
    }
    pthread_mutex_lock(&h->lock);
    int live = !(h->idle_ms && h->live_timeout_ms > 0 && h->idle_ms() >= h->live_timeout_ms);
    *ready = live && h->healthy && !h->status && !h->degraded;
    snprintf(status, status_size, "%s", status_word(h, live));
    snprintf(reason, reason_size, "%s", !live ? "no thread checked for a stop request within "
             "health.liveness.timeout" : h->reason && (!h->healthy || h->status) ? h->reason
             : h->degraded ? h->degraded : "");
    pthread_mutex_unlock(&h->lock);
}

/* The JSON of /health and /ready (the same body: a monitor reads "status",
 * "live" and "ready"); *live and *ready say which probes pass. */
static sl_err_t health_body(sl_http_t *h, sl_buf_t *body, int *live, int *ready)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long up = ((long long)(now.tv_sec - h->started.tv_sec) * 1000 +
                    (now.tv_nsec - h->started.tv_nsec) / 1000000) / 1000;
    int64_t idle = 0;
    pthread_mutex_lock(&h->lock);
    if (h->idle_ms && h->live_timeout_ms > 0)
        idle = h->idle_ms();
    *live = !(h->live_timeout_ms > 0 && idle >= h->live_timeout_ms);
    *ready = h->healthy && !h->status && !h->degraded;
    sl_buf_printf(body, "{\"status\":\"%s\"", status_word(h, *live));
    sl_buf_printf(body, ",\"live\":%s,\"ready\":%s", *live ? "true" : "false",
                  *ready && *live ? "true" : "false");
    if (!*live)
        sl_buf_printf(body, ",\"hung_s\":%lld", (long long)(idle / 1000));
    if (!h->healthy || (h->status && h->reason)) {
        const char *reason = h->reason ? h->reason : "";
        sl_buf_puts(body, ",\"reason\":");
        sl_buf_json_str(body, reason, strlen(reason));
    }
    if (h->degraded) {
        sl_buf_puts(body, ",\"degraded\":");
        sl_buf_json_str(body, h->degraded, strlen(h->degraded));
    }
    pthread_mutex_unlock(&h->lock);
    sl_buf_puts(body, ",\"service\":");
    sl_buf_json_str(body, h->service, strlen(h->service));
    if (h->task) {
        sl_buf_puts(body, ",\"task\":");
        sl_buf_json_str(body, h->task, strlen(h->task));
    }
    sl_buf_printf(body, ",\"uptime_s\":%lld}\n", up);
    return body->data ? SL_OK : SL_ERR_NOMEM;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version,
                              const char *upload_data, size_t *upload_data_size,
                              void **con_cls)
{
    sl_http_t *h = cls;
    sl_buf_t body = SL_BUF_INIT;
    enum MHD_Result rc;

    if (serve_route(h, conn, method, url, upload_data_size, con_cls, &rc))
        return rc;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        static const char msg[] = "{\"error\":\"method not allowed\"}\n";
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json", msg, sizeof(msg) - 1);
    }
    if (strcmp(url, "/metrics") == 0) {
        if (h->metrics && sl_metrics_render(h->metrics, &body) != SL_OK)
            goto oom;
        rc = reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                   body.data ? body.data : "", body.len);
        goto out;
    }
    if (strcmp(url, "/health") == 0 || strcmp(url, "/ready") == 0) {
        int live, ready;
        if (health_body(h, &body, &live, &ready) != SL_OK)
            goto oom;
        int ok = strcmp(url, "/health") == 0 ? live : live && ready;
        rc = reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
                   body.data, body.len);
        goto out;
    }
    static const char nf[] = "{\"error\":\"not found\",\"paths\":[\"/health\",\"/ready\",\"/metrics\"]}\n";
    rc = reply(conn, MHD_HTTP_NOT_FOUND, "application/json", nf, sizeof(nf) - 1);
    goto out;
oom:
    rc = MHD_NO;
out:
    sl_buf_free(&body);
    return rc;
}

static void http_free(sl_http_t *h)
{
    if (!h)
        return;
    free(h->service);
    free(h->task);
    free(h->reason);
    free(h->degraded);
    free(h->status);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->route_lock);
    free(h);
}

sl_err_t sl_http_start(sl_http_t **out, const char *listen, const char *service,
                       const char *task, sl_metrics_t *metrics, char *errstr,
                       size_t errstr_size)
{
    char host[256], reason[256];
    int port;
    struct addrinfo hints, *ai = NULL;
    sl_err_t err = SL_OK;
    sl_http_t *h = NULL;

    *out = NULL;
    if (!listen || strcmp(listen, "off") == 0)
        return SL_OK;
    if (split_listen(listen, host, sizeof(host), &port, reason, sizeof(reason))) {
        sl_err_set(errstr, errstr_size, "http.listen: %s", reason);
        return SL_ERR_INVALID;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(host[0] ? host : "0.0.0.0", "0", &hints, &ai);
    if (gai) {
        sl_err_set(errstr, errstr_size, "http.listen \"%s\": cannot resolve \"%s\": %s", listen,
                   host, gai_strerror(gai));
        return SL_ERR_INVALID;
    }
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof(sa));
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (sa.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
    }
    freeaddrinfo(ai);

    h = calloc(1, sizeof(*h));
    if (!h)
        return SL_ERR_NOMEM;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->route_lock, NULL);
    h->metrics = metrics;
    h->healthy = 1;
    h->service = strdup(service ? service : "shiftlog");
    h->task = task && *task ? strdup(task) : NULL;
    clock_gettime(CLOCK_MONOTONIC, &h->started);
    if (!h->service) {
        err = SL_ERR_NOMEM;
        goto err;
    }

    /* The daemon thread must not take SIGINT/SIGTERM from the main loop:
     * it inherits the mask at creation. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    errno = 0;
    h->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)NULL,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                                 MHD_OPTION_END);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!h->daemon) {
        sl_err_set(errstr, errstr_size, "http.listen \"%s\": cannot listen: %s", listen,
                   saved ? strerror(saved) : "libmicrohttpd failed to start");
        err = SL_ERR_IO;
        goto err;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : port;
    *out = h;
    return SL_OK;
err:
    http_free(h);
    return err;
}

int sl_http_port(const sl_http_t *h)
{
    return h ? h->port : 0;
}

/* Every /health text is copied through here: masked as log lines are (a
 * target address "mongodb://user:pass@..." reaches reasons through errstr). */
static char *masked_dup(const char *text)
{
    char *copy = text ? strdup(text) : NULL;
    sl_log_mask(copy);
    return copy;
}

void sl_http_set_health(sl_http_t *h, int healthy, const char *reason)
{
    if (!h)
        return;
    char *copy = masked_dup(reason);
    pthread_mutex_lock(&h->lock);
    free(h->reason);
    free(h->status);
    h->reason = copy;
    h->status = NULL;
    h->healthy = healthy ? 1 : 0;
    pthread_mutex_unlock(&h->lock);
}

void sl_http_set_degraded(sl_http_t *h, const char *detail)
{
    if (!h)
        return;
    char *copy = masked_dup(detail);
    pthread_mutex_lock(&h->lock);
    free(h->degraded);
    h->degraded = copy;
    pthread_mutex_unlock(&h->lock);
}

void sl_http_set_status(sl_http_t *h, const char *status, const char *reason)
{
    if (!h)
        return;
    char *r = reason ? strdup(reason) : NULL, *st = status ? strdup(status) : NULL;
    pthread_mutex_lock(&h->lock);
    free(h->reason);
    free(h->status);
    h->reason = r;
    h->status = st;
    h->healthy = 1;
    pthread_mutex_unlock(&h->lock);
}

void sl_http_set_liveness(sl_http_t *h, int64_t (*idle_ms)(void), int64_t timeout_ms)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->idle_ms = idle_ms;
    h->live_timeout_ms = timeout_ms;
    pthread_mutex_unlock(&h->lock);
}

void sl_http_stop(sl_http_t *h)
{
    if (!h)
        return;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    http_free(h);
}
