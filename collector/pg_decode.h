/* shiftlog collector, PostgreSQL: the pgoutput decoder and the type layer.
 *
 * pg_types.c   text output of a column (pgoutput sends text) -> lossless
 *              sl_value_t, chosen by the column's type OID (schemas/README.md
 *              "PostgreSQL 15 types"). Built-in OIDs are known statically;
 *              other types (enums, domains, arrays, composites, extension
 *              types) are described by the catalog through a resolver
 *              callback (pg_source.c queries pg_type; the unit test fakes it).
 * pg_decode.c  pgoutput protocol 1/2 messages (Begin, Commit, Origin,
 *              Relation, Type, Insert, Update, Delete, Truncate, Message and
 *              the stream messages' xid prefix) -> sl_record_t CHANGE /
 *              COMMIT / SCHEMA records, handed in source order to a sink.
 *              Streamed transactions are not assembled here: pg_stream.c
 *              spills their chunks and replays them through
 *              pg_dec_replay_*() at stream commit.
 *
 * Positions (sl_pos.h, PG): seq = commit LSN, offset = change LSN (the WAL
 * position pgoutput stamps on the message), row = ordinal of the row change
 * inside its transaction (0, 1, 2, ... over all tables). (commit LSN, row)
 * alone is unique; the ordinal does not depend on batching, Relation
 * messages or stream chunking, so a transaction decoded again after a
 * restart gets exactly the same positions. A CHANGE batch holds consecutive
 * rows of one table and one op; row i is at pos.row + i and shares row 0's
 * change LSN. COMMIT: (commit LSN, end LSN, rows). The checkpoint LSN of a
 * COMMIT is its end LSN (pg_dec_pos_lsn), which is what the slot may confirm.
 * FINISH (written by pg_source.c): (resume LSN, 0, 0). */
#ifndef COL_PG_DECODE_H
#define COL_PG_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include "sl_buf.h"
#include "sl_err.h"
#include "sl_pos.h"
#include "sl_record.h"

/* PostgreSQL epoch (2000-01-01) in Unix microseconds. */
#define PG_EPOCH_US 946684800000000LL

/* ------------------------------------------------------------ types */

/* How the text of a type becomes a value. */
typedef enum pg_conv_e {
    PG_CONV_TYPED = 0,   /* SL_VAL_TYPED with the type's name (the default) */
    PG_CONV_INT,         /* int2, int4, int8, oid */
    PG_CONV_DECIMAL,     /* numeric */
    PG_CONV_FLOAT4,
    PG_CONV_FLOAT8,
    PG_CONV_BOOL,
    PG_CONV_STRING,      /* text, varchar, bpchar, name, "char", json, jsonb, citext, enums */
    PG_CONV_BYTEA,
    PG_CONV_DATE,
    PG_CONV_TIME,
    PG_CONV_TIMETZ,
    PG_CONV_TIMESTAMP,
    PG_CONV_TIMESTAMPTZ,
    PG_CONV_INTERVAL,
    PG_CONV_BIT          /* bit, varbit */
} pg_conv_t;

/* What the catalog says about a type OID (pg_source.c: one pg_type query). */
typedef struct pg_typdesc_s {
    char     typtype;       /* b base, c composite, d domain, e enum, p pseudo, r range, m multirange */
    char     category;      /* typcategory: 'A' array, ... */
    uint32_t basetype;      /* domains: typbasetype (resolved to a non-domain by the resolver) */
    uint32_t elemtype;      /* arrays: typelem */
    char     name[128];     /* typname, e.g. "mood", "_int4" */
    uint32_t nlabels;       /* enums: labels in pg_enum.enumsortorder order */
    char   **labels;        /* malloc'd by the resolver; the type cache takes ownership */
} pg_typdesc_t;

/* Returns SL_OK and fills *out, or an error (the type is then carried as
 * Typed "oid<N>" text: never lost). */
typedef sl_err_t (*pg_type_resolver_fn)(void *ctx, uint32_t oid, pg_typdesc_t *out,
                                        char *errstr, size_t errstr_size);

typedef struct pg_type_s {
    uint32_t    oid;
    pg_conv_t   conv;
    const char *name;       /* name carried in Typed values / used as sourceType base */
    sl_val_kind_t kind;     /* value kind of the conv */
    sl_temporal_kind_t tkind;
    uint32_t    nlabels;
    char      **labels;
} pg_type_t;

typedef struct pg_types_s pg_types_t;

sl_err_t pg_types_new(pg_types_t **out, pg_type_resolver_fn resolver, void *ctx);
void     pg_types_destroy(pg_types_t *t);
/* The type for an OID (cached; resolved through the catalog once). Never
 * NULL except out of memory. Valid until pg_types_destroy, or until
 * pg_types_refresh of its OID. */
const pg_type_t *pg_types_get(pg_types_t *t, uint32_t oid);
/* Describes a non-built-in type anew (a Type message says it may have
 * changed) and returns the new entry; the previous entry of that OID is
 * freed, so the caller re-binds every pointer it holds to it (the decoder's
 * cached relations). *changed: name, conversion or labels differ. NULL: out
 * of memory, the previous entry stays valid. A built-in is returned as is. */
const pg_type_t *pg_types_refresh(pg_types_t *t, uint32_t oid, int *changed);

/* Text -> value, per the type. typmod gives the temporal precision. On text
 * that does not parse as its type, the value is kept as Typed text of the
 * type (never lost) and SL_ERR_DECODE is returned with errstr set (the
 * caller logs it). The data is copied into rec's arena. */
sl_err_t pg_value_from_text(sl_record_t *rec, sl_value_t *v, const pg_type_t *type,
                            int32_t typmod, const char *text, size_t len,
                            char *errstr, size_t errstr_size);

/* Temporal precision (fractional digits) of a column from its typmod. */
int pg_temporal_precision(const pg_type_t *type, int32_t typmod);

/* ------------------------------------------------------------ decoder */

/* Catalog extras for a relation that the Relation message lacks
 * (pg_source.c queries pg_attribute / pg_index). Column i of the message. */
typedef struct pg_relextra_s {
    uint32_t ncols;
    int     *notnull;          /* per column: 1 = NOT NULL, -1 unknown */
    int     *pk;               /* per column: 1-based primary key position, 0 none, -1 unknown */
    char   **source_type;      /* per column: format_type(type OID, typmod) of the message */
    char   **dflt;             /* per column: the value rows existing when it was added got
                                  (attmissingval, PostgreSQL 11's fast default; else a
                                  constant default's value), NULL none */
    char   **dflt_expr;        /* per column without dflt: its default expression, NULL none */
} pg_relextra_t;

/* The source types come from the message's own type OIDs and typmods (the
 * catalog's format_type of them), never from the table as it is now: the
 * catalog is read later than the WAL, and by then the table may have been
 * dropped, renamed or altered. NOT NULL and the key come from the table's
 * attributes when they still match (-1 where they do not). */
typedef sl_err_t (*pg_relextra_fn)(void *ctx, uint32_t relid, const char *nsp, const char *rel,
                                   uint32_t ncols, char *const *colnames,
                                   const uint32_t *typoids, const int32_t *typmods,
                                   pg_relextra_t *out, char *errstr, size_t errstr_size);
/* 1 = publish this table, 0 = skip its changes silently. */
typedef int (*pg_filter_fn)(void *ctx, const char *nsp, const char *rel);
/* Receives each record in source order; the record is valid only during
 * the call. A non-OK return stops decoding with that error. */
typedef sl_err_t (*pg_sink_fn)(void *ctx, const sl_record_t *rec, char *errstr,
                               size_t errstr_size);
/* A transactional logical decoding message (pg_logical_emit_message(true,
 * ...)): its prefix, content (len bytes, not NUL-terminated), its position
 * (commit LSN, the message's LSN, the ordinal of the next row change of its
 * transaction), the transaction's id text and commit time (Unix µs). Called
 * in stream order inside the transaction (a streamed one at its replay),
 * with the open batch published first; the callee may add records to the
 * transaction (pg_dec_put, pg_dec_table_schema). Non-transactional messages
 * are counted and dropped (they have no place in a source transaction). */
typedef sl_err_t (*pg_message_fn)(void *ctx, const char *prefix, const uint8_t *content,
                                  size_t len, const sl_pos_t *pos, const char *txn,
                                  int64_t time_us, char *errstr, size_t errstr_size);

/* A published table whose changes are refused (REPLICA IDENTITY NOTHING, or
 * DEFAULT without a primary key): refused = 1 when a Relation says so, 0
 * when a later Relation of the same table has a key again (its rows of the
 * refused time never reached Kafka: the reader asks for a snapshot). */
typedef void (*pg_refused_fn)(void *ctx, const char *nsp, const char *rel, int refused);

typedef struct pg_dec_conf_s {
    const char         *source;        /* source name */
    uint32_t            batch_max_rows;
    size_t              batch_max_bytes;   /* Avro size of one CHANGE batch, measured per row */
    pg_sink_fn          sink;
    void               *sink_ctx;
    pg_filter_fn        filter;        /* NULL: every table */
    void               *filter_ctx;
    pg_relextra_fn      relextra;      /* NULL: no catalog extras */
    void               *relextra_ctx;
    pg_type_resolver_fn resolver;      /* NULL: non-built-in types as Typed "oid<N>" */
    void               *resolver_ctx;
    pg_message_fn       message;       /* NULL: messages are counted only */
    void               *message_ctx;
    pg_refused_fn       refused;       /* NULL: a refused table is only logged */
    void               *refused_ctx;
} pg_dec_conf_t;

typedef struct pg_dec_s pg_dec_t;

typedef struct pg_dec_stats_s {
    uint64_t txns;          /* COMMITs published */
    uint64_t rows;          /* row changes published */
    uint64_t skipped_rows;  /* row changes of filtered or refused tables */
    uint64_t messages;      /* logical decoding messages seen */
    uint64_t value_errors;  /* values kept as text because they did not parse */
} pg_dec_stats_t;

sl_err_t pg_dec_new(pg_dec_t **out, const pg_dec_conf_t *conf);
void     pg_dec_destroy(pg_dec_t *d);

/* One pgoutput message (the payload of an XLogData 'w' message) with the
 * WAL position pgoutput stamped on it (dataStart). streamed: the message
 * came inside a Stream Start/Stop block (it has an xid after the type
 * byte); *xid receives it (0 otherwise). For stream control messages
 * (S E c A) the decoder only parses: pg_stream.c acts on them.
 * SL_ERR_DECODE: malformed message (errstr says which and where). */
sl_err_t pg_dec_message(pg_dec_t *d, uint64_t lsn, const uint8_t *msg, size_t len,
                        int streamed, char *errstr, size_t errstr_size);

/* Streamed transaction replay (pg_stream.c): begin as if a Begin message
 * with these fields had come, then pg_dec_message(..., streamed = 1) for
 * each spilled message, then pg_dec_replay_commit. */
sl_err_t pg_dec_replay_begin(pg_dec_t *d, uint32_t xid, uint64_t commit_lsn,
                             int64_t commit_time_pg, char *errstr, size_t errstr_size);
sl_err_t pg_dec_replay_commit(pg_dec_t *d, uint64_t commit_lsn, uint64_t end_lsn,
                              int64_t commit_time_pg, char *errstr, size_t errstr_size);

/* From a message callback (pg_message_fn), records of the current
 * transaction that the stream did not carry (snapshot rows):
 * pg_dec_table_schema makes sure the SCHEMA of nsp.name is published
 * (at lsn, now, if the relation's schema is pending) and gives its id and
 * column names (valid until the next message). SL_ERR_NOT_FOUND: the
 * stream has not described the relation (no Relation message yet: give the
 * decoder one built from the catalog, pg_snapsink.c, and ask again);
 * SL_ERR_UNSUPPORTED: the relation is filtered out or its changes refused.
 * pg_dec_put publishes rec (a CHANGE whose positions the caller set from
 * the message's) and counts its rows into the transaction, so its COMMIT
 * is published and the next row ordinal follows them. */
sl_err_t pg_dec_table_schema(pg_dec_t *d, const char *nsp, const char *name, uint64_t lsn,
                             uint64_t *schema_id, const char *const **names, uint32_t *ncols,
                             char *errstr, size_t errstr_size);
sl_err_t pg_dec_put(pg_dec_t *d, const sl_record_t *rec, char *errstr, size_t errstr_size);

/* 1 while between Begin and Commit of a (non-streamed) transaction. */
int pg_dec_in_txn(const pg_dec_t *d);
/* End LSN of the last transaction that published nothing (every change
 * filtered), 0 if none since the last call: the source may confirm it when
 * nothing else is pending. */
uint64_t pg_dec_take_skipped_end(pg_dec_t *d);
/* The relations cache is forgotten (a new walsender session resends them). */
void pg_dec_reset_session(pg_dec_t *d);
const pg_dec_stats_t *pg_dec_stats(const pg_dec_t *d);

/* The LSN a checkpoint position stands for (COMMIT: its end LSN; FINISH:
 * its seq) — what may be confirmed as flushed and where to resume. */
uint64_t pg_dec_pos_lsn(const sl_pos_t *pos);

/* LSN text "16/B374D848" <-> number. */
int      pg_lsn_parse(const char *text, uint64_t *out);
void     pg_lsn_format(uint64_t lsn, char *buf, size_t size);

/* ------------------------------------------------------------ streamed transactions */

/* pg_stream.c: protocol 2 streams a big transaction in chunks (Stream
 * Start xid / changes with their xid / Stream Stop), interleaved with other
 * transactions, and ends it with Stream Commit or Stream Abort (of the whole
 * transaction or of one subtransaction). The source topic must hold source
 * transactions contiguously and only committed ones (appliers group rows by
 * the COMMIT marker; wire format v1 has no abort marker), so each chunk is
 * appended to a spill file of its transaction and the file is replayed
 * through the decoder at Stream Commit — with the same positions a
 * non-streamed decoding gives. Memory stays bounded (one message at a time);
 * disk holds the open streamed transactions. Spill files are unlinked at
 * creation, so nothing is left behind by a crash (the server streams an
 * unconfirmed transaction again after a restart). */
typedef struct pg_stream_s pg_stream_t;

typedef struct pg_stream_stats_s {
    uint64_t open;          /* streamed transactions open now */
    uint64_t bytes;         /* bytes in their spill files now */
    uint64_t committed;     /* streamed transactions replayed */
    uint64_t aborted;       /* streamed transactions dropped */
    uint64_t peak_bytes;
} pg_stream_stats_t;

/* dir: where spill files go (must exist). */
/* dir: where spill files go (NULL/"" = /tmp); max_bytes: cap of one streamed
 * transaction's spill file, 0 = only the disk limits it. */
sl_err_t pg_stream_new(pg_stream_t **out, const char *dir, uint64_t max_bytes);
void     pg_stream_destroy(pg_stream_t *s);
/* Handles one pgoutput message if it belongs to streaming (S E c A, or any
 * message inside a Start/Stop block): *handled = 1. Otherwise *handled = 0
 * and the caller gives it to pg_dec_message(..., streamed = 0). */
sl_err_t pg_stream_message(pg_stream_t *s, pg_dec_t *d, uint64_t lsn, const uint8_t *msg,
                           size_t len, int *handled, char *errstr, size_t errstr_size);
/* 1 inside a Stream Start/Stop block. */
int      pg_stream_in_block(const pg_stream_t *s);
/* Forgets every open streamed transaction (a new session streams them again). */
void     pg_stream_reset(pg_stream_t *s);
const pg_stream_stats_t *pg_stream_stats(const pg_stream_t *s);

/* Big-endian readers with bounds, for the protocol parsers (pg_rd.c). */
typedef struct pg_rd_s {
    const uint8_t *p;
    size_t         len;
    size_t         off;
    int            bad;     /* set on the first read past the end */
} pg_rd_t;

uint8_t  pg_rd_u8(pg_rd_t *r);
uint16_t pg_rd_u16(pg_rd_t *r);
uint32_t pg_rd_u32(pg_rd_t *r);
uint64_t pg_rd_u64(pg_rd_t *r);
/* NUL-terminated string inside the message; NULL when unterminated. */
const char *pg_rd_str(pg_rd_t *r);
const uint8_t *pg_rd_bytes(pg_rd_t *r, size_t n);

#endif
