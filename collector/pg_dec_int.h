/* shiftlog collector, PostgreSQL: what the decoder's files share
 * (pg_decode.c: messages, transactions, row changes; pg_dec_rel.c: the
 * relation cache and SCHEMA records). Private to them. */
#ifndef COL_PG_DEC_INT_H
#define COL_PG_DEC_INT_H

#include "pg_decode.h"


typedef struct pg_col_s {
    char            *name;
    uint32_t         typoid;
    int32_t          typmod;
    int              key;
    int              added;    /* not in the relation's previous Relation message */
    const pg_type_t *type;
} pg_col_t;

typedef struct pg_rel_s {
    uint32_t         relid;
    char            *nsp;
    char            *name;
    char             replident;
    uint32_t         ncols;
    pg_col_t        *cols;
    char           **colnames;
    int              publish;
    int              refused;
    int              schema_pending;
    uint64_t         schema_id;
    /* the table this relation ends, announced before its first SCHEMA: the
     * same relation under an older name (renamed), or an older relation of
     * the same name (dropped and created again) */
    char            *gone_nsp, *gone_name, *gone_ddl;
    struct pg_rel_s *next;
} pg_rel_t;

#define PG_REL_BUCKETS 128
/* a batch's encoded size may grow past sl_avro_record_size by its row count varint */
#define PG_BATCH_SLACK 16

struct pg_dec_s {
    pg_dec_conf_t  conf;
    pg_types_t    *types;
    pg_rel_t      *rels[PG_REL_BUCKETS];
    /* transaction */
    int            in_txn;
    uint32_t       xid;
    char           xid_text[16];
    uint64_t       commit_lsn;
    int64_t        commit_time_us;
    uint32_t       row_idx;       /* ordinal of the next row change in the txn */
    uint64_t       published;     /* rows published in the txn */
    int            added;         /* records added to it (pg_dec_table_schema): its COMMIT is due */
    char           origin[128];
    int            has_origin;
    uint64_t       skipped_end;
    /* open batch */
    sl_record_t   *batch;
    pg_rel_t      *batch_rel;
    sl_op_t        batch_op;
    uint32_t       batch_cap;
    size_t         batch_bytes;   /* the batch's Avro size (sl_avro_record_size + rows) */
    sl_record_t   *aux;           /* SCHEMA / COMMIT / TRUNCATE records */
    pg_dec_stats_t stats;
};

static inline void pg_dec_set_pos(sl_record_t *rec, pg_dec_t *d, uint64_t lsn, uint32_t row)
{
    sl_pos_set_pg(&rec->pos, d->commit_lsn, lsn, row);
}

/* pg_dec_rel.c */
pg_rel_t *pg_dec_rel_find(pg_dec_t *d, uint32_t relid);
void      pg_dec_rel_free(pg_rel_t *r);
/* A Relation message body (after the type byte and the xid). */
sl_err_t  pg_dec_relation(pg_dec_t *d, pg_rd_t *r, char *errstr, size_t errstr_size);
/* A Type message of oid. */
sl_err_t  pg_dec_type_message(pg_dec_t *d, uint32_t oid);
/* Publishes rel's SCHEMA record at lsn (and first the end of the table it
 * replaces, if any). */
sl_err_t  pg_dec_emit_schema(pg_dec_t *d, pg_rel_t *rel, uint64_t lsn, char *errstr,
                             size_t errstr_size);

/* The prefix of the logical message the opt-in event trigger emits at a DROP
 * TABLE (docs/collector-pg.md): content "<oid>\n<schema>\n<table>". */
#define PG_DROP_MESSAGE "shiftlog.drop_table"
/* Such a message at mlsn: the table's life ends there (a SCHEMA with no
 * columns), when it is one the collector publishes. */
sl_err_t  pg_dec_drop_message(pg_dec_t *d, uint64_t mlsn, const uint8_t *content, uint32_t len,
                              char *errstr, size_t errstr_size);

/* pg_decode.c */
/* Publishes the open CHANGE batch, if any. */
sl_err_t  pg_dec_flush_batch(pg_dec_t *d, char *errstr, size_t errstr_size);

#endif
