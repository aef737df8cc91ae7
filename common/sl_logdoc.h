/* shiftlog: the documents of the shared log (docs/miner.md "Document format")
 * — the contract between the miner, which writes them, and their readers:
 * the applier's log source (applier/source_mongolog.c) and `shiftlog log`
 * (cli/log.c). Both directions are here, so that a field is spelled once and
 * record -> documents -> record is tested as one round trip (tests/unit/
 * test_logdoc.c) like the Avro codec.
 *
 * One document per change row, per COMMIT, per SCHEMA, and a gap marker
 * where changes could not be mined; `_id` = position key + type
 * (sl_bson_doc_id), so `_id` order is source order. The change rows of one
 * Kafka message share `offset` and have consecutive `sub` (the row index in
 * the message); a reader gives them back as one CHANGE record, so that the
 * record, its Kafka offset and its subOffsets are those of the topic.
 *
 * A table is named by two strings, `db` and `tbl`: the source's own names,
 * which may hold '.'. `table` is the same pair in the name form of
 * common/sl_name.h (`a.b`.c, a.`b.c`; shop.orders when no part holds '.'),
 * kept for queries, the (table, _id) index and control documents
 * ("table:<name form>"). Readers take `db`/`tbl` when the document has them
 * and fall back to `table` (gap documents of older miners carry only that).
 *
 * Nothing here talks to a server: the functions build and read bson_t. */
#ifndef SL_LOGDOC_H
#define SL_LOGDOC_H

#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "sl_err.h"
#include "sl_pos.h"
#include "sl_record.h"

/* Fields of every document. */
#define SL_LOGDOC_ID        "_id"
#define SL_LOGDOC_OP        "op"         /* sl_op_name(), or commit | schema | gap */
#define SL_LOGDOC_POS       "pos"        /* sl_pos_format() text */
#define SL_LOGDOC_TS        "ts"         /* event time, a BSON date (ms) */
#define SL_LOGDOC_TS_US     "ts_us"      /* the same in microseconds */
#define SL_LOGDOC_EXP       "exp"        /* the TTL index's field (retention) */
#define SL_LOGDOC_OFFSET    "offset"     /* Kafka offset of the message */
/* Tables. */
#define SL_LOGDOC_DB        "db"
#define SL_LOGDOC_TBL       "tbl"
#define SL_LOGDOC_TABLE     "table"
/* Change rows. */
#define SL_LOGDOC_SUB       "sub"
#define SL_LOGDOC_TXN       "txn"
#define SL_LOGDOC_SCHEMA    "schema"     /* schema id, 16 hex digits */
#define SL_LOGDOC_SERVER_ID "server_id"
#define SL_LOGDOC_FLAGS     "flags"
#define SL_LOGDOC_ORIGIN    "origin"
#define SL_LOGDOC_BEFORE    "before"
#define SL_LOGDOC_AFTER     "after"
#define SL_LOGDOC_SUPP      "supplemented"
/* Commits. */
#define SL_LOGDOC_ROWS      "rows"
/* Schemas. */
#define SL_LOGDOC_DDL       "ddl"
#define SL_LOGDOC_COLUMNS   "columns"
/* Gaps. */
#define SL_LOGDOC_FROM_OFFSET "from_offset"
#define SL_LOGDOC_TO_OFFSET   "to_offset"
#define SL_LOGDOC_REASON      "reason"

#define SL_LOGDOC_OP_COMMIT "commit"
#define SL_LOGDOC_OP_SCHEMA "schema"
#define SL_LOGDOC_OP_GAP    "gap"

/* The control collection (<collection>__control): the miner's progress and
 * one document per table it stopped, read by the log source and by
 * `shiftlog mining`. */
#define SL_LOGDOC_CTL_PROGRESS     "progress"    /* _id of the progress document */
#define SL_LOGDOC_CTL_WATERMARK    "watermark"   /* its last complete commit `_id` */
#define SL_LOGDOC_CTL_TABLE_PREFIX "table:"      /* _id of a table's state document */
#define SL_LOGDOC_CTL_STATE        "state"       /* one of the three below */
#define SL_LOGDOC_CTL_RUNNING      "running"
#define SL_LOGDOC_CTL_STOPPED      "stopped"
#define SL_LOGDOC_CTL_CATCHING_UP  "catching_up"
#define SL_LOGDOC_CTL_STOPPED_AT   "stopped_at"  /* {offset: first offset not mined} */
#define SL_LOGDOC_CTL_WANT         "want"        /* an operator's request (shiftlog mining) */
#define SL_LOGDOC_CTL_WANT_STOP    "stop"
#define SL_LOGDOC_CTL_WANT_RUN     "run"

/* ------------------------------------------------------------- writing */

typedef struct sl_logdoc_ctx_s {
    int64_t  offset;        /* Kafka offset of the message (-1: not written) */
    int      retention;     /* 1: set `exp` (the TTL field) */
} sl_logdoc_ctx_t;

/* The name form of (db, table) into out (returns out): unambiguous when a
 * name holds '.'; truncated to size. A NULL or empty db gives the table
 * alone (a table not tied to a database). */
char *sl_logdoc_table_name(const char *db, const char *table, char *out, size_t size);

/* Appends the ncols values of an image as fields named after the columns.
 * 0, or -1 when BSON refused a value. */
int sl_logdoc_image(bson_t *out, const sl_change_t *c, const sl_value_t *img);
/* The document of row `row` of a CHANGE record, into doc (initialised by
 * the caller); before/after: the images (sl_logdoc_image, possibly
 * supplemented) or NULL; supp_before/supp_after: NULL or a BSON array of
 * the column names the miner's supplement filled. */
int sl_logdoc_change(bson_t *doc, const sl_record_t *rec, uint32_t row, const bson_t *before,
                     const bson_t *after, const bson_t *supp_before, const bson_t *supp_after,
                     const sl_logdoc_ctx_t *ctx);
int sl_logdoc_commit(bson_t *doc, const sl_record_t *rec, const sl_logdoc_ctx_t *ctx);
/* No `exp` whatever the retention: a reader starting anywhere finds the
 * schema in force. */
int sl_logdoc_schema(bson_t *doc, const sl_record_t *rec, const sl_logdoc_ctx_t *ctx);
/* A gap marker: the changes of `table` ("*" = every table) after position
 * `after` (exclusive) up to Kafka offset to_offset (exclusive) are not in
 * the log and cannot be mined any more. No `exp`: reported as long as the
 * log exists. */
int sl_logdoc_gap(bson_t *doc, const char *table, const sl_pos_t *after, int64_t from_offset,
                  int64_t to_offset, const char *reason);

/* ------------------------------------------------------------- reading */

/* A string / number field, or NULL / def when absent or of another type. */
const char *sl_logdoc_str(const bson_t *d, const char *key);
int64_t     sl_logdoc_int(const bson_t *d, const char *key, int64_t def);
/* A Kafka offset (max INT64_MAX) or a row index (max SL_CHANGE_MAX_ROWS):
 * -1 when absent or out of range, so that a corrupt document cannot make
 * offset + 1 or a row count overflow. */
int64_t     sl_logdoc_index(const bson_t *d, const char *key, int64_t max);
/* The document's position (`pos`, else its `_id`). */
sl_err_t    sl_logdoc_pos(const bson_t *d, sl_pos_t *pos, char *errstr, size_t errstr_size);

/* The kind a column's BSON value is read back as (sl_bson_read_value's
 * hint: the schema in force knows it, SL_VAL_NULL when unknown). */
typedef sl_val_kind_t sl_logdoc_hint_fn(void *ctx, uint32_t idx, const char *name);

/* A commit document into rec (reset by the caller) for source `source`. */
sl_err_t sl_logdoc_read_commit(const bson_t *d, const char *source, sl_record_t *rec,
                               char *errstr, size_t errstr_size);
/* The change documents of one Kafka message (docs[0 .. n), same op and
 * offset, consecutive sub from docs[0]'s) into one CHANGE record (reset by
 * the caller) whose rows before sub0 carry no image (the reader skips them:
 * they were applied before). Sets *offset and *first_row (= sub0).
 * SL_ERR_DECODE with the document's `_id` when a document is not one the
 * miner writes. */
sl_err_t sl_logdoc_read_change(const bson_t *const *docs, size_t n, const char *source,
                               sl_logdoc_hint_fn *hint, void *hint_ctx, sl_record_t *rec,
                               int64_t *offset, uint32_t *first_row, char *errstr,
                               size_t errstr_size);

#endif
