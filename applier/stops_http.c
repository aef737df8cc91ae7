/* shiftlog-applier: the stopped tables on the HTTP endpoint.
 *
 *   GET  /tables                      {"task":"...","tables":[...]} — every stopped or
 *                                     catching-up table (app_txn_stops_json)
 *   POST /tables/resume?table=db.t    202 {"status":"resuming",...}: the main loop
 *                                     resumes it at its next turn; 404 when the table
 *                                     is not stopped, 409 when a resume waits already
 *                                     or the task cannot resume (the reason)
 *
 * The handlers run in the endpoint's thread: they read what the main loop
 * published (app_stops_http_publish) and leave one request for it
 * (app_stops_http_take), both under this module's lock — the main loop alone
 * talks to the target. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applier.h"
#include "sl_http.h"
#include "sl_log.h"

struct app_stops_http_s {
    sl_http_t      *http;            /* borrowed: the routes are removed at free */
    pthread_mutex_t lock;
    char           *task;
    char           *refuse;          /* why this task cannot resume, NULL = it can */
    char           *json;            /* the published array */
    char          **names;           /* "db.table" of each stopped table */
    char          **dbs, **tables;
    size_t          n;
    int             pending;
    char            req_db[256], req_table[256];
    /* main loop only */
    int             published;
    unsigned        ver;
};

static void free_list(app_stops_http_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->names[i]);
        free(s->dbs[i]);
        free(s->tables[i]);
    }
    free(s->names);
    free(s->dbs);
    free(s->tables);
    s->names = s->dbs = s->tables = NULL;
    s->n = 0;
}

static unsigned get_tables(void *ctx, sl_http_req_t *req, sl_buf_t *body)
{
    app_stops_http_t *s = ctx;
    (void)req;
    pthread_mutex_lock(&s->lock);
    sl_buf_puts(body, "{\"task\":");
    sl_buf_json_str(body, s->task, strlen(s->task));
    sl_buf_puts(body, ",\"tables\":");
    sl_buf_puts(body, s->json ? s->json : "[]");
    sl_buf_puts(body, "}\n");
    pthread_mutex_unlock(&s->lock);
    return 200;
}

static unsigned post_resume(void *ctx, sl_http_req_t *req, sl_buf_t *body)
{
    app_stops_http_t *s = ctx;
    const char *name = sl_http_req_arg(req, "table");
    unsigned status;
    if (!name || !*name) {
        sl_buf_puts(body, "{\"error\":\"say which table: POST /tables/resume?table=db.table\"}\n");
        return 400;
    }
    pthread_mutex_lock(&s->lock);
    size_t i = 0;
    while (i < s->n && strcmp(s->names[i], name))
        i++;
    if (s->refuse) {
        sl_buf_puts(body, "{\"error\":");
        sl_buf_json_str(body, s->refuse, strlen(s->refuse));
        sl_buf_puts(body, "}\n");
        status = 409;
    } else if (i == s->n) {
        sl_buf_puts(body, "{\"error\":\"not a stopped table of this task\",\"table\":");
        sl_buf_json_str(body, name, strlen(name));
        sl_buf_puts(body, "}\n");
        status = 404;
    } else if (s->pending) {
        sl_buf_puts(body, "{\"error\":\"a resume is waiting to be taken already: try again "
                          "in a moment\"}\n");
        status = 409;
    } else {
        s->pending = 1;
        snprintf(s->req_db, sizeof(s->req_db), "%s", s->dbs[i]);
        snprintf(s->req_table, sizeof(s->req_table), "%s", s->tables[i]);
        sl_buf_puts(body, "{\"status\":\"resuming\",\"table\":");
        sl_buf_json_str(body, name, strlen(name));
        sl_buf_puts(body, ",\"see\":\"GET /tables (state catching_up, then gone)\"}\n");
        status = 202;
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

app_stops_http_t *app_stops_http_new(sl_http_t *h, const char *task, const char *refuse)
{
    app_stops_http_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    s->http = h;
    s->task = strdup(task);
    s->refuse = refuse ? strdup(refuse) : NULL;
    if (!s->task || (refuse && !s->refuse) ||
        sl_http_route(h, "GET", "/tables", get_tables, s) ||
        sl_http_route(h, "POST", "/tables/resume", post_resume, s)) {
        sl_warn("http: cannot serve /tables (out of memory or routes)");
    }
    return s;
}

/* names: "db\0table\0" per table, len bytes (app_txn_stops_names). */
static void set_names(app_stops_http_t *s, const char *names, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += names[i] == '\0';
    n /= 2;
    s->names = calloc(n ? n : 1, sizeof(char *));
    s->dbs = calloc(n ? n : 1, sizeof(char *));
    s->tables = calloc(n ? n : 1, sizeof(char *));
    if (!s->names || !s->dbs || !s->tables)
        return;
    for (const char *p = names; s->n < n;) {
        const char *db = p, *tb = p + strlen(p) + 1;
        p = tb + strlen(tb) + 1;
        size_t l = strlen(db) + strlen(tb) + 2;
        char *full = malloc(l);
        if (!full)
            break;
        snprintf(full, l, "%s.%s", db, tb);
        s->names[s->n] = full;
        s->dbs[s->n] = strdup(db);
        s->tables[s->n] = strdup(tb);
        if (!s->dbs[s->n] || !s->tables[s->n]) {
            free(full);
            free(s->dbs[s->n]);
            free(s->tables[s->n]);
            break;
        }
        s->n++;
    }
}

void app_stops_http_publish(app_stops_http_t *s, const char *json, const char *names,
                            size_t names_len)
{
    if (!s)
        return;
    char *copy = strdup(json);
    pthread_mutex_lock(&s->lock);
    free(s->json);
    s->json = copy;
    free_list(s);
    set_names(s, names, names_len);
    pthread_mutex_unlock(&s->lock);
}

int app_stops_http_take(app_stops_http_t *s, char *db, size_t db_size, char *table,
                        size_t table_size)
{
    if (!s)
        return 0;
    int got = 0;
    pthread_mutex_lock(&s->lock);
    if (s->pending) {
        snprintf(db, db_size, "%s", s->req_db);
        snprintf(table, table_size, "%s", s->req_table);
        s->pending = 0;
        got = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return got;
}

void app_stops_http_free(app_stops_http_t *s)
{
    if (!s)
        return;
    /* no handler runs after these return */
    sl_http_route(s->http, "GET", "/tables", NULL, NULL);
    sl_http_route(s->http, "POST", "/tables/resume", NULL, NULL);
    free_list(s);
    free(s->json);
    free(s->task);
    free(s->refuse);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void app_stops_note(app_stops_http_t *s, const app_txn_t *x, sl_http_t *h)
{
    if (!s || (s->published && app_txn_stops_version(x) == s->ver))
        return;
    s->published = 1;
    s->ver = app_txn_stops_version(x);
    char what[2048];
    int n = app_txn_stopped(x, what, sizeof what);
    sl_http_set_degraded(h, n ? what : NULL);
    sl_buf_t json = SL_BUF_INIT, names = SL_BUF_INIT;
    app_txn_stops_json(x, &json);
    app_txn_stops_names(x, &names);
    if (json.data)
        app_stops_http_publish(s, json.data, names.data ? names.data : "", names.len);
    sl_buf_free(&json);
    sl_buf_free(&names);
}

int app_stops_poll(app_stops_http_t *s, app_txn_t *x)
{
    char db[256], table[256], errstr[1024];
    if (!app_stops_http_take(s, db, sizeof db, table, sizeof table))
        return 0;
    sl_info("resume of table %s.%s asked (POST /tables/resume)", db, table);
    if (app_txn_resume(x, db, table, errstr, sizeof errstr)) {
        sl_error("cannot resume table %s.%s: %s", db, table, errstr);
        return 0;
    }
    return 1;
}
