/* shiftlog-applier: the MySQL / MariaDB target's stopped tables (target.h,
 * stops_load / stop_save / stop_clear): `shiftlog_stopped` in
 * target.database beside `kafkaoffset`. The writing connection runs with
 * autocommit off: inside the open transaction a statement joins it,
 * outside it is committed at once. The table is created by stops_load
 * (the core calls it after every open, before anything else), never inside
 * a transaction: DDL would commit it implicitly. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target_mysql.h"

static sl_err_t ensure_table(my_target_t *t, char *errstr, size_t sz)
{
    static const char ddl[] =
        "CREATE TABLE IF NOT EXISTS `" APP_STOPS_TABLE "` ("
        "`task` VARCHAR(255) NOT NULL, `source_db` VARCHAR(255) NOT NULL, "
        "`source_table` VARCHAR(255) NOT NULL, `reason` TEXT NOT NULL, "
        "`kafka_offset` BIGINT NOT NULL, `source_position` VARCHAR(255) NOT NULL, "
        "`resume_to` BIGINT NOT NULL DEFAULT -1, `since` TIMESTAMP(3) NOT NULL, "
        "PRIMARY KEY (`task`, `source_db`, `source_table`)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
    if (t->stops_ready)
        return SL_OK;
    if (t->in_txn) {
        snprintf(errstr, sz, "mysql target: the %s table is not known yet inside a "
                 "transaction (stops_load creates it)", APP_STOPS_TABLE);
        return SL_ERR_STATE;
    }
    sl_err_t e = app_my_exec(t->db, ddl, sizeof ddl - 1, "create table " APP_STOPS_TABLE,
                             errstr, sz);
    if (!e && mysql_commit(t->db) != 0)
        e = app_my_err(t->db, "commit", errstr, sz);
    t->stops_ready = !e;
    return e;
}

/* Appends 'text' escaped for the connection's character set. */
static sl_err_t put_str(my_target_t *t, sl_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    char *esc = malloc(2 * n + 1);
    if (!esc)
        return SL_ERR_NOMEM;
    mysql_real_escape_string(t->db, esc, s, (unsigned long)n);
    sl_buf_printf(b, "'%s'", esc);
    free(esc);
    return SL_OK;
}

/* One statement on the writing connection, committed when no transaction
 * is open. */
static sl_err_t run(my_target_t *t, sl_buf_t *q, const char *what, char *errstr, size_t sz)
{
    if (!q->data)
        return SL_ERR_NOMEM;
    sl_err_t e = app_my_exec(t->db, q->data, q->len, what, errstr, sz);
    if (!e && !t->in_txn && mysql_commit(t->db) != 0)
        e = app_my_err(t->db, "commit", errstr, sz);
    return e;
}

sl_err_t app_my_stops_load(app_target_t *at, app_stop_t **out, size_t *n, char *errstr,
                           size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    *out = NULL;
    *n = 0;
    sl_err_t e = ensure_table(t, errstr, sz);
    if (e)
        return e;
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, "SELECT `source_db`, `source_table`, `reason`, `kafka_offset`, "
                    "`source_position`, `resume_to`, "
                    "CAST(UNIX_TIMESTAMP(`since`) * 1000 AS SIGNED) FROM `" APP_STOPS_TABLE
                    "` WHERE `task` = ");
    if ((e = put_str(t, &q, t->task)))
        goto out;
    sl_buf_puts(&q, " ORDER BY `since`");
    if (!q.data) {
        e = SL_ERR_NOMEM;
        goto out;
    }
    if (mysql_real_query(t->db, q.data, (unsigned long)q.len) != 0) {
        e = app_my_err(t->db, "reading the stopped tables", errstr, sz);
        goto out;
    }
    MYSQL_RES *res = mysql_store_result(t->db);
    if (!res) {
        e = app_my_err(t->db, "reading the stopped tables", errstr, sz);
        goto out;
    }
    size_t rows = (size_t)mysql_num_rows(res);
    app_stop_t *s = rows ? calloc(rows, sizeof(*s)) : NULL;
    if (rows && !s) {
        mysql_free_result(res);
        e = SL_ERR_NOMEM;
        goto out;
    }
    MYSQL_ROW row;
    for (size_t i = 0; i < rows && (row = mysql_fetch_row(res)); i++) {
        snprintf(s[i].db, sizeof(s[i].db), "%s", row[0] ? row[0] : "");
        snprintf(s[i].table, sizeof(s[i].table), "%s", row[1] ? row[1] : "");
        snprintf(s[i].reason, sizeof(s[i].reason), "%s", row[2] ? row[2] : "");
        s[i].offset = row[3] ? strtoll(row[3], NULL, 10) : 0;
        snprintf(s[i].source_pos, sizeof(s[i].source_pos), "%s", row[4] ? row[4] : "");
        s[i].resume_to = row[5] ? strtoll(row[5], NULL, 10) : -1;
        s[i].since_ms = row[6] ? strtoll(row[6], NULL, 10) : 0;
    }
    mysql_free_result(res);
    mysql_commit(t->db);       /* end the read snapshot */
    *out = s;
    *n = rows;
out:
    sl_buf_free(&q);
    return e;
}

sl_err_t app_my_stop_save(app_target_t *at, const app_stop_t *s, char *errstr, size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    sl_err_t e = ensure_table(t, errstr, sz);
    if (e)
        return e;
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, "INSERT INTO `" APP_STOPS_TABLE "` (`task`, `source_db`, `source_table`, "
                    "`reason`, `kafka_offset`, `source_position`, `resume_to`, `since`) "
                    "VALUES (");
    if ((e = put_str(t, &q, t->task)))
        goto out;
    sl_buf_puts(&q, ",");
    if ((e = put_str(t, &q, s->db)))
        goto out;
    sl_buf_puts(&q, ",");
    if ((e = put_str(t, &q, s->table)))
        goto out;
    sl_buf_puts(&q, ",");
    if ((e = put_str(t, &q, s->reason)))
        goto out;
    sl_buf_printf(&q, ",%" PRId64 ",", s->offset);
    if ((e = put_str(t, &q, s->source_pos)))
        goto out;
    sl_buf_printf(&q, ",%" PRId64 ",FROM_UNIXTIME(%" PRId64 " / 1000.0)) ON DUPLICATE KEY "
                  "UPDATE `reason`=VALUES(`reason`), `kafka_offset`=VALUES(`kafka_offset`), "
                  "`source_position`=VALUES(`source_position`), "
                  "`resume_to`=VALUES(`resume_to`), `since`=VALUES(`since`)",
                  s->resume_to, s->since_ms);
    e = run(t, &q, "storing the stop of a table", errstr, sz);
out:
    sl_buf_free(&q);
    return e;
}

sl_err_t app_my_stop_clear(app_target_t *at, const char *db, const char *table, char *errstr,
                           size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    sl_err_t e = ensure_table(t, errstr, sz);
    if (e)
        return e;
    sl_buf_t q = SL_BUF_INIT;
    sl_buf_puts(&q, "DELETE FROM `" APP_STOPS_TABLE "` WHERE `task` = ");
    if ((e = put_str(t, &q, t->task)))
        goto out;
    sl_buf_puts(&q, " AND `source_db` = ");
    if ((e = put_str(t, &q, db)))
        goto out;
    sl_buf_puts(&q, " AND `source_table` = ");
    if ((e = put_str(t, &q, table)))
        goto out;
    e = run(t, &q, "clearing the stop of a table", errstr, sz);
out:
    sl_buf_free(&q);
    return e;
}

/* ------------------------------------------- direct tasks' progress */

sl_err_t app_my_progress_load(app_target_t *at, char **out, char *errstr, size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    static const char ddl[] =
        "CREATE TABLE IF NOT EXISTS `" APP_DIRECT_TABLE "` ("
        "`task` VARCHAR(255) NOT NULL PRIMARY KEY, `progress` MEDIUMTEXT NOT NULL, "
        "`updated_at` TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
    sl_buf_t q = SL_BUF_INIT;
    sl_err_t e = app_my_exec(t->db, ddl, sizeof ddl - 1, "create table " APP_DIRECT_TABLE,
                             errstr, sz);
    *out = NULL;
    if (!e && mysql_commit(t->db) != 0)
        e = app_my_err(t->db, "commit", errstr, sz);
    if (e)
        return e;
    sl_buf_puts(&q, "SELECT `progress` FROM `" APP_DIRECT_TABLE "` WHERE `task` = ");
    if ((e = put_str(t, &q, t->task)))
        goto out;
    if (mysql_real_query(t->db, q.data, (unsigned long)q.len) != 0) {
        e = app_my_err(t->db, "read " APP_DIRECT_TABLE, errstr, sz);
        goto out;
    }
    MYSQL_RES *r = mysql_store_result(t->db);
    if (!r) {
        e = app_my_err(t->db, "read " APP_DIRECT_TABLE, errstr, sz);
        goto out;
    }
    MYSQL_ROW row = mysql_fetch_row(r);
    if (row && row[0] && !(*out = strdup(row[0])))
        e = SL_ERR_NOMEM;
    mysql_free_result(r);
    if (!e && !t->in_txn && mysql_commit(t->db) != 0)
        e = app_my_err(t->db, "commit", errstr, sz);
out:
    sl_buf_free(&q);
    return e;
}

sl_err_t app_my_progress_save(app_target_t *at, const char *text, char *errstr, size_t sz)
{
    my_target_t *t = (my_target_t *)at;
    sl_buf_t q = SL_BUF_INIT;
    sl_err_t e;
    sl_buf_puts(&q, "INSERT INTO `" APP_DIRECT_TABLE "` (`task`, `progress`) VALUES (");
    if ((e = put_str(t, &q, t->task)))
        goto out;
    sl_buf_puts(&q, ", ");
    if ((e = put_str(t, &q, text)))
        goto out;
    sl_buf_puts(&q, ") ON DUPLICATE KEY UPDATE `progress` = VALUES(`progress`), "
                    "`updated_at` = CURRENT_TIMESTAMP(3)");
    e = run(t, &q, "store the direct task's progress", errstr, sz);
out:
    sl_buf_free(&q);
    return e;
}
