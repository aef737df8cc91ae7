/* shiftlog-applier: the MySQL / MariaDB target (libmariadb), see target.h;
 * DDL, keys and connection helpers in target_mysql_ddl.c.
 *
 * Writes:  INSERT INTO `db`.`t` (cols) VALUES (?,…) ON DUPLICATE KEY UPDATE c=VALUES(c)
 *          and DELETE FROM `db`.`t` WHERE k1=? AND …, each a server-side prepared
 *          statement executed once per batch with libmariadb's array binding
 *          (STMT_ATTR_ARRAY_SIZE: MariaDB's COM_STMT_BULK_EXECUTE, one round trip
 *          for the whole batch, column-wise arrays). A server without bulk
 *          support (MySQL) gets the same statement executed row by row.
 *          Values are parameters only (classes in target_common.h); every
 *          identifier goes through app_conv_quote_ident with backticks.
 * Batches: consecutive rows of one table, one operation and one column set (a
 *          row with MISSING columns leaves them out) form a batch of up to
 *          write_batch rows / 4 MB; a change of table, operation or column set
 *          flushes, so the source order is kept. Values are copied into the
 *          target's buffer: the core may reuse its records after rows().
 * Exactly-once: the data connection runs with autocommit off; commit() flushes,
 *          upserts the `kafkaoffset` row in the same transaction and commits.
 *          DDL (CREATE / ALTER, which commit implicitly in MySQL) runs on a
 *          second, autocommit connection so it never commits data early.
 * Session: utf8mb4, time_zone '+00:00' (TIMESTAMP text is UTC), sql_mode
 *          STRICT_ALL_TABLES + NO_AUTO_VALUE_ON_ZERO without NO_ZERO_DATE /
 *          NO_ZERO_IN_DATE (zero dates pass as they came), foreign_key_checks=0
 *          (a replica applies what the source already checked).
 *          Bidirectional sync (later): the hook is my_session_tag() (in
 *          target_mysql_ddl.c), which will run SET SESSION skip_replication=1
 *          when the task asks for it. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mysql.h>

#include "sl_buf.h"
#include "target_mysql.h"



/* ---- statements ---- */

/* Closes every cached prepared statement (after DDL). */
static void stmt_forget_all(my_target_t *t)
{
    for (int i = 0; i < MY_STMT_CACHE; i++) {
        if (t->cache[i].stmt)
            mysql_stmt_close(t->cache[i].stmt);
        free(t->cache[i].sql);
        t->cache[i] = (my_stmt_t){0};
    }
}

/* The prepared statement for sql (cached, least recently used evicted). */
static MYSQL_STMT *my_stmt_get(my_target_t *t, const char *sql, size_t len,
                               char *errstr, size_t sz)
{
    int victim = 0;
    for (int i = 0; i < MY_STMT_CACHE; i++) {
        if (t->cache[i].sql && strcmp(t->cache[i].sql, sql) == 0) {
            t->cache[i].used = ++t->tick;
            return t->cache[i].stmt;
        }
        if (t->cache[i].used < t->cache[victim].used)
            victim = i;
    }
    my_stmt_t *c = &t->cache[victim];
    if (c->stmt)
        mysql_stmt_close(c->stmt);
    free(c->sql);
    *c = (my_stmt_t){0};
    MYSQL_STMT *st = mysql_stmt_init(t->db);
    if (!st || mysql_stmt_prepare(st, sql, len) != 0) {
        snprintf(errstr, sz, "mysql target: prepare %.300s: %s", sql,
                 st ? mysql_stmt_error(st) : "out of memory");
        if (st)
            mysql_stmt_close(st);
        return NULL;
    }
    c->sql = strdup(sql);
    c->stmt = st;
    c->used = ++t->tick;
    return st;
}


/* ---- the batch ---- */

static sl_err_t grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return SL_OK;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return SL_ERR_NOMEM;
    *p = q;
    *cap = n;
    return SL_OK;
}

static enum enum_field_types my_type(app_conv_class_t c)
{
    switch (c) {
    case APP_CONV_INT64:
    case APP_CONV_UINT64: return MYSQL_TYPE_LONGLONG;
    case APP_CONV_FLOAT:  return MYSQL_TYPE_FLOAT;
    case APP_CONV_DOUBLE: return MYSQL_TYPE_DOUBLE;
    case APP_CONV_BINARY: return MYSQL_TYPE_BLOB;
    default:              return MYSQL_TYPE_STRING;
    }
}

/* Sends the pending batch: one bulk execution (or one execution per row). */
static sl_err_t my_flush(my_target_t *t, char *errstr, size_t sz)
{
    sl_err_t e = SL_OK;
    if (t->kind == MY_NONE || t->nrows == 0)
        goto out;
    uint32_t np = t->nparams, nr = t->nrows;
    MYSQL_STMT *st = my_stmt_get(t, t->sql.data, t->sql.len, errstr, sz);
    if (!st) {
        e = SL_ERR_DB;
        goto out;
    }
    if ((e = grow((void **)&t->bind, &t->bind_cap, np ? np : 1, sizeof *t->bind)))
        goto out;
    /* scratch per parameter: nr values of 8 bytes, nr lengths, nr indicators */
    size_t per = (size_t)nr * (8 + sizeof(unsigned long) + 1);
    sl_buf_reset(&t->scratch);
    if ((e = sl_buf_reserve(&t->scratch, per * np + 16)))
        goto out;
    char *base = t->scratch.data;
    memset(t->bind, 0, np * sizeof *t->bind);
    for (uint32_t j = 0; j < np; j++) {
        char *vals = base + per * j;
        unsigned long *lens = (unsigned long *)(vals + (size_t)nr * 8);
        char *ind = (char *)(lens + nr);
        app_conv_class_t cls = t->pcls[j] ? t->pcls[j] : APP_CONV_TEXT;
        for (uint32_t r = 0; r < nr; r++) {
            const my_param_t *p = &t->params[(size_t)r * np + j];
            ind[r] = p->cls == APP_CONV_NULL ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
            lens[r] = (unsigned long)p->len;
            switch (cls) {
            case APP_CONV_INT64:  ((int64_t *)vals)[r] = p->n.i; break;
            case APP_CONV_UINT64: ((uint64_t *)vals)[r] = p->n.u; break;
            case APP_CONV_DOUBLE: ((double *)vals)[r] = p->n.d; break;
            case APP_CONV_FLOAT:  ((float *)vals)[r] = p->n.f; break;
            default:              ((char **)vals)[r] = t->data.data + p->off; break;
            }
        }
        MYSQL_BIND *b = &t->bind[j];
        b->buffer_type = my_type(cls);
        b->is_unsigned = cls == APP_CONV_UINT64;
        b->buffer = vals;
        b->length = lens;
        b->u.indicator = ind;
    }
    if (t->bulk) {
        unsigned int n = nr;
        if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &n) != 0 ||
            mysql_stmt_bind_param(st, t->bind) != 0 || mysql_stmt_execute(st) != 0)
            goto dberr;
    } else {
        /* row by row: point each bind at element r */
        MYSQL_BIND one[np ? np : 1];
        my_bool nul[np ? np : 1];
        for (uint32_t r = 0; r < nr; r++) {
            for (uint32_t j = 0; j < np; j++) {
                one[j] = t->bind[j];
                char *vals = t->bind[j].buffer;
                int fixed = one[j].buffer_type != MYSQL_TYPE_STRING &&
                            one[j].buffer_type != MYSQL_TYPE_BLOB;
                one[j].buffer = fixed ? vals + (size_t)r * (one[j].buffer_type == MYSQL_TYPE_FLOAT ? 4 : 8)
                                      : ((char **)vals)[r];
                one[j].length = &t->bind[j].length[r];
                nul[j] = t->bind[j].u.indicator[r] == STMT_INDICATOR_NULL;
                one[j].is_null = &nul[j];
                one[j].u.indicator = NULL;
            }
            if (mysql_stmt_bind_param(st, one) != 0 || mysql_stmt_execute(st) != 0)
                goto dberr;
        }
    }
    goto out;
dberr:
    snprintf(errstr, sz, "mysql target: table `%s`.`%s`: %s of %u row(s) from key %s: %s (%u)",
             t->tb->schema, t->tb->table, t->kind == MY_DELETE ? "delete" : "upsert", nr,
             t->keytext.data ? t->keytext.data : "?", mysql_stmt_error(st), mysql_stmt_errno(st));
    e = SL_ERR_DB;
out:
    t->kind = MY_NONE;
    t->nrows = 0;
    sl_buf_reset(&t->data);
    return e;
}

/* Starts a batch of `kind` on tb with the columns of mask (upsert) or the key. */
static sl_err_t my_batch_start(my_target_t *t, my_table_t *tb, int kind, const app_table_map_t *map,
                               const sl_change_t *c, char *errstr, size_t sz)
{
    sl_err_t e;
    sl_buf_reset(&t->sql);
    t->nparams = 0;
    if (kind == MY_UPSERT) {
        sl_buf_puts(&t->sql, "INSERT INTO ");
        if ((e = app_my_qname(&t->sql, tb->schema, tb->table, errstr, sz)))
            return e;
        sl_buf_puts(&t->sql, " (");
        for (uint32_t i = 0; i < c->ncols; i++) {
            if (!t->mask[i])
                continue;
            if (t->nparams++)
                sl_buf_putc(&t->sql, ',');
            if ((e = app_my_ident(&t->sql, app_my_dst_col(map, c, i), errstr, sz)))
                return e;
        }
        sl_buf_puts(&t->sql, ") VALUES (");
        for (uint32_t j = 0; j < t->nparams; j++)
            sl_buf_puts(&t->sql, j ? ",?" : "?");
        sl_buf_puts(&t->sql, ") ON DUPLICATE KEY UPDATE ");
        int first = 1;
        for (uint32_t i = 0; i < c->ncols; i++) {
            int iskey = 0;
            for (uint32_t k = 0; k < tb->nkey; k++)
                iskey |= tb->key[k] == i;
            if (!t->mask[i] || (iskey && tb->nkey < t->nparams))
                continue;
            if (!first)
                sl_buf_putc(&t->sql, ',');
            first = 0;
            app_my_ident(&t->sql, app_my_dst_col(map, c, i), errstr, sz);
            sl_buf_puts(&t->sql, "=VALUES(");
            app_my_ident(&t->sql, app_my_dst_col(map, c, i), errstr, sz);
            sl_buf_putc(&t->sql, ')');
        }
    } else {
        sl_buf_puts(&t->sql, "DELETE FROM ");
        if ((e = app_my_qname(&t->sql, tb->schema, tb->table, errstr, sz)))
            return e;
        sl_buf_puts(&t->sql, " WHERE ");
        for (uint32_t k = 0; k < tb->nkey; k++) {
            if (k)
                sl_buf_puts(&t->sql, " AND ");
            if ((e = app_my_ident(&t->sql, app_my_dst_col(map, c, tb->key[k]), errstr, sz)))
                return e;
            sl_buf_puts(&t->sql, "=?");
        }
        t->nparams = tb->nkey;
    }
    if ((e = grow((void **)&t->pcls, &t->pcls_cap, t->nparams + 1, sizeof *t->pcls)))
        return e;
    memset(t->pcls, 0, (t->nparams + 1) * sizeof *t->pcls);
    t->kind = kind;
    t->tb = tb;
    t->ncols = c->ncols;
    t->nrows = 0;
    return SL_OK;
}

static void my_keytext(my_target_t *t, const my_table_t *tb, const sl_value_t *vals)
{
    char es[64];
    sl_buf_reset(&t->keytext);
    sl_buf_putc(&t->keytext, '(');
    for (uint32_t k = 0; k < tb->nkey; k++) {
        const sl_value_t *v = &vals[tb->key[k]];
        if (k)
            sl_buf_putc(&t->keytext, ',');
        size_t before = t->keytext.len;
        if (v->kind == SL_VAL_NULL || v->kind == SL_VAL_MISSING ||
            app_conv_text(v, 0, &t->keytext, es, sizeof es) != SL_OK)
            sl_buf_puts(&t->keytext, sl_val_kind_name(v->kind));
        if (t->keytext.len - before > 64)
            t->keytext.len = before + 64, t->keytext.data[t->keytext.len] = '\0';
    }
    sl_buf_putc(&t->keytext, ')');
}

/* Conversion flags of source column i: a varying bit string goes as its
 * digits (its VARCHAR column, target_mysql_ddl.c), every other BIT as bytes. */
static int my_flags(const app_table_map_t *map, const sl_change_t *c, uint32_t i)
{
    const sl_schema_t *s = map->schema;
    return s && i < s->ncols && s->cols[i].name && !strcmp(s->cols[i].name, c->columns[i]) &&
           app_conv_is_varbit(&s->cols[i]) ? APP_CONV_BIT_DIGITS : 0;
}

/* Adds one row (its values `vals`) to the batch of `kind`, flushing first when
 * the table, operation, column set or a parameter's class changes. */
static sl_err_t my_add(my_target_t *t, my_table_t *tb, int kind, const app_table_map_t *map,
                       const sl_change_t *c, const sl_value_t *vals, char *errstr, size_t sz)
{
    sl_err_t e;
    if ((e = grow((void **)&t->mask, &t->mask_cap, c->ncols + 1, 1)))
        return e;
    int same = t->kind == kind && t->tb == tb && t->ncols == c->ncols;
    for (uint32_t k = 0; k < tb->nkey; k++) {
        const sl_value_t *v = &vals[tb->key[k]];
        if (v->kind == SL_VAL_NULL || v->kind == SL_VAL_MISSING) {
            my_keytext(t, tb, vals);
            snprintf(errstr, sz, "mysql target: table `%s`.`%s`: key column \"%s\" is %s in "
                     "a %s row %s", tb->schema, tb->table, c->columns[tb->key[k]],
                     sl_val_kind_name(v->kind), sl_op_name(c->op), t->keytext.data);
            return SL_ERR_INVALID;
        }
    }
    if (kind == MY_UPSERT) {
        for (uint32_t i = 0; i < c->ncols; i++) {
            uint8_t m = app_my_dst_col(map, c, i) && vals[i].kind != SL_VAL_MISSING;
            if (same && t->mask[i] != m)
                same = 0;
            if (!same)
                t->mask[i] = m;
        }
    }
    /* class compatibility per parameter */
    if (same) {
        uint32_t j = 0;
        for (uint32_t i = 0; i < c->ncols && same; i++) {
            int bound = kind == MY_UPSERT ? t->mask[i] : 0;
            if (kind == MY_DELETE)
                for (uint32_t k = 0; k < tb->nkey; k++)
                    bound |= tb->key[k] == i;
            if (!bound)
                continue;
            /* DELETE parameters follow key order, not column order: checked below */
            if (kind == MY_UPSERT) {
                app_conv_class_t cl = app_conv_class(&vals[i], my_flags(map, c, i));
                if (cl != APP_CONV_NULL && t->pcls[j] && t->pcls[j] != cl)
                    same = 0;
            }
            j++;
        }
        if (kind == MY_DELETE)
            for (uint32_t k = 0; k < tb->nkey && same; k++) {
                app_conv_class_t cl = app_conv_class(&vals[tb->key[k]],
                                                     my_flags(map, c, tb->key[k]));
                if (t->pcls[k] && t->pcls[k] != cl)
                    same = 0;
            }
    }
    if (!same) {
        if ((e = my_flush(t, errstr, sz)))
            return e;
        if (kind == MY_UPSERT && (e = grow((void **)&t->mask, &t->mask_cap, c->ncols + 1, 1)))
            return e;
        if ((e = my_batch_start(t, tb, kind, map, c, errstr, sz)))
            return e;
    }
    if (t->nrows == 0)
        my_keytext(t, tb, vals);
    if ((e = grow((void **)&t->params, &t->params_cap, (size_t)(t->nrows + 1) * t->nparams + 1,
                  sizeof *t->params)))
        return e;
    my_param_t *row = &t->params[(size_t)t->nrows * t->nparams];
    uint32_t j = 0;
    for (uint32_t x = 0; x < (kind == MY_UPSERT ? c->ncols : tb->nkey); x++) {
        uint32_t i = kind == MY_UPSERT ? x : tb->key[x];
        if (kind == MY_UPSERT && !t->mask[i])
            continue;
        const sl_value_t *v = &vals[i];
        my_param_t *p = &row[j];
        int fl = my_flags(map, c, i);
        p->cls = app_conv_class(v, fl);
        p->len = 0;
        switch (p->cls) {
        case APP_CONV_NULL: break;
        case APP_CONV_INT64:  p->n.i = v->kind == SL_VAL_BOOL ? (v->u.b != 0) : v->u.i; break;
        case APP_CONV_UINT64: p->n.u = v->u.u; break;
        case APP_CONV_DOUBLE: p->n.d = v->u.d; break;
        case APP_CONV_FLOAT:  p->n.f = v->u.f; break;
        default:
            p->off = t->data.len;
            if ((e = app_conv_text(v, fl, &t->data, errstr, sz)))
                return e;
            p->len = t->data.len - p->off;
            break;
        }
        if ((p->cls == APP_CONV_DOUBLE || p->cls == APP_CONV_FLOAT) &&
            !(p->cls == APP_CONV_DOUBLE ? isfinite(p->n.d) : isfinite(p->n.f))) {
            snprintf(errstr, sz, "mysql target: table `%s`.`%s`: column \"%s\" holds a "
                     "non-finite float (NaN/Infinity), which MySQL/MariaDB cannot store",
                     tb->schema, tb->table, c->columns[i]);
            if ((e = app_unconvertible(t->on_unconvertible, errstr)))
                return e;                /* DLQ: this value's source transaction only */
            p->cls = APP_CONV_NULL;
        }
        if (p->cls != APP_CONV_NULL && !t->pcls[j])
            t->pcls[j] = p->cls;
        j++;
    }
    t->nrows++;
    if (t->nrows >= t->batch_max || t->data.len >= MY_BATCH_BYTES)
        return my_flush(t, errstr, sz);
    return SL_OK;
}


/* ---- the ops ---- */

static void my_close(app_target_t *at)
{
    my_target_t *t = (my_target_t *)at;
    if (!t)
        return;
    stmt_forget_all(t);
    if (t->db)
        mysql_close(t->db);
    if (t->ddl)
        mysql_close(t->ddl);
    for (my_table_t *tb = t->tables, *nx; tb; tb = nx) {
        nx = tb->next;
        free(tb->schema);
        free(tb->table);
        free(tb->key);
        free(tb);
    }
    free(t->task); free(t->host); free(t->user); free(t->password);
    free(t->database); free(t->tls_ca); free(t->tls_cert); free(t->tls_key);
    free(t->lease_task);
    free(t->mask); free(t->pcls); free(t->params); free(t->bind);
    sl_buf_free(&t->sql); sl_buf_free(&t->data); sl_buf_free(&t->tmp);
    sl_buf_free(&t->keytext); sl_buf_free(&t->scratch);
    free(t);
}

static sl_err_t my_open(my_target_t **out, const app_target_conf_t *conf,
                        char *errstr, size_t sz)
{
    static const char ko[] =
        "CREATE TABLE IF NOT EXISTS `kafkaoffset` ("
        "`task` VARCHAR(255) NOT NULL, `topic` VARCHAR(255) NOT NULL, `partition` INT NOT NULL, "
        "`kafka_offset` BIGINT NOT NULL, `sub_offset` BIGINT NOT NULL, "
        "`source_position` VARCHAR(255) NOT NULL, "
        "`updated_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), "
        "`epoch` BIGINT NOT NULL DEFAULT 0, "
        "PRIMARY KEY (`task`, `topic`, `partition`)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
    sl_err_t e;
    sl_buf_t q = SL_BUF_INIT;
    my_target_t *t = calloc(1, sizeof *t);
    if (t)
        t->base.ops = &app_target_mysql;
    if (!t)
        return SL_ERR_NOMEM;
    t->task = app_my_strdup(conf->task ? conf->task : "");
    t->host = app_my_strdup(conf->host ? conf->host : "127.0.0.1");
    t->user = app_my_strdup(conf->user);
    t->password = app_my_strdup(conf->password);
    t->database = app_my_strdup(conf->database && *conf->database ? conf->database : "shiftlog");
    t->tls_ca = app_my_strdup(conf->tls_ca);
    t->lease_task = app_my_strdup(conf->lease_task ? conf->lease_task : conf->task);
    t->epoch = conf->epoch;
    t->tls_cert = app_my_strdup(conf->tls_cert);
    t->tls_key = app_my_strdup(conf->tls_key);
    t->port = conf->port > 0 ? conf->port : 3306;
    t->tls_mode = conf->tls_mode;
    t->create_tables = conf->create_tables;
    t->ddl_apply = conf->ddl_apply;
    t->on_unconvertible = conf->on_unconvertible;
    t->parallel = conf->workers > 1;
    t->batch_max = conf->write_batch > 0 ? (uint32_t)conf->write_batch : 1000;
    if (!t->task || !t->host || !t->database || !t->lease_task) {
        e = SL_ERR_NOMEM;
        goto err;
    }
    if ((e = app_my_connect(t, &t->db, 0, errstr, sz)))
        goto err;
    sl_buf_puts(&q, "CREATE DATABASE IF NOT EXISTS ");
    if ((e = app_my_ident(&q, t->database, errstr, sz)) ||
        (e = app_my_exec(t->db, q.data, q.len, "create database", errstr, sz)))
        goto err;
    if (mysql_select_db(t->db, t->database) != 0) {
        e = app_my_err(t->db, "use database", errstr, sz);
        goto err;
    }
    if ((e = app_my_exec(t->db, ko, sizeof ko - 1, "create table kafkaoffset", errstr, sz)))
        goto err;
    if ((e = app_my_add_epoch(t->db, errstr, sz)))
        goto err;
    if (mysql_commit(t->db) != 0) {
        e = app_my_err(t->db, "commit", errstr, sz);
        goto err;
    }
    unsigned long caps = 0;
    if (mariadb_get_infov(t->db, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &caps) == 0)
        t->bulk = (caps & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0;
    if (getenv("SHIFTLOG_MYSQL_NO_BULK"))     /* bench / tests: the row-by-row path */
        t->bulk = 0;
    sl_buf_free(&q);
    *out = t;
    return SL_OK;
err:
    sl_buf_free(&q);
    my_close(&t->base);
    return e;
}

typedef struct my_posrow_s {
    app_position_t *pos;
    int found;
    sl_err_t err;
    char msg[256];
} my_posrow_t;

static void pos_row(void *ctx, char **cols, unsigned long *lens)
{
    my_posrow_t *p = ctx;
    p->found = 1;
    p->pos->kafka_offset = strtoll(cols[0], NULL, 10);
    p->pos->sub_offset = strtoll(cols[1], NULL, 10);
    if (sl_pos_parse(cols[2], &p->pos->source, p->msg, sizeof p->msg) != SL_OK)
        p->err = SL_ERR_PARSE;
}

static sl_err_t my_load_position(app_target_t *at, const char *topic, int32_t partition,
                                 app_position_t *pos, char *errstr, size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    char part[16];
    snprintf(part, sizeof part, "%d", (int)partition);
    const char *pv[3] = {t->task, topic, part};
    my_posrow_t pr = {.pos = pos};
    char tp[sizeof pos->topic];
    snprintf(tp, sizeof tp, "%s", topic);        /* topic may point into *pos */
    topic = tp;
    memset(pos, 0, sizeof *pos);
    snprintf(pos->topic, sizeof pos->topic, "%s", topic);
    pos->partition = partition;
    sl_err_t e = app_my_select(t->db, "SELECT `kafka_offset`, `sub_offset`, `source_position` "
                           "FROM `kafkaoffset` WHERE `task`=? AND `topic`=? AND `partition`=?",
                           3, pv, 3, pos_row, &pr, errstr, sz);
    mysql_commit(t->db);       /* end the read snapshot */
    if (e)
        return e;
    if (pr.err) {
        snprintf(errstr, sz, "mysql target: kafkaoffset row of task \"%s\": %s", t->task, pr.msg);
        return pr.err;
    }
    return pr.found ? SL_OK : SL_ERR_NOT_FOUND;
}

static void my_discard(my_target_t *t)
{
    for (my_table_t *tb = t->tables; tb; tb = tb->next)
        tb->touched = 0;
    t->kind = MY_NONE;
    t->nrows = 0;
    sl_buf_reset(&t->data);
}

static sl_err_t my_begin(app_target_t *at, char *errstr, size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    my_discard(t);
    t->in_txn = 1;
    return SL_OK;
}

/* An UPDATE image without some columns (MISSING: unchanged TOAST, a MINIMAL
 * row image) is upserted with those columns left out: right when the row is
 * in the target, but an INSERT of a missing row would invent them (NULL or
 * the default). So such a row must be there (after the batch before it is
 * flushed); otherwise SL_ERR_INVALID naming the columns: its source
 * transaction goes to the DLQ, and the row's next full image creates it.
 * One lookup by key per partial row. */
static sl_err_t my_partial_check(my_target_t *t, my_table_t *tb, const app_table_map_t *map,
                                 const sl_change_t *c, const sl_value_t *vals, char *errstr,
                                 size_t sz)
{
    int partial = 0;
    for (uint32_t i = 0; i < c->ncols && !partial; i++)
        partial = app_my_dst_col(map, c, i) && vals[i].kind == SL_VAL_MISSING;
    if (!partial)
        return SL_OK;
    sl_err_t e = my_flush(t, errstr, sz);
    if (e)
        return e;
    sl_buf_t q = SL_BUF_INIT, kv = SL_BUF_INIT;
    MYSQL_BIND pb[16];
    unsigned long plen[16];
    size_t off[16];
    MYSQL_STMT *st = NULL;
    uint32_t nk = tb->nkey < 16 ? tb->nkey : 16;
    memset(pb, 0, sizeof pb);
    sl_buf_puts(&q, "SELECT 1 FROM ");
    if ((e = app_my_qname(&q, map->dst_schema, map->dst_table, errstr, sz)))
        goto out;
    for (uint32_t k = 0; k < nk; k++) {
        const char *d = app_my_dst_col(map, c, tb->key[k]);
        sl_buf_puts(&q, k ? " AND " : " WHERE ");
        if ((e = app_my_ident(&q, d ? d : c->columns[tb->key[k]], errstr, sz)))
            goto out;
        sl_buf_puts(&q, " = ?");
        off[k] = kv.len;
        if ((e = app_conv_text(&vals[tb->key[k]], 0, &kv, errstr, sz)))
            goto out;
        plen[k] = (unsigned long)(kv.len - off[k]);
    }
    sl_buf_puts(&q, " LIMIT 1");
    for (uint32_t k = 0; k < nk; k++) {
        pb[k].buffer_type = app_conv_class(&vals[tb->key[k]], 0) == APP_CONV_BINARY
                          ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
        pb[k].buffer = kv.data + off[k];
        pb[k].length = &plen[k];
    }
    int found = 0;
    if (!(st = mysql_stmt_init(t->db)) || mysql_stmt_prepare(st, q.data, q.len) ||
        mysql_stmt_bind_param(st, pb) || mysql_stmt_execute(st) || mysql_stmt_store_result(st)) {
        e = app_my_err(t->db, "looking up the row of a partial update", errstr, sz);
        if (st && mysql_stmt_errno(st))
            snprintf(errstr, sz, "mysql target: looking up the row of a partial update: %s",
                     mysql_stmt_error(st));
        goto out;
    }
    found = mysql_stmt_num_rows(st) > 0;
    if (!found) {
        my_keytext(t, tb, vals);
        size_t l = (size_t)snprintf(errstr, sz, "mysql target: table `%s`.`%s` key %s: the "
                                    "change does not carry column(s)", tb->schema, tb->table,
                                    t->keytext.data);
        for (uint32_t i = 0; i < c->ncols && l < sz; i++)
            if (app_my_dst_col(map, c, i) && vals[i].kind == SL_VAL_MISSING)
                l += (size_t)snprintf(errstr + l, sz - l, " %s", c->columns[i]);
        if (l < sz)
            snprintf(errstr + l, sz - l, " (unchanged in the source: TOAST or a minimal row "
                     "image) and the row is not in the target: writing it would invent those "
                     "values; the next full image of the row creates it");
        e = SL_ERR_INVALID;
    }
out:
    if (st)
        mysql_stmt_close(st);
    sl_buf_free(&q);
    sl_buf_free(&kv);
    return e;
}

static sl_err_t my_rows(app_target_t *at, const app_table_map_t *map, const sl_record_t *rec,
                        uint32_t first, uint32_t n, const app_position_t *pos,
                        char *errstr, size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    const sl_change_t *c = &rec->u.change;
    sl_err_t e;
    if (!t->in_txn) {
        snprintf(errstr, sz, "mysql target: rows() outside begin()/commit()");
        return SL_ERR_STATE;
    }
    if (rec->type != SL_REC_CHANGE || (uint64_t)first + n > c->nrows ||
        (map->dst_cols && c->ncols != map->ncols && c->op != SL_OP_TRUNCATE)) {
        snprintf(errstr, sz, "mysql target: table `%s`.`%s`: bad change batch (%s, rows %u+%u "
                 "of %u, %u columns, mapping has %u)", map->dst_schema, map->dst_table,
                 sl_rec_type_name(rec->type), first, n, c->nrows, c->ncols, map->ncols);
        return SL_ERR_INVALID;
    }
    my_table_t *tb = app_my_table_find(t, map->dst_schema, map->dst_table);
    if (!tb && !(tb = app_my_table_add(t, map->dst_schema, map->dst_table)))
        return SL_ERR_NOMEM;
    if ((!tb->nkey || tb->src != map->schema) && c->op != SL_OP_TRUNCATE &&
        (e = app_my_resolve_key(t, tb, map, c, errstr, sz)))
        return e;
    tb->touched = 1;
    if (c->op == SL_OP_TRUNCATE) {
        sl_buf_t q = SL_BUF_INIT;
        if ((e = my_flush(t, errstr, sz)))
            return e;
        sl_buf_puts(&q, "DELETE FROM ");    /* TRUNCATE would commit implicitly */
        if (!(e = app_my_qname(&q, map->dst_schema, map->dst_table, errstr, sz)))
            e = app_my_exec(t->db, q.data, q.len, "truncate (delete all rows)", errstr, sz);
        sl_buf_free(&q);
        return e;
    }
    for (uint32_t r = first; r < first + n; r++) {
        const sl_row_t *row = &c->rows[r];
        switch (c->op) {
        case SL_OP_INSERT:
        case SL_OP_READ:        /* a snapshot row: the same upsert (ON DUPLICATE KEY UPDATE) */
            e = my_add(t, tb, MY_UPSERT, map, c, row->after, errstr, sz);
            break;
        case SL_OP_DELETE:
            e = my_add(t, tb, MY_DELETE, map, c, row->before, errstr, sz);
            break;
        case SL_OP_UPDATE: {
            int moved = 0;
            for (uint32_t k = 0; row->before && k < tb->nkey; k++)
                moved |= !sl_value_equal(&row->before[tb->key[k]], &row->after[tb->key[k]]);
            e = moved ? my_add(t, tb, MY_DELETE, map, c, row->before, errstr, sz) : SL_OK;
            if (!e)
                e = my_partial_check(t, tb, map, c, row->after, errstr, sz);
            if (!e)
                e = my_add(t, tb, MY_UPSERT, map, c, row->after, errstr, sz);
            break;
        }
        default:
            snprintf(errstr, sz, "mysql target: unknown operation %d", (int)c->op);
            e = SL_ERR_INVALID;
        }
        if (e)
            return e;
    }
    return SL_OK;
}

static sl_err_t my_commit(app_target_t *at, const app_position_t *pos, char *errstr, size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    static const char up[] =
        "INSERT INTO `kafkaoffset` (`task`,`topic`,`partition`,`kafka_offset`,`sub_offset`,"
        "`source_position`,`updated_at`,`epoch`) VALUES (?,?,?,?,?,?,NOW(6),?) "
        "ON DUPLICATE KEY UPDATE "
        "`kafka_offset`=IF(`epoch`<=VALUES(`epoch`),VALUES(`kafka_offset`),`kafka_offset`),"
        "`sub_offset`=IF(`epoch`<=VALUES(`epoch`),VALUES(`sub_offset`),`sub_offset`),"
        "`source_position`=IF(`epoch`<=VALUES(`epoch`),VALUES(`source_position`),"
        "`source_position`),"
        "`updated_at`=IF(`epoch`<=VALUES(`epoch`),VALUES(`updated_at`),`updated_at`),"
        "`epoch`=GREATEST(`epoch`,VALUES(`epoch`))";
    sl_err_t e;
    char ptext[256];
    if (!t->in_txn) {
        snprintf(errstr, sz, "mysql target: commit() without begin()");
        return SL_ERR_STATE;
    }
    if ((e = my_flush(t, errstr, sz)))
        return e;
    /* fenced by the lease (target.h): the lease row read in share mode
     * holds this copy's epoch (a takeover's raise waits for this
     * transaction), and the row's epoch is not higher (the IFs above) */
    if (pos && t->epoch && (e = app_my_lease_fence(t->db, t->lease_task, t->epoch, errstr, sz)))
        return e;
    if (pos) {
        MYSQL_STMT *st = my_stmt_get(t, up, sizeof up - 1, errstr, sz);
        if (!st)
            return SL_ERR_DB;
        sl_pos_format(&pos->source, ptext, sizeof ptext);
        MYSQL_BIND b[7];
        unsigned long l[3] = {strlen(t->task), strlen(pos->topic), strlen(ptext)};
        int32_t part = pos->partition;
        int64_t ko = pos->kafka_offset, so = pos->sub_offset, ep = t->epoch;
        unsigned int zero = 0;
        memset(b, 0, sizeof b);
        b[0].buffer_type = MYSQL_TYPE_STRING; b[0].buffer = t->task; b[0].length = &l[0];
        b[1].buffer_type = MYSQL_TYPE_STRING; b[1].buffer = (void *)pos->topic; b[1].length = &l[1];
        b[2].buffer_type = MYSQL_TYPE_LONG; b[2].buffer = &part;
        b[3].buffer_type = MYSQL_TYPE_LONGLONG; b[3].buffer = &ko;
        b[4].buffer_type = MYSQL_TYPE_LONGLONG; b[4].buffer = &so;
        b[5].buffer_type = MYSQL_TYPE_STRING; b[5].buffer = ptext; b[5].length = &l[2];
        b[6].buffer_type = MYSQL_TYPE_LONGLONG; b[6].buffer = &ep;
        if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &zero) != 0 ||
            mysql_stmt_bind_param(st, b) != 0 || mysql_stmt_execute(st) != 0) {
            snprintf(errstr, sz, "mysql target: storing the position of task \"%s\": %s",
                     t->task, mysql_stmt_error(st));
            return SL_ERR_DB;
        }
    }
    if (mysql_commit(t->db) != 0)
        return app_my_err(t->db, "commit", errstr, sz);
    my_discard(t);
    t->in_txn = 0;
    return SL_OK;
}

static sl_err_t my_rollback(app_target_t *at, char *errstr, size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    my_discard(t);
    t->in_txn = 0;
    if (mysql_rollback(t->db) != 0)
        return app_my_err(t->db, "rollback", errstr, sz);
    return SL_OK;
}

/* The ops take the common head (a my_target_t starts with it); open hands
 * it out. */
static sl_err_t op_my_open(app_target_t **out, const app_target_conf_t *conf, char *e, size_t n)
{
    my_target_t *t = NULL;
    sl_err_t err = my_open(&t, conf, e, n);
    *out = t ? &t->base : NULL;
    return err;
}

/* app_my_schema, then the prepared statements and the table's key are
 * forgotten: column sets may have changed. */
static sl_err_t my_schema(app_target_t *at, const app_table_map_t *m, const sl_record_t *r,
                          char *e, size_t n)
{
    my_target_t *t = (my_target_t *)at;
    sl_err_t err = app_my_schema(t, m, r, e, n);
    if (!err) {
        stmt_forget_all(t);
        my_table_t *tb = app_my_table_find(t, m->dst_schema, m->dst_table);
        if (tb)
            tb->src = NULL, tb->nkey = 0;
    }
    return err;
}

/* The position table is `kafkaoffset` of target.database. Compared without
 * case: with lower_case_table_names a differently cased name is the same
 * table, and refusing one too many name costs nothing. */
static sl_err_t op_my_check_name(app_target_t *at, const char *schema, const char *table,
                                 char *errstr, size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    const char *what = !strcasecmp(table, "kafkaoffset") ? "position"
                       : !strcasecmp(table, "shiftlog_lease") ? "lease"
                       : !strcasecmp(table, APP_STOPS_TABLE) ? "stopped-tables" : NULL;
    if (!what || strcasecmp(schema, t->database))
        return SL_OK;
    snprintf(errstr, sz, "mysql target: `%s`.`%s` is this target's %s table, where the tasks "
             "store their %s: a replicated table cannot be written there; map it to another "
             "name with map.tables", schema, table, what,
             *what == 'p' ? "positions" : *what == 'l' ? "leases" : "stopped tables");
    return SL_ERR_UNSUPPORTED;
}

const app_target_ops_t app_target_mysql = {
    .name = "mysql",
    .open = op_my_open,
    .close = my_close,
    .load_position = my_load_position,
    .lease_take = app_my_lease_take,
    .lease_check = app_my_lease_check,
    .lease_drop = app_my_lease_drop,
    .begin = my_begin,
    .schema = my_schema,
    .rows = my_rows,
    .commit = my_commit,
    .rollback = my_rollback,
    .check_name = op_my_check_name,
    .stops_load = app_my_stops_load,
    .stop_save = app_my_stop_save,
    .stop_clear = app_my_stop_clear,
    .progress_load = app_my_progress_load,
    .progress_save = app_my_progress_save,
};
