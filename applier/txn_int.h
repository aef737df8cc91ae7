/* shiftlog-applier: txn.c's insides, shared with txn_stops.c (stopped
 * tables kept in the target, resume and catch-up). Nothing else sees them. */
#ifndef APP_TXN_INT_H
#define APP_TXN_INT_H

#include "applier.h"

#define TXN_PAST    8     /* ended stops of a table remembered until committed past */
#define TXN_BUCKETS 8     /* transaction-size histogram: <=1,10,100,1k,10k,100k,1M,+Inf */

typedef struct schema_ver_s {
    int64_t      offset;
    sl_record_t *rec;                 /* owned SCHEMA record */
} schema_ver_t;

typedef struct table_s {
    struct table_s  *next;            /* hash chain */
    char            *db, *name;
    int              included;
    int              stopped;         /* refused by the target (UNSUPPORTED), from
                                         stop.offset on */
    app_stop_t       stop;            /* stopped, or being caught up (x->cu): as stored */
    /* earlier lives' stops that a DROP ended after the committed position
     * ([from, to) offsets): a replay from there must dead-letter them again,
     * not apply them (txn_stops.c) */
    int64_t          past_from[TXN_PAST], past_to[TXN_PAST];
    int              npast;
    schema_ver_t    *vers;
    size_t           nvers, capvers;
    app_table_map_t  map;             /* mapping of the version in force */
    const sl_schema_t *mapped;        /* which schema map was built for */
    sl_metric_t     *m_rows;
} table_t;

struct app_txn_s {
    app_txn_conf_t  c;
    table_t        *buckets[256];

    /* durable */
    app_position_t  committed;
    int             has_committed;

    /* open target transaction */
    int             open;
    int64_t         group_rows;
    int64_t         group_txns;
    int64_t         group_start_ms;
    app_position_t  group_pos;        /* last complete COMMIT in the group */
    int64_t         group_commit_time_us;

    /* source transaction in progress */
    int64_t         txn_rows;
    int64_t         txn_first_offset;

    int             nstopped;         /* tables stopped */
    sl_pos_t        last_commit_pos;  /* source position of the last COMMIT read */
    unsigned        stops_ver;        /* bumped when a stop or catch-up changes */
    /* catch-up of a resumed table (txn_stops.c): records up to cu_end are
     * read again for cu alone, its skip rule against cu_pos */
    table_t        *cu;
    int64_t         cu_end;
    sl_pos_t        cu_pos;           /* cu's records at or before it are applied */
    int             cu_reset;         /* drop cu's schema versions from its offset on */
    int             in_cu;            /* feeding a record of cu during the catch-up */
    /* a table renamed away (a SCHEMA with no columns from a RENAME / ALTER
     * ... RENAME): the next SCHEMA with columns at the same source position
     * is its new name (the collector emits the pair in that order) */
    int             ren_open;
    sl_pos_t        ren_pos;
    char           *ren_schema, *ren_table;   /* its target names */
    table_t        *ren_from;         /* its source table: its last columns are the previous
                                         version of the new name (map.prev) */
    int64_t         commit_at;        /* replay: commit right after this COMMIT */
    int64_t         early_ddl_at;     /* SCHEMA whose DDL ran before its source txn */
    uint64_t        skipped;

    sl_metric_t    *m_stopped;
    sl_metric_t    *m_commits, *m_lag, *m_skipped, *m_rollbacks, *m_hist[TXN_BUCKETS],
                   *m_hist_sum, *m_hist_count;
};

/* txn.c */
table_t     *app_txn_table_get(app_txn_t *x, const char *db, const char *name, int create);
void         app_txn_drop_vers_after(table_t *t, int64_t offset);
app_txn_rc_t app_txn_rc_of(sl_err_t err);
app_txn_rc_t app_txn_ensure_open(app_txn_t *x, char *errstr, size_t errstr_size);

/* txn_stops.c */
/* Stops t from offset on (the other tables go on) and stores the stop in
 * the target outside any data transaction: the open target transaction is
 * rolled back first. APP_TXN_REWIND on success (replay from the stored
 * position: t's records from offset on go to the DLQ). why may be errstr. */
app_txn_rc_t app_txn_table_stop(app_txn_t *x, table_t *t, const char *why, int64_t offset,
                                char *errstr, size_t errstr_size);
/* A dropped-table SCHEMA of stopped t: its stop ends, cleared in the open
 * target transaction. */
app_txn_rc_t app_txn_stop_dropped(app_txn_t *x, table_t *t, int64_t offset, char *errstr,
                                  size_t errstr_size);
/* 1 when t's record at offset is stopped: its current stop, or an earlier
 * life's stop a DROP ended after the committed position. */
int          app_txn_stopped_at(const table_t *t, int64_t offset);
/* Forgets the ended stops at or before the committed offset. */
void         app_txn_past_prune(table_t *t, int64_t committed);
/* The catch-up's commit of one source transaction of x->cu: its progress
 * stored in the same target transaction, the task's position unchanged. */
app_txn_rc_t app_txn_cu_commit(app_txn_t *x, char *errstr, size_t errstr_size);
/* The catch-up reached cu_end: the stop is deleted and x->cu applied as
 * usual from here on. */
app_txn_rc_t app_txn_cu_finish(app_txn_t *x, char *errstr, size_t errstr_size);
/* Keeps the schema versions of x->cu in force from its stop offset. */
void         app_txn_cu_rewind(app_txn_t *x);
/* The offset before which a stopped / catching-up table keeps no versions. */
int64_t      app_txn_keep_from(const app_txn_t *x, const table_t *t, int64_t offset);

#endif
