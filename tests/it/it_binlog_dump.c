/* it_binlog_dump: reads a MariaDB binlog with libmariadb's mariadb_rpl (or a
 * binlog file from disk), decodes every rows event with shiftlog's own
 * decoder (collector/mysql_*.c) and prints one JSON line per row:
 *   {"db":..,"table":..,"op":"update","pos":"mysql-bin.000003:1234#0",
 *    "before":{"col":value,...},"after":{...}}
 * Values as sl_value_to_json writes them. Used by tests/it/test_mysql_types.py
 * and bench/mysql_decode.sh.
 *
 *   it_binlog_dump [-h host] [-P port] [-u user] [-p password] [-S server_id]
 *                  (-f binlog-file [-o pos] | -g gtid-state | -F local-binlog-file)
 *                  [--hints] [--count] [--batch N] [--table db.table] [--repeat N]
 * Reads from the start position to the current end (non-blocking dump).
 * --hints: look up INET6/INET4/UUID and legacy TIME(n)/DATETIME(n) columns in
 * information_schema (a second connection), as the collector will.
 * --count: decode but print only "rows=N events=N seconds=S rows_per_s=R".
 * --repeat N (with -F): decode the file N times (benchmark).
 * --no-decode: fetch only (counts rows events, decodes nothing).
 * --stop POS: stop at that offset of the start file (with -f or -F). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>
#include <mariadb_rpl.h>

#include "sl_buf.h"
#include "sl_json.h"
#include "sl_record.h"
#include "../../collector/mysql_decode.h"


#define MAX_TABLES 4096

typedef struct opts_s {
    const char *host, *user, *password, *file, *gtid, *local, *only;
    unsigned port, server_id, batch, repeat;
    unsigned long pos, stop;
    int hints, count, no_decode;
} opts_t;

typedef struct tm_slot_s {
    int used;
    col_tablemap_t tm;
} tm_slot_t;

static tm_slot_t slots[MAX_TABLES];
static MYSQL *meta_conn;
static opts_t opt;
static uint64_t nrows, nevents;

static tm_slot_t *slot_for(uint64_t table_id)
{
    return &slots[table_id % MAX_TABLES];
}

static int die(const char *what, const char *why)
{
    fprintf(stderr, "it_binlog_dump: %s: %s\n", what, why);
    exit(1);
}

/* INET6/INET4/UUID and MariaDB 5.3 temporal columns are not identifiable in
 * the binlog: ask information_schema (the current schema; fine for tests). */
static void apply_hints(col_tablemap_t *tm)
{
    int need = 0;
    for (uint32_t i = 0; i < tm->ncols; i++) {
        const col_mysql_column_t *c = &tm->cols[i];
        if ((c->real_type == COL_MYSQL_T_STRING && (c->length == 16 || c->length == 4)) ||
            c->type == COL_MYSQL_T_TIME || c->type == COL_MYSQL_T_DATETIME ||
            c->type == COL_MYSQL_T_TIMESTAMP)
            need = 1;
    }
    if (!need || !meta_conn)
        return;
    char q[1024], db[300], tb[300];
    mysql_real_escape_string(meta_conn, db, tm->db, (unsigned long)strlen(tm->db));
    mysql_real_escape_string(meta_conn, tb, tm->table, (unsigned long)strlen(tm->table));
    snprintf(q, sizeof(q), "SELECT ORDINAL_POSITION, DATA_TYPE, IFNULL(DATETIME_PRECISION, 0) "
             "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='%s' AND TABLE_NAME='%s'", db, tb);
    if (mysql_query(meta_conn, q))
        die("information_schema", mysql_error(meta_conn));
    MYSQL_RES *res = mysql_store_result(meta_conn);
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res))) {
        uint32_t i = (uint32_t)atoi(row[0]) - 1;
        if (i >= tm->ncols)
            continue;
        if (!strcmp(row[1], "inet6"))
            col_mysql_tablemap_set_hint(tm, i, COL_MYSQL_HINT_INET6);
        else if (!strcmp(row[1], "inet4"))
            col_mysql_tablemap_set_hint(tm, i, COL_MYSQL_HINT_INET4);
        else if (!strcmp(row[1], "uuid"))
            col_mysql_tablemap_set_hint(tm, i, COL_MYSQL_HINT_UUID);
        else if (tm->cols[i].type == COL_MYSQL_T_TIME || tm->cols[i].type == COL_MYSQL_T_DATETIME ||
                 tm->cols[i].type == COL_MYSQL_T_TIMESTAMP)
            col_mysql_tablemap_set_fsp(tm, i, (unsigned)atoi(row[2]));
    }
    if (res)
        mysql_free_result(res);
}

static void on_table_map(const uint8_t *body, size_t len)
{
    col_tablemap_t tm;
    char err[512];
    if (col_mysql_tablemap_parse(body, len, &tm, err, sizeof(err)))
        die("TABLE_MAP", err);
    if (opt.hints)
        apply_hints(&tm);
    tm_slot_t *s = slot_for(tm.table_id);
    if (s->used)
        col_mysql_tablemap_free(&s->tm);
    s->tm = tm;
    s->used = 1;
}

static void on_rows(int type, const uint8_t *body, size_t len, const char *file,
                    unsigned long ev_pos, sl_record_t *rec, sl_buf_t *out)
{
    col_rows_cursor_t cur;
    char err[512];
    if (col_mysql_rows_open(&cur, type, body, len, err, sizeof(err)))
        die("rows event", err);
    tm_slot_t *s = slot_for(cur.table_id);
    if (!s->used || s->tm.table_id != cur.table_id)
        die("rows event", "no table map for its table id");
    nevents++;
    int skip = 0;
    if (opt.only) {
        char name[600];
        snprintf(name, sizeof(name), "%s.%s", s->tm.db, s->tm.table);
        skip = strcmp(name, opt.only) != 0;
    }
    while (!col_mysql_rows_done(&cur)) {
        uint32_t first = cur.row;
        sl_record_reset(rec);
        if (col_mysql_rows_next(&cur, &s->tm, "it", opt.batch, 0, rec, err, sizeof(err)))
            die("rows event", err);
        nrows += rec->u.change.nrows;
        if (opt.count || skip)
            continue;
        const sl_change_t *c = &rec->u.change;
        for (uint32_t r = 0; r < c->nrows; r++) {
            sl_buf_reset(out);
            sl_buf_puts(out, "{\"db\":");
            sl_buf_json_str(out, c->db, strlen(c->db));
            sl_buf_puts(out, ",\"table\":");
            sl_buf_json_str(out, c->table, strlen(c->table));
            sl_buf_printf(out, ",\"op\":\"%s\",\"pos\":\"%s:%lu#%u\",\"before\":",
                          sl_op_name(c->op), file, ev_pos, first + r);
            sl_image_to_json(c, c->rows[r].before, out);
            sl_buf_puts(out, ",\"after\":");
            sl_image_to_json(c, c->rows[r].after, out);
            sl_buf_puts(out, "}\n");
            fwrite(out->data, 1, out->len, stdout);
        }
    }
}

static int is_rows(int t)
{
    return (t >= 23 && t <= 25) || (t >= 30 && t <= 32);
}

/* A binlog file from disk: magic, FORMAT_DESCRIPTION (says whether events
 * end in a CRC32), then events (19-byte header, body, CRC). Only the range
 * [pos, stop) is read into memory (the FDE aside). */
static uint32_t u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void dump_local(sl_record_t *rec, sl_buf_t *out)
{
    FILE *f = fopen(opt.local, "rb");
    uint8_t head[4 + 19];
    if (!f)
        die(opt.local, strerror(errno));
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    if (fseek(f, 0, SEEK_SET) || fread(head, 1, sizeof(head), f) != sizeof(head) ||
        memcmp(head, "\xfe" "bin", 4) || head[4 + 4] != 15)
        die(opt.local, "not a binlog file starting with a FORMAT_DESCRIPTION event");
    uint32_t fde_len = u32le(head + 4 + 9);
    uint8_t *fde = malloc(fde_len);
    if (!fde || fseek(f, 4, SEEK_SET) || fread(fde, 1, fde_len, f) != fde_len)
        die(opt.local, "cannot read the FORMAT_DESCRIPTION event");
    int crc = fde[fde_len - 5] == 1;   /* checksum algorithm, before the FDE's own CRC */
    free(fde);
    size_t start = opt.pos > 4 + fde_len ? opt.pos : 4 + fde_len;
    size_t end = opt.stop && opt.stop < size ? opt.stop : size;
    if (start > end)
        die(opt.local, "start position after the end");
    uint8_t *d = malloc(end - start + 1);
    if (!d || fseek(f, (long)start, SEEK_SET) || fread(d, 1, end - start, f) != end - start)
        die(opt.local, "read failed");
    fclose(f);
    const char *base = strrchr(opt.local, '/') ? strrchr(opt.local, '/') + 1 : opt.local;
    for (unsigned rep = 0; rep < (opt.repeat ? opt.repeat : 1); rep++) {
        size_t off = 0;
        while (off + 19 <= end - start) {
            int type = d[off + 4];
            uint32_t evlen = u32le(d + off + 9);
            if (evlen < 19u + (crc ? 4u : 0u) || off + evlen > end - start)
                die(opt.local, "truncated event");
            size_t blen = evlen - 19 - (crc ? 4 : 0);
            if (opt.no_decode)
                nevents += is_rows(type);
            else if (type == COL_MYSQL_EV_TABLE_MAP)
                on_table_map(d + off + 19, blen);
            else if (is_rows(type))
                on_rows(type, d + off + 19, blen, base, (unsigned long)(start + off), rec, out);
            off += evlen;
        }
    }
    free(d);
}

static MYSQL *connect_db(void)
{
    MYSQL *m = mysql_init(NULL);
    if (!m || !mysql_real_connect(m, opt.host, opt.user, opt.password, NULL, opt.port, NULL, 0))
        die("connect", m ? mysql_error(m) : "out of memory");
    mysql_set_character_set(m, "utf8mb4");
    return m;
}

static void dump_remote(sl_record_t *rec, sl_buf_t *out)
{
    MYSQL *m = connect_db();
    char q[512];
    if (mysql_query(m, "SELECT @@global.binlog_checksum"))
        die("session", mysql_error(m));
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW r = res ? mysql_fetch_row(res) : NULL;
    int crc = r && r[0] && !strcmp(r[0], "CRC32");
    if (res)
        mysql_free_result(res);
    if (mysql_query(m, "SET @master_binlog_checksum = @@global.binlog_checksum") ||
        mysql_query(m, "SET @mariadb_slave_capability = 4"))
        die("session", mysql_error(m));
    if (opt.gtid) {
        snprintf(q, sizeof(q), "SET @slave_connect_state = '%s'", opt.gtid);
        if (mysql_query(m, q) || mysql_query(m, "SET @slave_gtid_strict_mode = 1"))
            die("session", mysql_error(m));
    }
    MARIADB_RPL *rpl = mariadb_rpl_init(m);
    if (!rpl)
        die("mariadb_rpl_init", mysql_error(m));
    const char *fname = opt.gtid ? "" : opt.file;
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, (char *)fname, (size_t)strlen(fname));
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, (unsigned long)(opt.gtid ? 4 : opt.pos));
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, (unsigned int)opt.server_id);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, (unsigned int)MARIADB_RPL_BINLOG_DUMP_NON_BLOCK);
    if (mariadb_rpl_open(rpl))
        die("mariadb_rpl_open", mysql_error(m));

    char file[256];
    snprintf(file, sizeof(file), "%s", opt.gtid ? "" : opt.file);
    MARIADB_RPL_EVENT *ev = NULL;
    while ((ev = mariadb_rpl_fetch(rpl, ev))) {
        int type = ev->event_type;
        if (type == ROTATE_EVENT) {
            snprintf(file, sizeof(file), "%.*s", (int)ev->event.rotate.filename.length,
                     ev->event.rotate.filename.str);
            continue;
        }
        if (opt.stop && !opt.gtid && !strcmp(file, opt.file) && ev->next_event_pos > opt.stop)
            break;
        if (type != TABLE_MAP_EVENT && !is_rows(type))
            continue;
        if (opt.no_decode) {
            nevents += is_rows(type);
            continue;
        }
        /* raw_data is the packet: raw_data_ofs bytes (the OK byte), then the
         * whole event as in the binlog file: 19-byte header (whose size field
         * counts the CRC), body, CRC32 when binlog_checksum=CRC32. Measured
         * with Connector/C 3.3.20; event_length is not reliable for this. */
        const uint8_t *hdr = ev->raw_data ? ev->raw_data + ev->raw_data_ofs : NULL;
        uint32_t evsize = hdr ? (uint32_t)hdr[9] | (uint32_t)hdr[10] << 8 |
                                (uint32_t)hdr[11] << 16 | (uint32_t)hdr[12] << 24 : 0;
        if (!hdr || hdr[4] != type || evsize < 19u + (crc ? 4u : 0u) ||
            ev->raw_data_size < ev->raw_data_ofs + evsize)
            die("mariadb_rpl", "event without its raw bytes");
        size_t blen = evsize - 19 - (crc ? 4 : 0);
        unsigned long pos = ev->next_event_pos - evsize;
        if (type == TABLE_MAP_EVENT)
            on_table_map(hdr + 19, blen);
        else
            on_rows(type, hdr + 19, blen, file, pos, rec, out);
    }
    /* mariadb_rpl_fetch frees the event when it returns NULL; after --stop
     * the last event is ours to free */
    if (ev)
        mariadb_free_rpl_event(ev);
    else if (mysql_errno(m))
        die("mariadb_rpl_fetch", mysql_error(m));
    mariadb_rpl_close(rpl);
    mysql_close(m);
}

int main(int argc, char **argv)
{
    opt.host = getenv("SL_MYSQL_HOST") ? getenv("SL_MYSQL_HOST") : "127.0.0.1";
    opt.port = getenv("SL_MYSQL_PORT") ? (unsigned)atoi(getenv("SL_MYSQL_PORT")) : 13306;
    opt.user = "root";
    opt.password = getenv("SL_MYSQL_ROOT_PASSWORD") ? getenv("SL_MYSQL_ROOT_PASSWORD") : "shiftlog";
    opt.server_id = 4242;
    opt.pos = 4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(s) (!strcmp(a, s) && v && ++i)
        if (ARG("-h")) opt.host = v;
        else if (ARG("-P")) opt.port = (unsigned)atoi(v);
        else if (ARG("-u")) opt.user = v;
        else if (ARG("-p")) opt.password = v;
        else if (ARG("-S")) opt.server_id = (unsigned)atoi(v);
        else if (ARG("-f")) opt.file = v;
        else if (ARG("-o")) opt.pos = strtoul(v, NULL, 10);
        else if (ARG("-g")) opt.gtid = v;
        else if (ARG("-F")) opt.local = v;
        else if (ARG("--batch")) opt.batch = (unsigned)atoi(v);
        else if (ARG("--repeat")) opt.repeat = (unsigned)atoi(v);
        else if (ARG("--table")) opt.only = v;
        else if (!strcmp(a, "--hints")) opt.hints = 1;
        else if (!strcmp(a, "--count")) opt.count = 1;
        else if (!strcmp(a, "--no-decode")) opt.no_decode = opt.count = 1;
        else if (ARG("--stop")) opt.stop = strtoul(v, NULL, 10);
        else {
            fprintf(stderr, "usage: it_binlog_dump [-h host] [-P port] [-u user] [-p password] "
                    "[-S server_id] (-f file [-o pos] | -g gtid | -F local-file) [--hints] "
                    "[--count] [--batch N] [--table db.table] [--repeat N]\n");
            return 2;
        }
    }
    if (!opt.file && !opt.gtid && !opt.local)
        die("arguments", "give -f FILE [-o POS], -g GTID or -F LOCAL-FILE");
    if (opt.hints)
        meta_conn = connect_db();

    sl_record_t *rec = sl_record_new();
    sl_buf_t out = SL_BUF_INIT;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (opt.local)
        dump_local(rec, &out);
    else
        dump_remote(rec, &out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (opt.count)
        printf("rows=%" PRIu64 " events=%" PRIu64 " seconds=%.3f rows_per_s=%.0f\n",
               nrows, nevents, secs, secs > 0 ? (double)nrows / secs : 0.0);
    for (int i = 0; i < MAX_TABLES; i++)
        if (slots[i].used)
            col_mysql_tablemap_free(&slots[i].tm);
    sl_buf_free(&out);
    sl_record_destroy(rec);
    if (meta_conn)
        mysql_close(meta_conn);
    return 0;
}
