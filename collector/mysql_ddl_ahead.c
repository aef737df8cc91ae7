/* shiftlog-collector, MySQL/MariaDB: is a later DDL on a table in the binlog?
 *
 * A DDL's SCHEMA record takes its columns from information_schema when the
 * collector reads the DDL. That is the definition at the DDL only if no later
 * DDL on the same table has run since: a collector behind the server (lag,
 * restart from a checkpoint, start.position in the past) would otherwise
 * publish, at an old DDL, the columns of a newer one (a later ADD COLUMN, a
 * table dropped and re-created). This file answers that question from the
 * binlog itself: SHOW BINLOG EVENTS from the end of the DDL up to the
 * server's current end (SHOW MASTER STATUS, taken after the catalog read),
 * looking for a DDL statement that changes the table or drops its database.
 *
 * Why the catalog read and the master position are consistent: a DDL holds
 * an exclusive metadata lock on its table until after it is written to the
 * binlog, and the information_schema read waits for that lock; so any DDL
 * whose effect the read saw is in the binlog before the position read next.
 *
 * When there is one, the definition the table had between the two DDLs is
 * in the binlog if rows were written meanwhile: the first TABLE_MAP of the
 * table after the DDL carries it (binlog_row_metadata = FULL).
 * col_my_fetch_event reads that one event over a second binlog dump, with
 * server_id 0 (the server kills no other dump for it, as for mariadb-binlog).
 *
 * Cost: proportional to how far the collector is behind, paid only at DDL
 * events (rare); nothing when the DDL is the server's last event. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql_source.h"     /* mysql.h first: mariadb_rpl.h needs it */
#include <mariadb_rpl.h>
#include "sl_log.h"

#define PAGE 5000

static int ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* sql contains word w as a whole identifier (case-insensitive). */
static int names_word(const char *sql, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = sql; n && (p = strcasestr(p, w)); p++)
        if ((p == sql || !ident_char(p[-1])) && !ident_char(p[n]))
            return 1;
    return 0;
}

/* Does Info (SHOW BINLOG EVENTS of a Query event: "use `db`; statement")
 * change db.tb? */
static int query_touches(const char *info, const char *db, const char *tb)
{
    char def[256] = "";
    const char *sql = info;
    if (!strncmp(info, "use `", 5)) {
        const char *e = strstr(info + 5, "`; ");
        if (e && (size_t)(e - info - 5) < sizeof(def)) {
            memcpy(def, info + 5, (size_t)(e - info - 5));
            def[e - info - 5] = '\0';
            sql = e + 3;
        }
    }
    col_my_ddl_target_t t[COL_MY_DDL_MAX];
    char dropdb[256];
    int is_ddl = 0;
    int nt = col_my_ddl_parse(def, sql, strlen(sql), t, COL_MY_DDL_MAX, &is_ddl, dropdb,
                              sizeof(dropdb));
    if (!is_ddl)
        return 0;
    if (dropdb[0])
        return !strcasecmp(dropdb, db);
    for (int i = 0; i < nt; i++)
        if (!strcasecmp(t[i].db, db) && !strcasecmp(t[i].tb, tb))
            return 1;
    /* more tables than we keep, or a table statement we do not parse that
     * names the table: the safe side */
    return nt == COL_MY_DDL_MAX || (nt == 0 && is_ddl == 2 && names_word(sql, tb));
}

/* The binlog file after cur in SHOW BINARY LOGS; 0 when cur is the last. */
static int next_file(MYSQL *m, const char *cur, char *next, size_t next_size, char *errstr,
                     size_t errstr_size, int *err)
{
    MYSQL_RES *r = col_my_query(m, "SHOW BINARY LOGS", errstr, errstr_size);
    *err = r == NULL;
    if (!r)
        return 0;
    MYSQL_ROW row;
    int found = 0, got = 0;
    while ((row = mysql_fetch_row(r))) {
        if (found && row[0]) {
            snprintf(next, next_size, "%s", row[0]);
            got = 1;
            break;
        }
        found = row[0] && !strcmp(row[0], cur);
    }
    mysql_free_result(r);
    return got;
}

/* Info of a Table_map event: "table_id: 33 (db.tb)". */
static int map_of(const char *info, const char *db, const char *tb)
{
    const char *p = strchr(info, '(');
    size_t dl = strlen(db), tl = strlen(tb);
    return p && !strncmp(p + 1, db, dl) && p[1 + dl] == '.' && !strncmp(p + 2 + dl, tb, tl) &&
           !strcmp(p + 2 + dl + tl, ")");
}

sl_err_t col_my_ddl_ahead(MYSQL *m, const char *file, uint64_t pos, const char *db,
                          const char *tb, int *later, char *map_file, size_t map_file_size,
                          uint64_t *map_pos, char *errstr, size_t errstr_size)
{
    char q[1300], endf[512], cur[512], esc[1100];
    uint64_t endp, from = pos;
    long scanned = 0;
    *later = 0;
    *map_pos = 0;
    if (!m || !file || !file[0])
        return SL_OK;
    MYSQL_RES *r = col_my_query(m, "SHOW MASTER STATUS", errstr, errstr_size);
    if (!r)
        return SL_ERR_DB;
    MYSQL_ROW row = mysql_fetch_row(r);
    if (!row || !row[0] || !row[1]) {
        mysql_free_result(r);
        snprintf(errstr, errstr_size, "SHOW MASTER STATUS returned no binlog position");
        return SL_ERR_DB;
    }
    snprintf(endf, sizeof(endf), "%s", row[0]);
    endp = strtoull(row[1], NULL, 10);
    mysql_free_result(r);
    snprintf(cur, sizeof(cur), "%s", file);

    for (;;) {
        int same = !strcmp(cur, endf);
        if (same && from >= endp)
            return SL_OK;
        if (scanned >= COL_MY_AHEAD_MAX) {
            sl_info("table %s.%s: over %d binlog events behind the server at a DDL: its "
                    "SCHEMA is deferred to its next TABLE_MAP", db, tb, COL_MY_AHEAD_MAX);
            *later = 1;
            *map_pos = 0;
            return SL_OK;
        }
        mysql_real_escape_string(m, esc, cur, (unsigned long)strlen(cur));
        snprintf(q, sizeof(q), "SHOW BINLOG EVENTS IN '%s' FROM %" PRIu64 " LIMIT %d", esc,
                 from, PAGE);
        if (!(r = col_my_query(m, q, errstr, errstr_size)))
            return SL_ERR_DB;
        int n = 0;
        while ((row = mysql_fetch_row(r))) {
            n++;
            scanned++;
            /* Log_name, Pos, Event_type, Server_id, End_log_pos, Info */
            if (row[4])
                from = strtoull(row[4], NULL, 10);
            if (same && row[1] && strtoull(row[1], NULL, 10) >= endp)
                break;                    /* past the end read above */
            if (!*map_pos && row[1] && row[2] && row[5] && !strcmp(row[2], "Table_map") &&
                map_of(row[5], db, tb)) {
                snprintf(map_file, map_file_size, "%s", cur);
                *map_pos = strtoull(row[1], NULL, 10);
            }
            if (row[2] && row[5] && !strcmp(row[2], "Query") && query_touches(row[5], db, tb)) {
                *later = 1;
                break;
            }
        }
        mysql_free_result(r);
        if (*later)
            return SL_OK;
        if (n < PAGE) {                   /* end of this file */
            if (same)
                return SL_OK;
            int err;
            if (!next_file(m, cur, cur, sizeof(cur), errstr, errstr_size, &err))
                return err ? SL_ERR_DB : SL_OK;
            from = 4;
        }
    }
}

sl_err_t col_my_fetch_event(const col_conf_t *conf, const char *file, uint64_t pos, int type,
                            uint8_t **body, size_t *len, char *errstr, size_t errstr_size)
{
    int fatal, crc = 0;
    sl_err_t err = SL_ERR_DB;
    MARIADB_RPL *rpl = NULL;
    MARIADB_RPL_EVENT *ev = NULL;
    MYSQL_RES *res;
    MYSQL_ROW row;
    *body = NULL;
    *len = 0;
    MYSQL *m = col_my_connect(conf, errstr, errstr_size, &fatal);
    if (!m)
        return SL_ERR_DB;
    if (col_my_exec(m, "SET @master_binlog_checksum = @@global.binlog_checksum", errstr,
                    errstr_size) ||
        col_my_exec(m, "SET @mariadb_slave_capability = 4", errstr, errstr_size))
        goto out;
    if (!(res = col_my_query(m, "SELECT @master_binlog_checksum", errstr, errstr_size)))
        goto out;
    row = mysql_fetch_row(res);
    crc = row && row[0] && strcasecmp(row[0], "NONE") != 0;
    mysql_free_result(res);
    if (!(rpl = mariadb_rpl_init(m))) {
        snprintf(errstr, errstr_size, "mariadb_rpl_init: %s", mysql_error(m));
        goto out;
    }
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, (char *)file, (size_t)strlen(file));
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, (unsigned long)pos);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, (unsigned int)0);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, (unsigned int)MARIADB_RPL_BINLOG_DUMP_NON_BLOCK);
    /* from here on a failure is this event's, not the connection's: the
     * caller falls back (SL_ERR_UNSUPPORTED) instead of retrying forever */
    err = SL_ERR_UNSUPPORTED;
    if (mariadb_rpl_open(rpl)) {
        snprintf(errstr, errstr_size, "binlog dump from %s:%" PRIu64 " refused: %s", file, pos,
                 mysql_error(m));
        goto out;
    }
    /* the dump starts with a fake ROTATE and the file's FORMAT_DESCRIPTION */
    for (int i = 0; i < 8; i++) {
        if (!(ev = mariadb_rpl_fetch(rpl, ev))) {
            snprintf(errstr, errstr_size, "binlog dump from %s:%" PRIu64 " ended before the "
                     "event: %s", file, pos, mysql_errno(m) ? mysql_error(m) : "end of log");
            goto out;
        }
        if (ev->event_type == ROTATE_EVENT || ev->event_type == FORMAT_DESCRIPTION_EVENT ||
            (ev->flags & LOG_EVENT_ARTIFICIAL_F) || ev->next_event_pos == 0)
            continue;
        size_t trailer = crc ? 4 : 0;
        uint64_t start = ev->next_event_pos - ev->event_length;
        if ((int)ev->event_type != type || start != pos || !ev->raw_data ||
            ev->event_length < 19 + trailer || ev->raw_data_size < ev->event_length) {
            snprintf(errstr, errstr_size, "binlog event at %s:%" PRIu64 " is not the one "
                     "expected (type %d at %" PRIu64 ")", file, pos, ev->event_type, start);
            err = SL_ERR_DECODE;
            goto out;
        }
        *len = ev->event_length - 19 - trailer;
        if (!(*body = malloc(*len ? *len : 1))) {
            err = SL_ERR_NOMEM;
            goto out;
        }
        memcpy(*body, ev->raw_data + (ev->raw_data_size - ev->event_length) + 19, *len);
        err = SL_OK;
        goto out;
    }
    snprintf(errstr, errstr_size, "binlog dump from %s:%" PRIu64 ": no event there", file, pos);
out:
    if (ev)
        mariadb_free_rpl_event(ev);
    if (rpl)
        mariadb_rpl_close(rpl);
    mysql_close(m);
    return err;
}
