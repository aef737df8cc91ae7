/* shiftlog-collector, MySQL/MariaDB: opening the binlog dump (the
 * replication connection, heartbeat, checksum, GTID or file:pos start) and
 * reading its ROTATE events, for the reader's sessions (mysql_source.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mysql_source.h"     /* mysql.h first: mariadb_rpl.h needs it */
#include <mariadb_rpl.h>

/* ROTATE body: 8-byte little-endian position, then the file name up to the
 * checksum. raw_data is the network packet: libmariadb 3.3 keeps the OK byte
 * in front, so the event is its last event_length bytes. */
int col_my_rotate_parse(const MARIADB_RPL_EVENT *ev, int crc, const char *cur, char *file,
                        size_t file_size, uint64_t *pos, char *errstr, size_t errstr_size)
{
    size_t trailer = crc ? 4 : 0;
    if (!ev->raw_data || ev->event_length < 19 + 8 + trailer ||
        ev->raw_data_size < ev->event_length) {
        snprintf(errstr, errstr_size, "ROTATE event after %s without its bytes", cur);
        return -1;
    }
    const uint8_t *b = ev->raw_data + (ev->raw_data_size - ev->event_length) + 19;
    size_t nlen = ev->event_length - 19 - 8 - trailer;
    uint64_t p = 0;
    for (int i = 7; i >= 0; i--)
        p = (p << 8) | b[i];
    if (nlen == 0 || nlen >= file_size) {
        snprintf(errstr, errstr_size, "ROTATE event after %s with a file name of %zu bytes",
                 cur, nlen);
        return -1;
    }
    memcpy(file, b + 8, nlen);
    file[nlen] = '\0';
    *pos = p;
    return 0;
}

/* Opens the replication stream at start (file:pos, or a GTID state when
 * start->file is empty). */
sl_err_t col_my_stream_open(const col_conf_t *c, const sl_pos_t *start, MYSQL **repl,
                            MARIADB_RPL **rpl, int *crc, int *denied, char *errstr,
                            size_t errstr_size)
{
    int fatal;
    char q[256];
    if (!(*repl = col_my_connect(c, errstr, errstr_size, &fatal))) {
        *denied = fatal;
        return fatal ? SL_ERR_INVALID : SL_ERR_DB;
    }
    /* heartbeats bound how long a blocking read waits: for the Kafka
     * transaction's commit, a stop request and idle progress */
    int64_t hb = c->heartbeat_ms;
    if (hb > 1000)
        hb = 1000;
    if (c->kafka_transactional && c->txn_max_ms < hb)
        hb = c->txn_max_ms < 10 ? 10 : c->txn_max_ms;
    snprintf(q, sizeof(q), "SET @master_heartbeat_period = %" PRId64, hb * 1000000);
    if (col_my_exec(*repl, "SET @master_binlog_checksum = @@global.binlog_checksum",
                    errstr, errstr_size) ||
        col_my_exec(*repl, "SET @mariadb_slave_capability = 4", errstr, errstr_size) ||
        col_my_exec(*repl, q, errstr, errstr_size))
        return SL_ERR_DB;
    /* Whether every event we get ends in a CRC32. Not libmariadb's
     * rpl->use_checksum: that is only set by the FORMAT_DESCRIPTION event,
     * after the first (fake) ROTATE has already arrived with its checksum. */
    MYSQL_RES *res;
    MYSQL_ROW row;
    if (mysql_query(*repl, "SELECT @master_binlog_checksum") || !(res = mysql_store_result(*repl))) {
        snprintf(errstr, errstr_size, "reading @master_binlog_checksum: %s", mysql_error(*repl));
        return SL_ERR_DB;
    }
    row = mysql_fetch_row(res);
    *crc = row && row[0] && strcasecmp(row[0], "NONE") != 0;
    mysql_free_result(res);
    if (!start->file[0]) {
        char st[300], esc[200];
        mysql_real_escape_string(*repl, esc, start->gtid, (unsigned long)strlen(start->gtid));
        snprintf(st, sizeof(st), "SET @slave_connect_state = '%s'", esc);
        if (col_my_exec(*repl, st, errstr, errstr_size) ||
            col_my_exec(*repl, "SET @slave_gtid_strict_mode = 1", errstr, errstr_size))
            return SL_ERR_DB;
    }
    if (!(*rpl = mariadb_rpl_init(*repl))) {
        snprintf(errstr, errstr_size, "mariadb_rpl_init: %s", mysql_error(*repl));
        return SL_ERR_DB;
    }
    const char *fname = start->file;
    mariadb_rpl_optionsv(*rpl, MARIADB_RPL_FILENAME, (char *)fname, (size_t)strlen(fname));
    mariadb_rpl_optionsv(*rpl, MARIADB_RPL_START,
                         (unsigned long)(start->file[0] ? start->offset : 4));
    mariadb_rpl_optionsv(*rpl, MARIADB_RPL_SERVER_ID, (unsigned int)c->source_server_id);
    mariadb_rpl_optionsv(*rpl, MARIADB_RPL_FLAGS, (unsigned int)0);
    if (mariadb_rpl_open(*rpl)) {
        snprintf(errstr, errstr_size, "binlog dump from %s:%" PRIu64 " refused: %s",
                 start->file[0] ? start->file : start->gtid, start->offset,
                 mysql_error(*repl));
        return SL_ERR_DB;
    }
    return SL_OK;
}
