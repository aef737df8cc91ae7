/* shiftlog-miner: the modules of the miner and what they share.
 *
 *   (common/sl_bson.c: sl_value <-> exact BSON, schemas <-> BSON, `_id`s)
 *   (the log documents themselves: common/sl_logdoc.c)
 *   store.c       the MongoDB side: collections, indexes, write concern,
 *                 idempotent bulk inserts, the progress document
 *   supplement.c  full-field supplement from <collection>__latest
 *   writer.c      worker threads (rows by table/key hash, per-key order kept)
 *   control.c     per-table stop/resume, gaps, status (catchup.c: the catch-up thread)
 *   retention.c   log.retention.hours: bounded deletes + TTL index
 *   lease.c       one active miner per source log: Kafka group lease + epoch fence
 *   main.c        config and start-up; loop.c the consume -> dispatch -> durable -> commit loop
 *
 * docs/miner.md describes the document format and the read contract. */
#ifndef MINE_MINER_H
#define MINE_MINER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "sl_bson.h"
#include "sl_err.h"
#include "sl_logdoc.h"
#include "sl_metrics.h"
#include "sl_pos.h"
#include "sl_record.h"
#include "sl_service.h"

/* ------------------------------------------- values and ids: common/sl_bson */

/* The log's `_id`s and exact values are common/sl_bson.h (the applier's
 * mongolog source reads them with the same code). The miner's names: */
#define MINE_POS_KEY_LEN SL_POS_KEY_LEN
#define MINE_ID_LEN      SL_BSON_ID_LEN

#define MINE_T_SCHEMA SL_BSON_T_SCHEMA
#define MINE_T_CHANGE SL_BSON_T_CHANGE
#define MINE_T_COMMIT SL_BSON_T_COMMIT
#define MINE_T_GAP    SL_BSON_T_GAP

#define mine_doc_id            sl_bson_doc_id
#define mine_bson_append_value sl_bson_append_value
#define mine_schema_from_doc   sl_bson_schema_from_doc

/* -------------------------------------------------------------- schemas */

/* Schema versions, kept for the whole run (DDL is rare): a change row is
 * dispatched with the schema in force, which never changes under it. */
typedef struct mine_schema_s {
    char       *table;      /* "db.table" */
    sl_record_t *rec;       /* the SCHEMA record (owned) */
    uint32_t    npk;
    uint32_t   *pk;         /* schema column index of each key column, key order */
    struct mine_schema_s *next_version;  /* list of all versions (owned by the map) */
} mine_schema_t;

/* The documents themselves (writing and reading): common/sl_logdoc.h. */

/* The columns of a SCHEMA record as BSON, and back: sl_bson_schema_columns,
 * sl_bson_schema_from_doc (common/sl_bson.h). */

/* ---------------------------------------------------------------- store.c */

typedef struct mine_store_conf_s {
    const char *uri;
    const char *database;
    const char *collection;     /* the log collection */
    int         wmajority;      /* 1: w majority, 0: w 1; always j: true */
    int64_t     retention_hours;
} mine_store_conf_t;

typedef struct mine_store_s {
    mine_store_conf_t   conf;
    mongoc_client_pool_t *pool;
    mongoc_uri_t        *uri;
    mongoc_write_concern_t *wc;
    char                log_name[256], latest_name[280], control_name[280];
    int64_t             epoch;      /* the fencing epoch held (main.c); 0 = no fence */
} mine_store_t;

/* Connects (ping within a few seconds), creates the collections' indexes:
 * log (table, _id), (ts), TTL on exp; latest none beyond _id. The caller
 * owns *out (mine_store_close). */
sl_err_t mine_store_open(mine_store_t **out, const mine_store_conf_t *conf, char *errstr,
                         size_t errstr_size);
void     mine_store_close(mine_store_t *st);

/* A client from the pool for one thread; give it back with _push. */
mongoc_client_t *mine_store_pop(mine_store_t *st);
void             mine_store_push(mine_store_t *st, mongoc_client_t *c);
mongoc_collection_t *mine_store_coll(mine_store_t *st, mongoc_client_t *c, const char *name);

/* Inserts docs (unordered, acknowledged + journaled). A duplicate `_id`
 * (E11000: a replay of a position already in the log) is not an error and
 * is counted in *dups. Any other write error is SL_ERR_DB naming the first
 * one. */
sl_err_t mine_store_insert(mine_store_t *st, mongoc_collection_t *coll, bson_t **docs,
                           size_t n, uint64_t *dups, char *errstr, size_t errstr_size);

/* A bulk with the miner's write concern; executed with mine_store_bulk_dups:
 * duplicate-key errors (E11000) are counted in *dups and are not a failure
 * (an unordered bulk goes on past them; an ordered one stops there), any
 * other error is SL_ERR_DB naming the first one. */
mongoc_bulk_operation_t *mine_store_new_bulk(mine_store_t *st, mongoc_collection_t *coll,
                                             int ordered);
sl_err_t mine_store_bulk_dups(mine_store_t *st, mongoc_collection_t *coll,
                              mongoc_bulk_operation_t *bulk, uint64_t *dups, char *errstr,
                              size_t errstr_size);
/* update_one({_id}, {$set, $unset}, upsert) with the miner's write concern.
 * With st->epoch set the write is fenced (common/sl_mongo_lease.h): the
 * document gets the epoch, and one a newer holder wrote or stamped is left
 * alone: SL_ERR_FENCED. */
sl_err_t mine_store_upsert_set(mine_store_t *st, mongoc_client_t *c, const char *collname,
                               const char *id, const bson_t *set, const bson_t *unset,
                               char *errstr, size_t errstr_size);
/* Inserts one document into the log (duplicate = already there, fine). */
sl_err_t mine_store_insert_docs(mine_store_t *st, mongoc_client_t *c, bson_t *doc,
                                char *errstr, size_t errstr_size);

/* ----------------------------------------------------------- retention.c */

/* Deletes log documents whose `exp` is older than hours, batch at a time. */
sl_err_t mine_retention_run(mine_store_t *st, mongoc_client_t *c, int64_t hours, int64_t batch,
                            uint64_t *deleted, char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- lease.c */

typedef struct mine_lease_s mine_lease_t;

/* Waits as a standby (/health "standby") until this copy holds the Kafka
 * group lease of the source. 0 once held, 1 when stopped meanwhile, -1 on
 * no memory (logged). *out is set in every case; free it with
 * mine_lease_stop(). A lease lost later makes sl_service_yielded() true. */
int      mine_lease_acquire(mine_lease_t **out, sl_service_t *svc, const char *source,
                            const char *prefix, const char *bootstrap, int64_t ttl_ms);
/* Takes the next fencing epoch in the store (the lease document of the
 * control collection, c: the main thread's client), stamps every control
 * document with it and sets st->epoch: from then on no copy before this one
 * can write a control document. Call before reading the progress. */
sl_err_t mine_lease_fence(mine_lease_t *l, mine_store_t *st, mongoc_client_t *c, char *errstr,
                          size_t errstr_size);
/* Before each batch: SL_OK while the epoch is this copy's (or no fence),
 * SL_ERR_FENCED once another copy took it, SL_ERR_DB when MongoDB did not
 * answer. */
sl_err_t mine_lease_check(mine_lease_t *l, char *errstr, size_t errstr_size);
/* Leaves the group (a standby takes over at once) and frees l (NULL fine). */
void     mine_lease_stop(mine_lease_t *l);

/* ------------------------------------------------------------ supplement.c */

typedef struct mine_supp_s mine_supp_t;

/* One per writer thread (per-key order is the writer's). */
mine_supp_t *mine_supp_new(mine_store_t *st, mongoc_client_t *client);
void         mine_supp_destroy(mine_supp_t *s);

/* A row as it reaches a writer. */
typedef struct mine_item_s {
    const sl_record_t   *rec;
    const mine_schema_t *schema;    /* schema in force (may be NULL) */
    uint32_t             row;       /* CHANGE: row index */
    int64_t              offset;    /* Kafka offset */
} mine_item_t;

/* Builds the documents of items[0..n) (change rows supplemented when
 * enabled, commits, schemas) into docs[], looking the latest images up in
 * one query, and queues the writes of the latest images. Then
 * mine_supp_flush writes those after the log documents are durable. */
sl_err_t mine_supp_build(mine_supp_t *s, const mine_item_t *items, size_t n, int supplement,
                         int retention, bson_t **docs, uint64_t *nsupplemented,
                         char *errstr, size_t errstr_size);
sl_err_t mine_supp_flush(mine_supp_t *s, char *errstr, size_t errstr_size);

/* Writer hash of a row: its table and primary key values (the table alone
 * without a key). */
uint64_t mine_row_hash(const mine_schema_t *sc, const sl_record_t *rec, uint32_t row);

/* ---------------------------------------------------------------- writer.c */

typedef struct mine_writers_s mine_writers_t;

typedef struct mine_writers_conf_s {
    mine_store_t *store;
    int           nworkers;
    int           supplement;
    int           retention;
    size_t        batch_max;     /* items per insert_many */
    sl_metrics_t *metrics;
} mine_writers_conf_t;

sl_err_t mine_writers_start(mine_writers_t **out, const mine_writers_conf_t *conf,
                            char *errstr, size_t errstr_size);
/* Queues an item for worker `hash % nworkers` (order per worker kept). */
sl_err_t mine_writers_add(mine_writers_t *w, uint64_t hash, const mine_item_t *item);
/* Hands the queued items to the workers (returns at once); add nothing
 * more until mine_writers_wait() returned. */
void     mine_writers_kick(mine_writers_t *w);
/* 1 while a kicked batch is being written. */
int      mine_writers_busy(mine_writers_t *w);
/* Waits until every kicked item is in the log, journaled (and the latest
 * images written). SL_ERR_DB / SL_ERR_FATAL with the first worker's
 * sentence. */
sl_err_t mine_writers_wait(mine_writers_t *w, char *errstr, size_t errstr_size);
void     mine_writers_stats(mine_writers_t *w, uint64_t *written, uint64_t *dups,
                            uint64_t *supplemented);
void     mine_writers_stop(mine_writers_t *w);

/* One synchronous writer (the catch-up thread uses it). */
typedef struct mine_writer1_s mine_writer1_t;
mine_writer1_t *mine_writer1_new(mine_store_t *st, int supplement, int retention);
void            mine_writer1_destroy(mine_writer1_t *w);
sl_err_t        mine_writer1_write(mine_writer1_t *w, const mine_item_t *items, size_t n,
                                   uint64_t *written, char *errstr, size_t errstr_size);

#endif
