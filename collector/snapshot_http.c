/* shiftlog-collector: snapshot requests and status on the HTTP endpoint.
 *
 *   POST /snapshot?table=db.t[&after=K][&upto=K]
 *        202 {"status":"queued","table":"db.t","id":"..."}: the reader writes
 *        a request mark into the source's log at its next turn (so a request
 *        survives a restart once written), and the copy starts when the
 *        stream meets it. K: a JSON array of the key's values in key order
 *        ([17], ["a",3]); with after/upto only the rows whose key is above
 *        after and at most upto are read again. 400 when K is not such an
 *        array (a K that does not fit the table's key is refused when its
 *        turn comes: GET /snapshot lists it under "ended", state "refused").
 *   GET  /snapshot
 *        {"source":..,"tables":[..],"rows":N,"tables_done":N,"queue":[..],
 *         "written":[ids],"ended":[..],"skipped":[..],"waiting":[ids]}
 *        — docs/snapshot.md describes each field.
 *
 * The handlers run in the endpoint's thread: they leave requests and read
 * the status under this module's lock; the reader alone talks to the source
 * (col_snap_http_take, col_snap_http_publish). One collector process serves
 * one source, so the state is the process's. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "sl_http.h"
#include "sl_name.h"

#include "sl_service.h"

#define SNAP_HTTP_MAX 256
#define SNAP_MARK_MAX 1024      /* "<source>:S:<id>": the signal table's mark column */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static col_snap_req_t pending[SNAP_HTTP_MAX];
static size_t npending;
static uint64_t next_id;
static char *status_json;
static char *source_name;

void col_snap_req_free(col_snap_req_t *r)
{
    free(r->id);
    free(r->name);
    free(r->after);
    free(r->upto);
    memset(r, 0, sizeof(*r));
}

sl_err_t col_snap_req_mark(sl_buf_t *b, const col_snap_req_t *req)
{
    sl_buf_puts(b, req->id);
    if (req->after || req->upto) {
        sl_buf_putc(b, '+');
        col_snap_mark_put(b, req->after);
        sl_buf_putc(b, '+');
        col_snap_mark_put(b, req->upto);
    }
    sl_buf_putc(b, ' ');
    return sl_buf_puts(b, req->name);
}

/* A bound argument: absent, or a JSON array of scalars (400 otherwise). */
static int bound_ok(sl_http_req_t *req, const char *arg, sl_buf_t *body)
{
    const char *v = sl_http_req_arg(req, arg);
    col_snap_key_t k;
    char why[300];
    if (!v)
        return 1;
    if (col_snap_key_parse(v, &k, why, sizeof(why))) {
        sl_buf_printf(body, "{\"error\":");
        sl_buf_json_str(body, why, strlen(why));
        sl_buf_puts(body, ",\"hint\":\"after and upto are JSON arrays of the key's values "
                    "in key order, e.g. [17] or [\\\"a\\\",3]\"}\n");
        return 0;
    }
    col_snap_key_free(&k);
    return 1;
}

static unsigned post_snapshot(void *ctx, sl_http_req_t *req, sl_buf_t *body)
{
    const char *name = sl_http_req_arg(req, "table");
    const char *after = sl_http_req_arg(req, "after"), *upto = sl_http_req_arg(req, "upto");
    char db[256], table[256];
    (void)ctx;
    if (!name || sl_name_parse(name, db, sizeof(db), table, sizeof(table))) {
        sl_buf_puts(body, "{\"error\":\"say which table: POST /snapshot?table=db.table\"}\n");
        return 400;
    }
    if (!bound_ok(req, "after", body) || !bound_ok(req, "upto", body))
        return 400;
    col_snap_req_t r = {0};
    sl_buf_t mark = SL_BUF_INIT;
    unsigned st = 202;
    pthread_mutex_lock(&lock);
    if (!next_id)                   /* unique across restarts: the start time in us */
        next_id = (uint64_t)sl_service_now_ms() * 1000;
    char id[32];
    snprintf(id, sizeof(id), "%" PRIu64, ++next_id);
    r.id = strdup(id);
    r.name = strdup(name);
    r.after = after ? strdup(after) : NULL;
    r.upto = upto ? strdup(upto) : NULL;
    if (!r.id || !r.name || (after && !r.after) || (upto && !r.upto) ||
        col_snap_req_mark(&mark, &r))
        st = 500;
    else if (mark.len + strlen(source_name ? source_name : "") + 3 > SNAP_MARK_MAX)
        st = 413;
    else if (npending == SNAP_HTTP_MAX)
        st = 503;
    else
        pending[npending++] = r;
    pthread_mutex_unlock(&lock);
    sl_buf_free(&mark);
    if (st != 202) {
        col_snap_req_free(&r);
        sl_buf_puts(body, st == 413 ? "{\"error\":\"the table name and key bounds are too "
                    "long for a request mark (1024 bytes with the source name)\"}\n"
                    : st == 503 ? "{\"error\":\"too many requests waiting; try again\"}\n"
                    : "{\"error\":\"out of memory\"}\n");
        return st;
    }
    sl_buf_puts(body, "{\"status\":\"queued\",\"table\":");
    sl_buf_json_str(body, name, strlen(name));
    sl_buf_puts(body, ",\"id\":");
    sl_buf_json_str(body, id, strlen(id));
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
        sl_buf_puts(body, ",\"tables\":[],\"rows\":0,\"tables_done\":0,\"queue\":[],"
                    "\"written\":[],\"ended\":[],\"skipped\":[]");
    }
    /* requests not written to the source's log yet */
    sl_buf_puts(body, ",\"waiting\":[");
    for (size_t i = 0; i < npending; i++) {
        if (i)
            sl_buf_putc(body, ',');
        sl_buf_json_str(body, pending[i].id, strlen(pending[i].id));
    }
    sl_buf_puts(body, "]}\n");
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
        col_snap_req_free(&pending[--npending]);
    free(status_json);
    status_json = NULL;
    free(source_name);
    source_name = NULL;
    pthread_mutex_unlock(&lock);
}

int col_snap_http_take(col_snap_req_t *out)
{
    int got = 0;
    pthread_mutex_lock(&lock);
    if (npending) {
        *out = pending[0];
        memmove(&pending[0], &pending[1], (npending - 1) * sizeof(*pending));
        npending--;
        got = 1;
    }
    pthread_mutex_unlock(&lock);
    return got;
}

void col_snap_http_untake(col_snap_req_t *req)
{
    pthread_mutex_lock(&lock);
    if (npending < SNAP_HTTP_MAX) {
        memmove(&pending[1], &pending[0], npending * sizeof(*pending));
        pending[0] = *req;
        npending++;
        memset(req, 0, sizeof(*req));
    }
    pthread_mutex_unlock(&lock);
    col_snap_req_free(req);           /* full: dropped (the log says the write failed) */
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
