/* shiftlog-collector: snapshot requests and status on the HTTP endpoint.
 *
 *   POST /snapshot?table=db.t   202 {"status":"queued","table":"db.t"}: the
 *                               reader writes a request mark into the source's
 *                               log at its next turn (so a request survives a
 *                               restart once written), and the snapshot of the
 *                               table starts when the stream meets it
 *   GET  /snapshot              {"source":..,"tables":[..],"rows":N,"chunks":N}
 *                               — the tables left, the current one first
 *
 * The handlers run in the endpoint's thread: they leave requests and read
 * the status under this module's lock; the reader alone talks to the source
 * (col_snap_http_take, col_snap_http_publish). One collector process serves
 * one source, so the state is the process's. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "sl_http.h"
#include "sl_name.h"

#define SNAP_HTTP_MAX 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *pending[SNAP_HTTP_MAX];
static size_t npending;
static char *status_json;
static char *source_name;

static unsigned post_snapshot(void *ctx, sl_http_req_t *req, sl_buf_t *body)
{
    const char *name = sl_http_req_arg(req, "table");
    char db[256], table[256];
    (void)ctx;
    if (!name || sl_name_parse(name, db, sizeof(db), table, sizeof(table))) {
        sl_buf_puts(body, "{\"error\":\"say which table: POST /snapshot?table=db.table\"}\n");
        return 400;
    }
    pthread_mutex_lock(&lock);
    unsigned st = 202;
    char *copy = npending < SNAP_HTTP_MAX ? strdup(name) : NULL;
    if (copy)
        pending[npending++] = copy;
    else
        st = 503;
    pthread_mutex_unlock(&lock);
    if (st != 202) {
        sl_buf_puts(body, "{\"error\":\"too many requests waiting; try again\"}\n");
        return st;
    }
    sl_buf_puts(body, "{\"status\":\"queued\",\"table\":");
    sl_buf_json_str(body, name, strlen(name));
    sl_buf_puts(body, "}\n");
    return 202;
}

static unsigned get_snapshot(void *ctx, sl_http_req_t *req, sl_buf_t *body)
{
    (void)ctx;
    (void)req;
    pthread_mutex_lock(&lock);
    if (status_json) {
        sl_buf_puts(body, status_json);
    } else {
        sl_buf_puts(body, "{\"source\":");
        sl_buf_json_str(body, source_name ? source_name : "", source_name ? strlen(source_name) : 0);
        sl_buf_puts(body, ",\"tables\":[],\"rows\":0,\"chunks\":0}\n");
    }
    pthread_mutex_unlock(&lock);
    return 200;
}

sl_err_t col_snap_http_start(sl_http_t *h, const char *source)
{
    pthread_mutex_lock(&lock);
    free(source_name);
    source_name = strdup(source);
    pthread_mutex_unlock(&lock);
    sl_err_t err = sl_http_route(h, "POST", "/snapshot", post_snapshot, NULL);
    return err ? err : sl_http_route(h, "GET", "/snapshot", get_snapshot, NULL);
}

void col_snap_http_stop(sl_http_t *h)
{
    sl_http_route(h, "POST", "/snapshot", NULL, NULL);
    sl_http_route(h, "GET", "/snapshot", NULL, NULL);
    pthread_mutex_lock(&lock);
    while (npending)
        free(pending[--npending]);
    free(status_json);
    status_json = NULL;
    free(source_name);
    source_name = NULL;
    pthread_mutex_unlock(&lock);
}

char *col_snap_http_take(void)
{
    char *name = NULL;
    pthread_mutex_lock(&lock);
    if (npending) {
        name = pending[0];
        memmove(&pending[0], &pending[1], (npending - 1) * sizeof(*pending));
        npending--;
    }
    pthread_mutex_unlock(&lock);
    return name;
}

void col_snap_http_publish(const char *json)
{
    char *copy = strdup(json);
    if (!copy)
        return;
    pthread_mutex_lock(&lock);
    free(status_json);
    status_json = copy;
    pthread_mutex_unlock(&lock);
}
