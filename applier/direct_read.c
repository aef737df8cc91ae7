/* shiftlog-applier: direct tasks' source reader (direct.h) — a MariaDB /
 * MySQL or PostgreSQL table read in keyset chunks into CHANGE records with
 * op READ, typed from the catalog the way the collector types the stream's
 * values (docs/direct.md lists the types), so the targets create and write
 * them as they do a replicated table.
 *
 * Sessions run in UTC (MariaDB time_zone '+00:00', PostgreSQL TimeZone
 * UTC): a TIMESTAMP / timestamptz reads as its UTC text, which the targets'
 * UTC sessions store back exactly. The continuation (the last key read) is
 * kept as the texts the source printed and given back as literals (MariaDB,
 * escaped) or parameters (PostgreSQL, typed by the column), compared by
 * the keyset builder (sl_keyset.h): `k1 > v1 OR (k1 = v1 AND k2 > v2)...` on
 * MariaDB, `(k1, k2) > ($1, $2)` on PostgreSQL, each a range on the key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct_int.h"
#include "sl_keyset.h"
#include "sl_myconn.h"
#include "sl_pgconn.h"



const char *app_dsrc_engine(const app_dsrc_t *s)
{
    return s->pg ? "postgresql" : "mysql";
}

/* ------------------------------------------------------------- connect */

int app_dsrc_hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static sl_err_t my_open(app_dsrc_t *s, const char *uri, char *errstr, size_t sz)
{
    /* mysql://user:password@host:port/database */
    char buf[4096], msg[512];
    unsigned no;
    sl_myconn_t c = {.port = 3306, .connect_timeout = 5, .read_timeout = 600};
    if (sl_myconn_url(uri, &c, buf, sizeof buf)) {
        snprintf(errstr, sz, "direct source: the URL is too long");
        return SL_ERR_INVALID;
    }
    snprintf(s->where, sizeof s->where, "%s:%u", c.host ? c.host : "", c.port);
    sl_err_t err = sl_myconn_open(&c, &s->my, msg, sizeof msg, &no);
    if (err == SL_ERR_NOMEM)
        return err;
    if (err) {
        snprintf(errstr, sz, "direct source mysql %s: %s (%u)", s->where, msg, no);
        return no == 1045 || no == 1044 || no == 1049 ? SL_ERR_DENIED : SL_ERR_DB;
    }
    if (mysql_query(s->my, "SET time_zone = '+00:00', sql_mode = ''")) {
        snprintf(errstr, sz, "direct source mysql %s: %s", s->where, mysql_error(s->my));
        return SL_ERR_DB;
    }
    return SL_OK;
}

/* host:port of a URI that did not connect, for the error message (libpq's
 * defaults when the URI names none). */
static void pq_where(const char *uri, char *out, size_t size)
{
    const char *host = "localhost", *port = "5432";
    PQconninfoOption *o = PQconninfoParse(uri, NULL);
    for (PQconninfoOption *p = o; p && p->keyword; p++) {
        if (!strcmp(p->keyword, "host") && p->val && *p->val)
            host = p->val;
        else if (!strcmp(p->keyword, "port") && p->val && *p->val)
            port = p->val;
    }
    snprintf(out, size, "%s:%s", host, port);
    PQconninfoFree(o);
}

static sl_err_t pq_open(app_dsrc_t *s, const char *uri, char *errstr, size_t sz)
{
    s->pg = 1;
    char msg[1024];
    sl_pgconn_t c = {.uri = uri};
    sl_err_t err = sl_pgconn_open(&c, &s->pq, msg, sizeof msg, NULL, 0);
    if (err) {
        pq_where(uri, s->where, sizeof s->where);
        snprintf(errstr, sz, "direct source postgresql %s: %.*s", s->where,
                 (int)strcspn(msg, "\n"), msg);
        return strstr(msg, "authentication") || strstr(msg, "does not exist") ? SL_ERR_DENIED
                                                                               : SL_ERR_DB;
    }
    snprintf(s->where, sizeof s->where, "%s:%s", PQhost(s->pq) ? PQhost(s->pq) : "?",
             PQport(s->pq) ? PQport(s->pq) : "?");
    PGresult *r = PQexec(s->pq, "SET TimeZone = 'UTC'; SET extra_float_digits = 3; "
                                "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'");
    err = PQresultStatus(r) == PGRES_COMMAND_OK ? SL_OK : SL_ERR_DB;
    if (err)
        snprintf(errstr, sz, "direct source postgresql %s: %s", s->where,
                 PQerrorMessage(s->pq));
    PQclear(r);
    return err;
}

sl_err_t app_dsrc_open(app_dsrc_t **out, const char *uri, char *errstr, size_t errstr_size)
{
    app_dsrc_t *s = calloc(1, sizeof(*s));
    sl_err_t err;
    *out = NULL;
    if (!s)
        return SL_ERR_NOMEM;
    if (!strncmp(uri, "mysql://", 8) || !strncmp(uri, "mariadb://", 10)) {
        err = my_open(s, uri, errstr, errstr_size);
    } else if (!strncmp(uri, "postgresql://", 13) || !strncmp(uri, "postgres://", 11)) {
        err = pq_open(s, uri, errstr, errstr_size);
    } else {
        snprintf(errstr, errstr_size, "direct: connection URI \"%.*s...\" is neither mysql:// "
                 "(mariadb://) nor postgresql://", (int)strcspn(uri, ":"), uri);
        err = SL_ERR_INVALID;
    }
    if (err) {
        app_dsrc_close(s);
        return err;
    }
    *out = s;
    return SL_OK;
}

void app_dsrc_close(app_dsrc_t *s)
{
    if (!s)
        return;
    if (s->my)
        mysql_close(s->my);
    if (s->pq)
        PQfinish(s->pq);
    free(s);
}

/* ------------------------------------------------------------ queries */

void app_dsrc_ident(app_dsrc_t *s, sl_buf_t *q, const char *name)
{
    sl_keyset_ident(s->pg ? SL_KEYSET_PG : SL_KEYSET_MARIADB, q, name);
}

/* MariaDB: a quoted, escaped string literal of n bytes. */
sl_err_t app_dsrc_my_literal(app_dsrc_t *s, sl_buf_t *q, const char *v, size_t n)
{
    sl_err_t err = sl_buf_reserve(q, 2 * n + 3);
    if (err)
        return err;
    q->data[q->len++] = '\'';
    q->len += mysql_real_escape_string(s->my, q->data + q->len, v, (unsigned long)n);
    q->data[q->len++] = '\'';
    q->data[q->len] = '\0';
    return SL_OK;
}



void app_dsrc_res_free(res_t *r)
{
    if (r->my)
        mysql_free_result(r->my);
    if (r->pq)
        PQclear(r->pq);
    memset(r, 0, sizeof(*r));
}

/* Runs q with params (PostgreSQL $1..; MariaDB: none, literals are in q). */
sl_err_t app_dsrc_run(app_dsrc_t *s, const sl_buf_t *q, const char *const *params, int nparams,
                    res_t *r, const char *what, char *errstr, size_t sz)
{
    memset(r, 0, sizeof(*r));
    if (!q->data)
        return SL_ERR_NOMEM;
    if (s->pg) {
        r->pq = PQexecParams(s->pq, q->data, nparams, NULL, params, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r->pq);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            const char *m = PQresultErrorMessage(r->pq);
            snprintf(errstr, sz, "direct source postgresql %s: %s: %.*s", s->where, what,
                     (int)strcspn(m, "\n"), m);
            sl_err_t err = PQstatus(s->pq) == CONNECTION_BAD ? SL_ERR_DB : SL_ERR_INVALID;
            app_dsrc_res_free(r);
            return err;
        }
        r->nrows = PQntuples(r->pq);
        r->ncols = PQnfields(r->pq);
        return SL_OK;
    }
    if (mysql_real_query(s->my, q->data, (unsigned long)q->len)) {
        unsigned no = mysql_errno(s->my);
        snprintf(errstr, sz, "direct source mysql %s: %s: %s (%u)", s->where, what,
                 mysql_error(s->my), no);
        return no >= 2000 ? SL_ERR_DB : SL_ERR_INVALID;   /* CR_*: the connection */
    }
    r->my = mysql_store_result(s->my);
    if (!r->my) {
        if (mysql_field_count(s->my) == 0)
            return SL_OK;
        snprintf(errstr, sz, "direct source mysql %s: %s: %s", s->where, what,
                 mysql_error(s->my));
        return SL_ERR_DB;
    }
    r->nrows = (int)mysql_num_rows(r->my);
    r->ncols = (int)mysql_num_fields(r->my);
    return SL_OK;
}

/* Moves to row i (in order); 0 when past the end. */
int app_dsrc_res_row(res_t *r, int i)
{
    r->cur = i;
    if (i >= r->nrows)
        return 0;
    if (r->my) {
        r->row = mysql_fetch_row(r->my);
        r->lens = mysql_fetch_lengths(r->my);
        return r->row != NULL;
    }
    return 1;
}

/* Cell c of the current row: NULL for SQL NULL, *n its length. */
const char *app_dsrc_res_cell(const res_t *r, int c, size_t *n)
{
    if (r->my) {
        *n = r->row[c] ? r->lens[c] : 0;
        return r->row[c];
    }
    if (PQgetisnull(r->pq, r->cur, c)) {
        *n = 0;
        return NULL;
    }
    *n = (size_t)PQgetlength(r->pq, r->cur, c);
    return PQgetvalue(r->pq, r->cur, c);
}

/* ------------------------------------------------------------- tasks */

/* direct.tasks.table: "table" or "schema.table", each part quoted. */
static void put_qualified(app_dsrc_t *s, sl_buf_t *q, const char *name)
{
    const char *dot = strchr(name, '.');
    if (dot) {
        char *head = strndup(name, (size_t)(dot - name));
        if (head)
            app_dsrc_ident(s, q, head);
        free(head);
        sl_buf_putc(q, '.');
        name = dot + 1;
    }
    app_dsrc_ident(s, q, name);
}

sl_err_t app_dsrc_task_row(app_dsrc_t *s, const char *table, const char *const *cols,
                           uint32_t ncols, const char *key, char ***vals, char *errstr,
                           size_t errstr_size)
{
    sl_buf_t q = SL_BUF_INIT;
    res_t r;
    sl_err_t err;
    *vals = NULL;
    sl_buf_puts(&q, "SELECT ");
    for (uint32_t i = 0; i < ncols; i++) {
        if (i)
            sl_buf_puts(&q, ", ");
        app_dsrc_ident(s, &q, cols[i]);
        if (s->pg)
            sl_buf_puts(&q, "::text");
    }
    sl_buf_puts(&q, " FROM ");
    put_qualified(s, &q, table);
    sl_buf_puts(&q, " WHERE ");
    app_dsrc_ident(s, &q, "task_name");
    sl_buf_puts(&q, " = ");
    if (s->pg)
        sl_buf_puts(&q, "$1");
    else if ((err = app_dsrc_my_literal(s, &q, key, strlen(key))))
        goto out;
    if ((err = app_dsrc_run(s, &q, &key, 1, &r, "reading the task table", errstr, errstr_size)))
        goto out;
    if (!app_dsrc_res_row(&r, 0)) {
        snprintf(errstr, errstr_size, "direct: no task named \"%s\" in %s", key, table);
        err = SL_ERR_NOT_FOUND;
    } else if (!(*vals = calloc(ncols, sizeof(char *)))) {
        err = SL_ERR_NOMEM;
    } else {
        for (uint32_t i = 0; i < ncols; i++) {
            size_t n;
            const char *v = app_dsrc_res_cell(&r, (int)i, &n);
            if (v && !((*vals)[i] = strndup(v, n)))
                err = SL_ERR_NOMEM;
        }
    }
    app_dsrc_res_free(&r);
out:
    sl_buf_free(&q);
    return err;
}

sl_err_t app_dsrc_task_set(app_dsrc_t *s, const char *table, const char *col,
                           const char *value, const char *key, char *errstr,
                           size_t errstr_size)
{
    sl_buf_t q = SL_BUF_INIT;
    res_t r;
    sl_err_t err = SL_OK;
    const char *p[2] = {value, key};
    sl_buf_puts(&q, "UPDATE ");
    put_qualified(s, &q, table);
    sl_buf_puts(&q, " SET ");
    app_dsrc_ident(s, &q, col);
    if (s->pg) {
        sl_buf_puts(&q, " = $1 WHERE task_name = $2");
    } else {
        sl_buf_puts(&q, " = ");
        app_dsrc_my_literal(s, &q, value, strlen(value));
        sl_buf_puts(&q, " WHERE task_name = ");
        app_dsrc_my_literal(s, &q, key, strlen(key));
    }
    if (!(err = app_dsrc_run(s, &q, p, 2, &r, "updating the task table", errstr, errstr_size)))
        app_dsrc_res_free(&r);
    sl_buf_free(&q);
    return err;
}

