/* shiftlog tasks: reading and switching task definitions (tasks.h) in a
 * JSON file or a task_def_sync_manager table in MariaDB or PostgreSQL. */
#include <bson/bson.h>
#include <libpq-fe.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sl_bson.h"
#include "sl_buf.h"
#include "sl_myconn.h"
#include "sl_pgconn.h"
#include "tasks.h"

const char *const cli_task_cols[CLI_T_N] = {
    "task_name", "from_db_type", "from_app", "from_db", "from_table", "to_db_type", "to_app",
    "to_db", "to_table", "params", "online_status", "task_status", "description"};

#define DEFAULT_TABLE "task_def_sync_manager"

void cli_tasks_free(cli_task_t *t, int n)
{
    for (int i = 0; t && i < n; i++)
        for (int k = 0; k < CLI_T_N; k++)
            free(t[i].v[k]);
    free(t);
}

static int by_name(const void *a, const void *b)
{
    const cli_task_t *x = a, *y = b;
    return strcmp(x->v[0] ? x->v[0] : "", y->v[0] ? y->v[0] : "");
}

static int push(cli_task_t **out, int *n, int *cap)
{
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        cli_task_t *p = realloc(*out, (size_t)nc * sizeof(**out));
        if (!p)
            return -1;
        *out = p;
        *cap = nc;
    }
    memset(&(*out)[*n], 0, sizeof(**out));
    (*n)++;
    return 0;
}

/* --- JSON file ------------------------------------------------------------------------- */

/* The file's text as one document {"t": <the file>} (a top-level array is not a
 * document for libbson); JSON lines become an array first. */
static bson_t *read_file_doc(const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    sl_buf_t b = SL_BUF_INIT, w = SL_BUF_INIT;
    bson_t *doc = NULL;
    if (!f) {
        snprintf(errstr, errstr_size, "%s: cannot open: %m", path);
        return NULL;
    }
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        sl_buf_append(&b, chunk, k);
    fclose(f);
    const char *p = b.data ? b.data : "";
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    sl_buf_puts(&w, "{\"t\":");
    if (*p == '{' && strstr(p, "}\n{")) {        /* JSON lines: one object a line */
        sl_buf_puts(&w, "[");
        for (const char *q = p; *q; q++)
            sl_buf_append(&w, *q == '\n' && q[1] == '{' ? "," : q, 1);
        sl_buf_puts(&w, "]");
    } else {
        sl_buf_puts(&w, p);
    }
    sl_buf_puts(&w, "}");
    bson_error_t be;
    if (!w.data || !(doc = bson_new_from_json((const uint8_t *)w.data, (ssize_t)w.len, &be)))
        snprintf(errstr, errstr_size, "%s: not JSON: %s", path, w.data ? be.message : "out of memory");
    sl_buf_free(&b);
    sl_buf_free(&w);
    return doc;
}

static int task_of_doc(const uint8_t *data, uint32_t len, cli_task_t *t)
{
    bson_t d;
    bson_iter_t it;
    if (!bson_init_static(&d, data, len) || !bson_iter_init(&it, &d))
        return -1;
    while (bson_iter_next(&it))
        for (int k = 0; k < CLI_T_N; k++)
            if (!strcmp(bson_iter_key(&it), cli_task_cols[k]) && !t->v[k])
                t->v[k] = sl_bson_iter_text(&it);
    return 0;
}

static int load_file(const char *path, cli_task_t **out, int *n, char *errstr,
                     size_t errstr_size)
{
    bson_t *doc = read_file_doc(path, errstr, errstr_size);
    bson_iter_t it, el;
    int cap = 0, rc = -1;
    const uint8_t *data;
    uint32_t len;
    if (!doc)
        return -1;
    if (!bson_iter_init_find(&it, doc, "t"))
        goto out;
    if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
        bson_iter_document(&it, &len, &data);
        if (push(out, n, &cap) || task_of_doc(data, len, &(*out)[*n - 1]))
            goto bad;
    } else if (BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &el)) {
        while (bson_iter_next(&el)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&el))
                goto bad;
            bson_iter_document(&el, &len, &data);
            if (push(out, n, &cap) || task_of_doc(data, len, &(*out)[*n - 1]))
                goto bad;
        }
    } else {
        goto bad;
    }
    for (int i = 0; i < *n; i++)
        if (!(*out)[i].v[CLI_T_NAME] || !*(*out)[i].v[CLI_T_NAME]) {
            snprintf(errstr, errstr_size, "%s: task %d has no task_name", path, i + 1);
            goto out;
        }
    rc = 0;
    goto out;
bad:
    snprintf(errstr, errstr_size, "%s: not a task object, an array of them or one per line",
             path);
out:
    bson_destroy(doc);
    return rc;
}

/* Rewrites the file with online_status of name set: every task one object a line in an
 * array, the fields in the table's order (numbers as numbers, params as its text). */
static int set_online_file(const char *path, const char *name, int online, char *errstr,
                           size_t errstr_size)
{
    cli_task_t *t = NULL;
    int n = 0, found = -1, rc = -1;
    if (load_file(path, &t, &n, errstr, errstr_size))
        return -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].v[CLI_T_NAME], name))
            found = i;
    if (found < 0) {
        snprintf(errstr, errstr_size, "%s: no task %s", path, name);
        goto out;
    }
    free(t[found].v[CLI_T_ONLINE]);
    t[found].v[CLI_T_ONLINE] = strdup(online ? "1" : "0");
    sl_buf_t b = SL_BUF_INIT;
    sl_buf_puts(&b, "[\n");
    for (int i = 0; i < n; i++) {
        sl_buf_puts(&b, "  {");
        int first = 1;
        for (int k = 0; k < CLI_T_N; k++) {
            const char *v = t[i].v[k];
            if (!v)
                continue;
            sl_buf_printf(&b, "%s\"%s\": ", first ? "" : ", ", cli_task_cols[k]);
            first = 0;
            if (k == CLI_T_ONLINE && strspn(v, "0123456789") == strlen(v) && *v)
                sl_buf_puts(&b, v);
            else
                sl_buf_json_str(&b, v, strlen(v));
        }
        sl_buf_puts(&b, i + 1 < n ? "},\n" : "}\n");
    }
    sl_buf_puts(&b, "]\n");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || !b.data || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) ||
        rename(tmp, path)) {
        snprintf(errstr, errstr_size, "%s: cannot rewrite: %m", path);
        sl_buf_free(&b);
        goto out;
    }
    sl_buf_free(&b);
    rc = 0;
out:
    cli_tasks_free(t, n);
    return rc;
}

/* --- a task table in MariaDB or PostgreSQL --------------------------------------------- */

static int is_pg(const char *uri)
{
    return !strncasecmp(uri, "postgresql://", 13) || !strncasecmp(uri, "postgres://", 11);
}

/* table ("t", "db.t" or "schema.t") quoted for engine: `a`.`b` or "a"."b". */
static void quote_table(const char *table, int pg, sl_buf_t *out)
{
    char q = pg ? '"' : '`';
    sl_buf_append(out, &q, 1);
    for (const char *p = table; *p; p++) {
        if (*p == '.') {
            sl_buf_printf(out, "%c.%c", q, q);
            continue;
        }
        if (*p == q)
            sl_buf_append(out, &q, 1);          /* doubled inside the quotes */
        sl_buf_append(out, p, 1);
    }
    sl_buf_append(out, &q, 1);
}

static void select_sql(const char *table, int pg, sl_buf_t *sql)
{
    sl_buf_puts(sql, "SELECT ");
    for (int k = 0; k < CLI_T_N; k++)
        sl_buf_printf(sql, "%s%s%s", k ? ", " : "", cli_task_cols[k], pg ? "::text" : "");
    sl_buf_puts(sql, " FROM ");
    quote_table(table, pg, sql);
    sl_buf_puts(sql, " ORDER BY task_name");
}

static int pg_run(const cli_task_src_t *src, const char *name, int online, cli_task_t **out,
                  int *n, char *errstr, size_t errstr_size)
{
    PGconn *c = NULL;
    PGresult *r = NULL;
    sl_buf_t sql = SL_BUF_INIT;
    sl_pgconn_t pc = {.uri = src->uri};
    char msg[1024];
    int rc = -1, cap = 0;
    if (sl_pgconn_open(&pc, &c, msg, sizeof msg, NULL, 0)) {
        snprintf(errstr, errstr_size, "task table: %s", msg);
        goto out;
    }
    if (name) {
        char on[4];
        snprintf(on, sizeof on, "%d", online);
        const char *params[2] = {on, name};
        sl_buf_puts(&sql, "UPDATE ");
        quote_table(src->table, 1, &sql);
        sl_buf_puts(&sql, " SET online_status = $1::int WHERE task_name = $2");
        r = PQexecParams(c, sql.data, 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(errstr, errstr_size, "task table %s: %s", src->table, PQerrorMessage(c));
            goto out;
        }
        if (strcmp(PQcmdTuples(r), "1")) {
            snprintf(errstr, errstr_size, "task table %s: no task %s", src->table, name);
            goto out;
        }
        rc = 0;
        goto out;
    }
    select_sql(src->table, 1, &sql);
    r = PQexec(c, sql.data);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(errstr, errstr_size, "task table %s: %s", src->table, PQerrorMessage(c));
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        if (push(out, n, &cap))
            goto out;
        for (int k = 0; k < CLI_T_N; k++)
            if (!PQgetisnull(r, i, k))
                (*out)[*n - 1].v[k] = strdup(PQgetvalue(r, i, k));
    }
    rc = 0;
out:
    PQclear(r);
    PQfinish(c);
    sl_buf_free(&sql);
    return rc;
}

static int my_run(const cli_task_src_t *src, const char *name, int online, cli_task_t **out,
                  int *n, char *errstr, size_t errstr_size)
{
    char buf[1024], msg[512];
    unsigned no;
    sl_myconn_t c = {.port = 3306};
    sl_buf_t sql = SL_BUF_INIT;
    MYSQL_RES *res = NULL;
    MYSQL *m = NULL;
    int rc = -1, cap = 0;
    if ((strncasecmp(src->uri, "mysql://", 8) && strncasecmp(src->uri, "mariadb://", 10)) ||
        sl_myconn_url(src->uri, &c, buf, sizeof buf)) {
        snprintf(errstr, errstr_size, "task table: %s: not mysql://, mariadb:// or "
                 "postgresql://", src->uri);
        return -1;
    }
    if (sl_myconn_open(&c, &m, msg, sizeof msg, &no)) {
        snprintf(errstr, errstr_size, "task table: %s", msg);
        goto out;
    }
    if (name) {
        char esc[600];
        if (strlen(name) > 256) {
            snprintf(errstr, errstr_size, "task name too long");
            goto out;
        }
        mysql_real_escape_string(m, esc, name, strlen(name));
        sl_buf_puts(&sql, "UPDATE ");
        quote_table(src->table, 0, &sql);
        sl_buf_printf(&sql, " SET online_status = %d WHERE task_name = '%s'", online, esc);
        if (mysql_query(m, sql.data)) {
            snprintf(errstr, errstr_size, "task table %s: %s", src->table, mysql_error(m));
            goto out;
        }
        /* affected rows count changed rows only (0 when it already had that value):
         * whether the task exists is asked apart */
        sl_buf_reset(&sql);
        sl_buf_puts(&sql, "SELECT 1 FROM ");
        quote_table(src->table, 0, &sql);
        sl_buf_printf(&sql, " WHERE task_name = '%s'", esc);
        if (mysql_query(m, sql.data) || !(res = mysql_store_result(m))) {
            snprintf(errstr, errstr_size, "task table %s: %s", src->table, mysql_error(m));
            goto out;
        }
        if (mysql_num_rows(res) != 1) {
            snprintf(errstr, errstr_size, "task table %s: no task %s", src->table, name);
            goto out;
        }
        rc = 0;
        goto out;
    }
    select_sql(src->table, 0, &sql);
    if (mysql_query(m, sql.data) || !(res = mysql_store_result(m))) {
        snprintf(errstr, errstr_size, "task table %s: %s", src->table, mysql_error(m));
        goto out;
    }
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        if (push(out, n, &cap))
            goto out;
        for (int k = 0; k < CLI_T_N; k++)
            if (row[k])
                (*out)[*n - 1].v[k] = strdup(row[k]);
    }
    rc = 0;
out:
    mysql_free_result(res);
    if (m)
        mysql_close(m);
    sl_buf_free(&sql);
    return rc;
}

static int run(const cli_task_src_t *src0, const char *name, int online, cli_task_t **out,
               int *n, char *errstr, size_t errstr_size)
{
    cli_task_src_t src = *src0;
    if (!src.table || !*src.table)
        src.table = DEFAULT_TABLE;
    return is_pg(src.uri) ? pg_run(&src, name, online, out, n, errstr, errstr_size)
                          : my_run(&src, name, online, out, n, errstr, errstr_size);
}

int cli_tasks_load(const cli_task_src_t *src, cli_task_t **out, int *n, char *errstr,
                   size_t errstr_size)
{
    *out = NULL;
    *n = 0;
    int rc = src->file ? load_file(src->file, out, n, errstr, errstr_size)
                       : run(src, NULL, 0, out, n, errstr, errstr_size);
    if (rc) {
        cli_tasks_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    qsort(*out, (size_t)*n, sizeof(**out), by_name);
    return 0;
}

int cli_tasks_set_online(const cli_task_src_t *src, const char *name, int online,
                         char *errstr, size_t errstr_size)
{
    if (src->file)
        return set_online_file(src->file, name, online, errstr, errstr_size);
    return run(src, name, online, NULL, NULL, errstr, errstr_size);
}
