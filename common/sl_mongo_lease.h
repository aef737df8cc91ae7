/* shiftlog: a lease document with a fencing epoch in MongoDB (DESIGN
 * invariant 8), shared by the applier's MongoDB target (the lease of a task)
 * and the miner (the epoch of a source's shared log).
 *
 * The document, in a collection the caller chooses:
 *   {_id: <id>, holder, epoch, expires}
 * Taking it raises `epoch` by one ($inc) and names this copy `holder`, with
 * one conditional upsert:
 *   - ttl_ms > 0 (the lease itself, applier): matched only when `expires` is
 *     past or this copy holds it; otherwise the upsert fails on the _id
 *     (E11000) and another copy holds it. The holder renews it every
 *     ttl / 3 (sl_mongo_lease_check); `expires` is the holder's wall clock
 *     plus ttl_ms, compared with the taker's (keep clocks synchronised well
 *     within the ttl).
 *   - ttl_ms == 0 (an epoch only, miner): another lease (the Kafka group)
 *     decides who holds; taking always succeeds and fences every copy before.
 * Fencing: each document a holder writes carries `epoch`; a write selects
 * {_id, epoch: {$not: {$gt: mine}}} (sl_mongo_fence_append) with upsert, so
 * that a document a newer holder wrote (or stamped at its takeover:
 * sl_mongo_lease_stamp) does not match and the upsert fails on the _id:
 * sl_mongo_fenced() tells that error apart. Multi-document transactions are
 * not needed (the local stand-in has no replica set).
 *
 * Not thread-safe: one thread uses a lease at a time; coll is borrowed. */
#ifndef SL_MONGO_LEASE_H
#define SL_MONGO_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "sl_err.h"

typedef struct sl_mongo_lease_s {
    mongoc_collection_t          *coll;      /* borrowed: holds the lease document */
    const mongoc_write_concern_t *wc;        /* NULL: the collection's own */
    const char                   *what;      /* in sentences: "task t1", "source \"shop\"" */
    char                          id[300];   /* the document's _id */
    char                          holder[300];
    int64_t                       ttl_ms;    /* 0: no expiry (see above) */
    int64_t                       epoch;     /* held; 0 = not held */
    int64_t                       renewed_ms;
} sl_mongo_lease_t;

/* Sets up l (nothing is written): the document `id` in coll, this copy's
 * holder name (host, pid and process start: unique across restarts). */
void     sl_mongo_lease_init(sl_mongo_lease_t *l, mongoc_collection_t *coll, const char *id,
                             const char *what, int64_t ttl_ms,
                             const mongoc_write_concern_t *wc);
/* Takes the lease (see above) and reads back the epoch it made.
 * SL_ERR_STATE: another copy holds it (ttl_ms > 0); SL_ERR_DB otherwise. */
sl_err_t sl_mongo_lease_take(sl_mongo_lease_t *l, char *errstr, size_t errstr_size);
/* Is l still held? ttl_ms > 0: renews `expires`. SL_OK: held;
 * SL_ERR_FENCED: a newer holder took it (or it expired unrenewed);
 * SL_ERR_DB: could not tell (the server did not answer). */
sl_err_t sl_mongo_lease_check(sl_mongo_lease_t *l, char *errstr, size_t errstr_size);
/* Gives a held lease up (expires = 0: a standby need not wait for the
 * expiry); best effort, l->epoch becomes 0. */
void     sl_mongo_lease_release(sl_mongo_lease_t *l);
/* Every document of coll matching sel (the caller's selector, appended to)
 * whose epoch is below l's gets l's epoch; never lowers one. */
sl_err_t sl_mongo_lease_stamp(const sl_mongo_lease_t *l, mongoc_collection_t *coll, bson_t *sel,
                              char *errstr, size_t errstr_size);
/* Appends the fence to a write's selector: epoch not above `epoch`. */
void     sl_mongo_fence_append(bson_t *sel, int64_t epoch);
/* 1 when a fenced upsert failed because a newer epoch holds the document. */
int      sl_mongo_fenced(const bson_error_t *err, int64_t epoch);

#endif
