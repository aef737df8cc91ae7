/* shiftlog: change records in Debezium's change-event format, so that the
 * rest of a Kafka estate (Kafka Connect sinks, Flink, ksqlDB) reads a
 * shiftlog topic as it reads Debezium's (docs/debezium.md).
 *
 * One message per row: the key is the row's primary key, the value the
 * envelope {before, after, source, op, ts_ms, transaction} with op c / u /
 * d / r, as Kafka Connect's JsonConverter writes it — with its `schema`
 * part (schemas.enable=true: what a sink needs to create and type columns)
 * or the payload alone. Types follow Debezium's defaults: integers by
 * width, DECIMAL as org.apache.kafka.connect.data.Decimal (precise; a
 * column without a declared scale as a string), DATE io.debezium.time.Date,
 * DATETIME io.debezium.time.Timestamp / MicroTimestamp by precision,
 * TIMESTAMP and timestamptz io.debezium.time.ZonedTimestamp, TIME
 * io.debezium.time.MicroTime, BIT(1) boolean and BIT(n) io.debezium.data.Bits,
 * JSON io.debezium.data.Json, ENUM / SET as strings, bytes as base64.
 * Transaction markers in Debezium's transaction-topic shape: BEGIN and END
 * with the event count per table.
 *
 * Pure functions over records: no Kafka here (collector/col_dbz.c produces). */
#ifndef SL_DBZ_H
#define SL_DBZ_H

#include <stddef.h>
#include <stdint.h>

#include "sl_buf.h"
#include "sl_err.h"
#include "sl_record.h"

typedef struct sl_dbz_conf_s {
    const char *name;         /* the logical server name: topics' prefix, source.name */
    int         mysql;        /* 1: connector "mysql" source block; 0: "postgresql" */
    int         with_schema;  /* 1: {"schema":…, "payload":…} */
    const char *database;     /* PostgreSQL: the database (the source block's db) */
} sl_dbz_conf_t;

/* The transaction block of a row's event (Debezium's provide.transaction.metadata). */
typedef struct sl_dbz_txn_s {
    const char *id;                   /* the source transaction id */
    uint64_t    total_order;          /* 1-based among the transaction's events */
    uint64_t    data_collection_order;/* 1-based among its events of this table */
} sl_dbz_txn_t;

/* The key of row `row` of the CHANGE rec (its primary key columns per
 * schema s), from the row's before image (before = 1) or after image
 * (either when only one exists), into out (reset first).
 * SL_ERR_UNSUPPORTED: s has no primary key (the message then has no key,
 * as Debezium's for a keyless table). */
sl_err_t sl_dbz_key(sl_buf_t *out, const sl_dbz_conf_t *conf, const sl_schema_t *s,
                    const sl_record_t *rec, uint32_t row, int before);

/* The event kind of a change's rows: 'c', 'u', 'd', 'r' (a snapshot row), 't'. */
char sl_dbz_op(const sl_change_t *c);

/* The value (envelope) of row `row` of the CHANGE rec under schema s as an
 * event of kind op ('c': the after image; 'd': the before image; 'u' and
 * 'r' as the row says) into out (reset first); txn may be NULL (no
 * transaction block). A 'r' row (a snapshot's) has snapshot "true" in the
 * source block. An UPDATE that changes the key is written by the caller as
 * 'd' of the old key, its tombstone, and 'c' of the new one, as Debezium
 * does. */
sl_err_t sl_dbz_value(sl_buf_t *out, const sl_dbz_conf_t *conf, const sl_schema_t *s,
                      const sl_record_t *rec, uint32_t row, char op, const sl_dbz_txn_t *txn);

/* A transaction marker (the `<name>.transaction` topic): status "BEGIN"
 * (counts ignored) or "END" with the event count and the per-table counts
 * (ntables names "db.table" and their counts). */
sl_err_t sl_dbz_txn_marker(sl_buf_t *out, const sl_dbz_conf_t *conf, const char *status,
                           const char *id, int64_t ts_ms, uint64_t events,
                           const char *const *tables, const uint64_t *counts, size_t ntables);

/* The key of a transaction marker: {"id": …}. */
sl_err_t sl_dbz_txn_key(sl_buf_t *out, const sl_dbz_conf_t *conf, const char *id);

/* The topic of a table: <name>.<db>.<table> (PostgreSQL: db is the schema),
 * characters Kafka refuses in a topic name as '_'. SL_ERR_INVALID when it
 * is longer than Kafka's 249 characters (or than size). */
sl_err_t sl_dbz_topic(char *out, size_t size, const sl_dbz_conf_t *conf, const char *db,
                      const char *table);

/* Decimal text ("-12.3400") as the big-endian two's complement of its
 * unscaled value at `scale` digits (Kafka Connect's Decimal, the shortest
 * form as Java's BigInteger.toByteArray): *n bytes into out. -1 when out is
 * too small or the text is not a plain number (NaN, Infinity). */
int sl_dbz_decimal_bytes(const char *text, size_t len, int scale, unsigned char *out,
                         size_t size, size_t *n);

#endif
