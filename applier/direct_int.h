/* shiftlog-applier: what the direct source reader's two files share
 * (direct_read.c: connections, queries, the task table; direct_chunk.c:
 * the catalog and the chunks). Not for other modules. */
#ifndef APP_DIRECT_INT_H
#define APP_DIRECT_INT_H

#include <libpq-fe.h>
#include <mysql.h>

#include "direct.h"
#include "sl_buf.h"

struct app_dsrc_s {
    int     pg;               /* 1 PostgreSQL, 0 MariaDB */
    MYSQL  *my;
    PGconn *pq;
    char    where[300];       /* "host:port" for messages */
};

/* A result of texts: rows x cols, NULL cells as NULL. MariaDB: the stored
 * result; PostgreSQL: the PGresult. */
typedef struct res_s {
    MYSQL_RES *my;
    PGresult  *pq;
    MYSQL_ROW  row;
    unsigned long *lens;
    int        nrows, ncols, cur;
} res_t;

int         app_dsrc_hexval(int c);
/* name quoted as the source quotes identifiers (` or "), quotes doubled */
void        app_dsrc_ident(app_dsrc_t *s, sl_buf_t *q, const char *name);
/* MariaDB: a quoted, escaped string literal of n bytes */
sl_err_t    app_dsrc_my_literal(app_dsrc_t *s, sl_buf_t *q, const char *v, size_t n);
/* Runs q (PostgreSQL with params $1..; MariaDB: literals are in q) into r
 * (app_dsrc_res_free). SL_ERR_DB: the connection; SL_ERR_INVALID: the
 * statement failed (errstr says what). */
sl_err_t    app_dsrc_run(app_dsrc_t *s, const sl_buf_t *q, const char *const *params,
                         int nparams, res_t *r, const char *what, char *errstr, size_t sz);
void        app_dsrc_res_free(res_t *r);
/* Moves to row i (in order); 0 past the end. */
int         app_dsrc_res_row(res_t *r, int i);
/* Cell c of the current row: NULL for SQL NULL, *n its length. */
const char *app_dsrc_res_cell(const res_t *r, int c, size_t *n);

#endif
