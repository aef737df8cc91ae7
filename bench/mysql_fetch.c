/* bench/mysql_fetch.c: the transport-only baseline of bench/mysql_collector.sh — a bare
 * libmariadb mariadb_rpl fetch loop (no decoding, no Kafka) over a binlog range.
 *   mysql_fetch FILE POS STOP_FILE STOP_POS PORT ROOT_PASSWORD   -> "events=N" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysql.h>
#include <mariadb_rpl.h>

int main(int argc, char **argv)
{
    MYSQL *m = mysql_init(NULL);
    if (argc < 7 || !mysql_real_connect(m, "127.0.0.1", "root", argv[6], NULL,
                                        (unsigned)atoi(argv[5]), NULL, 0)) {
        fprintf(stderr, "mysql_fetch: %s\n", argc < 7 ? "usage: FILE POS STOP_FILE STOP_POS "
                "PORT PASSWORD" : mysql_error(m));
        return 1;
    }
    if (mysql_query(m, "SET @master_binlog_checksum = @@global.binlog_checksum") ||
        mysql_query(m, "SET @mariadb_slave_capability = 4")) {
        fprintf(stderr, "mysql_fetch: %s\n", mysql_error(m));
        return 1;
    }
    MARIADB_RPL *rpl = mariadb_rpl_init(m);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, argv[1], strlen(argv[1]));
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, strtoul(argv[2], NULL, 10));
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, (unsigned int)424299);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, (unsigned int)MARIADB_RPL_BINLOG_DUMP_NON_BLOCK);
    if (mariadb_rpl_open(rpl)) {
        fprintf(stderr, "mysql_fetch: %s\n", mysql_error(m));
        return 1;
    }
    MARIADB_RPL_EVENT *ev = NULL;
    unsigned long n = 0, stop = strtoul(argv[4], NULL, 10);
    char file[256] = "";
    while ((ev = mariadb_rpl_fetch(rpl, ev))) {   /* NULL: ev already freed */
        n++;
        if (ev->event_type == ROTATE_EVENT)
            snprintf(file, sizeof(file), "%.*s", (int)ev->event.rotate.filename.length,
                     ev->event.rotate.filename.str);
        if (!strcmp(file, argv[3]) && ev->next_event_pos >= stop) {
            mariadb_free_rpl_event(ev);
            break;
        }
    }
    printf("events=%lu\n", n);
    mariadb_rpl_close(rpl);
    mysql_close(m);
    return 0;
}
