/* shiftlog-collector, MySQL/MariaDB: connections, preflight checks and the
 * start position. Every refusal is one sentence with the SQL that fixes it
 * (STYLE "Errors"). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mysql_source.h"
#include "sl_log.h"
#include "sl_myconn.h"
#include "sl_tls.h"

sl_err_t col_my_exec(MYSQL *m, const char *sql, char *errstr, size_t errstr_size)
{
    if (mysql_query(m, sql)) {
        snprintf(errstr, errstr_size, "%s: %s", sql, mysql_error(m));
        return SL_ERR_DB;
    }
    MYSQL_RES *r = mysql_store_result(m);
    if (r)
        mysql_free_result(r);
    return SL_OK;
}

MYSQL_RES *col_my_query(MYSQL *m, const char *sql, char *errstr, size_t errstr_size)
{
    if (mysql_query(m, sql)) {
        snprintf(errstr, errstr_size, "%s: %s", sql, mysql_error(m));
        return NULL;
    }
    MYSQL_RES *r = mysql_store_result(m);
    if (!r)
        snprintf(errstr, errstr_size, "%s: %s", sql,
                 mysql_errno(m) ? mysql_error(m) : "no result set");
    return r;
}

MYSQL *col_my_connect(const col_conf_t *conf, char *errstr, size_t errstr_size, int *fatal)
{
    *fatal = 0;
    sl_myconn_t c = {conf->source_host, (unsigned)conf->source_port, conf->source_user,
                     conf->source_password, NULL,
                     {conf->tls_mode, conf->tls_ca, conf->tls_cert, conf->tls_key},
                     10, 0, 0, 0};
    MYSQL *m;
    unsigned e;
    char msg[512], hint[300] = "", denied[300];
    sl_err_t err = sl_myconn_open(&c, &m, msg, sizeof(msg), &e);
    if (err == SL_ERR_NOMEM) {
        snprintf(errstr, errstr_size, "source \"%s\": out of memory", conf->source_name);
        return NULL;
    }
    if (err == SL_ERR_DENIED) {          /* TLS asked for, not offered */
        *fatal = 1;
        snprintf(errstr, errstr_size, "source \"%s\": %s@%s:%" PRId64 ": source.%s",
                 conf->source_name, conf->source_user, conf->source_host, conf->source_port,
                 msg);
        return NULL;
    }
    if (err) {
        /* require_secure_transport: the server refuses a clear connection
         * with this error (no own code) */
        int tls_refused = strstr(msg, "insecure transport") != NULL;
        *fatal = e == ER_ACCESS_DENIED_ERROR || e == ER_DBACCESS_DENIED_ERROR ||
                 e == CR_SSL_CONNECTION_ERROR || tls_refused;
        sl_tls_error_hint(msg, "source", hint, sizeof(hint));
        if (e == ER_ACCESS_DENIED_ERROR)
            snprintf(hint, sizeof(hint), " (check source.user / source.password%s)",
                     sl_tls_my_denied_hint(conf->tls_mode, "source", denied, sizeof(denied)));
        snprintf(errstr, errstr_size, "source \"%s\": cannot connect to %s@%s:%" PRId64 ": %s%s",
                 conf->source_name, conf->source_user, conf->source_host, conf->source_port,
                 msg, hint);
        return NULL;
    }
    return m;
}

/* The value of one server variable as text ("" when NULL); SL_ERR_NOT_FOUND
 * when the server does not have it. */
static sl_err_t get_var(MYSQL *m, const char *name, char *out, size_t outsz, char *errstr,
                        size_t errstr_size)
{
    char q[200];
    snprintf(q, sizeof(q), "SELECT @@GLOBAL.%s", name);
    if (mysql_query(m, q)) {
        if (mysql_errno(m) == ER_UNKNOWN_SYSTEM_VARIABLE)
            return SL_ERR_NOT_FOUND;
        snprintf(errstr, errstr_size, "%s: %s", q, mysql_error(m));
        return SL_ERR_DB;
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    snprintf(out, outsz, "%s", row && row[0] ? row[0] : "");
    if (r)
        mysql_free_result(r);
    return SL_OK;
}

sl_err_t col_my_preflight(MYSQL *m, const col_conf_t *conf, col_my_server_t *srv,
                          char *errstr, size_t errstr_size)
{
    sl_err_t err;
    char v[256], who[256] = "CURRENT_USER";
    const char *src = conf->source_name;
    memset(srv, 0, sizeof(*srv));
    snprintf(srv->version, sizeof(srv->version), "%s", mysql_get_server_info(m));
    srv->is_mariadb = strcasestr(srv->version, "mariadb") != NULL;

    MYSQL_RES *r = col_my_query(m, "SELECT CURRENT_USER()", errstr, errstr_size);
    if (!r)
        return SL_ERR_DB;
    MYSQL_ROW row = mysql_fetch_row(r);
    if (row && row[0]) {
        /* user@host -> 'user'@'host' for the GRANT statements we suggest */
        const char *at = strrchr(row[0], '@');
        if (at)
            snprintf(who, sizeof(who), "'%.*s'@'%s'", (int)(at - row[0]), row[0], at + 1);
    }
    mysql_free_result(r);

    if ((err = get_var(m, "log_bin", v, sizeof(v), errstr, errstr_size)))
        return err;
    if (strcmp(v, "1") && strcasecmp(v, "ON")) {
        snprintf(errstr, errstr_size,
                 "source \"%s\": binary logging is off (log_bin = OFF); shiftlog reads the "
                 "binlog: add log_bin = mysql-bin, binlog_format = ROW and a server_id to the "
                 "server's configuration and restart it (log_bin cannot be set at runtime)",
                 src);
        return SL_ERR_INVALID;
    }
    if ((err = get_var(m, "binlog_format", v, sizeof(v), errstr, errstr_size)))
        return err;
    if (strcasecmp(v, "ROW")) {
        snprintf(errstr, errstr_size,
                 "source \"%s\": binlog_format is %s, shiftlog needs ROW (SET GLOBAL "
                 "binlog_format = ROW; and binlog_format = ROW in the server's configuration; "
                 "sessions opened before keep their format until they reconnect)", src, v);
        return SL_ERR_INVALID;
    }
    if ((err = get_var(m, "binlog_row_image", v, sizeof(v), errstr, errstr_size)) &&
        err != SL_ERR_NOT_FOUND)
        return err;
    srv->row_image_full = err == SL_ERR_NOT_FOUND || !strcasecmp(v, "FULL");
    if (!srv->row_image_full)
        sl_warn("source \"%s\": binlog_row_image is %s: UPDATE and DELETE images will carry "
                "only %s; the other columns arrive as missing (not_in_image), never as NULL "
                "(SET GLOBAL binlog_row_image = FULL for complete images)", src, v,
                !strcasecmp(v, "MINIMAL") ? "the primary key (before) and the changed "
                "columns (after)" : "the columns other than unchanged BLOB/TEXT");
    err = get_var(m, "binlog_row_metadata", v, sizeof(v), errstr, errstr_size);
    if (err && err != SL_ERR_NOT_FOUND)
        return err;
    srv->row_metadata_full = !err && !strcasecmp(v, "FULL");
    if (!srv->row_metadata_full)
        sl_warn("source \"%s\": binlog_row_metadata is %s: column names, signedness and "
                "ENUM/SET labels are not in the binlog, shiftlog reads them from "
                "information_schema (the CURRENT table definition: events written before a "
                "later DDL may be mislabelled) (SET GLOBAL binlog_row_metadata = FULL)",
                src, err ? "not supported by this server" : v);
    if ((err = get_var(m, "binlog_checksum", srv->checksum, sizeof(srv->checksum), errstr,
                       errstr_size)) && err != SL_ERR_NOT_FOUND)
        return err;
    if ((err = get_var(m, "server_id", v, sizeof(v), errstr, errstr_size)))
        return err;
    srv->server_id = (uint32_t)strtoul(v, NULL, 10);
    if ((int64_t)srv->server_id == conf->source_server_id) {
        snprintf(errstr, errstr_size,
                 "source \"%s\": source.server_id %" PRId64 " is the server's own server_id; "
                 "choose a value no server or replica of this topology uses", src,
                 conf->source_server_id);
        return SL_ERR_INVALID;
    }

    /* grants: REPLICATION SLAVE to read the binlog; REPLICATION CLIENT (MySQL,
     * MariaDB < 10.5) or BINLOG MONITOR (MariaDB >= 10.5) for SHOW BINARY LOGS */
    r = col_my_query(m, "SHOW GRANTS", errstr, errstr_size);
    if (!r)
        return SL_ERR_DB;
    int slave = 0, client = 0;
    while ((row = mysql_fetch_row(r))) {
        if (!row[0])
            continue;
        if (strstr(row[0], "ALL PRIVILEGES ON *.*"))
            slave = client = 1;
        if (strstr(row[0], "REPLICATION SLAVE") && strstr(row[0], " ON *.*"))
            slave = 1;
        if ((strstr(row[0], "REPLICATION CLIENT") || strstr(row[0], "BINLOG MONITOR") ||
             strstr(row[0], "SUPER")) && strstr(row[0], " ON *.*"))
            client = 1;
    }
    mysql_free_result(r);
    if (!slave || !client) {
        snprintf(errstr, errstr_size,
                 "source \"%s\": user %s lacks %s%s%s (GRANT %s%s%s ON *.* TO %s)", src, who,
                 slave ? "" : "REPLICATION SLAVE", !slave && !client ? " and " : "",
                 client ? "" : srv->is_mariadb ? "BINLOG MONITOR" : "REPLICATION CLIENT",
                 slave ? "" : "REPLICATION SLAVE", !slave && !client ? ", " : "",
                 client ? "" : srv->is_mariadb ? "BINLOG MONITOR" : "REPLICATION CLIENT", who);
        return SL_ERR_INVALID;
    }

    /* another replica registered with our server_id would be disconnected by
     * the server each time we connect (and we by it): refuse. Best effort:
     * SHOW SLAVE HOSTS needs a privilege the CDC user may lack. */
    if (!mysql_query(m, "SHOW SLAVE HOSTS")) {
        r = mysql_store_result(m);
        while (r && (row = mysql_fetch_row(r))) {
            if (row[0] && strtoll(row[0], NULL, 10) == conf->source_server_id) {
                snprintf(errstr, errstr_size,
                         "source \"%s\": server_id %" PRId64 " is already used by the "
                         "replica at %s:%s (SHOW SLAVE HOSTS); set source.server_id to an "
                         "unused value", src, conf->source_server_id,
                         row[1] ? row[1] : "?", row[2] ? row[2] : "?");
                mysql_free_result(r);
                return SL_ERR_INVALID;
            }
        }
        if (r)
            mysql_free_result(r);
    } else {
        sl_debug("SHOW SLAVE HOSTS: %s (server_id uniqueness not checked)", mysql_error(m));
    }
    sl_info("source \"%s\": %s, server_id %u, binlog ROW, row image %s, row metadata %s",
            src, srv->version, srv->server_id, srv->row_image_full ? "FULL" : "partial",
            srv->row_metadata_full ? "FULL" : "partial (information_schema fallback)");
    return SL_OK;
}

/* 1 when text is a GTID state: D-S-N[,D-S-N...] */
static int is_gtid(const char *t)
{
    if (!*t)
        return 0;
    while (*t) {
        for (int part = 0; part < 3; part++) {
            if (!isdigit((unsigned char)*t))
                return 0;
            while (isdigit((unsigned char)*t))
                t++;
            if (part < 2 && *t++ != '-')
                return 0;
        }
        if (*t == ',')
            t++;
        else if (*t)
            return 0;
    }
    return 1;
}

sl_err_t col_my_start_position(MYSQL *m, const col_conf_t *conf, const sl_pos_t *ckpt,
                               sl_pos_t *pos, char *errstr, size_t errstr_size)
{
    const char *src = conf->source_name;
    const char *sp = conf->start_position ? conf->start_position : "earliest";
    char first[SL_POS_FILE_MAX] = "";
    int server_end = 0;     /* latest: the server's own end, read after the list below */
    memset(pos, 0, sizeof(*pos));

    /* the binlogs the server still has */
    MYSQL_RES *logs = col_my_query(m, "SHOW BINARY LOGS", errstr, errstr_size);
    if (!logs)
        return SL_ERR_DB;
    MYSQL_ROW row = mysql_fetch_row(logs);
    if (row && row[0])
        snprintf(first, sizeof(first), "%s", row[0]);
    mysql_data_seek(logs, 0);

    sl_err_t err = SL_OK;
    if (ckpt) {
        *pos = *ckpt;
        pos->row = 0;
    } else if (!strcasecmp(sp, "earliest")) {
        if (!first[0]) {
            snprintf(errstr, errstr_size, "source \"%s\": the server lists no binary log",
                     src);
            err = SL_ERR_NOT_FOUND;
            goto out;
        }
        err = sl_pos_set_mysql(pos, first, 4, 0);
    } else if (!strcasecmp(sp, "latest")) {
        MYSQL_RES *r = col_my_query(m, "SHOW MASTER STATUS", errstr, errstr_size);
        if (!r) {
            err = SL_ERR_DB;
            goto out;
        }
        MYSQL_ROW mr = mysql_fetch_row(r);
        if (!mr || !mr[0] || !mr[1]) {
            snprintf(errstr, errstr_size, "source \"%s\": SHOW MASTER STATUS is empty "
                     "(binary logging off?)", src);
            mysql_free_result(r);
            err = SL_ERR_NOT_FOUND;
            goto out;
        }
        err = sl_pos_set_mysql(pos, mr[0], strtoull(mr[1], NULL, 10), 0);
        mysql_free_result(r);
        server_end = 1;
    } else if (is_gtid(sp)) {
        pos->kind = SL_POS_MYSQL;
        snprintf(pos->gtid, sizeof(pos->gtid), "%s", sp);
        goto out;                       /* the server finds the file itself */
    } else {
        const char *colon = strrchr(sp, ':');
        char file[SL_POS_FILE_MAX];
        char *end = NULL;
        unsigned long long off = colon ? strtoull(colon + 1, &end, 10) : 0;
        if (!colon || colon == sp || !end || *end || (size_t)(colon - sp) >= sizeof(file)) {
            snprintf(errstr, errstr_size,
                     "source \"%s\": start.position \"%s\" is not earliest, latest, "
                     "file:pos (mysql-bin.000003:4) or a GTID state (0-1-42)", src, sp);
            err = SL_ERR_INVALID;
            goto out;
        }
        snprintf(file, sizeof(file), "%.*s", (int)(colon - sp), sp);
        err = sl_pos_set_mysql(pos, file, off < 4 ? 4 : off, 0);
    }
    if (err) {
        snprintf(errstr, errstr_size, "source \"%s\": bad binlog position in \"%s\"", src,
                 ckpt ? ckpt->file : sp);
        goto out;
    }
    /* still on the server? */
    int found = 0;
    while ((row = mysql_fetch_row(logs))) {
        if (row[0] && !strcmp(row[0], pos->file)) {
            found = 1;
            /* the list was read before SHOW MASTER STATUS: under writes the
             * server's end is past the size listed, and is no sign of a reset */
            if (!server_end && row[1] && pos->offset > strtoull(row[1], NULL, 10)) {
                snprintf(errstr, errstr_size,
                         "source \"%s\": %s position %s:%" PRIu64 " is past the end of that "
                         "binlog (%s bytes): wrong server, or the binlog was reset", src,
                         ckpt ? "checkpoint" : "start", pos->file, pos->offset, row[1]);
                err = SL_ERR_INVALID;
                goto out;
            }
        }
    }
    if (!found) {
        if (ckpt)
            snprintf(errstr, errstr_size,
                     "source \"%s\": the checkpoint %s:%" PRIu64 " is no longer on the server "
                     "(purged; the oldest binlog is %s): the changes in between are lost to "
                     "CDC; take a new snapshot, or delete the checkpoint and set "
                     "start.position, and keep binlogs longer (expire_logs_days / "
                     "binlog_expire_logs_seconds)", src, pos->file, pos->offset,
                     first[0] ? first : "none");
        else
            snprintf(errstr, errstr_size,
                     "source \"%s\": start.position %s is not on the server (purged or never "
                     "written; the oldest binlog is %s): set start.position = earliest, "
                     "latest or an existing file:pos (SHOW BINARY LOGS)", src, sp,
                     first[0] ? first : "none");
        err = SL_ERR_NOT_FOUND;
    }
out:
    mysql_free_result(logs);
    return err;
}
