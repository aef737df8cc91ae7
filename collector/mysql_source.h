/* shiftlog-collector, MySQL/MariaDB reader: what its files share.
 *   mysql_source.c     col_mysql_source (source.h): sessions' steps, the binlog
 *                      event loop, records
 *   mysql_preflight.c  connections (TLS), preflight checks, start positions
 *   mysql_stream.c     opening the binlog dump, ROTATE events
 *   mysql_snap.c       the snapshot engine in a session: its sink, the signal
 *                      table's watermark rows (snapshot_mysql.c reads the chunks)
 *   mysql_schema.c     table maps by id, SCHEMA records, information_schema
 *                      look-ups, DDL statements
 *   mysql_ddl_parse.c  which tables a DDL statement changes
 *   mysql_ddl_ahead.c  whether a later DDL on a table is in the binlog already */
#ifndef COL_MYSQL_SOURCE_H
#define COL_MYSQL_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <mysql.h>
#include <mariadb_rpl.h>

#include "collector.h"
#include "mysql_decode.h"
#include "source.h"

/* ------------------------------------------------------------ preflight */

typedef struct col_my_server_s {
    char     version[64];
    uint32_t server_id;
    int      is_mariadb;
    int      row_metadata_full;   /* binlog_row_metadata = FULL */
    int      row_image_full;
    char     checksum[16];        /* binlog_checksum: NONE / CRC32 */
} col_my_server_t;

/* Opens a client connection with the source.* and source.tls.* settings
 * (utf8mb4). NULL on failure: errstr says why; *fatal = 1 when retrying
 * cannot help (access denied, bad TLS files), 0 for network errors. The
 * caller closes it with mysql_close(). */
MYSQL *col_my_connect(const col_conf_t *conf, char *errstr, size_t errstr_size, int *fatal);

/* Checks the server can feed a ROW-based CDC reader: log_bin, binlog_format,
 * binlog_row_image (warns), binlog_row_metadata (warns), grants, server_id.
 * SL_ERR_INVALID with a sentence and the fixing SQL when it cannot. */
sl_err_t col_my_preflight(MYSQL *m, const col_conf_t *conf, col_my_server_t *srv,
                          char *errstr, size_t errstr_size);

/* Where to start: the checkpoint when ckpt != NULL, else start.position.
 * *pos gets file/offset (kind MYSQL) or only the GTID state in pos->gtid
 * (pos->file empty) for a GTID start. Checks the position is still on the
 * server (SHOW BINARY LOGS). SL_ERR_INVALID/SL_ERR_NOT_FOUND: fatal. */
sl_err_t col_my_start_position(MYSQL *m, const col_conf_t *conf, const sl_pos_t *ckpt,
                               sl_pos_t *pos, char *errstr, size_t errstr_size);

/* Runs a statement, or one returning a result: NULL + errstr on error. */
sl_err_t   col_my_exec(MYSQL *m, const char *sql, char *errstr, size_t errstr_size);
MYSQL_RES *col_my_query(MYSQL *m, const char *sql, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ stream (mysql_stream.c) */

/* Opens the binlog dump at start (file:pos, or the GTID state in
 * start->gtid when start->file is empty) on a new connection *repl, with
 * heartbeats; *crc = events end in a CRC32. *denied = 1 when the server
 * refused us for good. SL_ERR_INVALID: fatal; SL_ERR_DB: retry. */
sl_err_t col_my_stream_open(const col_conf_t *c, const sl_pos_t *start, MYSQL **repl,
                            MARIADB_RPL **rpl, int *crc, int *denied, char *errstr,
                            size_t errstr_size);
/* A ROTATE event: the next file name into file and its start *pos; cur
 * names the current file in errors. -1 when malformed. */
int col_my_rotate_parse(const MARIADB_RPL_EVENT *ev, int crc, const char *cur, char *file,
                        size_t file_size, uint64_t *pos, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ schema */

typedef struct col_my_schema_s col_my_schema_t;

/* One table map, by table id. */
typedef struct col_my_table_s {
    col_tablemap_t tm;
    int            included;      /* passes the table filter */
    uint64_t       schema_id;     /* fingerprint of its column list */
} col_my_table_t;

/* meta: a second connection for information_schema (borrowed); conf: for the
 * connections that fetch a past TABLE_MAP (borrowed). */
sl_err_t col_my_schema_new(col_my_schema_t **out, MYSQL *meta, const col_conf_t *conf,
                           const col_filter_t *filter, const col_my_server_t *srv);
void     col_my_schema_destroy(col_my_schema_t *s);

/* A TABLE_MAP event body: parses it (or finds the same one cached), applies
 * type hints. *emit = 1 when a SCHEMA record must be published before the
 * table's rows (first use since the start, or its columns changed); then
 * rec (reset by the caller) holds it. *out is valid until the next call
 * that may evict (another table_map / ddl). */
sl_err_t col_my_schema_table_map(col_my_schema_t *s, const uint8_t *body, size_t len,
                                 const char *file, uint64_t pos, const char *source,
                                 col_my_table_t **out, int *emit,
                                 sl_record_t *rec, char *errstr, size_t errstr_size);
/* At a transaction boundary: drops every cached table map when there are
 * many (table ids grow with DDL and table cache flushes). */
void col_my_schema_gc(col_my_schema_t *s);
/* The table map of a rows event; NULL when unknown. */
col_my_table_t *col_my_schema_find(col_my_schema_t *s, uint64_t table_id);

/* The SCHEMA a snapshot chunk of db.tb is published with (the snapshot
 * sink's schema): the catalog's definition now, built as at a TABLE_MAP, into
 * rec (reset by the caller; the column names are its own), and its
 * fingerprint. *emit = 1 when it is not the one last published for the table
 * (then the caller publishes rec before the rows). SL_ERR_NOT_FOUND: no such
 * table; SL_ERR_DB: information_schema unreachable. */
sl_err_t col_my_schema_snapshot(col_my_schema_t *s, const char *db, const char *tb,
                                const char *source, sl_record_t *rec, int *emit,
                                uint64_t *schema_id, char *errstr, size_t errstr_size);

/* A QUERY event's statement (ending at file:end_pos): when it is DDL on
 * tables, fills up to max tables into recs[] as SCHEMA records, with the
 * DDL text, for the included tables, and forgets their signatures so that
 * the next table map publishes the binlog's own view again. Columns: none
 * for a table the statement drops or renames away; else information_schema,
 * read now — the definition at this DDL unless a later DDL on the table is
 * in the binlog already (col_my_ddl_ahead): then no record here, and the
 * DDL text goes with the table's next SCHEMA (its next TABLE_MAP, whose
 * definition is the binlog's, or its next DDL); a rename's new name then
 * takes the old name's last published columns instead, so that the pair
 * "renamed away" + new name is never split. *n = records filled,
 * *deferred = included tables whose record was so deferred.
 * *is_ddl: the statement was DDL (even when no table passed the filter). */
#define COL_MY_DDL_MAX 16
sl_err_t col_my_schema_ddl(col_my_schema_t *s, const char *default_db, const char *sql,
                           size_t len, const char *file, uint64_t start_pos, uint64_t end_pos,
                           const char *source,
                           sl_record_t **recs, int max, int *n, int *deferred, int *is_ddl,
                           char *errstr, size_t errstr_size);

/* ---- mysql_catalog.c: a table's definition from information_schema ---- */

/* One row of information_schema.COLUMNS (and what else the catalog says of
 * the column), strings as the server returns them (NULL = SQL NULL). */
typedef struct col_my_catalog_row_s {
    const char *name;               /* COLUMN_NAME */
    const char *data_type;          /* DATA_TYPE: "int", "point", "longtext" */
    const char *column_type;        /* COLUMN_TYPE: "int(11) unsigned", "enum('a','b')" */
    int         nullable;           /* IS_NULLABLE = 'YES' */
    uint64_t    octet_length;       /* CHARACTER_OCTET_LENGTH, 0 when NULL */
    int         numeric_precision;  /* -1 when NULL */
    int         numeric_scale;      /* -1 when NULL */
    int         datetime_precision; /* -1 when NULL */
    uint32_t    collation_id;       /* COLLATIONS.ID of COLLATION_NAME, 0 when NULL */
    int         json;               /* a column CHECK (json_valid(`name`)): MariaDB's JSON */
    uint32_t    pk;                 /* 1-based position in the primary key, 0 if not in it */
    const char *column_default;     /* COLUMN_DEFAULT as MariaDB 10.2.7+ prints it: a quoted
                                       literal ('a''b'), a number, NULL, or an expression */
} col_my_catalog_row_t;

/* Column i of tm (from col_mysql_tablemap_init) as a TABLE_MAP with
 * binlog_row_metadata = FULL describes it, from its catalog row: binlog
 * type code, byte length, collation id (63 for the binary charset), fsp,
 * labels, key position, and the hints the binlog lacks. SL_ERR_UNSUPPORTED
 * (why names the column) for a type the collector does not know. */
sl_err_t col_my_catalog_column(col_tablemap_t *tm, uint32_t i, const col_my_catalog_row_t *r,
                               char *why, size_t why_size);

/* db.tb's definition now, read from information_schema over m, into tm (a
 * table map of 0 columns when the table does not exist; free it with
 * col_mysql_tablemap_free). key_order_too: key positions in key order (one
 * more query); else in column order (enough for hints). SL_ERR_DB when a
 * query failed (tm left empty); SL_ERR_UNSUPPORTED when a column's type is
 * unknown: tm is filled anyway, that column typed COL_MYSQL_T_NULL, and
 * errstr names it. */
sl_err_t col_my_catalog_table(MYSQL *m, int is_mariadb, int key_order_too, const char *db,
                              const char *tb, col_tablemap_t *tm, char *errstr,
                              size_t errstr_size);

/* A table a DDL statement names; gone: the statement drops it or renames it away. */
typedef struct col_my_ddl_target_s {
    char db[256];
    char tb[256];
    int  gone;
    int  from;     /* a new name: 1 + the index of the target renamed to it; else 0 */
} col_my_ddl_target_t;

/* Parses a statement: *is_ddl (0 no, 1 DDL, 2 DDL on tables or indexes:
 * CREATE/ALTER/DROP TABLE|INDEX, RENAME TABLE, TRUNCATE), the tables it
 * changes (up to max, returns how many), and for DROP DATABASE the database
 * in drop_db ("" otherwise). */
int col_my_ddl_parse(const char *default_db, const char *sql, size_t len,
                     col_my_ddl_target_t *t, int max, int *is_ddl, char *drop_db,
                     size_t drop_db_size);

/* When the statement is an ALTER TABLE that only drops columns (DROP [COLUMN]
 * [IF EXISTS] c, ...): their names in cols (up to max) and how many; else
 * -1 (any other clause, or more than max). */
int col_my_ddl_dropped_cols(const char *sql, size_t len, char (*cols)[256], int max);

/* When the statement is an ALTER TABLE that only renames columns (RENAME
 * COLUMN [IF EXISTS] a TO b, ...): the old and new names (up to max) and
 * how many; else -1. */
int col_my_ddl_renamed_cols(const char *sql, size_t len, char (*from)[256], char (*to)[256],
                            int max);

/* A column an ALTER TABLE adds, with its DEFAULT as written. */
typedef struct col_my_added_col_s {
    char  name[256];
    char *dflt;          /* a constant's text (quotes undone), malloc'd; NULL: no default,
                            DEFAULT NULL, or an expression */
    int   expr;          /* the default is an expression (no constant to carry) */
} col_my_added_col_t;

/* The columns an ALTER TABLE adds (ADD [COLUMN] [IF NOT EXISTS] c type ...,
 * in any clause list; the other clauses are skipped), up to max, with their
 * DEFAULT literal: how many, or -1 when the statement is not an ALTER
 * TABLE. The caller frees each dflt. */
int col_my_ddl_added_cols(const char *sql, size_t len, col_my_added_col_t *out, int max);

/* ---- mysql_ddl_default.c: defaults of added columns from the DDL text ---- */

/* The defaults of columns added by ALTERs whose SCHEMA has not carried them
 * yet (a DDL read behind the server), by column name. */
typedef struct col_my_dflts_s {
    col_my_added_col_t *v;
    int                 n, cap;
} col_my_dflts_t;

/* A DDL of the table, in binlog order: renames and drops follow the kept
 * names; the defaults of the columns it adds are kept. */
void col_my_dflts_note(col_my_dflts_t *d, const char *sql, size_t len);

/* rec, a SCHEMA of the table about to be published after last (NULL: none):
 * each column not in last, without a default, with one kept, gets it (when
 * its form is carried for the column's kind; else a WARN); every kept one
 * whose column rec has is forgotten. */
sl_err_t col_my_dflts_fill(col_my_dflts_t *d, const sl_record_t *last, sl_record_t *rec);

void col_my_dflts_clear(col_my_dflts_t *d);

/* lit (a DEFAULT literal, quotes undone) as the catalog's text of it for
 * column c (malloc'd), or NULL when not a form carried for c's kind. */
char *col_my_default_text(const sl_column_t *c, const char *lit);

/* ---- mysql_schema_last.c: a SCHEMA derived from the last one published ---- */

/* d (reset here) = the columns of SCHEMA src under the name db.tb, no DDL text
 * (deep copies in d's arena). */
sl_err_t col_my_schema_copy(sl_record_t *d, const sl_record_t *src, const char *db,
                            const char *tb);
/* rec = last without the columns cols[0..n) / with from[i] renamed to[i];
 * SL_ERR_UNSUPPORTED when that is not a definition (a key column dropped, a
 * name not there). */
sl_err_t col_my_schema_without(const sl_record_t *last, char (*cols)[256], int n,
                               const char *db, const char *tb, sl_record_t *rec);
sl_err_t col_my_schema_renamed(const sl_record_t *last, char (*from)[256], char (*to)[256],
                               int n, const char *db, const char *tb, sl_record_t *rec);

/* *later = 1 when the binlog holds, after file:pos and up to the server's
 * current end, a DDL that changes db.tb (or drops its database) — then
 * information_schema no longer shows db.tb as it was at file:pos. Then
 * map_file:*map_pos is the first TABLE_MAP of db.tb before that DDL (the
 * definition in between), *map_pos = 0 when there is none. Scans at most
 * COL_MY_AHEAD_MAX events with SHOW BINLOG EVENTS (BINLOG MONITOR);
 * beyond that, or when a statement cannot be parsed but names the table,
 * it answers 1 without a map (the safe side). m: a client connection. */
#define COL_MY_AHEAD_MAX 2000000
sl_err_t col_my_ddl_ahead(MYSQL *m, const char *file, uint64_t pos, const char *db,
                          const char *tb, int *later, char *map_file, size_t map_file_size,
                          uint64_t *map_pos, char *errstr, size_t errstr_size);

/* Reads the one binlog event of the given type at file:pos over its own
 * connection and binlog dump (server_id 0); *body = its body (after the
 * 19-byte header, without the checksum), malloc'ed: the caller frees it.
 * SL_ERR_DB: no connection; SL_ERR_UNSUPPORTED / SL_ERR_DECODE: the dump was
 * refused or did not give that event. */
sl_err_t col_my_fetch_event(const col_conf_t *conf, const char *file, uint64_t pos, int type,
                            uint8_t **body, size_t *len, char *errstr, size_t errstr_size);

/* ---- mysql_snap.c: the snapshot engine (snapshot.h) inside a binlog session ---- */

typedef struct col_my_snap_s col_my_snap_t;

/* How the session publishes a record in stream order, counting its rows into
 * the source transaction being read (so that its COMMIT is published). */
typedef sl_err_t (*col_my_put_fn)(void *reader, sl_record_t *rec, char *errstr,
                                  size_t errstr_size);

/* The engine's side in one session: *sink (filled here) publishes through
 * put, with SCHEMA records from schema's catalog; watermarks go to the
 * supervisor's engine (col_sup_watermark). schema, sup: borrowed for the
 * session. The caller frees *out with col_my_snap_destroy. */
sl_err_t col_my_snap_new(col_my_snap_t **out, const col_conf_t *conf, col_my_schema_t *schema,
                         col_sup_t *sup, col_my_put_fn put, void *reader,
                         col_snap_sink_t *sink, char *errstr, size_t errstr_size);
void     col_my_snap_destroy(col_my_snap_t *ms);
/* 1 when db.tb is the signal table (its rows and SCHEMA are never published). */
int      col_my_snap_is_signal(const col_my_snap_t *ms, const char *db, const char *tb);
/* The TABLE_MAP of the signal table at pos: SCHEMA records a chunk needs go
 * there, before the watermark's rows. */
void     col_my_snap_map_pos(col_my_snap_t *ms, const sl_pos_t *pos);
/* A rows event of the signal table (tm its map) at pos: every watermark of
 * this source in its after images goes to the engine, which publishes the
 * chunk at HIGH through put. */
sl_err_t col_my_snap_signal_rows(col_my_snap_t *ms, const col_tablemap_t *tm, int event_type,
                                 const uint8_t *body, size_t len, const sl_pos_t *pos,
                                 const char *txn, int64_t time_us, char *errstr,
                                 size_t errstr_size);

#endif
