/* shiftlog-applier: the MongoDB target's types, shared by target_mongo.c
 * (ops, bulks, positions) and target_mongo_doc.c (values, collections, keys). */
#ifndef APP_TARGET_MONGO_H
#define APP_TARGET_MONGO_H

#include <stdint.h>

#include <mongoc/mongoc.h>

#include "target.h"
#include "target_common.h"

typedef struct mg_coll_s {
    char     *db, *name;
    mongoc_collection_t *c;
    const sl_schema_t *src;
    uint32_t  nkey;
    uint32_t *key;
    struct mg_coll_s *next;
} mg_coll_t;

enum { MG_REPLACE = 0, MG_SET = 1, MG_DELETE = 2, MG_DROPPED = 3 };

typedef struct mg_op_s {
    int     kind;
    int     guarded;
    bson_t *filter, *doc;       /* doc NULL for deletes */
} mg_op_t;

typedef struct mg_target_s mg_target_t;

/* A stop saved or cleared inside a transaction: written at commit(). */
typedef struct mg_stop_op_s {
    int        clear;
    app_stop_t s;
} mg_stop_op_t;

struct mg_target_s {
    app_target_t         base;        /* first: the common head (target.h) */
    mongoc_client_t     *client;
    mongoc_collection_t *ko;          /* the position collection */
    char     *task, *database;
    int64_t   epoch;                      /* the lease epoch held; 0 = no fence */
    uint32_t  batch_max;
    int       ddl_apply;                  /* APP_DDL_* */
    int       on_unconvertible;           /* APP_UNCONV_* */
    int       in_txn;
    char      topic[256];
    int32_t   partition;
    int       have_tp;
    char      guard[APP_POS_KEY_LEN + 1];  /* window end: max(stored, high); "" = none */
    char      high[APP_POS_KEY_LEN + 1];   /* high as stored */
    mg_coll_t *colls;
    /* pending ops of one collection */
    mg_coll_t *pc;
    mg_op_t   *ops;
    uint32_t   nops, ops_cap;
    uint32_t  *slots;                     /* _id → pending op index + 1 (open addressing) */
    uint32_t   nslots;                    /* a power of two, >= 2 * batch_max */
    int        dup_ids;                   /* the ops queued hold an _id twice (a $set
                                             kept beside its key's earlier op) */
    char       pmax[APP_POS_KEY_LEN + 1];
    uint64_t   skipped;                   /* guarded ops skipped (newer document there) */
    mg_stop_op_t *stop_ops;               /* target_mongo_stops.c */
    size_t     nstop_ops, capstop_ops;
};

/* target_mongo_lease.c: the lease ops of target.h */
sl_err_t    app_mg_lease_take(app_lease_t **out, const app_target_conf_t *c, int64_t *epoch,
                              char *errstr, size_t sz);
sl_err_t    app_mg_lease_check(app_lease_t *l, char *errstr, size_t sz);
void        app_mg_lease_drop(app_lease_t *l);

/* target_mongo_stops.c (see target.h) */
sl_err_t    app_mg_stops_load(app_target_t *at, app_stop_t **out, size_t *n, char *errstr,
                              size_t sz);
sl_err_t    app_mg_stop_save(app_target_t *at, const app_stop_t *s, char *errstr, size_t sz);
sl_err_t    app_mg_stop_clear(app_target_t *at, const char *db, const char *table,
                              char *errstr, size_t sz);
/* Writes the saves / clears of the transaction (commit(), after the position). */
sl_err_t    app_mg_stops_flush(mg_target_t *t, char *errstr, size_t sz);
/* Forgets them (begin, rollback). */
void        app_mg_stops_drop(mg_target_t *t);

/* target_mongo_ddl.c: a SCHEMA's column changes in the documents there
 * (rename, drop, a carried default), with map->prev known; the caller has
 * sent the ops pending before it. */
sl_err_t    app_mg_columns_ddl(mg_target_t *t, mg_coll_t *mc, const app_table_map_t *map,
                               const sl_schema_t *s, char *errstr, size_t sz);

/* target_mongo_doc.c */
/* A value of a varying bit string column (PostgreSQL bit varying, see
 * app_conv_is_varbit): appends it as its '0'/'1' digits, which keep the bit
 * count that bytes lose, and returns 1; 0 (nothing appended) for any other
 * column or value. */
int         app_mg_varbit(bson_t *b, const char *key, const app_table_map_t *map,
                          const sl_change_t *c, uint32_t i, const sl_value_t *v);
/* Appends v under key (klen bytes, -1 = strlen). us / dec collect the
 * companions (`_us.<col>`, `_decimal_text.<col>`; may be NULL for key values,
 * which take the exact text for temporal values). */
void        app_mg_value(bson_t *b, const char *key, int klen, const sl_value_t *v,
                         bson_t *us, bson_t *dec, int for_key);
/* SL_OK when v can be stored as its BSON form; SL_ERR_INVALID with the
 * reason (naming column col) when it cannot: a DATE beyond BSON dates (the
 * caller applies on_unconvertible; app_mg_value writes such a value as null). */
sl_err_t    app_mg_check_value(const sl_value_t *v, const char *col, char *errstr, size_t sz);
const char *app_mg_dst(const app_table_map_t *map, const sl_change_t *c, uint32_t i);
int         app_mg_reserved(const char *n);
mg_coll_t  *app_mg_coll(mg_target_t *t, const app_table_map_t *map);
/* The target op check_name (target.h): the position collection, reserved
 * databases, system collections, '$' and names MongoDB does not allow. */
sl_err_t    app_mg_check_name(const mg_target_t *t, const char *schema, const char *table,
                              char *errstr, size_t sz);
sl_err_t    app_mg_resolve_key(mg_coll_t *mc, const app_table_map_t *map, const sl_change_t *c,
                               char *errstr, size_t sz);
sl_err_t    app_mg_append_id(bson_t *b, const mg_coll_t *mc, const app_table_map_t *map,
                             const sl_change_t *c, const sl_value_t *vals, char *errstr, size_t sz);

#endif
