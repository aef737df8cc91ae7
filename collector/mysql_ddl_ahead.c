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
 * Cost: proportional to how far the collector is behind, paid only at DDL
 * events (rare); nothing when the DDL is the server's last event. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql_source.h"
#include "sl_log.h"

#define PAGE 5000

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
    /* more tables than we keep, or a form we do not parse: the safe side */
    return nt == COL_MY_DDL_MAX || (nt == 0 && strcasestr(sql, tb) != NULL);
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

sl_err_t col_my_ddl_ahead(MYSQL *m, const char *file, uint64_t pos, const char *db,
                          const char *tb, int *later, char *errstr, size_t errstr_size)
{
    char q[1300], endf[512], cur[512], esc[1100];
    uint64_t endp, from = pos;
    long scanned = 0;
    *later = 0;
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
