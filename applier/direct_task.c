/* shiftlog-applier: a direct task's definition (direct.h) — a row of a task
 * table shaped like goshift's task_def_sync_manager (in MariaDB or
 * PostgreSQL, read over direct.tasks.uri), or a JSON file with the same
 * fields (direct.task.file). params is goshift's JSON: split.pk,
 * worker_num, read_batch, write_batch, diff_column (and diff.lag.ms). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "direct.h"
#include "sl_bson.h"
#include "sl_log.h"

static const char *const fields[] = {
    "from_db_type", "from_app", "from_db", "from_table", "to_db_type", "to_app", "to_db",
    "to_table", "params", "online_status", "task_status", "description"};
enum { F_FROM_TYPE, F_FROM_APP, F_FROM_DB, F_FROM_TABLE, F_TO_TYPE, F_TO_APP, F_TO_DB,
       F_TO_TABLE, F_PARAMS, F_ONLINE, F_STATUS, F_DESC, F_N };

const char *app_dtask_engine(const char *t)
{
    if (!t)
        return NULL;
    if (!strcasecmp(t, "mysql") || !strcasecmp(t, "mariadb"))
        return "mysql";
    if (!strcasecmp(t, "postgresql") || !strcasecmp(t, "postgres") || !strcasecmp(t, "pg"))
        return "postgresql";
    return NULL;
}

void app_dtask_free(app_dtask_t *t)
{
    char **s[] = {&t->name, &t->from_type, &t->from_app, &t->from_db, &t->from_table,
                  &t->to_type, &t->to_app, &t->to_db, &t->to_table, &t->description,
                  &t->split_pk, &t->diff_column};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        free(*s[i]);
        *s[i] = NULL;
    }
}

/* A field of a JSON document as text (numbers printed), NULL when absent. */
static char *json_text(const bson_t *b, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, b, key) ? sl_bson_iter_text(&it) : NULL;
}

static sl_err_t parse_params(app_dtask_t *t, const char *json, char *errstr, size_t sz)
{
    bson_t b;
    bson_error_t e;
    if (!json || !*json)
        return SL_OK;
    if (!bson_init_from_json(&b, json, -1, &e)) {
        snprintf(errstr, sz, "direct task %s: params is not a JSON object (%s): %.80s",
                 t->name, e.message, json);
        return SL_ERR_PARSE;
    }
    struct { const char *key; int64_t *v; int64_t max; } ints[] = {
        {"worker_num", &t->worker_num, 64}, {"read_batch", &t->read_batch, 1000000},
        {"write_batch", &t->write_batch, 100000}, {"diff.lag.ms", &t->diff_lag_ms, 86400000}};
    sl_err_t err = SL_OK;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && !err; i++) {
        char *v = json_text(&b, ints[i].key), *end = NULL;
        if (!v)
            continue;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || x < (i == 3 ? 0 : 1) || x > ints[i].max) {
            snprintf(errstr, sz, "direct task %s: params %s = %s is not a whole number in "
                     "%d..%lld", t->name, ints[i].key, v, i == 3 ? 0 : 1,
                     (long long)ints[i].max);
            err = SL_ERR_INVALID;
        }
        *ints[i].v = x;
        free(v);
    }
    char *sp = json_text(&b, "split.pk"), *dc = json_text(&b, "diff_column");
    if (sp) {
        free(t->split_pk);
        t->split_pk = sp;
    }
    if (dc) {
        free(t->diff_column);
        t->diff_column = dc;
    }
    bson_destroy(&b);
    return err;
}

/* The fields of the file's JSON object into vals (malloc'd texts). */
static sl_err_t load_file(const char *path, char **vals, char *errstr, size_t sz)
{
    bson_t b;
    bson_error_t e;
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    long n;
    if (!f) {
        snprintf(errstr, sz, "direct.task.file %s: cannot open it", path);
        return SL_ERR_IO;
    }
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET) ||
        !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        snprintf(errstr, sz, "direct.task.file %s: cannot read it (at most 1 MiB)", path);
        return SL_ERR_IO;
    }
    fclose(f);
    buf[n] = '\0';
    if (!bson_init_from_json(&b, buf, n, &e)) {
        snprintf(errstr, sz, "direct.task.file %s: not a JSON object: %s", path, e.message);
        free(buf);
        return SL_ERR_PARSE;
    }
    free(buf);
    for (int i = 0; i < F_N; i++)
        vals[i] = json_text(&b, fields[i]);
    bson_destroy(&b);
    return SL_OK;
}

static sl_err_t load_table(const app_conf_t *c, char **vals, char *errstr, size_t sz)
{
    app_dsrc_t *s;
    char **row = NULL;
    sl_err_t err = app_dsrc_open(&s, c->direct_tasks_uri, errstr, sz);
    if (err)
        return err;
    err = app_dsrc_task_row(s, c->direct_tasks_table, fields, F_N, c->task_name, &row, errstr,
                            sz);
    if (!err)
        for (int i = 0; i < F_N; i++)
            vals[i] = row[i];
    free(row);
    app_dsrc_close(s);
    return err;
}

int app_dtask_online(const char *v)
{
    return !v || atoi(v) != 0 || !strcasecmp(v, "true") || !strcasecmp(v, "online");
}

sl_err_t app_dtask_load(app_dtask_t *t, const app_conf_t *c, char *errstr, size_t sz)
{
    char *vals[F_N] = {0};
    sl_err_t err;
    memset(t, 0, sizeof(*t));
    t->worker_num = c->worker_num;
    t->read_batch = c->read_batch;
    t->write_batch = c->write_batch;
    t->diff_lag_ms = c->direct_diff_lag_ms;
    if (c->direct_task_file && *c->direct_task_file)
        err = load_file(c->direct_task_file, vals, errstr, sz);
    else if (c->direct_tasks_uri && *c->direct_tasks_uri)
        err = load_table(c, vals, errstr, sz);
    else {
        snprintf(errstr, sz, "source.type = direct needs direct.task.file or direct.tasks.uri "
                 "(the task table holding task %s)", c->task_name);
        err = SL_ERR_INVALID;
    }
    if (err)
        goto out;
    if (!(t->name = strdup(c->task_name))) {
        err = SL_ERR_NOMEM;
        goto out;
    }
    t->from_type = vals[F_FROM_TYPE]; t->from_app = vals[F_FROM_APP];
    t->from_db = vals[F_FROM_DB]; t->from_table = vals[F_FROM_TABLE];
    t->to_type = vals[F_TO_TYPE]; t->to_app = vals[F_TO_APP];
    t->to_db = vals[F_TO_DB]; t->to_table = vals[F_TO_TABLE];
    t->description = vals[F_DESC];
    vals[F_FROM_TYPE] = vals[F_FROM_APP] = vals[F_FROM_DB] = vals[F_FROM_TABLE] = NULL;
    vals[F_TO_TYPE] = vals[F_TO_APP] = vals[F_TO_DB] = vals[F_TO_TABLE] = vals[F_DESC] = NULL;
    t->online = app_dtask_online(vals[F_ONLINE]);
    if (!(t->split_pk = strdup("")) || !(t->diff_column = strdup(""))) {
        err = SL_ERR_NOMEM;
        goto out;
    }
    const char *missing = !t->from_db ? "from_db" : !t->from_table ? "from_table"
                        : !t->to_db ? "to_db" : !t->to_table ? "to_table" : NULL;
    if (missing) {
        snprintf(errstr, sz, "direct task %s: %s is empty", t->name, missing);
        err = SL_ERR_INVALID;
        goto out;
    }
    if (!app_dtask_engine(t->from_type) || !app_dtask_engine(t->to_type)) {
        snprintf(errstr, sz, "direct task %s: from_db_type \"%s\" / to_db_type \"%s\": each "
                 "must be mysql, mariadb or postgresql", t->name,
                 t->from_type ? t->from_type : "", t->to_type ? t->to_type : "");
        err = SL_ERR_INVALID;
        goto out;
    }
    err = parse_params(t, vals[F_PARAMS], errstr, sz);
out:
    for (int i = 0; i < F_N; i++)
        free(vals[i]);
    if (err)
        app_dtask_free(t);
    return err;
}

sl_err_t app_dtask_status(const app_conf_t *c, const char *status, char *errstr, size_t sz)
{
    app_dsrc_t *s;
    if (c->direct_task_file && *c->direct_task_file)
        return SL_OK;
    sl_err_t err = app_dsrc_open(&s, c->direct_tasks_uri, errstr, sz);
    if (err)
        return err;
    err = app_dsrc_task_set(s, c->direct_tasks_table, "task_status", status, c->task_name,
                            errstr, sz);
    app_dsrc_close(s);
    return err;
}
