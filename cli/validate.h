/* shiftlog validate: the engines a table pair is compared on, and the
 * comparison itself (docs/validate.md).
 *
 * A table is read in key order, by key ranges (after, upto]: after/upto are
 * arrays of nkey key values in *canonical text* (below), NULL = unbounded.
 * Every row is hashed on its own engine from the canonical text of its
 * columns; a range's checksum is (row count, XOR of the row hashes), so two
 * ranges holding the same rows give the same pair whatever the engine.
 *
 * Canonical text of a value (the form docs/type-matrix.md says each source
 * type arrives in): integers and DECIMAL/numeric as their decimal digits
 * with the column's scale ("12.30"); booleans "1"/"0"; DATE "YYYY-MM-DD";
 * DATETIME/TIMESTAMP "YYYY-MM-DD HH:MM:SS.ffffff" (UTC); TIME as signed
 * microseconds; text as its UTF-8 bytes; SET as the labels joined by ",";
 * bytes as lower-case hex; BIT(n) as n binary digits; FLOAT/DOUBLE as the
 * shortest text that reads back as the same double (a FLOAT widened to
 * double), fixed notation for exponents -4..14, else d.ddde<exp> without '+'
 * or leading zeros. A row's text is, column by column in the source's order,
 * "N" for NULL, else "<byte length>:<text>", or for a text or bytes column
 * (val_kind_digested) the 32 lower-case hex digits of MD5(<its bytes>) (the
 * raw bytes, not the hex): '' and NULL differ, no separator can be faked,
 * and no server builds a string as long as a large value's text (MariaDB
 * gives NULL past max_allowed_packet). Its hash is the first 64 bits of
 * MD5(row text). */
#ifndef SL_CLI_VALIDATE_H
#define SL_CLI_VALIDATE_H

#include <stdint.h>

#include "sl_buf.h"
#include "sl_err.h"

#define VAL_MAX_KEY 16
#define VAL_MAX_RANGES 4096

/* The value family of a source column: what a target's column of it must
 * be hashed as when its own type does not say (MongoDB documents). */
typedef enum {
    VK_INT, VK_DEC, VK_FLOAT, VK_BOOL, VK_DATE, VK_DATETIME, VK_TIME, VK_TEXT, VK_SET,
    VK_BYTES, VK_BIT
} val_kind_t;

typedef struct val_col_s {
    char      *name;
    val_kind_t kind;
    int        bits;      /* VK_BIT: n */
} val_col_t;

/* A source table as the comparison sees it: its columns (source order) and
 * its key (primary key, else a unique key of NOT NULL columns). */
typedef struct val_table_s {
    val_col_t *cols;
    uint32_t   ncols;
    uint32_t   key[VAL_MAX_KEY];   /* indexes into cols, key order */
    uint32_t   nkey;
} val_table_t;

void val_table_free(val_table_t *t);

/* One row's key (nkey canonical texts, owned) and hash. */
typedef struct val_row_s {
    char    *key[VAL_MAX_KEY];
    uint64_t hash;
} val_row_t;

void val_row_free(val_row_t *r, uint32_t nkey);

/* An engine holding one table of a pair. Key values cross engines as
 * canonical text; each engine turns them into its own literals. Errors:
 * SL_ERR_* with a sentence in errstr. */
typedef struct val_engine_s {
    void       *ctx;
    const char *name;        /* "MariaDB", "PostgreSQL", "MongoDB" */
    /* The source side: describes `table` (its columns' families and key).
     * NULL for an engine that can only be a target (MongoDB). */
    sl_err_t (*describe)(void *ctx, const char *table, val_table_t *out, char *errstr,
                         size_t errstr_size);
    /* Prepares the hash of `table` over the columns of t (matched by name:
     * a missing column is an error) in t's key order. */
    sl_err_t (*bind)(void *ctx, const char *table, const val_table_t *t, char *errstr,
                     size_t errstr_size);
    /* The key of the limit-th row after `after` into upto (owned by the
     * caller, val_row_free), *found = 0 when fewer rows follow. */
    sl_err_t (*boundary)(void *ctx, char *const *after, uint32_t limit, val_row_t *upto,
                         int *found, char *errstr, size_t errstr_size);
    /* boundary and checksum in one read of the source: the key of the
     * limit-th row after `after` into upto (*found as boundary's), and the
     * row count and XOR of the row hashes of those (at most limit) rows.
     * NULL: boundary, then checksum. */
    sl_err_t (*scan)(void *ctx, char *const *after, uint32_t limit, val_row_t *upto,
                     int *found, uint64_t *count, uint64_t *hash, char *errstr,
                     size_t errstr_size);
    /* Row count and XOR of the row hashes of (after, upto]. */
    sl_err_t (*checksum)(void *ctx, char *const *after, char *const *upto, uint64_t *count,
                         uint64_t *hash, char *errstr, size_t errstr_size);
    /* At most limit rows of (after, upto] in key order, with their hashes,
     * into rows (rows[i] owned by the caller); *n = how many. */
    sl_err_t (*rows)(void *ctx, char *const *after, char *const *upto, uint32_t limit,
                     val_row_t *rows, uint32_t *n, char *errstr, size_t errstr_size);
    /* Calls each(arg, db, table) for every table of the source (its user
     * tables: MariaDB's databases but the system ones, PostgreSQL's
     * schemas of the URL's database), in name order. NULL for a target-only
     * engine. */
    sl_err_t (*list)(void *ctx, sl_err_t (*each)(void *arg, const char *db, const char *table),
                     void *arg, char *errstr, size_t errstr_size);
    void (*destroy)(void *ctx);
} val_engine_t;

/* Opens an engine from a URL: mysql:// or mariadb://user:pass@host:port,
 * postgresql:// or postgres:// (libpq's URI), mongodb:// (libmongoc's). */
sl_err_t val_engine_open(val_engine_t *e, const char *url, char *errstr, size_t errstr_size);
sl_err_t val_my_open(val_engine_t *e, const char *url, char *errstr, size_t errstr_size);
sl_err_t val_pg_open(val_engine_t *e, const char *url, char *errstr, size_t errstr_size);
sl_err_t val_mongo_open(val_engine_t *e, const char *url, char *errstr, size_t errstr_size);

/* Key order of two canonical key texts of a column of family k: numbers by
 * value, everything else byte-wise (the order every engine is asked to
 * sort keys in). */
int val_key_cmp(val_kind_t k, const char *a, const char *b);
/* The same over a whole key. */
int val_keys_cmp(const val_table_t *t, char *const *a, char *const *b);
/* 1 when a key column of family k can be compared across engines. */
int val_key_kind_ok(val_kind_t k);
/* 1 when a column of family k is in the row text as the MD5 of its bytes. */
int val_kind_digested(val_kind_t k);
/* The first 64 bits of an MD5 digest, big-endian (as CONV(SUBSTR(hex, 1, 16))). */
uint64_t val_hash64(const uint8_t digest[16]);

/* ---- the SQL both SQL engines run (validate_sql.c) ---- */

/* What an SQL engine (validate_my.c, validate_pg.c) gives the shared steps:
 * its dialect and how a query is run and read. ctx is the engine's own
 * state, which starts with its val_sqle_t. */
typedef struct val_sql_ops_s {
    const char *xor_fmt;    /* the XOR aggregate of the row hash, "%s" = hash */
    const char *list_sql;   /* the source's tables: (db or schema, table) in name order */
    /* the table ("db"."t" [AS alias]) */
    sl_err_t (*table)(void *ctx, sl_buf_t *b);
    /* " WHERE <after < key <= upto>" (nothing when both are NULL) */
    sl_err_t (*where)(void *ctx, sl_buf_t *b, char *const *after, char *const *upto);
    /* Runs q (with what where() bound); the whole result, or NULL with a
     * sentence in errstr (`what` names the step). */
    void *(*query)(void *ctx, const sl_buf_t *q, const char *what, char *errstr,
                   size_t errstr_size);
    /* Moves to the result's next row: 0 past the last one. */
    int (*next)(void *ctx, void *res);
    /* Column i of the current row; "" for NULL. */
    const char *(*cell)(void *ctx, void *res, uint32_t i);
    void (*clear)(void *res);
} val_sql_ops_t;

/* The part of an SQL engine's state the shared steps use: the first member
 * of the engine's context, set by its bind. */
typedef struct val_sqle_s {
    const val_sql_ops_t *ops;
    const val_table_t   *t;
    char *const         *kexpr;    /* a key column's canonical text, key order */
    char *const         *korder;   /* what the key is ordered and compared by */
    sl_buf_t             hash;     /* the row hash expression */
    sl_buf_t             q;        /* the query being built */
} val_sqle_t;

/* The engine steps (val_engine_t's boundary, checksum, rows) of an SQL
 * engine: ctx starts with its val_sqle_t. */
sl_err_t val_sql_boundary(void *ctx, char *const *after, uint32_t limit, val_row_t *upto,
                          int *found, char *errstr, size_t errstr_size);
sl_err_t val_sql_checksum(void *ctx, char *const *after, char *const *upto, uint64_t *count,
                          uint64_t *hash, char *errstr, size_t errstr_size);
sl_err_t val_sql_scan(void *ctx, char *const *after, uint32_t limit, val_row_t *upto,
                      int *found, uint64_t *count, uint64_t *hash, char *errstr,
                      size_t errstr_size);
sl_err_t val_sql_rows(void *ctx, char *const *after, char *const *upto, uint32_t limit,
                      val_row_t *rows, uint32_t *n, char *errstr, size_t errstr_size);
sl_err_t val_sql_list(void *ctx, sl_err_t (*each)(void *arg, const char *db, const char *table),
                      void *arg, char *errstr, size_t errstr_size);
/* " ORDER BY <the key>". */
sl_err_t val_sql_order(const val_sqle_t *d, sl_buf_t *q);
void val_sqle_free(val_sqle_t *d);

/* ---- the comparison (validate_run.c) ---- */

typedef enum { VD_CHANGED, VD_MISSING, VD_EXTRA } val_diff_kind_t;

typedef struct val_opts_s {
    uint32_t chunk_rows;     /* rows per chunk (keyset on the source's key) */
    uint32_t leaf_rows;      /* a differing range this small is compared row by row */
    uint32_t max_keys;       /* differing keys listed; the rest are counted */
    int      retries;        /* re-checks of a differing range before it counts */
    int      retry_ms;       /* delay before each re-check */
    int      progress;       /* a progress line on stderr every 10 s */
} val_opts_t;

typedef struct val_diff_s {
    val_diff_kind_t kind;
    char           *key[VAL_MAX_KEY];
} val_diff_t;

/* A key range found to differ (for --repair): canonical texts, NULL =
 * unbounded. */
typedef struct val_range_s {
    char *after[VAL_MAX_KEY];
    char *upto[VAL_MAX_KEY];
    int   has_after, has_upto;
    int   repairable;   /* holds a changed or missing key (a re-snapshot cannot delete) */
} val_range_t;

typedef struct val_result_s {
    uint64_t     src_rows, tgt_rows;
    uint64_t     chunks, chunks_differing;
    uint64_t     chunks_rechecked; /* chunks that differed at their first read */
    uint64_t     ndiff;          /* differing keys found (listed or not) */
    uint64_t     nchanged, nmissing, nextra;
    val_diff_t  *diffs;          /* the first max_keys of them */
    uint32_t     ndiffs_listed;
    val_range_t *ranges;         /* differing leaf ranges (at most VAL_MAX_RANGES) */
    uint32_t     nranges;
    int          ranges_overflow; /* more differing ranges than kept: repair the table */
    double       seconds;
} val_result_t;

void val_result_free(val_result_t *r, uint32_t nkey);

/* Compares the bound table of src with that of dst over (after, upto] (NULL:
 * the whole table), chunk by chunk; adds to res. */
sl_err_t val_compare(val_engine_t *src, val_engine_t *dst, const val_table_t *t,
                     const val_opts_t *o, char *const *after, char *const *upto,
                     val_result_t *res, char *errstr, size_t errstr_size);

/* ---- --task (validate_task.c) ---- */

/* What an applier's config says about what to validate. */
typedef struct val_task_s val_task_t;

/* Reads the applier config at path: its target as a URL (*target, owned by
 * the task) and its table rules (tables, tables.exclude, map.tables,
 * map.columns, columns.include/exclude). */
sl_err_t val_task_load(val_task_t **out, const char *path, const char **target, char *errstr,
                       size_t errstr_size);
void val_task_free(val_task_t *tk);
/* The pairs the applier applies: every table of src its rules include,
 * with the target name they give it: *pairs = source, target, source, ...
 * (2 * *n strings, owned by the task). */
sl_err_t val_task_pairs(val_task_t *tk, val_engine_t *src, char ***pairs, int *n,
                        char *errstr, size_t errstr_size);
/* Applies the task's column rules to t (described from source table stab):
 * drops the columns the applier does not write (never a key column) from t
 * and fills tt with t's columns under their target names (the target's
 * bind takes tt; val_table_free). */
sl_err_t val_task_columns(val_task_t *tk, const char *stab, val_table_t *t, val_table_t *tt,
                          char *errstr, size_t errstr_size);

/* ---- --repair (validate_repair.c) ---- */

/* Asks the collector at base to copy the nranges ranges of table (source
 * name form db.table) again, or the whole table when `whole` (more ranges
 * differed than were kept) or there are many, and waits until its snapshot
 * queue is empty (timeout_s). Prints what it does on stderr. */
sl_err_t val_repair_request(const char *base, const char *table, const val_table_t *t,
                            const val_range_t *ranges, uint32_t nranges, int whole,
                            long timeout_s, char *errstr, size_t errstr_size);

#endif
