/* shiftlog collector: our own decoder of MySQL/MariaDB binlog row events.
 *
 * libmariadb's mariadb_rpl gives us the transport and the event framing;
 * this module turns the raw bytes of TABLE_MAP and WRITE/UPDATE/DELETE_ROWS
 * (v1: types 23/24/25, v2: 30/31/32) into shiftlog records (sl_record.h).
 *
 * "body" below is always an event's bytes after the 19-byte common header,
 * without the 4-byte CRC32 trailer: post-header + payload.
 *
 * Value mapping (docs/mysql-types.md has the full table and the reasons):
 *   TINYINT..INT, signed or unsigned, MEDIUMINT, YEAR -> SL_VAL_INT (they fit)
 *   BIGINT -> SL_VAL_INT, BIGINT UNSIGNED -> SL_VAL_UINT (for every value)
 *   DECIMAL -> SL_VAL_DECIMAL digits ("-0.000100"), exactly `scale` decimals
 *   FLOAT/DOUBLE -> SL_VAL_FLOAT/SL_VAL_DOUBLE;  BIT(n) -> SL_VAL_BIT
 *   DATE/TIME/DATETIME/TIMESTAMP -> SL_VAL_TEMPORAL (text as the server
 *     prints it; TIMESTAMP text in UTC; zero dates: has_micros = 0)
 *   text in utf8mb3/utf8mb4/ascii -> SL_VAL_STRING, bytes as they are;
 *   text in latin1 -> SL_VAL_STRING converted to UTF-8 (MariaDB's cp1252
 *     table, lossless); text in any other charset, binary charset,
 *     BINARY/VARBINARY/BLOB, GEOMETRY (4-byte SRID + WKB) -> SL_VAL_BYTES;
 *     BINARY(n) gets back the trailing 0x00 bytes the binlog strips.
 *   ENUM -> SL_VAL_STRING label ('' for the invalid index 0), SET -> SL_VAL_SET
 *   INET6/INET4/UUID (MariaDB) look like BINARY(16)/BINARY(4) in the binlog:
 *     with a type hint (col_mysql_tablemap_set_hint) they become SL_VAL_TYPED
 *     "inet6"/"inet4"/"uuid" with the server's text; without one, bytes.
 *   a column absent from the row image -> SL_VAL_MISSING (NOT_IN_IMAGE). */
#ifndef COL_MYSQL_DECODE_H
#define COL_MYSQL_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include "sl_buf.h"
#include "sl_err.h"
#include "sl_record.h"

/* Binlog column type codes (the server's enum_field_types). */
enum {
    COL_MYSQL_T_DECIMAL = 0,   COL_MYSQL_T_TINY = 1,       COL_MYSQL_T_SHORT = 2,
    COL_MYSQL_T_LONG = 3,      COL_MYSQL_T_FLOAT = 4,      COL_MYSQL_T_DOUBLE = 5,
    COL_MYSQL_T_NULL = 6,      COL_MYSQL_T_TIMESTAMP = 7,  COL_MYSQL_T_LONGLONG = 8,
    COL_MYSQL_T_INT24 = 9,     COL_MYSQL_T_DATE = 10,      COL_MYSQL_T_TIME = 11,
    COL_MYSQL_T_DATETIME = 12, COL_MYSQL_T_YEAR = 13,      COL_MYSQL_T_NEWDATE = 14,
    COL_MYSQL_T_VARCHAR = 15,  COL_MYSQL_T_BIT = 16,       COL_MYSQL_T_TIMESTAMP2 = 17,
    COL_MYSQL_T_DATETIME2 = 18, COL_MYSQL_T_TIME2 = 19,
    COL_MYSQL_T_VARCHAR_COMPRESSED = 140, COL_MYSQL_T_BLOB_COMPRESSED = 141,
    COL_MYSQL_T_JSON = 245,    COL_MYSQL_T_NEWDECIMAL = 246, COL_MYSQL_T_ENUM = 247,
    COL_MYSQL_T_SET = 248,     COL_MYSQL_T_TINY_BLOB = 249, COL_MYSQL_T_MEDIUM_BLOB = 250,
    COL_MYSQL_T_LONG_BLOB = 251, COL_MYSQL_T_BLOB = 252,   COL_MYSQL_T_VAR_STRING = 253,
    COL_MYSQL_T_STRING = 254,  COL_MYSQL_T_GEOMETRY = 255
};

/* Binlog event type codes this module decodes. */
enum {
    COL_MYSQL_EV_TABLE_MAP = 19,
    COL_MYSQL_EV_WRITE_ROWS_V1 = 23, COL_MYSQL_EV_UPDATE_ROWS_V1 = 24,
    COL_MYSQL_EV_DELETE_ROWS_V1 = 25,
    COL_MYSQL_EV_WRITE_ROWS_V2 = 30, COL_MYSQL_EV_UPDATE_ROWS_V2 = 31,
    COL_MYSQL_EV_DELETE_ROWS_V2 = 32
};

/* What the binlog cannot say about a column: MariaDB's INET6, INET4 and
 * UUID are fixed binary strings there, its JSON a LONGTEXT (with a
 * CHECK (json_valid(`col`))). The collector learns the real type from
 * information_schema and sets it as a hint. */
typedef enum col_mysql_hint_e {
    COL_MYSQL_HINT_NONE  = 0,
    COL_MYSQL_HINT_INET6 = 1,
    COL_MYSQL_HINT_INET4 = 2,
    COL_MYSQL_HINT_UUID  = 3,
    COL_MYSQL_HINT_JSON  = 4
} col_mysql_hint_t;

typedef struct col_mysql_column_s {
    uint8_t     type;        /* binlog type code (COL_MYSQL_T_*) */
    uint8_t     real_type;   /* STRING's real type: STRING, ENUM or SET; else = type */
    uint16_t    meta;        /* raw per-type metadata (0, 1 or 2 bytes, little-endian) */
    uint32_t    length;      /* CHAR/VARCHAR/BINARY max bytes; BLOB/GEOMETRY/JSON/
                                ENUM/SET pack length; BIT number of bits */
    uint8_t     precision;   /* NEWDECIMAL precision */
    uint8_t     scale;       /* NEWDECIMAL scale; temporal fsp 0..6 (legacy types:
                                from col_mysql_tablemap_set_fsp) */
    uint8_t     nullable;
    uint8_t     is_unsigned; /* from the SIGNEDNESS metadata (numeric columns) */
    uint32_t    charset;     /* collation id, 0 when unknown or not a text column */
    uint32_t    geometry_type; /* GEOMETRY_TYPE metadata: 0 geometry, 1 point, ... */
    uint32_t    pk;          /* 1-based position in the primary key, 0 if not in it */
    uint32_t    pk_prefix;   /* key prefix length in characters, 0 = whole column */
    col_mysql_hint_t hint;
    uint8_t     display_width; /* integer display width that means something (tinyint(1)
                                  = BOOL, ZEROFILL), from the catalog; 0 = none */
    uint8_t     zerofill;
    const char *name;        /* COLUMN_NAME metadata, else "@<n>" (1-based) */
    uint32_t    nlabels;     /* ENUM/SET labels (ENUM_STR_VALUE / SET_STR_VALUE) */
    const char **labels;     /* NUL-terminated, converted to UTF-8 like the values */
    uint32_t   *label_lens;
    const char *dflt;        /* a constant default as its value's text (the catalog's
                                COLUMN_DEFAULT; never in the binlog), NULL = none */
    uint8_t     dflt_expr;   /* dflt is an expression's SQL text: not carried */
} col_mysql_column_t;

/* A decoded TABLE_MAP with copies of everything (the event's memory is
 * reused by the next fetch). Owned by the caller: col_mysql_tablemap_free(). */
typedef struct col_tablemap_s {
    uint64_t            table_id;
    uint16_t            flags;
    char               *db;
    char               *table;
    uint32_t            ncols;
    col_mysql_column_t *cols;
    const char        **names;        /* ncols column names (for CHANGE records) */
    int                 has_names;    /* COLUMN_NAME metadata was present */
    int                 has_signedness;
    int                 has_charsets;
    int                 has_labels;   /* every ENUM/SET column got its labels */
    uint32_t            npk;          /* primary key columns */
    struct col_tm_mem_s *mem;
} col_tablemap_t;

/* Parses a TABLE_MAP body into out (whose previous content must have been
 * freed or zeroed). On error fills errstr (naming the table when known and
 * the byte offset) and returns SL_ERR_DECODE; out is left empty. */
sl_err_t col_mysql_tablemap_parse(const uint8_t *body, size_t len, col_tablemap_t *out,
                                  char *errstr, size_t errstr_size);
void     col_mysql_tablemap_free(col_tablemap_t *tm);

/* Sets the real type of column i (see col_mysql_hint_t). Returns
 * SL_ERR_INVALID when the column cannot hold it (INET6/UUID need a
 * BINARY(16), INET4 a BINARY(4), JSON a LONGTEXT). */
sl_err_t col_mysql_tablemap_set_hint(col_tablemap_t *tm, uint32_t i, col_mysql_hint_t hint);
/* Sets the display width of integer column i where it means something to the
 * type (tinyint(1), ZEROFILL; the binlog has no display widths).
 * SL_ERR_INVALID for other columns. */
sl_err_t col_mysql_tablemap_set_width(col_tablemap_t *tm, uint32_t i, unsigned width,
                                      int zerofill);

/* An empty table map of ncols zeroed columns, for a definition built from
 * elsewhere than a TABLE_MAP (mysql_catalog.c). Free with
 * col_mysql_tablemap_free(). */
sl_err_t col_mysql_tablemap_init(col_tablemap_t *tm, const char *db, const char *table,
                                 uint32_t ncols);
/* Memory owned by tm (zeroed; freed with it); NULL when out of memory. */
void    *col_mysql_tablemap_alloc(col_tablemap_t *tm, size_t size);
char    *col_mysql_tablemap_strdup(col_tablemap_t *tm, const char *s, size_t len);

/* MariaDB 5.3-format TIME(n)/DATETIME(n)/TIMESTAMP(n) (tables created with
 * mysql56_temporal_format=OFF) appear as the legacy types 11/12/7 WITHOUT
 * metadata, and their size depends on n: the binlog alone cannot be
 * decoded. The collector must set n from information_schema.COLUMNS
 * .DATETIME_PRECISION for every table map that has one of these types
 * (until then they are read as n = 0). SL_ERR_INVALID for other columns. */
sl_err_t col_mysql_tablemap_set_fsp(col_tablemap_t *tm, uint32_t i, unsigned fsp);

/* Fills rec (reset by the caller) with a SCHEMA record of the table map:
 * names, kinds, source types ("decimal(65,30)", "int unsigned",
 * "varchar(255)", "enum('a','b')", "inet6"), nullability, charsets,
 * labels and primary key. */
sl_err_t col_mysql_schema_from_tablemap(const col_tablemap_t *tm, const char *source,
                                        sl_record_t *rec, char *errstr, size_t errstr_size);

/* Reading a rows event, possibly in several batches (bounded memory).
 * The cursor points into body, which must stay valid while it is used. */
typedef struct col_rows_cursor_s {
    const uint8_t *body;
    size_t         len;
    int            event_type;
    int            version;        /* 1 or 2 */
    sl_op_t        op;
    uint64_t       table_id;
    uint16_t       flags;          /* rows event flags (STMT_END_F = 1, ...) */
    uint32_t       ncols;
    const uint8_t *present;        /* columns-present bitmap (before image for UPDATE) */
    const uint8_t *present_after;  /* UPDATE: after image bitmap; else = present */
    size_t         rows_start;     /* byte offset of the first row image */
    size_t         offset;         /* byte offset of the next row image */
    uint32_t       row;            /* index of the next row */
} col_rows_cursor_t;

/* Reads the post-header of a rows event: table id, flags, bitmaps. */
sl_err_t col_mysql_rows_open(col_rows_cursor_t *cur, int event_type,
                             const uint8_t *body, size_t len,
                             char *errstr, size_t errstr_size);
/* 1 when every row has been read. */
int      col_mysql_rows_done(const col_rows_cursor_t *cur);

/* Decodes up to max_rows rows (0 = all the rest) of the event into rec
 * (reset by the caller) as one CHANGE record: db, table, op, column names,
 * rows (before/after). With append, rec already is a CHANGE of this table
 * and op (an earlier event's rows) and the rows are added after its own.
 * Advances the cursor. tm must be the table map of cur->table_id. On error
 * (truncated or inconsistent data) fills errstr naming table, column, row
 * and byte offset, and returns SL_ERR_DECODE; never reads outside body. */
sl_err_t col_mysql_rows_next(col_rows_cursor_t *cur, const col_tablemap_t *tm,
                             const char *source, uint32_t max_rows, int append,
                             sl_record_t *rec, char *errstr, size_t errstr_size);

/* col_mysql_rows_next bounded by the record's encoded size too. *bytes is
 * the size of rec's Avro encoding (sl_avro_record_size) so far, kept by the
 * caller across appends: a new record (append = 0) sets it to its size
 * without rows plus COL_MYSQL_BATCH_SLACK (what the caller sets after the
 * call: position, txn, times, origin; the growing row count). Decoding
 * stops before a row that would take *bytes past max_bytes (0 = no bound),
 * leaving the cursor on that row; a record without rows takes its first row
 * whatever its size (the publisher reports a single row above the limit).
 * *bytes is updated with every row added. */
#define COL_MYSQL_BATCH_SLACK 512
sl_err_t col_mysql_rows_next_sized(col_rows_cursor_t *cur, const col_tablemap_t *tm,
                                   const char *source, uint32_t max_rows, size_t max_bytes,
                                   int append, sl_record_t *rec, size_t *bytes,
                                   char *errstr, size_t errstr_size);

/* One-shot form: rows [first_row, first_row + max_rows) of a rows event;
 * *next_row receives the index after the last row decoded, or UINT32_MAX
 * when the event has no more rows. Skipping to first_row costs a scan of
 * the rows before it: use the cursor to read an event in order. */
sl_err_t col_mysql_rows_decode(const col_tablemap_t *tm, int event_type,
                               const uint8_t *body, size_t len, const char *source,
                               uint32_t first_row, uint32_t max_rows, sl_record_t *rec,
                               uint32_t *next_row, char *errstr, size_t errstr_size);

/* ---- inside the decoder (mysql_types.c), exported for the row decoder and tests ---- */

/* Decodes one non-NULL value of column c at p (avail bytes). Sets *used to
 * its size. With rec == NULL only measures (skipping rows). On error writes
 * the cause into why and returns SL_ERR_DECODE or SL_ERR_UNSUPPORTED. */
sl_err_t col_mysql_value_decode(const col_mysql_column_t *c, const uint8_t *p, size_t avail,
                                size_t *used, sl_record_t *rec, sl_value_t *v,
                                char *why, size_t why_size);
/* Charset of a collation id: name ("utf8mb4", "latin1", "binary") and the
 * maximum bytes per character; NULL / 1 when unknown. */
const char *col_mysql_charset_name(uint32_t collation, int *mbmaxlen);
/* The value kind that text of this collation becomes (STRING or BYTES). */
sl_val_kind_t col_mysql_charset_kind(uint32_t collation);
/* Converts latin1 (MariaDB's cp1252 variant) to UTF-8; out needs 3*len
 * bytes. Returns the UTF-8 length. */
size_t col_mysql_latin1_to_utf8(const uint8_t *in, size_t len, char *out);
/* Text forms of MariaDB's INET6 (as the server prints it) and UUID. out
 * needs 46 / 37 bytes. Return the length. */
size_t col_mysql_inet6_text(const uint8_t b[16], char *out);
size_t col_mysql_uuid_text(const uint8_t b[16], char *out);
/* Appends the type name as the server spells it ("int unsigned",
 * "datetime(6)", "enum('a','b')") to out. */
sl_err_t col_mysql_source_type(const col_mysql_column_t *c, sl_buf_t *out);
/* Value kind of a column's non-NULL values. */
sl_val_kind_t col_mysql_column_kind(const col_mysql_column_t *c);

/* ---- the inverse, for the snapshot reader (mysql_pack.c) ---- */

/* A DATE, TIME2, DATETIME2 or TIMESTAMP2 value of column c as the server
 * prints it ("-838:59:59.5", "2024-02-29 13:45:00.123456", TIMESTAMP in
 * UTC, zero dates as zeros; exactly c->scale fractional digits or fewer)
 * -> the bytes the binlog holds for it (out: 16 bytes, *n set). -1 when the
 * text is not such a value. */
int col_mysql_pack_temporal(const col_mysql_column_t *c, const char *text, uint8_t *out,
                            size_t *n);
/* DECIMAL digits as the server prints them ("-12.3400", "0.5") -> the
 * binlog's binary decimal of column c (out: 40 bytes, *n set). -1 when the
 * digits do not fit c's precision and scale. */
int col_mysql_pack_decimal(const col_mysql_column_t *c, const char *text, size_t len,
                           uint8_t *out, size_t *n);

#endif
