/* shiftlog: the record model — what travels on a source topic.
 *
 * One Kafka message carries one record (DESIGN "Wire format"):
 *   CHANGE  the rows of one source rows event / one table inside one
 *           transaction; the row index inside the batch is the subOffset;
 *   COMMIT  closes a source transaction, carries the position after it;
 *   FINISH  closes a stream segment (collector start/resume, snapshot end);
 *   SCHEMA  a table's columns, emitted before first use and on every DDL.
 *
 * Memory: a record owns an arena. Every string, byte buffer and array
 * reached from a record (names, values, rows) lives in that arena and is
 * valid until sl_record_reset() or sl_record_destroy(). The arena keeps its
 * blocks across resets, so a reused record does not allocate in steady state.
 * Values are lossless: see schemas/README.md for each source type. */
#ifndef SL_RECORD_H
#define SL_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include "sl_err.h"
#include "sl_pos.h"

typedef enum sl_rec_type_e {
    SL_REC_CHANGE = 0,
    SL_REC_COMMIT = 1,
    SL_REC_FINISH = 2,
    SL_REC_SCHEMA = 3
} sl_rec_type_t;

typedef enum sl_op_e {
    SL_OP_INSERT   = 0,
    SL_OP_UPDATE   = 1,
    SL_OP_DELETE   = 2,
    SL_OP_TRUNCATE = 3,
    SL_OP_READ     = 4   /* a snapshot row: the row as it is at the record's position
                          * (after image only); applied as an upsert */
} sl_op_t;

/* Kinds of a column value. The column's source type (in the SCHEMA record
 * and the CHANGE batch's column list) says what the source called it. */
typedef enum sl_val_kind_e {
    SL_VAL_NULL     = 0,
    SL_VAL_BOOL     = 1,
    SL_VAL_INT      = 2,  /* signed integers up to 64 bits, YEAR          u.i */
    SL_VAL_UINT     = 3,  /* unsigned 64-bit range                         u.u */
    SL_VAL_FLOAT    = 4,  /* FLOAT / float4                                u.f */
    SL_VAL_DOUBLE   = 5,  /* DOUBLE / float8                               u.d */
    SL_VAL_DECIMAL  = 6,  /* exact digits as text: "-12.3400", "NaN", "Infinity"  data/len */
    SL_VAL_STRING   = 7,  /* text in UTF-8 (or the column charset's bytes, see schema) data/len */
    SL_VAL_BYTES    = 8,  /* binary: BINARY, BLOB, bytea, GEOMETRY (WKB)   data/len */
    SL_VAL_TEMPORAL = 9,  /* u.t + canonical exact text in data/len */
    SL_VAL_BIT      = 10, /* u.bit.nbits + big-endian bytes in data/len */
    SL_VAL_SET      = 11, /* n labels, each NUL-terminated, back to back in data/len */
    SL_VAL_TYPED    = 12, /* a value kept as text with its type named: u.typed.type, data/len */
    SL_VAL_MISSING  = 13  /* not in the image: u.missing says why (never written as NULL) */
} sl_val_kind_t;

typedef enum sl_temporal_kind_e {
    SL_T_DATE        = 0,  /* micros = days since 1970-01-01 (not micros!) */
    SL_T_TIME        = 1,  /* micros = signed duration in µs (MySQL TIME may be negative / > 24h) */
    SL_T_DATETIME    = 2,  /* micros = µs since epoch of the wall-clock value, no zone */
    SL_T_TIMESTAMP   = 3,  /* micros = µs since epoch, UTC */
    SL_T_TIMETZ      = 4,  /* micros = µs of day, tz_offset_s = zone offset */
    SL_T_TIMESTAMPTZ = 5,  /* micros = µs since epoch, UTC; tz_offset_s as read */
    SL_T_INTERVAL    = 6   /* text only (PostgreSQL interval) */
} sl_temporal_kind_t;

typedef enum sl_missing_e {
    SL_MISSING_UNCHANGED_TOAST = 0, /* PostgreSQL 'u': value unchanged and not sent */
    SL_MISSING_NOT_IN_IMAGE    = 1  /* MySQL MINIMAL/NOBLOB image, PG old key-only image */
} sl_missing_t;

typedef struct sl_value_s {
    sl_val_kind_t kind;
    union {
        int      b;
        int64_t  i;
        uint64_t u;
        float    f;
        double   d;
        struct {
            sl_temporal_kind_t kind;
            int      has_micros;   /* 0 when not representable (zero date, infinity) */
            int64_t  micros;
            int      precision;    /* fractional digits 0..6 */
            int      has_tz;
            int32_t  tz_offset_s;
        } t;
        struct { uint32_t nbits; } bit;
        struct { const char *type; } typed;
        sl_missing_t missing;
    } u;
    const char *data;    /* payload, see kinds; NOT NUL-terminated in general */
    size_t      len;
    uint32_t    n;       /* SET: number of labels */
} sl_value_t;

/* One row change. before/after point at ncols values (or are NULL when the
 * image is absent: INSERT has no before, DELETE no after). */
typedef struct sl_row_s {
    sl_value_t *before;
    sl_value_t *after;
} sl_row_t;

typedef struct sl_change_s {
    const char *db;
    const char *table;
    sl_op_t     op;
    const char *txn;           /* transaction id: GTID / xid text */
    int64_t     event_time_us; /* source event (commit) time */
    uint64_t    schema_id;     /* fingerprint of the table schema record in force */
    uint32_t    server_id;     /* MySQL server_id of the event, 0 for PG */
    uint32_t    flags;         /* source event header flags (e.g. SKIP_REPLICATION) */
    const char *origin;        /* PG replication origin, NULL if none */
    uint32_t    ncols;
    const char **columns;      /* ncols column names */
    uint32_t    nrows;
    sl_row_t   *rows;
} sl_change_t;

typedef struct sl_commit_s {
    const char *txn;
    int64_t     event_time_us;
    uint32_t    server_id;
    uint64_t    nrows;         /* row changes in the transaction */
} sl_commit_t;

typedef struct sl_finish_s {
    const char *reason;        /* "start", "resume", "snapshot_end" */
    int64_t     time_us;
} sl_finish_t;

typedef struct sl_column_s {
    const char   *name;
    sl_val_kind_t kind;        /* value kind this column's values take (NULL aside) */
    const char   *source_type; /* as the source spells it: "decimal(65,30)", "int unsigned", "timestamptz" */
    int           nullable;
    int           precision;   /* DECIMAL precision / temporal fsp / char length; -1 unknown */
    int           scale;       /* DECIMAL scale; -1 unknown */
    const char   *charset;     /* NULL for non-text columns */
    uint32_t      nlabels;     /* ENUM / SET labels */
    const char  **labels;
    int           pk;          /* 1-based position in the primary key, 0 if not part of it */
    const char   *dflt;        /* the default as the text of a constant value (wire v3), what
                                  rows existing when the column is added get; NULL: none, a
                                  NULL default or an expression (not carried) */
} sl_column_t;

typedef struct sl_schema_s {
    const char  *db;
    const char  *table;
    uint32_t     ncols;
    sl_column_t *cols;
    const char  *ddl;          /* the DDL that produced this version, NULL if none */
} sl_schema_t;

/* A SCHEMA record with no columns: the table does not exist from its
 * position on (DROP TABLE, or renamed away: ddl says which). Its life ends
 * there; a later SCHEMA with columns starts a new one. No source table has
 * zero columns (MariaDB refuses them; a PostgreSQL table without columns
 * cannot carry a key, so it is never applied). */
static inline int sl_schema_dropped(const sl_schema_t *s)
{
    return s->ncols == 0;
}

/* 1 when the DDL text (len bytes; the SCHEMA's ddl) starts with keyword
 * (case-insensitive, whole word) after blanks and comments. A hint for what
 * a DDL did (a rename, a truncate), never a source of columns. */
int sl_ddl_is(const char *ddl, size_t len, const char *keyword);

typedef struct sl_arena_s sl_arena_t;

typedef struct sl_record_s {
    sl_rec_type_t type;
    const char   *source;      /* source name */
    sl_pos_t      pos;         /* CHANGE: row 0's position; COMMIT: position after the txn;
                                  FINISH: resume position; SCHEMA: position it takes effect */
    union {
        sl_change_t change;
        sl_commit_t commit;
        sl_finish_t finish;
        sl_schema_t schema;
    } u;
    sl_arena_t   *arena;
} sl_record_t;

/* Returns a new empty record; the caller owns it (sl_record_destroy). */
sl_record_t *sl_record_new(void);
/* Forgets the content, keeps the arena's memory for reuse. */
void sl_record_reset(sl_record_t *rec);
void sl_record_destroy(sl_record_t *rec);

/* Arena helpers: memory valid until the record is reset or destroyed.
 * They return NULL only when out of memory. */
void *sl_record_alloc(sl_record_t *rec, size_t size);        /* zeroed */
char *sl_record_strdup(sl_record_t *rec, const char *s);
char *sl_record_memdup(sl_record_t *rec, const void *p, size_t len); /* adds a NUL after len */

/* The most rows one CHANGE record holds (the collector's batch.max.rows
 * bound): a reader refuses a row index at or past it. */
#define SL_CHANGE_MAX_ROWS 1000000

/* Builders: start a CHANGE with room for nrows rows of ncols columns
 * (before/after arrays allocated per op: INSERT after, DELETE before,
 * UPDATE both). Column names are copied. */
sl_err_t sl_record_init_change(sl_record_t *rec, const char *source,
                               const char *db, const char *table, sl_op_t op,
                               uint32_t ncols, const char *const *columns,
                               uint32_t nrows);

/* The other record types. Like sl_record_init_change they set rec->type,
 * rec->source and the body, copy strings into the arena, leave rec->pos
 * alone and do not reset: call sl_record_reset() first to reuse a record.
 * init_schema allocates ncols zeroed columns (precision/scale -1) that the
 * caller fills (names etc. via sl_record_strdup). */
sl_err_t sl_record_init_commit(sl_record_t *rec, const char *source, const char *txn,
                               int64_t event_time_us, uint32_t server_id, uint64_t nrows);
sl_err_t sl_record_init_finish(sl_record_t *rec, const char *source, const char *reason,
                               int64_t time_us);
sl_err_t sl_record_init_schema(sl_record_t *rec, const char *source, const char *db,
                               const char *table, uint32_t ncols);

/* Value setters: copy data into the record's arena. For SL_VAL_SET,
 * sl_value_set_text counts the labels (NUL-terminated, back to back). */
sl_err_t sl_value_set_text(sl_record_t *rec, sl_value_t *v, sl_val_kind_t kind,
                           const void *data, size_t len);
sl_err_t sl_value_set_set(sl_record_t *rec, sl_value_t *v,
                          const char *const *labels, uint32_t n);
/* len must be (nbits + 7) / 8, else SL_ERR_INVALID. */
sl_err_t sl_value_set_bit(sl_record_t *rec, sl_value_t *v, uint32_t nbits,
                          const void *bytes, size_t len);
sl_err_t sl_value_set_typed(sl_record_t *rec, sl_value_t *v, const char *type,
                            const void *text, size_t len);
sl_err_t sl_value_set_temporal(sl_record_t *rec, sl_value_t *v, sl_temporal_kind_t kind,
                               const char *text, size_t len, int has_micros,
                               int64_t micros, int precision, int has_tz,
                               int32_t tz_offset_s);

/* Names for logs and JSON: "insert", "change", "string", ... (static). */
const char *sl_op_name(sl_op_t op);
const char *sl_rec_type_name(sl_rec_type_t t);
const char *sl_val_kind_name(sl_val_kind_t k);
const char *sl_temporal_kind_name(sl_temporal_kind_t k);
const char *sl_missing_name(sl_missing_t m);   /* "unchanged_toast", "not_in_image" */

/* Deep equality of two records (for tests and replay checks): 1 if equal. */
int sl_record_equal(const sl_record_t *a, const sl_record_t *b);
/* Equality of two values: floats compare by bits (NaN equals NaN, -0 is not 0). */
int sl_value_equal(const sl_value_t *a, const sl_value_t *b);

#endif
